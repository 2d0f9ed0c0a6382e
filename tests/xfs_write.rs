//! Regular-file data writes, truncation and attribute changes (`XfsWriter::write`,
//! `truncate`, `chmod`, `chown`, `utimens`) on files the kernel made on loop-mounted fresh
//! `mkfs.xfs` images (empty, dense, a partial last block, sparse with holes, several extents
//! each fsynced apart): seeded random writes — overwrites, holes filled, appends past gaps —
//! and truncations down and up, mirrored into an in-memory model. After each batch
//! `xfs_repair -n` is clean and the kernel reads back exactly the model's bytes and stat (size,
//! mode, owner, times); a kernel twin — the same operations through the kernel on a copy —
//! holds the same content. 4 KiB and 1 KiB blocks, nrext64; v4 (which this kernel cannot
//! mount) judged by xfs_repair and by reading the blocks where xfs_db maps them. Maps move to
//! a bmap btree (one leaf, several, two levels; a kernel-made two-level tree rebuilt) and
//! back; unwritten extents are split as they are written. Reflinked blocks are copied on
//! write, against a kernel twin. Refused, nothing written (the image compared byte for byte):
//! a write that does not fit the free space.

mod common;

use common::xfs::{db, fields, mkfs, path_env, repair_clean, with_kernel};
use common::Rng;
use std::collections::BTreeMap;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use vguestfs::disk::{Dev, RawFile};
use vguestfs::fs::xfs::writer::XfsWriter;
use vguestfs::fs::{Errno, Error, Timespec};

fn open(img: &Path) -> XfsWriter {
    let dev: Dev = Arc::new(RawFile::open(img, true).expect("open image rw"));
    XfsWriter::open(dev).expect("XfsWriter::open")
}

fn gen(n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    (0..n).map(|_| r.next() as u8 | 1).collect()
}

fn run(cmd: &str, args: &[&str]) {
    let st = Command::new(cmd).env("PATH", path_env()).args(args).status().unwrap();
    assert!(st.success(), "{cmd} {args:?}");
}

/// Free space as xfs_db counts it — the free extents of every AG (`freesp -s`) plus the AGFL
/// and the free-space btree blocks beyond the roots — less the superblock's `fdblocks`
/// (xfs_repair does not judge a lazily counted superblock's counters): the kernel leaves a
/// small constant difference, which the writer must keep.
fn fdblocks_gap(img: &Path) -> i64 {
    let text = db(img, &["freesp -s"]);
    let total: u64 = text.lines().find_map(|l| l.strip_prefix("total free blocks ")).expect("freesp total").trim().parse().unwrap();
    let sb = fields(&db(img, &["sb 0", "p agcount fdblocks"]));
    let mut extra = 0;
    for a in 0..sb["agcount"].parse::<u32>().unwrap() {
        let f = fields(&db(img, &[&format!("agf {a}"), "p flcount btreeblks"]));
        extra += f["flcount"].parse::<u64>().unwrap() + f["btreeblks"].parse::<u64>().unwrap();
    }
    (total + extra) as i64 - sb["fdblocks"].parse::<i64>().unwrap()
}

/// What a file should be.
#[derive(Debug, Clone, PartialEq)]
struct Model {
    ino: u64,
    data: Vec<u8>,
    mode: u32,
    uid: u32,
    gid: u32,
    /// The modification time set by `utimens` (None: set by a write, checked as recent).
    mtime: Option<(i64, u32)>,
}

/// The kernel's files: empty, dense, a partial last block, sparse, blocks each fsynced apart
/// (one extent each), preallocated (unwritten extents, also past the end), one with an
/// attribute fork in the inode. Their models, by name.
fn kernel_files(img: &Path, bs: u64) -> BTreeMap<String, Model> {
    let mut out = BTreeMap::new();
    with_kernel(img, |m| {
        std::fs::write(m.join("empty"), b"").unwrap();
        std::fs::write(m.join("dense"), gen(100_000, 1)).unwrap();
        std::fs::write(m.join("tail"), gen(5000, 2)).unwrap();
        let sparse = m.join("sparse");
        run("xfs_io", &["-f", "-c", "pwrite -q -S 0x41 0 8k", "-c", "pwrite -q -S 0x42 1m 8k", "-c", "fsync", sparse.to_str().unwrap()]);
        let f = std::fs::File::create(m.join("multi")).unwrap();
        for i in 0..6 {
            f.write_all_at(&gen(bs as usize, 10 + i), 3 * i * bs).unwrap();
            f.sync_all().unwrap();
        }
        // Preallocated: unwritten extents inside the file and past its end.
        let pre = m.join("prealloc").to_str().unwrap().to_string();
        run("xfs_io", &["-f", "-c", "falloc 0 200k", "-c", "pwrite -q -S 0x43 50k 10k", "-c", "falloc -k 200k 100k", "-c", "fsync", &pre]);
        // A file with an attribute fork in the inode: a smaller data fork.
        std::fs::write(m.join("xattr"), gen(20_000, 3)).unwrap();
        let st = Command::new("python3").arg("-c").arg("import os,sys; os.setxattr(sys.argv[1], 'user.k', b'v' * 100)").arg(m.join("xattr")).status().unwrap();
        assert!(st.success(), "setxattr");
        for e in std::fs::read_dir(m).unwrap() {
            let e = e.unwrap();
            let md = e.metadata().unwrap();
            let data = std::fs::read(e.path()).unwrap();
            out.insert(e.file_name().into_string().unwrap(), Model { ino: md.ino(), data, mode: md.mode(), uid: md.uid(), gid: md.gid(), mtime: Some((md.mtime(), md.mtime_nsec() as u32)) });
        }
    });
    out
}

