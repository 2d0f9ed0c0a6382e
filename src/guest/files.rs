//! File-level reads beyond the mount table: streaming readers ([`GuestFile`]), tree walks
//! (`find`, `du`, and the entries `copy-out`/`tar-out` copy), extended attributes and guest
//! globs. Everything streams: no whole-file loads, so a multi-gigabyte file costs one buffer.

use super::path::{resolve, Mount};
use super::{Error as GuestError, Guest};
use crate::fs::{DirEntry, Errno, FileType, Filesystem, Ino, Stat};
use crate::guest::Result;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::Arc;

/// A regular guest file opened for reading; implements [`Read`] from its start.
pub struct GuestFile {
    fs: Arc<dyn Filesystem>,
    ino: Ino,
    size: u64,
    pos: u64,
}

impl GuestFile {
    /// A reader of inode `ino` of `fs`, `size` bytes long.
    pub(super) fn new(fs: Arc<dyn Filesystem>, ino: Ino, size: u64) -> GuestFile {
        GuestFile { fs, ino, size, pos: 0 }
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads up to `buf.len()` bytes at `offset` (0 at or past the end).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        Ok(self.fs.read(self.ino, offset, buf)?)
    }
}

impl Read for GuestFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.fs.read(self.ino, self.pos, buf).map_err(std::io::Error::other)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// One node met by [`Guest::walk_each`]: where it is below the walked directory, its `lstat`, and
/// a handle to read it.
pub struct TreeEntry {
    /// Path components below the walked directory (empty for the directory itself). Each is a
    /// directory entry name: never empty, never `.`/`..`, never containing `/`.
    pub components: Vec<Vec<u8>>,
    /// `lstat` of the node (a symlink is not followed).
    pub stat: Stat,
    fs: Arc<dyn Filesystem>,
    ino: Ino,
}

impl TreeEntry {
    /// The path relative to the walked directory, `/`-separated (lossy for non-UTF-8 names).
    pub fn relative(&self) -> String {
        let parts: Vec<String> = self.components.iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect();
        parts.join("/")
    }

    /// A reader of a regular file's content.
    pub fn open(&self) -> GuestFile {
        GuestFile { fs: self.fs.clone(), ino: self.ino, size: self.stat.size, pos: 0 }
    }

    /// A symlink's target.
    pub fn readlink(&self) -> Result<Vec<u8>> {
        Ok(self.fs.readlink(self.ino)?)
    }

    /// The node's extended attributes (of a symlink itself, not its target).
    pub fn xattrs(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(self.fs.xattrs(self.ino)?)
    }
}

/// A copy of the guest's mount table that lives apart from the [`Guest`] (the filesystems
/// are shared): lets an interactive shell's completer list guest directories between
/// commands without borrowing the session.
pub struct MountView {
    mounts: Vec<Mount>,
}

impl MountView {
    /// The entries of the guest directory `path` (following symlinks), in on-disk order.
    pub fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        if self.mounts.is_empty() {
            return Err(GuestError::NothingMounted);
        }
        let r = resolve(&self.mounts, path, true)?;
        let fs = &self.mounts[r.mount].fs;
        if fs.stat(r.ino)?.file_type() != Some(FileType::Directory) {
            return Err(path_err(path, Errno::NotDir));
        }
        Ok(fs.read_dir(r.ino)?)
    }
}

/// Whether a directory entry name can be used as a path component (filesystems are read from
/// untrusted images: a damaged one could hold `..` or a `/`).
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}

fn path_err(path: &str, errno: Errno) -> GuestError {
    GuestError::Path { path: path.to_string(), errno }
}

