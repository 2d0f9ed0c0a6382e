//! Allocation group headers: the AGF (free space, sector 1 of the AG) and the AGI (inodes,
//! sector 2), checked (magic, version, sequence number, length, v5 CRC and UUID). The AGFL
//! (sector 3) is in [`super::agfl`]. [`Agf::encode`] and [`Agi::encode`] write the fields back
//! (the writer stamps LSN and CRC through [`super::buf`]). [`Layout`] places the headers and
//! btree roots of a new AG as mkfs and growfs do; [`Agf::new_sector`] and [`new_agi_sector`]
//! make its headers.

use super::crc;
use super::sb::Superblock;
use crate::bytes::{be32, bytes};

const XAGF: u32 = 0x5841_4746;
const XAGI: u32 = 0x5841_4749;

/// Byte offset of the AGF's LSN and CRC.
pub const AGF_LSN_OFF: usize = 208;
/// Byte offset of the AGF's CRC.
pub const AGF_CRC_OFF: usize = 216;

/// Byte offset of the AGI's CRC.
pub const AGI_CRC_OFF: usize = 312;
/// Byte offset of the AGI's LSN.
pub const AGI_LSN_OFF: usize = 320;
/// Byte offset of `agi_length`.
pub const AGI_LENGTH_OFF: usize = 12;
/// `NULLAGINO`: no inode (`agi_newino` before the first chunk, `di_next_unlinked`).
pub const NULLAGINO: u32 = u32::MAX;

/// Where a new AG's fixed blocks are (`XFS_BNO_BLOCK`… and `xfs_prealloc_blocks`): the
/// headers' sectors, then one root block per btree the filesystem has, in the kernel's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Root of the by-block free-space btree.
    pub bno: u32,
    /// Root of the by-size free-space btree.
    pub cnt: u32,
    /// Root of the inode btree.
    pub ino: u32,
    /// Root of the free-inode btree (finobt filesystems).
    pub fino: Option<u32>,
    /// Root of the reverse-mapping btree (rmapbt filesystems).
    pub rmap: Option<u32>,
    /// Root of the refcount btree (reflink filesystems).
    pub refc: Option<u32>,
    /// The first block free for data: everything before it is headers and roots.
    pub first_free: u32,
}

impl Layout {
    /// The layout of `sb`'s AGs (`ro_compat` bits: finobt 0x1, rmapbt 0x2, reflink 0x4).
    pub fn of(sb: &Superblock) -> Layout {
        // The AGFL is the fourth sector; its block is the last one the headers touch.
        let agfl_block = (3 * u32::from(sb.sectsize)) >> sb.blocklog;
        let (bno, cnt, ino) = (agfl_block + 1, agfl_block + 2, agfl_block + 3);
        let mut next = ino + 1;
        let mut take = |has: bool| {
            has.then(|| {
                next += 1;
                next - 1
            })
        };
        let fino = take(sb.ro_compat & 0x1 != 0);
        let rmap = take(sb.ro_compat & 0x2 != 0);
        let refc = take(sb.ro_compat & 0x4 != 0);
        Layout { bno, cnt, ino, fino, rmap, refc, first_free: next }
    }
}

/// The AGF (`xfs_agf`): everything the free-space code keeps in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agf {
    /// Blocks in this AG.
    pub length: u32,
    /// Root blocks of the by-block and by-size free-space btrees.
    pub bno_root: u32,
    /// Root of the by-size btree.
    pub cnt_root: u32,
    /// Root of the rmap btree (rmapbt filesystems).
    pub rmap_root: u32,
    /// Levels of the by-block btree.
    pub bno_level: u32,
    /// Levels of the by-size btree.
    pub cnt_level: u32,
    /// Levels of the rmap btree.
    pub rmap_level: u32,
    /// First AGFL slot in use.
    pub flfirst: u32,
    /// Last AGFL slot in use.
    pub fllast: u32,
    /// AGFL slots in use.
    pub flcount: u32,
    /// Free blocks in the AG (the free-space btrees' records, not the AGFL).
    pub freeblks: u32,
    /// Longest free extent.
    pub longest: u32,
    /// Blocks in the free-space (and rmap) btrees beyond their roots.
    pub btreeblks: u32,
    /// Blocks of the rmap btree (root included).
    pub rmap_blocks: u32,
    /// Blocks of the refcount btree (root included).
    pub refcount_blocks: u32,
    /// Root of the refcount btree.
    pub refcount_root: u32,
    /// Levels of the refcount btree.
    pub refcount_level: u32,
}

