//! The check made once before an ext2/3/4 filesystem is written: the structures every
//! allocation trusts must agree, or a write adds damage (e2fsprogs' own damaged test images:
//! `f_bitmaps` has lost+found's inode marked free in the inode bitmap, and `mkdir` took it
//! again; `f_overfsblks` has a group's inode bitmap in a block already used as another
//! group's metadata). Refused, with "run e2fsck -f on a copy first", are:
//! - a group's fixed metadata (superblock and descriptor copies, reserved descriptor blocks,
//!   block and inode bitmaps, inode table) outside the filesystem, overlapping other fixed
//!   metadata, or — in a group whose block bitmap is initialised — marked free;
//! - an inode in use (linked, not deleted) that the inode bitmap marks free, in every group
//!   whose inode table is initialised (up to `ipg - itable_unused` with group checksums);
//! - an invalid bad-blocks inode (1), or a bad-blocks list that names fixed metadata.
//!
//! Reading such a filesystem keeps working. The work is one read of the descriptors, each
//! initialised bitmap and the initialised part of each inode table, at most
//! [`MAX_INODE_TABLE_BYTES`] of them (ext2/ext3 without group checksums initialise every
//! table: past that budget the remaining groups' inodes are not compared); memory is a sorted
//! list of four ranges per group.

use super::desc::{Descs, BLOCK_UNINIT, INODE_UNINIT};
use super::geo::Geo;
use crate::bytes::{le16, le32};
use crate::disk::{read_vec, BlockDev};
use crate::fs::{Error, Result};

/// The bad blocks inode.
const BAD_BLOCKS_INO: u64 = 1;
/// `EXT4_EXTENTS_FL` and `EXT4_INLINE_DATA_FL`.
const EXTENTS_FL: u32 = 0x0008_0000;
const INLINE_DATA_FL: u32 = 0x1000_0000;
/// Most inode table bytes read by the inode check.
const MAX_INODE_TABLE_BYTES: u64 = 64 << 20;
/// The first inode that is not reserved in revision 0 filesystems.
const GOOD_OLD_FIRST_INO: u64 = 11;

/// A range of fixed metadata: `len` blocks from `start`, of group `group`, named `what`.
struct Fixed {
    start: u64,
    len: u64,
    group: u64,
    what: &'static str,
}

/// The blocks of every group's fixed metadata, as sorted `(start, len)` ranges: no removal may
/// free one of them.
#[derive(Debug, Default)]
pub(super) struct FixedBlocks(Vec<(u64, u64)>);

impl FixedBlocks {
    /// Whether block `b` is fixed metadata.
    pub(super) fn contains(&self, b: u64) -> bool {
        let i = self.0.partition_point(|r| r.0 <= b);
        i.checked_sub(1).is_some_and(|i| b < self.0[i].0 + self.0[i].1)
    }
}

/// Checks the filesystem on `dev` before its first write (see the module docs); returns its
/// fixed metadata. `refuse` makes the error from a message.
pub(super) fn check(dev: &dyn BlockDev, refuse: &dyn Fn(String) -> Error) -> Result<FixedBlocks> {
    let sb = read_vec(dev, 1024, 1024)?;
    // A geometry our writers do not lay out is the crate's to refuse or handle; there is then
    // nothing this check can compare.
    let Ok(geo) = Geo::parse(&sb) else { return Ok(FixedBlocks::default()) };
    let Ok(descs) = Descs::read(dev, &geo)? else { return Ok(FixedBlocks::default()) };
    let fixed = fixed_metadata(&geo, &descs);
    check_fixed(&geo, &fixed, refuse)?;
    check_bitmaps_cover(dev, &geo, &descs, &fixed, refuse)?;
    check_inodes(dev, &geo, &descs, &sb, refuse)?;
    check_bad_blocks(dev, &geo, &descs, &fixed, refuse)?;
    Ok(FixedBlocks(fixed.iter().map(|f| (f.start, f.len)).collect()))
}

/// Every group's fixed metadata, sorted by start.
fn fixed_metadata(geo: &Geo, descs: &Descs) -> Vec<Fixed> {
    let mut out = Vec::new();
    for g in 0..geo.groups {
        let p = geo.prefix(g);
        if p.len() > 0 {
            out.push(Fixed { start: geo.group_first(g), len: p.len(), group: g, what: "superblock and descriptor copies" });
        }
        out.push(Fixed { start: descs.block_bitmap(g), len: 1, group: g, what: "block bitmap" });
        out.push(Fixed { start: descs.inode_bitmap(g), len: 1, group: g, what: "inode bitmap" });
        out.push(Fixed { start: descs.inode_table(g), len: geo.itb, group: g, what: "inode table" });
    }
    out.sort_by_key(|f| (f.start, f.len));
    out
}

/// Inside the filesystem and not overlapping.
fn check_fixed(geo: &Geo, fixed: &[Fixed], refuse: &dyn Fn(String) -> Error) -> Result<()> {
    let mut prev: Option<&Fixed> = None;
    for f in fixed {
        if f.start < geo.first_data_block || f.start.checked_add(f.len).is_none_or(|end| end > geo.blocks) {
            return Err(refuse(format!("group {}: {} at block {} lies outside the filesystem", f.group, f.what, f.start)));
        }
        if let Some(p) = prev.filter(|p| f.start < p.start + p.len) {
            return Err(refuse(format!(
                "group {}: {} at block {} overlaps group {}'s {} at block {}",
                f.group, f.what, f.start, p.group, p.what, p.start
            )));
        }
        if prev.is_none_or(|p| f.start + f.len > p.start + p.len) {
            prev = Some(f);
        }
    }
    Ok(())
}

