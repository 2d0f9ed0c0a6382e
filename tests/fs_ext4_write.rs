//! ext2/3/4 writes through `Ext4Fs::open_rw`, judged by other people's tools: every change
//! is made on a scratch copy of a fixture built by `fixtures/mk-ext4.sh`, then the copy must
//! pass `e2fsck -fn` with nothing to fix and read back as written through `debugfs -R`
//! (`cat`, `stat`, `ls -l`, `ea_get`), ext4-view, and a fresh read-only mount of our own.

mod common;

use common::ext4w::*;
use vguestfs::fs::{Errno, Error, Filesystem, Timespec};

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

/// Images whose files are block-mapped (no extents).
const BLOCK_MAPPED: &[&str] = &["ext4-ext2.img", "ext4-ext3.img", "ext4-noextent.img"];

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
            // Grow a small fixture file (inline on ext4-inline.img) past what an inode holds.
            fs.write(resolve(&fs, b"small-59"), 59, &data[..10_000]).expect("grow small-59");
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
        let mut small = std::fs::read(common::fixture("ext4-tree/small-59")).unwrap();
        small.extend_from_slice(&data[..10_000]);
        assert_eq!(debugfs(&s.path, "cat /small-59"), small, "{img}: grown small-59");
        // Our own reader, on a fresh mount.
        let fs = open_ro(&s.path);
        assert_eq!(read_all(&fs, resolve(&fs, b"small-59")), small, "{img}");
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

/// Runs `change` on a writable scratch copy of each image, syncs, checks `e2fsck -fn`, then
/// runs `check` with the image path and a fresh read-only mount.
fn on_every_image(
    images: &[&str],
    change: impl Fn(&str, &vguestfs::fs::ext4::Ext4Fs),
    check: impl Fn(&str, &std::path::Path, &vguestfs::fs::ext4::Ext4Fs),
) {
    for img in images {
        let s = scratch(img);
        {
            let fs = open_rw(&s.path);
            change(img, &fs);
            fs.sync().unwrap_or_else(|e| panic!("{img}: sync: {e}"));
        }
        let (code, text) = e2fsck(&s.path);
        assert_eq!(code, 0, "{img}: e2fsck -fn:\n{text}");
        check(img, &s.path, &open_ro(&s.path));
    }
}

#[test]
fn mknod_fifo_socket_and_devices() {
    use vguestfs::fs::FileType::*;
    let mk = |maj: u64, min: u64| {
        ((maj & 0xffff_f000) << 32) | ((maj & 0xfff) << 8) | ((min & 0xffff_ff00) << 12) | (min & 0xff)
    };
    on_every_image(
        IMAGES,
        |img, fs| {
            let r = fs.root();
            fs.mknod(r, b"fifo2", Fifo.mode_bits() | 0o644, 0).unwrap_or_else(|e| panic!("{img}: {e}"));
            fs.mknod(r, b"sock2", Socket.mode_bits() | 0o755, 0).unwrap();
            fs.mknod(r, b"chr2", CharDevice.mode_bits() | 0o600, mk(4, 64)).unwrap();
            fs.mknod(r, b"blk2", BlockDevice.mode_bits() | 0o660, mk(8, 1)).unwrap();
            fs.mknod(r, b"bigdev2", CharDevice.mode_bits() | 0o600, mk(300, 70000)).unwrap();
            assert_eq!(os(fs.mknod(r, b"reg", Regular.mode_bits() | 0o644, 0).unwrap_err()), Errno::Invalid);
            assert_eq!(os(fs.mknod(r, b"huge", CharDevice.mode_bits(), mk(5000, 1)).unwrap_err()), Errno::Invalid);
        },
        |img, path, fs| {
            for (name, kind, rdev, dbg) in [
                ("fifo2", Fifo, 0, "FIFO"),
                ("sock2", Socket, 0, "socket"),
                ("chr2", CharDevice, mk(4, 64), "character special"),
                ("blk2", BlockDevice, mk(8, 1), "block special"),
                ("bigdev2", CharDevice, mk(300, 70000), "character special"),
            ] {
                let st = fs.stat(resolve(fs, name.as_bytes())).unwrap();
                assert_eq!(st.file_type(), Some(kind), "{img} {name}");
                assert_eq!(st.rdev, rdev, "{img} {name}");
                let text = debugfs_text(path, &format!("stat /{name}"));
                assert!(text.contains(&format!("Type: {dbg}")), "{img} {name}: {text}");
                if rdev != 0 {
                    let (maj, min) = if name == "bigdev2" { (300, 70000) } else if name == "chr2" { (4, 64) } else { (8, 1) };
                    assert!(text.contains(&format!("Device major/minor number: {maj:02}:{min:02}")), "{img} {name}: {text}");
                }
            }
        },
    );
}

