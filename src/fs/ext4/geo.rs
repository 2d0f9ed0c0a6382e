//! The superblock fields our own metadata writers (grow, freeing a block map's tail) read and
//! write, and the geometry they imply: where each
//! group starts, which groups hold superblock and descriptor backups (sparse_super,
//! sparse_super2, meta_bg), and where every copy of a descriptor block lives.
//! Everything is validated once in [`Geo::parse`], so the arithmetic afterwards cannot
//! overflow or loop without bound on a hostile superblock.

use crate::bytes::{le16, le32};

/// Superblock byte offsets (`struct ext2_super_block`).
pub(super) mod off {
    pub const INODES_COUNT: usize = 0x00;
    pub const BLOCKS_LO: usize = 0x04;
    pub const R_BLOCKS_LO: usize = 0x08;
    pub const FREE_BLOCKS_LO: usize = 0x0C;
    pub const FREE_INODES: usize = 0x10;
    pub const FIRST_DATA_BLOCK: usize = 0x14;
    pub const LOG_BLOCK_SIZE: usize = 0x18;
    pub const LOG_CLUSTER_SIZE: usize = 0x1C;
    pub const BLOCKS_PER_GROUP: usize = 0x20;
    pub const CLUSTERS_PER_GROUP: usize = 0x24;
    pub const INODES_PER_GROUP: usize = 0x28;
    pub const MTIME: usize = 0x2C;
    pub const MAGIC: usize = 0x38;
    pub const STATE: usize = 0x3A;
    pub const LASTCHECK: usize = 0x40;
    pub const REV_LEVEL: usize = 0x4C;
    pub const INODE_SIZE: usize = 0x58;
    pub const BLOCK_GROUP_NR: usize = 0x5A;
    pub const COMPAT: usize = 0x5C;
    pub const INCOMPAT: usize = 0x60;
    pub const RO_COMPAT: usize = 0x64;
    pub const UUID: usize = 0x68;
    pub const RESERVED_GDT: usize = 0xCE;
    pub const LAST_ORPHAN: usize = 0xE8;
    pub const DESC_SIZE: usize = 0xFE;
    pub const FIRST_META_BG: usize = 0x104;
    pub const BLOCKS_HI: usize = 0x150;
    pub const R_BLOCKS_HI: usize = 0x154;
    pub const FREE_BLOCKS_HI: usize = 0x158;
    pub const LOG_GROUPS_PER_FLEX: usize = 0x174;
    pub const OVERHEAD_CLUSTERS: usize = 0x248;
    pub const BACKUP_BGS: usize = 0x24C;
    pub const CHECKSUM_SEED: usize = 0x270;
    pub const CHECKSUM: usize = 0x3FC;
}

/// `EXT2_SUPER_MAGIC`.
pub(super) const MAGIC: u16 = 0xEF53;
/// `s_state` bits.
pub(super) const STATE_VALID: u16 = 0x0001;
pub(super) const STATE_ERROR: u16 = 0x0002;

pub(super) const COMPAT_RESIZE_INODE: u32 = 0x0010;
pub(super) const COMPAT_SPARSE_SUPER2: u32 = 0x0200;
pub(super) const INCOMPAT_RECOVER: u32 = 0x0004;
pub(super) const INCOMPAT_META_BG: u32 = 0x0010;
pub(super) const INCOMPAT_64BIT: u32 = 0x0080;
pub(super) const INCOMPAT_FLEX_BG: u32 = 0x0200;
pub(super) const INCOMPAT_CSUM_SEED: u32 = 0x2000;
pub(super) const RO_COMPAT_SPARSE_SUPER: u32 = 0x0001;
pub(super) const RO_COMPAT_HUGE_FILE: u32 = 0x0008;
pub(super) const RO_COMPAT_GDT_CSUM: u32 = 0x0010;
pub(super) const RO_COMPAT_METADATA_CSUM: u32 = 0x0400;
pub(super) const RO_COMPAT_ORPHAN_PRESENT: u32 = 0x10000;

