//! ext2/3/4 reading through `Ext4Fs`, judged by other people's tools: every image built by
//! `fixtures/mk-ext4.sh` with `mkfs.ext4 -d TREE` must read back as TREE (contents, `lstat`
//! fields, listings, `getfattr` xattrs), agree with the `ext4-view` crate file by file, report
//! the kernel's `statvfs` (`mount -o loop,ro` + `stat -f`), and read a dirty journal as
//! `e2fsck` replays it, without writing the image. Damaged copies must fail cleanly.

mod common;

use common::{fixture, run, sha256_file};
use std::collections::{BTreeMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vguestfs::disk::{self, BlockDev, Dev, MemDev, RawFile};
use vguestfs::fs::ext4::Ext4Fs;
use vguestfs::fs::{Errno, Error, FileType, Filesystem, Ino};

/// Every clean image mk-ext4.sh builds from the tree.
const IMAGES: &[&str] = &[
    "ext4-ext2.img",
    "ext4-ext3.img",
    "ext4-4k.img",
    "ext4-1k.img",
    "ext4-2k.img",
    "ext4-noextent.img",
    "ext4-inline.img",
    "ext4-64bit-csum.img",
];

fn open(img: &Path) -> Ext4Fs {
    let dev: Dev = Arc::new(RawFile::open(img, false).expect("open image"));
    Ext4Fs::open(dev).unwrap_or_else(|e| panic!("{}: {e}", img.display()))
}

/// Every path below the root (relative, as bytes) with its inode, depth first.
fn walk(fs: &dyn Filesystem) -> BTreeMap<Vec<u8>, Ino> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(Vec::new(), fs.root())];
    while let Some((path, dir)) = stack.pop() {
        for e in fs.read_dir(dir).expect("read_dir") {
            let mut p = path.clone();
            if !p.is_empty() {
                p.push(b'/');
            }
            p.extend_from_slice(&e.name);
            if path.is_empty() && e.name == b"lost+found" {
                continue;
            }
            assert_eq!(
                fs.stat(e.ino).expect("stat").file_type(),
                Some(e.file_type),
                "{}",
                show(&p)
            );
            if e.file_type == FileType::Directory {
                stack.push((p.clone(), e.ino));
            }
            out.insert(p, e.ino);
        }
    }
    out
}

/// The host tree's paths (relative, as bytes).
fn walk_tree(root: &Path) -> BTreeMap<Vec<u8>, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read tree") {
            let p = e.expect("tree entry").path();
            let rel = p
                .strip_prefix(root)
                .expect("below root")
                .as_os_str()
                .as_bytes()
                .to_vec();
            if p.symlink_metadata().expect("lstat").is_dir() {
                stack.push(p.clone());
            }
            out.insert(rel, p);
        }
    }
    out
}

