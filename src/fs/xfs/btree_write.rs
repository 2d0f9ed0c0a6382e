//! The generic writer for short-pointer (per-AG) btrees, with the kernel's semantics
//! (`xfs_btree.c`): lookup LE/GE/EQ, insert with block split and a new root when the root
//! splits, delete with record borrowing from a sibling or a join when a block falls below
//! `minrecs`, root collapse, keys updated up the path, sibling pointers kept right at every
//! level. Written once; a tree is an [`AgTree`] — magic numbers, record and key sizes, the key
//! of a record, the key order, where its root lives and where its blocks come from: the
//! free-space trees (root in the AGF) take theirs from the AGFL and count them in
//! `agf_btreeblks`; the inode trees (root in the AGI) allocate theirs from free space near the
//! block that splits, as the kernel's `xfs_inobt_alloc_block`, and count them in
//! `agi_iblocks`/`agi_fblocks` when the filesystem has inobtcount; the refcount btree (root
//! in the AGF) allocates its blocks the same way and counts them in `agf_refcount_blocks`.
//!
//! Keys of the non-overlapping trees (bnobt, cntbt, inobt, finobt, refcountbt) are the lowest
//! key of the subtree. The reverse-mapping btree is an overlapping tree (`overlapping`): its
//! interior entries hold, per child, the lowest key below and the highest *high* key below
//! (a record's high key is the key of its last block, [`AgTree::high_of`]); both are kept up
//! the path on every insert, delete, update, split, borrow and join, as the kernel's
//! `xfs_btree_update_keys`. Its blocks come from the AGFL like the free-space trees' and are
//! counted in `agf_btreeblks` and `agf_rmap_blocks`. [`XfsWriter::bt_query_range`] finds the
//! records of an overlapping tree that meet a range of blocks.
//!
//! A block is decoded into a [`Node`] (level, siblings, items, pointers), changed in memory and
//! encoded whole; every read is checked (magic, level, counts, v5 CRC, UUID, owner, address).

use super::btree::MAX_HEIGHT;
use super::buf::Stamp;
use super::writer::XfsWriter;
use crate::bytes::{be16, be32, be64};
use crate::fs::Result;
use std::cmp::Ordering;

/// `NULLAGBLOCK`: no sibling.
pub const NULL: u32 = u32::MAX;
/// v5 short btree block header: LSN and CRC offsets.
pub(crate) const STAMP: Stamp = Stamp { lsn_off: 24, crc_off: 52 };

/// Where a tree's root and level count live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootIn {
    /// `agf_roots[BNO]`, `agf_levels[BNO]`.
    AgfBno,
    /// `agf_roots[CNT]`, `agf_levels[CNT]`.
    AgfCnt,
    /// `agi_root`, `agi_level`.
    AgiIno,
    /// `agi_free_root`, `agi_free_level`.
    AgiFino,
    /// `agf_refcount_root`, `agf_refcount_level`.
    AgfRefc,
    /// `agf_roots[RMAP]`, `agf_levels[RMAP]`.
    AgfRmap,
}

/// What distinguishes one AG btree from another.
#[derive(Debug, Clone, Copy)]
pub struct AgTree {
    /// Name for messages.
    pub name: &'static str,
    /// Magic of v4 blocks.
    pub magic_v4: u32,
    /// Magic of v5 blocks.
    pub magic_v5: u32,
    /// Record size.
    pub rec_len: usize,
    /// Size of an interior entry's key (an overlapping tree's: low and high key together).
    pub key_len: usize,
    /// The key of a record (`key_len` bytes; an overlapping tree's: its low key only).
    pub key_of: fn(&[u8]) -> Vec<u8>,
    /// Whether interior entries carry a high key after the low one (the rmapbt).
    pub overlapping: bool,
    /// The high key of a record (overlapping trees; the same length as `key_of`'s).
    pub high_of: fn(&[u8]) -> Vec<u8>,
    /// The order of two keys.
    pub cmp: fn(&[u8], &[u8]) -> Ordering,
    /// Where the root is.
    pub root: RootIn,
}

fn be32_pair(k: &[u8]) -> (u32, u32) {
    (be32(k, 0), be32(k, 4))
}

/// The by-block free-space btree: records (startblock, blockcount), keyed by startblock.
pub const BNOBT: AgTree = AgTree {
    name: "bnobt",
    magic_v4: 0x4142_5442,
    magic_v5: 0x4142_3342,
    rec_len: 8,
    key_len: 8,
    key_of: |r| r[..8].to_vec(),
    cmp: |a, b| be32(a, 0).cmp(&be32(b, 0)),
    root: RootIn::AgfBno,
    overlapping: false,
    high_of: |r| r[..8].to_vec(),
};

/// The by-size free-space btree: the same records keyed by (blockcount, startblock).
pub const CNTBT: AgTree = AgTree {
    name: "cntbt",
    magic_v4: 0x4142_5443,
    magic_v5: 0x4142_3343,
    rec_len: 8,
    key_len: 8,
    key_of: |r| r[..8].to_vec(),
    cmp: |a, b| {
        let ((sa, la), (sb, lb)) = (be32_pair(a), be32_pair(b));
        (la, sa).cmp(&(lb, sb))
    },
    root: RootIn::AgfCnt,
    overlapping: false,
    high_of: |r| r[..8].to_vec(),
};

/// The inode btree: one record per chunk of 64 inodes (startino u32; holemask u16, count u8,
/// freecount u8 with sparse inodes, else freecount u32; free mask u64), keyed by startino.
pub const INOBT: AgTree = AgTree {
    name: "inobt",
    magic_v4: 0x4941_4254,
    magic_v5: 0x4941_4233,
    rec_len: 16,
    key_len: 4,
    key_of: |r| r[..4].to_vec(),
    cmp: |a, b| be32(a, 0).cmp(&be32(b, 0)),
    root: RootIn::AgiIno,
    overlapping: false,
    high_of: |r| r[..4].to_vec(),
};

