//! Guest-path resolution across the mount table: `..` never climbs above the guest `/`, an
//! absolute symlink target is relative to the guest `/` (never the host's), mountpoints switch
//! filesystems, and more than [`MAX_SYMLINKS`] symlinks give `ELOOP` — as the Linux kernel
//! resolves paths inside the libguestfs appliance's chroot.

use super::Error as GuestError;
use crate::fs::{Errno, FileType, Filesystem, Ino};
use crate::guest::Result;
use std::sync::Arc;

/// Symlinks followed while resolving one path before `ELOOP` (Linux's limit).
pub const MAX_SYMLINKS: usize = 40;

/// One mounted filesystem.
pub struct Mount {
    /// The device it came from (`/dev/sda1`, `/dev/VG/LV`).
    pub device: String,
    /// Where it is mounted in the guest: a canonical absolute path.
    pub mountpoint: String,
    /// The filesystem.
    pub fs: Arc<dyn Filesystem>,
    /// Mounted read-only.
    pub readonly: bool,
}

/// Where a guest path leads: the mount, the inode, and the canonical path.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Index into the mount table.
    pub mount: usize,
    /// Inode in that mount's filesystem.
    pub ino: Ino,
    /// The path with `.`, `..` and symlinks resolved.
    pub canonical: String,
}

/// A resolution step: a component of the canonical path and where it leads.
#[derive(Clone)]
struct Step {
    name: Vec<u8>,
    mount: usize,
    ino: Ino,
}

/// The mount whose mountpoint is exactly `path`, latest mount first (it shadows earlier ones).
pub(super) fn mount_at(mounts: &[Mount], path: &str) -> Option<usize> {
    mounts.iter().rposition(|m| m.mountpoint == path)
}

fn canonical(steps: &[Step]) -> String {
    if steps.is_empty() {
        return "/".into();
    }
    let mut s = String::new();
    for st in steps {
        s.push('/');
        s.push_str(&String::from_utf8_lossy(&st.name));
    }
    s
}

/// Splits a path into its non-empty components.
fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    path.split(|&c| c == b'/').filter(|c| !c.is_empty())
}

/// Resolves `path` (absolute) against `mounts`. With `follow_last`, a symlink as the last
/// component is followed (stat); without, it is returned itself (lstat).
pub fn resolve(mounts: &[Mount], path: &str, follow_last: bool) -> Result<Resolved> {
    let err = |errno| GuestError::Path { path: path.to_string(), errno };
    if !path.starts_with('/') {
        return Err(err(Errno::Invalid));
    }
    let root_mount = mount_at(mounts, "/").ok_or(err(Errno::NoEntry))?;
    let root = Step { name: Vec::new(), mount: root_mount, ino: mounts[root_mount].fs.root() };
    let mut steps: Vec<Step> = Vec::new();
    let mut todo: Vec<Vec<u8>> = components(path.as_bytes()).rev().map(<[u8]>::to_vec).collect();
    let mut links = 0usize;
    while let Some(name) = todo.pop() {
        let here = steps.last().unwrap_or(&root).clone();
        match name.as_slice() {
            b"." => continue,
            b".." => {
                steps.pop();
                continue;
            }
            _ => {}
        }
        let fs = &mounts[here.mount].fs;
        let dir_stat = fs.stat(here.ino)?;
        if dir_stat.file_type() != Some(FileType::Directory) {
            return Err(err(Errno::NotDir));
        }
        let mut child_path = canonical(&steps);
        if !child_path.ends_with('/') {
            child_path.push('/');
        }
        child_path.push_str(&String::from_utf8_lossy(&name));
        let (mount, ino) = match mount_at(mounts, &child_path) {
            Some(m) => (m, mounts[m].fs.root()),
            None => match fs.lookup(here.ino, &name) {
                Ok(Some(ino)) => (here.mount, ino),
                Ok(None) => return Err(err(Errno::NoEntry)),
                Err(crate::fs::Error::Os(e)) => return Err(err(e)),
                Err(e) => return Err(e.into()),
            },
        };
        let last = todo.is_empty();
        let st = mounts[mount].fs.stat(ino)?;
        if st.file_type() == Some(FileType::Symlink) && (!last || follow_last) {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(err(Errno::Loop));
            }
            let target = mounts[mount].fs.readlink(ino)?;
            if target.first() == Some(&b'/') {
                steps.clear();
            }
            todo.extend(components(&target).rev().map(<[u8]>::to_vec));
            continue;
        }
        steps.push(Step { name, mount, ino });
    }
    let end = steps.last().unwrap_or(&root);
    Ok(Resolved { mount: end.mount, ino: end.ino, canonical: canonical(&steps) })
}
