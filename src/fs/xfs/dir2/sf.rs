//! Shortform directories (`xfs_dir2_sf_hdr` + entries) kept in the inode's data fork: a count,
//! an "8-byte inode numbers" count, the parent, then entries of name length, an offset tag,
//! the name, the ftype byte (when the feature is on) and a 4- or 8-byte inode number.

use super::RawEntry;
use crate::bytes::{be32, be64, bytes};

/// Most inode number stored in 4 bytes (`XFS_DIR2_MAX_SHORT_INUM`).
const MAX_SHORT_INUM: u64 = u32::MAX as u64;
/// A leaf entry and the block tail of a block-format directory (the block form the shortform
/// one must convert to when it grows: its data must fit with them).
const LEAF_ENTRY: usize = 8;
const BLOCK_TAIL: usize = 8;

/// One shortform entry: the name, inode, ftype byte, and its offset tag (where the entry goes
/// in the data block when the directory becomes a block directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SfEntry {
    /// Name bytes.
    pub name: Vec<u8>,
    /// Inode number.
    pub ino: u64,
    /// `XFS_DIR3_FT_*` (0 without the ftype feature).
    pub ftype: u8,
    /// Offset tag in the data block.
    pub offset: u16,
}

/// A shortform directory, decoded (`xfs_dir2_sf_hdr` and entries in offset order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SfDir {
    /// The parent directory (`..`).
    pub parent: u64,
    /// Entries, in offset order.
    pub entries: Vec<SfEntry>,
}

/// Bytes a data-block entry of a `namelen`-byte name takes (`xfs_dir2_data_entsize`).
pub fn data_entsize(namelen: usize, ftype: bool) -> usize {
    (8 + 1 + namelen + usize::from(ftype) + 2).div_ceil(8) * 8
}

/// Offset of the first entry after `.` and `..` in a data block (`data_first_offset`): the
/// data block header (64 bytes v5, 16 v4) and the two dot entries.
pub fn data_first_offset(crc: bool, ftype: bool) -> usize {
    (if crc { 64 } else { 16 }) + data_entsize(1, ftype) + data_entsize(2, ftype)
}

/// Parses a shortform directory of `size` bytes at the start of `fork`. Returns the parent
/// inode and the entries.
pub fn parse(fork: &[u8], size: u64, ftype: bool) -> Result<(u64, Vec<RawEntry>), String> {
    let d = SfDir::decode(fork, size, ftype)?;
    Ok((d.parent, d.entries.into_iter().map(|e| RawEntry { name: e.name, ino: e.ino, ftype: e.ftype }).collect()))
}

impl SfDir {
    /// Decodes a shortform directory of `size` bytes at the start of `fork`.
    pub fn decode(fork: &[u8], size: u64, ftype: bool) -> Result<SfDir, String> {
        if size > fork.len() as u64 || size < 6 {
            return Err(format!("shortform directory of {size} bytes in a fork of {}", fork.len()));
        }
        let b = &fork[..size as usize];
        let count = usize::from(b[0]);
        let wide = b[1] != 0;
        let inolen = if wide { 8 } else { 4 };
        let ino = |at: usize| if wide { be64(b, at) } else { u64::from(be32(b, at)) };
        if b.len() < 2 + inolen {
            return Err(format!("shortform directory of {size} bytes without its parent"));
        }
        let parent = ino(2);
        let mut p = 2 + inolen;
        let mut entries = Vec::with_capacity(count);
        for i in 0..count {
            let namelen = usize::from(b.get(p).copied().unwrap_or(0));
            let extra = usize::from(ftype);
            let len = 3 + namelen + extra + inolen;
            if namelen == 0 || p + len > b.len() {
                return Err(format!("shortform entry {i} runs past the directory"));
            }
            let name = bytes(b, p + 3, namelen).to_vec();
            let ft = if ftype { b[p + 3 + namelen] } else { 0 };
            let offset = u16::from_be_bytes([b[p + 1], b[p + 2]]);
            entries.push(SfEntry { name, ino: ino(p + 3 + namelen + extra), ftype: ft, offset });
            p += len;
        }
        Ok(SfDir { parent, entries })
    }

    /// The `i8count` the directory needs: inode numbers (the parent's too) above 32 bits.
    fn i8count(&self) -> usize {
        usize::from(self.parent > MAX_SHORT_INUM) + self.entries.iter().filter(|e| e.ino > MAX_SHORT_INUM).count()
    }

    /// Encodes the directory (4-byte inode numbers unless one needs 8, as the kernel keeps
    /// them).
    pub fn encode(&self, ftype: bool) -> Vec<u8> {
        let i8count = self.i8count();
        let put = |v: &mut Vec<u8>, ino: u64| if i8count > 0 { v.extend(ino.to_be_bytes()) } else { v.extend((ino as u32).to_be_bytes()) };
        let mut v = vec![self.entries.len() as u8, i8count.min(255) as u8];
        put(&mut v, self.parent);
        for e in &self.entries {
            v.push(e.name.len() as u8);
            v.extend(e.offset.to_be_bytes());
            v.extend(&e.name);
            if ftype {
                v.push(e.ftype);
            }
            put(&mut v, e.ino);
        }
        v
    }

