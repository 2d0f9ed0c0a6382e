//! XFS inode allocation (`XfsWriter::alloc_inode`/`init_inode`/`free_inode`: inode chunks,
//! sparse chunks, the inobt and finobt through the generic AG btree writer, AGI and superblock
//! counters) judged by xfsprogs on fresh `mkfs.xfs` images of several configurations: while
//! inodes are allocated (they belong to no directory, so xfs_repair would call them
//! disconnected) `xfs_db -r` reads back the inode cores, the AGI, the superblock counters and
//! every inobt/finobt record, compared with the writer's model; once every inode is freed
//! again `xfs_repair -n` judges the whole filesystem (chunks removed, their blocks and the
//! btrees' blocks back in free space, counters).

mod common;

use common::xfs::{db, db_ls, fields, mkfs, path_env, repair_clean, with_kernel};
use common::Rng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use vguestfs::disk::{Dev, RawFile};
use vguestfs::fs::xfs::ialloc::InoRec;
use vguestfs::fs::xfs::inode::NewInode;
use vguestfs::fs::xfs::writer::XfsWriter;
use vguestfs::fs::{Error, Timespec};

fn open(img: &Path) -> XfsWriter {
    let dev: Dev = Arc::new(RawFile::open(img, true).expect("open image rw"));
    XfsWriter::open(dev).expect("XfsWriter::open")
}

/// The `N:[a,b,…]` records of an xfs_db print, as numbers.
fn recs_of(text: &str) -> Vec<Vec<u64>> {
    let mut out = Vec::new();
    for part in text.split(":[").skip(1) {
        let inner = part.split(']').next().unwrap_or("");
        let nums: Vec<u64> =
            inner.split(',').map(|w| w.trim()).map(|w| if let Some(h) = w.strip_prefix("0x") { u64::from_str_radix(h, 16).unwrap() } else { w.parse().unwrap() }).collect();
        out.push(nums);
    }
    out
}

/// Every record of the inobt (or finobt) of AG `agno` as xfs_db reads it, walking the tree
/// from the AGI root through each `ptrs[i]`; each record as (startino, holemask, count,
/// freecount, free) (non-sparse records: holemask 0, count 64).
fn db_inobt(img: &Path, agno: u32, fino: bool) -> Vec<InoRec> {
    let root = if fino { "free_root" } else { "root" };
    let mut out = Vec::new();
    let mut stack: Vec<Vec<u32>> = vec![vec![]];
    while let Some(path) = stack.pop() {
        let mut cmds = vec![format!("agi {agno}"), format!("addr {root}")];
        cmds.extend(path.iter().map(|i| format!("addr ptrs[{i}]")));
        cmds.push("p".into());
        let cmds: Vec<&str> = cmds.iter().map(String::as_str).collect();
        let text = db(img, &cmds);
        let f = fields(&text);
        let level: u32 = f["level"].parse().unwrap();
        let n: u32 = f["numrecs"].parse().unwrap();
        if level > 0 {
            for i in (1..=n).rev() {
                let mut p = path.clone();
                p.push(i);
                stack.push(p);
            }
            continue;
        }
        let sparse = text.contains("[startino,holemask,count,freecount,free]");
        for r in recs_of(text.split_once("recs[").map_or("", |x| x.1)) {
            out.push(if sparse {
                InoRec { startino: r[0] as u32, holemask: r[1] as u16, count: r[2] as u8, freecount: r[3] as u8, free: r[4] }
            } else {
                InoRec { startino: r[0] as u32, holemask: 0, count: 64, freecount: r[1] as u8, free: r[2] }
            });
        }
    }
    out
}

/// What the test allocated: inode → what it was made.
struct Model {
    img: PathBuf,
    inodes: BTreeMap<u64, NewInode>,
    icount0: u64,
    ifree0: u64,
    agcount: u32,
    now: Timespec,
}

impl Model {
    fn new(img: &Path, w: &XfsWriter) -> Model {
        let sb = fields(&db(img, &["sb 0", "p icount ifree"]));
        let (icount0, ifree0) = (sb["icount"].parse().unwrap(), sb["ifree"].parse().unwrap());
        assert_eq!(w.inode_counts(), (icount0, ifree0));
        Model { img: img.to_path_buf(), inodes: BTreeMap::new(), icount0, ifree0, agcount: w.superblock().agcount, now: Timespec { sec: 1_767_323_045, nsec: 123_456_789 } }
    }

    fn alloc(&mut self, w: &mut XfsWriter, parent: u64, kind: u32) -> u64 {
        let mode = [0o100644, 0o40755, 0o120777, 0o20600][kind as usize % 4];
        let ino = w.alloc_inode(parent, mode).unwrap_or_else(|e| panic!("alloc_inode {parent}: {e}"));
        assert!(!self.inodes.contains_key(&ino), "inode {ino} allocated twice");
        let n = self.inodes.len() as u32;
        let new = match kind {
            1 => NewInode { mode: 0o40755, uid: n, gid: 100, rdev: 0, parent, target: vec![] },
            2 => NewInode { mode: 0o120777, uid: 0, gid: 0, rdev: 0, parent: 0, target: format!("target-{n}").into_bytes() },
            3 => NewInode { mode: 0o20600, uid: 0, gid: 6, rdev: vguestfs::fs::makedev(8, 16 + n % 8), parent: 0, target: vec![] },
            _ => NewInode { mode: 0o100644, uid: 1000 + n, gid: 100, rdev: 0, parent: 0, target: vec![] },
        };
        w.init_inode(ino, &new, self.now).unwrap_or_else(|e| panic!("init_inode {ino}: {e}"));
        self.inodes.insert(ino, new);
        ino
    }

    fn free(&mut self, w: &mut XfsWriter, ino: u64) {
        self.inodes.remove(&ino).unwrap();
        w.free_inode(ino).unwrap_or_else(|e| panic!("free_inode {ino}: {e}"));
    }

