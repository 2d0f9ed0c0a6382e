//! Extended attributes past one leaf block (`XfsWriter::setxattr`/`removexattr`, issue 14):
//! values too large for a leaf in remote value blocks, and attribute forks in node form (a da
//! node over many leaves), judged by xfs_repair, the kernel and a kernel twin.
//!
//! - Remote values: one value of each size from 1 byte to 64 KiB (the local/remote boundary
//!   on both sides, one and several remote blocks) set by the writer on a file without
//!   attributes and on one with a few (already in a leaf block), the same done by the kernel
//!   on a twin: `xfs_repair -n` clean, the kernel reads every value byte-identical, and the
//!   free block count is the twin's; then remote values replaced by local ones and local by
//!   remote, and back, and removed, the free block count still the twin's (the blocks
//!   freed) after each phase.
//! - Node form: hundreds of attributes of names 1–200 bytes long (some remote) on one file,
//!   making the leaf a node and splitting leaves many times; the kernel lists exactly what
//!   the kernel twin lists, xfs_db shows a node at block 0; most are then removed in a fixed
//!   random order (leaves emptied and joined, the root taking its last leaf back), xfs_repair
//!   clean after every batch; removing the rest drops the fork, the free count the twin's.
//! - A full node block is refused as unsupported and writes nothing.
//! - An attribute fork whose many extents need a bmap btree (two files' remote values
//!   interleaved on disk): clean, read back, and back to extents and no fork on removal.
//! - v4 (`-m crc=0`, attr2): the same sequences, xfs_repair clean, read back by our reader.
//! - rmapbt filesystems: every sequence also judged by `judge_rmap`.

mod common;

use common::xfs::{db, fields, judge_rmap, mkfs, repair_clean, with_kernel};
use common::Rng;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use vguestfs::disk::{Dev, RawFile};
use vguestfs::fs::xfs::writer::XfsWriter;
use vguestfs::fs::{Errno, Error, Filesystem};

/// Attributes of one file: name → value.
type Attrs = BTreeMap<String, Vec<u8>>;

fn open(img: &Path) -> XfsWriter {
    let dev: Dev = Arc::new(RawFile::open(img, true).unwrap());
    XfsWriter::open(dev).unwrap()
}

fn cpath(p: &Path) -> std::ffi::CString {
    std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap()
}

