//! Copying trees between the host and the guest, as guestfish's `copy-in` and `copy-out`
//! (and so virt-copy-in and virt-copy-out) do: recursively, keeping modes, numeric owners,
//! times and symbolic links. Shared by vfish and `vcopy-in`/`vcopy-out`.

use super::host::{host_err, safe_component};
use crate::fs::{Errno, FileType, Stat, Timespec};
use crate::guest::files::TreeEntry;
use crate::guest::Error as GuestError;
use crate::Guest;
use anyhow::{bail, Result};
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Copies host files and directories (recursively) into the existing guest directory
/// `remotedir`, keeping modes, numeric owners, times and symlinks, as the appliance's `tar`
/// running as root does. Each local path arrives under its own file name.
pub fn copy_in(g: &Guest, locals: &[&Path], remotedir: &str) -> Result<()> {
    if g.file_type(remotedir, true)? != Some(FileType::Directory) {
        bail!("copy-in: target '{remotedir}' is not a directory");
    }
    for local in locals {
        let base = local.file_name().map(|b| b.to_string_lossy().into_owned()).unwrap_or_default();
        if base.is_empty() || base == ".." {
            bail!("copy-in: {}: cannot name the copy", local.display());
        }
        copy_in_one(g, local, &format!("{}/{base}", remotedir.trim_end_matches('/')))?;
    }
    Ok(())
}

fn copy_in_one(g: &Guest, local: &Path, remote: &str) -> Result<()> {
    let md = fs::symlink_metadata(local).map_err(|e| host_err(local, &e))?;
    let ft = md.file_type();
    if ft.is_dir() {
        if g.file_type(remote, false)? != Some(FileType::Directory) {
            g.mkdir_mode(remote, 0o700)?;
        }
        let mut names: Vec<_> = fs::read_dir(local)
            .map_err(|e| host_err(local, &e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| host_err(local, &e))?;
        names.sort();
        for n in names {
            copy_in_one(g, &local.join(&n), &format!("{}/{}", remote.trim_end_matches('/'), n.to_string_lossy()))?;
        }
    } else if ft.is_symlink() {
        let target = fs::read_link(local).map_err(|e| host_err(local, &e))?;
        g.ln_s(&target.to_string_lossy(), remote, true)?;
    } else if ft.is_file() {
        let mut f = File::open(local).map_err(|e| host_err(local, &e))?;
        g.write_stream(remote, &mut f)?;
    } else {
        bail!("copy-in: {}: not a regular file, directory or symlink", local.display());
    }
    chown_if_supported(g, md.uid().into(), md.gid().into(), remote)?;
    if !ft.is_symlink() {
        chmod_if_supported(g, md.mode() & 0o7777, remote)?;
        let t = |sec: i64, nsec: i64| Timespec { sec, nsec: u32::try_from(nsec).unwrap_or(0) };
        g.set_times(remote, Some(t(md.atime(), md.atime_nsec())), Some(t(md.mtime(), md.mtime_nsec())))?;
    }
    Ok(())
}

/// `lchown`, except on a filesystem without owners (vfat: EPERM), where the owners are not
/// kept — as the libguestfs daemon then runs `tar --no-same-owner`.
pub fn chown_if_supported(g: &Guest, uid: i64, gid: i64, path: &str) -> Result<()> {
    unless_not_permitted(g.chown(uid, gid, path, false))
}

/// `chmod`, except where the filesystem cannot hold the mode (vfat refuses, with EPERM, any
/// change but the write bits): there the mode it can hold stays, as with `tar
/// --no-same-permissions`.
pub fn chmod_if_supported(g: &Guest, mode: u32, path: &str) -> Result<()> {
    unless_not_permitted(g.chmod(mode, path))
}

fn unless_not_permitted(r: crate::guest::Result<()>) -> Result<()> {
    match r {
        Err(GuestError::Path { errno: Errno::NotPermitted, .. }) => Ok(()),
        r => Ok(r?),
    }
}

/// A guest modification time as a host time.
fn mtime(st: &Stat) -> SystemTime {
    let d = Duration::new(st.mtime.sec.unsigned_abs(), st.mtime.nsec);
    if st.mtime.sec >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    }
}

/// Whether `p` is a real directory (not a symlink to one).
fn is_real_dir(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_dir())
}

/// Recreates one guest node at host path `p` (which must not exist, except a real directory
/// for a guest directory). Returns whether it was created (special files are skipped).
fn create_node(e: &TreeEntry, p: &Path) -> Result<bool> {
    let st = &e.stat;
    match st.file_type() {
        Some(FileType::Directory) => {
            if let Err(err) = fs::create_dir(p) {
                if !(err.kind() == io::ErrorKind::AlreadyExists && is_real_dir(p)) {
                    return Err(host_err(p, &err));
                }
            }
        }
        Some(FileType::Regular) => {
            let mut f = OpenOptions::new().write(true).create_new(true).open(p).map_err(|err| host_err(p, &err))?;
            io::copy(&mut e.open(), &mut f)?;
            f.set_permissions(fs::Permissions::from_mode(st.mode & 0o7777)).map_err(|err| host_err(p, &err))?;
            f.set_modified(mtime(st)).map_err(|err| host_err(p, &err))?;
        }
        Some(FileType::Symlink) => {
            symlink(OsStr::from_bytes(&e.readlink()?), p).map_err(|err| host_err(p, &err))?;
        }
        _ => return Ok(false),
    }
    // Ownership as `cp -a`: kept when we may (as root), silently not otherwise.
    let _ = lchown(p, Some(st.uid), Some(st.gid));
    Ok(true)
}

/// Copies the guest file or directory `remote` into the existing host directory `localdir`,
/// keeping modes, modification times, owners (when root) and symlinks (as symlinks, never
/// followed on the host). Files are created new: an existing file or symlink in the way is
/// an error; existing real directories are merged into. Devices, FIFOs and sockets are not
/// copied.
pub fn copy_out(g: &Guest, remote: &str, localdir: &Path) -> Result<()> {
    if !fs::metadata(localdir).is_ok_and(|m| m.is_dir()) {
        bail!("copy-out: target '{}' is not a directory", localdir.display());
    }
    let canonical = g.realpath(remote)?;
    let base = canonical.rsplit('/').next().unwrap_or_default();
    let top = if base.is_empty() { localdir.to_path_buf() } else { localdir.join(safe_component(base.as_bytes())?) };
    let mut dirs = Vec::new();
    g.walk_each(&canonical, |e| {
        let mut p = top.clone();
        for c in &e.components {
            p.push(safe_component(c)?);
        }
        if create_node(&e, &p)? && e.stat.file_type() == Some(FileType::Directory) {
            dirs.push((p, e.stat));
        }
        Ok::<(), anyhow::Error>(())
    })?;
    // Directory modes and times last, deepest first: filling a directory changes its mtime,
    // and a read-only directory could not be filled.
    for (p, st) in dirs.iter().rev() {
        // The time first: a directory made unreadable (mode 000) could not be opened after.
        File::open(p).and_then(|f| f.set_modified(mtime(st))).map_err(|err| host_err(p, &err))?;
        fs::set_permissions(p, fs::Permissions::from_mode(st.mode & 0o7777)).map_err(|err| host_err(p, &err))?;
    }
    Ok(())
}
