//! A copy-on-write layer over an opened image: writes stay in the overlay (memory, then an
//! unnamed spill file) until [`Overlay::commit`] writes them through the redo log; dropping an
//! overlay without committing writes nothing.

use super::lock::ImageLock;
use super::rangeset::RangeSet;
use super::redo::{self, LogWrapper, Piece, Record, RedoTarget, Writeback, MAX_RECORD};
use super::spill::{ChunkStore, CHUNK};
use super::{check_range, check_span, BlockDev, Dev, Error, Result};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

/// Default bound on dirty data held in memory before it spills to a temporary file.
pub const DEFAULT_MEM_LIMIT: usize = 64 << 20;

/// Where and how much an overlay buffers.
#[derive(Debug, Clone)]
pub struct OverlayOptions {
    /// Dirty bytes kept in memory; past this, new chunks go to the spill file.
    pub mem_limit: usize,
    /// Directory of the unnamed spill file (the system temporary directory when `None`).
    pub spill_dir: Option<PathBuf>,
}

impl Default for OverlayOptions {
    fn default() -> Self {
        OverlayOptions { mem_limit: DEFAULT_MEM_LIMIT, spill_dir: None }
    }
}

/// What a commit wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Bytes written to the image.
    pub bytes: u64,
    /// Merged byte ranges written.
    pub ranges: usize,
}

struct State {
    store: ChunkStore,
    /// Every changed range: written or zeroed.
    dirty: RangeSet,
    /// Ranges that read as zeros and hold no chunk: whole chunks (or the device's short last
    /// chunk), disjoint from the chunks in `store`.
    zeroed: RangeSet,
}

/// A copy-on-write [`BlockDev`] over a base device (the opened image). Reads see pending
/// writes byte for byte; the base is written only by [`Overlay::commit`]. `flush` does not
/// commit: it is a no-op, so a filesystem's `sync` lands in the overlay.
pub struct Overlay {
    base: Dev,
    target: RedoTarget,
    writable: bool,
    state: Mutex<State>,
    log_wrapper: Option<LogWrapper>,
    /// Held for as long as the overlay lives (writable images only).
    _lock: Option<ImageLock>,
}

impl Overlay {
    /// An overlay over `base`, committing through the redo log of `target`. It accepts writes
    /// when `base` does.
    pub fn new(base: Dev, target: RedoTarget, opts: OverlayOptions) -> Overlay {
        let spill_dir = opts.spill_dir.unwrap_or_else(std::env::temp_dir);
        Overlay {
            writable: base.is_writable(),
            base,
            target,
            state: Mutex::new(State {
                store: ChunkStore::new(opts.mem_limit, spill_dir),
                dirty: RangeSet::new(),
                zeroed: RangeSet::new(),
            }),
            log_wrapper: None,
            _lock: None,
        }
    }

    /// A scratch overlay over a read-only `base`: it accepts writes, reads them back, reports
    /// them as dirty ranges, and can never commit (a dry run: the image file stays read-only
    /// and every change is thrown away with the overlay).
    pub fn scratch(base: Dev, target: RedoTarget, opts: OverlayOptions) -> Overlay {
        Overlay { writable: true, ..Overlay::new(base, target, opts) }
    }

    /// Keeps `lock` until the overlay is dropped.
    pub fn with_lock(mut self, lock: ImageLock) -> Overlay {
        self._lock = Some(lock);
        self
    }

    /// Wraps the redo log's device before each commit writes it (for fault-injection tests).
    pub fn with_log_wrapper(mut self, wrapper: LogWrapper) -> Overlay {
        self.log_wrapper = Some(wrapper);
        self
    }

