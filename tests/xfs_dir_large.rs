//! Node-format directories past their first free index block and their first level of da
//! nodes, written by `XfsWriter` (`fs::xfs::dir2::ops` over the da btree of `fs::xfs::da`):
//! a second and third free index block (`xfs_dir3_free_get_buf`), freed again when their
//! last data block goes and made again in the hole; a full root node split into a tree of
//! three levels (`xfs_da3_root_split`) and then a full node below the root
//! (`xfs_da3_node_split`); directory blocks in pieces (several extents). Removal never
//! joins blocks: leaves keep their stale entries.
//!
//! The smallest configuration is the default one: directory blocks cannot be smaller than
//! 4 KiB (`mkfs.xfs -n size` refuses less, whatever the filesystem block size), so the
//! thresholds are those of 4 KiB directory blocks:
//! - A free index block describes 2016 data blocks on v5 (2040 on v4). Names of 255 bytes
//!   (the longest) take 272 bytes, 14 to a v5 data block (15 on v4): the second free index
//!   block comes with name 28 225 (2016 × 14 + 1), the third with name 56 449; on v4 the
//!   second with name 30 600.
//! - A node block holds 504 entries on v5 (510 on v4), a leaf 504 hashes (510). Names added
//!   in ascending (or descending) hash order always split the last (first) leaf, leaving
//!   ~252 in the other half: the fewest names that fill the root. It splits at name
//!   127 264 on v5 (130 304 on v4); its right half (253 entries) splits below the root at
//!   name 190 780. In random order the root splits at ~155 000 names and a node below it at
//!   ~315 000 (`soak_writer_only`).
//!
//! To keep the writer's share affordable in a debug build (~1 ms a name in a directory this
//! size), the bulk of each directory is made by the kernel (hard links to one file, through
//! a loop mount; v4, which this kernel cannot mount, by `mkfs.xfs -p`) up to a little before
//! each threshold, and the writer adds the names that cross it; the kernel then carries on
//! from the writer's blocks. The kernel also thins data blocks to one name each before the
//! writer's removals empty them (the removals that free blocks are the writer's).
//! `soak_writer_only` (ignored; run it in release) makes whole directories, splits
//! included, with the writer alone, and removes all but ten names in random order.
//!
//! Judges after each phase: `xfs_repair -n` clean; `xfs_db ls` (every hash good) lists
//! exactly the expected names and inodes; the kernel's readdir (v5) lists them, and its
//! lookup of every name through the hash index finds its inode — on v4 our own reader's
//! listing and lookups (of every 16th name); the directory's shape from `xfs_db` (data,
//! leaf and free index blocks, the root's level and count) as expected. A twin made by the
//! kernel alone from the same names compares equal.

mod common;

use common::xfs::{db, db_ls, fields, mkfs, repair_clean, with_kernel};
use common::Rng;
use std::collections::BTreeMap;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use vguestfs::disk::{Dev, RawFile};
use vguestfs::fs::xfs::dir2::hash::hashname;
use vguestfs::fs::xfs::writer::XfsWriter;
use vguestfs::fs::xfs::XfsFs;
use vguestfs::fs::Filesystem;

/// `XFS_DIR2_LEAF_OFFSET` and `XFS_DIR2_FREE_OFFSET`.
const LEAF_OFFSET: u64 = 32 << 30;
const FREE_OFFSET: u64 = 64 << 30;

/// name → inode.
type Model = BTreeMap<String, u64>;

fn open(img: &Path) -> XfsWriter {
    let dev: Dev = Arc::new(RawFile::open(img, true).expect("open image rw"));
    XfsWriter::open(dev).expect("XfsWriter::open")
}

/// A directory's blocks as xfs_db sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shape {
    /// Data blocks mapped.
    data: usize,
    /// Leaf and node blocks mapped.
    leaf: usize,
    /// The free index blocks mapped, by number in the free index section (0, 1, 2…).
    free: Vec<u64>,
    /// The root at the leaf offset: its level and count when a node, (0, 0) for a leaf.
    root: (u32, usize),
    /// `di_size`.
    size: u64,
}