    /// xfs_db against the writer and the model: superblock and AGI counters, every inobt and
    /// finobt record, and the cores of `sample` allocated inodes.
    fn check(&self, w: &mut XfsWriter, sample: usize, what: &str) -> u32 {
        let sb = fields(&db(&self.img, &["sb 0", "p icount ifree"]));
        let (ic, ifr) = w.inode_counts();
        assert_eq!((sb["icount"].parse::<u64>().unwrap(), sb["ifree"].parse::<u64>().unwrap()), (ic, ifr), "{what}: sb icount/ifree");
        assert_eq!(ic - ifr, self.icount0 - self.ifree0 + self.inodes.len() as u64, "{what}: inodes in use");
        let mut levels = 0;
        for agno in 0..self.agcount {
            let ours = w.inode_chunks(agno).unwrap_or_else(|e| panic!("{what}: AG {agno}: {e}"));
            let agi = fields(&db(&self.img, &[&format!("agi {agno}"), "p"]));
            assert!(!w.superblock().crc || agi["crc"].contains("correct"), "{what}: AGI {agno} crc {}", agi["crc"]);
            let count: u32 = ours.iter().map(|r| u32::from(r.count)).sum();
            let free: u32 = ours.iter().map(|r| u32::from(r.freecount)).sum();
            assert_eq!(agi["count"], count.to_string(), "{what}: AGI {agno} count");
            assert_eq!(agi["freecount"], free.to_string(), "{what}: AGI {agno} freecount");
            levels = levels.max(agi["level"].parse().unwrap());
            assert_eq!(db_inobt(&self.img, agno, false), ours, "{what}: AG {agno}: xfs_db inobt vs the writer");
            if agi.get("free_root").is_some_and(|r| r != "0" && r != "null") && agi["free_level"] != "0" {
                let want: Vec<InoRec> = ours.iter().filter(|r| r.freecount > 0).copied().collect();
                assert_eq!(db_inobt(&self.img, agno, true), want, "{what}: AG {agno}: xfs_db finobt");
            }
            // Every inode the model holds is in use in its chunk.
            let agshift = u32::from(w.superblock().agblklog) + u32::from(w.superblock().inopblog);
            for (&ino, _) in self.inodes.range(u64::from(agno) << agshift..u64::from(agno + 1) << agshift) {
                let agino = (ino & ((1 << agshift) - 1)) as u32;
                let r = ours.iter().find(|r| agino >= r.startino && agino < r.startino + 64).unwrap_or_else(|| panic!("{what}: inode {ino} in no chunk"));
                assert_eq!(r.free & (1 << (agino - r.startino)), 0, "{what}: inode {ino} free in its chunk");
            }
        }
        let step = (self.inodes.len() / sample.max(1)).max(1);
        for (&ino, new) in self.inodes.iter().step_by(step) {
            self.check_inode(w, ino, new, what);
        }
        levels
    }

    fn check_inode(&self, w: &XfsWriter, ino: u64, new: &NewInode, what: &str) {
        let f = fields(&db(&self.img, &[&format!("inode {ino}"), "p"]));
        let v5 = w.superblock().crc;
        assert_eq!(f["core.mode"], format!("0{:o}", new.mode), "{what}: inode {ino} mode");
        assert_eq!(f["core.uid"], new.uid.to_string(), "{what}: inode {ino} uid");
        assert_eq!(f["core.gid"], new.gid.to_string(), "{what}: inode {ino} gid");
        let dir = new.mode & 0o170000 == 0o40000;
        assert_eq!(f["core.nlinkv2"], if dir { "2" } else { "1" }, "{what}: inode {ino} nlink");
        assert_eq!(f["core.version"], if v5 { "3" } else { "2" });
        assert_eq!(f["core.mtime.sec"], "Fri Jan  2 03:04:05 2026", "{what}: inode {ino} mtime");
        assert_eq!(f["core.ctime.nsec"], "123456789", "{what}: inode {ino} ctime");
        assert_eq!(f["core.aformat"], "2 (extents)");
        assert_eq!(f["next_unlinked"], "null");
        assert_eq!(f["core.nblocks"], "0");
        match new.mode & 0o170000 {
            0o40000 => {
                assert_eq!(f["core.format"], "1 (local)");
                assert_eq!(f["core.size"], "6");
                assert_eq!(f[if v5 { "u3.sfdir3.hdr.parent.i4" } else { "u.sfdir2.hdr.parent.i4" }], new.parent.to_string());
            }
            0o120000 => {
                assert_eq!(f["core.format"], "1 (local)");
                assert_eq!(f["core.size"], new.target.len().to_string());
                let sym = f.get("u3.symlink").or(f.get("u.symlink")).unwrap_or_else(|| panic!("{what}: inode {ino}: {f:?}"));
                assert_eq!(sym.trim_matches('"').as_bytes(), &new.target[..]);
            }
            0o20000 => {
                assert_eq!(f["core.format"], "0 (dev)");
                let d = vguestfs::fs::major(new.rdev) << 18 | vguestfs::fs::minor(new.rdev);
                let dev = f.get("u3.dev").or(f.get("u.dev")).unwrap_or_else(|| panic!("{what}: inode {ino}: {f:?}"));
                assert_eq!(dev, &format!("{d:#x}"), "{what}: inode {ino} rdev");
            }
            _ => assert_eq!(f["core.format"], "2 (extents)"),
        }
        if v5 {
            assert!(f["v3.crc"].contains("correct"), "{what}: inode {ino} crc {}", f["v3.crc"]);
            assert_eq!(f["v3.inumber"], ino.to_string());
            assert_eq!(f["v3.change_count"], "1");
            assert_eq!(f["v3.crtime.sec"], "Fri Jan  2 03:04:05 2026");
            assert_eq!(f["v3.bigtime"], if w.superblock().bigtime { "1" } else { "0" });
            assert_eq!(f["v3.nrext64"], if w.superblock().nrext64 { "1" } else { "0" });
        }
    }
}