#[test]
fn symlinks_fast_and_slow() {
    // Components of at most 255 bytes: ext4-view refuses longer ones in a target.
    let long: Vec<u8> = (0..300).map(|i| if i % 50 == 49 { b'/' } else { b'a' + (i % 26) as u8 }).collect();
    let long2 = long.clone();
    on_every_image(
        IMAGES,
        |_, fs| {
            let r = fs.root();
            fs.symlink(r, b"fast", b"target/of/fast").unwrap();
            fs.symlink(r, b"edge59", &[b'e'; 59]).unwrap();
            fs.symlink(r, b"edge60", &[b'f'; 60]).unwrap();
            fs.symlink(r, b"slow", &long).unwrap();
            assert_eq!(os(fs.symlink(r, b"empty", b"").unwrap_err()), Errno::NoEntry);
            assert_eq!(os(fs.symlink(r, b"fast", b"x").unwrap_err()), Errno::Exists);
        },
        |img, path, fs| {
            for (name, target) in [
                ("fast", b"target/of/fast".to_vec()),
                ("edge59", vec![b'e'; 59]),
                ("edge60", vec![b'f'; 60]),
                ("slow", long2.clone()),
            ] {
                let ino = resolve(fs, name.as_bytes());
                assert_eq!(fs.readlink(ino).unwrap(), target, "{img} {name}");
                let text = debugfs_text(path, &format!("stat /{name}"));
                let fast = text.contains("Fast link dest:");
                assert_eq!(fast, target.len() < 60, "{img} {name}: {text}");
                if let Some(v) = view(path) {
                    let t = v.read_link(format!("/{name}").as_str()).expect("ext4-view read_link");
                    assert_eq!(t.as_ref(), target.as_slice(), "{img} {name}");
                }
            }
        },
    );
}

#[test]
fn hard_links_and_rmdir() {
    on_every_image(
        IMAGES,
        |_, fs| {
            let r = fs.root();
            let f = resolve(fs, b"one-byte");
            fs.link(f, r, b"one-byte-2").unwrap();
            let d = fs.mkdir(r, b"sub", 0o755).unwrap();
            fs.link(f, d, b"third").unwrap();
            fs.unlink(r, b"hard-link").unwrap(); // mid-5000 keeps its other name
            assert_eq!(os(fs.link(d, r, b"dirlink").unwrap_err()), Errno::NotPermitted);
            assert_eq!(os(fs.link(f, r, b"one-byte").unwrap_err()), Errno::Exists);
            assert_eq!(os(fs.rmdir(r, b"a").unwrap_err()), Errno::NotEmpty);
            assert_eq!(os(fs.rmdir(r, b"one-byte").unwrap_err()), Errno::NotDir);
            fs.mkdir(d, b"empty", 0o700).unwrap();
            fs.rmdir(d, b"empty").unwrap();
            fs.rmdir(resolve(fs, b"a/b/c"), b"d").unwrap_err();
            fs.unlink(resolve(fs, b"a/b/c/d"), b"file").unwrap();
            fs.rmdir(resolve(fs, b"a/b/c"), b"d").unwrap();
        },
        |img, path, fs| {
            let f = resolve(fs, b"one-byte");
            assert_eq!(fs.stat(f).unwrap().nlink, 3, "{img}");
            assert_eq!(resolve(fs, b"sub/third"), f);
            assert_eq!(stat_field(&debugfs_text(path, "stat /one-byte"), "Links"), "3");
            assert_eq!(stat_field(&debugfs_text(path, "stat /mid-5000"), "Links"), "1");
            assert_eq!(stat_field(&debugfs_text(path, "stat /sub"), "Links"), "2", "{img}");
            assert_eq!(stat_field(&debugfs_text(path, "stat /a/b/c"), "Links"), "2", "{img}");
            assert_eq!(fs.lookup(resolve(fs, b"sub"), b"empty").unwrap(), None);
            // debugfs `cat` of an inline-data file prints the whole 60-byte i_block.
            if img != "ext4-inline.img" {
                assert_eq!(debugfs(path, "cat /sub/third"), b"x");
            }
        },
    );
}

