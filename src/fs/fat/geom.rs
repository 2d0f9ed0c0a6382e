//! Boot-sector geometry and the File Allocation Table, read by us: the boot sector is checked
//! here before `fatfs` sees it (its own arithmetic overflows on some hostile values), and
//! cluster chains are walked here with bounds (`fatfs` follows them without loop detection).

use crate::disk::{read_vec, BlockDev};

/// Linux's `FAT_MAX_DIR_SIZE`: a directory holds at most 65536 entries of 32 bytes.
pub(super) const MAX_DIR_BYTES: u64 = 65536 * 32;
/// Linux's `MAX_FAT12`: more clusters than this make a non-FAT32 volume FAT16.
const MAX_FAT12: u64 = 0xFF4;
/// `fatfs` 0.3.6 computes the FAT size in bits as a `u32`; larger FATs overflow it.
const MAX_FAT_BYTES: u64 = 1 << 29;
/// The first data cluster number.
pub(super) const FIRST_CLUSTER: u32 = 2;

/// Where everything is, from the boot sector (BPB), with the cluster count clamped to the
/// entries the FAT holds as Linux's `fat_fill_super` does.
#[derive(Debug, Clone)]
pub(super) struct Geometry {
    /// Bytes per cluster.
    pub cluster_size: u64,
    /// 12, 16 or 32.
    pub fat_bits: u8,
    /// Byte offset of the FAT that is read (the active one; the first when mirrored).
    fat_offset: u64,
    /// Byte offset and length of the fixed root directory (FAT12/16; zero length on FAT32).
    pub root_region: (u64, u64),
    /// First cluster of the root directory (FAT32).
    pub root_cluster: u32,
    /// Byte offset of cluster 2.
    data_offset: u64,
    /// One past the last valid cluster number (Linux's `max_cluster`).
    pub max_cluster: u32,
    /// Data clusters by the boot sector alone, before clamping to what the FAT holds (what
    /// `fatfs` works with).
    pub bpb_clusters: u64,
}

fn le16(b: &[u8], off: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[off], b[off + 1]]))
}

fn le32(b: &[u8], off: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]))
}

/// What a FAT entry says about the cluster after `cluster`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// The chain continues at this cluster (validated: inside the volume).
    Cluster(u32),
    /// End of chain.
    End,
}

