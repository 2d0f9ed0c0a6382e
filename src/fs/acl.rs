//! POSIX access ACLs set as the `system.posix_acl_access` attribute, with the kernel's
//! semantics (`posix_acl_update_mode`): the permission bits follow the ACL (owner, group —
//! the mask when there is one — and other), and an ACL that says no more than those bits is
//! not stored at all. `cp -a`, `rsync -A` and `setfacl` set ACLs this way.

use super::{Errno, Error, Filesystem, Ino, Result};

/// The attribute holding a file's access ACL.
pub const ACCESS: &[u8] = b"system.posix_acl_access";

/// `ACL_USER_OBJ`, `ACL_USER`, `ACL_GROUP_OBJ`, `ACL_GROUP`, `ACL_MASK`, `ACL_OTHER`.
const USER_OBJ: u16 = 0x01;
const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const GROUP: u16 = 0x08;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;

/// The permission bits an ACL in the attribute format (version 2, then 8-byte entries of tag,
/// permissions and id, little-endian) gives, and whether it says only that. EINVAL for a
/// malformed one, as `setxattr(2)` answers.
pub fn mode_of(value: &[u8]) -> Result<(u32, bool)> {
    let (head, entries) = value.split_at_checked(4).ok_or(Error::Os(Errno::Invalid))?;
    if head != [2, 0, 0, 0] || entries.len() % 8 != 0 {
        return Err(Error::Os(Errno::Invalid));
    }
    let (mut mode, mut equiv, mut seen) = (0u32, true, 0u16);
    for e in entries.chunks_exact(8) {
        let (tag, perm) = (u16::from_le_bytes([e[0], e[1]]), u32::from(u16::from_le_bytes([e[2], e[3]])) & 0o7);
        match tag {
            USER_OBJ => mode |= perm << 6,
            GROUP_OBJ => mode |= perm << 3,
            OTHER => mode |= perm,
            MASK | USER | GROUP => equiv = false,
            _ => return Err(Error::Os(Errno::Invalid)),
        }
        seen |= tag;
    }
    // The three base entries must be there; named ones need a mask.
    if seen & (USER_OBJ | GROUP_OBJ | OTHER) != USER_OBJ | GROUP_OBJ | OTHER || (seen & (USER | GROUP) != 0 && seen & MASK == 0) {
        return Err(Error::Os(Errno::Invalid));
    }
    // With a mask, the group bits are the mask's.
    if let Some(m) = entries.chunks_exact(8).find(|e| u16::from_le_bytes([e[0], e[1]]) == MASK) {
        mode = (mode & !0o070) | ((u32::from(u16::from_le_bytes([m[2], m[3]])) & 0o7) << 3);
    }
    Ok((mode, equiv))
}

/// Sets attribute `name` of `ino` to `value`; the access ACL as the kernel does (see the module
/// documentation): the permission bits are changed, and an ACL equivalent to them is dropped.
pub fn setxattr(fs: &dyn Filesystem, ino: Ino, name: &[u8], value: &[u8]) -> Result<()> {
    if name != ACCESS {
        return fs.setxattr(ino, name, value);
    }
    let (bits, equiv) = mode_of(value)?;
    let st = fs.stat(ino)?;
    if st.mode & 0o777 != bits {
        fs.chmod(ino, (st.mode & 0o7000) | bits)?;
    }
    if !equiv {
        return fs.setxattr(ino, name, value);
    }
    match fs.removexattr(ino, name) {
        Ok(()) | Err(Error::Os(Errno::NoData)) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut v = vec![2, 0, 0, 0];
        for &(t, p, id) in entries {
            v.extend(t.to_le_bytes());
            v.extend(p.to_le_bytes());
            v.extend(id.to_le_bytes());
        }
        v
    }

    #[test]
    fn base_acls_are_modes_and_named_entries_need_the_mask() {
        let none = u32::MAX;
        assert_eq!(mode_of(&acl(&[(USER_OBJ, 7, none), (GROUP_OBJ, 5, none), (OTHER, 5, none)])).unwrap(), (0o755, true));
        // A named user: not equivalent, the group bits are the mask's.
        let named = acl(&[(USER_OBJ, 6, none), (USER, 6, 1000), (GROUP_OBJ, 4, none), (MASK, 6, none), (OTHER, 0, none)]);
        assert_eq!(mode_of(&named).unwrap(), (0o660, false));
        assert!(mode_of(&acl(&[(USER_OBJ, 6, none), (USER, 6, 1000), (GROUP_OBJ, 4, none), (OTHER, 0, none)])).is_err());
        assert!(mode_of(&acl(&[(USER_OBJ, 6, none), (OTHER, 0, none)])).is_err());
        assert!(mode_of(&[2, 0, 0, 0, 1]).is_err() && mode_of(&[1, 0, 0, 0]).is_err() && mode_of(&[]).is_err());
    }
}