#[test]
fn rename_as_posix() {
    on_every_image(
        IMAGES,
        |img, fs| {
            let r = fs.root();
            // Plain move across directories, with a new name.
            fs.rename(r, b"one-byte", resolve(fs, b"a/b"), b"moved").unwrap_or_else(|e| panic!("{img}: {e}"));
            // Replace an existing file; the replaced inode is freed.
            fs.rename(r, b"exactly-1k", r, b"exactly-4k").unwrap();
            // A directory into another, then over an empty directory.
            let x = fs.mkdir(r, b"x", 0o755).unwrap();
            fs.mkdir(x, b"empty", 0o755).unwrap();
            fs.rename(r, b"xattr-dir", x, b"empty").unwrap();
            // Errors: into itself, over a non-empty directory, file over dir, dir over file.
            assert_eq!(os(fs.rename(r, b"a", resolve(fs, b"a/b/c"), b"a").unwrap_err()), Errno::Invalid);
            assert_eq!(os(fs.rename(r, b"x", r, b"a").unwrap_err()), Errno::NotEmpty);
            assert_eq!(os(fs.rename(r, b"small-59", r, b"x").unwrap_err()), Errno::IsDir);
            assert_eq!(os(fs.rename(r, b"x", r, b"small-59").unwrap_err()), Errno::NotDir);
            assert_eq!(os(fs.rename(r, b"nothing", r, b"y").unwrap_err()), Errno::NoEntry);
            // Same inode under both names: nothing happens.
            fs.rename(r, b"mid-5000", r, b"hard-link").unwrap();
        },
        |img, path, fs| {
            let r = fs.root();
            assert_eq!(read_all(fs, resolve(fs, b"a/b/moved")), b"x", "{img}");
            assert_eq!(fs.lookup(r, b"one-byte").unwrap(), None);
            assert_eq!(fs.stat(resolve(fs, b"exactly-4k")).unwrap().size, 1024);
            assert_eq!(fs.lookup(r, b"exactly-1k").unwrap(), None);
            assert_eq!(debugfs(path, "cat /exactly-4k").len(), 1024);
            let moved = resolve(fs, b"x/empty");
            assert_eq!(fs.xattrs(moved).unwrap()[0].0, b"user.on-a-dir");
            assert_eq!(fs.lookup(moved, b"..").unwrap(), Some(resolve(fs, b"x")));
            assert_eq!(stat_field(&debugfs_text(path, "stat /x"), "Links"), "3", "{img}");
            assert_eq!(stat_field(&debugfs_text(path, "stat /hard-link"), "Links"), "2", "{img}");
            assert!(resolve(fs, b"mid-5000") == resolve(fs, b"hard-link"));
        },
    );
}

#[test]
fn truncate_shrinks_and_grows() {
    on_every_image(
        IMAGES,
        |img, fs| {
            let r = fs.root();
            let big = resolve(fs, b"one-mib-plus-one");
            fs.truncate(big, 5000).unwrap_or_else(|e| panic!("{img}: {e}"));
            fs.truncate(big, 300_000).unwrap();
            let f = fs.create(r, b"grown", 0o644).unwrap();
            fs.truncate(f, 1 << 20).unwrap();
            fs.write(f, 4096 * 3 + 5, b"mid").unwrap();
            assert_eq!(os(fs.truncate(r, 0).unwrap_err()), Errno::IsDir);
            assert_eq!(os(fs.truncate(resolve(fs, b"short-link"), 0).unwrap_err()), Errno::Invalid);
            let small = resolve(fs, b"small-59");
            fs.truncate(small, 0).unwrap();
        },
        |img, path, fs| {
            let orig = std::fs::read(common::fixture("ext4-tree/one-mib-plus-one")).unwrap();
            let mut want = orig[..5000].to_vec();
            want.resize(300_000, 0);
            assert_eq!(read_all(fs, resolve(fs, b"one-mib-plus-one")), want, "{img}");
            assert_eq!(debugfs(path, "cat /one-mib-plus-one"), want, "{img}");
            let mut grown = vec![0u8; 1 << 20];
            grown[4096 * 3 + 5..4096 * 3 + 8].copy_from_slice(b"mid");
            assert_eq!(read_all(fs, resolve(fs, b"grown")), grown, "{img}");
            assert_eq!(debugfs(path, "cat /grown"), grown, "{img}");
            assert_eq!(fs.stat(resolve(fs, b"small-59")).unwrap().size, 0);
            // ext4-view 1.0 reads a hole of a block-mapped file as block 0 (a gap of it).
            if let Some(v) = view(path).filter(|_| !BLOCK_MAPPED.contains(&img)) {
                assert_eq!(v.read("/one-mib-plus-one").unwrap(), want, "{img}: ext4-view");
            }
        },
    );
}

