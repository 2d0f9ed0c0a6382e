//! The resize inode (inode 7, `resize_inode`): a double-indirect map whose indirect blocks
//! are the primary reserved GDT blocks, each listing its copies in the backup groups. After a
//! grow it is rebuilt the way resize2fs does (`fix_resize_inode` + `ext2fs_create_resize_inode`):
//! the map is cleared, every remaining reserved block is entered again at slot
//! `(desc_blocks + n) % (block_size / 4)`, each lists its copies in every backup group of the
//! grown filesystem, and `i_blocks` counts them all.

use crate::fs::ext4::csum::crc32c_raw;
use crate::fs::ext4::geo::{backup_groups, Geo, RO_COMPAT_HUGE_FILE, RO_COMPAT_METADATA_CSUM};
use crate::bytes::{le16, le32};

/// `EXT2_RESIZE_INO`.
pub(super) const INO: u64 = 7;
/// `i_block[EXT2_DIND_BLOCK]`.
const DIND: usize = 0x28 + 13 * 4;
const I_BLOCKS_LO: usize = 0x1C;
const I_FLAGS: usize = 0x20;
const I_GENERATION: usize = 0x64;
const I_BLOCKS_HI: usize = 0x74;
const I_CSUM_LO: usize = 0x7C;
const I_EXTRA_ISIZE: usize = 0x80;
const I_CSUM_HI: usize = 0x82;
/// `EXT4_HUGE_FILE_FL`: `i_blocks` counts filesystem blocks, not 512-byte sectors.
const HUGE_FILE_FL: u32 = 0x0004_0000;

/// The blocks to write for the rebuilt resize inode: the inode itself (`inode`, to be
/// written back where it was read), the double-indirect block and each reserved block's list.
pub(super) struct Rebuilt {
    /// `(block, contents)` of the double-indirect block and of each primary reserved block.
    pub blocks: Vec<(u64, Vec<u8>)>,
}

/// The dind block number of the resize inode `inode` (`inode_size` bytes), validated to lie
/// in the filesystem `geo`.
pub(super) fn dind_block(geo: &Geo, inode: &[u8]) -> Result<u64, String> {
    let dind = u64::from(le32(inode, DIND));
    if dind < geo.first_data_block || dind >= geo.blocks {
        return Err(format!("resize inode: double-indirect block {dind} outside the filesystem"));
    }
    Ok(dind)
}

/// Whether the stored checksum of inode `ino` (`raw`, metadata_csum) is right.
pub(super) fn checksum_ok(seed: u32, ino: u64, raw: &[u8]) -> bool {
    let want = checksum(seed, ino, raw);
    let lo = u32::from(le16(raw, I_CSUM_LO));
    if has_csum_hi(raw) {
        lo | u32::from(le16(raw, I_CSUM_HI)) << 16 == want
    } else {
        lo == want & 0xFFFF
    }
}

fn has_csum_hi(raw: &[u8]) -> bool {
    raw.len() > 128 && le16(raw, I_EXTRA_ISIZE) >= 4
}

/// `ext2fs_inode_csum`: CRC32C of the inode number, generation and the inode with both
/// checksum halves zeroed.
fn checksum(seed: u32, ino: u64, raw: &[u8]) -> u32 {
    let mut copy = raw.to_vec();
    copy[I_CSUM_LO..I_CSUM_LO + 2].fill(0);
    if has_csum_hi(raw) {
        copy[I_CSUM_HI..I_CSUM_HI + 2].fill(0);
    }
    let crc = crc32c_raw(seed, &(ino as u32).to_le_bytes());
    let crc = crc32c_raw(crc, &raw[I_GENERATION..I_GENERATION + 4]);
    crc32c_raw(crc, &copy)
}

/// Rebuilds the map of the grown filesystem `geo` into `inode` (updated in place: `i_blocks`
/// and its checksum) and returns the blocks to write. Fails when a reserved block's copy lies
/// beyond 2^32 blocks (the map holds 32-bit block numbers) or the backups do not fit one
/// indirect block.
pub(super) fn rebuild(geo: &Geo, seed: u32, inode: &mut [u8]) -> Result<Rebuilt, String> {
    let dind = dind_block(geo, inode)?;
    let apb = geo.bs / 4;
    let backups = backup_groups(geo);
    if backups.len() as u64 > apb {
        return Err(format!("resize inode: {} backup groups do not fit one indirect block", backups.len()));
    }
    let mut dind_buf = vec![0u8; geo.bs as usize];
    let mut blocks = Vec::new();
    let mut count = 1u64; // the dind block
    for r in 0..geo.reserved_gdt {
        let gdt_blk = geo.first_data_block + 1 + geo.desc_blocks + r;
        let slot = ((geo.desc_blocks + r) % apb) as usize * 4;
        dind_buf[slot..slot + 4].copy_from_slice(&(gdt_blk as u32).to_le_bytes());
        let mut list = vec![0u8; geo.bs as usize];
        for (i, &grp) in backups.iter().enumerate() {
            let copy = gdt_blk + grp * geo.bpg;
            let copy = u32::try_from(copy)
                .map_err(|_| format!("resize inode: reserved GDT copy at block {copy} beyond 2^32 blocks"))?;
            list[i * 4..i * 4 + 4].copy_from_slice(&copy.to_le_bytes());
        }
        blocks.push((gdt_blk, list));
        count += 1 + backups.len() as u64;
    }
    blocks.insert(0, (dind, dind_buf));
    let huge = geo.has_ro(RO_COMPAT_HUGE_FILE) && le32(inode, I_FLAGS) & HUGE_FILE_FL != 0;
    let i_blocks = if huge { count } else { count * (geo.bs / 512) };
    inode[I_BLOCKS_LO..I_BLOCKS_LO + 4].copy_from_slice(&(i_blocks as u32).to_le_bytes());
    inode[I_BLOCKS_HI..I_BLOCKS_HI + 2].copy_from_slice(&((i_blocks >> 32) as u16).to_le_bytes());
    if geo.has_ro(RO_COMPAT_METADATA_CSUM) {
        let c = checksum(seed, INO, inode);
        inode[I_CSUM_LO..I_CSUM_LO + 2].copy_from_slice(&(c as u16).to_le_bytes());
        if has_csum_hi(inode) {
            inode[I_CSUM_HI..I_CSUM_HI + 2].copy_from_slice(&((c >> 16) as u16).to_le_bytes());
        }
    }
    Ok(Rebuilt { blocks })
}
