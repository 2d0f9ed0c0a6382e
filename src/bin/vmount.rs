//! `vmount`: mounts a disk image's filesystems on a host directory through FUSE, like
//! `guestmount`, with no appliance: `-a IMAGE` (`--format`), `-i` (inspection) or
//! `-m DEV[:MP[:OPTIONS[:FSTYPE]]]`, `--ro` (the default) or `--rw`, `-o` FUSE options,
//! `--no-fork`, `--fd`, `--pid-file`, `-n`/`--no-sync`, `-v`, `-x`. Writes (with `--rw`) go to
//! the copy-on-write overlay; they reach the image, all or nothing, at each `fsync` and when
//! the mount ends (`vunmount`, `fusermount -u`, SIGTERM, SIGINT or SIGHUP) — a crash leaves the
//! image as it was. The process that serves the mount records `vmount:PID` as the mount's
//! source, so that `vunmount` can wait for its last commit.

use anyhow::{bail, Context, Result};
use clap::{Arg, ArgAction, Command};
use fuser::{Config, MountOption, SessionACL};
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use vguestfs::tool::fuse::GuestFuse;

fn cli() -> Command {
    vguestfs::tool::mount_args(Command::new("vmount"))
        .about("mount a guest filesystem on the host using FUSE")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::new("ro").short('r').long("ro").action(ArgAction::SetTrue).help("Mount read-only (the default)"))
        .arg(Arg::new("rw").short('w').long("rw").action(ArgAction::SetTrue).conflicts_with("ro").help("Mount read-write; changes are committed at fsync and at unmount"))
        .arg(Arg::new("option").short('o').long("option").value_name("OPTION").action(ArgAction::Append).help("Pass extra options to FUSE (allow_other, allow_root, default_permissions…)"))
        .arg(Arg::new("no-fork").long("no-fork").short('f').action(ArgAction::SetTrue).help("Don't daemonize (stay in the foreground)"))
        .arg(Arg::new("fd").long("fd").value_name("FD").value_parser(clap::value_parser!(i32)).help("Write one byte to FD when the mountpoint is ready"))
        .arg(Arg::new("pid-file").long("pid-file").value_name("FILENAME").help("Write the PID of the process serving the mount to FILENAME"))
        .arg(Arg::new("no-sync").short('n').long("no-sync").action(ArgAction::SetTrue).help("Don't commit the changes when the mount ends (only fsync commits)"))
        .arg(Arg::new("trace").short('x').long("trace").action(ArgAction::SetTrue).help("Trace every FUSE request"))
        .arg(Arg::new("mountpoint").value_name("MOUNTPOINT").required(true).help("Host directory to mount on"))
}

fn main() -> ExitCode {
    vguestfs::tool::exit_status("vmount", run())
}

/// The FUSE mount options from `-o` (comma-separated, repeatable) and the session's mode.
fn fuse_config(opts: &[String], readonly: bool) -> Result<Config> {
    let mut c = Config::default();
    c.mount_options = vec![MountOption::FSName(format!("vmount:{}", std::process::id())), MountOption::Subtype("vmount".into()), MountOption::DefaultPermissions];
    c.mount_options.push(if readonly { MountOption::RO } else { MountOption::RW });
    for o in opts.iter().flat_map(|o| o.split(',')).filter(|o| !o.is_empty()) {
        match o {
            "allow_other" => c.acl = SessionACL::All,
            "allow_root" => c.acl = SessionACL::RootAndOwner,
            "default_permissions" => {}
            "ro" | "rw" => bail!("-o {o}: use --ro or --rw"),
            "dev" => c.mount_options.push(MountOption::Dev),
            "nodev" => c.mount_options.push(MountOption::NoDev),
            "suid" => c.mount_options.push(MountOption::Suid),
            "nosuid" => c.mount_options.push(MountOption::NoSuid),
            "exec" => c.mount_options.push(MountOption::Exec),
            "noexec" => c.mount_options.push(MountOption::NoExec),
            "atime" => c.mount_options.push(MountOption::Atime),
            "noatime" => c.mount_options.push(MountOption::NoAtime),
            "auto_unmount" => c.mount_options.push(MountOption::AutoUnmount),
            other => c.mount_options.push(MountOption::CUSTOM(other.to_string())),
        }
    }
    Ok(c)
}

