//! Checks of a directory before it is changed, so that a write never goes through damage
//! e2fsck would repair (issue 18, "do not make damage worse"):
//! - a hash-tree (htree) directory is walked as e2fsck's pass 2 walks it (`parse_int_node`
//!   and the checks after it): the root's reserved field, info length and depth; every index
//!   block's limit (what the block holds, less the checksum tail) and count; hashes in order;
//!   child blocks inside the directory, each referenced once, every block referenced, leaves
//!   all at the depth the root gives; and every name of a leaf hashing into the range its index gives it.
//!   A directory found bad is refused with "run e2fsck -f on a copy first".
//! - a directory being removed or moved must name its parent in `..`: otherwise it is linked
//!   from two places (a hard-linked directory, a loop) and removing it from one would leave
//!   the other dangling.
//!
//! A directory is walked once per mount (the set of directories found good is kept); after
//! that the crate's own changes keep it consistent. Directories with casefolded or encrypted
//! names keep the structural checks; their names are not hashed here.

use super::Ctx;
use crate::fs::{Error, Result};
use fs_ext4::dir::DirBlockIter;
use fs_ext4::features::{Compat, Incompat, RoCompat};
use fs_ext4::hash::{effective_version, name_hash};
use fs_ext4::htree::{parse_node_entries, parse_root_entries, parse_root_info};
use std::collections::HashSet;
use std::sync::Mutex;

/// `EXT4_INDEX_FL`, `EXT4_ENCRYPT_FL`, `EXT4_CASEFOLD_FL`.
const INDEX_FL: u32 = 0x1000;
const ENCRYPT_FL: u32 = 0x800;
const CASEFOLD_FL: u32 = 0x4000_0000;
/// `struct ext2_dx_tail` (metadata_csum).
const DX_TAIL: usize = 8;
/// The most blocks of a directory walked (a 4 GiB directory of 4 KiB blocks).
const MAX_DIR_BLOCKS: u64 = 1 << 20;

/// The directories of a mount found good.
#[derive(Default)]
pub(super) struct Checked(Mutex<HashSet<u32>>);

/// What the walk knows of one block of the directory.
#[derive(Clone, Copy, Default)]
struct Block {
    referenced: bool,
    /// A leaf (entries), not an index block.
    leaf: bool,
    /// The hash range its index entry gives it: `[lo, hi]`.
    lo: u32,
    hi: u32,
}

fn refuse(c: &Ctx<'_>, dir: u32, why: String) -> Error {
    Error::NeedsCheck {
        dev: c.err.dev.to_string(),
        msg: format!("{}: directory inode {dir}: {why}; refusing to change it (run e2fsck -f on a copy first)", c.err.fs),
    }
}

/// Checks directory `dir` before an entry is added to or removed from it.
pub(super) fn before_change(c: &Ctx<'_>, checked: &Checked, dir: u32) -> Result<()> {
    if checked.0.lock().unwrap_or_else(|p| p.into_inner()).contains(&dir) {
        return Ok(());
    }
    let inode = c.ok(c.fs.stat_ino(dir))?;
    let sb = &c.fs.sb;
    if inode.is_dir() && inode.flags & INDEX_FL != 0 && sb.feature_compat & Compat::DIR_INDEX.bits() != 0 {
        walk(c, dir, &inode)?;
    }
    checked.0.lock().unwrap_or_else(|p| p.into_inner()).insert(dir);
    Ok(())
}

/// Before the entry `name` of `parent` is removed or moved: when it is a directory, it must
/// name `parent` in `..`. A missing entry, `.`/`..`, or a parent that is no directory is
/// left to the change itself, which answers with the right errno.
pub(super) fn moved_dir(c: &Ctx<'_>, parent: u32, name: &[u8]) -> Result<()> {
    if name == b"." || name == b".." {
        return Ok(());
    }
    let Ok(child) = c.fs.lookup_at(parent, name) else { return Ok(()) };
    if !c.fs.stat_ino(child).is_ok_and(|i| i.is_dir()) {
        return Ok(());
    }
    let dotdot = c.ok(c.fs.lookup_at(child, b".."))?;
    if dotdot != parent {
        return Err(refuse(c, child, format!("its '..' is inode {dotdot}, not the directory {parent} it is found in (a hard-linked directory or a loop)")));
    }
    Ok(())
}

