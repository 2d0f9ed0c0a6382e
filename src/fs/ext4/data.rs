//! File contents: `write` and `truncate`. Extent-mapped and inline files go through the
//! crate's `pwrite`/`truncate`, in bounded chunks. The crate cannot write into a block-mapped
//! file (ext2, ext3, `^extent`) in place or shrink one; it can only replace the whole
//! content, so such a file is read, changed in memory and replaced — up to
//! [`MAX_REWRITE`] bytes, and only as one journal transaction and one contiguous free run;
//! beyond those limits the write is refused as unsupported, naming the limit.

use super::Ctx;
use crate::fs::{Errno, Error, Result};
use fs_ext4::inode::Inode;

/// The most bytes handed to the crate's `pwrite` at once (it splits further to fit the
/// journal); bounds the memory one transaction holds.
const CHUNK: usize = 8 << 20;
/// The largest block-mapped file rewritten in memory.
const MAX_REWRITE: u64 = 64 << 20;

/// Refuses what is not a regular file: EISDIR for a directory, EINVAL for the rest.
fn check_regular(node: &Inode) -> Result<()> {
    if node.is_dir() {
        return Err(Error::Os(Errno::IsDir));
    }
    if !node.is_file() {
        return Err(Error::Os(Errno::Invalid));
    }
    Ok(())
}

/// Whether the crate writes this inode's data in place.
fn in_place(node: &Inode) -> bool {
    node.has_extents() || node.has_inline_data()
}

/// The largest size a file of this mapping may reach on `fs` (the kernel's `s_maxbytes`,
/// as `ext4_max_size` / `ext4_max_bitmap_size` bound it, simplified to the mapping's reach).
fn max_size(fs: &fs_ext4::Filesystem, node: &Inode) -> u64 {
    let bs = u64::from(fs.sb.block_size());
    let blocks = if in_place(node) {
        (1u64 << 32) - 1
    } else {
        let a = bs / 4;
        (12 + a + a * a + a * a * a).min((1u64 << 32) - 1)
    };
    blocks.saturating_mul(bs)
}

/// Writes `data` at `offset` of regular file `ino`, extending it as needed.
pub(super) fn write(c: &Ctx<'_>, ino: u32, offset: u64, data: &[u8]) -> Result<()> {
    let node = c.ok(c.fs.stat_ino(ino))?;
    check_regular(&node)?;
    let end = offset.checked_add(data.len() as u64).ok_or(Error::Os(Errno::FileTooBig))?;
    if end > max_size(c.fs, &node) {
        return Err(Error::Os(Errno::FileTooBig));
    }
    if data.is_empty() {
        return Ok(());
    }
    if in_place(&node) {
        let mut at = offset;
        for chunk in data.chunks(CHUNK) {
            c.ok(c.fs.apply_pwrite_ino(ino, at, chunk))?;
            at += chunk.len() as u64;
        }
        return Ok(());
    }
    rewrite(c, ino, &node, end.max(node.size), |content| {
        // `rewrite` sized `content` to at least `end`, which fits in memory.
        let (start, stop) = (offset as usize, end as usize);
        content[start..stop].copy_from_slice(data);
    })
}

/// Sets regular file `ino`'s size to `size`.
pub(super) fn truncate(c: &Ctx<'_>, ino: u32, size: u64) -> Result<()> {
    let node = c.ok(c.fs.stat_ino(ino))?;
    check_regular(&node)?;
    if size > max_size(c.fs, &node) {
        return Err(Error::Os(Errno::FileTooBig));
    }
    if in_place(&node) || size >= node.size {
        // Growing a block-mapped file only moves `i_size`: the rest is a hole.
        return c.ok(c.fs.apply_truncate_ino(ino, size));
    }
    rewrite(c, ino, &node, size, |_| {})
}

/// Replaces block-mapped file `ino`'s content with its first `len` bytes (zero-extended),
/// changed by `edit`.
fn rewrite(
    c: &Ctx<'_>,
    ino: u32,
    node: &Inode,
    len: u64,
    edit: impl FnOnce(&mut Vec<u8>),
) -> Result<()> {
    if len > MAX_REWRITE {
        return Err(c.err.unsupported(format!(
            "writing a block-mapped (ext2/ext3-style, no extents) file beyond {} MiB: \
             rust-fs-ext4 only replaces such a file whole",
            MAX_REWRITE >> 20
        )));
    }
    // Both at most MAX_REWRITE, checked above (node.size only counts when smaller).
    let keep = node.size.min(len) as usize;
    let mut content = vec![0u8; len as usize];
    let mut done = 0;
    while done < keep {
        let n = c.ok(c.fs.read_ino(ino, done as u64, &mut content[done..keep]))?;
        if n == 0 {
            return Err(c.err.corrupt(format!("inode {ino}: short read within its size")));
        }
        done += n;
    }
    edit(&mut content);
    let path = c.names.path_of(c, ino, "rewriting a block-mapped file")?;
    match c.fs.apply_replace_file_content(&path, &content) {
        Err(fs_ext4::Error::Corrupt(NO_RUN)) => Err(no_run(c, len)),
        Err(fs_ext4::Error::Corrupt(TOO_LARGE)) => Err(c.err.unsupported(format!(
            "writing {len} bytes to a block-mapped (ext3-style) file: rust-fs-ext4 replaces \
             the whole file in one journal transaction, which must fit in the journal"
        ))),
        r => c.ok(r).map(|_| ()),
    }
}

/// The crate's refusal when no block group holds one free run for the whole new content
/// (it allocates a block-mapped file's data and indirect blocks as one run).
const NO_RUN: &str = "no group has a contiguous free run of this size";

/// The journal writer's refusal of a transaction longer than the journal (made before
/// anything is written).
const TOO_LARGE: &str = "journal_writer: transaction too large for journal";

/// The error for a rewrite of `len` bytes that found no free run long enough: ENOSPC when
/// the filesystem lacks the blocks at all, else an unsupported case that names the limit.
fn no_run(c: &Ctx<'_>, len: u64) -> Error {
    let bs = u64::from(c.fs.sb.block_size());
    let free = fs_ext4::bgd::read_all(c.fs.dev.as_ref(), &c.fs.sb, &c.fs.csum)
        .map(|g| g.iter().map(|g| u64::from(g.free_blocks_count)).sum::<u64>())
        .unwrap_or(0);
    // Data blocks plus at most one indirect block per (block size / 4) of them, and the tree.
    let data = len.div_ceil(bs);
    if free < data + data.div_ceil(bs / 4) + 2 {
        return Error::Os(Errno::NoSpace);
    }
    c.err.unsupported(format!(
        "writing {len} bytes to a block-mapped (ext2/ext3-style) file: rust-fs-ext4 needs them \
         in one contiguous free run within a block group, and no group has one"
    ))
}
