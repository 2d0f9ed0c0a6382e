//! Randomized sequences of every XFS write (issue 14): create, mkdir, write, truncate, rename,
//! link, unlink, rmdir and setxattr, mixed, on `mkfs.xfs` images of several configurations.
//! The kernel is the model: each operation is done on a loop-mounted twin, and the writer
//! must answer the same (success, or the same errno) on ours; after every batch
//! `xfs_repair -n` is clean and the kernel reads the same tree from both (paths, types, modes,
//! sizes, link counts, file contents, attributes). Directories grow across the shortform,
//! block and leaf formats and files across extents and btree maps as the sequence goes.
//! Configurations: v5 defaults, v4 (`crc=0`: this kernel cannot mount it, so its twin is a v5
//! filesystem and ours is read back by our reader), 1 KiB blocks, reflinked files
//! (copy-on-write), and eighteen small AGs nearly full. `XFS_RANDOM_SEEDS=N` runs N seeds per
//! configuration (default 1), starting at seed `XFS_RANDOM_SEED_BASE` (default 0) so that a
//! campaign can run in parallel processes on disjoint seeds;
//! the same engine runs on the rmapbt fixtures of
//! fixtures/mk-xfs-rmap.sh and fresh `-m rmapbt=1` images (`XFS_RANDOM_RMAP_SEEDS=N`, default
//! 1), where each sequence's end is also judged record by record against the rmapbt
//! xfs_repair rebuilds (`judge_rmap`).

mod common;

use common::xfs::{mkfs_as, repair_clean, with_kernel};
use common::Rng;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;
use vguestfs::disk::{Dev, RawFile};
use vguestfs::fs::xfs::writer::XfsWriter;
use vguestfs::fs::Error;

/// What the kernel shows of a tree: path → (mode, size (0 for directories), links, content
/// hash, attributes).
type Tree = BTreeMap<String, (u32, u64, u64, String, BTreeMap<String, Vec<u8>>)>;

fn tree(root: &Path) -> Tree {
    tree_with(root, true)
}

