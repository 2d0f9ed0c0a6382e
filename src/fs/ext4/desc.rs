//! The group descriptor table held as raw bytes (fields we do not know are kept as they are),
//! with accessors for the fields a grow reads and sets, and the descriptor and bitmap
//! checksums (`ext2fs_group_desc_csum`, `ext2fs_block_bitmap_csum_set`…).

use super::csum::{crc16, crc32c_raw};
use super::geo::{Geo, RO_COMPAT_METADATA_CSUM};
use crate::bytes::{le16, le32};
use crate::disk::BlockDev;

/// `bg_flags` bits.
pub(super) const INODE_UNINIT: u16 = 0x0001;
pub(super) const BLOCK_UNINIT: u16 = 0x0002;

/// Descriptor field offsets (`struct ext4_group_desc`).
const BLOCK_BITMAP: usize = 0x00;
const INODE_BITMAP: usize = 0x04;
const INODE_TABLE: usize = 0x08;
const FREE_BLOCKS: usize = 0x0C;
const FREE_INODES: usize = 0x0E;
const FLAGS: usize = 0x12;
const BLOCK_BITMAP_CSUM: usize = 0x18;
const INODE_BITMAP_CSUM: usize = 0x1A;
const ITABLE_UNUSED: usize = 0x1C;
const CHECKSUM: usize = 0x1E;
/// Offset of the high half of a 64-byte descriptor's split fields.
const HI: usize = 0x20;
/// End of `bg_block_bitmap_csum_hi` / `bg_inode_bitmap_csum_hi`: descriptors shorter than
/// these keep only the low 16 bits of the bitmap checksums.
const BLOCK_BITMAP_CSUM_HI_END: usize = 0x3A;
const INODE_BITMAP_CSUM_HI_END: usize = 0x3C;

/// The descriptor table: `groups × desc_size` bytes.
pub(super) struct Descs {
    pub raw: Vec<u8>,
    size: usize,
    /// Fields have high halves (64bit with 64-byte or larger descriptors).
    wide: bool,
}

impl Descs {
    /// Reads the primary descriptor table of the filesystem `geo` from `dev`.
    pub fn read(dev: &dyn BlockDev, geo: &Geo) -> crate::fs::Result<Result<Descs, String>> {
        let bs = geo.bs as usize;
        let mut raw = vec![0u8; geo.desc_blocks as usize * bs];
        for (i, chunk) in raw.chunks_mut(bs).enumerate() {
            let blk = geo.desc_block_primary(i as u64);
            if blk >= geo.blocks {
                return Ok(Err(format!("group descriptor block {i} at {blk} is outside the filesystem")));
            }
            dev.read_at(chunk, blk * geo.bs)?;
        }
        raw.truncate(geo.groups as usize * geo.desc_size);
        Ok(Ok(Descs::new(raw, geo)))
    }

    /// A table of `raw` descriptors of the filesystem `geo`.
    pub fn new(raw: Vec<u8>, geo: &Geo) -> Descs {
        Descs { raw, size: geo.desc_size, wide: geo.desc_size >= 64 }
    }

    /// Adds `n` zeroed descriptors.
    pub fn extend(&mut self, n: u64) {
        let add = (n as usize).saturating_mul(self.size);
        self.raw.resize(self.raw.len() + add, 0);
    }

    fn at(&self, g: u64) -> usize {
        g as usize * self.size
    }

    fn get(&self, g: u64, lo: usize, width: usize) -> u64 {
        let at = self.at(g);
        let (l, h) = match width {
            2 => (u64::from(le16(&self.raw, at + lo)), u64::from(le16(&self.raw, at + lo + HI))),
            _ => (u64::from(le32(&self.raw, at + lo)), u64::from(le32(&self.raw, at + lo + HI))),
        };
        if self.wide {
            l | h << (8 * width)
        } else {
            l
        }
    }

    fn set(&mut self, g: u64, lo: usize, width: usize, v: u64) {
        let at = self.at(g) + lo;
        let bytes = v.to_le_bytes();
        self.raw[at..at + width].copy_from_slice(&bytes[..width]);
        if self.wide {
            self.raw[at + HI..at + HI + width].copy_from_slice(&bytes[width..2 * width]);
        }
    }