/// The free inode btree: the inode btree's records of chunks with a free inode.
pub const FINOBT: AgTree = AgTree { name: "finobt", magic_v4: 0x4649_4254, magic_v5: 0x4649_4233, root: RootIn::AgiFino, ..INOBT };

/// The refcount btree (reflink): records (startblock, with the copy-on-write staging flag in
/// bit 31; blockcount; refcount) of the extents more than one owner maps, keyed by startblock.
pub const REFCOUNTBT: AgTree = AgTree {
    name: "refcountbt",
    magic_v4: 0x5233_4643,
    magic_v5: 0x5233_4643,
    rec_len: 12,
    key_len: 4,
    key_of: |r| r[..4].to_vec(),
    cmp: |a, b| be32(a, 0).cmp(&be32(b, 0)),
    root: RootIn::AgfRefc,
    overlapping: false,
    high_of: |r| r[..4].to_vec(),
};

/// `XFS_RMAP_OFF_UNWRITTEN`: not part of a key (the kernel's `offset_keymask`).
const RMAP_UNWRITTEN: u64 = 1 << 61;

/// An rmapbt key (startblock, owner, offset with the attribute-fork and bmbt-block flags) as
/// bytes.
fn rmap_key(start: u32, owner: u64, off: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(20);
    k.extend(start.to_be_bytes());
    k.extend(owner.to_be_bytes());
    k.extend((off & !RMAP_UNWRITTEN).to_be_bytes());
    k
}

/// The reverse-mapping btree (rmapbt): records (startblock, blockcount, owner, offset with
/// flags in its top bits: 24 bytes) of who owns each used extent of the AG, keyed by
/// (startblock, owner, offset); an overlapping tree (see the module documentation).
pub const RMAPBT: AgTree = AgTree {
    name: "rmapbt",
    magic_v4: 0x524d_4233,
    magic_v5: 0x524d_4233,
    rec_len: 24,
    key_len: 40,
    key_of: |r| rmap_key(be32(r, 0), be64(r, 8), be64(r, 16)),
    cmp: |a, b| (be32(a, 0), be64(a, 4), be64(a, 12) & !RMAP_UNWRITTEN).cmp(&(be32(b, 0), be64(b, 4), be64(b, 12) & !RMAP_UNWRITTEN)),
    root: RootIn::AgfRmap,
    overlapping: true,
    // `xfs_rmapbt_init_high_key_from_rec`: the last block, and for a file's data its last
    // file offset (the flags kept); a special owner's or bmbt block's offset stays.
    high_of: |r| {
        let (start, len, owner, off) = (be32(r, 0), be32(r, 4), be64(r, 8), be64(r, 16));
        let adj = len.saturating_sub(1);
        const OFF_MASK: u64 = (1 << 54) - 1;
        let off = if owner & (1 << 63) != 0 || off & (1 << 62) != 0 { off } else { ((off & OFF_MASK) + u64::from(adj)) | (off & !OFF_MASK) };
        rmap_key(start.saturating_add(adj), owner, off)
    },
};

/// How [`XfsWriter::bt_lookup`] matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The last record with a key ≤ the one asked.
    Le,
    /// The first record with a key ≥ the one asked.
    Ge,
    /// The record with exactly that key.
    Eq,
}

/// A decoded btree block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// 0 for leaves.
    pub level: u16,
    /// Left sibling or [`NULL`].
    pub left: u32,
    /// Right sibling or [`NULL`].
    pub right: u32,
    /// Records (leaves) or keys.
    pub items: Vec<Vec<u8>>,
    /// Child pointers (interior blocks).
    pub ptrs: Vec<u32>,
}

/// One block on the path from the root to a leaf.
struct Step {
    bno: u32,
    node: Node,
    /// Interior: the child followed. Leaf: the first record whose key is ≥ the one searched.
    idx: usize,
    freed: bool,
}

/// Header length of a short-form block.
pub fn header_len(crc: bool) -> usize {
    if crc { 56 } else { 16 }
}

/// Most records (level 0) or key/pointer pairs a block holds.
pub fn maxrecs(t: &AgTree, blocksize: u32, crc: bool, level: u16) -> usize {
    let room = (blocksize as usize).saturating_sub(header_len(crc));
    if level == 0 { room / t.rec_len } else { room / (t.key_len + 4) }
}

/// Fewest a non-root block may hold.
pub fn minrecs(t: &AgTree, blocksize: u32, crc: bool, level: u16) -> usize {
    maxrecs(t, blocksize, crc, level) / 2
}

/// The most levels a tree of `records` records can need (`xfs_btree_compute_maxlevels`).
pub fn max_levels(t: &AgTree, blocksize: u32, crc: bool, records: u64) -> u32 {
    let (leaf, node) = (minrecs(t, blocksize, crc, 0).max(1) as u64, minrecs(t, blocksize, crc, 1).max(2) as u64);
    let mut blocks = records.div_ceil(leaf);
    let mut levels = 1;
    while blocks > 1 {
        blocks = blocks.div_ceil(node);
        levels += 1;
    }
    levels
}

impl Node {
    /// The lowest key under this block (`None` for an empty leaf).
    fn first_key(&self, t: &AgTree) -> Option<Vec<u8>> {
        let f = self.items.first()?;
        Some(if self.level == 0 { (t.key_of)(f) } else { f.clone() })
    }