/// Groups of one flex group laid out together at most; a hostile `s_log_groups_per_flex`
/// (up to 31) would otherwise size the per-window bitmaps without bound.
const MAX_WINDOW: u64 = 1024;
/// Groups a filesystem may have here: 2^24 groups of at least 256 blocks is far beyond any
/// image, and keeps the descriptor table in memory bounded (1 GiB of 64-byte descriptors).
pub(super) const MAX_GROUPS: u64 = 1 << 24;

/// The layout of one filesystem size. Cloned with another block count ([`Geo::resized`]) to
/// describe the grown filesystem.
#[derive(Debug, Clone)]
pub(super) struct Geo {
    /// Block size in bytes (1 KiB .. 64 KiB).
    pub bs: u64,
    /// `s_first_data_block`: 1 for 1 KiB blocks, else 0.
    pub first_data_block: u64,
    /// Blocks per group (a multiple of 8, at most `8 × bs`).
    pub bpg: u64,
    /// Inodes per group (a multiple of 8, at most `8 × bs`).
    pub ipg: u64,
    /// Inode size in bytes.
    pub inode_size: u64,
    /// Inode table blocks per group.
    pub itb: u64,
    /// Group descriptor size in bytes (32, or `s_desc_size` with 64bit).
    pub desc_size: usize,
    /// Descriptors per block.
    pub dpb: u64,
    pub compat: u32,
    pub incompat: u32,
    pub ro_compat: u32,
    /// Total blocks.
    pub blocks: u64,
    /// Number of groups.
    pub groups: u64,
    /// Blocks of the descriptor table.
    pub desc_blocks: u64,
    /// `s_reserved_gdt_blocks`.
    pub reserved_gdt: u64,
    /// `s_first_meta_bg`.
    pub first_meta_bg: u64,
    /// `s_backup_bgs` (sparse_super2).
    pub backup_bgs: [u64; 2],
    /// Groups laid out together (the flex group size, capped), 1 without flex_bg.
    pub window: u64,
}

/// The blocks at the start of a group that hold the superblock and descriptor copies
/// (`ext2fs_super_and_bgd_loc2`): always contiguous from the group's first block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Prefix {
    /// A superblock copy at the group's first block.
    pub sb: bool,
    /// Blocks of the old-style descriptor region (descriptors + reserved) after it.
    pub old_desc: u64,
    /// One meta_bg descriptor block (the group's meta group's) after the superblock.
    pub meta_desc: bool,
}

impl Prefix {
    /// Length in blocks.
    pub fn len(&self) -> u64 {
        u64::from(self.sb) + self.old_desc + u64::from(self.meta_desc)
    }
}

