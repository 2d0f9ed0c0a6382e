//! Listing a block-mapped (ext2/ext3, `^extent`) directory, which `rust-fs-ext4`'s
//! `read_dir_ino` refuses: each logical block is mapped through the crate (extents or
//! indirect blocks) and parsed with its directory-block iterator. Hash-tree interior blocks
//! read as one empty entry and so are skipped, as the kernel's linear readdir does.

use fs_ext4::dir::{DirBlockIter, DirEntry};
use fs_ext4::inode::Inode;

/// The most entries one directory may hold before it is called corrupt (the crate uses the
/// same bound for extent-mapped directories).
const MAX_DIR_ENTRIES: usize = 1_000_000;

/// The entries of the directory `inode` (`.` and `..` included), in on-disk order. The crate
/// has already checked that the directory's size fits the filesystem.
pub(super) fn read_block_mapped(
    fs: &fs_ext4::Filesystem,
    inode: &Inode,
) -> fs_ext4::Result<Vec<DirEntry>> {
    let block_size = u64::from(fs.sb.block_size());
    let has_filetype = fs.sb.feature_incompat & fs_ext4::features::Incompat::FILETYPE.bits() != 0;
    let mut entries = Vec::new();
    for logical in 0..inode.size.div_ceil(block_size) {
        let Some(phys) = fs.map_inode_logical(inode, logical)? else {
            continue;
        };
        let block = fs.read_block(phys)?;
        for entry in DirBlockIter::new(&block, has_filetype) {
            if entries.len() >= MAX_DIR_ENTRIES {
                return Err(fs_ext4::Error::Corrupt(
                    "directory holds more than 1,000,000 entries",
                ));
            }
            entries.push(entry?);
        }
    }
    Ok(entries)
}

/// The entries of directory `ino` (`.` and `..` included), in on-disk order, however the
/// directory is mapped (extents, inline data, or blocks).
pub(super) fn list(fs: &fs_ext4::Filesystem, ino: u32) -> fs_ext4::Result<Vec<DirEntry>> {
    let inode = fs.stat_ino(ino)?;
    if !inode.is_dir() {
        return Err(fs_ext4::Error::NotADirectory);
    }
    if inode.has_extents() || inode.has_inline_data() {
        fs.read_dir_ino(ino)
    } else {
        read_block_mapped(fs, &inode)
    }
}
