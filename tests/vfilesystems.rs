//! `vfilesystems` end to end: every value it prints for the demo image comes out the same from
//! the real tools — sgdisk (partitions), blkid (filesystems), lvm2 on a loop device (PV/VG/LV),
//! the kernel's statvfs after a real mount (filesystem size) — and the text layout is the one
//! virt-filesystems prints.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn vfilesystems(args: &[&str]) -> (String, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_vfilesystems")).args(args).output().unwrap();
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned(), out.status.code().unwrap_or(-1))
}

fn demo() -> PathBuf {
    common::root().join("fixtures/demo.qcow2")
}

/// The demo image as raw, in a temp dir.
fn demo_raw(dir: &Path) -> PathBuf {
    let raw = dir.join("demo.raw");
    common::run("qemu-img", &["convert", "-O", "raw", demo().to_str().unwrap(), raw.to_str().unwrap()]);
    raw
}

/// (start, size) in bytes of GPT partition `n`, from sgdisk.
fn sgdisk_part(raw: &Path, n: u32) -> (u64, u64) {
    let text = common::run("sgdisk", &["-i", &n.to_string(), raw.to_str().unwrap()]);
    let field = |key: &str| -> u64 {
        let l = text.lines().find(|l| l.starts_with(key)).unwrap();
        l[key.len()..].split_whitespace().next().unwrap().parse().unwrap()
    };
    let first = field("First sector:");
    let last = field("Last sector:");
    (first * 512, (last - first + 1) * 512)
}

