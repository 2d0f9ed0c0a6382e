//! Offline grow of the data section: what `xfs_growfs -d` asks the kernel to do on a mounted
//! filesystem (`xfs_growfs_data_private`), done on the image.
//!
//! - The new size: the device's whole blocks unless a size is given; the last AG keeps the
//!   kernel's rule (`xfs_growfs_compute_deltas`): a tail shorter than 64 blocks
//!   (`XFS_MIN_AG_BLOCKS`) is left unused, and the AG count stays within the inode-number
//!   limit. Shrinking is refused: XFS cannot shrink (the kernel's experimental tail shrink
//!   is not offered).
//! - New AGs get their headers as `xfs_ag_init_headers` writes them: a superblock copy, an
//!   AGF whose free space is one extent after the btree roots, an empty AGFL, an AGI without
//!   inodes, and empty roots for the inode, free-inode and refcount btrees; the free-space
//!   roots hold that one extent. They lie past the old end of the filesystem and are written
//!   before the rest is committed, as the kernel writes them before its transaction: nothing
//!   reads them until the superblock says they exist. Everything that can find the filesystem
//!   damaged is read and checked before they are written.
//! - A short last AG is extended in place (`xfs_ag_extend_space`): its AGF and AGI lengths
//!   grow and the new blocks are freed into its free-space btrees, merged with free space
//!   that ends where the AG ended.
//! - Then, as one writer operation, the superblock's `dblocks`, `agcount` and `fdblocks` (and
//!   `imax_pct` when asked), and every secondary superblock rewritten from the primary
//!   (`xfs_update_secondary_sbs`).
//!
//! On an rmapbt filesystem a new AG's rmapbt root holds the reverse mappings of its headers
//! and roots; the last AG's new blocks are free space, which has none.
//!
//! Refused as the writer refuses (a dirty log, realtime, external log…): see
//! [`XfsWriter::open`].

use super::ag::{self, Agf, Layout};
use super::agfl;
use super::btree_write::{Node, NULL, STAMP as BT_STAMP};
use super::buf::Stamp;
use super::writer::XfsWriter;
use crate::disk::Dev;
use crate::fs::{Error, Result};
use std::fmt;

/// `XFS_MIN_AG_BLOCKS`: the shortest AG growfs makes.
const MIN_AG_BLOCKS: u64 = 64;
/// `XFS_MAX_AGNUMBER` + 1 (`NULLAGNUMBER` is 2^32 − 1, the largest number one below it).
const MAX_AGCOUNT: u32 = u32::MAX;

/// Empty-root magic numbers (v4, v5) of the refcount btree a new AG starts with (the other
/// trees' are their [`super::btree_write::AgTree`]s').
const REFCBT_MAGIC: (u32, u32) = (0, 0x5233_4643);

/// The data size asked for (`xfs_growfs -d`, `-D blocks`, or only `-m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// The whole device.
    Device,
    /// This many blocks.
    Blocks(u64),
    /// As it is (only `imax_pct` changes).
    Unchanged,
}

/// What a grow did, in `xfs_growfs`' terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrowReport {
    /// Block size in bytes.
    pub blocksize: u32,
    /// Data blocks before and after.
    pub blocks: (u64, u64),
    /// Allocation groups before and after.
    pub agcount: (u32, u32),
}

impl GrowReport {
    /// Whether the filesystem changed.
    pub fn changed(&self) -> bool {
        self.blocks.0 != self.blocks.1
    }
}

impl fmt::Display for GrowReport {
    /// `xfs_growfs`' closing line: "data blocks changed from A to B", or that the size is
    /// unchanged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changed() {
            write!(f, "data blocks changed from {} to {}", self.blocks.0, self.blocks.1)
        } else {
            write!(f, "data size unchanged, skipping")
        }
    }
}

/// The data size and AG count the kernel grows to when asked for `nb` blocks with AGs of
/// `agblocks` (`xfs_growfs_compute_deltas`).
pub fn new_geometry(agblocks: u32, nb: u64) -> (u64, u32) {
    let ag = u64::from(agblocks);
    let (mut count, rest) = (nb / ag, nb % ag);
    let mut nb = nb;
    if rest >= MIN_AG_BLOCKS {
        count += 1;
    } else {
        nb = count * ag;
    }
    let count = u32::try_from(count).unwrap_or(MAX_AGCOUNT);
    (nb.min(u64::from(count) * ag), count)
}

