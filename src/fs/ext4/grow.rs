//! Offline grow of ext2/ext3/ext4, with resize2fs's semantics, written only through a
//! [`BlockDev`] (in production the enlarged partition or LV under a copy-on-write overlay,
//! so a failure halfway writes nothing to the image).
//!
//! What it does, as `resize2fs DEV [SIZE]` does when the filesystem grows:
//! - refuses a filesystem that is not clean (not cleanly unmounted, errors recorded, orphans,
//!   checked before its last mount, impossible free counts) with resize2fs's "Please run
//!   'e2fsck -f DEV' first." ([`Checks::Strict`]); [`Checks::Repairs`] lets a filesystem
//!   mounted since its last check through (what virt-resize gets from libguestfs, which runs
//!   `e2fsck -f -y` first) and refuses only what e2fsck would have to repair; with
//!   [`Checks::Repairs`] and [`Checks::Force`] a journal that needs recovery is first replayed
//!   onto the device (as the kernel or e2fsck would: resize2fs -f would grow under it, and a
//!   later replay would write old metadata over the new);
//! - picks the new size like resize2fs (the device size rounded down to a page, a last group
//!   too small for its metadata dropped, at most 2^32 blocks without `64bit`, at most 2^32-1
//!   inodes);
//! - extends the last group, adds the new groups with their bitmaps and inode tables (zeroed,
//!   or left to the kernel's lazy init with `INODE_UNINIT`/`BLOCK_UNINIT` when descriptors
//!   carry checksums, as resize2fs does), and their superblock/descriptor backups at the
//!   sparse_super, sparse_super2 or meta_bg places;
//! - takes new descriptor blocks from the reserved GDT blocks (rebuilding the resize inode)
//!   or, with `meta_bg`, puts them in the new meta groups;
//! - rewrites the superblock (counts, reserved blocks scaled as resize2fs does, overhead
//!   cleared) and every checksum: superblock and descriptors (crc32c with `metadata_csum`,
//!   crc16 with `uninit_bg`), bitmaps, the resize inode.
//!
//! New metadata is placed in the new groups only (see [`place`]), so no existing block but the
//! superblock and descriptor copies, the last group's block bitmap and the resize inode is
//! ever written. Shrinking, `bigalloc`, and growing past the reserved GDT blocks of a
//! filesystem without `meta_bg` (which needs data moved) are refused before anything is
//! written, with an error saying so.

mod place;
mod resize_inode;

use crate::bytes::{le16, le32};
use crate::disk::{read_vec, BlockDev, Dev};
use crate::fs::{Error, Result};
use super::desc::{Descs, BLOCK_UNINIT, INODE_UNINIT};
use super::geo::{self, off, put16, put32, put_split, seal_sb, split, Geo};
use super::csum;

/// What a grow did (or found it had nothing to do).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GrowReport {
    /// Block size in bytes.
    pub block_size: u64,
    /// Blocks before.
    pub old_blocks: u64,
    /// Blocks after (equal to `old_blocks` when nothing was done).
    pub new_blocks: u64,
    /// Block groups before.
    pub old_groups: u64,
    /// Block groups after.
    pub new_groups: u64,
    /// Inodes before.
    pub old_inodes: u64,
    /// Inodes after.
    pub new_inodes: u64,
    /// Whether the new inode tables were left for the kernel to zero (lazy itable init).
    pub lazy_itable_init: bool,
    /// resize2fs's closing line: "The filesystem on DEV is now N (4k) blocks long." or "The
    /// filesystem is already N (4k) blocks long.  Nothing to do!".
    pub message: String,
}

impl GrowReport {
    /// Whether the filesystem grew.
    pub fn changed(&self) -> bool {
        self.new_blocks != self.old_blocks
    }
}

/// `COMPAT` features a grow leaves consistent: dir_prealloc, imagic_inodes, has_journal,
/// ext_attr, resize_inode, dir_index, sparse_super2, fast_commit, stable_inodes, orphan_file.
const GROW_COMPAT: u32 = 0x0001 | 0x0002 | 0x0004 | 0x0008 | 0x0010 | 0x0020 | 0x0200 | 0x0400 | 0x0800 | 0x1000;
/// `INCOMPAT` features a grow leaves consistent: filetype, needs_recovery (refused as
/// unclean), meta_bg, extent, 64bit, flex_bg, ea_inode, dirdata, metadata_csum_seed,
/// large_dir, inline_data, encrypt, casefold.
const GROW_INCOMPAT: u32 =
    0x0002 | 0x0004 | 0x0010 | 0x0040 | 0x0080 | 0x0200 | 0x0400 | 0x1000 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000;
