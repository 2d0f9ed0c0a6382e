//! LVM2 physical volumes (`LVM2_member`): the `LABELONE` label in one of sectors 0–3 with type
//! `LVM2 001`. Only the label is read here; the full LVM reader is `crate::lvm`.

use super::{cstr, bytes, le32, le64, FsInfo, Reader, Result};

/// Where libblkid looks for the `LVM2 001` type string, in order: (read base, offset in it).
const MAGICS: [(u64, usize); 4] = [(0, 0x218), (0, 0x18), (1024, 0x18), (1024, 0x218)];
/// Label header (32 bytes) plus the PV UUID (32), in either sector of a 1 KiB read.
const READ_LEN: usize = 512 + 64;
/// The label sector size the CRC covers.
const LABEL_SIZE: usize = 512;
/// Offset of `offset_xl`, where the CRC starts.
const CRC_START: usize = 20;

/// LVM's CRC-32 variant: reflected polynomial 0xEDB88320, seed 0xf597a6cf, no final inversion.
fn lvm_crc(data: &[u8]) -> u32 {
    const TAB: [u32; 16] = [
        0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
        0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c, 0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
    ];
    let nib = |crc: u32| (crc >> 4) ^ TAB.get((crc & 0xf) as usize).copied().unwrap_or(0);
    data.iter().fold(0xf597a6cf, |crc, &b| nib(nib(crc ^ u32::from(b))))
}

/// The 32-character PV UUID in LVM's 6-4-4-4-4-4-6 dashed form.
fn format_uuid(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(38);
    for (i, &c) in raw.iter().enumerate() {
        if matches!(i, 6 | 10 | 14 | 18 | 22 | 26) {
            out.push(b'-');
        }
        out.push(c);
    }
    String::from_utf8_lossy(cstr(&out)).into_owned()
}

/// Probes for an LVM2 PV label.
pub(super) fn probe(r: &Reader) -> Result<Option<FsInfo>> {
    // libblkid does not look for RAID-like members (LVM included) on floppy-sized devices.
    if r.is_tiny() {
        return Ok(None);
    }
    for (base, at) in MAGICS {
        if !r.has_magic(base + at as u64, b"LVM2 001")? {
            continue;
        }
        // The first matching signature decides, as in libblkid.
        let Some(buf) = r.read(base, READ_LEN)? else { return Ok(None) };
        let mut sector = base / 512;
        let label = if bytes(&buf, 0, 8) == b"LABELONE" {
            bytes(&buf, 0, 64)
        } else if bytes(&buf, 512, 8) == b"LABELONE" {
            sector += 1;
            bytes(&buf, 512, 64)
        } else {
            return Ok(None);
        };
        if le64(label, 8) != sector {
            return Ok(None);
        }
        let Some(whole) = r.read(sector * 512, LABEL_SIZE)? else { return Ok(None) };
        if lvm_crc(bytes(&whole, CRC_START, LABEL_SIZE - CRC_START)) != le32(label, 16) {
            return Ok(None);
        }
        let mut info = FsInfo::new("LVM2_member");
        info.uuid = Some(format_uuid(bytes(label, 32, 32)));
        info.version = Some("LVM2 001".to_string());
        return Ok(Some(info));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_dashes() {
        assert_eq!(format_uuid(b"Abcdef1234567890ABCDEFGHhijklmno"), "Abcdef-1234-5678-90AB-CDEF-GHhi-jklmno");
    }
}