/// `path` joined with `name` (a canonical directory path and one component).
fn join(dir: &str, name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

impl Guest {
    /// A [`MountView`] of the current mount table.
    pub fn mount_view(&self) -> MountView {
        let mounts = self
            .mounts
            .iter()
            .map(|m| Mount { device: m.device.clone(), mountpoint: m.mountpoint.clone(), fs: m.fs.clone(), readonly: m.readonly })
            .collect();
        MountView { mounts }
    }

    /// Opens the regular file at `path` (following symlinks) for streaming reads.
    pub fn open_file(&self, path: &str) -> Result<GuestFile> {
        let r = self.resolve(path, true)?;
        let fs = self.mounts[r.mount].fs.clone();
        let st = fs.stat(r.ino)?;
        match st.file_type() {
            Some(FileType::Regular) => Ok(GuestFile { fs, ino: r.ino, size: st.size, pos: 0 }),
            Some(FileType::Directory) => Err(path_err(path, Errno::IsDir)),
            _ => Err(path_err(path, Errno::Invalid)),
        }
    }

    /// `pread`: up to `count` bytes at `offset` of the file at `path`.
    pub fn read_range(&self, path: &str, offset: u64, count: usize) -> Result<Vec<u8>> {
        let f = self.open_file(path)?;
        let want = count.min(usize::try_from(f.size().saturating_sub(offset)).unwrap_or(usize::MAX));
        let mut buf = vec![0u8; want];
        let mut done = 0;
        while done < want {
            let n = f.read_at(offset + done as u64, &mut buf[done..])?;
            if n == 0 {
                break;
            }
            done += n;
        }
        buf.truncate(done);
        Ok(buf)
    }

    /// The mount holding the filesystem root mounted exactly at canonical path `path`, if any
    /// (the latest mount shadows earlier ones).
    fn mount_at(&self, path: &str) -> Option<&Mount> {
        self.mounts.iter().rev().find(|m| m.mountpoint == path)
    }

    /// The entries of directory `entry` (at canonical path `canonical`), sorted by name, with
    /// their canonical paths; a mountpoint shows the root of what is mounted there.
    fn children(&self, canonical: &str, entry: &TreeEntry) -> Result<Vec<(String, TreeEntry)>> {
        let mut children = entry.fs.read_dir(entry.ino)?;
        // A damaged directory can hold names no path can carry, or one name twice (a
        // symlink and a directory both called x1: an archive would then hold members below
        // a symlink member). Such entries are skipped, each with a warning.
        for c in children.iter().filter(|c| !valid_name(&c.name)) {
            self.note_warning(format!("{canonical}: skipping the entry {:?}: not a valid file name (the directory is damaged)", String::from_utf8_lossy(&c.name)));
        }
        children.retain(|c| valid_name(&c.name));
        // stable: among equal names the first in directory order stays
        children.sort_by(|a, b| a.name.cmp(&b.name));
        children.dedup_by(|later, first| {
            let dup = later.name == first.name;
            if dup {
                self.note_warning(format!(
                    "{}: the directory holds this name twice (it is damaged): only its first entry (inode {}) is used, the one of inode {} is skipped",
                    join(canonical, &later.name),
                    first.ino,
                    later.ino
                ));
            }
            dup
        });
        let mut out = Vec::with_capacity(children.len());
        for c in children {
            let path = join(canonical, &c.name);
            let (fs, ino) = match self.mount_at(&path) {
                Some(m) => (m.fs.clone(), m.fs.root()),
                None => (entry.fs.clone(), c.ino),
            };
            let stat = fs.stat(ino)?;
            let mut components = entry.components.clone();
            components.push(c.name);
            out.push((path, TreeEntry { components, stat, fs, ino }));
        }
        Ok(out)
    }

    /// The directory `dir` (following symlinks) as a [`TreeEntry`] and its canonical path.
    fn tree_root(&self, dir: &str) -> Result<(String, TreeEntry)> {
        let r = self.resolve(dir, true)?;
        let fs = self.mounts[r.mount].fs.clone();
        let stat = fs.stat(r.ino)?;
        Ok((r.canonical, TreeEntry { components: Vec::new(), stat, fs, ino: r.ino }))
    }

    /// The entries of directory `dir` (following symlinks to it) with their `lstat`, sorted by
    /// name: `ls -la` without `.` and `..`. Names need not be UTF-8.
    pub fn list_dir(&self, dir: &str) -> Result<Vec<TreeEntry>> {
        let (canonical, root) = self.tree_root(dir)?;
        if root.stat.file_type() != Some(FileType::Directory) {
            return Err(path_err(dir, Errno::NotDir));
        }
        Ok(self.children(&canonical, &root)?.into_iter().map(|(_, e)| e).collect())
    }

    /// Walks the tree at `dir` (following a symlink only for `dir` itself) depth-first, the
    /// directory before its contents, entries of a directory sorted by name (a name a damaged
    /// directory holds twice is walked once, its later entries skipped with a warning; see
    /// [`Guest::take_warnings`]), handing each entry to `visit` as it is met. Mountpoints below
    /// `dir` are crossed, as `find` and `tar` do in the appliance. Memory is bounded by the
    /// directories open along the path being walked, not by the size of the tree (a million
    /// files cost what their largest directories cost). A directory met twice (a damaged
    /// filesystem: a hard-linked directory, a FAT directory that contains itself) ends the
    /// walk with an error naming both paths — never a silent omission of its content at one of
    /// them; so does an error from `visit`.
    pub fn walk_each<E: From<GuestError>>(&self, dir: &str, mut visit: impl FnMut(TreeEntry) -> std::result::Result<(), E>) -> std::result::Result<(), E> {
        let mut seen: HashMap<(usize, Ino), String> = HashMap::new();
        let mut stack = vec![self.tree_root(dir)?];
        while let Some((canonical, entry)) = stack.pop() {
            if entry.stat.file_type() == Some(FileType::Directory) {
                let key = (Arc::as_ptr(&entry.fs) as *const () as usize, entry.ino);
                if let Some(first) = seen.get(&key) {
                    return Err(GuestError::DirectoryLoop { path: canonical, first: first.clone() }.into());
                }
                seen.insert(key, canonical.clone());
                stack.extend(self.children(&canonical, &entry)?.into_iter().rev());
            }
            visit(entry)?;
        }
        Ok(())
    }

    /// `find`: every path below `dir`, relative to it, sorted (the directory itself is not
    /// listed). `dir` must be a directory.
    pub fn find(&self, dir: &str) -> Result<Vec<String>> {
        if self.stat(dir)?.file_type() != Some(FileType::Directory) {
            return Err(path_err(dir, Errno::NotDir));
        }
        // Sorted by the raw names, as the appliance sorts them; shown lossily.
        let mut names: Vec<(Vec<u8>, String)> = Vec::new();
        self.walk_each(dir, |e| {
            if !e.components.is_empty() {
                names.push((e.components.join(&b'/'), e.relative()));
            }
            Ok::<(), GuestError>(())
        })?;
        names.sort();
        Ok(names.into_iter().map(|(_, s)| s).collect())
    }

    /// `du`: the space used by `path` and everything below it, in KiB (`du -s`: allocated
    /// blocks, a hard-linked inode counted once).
    pub fn du(&self, path: &str) -> Result<u64> {
        let mut seen: HashSet<(usize, Ino)> = HashSet::new();
        let mut blocks = 0u64;
        self.walk_each(path, |e| {
            if e.stat.nlink <= 1 || e.stat.file_type() == Some(FileType::Directory) || seen.insert((Arc::as_ptr(&e.fs) as *const () as usize, e.ino)) {
                blocks = blocks.saturating_add(e.stat.blocks);
            }
            Ok::<(), GuestError>(())
        })?;
        Ok(blocks.div_ceil(2))
    }

    /// Extended attributes of `path` (`getxattrs` follows a final symlink, `lgetxattrs` not).
    pub fn xattrs(&self, path: &str, follow: bool) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let r = self.resolve(path, follow)?;
        Ok(self.mounts[r.mount].fs.xattrs(r.ino)?)
    }

    /// `glob-expand`: the guest paths matching an absolute shell pattern (`*`, `?`, `[…]` per
    /// component; a leading `.` only matched by an explicit `.`), sorted. Components without
    /// wildcards are taken as they are.
    pub fn glob(&self, pattern: &str) -> Result<Vec<String>> {
        if !pattern.starts_with('/') {
            return Err(path_err(pattern, Errno::Invalid));
        }
        let mut found = vec!["/".to_string()];
        for comp in pattern.split('/').filter(|c| !c.is_empty()) {
            let mut next = Vec::new();
            for dir in &found {
                if !has_wildcard(comp) {
                    let p = join(dir, comp.as_bytes());
                    if self.file_type(&p, false)?.is_some() {
                        next.push(p);
                    }
                    continue;
                }
                if self.file_type(dir, true)? != Some(FileType::Directory) {
                    continue;
                }
                for e in self.read_dir(dir)? {
                    if valid_name(&e.name) && fnmatch(comp.as_bytes(), &e.name) {
                        next.push(join(dir, &e.name));
                    }
                }
            }
            found = next;
        }
        found.sort();
        found.dedup();
        Ok(found)
    }
}

