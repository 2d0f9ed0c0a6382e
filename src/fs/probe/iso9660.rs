//! ISO 9660 (`iso9660`): the primary volume descriptor (PVD) among the descriptors from 32 KiB,
//! the UUID from its modification (else creation) date as `YYYY-MM-DD-hh-mm-ss-cc`, and the
//! label from the PVD, or from a Joliet supplementary descriptor merged with the PVD's as
//! libblkid does; also the older High Sierra format.

use super::{bytes, cstr, label, utf16_label, FsInfo, Reader, Result};

/// Offset of the first volume descriptor.
const VD_OFF: u64 = 0x8000;
/// Volume descriptor size.
const VD_LEN: usize = 0x800;
/// libblkid looks at this many descriptors.
const VD_MAX: u64 = 16;
/// Offsets of the creation and modification dates in the PVD (17 bytes each).
const CREATED: usize = 813;
const MODIFIED: usize = 830;
/// Offset and size of the volume identifier.
const VOLUME_ID: usize = 40;
const VOLUME_ID_LEN: usize = 32;

/// A UUID from a 17-byte ISO date, `None` when the date is unset (all `'0'`, zero offset).
fn date_uuid(d: &[u8]) -> Option<String> {
    let digits = bytes(d, 0, 16);
    if digits.len() != 16 || (digits.iter().all(|&c| c == b'0') && d.get(16) == Some(&0)) {
        return None;
    }
    // Dashes after year, month, day, hour, minute and second; the bytes are kept as they are.
    let mut out = Vec::with_capacity(22);
    for (i, &c) in digits.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10 | 12 | 14) {
            out.push(b'-');
        }
        out.push(c);
    }
    Some(String::from_utf8_lossy(cstr(&out)).into_owned())
}

/// libblkid's `merge_utf16be_ascii`: when the Joliet (UTF-16BE, at most 16 characters) label
/// is a prefix of the PVD (ASCII, up to 32) one — ignoring case and `_` placeholders for
/// unrepresentable characters — rebuilds the full label as UTF-16BE; `None` otherwise.
fn merge_utf16be_ascii(utf16: &[u8], ascii: &[u8]) -> Option<Vec<u8>> {
    let len = ascii.len();
    let unit = |i: usize| (utf16.get(i).copied().unwrap_or(0), utf16.get(i + 1).copied().unwrap_or(0));
    let mut out = Vec::with_capacity(2 * len + 4);
    let (mut a, mut u) = (0, 0);
    while u + 1 < len && a < len {
        let (hi, lo) = unit(u);
        let (next_hi, _) = unit(u + 2);
        if (0xd8..=0xdb).contains(&hi) && u + 3 < len && (0xdc..=0xdf).contains(&next_hi) {
            out.extend([hi, lo]);
            u += 2;
        }
        let (hi, lo) = unit(u);
        let c = ascii.get(a).copied().unwrap_or(0);
        if c == b'_' {
            out.extend([hi, lo]);
        } else if hi == 0 && lo == b'_' {
            out.extend([0, c]);
        } else if hi == 0 && c.eq_ignore_ascii_case(&lo) {
            out.extend([0, if c.is_ascii_uppercase() { lo } else { c }]);
        } else {
            return None;
        }
        a += 1;
        u += 2;
    }
    for &c in bytes(ascii, a, len - a) {
        out.extend([0, c]);
    }
    (!out.is_empty()).then_some(out)
}

/// Whether a supplementary descriptor is Joliet (UCS-2 escape sequences).
fn is_joliet(vd: &[u8]) -> bool {
    [&b"%/@"[..], b"%/C", b"%/E"].contains(&bytes(vd, 88, 3))
}

/// Probes for an ISO 9660 (or High Sierra) volume.
pub(super) fn probe(r: &Reader) -> Result<Option<FsInfo>> {
    let Some(first) = r.read(VD_OFF, VD_LEN)? else { return Ok(None) };
    let mut info = FsInfo::new("iso9660");
    if bytes(&first, 1, 5) != b"CD001" {
        if bytes(&first, 9, 5) == b"CDROM" {
            info.version = Some("High Sierra".to_string());
            info.label = label(bytes(&first, 48, 32));
            return Ok(Some(info));
        }
        return Ok(None);
    }
    let (mut pvd, mut joliet) = (None, None);
    for i in 0..VD_MAX {
        let Some(vd) = r.read(VD_OFF + i * VD_LEN as u64, VD_LEN)? else { break };
        match vd.first() {
            Some(0xff) | None => break,
            Some(1) if pvd.is_none() => pvd = Some(vd),
            Some(2) if joliet.is_none() && is_joliet(&vd) => joliet = Some(vd),
            _ => {}
        }
        if pvd.is_some() && joliet.is_some() {
            break;
        }
    }
    let Some(pvd) = pvd else { return Ok(None) };
    let pvd_label = bytes(&pvd, VOLUME_ID, VOLUME_ID_LEN);
    info.uuid = date_uuid(bytes(&pvd, MODIFIED, 17)).or_else(|| date_uuid(bytes(&pvd, CREATED, 17)));
    info.label = match &joliet {
        Some(j) => {
            let joliet_label = bytes(j, VOLUME_ID, VOLUME_ID_LEN);
            match merge_utf16be_ascii(joliet_label, pvd_label) {
                Some(merged) => utf16_label(&merged, true),
                None => utf16_label(joliet_label, true),
            }
        }
        None => label(pvd_label),
    };
    if joliet.is_some() {
        info.version = Some("Joliet Extension".to_string());
    }
    Ok(Some(info))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 32-byte Joliet field: UTF-16BE, blank-padded.
    fn utf16be(s: &str) -> Vec<u8> {
        let mut v: Vec<u8> = s.encode_utf16().flat_map(u16::to_be_bytes).collect();
        while v.len() < 32 {
            v.extend([0, b' ']);
        }
        v
    }

    #[test]
    fn joliet_prefix_is_completed_from_the_pvd() {
        let joliet = utf16be("Long label, part");
        let pvd = b"LONG LABEL, PART TWO AND MORE   ";
        let merged = merge_utf16be_ascii(&joliet, pvd).unwrap();
        assert_eq!(utf16_label(&merged, true).as_deref(), Some("Long label, part TWO AND MORE"));
    }

    #[test]
    fn different_labels_do_not_merge() {
        assert_eq!(merge_utf16be_ascii(&utf16be("Other           "), b"LABEL                           "), None);
    }

    #[test]
    fn placeholders_take_the_unicode_character() {
        let merged = merge_utf16be_ascii(&utf16be("Caf\u{e9}"), b"CAF_                            ").unwrap();
        assert_eq!(utf16_label(&merged, true).as_deref(), Some("Caf\u{e9}"));
    }
}
