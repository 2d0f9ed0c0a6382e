//! Names added to and removed from block, leaf and node directories by the writer
//! (`XfsWriter::create`/`symlink`/`remove` over `fs::xfs::dir2::ops`), and shortform
//! directories turned into block directories when they outgrow the inode. The directories are
//! made by the kernel on loop-mounted fresh `mkfs.xfs` images (v4, which this kernel cannot
//! mount, by `mkfs.xfs -p`); random names are removed and added in seeded batches. Judges after
//! each batch: `xfs_repair -n` clean, `xfs_db ls` (hashes good) and the kernel's listing with
//! exactly the expected names and inode numbers; at the end a kernel twin — the same sequence
//! done through the kernel on a copy — lists the same names.

mod common;

use common::xfs::{db, mkfs, repair_clean, with_kernel};
use common::Rng;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use vguestfs::disk::{Dev, RawFile};
use vguestfs::fs::xfs::writer::XfsWriter;
use vguestfs::fs::Error;

fn open(img: &Path) -> XfsWriter {
    let dev: Dev = Arc::new(RawFile::open(img, true).expect("open image rw"));
    XfsWriter::open(dev).expect("XfsWriter::open")
}

/// name → (inode, is a directory).
type Model = BTreeMap<String, (u64, bool)>;

/// A name of varying length (entries of different sizes leave gaps of different sizes).
fn name_of(rng: &mut Rng, tag: &str, i: usize) -> String {
    format!("{tag}{i:05}-{}", "x".repeat(rng.below(24) as usize))
}

/// `xfs_db ls PATH` without `.` and `..`.
fn db_ls(img: &Path, path: &str) -> BTreeMap<String, u64> {
    let mut out = common::xfs::db_ls(img, path);
    out.remove(".");
    out.remove("..");
    out
}

/// The format of directory `ino` from its block map: block, leaf or node.
fn form(img: &Path, ino: u64) -> &'static str {
    let text = db(img, &[&format!("inode {ino}"), "p core.format", "bmap"]);
    if text.contains("core.format = 1") {
        return "shortform";
    }
    let bs: u64 = db(img, &["sb 0", "p blocksize"]).split(" = ").nth(1).unwrap().trim().parse().unwrap();
    let offs: Vec<u64> = text.lines().filter_map(|l| l.strip_prefix("data offset ")).map(|r| r.split_whitespace().next().unwrap().parse().unwrap()).collect();
    let free = offs.iter().any(|&o| o >= (64 << 30) / bs);
    let leaf = offs.iter().any(|&o| o >= (32 << 30) / bs);
    match (leaf, free) {
        (false, _) => "block",
        (true, false) => "leaf",
        (true, true) => "node",
    }
}

/// A directory `/d` made by the kernel with `n` files and `subdirs` empty subdirectories
/// (v5), or by `mkfs.xfs -p` (`proto`, for v4): the image, the directory's inode, its model.
/// With `links` the files are hard links to one file outside `/d` (no inode chunks between
/// the directory's blocks, so its data fork keeps few extents).
fn made_dir(args: &[&str], n: usize, subdirs: usize, seed: u64, proto: bool, links: bool) -> (tempfile::TempDir, PathBuf, u64, Model) {
    let mut rng = Rng(seed | 1);
    let names: Vec<String> = (0..n).map(|i| name_of(&mut rng, "f", i)).collect();
    let dirs: Vec<String> = (0..subdirs).map(|i| format!("sub{i}")).collect();
    let (t, img) = if proto {
        let mut p = String::from("/dev/null\n0 0\nd--755 0 0\nd d--755 0 0\n");
        for f in &names {
            p += &format!("{f} ---644 0 0 /dev/null\n");
        }
        for s in &dirs {
            p += &format!("{s} d--755 0 0\n$\n");
        }
        p += "$\n$\n";
        let pd = tempfile::tempdir().unwrap();
        let pf = pd.path().join("proto");
        std::fs::write(&pf, p).unwrap();
        let mut a = args.to_vec();
        a.extend(["-p", pf.to_str().unwrap()]);
        mkfs(&a)
    } else {
        let (t, img) = mkfs(args);
        with_kernel(&img, |m| {
            std::fs::create_dir(m.join("d")).unwrap();
            std::fs::File::create(m.join("t")).unwrap();
            for f in &names {
                if links {
                    std::fs::hard_link(m.join("t"), m.join("d").join(f)).unwrap();
                } else {
                    std::fs::File::create(m.join("d").join(f)).unwrap();
                }
            }
            for s in &dirs {
                std::fs::create_dir(m.join("d").join(s)).unwrap();
            }
        });
        (t, img)
    };
    let ls = db_ls(&img, "/d");
    let root = db_ls(&img, "/");
    let d = root["d"];
    let model: Model = ls.into_iter().map(|(k, i)| (k.clone(), (i, k.starts_with("sub")))).collect();
    assert_eq!(model.len(), n + subdirs);
    (t, img, d, model)
}

