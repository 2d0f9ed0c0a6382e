//! The guest's write methods, by guest path, with libguestfs names and semantics (`write`,
//! `mkdir-p`, `rm-rf`, `cp-a`, `mv`, `ln-sf`…). Paths resolve as for reads (symlinks inside
//! the guest root); the change itself is one call of the [`Filesystem`] write half on the
//! mount holding the path. A read-only mount answers EROFS, as the appliance's kernel does.
//! Every inode created gets the SELinux label the guest's policy gives its path (see
//! [`super::selinux`]); a file changed in place keeps its own.

use super::path::{mount_at, Mount};
use super::{Error as GuestError, Guest, PathChange};
use crate::fs::{self, Errno, FileType, Filesystem, Ino, Stat, Timespec};
use crate::guest::Result;
use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

/// Bytes moved per filesystem call when copying or writing large content.
const CHUNK: usize = 1 << 20;

/// Mode of files created by `write`, `touch`, `upload` (0666 less the appliance's 022 umask).
pub const FILE_MODE: u32 = 0o644;
/// Mode of directories created by `mkdir`, `mkdir-p` (0777 less 022).
pub const DIR_MODE: u32 = 0o755;

/// A name to create or remove: its parent directory and the last component.
struct Entry {
    mount: usize,
    dir: Ino,
    name: Vec<u8>,
    /// The canonical guest path of the entry.
    canonical: String,
}

/// A path error with the errno the kernel would give.
fn at(path: &str, errno: Errno) -> GuestError {
    GuestError::Path { path: path.to_string(), errno }
}

/// Turns a filesystem error into a guest error naming `path` when it is a plain errno.
fn on(path: &str) -> impl Fn(fs::Error) -> GuestError + '_ {
    move |e| match e {
        fs::Error::Os(errno) => at(path, errno),
        other => other.into(),
    }
}

/// The current time.
fn now() -> Timespec {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Timespec { sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX), nsec: d.subsec_nanos() }
}

/// Where a write created the file it writes: the directory inode and the name.
struct Created {
    dir: Ino,
    name: Vec<u8>,
}

impl Guest {
    /// Runs `f` and, when it succeeds, records `op` on `path` (calls made inside another
    /// recorded call, like `cp-a`'s, are recorded too: each path that changed is listed).
    fn record<T>(&self, op: &'static str, path: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let r = f()?;
        if let Ok(mut c) = self.changes.lock() {
            c.push(PathChange { op, path: path.to_string() });
        }
        Ok(r)
    }

