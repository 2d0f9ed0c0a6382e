//! XFS opened for reading and writing: the [`Filesystem`] that `fs::open_rw` gives for XFS.
//! Reads go to an [`XfsFs`] reader, changes to the [`XfsWriter`]; each change is one writer
//! operation, whole or nothing, that reaches the device (in production a copy-on-write overlay
//! committed later) before it returns, and the reader is then reopened on the device, so what
//! is read next — superblock counters, block maps, directory listings — is what was written.
//!
//! Written: names created, linked, renamed and removed (files, directories, devices, fifos,
//! sockets, symlinks),
//! extended attributes kept in the inode, file data and sizes ([`super::write`]), permissions,
//! owners and times ([`super::setattr`]); what the writer does not write yet fails with
//! [`Error::Unsupported`] naming it ("writing: …"), never silently. Files are created as root (uid and gid 0), as
//! libguestfs' appliance does.

use super::writer::XfsWriter;
use super::XfsFs;
use crate::disk::Dev;
use crate::fs::{DirEntry, Errno, Error, Filesystem, Ino, Result, Stat, StatVfs, Timespec};
use std::sync::{Mutex, RwLock};

/// `S_IFMT` and the types checked here.
const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;

/// An XFS filesystem open for reading and writing (see the module documentation).
pub struct XfsRw {
    dev: Dev,
    reader: RwLock<XfsFs>,
    writer: Mutex<XfsWriter>,
}

impl XfsRw {
    /// Opens the XFS filesystem on the writable device `dev`; refuses what [`XfsFs::open`] and
    /// [`XfsWriter::open`] refuse (among them a dirty log and the reverse-mapping btree).
    pub fn open(dev: Dev) -> Result<XfsRw> {
        let reader = XfsFs::open(dev.clone())?;
        let writer = XfsWriter::open(dev.clone())?;
        Ok(XfsRw { dev, reader: RwLock::new(reader), writer: Mutex::new(writer) })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, XfsFs> {
        self.reader.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs one writer operation, then reopens the reader on what it wrote.
    fn change<T>(&self, op: impl FnOnce(&mut XfsWriter) -> Result<T>) -> Result<T> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let r = op(&mut w);
        if r.is_ok() {
            let fresh = XfsFs::open(self.dev.clone())?;
            *self.reader.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        }
        r
    }

    /// The type bits of `name` in `dir` (ENOENT when absent).
    fn kind_of(&self, dir: Ino, name: &[u8]) -> Result<u32> {
        let r = self.read();
        let ino = r.lookup(dir, name)?.ok_or(Error::Os(Errno::NoEntry))?;
        Ok(r.stat(ino)?.mode & S_IFMT)
    }

    /// Creates `name` in `dir` with `mode` (type and permission bits) as root.
    fn make(&self, dir: Ino, name: &[u8], mode: u32) -> Result<Ino> {
        let mode = u16::try_from(mode & (S_IFMT | 0o7777)).map_err(|_| Error::Os(Errno::Invalid))?;
        self.change(|w| w.create(dir, name, mode, 0, 0))
    }
}

impl Filesystem for XfsRw {
    fn fs_type(&self) -> &str {
        "xfs"
    }

    fn warnings(&self) -> Vec<String> {
        self.read().warnings()
    }

    fn root(&self) -> Ino {
        self.read().root()
    }

    fn lookup(&self, dir: Ino, name: &[u8]) -> Result<Option<Ino>> {
        self.read().lookup(dir, name)
    }

    fn stat(&self, ino: Ino) -> Result<Stat> {
        self.read().stat(ino)
    }

    fn read_dir(&self, dir: Ino) -> Result<Vec<DirEntry>> {
        self.read().read_dir(dir)
    }

    fn read(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize> {
        XfsRw::read(self).read(ino, offset, buf)
    }

    fn readlink(&self, ino: Ino) -> Result<Vec<u8>> {
        self.read().readlink(ino)
    }

    fn xattrs(&self, ino: Ino) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.read().xattrs(ino)
    }

    fn statvfs(&self) -> Result<StatVfs> {
        let mut s = self.read().statvfs()?;
        s.flag &= !super::ST_RDONLY;
        Ok(s)
    }

    fn is_writable(&self) -> bool {
        true
    }

    fn create(&self, dir: Ino, name: &[u8], mode: u32) -> Result<Ino> {
        self.make(dir, name, S_IFREG | (mode & 0o7777))
    }

    fn mkdir(&self, dir: Ino, name: &[u8], mode: u32) -> Result<Ino> {
        self.make(dir, name, S_IFDIR | (mode & 0o7777))
    }

    fn mknod(&self, dir: Ino, name: &[u8], mode: u32, rdev: u64) -> Result<Ino> {
        let mode = u16::try_from(mode & (S_IFMT | 0o7777)).map_err(|_| Error::Os(Errno::Invalid))?;
        self.change(|w| w.mknod(dir, name, mode, rdev, 0, 0))
    }

    fn symlink(&self, dir: Ino, name: &[u8], target: &[u8]) -> Result<Ino> {
        self.change(|w| w.symlink(dir, name, target, 0, 0))
    }

    fn link(&self, ino: Ino, dir: Ino, name: &[u8]) -> Result<()> {
        self.change(|w| w.link(ino, dir, name))
    }

    fn unlink(&self, dir: Ino, name: &[u8]) -> Result<()> {
        if self.kind_of(dir, name)? == S_IFDIR {
            return Err(Error::Os(Errno::IsDir));
        }
        self.change(|w| w.remove(dir, name))
    }

    fn rmdir(&self, dir: Ino, name: &[u8]) -> Result<()> {
        if self.kind_of(dir, name)? != S_IFDIR {
            return Err(Error::Os(Errno::NotDir));
        }
        self.change(|w| w.remove(dir, name))
    }

    fn rename(&self, dir: Ino, name: &[u8], new_dir: Ino, new_name: &[u8]) -> Result<()> {
        self.change(|w| w.rename(dir, name, new_dir, new_name))
    }

    fn write(&self, ino: Ino, offset: u64, data: &[u8]) -> Result<()> {
        self.change(|w| w.write(ino, offset, data))
    }

    fn truncate(&self, ino: Ino, size: u64) -> Result<()> {
        self.change(|w| w.truncate(ino, size))
    }

    fn chmod(&self, ino: Ino, mode: u32) -> Result<()> {
        self.change(|w| w.chmod(ino, (mode & 0o7777) as u16))
    }

    fn chown(&self, ino: Ino, uid: Option<u32>, gid: Option<u32>) -> Result<()> {
        self.change(|w| w.chown(ino, uid, gid))
    }

    fn utimens(&self, ino: Ino, atime: Option<Timespec>, mtime: Option<Timespec>) -> Result<()> {
        self.change(|w| w.utimens(ino, atime, mtime))
    }

    fn setxattr(&self, ino: Ino, name: &[u8], value: &[u8]) -> Result<()> {
        self.change(|w| w.setxattr(ino, name, value))
    }

    fn removexattr(&self, ino: Ino, name: &[u8]) -> Result<()> {
        self.change(|w| w.removexattr(ino, name))
    }
}