fn show(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

fn read_all(fs: &dyn Filesystem, ino: Ino, size: u64) -> Vec<u8> {
    let mut data = Vec::with_capacity(size as usize);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = fs.read(ino, data.len() as u64, &mut buf).expect("read");
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    data
}

/// A sparse copy of an image mounted read-only by the kernel; unmounted on drop. Holds the
/// loop-device lock while mounted.
struct Mounted {
    dir: tempfile::TempDir,
    _guard: std::sync::MutexGuard<'static, ()>,
}

impl Mounted {
    /// Mounts a copy of `img`; `replay` mounts the loop device writable so that the kernel
    /// can replay a dirty journal (into the copy) before the read-only mount.
    fn new(img: &Path, replay: bool) -> Mounted {
        let guard = common::loop_lock();
        let dir = tempfile::tempdir().expect("tempdir");
        let copy = dir.path().join("copy.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).expect("mkdir");
        run(
            "cp",
            &[
                "--sparse=always",
                img.to_str().expect("utf-8"),
                copy.to_str().expect("utf-8"),
            ],
        );
        let opts = if replay { "loop,noatime" } else { "loop,ro" };
        run(
            "mount",
            &[
                "-o",
                opts,
                copy.to_str().expect("utf-8"),
                mnt.to_str().expect("utf-8"),
            ],
        );
        Mounted { dir, _guard: guard }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.path())
            .status();
    }
}

/// The image reads as the kernel reads it (`mount -o loop,ro`): same paths, the same `lstat`
/// fields (inode, mode, owner, links, size, blocks, rdev, times with nanoseconds) for every
/// path, the same contents for regular files and targets for symlinks. Unless `dirty`, the
/// contents also equal the source tree's.
fn assert_reads_as_kernel(img: &str, dirty: bool) {
    let source = fixture("ext4-tree");
    let fs = open(&fixture(img));
    let ours = walk(&fs);
    let mounted = Mounted::new(&fixture(img), dirty);
    let mut kernel = walk_tree(&mounted.path());
    kernel.remove(b"lost+found".as_slice());
    let names = |m: Vec<&Vec<u8>>| m.into_iter().map(|k| show(k)).collect::<Vec<_>>();
    assert_eq!(
        names(ours.keys().collect()),
        names(kernel.keys().collect()),
        "{img}: listing"
    );
    let src = walk_tree(&source);
    assert_eq!(
        names(ours.keys().collect()),
        names(src.keys().collect()),
        "{img}: source listing"
    );
    assert!(ours.len() > 3000, "{img}: the tree has the big directory");
    let mut regular = 0;
    for (path, ino) in &ours {
        let md = kernel[path].symlink_metadata().expect("lstat");
        let st = fs.stat(*ino).expect("stat");
        let what = format!("{img}: {}", show(path));
        assert_eq!(st.ino, md.ino(), "{what}: ino");
        assert_eq!(st.ino, *ino, "{what}");
        assert_eq!(st.mode, md.mode(), "{what}: mode");
        assert_eq!((st.uid, st.gid), (md.uid(), md.gid()), "{what}: owner");
        assert_eq!(st.nlink, md.nlink(), "{what}: nlink");
        assert_eq!(st.size, md.size(), "{what}: size");
        assert_eq!(st.blocks, md.blocks(), "{what}: blocks");
        assert_eq!(st.rdev, md.rdev(), "{what}: rdev");
        assert_eq!(
            (st.mtime.sec, st.mtime.nsec),
            (md.mtime(), md.mtime_nsec() as u32),
            "{what}: mtime"
        );
        assert_eq!(
            (st.atime.sec, st.atime.nsec),
            (md.atime(), md.atime_nsec() as u32),
            "{what}: atime"
        );
        assert_eq!(
            (st.ctime.sec, st.ctime.nsec),
            (md.ctime(), md.ctime_nsec() as u32),
            "{what}: ctime"
        );
        if !dirty {
            // mkfs -d copied these from the source tree (whole seconds only).
            let src = source
                .join(std::ffi::OsStr::from_bytes(path))
                .symlink_metadata()
                .expect("lstat");
            assert_eq!(
                (st.mode, st.uid, st.gid, st.nlink, st.rdev),
                (src.mode(), src.uid(), src.gid(), src.nlink(), src.rdev()),
                "{what}: source lstat"
            );
            assert_eq!(st.mtime.sec, src.mtime(), "{what}: source mtime");
            if !src.is_dir() {
                assert_eq!(st.size, src.size(), "{what}: source size");
            }
        }
        // The path resolves by lookup (hash-tree, linear and inline directories).
        let resolved = path
            .split(|&b| b == b'/')
            .try_fold(fs.root(), |dir, name| fs.lookup(dir, name).expect("lookup"));
        assert_eq!(resolved, Some(*ino), "{what}: lookup");
        match st.file_type() {
            Some(FileType::Regular) => {
                let got = read_all(&fs, *ino, st.size);
                assert!(
                    got == std::fs::read(&kernel[path]).expect("read mounted file"),
                    "{what}: contents"
                );
                if !dirty {
                    let src = source.join(std::ffi::OsStr::from_bytes(path));
                    assert!(
                        got == std::fs::read(src).expect("read source file"),
                        "{what}: source contents"
                    );
                }
                regular += 1;
            }
            Some(FileType::Symlink) => {
                let want = std::fs::read_link(&kernel[path]).expect("readlink");
                assert_eq!(
                    fs.readlink(*ino).expect("readlink"),
                    want.as_os_str().as_bytes(),
                    "{what}"
                );
            }
            _ => {}
        }
    }
    assert!(regular > 3000, "{img}: {regular} regular files compared");
}

#[test]
fn every_variant_reads_as_the_tree() {
    for img in IMAGES {
        assert_reads_as_kernel(img, false);
    }
}

#[test]
fn fs_type_is_blkids() {
    for (img, want) in [
        ("ext4-ext2.img", "ext2"),
        ("ext4-ext3.img", "ext3"),
        ("ext4-4k.img", "ext4"),
    ] {
        assert_eq!(open(&fixture(img)).fs_type(), want);
        let blkid = run(
            "blkid",
            &[
                "-p",
                "-s",
                "TYPE",
                "-o",
                "value",
                fixture(img).to_str().expect("utf-8"),
            ],
        );
        assert_eq!(blkid.trim(), want);
    }
}

/// `getfattr -R -d -m - -e hex` of the tree, as (path, name) → value.
fn getfattr_tree(root: &Path) -> BTreeMap<(Vec<u8>, Vec<u8>), Vec<u8>> {
    let out = run(
        "getfattr",
        &[
            "-R",
            "-h",
            "-d",
            "-m",
            "-",
            "-e",
            "hex",
            "--absolute-names",
            root.to_str().expect("utf-8"),
        ],
    );
    let mut map = BTreeMap::new();
    let mut file = Vec::new();
    let prefix = [root.as_os_str().as_bytes(), b"/"].concat();
    for line in out.lines() {
        if let Some(p) = line.strip_prefix("# file: ") {
            let p = unescape(p);
            file = p.strip_prefix(prefix.as_slice()).unwrap_or(&p).to_vec();
        } else if let Some((name, value)) = line.split_once('=') {
            let hex = value.strip_prefix("0x").expect("hex value");
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            map.insert((file.clone(), name.as_bytes().to_vec()), bytes);
        }
    }
    map
}

/// getfattr's octal escapes (`\ooo`) back to bytes.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push(
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 4]).expect("octal"), 8)
                    .expect("octal"),
            );
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn xattrs_equal_getfattr() {
    let want = getfattr_tree(&fixture("ext4-tree"));
    assert!(want.len() >= 5, "the tree has xattrs: {want:?}");
    for img in IMAGES {
        let fs = open(&fixture(img));
        let mut got = BTreeMap::new();
        for (path, ino) in walk(&fs) {
            for (name, value) in fs.xattrs(ino).expect("xattrs") {
                got.insert((path.clone(), name), value);
            }
        }
        assert_eq!(got, want, "{img}");
    }
}

