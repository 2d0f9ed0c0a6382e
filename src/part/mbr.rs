//! MBR reader: the four primary entries of sector 0 and the EBR chain of logical partitions.
//!
//! Each EBR holds one logical partition (start relative to the EBR itself) and a link to the
//! next EBR (start relative to the extended partition). The chain is followed with a bound
//! ([`MAX_LOGICAL`]), loop detection, and every EBR must lie inside the extended partition.

use super::{check_inside, le_u16, le_u32, Error, PartKind, Partition, PartitionTable, Result, TableKind};
use crate::disk::BlockDev;
use crate::units::SECTOR_SIZE;
use std::collections::HashSet;

/// Most logical partitions (and EBRs) followed in one extended partition chain.
const MAX_LOGICAL: usize = 128;
/// Offset of the four 16-byte partition entries in an MBR/EBR.
const TABLE_OFFSET: usize = 446;
/// Offset of the disk signature in the MBR.
const DISK_SIGNATURE_OFFSET: usize = 440;

/// A boot sector: one 512-byte sector.
pub(super) type Sector = [u8; 512];

/// What sector 0 holds.
pub(super) enum Sector0 {
    /// No partition table (e.g. a filesystem on the whole disk).
    NotATable,
    /// A protective or hybrid MBR: the disk is GPT.
    Protective,
    /// A DOS partition table.
    Mbr,
}

/// One 16-byte partition entry of an MBR or EBR.
#[derive(Clone, Copy)]
struct Entry {
    boot: u8,
    id: u8,
    start: u32,
    sectors: u32,
}

impl Entry {
    fn parse(sector: &Sector, slot: usize) -> Entry {
        let at = TABLE_OFFSET + 16 * slot;
        Entry {
            boot: sector.get(at).copied().unwrap_or(0),
            id: sector.get(at + 4).copied().unwrap_or(0),
            start: le_u32(sector, at + 8),
            sectors: le_u32(sector, at + 12),
        }
    }

    /// Entries of type 0 or size 0 are unused (the kernel skips them too).
    fn is_used(&self) -> bool {
        self.id != 0 && self.sectors != 0
    }

    /// DOS extended (0x05), Windows LBA extended (0x0F) or Linux extended (0x85).
    fn is_extended(&self) -> bool {
        matches!(self.id, 0x05 | 0x0F | 0x85)
    }
}

fn entries(sector: &Sector) -> [Entry; 4] {
    std::array::from_fn(|slot| Entry::parse(sector, slot))
}

fn has_boot_signature(sector: &Sector) -> bool {
    sector.get(510..512) == Some(&[0x55, 0xAA][..])
}

/// Reads sector 0; `None` when the device is shorter than a sector or has no `0x55AA`.
pub(super) fn read_sector0(dev: &dyn BlockDev) -> Result<Option<Sector>> {
    if dev.len() < SECTOR_SIZE {
        return Ok(None);
    }
    let mut sector = [0u8; 512];
    dev.read_at(&mut sector, 0)?;
    Ok(has_boot_signature(&sector).then_some(sector))
}

/// Decides what a sector 0 with a `0x55AA` signature is, like libblkid: FAT/NTFS/exFAT boot
/// sectors are filesystems, not tables; an `0xEE` entry means GPT (whatever its boot flag, as
/// for the kernel); otherwise boot flags must be 0x00 or 0x80.
pub(super) fn classify(sector: &Sector) -> Sector0 {
    let table = entries(sector);
    if is_fs_boot_sector(sector) {
        return Sector0::NotATable;
    }
    if table.iter().any(|e| e.id == 0xEE) {
        return Sector0::Protective;
    }
    if table.iter().any(|e| e.boot != 0 && e.boot != 0x80) {
        return Sector0::NotATable;
    }
    // A used entry starting at sector 0 would overlap the MBR itself: not a table.
    if table.iter().any(|e| e.is_used() && e.start == 0) {
        return Sector0::NotATable;
    }
    Sector0::Mbr
}

/// Guesses the logical sector size of an MBR disk: 4096 only when the table makes sense with
/// 4096-byte sectors and not with 512 — every used entry fits the device at 4096, and the
/// extended partition's first EBR, or the content of a partition (a boot sector, an ext
/// superblock, an XFS or LVM label), is found only at the 4096-byte reading.
pub(super) fn guess_sector_size(dev: &dyn BlockDev, sector0: &Sector) -> Result<u64> {
    let used: Vec<Entry> = entries(sector0).into_iter().filter(Entry::is_used).collect();
    let fits = |e: &Entry| (u64::from(e.start) + u64::from(e.sectors)) * 4096 <= dev.len();
    if used.is_empty() || dev.len() % 4096 != 0 || !used.iter().all(fits) {
        return Ok(512);
    }
    let mut at_512 = 0;
    let mut at_4096 = 0;
    for e in &used {
        for (ss, count) in [(512u64, &mut at_512), (4096, &mut at_4096)] {
            let off = u64::from(e.start) * ss;
            let found = if e.is_extended() { ebr_at(dev, off)? } else { content_at(dev, off)? };
            *count += usize::from(found);
        }
    }
    Ok(if at_4096 > 0 && at_512 == 0 { 4096 } else { 512 })
}

/// Whether an EBR (a `0x55AA` sector holding partition entries) is at byte `off`.
fn ebr_at(dev: &dyn BlockDev, off: u64) -> Result<bool> {
    if off + SECTOR_SIZE > dev.len() {
        return Ok(false);
    }
    let mut s = [0u8; 512];
    dev.read_at(&mut s, off)?;
    Ok(has_boot_signature(&s) && entries(&s).iter().any(Entry::is_used))
}

