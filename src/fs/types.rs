//! The filesystem-independent view of a filesystem: the [`Filesystem`] trait and the types it
//! speaks (inode numbers, `stat`, directory entries, `statvfs`), shaped like the Linux VFS so
//! that guestfish commands (`stat`, `ll`, `statvfs`, `getxattrs`…) print the same values.

use super::Result;

/// An inode number within one filesystem.
pub type Ino = u64;

/// The kind of a directory entry or inode, as the `S_IFMT` bits of `st_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// Regular file.
    Regular,
    /// Directory.
    Directory,
    /// Symbolic link.
    Symlink,
    /// Character device.
    CharDevice,
    /// Block device.
    BlockDevice,
    /// Named pipe.
    Fifo,
    /// Unix socket.
    Socket,
}

impl FileType {
    /// The `S_IFMT` bits of this type.
    pub fn mode_bits(self) -> u32 {
        match self {
            FileType::Fifo => 0o010000,
            FileType::CharDevice => 0o020000,
            FileType::Directory => 0o040000,
            FileType::BlockDevice => 0o060000,
            FileType::Regular => 0o100000,
            FileType::Symlink => 0o120000,
            FileType::Socket => 0o140000,
        }
    }

    /// The type encoded in the `S_IFMT` bits of `mode`, if valid.
    pub fn from_mode(mode: u32) -> Option<FileType> {
        Some(match mode & 0o170000 {
            0o010000 => FileType::Fifo,
            0o020000 => FileType::CharDevice,
            0o040000 => FileType::Directory,
            0o060000 => FileType::BlockDevice,
            0o100000 => FileType::Regular,
            0o120000 => FileType::Symlink,
            0o140000 => FileType::Socket,
            _ => return None,
        })
    }
}

/// glibc's `makedev(major, minor)`: the `st_rdev` encoding of a device number.
pub fn makedev(major: u32, minor: u32) -> u64 {
    let (major, minor) = (u64::from(major), u64::from(minor));
    ((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff)
}

/// glibc's `major(dev)`.
pub fn major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)) as u32
}

/// glibc's `minor(dev)`.
pub fn minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0xff)) as u32
}

/// A timestamp: seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timespec {
    /// Seconds (negative before 1970).
    pub sec: i64,
    /// Nanoseconds, 0..1e9.
    pub nsec: u32,
}

/// `struct stat` of an inode, with the fields guestfish's `statns` prints.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stat {
    /// Inode number.
    pub ino: Ino,
    /// Type and permission bits (`S_IFMT | 07777`).
    pub mode: u32,
    /// Hard links.
    pub nlink: u64,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device number for character/block devices (`makedev(major, minor)` as Linux encodes it).
    pub rdev: u64,
    /// Size in bytes.
    pub size: u64,
    /// Preferred I/O size (the filesystem block size).
    pub blksize: u64,
    /// Allocated space in 512-byte units.
    pub blocks: u64,
    /// Last access.
    pub atime: Timespec,
    /// Last modification.
    pub mtime: Timespec,
    /// Last status change.
    pub ctime: Timespec,
}

impl Stat {
    /// The file type from `mode`.
    pub fn file_type(&self) -> Option<FileType> {
        FileType::from_mode(self.mode)
    }
}

/// One entry of a directory (never `.` or `..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name, as bytes (Linux names need not be UTF-8).
    pub name: Vec<u8>,
    /// The inode it names.
    pub ino: Ino,
    /// Its type.
    pub file_type: FileType,
}

/// `struct statvfs` of a filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatVfs {
    /// Block size.
    pub bsize: u64,
    /// Fragment size.
    pub frsize: u64,
    /// Total blocks (as the kernel reports: metadata overhead excluded).
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Free blocks for unprivileged users.
    pub bavail: u64,
    /// Total inodes.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
    /// Free inodes for unprivileged users.
    pub favail: u64,
    /// Filesystem id.
    pub fsid: u64,
    /// Mount flags (`ST_RDONLY` = 1 when mounted read-only).
    pub flag: u64,
    /// Longest name.
    pub namemax: u64,
}

/// A mounted filesystem, addressed by inode. Path resolution (symlinks, `..`, the guest root)
/// is the guest layer's job; a filesystem only answers per-inode questions.
pub trait Filesystem: Send + Sync {
    /// The blkid type name (`ext4`, `vfat`…).
    fn fs_type(&self) -> &str;

    /// The root directory's inode.
    fn root(&self) -> Ino;

    /// The inode named `name` in directory `dir`, or `None` when there is no such entry.
    fn lookup(&self, dir: Ino, name: &[u8]) -> Result<Option<Ino>>;

    /// `stat` of an inode.
    fn stat(&self, ino: Ino) -> Result<Stat>;

    /// The entries of a directory, in on-disk order, without `.` and `..`.
    fn read_dir(&self, dir: Ino) -> Result<Vec<DirEntry>>;

