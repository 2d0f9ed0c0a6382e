//! Extended attributes kept in the inode (`XfsWriter::setxattr`/`removexattr`, issue 14): on
//! files the kernel made (an empty file, a multi-extent file, a shortform directory, a fifo,
//! a symlink), labels set by the writer land where the kernel puts them — the same
//! `di_forkoff` and shortform fork bytes as a kernel twin labelled with `setfattr` — and
//! random sets, replacements and removals mirrored in a model read back through the kernel
//! (`getfattr`) exactly as the model says, `xfs_repair -n` clean after every batch; the last
//! attribute's removal drops the fork (forkoff 0); what does not fit the inode goes to one
//! leaf block (and back), a value too large for it to a remote value block (freed on
//! removal; tests/xfs_xattr_large.rs covers remote values and node forks at length); an
//! unknown namespace is refused as unsupported and changes nothing; `user.` attributes on a
//! fifo or symlink are `EPERM`, as Linux says.

mod common;

use common::xfs::{db, fields, path_env, repair_clean, with_kernel};
use common::Rng;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use vguestfs::disk::{Dev, RawFile};
use vguestfs::fs::xfs::writer::XfsWriter;
use vguestfs::fs::{Errno, Error};

const NAMES: [&str; 5] = ["f", "multi", "d", "p", "s"];

/// A fresh image with the files of [`NAMES`] made by the kernel; their inode numbers.
fn image(dir: &Path, args: &[&str]) -> (PathBuf, BTreeMap<&'static str, u64>) {
    let img = dir.join("xfs.img");
    std::fs::File::create(&img).and_then(|f| f.set_len(300 << 20)).unwrap();
    let out = Command::new("mkfs.xfs").env("PATH", path_env()).arg("-q").args(args).arg(&img).output().unwrap();
    assert!(out.status.success(), "mkfs.xfs: {}", String::from_utf8_lossy(&out.stderr));
    let mut inos = BTreeMap::new();
    with_kernel(&img, |m| {
        std::fs::write(m.join("f"), b"").unwrap();
        {
            use std::os::unix::fs::FileExt;
            let f = std::fs::File::create(m.join("multi")).unwrap();
            for i in 0..4u64 {
                f.write_all_at(&[i as u8 + 1; 4096], i * 2 * 4096).unwrap();
                f.sync_all().unwrap();
            }
        }
        std::fs::create_dir(m.join("d")).unwrap();
        std::fs::write(m.join("d/inside"), b"x").unwrap();
        let st = Command::new("mkfifo").arg(m.join("p")).status().unwrap();
        assert!(st.success());
        std::os::unix::fs::symlink("multi", m.join("s")).unwrap();
        for n in NAMES {
            inos.insert(n, std::fs::symlink_metadata(m.join(n)).unwrap().ino());
        }
    });
    (img, inos)
}

fn open(img: &Path) -> XfsWriter {
    let dev: Dev = Arc::new(RawFile::open(img, true).unwrap());
    XfsWriter::open(dev).unwrap()
}

/// `core.forkoff`, `core.aformat` and the shortform attribute fork as xfs_db prints them.
fn attr_fork(img: &Path, ino: u64) -> String {
    let f = fields(&db(img, &[&format!("inode {ino}"), "p core.forkoff core.aformat"]));
    let sf = if f["core.forkoff"] != "0" && f["core.aformat"].starts_with('1') { db(img, &[&format!("inode {ino}"), "p a.sfattr"]) } else { String::new() };
    format!("forkoff {} aformat {}\n{sf}", f["core.forkoff"], f["core.aformat"])
}

/// Every attribute of `names` as the kernel lists them: name → hex value.
fn kernel_attrs(img: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    with_kernel(img, |m| {
        for n in NAMES {
            let o = Command::new("getfattr").args(["-h", "-d", "-m", "-", "-e", "hex", "--absolute-names"]).arg(m.join(n)).output().unwrap();
            let attrs: BTreeMap<String, String> = String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.trim_start_matches("0x").to_string()))
                .collect();
            out.insert(n.to_string(), attrs);
        }
    });
    out
}