/// The judges: xfs_repair clean, xfs_db's listing, the kernel's (v5) and the directory's
/// link count.
fn check(img: &Path, d: u64, model: &Model, kernel: bool, what: &str) {
    repair_clean(img);
    let want: BTreeMap<String, u64> = model.iter().map(|(k, v)| (k.clone(), v.0)).collect();
    assert_eq!(db_ls(img, "/d"), want, "{what}: xfs_db ls");
    let nl = vguestfs::fs::xfs::XfsFs::open(Arc::new(RawFile::open(img, false).unwrap())).unwrap().inode(d).unwrap().nlink;
    assert_eq!(nl as usize, 2 + model.values().filter(|v| v.1).count(), "{what}: link count");
    if kernel {
        with_kernel(img, |m| {
            let got: BTreeMap<String, u64> =
                std::fs::read_dir(m.join("d")).unwrap().map(|e| e.unwrap()).map(|e| (e.file_name().into_string().unwrap(), e.metadata().unwrap().ino())).collect();
            assert_eq!(got, want, "{what}: kernel listing");
        });
    }
}

/// One step of the sequence, replayed on the twin.
#[derive(Debug, Clone)]
enum Op {
    Rm(String, bool),
    File(String),
    Dir(String),
    Sym(String),
}

/// Random batches of removals and additions on a directory of `n` files and `subdirs` empty
/// subdirectories in format `want`: `rounds` batches, each removing `rm` names and then adding
/// `add` (files, directories, symlinks), judged after each; then a twin check (v5) and
/// everything removed. A removal that would free a data block of a directory whose data fork
/// is a bmap btree is refused (by name, nothing written) and the name stays. Returns how many
/// additions and removals were refused, and whether the directory's data fork was a btree.
#[allow(clippy::too_many_arguments)]
fn random_edits(args: &[&str], n: usize, subdirs: usize, links: bool, want: (&str, &str), seed: u64, rounds: usize, rm: usize, add: usize) -> (usize, usize, bool) {
    let kernel = !args.contains(&"crc=0");
    let (_t, img, d, mut model) = made_dir(args, n, subdirs, seed, !kernel, links);
    let btree = db(&img, &[&format!("inode {d}"), "p core.format"]).contains("btree");
    let mut rm_refused = 0;
    assert_eq!(form(&img, d), want.0, "the directory made");
    let original = model.clone();
    let twin = img.with_extension("twin");
    let st = Command::new("cp").arg("--sparse=always").arg(&img).arg(&twin).status().unwrap();
    assert!(st.success());
    let mut rng = Rng(seed.wrapping_mul(31) | 1);
    let mut ops = Vec::new();
    let mut refused = 0;
    for round in 0..rounds {
        let mut w = open(&img);
        for _ in 0..rm.min(model.len()) {
            let names: Vec<&String> = model.keys().collect();
            let name = names[rng.below(names.len() as u64) as usize].clone();
            match w.remove(d, name.as_bytes()) {
                Ok(()) => {
                    let (_, is_dir) = model.remove(&name).unwrap();
                    ops.push(Op::Rm(name, is_dir));
                }
                Err(Error::Unsupported { feature, .. }) if btree && feature.contains("bmap btree") => rm_refused += 1,
                Err(e) => panic!("round {round}: remove {name}: {e}"),
            }
        }
        for i in 0..add {
            let name = name_of(&mut rng, &format!("r{round}-"), i);
            let kind = rng.below(10);
            let r = match kind {
                0 => w.create(d, name.as_bytes(), 0o40755, 0, 0),
                1 => w.symlink(d, name.as_bytes(), b"target", 0, 0),
                _ => w.create(d, name.as_bytes(), 0o100644, 0, 0),
            };
            match r {
                Ok(ino) => {
                    model.insert(name.clone(), (ino, kind == 0));
                    ops.push(match kind {
                        0 => Op::Dir(name),
                        1 => Op::Sym(name),
                        _ => Op::File(name),
                    });
                }
                Err(Error::Unsupported { feature, .. }) => {
                    assert!(feature.contains("not written yet"), "round {round}: create {name}: {feature}");
                    refused += 1;
                }
                Err(e) => panic!("round {round}: create {name}: {e}"),
            }
        }
        drop(w);
        check(&img, d, &model, kernel, &format!("round {round}"));
    }
    assert_eq!(form(&img, d), want.1, "the format after the edits");
    if kernel {
        with_kernel(&twin, |m| {
            let dir = m.join("d");
            for op in &ops {
                match op {
                    Op::Rm(n, true) => std::fs::remove_dir(dir.join(n)).unwrap(),
                    Op::Rm(n, false) => std::fs::remove_file(dir.join(n)).unwrap(),
                    Op::File(n) => drop(std::fs::File::create(dir.join(n)).unwrap()),
                    Op::Dir(n) => std::fs::create_dir(dir.join(n)).unwrap(),
                    Op::Sym(n) => std::os::unix::fs::symlink("target", dir.join(n)).unwrap(),
                }
            }
            let got: BTreeMap<String, u64> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap()).map(|e| (e.file_name().into_string().unwrap(), e.metadata().unwrap().ino())).collect();
            assert_eq!(got.keys().collect::<Vec<_>>(), model.keys().collect::<Vec<_>>(), "twin's names");
            for (k, v) in &original {
                if let Some(i) = got.get(k) {
                    assert_eq!(*i, v.0, "twin: {k}");
                }
            }
        });
        repair_clean(&twin);
    }
    // Everything removed: data blocks left empty are freed.
    let mut w = open(&img);
    let mut left = BTreeMap::new();
    for (name, v) in &model {
        match w.remove(d, name.as_bytes()) {
            Ok(()) => {}
            Err(Error::Unsupported { feature, .. }) if btree && feature.contains("bmap btree") => {
                rm_refused += 1;
                left.insert(name.clone(), *v);
            }
            Err(e) => panic!("remove {name}: {e}"),
        }
    }
    drop(w);
    check(&img, d, &left, kernel, "all removed");
    assert_eq!(form(&img, d), want.1, "formats are not converted down");
    (refused, rm_refused, btree)
}

