//! ext2/ext3/ext4 through `rust-fs-ext4` (pinned `=0.8.0`), read-only or writable.
//!
//! The crate mounts, verifies checksums, and reads inodes, extent and indirect block maps,
//! hash-tree and inline directories, symlinks, files and xattrs; on a writable mount it also
//! makes every change, each one a journal transaction checkpointed before it returns.
//! [`Ext4Fs::open`] gives it a device that refuses writes (`device::Adapter`), so a dirty
//! journal (`needs_recovery`) is replayed into the crate's memory only and the image is never
//! written; [`Ext4Fs::open_rw`] lets it write, and a dirty journal is replayed onto the
//! device, as the kernel does. Ours are the pieces the crate lacks or gets wrong: listing
//! block-mapped directories (`dir`), device numbers and the huge-file block count (`inode`),
//! the kernel's view of xattrs (`xattr`), `statvfs` (`statvfs`), the errno mapping (`error`),
//! which features may be written (`features`), and on the write side the name checks and
//! device numbers (`write`), file data on block-mapped files (`data`), xattrs by inode
//! (`xattr_write`, through a path found by `names`), and `sync`. Offline grow with
//! resize2fs's semantics is [`grow`].

mod data;
mod device;
mod dir;
mod error;
mod csum;
mod desc;
mod dircheck;
mod features;
mod geo;
pub mod grow;
mod inode;
mod names;
mod precheck;
mod statvfs;
mod tail;
mod write;
mod xattr;
mod xattr_write;

use crate::disk::Dev;
use crate::fs::{
    DirEntry, Errno, Error, FileType, Filesystem, Ino, Result, Stat, StatVfs, Timespec,
};
use fs_ext4::dir::DirEntryType;
use std::sync::{Arc, RwLock};

/// The root directory's inode number.
const ROOT_INO: Ino = 2;
/// `EXT4_NAME_LEN`.
const NAME_MAX: usize = 255;

/// A mounted ext2/3/4 filesystem, read-only ([`Ext4Fs::open`]) or writable
/// ([`Ext4Fs::open_rw`]).
pub struct Ext4Fs {
    /// The crate's mount; `None` only after a `sync` whose remount failed. Reads share it;
    /// every change holds it exclusively, so changes are serialised.
    mount: RwLock<Option<fs_ext4::Filesystem>>,
    dev: Dev,
    writable: bool,
    dev_name: String,
    fs_type: String,
    size_bytes: Option<u64>,
    names: names::Names,
    /// Directories checked before their first change ([`dircheck`]).
    checked: dircheck::Checked,
    /// Every group's fixed metadata (writable mounts): what no removal may free.
    fixed: precheck::FixedBlocks,
}

/// What a write operation works with: the crate's mount, the error mapper and the name hints.
struct Ctx<'a> {
    /// The crate's mount.
    pub fs: &'a fs_ext4::Filesystem,
    /// Error mapping for this device.
    pub err: error::Mapper<'a>,
    /// Where inodes were last seen, for operations the crate addresses by path.
    pub names: &'a names::Names,
    /// Directories found good before a change ([`dircheck`]).
    pub checked: &'a dircheck::Checked,
}

/// The crate's refusal to allocate an inode, which it calls corruption even when every group
/// is simply full.
const NO_FREE_INODE: &str = "no group has a free inode";

impl Ctx<'_> {
    /// A crate result as ours. Running out of inodes is ENOSPC, as the kernel says, when the
    /// group descriptors agree that none is free.
    pub fn ok<T>(&self, r: fs_ext4::Result<T>) -> Result<T> {
        r.map_err(|e| match e {
            fs_ext4::Error::Corrupt(NO_FREE_INODE) if self.free_inodes() == Some(0) => Error::Os(Errno::NoSpace),
            e => self.err.map(e),
        })
    }

    /// Free inodes by the group descriptors on the device.
    fn free_inodes(&self) -> Option<u64> {
        let groups = fs_ext4::bgd::read_all(self.fs.dev.as_ref(), &self.fs.sb, &self.fs.csum).ok()?;
        Some(groups.iter().map(|g| u64::from(g.free_inodes_count)).sum())
    }
}

