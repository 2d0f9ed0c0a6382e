//! `vunmount`: unmounts a `vmount` mountpoint, like `guestunmount`: runs `fusermount -u`,
//! retrying with exponential back-off while the mount is busy (`--retry=N`, default 5;
//! `--no-retry`), or first waits for pipe `--fd=FD` to close; then waits until the `vmount`
//! process serving it has exited, so that its last commit is on disk when this returns.
//! Exit status as guestunmount: 0 unmounted, 1 program error, 2 still mounted after the
//! retries, 3 not mounted.

use clap::{Arg, ArgAction, Command};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn cli() -> Command {
    Command::new("vunmount")
        .about("unmount a vmounted filesystem")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::new("fd").long("fd").value_name("FD").value_parser(clap::value_parser!(i32)).help("Wait until pipe FD is closed before unmounting"))
        .arg(Arg::new("quiet").short('q').long("quiet").action(ArgAction::SetTrue).help("Don't display error messages from fusermount"))
        .arg(Arg::new("no-retry").long("no-retry").action(ArgAction::SetTrue).help("Run fusermount only once"))
        .arg(Arg::new("retry").long("retry").value_name("N").value_parser(clap::value_parser!(u32)).default_value("5").help("Retry fusermount N times"))
        .arg(Arg::new("verbose").short('v').long("verbose").action(ArgAction::SetTrue).help("Verbose messages"))
        .arg(Arg::new("mountpoint").value_name("MOUNTPOINT").required(true))
}

/// The source of the FUSE mount at `mp` in this process's mount table (`vmount:PID` for ours).
fn fuse_mount(mp: &Path) -> Option<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPER
    table.lines().rev().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let at = left.split(' ').nth(4)?.replace("\\040", " ");
        let mut r = right.split(' ');
        let (fstype, source) = (r.next()?, r.next()?);
        (Path::new(&at) == mp && fstype.starts_with("fuse")).then(|| source.to_string())
    })
}

/// The fusermount program: fusermount3, else fusermount.
fn fusermount() -> &'static str {
    let on_path = |p: &str| std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(p).is_file()));
    if on_path("fusermount3") { "fusermount3" } else { "fusermount" }
}

/// Whether process `pid` still runs (a zombie has finished).
fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // pid (comm) STATE …: comm may hold spaces and parentheses; the state follows the last ')'.
        Ok(s) => s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn main() -> ExitCode {
    let m = cli().try_get_matches().unwrap_or_else(|e| e.exit());
    let quiet = m.get_flag("quiet");
    let Some(given) = m.get_one::<String>("mountpoint") else { return ExitCode::from(1) };
    let mp = std::fs::canonicalize(given).unwrap_or_else(|_| PathBuf::from(given));
    if let Some(&fd) = m.get_one::<i32>("fd") {
        // Wait for the other end to close: a read returns 0 (or fails) then.
        let mut b = [0u8; 1];
        // SAFETY: reading into a local buffer from a descriptor the caller passed us.
        while unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) } > 0 {}
    }
    let Some(source) = fuse_mount(&mp) else {
        if !quiet {
            eprintln!("vunmount: {}: not mounted", mp.display());
        }
        return ExitCode::from(3);
    };
    let server: Option<i32> = source.strip_prefix("vmount:").and_then(|p| p.parse().ok());
    let retries = if m.get_flag("no-retry") { 0 } else { m.get_one::<u32>("retry").copied().unwrap_or(5) };
    let mut wait = Duration::from_secs(1);
    for attempt in 0..=retries {
        let out = match std::process::Command::new(fusermount()).arg("-u").arg(&mp).output() {
            Ok(o) => o,
            Err(e) => {
                eprintln!("vunmount: {}: {e}", fusermount());
                return ExitCode::from(1);
            }
        };
        if out.status.success() {
            break;
        }
        if !quiet {
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
        }
        if attempt == retries {
            if !quiet {
                eprintln!("vunmount: failed to unmount {}", mp.display());
            }
            return ExitCode::from(2);
        }
        if m.get_flag("verbose") {
            eprintln!("vunmount: {} busy, retrying in {wait:?}", mp.display());
        }
        std::thread::sleep(wait);
        wait *= 2;
    }
    // The serving process commits when the mount ends: wait for it (bounded by what a commit
    // of a large image may take).
    if let Some(pid) = server {
        let t = Instant::now();
        while running(pid) && t.elapsed() < Duration::from_secs(600) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    ExitCode::SUCCESS
}