#[test]
fn block_dir_v5() {
    assert_eq!(random_edits(&[], 20, 3, false, ("block", "block"), 0xd1_0001, 3, 8, 10), (0, 0, false));
}

#[test]
fn leaf_dir_v5() {
    let (add, rm, _) = random_edits(&[], 300, 5, false, ("leaf", "leaf"), 0xd1_0002, 3, 100, 80);
    assert_eq!((add, rm), (0, 0));
}

/// Hard links: the directory's data fork stays in extents format, so emptied data blocks
/// are freed all the way.
#[test]
fn node_dir_v5() {
    let (add, rm, _) = random_edits(&[], 1200, 10, true, ("node", "node"), 0xd1_0003, 2, 400, 300);
    assert_eq!((add, rm), (0, 0));
}

/// Files with inodes between the directory's blocks: a data fork in btree format, whose
/// leaf gains and loses records as data blocks come and go.
#[test]
fn node_dir_btree_fork_v5() {
    let r = random_edits(&[], 3000, 10, false, ("node", "node"), 0xd1_0007, 2, 800, 600);
    assert_eq!(r, (0, 0, true));
}

/// A block directory that fills up becomes a leaf directory, which gets new data blocks.
#[test]
fn block_grows_to_leaf_v5() {
    assert_eq!(random_edits(&[], 20, 3, false, ("block", "leaf"), 0xd1_000a, 3, 5, 120), (0, 0, false));
}

