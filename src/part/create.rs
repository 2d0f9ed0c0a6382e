//! Writing a whole new partition table (what `part-init` + `part-add` leave, as virt-resize
//! lays out its target disk): an MBR with primary entries, or a GPT with its protective MBR,
//! 128 entries, primary and backup headers. The boot code of sector 0 is given by the caller
//! (virt-resize copies the source disk's first 446 bytes).

use super::grow::{chs, put_u32, put_u64, seal};
use super::{Error, PartKind, Result, TableKind};
use crate::disk::BlockDev;
use crate::units::SECTOR_SIZE;

/// GPT entries written (parted's and sfdisk's default).
const GPT_ENTRIES: u64 = 128;
/// Bytes per GPT entry.
const GPT_ENTRY_SIZE: u64 = 128;
/// Sectors of the entry array (128 × 128 bytes).
const GPT_ENTRY_SECTORS: u64 = GPT_ENTRIES * GPT_ENTRY_SIZE / SECTOR_SIZE;
/// First usable LBA of a new GPT: after the header and the entry array.
pub const GPT_FIRST_USABLE: u64 = 2 + GPT_ENTRY_SECTORS;

/// One partition of a new table, numbered by its place in the list (1, 2, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPartition {
    /// First sector.
    pub start: u64,
    /// Last sector (inclusive).
    pub end: u64,
    /// Type, flags, GUIDs and name (of the kind matching the table).
    pub kind: PartKind,
}

/// The last usable sector of a new GPT on a disk of `sectors` sectors.
pub fn gpt_last_usable(sectors: u64) -> Option<u64> {
    sectors.checked_sub(2 + GPT_ENTRY_SECTORS)
}

