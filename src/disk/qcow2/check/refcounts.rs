//! References against refcounts, as `qemu-img check` compares them: every host cluster the
//! metadata uses (the header, the L1, refcount and snapshot tables, refcount blocks, L2 tables,
//! the data clusters they map — compressed ones by the sectors they span —, the bitmap
//! directory, bitmap tables and bitmap data) is counted once per reference, and the refcount
//! the image stores for it must be exactly that. A smaller stored refcount means a cluster in
//! use looks free (the next allocation would overwrite it), a larger one that a cluster in use
//! would be copied instead of written; both refuse the write, as does a data cluster mapped
//! onto a metadata structure, a reference past the end of the file, and an L1 or L2 entry
//! whose COPIED flag disagrees with the refcount (a write in place into a shared cluster).
//! Clusters stored with a refcount but referenced by nothing (leaks, left by a crash) are
//! harmless and accepted, as QEMU accepts them. A sound image that holds persistent dirty
//! bitmaps is refused last: our writes would not mark them (imago clears the bitmaps' autoclear
//! bit, so QEMU would drop them and leak their clusters), which breaks incremental backups
//! without a word.
//!
//! Work and memory are bounded: one 16-bit counter per cluster of the file (at most
//! [`MAX_CLUSTERS`]), each distinct L2 table and bitmap table read once, however many snapshot
//! L1 tables share it; the loops walk tables whose sizes the header and placement checks bound.

use super::{Checker, Region, What, L1_OFFSET_MASK, REFT_OFFSET_MASK};
use crate::disk::qcow2::header::Qcow2Info;
use crate::disk::{Error, Result};
use std::collections::BTreeMap;

/// Most clusters a file may have for us to check it (128 MiB of counters).
pub(super) const MAX_CLUSTERS: u64 = 1 << 26;
/// The COPIED flag of L1 and L2 entries: the cluster's refcount is exactly 1.
const COPIED: u64 = 1 << 63;
/// The compressed flag of L2 entries.
const COMPRESSED: u64 = 1 << 62;
/// The zero flag of (version 3) L2 entries.
const ZERO: u64 = 1;
/// Offset bits of a standard L2 entry (and of a bitmap table entry).
const L2_OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// Size of one bitmap directory entry without its name and extra data.
const BITMAP_ENTRY: u64 = 24;
/// Largest bitmap directory QEMU accepts.
const MAX_BITMAP_DIRECTORY: u64 = 64 << 20;
/// Most bitmaps QEMU accepts in one image.
const MAX_BITMAPS: u32 = 65535;

/// Expected references of every host cluster of the file.
struct Refs {
    counts: Vec<u16>,
    cluster_bits: u32,
    file_len: u64,
}

impl Refs {
    /// Counts one more reference to each cluster that `len` bytes at `off` touch.
    fn add(&mut self, c: &Checker, off: u64, len: u64, times: u32, what: &dyn Fn() -> String) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        let end = off.checked_add(len).ok_or_else(|| c.err(format!("{} at offset {off:#x} overflows", what())))?;
        // QEMU's rule: a region may end past the file by less than one cluster.
        if end.saturating_sub(self.file_len) >= c.cluster {
            return Err(c.err(format!("{} ({len} bytes at offset {off:#x}) lies beyond the end of the file ({} bytes)", what(), self.file_len)));
        }
        for i in off >> self.cluster_bits..=(end - 1) >> self.cluster_bits {
            let slot = self.counts.get_mut(i as usize).ok_or_else(|| c.err(format!("{} at offset {off:#x} lies beyond the end of the file", what())))?;
            let n = u32::from(*slot) + times;
            *slot = u16::try_from(n).ok().filter(|&n| n < u16::MAX).ok_or_else(|| c.err(format!("the cluster at offset {:#x} has more than 65534 references", i << self.cluster_bits)))?;
        }
        Ok(())
    }

    fn get(&self, cluster: u64) -> u64 {
        self.counts.get(cluster as usize).copied().map_or(0, u64::from)
    }
}