    /// The parent's key for this block (`None` when empty): its first key; for an overlapping
    /// tree the lowest key followed by the greatest high key below.
    fn parent_key(&self, t: &AgTree) -> Option<Vec<u8>> {
        let first = self.first_key(t)?;
        if !t.overlapping {
            return Some(first);
        }
        let half = t.key_len / 2;
        let mut high: Option<Vec<u8>> = None;
        for it in &self.items {
            let h = if self.level == 0 { (t.high_of)(it) } else { it.get(half..).unwrap_or_default().to_vec() };
            if high.as_ref().is_none_or(|m| (t.cmp)(&h, m) == Ordering::Greater) {
                high = Some(h);
            }
        }
        let mut k = first.get(..half).unwrap_or_default().to_vec();
        k.extend(high.unwrap_or_default());
        Some(k)
    }

    /// Key of item `i`.
    fn key(&self, t: &AgTree, i: usize) -> Vec<u8> {
        if self.level == 0 { (t.key_of)(&self.items[i]) } else { self.items[i].clone() }
    }
}

impl XfsWriter {
    fn bt_root(&mut self, t: &AgTree, agno: u32) -> Result<(u32, u32)> {
        Ok(match t.root {
            RootIn::AgfBno => (self.agf(agno)?.bno_root, self.agf(agno)?.bno_level),
            RootIn::AgfCnt => (self.agf(agno)?.cnt_root, self.agf(agno)?.cnt_level),
            RootIn::AgiIno => (self.agi(agno)?.root, self.agi(agno)?.level),
            RootIn::AgiFino => (self.agi(agno)?.free_root, self.agi(agno)?.free_level),
            RootIn::AgfRefc => (self.agf(agno)?.refcount_root, self.agf(agno)?.refcount_level),
            RootIn::AgfRmap => (self.agf(agno)?.rmap_root, self.agf(agno)?.rmap_level),
        })
    }

    fn bt_set_root(&mut self, t: &AgTree, agno: u32, root: u32, levels: u32) -> Result<()> {
        match t.root {
            RootIn::AgfBno => (self.agf(agno)?.bno_root, self.agf(agno)?.bno_level) = (root, levels),
            RootIn::AgfCnt => (self.agf(agno)?.cnt_root, self.agf(agno)?.cnt_level) = (root, levels),
            RootIn::AgiIno => (self.agi(agno)?.root, self.agi(agno)?.level) = (root, levels),
            RootIn::AgiFino => (self.agi(agno)?.free_root, self.agi(agno)?.free_level) = (root, levels),
            RootIn::AgfRefc => (self.agf(agno)?.refcount_root, self.agf(agno)?.refcount_level) = (root, levels),
            RootIn::AgfRmap => (self.agf(agno)?.rmap_root, self.agf(agno)?.rmap_level) = (root, levels),
        }
        Ok(())
    }

    /// Counts one block more (`up`) or less for tree `t`: the refcount btree in the AGF
    /// (`agf_refcount_blocks`), an inode tree in the AGI (inobtcount filesystems).
    fn bt_count_block(&mut self, t: &AgTree, agno: u32, up: bool) -> Result<()> {
        if t.root == RootIn::AgfRmap {
            let agf = self.agf(agno)?;
            let Some(v) = (if up { agf.rmap_blocks.checked_add(1) } else { agf.rmap_blocks.checked_sub(1) }) else {
                return Err(self.corrupt(format!("AGF of AG {agno}: rmap btree block count out of range")));
            };
            self.agf(agno)?.rmap_blocks = v;
            return Ok(());
        }
        if t.root == RootIn::AgfRefc {
            let agf = self.agf(agno)?;
            let Some(v) = (if up { agf.refcount_blocks.checked_add(1) } else { agf.refcount_blocks.checked_sub(1) }) else {
                return Err(self.corrupt(format!("AGF of AG {agno}: refcount btree block count out of range")));
            };
            self.agf(agno)?.refcount_blocks = v;
            return Ok(());
        }
        if self.sb.ro_compat & super::sb::RO_COMPAT_INOBTCOUNT == 0 {
            return Ok(());
        }
        let agi = self.agi(agno)?;
        let n = if t.root == RootIn::AgiIno { &mut agi.iblocks } else { &mut agi.fblocks };
        let Some(v) = (if up { n.checked_add(1) } else { n.checked_sub(1) }) else {
            return Err(self.corrupt(format!("AGI of AG {agno}: {} block count out of range", t.name)));
        };
        *n = v;
        Ok(())
    }

    /// A new block for tree `t`, near block `near`: the free-space trees and the rmapbt take it
    /// from the AGFL and count it in `agf_btreeblks` (the rmapbt also in `agf_rmap_blocks`;
    /// AGFL blocks are the AG's own already, so no reverse mapping changes); the inode and
    /// refcount trees allocate it from free space, the reverse mapping following.
    fn bt_alloc_block(&mut self, t: &AgTree, agno: u32, near: u32) -> Result<u32> {
        match t.root {
            RootIn::AgfBno | RootIn::AgfCnt => self.agfl_get(agno, true),
            RootIn::AgfRmap => {
                let bno = self.agfl_get(agno, true)?;
                self.bt_count_block(t, agno, true)?;
                Ok(bno)
            }
            RootIn::AgiIno | RootIn::AgiFino | RootIn::AgfRefc => {
                let Some(bno) = self.alloc_block_near(agno, near)? else {
                    return Err(crate::fs::Error::Os(crate::fs::Errno::NoSpace));
                };
                self.bt_count_block(t, agno, true)?;
                let owner = if t.root == RootIn::AgfRefc { super::rmap_rec::OWN_REFC } else { super::rmap_rec::OWN_INOBT };
                self.rmap_map(agno, bno, 1, super::rmap_rec::Owner::special(owner))?;
                Ok(bno)
            }
        }
    }

