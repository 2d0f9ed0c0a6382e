//! Short (8.3) directory entries as stored: found by position (our inode numbers), decoded
//! into the attributes, sizes, times and modes Linux's vfat driver reports.

use crate::fs::Timespec;

/// Attribute bits.
pub(super) const ATTR_RO: u8 = 0x01;
pub(super) const ATTR_VOLUME: u8 = 0x08;
pub(super) const ATTR_DIR: u8 = 0x10;
pub(super) const ATTR_LFN: u8 = 0x0F;
pub(super) const DELETED: u8 = 0xE5;
/// Size of a directory slot.
pub(super) const SLOT: u64 = 32;

/// One short directory entry and its byte position on the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawEntry {
    /// Byte offset of the 32-byte entry on the device.
    pub pos: u64,
    /// The 11 name bytes as stored.
    pub name: [u8; 11],
    /// Attribute byte.
    pub attr: u8,
    /// First cluster (high half only on FAT32).
    pub first_cluster: u32,
    /// Size in bytes.
    pub size: u32,
    /// Modification time and date, last access date.
    time: u16,
    date: u16,
    adate: u16,
}

fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

impl RawEntry {
    /// Decodes slot `b` (32 bytes) found at device offset `pos`.
    pub(super) fn parse(b: &[u8], pos: u64, fat32: bool) -> RawEntry {
        let mut name = [0u8; 11];
        name.copy_from_slice(&b[..11]);
        let hi = if fat32 { u32::from(le16(b, 20)) << 16 } else { 0 };
        RawEntry {
            pos,
            name,
            attr: b[11],
            first_cluster: hi | u32::from(le16(b, 26)),
            size: u32::from_le_bytes([b[28], b[29], b[30], b[31]]),
            time: le16(b, 22),
            date: le16(b, 24),
            adate: le16(b, 18),
        }
    }

    /// Whether this is a directory.
    pub(super) fn is_dir(&self) -> bool {
        self.attr & ATTR_DIR != 0
    }

    /// Whether this is the `.` or `..` entry of a subdirectory.
    pub(super) fn is_dot(&self) -> bool {
        &self.name == b".          " || &self.name == b"..         "
    }

    /// The 8.3 name as `fatfs` and mtools print it (`NAME.EXT`, 0x05 read as 0xE5).
    pub(super) fn short_name(&self) -> Vec<u8> {
        let trim = |s: &[u8]| s.len() - s.iter().rev().take_while(|&&c| c == b' ').count();
        let mut out = self.name[..trim(&self.name[..8])].to_vec();
        let ext = &self.name[8..8 + trim(&self.name[8..])];
        if !ext.is_empty() {
            out.push(b'.');
            out.extend_from_slice(ext);
        }
        if out.first() == Some(&0x05) {
            out[0] = DELETED;
        }
        out
    }

    /// `st_mode` as Linux's `fat_make_mode` computes it with the mounting process's umask
    /// 022 and no `fmask`/`dmask`/`rodir` options: `0755`, without write bits for read-only
    /// files.
    pub(super) fn mode(&self) -> u32 {
        let mut perm = 0o755;
        if self.is_dir() {
            return 0o040000 | perm;
        }
        if self.attr & ATTR_RO != 0 {
            perm &= !0o222;
        }
        0o100000 | perm
    }

    /// Modification time (also Linux's `ctime` since 5.19).
    pub(super) fn mtime(&self) -> Timespec {
        Timespec { sec: fat2unix(self.time, self.date), nsec: 0 }
    }

    /// Access time: the access date at midnight.
    pub(super) fn atime(&self) -> Timespec {
        Timespec { sec: fat2unix(0, self.adate), nsec: 0 }
    }
}

/// Cumulative days before each month (index 1..12; 13..15 are invalid months Linux maps to 0).
const DAYS_BEFORE: [i64; 16] = [0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 0, 0, 0];
/// Days from 1970-01-01 to 1980-01-01.
const DAYS_DELTA: i64 = 365 * 10 + 2;
/// 2100 - 1980: not a leap year.
const YEAR_2100: i64 = 120;

