//! `statvfs` exactly as the kernel's `ext4_statfs` computes it: total blocks less the
//! metadata overhead ([`crate::fs::statfs`]), free counts summed over the group descriptors
//! (as mount initialises its counters), and the reserve `ext4_calculate_resv_clusters` adds.

use crate::fs::StatVfs;

/// `ST_RDONLY`: this reader never writes.
const ST_RDONLY: u64 = 1;
/// `EXT4_NAME_LEN`.
const NAME_LEN: u64 = 255;

/// The `statvfs` of the mounted `fs` whose `f_blocks × f_bsize` is `size_bytes`.
pub(super) fn statvfs(fs: &fs_ext4::Filesystem, size_bytes: u64) -> StatVfs {
    let sb = &fs.sb;
    let bsize = u64::from(sb.block_size());
    let bfree: u64 = fs
        .groups
        .iter()
        .map(|g| u64::from(g.free_blocks_count))
        .sum();
    let ffree: u64 = fs
        .groups
        .iter()
        .map(|g| u64::from(g.free_inodes_count))
        .sum();
    let has_extents = sb.feature_incompat & fs_ext4::features::Incompat::EXTENTS.bits() != 0;
    let resv = if has_extents {
        (sb.blocks_count / 50).min(4096)
    } else {
        0
    };
    let uuid = |o: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&sb.uuid[o..o + 8]);
        u64::from_le_bytes(w)
    };
    StatVfs {
        bsize,
        frsize: bsize,
        blocks: size_bytes / bsize,
        bfree,
        bavail: bfree.saturating_sub(sb.r_blocks_count.saturating_add(resv)),
        files: u64::from(sb.inodes_count),
        ffree,
        favail: ffree,
        fsid: uuid(0) ^ uuid(8),
        flag: ST_RDONLY,
        namemax: NAME_LEN,
    }
}