/// One seeded sequence: `n` inodes of mixed types (directories spread over the AGs by the
/// rotor, files near their parent; with `spread` false all but the first few are files in
/// the root directory, so one AG's trees grow deep), xfs_db checks, a random half freed,
/// checks, the rest freed, and xfs_repair. Returns the deepest inobt seen.
fn sequence(img: &Path, n: usize, seed: u64, sample: usize, spread: bool) -> u32 {
    let mut w = open(img);
    let mut m = Model::new(img, &w);
    let mut rng = Rng(seed | 1);
    let root = w.superblock().rootino;
    let mut parents = vec![root];
    for i in 0..n {
        let kind = if i < 8 { (i % 4) as u32 } else if spread { [0, 0, 0, 1, 2, 3][rng.below(6) as usize] } else { 0 };
        let parent = if spread { parents[rng.below(parents.len() as u64) as usize] } else { root };
        let ino = m.alloc(&mut w, parent, kind);
        if kind == 1 {
            parents.push(ino);
        }
    }
    let mut levels = m.check(&mut w, sample, &format!("after {n} allocations (seed {seed})"));
    let mut all: Vec<u64> = m.inodes.keys().copied().collect();
    for i in (1..all.len()).rev() {
        all.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let (half, rest) = all.split_at(all.len() / 2);
    for &ino in half {
        m.free(&mut w, ino);
    }
    levels = levels.max(m.check(&mut w, sample, &format!("after freeing half (seed {seed})")));
    // Some more, into the freed slots, then everything freed.
    let mut more = Vec::new();
    for _ in 0..n / 4 {
        more.push(m.alloc(&mut w, root, 0));
    }
    m.check(&mut w, sample, &format!("after reallocating (seed {seed})"));
    for &ino in rest.iter().chain(&more) {
        m.free(&mut w, ino);
    }
    m.check(&mut w, 0, &format!("everything freed (seed {seed})"));
    assert_eq!(w.inode_counts(), (m.icount0, m.ifree0), "sb counters back to the start");
    drop(w);
    repair_clean(img);
    levels
}

/// v5 defaults (4 KiB blocks, 512-byte inodes, sparse inodes, finobt, inobtcount, bigtime).
#[test]
fn v5_default_repair_clean() {
    let (_d, img) = mkfs(&["-d", "agcount=4"]);
    sequence(&img, 600, 0x1a11_0001, 40, true);
}

/// v5 with 1 KiB blocks: 60 records per inobt leaf, so the trees split and join.
#[test]
fn v5_1k_deep_inobt_repair_clean() {
    let (_d, img) = mkfs(&["-b", "size=1024", "-d", "agcount=2"]);
    let levels = sequence(&img, 6000, 0x1a11_0002, 20, false);
    assert!(levels >= 2, "inobt reached {levels} levels");
}

/// No free inode btree: free inodes are found through the inobt.
#[test]
fn v5_no_finobt_repair_clean() {
    let (_d, img) = mkfs(&["-m", "finobt=0,inobtcount=0", "-d", "agcount=4"]);
    sequence(&img, 500, 0x1a11_0003, 20, true);
}

/// v4 (crc=0): v2 inodes, non-sparse records, no finobt; 512-byte blocks (31 records per
/// leaf).
#[test]
fn v4_512_repair_clean() {
    let (_d, img) = mkfs(&["-m", "crc=0", "-b", "size=512", "-d", "agcount=2"]);
    let levels = sequence(&img, 3000, 0x1a11_0004, 20, false);
    assert!(levels >= 2, "inobt reached {levels} levels");
}

/// Cuts AG `agno`'s free space so that no aligned whole inode chunk fits: every free extent
/// is taken, then all but the first block of each aligned chunk-sized piece given back (free
/// extents of 7 blocks on 4 KiB blocks with 512-byte inodes: room for an aligned sparse
/// chunk and the kernel's alignment slop). Returns the extents still held.
fn fragment(w: &mut XfsWriter, agno: u32) -> Vec<(u32, u32)> {
    let chunk = w.superblock().inoalignmt;
    let mut taken = Vec::new();
    while let Some((s, l)) = w.alloc_extent(agno, 1, 1 << 20, None).unwrap() {
        taken.push((s, l));
    }
    let mut held = Vec::new();
    for (s, l) in taken {
        let mut b = s;
        while b < s + l {
            let end = ((b / chunk + 1) * chunk).min(s + l);
            if b % chunk == 0 {
                held.push((b, 1));
                b += 1;
            }
            if b < end {
                w.free_extent(agno, b, end - b).unwrap();
            }
            b = end;
        }
    }
    held
}

/// [`fragment`] on every AG; the held extents as (AG, start, length).
fn fragment_all(w: &mut XfsWriter) -> Vec<(u32, u32, u32)> {
    (0..w.superblock().agcount).flat_map(|a| fragment(w, a).into_iter().map(move |(s, l)| (a, s, l))).collect()
}

/// Sparse inode chunks: every AG's free space cut so that no aligned whole chunk fits, so
/// once the root's chunk is used up (the first pass takes free inodes anywhere) new chunks
/// are sparse and fill up by merging; then everything is freed.
#[test]
fn sparse_chunks_in_fragmented_space() {
    let (_d, img) = mkfs(&["-d", "agcount=4"]);
    let mut w = open(&img);
    let sb = w.superblock().clone();
    assert!(sb.spino_align > 0 && sb.spino_align < sb.inoalignmt, "sparse inodes on by default");
    let held = fragment_all(&mut w);
    let mut m = Model::new(&img, &w);
    // A parent in AG 1: its chunks are made there.
    let parent = (1u64 << (u32::from(sb.agblklog) + u32::from(sb.inopblog))) | 64;
    let mut inos = Vec::new();
    for _ in 0..300 {
        inos.push(m.alloc(&mut w, parent, 0));
    }
    m.check(&mut w, 10, "sparse allocations");
    let recs = w.inode_chunks(1).unwrap();
    assert!(recs.len() >= 2 && recs.iter().all(|r| r.holemask != 0 || r.count == 64), "AG 1: {recs:?}");
    assert!(recs.iter().any(|r| r.holemask != 0), "no sparse chunk in AG 1: {recs:?}");
    for ino in inos {
        m.free(&mut w, ino);
    }
    m.check(&mut w, 0, "sparse chunks freed");
    assert!(w.inode_chunks(1).unwrap().is_empty());
    for (a, s, l) in held {
        w.free_extent(a, s, l).unwrap();
    }
    drop(w);
    repair_clean(&img);
}

/// An allocation that fails half-way (the inobt root damaged after the finobt was changed in
/// memory) writes nothing and rolls the writer back; freeing a free inode is refused.
#[test]
fn failure_mid_operation_writes_nothing() {
    let (_d, img) = mkfs(&["-d", "agcount=4"]);
    let mut w = open(&img);
    let root = w.superblock().rootino;
    let agi = fields(&db(&img, &["agi 0", "p root"]));
    let inoroot: u64 = agi["root"].parse().unwrap();
    let bs = u64::from(w.superblock().blocksize);
    let off = (inoroot * bs + bs - 1) as usize;
    let mut data = std::fs::read(&img).unwrap();
    data[off] ^= 0xff;
    std::fs::write(&img, &data).unwrap();
    let counts = w.inode_counts();
    let e = w.alloc_inode(root, 0o100644).expect_err("a damaged inobt must fail the allocation");
    assert!(matches!(e, Error::Corrupt { .. }) && e.to_string().contains("inobt"), "{e}");
    assert!(std::fs::read(&img).unwrap() == data, "the failed allocation wrote something");
    assert_eq!(w.inode_counts(), counts);
    data[off] ^= 0xff;
    std::fs::write(&img, &data).unwrap();
    let ino = w.alloc_inode(root, 0o100644).unwrap();
    assert_eq!(ino, root + 3, "the first free inode after root, rbmino and rsumino");
    let before = std::fs::read(&img).unwrap();
    let e = w.free_inode(ino + 1).expect_err("freeing a free inode");
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    assert!(std::fs::read(&img).unwrap() == before, "a refused free wrote something");
    w.free_inode(ino).unwrap();
    assert_eq!(w.inode_counts(), counts);
    drop(w);
    repair_clean(&img);
}

fn nlink(img: &Path, ino: u64) -> u32 {
    fields(&db(img, &[&format!("inode {ino}"), "p core.nlinkv2"]))["core.nlinkv2"].parse().unwrap()
}

/// Names in shortform directories: a directory tree of files, directories, a symlink and a
/// fifo created by the writer; with them linked `xfs_repair -n` is clean, `xfs_db ls` lists
/// them, link counts are right, and (v5) the kernel sees the same tree and adds a file of
/// its own; then everything is removed through the writer (refusals first: an existing
/// name, a missing one, a non-empty directory) and xfs_repair is clean again with the
/// superblock counters back.
fn create_remove(args: &[&str], kernel: bool) {
    let (_d, img) = mkfs(args);
    let mut w = open(&img);
    let root = w.superblock().rootino;
    let counts0 = w.inode_counts();
    let d1 = w.create(root, b"d1", 0o40755, 0, 0).unwrap();
    let f1 = w.create(root, b"f1", 0o100644, 1000, 100).unwrap();
    let s1 = w.symlink(root, b"s1", b"f1", 0, 0).unwrap();
    let p1 = w.create(root, b"p1", 0o10640, 0, 0).unwrap();
    let sub = w.create(d1, b"sub", 0o40700, 1000, 1000).unwrap();
    let inner = w.create(d1, b"inner", 0o100600, 0, 0).unwrap();
    let deep = w.create(sub, b"deep", 0o140755, 0, 0).unwrap();
    assert!(matches!(w.create(root, b"f1", 0o100644, 0, 0), Err(Error::Os(vguestfs::fs::Errno::Exists))));
    drop(w);
    repair_clean(&img);
    let want = |v: &[(&str, u64)]| v.iter().map(|&(n, i)| (n.to_string(), i)).collect::<BTreeMap<_, _>>();
    assert_eq!(db_ls(&img, "/"), want(&[(".", root), ("..", root), ("d1", d1), ("f1", f1), ("s1", s1), ("p1", p1)]));
    assert_eq!(db_ls(&img, "/d1"), want(&[(".", d1), ("..", root), ("sub", sub), ("inner", inner)]));
    assert_eq!(db_ls(&img, "/d1/sub"), want(&[(".", sub), ("..", d1), ("deep", deep)]));
    assert_eq!((nlink(&img, root), nlink(&img, d1), nlink(&img, sub), nlink(&img, f1)), (3, 3, 2, 1));
    if kernel {
        with_kernel(&img, |m| {
            use std::os::unix::fs::{FileTypeExt, MetadataExt};
            let names: Vec<String> = std::fs::read_dir(m).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            assert_eq!(names.len(), 4, "{names:?}");
            let md = std::fs::metadata(m.join("f1")).unwrap();
            assert_eq!((md.mode(), md.uid(), md.gid(), md.len(), md.ino()), (0o100644, 1000, 100, 0, f1));
            assert_eq!(std::fs::read_link(m.join("s1")).unwrap(), Path::new("f1"));
            assert!(std::fs::symlink_metadata(m.join("p1")).unwrap().file_type().is_fifo());
            assert!(std::fs::symlink_metadata(m.join("d1/sub/deep")).unwrap().file_type().is_socket());
            assert_eq!(std::fs::metadata(m.join("d1/sub")).unwrap().mode(), 0o40700);
            std::fs::write(m.join("d1/kfile"), b"").unwrap();
        });
        repair_clean(&img);
    }
    let mut w = open(&img);
    assert!(matches!(w.remove(root, b"d1"), Err(Error::Os(vguestfs::fs::Errno::NotEmpty))));
    assert!(matches!(w.remove(root, b"nothing"), Err(Error::Os(vguestfs::fs::Errno::NoEntry))));
    w.remove(sub, b"deep").unwrap();
    w.remove(d1, b"sub").unwrap();
    w.remove(d1, b"inner").unwrap();
    if kernel {
        w.remove(d1, b"kfile").unwrap();
    }
    for n in [&b"d1"[..], b"f1", b"s1", b"p1"] {
        w.remove(root, n).unwrap();
    }
    assert_eq!(w.inode_counts(), counts0);
    drop(w);
    repair_clean(&img);
    assert_eq!(db_ls(&img, "/"), want(&[(".", root), ("..", root)]));
    assert_eq!(nlink(&img, root), 2);
}

#[test]
fn create_remove_v5() {
    create_remove(&["-d", "agcount=4"], true);
}

#[test]
fn create_remove_v5_1k() {
    create_remove(&["-b", "size=1024", "-d", "agcount=4"], true);
}

#[test]
fn create_remove_v4_512_no_ftype() {
    create_remove(&["-m", "crc=0", "-b", "size=512", "-n", "ftype=0", "-d", "agcount=4"], false);
}

/// A shortform directory filled past its inode becomes a block directory, then a leaf
/// directory, then a node directory whose leaves split: xfs_repair is clean, xfs_db and the
/// kernel list every name; everything removed, clean again.
#[test]
fn shortform_grows_to_node() {
    let (_d, img) = mkfs(&["-d", "agcount=4"]);
    let mut w = open(&img);
    let root = w.superblock().rootino;
    let mut names = BTreeMap::new();
    for i in 0..1500 {
        let name = format!("entry-{i:04}");
        let ino = w.create(root, name.as_bytes(), 0o100644, 0, 0).unwrap_or_else(|e| panic!("create {name}: {e}"));
        names.insert(name, ino);
    }
    drop(w);
    repair_clean(&img);
    let bmap = db(&img, &[&format!("inode {root}"), "bmap"]);
    assert!(bmap.contains(&format!("data offset {}", (64u64 << 30) / 4096)), "no free index block: {bmap}");
    let mut ls = db_ls(&img, "/");
    ls.remove(".");
    ls.remove("..");
    assert_eq!(ls, names);
    with_kernel(&img, |m| assert_eq!(std::fs::read_dir(m).unwrap().count(), names.len()));
    let mut w = open(&img);
    for n in names.keys() {
        w.remove(root, n.as_bytes()).unwrap();
    }
    drop(w);
    repair_clean(&img);
}

/// A directory of the random tree: its inode and entries (name → (inode, is a directory)).
type Tree = BTreeMap<u64, BTreeMap<String, (u64, bool)>>;

/// Removes every entry of `tree` with the writer (subdirectories' entries first, then the
/// root's), checks the inode counters are back to `counts0`, and lets xfs_repair judge.
fn remove_tree(mut w: XfsWriter, tree: &Tree, root: u64, counts0: (u64, u64), img: &Path) {
    for (d, entries) in tree.iter().filter(|(&d, _)| d != root) {
        for n in entries.keys() {
            w.remove(*d, n.as_bytes()).unwrap();
        }
    }
    for n in tree[&root].keys() {
        w.remove(root, n.as_bytes()).unwrap();
    }
    assert_eq!(w.inode_counts(), counts0);
    drop(w);
    repair_clean(img);
}

/// Walks the tree from `dir` through the kernel's mount at `m`, comparing names and inode
/// numbers with the model.
fn kernel_matches(m: &Path, tree: &Tree, dir: u64) {
    use std::os::unix::fs::MetadataExt;
    let mut got = BTreeMap::new();
    for e in std::fs::read_dir(m).unwrap() {
        let e = e.unwrap();
        got.insert(e.file_name().into_string().unwrap(), e.metadata().map_or(0, |md| md.ino()));
    }
    let want: BTreeMap<String, u64> = tree[&dir].iter().map(|(n, &(i, _))| (n.clone(), i)).collect();
    let got_names: Vec<&String> = got.keys().collect();
    assert_eq!(got_names, want.keys().collect::<Vec<_>>(), "kernel listing of directory {dir}");
    for (n, &(i, is_dir)) in &tree[&dir] {
        assert_eq!(std::fs::symlink_metadata(m.join(n)).unwrap().ino(), i, "kernel: {n} in {dir}");
        if is_dir {
            kernel_matches(&m.join(n), tree, i);
        }
    }
}

/// Random creates and removes over a growing tree of directories (shortform, block when they
/// outgrow the inode; files,
/// directories, symlinks, fifos), with `xfs_repair -n` judging every checkpoint while
/// everything is linked — the inode chunks, inobt/finobt (deep on small blocks), AGI and
/// superblock counters mid-sequence — and `xfs_db` the counters; at the end (v5) the
/// kernel's view of the whole tree, then everything removed and xfs_repair again.
fn random_tree(args: &[&str], seed: u64, ops: usize, kernel: bool) -> u32 {
    let (_d, img) = mkfs(args);
    let mut w = open(&img);
    let root = w.superblock().rootino;
    let counts0 = w.inode_counts();
    let mut rng = Rng(seed | 1);
    let mut tree: Tree = BTreeMap::new();
    tree.insert(root, BTreeMap::new());
    let mut linked = 0u64;
    let mut levels = 0;
    for op in 0..ops {
        let dirs: Vec<u64> = tree.keys().copied().collect();
        let dir = dirs[rng.below(dirs.len() as u64) as usize];
        if rng.below(100) < 70 || tree[&dir].is_empty() {
            let name = format!("n{op}");
            let kind = rng.below(10);
            let r = match kind {
                0..=1 => w.create(dir, name.as_bytes(), 0o40755, 0, 0),
                2 => w.symlink(dir, name.as_bytes(), format!("target-{op}").as_bytes(), 0, 0),
                3 => w.create(dir, name.as_bytes(), 0o10644, 0, 0),
                _ => w.create(dir, name.as_bytes(), 0o100644, op as u32, 0),
            };
            match r {
                Ok(ino) => {
                    tree.get_mut(&dir).unwrap().insert(name, (ino, kind <= 1));
                    if kind <= 1 {
                        tree.insert(ino, BTreeMap::new());
                    }
                    linked += 1;
                }
                Err(Error::Unsupported { feature, .. }) => assert!(feature.contains("not written yet"), "create {name} in {dir}: {feature}"),
                Err(e) => panic!("create {name} in {dir}: {e}"),
            }
        } else {
            let entries: Vec<(String, (u64, bool))> = tree[&dir].iter().map(|(n, &v)| (n.clone(), v)).collect();
            let (name, (ino, is_dir)) = entries[rng.below(entries.len() as u64) as usize].clone();
            let r = w.remove(dir, name.as_bytes());
            if is_dir && !tree[&ino].is_empty() {
                assert!(matches!(r, Err(Error::Os(vguestfs::fs::Errno::NotEmpty))), "remove non-empty {name}: {r:?}");
                continue;
            }
            r.unwrap_or_else(|e| panic!("remove {name} from {dir}: {e}"));
            tree.get_mut(&dir).unwrap().remove(&name);
            if is_dir {
                tree.remove(&ino);
            }
            linked -= 1;
        }
        if op % (ops / 4) == ops / 4 - 1 {
            let (ic, ifr) = w.inode_counts();
            let sb = fields(&db(&img, &["sb 0", "p icount ifree"]));
            assert_eq!((sb["icount"].parse::<u64>().unwrap(), sb["ifree"].parse::<u64>().unwrap()), (ic, ifr), "op {op}: sb counters");
            assert_eq!(ic - ifr, counts0.0 - counts0.1 + linked, "op {op}: inodes in use");
            for agno in 0..w.superblock().agcount {
                w.inode_chunks(agno).unwrap_or_else(|e| panic!("op {op}: AG {agno}: {e}"));
                levels = levels.max(fields(&db(&img, &[&format!("agi {agno}"), "p level"]))["level"].parse().unwrap());
            }
            repair_clean(&img);
        }
    }
    if kernel {
        with_kernel(&img, |m| kernel_matches(m, &tree, root));
        repair_clean(&img);
    }
    // Everything removed, deepest first.
    fn clear(w: &mut XfsWriter, tree: &Tree, dir: u64) {
        for (n, &(i, is_dir)) in &tree[&dir] {
            if is_dir {
                clear(w, tree, i);
            }
            w.remove(dir, n.as_bytes()).unwrap_or_else(|e| panic!("remove {n} from {dir}: {e}"));
        }
    }
    clear(&mut w, &tree, root);
    let (ic, ifr) = w.inode_counts();
    assert_eq!(ic - ifr, counts0.0 - counts0.1, "inodes in use back to the start");
    if w.superblock().inopblog <= 6 {
        // Chunks are removed when free (not with more than 64 inodes per block).
        assert_eq!((ic, ifr), counts0, "counters back to the start");
    }
    drop(w);
    repair_clean(&img);
    levels
}

#[test]
fn random_tree_v5_repair_clean() {
    random_tree(&["-d", "agcount=4"], 0x7dee_0001, 1500, true);
}

/// 1 KiB blocks with 512-byte inodes (two per block, chunks of 32 blocks).
#[test]
fn random_tree_v5_1k_repair_clean() {
    random_tree(&["-b", "size=1024", "-d", "agcount=2"], 0x7dee_0002, 3000, true);
}

/// v4 with 512-byte blocks: 31 inobt records per leaf, so the tree has two levels.
#[test]
fn random_tree_v4_512_repair_clean() {
    let levels = random_tree(&["-m", "crc=0", "-b", "size=512", "-d", "agcount=2"], 0x7dee_0003, 16000, false);
    assert!(levels >= 2, "inobt reached {levels} levels");
}

/// No finobt (v5).
#[test]
fn random_tree_no_finobt_repair_clean() {
    random_tree(&["-m", "finobt=0,inobtcount=0", "-d", "agcount=4"], 0x7dee_0004, 1500, true);
}

/// Sparse chunks judged by xfs_repair while linked: every AG fragmented, eight directories
/// of twelve files (more than the root's chunk holds); the held space given back, then
/// `xfs_repair -n` with everything linked, the kernel's view, removal, and xfs_repair again.
#[test]
fn sparse_chunks_linked_repair_clean() {
    let (_d, img) = mkfs(&["-d", "agcount=4"]);
    let mut w = open(&img);
    let root = w.superblock().rootino;
    let counts0 = w.inode_counts();
    let held = fragment_all(&mut w);
    let mut tree: Tree = BTreeMap::new();
    tree.insert(root, BTreeMap::new());
    for i in 0..8 {
        let name = format!("d{i}");
        let d = w.create(root, name.as_bytes(), 0o40755, 0, 0).unwrap();
        tree.get_mut(&root).unwrap().insert(name, (d, true));
        let mut entries = BTreeMap::new();
        for j in 0..12 {
            let name = format!("file-{j}");
            entries.insert(name.clone(), (w.create(d, name.as_bytes(), 0o100644, 0, 0).unwrap(), false));
        }
        tree.insert(d, entries);
    }
    let sparse: usize = (0..4).map(|a| w.inode_chunks(a).unwrap().iter().filter(|r| r.holemask != 0).count()).sum();
    assert!(sparse >= 2, "{sparse} sparse chunks");
    for (a, s, l) in held {
        w.free_extent(a, s, l).unwrap();
    }
    repair_clean(&img);
    with_kernel(&img, |m| kernel_matches(m, &tree, root));
    repair_clean(&img);
    remove_tree(w, &tree, root, counts0, &img);
}

/// Inode numbers above 32 bits (a 3 TiB sparse image: AG 2 starts at inode 2^32): the third
/// new directory lands in AG 2 (the rotor), so the root's shortform entries widen to 8 bytes
/// (`i8count` 1) and narrow again when it goes; xfs_repair, xfs_db and the kernel judge.
#[test]
fn wide_inode_numbers_i8count() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("big.img");
    std::fs::File::create(&img).and_then(|f| f.set_len(3 << 40)).unwrap();
    let out = Command::new("mkfs.xfs").env("PATH", path_env()).args(["-q", "-l", "size=64m"]).arg(&img).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut w = open(&img);
    let root = w.superblock().rootino;
    let counts0 = w.inode_counts();
    let d: Vec<u64> = (0..3).map(|i| w.create(root, format!("d{i}").as_bytes(), 0o40755, 0, 0).unwrap()).collect();
    assert!(d[2] > u64::from(u32::MAX) && d[1] <= u64::from(u32::MAX), "{d:?}");
    let f = w.create(d[2], b"far", 0o100644, 0, 0).unwrap();
    assert!(f > u64::from(u32::MAX));
    let near = w.create(d[0], b"near", 0o100644, 0, 0).unwrap();
    let i8 = |ino: u64| fields(&db(&img, &[&format!("inode {ino}"), "p u3.sfdir3.hdr.i8count"]))["u3.sfdir3.hdr.i8count"].clone();
    assert_eq!((i8(root), i8(d[2]), i8(d[0])), ("1".to_string(), "1".to_string(), "0".to_string()));
    repair_clean(&img);
    let want = |v: &[(&str, u64)]| v.iter().map(|&(n, i)| (n.to_string(), i)).collect::<BTreeMap<_, _>>();
    assert_eq!(db_ls(&img, "/"), want(&[(".", root), ("..", root), ("d0", d[0]), ("d1", d[1]), ("d2", d[2])]));
    assert_eq!(db_ls(&img, "/d2"), want(&[(".", d[2]), ("..", root), ("far", f)]));
    let mut tree: Tree = BTreeMap::new();
    tree.insert(root, (0..3).map(|i| (format!("d{i}"), (d[i], true))).collect());
    tree.insert(d[0], [("near".to_string(), (near, false))].into());
    tree.insert(d[1], BTreeMap::new());
    tree.insert(d[2], [("far".to_string(), (f, false))].into());
    with_kernel(&img, |m| kernel_matches(m, &tree, root));
    repair_clean(&img);
    w.remove(d[2], b"far").unwrap();
    w.remove(root, b"d2").unwrap();
    assert_eq!(i8(root), "0");
    w.remove(d[0], b"near").unwrap();
    w.remove(root, b"d0").unwrap();
    w.remove(root, b"d1").unwrap();
    assert_eq!(w.inode_counts(), counts0);
    drop(w);
    repair_clean(&img);
}

