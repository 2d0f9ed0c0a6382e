//! Growing a partition into the free space after it, with growpart's rules (cloud-utils
//! 0.33, as Debian and Ubuntu ship it): the new end is just before the next partition that
//! starts after it, or the end of the disk less 33 sectors (room for a GPT backup, on MBR
//! too); an MBR partition ends at sector 2^32 - 1 at the most; `--free-percent` keeps that share
//! of the disk unused; a growth smaller than the fudge (1 MiB) is no change. On GPT the backup
//! header and entries move to the new end of the disk first, as sfdisk does.
//!
//! [`plan`] only computes; [`apply`] writes the table through the device (callers put it under
//! a copy-on-write overlay and commit, so a failure writes nothing). [`sfdisk_dump`] prints a
//! table in `sfdisk -d` form for `--dry-run`.

use super::gpt::{self, guid_at};
use super::mbr::Sector;
use super::{le_u32, le_u64, Error, PartKind, PartitionTable, Result, TableKind};
use crate::disk::BlockDev;
use crate::units::SECTOR_SIZE;
use std::fmt::Write as _;

/// Sectors an MBR can address (2^32 of 512 bytes, 2 TiB).
pub const MBR_MAX_SECTORS: u64 = 1 << 32;
/// Sectors growpart keeps free at the end of the disk (a GPT backup header and entries).
const GPT_SECOND_SIZE: u64 = 33;

/// How far to grow.
#[derive(Debug, Clone, Copy)]
pub struct GrowOptions {
    /// A growth smaller than this many bytes is no change (growpart's `--fudge`, 1 MiB).
    pub fudge: u64,
    /// Keep this percentage of the disk unused (`--free-percent`).
    pub free_percent: Option<u64>,
}

impl Default for GrowOptions {
    fn default() -> Self {
        GrowOptions { fudge: 1 << 20, free_percent: None }
    }
}

/// A planned growth, in 512-byte sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Growth {
    /// Partition number.
    pub number: u32,
    /// First sector.
    pub start: u64,
    /// Old size and last sector.
    pub old_size: u64,
    /// Old last sector.
    pub old_end: u64,
    /// New size.
    pub new_size: u64,
    /// New last sector.
    pub new_end: u64,
}

impl Growth {
    /// growpart's change line: `partition=N start=S old: size=… end=… new: size=… end=…`.
    pub fn info(&self) -> String {
        format!(
            "partition={} start={} old: size={} end={} new: size={} end={}",
            self.number, self.start, self.old_size, self.old_end, self.new_size, self.new_end
        )
    }
}

/// What [`plan`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The partition can grow.
    Grow {
        /// How.
        growth: Growth,
        /// Warnings (an MBR disk larger than 2 TiB).
        warnings: Vec<String>,
    },
    /// It cannot (growpart's `NOCHANGE:` text).
    NoChange(String),
}

fn bad(dev: &dyn BlockDev, number: u32, reason: impl Into<String>) -> Error {
    Error::BadPartition { dev: dev.name(), number, reason: reason.into() }
}

/// Plans growing partition `number` of `table` (read from `dev`) as growpart would.
pub fn plan(dev: &dyn BlockDev, table: &PartitionTable, number: u32, opts: &GrowOptions) -> Result<Plan> {
    table.check_layout(&dev.name())?;
    if table.sector_size != SECTOR_SIZE {
        return Err(bad(dev, number, format!("growing a partition of a disk with {}-byte logical sectors is not supported (512-byte sectors only); the disk is read correctly", table.sector_size)));
    }
    let sector_num = dev.len() / SECTOR_SIZE;
    let Some(p) = table.partitions.iter().find(|p| p.number == number) else {
        return Err(bad(dev, number, "no such partition"));
    };
    if let PartKind::Mbr { logical, extended, .. } = p.kind {
        if logical || extended {
            return Err(bad(dev, number, "growing a logical or extended MBR partition is not supported (only primary partitions 1-4)"));
        }
    }
    let pt_start = p.start / SECTOR_SIZE;
    let pt_size = p.size / SECTOR_SIZE;
    let pt_end = pt_start + pt_size - 1;
    // the nearest partition start at or after our end (the extended container counts, its
    // logical partitions lie inside it)
    let next = table.partitions.iter().map(|q| q.start / SECTOR_SIZE).filter(|&s| s >= pt_end).min().unwrap_or(sector_num);
    let mut max_end = next.saturating_sub(1);
    let mut warnings = Vec::new();
    if table.kind == TableKind::Mbr {
        // growpart 0.33 caps the end at sector 2^32, one past what an MBR can address (its
        // sfdisk call then fails); the last addressable sector is 2^32 - 1
        max_end = max_end.min(MBR_MAX_SECTORS - 1);
        if sector_num > MBR_MAX_SECTORS {
            warnings.push("WARNING: MBR/dos partitioned disk is larger than 2TB. Additional space will go unused.".to_string());
        }
    }
    if max_end > sector_num.saturating_sub(GPT_SECOND_SIZE) {
        max_end = sector_num.saturating_sub(GPT_SECOND_SIZE + 1);
    }
    if let Some(pct) = opts.free_percent {
        let free = sector_num / 100 * pct;
        let over_mbr = table.kind == TableKind::Mbr && sector_num > MBR_MAX_SECTORS;
        if over_mbr && sector_num >= MBR_MAX_SECTORS + free {
            // the space past 2 TiB already stays unused
        } else if over_mbr {
            max_end = max_end.saturating_sub(free - (sector_num - MBR_MAX_SECTORS));
        } else {
            max_end = max_end.saturating_sub(free);
        }
        if max_end < pt_end {
            return Ok(Plan::NoChange(format!("partition {number} could not be grown while leaving {pct}% ({free} sectors) free on device")));
        }
    }
    if pt_end >= max_end {
        return Ok(Plan::NoChange(format!("partition {number} is size {pt_size}. it cannot be grown")));
    }
    if pt_end + opts.fudge / SECTOR_SIZE > max_end {
        return Ok(Plan::NoChange(format!("partition {number} could only be grown by {} [fudge={}]", max_end - pt_end, opts.fudge / SECTOR_SIZE)));
    }
    let growth = Growth { number, start: pt_start, old_size: pt_size, old_end: pt_end, new_size: max_end - pt_start + 1, new_end: max_end };
    Ok(Plan::Grow { growth, warnings })
}

