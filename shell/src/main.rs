//! `vfish`: a guestfish-compatible shell over the vguestfs library.
//!
//! Modes, as in guestfish: commands on the command line (`vfish -a disk.img run : lvs`),
//! a script (`-f FILE`, or `#!/usr/bin/vfish -f`), commands on standard input when it is not a
//! terminal, and otherwise the interactive shell.

mod cli;
mod command;
mod error;
mod table;
mod export;
mod fs_cmds;
mod handlers;
mod df;
mod inspect_cmds;
mod lvm_cmds;
mod parser;
mod repl;
mod session;
mod shell;
mod write_cmds;
mod structs;

use cli::Action;
use session::Session;
use shell::Shell;
use std::io::{BufReader, IsTerminal};
use std::path::Path;
use std::process::ExitCode;
use vguestfs::guest::DriveOptions;

fn main() -> ExitCode {
    vguestfs::tool::default_sigpipe();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::parse(&args) {
        Err(e) => {
            eprintln!("vfish: {}", e.0);
            eprintln!("Try ‘vfish --help’ for more information.");
            ExitCode::FAILURE
        }
        Ok(Action::Usage) => {
            print!("{}", cli::usage());
            ExitCode::SUCCESS
        }
        Ok(Action::Version) => {
            println!("vfish {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Action::CmdHelp(None)) => {
            print!("{}", command::list_commands(table::COMMANDS));
            ExitCode::SUCCESS
        }
        Ok(Action::CmdHelp(Some(name))) => match table::lookup(&name) {
            Some(c) => {
                print!("{}", c.long_help());
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("{name}: command not known, use -h to list all commands");
                ExitCode::FAILURE
            }
        },
        Ok(Action::Run(o)) => match run(o) {
            Ok(()) => ExitCode::SUCCESS,
            Err(shell::Fatal) => ExitCode::FAILURE,
        },
    }
}

/// `-m`: launches the guest and mounts each `DEV[:MOUNTPOINT[:OPTIONS[:FSTYPE]]]` in order,
/// as guestfish does. `ro` among the options mounts read-only (as does a read-only session);
/// btrfs's `subvol=`/`subvolid=` choose the subvolume; other options have no meaning for
/// vfish's filesystems and are refused. A FSTYPE must be
/// the type the filesystem is probed as.
fn mount_all(session: &mut Session, mounts: &[cli::MountSpec]) -> Result<(), shell::Fatal> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        eprintln!("vguestfs: error: {what}: {e}");
        shell::Fatal
    };
    if !session.guest.is_launched() {
        session.guest.launch().map_err(|e| fail("launch", &e))?;
        for n in session.guest.notices() {
            eprintln!("vguestfs: {n}");
        }
    }
    for m in mounts {
        let mut ro = false;
        let mut subvol = Vec::new();
        for opt in m.options.split(',').filter(|o| !o.is_empty()) {
            match opt {
                "ro" => ro = true,
                "rw" | "defaults" => {}
                o if o.starts_with("subvol=") || o.starts_with("subvolid=") => subvol.push(o),
                other => {
                    return Err(fail(
                        "mount_options",
                        &format!(
                            "{}: mount option ‘{other}’ is not supported (ro, rw, defaults)",
                            m.device
                        ),
                    ))
                }
            }
        }
        if !m.fstype.is_empty() {
            let probed = session
                .guest
                .probe(&m.device)
                .map_err(|e| fail("mount_vfs", &e))?;
            let found = probed.map(|i| i.fs_type).unwrap_or_default();
            if found != m.fstype {
                return Err(fail(
                    "mount_vfs",
                    &format!(
                        "{}: filesystem type is ‘{found}’, not ‘{}’",
                        m.device, m.fstype
                    ),
                ));
            }
        }
        let r = if !subvol.is_empty() {
            let mut opts = subvol.join(",");
            if ro || !session.guest.device(&m.device).is_ok_and(|d| d.is_writable()) {
                opts.push_str(",ro");
            }
            session.guest.mount_options(&opts, &m.device, &m.mountpoint)
        } else if ro {
            session.guest.mount_ro(&m.device, &m.mountpoint)
        } else {
            session.guest.mount(&m.device, &m.mountpoint)
        };
        if let Err(e) = r {
            eprintln!("vguestfs: error: mount: {e}");
            eprintln!("vfish: ‘{}’ could not be mounted.", m.device);
            return Err(shell::Fatal);
        }
    }
    for w in session.guest.take_warnings() {
        eprintln!("vguestfs: warning: {w}");
    }
    Ok(())
}