fn shape(img: &Path, ino: u64) -> Shape {
    let sb = fields(&db(img, &["sb 0", "p blocksize dirblklog"]));
    let bs: u64 = sb["blocksize"].parse().unwrap();
    let dirbs = bs << sb["dirblklog"].parse::<u32>().unwrap();
    let per = dirbs / bs;
    let text = db(img, &[&format!("inode {ino}"), "bmap", "p core.size"]);
    let (mut data, mut leaf, mut free) = (0, 0, Vec::new());
    for l in text.lines().filter_map(|l| l.strip_prefix("data offset ")) {
        // "OFF startblock N (AG/AGBNO) count C flag F"
        let w: Vec<&str> = l.split_whitespace().collect();
        let off: u64 = w[0].parse().unwrap();
        let count: u64 = w[w.iter().position(|&x| x == "count").unwrap() + 1].parse().unwrap();
        for fb in (off..off + count).filter(|fb| fb % per == 0) {
            match fb * bs {
                b if b >= FREE_OFFSET => free.push((b - FREE_OFFSET) / dirbs),
                b if b >= LEAF_OFFSET => leaf += 1,
                _ => data += 1,
            }
        }
    }
    let size = fields(&text)["core.size"].parse().unwrap();
    let r = fields(&db(img, &[&format!("inode {ino}"), &format!("dblock {}", LEAF_OFFSET / bs), "p"]));
    let root = match (r.get("nhdr.level"), r.get("nhdr.count")) {
        (Some(l), Some(c)) => (l.parse().unwrap(), c.parse().unwrap()),
        _ => (0, 0),
    };
    Shape { data, leaf, free, root, size }
}

/// `n` distinct names: `tag`, a number, and random letters up to `len` bytes.
fn names(rng: &mut Rng, tag: &str, n: usize, len: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut s = format!("{tag}{i:07}-");
            while s.len() < len {
                s.push((b'a' + rng.below(26) as u8) as char);
            }
            s
        })
        .collect()
}

/// `names`, sorted by hash (and name), ascending or descending.
fn by_hash(mut v: Vec<String>, descending: bool) -> Vec<String> {
    v.sort_by_key(|n| (hashname(n.as_bytes()), n.clone()));
    if descending {
        v.reverse();
    }
    v
}

/// The kernel, through a loop mount, hard-links `/t` as each of `names` in `/d`.
fn kernel_links(img: &Path, names: &[String]) {
    with_kernel(img, |m| {
        let (t, d) = (m.join("t"), m.join("d"));
        for n in names {
            std::fs::hard_link(&t, d.join(n)).unwrap_or_else(|e| panic!("kernel: link {n}: {e}"));
        }
    });
}

/// The kernel, through a loop mount, removes each of `names` from `/d`.
fn kernel_unlinks(img: &Path, names: &[String], model: &mut Model) {
    with_kernel(img, |m| {
        for n in names {
            std::fs::remove_file(m.join("d").join(n)).unwrap_or_else(|e| panic!("kernel: unlink {n}: {e}"));
        }
    });
    for n in names {
        model.remove(n).unwrap();
    }
}

/// The writer hard-links inode `t` as each of `names` in directory `d`.
fn writer_links(img: &Path, d: u64, t: u64, names: &[String], model: &mut Model) {
    let mut w = open(img);
    for n in names {
        w.link(t, d, n.as_bytes()).unwrap_or_else(|e| panic!("writer: link {n}: {e}"));
        model.insert(n.clone(), t);
    }
}

/// The writer removes each of `names` from directory `d`.
fn writer_removes(img: &Path, d: u64, names: &[String], model: &mut Model) {
    let mut w = open(img);
    for n in names {
        w.remove(d, n.as_bytes()).unwrap_or_else(|e| panic!("writer: remove {n}: {e}"));
        model.remove(n).unwrap();
    }
}

/// A fresh image (`mkfs.xfs ARGS`) where the kernel made `/d` and the file `/t`: the image,
/// and the inodes of `/d` and `/t`.
fn fresh_v5(args: &[&str]) -> (tempfile::TempDir, std::path::PathBuf, u64, u64) {
    let (t, img) = mkfs(args);
    with_kernel(&img, |m| {
        std::fs::create_dir(m.join("d")).unwrap();
        std::fs::File::create(m.join("t")).unwrap();
    });
    let root = db_ls(&img, "/");
    (t, img.clone(), root["d"], root["t"])
}

