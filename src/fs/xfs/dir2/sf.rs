//! Shortform directories (`xfs_dir2_sf_hdr` + entries) kept in the inode's data fork: a count,
//! an "8-byte inode numbers" count, the parent, then entries of name length, an offset tag,
//! the name, the ftype byte (when the feature is on) and a 4- or 8-byte inode number.

use super::RawEntry;
use crate::bytes::{be32, be64, bytes};

/// Parses a shortform directory of `size` bytes at the start of `fork`. Returns the parent
/// inode and the entries.
pub fn parse(fork: &[u8], size: u64, ftype: bool) -> Result<(u64, Vec<RawEntry>), String> {
    if size > fork.len() as u64 || size < 6 {
        return Err(format!("shortform directory of {size} bytes in a fork of {}", fork.len()));
    }
    let b = &fork[..size as usize];
    let count = usize::from(b[0]);
    let wide = b[1] != 0;
    let inolen = if wide { 8 } else { 4 };
    let ino = |at: usize| if wide { be64(b, at) } else { u64::from(be32(b, at)) };
    let parent = ino(2);
    let mut p = 2 + inolen;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let namelen = usize::from(b.get(p).copied().unwrap_or(0));
        let extra = usize::from(ftype);
        let len = 3 + namelen + extra + inolen;
        if namelen == 0 || p + len > b.len() {
            return Err(format!("shortform entry {i} runs past the directory"));
        }
        let name = bytes(b, p + 3, namelen).to_vec();
        let ft = if ftype { b[p + 3 + namelen] } else { 0 };
        out.push(RawEntry { name, ino: ino(p + 3 + namelen + extra), ftype: ft });
        p += len;
    }
    Ok((parent, out))
}

/// An empty shortform directory whose parent is `parent`: the header alone (count 0; parent
/// in 4 bytes, or 8 with `i8count` 1 when it does not fit in 32 bits), as `xfs_dir2_sf_create`.
pub fn empty(parent: u64) -> Vec<u8> {
    match u32::try_from(parent) {
        Ok(p) => [&[0u8, 0][..], &p.to_be_bytes()].concat(),
        Err(_) => [&[0u8, 1][..], &parent.to_be_bytes()].concat(),
    }
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
}
