//! Inspection of guest images built by `fixtures/mk-guests.sh` with real tools (sgdisk, sfdisk,
//! mkfs.ext4 -d, mkfs.vfat, lvm2) from the trees in `fixtures/trees/`. Every value is checked
//! against the tree files it comes from; the architecture against `readelf -h` of the embedded
//! binary (extracted with `debugfs`), UUIDs/labels/PARTUUIDs against `blkid`/`sfdisk`, LVs
//! against `lvs`; `vinspect --json` against the API. Nothing stays mounted and the images are
//! byte-identical afterwards.
mod common;

use common::{fixture, root, run, sha256_file};
use serde_json::Value as J;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use vguestfs::guest::inspect::{Application, Error as InspectError};
use vguestfs::guest::DriveOptions;
use vguestfs::Guest;

fn open(img: &Path) -> Guest {
    let mut g = Guest::new();
    g.add_drive(img, DriveOptions::default()).unwrap();
    g.launch().unwrap();
    g
}

fn tree_file(tree: &str, path: &str) -> String {
    std::fs::read_to_string(root().join("fixtures/trees").join(tree).join(path.trim_start_matches('/'))).unwrap()
}

/// What one guest must inspect as; every string is also looked up in the tree file it comes from.
struct Expect {
    image: &'static str,
    tree: &'static str,
    root: &'static str,
    distro: &'static str,
    /// (file in the tree, product name as it appears there)
    product: (&'static str, &'static str),
    version: (u32, u32),
    /// (file in the tree, hostname line as it appears there)
    hostname: (&'static str, &'static str),
    package_format: &'static str,
    package_management: &'static str,
    /// The ELF binary that the build copied into the tree.
    binary: &'static str,
    mountpoints: &'static [(&'static str, &'static str)],
    filesystems: &'static [&'static str],
}

const GUESTS: &[Expect] = &[
    Expect {
        image: "guest-ubuntu.raw",
        tree: "ubuntu",
        root: "/dev/sda2",
        distro: "ubuntu",
        product: ("etc/os-release", "PRETTY_NAME=\"Ubuntu 22.04.4 LTS\""),
        version: (22, 4),
        hostname: ("etc/hostname", "jammy-vm"),
        package_format: "deb",
        package_management: "apt",
        binary: "/usr/bin/true",
        mountpoints: &[("/", "/dev/sda2"), ("/boot/efi", "/dev/sda1")],
        filesystems: &["/dev/sda2", "/dev/sda1"],
    },
    Expect {
        image: "guest-centos7.raw",
        tree: "centos7",
        root: "/dev/centos/root",
        distro: "centos",
        product: ("etc/centos-release", "CentOS Linux release 7.9.2009 (Core)"),
        version: (7, 9),
        hostname: ("etc/sysconfig/network", "HOSTNAME=\"c7.example.com\""),
        package_format: "rpm",
        package_management: "yum",
        binary: "/usr/bin/true",
        mountpoints: &[("/", "/dev/centos/root"), ("/boot", "/dev/sda1")],
        filesystems: &["/dev/centos/root", "/dev/sda1", "/dev/centos/swap"],
    },
    Expect {
        image: "guest-rocky9.raw",
        tree: "rocky9",
        root: "/dev/sda2",
        distro: "rocky",
        product: ("etc/os-release", "PRETTY_NAME=\"Rocky Linux 9.4 (Blue Onyx)\""),
        version: (9, 4),
        hostname: ("etc/hostname", "rocky9.localdomain"),
        package_format: "rpm",
        package_management: "dnf",
        binary: "/usr/bin/true",
        mountpoints: &[("/", "/dev/sda2"), ("/boot/efi", "/dev/sda1")],
        filesystems: &["/dev/sda2", "/dev/sda1"],
    },
    Expect {
        image: "guest-alpine.raw",
        tree: "alpine",
        root: "/dev/sda",
        distro: "alpinelinux",
        product: ("etc/os-release", "PRETTY_NAME=\"Alpine Linux v3.19\""),
        version: (3, 19),
        hostname: ("etc/hostname", "alpine-box"),
        package_format: "apk",
        package_management: "apk",
        binary: "/bin/true",
        mountpoints: &[("/", "/dev/sda")],
        filesystems: &["/dev/sda"],
    },
    Expect {
        image: "guest-arch.raw",
        tree: "arch",
        root: "/dev/sda2",
        distro: "archlinux",
        product: ("etc/os-release", "PRETTY_NAME=\"Arch Linux\""),
        version: (0, 0),
        hostname: ("etc/hostname", "archie"),
        package_format: "pacman",
        package_management: "pacman",
        binary: "/usr/bin/true",
        mountpoints: &[("/", "/dev/sda2"), ("/boot", "/dev/sda1")],
        filesystems: &["/dev/sda2", "/dev/sda1"],
    },
    Expect {
        image: "guest-cirros.raw",
        tree: "cirros",
        root: "/dev/sda1",
        distro: "cirros",
        product: ("etc/cirros/version", "0.6.2"),
        version: (0, 6),
        hostname: ("etc/hostname", "cirros"),
        package_format: "unknown",
        package_management: "unknown",
        binary: "/bin/true",
        mountpoints: &[("/", "/dev/sda1")],
        filesystems: &["/dev/sda1"],
    },
    Expect {
        image: "guest-arm64.raw",
        tree: "debian",
        root: "/dev/sda1",
        distro: "debian",
        product: ("etc/debian_version", "12.7"),
        version: (12, 7),
        hostname: ("etc/hostname", "demo-debian"),
        package_format: "deb",
        package_management: "apt",
        binary: "/usr/bin/true",
        mountpoints: &[("/", "/dev/sda1")],
        filesystems: &["/dev/sda1"],
    },
];

