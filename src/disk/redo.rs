//! The redo log that makes an overlay commit atomic: every changed byte range is first written,
//! checksummed, to `IMAGE.vguestfs-redo` and made durable; only then is the image written. A
//! crash before the log is complete leaves the image untouched (the partial log is discarded);
//! a crash after it leaves a complete log, which the next writable open replays.
//!
//! The layout and the commit protocol are described in the design notes of [`crate::disk`].

use super::{BlockDev, Dev, Error, Format, RawFile, Result};
use std::fs::{File, OpenOptions};
use std::ops::Range;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What is appended to the image path to name its redo log.
pub const LOG_SUFFIX: &str = ".vguestfs-redo";
/// Longest data record: longer dirty ranges are split into several records.
pub const MAX_RECORD: u64 = 1 << 20;

const MAGIC: [u8; 8] = *b"VGFSREDO";
/// Written by this version; version 1 (no zero records) is read too.
const VERSION: u32 = 2;
const HEADER_LEN: u64 = 64;
const RECORD_HEADER_LEN: u64 = 32;
const COMMIT_LEN: u64 = 32;
const TAG_DATA: [u8; 4] = *b"DATA";
const TAG_DONE: [u8; 4] = *b"DONE";
const TAG_ZERO: [u8; 4] = *b"ZERO";

/// What a commit changes in one range of the image: a record of its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// New bytes for the range (at most [`MAX_RECORD`] long).
    Data(Range<u64>),
    /// The range becomes zeros (any length; the log holds no data for it).
    Zero(Range<u64>),
}

impl Piece {
    /// The byte range of the image.
    pub fn range(&self) -> &Range<u64> {
        match self {
            Piece::Data(r) | Piece::Zero(r) => r,
        }
    }
}

/// A record read back from a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    /// These bytes go at the record's offset.
    Data(&'a [u8]),
    /// This many bytes at the record's offset become zeros.
    Zero(u64),
}

/// Receives each record of a log: (image offset, what changes there).
pub type RecordSink<'a> = &'a mut dyn FnMut(u64, Record<'_>) -> Result<()>;

/// Wraps the log file's device before the log is written: a seam for fault-injection tests.
pub type LogWrapper = Arc<dyn Fn(Dev) -> Dev + Send + Sync>;

/// The image a log belongs to: a log is replayed only onto the image it was written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// Virtual size of the image (the device size the offsets refer to).
    pub size: u64,
    /// Inode number of the image file.
    pub ino: u64,
    /// The format the image was opened as (offsets are virtual for qcow2, file offsets for raw).
    pub format: Format,
}

/// An image and the path of its redo log.
#[derive(Debug, Clone)]
pub struct RedoTarget {
    /// The image file.
    pub image: PathBuf,
    /// `IMAGE.vguestfs-redo`.
    pub log: PathBuf,
    /// What the log header records about the image.
    pub identity: Identity,
}

impl RedoTarget {
    /// The log beside `image`, for the image opened as `format` with virtual size `size`.
    pub fn beside(image: &Path, format: Format, size: u64) -> Result<RedoTarget> {
        let meta = std::fs::metadata(image).map_err(|source| Error::Io { path: image.to_path_buf(), op: "stat", source })?;
        Ok(RedoTarget { image: image.to_path_buf(), log: log_path(image), identity: Identity { size, ino: meta.ino(), format } })
    }
}

/// `IMAGE.vguestfs-redo`.
pub fn log_path(image: &Path) -> PathBuf {
    let mut s = image.as_os_str().to_owned();
    s.push(LOG_SUFFIX);
    PathBuf::from(s)
}

/// What a leftover log holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogState {
    /// There is no log.
    Absent,
    /// The log is incomplete or damaged (why): its commit never started writing the image.
    Incomplete(String),
    /// A complete, valid log of `ranges` records holding `bytes` bytes.
    Complete {
        /// Number of data records.
        ranges: u64,
        /// Bytes of data.
        bytes: u64,
    },
    /// A complete log we must not replay onto this image (why): written for another image or
    /// by another version.
    Unusable(String),
}

fn format_code(f: Format) -> u32 {
    match f {
        Format::Raw => 0,
        Format::Qcow2 => 1,
    }
}

fn format_name(code: u32) -> &'static str {
    match code {
        0 => "raw",
        1 => "qcow2",
        _ => "unknown",
    }
}