    /// The entry named `name`.
    pub fn find(&self, name: &[u8]) -> Option<&SfEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Adds an entry as `xfs_dir2_sf_addname` places it: at the end when its data-block form
    /// still fits a directory block of `dirblksize` bytes and the inode number size does not
    /// change, else in the first gap between offsets large enough (or at the end). False when
    /// the directory would not fit a block (it must become a block directory) or already has
    /// 255 entries; the caller checks the inode's room and that the name is new.
    pub fn add(&mut self, name: &[u8], ino: u64, ft: u8, crc: bool, ftype: bool, dirblksize: usize) -> bool {
        if self.entries.len() >= 255 || name.is_empty() || name.len() > 255 {
            return false;
        }
        let size = data_entsize(name.len(), ftype);
        let first = data_first_offset(crc, ftype);
        let mut offset = first;
        let mut hole = None;
        for (i, e) in self.entries.iter().enumerate() {
            if hole.is_none() && offset + size <= usize::from(e.offset) {
                hole = Some((i, offset));
            }
            offset = usize::from(e.offset) + data_entsize(e.name.len(), ftype);
        }
        let used = offset + (self.entries.len() + 3) * LEAF_ENTRY + BLOCK_TAIL;
        if used + if hole.is_some() { 0 } else { size } > dirblksize {
            return false;
        }
        let widens = ino > MAX_SHORT_INUM && self.i8count() == 0;
        let (at, off) = match hole {
            Some(h) if widens || used + size > dirblksize => h,
            _ => (self.entries.len(), offset),
        };
        let Ok(off) = u16::try_from(off) else { return false };
        self.entries.insert(at, SfEntry { name: name.to_vec(), ino, ftype: ft, offset: off });
        true
    }

    /// Removes the entry named `name` (the others keep their offsets) and returns it.
    pub fn remove(&mut self, name: &[u8]) -> Option<SfEntry> {
        let i = self.entries.iter().position(|e| e.name == name)?;
        Some(self.entries.remove(i))
    }
}

/// An empty shortform directory whose parent is `parent`: the header alone (count 0; parent
/// in 4 bytes, or 8 with `i8count` 1 when it does not fit in 32 bits), as `xfs_dir2_sf_create`.
pub fn empty(parent: u64) -> Vec<u8> {
    SfDir { parent, entries: Vec::new() }.encode(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_bounds() {
        // 1 entry, 4-byte inodes, parent 128, "ab" -> 131, ftype 1
        let b = [1u8, 0, 0, 0, 0, 128, 2, 0, 0x30, b'a', b'b', 1, 0, 0, 0, 131];
        let (parent, e) = parse(&b, b.len() as u64, true).unwrap();
        assert_eq!(parent, 128);
        assert_eq!(e, vec![RawEntry { name: b"ab".to_vec(), ino: 131, ftype: 1 }]);
        assert!(parse(&b, 100, true).is_err());
        let mut bad = b;
        bad[0] = 2;
        assert!(parse(&bad, b.len() as u64, true).unwrap_err().contains("entry 1"));
        bad[6] = 200;
        assert!(parse(&bad, b.len() as u64, true).is_err());
    }

    #[test]
    fn empty_round_trips() {
        let e = empty(128);
        assert_eq!(e, [0, 0, 0, 0, 0, 128]);
        assert_eq!(parse(&e, 6, true).unwrap(), (128, vec![]));
        let wide = empty(1 << 40);
        assert_eq!(wide.len(), 10);
        assert_eq!(parse(&wide, 10, false).unwrap(), (1 << 40, vec![]));
    }

    #[test]
    fn add_remove_offsets_and_widths() {
        // v5 with ftype: entries start at 96; "a" takes 16 bytes, "name-3" 24.
        let mut d = SfDir { parent: 128, entries: vec![] };
        assert!(d.add(b"a", 131, 1, true, true, 4096));
        assert!(d.add(b"name-3", 132, 2, true, true, 4096));
        assert_eq!(d.entries.iter().map(|e| e.offset).collect::<Vec<_>>(), [96, 112]);
        let enc = d.encode(true);
        assert_eq!(SfDir::decode(&enc, enc.len() as u64, true).unwrap(), d);
        // Removing the first leaves a hole at 96; a new short name goes to the end while the
        // block form fits, an 8-byte inode number goes into the hole and widens everything.
        d.remove(b"a").unwrap();
        assert!(d.add(b"b", 133, 1, true, true, 4096));
        assert_eq!(d.entries.last().unwrap().offset, 136);
        assert!(d.add(b"c", 1 << 33, 1, true, true, 4096));
        assert_eq!(d.entries[0].offset, 96);
        let enc = d.encode(true);
        assert_eq!(enc[1], 1);
        assert_eq!(enc.len(), 10 + (3 + 6 + 1 + 8) + 2 * (3 + 1 + 1 + 8));
        assert_eq!(SfDir::decode(&enc, enc.len() as u64, true).unwrap(), d);
        d.remove(b"c").unwrap();
        assert_eq!(d.encode(true)[1], 0);
        // A directory block too small for the block form refuses.
        let mut small = SfDir { parent: 128, entries: vec![] };
        let mut n = 0;
        while small.add(format!("{n}").as_bytes(), 200 + n, 1, false, false, 512) {
            n += 1;
        }
        assert!(n > 10 && n < 40, "{n}");
    }
}