impl Ext4Fs {
    /// Mounts the ext2/3/4 filesystem on `dev` read-only. A dirty journal is replayed in
    /// memory; nothing is ever written to `dev`.
    pub fn open(dev: Dev) -> Result<Ext4Fs> {
        Self::mount(dev, false)
    }

    /// Mounts the ext2/3/4 filesystem on the writable `dev` for reading and writing. A dirty
    /// journal is replayed onto the device first, as the kernel does. A volume with a
    /// feature whose structures the writer does not maintain (`quota`, `meta_bg`,
    /// `encrypt`…) or that records errors is refused with [`Error::Unsupported`] naming it,
    /// before anything is written. Changes reach the device as they are made: each a journal
    /// transaction, checkpointed at once — or, on a device that
    /// [buffers until an atomic commit](crate::disk::BlockDev::buffers_until_commit) (an
    /// overlay), written to their final locations without the journal, which stays clean.
    /// [`Filesystem::sync`] marks the volume clean again.
    pub fn open_rw(dev: Dev) -> Result<Ext4Fs> {
        Self::mount(dev, true)
    }

    fn mount(dev: Dev, writable: bool) -> Result<Ext4Fs> {
        let dev_name = dev.name();
        let fs_type = match crate::fs::probe(dev.as_ref())? {
            Some(info) if matches!(info.fs_type.as_str(), "ext2" | "ext3" | "ext4" | "ext4dev") => {
                info.fs_type
            }
            _ => {
                return Err(Error::Corrupt {
                    dev: dev_name,
                    fs: "ext4".into(),
                    msg: "no ext2/3/4 superblock".into(),
                })
            }
        };
        let size_bytes = crate::fs::statfs::statvfs_size(dev.as_ref(), &fs_type)?;
        let errors = error::Mapper { dev: &dev_name, fs: &fs_type };
        let mut fixed = precheck::FixedBlocks::default();
        if writable {
            if !dev.is_writable() {
                return Err(Error::Os(Errno::ReadOnlyFs));
            }
            let probe = device::Adapter { dev: dev.clone(), writable: false };
            let sb = fs_ext4::Superblock::read(&probe).map_err(|e| errors.map(e))?;
            if let Some(why) = features::write_refusal(&sb) {
                return Err(errors.unsupported(why));
            }
            let refuse = |msg: String| Error::NeedsCheck {
                dev: dev_name.clone(),
                msg: format!("{fs_type}: {msg}; refusing to write (run e2fsck -f on a copy first)"),
            };
            fixed = precheck::check(dev.as_ref(), &refuse)?;
        }
        let inner = Self::mount_crate(&dev, writable).map_err(|e| errors.map(e))?;
        Ok(Ext4Fs {
            mount: RwLock::new(Some(inner)),
            dev,
            writable,
            dev_name,
            fs_type,
            size_bytes,
            names: names::Names::default(),
            checked: dircheck::Checked::default(),
            fixed,
        })
    }

    /// The crate's mount of `dev` (replaying a dirty journal onto it when `writable`).
    fn mount_crate(dev: &Dev, writable: bool) -> fs_ext4::Result<fs_ext4::Filesystem> {
        let mut fs = fs_ext4::Filesystem::mount(Arc::new(device::Adapter { dev: dev.clone(), writable }))?;
        if writable && dev.buffers_until_commit() {
            // Every change waits in the overlay and reaches the image by an atomic commit made
            // between operations, so the journal would only write each block twice (data
            // included: the crate journals data too). The journal was replayed above and
            // stays clean; changes go to their final locations directly.
            fs.journal = None;
        }
        Ok(fs)
    }