/// The product name as inspection reports it, from the line in the tree file.
fn product_of(line: &str) -> &str {
    line.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"')).unwrap_or(line)
}

/// Partition `n` (1-based) of an image: (byte offset, byte size, GPT unique GUID) per sfdisk.
fn partition(img: &Path, n: usize) -> (u64, u64, Option<String>) {
    let j: J = serde_json::from_str(&run("sfdisk", &["-J", img.to_str().unwrap()])).unwrap();
    let p = &j["partitiontable"]["partitions"][n - 1];
    (p["start"].as_u64().unwrap() * 512, p["size"].as_u64().unwrap() * 512, p["uuid"].as_str().map(str::to_string))
}

/// `blkid -p` of the bytes at `offset` of an image, as KEY → value.
fn blkid_at(img: &Path, offset: u64) -> BTreeMap<String, String> {
    run("blkid", &["-p", "-o", "export", "-O", &offset.to_string(), img.to_str().unwrap()])
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

/// Byte offset of an LV of the centos7 image, from lvm2 (`pvs`, `vgs`, `lvs`) on a read-only
/// loop device over the PV partition, with a private configuration.
fn lv_offset(img: &Path, vg: &str, lv: &str) -> u64 {
    let _lock = common::loop_lock();
    let (off, size, _) = partition(img, 2);
    let dev = common::Loop::attach(img, off, size);
    let lvs = common::lvm_report("lvs", "lv", "vg_name,lv_name,seg_pe_ranges", &[&dev]);
    let pvs = common::lvm_report("pvs", "pv", "pe_start", &[&dev]);
    let vgs = common::lvm_report("vgs", "vg", "vg_extent_size", &[&dev]);
    drop(dev);
    let num = |v: &J| v.as_str().unwrap().trim().parse::<u64>().unwrap();
    let row = lvs.iter().find(|r| r["vg_name"] == vg && r["lv_name"] == lv).unwrap_or_else(|| panic!("lvs has no {vg}/{lv}: {lvs:?}"));
    let ranges = row["seg_pe_ranges"].as_str().unwrap();
    let first: u64 = ranges.rsplit(':').next().unwrap().split('-').next().unwrap().parse().unwrap();
    off + num(&pvs[0]["pe_start"]) + first * num(&vgs[0]["vg_extent_size"])
}

/// Byte offset of a guest device within its image, by the host tools.
fn device_offset(img: &Path, dev: &str) -> u64 {
    if dev == "/dev/sda" {
        return 0;
    }
    if let Some(n) = dev.strip_prefix("/dev/sda") {
        return partition(img, n.parse().unwrap()).0;
    }
    let (vg, lv) = dev.trim_start_matches("/dev/").split_once('/').unwrap();
    lv_offset(img, vg, lv)
}

/// Checks that the fstab line of `tree` for `mountpoint` names `dev` by what the host tools see.
fn check_fstab_spec(img: &Path, tree: &str, mountpoint: &str, dev: &str) {
    let fstab = tree_file(tree, "etc/fstab");
    let spec = fstab
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() >= 2 && f[1] == mountpoint && !f[0].starts_with('#'))
        .map(|f| f[0].to_string())
        .unwrap_or_else(|| panic!("{tree}: no fstab line for {mountpoint}"));
    let probed = blkid_at(img, device_offset(img, dev));
    if let Some(u) = spec.strip_prefix("UUID=") {
        assert_eq!(probed.get("UUID").map(String::as_str), Some(u), "{tree} {mountpoint}");
    } else if let Some(l) = spec.strip_prefix("LABEL=") {
        assert_eq!(probed.get("LABEL").map(String::as_str), Some(l), "{tree} {mountpoint}");
    } else if let Some(pu) = spec.strip_prefix("PARTUUID=") {
        let n: usize = dev.trim_start_matches("/dev/sda").parse().unwrap();
        assert_eq!(partition(img, n).2.map(|s| s.to_lowercase()), Some(pu.to_lowercase()), "{tree} {mountpoint}");
    } else if let Some(m) = spec.strip_prefix("/dev/mapper/") {
        assert_eq!(m.replacen('-', "/", 1), dev.trim_start_matches("/dev/"), "{tree} {mountpoint}");
        assert!(probed.contains_key("TYPE"), "lvs offset of {dev} holds no filesystem");
    } else if spec == "/dev/vda" {
        assert_eq!(dev, "/dev/sda");
        assert_eq!(probed.get("TYPE").map(String::as_str), Some("ext4"));
    } else {
        panic!("{tree}: unexpected fstab spec {spec}");
    }
}

