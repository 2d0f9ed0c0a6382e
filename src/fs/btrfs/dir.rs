//! Directory items: DIR_ITEM (keyed by name hash, possibly several colliding names packed in
//! one item), DIR_INDEX (keyed by index, one name each, the order `readdir` gives) and
//! XATTR_ITEM (the same layout, the data holding the attribute's value). Each entry: location
//! key (17), transid (8), data length (2), name length (2), type (1), name, data.

use super::node::Key;
use crate::bytes::le16;
use crate::fs::FileType;

/// Header of one directory entry.
const HEADER: usize = 30;
/// Entry type of a subvolume entry's location (the location key's type is ROOT_ITEM).
pub const FT_XATTR: u8 = 8;

/// One directory or xattr entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirItem {
    /// What it names: (inode, INODE_ITEM, 0), or (subvolume id, ROOT_ITEM, …) for a subvolume.
    pub location: Key,
    /// The entry type (BTRFS_FT_*).
    pub ty: u8,
    /// The name.
    pub name: Vec<u8>,
    /// The data (an xattr's value).
    pub data: Vec<u8>,
}

/// Parses every entry packed in one item.
pub fn parse(mut b: &[u8]) -> Result<Vec<DirItem>, String> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < HEADER {
            return Err(format!("directory item: {} trailing bytes", b.len()));
        }
        let location = Key::parse(b);
        let data_len = usize::from(le16(b, 25));
        let name_len = usize::from(le16(b, 27));
        let ty = b[29];
        let end = HEADER + name_len + data_len;
        if b.len() < end {
            return Err(format!("directory item: name of {name_len} and data of {data_len} bytes past the item"));
        }
        out.push(DirItem { location, ty, name: b[HEADER..HEADER + name_len].to_vec(), data: b[HEADER + name_len..end].to_vec() });
        b = &b[end..];
    }
    Ok(out)
}

/// The file type of entry type `ty` (BTRFS_FT_*).
pub fn file_type(ty: u8) -> Option<FileType> {
    Some(match ty {
        1 => FileType::Regular,
        2 => FileType::Directory,
        3 => FileType::CharDevice,
        4 => FileType::BlockDevice,
        5 => FileType::Fifo,
        6 => FileType::Socket,
        7 => FileType::Symlink,
        _ => return None,
    })
}

/// The name hash of DIR_ITEM and XATTR_ITEM keys: crc32c seeded with ~1, not inverted at the end.
pub fn name_hash(name: &[u8]) -> u64 {
    // crc32c_append(c, d) = !raw(!c, d); raw(0xfffffffe, d) = !crc32c_append(1, d)
    u64::from(!crc32c::crc32c_append(1, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_packed_entries() {
        let mut b = Vec::new();
        for (name, data) in [(&b"a"[..], &b""[..]), (b"user.x", b"value")] {
            b.extend_from_slice(&257u64.to_le_bytes());
            b.push(1);
            b.extend_from_slice(&0u64.to_le_bytes());
            b.extend_from_slice(&7u64.to_le_bytes());
            b.extend_from_slice(&(data.len() as u16).to_le_bytes());
            b.extend_from_slice(&(name.len() as u16).to_le_bytes());
            b.push(1);
            b.extend_from_slice(name);
            b.extend_from_slice(data);
        }
        let e = parse(&b).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!((e[1].name.as_slice(), e[1].data.as_slice(), e[1].location.objectid), (&b"user.x"[..], &b"value"[..], 257));
        assert!(parse(&b[..b.len() - 1]).is_err());
    }
}
