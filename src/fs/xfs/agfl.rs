//! The AG free list (AGFL, sector 3 of each AG): a circular array of AG block numbers kept in
//! reserve for the free-space btrees, so that splitting them never has to allocate from the
//! trees being changed. The AGF says where the used part starts and ends (`flfirst`,
//! `fllast`, `flcount`). v5 has a header (magic `XAFL`, sequence number, UUID, LSN, CRC: 36
//! bytes) and, as the kernel's `XFS_AGFL_SIZE`, (sector size − 36) / 4 slots; v4 has sector
//! size / 4 and no header.
//!
//! [`XfsWriter::fix_freelist`] mirrors `xfs_alloc_fix_freelist`: before an allocation or a
//! free, trim the list to the minimum (blocks go back to the free-space btrees) or refill it
//! from them (a by-size allocation whose blocks go onto the list; the btree changes that
//! allocation makes take their own blocks from the list — the kernel's recursion, which the
//! minimum leaves room for).

use super::btree_write::{max_levels, BNOBT, RMAPBT};
use super::rmap_rec::{Owner, OWN_AG};
use super::buf::Stamp;
use super::writer::XfsWriter;
use crate::bytes::be32;
use crate::fs::{Errno, Error, Result};

const XAFL: u32 = 0x5841_464c;
const V5_HEADER: usize = 36;
/// v5 AGFL header: LSN and CRC offsets.
pub(crate) const STAMP: Stamp = Stamp { lsn_off: 24, crc_off: 32 };

/// Slots of the AGFL (`XFS_AGFL_SIZE`).
pub fn agfl_size(sectsize: u16, crc: bool) -> u32 {
    (u32::from(sectsize) - if crc { V5_HEADER as u32 } else { 0 }) / 4
}

/// The AGFL sector of a new AG: every slot `NULLAGBLOCK` (`xfs_agflblock_init`); on v5 the
/// header (LSN and CRC stamped when written).
pub fn new_sector(sectsize: u16, crc: bool, agno: u32, meta_uuid: &[u8; 16]) -> Vec<u8> {
    let mut b = vec![0xffu8; usize::from(sectsize)];
    if crc {
        b[..V5_HEADER].fill(0);
        b[0..4].copy_from_slice(&XAFL.to_be_bytes());
        b[4..8].copy_from_slice(&agno.to_be_bytes());
        b[8..24].copy_from_slice(meta_uuid);
    }
    b
}

impl XfsWriter {
    fn agfl_slots(&self) -> (usize, u32) {
        (if self.sb.crc { V5_HEADER } else { 0 }, agfl_size(self.sb.sectsize, self.sb.crc))
    }

    /// The AGFL sector of `agno`, checked.
    fn agfl_read(&mut self, agno: u32) -> Result<Vec<u8>> {
        let off = self.ag_sector_byte(agno, 3);
        let b = self.bufs.read(off, usize::from(self.sb.sectsize))?;
        if self.sb.crc {
            if be32(&b, 0) != XAFL || be32(&b, 4) != agno {
                return Err(self.corrupt(format!("AGFL of AG {agno}: bad magic or sequence number")));
            }
            if b[8..24] != self.sb.meta_uuid {
                return Err(self.corrupt(format!("AGFL of AG {agno}: UUID of another filesystem")));
            }
            if !super::crc::verify(&b, STAMP.crc_off) {
                return Err(self.corrupt(format!("AGFL of AG {agno}: bad CRC")));
            }
        }
        let size = agfl_size(self.sb.sectsize, self.sb.crc);
        let agf = self.agf(agno)?.clone();
        let span = if agf.flcount == 0 { 0 } else { (agf.fllast + size - agf.flfirst) % size + 1 };
        if agf.flfirst >= size || agf.fllast >= size || agf.flcount > size || span != agf.flcount {
            return Err(self.corrupt(format!("AGF of AG {agno}: free list first {} last {} count {} of {size} slots", agf.flfirst, agf.fllast, agf.flcount)));
        }
        Ok(b)
    }

    /// Takes the first block off the AGFL; `btree` counts it in `agf_btreeblks`.
    pub(crate) fn agfl_get(&mut self, agno: u32, btree: bool) -> Result<u32> {
        let b = self.agfl_read(agno)?;
        let (hdr, size) = self.agfl_slots();
        let agf = self.agf(agno)?;
        if agf.flcount == 0 {
            return Err(Error::Os(Errno::NoSpace));
        }
        let bno = be32(&b, hdr + agf.flfirst as usize * 4);
        agf.flfirst = (agf.flfirst + 1) % size;
        agf.flcount -= 1;
        if btree {
            agf.btreeblks += 1;
        }
        if !self.block_ok(agno, bno) {
            return Err(self.corrupt(format!("AGFL of AG {agno}: block {bno} outside the AG")));
        }
        Ok(bno)
    }

