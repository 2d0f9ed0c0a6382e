//! An rpm package header as the database stores it (rpm's "header blob"): big-endian
//! `il` (index entry count) and `dl` (data store length), `il` 16-byte index entries
//! {tag, type, offset, count}, then `dl` bytes of data store. Database blobs have no 8-byte
//! magic prefix (`8e ad e8 01 00 00 00 00`); one is accepted when present. Every entry is
//! checked against the store as librpm checks it on import: a known type, and its data
//! (NUL-terminated strings included) inside the store.

use super::super::application::Application;
use super::error::{header as err, Error};
use crate::bytes::{be16, be32, be64};

/// The magic a header starts with in package files (absent in database blobs).
pub const MAGIC: [u8; 8] = [0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];

/// Most index entries accepted (librpm's limit: the count must fit in 16 bits).
pub const MAX_ENTRIES: u32 = 0xffff;
/// Largest data store accepted (librpm's limit: 16 MiB).
pub const MAX_DATA: u32 = 0x00ff_ffff;

/// Tags read (`rpm --querytags`).
pub mod tag {
    /// `NAME` (string).
    pub const NAME: u32 = 1000;
    /// `VERSION` (string).
    pub const VERSION: u32 = 1001;
    /// `RELEASE` (string).
    pub const RELEASE: u32 = 1002;
    /// `EPOCH` (int32).
    pub const EPOCH: u32 = 1003;
    /// `SUMMARY` (i18n string).
    pub const SUMMARY: u32 = 1004;
    /// `DESCRIPTION` (i18n string).
    pub const DESCRIPTION: u32 = 1005;
    /// `URL` (string).
    pub const URL: u32 = 1020;
    /// `ARCH` (string).
    pub const ARCH: u32 = 1022;
}

/// Data types of index entries (`rpmTagType`).
pub mod kind {
    /// No data.
    pub const NULL: u32 = 0;
    /// 1-byte characters.
    pub const CHAR: u32 = 1;
    /// 8-bit integers.
    pub const INT8: u32 = 2;
    /// 16-bit integers.
    pub const INT16: u32 = 3;
    /// 32-bit integers.
    pub const INT32: u32 = 4;
    /// 64-bit integers.
    pub const INT64: u32 = 5;
    /// One NUL-terminated string (count 1).
    pub const STRING: u32 = 6;
    /// Binary data (count bytes).
    pub const BIN: u32 = 7;
    /// `count` NUL-terminated strings.
    pub const STRING_ARRAY: u32 = 8;
    /// `count` NUL-terminated strings, one per locale (the first is the C locale's).
    pub const I18NSTRING: u32 = 9;
}

/// What librpm's `headerFormat(h, "%{TAG}")` gives for a missing tag.
pub const NONE: &str = "(none)";

/// One index entry, checked against the data store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Tag number.
    pub tag: u32,
    /// Data type (see [`kind`]).
    pub kind: u32,
    /// Offset of the data in the store.
    pub offset: u32,
    /// Number of values.
    pub count: u32,
}

/// A parsed header: its checked index and its data store.
#[derive(Debug, Clone)]
pub struct Header<'a> {
    entries: Vec<Entry>,
    store: &'a [u8],
}

/// Length in the store of `count` NUL-terminated strings at `at`, looking at no more than
/// `limit` bytes; `None` when one runs past the end or the limit.
fn strings_len(store: &[u8], at: usize, count: u32, limit: usize) -> Option<usize> {
    let end = at.checked_add(limit)?.min(store.len());
    let area = store.get(at..end)?;
    let mut pos = 0;
    for _ in 0..count {
        let nul = area.get(pos..)?.iter().position(|&b| b == 0)?;
        pos += nul + 1;
    }
    Some(pos)
}