#[test]
fn ext4_view_agrees_on_every_file() {
    // ext4-view 1.0 refuses inline_data (INCOMPAT_INLINE_DATA) images; the kernel judges those.
    for img in IMAGES
        .iter()
        .filter(|i| **i != "ext4-inline.img")
        .chain(&["ext4-dirty.img"])
    {
        let fs = open(&fixture(img));
        let view = ext4_view::Ext4::load_from_path(fixture(img)).expect("ext4-view load");
        let (mut n, mut skipped) = (0, 0);
        for (path, ino) in walk(&fs) {
            let st = fs.stat(ino).expect("stat");
            if st.file_type() != Some(FileType::Regular) {
                continue;
            }
            let abs = [b"/".as_slice(), &path].concat();
            let theirs = match view.read(ext4_view::Path::try_from(abs.as_slice()).expect("path")) {
                Ok(data) => data,
                // Gaps of ext4-view 1.0, not of the images: it rejects `i_mtime` lo words
                // ≥ 2^31 (the kernel reads them as signed, plus the epoch bits), as
                // /future-time has, and reads a hole of a block-mapped (ext2/3) file as block 0.
                Err(_) if EXT4_VIEW_GAPS.contains(&path.as_slice()) => {
                    skipped += 1;
                    continue;
                }
                Err(e) => panic!("{img}: {}: ext4-view: {e}", show(&path)),
            };
            assert!(
                read_all(&fs, ino, st.size) == theirs,
                "{img}: {} differs from ext4-view",
                show(&path)
            );
            n += 1;
        }
        assert!(
            n > 3000 && skipped <= EXT4_VIEW_GAPS.len(),
            "{img}: {n} files compared, {skipped} skipped"
        );
    }
}

