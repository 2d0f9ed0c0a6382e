//! The adapter that lets `rust-fs-ext4` read through our [`BlockDev`]. It is read-only by
//! construction: the crate sees a device that refuses writes, so a dirty journal is replayed
//! into the crate's in-memory cache and the image is never written.

use crate::disk::{BlockDev, Dev};
use fs_ext4::block_io::BlockDevice;

/// A [`BlockDev`] seen as the crate's `BlockDevice`, never writable.
pub(super) struct ReadOnlyDev(pub(super) Dev);

impl BlockDevice for ReadOnlyDev {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> fs_ext4::Result<()> {
        BlockDev::read_at(self.0.as_ref(), buf, offset)
            .map_err(|e| fs_ext4::Error::Io(std::io::Error::other(e)))
    }

    fn size_bytes(&self) -> u64 {
        self.0.len()
    }

    fn is_writable(&self) -> bool {
        false
    }
}
