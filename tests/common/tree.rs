//! Whole-filesystem snapshots of ext2/3/4 filesystems for before/after comparisons, taken with
//! real tools only: `qemu-img convert` (qcow2 → raw), `dd` (the filesystem's byte range) and
//! e2fsprogs' `debugfs` — `ls -p` level by level for type/mode/owner/size, one `rdump` for the
//! contents (hashed here) and symlink targets, `ea_list`/`ea_get` batches for the xattrs. Nothing of
//! ours reads the filesystem.
//!
//! Also the layout of the sysprep fixtures built by `fixtures/mk-sysprep.sh` (which filesystem
//! lives at which byte range of which image), so that a test can snapshot every filesystem of
//! a guest before and after a tool ran on a copy of it.
//!
//! Limits: names containing a newline or a double quote are not supported (debugfs' output
//! and command syntax); device nodes are listed without their device numbers.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempPath;

/// File type of a [`Node`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Char,
    Block,
    Fifo,
    Socket,
}

impl Kind {
    fn from_mode(mode: u32) -> Kind {
        match mode & 0o170000 {
            0o100000 => Kind::File,
            0o040000 => Kind::Dir,
            0o120000 => Kind::Symlink,
            0o020000 => Kind::Char,
            0o060000 => Kind::Block,
            0o010000 => Kind::Fifo,
            0o140000 => Kind::Socket,
            m => panic!("debugfs listed an unknown file type {m:o}"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
            Kind::Char => "char",
            Kind::Block => "block",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
        }
    }
}

/// One inode as reached by one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    /// Permission bits with setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Bytes for files, target length for symlinks, 0 for directories (a directory's size
    /// depends on its history, not on what it holds).
    pub size: u64,
    pub ino: u64,
    /// sha256 (hex) of a regular file's content.
    pub sha256: Option<String>,
    /// A symlink's target, byte for byte (lossily decoded).
    pub target: Option<String>,
    /// Extended attributes: name → value as `debugfs ea_get` prints it (`"text\000"` or hex
    /// bytes).
    pub xattrs: BTreeMap<String, String>,
}

/// Guest path (`/`, `/etc`, `/etc/hostname`…) → node.
pub type Tree = BTreeMap<String, Node>;

fn run_ok(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn temp_path() -> TempPath {
    tempfile::NamedTempFile::new().unwrap().into_temp_path()
}

/// Whether `image` starts with the qcow2 magic.
pub fn is_qcow2(image: &Path) -> bool {
    let mut magic = [0u8; 4];
    use std::io::Read;
    std::fs::File::open(image).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic == b"QFI\xfb"
}

/// A raw copy of `image` (qcow2 converted by `qemu-img convert -O raw`, raw copied sparsely by
/// `cp`), removed on drop.
pub fn raw_copy(image: &Path) -> TempPath {
    let out = temp_path();
    if is_qcow2(image) {
        run_ok(Command::new("qemu-img").args(["convert", "-q", "-f", "qcow2", "-O", "raw"]).arg(image).arg(&out));
    } else {
        run_ok(Command::new("cp").arg("--sparse=always").arg(image).arg(&out));
    }
    out
}

/// The bytes `offset..offset+size` of a raw image in a temporary file (`dd`), removed on drop.
pub fn extract(raw: &Path, offset: u64, size: u64) -> TempPath {
    let out = temp_path();
    run_ok(Command::new("dd").arg(format!("if={}", raw.display())).arg(format!("of={}", out.display())).args([
        "bs=1M",
        "iflag=skip_bytes,count_bytes",
        &format!("skip={offset}"),
        &format!("count={size}"),
        "conv=sparse",
        "status=none",
    ]));
    assert_eq!(std::fs::metadata(&out).unwrap().len(), size, "{}: short read at {offset}+{size}", raw.display());
    out
}

/// Quotes a path for debugfs' command parser.
fn q(path: &str) -> String {
    assert!(!path.contains('"') && !path.contains('\n'), "path {path:?} cannot be passed to debugfs");
    format!("\"{path}\"")
}

/// Runs `commands` through one `debugfs -f` on `fs` and returns each command's output, in
/// order (debugfs echoes every command as `debugfs: CMD`).
fn debugfs_batch(fs: &Path, commands: &[String]) -> Vec<String> {
    if commands.is_empty() {
        return Vec::new();
    }
    let mut f = tempfile::NamedTempFile::new().unwrap();
    for c in commands {
        writeln!(f, "{c}").unwrap();
    }
    f.flush().unwrap();
    let out = run_ok(Command::new("debugfs").arg("-f").arg(f.path()).arg(fs));
    let text = String::from_utf8_lossy(&out);
    let mut sections: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("debugfs: ") {
            sections.push(String::new());
        } else if let Some(s) = sections.last_mut() {
            s.push_str(line);
        }
    }
    assert_eq!(sections.len(), commands.len(), "debugfs answered {} of {} commands", sections.len(), commands.len());
    sections
}