/// Hostile inode btree records (v4, no CRC to get past: a record whose free count disagrees
/// with its free mask, then one whose chunk lies past the AG's end) fail allocation and
/// freeing as corruption naming the tree, and write nothing.
#[test]
fn hostile_inobt_records_refused() {
    let (_d, img) = mkfs(&["-m", "crc=0", "-d", "agcount=4"]);
    let w = open(&img);
    let (root, bs, agblocks) = (w.superblock().rootino, u64::from(w.superblock().blocksize), w.superblock().agblocks);
    drop(w);
    let agi = fields(&db(&img, &["agi 0", "p root"]));
    let leaf = agi["root"].parse::<u64>().unwrap() * bs;
    // The first record: startino at 16, freecount at 20 (v4: 16-byte header).
    let good = std::fs::read(&img).unwrap();
    for (at, val) in [(20usize, 9u32), (16, agblocks << w_inopblog(&img))] {
        let mut data = good.clone();
        data[leaf as usize + at..leaf as usize + at + 4].copy_from_slice(&val.to_be_bytes());
        std::fs::write(&img, &data).unwrap();
        let mut w = open(&img);
        let e = w.alloc_inode(root, 0o100644).expect_err("a hostile inobt record must fail");
        assert!(matches!(&e, Error::Corrupt { .. }) && e.to_string().contains("inobt"), "{e}");
        let e = w.free_inode(root).expect_err("a hostile inobt record must fail");
        assert!(matches!(&e, Error::Corrupt { .. }), "{e}");
        drop(w);
        assert!(std::fs::read(&img).unwrap() == data, "a refused operation wrote something");
    }
}

