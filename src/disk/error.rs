use std::path::PathBuf;

/// Errors of the block layer. Every variant names the image or device it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system I/O error on an image file.
    #[error("{path}: {op}: {source}")]
    Io {
        /// The image file.
        path: PathBuf,
        /// What was being done (`open`, `read`, `write`, `flush`).
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// An access outside the device.
    #[error("{dev}: access of {len} bytes at offset {offset} is beyond the end of the device ({size} bytes); the image may be truncated")]
    OutOfRange {
        /// Device name.
        dev: String,
        /// Requested offset.
        offset: u64,
        /// Requested length.
        len: u64,
        /// Device size.
        size: u64,
    },
    /// A write to a device opened read-only.
    #[error("{dev}: read-only device (open the image with --rw to write)")]
    ReadOnly {
        /// Device name.
        dev: String,
    },
    /// The image format could not be determined or is not one we open.
    #[error("{path}: {msg}")]
    Format {
        /// The image file.
        path: PathBuf,
        /// What is wrong, and what to do.
        msg: String,
    },
    /// A qcow2 image we cannot open or use: corrupt header or tables, or an engine error.
    #[error("{path}: qcow2: {msg}")]
    Qcow2 {
        /// The image file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// A qcow2 feature we do not support.
    #[error("{path}: qcow2 feature not supported: {feature}; {fix}")]
    Qcow2Unsupported {
        /// The image file.
        path: PathBuf,
        /// The feature (`zstd compression`, `extended L2 entries`, `dirty bit`…).
        feature: String,
        /// How the user can convert or repair the image.
        fix: String,
    },
    /// A backing chain we refuse to follow.
    #[error("{path}: backing file: {msg}")]
    Backing {
        /// The image whose backing file is refused.
        path: PathBuf,
        /// Why (loop, too deep, missing format, not found).
        msg: String,
    },
    /// A redo log (`IMAGE.vguestfs-redo`) that cannot be written, replayed or trusted.
    #[error("{path}: {msg}")]
    Redo {
        /// The log file.
        path: PathBuf,
        /// What is wrong, and what to do.
        msg: String,
    },
    /// The image is locked by another process (a running QEMU, or another vguestfs).
    #[error("{path} is in use by another process (a running QEMU/VM?) — refusing to write ({detail})")]
    InUse {
        /// The image file.
        path: PathBuf,
        /// Which lock is held.
        detail: String,
    },
}