/// `RO_COMPAT` features a grow leaves consistent: sparse_super, large_file, btree_dir,
/// huge_file, uninit_bg, dir_nlink, extra_isize, quota, metadata_csum, project, verity,
/// orphan_present (refused as unclean).
const GROW_RO_COMPAT: u32 =
    0x0001 | 0x0002 | 0x0004 | 0x0008 | 0x0010 | 0x0020 | 0x0040 | 0x0100 | 0x0400 | 0x2000 | 0x8000 | 0x10000;

/// Bytes of zeros written at a time when inode tables are zeroed.
const ZERO_CHUNK: u64 = 1 << 20;

/// Errors of one grow, naming the device and filesystem type.
struct Errs<'a> {
    dev: &'a str,
    fs: &'a str,
}

impl Errs<'_> {
    fn corrupt(&self, msg: impl Into<String>) -> Error {
        Error::Corrupt { dev: self.dev.into(), fs: self.fs.into(), msg: msg.into() }
    }
    fn unsupported(&self, what: impl Into<String>) -> Error {
        Error::Unsupported { dev: self.dev.into(), fs: self.fs.into(), feature: what.into() }
    }
    fn resize(&self, msg: impl Into<String>) -> Error {
        Error::Resize { dev: self.dev.into(), msg: msg.into() }
    }
}