impl Geo {
    /// Reads and validates the geometry of the superblock `sb` (1024 bytes).
    pub fn parse(sb: &[u8]) -> Result<Geo, String> {
        if le16(sb, off::MAGIC) != MAGIC {
            return Err("no ext2/3/4 superblock (bad magic)".into());
        }
        let log = le32(sb, off::LOG_BLOCK_SIZE);
        if log > 6 {
            return Err(format!("superblock: s_log_block_size {log} out of range"));
        }
        let bs = 1024u64 << log;
        if le32(sb, off::LOG_CLUSTER_SIZE) != log {
            return Err("superblock: cluster size differs from block size (bigalloc)".into());
        }
        let incompat = le32(sb, off::INCOMPAT);
        let first_data_block = u64::from(le32(sb, off::FIRST_DATA_BLOCK));
        if first_data_block != u64::from(bs == 1024) {
            return Err(format!("superblock: s_first_data_block {first_data_block} for {bs}-byte blocks"));
        }
        let bpg = u64::from(le32(sb, off::BLOCKS_PER_GROUP));
        if bpg < 256 || bpg > 8 * bs || bpg % 8 != 0 || u64::from(le32(sb, off::CLUSTERS_PER_GROUP)) != bpg {
            return Err(format!("superblock: s_blocks_per_group {bpg} out of range"));
        }
        let ipg = u64::from(le32(sb, off::INODES_PER_GROUP));
        if ipg == 0 || ipg > 8 * bs || ipg % 8 != 0 {
            return Err(format!("superblock: s_inodes_per_group {ipg} out of range"));
        }
        let inode_size = if le32(sb, off::REV_LEVEL) == 0 { 128 } else { u64::from(le16(sb, off::INODE_SIZE)) };
        if inode_size < 128 || inode_size > bs || !inode_size.is_power_of_two() {
            return Err(format!("superblock: s_inode_size {inode_size} out of range"));
        }
        let desc_size = if incompat & INCOMPAT_64BIT != 0 { usize::from(le16(sb, off::DESC_SIZE)) } else { 32 };
        let min_desc = if incompat & INCOMPAT_64BIT != 0 { 64 } else { 32 };
        if desc_size < min_desc || desc_size > 1024 || !desc_size.is_power_of_two() || desc_size as u64 > bs {
            return Err(format!("superblock: s_desc_size {desc_size} out of range"));
        }
        let mut blocks = u64::from(le32(sb, off::BLOCKS_LO));
        if incompat & INCOMPAT_64BIT != 0 {
            blocks |= u64::from(le32(sb, off::BLOCKS_HI)) << 32;
        }
        let log_flex = u32::from(sb.get(off::LOG_GROUPS_PER_FLEX).copied().unwrap_or(0));
        let window = if incompat & INCOMPAT_FLEX_BG != 0 && log_flex < 32 {
            (1u64 << log_flex).min(MAX_WINDOW)
        } else {
            1
        };
        let geo = Geo {
            bs,
            first_data_block,
            bpg,
            ipg,
            inode_size,
            itb: (ipg * inode_size).div_ceil(bs),
            desc_size,
            dpb: bs / desc_size as u64,
            compat: le32(sb, off::COMPAT),
            incompat,
            ro_compat: le32(sb, off::RO_COMPAT),
            blocks: 0,
            groups: 0,
            desc_blocks: 0,
            reserved_gdt: u64::from(le16(sb, off::RESERVED_GDT)),
            first_meta_bg: u64::from(le32(sb, off::FIRST_META_BG)),
            backup_bgs: [u64::from(le32(sb, off::BACKUP_BGS)), u64::from(le32(sb, off::BACKUP_BGS + 4))],
            window,
        };
        if geo.reserved_gdt > bs / 4 {
            return Err(format!("superblock: s_reserved_gdt_blocks {} out of range", geo.reserved_gdt));
        }
        if blocks <= first_data_block {
            return Err(format!("superblock: s_blocks_count {blocks} out of range"));
        }
        let geo = geo.resized(blocks).ok_or_else(|| format!("superblock: {blocks} blocks make too many groups"))?;
        if geo.itb + 2 > bpg {
            return Err("superblock: the inode table does not fit a group".into());
        }
        if geo.prefix(0).len() >= geo.group_blocks(0) {
            return Err("superblock: the descriptor table and reserved GDT blocks do not fit group 0".into());
        }
        if geo.incompat & INCOMPAT_META_BG != 0 && geo.first_meta_bg > geo.desc_blocks {
            return Err(format!("superblock: s_first_meta_bg {} beyond the descriptor table", geo.first_meta_bg));
        }
        Ok(geo)
    }

    /// The same layout with `blocks` blocks; `None` past [`MAX_GROUPS`] groups.
    pub fn resized(&self, blocks: u64) -> Option<Geo> {
        let groups = blocks.checked_sub(self.first_data_block)?.div_ceil(self.bpg);
        if groups == 0 || groups > MAX_GROUPS {
            return None;
        }
        Some(Geo { blocks, groups, desc_blocks: groups.div_ceil(self.dpb), ..self.clone() })
    }