/// Whether a partition starting at byte `off` begins with something recognisable: a boot
/// sector's `0x55AA`, an ext2/3/4 superblock magic, an XFS superblock, an LVM2 label.
fn content_at(dev: &dyn BlockDev, off: u64) -> Result<bool> {
    if off + 2048 > dev.len() {
        return Ok(false);
    }
    let mut b = [0u8; 2048];
    dev.read_at(&mut b, off)?;
    let ext = le_u16(&b, 1080) == 0xEF53;
    let xfs = &b[..4] == b"XFSB";
    let lvm = (0..4).any(|s| b.get(s * 512..s * 512 + 8) == Some(&b"LABELONE"[..]));
    Ok(b[510..512] == [0x55, 0xAA] || ext || xfs || lvm)
}

/// A FAT, NTFS or exFAT boot sector (checked like libblkid's `blkid_probe_is_vfat`/`ntfs`).
fn is_fs_boot_sector(s: &Sector) -> bool {
    let oem = s.get(3..11);
    if oem == Some(b"NTFS    ") || oem == Some(b"EXFAT   ") {
        return true;
    }
    let byte = |at: usize| s.get(at).copied().unwrap_or(0);
    let jump = (byte(0) == 0xEB && byte(2) == 0x90) || byte(0) == 0xE9;
    let fat_magic = s.get(54..57) == Some(b"FAT") || s.get(82..87) == Some(b"FAT32");
    let bytes_per_sector = le_u16(s, 11);
    let sectors_per_cluster = byte(13);
    let reserved = le_u16(s, 14);
    let fats = byte(16);
    let media = byte(21);
    jump && fat_magic
        && bytes_per_sector.is_power_of_two()
        && (512..=4096).contains(&bytes_per_sector)
        && sectors_per_cluster.is_power_of_two()
        && reserved != 0
        && fats != 0
        && (media >= 0xF8 || media == 0xF0)
}

/// Reads an MBR table from a classified sector 0, with `ss`-byte logical sectors.
pub(super) fn read(dev: &dyn BlockDev, sector0: &Sector, ss: u64) -> Result<PartitionTable> {
    let mut partitions = Vec::new();
    let mut next_logical = 5u32;
    for (slot, e) in (1u32..).zip(entries(sector0)) {
        if !e.is_used() {
            continue;
        }
        let start = u64::from(e.start) * ss;
        let size = u64::from(e.sectors) * ss;
        check_inside(dev, slot, start, size)?;
        partitions.push(Partition {
            number: slot,
            start,
            size,
            kind: PartKind::Mbr {
                id: e.id,
                bootable: e.boot == 0x80,
                logical: false,
                extended: e.is_extended(),
            },
        });
        if e.is_extended() {
            read_logicals(dev, &e, ss, &mut next_logical, &mut partitions)?;
        }
    }
    partitions.sort_by_key(|p| p.number);
    let usable = (1, (dev.len() / ss).saturating_sub(1));
    Ok(PartitionTable {
        kind: TableKind::Mbr,
        layout: super::layout_problems(&partitions, ss, usable),
        partitions,
        disk_guid: None,
        mbr_signature: Some(le_u32(sector0, DISK_SIGNATURE_OFFSET)),
        warnings: Vec::new(),
        sector_size: ss,
    })
}

/// Follows the EBR chain of extended partition `ext` (already checked to lie inside `dev`),
/// numbering logical partitions from `*next`; sectors are `ss` bytes.
fn read_logicals(dev: &dyn BlockDev, ext: &Entry, ss: u64, next: &mut u32, out: &mut Vec<Partition>) -> Result<()> {
    let ext_start = u64::from(ext.start);
    let ext_end = ext_start + u64::from(ext.sectors);
    let mut seen = HashSet::new();
    let mut ebr = ext_start;
    seen.insert(ebr);
    loop {
        let err = |reason: String| Error::Ebr { dev: dev.name(), sector: ebr, reason };
        let mut sector = [0u8; 512];
        dev.read_at(&mut sector, ebr * ss)?;
        if !has_boot_signature(&sector) {
            if ebr == ext_start {
                // An extended partition without logical partitions need not hold an EBR.
                return Ok(());
            }
            return Err(err("no 0x55AA signature; the logical partition chain is corrupt".into()));
        }
        let table = entries(&sector);
        if let Some(data) = table.iter().find(|e| e.is_used() && !e.is_extended()) {
            let count = usize::try_from(*next - 5).unwrap_or(usize::MAX);
            if count >= MAX_LOGICAL {
                return Err(err(format!("more than {MAX_LOGICAL} logical partitions")));
            }
            let number = *next;
            *next += 1;
            let start = (ebr + u64::from(data.start)) * ss;
            let size = u64::from(data.sectors) * ss;
            check_inside(dev, number, start, size)?;
            out.push(Partition {
                number,
                start,
                size,
                kind: PartKind::Mbr { id: data.id, bootable: data.boot == 0x80, logical: true, extended: false },
            });
        }
        let Some(link) = table.iter().find(|e| e.is_used() && e.is_extended()) else {
            return Ok(());
        };
        let target = ext_start + u64::from(link.start);
        if target >= ext_end {
            return Err(err(format!(
                "next EBR at sector {target} is outside the extended partition (sectors {ext_start}..{ext_end})"
            )));
        }
        if !seen.insert(target) {
            return Err(err(format!("next EBR at sector {target} was already visited: the EBR chain loops")));
        }
        if seen.len() > MAX_LOGICAL {
            return Err(err(format!(
                "the EBR chain has more than {MAX_LOGICAL} records; at most {MAX_LOGICAL} logical partitions are supported"
            )));
        }
        ebr = target;
    }
}