/// `blkid -p -o export` of a byte range of `raw`.
fn blkid_at(raw: &Path, off: u64, size: u64) -> std::collections::HashMap<String, String> {
    let out = Command::new("blkid")
        .args(["-p", "-o", "export", "-O", &off.to_string(), "-S", &size.to_string()])
        .arg(raw)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

/// statvfs size of the filesystem at a byte range, mounted read-only by the kernel.
fn kernel_fs_size(raw: &Path, off: u64, size: u64) -> u64 {
    let mnt = tempfile::tempdir().unwrap();
    let opts = format!("loop,ro,offset={off},sizelimit={size}");
    common::run("mount", &["-o", &opts, raw.to_str().unwrap(), mnt.path().to_str().unwrap()]);
    let s = common::run("stat", &["-f", "-c", "%b %S", mnt.path().to_str().unwrap()]);
    common::run("umount", &[mnt.path().to_str().unwrap()]);
    let v: Vec<u64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();
    v[0] * v[1]
}

/// `data clusters × cluster size` from fsck.fat -v on a byte range (copied out).
fn fat_size(raw: &Path, off: u64, size: u64, dir: &Path) -> u64 {
    let part = dir.join("esp.img");
    let data = std::fs::read(raw).unwrap();
    std::fs::write(&part, &data[off as usize..(off + size) as usize]).unwrap();
    let out = Command::new("fsck.fat").args(["-n", "-v"]).arg(&part).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let first_num = |pat: &str| -> u64 {
        text.lines().find(|l| l.contains(pat)).unwrap().split_whitespace().next().unwrap().parse().unwrap()
    };
    first_num("bytes per cluster") * first_num("data clusters")
}

/// lvm2's report for the PV at a byte range of `raw` (loop device, read-only, private config).
struct LvmReport {
    pv_uuid: String,
    pv_size: u64,
    vg_uuid: String,
    vg_size: u64,
    /// (lv name, uuid, size, first extent on the PV)
    lvs: Vec<(String, String, u64, u64)>,
    pe_start: u64,
    extent_size: u64,
}

fn lvm_report(raw: &Path, off: u64, size: u64) -> LvmReport {
    let _guard = common::loop_lock();
    let conf = tempfile::tempdir().unwrap();
    std::fs::write(
        conf.path().join("lvm.conf"),
        "devices { filter = [ \"a|^/dev/loop|\", \"r|.*|\" ] use_devicesfile = 0 }\nbackup { backup = 0 archive = 0 }\n",
    )
    .unwrap();
    let lo = common::run("losetup", &["-r", "-f", "--show", "-o", &off.to_string(), "--sizelimit", &size.to_string(), raw.to_str().unwrap()]);
    let lo = lo.trim().to_string();
    let lvm = |args: &[&str]| -> String {
        let out = Command::new(args[0]).args(&args[1..]).env("LVM_SYSTEM_DIR", conf.path()).env("LVM_SUPPRESS_FD_WARNINGS", "1").output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let pv = lvm(&["pvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "pv_uuid,pv_size,pe_start,vg_uuid,vg_size,vg_extent_size", &lo]);
    let lvs = lvm(&["lvs", "--noheadings", "--units", "b", "--nosuffix", "--separator", "|", "-o", "lv_name,lv_uuid,lv_size,seg_pe_ranges", "demo"]);
    common::run("losetup", &["-d", &lo]);
    let f: Vec<&str> = pv.split_whitespace().collect();
    LvmReport {
        pv_uuid: f[0].to_string(),
        pv_size: f[1].parse().unwrap(),
        pe_start: f[2].parse().unwrap(),
        vg_uuid: f[3].to_string(),
        vg_size: f[4].parse().unwrap(),
        extent_size: f[5].parse().unwrap(),
        lvs: lvs
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let c: Vec<&str> = l.trim().split('|').collect();
                // seg_pe_ranges: /dev/loopN:FIRST-LAST
                let first = c[3].rsplit(':').next().unwrap().split('-').next().unwrap().parse().unwrap();
                (c[0].to_string(), c[1].to_string(), c[2].parse().unwrap(), first)
            })
            .collect(),
    }
}

#[test]
fn demo_listing_equals_the_real_tools() {
    let dir = tempfile::tempdir().unwrap();
    let raw = demo_raw(dir.path());
    let (p1_off, p1_size) = sgdisk_part(&raw, 1);
    let (p2_off, p2_size) = sgdisk_part(&raw, 2);
    let esp = blkid_at(&raw, p1_off, p1_size);
    let lvm = lvm_report(&raw, p2_off, p2_size);
    let lv = |name: &str| lvm.lvs.iter().find(|l| l.0 == name).unwrap().clone();
    let (_, root_uuid, root_size, root_pe) = lv("root");
    let (_, swap_uuid, swap_size, swap_pe) = lv("swap");
    let root_off = p2_off + lvm.pe_start + root_pe * lvm.extent_size;
    let swap_off = p2_off + lvm.pe_start + swap_pe * lvm.extent_size;
    let root = blkid_at(&raw, root_off, root_size);
    let swap = blkid_at(&raw, swap_off, swap_size);
    let nodash = |s: &str| s.replace('-', "");
    let disk_size = std::fs::metadata(&raw).unwrap().len();

    let expected = [
        format!("/dev/sda1,filesystem,vfat,{},,{},,{}", esp["LABEL"], fat_size(&raw, p1_off, p1_size, dir.path()), esp["UUID"]),
        format!("/dev/demo/root,filesystem,ext4,{},,{},,{}", root["LABEL"], kernel_fs_size(&raw, root_off, root_size), root["UUID"]),
        format!("/dev/demo/swap,filesystem,swap,{},,{},,{}", swap["LABEL"], swap_size, swap["UUID"]),
        format!("/dev/demo/root,lv,,,,{root_size},/dev/demo,{}", nodash(&root_uuid)),
        format!("/dev/demo/swap,lv,,,,{swap_size},/dev/demo,{}", nodash(&swap_uuid)),
        format!("/dev/demo,vg,,,,{},/dev/sda2,{}", lvm.vg_size, nodash(&lvm.vg_uuid)),
        format!("/dev/sda2,pv,,,,{},,{}", lvm.pv_size, nodash(&lvm.pv_uuid)),
        format!("/dev/sda1,partition,,,,{p1_size},/dev/sda,"),
        format!("/dev/sda2,partition,,,,{p2_size},/dev/sda,"),
        format!("/dev/sda,device,,,,{disk_size},,"),
    ];
    let (out, err, code) = vfilesystems(&["--all", "--long", "--uuid", "--csv", "--no-title", "-a", demo().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), expected.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn text_layout_matches_virt_filesystems() {
    // default: mountable filesystems only, names only
    let (out, _, code) = vfilesystems(&["-a", demo().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(out, "/dev/sda1\n/dev/demo/root\n");
    // --long: title row, columns padded to the widest cell plus two spaces, `-` for empty
    let (out, _, _) = vfilesystems(&["--long", "--parts", "--blkdevs", "-h", "-a", demo().to_str().unwrap()]);
    assert_eq!(
        out,
        "Name       Type       MBR  Size  Parent\n\
         /dev/sda1  partition  -    40M   /dev/sda\n\
         /dev/sda2  partition  -    103M  /dev/sda\n\
         /dev/sda   device     -    144M  -\n"
    );
}

#[test]
fn option_errors_like_virt_filesystems() {
    let (_, err, code) = vfilesystems(&["--long"]);
    assert_eq!(code, 1);
    assert!(err.contains("you must specify at least one -a option"), "{err}");
    let (_, err, code) = vfilesystems(&["-h", "--csv", "-a", "x"]);
    assert_eq!(code, 1);
    assert!(err.contains("you cannot use -h and --csv options together"), "{err}");
    let (_, err, code) = vfilesystems(&["-a", "/nonexistent/disk.img"]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/disk.img"), "{err}");
}

#[test]
fn format_override_applies_to_following_drives() {
    // the qcow2 read as raw has no partition table and no filesystem: nothing to list
    let (out, err, code) = vfilesystems(&["--format=raw", "-a", demo().to_str().unwrap(), "--extra"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "/dev/sda\n");
    let (_, err, code) = vfilesystems(&["--format=vmdk", "-a", demo().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown image format 'vmdk'"), "{err}");
}

/// Runs vfilesystems and returns the CSV rows, split into fields.
fn csv_rows(args: &[&str]) -> Vec<Vec<String>> {
    let (out, err, code) = vfilesystems(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out.lines().map(split_csv).collect()
}

/// Splits one CSV line written with virt-filesystems' quoting (`"a,b"`, `""` for a quote).
fn split_csv(line: &str) -> Vec<String> {
    let (mut fields, mut cur, mut quoted, mut chars) = (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

/// The image as a raw file (qcow2 converted by qemu-img).
fn as_raw(img: &Path, dir: &Path) -> PathBuf {
    if img.extension().is_some_and(|e| e == "qcow2") {
        let raw = dir.join(format!("{}.raw", img.file_name().unwrap().to_string_lossy()));
        common::run("qemu-img", &["convert", "-O", "raw", img.to_str().unwrap(), raw.to_str().unwrap()]);
        raw
    } else {
        img.to_path_buf()
    }
}

/// Every single-disk fixture: partitions equal `sfdisk -J`, filesystems on partitions and whole
/// disks equal `blkid -p` at the partition's offsets (type, label, UUID), disk size equals the
/// image's virtual size.
#[test]
fn every_fixture_lists_what_sfdisk_and_blkid_see() {
    let dir = tempfile::tempdir().unwrap();
    let build = common::root().join("fixtures/build");
    let mut images: Vec<PathBuf> = std::fs::read_dir(&build)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            // lvm-striped-{a,b} form one VG across two disks: tested below
            let image = [".raw", ".img", ".qcow2", ".iso"].iter().any(|e| n.ends_with(e));
            image && p.is_file() && !n.starts_with("lvm-striped")
        })
        .collect();
    images.sort();
    assert!(images.len() >= 40, "fixtures missing: run fixtures/build.sh");
    for img in &images {
        let raw = as_raw(img, dir.path());
        let name = img.to_str().unwrap();
        let disk_size = std::fs::metadata(&raw).unwrap().len();
        // partitions (sfdisk sees the protective MBR of a GPT disk as gpt, like us)
        let sf = Command::new("sfdisk").arg("-J").arg(&raw).output().unwrap();
        let mut expect_parts: Vec<(String, u64, u64, Option<String>)> = Vec::new();
        if sf.status.success() && !sf.stdout.is_empty() {
            let j: serde_json::Value = serde_json::from_slice(&sf.stdout).unwrap();
            let t = &j["partitiontable"];
            let dos = t["label"] == "dos";
            for p in t["partitions"].as_array().into_iter().flatten() {
                let node = p["node"].as_str().unwrap();
                let num: String = node.chars().rev().take_while(|c| c.is_ascii_digit()).collect::<Vec<_>>().into_iter().rev().collect();
                let start = p["start"].as_u64().unwrap() * 512;
                let size = p["size"].as_u64().unwrap() * 512;
                let ty = p["type"].as_str().unwrap().to_string();
                let extended = dos && ["5", "f", "85"].contains(&ty.as_str());
                let mbr = dos.then(|| format!("{:02x}", u8::from_str_radix(&ty, 16).unwrap()));
                expect_parts.push((format!("/dev/sda{num}"), start, if extended { size.min(1024) } else { size }, mbr));
            }
        }
        let rows = csv_rows(&["--parts", "--long", "--no-title", "--csv", "-a", name]);
        let got: Vec<(String, u64, Option<String>)> =
            rows.iter().map(|r| (r[0].clone(), r[3].parse().unwrap(), (!r[2].is_empty()).then(|| r[2].clone()))).collect();
        let want: Vec<(String, u64, Option<String>)> = expect_parts.iter().map(|(n, _, s, m)| (n.clone(), *s, m.clone())).collect();
        assert_eq!(got, want, "{name}: partitions vs sfdisk -J");
        let rows = csv_rows(&["--blkdevs", "--long", "--no-title", "--csv", "-a", name]);
        assert_eq!(rows, vec![vec!["/dev/sda".to_string(), "device".into(), disk_size.to_string(), String::new()]], "{name}");

        // filesystems on the whole disk or the (non-extended) partitions, as blkid sees them
        let places: Vec<(String, u64, u64)> = if expect_parts.is_empty() {
            vec![("/dev/sda".into(), 0, disk_size)]
        } else {
            expect_parts.iter().filter(|(_, _, s, m)| !(m.is_some() && *s <= 1024 && ["05", "0f", "85"].contains(&m.as_deref().unwrap_or(""))))
                .map(|(n, st, s, _)| (n.clone(), *st, *s)).collect()
        };
        let mut want_fs = Vec::new();
        for (dev, off, size) in places {
            let b = blkid_at(&raw, off, size);
            let ty = b.get("TYPE").cloned().unwrap_or_else(|| "unknown".into());
            if ty.ends_with("_member") || ty == "crypto_LUKS" {
                continue;
            }
            let field = |k: &str| b.get(k).cloned().unwrap_or_default();
            want_fs.push(vec![dev, "filesystem".into(), ty, field("LABEL"), field("UUID")]);
        }
        let got_fs: Vec<Vec<String>> = csv_rows(&["--extra", "--long", "--uuid", "--no-title", "--csv", "-a", name])
            .into_iter()
            // btrfs subvolumes (btrfsvol:DEV/PATH) are no blkid device: tests/inspect_fedora.rs
            .filter(|r| (!r[0].starts_with("/dev/") || r[0].starts_with("/dev/sd")) && !r[0].starts_with("btrfsvol:"))
            .map(|r| vec![r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone(), r[6].clone()])
            .collect();
        assert_eq!(got_fs, want_fs, "{name}: filesystems vs blkid -p");
    }
}

/// One VG across two disks (`-a A -a B`): the PVs are /dev/sda and /dev/sdb, and the LVs and
/// their sizes are what lvm2 reports.
#[test]
fn volume_group_across_two_disks() {
    let a = common::fixture("lvm-striped-a.raw");
    let b = common::fixture("lvm-striped-b.raw");
    let rows = csv_rows(&["--lvs", "--vgs", "--pvs", "--long", "--no-title", "--csv", "-a", a.to_str().unwrap(), "-a", b.to_str().unwrap()]);
    let names: Vec<(&str, &str, &str)> = rows.iter().map(|r| (r[0].as_str(), r[1].as_str(), r[3].as_str())).collect();
    assert_eq!(
        names,
        vec![
            ("/dev/vgstripe/span", "lv", "/dev/vgstripe"),
            ("/dev/vgstripe/stripes", "lv", "/dev/vgstripe"),
            ("/dev/vgstripe", "vg", "/dev/sda,/dev/sdb"),
            ("/dev/sda", "pv", ""),
            ("/dev/sdb", "pv", ""),
        ]
    );
    // sizes from lvm2 on read-only loop devices of the two images
    let _guard = common::loop_lock();
    let conf = tempfile::tempdir().unwrap();
    std::fs::write(conf.path().join("lvm.conf"), "devices { filter = [ \"a|^/dev/loop|\", \"r|.*|\" ] use_devicesfile = 0 }\nbackup { backup = 0 archive = 0 }\n").unwrap();
    let la = common::run("losetup", &["-r", "-f", "--show", a.to_str().unwrap()]).trim().to_string();
    let lb = common::run("losetup", &["-r", "-f", "--show", b.to_str().unwrap()]).trim().to_string();
    let out = Command::new("lvs")
        .args(["--noheadings", "--units", "b", "--nosuffix", "--separator", ",", "-o", "lv_name,lv_size", "vgstripe"])
        .env("LVM_SYSTEM_DIR", conf.path())
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .output()
        .unwrap();
    common::run("losetup", &["-d", &la]);
    common::run("losetup", &["-d", &lb]);
    let mut lvm: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().split_once(',').map(|(n, s)| (format!("/dev/vgstripe/{n}"), s.to_string())))
        .collect();
    lvm.sort();
    let ours: Vec<(String, String)> = rows.iter().filter(|r| r[1] == "lv").map(|r| (r[0].clone(), r[2].clone())).collect();
    assert_eq!(ours, lvm);
}

/// Damaged images: a clear error naming the image or device, exit 1, never a panic.
#[test]
fn damaged_images_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(demo()).unwrap();
    // a qcow2 cut short inside its tables / data
    for cut in [100usize, 70_000, data.len() / 2] {
        let p = dir.path().join(format!("cut{cut}.qcow2"));
        std::fs::write(&p, &data[..cut]).unwrap();
        let (_, err, code) = vfilesystems(&["--all", "--long", "-a", p.to_str().unwrap()]);
        assert_eq!(code, 1, "cut at {cut}: {err}");
        assert!(err.starts_with("vfilesystems: error: ") && !err.contains("panicked"), "{err}");
        assert!(err.contains(p.to_str().unwrap()) || err.contains("/dev/sda"), "error names the image: {err}");
    }
    // a raw GPT disk cut short: the partition table points beyond the end
    let raw = demo_raw(dir.path());
    let bytes = std::fs::read(&raw).unwrap();
    let p = dir.path().join("cut.raw");
    std::fs::write(&p, &bytes[..20 << 20]).unwrap();
    let (_, err, code) = vfilesystems(&["--all", "-a", p.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("/dev/sda") && !err.contains("panicked"), "{err}");
}
