//! Inode items (160 bytes) and inode refs (the names an inode has in its parent directories).

use crate::bytes::{le16, le32, le64};
use crate::fs::Timespec;

/// Size of an inode item.
pub const SIZE: usize = 160;

/// An inode item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// Size in bytes.
    pub size: u64,
    /// Bytes allocated (compressed extents count their uncompressed size, as the kernel).
    pub nbytes: u64,
    /// Link count.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Type and permission bits.
    pub mode: u32,
    /// Device number as the kernel's dev_t (major << 20 | minor).
    pub rdev: u64,
    /// Inode flags (NODATASUM, COMPRESS…).
    pub flags: u64,
    /// Access time.
    pub atime: Timespec,
    /// Change time.
    pub ctime: Timespec,
    /// Modification time.
    pub mtime: Timespec,
}

fn time(b: &[u8], at: usize) -> Timespec {
    Timespec { sec: le64(b, at) as i64, nsec: le32(b, at + 8).min(999_999_999) }
}

impl Inode {
    /// Parses an inode item.
    pub fn parse(b: &[u8]) -> Result<Inode, String> {
        if b.len() < SIZE {
            return Err(format!("inode item of {} bytes", b.len()));
        }
        Ok(Inode {
            size: le64(b, 16),
            nbytes: le64(b, 24),
            nlink: le32(b, 40),
            uid: le32(b, 44),
            gid: le32(b, 48),
            mode: le32(b, 52),
            rdev: le64(b, 56),
            flags: le64(b, 64),
            atime: time(b, 112),
            ctime: time(b, 124),
            mtime: time(b, 136),
        })
    }

    /// The `S_IFMT` bits.
    pub fn kind(&self) -> u32 {
        self.mode & 0o170000
    }

    /// `st_rdev` as glibc encodes it.
    pub fn st_rdev(&self) -> u64 {
        crate::fs::makedev((self.rdev >> 20) as u32, (self.rdev & 0xfffff) as u32)
    }
}

/// The names in an INODE_REF item: (directory index, name) per ref packed in it.
pub fn parse_refs(mut b: &[u8]) -> Result<Vec<(u64, Vec<u8>)>, String> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 10 {
            return Err(format!("inode ref: {} trailing bytes", b.len()));
        }
        let index = le64(b, 0);
        let len = usize::from(le16(b, 8));
        let name = b.get(10..10 + len).ok_or_else(|| format!("inode ref: name of {len} bytes past the item"))?;
        out.push((index, name.to_vec()));
        b = &b[10 + len..];
    }
    Ok(out)
}
