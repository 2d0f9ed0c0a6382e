//! Fork block maps (`xfs_bmbt_rec`): the 128-bit extent records of a data or attribute fork,
//! kept in the inode (extents format) or in a bmap btree rooted in the inode (btree format,
//! read through the generic [`super::btree`] engine). Maps are validated whole: records in
//! file-offset order, not overlapping, every block inside the data device.

use super::btree::{self, Source, BMBT};
use super::inode::Format;
use crate::bytes::be64;
use crate::fs::Result;

/// Most extents one fork may have (the format allows 2^32 in a data fork; a device of a few
/// GiB has at most a few million).
pub const MAX_EXTENTS: u64 = 1 << 24;

/// Most blocks one extent record holds (21-bit count, the kernel's `XFS_MAX_BMBT_EXTLEN`).
pub const MAX_LEN: u64 = (1 << 21) - 1;

/// One mapping of file blocks to filesystem blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// First file block.
    pub off: u64,
    /// First filesystem block (AG number in the high bits).
    pub block: u64,
    /// Number of blocks.
    pub count: u64,
    /// Allocated but unwritten (reads as zeros).
    pub unwritten: bool,
}

impl Extent {
    /// Decodes a packed 16-byte record.
    pub fn decode(r: &[u8]) -> Extent {
        let (l0, l1) = (be64(r, 0), be64(r, 8));
        Extent {
            unwritten: l0 >> 63 != 0,
            off: (l0 & ((1 << 63) - 1)) >> 9,
            block: ((l0 & 0x1ff) << 43) | (l1 >> 21),
            count: l1 & 0x1f_ffff,
        }
    }

    /// Encodes the packed 16-byte record (the inverse of [`Extent::decode`]; fields beyond
    /// their widths are cut: 54-bit offset, 52-bit block, 21-bit count).
    pub fn encode(&self) -> [u8; 16] {
        let l0 = (u64::from(self.unwritten) << 63) | ((self.off & ((1 << 54) - 1)) << 9) | ((self.block >> 43) & 0x1ff);
        let l1 = (self.block << 21) | (self.count & MAX_LEN);
        let mut r = [0u8; 16];
        r[..8].copy_from_slice(&l0.to_be_bytes());
        r[8..].copy_from_slice(&l1.to_be_bytes());
        r
    }
}

/// The map `map` with extent `new` added (its file blocks unmapped in `map`), joined with a
/// neighbour it continues on the device.
pub fn insert(map: &[Extent], new: Extent) -> Vec<Extent> {
    let mut out = map.to_vec();
    let i = out.partition_point(|e| e.off < new.off);
    out.insert(i, new);
    let joins = |a: &Extent, b: &Extent| a.off + a.count == b.off && a.block + a.count == b.block && !a.unwritten && !b.unwritten && a.count + b.count < 1 << 21;
    if i + 1 < out.len() && joins(&out[i], &out[i + 1]) {
        out[i].count += out[i + 1].count;
        out.remove(i + 1);
    }
    if i > 0 && joins(&out[i - 1], &out[i]) {
        out[i - 1].count += out[i].count;
        out.remove(i);
    }
    out
}

/// The map `map` with file blocks `off..off + count` taken out (an extent holding them split
/// in two when they lie inside it).
pub fn punch(map: &[Extent], off: u64, count: u64) -> Vec<Extent> {
    let end = off + count;
    let mut out = Vec::with_capacity(map.len() + 1);
    for e in map {
        let e_end = e.off + e.count;
        if e_end <= off || e.off >= end {
            out.push(*e);
            continue;
        }
        if e.off < off {
            out.push(Extent { count: off - e.off, ..*e });
        }
        if e_end > end {
            out.push(Extent { off: end, block: e.block + (end - e.off), count: e_end - end, unwritten: e.unwritten });
        }
    }
    out
}