/// Asserts the kernel reads every file as its model says.
fn kernel_agrees(img: &Path, files: &BTreeMap<String, Model>, since: i64) {
    with_kernel(img, |m| {
        for (name, f) in files {
            let p = m.join(name);
            let md = std::fs::metadata(&p).unwrap();
            let data = std::fs::read(&p).unwrap();
            assert_eq!(md.len(), f.data.len() as u64, "{name}: size");
            assert!(data == f.data, "{name}: content differs from the model (first at {:?})", data.iter().zip(&f.data).position(|(a, b)| a != b));
            assert_eq!((md.ino(), md.mode(), md.uid(), md.gid()), (f.ino, f.mode, f.uid, f.gid), "{name}: ino, mode, uid, gid");
            match f.mtime {
                Some(t) => assert_eq!((md.mtime(), md.mtime_nsec() as u32), t, "{name}: mtime"),
                None => assert!(md.mtime() >= since && md.mtime() <= now_secs() + 1, "{name}: mtime {} not recent", md.mtime()),
            }
            assert!(md.ctime() >= since - 1, "{name}: ctime");
        }
    });
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// One operation of the random runs.
#[derive(Debug, Clone)]
enum Op {
    Write(String, u64, Vec<u8>),
    Truncate(String, u64),
    Chmod(String, u32),
    Chown(String, u32, u32),
    Utimens(String, i64, u32),
}

/// A random operation on one of `files` (writes near or past the end, holes, truncations).
fn random_op(r: &mut Rng, files: &BTreeMap<String, Model>, bs: u64, n: u64) -> Op {
    let names: Vec<&String> = files.keys().collect();
    let name = names[r.below(names.len() as u64) as usize].clone();
    let size = files[&name].data.len() as u64;
    match r.below(20) {
        0..=11 => {
            let off = match r.below(4) {
                0 => r.below(size + 1),
                1 => size,
                2 => size + r.below(40 * bs),
                _ => r.below(size + 1) / bs * bs,
            };
            let len = match r.below(5) {
                0 => 1 + r.below(100),
                1 => bs * (1 + r.below(4)),
                2 => 1 + r.below(300_000),
                _ => 1 + r.below(3 * bs),
            };
            Op::Write(name, off, gen(len as usize, n))
        }
        12..=15 => Op::Truncate(name, if r.below(3) == 0 { size + r.below(10 * bs) } else { r.below(size + 1) }),
        16 => Op::Chmod(name, r.below(0o10000) as u32),
        17 => Op::Chown(name, r.below(70_000) as u32, r.below(70_000) as u32),
        _ => Op::Utimens(name, r.below(1 << 31) as i64, r.below(1_000_000_000) as u32),
    }
}

/// A mode without set-user-ID, and without set-group-ID when group-executable: what chown
/// leaves of a file's, even as root (writes and truncations keep both for root).
fn drop_suid(mode: u32) -> u32 {
    let mode = mode & !0o4000;
    if mode & 0o010 != 0 { mode & !0o2000 } else { mode }
}

/// Applies `op` to the model.
fn apply(files: &mut BTreeMap<String, Model>, op: &Op) {
    match op {
        Op::Write(n, off, d) => {
            let f = files.get_mut(n).unwrap();
            let end = *off as usize + d.len();
            if f.data.len() < end {
                f.data.resize(end, 0);
            }
            f.data[*off as usize..end].copy_from_slice(d);
            f.mtime = None;
        }
        Op::Truncate(n, s) => {
            let f = files.get_mut(n).unwrap();
            if f.data.len() as u64 != *s {
                f.mtime = None;
            }
            f.data.resize(*s as usize, 0);
        }
        Op::Chmod(n, m) => {
            let f = files.get_mut(n).unwrap();
            f.mode = (f.mode & 0o170000) | m;
        }
        Op::Chown(n, u, g) => {
            let f = files.get_mut(n).unwrap();
            (f.uid, f.gid) = (*u, *g);
            f.mode = drop_suid(f.mode);
        }
        Op::Utimens(n, s, ns) => files.get_mut(n).unwrap().mtime = Some((*s, *ns)),
    }
}

/// `op` through the writer: true if done, false if refused as the extent list overflowing
/// the inode (nothing changed then).
fn writer_op(w: &mut XfsWriter, files: &BTreeMap<String, Model>, op: &Op) -> bool {
    let r = match op {
        Op::Write(n, off, d) => w.write(files[n].ino, *off, d),
        Op::Truncate(n, s) => w.truncate(files[n].ino, *s),
        Op::Chmod(n, m) => w.chmod(files[n].ino, *m as u16),
        Op::Chown(n, u, g) => w.chown(files[n].ino, Some(*u), Some(*g)),
        Op::Utimens(n, s, ns) => {
            let t = Timespec { sec: *s, nsec: *ns };
            w.utimens(files[n].ino, Some(t), Some(t))
        }
    };
    match r {
        Ok(()) => true,
        Err(Error::Unsupported { feature, .. }) if feature.contains("more than its data fork holds") => false,
        Err(e) => panic!("{op:?}: {e}"),
    }
}

/// `op` through the kernel on the mounted twin at `m`.
fn kernel_op(m: &Path, op: &Op) {
    match op {
        Op::Write(n, off, d) => std::fs::OpenOptions::new().write(true).open(m.join(n)).unwrap().write_all_at(d, *off).unwrap(),
        Op::Truncate(n, s) => {
            // truncate(2), as the writer: times set only when the size changes (ftruncate(2)
            // sets them always).
            let p = std::ffi::CString::new(m.join(n).into_os_string().into_encoded_bytes()).unwrap();
            assert_eq!(unsafe { libc::truncate(p.as_ptr(), *s as libc::off_t) }, 0, "truncate {n}");
        }
        Op::Chmod(n, md) => std::fs::set_permissions(m.join(n), std::fs::Permissions::from_mode(*md)).unwrap(),
        Op::Chown(n, u, g) => std::os::unix::fs::chown(m.join(n), Some(*u), Some(*g)).unwrap(),
        Op::Utimens(n, s, ns) => {
            let t = std::time::UNIX_EPOCH + std::time::Duration::new(*s as u64, *ns);
            let f = std::fs::File::options().write(true).open(m.join(n)).unwrap();
            f.set_times(std::fs::FileTimes::new().set_accessed(t).set_modified(t)).unwrap();
        }
    }
}

/// Random writes, truncations and attribute changes in `batches` of `per` operations on the
/// kernel's files of a `mkfs.xfs ARGS` image with `bs`-byte blocks, judged after each batch;
/// then the kernel twin. Returns (done, refused, how many times a file was found in btree
/// format after a batch).
fn random_run(args: &[&str], bs: u64, seed: u64, batches: usize, per: usize) -> (usize, usize, usize) {
    let (dir, img) = mkfs(args);
    let since = now_secs();
    let mut files = kernel_files(&img, bs);
    let twin: PathBuf = dir.path().join("twin.img");
    run("cp", &["--sparse=always", img.to_str().unwrap(), twin.to_str().unwrap()]);
    let mut r = Rng(seed);
    let gap = fdblocks_gap(&img);
    let (mut done, mut refused, mut btree) = (0, 0, 0);
    let mut ops = Vec::new();
    for b in 0..batches {
        let mut w = open(&img);
        for k in 0..per {
            let op = random_op(&mut r, &files, bs, (b * per + k) as u64 + seed);
            if writer_op(&mut w, &files, &op) {
                apply(&mut files, &op);
                ops.push(op);
                done += 1;
            } else {
                refused += 1;
            }
        }
        drop(w);
        repair_clean(&img);
        assert_eq!(fdblocks_gap(&img), gap, "superblock fdblocks against the free space counted");
        kernel_agrees(&img, &files, since);
        btree += files.values().filter(|f| fields(&db(&img, &[&format!("inode {}", f.ino), "p core.format"]))["core.format"] == "3 (btree)").count();
    }
    with_kernel(&twin, |m| ops.iter().for_each(|op| kernel_op(m, op)));
    kernel_agrees(&twin, &files, since);
    (done, refused, btree)
}

#[test]
fn random_writes_4k() {
    let (done, refused, btree) = random_run(&[], 4096, 0x5eed_0004, 4, 60);
    eprintln!("4k: {done} operations done, {refused} refused (extent list full), {btree} files in btree format after a batch");
    assert!(done >= 200 && btree > 0, "{done} done, {btree} in btree format");
}

#[test]
fn random_writes_nrext64() {
    // 64-bit extent counters (`di_big_nextents`).
    let (done, refused, btree) = random_run(&["-i", "nrext64=1"], 4096, 0x5eed_0064, 3, 60);
    eprintln!("nrext64: {done} operations done, {refused} refused (extent list full), {btree} files in btree format after a batch");
    assert!(done >= 150 && btree > 0, "{done} done, {btree} in btree format");
}

#[test]
fn random_writes_1k() {
    let (done, refused, btree) = random_run(&["-b", "size=1024"], 1024, 0x5eed_0001, 4, 60);
    eprintln!("1k: {done} operations done, {refused} refused (extent list full), {btree} files in btree format after a batch");
    assert!(done >= 200 && btree > 0, "{done} done, {btree} in btree format");
}

/// Inode `ino`'s extent records as xfs_db's `bmap` prints them: (file block, block, count).
fn bmap(img: &Path, ino: u64) -> Vec<(u64, u64, u64)> {
    let text = db(img, &[&format!("inode {ino}"), "bmap"]);
    text.lines()
        .filter_map(|l| {
            // data offset 0 startblock 24 (0/24) count 256 flag 0
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() >= 9 && w[0] == "data").then(|| (w[2].parse().unwrap(), w[4].parse().unwrap(), w[7].parse().unwrap()))
        })
        .collect()
}

