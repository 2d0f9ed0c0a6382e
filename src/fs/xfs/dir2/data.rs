//! Directory data blocks (`xfs_dir2_data_hdr` / `xfs_dir3_data_hdr`): the single block of a
//! block-format directory (magic XD2B/XDB3, with the leaf entries and a tail at its end) and
//! the data blocks of larger directories (XD2D/XDD3). Entries are 8-byte aligned: inode
//! number, name length, name, ftype byte (when the feature is on), and a tag; free space is
//! marked by 0xffff and a length.
//!
//! Write side: [`Entries`] is a data block decoded for editing (its entries by offset; free
//! space is what lies between them), written back whole with its free regions, their tags and
//! the `bestfree` table (`xfs_dir2_data_freescan`: the three longest, longest first, the
//! lower offset first among equals); [`init_header`] starts a new block.

use super::sf::data_entsize;
use super::RawEntry;
use crate::bytes::{be16, be32, be64};
use crate::fs::xfs::buf::Stamp;
use crate::fs::xfs::crc;

const XD2B: u32 = 0x5844_3242;
const XD2D: u32 = 0x5844_3244;
const XDB3: u32 = 0x5844_4233;
const XDD3: u32 = 0x5844_4433;

/// What a v5 block must say about itself.
pub struct Owner<'a> {
    /// Directory inode.
    pub ino: u64,
    /// Filesystem UUID.
    pub uuid: &'a [u8; 16],
    /// The block's address in 512-byte sectors.
    pub daddr: u64,
}

/// Checks a data block's header (magic, and on v5 CRC, address and owner) and returns where
/// its entries start and end (block directories end at their leaf entries).
pub fn header(b: &[u8], owner: Option<&Owner>) -> Result<(usize, usize), String> {
    if b.len() < 512 {
        return Err("data block: too short".into());
    }
    let magic = be32(b, 0);
    let (hdr, block) = match (magic, owner.is_some()) {
        (XD2B, false) => (16, true),
        (XD2D, false) => (16, false),
        (XDB3, true) => (64, true),
        (XDD3, true) => (64, false),
        _ => return Err(format!("data block: bad magic {magic:#x}")),
    };
    if let Some(o) = owner {
        if !crc::verify(b, 4) {
            return Err("data block: bad CRC".into());
        }
        if be64(b, 8) != o.daddr {
            return Err(format!("data block: records address {} instead of {}", be64(b, 8), o.daddr));
        }
        if &b[24..40] != o.uuid || be64(b, 40) != o.ino {
            return Err("data block: owned by another directory or filesystem".into());
        }
    }
    let end = if block {
        let count = u64::from(be32(b, b.len() - 8));
        let leaf = count.checked_mul(8).and_then(|n| n.checked_add(8)).unwrap_or(u64::MAX);
        if leaf > (b.len() - hdr) as u64 {
            return Err(format!("block directory: {count} leaf entries do not fit"));
        }
        b.len() - leaf as usize
    } else {
        b.len()
    };
    Ok((hdr, end))
}

/// The hash index at the end of a block directory's block whose entries end at `end` (as
/// [`header`] found): (hash, address) pairs. A data block of a larger directory has none.
pub fn block_leaf(b: &[u8], end: usize) -> Result<Vec<(u32, u32)>, String> {
    let Some(room) = b.len().checked_sub(8).and_then(|n| n.checked_sub(end)) else {
        return Err("a data block where a block directory's only block was expected".into());
    };
    Ok((0..room / 8).map(|i| (be32(b, end + i * 8), be32(b, end + i * 8 + 4))).collect())
}

/// The entry at byte `at` of a data block whose entries lie in `hdr..end`.
pub fn entry_at(b: &[u8], at: usize, hdr: usize, end: usize, ftype: bool) -> Result<RawEntry, String> {
    if at < hdr || at % 8 != 0 || at + 9 > end || be16(b, at) == 0xffff {
        return Err(format!("data block: no entry at {at}"));
    }
    let namelen = usize::from(b[at + 8]);
    let size = (8 + 1 + namelen + usize::from(ftype) + 2 + 7) & !7;
    if namelen == 0 || at + size > end {
        return Err(format!("data block: entry at {at} runs past the data"));
    }
    Ok(RawEntry {
        name: b[at + 9..at + 9 + namelen].to_vec(),
        ino: be64(b, at),
        ftype: if ftype { b[at + 9 + namelen] } else { 0 },
    })
}

