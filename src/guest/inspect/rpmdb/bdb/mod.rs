//! A minimal read-only Berkeley DB hash reader for rpm's `Packages` file (EL5–EL8, db 4.x and
//! 5.x, hash versions 8 to 10, either byte order): every bucket's page chain is walked in
//! bucket order (as rpm's own read-only backend, `bdb_ro`, iterates), its key/data item pairs
//! read, off-page data gathered from overflow chains. Keys are header numbers, 4 bytes in the
//! writer's byte order; key 0 is rpm's bookkeeping record (the largest header number), not a
//! header, and is skipped.
//!
//! Bounds for hostile files: each page is visited at most once (bucket and overflow pages share
//! one visited set, so a cycle or a page used twice is an error and the work is at most the
//! file's page count), items may not overlap, and the off-page bytes gathered never exceed the
//! file's length.

pub mod meta;
pub mod page;

pub use meta::Meta;
pub use page::{hash_items, Item, PageHeader};

use super::error::{bdb as err, Error, Record};
use meta::u32_at;

/// An open hash database file.
#[derive(Debug, Clone)]
pub struct Database<'a> {
    file: &'a [u8],
    meta: Meta,
    pages: u32,
}

/// Marks page `n` visited, failing when it already was.
fn visit(visited: &mut [bool], n: u32, what: &str) -> Result<(), Error> {
    match visited.get_mut(n as usize) {
        Some(v) if !*v => {
            *v = true;
            Ok(())
        }
        Some(_) => Err(err(format!("{what} page {n} reached twice (a cycle or a shared page)"))),
        None => Err(err(format!("{what} page {n} past the last page"))),
    }
}

impl<'a> Database<'a> {
    /// Checks the meta page of `file` (the whole database file).
    pub fn open(file: &'a [u8]) -> Result<Database<'a>, Error> {
        let meta = Meta::parse(file)?;
        let in_file = u32::try_from(file.len() as u64 / u64::from(meta.page_size)).unwrap_or(u32::MAX);
        let pages = in_file.min(meta.last_pgno.saturating_add(1));
        Ok(Database { file, meta, pages })
    }

    /// The meta page.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Page `n` and its header, checked to be the page it says it is.
    pub fn page(&self, n: u32) -> Result<(&'a [u8], PageHeader), Error> {
        if n >= self.pages {
            return Err(err(format!("page {n} past the last page {} (or the end of the file)", self.pages.saturating_sub(1))));
        }
        let size = self.meta.page_size as usize;
        let data = self.file.get(n as usize * size..(n as usize + 1) * size).ok_or_else(|| err(format!("page {n} past the end of the file")))?;
        let hdr = PageHeader::parse(data, self.meta.big_endian);
        Ok((data, hdr))
    }

    /// Walks every bucket chain, calling `pair` with each key and its data, or with the error
    /// of a pair that cannot be read (overflow chain damaged, duplicates). On a damaged bucket
    /// page the walk stops with the error, after the pairs read until then.
    pub fn scan(&self, pair: &mut dyn FnMut(Record<'_, &[u8]>)) -> Result<(), Error> {
        let mut visited = vec![false; self.pages as usize];
        let mut budget = self.file.len() as u64;
        let (mut key_buf, mut data_buf) = (Vec::new(), Vec::new());
        for bucket in 0..=self.meta.max_bucket {
            let mut n = self.meta.bucket_page(bucket).ok_or_else(|| err(format!("bucket {bucket}: spares table points past the file")))?;
            loop {
                visit(&mut visited, n, "bucket")?;
                let (data, hdr) = self.page(n)?;
                if hdr.kind == page::kind::INVALID && hdr.pgno == 0 && hdr.entries == 0 {
                    break; // a bucket page never written: empty
                }
                if hdr.pgno != n {
                    return Err(err(format!("bucket {bucket}: page {n} says it is page {}", hdr.pgno)));
                }
                if hdr.kind != page::kind::HASH && hdr.kind != page::kind::HASH_UNSORTED {
                    return Err(err(format!("bucket {bucket}: page {n} of type {} is not a hash page", hdr.kind)));
                }
                let items = hash_items(data, &hdr, self.meta.big_endian)?;
                for (i, kv) in items.chunks_exact(2).enumerate() {
                    let ctx = format!("page {n}: pair {i}");
                    let key = self.item(kv[0], &mut key_buf, &mut visited, &mut budget);
                    let value = self.item(kv[1], &mut data_buf, &mut visited, &mut budget);
                    match (key, value) {
                        (Ok(k), Ok(v)) => pair(Ok((k, v))),
                        (Err(e), _) | (_, Err(e)) => pair(Err(e.context(ctx))),
                    }
                }
                if hdr.next_pgno == 0 {
                    break;
                }
                n = hdr.next_pgno;
            }
        }
        Ok(())
    }

    /// The bytes of one item: on the page, or gathered into `buf` from its overflow chain.
    fn item<'b>(&self, it: Item<'a>, buf: &'b mut Vec<u8>, visited: &mut [bool], budget: &mut u64) -> Result<&'b [u8], Error>
    where
        'a: 'b,
    {
        let (first, len) = match it {
            Item::KeyData(d) => return Ok(d),
            Item::OffPage { pgno, len } => (pgno, len),
            Item::Duplicate | Item::OffDup => return Err(err("duplicate items (not used by rpm's Packages) are not read")),
        };
        if u64::from(len) > *budget {
            return Err(err(format!("off-page item of {len} bytes: more than the file holds")));
        }
        *budget -= u64::from(len);
        buf.clear();
        let mut n = first;
        while buf.len() < len as usize {
            if n == 0 {
                return Err(err(format!("overflow chain from page {first} ends {} bytes short of {len}", len as usize - buf.len())));
            }
            visit(visited, n, "overflow")?;
            let (data, hdr) = self.page(n)?;
            if hdr.pgno != n || hdr.kind != page::kind::OVERFLOW {
                return Err(err(format!("overflow page {n}: type {} page numbered {}", hdr.kind, hdr.pgno)));
            }
            let on_page = usize::from(hdr.hf_offset);
            let chunk = data
                .get(page::HEADER_LEN..page::HEADER_LEN + on_page)
                .filter(|_| on_page <= len as usize - buf.len())
                .ok_or_else(|| err(format!("overflow page {n}: {on_page} bytes do not fit the page or the item")))?;
            buf.extend_from_slice(chunk);
            n = hdr.next_pgno;
        }
        Ok(buf)
    }
}

/// rpm's key of its bookkeeping record.
pub const KEY_BOOKKEEPING: u32 = 0;

/// Reads every header of rpm's `Packages` file `file`, calling `row` with its header number
/// and blob, or with the error of a pair that cannot be read (key not 4 bytes, damaged
/// overflow chain). Key 0 is skipped. On a damaged bucket page the headers read so far have
/// been delivered and the error is returned.
pub fn packages(file: &[u8], row: &mut dyn FnMut(Record<'_, u32>)) -> Result<(), Error> {
    let db = Database::open(file)?;
    let big = db.meta().big_endian;
    db.scan(&mut |r| match r {
        Ok((key, blob)) if key.len() == 4 => {
            let k = u32_at(key, 0, big);
            if k != KEY_BOOKKEEPING {
                row(Ok((k, blob)))
            }
        }
        Ok((key, _)) => row(Err(err(format!("key of {} bytes, not a 4-byte header number", key.len())))),
        Err(e) => row(Err(e)),
    })
}
