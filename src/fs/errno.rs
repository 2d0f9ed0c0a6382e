//! POSIX error numbers for filesystem operations, with the messages `strerror` gives, so tools
//! print what guestfish prints ("No such file or directory").

/// The errors a filesystem operation reports the way the kernel would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Errno {
    /// ENOENT
    NoEntry,
    /// ENOTDIR
    NotDir,
    /// EISDIR
    IsDir,
    /// ELOOP
    Loop,
    /// EINVAL
    Invalid,
    /// EROFS
    ReadOnlyFs,
    /// EEXIST
    Exists,
    /// ENOTEMPTY
    NotEmpty,
    /// ENOSPC
    NoSpace,
    /// ENAMETOOLONG
    NameTooLong,
    /// ENODATA (no such extended attribute)
    NoData,
    /// EPERM
    NotPermitted,
    /// EBUSY (a mountpoint cannot be removed or renamed)
    Busy,
    /// EXDEV (a hard link across filesystems)
    CrossDevice,
    /// EMLINK
    TooManyLinks,
    /// EFBIG
    FileTooBig,
    /// ERANGE (an xattr name longer than 255 bytes)
    Range,
    /// E2BIG (an xattr value longer than 64 KiB)
    TooBig,
    /// EOPNOTSUPP
    NotSupported,
}

impl Errno {
    /// The Linux error number (`libc::ENOENT`…), as a FUSE reply or a system call returns it.
    pub fn raw(self) -> i32 {
        match self {
            Errno::NoEntry => libc::ENOENT,
            Errno::NotDir => libc::ENOTDIR,
            Errno::IsDir => libc::EISDIR,
            Errno::Loop => libc::ELOOP,
            Errno::Invalid => libc::EINVAL,
            Errno::ReadOnlyFs => libc::EROFS,
            Errno::Exists => libc::EEXIST,
            Errno::NotEmpty => libc::ENOTEMPTY,
            Errno::NoSpace => libc::ENOSPC,
            Errno::NameTooLong => libc::ENAMETOOLONG,
            Errno::NoData => libc::ENODATA,
            Errno::NotPermitted => libc::EPERM,
            Errno::Busy => libc::EBUSY,
            Errno::CrossDevice => libc::EXDEV,
            Errno::TooManyLinks => libc::EMLINK,
            Errno::FileTooBig => libc::EFBIG,
            Errno::Range => libc::ERANGE,
            Errno::TooBig => libc::E2BIG,
            Errno::NotSupported => libc::EOPNOTSUPP,
        }
    }

    /// The `strerror` text.
    pub fn message(self) -> &'static str {
        match self {
            Errno::NoEntry => "No such file or directory",
            Errno::NotDir => "Not a directory",
            Errno::IsDir => "Is a directory",
            Errno::Loop => "Too many levels of symbolic links",
            Errno::Invalid => "Invalid argument",
            Errno::ReadOnlyFs => "Read-only file system",
            Errno::Exists => "File exists",
            Errno::NotEmpty => "Directory not empty",
            Errno::NoSpace => "No space left on device",
            Errno::NameTooLong => "File name too long",
            Errno::NoData => "No data available",
            Errno::NotPermitted => "Operation not permitted",
            Errno::Busy => "Device or resource busy",
            Errno::CrossDevice => "Invalid cross-device link",
            Errno::TooManyLinks => "Too many links",
            Errno::FileTooBig => "File too large",
            Errno::Range => "Numerical result out of range",
            Errno::TooBig => "Argument list too long",
            Errno::NotSupported => "Operation not supported",
        }
    }
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}
