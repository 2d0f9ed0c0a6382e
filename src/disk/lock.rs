//! Write locks on image files, compatible with QEMU's: before an image is opened for writing we
//! take the byte-range locks a QEMU writer takes, and refuse if any other process (a running
//! QEMU, `qemu-img`, another vguestfs) holds a lock on the image.
//!
//! QEMU (`block/file-posix.c`) takes open-file-description locks (`F_OFD_SETLK`, shared
//! `F_RDLCK`) on byte `100 + n` for each permission `n` it holds and on byte `200 + n` for each
//! permission it does not let others have; permissions are bit 0 consistent read, 1 write,
//! 2 write unchanged, 3 resize. Before taking a permission it tests (`F_OFD_GETLK` with
//! `F_WRLCK`) the byte of the opposite kind. We lock like a QEMU writer: we hold all four
//! permissions and share only consistent read and write-unchanged (QEMU's default for a
//! writable disk), so a QEMU VM or a `qemu-img` started later fails to get its locks while
//! `qemu-img info -U` still works. We refuse when anyone else has any lock in the first 300
//! bytes (libvirt's byte 0 included): a reader could see a half-done commit. Locks are taken
//! first and conflicts tested after, so two racing openers both refuse rather than both
//! proceed.
//!
//! OFD locks belong to the open file description, not the process: a second open in the
//! same process conflicts too, and closing the lock's file releases exactly its locks.

use super::{Error, Result};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// QEMU's `RAW_LOCK_PERM_BASE`.
const PERM_BASE: i64 = 100;
/// QEMU's `RAW_LOCK_SHARED_BASE`.
const SHARED_BASE: i64 = 200;
/// QEMU's permissions, by bit number.
const PERMS: [&str; 4] = ["consistent read", "write", "write unchanged", "resize"];
/// The permissions we do not share (bit numbers): write and resize.
const UNSHARED: [i64; 2] = [1, 3];
/// Bytes tested for other holders: 0 (libvirt) up to the end of QEMU's shared-permission bytes.
const CHECK_END: i64 = 300;
/// Attempts, and the pause between them, before a conflicting lock counts: a lock can be held
/// for a moment by a child process another thread is starting (between its fork and its exec,
/// it shares our open file descriptions), and a real holder does not go away in 0.3 s.
const ATTEMPTS: u32 = 12;
const PAUSE: std::time::Duration = std::time::Duration::from_millis(25);

/// A write lock on an image file, held until dropped.
#[derive(Debug)]
pub struct ImageLock {
    file: File,
    path: PathBuf,
}

/// A lock found held by someone else.
struct Holder {
    start: i64,
    len: i64,
    pid: i32,
}

impl ImageLock {
    /// Locks `path` for writing, or fails with [`Error::InUse`] when another process (or
    /// another open in this one) holds a lock on it.
    pub fn acquire(path: &Path) -> Result<ImageLock> {
        let mut attempt = 1;
        loop {
            match ImageLock::try_acquire(path) {
                Err(Error::InUse { .. }) if attempt < ATTEMPTS => {
                    attempt += 1;
                    std::thread::sleep(PAUSE);
                }
                other => return other,
            }
        }
    }

    fn try_acquire(path: &Path) -> Result<ImageLock> {
        // never blocking, regular files and block devices only (a FIFO named as the image)
        let file = crate::disk::file::open(path, false)?;
        let lock = ImageLock { file, path: path.to_path_buf() };
        lock.set(PERM_BASE, PERMS.len() as i64)?;
        for bit in UNSHARED {
            lock.set(SHARED_BASE + bit, 1)?;
        }
        if let Some(h) = lock.holder()? {
            return Err(lock.in_use(&h));
        }
        Ok(lock)
    }

    /// The locked image.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes a shared lock on `len` bytes at `start`.
    fn set(&self, start: i64, len: i64) -> Result<()> {
        let mut fl = flock(libc::F_RDLCK, start, len);
        // SAFETY: F_OFD_SETLK reads a valid, initialised `struct flock` that outlives the call,
        // on a file descriptor we own.
        let rc = unsafe { libc::fcntl(self.file.as_raw_fd(), libc::F_OFD_SETLK, &mut fl) };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) => {
                Err(self.in_use(&self.holder()?.unwrap_or(Holder { start, len, pid: -1 })))
            }
            _ => Err(self.lock_err(e)),
        }
    }

    /// The first lock another open file description holds on bytes `0..CHECK_END`.
    fn holder(&self) -> Result<Option<Holder>> {
        let mut fl = flock(libc::F_WRLCK, 0, CHECK_END);
        // SAFETY: F_OFD_GETLK reads and fills a valid `struct flock` that outlives the call, on
        // a file descriptor we own.
        let rc = unsafe { libc::fcntl(self.file.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) };
        if rc != 0 {
            return Err(self.lock_err(std::io::Error::last_os_error()));
        }
        if i32::from(fl.l_type) == libc::F_UNLCK {
            return Ok(None);
        }
        Ok(Some(Holder { start: fl.l_start, len: fl.l_len, pid: fl.l_pid }))
    }

    fn in_use(&self, h: &Holder) -> Error {
        Error::InUse { path: self.path.clone(), detail: describe(h) }
    }

    fn lock_err(&self, source: std::io::Error) -> Error {
        Error::Io { path: self.path.clone(), op: "lock (fcntl F_OFD_SETLK; does this filesystem support file locks?)", source }
    }
}

fn flock(kind: i32, start: i64, len: i64) -> libc::flock {
    // SAFETY: `struct flock` is plain data; all-zero is a valid value (l_pid must be 0 for OFD).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = start;
    fl.l_len = len;
    fl
}

/// Says which lock is held, in QEMU's terms where it is one of QEMU's bytes.
fn describe(h: &Holder) -> String {
    let perm = |base: i64| usize::try_from(h.start - base).ok().and_then(|i| PERMS.get(i)).copied();
    let what = if let Some(p) = perm(PERM_BASE) {
        format!("a process holds QEMU's '{p}' permission on it (lock byte {})", h.start)
    } else if let Some(p) = perm(SHARED_BASE) {
        format!("a process forbids others QEMU's '{p}' permission (lock byte {})", h.start)
    } else {
        let end = if h.len == 0 { "the end".to_string() } else { (h.start + h.len - 1).to_string() };
        format!("a process holds a lock on bytes {} to {end}", h.start)
    };
    if h.pid > 0 {
        format!("{what}, pid {}", h.pid)
    } else {
        what
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let first = ImageLock::acquire(tmp.path()).unwrap();
        let err = ImageLock::acquire(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("is in use by another process") && err.contains("lock byte 10"), "{err}");
        // The refused attempt released its own locks: the first still holds, nobody else does.
        drop(first);
        let again = ImageLock::acquire(tmp.path()).unwrap();
        assert_eq!(again.path(), tmp.path());
    }

    #[test]
    fn descriptions_name_qemu_permissions() {
        assert!(describe(&Holder { start: 101, len: 1, pid: -1 }).contains("'write' permission"));
        assert!(describe(&Holder { start: 203, len: 1, pid: -1 }).contains("forbids others QEMU's 'resize'"));
        assert!(describe(&Holder { start: 0, len: 0, pid: 42 }).contains("bytes 0 to the end, pid 42"));
    }
}