/// Writes a new `kind` table holding `parts` onto `dev`, over whatever was there; sector 0
/// starts with `boot_code` (the MBR's first 446 bytes: boot loader, disk signature).
/// `disk_guid` is the GPT's (a fresh one is an error: callers keep the source's).
pub fn write(dev: &dyn BlockDev, kind: TableKind, parts: &[NewPartition], boot_code: &[u8; 446], disk_guid: Option<&str>) -> Result<()> {
    let sectors = dev.len() / SECTOR_SIZE;
    let bad = |reason: String| Error::Gpt { dev: dev.name(), reason };
    let mut sector0 = [0u8; 512];
    sector0[..446].copy_from_slice(boot_code);
    sector0[510] = 0x55;
    sector0[511] = 0xAA;
    match kind {
        TableKind::Mbr => {
            if parts.len() > 4 {
                return Err(bad(format!("{} primary partitions do not fit an MBR (at most 4)", parts.len())));
            }
            for (slot, p) in parts.iter().enumerate() {
                let PartKind::Mbr { id, bootable, .. } = p.kind else {
                    return Err(bad("a GPT entry given for an MBR table".into()));
                };
                let start = u32::try_from(p.start).map_err(|_| bad(format!("partition {} starts past 2^32 sectors", slot + 1)))?;
                let size = p.end.checked_sub(p.start).map(|s| s + 1).and_then(|s| u32::try_from(s).ok());
                let size = size.ok_or_else(|| bad(format!("partition {} is empty or larger than 2^32 sectors", slot + 1)))?;
                if p.end >= sectors {
                    return Err(bad(format!("partition {} ends at sector {} past the disk's {sectors}", slot + 1, p.end)));
                }
                let at = 446 + 16 * slot;
                sector0[at] = if bootable { 0x80 } else { 0 };
                sector0[at + 1..at + 4].copy_from_slice(&chs(p.start));
                sector0[at + 4] = id;
                sector0[at + 5..at + 8].copy_from_slice(&chs(p.end));
                put_u32(&mut sector0, at + 8, start);
                put_u32(&mut sector0, at + 12, size);
            }
            dev.write_at(&sector0, 0)?;
        }
        TableKind::Gpt => {
            let last_usable = gpt_last_usable(sectors).filter(|l| *l > GPT_FIRST_USABLE).ok_or_else(|| bad(format!("a disk of {sectors} sectors is too small for a GPT")))?;
            if parts.len() as u64 > GPT_ENTRIES {
                return Err(bad(format!("{} partitions do not fit a {GPT_ENTRIES}-entry GPT", parts.len())));
            }
            let disk_guid = guid_bytes(disk_guid.ok_or_else(|| bad("no disk GUID given".into()))?).ok_or_else(|| bad("the disk GUID does not parse".into()))?;
            let mut entries = vec![0u8; (GPT_ENTRIES * GPT_ENTRY_SIZE) as usize];
            for (e, (i, p)) in entries.chunks_exact_mut(GPT_ENTRY_SIZE as usize).zip(parts.iter().enumerate()) {
                let PartKind::Gpt { type_guid, guid, name, attributes } = &p.kind else {
                    return Err(bad("an MBR entry given for a GPT table".into()));
                };
                if p.start < GPT_FIRST_USABLE || p.end > last_usable || p.end < p.start {
                    return Err(bad(format!("partition {} ({}–{}) is outside the usable sectors {GPT_FIRST_USABLE}–{last_usable}", i + 1, p.start, p.end)));
                }
                let t = guid_bytes(type_guid).ok_or_else(|| bad(format!("partition {}: type GUID {type_guid} does not parse", i + 1)))?;
                let u = guid_bytes(guid).ok_or_else(|| bad(format!("partition {}: GUID {guid} does not parse", i + 1)))?;
                e[..16].copy_from_slice(&t);
                e[16..32].copy_from_slice(&u);
                put_u64(e, 32, p.start);
                put_u64(e, 40, p.end);
                put_u64(e, 48, *attributes);
                for (k, unit) in name.encode_utf16().take(36).enumerate() {
                    e[56 + 2 * k..58 + 2 * k].copy_from_slice(&unit.to_le_bytes());
                }
            }
            let alternate = sectors - 1;
            let backup_entries = alternate - GPT_ENTRY_SECTORS;
            let mut primary = [0u8; 512];
            primary[..8].copy_from_slice(b"EFI PART");
            put_u32(&mut primary, 8, 0x0001_0000);
            put_u32(&mut primary, 12, 92);
            put_u64(&mut primary, 24, 1);
            put_u64(&mut primary, 32, alternate);
            put_u64(&mut primary, 40, GPT_FIRST_USABLE);
            put_u64(&mut primary, 48, last_usable);
            primary[56..72].copy_from_slice(&disk_guid);
            put_u64(&mut primary, 72, 2);
            put_u32(&mut primary, 80, GPT_ENTRIES as u32);
            put_u32(&mut primary, 84, GPT_ENTRY_SIZE as u32);
            put_u32(&mut primary, 88, crc32fast::hash(&entries));
            let mut backup = primary;
            put_u64(&mut backup, 24, alternate);
            put_u64(&mut backup, 32, 1);
            put_u64(&mut backup, 72, backup_entries);
            seal(&mut primary, 92);
            seal(&mut backup, 92);
            // the protective entry: the whole disk (up to 2^32 - 1 sectors), CHS as sfdisk
            let pmbr = 446;
            sector0[pmbr + 1..pmbr + 4].copy_from_slice(&[0x00, 0x02, 0x00]);
            sector0[pmbr + 4] = 0xEE;
            sector0[pmbr + 5..pmbr + 8].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
            put_u32(&mut sector0, pmbr + 8, 1);
            put_u32(&mut sector0, pmbr + 12, u32::try_from(sectors - 1).unwrap_or(u32::MAX));
            dev.write_at(&sector0, 0)?;
            dev.write_at(&primary, SECTOR_SIZE)?;
            dev.write_at(&entries, 2 * SECTOR_SIZE)?;
            dev.write_at(&entries, backup_entries * SECTOR_SIZE)?;
            dev.write_at(&backup, alternate * SECTOR_SIZE)?;
        }
    }
    Ok(())
}

/// The mixed-endian bytes of a GUID written `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`.
fn guid_bytes(s: &str) -> Option<[u8; 16]> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || s.len() != 36 {
        return None;
    }
    let mut raw = [0u8; 16];
    for (i, b) in raw.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    // the first three fields are little-endian on disk
    raw[..4].reverse();
    raw[4..6].reverse();
    raw[6..8].reverse();
    Some(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_round_trip() {
        let g = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
        let b = guid_bytes(g).unwrap();
        assert_eq!(super::super::gpt::guid_at(&b, 0), g);
        assert!(guid_bytes("C12A7328-F81F-11D2-BA4B-00A0C93EC93").is_none());
        assert!(guid_bytes("X12A7328-F81F-11D2-BA4B-00A0C93EC93B").is_none());
    }
}