    /// Gives a block of tree `t` back (to the AGFL or to free space).
    fn bt_free_block(&mut self, t: &AgTree, agno: u32, bno: u32) -> Result<()> {
        match t.root {
            RootIn::AgfBno | RootIn::AgfCnt => self.agfl_put(agno, bno, true),
            RootIn::AgfRmap => {
                self.agfl_put(agno, bno, true)?;
                self.bt_count_block(t, agno, false)
            }
            RootIn::AgiIno | RootIn::AgiFino | RootIn::AgfRefc => {
                let owner = if t.root == RootIn::AgfRefc { super::rmap_rec::OWN_REFC } else { super::rmap_rec::OWN_INOBT };
                self.rmap_unmap(agno, bno, 1, super::rmap_rec::Owner::special(owner))?;
                self.free_in_ag(agno, bno, 1)?;
                self.bt_count_block(t, agno, false)
            }
        }
    }

    pub(crate) fn block_ok(&self, agno: u32, bno: u32) -> bool {
        // Past the AG headers (superblock, AGF, AGI, AGFL sectors) and inside the AG.
        let hdr_end = (4 * u64::from(self.sb.sectsize)).div_ceil(u64::from(self.sb.blocksize));
        let len = if agno + 1 == self.sb.agcount { self.sb.dblocks - u64::from(agno) * u64::from(self.sb.agblocks) } else { u64::from(self.sb.agblocks) };
        u64::from(bno) >= hdr_end && u64::from(bno) < len
    }

    /// Reads and checks block `bno` of tree `t` in AG `agno`, expected at `level`.
    pub(crate) fn bt_read(&self, t: &AgTree, agno: u32, bno: u32, level: u16) -> Result<Node> {
        let crc = self.sb.crc;
        let bs = self.sb.blocksize;
        let bad = |m: String| self.corrupt(format!("{} of AG {agno}, block {bno}: {m}", t.name));
        if !self.block_ok(agno, bno) {
            return Err(bad("outside the AG".into()));
        }
        let off = self.ag_byte(agno, bno);
        let b = self.bufs.read(off, bs as usize)?;
        let magic = be32(&b, 0);
        if magic != if crc { t.magic_v5 } else { t.magic_v4 } {
            return Err(bad(format!("bad magic {magic:#x}")));
        }
        if crc {
            if !super::crc::verify(&b, STAMP.crc_off) {
                return Err(bad("bad CRC".into()));
            }
            if be64(&b, 16) != off >> 9 {
                return Err(bad(format!("records address {:#x}", be64(&b, 16))));
            }
            if b[32..48] != self.sb.meta_uuid {
                return Err(bad("UUID of another filesystem".into()));
            }
            if be32(&b, 48) != agno {
                return Err(bad(format!("owned by AG {}", be32(&b, 48))));
            }
        }
        let lvl = be16(&b, 4);
        if lvl != level {
            return Err(bad(format!("level {lvl}, expected {level}")));
        }
        let n = usize::from(be16(&b, 6));
        let max = maxrecs(t, bs, crc, level);
        if n > max {
            return Err(bad(format!("{n} records of at most {max}")));
        }
        let hdr = header_len(crc);
        let (left, right) = (be32(&b, 8), be32(&b, 12));
        let mut node = Node { level, left, right, items: Vec::with_capacity(n), ptrs: Vec::new() };
        if level == 0 {
            for i in 0..n {
                node.items.push(b[hdr + i * t.rec_len..hdr + (i + 1) * t.rec_len].to_vec());
            }
        } else {
            let pbase = hdr + max * t.key_len;
            for i in 0..n {
                node.items.push(b[hdr + i * t.key_len..hdr + (i + 1) * t.key_len].to_vec());
                let p = be32(&b, pbase + i * 4);
                if !self.block_ok(agno, p) {
                    return Err(bad(format!("pointer {i} to block {p} outside the AG")));
                }
                node.ptrs.push(p);
            }
        }
        for w in node.items.windows(2) {
            let (a, c) = if level == 0 { ((t.key_of)(&w[0]), (t.key_of)(&w[1])) } else { (w[0].clone(), w[1].clone()) };
            if (t.cmp)(&a, &c) != Ordering::Less {
                return Err(bad("keys out of order".into()));
            }
        }
        Ok(node)
    }

    /// Encodes `node` into block `bno` (pending until the operation ends).
    pub(crate) fn bt_write(&mut self, t: &AgTree, agno: u32, bno: u32, node: &Node) {
        let crc = self.sb.crc;
        let mut b = self.bt_block(if crc { t.magic_v5 } else { t.magic_v4 }, agno, bno, node);
        let hdr = header_len(crc);
        if node.level == 0 {
            for (i, r) in node.items.iter().enumerate() {
                b[hdr + i * t.rec_len..hdr + (i + 1) * t.rec_len].copy_from_slice(r);
            }
        } else {
            let pbase = hdr + maxrecs(t, self.sb.blocksize, crc, node.level) * t.key_len;
            for (i, (k, p)) in node.items.iter().zip(&node.ptrs).enumerate() {
                b[hdr + i * t.key_len..hdr + (i + 1) * t.key_len].copy_from_slice(k);
                b[pbase + i * 4..pbase + i * 4 + 4].copy_from_slice(&p.to_be_bytes());
            }
        }
        self.bufs.put(self.ag_byte(agno, bno), b, Some(STAMP));
    }

