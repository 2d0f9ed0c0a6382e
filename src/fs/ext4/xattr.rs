//! Extended attributes as `listxattr`/`getxattr` show them: the crate reads the in-inode area
//! and the xattr block; here a value kept in an EA inode is bounded before it is read, the
//! inline-data body (`system.data`, never listed by the kernel)
//! is dropped and POSIX ACLs are converted from ext4's compact on-disk form to the VFS form
//! (`posix_acl_xattr`, version 2) that `getfattr` prints.

/// Name of the attribute holding the tail of an inline-data inode's body.
const INLINE_DATA: &str = "system.data";
/// `EXT4_ACL_VERSION` of the on-disk form.
const EXT4_ACL_VERSION: u32 = 1;
/// `POSIX_ACL_XATTR_VERSION` of the VFS form.
const XATTR_ACL_VERSION: u32 = 2;
/// `ACL_UNDEFINED_ID`, the id of entries that carry none.
const UNDEFINED_ID: u32 = u32::MAX;
/// Tags whose on-disk entries carry an id (`ACL_USER`, `ACL_GROUP`).
const ACL_USER: u16 = 0x02;
const ACL_GROUP: u16 = 0x08;
/// The most ACL entries accepted (the kernel's `EXT4_ACL_MAX_ENTRIES` for a 4 KiB block).
const MAX_ACL_ENTRIES: usize = 1024;

/// `XATTR_SIZE_MAX`: the kernel refuses longer values, so a longer EA inode is damage.
const XATTR_SIZE_MAX: u32 = 65536;

/// The attributes of `inode` (raw bytes `raw`), values kept in EA inodes read in.
pub(super) fn read(
    fs: &fs_ext4::Filesystem,
    inode: &fs_ext4::inode::Inode,
    raw: &[u8],
) -> fs_ext4::Result<Vec<fs_ext4::xattr::XattrEntry>> {
    let (inode_size, block_size) = (fs.sb.inode_size, fs.sb.block_size());
    let mut entries =
        fs_ext4::xattr::read_all(fs.dev.as_ref(), inode, raw, inode_size, block_size)?;
    for e in entries.iter_mut().filter(|e| e.value_inum != 0) {
        if e.value_size > XATTR_SIZE_MAX {
            return Err(fs_ext4::Error::Corrupt(
                "xattr value in an EA inode exceeds XATTR_SIZE_MAX",
            ));
        }
        e.value = fs_ext4::ea_inode::read_value_inode(fs, e.value_inum, e.value_size)?;
    }
    Ok(entries)
}

/// The attributes the kernel lists, in the crate's order, values as `getxattr` returns them.
/// `None` when an ACL value is malformed (the kernel fails `getxattr` with `EINVAL` then).
pub(super) fn visible(entries: Vec<fs_ext4::xattr::XattrEntry>) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    entries
        .into_iter()
        .filter(|e| e.name != INLINE_DATA)
        .map(|e| {
            let value = if e.name.starts_with("system.posix_acl_") {
                acl_to_vfs(&e.value)?
            } else {
                e.value
            };
            Some((e.name.into_bytes(), value))
        })
        .collect()
}

/// ext4's on-disk ACL (`ext4_acl_header` + 4- or 8-byte entries) to the VFS form (header +
/// 8-byte entries), as the kernel's `ext4_acl_from_disk` + `posix_acl_to_xattr` do.
fn acl_to_vfs(disk: &[u8]) -> Option<Vec<u8>> {
    let le16 = |b: &[u8], o: usize| b.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let le32 = |b: &[u8], o: usize| {
        b.get(o..o + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    };
    if le32(disk, 0)? != EXT4_ACL_VERSION {
        return None;
    }
    let mut out = XATTR_ACL_VERSION.to_le_bytes().to_vec();
    let mut off = 4;
    let mut count = 0;
    while off < disk.len() {
        count += 1;
        if count > MAX_ACL_ENTRIES {
            return None;
        }
        let tag = le16(disk, off)?;
        let perm = le16(disk, off + 2)?;
        let id = if tag == ACL_USER || tag == ACL_GROUP {
            let id = le32(disk, off + 4)?;
            off += 8;
            id
        } else {
            off += 4;
            UNDEFINED_ID
        };
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&perm.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_short_and_long_entries() {
        // USER_OBJ rw-, USER 1000 r--, GROUP_OBJ r--, MASK r--, OTHER ---
        let mut disk = 1u32.to_le_bytes().to_vec();
        for (tag, perm, id) in [
            (1u16, 6u16, None),
            (2, 4, Some(1000u32)),
            (4, 4, None),
            (0x10, 4, None),
            (0x20, 0, None),
        ] {
            disk.extend_from_slice(&tag.to_le_bytes());
            disk.extend_from_slice(&perm.to_le_bytes());
            if let Some(id) = id {
                disk.extend_from_slice(&id.to_le_bytes());
            }
        }
        let vfs = acl_to_vfs(&disk).expect("valid ACL");
        assert_eq!(vfs.len(), 4 + 5 * 8);
        assert_eq!(&vfs[..4], &2u32.to_le_bytes());
        assert_eq!(&vfs[4..12], &[1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(&vfs[12..20], &[2, 0, 4, 0, 0xe8, 0x03, 0, 0]);
    }

    #[test]
    fn acl_malformed() {
        assert_eq!(acl_to_vfs(&[2, 0, 0, 0]), None);
        assert_eq!(acl_to_vfs(&[1, 0, 0, 0, 2, 0, 4, 0]), None);
    }
}