/// The refcount of entry `i` of a refcount block of `bits`-bit entries (QEMU's layout:
/// sub-byte widths fill each byte from its least significant bit, wider ones are big-endian).
fn refcount_at(block: &[u8], i: usize, bits: u32) -> u64 {
    if bits < 8 {
        let bit = i * bits as usize;
        let byte = block.get(bit / 8).copied().unwrap_or(0);
        u64::from(byte >> (bit % 8)) & ((1 << bits) - 1)
    } else {
        let n = bits as usize / 8;
        block.get(i * n..i * n + n).map_or(0, |b| b.iter().fold(0u64, |v, x| v << 8 | u64::from(*x)))
    }
}

/// Where a standard or compressed L2 entry's data lies: `(offset, bytes)`, or `None` for an
/// unallocated or plain zero cluster.
fn data_extent(c: &Checker, entry: u64, l2: u64) -> Result<Option<(u64, u64)>> {
    let bits = c.cluster.trailing_zeros();
    if entry & COMPRESSED != 0 {
        let x = 62 - (bits - 8);
        let off = entry & ((1u64 << x) - 1);
        let sectors = ((entry >> x) & ((1u64 << (bits - 8)) - 1)) + 1;
        if entry & COPIED != 0 {
            return Err(c.err(format!("a compressed cluster at offset {off:#x} (L2 table at {l2:#x}) has the COPIED flag set")));
        }
        return Ok(Some((off, sectors * 512 - (off & 511))));
    }
    let off = entry & L2_OFFSET_MASK;
    if off == 0 {
        return Ok(None);
    }
    if off % c.cluster != 0 {
        return Err(c.err(format!("a data cluster at offset {off:#x} (L2 table at {l2:#x}) is not cluster-aligned")));
    }
    Ok(Some((off, c.cluster)))
}

/// The metadata structure whose clusters hold `off`, if any (`regions` sorted by start and,
/// once the overlap check passed, disjoint).
fn metadata_at(regions: &[Region], off: u64) -> Option<&Region> {
    let i = regions.partition_point(|r| r.start <= off);
    regions.get(i.checked_sub(1)?).filter(|r| r.start + r.len > off)
}

/// Counts the references of every cluster and compares them with the stored refcounts (see the
/// module docs). `regions` are the metadata structures already placed, sorted by start.
pub(super) fn verify(c: &Checker, info: &Qcow2Info, regions: &[Region]) -> Result<()> {
    let clusters = c.file_len.div_ceil(c.cluster) + 1;
    if clusters > MAX_CLUSTERS {
        return Err(c.err(format!("the file has {clusters} clusters, more than the {MAX_CLUSTERS} we check")));
    }
    let mut refs = Refs { counts: vec![0; clusters as usize], cluster_bits: c.cluster.trailing_zeros(), file_len: c.file_len };

    // Every metadata structure placed so far is referenced once (L2 tables are counted per L1
    // table naming them, below).
    for r in regions.iter().filter(|r| !matches!(r.what, What::L2(_) | What::SnapshotL2(_))) {
        refs.add(c, r.start, r.len, 1, &|| r.what.to_string())?;
    }

    // L2 tables, by how many L1 tables (the active one and each snapshot's) name them.
    let mut l2_uses: BTreeMap<u64, u32> = BTreeMap::new();
    let l1_bytes = u64::from(info.l1_size) * 8;
    let active_l1 = c.read_table(info.l1_table_offset, l1_bytes, What::L1)?;
    for off in active_l1.iter().map(|e| e & L1_OFFSET_MASK).filter(|&o| o != 0) {
        *l2_uses.entry(off).or_default() += 1;
    }
    for (n, (l1_off, l1_size)) in c.snapshot_l1s(info)?.0.into_iter().enumerate() {
        for off in c.read_table(l1_off, l1_size * 8, What::SnapshotL1(n as u32))?.into_iter().map(|e| e & L1_OFFSET_MASK).filter(|&o| o != 0) {
            let uses = l2_uses.entry(off).or_default();
            *uses = uses.saturating_add(1);
        }
    }
    for (&l2, &times) in &l2_uses {
        refs.add(c, l2, c.cluster, times, &|| format!("the L2 table at offset {l2:#x}"))?;
        for entry in c.read_table(l2, c.cluster, What::L2At(l2))? {
            let Some((off, len)) = data_extent(c, entry, l2)? else { continue };
            if entry & COMPRESSED == 0 {
                if let Some(m) = metadata_at(regions, off) {
                    return Err(c.err(format!("the L2 table at offset {l2:#x} maps a data cluster at offset {off:#x} onto {} at offset {:#x}", m.what, m.start)));
                }
            }
            refs.add(c, off, len, times, &|| format!("a data cluster of the L2 table at offset {l2:#x}"))?;
        }
    }

    let bitmaps = match info.bitmaps {
        Some(b) => count_bitmaps(c, &mut refs, b)?,
        None => Vec::new(),
    };

    let stored = compare(c, info, &refs)?;

    // COPIED flags of the active tables: set exactly when the stored refcount (now known to be
    // at least the references) is 1, as qemu-img check wants them.
    for (i, entry) in active_l1.iter().enumerate() {
        let off = entry & L1_OFFSET_MASK;
        if off == 0 {
            continue;
        }
        let n = stored.get(off >> refs.cluster_bits);
        if (entry & COPIED != 0) == (n != 1) {
            return Err(c.err(format!("L1 entry {i}: the COPIED flag of the L2 table at offset {off:#x} disagrees with its refcount {n}")));
        }
        for entry in c.read_table(off, c.cluster, What::L2(i))? {
            let data = entry & L2_OFFSET_MASK;
            if entry & COMPRESSED != 0 || data == 0 {
                continue;
            }
            let n = stored.get(data >> refs.cluster_bits);
            if (entry & COPIED != 0) == (n != 1) {
                return Err(c.err(format!("the L2 table at offset {off:#x}: the COPIED flag of the data cluster at offset {data:#x} disagrees with its refcount {n}")));
            }
            // A v2 image has no zero flag: the bit is reserved.
            if entry & ZERO != 0 && info.version < 3 {
                return Err(c.err(format!("the L2 table at offset {off:#x} has reserved bit 0 set in a version 2 image")));
            }
        }
    }
    if !bitmaps.is_empty() {
        let p = c.path.display();
        return Err(Error::Qcow2Unsupported {
            path: c.path.to_path_buf(),
            feature: format!("writing to an image with persistent dirty bitmaps ({}): they would not record the changes", bitmaps.join(", ")),
            fix: format!("remove them first with `qemu-img bitmap --remove {p} NAME`, or write to a copy made by `qemu-img convert -O qcow2 {p} COPY`"),
        });
    }
    Ok(())
}