impl Geometry {
    /// Parses and checks the 512-byte boot sector `bs`. `Err` is the message for
    /// [`crate::fs::Error::Corrupt`].
    pub(super) fn parse(bs: &[u8]) -> Result<Geometry, String> {
        if bs.len() < 512 {
            return Err("boot sector: device smaller than 512 bytes".into());
        }
        let bps = le16(bs, 0x0B);
        let spc = u64::from(bs[0x0D]);
        let reserved = le16(bs, 0x0E);
        let fats = u64::from(bs[0x10]);
        let root_entries = le16(bs, 0x11);
        let spf16 = le16(bs, 0x16);
        let is_fat32 = spf16 == 0;
        let spf = if is_fat32 { le32(bs, 0x24) } else { spf16 };
        let total = match le16(bs, 0x13) {
            0 => le32(bs, 0x20),
            n => n,
        };
        // The checks and their order are Linux's (`fat_read_bpb`, `fat_fill_super`): a volume
        // Linux would not mount is refused, naming the field.
        if reserved == 0 {
            return Err("boot sector: reserved sectors (BPB_RsvdSecCnt) is 0".into());
        }
        if fats == 0 {
            return Err("boot sector: number of FATs (BPB_NumFATs) is 0".into());
        }
        let media = bs[0x15];
        if !(media >= 0xf8 || media == 0xf0) {
            return Err(format!("boot sector: media descriptor (BPB_Media) {media:#04x} is not 0xf0 or 0xf8..0xff"));
        }
        if !bps.is_power_of_two() || !(512..=4096).contains(&bps) {
            return Err(format!("boot sector: bytes per sector (BPB_BytsPerSec) {bps} is not a power of two in 512..4096"));
        }
        if !spc.is_power_of_two() {
            return Err(format!("boot sector: sectors per cluster (BPB_SecPerClus) {spc} is not a power of two"));
        }
        if spf == 0 {
            return Err("boot sector: sectors per FAT (BPB_FATSz16 and BPB_FATSz32) is 0".into());
        }
        let per_sector = bps / 32;
        if root_entries % per_sector != 0 {
            return Err(format!(
                "boot sector: root directory entries (BPB_RootEntCnt) {root_entries} is not a multiple of {per_sector} (whole {bps}-byte sectors)"
            ));
        }
        if spf * bps > MAX_FAT_BYTES {
            return Err(format!("boot sector: FAT of {spf} sectors is larger than 512 MiB"));
        }
        let root_sectors = (root_entries * 32).div_ceil(bps);
        let data_start = reserved + fats * spf + root_sectors;
        if total <= data_start {
            return Err(format!("boot sector: total sectors (BPB_TotSec16/BPB_TotSec32) {total} leave no data area after sector {data_start}"));
        }
        let clusters = (total - data_start) / spc;
        let fat_bits: u8 = if is_fat32 {
            32
        } else if clusters > MAX_FAT12 {
            16
        } else {
            12
        };
        let fat_entries = spf * bps * 8 / u64::from(fat_bits);
        let bpb_clusters = clusters;
        let clusters = clusters.min(fat_entries.saturating_sub(2));
        if clusters == 0 || clusters > 0x0FFF_FFF5 {
            return Err(format!("boot sector: {clusters} data clusters"));
        }
        let ext_flags = le16(bs, 0x28);
        let active = if is_fat32 && ext_flags & 0x80 != 0 { ext_flags & 0x0F } else { 0 };
        if active >= fats {
            return Err(format!("boot sector: active FAT {active} of {fats}"));
        }
        let max_cluster = clusters as u32 + FIRST_CLUSTER;
        let root_cluster = if is_fat32 { le32(bs, 0x2C) as u32 } else { 0 };
        if is_fat32 && !(FIRST_CLUSTER..max_cluster).contains(&root_cluster) {
            return Err(format!("boot sector: root directory cluster {root_cluster} outside the volume"));
        }
        let root_start = (reserved + fats * spf) * bps;
        Ok(Geometry {
            cluster_size: spc * bps,
            fat_bits,
            fat_offset: (reserved + active * spf) * bps,
            root_region: (root_start, root_sectors * bps),
            root_cluster,
            data_offset: data_start * bps,
            max_cluster,
            bpb_clusters,
        })
    }

    /// Where the volume ends by its boot sector (the end of its last data cluster).
    pub(super) fn end(&self) -> u64 {
        self.data_offset + self.clusters() * self.cluster_size
    }

    /// Number of data clusters.
    pub(super) fn clusters(&self) -> u64 {
        u64::from(self.max_cluster - FIRST_CLUSTER)
    }

    /// Whether `c` is a data cluster number.
    pub(super) fn valid(&self, c: u32) -> bool {
        (FIRST_CLUSTER..self.max_cluster).contains(&c)
    }

    /// Byte offset of data cluster `c` (which must be [`valid`](Self::valid)).
    pub(super) fn cluster_offset(&self, c: u32) -> u64 {
        self.data_offset + u64::from(c - FIRST_CLUSTER) * self.cluster_size
    }

    /// The raw FAT entry of cluster `c` (masked to 28 bits on FAT32).
    fn entry(&self, dev: &dyn BlockDev, c: u32) -> crate::disk::Result<u32> {
        let c = u64::from(c);
        Ok(match self.fat_bits {
            12 => {
                let b = read_vec(dev, self.fat_offset + c + c / 2, 2)?;
                let v = u16::from_le_bytes([b[0], b[1]]);
                u32::from(if c & 1 == 0 { v & 0x0FFF } else { v >> 4 })
            }
            16 => {
                let b = read_vec(dev, self.fat_offset + c * 2, 2)?;
                u32::from(u16::from_le_bytes([b[0], b[1]]))
            }
            _ => {
                let b = read_vec(dev, self.fat_offset + c * 4, 4)?;
                u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x0FFF_FFFF
            }
        })
    }

    /// The smallest end-of-chain value for this FAT width.
    fn eoc(&self) -> u32 {
        match self.fat_bits {
            12 => 0xFF8,
            16 => 0xFFF8,
            _ => 0x0FFF_FFF8,
        }
    }