#[test]
fn placement_is_contiguous_and_merges() {
    let (_dir, img) = mkfs(&[]);
    let files = kernel_files(&img, 4096);
    let ino = files["empty"].ino;
    let mut w = open(&img);
    let free0 = w.fdblocks();
    w.write(ino, 0, &gen(1 << 20, 7)).unwrap();
    // An append right after: the next blocks are free, so the one extent grows.
    w.write(ino, 1 << 20, &gen(10_000, 8)).unwrap();
    let blocks = (1u64 << 20).div_ceil(4096) + 3;
    assert_eq!(free0 - w.fdblocks(), blocks);
    drop(w);
    let m = bmap(&img, ino);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!((m[0].0, m[0].2), (0, blocks));
    let c = fields(&db(&img, &[&format!("inode {ino}"), "p core.nblocks core.nextents core.size"]));
    assert_eq!((c["core.nblocks"].as_str(), c["core.nextents"].as_str()), (blocks.to_string().as_str(), "1"));
    repair_clean(&img);
    let mut data = gen(1 << 20, 7);
    data.extend(gen(10_000, 8));
    with_kernel(&img, |m| assert!(std::fs::read(m.join("empty")).unwrap() == data));
}

/// A sparse copy of `img` for comparing after a refused operation.
fn snapshot(img: &Path, tag: &str) -> PathBuf {
    let p = img.with_extension(tag);
    run("cp", &["--sparse=always", img.to_str().unwrap(), p.to_str().unwrap()]);
    p
}