/// The judges (see the module documentation): `xfs_repair -n`, `xfs_db ls`, and the
/// kernel's (v5) or our reader's (v4) listing and lookup of every name.
fn check(img: &Path, dir: &str, d: u64, model: &Model, v5: bool, what: &str) {
    repair_clean(img);
    let mut ls = db_ls(img, dir);
    ls.remove(".");
    ls.remove("..");
    assert!(ls == *model, "{what}: xfs_db ls lists {} names, {} expected", ls.len(), model.len());
    if v5 {
        with_kernel(img, |m| {
            let dp = m.join(dir.trim_start_matches('/'));
            let got: Model = std::fs::read_dir(&dp).unwrap().map(|e| e.unwrap()).map(|e| (e.file_name().into_string().unwrap(), e.ino())).collect();
            assert!(got == *model, "{what}: the kernel lists {} names, {} expected", got.len(), model.len());
            for (n, &ino) in model {
                let st = std::fs::symlink_metadata(dp.join(n)).unwrap_or_else(|e| panic!("{what}: kernel lookup {n}: {e}"));
                assert_eq!(st.ino(), ino, "{what}: kernel lookup {n}");
            }
            // A name not there is not found (the hash index walked to its leaf).
            assert!(std::fs::symlink_metadata(dp.join("not-there")).is_err());
        });
    } else {
        let fs = XfsFs::open(Arc::new(RawFile::open(img, false).unwrap())).unwrap();
        let got: Model = fs.read_dir(d).unwrap().into_iter().map(|e| (String::from_utf8(e.name).unwrap(), e.ino)).collect();
        assert!(got == *model, "{what}: our reader lists {} names, {} expected", got.len(), model.len());
        // Every 16th name (our reader's lookups in a debug build are the slow part).
        for (n, &ino) in model.iter().step_by(16) {
            assert_eq!(fs.lookup(d, n.as_bytes()).unwrap(), Some(ino), "{what}: our lookup of {n}");
        }
        assert_eq!(fs.lookup(d, b"not-there").unwrap(), None);
    }
}

/// A shuffled copy of `v` (Fisher–Yates with `rng`).
fn shuffled(rng: &mut Rng, v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    for i in (1..v.len()).rev() {
        v.swap(i, rng.below(i as u64 + 1) as usize);
    }
    v
}