    /// Follows the FAT from data cluster `c`. A free, bad or out-of-range entry is an
    /// `Err` message (Linux: "invalid cluster chain", EIO).
    pub(super) fn next(&self, dev: &dyn BlockDev, c: u32) -> crate::fs::Result<Result<Next, String>> {
        let v = self.entry(dev, c)?;
        Ok(if v >= self.eoc() {
            Ok(Next::End)
        } else if self.valid(v) {
            Ok(Next::Cluster(v))
        } else {
            Err(format!("FAT entry of cluster {c} is {v:#x}, not a cluster of the volume"))
        })
    }

    /// Walks the chain starting at `first`, calling `visit` on each cluster, at most `limit`
    /// of them: `Ok(Err)` when the chain is longer (a loop, or a structure larger than
    /// allowed) — or, when `stop_at_limit`, just the first `limit`. Returns the count visited.
    pub(super) fn walk(
        &self,
        dev: &dyn BlockDev,
        first: u32,
        limit: u64,
        stop_at_limit: bool,
        visit: &mut dyn FnMut(u32),
    ) -> crate::fs::Result<Result<u64, String>> {
        if !self.valid(first) {
            return Ok(Err(format!("first cluster {first} outside the volume")));
        }
        let mut c = first;
        let mut n = 1;
        visit(c);
        loop {
            if n >= limit && stop_at_limit {
                return Ok(Ok(n));
            }
            match self.next(dev, c)? {
                Err(msg) => return Ok(Err(msg)),
                Ok(Next::End) => return Ok(Ok(n)),
                Ok(Next::Cluster(_)) if n >= limit => {
                    return Ok(Err(format!(
                        "cluster chain from {first} longer than {limit} clusters (a loop?)"
                    )));
                }
                Ok(Next::Cluster(next)) => {
                    visit(next);
                    n += 1;
                    c = next;
                }
            }
        }
    }

    /// Free clusters, counted in the FAT as Linux's `fat_count_free_clusters` does.
    pub(super) fn free_clusters(&self, dev: &dyn BlockDev) -> crate::disk::Result<u64> {
        // 96 KiB holds a whole number of 12-, 16- and 32-bit entries (an even count).
        const CHUNK_ENTRIES: u64 = 65536;
        let bits = u64::from(self.fat_bits);
        let max = u64::from(self.max_cluster);
        let fat_len = (max * bits).div_ceil(8);
        let mut free = 0;
        let mut first = 0;
        while first < max {
            let entries = CHUNK_ENTRIES.min(max - first);
            let off = first * bits / 8;
            let len = (CHUNK_ENTRIES * bits / 8).min(fat_len - off);
            let mut buf = read_vec(dev, self.fat_offset + off, len as usize)?;
            buf.resize(len as usize + 4, 0);
            free += (0..entries)
                .filter(|&i| first + i >= u64::from(FIRST_CLUSTER) && raw_at(&buf, i, self.fat_bits) == 0)
                .count() as u64;
            first += entries;
        }
        Ok(free)
    }
}

