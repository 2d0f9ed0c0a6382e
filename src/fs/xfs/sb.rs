//! The superblock (`xfs_dsb`): geometry and feature bits, verified (magic, v5 CRC, geometry)
//! before anything else is read. Big-endian, at byte 0 of AG 0.

use super::crc;
use crate::bytes::{be16, be32, be64};

/// `versionnum` low nibble.
const VERSION_MASK: u16 = 0x000f;
/// `versionnum`: `features2` is valid.
const VERSION_MOREBITS: u16 = 0x8000;
/// `versionnum`: case-insensitive names (ASCII CI).
const VERSION_BORG: u16 = 0x4000;
/// `versionnum`: inode chunks are aligned (`sb_inoalignmt`).
const VERSION_ALIGN: u16 = 0x0080;
/// `XFS_SB_VERSION_ATTRBIT`: some inode has attributes (v4).
pub const VERSION_ATTRBIT: u16 = 0x0010;
/// `features2`: directory entries carry the file type (v4).
const F2_FTYPE: u32 = 0x0200;
/// `features_incompat` bits.
const INCOMPAT_FTYPE: u32 = 0x1;
const INCOMPAT_SPINODES: u32 = 0x2;
const INCOMPAT_META_UUID: u32 = 0x4;
const INCOMPAT_BIGTIME: u32 = 0x8;
const INCOMPAT_NEEDSREPAIR: u32 = 0x10;
const INCOMPAT_NREXT64: u32 = 0x20;
const INCOMPAT_EXCHRANGE: u32 = 0x40;
const INCOMPAT_PARENT: u32 = 0x80;
const INCOMPAT_METADIR: u32 = 0x100;
/// Every incompatible feature the reader understands.
const INCOMPAT_KNOWN: u32 = INCOMPAT_FTYPE
    | INCOMPAT_SPINODES
    | INCOMPAT_META_UUID
    | INCOMPAT_BIGTIME
    | INCOMPAT_NREXT64
    | INCOMPAT_EXCHRANGE
    | INCOMPAT_PARENT;
/// `features_ro_compat`: free inode btree.
pub(crate) const RO_COMPAT_FINOBT: u32 = 0x1;
/// `features_ro_compat`: the AGI counts the inode btrees' blocks (`agi_iblocks`, `agi_fblocks`).
pub(crate) const RO_COMPAT_INOBTCOUNT: u32 = 0x8;
/// `features_ro_compat`: reverse-mapping btree.
pub(crate) const RO_COMPAT_RMAPBT: u32 = 0x2;
/// `features_ro_compat` bit: reflink (the AGs have refcount btrees).
pub(crate) const RO_COMPAT_REFLINK: u32 = 0x4;
/// Byte offset of `sb_crc`.
pub(crate) const CRC_OFF: usize = 224;

/// Why a superblock cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum SbError {
    /// Damaged: what is wrong.
    Corrupt(String),
    /// Valid but uses a feature the reader does not handle: its name.
    Unsupported(String),
}

/// The superblock fields the reader uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// Filesystem block size in bytes (512..=65536).
    pub blocksize: u32,
    /// log2 of `blocksize`.
    pub blocklog: u8,
    /// Data blocks.
    pub dblocks: u64,
    /// Filesystem UUID (the one stamped in v5 metadata: `meta_uuid` when set).
    pub meta_uuid: [u8; 16],
    /// First block of the internal log (0: external log).
    pub logstart: u64,
    /// Log size in blocks.
    pub logblocks: u32,
    /// Root directory inode.
    pub rootino: u64,
    /// Blocks per allocation group.
    pub agblocks: u32,
    /// log2 of `agblocks`, rounded up.
    pub agblklog: u8,
    /// Allocation groups.
    pub agcount: u32,
    /// Sector size in bytes.
    pub sectsize: u16,
    /// Inode size in bytes.
    pub inodesize: u16,
    /// log2 of `inodesize`.
    pub inodelog: u8,
    /// log2 of inodes per block.
    pub inopblog: u8,
    /// Directory block size in bytes (`blocksize << dirblklog`).
    pub dirblksize: u32,
    /// Allocated inodes.
    pub icount: u64,
    /// Free inodes.
    pub ifree: u64,
    /// Free data blocks.
    pub fdblocks: u64,
    /// Maximum percentage of space for inodes.
    pub imax_pct: u8,
    /// Version 5 (CRC-protected metadata).
    pub crc: bool,
    /// Directory entries carry a file type.
    pub ftype: bool,
    /// 64-bit extent counters in inodes.
    pub nrext64: bool,
    /// `features_ro_compat`.
    pub ro_compat: u32,
    /// Case-insensitive names (lookup still compares bytes).
    pub ascii_ci: bool,
    /// Attributes with a movable fork boundary (attr2; always on v5, `features2` bit 0x8 on
    /// v4 — the attribute bit of `versionnum` only says that some inode has attributes).
    pub attr2: bool,
    /// Inode chunk alignment in blocks (`sb_inoalignmt`; 0 without the align feature).
    pub inoalignmt: u32,
    /// Sparse inode chunks: the inode btree records carry a hole mask.
    pub sparse_inodes: bool,
    /// Alignment in blocks of sparse inode chunks (`sb_spino_align`; 0 without sparse inodes,
    /// and when a block holds a whole chunk).
    pub spino_align: u32,
    /// Timestamps are 64-bit nanosecond counters (bigtime).
    pub bigtime: bool,
}