/// One `ls -p` line: `/ino/mode/uid/gid/name/size/` → (ino, mode, uid, gid, name, size).
fn parse_ls_p(line: &str) -> Option<(u64, u32, u32, u32, String, u64)> {
    let body = line.strip_prefix('/')?.strip_suffix('/')?;
    let (rest, size) = body.rsplit_once('/')?;
    let mut it = rest.splitn(5, '/');
    let ino = it.next()?.parse().ok()?;
    let mode = u32::from_str_radix(it.next()?, 8).ok()?;
    let uid = it.next()?.parse().ok()?;
    let gid = it.next()?.parse().ok()?;
    let name = it.next()?.to_string();
    Some((ino, mode, uid, gid, name, size.parse().unwrap_or(0)))
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" { format!("/{name}") } else { format!("{dir}/{name}") }
}

/// Snapshot of the ext2/3/4 filesystem image `fs` (a file holding just the filesystem).
pub fn fs_tree(fs: &Path) -> Tree {
    // Listing: one debugfs per directory level.
    let mut tree = Tree::new();
    let mut level = vec!["/".to_string()];
    while !level.is_empty() {
        let outputs = debugfs_batch(fs, &level.iter().map(|d| format!("ls -p {}", q(d))).collect::<Vec<_>>());
        let mut next = Vec::new();
        for (dir, out) in level.iter().zip(outputs) {
            for line in out.lines() {
                let Some((ino, mode, uid, gid, name, size)) = parse_ls_p(line.trim_end()) else { continue };
                if ino == 0 {
                    continue; // unused directory entry (lost+found's empty blocks)
                }
                let kind = Kind::from_mode(mode);
                let path = match name.as_str() {
                    "." if dir == "/" => "/".to_string(),
                    "." | ".." => continue,
                    _ => join(dir, &name),
                };
                if kind == Kind::Dir && path != "/" {
                    next.push(path.clone());
                }
                let size = if kind == Kind::Dir { 0 } else { size };
                tree.insert(path, Node { kind, mode: mode & 0o7777, uid, gid, size, ino, sha256: None, target: None, xattrs: BTreeMap::new() });
            }
        }
        level = next;
    }
    // Contents and symlink targets: one rdump of the whole filesystem.
    let dump = tempfile::tempdir().unwrap();
    run_ok(Command::new("debugfs").arg("-R").arg(format!("rdump / {}", dump.path().display())).arg(fs));
    for (path, node) in tree.iter_mut() {
        let host = dump.path().join(path.trim_start_matches('/'));
        match node.kind {
            Kind::File => {
                let data = std::fs::read(&host).unwrap_or_else(|e| panic!("rdump of {path}: {e}"));
                assert_eq!(data.len() as u64, node.size, "{path}: rdump size differs from ls");
                node.sha256 = Some(format!("{:x}", Sha256::digest(&data)));
            }
            Kind::Symlink => {
                let t = std::fs::read_link(&host).unwrap_or_else(|e| panic!("rdump of {path}: {e}"));
                node.target = Some(t.to_string_lossy().into_owned());
            }
            _ => {}
        }
    }
    // Extended attributes: one ea_list batch for the names (it leaves out long values), one
    // ea_get batch for the values.
    let paths: Vec<String> = tree.keys().cloned().collect();
    let outs = debugfs_batch(fs, &paths.iter().map(|p| format!("ea_list {}", q(p))).collect::<Vec<_>>());
    let mut wanted: Vec<(String, String)> = Vec::new();
    for (p, out) in paths.iter().zip(&outs) {
        for l in out.lines() {
            if let Some((name, _)) = l.strip_prefix("  ").and_then(|l| l.split_once(" (")) {
                wanted.push((p.clone(), name.to_string()));
            }
        }
    }
    let values = debugfs_batch(fs, &wanted.iter().map(|(p, n)| format!("ea_get {} {n}", q(p))).collect::<Vec<_>>());
    for ((p, name), out) in wanted.into_iter().zip(values) {
        let first = out.lines().next().unwrap_or("");
        let value = first.split_once(") = ").map(|(_, v)| v.trim_end().to_string()).unwrap_or_else(|| panic!("ea_get {p} {name}: {out:?}"));
        tree.get_mut(&p).unwrap().xattrs.insert(name, value);
    }
    tree
}