/// Files ext4-view 1.0 fails to read on some images (see `ext4_view_agrees_on_every_file`).
const EXT4_VIEW_GAPS: &[&[u8]] = &[b"future-time", b"sparse-64m", b"holey"];

/// `stat -f` of the image mounted read-only by the kernel (on a sparse copy).
fn kernel_statfs(img: &Path) -> [u64; 7] {
    let mounted = Mounted::new(img, false);
    let out = run(
        "stat",
        &[
            "-f",
            "-c",
            "%S %b %f %a %c %d %l",
            mounted.path().to_str().expect("utf-8"),
        ],
    );
    let v: Vec<u64> = out
        .split_whitespace()
        .map(|s| s.parse().expect("number"))
        .collect();
    v.try_into().expect("seven numbers")
}

#[test]
fn statvfs_equals_the_kernels() {
    for img in IMAGES {
        let s = open(&fixture(img)).statvfs().expect("statvfs");
        let ours = [
            s.bsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.namemax,
        ];
        assert_eq!(
            ours,
            kernel_statfs(&fixture(img)),
            "{img}: [bsize blocks bfree bavail files ffree namemax]"
        );
    }
}

#[test]
fn device_numbers_and_special_files() {
    let fs = open(&fixture("ext4-4k.img"));
    let root = fs.root();
    let get = |name: &[u8]| {
        fs.stat(fs.lookup(root, name).expect("lookup").expect("exists"))
            .expect("stat")
    };
    // stat -c '%t %T' prints major and minor in hex.
    for (name, major, minor) in [
        (&b"char-dev"[..], 4u64, 64u64),
        (b"block-dev", 8, 1),
        (b"big-dev", 300, 70000),
    ] {
        let st = get(name);
        let tree = fixture("ext4-tree").join(std::str::from_utf8(name).expect("utf-8"));
        let out = run("stat", &["-c", "%t %T", tree.to_str().expect("utf-8")]);
        let v: Vec<u64> = out
            .split_whitespace()
            .map(|s| u64::from_str_radix(s, 16).expect("hex"))
            .collect();
        assert_eq!(v, [major, minor]);
        let (maj, min) = (
            (st.rdev >> 8) & 0xfff | ((st.rdev >> 32) & !0xfff),
            (st.rdev & 0xff) | ((st.rdev >> 12) & !0xff),
        );
        assert_eq!((maj, min), (major, minor), "{}", show(name));
    }
    assert_eq!(get(b"fifo").file_type(), Some(FileType::Fifo));
    assert_eq!(get(b"socket").file_type(), Some(FileType::Socket));
    assert_eq!(get(b"big-owner").uid, 70000);
}