    /// The changes made through the write methods so far, in order.
    pub fn path_changes(&self) -> Vec<PathChange> {
        self.changes.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The filesystem of mount `m`, if it may be written.
    fn writable(&self, m: usize, path: &str) -> Result<&Arc<dyn Filesystem>> {
        let mount: &Mount = &self.mounts[m];
        if mount.readonly || !mount.fs.is_writable() {
            return Err(at(path, Errno::ReadOnlyFs));
        }
        Ok(&mount.fs)
    }

    /// The parent directory and last component of `path` (the parent resolved through
    /// symlinks; the last component itself is not followed).
    fn entry(&self, path: &str) -> Result<Entry> {
        if !path.starts_with('/') {
            return Err(at(path, Errno::Invalid));
        }
        let trimmed = path.trim_end_matches('/');
        let (dir, name) = match trimmed.rsplit_once('/') {
            Some((d, n)) => (if d.is_empty() { "/" } else { d }, n),
            None => return Err(at(path, Errno::Busy)), // "/" itself
        };
        if name == "." || name == ".." {
            return Err(at(path, Errno::Invalid));
        }
        // errors name the path the user gave, as the kernel's would
        let r = self.resolve(dir, true).map_err(|e| match e {
            GuestError::Path { errno, .. } => at(path, errno),
            other => other,
        })?;
        let fs = &self.mounts[r.mount].fs;
        if fs.stat(r.ino).map_err(on(path))?.file_type() != Some(FileType::Directory) {
            return Err(at(path, Errno::NotDir));
        }
        let canonical = if r.canonical == "/" { format!("/{name}") } else { format!("{}/{name}", r.canonical) };
        Ok(Entry { mount: r.mount, dir: r.ino, name: name.as_bytes().to_vec(), canonical })
    }

    /// Whether a filesystem is mounted exactly at the canonical path.
    fn is_mountpoint(&self, canonical: &str) -> bool {
        mount_at(&self.mounts, canonical).is_some()
    }

    /// The regular file `path` leads to (following symlinks), created empty with `mode` when
    /// it does not exist — also through a dangling symlink, as `open(O_CREAT)` does.
    fn open_or_create(&self, path: &str, mode: u32) -> Result<(usize, Ino)> {
        self.open_or_create_noting(path, mode).map(|(m, ino, _)| (m, ino))
    }

    /// [`Self::open_or_create`], also saying where it created the file, if it did.
    fn open_or_create_noting(&self, path: &str, mode: u32) -> Result<(usize, Ino, Option<Created>)> {
        let mut target = path.to_string();
        for _ in 0..=super::path::MAX_SYMLINKS {
            match self.resolve(&target, true) {
                Ok(r) => {
                    let st = self.mounts[r.mount].fs.stat(r.ino).map_err(on(path))?;
                    return match st.file_type() {
                        Some(FileType::Regular) => Ok((r.mount, r.ino, None)),
                        Some(FileType::Directory) => Err(at(path, Errno::IsDir)),
                        _ => Err(at(path, Errno::Invalid)),
                    };
                }
                Err(GuestError::Path { errno: Errno::NoEntry, .. }) => {}
                Err(e) => return Err(e),
            }
            let e = self.entry(&target)?;
            let fs = self.writable(e.mount, path)?;
            match fs.lookup(e.dir, &e.name).map_err(on(path))? {
                None => {
                    let ino = fs.create(e.dir, &e.name, mode).map_err(on(path))?;
                    self.label_created(e.mount, e.dir, ino, &e.canonical, 0o100000);
                    return Ok((e.mount, ino, Some(Created { dir: e.dir, name: e.name.clone() })));
                }
                Some(ino) => {
                    // a dangling symlink: create what it points at
                    let link = fs.readlink(ino).map_err(on(path))?;
                    let link = String::from_utf8_lossy(&link).into_owned();
                    target = if link.starts_with('/') {
                        link
                    } else {
                        let parent = e.canonical.rsplit_once('/').map_or("", |(d, _)| d);
                        format!("{parent}/{link}")
                    };
                }
            }
        }
        Err(at(path, Errno::Loop))
    }

    /// Writes `reader` into the file at `offset`, in chunks; returns the bytes written.
    fn write_from(&self, m: usize, ino: Ino, mut offset: u64, reader: &mut dyn Read, path: &str) -> Result<u64> {
        let fs = self.writable(m, path)?;
        let mut buf = vec![0u8; CHUNK];
        let start = offset;
        loop {
            let n = reader.read(&mut buf).map_err(|e| GuestError::Host(format!("{path}: reading the source: {e}")))?;
            if n == 0 {
                break;
            }
            fs.write(ino, offset, &buf[..n]).map_err(on(path))?;
            offset += n as u64;
        }
        Ok(offset - start)
    }

    /// `write`: replaces the content of `path` (created 0644 if missing). The inode is kept,
    /// so its owner, mode and extended attributes (SELinux label) stay.
    pub fn write(&self, path: &str, content: &[u8]) -> Result<()> {
        self.write_stream(path, &mut &content[..]).map(|_| ())
    }

    /// `upload`: like [`Guest::write`], reading the content from `reader` in chunks.
    pub fn write_stream(&self, path: &str, reader: &mut dyn Read) -> Result<u64> {
        self.record("write", path, || {
            let (m, ino, created) = self.open_or_create_noting(path, FILE_MODE)?;
            let written = self
                .writable(m, path)?
                .truncate(ino, 0)
                .map_err(on(path))
                .and_then(|()| self.write_from(m, ino, 0, reader, path));
            if let (Err(_), Some(Created { dir, name })) = (&written, created) {
                // A file this call created is not left behind, empty or partial, by a failed
                // write (volume full, source unreadable).
                let _ = self.mounts[m].fs.unlink(dir, &name);
            }
            written
        })
    }

    /// `write-append`: appends `content` to `path` (created if missing).
    pub fn write_append(&self, path: &str, content: &[u8]) -> Result<()> {
        self.record("write-append", path, || {
            let (m, ino) = self.open_or_create(path, FILE_MODE)?;
            let size = self.mounts[m].fs.stat(ino).map_err(on(path))?.size;
            self.write_from(m, ino, size, &mut &content[..], path).map(|_| ())
        })
    }

    /// `pwrite`-like: writes `content` at `offset` of an existing regular file.
    pub fn write_at(&self, path: &str, offset: u64, content: &[u8]) -> Result<()> {
        self.record("write", path, || {
            let (m, ino) = self.regular(path)?;
            self.writable(m, path)?.write(ino, offset, content).map_err(on(path))
        })
    }

    /// An existing regular file (following symlinks).
    fn regular(&self, path: &str) -> Result<(usize, Ino)> {
        let r = self.resolve(path, true)?;
        match self.mounts[r.mount].fs.stat(r.ino).map_err(on(path))?.file_type() {
            Some(FileType::Regular) => Ok((r.mount, r.ino)),
            Some(FileType::Directory) => Err(at(path, Errno::IsDir)),
            _ => Err(at(path, Errno::Invalid)),
        }
    }

    /// `touch`: creates an empty file, or sets an existing file's times to now.
    pub fn touch(&self, path: &str) -> Result<()> {
        self.record("touch", path, || {
            let existed = self.resolve(path, true).is_ok();
            let (m, ino) = self.open_or_create(path, FILE_MODE)?;
            if existed {
                let t = now();
                self.writable(m, path)?.utimens(ino, Some(t), Some(t)).map_err(on(path))?;
            }
            Ok(())
        })
    }

    /// `truncate-size`: sets a regular file's size (`truncate` is size 0).
    pub fn truncate_size(&self, path: &str, size: u64) -> Result<()> {
        self.record("truncate", path, || {
            let (m, ino) = self.regular(path)?;
            self.writable(m, path)?.truncate(ino, size).map_err(on(path))
        })
    }

    /// `mkdir`, with `mode` (`mkdir-mode`; `mkdir` uses 0755).
    pub fn mkdir_mode(&self, path: &str, mode: u32) -> Result<()> {
        self.record("mkdir", path, || {
            let e = self.entry(path).map_err(|err| match err {
                GuestError::Path { errno: Errno::Busy, .. } => at(path, Errno::Exists),
                other => other,
            })?;
            let fs = self.writable(e.mount, path)?;
            if self.is_mountpoint(&e.canonical) || fs.lookup(e.dir, &e.name).map_err(on(path))?.is_some() {
                return Err(at(path, Errno::Exists));
            }
            let ino = fs.mkdir(e.dir, &e.name, mode).map_err(on(path))?;
            self.label_created(e.mount, e.dir, ino, &e.canonical, 0o040000);
            Ok(())
        })
    }

    /// `mkdir`.
    pub fn mkdir(&self, path: &str) -> Result<()> {
        self.mkdir_mode(path, DIR_MODE)
    }

    /// `mkdir-p`: creates `path` and missing parents; an existing directory is fine, an
    /// existing non-directory is EEXIST.
    pub fn mkdir_p(&self, path: &str) -> Result<()> {
        if !path.starts_with('/') {
            return Err(at(path, Errno::Invalid));
        }
        let mut prefix = String::new();
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            prefix.push('/');
            prefix.push_str(comp);
            match self.file_type(&prefix, true)? {
                Some(FileType::Directory) => continue,
                Some(_) => return Err(at(&prefix, Errno::Exists)),
                None => self.mkdir(&prefix)?,
            }
        }
        Ok(())
    }

