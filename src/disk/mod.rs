//! Block layer: every view of a guest disk is a [`BlockDev`] — an image file (raw or qcow2),
//! a [`Slice`] of another device (a partition), or a [`Linear`] concatenation of extents
//! (an LVM logical volume).
//!
//! # Writing: lock, overlay, redo log
//!
//! An image opened for writing ([`open_session_image`]) is first locked with QEMU's own
//! byte-range locks ([`lock`]), so a running VM, `qemu-img`, or another vguestfs is refused
//! and refuses us. A qcow2 image must pass a metadata check first ([`qcow2::check_metadata`]).
//! The guest then sees an [`Overlay`]: writes stay in memory (up to 64 MiB, then in an
//! unnamed temporary file) and the image is not touched until [`Overlay::commit`]; dropping
//! the overlay discards them. [`Overlay::dirty_ranges`] says what a commit would write.
//!
//! ## The redo log
//!
//! A commit is made atomic by a redo log beside the image, `IMAGE.vguestfs-redo`
//! (little-endian):
//!
//! ```text
//! header (64 bytes)  "VGFSREDO", version u32 = 2, header length u32 = 64,
//!                    image virtual size u64, image inode u64, format u32 (0 raw, 1 qcow2),
//!                    zeros up to byte 60, CRC-32 of bytes 0..60 u32
//! record ×N, either
//!   data record      "DATA", CRC-32 u32 of bytes 8..32+len, image offset u64,
//!                    len u64 (1 ..= 1 MiB), sequence number u64, data, zeros to a multiple of 8
//!   zero record      "ZERO", CRC-32 u32 of bytes 8..32, image offset u64, len u64 (≥ 1),
//!                    sequence number u64 — the range becomes zeros; no data
//! commit record      "DONE", CRC-32 u32 of bytes 8..32, N u64, total bytes of the records u64,
//!                    CRC-32 u32 of every byte of the log before this record, zero u32
//! ```
//!
//! Version 1 logs (data records only) are still read. Zeroing ([`BlockDev::write_zeroes`],
//! vfish's `zero-device`) stores no data in the overlay, only a zero range, and commits as a
//! zero record: the image then zeroes it its own way (qcow2 v3: zero clusters; raw and qcow2
//! v2: zeros written over the pieces not zero already).
//!
//! Commit: (1) write the whole log (one record per merged dirty range, split at 1 MiB),
//! fsync it and its directory; (2) write the records to the image and fsync it (for qcow2:
//! flush imago's metadata caches, then fsync); (3) remove the log and fsync the directory.
//! A failure in (1) removes the partial log: the image is unchanged. A failure in (2) keeps the
//! complete log. Opening the image for writing settles a leftover log: a complete one (every
//! CRC good, the commit record matching) is replayed — records are absolute bytes, so
//! replaying twice is harmless — and an incomplete one is removed, because its commit never
//! reached step (2). Either way the user is told (`Guest::notices`). A log whose header names
//! another image (inode, virtual size or format differ) is neither replayed nor removed: the
//! open fails and says so. A read-only open never writes: it shows a complete log's changes
//! applied, in memory, and says the image needs a writable open to finish the commit.
//!
//! Each image's commit is atomic; the commits of several images of one guest are not atomic
//! together.

mod error;
pub mod extended;
pub mod file;
pub mod image;
pub mod info;
pub mod linear;
pub mod lock;
pub mod mem;
pub mod overlay;
pub mod probe;
pub mod qcow2;
pub mod rangeset;
pub mod raw;
pub mod redo;
pub mod resize;
pub mod slice;
mod spill;
pub mod staged;

pub use error::Error;
pub use image::{open_scratch_image, open_session_image, OpenedImage};
pub use extended::ZeroExtended;
pub use linear::{Extent, Linear};
pub use lock::ImageLock;
pub use mem::MemDev;
pub use overlay::{CommitStats, Overlay, OverlayOptions};
pub use probe::{open_image, Format};
pub use qcow2::{set_backing_allow, BackingAllow};
pub use raw::RawFile;
pub use redo::{LogState, RedoTarget};
pub use resize::grow_image;
pub use slice::Slice;
pub use staged::Staged;

use std::sync::Arc;

/// Result of block-layer operations.
pub type Result<T> = std::result::Result<T, Error>;

/// A random-access block device with positioned I/O.
///
/// All methods take `&self`; implementations lock internally where needed, so a device can be
/// shared (`Arc<dyn BlockDev>`) by several views at once.
pub trait BlockDev: Send + Sync {
    /// Size in bytes.
    fn len(&self) -> u64;