/// Fixed metadata is marked used in every initialised block bitmap.
fn check_bitmaps_cover(dev: &dyn BlockDev, geo: &Geo, descs: &Descs, fixed: &[Fixed], refuse: &dyn Fn(String) -> Error) -> Result<()> {
    let lazy = geo.has_gd_csum();
    let mut at = 0;
    for g in 0..geo.groups {
        let (first, n) = (geo.group_first(g), geo.group_blocks(g));
        // The fixed ranges that start in this group (they were checked not to overlap).
        let start = at;
        while at < fixed.len() && fixed[at].start < first + n {
            at += 1;
        }
        if lazy && descs.flags(g) & BLOCK_UNINIT != 0 {
            continue;
        }
        let bitmap = read_vec(dev, descs.block_bitmap(g) * geo.bs, geo.bs as usize)?;
        for f in &fixed[start..at] {
            for b in f.start..(f.start + f.len).min(first + n) {
                let bit = (b - first) as usize;
                if bitmap.get(bit / 8).is_none_or(|v| v & (1 << (bit % 8)) == 0) {
                    return Err(refuse(format!("block {b} (group {}'s {}) is marked free in group {g}'s block bitmap", f.group, f.what)));
                }
            }
        }
    }
    Ok(())
}

/// Inodes in use are marked used in the inode bitmap.
fn check_inodes(dev: &dyn BlockDev, geo: &Geo, descs: &Descs, sb: &[u8], refuse: &dyn Fn(String) -> Error) -> Result<()> {
    let csum = geo.has_gd_csum();
    let mut budget = MAX_INODE_TABLE_BYTES;
    let first_ino = if le32(sb, 0x4C) == 0 { GOOD_OLD_FIRST_INO } else { u64::from(le32(sb, 0x54)).max(GOOD_OLD_FIRST_INO) };
    for g in 0..geo.groups {
        if csum && descs.flags(g) & INODE_UNINIT != 0 {
            continue;
        }
        let used = if csum { geo.ipg.saturating_sub(descs.itable_unused(g)) } else { geo.ipg };
        if used == 0 {
            continue;
        }
        let Some(left) = budget.checked_sub(used * geo.inode_size) else { return Ok(()) };
        budget = left;
        let bitmap = read_vec(dev, descs.inode_bitmap(g) * geo.bs, geo.bs as usize)?;
        let table = read_vec(dev, descs.inode_table(g) * geo.bs, (used * geo.inode_size) as usize)?;
        for i in 0..used {
            let ino = g * geo.ipg + i + 1;
            if ino < first_ino && ino != 2 {
                continue;
            }
            let raw = &table[(i * geo.inode_size) as usize..];
            let (mode, dtime, links) = (le16(raw, 0), le32(raw, 20), le16(raw, 26));
            let in_use = mode != 0 && links != 0 && dtime == 0;
            let marked = bitmap.get((i / 8) as usize).is_some_and(|v| v & (1 << (i % 8)) != 0);
            if in_use && !marked {
                return Err(refuse(format!("inode {ino} is in use (mode {mode:#o}, {links} links) but marked free in group {g}'s inode bitmap")));
            }
        }
    }
    Ok(())
}

/// The bad blocks list (inode 1's direct blocks and single indirect block) names no fixed
/// metadata.
fn check_bad_blocks(dev: &dyn BlockDev, geo: &Geo, descs: &Descs, fixed: &[Fixed], refuse: &dyn Fn(String) -> Error) -> Result<()> {
    let at = descs.inode_table(0) * geo.bs + (BAD_BLOCKS_INO - 1) * geo.inode_size;
    let inode = read_vec(dev, at, 128)?;
    // mke2fs leaves it without a mode and block-mapped: anything else is not a bad-blocks list.
    let (mode, flags) = (le16(&inode, 0), le32(&inode, 32));
    if mode != 0 || flags & (EXTENTS_FL | INLINE_DATA_FL) != 0 {
        return Err(refuse(format!("the bad blocks inode (1) is invalid (mode {mode:#o}, flags {flags:#x})")));
    }
    let mut bad: Vec<u64> = (0..12).map(|i| u64::from(le32(&inode, 40 + 4 * i))).filter(|&b| b != 0).collect();
    let ind = u64::from(le32(&inode, 40 + 48));
    if ind != 0 && ind < geo.blocks {
        let block = read_vec(dev, ind * geo.bs, geo.bs as usize)?;
        bad.extend(block.chunks_exact(4).map(|c| u64::from(le32(c, 0))).filter(|&b| b != 0));
    }
    for b in bad {
        let i = fixed.partition_point(|f| f.start <= b);
        if let Some(f) = i.checked_sub(1).map(|i| &fixed[i]).filter(|f| b < f.start + f.len) {
            return Err(refuse(format!("the bad blocks list names block {b}, group {}'s {}", f.group, f.what)));
        }
    }
    Ok(())
}