/// The extents of a fork whose bytes in the inode are `fork`, in the given format, with the
/// inode's extent count `nextents`, owned by inode `ino`.
pub fn extents(src: &dyn Source, ino: u64, format: Format, fork: &[u8], nextents: u64) -> Result<Vec<Extent>> {
    map_and_tree(src, ino, format, fork, nextents).map(|(map, _)| map)
}

/// [`extents`] and, in btree format, the filesystem blocks of the bmap btree itself (every
/// block below the root kept in the inode: interior blocks and leaves).
pub fn map_and_tree(src: &dyn Source, ino: u64, format: Format, fork: &[u8], nextents: u64) -> Result<(Vec<Extent>, Vec<u64>)> {
    let mut out = Vec::new();
    let mut tree = Vec::new();
    match format {
        Format::Extents => {
            if nextents > (fork.len() / 16) as u64 {
                return Err(src.corrupt(format!("inode {ino}: {nextents} extents do not fit in the fork")));
            }
            out.extend(fork.chunks_exact(16).take(nextents as usize).map(Extent::decode));
        }
        Format::Btree => {
            if nextents > MAX_EXTENTS {
                return Err(src.corrupt(format!("inode {ino}: {nextents} extents")));
            }
            let (level, ptrs) = btree::inode_root(src, fork, ino)?;
            btree::walk_blocks(src, &BMBT, level, ptrs, ino, nextents, &mut |b| tree.push(b), &mut |r| {
                out.push(Extent::decode(r));
                Ok(())
            })?;
        }
        _ => return Err(src.corrupt(format!("inode {ino}: fork format {format:?} has no block map"))),
    }
    check(src, ino, &out)?;
    Ok((out, tree))
}

/// Checks order, overlap and block ranges.
fn check(src: &dyn Source, ino: u64, map: &[Extent]) -> Result<()> {
    let mut next = 0u64;
    for e in map {
        if e.count == 0 || e.off < next {
            return Err(src.corrupt(format!("inode {ino}: extent at file block {} out of order or empty", e.off)));
        }
        next = e.off + e.count;
        if src.sb().fsb_to_byte(e.block, e.count).is_none() {
            return Err(src.corrupt(format!("inode {ino}: extent of {} blocks at block {:#x} outside the filesystem", e.count, e.block)));
        }
    }
    Ok(())
}

