//! The one generic btree engine: every XFS btree (bnobt, cntbt, inobt, finobt, rmapbt,
//! refcountbt and the bmbt) has the same block layout — a header (short form with 32-bit AG
//! pointers, long form with 64-bit filesystem-block pointers; v5 adds block number, LSN, UUID,
//! owner and CRC), then either records (level 0) or keys followed by pointers. A tree is
//! described by a [`TreeKind`] (magic numbers, record, key and pointer sizes); the engine walks
//! it bounded: levels must descend by one, no block is visited twice (cycles), the height is
//! limited, `numrecs` must fit the block, and every v5 block's CRC, magic, owner and
//! self-address are checked.

use super::sb::Superblock;
use super::crc;
use crate::bytes::{be16, be32, be64};
use crate::fs::Result;
use std::collections::HashSet;

/// The highest btree the engine descends (the bmbt of a 2^64-block file needs fewer).
pub const MAX_HEIGHT: u16 = 10;

/// What distinguishes one btree from another.
#[derive(Debug, Clone, Copy)]
pub struct TreeKind {
    /// Name for messages (`bmbt`, `inobt`…).
    pub name: &'static str,
    /// Magic number of v4 blocks.
    pub magic_v4: u32,
    /// Magic number of v5 blocks.
    pub magic_v5: u32,
    /// Long-form pointers (64-bit filesystem blocks: the bmbt) or short (32-bit AG blocks).
    pub long: bool,
    /// Record size at level 0.
    pub rec_len: usize,
    /// Key size in interior blocks.
    pub key_len: usize,
}

/// The bmap btree of a data or attribute fork (records are 16-byte extents, keys 8-byte
/// file offsets).
pub const BMBT: TreeKind = TreeKind { name: "bmbt", magic_v4: 0x424d_4150, magic_v5: 0x424d_4133, long: true, rec_len: 16, key_len: 8 };

/// Where the engine reads blocks and reports damage.
pub trait Source {
    /// The superblock.
    fn sb(&self) -> &Superblock;
    /// One filesystem block: `ptr` is a filesystem block number for long-form trees, an AG
    /// block number for short-form trees (the source knows the AG).
    fn read_tree_block(&self, kind: &TreeKind, ptr: u64) -> Result<Vec<u8>>;
    /// The error for damaged metadata.
    fn corrupt(&self, msg: String) -> crate::fs::Error;
}

impl TreeKind {
    /// Header length for this filesystem version.
    pub fn header_len(&self, crc: bool) -> usize {
        match (self.long, crc) {
            (false, false) => 16,
            (false, true) => 56,
            (true, false) => 24,
            (true, true) => 72,
        }
    }

    fn ptr_len(&self) -> usize {
        if self.long { 8 } else { 4 }
    }

    fn ptr(&self, b: &[u8], at: usize) -> u64 {
        if self.long { be64(b, at) } else { u64::from(be32(b, at)) }
    }
}

/// An interior node read from an inode fork root or a block: its level and child pointers.
struct Node {
    level: u16,
    ptrs: Vec<u64>,
}

/// The root of a bmbt kept in an inode fork (`xfs_bmdr_block`): level, numrecs, then keys and
/// pointers sized by the fork. Returns (level, child pointers).
pub fn inode_root(src: &dyn Source, fork: &[u8], owner: u64) -> Result<(u16, Vec<u64>)> {
    let level = be16(fork, 0);
    let n = usize::from(be16(fork, 2));
    let maxrecs = fork.len().saturating_sub(4) / 16;
    if level == 0 || level >= MAX_HEIGHT || n == 0 || n > maxrecs {
        return Err(src.corrupt(format!("inode {owner}: bmbt root with level {level} and {n} of at most {maxrecs} records")));
    }
    let base = 4 + maxrecs * 8;
    Ok((level, (0..n).map(|i| be64(fork, base + i * 8)).collect()))
}

/// Calls `each` with every record of the tree below `ptrs` (children at `level - 1`) in key
/// order. `owner` is the inode (long form) or AG number (short form) v5 blocks must name.
/// At most `max_records` records are delivered before the walk fails.
pub fn walk(
    src: &dyn Source,
    kind: &TreeKind,
    level: u16,
    ptrs: Vec<u64>,
    owner: u64,
    max_records: u64,
    each: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    walk_blocks(src, kind, level, ptrs, owner, max_records, &mut |_| {}, each)
}

