//! Filesystems: probing (blkid-like) and, later, reading and writing.

/// Errors of the filesystem layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The block layer failed underneath.
    #[error(transparent)]
    Disk(#[from] crate::disk::Error),
}

pub mod statfs;

/// Result of filesystem-layer operations.
pub type Result<T> = std::result::Result<T, Error>;
