//! Helpers for the ext2/3/4 write tests: scratch copies of fixture images (or fresh small
//! ones from mke2fs), mounting them through `Ext4Fs`, and the oracles — `e2fsck -fn`,
//! `debugfs -R`, and ext4-view.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use vguestfs::disk::{Dev, RawFile};
use vguestfs::fs::ext4::Ext4Fs;
use vguestfs::fs::{Filesystem, Ino};

/// A writable copy of an image in a temporary directory (removed on drop).
pub struct Scratch {
    _dir: tempfile::TempDir,
    /// The copy.
    pub path: PathBuf,
}

/// A sparse copy of fixture `name`.
pub fn scratch(name: &str) -> Scratch {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    super::run("cp", &["--sparse=always", super::fixture(name).to_str().unwrap(), path.to_str().unwrap()]);
    Scratch { _dir: dir, path }
}

/// A fresh `size_mib` MiB image made by `mke2fs -q -F ARGS`.
pub fn mkfs(args: &[&str], size_mib: u64) -> Scratch {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fs.img");
    let f = std::fs::File::create(&path).expect("create image");
    f.set_len(size_mib << 20).expect("size image");
    let mut all = vec!["-q", "-F", "-E", "root_owner=0:0"];
    all.extend_from_slice(args);
    all.push(path.to_str().unwrap());
    let out = Command::new("mke2fs").env("PATH", path_env()).args(&all).output().expect("mke2fs");
    assert!(out.status.success(), "mke2fs {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Scratch { _dir: dir, path }
}

/// PATH with the sbin directories e2fsprogs lives in.
fn path_env() -> String {
    format!("{}:/usr/sbin:/sbin", std::env::var("PATH").unwrap_or_default())
}

/// Mounts `img` writable.
pub fn open_rw(img: &Path) -> Ext4Fs {
    let dev: Dev = Arc::new(RawFile::open(img, true).expect("open image rw"));
    Ext4Fs::open_rw(dev).unwrap_or_else(|e| panic!("{}: open_rw: {e}", img.display()))
}

/// Mounts `img` read-only.
pub fn open_ro(img: &Path) -> Ext4Fs {
    let dev: Dev = Arc::new(RawFile::open(img, false).expect("open image"));
    Ext4Fs::open(dev).unwrap_or_else(|e| panic!("{}: open: {e}", img.display()))
}

/// `e2fsck -fn` exit status and output.
pub fn e2fsck(img: &Path) -> (i32, String) {
    let out = Command::new("e2fsck").env("PATH", path_env()).arg("-fn").arg(img).output().expect("e2fsck");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// Asserts `e2fsck -fn` finds nothing to fix.
pub fn assert_fsck_clean(img: &Path) {
    let (code, text) = e2fsck(img);
    assert_eq!(code, 0, "e2fsck -fn {}:\n{text}", img.display());
}

/// `debugfs -R REQUEST` output (stdout).
pub fn debugfs(img: &Path, request: &str) -> Vec<u8> {
    let out = Command::new("debugfs")
        .env("PATH", path_env())
        .args(["-R", request])
        .arg(img)
        .output()
        .expect("debugfs");
    assert!(out.status.success(), "debugfs -R {request:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// `debugfs -R REQUEST` output as text.
pub fn debugfs_text(img: &Path, request: &str) -> String {
    String::from_utf8_lossy(&debugfs(img, request)).into_owned()
}

/// The value of `field` in `debugfs stat` output (`"Links"`, `"User"`…): the token after
/// `field:`.
pub fn stat_field(stat: &str, field: &str) -> String {
    let key = format!("{field}:");
    let at = stat.find(&key).unwrap_or_else(|| panic!("no {field} in\n{stat}"));
    stat[at + key.len()..].split_whitespace().next().unwrap_or("").to_string()
}

/// The inode at `path` (components separated by `/`), through `lookup`.
pub fn resolve(fs: &dyn Filesystem, path: &[u8]) -> Ino {
    let mut ino = fs.root();
    for c in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        ino = fs
            .lookup(ino, c)
            .expect("lookup")
            .unwrap_or_else(|| panic!("{} not found", String::from_utf8_lossy(path)));
    }
    ino
}

/// The whole content of regular file `ino`.
pub fn read_all(fs: &dyn Filesystem, ino: Ino) -> Vec<u8> {
    let size = fs.stat(ino).expect("stat").size as usize;
    let mut buf = vec![0u8; size];
    let mut done = 0;
    while done < size {
        let n = fs.read(ino, done as u64, &mut buf[done..]).expect("read");
        assert!(n > 0, "short read");
        done += n;
    }
    buf
}

/// ext4-view's reading of the image (it refuses inline_data images: `None` then).
pub fn view(img: &Path) -> Option<ext4_view::Ext4> {
    ext4_view::Ext4::load_from_path(img).ok()
}

/// Deterministic bytes: `n` bytes from a seeded xorshift.
pub fn pattern(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