    /// `rm`: removes a non-directory.
    pub fn rm(&self, path: &str) -> Result<()> {
        self.record("rm", path, || {
            let e = self.entry(path)?;
            let fs = self.writable(e.mount, path)?;
            match fs.lookup(e.dir, &e.name).map_err(on(path))? {
                None => Err(at(path, Errno::NoEntry)),
                Some(_) if self.is_mountpoint(&e.canonical) => Err(at(path, Errno::IsDir)),
                Some(ino) => {
                    if fs.stat(ino).map_err(on(path))?.file_type() == Some(FileType::Directory) {
                        return Err(at(path, Errno::IsDir));
                    }
                    fs.unlink(e.dir, &e.name).map_err(on(path))
                }
            }
        })
    }

    /// `rm-f`: like `rm`, but a missing file is not an error.
    pub fn rm_f(&self, path: &str) -> Result<()> {
        match self.rm(path) {
            Err(GuestError::Path { errno: Errno::NoEntry, .. }) => Ok(()),
            r => r,
        }
    }

    /// `rmdir`: removes an empty directory.
    pub fn rmdir(&self, path: &str) -> Result<()> {
        self.record("rmdir", path, || {
            let e = self.entry(path)?;
            if self.is_mountpoint(&e.canonical) {
                return Err(at(path, Errno::Busy));
            }
            let fs = self.writable(e.mount, path)?;
            match fs.lookup(e.dir, &e.name).map_err(on(path))? {
                None => Err(at(path, Errno::NoEntry)),
                Some(ino) if fs.stat(ino).map_err(on(path))?.file_type() != Some(FileType::Directory) => Err(at(path, Errno::NotDir)),
                Some(_) => fs.rmdir(e.dir, &e.name).map_err(on(path)),
            }
        })
    }

