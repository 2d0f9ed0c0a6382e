//! Linux swap areas (`swap`: SWAPSPACE2 and the old SWAP-SPACE) and hibernation images kept in a
//! swap area (`swsuspend`), with the signature at the end of the first page for every page size
//! libblkid knows.

use super::{array, bytes, label, le32, uuid, FsInfo, Reader, Result};

/// Offsets of the 10-byte signature: page end − 10 for 4, 8, 16, 32 and 64 KiB pages.
const SIG_OFFSETS: [u64; 5] = [0xff6, 0x1ff6, 0x3ff6, 0x7ff6, 0xfff6];
/// libblkid ignores devices under 10 pages of 4 KiB.
const MIN_SIZE: u64 = 10 * 4096;
/// TuxOnIce keeps a valid swap signature but marks its image at offset 0.
const TOI_MAGIC: &[u8] = b"\xed\xc3\x02\xe9\x98\x56\xe5\x0c";
/// The v1 header (`swap_header_v1_2`) follows 1 KiB of boot bits.
const HDR_OFF: u64 = 1024;
const HDR_LEN: usize = 516;

/// The first signature among `magics` found at the page-end offsets, offsets outermost.
fn find_magic(r: &Reader, magics: &[&'static [u8]]) -> Result<Option<&'static [u8]>> {
    for off in SIG_OFFSETS {
        for &m in magics {
            if r.has_magic(off, m)? {
                return Ok(Some(m));
            }
        }
    }
    Ok(None)
}

/// Fills UUID, label and version from the v1 header, like libblkid's `swap_set_info`;
/// `None` when a SWAPSPACE2 header has a wrong version or no last page.
fn set_info(r: &Reader, mut info: FsInfo, version: &str, check_v1: bool) -> Result<Option<FsInfo>> {
    let Some(hdr) = r.read(HDR_OFF, HDR_LEN)? else { return Ok(None) };
    if check_v1 {
        let v = le32(&hdr, 0);
        if v != 1 && v.swap_bytes() != 1 {
            return Ok(None);
        }
        if le32(&hdr, 4) == 0 {
            return Ok(None);
        }
    }
    // libblkid's sanity check: padding[32] and padding[33] must be zero.
    if le32(&hdr, 44 + 32 * 4) == 0 && le32(&hdr, 44 + 33 * 4) == 0 {
        info.label = label(bytes(&hdr, 28, 16));
        info.uuid = uuid(&array(&hdr, 12));
    }
    info.version = Some(version.to_string());
    Ok(Some(info))
}

/// Probes for a swap signature.
pub(super) fn probe_swap(r: &Reader) -> Result<Option<FsInfo>> {
    if r.len() < MIN_SIZE {
        return Ok(None);
    }
    let Some(magic) = find_magic(r, &[b"SWAP-SPACE", b"SWAPSPACE2"])? else { return Ok(None) };
    if r.has_magic(0, TOI_MAGIC)? {
        return Ok(None);
    }
    let info = FsInfo::new("swap");
    if magic == b"SWAP-SPACE" {
        // Version 0 has neither label nor UUID.
        return Ok(Some(FsInfo { version: Some("0".to_string()), ..info }));
    }
    set_info(r, info, "1", true)
}

/// Probes for a hibernation image signature (`swsuspend`).
pub(super) fn probe_swsuspend(r: &Reader) -> Result<Option<FsInfo>> {
    if r.len() < MIN_SIZE {
        return Ok(None);
    }
    let version = if r.has_magic(0, TOI_MAGIC)? {
        "tuxonice"
    } else {
        match find_magic(r, &[b"S1SUSPEND", b"S2SUSPEND", b"ULSUSPEND", b"LINHIB0001"])? {
            Some(b"S1SUSPEND") => "s1suspend",
            Some(b"S2SUSPEND") => "s2suspend",
            Some(b"ULSUSPEND") => "ulsuspend",
            Some(_) => "linhib0001",
            None => return Ok(None),
        }
    };
    set_info(r, FsInfo::new("swsuspend"), version, false)
}

#[cfg(test)]
mod tests {
    use crate::disk::MemDev;
    use crate::fs::probe;

    #[test]
    fn old_swap_space_is_version_0() {
        let mut data = vec![0u8; 64 * 1024];
        data[0xff6..0x1000].copy_from_slice(b"SWAP-SPACE");
        let info = probe(&MemDev::new(data)).unwrap().unwrap();
        assert_eq!((info.fs_type.as_str(), info.version.as_deref(), info.uuid), ("swap", Some("0"), None));
    }

    #[test]
    fn suspend_signature_is_swsuspend() {
        let mut data = vec![0u8; 64 * 1024];
        data[0x1ff6..0x1fff].copy_from_slice(b"S1SUSPEND");
        data[1024 + 12] = 0x42;
        data[1024 + 28..1024 + 31].copy_from_slice(b"hib");
        let info = probe(&MemDev::new(data)).unwrap().unwrap();
        assert_eq!(info.fs_type, "swsuspend");
        assert_eq!(info.version.as_deref(), Some("s1suspend"));
        assert_eq!(info.label.as_deref(), Some("hib"));
        assert_eq!(info.uuid.as_deref(), Some("42000000-0000-0000-0000-000000000000"));
    }

    #[test]
    fn small_device_is_not_swap() {
        let mut data = vec![0u8; 20 * 1024];
        data[0xff6..0x1000].copy_from_slice(b"SWAP-SPACE");
        assert_eq!(probe(&MemDev::new(data)).unwrap(), None);
    }
}
