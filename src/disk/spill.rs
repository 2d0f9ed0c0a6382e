//! The overlay's store of dirty chunks: in memory up to a bound, then in an unnamed temporary
//! file (never in RAM past the bound, but for a write buffer of [`TAIL`] bytes at the end of
//! the file), so a large edit cannot exhaust memory.

use super::{Error, Result};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// Chunk size: the unit the overlay copies from its base on a partial write.
pub const CHUNK: u64 = 4096;

/// Spilled chunks are gathered into writes of this size (one `pwrite` instead of 256).
pub const TAIL: usize = 1 << 20;

/// Where a chunk's bytes live.
enum Slot {
    /// In memory.
    Mem(Box<[u8]>),
    /// In the spill file: (offset, length).
    File(u64, usize),
}

/// Chunks by index (`offset / CHUNK`). Each chunk holds the current bytes of its whole chunk
/// of the device (the last chunk of a device may be shorter than [`CHUNK`]).
pub struct ChunkStore {
    chunks: BTreeMap<u64, Slot>,
    mem_bytes: usize,
    mem_limit: usize,
    spill_dir: PathBuf,
    spill: Option<File>,
    /// Length of the spill file including `tail`.
    spill_len: u64,
    /// The last bytes of the spill file, not written yet (whole chunks, fewer than [`TAIL`]).
    tail: Vec<u8>,
}

impl ChunkStore {
    /// An empty store keeping at most `mem_limit` bytes in memory; further chunks go to an
    /// unnamed file created in `spill_dir` when first needed.
    pub fn new(mem_limit: usize, spill_dir: PathBuf) -> ChunkStore {
        ChunkStore { chunks: BTreeMap::new(), mem_bytes: 0, mem_limit, spill_dir, spill: None, spill_len: 0, tail: Vec::new() }
    }

    /// Where the unwritten tail starts in the spill file.
    fn tail_start(&self) -> u64 {
        self.spill_len - self.tail.len() as u64
    }

    /// The tail's bytes of the spill file at `at..at + len`, when they lie in the tail.
    fn in_tail(&self, at: u64, len: usize) -> Option<std::ops::Range<usize>> {
        let start = usize::try_from(at.checked_sub(self.tail_start())?).ok()?;
        let end = start.checked_add(len)?;
        (end <= self.tail.len()).then_some(start..end)
    }

    /// Writes the tail to the spill file.
    fn write_tail(&mut self) -> Result<()> {
        if self.tail.is_empty() {
            return Ok(());
        }
        let at = self.tail_start();
        let file = self.spill.as_ref().ok_or_else(|| self.range_err(at / CHUNK))?;
        file.write_all_at(&self.tail, at).map_err(|e| self.io("spill write", e))?;
        self.tail.clear();
        Ok(())
    }

    fn io(&self, op: &'static str, source: std::io::Error) -> Error {
        Error::Io { path: self.spill_dir.join("(unnamed overlay spill file)"), op, source }
    }

    /// Whether chunk `idx` is held.
    pub fn contains(&self, idx: u64) -> bool {
        self.chunks.contains_key(&idx)
    }

    /// The first held chunk at or after `idx`.
    pub fn next_from(&self, idx: u64) -> Option<u64> {
        self.chunks.range(idx..).next().map(|(&i, _)| i)
    }

    /// Copies `out.len()` bytes at `within` of held chunk `idx` into `out`.
    pub fn read(&self, idx: u64, within: usize, out: &mut [u8]) -> Result<()> {
        match self.chunks.get(&idx) {
            Some(Slot::Mem(b)) => {
                let src = within.checked_add(out.len()).and_then(|end| b.get(within..end));
                out.copy_from_slice(src.ok_or_else(|| self.range_err(idx))?);
                Ok(())
            }
            Some(Slot::File(at, len)) => {
                if within.checked_add(out.len()).is_none_or(|end| end > *len) {
                    return Err(self.range_err(idx));
                }
                let at = at + within as u64;
                if let Some(r) = self.in_tail(at, out.len()) {
                    out.copy_from_slice(&self.tail[r]);
                    return Ok(());
                }
                let file = self.spill.as_ref().ok_or_else(|| self.range_err(idx))?;
                file.read_exact_at(out, at).map_err(|e| self.io("spill read", e))
            }
            None => Err(self.range_err(idx)),
        }
    }