/// Whether a pattern component has a glob wildcard.
fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Shell pattern match of one name (`fnmatch` with `FNM_PERIOD`): `*`, `?`, `[abc]`, `[a-z]`,
/// `[!x]`/`[^x]`, `\x` escapes.
pub fn fnmatch(pat: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pat.first() != Some(&b'.') {
        return false;
    }
    match_from(pat, name)
}

fn match_from(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    // Backtracking point of the last `*`: (pattern index after it, name index).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star = Some((p + 1, n));
                    p += 1;
                    continue;
                }
                b'?' if n < name.len() => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' if n < name.len() => {
                    if let Some((ok, len)) = bracket(&pat[p..], name[n]) {
                        if ok {
                            p += len;
                            n += 1;
                            continue;
                        }
                    } else if name[n] == b'[' {
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pat.len() && n < name.len() && pat[p + 1] == name[n] => {
                    p += 2;
                    n += 1;
                    continue;
                }
                c if c != b'*' && c != b'?' && c != b'[' && c != b'\\' && n < name.len() && c == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        } else if n == name.len() {
            return true;
        }
        match star {
            Some((sp, sn)) if sn < name.len() => {
                star = Some((sp, sn + 1));
                p = sp;
                n = sn + 1;
            }
            _ => return false,
        }
    }
}

