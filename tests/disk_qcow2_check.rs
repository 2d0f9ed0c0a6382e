//! The metadata check before writing to a qcow2 image: images qemu-img made (plain, v2,
//! compressed, overlays, snapshots) pass and take writes that `qemu-img check` accepts;
//! hand-corrupted copies are refused for writing with an error naming the structure and its
//! offset, and are left byte-identical.

mod common;
use common::Rng;

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

fn patch32(path: &Path, off: u64, value: u32) {
    fs::OpenOptions::new().write(true).open(path).unwrap().write_all_at(&value.to_be_bytes(), off).unwrap();
}

fn patch16(path: &Path, off: u64, value: u16) {
    fs::OpenOptions::new().write(true).open(path).unwrap().write_all_at(&value.to_be_bytes(), off).unwrap();
}

/// A FAT volume made by mkfs.vfat and mcopy, converted by qemu-img to qcow2 (64 KiB clusters).
fn fat_image(dir: &Path) -> PathBuf {
    let raw = dir.join("fat.raw");
    run("truncate", &["-s", "16M", s(&raw)]);
    run("mkfs.vfat", &["-n", "HOSTILE", s(&raw)]);
    let file = dir.join("file.bin");
    fs::write(&file, (0..200_000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>()).unwrap();
    run("mcopy", &["-i", s(&raw), s(&file), "::/file.bin"]);
    let img = dir.join("fat.qcow2");
    run("qemu-img", &["convert", "-f", "raw", "-O", "qcow2", s(&raw), s(&img)]);
    img
}

/// The first allocated data cluster of the first L2 table: (L2 entry's file offset, entry).
fn first_data_entry(path: &Path, l: &Layout) -> (u64, u64) {
    let d = fs::read(path).unwrap();
    let l2 = l.l2.1;
    (0..l.cluster / 8)
        .map(|i| (l2 + 8 * i, be64(&d, (l2 + 8 * i) as usize)))
        .find(|&(_, e)| e & 0x00ff_ffff_ffff_fe00 != 0)
        .unwrap()
}

/// Issue 23 item 1: metadata that lies about which clusters are in use. Every case is refused
/// before anything is written (the image stays byte-identical, a guest upload fails), with an
/// error naming the problem and `qemu-img check -r all`; qemu-img check agrees the image is
/// damaged. Before the fix, a 300 KiB upload through the first one overwrote the qcow2 header.
#[test]
fn lying_refcounts_are_refused_before_any_write() {
    let dir = tempfile::tempdir().unwrap();
    let good = fat_image(dir.path());
    let l = layout(&good);
    let (entry_at, entry) = first_data_entry(&good, &l);
    let data = entry & 0x00ff_ffff_ffff_fe00;
    let (refblock, reftable, cluster, l2) = (l.refblock, l.reftable, l.cluster, l.l2.1);
    let refcount_of = move |cluster_off: u64| refblock + 2 * (cluster_off / cluster);
    const COPIED: u64 = 1 << 63;
    type Patch<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: Vec<(&str, Patch, Vec<String>)> = vec![
        ("refcount table entry 0 is 0", Box::new(move |p| patch64(p, reftable, 0)), vec!["the cluster at offset 0x0 has refcount 0 but 1 reference".into(), "overwritten".into()]),
        ("refcount_table_clusters is 0", Box::new(|p| patch32(p, 56, 0)), vec!["has refcount 0 but 1 reference".into()]),
        (
            "a data cluster mapped onto the refcount block",
            Box::new(move |p| patch64(p, entry_at, refblock | COPIED)),
            vec![format!("maps a data cluster at offset {:#x} onto the refcount block of refcount table entry 0", l.refblock)],
        ),
        (
            "a data cluster mapped onto its own L2 table",
            Box::new(move |p| patch64(p, entry_at, l2 | COPIED)),
            vec![format!("maps a data cluster at offset {l2:#x} onto the L2 table of L1 entry 0 at offset {l2:#x}")],
        ),
        (
            "a used data cluster with refcount 0",
            Box::new(move |p| patch16(p, refcount_of(data), 0)),
            vec![format!("the cluster at offset {data:#x} has refcount 0 but 1 reference")],
        ),
        (
            // a leak (allowed, as qemu-img check says), but then COPIED lies (qemu-img: ERROR)
            "a data cluster with refcount 2, one reference and the COPIED flag",
            Box::new(move |p| patch16(p, refcount_of(data), 2)),
            vec![format!("the COPIED flag of the data cluster at offset {data:#x} disagrees with its refcount 2")],
        ),
        (
            "a COPIED flag missing on a data cluster of refcount 1",
            Box::new(move |p| patch64(p, entry_at, entry & !COPIED)),
            vec![format!("the COPIED flag of the data cluster at offset {data:#x} disagrees with its refcount 1")],
        ),
    ];
    let upload = vec![0xa5u8; 300 << 10];
    for (what, patch, words) in cases {
        let img = dir.path().join("bad.qcow2");
        fs::copy(&good, &img).unwrap();
        patch(&img);
        let before = sha256_file(&img);
        let err = qcow2::open(&img, true).err().unwrap_or_else(|| panic!("{what}: opened for writing")).to_string();
        for w in words.iter().map(String::as_str).chain(["refusing to write", "qemu-img check -r all"]) {
            assert!(err.contains(w), "{what}: '{w}' missing from: {err}");
        }
        // The issue's reproduction: an upload through a writable guest session.
        let mut g = Guest::new();
        g.add_drive(&img, DriveOptions { format: None, readonly: false, ..Default::default() }).unwrap();
        let launched = g.launch().and_then(|_| g.mount("/dev/sda", "/")).and_then(|_| g.write("/up.bin", &upload)).and_then(|_| g.commit());
        assert!(launched.is_err(), "{what}: the upload went through");
        drop(g);
        assert_eq!(sha256_file(&img), before, "{what}: the refused image changed");
        assert!(!vguestfs::disk::redo::log_path(&img).exists());
        // Read-only use keeps working.
        assert!(qcow2::open(&img, false).is_ok(), "{what}: no longer opens read-only");
        let check = std::process::Command::new("qemu-img").args(["check", s(&img)]).output().unwrap();
        assert!(!check.status.success(), "{what}: qemu-img check finds nothing wrong");
    }
}

/// Every 8-byte pointer of a qcow2 image (file offset of the field, the bits that hold the
/// offset), found by walking the metadata from the header: header table offsets, refcount table
/// entries, L1 and L2 entries (standard ones), snapshot L1 offsets and entries, the bitmap
/// directory offset, bitmap table offsets and entries.
fn pointer_sites(path: &Path) -> Vec<(u64, u64)> {
    const MASK: u64 = 0x00ff_ffff_ffff_fe00;
    let d = fs::read(path).unwrap();
    let at = |o: u64| -> u64 { if o as usize + 8 <= d.len() { be64(&d, o as usize) } else { 0 } };
    let cluster = 1u64 << be32(&d, 20);
    let mut sites = vec![(40, u64::MAX), (48, u64::MAX)];
    let (reftable, rt_clusters) = (at(48), be32(&d, 56) as u64);
    for i in 0..rt_clusters * cluster / 8 {
        if at(reftable + 8 * i) != 0 {
            sites.push((reftable + 8 * i, !0x1ff));
        }
    }
    let mut l1s = vec![(at(40), be32(&d, 36) as u64, true)];
    let nb_snapshots = be32(&d, 60);
    if nb_snapshots > 0 {
        sites.push((64, u64::MAX));
        let mut pos = at(64);
        for _ in 0..nb_snapshots {
            sites.push((pos, u64::MAX));
            l1s.push((at(pos), be32(&d, pos + 8) as u64, false));
            let (id, name, extra) = (u16::from_be_bytes([d[pos as usize + 12], d[pos as usize + 13]]) as u64, u16::from_be_bytes([d[pos as usize + 14], d[pos as usize + 15]]) as u64, be32(&d, pos + 36) as u64);
            pos = (pos + 40 + extra + id + name).next_multiple_of(8);
        }
    }
    for (l1, size, active) in l1s {
        for i in 0..size {
            let e = at(l1 + 8 * i) & MASK;
            if e == 0 {
                continue;
            }
            sites.push((l1 + 8 * i, MASK));
            if active {
                for j in 0..cluster / 8 {
                    let l2e = at(e + 8 * j);
                    if l2e & (1 << 62) == 0 && l2e & MASK != 0 {
                        sites.push((e + 8 * j, MASK));
                    }
                }
            }
        }
    }
    // header extensions: the bitmaps extension's directory
    if be32(&d, 4) == 3 {
        let mut pos = be32(&d, 100) as u64;
        while pos + 8 <= cluster {
            let (ty, len) = (be32(&d, pos), be32(&d, pos + 4) as u64);
            if ty == 0 {
                break;
            }
            if ty == 0x2385_2875 {
                sites.push((pos + 8 + 16, u64::MAX));
                let (count, dir) = (be32(&d, pos + 8), at(pos + 8 + 16));
                let mut e = dir;
                for _ in 0..count {
                    sites.push((e, MASK));
                    let (table, size) = (at(e), be32(&d, e + 8) as u64);
                    for k in 0..size {
                        if at(table + 8 * k) & MASK != 0 {
                            sites.push((table + 8 * k, MASK));
                        }
                    }
                    let (name, extra) = (u16::from_be_bytes([d[e as usize + 18], d[e as usize + 19]]) as u64, be32(&d, e + 20) as u64);
                    e = (e + 24 + extra + name).next_multiple_of(8);
                }
            }
            pos += 8 + len.next_multiple_of(8);
        }
    }
    sites
}

/// The base images of the property test, each made by qemu-img and qemu-io.
fn varied_images(dir: &Path) -> Vec<PathBuf> {
    let make = |name: &str, opts: &str, size: &str| {
        let p = dir.join(name);
        run("qemu-img", &["create", "-q", "-f", "qcow2", "-o", opts, s(&p), size]);
        for (pat, off, len) in [(0x11, "0", "300k"), (0x22, "1M", "64k"), (0x33, "3000k", "100k")] {
            run("qemu-io", &["-f", "qcow2", "-c", &format!("write -P {pat} {off} {len}"), s(&p)]);
        }
        p
    };
    let mut v = vec![
        make("c64k.qcow2", "cluster_size=65536", "8M"),
        make("c4k.qcow2", "cluster_size=4096", "8M"),
        make("c512.qcow2", "cluster_size=512", "4M"),
        make("rc8.qcow2", "cluster_size=4096,refcount_bits=8", "8M"),
        make("rc1.qcow2", "cluster_size=4096,refcount_bits=1", "8M"),
        make("c2m.qcow2", "cluster_size=2097152", "8M"),
        make("v2.qcow2", "compat=0.10,cluster_size=4096", "8M"),
    ];
    let snap = make("snap.qcow2", "cluster_size=4096", "8M");
    run("qemu-img", &["snapshot", "-c", "one", s(&snap)]);
    run("qemu-io", &["-f", "qcow2", "-c", "write -P 0x44 0 100k", s(&snap)]);
    run("qemu-img", &["snapshot", "-c", "two", s(&snap)]);
    run("qemu-io", &["-f", "qcow2", "-c", "write -P 0x55 2M 300k", s(&snap)]);
    v.push(snap);
    let compressed = dir.join("compressed.qcow2");
    run("qemu-img", &["convert", "-c", "-f", "qcow2", "-O", "qcow2", "-o", "cluster_size=4096", s(&v[1]), s(&compressed)]);
    v.push(compressed);
    let bitmaps = make("bitmaps.qcow2", "cluster_size=4096", "8M");
    run("qemu-img", &["bitmap", "--add", "-f", "qcow2", s(&bitmaps), "b0"]);
    run("qemu-io", &["-f", "qcow2", "-c", "write -P 0x66 4M 200k", s(&bitmaps)]);
    v.push(bitmaps);
    v
}


/// `qemu-img check`'s counts: (corruptions, leaks).
fn check_counts(img: &Path) -> (u64, u64) {
    let out = std::process::Command::new("qemu-img").args(["check", "--output=json", s(img)]).output().unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let n = |k: &str| j.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    (n("corruptions") + n("check-errors"), n("leaks"))
}

/// The overlap rule as a property: a valid qemu-made image, one metadata pointer redirected at
/// random onto another structure (or data cluster), then a random write. Either the write is
/// refused and the image is byte-identical, or it goes through, `qemu-img check` finds no
/// error and no leak that the redirection did not already make (a redirected table pointer
/// strands the old table: a leak, harmless, which QEMU writes through too), and qemu-io reads
/// back what was written.
#[test]
fn redirected_pointers_never_lead_to_damage() {
    let dir = tempfile::tempdir().unwrap();
    let images = varied_images(dir.path());
    // Unpatched, every one of them takes a write and stays clean; but the one with a persistent
    // dirty bitmap, which our writes would leave stale, is refused naming it.
    let (bitmaps, images_wo) = images.split_last().unwrap();
    let err = qcow2::open(bitmaps, true).err().expect("an image with bitmaps opened for writing").to_string();
    assert!(err.contains("persistent dirty bitmaps (b0)") && err.contains("qemu-img bitmap --remove") && !err.contains("metadata check"), "{err}");
    for base in images_wo {
        let img = dir.path().join("valid.qcow2");
        fs::copy(base, &img).unwrap();
        let o = open_session_image(&img, None, true, &OverlayOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", base.display()));
        o.dev.write_at(&[0x77; 70_000], 3 << 20).unwrap();
        o.overlay.as_ref().unwrap().commit().unwrap();
        drop(o);
        assert_eq!(check_counts(&img), (0, 0), "{}", base.display());
        let out = run("qemu-io", &["-f", "qcow2", "-c", "read -P 0x77 3M 70000", s(&img)]);
        assert!(out.contains("read 70000/70000 bytes"), "{}: {out}", base.display());
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut refused, mut written) = (0, 0);
    for round in 0..60 {
        let base = &images[round % images.len()];
        let sites = pointer_sites(base);
        let d = fs::read(base).unwrap();
        let mut targets: Vec<u64> = sites.iter().map(|&(at, mask)| be64(&d, at as usize) & mask).filter(|&t| t != 0).collect();
        targets.push(0);
        targets.sort_unstable();
        targets.dedup();
        let (site, mask) = sites[rng.below(sites.len() as u64) as usize];
        let target = targets[rng.below(targets.len() as u64) as usize];
        let old = be64(&d, site as usize);
        let img = dir.path().join("case.qcow2");
        fs::copy(base, &img).unwrap();
        patch64(&img, site, (old & !mask) | (target & mask));
        let before = sha256_file(&img);
        let virtual_size = u64::from_be_bytes(d[24..32].try_into().unwrap());
        let len = 1 + rng.below(256 << 10);
        let off = rng.below(virtual_size - len);
        let pattern = 1 + rng.below(250) as u8;
        let what = format!("round {round}: {} field {site:#x} {old:#x} -> {target:#x}, write {len} at {off}", base.display());
        let result = open_session_image(&img, None, true, &OverlayOptions::default()).and_then(|o| {
            o.dev.write_at(&vec![pattern; len as usize], off)?;
            o.overlay.as_ref().expect("overlay").commit()?;
            Ok(())
        });
        match result {
            Err(_) => {
                refused += 1;
                assert_eq!(sha256_file(&img), before, "{what}: refused but changed");
                assert!(!vguestfs::disk::redo::log_path(&img).exists(), "{what}");
            }
            Ok(()) => {
                written += 1;
                let patched = dir.path().join("patched.qcow2");
                fs::copy(base, &patched).unwrap();
                patch64(&patched, site, (old & !mask) | (target & mask));
                let (errors, leaks) = check_counts(&img);
                assert_eq!(errors, 0, "{what}: qemu-img check finds errors after the write");
                assert!(leaks <= check_counts(&patched).1, "{what}: the write leaked clusters");
                let out = run("qemu-io", &["-f", "qcow2", "-c", &format!("read -P {pattern} {off} {len}"), s(&img)]);
                assert!(out.contains(&format!("read {len}/{len} bytes")), "{what}: {out}");
            }
        }
    }
    eprintln!("redirected pointers: {refused} refused, {written} written");
    assert!(refused > 0 && written > 0, "{refused} refused, {written} written");
}

/// Issue 23 item 2: an image left with the dirty bit by a crash (lazy refcounts, qemu-io
/// killed mid-session) reads as QEMU reads it — the data written before the crash, as qemu-io
/// reads it back — but is refused for writing, naming `qemu-img check -r all`, and stays
/// byte-identical; once repaired by that command it takes writes.
#[test]
fn dirty_images_read_but_are_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("dirty.qcow2");
    run("qemu-img", &["create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", s(&img), "4M"]);
    // qemu-io kills itself before closing the image: the dirty bit stays set.
    let crash = std::process::Command::new("qemu-io").args(["-f", "qcow2", "-c", "write -P 0x5c 64k 200k", "-c", "sigraise 9", s(&img)]).output().unwrap();
    assert!(!crash.status.success());
    let data = fs::read(&img).unwrap();
    assert_eq!(u64::from_be_bytes(data[72..80].try_into().unwrap()) & 1, 1, "qemu-io left no dirty bit");
    let before = sha256_file(&img);

    let dev = qcow2::open(&img, false).unwrap_or_else(|e| panic!("read-only open of a dirty image: {e}"));
    let mut buf = vec![0u8; 300 << 10];
    dev.read_at(&mut buf, 0).unwrap();
    assert!(buf[..64 << 10].iter().all(|&b| b == 0) && buf[64 << 10..264 << 10].iter().all(|&b| b == 0x5c) && buf[264 << 10..].iter().all(|&b| b == 0));
    let out = run("qemu-io", &["-r", "-f", "qcow2", "-c", "read -P 0x5c 64k 200k", s(&img)]);
    assert!(out.contains("read 204800/204800 bytes"), "{out}");
    drop(dev);

    let err = qcow2::open(&img, true).err().expect("a dirty image opened for writing").to_string();
    assert!(err.contains("dirty bit") && err.contains(&format!("qemu-img check -r all {}", s(&img))), "{err}");
    assert_eq!(sha256_file(&img), before);

    run("qemu-img", &["check", "-q", "-r", "all", s(&img)]);
    let opened = open_session_image(&img, None, true, &OverlayOptions::default()).unwrap();
    opened.dev.write_at(&[0x3e; 4096], 1 << 20).unwrap();
    opened.overlay.as_ref().unwrap().commit().unwrap();
    drop(opened);
    run("qemu-img", &["check", s(&img)]);
    let out = run("qemu-io", &["-f", "qcow2", "-c", "read -P 0x3e 1M 4k", s(&img)]);
    assert!(out.contains("read 4096/4096 bytes"), "{out}");
}
