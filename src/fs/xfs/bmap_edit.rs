//! Changing one run of a data fork's block map in place (the part of `xfs_bmapi_write` and
//! `__xfs_bunmapi` a directory needs: one directory block mapped or unmapped): in extents
//! format the records in the inode are rewritten; in btree format with the root in the inode
//! one level above its leaves (`xfs_bmdr_block`: level 1), the one leaf covering the run is
//! rewritten (`xfs_btree_block` long form: BMA3/BMAP) and the root's key for it follows its
//! first record. The inode's extent count, `di_nblocks` and `di_size` follow.
//!
//! An extents fork that outgrows the inode becomes a btree of one leaf
//! (`xfs_bmap_extents_to_btree`). Refused with [`crate::fs::Error::Unsupported`] by name: a
//! deeper bmap btree, a leaf that would split or empty.

use super::bmap::{self, Extent};
use super::btree::BMBT;
use super::buf::Stamp;
use super::bunmap::TreeSrc;
use super::inode::{self, Format, Inode};
use super::writer::XfsWriter;
use crate::bytes::{be16, be64};
use crate::fs::Result;

/// Where a v5 long-form btree block keeps its LSN and CRC.
const LSTAMP: Stamp = Stamp { lsn_off: 32, crc_off: 64 };

/// A change to a block map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Remap {
    /// Map this extent (its file blocks unmapped before).
    Map(Extent),
    /// Unmap `count` file blocks from `off`.
    Unmap { off: u64, count: u64 },
}

impl Remap {
    fn apply(&self, recs: &[Extent]) -> Vec<Extent> {
        match *self {
            Remap::Map(e) => bmap::insert(recs, e),
            Remap::Unmap { off, count } => bmap::punch(recs, off, count),
        }
    }

    fn off(&self) -> u64 {
        match *self {
            Remap::Map(e) => e.off,
            Remap::Unmap { off, .. } => off,
        }
    }
}

impl XfsWriter {
    /// Applies `change` to the data fork of inode `ino`, sets `di_size` to `size` and
    /// `di_nblocks` up or down by the blocks mapped or unmapped; returns the new map. A btree
    /// fork whose extents then fit the inode goes back to extents format, its leaves freed
    /// (`xfs_bmap_btree_to_extents`; xfs_repair refuses a btree fork that would fit).
    pub(crate) fn fork_remap(&mut self, ino: u64, change: Remap, size: u64) -> Result<Vec<Extent>> {
        let (ioff, mut iblk, at) = self.inode_block(ino)?;
        let n = usize::from(self.sb.inodesize);
        let core = Inode::parse(&self.sb, ino, &iblk[at..at + n]).map_err(|m| self.corrupt(m))?;
        let map = bmap::extents(&TreeSrc { w: self }, ino, core.format, &core.data_fork, core.nextents)?;
        let bad = || self.corrupt(format!("inode {ino}: {} blocks counted", core.nblocks));
        let nblocks = match change {
            Remap::Map(e) => core.nblocks.checked_add(e.count).ok_or_else(bad)?,
            Remap::Unmap { count, .. } => core.nblocks.checked_sub(count).ok_or_else(bad)?,
        };
        let full = change.apply(&map);
        let b = &mut iblk[at..at + n];
        match core.format {
            Format::Btree if full.len() * 16 <= core.data_fork.len() => {
                let (_, tree) = bmap::map_and_tree(&TreeSrc { w: self }, ino, core.format, &core.data_fork, core.nextents)?;
                let recs: Vec<u8> = full.iter().flat_map(|e| e.encode()).collect();
                let left = nblocks.checked_sub(tree.len() as u64).ok_or_else(bad)?;
                if !inode::set_extents(&self.sb, b, &recs, left, size) {
                    return Err(self.corrupt(format!("inode {ino}: {} extents do not fit where they should", full.len())));
                }
                inode::seal(&self.sb, b, self.bufs.lsn());
                self.bufs.put(ioff, iblk, None);
                let mask = (1u64 << self.sb.agblklog) - 1;
                for fsb in tree {
                    self.free_in_ag((fsb >> self.sb.agblklog) as u32, (fsb & mask) as u32, 1)?;
                }
                return Ok(full);
            }
            Format::Extents => {
                let recs: Vec<u8> = full.iter().flat_map(|e| e.encode()).collect();
                if !inode::set_extents(&self.sb, b, &recs, nblocks, size) {
                    // Out of the inode: a bmap btree of one leaf (`xfs_bmap_extents_to_btree`).
                    let leaf = self.bmbt_new_leaf(ino, &full)?;
                    let (_, mut iblk, at) = self.inode_block(ino)?;
                    let b = &mut iblk[at..at + n];
                    if !inode::set_btree_root(&self.sb, b, full.first().map_or(0, |e| e.off), leaf, full.len() as u64, nblocks + 1, size) {
                        return Err(self.corrupt(format!("inode {ino}: no room for a bmap btree root in its data fork")));
                    }
                    inode::seal(&self.sb, b, self.bufs.lsn());
                    self.bufs.put(ioff, iblk, None);
                    return Ok(full);
                }
            }
            Format::Btree => {
                let nextents = self.bmbt_remap(ino, &core.data_fork, b, change)?;
                inode::set_data_counts(&self.sb, b, nextents, nblocks, size);
            }
            f => return Err(self.corrupt(format!("inode {ino}: data fork format {f:?} has no block map"))),
        }
        inode::seal(&self.sb, b, self.bufs.lsn());
        self.bufs.put(ioff, iblk, None);
        let (_, iblk, at) = self.inode_block(ino)?;
        let core = Inode::parse(&self.sb, ino, &iblk[at..at + n]).map_err(|m| self.corrupt(m))?;
        bmap::extents(&TreeSrc { w: self }, ino, core.format, &core.data_fork, core.nextents)
    }

