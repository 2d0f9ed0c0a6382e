//! ISO 9660 (`iso9660`): the primary volume descriptor at 32 KiB, a Joliet supplementary
//! descriptor for the label when it differs, the UUID from the PVD modification (else
//! creation) date as `YYYY-MM-DD-hh-mm-ss-cc`; also the older High Sierra format.

use super::{bytes, label, utf16_label, FsInfo, Reader, Result};

/// Offset of the first volume descriptor.
const VD_OFF: u64 = 0x8000;
/// Volume descriptor size.
const VD_LEN: usize = 0x800;
/// libblkid looks at this many descriptors after the PVD.
const VD_MAX: u64 = 16;
/// Offsets of the creation and modification dates in the PVD (17 bytes each).
const CREATED: usize = 813;
const MODIFIED: usize = 830;

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
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Whether the ASCII `ascii` label equals the UTF-16BE `utf16` one over `utf16`'s length.
fn ascii_eq_utf16be(ascii: &[u8], utf16: &[u8]) -> bool {
    utf16.chunks_exact(2).zip(ascii).all(|(u, &a)| u.first() == Some(&0) && u.get(1) == Some(&a))
}

/// Probes for an ISO 9660 (or High Sierra) volume.
pub(super) fn probe(r: &Reader) -> Result<Option<FsInfo>> {
    let Some(pvd) = r.read(VD_OFF, VD_LEN)? else { return Ok(None) };
    let mut info = FsInfo::new("iso9660");
    if bytes(&pvd, 1, 5) != b"CD001" {
        if bytes(&pvd, 9, 5) == b"CDROM" {
            info.version = Some("High Sierra".to_string());
            info.label = label(bytes(&pvd, 48, 32));
            return Ok(Some(info));
        }
        return Ok(None);
    }
    let pvd_label = bytes(&pvd, 40, 32);
    info.uuid = date_uuid(bytes(&pvd, MODIFIED, 17)).or_else(|| date_uuid(bytes(&pvd, CREATED, 17)));
    info.label = label(pvd_label);
    for i in 1..=VD_MAX {
        let Some(vd) = r.read(VD_OFF + i * VD_LEN as u64, VD_LEN)? else { break };
        match vd.first() {
            Some(0xff) | None => break,
            Some(2) => {}
            Some(_) => continue,
        }
        if [&b"%/@"[..], b"%/C", b"%/E"].contains(&bytes(&vd, 88, 3)) {
            info.version = Some("Joliet Extension".to_string());
            let joliet = bytes(&vd, 40, 32);
            if !ascii_eq_utf16be(pvd_label, joliet) {
                info.label = utf16_label(joliet, true);
            }
            break;
        }
    }
    Ok(Some(info))
}
