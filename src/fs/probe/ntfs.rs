//! NTFS: the boot sector (`NTFS    ` at 3), checked like libblkid; the UUID is the volume
//! serial as 16 uppercase hex digits and the label is the `$VOLUME_NAME` attribute of the
//! `$Volume` MFT record (one more record-sized read; update-sequence fixups are not applied,
//! as in libblkid).

use super::{bytes, le16, le32, le64, utf16_label, FsInfo, Reader, Result, MAX_READ};

/// Largest cluster size libblkid accepts.
const MAX_CLUSTER: u64 = 65536;
/// MFT record number of `$Volume`.
const MFT_RECORD_VOLUME: u64 = 3;
const ATTR_VOLUME_NAME: u32 = 0x60;
const ATTR_END: u32 = 0xffff_ffff;
/// Size of the resident attribute header fields we read.
const ATTR_HDR: usize = 22;

/// Sectors per cluster from the boot-sector byte (powers of two, or 2^(256−n) for 240..=249).
fn sectors_per_cluster(v: u8) -> Option<u64> {
    match v {
        1 | 2 | 4 | 8 | 16 | 32 | 64 | 128 => Some(u64::from(v)),
        240..=249 => Some(1 << (256 - u32::from(v))),
        _ => None,
    }
}

/// MFT record size in bytes from the signed clusters-per-record byte.
fn mft_record_size(v: u8, cluster: u64) -> Option<u64> {
    match v {
        1 | 2 | 4 | 8 | 16 | 32 | 64 => Some(u64::from(v) * cluster),
        0xe1..=0xf7 => Some(1 << (256 - u32::from(v))),
        _ => None,
    }
}

/// The `$VOLUME_NAME` value of an MFT record, walking its attributes like libblkid.
fn volume_name(rec: &[u8], rec_size: usize) -> Option<String> {
    let allocated = le32(rec, 0x1c) as usize;
    let mut off = usize::from(le16(rec, 0x14));
    while off + ATTR_HDR <= rec_size && off <= allocated {
        let ty = le32(rec, off);
        let len = le32(rec, off + 4) as usize;
        if len == 0 || ty == ATTR_END {
            break;
        }
        if ty == ATTR_VOLUME_NAME {
            let val_len = le32(rec, off + 0x10) as usize;
            let val_off = usize::from(le16(rec, off + 0x14));
            if off + val_off + val_len <= rec_size {
                return utf16_label(bytes(rec, off + val_off, val_len), false);
            }
            break;
        }
        off = off.checked_add(len)?;
    }
    None
}

/// Probes for an NTFS boot sector.
pub(super) fn probe(r: &Reader) -> Result<Option<FsInfo>> {
    let Some(bs) = r.read(0, 512)? else { return Ok(None) };
    if bytes(&bs, 3, 8) != b"NTFS    " {
        return Ok(None);
    }
    let sector = u64::from(le16(&bs, 0x0b));
    let byte = |at: usize| bs.get(at).copied().unwrap_or(0);
    let Some(spc) = sectors_per_cluster(byte(0x0d)) else { return Ok(None) };
    if !(256..=4096).contains(&sector) || sector * spc > MAX_CLUSTER {
        return Ok(None);
    }
    // FAT fields NTFS leaves zero: reserved sectors, FATs, root entries, sectors, FAT length.
    if le16(&bs, 0x0e) != 0 || byte(0x10) != 0 || le16(&bs, 0x11) != 0 || le16(&bs, 0x13) != 0
        || le16(&bs, 0x16) != 0 || le32(&bs, 0x20) != 0
    {
        return Ok(None);
    }
    let Some(rec_size) = mft_record_size(byte(0x40), sector * spc) else { return Ok(None) };
    let clusters = le64(&bs, 0x28) / spc;
    let (mft, mirror) = (le64(&bs, 0x30), le64(&bs, 0x38));
    if mft > clusters || mirror > clusters {
        return Ok(None);
    }
    // Records beyond our read bound are never met on real volumes (1 or 4 KiB).
    let rec_len = usize::try_from(rec_size).unwrap_or(usize::MAX).min(MAX_READ);
    let Some(mft_off) = mft.checked_mul(sector * spc) else { return Ok(None) };
    let Some(first) = r.read(mft_off, rec_len)? else { return Ok(None) };
    let Some(vol_off) = mft_off.checked_add(MFT_RECORD_VOLUME * rec_size) else { return Ok(None) };
    let Some(vol) = r.read(vol_off, rec_len)? else { return Ok(None) };
    if bytes(&first, 0, 4) != b"FILE" || bytes(&vol, 0, 4) != b"FILE" {
        return Ok(None);
    }
    let mut info = FsInfo::new("ntfs");
    info.label = volume_name(&vol, rec_len);
    info.uuid = Some(format!("{:016X}", le64(&bs, 0x48)));
    Ok(Some(info))
}
