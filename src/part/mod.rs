//! Partition tables: MBR (with extended/logical partitions) and GPT; growing a partition
//! (`grow.rs`, growpart's rules); writing a new table (`create.rs`).
//!
//! [`PartitionTable::read`] looks at sector 0: no `0x55AA` signature, or a FAT/NTFS/exFAT boot
//! sector (a filesystem on the whole disk) → no table; a `0xEE` entry (protective or hybrid
//! MBR) → GPT (`gpt.rs`); otherwise MBR (`mbr.rs`). Both readers are ours: the `mbrman` and `gpt`
//! crates panic or allocate without bound on hostile tables.
//!
//! Partition numbers follow libguestfs (and Linux): MBR primaries 1–4, logical partitions from
//! 5; GPT partition N is entry N−1 of the entry array.

pub mod create;
mod gpt;
pub mod grow;
mod mbr;

use crate::disk::BlockDev;
use std::fmt;

/// Errors of the partition layer. Each names the device and the on-disk structure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The block layer failed underneath.
    #[error(transparent)]
    Disk(#[from] crate::disk::Error),
    /// An extended boot record in the logical-partition chain is bad.
    #[error("{dev}: EBR at sector {sector}: {reason}")]
    Ebr {
        /// Device name.
        dev: String,
        /// Absolute sector of the EBR.
        sector: u64,
        /// What is wrong.
        reason: String,
    },
    /// No usable GPT: both headers (or their entry arrays) are bad, or a protective MBR has no
    /// GPT behind it.
    #[error("{dev}: partition table layout: {problem}{}; writing to this disk is refused (sgdisk -v or sfdisk -V show the same; fix the table on a copy first)", if *count > 1 { format!(" (and {} more problems)", count - 1) } else { String::new() })]
    Layout {
        /// The disk.
        dev: String,
        /// The first problem.
        problem: String,
        /// How many problems there are.
        count: usize,
    },
    #[error("{dev}: GPT: {reason}")]
    Gpt {
        /// Device name.
        dev: String,
        /// What is wrong (with the reason for each header).
        reason: String,
    },
    /// A partition entry is inconsistent (for example its end lies before its start).
    #[error("{dev}: partition {number}: {reason}")]
    BadPartition {
        /// Device name.
        dev: String,
        /// libguestfs partition number.
        number: u32,
        /// What is wrong.
        reason: String,
    },
    /// A partition extends past the end of the device.
    #[error("{dev}: partition {number} (bytes {start}..{end}) extends beyond the end of the device ({size} bytes); the image may be truncated")]
    BeyondEnd {
        /// Device name.
        dev: String,
        /// libguestfs partition number.
        number: u32,
        /// First byte of the partition.
        start: u64,
        /// End (exclusive) of the partition in bytes.
        end: u64,
        /// Device size in bytes.
        size: u64,
    },
}

/// Result of partition-layer operations.
pub type Result<T> = std::result::Result<T, Error>;

/// The kind of partition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// DOS/MBR table (libguestfs calls it `msdos`).
    Mbr,
    /// GUID partition table.
    Gpt,
}

impl fmt::Display for TableKind {
    /// The name `part-get-parttype` prints: `msdos` or `gpt`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TableKind::Mbr => "msdos",
            TableKind::Gpt => "gpt",
        })
    }
}

/// A partition table read from a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionTable {
    /// MBR or GPT.
    pub kind: TableKind,
    /// The partitions, sorted by number.
    pub partitions: Vec<Partition>,
    /// GPT disk GUID, uppercase with dashes (`None` for MBR).
    pub disk_guid: Option<String>,
    /// MBR disk signature (offset 440), `None` for GPT.
    pub mbr_signature: Option<u32>,
    /// Problems that did not stop reading, e.g. `primary GPT header corrupt, using backup`.
    pub warnings: Vec<String>,
    /// Layout problems `sgdisk -v` / `sfdisk` report — partitions overlapping each other or
    /// the table, GPT entries outside the usable LBAs — each naming the partitions: the disk
    /// reads, but writers refuse it ([`PartitionTable::check_layout`]).
    pub layout: Vec<LayoutProblem>,
    /// The logical sector size the table is read with: 512, or 4096 on 4K-sector disks.
    pub sector_size: u64,
}

