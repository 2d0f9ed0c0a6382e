//! The metadata check run before a qcow2 image is opened for writing: the L1 table, every L2
//! table, the refcount table, every refcount block, the snapshot table and the snapshots' L1
//! and L2 tables must lie inside the file, be cluster-aligned, and overlap neither the header
//! nor each other; then every cluster's refcount must equal the references to it
//! ([`refcounts`]: what QEMU's overlap check and `qemu-img check` guard against). An image that
//! fails is never written (a write through a bad table, or an allocation of a cluster that
//! looks free but is in use, would overwrite other metadata or data); the error says to repair
//! a copy with `qemu-img check -r all`. The work is bounded: tables are at most as large as the
//! header check allows, and a table count past [`MAX_TABLES`] is refused.

mod refcounts;

use super::header::{Qcow2Info, MAX_L1_ENTRIES};
use crate::disk::{Error, Result};
use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Most metadata tables we check: 2 Mi tables of 32 bytes of bookkeeping each (a fully
/// allocated 1 TiB image with 64 KiB clusters has about 2 100).
pub const MAX_TABLES: usize = 1 << 21;
/// Most snapshot L1 entries read in total across snapshots.
const MAX_SNAPSHOT_L1_ENTRIES: u64 = 1 << 24;
/// Largest snapshot table we read (QEMU's limit).
const MAX_SNAPSHOT_TABLE: u64 = 64 << 20;
/// Offset bits of an L1 entry.
const L1_OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// Offset bits of a refcount table entry.
const REFT_OFFSET_MASK: u64 = !0x1ff;

/// Which metadata structure a region is.
#[derive(Debug, Clone, Copy)]
enum What {
    Header,
    L1,
    L2(usize),
    RefTable,
    RefBlock(usize),
    SnapshotTable,
    SnapshotL1(u32),
    SnapshotL2(u64),
    L2At(u64),
    BitmapDirectory,
    BitmapTable(u32),
}

impl std::fmt::Display for What {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            What::Header => write!(f, "the header"),
            What::L1 => write!(f, "the L1 table"),
            What::L2(i) => write!(f, "the L2 table of L1 entry {i}"),
            What::RefTable => write!(f, "the refcount table"),
            What::RefBlock(i) => write!(f, "the refcount block of refcount table entry {i}"),
            What::SnapshotTable => write!(f, "the snapshot table"),
            What::SnapshotL1(n) => write!(f, "the L1 table of snapshot {n}"),
            What::SnapshotL2(off) => write!(f, "an L2 table of a snapshot at offset {off:#x}"),
            What::L2At(off) => write!(f, "the L2 table at offset {off:#x}"),
            What::BitmapDirectory => write!(f, "the bitmap directory"),
            What::BitmapTable(n) => write!(f, "the table of bitmap {n}"),
        }
    }
}

/// A metadata structure's place in the file (32 bytes, so [`MAX_TABLES`] of them fit in 64 MiB).
struct Region {
    start: u64,
    len: u64,
    what: What,
}

/// Checks the metadata of the qcow2 image open in `file` (see the module docs).
pub fn check_metadata(file: &File, info: &Qcow2Info, path: &Path) -> Result<()> {
    let file_len = file.metadata().map_err(|source| Error::Io { path: path.to_path_buf(), op: "stat", source })?.len();
    let c = Checker { file, path, file_len, cluster: info.cluster_size };
    let mut regions = vec![Region { start: 0, len: c.cluster, what: What::Header }];

    let l1_bytes = u64::from(info.l1_size) * 8;
    if l1_bytes > 0 {
        c.place(&mut regions, info.l1_table_offset, l1_bytes, What::L1)?;
    }
    let reft_bytes = u64::from(info.refcount_table_clusters) * c.cluster;
    c.place(&mut regions, info.refcount_table_offset, reft_bytes, What::RefTable)?;
    // The tables the header names must be sound before their entries mean anything.
    overlaps(&mut regions, path)?;

    // Offsets of the active L2 tables, which snapshots may share (kept only when there are
    // snapshots).
    let mut active_l2 = Vec::new();
    for (i, entry) in c.read_table(info.l1_table_offset, l1_bytes, What::L1)?.into_iter().enumerate() {
        let off = entry & L1_OFFSET_MASK;
        if off != 0 {
            c.place(&mut regions, off, c.cluster, What::L2(i))?;
            if info.nb_snapshots > 0 {
                active_l2.push(off);
            }
        }
    }
    active_l2.sort_unstable();

    for (i, entry) in c.read_table(info.refcount_table_offset, reft_bytes, What::RefTable)?.into_iter().enumerate() {
        let off = entry & REFT_OFFSET_MASK;
        if off != 0 {
            c.place(&mut regions, off, c.cluster, What::RefBlock(i))?;
        }
    }

    if info.nb_snapshots > 0 {
        c.snapshots(&mut regions, info, &active_l2)?;
    }
    overlaps(&mut regions, path)?;
    refcounts::verify(&c, info, &regions)
}

