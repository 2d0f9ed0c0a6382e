//! Removing files that own blocks (`XfsWriter::remove` → `free_inode` → the fork blocks freed
//! first, as the kernel's `xfs_inactive`): files the kernel made on loop-mounted fresh
//! `mkfs.xfs` images (a small file, a multi-extent file in extents format, fragmented files
//! with a btree data fork, a remote symlink, files whose attribute fork is in leaf/node
//! format or holds remote values, a preallocated file with unwritten extents, a hard link) are
//! removed by the writer from the shortform root directory. Judges: `xfs_repair -n` clean
//! (its counters included), `xfs_db` `freesp` showing exactly the removed inodes' blocks back,
//! and a kernel twin — the same removals done through the kernel on a copy — with the same
//! superblock `icount`, `ifree` and `fdblocks`. v4 (which this kernel cannot mount) is filled
//! by `mkfs.xfs -p` and judged by xfsprogs alone. Reflinked (shared) extents lose an owner in
//! the refcount btree (records compared with a kernel twin's), and hostile extent maps are
//! refused as corruption, nothing written.

mod common;

use common::xfs::{db, fields, path_env, repair_clean, with_kernel};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use vguestfs::disk::{Dev, RawFile};
use vguestfs::fs::xfs::writer::XfsWriter;
use vguestfs::fs::Error;

/// A fresh 300 MiB image made by `mkfs.xfs -q ARGS` in `dir`.
fn mkfs(dir: &Path, args: &[&str]) -> PathBuf {
    let path = dir.join("xfs.img");
    std::fs::File::create(&path).and_then(|f| f.set_len(300 << 20)).expect("image");
    let out = Command::new("mkfs.xfs").env("PATH", path_env()).arg("-q").args(args).arg(&path).output().expect("mkfs.xfs");
    assert!(out.status.success(), "mkfs.xfs {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    path
}

fn open(img: &Path) -> XfsWriter {
    let dev: Dev = Arc::new(RawFile::open(img, true).expect("open image rw"));
    XfsWriter::open(dev).expect("XfsWriter::open")
}

/// Makes the kernel free unlinked inodes now (inodegc runs in the background): drop the
/// caches, then a freeze waits for it to drain.
fn kernel_settle(m: &Path) {
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "2");
    for f in ["-f", "-u"] {
        let st = Command::new("xfs_freeze").env("PATH", path_env()).arg(f).arg(m).status().unwrap();
        assert!(st.success(), "xfs_freeze {f}");
    }
}

fn gen(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + n + seed) % 251) as u8).collect()
}

/// `extents` blocks of `bs` bytes written every other block, each fsynced (one extent each).
fn fragmented(p: &Path, bs: u64, extents: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::create(p).unwrap();
    for i in 0..extents {
        f.write_all_at(&gen(bs as usize, i as usize), 2 * i * bs).unwrap();
        f.sync_all().unwrap();
    }
}

/// Sets extended attributes on `p` through python's `os.setxattr`: (name, value) pairs.
fn setxattrs(p: &Path, attrs: &[(String, Vec<u8>)]) {
    let mut c = Command::new("python3");
    c.arg("-c").arg("import os,sys\na=sys.argv[2:]\nfor i in range(0, len(a), 2): os.setxattr(sys.argv[1], a[i], bytes.fromhex(a[i + 1]))").arg(p);
    for (n, v) in attrs {
        c.arg(n).arg(v.iter().map(|b| format!("{b:02x}")).collect::<String>());
    }
    assert!(c.status().unwrap().success(), "setxattr on {}", p.display());
}