    fn errors(&self) -> error::Mapper<'_> {
        error::Mapper { dev: &self.dev_name, fs: &self.fs_type }
    }

    /// The error for an operation after a `sync` that could not mount the volume again.
    fn unmounted(&self) -> Error {
        self.errors().corrupt("not mounted: remounting after sync failed")
    }

    /// Runs `f` on the mount, shared with other readers.
    fn with<T>(&self, f: impl FnOnce(&fs_ext4::Filesystem) -> Result<T>) -> Result<T> {
        // A poisoned lock means a thread panicked while holding it; the mount itself is
        // only changed by `sync`, which leaves it either mounted or `None`.
        let guard = self.mount.read().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(fs) => f(fs),
            None => Err(self.unmounted()),
        }
    }

    /// Runs the change `f` with the mount held exclusively; EROFS on a read-only mount.
    fn change<T>(&self, f: impl FnOnce(&Ctx<'_>) -> Result<T>) -> Result<T> {
        if !self.writable {
            return Err(Error::Os(Errno::ReadOnlyFs));
        }
        let guard = self.mount.write().unwrap_or_else(|p| p.into_inner());
        let Some(fs) = guard.as_ref() else {
            return Err(self.unmounted());
        };
        f(&Ctx { fs, err: self.errors(), names: &self.names, checked: &self.checked })
    }

    /// Runs `f`, a change that removes the entry `name` of `dir` (unlink, rmdir, a rename over
    /// it), then frees what the crate leaves of a block-mapped inode the change freed: the
    /// blocks its map holds past its size (see [`tail`]).
    fn removing(&self, dir: u32, name: &[u8], f: impl FnOnce(&Ctx<'_>) -> Result<()>) -> Result<()> {
        if !self.writable {
            return Err(Error::Os(Errno::ReadOnlyFs));
        }
        let mut guard = self.mount.write().unwrap_or_else(|p| p.into_inner());
        let Some(fs) = guard.as_mut() else {
            return Err(self.unmounted());
        };
        let errors = self.errors();
        let tail = {
            let c = Ctx { fs: &*fs, err: errors, names: &self.names, checked: &self.checked };
            let tail = tail::before_removal(&c, &self.fixed, dir, name)?;
            f(&c)?;
            tail
        };
        if let Some(tail) = tail {
            fs.flush().map_err(|e| self.errors().map(e))?;
            if tail.release(fs, self.dev.as_ref())? > 0 {
                // Our writes went under the crate's caches: it reads its metadata again.
                fs.fresh_read().map_err(|e| self.errors().map(e))?;
            }
        }
        Ok(())
    }

    /// The crate's inode number for `ino` (ext inode numbers are 32-bit).
    fn ino32(ino: Ino) -> Result<u32> {
        u32::try_from(ino).map_err(|_| Error::Os(Errno::NoEntry))
    }

    /// The parsed, live (allocated, linked) inode `ino`.
    fn inode(&self, fs: &fs_ext4::Filesystem, ino: Ino) -> Result<fs_ext4::inode::Inode> {
        fs.stat_ino(Self::ino32(ino)?).map_err(|e| self.errors().map(e))
    }

    /// The file type of an entry, from the directory when it records one, else from the inode.
    fn entry_type(&self, fs: &fs_ext4::Filesystem, e: &fs_ext4::dir::DirEntry) -> Result<FileType> {
        let t = match e.file_type {
            DirEntryType::RegFile => FileType::Regular,
            DirEntryType::Directory => FileType::Directory,
            DirEntryType::CharDev => FileType::CharDevice,
            DirEntryType::BlockDev => FileType::BlockDevice,
            DirEntryType::Fifo => FileType::Fifo,
            DirEntryType::Socket => FileType::Socket,
            DirEntryType::Symlink => FileType::Symlink,
            DirEntryType::Unknown => {
                let mode = u32::from(self.inode(fs, u64::from(e.inode))?.mode);
                return FileType::from_mode(mode).ok_or_else(|| {
                    self.errors().corrupt(format!("inode {}: invalid mode {mode:#o}", e.inode))
                });
            }
        };
        Ok(t)
    }
}

/// Checks a single path component: not empty, no `/` or NUL, not `.`/`..` (EINVAL), at most
/// 255 bytes (ENAMETOOLONG).
fn check_name(name: &[u8]) -> Result<()> {
    if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
        return Err(Error::Os(Errno::Invalid));
    }
    if name.len() > NAME_MAX {
        return Err(Error::Os(Errno::NameTooLong));
    }
    Ok(())
}

