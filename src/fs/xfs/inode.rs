//! The on-disk inode (`xfs_dinode`): the v1/v2 core (100 bytes) or v3 core (176 bytes, with
//! CRC, owner and UUID), followed by the data fork and, from `di_forkoff`, the attribute fork.
//!
//! Write side: [`init_free`] stamps the free inodes of a new chunk (`xfs_ialloc_inode_init`),
//! [`init_new`] makes a free inode a new file, directory, symlink or special file as the
//! kernel's `xfs_init_new_inode` does, [`reset_free`] returns one to the free state
//! (`xfs_ifree`); [`set_local_fork`], [`set_nlink`], [`set_data_extents`],
//! [`set_data_btree_root`], [`set_attr_extents`], [`set_attr_btree_root`], [`set_size_blocks`], [`set_mode`], [`set_owner`], [`set_times`] and [`touch`] edit an inode
//! in use, and [`seal`] stamps it.

use super::crc;
use super::sb::Superblock;
use crate::bytes::{be16, be32, be64};
use crate::fs::{makedev, Timespec};

/// Fork formats (`di_format`, `di_aformat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Device number (special files).
    Dev,
    /// Data inside the inode.
    Local,
    /// An array of extent records inside the inode.
    Extents,
    /// The root of a bmap btree inside the inode.
    Btree,
}

/// `di_magic`.
const MAGIC: u16 = 0x494e;
/// `S_IFMT` type bits.
const S_IFMT: u16 = 0o170000;
/// `di_flags2` bit: timestamps are 64-bit nanosecond counters.
const DIFLAG2_BIGTIME: u64 = 1 << 3;
/// `di_flags2` bit: 64-bit extent counters.
pub(crate) const DIFLAG2_NREXT64: u64 = 1 << 4;
/// Byte offset of `di_crc` in a v3 inode.
const CRC_OFF: usize = 100;

/// A parsed inode: the core fields and its forks' bytes.
#[derive(Debug, Clone)]
pub struct Inode {
    /// Inode number.
    pub ino: u64,
    /// `di_mode`.
    pub mode: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Link count.
    pub nlink: u32,
    /// Size in bytes.
    pub size: u64,
    /// Blocks allocated (data, attr fork and btree blocks).
    pub nblocks: u64,
    /// Access, modification, change times.
    pub atime: Timespec,
    /// Modification time.
    pub mtime: Timespec,
    /// Change time.
    pub ctime: Timespec,
    /// Data fork format.
    pub format: Format,
    /// Data fork extent count.
    pub nextents: u64,
    /// Attribute fork format, `None` without an attribute fork.
    pub aformat: Option<Format>,
    /// Attribute fork extent count.
    pub anextents: u64,
    /// The data fork bytes (inside the inode).
    pub data_fork: Vec<u8>,
    /// The attribute fork bytes (inside the inode).
    pub attr_fork: Vec<u8>,
    /// Device number for character and block devices (`makedev`).
    pub rdev: u64,
}

fn format(v: u8, what: &str) -> Result<Format, String> {
    Ok(match v {
        0 => Format::Dev,
        1 => Format::Local,
        2 => Format::Extents,
        3 => Format::Btree,
        _ => return Err(format!("{what} format {v} not supported")),
    })
}

fn time(b: &[u8], at: usize, bigtime: bool) -> Timespec {
    if bigtime {
        let ns = be64(b, at);
        Timespec { sec: (ns / 1_000_000_000) as i64 - (1i64 << 31), nsec: (ns % 1_000_000_000) as u32 }
    } else {
        Timespec { sec: i64::from(be32(b, at) as i32), nsec: be32(b, at + 4).min(999_999_999) }
    }
}