/// v5: a second and a third free index block written by the writer (names 28 225 and
/// 56 449, 255 bytes each); then removals in random order: first every name of the data
/// blocks the second free index block describes (it goes, leaving a hole before the
/// third), names added again (it comes back in the hole), then everything but five names
/// of data block 0 (one data block and one free index block left, `di_size` one block);
/// then names added again. A kernel twin made of the same names has the same free index
/// blocks.
#[test]
fn free_index_blocks_v5() {
    let (_t, img, d, t) = fresh_v5(&[]);
    let mut rng = Rng(0xf1ee_0001);
    let all = names(&mut rng, "f", 56_700, 255);
    let mut model = Model::new();
    // Names 0..28 000 by the kernel fill data blocks 0..1999 (14 a block, in order).
    kernel_links(&img, &all[..28_000]);
    model.extend(all[..28_000].iter().map(|n| (n.clone(), t)));
    let s = shape(&img, d);
    assert_eq!((s.data, s.free.clone()), (2000, vec![0]), "{s:?}");
    // The writer's 300 reach data block 2021: free index block 1.
    writer_links(&img, d, t, &all[28_000..28_300], &mut model);
    let s = shape(&img, d);
    assert_eq!((s.data, s.free.clone()), (2022, vec![0, 1]), "{s:?}");
    check(&img, "/d", d, &model, true, "second free index block");
    // The kernel carries on in the writer's free index block, to data block 4014.
    kernel_links(&img, &all[28_300..56_200]);
    model.extend(all[28_300..56_200].iter().map(|n| (n.clone(), t)));
    assert_eq!(shape(&img, d).free, vec![0, 1]);
    writer_links(&img, d, t, &all[56_200..], &mut model);
    let peak = shape(&img, d);
    assert_eq!((peak.data, peak.free.clone()), (4050, vec![0, 1, 2]), "{peak:?}");
    check(&img, "/d", d, &model, true, "third free index block");

    // The twin: the kernel alone, the same names in the same order.
    let (_t2, twin, td, _) = fresh_v5(&[]);
    kernel_links(&twin, &all);
    let ts = shape(&twin, td);
    // Node format both: a da node over the leaves, free index blocks.
    assert!(peak.root.0 == 1 && peak.leaf > 1, "{peak:?}");
    assert_eq!((ts.data, ts.free.clone(), ts.root.0), (peak.data, peak.free.clone(), peak.root.0), "twin {ts:?} ours {peak:?}");
    let tl: Vec<String> = db_ls(&twin, "/d").into_keys().filter(|k| k != "." && k != "..").collect();
    assert!(tl.iter().eq(model.keys()), "the twin's names");
    repair_clean(&twin);

    // The kernel thins data blocks 2016..4031 (free index block 1's) to one name each (a
    // data block keeps its place while it holds a name); the writer removes those 2016 in
    // random order: free index block 1 goes, a hole before block 2.
    let thin: Vec<String> = (2016 * 14..4032 * 14).filter(|i| i % 14 != 0).map(|i| all[i].clone()).collect();
    kernel_unlinks(&img, &thin, &mut model);
    let last: Vec<String> = (2016..4032).map(|b| all[b * 14].clone()).collect();
    writer_removes(&img, d, &shuffled(&mut rng, &last), &mut model);
    let s = shape(&img, d);
    assert_eq!((s.data, s.free.clone(), s.size), (4050 - 2016, vec![0, 2], 4050 * 4096), "{s:?}");
    check(&img, "/d", d, &model, true, "free index block 1 gone");
    // Data blocks 0..2015 and 4032..4049 are full: new names go to new data blocks from
    // 2016, and free index block 1 comes back in the hole.
    let again = names(&mut rng, "g", 1000, 255);
    writer_links(&img, d, t, &again, &mut model);
    let s = shape(&img, d);
    assert_eq!((s.data, s.free.clone()), (4050 - 2016 + 72, vec![0, 1, 2]), "{s:?}");
    check(&img, "/d", d, &model, true, "free index block 1 again");
    // The kernel thins every data block to one name (block 0 to its first five); the writer
    // removes the rest, ~2100 names in random order, down to those five: every data block
    // but 0 goes, with free index blocks 1 and 2, and di_size is one block again.
    let keep: Vec<String> = all[..5].to_vec();
    let firsts: std::collections::BTreeSet<&String> = all.iter().step_by(14).chain(again.iter().step_by(14)).collect();
    let thin: Vec<String> = model.keys().filter(|k| !keep.contains(k) && !firsts.contains(k)).cloned().collect();
    kernel_unlinks(&img, &thin, &mut model);
    let rest: Vec<String> = model.keys().filter(|k| !keep.contains(k)).cloned().collect();
    assert_eq!(rest.len(), 4050 - 2016 + 72 - 1);
    writer_removes(&img, d, &shuffled(&mut rng, &rest), &mut model);
    let s = shape(&img, d);
    assert_eq!((s.data, s.free.clone(), s.size), (1, vec![0], 4096), "{s:?}");
    assert_eq!(model.len(), 5);
    check(&img, "/d", d, &model, true, "down to five names");
    let again = names(&mut rng, "h", 500, 255);
    writer_links(&img, d, t, &again, &mut model);
    check(&img, "/d", d, &model, true, "names added again");
}

/// Adds `names` (in order) with the writer, `batch` at a time, until the root of `d`'s
/// da btree is `want` (level, at least this count); returns how many it took.
fn writer_until(img: &Path, d: u64, t: u64, names: &[String], batch: usize, model: &mut Model, want: (u32, usize)) -> usize {
    let mut used = 0;
    for chunk in names.chunks(batch) {
        writer_links(img, d, t, chunk, model);
        used += chunk.len();
        let r = shape(img, d).root;
        if r.0 == want.0 && r.1 >= want.1 {
            return used;
        }
    }
    panic!("no split after {used} names");
}