    /// `rm-rf`: removes `path` and everything below it; a missing path is not an error.
    /// Symlinks are removed, never followed; a mountpoint below is EBUSY.
    pub fn rm_rf(&self, path: &str) -> Result<()> {
        self.record("rm-rf", path, || {
            let e = match self.entry(path) {
                Err(GuestError::Path { errno: Errno::NoEntry, .. }) => return Ok(()),
                r => r?,
            };
            let fs = self.writable(e.mount, path)?.clone();
            let Some(ino) = fs.lookup(e.dir, &e.name).map_err(on(path))? else {
                return Ok(());
            };
            self.remove_tree(&fs, e.dir, &e.name, ino, &e.canonical)
        })
    }

    fn remove_tree(&self, fs: &Arc<dyn Filesystem>, dir: Ino, name: &[u8], ino: Ino, canonical: &str) -> Result<()> {
        if self.is_mountpoint(canonical) {
            return Err(at(canonical, Errno::Busy));
        }
        if fs.stat(ino).map_err(on(canonical))?.file_type() == Some(FileType::Directory) {
            for child in fs.read_dir(ino).map_err(on(canonical))? {
                let child_path = format!("{}/{}", canonical.trim_end_matches('/'), String::from_utf8_lossy(&child.name));
                self.remove_tree(fs, ino, &child.name, child.ino, &child_path)?;
            }
            fs.rmdir(dir, name).map_err(on(canonical))
        } else {
            fs.unlink(dir, name).map_err(on(canonical))
        }
    }

    /// `chmod`: sets permission bits (following symlinks).
    pub fn chmod(&self, mode: u32, path: &str) -> Result<()> {
        self.record("chmod", path, || {
            let r = self.resolve(path, true)?;
            self.writable(r.mount, path)?.chmod(r.ino, mode & 0o7777).map_err(on(path))
        })
    }

    /// `chown` (following symlinks); `lchown` with `follow` false. A negative id (guestfish's
    /// -1) leaves it unchanged.
    pub fn chown(&self, uid: i64, gid: i64, path: &str, follow: bool) -> Result<()> {
        self.record("chown", path, || {
            let r = self.resolve(path, follow)?;
            let id = |v: i64| u32::try_from(v).ok();
            self.writable(r.mount, path)?.chown(r.ino, id(uid), id(gid)).map_err(on(path))
        })
    }

    /// `utimens`-like: sets access and modification times (following symlinks).
    pub fn set_times(&self, path: &str, atime: Option<Timespec>, mtime: Option<Timespec>) -> Result<()> {
        self.record("utimens", path, || {
            let r = self.resolve(path, true)?;
            self.writable(r.mount, path)?.utimens(r.ino, atime, mtime).map_err(on(path))
        })
    }

    /// `setxattr` (following symlinks) / `lsetxattr`.
    pub fn setxattr(&self, name: &str, value: &[u8], path: &str, follow: bool) -> Result<()> {
        self.record("setxattr", path, || {
            let r = self.resolve(path, follow)?;
            let fs = self.writable(r.mount, path)?;
            crate::fs::acl::setxattr(fs.as_ref(), r.ino, name.as_bytes(), value).map_err(on(path))
        })
    }

    /// `removexattr` (following symlinks) / `lremovexattr`.
    pub fn removexattr(&self, name: &str, path: &str, follow: bool) -> Result<()> {
        self.record("removexattr", path, || {
            let r = self.resolve(path, follow)?;
            self.writable(r.mount, path)?.removexattr(r.ino, name.as_bytes()).map_err(on(path))
        })
    }