#[test]
fn chmod_chown_utimens() {
    let t = |sec, nsec| Some(Timespec { sec, nsec });
    on_every_image(
        IMAGES,
        |_, fs| {
            let f = resolve(fs, b"exactly-1k");
            fs.chmod(f, 0o4751).unwrap();
            fs.chmod(resolve(fs, b"sticky"), 0o1700).unwrap();
            fs.chown(resolve(fs, b"big-owner"), Some(123_456), None).unwrap();
            fs.chown(resolve(fs, b"setgid"), None, Some(70_001)).unwrap();
            fs.chown(resolve(fs, b"a"), Some(1000), Some(1000)).unwrap();
            fs.chown(resolve(fs, b"short-link"), Some(5), Some(6)).unwrap();
            fs.utimens(f, t(1_000_000_000, 123_456_789), t(1_500_000_000, 987_654_321)).unwrap();
            fs.utimens(resolve(fs, b"a"), None, t(4_102_444_800, 5)).unwrap(); // 2100
            assert_eq!(os(fs.utimens(f, t(0, 1_000_000_000), None).unwrap_err()), Errno::Invalid);
        },
        |img, path, fs| {
            let st = fs.stat(resolve(fs, b"exactly-1k")).unwrap();
            assert_eq!(st.mode, 0o104751, "{img}");
            assert_eq!(st.atime, Timespec { sec: 1_000_000_000, nsec: 123_456_789 }, "{img}");
            assert_eq!(st.mtime, Timespec { sec: 1_500_000_000, nsec: 987_654_321 }, "{img}");
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
            assert!((now - st.ctime.sec).abs() < 600, "{img}: ctime {:?}", st.ctime);
            assert_eq!(fs.stat(resolve(fs, b"sticky")).unwrap().mode, 0o041700);
            let bo = fs.stat(resolve(fs, b"big-owner")).unwrap();
            assert_eq!((bo.uid, bo.gid), (123_456, 80_000), "{img}");
            // chown drops set-group-ID with group execute (setgid is 2710), as Linux does.
            let sg = fs.stat(resolve(fs, b"setgid")).unwrap();
            assert_eq!((sg.gid, sg.mode), (70_001, 0o100710), "{img}");
            let a = fs.stat(resolve(fs, b"a")).unwrap();
            assert_eq!((a.uid, a.gid, a.mtime.sec, a.mtime.nsec), (1000, 1000, 4_102_444_800, 5), "{img}");
            let l = fs.stat(resolve(fs, b"short-link")).unwrap();
            assert_eq!((l.uid, l.gid), (5, 6));
            let text = debugfs_text(path, "stat /exactly-1k");
            assert!(text.contains("Mode:  04751"), "{img}: {text}");
            assert!(text.contains("mtime: 0x59682f00:eb79a2c4"), "{img}: {text}");
            let text = debugfs_text(path, "stat /big-owner");
            assert_eq!(stat_field(&text, "User"), "123456", "{img}");
            if let Some(v) = view(path) {
                let m = v.metadata("/big-owner").unwrap();
                assert_eq!((m.uid(), m.gid()), (123_456, 80_000));
                assert_eq!(v.metadata("/exactly-1k").unwrap().mode(), 0o4751);
            }
        },
    );
}

