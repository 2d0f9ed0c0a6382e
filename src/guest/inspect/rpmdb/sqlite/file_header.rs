//! The 100-byte header at the start of a SQLite 3 database file: magic string, page size
//! (1 meaning 65536), bytes reserved at the end of every page, and the payload fractions,
//! which the format fixes at 64/32/32.

use super::super::error::{sqlite as err, Error};
use crate::bytes::{be16, bytes};

/// The magic string the file starts with.
pub const MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// Length of the file header (page 1's b-tree header follows it).
pub const LEN: usize = 100;

/// The header fields a reader needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// Page size in bytes (512..=65536, a power of two).
    pub page_size: u32,
    /// Bytes reserved at the end of each page (for extensions), not part of b-tree content.
    pub reserved: u8,
    /// Usable bytes of a page: `page_size - reserved` (at least 480).
    pub usable: u32,
    /// Whole pages in the file (the header's own count may be stale; the file length is not).
    pub pages: u32,
}

impl FileHeader {
    /// Parses the header of `file` (the whole database file).
    pub fn parse(file: &[u8]) -> Result<FileHeader, Error> {
        if file.len() < LEN {
            return Err(err(format!("file of {} bytes, shorter than the 100-byte header", file.len())));
        }
        if bytes(file, 0, 16) != MAGIC {
            return Err(err("file header: no \"SQLite format 3\" magic"));
        }
        let page_size = match be16(file, 16) {
            1 => 65536,
            n if n >= 512 && n.is_power_of_two() => u32::from(n),
            n => return Err(err(format!("file header: page size {n} invalid"))),
        };
        let reserved = file[20];
        let usable = page_size - u32::from(reserved);
        if usable < 480 {
            return Err(err(format!("file header: {reserved} reserved bytes leave {usable} usable of {page_size}-byte pages (at least 480)")));
        }
        if bytes(file, 21, 3) != [64, 32, 32] {
            return Err(err(format!("file header: payload fractions {:?}, the format requires 64/32/32", bytes(file, 21, 3))));
        }
        let pages = u32::try_from(file.len() as u64 / u64::from(page_size)).unwrap_or(u32::MAX);
        if pages == 0 {
            return Err(err(format!("file of {} bytes holds no whole {page_size}-byte page", file.len())));
        }
        Ok(FileHeader { page_size, reserved, usable, pages })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(page_size: u16, reserved: u8, len: usize) -> Vec<u8> {
        let mut f = vec![0u8; len];
        f[..16].copy_from_slice(MAGIC);
        f[16..18].copy_from_slice(&page_size.to_be_bytes());
        f[20] = reserved;
        f[21..24].copy_from_slice(&[64, 32, 32]);
        f
    }

    #[test]
    fn page_sizes() {
        let h = FileHeader::parse(&header(1, 0, 65536 * 2)).unwrap();
        assert_eq!((h.page_size, h.usable, h.pages), (65536, 65536, 2));
        let h = FileHeader::parse(&header(512, 32, 1500)).unwrap();
        assert_eq!((h.page_size, h.usable, h.pages), (512, 480, 2));
        assert!(FileHeader::parse(&header(512, 33, 1024)).is_err());
        assert!(FileHeader::parse(&header(1000, 0, 4096)).is_err());
        assert!(FileHeader::parse(&header(256, 0, 4096)).is_err());
        assert!(FileHeader::parse(&header(4096, 0, 100)).is_err());
        assert!(FileHeader::parse(&header(4096, 0, 99)).is_err());
        let mut f = header(4096, 0, 4096);
        f[22] = 33;
        assert!(FileHeader::parse(&f).is_err());
    }
}
