//! Filesystems: probing (blkid-like), statvfs-equivalent sizes, and the [`Filesystem`] trait
//! that ext2/3/4, FAT, XFS, btrfs and NTFS (read-only) implement.

pub mod acl;
pub mod btrfs;
mod errno;
pub mod ext4;
pub mod fat;
pub mod ntfs;
pub mod probe;
pub mod statfs;
pub mod swap;
mod types;
pub mod xfs;

pub use errno::Errno;
pub use probe::{probe, FsInfo};
pub use types::{major, makedev, minor, DirEntry, FileType, Filesystem, Ino, Stat, StatVfs, Timespec};

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
    /// A POSIX error for an operation on an inode (`ENOENT`, `ENOTDIR`…).
    #[error("{0}")]
    Os(Errno),
    /// The filesystem's structures are damaged.
    #[error("{dev}: {fs}: corrupt filesystem: {msg} (check a copy with {})", checker(fs))]
    Corrupt {
        /// The device.
        dev: String,
        /// The filesystem type.
        fs: String,
        /// What is wrong, naming the structure.
        msg: String,
    },
    /// The filesystem must be checked before the operation (`e2fsck -f`): it was not cleanly
    /// unmounted, records errors, has orphans or a journal to replay.
    #[error("{dev}: {msg}")]
    NeedsCheck {
        /// The device.
        dev: String,
        /// What is wrong and what to run (resize2fs's wording).
        msg: String,
    },
    /// A resize that cannot be done as asked: a size beyond the device or the format's limits.
    #[error("{dev}: resize: {msg}")]
    Resize {
        /// The device.
        dev: String,
        /// Why, with the limit.
        msg: String,
    },
    /// A filesystem feature we cannot handle.
    #[error("{dev}: {fs}: unsupported feature: {feature}")]
    Unsupported {
        /// The device.
        dev: String,
        /// The filesystem type.
        fs: String,
        /// The feature.
        feature: String,
    },
}

/// Opens the filesystem on `dev` for reading, by its probed type: ext2/3/4, vfat, xfs, ntfs and
/// btrfs (its default subvolume; [`btrfs::BtrfsFs::open_subvol`] opens another). Other
/// types get an error naming the type found.
pub fn open(dev: crate::disk::Dev) -> Result<std::sync::Arc<dyn Filesystem>> {
    let info = probe(dev.as_ref())?;
    match info.as_ref().map(|i| i.fs_type.as_str()) {
        Some("ext2" | "ext3" | "ext4") => Ok(std::sync::Arc::new(ext4::Ext4Fs::open(dev)?)),
        Some("vfat") => Ok(std::sync::Arc::new(fat::FatFs::open(dev)?)),
        Some("xfs") => Ok(std::sync::Arc::new(xfs::XfsFs::open(dev)?)),
        Some("btrfs") => Ok(std::sync::Arc::new(btrfs::BtrfsFs::open(dev)?)),
        Some("ntfs") => Ok(std::sync::Arc::new(ntfs::NtfsFs::open(dev)?)),
        Some(other) => Err(Error::Unsupported {
            dev: dev.name(),
            fs: other.to_string(),
            feature: format!("mounting {other} filesystems (ext2/3/4, vfat, xfs, btrfs and ntfs can be mounted)"),
        }),
        None => Err(not_found(&dev)?),
    }
}

/// Opens the filesystem on the writable device `dev` (in production a copy-on-write overlay)
/// for reading and writing, by its probed type: ext2/3/4, vfat and xfs (xfs: the changes
/// [`xfs::rw`] lists; others fail naming what is not written). Other types get an error
/// naming what cannot be written.
pub fn open_rw(dev: crate::disk::Dev) -> Result<std::sync::Arc<dyn Filesystem>> {
    let info = probe(dev.as_ref())?;
    match info.as_ref().map(|i| i.fs_type.as_str()) {
        Some("ext2" | "ext3" | "ext4") => Ok(std::sync::Arc::new(ext4::Ext4Fs::open_rw(dev)?)),
        Some("vfat") => Ok(std::sync::Arc::new(fat::FatFs::open_rw(dev)?)),
        Some("xfs") => Ok(std::sync::Arc::new(xfs::rw::XfsRw::open(dev)?)),
        Some(other) => Err(Error::Unsupported {
            dev: dev.name(),
            fs: other.to_string(),
            feature: format!("writing {other} filesystems (ext2/3/4, vfat and xfs can be written)"),
        }),
        None => Err(not_found(&dev)?),
    }
}

/// The error for a device no probe recognised: a damaged FAT boot sector named by its bad field,
/// else "no filesystem found".
fn not_found(dev: &crate::disk::Dev) -> Result<Error> {
    Ok(fat::diagnose(dev)?.unwrap_or_else(|| Error::Unsupported {
        dev: dev.name(),
        fs: "unknown".into(),
        feature: "no filesystem found on the device".into(),
    }))
}

/// The tool that checks and repairs filesystem type `fs`.
fn checker(fs: &str) -> &'static str {
    match fs {
        "ext2" | "ext3" | "ext4" | "ext4dev" => "e2fsck -f",
        "vfat" => "fsck.vfat",
        "xfs" => "xfs_repair -n",
        "btrfs" => "btrfs check --readonly",
        "ntfs" => "ntfsfix -n",
        _ => "its fsck",
    }
}

/// Result of filesystem-layer operations.
pub type Result<T> = std::result::Result<T, Error>;
