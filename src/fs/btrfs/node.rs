//! Tree blocks: a 101-byte header (checksum, fsid, own logical address, owner tree, item count,
//! level), then for a leaf (level 0) 25-byte item headers (key, data offset, data size) whose
//! data grows from the end of the block, and for an internal node 33-byte key pointers (key,
//! child address, generation).

use super::csum;
use crate::bytes::{array, le32, le64};

/// Header size.
pub const HEADER: usize = 101;
/// Leaf item header size.
const ITEM: usize = 25;
/// Internal node key pointer size.
const PTR: usize = 33;
/// Levels are 0..MAX_LEVEL (BTRFS_MAX_LEVEL).
pub const MAX_LEVEL: u8 = 8;

/// Item types used by the reader.
pub const INODE_ITEM: u8 = 1;
/// `INODE_REF`: (inode, parent dir) → index, name.
pub const INODE_REF: u8 = 12;
/// `XATTR_ITEM`: (inode, name hash) → dir items whose data is the value.
pub const XATTR_ITEM: u8 = 24;
/// `DIR_ITEM`: (dir, name hash) → dir items.
pub const DIR_ITEM: u8 = 84;
/// `DIR_INDEX`: (dir, index) → one dir item, in creation order.
pub const DIR_INDEX: u8 = 96;
/// `EXTENT_DATA`: (inode, file offset) → file extent item.
pub const EXTENT_DATA: u8 = 108;
/// `ROOT_ITEM`: (tree id, 0 or snapshot transid) → root item.
pub const ROOT_ITEM: u8 = 132;
/// `ROOT_BACKREF`: (child tree, parent tree) → dirid, sequence, name.
pub const ROOT_BACKREF: u8 = 144;
/// `ROOT_REF`: (parent tree, child tree) → dirid, sequence, name.
pub const ROOT_REF: u8 = 156;
/// `CHUNK_ITEM`: (FIRST_CHUNK_TREE, logical) → chunk item.
pub const CHUNK_ITEM: u8 = 228;

/// A btree key, ordered by (objectid, type, offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Object id (inode number, tree id…).
    pub objectid: u64,
    /// Item type.
    pub ty: u8,
    /// Type-specific offset.
    pub offset: u64,
}

impl Key {
    /// A key.
    pub const fn new(objectid: u64, ty: u8, offset: u64) -> Key {
        Key { objectid, ty, offset }
    }

    /// The 17-byte on-disk key at the start of `b` (at least 17 bytes).
    pub fn parse(b: &[u8]) -> Key {
        Key { objectid: le64(b, 0), ty: b.get(8).copied().unwrap_or(0), offset: le64(b, 9) }
    }
}

/// A checked tree block.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its logical address.
    pub bytenr: u64,
    /// Owner tree id.
    pub owner: u64,
    /// Transaction generation.
    pub generation: u64,
    /// Level (0 = leaf).
    pub level: u8,
    /// Number of items or key pointers.
    pub nritems: u32,
    data: Vec<u8>,
}

/// Why a block was refused: the message names the block and what is wrong; `csum` tells a
/// checksum mismatch (another copy may be good).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeError {
    /// What is wrong.
    pub msg: String,
    /// Whether it was the checksum.
    pub csum: bool,
}

impl Node {
    /// Checks a tree block read from logical address `bytenr`, expected at `level` (`None`:
    /// any): checksum (crc32c), address, fsid, level and item count against the block size.
    pub fn parse(data: Vec<u8>, bytenr: u64, level: Option<u8>, meta_uuid: &[u8; 16]) -> Result<Node, NodeError> {
        let err = |msg: String| NodeError { msg: format!("tree block {bytenr:#x}: {msg}"), csum: false };
        if data.len() < HEADER {
            return Err(err(format!("{} bytes", data.len())));
        }
        let want = le32(&data, 0);
        let got = csum::crc32c(&data);
        if want != got {
            return Err(NodeError { msg: format!("tree block {bytenr:#x}: checksum {want:#010x}, computed {got:#010x}"), csum: true });
        }
        let fsid: [u8; 16] = array(&data, 0x20);
        if &fsid != meta_uuid {
            return Err(err("fsid is not this filesystem's".into()));
        }
        let at = le64(&data, 0x30);
        if at != bytenr {
            return Err(err(format!("claims to be at {at:#x}")));
        }
        let lvl = data[0x64];
        if lvl >= MAX_LEVEL || level.is_some_and(|l| l != lvl) {
            return Err(err(format!("level {lvl}, expected {}", level.map(|l| l.to_string()).unwrap_or_else(|| "<8".into()))));
        }
        let nritems = le32(&data, 0x60);
        let per = if lvl == 0 { ITEM } else { PTR };
        if (nritems as usize).saturating_mul(per) > data.len() - HEADER {
            return Err(err(format!("{nritems} items do not fit")));
        }
        Ok(Node { bytenr, owner: le64(&data, 0x58), generation: le64(&data, 0x50), level: lvl, nritems, data })
    }