#[test]
fn xattrs_set_replace_remove_and_selinux_survives_rewrite() {
    let big = pattern(7, 1500);
    let big2 = big.clone();
    on_every_image(
        IMAGES,
        |img, fs| {
            let f = resolve(fs, b"with-xattrs");
            fs.setxattr(f, b"user.new", b"value").unwrap_or_else(|e| panic!("{img}: {e}"));
            fs.setxattr(f, b"user.comment", b"replaced").unwrap();
            fs.removexattr(f, b"user.binary").unwrap();
            assert_eq!(os(fs.removexattr(f, b"user.binary").unwrap_err()), Errno::NoData);
            // A value that needs a block of its own: too big for a 1 KiB block (ENOSPC, as
            // the kernel answers without ea_inode).
            let x = resolve(fs, b"exactly-4k");
            if fs.statvfs().unwrap().bsize >= 2048 {
                fs.setxattr(x, b"trusted.large", &big).unwrap();
            } else {
                assert_eq!(os(fs.setxattr(x, b"trusted.large", &big).unwrap_err()), Errno::NoSpace, "{img}");
                fs.setxattr(x, b"trusted.large", &big[..900]).unwrap();
            }
            // Rewriting the file keeps its label (and every other attribute).
            fs.truncate(f, 0).unwrap();
            fs.write(f, 0, b"rewritten\n").unwrap();
            let d = resolve(fs, b"a/b");
            fs.setxattr(d, b"security.selinux", b"system_u:object_r:tmp_t:s0\0").unwrap();
            fs.setxattr(d, b"user.dir", b"").unwrap();
            let n = fs.create(resolve(fs, b"a/b/c"), b"fresh", 0o644).unwrap();
            fs.setxattr(n, b"security.selinux", b"unconfined_u:object_r:user_home_t:s0").unwrap();
            assert_eq!(os(fs.setxattr(resolve(fs, b"fifo"), b"user.x", b"1").unwrap_err()), Errno::NotPermitted);
            assert_eq!(os(fs.setxattr(f, b"user.", b"1").unwrap_err()), Errno::Invalid);
            assert_eq!(os(fs.setxattr(f, &[b'u'; 256], b"1").unwrap_err()), Errno::Range);
            assert!(matches!(fs.setxattr(f, b"os2.x", b"1").unwrap_err(), Error::Unsupported { .. }));
        },
        |img, path, fs| {
            let f = resolve(fs, b"with-xattrs");
            let mut got = fs.xattrs(f).unwrap();
            got.sort();
            let mut want: Vec<(Vec<u8>, Vec<u8>)> = vec![
                (b"security.selinux".to_vec(), b"system_u:object_r:etc_t:s0".to_vec()),
                (b"trusted.big".to_vec(), std::fs::read(common::fixture("ext4-tree/with-xattrs")).map(|_| Vec::new()).unwrap()),
                (b"user.comment".to_vec(), b"replaced".to_vec()),
                (b"user.new".to_vec(), b"value".to_vec()),
            ];
            // trusted.big's value is as mk-ext4.sh set it: compare with the untouched fixture.
            let orig = open_ro(&common::fixture("ext4-4k.img"));
            let tb = orig.xattrs(resolve(&orig, b"with-xattrs")).unwrap().into_iter().find(|(n, _)| n == b"trusted.big").unwrap();
            want[1].1 = tb.1;
            want.sort();
            assert_eq!(got, want, "{img}");
            assert_eq!(read_all(fs, f), b"rewritten\n");
            let ea = debugfs_text(path, "ea_list /with-xattrs");
            assert!(ea.contains("security.selinux (26) = \"system_u:object_r:etc_t:s0\""), "{img}: {ea}");
            assert!(ea.contains("user.comment (8) = \"replaced\""), "{img}: {ea}");
            assert!(!ea.contains("user.binary"), "{img}: {ea}");
            let ea = debugfs_text(path, "ea_list /a/b/c/fresh");
            assert!(ea.contains("security.selinux (36) = \"unconfined_u:object_r:user_home_t:s0\""), "{img}: {ea}");
            let x = fs.xattrs(resolve(fs, b"exactly-4k")).unwrap();
            let len = if fs.statvfs().unwrap().bsize >= 2048 { 1500 } else { 900 };
            assert_eq!(x, vec![(b"trusted.large".to_vec(), big2[..len].to_vec())], "{img}");
            let ea = debugfs_text(path, "ea_list /exactly-4k");
            assert!(ea.contains(&format!("trusted.large ({len})")), "{img}: {ea}");
            let ea = debugfs_text(path, "ea_list /a/b");
            assert!(ea.contains("user.dir (0)"), "{img}: {ea}");
        },
    );
}

