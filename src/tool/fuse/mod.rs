//! A guest's mounted filesystems served over FUSE (`vmount`, as guestmount does): one tree
//! across the mount table (`/boot` on `/`), every [`crate::fs::Filesystem`] operation mapped
//! to its FUSE request. Writes land in the drives' copy-on-write overlays; [`GuestFuse`] commits
//! them to the images on `fsync` and the tool commits once more when the mount ends, so a crash
//! leaves each image as its last commit left it. Permissions are checked by the kernel
//! (`default_permissions`); new inodes belong to the caller, with the group of a set-group-ID
//! parent directory, as the kernel gives them.

pub mod attr;
mod inodes;

use crate::fs::{Errno, Error, FileType, Filesystem, Ino, Result};
use crate::Guest;
use attr::{errno, file_attr, kind, timespec};
use fuser::{
    FileHandle, FopenFlags, Generation, INodeNo, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen,
    ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow,
};
use inodes::{Inodes, Node};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How long the kernel may keep attributes and names: every change goes through us.
const TTL: Duration = Duration::from_secs(1);
/// `S_ISGID`.
const SET_GID: u32 = 0o2000;
/// `XATTR_CREATE` and `XATTR_REPLACE` of `setxattr(2)`.
const XATTR_CREATE: i32 = 1;
const XATTR_REPLACE: i32 = 2;

/// What one open directory lists: (FUSE inode, type, name), `.` and `..` first.
type Listing = Vec<(u64, fuser::FileType, Vec<u8>)>;

/// The mutable part: the inode numbering and the listings of open directories.
struct State {
    inodes: Inodes,
    listings: HashMap<u64, Listing>,
    next_fh: u64,
}

/// The FUSE filesystem over a launched, mounted [`Guest`].
pub struct GuestFuse {
    guest: Arc<Guest>,
    state: Mutex<State>,
    /// `-x`: every request and its outcome on stderr.
    trace: bool,
}

/// A failed request: the error number for the kernel, and the message for the log.
struct Failure(fuser::Errno, Option<String>);

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let msg = (!matches!(e, Error::Os(_))).then(|| e.to_string());
        Failure(errno(&e), msg)
    }
}

impl From<Errno> for Failure {
    fn from(e: Errno) -> Failure {
        Failure(fuser::Errno::from_i32(e.raw()), None)
    }
}

type Res<T> = std::result::Result<T, Failure>;

