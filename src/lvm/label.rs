//! The PV label: `LABELONE` in one of the first four sectors, followed by the PV header
//! (uuid, device size, data areas, metadata areas). Layout from lvm2 `lib/label/label.h` and
//! `lib/format_text/layout.h`; all fields little-endian.

use super::{lvm_crc, Error, Result, INITIAL_CRC};
use crate::disk::{read_vec, BlockDev};

const SECTOR: usize = 512;
/// Sectors searched for a label (`LABEL_SCAN_SECTORS`).
const SCAN_SECTORS: u64 = 4;
const LABEL_ID: &[u8; 8] = b"LABELONE";
const LABEL_TYPE: &[u8; 8] = b"LVM2 001";
/// The label CRC covers the sector from the `offset_xl` field (byte 20) to its end.
const CRC_FROM: usize = 20;
/// PV uuid length without dashes (`ID_LEN`).
const ID_LEN: usize = 32;

/// A byte range on the PV's device (`disk_locn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskArea {
    /// Start, in bytes from the start of the device.
    pub offset: u64,
    /// Length in bytes; 0 for a data area means "to the end of the device".
    pub size: u64,
}

/// A decoded PV label and header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvLabel {
    /// Sector holding the label (0..3; lvm2 writes sector 1).
    pub sector: u64,
    /// PV uuid with dashes, grouped 6-4-4-4-4-4-6 as lvm2 prints it.
    pub uuid: String,
    /// Device size recorded in the header, in bytes.
    pub dev_size: u64,
    /// Data areas (lvm2 writes one, starting at `pe_start`).
    pub data_areas: Vec<DiskArea>,
    /// Metadata areas (zero, one or two).
    pub metadata_areas: Vec<DiskArea>,
}