    /// Copies bytes from `within` of held chunk `idx` into `out`, continuing into the chunks
    /// that follow it when they lie next to it in the spill file (one read for a spilled
    /// run); returns how many bytes were copied (at least one, at most `out.len()`).
    pub fn read_run(&self, idx: u64, within: usize, out: &mut [u8]) -> Result<usize> {
        let Some(Slot::File(at, len)) = self.chunks.get(&idx) else {
            let n = self.chunk_len(idx)?.saturating_sub(within).min(out.len());
            self.read(idx, within, &mut out[..n])?;
            return Ok(n);
        };
        if within >= *len {
            return Err(self.range_err(idx));
        }
        let start = at + within as u64;
        let (mut n, mut end) = ((*len - within).min(out.len()), at + *len as u64);
        let mut next = idx + 1;
        // a run stays on one side of the tail's start: in the file, or in the tail
        let limit = if start >= self.tail_start() { u64::MAX } else { self.tail_start() };
        while n < out.len() {
            match self.chunks.get(&next) {
                Some(Slot::File(a, l)) if *a == end && end < limit => {
                    n = (n + l).min(out.len());
                    end += *l as u64;
                    next += 1;
                }
                _ => break,
            }
        }
        if let Some(r) = self.in_tail(start, n) {
            out[..n].copy_from_slice(&self.tail[r]);
            return Ok(n);
        }
        let file = self.spill.as_ref().ok_or_else(|| self.range_err(idx))?;
        file.read_exact_at(&mut out[..n], start).map_err(|e| self.io("spill read", e))?;
        Ok(n)
    }

    /// Length of held chunk `idx`.
    fn chunk_len(&self, idx: u64) -> Result<usize> {
        match self.chunks.get(&idx) {
            Some(Slot::Mem(b)) => Ok(b.len()),
            Some(Slot::File(_, len)) => Ok(*len),
            None => Err(self.range_err(idx)),
        }
    }

    /// Overwrites bytes at `within` of held chunk `idx`.
    pub fn update(&mut self, idx: u64, within: usize, data: &[u8]) -> Result<()> {
        let err = self.range_err(idx);
        match self.chunks.get_mut(&idx) {
            Some(Slot::Mem(b)) => {
                let dst = within.checked_add(data.len()).and_then(|end| b.get_mut(within..end)).ok_or(err)?;
                dst.copy_from_slice(data);
                Ok(())
            }
            Some(Slot::File(at, len)) => {
                if within.checked_add(data.len()).is_none_or(|end| end > *len) {
                    return Err(err);
                }
                let at = *at + within as u64;
                if let Some(r) = self.in_tail(at, data.len()) {
                    self.tail[r].copy_from_slice(data);
                    return Ok(());
                }
                let file = self.spill.as_ref().ok_or(err)?;
                file.write_all_at(data, at).map_err(|e| self.io("spill write", e))
            }
            None => Err(err),
        }
    }

    /// Stores a new chunk `idx` with its full contents.
    pub fn insert(&mut self, idx: u64, data: Vec<u8>) -> Result<()> {
        if self.mem_bytes.saturating_add(data.len()) <= self.mem_limit {
            self.mem_bytes += data.len();
            self.chunks.insert(idx, Slot::Mem(data.into_boxed_slice()));
            return Ok(());
        }
        if self.spill.is_none() {
            let file = tempfile::tempfile_in(&self.spill_dir).map_err(|e| self.io("create spill file", e))?;
            self.spill = Some(file);
        }
        let at = self.spill_len;
        self.tail.extend_from_slice(&data);
        self.spill_len += data.len() as u64;
        self.chunks.insert(idx, Slot::File(at, data.len()));
        if self.tail.len() >= TAIL {
            self.write_tail()?;
        }
        Ok(())
    }

    /// Drops the chunks with index in `idx` (their bytes in the spill file stay unused until
    /// [`ChunkStore::clear`]).
    pub fn remove_range(&mut self, idx: std::ops::Range<u64>) {
        let gone: Vec<u64> = self.chunks.range(idx).map(|(&i, _)| i).collect();
        for i in gone {
            if let Some(Slot::Mem(b)) = self.chunks.remove(&i) {
                self.mem_bytes -= b.len();
            }
        }
    }

