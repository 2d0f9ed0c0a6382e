//! cpio "newc" archives (magic `070701`, and `070702` with checksums), the format of Linux
//! initramfs images: a push parser fed the bytes in pieces, as a decompressor writes them,
//! that lists the entries and skips file data without keeping it.
//!
//! An entry is a 110-byte ASCII header (the magic, then 13 fields of 8 hex digits: ino, mode,
//! uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize,
//! check), the NUL-terminated name, padding to a multiple of 4, the data, padding to a multiple
//! of 4. The entry named `TRAILER!!!` ends an archive. As the kernel's initramfs unpacker does,
//! archives may follow one another with zero bytes between them, and alignment counts from
//! the first byte fed. The parser stops (see [`Reader::ended`]) at the first byte after an
//! archive that is neither zero nor the start of another archive: in an initramfs image, the
//! start of a compressed part.

/// Length of an entry header.
pub const HEADER_LEN: usize = 110;
/// Longest entry name accepted, NUL included (the kernel's PATH_MAX).
pub const NAME_MAX: usize = 4096;
/// The name of the entry that ends an archive.
const TRAILER: &[u8] = b"TRAILER!!!";

/// What is wrong with an archive.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A header does not start with `070701` or `070702`.
    #[error("cpio: no newc header magic at byte {0}")]
    BadMagic(u64),
    /// A header field is not 8 hex digits.
    #[error("cpio: header field {field} at byte {at} is not hexadecimal")]
    BadField {
        /// The header's offset.
        at: u64,
        /// Which field (0 = ino … 12 = check).
        field: usize,
    },
    /// A name is empty or longer than [`NAME_MAX`].
    #[error("cpio: name size {size} at byte {at} (1 to 4096 allowed)")]
    BadName {
        /// The header's offset.
        at: u64,
        /// The declared size.
        size: u32,
    },
    /// More entries than the caller allows.
    #[error("cpio: more than {0} entries")]
    TooManyEntries(usize),
    /// More bytes than the caller allows.
    #[error("cpio: more than {0} bytes")]
    TooLarge(u64),
    /// The input ended inside an entry.
    #[error("cpio: archive truncated at byte {0}, inside an entry")]
    Truncated(u64),
}

/// One archive member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its path as stored (often without a leading `/`, sometimes with `./`); lossy UTF-8.
    pub name: String,
    /// `st_mode` (type and permission bits).
    pub mode: u32,
    /// Data length.
    pub size: u32,
}

/// Where the parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before an archive or after a trailer: zero bytes are skipped, `0` starts a header.
    Between,
    /// Collecting a header's bytes.
    Header,
    /// Collecting the name and its padding (`total` bytes) of an entry.
    Name { total: usize, namesize: usize, mode: u32, size: u32 },
    /// Skipping data and padding.
    Skip(u64),
    /// Met a byte that starts no archive: nothing more is consumed.
    Ended,
}

/// The push parser.
#[derive(Debug)]
pub struct Reader {
    state: State,
    buf: Vec<u8>,
    /// Bytes consumed so far (alignment counts from 0).
    pos: u64,
    /// Where the current header started.
    header_at: u64,
    entries: Vec<Entry>,
    max_entries: usize,
    max_bytes: u64,
}

fn align4(n: u64) -> u64 {
    (n + 3) & !3
}

impl Reader {
    /// A parser that fails past `max_entries` entries or `max_bytes` bytes consumed.
    pub fn new(max_entries: usize, max_bytes: u64) -> Reader {
        Reader { state: State::Between, buf: Vec::new(), pos: 0, header_at: 0, entries: Vec::new(), max_entries, max_bytes }
    }

    /// Whether the parser stopped at a byte that starts no archive.
    pub fn ended(&self) -> bool {
        self.state == State::Ended
    }

    /// Bytes consumed so far.
    pub fn consumed(&self) -> u64 {
        self.pos
    }

