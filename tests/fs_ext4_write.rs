//! ext2/3/4 writes through `Ext4Fs::open_rw`, judged by other people's tools: every change
//! is made on a scratch copy of a fixture built by `fixtures/mk-ext4.sh`, then the copy must
//! pass `e2fsck -fn` with nothing to fix and read back as written through `debugfs -R`
//! (`cat`, `stat`, `ls -l`, `ea_get`), ext4-view, and a fresh read-only mount of our own.

mod common;

use common::ext4w::*;
use vguestfs::fs::{Errno, Error, Filesystem};

/// Every image the tests write to (mk-ext4.sh).
const IMAGES: &[&str] = &[
    "ext4-4k.img",
    "ext4-1k.img",
    "ext4-ext2.img",
    "ext4-ext3.img",
    "ext4-64bit-csum.img",
    "ext4-nocsum.img",
    "ext4-noextent.img",
    "ext4-inline.img",
    "ext4-dirty.img",
];

fn os(e: Error) -> Errno {
    match e {
        Error::Os(errno) => errno,
        other => panic!("expected an errno, got {other}"),
    }
}

#[test]
fn create_write_mkdir_unlink_on_every_image() {
    for img in IMAGES {
        let s = scratch(img);
        let data = pattern(img.len() as u64, 300_000);
        {
            let fs = open_rw(&s.path);
            assert!(fs.is_writable());
            let root = fs.root();
            let dir = fs.mkdir(root, b"newdir", 0o750).expect("mkdir");
            let f = fs.create(dir, b"file", 0o640).expect("create");
            fs.write(f, 0, &data).expect("write");
            fs.write(f, 10, b"hello").expect("overwrite");
            let small = fs.create(root, b"small", 0o600).expect("create small");
            fs.write(small, 0, b"tiny\n").expect("write small");
            // Remove a file of the fixture tree and one of ours.
            fs.unlink(root, b"mid-5000").expect("unlink fixture file");
            let gone = fs.create(root, b"gone", 0o644).expect("create gone");
            fs.write(gone, 0, &data[..5000]).expect("write gone");
            fs.unlink(root, b"gone").expect("unlink");
            assert_eq!(fs.lookup(root, b"gone").expect("lookup"), None);
            // Errors as the kernel gives them.
            assert_eq!(os(fs.create(root, b"small", 0o644).unwrap_err()), Errno::Exists);
            assert_eq!(os(fs.mkdir(root, b"newdir", 0o755).unwrap_err()), Errno::Exists);
            assert_eq!(os(fs.unlink(root, b"newdir").unwrap_err()), Errno::IsDir);
            assert_eq!(os(fs.unlink(root, b"nothing").unwrap_err()), Errno::NoEntry);
            assert_eq!(os(fs.create(root, &[b'n'; 256], 0o644).unwrap_err()), Errno::NameTooLong);
            assert_eq!(os(fs.create(f, b"x", 0o644).unwrap_err()), Errno::NotDir);
            fs.sync().expect("sync");
        }
        assert_fsck_clean(&s.path);
        let mut expect = data.clone();
        expect[10..15].copy_from_slice(b"hello");
        assert_eq!(debugfs(&s.path, "cat /newdir/file"), expect, "{img}: debugfs cat");
        assert_eq!(debugfs(&s.path, "cat /small"), b"tiny\n", "{img}");
        let st = debugfs_text(&s.path, "stat /newdir/file");
        assert!(st.contains("Mode:  0640") || st.contains("Mode:  00640"), "{img}: {st}");
        let ls = debugfs_text(&s.path, "ls -l /");
        assert!(!ls.contains(" mid-5000") && !ls.contains(" gone"), "{img}: {ls}");
        let dst = debugfs_text(&s.path, "stat /newdir");
        assert_eq!(stat_field(&dst, "Links"), "2", "{img}: {dst}");
        // Our own reader, on a fresh mount.
        let fs = open_ro(&s.path);
        let f = resolve(&fs, b"newdir/file");
        assert_eq!(read_all(&fs, f), expect, "{img}: our reader");
        assert_eq!(fs.stat(f).unwrap().mode, 0o100640);
        assert_eq!(fs.stat(resolve(&fs, b"newdir")).unwrap().mode, 0o040750);
        // ext4-view (not for inline_data, which it refuses).
        if let Some(v) = view(&s.path) {
            assert_eq!(v.read("/newdir/file").expect("ext4-view read"), expect, "{img}: ext4-view");
            assert!(!v.exists("/mid-5000").unwrap());
        }
    }
}

/// `dumpe2fs -h` of an image.
fn dumpe2fs(img: &std::path::Path) -> String {
    common::run("dumpe2fs", &["-h", img.to_str().unwrap()])
}

#[test]
fn dirty_journal_is_replayed_onto_the_device_and_sync_leaves_it_clean() {
    let s = scratch("ext4-dirty.img");
    assert!(dumpe2fs(&s.path).contains("needs_recovery"));
    {
        let fs = open_rw(&s.path);
        // Replayed at mount, before any change of ours: on the device already.
        assert!(!dumpe2fs(&s.path).contains("needs_recovery"));
        let f = fs.create(fs.root(), b"after-replay", 0o644).expect("create");
        fs.write(f, 0, b"x").expect("write");
        fs.sync().expect("sync");
        // Mounted again after sync: still usable.
        fs.write(f, 1, b"y").expect("write after sync");
        fs.sync().expect("sync again");
    }
    let h = dumpe2fs(&s.path);
    assert!(!h.contains("needs_recovery"), "{h}");
    assert!(h.lines().any(|l| l.starts_with("Filesystem state:") && l.trim_end().ends_with("clean")), "{h}");
    assert_fsck_clean(&s.path);
    let journal = |n| std::fs::read(common::fixture(&format!("ext4-journal-{n}.bin"))).unwrap();
    assert_eq!(debugfs(&s.path, "cat /exactly-4k"), journal(2));
    assert_eq!(debugfs(&s.path, "cat /mid-5000")[..4096], journal(3)[..]);
    assert_eq!(debugfs(&s.path, "cat /after-replay"), b"xy");
}

#[test]
fn sync_marks_clean_without_e2fsck_and_state_is_dirty_while_mounted() {
    let s = scratch("ext4-4k.img");
    let fs = open_rw(&s.path);
    fs.mkdir(fs.root(), b"d", 0o755).expect("mkdir");
    let h = dumpe2fs(&s.path);
    assert!(h.lines().any(|l| l.starts_with("Filesystem state:") && l.contains("not clean")), "{h}");
    fs.sync().expect("sync");
    let h = dumpe2fs(&s.path);
    assert!(h.lines().any(|l| l.starts_with("Filesystem state:") && l.trim_end().ends_with(" clean")), "{h}");
    assert_fsck_clean(&s.path);
}

#[test]
fn read_only_open_refuses_writes_and_writes_nothing() {
    let s = scratch("ext4-dirty.img");
    let before = common::sha256_file(&s.path);
    let fs = open_ro(&s.path);
    assert!(!fs.is_writable());
    assert_eq!(os(fs.create(fs.root(), b"x", 0o644).unwrap_err()), Errno::ReadOnlyFs);
    assert_eq!(os(fs.mkdir(fs.root(), b"x", 0o755).unwrap_err()), Errno::ReadOnlyFs);
    fs.sync().expect("sync of a read-only mount");
    drop(fs);
    assert_eq!(common::sha256_file(&s.path), before);
}