    /// A zeroed block of AG `agno` at `bno` with the short-form header of `node` (`magic`, level,
    /// record count, siblings; on v5 its address, UUID and owning AG); LSN and CRC are stamped
    /// when it is put.
    pub(crate) fn bt_block(&self, magic: u32, agno: u32, bno: u32, node: &Node) -> Vec<u8> {
        let mut b = vec![0u8; self.sb.blocksize as usize];
        b[0..4].copy_from_slice(&magic.to_be_bytes());
        b[4..6].copy_from_slice(&node.level.to_be_bytes());
        b[6..8].copy_from_slice(&(node.items.len() as u16).to_be_bytes());
        b[8..12].copy_from_slice(&node.left.to_be_bytes());
        b[12..16].copy_from_slice(&node.right.to_be_bytes());
        if self.sb.crc {
            b[16..24].copy_from_slice(&(self.ag_byte(agno, bno) >> 9).to_be_bytes());
            b[32..48].copy_from_slice(&self.sb.meta_uuid);
            b[48..52].copy_from_slice(&agno.to_be_bytes());
        }
        b
    }

    /// The path from the root to the leaf where `key` is or would go.
    fn bt_descend(&mut self, t: &AgTree, agno: u32, key: &[u8]) -> Result<Vec<Step>> {
        let (root, levels) = self.bt_root(t, agno)?;
        if levels == 0 || levels > u32::from(MAX_HEIGHT) {
            return Err(self.corrupt(format!("{} of AG {agno}: {levels} levels", t.name)));
        }
        let mut path = Vec::with_capacity(levels as usize);
        let mut bno = root;
        for level in (0..levels as u16).rev() {
            let node = self.bt_read(t, agno, bno, level)?;
            let idx = if level == 0 {
                node.items.iter().position(|r| (t.cmp)(&(t.key_of)(r), key) != Ordering::Less).unwrap_or(node.items.len())
            } else {
                if node.items.is_empty() {
                    return Err(self.corrupt(format!("{} of AG {agno}, block {bno}: empty interior block", t.name)));
                }
                node.items.iter().rposition(|k| (t.cmp)(k, key) != Ordering::Greater).unwrap_or(0)
            };
            let next = node.ptrs.get(idx).copied();
            path.push(Step { bno, node, idx, freed: false });
            if let Some(n) = next {
                bno = n;
            }
        }
        Ok(path)
    }

    /// Sets each ancestor's key for the block below it ([`Node::parent_key`]), from `d`
    /// upwards, while a key changes (the kernel's `xfs_btree_update_keys`).
    fn bt_fix_keys(t: &AgTree, path: &mut [Step], d: usize) {
        let mut e = d;
        while e > 0 {
            let Some(k) = path[e].node.parent_key(t) else { return };
            let i = path[e - 1].idx;
            if path[e - 1].node.items.get(i) == Some(&k) {
                return;
            }
            if let Some(slot) = path[e - 1].node.items.get_mut(i) {
                *slot = k;
            }
            e -= 1;
        }
    }

    fn bt_write_path(&mut self, t: &AgTree, agno: u32, path: &[Step]) {
        for s in path.iter().filter(|s| !s.freed) {
            self.bt_write(t, agno, s.bno, &s.node);
        }
    }

    /// Sets the left (`left_side`) or right pointer of sibling `bno` at `level`.
    fn bt_relink(&mut self, t: &AgTree, agno: u32, bno: u32, level: u16, left_side: bool, to: u32) -> Result<()> {
        if bno == NULL {
            return Ok(());
        }
        let mut n = self.bt_read(t, agno, bno, level)?;
        if left_side { n.left = to } else { n.right = to }
        self.bt_write(t, agno, bno, &n);
        Ok(())
    }

    /// The record matching `key` as `how` asks, if any.
    pub fn bt_lookup(&mut self, t: &AgTree, agno: u32, key: &[u8], how: Lookup) -> Result<Option<Vec<u8>>> {
        let path = self.bt_descend(t, agno, key)?;
        let Some(leaf) = path.last() else { return Ok(None) };
        let (n, i) = (&leaf.node, leaf.idx);
        let eq = i < n.items.len() && (t.cmp)(&n.key(t, i), key) == Ordering::Equal;
        match how {
            Lookup::Eq => Ok(eq.then(|| n.items[i].clone())),
            Lookup::Ge if i < n.items.len() => Ok(Some(n.items[i].clone())),
            Lookup::Ge => {
                let mut right = n.right;
                for _ in 0..self.sb.agblocks {
                    if right == NULL {
                        return Ok(None);
                    }
                    let r = self.bt_read(t, agno, right, 0)?;
                    if let Some(f) = r.items.first() {
                        return Ok(Some(f.clone()));
                    }
                    right = r.right;
                }
                Err(self.corrupt(format!("{} of AG {agno}: sibling chain without end", t.name)))
            }
            Lookup::Le if eq => Ok(Some(n.items[i].clone())),
            Lookup::Le if i > 0 => Ok(Some(n.items[i - 1].clone())),
            Lookup::Le => {
                let mut left = n.left;
                for _ in 0..self.sb.agblocks {
                    if left == NULL {
                        return Ok(None);
                    }
                    let l = self.bt_read(t, agno, left, 0)?;
                    if let Some(f) = l.items.last() {
                        return Ok(Some(f.clone()));
                    }
                    left = l.left;
                }
                Err(self.corrupt(format!("{} of AG {agno}: sibling chain without end", t.name)))
            }
        }
    }

    /// Calls `each` with the records from the first with key ≥ `key` onwards (`forward`), or
    /// from the last with key < `key` backwards, until it returns false; bounded by the AG size.
    pub fn bt_scan(&mut self, t: &AgTree, agno: u32, key: &[u8], forward: bool, each: &mut dyn FnMut(&[u8]) -> bool) -> Result<()> {
        let path = self.bt_descend(t, agno, key)?;
        let Some(leaf) = path.last() else { return Ok(()) };
        let mut node = leaf.node.clone();
        let mut i = leaf.idx as isize - if forward { 0 } else { 1 };
        let mut budget = u64::from(self.sb.agblocks) + 1;
        loop {
            while i >= 0 && (i as usize) < node.items.len() {
                if !each(&node.items[i as usize]) {
                    return Ok(());
                }
                i += if forward { 1 } else { -1 };
            }
            let next = if forward { node.right } else { node.left };
            if next == NULL {
                return Ok(());
            }
            budget = budget.checked_sub(1).ok_or_else(|| self.corrupt(format!("{} of AG {agno}: sibling chain without end", t.name)))?;
            node = self.bt_read(t, agno, next, 0)?;
            i = if forward { 0 } else { node.items.len() as isize - 1 };
        }
    }