impl<'a> Header<'a> {
    /// Parses and checks a header blob (with or without the [`MAGIC`] prefix).
    pub fn parse(blob: &'a [u8]) -> Result<Header<'a>, Error> {
        let blob = blob.strip_prefix(&MAGIC[..]).unwrap_or(blob);
        if blob.len() < 8 {
            return Err(err(format!("{} bytes, shorter than the 8-byte il/dl preamble", blob.len())));
        }
        let (il, dl) = (be32(blob, 0), be32(blob, 4));
        if il > MAX_ENTRIES {
            return Err(err(format!("index count il {il} over the limit {MAX_ENTRIES}")));
        }
        if dl > MAX_DATA {
            return Err(err(format!("data length dl {dl} over the limit {MAX_DATA}")));
        }
        let index_end = 8 + il as usize * 16;
        let need = index_end + dl as usize;
        if blob.len() < need {
            return Err(err(format!("il {il} and dl {dl} need {need} bytes, the blob has {}", blob.len())));
        }
        let index = &blob[8..index_end];
        let store = &blob[index_end..need];
        let mut entries = Vec::with_capacity(il as usize);
        // entries do not share data: their lengths add up to at most dl, which also bounds
        // the work of checking string entries to one pass over the store
        let mut unclaimed = u64::from(dl);
        for (i, e) in index.chunks_exact(16).enumerate() {
            let entry = Entry { tag: be32(e, 0), kind: be32(e, 4), offset: be32(e, 8), count: be32(e, 12) };
            let at = entry.offset as usize;
            let bad = |what: &str| err(format!("index entry {i} (tag {}, type {}): {what}", entry.tag, entry.kind));
            if entry.offset > dl {
                return Err(bad(&format!("offset {} past the data store of {dl} bytes", entry.offset)));
            }
            let width = match entry.kind {
                kind::NULL => Some(0),
                kind::CHAR | kind::INT8 | kind::BIN => Some(1),
                kind::INT16 => Some(2),
                kind::INT32 => Some(4),
                kind::INT64 => Some(8),
                kind::STRING | kind::STRING_ARRAY | kind::I18NSTRING => None,
                k => return Err(bad(&format!("unknown data type {k}"))),
            };
            let len = match width {
                Some(w) => u64::from(entry.count) * w,
                None => {
                    if entry.kind == kind::STRING && entry.count != 1 {
                        return Err(bad(&format!("string with count {} (must be 1)", entry.count)));
                    }
                    if entry.count as usize > store.len() - at {
                        return Err(bad(&format!("{} strings cannot fit in the {} bytes after offset {at}", entry.count, store.len() - at)));
                    }
                    strings_len(store, at, entry.count, unclaimed as usize)
                        .ok_or_else(|| bad("string not NUL-terminated inside the data store (or overlapping other entries' data)"))?
                        as u64
                }
            };
            if at as u64 + len > u64::from(dl) {
                return Err(bad(&format!("{len} bytes at offset {at} run past the data store of {dl} bytes")));
            }
            if len > unclaimed {
                return Err(bad(&format!("{len} bytes: the entries' data add up to more than the {dl}-byte store (overlapping)")));
            }
            unclaimed -= len;
            entries.push(entry);
        }
        Ok(Header { entries, store })
    }

    /// The checked index entries, in blob order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry of `tag`: the last one when it appears more than once (entries after the
    /// immutable region, rpm's "dribbles", replace the region's).
    pub fn entry(&self, tag: u32) -> Option<Entry> {
        self.entries.iter().rev().find(|e| e.tag == tag).copied()
    }

    /// The first string of a string-typed `tag` (the C locale's for an i18n string), raw.
    pub fn string_bytes(&self, tag: u32) -> Option<&'a [u8]> {
        let e = self.entry(tag)?;
        if !matches!(e.kind, kind::STRING | kind::STRING_ARRAY | kind::I18NSTRING) || e.count == 0 {
            return None;
        }
        let rest = self.store.get(e.offset as usize..)?;
        rest.split(|&b| b == 0).next()
    }

    /// The first value of an integer-typed `tag` (librpm's `headerGetNumber`).
    pub fn number(&self, tag: u32) -> Option<u64> {
        let e = self.entry(tag)?;
        let at = e.offset as usize;
        if e.count == 0 {
            return None;
        }
        match e.kind {
            kind::CHAR | kind::INT8 => self.store.get(at).map(|&b| u64::from(b)),
            kind::INT16 => Some(u64::from(be16(self.store, at))),
            kind::INT32 => Some(u64::from(be32(self.store, at))),
            kind::INT64 => Some(be64(self.store, at)),
            _ => None,
        }
    }

    /// `tag` as librpm's `headerFormat(h, "%{TAG}")` prints it: the first string of a string
    /// type, the first number of an integer type, `(none)` when the tag is missing (or of a
    /// type printed otherwise, binary data). Invalid UTF-8 is replaced.
    pub fn format(&self, tag: u32) -> String {
        if let Some(s) = self.string_bytes(tag) {
            return String::from_utf8_lossy(s).into_owned();
        }
        match self.entry(tag) {
            Some(e) if e.kind != kind::CHAR => self.number(tag).map(|n| n.to_string()).unwrap_or_else(|| NONE.to_string()),
            _ => NONE.to_string(),
        }
    }

