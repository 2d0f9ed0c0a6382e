//! Copying out of the guest: `download` (one file), `copy-out` (a tree into a host directory,
//! like `cp -a`) and `tar-out` (a tree into a tar file), over [`vguestfs::tool::host`],
//! [`vguestfs::tool::copy`] and [`vguestfs::tool::tar`] (which `vcopy-out` and `vtar-out`
//! share): nothing outside the host target the user named is touched.

use crate::command::Args;
use crate::error::{CmdError, CmdResult};
use crate::session::Session;
use std::io::{self, Write};
use std::path::Path;
use vguestfs::tool::host::write_host_file;
use vguestfs::tool::tar::Compression;

/// A library tool error as a command failure (its causes joined with `: `).
fn failed(e: anyhow::Error) -> CmdError {
    CmdError::Failed(format!("{e:#}"))
}

/// `download remotefilename filename`
pub fn download(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let mut f = s.guest.open_file(a.str(0))?;
    write_host_file(a.str(1), out, |w| {
        io::copy(&mut f, w)?;
        Ok(())
    })
    .map_err(failed)
}

/// `copy-out remote localdir`: copies the guest file or directory `remote` into the existing
/// host directory `localdir`, keeping modes, times, owners (when root) and symlinks.
pub fn copy_out(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    vguestfs::tool::copy::copy_out(&s.guest, a.str(0), Path::new(a.str(1))).map_err(failed)
}

/// `tar-out directory tarfile [compress:gzip|xz]`
pub fn tar_out(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let compression = a.opt("compress").map_or(Ok(Compression::None), str::parse).map_err(CmdError::Failed)?;
    vguestfs::tool::tar::tar_out(&s.guest, a.str(0), a.str(1), compression, out, "vfish").map_err(failed)
}
