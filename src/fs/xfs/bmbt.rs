//! The write side of a data fork's block map when it outgrows the inode: a bmap btree (the
//! kernel's `xfs_bmap_extents_to_btree`, then its splits, merges, new and killed roots): the
//! root (`xfs_bmdr_block`: level, a key and pointer per child) in the inode, the extent records
//! in long-form leaf blocks and the keys and pointers of higher levels in long-form interior
//! blocks (v5 header with its own address, owner inode, UUID, LSN and CRC), each level
//! chained by sibling pointers. [`XfsWriter::store_map`] keeps a map in the inode while it
//! fits; else it rebuilds the tree as low as the root allows, each level's entries spread
//! evenly over as few blocks as hold them (each at least half full, as xfs_repair checks),
//! reusing the old tree's blocks, allocating new ones near the last (counted in `di_nblocks`)
//! and freeing the surplus; it converts back to the extents format — freeing the tree — once
//! the map fits the inode again, as `xfs_bmap_btree_to_extents` does (xfs_repair calls a
//! btree fork with few enough extents for the inode wrong). Rewriting every block of the
//! tree per change costs a write of the whole map: fine for the thousands of extents a
//! guest's fragmented file has, not meant for millions.

use super::alloc::Within;
use super::bmap::Extent;
use super::btree::{BMBT, MAX_HEIGHT};
use super::buf::Stamp;
use super::inode::{self, Inode};
use super::writer::XfsWriter;
use crate::fs::{Errno, Error, Result};

/// `NULLFSBLOCK`: no sibling.
const NULL_FSB: u64 = u64::MAX;
/// Where a v5 long-form block keeps its LSN and CRC.
const LONG_STAMP: Stamp = Stamp { lsn_off: 32, crc_off: 64 };

impl XfsWriter {
    /// One bmbt block at filesystem block `fsb` at `level`, owned by inode `ino`, between
    /// siblings `left` and `right` ([`NULL_FSB`] for none): a leaf holding the records
    /// `recs`, or an interior block with `(first key, child)` pairs `items` (keys first, then
    /// pointers after room for the most keys).
    fn bmbt_block(&self, ino: u64, fsb: u64, level: u16, (left, right): (u64, u64), recs: &[Extent], items: &[(u64, u64)]) -> Result<Vec<u8>> {
        let bs = self.sb.blocksize as usize;
        let byte = self.sb.fsb_to_byte(fsb, 1).ok_or_else(|| self.corrupt(format!("inode {ino}: bmbt block {fsb:#x} outside the filesystem")))?;
        let hdr = BMBT.header_len(self.sb.crc);
        let mut b = vec![0u8; bs];
        let magic = if self.sb.crc { BMBT.magic_v5 } else { BMBT.magic_v4 };
        b[0..4].copy_from_slice(&magic.to_be_bytes());
        b[4..6].copy_from_slice(&level.to_be_bytes());
        b[6..8].copy_from_slice(&((recs.len() + items.len()) as u16).to_be_bytes());
        b[8..16].copy_from_slice(&left.to_be_bytes());
        b[16..24].copy_from_slice(&right.to_be_bytes());
        if self.sb.crc {
            b[24..32].copy_from_slice(&(byte >> 9).to_be_bytes());
            b[40..56].copy_from_slice(&self.sb.meta_uuid);
            b[56..64].copy_from_slice(&ino.to_be_bytes());
        }
        for (k, e) in recs.iter().enumerate() {
            b[hdr + 16 * k..hdr + 16 * (k + 1)].copy_from_slice(&e.encode());
        }
        let ptrs = hdr + 8 * self.bmbt_block_max();
        for (k, &(key, ptr)) in items.iter().enumerate() {
            b[hdr + 8 * k..hdr + 8 * (k + 1)].copy_from_slice(&key.to_be_bytes());
            b[ptrs + 8 * k..ptrs + 8 * (k + 1)].copy_from_slice(&ptr.to_be_bytes());
        }
        Ok(b)
    }

    /// Records (16 bytes) or key and pointer pairs (8 + 8) one bmbt block holds.
    fn bmbt_block_max(&self) -> usize {
        (self.sb.blocksize as usize - BMBT.header_len(self.sb.crc)) / 16
    }

    /// Stores `recs` as the data fork map of inode `i` (raw bytes `b`, whose current map `old`
    /// has the btree blocks `tree`): in the inode, or in a bmap btree rebuilt as low as it can
    /// be (see the module documentation); sets the format and extent count in `b`. Returns the
    /// blocks the inode gained (new btree blocks) or lost (freed ones) for `di_nblocks`. On an
    /// rmapbt filesystem the reverse mappings of the extents and bmbt blocks follow
    /// ([`XfsWriter::rmap_fork_change`]).
    pub(crate) fn store_map(&mut self, i: &Inode, old: &[Extent], tree: &[u64], b: &mut [u8], recs: &[Extent]) -> Result<i64> {
        self.store_fork_map(i, false, old, tree, b, recs)
    }

