//! The guest's mount table: `mount`, `mount_ro`, `umount`, `umount_all`, `mounts`,
//! `mountpoints`, and the file-level read methods that resolve guest paths through it.

use super::path::{resolve, Mount, Resolved};
use super::{Error as GuestError, Guest};
use crate::fs::{self, DirEntry, Errno, FileType, Stat, StatVfs};
use crate::guest::Result;

impl Guest {
    /// `mount`: mounts the filesystem on `device` at `mountpoint`. In a read-only session the
    /// filesystem is mounted read-only, as the kernel does for a write-protected disk.
    pub fn mount(&mut self, device: &str, mountpoint: &str) -> Result<()> {
        self.mount_with(device, mountpoint, false)
    }

    /// `mount-ro`: mounts read-only.
    pub fn mount_ro(&mut self, device: &str, mountpoint: &str) -> Result<()> {
        self.mount_with(device, mountpoint, true)
    }

    /// `mount-options`: mounts with mount options; of them only btrfs's `subvol=PATH` and
    /// `subvolid=ID` change what is read (the others, `ro`, `noatime`…, are accepted and
    /// ignored; `ro` mounts read-only).
    pub fn mount_options(&mut self, options: &str, device: &str, mountpoint: &str) -> Result<()> {
        let mut readonly = false;
        let mut name = device.to_string();
        for o in options.split(',') {
            if o == "ro" {
                readonly = true;
            } else if let Some(p) = o.strip_prefix("subvol=") {
                name = format!("btrfsvol:{device}/{}", p.trim_matches('/'));
            } else if let Some(id) = o.strip_prefix("subvolid=") {
                let id: u64 = id.parse().map_err(|_| GuestError::BadArgument(format!("mount option {o}: not a subvolume id")))?;
                if id != crate::fs::btrfs::FS_TREE_OBJECTID {
                    let v = self.btrfs_subvolume_list(device)?;
                    let s = v.iter().find(|s| s.id == id).ok_or_else(|| GuestError::BadArgument(format!("{device}: no btrfs subvolume with id {id}")))?;
                    name = format!("btrfsvol:{device}/{}", s.path);
                } else {
                    name = format!("btrfsvol:{device}/");
                }
            }
        }
        self.mount_with(&name, mountpoint, readonly)
    }

    fn mount_with(&mut self, device: &str, mountpoint: &str, readonly: bool) -> Result<()> {
        let dev = self.device(device)?;
        let target = if self.mounts.is_empty() {
            if mountpoint != "/" {
                return Err(GuestError::Path { path: mountpoint.to_string(), errno: Errno::NoEntry });
            }
            "/".to_string()
        } else {
            let r = resolve(&self.mounts, mountpoint, true)?;
            let st = self.mounts[r.mount].fs.stat(r.ino)?;
            if st.file_type() != Some(FileType::Directory) {
                return Err(GuestError::Path { path: mountpoint.to_string(), errno: Errno::NotDir });
            }
            r.canonical
        };
        let readonly = readonly || !dev.is_writable();
        if !readonly {
            if let Some(problem) = self.layout_problem(device) {
                return Err(GuestError::Refused(format!(
                    "{device}: not mounted for writing: partition table layout: {problem}; mount it read-only, or fix the table on a copy first (sgdisk -v, sfdisk -V)"
                )));
            }
        }
        let filesystem = match (readonly, self.split_btrfsvol(device)) {
            (true, Some(_)) => self.open_fs_ro(device)?,
            (true, None) => fs::open(dev)?,
            (false, _) => fs::open_rw(dev)?,
        };
        self.note_fs_warnings(filesystem.as_ref());
        self.mounts.push(Mount { device: device.to_string(), mountpoint: target, fs: filesystem, readonly });
        self.forget_selinux_policy();
        Ok(())
    }

    /// `umount`: unmounts by mountpoint or device (the latest such mount). Fails with EBUSY
    /// while another filesystem is mounted below it.
    pub fn umount(&mut self, path_or_device: &str) -> Result<()> {
        let idx = self
            .mounts
            .iter()
            .rposition(|m| m.mountpoint == path_or_device || m.device == path_or_device)
            .ok_or_else(|| GuestError::NotMounted(path_or_device.to_string()))?;
        let mp = self.mounts[idx].mountpoint.clone();
        let below = |m: &Mount| mp == "/" || m.mountpoint.starts_with(&format!("{mp}/"));
        if self.mounts[idx + 1..].iter().any(|m| below(m) && m.mountpoint != mp) {
            return Err(GuestError::Busy(mp));
        }
        self.mounts[idx].fs.sync()?;
        self.mounts.remove(idx);
        self.forget_selinux_policy();
        Ok(())
    }

    /// `umount-all`: every change a writable filesystem holds is written to its device first.
    /// All filesystems are unmounted even when one fails to sync; the first error is returned.
    pub fn umount_all(&mut self) -> Result<()> {
        let mut first = Ok(());
        self.forget_selinux_policy();
        for m in self.mounts.drain(..).rev() {
            if let Err(e) = m.fs.sync() {
                if first.is_ok() {
                    first = Err(e.into());
                }
            }
        }
        first
    }

    /// `mounts`: mounted devices, in mount order.
    pub fn mounts(&self) -> Vec<String> {
        self.mounts.iter().map(|m| m.device.clone()).collect()
    }

    /// The mount table itself, in mount order (a later mount at the same mountpoint shadows
    /// an earlier one): for serving the filesystems by inode, as `vmount` does.
    pub fn mount_table(&self) -> &[super::path::Mount] {
        &self.mounts
    }