    /// Parses what it can of `data` and returns how many bytes it consumed: all of them,
    /// unless the parser ended (then the first unconsumed byte starts no archive).
    pub fn feed(&mut self, data: &[u8]) -> Result<usize, Error> {
        let mut i = 0;
        while i < data.len() {
            let rest = &data[i..];
            let used = match self.state {
                State::Ended => break,
                State::Between => {
                    let zeros = rest.iter().take_while(|&&b| b == 0).count();
                    if zeros == rest.len() {
                        zeros
                    } else if rest[zeros] == b'0' {
                        self.state = State::Header;
                        self.header_at = self.pos + zeros as u64;
                        zeros
                    } else {
                        self.advance(zeros as u64)?;
                        self.state = State::Ended;
                        return Ok(i + zeros);
                    }
                }
                State::Header => {
                    let n = (HEADER_LEN - self.buf.len()).min(rest.len());
                    self.buf.extend_from_slice(&rest[..n]);
                    if self.buf.len() == HEADER_LEN {
                        self.header()?;
                    }
                    n
                }
                State::Name { total, namesize, mode, size } => {
                    let n = (total - self.buf.len()).min(rest.len());
                    self.buf.extend_from_slice(&rest[..n]);
                    if self.buf.len() == total {
                        let name = &self.buf[..namesize - 1];
                        let name = name.split(|&b| b == 0).next().unwrap_or_default();
                        if name == TRAILER {
                            self.state = State::Between;
                        } else {
                            if self.entries.len() >= self.max_entries {
                                return Err(Error::TooManyEntries(self.max_entries));
                            }
                            self.entries.push(Entry { name: String::from_utf8_lossy(name).into_owned(), mode, size });
                            let end = self.pos + n as u64;
                            let skip = align4(end + u64::from(size)) - end;
                            self.state = if skip == 0 { State::Header } else { State::Skip(skip) };
                        }
                        self.buf.clear();
                    }
                    n
                }
                State::Skip(left) => {
                    let n = left.min(rest.len() as u64);
                    self.state = if n == left { State::Header } else { State::Skip(left - n) };
                    n as usize
                }
            };
            self.advance(used as u64)?;
            if self.state == State::Header && self.buf.is_empty() {
                self.header_at = self.pos;
            }
            i += used;
        }
        Ok(i)
    }

    fn advance(&mut self, n: u64) -> Result<(), Error> {
        self.pos += n;
        if self.pos > self.max_bytes {
            return Err(Error::TooLarge(self.max_bytes));
        }
        Ok(())
    }

    /// Parses the collected header and moves to its name.
    fn header(&mut self) -> Result<(), Error> {
        let at = self.header_at;
        if &self.buf[..6] != b"070701" && &self.buf[..6] != b"070702" {
            return Err(Error::BadMagic(at));
        }
        let mut fields = [0u32; 13];
        for (k, f) in fields.iter_mut().enumerate() {
            let hex = &self.buf[6 + 8 * k..14 + 8 * k];
            *f = std::str::from_utf8(hex).ok().and_then(|s| u32::from_str_radix(s, 16).ok()).ok_or(Error::BadField { at, field: k })?;
        }
        let (mode, size, namesize) = (fields[1], fields[6], fields[11]);
        if namesize == 0 || namesize as usize > NAME_MAX {
            return Err(Error::BadName { at, size: namesize });
        }
        let name_start = at + HEADER_LEN as u64;
        let total = (align4(name_start + u64::from(namesize)) - name_start) as usize;
        self.buf.clear();
        self.state = State::Name { total, namesize: namesize as usize, mode, size };
        Ok(())
    }

    /// The entries listed so far.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entries listed so far, when the caller stops before the end of the input.
    pub fn into_entries(self) -> Vec<Entry> {
        self.entries
    }

    /// The entries, once the input is over: an error if it ended inside an entry.
    pub fn finish(self) -> Result<Vec<Entry>, Error> {
        match self.state {
            State::Between | State::Ended => Ok(self.entries),
            State::Header if self.buf.is_empty() => Ok(self.entries),
            _ => Err(Error::Truncated(self.pos)),
        }
    }
}