    pub fn has(&self, incompat: u32) -> bool {
        self.incompat & incompat != 0
    }

    pub fn has_ro(&self, ro_compat: u32) -> bool {
        self.ro_compat & ro_compat != 0
    }

    /// Whether group descriptors carry checksums and uninit flags (`uninit_bg` or
    /// `metadata_csum`: `ext2fs_has_group_desc_csum`).
    pub fn has_gd_csum(&self) -> bool {
        self.has_ro(RO_COMPAT_GDT_CSUM | RO_COMPAT_METADATA_CSUM)
    }

    /// First block of group `g`.
    pub fn group_first(&self, g: u64) -> u64 {
        self.first_data_block + g * self.bpg
    }

    /// Blocks in group `g` (the last one may be short).
    pub fn group_blocks(&self, g: u64) -> u64 {
        (self.blocks - self.group_first(g)).min(self.bpg)
    }

    /// The group holding block `b`.
    pub fn group_of(&self, b: u64) -> u64 {
        (b - self.first_data_block) / self.bpg
    }

    /// Whether group `g` holds a superblock copy (`ext2fs_bg_has_super`).
    pub fn has_super(&self, g: u64) -> bool {
        if g == 0 {
            return true;
        }
        if self.compat & COMPAT_SPARSE_SUPER2 != 0 {
            return g == self.backup_bgs[0] || g == self.backup_bgs[1];
        }
        if g <= 1 || !self.has_ro(RO_COMPAT_SPARSE_SUPER) {
            return true;
        }
        g % 2 == 1 && [3u64, 5, 7].iter().any(|&b| is_power_of(g, b))
    }

    /// Old-style descriptor region (descriptor blocks + reserved GDT blocks) after each
    /// superblock copy: `s_first_meta_bg` blocks with meta_bg.
    pub fn old_desc_region(&self) -> u64 {
        if self.has(INCOMPAT_META_BG) {
            self.first_meta_bg
        } else {
            self.desc_blocks + self.reserved_gdt
        }
    }

    /// The superblock/descriptor blocks at the start of group `g`.
    pub fn prefix(&self, g: u64) -> Prefix {
        let sb = self.has_super(g);
        let meta_bg = g / self.dpb;
        if !self.has(INCOMPAT_META_BG) || meta_bg < self.first_meta_bg {
            Prefix { sb, old_desc: if sb { self.old_desc_region() } else { 0 }, meta_desc: false }
        } else {
            let i = g % self.dpb;
            Prefix { sb, old_desc: 0, meta_desc: i == 0 || i == 1 || i == self.dpb - 1 }
        }
    }

    /// Old-style descriptor blocks written after each superblock copy (`ext2fs_flush`).
    pub fn old_desc_written(&self) -> u64 {
        if self.has(INCOMPAT_META_BG) {
            self.first_meta_bg.min(self.desc_blocks)
        } else {
            self.desc_blocks
        }
    }

    /// Block of the primary copy of descriptor block `i` (`ext2fs_descriptor_block_loc2`).
    pub fn desc_block_primary(&self, i: u64) -> u64 {
        if !self.has(INCOMPAT_META_BG) || i < self.first_meta_bg {
            return self.first_data_block + 1 + i;
        }
        let g = i * self.dpb;
        self.group_first(g) + u64::from(self.has_super(g))
    }
}

/// Whether `n` is a power of `base` (1 included).
fn is_power_of(mut n: u64, base: u64) -> bool {
    while n > 1 && n % base == 0 {
        n /= base;
    }
    n == 1
}