/// v5: the root node fills (names in ascending hash order; the kernel up to ~490 leaves) and
/// the writer's names split it: three levels. The kernel carries on in the writer's tree
/// until the root's right child is nearly full; the writer's names split it (the root
/// gains a third entry). Then removals in random order and names added again; a twin made
/// by the kernel has the same depth.
#[test]
fn node_splits_v5() {
    let (_t, img, d, t) = fresh_v5(&[]);
    let mut rng = Rng(0x5b11_0002);
    let all = by_hash(names(&mut rng, "n", 200_000, 12), false);
    let mut model = Model::new();
    let k1 = 125_500;
    kernel_links(&img, &all[..k1]);
    model.extend(all[..k1].iter().map(|n| (n.clone(), t)));
    let s = shape(&img, d);
    assert!(s.root.0 == 1 && s.root.1 > 450, "the kernel's tree before the writer's names: {s:?}");
    let used = writer_until(&img, d, t, &all[k1..], 252, &mut model, (2, 2));
    let s = shape(&img, d);
    eprintln!("root split after {} names (the root had {} entries): {s:?}", k1 + used, s.root.1);
    check(&img, "/d", d, &model, true, "root split");
    // The right level-1 node holds 253 entries; 61 500 names more make it nearly full.
    let k2 = k1 + used;
    let k3 = k2 + 61_500;
    kernel_links(&img, &all[k2..k3]);
    model.extend(all[k2..k3].iter().map(|n| (n.clone(), t)));
    let s = shape(&img, d);
    assert_eq!(s.root, (2, 2), "the kernel's names did not split the right node: {s:?}");
    let used = writer_until(&img, d, t, &all[k3..], 252, &mut model, (2, 3));
    let peak = shape(&img, d);
    eprintln!("node split after {} names: {peak:?}", k3 + used);
    check(&img, "/d", d, &model, true, "node split below the root");
    let made: Vec<String> = all[..k3 + used].to_vec();

    // The twin: the kernel alone, the same names in the same order.
    let (_t2, twin, td, _) = fresh_v5(&[]);
    kernel_links(&twin, &made);
    let ts = shape(&twin, td);
    eprintln!("kernel twin: {ts:?}");
    assert_eq!(ts.root.0, 2, "twin {ts:?}");
    assert!(!ts.free.is_empty() && !peak.free.is_empty());
    let tl: Vec<String> = db_ls(&twin, "/d").into_keys().filter(|k| k != "." && k != "..").collect();
    assert!(tl.iter().eq(model.keys()), "the twin's names");
    repair_clean(&twin);

    // Removals in random order: 5000 names, then every name of the lowest 2% of hashes
    // (~15 whole leaves left with stale entries only); names added again.
    let gone = shuffled(&mut rng, &made)[..5000].to_vec();
    writer_removes(&img, d, &gone, &mut model);
    check(&img, "/d", d, &model, true, "5000 names removed");
    let low = by_hash(model.keys().cloned().collect(), false);
    let low = shuffled(&mut rng, &low[..low.len() / 50]);
    writer_removes(&img, d, &low, &mut model);
    assert_eq!(shape(&img, d).root, peak.root, "removal joins no block");
    check(&img, "/d", d, &model, true, "the lowest hashes removed");
    let again = names(&mut rng, "m", 3000, 20);
    writer_links(&img, d, t, &again, &mut model);
    check(&img, "/d", d, &model, true, "names added again");
}