    /// Key of item or pointer `i` (< nritems).
    pub fn key(&self, i: usize) -> Key {
        let per = if self.level == 0 { ITEM } else { PTR };
        Key::parse(self.data.get(HEADER + i * per..).unwrap_or(&[]))
    }

    /// Child address of pointer `i` of an internal node.
    pub fn child(&self, i: usize) -> u64 {
        le64(self.data.get(HEADER + i * PTR + 17..).unwrap_or(&[]), 0)
    }

    /// Data of item `i` of a leaf.
    pub fn item(&self, i: usize) -> Result<&[u8], String> {
        let h = self.data.get(HEADER + i * ITEM..HEADER + (i + 1) * ITEM).ok_or_else(|| format!("tree block {:#x}: item {i} past the block", self.bytenr))?;
        let off = le32(h, 17) as usize;
        let size = le32(h, 21) as usize;
        let start = HEADER + off;
        self.data.get(start..start.saturating_add(size)).ok_or_else(|| format!("tree block {:#x}: item {i} data ({size} bytes at {off}) past the block", self.bytenr))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A leaf of `items` (key, data) in a `size`-byte block at `bytenr`.
    pub(crate) fn leaf(bytenr: u64, size: usize, items: &[(Key, &[u8])]) -> Vec<u8> {
        let mut b = vec![0u8; size];
        b[0x30..0x38].copy_from_slice(&bytenr.to_le_bytes());
        b[0x60..0x64].copy_from_slice(&(items.len() as u32).to_le_bytes());
        let mut end = size - HEADER;
        for (i, (k, d)) in items.iter().enumerate() {
            end -= d.len();
            let h = HEADER + i * ITEM;
            b[h..h + 8].copy_from_slice(&k.objectid.to_le_bytes());
            b[h + 8] = k.ty;
            b[h + 9..h + 17].copy_from_slice(&k.offset.to_le_bytes());
            b[h + 17..h + 21].copy_from_slice(&(end as u32).to_le_bytes());
            b[h + 21..h + 25].copy_from_slice(&(d.len() as u32).to_le_bytes());
            b[HEADER + end..HEADER + end + d.len()].copy_from_slice(d);
        }
        let c = csum::crc32c(&b);
        b[0..4].copy_from_slice(&c.to_le_bytes());
        b
    }

    #[test]
    fn leaf_items_and_checks() {
        let b = leaf(0x4000, 4096, &[(Key::new(256, INODE_ITEM, 0), b"abc"), (Key::new(256, DIR_INDEX, 2), b"")]);
        let n = Node::parse(b.clone(), 0x4000, Some(0), &[0; 16]).unwrap();
        assert_eq!(n.nritems, 2);
        assert_eq!(n.key(1), Key::new(256, DIR_INDEX, 2));
        assert_eq!(n.item(0).unwrap(), b"abc");
        assert!(Node::parse(b.clone(), 0x8000, Some(0), &[0; 16]).unwrap_err().msg.contains("claims"));
        assert!(Node::parse(b.clone(), 0x4000, Some(1), &[0; 16]).is_err());
        let mut bad = b;
        bad[200] ^= 1;
        let e = Node::parse(bad, 0x4000, None, &[0; 16]).unwrap_err();
        assert!(e.csum && e.msg.contains("tree block 0x4000: checksum"), "{e:?}");
    }
}
