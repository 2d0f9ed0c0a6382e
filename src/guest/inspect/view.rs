//! A private, read-only view of a guest's filesystems used while inspecting: its own mount
//! table (never the session's), so inspection leaves nothing mounted. Every guest file is read
//! with a size cap.

use crate::fs::FileType;
use crate::guest::path::{resolve, Mount};
use crate::guest::Guest;
use crate::guest::Result;

/// Largest release/hostname/fstab file read (libguestfs reads only "small files" there too).
pub const SMALL_FILE_MAX: u64 = 1 << 20;
/// Largest package database file read.
pub const DB_FILE_MAX: u64 = 256 << 20;

/// Filesystems opened read-only and mounted in a private table.
pub struct View {
    mounts: Vec<Mount>,
}

impl View {
    /// Opens `device` as the guest `/`.
    pub fn new(guest: &Guest, device: &str) -> Result<View> {
        let fs = guest.open_fs_ro(device)?;
        guest.note_fs_warnings(fs.as_ref());
        Ok(View { mounts: vec![Mount { device: device.to_string(), mountpoint: "/".into(), fs, readonly: true }] })
    }

    /// Adds `device` at `mountpoint` (a canonical absolute path); a filesystem that cannot be
    /// opened is skipped, as inspection skips what it cannot mount.
    pub fn add(&mut self, guest: &Guest, device: &str, mountpoint: &str) {
        if let Ok(fs) = guest.open_fs_ro(device) {
            guest.note_fs_warnings(fs.as_ref());
            self.mounts.push(Mount { device: device.to_string(), mountpoint: mountpoint.to_string(), fs, readonly: true });
        }
    }

    /// The type of `path` (following symlinks when `follow`), `None` when it cannot be reached.
    pub fn file_type(&self, path: &str, follow: bool) -> Option<FileType> {
        let r = resolve(&self.mounts, path, follow).ok()?;
        self.mounts[r.mount].fs.stat(r.ino).ok()?.file_type()
    }

    /// Whether `path` is a regular file (following symlinks).
    pub fn is_file(&self, path: &str) -> bool {
        self.file_type(path, true) == Some(FileType::Regular)
    }

    /// The target of the symlink `path`, if it is one.
    pub fn readlink(&self, path: &str) -> Option<Vec<u8>> {
        let r = resolve(&self.mounts, path, false).ok()?;
        let fs = &self.mounts[r.mount].fs;
        (fs.stat(r.ino).ok()?.file_type() == Some(FileType::Symlink)).then(|| fs.readlink(r.ino).ok()).flatten()
    }

    /// Names in the directory `path` (empty when it is not a readable directory).
    pub fn list_dir(&self, path: &str) -> Vec<Vec<u8>> {
        let Ok(r) = resolve(&self.mounts, path, true) else { return Vec::new() };
        self.mounts[r.mount].fs.read_dir(r.ino).map(|v| v.into_iter().map(|e| e.name).collect()).unwrap_or_default()
    }

    /// `path` as the filesystem spells it, each component matched without regard to case
    /// (an exact match first), as libguestfs's `case-sensitive-path` finds Windows paths;
    /// `None` when a component is missing.
    pub fn case_path(&self, path: &str) -> Option<String> {
        let mut out = String::new();
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            let dir = if out.is_empty() { "/" } else { out.as_str() };
            let names = self.list_dir(dir);
            let want = comp.as_bytes();
            let found = names.iter().find(|n| n.as_slice() == want).or_else(|| {
                let lower = comp.to_lowercase();
                names.iter().find(|n| std::str::from_utf8(n).is_ok_and(|s| s.to_lowercase() == lower))
            })?;
            out.push('/');
            out.push_str(std::str::from_utf8(found).ok()?);
        }
        Some(if out.is_empty() { "/".into() } else { out })
    }

    /// The content of the regular file `path` if it exists and is at most `max` bytes:
    /// `Ok(None)` when it is missing or not a regular file, an error when it is larger.
    pub fn read_capped(&self, path: &str, max: u64) -> std::result::Result<Option<Vec<u8>>, super::Error> {
        let Ok(r) = resolve(&self.mounts, path, true) else { return Ok(None) };
        let fs = &self.mounts[r.mount].fs;
        let st = fs.stat(r.ino)?;
        if st.file_type() != Some(FileType::Regular) {
            return Ok(None);
        }
        if st.size > max {
            return Err(super::Error::TooLarge { path: path.to_string(), size: st.size, max });
        }
        let mut out = Vec::with_capacity(st.size as usize);
        let mut buf = vec![0u8; 64 << 10];
        while (out.len() as u64) <= max {
            let n = fs.read(r.ino, out.len() as u64, &mut buf)?;
            if n == 0 {
                return Ok(Some(out));
            }
            out.extend_from_slice(&buf[..n]);
        }
        Err(super::Error::TooLarge { path: path.to_string(), size: out.len() as u64, max })
    }

    /// The first bytes (up to `n`) of the regular file `path`, `None` when it cannot be read.
    pub fn head(&self, path: &str, n: usize) -> Option<Vec<u8>> {
        let r = resolve(&self.mounts, path, true).ok()?;
        let fs = &self.mounts[r.mount].fs;
        if fs.stat(r.ino).ok()?.file_type() != Some(FileType::Regular) {
            return None;
        }
        let mut buf = vec![0u8; n];
        let mut got = 0;
        while got < n {
            match fs.read(r.ino, got as u64, &mut buf[got..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => got += k,
            }
        }
        buf.truncate(got);
        Some(buf)
    }

    /// A small text file (at most [`SMALL_FILE_MAX`]) as lossy UTF-8; `None` when missing,
    /// unreadable or too large, as libguestfs ignores release files it cannot read.
    pub fn small_text(&self, path: &str) -> Option<String> {
        let data = self.read_capped(path, SMALL_FILE_MAX).ok()??;
        Some(String::from_utf8_lossy(&data).into_owned())
    }
}
