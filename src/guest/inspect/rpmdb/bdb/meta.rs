//! The meta page (page 0) of a Berkeley DB hash database: the generic `DBMETA` (LSN, page
//! number, magic 0x061561, version, page size, encryption, type, flags, free list, last page
//! number…) followed by the hash part (max_bucket, high_mask, low_mask, fill factor, element
//! count, key hash function, spares[32]). All fields are in the byte order of the machine that
//! wrote the file, told by the magic.

use super::super::error::{bdb as err, Error};
use crate::bytes::{be32, le32};

/// Magic number of a hash database.
pub const HASH_MAGIC: u32 = 0x0006_1561;
/// Smallest meta page (the smallest page size).
pub const MIN_PAGE: usize = 512;

/// A u32 at `at` in the file's byte order.
pub fn u32_at(b: &[u8], at: usize, big_endian: bool) -> u32 {
    if big_endian {
        be32(b, at)
    } else {
        le32(b, at)
    }
}

/// The hash meta page fields a reader needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Byte order of the file (and of rpm's keys in it).
    pub big_endian: bool,
    /// Hash format version (8 for db 4.x, 9 for db 4.6+ and 5.x; 10 accepted too).
    pub version: u32,
    /// Page size (512..=65536, a power of two).
    pub page_size: u32,
    /// Last page number in use.
    pub last_pgno: u32,
    /// Highest bucket number.
    pub max_bucket: u32,
    /// High mask of the hash.
    pub high_mask: u32,
    /// Low mask of the hash.
    pub low_mask: u32,
    /// Page offset of each splitpoint's buckets: bucket `b` is page
    /// `b + spares[bits(b)]` (`bits(0) = 0`).
    pub spares: [u32; 32],
}

impl Meta {
    /// Parses the meta page at the start of `file`.
    pub fn parse(file: &[u8]) -> Result<Meta, Error> {
        if file.len() < MIN_PAGE {
            return Err(err(format!("file of {} bytes, shorter than a meta page", file.len())));
        }
        let big_endian = match (le32(file, 12), be32(file, 12)) {
            (HASH_MAGIC, _) => false,
            (_, HASH_MAGIC) => true,
            (m, _) => return Err(err(format!("meta page: magic {m:#x} is not a hash database's (0x61561; a btree is 0x53162)"))),
        };
        let g = |at| u32_at(file, at, big_endian);
        let (version, page_size, last_pgno) = (g(16), g(20), g(32));
        if !(8..=10).contains(&version) {
            return Err(err(format!("meta page: hash version {version} unsupported (8 to 10)")));
        }
        if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(err(format!("meta page: page size {page_size} invalid")));
        }
        if file[24] != 0 {
            return Err(err("meta page: the database is encrypted"));
        }
        let max_bucket = g(72);
        if max_bucket > last_pgno {
            return Err(err(format!("meta page: max_bucket {max_bucket} past the last page {last_pgno}")));
        }
        let mut spares = [0u32; 32];
        for (i, s) in spares.iter_mut().enumerate() {
            *s = g(96 + 4 * i);
        }
        Ok(Meta { big_endian, version, page_size, last_pgno, max_bucket, high_mask: g(76), low_mask: g(80), spares })
    }

    /// The page of bucket `bucket`, `None` when the spares table sends it past u32.
    pub fn bucket_page(&self, bucket: u32) -> Option<u32> {
        let bits = (32 - bucket.leading_zeros()) as usize;
        bucket.checked_add(*self.spares.get(bits)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(big: bool) -> Vec<u8> {
        let mut m = vec![0u8; 512];
        let put = |m: &mut Vec<u8>, at: usize, v: u32| m[at..at + 4].copy_from_slice(&if big { v.to_be_bytes() } else { v.to_le_bytes() });
        for (at, v) in
            [(12, HASH_MAGIC), (16, 9), (20, 4096), (32, 177), (72, 13), (76, 15), (80, 7), (96, 1), (100, 1), (104, 17), (108, 26), (112, 167)]
        {
            put(&mut m, at, v);
        }
        m
    }

    #[test]
    fn both_byte_orders() {
        for big in [false, true] {
            let m = Meta::parse(&meta(big)).unwrap();
            assert_eq!((m.big_endian, m.page_size, m.last_pgno, m.max_bucket), (big, 4096, 177, 13));
            // buckets 0, 1 → spares[0], spares[1]; 2–3 → spares[2]; 4–7 → spares[3]; 8–15 → spares[4]
            let pages: Vec<_> = [0, 1, 2, 3, 4, 7, 8, 13].iter().map(|&b| m.bucket_page(b).unwrap()).collect();
            assert_eq!(pages, [1, 2, 19, 20, 30, 33, 175, 180]);
        }
        let mut bad = meta(false);
        bad[12] = 0x62;
        assert!(Meta::parse(&bad).is_err());
        let mut bad = meta(false);
        bad[16] = 7;
        assert!(Meta::parse(&bad).is_err());
        let mut bad = meta(false);
        bad[72] = 200;
        assert!(Meta::parse(&bad).is_err());
        assert!(Meta::parse(&meta(false)[..511]).is_err());
        let m = Meta { spares: [u32::MAX; 32], ..Meta::parse(&meta(false)).unwrap() };
        assert_eq!(m.bucket_page(1), None);
        assert_eq!(m.bucket_page(u32::MAX), None);
    }
}
