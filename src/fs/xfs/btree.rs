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
            let _ = blkno_off;
        }
        let lvl = be16(&b, 4);
        if lvl != want {
            return Err(bad(format!("level {lvl}, expected {want}")));
        }
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
                each(&b[at..at + kind.rec_len])?;
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