/// The embedded binary's architecture per `readelf -h`, extracted from the guest's root
/// filesystem with debugfs (for roots on an LV, the build host's own /usr/bin/true, which the
/// build copied in).
fn readelf_arch(img: &Path, root_dev: &str, binary: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    if root_dev.starts_with("/dev/sda") {
        let fs_img = dir.path().join("fs.img");
        let (off, size) = match root_dev.strip_prefix("/dev/sda").unwrap() {
            "" => (0, std::fs::metadata(img).unwrap().len()),
            n => {
                let p = partition(img, n.parse().unwrap());
                (p.0, p.1)
            }
        };
        let data = std::fs::read(img).unwrap();
        std::fs::write(&fs_img, &data[off as usize..(off + size) as usize]).unwrap();
        run("debugfs", &["-R", &format!("dump {binary} {}", bin.display()), fs_img.to_str().unwrap()]);
    } else {
        std::fs::copy("/usr/bin/true", &bin).unwrap();
    }
    let out = run("readelf", &["-h", bin.to_str().unwrap()]);
    let machine = out.lines().find_map(|l| l.trim().strip_prefix("Machine:")).unwrap().trim().to_string();
    match machine.as_str() {
        "Advanced Micro Devices X86-64" => "x86_64",
        "AArch64" => "aarch64",
        "Intel 80386" => "i386",
        "RISC-V" => "riscv64",
        other => panic!("unmapped readelf machine {other}"),
    }
    .to_string()
}