/// Writes the grown table to `dev` (read again first: it must still be the table `plan` saw).
pub fn apply(dev: &dyn BlockDev, growth: &Growth) -> Result<()> {
    let mut sector0: Sector = [0u8; 512];
    dev.read_at(&mut sector0, 0)?;
    match super::mbr::classify(&sector0) {
        super::mbr::Sector0::Mbr => apply_mbr(dev, &mut sector0, growth),
        super::mbr::Sector0::Protective => apply_gpt(dev, &mut sector0, growth),
        super::mbr::Sector0::NotATable => Err(Error::Gpt { dev: dev.name(), reason: "no partition table to grow".into() }),
    }
}

/// CHS address of an LBA (255 heads, 63 sectors, as fdisk); past cylinder 1023 the maximum.
pub(super) fn chs(lba: u64) -> [u8; 3] {
    let (heads, secs) = (255u64, 63u64);
    let cyl = lba / (heads * secs);
    if cyl > 1023 {
        return [0xFE, 0xFF, 0xFF];
    }
    let head = (lba / secs) % heads;
    let sec = lba % secs + 1;
    [head as u8, (sec as u8) | (((cyl >> 8) as u8) << 6), cyl as u8]
}

fn apply_mbr(dev: &dyn BlockDev, sector0: &mut Sector, g: &Growth) -> Result<()> {
    let slot = g.number.checked_sub(1).filter(|s| *s < 4).ok_or_else(|| bad(dev, g.number, "not a primary MBR partition"))? as usize;
    let at = 446 + 16 * slot;
    if u64::from(le_u32(sector0, at + 8)) != g.start || u64::from(le_u32(sector0, at + 12)) != g.old_size {
        return Err(bad(dev, g.number, "the partition changed since the plan was made"));
    }
    let size = u32::try_from(g.new_size).map_err(|_| bad(dev, g.number, format!("{} sectors do not fit an MBR entry", g.new_size)))?;
    sector0[at + 5..at + 8].copy_from_slice(&chs(g.new_end));
    sector0[at + 12..at + 16].copy_from_slice(&size.to_le_bytes());
    dev.write_at(&sector0[..], 0)?;
    Ok(())
}

pub(super) fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub(super) fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Sets the header CRC (over `size` bytes, with the field zeroed).
pub(super) fn seal(h: &mut [u8; 512], size: usize) {
    put_u32(h, 16, 0);
    let crc = crc32fast::hash(&h[..size.min(512)]);
    put_u32(h, 16, crc);
}

