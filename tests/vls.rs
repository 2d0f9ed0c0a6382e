//! `vls` against a kernel mount: the root LV of each fixture image (the qcow2 converted to raw
//! by `qemu-img`) is mounted `-o loop,ro,offset=…` (offset from lvm2 on a read-only loop
//! device), and plain / `-R` / `-l` output must equal `ls -A`, `find`, `ls -lan` there.

mod common;

use common::{fixture, root, run, sha256_file};
use serde_json::Value as J;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vls(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vls")).args(args).output().unwrap()
}

/// Partition `n` (1-based) of an image: (byte offset, byte size, GPT unique GUID) per sfdisk.
fn partition(img: &Path, n: usize) -> (u64, u64, Option<String>) {
    let j: J = serde_json::from_str(&run("sfdisk", &["-J", img.to_str().unwrap()])).unwrap();
    let p = &j["partitiontable"]["partitions"][n - 1];
    (p["start"].as_u64().unwrap() * 512, p["size"].as_u64().unwrap() * 512, p["uuid"].as_str().map(str::to_string))
}

/// Byte offset of an LV of an image, from lvm2 (`pvs`, `vgs`, `lvs`) on a read-only
/// loop device over the PV partition, with a private configuration.
fn lv_offset(img: &Path, pv_part: usize, vg: &str, lv: &str) -> u64 {
    let _lock = common::loop_lock();
    let (off, size, _) = partition(img, pv_part);
    let dev = run("losetup", &["-r", "-f", "--show", "-o", &off.to_string(), "--sizelimit", &size.to_string(), img.to_str().unwrap()]);
    let dev = dev.trim().to_string();
    let conf = tempfile::tempdir().unwrap();
    std::fs::write(
        conf.path().join("lvm.conf"),
        "devices { use_devicesfile = 0 obtain_device_list_from_udev = 0 hints = \"none\" }\n\
         global { use_lvmlockd = 0 }\nbackup { backup = 0 archive = 0 }\n",
    )
    .unwrap();
    let report = |cmd: &str, kind: &str, fields: &str| -> Vec<J> {
        let out = Command::new(cmd)
            .env("LVM_SYSTEM_DIR", conf.path())
            .env("LVM_SUPPRESS_FD_WARNINGS", "1")
            .args(["--devices", &dev, "--readonly", "--units", "b", "--nosuffix", "--reportformat", "json", "-o", fields])
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
        let j: J = serde_json::from_slice(&out.stdout).unwrap();
        j["report"][0][kind].as_array().unwrap().clone()
    };
    let lvs = report("lvs", "lv", "vg_name,lv_name,seg_pe_ranges");
    let pvs = report("pvs", "pv", "pe_start");
    let vgs = report("vgs", "vg", "vg_extent_size");
    let _ = Command::new("losetup").args(["-d", &dev]).status();
    let num = |v: &J| v.as_str().unwrap().trim().parse::<u64>().unwrap();
    let row = lvs.iter().find(|r| r["vg_name"] == vg && r["lv_name"] == lv).unwrap_or_else(|| panic!("lvs has no {vg}/{lv}: {lvs:?}"));
    let ranges = row["seg_pe_ranges"].as_str().unwrap();
    let first: u64 = ranges.rsplit(':').next().unwrap().split('-').next().unwrap().parse().unwrap();
    off + num(&pvs[0]["pe_start"]) + first * num(&vgs[0]["vg_extent_size"])
}

/// The root LV of a raw image mounted read-only by the kernel; unmounted on drop.
struct KernelMount {
    dir: tempfile::TempDir,
}

impl KernelMount {
    fn new(raw: &Path, pv_part: usize, vg: &str) -> KernelMount {
        let off = lv_offset(raw, pv_part, vg, "root");
        let dir = tempfile::tempdir().unwrap();
        let opts = format!("loop,ro,offset={off}");
        run("mount", &["-o", &opts, raw.to_str().unwrap(), dir.path().to_str().unwrap()]);
        KernelMount { dir }
    }
    fn path(&self, guest: &str) -> PathBuf {
        self.dir.path().join(guest.trim_start_matches('/'))
    }
}

impl Drop for KernelMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).env("LC_ALL", "C").env("TZ", "UTC").output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn compare(img: &Path, km: &KernelMount, dirs: &[&str]) {
    let a = img.to_str().unwrap();
    for dir in dirs {
        let host = km.path(dir);
        let h = host.to_str().unwrap();
        // plain: ls -A (C collation)
        assert_eq!(ok(vls(&["-a", a, dir])), sh(&format!("ls -A '{h}'")), "vls {dir}");
        // -R: find, full guest paths, byte order
        let want: Vec<String> = {
            let mut v: Vec<String> = sh(&format!("find '{h}' -mindepth 1"))
                .lines()
                .map(|l| format!("{dir}{}", &l[h.len()..]))
                .collect();
            v.sort();
            v
        };
        let got = ok(vls(&["-a", a, "-R", dir]));
        assert_eq!(got.lines().collect::<Vec<_>>(), want, "vls -R {dir}");
        // -l: ls -lan
        assert_eq!(ok(vls(&["-a", a, "-l", dir])), sh(&format!("cd '{h}' && ls -lan")), "vls -l {dir}");
    }
}

#[test]
fn demo_equals_kernel_mount() {
    let img = root().join("fixtures/demo.qcow2");
    let before = sha256_file(&img);
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("demo.raw");
    run("qemu-img", &["convert", "-O", "raw", img.to_str().unwrap(), raw.to_str().unwrap()]);
    let km = KernelMount::new(&raw, 2, "demo");
    compare(&img, &km, &["/etc", "/home", "/root", "/var"]);
    drop(km);
    assert_eq!(sha256_file(&img), before, "image modified");
}

#[test]
fn centos7_equals_kernel_mount() {
    let img = fixture("guest-centos7.raw");
    let before = sha256_file(&img);
    let km = KernelMount::new(&img, 2, "centos");
    compare(&img, &km, &["/etc", "/etc/sysconfig"]);
    drop(km);
    assert_eq!(sha256_file(&img), before, "image modified");
}

#[test]
fn errors() {
    let img = root().join("fixtures/demo.qcow2");
    let o = vls(&["-a", img.to_str().unwrap(), "/nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "vls: error: /nope: No such file or directory\n");
    let fsimg = fixture("ext4-4k.img");
    let o = vls(&["-a", fsimg.to_str().unwrap(), "/"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no operating system"));
}
