//! ext2/ext3/ext4, read side, through `rust-fs-ext4` (pinned `=0.8.0`).
//!
//! The crate mounts, verifies checksums, and reads inodes, extent and indirect block maps,
//! hash-tree and inline directories, symlinks, files and xattrs. It sees our device through
//! `device::ReadOnlyDev`, which refuses writes, so a dirty journal (`needs_recovery`) is
//! replayed into the crate's memory only and the image is never written. Ours are the pieces
//! the crate lacks: listing block-mapped directories (`dir`), device numbers and the
//! huge-file block count (`inode`), the kernel's view of xattrs (`xattr`), `statvfs`
//! (`statvfs`), and the errno mapping (`error`).

mod device;
mod dir;
mod error;
mod inode;
mod statvfs;
mod xattr;

use crate::disk::Dev;
use crate::fs::{DirEntry, Errno, Error, FileType, Filesystem, Ino, Result, Stat, StatVfs};
use fs_ext4::dir::DirEntryType;
use std::sync::Arc;

/// The root directory's inode number.
const ROOT_INO: Ino = 2;
/// `EXT4_NAME_LEN`.
const NAME_MAX: usize = 255;

/// A mounted ext2/3/4 filesystem, read-only.
pub struct Ext4Fs {
    inner: fs_ext4::Filesystem,
    dev_name: String,
    fs_type: String,
    size_bytes: Option<u64>,
}

impl Ext4Fs {
    /// Mounts the ext2/3/4 filesystem on `dev` read-only. A dirty journal is replayed in
    /// memory; nothing is ever written to `dev`.
    pub fn open(dev: Dev) -> Result<Ext4Fs> {
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
        let inner =
            fs_ext4::Filesystem::mount(Arc::new(device::ReadOnlyDev(dev))).map_err(|e| {
                error::Mapper {
                    dev: &dev_name,
                    fs: &fs_type,
                }
                .map(e)
            })?;
        Ok(Ext4Fs {
            inner,
            dev_name,
            fs_type,
            size_bytes,
        })
    }

    fn errors(&self) -> error::Mapper<'_> {
        error::Mapper {
            dev: &self.dev_name,
            fs: &self.fs_type,
        }
    }

    /// The crate's inode number for `ino` (ext inode numbers are 32-bit).
    fn ino32(ino: Ino) -> Result<u32> {
        u32::try_from(ino).map_err(|_| Error::Os(Errno::NoEntry))
    }

    /// The parsed, live (allocated, linked) inode `ino`.
    fn inode(&self, ino: Ino) -> Result<fs_ext4::inode::Inode> {
        self.inner
            .stat_ino(Self::ino32(ino)?)
            .map_err(|e| self.errors().map(e))
    }

    /// The file type of an entry, from the directory when it records one, else from the inode.
    fn entry_type(&self, e: &fs_ext4::dir::DirEntry) -> Result<FileType> {
        let t = match e.file_type {
            DirEntryType::RegFile => FileType::Regular,
            DirEntryType::Directory => FileType::Directory,
            DirEntryType::CharDev => FileType::CharDevice,
            DirEntryType::BlockDev => FileType::BlockDevice,
            DirEntryType::Fifo => FileType::Fifo,
            DirEntryType::Socket => FileType::Socket,
            DirEntryType::Symlink => FileType::Symlink,
            DirEntryType::Unknown => {
                let mode = u32::from(self.inode(u64::from(e.inode))?.mode);
                return FileType::from_mode(mode).ok_or_else(|| {
                    self.errors()
                        .corrupt(format!("inode {}: invalid mode {mode:#o}", e.inode))
                });
            }
        };
        Ok(t)
    }
}

impl Filesystem for Ext4Fs {
    fn fs_type(&self) -> &str {
        &self.fs_type
    }

    fn root(&self) -> Ino {
        ROOT_INO
    }

    fn lookup(&self, dir: Ino, name: &[u8]) -> Result<Option<Ino>> {
        if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
            return Err(Error::Os(Errno::Invalid));
        }
        if name.len() > NAME_MAX {
            return Err(Error::Os(Errno::NameTooLong));
        }
        match self.inner.lookup_at(Self::ino32(dir)?, name) {
            Ok(ino) => Ok(Some(u64::from(ino))),
            Err(fs_ext4::Error::NotFound) => Ok(None),
            Err(e) => Err(self.errors().map(e)),
        }
    }

    fn stat(&self, ino: Ino) -> Result<Stat> {
        let inode = self.inode(ino)?;
        Ok(inode::stat(ino, &inode, self.inner.sb.block_size()))
    }

    fn read_dir(&self, dir: Ino) -> Result<Vec<DirEntry>> {
        let inode = self.inode(dir)?;
        if !inode.is_dir() {
            return Err(Error::Os(Errno::NotDir));
        }
        let raw = if inode.has_extents() || inode.has_inline_data() {
            self.inner.read_dir_ino(Self::ino32(dir)?)
        } else {
            dir::read_block_mapped(&self.inner, &inode)
        }
        .map_err(|e| self.errors().map(e))?;
        raw.iter()
            .filter(|e| e.name != b"." && e.name != b"..")
            .map(|e| {
                Ok(DirEntry {
                    name: e.name.clone(),
                    ino: u64::from(e.inode),
                    file_type: self.entry_type(e)?,
                })
            })
            .collect()
    }

    fn read(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let inode = self.inode(ino)?;
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
        self.inner
            .read_ino(Self::ino32(ino)?, offset, &mut buf[..len])
            .map_err(|e| self.errors().map(e))
    }

    fn readlink(&self, ino: Ino) -> Result<Vec<u8>> {
        if !self.inode(ino)?.is_symlink() {
            return Err(Error::Os(Errno::Invalid));
        }
        self.inner
            .read_link_ino(Self::ino32(ino)?)
            .map_err(|e| self.errors().map(e))
    }

    fn xattrs(&self, ino: Ino) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inode(ino)?;
        let (inode, raw) = self
            .inner
            .read_inode_verified(Self::ino32(ino)?)
            .map_err(|e| self.errors().map(e))?;
        let entries = xattr::read(&self.inner, &inode, &raw).map_err(|e| self.errors().map(e))?;
        xattr::visible(entries).ok_or_else(|| {
            self.errors()
                .corrupt(format!("inode {ino}: malformed POSIX ACL xattr"))
        })
    }

    fn statvfs(&self) -> Result<StatVfs> {
        let size = self.size_bytes.ok_or_else(|| {
            self.errors()
                .unsupported("statvfs of bigalloc without s_overhead_clusters")
        })?;
        Ok(statvfs::statvfs(&self.inner, size))
    }
}