/// Grows the XFS filesystem on `dev` to `size`; sets `imax_pct` when given (`xfs_growfs -m`).
/// Nothing changes when the kernel's rule leaves the size as it is.
pub fn grow(dev: &Dev, size: Size, imax_pct: Option<u8>) -> Result<GrowReport> {
    let mut w = XfsWriter::open(dev.clone())?;
    let sb = w.superblock().clone();
    let name = dev.name();
    let resize = |msg: String| Error::Resize { dev: name.clone(), msg };
    let dev_blocks = dev.len() >> sb.blocklog;
    let asked = match size {
        Size::Device => dev_blocks,
        Size::Blocks(n) => n,
        Size::Unchanged => sb.dblocks,
    };
    if asked > dev_blocks {
        return Err(resize(format!("data size {asked} too large, maximum is {dev_blocks} (blocks of {} bytes)", sb.blocksize)));
    }
    if asked < sb.dblocks {
        return Err(resize(format!(
            "data size {asked} is smaller than the filesystem's {} blocks: XFS filesystems cannot be shrunk",
            sb.dblocks
        )));
    }
    if imax_pct.is_some_and(|p| p > 100) {
        return Err(resize(format!("imaxpct {} is not a percentage", imax_pct.unwrap_or_default())));
    }
    let (nb, agcount) = new_geometry(sb.agblocks, asked);
    let report = GrowReport { blocksize: sb.blocksize, blocks: (sb.dblocks, sb.dblocks.max(nb)), agcount: (sb.agcount, sb.agcount.max(agcount)) };
    if nb <= sb.dblocks {
        if let Some(p) = imax_pct.filter(|&p| p != sb.imax_pct) {
            w.begin();
            w.set_geometry(sb.dblocks, sb.agcount, Some(p));
            w.end(Ok(()))?;
        }
        return Ok(report);
    }
    // The checks and changes of the existing AGs first (pending), then the new AGs' headers
    // (written at once, past the end), then the commit of the pending part.
    let layout = Layout::of(&sb);
    if u64::from(layout.first_free) >= MIN_AG_BLOCKS {
        // Only when sectors are larger than blocks, which mkfs.xfs never makes.
        return Err(w.corrupt(format!("superblock: sectors of {} bytes with blocks of {}", sb.sectsize, sb.blocksize)));
    }
    w.begin();
    let r = w.grow_in_place(nb, agcount, imax_pct).and_then(|()| {
        (sb.agcount..agcount).try_for_each(|agno| {
            let len = (nb - u64::from(agno) * u64::from(sb.agblocks)).min(u64::from(sb.agblocks)) as u32;
            w.init_ag(agno, len, &layout)
        })
    });
    w.end(r)?;
    Ok(report)
}

