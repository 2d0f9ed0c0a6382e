//! GPT reader (UEFI spec, chapter 5): primary header at LBA 1, backup header at the alternate
//! LBA; each header and its partition entry array are CRC32-checked. A bad primary with a good
//! backup is used with a warning; both bad is an error.

use super::{check_inside, le_u16, le_u32, le_u64, Error, PartKind, Partition, PartitionTable, Result, TableKind};
use crate::disk::{read_vec, BlockDev};
use crate::units::SECTOR_SIZE;

const SIGNATURE: &[u8] = b"EFI PART";
/// Largest entry array we read (1024 standard entries); real tables use 16 KiB.
const MAX_ENTRY_BYTES: u64 = 128 * 1024;
/// Minimum (and granularity of the) entry size.
const ENTRY_MIN: u32 = 128;

/// A validated header with its CRC-checked entry array.
pub(super) struct Table {
    pub(super) disk_guid: String,
    pub(super) alternate_lba: u64,
    pub(super) entry_size: usize,
    pub(super) entries: Vec<u8>,
    /// The header sector as read.
    pub(super) header: [u8; 512],
    /// The header's size field (bytes covered by its CRC).
    pub(super) header_size: usize,
    pub(super) first_usable: u64,
}

/// The primary header (LBA 1) and its entries, validated: what a table rewrite starts from.
/// A corrupt primary is an error here (repair it with gdisk/sgdisk first).
pub(super) fn primary(dev: &dyn BlockDev) -> Result<Table> {
    load(dev, 1, SECTOR_SIZE)?.map_err(|why| Error::Gpt { dev: dev.name(), reason: format!("primary header at LBA 1 unusable ({why}); repair the table first (sgdisk -v, gdisk)") })
}

/// The logical sector size of a GPT disk: where the primary header's signature is (LBA 1 of
/// 512 or of 4096 bytes); 512 when neither holds it (the backup is looked for at 512).
pub(super) fn sector_size(dev: &dyn BlockDev) -> Result<u64> {
    for ss in [SECTOR_SIZE, 4096] {
        if dev.len() >= 2 * ss && read_vec(dev, ss, SIGNATURE.len())? == SIGNATURE {
            return Ok(ss);
        }
    }
    Ok(SECTOR_SIZE)
}

/// Reads the GPT of `dev` (sector 0 was a protective or hybrid MBR) with `ss`-byte sectors.
pub(super) fn read(dev: &dyn BlockDev, ss: u64) -> Result<PartitionTable> {
    let last_lba = (dev.len() / ss).saturating_sub(1);
    let mut warnings = Vec::new();
    let table = match load(dev, 1, ss)? {
        Ok(primary) => {
            let alt = primary.alternate_lba;
            if let Err(why) = load(dev, alt, ss)? {
                warnings.push(format!(
                    "{}: backup GPT header at LBA {alt} corrupt ({why}); using the primary (gdisk can rebuild the backup)",
                    dev.name()
                ));
            }
            primary
        }
        Err(why_primary) => match load(dev, last_lba, ss)? {
            Ok(backup) => {
                warnings.push(format!(
                    "{}: primary GPT header at LBA 1 corrupt ({why_primary}), using backup at LBA {last_lba} (gdisk can rebuild the primary)",
                    dev.name()
                ));
                backup
            }
            Err(why_backup) => {
                return Err(Error::Gpt {
                    dev: dev.name(),
                    reason: format!(
                        "protective MBR but no valid GPT: header at LBA 1: {why_primary}; backup header at LBA {last_lba}: {why_backup}"
                    ),
                })
            }
        },
    };
    let partitions = partitions(dev, &table, ss)?;
    let usable = (table.first_usable, le_u64(&table.header, 48));
    Ok(PartitionTable {
        kind: TableKind::Gpt,
        layout: super::layout_problems(&partitions, ss, usable),
        partitions,
        disk_guid: Some(table.disk_guid),
        mbr_signature: None,
        warnings,
        sector_size: ss,
    })
}