/// v4 without the ftype field, 512-byte blocks: a directory block is eight of them.
#[test]
fn block_grows_to_leaf_v4_512() {
    assert_eq!(random_edits(&["-m", "crc=0", "-n", "ftype=0", "-b", "size=512"], 10, 2, false, ("block", "leaf"), 0xd1_000b, 3, 5, 120), (0, 0, false));
}

/// A leaf directory that fills up becomes a node directory, whose leaves split.
#[test]
fn leaf_grows_to_node_v5() {
    assert_eq!(random_edits(&[], 300, 5, false, ("leaf", "node"), 0xd1_000c, 3, 20, 400), (0, 0, false));
}

#[test]
fn leaf_grows_to_node_v4() {
    let (add, rm, _) = random_edits(&["-m", "crc=0"], 300, 5, false, ("leaf", "node"), 0xd1_000d, 3, 20, 400);
    assert_eq!((add, rm), (0, 0));
}

#[test]
fn block_dir_v4() {
    assert_eq!(random_edits(&["-m", "crc=0"], 20, 3, false, ("block", "block"), 0xd1_0004, 3, 8, 10), (0, 0, false));
}

#[test]
fn leaf_dir_v4() {
    let (add, rm, _) = random_edits(&["-m", "crc=0"], 300, 5, false, ("leaf", "leaf"), 0xd1_0005, 3, 100, 80);
    assert_eq!((add, rm), (0, 0));
}

#[test]
fn node_dir_v4() {
    let (add, rm, _) = random_edits(&["-m", "crc=0"], 3000, 10, false, ("node", "node"), 0xd1_0006, 2, 800, 600);
    assert_eq!((add, rm), (0, 0));
}

/// 1 KiB blocks, 4 KiB directory blocks (four filesystem blocks each).
#[test]
fn leaf_dir_v5_1k_blocks() {
    let (add, rm, _) = random_edits(&["-b", "size=1024"], 300, 5, true, ("leaf", "leaf"), 0xd1_0008, 3, 100, 80);
    assert_eq!((add, rm), (0, 0));
}

/// 16 KiB directory blocks.
#[test]
fn node_dir_v5_16k_dirblocks() {
    let (add, rm, _) = random_edits(&["-n", "size=16384"], 3000, 10, true, ("node", "node"), 0xd1_0009, 2, 800, 600);
    assert_eq!((add, rm), (0, 0));
}

