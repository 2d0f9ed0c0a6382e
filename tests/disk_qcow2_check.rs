//! The metadata check before writing to a qcow2 image: images qemu-img made (plain, v2,
//! compressed, overlays, snapshots) pass and take writes that `qemu-img check` accepts;
//! hand-corrupted copies are refused for writing with an error naming the structure and its
//! offset, and are left byte-identical.

mod common;

use common::{run, sha256_file};
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use vguestfs::disk::{open_session_image, qcow2, OverlayOptions};
use vguestfs::guest::DriveOptions;
use vguestfs::Guest;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn be64(data: &[u8], off: usize) -> u64 {
    u64::from_be_bytes(data[off..off + 8].try_into().unwrap())
}

fn be32(data: &[u8], off: u64) -> u32 {
    u32::from_be_bytes(data[off as usize..off as usize + 4].try_into().unwrap())
}

fn patch64(path: &Path, off: u64, value: u64) {
    fs::OpenOptions::new().write(true).open(path).unwrap().write_all_at(&value.to_be_bytes(), off).unwrap();
}

/// The header fields the corruptions need.
struct Layout {
    cluster: u64,
    file_len: u64,
    l1: u64,
    reftable: u64,
    /// The first allocated L1 entry: (index, L2 offset).
    l2: (u64, u64),
    /// The first refcount block.
    refblock: u64,
}

fn layout(path: &Path) -> Layout {
    let d = fs::read(path).unwrap();
    let cluster = 1u64 << be32(&d, 20);
    let (l1, reftable) = (be64(&d, 40), be64(&d, 48));
    let l1_size = be32(&d, 36) as u64;
    let l2 = (0..l1_size)
        .map(|i| (i, be64(&d, (l1 + 8 * i) as usize) & 0x00ff_ffff_ffff_fe00))
        .find(|&(_, off)| off != 0)
        .unwrap();
    Layout { cluster, file_len: d.len() as u64, l1, reftable, l2, refblock: be64(&d, reftable as usize) }
}