/// `-i`: launches, finds the one operating system and mounts its filesystems as its fstab
/// says, shortest mountpoint first (guestfish's `inspect_mount`).
fn inspect_mount(session: &mut Session, readonly: bool) -> Result<(), shell::Fatal> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        eprintln!("vguestfs: error: {what}: {e}");
        shell::Fatal
    };
    session.guest.launch().map_err(|e| fail("launch", &e))?;
    for n in session.guest.notices() {
        eprintln!("vguestfs: {n}");
    }
    let roots = session
        .guest
        .inspect_os()
        .map_err(|e| fail("inspect_os", &e))?;
    let root = match roots.as_slice() {
        [] => {
            eprintln!("vfish: no operating system was found on this disk");
            return Err(shell::Fatal);
        }
        [root] => root.clone(),
        _ => {
            eprintln!("vfish: multi-boot operating systems are not supported by the -i option");
            return Err(shell::Fatal);
        }
    };
    let skipped = session
        .guest
        .mount_inspected(&root, readonly)
        .map_err(|e| fail("mount", &e))?;
    for (mountpoint, e) in &skipped {
        eprintln!("vguestfs: error: mount: {mountpoint}: {e}");
    }
    if !skipped.is_empty() {
        eprintln!("vfish: some filesystems could not be mounted (ignored)");
    }
    session.inspected_root = Some(root);
    for w in session.guest.take_warnings() {
        eprintln!("vguestfs: warning: {w}");
    }
    Ok(())
}

/// Sets up the session from the options and runs the chosen mode.
fn run(o: cli::Options) -> Result<(), shell::Fatal> {
    if o.verbose > 0 {
        let level = if o.verbose > 1 {
            log::LevelFilter::Trace
        } else {
            log::LevelFilter::Debug
        };
        env_logger::Builder::new().filter_level(level).init();
    }
    if !o.backing_allow.is_empty() {
        vguestfs::disk::set_backing_allow(vguestfs::tool::backing_allow(o.backing_allow.iter().map(String::as_str)));
    }
    let mut session = Session::new(!o.rw);
    session.dry_run = o.dry_run;
    for d in &o.drives {
        if let Err(e) = std::fs::metadata(&d.path) {
            eprintln!("{}: {}", d.path, cli::strerror(&e));
            return Err(shell::Fatal);
        }
        let opts = DriveOptions {
            format: d.format,
            blocksize: d.blocksize,
            readonly: !o.rw,
            ..Default::default()
        };
        if let Err(e) = session.guest.add_drive(Path::new(&d.path), opts) {
            eprintln!("vguestfs: error: add_drive: {e}");
            return Err(shell::Fatal);
        }
    }
    if o.inspect {
        inspect_mount(&mut session, !o.rw)?;
    }
    if !o.mounts.is_empty() {
        mount_all(&mut session, &o.mounts)?;
    }
    let mut shell = Shell::new(session, o.trace);
    let result = run_mode(&mut shell, &o);
    // As guestfish does when its handle closes: what the commands changed is written out,
    // also after a failed command (earlier commands' changes stay, as they would in
    // guestfish): filesystems are synced and unmounted, the writable drives committed.
    let closed = shell.session.close(&mut std::io::stdout().lock());
    if let Err(error::CmdError::Failed(m) | error::CmdError::Usage(m)) = &closed {
        eprintln!("vguestfs: error: close: {m}");
    }
    result.and(closed.map_err(|_| shell::Fatal))
}

/// Runs the commands from the command line, the `-f` script, the terminal or stdin.
fn run_mode(shell: &mut Shell, o: &cli::Options) -> Result<(), shell::Fatal> {
    if !o.commands.is_empty() {
        return shell.run_words(&o.commands);
    }
    if let Some(f) = &o.file {
        let file = std::fs::File::open(f).map_err(|e| {
            eprintln!("{f}: {}", cli::strerror(&e));
            shell::Fatal
        })?;
        return shell.run_script(BufReader::new(file), f);
    }
    if std::io::stdin().is_terminal() {
        repl::run(shell)
    } else {
        shell.run_script(std::io::stdin().lock(), "*stdin*")
    }
}

