//! `tar-in`: unpacks a tar stream into a guest directory through the guest's write methods.

use crate::error::CmdError;
use std::io::Read;
use std::path::{Component, Path};
use vguestfs::fs::{FileType, Timespec};
use vguestfs::Guest;

/// The guest path of a member below `dir`, refusing `..` (a member must stay inside the
/// directory the user named); leading `/` and `.` components are dropped.
fn member_path(dir: &str, name: &Path) -> Result<Option<String>, CmdError> {
    let mut out = dir.trim_end_matches('/').to_string();
    let mut any = false;
    for c in name.components() {
        match c {
            Component::Normal(n) => {
                out.push('/');
                out.push_str(&n.to_string_lossy());
                any = true;
            }
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(CmdError::Failed(format!("tar-in: member {}: '..' in a member name is refused", name.display())))
            }
        }
    }
    Ok(any.then_some(out))
}

/// Unpacks `input` into guest directory `dir`. Directory times are set last (filling a
/// directory changes its mtime).
pub fn unpack(guest: &Guest, input: impl Read, dir: &str, xattrs: bool) -> Result<(), CmdError> {
    let mut archive = tar::Archive::new(input);
    let mut dirs = Vec::new();
    let tar_err = |e: std::io::Error| CmdError::Failed(format!("tar-in: {e}"));
    for entry in archive.entries().map_err(tar_err)? {
        let mut entry = entry.map_err(tar_err)?;
        let name = entry.path().map_err(tar_err)?.into_owned();
        let Some(path) = member_path(dir, &name)? else { continue };
        let h = entry.header().clone();
        let mode = h.mode().map_err(tar_err)? & 0o7777;
        let (uid, gid) = (h.uid().map_err(tar_err)?, h.gid().map_err(tar_err)?);
        let mtime = Timespec { sec: i64::try_from(h.mtime().map_err(tar_err)?).unwrap_or(i64::MAX), nsec: 0 };
        let kind = h.entry_type();
        let mut is_link = false;
        match kind {
            tar::EntryType::Directory => {
                if guest.file_type(&path, false)? != Some(FileType::Directory) {
                    guest.mkdir_mode(&path, mode)?;
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                guest.rm_f(&path)?;
                guest.write_stream(&path, &mut entry)?;
            }
            tar::EntryType::Symlink => {
                let target = h.link_name().map_err(tar_err)?.unwrap_or_default();
                guest.ln_s(&target.to_string_lossy(), &path, true)?;
                is_link = true;
            }
            tar::EntryType::Link => {
                let target = h.link_name().map_err(tar_err)?.unwrap_or_default();
                let Some(target) = member_path(dir, &target)? else { continue };
                guest.ln(&target, &path, true)?;
                continue;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let bits = match kind {
                    tar::EntryType::Char => FileType::CharDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                }
                .mode_bits();
                let major = h.device_major().map_err(tar_err)?.unwrap_or(0);
                let minor = h.device_minor().map_err(tar_err)?.unwrap_or(0);
                guest.rm_f(&path)?;
                guest.mknod(mode | bits, major, minor, &path)?;
            }
            // pax/GNU metadata members are consumed by the tar reader itself
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader | tar::EntryType::GNULongName | tar::EntryType::GNULongLink => continue,
            other => {
                return Err(CmdError::Failed(format!("tar-in: member {}: unsupported tar entry type {other:?}", name.display())));
            }
        }
        if xattrs {
            if let Some(exts) = entry.pax_extensions().map_err(tar_err)? {
                for ext in exts {
                    let ext = ext.map_err(tar_err)?;
                    if let Some(attr) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                        guest.setxattr(attr, ext.value_bytes(), &path, false)?;
                    }
                }
            }
        }
        guest.chown(uid.try_into().unwrap_or(-1), gid.try_into().unwrap_or(-1), &path, false)?;
        if !is_link {
            guest.chmod(mode, &path)?;
            if kind == tar::EntryType::Directory {
                dirs.push((path, mtime));
            } else {
                guest.set_times(&path, Some(mtime), Some(mtime))?;
            }
        }
    }
    for (path, mtime) in dirs.iter().rev() {
        guest.set_times(path, Some(*mtime), Some(*mtime))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths_stay_below_the_directory() {
        assert_eq!(member_path("/d", Path::new("a/b")).unwrap().as_deref(), Some("/d/a/b"));
        assert_eq!(member_path("/d/", Path::new("/etc/x")).unwrap().as_deref(), Some("/d/etc/x"));
        assert_eq!(member_path("/d", Path::new("./")).unwrap(), None);
        assert!(member_path("/d", Path::new("a/../../etc/shadow")).is_err());
    }
}