/// The groups after 0 holding superblock backups, in `ext2fs_list_backups` order (ascending),
/// below `groups`.
pub(super) fn backup_groups(geo: &Geo) -> Vec<u64> {
    if geo.compat & COMPAT_SPARSE_SUPER2 != 0 {
        let mut v: Vec<u64> = Vec::new();
        for b in geo.backup_bgs {
            if b != 0 && b < geo.groups && !v.contains(&b) {
                v.push(b);
            }
        }
        return v;
    }
    if !geo.has_ro(RO_COMPAT_SPARSE_SUPER) {
        return (1..geo.groups).collect();
    }
    let mut v = vec![];
    for base in [3u64, 5, 7] {
        let mut p = 1u64;
        while p < geo.groups {
            v.push(p);
            p = match p.checked_mul(base) {
                Some(n) => n,
                None => break,
            };
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// A 32-bit superblock field with its high half at `hi` when the filesystem is 64bit.
pub(super) fn split(sb: &[u8], geo: &Geo, lo: usize, hi: usize) -> u64 {
    let mut v = u64::from(le32(sb, lo));
    if geo.has(INCOMPAT_64BIT) {
        v |= u64::from(le32(sb, hi)) << 32;
    }
    v
}

pub(super) fn put_split(sb: &mut [u8], geo: &Geo, lo: usize, hi: usize, v: u64) {
    put32(sb, lo, v as u32);
    if geo.has(INCOMPAT_64BIT) {
        put32(sb, hi, (v >> 32) as u32);
    }
}

pub(super) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub(super) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// Stores the superblock checksum (metadata_csum).
pub(super) fn seal_sb(geo: &Geo, sb: &mut [u8]) {
    if geo.has_ro(RO_COMPAT_METADATA_CSUM) {
        let c = super::csum::superblock(sb);
        put32(sb, off::CHECKSUM, c);
    }
}

/// The seed of every metadata_csum checksum: `s_checksum_seed` when the superblock carries
/// one, else the CRC32C of the UUID.
pub(super) fn csum_seed(sb: &[u8], geo: &Geo) -> u32 {
    if geo.has(INCOMPAT_CSUM_SEED) {
        le32(sb, off::CHECKSUM_SEED)
    } else {
        super::csum::crc32c_raw(!0, &sb[off::UUID..off::UUID + 16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(groups: u64, sparse: bool) -> Geo {
        let mut sb = vec![0u8; 1024];
        let mut put = |o: usize, v: u32| sb[o..o + 4].copy_from_slice(&v.to_le_bytes());
        put(off::BLOCKS_LO, (groups * 32768) as u32);
        put(off::LOG_BLOCK_SIZE, 2);
        put(off::LOG_CLUSTER_SIZE, 2);
        put(off::BLOCKS_PER_GROUP, 32768);
        put(off::CLUSTERS_PER_GROUP, 32768);
        put(off::INODES_PER_GROUP, 8192);
        put(off::RO_COMPAT, if sparse { RO_COMPAT_SPARSE_SUPER } else { 0 });
        sb[off::MAGIC..off::MAGIC + 2].copy_from_slice(&MAGIC.to_le_bytes());
        Geo::parse(&sb).unwrap()
    }

    #[test]
    fn sparse_backups_are_powers_of_3_5_7() {
        let g = geo(100, true);
        assert_eq!(backup_groups(&g), [1, 3, 5, 7, 9, 25, 27, 49, 81]);
        for n in 1..100 {
            assert_eq!(g.has_super(n), backup_groups(&g).contains(&n), "{n}");
        }
        assert_eq!(backup_groups(&geo(4, false)), [1, 2, 3]);
    }

    #[test]
    fn hostile_fields_are_refused() {
        let mut sb = vec![0u8; 1024];
        sb[off::MAGIC..off::MAGIC + 2].copy_from_slice(&MAGIC.to_le_bytes());
        assert!(Geo::parse(&sb).is_err());
        sb[off::LOG_BLOCK_SIZE] = 40;
        assert!(Geo::parse(&sb).is_err());
    }
}