/// Entry `i` of a FAT fragment that starts at an even entry.
fn raw_at(buf: &[u8], i: u64, bits: u8) -> u32 {
    let i = i as usize;
    match bits {
        12 => {
            let o = i + i / 2;
            let v = u16::from_le_bytes([buf[o], buf[o + 1]]);
            u32::from(if i & 1 == 0 { v & 0x0FFF } else { v >> 4 })
        }
        16 => u32::from(u16::from_le_bytes([buf[2 * i], buf[2 * i + 1]])),
        _ => u32::from_le_bytes([buf[4 * i], buf[4 * i + 1], buf[4 * i + 2], buf[4 * i + 3]]) & 0x0FFF_FFFF,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::MemDev;

    /// A FAT12 volume: 512-byte sectors and clusters, 1 reserved sector, 1 FAT of 6 sectors,
    /// 16 root entries (1 sector), 2000 sectors → 1992 clusters.
    fn volume(fat: &[(u32, u32)]) -> (Geometry, MemDev) {
        let mut img = vec![0u8; 2000 * 512];
        img[0x0B..0x0D].copy_from_slice(&512u16.to_le_bytes());
        img[0x0D] = 1;
        img[0x0E] = 1;
        img[0x10] = 1;
        img[0x11] = 16;
        img[0x13..0x15].copy_from_slice(&2000u16.to_le_bytes());
        img[0x15] = 0xF8;
        img[0x16] = 6;
        for &(c, v) in fat {
            let o = 512 + (c + c / 2) as usize;
            let old = u16::from_le_bytes([img[o], img[o + 1]]);
            let new = if c & 1 == 0 { (old & 0xF000) | v as u16 } else { (old & 0x000F) | ((v as u16) << 4) };
            img[o..o + 2].copy_from_slice(&new.to_le_bytes());
        }
        let g = Geometry::parse(&img[..512]).unwrap();
        (g, MemDev::new(img))
    }

    fn chain(g: &Geometry, dev: &MemDev, first: u32, limit: u64, stop: bool) -> Result<Vec<u32>, String> {
        let mut out = Vec::new();
        g.walk(dev, first, limit, stop, &mut |c| out.push(c)).unwrap().map(|n| {
            assert_eq!(n, out.len() as u64);
            out
        })
    }

    #[test]
    fn geometry_of_a_small_fat12() {
        let (g, dev) = volume(&[(0, 0xFF8), (1, 0xFFF), (2, 3), (3, 0xFFF)]);
        assert_eq!((g.fat_bits, g.cluster_size, g.max_cluster, g.clusters()), (12, 512, 1994, 1992));
        assert_eq!(g.root_region, (3584, 512));
        assert_eq!(g.cluster_offset(2), 4096);
        assert_eq!(g.free_clusters(&dev).unwrap(), 1990);
    }

    #[test]
    fn chains_end_loop_and_leave_the_volume() {
        let (g, dev) =
            volume(&[(2, 3), (3, 4), (4, 0xFFF), (5, 5), (6, 7), (7, 6), (8, 0), (9, 1993), (10, 1994)]);
        assert_eq!(chain(&g, &dev, 2, 100, false), Ok(vec![2, 3, 4]));
        assert_eq!(chain(&g, &dev, 2, 2, true), Ok(vec![2, 3]));
        assert!(chain(&g, &dev, 2, 2, false).unwrap_err().contains("longer than 2"));
        assert!(chain(&g, &dev, 5, 1992, false).unwrap_err().contains("loop"));
        assert!(chain(&g, &dev, 6, 1992, false).unwrap_err().contains("loop"));
        assert!(chain(&g, &dev, 8, 10, false).unwrap_err().contains("is 0x0"));
        // 1993 is the last cluster (valid, but free here); 1994 is past it.
        assert!(chain(&g, &dev, 9, 10, false).unwrap_err().contains("cluster 1993 is 0x0"));
        assert!(chain(&g, &dev, 10, 10, false).unwrap_err().contains("0x7ca"));
        assert!(chain(&g, &dev, 1, 10, false).unwrap_err().contains("outside"));
        assert!(chain(&g, &dev, 1994, 10, false).unwrap_err().contains("outside"));
    }

    #[test]
    fn hostile_boot_sectors() {
        let (g, dev) = volume(&[]);
        let good = dev.contents()[..512].to_vec();
        assert_eq!(Geometry::parse(&good).unwrap().max_cluster, g.max_cluster);
        let bad = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            f(&mut b);
            Geometry::parse(&b).unwrap_err()
        };
        assert!(bad(&|b| b.truncate(100)).contains("512"));
        assert!(bad(&|b| b[0x0D] = 0).contains("sectors per cluster"));
        assert!(bad(&|b| b[0x0C] = 0x30).contains("bytes per sector"));
        assert!(bad(&|b| b[0x10] = 0).contains("number of FATs (BPB_NumFATs) is 0"));
        assert!(bad(&|b| b[0x0E] = 0).contains("reserved sectors (BPB_RsvdSecCnt) is 0"));
        assert!(bad(&|b| b[0x15] = 0x12).contains("media descriptor (BPB_Media) 0x12"));
        assert!(bad(&|b| b[0x11] = 17).contains("root directory entries (BPB_RootEntCnt) 17 is not a multiple of 16"));
        assert!(bad(&|b| b[0x13..0x15].copy_from_slice(&8u16.to_le_bytes())).contains("no data area"));
        // FAT32 with every field at its maximum: no overflow, a clear refusal.
        assert!(bad(&|b| {
            b[0x16..0x18].fill(0);
            b[0x24..0x28].fill(0xFF);
            b[0x0E..0x11].fill(0xFF);
        })
        .contains("FAT"));
    }
}
