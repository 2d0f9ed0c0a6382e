//! The filesystem size vfilesystems prints equals what the kernel's statvfs reports after a
//! real mount (`mount -o loop,ro` + `stat -f`), for ext2/3/4 and FAT layouts made by mkfs.
mod common;

use std::path::Path;
use std::process::Command;
use vguestfs::disk::RawFile;
use vguestfs::fs::statfs::statvfs_size;

/// f_blocks × f_bsize of `img` mounted read-only by the kernel.
fn kernel_size(img: &Path) -> u64 {
    let mnt = tempfile::tempdir().unwrap();
    common::run("mount", &["-o", "loop,ro", img.to_str().unwrap(), mnt.path().to_str().unwrap()]);
    let out = Command::new("stat").args(["-f", "-c", "%b %S"]).arg(mnt.path()).output().unwrap();
    common::run("umount", &[mnt.path().to_str().unwrap()]);
    let s = String::from_utf8(out.stdout).unwrap();
    let v: Vec<u64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();
    v[0] * v[1]
}

fn ours(img: &Path, fs_type: &str) -> u64 {
    let dev = RawFile::open(img, false).unwrap();
    statvfs_size(&dev, fs_type).unwrap().expect("a size")
}

fn mkimg(dir: &Path, name: &str, size: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    common::run("truncate", &["-s", size, p.to_str().unwrap()]);
    p
}

#[test]
fn ext_sizes_equal_kernel_statvfs() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        ("ext2", "24M", &["-t", "ext2", "-b", "1024"]),
        ("ext2", "40M", &["-t", "ext2", "-O", "^sparse_super,^resize_inode"]),
        ("ext3", "64M", &["-t", "ext3"]),
        ("ext4", "64M", &["-t", "ext4"]),
        ("ext4", "80M", &["-t", "ext4", "-b", "1024"]),
        ("ext4", "300M", &["-t", "ext4", "-O", "^resize_inode,meta_bg", "-b", "1024"]),
        ("ext4", "300M", &["-t", "ext4", "-O", "sparse_super2", "-b", "1024"]),
        ("ext4", "200M", &["-t", "ext4", "-O", "64bit,^flex_bg", "-b", "1024"]),
    ];
    for (i, (fs_type, size, opts)) in cases.iter().enumerate() {
        let img = mkimg(dir.path(), &format!("e{i}.img"), size);
        let mut args: Vec<&str> = vec!["-q", "-F"];
        args.extend_from_slice(opts);
        args.push(img.to_str().unwrap());
        common::run("mke2fs", &args);
        assert_eq!(ours(&img, fs_type), kernel_size(&img), "case {i}: {opts:?} (overhead recorded by mke2fs)");
        // without the recorded overhead the kernel computes it, and so do we
        common::run("debugfs", &["-w", "-R", "ssv overhead_clusters 0", img.to_str().unwrap()]);
        assert_eq!(ours(&img, fs_type), kernel_size(&img), "case {i}: {opts:?} (overhead computed)");
    }
}

/// Data clusters × cluster size as `fsck.fat -v` reports them (this kernel has no vfat module,
/// so dosfstools is the oracle; Linux's fat_statfs reports the same product).
fn fsck_fat_size(img: &Path) -> u64 {
    let out = Command::new("fsck.fat").args(["-n", "-v"]).arg(img).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let num = |suffix: &str| -> u64 {
        let line = text.lines().find(|l| l.trim_end().ends_with(suffix)).unwrap_or_else(|| panic!("{suffix} in {text}"));
        line.split_whitespace().next().unwrap().parse().unwrap()
    };
    let cluster = num("bytes per cluster");
    let clusters: u64 = text
        .lines()
        .find(|l| l.contains("data clusters"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("data clusters in {text}"));
    cluster * clusters
}

#[test]
fn fat_sizes_equal_dosfstools() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (bits, size)) in [("12", "4M"), ("16", "32M"), ("32", "64M"), ("16", "200M")].iter().enumerate() {
        let img = mkimg(dir.path(), &format!("f{i}.img"), size);
        common::run("mkfs.vfat", &["-F", bits, img.to_str().unwrap()]);
        assert_eq!(ours(&img, "vfat"), fsck_fat_size(&img), "FAT{bits} {size}");
    }
}