fn pad8(n: u64) -> u64 {
    n.next_multiple_of(8)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

fn io<'a>(path: &'a Path, op: &'static str) -> impl Fn(std::io::Error) -> Error + 'a {
    move |source| Error::Io { path: path.to_path_buf(), op, source }
}

/// fsyncs the directory holding `path`, so that creating or removing it is durable.
fn sync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir, "sync directory"))
}

fn encode_header(id: &Identity) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    h[16..24].copy_from_slice(&id.size.to_le_bytes());
    h[24..32].copy_from_slice(&id.ino.to_le_bytes());
    h[32..36].copy_from_slice(&format_code(id.format).to_le_bytes());
    let crc = crc32fast::hash(&h[..60]);
    h[60..64].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Bytes a record takes in the log.
fn record_len(p: &Piece) -> u64 {
    match p {
        Piece::Data(r) => RECORD_HEADER_LEN + pad8(r.end - r.start),
        Piece::Zero(_) => RECORD_HEADER_LEN,
    }
}

/// Writes a complete log of `records` (`fetch(offset, buf)` supplies the new contents of the
/// data records) and makes it durable: the file, then its directory. On error the partial log
/// is left for the caller to remove.
pub(crate) fn write_log(
    target: &RedoTarget,
    wrap: Option<&LogWrapper>,
    records: &[Piece],
    mut fetch: impl FnMut(u64, &mut [u8]) -> Result<()>,
) -> Result<()> {
    let total = HEADER_LEN + records.iter().map(record_len).sum::<u64>() + COMMIT_LEN;
    let log = &target.log;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(log)
        .map_err(io(log, "create redo log"))?;
    file.set_len(total).map_err(io(log, "size redo log"))?;
    let mut writeback = Writeback::new(file.try_clone().ok());
    let raw: Dev = Arc::new(RawFile::from_file(file, log.clone(), true)?);
    let dev = match wrap {
        Some(w) => w(raw),
        None => raw,
    };
    let mut log_crc = crc32fast::Hasher::new();
    let header = encode_header(&target.identity);
    dev.write_at(&header, 0)?;
    log_crc.update(&header);
    let mut pos = HEADER_LEN;
    let longest = records.iter().map(record_len).max().unwrap_or(0);
    let mut buf = vec![0u8; longest as usize];
    let mut bytes = 0u64;
    for (seq, piece) in records.iter().enumerate() {
        let r = piece.range();
        let len = r.end - r.start;
        let (tag, data_end) = match piece {
            Piece::Data(_) => (TAG_DATA, (RECORD_HEADER_LEN + len) as usize),
            Piece::Zero(_) => (TAG_ZERO, RECORD_HEADER_LEN as usize),
        };
        let rec = &mut buf[..record_len(piece) as usize];
        fetch_data(piece, &mut fetch, &mut rec[RECORD_HEADER_LEN as usize..data_end])?;
        rec[data_end..].fill(0);
        rec[0..4].copy_from_slice(&tag);
        rec[8..16].copy_from_slice(&r.start.to_le_bytes());
        rec[16..24].copy_from_slice(&len.to_le_bytes());
        rec[24..32].copy_from_slice(&(seq as u64).to_le_bytes());
        let mut body = crc32fast::Hasher::new();
        body.update(&rec[8..data_end]);
        let crc = body.clone().finalize();
        rec[4..8].copy_from_slice(&crc.to_le_bytes());
        dev.write_at(rec, pos)?;
        // the log's running CRC, without reading the data a second time
        let mut head = crc32fast::Hasher::new();
        head.update(&rec[..8]);
        log_crc.combine(&head);
        log_crc.combine(&body);
        let mut pad = crc32fast::Hasher::new();
        pad.update(&rec[data_end..]);
        log_crc.combine(&pad);
        pos += rec.len() as u64;
        bytes += len;
        writeback.wrote(rec.len() as u64);
    }
    let mut done = [0u8; COMMIT_LEN as usize];
    done[0..4].copy_from_slice(&TAG_DONE);
    done[8..16].copy_from_slice(&(records.len() as u64).to_le_bytes());
    done[16..24].copy_from_slice(&bytes.to_le_bytes());
    done[24..28].copy_from_slice(&log_crc.finalize().to_le_bytes());
    let crc = crc32fast::hash(&done[8..32]);
    done[4..8].copy_from_slice(&crc.to_le_bytes());
    dev.write_at(&done, pos)?;
    dev.flush()?;
    sync_dir(log)
}