#[test]
fn guests_inspect_as_their_trees_say() {
    for e in GUESTS {
        let img = fixture(e.image);
        let before = sha256_file(&img);
        let g = open(&img);
        assert_eq!(g.inspect_os().unwrap(), vec![e.root.to_string()], "{}", e.image);
        assert!(g.mounts().is_empty(), "inspect_os left mounts");
        let r = e.root;
        let (pfile, pline) = e.product;
        assert!(tree_file(e.tree, pfile).lines().any(|l| l == pline), "{}: {pline} not in {pfile}", e.tree);
        let (hfile, hline) = e.hostname;
        assert!(tree_file(e.tree, hfile).lines().any(|l| l == hline), "{}: {hline} not in {hfile}", e.tree);
        let hostname = hline.strip_prefix("HOSTNAME=").map(|v| v.trim_matches('"')).unwrap_or(hline);
        assert_eq!(g.inspect_get_type(r).unwrap(), "linux");
        assert_eq!(g.inspect_get_distro(r).unwrap(), e.distro, "{}", e.image);
        assert_eq!(g.inspect_get_product_name(r).unwrap(), product_of(pline), "{}", e.image);
        assert_eq!((g.inspect_get_major_version(r).unwrap(), g.inspect_get_minor_version(r).unwrap()), e.version, "{}", e.image);
        assert_eq!(g.inspect_get_hostname(r).unwrap(), hostname, "{}", e.image);
        assert_eq!(g.inspect_get_package_format(r).unwrap(), e.package_format, "{}", e.image);
        assert_eq!(g.inspect_get_package_management(r).unwrap(), e.package_management, "{}", e.image);
        assert_eq!(g.inspect_get_format(r).unwrap(), "installed");
        let arch = g.inspect_get_arch(r).unwrap();
        assert_eq!(arch, readelf_arch(&img, r, e.binary), "{}", e.image);
        if e.image == "guest-arm64.raw" {
            assert_eq!(arch, "aarch64", "the arm64 guest's true is an aarch64 ELF");
        }
        let mps = g.inspect_get_mountpoints(r).unwrap();
        let want: Vec<(String, String)> = e.mountpoints.iter().map(|(m, d)| (m.to_string(), d.to_string())).collect();
        assert_eq!(mps, want, "{}", e.image);
        for (mp, dev) in &mps {
            if e.tree != "cirros" {
                check_fstab_spec(&img, e.tree, mp, dev);
            }
        }
        let fss: Vec<String> = e.filesystems.iter().map(|s| s.to_string()).collect();
        assert_eq!(g.inspect_get_filesystems(r).unwrap(), fss, "{}", e.image);
        assert!(g.mounts().is_empty(), "inspection left mounts");
        drop(g);
        assert_eq!(sha256_file(&img), before, "{} changed", e.image);
    }
}

/// (name, full version, arch) of the packages a tree's database lists as installed, parsed here
/// independently of the library: dpkg status, apk installed, pacman local/*/desc.
fn tree_packages(tree: &str, format: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    match format {
        "deb" => {
            let (mut name, mut ver, mut arch, mut ok) = (String::new(), String::new(), String::new(), false);
            for line in tree_file(tree, "var/lib/dpkg/status").lines().chain(std::iter::once("")) {
                if line.is_empty() {
                    if ok && !name.is_empty() {
                        out.push((name.clone(), ver.clone(), arch.clone()));
                    }
                    (name, ver, arch, ok) = (String::new(), String::new(), String::new(), false);
                } else if let Some(v) = line.strip_prefix("Package: ") {
                    name = v.into();
                } else if let Some(v) = line.strip_prefix("Version: ") {
                    ver = v.into();
                } else if let Some(v) = line.strip_prefix("Architecture: ") {
                    arch = v.into();
                } else if line == "Status: install ok installed" {
                    ok = true;
                }
            }
        }
        "apk" => {
            for stanza in tree_file(tree, "lib/apk/db/installed").split("\n\n") {
                let get = |k: &str| stanza.lines().find_map(|l| l.strip_prefix(k)).unwrap_or("").to_string();
                if !get("P:").is_empty() {
                    out.push((get("P:"), get("V:"), get("A:")));
                }
            }
        }
        "pacman" => {
            let dir = root().join("fixtures/trees").join(tree).join("var/lib/pacman/local");
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if !path.is_dir() {
                    continue;
                }
                let desc = std::fs::read_to_string(path.join("desc")).unwrap();
                let lines: Vec<&str> = desc.lines().collect();
                let get = |k: &str| lines[lines.iter().position(|l| *l == k).unwrap() + 1].to_string();
                out.push((get("%NAME%"), get("%VERSION%"), get("%ARCH%")));
            }
        }
        _ => {}
    }
    out.sort();
    out
}

