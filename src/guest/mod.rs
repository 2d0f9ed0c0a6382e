//! Guest sessions: drives → devices (disks, partitions, LVs) → filesystems, with libguestfs
//! device names and method names.

mod session;

pub use session::{DiskDevice, DriveOptions, Guest, PartitionDevice};

/// Errors of guest sessions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No `-a` image was given.
    #[error("no drives added: give at least one disk image")]
    NoDrives,
    /// A method that needs the device map was called before `launch`.
    #[error("call launch before using this function")]
    NotLaunched,
    /// `launch` was called twice, or a drive added after it.
    #[error("the guest is already launched")]
    AlreadyLaunched,
    /// A device name that is not in the guest.
    #[error("{0}: no such device in the guest (see list-devices, list-partitions, lvs)")]
    NoSuchDevice(String),
}
