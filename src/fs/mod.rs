//! Filesystems: probing (blkid-like) and, later, reading and writing.

/// Errors of the filesystem layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The block layer failed underneath.
    #[error(transparent)]
    Disk(#[from] crate::disk::Error),
}