    /// A new bmap btree leaf holding `recs` (all of inode `ino`'s extents), allocated near
    /// the inode: its filesystem block.
    fn bmbt_new_leaf(&mut self, ino: u64, recs: &[Extent]) -> Result<u64> {
        let bs = self.sb.blocksize as usize;
        let hdr = if self.sb.crc { 72 } else { 24 };
        if recs.is_empty() || recs.len() > (bs - hdr) / 16 {
            return Err(self.unsupported(format!("inode {ino}: a bmap btree of more than one leaf is not written yet")));
        }
        let (agno, agino) = self.ino_split(ino)?;
        let mut got = self.alloc_block_near(agno, agino >> self.sb.inopblog)?.map(|b| (agno, b));
        for a in (0..self.sb.agcount).filter(|&a| a != agno) {
            if got.is_some() {
                break;
            }
            got = self.alloc_within(a, 1, 1, None)?.map(|(b, _)| (a, b));
        }
        let (agno, bno) = got.ok_or(crate::fs::Error::Os(crate::fs::Errno::NoSpace))?;
        let fsb = (u64::from(agno) << self.sb.agblklog) | u64::from(bno);
        let off = self.sb.fsb_to_byte(fsb, 1).ok_or_else(|| self.corrupt(format!("allocated block {fsb:#x} outside the filesystem")))?;
        let mut b = vec![0u8; bs];
        let magic = if self.sb.crc { BMBT.magic_v5 } else { BMBT.magic_v4 };
        b[0..4].copy_from_slice(&magic.to_be_bytes());
        b[6..8].copy_from_slice(&(recs.len() as u16).to_be_bytes());
        b[8..24].fill(0xff);
        if self.sb.crc {
            b[24..32].copy_from_slice(&(off >> 9).to_be_bytes());
            b[40..56].copy_from_slice(&self.sb.meta_uuid);
            b[56..64].copy_from_slice(&ino.to_be_bytes());
        }
        for (r, e) in recs.iter().enumerate() {
            b[hdr + 16 * r..hdr + 16 * r + 16].copy_from_slice(&e.encode());
        }
        self.bufs.put(off, b, Some(LSTAMP));
        Ok(fsb)
    }

