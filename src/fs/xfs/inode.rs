//! The on-disk inode (`xfs_dinode`): the v1/v2 core (100 bytes) or v3 core (176 bytes, with
//! CRC, owner and UUID), followed by the data fork and, from `di_forkoff`, the attribute fork.

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

/// `di_flags2` bit: timestamps are 64-bit nanosecond counters.
const DIFLAG2_BIGTIME: u64 = 1 << 3;
/// `di_flags2` bit: 64-bit extent counters.
const DIFLAG2_NREXT64: u64 = 1 << 4;
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
        self.mode & 0o170000
    }
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