impl Inode {
    /// Parses inode `ino` from its `sb.inodesize` bytes `b`, verifying magic, version, CRC
    /// and self-identification (v3), and the fork offsets.
    pub fn parse(sb: &Superblock, ino: u64, b: &[u8]) -> Result<Inode, String> {
        let what = |m: &str| format!("inode {ino}: {m}");
        if b.len() != usize::from(sb.inodesize) || be16(b, 0) != 0x494e {
            return Err(what("bad magic"));
        }
        let version = b[4];
        let core = match (version, sb.crc) {
            (1 | 2, false) => 100,
            (3, true) => 176,
            (v, _) => return Err(what(&format!("version {v} on a v{} filesystem", if sb.crc { 5 } else { 4 }))),
        };
        if version == 3 {
            if !crc::verify(b, CRC_OFF) {
                return Err(what("bad CRC"));
            }
            if be64(b, 152) != ino {
                return Err(what(&format!("records inode number {}", be64(b, 152))));
            }
            if b[160..176] != sb.meta_uuid {
                return Err(what("UUID of another filesystem"));
            }
        }
        let mode = be16(b, 2);
        let flags2 = if version == 3 { be64(b, 120) } else { 0 };
        let bigtime = flags2 & DIFLAG2_BIGTIME != 0;
        let nrext64 = flags2 & DIFLAG2_NREXT64 != 0;
        let (nextents, anextents) = if nrext64 {
            (be64(b, 24), u64::from(be32(b, 76)))
        } else {
            (u64::from(be32(b, 76)), u64::from(be16(b, 80)))
        };
        let forkoff = usize::from(b[82]) * 8;
        let literal = b.len() - core;
        if forkoff > literal {
            return Err(what(&format!("attribute fork offset {forkoff} past the literal area")));
        }
        let fmt = format(b[5], "data fork").map_err(|m| what(&m))?;
        let (data_end, aformat) = if forkoff == 0 {
            (b.len(), None)
        } else {
            (core + forkoff, Some(format(b[83], "attribute fork").map_err(|m| what(&m))?))
        };
        let data_fork = b[core..data_end].to_vec();
        let attr_fork = b[data_end..].to_vec();
        let rdev = if fmt == Format::Dev {
            let d = be32(&data_fork, 0);
            makedev((d >> 18) & 0x3fff, d & 0x3ffff)
        } else {
            0
        };
        Ok(Inode {
            ino,
            mode,
            uid: be32(b, 8),
            gid: be32(b, 12),
            nlink: if version == 1 { u32::from(be16(b, 6)) } else { be32(b, 16) },
            size: be64(b, 56),
            nblocks: be64(b, 64),
            atime: time(b, 32, bigtime),
            mtime: time(b, 40, bigtime),
            ctime: time(b, 48, bigtime),
            format: fmt,
            nextents,
            aformat,
            anextents,
            data_fork,
            attr_fork,
            rdev,
        })
    }

    /// The `S_IFMT` type bits.
    pub fn kind(&self) -> u16 {
        self.mode & S_IFMT
    }
}

/// What a new inode is made of ([`init_new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInode {
    /// `di_mode`: file type and permission bits.
    pub mode: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device number (`makedev`) of a character or block device.
    pub rdev: u64,
    /// A new directory's parent (its `..`).
    pub parent: u64,
    /// A symlink's target (kept inside the inode: it must fit the literal area).
    pub target: Vec<u8>,
}

/// The current time.
pub fn now() -> Timespec {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Timespec { sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX), nsec: d.subsec_nanos() }
}

/// Size of the inode core: 176 bytes (v3) or 100.
pub fn core_len(sb: &Superblock) -> usize {
    if sb.crc { 176 } else { 100 }
}

/// `di_flags2` of a new v3 inode (the kernel's `new_diflags2`): bigtime and nrext64 as the
/// filesystem has them.
pub fn new_flags2(sb: &Superblock) -> u64 {
    (if sb.bigtime { DIFLAG2_BIGTIME } else { 0 }) | if sb.nrext64 { DIFLAG2_NREXT64 } else { 0 }
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_be_bytes());
}

/// Encodes `t` at `at`: bigtime nanoseconds since 1901-12-13, else 32-bit seconds and
/// nanoseconds (clamped to what each can hold).
fn put_time(b: &mut [u8], at: usize, t: Timespec, bigtime: bool) {
    let nsec = t.nsec.min(999_999_999);
    if bigtime {
        let secs = (t.sec.clamp(-(1i64 << 31), (1i64 << 34) - 1 - (1i64 << 31)) + (1i64 << 31)) as u64;
        put64(b, at, secs * 1_000_000_000 + u64::from(nsec));
    } else {
        put32(b, at, t.sec.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32 as u32);
        put32(b, at + 4, nsec);
    }
}

/// Replaces the local data fork of inode `b` (a shortform directory, a short symlink) by
/// `data` and sets `di_size`; false when it does not fit the data fork.
pub fn set_local_fork(sb: &Superblock, b: &mut [u8], data: &[u8]) -> bool {
    let core = core_len(sb);
    let forkoff = usize::from(b[82]) * 8;
    let end = if forkoff == 0 { b.len() } else { (core + forkoff).min(b.len()) };
    if core + data.len() > end {
        return false;
    }
    b[core..end].fill(0);
    b[core..core + data.len()].copy_from_slice(data);
    put64(b, 56, data.len() as u64);
    true
}

/// Sets the link count (`di_nlink`, v2 and v3 inodes).
pub fn set_nlink(b: &mut [u8], n: u32) {
    put32(b, 16, n);
}