struct Checker<'a> {
    file: &'a File,
    path: &'a Path,
    file_len: u64,
    cluster: u64,
}

impl Checker<'_> {
    fn err(&self, msg: String) -> Error {
        Error::Qcow2 {
            path: self.path.to_path_buf(),
            msg: format!(
                "metadata check before writing failed: {msg}; refusing to write to this image (inspect it with `qemu-img check {}`; repair a copy with `qemu-img check -r all COPY`)",
                self.path.display()
            ),
        }
    }

    /// Checks that `len` bytes at `off` are cluster-aligned and inside the file, and records
    /// the clusters they occupy.
    fn place(&self, regions: &mut Vec<Region>, off: u64, len: u64, what: What) -> Result<()> {
        if off % self.cluster != 0 {
            return Err(self.err(format!("{what} at offset {off:#x} is not cluster-aligned")));
        }
        if off.checked_add(len).is_none_or(|end| end > self.file_len) {
            return Err(self.err(format!("{what} ({len} bytes at offset {off:#x}) lies beyond the end of the file ({} bytes)", self.file_len)));
        }
        if regions.len() >= MAX_TABLES {
            return Err(self.err(format!("the image has more than {MAX_TABLES} metadata tables")));
        }
        regions.push(Region { start: off, len: len.max(1).next_multiple_of(self.cluster), what });
        Ok(())
    }

    fn read(&self, buf: &mut [u8], off: u64, what: What) -> Result<()> {
        self.file.read_exact_at(buf, off).map_err(|e| self.err(format!("reading {what} at offset {off:#x}: {e}")))
    }

    /// Reads `len` bytes at `off`, which must lie inside the file (so `len` is bounded by it).
    fn read_bytes(&self, off: u64, len: u64, what: What) -> Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        if off.checked_add(len).is_none_or(|end| end > self.file_len) {
            return Err(self.err(format!("{what} ({len} bytes at offset {off:#x}) lies beyond the end of the file ({} bytes)", self.file_len)));
        }
        let mut buf = vec![0u8; usize::try_from(len).map_err(|_| self.err(format!("{what} is too large")))?];
        self.read(&mut buf, off, what)?;
        Ok(buf)
    }

    /// Reads a table of big-endian u64 entries.
    fn read_table(&self, off: u64, len: u64, what: What) -> Result<Vec<u64>> {
        let buf = self.read_bytes(off, len, what)?;
        Ok(buf.chunks_exact(8).map(|b| u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])).collect())
    }

    /// Each snapshot's L1 table `(offset, entries)`, and where the snapshot table ends. The
    /// table must lie inside the file and within QEMU's size limit; the L1 tables together
    /// have at most [`MAX_SNAPSHOT_L1_ENTRIES`] entries.
    fn snapshot_l1s(&self, info: &Qcow2Info) -> Result<(Vec<(u64, u64)>, u64)> {
        let table = info.snapshots_offset;
        let (mut pos, mut end) = (table, table);
        let mut l1_budget = MAX_SNAPSHOT_L1_ENTRIES;
        let mut l1s = Vec::new();
        for n in 0..info.nb_snapshots {
            let mut e = [0u8; 40];
            if pos.checked_add(40).is_none_or(|end| end > self.file_len || end - table > MAX_SNAPSHOT_TABLE) {
                return Err(self.err(format!("the snapshot table at offset {table:#x} runs past the end of the file at snapshot {n}")));
            }
            self.read(&mut e, pos, What::SnapshotTable)?;
            let l1_off = u64::from_be_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]]);
            let l1_size = u64::from(u32::from_be_bytes([e[8], e[9], e[10], e[11]]));
            let id_len = u64::from(u16::from_be_bytes([e[12], e[13]]));
            let name_len = u64::from(u16::from_be_bytes([e[14], e[15]]));
            let extra_len = u64::from(u32::from_be_bytes([e[36], e[37], e[38], e[39]]));
            // The last entry's padding need not exist: QEMU ends the file right after it.
            end = pos.saturating_add(40 + extra_len + id_len + name_len);
            if end > self.file_len || end - table > MAX_SNAPSHOT_TABLE {
                return Err(self.err(format!("the snapshot table at offset {table:#x} runs past the end of the file at snapshot {n}")));
            }
            pos = end.next_multiple_of(8);
            if l1_size > MAX_L1_ENTRIES || l1_size > l1_budget {
                return Err(self.err(format!("the L1 table of snapshot {n} has {l1_size} entries, more than we check")));
            }
            l1_budget -= l1_size;
            l1s.push((l1_off, l1_size));
        }
        Ok((l1s, end))
    }

    /// The snapshot table, each snapshot's L1 table, and the L2 tables they name that the
    /// active L1 table does not name.
    fn snapshots(&self, regions: &mut Vec<Region>, info: &Qcow2Info, active_l2: &[u64]) -> Result<()> {
        let (l1s, end) = self.snapshot_l1s(info)?;
        let mut own_l2 = BTreeSet::new();
        for (n, (l1_off, l1_size)) in l1s.into_iter().enumerate() {
            let what = What::SnapshotL1(n as u32);
            if l1_size > 0 {
                self.place(regions, l1_off, l1_size * 8, what)?;
            }
            for entry in self.read_table(l1_off, l1_size * 8, what)? {
                let off = entry & L1_OFFSET_MASK;
                if off != 0 && active_l2.binary_search(&off).is_err() {
                    own_l2.insert(off);
                    if own_l2.len() + regions.len() > MAX_TABLES {
                        return Err(self.err(format!("the image has more than {MAX_TABLES} metadata tables")));
                    }
                }
            }
        }
        let table = info.snapshots_offset;
        self.place(regions, table, end - table, What::SnapshotTable)?;
        for off in own_l2 {
            self.place(regions, off, self.cluster, What::SnapshotL2(off))?;
        }
        Ok(())
    }
}

