//! Extended attributes: shortform inside the inode's attribute fork
//! (`xfs_attr_shortform`), or leaf blocks (`xfs_attr_leafblock`/`xfs_attr3_leafblock`) in
//! the attribute fork, reached through node blocks ([`super::da`]) when there are several;
//! large values live in remote blocks (v5: `xfs_attr3_rmt_hdr`, magic XARM, per block).
//! Namespaces map to Linux names: `user.`, `trusted.` (XFS_ATTR_ROOT), `security.`
//! (XFS_ATTR_SECURE). Parent pointers and incomplete entries are skipped.

use crate::bytes::{be16, be32, be64, bytes};
use crate::fs::xfs::crc;
use crate::fs::xfs::da::{self, Owner};

/// Entry flags.
const LOCAL: u8 = 1;
const ROOT: u8 = 2;
const SECURE: u8 = 4;
const PARENT: u8 = 8;
const INCOMPLETE: u8 = 0x80;
/// Leaf and node magic numbers (in `xfs_da_blkinfo`).
pub const LEAF_V4: u16 = 0xfbee;
/// v5 leaf.
pub const LEAF_V5: u16 = 0x3bee;
/// v5 remote value block header length.
pub const RMT_HDR: usize = 56;
const XARM: u32 = 0x5841_524d;
/// Largest value Linux accepts (`XATTR_SIZE_MAX`).
pub const MAX_VALUE: u32 = 65536;

/// POSIX ACLs as XFS stores them: trusted-namespace attributes with these names, in XFS's own
/// big-endian format (`xfs_acl`). Linux lists each twice: under its raw `trusted.` name and as
/// the `system.` name with the value converted to the generic xattr format.
const ACL_NAMES: [(&[u8], &[u8]); 2] = [(b"SGI_ACL_FILE", b"system.posix_acl_access"), (b"SGI_ACL_DEFAULT", b"system.posix_acl_default")];
/// `XFS_ACL_MAX_ENTRIES` on v5 is bounded by the value size; this bounds it for both.
const ACL_MAX_ENTRIES: usize = (MAX_VALUE as usize - 4) / 12;