/// Grows the ext2/3/4 filesystem on `dev` to `new_size_blocks` blocks, or to fill `dev` when
/// `None` (like `resize2fs DEV` without a size), after the cleanliness `checks`. Nothing to
/// do is not an error: the report says so. Everything but a journal replay is checked and laid
/// out before the first write.
pub fn grow(dev: &Dev, new_size_blocks: Option<u64>, checks: Checks) -> Result<GrowReport> {
    if checks != Checks::Strict && needs_recovery(dev.as_ref())? {
        crate::fs::Filesystem::sync(&super::Ext4Fs::open_rw(dev.clone())?)?;
    }
    let dev = dev.as_ref();
    let name = dev.name();
    let fs_type = match crate::fs::probe(dev)? {
        Some(i) if matches!(i.fs_type.as_str(), "ext2" | "ext3" | "ext4" | "ext4dev") => i.fs_type,
        _ => "ext4".to_string(),
    };
    let e = Errs { dev: &name, fs: &fs_type };
    if dev.len() < 2048 {
        return Err(e.corrupt("device too small for an ext2/3/4 superblock"));
    }
    let sb = read_vec(dev, 1024, 1024)?;
    let old = Geo::parse(&sb).map_err(|m| e.corrupt(m))?;
    check_features(&old, &e)?;
    if old.has_ro(geo::RO_COMPAT_METADATA_CSUM) && le32(&sb, off::CHECKSUM) != csum::superblock(&sb) {
        return Err(e.corrupt("superblock checksum does not match (run e2fsck -f)"));
    }
    check_clean(&sb, &old, &name, checks)?;
    let dev_blocks = dev.len() / old.bs;
    if old.blocks > dev_blocks {
        return Err(e.resize(format!(
            "the filesystem ({} blocks) is larger than the device ({dev_blocks} blocks)",
            old.blocks
        )));
    }
    let target = target_size(&old, new_size_blocks, dev_blocks, &e)?;
    let k = old.bs / 1024;
    let old_inodes = u64::from(le32(&sb, off::INODES_COUNT));
    let mut report = GrowReport {
        block_size: old.bs,
        old_blocks: old.blocks,
        new_blocks: old.blocks,
        old_groups: old.groups,
        new_groups: old.groups,
        old_inodes,
        new_inodes: old_inodes,
        lazy_itable_init: false,
        message: format!("The filesystem is already {} ({k}k) blocks long.  Nothing to do!", old.blocks),
    };
    if target < old.blocks {
        return Err(e.unsupported(format!(
            "shrinking (from {} to {target} blocks) is not supported, only growing",
            old.blocks
        )));
    }
    let size = adjust_new_size(&old, target);
    if size <= old.blocks {
        return Ok(report);
    }
    let new = new_geometry(&old, size, target, &e)?;
    let mut descs = Descs::read(dev, &old)?.map_err(|m| e.corrupt(m))?;
    let uuid = sb[off::UUID..off::UUID + 16].to_vec();
    let seed = geo::csum_seed(&sb, &old);
    if old.has_gd_csum() {
        if let Some(g) = (0..old.groups).find(|&g| descs.stored_checksum(g) != descs.checksum(&old, seed, &uuid, g)) {
            return Err(e.corrupt(format!("group descriptor {g}: checksum does not match (run e2fsck -f)")));
        }
    }
    let windows = place::place(&new, old.groups).map_err(|m| e.unsupported(format!("growing: {m}")))?;
    let lazy = new.has_gd_csum();
    let mut w = Writer { dev, geo: &new, e: &e };
    let mut resize = None;
    if new.compat & geo::COMPAT_RESIZE_INODE != 0 {
        let (at, mut inode) = read_resize_inode(dev, &old, &descs, &e)?;
        if old.has_ro(geo::RO_COMPAT_METADATA_CSUM) && !resize_inode::checksum_ok(seed, resize_inode::INO, &inode) {
            return Err(e.corrupt("resize inode (7): checksum does not match (run e2fsck -f)"));
        }
        let rebuilt = resize_inode::rebuild(&new, seed, &mut inode).map_err(|m| e.unsupported(format!("growing: {m}")))?;
        resize = Some((at, inode, rebuilt));
    }
    let touched = touched_groups(dev, &old, &new, &descs, &e)?;

    // From here on the device is written. The primary superblock says "errors" first, so an
    // interrupted grow on a device without an overlay is found by e2fsck.
    let state = le16(&sb, off::STATE);
    let mut marked = sb.clone();
    put16(&mut marked, off::STATE, state | geo::STATE_ERROR);
    seal_sb(&old, &mut marked);
    dev.write_at(&marked, 1024)?;
    dev.flush()?;

    descs.extend(new.groups - old.groups);
    for win in &windows {
        w.window(win, &mut descs, seed, lazy)?;
    }
    for (g, bitmap) in &touched {
        let g = *g;
        if old.has_ro(geo::RO_COMPAT_METADATA_CSUM) {
            descs.set_block_bitmap_csum(&new, seed, g, bitmap);
        }
        descs.set_free_blocks(g, free_bits(bitmap, new.group_blocks(g)));
        descs.set_flags(g, descs.flags(g) & !BLOCK_UNINIT);
        w.block(descs.block_bitmap(g), bitmap)?;
    }
    if let Some((at, inode, rebuilt)) = &resize {
        for (blk, data) in &rebuilt.blocks {
            w.block(*blk, data)?;
        }
        dev.write_at(inode, *at)?;
    }
    if new.has_gd_csum() {
        for g in 0..new.groups {
            descs.seal(&new, seed, &uuid, g);
        }
    }
    w.descriptors(&descs)?;

    let mut out = sb.clone();
    let free_blocks: u64 = (0..new.groups).map(|g| descs.free_blocks(g)).sum();
    let free_inodes: u64 = (0..new.groups).map(|g| descs.free_inodes(g)).sum();
    let inodes = new.ipg * new.groups;
    let r_blocks = scaled_reserve(&sb, &old, &new);
    put32(&mut out, off::INODES_COUNT, inodes as u32);
    put_split(&mut out, &new, off::BLOCKS_LO, off::BLOCKS_HI, new.blocks);
    put_split(&mut out, &new, off::R_BLOCKS_LO, off::R_BLOCKS_HI, r_blocks);
    put_split(&mut out, &new, off::FREE_BLOCKS_LO, off::FREE_BLOCKS_HI, free_blocks);
    put32(&mut out, off::FREE_INODES, free_inodes as u32);
    put16(&mut out, off::RESERVED_GDT, new.reserved_gdt as u16);
    put32(&mut out, off::OVERHEAD_CLUSTERS, 0);
    put32(&mut out, off::BACKUP_BGS, new.backup_bgs[0] as u32);
    put32(&mut out, off::BACKUP_BGS + 4, new.backup_bgs[1] as u32);
    for g in geo::backup_groups(&new) {
        let mut copy = out.clone();
        put16(&mut copy, off::BLOCK_GROUP_NR, g as u16);
        seal_sb(&new, &mut copy);
        w.block(new.group_first(g), &copy)?;
    }
    put16(&mut out, off::BLOCK_GROUP_NR, 0);
    seal_sb(&new, &mut out);
    dev.write_at(&out, 1024)?;
    dev.flush()?;

    report.new_blocks = new.blocks;
    report.new_groups = new.groups;
    report.new_inodes = inodes;
    report.lazy_itable_init = lazy;
    report.message = format!("The filesystem on {name} is now {} ({k}k) blocks long.", new.blocks);
    Ok(report)
}