/// The files the kernel makes in the root: (name, the data fork format xfs_db must find, an
/// attribute fork format it must not find; "" for any).
fn populate(m: &Path, bs: u64, big_tree: bool) -> Vec<(&'static str, &'static str, &'static str)> {
    std::fs::write(m.join("xtree"), b"t").unwrap();
    // Attribute blocks interleaved with the file's own data blocks, each fsynced: the
    // attribute fork in btree format.
    let st = Command::new("python3")
        .arg("-c")
        .arg("import os,sys\np=sys.argv[1]\nfd=os.open(p,os.O_WRONLY)\nfor i in range(3000):\n    os.setxattr(p,'user.tree-attribute-%05d'%i,b'w'*60)\n    if i%10==0: os.pwrite(fd,b'd'*4096,i//10*4096); os.fsync(fd)")
        .arg(m.join("xtree"))
        .status()
        .unwrap();
    assert!(st.success(), "xtree");
    std::fs::write(m.join("small"), gen(10_000, 1)).unwrap();
    fragmented(&m.join("multi"), bs, 8);
    fragmented(&m.join("frag"), bs, if big_tree { 1500 } else { 640 });
    std::os::unix::fs::symlink("r".repeat(1000), m.join("remote")).unwrap();
    std::fs::write(m.join("xnode"), b"x").unwrap();
    let attrs: Vec<(String, Vec<u8>)> = (0..1500).map(|i| (format!("user.node-attribute-{i:05}"), vec![b'v'; i % 50])).collect();
    setxattrs(&m.join("xnode"), &attrs);
    std::fs::write(m.join("xremote"), b"r").unwrap();
    setxattrs(&m.join("xremote"), &[("user.big".into(), gen(20_000, 5)), ("trusted.big2".into(), gen(5000, 6))]);
    let f = std::fs::File::create(m.join("prealloc")).unwrap();
    let st = Command::new("fallocate").args(["-l", "1M"]).arg(m.join("prealloc")).status().unwrap();
    assert!(st.success(), "fallocate");
    {
        use std::os::unix::fs::FileExt;
        f.write_all_at(&gen(5000, 9), 200_000).unwrap();
        f.sync_all().unwrap();
    }
    std::fs::write(m.join("hl"), gen(70_000, 2)).unwrap();
    std::fs::hard_link(m.join("hl"), m.join("hl2")).unwrap();
    std::fs::write(m.join("keep"), gen(30_000, 3)).unwrap();
    vec![
        ("small", "2 (extents)", ""),
        ("multi", "2 (extents)", ""),
        ("frag", "3 (btree)", ""),
        ("remote", "2 (extents)", ""),
        ("xnode", "2 (extents)", "1 (local)"),
        ("xremote", "2 (extents)", "1 (local)"),
        ("xtree", "", "1 (local)"),
        ("prealloc", "2 (extents)", ""),
        ("hl", "2 (extents)", ""),
        ("hl2", "2 (extents)", ""),
    ]
}

/// Inode `ino`'s `core.*` fields as xfs_db prints them.
fn core(img: &Path, ino: u64) -> BTreeMap<String, String> {
    fields(&db(img, &[&format!("inode {ino}"), "p core.format core.aformat core.nblocks core.nextents core.naextents"]))
}

/// Free space as xfs_db counts it: the free extents of every AG (`freesp -s`) plus the AGFL
/// and free-space btree blocks beyond the roots (what `sb_fdblocks` counts with them).
fn space(img: &Path) -> u64 {
    let text = db(img, &["freesp -s"]);
    let total: u64 = text.lines().find_map(|l| l.strip_prefix("total free blocks ")).expect("freesp total").trim().parse().unwrap();
    let agcount: u32 = fields(&db(img, &["sb 0", "p agcount"]))["agcount"].parse().unwrap();
    let mut extra = 0;
    for a in 0..agcount {
        let f = fields(&db(img, &[&format!("agf {a}"), "p flcount btreeblks"]));
        extra += f["flcount"].parse::<u64>().unwrap() + f["btreeblks"].parse::<u64>().unwrap();
    }
    total + extra
}

fn counters(img: &Path) -> BTreeMap<String, String> {
    fields(&db(img, &["sb 0", "p icount ifree fdblocks"]))
}

fn sb_u64(img: &Path, f: &str) -> u64 {
    fields(&db(img, &["sb 0", &format!("p {f}")]))[f].parse().unwrap()
}

