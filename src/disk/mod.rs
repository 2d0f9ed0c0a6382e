//! Block layer: every view of a guest disk is a [`BlockDev`] — an image file (raw or qcow2),
//! a [`Slice`] of another device (a partition), or a [`Linear`] concatenation of extents
//! (an LVM logical volume).

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
pub use image::{open_session_image, OpenedImage};
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