    /// Calls `each` with every record of overlapping tree `t` whose keys meet `lo..=hi` (its
    /// low key ≤ `hi` and its high key ≥ `lo`), in key order, until it returns false; subtrees
    /// are skipped by their low and high keys (the kernel's `xfs_btree_query_range`). Bounded
    /// by the AG size.
    pub fn bt_query_range(&mut self, t: &AgTree, agno: u32, lo: &[u8], hi: &[u8], each: &mut dyn FnMut(&[u8]) -> bool) -> Result<()> {
        let (root, levels) = self.bt_root(t, agno)?;
        if levels == 0 || levels > u32::from(MAX_HEIGHT) {
            return Err(self.corrupt(format!("{} of AG {agno}: {levels} levels", t.name)));
        }
        let half = t.key_len / 2;
        // Depth first, children pushed in reverse so they are visited in order.
        let mut stack = vec![(root, levels as u16 - 1)];
        let mut budget = u64::from(self.sb.agblocks) + 1;
        while let Some((bno, level)) = stack.pop() {
            budget = budget.checked_sub(1).ok_or_else(|| self.corrupt(format!("{} of AG {agno}: more blocks than the AG has (a cycle)", t.name)))?;
            let n = self.bt_read(t, agno, bno, level)?;
            if level == 0 {
                for r in &n.items {
                    let (low, high) = ((t.key_of)(r), (t.high_of)(r));
                    if (t.cmp)(&low, hi) == Ordering::Greater {
                        return Ok(());
                    }
                    if (t.cmp)(&high, lo) != Ordering::Less && !each(r) {
                        return Ok(());
                    }
                }
                continue;
            }
            let mut kids = Vec::new();
            for (k, &p) in n.items.iter().zip(&n.ptrs) {
                if (t.cmp)(k, hi) == Ordering::Greater {
                    break;
                }
                let high = k.get(half..).unwrap_or_default();
                if !t.overlapping || (t.cmp)(high, lo) != Ordering::Less {
                    kids.push((p, level - 1));
                }
            }
            stack.extend(kids.into_iter().rev());
        }
        Ok(())
    }

    /// The last (greatest) record of the tree.
    pub fn bt_last(&mut self, t: &AgTree, agno: u32) -> Result<Option<Vec<u8>>> {
        let (mut bno, levels) = self.bt_root(t, agno)?;
        for level in (0..levels.min(u32::from(MAX_HEIGHT)) as u16).rev() {
            let n = self.bt_read(t, agno, bno, level)?;
            if level == 0 {
                return Ok(n.items.last().cloned());
            }
            bno = *n.ptrs.last().ok_or_else(|| self.corrupt(format!("{} of AG {agno}, block {bno}: empty interior block", t.name)))?;
        }
        Ok(None)
    }

    /// Inserts `rec`; a record with the same key is corruption.
    pub fn bt_insert(&mut self, t: &AgTree, agno: u32, rec: &[u8]) -> Result<()> {
        let key = (t.key_of)(rec);
        let mut path = self.bt_descend(t, agno, &key)?;
        let (bs, crc) = (self.sb.blocksize, self.sb.crc);
        let mut d = path.len() - 1;
        {
            let leaf = &path[d];
            if leaf.idx < leaf.node.items.len() && (t.cmp)(&leaf.node.key(t, leaf.idx), &key) == Ordering::Equal {
                return Err(self.corrupt(format!("{} of AG {agno}: inserting a record whose key is already there", t.name)));
            }
        }
        let mut item = rec.to_vec();
        let mut ptr: Option<u32> = None;
        let mut pos = path[d].idx;
        loop {
            let step = &mut path[d];
            step.node.items.insert(pos, item);
            if let Some(p) = ptr {
                step.node.ptrs.insert(pos, p);
            }
            let level = path[d].node.level;
            if path[d].node.items.len() <= maxrecs(t, bs, crc, level) {
                Self::bt_fix_keys(t, &mut path, d);
                break;
            }
            // Split: the upper half moves to a new right sibling.
            let new = self.bt_alloc_block(t, agno, path[d].bno)?;
            let step = &mut path[d];
            let keep = step.node.items.len().div_ceil(2);
            let right = Node {
                level,
                left: step.bno,
                right: step.node.right,
                items: step.node.items.split_off(keep),
                ptrs: if level > 0 { step.node.ptrs.split_off(keep) } else { Vec::new() },
            };
            let old_right = step.node.right;
            step.node.right = new;
            let left_bno = step.bno;
            self.bt_relink(t, agno, old_right, level, true, new)?;
            self.bt_write(t, agno, new, &right);
            let rkey = right.parent_key(t).unwrap_or_default();
            let lkey = path[d].node.parent_key(t).unwrap_or_default();
            if d == 0 {
                // The root split: a new root above both halves.
                let root = self.bt_alloc_block(t, agno, left_bno)?;
                if u32::from(level) + 2 > u32::from(MAX_HEIGHT) {
                    return Err(self.corrupt(format!("{} of AG {agno}: taller than {MAX_HEIGHT} levels", t.name)));
                }
                let n = Node { level: level + 1, left: NULL, right: NULL, items: vec![lkey, rkey], ptrs: vec![left_bno, new] };
                self.bt_write(t, agno, root, &n);
                self.bt_set_root(t, agno, root, u32::from(level) + 2)?;
                break;
            }
            let pidx = path[d - 1].idx;
            if let Some(slot) = path[d - 1].node.items.get_mut(pidx) {
                *slot = lkey;
            }
            item = rkey;
            ptr = Some(new);
            pos = pidx + 1;
            d -= 1;
        }
        self.bt_write_path(t, agno, &path);
        Ok(())
    }