#[test]
fn errors_are_the_kernels() {
    let fs = open(&fixture("ext4-4k.img"));
    let root = fs.root();
    let file = fs
        .lookup(root, b"one-byte")
        .expect("lookup")
        .expect("exists");
    let link = fs
        .lookup(root, b"short-link")
        .expect("lookup")
        .expect("exists");
    let os = |r: Result<(), Error>| match r {
        Err(Error::Os(e)) => e,
        other => panic!("expected an errno, got {other:?}"),
    };
    assert_eq!(fs.lookup(root, b"no-such-file").expect("lookup"), None);
    assert_eq!(os(fs.lookup(file, b"x").map(drop)), Errno::NotDir);
    assert_eq!(os(fs.read_dir(file).map(drop)), Errno::NotDir);
    assert_eq!(os(fs.read(root, 0, &mut [0; 4]).map(drop)), Errno::IsDir);
    assert_eq!(os(fs.read(link, 0, &mut [0; 4]).map(drop)), Errno::Invalid);
    assert_eq!(os(fs.readlink(file).map(drop)), Errno::Invalid);
    assert_eq!(os(fs.stat(0).map(drop)), Errno::NoEntry);
    assert_eq!(os(fs.stat(1 << 40).map(drop)), Errno::NoEntry);
    assert_eq!(
        os(fs.lookup(root, &[b'x'; 256]).map(drop)),
        Errno::NameTooLong
    );
    // Reads at and past the end return 0; a short read at the tail.
    let mut buf = [0u8; 8];
    assert_eq!(fs.read(file, 0, &mut buf).expect("read"), 1);
    assert_eq!(fs.read(file, 1, &mut buf).expect("read"), 0);
    assert_eq!(fs.read(file, u64::MAX, &mut buf).expect("read"), 0);
    // Not an ext filesystem at all.
    let zero: Dev = Arc::new(MemDev::new(vec![0u8; 1 << 20]));
    assert!(matches!(Ext4Fs::open(zero), Err(Error::Corrupt { .. })));
}

#[test]
fn dirty_journal_reads_as_replayed_without_writing() {
    let img = fixture("ext4-dirty.img");
    let before = sha256_file(&img);
    let dumpe2fs = run("dumpe2fs", &["-h", img.to_str().expect("utf-8")]);
    assert!(dumpe2fs.contains("needs_recovery"), "fixture is dirty");
    // The oracle: e2fsck replays a copy, debugfs reads the files back.
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("replayed.img");
    std::fs::copy(&img, &copy).expect("copy");
    let _ = std::process::Command::new("e2fsck")
        .args(["-fy", copy.to_str().expect("utf-8")])
        .output();
    let debugfs_cat = |file: &str| {
        let out = std::process::Command::new("debugfs")
            .args(["-R", &format!("cat /{file}"), copy.to_str().expect("utf-8")])
            .output();
        out.expect("debugfs").stdout
    };
    let fs = open(&img);
    for (file, journaled) in [
        ("exactly-4k", "ext4-journal-2.bin"),
        ("mid-5000", "ext4-journal-3.bin"),
    ] {
        let ino = fs
            .lookup(fs.root(), file.as_bytes())
            .expect("lookup")
            .expect("exists");
        let ours = read_all(&fs, ino, fs.stat(ino).expect("stat").size);
        assert!(
            ours == debugfs_cat(file),
            "{file}: differs from e2fsck's replay"
        );
        let want = std::fs::read(fixture(journaled)).expect("journal block");
        assert!(
            ours[..4096] == want[..],
            "{file}: not the last committed journal block"
        );
    }
    drop(fs);
    // And every file reads as the kernel reads it after its own replay (on a copy).
    assert_reads_as_kernel("ext4-dirty.img", true);
    assert_eq!(sha256_file(&img), before, "the image was written");
    assert!(run("dumpe2fs", &["-h", img.to_str().expect("utf-8")]).contains("needs_recovery"));
}

/// A device over a shared image with a few bytes changed and an optional shorter length.
struct Patched {
    base: Arc<Vec<u8>>,
    patches: Vec<(u64, u8)>,
    len: u64,
}

impl BlockDev for Patched {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, buf: &mut [u8], off: u64) -> disk::Result<()> {
        let end = off.checked_add(buf.len() as u64).filter(|&e| e <= self.len);
        let Some(end) = end else {
            return Err(disk::Error::OutOfRange {
                dev: "patched".into(),
                offset: off,
                len: buf.len() as u64,
                size: self.len,
            });
        };
        buf.copy_from_slice(&self.base[off as usize..end as usize]);
        for &(at, byte) in &self.patches {
            if (off..end).contains(&at) {
                buf[(at - off) as usize] = byte;
            }
        }
        Ok(())
    }
    fn write_at(&self, _: &[u8], _: u64) -> disk::Result<()> {
        Err(disk::Error::ReadOnly {
            dev: "patched".into(),
        })
    }
    fn flush(&self) -> disk::Result<()> {
        Ok(())
    }
    fn is_writable(&self) -> bool {
        false
    }
    fn name(&self) -> String {
        "patched".into()
    }
}