/// v4 (no CRCs; the kernel cannot mount it): `mkfs.xfs -p` makes `/a` (long names, up to
/// data block ~2000) and `/b` (short names in descending hash order, ~490 leaves); the
/// writer's names cross into a second free index block of `/a` (from data block 2040) and
/// split the root node of `/b` (the leaf split each time is the first: the left half of the
/// split node takes the new key). Removals in random order (free index block 1 of `/a`
/// freed), names added again (and it comes back). (`soak_writer_only` takes a v4 directory
/// of the writer's down to ten names.)
#[test]
fn large_directories_v4() {
    let mut rng = Rng(0x0004_1a26);
    let a_names = names(&mut rng, "a", 31_200, 255);
    let b_names = by_hash(names(&mut rng, "b", 140_000, 12), true);
    let (a0, b0) = (30_000, 128_000);
    let mut p = String::from("/dev/null\n0 0\nd--755 0 0\nt ---644 0 0 /dev/null\n");
    for (dir, ns) in [("a", &a_names[..a0]), ("b", &b_names[..b0])] {
        p += &format!("{dir} d--755 0 0\n");
        for n in ns {
            p += &format!("{n} ---644 0 0 /dev/null\n");
        }
        p += "$\n";
    }
    p += "$\n";
    let pd = tempfile::tempdir().unwrap();
    let pf = pd.path().join("proto");
    std::fs::write(&pf, p).unwrap();
    let (_t, img) = mkfs(&["-m", "crc=0", "-p", pf.to_str().unwrap()]);
    let root = db_ls(&img, "/");
    let (a, b, t) = (root["a"], root["b"], root["t"]);
    let mut ma: Model = db_ls(&img, "/a").into_iter().filter(|(k, _)| k != "." && k != "..").collect();
    let mut mb: Model = db_ls(&img, "/b").into_iter().filter(|(k, _)| k != "." && k != "..").collect();
    assert_eq!((ma.len(), mb.len()), (a0, b0));
    // /a: 15 names of 272 bytes a v4 data block (14 in block 0), 2040 blocks a free index block.
    let s = shape(&img, a);
    assert_eq!(s.free, vec![0], "{s:?}");
    writer_links(&img, a, t, &a_names[a0..], &mut ma);
    let s = shape(&img, a);
    assert_eq!(s.free, vec![0, 1], "{s:?}");
    check(&img, "/a", a, &ma, false, "v4: second free index block");
    // /b: the root splits.
    let s = shape(&img, b);
    assert!(s.root.0 == 1 && s.root.1 > 450, "mkfs's tree: {s:?}");
    let used = writer_until(&img, b, t, &b_names[b0..], 128, &mut mb, (2, 2));
    eprintln!("v4 root split after {} names: {:?}", b0 + used, shape(&img, b));
    check(&img, "/b", b, &mb, false, "v4: root split");
    // Removals in random order: every name of /a's data blocks from 2040 (free index block
    // 1's) and 3000 more; free index block 1 goes. 3000 names of /b.
    let first_of_1 = 14 + 15 * 2039;
    let mut gone: Vec<String> = shuffled(&mut rng, &a_names[..first_of_1])[..3000].to_vec();
    gone.extend_from_slice(&a_names[first_of_1..]);
    writer_removes(&img, a, &shuffled(&mut rng, &gone), &mut ma);
    let s = shape(&img, a);
    assert_eq!((s.data, s.free.clone()), (2040, vec![0]), "{s:?}");
    check(&img, "/a", a, &ma, false, "v4: free index block 1 gone");
    let bk: Vec<String> = mb.keys().cloned().collect();
    let gone = shuffled(&mut rng, &bk)[..3000].to_vec();
    writer_removes(&img, b, &gone, &mut mb);
    // Names added again: in /a 3000 go where names went, the rest to new data blocks from
    // 2040 and free index block 1 again.
    let again = names(&mut rng, "r", 4000, 255);
    writer_links(&img, a, t, &again, &mut ma);
    writer_links(&img, b, t, &again, &mut mb);
    let s = shape(&img, a);
    assert_eq!((s.data, s.free.clone()), (2040 + 67, vec![0, 1]), "{s:?}");
    check(&img, "/a", a, &ma, false, "v4: names added again to /a");
    check(&img, "/b", b, &mb, false, "v4: names removed from and added again to /b");
}