fn corrupt(msg: impl Into<String>) -> SbError {
    SbError::Corrupt(format!("superblock: {}", msg.into()))
}

/// Whether `v` is a power of two equal to `1 << log`, within `lo..=hi`.
fn pow2(v: u32, log: u8, lo: u32, hi: u32) -> bool {
    (lo..=hi).contains(&v) && u32::from(log) < 32 && v == 1 << log
}

impl Superblock {
    /// Parses and verifies a superblock sector (`b` holds at least the sector: 512 bytes, or
    /// the sector size once known). Refuses realtime devices, external logs, metadir,
    /// needsrepair and unknown incompatible features by name.
    pub fn parse(b: &[u8]) -> Result<Superblock, SbError> {
        if b.len() < 512 || &b[0..4] != b"XFSB" {
            return Err(corrupt("bad magic (not XFSB)"));
        }
        let versionnum = be16(b, 100);
        let version = versionnum & VERSION_MASK;
        let crc = match version {
            4 => false,
            5 => true,
            v => return Err(SbError::Unsupported(format!("superblock version {v}"))),
        };
        let sectsize = be16(b, 102);
        let sectlog = b[121];
        if !pow2(u32::from(sectsize), sectlog, 512, 32768) {
            return Err(corrupt(format!("sector size {sectsize}")));
        }
        if crc {
            let n = usize::from(sectsize);
            let Some(sector) = b.get(..n) else { return Err(corrupt("short sector")) };
            if !crc::verify(sector, CRC_OFF) {
                return Err(corrupt("bad CRC"));
            }
        }
        let blocksize = be32(b, 4);
        let blocklog = b[120];
        if !pow2(blocksize, blocklog, 512, 65536) {
            return Err(corrupt(format!("block size {blocksize}")));
        }
        let inodesize = be16(b, 104);
        let inodelog = b[122];
        if !pow2(u32::from(inodesize), inodelog, 256, 2048) || u32::from(inodesize) > blocksize {
            return Err(corrupt(format!("inode size {inodesize}")));
        }
        let inopblog = b[123];
        if blocklog.checked_sub(inodelog) != Some(inopblog) {
            return Err(corrupt("inodes per block does not match the block and inode sizes"));
        }
        let agblocks = be32(b, 84);
        let agcount = be32(b, 88);
        let agblklog = b[124];
        if agcount == 0 || agblocks < 64 || agblklog > 31 || u64::from(agblocks) > 1 << agblklog || agblklog == 0 || 1u64 << (agblklog - 1) >= u64::from(agblocks) {
            return Err(corrupt(format!("allocation groups: {agcount} of {agblocks} blocks (log {agblklog})")));
        }
        if u32::from(agblklog) + u32::from(inopblog) > 32 {
            return Err(corrupt("inode number layout exceeds 64 bits"));
        }
        let dblocks = be64(b, 8);
        let max = u64::from(agcount) * u64::from(agblocks);
        if dblocks == 0 || dblocks > max || dblocks < max - u64::from(agblocks) + 1 {
            return Err(corrupt(format!("{dblocks} data blocks for {agcount} groups of {agblocks}")));
        }
        if dblocks.checked_mul(u64::from(blocksize)).is_none() {
            return Err(corrupt(format!("{dblocks} blocks of {blocksize} bytes overflow 64 bits")));
        }
        let dirblklog = b[192];
        if u32::from(blocklog) + u32::from(dirblklog) > 16 {
            return Err(corrupt(format!("directory block log {dirblklog}")));
        }
        let features2 = if versionnum & VERSION_MOREBITS != 0 { be32(b, 200) } else { 0 };
        let (ro_compat, incompat) = if crc { (be32(b, 212), be32(b, 216)) } else { (0, 0) };
        if be64(b, 16) != 0 || be32(b, 92) != 0 {
            return Err(SbError::Unsupported("realtime device".into()));
        }
        let logstart = be64(b, 48);
        if logstart == 0 {
            return Err(SbError::Unsupported("external log".into()));
        }
        if incompat & INCOMPAT_METADIR != 0 {
            return Err(SbError::Unsupported("metadir".into()));
        }
        if incompat & INCOMPAT_NEEDSREPAIR != 0 {
            return Err(SbError::Unsupported("needsrepair (run xfs_repair)".into()));
        }
        if incompat & !INCOMPAT_KNOWN != 0 {
            return Err(SbError::Unsupported(format!("unknown incompatible features {:#x}", incompat & !INCOMPAT_KNOWN)));
        }
        let mut meta_uuid = [0u8; 16];
        meta_uuid.copy_from_slice(&b[32..48]);
        if incompat & INCOMPAT_META_UUID != 0 {
            meta_uuid.copy_from_slice(&b[248..264]);
        }
        Ok(Superblock {
            blocksize,
            blocklog,
            dblocks,
            meta_uuid,
            logstart,
            logblocks: be32(b, 96),
            rootino: be64(b, 56),
            agblocks,
            agblklog,
            agcount,
            sectsize,
            inodesize,
            inodelog,
            inopblog,
            dirblksize: blocksize << dirblklog,
            icount: be64(b, 128),
            ifree: be64(b, 136),
            fdblocks: be64(b, 144),
            imax_pct: b[127],
            crc,
            ftype: if crc { incompat & INCOMPAT_FTYPE != 0 } else { features2 & F2_FTYPE != 0 },
            nrext64: incompat & INCOMPAT_NREXT64 != 0,
            ro_compat,
            ascii_ci: versionnum & VERSION_BORG != 0,
            attr2: crc || (versionnum & VERSION_MOREBITS != 0 && features2 & 0x8 != 0),
            inoalignmt: if versionnum & VERSION_ALIGN != 0 { be32(b, 180) } else { 0 },
            sparse_inodes: incompat & INCOMPAT_SPINODES != 0,
            spino_align: if incompat & INCOMPAT_SPINODES != 0 { be32(b, 228) } else { 0 },
            bigtime: incompat & INCOMPAT_BIGTIME != 0,
        })
    }