/// The `system.posix_acl_*` twin of a raw ACL attribute (`name` with its Linux prefix), with
/// the value converted from `xfs_acl` (be32 count; be32 tag, be32 id, be16 perm, pad) to
/// `posix_acl_xattr` (le32 version 2; le16 tag, le16 perm, le32 id — undefined id for the
/// owner, group, mask and other entries); `None` for other attributes and malformed values.
pub fn acl_twin(name: &[u8], value: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let raw = name.strip_prefix(b"trusted.")?;
    let (_, sys) = ACL_NAMES.iter().find(|(n, _)| *n == raw)?;
    let count = be32(value, 0) as usize;
    if count > ACL_MAX_ENTRIES || value.len() != 4 + count * 12 {
        return None;
    }
    let mut out = Vec::with_capacity(4 + count * 8);
    out.extend_from_slice(&2u32.to_le_bytes());
    for i in 0..count {
        let e = 4 + i * 12;
        let tag = be32(value, e);
        let id = match tag {
            2 | 8 => be32(value, e + 4),
            _ => u32::MAX,
        };
        out.extend_from_slice(&(tag as u16).to_le_bytes());
        out.extend_from_slice(&be16(value, e + 8).to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
    }
    Some((sys.to_vec(), out))
}

/// The raw attribute (`trusted.SGI_ACL_*`) that stores POSIX ACL `name`
/// (`system.posix_acl_access` or `_default`), if it is one.
pub fn acl_raw_name(name: &[u8]) -> Option<Vec<u8>> {
    ACL_NAMES.iter().find(|(_, sys)| *sys == name).map(|(raw, _)| [&b"trusted."[..], raw].concat())
}

/// An ACL in the generic xattr format (`posix_acl_xattr`, see [`acl_twin`]) in XFS's own
/// format, as `xfs_acl_to_disk` stores it; `None` when it is malformed.
pub fn acl_to_xfs(value: &[u8]) -> Option<Vec<u8>> {
    let (head, entries) = value.split_at_checked(4)?;
    if head != [2, 0, 0, 0] || entries.len() % 8 != 0 || entries.len() / 8 > ACL_MAX_ENTRIES {
        return None;
    }
    let mut out = Vec::with_capacity(4 + entries.len() / 8 * 12);
    out.extend_from_slice(&((entries.len() / 8) as u32).to_be_bytes());
    for e in entries.chunks_exact(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        // Owner, group, mask and other carry ACL_UNDEFINED_ID, as the kernel writes them.
        let id = match tag {
            2 | 8 => u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            _ => u32::MAX,
        };
        out.extend_from_slice(&u32::from(tag).to_be_bytes());
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&u16::from_le_bytes([e[2], e[3]]).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
    }
    Some(out)
}

/// The Linux name of an attribute: namespace prefix + name; `None` for entries Linux does
/// not list (parent pointers, incomplete).
pub fn linux_name(flags: u8, name: &[u8]) -> Option<Vec<u8>> {
    if flags & (PARENT | INCOMPLETE) != 0 {
        return None;
    }
    let prefix: &[u8] = if flags & ROOT != 0 {
        b"trusted."
    } else if flags & SECURE != 0 {
        b"security."
    } else {
        b"user."
    };
    Some([prefix, name].concat())
}

/// An attribute: Linux name and value.
pub type Attr = (Vec<u8>, Vec<u8>);

/// A leaf block's forward sibling (0: last) and its entries.
pub type Leaf = (u32, Vec<(Vec<u8>, Value)>);

/// A value: here, or in remote blocks of the attribute fork.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// The bytes.
    Local(Vec<u8>),
    /// `len` bytes from attribute-fork block `block`.
    Remote {
        /// First attribute-fork block.
        block: u32,
        /// Value length.
        len: u32,
    },
}

/// Parses a shortform attribute fork ([`super::attr_sf`]) into Linux names and values.
pub fn shortform(fork: &[u8]) -> Result<Vec<Attr>, String> {
    Ok(super::attr_sf::decode(fork)?.into_iter().filter_map(|e| Some((linux_name(e.flags, &e.name)?, e.value))).collect())
}

/// Parses a leaf block: the forward sibling (0: last) and the entries (Linux name, value).
pub fn leaf(b: &[u8], owner: Option<&Owner>) -> Result<Leaf, String> {
    let (hdr, count) = match (da::magic(b), owner) {
        (LEAF_V4, None) => (32, be16(b, 12)),
        (LEAF_V5, Some(o)) => {
            da::check_v5(b, o, "attribute leaf")?;
            (80, be16(b, 56))
        }
        (m, _) => return Err(format!("attribute leaf block: bad magic {m:#x}")),
    };
    let count = usize::from(count);
    if hdr + count * 8 > b.len() {
        return Err(format!("attribute leaf block: {count} entries do not fit"));
    }
    let mut out = Vec::new();
    for i in 0..count {
        let e = hdr + i * 8;
        let idx = usize::from(be16(b, e + 4));
        let flags = b[e + 6];
        let bad = || format!("attribute leaf block: entry {i} points outside the block");
        if idx < hdr || idx >= b.len() {
            return Err(bad());
        }
        let (name, value) = if flags & LOCAL != 0 {
            let vl = usize::from(be16(b, idx));
            let nl = usize::from(*b.get(idx + 2).ok_or_else(bad)?);
            if idx + 3 + nl + vl > b.len() {
                return Err(bad());
            }
            (&b[idx + 3..idx + 3 + nl], Value::Local(b[idx + 3 + nl..idx + 3 + nl + vl].to_vec()))
        } else {
            let nl = usize::from(*b.get(idx + 8).ok_or_else(bad)?);
            if idx + 9 + nl > b.len() {
                return Err(bad());
            }
            (bytes(b, idx + 9, nl), Value::Remote { block: be32(b, idx), len: be32(b, idx + 4) })
        };
        if let Some(n) = linux_name(flags, name) {
            out.push((n, value));
        }
    }
    Ok((be32(b, 0), out))
}

