//! What a removal frees: the blocks of the inode it deletes must be marked in use (or the
//! crate would free them again and count them twice: e2fsprogs' `f_toobig_extent_dir`), and
//! the tail of a deleted block-mapped inode — blocks its map holds past its size — is freed.
//!
//! Ownership: before a removal that deletes an inode (its last link; a directory), every block
//! it holds (data, indirect or extent-tree blocks) must be marked in use in its group's block
//! bitmap and must not be the filesystem's fixed metadata (e2fsprogs' `f_ind_inode_collision`
//! maps the superblock and bitmaps); otherwise the filesystem is damaged, and the removal is
//! refused with "run e2fsck -f on a copy first" before anything is written.
//!
//! The tail:
//! ext2/ext3-style inodes map blocks through `i_block` (12 direct pointers, then single,
//! double and triple indirect blocks). e2fsck accepts a map that holds blocks past `i_size`
//! (e2fsprogs' own `f_emptydir`, once repaired, keeps a 1 KiB directory whose map is
//! `(0):1091, (TIND):1090`), and the kernel frees the whole map when it deletes such an inode.
//! `rust-fs-ext4` frees a deleted inode's map only as far as its size reaches, so the rest
//! stayed marked in use — a block bitmap difference for e2fsck. Before a removal we note the
//! blocks past its reach (every indirect block, every data block at or past the size); after
//! the removal, if the inode was freed, those still marked in use are freed here: block bitmap,
//! group descriptor count and checksums, superblock count and checksum, as the kernel does.

use super::desc::Descs;
use super::geo::{self, off, put_split, seal_sb, split, Geo};
use super::precheck::FixedBlocks;
use super::Ctx;
use crate::bytes::le32;
use crate::disk::{read_vec, BlockDev};
use crate::fs::{Error, Result};
use fs_ext4::bgd::BlockGroupDescriptor;
use fs_ext4::checksum::group_desc_csum;
use std::collections::BTreeMap;

/// `EXT4_EXTENTS_FL`.
const EXTENTS_FL: u32 = 0x0008_0000;
/// `EXT4_INLINE_DATA_FL`.
const INLINE_DATA_FL: u32 = 0x1000_0000;
/// Direct pointers in `i_block`.
const DIRECT: u64 = 12;

/// A block-mapped inode about to be removed, and the blocks of its map the crate will not free.
pub(super) struct Tail {
    ino: u32,
    blocks: Vec<u64>,
}

/// Checks that the inode `name` in directory `dir` names owns what its removal would free,
/// and notes its tail when it is block-mapped and its map holds anything past its size.
/// Lookup errors are left to the removal to report.
pub(super) fn before_removal(c: &Ctx<'_>, fixed: &FixedBlocks, dir: u32, name: &[u8]) -> Result<Option<Tail>> {
    let Ok(ino) = c.fs.lookup_at(dir, name) else { return Ok(None) };
    let Ok(inode) = c.fs.stat_ino(ino) else { return Ok(None) };
    if inode.is_dir() || inode.links_count <= 1 {
        check_owned(c, fixed, ino, &inode)?;
    }
    if !holds_blocks(c, &inode) || inode.flags & EXTENTS_FL != 0 {
        return Ok(None);
    }
    let i_block: [u32; 15] = std::array::from_fn(|i| le32(&inode.block, 4 * i));
    let map = MapWalk { c, bs: u64::from(c.fs.sb.block_size()), blocks_count: c.fs.sb.blocks_count, first_data: u64::from(c.fs.sb.first_data_block) };
    let mut blocks = Vec::new();
    map.collect(&i_block, inode.size.div_ceil(map.bs), &mut blocks)?;
    Ok((!blocks.is_empty()).then_some(Tail { ino, blocks }))
}

/// Whether `inode`'s i_block maps blocks (an extent tree or a block map). Only regular files,
/// directories and symlinks map blocks: device nodes keep their device number in i_block, a
/// fast symlink its target, an inline-data inode its data.
fn holds_blocks(c: &Ctx<'_>, inode: &fs_ext4::inode::Inode) -> bool {
    let kind = inode.mode & 0o170_000;
    let xattr_sectors = u64::from(inode.file_acl != 0) * u64::from(c.fs.sb.block_size() / 512);
    let fast_symlink = kind == 0o120_000 && inode.size < 60 && inode.blocks <= xattr_sectors;
    matches!(kind, 0o100_000 | 0o040_000 | 0o120_000) && !fast_symlink && inode.flags & INLINE_DATA_FL == 0
}

