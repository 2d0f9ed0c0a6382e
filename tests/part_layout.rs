//! Partition tables whose layout is wrong (issue 18 item 3): MBR partitions that overlap, a
//! GPT entry reaching into the partition table (outside the usable LBAs). Built with sfdisk /
//! sgdisk and mkfs.vfat, then the smallest byte patch (python: one MBR start field; one GPT
//! entry field with both CRCs recomputed, in the primary and the backup table). sfdisk -V and
//! sgdisk -v report the same problems. Reading still works, with a warning; writers refuse:
//! vfish --rw mounting a partition involved, vgrowpart, vresize.

mod common;

use common::run;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin(name: &str) -> PathBuf {
    let exe = match name {
        "vfilesystems" => env!("CARGO_BIN_EXE_vfilesystems"),
        "vgrowpart" => env!("CARGO_BIN_EXE_vgrowpart"),
        "vresize" => env!("CARGO_BIN_EXE_vresize"),
        "vcat" => env!("CARGO_BIN_EXE_vcat"),
        _ => unreachable!(),
    };
    PathBuf::from(exe)
}

fn out(name: &str, args: &[&str]) -> Output {
    Command::new(bin(name)).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// MBR: p1 sectors 2048.., p2 patched to start inside p1. Each holds a FAT filesystem.
fn mbr_overlap(dir: &Path) -> PathBuf {
    let img = dir.join("mbr.img");
    run("truncate", &["-s", "64M", img.to_str().unwrap()]);
    let sfdisk = Command::new("sfdisk")
        .args(["-q", img.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"label: dos\nstart=2048, size=30M, type=c\nstart=65536, size=30M, type=c\n")?;
            c.wait()
        })
        .unwrap();
    assert!(sfdisk.success());
    // p2 now starts at sector 40960, inside p1 (2048..63487); a FAT filesystem on each
    run("python3", &["-c", &format!("f=open('{}','r+b'); f.seek(446+16+8); f.write((40960).to_bytes(4,'little'))", img.display())]);
    for (sector, kib) in [("2048", "30720"), ("40960", "30720")] {
        run("mkfs.vfat", &["--offset", sector, img.to_str().unwrap(), kib]);
    }
    let v = Command::new("sfdisk").args(["-V", img.to_str().unwrap()]).output().unwrap();
    assert!(String::from_utf8_lossy(&v.stderr).contains("Partition 1: overlaps partition 2"), "sfdisk -V: {v:?}");
    img
}

/// GPT: p1 patched to start at LBA 2 (inside the entry array), CRCs recomputed.
fn gpt_into_table(dir: &Path) -> PathBuf {
    let img = dir.join("gpt.img");
    run("truncate", &["-s", "64M", img.to_str().unwrap()]);
    run("sgdisk", &["-o", "-n", "1:2048:+16M", "-t", "1:8300", img.to_str().unwrap()]);
    let patch = r#"
import struct, sys, zlib
f = open(sys.argv[1], 'r+b')
def fix(hdr_lba):
    f.seek(hdr_lba * 512); h = bytearray(f.read(512))
    size = struct.unpack_from('<I', h, 12)[0]
    ents = struct.unpack_from('<Q', h, 72)[0]; n, esz = struct.unpack_from('<II', h, 80)
    f.seek(ents * 512); e = bytearray(f.read(n * esz))
    struct.pack_into('<Q', e, 32, 2)           # entry 1: first LBA 2
    f.seek(ents * 512); f.write(e)
    struct.pack_into('<I', h, 88, zlib.crc32(bytes(e)) & 0xffffffff)
    struct.pack_into('<I', h, 16, 0)
    struct.pack_into('<I', h, 16, zlib.crc32(bytes(h[:size])) & 0xffffffff)
    f.seek(hdr_lba * 512); f.write(h)
    return struct.unpack_from('<Q', h, 32)[0]
alt = fix(1)
fix(alt)
"#;
    run("python3", &["-c", patch, img.to_str().unwrap()]);
    let v = Command::new("sgdisk").args(["-v", img.to_str().unwrap()]).output().unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).contains("Main partition table overlaps the first partition"), "sgdisk -v: {v:?}");
    img
}

#[test]
fn overlapping_mbr_partitions_are_reported_and_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let img = mbr_overlap(dir.path());
    let i = img.to_str().unwrap();
    let o = out("vfilesystems", &["-a", i, "--partitions", "-l"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("/dev/sda: partition table layout: partitions 1 and 2 overlap (sectors 2048-63487 and 40960-102399)"), "{}", stderr(&o));
    let o = out("vgrowpart", &[i, "1"]);
    assert!(!o.status.success() && stderr(&o).contains("FAILED: ") && stderr(&o).contains("partitions 1 and 2 overlap"), "{o:?}");
    let o = out("vresize", &["--size", "+16M", "--expand", "/dev/sda2", i]);
    assert!(!o.status.success() && stderr(&o).contains("writing to this disk is refused"), "{o:?}");
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 64 << 20, "vresize changed the image");
    // a writable session mounts the partitions read-only only
    let mut g = vguestfs::Guest::new();
    g.add_drive(&img, vguestfs::guest::DriveOptions { readonly: false, ..Default::default() }).unwrap();
    g.launch().unwrap();
    assert!(g.notices().iter().any(|n| n.contains("partitions 1 and 2 overlap")), "{:?}", g.notices());
    let e = g.mount("/dev/sda2", "/").unwrap_err().to_string();
    assert!(e.contains("/dev/sda2: not mounted for writing: partition table layout: /dev/sda: partitions 1 and 2 overlap"), "{e}");
    g.mount_ro("/dev/sda2", "/").unwrap();
}

#[test]
fn gpt_entry_inside_the_table_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let img = gpt_into_table(dir.path());
    let o = out("vfilesystems", &["-a", img.to_str().unwrap(), "--partitions", "-l"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("partition 1 (sectors 2-34815) is outside the usable sectors 34-131038"), "{}", stderr(&o));
    let o = out("vgrowpart", &[img.to_str().unwrap(), "1"]);
    assert!(!o.status.success(), "{o:?}");
}