/// Sets the change time (and with `mtime` the modification time) to `now`, in the inode's
/// own timestamp format, and counts a change in `di_changecount` (v3).
pub fn touch(sb: &Superblock, b: &mut [u8], now: Timespec, mtime: bool) {
    let bigtime = sb.crc && be64(b, 120) & DIFLAG2_BIGTIME != 0;
    put_time(b, 48, now, bigtime);
    if mtime {
        put_time(b, 40, now, bigtime);
    }
    if sb.crc {
        put64(b, 104, be64(b, 104).wrapping_add(1));
    }
}

/// `XFS_DIFLAG_IMMUTABLE`: the inode may not change at all.
pub const DIFLAG_IMMUTABLE: u16 = 0x8;
/// `XFS_DIFLAG_APPEND`: writes only at the end, no truncation.
pub const DIFLAG_APPEND: u16 = 0x10;

/// `di_flags` of inode `b`.
pub fn flags(b: &[u8]) -> u16 {
    be16(b, 90)
}

/// Bytes of inode `b`'s data fork: up to the attribute fork, or the whole literal area.
pub fn data_fork_len(sb: &Superblock, b: &[u8]) -> usize {
    let forkoff = usize::from(b[82]) * 8;
    if forkoff == 0 { b.len().saturating_sub(core_len(sb)) } else { forkoff.min(b.len().saturating_sub(core_len(sb))) }
}

/// Makes inode `b`'s data fork the extent list `recs` (encoded records, extents format) and sets its extent
/// count; false when they do not fit the data fork (nothing changed then).
pub fn set_data_extents(sb: &Superblock, b: &mut [u8], recs: &[[u8; 16]]) -> bool {
    let core = core_len(sb);
    let end = core + data_fork_len(sb, b);
    if core + 16 * recs.len() > end {
        return false;
    }
    b[core..end].fill(0);
    for (i, r) in recs.iter().enumerate() {
        b[core + 16 * i..core + 16 * (i + 1)].copy_from_slice(r);
    }
    b[5] = 2;
    set_nextents(sb, b, recs.len() as u64);
    true
}

/// Sets the data fork's extent count: 32-bit `di_nextents`, or the 64-bit counter with nrext64.
fn set_nextents(sb: &Superblock, b: &mut [u8], n: u64) {
    if sb.crc && be64(b, 120) & DIFLAG2_NREXT64 != 0 {
        put64(b, 24, n);
    } else {
        put32(b, 76, n as u32);
    }
}

/// Sets the attribute fork's extent count: 16-bit `di_anextents`, or 32-bit with nrext64.
pub fn set_anextents(sb: &Superblock, b: &mut [u8], n: u32) {
    if sb.crc && be64(b, 120) & DIFLAG2_NREXT64 != 0 {
        put32(b, 76, n);
    } else {
        put16(b, 80, n as u16);
    }
}

/// Makes inode `b`'s data fork the root of a bmap btree (`xfs_bmdr_block`: `level`, a
/// `(first key, child)` pair per child, keys and pointers in arrays sized by the fork) mapping
/// `nextents` extents; false when the fork has no room for that many children.
pub fn set_data_btree_root(sb: &Superblock, b: &mut [u8], level: u16, items: &[(u64, u64)], nextents: u64) -> bool {
    let (core, len) = (core_len(sb), data_fork_len(sb, b));
    if !write_bmdr(&mut b[core..core + len], level, items) {
        return false;
    }
    b[5] = 3;
    set_nextents(sb, b, nextents);
    true
}

/// Writes the bmap btree root `items` at `level` over the whole fork `fork` (key and pointer
/// arrays sized by the fork); false when it has no room for them (nothing changed then).
fn write_bmdr(fork: &mut [u8], level: u16, items: &[(u64, u64)]) -> bool {
    let maxrecs = fork.len().saturating_sub(4) / 16;
    if items.is_empty() || items.len() > maxrecs || level == 0 {
        return false;
    }
    fork.fill(0);
    put16(fork, 0, level);
    put16(fork, 2, items.len() as u16);
    for (k, &(key, child)) in items.iter().enumerate() {
        put64(fork, 4 + 8 * k, key);
        put64(fork, 4 + 8 * maxrecs + 8 * k, child);
    }
    true
}

/// Where inode `b`'s attribute fork lies: (first byte, length), `None` without one.
pub fn attr_fork_range(sb: &Superblock, b: &[u8]) -> Option<(usize, usize)> {
    let forkoff = usize::from(b[82]) * 8;
    let start = core_len(sb) + forkoff;
    (forkoff != 0 && start <= b.len()).then(|| (start, b.len() - start))
}

