//! `vtar-in`: unpack a tarball into a disk image, like `virt-tar-in -a IMAGE TARBALL /DIR`
//! (guestfish `--rw -i tar-in`; `-` reads standard input): the guest is inspected (or mounted
//! as `-m DEV[:MP]` says) read-write, the members unpacked keeping modes, numeric owners,
//! times, links and devices ([`vguestfs::tool::tar::tar_in`]), and the image is written at
//! the end, all or nothing. `-z` reads gzip, `--xz` xz (through the host's `xz`).

use anyhow::Result;
use clap::{Arg, ArgAction, Command};
use std::process::ExitCode;
use vguestfs::tool::tar::Compression;

fn cli() -> Command {
    Compression::args(vguestfs::tool::mount_args(Command::new("vtar-in")), true)
        .about("unpack a tarball into a virtual machine disk image")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::new("xattrs").long("xattrs").action(ArgAction::SetTrue).help("Restore the pax SCHILY.xattr extended attributes"))
        .arg(Arg::new("tarball").value_name("TARBALL").required(true).help("The tar file (- for standard input)"))
        .arg(Arg::new("dir").value_name("DIR").required(true).help("The guest directory to unpack into"))
}

fn main() -> ExitCode {
    vguestfs::tool::default_sigpipe();
    vguestfs::tool::exit_status("vtar-in", run())
}

fn run() -> Result<()> {
    let m = cli().try_get_matches().unwrap_or_else(|e| e.exit());
    if m.get_flag("verbose") {
        env_logger::Builder::new().filter_level(log::LevelFilter::Debug).init();
    }
    let compression = Compression::of(&m);
    let (tarball, dir) = (m.get_one::<String>("tarball").map_or("", String::as_str), m.get_one::<String>("dir").map_or("", String::as_str));
    let mut g = vguestfs::tool::open_guest_with(&m, "vtar-in", false)?;
    vguestfs::tool::tar::tar_in(&g, tarball, dir, compression, m.get_flag("xattrs"))?;
    vguestfs::tool::commit(&mut g)
}
