//! The write side of a data fork's block map when it outgrows the inode: a bmap btree of one
//! leaf (the kernel's `xfs_bmap_extents_to_btree`): the root (`xfs_bmdr_block`, level 1, one
//! key and pointer) in the inode, every extent record in one long-form leaf block (v5 header
//! with its own address, owner inode, UUID, LSN and CRC). [`XfsWriter::store_map`] keeps a
//! map in the inode while it fits, in the one leaf while that holds it (allocated near the
//! inode on conversion and counted in `di_nblocks`), and converts back to the extents format
//! — freeing the leaf — once it fits the inode again, as `xfs_bmap_btree_to_extents` does
//! (xfs_repair calls a btree fork with few enough extents for the inode wrong). A map a leaf
//! cannot hold (the leaf split) or a taller tree is refused with [`Error::Unsupported`].

use super::alloc::Within;
use super::bmap::Extent;
use super::btree::BMBT;
use super::buf::Stamp;
use super::inode::{self, Inode};
use super::writer::XfsWriter;
use crate::fs::{Errno, Error, Result};

/// `NULLFSBLOCK`: no sibling.
const NULL_FSB: u64 = u64::MAX;
/// Where a v5 long-form block keeps its LSN and CRC.
const LONG_STAMP: Stamp = Stamp { lsn_off: 32, crc_off: 64 };

impl XfsWriter {
    /// One bmbt leaf block at filesystem block `fsb` holding `recs`, owned by inode `ino`.
    fn bmbt_leaf(&self, ino: u64, fsb: u64, recs: &[Extent]) -> Result<Vec<u8>> {
        let bs = self.sb.blocksize as usize;
        let byte = self.sb.fsb_to_byte(fsb, 1).ok_or_else(|| self.corrupt(format!("inode {ino}: bmbt block {fsb:#x} outside the filesystem")))?;
        let hdr = BMBT.header_len(self.sb.crc);
        let mut b = vec![0u8; bs];
        let magic = if self.sb.crc { BMBT.magic_v5 } else { BMBT.magic_v4 };
        b[0..4].copy_from_slice(&magic.to_be_bytes());
        b[6..8].copy_from_slice(&(recs.len() as u16).to_be_bytes());
        b[8..16].copy_from_slice(&NULL_FSB.to_be_bytes());
        b[16..24].copy_from_slice(&NULL_FSB.to_be_bytes());
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
    /// the btree blocks `tree`): in the inode, or in a one-leaf bmap btree (see the module
    /// documentation); sets the format and extent count in `b`. Returns the blocks the inode
    /// gained (a new leaf: 1) or lost (a freed one: -1) for `di_nblocks`.
    pub(crate) fn store_map(&mut self, i: &Inode, tree: &[u64], b: &mut [u8], recs: &[Extent]) -> Result<i64> {
        let ino = i.ino;
        let max = self.bmbt_leaf_max();
        let room = inode::data_fork_len(&self.sb, b) / 16;
        if tree.len() > 1 || recs.len() > max {
            return Err(self.refuse(format!(
                "file {ino}: {} extents in a map of {} bmbt blocks, more than its data fork holds in the inode ({room}) or in one bmap btree leaf ({max}); btree splits and merges are not written yet",
                recs.len(),
                tree.len()
            )));
        }
        if inode::set_data_extents(&self.sb, b, recs) {
            if let [leaf] = tree {
                self.release_blocks(ino, &[(*leaf, 1)])?;
                return Ok(-1);
            }
            return Ok(0);
        }
        let (leaf, delta) = match tree {
            [leaf] => (*leaf, 0),
            _ => (self.alloc_bmbt_block(ino)?, 1),
        };
        let block = self.bmbt_leaf(ino, leaf, recs)?;
        let byte = self.sb.fsb_to_byte(leaf, 1).ok_or_else(|| self.corrupt(format!("inode {ino}: bmbt block {leaf:#x} outside the filesystem")))?;
        self.bufs.put(byte, block, Some(LONG_STAMP));
        let first = recs.first().map_or(0, |e| e.off);
        if !inode::set_data_btree_root(&self.sb, b, first, leaf, recs.len() as u64) {
            return Err(self.corrupt(format!("inode {ino}: a bmbt root does not fit the data fork")));
        }
        Ok(delta)
    }

    /// A block for inode `ino`'s bmbt leaf: near the inode, else in any AG with space.
    fn alloc_bmbt_block(&mut self, ino: u64) -> Result<u64> {
        let shift = self.sb.agblklog + self.sb.inopblog;
        let agno = (ino >> shift) as u32;
        let near = ((ino >> self.sb.inopblog) & ((1u64 << self.sb.agblklog) - 1)) as u32;
        for k in 0..self.sb.agcount {
            let a = (agno + k) % self.sb.agcount;
            let place = (k == 0).then_some((near, Within::ANY));
            if let Some((bno, _)) = self.alloc_within(a, 1, 1, place)? {
                return Ok((u64::from(a) << self.sb.agblklog) | u64::from(bno));
            }
        }
        Err(Error::Os(Errno::NoSpace))
    }
}