/// A qcow2 image with 4 KiB clusters (many L2 tables) of the fixture's raw base.
fn small_cluster_image(dir: &Path) -> PathBuf {
    let img = dir.join("small.qcow2");
    run("qemu-img", &["convert", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4096", s(&common::fixture("qcow2-base.raw")), s(&img)]);
    img
}

#[test]
fn qemu_made_images_pass_and_take_writes() {
    let dir = tempfile::tempdir().unwrap();
    for backing in ["qcow2-base.qcow2", "qcow2-base.raw"] {
        fs::copy(common::fixture(backing), dir.path().join(backing)).unwrap();
    }
    let mut images: Vec<PathBuf> = ["qcow2-v3.qcow2", "qcow2-v2.qcow2", "qcow2-compressed.qcow2", "qcow2-overlay.qcow2", "qcow2-rawback.qcow2"]
        .iter()
        .map(|n| {
            let p = dir.path().join(n);
            fs::copy(common::fixture(n), &p).unwrap();
            p
        })
        .collect();
    images.push(small_cluster_image(dir.path()));
    // Internal snapshots whose L2 tables diverge from the active ones after more writes.
    let snap = dir.path().join("snap.qcow2");
    fs::copy(&images[5], &snap).unwrap();
    run("qemu-img", &["snapshot", "-c", "one", s(&snap)]);
    run("qemu-io", &["-f", "qcow2", "-c", "write -P 0x11 0 3M", s(&snap)]);
    run("qemu-img", &["snapshot", "-c", "two", s(&snap)]);
    run("qemu-io", &["-f", "qcow2", "-c", "write -P 0x22 1M 5M", s(&snap)]);
    images.push(snap);
    for img in &images {
        let opened = open_session_image(img, None, true, &OverlayOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", img.display()));
        opened.dev.write_at(&[0x5a; 10_000], 3 << 20).unwrap();
        opened.overlay.as_ref().unwrap().commit().unwrap();
        drop(opened);
        run("qemu-img", &["check", s(img)]);
        let out = run("qemu-io", &["-f", "qcow2", "-c", "read -P 0x5a 3M 10000", s(img)]);
        assert!(out.contains("read 10000/10000 bytes"), "{out}");
    }
    let list = run("qemu-img", &["snapshot", "-l", s(&images[6])]);
    assert!(list.contains("one") && list.contains("two"), "{list}");
}

#[test]
fn hand_corrupted_images_are_refused_for_writing_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let good = small_cluster_image(dir.path());
    let l = layout(&good);
    let past_end = (l.file_len + 16 * l.cluster).next_multiple_of(l.cluster);
    const COPIED: u64 = 1 << 63;
    let (l2_idx, l2_off) = l.l2;
    let l1_entry = l.l1 + 8 * l2_idx;
    // (what, where, new value, words the error must contain, the header check refuses it)
    let cases: Vec<(&str, u64, u64, Vec<String>, bool)> = vec![
        ("L1 offset past EOF", 40, past_end, vec!["L1 table".into(), "beyond the end of the file".into()], true),
        ("L1 table on the header", 40, 0, vec!["the L1 table".into(), "the header".into(), "overlaps".into()], false),
        ("refcount table on the L1 table", 48, l.l1, vec!["the refcount table".into(), "the L1 table".into(), "overlaps".into()], false),
        (
            "L2 table on the refcount table",
            l1_entry,
            l.reftable | COPIED,
            vec![format!("the L2 table of L1 entry {l2_idx}"), "the refcount table".into(), "overlaps".into()],
            false,
        ),
        (
            "L2 table on the L1 table",
            l1_entry,
            l.l1 | COPIED,
            vec![format!("the L2 table of L1 entry {l2_idx}"), "the L1 table".into(), format!("{:#x}", l.l1)],
            false,
        ),
        (
            "L2 table past EOF",
            l1_entry,
            past_end | COPIED,
            vec![format!("the L2 table of L1 entry {l2_idx}"), format!("{past_end:#x}"), "beyond the end of the file".into()],
            false,
        ),
        (
            "unaligned L2 table",
            l1_entry,
            (l2_off + 512) | COPIED,
            vec![format!("the L2 table of L1 entry {l2_idx}"), "not cluster-aligned".into()],
            false,
        ),
        (
            "two L1 entries share an L2 table",
            l1_entry + 8,
            l2_off | COPIED,
            vec![format!("the L2 table of L1 entry {}", l2_idx + 1), format!("the L2 table of L1 entry {l2_idx}"), "overlaps".into()],
            false,
        ),
        (
            "refcount block past EOF",
            l.reftable,
            past_end,
            vec!["the refcount block of refcount table entry 0".into(), "beyond the end of the file".into()],
            false,
        ),
        (
            "refcount block on an L2 table",
            l.reftable,
            l2_off,
            vec!["the refcount block of refcount table entry 0".into(), format!("the L2 table of L1 entry {l2_idx}")],
            false,
        ),
    ];
    assert_ne!(l.refblock, 0);
    for (what, at, value, words, header_refuses) in cases {
        let img = dir.path().join("bad.qcow2");
        fs::copy(&good, &img).unwrap();
        patch64(&img, at, value);
        let before = sha256_file(&img);
        let err = match qcow2::open(&img, true) {
            Ok(_) => panic!("{what}: opened for writing"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(s(&img)), "{what}: {err}");
        for w in &words {
            assert!(err.contains(w.as_str()), "{what}: '{w}' missing from: {err}");
        }
        if !header_refuses {
            assert!(err.contains("refusing to write"), "{what}: {err}");
        }
        // through a guest session too
        let mut g = Guest::new();
        g.add_drive(&img, DriveOptions { format: None, readonly: false, ..Default::default() }).unwrap();
        let gerr = g.launch().expect_err("guest launched on a corrupt image").to_string();
        assert!(gerr.contains(words[0].as_str()), "{what}: {gerr}");
        assert_eq!(sha256_file(&img), before, "{what}: the refused image changed");
        assert!(!vguestfs::disk::redo::log_path(&img).exists());
        // qemu-img agrees that the image is damaged
        let check = std::process::Command::new("qemu-img").args(["check", s(&img)]).output().unwrap();
        assert!(!check.status.success(), "{what}: qemu-img check finds nothing wrong");
    }
}

#[test]
fn corrupt_snapshot_tables_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let img = small_cluster_image(dir.path());
    run("qemu-img", &["snapshot", "-c", "one", s(&img)]);
    let data = fs::read(&img).unwrap();
    let table = be64(&data, 64);
    let snap_l1 = be64(&data, table as usize);
    let l = layout(&img);
    for (what, at, value, word) in [
        ("snapshot L1 past EOF", table, l.file_len.next_multiple_of(l.cluster) + (1 << 20), "the L1 table of snapshot 0"),
        ("snapshot L1 on the active L1", table, l.l1, "the L1 table of snapshot 0"),
        ("snapshot table on the header", 64, 0, "the snapshot table"),
    ] {
        let bad = dir.path().join("bad.qcow2");
        fs::copy(&img, &bad).unwrap();
        patch64(&bad, at, value);
        let before = sha256_file(&bad);
        let err = qcow2::open(&bad, true).err().unwrap_or_else(|| panic!("{what}: opened")).to_string();
        assert!(err.contains(word), "{what}: {err}");
        assert_eq!(sha256_file(&bad), before);
        let check = std::process::Command::new("qemu-img").args(["check", s(&bad)]).output().unwrap();
        assert!(!check.status.success(), "{what}: qemu-img check finds nothing wrong");
    }
    assert_ne!(snap_l1, 0);
}

/// An L1 table naming more L2 tables than we check, each inside a (sparse) file: refused
/// with an error, quickly and without unbounded memory.
#[test]
fn too_many_tables_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("huge.qcow2");
    run("qemu-img", &["create", "-q", "-f", "qcow2", "-o", "cluster_size=512", s(&img), "64M"]);
    let entries = qcow2::MAX_TABLES as u64 + 10;
    let l1_off: u64 = (entries + 4096) * 512;
    let mut l1 = Vec::with_capacity(entries as usize * 8);
    for i in 0..entries {
        l1.extend_from_slice(&(((1 << 20) + i * 512) | 1 << 63).to_be_bytes());
    }
    let f = fs::OpenOptions::new().write(true).open(&img).unwrap();
    f.write_all_at(&l1, l1_off).unwrap();
    f.write_all_at(&(entries as u32).to_be_bytes(), 36).unwrap();
    f.write_all_at(&l1_off.to_be_bytes(), 40).unwrap();
    drop(f);
    let mut head = vec![0u8; 4096];
    fs::File::open(&img).unwrap().read_exact_at(&mut head, 0).unwrap();
    let len = fs::metadata(&img).unwrap().len();
    let start = std::time::Instant::now();
    let err = qcow2::open(&img, true).err().expect("opened").to_string();
    assert!(err.contains("more than") && err.contains("metadata tables"), "{err}");
    assert!(start.elapsed().as_secs() < 30);
    let mut now = vec![0u8; 4096];
    fs::File::open(&img).unwrap().read_exact_at(&mut now, 0).unwrap();
    assert_eq!((now, fs::metadata(&img).unwrap().len()), (head, len));
}