    /// Deletes the record with `key`; none there is corruption.
    pub fn bt_delete(&mut self, t: &AgTree, agno: u32, key: &[u8]) -> Result<()> {
        let mut path = self.bt_descend(t, agno, key)?;
        let (bs, crc) = (self.sb.blocksize, self.sb.crc);
        let mut d = path.len() - 1;
        {
            let leaf = &path[d];
            if leaf.idx >= leaf.node.items.len() || (t.cmp)(&leaf.node.key(t, leaf.idx), key) != Ordering::Equal {
                return Err(self.corrupt(format!("{} of AG {agno}: deleting a record that is not there", t.name)));
            }
        }
        let mut pos = path[d].idx;
        loop {
            let level = path[d].node.level;
            path[d].node.items.remove(pos);
            if level > 0 {
                path[d].node.ptrs.remove(pos);
            }
            if d == 0 {
                if level > 0 && path[0].node.items.len() == 1 {
                    // Root collapse: its only child becomes the root.
                    let child = path[0].node.ptrs[0];
                    path[0].freed = true;
                    let old = path[0].bno;
                    self.bt_free_block(t, agno, old)?;
                    self.bt_set_root(t, agno, child, u32::from(level))?;
                }
                break;
            }
            let min = minrecs(t, bs, crc, level);
            if path[d].node.items.len() >= min {
                Self::bt_fix_keys(t, &mut path, d);
                break;
            }
            let pidx = path[d - 1].idx;
            let plen = path[d - 1].node.items.len();
            let me = path[d].bno;
            let right_bno = (pidx + 1 < plen).then(|| path[d - 1].node.ptrs[pidx + 1]);
            let left_bno = (pidx > 0).then(|| path[d - 1].node.ptrs[pidx - 1]);
            let mut right = match right_bno {
                Some(b) => Some(self.bt_read(t, agno, b, level)?),
                None => None,
            };
            let mut left = match left_bno {
                Some(b) => Some(self.bt_read(t, agno, b, level)?),
                None => None,
            };
            if right.as_ref().is_some_and(|r| r.left != me) || left.as_ref().is_some_and(|l| l.right != me) {
                return Err(self.corrupt(format!("{} of AG {agno}, block {me}: sibling pointers disagree with the parent", t.name)));
            }
            // Borrow one entry from a sibling with more than the minimum.
            if let (Some(r), Some(rb)) = (right.as_mut(), right_bno) {
                if r.items.len() > min {
                    let it = r.items.remove(0);
                    path[d].node.items.push(it);
                    if level > 0 {
                        let p = r.ptrs.remove(0);
                        path[d].node.ptrs.push(p);
                    }
                    path[d - 1].node.items[pidx + 1] = r.parent_key(t).unwrap_or_default();
                    self.bt_write(t, agno, rb, r);
                    Self::bt_fix_keys(t, &mut path, d);
                    break;
                }
            }
            if let (Some(l), Some(lb)) = (left.as_mut(), left_bno) {
                if l.items.len() > min {
                    let it = l.items.pop().unwrap_or_default();
                    path[d].node.items.insert(0, it);
                    if level > 0 {
                        let p = l.ptrs.pop().unwrap_or(NULL);
                        path[d].node.ptrs.insert(0, p);
                    }
                    path[d - 1].node.items[pidx - 1] = l.parent_key(t).unwrap_or_default();
                    self.bt_write(t, agno, lb, l);
                    Self::bt_fix_keys(t, &mut path, d);
                    break;
                }
            }
            // Join with a sibling: into the left one, or the right one into this block.
            if let (Some(mut l), Some(lb)) = (left, left_bno) {
                let step = &mut path[d];
                l.items.append(&mut step.node.items);
                l.ptrs.append(&mut step.node.ptrs);
                l.right = step.node.right;
                step.freed = true;
                let next = step.node.right;
                self.bt_relink(t, agno, next, level, true, lb)?;
                path[d - 1].node.items[pidx - 1] = l.parent_key(t).unwrap_or_default();
                self.bt_write(t, agno, lb, &l);
                self.bt_free_block(t, agno, me)?;
                pos = pidx;
            } else if let (Some(mut r), Some(rb)) = (right, right_bno) {
                let step = &mut path[d];
                step.node.items.append(&mut r.items);
                step.node.ptrs.append(&mut r.ptrs);
                step.node.right = r.right;
                self.bt_relink(t, agno, r.right, level, true, me)?;
                self.bt_free_block(t, agno, rb)?;
                path[d - 1].node.items[pidx] = path[d].node.parent_key(t).unwrap_or_default();
                pos = pidx + 1;
            } else {
                return Err(self.corrupt(format!("{} of AG {agno}, block {me}: a non-root block without siblings", t.name)));
            }
            d -= 1;
        }
        self.bt_write_path(t, agno, &path);
        Ok(())
    }