    /// The image and redo log this overlay commits to.
    pub fn target(&self) -> &RedoTarget {
        &self.target
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a thread panicked mid-operation; the chunk map is still sound
        // (every chunk holds whole, consistent bytes).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The changed byte ranges, merged and in ascending order: what a commit would write.
    pub fn dirty_ranges(&self) -> Vec<Range<u64>> {
        self.state().dirty.ranges().collect()
    }

    /// Bytes of dirty data held in (memory, the spill file).
    pub fn buffered_bytes(&self) -> (usize, u64) {
        let st = self.state();
        (st.store.mem_bytes(), st.store.spilled_bytes())
    }

    /// Reads through the overlay with the state locked.
    fn read_locked(&self, st: &State, buf: &mut [u8], off: u64) -> Result<()> {
        let end = off + buf.len() as u64;
        let mut pos = off;
        while pos < end {
            let idx = pos / CHUNK;
            let at = (pos - off) as usize;
            if st.store.contains(idx) {
                let within = (pos - idx * CHUNK) as usize;
                pos += st.store.read_run(idx, within, &mut buf[at..])? as u64;
            } else {
                // Everything up to the next dirty chunk comes from below in one go.
                let next = st.store.next_from(idx).map_or(end, |i| (i * CHUNK).min(end));
                let n = (next - pos) as usize;
                self.read_below(st, &mut buf[at..at + n], pos)?;
                pos = next;
            }
        }
        Ok(())
    }

    /// Reads what lies below the chunks: zeros in zeroed ranges, the base elsewhere.
    fn read_below(&self, st: &State, buf: &mut [u8], off: u64) -> Result<()> {
        let end = off + buf.len() as u64;
        let mut pos = off;
        for z in st.zeroed.intersecting(off..end) {
            if pos < z.start {
                self.base.read_at(&mut buf[(pos - off) as usize..(z.start - off) as usize], pos)?;
            }
            buf[(z.start - off) as usize..(z.end - off) as usize].fill(0);
            pos = z.end;
        }
        if pos < end {
            self.base.read_at(&mut buf[(pos - off) as usize..], pos)?;
        }
        Ok(())
    }

    /// Makes `len` bytes at `off` zeros: partly covered chunks at the ends are written with
    /// zeros, the whole chunks between are dropped and recorded as a zero range (no data).
    fn zero_locked(&self, st: &mut State, off: u64, len: u64) -> Result<()> {
        let size = self.base.len();
        let end = off + len;
        let first = off.next_multiple_of(CHUNK).min(end);
        let last = if end == size { end } else { end / CHUNK * CHUNK }.max(first);
        let zeros = vec![0u8; (CHUNK as usize).min(len as usize)];
        if first > off {
            self.write_locked(st, &zeros[..(first - off) as usize], off)?;
        }
        if last > first {
            st.store.remove_range(first / CHUNK..last.div_ceil(CHUNK));
            st.zeroed.insert(first..last);
            st.dirty.insert(first..last);
        }
        if end > last {
            self.write_locked(st, &zeros[..(end - last) as usize], last)?;
        }
        Ok(())
    }

    /// Stores `data` at `off`, copying partly covered chunks from the base first.
    fn write_locked(&self, st: &mut State, data: &[u8], off: u64) -> Result<()> {
        let len = self.base.len();
        let end = off + data.len() as u64;
        let mut pos = off;
        while pos < end {
            let idx = pos / CHUNK;
            let chunk_start = idx * CHUNK;
            let chunk_len = CHUNK.min(len - chunk_start) as usize;
            let within = (pos - chunk_start) as usize;
            let n = (chunk_len - within).min((end - pos) as usize);
            let piece = &data[(pos - off) as usize..(pos - off) as usize + n];
            if st.store.contains(idx) {
                st.store.update(idx, within, piece)?;
            } else {
                let chunk = if n == chunk_len {
                    piece.to_vec()
                } else {
                    let mut chunk = vec![0u8; chunk_len];
                    self.read_below(st, &mut chunk, chunk_start)?;
                    chunk[within..within + n].copy_from_slice(piece);
                    chunk
                };
                st.store.insert(idx, chunk)?;
                // the chunk now holds this range's bytes (zeros included)
                st.zeroed.remove(chunk_start..chunk_start + chunk_len as u64);
            }
            st.dirty.insert(pos..pos + n as u64);
            pos += n as u64;
        }
        Ok(())
    }

    /// Adds pending data without the writability check: a read-only session showing the
    /// contents of a complete leftover redo log without writing the image.
    pub(crate) fn load_pending(&self, off: u64, rec: Record<'_>) -> Result<()> {
        let mut st = self.state();
        match rec {
            Record::Data(data) => {
                check_range(&|| self.name(), off, data.len(), self.len())?;
                self.write_locked(&mut st, data, off)
            }
            Record::Zero(len) => {
                check_span(&|| self.name(), off, len, self.len())?;
                self.zero_locked(&mut st, off, len)
            }
        }
    }

    /// Writes every pending change to the image, atomically: the redo log is written and
    /// fsynced (with its directory), then the changes are applied to the image and the image
    /// is fsynced, then the log is removed. Afterwards the overlay is empty and accepts more
    /// writes. On failure the pending changes are kept (commit can be retried); if the image
    /// was being written, the complete log stays and the next writable open finishes the job.
    pub fn commit(&self) -> Result<CommitStats> {
        if !self.writable || !self.base.is_writable() {
            return Err(Error::ReadOnly { dev: self.name() });
        }
        let mut st = self.state();
        if st.dirty.is_empty() {
            return Ok(CommitStats::default());
        }
        let stats = CommitStats { bytes: st.dirty.bytes(), ranges: st.dirty.len() };
        let records = pieces(&st.dirty, &st.zeroed);
        let longest = records.iter().filter_map(|p| match p {
            Piece::Data(r) => Some(r.end - r.start),
            Piece::Zero(_) => None,
        });
        let mut buf = vec![0u8; longest.max().unwrap_or(0) as usize];
        let written = redo::write_log(&self.target, self.log_wrapper.as_ref(), &records, |off, out| {
            self.read_locked(&st, out, off)
        });
        if let Err(e) = written {
            let _ = redo::remove(&self.target);
            return Err(Error::Redo {
                path: self.target.log.clone(),
                msg: format!("commit failed while writing the redo log, so {} is unchanged: {e}", self.target.image.display()),
            });
        }
        // the image file (raw or qcow2) is written through `base`; this descriptor only hints
        let mut writeback = Writeback::new(std::fs::File::open(&self.target.image).ok());
        let applied = records.iter().try_for_each(|p| match p {
            Piece::Data(r) => {
                let piece = &mut buf[..(r.end - r.start) as usize];
                self.read_locked(&st, piece, r.start)?;
                self.base.write_at(piece, r.start)?;
                writeback.wrote(piece.len() as u64);
                Ok(())
            }
            Piece::Zero(r) => self.base.write_zeroes(r.start, r.end - r.start),
        });
        if let Err(e) = applied.and_then(|()| self.base.flush()) {
            return Err(Error::Redo {
                path: self.target.log.clone(),
                msg: format!(
                    "commit was interrupted while writing {} ({e}); the complete redo log is kept, and the next writable open of the image (--rw) finishes the commit",
                    self.target.image.display()
                ),
            });
        }
        st.store.clear();
        st.dirty.clear();
        st.zeroed.clear();
        redo::remove(&self.target).map_err(|e| Error::Redo {
            path: self.target.log.clone(),
            msg: format!("the commit is complete, but removing its redo log failed ({e}); the next writable open replays it again, harmlessly"),
        })?;
        Ok(stats)
    }
}

/// The records of a commit, in ascending order: the zeroed ranges as zero records, the rest
/// of the dirty ranges as data records of at most [`MAX_RECORD`] bytes.
fn pieces(dirty: &RangeSet, zeroed: &RangeSet) -> Vec<Piece> {
    let mut out = Vec::new();
    for r in dirty.ranges() {
        let mut pos = r.start;
        for z in zeroed.intersecting(r.clone()) {
            split_into(&mut out, pos..z.start);
            out.push(Piece::Zero(z.clone()));
            pos = z.end;
        }
        split_into(&mut out, pos..r.end);
    }
    out
}

/// Appends `r` as data records of at most [`MAX_RECORD`] bytes.
fn split_into(out: &mut Vec<Piece>, r: Range<u64>) {
    let mut s = r.start;
    while s < r.end {
        let e = r.end.min(s + MAX_RECORD);
        out.push(Piece::Data(s..e));
        s = e;
    }
}

impl BlockDev for Overlay {
    fn len(&self) -> u64 {
        self.base.len()
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> Result<()> {
        check_range(&|| self.name(), off, buf.len(), self.len())?;
        let st = self.state();
        self.read_locked(&st, buf, off)
    }

    fn write_at(&self, buf: &[u8], off: u64) -> Result<()> {
        if !self.writable {
            return Err(Error::ReadOnly { dev: self.name() });
        }
        check_range(&|| self.name(), off, buf.len(), self.len())?;
        let mut st = self.state();
        self.write_locked(&mut st, buf, off)
    }

    /// Records a zero range: whole chunks store no data, in memory or spilled.
    fn write_zeroes(&self, off: u64, len: u64) -> Result<()> {
        if !self.writable {
            return Err(Error::ReadOnly { dev: self.name() });
        }
        check_span(&|| self.name(), off, len, self.len())?;
        let mut st = self.state();
        self.zero_locked(&mut st, off, len)
    }

    /// Pending writes stay in the overlay until [`Overlay::commit`]; there is nothing to flush.
    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn is_writable(&self) -> bool {
        self.writable
    }

    /// Always: nothing reaches the image but through [`Overlay::commit`].
    fn buffers_until_commit(&self) -> bool {
        true
    }

    fn name(&self) -> String {
        self.base.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::{Format, MemDev};
    use std::sync::Arc;

    fn setup(len: usize, mem_limit: usize) -> (tempfile::TempDir, Arc<MemDev>, Overlay) {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("img");
        std::fs::write(&image, b"").unwrap();
        let base = Arc::new(MemDev::new((0..len).map(|i| (i % 253) as u8).collect()));
        let target = RedoTarget::beside(&image, Format::Raw, len as u64).unwrap();
        let ov = Overlay::new(base.clone(), target, OverlayOptions { mem_limit, spill_dir: Some(dir.path().into()) });
        (dir, base, ov)
    }

    #[test]
    fn writes_stay_in_the_overlay_until_commit() {
        let (_dir, base, ov) = setup(20_000, 1 << 20);
        let before = base.contents();
        ov.write_at(b"hello", 4094).unwrap();
        ov.write_at(&[9u8; 5000], 19_000 - 5000).unwrap();
        let mut b = [0u8; 7];
        ov.read_at(&mut b, 4093).unwrap();
        assert_eq!(&b, &[before[4093], b'h', b'e', b'l', b'l', b'o', before[4099]]);
        assert_eq!(base.contents(), before);
        assert_eq!(ov.dirty_ranges(), vec![4094..4099, 14_000..19_000]);
        assert!(ov.write_at(b"x", 20_000).is_err());
        let stats = ov.commit().unwrap();
        assert_eq!(stats, CommitStats { bytes: 5005, ranges: 2 });
        let after = base.contents();
        assert_eq!(&after[4094..4099], b"hello");
        assert!(after[14_000..19_000].iter().all(|&x| x == 9));
        assert_eq!(after[..4094], before[..4094]);
        assert!(ov.dirty_ranges().is_empty());
        assert!(!ov.target().log.exists());
        ov.write_at(b"again", 0).unwrap();
        assert_eq!(ov.commit().unwrap().bytes, 5);
        assert_eq!(&base.contents()[..5], b"again");
    }

    #[test]
    fn random_writes_match_a_byte_model_in_memory_and_spilled() {
        for mem_limit in [0usize, 3 * CHUNK as usize, 1 << 30] {
            let len = 50_001usize;
            let (_dir, base, ov) = setup(len, mem_limit);
            let mut model = base.contents();
            let mut x: u64 = 0x2545_f491_4f6c_dd1d ^ mem_limit as u64;
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            for round in 0..400 {
                let off = (next() % len as u64) as usize;
                let n = ((next() % 9000) as usize).min(len - off);
                if next() % 3 == 0 {
                    let mut got = vec![0u8; n];
                    ov.read_at(&mut got, off as u64).unwrap();
                    assert!(got == model[off..off + n], "round {round}: read {n} at {off}");
                } else {
                    let data: Vec<u8> = (0..n).map(|_| next() as u8).collect();
                    ov.write_at(&data, off as u64).unwrap();
                    model[off..off + n].copy_from_slice(&data);
                }
                if round % 150 == 149 {
                    ov.commit().unwrap();
                    assert!(base.contents() == model, "commit at round {round}");
                }
            }
            let mut all = vec![0u8; len];
            ov.read_at(&mut all, 0).unwrap();
            assert!(all == model);
            if mem_limit == 0 {
                assert!(ov.buffered_bytes().0 == 0);
            }
            ov.commit().unwrap();
            assert!(base.contents() == model);
        }
    }

    #[test]
    fn read_only_base_refuses_writes_and_commit() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("img");
        std::fs::write(&image, vec![1u8; 8192]).unwrap();
        let base: Dev = Arc::new(crate::disk::RawFile::open(&image, false).unwrap());
        let ov = Overlay::new(base, RedoTarget::beside(&image, Format::Raw, 8192).unwrap(), OverlayOptions::default());
        assert!(!ov.is_writable());
        assert!(matches!(ov.write_at(b"x", 0), Err(Error::ReadOnly { .. })));
        ov.load_pending(8189, Record::Data(b"xyz")).unwrap();
        let mut b = [0u8; 4];
        ov.read_at(&mut b, 8188).unwrap();
        assert_eq!(&b, b"\x01xyz");
        assert!(matches!(ov.commit(), Err(Error::ReadOnly { .. })));
        assert_eq!(std::fs::read(&image).unwrap(), vec![1u8; 8192]);
    }

    #[test]
    fn long_ranges_split_into_bounded_records_around_zero_ranges() {
        let mut dirty = RangeSet::new();
        dirty.insert(0..MAX_RECORD * 2 + 5);
        dirty.insert(MAX_RECORD * 3..MAX_RECORD * 5 + 1);
        let mut zeroed = RangeSet::new();
        zeroed.insert(MAX_RECORD * 3 + 4096..MAX_RECORD * 5);
        let m = MAX_RECORD;
        assert_eq!(
            pieces(&dirty, &zeroed),
            vec![
                Piece::Data(0..m),
                Piece::Data(m..2 * m),
                Piece::Data(2 * m..2 * m + 5),
                Piece::Data(3 * m..3 * m + 4096),
                Piece::Zero(3 * m + 4096..5 * m),
                Piece::Data(5 * m..5 * m + 1),
            ]
        );
    }

    /// Zero ranges mixed with writes, against a byte model: reads, dirty ranges, commits
    /// (replayed from the log's zero records too), in memory and spilled.
    #[test]
    fn zero_ranges_match_a_byte_model() {
        for mem_limit in [0usize, 1 << 30] {
            let len = 70_001usize;
            let (_dir, base, ov) = setup(len, mem_limit);
            let mut model = base.contents();
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ mem_limit as u64;
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            for round in 0..300 {
                let off = (next() % len as u64) as usize;
                let n = ((next() % 20_000) as usize).min(len - off);
                match next() % 4 {
                    0 => {
                        let mut got = vec![0u8; n];
                        ov.read_at(&mut got, off as u64).unwrap();
                        assert!(got == model[off..off + n], "round {round}: read {n} at {off}");
                    }
                    1 => {
                        ov.write_zeroes(off as u64, n as u64).unwrap();
                        model[off..off + n].fill(0);
                    }
                    _ => {
                        let data: Vec<u8> = (0..n).map(|_| next() as u8).collect();
                        ov.write_at(&data, off as u64).unwrap();
                        model[off..off + n].copy_from_slice(&data);
                    }
                }
                if round % 100 == 99 {
                    ov.commit().unwrap();
                    assert!(base.contents() == model, "commit at round {round}");
                }
            }
            ov.write_zeroes(0, len as u64).unwrap();
            assert_eq!(ov.dirty_ranges(), vec![0..len as u64]);
            assert_eq!(ov.buffered_bytes().0, 0, "zeroing stores no data in memory");
            ov.commit().unwrap();
            assert!(base.contents().iter().all(|&b| b == 0));
        }
    }
}