    /// Puts `bno` at the end of the AGFL; `btree` uncounts it from `agf_btreeblks`.
    pub(crate) fn agfl_put(&mut self, agno: u32, bno: u32, btree: bool) -> Result<()> {
        let mut b = self.agfl_read(agno)?;
        let (hdr, size) = self.agfl_slots();
        let (flcount, btreeblks) = {
            let a = self.agf(agno)?;
            (a.flcount, a.btreeblks)
        };
        if flcount >= size {
            return Err(self.corrupt(format!("AGFL of AG {agno}: full ({size} blocks)")));
        }
        if btree && btreeblks == 0 {
            return Err(self.corrupt(format!("AGF of AG {agno}: a btree block freed while btreeblks is 0")));
        }
        let agf = self.agf(agno)?;
        if btree {
            agf.btreeblks -= 1;
        }
        agf.fllast = if agf.flcount == 0 { agf.flfirst } else { (agf.fllast + 1) % size };
        agf.flcount += 1;
        let at = hdr + agf.fllast as usize * 4;
        b[at..at + 4].copy_from_slice(&bno.to_be_bytes());
        let off = self.ag_sector_byte(agno, 3);
        self.bufs.put(off, b, Some(STAMP));
        Ok(())
    }

    /// The AGFL length the kernel keeps before allocating (`xfs_alloc_min_freelist`): per
    /// free-space btree and the rmapbt, twice its height after one more split, less two.
    pub fn min_freelist(&mut self, agno: u32) -> Result<u32> {
        let maxlevels = max_levels(&BNOBT, self.sb.blocksize, self.sb.crc, u64::from(self.sb.agblocks).div_ceil(2));
        let rmap_max = max_levels(&RMAPBT, self.sb.blocksize, self.sb.crc, u64::from(self.sb.agblocks));
        let rmap = self.has_rmapbt();
        let agf = self.agf(agno)?;
        let mut n = (agf.bno_level + 1).min(maxlevels) * 2 - 2 + (agf.cnt_level + 1).min(maxlevels) * 2 - 2;
        if rmap {
            n += (agf.rmap_level + 1).min(rmap_max) * 2 - 2;
        }
        Ok(n)
    }

    /// Trims the AGFL to its minimum, then refills it (`xfs_alloc_fix_freelist`, in that
    /// order). Fails with `ENOSPC` when the AG's free space cannot refill it, unless `freeing`
    /// (a free goes ahead with what the list holds, as the kernel's `XFS_ALLOC_FLAG_FREEING`).
    pub(crate) fn fix_freelist(&mut self, agno: u32, freeing: bool) -> Result<()> {
        let size = agfl_size(self.sb.sectsize, self.sb.crc);
        let need = self.min_freelist(agno)?.min(size);
        for _ in 0..=size {
            if self.agf(agno)?.flcount <= need {
                break;
            }
            let bno = self.agfl_get(agno, false)?;
            self.rmap_unmap_raw(agno, bno, 1, Owner::special(OWN_AG))?;
            self.free_in_trees(agno, bno, 1)?;
        }
        for _ in 0..=size {
            let have = self.agf(agno)?.flcount;
            let need = self.min_freelist(agno)?.min(size);
            if have >= need {
                return Ok(());
            }
            let Some((bno, len)) = self.alloc_by_size(agno, 1, need - have)? else {
                return if freeing { Ok(()) } else { Err(Error::Os(Errno::NoSpace)) };
            };
            for b in bno..bno + len {
                self.agfl_put(agno, b, false)?;
            }
            self.rmap_map_raw(agno, bno, len, Owner::special(OWN_AG))?;
        }
        Err(self.corrupt(format!("AGFL of AG {agno}: does not settle")))
    }

    /// The blocks on the AGFL now.
    pub fn agfl_blocks(&mut self, agno: u32) -> Result<Vec<u32>> {
        let b = self.agfl_read(agno)?;
        let (hdr, size) = self.agfl_slots();
        let agf = self.agf(agno)?.clone();
        Ok((0..agf.flcount).map(|i| be32(&b, hdr + ((agf.flfirst + i) % size) as usize * 4)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::agfl_size;

    #[test]
    fn agfl_slots() {
        // v5: a 36-byte header, then (sector size - 36) / 4 slots; v4: the whole sector.
        assert_eq!(agfl_size(512, true), 119);
        assert_eq!(agfl_size(4096, true), 1015);
        assert_eq!(agfl_size(512, false), 128);
    }
}
