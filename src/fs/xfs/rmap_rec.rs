//! The reverse-mapping record (`xfs_rmap_rec`, 24 bytes: start block, length, owner, offset
//! with flags) and who an owner is: an inode's fork at a file offset, its bmap btree, or one of
//! the special owners. Below both the rmapbt's btree part and the reverse-mapping updates
//! ([`super::rmap`]), which use it.

use crate::bytes::{be32, be64};

/// `XFS_RMAP_OWN_FS`: the AG headers.
pub const OWN_FS: u64 = -3i64 as u64;
/// `XFS_RMAP_OWN_LOG`: the internal log.
pub const OWN_LOG: u64 = -4i64 as u64;
/// `XFS_RMAP_OWN_AG`: the free-space btrees, the rmapbt and the AGFL.
pub const OWN_AG: u64 = -5i64 as u64;
/// `XFS_RMAP_OWN_INOBT`: the inode and free inode btrees.
pub const OWN_INOBT: u64 = -6i64 as u64;
/// `XFS_RMAP_OWN_INODES`: inode chunks.
pub const OWN_INODES: u64 = -7i64 as u64;
/// `XFS_RMAP_OWN_REFC`: the refcount btree.
pub const OWN_REFC: u64 = -8i64 as u64;
/// `XFS_RMAP_OWN_COW`: copy-on-write staging extents.
pub const OWN_COW: u64 = -9i64 as u64;

/// Offset flag: the attribute fork.
pub(crate) const F_ATTR: u64 = 1 << 63;
/// Offset flag: a bmap btree block.
pub(crate) const F_BMBT: u64 = 1 << 62;
/// Offset flag: unwritten.
pub(crate) const F_UNWRITTEN: u64 = 1 << 61;
/// The file offset bits.
pub(crate) const OFF_MASK: u64 = (1 << 54) - 1;

/// Who owns an extent, and where it sits in the owner (a file offset with flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// Inode number or a special owner (`OWN_*`).
    pub owner: u64,
    /// File offset of the extent's first block (0 for special owners and bmbt blocks).
    pub off: u64,
    /// `XFS_RMAP_OFF_*` flags (attribute fork, bmbt block, unwritten).
    pub flags: u64,
}

impl Owner {
    /// A special owner (`OWN_*`).
    pub fn special(owner: u64) -> Owner {
        Owner { owner, off: 0, flags: 0 }
    }

    /// File blocks of inode `ino` from file offset `off`.
    pub fn file(ino: u64, off: u64, attr: bool, unwritten: bool) -> Owner {
        Owner { owner: ino, off, flags: if attr { F_ATTR } else { 0 } | if unwritten { F_UNWRITTEN } else { 0 } }
    }

    /// A bmap btree block of inode `ino`.
    pub fn bmbt(ino: u64, attr: bool) -> Owner {
        Owner { owner: ino, off: 0, flags: F_BMBT | if attr { F_ATTR } else { 0 } }
    }

    /// Whether file offsets do not matter (`XFS_RMAP_NON_INODE_OWNER` or a bmbt block).
    pub(crate) fn ignore_off(&self) -> bool {
        self.owner & (1 << 63) != 0 || self.flags & F_BMBT != 0
    }
}

/// One rmapbt record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RmapRec {
    /// First AG block.
    pub start: u32,
    /// Blocks.
    pub len: u32,
    /// Owner.
    pub owner: u64,
    /// File offset (no flags).
    pub off: u64,
    /// Flags (`XFS_RMAP_OFF_*` bits).
    pub flags: u64,
}

impl RmapRec {
    /// Decodes a 24-byte record.
    pub fn decode(r: &[u8]) -> RmapRec {
        let off = be64(r, 16);
        RmapRec { start: be32(r, 0), len: be32(r, 4), owner: be64(r, 8), off: off & OFF_MASK, flags: off & !OFF_MASK }
    }

    /// The 24-byte record.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(24);
        v.extend(self.start.to_be_bytes());
        v.extend(self.len.to_be_bytes());
        v.extend(self.owner.to_be_bytes());
        v.extend((self.off | self.flags).to_be_bytes());
        v
    }

    pub(crate) fn end(&self) -> u64 {
        u64::from(self.start) + u64::from(self.len)
    }

    /// Same owner and flags as `o` (`xfs_rmap_is_mergeable`).
    pub(crate) fn same(&self, o: &Owner) -> bool {
        self.owner == o.owner && self.flags == o.flags
    }
}