/// [`tree`], or without contents and attributes (`full` false: what [`pick`] looks at, at a
/// fraction of the cost on big fixtures).
fn tree_with(root: &Path, full: bool) -> Tree {
    let mut out = Tree::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = p.symlink_metadata().unwrap();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let sum = if m.is_file() && full { format!("{:x}", Sha256::digest(std::fs::read(&p).unwrap())) } else { String::new() };
            let mut attrs = BTreeMap::new();
            for n in xattr_names(&p).into_iter().filter(|_| full) {
                if let Some(v) = xattr_get(&p, &n) {
                    attrs.insert(n, v);
                }
            }
            out.insert(rel, (m.mode(), if m.is_dir() { 0 } else { m.size() }, m.nlink(), sum, attrs));
            if m.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

fn cpath(p: &Path) -> std::ffi::CString {
    std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap()
}

fn xattr_names(p: &Path) -> Vec<String> {
    let mut buf = vec![0u8; 65536];
    // SAFETY: a valid NUL-terminated path and a buffer of the length given.
    let n = unsafe { libc::llistxattr(cpath(p).as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return Vec::new();
    }
    buf[..n as usize].split(|&b| b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

fn xattr_get(p: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    let n = std::ffi::CString::new(name).unwrap();
    // SAFETY: valid NUL-terminated strings and a buffer of the length given.
    let r = unsafe { libc::lgetxattr(cpath(p).as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (r >= 0).then(|| buf[..r as usize].to_vec())
}

fn xattr_set(p: &Path, name: &str, v: &[u8]) -> std::io::Result<()> {
    let n = std::ffi::CString::new(name).unwrap();
    // SAFETY: valid NUL-terminated strings and a value of the length given.
    let r = unsafe { libc::lsetxattr(cpath(p).as_ptr(), n.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
    if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// One operation, by path relative to the root.
#[derive(Debug, Clone)]
enum Op {
    Create(String),
    Mkdir(String),
    Write(String, u64, Vec<u8>),
    Truncate(String, u64),
    Rename(String, String),
    Link(String, String),
    Unlink(String),
    Rmdir(String),
    SetXattr(String, String, Vec<u8>),
}

fn split(p: &str) -> (&str, &str) {
    p.rsplit_once('/').unwrap_or(("", p))
}

/// The operation done by the kernel on the twin mounted at `m`: its errno, 0 for success.
fn kernel(m: &Path, op: &Op) -> i32 {
    let r = match op {
        Op::Create(p) => std::fs::OpenOptions::new().write(true).create_new(true).open(m.join(p)).map(|_| ()),
        Op::Mkdir(p) => std::fs::create_dir(m.join(p)),
        Op::Write(p, off, d) => std::fs::OpenOptions::new().write(true).open(m.join(p)).and_then(|f| f.write_all_at(d, *off)),
        Op::Truncate(p, n) => std::fs::OpenOptions::new().write(true).open(m.join(p)).and_then(|f| f.set_len(*n)),
        Op::Rename(a, b) => std::fs::rename(m.join(a), m.join(b)),
        Op::Link(a, b) => std::fs::hard_link(m.join(a), m.join(b)),
        Op::Unlink(p) => std::fs::remove_file(m.join(p)),
        Op::Rmdir(p) => std::fs::remove_dir(m.join(p)),
        Op::SetXattr(p, n, v) => xattr_set(&m.join(p), n, v),
    };
    r.err().map_or(0, |e| e.raw_os_error().unwrap_or(-1))
}

/// The inode at `p` through the writer's lookups (`None`: a component is missing).
fn resolve(w: &XfsWriter, p: &str) -> Option<u64> {
    let mut at = w.superblock().rootino;
    for c in p.split('/').filter(|c| !c.is_empty()) {
        at = w.lookup(at, c.as_bytes()).ok()??;
    }
    Some(at)
}

/// The same operation by the writer: its errno (0 success, -2 for "not written yet").
fn ours(w: &mut XfsWriter, op: &Op) -> i32 {
    let dir_and_name = |w: &XfsWriter, p: &str| {
        let (d, n) = split(p);
        (resolve(w, d), n.as_bytes().to_vec())
    };
    let r = match op {
        Op::Create(p) | Op::Mkdir(p) => {
            let (Some(d), n) = dir_and_name(w, p) else { return libc::ENOENT };
            let mode = if matches!(op, Op::Mkdir(_)) { 0o40755 } else { 0o100644 };
            w.create(d, &n, mode, 0, 0).map(|_| ())
        }
        Op::Write(p, off, data) => match resolve(w, p) {
            Some(i) => w.write(i, *off, data),
            None => return libc::ENOENT,
        },
        Op::Truncate(p, size) => match resolve(w, p) {
            Some(i) => w.truncate(i, *size),
            None => return libc::ENOENT,
        },
        Op::Rename(a, b) | Op::Link(a, b) => {
            let ((Some(da), na), (Some(db), nb)) = (dir_and_name(w, a), dir_and_name(w, b)) else { return libc::ENOENT };
            if matches!(op, Op::Link(..)) {
                match resolve(w, a) {
                    Some(i) => w.link(i, db, &nb),
                    None => return libc::ENOENT,
                }
            } else {
                w.rename(da, &na, db, &nb)
            }
        }
        Op::Unlink(p) | Op::Rmdir(p) => {
            let (Some(d), n) = dir_and_name(w, p) else { return libc::ENOENT };
            // the kinds unlink and rmdir refuse, as the VFS does before the filesystem is asked
            let Some(i) = resolve(w, p) else { return libc::ENOENT };
            let is_dir = w.lookup(i, b"..").is_ok();
            match (op, is_dir) {
                (Op::Unlink(_), true) => return libc::EISDIR,
                (Op::Rmdir(_), false) => return libc::ENOTDIR,
                _ => w.remove(d, &n),
            }
        }
        Op::SetXattr(p, n, v) => match resolve(w, p) {
            Some(i) => w.setxattr(i, n.as_bytes(), v),
            None => return libc::ENOENT,
        },
    };
    match r {
        Ok(()) => 0,
        Err(Error::Os(e)) => e.raw(),
        Err(Error::Unsupported { feature, .. }) => {
            eprintln!("{op:?}: refused: {feature}");
            -2
        }
        Err(e) => panic!("{op:?}: {e}"),
    }
}

/// A random operation on the twin's current tree.
fn pick(rng: &mut Rng, t: &Tree, n: usize) -> Op {
    let paths: Vec<&String> = t.keys().collect();
    let dirs: Vec<String> = std::iter::once(String::new()).chain(t.iter().filter(|(_, v)| v.0 & 0o170000 == 0o040000).map(|(k, _)| k.clone())).collect();
    let files: Vec<&String> = t.iter().filter(|(_, v)| v.0 & 0o170000 == 0o100000).map(|(k, _)| k).collect();
    let any = |rng: &mut Rng| -> String { if paths.is_empty() { "x".into() } else { paths[rng.below(paths.len() as u64) as usize].clone() } };
    let file = |rng: &mut Rng| -> String { if files.is_empty() { "x".into() } else { files[rng.below(files.len() as u64) as usize].clone() } };
    let new_name = |rng: &mut Rng| -> String {
        let d = &dirs[rng.below(dirs.len() as u64) as usize];
        let name = format!("e{n}-{}", "z".repeat(rng.below(30) as usize));
        if d.is_empty() { name } else { format!("{d}/{name}") }
    };
    match rng.below(20) {
        0..=4 => Op::Create(new_name(rng)),
        5..=6 => Op::Mkdir(new_name(rng)),
        7..=9 => {
            let len = [1, 100, 4096, 20000, 70000][rng.below(5) as usize];
            let data: Vec<u8> = (0..len).map(|i| (i as u64 * 7 + n as u64) as u8).collect();
            let off = [0, rng.below(8192), rng.below(1 << 20)][rng.below(3) as usize];
            Op::Write(file(rng), off, data)
        }
        10 => Op::Truncate(file(rng), [0, rng.below(5000), rng.below(1 << 20)][rng.below(3) as usize]),
        11..=12 => Op::Rename(any(rng), if rng.below(3) == 0 { any(rng) } else { new_name(rng) }),
        13 => Op::Link(file(rng), new_name(rng)),
        14..=15 => Op::Unlink(any(rng)),
        16 => Op::Rmdir(any(rng)),
        _ => {
            let name = ["user.a", "user.b", "security.selinux", "trusted.t"][rng.below(4) as usize].to_string();
            Op::SetXattr(any(rng), name, vec![b'v'; rng.below(80) as usize])
        }
    }
}

/// The same tree as [`tree`], read by our reader (for v4, which this kernel cannot mount).
fn reader_tree(img: &Path) -> Tree {
    use vguestfs::fs::{FileType, Filesystem};
    let dev: Dev = Arc::new(RawFile::open(img, false).unwrap());
    let fs = vguestfs::fs::xfs::XfsFs::open(dev).unwrap();
    let mut out = Tree::new();
    let mut stack = vec![(String::new(), fs.root())];
    while let Some((path, dir)) = stack.pop() {
        for e in fs.read_dir(dir).unwrap() {
            let rel = if path.is_empty() { String::from_utf8_lossy(&e.name).into_owned() } else { format!("{path}/{}", String::from_utf8_lossy(&e.name)) };
            let st = fs.stat(e.ino).unwrap();
            let is_dir = e.file_type == FileType::Directory;
            let sum = if e.file_type == FileType::Regular {
                let mut buf = vec![0u8; st.size as usize];
                let n = fs.read(e.ino, 0, &mut buf).unwrap();
                assert_eq!(n as u64, st.size, "{rel}: short read");
                format!("{:x}", Sha256::digest(&buf))
            } else {
                String::new()
            };
            let attrs = fs.xattrs(e.ino).unwrap().into_iter().map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), v)).collect();
            out.insert(rel.clone(), (st.mode, if is_dir { 0 } else { st.size }, st.nlink, sum, attrs));
            if is_dir {
                stack.push((rel, e.ino));
            }
        }
    }
    out
}

/// Where a sequence's image comes from.
#[derive(Debug, Clone, Copy)]
enum Src<'a> {
    /// `mkfs.xfs` with these options.
    Mkfs(&'a [&'a str]),
    /// A copy of this fixture.
    Fixture(&'a str),
}

fn run(src: Src, setup: fn(&Path), seed: u64) -> (u32, u32) {
    let (_d, img) = match src {
        Src::Mkfs(args) => mkfs_as(args, args.iter().any(|a| a.contains("agcount"))),
        Src::Fixture(name) => {
            let d = tempfile::tempdir().unwrap();
            let img = common::copy_fixture(name, d.path(), "xfs.img");
            (d, img)
        }
    };
    let args = src;
    let rmap = match src {
        Src::Mkfs(a) => a.iter().any(|o| o.contains("rmapbt=1")),
        Src::Fixture(_) => true,
    };
    // v4: this kernel mounts only v5, so its twin is a fresh v5 filesystem (the same paths,
    // the same answers) and ours is read back by our reader — and judged by xfs_repair. Its
    // configuration puts nothing on it first.
    let v4 = matches!(src, Src::Mkfs(a) if a.contains(&"crc=0"));
    let (_t, twin) = if v4 {
        let (t, p) = mkfs_as(&[], false);
        (Some(t), p)
    } else {
        with_kernel(&img, setup);
        let twin = img.with_file_name("twin.img");
        std::fs::copy(&img, &twin).unwrap();
        (None, twin)
    };
    let mut rng = Rng(seed);
    let (mut done, mut skipped) = (0, 0);
    for batch in 0..6 {
        let mut ops = Vec::new();
        with_kernel(&twin, |m| {
            for k in 0..40 {
                let op = pick(&mut rng, &tree_with(m, false), batch * 40 + k);
                let errno = kernel(m, &op);
                ops.push((op, errno));
            }
        });
        let dev: Dev = Arc::new(RawFile::open(&img, true).unwrap());
        let mut w = XfsWriter::open(dev).unwrap();
        let mut diverged = None;
        for (op, want) in &ops {
            let got = ours(&mut w, op);
            if got == -2 {
                // not written yet (refused whole): the kernel's change is undone on the twin below
                skipped += 1;
                diverged = Some(op.clone());
                break;
            }
            assert_eq!(got, *want, "{args:?} seed {seed:#x} batch {batch}: {op:?}");
            done += 1;
        }
        drop(w);
        repair_clean(&img);
        if rmap && (batch == 5 || diverged.is_some()) {
            common::xfs::judge_rmap(&img, &format!("{args:?} seed {seed:#x} batch {batch}"));
        }
        if let Some(op) = diverged {
            // the twin went on past a change we refuse: stop this sequence here
            eprintln!("{args:?} seed {seed:#x}: stopped at {op:?} (not written yet)");
            return (done, skipped);
        }
        let (mut a, mut b) = (Tree::new(), Tree::new());
        if v4 {
            a = reader_tree(&img);
        } else {
            with_kernel(&img, |m| a = tree(m));
        }
        with_kernel(&twin, |m| b = tree(m));
        assert_eq!(a, b, "{args:?} seed {seed:#x} batch {batch}");
    }
    // one line per sequence: a campaign stopped at any point says what it ran
    eprintln!("{args:?} seed {seed:#x}: {done} operations matched the kernel");
    (done, skipped)
}

/// Nothing before the sequence.
fn empty(_: &Path) {}

/// Files the sequence may write, shared by `cp --reflink=always`: its writes copy on write.
fn reflinked(m: &Path) {
    for (n, len) in [("r0", 300_000usize), ("r1", 5000)] {
        let data: Vec<u8> = (0..len).map(|i| (i * 13 + len) as u8).collect();
        std::fs::write(m.join(n), data).unwrap();
        for k in 0..2 {
            let st = std::process::Command::new("cp").arg("--reflink=always").arg(m.join(n)).arg(m.join(format!("{n}-c{k}"))).status().unwrap();
            assert!(st.success(), "cp --reflink");
        }
    }
}

/// Eighteen small AGs mostly full (preallocated files; about 20 MiB of 300 MiB left,
/// unevenly): new extents and inode chunks land wherever space remains.
fn nearly_full(m: &Path) {
    for k in 0..28 {
        let f = std::fs::File::create(m.join(format!("fill{k}"))).unwrap();
        // SAFETY: a valid open file descriptor.
        let r = unsafe { libc::fallocate(std::os::fd::AsRawFd::as_raw_fd(&f), 0, 0, (10 << 20) - (k << 16)) };
        assert_eq!(r, 0, "fallocate");
    }
}

/// A number from the environment, or `default`.
fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// The first seed of this run (`XFS_RANDOM_SEED_BASE`).
fn base() -> u64 {
    env_u64("XFS_RANDOM_SEED_BASE", 0)
}

/// The configurations: mkfs.xfs arguments and what the kernel puts on the image first.
const CONFIGS: [(&[&str], fn(&Path)); 5] = [
    (&[], empty),
    (&["-m", "crc=0"], empty),
    (&["-b", "size=1024"], empty),
    (&["-m", "reflink=1"], reflinked),
    (&["-d", "agcount=18"], nearly_full),
];

#[test]
fn random_sequences_match_the_kernel() {
    let seeds = env_u64("XFS_RANDOM_SEEDS", 1);
    let (mut done, mut skipped) = (0, 0);
    for (c, (args, setup)) in CONFIGS.into_iter().enumerate() {
        for s in base()..base() + seeds {
            let (d, k) = run(Src::Mkfs(args), setup, 0x51ed_270b_e9f3_a1c4 ^ (s * 0x9e37_79b9) ^ c as u64);
            done += d;
            skipped += k;
        }
    }
    eprintln!("{done} operations matched the kernel; {skipped} sequences stopped at a change not written yet");
    assert!(done > 200, "{done}");
}

/// The same on rmapbt filesystems: the fixtures (kernel-made multi-level rmapbts, reflinked
/// files, 1 KiB blocks in 8 AGs) and fresh images with and without reflink.
#[test]
fn random_sequences_on_rmapbt_match_the_kernel() {
    let seeds = env_u64("XFS_RANDOM_RMAP_SEEDS", 1);
    let (mut done, mut skipped, mut sequences) = (0, 0, 0);
    let srcs = [
        Src::Fixture("xfs-rmap/reflink.img"),
        Src::Fixture("xfs-rmap/noreflink.img"),
        Src::Fixture("xfs-rmap/1k-ag8.img"),
        Src::Mkfs(&["-m", "rmapbt=1,reflink=1"]),
        Src::Mkfs(&["-m", "rmapbt=1,reflink=0", "-b", "size=1024"]),
    ];
    for (n, src) in srcs.into_iter().enumerate() {
        for s in base()..base() + seeds {
            let (d, k) = run(src, empty, 0x7a3c_11e5_0b9d_2f61 ^ (s * 0x9e37_79b9) ^ (n as u64) << 40);
            done += d;
            skipped += k;
            sequences += 1;
        }
    }
    eprintln!("rmapbt: {sequences} sequences, {done} operations matched the kernel; {skipped} sequences stopped at a change not written yet");
    assert!(done > 200, "{done}");
}
