//! Offline XFS grow (`vguestfs::fs::xfs::grow`) against the kernel: every case of
//! fixtures/mk-xfs-grow.sh grows a copy of the source image with vguestfs and must equal the
//! twin the kernel grew (`xfs_growfs` on a loop mount, recorded when the fixtures were built)
//! in `dblocks`, `agcount`, `fdblocks`, `icount`, `ifree`; `xfs_repair -n` clean; the new
//! and extended AGs as xfs_db reads them; the files read back unchanged.

mod common;

use common::xfs::{db, fields, repair_clean};
use common::{fixture, run};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vguestfs::disk::{Dev, RawFile};
use vguestfs::fs::xfs::grow::{grow, new_geometry, Size};
use vguestfs::fs::xfs::XfsFs;
use vguestfs::fs::{Error, Filesystem};

/// A sparse copy of fixture `src` in a temporary directory, its file set to `size` bytes.
fn copy(src: &str, size: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("grow.img");
    run("cp", &["--sparse=always", fixture(src).to_str().unwrap(), img.to_str().unwrap()]);
    std::fs::OpenOptions::new().write(true).open(&img).and_then(|f| f.set_len(size)).unwrap();
    (dir, img)
}

fn dev(img: &Path, rw: bool) -> Dev {
    Arc::new(RawFile::open(img, rw).unwrap())
}

const SB_FIELDS: &str = "print dblocks agcount agblocks fdblocks icount ifree imax_pct";

/// The fixture files, as mk-xfs-grow.sh's populate() wrote them.
fn gen(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 13 + seed) % 251) as u8).collect()
}

fn read_path(fs: &XfsFs, path: &str) -> Vec<u8> {
    let mut ino = fs.root();
    for c in path.split('/') {
        ino = fs.lookup(ino, c.as_bytes()).unwrap().unwrap();
    }
    let size = fs.stat(ino).unwrap().size as usize;
    let mut buf = vec![0u8; size];
    let mut at = 0;
    while at < size {
        let n = fs.read(ino, at as u64, &mut buf[at..]).unwrap();
        assert!(n > 0);
        at += n;
    }
    buf
}

/// Grows a copy of `src` to `size` bytes and compares it with the kernel's twin `case`.
fn check_case(case: &str, src: &str, size: u64) {
    let (_d, img) = copy(&format!("xfs-grow/{src}"), size);
    let before = fields(&db(&img, &["sb 0", SB_FIELDS]));
    let r = grow(&dev(&img, true), Size::Device, None).unwrap();
    let ours = fields(&db(&img, &["sb 0", SB_FIELDS]));
    let kernel = fields(&std::fs::read_to_string(fixture(&format!("xfs-grow/{case}.sb"))).unwrap());
    assert_eq!(ours, kernel, "{case}: superblock after our grow vs the kernel's");
    assert_eq!(r.blocks, (before["dblocks"].parse().unwrap(), ours["dblocks"].parse().unwrap()), "{case}: report");
    assert_eq!(r.agcount.1.to_string(), ours["agcount"]);
    repair_clean(&img);
    // Every AG as xfs_db reads it: lengths add up to dblocks, the last one as the kernel's rule.
    let (agcount, agblocks): (u32, u64) = (ours["agcount"].parse().unwrap(), ours["agblocks"].parse().unwrap());
    let dblocks: u64 = ours["dblocks"].parse().unwrap();
    let mut total = 0;
    for agno in 0..agcount {
        let agf = fields(&db(&img, &[&format!("agf {agno}"), "print length freeblks seqno"]));
        let agi = fields(&db(&img, &[&format!("agi {agno}"), "print length seqno"]));
        assert_eq!(agf["length"], agi["length"], "{case}: AG {agno}");
        assert_eq!(agf["seqno"], agno.to_string());
        let len: u64 = agf["length"].parse().unwrap();
        assert!(len == agblocks || agno + 1 == agcount, "{case}: AG {agno} of {len} blocks");
        total += len;
    }
    assert_eq!(total, dblocks, "{case}: AG lengths");
    let bs: u64 = fields(&db(&img, &["sb 0", "print blocksize"]))["blocksize"].parse().unwrap();
    assert_eq!(new_geometry(agblocks as u32, size / bs), (dblocks, agcount), "{case}: the rule");
    // The secondary superblocks carry the new geometry.
    let last = fields(&db(&img, &[&format!("sb {}", agcount - 1), "print dblocks agcount"]));
    assert_eq!((last["dblocks"].as_str(), last["agcount"].as_str()), (ours["dblocks"].as_str(), ours["agcount"].as_str()));
    // The files are untouched.
    let fs = XfsFs::open(dev(&img, false)).unwrap();
    assert_eq!(read_path(&fs, "big.bin"), gen(24 << 20, 7));
    assert_eq!(read_path(&fs, "d5/f039"), gen(100 + 997 * 39, 5));
}