/// The AGI (`xfs_agi`): inode counts and the inode btrees' roots (the unlinked lists are
/// left as they are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agi {
    /// Blocks in this AG.
    pub length: u32,
    /// Allocated inodes in the AG.
    pub count: u32,
    /// Root of the inode btree.
    pub root: u32,
    /// Levels of the inode btree.
    pub level: u32,
    /// Free inodes among them.
    pub freecount: u32,
    /// First inode of the chunk allocated last ([`NULLAGINO`] before any).
    pub newino: u32,
    /// Root of the free inode btree (finobt filesystems).
    pub free_root: u32,
    /// Levels of the free inode btree.
    pub free_level: u32,
    /// Blocks of the inode btree (inobtcount filesystems).
    pub iblocks: u32,
    /// Blocks of the free inode btree (inobtcount filesystems).
    pub fblocks: u32,
}

/// Common checks: magic, version 1, sequence number, AG length, and on v5 the UUID and CRC.
fn check(sb: &Superblock, b: &[u8], agno: u32, magic: u32, what: &str, uuid_off: usize, crc_off: usize) -> Result<(), String> {
    let n = usize::from(sb.sectsize);
    if b.len() < n || be32(b, 0) != magic {
        return Err(format!("{what} of AG {agno}: bad magic"));
    }
    if be32(b, 4) != 1 || be32(b, 8) != agno {
        return Err(format!("{what} of AG {agno}: version {} and sequence number {}", be32(b, 4), be32(b, 8)));
    }
    let last = sb.dblocks - u64::from(agno) * u64::from(sb.agblocks);
    let want = last.min(u64::from(sb.agblocks));
    if u64::from(be32(b, 12)) != want {
        return Err(format!("{what} of AG {agno}: length {} instead of {want}", be32(b, 12)));
    }
    if sb.crc {
        if !crc::verify(&b[..n], crc_off) {
            return Err(format!("{what} of AG {agno}: bad CRC"));
        }
        if bytes(b, uuid_off, 16) != sb.meta_uuid {
            return Err(format!("{what} of AG {agno}: UUID of another filesystem"));
        }
    }
    Ok(())
}

impl Agf {
    /// Parses the AGF sector of AG `agno`.
    pub fn parse(sb: &Superblock, agno: u32, b: &[u8]) -> Result<Agf, String> {
        check(sb, b, agno, XAGF, "AGF", 64, 216)?;
        let agf = Agf {
            length: be32(b, 12),
            bno_root: be32(b, 16),
            cnt_root: be32(b, 20),
            rmap_root: be32(b, 24),
            bno_level: be32(b, 28),
            cnt_level: be32(b, 32),
            rmap_level: be32(b, 36),
            flfirst: be32(b, 40),
            fllast: be32(b, 44),
            flcount: be32(b, 48),
            freeblks: be32(b, 52),
            longest: be32(b, 56),
            btreeblks: be32(b, 60),
            rmap_blocks: be32(b, 80),
            refcount_blocks: be32(b, 84),
            refcount_root: be32(b, 88),
            refcount_level: be32(b, 92),
        };
        if agf.freeblks > agf.length || agf.longest > agf.freeblks {
            return Err(format!("AGF of AG {agno}: {} free blocks, longest extent {}", agf.freeblks, agf.longest));
        }
        Ok(agf)
    }

    /// The AGF sector of a new AG `agno` of `length` blocks laid out as `l`, all of its space
    /// after the roots free (one extent, `xfs_agfblock_init`; the AGFL empty).
    pub fn new_sector(sb: &Superblock, agno: u32, length: u32, l: &Layout) -> Vec<u8> {
        let free = length - l.first_free;
        let agf = Agf {
            length,
            bno_root: l.bno,
            cnt_root: l.cnt,
            rmap_root: l.rmap.unwrap_or(0),
            bno_level: 1,
            cnt_level: 1,
            rmap_level: u32::from(l.rmap.is_some()),
            flfirst: 1,
            fllast: 0,
            flcount: 0,
            freeblks: free,
            longest: free,
            btreeblks: 0,
            rmap_blocks: u32::from(l.rmap.is_some()),
            refcount_blocks: u32::from(l.refc.is_some()),
            refcount_root: l.refc.unwrap_or(0),
            refcount_level: u32::from(l.refc.is_some()),
        };
        let mut b = header_sector(sb, XAGF, agno, 64);
        agf.encode(&mut b);
        b
    }

