//! Paths to inodes. A few of `rust-fs-ext4`'s changes are addressed only by a UTF-8 path
//! (`apply_setxattr`, `apply_removexattr`, `apply_replace_file_content`), while the
//! [`Filesystem`](crate::fs::Filesystem) trait names inodes. A directory's path is found by
//! climbing its `..` entries; another inode's from where it was last seen (a `lookup`, a
//! create, a link or a rename through this mount, checked before use), else by searching the
//! tree for an entry naming it.

use super::{dir, Ctx};
use crate::fs::Result;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

/// Where inodes were last seen; forgotten wholesale when it reaches this many, so memory
/// stays bounded on large trees (a forgotten inode is found by search).
const MAX_HINTS: usize = 65536;
/// The deepest directory climbed before the tree is called corrupt (a `..` loop).
const MAX_DEPTH: usize = 4096;
/// The root directory.
const ROOT: u32 = 2;

/// Inode → (directory, name) where it was last seen.
#[derive(Default)]
pub(super) struct Names {
    hints: Mutex<HashMap<u32, (u32, Vec<u8>)>>,
}

impl Names {
    /// Records that `dir` holds `ino` as `name`.
    pub fn note(&self, ino: u32, dir: u32, name: &[u8]) {
        let mut hints = self.hints.lock().unwrap_or_else(|p| p.into_inner());
        if hints.len() >= MAX_HINTS && !hints.contains_key(&ino) {
            hints.clear();
        }
        hints.insert(ino, (dir, name.to_vec()));
    }

    fn hint(&self, ino: u32) -> Option<(u32, Vec<u8>)> {
        self.hints.lock().unwrap_or_else(|p| p.into_inner()).get(&ino).cloned()
    }

    /// An absolute UTF-8 path naming inode `ino`, for the crate's path-addressed calls;
    /// `what` names the operation in the error when every path to it is not UTF-8.
    pub fn path_of(&self, c: &Ctx<'_>, ino: u32, what: &str) -> Result<String> {
        let not_utf8 = || {
            c.err.unsupported(format!(
                "{what} on inode {ino}, whose path is not UTF-8 (rust-fs-ext4 takes a UTF-8 path here)"
            ))
        };
        let inode = c.ok(c.fs.stat_ino(ino))?;
        if inode.is_dir() {
            let path = self.dir_path(c, ino)?;
            return String::from_utf8(path).map_err(|_| not_utf8());
        }
        if let Some((dir, name)) = self.hint(ino) {
            if c.fs.lookup_at(dir, &name).ok() == Some(ino) {
                let mut path = self.dir_path(c, dir)?;
                join(&mut path, &name);
                if let Ok(path) = String::from_utf8(path) {
                    return Ok(path);
                }
            }
        }
        let found = search(c, ino)?;
        if found.is_empty() {
            return Err(c.err.corrupt(format!("inode {ino} is in use but no directory names it")));
        }
        found.into_iter().find_map(|p| String::from_utf8(p).ok()).ok_or_else(not_utf8)
    }

    /// The path of directory `ino`, climbing `..` to the root.
    fn dir_path(&self, c: &Ctx<'_>, ino: u32) -> Result<Vec<u8>> {
        let mut names = Vec::new();
        let mut cur = ino;
        while cur != ROOT {
            if names.len() >= MAX_DEPTH {
                return Err(c.err.corrupt(format!("directory {ino}: `..` chain deeper than {MAX_DEPTH}")));
            }
            let parent = c.ok(c.fs.lookup_at(cur, b".."))?;
            let entries = c.ok(dir::list(c.fs, parent))?;
            let name = entries
                .into_iter()
                .find(|e| e.inode == cur && e.name != b"." && e.name != b"..")
                .map(|e| e.name)
                .ok_or_else(|| {
                    c.err.corrupt(format!("directory {cur}: its parent {parent} does not name it"))
                })?;
            names.push(name);
            cur = parent;
        }
        let mut path = Vec::new();
        for name in names.iter().rev() {
            join(&mut path, name);
        }
        if path.is_empty() {
            path.push(b'/');
        }
        Ok(path)
    }
}

/// Appends `/name` to `path`.
fn join(path: &mut Vec<u8>, name: &[u8]) {
    if path.last() != Some(&b'/') {
        path.push(b'/');
    }
    path.extend_from_slice(name);
}

/// Every path naming the non-directory `ino`, breadth first over the tree.
fn search(c: &Ctx<'_>, ino: u32) -> Result<Vec<Vec<u8>>> {
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    let mut queue = VecDeque::from([(ROOT, b"/".to_vec())]);
    while let Some((dir_ino, path)) = queue.pop_front() {
        if !seen.insert(dir_ino) {
            continue;
        }
        for e in c.ok(dir::list(c.fs, dir_ino))? {
            if e.name == b"." || e.name == b".." {
                continue;
            }
            let mut p = path.clone();
            join(&mut p, &e.name);
            if e.inode == ino {
                found.push(p);
            } else if is_dir(c, &e)? {
                queue.push_back((e.inode, p));
            }
        }
    }
    Ok(found)
}

/// Whether entry `e` names a directory (from the inode when the entry records no type).
fn is_dir(c: &Ctx<'_>, e: &fs_ext4::dir::DirEntry) -> Result<bool> {
    use fs_ext4::dir::DirEntryType;
    Ok(match e.file_type {
        DirEntryType::Directory => true,
        DirEntryType::Unknown => c.ok(c.fs.stat_ino(e.inode))?.is_dir(),
        _ => false,
    })
}
