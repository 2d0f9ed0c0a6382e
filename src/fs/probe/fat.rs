//! FAT12/16/32 (`vfat`), with libblkid's boot-sector checks.
//!
//! The label follows libblkid (util-linux 2.38): `LABEL` is the volume-label entry of the root
//! directory only. The boot-sector copy is what blkid calls `LABEL_FATBOOT`; it is not
//! reported, so a volume whose root directory has no label entry has no label here either
//! (every FAT `mkfs`/`fatlabel`/`mlabel` writes both copies). The BitLocker-to-Go check libblkid
//! makes on FAT-looking boot sectors is not made.

use super::{bytes, label, le16, le32, FsInfo, Reader, Result};

/// Cluster-count limits deciding FAT12/FAT16, and the FAT32 maximum.
const FAT12_MAX: u32 = 0xff4;
const FAT16_MAX: u32 = 0xfff4;
const FAT32_MAX: u32 = 0x0fff_fff6;
/// Size of a directory entry.
const DIRENT: usize = 32;
/// Directory bytes read at once while looking for the label entry.
const DIR_CHUNK: usize = 4096;
/// At most this many root-directory entries are scanned for the label, over all clusters.
const MAX_DIR_ENTRIES: u32 = 65536;
/// libblkid follows at most 99 clusters of a FAT32 root directory.
const MAX_ROOT_CLUSTERS: u32 = 99;

/// The boot-sector fields the checks use.
struct Bpb {
    sector_size: u32,
    cluster_size: u32,
    reserved: u32,
    fats: u32,
    dir_entries: u32,
    fat16_length: u32,
    fat32_length: u32,
}

/// Whether the boot sector carries one of the FAT magic strings (otherwise only the weaker
/// jump-byte or 0x55AA signatures matched).
pub(crate) fn has_fat_string(bs: &[u8]) -> bool {
    bytes(bs, 0x52, 5) == b"MSWIN"
        || bytes(bs, 0x52, 8) == b"FAT32   "
        || bytes(bs, 0x36, 5) == b"MSDOS"
        || [&b"FAT16   "[..], b"FAT12   ", b"FAT     "].contains(&bytes(bs, 0x36, 8))
}

/// libblkid's `fat_valid_superblock`: returns the cluster count and FAT size (sectors) when the
/// boot sector is plausible.
fn valid(bs: &[u8], b: &Bpb) -> Option<(u32, u32)> {
    if !has_fat_string(bs) {
        // Only the jump byte (0xEB/0xE9) or the boot signature can have matched: old floppies
        // need the 0x55AA signature, and OS/2 and DFSee put FAT-like pseudo boot sectors on
        // JFS and HPFS.
        let fs_id = bytes(bs, 0x36, 8);
        if bytes(bs, 0x1fe, 2) != [0x55, 0xaa] || fs_id == b"JFS     " || fs_id == b"HPFS    " {
            return None;
        }
    }
    let media = bs.get(0x15).copied().unwrap_or(0);
    if b.fats == 0 || b.reserved == 0 || !(media >= 0xf8 || media == 0xf0) {
        return None;
    }
    if !b.cluster_size.is_power_of_two() {
        return None;
    }
    if !b.sector_size.is_power_of_two() || !(512..=4096).contains(&b.sector_size) {
        return None;
    }
    let mut sect_count = u32::from(le16(bs, 0x13));
    if sect_count == 0 {
        sect_count = le32(bs, 0x20);
    }
    let fat_length = if b.fat16_length != 0 { b.fat16_length } else { b.fat32_length };
    let fat_size = fat_length.wrapping_mul(b.fats);
    let dir_size = (b.dir_entries * DIRENT as u32).div_ceil(b.sector_size);
    // Unsigned arithmetic as in libblkid: an underflow yields a huge count that fails below.
    let clusters = sect_count.wrapping_sub(b.reserved.wrapping_add(fat_size).wrapping_add(dir_size)) / b.cluster_size;
    let max = if b.fat16_length == 0 && b.fat32_length != 0 {
        FAT32_MAX
    } else if clusters > FAT12_MAX {
        FAT16_MAX
    } else {
        FAT12_MAX
    };
    (clusters <= max).then_some((clusters, fat_size))
}

/// Looks for the volume-label entry among `entries` directory entries at `off`, stopping at the
/// end-of-directory marker. `budget` counts down the entries scanned over the whole search.
fn search_label(r: &Reader, off: u64, entries: u32, budget: &mut u32) -> Result<Option<[u8; 11]>> {
    // On larger devices libblkid reads the whole directory at once and finds nothing when it
    // does not fit on the device.
    let end = off.checked_add(u64::from(entries) * DIRENT as u64);
    if !r.is_tiny() && end.is_none_or(|end| end > r.len()) {
        return Ok(None);
    }
    let mut left = entries.min(*budget) as usize;
    let mut pos = off;
    while left > 0 {
        // Entries are read up to the end of the device, like libblkid's per-entry reads.
        let avail = usize::try_from(r.len().saturating_sub(pos) / DIRENT as u64).unwrap_or(usize::MAX);
        let n = left.min(DIR_CHUNK / DIRENT).min(avail);
        if n == 0 {
            return Ok(None);
        }
        let Some(chunk) = r.read(pos, n * DIRENT)? else { return Ok(None) };
        for ent in chunk.chunks_exact(DIRENT) {
            let name: [u8; 11] = super::array(ent, 0);
            let attr = ent.get(11).copied().unwrap_or(0);
            if name[0] == 0 {
                return Ok(None);
            }
            let cluster = le16(ent, 20) != 0 || le16(ent, 26) != 0;
            if name[0] == 0xe5 || cluster || attr & 0x3f == 0x0f {
                continue;
            }
            if attr & (0x08 | 0x10) == 0x08 {
                // 0x05 stands for a leading 0xE5 byte (which marks free entries).
                let mut name = name;
                if name[0] == 0x05 {
                    name[0] = 0xe5;
                }
                return Ok(Some(name));
            }
        }
        left -= n;
        *budget = budget.saturating_sub(n as u32);
        pos += (n * DIRENT) as u64;
    }
    Ok(None)
}