/// Snapshot of a filesystem the kernel reads (XFS here: debugfs reads only ext2/3/4): the file
/// `fs` holding just the filesystem, loop-mounted read-only and walked by [`dir_tree`]. Needs
/// root, as the XFS fixtures' build does.
pub fn kernel_fs_tree(fs: &Path) -> Tree {
    let _l = super::loop_lock();
    let mnt = tempfile::tempdir().unwrap();
    run_ok(Command::new("mount").args(["-o", "loop,ro"]).arg(fs).arg(mnt.path()));
    let walked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dir_tree(mnt.path())));
    run_ok(Command::new("umount").arg(mnt.path()));
    walked.unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Snapshot of the tree under host directory `root` (a mount), walked with lstat, read and
/// `getfattr` (values in hex); paths are relative to `root`, written from `/`.
pub fn dir_tree(root: &Path) -> Tree {
    use std::os::unix::fs::MetadataExt;
    let mut tree = Tree::new();
    let mut stack = vec!["/".to_string()];
    while let Some(path) = stack.pop() {
        let host = root.join(path.trim_start_matches('/'));
        let m = std::fs::symlink_metadata(&host).unwrap_or_else(|e| panic!("lstat {path}: {e}"));
        let kind = Kind::from_mode(m.mode());
        let mut node = Node { kind, mode: m.mode() & 0o7777, uid: m.uid(), gid: m.gid(), size: if kind == Kind::Dir { 0 } else { m.size() }, ino: m.ino(), sha256: None, target: None, xattrs: BTreeMap::new() };
        match kind {
            Kind::File => node.sha256 = Some(format!("{:x}", Sha256::digest(std::fs::read(&host).unwrap_or_else(|e| panic!("read {path}: {e}"))))),
            Kind::Symlink => node.target = Some(std::fs::read_link(&host).unwrap().to_string_lossy().into_owned()),
            Kind::Dir => {
                for e in std::fs::read_dir(&host).unwrap() {
                    stack.push(join(&path, &e.unwrap().file_name().to_string_lossy()));
                }
            }
            _ => {}
        }
        let out = run_ok(Command::new("getfattr").args(["-h", "-d", "-m", "-", "-e", "hex", "--absolute-names"]).arg(&host));
        for l in String::from_utf8_lossy(&out).lines() {
            if let Some((k, v)) = l.split_once('=') {
                node.xattrs.insert(k.to_string(), v.to_string());
            }
        }
        tree.insert(path, node);
    }
    tree
}

/// Snapshot of the ext2/3/4 filesystem at `offset..offset+size` of `image` (raw or qcow2).
pub fn ext4_tree(image: &Path, offset: u64, size: u64) -> Tree {
    if is_qcow2(image) {
        let raw = raw_copy(image);
        fs_tree(&extract(&raw, offset, size))
    } else {
        fs_tree(&extract(image, offset, size))
    }
}

/// What changed from `before` to `after`, one line per path in path order:
/// `+ PATH (kind)`, `- PATH (kind)`, `~ PATH: what -> what, ...`.
pub fn diff(before: &Tree, after: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    let paths: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for p in paths {
        match (before.get(p), after.get(p)) {
            (None, Some(n)) => out.push(format!("+ {p} ({})", n.kind.name())),
            (Some(o), None) => out.push(format!("- {p} ({})", o.kind.name())),
            (Some(o), Some(n)) if o != n => {
                let mut what = Vec::new();
                if o.kind != n.kind {
                    what.push(format!("type {} -> {}", o.kind.name(), n.kind.name()));
                }
                if o.mode != n.mode {
                    what.push(format!("mode {:04o} -> {:04o}", o.mode, n.mode));
                }
                if o.uid != n.uid {
                    what.push(format!("uid {} -> {}", o.uid, n.uid));
                }
                if o.gid != n.gid {
                    what.push(format!("gid {} -> {}", o.gid, n.gid));
                }
                if o.size != n.size {
                    what.push(format!("size {} -> {}", o.size, n.size));
                }
                if o.sha256 != n.sha256 {
                    what.push("content".to_string());
                }
                if o.target != n.target {
                    what.push(format!("target {:?} -> {:?}", o.target.as_deref().unwrap_or(""), n.target.as_deref().unwrap_or("")));
                }
                for name in o.xattrs.keys().chain(n.xattrs.keys()).collect::<std::collections::BTreeSet<_>>() {
                    match (o.xattrs.get(name), n.xattrs.get(name)) {
                        (Some(_), None) => what.push(format!("xattr -{name}")),
                        (None, Some(_)) => what.push(format!("xattr +{name}")),
                        (Some(a), Some(b)) if a != b => what.push(format!("xattr {name} {a} -> {b}")),
                        _ => {}
                    }
                }
                if o.ino != n.ino {
                    what.push(format!("inode {} -> {}", o.ino, n.ino));
                }
                out.push(format!("~ {p}: {}", what.join(", ")));
            }
            _ => {}
        }
    }
    out
}

