//! e2fsprogs' own test images (`tests/data/e2fsprogs`, see its README): repaired copies are
//! clean filesystems with the shapes e2fsck accepts but `mke2fs -d` never makes, and every
//! change we make to one must leave it clean for `e2fsck -fn`, read back by debugfs.

mod common;

use common::run;
use std::path::{Path, PathBuf};
use std::process::Command;
use vguestfs::guest::DriveOptions;
use vguestfs::fs::Filesystem;
use vguestfs::Guest;

/// `NAME.img.gz` decompressed into `dir`, repaired there by `e2fsck -fy`, which must leave it
/// clean.
fn repaired(dir: &Path, name: &str) -> PathBuf {
    let gz = common::root().join("tests/data/e2fsprogs").join(format!("{name}.img.gz"));
    let out = Command::new("gzip").arg("-dc").arg(&gz).output().expect("gzip");
    assert!(out.status.success(), "gzip -dc {}", gz.display());
    let img = dir.join(format!("{name}.img"));
    std::fs::write(&img, out.stdout).unwrap();
    // exit 1: errors fixed; 0: nothing to fix
    let fix = Command::new("e2fsck").args(["-fy", img.to_str().unwrap()]).output().unwrap();
    assert!(matches!(fix.status.code(), Some(0 | 1)), "e2fsck -fy {name}: {}", String::from_utf8_lossy(&fix.stdout));
    assert_clean(&img, &format!("{name} after e2fsck -fy"));
    img
}

