//! SquashFS: `hsqs` (little endian) at offset 0; version 4 is `squashfs`, older ones (also
//! big-endian `sqsh`) are `squashfs3`, as libblkid names them. No UUID or label.

use super::{be16, bytes, le16, FsInfo, Reader, Result};

/// Probes for a SquashFS superblock.
pub(super) fn probe(r: &Reader) -> Result<Option<FsInfo>> {
    let Some(sb) = r.read(0, 32)? else { return Ok(None) };
    let (major, minor) = match bytes(&sb, 0, 4) {
        b"hsqs" => (le16(&sb, 28), le16(&sb, 30)),
        b"sqsh" => (be16(&sb, 28), be16(&sb, 30)),
        _ => return Ok(None),
    };
    let fs_type = match (major >= 4, bytes(&sb, 0, 4) == b"hsqs") {
        (true, true) => "squashfs",
        (false, _) => "squashfs3",
        (true, false) => return Ok(None),
    };
    let mut info = FsInfo::new(fs_type);
    info.version = Some(format!("{major}.{minor}"));
    Ok(Some(info))
}