/// Refuses features whose structures a grow would leave inconsistent, naming them.
fn check_features(geo: &Geo, e: &Errs<'_>) -> Result<()> {
    let compat = geo.compat & !GROW_COMPAT;
    let incompat = geo.incompat & !GROW_INCOMPAT;
    let ro = geo.ro_compat & !GROW_RO_COMPAT;
    if compat != 0 || incompat != 0 || ro != 0 {
        return Err(e.unsupported(format!(
            "growing a filesystem with feature(s) COMPAT {compat:#x} INCOMPAT {incompat:#x} RO_COMPAT {ro:#x} \
             (bigalloc, mmp, journal_dev, compression, snapshots, exclude_bitmap and lazy_bg are not supported)"
        )));
    }
    if geo.has(geo::INCOMPAT_META_BG) && geo.compat & geo::COMPAT_RESIZE_INODE != 0 {
        return Err(e.unsupported("growing a filesystem with both meta_bg and resize_inode (run e2fsck -f first)"));
    }
    Ok(())
}

/// The block size of the ext2/3/4 filesystem on `dev` (to turn a size in bytes into blocks).
pub fn block_size(dev: &dyn BlockDev) -> Result<u64> {
    let name = dev.name();
    let e = Errs { dev: &name, fs: "ext4" };
    if dev.len() < 2048 {
        return Err(e.corrupt("device too small for an ext2/3/4 superblock"));
    }
    Ok(Geo::parse(&read_vec(dev, 1024, 1024)?).map_err(|m| e.corrupt(m))?.bs)
}

/// Whether the ext superblock on `dev` says its journal needs recovery.
fn needs_recovery(dev: &dyn BlockDev) -> Result<bool> {
    if dev.len() < 2048 {
        return Ok(false);
    }
    let sb = read_vec(dev, 1024, 1024)?;
    Ok(le16(&sb, off::MAGIC) == geo::MAGIC && le32(&sb, off::INCOMPAT) & geo::INCOMPAT_RECOVER != 0)
}

/// Which of resize2fs's cleanliness checks [`grow`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checks {
    /// All of them, as `resize2fs DEV`: a journal needing recovery, or a filesystem mounted
    /// since its last e2fsck, is refused too.
    Strict,
    /// Those that need e2fsck's repairs (errors recorded, not cleanly unmounted, orphans,
    /// impossible free counts); a journal needing recovery is replayed first.
    Repairs,
    /// None (`resize2fs -f`); a journal needing recovery is replayed first.
    Force,
}

/// resize2fs's checks before it touches an unmounted filesystem, as many as `checks` asks.
fn check_clean(sb: &[u8], geo: &Geo, dev: &str, checks: Checks) -> Result<()> {
    let check = |msg: String| Err(Error::NeedsCheck { dev: dev.into(), msg });
    if geo.has(geo::INCOMPAT_RECOVER) {
        // after a replay too, had it not cleared the flag
        return check(format!("the journal needs recovery. Please run 'e2fsck -f {dev}' first."));
    }
    if checks == Checks::Force {
        return Ok(());
    }
    let state = le16(sb, off::STATE);
    let free_blocks = split(sb, geo, off::FREE_BLOCKS_LO, off::FREE_BLOCKS_HI);
    let unclean = state & geo::STATE_ERROR != 0
        || state & geo::STATE_VALID == 0
        || (checks == Checks::Strict && le32(sb, off::LASTCHECK) < le32(sb, off::MTIME))
        || free_blocks > geo.blocks
        || le32(sb, off::FREE_INODES) > le32(sb, off::INODES_COUNT)
        || le32(sb, off::LAST_ORPHAN) != 0
        || geo.has_ro(geo::RO_COMPAT_ORPHAN_PRESENT);
    if unclean {
        return check(format!("Please run 'e2fsck -f {dev}' first."));
    }
    Ok(())
}

