//! A read-only `Read + Seek` cursor over a [`Dev`], the I/O type the `ntfs` crate wants.
//!
//! The crate reads a structure a field at a time (a record header, a data-run header…), so
//! small reads are served from one cached block; large reads go straight to the device.
//! Reads past the end of the device are short (0 at the end), never errors.
//!
//! A guard can be set for a walk the crate does without bounding it (a directory's B-tree,
//! descending into subnodes: a hostile cycle would descend forever, holding every block read):
//! it caps the bytes served, and refuses a second read of the same offset by a read of at
//! least [`GUARD_MIN_READ`] bytes (an index block read again). The crate returns the error.

use crate::disk::Dev;
use std::io::{self, Read, Seek, SeekFrom};

/// Size of the cached block.
const BLOCK: u64 = 4096;

/// A cursor over a block device.
pub(super) struct DevReader {
    dev: Dev,
    pos: u64,
    /// Device offset and bytes of the cached block (empty: none).
    block: (u64, Vec<u8>),
    /// Bytes that may still be served (`None`: no limit), and the limit set.
    budget: Option<(u64, u64)>,
    /// Offsets of the large reads since the guard was set.
    large_reads: std::collections::HashSet<u64>,
}

/// Reads this large are blocks of a structure, each read once in a walk.
pub(super) const GUARD_MIN_READ: usize = 256;

impl DevReader {
    /// A cursor at offset 0 of `dev`.
    pub(super) fn new(dev: Dev) -> DevReader {
        DevReader { dev, pos: 0, block: (0, Vec::new()), budget: None, large_reads: Default::default() }
    }

    /// Guards the reads until the next call: at most `bytes` more bytes, no offset read twice
    /// in large reads (`None`: no guard).
    pub(super) fn set_guard(&mut self, bytes: Option<u64>) {
        self.budget = bytes.map(|b| (b, b));
        self.large_reads.clear();
    }

    /// Fills `buf` from device offset `at` (zeros past the end of the device).
    pub(super) fn read_full_at(&mut self, buf: &mut [u8], at: u64) -> io::Result<()> {
        self.pos = at;
        let mut done = 0;
        while done < buf.len() {
            let n = self.read(&mut buf[done..])?;
            if n == 0 {
                buf[done..].fill(0);
                break;
            }
            done += n;
        }
        Ok(())
    }
}

impl Read for DevReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.dev.len().saturating_sub(self.pos);
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if n == 0 {
            return Ok(0);
        }
        if let Some((left, limit)) = &mut self.budget {
            *left = left.checked_sub(n as u64).ok_or_else(|| io::Error::other(format!("read more than {limit} bytes (a loop in the structures?)")))?;
            if n >= GUARD_MIN_READ && !self.large_reads.insert(self.pos) {
                return Err(io::Error::other(format!("block at byte {} read twice (a loop in the structures)", self.pos)));
            }
        }
        if n as u64 >= BLOCK {
            self.dev.read_at(&mut buf[..n], self.pos).map_err(io::Error::other)?;
            self.pos += n as u64;
            return Ok(n);
        }
        let (start, data) = &mut self.block;
        if !(*start..*start + data.len() as u64).contains(&self.pos) {
            let at = self.pos - self.pos % BLOCK;
            let len = BLOCK.min(self.dev.len() - at) as usize;
            let mut fresh = vec![0u8; len];
            self.dev.read_at(&mut fresh, at).map_err(io::Error::other)?;
            (*start, *data) = (at, fresh);
        }
        let from = (self.pos - *start) as usize;
        let n = n.min(data.len() - from);
        buf[..n].copy_from_slice(&data[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for DevReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.pos = crate::disk::seek_target(pos, self.pos, self.dev.len())?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::MemDev;
    use std::sync::Arc;

    #[test]
    fn reads_small_and_large_and_stops_at_the_end() {
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let mut r = DevReader::new(Arc::new(MemDev::new(data.clone())));
        let mut buf = [0u8; 5];
        r.seek(SeekFrom::Start(4094)).unwrap();
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], &data[4094..4096]);
        let mut big = vec![0u8; 5000];
        r.seek(SeekFrom::Start(1)).unwrap();
        assert_eq!(r.read(&mut big).unwrap(), 5000);
        assert_eq!(&big[..], &data[1..5001]);
        let mut tail = [7u8; 8];
        r.read_full_at(&mut tail, 9996).unwrap();
        assert_eq!(tail, [data[9996], data[9997], data[9998], data[9999], 0, 0, 0, 0]);
        assert!(r.seek(SeekFrom::Current(-20_000)).is_err());
        r.set_guard(Some(10));
        r.seek(SeekFrom::Start(0)).unwrap();
        assert_eq!(r.read(&mut buf).unwrap(), 5);
        assert_eq!(r.read(&mut buf).unwrap(), 5);
        assert!(r.read(&mut buf).is_err());
        r.set_guard(Some(100_000));
        r.read_full_at(&mut big, 0).unwrap();
        assert!(r.read_full_at(&mut big, 0).is_err());
        r.read_full_at(&mut big, 1).unwrap();
        r.set_guard(None);
        assert_eq!(r.read(&mut buf).unwrap(), 5);
    }
}
