//! The dir/attr btree ("da btree") shared by directories and attribute forks: the block
//! info header every such block starts with (`xfs_da_blkinfo`, v5 `xfs_da3_blkinfo` with CRC,
//! address, UUID and owner) and the interior node blocks (`xfs_da_intnode`: hash/before
//! pairs, in hash order). Block numbers are file blocks of the fork (`xfs_dablk_t`).

use super::crc;
use crate::bytes::{be16, be32, be64};

/// v4 node magic.
pub const NODE_V4: u16 = 0xfebe;
/// v5 node magic.
pub const NODE_V5: u16 = 0x3ebe;
/// Deepest da btree descended (the kernel's `XFS_DA_NODE_MAXDEPTH` is 5).
pub const MAX_DEPTH: u16 = 5;

/// What a v5 block must say about itself.
pub struct Owner<'a> {
    /// The inode.
    pub ino: u64,
    /// Filesystem UUID.
    pub uuid: &'a [u8; 16],
    /// The block's address in 512-byte sectors.
    pub daddr: u64,
}

/// The magic number (`xfs_da_blkinfo.magic`).
pub fn magic(b: &[u8]) -> u16 {
    be16(b, 8)
}

/// The forward sibling (`xfs_da_blkinfo.forw`), 0 for none.
pub fn forw(b: &[u8]) -> u32 {
    be32(b, 0)
}

/// Checks a v5 `xfs_da3_blkinfo`: CRC at 12, address at 16, UUID at 32, owner at 48.
pub fn check_v5(b: &[u8], o: &Owner, what: &str) -> Result<(), String> {
    if !crc::verify(b, 12) {
        return Err(format!("{what} block: bad CRC"));
    }
    if be64(b, 16) != o.daddr || b.get(32..48) != Some(&o.uuid[..]) || be64(b, 48) != o.ino {
        return Err(format!("{what} block: belongs to another inode or place"));
    }
    Ok(())
}

/// Parses a node block (`owner` is `Some` on v5): (level, (hash, child block) pairs).
pub fn node(b: &[u8], owner: Option<&Owner>, what: &str) -> Result<(u16, Vec<(u32, u32)>), String> {
    let hdr = match (magic(b), owner) {
        (NODE_V4, None) => 16,
        (NODE_V5, Some(o)) => {
            check_v5(b, o, what)?;
            64
        }
        (m, _) => return Err(format!("{what} node block: bad magic {m:#x}")),
    };
    let (count, level) = if owner.is_some() { (be16(b, 56), be16(b, 58)) } else { (be16(b, 12), be16(b, 14)) };
    let count = usize::from(count);
    if count == 0 || hdr + count * 8 > b.len() || level == 0 || level > MAX_DEPTH {
        return Err(format!("{what} node block: {count} entries at level {level}"));
    }
    Ok((level, (0..count).map(|i| (be32(b, hdr + i * 8), be32(b, hdr + i * 8 + 4))).collect()))
}

/// Sets the forward sibling (`xfs_da_blkinfo.forw`).
pub fn set_forw(b: &mut [u8], v: u32) {
    b[0..4].copy_from_slice(&v.to_be_bytes());
}

/// The backward sibling (`xfs_da_blkinfo.back`), 0 for none.
pub fn back(b: &[u8]) -> u32 {
    be32(b, 4)
}

/// Sets the backward sibling (`xfs_da_blkinfo.back`).
pub fn set_back(b: &mut [u8], v: u32) {
    b[4..8].copy_from_slice(&v.to_be_bytes());
}

/// Writes a da block header into `b` (zeroed first): `magic`, no siblings, and on v5 the
/// address, UUID and owner `owner` names.
pub fn init_blkinfo(b: &mut [u8], magic: u16, owner: Option<&Owner>) {
    b.fill(0);
    b[8..10].copy_from_slice(&magic.to_be_bytes());
    if let Some(o) = owner {
        b[16..24].copy_from_slice(&o.daddr.to_be_bytes());
        b[32..48].copy_from_slice(o.uuid);
        b[48..56].copy_from_slice(&o.ino.to_be_bytes());
    }
}

/// Entries a node block of `len` bytes holds.
pub fn node_max(len: usize, crc: bool) -> usize {
    (len - if crc { 64 } else { 16 }) / 8
}

/// Writes node block `b`'s level and (hash, child) entries (the caller checked they fit
/// [`node_max`]), the rest of the header kept.
pub fn write_node(b: &mut [u8], crc: bool, level: u16, ents: &[(u32, u32)]) {
    let (hdr, at) = if crc { (64, 56) } else { (16, 12) };
    b[at..at + 2].copy_from_slice(&(ents.len() as u16).to_be_bytes());
    b[at + 2..at + 4].copy_from_slice(&level.to_be_bytes());
    b[hdr..].fill(0);
    for (i, &(h, c)) in ents.iter().enumerate() {
        b[hdr + i * 8..hdr + i * 8 + 4].copy_from_slice(&h.to_be_bytes());
        b[hdr + i * 8 + 4..hdr + i * 8 + 8].copy_from_slice(&c.to_be_bytes());
    }
}

/// Sets the hash of entry `i` of node block `b` (checked by [`node`] to have it): the key a
/// child's highest hash is kept under.
pub fn set_node_hash(b: &mut [u8], crc: bool, i: usize, hash: u32) {
    let at = if crc { 64 } else { 16 } + i * 8;
    b[at..at + 4].copy_from_slice(&hash.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_bounds() {
        let mut b = vec![0u8; 512];
        b[8..10].copy_from_slice(&NODE_V4.to_be_bytes());
        b[12..14].copy_from_slice(&1u16.to_be_bytes());
        b[14..16].copy_from_slice(&1u16.to_be_bytes());
        b[16..24].copy_from_slice(&[0, 0, 0, 5, 0, 0, 0, 9]);
        assert_eq!(node(&b, None, "x").unwrap(), (1, vec![(5, 9)]));
        set_node_hash(&mut b, false, 0, 6);
        assert_eq!(node(&b, None, "x").unwrap(), (1, vec![(6, 9)]));
        init_blkinfo(&mut b, NODE_V4, None);
        write_node(&mut b, false, 2, &[(1, 2), (3, 4)]);
        set_forw(&mut b, 7);
        set_back(&mut b, 8);
        assert_eq!(node(&b, None, "x").unwrap(), (2, vec![(1, 2), (3, 4)]));
        assert_eq!((forw(&b), back(&b)), (7, 8));
        assert_eq!(node_max(512, false), 62);
        b[12..14].copy_from_slice(&100u16.to_be_bytes());
        assert!(node(&b, None, "x").is_err());
        b[12..14].copy_from_slice(&1u16.to_be_bytes());
        b[14..16].copy_from_slice(&0u16.to_be_bytes());
        assert!(node(&b, None, "x").is_err());
        let o = Owner { ino: 1, uuid: &[0; 16], daddr: 0 };
        assert!(node(&b, Some(&o), "x").unwrap_err().contains("magic"));
    }
}
