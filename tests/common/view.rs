//! One reader-independent view of a filesystem tree, for comparing our readers with the
//! kernel's: every path (relative, as bytes) with its inode number, mode, owner, links, size,
//! blocks, device, times, link target, content hash and attributes; the kernel's side walked
//! through a read-only loop mount.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One path's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub ino: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u64,
    pub size: u64,
    pub blocks: u64,
    pub rdev: u64,
    pub times: [(i64, u32); 3],
    pub target: Option<Vec<u8>>,
    pub sha: Option<String>,
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// A path for messages.
pub fn show(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

/// `getfattr -R -d -m - -e hex` of a tree: absolute path → xattrs.
pub fn getfattr(dir: &Path) -> BTreeMap<PathBuf, BTreeMap<Vec<u8>, Vec<u8>>> {
    let text = super::run("getfattr", &["-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", dir.to_str().unwrap()]);
    let mut out: BTreeMap<PathBuf, BTreeMap<Vec<u8>, Vec<u8>>> = BTreeMap::new();
    let mut cur = None;
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("# file: ") {
            cur = Some(PathBuf::from(f));
        } else if let (Some(c), false) = (&cur, line.is_empty()) {
            let (name, value) = line.split_once('=').unwrap_or((line, ""));
            let v = value.strip_prefix("0x").unwrap_or("");
            let bytes = (0..v.len() / 2).map(|i| u8::from_str_radix(&v[2 * i..2 * i + 2], 16).unwrap()).collect();
            out.entry(c.clone()).or_default().insert(name.as_bytes().to_vec(), bytes);
        }
    }
    out
}

/// The same view through the kernel's mount at `mnt`.
pub fn kernel(mnt: &Path) -> BTreeMap<Vec<u8>, Node> {
    let attrs = getfattr(mnt);
    let mut out = BTreeMap::new();
    let mut stack = vec![mnt.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let rel = path.strip_prefix(mnt).unwrap().as_os_str().as_bytes().to_vec();
            let m = std::fs::symlink_metadata(&path).unwrap();
            let ft = m.file_type();
            let mut n = Node {
                ino: m.ino(),
                mode: m.mode(),
                uid: m.uid(),
                gid: m.gid(),
                nlink: m.nlink(),
                size: m.size(),
                blocks: m.blocks(),
                rdev: m.rdev(),
                times: [(m.atime(), m.atime_nsec() as u32), (m.mtime(), m.mtime_nsec() as u32), (m.ctime(), m.ctime_nsec() as u32)],
                target: None,
                sha: None,
                xattrs: attrs.get(&path).cloned().unwrap_or_default(),
            };
            if ft.is_dir() {
                stack.push(path.clone());
            } else if ft.is_symlink() {
                n.target = Some(std::fs::read_link(&path).unwrap().as_os_str().as_bytes().to_vec());
            } else if ft.is_file() {
                n.sha = Some(format!("{:x}", Sha256::digest(std::fs::read(&path).unwrap())));
            }
            out.insert(rel, n);
        }
    }
    out
}

/// A read-only kernel loop mount, unmounted on drop.
pub struct Mount(pub tempfile::TempDir);

impl Mount {
    pub fn new(img: &Path, opts: &str) -> Mount {
        let d = tempfile::tempdir().unwrap();
        let o = if opts.is_empty() { "loop,ro".to_string() } else { format!("loop,ro,{opts}") };
        super::run("mount", &["-o", &o, img.to_str().unwrap(), d.path().to_str().unwrap()]);
        Mount(d)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.0.path()).status();
    }
}