#[test]
fn enospc_during_a_big_write_leaves_the_filesystem_clean() {
    for args in [&["-t", "ext4", "-b", "4096"][..], &["-t", "ext4", "-b", "1024"], &["-t", "ext3"], &["-t", "ext2"]] {
        let s = mkfs(args, 8);
        let data = pattern(3, 12 << 20);
        {
            let fs = open_rw(&s.path);
            let keep = fs.create(fs.root(), b"keep", 0o644).unwrap();
            fs.write(keep, 0, b"kept\n").unwrap();
            let f = fs.create(fs.root(), b"big", 0o644).unwrap();
            let err = fs.write(f, 0, &data).unwrap_err();
            assert_eq!(os(err), Errno::NoSpace, "{args:?}");
            // Still usable: the space can be given back and used.
            fs.unlink(fs.root(), b"big").unwrap();
            let g = fs.create(fs.root(), b"after", 0o644).unwrap();
            fs.write(g, 0, &data[..256 << 10]).unwrap();
            fs.sync().unwrap();
        }
        assert_fsck_clean(&s.path);
        assert_eq!(debugfs(&s.path, "cat /keep"), b"kept\n");
        assert_eq!(debugfs(&s.path, "cat /after"), &data[..256 << 10]);
    }
}

#[test]
fn features_it_cannot_write_are_refused_before_anything_is_written() {
    for (feature, args) in [
        ("quota", &["-t", "ext4", "-O", "quota"][..]),
        ("project", &["-t", "ext4", "-I", "256", "-O", "project"]),
        ("meta_bg", &["-t", "ext4", "-O", "meta_bg,^resize_inode"]),
        ("ea_inode", &["-t", "ext4", "-O", "ea_inode"]),
        ("casefold", &["-t", "ext4", "-O", "casefold"]),
        ("bigalloc", &["-t", "ext4", "-O", "bigalloc", "-C", "16384"]),
    ] {
        let s = mkfs(args, 32);
        let before = common::sha256_file(&s.path);
        let dev: vguestfs::disk::Dev = std::sync::Arc::new(vguestfs::disk::RawFile::open(&s.path, true).unwrap());
        let err = vguestfs::fs::ext4::Ext4Fs::open_rw(dev).err().unwrap_or_else(|| panic!("{feature}: mounted"));
        let msg = err.to_string();
        assert!(matches!(err, Error::Unsupported { .. }) && msg.contains(feature), "{feature}: {msg}");
        assert_eq!(common::sha256_file(&s.path), before, "{feature}");
        // Still readable.
        open_ro(&s.path);
    }
}

#[test]
fn open_rw_needs_a_writable_device_and_dispatches_by_type() {
    let s = scratch("ext4-4k.img");
    let ro: vguestfs::disk::Dev = std::sync::Arc::new(vguestfs::disk::RawFile::open(&s.path, false).unwrap());
    assert!(matches!(vguestfs::fs::ext4::Ext4Fs::open_rw(ro).err(), Some(Error::Os(Errno::ReadOnlyFs))));
    let rw: vguestfs::disk::Dev = std::sync::Arc::new(vguestfs::disk::RawFile::open(&s.path, true).unwrap());
    let fs = vguestfs::fs::open_rw(rw).unwrap();
    assert!(fs.is_writable());
    assert_eq!(fs.statvfs().unwrap().flag & 1, 0);
    let fat = scratch("fat-tree-16.img");
    let dev: vguestfs::disk::Dev = std::sync::Arc::new(vguestfs::disk::RawFile::open(&fat.path, true).unwrap());
    assert_eq!(vguestfs::fs::open_rw(dev).unwrap().fs_type(), "vfat");
    let swap = scratch("fs-swap.img");
    let dev: vguestfs::disk::Dev = std::sync::Arc::new(vguestfs::disk::RawFile::open(&swap.path, true).unwrap());
    let err = vguestfs::fs::open_rw(dev).err().unwrap().to_string();
    assert!(err.contains("writing swap filesystems (ext2/3/4, vfat and xfs can be written)"), "{err}");
    let xfs = scratch("fs-xfs.img");
    let dev: vguestfs::disk::Dev = std::sync::Arc::new(vguestfs::disk::RawFile::open(&xfs.path, true).unwrap());
    assert_eq!(vguestfs::fs::open_rw(dev).unwrap().fs_type(), "xfs");
}

