//! `vdf` against virt-df itself: its output on the same images, recorded once by
//! `fixtures/libguestfs/regen.sh` (`ONLY=df`) in every mode (plain, `-h`, `-i`, `--csv`, two
//! disks), must be printed byte for byte; and the numbers must be the kernel's `statvfs` of
//! the same filesystem (`stat -f` on a read-only loop mount), scaled as virt-df scales them.

mod common;

use common::{fixture, loop_lock, root, run, sha256_file};
use std::process::{Command, Output};

fn vdf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vdf")).args(args).current_dir(root().join("fixtures/build")).output().unwrap()
}

fn golden(name: &str) -> String {
    let p = root().join("fixtures/libguestfs").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e} (fixtures/libguestfs/regen.sh makes it)", p.display()))
}

#[test]
fn output_equals_virt_df() {
    for image in ["guest-ubuntu.raw", "guest-el7.raw"] {
        fixture(image);
        let before = sha256_file(&fixture(image));
        for (mode, args) in [("plain", &[][..]), ("h", &["-h"][..]), ("i", &["--inodes"][..]), ("csv", &["--csv"][..])] {
            let mut a = vec!["-a", image];
            a.extend(args);
            let o = vdf(&a);
            assert!(o.status.success(), "{image} {args:?}: {}", String::from_utf8_lossy(&o.stderr));
            let stem = image.rsplit_once('.').unwrap().0;
            assert_eq!(String::from_utf8_lossy(&o.stdout), golden(&format!("{stem}.virt-df-{mode}.txt")), "{image} {args:?}");
        }
        assert_eq!(sha256_file(&fixture(image)), before, "{image} modified");
    }
    // two disks are one guest, named after the first with a '+' per further disk
    let o = vdf(&["-a", "guest-ubuntu.raw", "--format=raw", "-a", "whole-ext2.raw", "--one-per-guest", "--uuid"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), golden("two-disks.virt-df-plain.txt"));
}

/// A `NAME:DEVICE` label longer than virt-df's 36 columns: the numbers on the next line.
#[test]
fn long_labels_wrap_as_virt_df_s() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(fixture("guest-ubuntu.raw"), dir.path().join("an-image-name-longer-than-the-column.raw")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_vdf")).args(["-a", "an-image-name-longer-than-the-column.raw", "-h"]).current_dir(dir.path()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), golden("long-name.virt-df-h.txt"));
}

/// `stat -f` of a read-only kernel loop mount of bytes `offset..` of `image`: block size,
/// blocks, free, available, inodes, free inodes.
fn kernel_statvfs(image: &std::path::Path, offset: u64) -> Vec<u64> {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    run("mount", &["-o", &format!("ro,loop,offset={offset}"), image.to_str().unwrap(), d]);
    let out = Command::new("stat").args(["-f", "-c", "%S %b %f %a %c %d", d]).output();
    let _ = Command::new("umount").arg(d).status();
    let out = out.unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(|n| n.parse().unwrap()).collect()
}

#[test]
fn numbers_are_the_kernels_statvfs() {
    let _lock = loop_lock();
    let img = fixture("guest-ubuntu.raw");
    // /dev/sda2: the ext4 root, from sector 34816
    let k = kernel_statvfs(&img, 34816 * 512);
    let (bsize, blocks, bfree, bavail, files, ffree) = (k[0], k[1], k[2], k[3], k[4], k[5]);
    let line = |args: &[&str]| {
        let mut a = vec!["-a", "guest-ubuntu.raw"];
        a.extend(args);
        let o = vdf(&a);
        assert!(o.status.success());
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let row = text.lines().find(|l| l.starts_with("guest-ubuntu.raw:/dev/sda2")).unwrap_or_else(|| panic!("{text}")).to_string();
        row.split_whitespace().skip(1).map(str::to_string).collect::<Vec<_>>()
    };
    let k1 = |n: u64| (n * bsize / 1024).to_string();
    let pct = |free: u64, total: u64| format!("{}%", (100.0 - 100.0 * free as f64 / total as f64).ceil());
    assert_eq!(line(&[]), [k1(blocks), k1(blocks - bfree), k1(bavail), pct(bfree, blocks)]);
    assert_eq!(line(&["-i"]), [files.to_string(), (files - ffree).to_string(), ffree.to_string(), pct(ffree, files)]);
}

#[test]
fn options_and_errors_as_virt_df() {
    let o = vdf(&["-a", "guest-ubuntu.raw", "-h", "--csv"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "vdf: error: you cannot use -h and --csv options together.\n");
    let o = vdf(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("-a"), "{o:?}");
    let o = vdf(&["-a", "no-such.img"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("vdf: error: no-such.img"), "{o:?}");
    let o = vdf(&["-d", "myguest"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("vdf: error: -d myguest: libvirt guests cannot be opened"), "{o:?}");
    let o = vdf(&["--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for opt in ["--human-readable", "--inodes", "--csv", "--one-per-guest", "--format", "-a"] {
        assert!(help.contains(opt), "{opt}: {help}");
    }
}