    /// `mknod`: a device node, fifo or socket (`mode` with its type bits).
    pub fn mknod(&self, mode: u32, major: u32, minor: u32, path: &str) -> Result<()> {
        self.record("mknod", path, || {
            let e = self.entry(path)?;
            let fs = self.writable(e.mount, path)?;
            if fs.lookup(e.dir, &e.name).map_err(on(path))?.is_some() {
                return Err(at(path, Errno::Exists));
            }
            let rdev = fs::makedev(major, minor);
            let ino = fs.mknod(e.dir, &e.name, mode, rdev).map_err(on(path))?;
            self.label_created(e.mount, e.dir, ino, &e.canonical, mode & super::selinux::S_IFMT);
            Ok(())
        })
    }

    /// `ln-s` (`force`: `ln-sf`, replacing an existing non-directory `linkname`).
    pub fn ln_s(&self, target: &str, linkname: &str, force: bool) -> Result<()> {
        self.record("ln-s", linkname, || {
            let e = self.prepare_link(linkname, force)?;
            let ino = self.writable(e.mount, linkname)?.symlink(e.dir, &e.name, target.as_bytes()).map_err(on(linkname))?;
            self.label_created(e.mount, e.dir, ino, &e.canonical, 0o120000);
            Ok(())
        })
    }

    /// `ln` (`force`: `ln-f`): a hard link `linkname` to the existing `target`.
    pub fn ln(&self, target: &str, linkname: &str, force: bool) -> Result<()> {
        self.record("ln", linkname, || {
            let t = self.resolve(target, false)?;
            if self.mounts[t.mount].fs.stat(t.ino).map_err(on(target))?.file_type() == Some(FileType::Directory) {
                return Err(at(target, Errno::NotPermitted));
            }
            let e = self.prepare_link(linkname, force)?;
            if e.mount != t.mount {
                return Err(GuestError::Path { path: linkname.to_string(), errno: Errno::CrossDevice });
            }
            self.writable(e.mount, linkname)?.link(t.ino, e.dir, &e.name).map_err(on(linkname))
        })
    }

    /// The entry for a new link name; with `force`, an existing non-directory is removed.
    fn prepare_link(&self, linkname: &str, force: bool) -> Result<Entry> {
        let e = self.entry(linkname)?;
        let fs = self.writable(e.mount, linkname)?;
        if let Some(ino) = fs.lookup(e.dir, &e.name).map_err(on(linkname))? {
            if !force {
                return Err(at(linkname, Errno::Exists));
            }
            if fs.stat(ino).map_err(on(linkname))?.file_type() == Some(FileType::Directory) {
                return Err(at(linkname, Errno::IsDir));
            }
            fs.unlink(e.dir, &e.name).map_err(on(linkname))?;
        }
        Ok(e)
    }

    /// Where `src` goes for `cp`/`mv` to `dest`: into `dest` when it is a directory.
    fn destination(&self, src: &str, dest: &str) -> Result<String> {
        if self.file_type(dest, true)? == Some(FileType::Directory) {
            let name = src.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            if name.is_empty() {
                return Err(at(src, Errno::Invalid));
            }
            Ok(format!("{}/{name}", dest.trim_end_matches('/')))
        } else {
            Ok(dest.to_string())
        }
    }

    /// `mv`: renames within a filesystem; across filesystems, copies (`cp -a`) then removes.
    pub fn mv(&self, src: &str, dest: &str) -> Result<()> {
        self.record("mv", src, || {
            let dest = self.destination(src, dest)?;
            let s = self.entry(src)?;
            let d = self.entry(&dest)?;
            if self.is_mountpoint(&s.canonical) || self.is_mountpoint(&d.canonical) {
                return Err(at(src, Errno::Busy));
            }
            let fs = self.writable(s.mount, src)?;
            if fs.lookup(s.dir, &s.name).map_err(on(src))?.is_none() {
                return Err(at(src, Errno::NoEntry));
            }
            if s.mount == d.mount {
                return fs.rename(s.dir, &s.name, d.dir, &d.name).map_err(on(src));
            }
            self.writable(d.mount, &dest)?;
            self.copy(&s.canonical, &dest, Copy::Archive)?;
            self.rm_rf(&s.canonical)
        })
    }

    /// `cp` (files; a symlink source is followed), `cp-r` (recursive, no attributes kept),
    /// `cp-a` (recursive, keeping modes, owners, times, xattrs, symlinks, hard links).
    pub fn cp(&self, src: &str, dest: &str, how: Copy) -> Result<()> {
        self.record("cp", dest, || {
            let dest = self.destination(src, dest)?;
            if how == Copy::File && self.file_type(src, true)? == Some(FileType::Directory) {
                return Err(at(src, Errno::IsDir));
            }
            self.copy(src, &dest, how)
        })
    }