/// `[epoch:]version[-release]` as the package manager writes it (apk's release is `rN`).
fn full_version(a: &Application, fmt: &str) -> String {
    let mut s = if a.epoch != 0 { format!("{}:{}", a.epoch, a.version) } else { a.version.clone() };
    if !a.release.is_empty() {
        s.push_str(if fmt == "apk" { "-r" } else { "-" });
        s.push_str(&a.release);
    }
    s
}

#[test]
fn applications_equal_the_package_databases() {
    for e in GUESTS {
        let g = open(&fixture(e.image));
        let apps = g.inspect_list_applications(e.root);
        assert!(g.mounts().is_empty());
        match e.package_format {
            // the trees hold a placeholder README, no database (until their image scripts call
            // fixtures/rpmdb.sh); the rpm database readers are judged in tests/inspect_rpmdb.rs
            "rpm" => match apps {
                Err(err) => assert!(matches!(err, InspectError::NoDatabase(_)), "{err}"),
                Ok(apps) => assert!(!apps.is_empty(), "{}: empty rpm database", e.image),
            },
            fmt => {
                let apps = apps.unwrap();
                let got: Vec<(String, String, String)> = apps.iter().map(|a| (a.name.clone(), full_version(a, fmt), a.arch.clone())).collect();
                let want = tree_packages(e.tree, fmt);
                assert_eq!(got, want, "{}", e.image);
                if fmt != "unknown" {
                    assert!(!want.is_empty(), "{}: empty database", e.tree);
                }
            }
        }
    }
    // the split itself on a few known values
    let g = open(&fixture("guest-ubuntu.raw"));
    let apps = g.inspect_list_applications("/dev/sda2").unwrap();
    let ssh = apps.iter().find(|a| a.name == "openssh-server").unwrap();
    assert_eq!((ssh.epoch, ssh.version.as_str(), ssh.release.as_str(), ssh.source_package.as_str()), (1, "8.9p1", "3ubuntu0.6", "openssh"));
    assert!(!apps.iter().any(|a| a.name.starts_with("linux-image")), "deinstalled package listed");
}