fn w_inopblog(img: &Path) -> u32 {
    fields(&db(img, &["sb 0", "p inopblog"]))["inopblog"].parse().unwrap()
}

/// nrext64 (64-bit extent counters: new inodes get the flag).
#[test]
fn random_tree_nrext64_repair_clean() {
    random_tree(&["-i", "nrext64=1", "-d", "agcount=4"], 0x7dee_0005, 800, true);
}

/// 4 KiB sectors (the AG headers fill a block each).
#[test]
fn random_tree_4k_sectors_repair_clean() {
    random_tree(&["-s", "size=4096", "-d", "agcount=4"], 0x7dee_0006, 800, true);
}

/// 64 KiB blocks: 128 inodes per block, so a chunk allocation makes two inobt records and
/// free chunks stay (as the kernel keeps them).
#[test]
fn random_tree_64k_repair_clean() {
    random_tree(&["-b", "size=65536", "-d", "agcount=4"], 0x7dee_0007, 1200, true);
}

/// One step of a twin sequence: a path (`dir/name`, parents made by earlier steps), whether
/// it is a directory, and whether the step removes it.
type Step = (String, bool, bool);

/// The kernel as a twin: `steps` done by the kernel (loop mount) on one copy of a fresh
/// `mkfs.xfs ARGS` image and by the writer on another give the same inode numbers and
/// superblock counters (icount, ifree, fdblocks); both copies are xfs_repair clean.
fn twin(args: &[&str], steps: &[Step]) {
    twin_prepared(args, steps, |_| Vec::new());
}