/// The size asked for, in blocks, checked like resize2fs's `main` does before it adjusts it.
fn target_size(geo: &Geo, asked: Option<u64>, dev_blocks: u64, e: &Errs<'_>) -> Result<u64> {
    let k = geo.bs / 1024;
    let mut size = match asked {
        Some(0) => return Err(e.resize("Invalid new size: 0")),
        Some(n) => n,
        // rounded down to a multiple of a 4 KiB page, as resize2fs does on Linux
        None if geo.bs < 4096 => dev_blocks & !(4096 / geo.bs - 1),
        None => dev_blocks,
    };
    if !geo.has(geo::INCOMPAT_64BIT) {
        if size == 1 << 32 {
            size -= 1;
        } else if size > 1 << 32 {
            return Err(e.resize(format!(
                "New size too large to be expressed in 32 bits: {size} blocks (the filesystem has no 64bit \
                 feature; at most {} blocks)",
                (1u64 << 32) - 1
            )));
        }
    }
    if !geo.has(geo::INCOMPAT_META_BG) {
        let groups = size.saturating_sub(geo.first_data_block).div_ceil(geo.bpg);
        if groups.div_ceil(geo.dpb) + geo.first_data_block > geo.bpg {
            return Err(e.resize("New size results in too many block group descriptors."));
        }
    }
    if size > dev_blocks {
        return Err(e.resize(format!(
            "The containing partition (or device) is only {dev_blocks} ({k}k) blocks. You requested a new size \
             of {size} blocks."
        )));
    }
    Ok(size)
}

/// resize2fs's `adjust_new_size`: drops a last group too small for its own metadata (plus 50
/// blocks) and a group that would take the inode count past 2^32-1.
fn adjust_new_size(geo: &Geo, mut size: u64) -> u64 {
    // each pass lowers the size by less than a group or by one group; two are enough
    for _ in 0..4 {
        let groups = size.saturating_sub(geo.first_data_block).div_ceil(geo.bpg);
        if groups == 0 {
            return size;
        }
        let desc_blocks = groups.div_ceil(geo.dpb);
        let has_bg = if geo.compat & geo::COMPAT_SPARSE_SUPER2 != 0 {
            if groups == 2 {
                geo.backup_bgs[0] != 0
            } else {
                geo.backup_bgs[1] != 0
            }
        } else {
            geo.has_super(groups - 1)
        };
        let mut overhead = 2 + geo.itb;
        if has_bg {
            overhead += 1 + desc_blocks + geo.reserved_gdt;
        }
        let rem = (size - geo.first_data_block) % geo.bpg;
        if groups == 1 && rem != 0 && rem < overhead {
            return size;
        }
        if groups > 1 && rem != 0 && rem < overhead + 50 {
            size -= rem;
            continue;
        }
        if geo.ipg * groups > u64::from(u32::MAX) {
            if geo.ipg * (groups - 1) > u64::from(u32::MAX) {
                return size;
            }
            size = geo.bpg * (groups - 1) + geo.first_data_block;
            continue;
        }
        return size;
    }
    size
}

/// The geometry of the grown filesystem of `size` blocks (`target` was asked): reserved GDT
/// blocks consumed by new descriptor blocks, sparse_super2 backups moved, and the limits that
/// make a grow impossible without moving data.
fn new_geometry(old: &Geo, size: u64, target: u64, e: &Errs<'_>) -> Result<Geo> {
    let mut new = old.resized(size).ok_or_else(|| e.unsupported(format!("growing to {size} blocks: too many groups")))?;
    if new.ipg * new.groups > u64::from(u32::MAX) {
        return Err(e.resize(format!("inodes ({}) must be less than {}", new.ipg * new.groups, u32::MAX)));
    }
    let more = new.desc_blocks - old.desc_blocks;
    if !new.has(geo::INCOMPAT_META_BG) && more > 0 {
        let room = if old.compat & geo::COMPAT_RESIZE_INODE != 0 { old.reserved_gdt } else { 0 };
        if more > room {
            let max_groups = (old.desc_blocks + room) * old.dpb;
            let fit = adjust_new_size(old, (old.first_data_block + max_groups * old.bpg).min(target));
            return Err(e.unsupported(format!(
                "growing to {size} blocks needs {} group descriptor blocks but only {} fit ({} + {room} reserved GDT \
                 blocks) and the filesystem has no meta_bg feature; moving data to make room, as resize2fs does, \
                 is not supported. The largest size that fits is {fit} blocks ({} MiB).",
                new.desc_blocks,
                old.desc_blocks + room,
                old.desc_blocks,
                (fit * old.bs) >> 20
            )));
        }
        new.reserved_gdt = room - more;
    }
    if new.compat & geo::COMPAT_SPARSE_SUPER2 != 0 {
        let last = new.groups - 1;
        if old.groups == 1 {
            new.backup_bgs[0] = 1;
        }
        if (old.groups < 3 && new.groups > 2) || new.backup_bgs[1] != 0 {
            new.backup_bgs[1] = last;
        }
    }
    Ok(new)
}