#[test]
fn vinspect_json_equals_the_api() {
    let bin = env!("CARGO_BIN_EXE_vinspect");
    for e in GUESTS {
        let img = fixture(e.image);
        let out = Command::new(bin).args(["--json", "-a", img.to_str().unwrap()]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let j: J = serde_json::from_slice(&out.stdout).unwrap();
        let oses = j["operatingsystems"].as_array().unwrap();
        assert_eq!(oses.len(), 1);
        let os = &oses[0];
        let g = open(&img);
        let info = g.inspect_root(e.root).unwrap();
        for (key, want) in [
            ("root", info.root.clone()),
            ("name", g.inspect_get_type(e.root).unwrap()),
            ("distro", g.inspect_get_distro(e.root).unwrap()),
            ("product_name", g.inspect_get_product_name(e.root).unwrap()),
            ("arch", g.inspect_get_arch(e.root).unwrap()),
            ("hostname", g.inspect_get_hostname(e.root).unwrap()),
            ("package_format", g.inspect_get_package_format(e.root).unwrap()),
            ("package_management", g.inspect_get_package_management(e.root).unwrap()),
            ("format", g.inspect_get_format(e.root).unwrap()),
        ] {
            assert_eq!(os[key].as_str(), Some(want.as_str()), "{} {key}", e.image);
        }
        assert_eq!(os["major_version"].as_u64(), Some(info.major_version as u64));
        assert_eq!(os["minor_version"].as_u64(), Some(info.minor_version as u64));
        let mps: Vec<(String, String)> = os["mountpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["mountpoint"].as_str().unwrap().to_string(), m["dev"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(mps, info.mountpoints);
        let mut fss: Vec<String> = os["filesystems"].as_array().unwrap().iter().map(|f| f["dev"].as_str().unwrap().to_string()).collect();
        let mut want = info.filesystems.clone();
        fss.sort();
        want.sort();
        assert_eq!(fss, want);
        for f in os["filesystems"].as_array().unwrap() {
            let probed = blkid_at(&img, device_offset(&img, f["dev"].as_str().unwrap()));
            assert_eq!(f["type"].as_str(), probed.get("TYPE").map(String::as_str), "{}", e.image);
            assert_eq!(f["uuid"].as_str(), probed.get("UUID").map(String::as_str), "{}", e.image);
        }
        match g.inspect_list_applications(e.root) {
            Ok(apps) => {
                let names: Vec<&str> = os["applications"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
                assert_eq!(names, apps.iter().map(|a| a.name.as_str()).collect::<Vec<_>>());
            }
            Err(_) => assert!(os.get("applications").is_none()),
        }
        // the XML has virt-inspector's shape
        let xml = Command::new(bin).args(["-a", img.to_str().unwrap()]).output().unwrap();
        let xml = String::from_utf8(xml.stdout).unwrap();
        assert!(xml.starts_with("<?xml version=\"1.0\"?>\n<operatingsystems>\n  <operatingsystem>\n"), "{xml}");
        assert!(xml.contains(&format!("    <root>{}</root>\n", e.root)));
        assert!(xml.contains(&format!("    <distro>{}</distro>\n", e.distro)));
        assert!(xml.contains(&format!("      <mountpoint dev=\"{}\">/</mountpoint>\n", e.root)));
    }
}

#[test]
fn qcow2_inspects_like_its_raw_source() {
    let bin = env!("CARGO_BIN_EXE_vinspect");
    let (raw, qcow2) = (fixture("guest-ubuntu.raw"), fixture("guest-ubuntu.qcow2"));
    let a = open(&raw).inspect_root("/dev/sda2").unwrap();
    let b = open(&qcow2).inspect_root("/dev/sda2").unwrap();
    assert_eq!(a, b);
    let json = |args: &[&str]| {
        let out = Command::new(bin).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<J>(&out.stdout).unwrap()
    };
    let q = qcow2.to_str().unwrap();
    assert_eq!(json(&["--json", "-a", raw.to_str().unwrap()]), json(&["--json", "--format", "qcow2", "-a", q]));
    // forced raw, the qcow2 file holds no partition table and no OS
    let out = Command::new(bin).args(["--format", "raw", "-a", q]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no operating system"));
}

#[test]
fn mount_inspected_mounts_like_guestfish_i() {
    let img = fixture("guest-ubuntu.raw");
    let mut g = open(&img);
    let skipped = g.mount_inspected("/dev/sda2", true).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(g.mountpoints(), vec![("/dev/sda2".to_string(), "/".to_string()), ("/dev/sda1".into(), "/boot/efi".into())]);
    assert_eq!(g.read_file("/boot/efi/EFI/ubuntu/grubx64.efi").unwrap(), b"grub\n");
    assert_eq!(g.read_file("/etc/hostname").unwrap(), b"jammy-vm\n");
    g.umount_all().unwrap();
    // centos: / on an LV, /boot on a partition
    let mut g = open(&fixture("guest-centos7.raw"));
    g.mount_inspected("/dev/centos/root", true).unwrap();
    assert_eq!(g.mounts(), vec!["/dev/centos/root".to_string(), "/dev/sda1".into()]);
    assert!(String::from_utf8(g.read_file("/boot/grub2/grub.cfg").unwrap()).unwrap().contains("CentOS Linux 7"));
}

#[test]
fn not_a_root_is_an_error() {
    let g = open(&fixture("guest-centos7.raw"));
    for dev in ["/dev/sda1", "/dev/centos/swap", "/dev/nope"] {
        assert!(matches!(g.inspect_get_distro(dev), Err(InspectError::NotARoot(_))), "{dev}");
    }
    // a plain data filesystem has no OS
    let g = open(&fixture("fs-ext4.img"));
    assert!(g.inspect_os().unwrap().is_empty());
}

#[test]
fn hostile_guest_gives_sane_results() {
    let img = fixture("guest-hostile.raw");
    let before = sha256_file(&img);
    let g = open(&img);
    assert_eq!(g.inspect_os().unwrap(), vec!["/dev/sda".to_string()]);
    let info = g.inspect_root("/dev/sda").unwrap();
    // the 4 MiB os-release (it claims ID=ubuntu) is not read: /etc/debian_version decides
    assert_eq!((info.distro.as_str(), info.product_name.as_str()), ("debian", tree_file("debian", "etc/debian_version").trim()));
    assert_eq!((info.major_version, info.minor_version), (12, 7));
    // /etc/hostname -> /../../etc/passwd resolves inside the guest: the guest's passwd
    let passwd = tree_file("debian", "etc/passwd");
    assert_eq!(info.hostname, passwd.lines().next().unwrap());
    // garbage fstab: nothing resolves, so the root alone
    assert_eq!(info.mountpoints, vec![("/".to_string(), "/dev/sda".to_string())]);
    assert_eq!(info.filesystems, vec!["/dev/sda".to_string()]);
    assert_eq!(g.inspect_list_applications("/dev/sda").unwrap().len(), tree_packages("debian", "deb").len());
    assert!(g.mounts().is_empty());
    drop(g);
    assert_eq!(sha256_file(&img), before);
}

/// A derivative whose os-release `ID` nobody knows and which has no release file of its parent
/// is inspected as the first distro of its `ID_LIKE` we know, with its own version and product
/// (issue 21 item 4); without a known `ID_LIKE` it stays unknown.
#[test]
fn unknown_id_is_inspected_through_id_like() {
    let d = tempfile::tempdir().unwrap();
    for (like, want) in [("\"mystery rhel fedora\"", "rhel"), ("nothing-known", "unknown")] {
        let tree = d.path().join("tree");
        let _ = std::fs::remove_dir_all(&tree);
        for dir in ["etc", "usr/bin", "bin", "tmp"] {
            std::fs::create_dir_all(tree.join(dir)).unwrap();
        }
        std::fs::copy("/usr/bin/true", tree.join("usr/bin/true")).unwrap();
        std::fs::copy("/usr/bin/true", tree.join("bin/ls")).unwrap();
        std::fs::write(tree.join("etc/os-release"), format!("ID=eurolinux\nID_LIKE={like}\nPRETTY_NAME=\"EuroLinux 9.3\"\nVERSION_ID=\"9.3\"\n")).unwrap();
        std::fs::write(tree.join("etc/fstab"), "LABEL=root / ext4 defaults 0 1\n").unwrap();
        let img = d.path().join("guest.img");
        let _ = std::fs::remove_file(&img);
        run("mkfs.ext4", &["-q", "-F", "-L", "root", "-d", tree.to_str().unwrap(), img.to_str().unwrap(), "32M"]);
        let g = open(&img);
        assert_eq!(g.inspect_os().unwrap(), vec!["/dev/sda".to_string()], "{like}");
        let info = g.inspect_root("/dev/sda").unwrap();
        assert_eq!(info.distro, want, "{like}");
        assert_eq!((info.product_name.as_str(), info.major_version, info.minor_version), ("EuroLinux 9.3", 9, 3), "{like}");
    }
}