    /// Whether the device has zero length.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `buf` from byte offset `off`. Reading past the end is an error
    /// ([`Error::OutOfRange`]), never a short read.
    fn read_at(&self, buf: &mut [u8], off: u64) -> Result<()>;

    /// Writes all of `buf` at byte offset `off`. Read-only devices return [`Error::ReadOnly`].
    fn write_at(&self, buf: &[u8], off: u64) -> Result<()>;

    /// Makes `len` bytes at `off` read back as zeros. The default reads the range piece by
    /// piece and writes zeros only over pieces that are not zero already, so a sparse image
    /// stays sparse (guestfish's `zero-device` promises as much); devices override it with
    /// cheaper means: an [`Overlay`] records a zero range and stores no data, a qcow2 v3 image
    /// gets zero clusters, views pass it down.
    fn write_zeroes(&self, off: u64, len: u64) -> Result<()> {
        if !self.is_writable() {
            return Err(Error::ReadOnly { dev: self.name() });
        }
        check_span(&|| self.name(), off, len, self.len())?;
        zero_by_writing(self, off, len)
    }

    /// Makes previous writes durable.
    fn flush(&self) -> Result<()>;

    /// Whether writes are allowed.
    fn is_writable(&self) -> bool;

    /// Whether every write stays in a copy-on-write [`Overlay`] until an atomic
    /// [`Overlay::commit`] (for views: whether every device below does). A filesystem on such
    /// a device need not journal its own changes: the image only ever moves from one state
    /// between operations to another, and a crash mid-operation cannot reach it.
    fn buffers_until_commit(&self) -> bool {
        false
    }

    /// How many bytes from `off` (at most `len`) are known to read as zeros without reading
    /// them (unallocated or zero clusters of a qcow2 image); 0 when not known. Lets copies skip
    /// holes, as `qemu-img convert` does.
    fn known_zeros(&self, _off: u64, _len: u64) -> Result<u64> {
        Ok(0)
    }

    /// A name for messages: the image path, or the guest device name (`/dev/sda1`).
    fn name(&self) -> String;
}

/// A shared block device.
pub type Dev = Arc<dyn BlockDev>;

/// Checks that `len` bytes at `off` lie inside a device of `size` bytes.
pub(crate) fn check_range(name: &dyn Fn() -> String, off: u64, len: usize, size: u64) -> Result<()> {
    check_span(name, off, len as u64, size)
}

/// [`check_range`] for a length that need not fit in memory (a range to zero).
pub(crate) fn check_span(name: &dyn Fn() -> String, off: u64, len: u64, size: u64) -> Result<()> {
    match off.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(Error::OutOfRange { dev: name(), offset: off, len, size }),
    }
}

/// The piece [`zero_by_writing`] reads, compares and (when not zero) overwrites.
const ZERO_STEP: u64 = 64 << 10;

/// Zeroes `len` bytes at `off` of `dev` (range already checked) by writing zero buffers over
/// the pieces that are not all zeros already.
pub(crate) fn zero_by_writing<D: BlockDev + ?Sized>(dev: &D, off: u64, len: u64) -> Result<()> {
    let end = off + len;
    let mut buf = vec![0u8; ZERO_STEP.min(len) as usize];
    let zeros = vec![0u8; buf.len()];
    let mut pos = off;
    while pos < end {
        let n = ZERO_STEP.min(end - pos) as usize;
        dev.read_at(&mut buf[..n], pos)?;
        if buf[..n].iter().any(|&b| b != 0) {
            dev.write_at(&zeros[..n], pos)?;
        }
        pos += n as u64;
    }
    Ok(())
}

/// Reads `len` bytes at `off` into a new buffer. `len` must be small (it is allocated at once):
/// callers bound it by a structure size they validated.
pub fn read_vec(dev: &dyn BlockDev, off: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    dev.read_at(&mut buf, off)?;
    Ok(buf)
}

/// Where `std::io::Seek` on a device of `len` bytes lands from position `pos` (for the
/// `Read + Seek` adapters that crates reading a device want): past the end is allowed, before
/// the start is `InvalidInput`.
pub fn seek_target(from: std::io::SeekFrom, pos: u64, len: u64) -> std::io::Result<u64> {
    let new = match from {
        std::io::SeekFrom::Start(p) => Some(p),
        std::io::SeekFrom::End(d) => len.checked_add_signed(d),
        std::io::SeekFrom::Current(d) => pos.checked_add_signed(d),
    };
    new.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"))
}