fn hex(v: &[u8]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn labels_land_where_the_kernel_puts_them() {
    let d = tempfile::tempdir().unwrap();
    let (ours, inos) = image(d.path(), &[]);
    let twin = d.path().join("twin.img");
    std::fs::copy(&ours, &twin).unwrap();
    let label = b"system_u:object_r:etc_t:s0\0";
    let mut w = open(&ours);
    for n in NAMES {
        w.setxattr(inos[n], b"security.selinux", label).unwrap_or_else(|e| panic!("{n}: {e}"));
    }
    drop(w);
    with_kernel(&twin, |m| {
        for n in NAMES {
            let st = Command::new("setfattr").args(["-h", "-n", "security.selinux", "-v", "0x73797374656d5f753a6f626a6563745f723a6574635f743a733000"]).arg(m.join(n)).status().unwrap();
            assert!(st.success(), "{n}");
        }
    });
    for n in NAMES {
        assert_eq!(attr_fork(&ours, inos[n]), attr_fork(&twin, inos[n]), "{n}");
    }
    repair_clean(&ours);
    assert_eq!(kernel_attrs(&ours), kernel_attrs(&twin));
}

#[test]
fn random_sets_and_removals_read_back_through_the_kernel() {
    for args in [&[][..], &["-b", "size=1024"][..], &["-i", "size=2048"][..]] {
        let d = tempfile::tempdir().unwrap();
        let (img, inos) = image(d.path(), args);
        let mut model: BTreeMap<&str, BTreeMap<String, Vec<u8>>> = NAMES.iter().map(|n| (*n, BTreeMap::new())).collect();
        let mut rng = Rng(0x5eed_a77e + args.len() as u64);
        let (mut refused, mut done) = (0, 0);
        for batch in 0..6 {
            let mut w = open(&img);
            for _ in 0..25 {
                let n = NAMES[rng.below(NAMES.len() as u64) as usize];
                let ns = ["user.", "trusted.", "security."][rng.below(3) as usize];
                let name = format!("{ns}k{}", rng.below(12));
                let have = model[n].contains_key(&name);
                if have && rng.below(3) == 0 {
                    w.removexattr(inos[n], name.as_bytes()).unwrap_or_else(|e| panic!("{args:?} remove {n} {name}: {e}"));
                    model.get_mut(n).unwrap().remove(&name);
                    done += 1;
                    continue;
                }
                let cap = [40, 40, 200, 700][rng.below(4) as usize];
                let len = rng.below(cap) as usize;
                let value: Vec<u8> = (0..len).map(|i| (i as u64 * 31 + rng.below(256)) as u8).collect();
                match w.setxattr(inos[n], name.as_bytes(), &value) {
                    Ok(()) => {
                        model.get_mut(n).unwrap().insert(name, value);
                        done += 1;
                    }
                    Err(Error::Unsupported { feature, .. }) => {
                        assert!(feature.contains("node format") || feature.contains("remote") || feature.contains("btree"), "{feature}");
                        refused += 1;
                    }
                    Err(Error::Os(Errno::NotPermitted)) if ns == "user." && matches!(n, "p" | "s") => refused += 1,
                    Err(e) => panic!("{args:?} set {n} {name}: {e}"),
                }
            }
            assert!(matches!(w.removexattr(inos["f"], b"user.never"), Err(Error::Os(Errno::NoData))));
            drop(w);
            repair_clean(&img);
            let _ = batch;
        }
        assert!(done > 60, "{args:?}: {done} changes, {refused} refused");
        {
            // the kernel lists exactly the model
            let want: BTreeMap<String, BTreeMap<String, String>> =
                model.iter().map(|(n, a)| (n.to_string(), a.iter().map(|(k, v)| (k.clone(), hex(v))).collect())).collect();
            let got = kernel_attrs(&img);
            for n in NAMES {
                // getfattr prints an empty value as no hex at all
                let g: BTreeMap<String, String> = got[n].iter().map(|(k, v)| (k.clone(), v.trim_matches('"').to_string())).collect();
                assert_eq!(g, want[n], "{n}");
            }
        }
        // removing everything drops every fork
        let mut w = open(&img);
        for (n, attrs) in &model {
            for name in attrs.keys() {
                w.removexattr(inos[n], name.as_bytes()).unwrap();
            }
        }
        drop(w);
        for n in NAMES {
            assert!(attr_fork(&img, inos[n]).starts_with("forkoff 0 "), "{args:?} {n}");
        }
        repair_clean(&img);
        eprintln!("{args:?}: {done} changes, {refused} refused as not fitting");
    }
}

/// Attributes past the inode: a leaf block (the fork in extents format, one block), read
/// back by the kernel; a remote value block comes and goes; an unknown namespace is refused
/// and changes nothing; removals go back to shortform, then to no fork.
#[test]
fn a_leaf_block_holds_what_the_inode_does_not() {
    for args in [&[][..], &["-m", "rmapbt=1"][..]] {
        leaf_block_on(args);
    }
}

/// [`a_leaf_block_holds_what_the_inode_does_not`] on `mkfs.xfs ARGS` (with rmapbt, each leaf
/// block's reverse mapping is judged against what xfs_repair rebuilds).
fn leaf_block_on(args: &[&str]) {
    let rmap = args.iter().any(|a| a.contains("rmapbt=1"));
    let d = tempfile::tempdir().unwrap();
    let (img, inos) = image(d.path(), args);
    let mut w = open(&img);
    w.setxattr(inos["f"], b"user.a", &[1; 200]).unwrap();
    w.setxattr(inos["f"], b"user.b", &[2; 200]).unwrap();
    w.setxattr(inos["f"], b"user.c", &[3; 300]).unwrap();
    w.setxattr(inos["multi"], b"trusted.big", &[4; 2000]).unwrap();
    drop(w);
    repair_clean(&img);
    if rmap {
        common::xfs::judge_rmap(&img, "leaf blocks made");
    }
    for n in ["f", "multi"] {
        assert!(attr_fork(&img, inos[n]).contains("aformat 2"), "{n}: {}", attr_fork(&img, inos[n]));
    }
    let got = kernel_attrs(&img);
    assert_eq!(got["f"]["user.c"], "03".repeat(300));
    assert_eq!(got["multi"]["trusted.big"], "04".repeat(2000));
    // A value too large for the leaf: a remote value block, freed again by its removal.
    let mut w = open(&img);
    let free = w.fdblocks();
    w.setxattr(inos["f"], b"user.huge", &[9; 3500]).unwrap();
    assert_eq!(w.fdblocks(), free - 1);
    drop(w);
    repair_clean(&img);
    assert_eq!(kernel_attrs(&img)["f"]["user.huge"], "09".repeat(3500));
    let mut w = open(&img);
    w.removexattr(inos["f"], b"user.huge").unwrap();
    assert_eq!(w.fdblocks(), free);
    let before = std::fs::read(&img).unwrap();
    for (name, len, says) in [("os2.x", 1, "namespaces")] {
        match w.setxattr(inos["f"], name.as_bytes(), &vec![2; len]) {
            Err(Error::Unsupported { feature, .. }) => assert!(feature.contains(says), "{name}: {feature}"),
            other => panic!("{name}: {other:?}"),
        }
        assert!(std::fs::read(&img).unwrap() == before, "{name}: the image changed");
    }
    assert!(matches!(w.setxattr(inos["f"], b"system.posix_acl_access", &[2; 10]), Err(Error::Os(Errno::Invalid))));
    // Down: two removals leave what fits the inode (shortform again), the last none.
    w.removexattr(inos["f"], b"user.c").unwrap();
    w.removexattr(inos["f"], b"user.b").unwrap();
    drop(w);
    repair_clean(&img);
    assert!(attr_fork(&img, inos["f"]).contains("aformat 1"), "{}", attr_fork(&img, inos["f"]));
    let mut w = open(&img);
    w.removexattr(inos["f"], b"user.a").unwrap();
    w.removexattr(inos["multi"], b"trusted.big").unwrap();
    drop(w);
    repair_clean(&img);
    for n in ["f", "multi"] {
        assert!(attr_fork(&img, inos[n]).starts_with("forkoff 0 "), "{n}");
    }
    if rmap {
        common::xfs::judge_rmap(&img, "leaf blocks freed");
    }
}

/// A hostile attribute fork (xfs_db sets the shortform `totsize` past the fork): setting or
/// removing an attribute is refused as corruption, naming the inode, and writes nothing.
#[test]
fn a_damaged_attribute_fork_is_refused_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let (img, inos) = image(d.path(), &[]);
    let f = inos["f"];
    let mut w = open(&img);
    w.setxattr(f, b"user.a", b"1").unwrap();
    drop(w);
    let out = Command::new("xfs_db").env("PATH", path_env()).args(["-x", "-c", &format!("inode {f}"), "-c", "write a.sfattr.hdr.totsize 4000"]).arg(&img).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before = std::fs::read(&img).unwrap();
    let mut w = open(&img);
    for r in [w.setxattr(f, b"user.b", b"2"), w.removexattr(f, b"user.a")] {
        match r {
            Err(Error::Corrupt { msg, .. }) => assert!(msg.contains(&format!("inode {f}")), "{msg}"),
            other => panic!("{other:?}"),
        }
    }
    drop(w);
    assert!(std::fs::read(&img).unwrap() == before, "the image changed");
}

