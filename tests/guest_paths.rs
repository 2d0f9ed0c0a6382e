//! Mounting and guest-path resolution on images made by real tools: the demo image (ext4 root
//! in LVM + FAT ESP on /boot/efi) and an ext4 built by `mkfs.ext4 -d` from a tree full of hostile
//! symlinks. Guest paths never leave the guest root and never name host files.
mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use vguestfs::fs::{Errno, FileType};
use vguestfs::guest::{DriveOptions, Error as GuestError};
use vguestfs::Guest;

fn open(img: &Path) -> Guest {
    let mut g = Guest::new();
    g.add_drive(img, DriveOptions::default()).unwrap();
    g.launch().unwrap();
    g
}

fn errno(r: vguestfs::guest::Result<impl std::fmt::Debug>) -> Errno {
    match r {
        Err(GuestError::Path { errno, .. }) => errno,
        other => panic!("expected a path error, got {other:?}"),
    }
}

#[test]
fn demo_mounts_like_guestfish() {
    let demo = common::root().join("fixtures/demo.qcow2");
    let before = common::sha256_file(&demo);
    let mut g = open(&demo);
    // nothing mounted yet; /boot/efi cannot come before /
    assert!(matches!(g.stat("/etc"), Err(GuestError::NothingMounted)));
    assert_eq!(errno(g.mount("/dev/sda1", "/boot/efi")), Errno::NoEntry);
    g.mount("/dev/demo/root", "/").unwrap();
    g.mount_ro("/dev/sda1", "/boot/efi").unwrap();
    assert_eq!(g.mountpoints(), vec![("/dev/demo/root".to_string(), "/".to_string()), ("/dev/sda1".into(), "/boot/efi".into())]);
    assert_eq!(g.read_file("/etc/hostname").unwrap(), b"demo-debian\n");
    assert_eq!(g.read_file("/boot/efi/EFI/BOOT/BOOTX64.EFI").unwrap(), b"demo EFI loader\n");
    // the FAT lookup is case-insensitive, like Linux vfat
    assert_eq!(g.read_file("/boot/efi/efi/boot/bootx64.efi").unwrap(), b"demo EFI loader\n");
    assert_eq!(g.realpath("/boot/efi/../../etc/./hostname").unwrap(), "/etc/hostname");
    assert_eq!(g.file_type("/boot/efi", true).unwrap(), Some(FileType::Directory));
    assert_eq!(g.file_type("/nope", true).unwrap(), None);
    assert_eq!(errno(g.read_file("/etc")), Errno::IsDir);
    assert_eq!(errno(g.read_file("/etc/hostname/x")), Errno::NotDir);
    assert_eq!(errno(g.read_dir("/etc/hostname")), Errno::NotDir);
    assert!(g.statvfs("/").unwrap().flag & 1 == 1, "read-only session mounts read-only");
    // / cannot go while /boot/efi is mounted on it
    assert!(matches!(g.umount("/"), Err(GuestError::Busy(_))));
    g.umount("/boot/efi").unwrap();
    g.umount("/dev/demo/root").unwrap();
    assert!(g.mounts().is_empty());
    // swap cannot be mounted: the error names the type
    let e = g.mount("/dev/demo/swap", "/").unwrap_err().to_string();
    assert!(e.contains("swap"), "{e}");
    assert_eq!(common::sha256_file(&demo), before, "read-only session changed the image");
}

/// A guest tree with symlinks aimed at the host: built by mkfs.ext4 -d (the symlinks are stored
/// as-is; we resolve them inside the guest).
fn hostile_image(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::create_dir_all(tree.join("a/b")).unwrap();
    std::fs::write(tree.join("etc/shadow"), "guest shadow\n").unwrap();
    std::fs::write(tree.join("a/b/file"), "in b\n").unwrap();
    symlink("/etc/shadow", tree.join("abs")).unwrap();
    symlink("../../../../../../etc/shadow", tree.join("a/b/up")).unwrap();
    symlink("../../../../../..", tree.join("a/b/root")).unwrap();
    symlink("loop2", tree.join("loop1")).unwrap();
    symlink("loop1", tree.join("loop2")).unwrap();
    symlink("b", tree.join("a/self")).unwrap();
    // a chain of 40 links (allowed) and of 41 (ELOOP), ending in a file
    for i in 0..41 {
        symlink(format!("c{}", i + 1), tree.join(format!("c{i}"))).unwrap();
    }
    std::fs::write(tree.join("c41"), "end of chain\n").unwrap();
    let img = dir.join("hostile.img");
    common::run("truncate", &["-s", "16M", img.to_str().unwrap()]);
    common::run("mkfs.ext4", &["-q", "-d", tree.to_str().unwrap(), img.to_str().unwrap()]);
    img
}

