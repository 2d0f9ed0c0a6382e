//! Btrfs: the primary superblock at 64 KiB, magic `_BHRfS_M` at +0x40. The superblock checksum
//! is not verified.

use super::{array, bytes, label, uuid, FsInfo, Reader, Result};

/// libblkid ignores devices under 1 MiB for btrfs.
const MIN_SIZE: u64 = 1024 * 1024;
/// Offset of the primary superblock.
const SB_OFF: u64 = 64 * 1024;
/// Bytes read: up to the end of the 256-byte label at 0x12b.
const SB_LEN: usize = 0x12b + 256;

/// Probes for a btrfs superblock.
pub(super) fn probe(r: &Reader) -> Result<Option<FsInfo>> {
    if r.len() < MIN_SIZE {
        return Ok(None);
    }
    let Some(sb) = r.read(SB_OFF, SB_LEN)? else { return Ok(None) };
    if bytes(&sb, 0x40, 8) != b"_BHRfS_M" {
        return Ok(None);
    }
    let mut info = FsInfo::new("btrfs");
    info.uuid = uuid(&array(&sb, 0x20));
    info.label = label(bytes(&sb, 0x12b, 256));
    Ok(Some(info))
}
