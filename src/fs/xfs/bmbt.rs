//! The write side of a data fork's block map when it outgrows the inode: a bmap btree of one
//! level (the kernel's `xfs_bmap_extents_to_btree`, then leaf splits and merges): the root
//! (`xfs_bmdr_block`, level 1, a key and pointer per leaf) in the inode, the extent records in
//! long-form leaf blocks (v5 header with its own address, owner inode, UUID, LSN and CRC),
//! chained by sibling pointers. [`XfsWriter::store_map`] keeps a map in the inode while it
//! fits; else it rewrites the leaves with the records spread evenly over as few as hold them
//! (each at least half full, as xfs_repair checks), reusing the old leaves, allocating new ones
//! near the last (counted in `di_nblocks`) and freeing the surplus; it converts back to the
//! extents format — freeing every leaf — once the map fits the inode again, as
//! `xfs_bmap_btree_to_extents` does (xfs_repair calls a btree fork with few enough extents
//! for the inode wrong). A map needing more leaves than the root holds, or a file whose tree
//! is taller already, is refused with [`Error::Unsupported`] (growing the tree a level).

use super::alloc::Within;
use super::bmap::Extent;
use super::btree::BMBT;
use super::buf::Stamp;
use super::inode::{self, Format, Inode};
use super::writer::XfsWriter;
use crate::bytes::be16;
use crate::fs::{Errno, Error, Result};

/// `NULLFSBLOCK`: no sibling.
const NULL_FSB: u64 = u64::MAX;
/// Where a v5 long-form block keeps its LSN and CRC.
const LONG_STAMP: Stamp = Stamp { lsn_off: 32, crc_off: 64 };

impl XfsWriter {
    /// One bmbt leaf block at filesystem block `fsb` holding `recs`, owned by inode `ino`,
    /// between siblings `left` and `right` ([`NULL_FSB`] for none).
    fn bmbt_leaf(&self, ino: u64, fsb: u64, left: u64, right: u64, recs: &[Extent]) -> Result<Vec<u8>> {
        let bs = self.sb.blocksize as usize;
        let byte = self.sb.fsb_to_byte(fsb, 1).ok_or_else(|| self.corrupt(format!("inode {ino}: bmbt block {fsb:#x} outside the filesystem")))?;
        let hdr = BMBT.header_len(self.sb.crc);
        let mut b = vec![0u8; bs];
        let magic = if self.sb.crc { BMBT.magic_v5 } else { BMBT.magic_v4 };
        b[0..4].copy_from_slice(&magic.to_be_bytes());
        b[6..8].copy_from_slice(&(recs.len() as u16).to_be_bytes());
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
        Ok(b)
    }

    /// Records one bmbt leaf block holds.
    fn bmbt_leaf_max(&self) -> usize {
        (self.sb.blocksize as usize - BMBT.header_len(self.sb.crc)) / 16
    }

    /// Stores `recs` as the data fork map of inode `i` (raw bytes `b`, whose current map has
    /// the btree blocks `tree`): in the inode, or in a bmap btree of one level (see the module
    /// documentation); sets the format and extent count in `b`. Returns the blocks the inode
    /// gained (new leaves) or lost (freed ones) for `di_nblocks`.
    pub(crate) fn store_map(&mut self, i: &Inode, tree: &[u64], b: &mut [u8], recs: &[Extent]) -> Result<i64> {
        let ino = i.ino;
        let level = if i.format == Format::Btree { be16(&i.data_fork, 0) } else { 0 };
        let max = self.bmbt_leaf_max();
        let room = inode::data_fork_len(&self.sb, b);
        let root_max = room.saturating_sub(4) / 16;
        let nleaves = recs.len().div_ceil(max);
        if level > 1 || nleaves > root_max {
            return Err(self.refuse(format!(
                "file {ino}: {} extents, more than its data fork holds in the inode ({}) or in a bmap btree of one level ({root_max} leaves of {max}); \
                 a taller btree (level {level} now) is not written yet",
                recs.len(),
                room / 16
            )));
        }
        if inode::set_data_extents(&self.sb, b, recs) {
            let runs: Vec<(u64, u64)> = tree.iter().map(|&l| (l, 1)).collect();
            if !runs.is_empty() {
                self.release_blocks(ino, &runs)?;
            }
            return Ok(-(tree.len() as i64));
        }
        // The leaves: the old ones in order, new ones near the last, the surplus freed.
        let mut leaves: Vec<u64> = tree.iter().copied().take(nleaves).collect();
        while leaves.len() < nleaves {
            let near = leaves.last().copied().unwrap_or_else(|| self.inode_fsb(ino));
            let l = self.alloc_bmbt_block(near)?;
            leaves.push(l);
        }
        let surplus: Vec<(u64, u64)> = tree.iter().skip(nleaves).map(|&l| (l, 1)).collect();
        if !surplus.is_empty() {
            self.release_blocks(ino, &surplus)?;
        }
        // Records spread evenly: every leaf at least half full, as xfs_repair wants.
        let mut keys = Vec::with_capacity(nleaves);
        for (k, &leaf) in leaves.iter().enumerate() {
            let chunk = &recs[k * recs.len() / nleaves..(k + 1) * recs.len() / nleaves];
            let left = if k == 0 { NULL_FSB } else { leaves[k - 1] };
            let right = leaves.get(k + 1).copied().unwrap_or(NULL_FSB);
            let block = self.bmbt_leaf(ino, leaf, left, right, chunk)?;
            let byte = self.sb.fsb_to_byte(leaf, 1).ok_or_else(|| self.corrupt(format!("inode {ino}: bmbt block {leaf:#x} outside the filesystem")))?;
            self.bufs.put(byte, block, Some(LONG_STAMP));
            keys.push(chunk.first().map_or(0, |e| e.off));
        }
        if !inode::set_data_btree_root(&self.sb, b, &keys, &leaves, recs.len() as u64) {
            return Err(self.corrupt(format!("inode {ino}: a bmbt root of {nleaves} pointers does not fit the data fork")));
        }
        Ok(nleaves as i64 - tree.len() as i64)
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