    /// Reads up to `buf.len()` bytes at `offset` of a regular file; returns the count read
    /// (0 at or past the end of the file). Holes read as zeros.
    fn read(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize>;

    /// The target of a symbolic link.
    fn readlink(&self, ino: Ino) -> Result<Vec<u8>>;

    /// Extended attributes as (full name with namespace prefix, value), in on-disk order.
    fn xattrs(&self, ino: Ino) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;

    /// `statvfs` of the filesystem.
    fn statvfs(&self) -> Result<StatVfs>;

    // ---- write side -------------------------------------------------------------------
    // A filesystem opened read-only keeps these defaults: every change fails with EROFS,
    // which is what the kernel answers for a read-only mount. Names are single path
    // components (no `/`, not empty, not `.`/`..`); the guest layer resolves paths.

    /// Whether the filesystem was opened for writing.
    fn is_writable(&self) -> bool {
        false
    }

    /// Creates an empty regular file `name` in `dir` with permission bits `mode & 0o7777`.
    /// EEXIST if the name exists.
    fn create(&self, _dir: Ino, _name: &[u8], _mode: u32) -> Result<Ino> {
        Err(super::Error::Os(super::Errno::ReadOnlyFs))
    }

    /// Creates directory `name` in `dir`.
    fn mkdir(&self, _dir: Ino, _name: &[u8], _mode: u32) -> Result<Ino> {
        Err(super::Error::Os(super::Errno::ReadOnlyFs))
    }

    /// Creates a device node, fifo or socket; `mode` carries the `S_IFMT` type bits and
    /// `rdev` the Linux `makedev` number for devices.
    fn mknod(&self, _dir: Ino, _name: &[u8], _mode: u32, _rdev: u64) -> Result<Ino> {
        Err(super::Error::Os(super::Errno::ReadOnlyFs))
    }

    /// Creates symbolic link `name` in `dir` pointing at `target`.
    fn symlink(&self, _dir: Ino, _name: &[u8], _target: &[u8]) -> Result<Ino> {
        Err(super::Error::Os(super::Errno::ReadOnlyFs))
    }

    /// Adds a hard link `name` in `dir` to inode `ino` (not a directory).
    fn link(&self, _ino: Ino, _dir: Ino, _name: &[u8]) -> Result<()> {
        Err(super::Error::Os(super::Errno::ReadOnlyFs))
    }

    /// Removes the non-directory entry `name` from `dir` (the inode is freed with its last link).
    fn unlink(&self, _dir: Ino, _name: &[u8]) -> Result<()> {
        Err(super::Error::Os(super::Errno::ReadOnlyFs))
    }

    /// Removes the empty directory `name` from `dir`.
    fn rmdir(&self, _dir: Ino, _name: &[u8]) -> Result<()> {
        Err(super::Error::Os(super::Errno::ReadOnlyFs))
    }

    /// `rename(2)`: moves `name` of `dir` to `new_name` of `new_dir`, replacing an existing
    /// target as POSIX does (a file by a file, an empty directory by a directory).
    fn rename(&self, _dir: Ino, _name: &[u8], _new_dir: Ino, _new_name: &[u8]) -> Result<()> {
        Err(super::Error::Os(super::Errno::ReadOnlyFs))
    }

    /// Writes `data` at `offset` of a regular file, extending it as needed.
    fn write(&self, _ino: Ino, _offset: u64, _data: &[u8]) -> Result<()> {
        Err(super::Error::Os(super::Errno::ReadOnlyFs))
    }

    /// Sets a regular file's size (shrinking frees blocks, growing reads as zeros).
    fn truncate(&self, _ino: Ino, _size: u64) -> Result<()> {
        Err(super::Error::Os(super::Errno::ReadOnlyFs))
    }

    /// Sets the permission bits (`mode & 0o7777`).
    fn chmod(&self, _ino: Ino, _mode: u32) -> Result<()> {
        Err(super::Error::Os(super::Errno::ReadOnlyFs))
    }

    /// Sets owner and group; `None` leaves one unchanged (as `-1` to `chown(2)`).
    fn chown(&self, _ino: Ino, _uid: Option<u32>, _gid: Option<u32>) -> Result<()> {
        Err(super::Error::Os(super::Errno::ReadOnlyFs))
    }

    /// Sets access and modification times; `None` leaves one unchanged.
    fn utimens(&self, _ino: Ino, _atime: Option<Timespec>, _mtime: Option<Timespec>) -> Result<()> {
        Err(super::Error::Os(super::Errno::ReadOnlyFs))
    }

    /// Sets extended attribute `name` (with its namespace prefix, e.g. `user.x`,
    /// `security.selinux`) to `value`, creating or replacing it.
    fn setxattr(&self, _ino: Ino, _name: &[u8], _value: &[u8]) -> Result<()> {
        Err(super::Error::Os(super::Errno::ReadOnlyFs))
    }

    /// Removes extended attribute `name`; ENODATA if it is not set.
    fn removexattr(&self, _ino: Ino, _name: &[u8]) -> Result<()> {
        Err(super::Error::Os(super::Errno::ReadOnlyFs))
    }

    /// Writes every change held in memory to the device (`sync`). The device itself may be
    /// a copy-on-write overlay that is committed separately.
    fn sync(&self) -> Result<()> {
        Ok(())
    }
}
