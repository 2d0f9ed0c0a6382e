//! `statvfs` exactly as the kernel's `ext4_statfs` computes it: total blocks less the
//! metadata overhead ([`crate::fs::statfs`]), free counts summed over the group descriptors
//! (as mount initialises its counters; read again on a writable mount, whose writes move
//! them), and the reserve `ext4_calculate_resv_clusters` adds.

use crate::fs::StatVfs;

/// `ST_RDONLY`: the mount is read-only.
const ST_RDONLY: u64 = 1;
/// `EXT4_NAME_LEN`.
const NAME_LEN: u64 = 255;

/// The `statvfs` of the mounted `fs` whose `f_blocks × f_bsize` is `size_bytes`, mounted
/// read-only when `read_only`.
pub(super) fn statvfs(
    fs: &fs_ext4::Filesystem,
    size_bytes: u64,
    read_only: bool,
) -> fs_ext4::Result<StatVfs> {
    let sb = &fs.sb;
    let fresh;
    let groups = if read_only {
        &fs.groups
    } else {
        fresh = fs_ext4::bgd::read_all(fs.dev.as_ref(), sb, &fs.csum)?;
        &fresh
    };
    let bsize = u64::from(sb.block_size());
    let bfree: u64 = groups
        .iter()
        .map(|g| u64::from(g.free_blocks_count))
        .sum();
    let ffree: u64 = groups
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
    Ok(StatVfs {
        bsize,
        frsize: bsize,
        blocks: size_bytes / bsize,
        bfree,
        bavail: bfree.saturating_sub(sb.r_blocks_count.saturating_add(resv)),
        files: u64::from(sb.inodes_count),
        ffree,
        favail: ffree,
        fsid: uuid(0) ^ uuid(8),
        flag: if read_only { ST_RDONLY } else { 0 },
        namemax: NAME_LEN,
    })
}
