//! XFS: the superblock at offset 0 (big endian), sanity-checked like libblkid's
//! `xfs_verify_sb` (geometry fields only; the v5 CRC is not verified).

use super::{array, be16, be32, be64, bytes, label, uuid, FsInfo, Reader, Result};

/// The smallest allocation group, in blocks.
const MIN_AG_BLOCKS: u64 = 64;

/// Whether `v` is a power of two within `lo..=hi` and equals `1 << log`.
fn pow2_log(v: u32, log: u8, lo: u32, hi: u32) -> bool {
    (lo..=hi).contains(&v) && v.is_power_of_two() && u32::from(log) < 32 && v == 1 << log
}

/// The libblkid geometry checks on a superblock.
fn plausible(sb: &[u8]) -> bool {
    let byte = |at: usize| sb.get(at).copied().unwrap_or(0);
    let blocksize = be32(sb, 4);
    let sectsize = u32::from(be16(sb, 102));
    let inodesize = u32::from(be16(sb, 104));
    let (blocklog, sectlog, inodelog, inopblog) = (byte(120), byte(121), byte(122), byte(123));
    // 32-bit product, as in libblkid.
    let rext_bytes = be32(sb, 80).wrapping_mul(blocksize);
    let (agblocks, agcount) = (u64::from(be32(sb, 84)), u64::from(be32(sb, 88)));
    let dblocks = be64(sb, 8);
    agcount > 0
        && pow2_log(sectsize, sectlog, 512, 32768)
        && pow2_log(blocksize, blocklog, 512, 65536)
        && pow2_log(inodesize, inodelog, 256, 2048)
        && blocklog.checked_sub(inodelog) == Some(inopblog)
        && (4096..=1 << 30).contains(&rext_bytes)
        && byte(127) <= 100
        && dblocks > 0
        && dblocks <= agcount * agblocks
        && dblocks >= (agcount - 1) * agblocks + MIN_AG_BLOCKS
}

/// Probes for an XFS superblock.
pub(super) fn probe(r: &Reader) -> Result<Option<FsInfo>> {
    let Some(sb) = r.read(0, 512)? else { return Ok(None) };
    if bytes(&sb, 0, 4) != b"XFSB" || !plausible(&sb) {
        return Ok(None);
    }
    let mut info = FsInfo::new("xfs");
    info.uuid = uuid(&array(&sb, 32));
    info.label = label(bytes(&sb, 108, 12));
    Ok(Some(info))
}
