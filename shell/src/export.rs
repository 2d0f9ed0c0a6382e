//! Copying out of the guest: `download` (one file), `copy-out` (a tree into a host directory,
//! like `cp -a`) and `tar-out` (a tree into a tar file).
//!
//! The host side is written so that nothing outside the target the user named is touched:
//! files are created with `O_EXCL` (never opening an existing file or following a symlink),
//! a host file named by the user is written as a fresh file and renamed over the name (the
//! rename replaces a symlink rather than writing through it), guest symlinks are recreated as
//! symlinks (never followed on the host), and every guest name is checked to be a plain
//! component (no `/`, `.` or `..`) before it is joined to a host path.

use crate::command::Args;
use crate::error::{CmdError, CmdResult};
use crate::session::Session;
use flate2::write::GzEncoder;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{lchown, symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vguestfs::fs::{FileType, Stat};
use vguestfs::guest::files::TreeEntry;

fn host_err(path: &Path, e: &io::Error) -> CmdError {
    CmdError::Failed(format!("{}: {}", path.display(), crate::cli::strerror(e)))
}

/// A guest name that can be joined to a host path: one non-empty component.
fn safe_component(name: &[u8]) -> Result<&OsStr, CmdError> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return Err(CmdError::Failed(format!(
            "refusing unsafe file name in the guest: {:?}",
            String::from_utf8_lossy(name)
        )));
    }
    Ok(OsStr::from_bytes(name))
}

/// A new file next to `target`, created with `O_EXCL`, that [`commit`] renames onto `target`.
fn temp_beside(target: &Path) -> Result<(PathBuf, File), CmdError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{base}.vfish-{}-{n}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(host_err(target, &e)),
        }
    }
}