/// Every block inode `ino` holds must be marked in use (see the module docs).
fn check_owned(c: &Ctx<'_>, fixed: &FixedBlocks, ino: u32, inode: &fs_ext4::inode::Inode) -> Result<()> {
    if !holds_blocks(c, inode) {
        return Ok(());
    }
    let bs = u64::from(c.fs.sb.block_size());
    let mut runs: Vec<(u64, u64)> = Vec::new();
    if inode.flags & EXTENTS_FL != 0 {
        // A tree the crate cannot walk is the removal's to report.
        let Ok((extents, nodes)) = fs_ext4::extent::collect_all_with_nodes(&inode.block, c.fs.dev.as_ref(), c.fs.sb.block_size()) else {
            return Ok(());
        };
        runs.extend(extents.iter().map(|e| (e.physical_block, u64::from(e.length))));
        runs.extend(nodes.into_iter().map(|n| (n, 1)));
    } else {
        let i_block: [u32; 15] = std::array::from_fn(|i| le32(&inode.block, 4 * i));
        let map = MapWalk { c, bs, blocks_count: c.fs.sb.blocks_count, first_data: u64::from(c.fs.sb.first_data_block) };
        let mut blocks = Vec::new();
        map.collect(&i_block, 0, &mut blocks)?;
        runs.extend(blocks.into_iter().map(|b| (b, 1)));
    }
    let bpg = u64::from(c.fs.sb.blocks_per_group).max(1);
    let first_data = u64::from(c.fs.sb.first_data_block);
    let mut bitmaps: BTreeMap<u64, Option<Vec<u8>>> = BTreeMap::new();
    let refuse = |why: String| Error::NeedsCheck {
        dev: c.err.dev.to_string(),
        msg: format!("{}: {why}; refusing to remove it (run e2fsck -f on a copy first)", c.err.fs),
    };
    for (start, len) in runs {
        for b in start..start.saturating_add(len) {
            if fixed.contains(b) {
                return Err(refuse(format!("block {b} of inode {ino} is the filesystem's own metadata")));
            }
            let Some(rel) = b.checked_sub(first_data) else { continue };
            let (g, bit) = (rel / bpg, (rel % bpg) as usize);
            let bitmap = match bitmaps.entry(g) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let bitmap = match descriptor(c, g)? {
                        Some(d) if !d.flags().contains(fs_ext4::bgd::BgdFlags::BLOCK_UNINIT) => Some(c.ok(c.fs.read_block(d.block_bitmap))?),
                        _ => None,
                    };
                    e.insert(bitmap)
                }
            };
            let used = bitmap.as_ref().and_then(|m| m.get(bit / 8)).is_some_and(|v| v & (1 << (bit % 8)) != 0);
            if !used {
                return Err(refuse(format!("block {b} of inode {ino} is marked free in the block bitmap")));
            }
        }
    }
    Ok(())
}

/// Group `g`'s descriptor as on the device (the crate's copy keeps the flags it mounted with),
/// its checksum verified as the crate verifies the table at mount; `None` past the table. One
/// descriptor, not the table: a removal costs the same on a volume of any size.
fn descriptor(c: &Ctx<'_>, g: u64) -> Result<Option<BlockGroupDescriptor>> {
    let sb = &c.fs.sb;
    if g >= sb.block_group_count() {
        return Ok(None);
    }
    let (block, at) = sb.descriptor_location(g);
    let bytes = c.ok(c.fs.read_block(block))?;
    let Some(raw) = bytes.get(at..at + usize::from(sb.desc_size)) else { return Ok(None) };
    let stored = raw.get(0x1e..0x20).map(|s| u16::from_le_bytes([s[0], s[1]]));
    // g is below the group count, which a u32 group number holds.
    if group_desc_csum(sb, &c.fs.csum, g as u32, raw).is_some_and(|want| Some(want) != stored) {
        return Err(c.err.map(fs_ext4::Error::BadChecksum { what: "block group descriptor" }));
    }
    c.ok(BlockGroupDescriptor::parse(raw, sb.desc_size)).map(Some)
}

/// Walks an indirect block map, keeping the blocks the crate's delete leaves behind.
struct MapWalk<'a, 'c> {
    c: &'a Ctx<'c>,
    bs: u64,
    blocks_count: u64,
    first_data: u64,
}

impl MapWalk<'_, '_> {
    /// Whether `b` can be a block of this filesystem (others are never read nor freed).
    fn valid(&self, b: u64) -> bool {
        b >= self.first_data && b < self.blocks_count
    }

    /// Every indirect block, and every data block at logical block `size_blocks` or later.
    fn collect(&self, i_block: &[u32; 15], size_blocks: u64, out: &mut Vec<u64>) -> Result<()> {
        for (i, &p) in i_block.iter().take(DIRECT as usize).enumerate() {
            if p != 0 && i as u64 >= size_blocks && self.valid(u64::from(p)) {
                out.push(u64::from(p));
            }
        }
        let ppb = self.bs / 4;
        let mut first = DIRECT;
        for (depth, &p) in i_block[12..15].iter().enumerate() {
            self.tree(u64::from(p), depth as u32, first, size_blocks, out)?;
            first += ppb.pow(depth as u32 + 1);
        }
        Ok(())
    }