/// The e2fsck walk of the hash tree of `dir` (see the module documentation).
fn walk(c: &Ctx<'_>, dir: u32, inode: &fs_ext4::inode::Inode) -> Result<()> {
    let sb = &c.fs.sb;
    let bs = u64::from(sb.block_size());
    let bad = |why: String| refuse(c, dir, format!("hash-tree index: {why}"));
    if inode.size % bs != 0 || inode.size / bs > MAX_DIR_BLOCKS || inode.size == 0 {
        return Err(bad(format!("size {} is not a whole number of blocks", inode.size)));
    }
    let nblocks = (inode.size / bs) as usize;
    let read = |logical: u32| -> Result<Vec<u8>> {
        match c.ok(c.fs.map_inode_logical(inode, u64::from(logical)))? {
            Some(phys) => c.ok(c.fs.read_block(phys)),
            None => Err(bad(format!("block {logical} is a hole"))),
        }
    };
    let csum = if sb.feature_ro_compat & RoCompat::METADATA_CSUM.bits() != 0 { DX_TAIL } else { 0 };
    let max_levels = if sb.feature_incompat & Incompat::LARGEDIR.bits() != 0 { 3 } else { 2 };
    let root = read(0)?;
    let info = parse_root_info(&root).map_err(|e| bad(e.to_string()))?;
    if info.info_length != 8 || info.indirect_levels >= max_levels {
        return Err(bad(format!("root info length {} and depth {}", info.info_length, info.indirect_levels)));
    }
    let depth = info.indirect_levels;
    let mut blocks = vec![Block::default(); nblocks];
    blocks[0] = Block { referenced: true, leaf: false, lo: 0, hi: u32::MAX };
    // Index blocks to read: (block, its level, where its count and limit are).
    let mut queue = vec![(0u32, 0u8, 32usize)];
    while let Some((b, level, at)) = queue.pop() {
        let data = if b == 0 { root.clone() } else { read(b)? };
        let (cl, entries) = if b == 0 { parse_root_entries(&data) } else { parse_node_entries(&data) }.map_err(|e| bad(format!("index block {b}: {e}")))?;
        let expect = (data.len() - at - csum) / 8;
        if usize::from(cl.limit) != expect || usize::from(cl.count) > expect {
            return Err(bad(format!("index block {b}: limit {} count {} (a block holds {expect})", cl.limit, cl.count)));
        }
        let (node_lo, node_hi) = (blocks[b as usize].lo, blocks[b as usize].hi);
        for (i, e) in entries.iter().enumerate() {
            let hash = if i == 0 { node_lo } else { e.hash & !1 };
            if i > 0 && (hash < (entries[i - 1].hash & !1) || hash < node_lo) {
                return Err(bad(format!("index block {b}: hashes out of order at entry {i}")));
            }
            let hi = entries.get(i + 1).map_or(node_hi, |n| n.hash & !1);
            let child = e.block & 0x0fff_ffff;
            let Some(slot) = blocks.get_mut(child as usize).filter(|_| child != 0) else {
                return Err(bad(format!("index block {b} points at block {child} of {nblocks}")));
            };
            if slot.referenced {
                return Err(bad(format!("block {child} is referenced twice")));
            }
            // The index blocks of the last level point at leaves; deeper than the root says
            // there is nothing, so every leaf is at one depth.
            let leaf = level == depth;
            *slot = Block { referenced: true, leaf, lo: hash, hi };
            if !leaf {
                queue.push((child, level + 1, 8));
            }
        }
    }
    if let Some(b) = blocks.iter().position(|b| !b.referenced) {
        return Err(bad(format!("block {b} is not referenced by the index")));
    }
    if inode.flags & (ENCRYPT_FL | CASEFOLD_FL) != 0 {
        return Ok(());
    }
    let version = effective_version(info.hash_version, sb.unsigned_hash());
    let filetype = sb.feature_incompat & Incompat::FILETYPE.bits() != 0;
    for (n, blk) in blocks.iter().enumerate().filter(|(_, b)| b.leaf) {
        let data = read(n as u32)?;
        for entry in DirBlockIter::new(&data, filetype) {
            let entry = entry.map_err(|e| bad(format!("leaf block {n}: {e}")))?;
            if entry.inode == 0 {
                continue;
            }
            let h = name_hash(&entry.name, version, &sb.hash_seed).major;
            if h < blk.lo || h > blk.hi {
                return Err(bad(format!("leaf block {n}: a name hashes to {h:#x}, outside its index range {:#x}..{:#x}", blk.lo, blk.hi)));
            }
        }
    }
    Ok(())
}