/// Cuts the free space of the filesystem mounted at `m` into single blocks: with the
/// reserve pool emptied (`xfs_io resblks 0`), a file `fill` takes every free block
/// (`fallocate`, 1 MiB then 1 KiB at a time, to ENOSPC), then every other of its blocks is
/// punched out. (The filesystem is made without reflink and finobt, whose per-AG reservations
/// would keep runs of free blocks the kernel does not hand out.)
fn fragment_free_space(m: &Path, bs: i64) {
    use std::os::unix::io::AsRawFd;
    let out = Command::new("xfs_io").env("PATH", common::xfs::path_env()).args(["-x", "-c", "resblks 0"]).arg(m).output().unwrap();
    assert!(out.status.success(), "xfs_io resblks: {}", String::from_utf8_lossy(&out.stderr));
    let f = std::fs::OpenOptions::new().create(true).truncate(true).write(true).open(m.join("fill")).unwrap();
    let fd = f.as_raw_fd();
    let mut off = 0i64;
    for step in [1 << 20, bs] {
        // SAFETY: fallocate on an open descriptor, no memory passed.
        while unsafe { libc::fallocate(fd, 0, off, step) } == 0 {
            off += step;
        }
    }
    let mut at = 0;
    while at < off {
        // SAFETY: as above.
        let r = unsafe { libc::fallocate(fd, libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE, at, bs) };
        assert_eq!(r, 0, "punch at {at}: {}", std::io::Error::last_os_error());
        at += 2 * bs;
    }
}

/// The directory blocks of `ino` whose filesystem blocks are not in one extent: (data
/// fork extents, those blocks).
fn split_blocks(img: &Path, ino: u64, per: u64) -> (usize, usize) {
    let text = db(img, &[&format!("inode {ino}"), "bmap"]);
    let mut ext = Vec::new();
    for l in text.lines().filter_map(|l| l.strip_prefix("data offset ")) {
        let w: Vec<&str> = l.split_whitespace().collect();
        let count: u64 = w[w.iter().position(|&x| x == "count").unwrap() + 1].parse().unwrap();
        ext.push((w[0].parse::<u64>().unwrap(), count));
    }
    let split = ext.iter().filter(|(o, c)| o % per != 0 || c % per != 0).count();
    (ext.len(), split)
}

/// v5, 1 KiB blocks: 4 KiB directory blocks of four filesystem blocks, on a 32 MiB
/// filesystem whose free space is all single blocks. The kernel's directory `/k` gets
/// blocks in four pieces (`xfs_da_grow_inode_int` maps what it finds); the writer reads and
/// writes them (names added and removed). The writer's directory `/d` grows the same way
/// (`dir_alloc`: no run of four blocks anywhere), up to node form; then every name goes, the
/// pieces freed. (1000 names make ~10 data blocks, a leaf and a free index block here.)
#[test]
fn directory_blocks_in_pieces() {
    let (_t, img) = common::xfs::mkfs_as(&["-b", "size=1024", "-d", "size=32m", "-m", "reflink=0,finobt=0"], true);
    with_kernel(&img, |m| {
        std::fs::create_dir(m.join("d")).unwrap();
        std::fs::create_dir(m.join("k")).unwrap();
        std::fs::File::create(m.join("t")).unwrap();
        fragment_free_space(m, 1024);
    });
    let free = db(&img, &["freesp -s"]);
    assert!(free.contains("average free extent size 1\n"), "the free space is not in single blocks:\n{free}");
    let root = db_ls(&img, "/");
    let (d, k, t) = (root["d"], root["k"], root["t"]);
    let mut rng = Rng(0x9_1ece5);
    // The kernel's directory in pieces; the writer edits it.
    let kn = names(&mut rng, "k", 1500, 40);
    with_kernel(&img, |m| {
        for n in &kn {
            std::fs::hard_link(m.join("t"), m.join("k").join(n)).unwrap();
        }
    });
    let mut mk: Model = kn.iter().map(|n| (n.clone(), t)).collect();
    let (ext, split) = split_blocks(&img, k, 4);
    assert!(split > 10, "the kernel's directory: {ext} extents, {split} not whole directory blocks");
    check(&img, "/k", k, &mk, true, "the kernel's directory in pieces");
    let more = names(&mut rng, "w", 500, 40);
    writer_links(&img, k, t, &more, &mut mk);
    let gone = shuffled(&mut rng, &kn)[..1000].to_vec();
    writer_removes(&img, k, &gone, &mut mk);
    check(&img, "/k", k, &mk, true, "the writer's edits of the kernel's pieces");
    // The writer's directory: every block in pieces.
    let dn = names(&mut rng, "d", 1000, 40);
    let mut md = Model::new();
    writer_links(&img, d, t, &dn, &mut md);
    let s = shape(&img, d);
    let (ext, split) = split_blocks(&img, d, 4);
    assert!(!s.free.is_empty() && split >= s.data + s.leaf + s.free.len(), "{s:?}: {ext} extents, {split} pieces");
    check(&img, "/d", d, &md, true, "the writer's directory in pieces");
    let all: Vec<String> = md.keys().cloned().collect();
    let all = shuffled(&mut rng, &all);
    writer_removes(&img, d, &all, &mut md);
    let s = shape(&img, d);
    assert_eq!((s.data, s.free.clone(), s.size), (1, vec![0], 4096), "{s:?}");
    check(&img, "/d", d, &md, true, "the writer's directory emptied");
    // The pieces went back: the free space is as many single blocks as before, and more.
    let after = db(&img, &["freesp -s"]);
    assert!(after.contains("average free extent size 1"), "{after}");
}