fn assert_clean(img: &Path, what: &str) {
    let out = Command::new("e2fsck").args(["-fn", img.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{what}: e2fsck -fn:\n{}", String::from_utf8_lossy(&out.stdout));
}

/// rm-rf on a clean filesystem left blocks a block-mapped inode's map held past its size
/// (`f_emptydir`: `/mapdir` is 1 KiB with the map `(0):1091, (TIND):1090`; the TIND block
/// stayed marked in use). Each removal must leave e2fsck nothing to fix, and debugfs must no
/// longer find the path.
#[test]
fn rm_rf_frees_block_maps_past_the_size() {
    let dir = tempfile::tempdir().unwrap();
    for (name, path) in [("f_emptydir", "/mapdir"), ("f_hugedir_blocks", "/xyz"), ("f_lotsbad", "/big_dir"), ("f_h_normal", "/test"), ("f_h_normal", "/test3")] {
        let img = repaired(dir.path(), name);
        if name == "f_emptydir" {
            let stat = run("debugfs", &["-R", "stat /mapdir", img.to_str().unwrap()]);
            assert!(stat.contains("(TIND):1090"), "the image changed: {stat}");
        }
        let mut g = Guest::new();
        g.add_drive(&img, DriveOptions { readonly: false, format: Some(vguestfs::disk::Format::Raw), ..Default::default() }).unwrap();
        g.launch().unwrap();
        g.mount("/dev/sda", "/").unwrap();
        g.rm_rf(path).unwrap();
        g.commit().unwrap();
        drop(g);
        assert_clean(&img, &format!("{name}: rm-rf {path}"));
        let ls = run("debugfs", &["-R", "ls -l /", img.to_str().unwrap()]);
        assert!(!ls.contains(&format!(" {}\n", &path[1..])), "{name}: {path} still listed: {ls}");
    }
}

/// The same tail freed when a rename replaces the directory that holds it.
#[test]
fn rename_over_a_block_map_past_its_size_frees_it() {
    let dir = tempfile::tempdir().unwrap();
    let img = repaired(dir.path(), "f_emptydir");
    {
        let fs = common::ext4w::open_rw(&img);
        let root = 2;
        fs.mkdir(root, b"newdir", 0o755).unwrap();
        fs.rename(root, b"newdir", root, b"mapdir").unwrap();
        fs.sync().unwrap();
    }
    assert_clean(&img, "rename /newdir over /mapdir");
    let stat = run("debugfs", &["-R", "stat /mapdir", img.to_str().unwrap()]);
    assert!(!stat.contains("TIND") && stat.contains("Type: directory"), "{stat}");
}

/// A device node keeps its number in i_block, not block pointers: removing one frees nothing
/// (major 4, minor 0x40 reads as block 1088, which f_emptydir uses).
#[test]
fn removing_a_device_node_frees_no_block() {
    let dir = tempfile::tempdir().unwrap();
    let img = repaired(dir.path(), "f_emptydir");
    {
        let fs = common::ext4w::open_rw(&img);
        fs.mknod(2, b"dev", 0o020_644, vguestfs::fs::makedev(4, 0x40)).unwrap();
        fs.unlink(2, b"dev").unwrap();
        fs.sync().unwrap();
    }
    assert_clean(&img, "mknod + unlink of a character device");
}

/// An inline-data symlink longer than i_block (60 bytes) continues in the `system.data`
/// xattr (`d_inline_dump`: `/link` is 80 bytes): readlink, ll and tar-out read it whole, as
/// debugfs does.
#[test]
fn long_inline_data_symlinks_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let img = repaired(dir.path(), "d_inline_dump");
    let mut g = Guest::new();
    g.add_drive(&img, DriveOptions { readonly: true, format: Some(vguestfs::disk::Format::Raw), ..Default::default() }).unwrap();
    g.launch().unwrap();
    g.mount_ro("/dev/sda", "/").unwrap();
    for link in ["/link", "/shortlink"] {
        let stat = run("debugfs", &["-R", &format!("stat {link}"), img.to_str().unwrap()]);
        let want = stat.split("Fast link dest: \"").nth(1).and_then(|s| s.split('"').next()).unwrap_or_else(|| panic!("{stat}"));
        assert_eq!(g.readlink(link).unwrap(), want.as_bytes(), "{link}");
    }
    assert_eq!(g.readlink("/link").unwrap().len(), 80);
}

/// `NAME.img.gz` decompressed into `dir` as it is (damaged).
fn original(dir: &Path, name: &str) -> PathBuf {
    let gz = common::root().join("tests/data/e2fsprogs").join(format!("{name}.img.gz"));
    let out = Command::new("gzip").arg("-dc").arg(&gz).output().expect("gzip");
    let img = dir.join(format!("{name}.orig"));
    std::fs::write(&img, out.stdout).unwrap();
    img
}

/// Writes that added damage to e2fsprogs' damaged originals (issue 23 item 6) are refused
/// before anything is written, naming what is wrong and `e2fsck -f`; the image stays
/// byte-identical and still mounts read-only. The same images once repaired by `e2fsck -fy`
/// take the same write and stay clean (but f_badtable, see below).
#[test]
fn damaged_originals_are_not_written() {
    let dir = tempfile::tempdir().unwrap();
    // (image, the path removed by rm-rf, or None for a mkdir-p, words of the refusal)
    let cases: [(&str, Option<&str>, &str); 6] = [
        ("f_bitmaps", None, "inode 11 is in use"),
        ("f_overfsblks", None, "overlaps"),
        ("f_badtable", None, "the bad blocks list names block"),
        ("f_ind_inode_collision", Some("/a"), "is the filesystem's own metadata"),
        ("f_invalid_bad_inode", None, "the bad blocks inode (1) is invalid"),
        ("f_toobig_extent_dir", Some("/a"), "is marked free in the block bitmap"),
    ];
    for (name, remove, words) in cases {
        let write = |img: &Path| -> vguestfs::guest::Result<()> {
            let mut g = Guest::new();
            g.add_drive(img, DriveOptions { readonly: false, format: Some(vguestfs::disk::Format::Raw), ..Default::default() })?;
            g.launch()?;
            g.mount("/dev/sda", "/")?;
            match remove {
                Some(path) => g.rm_rf(path)?,
                None => g.mkdir_p("/vg/a/b")?,
            }
            g.commit().map(drop)
        };
        let img = original(dir.path(), name);
        let before = std::fs::read(&img).unwrap();
        let err = write(&img).expect_err(&format!("{name}: written")).to_string();
        assert!(err.contains(words) && err.contains("e2fsck -f on a copy first"), "{name}: {err}");
        assert_eq!(std::fs::read(&img).unwrap(), before, "{name}: the refused image changed");
        let mut g = Guest::new();
        g.add_drive(&img, DriveOptions { readonly: true, format: Some(vguestfs::disk::Format::Raw), ..Default::default() }).unwrap();
        g.launch().unwrap();
        g.mount_ro("/dev/sda", "/").unwrap();
        g.stat("/").unwrap_or_else(|e| panic!("{name}: read-only: {e}"));
        drop(g);

        let fixed = repaired(dir.path(), name);
        if name == "f_badtable" {
            // e2fsck relocates the bitmaps but leaves inode-table blocks on the bad-blocks
            // list: a new inode there would be "located in a bad block" for e2fsck, so this
            // stays refused.
            let err = write(&fixed).expect_err("repaired f_badtable written").to_string();
            assert!(err.contains("inode table"), "{err}");
            continue;
        }
        write(&fixed).unwrap_or_else(|e| panic!("{name} repaired: {e}"));
        assert_clean(&fixed, &format!("{name} repaired, then written"));
    }
}
