//! The sysprep fixtures (`fixtures/mk-sysprep.sh`) and the tree snapshot helper
//! (`tests/common/tree.rs`), judged by real tools: the layout the helper names is the one
//! sfdisk and lvm2 report; every file and symlink of the committed trees is in the images with
//! the same content (debugfs rdump, hashed); owners, modes, ACLs and SELinux labels are the
//! ones the build set; the ESP holds the EFI binaries (mtools); and `diff` reports exactly
//! what `debugfs -w` changed on a copy.
mod common;

use common::tree::{self, Kind, Node, Tree};
use common::{fixture, lvm_report, loop_lock, root, run, sha256_file, Loop};
use std::path::Path;
use std::process::Command;

/// Every regular file and symlink of the committed tree `fixtures/trees/NAME`, compared with
/// the snapshot at guest path prefix `prefix`. Returns how many were compared.
fn assert_tree_files(snap: &Tree, name: &str, prefix: &str) -> usize {
    let base = root().join("fixtures/trees").join(name);
    let mut n = 0;
    let mut stack = vec![base.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let host = e.path();
            let rel = host.strip_prefix(&base).unwrap().to_str().unwrap().to_string();
            let gp = format!("{prefix}/{rel}");
            let node = snap.get(&gp).unwrap_or_else(|| panic!("{gp} (from fixtures/trees/{name}) is not in the image"));
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                assert_eq!(node.kind, Kind::Symlink, "{gp}");
                assert_eq!(node.target.as_deref(), Some(std::fs::read_link(&host).unwrap().to_str().unwrap()), "{gp}");
            } else if ft.is_dir() {
                assert_eq!(node.kind, Kind::Dir, "{gp}");
                stack.push(host);
            } else {
                assert_eq!(node.kind, Kind::File, "{gp}");
                assert_eq!(node.sha256.as_deref(), Some(sha256_file(&host).as_str()), "{gp}: content differs from the tree file");
                assert_eq!(node.size, std::fs::metadata(&host).unwrap().len(), "{gp}");
            }
            n += 1;
        }
    }
    n
}

fn node<'a>(t: &'a Tree, p: &str) -> &'a Node {
    t.get(p).unwrap_or_else(|| panic!("{p} is missing"))
}

fn owner_mode(t: &Tree, p: &str, uid: u32, gid: u32, mode: u32) {
    let n = node(t, p);
    assert_eq!((n.uid, n.gid, n.mode), (uid, gid, mode), "{p}: (uid, gid, mode)");
}