/// A sink for decompressors: bytes after the end of the archives are consumed and ignored
/// (the kernel rejects them; an initramfs with them does not boot either way).
impl std::io::Write for Reader {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.feed(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if n < buf.len() {
            self.advance((buf.len() - n) as u64).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A newc entry as `cpio -o -H newc` writes it, at offset `at` of the archive.
    fn entry(at: usize, name: &str, data: &[u8], mode: u32) -> Vec<u8> {
        let mut v = format!("070701{:08X}{mode:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}", 1, 0, 0, 1, 0, data.len(), 0, 0, 0, 0, name.len() + 1, 0).into_bytes();
        v.extend_from_slice(name.as_bytes());
        v.push(0);
        while (at + v.len()) % 4 != 0 {
            v.push(0);
        }
        v.extend_from_slice(data);
        while (at + v.len()) % 4 != 0 {
            v.push(0);
        }
        v
    }

    fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut v = Vec::new();
        for (n, d) in files {
            let e = entry(v.len(), n, d, 0o100644);
            v.extend(e);
        }
        let t = entry(v.len(), "TRAILER!!!", b"", 0);
        v.extend(t);
        v.resize(v.len().div_ceil(512) * 512, 0);
        v
    }

    fn names(r: Reader) -> Vec<String> {
        r.finish().unwrap().into_iter().map(|e| e.name).collect()
    }

    #[test]
    fn lists_entries_fed_in_any_pieces() {
        let a = archive(&[(".", b""), ("usr/lib/modules/6.1.0/kernel/drivers/block/virtio_blk.ko.xz", b"abcde"), ("init", b"#!/bin/sh\n")]);
        for piece in [1, 3, 7, 110, 4096] {
            let mut r = Reader::new(100, 1 << 20);
            for c in a.chunks(piece) {
                assert_eq!(r.feed(c).unwrap(), c.len());
            }
            assert_eq!(names(r), [".", "usr/lib/modules/6.1.0/kernel/drivers/block/virtio_blk.ko.xz", "init"], "pieces of {piece}");
        }
    }

    #[test]
    fn concatenated_archives_then_stops_at_other_data() {
        let mut a = archive(&[("kernel/x86/microcode/GenuineIntel.bin", b"ucode")]);
        a.extend(archive(&[("etc/hostname", b"h\n")]));
        let first = a.len();
        a.extend_from_slice(&[0x1f, 0x8b, 8, 0]);
        let mut r = Reader::new(100, 1 << 20);
        assert_eq!(r.feed(&a).unwrap(), first);
        assert!(r.ended());
        assert_eq!(names(r), ["kernel/x86/microcode/GenuineIntel.bin", "etc/hostname"]);
        // nothing cpio at all: ends at once
        let mut r = Reader::new(100, 1 << 20);
        assert_eq!(r.feed(b"\x28\xb5\x2f\xfd").unwrap(), 0);
        assert!(r.ended() && r.finish().unwrap().is_empty());
    }

    #[test]
    fn every_truncation_and_byte_change_is_handled() {
        let a = archive(&[("a", b"123"), ("bb", b"4567")]);
        for i in 0..a.len() {
            let mut r = Reader::new(100, 1 << 20);
            assert_eq!(r.feed(&a[..i]), Ok(i));
            let _ = r.finish();
            for x in [0u8, b'0', b'7', b'F', b'g', 0xff] {
                let mut b = a.clone();
                b[i] = x;
                let mut r = Reader::new(100, 1 << 20);
                if r.feed(&b).is_ok() {
                    let _ = r.finish();
                }
            }
        }
    }

    #[test]
    fn hostile_input_errors_without_panics() {
        let a = archive(&[("a", b"123"), ("b", b"4567")]);
        let mut r = Reader::new(100, 1 << 20);
        r.feed(&a[..120]).unwrap();
        assert_eq!(r.finish(), Err(Error::Truncated(120)));
        assert_eq!(Reader::new(1, 1 << 20).feed(&a), Err(Error::TooManyEntries(1)));
        assert_eq!(Reader::new(100, 200).feed(&a), Err(Error::TooLarge(200)));
        let mut bad = a.clone();
        bad[5] = b'7';
        assert_eq!(Reader::new(100, 1 << 20).feed(&bad), Err(Error::BadMagic(0)));
        let mut bad = a.clone();
        bad[14] = b'g';
        assert_eq!(Reader::new(100, 1 << 20).feed(&bad), Err(Error::BadField { at: 0, field: 1 }));
        let mut bad = a.clone();
        bad[94..102].copy_from_slice(b"00100000");
        assert_eq!(Reader::new(100, 1 << 20).feed(&bad), Err(Error::BadName { at: 0, size: 0x100000 }));
        // a huge declared file size is skipped lazily, then reported as truncated
        let mut big = entry(0, "x", b"", 0o100644);
        big[54..62].copy_from_slice(b"FFFFFFFF");
        let mut r = Reader::new(100, u64::MAX);
        r.feed(&big).unwrap();
        assert!(matches!(r.finish(), Err(Error::Truncated(_))));
    }
}
