//! Filesystems: probing (blkid-like), statvfs-equivalent sizes, and later reading and writing.

pub mod probe;
pub mod statfs;

pub use probe::{probe, FsInfo};

/// Errors of the filesystem layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The block layer failed underneath.
    #[error(transparent)]
    Disk(#[from] crate::disk::Error),
    /// Reading a device failed while probing it for a filesystem signature.
    #[error("{dev}: probing for a filesystem: {source}")]
    Probe {
        /// The device being probed (`BlockDev::name`).
        dev: String,
        /// The block-layer error.
        source: crate::disk::Error,
    },
}

/// Result of filesystem-layer operations.
pub type Result<T> = std::result::Result<T, Error>;
