//! Guest sessions: drives → devices → filesystems.

/// Errors of guest sessions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The block layer failed underneath.
    #[error(transparent)]
    Disk(#[from] crate::disk::Error),
}

/// A guest session (filled in by the session work).
pub struct Guest;
