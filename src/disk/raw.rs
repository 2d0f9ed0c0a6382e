//! Raw image files: positioned I/O on a `File`, opened read-only unless writes are asked for.

use super::{check_range, BlockDev, Error, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A raw disk image file.
#[derive(Debug)]
pub struct RawFile {
    file: File,
    path: PathBuf,
    len: u64,
    writable: bool,
}

impl RawFile {
    /// Opens `path`; the file is opened for writing only when `writable` is true.
    pub fn open(path: &Path, writable: bool) -> Result<RawFile> {
        let io = |op, source| Error::Io { path: path.to_path_buf(), op, source };
        let file = super::file::open(path, writable)?;
        let len = block_len(&file).map_err(|e| io("stat", e))?;
        Ok(RawFile { file, path: path.to_path_buf(), len, writable })
    }

    /// Wraps an already-open file (used for block devices and tests).
    pub fn from_file(file: File, path: PathBuf, writable: bool) -> Result<RawFile> {
        let len = block_len(&file).map_err(|source| Error::Io { path: path.clone(), op: "stat", source })?;
        Ok(RawFile { file, path, len, writable })
    }

    /// The image path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying file (for locking).
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// The size of an image file: its length, or for a block device the offset of its end.
fn block_len(file: &File) -> std::io::Result<u64> {
    use std::io::Seek;
    let meta = file.metadata()?;
    if std::os::unix::fs::FileTypeExt::is_block_device(&meta.file_type()) {
        let mut f = file;
        return f.seek(std::io::SeekFrom::End(0));
    }
    Ok(meta.len())
}

impl BlockDev for RawFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> Result<()> {
        check_range(&|| self.name(), off, buf.len(), self.len)?;
        self.file
            .read_exact_at(buf, off)
            .map_err(|source| Error::Io { path: self.path.clone(), op: "read", source })
    }

    fn write_at(&self, buf: &[u8], off: u64) -> Result<()> {
        if !self.writable {
            return Err(Error::ReadOnly { dev: self.name() });
        }
        check_range(&|| self.name(), off, buf.len(), self.len)?;
        self.file
            .write_all_at(buf, off)
            .map_err(|source| Error::Io { path: self.path.clone(), op: "write", source })
    }

    fn flush(&self) -> Result<()> {
        if !self.writable {
            return Ok(());
        }
        self.file
            .sync_data()
            .map_err(|source| Error::Io { path: self.path.clone(), op: "flush", source })
    }

    fn is_writable(&self) -> bool {
        self.writable
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_and_refuses_writes_when_read_only() {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(&[7u8; 4096]).unwrap();
        let dev = RawFile::open(tmp.path(), false).unwrap();
        let mut buf = [0u8; 16];
        dev.read_at(&mut buf, 4080).unwrap();
        assert_eq!(buf, [7u8; 16]);
        assert!(matches!(dev.read_at(&mut buf, 4081), Err(Error::OutOfRange { .. })));
        assert!(matches!(dev.write_at(&buf, 0), Err(Error::ReadOnly { .. })));
    }

    #[test]
    fn writes_when_writable() {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(&[0u8; 1024]).unwrap();
        let dev = RawFile::open(tmp.path(), true).unwrap();
        dev.write_at(b"abc", 100).unwrap();
        dev.flush().unwrap();
        assert_eq!(&std::fs::read(tmp.path()).unwrap()[100..103], b"abc");
        assert!(dev.write_at(b"abc", 1022).is_err());
    }
}