#[test]
fn block_mapped_write_larger_than_the_journal_is_refused_cleanly() {
    // An 8 MiB ext3 has a 1 MiB journal; the crate rewrites a block-mapped file in one
    // transaction, so 2 MiB cannot go in. Refused before anything is written.
    let s = mkfs(&["-t", "ext3"], 8);
    {
        let fs = open_rw(&s.path);
        let f = fs.create(fs.root(), b"f", 0o644).unwrap();
        fs.write(f, 0, b"before").unwrap();
        let err = fs.write(f, 0, &pattern(1, 2 << 20)).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }) && err.to_string().contains("journal"), "{err}");
        fs.write(f, 6, b" and after").unwrap();
        fs.sync().unwrap();
    }
    assert_fsck_clean(&s.path);
    assert_eq!(debugfs(&s.path, "cat /f"), b"before and after");
}

#[test]
fn sparse_writes_build_a_deep_extent_tree() {
    // 1 KiB blocks: the inode holds 4 extents, a leaf block 84, so 600 separate one-block
    // extents need a tree of depth 2. Every other block is written, then the holes between
    // are filled from the end, then the file is cut in the middle.
    let s = scratch("ext4-1k.img");
    let mut model = vec![0u8; 1200 * 1024];
    {
        let fs = open_rw(&s.path);
        let f = fs.create(fs.root(), b"deep", 0o644).unwrap();
        for i in (0..1200u64).step_by(2) {
            let d = pattern(i, 1024);
            fs.write(f, i * 1024, &d).unwrap_or_else(|e| panic!("block {i}: {e}"));
            model[i as usize * 1024..(i as usize + 1) * 1024].copy_from_slice(&d);
        }
        let depth = debugfs_text(&s.path, "ex /deep");
        assert!(depth.lines().any(|l| l.trim_start().starts_with("2/ 2")), "{depth}");
        for i in (1..300u64).rev().step_by(2) {
            let d = pattern(i + 7, 1024);
            fs.write(f, i * 1024, &d).unwrap();
            model[i as usize * 1024..(i as usize + 1) * 1024].copy_from_slice(&d);
        }
        fs.truncate(f, 700 * 1024 + 5).unwrap();
        model.truncate(700 * 1024 + 5);
        fs.sync().unwrap();
    }
    assert_fsck_clean(&s.path);
    assert_eq!(debugfs(&s.path, "cat /deep"), model);
    assert_eq!(view(&s.path).unwrap().read("/deep").unwrap(), model);
    assert_eq!(read_all(&open_ro(&s.path), resolve(&open_ro(&s.path), b"deep")), model);
}

#[test]
fn new_inodes_get_the_current_time_and_old_times_are_stored() {
    let s = scratch("ext4-4k.img");
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let before = now();
    {
        let fs = open_rw(&s.path);
        let f = fs.create(fs.root(), b"new", 0o644).unwrap();
        let st = fs.stat(f).unwrap();
        for t in [st.atime, st.mtime, st.ctime] {
            assert!(t.sec >= before - 1 && t.sec <= now() + 1, "{t:?}");
        }
        let old = resolve(&fs, b"old-time");
        fs.utimens(old, Some(Timespec { sec: -86_400 * 365, nsec: 1 }), Some(Timespec { sec: -1, nsec: 999_999_999 }))
            .unwrap();
        fs.sync().unwrap();
    }
    assert_fsck_clean(&s.path);
    let fs = open_ro(&s.path);
    let st = fs.stat(resolve(&fs, b"old-time")).unwrap();
    assert_eq!(st.atime, Timespec { sec: -86_400 * 365, nsec: 1 });
    assert_eq!(st.mtime, Timespec { sec: -1, nsec: 999_999_999 });
    let text = debugfs_text(&s.path, "stat /old-time");
    assert!(text.contains("mtime: 0xffffffff:ee6b27fc"), "{text}");
}

