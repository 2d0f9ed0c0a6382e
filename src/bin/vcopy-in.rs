//! `vcopy-in`: copy host files and directories into a disk image, like `virt-copy-in -a
//! IMAGE FILE|DIR… /DEST` (guestfish `--rw -i copy-in`): the guest is inspected (or mounted
//! as `-m DEV[:MP]` says) read-write, the trees are copied in keeping modes, numeric owners,
//! times and symlinks ([`vguestfs::tool::copy::copy_in`]), and the image is written at the
//! end, all or nothing.

use anyhow::{bail, Result};
use clap::{Arg, Command};
use std::path::Path;
use std::process::ExitCode;

fn cli() -> Command {
    vguestfs::tool::mount_args(Command::new("vcopy-in"))
        .about("copy files and directories into a virtual machine disk image")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::new("paths").value_name("FILE|DIR").num_args(1..).required(true).help("Local files or directories, then the guest directory to copy them into"))
}

fn main() -> ExitCode {
    vguestfs::tool::default_sigpipe();
    vguestfs::tool::exit_status("vcopy-in", run())
}

fn run() -> Result<()> {
    let m = cli().try_get_matches().unwrap_or_else(|e| e.exit());
    if m.get_flag("verbose") {
        env_logger::Builder::new().filter_level(log::LevelFilter::Debug).init();
    }
    let paths: Vec<&String> = m.get_many::<String>("paths").into_iter().flatten().collect();
    let Some((dest, locals)) = paths.split_last().filter(|(_, l)| !l.is_empty()) else {
        bail!("give the local files or directories and then the guest directory to copy them into");
    };
    let mut g = vguestfs::tool::open_guest_with(&m, "vcopy-in", false)?;
    let locals: Vec<&Path> = locals.iter().map(Path::new).collect();
    vguestfs::tool::copy::copy_in(&g, &locals, dest)?;
    vguestfs::tool::commit(&mut g)
}
