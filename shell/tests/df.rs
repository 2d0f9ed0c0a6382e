//! `df` and `df-h` against coreutils: the same ext2/3/4 bytes mounted read-only by the kernel
//! (`mount -o ro,loop`), and coreutils `df` / `df -h` there must give the numbers of vfish's
//! rows (size, used, available, use%); vfish's names are the appliance's.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;
use vguestfs::guest::DriveOptions;
use vguestfs::Guest;

/// A file's bytes at `offset` mounted read-only by the kernel; unmounted on drop.
struct KernelMount {
    dir: tempfile::TempDir,
}

impl KernelMount {
    fn new(file: &str, offset: u64) -> KernelMount {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = format!("ro,loop,offset={offset}");
        tool("mount", &["-o", &opts, file, &dir.path().to_string_lossy()]);
        KernelMount { dir }
    }

    /// The data row of coreutils `df ARGS` on the mountpoint, split in columns.
    fn df(&self, args: &[&str]) -> Vec<String> {
        let out = Command::new("df")
            .args(args)
            .arg(self.dir.path())
            .env("LC_ALL", "C")
            .output()
            .expect("df");
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let row = text.lines().nth(1).unwrap_or_else(|| panic!("df: {text}"));
        row.split_whitespace().map(str::to_string).collect()
    }
}

impl Drop for KernelMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// The numeric columns (size, used, available, use%) of a df row.
fn numbers(row: &str) -> Vec<String> {
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols.len(), 6, "{row}");
    cols[1..5].iter().map(|c| c.to_string()).collect()
}

#[test]
fn whole_disk_filesystems_match_coreutils() {
    let _lock = loop_lock();
    for name in [
        "fs-ext2.img",
        "fs-ext3.img",
        "fs-ext4.img",
        "fs-ext4-1k.img",
        "fs-ext4-nojournal.img",
        "fs-ext2-extents.img",
        "ext4-1k.img",
        "ext4-2k.img",
        "ext4-4k.img",
        "ext4-ext2.img",
        "ext4-inline.img",
        "ext4-noextent.img",
    ] {
        let img = fixture(name);
        let out = ok(&["-a", &img, "-m", "/dev/sda", "df", ":", "df-h"]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{name}: {out}");
        assert_eq!(lines[0], "Filesystem     1K-blocks  Used Available Use% Mounted on");
        assert_eq!(lines[2], "Filesystem      Size  Used Avail Use% Mounted on");
        assert!(lines[1].starts_with("/dev/sda ") && lines[1].ends_with(" /sysroot"), "{out}");
        let k = KernelMount::new(&img, 0);
        assert_eq!(numbers(lines[1]), k.df(&[])[1..5], "{name}: df");
        assert_eq!(numbers(lines[3]), k.df(&["-h"])[1..5], "{name}: df -h");
    }
}

/// The LV's bytes in a file (the kernel has no device-mapper to map it).
fn lv_bytes(image: &str, lv: &str, to: &Path) {
    let mut g = Guest::new();
    g.add_drive(Path::new(image), DriveOptions::default()).expect("add");
    g.launch().expect("launch");
    let dev = g.device(lv).expect("LV");
    let mut buf = vec![0u8; dev.len() as usize];
    dev.read_at(&mut buf, 0).expect("read LV");
    std::fs::write(to, buf).expect("write LV bytes");
}

#[test]
fn lv_and_partition_in_mount_order() {
    let img = fixture("guest-centos7.raw");
    let out = ok(&["-a", &img, "-m", "/dev/centos/root", "-m", "/dev/sda1:/boot", "df", ":", "df-h"]);
    assert_eq!(
        out,
        "Filesystem              1K-blocks  Used Available Use% Mounted on\n\
         /dev/mapper/centos-root     56037    69     51382   1% /sysroot\n\
         /dev/sda1                   25844    16     23535   1% /sysroot/boot\n\
         Filesystem               Size  Used Avail Use% Mounted on\n\
         /dev/mapper/centos-root   55M   69K   51M   1% /sysroot\n\
         /dev/sda1                 26M   16K   23M   1% /sysroot/boot\n"
    );
    let lines: Vec<&str> = out.lines().collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root.raw");
    lv_bytes(&img, "/dev/centos/root", &root);
    let _lock = loop_lock();
    let k_root = KernelMount::new(&root.to_string_lossy(), 0);
    let k_boot = KernelMount::new(&img, partitions(&img)[0].0);
    assert_eq!(numbers(lines[1]), k_root.df(&[])[1..5]);
    assert_eq!(numbers(lines[2]), k_boot.df(&[])[1..5]);
    assert_eq!(numbers(lines[4]), k_root.df(&["-h"])[1..5]);
    assert_eq!(numbers(lines[5]), k_boot.df(&["-h"])[1..5]);
}

#[test]
fn nothing_mounted_prints_the_header() {
    let img = fixture("fs-ext4.img");
    assert_eq!(
        ok(&["-a", &img, "run", ":", "df", ":", "df-h"]),
        "Filesystem     1K-blocks  Used Available Use% Mounted on\n\
         Filesystem      Size  Used Avail Use% Mounted on\n"
    );
    let o = vfish(&["-a", &img, "df"], None);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("df: ") && o.stdout.is_empty(), "{o:?}");
    // after umount, the filesystem is gone from the table
    let out = ok(&["-a", &img, "-m", "/dev/sda", "umount", "/", ":", "df"]);
    assert_eq!(out, "Filesystem     1K-blocks  Used Available Use% Mounted on\n");
}