/// The byte offset and bytes of the resize inode, read from group 0's inode table.
fn read_resize_inode(dev: &dyn BlockDev, geo: &Geo, descs: &Descs, e: &Errs<'_>) -> Result<(u64, Vec<u8>)> {
    let table = descs.inode_table(0);
    if table < geo.first_data_block || table.saturating_add(geo.itb) > geo.blocks {
        return Err(e.corrupt(format!("group 0: inode table at {table} outside the filesystem")));
    }
    let at = table * geo.bs + (resize_inode::INO - 1) * geo.inode_size;
    let inode = read_vec(dev, at, geo.inode_size as usize)?;
    resize_inode::dind_block(geo, &inode).map_err(|m| e.corrupt(m))?;
    Ok((at, inode))
}

/// The old groups whose block bitmap changes, with their new bitmaps: the last group (it gets
/// longer) and any group that loses its superblock backup (sparse_super2).
fn touched_groups(dev: &dyn BlockDev, old: &Geo, new: &Geo, descs: &Descs, e: &Errs<'_>) -> Result<Vec<(u64, Vec<u8>)>> {
    let mut out = Vec::new();
    for g in 0..old.groups {
        let (was, now) = (old.prefix(g).len(), new.prefix(g).len());
        if now > was {
            return Err(e.unsupported(format!("growing: group {g} would need {} more metadata blocks", now - was)));
        }
        if now == was && g != old.groups - 1 {
            continue;
        }
        let bitmap = if descs.flags(g) & BLOCK_UNINIT != 0 && old.has_gd_csum() {
            let mut b = vec![0u8; old.bs as usize];
            set_range(&mut b, 0, now);
            let meta = place::Meta {
                block_bitmap: descs.block_bitmap(g),
                inode_bitmap: descs.inode_bitmap(g),
                inode_table: descs.inode_table(g),
            };
            mark_meta(&mut b, new, g, &meta);
            b
        } else {
            let blk = descs.block_bitmap(g);
            if blk < old.first_data_block || blk >= old.blocks {
                return Err(e.corrupt(format!("group {g}: block bitmap at {blk} outside the filesystem")));
            }
            let mut b = read_vec(dev, blk * old.bs, old.bs as usize)?;
            clear_range(&mut b, now, was);
            clear_range(&mut b, old.group_blocks(g), new.group_blocks(g));
            b
        };
        let mut bitmap = bitmap;
        set_range(&mut bitmap, new.group_blocks(g), 8 * new.bs);
        out.push((g, bitmap));
    }
    Ok(out)
}

/// Writes through the device in blocks of the grown filesystem.
struct Writer<'a> {
    dev: &'a dyn BlockDev,
    geo: &'a Geo,
    e: &'a Errs<'a>,
}