/// [`twin`] on an image first changed by `prep` through the writer (both copies), which
/// returns the extents it holds (AG, start, length); counters are compared with them held,
/// then they are freed on our copy for xfs_repair.
fn twin_prepared(args: &[&str], steps: &[Step], prep: impl Fn(&mut XfsWriter) -> Vec<(u32, u32, u32)>) {
    let (d, img) = mkfs(args);
    let held = prep(&mut open(&img));
    let twin = d.path().join("twin.img");
    let st = Command::new("cp").args(["--sparse=always"]).arg(&img).arg(&twin).status().unwrap();
    assert!(st.success());
    let mut kernel = BTreeMap::new();
    with_kernel(&img, |m| {
        use std::os::unix::fs::MetadataExt;
        for (p, is_dir, remove) in steps {
            let path = m.join(p);
            match (is_dir, remove) {
                (_, true) => {
                    if *is_dir {
                        std::fs::remove_dir(&path).unwrap();
                    } else {
                        std::fs::remove_file(&path).unwrap();
                    }
                    // The kernel frees an unlinked inode in the background (inodegc) once the
                    // VFS lets it go; dropping the dentry/inode caches and a freeze (which
                    // waits for inodegc to drain) make that happen now, as the writer frees
                    // at once.
                    let _ = std::fs::write("/proc/sys/vm/drop_caches", "2");
                    for f in ["-f", "-u"] {
                        let st = Command::new("xfs_freeze").env("PATH", path_env()).arg(f).arg(m).status().unwrap();
                        assert!(st.success(), "xfs_freeze {f}");
                    }
                }
                (true, false) => std::fs::create_dir(&path).unwrap(),
                (false, false) => drop(std::fs::File::create(&path).unwrap()),
            }
            if !remove {
                kernel.insert(p.clone(), std::fs::metadata(&path).unwrap().ino());
            }
        }
    });
    if held.is_empty() {
        repair_clean(&img);
    }
    let mut w = open(&twin);
    let root = w.superblock().rootino;
    let mut ours: BTreeMap<String, u64> = BTreeMap::new();
    for (p, is_dir, remove) in steps {
        let (dir, name) = match p.rsplit_once('/') {
            Some((d, n)) => (ours[d], n),
            None => (root, p.as_str()),
        };
        if *remove {
            w.remove(dir, name.as_bytes()).unwrap_or_else(|e| panic!("remove {p}: {e}"));
            continue;
        }
        let ino = w.create(dir, name.as_bytes(), if *is_dir { 0o40755 } else { 0o100644 }, 0, 0).unwrap_or_else(|e| panic!("create {p}: {e}"));
        ours.insert(p.clone(), ino);
    }
    let diff: Vec<_> = ours.iter().filter(|(p, i)| kernel.get(*p) != Some(i)).map(|(p, i)| (p, i, kernel.get(p))).collect();
    assert!(diff.is_empty(), "inode numbers (path, ours, kernel's) differing: {diff:?}");
    let sb = |i: &Path| fields(&db(i, &["sb 0", "p icount ifree fdblocks"]));
    assert_eq!(sb(&twin), sb(&img), "superblock counters");
    // The held extents back (on our copy: the kernel's was judged before if it held none).
    for &(a, s, l) in &held {
        w.free_extent(a, s, l).unwrap();
    }
    drop(w);
    repair_clean(&twin);
}