/// The kernel fills a fresh `mkfs.xfs ARGS` image; the writer removes every file but `keep`
/// (`hl` then `hl2`: the first only drops a link); judged as the module documentation says.
fn remove_all(args: &[&str], big_tree: bool) {
    let d = tempfile::tempdir().unwrap();
    let img = mkfs(d.path(), args);
    let bs = sb_u64(&img, "blocksize");
    let mut inos = BTreeMap::new();
    let mut expect = Vec::new();
    with_kernel(&img, |m| {
        expect = populate(m, bs, big_tree);
        for e in std::fs::read_dir(m).unwrap() {
            let e = e.unwrap();
            inos.insert(e.file_name().into_string().unwrap(), e.metadata().unwrap().ino());
        }
    });
    repair_clean(&img);
    // The forks are in the formats the test is about.
    let mut freed = 0u64;
    for &(name, fmt, afmt) in &expect {
        let c = core(&img, inos[name]);
        if !fmt.is_empty() {
            assert_eq!(c["core.format"], fmt, "{name}: {c:?}");
        }
        if !afmt.is_empty() {
            assert_ne!(c["core.aformat"], afmt, "{name}: {c:?}");
        }
        if name != "hl2" {
            freed += c["core.nblocks"].parse::<u64>().unwrap();
        }
    }
    assert!(core(&img, inos["multi"])["core.nextents"].parse::<u64>().unwrap() > 1);
    assert_eq!(core(&img, inos["xtree"])["core.aformat"], "3 (btree)");
    let level = fields(&db(&img, &[&format!("inode {}", inos["frag"]), "p u3.bmbt.level"]));
    assert_eq!(level["u3.bmbt.level"], if big_tree { "2" } else { "1" }, "bmbt root level of frag");
    for name in ["xnode", "xremote"] {
        assert!(core(&img, inos[name])["core.naextents"].parse::<u64>().unwrap() >= 1, "{name}: attribute blocks");
    }
    let twin = d.path().join("twin.img");
    assert!(Command::new("cp").arg("--sparse=always").arg(&img).arg(&twin).status().unwrap().success());
    let (space0, fd0) = (space(&img), sb_u64(&img, "fdblocks"));
    let mut w = open(&img);
    let root = w.superblock().rootino;
    let (icount, ifree) = w.inode_counts();
    for &(name, _, _) in &expect {
        w.remove(root, name.as_bytes()).unwrap_or_else(|e| panic!("remove {name}: {e}"));
    }
    assert_eq!(w.fdblocks(), fd0 + freed);
    assert_eq!(w.inode_counts(), (icount, ifree + expect.len() as u64 - 1));
    drop(w);
    repair_clean(&img);
    assert_eq!(space(&img), space0 + freed, "free space back");
    assert_eq!(sb_u64(&img, "fdblocks"), fd0 + freed);
    // The kernel twin.
    with_kernel(&twin, |m| {
        for &(name, _, _) in &expect {
            std::fs::remove_file(m.join(name)).unwrap();
        }
        kernel_settle(m);
    });
    repair_clean(&twin);
    assert_eq!(counters(&img), counters(&twin), "superblock counters against the kernel twin");
    assert_eq!(space(&img), space(&twin), "free space against the kernel twin");
}

#[test]
fn remove_v5_default() {
    remove_all(&[], false);
}

#[test]
fn remove_v5_1k_deep_bmbt() {
    remove_all(&["-b", "size=1024"], true);
}

#[test]
fn remove_v5_no_reflink() {
    remove_all(&["-m", "reflink=0"], false);
}