    /// [`XfsWriter::fork_remap`] for a btree fork whose root (`fork`, the inode's copy) is at
    /// level 1: the leaf covering the change rewritten, its key in `ib` (the inode's bytes)
    /// updated. Returns the fork's new extent count.
    fn bmbt_remap(&mut self, ino: u64, fork: &[u8], ib: &mut [u8], change: Remap) -> Result<u64> {
        let unsupported = |m: &str| self.unsupported(format!("inode {ino}: {m} in its bmap btree is not written yet"));
        if fork.len() < 20 {
            return Err(self.corrupt(format!("inode {ino}: a bmap btree root in a fork of {} bytes", fork.len())));
        }
        let (level, nrecs) = (be16(fork, 0), usize::from(be16(fork, 2)));
        let maxr = (fork.len() - 4) / 16;
        if level != 1 {
            return Err(unsupported(&format!("changing a tree of {} levels", level + 1)));
        }
        if nrecs == 0 || nrecs > maxr {
            return Err(self.corrupt(format!("inode {ino}: bmap btree root with {nrecs} entries")));
        }
        let keys: Vec<u64> = (0..nrecs).map(|i| be64(fork, 4 + 8 * i)).collect();
        let i = keys.iter().rposition(|&k| k <= change.off()).unwrap_or(0);
        let ptr = be64(fork, 4 + 8 * maxr + 8 * i);
        let bs = self.sb.blocksize as usize;
        let off = self.sb.fsb_to_byte(ptr, 1).ok_or_else(|| self.corrupt(format!("inode {ino}: bmap btree block {ptr:#x} outside the filesystem")))?;
        let mut b = self.bufs.read(off, bs)?;
        let hdr = if self.sb.crc { 72 } else { 24 };
        let magic = crate::bytes::be32(&b, 0);
        let count = usize::from(be16(&b, 6));
        let leaf_max = (bs - hdr) / 16;
        if magic != if self.sb.crc { BMBT.magic_v5 } else { BMBT.magic_v4 } || be16(&b, 4) != 0 || count > leaf_max {
            return Err(self.corrupt(format!("inode {ino}: bmap btree leaf {ptr:#x}: magic {magic:#x}, {count} records")));
        }
        let recs: Vec<Extent> = (0..count).map(|r| Extent::decode(&b[hdr + 16 * r..hdr + 16 * r + 16])).collect();
        let new = change.apply(&recs);
        if new.is_empty() {
            return Err(unsupported("removing a leaf"));
        }
        if new.len() > leaf_max {
            return Err(unsupported("splitting a leaf"));
        }
        b[hdr..].fill(0);
        for (r, e) in new.iter().enumerate() {
            b[hdr + 16 * r..hdr + 16 * r + 16].copy_from_slice(&e.encode());
        }
        b[6..8].copy_from_slice(&(new.len() as u16).to_be_bytes());
        self.bufs.put(off, b, Some(LSTAMP));
        let core = inode::core_len(&self.sb);
        let kat = core + 4 + 8 * i;
        ib[kat..kat + 8].copy_from_slice(&new[0].off.to_be_bytes());
        let total = inode::data_nextents(&self.sb, ib);
        (total + new.len() as u64).checked_sub(count as u64).ok_or_else(|| self.corrupt(format!("inode {ino}: {total} extents counted, a leaf holds {count}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaps() {
        let e = |off, block, count| Extent { off, block, count, unwritten: false };
        let m = [e(0, 100, 4)];
        assert_eq!(Remap::Unmap { off: 1, count: 1 }.apply(&m), vec![e(0, 100, 1), e(2, 102, 2)]);
        assert_eq!(Remap::Map(e(4, 104, 2)).apply(&m), vec![e(0, 100, 6)]);
        assert_eq!(Remap::Map(e(9, 1, 1)).off(), 9);
    }
}