/// Fails when two regions share a cluster, naming both.
fn overlaps(regions: &mut [Region], path: &Path) -> Result<()> {
    regions.sort_by_key(|r| (r.start, r.len));
    let mut furthest: Option<&Region> = None;
    for r in regions.iter() {
        if let Some(f) = furthest {
            if r.start < f.start + f.len {
                return Err(Error::Qcow2 {
                    path: path.to_path_buf(),
                    msg: format!(
                        "metadata check before writing failed: {} at offset {:#x} overlaps {} at offset {:#x}; refusing to write to this image (inspect it with `qemu-img check {}`)",
                        r.what,
                        r.start,
                        f.what,
                        f.start,
                        path.display()
                    ),
                });
            }
        }
        if furthest.is_none_or(|f| r.start + r.len > f.start + f.len) {
            furthest = Some(r);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(start: u64, len: u64, what: What) -> Region {
        Region { start, len, what }
    }

    #[test]
    fn overlap_names_both_structures() {
        let mut r = vec![region(0, 0x10000, What::Header), region(0x30000, 0x20000, What::L1), region(0x40000, 0x10000, What::L2(7))];
        let e = overlaps(&mut r, Path::new("x")).unwrap_err().to_string();
        assert!(e.contains("the L2 table of L1 entry 7 at offset 0x40000 overlaps the L1 table at offset 0x30000"), "{e}");
        // A long region hides behind a shorter one that starts after it.
        let mut r = vec![region(0, 0x100000, What::RefTable), region(0x10000, 0x10000, What::L1), region(0x50000, 0x10000, What::L2(0))];
        let e = overlaps(&mut r, Path::new("x")).unwrap_err().to_string();
        assert!(e.contains("the L1 table at offset 0x10000 overlaps the refcount table"), "{e}");
        let mut r = vec![region(0, 0x10000, What::Header), region(0x10000, 0x10000, What::L1), region(0x20000, 0x10000, What::RefBlock(0))];
        assert!(overlaps(&mut r, Path::new("x")).is_ok());
    }
}