    fn copy(&self, src: &str, dest: &str, how: Copy) -> Result<()> {
        let r = self.resolve(src, how == Copy::File)?;
        let mut links = HashMap::new();
        self.copy_node(r.mount, r.ino, src, dest, how, &mut links)
    }

    fn copy_node(&self, m: usize, ino: Ino, src: &str, dest: &str, how: Copy, links: &mut HashMap<(usize, Ino), String>) -> Result<()> {
        let sfs = self.mounts[m].fs.clone();
        let st = sfs.stat(ino).map_err(on(src))?;
        if how == Copy::Archive && st.nlink > 1 && st.file_type() != Some(FileType::Directory) {
            if let Some(first) = links.get(&(m, ino)) {
                return self.ln(&first.clone(), dest, false);
            }
            links.insert((m, ino), dest.to_string());
        }
        match st.file_type() {
            Some(FileType::Directory) => {
                if self.file_type(dest, true)? != Some(FileType::Directory) {
                    self.mkdir_mode(dest, st.mode & 0o7777)?;
                }
                for child in sfs.read_dir(ino).map_err(on(src))? {
                    let n = String::from_utf8_lossy(&child.name).into_owned();
                    let (cs, cd) = (format!("{}/{n}", src.trim_end_matches('/')), format!("{}/{n}", dest.trim_end_matches('/')));
                    // a filesystem mounted below is copied from the mount, as cp sees it
                    let (cm, cino) = match mount_at(&self.mounts, &self.resolve(&cs, false)?.canonical) {
                        Some(mm) => (mm, self.mounts[mm].fs.root()),
                        None => (m, child.ino),
                    };
                    self.copy_node(cm, cino, &cs, &cd, how, links)?;
                }
            }
            Some(FileType::Regular) => {
                let (dm, dino) = self.open_or_create(dest, st.mode & 0o7777)?;
                self.writable(dm, dest)?.truncate(dino, 0).map_err(on(dest))?;
                let mut reader = super::files::GuestFile::new(sfs.clone(), ino, st.size);
                self.write_from(dm, dino, 0, &mut reader, dest)?;
            }
            Some(FileType::Symlink) => {
                let target = sfs.readlink(ino).map_err(on(src))?;
                self.ln_s(&String::from_utf8_lossy(&target), dest, false)?;
            }
            Some(_) => {
                self.mknod(st.mode, fs::major(st.rdev), fs::minor(st.rdev), dest)?;
            }
            None => return Err(at(src, Errno::Invalid)),
        }
        if how == Copy::Archive {
            self.copy_attributes(&st, &sfs, ino, dest)?;
        }
        Ok(())
    }

    /// `cp -a`'s attribute copy: xattrs, owner, mode, times (of a symlink itself).
    fn copy_attributes(&self, st: &Stat, sfs: &Arc<dyn Filesystem>, ino: Ino, dest: &str) -> Result<()> {
        let d = self.resolve(dest, false)?;
        let dfs = self.writable(d.mount, dest)?;
        for (name, value) in sfs.xattrs(ino).map_err(on(dest))? {
            dfs.setxattr(d.ino, &name, &value).map_err(on(dest))?;
        }
        dfs.chown(d.ino, Some(st.uid), Some(st.gid)).map_err(on(dest))?;
        if st.file_type() != Some(FileType::Symlink) {
            dfs.chmod(d.ino, st.mode & 0o7777).map_err(on(dest))?;
        }
        dfs.utimens(d.ino, Some(st.atime), Some(st.mtime)).map_err(on(dest))
    }
}

/// How `cp` copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copy {
    /// `cp`: one file, following a symlink source.
    File,
    /// `cp-r`: recursive, new files get default attributes.
    Recursive,
    /// `cp-a`: recursive, attributes, symlinks and hard links kept.
    Archive,
}

impl Guest {
    /// Writes every change the writable filesystems hold in memory to their devices (the
    /// drives' overlays, until [`Guest::commit`]).
    pub fn sync_filesystems(&self) -> Result<()> {
        for m in self.mounts.iter().filter(|m| !m.readonly && m.fs.is_writable()) {
            m.fs.sync()?;
        }
        Ok(())
    }
}