/// Writes the host file `target` with `fill`: into a fresh temporary file, then renamed over
/// `target` (a symlink at `target` is replaced, never followed). `-` is standard output.
fn write_host_file(
    target: &str,
    out: &mut dyn Write,
    fill: impl FnOnce(&mut dyn Write) -> CmdResult,
) -> CmdResult {
    if target == "-" {
        return fill(out);
    }
    let target = Path::new(target);
    let (tmp, mut file) = temp_beside(target)?;
    let result = fill(&mut file).and_then(|()| file.sync_all().map_err(|e| host_err(target, &e)));
    let result = result.and_then(|()| fs::rename(&tmp, target).map_err(|e| host_err(target, &e)));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// `download remotefilename filename`
pub fn download(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let mut f = s.guest.open_file(a.str(0))?;
    write_host_file(a.str(1), out, |w| {
        io::copy(&mut f, w)?;
        Ok(())
    })
}

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
fn create_node(e: &TreeEntry, p: &Path) -> Result<bool, CmdError> {
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
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p)
                .map_err(|err| host_err(p, &err))?;
            io::copy(&mut e.open(), &mut f)?;
            f.set_permissions(fs::Permissions::from_mode(st.mode & 0o7777))
                .map_err(|err| host_err(p, &err))?;
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

/// `copy-out remote localdir`: copies the guest file or directory `remote` into the existing
/// host directory `localdir`, keeping modes, times, owners (when root) and symlinks.
pub fn copy_out(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    let (remote, localdir) = (a.str(0), Path::new(a.str(1)));
    if !fs::metadata(localdir).is_ok_and(|m| m.is_dir()) {
        return Err(CmdError::Failed(format!(
            "copy-out: target '{}' is not a directory",
            localdir.display()
        )));
    }
    let canonical = s.guest.realpath(remote)?;
    let base = canonical.rsplit('/').next().unwrap_or_default();
    let top = if base.is_empty() {
        localdir.to_path_buf()
    } else {
        localdir.join(safe_component(base.as_bytes())?)
    };
    let entries = s.guest.walk(&canonical)?;
    let mut dirs = Vec::new();
    for e in &entries {
        let mut p = top.clone();
        for c in &e.components {
            p.push(safe_component(c)?);
        }
        if create_node(e, &p)? && e.stat.file_type() == Some(FileType::Directory) {
            dirs.push((p, e));
        }
    }
    // Directory modes and times last, deepest first: filling a directory changes its mtime,
    // and a read-only directory could not be filled.
    for (p, e) in dirs.iter().rev() {
        // The time first: a directory made unreadable (mode 000) could not be opened after.
        File::open(p)
            .and_then(|f| f.set_modified(mtime(&e.stat)))
            .map_err(|err| host_err(p, &err))?;
        fs::set_permissions(p, fs::Permissions::from_mode(e.stat.mode & 0o7777))
            .map_err(|err| host_err(p, &err))?;
    }
    Ok(())
}

/// The tar header for a guest node (type, mode, owner, time, size, device numbers).
fn tar_header(st: &Stat) -> Option<tar::Header> {
    let mut h = tar::Header::new_gnu();
    let ty = match st.file_type()? {
        FileType::Regular => tar::EntryType::Regular,
        FileType::Directory => tar::EntryType::Directory,
        FileType::Symlink => tar::EntryType::Symlink,
        FileType::CharDevice => tar::EntryType::Char,
        FileType::BlockDevice => tar::EntryType::Block,
        FileType::Fifo => tar::EntryType::Fifo,
        // GNU tar: "socket ignored".
        FileType::Socket => return None,
    };
    h.set_entry_type(ty);
    h.set_mode(st.mode & 0o7777);
    h.set_uid(u64::from(st.uid));
    h.set_gid(u64::from(st.gid));
    h.set_mtime(u64::try_from(st.mtime.sec).unwrap_or(0));
    h.set_size(if ty == tar::EntryType::Regular {
        st.size
    } else {
        0
    });
    if matches!(ty, tar::EntryType::Char | tar::EntryType::Block) {
        let major = ((st.rdev >> 8) & 0xfff) | ((st.rdev >> 32) & !0xfff);
        let minor = (st.rdev & 0xff) | ((st.rdev >> 12) & !0xff);
        // The GNU header has room for both; numbers that do not fit are kept as 0.
        let _ = h.set_device_major(u32::try_from(major).unwrap_or(0));
        let _ = h.set_device_minor(u32::try_from(minor).unwrap_or(0));
    }
    Some(h)
}

/// Writes the tree at `dir` as a tar stream into `w`.
fn write_tar(s: &Session, dir: &str, w: &mut dyn Write) -> CmdResult {
    let entries = s.guest.walk(dir)?;
    let mut b = tar::Builder::new(w);
    for e in entries.iter().skip(1) {
        let mut path = PathBuf::new();
        for c in &e.components {
            path.push(safe_component(c)?);
        }
        let Some(mut h) = tar_header(&e.stat) else {
            continue;
        };
        // Errors name the guest path they happened at.
        let guest = format!("{}/{}", dir.trim_end_matches('/'), path.display());
        let at = |err: &dyn std::fmt::Display| CmdError::Failed(format!("{guest}: {err}"));
        match e.stat.file_type() {
            Some(FileType::Symlink) => {
                let target = e.readlink().map_err(|err| at(&err))?;
                // A damaged filesystem can hold targets no tar archive can store: one such
                // symlink is left out with a warning, not the whole archive.
                if target.is_empty() || target.contains(&0) {
                    let why = if target.is_empty() { "is empty" } else { "contains a NUL byte" };
                    eprintln!("vfish: tar-out: skipping the symlink {guest}: its target {why}");
                    continue;
                }
                b.append_link(&mut h, &path, OsStr::from_bytes(&target)).map_err(|err| at(&err))?
            }
            Some(FileType::Regular) => {
                // A file that reads short still fills its declared size.
                let data = e.open().chain(io::repeat(0)).take(e.stat.size);
                b.append_data(&mut h, &path, data).map_err(|err| at(&err))?
            }
            _ => b.append_data(&mut h, &path, io::empty()).map_err(|err| at(&err))?,
        }
    }
    b.finish()?;
    Ok(())
}

/// `tar-out directory tarfile [compress:gzip]`
pub fn tar_out(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let dir = s.guest.realpath(a.str(0))?;
    if s.guest.stat(&dir)?.file_type() != Some(FileType::Directory) {
        return Err(CmdError::Failed(format!("{}: Not a directory", a.str(0))));
    }
    let gzip = match a.opt("compress") {
        None => false,
        Some("gzip") => true,
        Some(other) => {
            return Err(CmdError::Failed(format!(
                "unknown or unsupported compression type: {other} (vfish supports gzip)"
            )))
        }
    };
    let session: &Session = s;
    write_host_file(a.str(1), out, |w| {
        if gzip {
            let mut z = GzEncoder::new(w, flate2::Compression::default());
            write_tar(session, &dir, &mut z)?;
            z.finish()?;
            Ok(())
        } else {
            write_tar(session, &dir, w)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::safe_component;

    #[test]
    fn unsafe_names_are_refused() {
        for bad in [&b""[..], b".", b"..", b"a/b", b"/", b"a\0b"] {
            assert!(safe_component(bad).is_err(), "{bad:?}");
        }
        assert!(safe_component(b"..a").is_ok());
        assert!(safe_component(b"shadow").is_ok());
    }
}