    /// Byte offset on the device of filesystem block `fsb` (AG number in the high bits), with
    /// `count` blocks from it inside one allocation group and the data device; `None` when out
    /// of range.
    pub fn fsb_to_byte(&self, fsb: u64, count: u64) -> Option<u64> {
        let agno = fsb >> self.agblklog;
        let agbno = fsb & ((1u64 << self.agblklog) - 1);
        if agno >= u64::from(self.agcount) || agbno.checked_add(count)? > u64::from(self.agblocks) {
            return None;
        }
        let linear = agno * u64::from(self.agblocks) + agbno;
        if linear + count > self.dblocks {
            return None;
        }
        Some(linear << self.blocklog)
    }

    /// The filesystem block holding inode `ino` (its AG and AG block, from the inode number).
    pub fn ino_to_fsb(&self, ino: u64) -> u64 {
        let agno = ino >> (self.agblklog + self.inopblog);
        let agbno = (ino >> self.inopblog) & ((1u64 << self.agblklog) - 1);
        (agno << self.agblklog) | agbno
    }

    /// Byte offset of inode `ino` on the device, `None` when the number is out of range.
    pub fn ino_to_byte(&self, ino: u64) -> Option<u64> {
        let shift = u32::from(self.agblklog) + u32::from(self.inopblog);
        let agno = ino.checked_shr(shift).unwrap_or(0);
        let agbno = (ino >> self.inopblog) & ((1u64 << self.agblklog) - 1);
        let off = ino & ((1u64 << self.inopblog) - 1);
        let block = self.fsb_to_byte((agno << self.agblklog) | agbno, 1)?;
        if agno >= u64::from(self.agcount) {
            return None;
        }
        Some(block + (off << self.inodelog))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal valid v4 superblock: 4 KiB blocks, one AG of 16384 blocks.
    fn v4() -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[0..4].copy_from_slice(b"XFSB");
        b[4..8].copy_from_slice(&4096u32.to_be_bytes());
        b[8..16].copy_from_slice(&16384u64.to_be_bytes());
        b[48..56].copy_from_slice(&8192u64.to_be_bytes());
        b[56..64].copy_from_slice(&128u64.to_be_bytes());
        b[84..88].copy_from_slice(&16384u32.to_be_bytes());
        b[88..92].copy_from_slice(&1u32.to_be_bytes());
        b[100..102].copy_from_slice(&0xb4a4u16.to_be_bytes());
        b[102..104].copy_from_slice(&512u16.to_be_bytes());
        b[104..106].copy_from_slice(&256u16.to_be_bytes());
        b[120] = 12;
        b[121] = 9;
        b[122] = 8;
        b[123] = 4;
        b[124] = 14;
        b
    }

