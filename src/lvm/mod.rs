//! LVM2: physical volume labels, text metadata, volume groups and logical volumes.

/// Errors of the LVM layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The block layer failed underneath.
    #[error(transparent)]
    Disk(#[from] crate::disk::Error),
}