    /// Writes the fields into the AGF sector `b` (parsed from it before: magic, version,
    /// sequence number and UUID stay); the caller stamps LSN and CRC.
    pub fn encode(&self, b: &mut [u8]) {
        let fields = [
            (12, self.length),
            (16, self.bno_root),
            (20, self.cnt_root),
            (24, self.rmap_root),
            (28, self.bno_level),
            (32, self.cnt_level),
            (36, self.rmap_level),
            (40, self.flfirst),
            (44, self.fllast),
            (48, self.flcount),
            (52, self.freeblks),
            (56, self.longest),
            (60, self.btreeblks),
            (80, self.rmap_blocks),
            (84, self.refcount_blocks),
            (88, self.refcount_root),
            (92, self.refcount_level),
        ];
        for (at, v) in fields {
            b[at..at + 4].copy_from_slice(&v.to_be_bytes());
        }
    }
}

/// A zeroed header sector with magic, version 1, sequence number and (v5) the UUID at `uuid_off`.
fn header_sector(sb: &Superblock, magic: u32, agno: u32, uuid_off: usize) -> Vec<u8> {
    let mut b = vec![0u8; usize::from(sb.sectsize)];
    b[0..4].copy_from_slice(&magic.to_be_bytes());
    b[4..8].copy_from_slice(&1u32.to_be_bytes());
    b[8..12].copy_from_slice(&agno.to_be_bytes());
    if sb.crc {
        b[uuid_off..uuid_off + 16].copy_from_slice(&sb.meta_uuid);
    }
    b
}

/// The AGI sector of a new AG (`xfs_agiblock_init`): no inodes, empty inode btrees rooted as
/// `l` says, no unlinked lists; with the inobtcount feature (`ro_compat` 0x8) one block each.
pub fn new_agi_sector(sb: &Superblock, agno: u32, length: u32, l: &Layout) -> Vec<u8> {
    let mut b = header_sector(sb, XAGI, agno, 296);
    let mut set = |at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_be_bytes());
    set(AGI_LENGTH_OFF, length);
    set(20, l.ino);
    set(24, 1);
    set(32, NULLAGINO);
    set(36, NULLAGINO);
    for bucket in 0..64 {
        set(40 + 4 * bucket, NULLAGINO);
    }
    if let Some(f) = l.fino {
        set(328, f);
        set(332, 1);
    }
    if sb.ro_compat & 0x8 != 0 {
        set(336, 1);
        set(340, u32::from(l.fino.is_some()));
    }
    b
}

impl Agi {
    /// Parses the AGI sector of AG `agno`.
    pub fn parse(sb: &Superblock, agno: u32, b: &[u8]) -> Result<Agi, String> {
        check(sb, b, agno, XAGI, "AGI", 296, 312)?;
        let agi = Agi {
            length: be32(b, 12),
            count: be32(b, 16),
            root: be32(b, 20),
            level: be32(b, 24),
            freecount: be32(b, 28),
            newino: be32(b, 32),
            free_root: be32(b, 328),
            free_level: be32(b, 332),
            iblocks: be32(b, 336),
            fblocks: be32(b, 340),
        };
        if agi.freecount > agi.count {
            return Err(format!("AGI of AG {agno}: {} free of {} inodes", agi.freecount, agi.count));
        }
        Ok(agi)
    }

    /// Writes the fields into the AGI sector `b` (parsed from it before); the caller stamps
    /// LSN and CRC.
    pub fn encode(&self, b: &mut [u8]) {
        let fields = [
            (AGI_LENGTH_OFF, self.length),
            (16, self.count),
            (20, self.root),
            (24, self.level),
            (28, self.freecount),
            (32, self.newino),
            (328, self.free_root),
            (332, self.free_level),
            (336, self.iblocks),
            (340, self.fblocks),
        ];
        for (at, v) in fields {
            b[at..at + 4].copy_from_slice(&v.to_be_bytes());
        }
    }
}