    /// The application libguestfs makes of the header (daemon/rpm-c.c): the strings through
    /// `headerFormat` (so `(none)` for a missing URL or ARCH, as for `gpg-pubkey`), the epoch
    /// through `headerGetNumber` (0 when missing, truncated to 32 bits); no source package.
    pub fn application(&self) -> Application {
        Application {
            name: self.format(tag::NAME),
            epoch: self.number(tag::EPOCH).unwrap_or(0) as i32,
            version: self.format(tag::VERSION),
            release: self.format(tag::RELEASE),
            arch: self.format(tag::ARCH),
            url: self.format(tag::URL),
            source_package: String::new(),
            summary: self.format(tag::SUMMARY),
            description: self.format(tag::DESCRIPTION),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blob from (tag, type, count, data) entries laid out in order.
    fn blob(entries: &[(u32, u32, u32, &[u8])]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut store = Vec::new();
        for &(t, k, c, d) in entries {
            for v in [t, k, store.len() as u32, c] {
                index.extend_from_slice(&v.to_be_bytes());
            }
            store.extend_from_slice(d);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&(store.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(store);
        out
    }

    #[test]
    fn fields_and_defaults() {
        let b = blob(&[
            (tag::NAME, kind::STRING, 1, b"zsh\0"),
            (tag::VERSION, kind::STRING, 1, b"5.8\0"),
            (tag::EPOCH, kind::INT32, 1, &[0, 0, 0, 2]),
            (tag::SUMMARY, kind::I18NSTRING, 2, b"Shell\0Coquille\0"),
            (tag::DESCRIPTION, kind::I18NSTRING, 1, b"line 1\nline 2\0"),
        ]);
        let a = Header::parse(&b).unwrap().application();
        assert_eq!((a.name.as_str(), a.version.as_str(), a.epoch), ("zsh", "5.8", 2));
        assert_eq!((a.summary.as_str(), a.description.as_str()), ("Shell", "line 1\nline 2"));
        assert_eq!((a.release.as_str(), a.arch.as_str(), a.url.as_str()), (NONE, NONE, NONE));
        // the magic prefix is accepted
        let mut m = MAGIC.to_vec();
        m.extend_from_slice(&b);
        assert_eq!(Header::parse(&m).unwrap().application(), a);
        // no epoch: 0; a dribble entry replaces the earlier one
        let b = blob(&[(tag::NAME, kind::STRING, 1, b"a\0"), (tag::NAME, kind::STRING, 1, b"b\0")]);
        let a = Header::parse(&b).unwrap().application();
        assert_eq!((a.name.as_str(), a.epoch), ("b", 0));
    }

    #[test]
    fn bad_headers() {
        assert!(Header::parse(&[0; 7]).is_err());
        // il huge, il larger than the blob, dl past the end
        assert!(Header::parse(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err());
        assert!(Header::parse(&[0, 0, 0, 2, 0, 0, 0, 0]).is_err());
        let mut b = blob(&[(tag::NAME, kind::STRING, 1, b"zsh\0")]);
        b[7] += 1;
        assert!(Header::parse(&b).is_err());
        // offset past the store
        let mut b = blob(&[(tag::NAME, kind::STRING, 1, b"zsh\0")]);
        b[8 + 11] = 9;
        assert!(Header::parse(&b).unwrap_err().to_string().contains("offset 9 past"), "{:?}", Header::parse(&b));
        // unterminated string, string count 2, too many array strings, int32 past the end
        assert!(Header::parse(&blob(&[(tag::NAME, kind::STRING, 1, b"zsh")])).is_err());
        assert!(Header::parse(&blob(&[(tag::NAME, kind::STRING, 2, b"a\0b\0")])).is_err());
        assert!(Header::parse(&blob(&[(tag::SUMMARY, kind::I18NSTRING, 3, b"a\0b\0")])).is_err());
        assert!(Header::parse(&blob(&[(tag::SUMMARY, kind::I18NSTRING, u32::MAX, b"a\0b\0")])).is_err());
        assert!(Header::parse(&blob(&[(tag::EPOCH, kind::INT32, 2, &[0, 0, 0, 1])])).is_err());
        assert!(Header::parse(&blob(&[(tag::EPOCH, kind::INT64, u32::MAX, &[0; 8])])).is_err());
        // unknown type
        assert!(Header::parse(&blob(&[(tag::EPOCH, 10, 1, &[0; 8])])).is_err());
        // two entries sharing their data
        let mut b = blob(&[(tag::NAME, kind::STRING, 1, b"abc\0"), (tag::VERSION, kind::STRING, 1, b"1\0")]);
        b[8 + 16 + 11] = 0;
        assert!(Header::parse(&b).unwrap_err().to_string().contains("overlapping"), "{:?}", Header::parse(&b));
    }
}