/// Makes inode `b`'s attribute fork (which must exist) the extent list `recs` (extents
/// format) and sets its extent count; false when they do not fit the fork (nothing changed
/// then).
pub fn set_attr_extents(sb: &Superblock, b: &mut [u8], recs: &[[u8; 16]]) -> bool {
    let Some((start, len)) = attr_fork_range(sb, b) else { return false };
    if 16 * recs.len() > len {
        return false;
    }
    b[start..].fill(0);
    for (i, r) in recs.iter().enumerate() {
        b[start + 16 * i..start + 16 * (i + 1)].copy_from_slice(r);
    }
    b[83] = 2;
    set_anextents(sb, b, recs.len() as u32);
    true
}

/// Makes inode `b`'s attribute fork the root of a bmap btree (as [`set_data_btree_root`]
/// does for the data fork) mapping `nextents` extents; false when the fork has no room for
/// that many children.
pub fn set_attr_btree_root(sb: &Superblock, b: &mut [u8], level: u16, items: &[(u64, u64)], nextents: u64) -> bool {
    let Some((start, _)) = attr_fork_range(sb, b) else { return false };
    if nextents > u64::from(u32::MAX) || !write_bmdr(&mut b[start..], level, items) {
        return false;
    }
    b[83] = 3;
    set_anextents(sb, b, nextents as u32);
    true
}

/// Sets the size (`di_size`) and the blocks counted to the inode (`di_nblocks`).
pub fn set_size_blocks(b: &mut [u8], size: u64, nblocks: u64) {
    put64(b, 56, size);
    put64(b, 64, nblocks);
}

/// Sets `di_mode`.
pub fn set_mode(b: &mut [u8], mode: u16) {
    put16(b, 2, mode);
}

/// Sets the owner and group.
pub fn set_owner(b: &mut [u8], uid: u32, gid: u32) {
    put32(b, 8, uid);
    put32(b, 12, gid);
}

/// Sets the access and/or modification time, in the inode's own timestamp format.
pub fn set_times(sb: &Superblock, b: &mut [u8], atime: Option<Timespec>, mtime: Option<Timespec>) {
    let bigtime = sb.crc && be64(b, 120) & DIFLAG2_BIGTIME != 0;
    if let Some(t) = atime {
        put_time(b, 32, t, bigtime);
    }
    if let Some(t) = mtime {
        put_time(b, 40, t, bigtime);
    }
}

/// Stamps an inode after changes: LSN and CRC on v3 (nothing on v2).
pub fn seal(sb: &Superblock, b: &mut [u8], lsn: u64) {
    if sb.crc {
        put64(b, 112, lsn);
        let c = crc::compute(b, CRC_OFF);
        b[CRC_OFF..CRC_OFF + 4].copy_from_slice(&c.to_le_bytes());
    }
}

/// Writes free inode `ino` of a new chunk into `b` (`sb.inodesize` bytes, zeroed here): magic,
/// version (3 on v5, else 2), generation `gen`, no next unlinked inode; v3 also the inode
/// number, UUID and CRC (LSN 0, as `xfs_ialloc_inode_init`).
pub fn init_free(sb: &Superblock, ino: u64, b: &mut [u8], gen: u32) {
    b.fill(0);
    put16(b, 0, MAGIC);
    b[4] = if sb.crc { 3 } else { 2 };
    put32(b, 92, gen);
    put32(b, 96, super::ag::NULLAGINO);
    if sb.crc {
        put64(b, 152, ino);
        b[160..176].copy_from_slice(&sb.meta_uuid);
    }
    seal(sb, b, 0);
}