/// Counts the bitmap directory, each bitmap's table, and the data clusters the tables name;
/// returns the bitmaps' names.
fn count_bitmaps(c: &Checker, refs: &mut Refs, b: crate::disk::qcow2::Bitmaps) -> Result<Vec<String>> {
    let what = || "the bitmap directory".to_string();
    if b.count > MAX_BITMAPS || b.directory_size > MAX_BITMAP_DIRECTORY || b.directory_offset % c.cluster != 0 {
        return Err(c.err(format!("the bitmaps extension is invalid ({} bitmaps, a directory of {} bytes at offset {:#x})", b.count, b.directory_size, b.directory_offset)));
    }
    refs.add(c, b.directory_offset, b.directory_size, 1, &what)?;
    let dir = c.read_bytes(b.directory_offset, b.directory_size, What::BitmapDirectory)?;
    let mut pos = 0usize;
    let mut names = Vec::new();
    for n in 0..b.count {
        let e = dir.get(pos..pos + BITMAP_ENTRY as usize).ok_or_else(|| c.err(format!("the bitmap directory ends before bitmap {n}")))?;
        let be = |r: std::ops::Range<usize>| e[r].iter().fold(0u64, |v, x| v << 8 | u64::from(*x));
        let (table, size, name_len, extra) = (be(0..8), be(8..12), be(18..20), be(20..24));
        let name_at = pos as u64 + BITMAP_ENTRY + extra;
        let name = dir.get(name_at as usize..(name_at + name_len) as usize).ok_or_else(|| c.err(format!("the name of bitmap {n} runs past the bitmap directory")))?;
        names.push(String::from_utf8_lossy(name).into_owned());
        pos = (name_at + name_len).next_multiple_of(8) as usize;
        if table % c.cluster != 0 {
            return Err(c.err(format!("the table of bitmap {n} at offset {table:#x} is not cluster-aligned")));
        }
        refs.add(c, table, size * 8, 1, &|| format!("the table of bitmap {n}"))?;
        for entry in c.read_table(table, size * 8, What::BitmapTable(n))? {
            let off = entry & L2_OFFSET_MASK;
            if off != 0 {
                refs.add(c, off, c.cluster, 1, &|| format!("a data cluster of bitmap {n}"))?;
            }
        }
    }
    Ok(names)
}