    /// Replaces the record with `rec`'s key by `rec` (same key: the kernel's `xfs_btree_update`).
    pub fn bt_update(&mut self, t: &AgTree, agno: u32, rec: &[u8]) -> Result<()> {
        let key = (t.key_of)(rec);
        let mut path = self.bt_descend(t, agno, &key)?;
        let Some(leaf) = path.last_mut() else { return Ok(()) };
        if leaf.idx >= leaf.node.items.len() || (t.cmp)(&leaf.node.key(t, leaf.idx), &key) != Ordering::Equal {
            return Err(self.corrupt(format!("{} of AG {agno}: updating a record that is not there", t.name)));
        }
        leaf.node.items[leaf.idx] = rec.to_vec();
        // The parents' keys carry the whole key of the first record (the bnobt's blockcount
        // too) and an overlapping tree's high keys, as the kernel's `xfs_btree_update_keys`.
        let d = path.len() - 1;
        Self::bt_fix_keys(t, &mut path, d);
        self.bt_write_path(t, agno, &path);
        Ok(())
    }

    /// The blocks of the tree: the root and every block an interior block points to (leaves
    /// are not read). Bounded by the AG size.
    pub fn bt_blocks(&mut self, t: &AgTree, agno: u32) -> Result<Vec<u32>> {
        let (root, levels) = self.bt_root(t, agno)?;
        if levels == 0 || levels > u32::from(MAX_HEIGHT) {
            return Err(self.corrupt(format!("{} of AG {agno}: {levels} levels", t.name)));
        }
        let mut out = vec![root];
        let mut row = vec![root];
        for level in (1..levels as u16).rev() {
            let mut next = Vec::new();
            for bno in row {
                next.extend(self.bt_read(t, agno, bno, level)?.ptrs);
                if out.len() + next.len() > self.sb.agblocks as usize {
                    return Err(self.corrupt(format!("{} of AG {agno}: more blocks than the AG has (a cycle)", t.name)));
                }
            }
            out.extend(&next);
            row = next;
        }
        Ok(out)
    }

    /// Every record of the tree in order, checking the structure on the way (levels, key
    /// order, keys equal to the first key below, sibling pointers, fill): a test and debug
    /// aid. Returns (records, blocks beyond the root, levels).
    pub fn bt_check(&mut self, t: &AgTree, agno: u32) -> Result<(Vec<Vec<u8>>, u32, u32)> {
        let (root, levels) = self.bt_root(t, agno)?;
        let (bs, crc) = (self.sb.blocksize, self.sb.crc);
        let mut out = Vec::new();
        let mut blocks = 0u32;
        // Level by level, left to right, following parents' pointers and checking siblings.
        let mut row = vec![(root, None::<Vec<u8>>)];
        if levels == 0 || levels > u32::from(MAX_HEIGHT) {
            return Err(self.corrupt(format!("{} of AG {agno}: {levels} levels", t.name)));
        }
        for level in (0..levels as u16).rev() {
            if row.len() as u64 + u64::from(blocks) > u64::from(self.sb.agblocks) {
                return Err(self.corrupt(format!("{} of AG {agno}: more blocks than the AG has (a cycle)", t.name)));
            }
            let mut next = Vec::new();
            let mut prev = NULL;
            for (i, (bno, want_key)) in row.iter().enumerate() {
                let n = self.bt_read(t, agno, *bno, level)?;
                let bad = |m: &str| self.corrupt(format!("{} of AG {agno}, block {bno}: {m}", t.name));
                if n.left != prev || (i + 1 == row.len()) != (n.right == NULL) || (i + 1 < row.len() && n.right != row[i + 1].0) {
                    return Err(bad("sibling pointers wrong"));
                }
                if want_key.is_some() && n.parent_key(t) != *want_key {
                    return Err(bad("parent key is not the block's key"));
                }
                if want_key.is_some() && n.items.len() < minrecs(t, bs, crc, level) {
                    return Err(bad("fewer records than minrecs"));
                }
                if level == 0 {
                    out.extend(n.items.iter().cloned());
                } else {
                    next.extend(n.ptrs.iter().copied().zip(n.items.iter().cloned().map(Some)));
                }
                prev = *bno;
                blocks += 1;
            }
            row = next;
        }
        Ok((out, blocks.saturating_sub(1), levels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(s: u32, l: u32) -> Vec<u8> {
        let mut v = s.to_be_bytes().to_vec();
        v.extend(l.to_be_bytes());
        v
    }

    #[test]
    fn key_orders() {
        assert_eq!((BNOBT.cmp)(&rec(5, 100), &rec(6, 1)), Ordering::Less);
        assert_eq!((BNOBT.cmp)(&rec(5, 100), &rec(5, 1)), Ordering::Equal);
        assert_eq!((CNTBT.cmp)(&rec(5, 100), &rec(6, 1)), Ordering::Greater);
        assert_eq!((CNTBT.cmp)(&rec(5, 1), &rec(6, 1)), Ordering::Less);
        assert_eq!((CNTBT.key_of)(&rec(7, 9)), rec(7, 9));
    }

    #[test]
    fn record_counts_per_block_size() {
        // v5 4 KiB: (4096 - 56) / 8 records, (4096 - 56) / 12 keys and pointers.
        assert_eq!(maxrecs(&BNOBT, 4096, true, 0), 505);
        assert_eq!(maxrecs(&BNOBT, 4096, true, 1), 336);
        assert_eq!(minrecs(&BNOBT, 4096, true, 1), 168);
        // v5 1 KiB and v4 512 bytes.
        assert_eq!(maxrecs(&CNTBT, 1024, true, 0), 121);
        assert_eq!(maxrecs(&CNTBT, 1024, true, 1), 80);
        assert_eq!(maxrecs(&CNTBT, 512, false, 0), 62);
        assert_eq!(maxrecs(&CNTBT, 512, false, 2), 41);
        assert_eq!(minrecs(&CNTBT, 512, false, 0), 31);
        // An AG of 1 << 20 blocks: at most half of them free extents.
        assert_eq!(max_levels(&BNOBT, 4096, true, 1 << 19), 3);
        assert_eq!(max_levels(&BNOBT, 512, false, 1), 1);
    }
}