/// Found by the randomized campaign (tests/xfs_random.rs, seed 98 of the v5 configuration): a
/// new attribute fork on a shortform directory of 303 bytes. bytesfit caps the boundary at 37
/// (296 bytes: where an attribute btree root still fits), below what the directory holds; the
/// kernel moves the directory to a block first (xfs_bmap_add_attrfork_local). The writer kept
/// it shortform, 7 bytes past the boundary: xfs_repair cleared the directory. The directory is
/// made by the writer, as in the campaign: this host's kernel gives every new inode an empty
/// attribute fork at the default boundary (24), so its directories never reach this case.
#[test]
fn a_new_attribute_fork_moves_a_full_shortform_directory_to_a_block() {
    let d = tempfile::tempdir().unwrap();
    let (ours, _) = image(d.path(), &[]);
    // 6 header bytes + 9 entries of 8 + 25 bytes: 303
    let names: Vec<String> = (0..9).map(|k| format!("{k}{}", "n".repeat(24))).collect();
    let mut w = open(&ours);
    let root = w.superblock().rootino;
    let dir = w.create(root, b"big", 0o40755, 0, 0).unwrap();
    for n in &names {
        w.create(dir, n.as_bytes(), 0o100644, 0, 0).unwrap();
    }
    drop(w);
    let core = |img: &Path| fields(&db(img, &[&format!("inode {dir}"), "p core.format core.size core.forkoff"]));
    assert_eq!((core(&ours)["core.size"].as_str(), core(&ours)["core.forkoff"].as_str()), ("303", "0"));
    let value = [b'v'; 21];
    let mut w = open(&ours);
    w.setxattr(dir, b"user.b", &value).unwrap();
    drop(w);
    repair_clean(&ours);
    let c = core(&ours);
    assert!(c["core.format"].starts_with('2') && c["core.forkoff"] == "37", "a block directory, the boundary bytesfit gives: {c:?}");
    let mut listed = Vec::new();
    with_kernel(&ours, |m| {
        listed = std::fs::read_dir(m.join("big")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        let o = Command::new("getfattr").args(["-n", "user.b", "--only-values"]).arg(m.join("big")).output().unwrap();
        assert_eq!(o.stdout, value);
    });
    listed.sort();
    assert_eq!(listed, names);
}

/// A new attribute fork that cannot be shortform goes to a leaf block at the default boundary
/// (24: 192 bytes of data fork): a shortform directory longer than that becomes a block
/// directory first, and extents past it a bmap btree, as the kernel does
/// (xfs_bmap_add_attrfork_local, _extents). Both were refused before ("it would move to a
/// btree"), which stopped sequences of the random campaign.
#[test]
fn a_new_leaf_attribute_fork_makes_room_in_the_data_fork() {
    let d = tempfile::tempdir().unwrap();
    let (img, _) = image(d.path(), &[]);
    let mut w = open(&img);
    let root = w.superblock().rootino;
    // 6 + 7 × 33 = 237 bytes of shortform entries
    let names: Vec<String> = (0..7).map(|k| format!("{k}{}", "n".repeat(24))).collect();
    let dir = w.create(root, b"dir", 0o40755, 0, 0).unwrap();
    for n in &names {
        w.create(dir, n.as_bytes(), 0o100644, 0, 0).unwrap();
    }
    // 19 extents (304 of the 336 bytes): every other 4 KiB block written
    let file = w.create(root, b"sparse", 0o100644, 0, 0).unwrap();
    for k in 0..19u64 {
        w.write(file, k * 8192, &[k as u8 + 1; 4096]).unwrap();
    }
    drop(w);
    let core = |ino: u64| fields(&db(&img, &[&format!("inode {ino}"), "p core.format core.forkoff core.nextents"]));
    assert!(core(dir)["core.format"].starts_with('1') && core(file)["core.format"].starts_with('2'), "{:?} {:?}", core(dir), core(file));
    let big = vec![b'w'; 300];
    let mut w = open(&img);
    w.setxattr(dir, b"user.big", &big).unwrap();
    w.setxattr(file, b"user.big", &big).unwrap();
    drop(w);
    repair_clean(&img);
    let (cd, cf) = (core(dir), core(file));
    assert!(cd["core.format"].starts_with('2') && cd["core.forkoff"] == "24", "directory: {cd:?}");
    assert!(cf["core.format"].starts_with('3') && cf["core.forkoff"] == "24", "file: {cf:?}");
    with_kernel(&img, |m| {
        let mut listed: Vec<String> = std::fs::read_dir(m.join("dir")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        listed.sort();
        assert_eq!(listed, names);
        let data = std::fs::read(m.join("sparse")).unwrap();
        assert_eq!(data.len(), 18 * 8192 + 4096);
        for k in 0..19usize {
            assert!(data[k * 8192..k * 8192 + 4096].iter().all(|&b| b == k as u8 + 1), "block {k}");
        }
        for n in ["dir", "sparse"] {
            let o = Command::new("getfattr").args(["-n", "user.big", "--only-values"]).arg(m.join(n)).output().unwrap();
            assert_eq!(o.stdout, big, "{n}");
        }
    });
}