#[test]
fn symlinks_resolve_inside_the_guest_root() {
    let dir = tempfile::tempdir().unwrap();
    let img = hostile_image(dir.path());
    let mut g = open(&img);
    g.mount("/dev/sda", "/").unwrap();
    // absolute targets are relative to the guest's /, .. stops at the guest's /
    assert_eq!(g.read_file("/abs").unwrap(), b"guest shadow\n");
    assert_eq!(g.read_file("/a/b/up").unwrap(), b"guest shadow\n");
    assert_eq!(g.realpath("/a/b/root").unwrap(), "/");
    assert_eq!(g.realpath("/a/b/root/a/self/file").unwrap(), "/a/b/file");
    assert_eq!(g.realpath("/../../..").unwrap(), "/");
    assert_eq!(g.readlink("/abs").unwrap(), b"/etc/shadow");
    assert_eq!(g.lstat("/abs").unwrap().file_type(), Some(FileType::Symlink));
    assert_eq!(g.stat("/abs").unwrap().file_type(), Some(FileType::Regular));
    // loops and chains: Linux allows 40 links per resolution
    assert_eq!(errno(g.read_file("/loop1")), Errno::Loop);
    assert_eq!(g.read_file("/c1").unwrap(), b"end of chain\n", "40 links");
    assert_eq!(errno(g.read_file("/c0")), Errno::Loop, "41 links");
    assert_eq!(errno(g.readlink("/etc/shadow")), Errno::Invalid);
    assert_eq!(errno(g.stat("relative/path")), Errno::Invalid);
}

/// A write that fails (the volume is full) does not leave behind the file it created: the
/// volume reads as before (mdir) and passes fsck.vfat; an existing file's name stays.
#[test]
fn a_failed_write_leaves_no_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("small.img");
    let p = img.to_str().unwrap();
    common::run("truncate", &["-s", "1M", p]);
    common::run("mkfs.vfat", &[p]);
    let mut g = Guest::new();
    g.add_drive(&img, DriveOptions { readonly: false, format: Some(vguestfs::disk::Format::Raw), ..Default::default() }).unwrap();
    g.launch().unwrap();
    g.mount("/dev/sda", "/").unwrap();
    g.write("/keep.txt", b"kept\n").unwrap();
    let err = g.write("/big.bin", &vec![7u8; 2 << 20]).expect_err("2 MiB fit on a 1 MiB volume");
    assert_eq!(errno(Err::<(), _>(err)), Errno::NoSpace);
    assert_eq!(errno(g.stat("/big.bin")), Errno::NoEntry, "the failed write left /big.bin");
    g.commit().unwrap();
    drop(g);
    let listing = common::run("mdir", &["-i", p, "-b", "::/"]);
    let upper = listing.to_uppercase();
    assert!(upper.contains("KEEP.TXT") && !upper.contains("BIG.BIN"), "{listing}");
    common::run("fsck.vfat", &["-n", p]);
}

/// Issue 23 item 5: a directory reachable by two paths (ext4: a hard-linked directory made
/// with debugfs `link`; FAT: a subdirectory entry pointing at its own parent's cluster) makes
/// find, du and the tree walk behind tar-out/copy-out fail naming both paths, instead of
/// silently leaving out the content at the second one.
#[test]
fn directory_loops_are_reported_with_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let ext4 = dir.path().join("loop.ext4");
    let p = ext4.to_str().unwrap();
    common::run("truncate", &["-s", "8M", p]);
    common::run("mkfs.ext4", &["-q", "-F", p]);
    for req in ["mkdir a", "mkdir b", "write /dev/null a/f", "link a b/again"] {
        common::run("debugfs", &["-w", "-R", req, p]);
    }
    let mut g = open(&ext4);
    g.mount_ro("/dev/sda", "/").unwrap();
    for (what, r) in [("find", g.find("/").map(drop)), ("du", g.du("/").map(drop)), ("walk", g.walk_each("/", |_| Ok::<(), GuestError>(())))] {
        match r {
            Err(GuestError::DirectoryLoop { path, first }) => assert_eq!((path.as_str(), first.as_str()), ("/b/again", "/a"), "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }

    let fat = dir.path().join("loop.fat");
    let p = fat.to_str().unwrap();
    common::run("truncate", &["-s", "16M", p]);
    common::run("mkfs.vfat", &["-F", "16", p]);
    common::run("mmd", &["-i", p, "::/D", "::/D/E"]);
    // E's entry in D names D's own first cluster: D contains itself.
    let mut img = std::fs::read(&fat).unwrap();
    let le16 = |img: &[u8], o: usize| u16::from_le_bytes([img[o], img[o + 1]]) as usize;
    let (bps, reserved, fats, spf, spc) = (le16(&img, 0x0B), le16(&img, 0x0E), img[0x10] as usize, le16(&img, 0x16), img[0x0D] as usize);
    let root = (reserved + fats * spf) * bps;
    let d_slot = (0..512).map(|i| root + 32 * i).find(|&o| &img[o..o + 11] == b"D          ").unwrap();
    let d = le16(&img, d_slot + 26);
    let d_data = root + le16(&img, 0x11) * 32 + (d - 2) * spc * bps;
    let e_slot = (0..64).map(|i| d_data + 32 * i).find(|&o| &img[o..o + 11] == b"E          ").unwrap();
    img[e_slot + 26..e_slot + 28].copy_from_slice(&(d as u16).to_le_bytes());
    std::fs::write(&fat, &img).unwrap();
    let mut g = open(&fat);
    g.mount_ro("/dev/sda", "/").unwrap();
    // FAT inodes are entry positions: /D/E (E's slot) lists D's content, so the loop closes
    // one level down, where E's slot is met again.
    match g.find("/") {
        Err(GuestError::DirectoryLoop { path, first }) => assert_eq!((path.as_str(), first.as_str()), ("/D/E/E", "/D/E")),
        other => panic!("FAT: {other:?}"),
    }
}