/// Makes free inode `b` (checked by the caller: a valid inode with mode 0) the new inode
/// `new`, created at `now` with generation `gen`, as `xfs_init_new_inode`: link count 1 (2 for
/// a directory), empty data fork (extents; a directory is an empty shortform directory with
/// its parent, a symlink's target is kept in the inode, devices, fifos and sockets have the
/// device format), no attribute fork, v3: creation time, change count 1, `di_flags2` as the
/// filesystem's features ask. Refuses a mode without a file type and a symlink target that
/// does not fit the inode.
pub fn init_new(sb: &Superblock, b: &mut [u8], new: &NewInode, now: Timespec, gen: u32, lsn: u64) -> Result<(), String> {
    let core = core_len(sb);
    let literal = b.len().saturating_sub(core);
    let (format, nlink, fork): (u8, u32, Vec<u8>) = match new.mode & S_IFMT {
        0o100000 => (2, 1, Vec::new()),
        0o040000 => (1, 2, super::dir2::sf::empty(new.parent)),
        0o120000 if new.target.is_empty() || new.target.len() > literal => {
            return Err(format!("a symlink target of {} bytes (kept in the inode: 1 to {literal})", new.target.len()));
        }
        0o120000 => (1, 1, new.target.clone()),
        0o020000 | 0o060000 => {
            let (ma, mi) = (crate::fs::major(new.rdev), crate::fs::minor(new.rdev));
            (0, 1, (((ma & 0x3fff) << 18) | (mi & 0x3ffff)).to_be_bytes().to_vec())
        }
        0o010000 | 0o140000 => (0, 1, 0u32.to_be_bytes().to_vec()),
        t => return Err(format!("file type {t:#o}")),
    };
    let size = if format == 1 { fork.len() as u64 } else { 0 };
    put16(b, 2, new.mode);
    b[5] = format;
    put16(b, 6, 0);
    put32(b, 8, new.uid);
    put32(b, 12, new.gid);
    put32(b, 16, nlink);
    b[20..32].fill(0);
    for at in [32, 40, 48] {
        put_time(b, at, now, sb.bigtime);
    }
    put64(b, 56, size);
    b[64..92].fill(0);
    b[83] = 2;
    put32(b, 92, gen);
    if sb.crc {
        put64(b, 104, 1);
        put64(b, 120, new_flags2(sb));
        b[128..144].fill(0);
        put_time(b, 144, now, sb.bigtime);
    }
    b[core..].fill(0);
    b[core..core + fork.len()].copy_from_slice(&fork);
    seal(sb, b, lsn);
    Ok(())
}

/// Returns in-use inode `b` to the free state as `xfs_ifree`: mode, flags, size and forks
/// cleared (extents format, no attribute fork), `di_flags2` as for a new inode, the
/// generation one up; the unlinked pointer stays.
pub fn reset_free(sb: &Superblock, b: &mut [u8], lsn: u64) {
    let gen = be32(b, 92).wrapping_add(1);
    let core = core_len(sb);
    put16(b, 2, 0);
    b[5] = 2;
    b[6..92].fill(0);
    b[83] = 2;
    put32(b, 92, gen);
    if sb.crc {
        put64(b, 120, new_flags2(sb));
    }
    b[core..].fill(0);
    seal(sb, b, lsn);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sb() -> Superblock {
        Superblock {
            blocksize: 4096,
            blocklog: 12,
            dblocks: 1 << 14,
            meta_uuid: [7; 16],
            logstart: 100,
            logblocks: 10,
            rootino: 128,
            agblocks: 1 << 14,
            agblklog: 14,
            agcount: 1,
            sectsize: 512,
            inodesize: 512,
            inodelog: 9,
            inopblog: 3,
            dirblksize: 4096,
            icount: 0,
            ifree: 0,
            fdblocks: 0,
            imax_pct: 25,
            crc: true,
            ftype: true,
            nrext64: false,
            ro_compat: 0,
            ascii_ci: false,
            attr2: true,
            inoalignmt: 8,
            sparse_inodes: true,
            spino_align: 4,
            bigtime: true,
        }
    }

    fn good() -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[0..2].copy_from_slice(&0x494eu16.to_be_bytes());
        b[2..4].copy_from_slice(&0o100644u16.to_be_bytes());
        b[4] = 3;
        b[5] = 2;
        b[152..160].copy_from_slice(&131u64.to_be_bytes());
        b[160..176].copy_from_slice(&[7; 16]);
        crc::stamp(&mut b, CRC_OFF);
        b
    }

    #[test]
    fn parses_and_rejects() {
        let s = sb();
        let i = Inode::parse(&s, 131, &good()).unwrap();
        assert_eq!(i.format, Format::Extents);
        assert_eq!(i.data_fork.len(), 512 - 176);
        assert!(Inode::parse(&s, 132, &good()).unwrap_err().contains("records inode number"));
        let mut b = good();
        b[60] ^= 1;
        assert!(Inode::parse(&s, 131, &b).unwrap_err().contains("CRC"));
        let mut b = good();
        b[82] = 255;
        crc::stamp(&mut b, CRC_OFF);
        assert!(Inode::parse(&s, 131, &b).unwrap_err().contains("attribute fork offset"));
        let mut b = good();
        b[5] = 9;
        crc::stamp(&mut b, CRC_OFF);
        assert!(Inode::parse(&s, 131, &b).unwrap_err().contains("format 9"));
        assert!(Inode::parse(&s, 131, &good()[..100]).unwrap_err().contains("magic"));
    }
}
