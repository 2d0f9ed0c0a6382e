//! LUKS1 and LUKS2 (`crypto_LUKS`): the primary header at offset 0, or a LUKS2 secondary
//! header at one of its standard offsets when the primary one is gone.

use super::{be16, bytes, label, FsInfo, Reader, Result};

/// The common binary header size (LUKS2's; LUKS1's is smaller).
const HDR_LEN: usize = 512;
/// Offsets libblkid scans for a LUKS2 secondary header.
const SECONDARY: [u64; 9] = [0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000];

/// Whether `hdr` starts with `magic`. Like libblkid 2.38, the LUKS2 `hdr_offset` field is not
/// checked against the header's position (newer libblkid does).
fn valid(hdr: &[u8], magic: &[u8]) -> bool {
    bytes(hdr, 0, 6) == magic
}

/// UUID, label and version from a valid header.
fn info(hdr: &[u8]) -> FsInfo {
    let version = be16(hdr, 6);
    let mut info = FsInfo::new("crypto_LUKS");
    info.version = Some(version.to_string());
    if version == 1 || version == 2 {
        // The UUID is stored as text (40 bytes, NUL-terminated) at the same place in both.
        info.uuid = label(bytes(hdr, 168, 40));
    }
    if version == 2 {
        info.label = label(bytes(hdr, 24, 48));
    }
    info
}

/// Probes for a LUKS header.
pub(super) fn probe(r: &Reader) -> Result<Option<FsInfo>> {
    if let Some(hdr) = r.read(0, HDR_LEN)? {
        if valid(&hdr, b"LUKS\xba\xbe") {
            return Ok(Some(info(&hdr)));
        }
    }
    for off in SECONDARY {
        let Some(hdr) = r.read(off, HDR_LEN)? else { return Ok(None) };
        if valid(&hdr, b"SKUL\xba\xbe") {
            return Ok(Some(info(&hdr)));
        }
    }
    Ok(None)
}
