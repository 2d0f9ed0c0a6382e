//! FAT helpers shared by the write tests: writable copies of the fixture images, and the
//! real tools that judge them (`fsck.vfat -n`, `mtype`, `mdir`, `mattrib`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use vguestfs::disk::{Dev, RawFile};
use vguestfs::fs::fat::FatFs;
use vguestfs::fs::{Filesystem, Ino};

/// The three images of `fixtures/mk-fat.sh`.
pub const IMAGES: [&str; 3] = ["fat-tree-12.img", "fat-tree-16.img", "fat-tree-32.img"];

/// A writable copy of fixture `img` in a new temporary directory (kept alive by the guard).
pub fn copy(img: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(img);
    std::fs::copy(super::fixture(img), &path).unwrap();
    (dir, path)
}

/// Opens `path` for writing.
pub fn open_rw(path: &Path) -> FatFs {
    let dev: Dev = Arc::new(RawFile::open(path, true).unwrap());
    FatFs::open_rw(dev).unwrap()
}

/// Opens `path` read-only (a fresh view: nothing cached from a writer).
pub fn open_ro(path: &Path) -> FatFs {
    let dev: Dev = Arc::new(RawFile::open(path, false).unwrap());
    FatFs::open(dev).unwrap()
}

/// Runs an mtools command in the C.UTF-8 locale, UTC; returns stdout (panics on failure).
pub fn mtools(cmd: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(cmd)
        .args(args)
        .env("LC_ALL", "C.UTF-8")
        .env("TZ", "UTC")
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// `mtype -i IMG ::/path`: the file's bytes as mtools reads them.
pub fn mtype(img: &Path, path: &str) -> Vec<u8> {
    mtools("mtype", &["-i", img.to_str().unwrap(), &format!("::{path}")])
}

/// Asserts `fsck.vfat -n` finds nothing: exit 0 and only its banner and summary lines.
pub fn assert_fsck_clean(img: &Path) {
    let out = Command::new("fsck.vfat")
        .arg("-n")
        .arg(img)
        .env("PATH", "/usr/sbin:/sbin:/usr/bin:/bin")
        .output()
        .expect("fsck.vfat (dosfstools)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        out.status.success() && lines.len() == 2 && !text.contains("differences"),
        "fsck.vfat -n {}: {text}",
        img.display()
    );
}

/// One row of `mdir -a IMG ::/dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdirRow {
    /// The 8.3 name as `NAME.EXT`.
    pub short: String,
    /// The long name, or the 8.3 name when there is none.
    pub name: String,
    /// Size; `None` for directories.
    pub size: Option<u64>,
    /// `YYYY-MM-DD HH:MM`.
    pub minute: String,
}

/// `mdir -a` of directory `dir` (`/`-rooted), without `.` and `..`.
pub fn mdir(img: &Path, dir: &str) -> Vec<MdirRow> {
    let out = String::from_utf8(mtools("mdir", &["-a", "-i", img.to_str().unwrap(), &format!("::{dir}")])).unwrap();
    let mut rows = Vec::new();
    for l in out.lines() {
        // "NAME     EXT   size-or-<DIR> YYYY-MM-DD  HH:MM  long name"; the 8.3 column is 12
        // characters (mtools prints the OEM name as UTF-8).
        let Some((at, c)) = l.char_indices().nth(12) else { continue };
        if !c.is_whitespace() || l.starts_with(' ') {
            continue;
        }
        let (short, rest) = l.split_at(at);
        let short: Vec<char> = short.chars().collect();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() < 3 || !fields[1].contains('-') {
            continue;
        }
        let base: String = short[..8].iter().collect();
        let ext: String = short[9..].iter().collect();
        let (base, ext) = (base.trim_end(), ext.trim_end());
        let short = if ext.is_empty() { base.to_string() } else { format!("{base}.{ext}") };
        if short == "." || short == ".." {
            continue;
        }
        let long = rest.split_once(fields[2]).map_or("", |x| x.1).trim_start().to_string();
        let name = if long.is_empty() { short.clone() } else { long };
        let size = fields[0].parse().ok();
        let (h, m) = fields[2].split_once(':').unwrap();
        let minute = format!("{} {:02}:{m}", fields[1], h.parse::<u32>().unwrap());
        rows.push(MdirRow { short, name, size, minute });
    }
    rows
}

/// `mattrib` letters of a file (`"R"`, `"AR"`…, spaces removed).
pub fn mattrib(img: &Path, path: &str) -> String {
    let out = String::from_utf8(mtools("mattrib", &["-i", img.to_str().unwrap(), &format!("::{path}")])).unwrap();
    let (attrs, _) = out.split_once("::").unwrap();
    attrs.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Resolves a `/`-separated path from the root by `lookup`; `None` if a component is missing.
pub fn resolve(fs: &dyn Filesystem, path: &str) -> Option<Ino> {
    let mut ino = fs.root();
    for c in path.split('/').filter(|c| !c.is_empty()) {
        ino = fs.lookup(ino, c.as_bytes()).unwrap()?;
    }
    Some(ino)
}

/// The parent directory's inode and the last name of `path`.
pub fn parent<'a>(fs: &dyn Filesystem, path: &'a str) -> (Ino, &'a str) {
    let (dir, name) = path.rsplit_once('/').unwrap();
    (resolve(fs, dir).unwrap_or_else(|| panic!("{dir}: not found")), name)
}

/// Every byte of file `ino` through `read`.
pub fn read_all(fs: &dyn Filesystem, ino: Ino) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 40_000];
    loop {
        let n = fs.read(ino, out.len() as u64, &mut buf).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Seconds since the epoch now.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}