impl GuestFuse {
    /// Serves `guest`'s mount table; `None` when nothing is mounted at `/`.
    pub fn new(guest: Arc<Guest>, trace: bool) -> Option<GuestFuse> {
        let g = guest.clone();
        let locate = |mp: &str| {
            let (parent, name) = mp.rsplit_once('/')?;
            let r = g.resolve(if parent.is_empty() { "/" } else { parent }, true).ok()?;
            Some(((r.mount, r.ino), name.as_bytes().to_vec()))
        };
        let inodes = Inodes::new(guest.mount_table(), locate)?;
        Some(GuestFuse { guest, state: Mutex::new(State { inodes, listings: HashMap::new(), next_fh: 1 }), trace })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fs(&self, m: usize) -> &Arc<dyn Filesystem> {
        &self.guest.mount_table()[m].fs
    }

    /// The node numbered `ino` (ESTALE for a number never given).
    fn node(&self, ino: INodeNo) -> Res<Node> {
        self.state().inodes.node(ino.0).ok_or(Failure(fuser::Errno::from_i32(libc::ESTALE), None))
    }

    /// The node numbered `ino`, on a mount that may be written (EROFS otherwise).
    fn writable(&self, ino: INodeNo) -> Res<Node> {
        let n = self.node(ino)?;
        if self.guest.mount_table()[n.0].readonly {
            return Err(Errno::ReadOnlyFs.into());
        }
        Ok(n)
    }

    /// The attributes of `node`, with its FUSE number.
    fn attr(&self, node: Node) -> Res<fuser::FileAttr> {
        let st = self.fs(node.0).stat(node.1)?;
        let n = self.state().inodes.number(node);
        Ok(file_attr(n, &st))
    }

    /// Entry `name` of directory `dir`: the root of a mount covering it, or the inode there.
    fn child(&self, (m, dir): Node, name: &[u8]) -> Res<Node> {
        if let Some(c) = self.state().inodes.covering(m, dir, name) {
            return Ok((c, self.fs(c).root()));
        }
        Ok((m, self.fs(m).lookup(dir, name)?.ok_or(Errno::NoEntry)?))
    }

    /// Gives a new inode the caller's owner and group (the directory's group, and for a
    /// directory its set-group-ID bit, under a set-group-ID directory), as the kernel does.
    fn own(&self, req: &Request, (m, dir): Node, ino: Ino) -> Result<()> {
        let fs = self.fs(m);
        let parent = fs.stat(dir)?;
        let st = fs.stat(ino)?;
        let gid = if parent.mode & SET_GID != 0 { parent.gid } else { req.gid() };
        if (st.uid, st.gid) != (req.uid(), gid) {
            fs.chown(ino, Some(req.uid()), Some(gid))?;
        }
        if parent.mode & SET_GID != 0 && st.file_type() == Some(FileType::Directory) && st.mode & SET_GID == 0 {
            fs.chmod(ino, (st.mode | SET_GID) & 0o7777)?;
        }
        Ok(())
    }

    /// Logs a request with `-x`, and a failure whose meaning the error number loses.
    fn log<T>(&self, what: std::fmt::Arguments, r: &Res<T>) {
        match r {
            Err(Failure(_, Some(msg))) => eprintln!("vmount: {what}: {msg}"),
            Err(Failure(e, None)) if self.trace => eprintln!("vmount: {what}: error {}", e.code()),
            Ok(_) if self.trace => eprintln!("vmount: {what}"),
            _ => {}
        }
    }

    fn entry(&self, what: std::fmt::Arguments, r: Res<Node>, reply: ReplyEntry) {
        let r = r.and_then(|n| self.attr(n));
        self.log(what, &r);
        match r {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(Failure(e, _)) => reply.error(e),
        }
    }

    fn empty(&self, what: std::fmt::Arguments, r: Res<()>, reply: ReplyEmpty) {
        self.log(what, &r);
        match r {
            Ok(()) => reply.ok(),
            Err(Failure(e, _)) => reply.error(e),
        }
    }

    /// Writes the overlays to the images (`fsync`).
    fn commit(&self) -> Res<()> {
        self.guest.commit().map(|_| ()).map_err(|e| Failure(fuser::Errno::from_i32(libc::EIO), Some(e.to_string())))
    }

    /// Directory `dir`'s listing as the kernel reads it.
    fn listing(&self, ino: INodeNo) -> Res<Listing> {
        let (m, dir) = self.node(ino)?;
        let entries = self.fs(m).read_dir(dir)?;
        let mut out: Listing = vec![(ino.0, fuser::FileType::Directory, b".".to_vec()), (ino.0, fuser::FileType::Directory, b"..".to_vec())];
        let mut st = self.state();
        for e in entries {
            let (node, t) = match st.inodes.covering(m, dir, &e.name) {
                Some(c) => ((c, self.fs(c).root()), FileType::Directory),
                None => ((m, e.ino), e.file_type),
            };
            out.push((st.inodes.number(node), kind(t), e.name));
        }
        Ok(out)
    }

    fn do_setattr(&self, ino: INodeNo, mode: Option<u32>, uid: Option<u32>, gid: Option<u32>, size: Option<u64>, atime: Option<TimeOrNow>, mtime: Option<TimeOrNow>) -> Res<Node> {
        let n = if mode.is_none() && uid.is_none() && gid.is_none() && size.is_none() && atime.is_none() && mtime.is_none() { self.node(ino)? } else { self.writable(ino)? };
        let fs = self.fs(n.0);
        if let Some(size) = size {
            fs.truncate(n.1, size)?;
        }
        if uid.is_some() || gid.is_some() {
            fs.chown(n.1, uid, gid)?;
        }
        if let Some(mode) = mode {
            fs.chmod(n.1, mode & 0o7777)?;
        }
        let t = |t: TimeOrNow| timespec(match t {
            TimeOrNow::SpecificTime(t) => t,
            TimeOrNow::Now => std::time::SystemTime::now(),
        });
        if atime.is_some() || mtime.is_some() {
            fs.utimens(n.1, atime.map(t), mtime.map(t))?;
        }
        Ok(n)
    }

    fn do_rename(&self, parent: INodeNo, name: &[u8], newparent: INodeNo, newname: &[u8], flags: RenameFlags) -> Res<()> {
        let (a, b) = (self.writable(parent)?, self.writable(newparent)?);
        if a.0 != b.0 {
            return Err(Errno::CrossDevice.into());
        }
        let st = self.state();
        if st.inodes.covering(a.0, a.1, name).is_some() || st.inodes.covering(b.0, b.1, newname).is_some() {
            return Err(Errno::Busy.into());
        }
        drop(st);
        let fs = self.fs(a.0);
        if flags.contains(RenameFlags::RENAME_EXCHANGE) || flags.contains(RenameFlags::RENAME_WHITEOUT) {
            return Err(Failure(fuser::Errno::from_i32(libc::EINVAL), None));
        }
        if flags.contains(RenameFlags::RENAME_NOREPLACE) && fs.lookup(b.1, newname)?.is_some() {
            return Err(Errno::Exists.into());
        }
        Ok(fs.rename(a.1, name, b.1, newname)?)
    }

    fn do_remove(&self, parent: INodeNo, name: &[u8], dir: bool) -> Res<()> {
        let (m, d) = self.writable(parent)?;
        if self.state().inodes.covering(m, d, name).is_some() {
            return Err(Errno::Busy.into());
        }
        let fs = self.fs(m);
        Ok(if dir { fs.rmdir(d, name)? } else { fs.unlink(d, name)? })
    }

    fn do_setxattr(&self, ino: INodeNo, name: &[u8], value: &[u8], flags: i32) -> Res<()> {
        let (m, i) = self.writable(ino)?;
        let fs = self.fs(m);
        if flags & (XATTR_CREATE | XATTR_REPLACE) != 0 {
            let exists = fs.xattrs(i)?.iter().any(|(n, _)| n == name);
            if flags & XATTR_CREATE != 0 && exists {
                return Err(Errno::Exists.into());
            }
            if flags & XATTR_REPLACE != 0 && !exists {
                return Err(Errno::NoData.into());
            }
        }
        Ok(crate::fs::acl::setxattr(fs.as_ref(), i, name, value)?)
    }
}

/// Replies `size`-limited data: its length when `size` is 0, ERANGE when it does not fit.
fn xattr_reply(data: &[u8], size: u32, reply: ReplyXattr) {
    if size == 0 {
        reply.size(u32::try_from(data.len()).unwrap_or(u32::MAX));
    } else if data.len() > size as usize {
        reply.error(fuser::Errno::from_i32(libc::ERANGE));
    } else {
        reply.data(data);
    }
}

/// Largest read-ahead and write we ask the kernel for: fewer, larger requests.
const MAX_IO: u32 = 1 << 20;

impl fuser::Filesystem for GuestFuse {
    fn init(&mut self, _req: &Request, config: &mut fuser::KernelConfig) -> std::io::Result<()> {
        // Past what the kernel allows, the error carries its limit: take that.
        if let Err(max) = config.set_max_readahead(MAX_IO) {
            let _ = config.set_max_readahead(max);
        }
        if let Err(max) = config.set_max_write(MAX_IO) {
            let _ = config.set_max_write(max);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let r = self.node(parent).and_then(|p| self.child(p, name.as_bytes()));
        self.entry(format_args!("lookup {parent} {name:?}"), r, reply);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let r = self.node(ino).and_then(|n| self.attr(n));
        self.log(format_args!("getattr {ino}"), &r);
        match r {
            Ok(a) => reply.attr(&TTL, &a),
            Err(Failure(e, _)) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let r = self.do_setattr(ino, mode, uid, gid, size, atime, mtime).and_then(|n| self.attr(n));
        self.log(format_args!("setattr {ino} mode {mode:?} uid {uid:?} gid {gid:?} size {size:?}"), &r);
        match r {
            Ok(a) => reply.attr(&TTL, &a),
            Err(Failure(e, _)) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let r = self.node(ino).and_then(|(m, i)| Ok(self.fs(m).readlink(i)?));
        self.log(format_args!("readlink {ino}"), &r);
        match r {
            Ok(t) => reply.data(&t),
            Err(Failure(e, _)) => reply.error(e),
        }
    }

    fn mknod(&self, req: &Request, parent: INodeNo, name: &OsStr, mode: u32, umask: u32, rdev: u32, reply: ReplyEntry) {
        let r = self.writable(parent).and_then(|p| {
            let fs = self.fs(p.0);
            let ino = if mode & libc::S_IFMT == libc::S_IFREG {
                fs.create(p.1, name.as_bytes(), mode & !umask & 0o7777)?
            } else {
                fs.mknod(p.1, name.as_bytes(), (mode & libc::S_IFMT) | (mode & !umask & 0o7777), attr::decode_dev(rdev))?
            };
            self.own(req, p, ino)?;
            Ok((p.0, ino))
        });
        self.entry(format_args!("mknod {parent} {name:?} {mode:o}"), r, reply);
    }

    fn mkdir(&self, req: &Request, parent: INodeNo, name: &OsStr, mode: u32, umask: u32, reply: ReplyEntry) {
        let r = self.writable(parent).and_then(|p| {
            let ino = self.fs(p.0).mkdir(p.1, name.as_bytes(), mode & !umask & 0o7777)?;
            self.own(req, p, ino)?;
            Ok((p.0, ino))
        });
        self.entry(format_args!("mkdir {parent} {name:?} {mode:o}"), r, reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.empty(format_args!("unlink {parent} {name:?}"), self.do_remove(parent, name.as_bytes(), false), reply);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.empty(format_args!("rmdir {parent} {name:?}"), self.do_remove(parent, name.as_bytes(), true), reply);
    }

    fn symlink(&self, req: &Request, parent: INodeNo, link_name: &OsStr, target: &Path, reply: ReplyEntry) {
        let r = self.writable(parent).and_then(|p| {
            let ino = self.fs(p.0).symlink(p.1, link_name.as_bytes(), target.as_os_str().as_bytes())?;
            self.own(req, p, ino)?;
            Ok((p.0, ino))
        });
        self.entry(format_args!("symlink {parent} {link_name:?} -> {target:?}"), r, reply);
    }

    fn rename(&self, _req: &Request, parent: INodeNo, name: &OsStr, newparent: INodeNo, newname: &OsStr, flags: RenameFlags, reply: ReplyEmpty) {
        let r = self.do_rename(parent, name.as_bytes(), newparent, newname.as_bytes(), flags);
        self.empty(format_args!("rename {parent} {name:?} {newparent} {newname:?}"), r, reply);
    }

    fn link(&self, _req: &Request, ino: INodeNo, newparent: INodeNo, newname: &OsStr, reply: ReplyEntry) {
        let r = (|| {
            let (n, p) = (self.writable(ino)?, self.writable(newparent)?);
            if n.0 != p.0 {
                return Err(Errno::CrossDevice.into());
            }
            self.fs(n.0).link(n.1, p.1, newname.as_bytes())?;
            Ok(n)
        })();
        self.entry(format_args!("link {ino} {newparent} {newname:?}"), r, reply);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let writes = flags.0 & libc::O_ACCMODE != libc::O_RDONLY || flags.0 & libc::O_TRUNC != 0;
        let r = if writes { self.writable(ino).map(|_| ()) } else { self.node(ino).map(|_| ()) };
        self.log(format_args!("open {ino} {:#o}", flags.0), &r);
        // Nothing else changes a read-only mount's files: the kernel may keep their pages.
        let keep = if self.writable(ino).is_err() { FopenFlags::FOPEN_KEEP_CACHE } else { FopenFlags::empty() };
        match r {
            Ok(()) => reply.opened(FileHandle(0), keep),
            Err(Failure(e, _)) => reply.error(e),
        }
    }

    fn read(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, size: u32, _flags: OpenFlags, _lock: Option<fuser::LockOwner>, reply: ReplyData) {
        let r = self.node(ino).and_then(|(m, i)| {
            let mut buf = vec![0u8; size as usize];
            let n = self.fs(m).read(i, offset, &mut buf)?;
            buf.truncate(n);
            Ok(buf)
        });
        self.log(format_args!("read {ino} {offset}+{size}"), &r);
        match r {
            Ok(b) => reply.data(&b),
            Err(Failure(e, _)) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: fuser::WriteFlags,
        _flags: OpenFlags,
        _lock: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        let r = self.writable(ino).and_then(|(m, i)| Ok(self.fs(m).write(i, offset, data)?));
        self.log(format_args!("write {ino} {offset}+{}", data.len()), &r);
        match r {
            Ok(()) => reply.written(u32::try_from(data.len()).unwrap_or(u32::MAX)),
            Err(Failure(e, _)) => reply.error(e),
        }
    }

    fn flush(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _lock: fuser::LockOwner, reply: ReplyEmpty) {
        reply.ok();
    }

    fn fsync(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        self.empty(format_args!("fsync {ino}"), self.commit(), reply);
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let r = self.listing(ino);
        self.log(format_args!("opendir {ino}"), &r);
        match r {
            Ok(l) => {
                let mut st = self.state();
                let fh = st.next_fh;
                st.next_fh += 1;
                st.listings.insert(fh, l);
                reply.opened(FileHandle(fh), FopenFlags::empty());
            }
            Err(Failure(e, _)) => reply.error(e),
        }
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let st = self.state();
        let Some(l) = st.listings.get(&fh.0) else {
            drop(st);
            reply.error(fuser::Errno::from_i32(libc::EBADF));
            return;
        };
        for (k, (n, t, name)) in l.iter().enumerate().skip(usize::try_from(offset).unwrap_or(usize::MAX)) {
            if reply.add(INodeNo(*n), k as u64 + 1, *t, OsStr::from_bytes(name)) {
                break;
            }
        }
        drop(st);
        if self.trace {
            eprintln!("vmount: readdir {ino} from {offset}");
        }
        reply.ok();
    }

    fn releasedir(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, _flags: OpenFlags, reply: ReplyEmpty) {
        self.state().listings.remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        self.empty(format_args!("fsyncdir {ino}"), self.commit(), reply);
    }

    fn statfs(&self, _req: &Request, ino: INodeNo, reply: ReplyStatfs) {
        let r = self.node(ino).and_then(|(m, _)| Ok(self.fs(m).statvfs()?));
        self.log(format_args!("statfs {ino}"), &r);
        let n = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        match r {
            Ok(s) => reply.statfs(s.blocks, s.bfree, s.bavail, s.files, s.ffree, n(s.bsize), n(s.namemax), n(s.frsize)),
            Err(Failure(e, _)) => reply.error(e),
        }
    }

    fn setxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, value: &[u8], flags: i32, _position: u32, reply: ReplyEmpty) {
        self.empty(format_args!("setxattr {ino} {name:?}"), self.do_setxattr(ino, name.as_bytes(), value, flags), reply);
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let r = self.node(ino).and_then(|(m, i)| {
            let all = self.fs(m).xattrs(i)?;
            all.into_iter().find(|(n, _)| n == name.as_bytes()).map(|(_, v)| v).ok_or(Errno::NoData.into())
        });
        self.log(format_args!("getxattr {ino} {name:?}"), &r);
        match r {
            Ok(v) => xattr_reply(&v, size, reply),
            Err(Failure(e, _)) => reply.error(e),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let r = self.node(ino).and_then(|(m, i)| Ok(self.fs(m).xattrs(i)?));
        self.log(format_args!("listxattr {ino}"), &r);
        match r {
            Ok(all) => {
                let names: Vec<u8> = all.into_iter().flat_map(|(mut n, _)| {
                    n.push(0);
                    n
                }).collect();
                xattr_reply(&names, size, reply);
            }
            Err(Failure(e, _)) => reply.error(e),
        }
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let r = self.writable(ino).and_then(|(m, i)| Ok(self.fs(m).removexattr(i, name.as_bytes())?));
        self.empty(format_args!("removexattr {ino} {name:?}"), r, reply);
    }

    fn create(&self, req: &Request, parent: INodeNo, name: &OsStr, mode: u32, umask: u32, _flags: i32, reply: ReplyCreate) {
        let r = self.writable(parent).and_then(|p| {
            let ino = self.fs(p.0).create(p.1, name.as_bytes(), mode & !umask & 0o7777)?;
            self.own(req, p, ino)?;
            self.attr((p.0, ino))
        });
        self.log(format_args!("create {parent} {name:?} {mode:o}"), &r);
        match r {
            Ok(a) => reply.created(&TTL, &a, Generation(0), FileHandle(0), FopenFlags::empty()),
            Err(Failure(e, _)) => reply.error(e),
        }
    }
}