/// A problem in the layout of a partition table, naming the partitions involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutProblem {
    /// The partition numbers it names.
    pub partitions: Vec<u32>,
    /// What sgdisk -v / sfdisk would say.
    pub msg: String,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// libguestfs numbering: MBR primaries 1–4, logical from 5; GPT = entry index + 1.
    pub number: u32,
    /// First byte on the device.
    pub start: u64,
    /// Length in bytes.
    pub size: u64,
    /// Table-specific attributes.
    pub kind: PartKind,
}

/// Table-specific partition attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartKind {
    /// An MBR entry.
    Mbr {
        /// Partition type byte (`0x83` Linux, `0x05` extended, …).
        id: u8,
        /// Boot flag (`0x80`) set.
        bootable: bool,
        /// A logical partition inside the extended partition.
        logical: bool,
        /// The extended partition container itself.
        extended: bool,
    },
    /// A GPT entry.
    Gpt {
        /// Partition type GUID, uppercase.
        type_guid: String,
        /// Unique partition GUID, uppercase.
        guid: String,
        /// Partition name (UTF-16LE on disk, up to 36 units).
        name: String,
        /// Attribute bits.
        attributes: u64,
    },
}

/// Layout problems of `parts` on a device of `sectors` `ss`-byte sectors: partitions outside
/// `usable` (first and last usable sector, inclusive) and pairs that overlap — an MBR
/// extended container and the logical partitions inside it excepted.
pub(super) fn layout_problems(parts: &[Partition], ss: u64, usable: (u64, u64)) -> Vec<LayoutProblem> {
    let mut out = Vec::new();
    let range = |p: &Partition| (p.start / ss, (p.start + p.size) / ss - 1);
    for p in parts {
        let (first, last) = range(p);
        if first < usable.0 || last > usable.1 {
            let msg = format!(
                "partition {} (sectors {first}-{last}) is outside the usable sectors {}-{}: it overlaps the partition table",
                p.number, usable.0, usable.1
            );
            out.push(LayoutProblem { partitions: vec![p.number], msg });
        }
    }
    let extended = |p: &Partition| matches!(p.kind, PartKind::Mbr { extended: true, .. });
    let logical = |p: &Partition| matches!(p.kind, PartKind::Mbr { logical: true, .. });
    let mut sorted: Vec<&Partition> = parts.iter().collect();
    sorted.sort_by_key(|p| p.start);
    for (i, a) in sorted.iter().enumerate() {
        let a_end = a.start + a.size;
        for b in sorted[i + 1..].iter().take_while(|b| b.start < a_end) {
            if (extended(a) && logical(b)) || (extended(b) && logical(a)) {
                continue;
            }
            let (x, y) = if a.number < b.number { (a, b) } else { (b, a) };
            let (xf, xl) = range(x);
            let (yf, yl) = range(y);
            let msg = format!("partitions {} and {} overlap (sectors {xf}-{xl} and {yf}-{yl})", x.number, y.number);
            out.push(LayoutProblem { partitions: vec![x.number, y.number], msg });
        }
    }
    out
}

impl PartitionTable {
    /// Reads the partition table of `dev`.
    ///
    /// Returns `None` when the device has no partition table (e.g. a whole-disk filesystem).
    ///
    /// The logical sector size is probed: a GPT header at LBA 1 of 512 or 4096 bytes; an MBR
    /// whose entries only make sense with 4096-byte sectors (see [`PartitionTable::read_with`]
    /// to give it, as libguestfs' `blocksize`).
    pub fn read(dev: &dyn BlockDev) -> Result<Option<PartitionTable>> {
        Self::read_with(dev, None)
    }