/// The extent holding file block `fblock`, or the next one after it (`Err(next start)`, or
/// `Err(u64::MAX)` past the last), by binary search.
pub fn find(map: &[Extent], fblock: u64) -> std::result::Result<&Extent, u64> {
    let i = map.partition_point(|e| e.off + e.count <= fblock);
    match map.get(i) {
        Some(e) if e.off <= fblock => Ok(e),
        Some(e) => Err(e.off),
        None => Err(u64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_records() {
        // unwritten, startoff 5, startblock 0x123456789, count 7
        let off: u64 = 5;
        let blk: u64 = 0x1_2345_6789;
        let l0 = (1u64 << 63) | (off << 9) | (blk >> 43);
        let l1 = (blk << 21) | 7;
        let mut r = [0u8; 16];
        r[..8].copy_from_slice(&l0.to_be_bytes());
        r[8..].copy_from_slice(&l1.to_be_bytes());
        assert_eq!(Extent::decode(&r), Extent { off: 5, block: blk, count: 7, unwritten: true });
        assert_eq!(Extent::decode(&r).encode(), r);
        let e = Extent { off: (1 << 54) - 1, block: (1 << 52) - 1, count: MAX_LEN, unwritten: false };
        assert_eq!(Extent::decode(&e.encode()), e);
    }

    struct Src(crate::fs::xfs::sb::Superblock);

    impl Source for Src {
        fn sb(&self) -> &crate::fs::xfs::sb::Superblock {
            &self.0
        }
        fn read_tree_block(&self, _: &btree::TreeKind, ptr: u64) -> Result<Vec<u8>> {
            Err(self.corrupt(format!("no block {ptr}")))
        }
        fn corrupt(&self, msg: String) -> crate::fs::Error {
            crate::fs::Error::Corrupt { dev: "mem".into(), fs: "xfs".into(), msg }
        }
    }

    fn rec(off: u64, blk: u64, count: u64) -> [u8; 16] {
        let mut r = [0u8; 16];
        r[..8].copy_from_slice(&((off << 9) | (blk >> 43)).to_be_bytes());
        r[8..].copy_from_slice(&((blk << 21) | count).to_be_bytes());
        r
    }

    #[test]
    fn hostile_maps_are_refused() {
        let mut b = vec![0u8; 512];
        b[0..4].copy_from_slice(b"XFSB");
        b[4..8].copy_from_slice(&4096u32.to_be_bytes());
        b[8..16].copy_from_slice(&16384u64.to_be_bytes());
        b[48..56].copy_from_slice(&8192u64.to_be_bytes());
        b[84..88].copy_from_slice(&16384u32.to_be_bytes());
        b[88..92].copy_from_slice(&1u32.to_be_bytes());
        b[100..102].copy_from_slice(&0xb4a4u16.to_be_bytes());
        b[102..104].copy_from_slice(&512u16.to_be_bytes());
        b[104..106].copy_from_slice(&256u16.to_be_bytes());
        (b[120], b[121], b[122], b[123], b[124]) = (12, 9, 8, 4, 14);
        let src = Src(crate::fs::xfs::sb::Superblock::parse(&b).unwrap());
        let fork = |recs: &[[u8; 16]]| recs.concat();
        let ok = fork(&[rec(0, 100, 2), rec(5, 300, 1)]);
        assert_eq!(extents(&src, 1, Format::Extents, &ok, 2).unwrap().len(), 2);
        let err = |f: Vec<u8>, n: u64| extents(&src, 1, Format::Extents, &f, n).unwrap_err().to_string();
        assert!(err(fork(&[rec(0, 100, 2), rec(1, 300, 1)]), 2).contains("out of order"));
        assert!(err(fork(&[rec(0, 100, 0)]), 1).contains("empty"));
        assert!(err(fork(&[rec(0, 16383, 2)]), 1).contains("outside"));
        assert!(err(fork(&[rec(0, 1 << 14, 1)]), 1).contains("outside"));
        assert!(err(ok.clone(), 3).contains("do not fit"));
        assert!(err(ok.clone(), u64::MAX).contains("do not fit"));
        assert!(extents(&src, 1, Format::Btree, &ok, u64::MAX).unwrap_err().to_string().contains("extents"));
        assert!(extents(&src, 1, Format::Local, &ok, 1).is_err());
    }

    #[test]
    fn punches() {
        let e = |off, block, count| Extent { off, block, count, unwritten: false };
        let m = [e(0, 100, 4), e(8, 200, 2)];
        assert_eq!(punch(&m, 1, 2), vec![e(0, 100, 1), e(3, 103, 1), e(8, 200, 2)]);
        assert_eq!(punch(&m, 8, 2), vec![e(0, 100, 4)]);
        assert_eq!(punch(&m, 0, 1), vec![e(1, 101, 3), e(8, 200, 2)]);
        assert_eq!(insert(&m, e(4, 104, 1)), vec![e(0, 100, 5), e(8, 200, 2)]);
        assert_eq!(insert(&m, e(7, 199, 1)), vec![e(0, 100, 4), e(7, 199, 3)]);
        assert_eq!(insert(&m, e(5, 300, 1)), vec![e(0, 100, 4), e(5, 300, 1), e(8, 200, 2)]);
    }

    #[test]
    fn finds() {
        let m = [Extent { off: 2, block: 0, count: 3, unwritten: false }, Extent { off: 10, block: 0, count: 1, unwritten: false }];
        assert_eq!(find(&m, 0), Err(2));
        assert_eq!(find(&m, 4).map(|e| e.off), Ok(2));
        assert_eq!(find(&m, 5), Err(10));
        assert_eq!(find(&m, 11), Err(u64::MAX));
    }
}
