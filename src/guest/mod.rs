//! Guest sessions: drives → devices (disks, partitions, LVs) → filesystems, with libguestfs
//! device names and method names.

pub mod files;
pub mod inspect;
pub mod listing;
mod mounts;
pub mod path;
pub mod selinux;
mod session;
pub mod write;

pub use session::{parse_blocksize, DiskChanges, DiskCommit, DiskDevice, DriveOptions, Guest, PartitionDevice, PathChange};

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
    /// Nothing is mounted at or on this path or device.
    #[error("{0}: not mounted")]
    NotMounted(String),
    /// A filesystem is mounted below this mountpoint.
    #[error("{0}: target is busy (unmount what is mounted below it first)")]
    Busy(String),
    /// A device to be overwritten holds, or lies inside, a mounted filesystem.
    #[error("{device}: device is in use: {mounted} is mounted (umount it first)")]
    InUse {
        /// The device to be overwritten.
        device: String,
        /// The mounted device that shares its blocks.
        mounted: String,
    },
    /// An argument out of the range a command accepts.
    #[error("{0}")]
    BadArgument(String),
    /// A write refused because the disk is damaged in a way that writing could make worse.
    #[error("{0}")]
    Refused(String),
    /// A path was used before any filesystem was mounted on `/`.
    #[error("no filesystem is mounted on / (use mount, or -i / -m)")]
    NothingMounted,
    /// Reading a host file or stream that feeds a guest write failed.
    #[error("{0}")]
    Host(String),
    /// A guest path that cannot be resolved or used, with the errno the kernel would give.
    #[error("{path}: {errno}")]
    Path {
        /// The path as the user gave it.
        path: String,
        /// Why.
        errno: crate::fs::Errno,
    },
    /// A directory reached by two paths: the filesystem is damaged (a hard-linked directory, a
    /// directory that contains itself).
    #[error("{path}: directory loop: the same directory as {first} (the filesystem is damaged; check a copy with e2fsck -f or fsck.vfat)")]
    DirectoryLoop {
        /// The second path.
        path: String,
        /// The path it was first met at.
        first: String,
    },
    /// The block layer failed underneath.
    #[error(transparent)]
    Disk(#[from] crate::disk::Error),
    /// A partition table is unreadable.
    #[error(transparent)]
    Part(#[from] crate::part::Error),
    /// LVM metadata is unreadable.
    #[error(transparent)]
    Lvm(#[from] crate::lvm::Error),
    /// A filesystem failed.
    #[error(transparent)]
    Fs(#[from] crate::fs::Error),
}

/// Result of guest-session calls.
pub type Result<T> = std::result::Result<T, Error>;
