//! `vcat`: print files from a disk image to stdout, like `virt-cat`: the guest is inspected
//! and its filesystems mounted read-only (or mounted as `-m DEV[:MP]` says), and each file's
//! bytes are streamed to stdout.

use anyhow::{bail, Context, Result};
use clap::{Arg, ArgAction, Command};
use std::io::Write;
use std::process::ExitCode;
use vguestfs::fs::FileType;
use vguestfs::tool::open_guest;

fn cli() -> Command {
    vguestfs::tool::drive_args(Command::new("vcat"))
        .about("display files in a virtual machine")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::new("mount").short('m').long("mount").value_name("DEV[:MP]").action(ArgAction::Append).help("Mount DEV on MP (default /)"))
        .arg(Arg::new("verbose").short('v').long("verbose").action(ArgAction::SetTrue).help("Verbose messages"))
        .arg(Arg::new("files").value_name("FILE").num_args(1..).required(true).help("Files to display"))
}

fn main() -> ExitCode {
    vguestfs::tool::default_sigpipe();
    vguestfs::tool::exit_status("vcat", run())
}

fn run() -> Result<()> {
    let m = cli().try_get_matches().unwrap_or_else(|e| e.exit());
    if m.get_flag("verbose") {
        env_logger::Builder::new().filter_level(log::LevelFilter::Debug).init();
    }
    let g = open_guest(&m, "vcat")?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for file in m.get_many::<String>("files").into_iter().flatten() {
        if g.stat(file)?.file_type() == Some(FileType::Directory) {
            bail!("{file}: Is a directory");
        }
        let mut f = g.open_file(file)?;
        std::io::copy(&mut f, &mut out).with_context(|| file.clone())?;
    }
    out.flush()?;
    Ok(())
}