/// Opens and walks `dev` with bounded work (entries, bytes, cycle detection); errors are fine.
fn walk_hostile(dev: Dev) -> usize {
    let Ok(fs) = Ext4Fs::open(dev) else { return 0 };
    let mut seen = HashSet::new();
    let mut stack = vec![fs.root()];
    let mut visited = 0;
    let mut buf = vec![0u8; 65536];
    while let Some(dir) = stack.pop() {
        if !seen.insert(dir) || visited > 4000 {
            continue;
        }
        let Ok(entries) = fs.read_dir(dir) else {
            continue;
        };
        for e in entries.into_iter().take(4000) {
            visited += 1;
            let _ = fs.xattrs(e.ino);
            match fs.stat(e.ino).map(|s| s.file_type()) {
                Ok(Some(FileType::Directory)) => stack.push(e.ino),
                Ok(Some(FileType::Regular)) => {
                    let _ = fs.read(e.ino, 0, &mut buf);
                }
                Ok(Some(FileType::Symlink)) => {
                    let _ = fs.readlink(e.ino);
                }
                _ => {}
            }
        }
    }
    let _ = fs.statvfs();
    visited
}

/// `debugfs -R CMD` on `img`.
fn debugfs(img: &Path, cmd: &str) -> String {
    let out = std::process::Command::new("debugfs")
        .args(["-R", cmd, img.to_str().expect("utf-8")])
        .output();
    String::from_utf8_lossy(&out.expect("debugfs").stdout).into_owned()
}

/// The block size `dumpe2fs -h` reports.
fn block_size(img: &Path) -> u64 {
    let out = run("dumpe2fs", &["-h", img.to_str().expect("utf-8")]);
    let line = out
        .lines()
        .find(|l| l.starts_with("Block size:"))
        .expect("block size");
    line.split_whitespace()
        .last()
        .expect("value")
        .parse()
        .expect("number")
}