impl Filesystem for Ext4Fs {
    fn fs_type(&self) -> &str {
        &self.fs_type
    }

    fn root(&self) -> Ino {
        ROOT_INO
    }

    fn lookup(&self, dir: Ino, name: &[u8]) -> Result<Option<Ino>> {
        check_name(name)?;
        let dir32 = Self::ino32(dir)?;
        self.with(|fs| match fs.lookup_at(dir32, name) {
            Ok(ino) => {
                if name != b"." && name != b".." {
                    self.names.note(ino, dir32, name);
                }
                Ok(Some(u64::from(ino)))
            }
            Err(fs_ext4::Error::NotFound) => Ok(None),
            Err(e) => Err(self.errors().map(e)),
        })
    }

    fn stat(&self, ino: Ino) -> Result<Stat> {
        self.with(|fs| Ok(inode::stat(ino, &self.inode(fs, ino)?, fs.sb.block_size())))
    }

    fn read_dir(&self, dir: Ino) -> Result<Vec<DirEntry>> {
        self.with(|fs| {
            if !self.inode(fs, dir)?.is_dir() {
                return Err(Error::Os(Errno::NotDir));
            }
            let raw = dir::list(fs, Self::ino32(dir)?).map_err(|e| self.errors().map(e))?;
            raw.iter()
                .filter(|e| e.name != b"." && e.name != b"..")
                .map(|e| {
                    Ok(DirEntry {
                        name: e.name.clone(),
                        ino: u64::from(e.inode),
                        file_type: self.entry_type(fs, e)?,
                    })
                })
                .collect()
        })
    }

    fn read(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.with(|fs| {
            let inode = self.inode(fs, ino)?;
            if inode.is_dir() {
                return Err(Error::Os(Errno::IsDir));
            }
            if !inode.is_file() {
                return Err(Error::Os(Errno::Invalid));
            }
            let Some(left) = inode.size.checked_sub(offset).filter(|&n| n > 0) else {
                return Ok(0);
            };
            let len = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            fs.read_ino(Self::ino32(ino)?, offset, &mut buf[..len])
                .map_err(|e| self.errors().map(e))
        })
    }

    fn readlink(&self, ino: Ino) -> Result<Vec<u8>> {
        self.with(|fs| {
            let inode = self.inode(fs, ino)?;
            if !inode.is_symlink() {
                return Err(Error::Os(Errno::Invalid));
            }
            if inode.has_inline_data() {
                // A target longer than i_block continues in the `system.data` xattr, which the
                // crate's read_link does not follow: read it as inline file data.
                let (inode, raw) =
                    fs.read_inode_verified(Self::ino32(ino)?).map_err(|e| self.errors().map(e))?;
                let mut target = fs_ext4::file_io::read_inline(fs, &inode, &raw).map_err(|e| self.errors().map(e))?;
                target.truncate(usize::try_from(inode.size).unwrap_or(usize::MAX));
                return Ok(target);
            }
            fs.read_link_ino(Self::ino32(ino)?).map_err(|e| self.errors().map(e))
        })
    }

