//! Issue 18, item 4 (ext4 directories): a hash-tree directory e2fsck finds damaged, or a
//! directory linked from two places, is refused for writing — with "run e2fsck -f on a copy
//! first" and the image left as it was — instead of being written through; healthy hash trees
//! (one and two index levels, with and without metadata_csum, made by `e2fsck -D`) take every
//! change and stay e2fsck-clean. Each damaged image is made by real tools plus the smallest
//! byte patch, and e2fsck agrees it is damaged.

mod common;

use common::ext4w::{assert_fsck_clean, e2fsck, mkfs, open_rw, Scratch};
use common::run;
use std::path::Path;
use vguestfs::fs::{Error, Filesystem, Ino};

/// An image with `/big` holding `n` files, indexed by `e2fsck -fyD`; returns it and the
/// physical block of `/big`'s logical block `logical`.
fn indexed(args: &[&str], n: usize) -> Scratch {
    let s = mkfs(args, 32);
    {
        let fs = open_rw(&s.path);
        let big = fs.mkdir(fs.root(), b"big", 0o755).unwrap();
        for i in 0..n {
            fs.create(big, format!("file-with-a-long-name-{i:05}").as_bytes(), 0o644).unwrap();
        }
        fs.mkdir(big, b"sub", 0o755).unwrap();
        fs.sync().unwrap();
    }
    let _ = std::process::Command::new("e2fsck").args(["-fyD"]).arg(&s.path).output().unwrap();
    assert_fsck_clean(&s.path);
    let stat = run("debugfs", &["-R", "stat /big", s.path.to_str().unwrap()]);
    assert!(stat.contains("Flags: 0x81000") || stat.contains("Flags: 0x1000"), "not indexed: {stat}");
    s
}

fn block_of(img: &Path, path: &str, logical: u64) -> u64 {
    run("debugfs", &["-R", &format!("bmap {path} {logical}"), img.to_str().unwrap()]).trim().parse().unwrap()
}

fn lookup(fs: &dyn Filesystem, path: &[&str]) -> Ino {
    path.iter().fold(fs.root(), |d, c| fs.lookup(d, c.as_bytes()).unwrap().unwrap())
}

/// Patches `bytes` at byte `at` of block `block` (block size `bs`).
fn patch(img: &Path, bs: u64, block: u64, at: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    std::fs::OpenOptions::new().write(true).open(img).unwrap().write_all_at(bytes, block * bs + at).unwrap();
}

fn assert_refused(img: &Path, what: &str, change: impl FnOnce(&dyn Filesystem, Ino) -> Result<(), Error>) {
    let before = std::fs::read(img).unwrap();
    {
        let fs = open_rw(img);
        let big = lookup(&fs, &["big"]);
        let e = change(&fs, big).expect_err(what);
        assert!(matches!(e, Error::NeedsCheck { .. }) && e.to_string().contains("run e2fsck -f on a copy first"), "{what}: {e}");
    }
    assert!(std::fs::read(img).unwrap() == before, "{what}: the image changed");
}

#[test]
fn healthy_hash_trees_take_every_change() {
    // one index level (4 KiB, metadata_csum) and two (1 KiB blocks, no metadata_csum)
    for (args, n, levels) in [(&["-b", "4096"][..], 600, "0"), (&["-b", "1024", "-O", "^metadata_csum"][..], 4000, "1")] {
        let s = indexed(args, n);
        let h = run("debugfs", &["-R", "htree /big", s.path.to_str().unwrap()]);
        assert!(h.contains(&format!("Indirect levels: {levels}")), "{args:?}: {}", &h[..h.len().min(300)]);
        {
            let fs = open_rw(&s.path);
            let big = lookup(&fs, &["big"]);
            fs.create(big, b"new-file", 0o644).unwrap();
            fs.unlink(big, b"file-with-a-long-name-00007").unwrap();
            fs.rename(big, b"file-with-a-long-name-00008", big, b"renamed").unwrap();
            fs.mkdir(big, b"newdir", 0o755).unwrap();
            fs.rmdir(big, b"sub").unwrap();
            fs.sync().unwrap();
        }
        assert_fsck_clean(&s.path);
    }
}

#[test]
fn damaged_hash_trees_are_refused_and_left_as_they_are() {
    // 1 KiB blocks without metadata_csum: the patches need no checksum to be recomputed.
    let args = ["-b", "1024", "-O", "^metadata_csum"];
    // root block: '.' (12) '..' (12) dx_root_info (8) then limit, count, block 0, then
    // (hash, block) pairs from byte 40
    type Patch = fn(&Path, u64);
    let cases: [(&str, Patch, &str); 5] = [
        ("hashes out of order", |img, root| patch(img, 1024, root, 48, &1u32.to_le_bytes()), "unordered hash table"),
        ("count above limit", |img, root| patch(img, 1024, root, 34, &500u16.to_le_bytes()), ""),
        ("child past the directory's end", |img, root| patch(img, 1024, root, 44, &9999u32.to_le_bytes()), "bad block number"),
        ("a leaf referenced twice", |img, root| patch(img, 1024, root, 52, &1u32.to_le_bytes()), ""),
        ("two leaves swapped (names outside their hash ranges)", |img, root| {
            patch(img, 1024, root, 44, &3u32.to_le_bytes());
            patch(img, 1024, root, 52, &2u32.to_le_bytes());
        }, "hash"),
    ];
    for (what, damage, fsck_says) in cases {
        let s = indexed(&args, 600);
        let root = block_of(&s.path, "/big", 0);
        damage(&s.path, root);
        let (code, text) = e2fsck(&s.path);
        assert!(code != 0 && text.contains("HTREE") && text.contains(fsck_says), "{what}: e2fsck does not see it:\n{text}");
        assert_refused(&s.path, what, |fs, big| fs.create(big, b"x", 0o644).map(drop));
        assert_refused(&s.path, what, |fs, big| fs.unlink(big, b"file-with-a-long-name-00003"));
        assert_refused(&s.path, what, |fs, big| fs.rename(big, b"sub", fs.root(), b"moved"));
        assert_refused(&s.path, what, |fs, big| fs.rename(fs.root(), b"lost+found", big, b"lf"));
    }
}

#[test]
fn a_hard_linked_directory_is_not_removed_or_moved_through_its_second_name() {
    let s = mkfs(&["-b", "4096"], 16);
    {
        let fs = open_rw(&s.path);
        let a = fs.mkdir(fs.root(), b"a", 0o755).unwrap();
        fs.mkdir(a, b"sub", 0o755).unwrap();
        fs.mkdir(fs.root(), b"b", 0o755).unwrap();
        fs.sync().unwrap();
    }
    // debugfs links the directory a second time (what e2fsck calls a directory with two parents)
    run("debugfs", &["-w", "-R", "link /a/sub /b/sub2", s.path.to_str().unwrap()]);
    let (code, text) = e2fsck(&s.path);
    assert!(code != 0, "e2fsck does not see it:\n{text}");
    let before = std::fs::read(&s.path).unwrap();
    {
        let fs = open_rw(&s.path);
        let b = lookup(&fs, &["b"]);
        for e in [fs.rmdir(b, b"sub2").unwrap_err(), fs.rename(b, b"sub2", fs.root(), b"moved").unwrap_err()] {
            assert!(e.to_string().contains("hard-linked directory"), "{e}");
        }
        // through its first name it is what it claims to be
        let a = lookup(&fs, &["a"]);
        assert!(fs.lookup(a, b"sub").unwrap().is_some());
    }
    assert!(std::fs::read(&s.path).unwrap() == before, "the image changed");
}