/// Forks: the parent waits for the child to say the mount is ready (a `0` byte) or why it is
/// not, and exits with that outcome; the child, in a new session, returns the pipe to report on.
fn daemonize() -> Result<Option<std::fs::File>> {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills two descriptors into a valid array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        bail!("pipe: {}", std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned here alone.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: no other thread runs yet (the guest is opened single-threaded), so the child
    // may go on running Rust code.
    match unsafe { libc::fork() } {
        -1 => bail!("fork: {}", std::io::Error::last_os_error()),
        0 => {
            drop(r);
            // SAFETY: setsid(2) in the new child; a failure only keeps the old session.
            unsafe { libc::setsid() };
            Ok(Some(std::fs::File::from(w)))
        }
        _ => {
            drop(w);
            let mut msg = Vec::new();
            std::io::Read::read_to_end(&mut std::fs::File::from(r), &mut msg)?;
            match msg.split_first() {
                Some((0, _)) => std::process::exit(0),
                Some((_, why)) => bail!("{}", String::from_utf8_lossy(why)),
                None => bail!("the mounting process ended without mounting"),
            }
        }
    }
}

/// Blocks SIGTERM, SIGINT and SIGHUP in this thread (and the threads it starts) and returns
/// the set, for a thread to wait for them with `sigwait`.
fn block_end_signals() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local, initialised set; pthread_sigmask on this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn run() -> Result<()> {
    let m = cli().try_get_matches().unwrap_or_else(|e| e.exit());
    let verbose = m.get_flag("verbose");
    if verbose {
        env_logger::Builder::new().filter_level(log::LevelFilter::Debug).init();
    }
    if m.get_many::<String>("add").is_none() {
        bail!("you must specify at least one -a option.");
    }
    if !m.get_flag("inspector") && m.get_many::<String>("mount").is_none() {
        bail!("you must specify either -i at least one -m option.");
    }
    let mountpoint = PathBuf::from(m.get_one::<String>("mountpoint").context("mountpoint")?);
    if !mountpoint.is_dir() {
        bail!("{}: the mountpoint must be a directory", mountpoint.display());
    }
    let readonly = !m.get_flag("rw");
    let opts: Vec<String> = m.get_many::<String>("option").map(|v| v.cloned().collect()).unwrap_or_default();
    let guest = vguestfs::tool::open_guest_with(&m, "vmount", readonly)?;
    let guest = Arc::new(guest);
    let fs = GuestFuse::new(guest.clone(), m.get_flag("trace")).context("nothing is mounted at / in the guest")?;
    let mut status = if m.get_flag("no-fork") { None } else { daemonize()? };
    // After the fork: the process serving the mount names itself in the mount's source.
    let config = fuse_config(&opts, readonly)?;
    let signals = block_end_signals();
    let mut session = match fuser::Session::new(fs, &mountpoint, &config) {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("mounting on {}: {e}", mountpoint.display());
            if let Some(f) = status.as_mut() {
                let _ = f.write_all(&[&[1u8][..], msg.as_bytes()].concat());
            }
            bail!(msg);
        }
    };
    if let Some(p) = m.get_one::<String>("pid-file") {
        std::fs::write(p, format!("{}\n", std::process::id())).with_context(|| p.clone())?;
    }
    if let Some(&fd) = m.get_one::<i32>("fd") {
        // SAFETY: the caller handed us this descriptor to write one byte to and close.
        let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
        let _ = f.write_all(&[0]);
    }
    if let Some(mut f) = status.take() {
        let _ = f.write_all(&[0]);
        // A daemon: no terminal; messages only with -v.
        if !verbose {
            if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
                use std::os::fd::AsRawFd;
                for fd in 0..3 {
                    // SAFETY: dup2 onto the standard descriptors, from an open descriptor.
                    unsafe { libc::dup2(null.as_raw_fd(), fd) };
                }
            }
        }
    }
    let unmounter = session.unmount_callable();
    std::thread::spawn(move || {
        let mut unmounter = unmounter;
        let mut sig = 0;
        // SAFETY: waits on a valid signal set that this thread has blocked too (inherited).
        unsafe { libc::sigwait(&signals, &mut sig) };
        let _ = unmounter.unmount();
    });
    session.run().with_context(|| format!("serving {}", mountpoint.display()))?;
    if !readonly && !m.get_flag("no-sync") {
        let mut g = Arc::try_unwrap(guest).map_err(|_| anyhow::anyhow!("the guest is still in use after the mount ended"))?;
        vguestfs::tool::commit(&mut g)?;
    }
    Ok(())
}