#[test]
fn two_to_twenty_gib_adds_36_ags_as_the_kernel_does() {
    check_case("2g-20g", "src-2g.img", 20 << 30);
}

#[test]
fn a_tail_under_64_blocks_is_not_grown() {
    check_case("2g-runt", "src-2g.img", (2 << 30) + 32 * 4096);
}

#[test]
fn a_one_mib_tail_becomes_a_small_ag() {
    check_case("2g-small-ag", "src-2g.img", (2 << 30) + (1 << 20));
}

#[test]
fn a_short_last_ag_is_extended_to_full_size() {
    check_case("part-fill", "src-part.img", 1200 << 20);
}

#[test]
fn a_grow_of_less_than_one_ag_extends_the_last() {
    check_case("part-half", "src-part.img", 1150 << 20);
}

#[test]
fn the_last_ag_is_filled_and_a_new_one_added() {
    check_case("part-new", "src-part.img", 1250 << 20);
}

#[test]
fn one_kib_blocks() {
    check_case("1k-new", "src-1k.img", 1250 << 20);
}

#[test]
fn without_finobt_reflink_and_sparse_inodes() {
    check_case("nofino-new", "src-nofino.img", 1250 << 20);
}

#[test]
fn v4_grows_as_the_rule_says() {
    // The kernel here cannot mount v4 (crc=0): judged by xfs_repair and xfs_db.
    let (_d, img) = copy("xfs-v4.img", 500 << 20);
    let before = fields(&db(&img, &["sb 0", SB_FIELDS]));
    let r = grow(&dev(&img, true), Size::Device, None).unwrap();
    let after = fields(&db(&img, &["sb 0", SB_FIELDS]));
    let agblocks: u32 = before["agblocks"].parse().unwrap();
    assert_eq!((r.blocks.1, r.agcount.1), new_geometry(agblocks, (500 << 20) / 4096));
    assert_eq!(after["dblocks"], r.blocks.1.to_string());
    let added = r.blocks.1 - r.blocks.0;
    // fdblocks grows by the new blocks less 5 header/root blocks per new AG (v4: no finobt).
    let new_ags = u64::from(r.agcount.1 - r.agcount.0);
    let fd = |m: &std::collections::BTreeMap<String, String>| m["fdblocks"].parse::<u64>().unwrap();
    assert_eq!(fd(&after), fd(&before) + added - new_ags * 4, "v4 new AGs: sb, AGF, AGI, AGFL in block 0, then bno, cnt, ino roots");
    repair_clean(&img);
}

#[test]
fn shrinking_and_oversize_are_refused_and_change_nothing() {
    let (_d, img) = copy("xfs-grow/src-part.img", 1100 << 20);
    let unchanged = || run("cmp", &[fixture("xfs-grow/src-part.img").to_str().unwrap(), img.to_str().unwrap()]);
    let e = grow(&dev(&img, true), Size::Blocks(1000), None).unwrap_err();
    assert!(matches!(e, Error::Resize { .. }) && e.to_string().contains("cannot be shrunk"), "{e}");
    let e = grow(&dev(&img, true), Size::Blocks(10 << 30), None).unwrap_err();
    assert!(e.to_string().contains("too large"), "{e}");
    unchanged();
    // Same size: nothing to do, nothing written.
    let r = grow(&dev(&img, true), Size::Device, None).unwrap();
    assert!(!r.changed());
    assert_eq!(r.to_string(), "data size unchanged, skipping");
    unchanged();
}

#[test]
fn a_dirty_log_is_refused() {
    let (_d, img) = copy("xfs-dirty.img", 400 << 20);
    let e = grow(&dev(&img, true), Size::Device, None).unwrap_err();
    assert!(e.to_string().contains("log is dirty"), "{e}");
}

/// rmapbt filesystems grow (their new AGs' rmapbt roots: tests/xfs_rmap.rs judges them
/// record by record).
#[test]
fn rmapbt_grows() {
    let (_d, img) = copy("xfs-rmap.img", 400 << 20);
    let r = grow(&dev(&img, true), Size::Device, None).unwrap();
    assert!(r.changed());
    repair_clean(&img);
}

#[test]
fn imaxpct_is_set_as_xfs_growfs_m_sets_it() {
    let (_d, img) = copy("xfs-grow/src-part.img", 1250 << 20);
    grow(&dev(&img, true), Size::Device, Some(5)).unwrap();
    let sb = fields(&db(&img, &["sb 0", SB_FIELDS]));
    assert_eq!(sb["imax_pct"], "5");
    assert_eq!(fields(&db(&img, &["sb 3", "print imax_pct"]))["imax_pct"], "5");
    repair_clean(&img);
    assert!(grow(&dev(&img, true), Size::Device, Some(101)).is_err());
}