    /// [`XfsWriter::store_map`] for either fork: `attr` stores the attribute fork's map (its
    /// fork must exist: `di_forkoff` set), in its extents format while it fits, else in a
    /// bmap btree rooted in the attribute fork, as `xfs_bmap_extents_to_btree` does for
    /// either fork.
    pub(crate) fn store_fork_map(&mut self, i: &Inode, attr: bool, old: &[Extent], tree: &[u64], b: &mut [u8], recs: &[Extent]) -> Result<i64> {
        let ino = i.ino;
        let encoded: Vec<[u8; 16]> = recs.iter().map(Extent::encode).collect();
        let nrext64 = self.sb.crc && crate::bytes::be64(b, 120) & inode::DIFLAG2_NREXT64 != 0;
        if attr && !nrext64 && recs.len() > usize::from(u16::MAX) {
            return Err(self.refuse(format!("file {ino}: {} attribute fork extents (more than di_anextents counts)", recs.len())));
        }
        let in_inode = if attr { inode::set_attr_extents(&self.sb, b, &encoded) } else { inode::set_data_extents(&self.sb, b, &encoded) };
        if in_inode {
            // Reverse mappings first: a freed block must have none left when it is reused.
            self.rmap_fork_change(ino, attr, old, recs, tree, &[])?;
            let runs: Vec<(u64, u64)> = tree.iter().map(|&l| (l, 1)).collect();
            if !runs.is_empty() {
                self.release_blocks(ino, &runs)?;
            }
            return Ok(-(tree.len() as i64));
        }
        // Blocks per level, leaves first, until the root in the inode holds the top level.
        let max = self.bmbt_block_max();
        let fork_len = if attr { inode::attr_fork_range(&self.sb, b).map_or(0, |(_, len)| len) } else { inode::data_fork_len(&self.sb, b) };
        let root_max = fork_len.saturating_sub(4) / 16;
        if root_max == 0 {
            return Err(self.refuse(format!("file {ino}: no room for a bmap btree root in the fork")));
        }
        let mut counts = vec![recs.len().div_ceil(max)];
        while let Some(&top) = counts.last().filter(|&&n| n > root_max) {
            if counts.len() + 1 >= usize::from(MAX_HEIGHT) || max < 2 {
                return Err(self.refuse(format!("file {ino}: {} extents need a bmap btree taller than {MAX_HEIGHT} levels", recs.len())));
            }
            counts.push(top.div_ceil(max));
        }
        // The blocks: the old ones, new ones near the last, the surplus freed.
        let total: usize = counts.iter().sum();
        let mut pool: Vec<u64> = tree.iter().copied().take(total).collect();
        while pool.len() < total {
            let near = pool.last().copied().unwrap_or_else(|| self.inode_fsb(ino));
            let l = self.alloc_bmbt_block(near)?;
            pool.push(l);
        }
        self.rmap_fork_change(ino, attr, old, recs, tree, &pool)?;
        let surplus: Vec<(u64, u64)> = tree.iter().skip(total).map(|&l| (l, 1)).collect();
        if !surplus.is_empty() {
            self.release_blocks(ino, &surplus)?;
        }
        // Level by level, entries spread evenly: every block at least half full, as
        // xfs_repair wants; each level's (first key, block) pairs feed the one above.
        let mut items: Vec<(u64, u64)> = Vec::new();
        let mut blocks = pool.into_iter();
        for (level, &n) in counts.iter().enumerate() {
            let here: Vec<u64> = blocks.by_ref().take(n).collect();
            let below = if level == 0 { recs.len() } else { items.len() };
            let mut up = Vec::with_capacity(n);
            for (k, &fsb) in here.iter().enumerate() {
                let (from, to) = (k * below / n, (k + 1) * below / n);
                let sib = (if k == 0 { NULL_FSB } else { here[k - 1] }, here.get(k + 1).copied().unwrap_or(NULL_FSB));
                let (block, key) = if level == 0 {
                    (self.bmbt_block(ino, fsb, 0, sib, &recs[from..to], &[])?, recs[from].off)
                } else {
                    (self.bmbt_block(ino, fsb, level as u16, sib, &[], &items[from..to])?, items[from].0)
                };
                let byte = self.sb.fsb_to_byte(fsb, 1).ok_or_else(|| self.corrupt(format!("inode {ino}: bmbt block {fsb:#x} outside the filesystem")))?;
                self.bufs.put(byte, block, Some(LONG_STAMP));
                up.push((key, fsb));
            }
            items = up;
        }
        let rooted = if attr {
            inode::set_attr_btree_root(&self.sb, b, counts.len() as u16, &items, recs.len() as u64)
        } else {
            inode::set_data_btree_root(&self.sb, b, counts.len() as u16, &items, recs.len() as u64)
        };
        if !rooted {
            return Err(self.corrupt(format!("inode {ino}: a bmbt root of {} pointers does not fit the data fork", items.len())));
        }
        Ok(total as i64 - tree.len() as i64)
    }

    /// The filesystem block holding inode `ino`.
    fn inode_fsb(&self, ino: u64) -> u64 {
        let agno = ino >> (self.sb.agblklog + self.sb.inopblog);
        (agno << self.sb.agblklog) | ((ino >> self.sb.inopblog) & ((1u64 << self.sb.agblklog) - 1))
    }

    /// A block for a bmbt leaf near filesystem block `near` (in its AG), else in any AG with
    /// space.
    fn alloc_bmbt_block(&mut self, near: u64) -> Result<u64> {
        let agno = ((near >> self.sb.agblklog) as u32).min(self.sb.agcount.saturating_sub(1));
        let at = (near & ((1u64 << self.sb.agblklog) - 1)) as u32;
        for k in 0..self.sb.agcount {
            let a = (agno + k) % self.sb.agcount;
            let place = (k == 0).then_some((at, Within::ANY));
            if let Some((bno, _)) = self.alloc_within(a, 1, 1, place)? {
                return Ok((u64::from(a) << self.sb.agblklog) | u64::from(bno));
            }
        }
        Err(Error::Os(Errno::NoSpace))
    }
}