/// [`walk`], also calling `block` with the pointer of every tree block below `ptrs` once it
/// has been read and checked (interior blocks before their children).
#[allow(clippy::too_many_arguments)]
pub fn walk_blocks(
    src: &dyn Source,
    kind: &TreeKind,
    level: u16,
    ptrs: Vec<u64>,
    owner: u64,
    max_records: u64,
    block: &mut dyn FnMut(u64),
    each: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let sb = src.sb();
    let hdr = kind.header_len(sb.crc);
    let bs = sb.blocksize as usize;
    let mut seen = HashSet::new();
    let mut delivered = 0u64;
    // Depth-first, left to right: a stack of (level of the children, pointers left, reversed).
    let mut stack = vec![Node { level: level.saturating_sub(1), ptrs: ptrs.into_iter().rev().collect() }];
    if level == 0 || level > MAX_HEIGHT {
        return Err(src.corrupt(format!("{}: height {level}", kind.name)));
    }
    while let Some(top) = stack.last_mut() {
        let Some(ptr) = top.ptrs.pop() else {
            stack.pop();
            continue;
        };
        let want = top.level;
        if !seen.insert(ptr) {
            return Err(src.corrupt(format!("{} of owner {owner}: block {ptr} reached twice (cycle)", kind.name)));
        }
        let b = src.read_tree_block(kind, ptr)?;
        let bad = |m: String| src.corrupt(format!("{} block {ptr} (owner {owner}): {m}", kind.name));
        let magic = be32(&b, 0);
        if magic != if sb.crc { kind.magic_v5 } else { kind.magic_v4 } {
            return Err(bad(format!("bad magic {magic:#x}")));
        }
        if sb.crc {
            let (crc_off, blkno_off, uuid_off, owner_ok) = if kind.long {
                (64, 24, 40, be64(&b, 56) == owner)
            } else {
                (52, 16, 32, u64::from(be32(&b, 48)) == owner)
            };
            if !crc::verify(&b[..bs.min(b.len())], crc_off) {
                return Err(bad("bad CRC".into()));
            }
            if b.get(uuid_off..uuid_off + 16) != Some(&sb.meta_uuid[..]) {
                return Err(bad("UUID of another filesystem".into()));
            }
            if !owner_ok {
                return Err(bad("owned by another structure".into()));
            }
            // the block's own address (in 512-byte units): a block written elsewhere is stale
            let at = if kind.long {
                sb.fsb_to_byte(ptr, 1)
            } else {
                owner.checked_mul(u64::from(sb.agblocks)).and_then(|a| a.checked_add(ptr)).and_then(|b| b.checked_mul(u64::from(sb.blocksize)))
            };
            if at.map(|a| a >> 9) != Some(be64(&b, blkno_off)) {
                return Err(bad(format!("records its address as sector {}, not where it was read", be64(&b, blkno_off))));
            }
        }
        let lvl = be16(&b, 4);
        if lvl != want {
            return Err(bad(format!("level {lvl}, expected {want}")));
        }
        block(ptr);
        let n = usize::from(be16(&b, 6));
        let room = bs.saturating_sub(hdr);
        if lvl == 0 {
            if n > room / kind.rec_len {
                return Err(bad(format!("{n} records do not fit")));
            }
            for i in 0..n {
                delivered += 1;
                if delivered > max_records {
                    return Err(bad(format!("more than {max_records} records")));
                }
                let at = hdr + i * kind.rec_len;
                each(b.get(at..at + kind.rec_len).ok_or_else(|| bad("short block".into()))?)?;
            }
        } else {
            let maxrecs = room / (kind.key_len + kind.ptr_len());
            if n == 0 || n > maxrecs {
                return Err(bad(format!("{n} keys of at most {maxrecs}")));
            }
            if stack.len() >= usize::from(MAX_HEIGHT) {
                return Err(bad("too deep".into()));
            }
            let base = hdr + maxrecs * kind.key_len;
            let ptrs = (0..n).rev().map(|i| kind.ptr(&b, base + i * kind.ptr_len())).collect();
            stack.push(Node { level: lvl - 1, ptrs });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::Error;
    use std::collections::HashMap;

    /// An in-memory v4 filesystem of 512-byte blocks holding bmbt blocks.
    struct Mem {
        sb: Superblock,
        blocks: HashMap<u64, Vec<u8>>,
    }

    impl Source for Mem {
        fn sb(&self) -> &Superblock {
            &self.sb
        }
        fn read_tree_block(&self, _kind: &TreeKind, ptr: u64) -> Result<Vec<u8>> {
            self.blocks.get(&ptr).cloned().ok_or_else(|| self.corrupt(format!("block {ptr} unreadable")))
        }
        fn corrupt(&self, msg: String) -> Error {
            Error::Corrupt { dev: "mem".into(), fs: "xfs".into(), msg }
        }
    }

    fn sb() -> Superblock {
        let mut b = vec![0u8; 512];
        b[0..4].copy_from_slice(b"XFSB");
        b[4..8].copy_from_slice(&512u32.to_be_bytes());
        b[8..16].copy_from_slice(&1024u64.to_be_bytes());
        b[48..56].copy_from_slice(&100u64.to_be_bytes());
        b[84..88].copy_from_slice(&1024u32.to_be_bytes());
        b[88..92].copy_from_slice(&1u32.to_be_bytes());
        b[100..102].copy_from_slice(&0xb4a4u16.to_be_bytes());
        b[102..104].copy_from_slice(&512u16.to_be_bytes());
        b[104..106].copy_from_slice(&256u16.to_be_bytes());
        (b[120], b[121], b[122], b[123], b[124]) = (9, 9, 8, 1, 10);
        Superblock::parse(&b).unwrap()
    }

    /// A v4 bmbt block: level, and records (level 0: record bytes = i) or child pointers.
    fn block(level: u16, n: u16, ptrs: &[u64]) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[0..4].copy_from_slice(&BMBT.magic_v4.to_be_bytes());
        b[4..6].copy_from_slice(&level.to_be_bytes());
        b[6..8].copy_from_slice(&n.to_be_bytes());
        let maxrecs = (512 - 24) / 16;
        for (i, p) in ptrs.iter().enumerate() {
            let at = 24 + maxrecs * 8 + i * 8;
            b[at..at + 8].copy_from_slice(&p.to_be_bytes());
        }
        b
    }

    fn walk_all(m: &Mem, level: u16, root: Vec<u64>, max: u64) -> std::result::Result<usize, String> {
        let mut n = 0;
        walk(m, &BMBT, level, root, 1, max, &mut |_| {
            n += 1;
            Ok(())
        })
        .map(|()| n)
        .map_err(|e| e.to_string())
    }

    #[test]
    fn walks_and_bounds() {
        let mut m = Mem { sb: sb(), blocks: HashMap::new() };
        m.blocks.insert(10, block(1, 2, &[11, 12]));
        m.blocks.insert(11, block(0, 3, &[]));
        m.blocks.insert(12, block(0, 2, &[]));
        assert_eq!(walk_all(&m, 2, vec![10], 100), Ok(5));
        assert!(walk_all(&m, 2, vec![10], 4).unwrap_err().contains("more than 4 records"));
        // A cycle: an interior block pointing at itself (its level then mismatches) and two
        // pointers at one leaf.
        m.blocks.insert(10, block(1, 2, &[11, 11]));
        assert!(walk_all(&m, 2, vec![10], 100).unwrap_err().contains("twice"));
        m.blocks.insert(10, block(1, 1, &[10]));
        assert!(walk_all(&m, 2, vec![10], 100).unwrap_err().contains("twice"));
        // Wrong level, absurd counts, bad magic, absurd height.
        m.blocks.insert(10, block(1, 1, &[10]));
        assert!(walk_all(&m, 3, vec![10], 100).unwrap_err().contains("level 1, expected 2"));
        m.blocks.insert(11, block(0, 9999, &[]));
        assert!(walk_all(&m, 1, vec![11], u64::MAX).unwrap_err().contains("do not fit"));
        m.blocks.insert(10, block(1, 0, &[]));
        assert!(walk_all(&m, 2, vec![10], 100).unwrap_err().contains("0 keys"));
        let mut b = block(0, 1, &[]);
        b[0] = 0;
        m.blocks.insert(13, b);
        assert!(walk_all(&m, 1, vec![13], 100).unwrap_err().contains("magic"));
        assert!(walk_all(&m, 200, vec![13], 100).unwrap_err().contains("height"));
        // The inode root: a level-0 root or more records than fit are refused.
        assert!(inode_root(&m, &[0, 0, 0, 1, 0, 0, 0, 0], 5).is_err());
        assert!(inode_root(&m, &[0, 1, 0, 9, 0, 0, 0, 0], 5).is_err());
    }
}