    /// Drops every chunk (and the spill file).
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.mem_bytes = 0;
        self.spill = None;
        self.spill_len = 0;
        self.tail = Vec::new();
    }

    /// Bytes held in memory.
    pub fn mem_bytes(&self) -> usize {
        self.mem_bytes
    }

    /// Bytes held in the spill file.
    pub fn spilled_bytes(&self) -> u64 {
        self.spill_len
    }

    fn range_err(&self, idx: u64) -> Error {
        Error::OutOfRange { dev: "overlay chunk store".into(), offset: idx.saturating_mul(CHUNK), len: CHUNK, size: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_past_the_memory_bound_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ChunkStore::new(2 * CHUNK as usize, dir.path().to_path_buf());
        for i in 0..5u64 {
            s.insert(i * 3, vec![i as u8; CHUNK as usize]).unwrap();
        }
        assert_eq!(s.mem_bytes(), 2 * CHUNK as usize);
        assert_eq!(s.spilled_bytes(), 3 * CHUNK);
        s.update(12, 10, b"abc").unwrap();
        let mut b = [0u8; 5];
        s.read(12, 9, &mut b).unwrap();
        assert_eq!(&b, &[4, b'a', b'b', b'c', 4]);
        s.read(3, 4091, &mut b).unwrap();
        assert_eq!(b, [1u8; 5]);
        assert!(s.read(3, 4095, &mut [0u8; 2]).is_err());
        assert!(s.read(1, 0, &mut [0u8; 1]).is_err());
        assert_eq!(s.next_from(4), Some(6));
        assert_eq!(s.next_from(13), None);
        // chunks 6, 9, 12 are spilled one after another but not adjacent by index: one each
        let mut run = vec![0u8; 3 * CHUNK as usize];
        assert_eq!(s.read_run(6, 10, &mut run).unwrap(), CHUNK as usize - 10);
        assert_eq!(s.read_run(0, 0, &mut run).unwrap(), CHUNK as usize);
        assert!(s.read_run(2, 0, &mut run).is_err());
        s.insert(13, vec![7u8; CHUNK as usize]).unwrap();
        s.insert(14, vec![8u8; 100]).unwrap();
        // 12, 13, 14 are adjacent in the file and by index: one read across them
        assert_eq!(s.read_run(12, 4090, &mut run).unwrap(), 6 + CHUNK as usize + 100);
        assert_eq!(&run[..7], &[4, 4, 4, 4, 4, 4, 7]);
        assert_eq!(run[6 + CHUNK as usize], 8);
        assert_eq!(s.read_run(12, 4090, &mut run[..10]).unwrap(), 10);
        s.remove_range(2..13);
        assert!(!s.contains(3) && !s.contains(6) && !s.contains(12) && s.contains(0) && s.contains(13));
        assert_eq!(s.mem_bytes(), CHUNK as usize);
        s.clear();
        assert!(!s.contains(0) && s.spilled_bytes() == 0);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn spilled_chunks_are_written_in_batches_and_read_across_the_batch_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ChunkStore::new(0, dir.path().to_path_buf());
        let per_tail = TAIL as u64 / CHUNK;
        let n = per_tail + per_tail / 2;
        let byte = |i: u64| (i * 7 + 1) as u8;
        for i in 0..n {
            s.insert(i, vec![byte(i); CHUNK as usize]).unwrap();
        }
        assert_eq!(s.tail.len() as u64, (n - per_tail) * CHUNK, "the first batch was written");
        // updates land in the file and in the tail
        s.update(3, 0, b"file").unwrap();
        s.update(n - 2, 0, b"tail").unwrap();
        let mut all = vec![0u8; (n * CHUNK) as usize];
        let mut pos = 0usize;
        while pos < all.len() {
            let idx = pos as u64 / CHUNK;
            pos += s.read_run(idx, pos % CHUNK as usize, &mut all[pos..]).unwrap();
        }
        for i in 0..n {
            let c = &all[(i * CHUNK) as usize..((i + 1) * CHUNK) as usize];
            let head: &[u8] = match i {
                3 => b"file",
                i if i == n - 2 => b"tail",
                _ => &[],
            };
            assert_eq!(&c[..head.len()], head);
            assert!(c[head.len()..].iter().all(|&b| b == byte(i)), "chunk {i}");
        }
        // a run starting in the file stops where the tail starts
        let mut buf = vec![0u8; 4 * CHUNK as usize];
        assert_eq!(s.read_run(per_tail - 1, 0, &mut buf).unwrap(), CHUNK as usize);
        let mut one = [0u8; 1];
        s.read(per_tail, 5, &mut one).unwrap();
        assert_eq!(one[0], byte(per_tail));
        s.clear();
        // the spill file is unnamed: nothing is left in the directory
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
