//! `stat` of an ext inode: the crate parses the inode; the device number (kept in `i_block`
//! as the kernel's old or new encoding) and the huge-file block count are decoded here.

use crate::fs::{Ino, Stat, Timespec};
use fs_ext4::inode::{Inode, S_IFBLK, S_IFCHR, S_IFMT, S_IFREG};

/// `EXT4_HUGE_FILE_FL`: `i_blocks` counts filesystem blocks, not 512-byte sectors.
const HUGE_FILE_FL: u32 = 0x0004_0000;

/// The `stat` of inode `ino`, on a filesystem of `block_size`-byte blocks.
pub(super) fn stat(ino: Ino, inode: &Inode, block_size: u32) -> Stat {
    let kind = inode.mode & S_IFMT;
    let rdev = if kind == S_IFCHR || kind == S_IFBLK {
        device_number(&inode.block)
    } else {
        0
    };
    let mut blocks = if inode.flags & HUGE_FILE_FL != 0 {
        inode.blocks.saturating_mul(u64::from(block_size / 512))
    } else {
        inode.blocks
    };
    // `ext4_file_getattr`: a regular file's inline data counts as the sectors it would fill.
    if kind == S_IFREG && inode.has_inline_data() {
        blocks = blocks.saturating_add(inode.size.div_ceil(512));
    }
    Stat {
        ino,
        mode: u32::from(inode.mode),
        nlink: u64::from(inode.links_count),
        uid: inode.uid,
        gid: inode.gid,
        rdev,
        size: inode.size,
        blksize: u64::from(block_size),
        blocks,
        atime: Timespec {
            sec: inode.atime,
            nsec: inode.atime_nsec,
        },
        mtime: Timespec {
            sec: inode.mtime,
            nsec: inode.mtime_nsec,
        },
        ctime: Timespec {
            sec: inode.ctime,
            nsec: inode.ctime_nsec,
        },
    }
}

/// The device number of a device inode from its `i_block`, as the kernel's `ext4_iget` reads
/// it (`old_decode_dev` of word 0 when set, else `new_decode_dev` of word 1), returned as
/// glibc's `makedev(major, minor)` — what `stat(2)` puts in `st_rdev`.
pub(super) fn device_number(block: &[u8; 60]) -> u64 {
    let word = |i: usize| {
        u32::from_le_bytes([
            block[4 * i],
            block[4 * i + 1],
            block[4 * i + 2],
            block[4 * i + 3],
        ])
    };
    let (major, minor) = match word(0) {
        0 => {
            let dev = word(1);
            ((dev & 0xfff00) >> 8, (dev & 0xff) | ((dev >> 12) & 0xfff00))
        }
        old => ((old >> 8) & 0xff, old & 0xff),
    };
    makedev(major, minor)
}

pub(super) use crate::fs::makedev;

#[cfg(test)]
mod tests {
    use super::*;

    fn block_with(words: [u32; 2]) -> [u8; 60] {
        let mut b = [0u8; 60];
        b[..4].copy_from_slice(&words[0].to_le_bytes());
        b[4..8].copy_from_slice(&words[1].to_le_bytes());
        b
    }

    #[test]
    fn old_encoding_in_word_zero() {
        // old_encode_dev(MKDEV(8, 1)) = 0x0801
        assert_eq!(device_number(&block_with([0x0801, 0])), makedev(8, 1));
    }

    #[test]
    fn new_encoding_in_word_one() {
        // new_encode_dev(MKDEV(300, 70000)) = (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)
        let enc = (70000 & 0xff) | (300 << 8) | ((70000 & !0xff) << 12);
        assert_eq!(device_number(&block_with([0, enc])), makedev(300, 70000));
    }

    #[test]
    fn makedev_matches_glibc_for_small_numbers() {
        assert_eq!(makedev(4, 64), 0x0440);
        assert_eq!(makedev(8, 1), 0x0801);
    }
}