/// The FAT32 root directory's label entry, following its cluster chain like libblkid.
fn fat32_root_label(r: &Reader, bs: &[u8], b: &Bpb, fat_size: u32) -> Result<Option<[u8; 11]>> {
    let cluster_bytes = b.cluster_size * b.sector_size;
    let start_data = b.reserved.wrapping_add(fat_size);
    let fat_entries = b.fat32_length.wrapping_mul(b.sector_size) / 4;
    let mut next = le32(bs, 0x2c);
    let mut budget = MAX_DIR_ENTRIES;
    for _ in 0..MAX_ROOT_CLUSTERS {
        if next == 0 || next >= fat_entries || budget == 0 {
            break;
        }
        let sect = start_data.wrapping_add(next.wrapping_sub(2).wrapping_mul(b.cluster_size));
        let off = u64::from(sect) * u64::from(b.sector_size);
        if let Some(name) = search_label(r, off, cluster_bytes / DIRENT as u32, &mut budget)? {
            return Ok(Some(name));
        }
        let entry_off = u64::from(b.reserved) * u64::from(b.sector_size) + u64::from(next) * 4;
        let Some(entry) = r.read(entry_off, 4)? else { break };
        next = le32(&entry, 0) & 0x0fff_ffff;
    }
    Ok(None)
}

/// Whether the FAT32 FSInfo sector (if any) has valid or all-zero signatures.
fn fsinfo_ok(r: &Reader, bs: &[u8], b: &Bpb) -> Result<bool> {
    let sect = le16(bs, 0x30);
    if sect == 0 {
        return Ok(true);
    }
    let Some(fsinfo) = r.read(u64::from(sect) * u64::from(b.sector_size), 512)? else { return Ok(false) };
    let sig1 = bytes(&fsinfo, 0, 4);
    let sig2 = bytes(&fsinfo, 484, 4);
    Ok([&b"RRaA"[..], b"RRdA", &[0; 4]].contains(&sig1) && [&b"rrAa"[..], &[0; 4]].contains(&sig2))
}

/// Probes for a FAT boot sector.
pub(super) fn probe(r: &Reader) -> Result<Option<FsInfo>> {
    let Some(bs) = r.read(0, 512)? else { return Ok(None) };
    let b = Bpb {
        sector_size: u32::from(le16(&bs, 0x0b)),
        cluster_size: u32::from(bs.get(0x0d).copied().unwrap_or(0)),
        reserved: u32::from(le16(&bs, 0x0e)),
        fats: u32::from(bs.get(0x10).copied().unwrap_or(0)),
        dir_entries: u32::from(le16(&bs, 0x11)),
        fat16_length: u32::from(le16(&bs, 0x16)),
        fat32_length: le32(&bs, 0x24),
    };
    let Some((clusters, fat_size)) = valid(&bs, &b) else { return Ok(None) };
    let mut info = FsInfo::new("vfat");
    let ext_boot_sign = |at: usize| bs.get(at).copied().unwrap_or(0);
    let (root_label, serial) = if b.fat16_length != 0 {
        let root = u64::from(b.reserved.wrapping_add(fat_size).wrapping_mul(b.sector_size));
        let mut budget = MAX_DIR_ENTRIES;
        let found = search_label(r, root, b.dir_entries, &mut budget)?;
        info.version = if clusters < FAT12_MAX {
            Some("FAT12".to_string())
        } else if clusters < FAT16_MAX {
            Some("FAT16".to_string())
        } else {
            None
        };
        // The serial exists from the DOS 4 extended boot signature (0x28/0x29) on.
        let serial = matches!(ext_boot_sign(0x26), 0x28 | 0x29).then(|| bytes(&bs, 0x27, 4));
        (found, serial)
    } else if b.fat32_length != 0 {
        let found = fat32_root_label(r, &bs, &b, fat_size)?;
        if !fsinfo_ok(r, &bs, &b)? {
            return Ok(None);
        }
        info.version = Some("FAT32".to_string());
        (found, Some(bytes(&bs, 0x43, 4)))
    } else {
        (None, None)
    };
    info.label = root_label.and_then(|name| label(&name));
    if let Some(&[a, b, c, d]) = serial {
        info.uuid = Some(format!("{d:02X}{c:02X}-{b:02X}{a:02X}"));
    }
    Ok(Some(info))
}