/// Fills `out` with the new contents of a data record (a zero record has none).
fn fetch_data(piece: &Piece, fetch: &mut impl FnMut(u64, &mut [u8]) -> Result<()>, out: &mut [u8]) -> Result<()> {
    match piece {
        Piece::Data(r) => fetch(r.start, out),
        Piece::Zero(_) => Ok(()),
    }
}

/// Starts the kernel writing dirty pages of a file back in the background every few MiB
/// written, so that the fsync that follows waits only for the tail: a hint, whose failure is
/// ignored (the fsync still makes everything durable).
pub(crate) struct Writeback {
    file: Option<File>,
    pending: u64,
}

impl Writeback {
    /// Bytes written between two hints.
    const STEP: u64 = 8 << 20;

    /// Hints for `file` (none when `None`).
    pub(crate) fn new(file: Option<File>) -> Writeback {
        Writeback { file, pending: 0 }
    }

    /// Counts `n` bytes written; past [`Writeback::STEP`], starts writeback of the whole file.
    pub(crate) fn wrote(&mut self, n: u64) {
        self.pending += n;
        if self.pending < Self::STEP {
            return;
        }
        self.pending = 0;
        if let Some(f) = &self.file {
            use std::os::fd::AsRawFd;
            // SAFETY: a valid open descriptor; offset 0, length 0 = the whole file; the call
            // only queues writeback and touches no memory of ours.
            unsafe { libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
        }
    }
}

/// Reads the log of `target`: whether it exists, is complete and belongs to the image.
pub fn inspect(target: &RedoTarget) -> Result<LogState> {
    let file = match File::open(&target.log) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LogState::Absent),
        Err(e) => return Err(io(&target.log, "open redo log")(e)),
    };
    scan(&file, target, None)
}

/// Calls `apply(offset, data)` for every record of the complete log of `target`, in order,
/// checking every checksum again as it goes.
pub fn for_each_record(target: &RedoTarget, apply: RecordSink<'_>) -> Result<LogState> {
    let file = File::open(&target.log).map_err(io(&target.log, "open redo log"))?;
    match scan(&file, target, None)? {
        LogState::Complete { .. } => scan(&file, target, Some(apply)),
        other => Ok(other),
    }
}

/// Replays the complete log of `target` onto `dev` (the image opened for writing), flushes
/// the image, then removes the log. Returns (records, bytes) replayed.
pub fn replay(target: &RedoTarget, dev: &dyn BlockDev) -> Result<(u64, u64)> {
    let state = for_each_record(target, &mut |off, rec| match rec {
        Record::Data(data) => dev.write_at(data, off),
        Record::Zero(len) => dev.write_zeroes(off, len),
    })?;
    let LogState::Complete { ranges, bytes } = state else {
        return Err(Error::Redo { path: target.log.clone(), msg: format!("cannot replay: {state:?}") });
    };
    dev.flush()?;
    remove(target)?;
    Ok((ranges, bytes))
}

/// Removes the log of `target` (if any) and makes the removal durable.
pub fn remove(target: &RedoTarget) -> Result<()> {
    match std::fs::remove_file(&target.log) {
        Ok(()) => sync_dir(&target.log),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(&target.log, "remove redo log")(e)),
    }
}

/// Reads `buf.len()` bytes at `off` of the log; `false` when the file is too short.
fn read(file: &File, path: &Path, len: u64, buf: &mut [u8], off: u64) -> Result<bool> {
    if off.checked_add(buf.len() as u64).is_none_or(|end| end > len) {
        return Ok(false);
    }
    file.read_exact_at(buf, off).map_err(io(path, "read redo log"))?;
    Ok(true)
}

