//! `vcopy-out`: copy files and directories out of a disk image, like `virt-copy-out -a IMAGE
//! /PATH… LOCALDIR` (guestfish `--ro -i copy-out`): the guest is inspected (or mounted as
//! `-m DEV[:MP]` says) read-only and each guest path copied into the existing host directory,
//! keeping modes, times, owners (as root) and symlinks ([`vguestfs::tool::copy::copy_out`]).

use anyhow::{bail, Result};
use clap::{Arg, Command};
use std::path::Path;
use std::process::ExitCode;

fn cli() -> Command {
    vguestfs::tool::mount_args(Command::new("vcopy-out"))
        .about("copy files and directories out of a virtual machine disk image")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::new("paths").value_name("PATH").num_args(1..).required(true).help("Guest files or directories, then the local directory to copy them into"))
}

fn main() -> ExitCode {
    vguestfs::tool::default_sigpipe();
    vguestfs::tool::exit_status("vcopy-out", run())
}

fn run() -> Result<()> {
    let m = cli().try_get_matches().unwrap_or_else(|e| e.exit());
    if m.get_flag("verbose") {
        env_logger::Builder::new().filter_level(log::LevelFilter::Debug).init();
    }
    let paths: Vec<&String> = m.get_many::<String>("paths").into_iter().flatten().collect();
    let Some((localdir, remotes)) = paths.split_last().filter(|(_, r)| !r.is_empty()) else {
        bail!("give the guest files or directories and then the local directory to copy them into");
    };
    let g = vguestfs::tool::open_guest(&m, "vcopy-out")?;
    for remote in remotes {
        vguestfs::tool::copy::copy_out(&g, remote, Path::new(localdir.as_str()))?;
    }
    Ok(())
}
