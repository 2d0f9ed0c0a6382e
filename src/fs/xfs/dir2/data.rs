//! Directory data blocks (`xfs_dir2_data_hdr` / `xfs_dir3_data_hdr`): the single block of a
//! block-format directory (magic XD2B/XDB3, with the leaf entries and a tail at its end) and
//! the data blocks of larger directories (XD2D/XDD3). Entries are 8-byte aligned: inode
//! number, name length, name, ftype byte (when the feature is on), and a tag; free space is
//! marked by 0xffff and a length.

use super::RawEntry;
use crate::bytes::{be16, be32, be64};
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
    let (hdr, end) = header(b, owner)?;
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
        if p + 9 > end {
            return Err(format!("data block: entry at {p} runs past the data"));
        }
        let namelen = usize::from(b[p + 8]);
        let size = (8 + 1 + namelen + usize::from(ftype) + 2 + 7) & !7;
        if namelen == 0 || p + size > end {
            return Err(format!("data block: entry at {p} runs past the data"));
        }
        out.push(RawEntry {
            name: b[p + 9..p + 9 + namelen].to_vec(),
            ino: be64(b, p),
            ftype: if ftype { b[p + 9 + namelen] } else { 0 },
        });
        p += size;
    }
    Ok(())
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
}
