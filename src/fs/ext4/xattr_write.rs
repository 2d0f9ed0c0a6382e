//! `setxattr`/`removexattr` by inode. The crate addresses these by path, so the inode's path
//! is found first ([`super::names`]). Names are checked as the kernel checks them (a known
//! namespace, a non-empty suffix, ≤ 255 bytes; `user.*` only on regular files and
//! directories), and a POSIX ACL given in the VFS form `setfacl` passes is stored in ext4's
//! compact on-disk form, the inverse of what the read side does.

use super::Ctx;
use crate::fs::{Errno, Error, Result};

/// `XATTR_NAME_MAX`.
const NAME_MAX: usize = 255;
/// `XATTR_SIZE_MAX`.
const SIZE_MAX: usize = 65536;
/// Namespaces the kernel's ext4 accepts.
const PREFIXES: &[&str] = &["user.", "trusted.", "security."];
/// The ACL attributes (no suffix).
const ACLS: &[&str] = &["system.posix_acl_access", "system.posix_acl_default"];

/// A checked attribute name: UTF-8 (the crate takes `&str`), a known namespace.
fn check_name<'a>(c: &Ctx<'_>, name: &'a [u8]) -> Result<&'a str> {
    if name.len() > NAME_MAX {
        return Err(Error::Os(Errno::Range));
    }
    let name = std::str::from_utf8(name)
        .map_err(|_| c.err.unsupported("xattr names that are not UTF-8"))?;
    if ACLS.contains(&name) {
        return Ok(name);
    }
    match PREFIXES.iter().find(|p| name.starts_with(*p)) {
        Some(p) if name.len() > p.len() => Ok(name),
        Some(_) => Err(Error::Os(Errno::Invalid)),
        None => Err(c.err.unsupported(format!("xattr namespace of {name:?}"))),
    }
}

/// Refuses `user.*` on anything but a regular file or directory (EPERM, as Linux).
fn check_target(c: &Ctx<'_>, ino: u32, name: &str) -> Result<()> {
    let node = c.ok(c.fs.stat_ino(ino))?;
    if name.starts_with("user.") && !node.is_file() && !node.is_dir() {
        return Err(Error::Os(Errno::NotPermitted));
    }
    Ok(())
}

/// Sets attribute `name` of `ino` to `value`.
pub(super) fn set(c: &Ctx<'_>, ino: u32, name: &[u8], value: &[u8]) -> Result<()> {
    let name = check_name(c, name)?;
    if value.len() > SIZE_MAX {
        return Err(Error::Os(Errno::TooBig));
    }
    check_target(c, ino, name)?;
    let stored;
    let value = if ACLS.contains(&name) {
        stored = acl_to_disk(value).ok_or(Error::Os(Errno::Invalid))?;
        &stored[..]
    } else {
        value
    };
    let path = c.names.path_of(c, ino, "setting an xattr")?;
    c.ok(c.fs.apply_setxattr(&path, name, value))
}

/// Removes attribute `name` of `ino`; ENODATA when it is not set.
pub(super) fn remove(c: &Ctx<'_>, ino: u32, name: &[u8]) -> Result<()> {
    let name = check_name(c, name)?;
    check_target(c, ino, name)?;
    let path = c.names.path_of(c, ino, "removing an xattr")?;
    match c.fs.apply_removexattr(&path, name) {
        Err(fs_ext4::Error::NotFound) => Err(Error::Os(Errno::NoData)),
        r => c.ok(r),
    }
}

/// `POSIX_ACL_XATTR_VERSION` of the VFS form.
const XATTR_ACL_VERSION: u32 = 2;
/// `EXT4_ACL_VERSION` of the on-disk form.
const EXT4_ACL_VERSION: u32 = 1;
/// Tags whose entries carry an id (`ACL_USER`, `ACL_GROUP`).
const ACL_USER: u16 = 0x02;
const ACL_GROUP: u16 = 0x08;
/// Valid tags: USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER.
const ACL_TAGS: &[u16] = &[0x01, 0x02, 0x04, 0x08, 0x10, 0x20];

/// The VFS form (header + 8-byte entries) as ext4's on-disk form (`ext4_acl_to_disk`):
/// 8-byte entries for named users and groups, 4-byte ones for the rest. `None` when the
/// value is malformed (the kernel answers EINVAL).
fn acl_to_disk(vfs: &[u8]) -> Option<Vec<u8>> {
    let le16 = |o: usize| vfs.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let le32 = |o: usize| vfs.get(o..o + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
    if le32(0)? != XATTR_ACL_VERSION || (vfs.len() - 4) % 8 != 0 {
        return None;
    }
    let mut out = EXT4_ACL_VERSION.to_le_bytes().to_vec();
    for off in (4..vfs.len()).step_by(8) {
        let (tag, perm, id) = (le16(off)?, le16(off + 2)?, le32(off + 4)?);
        if !ACL_TAGS.contains(&tag) || perm > 7 {
            return None;
        }
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&perm.to_le_bytes());
        if tag == ACL_USER || tag == ACL_GROUP {
            out.extend_from_slice(&id.to_le_bytes());
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_round_trips_through_the_read_side() {
        let mut vfs = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in [(1u16, 6u16, u32::MAX), (2, 4, 1000), (4, 4, u32::MAX), (0x10, 4, u32::MAX), (0x20, 0, u32::MAX)] {
            vfs.extend_from_slice(&tag.to_le_bytes());
            vfs.extend_from_slice(&perm.to_le_bytes());
            vfs.extend_from_slice(&id.to_le_bytes());
        }
        let disk = acl_to_disk(&vfs).expect("valid");
        assert_eq!(disk.len(), 4 + 4 + 8 + 4 + 4 + 4);
        let entry = fs_ext4::xattr::XattrEntry::new("system.posix_acl_access", disk);
        let back = super::super::xattr::visible(vec![entry]).expect("readable");
        assert_eq!(back[0].1, vfs);
    }

    #[test]
    fn acl_malformed() {
        assert_eq!(acl_to_disk(&[1, 0, 0, 0]), None);
        assert_eq!(acl_to_disk(&[2, 0, 0, 0, 1, 0]), None);
        assert_eq!(acl_to_disk(&[2, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0]), None);
    }
}
