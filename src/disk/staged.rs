//! A fresh output image written in a staging copy beside it and renamed over it once complete
//! (vresize's copy mode): a copy interrupted at any instant — an error, `kill -9`, a power cut
//! after the rename is durable — leaves the output as the user created it or complete, never
//! half written. Only regular files can be staged; a block device is written in place.
//!
//! The staging file is `.NAME.vresize-staging` in the output's directory (so a qcow2's
//! relative backing name still resolves), a sparse copy of the output as created (its data
//! extents only: a fresh raw file is all hole, a fresh qcow2 a few clusters of metadata), with
//! its permissions. A staging file left by a killed run is replaced by the next one, which
//! holds the output's lock.

use super::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// A staging copy of an output image (see the module documentation).
pub struct Staged {
    output: PathBuf,
    staging: PathBuf,
    done: bool,
}

fn io(path: &Path, op: &'static str, e: std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), op, source: e }
}

impl Staged {
    /// Stages `output` when it is a regular file; `None` for a block device.
    pub fn begin(output: &Path) -> Result<Option<Staged>> {
        let meta = fs::metadata(output).map_err(|e| io(output, "stat", e))?;
        if !meta.is_file() {
            return Ok(None);
        }
        let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let staging = output.with_file_name(format!(".{name}.vresize-staging"));
        match fs::remove_file(&staging) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&staging, "remove a stale staging copy", e)),
            _ => {}
        }
        let s = Staged { output: output.to_path_buf(), staging, done: false };
        let from = File::open(output).map_err(|e| io(output, "open", e))?;
        let to = OpenOptions::new().write(true).create_new(true).open(&s.staging).map_err(|e| io(&s.staging, "create the staging copy", e))?;
        to.set_permissions(meta.permissions()).map_err(|e| io(&s.staging, "chmod", e))?;
        sparse_copy(&from, &to, meta.len()).map_err(|e| io(&s.staging, "copy the output into the staging copy", e))?;
        Ok(Some(s))
    }

    /// Where the output is written meanwhile.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Makes the staging copy durable and renames it over the output.
    pub fn finish(mut self) -> Result<()> {
        File::open(&self.staging).and_then(|f| f.sync_all()).map_err(|e| io(&self.staging, "flush", e))?;
        fs::rename(&self.staging, &self.output).map_err(|e| io(&self.output, "rename the staging copy over", e))?;
        self.done = true;
        if let Some(dir) = self.output.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io(dir, "flush the directory", e))?;
        }
        Ok(())
    }
}

impl Drop for Staged {
    /// An unfinished staging copy is removed (the output was never touched).
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.staging);
        }
    }
}

/// Copies the data extents of `from` (`len` bytes) into `to`, holes left as holes.
fn sparse_copy(from: &File, to: &File, len: u64) -> std::io::Result<()> {
    to.set_len(len)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    while pos < len {
        let Some(data) = seek(from, pos, libc::SEEK_DATA)? else { break };
        let hole = seek(from, data, libc::SEEK_HOLE)?.unwrap_or(len).min(len);
        let mut at = data;
        while at < hole {
            let n = (hole - at).min(buf.len() as u64) as usize;
            from.read_exact_at(&mut buf[..n], at)?;
            to.write_all_at(&buf[..n], at)?;
            at += n as u64;
        }
        pos = hole.max(pos + 1);
    }
    Ok(())
}

/// `lseek(fd, off, whence)`; `None` when no data is left (`ENXIO`).
fn seek(f: &File, off: u64, whence: libc::c_int) -> std::io::Result<Option<u64>> {
    let off = libc::off_t::try_from(off).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: lseek on an open descriptor; no memory is passed.
    let r = unsafe { libc::lseek(f.as_raw_fd(), off, whence) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ENXIO) { Ok(None) } else { Err(e) };
    }
    Ok(Some(r as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_a_sparse_copy_and_renames_it_over() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out.img");
        let f = File::create(&out).unwrap();
        f.set_len(64 << 20).unwrap();
        f.write_all_at(b"header", 0).unwrap();
        f.write_all_at(b"tail", (32 << 20) + 5).unwrap();
        let s = Staged::begin(&out).unwrap().unwrap();
        assert_eq!(fs::read(s.path()).unwrap(), fs::read(&out).unwrap());
        // sparse: only the two data extents are allocated
        use std::os::unix::fs::MetadataExt;
        assert!(fs::metadata(s.path()).unwrap().blocks() * 512 < 1 << 20);
        OpenOptions::new().write(true).open(s.path()).unwrap().write_all_at(b"new", 100).unwrap();
        let staging = s.path().to_path_buf();
        s.finish().unwrap();
        assert!(!staging.exists());
        assert_eq!(&fs::read(&out).unwrap()[100..103], b"new");
        // dropped unfinished: the output untouched, the staging copy gone
        let s = Staged::begin(&out).unwrap().unwrap();
        OpenOptions::new().write(true).open(s.path()).unwrap().write_all_at(b"XXX", 100).unwrap();
        let staging = s.path().to_path_buf();
        drop(s);
        assert!(!staging.exists());
        assert_eq!(&fs::read(&out).unwrap()[100..103], b"new");
    }
}
