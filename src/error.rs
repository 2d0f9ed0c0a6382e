//! The crate-wide error: one variant per layer, each layer keeping its own `Error` enum.

/// Any error from the vguestfs library, named by the layer it came from.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Block layer (image files, qcow2, slices).
    #[error(transparent)]
    Disk(#[from] crate::disk::Error),
    /// Partition tables.
    #[error(transparent)]
    Part(#[from] crate::part::Error),
    /// LVM physical volumes, metadata and logical volumes.
    #[error(transparent)]
    Lvm(#[from] crate::lvm::Error),
    /// Filesystems.
    #[error(transparent)]
    Fs(#[from] crate::fs::Error),
    /// Guest sessions (devices, mounts, paths).
    #[error(transparent)]
    Guest(#[from] crate::guest::Error),
    /// Sysprep operations and their options.
    #[error(transparent)]
    Sysprep(#[from] crate::sysprep::Error),
    /// Resizing.
    #[error(transparent)]
    Resize(#[from] crate::resize::Error),
}

/// Result with the crate-wide [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