    pub fn block_bitmap(&self, g: u64) -> u64 {
        self.get(g, BLOCK_BITMAP, 4)
    }
    pub fn inode_bitmap(&self, g: u64) -> u64 {
        self.get(g, INODE_BITMAP, 4)
    }
    pub fn inode_table(&self, g: u64) -> u64 {
        self.get(g, INODE_TABLE, 4)
    }
    pub fn free_blocks(&self, g: u64) -> u64 {
        self.get(g, FREE_BLOCKS, 2)
    }
    pub fn free_inodes(&self, g: u64) -> u64 {
        self.get(g, FREE_INODES, 2)
    }
    pub fn flags(&self, g: u64) -> u16 {
        le16(&self.raw, self.at(g) + FLAGS)
    }

    /// Sets the locations of the group's bitmaps and inode table.
    pub fn set_locations(&mut self, g: u64, block_bitmap: u64, inode_bitmap: u64, inode_table: u64) {
        self.set(g, BLOCK_BITMAP, 4, block_bitmap);
        self.set(g, INODE_BITMAP, 4, inode_bitmap);
        self.set(g, INODE_TABLE, 4, inode_table);
    }
    pub fn set_free_blocks(&mut self, g: u64, n: u64) {
        self.set(g, FREE_BLOCKS, 2, n);
    }
    pub fn set_free_inodes(&mut self, g: u64, n: u64) {
        self.set(g, FREE_INODES, 2, n);
    }
    pub fn itable_unused(&self, g: u64) -> u64 {
        self.get(g, ITABLE_UNUSED, 2)
    }
    pub fn set_itable_unused(&mut self, g: u64, n: u64) {
        self.set(g, ITABLE_UNUSED, 2, n);
    }
    pub fn set_flags(&mut self, g: u64, flags: u16) {
        let at = self.at(g) + FLAGS;
        self.raw[at..at + 2].copy_from_slice(&flags.to_le_bytes());
    }

    /// The checksum descriptor `g` should carry (`ext2fs_group_desc_csum`).
    pub fn checksum(&self, geo: &Geo, seed: u32, uuid: &[u8], g: u64) -> u16 {
        let at = self.at(g);
        let mut d = self.raw[at..at + self.size].to_vec();
        let group = (g as u32).to_le_bytes();
        if geo.has_ro(RO_COMPAT_METADATA_CSUM) {
            d[CHECKSUM..CHECKSUM + 2].fill(0);
            let crc = crc32c_raw(crc32c_raw(seed, &group), &d);
            return (crc & 0xFFFF) as u16;
        }
        let crc = crc16(crc16(crc16(!0, uuid), &group), &d[..CHECKSUM]);
        crc16(crc, &d[CHECKSUM + 2..])
    }

    /// The checksum stored in descriptor `g`.
    pub fn stored_checksum(&self, g: u64) -> u16 {
        le16(&self.raw, self.at(g) + CHECKSUM)
    }

    /// Recomputes and stores descriptor `g`'s checksum.
    pub fn seal(&mut self, geo: &Geo, seed: u32, uuid: &[u8], g: u64) {
        let c = self.checksum(geo, seed, uuid, g);
        let at = self.at(g) + CHECKSUM;
        self.raw[at..at + 2].copy_from_slice(&c.to_le_bytes());
    }

    /// Stores the checksum of group `g`'s block bitmap `bitmap` (metadata_csum).
    pub fn set_block_bitmap_csum(&mut self, geo: &Geo, seed: u32, g: u64, bitmap: &[u8]) {
        let crc = crc32c_raw(seed, &bitmap[..(geo.bpg / 8) as usize]);
        self.put_split(g, BLOCK_BITMAP_CSUM, BLOCK_BITMAP_CSUM_HI_END, crc);
    }

    /// Stores the checksum of group `g`'s inode bitmap `bitmap` (metadata_csum).
    pub fn set_inode_bitmap_csum(&mut self, geo: &Geo, seed: u32, g: u64, bitmap: &[u8]) {
        let crc = crc32c_raw(seed, &bitmap[..(geo.ipg / 8) as usize]);
        self.put_split(g, INODE_BITMAP_CSUM, INODE_BITMAP_CSUM_HI_END, crc);
    }

    fn put_split(&mut self, g: u64, lo: usize, hi_end: usize, crc: u32) {
        let at = self.at(g);
        self.raw[at + lo..at + lo + 2].copy_from_slice(&(crc as u16).to_le_bytes());
        if self.size >= hi_end {
            self.raw[at + lo + HI..at + lo + HI + 2].copy_from_slice(&((crc >> 16) as u16).to_le_bytes());
        }
    }
}