/// The byte offset of inode `path`'s on-disk inode (`debugfs imap`).
fn inode_offset(img: &Path, path: &str) -> u64 {
    let block_size = block_size(img);
    let out = debugfs(img, &format!("imap {path}"));
    let block: u64 = out
        .split("located at block ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .expect("block")
        .parse()
        .expect("number");
    let off = out.split("offset 0x").nth(1).expect("offset").trim();
    block * block_size + u64::from_str_radix(off, 16).expect("hex")
}

#[test]
fn hostile_mutations_never_panic_or_hang() {
    for img in [
        "ext4-1k.img",
        "ext4-4k.img",
        "ext4-ext3.img",
        "ext4-inline.img",
    ] {
        let path = fixture(img);
        let bs = block_size(&path);
        let base = Arc::new(std::fs::read(&path).expect("read image"));
        let dir_block: u64 = debugfs(&path, "bmap / 0")
            .trim()
            .parse()
            .expect("root dir block");
        let regions = [
            ("superblock", 1024u64, 1024u64),
            ("group descriptors", if bs == 1024 { 2048 } else { bs }, 512),
            ("inode table", inode_offset(&path, "/") - 256, 4096),
            ("root directory", dir_block * bs, bs),
        ];
        for (what, start, len) in regions {
            for i in 0..48u64 {
                // Deterministic spread of positions and values over the region.
                let at = start + (i * 7919 + i * i * 31) % len;
                let value = [0x00, 0xff, 0x80, 0x7f, 0x01][(i % 5) as usize] ^ (i as u8);
                let dev: Dev = Arc::new(Patched {
                    base: base.clone(),
                    patches: vec![(at, value), (at + 1, value)],
                    len: base.len() as u64,
                });
                let t = std::time::Instant::now();
                walk_hostile(dev);
                assert!(
                    t.elapsed().as_secs() < 60,
                    "{img}: {what} byte {at}: took {:?}",
                    t.elapsed()
                );
            }
        }
        // Truncated copies.
        for cut in [4096u64, 65536, 1 << 20, base.len() as u64 / 2] {
            let dev: Dev = Arc::new(Patched {
                base: base.clone(),
                patches: vec![],
                len: cut,
            });
            walk_hostile(dev);
        }
        // The unmodified image walks completely.
        let dev: Dev = Arc::new(Patched {
            base: base.clone(),
            patches: vec![],
            len: base.len() as u64,
        });
        assert!(walk_hostile(dev) > 3000, "{img}");
    }
}

#[test]
fn extent_pointing_outside_the_device_is_corrupt() {
    let path = fixture("ext4-nocsum.img");
    let base = Arc::new(std::fs::read(&path).expect("read image"));
    // i_block at 0x28; the first extent follows the 12-byte header; ee_start_hi at +6.
    let at = inode_offset(&path, "/mid-5000") + 0x28 + 12 + 6;
    let dev: Dev = Arc::new(Patched {
        base: base.clone(),
        patches: vec![(at, 0xff), (at + 1, 0x7f)],
        len: base.len() as u64,
    });
    let fs = Ext4Fs::open(dev).expect("open");
    let ino = fs
        .lookup(fs.root(), b"mid-5000")
        .expect("lookup")
        .expect("exists");
    let err = fs
        .read(ino, 0, &mut [0u8; 4096])
        .expect_err("read beyond the device");
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

#[test]
fn directory_cycle_is_bounded() {
    // A hard link to a directory inside itself: /a/b/loop names /a.
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("cycle.img");
    std::fs::copy(fixture("ext4-nocsum.img"), &copy).expect("copy");
    let c = copy.to_str().expect("utf-8");
    run("debugfs", &["-w", "-R", "link /a /a/b/loop", c]);
    let fs = open(&copy);
    let a = fs.lookup(fs.root(), b"a").expect("lookup").expect("a");
    let b = fs.lookup(a, b"b").expect("lookup").expect("b");
    assert_eq!(fs.lookup(b, b"loop").expect("lookup"), Some(a));
    let dev: Dev = Arc::new(RawFile::open(&copy, false).expect("open"));
    assert!(walk_hostile(dev) > 3000);
}

#[test]
fn hostile_journal_never_panics_or_hangs() {
    let path = fixture("ext4-dirty.img");
    let base = Arc::new(std::fs::read(&path).expect("read image"));
    let bs = block_size(&path);
    // The journal superblock, then the descriptor, data and commit blocks of the transactions.
    let start: u64 = debugfs(&path, "bmap <8> 0")
        .trim()
        .parse()
        .expect("journal block");
    let len = 12 * bs;
    for i in 0..96u64 {
        let at = start * bs + (i * 7919 + i * i * 31) % len;
        let value = [0x00, 0xff, 0x80, 0x7f, 0x01][(i % 5) as usize] ^ (i as u8);
        let patches = vec![(at, value), (at + 1, value)];
        let dev: Dev = Arc::new(Patched {
            base: base.clone(),
            patches,
            len: base.len() as u64,
        });
        let t = std::time::Instant::now();
        walk_hostile(dev);
        assert!(
            t.elapsed().as_secs() < 60,
            "journal byte {at}: took {:?}",
            t.elapsed()
        );
    }
}

#[test]
fn unknown_incompat_feature_is_unsupported() {
    let path = fixture("ext4-nocsum.img");
    let base = Arc::new(std::fs::read(&path).expect("read image"));
    // s_feature_incompat is at 0x60 of the superblock; bit 31 is no feature anyone defines.
    let at = 1024 + 0x60 + 3;
    let patches = vec![(at, base[at as usize] | 0x80)];
    let dev: Dev = Arc::new(Patched {
        base: base.clone(),
        patches,
        len: base.len() as u64,
    });
    match Ext4Fs::open(dev) {
        Err(Error::Unsupported { feature, .. }) => {
            assert!(feature.contains("INCOMPAT"), "{feature}")
        }
        Err(e) => panic!("expected Unsupported, got {e}"),
        Ok(_) => panic!("mounted a filesystem with an unknown INCOMPAT feature"),
    }
}