/// The stored refcounts of the referenced clusters (0 for the others), saturated at
/// `u16::MAX`: what the COPIED flags are checked against.
struct Stored(Vec<u16>);

impl Stored {
    fn get(&self, cluster: u64) -> u16 {
        usize::try_from(cluster).ok().and_then(|i| self.0.get(i)).copied().unwrap_or(0)
    }
}

/// Compares every stored refcount with the references counted; a cluster with references that
/// no refcount block covers counts as refcount 0. A refcount above the references is a leak
/// (allowed); below, an error. Returns the stored refcounts of the referenced clusters.
fn compare(c: &Checker, info: &Qcow2Info, refs: &Refs) -> Result<Stored> {
    let bits = info.refcount_bits;
    let per_block = c.cluster * 8 / u64::from(bits);
    let table = c.read_table(info.refcount_table_offset, u64::from(info.refcount_table_clusters) * c.cluster, What::RefTable)?;
    let clusters = refs.counts.len() as u64;
    let mut out = Stored(vec![0; refs.counts.len()]);
    let mismatch = |cluster: u64, stored: u64, counted: u64| {
        c.err(format!(
            "the cluster at offset {:#x} has refcount {stored} but {counted} reference{}{}",
            cluster * c.cluster,
            if counted == 1 { "" } else { "s" },
            if stored < counted { " (it would be overwritten as free space)" } else { "" }
        ))
    };
    for (i, entry) in table.iter().enumerate() {
        let first = i as u64 * per_block;
        if first >= clusters {
            break;
        }
        let block = entry & REFT_OFFSET_MASK;
        let data = if block == 0 { Vec::new() } else { c.read_bytes(block, c.cluster, What::RefBlock(i))? };
        for j in 0..per_block.min(clusters - first) {
            let counted = refs.get(first + j);
            let stored = refcount_at(&data, j as usize, bits);
            // Leaks (a refcount above the references: a crash between dropping a reference
            // and decrementing the count) are harmless, as qemu-img check says: the cluster is
            // never reused while it is counted. A refcount below the references is not.
            if stored < counted {
                return Err(mismatch(first + j, stored, counted));
            }
            if counted != 0 {
                out.0[(first + j) as usize] = u16::try_from(stored).unwrap_or(u16::MAX);
            }
        }
    }
    // Clusters past what the refcount table covers.
    let covered = (table.len() as u64).saturating_mul(per_block);
    if let Some(k) = (covered..clusters).find(|&k| refs.get(k) != 0) {
        return Err(mismatch(k, 0, refs.get(k)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refcount_widths() {
        let block = [0b1011_0001u8, 0x12, 0x34, 0x56, 0x78];
        assert_eq!(refcount_at(&block, 0, 1), 1);
        assert_eq!(refcount_at(&block, 4, 1), 1);
        assert_eq!(refcount_at(&block, 6, 1), 0);
        assert_eq!(refcount_at(&block, 0, 4), 1);
        assert_eq!(refcount_at(&block, 1, 4), 0b1011);
        assert_eq!(refcount_at(&block, 1, 2), 0);
        assert_eq!(refcount_at(&block, 3, 2), 0b10);
        assert_eq!(refcount_at(&block, 1, 8), 0x12);
        assert_eq!(refcount_at(&block, 1, 16), 0x3456);
        assert_eq!(refcount_at(&block, 0, 32), 0xb112_3456);
        // out of the block reads as zero
        assert_eq!(refcount_at(&block, 9, 32), 0);
    }

    #[test]
    fn metadata_lookup() {
        let r = vec![
            Region { start: 0, len: 0x10000, what: What::Header },
            Region { start: 0x20000, len: 0x20000, what: What::RefTable },
            Region { start: 0x40000, len: 0x10000, what: What::L1 },
        ];
        assert!(matches!(metadata_at(&r, 0x8000).map(|r| r.what), Some(What::Header)));
        assert!(metadata_at(&r, 0x10000).is_none());
        assert!(matches!(metadata_at(&r, 0x38000).map(|r| r.what), Some(What::RefTable)));
        assert!(matches!(metadata_at(&r, 0x40000).map(|r| r.what), Some(What::L1)));
        assert!(metadata_at(&r, 0x50000).is_none());
    }
}
