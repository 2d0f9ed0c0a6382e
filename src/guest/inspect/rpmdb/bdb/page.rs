//! Berkeley DB page header (26 bytes: LSN, pgno, prev_pgno, next_pgno, entries, hf_offset,
//! level, type), the items of hash pages (an index of `entries` 2-byte offsets after the
//! header; item `i` runs from its offset to item `i−1`'s, item 0 to the page end; keys and
//! data alternate) and overflow pages (`hf_offset` bytes of data after the header, the chain
//! linked by next_pgno).

use super::super::error::{bdb as err, Error};
use super::meta::u32_at;
use crate::bytes::{be16, le16};

/// Length of the page header.
pub const HEADER_LEN: usize = 26;
/// Page types.
pub mod kind {
    /// Unused page.
    pub const INVALID: u8 = 0;
    /// Hash bucket page of db before 4.x (items unsorted).
    pub const HASH_UNSORTED: u8 = 2;
    /// Overflow page.
    pub const OVERFLOW: u8 = 7;
    /// Hash meta page.
    pub const HASH_META: u8 = 8;
    /// Hash bucket page (items sorted).
    pub const HASH: u8 = 13;
}
/// Item types of hash pages.
pub mod item {
    /// Key or data on the page.
    pub const KEYDATA: u8 = 1;
    /// A set of duplicate data items on the page.
    pub const DUPLICATE: u8 = 2;
    /// Key or data in an overflow chain.
    pub const OFFPAGE: u8 = 3;
    /// Duplicates in an off-page tree.
    pub const OFFDUP: u8 = 4;
}

/// The page header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageHeader {
    /// This page's number.
    pub pgno: u32,
    /// Previous page of the chain.
    pub prev_pgno: u32,
    /// Next page of the chain (0 at the end).
    pub next_pgno: u32,
    /// Number of items.
    pub entries: u16,
    /// Hash pages: offset of the lowest item; overflow pages: bytes of data on the page.
    pub hf_offset: u16,
    /// Page type (see [`kind`]).
    pub kind: u8,
}

/// A u16 at `at` in the file's byte order.
pub fn u16_at(b: &[u8], at: usize, big_endian: bool) -> u16 {
    if big_endian {
        be16(b, at)
    } else {
        le16(b, at)
    }
}

impl PageHeader {
    /// Reads the header of `page` (zeros for fields past its end).
    pub fn parse(page: &[u8], big_endian: bool) -> PageHeader {
        PageHeader {
            pgno: u32_at(page, 8, big_endian),
            prev_pgno: u32_at(page, 12, big_endian),
            next_pgno: u32_at(page, 16, big_endian),
            entries: u16_at(page, 20, big_endian),
            hf_offset: u16_at(page, 22, big_endian),
            kind: page.get(25).copied().unwrap_or(0),
        }
    }
}

/// One item of a hash page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    /// Bytes on the page.
    KeyData(&'a [u8]),
    /// In an overflow chain starting at `pgno`, `len` bytes in all.
    OffPage {
        /// First overflow page.
        pgno: u32,
        /// Total length.
        len: u32,
    },
    /// On-page duplicates (rpm does not use them for `Packages`).
    Duplicate,
    /// Off-page duplicates (rpm does not use them for `Packages`).
    OffDup,
}

/// The items of the hash page `page` (`hdr` its header), checked to lie inside the page
/// without overlapping.
pub fn hash_items<'a>(page: &'a [u8], hdr: &PageHeader, big_endian: bool) -> Result<Vec<Item<'a>>, Error> {
    let n = usize::from(hdr.entries);
    let index_end = HEADER_LEN + 2 * n;
    let bad = |what: String| err(format!("page {}: {what}", hdr.pgno));
    if index_end > page.len() {
        return Err(bad(format!("{n} item offsets do not fit in the page")));
    }
    let mut items = Vec::with_capacity(n);
    let mut end = page.len();
    for i in 0..n {
        let off = usize::from(u16_at(page, HEADER_LEN + 2 * i, big_endian));
        if off < index_end || off >= end {
            return Err(bad(format!("item {i} at offset {off} outside {index_end}..{end}")));
        }
        let data = &page[off..end];
        end = off;
        items.push(match data[0] {
            item::KEYDATA => Item::KeyData(&data[1..]),
            item::OFFPAGE if data.len() >= 12 => Item::OffPage { pgno: u32_at(data, 4, big_endian), len: u32_at(data, 8, big_endian) },
            item::DUPLICATE => Item::Duplicate,
            item::OFFDUP => Item::OffDup,
            t => return Err(bad(format!("item {i}: type {t} unknown or item of {} bytes too short", data.len()))),
        });
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items() {
        let mut p = vec![0u8; 512];
        p[25] = kind::HASH;
        p[20] = 2;
        // key "abcd" at 507..512, off-page data at 495..507
        p[26..28].copy_from_slice(&507u16.to_le_bytes());
        p[28..30].copy_from_slice(&495u16.to_le_bytes());
        p[507] = item::KEYDATA;
        p[508..512].copy_from_slice(b"abcd");
        p[495] = item::OFFPAGE;
        p[499..503].copy_from_slice(&9u32.to_le_bytes());
        p[503..507].copy_from_slice(&70000u32.to_le_bytes());
        let h = PageHeader::parse(&p, false);
        assert_eq!((h.entries, h.kind), (2, kind::HASH));
        assert_eq!(hash_items(&p, &h, false).unwrap(), vec![Item::KeyData(b"abcd"), Item::OffPage { pgno: 9, len: 70000 }]);
        // offsets not decreasing, into the index, short off-page item
        let mut bad = p.clone();
        bad[28..30].copy_from_slice(&508u16.to_le_bytes());
        assert!(hash_items(&bad, &h, false).is_err());
        let mut bad = p.clone();
        bad[28..30].copy_from_slice(&27u16.to_le_bytes());
        assert!(hash_items(&bad, &h, false).is_err());
        let mut bad = p;
        bad[28..30].copy_from_slice(&500u16.to_le_bytes());
        bad[500] = item::OFFPAGE;
        assert!(hash_items(&bad, &h, false).is_err());
        let h = PageHeader { entries: 300, ..h };
        assert!(hash_items(&bad, &h, false).is_err());
    }
}
