//! Opening image files safely: the open never blocks (a FIFO or a device that would wait for a
//! peer is refused instead of hanging every tool), and only regular files and block devices
//! are disk images.

use super::{Error, Result};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Opens the image file `path` read-only, or for reading and writing when `writable`.
/// Opened with `O_NONBLOCK` so that a FIFO cannot block, then checked: a regular file or a
/// block device (the flag is cleared again for those); anything else is an error naming
/// what it is.
pub fn open(path: &Path, writable: bool) -> Result<File> {
    let io = |op, source| Error::Io { path: path.to_path_buf(), op, source };
    let file = OpenOptions::new().read(true).write(writable).custom_flags(libc::O_NONBLOCK).open(path).map_err(|e| io("open", e))?;
    let t = file.metadata().map_err(|e| io("stat", e))?.file_type();
    let what = if t.is_file() || t.is_block_device() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_char_device() {
        Some("a character device")
    } else {
        Some("not a regular file")
    };
    if let Some(what) = what {
        return Err(Error::Format { path: path.to_path_buf(), msg: format!("is {what}, not a disk image (only regular files and block devices are)") });
    }
    // SAFETY: fcntl on a file descriptor we own; F_GETFL/F_SETFL take and return plain ints.
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io("fcntl", std::io::Error::last_os_error()));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn fifos_and_directories_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let t = Instant::now();
        let e = open(&fifo, false).unwrap_err().to_string();
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(e.contains("is a FIFO (named pipe), not a disk image"), "{e}");
        assert!(open(dir.path(), false).unwrap_err().to_string().contains("is a directory"));
        assert!(open(Path::new("/dev/null"), false).unwrap_err().to_string().contains("character device"));
        let f = dir.path().join("img");
        std::fs::write(&f, b"data").unwrap();
        let file = open(&f, false).unwrap();
        // SAFETY: F_GETFL on an open descriptor.
        let flags = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&file), libc::F_GETFL) };
        assert_eq!(flags & libc::O_NONBLOCK, 0);
    }
}
