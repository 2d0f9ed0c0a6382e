//! The btrfs superblock: 4 KiB at 64 KiB, with mirrors at 64 MiB and 256 GiB. It locates the
//! root tree and the chunk tree by logical address and carries the `sys_chunk_array`, the
//! SYSTEM chunks needed to read the chunk tree itself.

use super::chunk::{self, Chunk};
use super::csum;
use crate::bytes::{array, le16, le32, le64};

/// Size of a superblock copy.
pub const SIZE: usize = 4096;
/// Offsets of the primary superblock and its mirrors.
pub const OFFSETS: [u64; 3] = [64 << 10, 64 << 20, 256 << 30];
/// The magic at +0x40.
pub const MAGIC: &[u8; 8] = b"_BHRfS_M";
/// Offset and size of the `sys_chunk_array`.
const SYS_ARRAY_OFF: usize = 0x32b;
const SYS_ARRAY_MAX: usize = 2048;

/// Incompatible features this reader handles (RAID56 and RAID1C34 only name profiles that the
/// chunk map refuses).
pub const INCOMPAT_KNOWN: u64 = 0x1 // mixed backref
    | 0x2 // default subvolume
    | 0x4 // mixed block groups
    | 0x8 // lzo
    | 0x10 // zstd
    | 0x20 // big metadata
    | 0x40 // extended inode refs
    | 0x80 // raid56
    | 0x100 // skinny metadata
    | 0x200 // no holes
    | 0x400 // metadata uuid
    | 0x800 // raid1c34
    | 0x1000 // zoned
    | 0x10000; // simple quota

/// Names of incompatible features refused.
const INCOMPAT_NAMES: &[(u64, &str)] = &[(0x2000, "extent tree v2"), (0x4000, "raid stripe tree"), (0x8000, "experimental")];

/// A parsed, checked superblock.
#[derive(Debug, Clone)]
pub struct Superblock {
    /// Filesystem UUID.
    pub fsid: [u8; 16],
    /// The UUID tree blocks carry (fsid, or metadata_uuid with that feature).
    pub meta_uuid: [u8; 16],
    /// Byte offset this copy claims to be at.
    pub bytenr: u64,
    /// Transaction generation.
    pub generation: u64,
    /// Logical address of the root tree's root node, and its level.
    pub root: u64,
    /// Level of the root tree's root node.
    pub root_level: u8,
    /// Logical address of the chunk tree's root node.
    pub chunk_root: u64,
    /// Level of the chunk tree's root node.
    pub chunk_root_level: u8,
    /// Log tree root (non-zero: an unreplayed log of fsyncs).
    pub log_root: u64,
    /// Size of the filesystem in bytes.
    pub total_bytes: u64,
    /// Bytes in use.
    pub bytes_used: u64,
    /// Number of devices.
    pub num_devices: u64,
    /// Data block size.
    pub sectorsize: u32,
    /// Tree block size.
    pub nodesize: u32,
    /// Incompatible feature bits.
    pub incompat: u64,
    /// This device's id (dev_item.devid).
    pub devid: u64,
    /// Label.
    pub label: Vec<u8>,
    /// Chunks of the sys_chunk_array.
    pub sys_chunks: Vec<Chunk>,
}

/// Why a superblock was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SbError {
    /// Damaged: the message names the field.
    Corrupt(String),
    /// A feature this reader refuses, named.
    Unsupported(String),
}

impl Superblock {
    /// Parses and checks one superblock copy (`b` of at least [`SIZE`] bytes).
    pub fn parse(b: &[u8]) -> Result<Superblock, SbError> {
        let c = |m: String| SbError::Corrupt(m);
        if b.len() < SIZE {
            return Err(c(format!("superblock of {} bytes", b.len())));
        }
        let b = &b[..SIZE];
        if &b[0x40..0x48] != MAGIC {
            return Err(c("superblock magic is not _BHRfS_M".into()));
        }
        let csum_type = le16(b, 0xc4);
        if csum_type != 0 {
            return Err(SbError::Unsupported(format!("{} checksums (only crc32c is read)", csum::name(csum_type))));
        }
        let want = le32(b, 0);
        let got = csum::crc32c(b);
        if want != got {
            return Err(c(format!("superblock checksum {want:#010x}, computed {got:#010x}")));
        }
        let incompat = le64(b, 0xbc);
        for (bit, name) in INCOMPAT_NAMES {
            if incompat & bit != 0 {
                return Err(SbError::Unsupported(format!("the {name} format (incompat flag {bit:#x})")));
            }
        }
        if incompat & !INCOMPAT_KNOWN != 0 {
            return Err(SbError::Unsupported(format!("incompatible feature flags {:#x}", incompat & !INCOMPAT_KNOWN)));
        }
        let sectorsize = le32(b, 0x90);
        let nodesize = le32(b, 0x94);
        if !sectorsize.is_power_of_two() || !(4096..=65536).contains(&sectorsize) {
            return Err(c(format!("superblock sectorsize {sectorsize}")));
        }
        if !nodesize.is_power_of_two() || !(4096..=65536).contains(&nodesize) || nodesize < sectorsize {
            return Err(c(format!("superblock nodesize {nodesize}")));
        }
        let root_level = b[0xc6];
        let chunk_root_level = b[0xc7];
        if root_level >= super::node::MAX_LEVEL || chunk_root_level >= super::node::MAX_LEVEL {
            return Err(c(format!("superblock tree levels {root_level}/{chunk_root_level}")));
        }
        let fsid: [u8; 16] = array(b, 0x20);
        let meta_uuid = if incompat & 0x400 != 0 { array(b, 0x23b) } else { fsid };
        let sys_size = le32(b, 0xa0) as usize;
        if sys_size > SYS_ARRAY_MAX {
            return Err(c(format!("sys_chunk_array_size {sys_size}")));
        }
        let sys_chunks = parse_sys_array(&b[SYS_ARRAY_OFF..SYS_ARRAY_OFF + sys_size]).map_err(c)?;
        let label = b[0x12b..0x22b].split(|&x| x == 0).next().unwrap_or(&[]).to_vec();
        Ok(Superblock {
            fsid,
            meta_uuid,
            bytenr: le64(b, 0x30),
            generation: le64(b, 0x48),
            root: le64(b, 0x50),
            root_level,
            chunk_root: le64(b, 0x58),
            chunk_root_level,
            log_root: le64(b, 0x60),
            total_bytes: le64(b, 0x70),
            bytes_used: le64(b, 0x78),
            num_devices: le64(b, 0x88),
            sectorsize,
            nodesize,
            incompat,
            devid: le64(b, 0xc9),
            label,
            sys_chunks,
        })
    }
}

/// Parses the `sys_chunk_array`: (key, chunk item) pairs, each key of type CHUNK_ITEM.
pub fn parse_sys_array(mut a: &[u8]) -> Result<Vec<Chunk>, String> {
    let mut out = Vec::new();
    while !a.is_empty() {
        if a.len() < 17 {
            return Err(format!("sys_chunk_array: {} trailing bytes", a.len()));
        }
        let key = super::node::Key::parse(a);
        if key.ty != super::node::CHUNK_ITEM {
            return Err(format!("sys_chunk_array: key type {} is not CHUNK_ITEM", key.ty));
        }
        a = &a[17..];
        let (chunk, used) = chunk::parse_item(key.offset, a).map_err(|m| format!("sys_chunk_array: {m}"))?;
        out.push(chunk);
        a = &a[used..];
    }
    Ok(out)
}