    /// The subtree of indirect block `blk` at `depth` (0 = single) mapping logical blocks from
    /// `first` on.
    fn tree(&self, blk: u64, depth: u32, first: u64, size_blocks: u64, out: &mut Vec<u64>) -> Result<()> {
        if blk == 0 || !self.valid(blk) {
            return Ok(());
        }
        out.push(blk);
        let data = self.c.ok(self.c.fs.read_block(blk))?;
        let span = (self.bs / 4).pow(depth);
        for (i, p) in data.chunks_exact(4).enumerate() {
            let p = u64::from(le32(p, 0));
            let start = first + i as u64 * span;
            if p == 0 {
                continue;
            }
            if depth == 0 {
                if start >= size_blocks && self.valid(p) {
                    out.push(p);
                }
            } else {
                self.tree(p, depth - 1, start, size_blocks, out)?;
            }
        }
        Ok(())
    }
}

impl Tail {
    /// After the removal: when the inode was freed, frees the blocks of its tail that are still
    /// marked in use. `fs` has been flushed; `dev` is the device it mounts. Returns how many
    /// blocks were freed.
    pub(super) fn release(self, fs: &fs_ext4::Filesystem, dev: &dyn BlockDev) -> Result<u64> {
        let ipg = u64::from(fs.sb.inodes_per_group);
        let group = u64::from(self.ino - 1) / ipg.max(1);
        let Some(desc) = fs.groups.get(group as usize) else { return Ok(0) };
        let bs = u64::from(fs.sb.block_size());
        let inode_bitmap = read_vec(dev, desc.inode_bitmap * bs, bs as usize)?;
        let bit = (u64::from(self.ino - 1) % ipg) as usize;
        if inode_bitmap.get(bit / 8).is_some_and(|b| b & (1 << (bit % 8)) != 0) {
            // Still in use (another hard link): its blocks are its own.
            return Ok(0);
        }
        let mut sb = read_vec(dev, 1024, 1024)?;
        let Ok(geo) = Geo::parse(&sb) else { return Ok(0) };
        let mut by_group: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for b in self.blocks {
            by_group.entry(geo.group_of(b)).or_default().push(b - geo.group_first(geo.group_of(b)));
        }
        // Most often the crate freed every one (the map held nothing past the size, only its
        // indirect blocks): then the descriptor table, as long as the volume is large, is not read.
        let mut left = Vec::new();
        for (g, bits) in by_group {
            let Some(desc) = fs.groups.get(g as usize) else { continue };
            let mut bitmap = read_vec(dev, desc.block_bitmap * geo.bs, geo.bs as usize)?;
            if clear_bits(&mut bitmap, &bits) > 0 {
                left.push((g, bits));
            }
        }
        if left.is_empty() {
            return Ok(0);
        }
        let Ok(mut descs) = Descs::read(dev, &geo)? else { return Ok(0) };
        let seed = geo::csum_seed(&sb, &geo);
        let uuid = sb[off::UUID..off::UUID + 16].to_vec();
        let mut freed = 0;
        for (g, bits) in left {
            let at = descs.block_bitmap(g) * geo.bs;
            let mut bitmap = read_vec(dev, at, geo.bs as usize)?;
            let n = clear_bits(&mut bitmap, &bits);
            if n == 0 {
                continue;
            }
            dev.write_at(&bitmap, at)?;
            if geo.has_ro(geo::RO_COMPAT_METADATA_CSUM) {
                descs.set_block_bitmap_csum(&geo, seed, g, &bitmap);
            }
            descs.set_free_blocks(g, descs.free_blocks(g) + n);
            if geo.has_gd_csum() {
                descs.seal(&geo, seed, &uuid, g);
            }
            let per_block = geo.bs / geo.desc_size as u64;
            let i = g / per_block;
            let start = (i * per_block) as usize * geo.desc_size;
            let end = (start + geo.bs as usize).min(descs.raw.len());
            dev.write_at(&descs.raw[start..end], geo.desc_block_primary(i) * geo.bs)?;
            freed += n;
        }
        if freed > 0 {
            let free = split(&sb, &geo, off::FREE_BLOCKS_LO, off::FREE_BLOCKS_HI) + freed;
            put_split(&mut sb, &geo, off::FREE_BLOCKS_LO, off::FREE_BLOCKS_HI, free);
            seal_sb(&geo, &mut sb);
            dev.write_at(&sb, 1024)?;
        }
        Ok(freed)
    }
}

/// Clears the `bits` of `bitmap` that are set; returns how many were.
fn clear_bits(bitmap: &mut [u8], bits: &[u64]) -> u64 {
    let mut n = 0;
    for &bit in bits {
        let (byte, mask) = ((bit / 8) as usize, 1u8 << (bit % 8));
        if let Some(v) = bitmap.get_mut(byte).filter(|v| **v & mask != 0) {
            *v &= !mask;
            n += 1;
        }
    }
    n
}