/// The payload of a v5 remote value block: checks its header and returns its bytes.
pub fn remote_block<'a>(b: &'a [u8], o: &Owner, offset: u32) -> Result<&'a [u8], String> {
    if be32(b, 0) != XARM {
        return Err("remote attribute value block: bad magic".into());
    }
    if !crc::verify(b, 12) {
        return Err("remote attribute value block: bad CRC".into());
    }
    if b.get(16..32) != Some(&o.uuid[..]) || be64(b, 32) != o.ino || be64(b, 40) != o.daddr || be32(b, 4) != offset {
        return Err("remote attribute value block: belongs to another value or place".into());
    }
    let n = be32(b, 8) as usize;
    b.get(RMT_HDR..RMT_HDR + n).ok_or_else(|| format!("remote attribute value block claims {n} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortform_parses_and_bounds() {
        let mut f = vec![0u8, 0, 2, 0];
        f.extend([1, 2, 0, b'a', b'x', b'y']);
        f.extend([1, 0, ROOT, b't']);
        let n = f.len() as u16;
        f[0..2].copy_from_slice(&n.to_be_bytes());
        let a = shortform(&f).unwrap();
        assert_eq!(a, vec![(b"user.a".to_vec(), b"xy".to_vec()), (b"trusted.t".to_vec(), vec![])]);
        f[2] = 3;
        assert!(shortform(&f).unwrap_err().contains("attribute 2"));
        f[0..2].copy_from_slice(&1000u16.to_be_bytes());
        assert!(shortform(&f).is_err());
    }

    #[test]
    fn acl_converts() {
        let mut v = 1u32.to_be_bytes().to_vec();
        v.extend(2u32.to_be_bytes());
        v.extend(1234u32.to_be_bytes());
        v.extend([0, 7, 0, 0]);
        let (n, x) = acl_twin(b"trusted.SGI_ACL_FILE", &v).unwrap();
        assert_eq!(n, b"system.posix_acl_access");
        assert_eq!(x, [2, 0, 0, 0, 2, 0, 7, 0, 0xd2, 4, 0, 0]);
        assert!(acl_twin(b"trusted.SGI_ACL_FILE", &v[..10]).is_none());
        // Back to the stored format.
        let (_, x2) = acl_twin(b"trusted.SGI_ACL_FILE", &acl_to_xfs(&x).unwrap()).unwrap();
        assert_eq!(x2, x);
        assert_eq!(acl_raw_name(b"system.posix_acl_default").unwrap(), b"trusted.SGI_ACL_DEFAULT");
        assert!(acl_to_xfs(&x[..7]).is_none() && acl_raw_name(b"user.x").is_none());
        assert!(acl_twin(b"user.SGI_ACL_FILE", &v).is_none());
    }

    #[test]
    fn leaf_rejects_bad_index() {
        let mut b = vec![0u8; 512];
        b[8..10].copy_from_slice(&LEAF_V4.to_be_bytes());
        b[12..14].copy_from_slice(&1u16.to_be_bytes());
        b[36..38].copy_from_slice(&600u16.to_be_bytes());
        b[38] = LOCAL;
        assert!(leaf(&b, None).unwrap_err().contains("outside"));
        b[36..38].copy_from_slice(&510u16.to_be_bytes());
        b[510] = 0xff;
        assert!(leaf(&b, None).is_err());
        b[8..10].copy_from_slice(&da::NODE_V4.to_be_bytes());
        assert!(leaf(&b, None).unwrap_err().contains("magic"));
    }
}
