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
//! header (64 bytes)  "VGFSREDO", version u32 = 1, header length u32 = 64,
//!                    image virtual size u64, image inode u64, format u32 (0 raw, 1 qcow2),
//!                    zeros up to byte 60, CRC-32 of bytes 0..60 u32
//! data record ×N     "DATA", CRC-32 u32 of bytes 8..32+len, image offset u64,
//!                    len u64 (1 ..= 1 MiB), sequence number u64, data, zeros to a multiple of 8
//! commit record      "DONE", CRC-32 u32 of bytes 8..32, N u64, total data bytes u64,
//!                    CRC-32 u32 of every byte of the log before this record, zero u32
//! ```
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
pub mod image;
pub mod linear;
pub mod lock;
pub mod mem;
pub mod overlay;
pub mod probe;
pub mod qcow2;
pub mod rangeset;
pub mod raw;
pub mod redo;
pub mod slice;
mod spill;

pub use error::Error;
pub use image::{open_scratch_image, open_session_image, OpenedImage};
pub use linear::{Extent, Linear};
pub use lock::ImageLock;
pub use mem::MemDev;
pub use overlay::{CommitStats, Overlay, OverlayOptions};
pub use probe::{open_image, Format};
pub use raw::RawFile;
pub use redo::{LogState, RedoTarget};
pub use slice::Slice;

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

    /// A name for messages: the image path, or the guest device name (`/dev/sda1`).
    fn name(&self) -> String;
}

/// A shared block device.
pub type Dev = Arc<dyn BlockDev>;

/// Checks that `len` bytes at `off` lie inside a device of `size` bytes.
pub(crate) fn check_range(name: &dyn Fn() -> String, off: u64, len: usize, size: u64) -> Result<()> {
    let end = off.checked_add(len as u64);
    match end {
        Some(end) if end <= size => Ok(()),
        _ => Err(Error::OutOfRange { dev: name(), offset: off, len: len as u64, size }),
    }
}

/// Reads `len` bytes at `off` into a new buffer. `len` must be small (it is allocated at once):
/// callers bound it by a structure size they validated.
pub fn read_vec(dev: &dyn BlockDev, off: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    dev.read_at(&mut buf, off)?;
    Ok(buf)
}