/// Every attribute of `p` as the kernel lists and reads them.
fn kernel_attrs(p: &Path) -> Attrs {
    let mut buf = vec![0u8; 1 << 20];
    // SAFETY: a valid NUL-terminated path and a buffer of the length given.
    let n = unsafe { libc::llistxattr(cpath(p).as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    assert!(n >= 0, "llistxattr {}: {}", p.display(), std::io::Error::last_os_error());
    let names: Vec<String> = buf[..n as usize].split(|&b| b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect();
    let mut out = Attrs::new();
    for name in names {
        let mut v = vec![0u8; 70000];
        let c = std::ffi::CString::new(name.clone()).unwrap();
        // SAFETY: valid NUL-terminated strings and a buffer of the length given.
        let r = unsafe { libc::lgetxattr(cpath(p).as_ptr(), c.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        assert!(r >= 0, "lgetxattr {} {name}: {}", p.display(), std::io::Error::last_os_error());
        v.truncate(r as usize);
        out.insert(name, v);
    }
    out
}

fn kernel_set(p: &Path, name: &str, v: &[u8]) {
    let c = std::ffi::CString::new(name).unwrap();
    // SAFETY: valid NUL-terminated strings and a value of the length given.
    let r = unsafe { libc::lsetxattr(cpath(p).as_ptr(), c.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
    assert_eq!(r, 0, "lsetxattr {} {name}: {}", p.display(), std::io::Error::last_os_error());
}

fn kernel_remove(p: &Path, name: &str) {
    let c = std::ffi::CString::new(name).unwrap();
    // SAFETY: valid NUL-terminated strings.
    let r = unsafe { libc::lremovexattr(cpath(p).as_ptr(), c.as_ptr()) };
    assert_eq!(r, 0, "lremovexattr {} {name}: {}", p.display(), std::io::Error::last_os_error());
}

/// Every attribute of inode `ino` as our reader reads them.
fn our_attrs(img: &Path, ino: u64) -> Attrs {
    let dev: Dev = Arc::new(RawFile::open(img, false).unwrap());
    let fs = vguestfs::fs::xfs::XfsFs::open(dev).unwrap();
    fs.xattrs(ino).unwrap().into_iter().map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), v)).collect()
}

/// `sb_fdblocks` as xfs_db reads it.
fn fdblocks(img: &Path) -> u64 {
    fields(&db(img, &["sb 0", "p fdblocks"]))["fdblocks"].parse().unwrap()
}

/// `core.forkoff`, `core.aformat` and `core.naextents` of inode `ino`.
fn attr_fork(img: &Path, ino: u64) -> (u32, String, u64) {
    let f = fields(&db(img, &[&format!("inode {ino}"), "p core.forkoff core.aformat core.naextents"]));
    (f["core.forkoff"].parse().unwrap(), f["core.aformat"].clone(), f["core.naextents"].parse().unwrap())
}

/// `core.nblocks`, `core.aformat` and `core.naextents` of inode `ino`, as xfs_db prints them.
fn file_blocks(img: &Path, ino: u64) -> String {
    let f = fields(&db(img, &[&format!("inode {ino}"), "p core.nblocks core.aformat core.naextents"]));
    format!("{} blocks, aformat {}, {} extents", f["core.nblocks"], f["core.aformat"], f["core.naextents"])
}

/// The magic number of attribute fork block 0 of inode `ino`, as xfs_db prints it.
fn ablock0_magic(img: &Path, ino: u64) -> String {
    let text = db(img, &[&format!("inode {ino}"), "ablock 0", "p"]);
    text.lines().find(|l| l.contains(".magic = ")).map(|l| l.split(" = ").nth(1).unwrap().trim().to_string()).unwrap_or_default()
}

/// The entries of the node at attribute fork block 0 of inode `ino` (its leaves), as xfs_db
/// prints them; 0 when block 0 is a leaf.
fn node_count(img: &Path, ino: u64) -> usize {
    let f = fields(&db(img, &[&format!("inode {ino}"), "ablock 0", "p"]));
    let node = ["0x3ebe", "0xfebe"].iter().any(|m| f.get("hdr.info.hdr.magic").or(f.get("hdr.info.magic")).is_some_and(|x| x == m));
    if node { f["hdr.count"].parse().unwrap() } else { 0 }
}

/// A value of `len` bytes, varied by `seed`.
fn gen(len: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    (0..len).map(|_| r.next() as u8).collect()
}

/// The kernel makes files `names` in the root of `img` (each of `with` also given a few
/// attributes that take it past the inode to a leaf block); their inode numbers.
fn kernel_files(img: &Path, names: &[String], with: &Attrs) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    with_kernel(img, |m| {
        for n in names {
            std::fs::write(m.join(n), b"").unwrap();
            if n.starts_with("other") {
                for (k, v) in with {
                    kernel_set(&m.join(n), k, v);
                }
            }
            out.insert(n.clone(), std::fs::symlink_metadata(m.join(n)).unwrap().ino());
        }
    });
    out
}

/// The attributes "other…" files start with: a label, a small one, one of 500 bytes.
fn others() -> Attrs {
    let mut a = Attrs::new();
    a.insert("security.selinux".into(), b"system_u:object_r:etc_t:s0\0".to_vec());
    a.insert("user.a".into(), b"1".to_vec());
    a.insert("user.mid".into(), gen(500, 77));
    a
}

/// Value sizes: the local/remote boundaries of 1 KiB and 4 KiB blocks (the record of a name
/// of 5 or 6 bytes and the value against ¾ of a block), one and several remote blocks (a v5
/// block holds blocksize − 56 bytes), up to XATTR_SIZE_MAX.
const SIZES: [usize; 16] = [1, 254, 255, 756, 757, 1000, 3060, 3061, 4040, 4041, 5000, 8080, 12000, 32768, 65535, 65536];

/// The remote-value sequence on `mkfs.xfs ARGS` (see the module documentation).
fn remote_values_on(args: &[&str]) {
    let rmap = args.iter().any(|a| a.contains("rmapbt=1"));
    let (_d, ours) = mkfs(args);
    let names: Vec<String> = SIZES.iter().flat_map(|s| [format!("bare{s}"), format!("other{s}")]).collect();
    let inos = kernel_files(&ours, &names, &others());
    let twin = ours.with_file_name("twin.img");
    std::fs::copy(&ours, &twin).unwrap();
    let mut model: BTreeMap<String, Attrs> = names.iter().map(|n| (n.clone(), if n.starts_with("other") { others() } else { Attrs::new() })).collect();
    // One value per file.
    let mut steps: Vec<(String, String, Option<Vec<u8>>)> = Vec::new();
    for (k, &s) in SIZES.iter().enumerate() {
        for f in ["bare", "other"] {
            steps.push((format!("{f}{s}"), format!("user.v{s}"), Some(gen(s, k as u64))));
        }
    }
    let phases: Vec<Vec<(String, String, Option<Vec<u8>>)>> = vec![
        steps,
        // remote → local, local → remote, remote → remote of another length, removal
        SIZES
            .iter()
            .flat_map(|&s| {
                let v = match s {
                    0..=999 => Some(gen(20_000 + s, 5)),
                    1000..=4999 => None,
                    5000..=9999 => Some(gen(12, 6)),
                    _ => Some(gen(65536 - s / 2, 7)),
                };
                [format!("bare{s}"), format!("other{s}")].map(|f| (f, format!("user.v{s}"), v.clone()))
            })
            .collect(),
        // and back: what went local remote again, what went remote local again
        SIZES
            .iter()
            .flat_map(|&s| {
                let v = match s {
                    0..=999 => Some(gen(10, 8)),
                    5000..=9999 => Some(gen(30_000, 9)),
                    _ => None,
                };
                [format!("bare{s}"), format!("other{s}")].map(|f| (f, format!("user.v{s}"), v.clone()))
            })
            .filter(|(_, _, v)| v.is_some())
            .collect(),
        // everything added removed: the bare files lose their fork, the others go back to
        // what they had
        SIZES.iter().flat_map(|&s| [format!("bare{s}"), format!("other{s}")].map(|f| (f, format!("user.v{s}"), None))).collect(),
    ];
    for (p, phase) in phases.iter().enumerate() {
        let mut w = open(&ours);
        for (f, name, v) in phase {
            let r = match v {
                Some(v) => w.setxattr(inos[f], name.as_bytes(), v),
                None if model[f].contains_key(name) => w.removexattr(inos[f], name.as_bytes()),
                None => continue,
            };
            r.unwrap_or_else(|e| panic!("{args:?} phase {p}: {f} {name}: {e}"));
            match v {
                Some(v) => model.get_mut(f).unwrap().insert(name.clone(), v.clone()),
                None => model.get_mut(f).unwrap().remove(name),
            };
        }
        drop(w);
        with_kernel(&twin, |m| {
            for (f, name, v) in phase {
                match v {
                    Some(v) => kernel_set(&m.join(f), name, v),
                    None if kernel_attrs(&m.join(f)).contains_key(name) => kernel_remove(&m.join(f), name),
                    None => {}
                }
            }
        });
        repair_clean(&ours);
        if rmap {
            judge_rmap(&ours, &format!("remote values, phase {p}"));
        }
        with_kernel(&ours, |m| {
            for (f, want) in &model {
                let got = kernel_attrs(&m.join(f));
                assert!(got == *want, "{args:?} phase {p}: {f}: the kernel reads {:?}, want {:?}", got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
            }
        });
        if fdblocks(&ours) != fdblocks(&twin) {
            let differ: Vec<String> = names
                .iter()
                .filter_map(|f| {
                    let (a, b) = (file_blocks(&ours, inos[f]), file_blocks(&twin, inos[f]));
                    (a != b).then(|| format!("{f}: ours {a} the twin's {b}"))
                })
                .collect();
            panic!("{args:?} phase {p}: free blocks {} (ours) and {} (the kernel's twin): {differ:?}", fdblocks(&ours), fdblocks(&twin));
        }
    }
    for s in SIZES {
        assert_eq!(attr_fork(&ours, inos[&format!("bare{s}")]).0, 0, "{args:?}: bare{s} keeps an attribute fork");
    }
}

#[test]
fn remote_values_of_every_size_read_back_through_the_kernel() {
    for args in [&[][..], &["-b", "size=1024"][..], &["-m", "rmapbt=1"][..]] {
        remote_values_on(args);
    }
}

/// `count` attribute names of varied length (1 to `longest` bytes after `user.`), distinct.
fn many_names(count: usize, longest: u64, rng: &mut Rng) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    while out.len() < count {
        let len = 1 + rng.below(longest) as usize;
        let name: String = (0..len).map(|_| (b'a' + rng.below(26) as u8) as char).collect();
        let name = format!("user.{name}");
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// The node-form sequence on `mkfs.xfs ARGS` (see the module documentation): `count`
/// attributes, names up to `longest` bytes, values up to `biggest` (one in 25 remote).
fn node_form_on(args: &[&str], count: usize, longest: u64, biggest: u64) {
    let rmap = args.iter().any(|a| a.contains("rmapbt=1"));
    let (_d, ours) = mkfs(args);
    let inos = kernel_files(&ours, &["many".to_string()], &Attrs::new());
    let ino = inos["many"];
    let twin = ours.with_file_name("twin.img");
    std::fs::copy(&ours, &twin).unwrap();
    let mut rng = Rng(0xa77_0de5 + count as u64);
    let names = many_names(count, longest, &mut rng);
    let mut model = Attrs::new();
    for (k, n) in names.iter().enumerate() {
        let len = if rng.below(25) == 0 { 5000 + rng.below(60_000) } else { rng.below(biggest + 1) } as usize;
        model.insert(n.clone(), gen(len, k as u64));
    }
    // Set in name order (not hash order), checked every 100.
    let mut w = open(&ours);
    for (k, n) in names.iter().enumerate() {
        w.setxattr(ino, n.as_bytes(), &model[n]).unwrap_or_else(|e| panic!("{args:?}: set {k} ({n}): {e}"));
        if k % 100 == 99 {
            drop(w);
            repair_clean(&ours);
            w = open(&ours);
        }
    }
    drop(w);
    with_kernel(&twin, |m| {
        for n in &names {
            kernel_set(&m.join("many"), n, &model[n]);
        }
    });
    // the kernel's node fork, for the writer to edit below
    let kernel_made = ours.with_file_name("kernel-made.img");
    std::fs::copy(&twin, &kernel_made).unwrap();
    let full = model.clone();
    repair_clean(&ours);
    let magic = ablock0_magic(&ours, ino);
    assert!(magic == "0x3ebe" || magic == "0xfebe", "{args:?}: attribute block 0 is not a node: {magic}");
    let leaves = node_count(&ours, ino);
    assert!(leaves >= 20, "{args:?}: {leaves} leaves: few splits");
    if rmap {
        judge_rmap(&ours, "node form made");
    }
    let (ours_attrs, twin_attrs) = (kernel_read(&ours, "many"), kernel_read(&twin, "many"));
    assert!(ours_attrs == model, "{args:?}: the kernel does not read the model back");
    assert!(ours_attrs == twin_attrs, "{args:?}: the kernel reads ours and its twin differently");
    // Most removed in a fixed random order.
    let mut order = names.clone();
    for k in (1..order.len()).rev() {
        order.swap(k, rng.below(k as u64 + 1) as usize);
    }
    let keep = count / 8;
    let (gone, rest) = order.split_at(count - keep);
    for batch in gone.chunks(60) {
        let mut w = open(&ours);
        for n in batch {
            w.removexattr(ino, n.as_bytes()).unwrap_or_else(|e| panic!("{args:?}: remove {n}: {e}"));
            model.remove(n);
        }
        drop(w);
        repair_clean(&ours);
    }
    with_kernel(&twin, |m| {
        for n in gone {
            kernel_remove(&m.join("many"), n);
        }
    });
    if rmap {
        judge_rmap(&ours, "node form after removals");
    }
    let (ours_attrs, twin_attrs) = (kernel_read(&ours, "many"), kernel_read(&twin, "many"));
    assert!(ours_attrs == model && ours_attrs == twin_attrs, "{args:?}: after removals the kernel reads other attributes");
    let after = node_count(&ours, ino);
    assert!(after < leaves / 3, "{args:?}: {leaves} leaves, {after} after most attributes went: few joins");
    eprintln!("{args:?}: {count} attributes in {leaves} leaves, {keep} left in {after}");
    // The same removals on the kernel's node fork, some new attributes and replacements.
    let mut edited = full;
    let mut w = open(&kernel_made);
    for n in gone {
        w.removexattr(ino, n.as_bytes()).unwrap_or_else(|e| panic!("{args:?}: kernel-made: remove {n}: {e}"));
        edited.remove(n);
    }
    for (k, n) in many_names(count / 4, longest, &mut rng).into_iter().enumerate() {
        let v = gen(if k % 10 == 0 { 7000 } else { rng.below(biggest + 1) as usize }, 1000 + k as u64);
        w.setxattr(ino, n.as_bytes(), &v).unwrap_or_else(|e| panic!("{args:?}: kernel-made: set {n}: {e}"));
        edited.insert(n, v);
    }
    for (k, n) in rest.iter().enumerate().step_by(3) {
        let v = gen(k * 40, 2000 + k as u64);
        w.setxattr(ino, n.as_bytes(), &v).unwrap_or_else(|e| panic!("{args:?}: kernel-made: replace {n}: {e}"));
        edited.insert(n.clone(), v);
    }
    drop(w);
    repair_clean(&kernel_made);
    if rmap {
        judge_rmap(&kernel_made, "the kernel's node fork edited");
    }
    assert!(kernel_read(&kernel_made, "many") == edited, "{args:?}: the kernel's node fork edited reads back otherwise");
    // The rest removed: no fork, every block back.
    let mut w = open(&ours);
    for n in rest {
        w.removexattr(ino, n.as_bytes()).unwrap_or_else(|e| panic!("{args:?}: remove {n}: {e}"));
    }
    drop(w);
    with_kernel(&twin, |m| {
        for n in rest {
            kernel_remove(&m.join("many"), n);
        }
    });
    repair_clean(&ours);
    assert_eq!(attr_fork(&ours, ino).0, 0, "{args:?}: the attribute fork stays");
    assert_eq!(fdblocks(&ours), fdblocks(&twin), "{args:?}: free blocks after every attribute went");
    if rmap {
        judge_rmap(&ours, "node form emptied");
    }
}

/// The attributes of `file` in the root of `img` as the kernel reads them.
fn kernel_read(img: &Path, file: &str) -> Attrs {
    let mut out = Attrs::new();
    with_kernel(img, |m| out = kernel_attrs(&m.join(file)));
    out
}

#[test]
fn hundreds_of_attributes_make_a_node_fork() {
    node_form_on(&[], 400, 200, 300);
    node_form_on(&["-m", "rmapbt=1"], 400, 200, 300);
    node_form_on(&["-b", "size=1024"], 250, 60, 120);
}

/// 1 KiB blocks: a value of 700 bytes fills a leaf, so the node root's 120 entries run out
/// after 120 of them; the next split is refused, naming the da node, and writes nothing.
#[test]
fn a_full_node_block_is_refused_and_changes_nothing() {
    let (_d, img) = mkfs(&["-b", "size=1024"]);
    let ino = kernel_files(&img, &["f".to_string()], &Attrs::new())["f"];
    let mut w = open(&img);
    let mut set = 0;
    let refused = loop {
        // (the image is compared around the sets near the limit only: it is 300 MiB)
        let before = (set >= 115).then(|| std::fs::read(&img).unwrap());
        match w.setxattr(ino, format!("user.k{set}").as_bytes(), &gen(700, set)) {
            Ok(()) => set += 1,
            Err(Error::Unsupported { feature, .. }) => {
                assert!(before.is_some_and(|b| std::fs::read(&img).unwrap() == b), "set {set} refused, or the refused set changed the image");
                break feature;
            }
            Err(e) => panic!("set {set}: {e}"),
        }
        assert!(set < 200, "no refusal after 200 leaves");
    };
    assert!(refused.contains("da node"), "{refused}");
    assert_eq!(set, 120, "leaves set before the refusal");
    drop(w);
    repair_clean(&img);
    let got = kernel_read(&img, "f");
    assert_eq!(got.len(), set as usize);
    assert!((0..set).all(|k| got[&format!("user.k{k}")] == gen(700, k)));
}

/// Two files given remote values in turn: their blocks interleave on disk, so each attribute
/// fork maps many extents — more than the inode holds, a bmap btree then.
fn interleaved_on(args: &[&str]) {
    let rmap = args.iter().any(|a| a.contains("rmapbt=1"));
    let (_d, img) = mkfs(args);
    let inos = kernel_files(&img, &["a".to_string(), "b".to_string()], &Attrs::new());
    let mut model: BTreeMap<&str, Attrs> = BTreeMap::new();
    let mut w = open(&img);
    for k in 0..40u64 {
        for f in ["a", "b"] {
            let (name, v) = (format!("user.r{k}"), gen(5000, k));
            w.setxattr(inos[f], name.as_bytes(), &v).unwrap_or_else(|e| panic!("{f} {name}: {e}"));
            model.entry(f).or_default().insert(name, v);
        }
    }
    drop(w);
    repair_clean(&img);
    if rmap {
        judge_rmap(&img, "interleaved remote values");
    }
    let (_, aformat, naextents) = attr_fork(&img, inos["a"]);
    assert!(aformat.starts_with('3'), "{args:?}: aformat {aformat} with {naextents} extents");
    for f in ["a", "b"] {
        assert!(kernel_read(&img, f) == model[f], "{args:?}: {f} reads back otherwise");
    }
    // Every second one removed, then the rest: back to extents, then no fork.
    let mut w = open(&img);
    for k in (0..40u64).step_by(2) {
        w.removexattr(inos["a"], format!("user.r{k}").as_bytes()).unwrap();
        model.get_mut("a").unwrap().remove(&format!("user.r{k}"));
    }
    drop(w);
    repair_clean(&img);
    assert!(kernel_read(&img, "a") == model["a"]);
    let mut w = open(&img);
    for k in (1..40u64).step_by(2) {
        w.removexattr(inos["a"], format!("user.r{k}").as_bytes()).unwrap();
    }
    drop(w);
    repair_clean(&img);
    assert_eq!(attr_fork(&img, inos["a"]).0, 0);
    if rmap {
        judge_rmap(&img, "interleaved remote values removed");
    }
}

#[test]
fn an_attribute_fork_of_many_extents_becomes_a_bmap_btree() {
    interleaved_on(&[]);
    interleaved_on(&["-m", "rmapbt=1"]);
}

/// v4 (`-m crc=0`, attr2): the kernel cannot mount it, so the files are made by the writer
/// and read back by our reader; xfs_repair judges.
#[test]
fn v4_remote_values_and_node_forks_are_clean() {
    // (512-byte blocks: 62 leaves under the node; fewer, shorter attributes)
    let configs: [(&[&str], usize, u64, u64); 3] =
        [(&["-m", "crc=0"], 200, 80, 150), (&["-m", "crc=0", "-b", "size=1024"], 200, 80, 150), (&["-m", "crc=0", "-b", "size=512"], 120, 30, 60)];
    for (args, count, longest, biggest) in configs {
        let (_d, img) = mkfs(args);
        let mut w = open(&img);
        let root = w.superblock().rootino;
        let mut files = BTreeMap::new();
        for n in ["bare", "many"] {
            files.insert(n, w.create(root, n.as_bytes(), 0o100644, 0, 0).unwrap());
        }
        let mut model: BTreeMap<&str, Attrs> = BTreeMap::new();
        for (k, &s) in SIZES.iter().enumerate() {
            let (name, v) = (format!("user.v{s}"), gen(s, k as u64));
            w.setxattr(files["bare"], name.as_bytes(), &v).unwrap_or_else(|e| panic!("{args:?} {name}: {e}"));
            model.entry("bare").or_default().insert(name, v);
        }
        let mut rng = Rng(0x4444);
        let names = many_names(count, longest, &mut rng);
        for (k, n) in names.iter().enumerate() {
            let v = gen(if k % 30 == 0 { 9000 } else { rng.below(biggest) as usize }, k as u64);
            w.setxattr(files["many"], n.as_bytes(), &v).unwrap_or_else(|e| panic!("{args:?} {n}: {e}"));
            model.entry("many").or_default().insert(n.clone(), v);
        }
        drop(w);
        repair_clean(&img);
        let magic = ablock0_magic(&img, files["many"]);
        assert_eq!(magic, "0xfebe", "{args:?}");
        // Linux's limits: a name of 255 bytes at most, a value of 64 KiB.
        let mut w = open(&img);
        let long = format!("user.{}", "n".repeat(251));
        assert!(matches!(w.setxattr(files["bare"], long.as_bytes(), b"x"), Err(Error::Os(Errno::Range))));
        assert!(matches!(w.setxattr(files["bare"], b"user.big", &vec![0; 65537]), Err(Error::Os(Errno::TooBig))));
        let longest_name = format!("user.{}", "n".repeat(250));
        w.setxattr(files["bare"], longest_name.as_bytes(), &gen(300, 9)).unwrap();
        model.entry("bare").or_default().insert(longest_name, gen(300, 9));
        drop(w);
        for (f, want) in &model {
            assert!(our_attrs(&img, files[f]) == *want, "{args:?}: {f} reads back otherwise");
        }
        // Remote to local and back, removals; then most of the many.
        let mut w = open(&img);
        for &s in &SIZES {
            let name = format!("user.v{s}");
            let v = if s < 5000 { gen(30_000, s as u64) } else { gen(7, s as u64) };
            w.setxattr(files["bare"], name.as_bytes(), &v).unwrap();
            model.get_mut("bare").unwrap().insert(name, v);
        }
        for n in names.iter().take(count * 9 / 10) {
            w.removexattr(files["many"], n.as_bytes()).unwrap();
            model.get_mut("many").unwrap().remove(n);
        }
        drop(w);
        repair_clean(&img);
        for (f, want) in &model {
            assert!(our_attrs(&img, files[f]) == *want, "{args:?}: {f} reads back otherwise after the changes");
        }
        let mut w = open(&img);
        for f in ["bare", "many"] {
            for n in model[f].keys() {
                w.removexattr(files[f], n.as_bytes()).unwrap();
            }
        }
        drop(w);
        repair_clean(&img);
        for f in ["bare", "many"] {
            assert_eq!(attr_fork(&img, files[f]).0, 0, "{args:?}: {f}");
        }
    }
}

/// A damaged node-form fork (xfs_db writes a child pointer of 0 into the node root, a leaf's
/// sibling link, a key past the next one): setting and removing are refused
/// as corruption naming the inode, and write nothing.
#[test]
fn a_damaged_node_fork_is_refused_and_changes_nothing() {
    let (d, img) = mkfs(&[]);
    let ino = kernel_files(&img, &["f".to_string()], &Attrs::new())["f"];
    let mut w = open(&img);
    for k in 0..80u64 {
        w.setxattr(ino, format!("user.attribute-{k}").as_bytes(), &gen(100, k)).unwrap();
    }
    drop(w);
    repair_clean(&img);
    assert!(node_count(&img, ino) >= 2);
    let second_leaf = fields(&db(&img, &[&format!("inode {ino}"), "ablock 0", "p btree[1].before"]))["btree[1].before"].clone();
    // a name in that leaf: the writer reads the leaf to change it
    let there = fields(&db(&img, &[&format!("inode {ino}"), &format!("ablock {second_leaf}"), "p nvlist[0].name"]))["nvlist[0].name"].trim_matches('"').to_string();
    let there = format!("user.{there}");
    let root_ops = ["user.new", "user.attribute-3", "user.attribute-70"];
    let damage: [(&str, String, [&str; 3]); 3] = [
        ("0", "write btree[1].before 0".into(), root_ops),
        (&second_leaf, "write hdr.info.hdr.back 77".into(), [&there; 3]),
        ("0", "write btree[0].hashval 4294967295".into(), root_ops),
    ];
    for (block, cmd, names) in damage {
        let bad = d.path().join("bad.img");
        std::fs::copy(&img, &bad).unwrap();
        let out = std::process::Command::new("xfs_db")
            .env("PATH", common::xfs::path_env())
            .args(["-x", "-c", &format!("inode {ino}"), "-c", &format!("ablock {block}"), "-c", &cmd])
            .arg(&bad)
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
        let before = std::fs::read(&bad).unwrap();
        let mut w = open(&bad);
        for r in [w.setxattr(ino, names[0].as_bytes(), b"1"), w.removexattr(ino, names[1].as_bytes()), w.setxattr(ino, names[2].as_bytes(), b"2")] {
            match r {
                Err(Error::Corrupt { msg, .. }) => assert!(msg.contains(&format!("inode {ino}")), "{cmd}: {msg}"),
                other => panic!("{cmd}: {other:?}"),
            }
        }
        drop(w);
        assert!(std::fs::read(&bad).unwrap() == before, "{cmd}: the image changed");
    }
}