impl XfsWriter {
    /// Writes the headers and roots of the new AG `agno` of `len` blocks (past the end of
    /// the filesystem: written at once, see the module documentation).
    fn init_ag(&mut self, agno: u32, len: u32, l: &Layout) -> Result<()> {
        let sb = self.sb.clone();
        let sect = |n: u64| self.ag_sector_byte(agno, n);
        let agf_stamp = Stamp { lsn_off: ag::AGF_LSN_OFF, crc_off: ag::AGF_CRC_OFF };
        let agi_stamp = Stamp { lsn_off: ag::AGI_LSN_OFF, crc_off: ag::AGI_CRC_OFF };
        let writes = [
            (sect(1), Agf::new_sector(&sb, agno, len, l), Some(agf_stamp)),
            (sect(2), ag::new_agi_sector(&sb, agno, len, l), Some(agi_stamp)),
            (sect(3), agfl::new_sector(sb.sectsize, sb.crc, agno, &sb.meta_uuid), Some(agfl::STAMP)),
        ];
        for (off, b, stamp) in writes {
            self.bufs.write_now(off, b, stamp)?;
        }
        let free = super::alloc::rec(l.first_free, len - l.first_free);
        let with_free = |level: u16| Node { level, left: NULL, right: NULL, items: vec![free.clone()], ptrs: Vec::new() };
        let empty = Node { level: 0, left: NULL, right: NULL, items: Vec::new(), ptrs: Vec::new() };
        let (bt, ct, it, ft) = (super::btree_write::BNOBT, super::btree_write::CNTBT, super::btree_write::INOBT, super::btree_write::FINOBT);
        let roots = [
            (Some(l.bno), (bt.magic_v4, bt.magic_v5), with_free(0)),
            (Some(l.cnt), (ct.magic_v4, ct.magic_v5), with_free(0)),
            (Some(l.ino), (it.magic_v4, it.magic_v5), empty.clone()),
            (l.fino, (ft.magic_v4, ft.magic_v5), empty.clone()),
            (l.refc, REFCBT_MAGIC, empty),
        ];
        let hdr = super::btree_write::header_len(sb.crc);
        for (bno, magic, node) in roots {
            let Some(bno) = bno else { continue };
            let mut b = self.bt_block(if sb.crc { magic.1 } else { magic.0 }, agno, bno, &node);
            for (i, r) in node.items.iter().enumerate() {
                b[hdr + 8 * i..hdr + 8 * (i + 1)].copy_from_slice(r);
            }
            self.bufs.write_now(self.ag_byte(agno, bno), b, Some(BT_STAMP))?;
        }
        if let Some(root) = l.rmap {
            // The reverse mappings of the headers and roots (`xfs_rmaproot_init`): the
            // headers the filesystem's, the free-space and rmap roots the AG's, the inode
            // roots the inode btrees', the refcount root its own; runs of one owner merged.
            use super::rmap_rec::{Owner, RmapRec, OWN_AG, OWN_FS, OWN_INOBT, OWN_REFC};
            let owner_of = |b: u32| {
                if b < l.bno {
                    OWN_FS
                } else if b == l.ino || Some(b) == l.fino {
                    OWN_INOBT
                } else if Some(b) == l.refc {
                    OWN_REFC
                } else {
                    OWN_AG
                }
            };
            let mut recs: Vec<RmapRec> = Vec::new();
            for b in 0..l.first_free {
                let o = Owner::special(owner_of(b));
                match recs.last_mut() {
                    Some(r) if r.owner == o.owner => r.len += 1,
                    _ => recs.push(RmapRec { start: b, len: 1, owner: o.owner, off: 0, flags: 0 }),
                }
            }
            let node = Node { level: 0, left: NULL, right: NULL, items: recs.iter().map(RmapRec::encode).collect(), ptrs: Vec::new() };
            let t = super::btree_write::RMAPBT;
            let mut b = self.bt_block(if sb.crc { t.magic_v5 } else { t.magic_v4 }, agno, root, &node);
            for (i, r) in node.items.iter().enumerate() {
                b[hdr + t.rec_len * i..hdr + t.rec_len * (i + 1)].copy_from_slice(r);
            }
            self.bufs.write_now(self.ag_byte(agno, root), b, Some(BT_STAMP))?;
        }
        Ok(())
    }

    /// The transactional part of a grow (inside `begin`/`end`): the last AG extended and
    /// its new blocks freed, then the superblock geometry and free count.
    fn grow_in_place(&mut self, nb: u64, agcount: u32, imax_pct: Option<u8>) -> Result<()> {
        let (old_count, agblocks) = (self.sb.agcount, self.sb.agblocks);
        let last = old_count - 1;
        let old_len = self.ag_len(last);
        let new_len = (nb - u64::from(last) * u64::from(agblocks)).min(u64::from(agblocks)) as u32;
        let added_ags: u64 = (old_count..agcount)
            .map(|agno| {
                let len = (nb - u64::from(agno) * u64::from(agblocks)).min(u64::from(agblocks));
                len - u64::from(Layout::of(&self.sb).first_free)
            })
            .sum();
        if new_len > old_len {
            // Read (and check) the last AG's headers while the superblock still has its size.
            let ext = new_len - old_len;
            self.agf(last)?.length = new_len;
            self.agi(last)?.length = new_len;
            self.set_geometry(nb, agcount, imax_pct);
            self.fix_freelist(last, true)?;
            self.free_in_trees(last, old_len, ext)?;
            self.fdblocks += u64::from(ext);
        } else {
            self.set_geometry(nb, agcount, imax_pct);
        }
        self.fdblocks += added_ags;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::new_geometry;

    #[test]
    fn kernel_rule_for_the_last_ag() {
        // Whole AGs, a tail of at least 64 blocks kept, a shorter one dropped.
        assert_eq!(new_geometry(1000, 4000), (4000, 4));
        assert_eq!(new_geometry(1000, 4064), (4064, 5));
        assert_eq!(new_geometry(1000, 4063), (4000, 4));
        assert_eq!(new_geometry(1000, 3500), (3500, 4));
        // The AG count is capped at XFS_MAX_AGNUMBER + 1.
        assert_eq!(new_geometry(64, u64::MAX), (u64::from(u32::MAX) * 64, u32::MAX));
    }
}