/// Walks the log, checking every checksum; with `apply`, hands each record to it (only once
/// the header says the log is for this image).
fn scan(file: &File, target: &RedoTarget, mut apply: Option<RecordSink<'_>>) -> Result<LogState> {
    let path = &target.log;
    let len = file.metadata().map_err(io(path, "stat redo log"))?.len();
    let incomplete = |why: String| Ok(LogState::Incomplete(why));
    let mut header = [0u8; HEADER_LEN as usize];
    if !read(file, path, len, &mut header, 0)? {
        return incomplete("it is shorter than its header".into());
    }
    if header[0..8] != MAGIC {
        return incomplete("it does not start with the redo-log magic".into());
    }
    if le32(&header, 60) != crc32fast::hash(&header[..60]) {
        return incomplete("its header checksum does not match".into());
    }
    let version = le32(&header, 8);
    if !(1..=VERSION).contains(&version) {
        return Ok(LogState::Unusable(format!(
            "it is a version {version} log and this vguestfs reads version {VERSION}; open the image with the vguestfs that wrote it"
        )));
    }
    let (size, ino, format) = (le64(&header, 16), le64(&header, 24), le32(&header, 32));
    let id = target.identity;
    let mismatch = (size != id.size || ino != id.ino || format != format_code(id.format)).then(|| {
        format!(
            "it was written for a {} image of {size} bytes with inode {ino}, but {} is a {} image of {} bytes with inode {}; \
             if the image was replaced since, delete the log",
            format_name(format),
            target.image.display(),
            format_name(format_code(id.format)),
            id.size,
            id.ino
        )
    });
    if let (Some(why), true) = (&mismatch, apply.is_some()) {
        return Ok(LogState::Unusable(why.clone()));
    }
    let mut log_crc = crc32fast::Hasher::new();
    log_crc.update(&header);
    let (mut pos, mut seq, mut bytes) = (HEADER_LEN, 0u64, 0u64);
    let mut data = Vec::new();
    loop {
        let mut rec = [0u8; RECORD_HEADER_LEN as usize];
        if !read(file, path, len, &mut rec, pos)? {
            return incomplete(format!("it ends after {seq} records without a commit record"));
        }
        let tag = &rec[0..4];
        if tag == TAG_DONE {
            if le32(&rec, 4) != crc32fast::hash(&rec[8..32]) {
                return incomplete("its commit record is damaged".into());
            }
            if le64(&rec, 8) != seq || le64(&rec, 16) != bytes || le32(&rec, 24) != log_crc.finalize() {
                return incomplete("its commit record does not match the records before it".into());
            }
            return Ok(match mismatch {
                Some(why) => LogState::Unusable(why),
                None => LogState::Complete { ranges: seq, bytes },
            });
        }
        let zero = tag == TAG_ZERO && version >= 2;
        if tag != TAG_DATA && !zero {
            return incomplete(format!("it ends after {seq} records without a commit record"));
        }
        let (off, rlen, rseq) = (le64(&rec, 8), le64(&rec, 16), le64(&rec, 24));
        if rlen == 0 || (!zero && rlen > MAX_RECORD) || rseq != seq {
            return incomplete(format!("record {seq} at byte {pos} is damaged"));
        }
        data.clear();
        data.resize(if zero { 0 } else { pad8(rlen) as usize }, 0);
        if !read(file, path, len, &mut data, pos + RECORD_HEADER_LEN)? {
            return incomplete(format!("record {seq} at byte {pos} is cut short"));
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&rec[8..32]);
        crc.update(&data[..data.len().min(rlen as usize)]);
        if le32(&rec, 4) != crc.finalize() {
            return incomplete(format!("record {seq} at byte {pos} fails its checksum"));
        }
        if mismatch.is_none() && off.checked_add(rlen).is_none_or(|end| end > id.size) {
            return Ok(LogState::Unusable(format!("record {seq} at byte {pos} lies beyond the end of the image")));
        }
        if let Some(apply) = apply.as_mut() {
            apply(off, if zero { Record::Zero(rlen) } else { Record::Data(&data[..rlen as usize]) })?;
        }
        log_crc.update(&rec);
        log_crc.update(&data);
        pos += RECORD_HEADER_LEN + data.len() as u64;
        seq += 1;
        bytes += rlen;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::MemDev;

    fn target(dir: &Path, size: u64) -> RedoTarget {
        let image = dir.join("img");
        std::fs::write(&image, b"").unwrap();
        RedoTarget::beside(&image, Format::Raw, size).unwrap()
    }

    fn write_records(t: &RedoTarget, records: &[Range<u64>]) {
        write_pieces(t, &records.iter().cloned().map(Piece::Data).collect::<Vec<_>>());
    }

    fn write_pieces(t: &RedoTarget, records: &[Piece]) {
        write_log(t, None, records, |off, buf| {
            buf.iter_mut().enumerate().for_each(|(i, b)| *b = (off as usize + i) as u8);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn complete_log_replays_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let t = target(dir.path(), 10_000);
        write_records(&t, &[3..10, 100..1100, 9990..10_000]);
        assert_eq!(inspect(&t).unwrap(), LogState::Complete { ranges: 3, bytes: 1017 });
        let dev = MemDev::new(vec![0xee; 10_000]);
        assert_eq!(replay(&t, &dev).unwrap(), (3, 1017));
        let c = dev.contents();
        for (i, &b) in c.iter().enumerate() {
            let written = (3..10).contains(&i) || (100..1100).contains(&i) || i >= 9990;
            assert_eq!(b, if written { i as u8 } else { 0xee }, "byte {i}");
        }
        assert_eq!(inspect(&t).unwrap(), LogState::Absent);
    }

    #[test]
    fn zero_records_replay_as_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let t = target(dir.path(), 10_000);
        write_pieces(&t, &[Piece::Data(3..10), Piece::Zero(10..5000), Piece::Data(5000..5100), Piece::Zero(9000..10_000)]);
        // a zero record holds no data: header, 2 data records, 2 bare record headers, commit
        assert_eq!(std::fs::metadata(&t.log).unwrap().len(), 64 + (32 + 8) + (32 + 104) + 2 * 32 + 32);
        assert_eq!(inspect(&t).unwrap(), LogState::Complete { ranges: 4, bytes: 7 + 4990 + 100 + 1000 });
        let dev = MemDev::new(vec![0xee; 10_000]);
        replay(&t, &dev).unwrap();
        let c = dev.contents();
        for (i, &b) in c.iter().enumerate() {
            let want = match i {
                3..10 | 5000..5100 => i as u8,
                10..5000 | 9000.. => 0,
                _ => 0xee,
            };
            assert_eq!(b, want, "byte {i}");
        }
    }

    #[test]
    fn a_version_1_log_still_replays() {
        let dir = tempfile::tempdir().unwrap();
        let t = target(dir.path(), 4096);
        write_records(&t, &[0..5, 8..9]);
        let mut log = std::fs::read(&t.log).unwrap();
        log[8..12].copy_from_slice(&1u32.to_le_bytes());
        let crc = crc32fast::hash(&log[..60]);
        log[60..64].copy_from_slice(&crc.to_le_bytes());
        // the commit record's CRC covers the header
        let done = log.len() - 32;
        let all = crc32fast::hash(&log[..done]);
        log[done + 24..done + 28].copy_from_slice(&all.to_le_bytes());
        let rc = crc32fast::hash(&log[done + 8..done + 32]);
        log[done + 4..done + 8].copy_from_slice(&rc.to_le_bytes());
        std::fs::write(&t.log, &log).unwrap();
        assert_eq!(inspect(&t).unwrap(), LogState::Complete { ranges: 2, bytes: 6 });
    }

    #[test]
    fn every_truncation_and_every_bit_flip_is_incomplete() {
        let dir = tempfile::tempdir().unwrap();
        let t = target(dir.path(), 4096);
        write_pieces(&t, &[Piece::Data(0..5), Piece::Zero(8..60), Piece::Data(64..100)]);
        let good = std::fs::read(&t.log).unwrap();
        for cut in 0..good.len() {
            std::fs::write(&t.log, &good[..cut]).unwrap();
            assert!(matches!(inspect(&t).unwrap(), LogState::Incomplete(_)), "cut at {cut}");
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            std::fs::write(&t.log, &bad).unwrap();
            let st = inspect(&t).unwrap();
            assert!(matches!(st, LogState::Incomplete(_)), "flip at byte {i}: {st:?}");
        }
    }

    #[test]
    fn a_log_for_another_image_is_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let t = target(dir.path(), 4096);
        write_records(&t, &[0..5, 7..9]);
        let mut other = t.clone();
        other.identity.size = 8192;
        let st = inspect(&other).unwrap();
        assert!(matches!(&st, LogState::Unusable(m) if m.contains("4096 bytes") && m.contains("delete the log")), "{st:?}");
        let dev = MemDev::new(vec![0; 8192]);
        assert!(replay(&other, &dev).is_err());
        assert!(dev.contents().iter().all(|&b| b == 0));
        assert!(t.log.exists());
    }
}