fn unchanged(img: &Path, before: &Path) {
    run("cmp", &["-s", img.to_str().unwrap(), before.to_str().unwrap()]);
}

#[test]
fn grows_a_taller_btree_and_back() {
    let (_dir, img) = mkfs(&["-b", "size=1024"]);
    let mut inos = BTreeMap::new();
    with_kernel(&img, |m| {
        std::fs::write(m.join("grow"), b"g").unwrap();
        // A big attribute in the inode: a data fork of 4 records or 4 btree pointers.
        let st = Command::new("python3").arg("-c").arg("import os,sys; os.setxattr(sys.argv[1], 'user.k', b'v' * 250)").arg(m.join("grow")).status().unwrap();
        assert!(st.success(), "setxattr");
        std::fs::create_dir(m.join("dir")).unwrap();
        for n in ["grow", "dir"] {
            inos.insert(n, std::fs::metadata(m.join(n)).unwrap().ino());
        }
    });
    let before = snapshot(&img, "snap1");
    let mut w = open(&img);
    assert!(matches!(w.write(inos["dir"], 0, b"d"), Err(Error::Os(Errno::IsDir))));
    // Every other block past the end: one extent each; the map moves to a btree whose root
    // (4 pointers) soon holds no more leaves (59 records each): a second level.
    let k = 400;
    let mut want = b"g".to_vec();
    for j in 1..=k {
        w.write(inos["grow"], 2 * j * 1024, b"z").unwrap();
        want.resize(2 * j as usize * 1024, 0);
        want.push(b'z');
    }
    let fd = w.fdblocks();
    drop(w);
    let c = fields(&db(&img, &[&format!("inode {}", inos["grow"]), "p core.format core.nextents core.nblocks u3.bmbt.level"]));
    assert_eq!((c["core.format"].as_str(), c["core.nextents"].as_str(), c["u3.bmbt.level"].as_str()), ("3 (btree)", "401", "2"), "{c:?}");
    // Data blocks, 7 leaves of at least half of 59 records, and one interior block.
    assert_eq!(c["core.nblocks"], (401 + 401usize.div_ceil(59) + 1).to_string());
    repair_clean(&img);
    assert_eq!(fdblocks_gap(&img), fdblocks_gap(&before));
    with_kernel(&img, |m| assert!(std::fs::read(m.join("grow")).unwrap() == want));
    // Down to the first block again.
    let mut w = open(&img);
    assert_eq!(w.fdblocks(), fd);
    w.truncate(inos["grow"], 1).unwrap();
    drop(w);
    repair_clean(&img);
    let c = fields(&db(&img, &[&format!("inode {}", inos["grow"]), "p core.format core.nextents core.nblocks core.size"]));
    assert_eq!((c["core.nextents"].as_str(), c["core.nblocks"].as_str(), c["core.size"].as_str()), ("1", "1", "1"));
    assert_eq!(c["core.format"], "2 (extents)");
    // The extents past the end freed, the rest as before: the free space and the other
    // files' bytes are the same (the inode's times differ).
    let s0 = fields(&db(&before, &["sb 0", "p fdblocks"]));
    let s1 = fields(&db(&img, &["sb 0", "p fdblocks"]));
    assert_eq!(s0, s1);
}