/// Reads and validates the header at `lba` and its entry array. The inner `Err` says why the
/// header is unusable; the outer one is an I/O failure.
fn load(dev: &dyn BlockDev, lba: u64, ss: u64) -> Result<std::result::Result<Table, String>> {
    let len = dev.len();
    let sectors = len / ss;
    if lba < 1 || lba >= sectors {
        return Ok(Err(format!("LBA {lba} is outside the device ({sectors} sectors); the image may be truncated")));
    }
    let mut h = [0u8; 512];
    dev.read_at(&mut h, lba * ss)?;
    if h.get(..8) != Some(SIGNATURE) {
        return Ok(Err("no \"EFI PART\" signature".into()));
    }
    let revision = le_u32(&h, 8);
    if revision >> 16 != 1 {
        return Ok(Err(format!("unsupported revision {revision:#010x}")));
    }
    let header_size = le_u32(&h, 12);
    if !(92..=512).contains(&header_size) {
        return Ok(Err(format!("header size {header_size} is not in 92..=512")));
    }
    let stored_crc = le_u32(&h, 16);
    let mut zeroed = h;
    if let Some(crc_field) = zeroed.get_mut(16..20) {
        crc_field.fill(0);
    }
    let computed = crc32fast::hash(zeroed.get(..header_size as usize).unwrap_or(&[]));
    if stored_crc != computed {
        return Ok(Err(format!("header CRC mismatch (stored {stored_crc:#010x}, computed {computed:#010x})")));
    }
    let my_lba = le_u64(&h, 24);
    let alternate_lba = le_u64(&h, 32);
    let first_usable = le_u64(&h, 40);
    let last_usable = le_u64(&h, 48);
    let entries_lba = le_u64(&h, 72);
    let count = le_u32(&h, 80);
    let entry_size = le_u32(&h, 84);
    let entries_crc = le_u32(&h, 88);
    if my_lba != lba {
        return Ok(Err(format!("header says it is at LBA {my_lba}")));
    }
    if alternate_lba == lba || alternate_lba >= sectors {
        return Ok(Err(format!(
            "alternate header LBA {alternate_lba} is not another sector of the device ({sectors} sectors); the image may be truncated"
        )));
    }
    if first_usable > last_usable || last_usable >= sectors {
        return Ok(Err(format!(
            "usable LBAs {first_usable}..={last_usable} do not fit the device ({sectors} sectors); the image may be truncated"
        )));
    }
    if entry_size < ENTRY_MIN || entry_size % ENTRY_MIN != 0 {
        return Ok(Err(format!("partition entry size {entry_size} is not a multiple of {ENTRY_MIN}")));
    }
    let array_bytes = u64::from(count) * u64::from(entry_size);
    if array_bytes > MAX_ENTRY_BYTES {
        return Ok(Err(format!(
            "{count} partition entries of {entry_size} bytes exceed the {MAX_ENTRY_BYTES}-byte limit"
        )));
    }
    let array_end = entries_lba.checked_mul(ss).and_then(|o| o.checked_add(array_bytes));
    if entries_lba < 1 || !matches!(array_end, Some(end) if end <= len) {
        return Ok(Err(format!(
            "partition entry array at LBA {entries_lba} ({array_bytes} bytes) is outside the device; the image may be truncated"
        )));
    }
    // Bounded above: at most MAX_ENTRY_BYTES, inside the device.
    let entries = read_vec(dev, entries_lba * ss, array_bytes as usize)?;
    let computed = crc32fast::hash(&entries);
    if computed != entries_crc {
        return Ok(Err(format!(
            "partition entry array CRC mismatch (stored {entries_crc:#010x}, computed {computed:#010x})"
        )));
    }
    Ok(Ok(Table {
        disk_guid: guid_at(&h, 56),
        alternate_lba,
        entry_size: entry_size as usize,
        entries,
        header: h,
        header_size: header_size as usize,
        first_usable,
    }))
}

/// The used entries of a validated table, checked against the device size.
fn partitions(dev: &dyn BlockDev, table: &Table, ss: u64) -> Result<Vec<Partition>> {
    let sectors = dev.len() / ss;
    let mut out = Vec::new();
    for (number, e) in (1u32..).zip(table.entries.chunks_exact(table.entry_size)) {
        if e.get(..16).is_none_or(|t| t.iter().all(|&b| b == 0)) {
            continue;
        }
        let first = le_u64(e, 32);
        let last = le_u64(e, 40);
        if last < first {
            return Err(Error::BadPartition {
                dev: dev.name(),
                number,
                reason: format!("last LBA {last} is before first LBA {first}"),
            });
        }
        if last >= sectors {
            let start = first.saturating_mul(ss);
            let end = last.saturating_add(1).saturating_mul(ss);
            return Err(Error::BeyondEnd { dev: dev.name(), number, start, end, size: dev.len() });
        }
        // last < sectors: no overflow below.
        let start = first * ss;
        let size = (last - first + 1) * ss;
        check_inside(dev, number, start, size)?;
        let units: Vec<u16> = (0..36).map(|i| le_u16(e, 56 + 2 * i)).take_while(|&u| u != 0).collect();
        out.push(Partition {
            number,
            start,
            size,
            kind: PartKind::Gpt {
                type_guid: guid_at(e, 0),
                guid: guid_at(e, 16),
                name: String::from_utf16_lossy(&units),
                attributes: le_u64(e, 48),
            },
        });
    }
    Ok(out)
}

/// Formats the mixed-endian GUID at `at` as uppercase `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`.
pub(super) fn guid_at(b: &[u8], at: usize) -> String {
    let t: [u8; 8] = std::array::from_fn(|i| b.get(at + 8 + i).copied().unwrap_or(0));
    format!(
        "{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        le_u32(b, at),
        le_u16(b, at + 4),
        le_u16(b, at + 6),
        t[0],
        t[1],
        t[2],
        t[3],
        t[4],
        t[5],
        t[6],
        t[7]
    )
}

#[cfg(test)]
mod tests {
    use super::guid_at;

    #[test]
    fn guid_is_mixed_endian() {
        // The EFI System Partition type GUID as stored on disk (UEFI spec, table 5-7).
        let on_disk = [
            0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B,
        ];
        assert_eq!(guid_at(&on_disk, 0), "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
        // Short buffers read as zeros instead of panicking.
        assert_eq!(guid_at(&on_disk, 12), "3BC93EC9-0000-0000-0000-000000000000");
    }
}