/// Parses a directory data block `b` (the whole directory block) and appends its entries
/// (`.` and `..` included) to `out`. `owner` is `Some` on v5 filesystems.
pub fn parse(b: &[u8], ftype: bool, owner: Option<&Owner>, out: &mut Vec<RawEntry>) -> Result<(), String> {
    out.extend(decode(b, ftype, owner)?.list.into_iter().map(|(_, e)| e));
    Ok(())
}

/// Where a v5 data, block or free index block keeps its LSN and CRC (`xfs_dir3_blk_hdr`).
pub const STAMP: Stamp = Stamp { lsn_off: 16, crc_off: 4 };

/// Offset of the `bestfree` table: after the v5 block header, or after the v4 magic.
fn bestfree_off(crc: bool) -> usize {
    if crc { 48 } else { 4 }
}

/// Writes the header of a new data block (`block`: the single block of a block directory)
/// into `b`: magic, and on v5 the address, UUID and owner (`owner` is `Some` on v5); the
/// `bestfree` table is left to [`Entries::encode`].
pub fn init_header(b: &mut [u8], block: bool, owner: Option<&Owner>) {
    b.fill(0);
    let magic = match (block, owner.is_some()) {
        (true, false) => XD2B,
        (false, false) => XD2D,
        (true, true) => XDB3,
        (false, true) => XDD3,
    };
    b[0..4].copy_from_slice(&magic.to_be_bytes());
    if let Some(o) = owner {
        b[8..16].copy_from_slice(&o.daddr.to_be_bytes());
        b[24..40].copy_from_slice(o.uuid);
        b[40..48].copy_from_slice(&o.ino.to_be_bytes());
    }
}

/// A data block decoded for editing: its entries (`.` and `..` included) by offset, in the
/// byte range `hdr..end` (a block directory's ends at its leaf entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entries {
    /// Where entries start (the header's size).
    pub hdr: usize,
    /// Where the entry space ends.
    pub end: usize,
    /// (offset, entry), in offset order.
    pub list: Vec<(usize, RawEntry)>,
}

/// Decodes data block `b`, for reading ([`parse`]) and editing: the header checked as
/// [`header`] checks it, free regions and entries bounded by the entry space.
pub fn decode(b: &[u8], ftype: bool, owner: Option<&Owner>) -> Result<Entries, String> {
    let (hdr, end) = header(b, owner)?;
    let mut list = Vec::new();
    let mut p = hdr;
    while p < end {
        if be16(b, p) == 0xffff {
            let len = usize::from(be16(b, p + 2));
            if len < 8 || len % 8 != 0 || p + len > end {
                return Err(format!("data block: free space of {len} bytes at {p}"));
            }
            p += len;
            continue;
        }
        let e = entry_at(b, p, hdr, end, ftype)?;
        let size = data_entsize(e.name.len(), ftype);
        list.push((p, e));
        p += size;
    }
    Ok(Entries { hdr, end, list })
}