/// One directory made by the writer alone: names of 40 bytes (72 to a data block) in
/// random hash order until the tree has three levels and a node below the root has split
/// (~350 000 names: three free index blocks on the way), judged at each threshold; then
/// every name but ten removed in random order (judged halfway and at the end: one data
/// block left); then 5000 names added again.
fn writer_only(args: &[&str], seed: u64) {
    let v5 = !args.contains(&"crc=0");
    let (_t, img) = mkfs(args);
    let (d, t) = {
        let mut w = open(&img);
        let root = w.superblock().rootino;
        let d = w.create(root, b"d", 0o40755, 0, 0).unwrap();
        let t = w.create(root, b"t", 0o100644, 0, 0).unwrap();
        (d, t)
    };
    let mut rng = Rng(seed);
    let all = names(&mut rng, "s", 600_000, 40);
    let all = shuffled(&mut rng, &all);
    let mut model = Model::new();
    let mut seen = (shape(&img, d).free.len(), 0u32, 0usize);
    let mut used = 0;
    for chunk in all.chunks(5000) {
        writer_links(&img, d, t, chunk, &mut model);
        used += chunk.len();
        let s = shape(&img, d);
        if (s.free.len(), s.root.0) != (seen.0, seen.1) || (s.root.0 == 2 && s.root.1 > 2 && seen.2 == 2) {
            eprintln!("{} names: {s:?}", used);
            check(&img, "/d", d, &model, v5, &format!("{used} names: {s:?}"));
        }
        seen = (s.free.len(), s.root.0, s.root.1);
        if s.root.0 == 2 && s.root.1 > 2 {
            break;
        }
    }
    let s = shape(&img, d);
    assert!(s.root.0 == 2 && s.root.1 > 2 && s.free.len() >= 3, "{s:?}");
    // The first names in: data block 0's.
    let keep: Vec<String> = all[..10].to_vec();
    let rest: Vec<String> = model.keys().filter(|k| !keep.contains(k)).cloned().collect();
    let rest = shuffled(&mut rng, &rest);
    let half = rest.len() / 2;
    writer_removes(&img, d, &rest[..half], &mut model);
    eprintln!("half removed: {:?}", shape(&img, d));
    check(&img, "/d", d, &model, v5, "half removed");
    writer_removes(&img, d, &rest[half..], &mut model);
    let s = shape(&img, d);
    eprintln!("down to ten: {s:?}");
    assert_eq!((s.data, s.free.len()), (1, 1), "{s:?}");
    check(&img, "/d", d, &model, v5, "down to ten names");
    let again = names(&mut rng, "z", 5000, 40);
    writer_links(&img, d, t, &again, &mut model);
    check(&img, "/d", d, &model, v5, "names added again");
}

/// [`writer_only`] on v5 and v4 (~350 000 names each; minutes in release:
/// `cargo test --release --test xfs_dir_large soak -- --ignored --nocapture`).
#[test]
#[ignore]
fn soak_writer_only() {
    writer_only(&[], 0x50a4_0001);
    writer_only(&["-m", "crc=0"], 0x50a4_0002);
}