/// A `[…]` class at the start of `pat`: whether `c` matches, and the class's length; `None`
/// when the bracket is not closed (then it is a literal `[`).
fn bracket(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pat.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < pat.len() {
        let lo = pat[i];
        if lo == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = pat[i + 2];
            matched |= lo <= c && c <= hi;
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    #[test]
    fn patterns() {
        assert!(fnmatch(b"*", b"passwd"));
        assert!(!fnmatch(b"*", b".hidden"));
        assert!(fnmatch(b".*", b".hidden"));
        assert!(fnmatch(b"pass*", b"passwd"));
        assert!(fnmatch(b"*wd", b"passwd"));
        assert!(fnmatch(b"p?ss*d", b"passwd"));
        assert!(!fnmatch(b"p?ss", b"passwd"));
        assert!(fnmatch(b"[a-p]asswd", b"passwd"));
        assert!(!fnmatch(b"[!p]asswd", b"passwd"));
        assert!(fnmatch(b"[^q]asswd", b"passwd"));
        assert!(fnmatch(b"[]]", b"]"));
        assert!(fnmatch(b"a[b", b"a[b"));
        assert!(fnmatch(b"\\*", b"*"));
        assert!(!fnmatch(b"\\*", b"x"));
        assert!(fnmatch(b"*.conf", b"host.conf"));
        assert!(!fnmatch(b"*.conf", b"host.conf.bak"));
        assert!(fnmatch(b"*a*b*", b"xaxxbx"));
    }
}