    #[test]
    fn parses_v4_and_maps_numbers() {
        let sb = Superblock::parse(&v4()).unwrap();
        assert!(!sb.crc);
        assert_eq!(sb.ino_to_byte(128), Some(8 * 4096));
        assert_eq!(sb.fsb_to_byte(16383, 1), Some(16383 * 4096));
        assert_eq!(sb.fsb_to_byte(16383, 2), None);
        assert_eq!(sb.fsb_to_byte(1 << 14, 1), None);
        assert_eq!(sb.ino_to_byte(u64::MAX), None);
    }

    #[test]
    fn hostile_values_are_errors() {
        let mut b = v4();
        b[0] = b'Y';
        assert!(matches!(Superblock::parse(&b), Err(SbError::Corrupt(m)) if m.contains("magic")));
        let mut b = v4();
        b[120] = 40;
        assert!(Superblock::parse(&b).is_err());
        let mut b = v4();
        b[8..16].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(Superblock::parse(&b).is_err());
        let mut b = v4();
        b[48..56].copy_from_slice(&0u64.to_be_bytes());
        assert_eq!(Superblock::parse(&b), Err(SbError::Unsupported("external log".into())));
        let mut b = v4();
        b[16..24].copy_from_slice(&5u64.to_be_bytes());
        assert_eq!(Superblock::parse(&b), Err(SbError::Unsupported("realtime device".into())));
        let mut b = v4();
        b[100..102].copy_from_slice(&0xb4a5u16.to_be_bytes());
        assert!(matches!(Superblock::parse(&b), Err(SbError::Corrupt(m)) if m.contains("CRC")));
        assert!(Superblock::parse(&b[..100]).is_err());
    }

    #[test]
    fn v5_refuses_unknown_incompat_and_needsrepair() {
        let mut b = v4();
        b[100..102].copy_from_slice(&0xb4a5u16.to_be_bytes());
        b[216..220].copy_from_slice(&0x10u32.to_be_bytes());
        crc::stamp(&mut b, CRC_OFF);
        assert!(matches!(Superblock::parse(&b), Err(SbError::Unsupported(m)) if m.contains("needsrepair")));
        b[216..220].copy_from_slice(&0x8000u32.to_be_bytes());
        crc::stamp(&mut b, CRC_OFF);
        assert!(matches!(Superblock::parse(&b), Err(SbError::Unsupported(m)) if m.contains("unknown")));
        b[216..220].copy_from_slice(&0x100u32.to_be_bytes());
        crc::stamp(&mut b, CRC_OFF);
        assert!(matches!(Superblock::parse(&b), Err(SbError::Unsupported(m)) if m.contains("metadir")));
        b[216..220].copy_from_slice(&0x1u32.to_be_bytes());
        crc::stamp(&mut b, CRC_OFF);
        assert!(Superblock::parse(&b).unwrap().crc);
    }
}