/// Inserts dashes into a 32-character LVM id: `xxxxxx-xxxx-xxxx-xxxx-xxxx-xxxx-xxxxxx`.
pub fn dashed_uuid(raw: &str) -> String {
    let mut out = String::with_capacity(38);
    for (i, c) in raw.chars().enumerate() {
        if matches!(i, 6 | 10 | 14 | 18 | 22 | 26) {
            out.push('-');
        }
        out.push(c);
    }
    out
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// Reads a zero-terminated `disk_locn` list at `*pos`, advancing it past the terminator.
fn read_areas(sec: &[u8], pos: &mut usize, what: &str) -> std::result::Result<Vec<DiskArea>, String> {
    let mut areas = Vec::new();
    loop {
        let (Some(offset), Some(size)) = (u64_at(sec, *pos), u64_at(sec, *pos + 8)) else {
            return Err(format!("{what} list is not terminated inside the label sector"));
        };
        *pos += 16;
        if offset == 0 && size == 0 {
            return Ok(areas);
        }
        areas.push(DiskArea { offset, size });
    }
}

/// Decodes one sector that starts with `LABELONE`.
fn decode(sec: &[u8], sector: u64) -> std::result::Result<PvLabel, String> {
    let sector_xl = u64_at(sec, 8).ok_or("short sector")?;
    if sector_xl != sector {
        return Err(format!("sector field says {sector_xl}"));
    }
    let crc = u32_at(sec, 16).ok_or("short sector")?;
    let body = sec.get(CRC_FROM..).ok_or("short sector")?;
    let calc = lvm_crc(INITIAL_CRC, body);
    if crc != calc {
        return Err(format!("CRC mismatch (stored {crc:#010x}, computed {calc:#010x}); the label is damaged (pvck --repair may help)"));
    }
    let offset = u32_at(sec, 20).ok_or("short sector")? as usize;
    if sec.get(24..32) != Some(&LABEL_TYPE[..]) {
        let t = sec.get(24..32).map(String::from_utf8_lossy).unwrap_or_default();
        return Err(format!("label type {t:?} is not \"LVM2 001\"; only LVM2 text-format PVs are supported"));
    }
    if !(32..SECTOR - ID_LEN - 8).contains(&offset) {
        return Err(format!("PV header offset {offset} lies outside the sector"));
    }
    let uuid_raw = sec.get(offset..offset + ID_LEN).ok_or("short sector")?;
    if !uuid_raw.iter().all(|c| c.is_ascii_alphanumeric()) {
        return Err("PV uuid is not alphanumeric".into());
    }
    let uuid = dashed_uuid(&String::from_utf8_lossy(uuid_raw));
    let dev_size = u64_at(sec, offset + ID_LEN).ok_or("short sector")?;
    let mut pos = offset + ID_LEN + 8;
    let data_areas = read_areas(sec, &mut pos, "data area")?;
    let metadata_areas = read_areas(sec, &mut pos, "metadata area")?;
    Ok(PvLabel { sector, uuid, dev_size, data_areas, metadata_areas })
}

/// Looks for a PV label in the first four sectors of `dev`. `Ok(None)` when there is none (or
/// the device is shorter than a sector); an error when a label is present but damaged.
pub fn read_label(dev: &dyn BlockDev) -> Result<Option<PvLabel>> {
    read_label_as(dev, &dev.name())
}

/// [`read_label`], naming the device `name` in errors.
pub(crate) fn read_label_as(dev: &dyn BlockDev, name: &str) -> Result<Option<PvLabel>> {
    let n = (dev.len() / SECTOR as u64).min(SCAN_SECTORS);
    if n == 0 {
        return Ok(None);
    }
    let buf = read_vec(dev, 0, n as usize * SECTOR)?;
    for (sector, sec) in buf.chunks_exact(SECTOR).enumerate() {
        if sec.starts_with(LABEL_ID) {
            let sector = sector as u64;
            return decode(sec, sector)
                .map(Some)
                .map_err(|msg| Error::Label { dev: name.to_string(), sector, msg });
        }
    }
    Ok(None)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::disk::MemDev;

    /// Writes a valid label into sector `sector` of `img`.
    pub(crate) fn put_label(img: &mut [u8], sector: usize, uuid: &[u8; 32], dev_size: u64, data: &[(u64, u64)], mdas: &[(u64, u64)]) {
        let s = &mut img[sector * 512..(sector + 1) * 512];
        s.fill(0);
        s[..8].copy_from_slice(LABEL_ID);
        s[8..16].copy_from_slice(&(sector as u64).to_le_bytes());
        s[20..24].copy_from_slice(&32u32.to_le_bytes());
        s[24..32].copy_from_slice(LABEL_TYPE);
        s[32..64].copy_from_slice(uuid);
        s[64..72].copy_from_slice(&dev_size.to_le_bytes());
        let mut p = 72;
        for &(o, l) in data.iter().chain([(0, 0)].iter()).chain(mdas.iter()).chain([(0, 0)].iter()) {
            s[p..p + 8].copy_from_slice(&o.to_le_bytes());
            s[p + 8..p + 16].copy_from_slice(&l.to_le_bytes());
            p += 16;
        }
        let crc = lvm_crc(INITIAL_CRC, &s[20..]);
        s[16..20].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn decodes_and_checks_crc() {
        let mut img = vec![0u8; 4096];
        put_label(&mut img, 1, b"abcdefABCDEF0123456789abcdefABCD", 1 << 20, &[(1 << 20, 0)], &[(4096, 1 << 20)]);
        let l = read_label(&MemDev::new(img.clone())).unwrap().unwrap();
        assert_eq!(l.uuid, "abcdef-ABCD-EF01-2345-6789-abcd-efABCD");
        assert_eq!(l.sector, 1);
        assert_eq!(l.data_areas, vec![DiskArea { offset: 1 << 20, size: 0 }]);
        assert_eq!(l.metadata_areas, vec![DiskArea { offset: 4096, size: 1 << 20 }]);
        img[512 + 100] ^= 1;
        let e = read_label(&MemDev::new(img)).unwrap_err().to_string();
        assert!(e.contains("mem: LVM label in sector 1: CRC mismatch"), "{e}");
        assert!(read_label(&MemDev::new(vec![0u8; 100])).unwrap().is_none());
        assert!(read_label(&MemDev::new(vec![0u8; 4096])).unwrap().is_none());
    }

    #[test]
    fn unterminated_lists_are_errors() {
        let mut img = vec![0u8; 2048];
        put_label(&mut img, 0, b"abcdefABCDEF0123456789abcdefABCD", 1, &[], &[]);
        for p in (72..512).step_by(8) {
            img[p] = 1;
        }
        let crc = lvm_crc(INITIAL_CRC, &img[20..512]);
        img[16..20].copy_from_slice(&crc.to_le_bytes());
        let e = read_label(&MemDev::new(img)).unwrap_err().to_string();
        assert!(e.contains("not terminated"), "{e}");
    }
}