    fn xattrs(&self, ino: Ino) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.with(|fs| {
            self.inode(fs, ino)?;
            let (inode, raw) =
                fs.read_inode_verified(Self::ino32(ino)?).map_err(|e| self.errors().map(e))?;
            let entries = xattr::read(fs, &inode, &raw).map_err(|e| self.errors().map(e))?;
            xattr::visible(entries).ok_or_else(|| {
                self.errors().corrupt(format!("inode {ino}: malformed POSIX ACL xattr"))
            })
        })
    }

    fn statvfs(&self) -> Result<StatVfs> {
        let size = self.size_bytes.ok_or_else(|| {
            self.errors().unsupported("statvfs of bigalloc without s_overhead_clusters")
        })?;
        self.with(|fs| {
            statvfs::statvfs(fs, size, !self.writable).map_err(|e| self.errors().map(e))
        })
    }

    fn is_writable(&self) -> bool {
        self.writable
    }

    fn create(&self, dir: Ino, name: &[u8], mode: u32) -> Result<Ino> {
        check_name(name)?;
        self.change(|c| write::create(c, Self::ino32(dir)?, name, mode))
    }

    fn mkdir(&self, dir: Ino, name: &[u8], mode: u32) -> Result<Ino> {
        check_name(name)?;
        self.change(|c| write::mkdir(c, Self::ino32(dir)?, name, mode))
    }

    fn mknod(&self, dir: Ino, name: &[u8], mode: u32, rdev: u64) -> Result<Ino> {
        check_name(name)?;
        self.change(|c| write::mknod(c, Self::ino32(dir)?, name, mode, rdev))
    }

    fn symlink(&self, dir: Ino, name: &[u8], target: &[u8]) -> Result<Ino> {
        check_name(name)?;
        self.change(|c| write::symlink(c, Self::ino32(dir)?, name, target))
    }

    fn link(&self, ino: Ino, dir: Ino, name: &[u8]) -> Result<()> {
        check_name(name)?;
        self.change(|c| write::link(c, Self::ino32(ino)?, Self::ino32(dir)?, name))
    }

    fn unlink(&self, dir: Ino, name: &[u8]) -> Result<()> {
        check_name(name)?;
        let dir = Self::ino32(dir)?;
        self.removing(dir, name, |c| write::unlink(c, dir, name))
    }

    fn rmdir(&self, dir: Ino, name: &[u8]) -> Result<()> {
        check_name(name)?;
        let dir = Self::ino32(dir)?;
        self.removing(dir, name, |c| write::rmdir(c, dir, name))
    }

    fn rename(&self, dir: Ino, name: &[u8], new_dir: Ino, new_name: &[u8]) -> Result<()> {
        check_name(name)?;
        check_name(new_name)?;
        let (dir, new_dir) = (Self::ino32(dir)?, Self::ino32(new_dir)?);
        // A replaced target is removed with the rename.
        self.removing(new_dir, new_name, |c| write::rename(c, dir, name, new_dir, new_name))
    }

    fn write(&self, ino: Ino, offset: u64, buf: &[u8]) -> Result<()> {
        self.change(|c| data::write(c, Self::ino32(ino)?, offset, buf))
    }

    fn truncate(&self, ino: Ino, size: u64) -> Result<()> {
        self.change(|c| data::truncate(c, Self::ino32(ino)?, size))
    }

    fn chmod(&self, ino: Ino, mode: u32) -> Result<()> {
        self.change(|c| write::chmod(c, Self::ino32(ino)?, mode))
    }

    fn chown(&self, ino: Ino, uid: Option<u32>, gid: Option<u32>) -> Result<()> {
        self.change(|c| write::chown(c, Self::ino32(ino)?, uid, gid))
    }

    fn utimens(&self, ino: Ino, atime: Option<Timespec>, mtime: Option<Timespec>) -> Result<()> {
        self.change(|c| write::utimens(c, Self::ino32(ino)?, atime, mtime))
    }

    fn setxattr(&self, ino: Ino, name: &[u8], value: &[u8]) -> Result<()> {
        self.change(|c| xattr_write::set(c, Self::ino32(ino)?, name, value))
    }

    fn removexattr(&self, ino: Ino, name: &[u8]) -> Result<()> {
        self.change(|c| xattr_write::remove(c, Self::ino32(ino)?, name))
    }

    /// Puts the volume away cleanly — every change is already on the device, checkpointed
    /// out of the journal, and the `s_state` found at mount is written back — then mounts
    /// it again for further use.
    fn sync(&self) -> Result<()> {
        if !self.writable {
            return Ok(());
        }
        let mut guard = self.mount.write().unwrap_or_else(|p| p.into_inner());
        let Some(fs) = guard.take() else {
            return Err(self.unmounted());
        };
        let finished = fs.finish().map_err(|e| self.errors().map(e));
        *guard = Some(Self::mount_crate(&self.dev, true).map_err(|e| self.errors().map(e))?);
        finished
    }
}
