//! `vdf`: disk space used and available on a guest's filesystems, like `virt-df -a IMAGE…`:
//! the images are one guest, every filesystem on them (not swap, not unknown) is mounted
//! read-only in turn and its `statvfs` printed as a `NAME:DEVICE` line, in virt-df's layout
//! (see [`vguestfs::tool::df`]). No libvirt: guests are named by `-a` only.

use anyhow::{bail, Context, Result};
use clap::{Arg, ArgAction, Command};
use std::io::Write;
use std::process::ExitCode;
use vguestfs::guest::DriveOptions;
use vguestfs::tool::df::{virt_df_line, virt_df_name, virt_df_stats, virt_df_title, VirtDfStyle};
use vguestfs::Guest;

fn cli() -> Command {
    vguestfs::tool::drive_args(Command::new("vdf"))
        .about("display free space on virtual filesystems")
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(Arg::new("help").long("help").action(ArgAction::Help).help("Print help"))
        .arg(Arg::new("version").short('V').long("version").action(ArgAction::Version).help("Print version"))
        .arg(Arg::new("human").short('h').long("human-readable").action(ArgAction::SetTrue).help("Human-readable sizes (powers of 1024)"))
        .arg(Arg::new("inodes").short('i').long("inodes").action(ArgAction::SetTrue).help("Show inodes instead of blocks"))
        .arg(Arg::new("csv").long("csv").action(ArgAction::SetTrue).help("Comma-separated values output"))
        .arg(Arg::new("one-per-guest").long("one-per-guest").action(ArgAction::SetTrue).help("Accepted for virt-df compatibility (one appliance per guest); no effect"))
        .arg(Arg::new("uuid").long("uuid").action(ArgAction::SetTrue).help("Accepted for virt-df compatibility: guests added with -a have no UUID, so they are named by image, as virt-df names them"))
        .arg(Arg::new("verbose").short('v').long("verbose").action(ArgAction::SetTrue).help("Verbose messages"))
}

fn main() -> ExitCode {
    vguestfs::tool::default_sigpipe();
    vguestfs::tool::exit_status("vdf", run())
}

fn run() -> Result<()> {
    let m = cli().try_get_matches().unwrap_or_else(|e| e.exit());
    if m.get_flag("verbose") {
        env_logger::Builder::new().filter_level(log::LevelFilter::Debug).init();
    }
    let style = VirtDfStyle { human: m.get_flag("human"), inodes: m.get_flag("inodes"), csv: m.get_flag("csv") };
    if style.human && style.csv {
        bail!("you cannot use -h and --csv options together.");
    }
    let drives = vguestfs::tool::drives(&m)?;
    if drives.is_empty() {
        bail!("you must specify at least one -a option (vdf cannot list libvirt guests).");
    }
    let mut g = Guest::new();
    for (path, format) in &drives {
        g.add_drive(path, DriveOptions { format: *format, readonly: true, ..Default::default() }).with_context(|| path.display().to_string())?;
    }
    g.launch()?;
    for n in g.notices() {
        eprintln!("vdf: {n}");
    }
    let name = virt_df_name(&drives.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    out.write_all(virt_df_title(style).as_bytes())?;
    for (device, stat) in virt_df_stats(&mut g)? {
        out.write_all(virt_df_line(&name, &device, &stat, style).as_bytes())?;
    }
    vguestfs::tool::print_warnings(&g, "vdf");
    out.flush()?;
    Ok(())
}