/// sha256 of a file.
fn sha(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

/// The refcount btree of every AG as xfs_db prints it: its levels and blocks from the AGF,
/// and the records of a one-level tree.
fn refcounts(img: &Path) -> Vec<String> {
    let agcount: u32 = fields(&db(img, &["sb 0", "p agcount"]))["agcount"].parse().unwrap();
    let mut out = Vec::new();
    for a in 0..agcount {
        let f = fields(&db(img, &[&format!("agf {a}"), "p refcntlevel refcntblocks"]));
        if f["refcntlevel"] != "1" {
            out.push(format!("AG {a}: {} levels, {} blocks", f["refcntlevel"], f["refcntblocks"]));
            continue;
        }
        let t = db(img, &[&format!("agf {a}"), "addr refcntroot", "p"]);
        out.extend(t.lines().filter(|l| l.contains(":[")).map(|l| format!("AG {a}: {}", l.trim())));
    }
    out
}

/// The kernel makes files with `setup` on a fresh `mkfs.xfs ARGS -m reflink=1` image; then each of `names` is removed by the writer and, on
/// a copy taken just before, by the kernel: after every removal xfs_repair is clean and the
/// refcount btrees, superblock counters and free space equal the kernel's.
fn removals_match_kernel(args: &[&str], setup: impl FnOnce(&Path), names: &[&str]) -> Vec<String> {
    let d = tempfile::tempdir().unwrap();
    let img = mkfs(d.path(), &[args, &["-m", "reflink=1"]].concat());
    with_kernel(&img, setup);
    repair_clean(&img);
    let r0 = refcounts(&img);
    for name in names {
        let twin = d.path().join("twin.img");
        assert!(Command::new("cp").arg("--sparse=always").arg(&img).arg(&twin).status().unwrap().success());
        let mut w = open(&img);
        let root = w.superblock().rootino;
        w.remove(root, name.as_bytes()).unwrap_or_else(|e| panic!("remove {name}: {e}"));
        drop(w);
        repair_clean(&img);
        with_kernel(&twin, |m| {
            std::fs::remove_file(m.join(name)).unwrap();
            kernel_settle(m);
        });
        assert_eq!(refcounts(&img), refcounts(&twin), "refcount btrees after removing {name}");
        assert_eq!(counters(&img), counters(&twin), "counters after removing {name}");
        assert_eq!(space(&img), space(&twin), "free space after removing {name}");
    }
    r0
}

fn xfs_io_reflink(src: &Path, dst: &Path, so: u64, doff: u64, len: u64) {
    let cmd = format!("reflink -q {} {so} {doff} {len}", src.display());
    let st = Command::new("xfs_io").env("PATH", path_env()).args(["-c", &cmd]).arg(dst).status().unwrap();
    assert!(st.success(), "xfs_io {cmd}");
}

fn cp_reflink(src: &Path, dst: &Path) {
    let st = Command::new("cp").arg("--reflink=always").arg(src).arg(dst).status().unwrap();
    assert!(st.success(), "cp --reflink");
}

/// Reflinked files: a 1 MiB file shared by three names, its first 64 KiB cloned into a fourth
/// file over its own blocks (four owners there), and an unshared file. The writer removes
/// them one by one: each removal drops one owner (records split, counts decremented, records
/// removed at one owner, neighbours merged) and frees only what no one else maps; after every
/// removal xfs_repair (which recomputes the reference counts) is clean, and at the end the
/// counters, free space and refcount records equal a kernel twin's.
#[test]
fn reflinked_owners_dropped() {
    let d = tempfile::tempdir().unwrap();
    let img = mkfs(d.path(), &["-m", "reflink=1"]);
    with_kernel(&img, |m| {
        std::fs::write(m.join("src"), gen(1 << 20, 4)).unwrap();
        for dst in ["dst", "dst2"] {
            cp_reflink(&m.join("src"), &m.join(dst));
        }
        std::fs::write(m.join("part"), gen(512 << 10, 5)).unwrap();
        xfs_io_reflink(&m.join("src"), &m.join("part"), 0, 131072, 65536);
        fragmented(&m.join("alone"), 4096, 30);
    });
    repair_clean(&img);
    let shared0 = refcounts(&img);
    assert!(shared0.len() >= 2, "refcount records: {shared0:?}");
    let twin = d.path().join("twin.img");
    assert!(Command::new("cp").arg("--sparse=always").arg(&img).arg(&twin).status().unwrap().success());
    let names = ["dst", "part", "src", "alone"];
    for name in names {
        let mut w = open(&img);
        let root = w.superblock().rootino;
        w.remove(root, name.as_bytes()).unwrap_or_else(|e| panic!("remove {name}: {e}"));
        drop(w);
        repair_clean(&img);
    }
    assert!(refcounts(&img).is_empty(), "one owner left: no records");
    with_kernel(&twin, |m| {
        for name in names {
            std::fs::remove_file(m.join(name)).unwrap();
        }
        kernel_settle(m);
    });
    repair_clean(&twin);
    assert_eq!(counters(&img), counters(&twin), "superblock counters against the kernel twin");
    assert_eq!(space(&img), space(&twin), "free space against the kernel twin");
}

/// Partial sharing (overlapping clones: counts 2 and 3, records split and merged), removed
/// step by step as [`removals_match_kernel`] judges.
#[test]
fn reflinked_steps_match_kernel() {
    let r0 = removals_match_kernel(
        &[],
        |m| {
            for (n, seed) in [("a", 4), ("b", 5), ("c", 6)] {
                std::fs::write(m.join(n), gen(1 << 20, seed)).unwrap();
            }
            for (dst, so, doff, len) in [("b", 65536, 65536, 524288), ("c", 131072, 0, 131072), ("c", 262144, 524288, 262144)] {
                xfs_io_reflink(&m.join("a"), &m.join(dst), so, doff, len);
            }
        },
        &["b", "a"],
    );
    assert!(r0.len() >= 3 && r0.iter().any(|l| l.contains(",3,")), "records with counts 2 and 3: {r0:?}");
}

/// A fragmented file (800 one-block extents) shared three ways: a refcount btree of two
/// levels whose records all change (3 → 2), then all go (2 → 1, the tree collapsing), as
/// [`removals_match_kernel`] judges.
#[test]
fn reflinked_deep_refcount_tree() {
    let r0 = removals_match_kernel(
        &[],
        |m| {
            fragmented(&m.join("f"), 4096, 800);
            cp_reflink(&m.join("f"), &m.join("g"));
            cp_reflink(&m.join("f"), &m.join("h"));
        },
        &["g", "f", "h"],
    );
    assert!(r0.iter().any(|l| l.contains("2 levels")), "a two-level refcount btree: {r0:?}");
}

/// [`reflinked_deep_refcount_tree`] with 1 KiB blocks: 2000 records, a two-level refcount
/// btree of some 25 leaves.
#[test]
fn reflinked_deep_refcount_tree_1k() {
    let r0 = removals_match_kernel(
        &["-b", "size=1024"],
        |m| {
            fragmented(&m.join("f"), 1024, 2000);
            cp_reflink(&m.join("f"), &m.join("g"));
            cp_reflink(&m.join("f"), &m.join("h"));
        },
        &["g", "f", "h"],
    );
    assert!(r0.iter().any(|l| l.contains("2 levels")), "a two-level refcount btree: {r0:?}");
}

/// A file sharing blocks with itself (its first 64 KiB cloned over its second) and with a
/// copy: every mapping drops one reference, as [`removals_match_kernel`] judges.
#[test]
fn reflinked_within_one_file() {
    let r0 = removals_match_kernel(
        &[],
        |m| {
            std::fs::write(m.join("self"), gen(256 << 10, 7)).unwrap();
            xfs_io_reflink(&m.join("self"), &m.join("self"), 0, 65536, 65536);
            cp_reflink(&m.join("self"), &m.join("copy"));
        },
        &["self", "copy"],
    );
    assert!(r0.iter().any(|l| l.contains(",4,")), "blocks with four mappings: {r0:?}");
}

/// A hostile refcount btree: a shared record with a count of 1 is corruption, the image
/// unchanged.
#[test]
fn hostile_refcount_refused() {
    let d = tempfile::tempdir().unwrap();
    let img = mkfs(d.path(), &["-m", "reflink=1"]);
    with_kernel(&img, |m| {
        std::fs::write(m.join("a"), gen(64 << 10, 1)).unwrap();
        cp_reflink(&m.join("a"), &m.join("b"));
    });
    let out = Command::new("xfs_db").env("PATH", path_env()).args(["-x", "-c", "agf 0", "-c", "addr refcntroot", "-c", "write recs[1].refcount 1"]).arg(&img).output().unwrap();
    assert!(out.status.success(), "xfs_db: {}", String::from_utf8_lossy(&out.stderr));
    let before = sha(&img);
    let mut w = open(&img);
    let root = w.superblock().rootino;
    match w.remove(root, b"b") {
        Err(Error::Corrupt { msg, .. }) => assert!(msg.contains("refcountbt"), "{msg}"),
        r => panic!("{r:?}"),
    }
    drop(w);
    assert_eq!(sha(&img), before);
}

/// A v4 image (`-m crc=0`, filled by `mkfs.xfs -p`: the kernel cannot mount v4) with a small
/// file, a 20 MiB file, a remote symlink; removed by the writer: xfs_repair clean and exactly
/// their blocks back. (mkfs.xfs 6.1 writes a prototype file spanning AGs over the next AG's
/// headers, so the file stays inside one AG.)
#[test]
fn remove_v4_proto() {
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("small"), gen(10_000, 1)).unwrap();
    std::fs::write(tree.join("big"), gen(20 << 20, 2)).unwrap();
    std::os::unix::fs::symlink("t".repeat(400), tree.join("remote")).unwrap();
    std::fs::write(tree.join("keep"), b"keep").unwrap();
    let proto = Command::new("python3").arg(common::root().join("fixtures/xfs-proto.py")).arg(&tree).output().unwrap();
    assert!(proto.status.success());
    let pf = d.path().join("proto");
    std::fs::write(&pf, &proto.stdout).unwrap();
    let img = mkfs(d.path(), &["-m", "crc=0", "-p", pf.to_str().unwrap()]);
    std::fs::remove_file(tree.join("big")).unwrap();
    repair_clean(&img);
    let ls = db(&img, &["ls /"]);
    let ino = |name: &str| -> u64 {
        let l = ls.lines().find(|l| l.split_whitespace().nth(5) == Some(name)).unwrap_or_else(|| panic!("{name} in {ls}"));
        l.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let mut freed = 0;
    for name in ["small", "big", "remote"] {
        let c = core(&img, ino(name));
        assert_eq!(c["core.format"], "2 (extents)", "{name}: {c:?}");
        freed += c["core.nblocks"].parse::<u64>().unwrap();
    }
    let (space0, fd0) = (space(&img), sb_u64(&img, "fdblocks"));
    let mut w = open(&img);
    let root = w.superblock().rootino;
    for name in ["small", "big", "remote"] {
        w.remove(root, name.as_bytes()).unwrap_or_else(|e| panic!("remove {name}: {e}"));
    }
    drop(w);
    repair_clean(&img);
    assert_eq!(space(&img), space0 + freed);
    assert_eq!(sb_u64(&img, "fdblocks"), fd0 + freed);
}

/// Hostile extent maps (patched with `xfs_db -x`, the inode CRC recomputed): an extent over
/// free space, over another extent of the file, over the inode chunk, over the by-block
/// btree's root, and a block count that does not match; each removal fails as corruption
/// and the image stays byte-identical.
#[test]
fn hostile_maps_refused() {
    let d = tempfile::tempdir().unwrap();
    let img = mkfs(d.path(), &[]);
    let mut ino = 0;
    with_kernel(&img, |m| {
        fragmented(&m.join("victim"), 4096, 3);
        ino = std::fs::metadata(m.join("victim")).unwrap().ino();
    });
    let agblocks: u64 = sb_u64(&img, "agblocks");
    let bnoroot: u64 = fields(&db(&img, &["agf 0", "p bnoroot"]))["bnoroot"].parse().unwrap();
    let first: u64 = {
        let t = db(&img, &[&format!("inode {ino}"), "p u3.bmx[0].startblock"]);
        fields(&t)["u3.bmx[0].startblock"].parse().unwrap()
    };
    let chunk = ino >> fields(&db(&img, &["sb 0", "p inopblog"]))["inopblog"].parse::<u32>().unwrap();
    let cases: Vec<(&str, String)> = vec![
        ("free space", format!("write u3.bmx[1].startblock {}", agblocks - 10)),
        ("mapped twice", format!("write u3.bmx[1].startblock {first}")),
        ("inode chunk", format!("write u3.bmx[1].startblock {chunk}")),
        ("bnobt root", format!("write u3.bmx[1].startblock {bnoroot}")),
        ("block count", "write core.nblocks 7".to_string()),
    ];
    for (what, cmd) in cases {
        let bad = d.path().join("bad.img");
        assert!(Command::new("cp").arg("--sparse=always").arg(&img).arg(&bad).status().unwrap().success());
        let out = Command::new("xfs_db").env("PATH", path_env()).args(["-x", "-c", &format!("inode {ino}"), "-c", &cmd]).arg(&bad).output().unwrap();
        assert!(out.status.success(), "xfs_db {cmd}");
        let before = sha(&bad);
        let mut w = open(&bad);
        let root = w.superblock().rootino;
        match w.remove(root, b"victim") {
            Err(Error::Corrupt { msg, .. }) => eprintln!("{what}: {msg}"),
            r => panic!("{what}: {r:?}"),
        }
        drop(w);
        assert_eq!(sha(&bad), before, "{what}: the image changed");
    }
}