/// Linux's `fat_time_fat2unix` with no `tz=` option and a kernel time zone of UTC: the DOS
/// local time read as UTC, fields out of range computed arithmetically as Linux does.
pub(super) fn fat2unix(time: u16, date: u16) -> i64 {
    let year = i64::from(date >> 9);
    let month = usize::from((date >> 5) & 0xF).max(1);
    let day = i64::from(date & 0x1F).max(1) - 1;
    let mut leap_days = (year + 3) / 4;
    if year > YEAR_2100 {
        leap_days -= 1;
    }
    if year & 3 == 0 && year != YEAR_2100 && month > 2 {
        leap_days += 1;
    }
    let secs = i64::from(time & 0x1F) * 2 + i64::from((time >> 5) & 0x3F) * 60 + i64::from(time >> 11) * 3600;
    secs + (year * 365 + leap_days + DAYS_BEFORE[month] + day + DAYS_DELTA) * 86400
}

/// The short entries of a directory whose bytes are `data`, stored in `segments` bytes at each
/// device offset of `offsets` (one per cluster, or one for the FAT12/16 root), in the order
/// `fatfs` iterates them: up to the first free slot (first byte 0), skipping deleted slots,
/// long-name slots and volume labels.
pub(super) fn scan(data: &[u8], offsets: &[u64], segment: u64, fat32: bool) -> Vec<RawEntry> {
    let mut out = Vec::new();
    for (i, slot) in data.chunks_exact(SLOT as usize).enumerate() {
        let at = i as u64 * SLOT;
        let Some(&base) = offsets.get((at / segment) as usize) else { break };
        match slot[0] {
            0 => break,
            DELETED => continue,
            _ => {}
        }
        let attr = slot[11];
        if attr & ATTR_LFN == ATTR_LFN || attr & ATTR_VOLUME != 0 {
            continue;
        }
        out.push(RawEntry::parse(slot, base + at % segment, fat32));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_times_as_linux_reads_them() {
        // 1980-01-01 00:00:00
        assert_eq!(fat2unix(0, (1 << 5) | 1), 315_532_800);
        // date 0 is read as 1980-01-01 too (month and day clamp to 1)
        assert_eq!(fat2unix(0, 0), 315_532_800);
        // 2019-06-15 13:45:30: date = (39<<9)|(6<<5)|15, time = (13<<11)|(45<<5)|15
        assert_eq!(fat2unix((13 << 11) | (45 << 5) | 15, (39 << 9) | (6 << 5) | 15), 1_560_606_330);
        // 2000-03-01 (leap year, after February)
        assert_eq!(fat2unix(0, (20 << 9) | (3 << 5) | 1), 951_868_800);
        // 2100-03-01 is not after a leap day
        assert_eq!(fat2unix(0, (120 << 9) | (3 << 5) | 1), 4_107_542_400);
    }

    #[test]
    fn scan_follows_fatfs_rules() {
        let mut data = vec![0u8; 6 * 32];
        data[..11].copy_from_slice(b"LABEL      ");
        data[11] = ATTR_VOLUME;
        data[32] = 0x41; // long-name slot
        data[32 + 11] = ATTR_LFN;
        data[64..75].copy_from_slice(b"README  TXT");
        data[64 + 11] = ATTR_RO;
        data[64 + 28] = 5;
        data[96] = DELETED;
        data[128..139].copy_from_slice(b"\x05BC        ");
        data[128 + 11] = ATTR_DIR;
        data[128 + 20] = 1; // high cluster half: FAT32 only
        data[128 + 26] = 7;
        let e = scan(&data, &[1000, 5000], 128, true);
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[0].pos, e[0].short_name(), e[0].size, e[0].mode()),
            (1064, b"README.TXT".to_vec(), 5, 0o100555)
        );
        assert_eq!((e[1].pos, e[1].short_name(), e[1].first_cluster), (5000, b"\xE5BC".to_vec(), 0x1_0007));
        assert_eq!(e[1].mode(), 0o040755);
        assert_eq!(scan(&data, &[1000, 5000], 128, false)[1].first_cluster, 7);
    }
}