fn sfdisk_parts(raw: &Path) -> Vec<(String, u64, u64)> {
    let j: serde_json::Value = serde_json::from_str(&run("sfdisk", &["-J", raw.to_str().unwrap()])).unwrap();
    j["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["node"].as_str().unwrap().to_string(), p["start"].as_u64().unwrap() * 512, p["size"].as_u64().unwrap() * 512))
        .collect()
}

#[test]
fn layout_is_what_sfdisk_and_lvm_report() {
    // Ubuntu: GPT p1 root, p14 BIOS boot, p15 ESP (sfdisk lists them in table order 1, 14, 15).
    let raw = fixture("sysprep-ubuntu.raw");
    let parts = sfdisk_parts(&raw);
    let r = raw.to_str().unwrap();
    let find = |parts: &[(String, u64, u64)], n: &str| parts.iter().find(|p| p.0 == format!("{r}{n}")).map(|p| (p.1, p.2)).unwrap();
    let lay = tree::sysprep_layout("sysprep-ubuntu.qcow2");
    assert_eq!(find(&parts, "1"), (lay[0].offset, lay[0].size));
    assert_eq!(find(&parts, "15"), (lay[1].offset, lay[1].size));
    assert_eq!(run("blkid", &["-p", "-O", &lay[0].offset.to_string(), "-s", "LABEL", "-o", "value", r]).trim(), "cloudimg-rootfs");
    assert_eq!(run("blkid", &["-p", "-O", &lay[1].offset.to_string(), "-s", "UUID", "-o", "value", r]).trim(), "8C3A-51F2");

    // CentOS: MBR p1 /boot, p2 PV; the LVs where lvm2 says they are.
    let raw = fixture("sysprep-centos7.raw");
    let r = raw.to_str().unwrap();
    let parts = sfdisk_parts(&raw);
    let lay = tree::sysprep_layout("sysprep-centos7");
    let boot = lay.iter().find(|l| l.mountpoint == "/boot").unwrap();
    let find = |n: &str| parts.iter().find(|p| p.0 == format!("{r}{n}")).map(|p| (p.1, p.2)).unwrap();
    assert_eq!(find("1"), (boot.offset, boot.size));
    let (p2, p2_size) = find("2");
    let _g = loop_lock();
    let pv = Loop::attach(&raw, p2, p2_size);
    let pe_start: u64 = lvm_report("pvs", "pv", "pe_start", &[&pv])[0]["pe_start"].as_str().unwrap().parse().unwrap();
    let vg = &lvm_report("vgs", "vg", "vg_name,vg_extent_size,vg_extent_count,vg_free_count", &[&pv])[0];
    assert_eq!(vg["vg_name"], "centos");
    let extent: u64 = vg["vg_extent_size"].as_str().unwrap().parse().unwrap();
    assert_eq!(extent, 4 << 20);
    assert_eq!((vg["vg_extent_count"].as_str(), vg["vg_free_count"].as_str()), (Some("23"), Some("3")));
    for lv in lvm_report("lvs", "lv", "lv_name,lv_size,seg_pe_ranges", &[&pv]) {
        let name = lv["lv_name"].as_str().unwrap();
        let ranges = lv["seg_pe_ranges"].as_str().unwrap();
        let first: u64 = ranges.rsplit_once(':').unwrap().1.split('-').next().unwrap().parse().unwrap();
        let region = lay.iter().find(|l| l.device == format!("/dev/centos/{name}")).unwrap_or_else(|| panic!("LV {name}"));
        assert_eq!(region.offset, p2 + pe_start + first * extent, "LV {name} ({ranges})");
        assert_eq!(region.size, lv["lv_size"].as_str().unwrap().parse::<u64>().unwrap(), "LV {name}");
    }
    let probe = |off: u64, tag: &str| run("blkid", &["-p", "-O", &off.to_string(), "-s", tag, "-o", "value", r]).trim().to_string();
    for l in &lay {
        assert_eq!(probe(l.offset, "TYPE"), l.fstype, "{} at {}", l.mountpoint, l.offset);
    }
    // e2fsck accepts every ext4 of both fixtures.
    for name in ["sysprep-ubuntu.raw", "sysprep-centos7.raw"] {
        for (mp, img, off, size) in tree::sysprep_fs(name) {
            let fs = tree::extract(&img, off, size);
            let out = Command::new("e2fsck").args(["-fn"]).arg(&*fs).output().unwrap();
            assert!(out.status.success(), "{name} {mp}: e2fsck: {}", String::from_utf8_lossy(&out.stdout));
        }
    }
}

#[test]
fn ubuntu_tree_is_in_the_image() {
    let t0 = std::time::Instant::now();
    let t = tree::guest_tree(&fixture("sysprep-ubuntu.qcow2"), "sysprep-ubuntu.qcow2");
    let took = t0.elapsed();
    eprintln!("guest_tree(sysprep-ubuntu.qcow2): {} paths in {took:?}", t.len());
    assert!(took.as_secs() < 20, "snapshot took {took:?}");
    let n = assert_tree_files(&t, "sysprep-ubuntu", "");
    assert!(n > 200, "{n}");
    assert_eq!(node(&t, "/etc/hostname").sha256.as_deref(), Some(sha256_file(&root().join("fixtures/trees/sysprep-ubuntu/etc/hostname")).as_str()));
    owner_mode(&t, "/", 0, 0, 0o755);
    owner_mode(&t, "/home/ubuntu", 1000, 1000, 0o750);
    owner_mode(&t, "/home/ubuntu/.bash_history", 1000, 1000, 0o600);
    owner_mode(&t, "/home/alice", 1001, 1001, 0o750);
    owner_mode(&t, "/home/alice/.ssh", 1001, 1001, 0o700);
    owner_mode(&t, "/home/alice/Documents/Meeting notes.txt", 1001, 1001, 0o644);
    owner_mode(&t, "/etc/shadow", 0, 42, 0o640);
    owner_mode(&t, "/etc/ssh/ssh_host_ed25519_key", 0, 0, 0o600);
    owner_mode(&t, "/etc/ssh/ssh_host_ed25519_key.pub", 0, 0, 0o644);
    owner_mode(&t, "/tmp", 0, 0, 0o1777);
    owner_mode(&t, "/var/spool/cron/crontabs", 0, 117, 0o1730);
    owner_mode(&t, "/var/spool/cron/crontabs/ubuntu", 1000, 117, 0o600);
    owner_mode(&t, "/var/mail/alice", 1001, 8, 0o660);
    owner_mode(&t, "/var/log/wtmp", 0, 43, 0o664);
    owner_mode(&t, "/run/utmp", 0, 43, 0o664);
    assert_eq!(node(&t, "/var/log/wtmp").size % 384, 0);
    assert_eq!(node(&t, "/var/run").target.as_deref(), Some("/run"));
    assert_eq!(node(&t, "/var/lib/cloud/instance").target.as_deref(), Some("/var/lib/cloud/instances/i-abc"));
    assert_eq!(node(&t, "/var/lib/dbus/machine-id").target.as_deref(), Some("/etc/machine-id"));
    let mid = std::fs::read_to_string(root().join("fixtures/trees/sysprep-ubuntu/etc/machine-id")).unwrap();
    let journal = format!("/var/log/journal/{}", mid.trim());
    owner_mode(&t, &journal, 0, 101, 0o2755);
    assert!(node(&t, &journal).xattrs.contains_key("system.posix_acl_access"), "{:?}", node(&t, &journal).xattrs);
    assert!(node(&t, "/var/cache/apt/archives/openssh-server_1%3a8.9p1-3ubuntu0.6_amd64.deb").size > 0);
    assert_eq!(node(&t, "/var/cache/apt/archives/partial").kind, Kind::Dir);
    assert_eq!(node(&t, "/boot/efi").kind, Kind::Dir);
    // The ELF stand-ins are the build host's `true`.
    let host_true = sha256_file(Path::new("/usr/bin/true"));
    for p in ["/usr/bin/true", "/usr/sbin/sshd", "/usr/lib/systemd/systemd"] {
        assert_eq!(node(&t, p).sha256.as_deref(), Some(host_true.as_str()), "{p}");
    }
    // The ESP, read with mtools.
    let raw = tree::raw_copy(&fixture("sysprep-ubuntu.qcow2"));
    let esp = tree::sysprep_layout("sysprep-ubuntu")[1];
    let esp_img = tree::extract(&raw, esp.offset, esp.size);
    run("fsck.vfat", &["-n", esp_img.to_str().unwrap()]);
    let out = Command::new("mdir").env("MTOOLS_SKIP_CHECK", "1").args(["-/", "-b", "-i", esp_img.to_str().unwrap(), "::/"]).output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    for f in ["::/EFI/ubuntu/shimx64.efi", "::/EFI/ubuntu/grubx64.efi", "::/EFI/ubuntu/grub.cfg", "::/EFI/BOOT/BOOTX64.EFI"] {
        assert!(listing.lines().any(|l| l.trim() == f), "{f} not in\n{listing}");
    }
}

#[test]
fn centos7_tree_is_in_the_image() {
    let t = tree::guest_tree(&fixture("sysprep-centos7.qcow2"), "sysprep-centos7.qcow2");
    let n = assert_tree_files(&t, "sysprep-centos7", "") + assert_tree_files(&t, "sysprep-centos7-boot", "/boot");
    assert!(n > 200, "{n}");
    owner_mode(&t, "/", 0, 0, 0o555);
    owner_mode(&t, "/boot", 0, 0, 0o555);
    owner_mode(&t, "/root", 0, 0, 0o550);
    owner_mode(&t, "/home/centos", 1000, 1000, 0o700);
    owner_mode(&t, "/home/bob", 1001, 1001, 0o700);
    owner_mode(&t, "/home/bob/.bash_history", 1001, 1001, 0o600);
    owner_mode(&t, "/etc/shadow", 0, 0, 0);
    owner_mode(&t, "/etc/gshadow", 0, 0, 0);
    owner_mode(&t, "/etc/ssh/ssh_host_rsa_key", 0, 997, 0o640);
    owner_mode(&t, "/var/spool/cron/bob", 1001, 1001, 0o600);
    owner_mode(&t, "/var/spool/mail/bob", 1001, 12, 0o660);
    assert_eq!(node(&t, "/var/run").target.as_deref(), Some("../run"));
    assert_eq!(node(&t, "/etc/grub2.cfg").target.as_deref(), Some("../boot/grub2/grub.cfg"));
    for p in ["/var/lib/rpm/__db.001", "/var/lib/rpm/__db.002", "/var/lib/rpm/Packages", "/boot/vmlinuz-3.10.0-1160.el7.x86_64"] {
        assert!(node(&t, p).size > 0, "{p}");
    }
    assert!(!t.contains_key("/etc/cloud") && !t.contains_key("/usr/bin/cloud-init"), "cloud-init is not installed");
    // Every inode carries its SELinux label, as restorecon leaves a CentOS 7 system.
    for (p, n) in &t {
        let l = n.xattrs.get("security.selinux").unwrap_or_else(|| panic!("{p}: no security.selinux"));
        assert!(l.starts_with("\"system_u:object_r:") || l.starts_with("\"unconfined_u:object_r:"), "{p}: {l}");
    }
    assert_eq!(node(&t, "/etc/shadow").xattrs["security.selinux"], "\"system_u:object_r:shadow_t:s0\\000\"");
    assert_eq!(node(&t, "/boot/grub2/grub.cfg").xattrs["security.selinux"], "\"system_u:object_r:boot_t:s0\\000\"");
}

#[test]
fn diff_reports_exactly_what_debugfs_changed() {
    let raw = tree::raw_copy(&fixture("sysprep-ubuntu.qcow2"));
    let r = tree::sysprep_layout("sysprep-ubuntu")[0];
    let fs = tree::extract(&raw, r.offset, r.size);
    let before = tree::fs_tree(&fs);
    assert_eq!(tree::diff(&before, &tree::fs_tree(&fs)), Vec::<String>::new(), "a tree differs from itself");
    assert_eq!(before, tree::ext4_tree(&fixture("sysprep-ubuntu.raw"), r.offset, r.size), "raw and qcow2 twins differ");

    let new = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(new.path(), b"fresh\n").unwrap();
    let mut cmds = tempfile::NamedTempFile::new().unwrap();
    use std::io::Write;
    writeln!(cmds, "rm /etc/hostname\nsif /etc/hosts mode 0100600\nsif /etc/hosts uid 7\nwrite {} /etc/newfile", new.path().display()).unwrap();
    let out = Command::new("debugfs").arg("-w").arg("-f").arg(cmds.path()).arg(&*fs).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after = tree::fs_tree(&fs);
    assert_eq!(
        tree::diff(&before, &after),
        vec![
            "- /etc/hostname (file)".to_string(),
            "~ /etc/hosts: mode 0644 -> 0600, uid 0 -> 7".to_string(),
            "+ /etc/newfile (file)".to_string(),
        ]
    );
    assert_eq!(after["/etc/newfile"].sha256, Some(sha256_file(new.path())));
}
