//! `vtar-out`: pack a directory of a disk image into a tarball, like `virt-tar-out -a IMAGE
//! /DIR TARBALL|-` (guestfish `--ro -i tar-out`): the guest is inspected (or mounted as `-m
//! DEV[:MP]` says) read-only and the tree written with members relative to the directory,
//! numeric owners and symlinks as links ([`vguestfs::tool::tar::tar_out`]). The tarball is
//! written new and renamed over TARBALL; `-` is standard output. `-z` gzip, `--xz` xz
//! (through the host's `xz`).

use anyhow::Result;
use clap::{Arg, Command};
use std::io::Write;
use std::process::ExitCode;
use vguestfs::tool::tar::Compression;

fn cli() -> Command {
    Compression::args(vguestfs::tool::mount_args(Command::new("vtar-out")), false)
        .about("pack a virtual machine disk image directory into a tarball")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::new("dir").value_name("DIR").required(true).help("The guest directory to pack"))
        .arg(Arg::new("tarball").value_name("TARBALL").required(true).help("The tar file to write (- for standard output)"))
}

fn main() -> ExitCode {
    vguestfs::tool::default_sigpipe();
    vguestfs::tool::exit_status("vtar-out", run())
}

fn run() -> Result<()> {
    let m = cli().try_get_matches().unwrap_or_else(|e| e.exit());
    if m.get_flag("verbose") {
        env_logger::Builder::new().filter_level(log::LevelFilter::Debug).init();
    }
    let compression = Compression::of(&m);
    let (dir, tarball) = (m.get_one::<String>("dir").map_or("", String::as_str), m.get_one::<String>("tarball").map_or("", String::as_str));
    let g = vguestfs::tool::open_guest(&m, "vtar-out")?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    vguestfs::tool::tar::tar_out(&g, dir, tarball, compression, &mut out, "vtar-out")?;
    out.flush()?;
    Ok(())
}