/// Files in the root, directories spread by the rotor over the AGs, files in each directory,
/// some removed and their inodes reused.
#[test]
fn kernel_twin_same_inode_numbers() {
    let mut steps: Vec<Step> = Vec::new();
    for i in 0..10 {
        steps.push((format!("f{i}"), false, false));
    }
    for i in 0..6 {
        steps.push((format!("d{i}"), true, false));
        for j in 0..5 {
            steps.push((format!("d{i}/g{j}"), false, false));
        }
    }
    for i in [2, 3, 7] {
        steps.push((format!("f{i}"), false, true));
    }
    steps.push(("d1/g2".into(), false, true));
    for i in 10..14 {
        steps.push((format!("f{i}"), false, false));
    }
    steps.push(("d1/h".into(), false, false));
    twin(&["-d", "agcount=4"], &steps);
}

/// A seeded random sequence for [`twin`]: `n` steps of files and directories created (at
/// most 12 entries per directory, so every directory stays shortform) and removed (files,
/// empty directories), enough to fill and empty whole inode chunks.
fn random_steps(seed: u64, n: usize) -> Vec<Step> {
    let mut rng = Rng(seed | 1);
    // Directory path ("" = root) → its entries (name, is_dir).
    let mut dirs: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    dirs.insert(String::new(), Vec::new());
    let mut steps = Vec::new();
    for i in 0..n {
        let keys: Vec<String> = dirs.keys().cloned().collect();
        let d = keys[rng.below(keys.len() as u64) as usize].clone();
        let join = |n: &str| if d.is_empty() { n.to_string() } else { format!("{d}/{n}") };
        let full = dirs[&d].len() >= 12;
        if !full && (rng.below(100) < 65 || dirs[&d].is_empty()) {
            let is_dir = rng.below(5) == 0;
            let name = format!("{}{i}", if is_dir { "d" } else { "f" });
            let p = join(&name);
            dirs.get_mut(&d).unwrap().push((name, is_dir));
            if is_dir {
                dirs.insert(p.clone(), Vec::new());
            }
            steps.push((p, is_dir, false));
        } else if !dirs[&d].is_empty() {
            let k = rng.below(dirs[&d].len() as u64) as usize;
            let (name, is_dir) = dirs[&d][k].clone();
            let p = join(&name);
            if is_dir && !dirs[&p].is_empty() {
                continue;
            }
            dirs.get_mut(&d).unwrap().remove(k);
            if is_dir {
                dirs.remove(&p);
            }
            steps.push((p, is_dir, true));
        }
    }
    steps
}

