//! Free index blocks of node-format directories (`xfs_dir2_free` / `xfs_dir3_free`, magic
//! XD2F/XDF3, from the 64 GiB `XFS_DIR2_FREE_OFFSET` of the data fork): for the data blocks
//! from `firstdb`, the longest free region of each (`NULLDATAOFF` for a block that does not
//! exist), `nvalid` of them, `nused` not null.

use super::data::Owner;
use crate::bytes::{be32, be64};
use crate::fs::xfs::crc;

const XD2F: u32 = 0x5844_3246;
const XDF3: u32 = 0x5844_4633;
/// The best-free value of a data block that does not exist.
pub const NULLDATAOFF: u16 = 0xffff;
/// Logical byte offset where free index blocks start (`XFS_DIR2_FREE_OFFSET`).
pub const FREE_OFFSET: u64 = 64 << 30;

/// A free index block, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeBlock {
    /// The first data block it describes.
    pub firstdb: u32,
    /// Longest free region per data block (`nvalid` of them).
    pub bests: Vec<u16>,
}

/// Header size: 64 bytes on v5, 16 on v4.
pub fn hdr_len(crc: bool) -> usize {
    if crc { 64 } else { 16 }
}

/// Data blocks one free index block describes (`xfs_dir2_free_max_bests`).
pub fn max_bests(dirblksize: usize, crc: bool) -> usize {
    (dirblksize - hdr_len(crc)) / 2
}

/// Writes the header of a new free index block into `b` (`owner` is `Some` on v5: address,
/// UUID and owner) describing data blocks from `firstdb`; the entries are left to
/// [`FreeBlock::encode`].
pub fn init_header(b: &mut [u8], firstdb: u32, owner: Option<&Owner>) {
    b.fill(0);
    b[0..4].copy_from_slice(&if owner.is_some() { XDF3 } else { XD2F }.to_be_bytes());
    let at = if let Some(o) = owner {
        b[8..16].copy_from_slice(&o.daddr.to_be_bytes());
        b[24..40].copy_from_slice(o.uuid);
        b[40..48].copy_from_slice(&o.ino.to_be_bytes());
        48
    } else {
        4
    };
    b[at..at + 4].copy_from_slice(&firstdb.to_be_bytes());
}

impl FreeBlock {
    /// Decodes free index block `b` (`owner` is `Some` on v5: CRC, address and owner checked).
    pub fn decode(b: &[u8], owner: Option<&Owner>) -> Result<FreeBlock, String> {
        let magic = be32(b, 0);
        let (firstdb, nvalid, nused) = match (magic, owner) {
            (XD2F, None) => (be32(b, 4), be32(b, 8), be32(b, 12)),
            (XDF3, Some(o)) => {
                if !crc::verify(b, 4) {
                    return Err("free index block: bad CRC".into());
                }
                if be64(b, 8) != o.daddr || &b[24..40] != o.uuid || be64(b, 40) != o.ino {
                    return Err("free index block: belongs to another inode or place".into());
                }
                (be32(b, 48), be32(b, 52), be32(b, 56))
            }
            _ => return Err(format!("free index block: bad magic {magic:#x}")),
        };
        let hdr = hdr_len(owner.is_some());
        if b.len() < hdr || nvalid as usize > (b.len() - hdr) / 2 {
            return Err(format!("free index block: {nvalid} entries do not fit"));
        }
        let bests: Vec<u16> = b[hdr..hdr + nvalid as usize * 2].chunks_exact(2).map(|v| u16::from_be_bytes([v[0], v[1]])).collect();
        if bests.iter().filter(|&&v| v != NULLDATAOFF).count() != nused as usize {
            return Err(format!("free index block: {nused} used entries counted, not what it holds"));
        }
        Ok(FreeBlock { firstdb, bests })
    }

    /// Writes the counts and entries back into `b` (the rest of the header kept).
    pub fn encode(&self, b: &mut [u8], crc: bool) {
        let hdr = hdr_len(crc);
        let at = if crc { 52 } else { 8 };
        let nused = self.bests.iter().filter(|&&v| v != NULLDATAOFF).count() as u32;
        b[at..at + 4].copy_from_slice(&(self.bests.len() as u32).to_be_bytes());
        b[at + 4..at + 8].copy_from_slice(&nused.to_be_bytes());
        b[hdr..].fill(0);
        for (d, v) in b[hdr..].chunks_exact_mut(2).zip(&self.bests) {
            d.copy_from_slice(&v.to_be_bytes());
        }
    }

    /// Sets data block `db`'s value (`NULLDATAOFF`: the block is gone; trailing null entries
    /// are dropped from `nvalid`, as `xfs_dir3_data_block_free` does). A new data block past
    /// `nvalid` extends it, up to `max` entries.
    pub fn set(&mut self, db: u32, v: u16, max: usize) -> Result<(), String> {
        let i = db.checked_sub(self.firstdb).map(|i| i as usize).filter(|&i| i < max);
        let Some(i) = i else { return Err(format!("free index block from {}: no entry for data block {db}", self.firstdb)) };
        if i >= self.bests.len() {
            self.bests.resize(i + 1, NULLDATAOFF);
        }
        self.bests[i] = v;
        while self.bests.last() == Some(&NULLDATAOFF) {
            self.bests.pop();
        }
        Ok(())
    }

    /// Whether no data block it describes exists any more.
    pub fn is_empty(&self) -> bool {
        self.bests.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_shorter_than_the_header_are_errors() {
        // found by fuzz/xfs_structs: a v4 magic in 12 bytes
        assert!(FreeBlock::decode(b"XD2FXSLX\xfe\xbeMM", None).is_err());
        assert!(FreeBlock::decode(b"XD2F", None).is_err());
        assert!(FreeBlock::decode(b"", None).is_err());
    }

    #[test]
    fn round_trips_and_trims() {
        let mut b = vec![0u8; 512];
        init_header(&mut b, 0, None);
        let mut f = FreeBlock { firstdb: 0, bests: vec![10, NULLDATAOFF, 30] };
        f.encode(&mut b, false);
        assert_eq!(be32(&b, 12), 2);
        assert_eq!(FreeBlock::decode(&b, None).unwrap(), f);
        f.set(2, NULLDATAOFF, 248).unwrap();
        assert_eq!(f.bests, vec![10]);
        f.set(3, 7, 248).unwrap();
        assert_eq!(f.bests, vec![10, NULLDATAOFF, NULLDATAOFF, 7]);
        assert!(f.set(300, 1, 248).is_err());
        b[12] = 9;
        assert!(FreeBlock::decode(&b, None).unwrap_err().contains("used"));
        assert_eq!(max_bests(4096, true), 2016);
    }
}