/// One filesystem of a sysprep fixture: where it is mounted in the guest, its type, its
/// libguestfs device name and its byte range in the disk image (the same in the raw and the
/// qcow2 twin).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsRegion {
    pub mountpoint: &'static str,
    pub fstype: &'static str,
    pub device: &'static str,
    pub offset: u64,
    pub size: u64,
}

const MIB: u64 = 1 << 20;

/// Filesystems of `sysprep-ubuntu` / `sysprep-centos7` / `sysprep-el-xfs` (a `.raw`/`.qcow2` suffix is ignored),
/// as `fixtures/mk-sysprep.sh` lays them out: Ubuntu GPT p15 ESP at sector 10240, p1 root at
/// sector 43008; CentOS MBR p1 /boot at sector 2048, p2 LVM PV at sector 67584 with pe_start
/// 1 MiB and 4 MiB extents, swap extents 0-3, root extents 4-19.
pub fn sysprep_layout(name: &str) -> Vec<FsRegion> {
    let base = name.trim_end_matches(".qcow2").trim_end_matches(".raw");
    let pv = 67584 * 512 + MIB;
    match base {
        "sysprep-ubuntu" => vec![
            FsRegion { mountpoint: "/", fstype: "ext4", device: "/dev/sda1", offset: 43008 * 512, size: 74 * MIB },
            FsRegion { mountpoint: "/boot/efi", fstype: "vfat", device: "/dev/sda15", offset: 10240 * 512, size: 16 * MIB },
        ],
        "sysprep-el-xfs" => vec![
            FsRegion { mountpoint: "/", fstype: "xfs", device: "/dev/sda2", offset: 616448 * 512, size: 339 * MIB },
            FsRegion { mountpoint: "/boot", fstype: "xfs", device: "/dev/sda1", offset: 2048 * 512, size: 300 * MIB },
        ],
        "sysprep-centos7" => vec![
            FsRegion { mountpoint: "/", fstype: "ext4", device: "/dev/centos/root", offset: pv + 4 * 4 * MIB, size: 64 * MIB },
            FsRegion { mountpoint: "/boot", fstype: "ext4", device: "/dev/sda1", offset: 2048 * 512, size: 32 * MIB },
            FsRegion { mountpoint: "swap", fstype: "swap", device: "/dev/centos/swap", offset: pv, size: 16 * MIB },
        ],
        _ => panic!("no sysprep fixture named {name}"),
    }
}

/// The ext4 filesystems of a sysprep fixture as (mountpoint, fixture image, offset, size).
pub fn sysprep_fs(name: &str) -> Vec<(&'static str, PathBuf, u64, u64)> {
    let image = super::fixture(name);
    sysprep_layout(name).into_iter().filter(|r| r.fstype == "ext4").map(|r| (r.mountpoint, image.clone(), r.offset, r.size)).collect()
}

/// One tree of every ext4 and XFS filesystem of `image` (a copy of the fixture `name`, raw or qcow2),
/// with guest paths: each filesystem's paths are prefixed by its mountpoint, and a mounted
/// filesystem's root replaces the mountpoint directory beneath it.
pub fn guest_tree(image: &Path, name: &str) -> Tree {
    let copy;
    let raw: &Path = if is_qcow2(image) {
        copy = raw_copy(image);
        &copy
    } else {
        image
    };
    let mut regions: Vec<FsRegion> = sysprep_layout(name).into_iter().filter(|r| matches!(r.fstype, "ext4" | "xfs")).collect();
    regions.sort_by_key(|r| r.mountpoint.len());
    let mut tree = Tree::new();
    for r in regions {
        let part = extract(raw, r.offset, r.size);
        let t = if r.fstype == "xfs" { kernel_fs_tree(&part) } else { fs_tree(&part) };
        let mp = r.mountpoint;
        if mp != "/" {
            let prefix = format!("{mp}/");
            tree.retain(|p, _| p != mp && !p.starts_with(&prefix));
        }
        for (p, n) in t {
            let gp = if mp == "/" { p } else if p == "/" { mp.to_string() } else { format!("{mp}{p}") };
            tree.insert(gp, n);
        }
    }
    tree
}