impl Writer<'_> {
    /// Writes `data` at block `blk`.
    fn block(&mut self, blk: u64, data: &[u8]) -> Result<()> {
        if blk >= self.geo.blocks {
            return Err(self.e.corrupt(format!("write to block {blk} outside the filesystem")));
        }
        self.dev.write_at(data, blk * self.geo.bs)?;
        Ok(())
    }

    /// Lays out one window of new groups: bitmaps written, inode tables zeroed unless `lazy`,
    /// descriptors filled in.
    fn window(&mut self, win: &place::Window, descs: &mut Descs, seed: u32, lazy: bool) -> Result<()> {
        let geo = self.geo;
        let bs = geo.bs as usize;
        let csum = geo.has_ro(geo::RO_COMPAT_METADATA_CSUM);
        let mut inode_bitmap = vec![0u8; bs];
        set_range(&mut inode_bitmap, geo.ipg, 8 * geo.bs);
        for (i, meta) in win.meta.iter().enumerate() {
            let g = win.first + i as u64;
            let mut bitmap = vec![0u8; bs];
            set_range(&mut bitmap, 0, geo.prefix(g).len());
            let mut foreign = false;
            for (j, m) in win.meta.iter().enumerate() {
                let marked = mark_meta(&mut bitmap, geo, g, m);
                foreign |= marked && j != i;
            }
            let n = geo.group_blocks(g);
            set_range(&mut bitmap, n, 8 * geo.bs);
            descs.set_locations(g, meta.block_bitmap, meta.inode_bitmap, meta.inode_table);
            descs.set_free_blocks(g, free_bits(&bitmap, n));
            descs.set_free_inodes(g, geo.ipg);
            if geo.has_gd_csum() {
                let last = g == geo.groups - 1;
                descs.set_flags(g, INODE_UNINIT | if last || foreign { 0 } else { BLOCK_UNINIT });
                descs.set_itable_unused(g, geo.ipg);
            }
            if csum {
                descs.set_block_bitmap_csum(geo, seed, g, &bitmap);
                descs.set_inode_bitmap_csum(geo, seed, g, &inode_bitmap);
            }
            self.block(meta.block_bitmap, &bitmap)?;
            self.block(meta.inode_bitmap, &inode_bitmap)?;
            if !lazy {
                self.zero(meta.inode_table, geo.itb)?;
            }
        }
        Ok(())
    }

    /// Zeroes `count` blocks from `blk`.
    fn zero(&mut self, blk: u64, count: u64) -> Result<()> {
        let per = (ZERO_CHUNK / self.geo.bs).max(1);
        let zeros = vec![0u8; (per * self.geo.bs) as usize];
        let mut done = 0;
        while done < count {
            let n = per.min(count - done);
            self.block(blk + done, &zeros[..(n * self.geo.bs) as usize])?;
            done += n;
        }
        Ok(())
    }

    /// Writes every copy of the descriptor table: after each superblock copy (old style) and
    /// at the meta_bg places.
    fn descriptors(&mut self, descs: &Descs) -> Result<()> {
        let geo = self.geo;
        let bs = geo.bs as usize;
        let mut table = descs.raw.clone();
        table.resize(geo.desc_blocks as usize * bs, 0);
        let old_style = geo.old_desc_written() as usize * bs;
        for g in 0..geo.groups {
            let p = geo.prefix(g);
            let at = geo.group_first(g) + u64::from(p.sb);
            if p.old_desc > 0 && old_style > 0 {
                self.block(at, &table[..old_style])?;
            }
            if p.meta_desc {
                let i = (g / geo.dpb) as usize;
                self.block(at, &table[i * bs..(i + 1) * bs])?;
            }
        }
        Ok(())
    }
}

/// Marks in `bitmap` (of group `g` of `geo`) the blocks of `m` that lie in group `g`;
/// whether any did.
fn mark_meta(bitmap: &mut [u8], geo: &Geo, g: u64, m: &place::Meta) -> bool {
    let first = geo.group_first(g);
    let end = first + geo.group_blocks(g);
    let mut any = false;
    for (start, len) in [(m.block_bitmap, 1), (m.inode_bitmap, 1), (m.inode_table, geo.itb)] {
        let (s, t) = (start.max(first), start.saturating_add(len).min(end));
        if s < t {
            set_range(bitmap, s - first, t - first);
            any = true;
        }
    }
    any
}

/// Sets bits `from..to` of `bitmap` (clamped to its length).
fn set_range(bitmap: &mut [u8], from: u64, to: u64) {
    let to = to.min(bitmap.len() as u64 * 8);
    for bit in from..to {
        bitmap[(bit / 8) as usize] |= 1 << (bit % 8);
    }
}

/// Clears bits `from..to` of `bitmap` (clamped to its length).
fn clear_range(bitmap: &mut [u8], from: u64, to: u64) {
    let to = to.min(bitmap.len() as u64 * 8);
    for bit in from..to {
        bitmap[(bit / 8) as usize] &= !(1 << (bit % 8));
    }
}

/// Zero bits among the first `n` of `bitmap`.
fn free_bits(bitmap: &[u8], n: u64) -> u64 {
    (0..n).filter(|&b| bitmap[(b / 8) as usize] & (1 << (b % 8)) == 0).count() as u64
}

/// The reserved block count scaled with the size, with resize2fs's floating-point arithmetic.
fn scaled_reserve(sb: &[u8], old: &Geo, new: &Geo) -> u64 {
    let r = split(sb, old, off::R_BLOCKS_LO, off::R_BLOCKS_HI);
    let percent = (r as f64 * 100.0) / old.blocks as f64;
    (percent * new.blocks as f64 / 100.0) as u64
}