#[test]
fn posix_acl_in_vfs_form_is_stored_on_disk_form() {
    // setfacl -m u:1000:r,g:2000:rw: USER_OBJ rw, USER 1000 r, GROUP_OBJ r, GROUP 2000 rw,
    // MASK rw, OTHER r — as the VFS passes it (version 2, 8-byte entries).
    let mut vfs = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [(1u16, 6u16, u32::MAX), (2, 4, 1000), (4, 4, u32::MAX), (8, 6, 2000), (0x10, 6, u32::MAX), (0x20, 4, u32::MAX)] {
        vfs.extend_from_slice(&tag.to_le_bytes());
        vfs.extend_from_slice(&perm.to_le_bytes());
        vfs.extend_from_slice(&id.to_le_bytes());
    }
    let s = scratch("ext4-4k.img");
    {
        let fs = open_rw(&s.path);
        fs.setxattr(resolve(&fs, b"one-byte"), b"system.posix_acl_access", &vfs).unwrap();
        assert_eq!(os(fs.setxattr(resolve(&fs, b"one-byte"), b"system.posix_acl_access", &[2, 0, 0, 0, 9]).unwrap_err()), Errno::Invalid);
        fs.sync().unwrap();
    }
    assert_fsck_clean(&s.path);
    let fs = open_ro(&s.path);
    let x = fs.xattrs(resolve(&fs, b"one-byte")).unwrap();
    assert_eq!(x, vec![(b"system.posix_acl_access".to_vec(), vfs)]);
    // The same bytes mke2fs stored for with-acl, which setfacl gave the same ACL.
    let orig = fs.xattrs(resolve(&fs, b"with-acl")).unwrap();
    assert_eq!(orig, x);
}

/// On an overlay (which reaches the image only by an atomic commit) the crate's journal is
/// not used: a large write dirties its data blocks once, not once in the journal and once in
/// place; the committed image passes `e2fsck -fn`, reads back, and its journal is clean.
#[test]
fn on_an_overlay_writes_skip_the_journal() {
    use vguestfs::disk::{open_session_image, Format, OverlayOptions};
    for img in ["ext4-4k.img", "ext4-ext3.img", "ext4-dirty.img"] {
        let s = scratch(img);
        let data = pattern(77, 3 << 20);
        let opened = open_session_image(&s.path, Some(Format::Raw), true, &OverlayOptions::default()).unwrap();
        let (dev, ov) = (opened.dev.clone(), opened.overlay.clone().unwrap());
        assert!(dev.buffers_until_commit());
        let fs = vguestfs::fs::ext4::Ext4Fs::open_rw(dev).unwrap();
        let f = fs.create(fs.root(), b"big", 0o644).expect("create");
        fs.write(f, 0, &data).expect("write");
        fs.sync().expect("sync");
        let dirty: u64 = ov.dirty_ranges().iter().map(|r| r.end - r.start).sum();
        // the file's blocks (and a little metadata), never twice
        assert!(dirty < data.len() as u64 * 5 / 4, "{img}: {dirty} bytes dirty for a {} byte write", data.len());
        ov.commit().unwrap();
        drop((fs, ov, opened));
        assert_fsck_clean(&s.path);
        assert_eq!(debugfs(&s.path, "cat /big"), data, "{img}");
        let logdump = debugfs_text(&s.path, "logdump");
        assert!(logdump.contains("Journal starts at block") && !logdump.contains("Found expected sequence"), "{img}: {logdump}");
    }
}

/// A full inode table is ENOSPC, as the kernel says, not "corrupt filesystem" (the crate calls
/// it corruption); the filesystem stays clean.
#[test]
fn running_out_of_inodes_is_enospc() {
    let s = mkfs(&["-t", "ext4", "-N", "32"], 8);
    {
        let fs = open_rw(&s.path);
        let root = fs.root();
        let err = (0..64)
            .map(|i| fs.create(root, format!("f{i}").as_bytes(), 0o644))
            .find_map(|r| r.err())
            .expect("32 inodes never ran out");
        assert_eq!(os(err), Errno::NoSpace);
        fs.sync().unwrap();
    }
    assert_fsck_clean(&s.path);
}
