//! Changing one run of a data fork's block map (the part of `xfs_bmapi_write` and
//! `__xfs_bunmapi` a directory needs: one directory block mapped or unmapped): the new map
//! is stored by the one bmap writer, [`super::bmbt`] (in the inode, or a bmap btree of any
//! height); the inode's extent count, `di_nblocks` and `di_size` follow.

use super::bmap::{self, Extent};
use super::bunmap::TreeSrc;
use super::inode;
use super::writer::XfsWriter;
use crate::fs::Result;

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

}

impl XfsWriter {
    /// Applies `change` to the data fork of inode `ino`, sets `di_size` to `size` and
    /// `di_nblocks` up or down by the blocks mapped or unmapped (and the bmap btree blocks
    /// gained or freed); returns the new map. The map is stored by
    /// [`XfsWriter::store_map`]: in the inode while it fits, else in a bmap btree.
    pub(crate) fn fork_remap(&mut self, ino: u64, change: Remap, size: u64) -> Result<Vec<Extent>> {
        let (ioff, mut iblk, at, core) = self.inode_in_use(ino)?;
        let (map, tree) = bmap::map_and_tree(&TreeSrc { w: self }, ino, core.format, &core.data_fork, core.nextents)?;
        let counted = core.nblocks;
        let bad = |w: &XfsWriter| w.corrupt(format!("inode {ino}: {counted} blocks counted"));
        let nblocks = match change {
            Remap::Map(e) => counted.checked_add(e.count),
            Remap::Unmap { count, .. } => counted.checked_sub(count),
        };
        let Some(nblocks) = nblocks else { return Err(bad(self)) };
        let full = change.apply(&map);
        let b = &mut iblk[at..at + usize::from(self.sb.inodesize)];
        let delta = self.store_map(&core, &map, &tree, b, &full)?;
        let Some(nblocks) = nblocks.checked_add_signed(delta) else { return Err(bad(self)) };
        inode::set_size_blocks(b, size, nblocks);
        inode::seal(&self.sb, b, self.bufs.lsn());
        self.bufs.put(ioff, iblk, None);
        Ok(full)
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
    }
}