/// Copy-on-write: reflinked files (`cp --reflink=always` by the kernel) written, zeroed past
/// their end and truncated by the writer, and the same operations by the kernel on a twin:
/// only the changed blocks are unshared (the other owner keeps its bytes), xfs_repair (which
/// recomputes every reference count) is clean after each batch, and the kernel reads the
/// same bytes from both images, with the same free space.
#[test]
fn reflinked_blocks_are_copied_on_write() {
    let (dir, img) = mkfs(&["-m", "reflink=1"]);
    let (a, c) = (gen(40_000, 3), gen(50_000, 4));
    let mut inos = BTreeMap::new();
    with_kernel(&img, |m| {
        std::fs::write(m.join("a"), &a).unwrap();
        run("cp", &["--reflink=always", m.join("a").to_str().unwrap(), m.join("b").to_str().unwrap()]);
        std::fs::write(m.join("c"), &c).unwrap();
        run("cp", &["--reflink=always", m.join("c").to_str().unwrap(), m.join("d").to_str().unwrap()]);
        for n in ["a", "b", "c", "d"] {
            inos.insert(n, std::fs::metadata(m.join(n)).unwrap().ino());
        }
    });
    let twin = dir.path().join("twin.img");
    run("cp", &["--sparse=always", img.to_str().unwrap(), twin.to_str().unwrap()]);
    enum Op {
        Write(&'static str, u64, Vec<u8>),
        Truncate(&'static str, u64),
    }
    let batches = [
        // Into the first shared block; across the shared last block and past the end.
        vec![Op::Write("b", 100, b"cow".to_vec()), Op::Write("b", 39_000, vec![7; 5000])],
        // Down into a shared block (its tail keeps a's bytes), then a write past a gap: the
        // tail must read as zeros, so that block is unshared too; c grows over a zero tail.
        vec![Op::Truncate("b", 10_000), Op::Write("b", 20_000, b"x".to_vec()), Op::Truncate("c", 60_000)],
        // The other owner's side: a's second block is still shared with b; d grows past its
        // shared last block, whose tail holds zeros; a whole shared extent overwritten.
        vec![Op::Write("a", 4096, b"still shared".to_vec()), Op::Truncate("d", 70_000), Op::Write("d", 0, vec![9; 50_000])],
    ];
    let bytes = |img: &Path| {
        let mut out = BTreeMap::new();
        with_kernel(img, |m| {
            for n in ["a", "b", "c", "d"] {
                out.insert(n, std::fs::read(m.join(n)).unwrap());
            }
        });
        out
    };
    for (k, ops) in batches.iter().enumerate() {
        let mut w = open(&img);
        for op in ops {
            match op {
                Op::Write(n, off, d) => w.write(inos[n], *off, d),
                Op::Truncate(n, size) => w.truncate(inos[n], *size),
            }
            .unwrap_or_else(|e| panic!("batch {k}: {e}"));
        }
        drop(w);
        repair_clean(&img);
        with_kernel(&twin, |m| {
            for op in ops {
                let f = |n: &str| std::fs::OpenOptions::new().write(true).open(m.join(n)).unwrap();
                match op {
                    Op::Write(n, off, d) => f(n).write_all_at(d, *off).unwrap(),
                    Op::Truncate(n, size) => f(n).set_len(*size).unwrap(),
                }
            }
        });
        assert!(bytes(&img) == bytes(&twin), "batch {k}: file contents differ from the kernel twin");
        let free = |i: &Path| fields(&db(i, &["sb 0", "p fdblocks"]))["fdblocks"].clone();
        assert_eq!(free(&img), free(&twin), "batch {k}: free blocks");
    }
    // Nothing past the copies: the first file keeps its own bytes where b was written.
    let got = bytes(&img);
    assert!(got["a"][..100] == a[..100] && got["a"][100..103] == a[100..103] && got["b"][100..103] == *b"cow");
}

#[test]
fn attributes_and_timestamps() {
    for (args, bigtime) in [(&["-m", "bigtime=1"][..], true), (&["-m", "bigtime=0"][..], false)] {
        let (_dir, img) = mkfs(args);
        let mut inos = BTreeMap::new();
        with_kernel(&img, |m| {
            std::fs::write(m.join("f"), b"f").unwrap();
            std::fs::create_dir(m.join("d")).unwrap();
            std::os::unix::fs::symlink("f", m.join("l")).unwrap();
            for n in ["f", "d", "l"] {
                inos.insert(n, std::fs::symlink_metadata(m.join(n)).unwrap().ino());
            }
        });
        let since = now_secs();
        let mut w = open(&img);
        w.chmod(inos["f"], 0o6755).unwrap();
        w.chown(inos["f"], Some(1000), None).unwrap();
        w.chmod(inos["d"], 0o2775).unwrap();
        w.chown(inos["d"], None, Some(77)).unwrap();
        w.chown(inos["l"], Some(5), Some(6)).unwrap();
        let late = Timespec { sec: 4_000_000_000, nsec: 123_456_789 };
        let early = Timespec { sec: -1_000_000, nsec: 5 };
        w.utimens(inos["f"], Some(early), Some(late)).unwrap();
        w.utimens(inos["d"], None, Some(early)).unwrap();
        drop(w);
        repair_clean(&img);
        with_kernel(&img, |m| {
            let f = std::fs::metadata(m.join("f")).unwrap();
            // chown drops set-user-ID and (group-executable) set-group-ID.
            assert_eq!((f.mode(), f.uid(), f.gid()), (0o100755, 1000, 0));
            assert_eq!((f.atime(), f.atime_nsec()), (-1_000_000, 5));
            let want = if bigtime { 4_000_000_000 } else { i64::from(i32::MAX) };
            assert_eq!((f.mtime(), f.mtime_nsec()), (want, 123_456_789), "bigtime {bigtime}");
            assert!(f.ctime() >= since);
            let d = std::fs::metadata(m.join("d")).unwrap();
            assert_eq!((d.mode(), d.uid(), d.gid()), (0o42775, 0, 77));
            assert_eq!((d.mtime(), d.mtime_nsec()), (-1_000_000, 5));
            let l = std::fs::symlink_metadata(m.join("l")).unwrap();
            assert_eq!((l.uid(), l.gid(), l.mode()), (5, 6, 0o120777));
        });
        // Through the inode core as xfs_db sees it: a change counted per operation (v5).
        let c = fields(&db(&img, &[&format!("inode {}", inos["f"]), "p v3.change_count"]));
        assert!(c["v3.change_count"].parse::<u64>().unwrap() >= 4, "{c:?}");
    }
}

/// File `ino`'s bytes read through xfs_db's block map and the image itself (unwritten extents
/// and holes as zeros): the judge where the kernel cannot mount (v4).
fn db_content(img: &Path, ino: u64, size: u64, bs: u64) -> Vec<u8> {
    let agblocks: u64 = fields(&db(img, &["sb 0", "p agblocks"]))["agblocks"].parse().unwrap();
    let text = db(img, &[&format!("inode {ino}"), "bmap"]);
    let f = std::fs::File::open(img).unwrap();
    let mut out = vec![0u8; size as usize];
    for l in text.lines() {
        // data offset 0 startblock 24 (0/24) count 256 flag 0
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() < 10 || w[0] != "data" || w[9] != "0" {
            continue;
        }
        let (off, count): (u64, u64) = (w[2].parse().unwrap(), w[7].parse().unwrap());
        let (agno, agbno) = w[5].trim_matches(|c| c == '(' || c == ')').split_once('/').unwrap();
        let disk = (agno.parse::<u64>().unwrap() * agblocks + agbno.parse::<u64>().unwrap()) * bs;
        let (from, to) = ((off * bs).min(size), ((off + count) * bs).min(size));
        f.read_exact_at(&mut out[from as usize..to as usize], disk).unwrap();
    }
    out
}

#[test]
fn random_writes_v4() {
    // The kernel cannot mount v4: files made by the writer in the root, judged by xfs_repair
    // and by reading their blocks where xfs_db maps them.
    let (_dir, img) = mkfs(&["-m", "crc=0", "-b", "size=2048"]);
    let mut w = open(&img);
    let root = w.superblock().rootino;
    let mut files = BTreeMap::new();
    for (k, name) in ["a", "b", "c"].into_iter().enumerate() {
        let ino = w.create(root, name.as_bytes(), 0o100644, k as u32, 7, ).unwrap();
        files.insert(name.to_string(), Model { ino, data: Vec::new(), mode: 0o100644, uid: k as u32, gid: 7, mtime: None });
    }
    let mut r = Rng(0x5eed_0044);
    let (mut done, mut refused) = (0, 0);
    for b in 0..3 {
        for k in 0..40 {
            let op = random_op(&mut r, &files, 2048, (b * 40 + k) as u64);
            if writer_op(&mut w, &files, &op) {
                apply(&mut files, &op);
                done += 1;
            } else {
                refused += 1;
            }
        }
        drop(w);
        repair_clean(&img);
        for (name, f) in &files {
            let c = fields(&db(&img, &[&format!("inode {}", f.ino), "p core.size core.mode core.uid core.gid core.mtime.sec core.mtime.nsec"]));
            assert_eq!(c["core.size"], f.data.len().to_string(), "{name}: size");
            assert_eq!(c["core.mode"], format!("0{:o}", f.mode), "{name}: mode");
            assert_eq!((c["core.uid"].as_str(), c["core.gid"].as_str()), (f.uid.to_string().as_str(), f.gid.to_string().as_str()), "{name}");
            if let Some((s, ns)) = f.mtime {
                assert_eq!(c["core.mtime.nsec"], ns.to_string(), "{name}: mtime {c:?} want {s}");
            }
            assert!(db_content(&img, f.ino, f.data.len() as u64, 2048) == f.data, "{name}: content");
        }
        w = open(&img);
    }
    eprintln!("v4: {done} operations done, {refused} refused (extent list full)");
    assert!(done >= 100, "{done} done");
}

#[test]
fn kernel_btree_rewritten() {
    // A file the kernel gave a bmap btree of two levels (1 KiB blocks, a big attribute leaving
    // the root four pointers): overwrites of mapped blocks, growth inside them, filling holes,
    // appends and truncation down rebuild its tree; judged by xfs_repair and the kernel.
    let (_dir, img) = mkfs(&["-b", "size=1024"]);
    let mut ino = 0;
    let mut data = Vec::new();
    with_kernel(&img, |m| {
        let f = std::fs::File::create(m.join("frag")).unwrap();
        let st = Command::new("python3").arg("-c").arg("import os,sys; os.setxattr(sys.argv[1], 'user.k', b'v' * 250)").arg(m.join("frag")).status().unwrap();
        assert!(st.success(), "setxattr");
        for i in 0..150u64 {
            f.write_all_at(&gen(1024, i), 2 * i * 1024).unwrap();
            f.sync_all().unwrap();
        }
        f.set_len(2 * 149 * 1024 + 100).unwrap();
        ino = std::fs::metadata(m.join("frag")).unwrap().ino();
        data = std::fs::read(m.join("frag")).unwrap();
    });
    let c = fields(&db(&img, &[&format!("inode {ino}"), "p core.format u3.bmbt.level"]));
    assert_eq!((c["core.format"].as_str(), c["u3.bmbt.level"].as_str()), ("3 (btree)", "2"), "{c:?}");
    let mut w = open(&img);
    let put = |data: &mut Vec<u8>, off: usize, d: &[u8]| {
        data.resize(data.len().max(off + d.len()), 0);
        data[off..off + d.len()].copy_from_slice(d);
    };
    for (off, len) in [(0usize, 1024usize), (10 * 1024 + 5, 1000), (2 * 149 * 1024 + 50, 900)] {
        let d = gen(len, off as u64 + 99);
        w.write(ino, off as u64, &d).unwrap();
        put(&mut data, off, &d);
    }
    for (off, len) in [(1024usize, 10usize), (2 * 150 * 1024, 5000), (20 * 1024 + 7, 30 * 1024)] {
        let d = gen(len, off as u64 + 7);
        w.write(ino, off as u64, &d).unwrap();
        put(&mut data, off, &d);
    }
    w.truncate(ino, 200 * 1024 + 3).unwrap();
    data.truncate(200 * 1024 + 3);
    drop(w);
    repair_clean(&img);
    with_kernel(&img, |m| assert!(std::fs::read(m.join("frag")).unwrap() == data));
    let mut w = open(&img);
    w.truncate(ino, 4 << 20).unwrap();
    data.resize(4 << 20, 0);
    drop(w);
    repair_clean(&img);
    with_kernel(&img, |m| assert!(std::fs::read(m.join("frag")).unwrap() == data));
}

#[test]
fn out_of_space_writes_nothing() {
    // Nearly all space preallocated by the kernel; a write needing more than what is left
    // fails with ENOSPC and writes nothing; one that fits goes where the space is.
    let (_dir, img) = mkfs(&[]);
    let mut ino = 0;
    with_kernel(&img, |m| {
        std::fs::write(m.join("f"), b"small").unwrap();
        ino = std::fs::metadata(m.join("f")).unwrap().ino();
        let out = Command::new("df").args(["-B1", "--output=avail"]).arg(m).output().unwrap();
        let avail: u64 = String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap();
        run("fallocate", &["-l", &(avail - (4 << 20)).to_string(), m.join("big").to_str().unwrap()]);
    });
    let before = snapshot(&img, "snap5");
    let mut w = open(&img);
    let free = w.fdblocks() * 4096;
    let too_much = gen((free + (1 << 20)) as usize, 5);
    assert!(matches!(w.write(ino, 0, &too_much), Err(Error::Os(Errno::NoSpace))));
    drop(w);
    unchanged(&img, &before);
    let mut w = open(&img);
    let fits = gen((free / 2) as usize, 6);
    w.write(ino, 5, &fits).unwrap();
    drop(w);
    repair_clean(&img);
    let mut want = b"small".to_vec();
    want.extend(&fits);
    with_kernel(&img, |m| assert!(std::fs::read(m.join("f")).unwrap() == want));
}

#[test]
fn random_writes_more_seeds() {
    // More seeds, fewer operations each (XFS_WRITE_SEEDS=N runs N of them).
    let n: u64 = std::env::var("XFS_WRITE_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    for seed in 0..n {
        let bs = if seed % 2 == 0 { 4096 } else { 1024 };
        let args: &[&str] = if bs == 4096 { &[] } else { &["-b", "size=1024"] };
        let (done, refused, btree) = random_run(args, bs, 0xabc0_0000 + seed, 2, 50);
        eprintln!("seed {seed}: {done} done, {refused} refused, {btree} in btree format");
    }
}

#[test]
fn fragmenting_writes_split_leaves() {
    // Scattered small writes on 1 KiB blocks: the map moves to a bmbt leaf (59 records) and
    // on to several; truncation brings it back into the inode.
    let (_dir, img) = mkfs(&["-b", "size=1024"]);
    let mut files = kernel_files(&img, 1024);
    let since = now_secs() - 1;
    let f = files.get_mut("empty").unwrap();
    let mut w = open(&img);
    let mut r = Rng(0xf4a6);
    let mut refused = 0;
    for k in 0..200 {
        let off = r.below(2000) * 1024 + r.below(1000);
        let d = gen(1 + r.below(30) as usize, k);
        let op = Op::Write("empty".into(), off, d.clone());
        let one: BTreeMap<String, Model> = [("empty".to_string(), f.clone())].into();
        if writer_op(&mut w, &one, &op) {
            let mut m = one;
            apply(&mut m, &op);
            *f = m.remove("empty").unwrap();
        } else {
            refused += 1;
        }
    }
    assert_eq!(refused, 0);
    let ino = f.ino;
    drop(w);
    repair_clean(&img);
    kernel_agrees(&img, &files, since);
    let c = fields(&db(&img, &[&format!("inode {ino}"), "p core.format core.nextents u3.bmbt.numrecs"]));
    assert_eq!(c["core.format"], "3 (btree)");
    let leaves: u32 = c["u3.bmbt.numrecs"].parse().unwrap();
    assert!(leaves >= 3, "{c:?}");
    // Down to half: fewer leaves, the surplus freed.
    let mut w = open(&img);
    w.truncate(ino, 1000 * 1024).unwrap();
    drop(w);
    files.get_mut("empty").unwrap().data.truncate(1000 * 1024);
    files.get_mut("empty").unwrap().mtime = None;
    repair_clean(&img);
    kernel_agrees(&img, &files, since);
    let c = fields(&db(&img, &[&format!("inode {ino}"), "p core.format u3.bmbt.numrecs"]));
    assert!(c["u3.bmbt.numrecs"].parse::<u32>().unwrap() < leaves, "{c:?}");
    let mut w = open(&img);
    w.truncate(ino, 20 * 1024).unwrap();
    drop(w);
    files.get_mut("empty").unwrap().data.truncate(20 * 1024);
    files.get_mut("empty").unwrap().mtime = None;
    repair_clean(&img);
    kernel_agrees(&img, &files, since);
    let c = fields(&db(&img, &[&format!("inode {ino}"), "p core.format"]));
    assert_eq!(c["core.format"], "2 (extents)");
}

#[test]
fn unwritten_extents_split_as_written() {
    // A write into the middle of a preallocated extent: written blocks in the middle,
    // unwritten on both sides (three records); filling the rest merges them back into one.
    let (_dir, img) = mkfs(&[]);
    let mut ino = 0;
    with_kernel(&img, |m| {
        let p = m.join("pre");
        run("xfs_io", &["-f", "-c", "falloc 0 64k", "-c", "fsync", p.to_str().unwrap()]);
        ino = std::fs::metadata(&p).unwrap().ino();
    });
    let flags = |img: &Path| -> Vec<(u64, u64, String)> {
        let text = db(img, &[&format!("inode {ino}"), "bmap"]);
        text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).filter(|w| w.len() >= 10 && w[0] == "data").map(|w| (w[2].parse().unwrap(), w[7].parse().unwrap(), w[9].to_string())).collect()
    };
    assert_eq!(flags(&img), vec![(0, 16, "1".to_string())]);
    let mut w = open(&img);
    w.write(ino, 20_000, b"in the middle").unwrap();
    drop(w);
    repair_clean(&img);
    assert_eq!(flags(&img), vec![(0, 4, "1".into()), (4, 1, "0".into()), (5, 11, "1".into())]);
    let mut want = vec![0u8; 65536];
    want[20_000..20_013].copy_from_slice(b"in the middle");
    with_kernel(&img, |m| assert!(std::fs::read(m.join("pre")).unwrap() == want));
    let mut w = open(&img);
    let all = gen(65536, 77);
    w.write(ino, 0, &all).unwrap();
    drop(w);
    repair_clean(&img);
    assert_eq!(flags(&img), vec![(0, 16, "0".into())]);
    with_kernel(&img, |m| assert!(std::fs::read(m.join("pre")).unwrap() == all));
}
