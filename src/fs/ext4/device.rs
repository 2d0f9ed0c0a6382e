//! The adapter that lets `rust-fs-ext4` reach our [`BlockDev`]. A read-only mount sees a
//! device that refuses writes, so a dirty journal is replayed into the crate's in-memory
//! cache and the image is never written; a writable mount sees the device as it is.

use crate::disk::{BlockDev, Dev};
use fs_ext4::block_io::BlockDevice;

/// A [`BlockDev`] seen as the crate's `BlockDevice`; writable only when `writable` is set
/// (and the device itself takes writes).
pub(super) struct Adapter {
    /// The device.
    pub(super) dev: Dev,
    /// Whether the crate may write through this adapter.
    pub(super) writable: bool,
}

/// A block-layer error as the crate carries it: wrapped in an `io::Error`, recovered by
/// [`super::error::Mapper`].
fn wrap(e: crate::disk::Error) -> fs_ext4::Error {
    fs_ext4::Error::Io(std::io::Error::other(e))
}

impl BlockDevice for Adapter {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> fs_ext4::Result<()> {
        BlockDev::read_at(self.dev.as_ref(), buf, offset).map_err(wrap)
    }

    fn size_bytes(&self) -> u64 {
        self.dev.len()
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> fs_ext4::Result<()> {
        if !self.writable {
            return Err(fs_ext4::Error::ReadOnly);
        }
        BlockDev::write_at(self.dev.as_ref(), buf, offset).map_err(wrap)
    }

    fn flush(&self) -> fs_ext4::Result<()> {
        if !self.writable {
            return Ok(());
        }
        BlockDev::flush(self.dev.as_ref()).map_err(wrap)
    }

    fn is_writable(&self) -> bool {
        self.writable && self.dev.is_writable()
    }
}