/// Random sequences on v5 (4 KiB and 1 KiB blocks) against the kernel.
#[test]
fn kernel_twin_random() {
    twin(&["-d", "agcount=4"], &random_steps(0x7713_0001, 700));
    twin(&["-b", "size=1024", "-d", "agcount=2"], &random_steps(0x7713_0002, 700));
}

/// Sparse chunks against the kernel: every AG's free space fragmented on both copies (no
/// aligned whole chunk fits anywhere), so once the root's chunk is used up new inodes come
/// from sparse chunks (the kernel's second pass); some removed and reused.
#[test]
fn kernel_twin_sparse() {
    let mut steps: Vec<Step> = Vec::new();
    for i in 0..8 {
        steps.push((format!("d{i}"), true, false));
        for j in 0..12 {
            steps.push((format!("d{i}/f{j}"), false, false));
        }
    }
    for j in [0, 3, 4, 5, 11] {
        steps.push((format!("d6/f{j}"), false, true));
    }
    for j in 12..20 {
        steps.push((format!("d6/f{j}"), false, false));
    }
    twin_prepared(&["-d", "agcount=4"], &steps, fragment_all);
}

/// Without a finobt (free inodes found through the inobt) against the kernel.
#[test]
fn kernel_twin_no_finobt() {
    twin(&["-m", "finobt=0,inobtcount=0", "-d", "agcount=4"], &random_steps(0x7713_0003, 700));
}

/// Inodes in grown AGs: an image grown offline (`fs::xfs::grow`: new AGs with empty inode
/// btrees, the last AG extended), then directories spread by the rotor over old and new AGs
/// with files in them; xfs_repair, the kernel's view, removal, xfs_repair.
#[test]
fn inodes_in_grown_ags() {
    let (_d, img) = mkfs(&["-d", "agcount=4"]);
    std::fs::OpenOptions::new().write(true).open(&img).and_then(|f| f.set_len(600 << 20)).unwrap();
    let dev: Dev = Arc::new(RawFile::open(&img, true).unwrap());
    vguestfs::fs::xfs::grow::grow(&dev, vguestfs::fs::xfs::grow::Size::Device, None).unwrap();
    drop(dev);
    let mut w = open(&img);
    let agcount = w.superblock().agcount;
    assert!(agcount >= 8, "{agcount} AGs");
    let shift = u32::from(w.superblock().agblklog) + u32::from(w.superblock().inopblog);
    let root = w.superblock().rootino;
    let counts0 = w.inode_counts();
    let mut tree: Tree = BTreeMap::new();
    tree.insert(root, BTreeMap::new());
    let mut ags = std::collections::BTreeSet::new();
    for i in 0..agcount {
        let name = format!("d{i}");
        let d = w.create(root, name.as_bytes(), 0o40755, 0, 0).unwrap();
        ags.insert(d >> shift);
        tree.get_mut(&root).unwrap().insert(name, (d, true));
        let mut entries = BTreeMap::new();
        for j in 0..5 {
            let name = format!("f{j}");
            let f = w.create(d, name.as_bytes(), 0o100644, 0, 0).unwrap();
            assert_eq!(f >> shift, d >> shift, "files near their directory");
            entries.insert(name, (f, false));
        }
        tree.insert(d, entries);
    }
    assert_eq!(ags.len() as u32, agcount, "a directory in every AG");
    repair_clean(&img);
    with_kernel(&img, |m| kernel_matches(m, &tree, root));
    repair_clean(&img);
    remove_tree(w, &tree, root, counts0, &img);
}