/// Subdirectories in block and leaf format (made by the kernel): `ENOTEMPTY` while they hold
/// names, removed once the writer emptied them (their blocks freed with the inode); a name
/// already there is `EEXIST` and a missing one `ENOENT`, nothing written either way.
#[test]
fn subdirectories_in_block_and_leaf_format() {
    let (_t, img) = mkfs(&[]);
    let mut names: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    names.insert("blk", (0..30).map(|i| format!("b{i:03}")).collect());
    names.insert("lf", (0..300).map(|i| format!("l{i:04}-xxxxxxxx")).collect());
    with_kernel(&img, |m| {
        std::fs::create_dir(m.join("d")).unwrap();
        for (s, ns) in &names {
            std::fs::create_dir(m.join("d").join(s)).unwrap();
            for n in ns {
                std::fs::File::create(m.join("d").join(s).join(n)).unwrap();
            }
        }
    });
    let d = db_ls(&img, "/")["d"];
    let subs = db_ls(&img, "/d");
    assert_eq!(form(&img, subs["blk"]), "block");
    assert_eq!(form(&img, subs["lf"]), "leaf");
    let mut w = open(&img);
    for (s, ns) in &names {
        let sub = subs[*s];
        assert!(matches!(w.remove(d, s.as_bytes()), Err(Error::Os(vguestfs::fs::Errno::NotEmpty))), "{s}");
        let before = std::fs::read(&img).unwrap();
        assert!(matches!(w.create(sub, ns[0].as_bytes(), 0o100644, 0, 0), Err(Error::Os(vguestfs::fs::Errno::Exists))));
        assert!(matches!(w.remove(sub, b"missing"), Err(Error::Os(vguestfs::fs::Errno::NoEntry))));
        assert!(std::fs::read(&img).unwrap() == before, "{s}: a refused call wrote something");
        for n in ns {
            w.remove(sub, n.as_bytes()).unwrap_or_else(|e| panic!("{s}/{n}: {e}"));
        }
        w.remove(d, s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    drop(w);
    check(&img, d, &BTreeMap::new(), true, "subdirectories removed");
}

/// A change to a directory block's bytes.
type Corruption = Box<dyn Fn(&mut [u8])>;

/// Hostile directory blocks (v4, no CRC to stop them): a block tail counting more leaf
/// entries than fit, a free region of 3 bytes, an entry with an empty name, a leaf entry
/// pointing past the block. Creating and removing names there is refused as corruption,
/// nothing written, no panic.
#[test]
fn hostile_block_directory_refused() {
    let (_t, img, d, model) = made_dir(&["-m", "crc=0"], 20, 0, 0xd1_000e, true, false);
    assert_eq!(form(&img, d), "block");
    let bmap = db(&img, &[&format!("inode {d}"), "bmap"]);
    // "data offset 0 startblock N (AG/AGBNO) count 1 flag 0"
    let ag = bmap.split('(').nth(1).unwrap().split(')').next().unwrap();
    let (agno, agbno) = ag.split_once('/').unwrap();
    let sb = db(&img, &["sb 0", "p blocksize agblocks"]);
    let f = |k: &str| -> u64 { sb.lines().find(|l| l.starts_with(k)).unwrap().split(" = ").nth(1).unwrap().trim().parse().unwrap() };
    let off = ((agno.parse::<u64>().unwrap() * f("agblocks") + agbno.parse::<u64>().unwrap()) * f("blocksize")) as usize;
    assert_eq!(&std::fs::read(&img).unwrap()[off..off + 4], b"XD2B", "{bmap}");
    let pristine = std::fs::read(&img).unwrap();
    let first = model.keys().next().unwrap().clone();
    let dsize = 4096usize;
    let corruptions: Vec<(&str, Corruption)> = vec![
        ("tail count", Box::new(move |b: &mut [u8]| b[dsize - 8..dsize - 4].copy_from_slice(&u32::MAX.to_be_bytes()))),
        ("free length", Box::new(|b: &mut [u8]| {
            // The first free region after the entries: make its length 3.
            let mut p = 16;
            while u16::from_be_bytes([b[p], b[p + 1]]) != 0xffff {
                p += (8 + 1 + b[p + 8] as usize + 1 + 2).div_ceil(8) * 8;
            }
            b[p + 2..p + 4].copy_from_slice(&3u16.to_be_bytes());
        })),
        ("empty name", Box::new(|b: &mut [u8]| b[16 + 16 + 16 + 8] = 0)),
        ("leaf address", Box::new(move |b: &mut [u8]| {
            let n = u32::from_be_bytes(b[dsize - 8..dsize - 4].try_into().unwrap()) as usize;
            for i in 0..n {
                let at = dsize - 8 - n * 8 + i * 8 + 4;
                b[at..at + 4].copy_from_slice(&0x7fff_fff0u32.to_be_bytes());
            }
        })),
    ];
    for (what, f) in &corruptions {
        let mut bytes = pristine.clone();
        f(&mut bytes[off..off + dsize]);
        std::fs::write(&img, &bytes).unwrap();
        let mut w = open(&img);
        let r1 = w.create(d, b"new-name", 0o100644, 0, 0);
        let r2 = w.remove(d, first.as_bytes());
        drop(w);
        for r in [r1.map(|_| ()), r2] {
            assert!(matches!(r, Err(Error::Corrupt { .. }) | Err(Error::Os(vguestfs::fs::Errno::NoEntry))), "{what}: {r:?}");
        }
        assert!(std::fs::read(&img).unwrap() == bytes, "{what}: something was written");
    }
}

/// 1 KiB blocks: directory blocks of four filesystem blocks in a node directory.
#[test]
fn node_dir_v5_1k_blocks() {
    let (add, rm, _) = random_edits(&["-b", "size=1024"], 1500, 5, false, ("node", "node"), 0xd1_000f, 2, 400, 300);
    assert_eq!((add, rm), (0, 0));
}