fn apply_gpt(dev: &dyn BlockDev, sector0: &mut Sector, g: &Growth) -> Result<()> {
    let t = gpt::primary(dev)?;
    let sectors = dev.len() / SECTOR_SIZE;
    let idx = g.number.checked_sub(1).ok_or_else(|| bad(dev, g.number, "no such GPT entry"))? as usize;
    let mut entries = t.entries.clone();
    let at = idx * t.entry_size;
    let Some(e) = entries.get_mut(at..at + t.entry_size) else {
        return Err(bad(dev, g.number, "no such GPT entry"));
    };
    if le_u64(e, 32) != g.start || le_u64(e, 40) != g.old_end {
        return Err(bad(dev, g.number, "the partition changed since the plan was made"));
    }
    let entry_sectors = (t.entries.len() as u64).div_ceil(SECTOR_SIZE);
    let alternate = sectors - 1;
    let backup_entries = alternate.checked_sub(entry_sectors).ok_or_else(|| Error::Gpt { dev: dev.name(), reason: "disk too small for a backup GPT".into() })?;
    let last_usable = backup_entries - 1;
    if g.new_end > last_usable {
        return Err(bad(dev, g.number, format!("new end {} is past the last usable sector {last_usable}", g.new_end)));
    }
    put_u64(e, 40, g.new_end);
    let entries_crc = crc32fast::hash(&entries);
    let mut primary = t.header;
    put_u64(&mut primary, 32, alternate);
    put_u64(&mut primary, 48, last_usable);
    put_u32(&mut primary, 88, entries_crc);
    let mut backup = primary;
    put_u64(&mut backup, 24, alternate);
    put_u64(&mut backup, 32, 1);
    put_u64(&mut backup, 72, backup_entries);
    seal(&mut primary, t.header_size);
    seal(&mut backup, t.header_size);
    let primary_entries = le_u64(&t.header, 72);
    // backup first, then the primary: a reader falls back to whichever is whole
    dev.write_at(&entries, backup_entries * SECTOR_SIZE)?;
    dev.write_at(&backup, alternate * SECTOR_SIZE)?;
    dev.write_at(&entries, primary_entries * SECTOR_SIZE)?;
    dev.write_at(&primary, SECTOR_SIZE)?;
    // a pure protective MBR covers the whole disk (up to 2^32 - 1 sectors)
    let pmbr = 446;
    let others_unused = (1..4).all(|s| sector0[pmbr + 16 * s + 4] == 0);
    if sector0[pmbr + 4] == 0xEE && others_unused {
        let size = u32::try_from(sectors - 1).unwrap_or(u32::MAX);
        put_u32(&mut sector0[..], pmbr + 12, size);
        // sfdisk's protective entry ends at CHS 0xFFFFFF, whatever the disk's size
        sector0[pmbr + 5..pmbr + 8].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
        dev.write_at(&sector0[..], 0)?;
    }
    Ok(())
}

/// The partition device name sfdisk gives partition `n` of `disk` (`disk1`, `loop0p1`).
fn part_name(disk: &str, n: u32) -> String {
    if disk.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{disk}p{n}")
    } else {
        format!("{disk}{n}")
    }
}

/// The table of `dev` in `sfdisk -d` form, as growpart shows it for the disk named `disk`
/// (GPT without its `last-lba:` line, which the grown table changes); with `grow`, that
/// partition shown at its new size.
pub fn sfdisk_dump(dev: &dyn BlockDev, table: &PartitionTable, disk: &str, grow: Option<&Growth>) -> Result<String> {
    let mut o = String::new();
    match table.kind {
        TableKind::Mbr => {
            let _ = writeln!(o, "label: dos\nlabel-id: {:#010x}\ndevice: {disk}\nunit: sectors\nsector-size: 512\n", table.mbr_signature.unwrap_or(0));
        }
        TableKind::Gpt => {
            let t = gpt::primary(dev)?;
            let _ = writeln!(o, "label: gpt\nlabel-id: {}\ndevice: {disk}\nunit: sectors\nfirst-lba: {}\nsector-size: 512\n", guid_at(&t.header, 56), t.first_usable);
        }
    }
    for p in &table.partitions {
        let start = p.start / SECTOR_SIZE;
        let size = match grow {
            Some(g) if g.number == p.number => g.new_size,
            _ => p.size / SECTOR_SIZE,
        };
        let mut line = format!("{} : start={start:>12}, size={size:>12}, ", part_name(disk, p.number));
        match &p.kind {
            PartKind::Mbr { id, bootable, .. } => {
                let _ = write!(line, "type={id:x}");
                if *bootable {
                    line.push_str(", bootable");
                }
            }
            PartKind::Gpt { type_guid, guid, name, attributes } => {
                let _ = write!(line, "type={type_guid}, uuid={guid}");
                if !name.is_empty() {
                    let _ = write!(line, ", name=\"{name}\"");
                }
                if *attributes != 0 {
                    let _ = write!(line, ", attrs=\"{}\"", gpt_attrs(*attributes));
                }
            }
        }
        o.push_str(&line);
        o.push('\n');
    }
    Ok(o)
}

/// GPT attribute bits as sfdisk names them.
fn gpt_attrs(a: u64) -> String {
    let mut names = Vec::new();
    if a & 1 != 0 {
        names.push("RequiredPartition".to_string());
    }
    if a & 2 != 0 {
        names.push("NoBlockIOProtocol".to_string());
    }
    if a & 4 != 0 {
        names.push("LegacyBIOSBootable".to_string());
    }
    let guid_bits: Vec<String> = (48..64).filter(|b| a >> b & 1 != 0).map(|b| b.to_string()).collect();
    if !guid_bits.is_empty() {
        names.push(format!("GUID:{}", guid_bits.join(",")));
    }
    names.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chs_of_small_and_large_lbas() {
        assert_eq!(chs(0), [0, 1, 0]);
        assert_eq!(chs(2047), [32, 32, 0]);
        assert_eq!(chs(1 << 30), [0xFE, 0xFF, 0xFF]);
    }

    #[test]
    fn sfdisk_partition_names() {
        assert_eq!(part_name("disk.img", 2), "disk.img2");
        assert_eq!(part_name("/dev/loop0", 1), "/dev/loop0p1");
    }

    #[test]
    fn attribute_names() {
        assert_eq!(gpt_attrs(4), "LegacyBIOSBootable");
        assert_eq!(gpt_attrs(1 | (1 << 60)), "RequiredPartition GUID:60");
    }
}