    /// Reads the partition table of `dev` with `sector_size`-byte logical sectors (512 or
    /// 4096), or probing it when `None`.
    pub fn read_with(dev: &dyn BlockDev, sector_size: Option<u64>) -> Result<Option<PartitionTable>> {
        let Some(sector0) = mbr::read_sector0(dev)? else {
            return Ok(None);
        };
        match mbr::classify(&sector0) {
            mbr::Sector0::NotATable => Ok(None),
            mbr::Sector0::Protective => {
                let ss = match sector_size {
                    Some(ss) => ss,
                    None => gpt::sector_size(dev)?,
                };
                gpt::read(dev, ss).map(Some)
            }
            mbr::Sector0::Mbr => {
                let ss = match sector_size {
                    Some(ss) => ss,
                    None => mbr::guess_sector_size(dev, &sector0)?,
                };
                mbr::read(dev, &sector0, ss).map(Some)
            }
        }
    }

    /// Refuses a disk whose layout has problems (see [`PartitionTable::layout`]): writers call
    /// it before changing the table or a filesystem on it.
    pub fn check_layout(&self, dev: &str) -> Result<()> {
        match self.layout.first() {
            None => Ok(()),
            Some(first) => Err(Error::Layout { dev: dev.to_string(), problem: first.msg.clone(), count: self.layout.len() }),
        }
    }

    /// Every partition of `disk` but extended-partition containers, as a device named
    /// `{prefix}{number}` (`/dev/sda2`): what an LVM scan or a filesystem probe looks at.
    pub fn slices(&self, disk: &crate::disk::Dev, prefix: &str) -> Result<Vec<(String, crate::disk::Dev)>> {
        self.partitions
            .iter()
            .filter(|p| !matches!(p.kind, PartKind::Mbr { extended: true, .. }))
            .map(|p| {
                let name = format!("{prefix}{}", p.number);
                let dev: crate::disk::Dev = std::sync::Arc::new(crate::disk::Slice::new(disk.clone(), p.start, p.size, name.clone())?);
                Ok((name, dev))
            })
            .collect()
    }
}

/// Checks that `start..start+size` (bytes) lies inside `dev`, naming partition `number`.
fn check_inside(dev: &dyn BlockDev, number: u32, start: u64, size: u64) -> Result<()> {
    let len = dev.len();
    match start.checked_add(size) {
        Some(end) if end <= len => Ok(()),
        end => Err(Error::BeyondEnd {
            dev: dev.name(),
            number,
            start,
            end: end.unwrap_or(u64::MAX),
            size: len,
        }),
    }
}

/// Little-endian integer fields at fixed offsets of an on-disk structure already read in full.
/// Offsets are constants of the format; a short buffer reads as zero instead of panicking.
fn le_u16(b: &[u8], at: usize) -> u16 {
    let mut v = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        v.copy_from_slice(s);
    }
    u16::from_le_bytes(v)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        v.copy_from_slice(s);
    }
    u32::from_le_bytes(v)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        v.copy_from_slice(s);
    }
    u64::from_le_bytes(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::MemDev;

    #[test]
    fn no_table_without_a_boot_signature() {
        assert_eq!(PartitionTable::read(&MemDev::new(vec![0; 300])).unwrap(), None);
        assert_eq!(PartitionTable::read(&MemDev::new(vec![0; 4096])).unwrap(), None);
    }

    #[test]
    fn protective_mbr_on_a_tiny_device_is_an_error() {
        let mut disk = vec![0u8; 1024];
        disk[446 + 4] = 0xEE;
        disk[446 + 8] = 1;
        disk[510] = 0x55;
        disk[511] = 0xAA;
        let err = PartitionTable::read(&MemDev::new(disk)).unwrap_err();
        assert!(matches!(err, Error::Gpt { .. }), "{err}");
        assert!(err.to_string().starts_with("mem: GPT: "), "{err}");
    }

    #[test]
    fn table_kind_names_match_libguestfs() {
        assert_eq!(TableKind::Mbr.to_string(), "msdos");
        assert_eq!(TableKind::Gpt.to_string(), "gpt");
    }
}