impl Entries {
    /// The free regions (offset, length) between the entries, in offset order.
    pub fn free_regions(&self, ftype: bool) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut p = self.hdr;
        for (at, e) in &self.list {
            if *at > p {
                out.push((p, at - p));
            }
            p = p.max(at + data_entsize(e.name.len(), ftype));
        }
        if self.end > p {
            out.push((p, self.end - p));
        }
        out
    }

    /// The longest free region (`bestfree[0]`'s length), 0 when none.
    pub fn best(&self, ftype: bool) -> usize {
        self.free_regions(ftype).iter().map(|r| r.1).max().unwrap_or(0)
    }

    /// The index of the entry named `name`.
    pub fn find(&self, name: &[u8]) -> Option<usize> {
        self.list.iter().position(|(_, e)| e.name == name)
    }

    /// Whether the block holds no entries at all.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Adds entry `e` at the start of the longest free region (the kernel takes
    /// `bestfree[0]`); its offset, or `None` when no region holds it.
    pub fn add(&mut self, e: RawEntry, ftype: bool) -> Option<usize> {
        let size = data_entsize(e.name.len(), ftype);
        let mut best: Option<(usize, usize)> = None;
        for r in self.free_regions(ftype) {
            if r.1 >= size && best.is_none_or(|b| r.1 > b.1) {
                best = Some(r);
            }
        }
        let at = best?.0;
        let i = self.list.partition_point(|(o, _)| *o < at);
        self.list.insert(i, (at, e));
        Some(at)
    }

    /// Writes the entries into `b` (`hdr..end` rewritten: entries and their tags, free regions
    /// with theirs) and the `bestfree` table.
    pub fn encode(&self, b: &mut [u8], crc: bool, ftype: bool) {
        b[self.hdr..self.end].fill(0);
        for &(at, ref e) in &self.list {
            let size = data_entsize(e.name.len(), ftype);
            let n = e.name.len();
            b[at..at + 8].copy_from_slice(&e.ino.to_be_bytes());
            b[at + 8] = n as u8;
            b[at + 9..at + 9 + n].copy_from_slice(&e.name);
            if ftype {
                b[at + 9 + n] = e.ftype;
            }
            b[at + size - 2..at + size].copy_from_slice(&(at as u16).to_be_bytes());
        }
        let free = self.free_regions(ftype);
        for &(at, len) in &free {
            b[at..at + 2].copy_from_slice(&0xffffu16.to_be_bytes());
            b[at + 2..at + 4].copy_from_slice(&(len as u16).to_be_bytes());
            b[at + len - 2..at + len].copy_from_slice(&(at as u16).to_be_bytes());
        }
        let mut best = free;
        // Stable: among equal lengths the lower offset stays first.
        best.sort_by_key(|x| std::cmp::Reverse(x.1));
        let bf = bestfree_off(crc);
        b[bf..bf + 12].fill(0);
        for (i, &(at, len)) in best.iter().take(3).enumerate() {
            b[bf + i * 4..bf + i * 4 + 2].copy_from_slice(&(at as u16).to_be_bytes());
            b[bf + i * 4 + 2..bf + i * 4 + 4].copy_from_slice(&(len as u16).to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block() -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[0..4].copy_from_slice(&XD2D.to_be_bytes());
        // entry "abc" -> 200 at 16: 8 + 1 + 3 + 1 + 2 = 15 -> 16 bytes
        b[16..24].copy_from_slice(&200u64.to_be_bytes());
        b[24] = 3;
        b[25..28].copy_from_slice(b"abc");
        b[28] = 1;
        b[30..32].copy_from_slice(&16u16.to_be_bytes());
        b[32..34].copy_from_slice(&0xffffu16.to_be_bytes());
        b[34..36].copy_from_slice(&(512u16 - 32).to_be_bytes());
        b
    }

    #[test]
    fn parses_and_rejects() {
        let mut out = Vec::new();
        parse(&block(), true, None, &mut out).unwrap();
        assert_eq!(out, vec![RawEntry { name: b"abc".to_vec(), ino: 200, ftype: 1 }]);
        let mut b = block();
        b[34..36].copy_from_slice(&4u16.to_be_bytes());
        assert!(parse(&b, true, None, &mut out).unwrap_err().contains("free space"));
        let mut b = block();
        b[24] = 255;
        b[32..34].copy_from_slice(&0u16.to_be_bytes());
        assert!(parse(&b, true, None, &mut out).is_err());
        let mut b = block();
        b[0] = 0;
        assert!(parse(&b, true, None, &mut out).unwrap_err().contains("magic"));
        let mut b = block();
        b[0..4].copy_from_slice(&XD2B.to_be_bytes());
        b[504..508].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse(&b, true, None, &mut out).unwrap_err().contains("leaf entries"));
        // a v5 block with a wrong CRC
        let mut b = block();
        b[0..4].copy_from_slice(&XDD3.to_be_bytes());
        let o = Owner { ino: 1, uuid: &[0; 16], daddr: 0 };
        assert!(parse(&b, true, Some(&o), &mut out).unwrap_err().contains("CRC"));
        // A data block has no block-directory index (found by fuzzing: this underflowed).
        let (_, end) = header(&block(), None).unwrap();
        assert!(block_leaf(&block(), end).unwrap_err().contains("block directory"));
    }

    #[test]
    fn edits_round_trip() {
        let b = block();
        let mut e = decode(&b, true, None).unwrap();
        assert_eq!(e.list.len(), 1);
        assert_eq!(e.free_regions(true), vec![(32, 480)]);
        let at = e.add(RawEntry { name: b"defgh".to_vec(), ino: 300, ftype: 2 }, true).unwrap();
        assert_eq!(at, 32);
        let mut b2 = b.clone();
        e.encode(&mut b2, false, true);
        let mut out = Vec::new();
        parse(&b2, true, None, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(decode(&b2, true, None).unwrap(), e);
        // bestfree: the one region after both entries, 512 - 56.
        assert_eq!(&b2[4..8], &[0, 56, 0x01, 0xc8]);
        e.list.remove(0);
        e.encode(&mut b2, false, true);
        assert_eq!(e.free_regions(true), vec![(16, 16), (56, 456)]);
        assert_eq!(&b2[4..12], &[0, 56, 0x01, 0xc8, 0, 16, 0, 16]);
        assert_eq!(be16(&b2, 30), 16);
        assert_eq!(e.best(true), 456);
    }
}