    /// `mountpoints`: (device, mountpoint) pairs, in mount order.
    pub fn mountpoints(&self) -> Vec<(String, String)> {
        self.mounts.iter().map(|m| (m.device.clone(), m.mountpoint.clone())).collect()
    }

    /// Resolves a guest path (following a final symlink when `follow` is set).
    pub fn resolve(&self, path: &str, follow: bool) -> Result<Resolved> {
        if self.mounts.is_empty() {
            return Err(GuestError::NothingMounted);
        }
        resolve(&self.mounts, path, follow)
    }

    /// `stat`.
    pub fn stat(&self, path: &str) -> Result<Stat> {
        let r = self.resolve(path, true)?;
        Ok(self.mounts[r.mount].fs.stat(r.ino)?)
    }

    /// `lstat`.
    pub fn lstat(&self, path: &str) -> Result<Stat> {
        let r = self.resolve(path, false)?;
        Ok(self.mounts[r.mount].fs.stat(r.ino)?)
    }

    /// `realpath`: the canonical guest path.
    pub fn realpath(&self, path: &str) -> Result<String> {
        Ok(self.resolve(path, true)?.canonical)
    }

    /// `case-sensitive-path`: `path` as the mounted filesystems spell it, each component
    /// matched without regard to case (an exact match first), as libguestfs finds Windows paths
    /// on NTFS. The last component need not exist (it is kept as given); a missing directory
    /// above it is an error.
    pub fn case_sensitive_path(&self, path: &str) -> Result<String> {
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
        let mut out = String::new();
        for (i, comp) in comps.iter().enumerate() {
            let names: Vec<Vec<u8>> = self.read_dir(if out.is_empty() { "/" } else { &out })?.into_iter().map(|e| e.name).collect();
            let lower = comp.to_lowercase();
            let found = names
                .iter()
                .find(|n| n.as_slice() == comp.as_bytes())
                .or_else(|| names.iter().find(|n| std::str::from_utf8(n).is_ok_and(|s| s.to_lowercase() == lower)))
                .map(|n| String::from_utf8_lossy(n).into_owned());
            match found {
                Some(name) => out = format!("{out}/{name}"),
                None if i + 1 == comps.len() => out = format!("{out}/{comp}"),
                None => return Err(GuestError::Path { path: format!("{out}/{comp}"), errno: Errno::NoEntry }),
            }
        }
        Ok(if out.is_empty() { "/".into() } else { out })
    }

    /// `readlink`.
    pub fn readlink(&self, path: &str) -> Result<Vec<u8>> {
        let r = self.resolve(path, false)?;
        let fs = &self.mounts[r.mount].fs;
        if fs.stat(r.ino)?.file_type() != Some(FileType::Symlink) {
            return Err(GuestError::Path { path: path.to_string(), errno: Errno::Invalid });
        }
        Ok(fs.readlink(r.ino)?)
    }

    /// The entries of a directory in on-disk order (without `.` and `..`); `ls` sorts them.
    pub fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        let r = self.resolve(path, true)?;
        let fs = &self.mounts[r.mount].fs;
        if fs.stat(r.ino)?.file_type() != Some(FileType::Directory) {
            return Err(GuestError::Path { path: path.to_string(), errno: Errno::NotDir });
        }
        Ok(fs.read_dir(r.ino)?)
    }

    /// `cat`/`read-file`: the whole content of a regular file.
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let r = self.resolve(path, true)?;
        let fs = &self.mounts[r.mount].fs;
        let st = fs.stat(r.ino)?;
        match st.file_type() {
            Some(FileType::Directory) => return Err(GuestError::Path { path: path.to_string(), errno: Errno::IsDir }),
            Some(FileType::Regular) => {}
            _ => return Err(GuestError::Path { path: path.to_string(), errno: Errno::Invalid }),
        }
        let mut out = Vec::with_capacity(st.size.min(64 << 20) as usize);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = fs.read(r.ino, out.len() as u64, &mut buf)?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        Ok(out)
    }

    /// `statvfs` of the filesystem holding `path`.
    pub fn statvfs(&self, path: &str) -> Result<StatVfs> {
        let r = self.resolve(path, true)?;
        mount_statvfs(&self.mounts[r.mount])
    }

    /// (device, mountpoint, `statvfs`) of every mounted filesystem, in mount order (`df`).
    pub fn mounts_statvfs(&self) -> Result<Vec<(String, String, StatVfs)>> {
        let mut out = Vec::with_capacity(self.mounts.len());
        for m in &self.mounts {
            out.push((m.device.clone(), m.mountpoint.clone(), mount_statvfs(m)?));
        }
        Ok(out)
    }

    /// Whether a path exists (`exists`), and its type without following a last symlink
    /// (`is-symlink`) or following it (`is-file`, `is-dir`).
    pub fn file_type(&self, path: &str, follow: bool) -> Result<Option<FileType>> {
        match self.resolve(path, follow) {
            Ok(r) => Ok(self.mounts[r.mount].fs.stat(r.ino)?.file_type()),
            Err(GuestError::Path { errno: Errno::NoEntry | Errno::NotDir, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The filesystem's `statvfs`, with `ST_RDONLY` when the mount is read-only.
fn mount_statvfs(m: &Mount) -> Result<StatVfs> {
    let mut v = m.fs.statvfs()?;
    if m.readonly {
        v.flag |= 1;
    }
    Ok(v)
}
