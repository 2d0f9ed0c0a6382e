//! `vsysprep`, judged by other people's tools: every run is on a copy of a fixture built with
//! real tools; afterwards each ext2/3/4 filesystem of the guest must pass `e2fsck -fn`, the
//! qcow2 `qemu-img check`, and the guest files read back through `debugfs` must be as
//! virt-sysprep(1) describes. `--dry-run` must list exactly the changes a real run makes and
//! leave the image byte-identical; a second run must change nothing.

mod common;

use common::{fixture, run, sha256_file};
use serde_json::Value as J;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use vguestfs::guest::DriveOptions;
use vguestfs::Guest;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vsysprep")
}

fn vsysprep(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().expect("run vsysprep")
}

/// Runs vsysprep, which must succeed; returns stdout.
fn ok(args: &[&str]) -> String {
    let o = vsysprep(args);
    assert!(o.status.success(), "vsysprep {args:?}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A scratch copy of a fixture.
fn copy(src: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join(src.file_name().unwrap());
    run("cp", &["--sparse=always", src.to_str().unwrap(), dst.to_str().unwrap()]);
    (dir, dst)
}

/// Every (action, path) of a `--json` report, per operation.
fn changes(report: &J) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for op in report["operations"].as_array().unwrap() {
        for c in op["changes"].as_array().unwrap() {
            out.push((op["name"].as_str().unwrap().to_string(), c["action"].as_str().unwrap().to_string(), c["path"].as_str().unwrap().to_string()));
        }
    }
    out
}

fn json_run(args: &[&str]) -> J {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    serde_json::from_str(&ok(&a)).unwrap()
}

/// The ext2/3/4 and XFS filesystems of a guest image (device name, a raw copy of its bytes
/// read through our stack): e2fsck, xfs_repair and debugfs then judge the bytes.
fn filesystems(img: &Path, dir: &Path) -> Vec<(String, PathBuf)> {
    let mut g = Guest::new();
    g.add_drive(img, DriveOptions::default()).unwrap();
    g.launch().unwrap();
    let mut out = Vec::new();
    for (dev, kind) in g.list_filesystems().unwrap() {
        if !kind.starts_with("ext") && kind != "xfs" {
            continue;
        }
        let d = g.device(&dev).unwrap();
        let path = dir.join(dev.trim_start_matches("/dev/").replace('/', "-"));
        let mut buf = vec![0u8; d.len() as usize];
        d.read_at(&mut buf, 0).unwrap();
        std::fs::write(&path, &buf).unwrap();
        out.push((dev, path));
    }
    out
}

/// `e2fsck -fn` (ext2/3/4) or `xfs_repair -n` (XFS) is clean on every filesystem of the
/// image; `qemu-img check` on a qcow2.
fn assert_checkers_clean(img: &Path) -> (tempfile::TempDir, Vec<(String, PathBuf)>) {
    if img.extension().is_some_and(|e| e == "qcow2") {
        run("qemu-img", &["check", img.to_str().unwrap()]);
    }
    let dir = tempfile::tempdir().unwrap();
    let fss = filesystems(img, dir.path());
    assert!(!fss.is_empty());
    for (dev, f) in &fss {
        let xfs = std::fs::read(f).unwrap().starts_with(b"XFSB");
        let o = if xfs {
            Command::new("xfs_repair").env("PATH", format!("{}:/usr/sbin:/sbin", std::env::var("PATH").unwrap_or_default())).args(["-n", "-f", f.to_str().unwrap()]).output().unwrap()
        } else {
            Command::new("e2fsck").args(["-fn", f.to_str().unwrap()]).output().unwrap()
        };
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success() && !(xfs && text.lines().any(|l| l.contains("would") || l.contains("bad"))), "{} {dev}: {text}", if xfs { "xfs_repair -n" } else { "e2fsck -fn" });
    }
    (dir, fss)
}

/// debugfs output of one request.
fn debugfs(fs: &Path, req: &str) -> String {
    let o = Command::new("debugfs").args(["-R", req, fs.to_str().unwrap()]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Whether debugfs finds `path` on the filesystem.
fn exists(fs: &Path, path: &str) -> bool {
    let o = Command::new("debugfs").args(["-R", &format!("stat {path}"), fs.to_str().unwrap()]).output().unwrap();
    !String::from_utf8_lossy(&o.stderr).contains("File not found")
}

/// The filesystem of `fss` that holds the guest root (it has /etc/passwd).
fn root_fs(fss: &[(String, PathBuf)]) -> &Path {
    &fss.iter().find(|(_, f)| exists(f, "/etc/passwd")).expect("a root filesystem").1
}

#[test]
fn list_operations_are_virt_sysprep_s() {
    let out = ok(&["--list-operations"]);
    let mut names = Vec::new();
    for line in out.lines() {
        let (name, rest) = line.split_once(' ').unwrap();
        let default_on = rest.starts_with("* ");
        assert!(default_on || rest.starts_with("  "), "{line}");
        names.push((name.to_string(), default_on));
    }
    let sorted = {
        let mut s = names.clone();
        s.sort();
        s
    };
    assert_eq!(names, sorted, "sorted by name");
    // virt-sysprep --list-operations (guestfs-tools 1.57): name and default
    let virt_sysprep = [
        ("abrt-data", true), ("backup-files", true), ("bash-history", true), ("blkid-tab", true), ("ca-certificates", false),
        ("crash-data", true), ("cron-spool", true), ("customize", true), ("dhcp-client-state", true), ("dhcp-server-state", true),
        ("dovecot-data", true), ("firewall-rules", false), ("flag-reconfiguration", false), ("ipa-client", true),
        ("kerberos-data", false), ("kerberos-hostkeytab", true), ("logfiles", true), ("lvm-system-devices", true),
        ("machine-id", true), ("mail-spool", true), ("net-hostname", true), ("net-hwaddr", true), ("net-nmconn", true),
        ("pacct-log", true), ("package-manager-cache", true), ("pam-data", true), ("passwd-backups", true),
        ("puppet-data-log", true), ("rh-subscription-manager", true), ("rhn-systemid", true), ("rpm-db", true),
        ("samba-db-log", true), ("smolt-uuid", true), ("ssh-hostkeys", true), ("ssh-userdir", true), ("sssd-db-log", true),
        ("tmp-files", true), ("udev-persistent-net", true), ("user-account", false), ("utmp", true), ("yum-uuid", true),
        ("zsh-history", true),
    ];
    for (n, d) in virt_sysprep {
        assert!(names.contains(&(n.to_string(), d)), "{n} (default {d}) missing from:\n{out}");
    }
    for (n, d) in [("acpiphp", true), ("cloud-init", true), ("serial-console", false), ("zeroconf", false)] {
        assert!(names.contains(&(n.to_string(), d)), "{n}");
    }
    assert!(out.contains("abrt-data * Remove the crash data generated by ABRT\n"));
    assert!(out.contains("user-account   Remove the user accounts in the guest\n"));
}

#[test]
fn dry_run_lists_exactly_what_a_run_changes_and_writes_nothing() {
    let demo = common::root().join("fixtures/demo.qcow2");
    let (_d, img) = copy(&demo);
    let before = sha256_file(&img);
    let dry = json_run(&["--dry-run", img.to_str().unwrap()]);
    assert_eq!(sha256_file(&img), before, "a dry run leaves the image byte-identical");
    assert!(!img.with_extension("qcow2.vguestfs-redo").exists());
    let text = ok(&["-n", img.to_str().unwrap()]);
    assert!(text.contains("dry run: nothing was written"), "{text}");
    assert_eq!(sha256_file(&img), before);

    let real = json_run(&[img.to_str().unwrap()]);
    assert_eq!(changes(&dry), changes(&real), "the dry run lists the real run's changes");
    assert_eq!(dry["disks"][0]["bytes"], real["disks"][0]["bytes"], "and the same bytes");
    assert_ne!(sha256_file(&img), before);
    let expected: BTreeSet<(&str, &str, &str)> = [
        ("bash-history", "rm", "/root/.bash_history"),
        ("bash-history", "rm", "/home/debian/.bash_history"),
        ("ssh-hostkeys", "rm", "/etc/ssh/ssh_host_ed25519_key"),
        ("ssh-hostkeys", "rm", "/etc/ssh/ssh_host_ed25519_key.pub"),
        ("machine-id", "truncate", "/etc/machine-id"),
        ("logfiles", "rm-rf", "/var/log/syslog"),
    ]
    .into_iter()
    .collect();
    let got = changes(&real);
    for e in &expected {
        assert!(got.iter().any(|(o, a, p)| (o.as_str(), a.as_str(), p.as_str()) == *e), "{e:?} not in {got:?}");
    }
    let (_fsd, fss) = assert_checkers_clean(&img);
    let root = root_fs(&fss);
    assert!(!exists(root, "/root/.bash_history"));
    assert!(!exists(root, "/etc/ssh/ssh_host_ed25519_key"));
    assert!(exists(root, "/etc/ssh/sshd_config"), "other files stay");
    assert_eq!(debugfs(root, "cat /etc/machine-id"), "");

    // a second run finds nothing to do and writes nothing
    let after = sha256_file(&img);
    let again = json_run(&[img.to_str().unwrap()]);
    assert_eq!(changes(&again), vec![]);
    assert_eq!(again["disks"][0]["bytes"], 0);
    assert_eq!(sha256_file(&img), after);
}

#[test]
fn customize_options_are_applied_in_order() {
    let demo = common::root().join("fixtures/demo.qcow2");
    let (d, img) = copy(&demo);
    let script = d.path().join("setup.sh");
    std::fs::write(&script, "#!/bin/sh\necho configured > /etc/motd\n").unwrap();
    let upload = d.path().join("banner.txt");
    std::fs::write(&upload, "authorized use only\n").unwrap();
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDQm0mK3yJ4xA2yL6n7PjbD8B9QmT0hF5s1n2a3b4c5d test@host";
    let out = ok(&[
        "--hostname", "web01.example.com",
        "--root-password", "password:s3cret pass",
        "--ssh-inject", &format!("root:string:{key}"),
        "--mkdir", "/srv/app/conf",
        "--write", "/srv/app/conf/app.ini:[app]\nport=8080\n",
        "--append-line", "/etc/hosts:10.0.0.1 gateway",
        "--chmod", "0600:/srv/app/conf/app.ini",
        "--upload", &format!("{}:/etc", upload.display()),
        "--link", "/srv/app/conf/app.ini:/etc/app.ini:/root/app.ini",
        "--touch", "/etc/cloud-ready",
        "--delete", "/etc/ssh/sshd_*",
        "--firstboot", script.to_str().unwrap(),
        "--firstboot-command", "systemctl enable --now app",
        img.to_str().unwrap(),
    ]);
    assert!(out.contains("Setting the hostname: web01.example.com"), "{out}");
    assert!(out.contains("Setting passwords"));
    let (_fsd, fss) = assert_checkers_clean(&img);
    let root = root_fs(&fss);
    assert_eq!(debugfs(root, "cat /etc/hostname"), "web01.example.com\n");
    let hosts = debugfs(root, "cat /etc/hosts");
    assert!(hosts.ends_with("10.0.0.1 gateway\n"), "{hosts}");
    // the root password verifies with openssl's SHA-512 crypt
    let shadow = debugfs(root, "cat /etc/shadow");
    let hash = shadow.lines().find(|l| l.starts_with("root:")).unwrap().split(':').nth(1).unwrap().to_string();
    let salt = hash.split('$').nth(2).unwrap();
    assert_eq!(run("openssl", &["passwd", "-6", "-salt", salt, "s3cret pass"]).trim(), hash);
    // ssh key: directory 0700, file 0600, owned by root
    assert_eq!(debugfs(root, "cat /root/.ssh/authorized_keys"), format!("{key}\n"));
    let st = debugfs(root, "stat /root/.ssh/authorized_keys");
    assert!(st.contains("Mode:  0600") || st.contains("Mode:  00600"), "{st}");
    assert!(debugfs(root, "stat /root/.ssh").contains("Mode:  0700") || debugfs(root, "stat /root/.ssh").contains("Mode:  00700"));
    assert_eq!(debugfs(root, "cat /srv/app/conf/app.ini"), "[app]\nport=8080\n");
    assert!(debugfs(root, "stat /srv/app/conf/app.ini").contains("0600"));
    assert_eq!(debugfs(root, "cat /etc/banner.txt"), "authorized use only\n");
    assert!(debugfs(root, "stat /etc/app.ini").contains("Fast link dest: \"/srv/app/conf/app.ini\""));
    assert!(exists(root, "/etc/cloud-ready"));
    assert!(!exists(root, "/etc/ssh/sshd_config"));
    let scripts = debugfs(root, "ls -l /usr/lib/virt-sysprep/scripts");
    assert!(scripts.contains("5000-0001-"), "{scripts}");
    assert!(scripts.contains("5000-0002-systemctl-enable---now-app"), "{scripts}");
    assert!(exists(root, "/usr/lib/virt-sysprep/firstboot.sh"));
}

#[test]
fn user_account_removes_login_users_only() {
    let demo = common::root().join("fixtures/demo.qcow2");
    let (_d, img) = copy(&demo);
    let passwd_before = {
        let dir = tempfile::tempdir().unwrap();
        let fss = filesystems(&img, dir.path());
        debugfs(root_fs(&fss), "cat /etc/passwd")
    };
    let users: Vec<&str> = passwd_before.lines().filter(|l| l.split(':').nth(2).and_then(|u| u.parse::<u32>().ok()).is_some_and(|u| (1000..=60000).contains(&u))).map(|l| l.split(':').next().unwrap()).collect();
    assert!(!users.is_empty(), "the demo has login users");
    ok(&["--operations", "user-account", img.to_str().unwrap()]);
    let (_fsd, fss) = assert_checkers_clean(&img);
    let root = root_fs(&fss);
    let passwd = debugfs(root, "cat /etc/passwd");
    for u in &users {
        assert!(!passwd.lines().any(|l| l.starts_with(&format!("{u}:"))), "{u} still in passwd");
        assert!(!debugfs(root, "cat /etc/shadow").lines().any(|l| l.starts_with(&format!("{u}:"))));
        assert!(!exists(root, &format!("/home/{u}")));
    }
    assert!(passwd.lines().any(|l| l.starts_with("root:")), "root stays");
    let err = vsysprep(&["--keep-user-accounts", "root", img.to_str().unwrap()]);
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("\"user-account\" operation is not enabled"));
}

#[test]
fn audit_reports_and_passes_after_sysprep() {
    let demo = common::root().join("fixtures/demo.qcow2");
    let (_d, img) = copy(&demo);
    let before = sha256_file(&img);
    let o = vsysprep(&["--audit", "--json", img.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "a fresh demo fails the audit");
    assert_eq!(sha256_file(&img), before, "the audit is read-only");
    let j: J = serde_json::from_slice(&o.stdout).unwrap();
    let status = |j: &J, check: &str| -> String {
        j["roots"][0]["findings"].as_array().unwrap().iter().find(|f| f["check"] == check).unwrap()["status"].as_str().unwrap().to_string()
    };
    assert_eq!(status(&j, "ssh-hostkeys"), "fail");
    assert_eq!(status(&j, "shell-history"), "fail");
    assert_eq!(status(&j, "machine-id"), "fail");
    ok(&["-q", img.to_str().unwrap()]);
    let o = vsysprep(&["--audit", "--json", img.to_str().unwrap()]);
    let j: J = serde_json::from_slice(&o.stdout).unwrap();
    for c in ["ssh-hostkeys", "shell-history", "machine-id", "mac-pins"] {
        assert_eq!(status(&j, c), "pass", "{c} after sysprep");
    }
    let text = String::from_utf8_lossy(&vsysprep(&["--audit", img.to_str().unwrap()]).stdout).into_owned();
    assert!(text.lines().any(|l| l.starts_with("PASS  ssh-hostkeys")), "{text}");
}

#[test]
fn errors_are_virt_sysprep_s() {
    let img = fixture("ext4-4k.img");
    let before = sha256_file(&img);
    let o = vsysprep(&["--format=raw", "-a", img.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("vsysprep: error: no operating systems were found in the guest image"));
    assert_eq!(sha256_file(&img), before);
    let o = vsysprep(&["--operations", "no-such-op", img.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("'no-such-op' is not a known operation"));
    let o = vsysprep(&["--run-command", "dnf -y update", img.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--run-command: running commands inside the guest"));
    let o = vsysprep(&[]);
    assert_eq!(o.status.code(), Some(1));
    // a missing image fails before any progress line, as virt-sysprep's add_drive does
    let o = vsysprep(&["-a", "/nonexistent/disk.qcow2"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty(), "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(String::from_utf8_lossy(&o.stderr).trim(), "vsysprep: error: /nonexistent/disk.qcow2: No such file or directory (os error 2)");
}

/// Whether `path` is one a change names (or lies below a removed tree).
fn covered(path: &str, changes: &[(String, String, String)]) -> bool {
    changes.iter().any(|(_, action, p)| path == p || (action == "rm-rf" && path.starts_with(&format!("{p}/"))))
}

/// A full sysprep of a fixture: the dry run lists the run's changes exactly and leaves the
/// image alone; the whole-tree diff (debugfs) contains exactly the reported paths; the
/// checkers pass; a second run changes nothing. Returns the report and the tree diff.
fn full_run(name: &str, extra: &[&str]) -> (J, Vec<String>, common::tree::Tree) {
    let (_d, img) = copy(&fixture(name));
    let before = common::tree::guest_tree(&img, name);
    let sha = sha256_file(&img);
    let mut args: Vec<&str> = extra.to_vec();
    args.push(img.to_str().unwrap());
    let mut dry_args = vec!["--dry-run"];
    dry_args.extend_from_slice(&args);
    let dry = json_run(&dry_args);
    assert_eq!(sha256_file(&img), sha, "dry run wrote to the image");
    let real = json_run(&args);
    assert_eq!(changes(&dry), changes(&real), "--dry-run lists the real run's changes");
    let after = common::tree::guest_tree(&img, name);
    let diff = common::tree::diff(&before, &after);
    let ch = changes(&real);
    for line in &diff {
        let path = line[2..].split(": ").next().unwrap().split(" (").next().unwrap();
        assert!(covered(path, &ch), "{name}: {line} is not in the report");
    }
    for (op, _, p) in &ch {
        assert!(diff.iter().any(|l| l[2..].starts_with(p.as_str())) || before.get(p) == after.get(p) && op == "customize", "{name}: {op} reported {p} but it did not change");
    }
    assert_checkers_clean(&img);
    let sha2 = sha256_file(&img);
    let again = json_run(&args);
    assert_eq!(changes(&again), vec![], "{name}: the second run changed something");
    assert_eq!(sha256_file(&img), sha2, "{name}: the second run wrote to the image");
    (real, diff, after)
}

#[test]
fn ubuntu_image_is_cleaned_as_virt_sysprep_describes() {
    let (_report, diff, after) = full_run("sysprep-ubuntu.qcow2", &[]);
    let removed = |p: &str| diff.iter().any(|l| l == &format!("- {p} (file)") || l.starts_with(&format!("- {p} (")));
    for p in [
        "/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ed25519_key.pub", "/root/.bash_history", "/home/ubuntu/.bash_history",
        "/home/alice/.zsh_history", "/root/.ssh", "/home/ubuntu/.ssh/authorized_keys", "/var/log/syslog", "/var/log/auth.log",
        "/var/log/wtmp", "/var/lib/dhcp/dhclient.eth0.leases", "/etc/passwd-", "/etc/shadow-",
        "/var/spool/cron/crontabs/ubuntu", "/var/mail/alice", "/etc/hosts~", "/var/backups/passwd.bak", "/tmp/.hidden-lock",
        "/etc/krb5.keytab", "/etc/lvm/devices/system.devices", "/var/lib/cloud/instance", "/var/log/cloud-init.log", "/run/utmp",
    ] {
        assert!(removed(p), "{p} should be gone; diff:\n{}", diff.join("\n"));
    }
    for p in ["/etc/machine-id", "/etc/udev/rules.d/70-persistent-net.rules", "/var/log/account/pacct"] {
        assert_eq!(after[p].size, 0, "{p} emptied");
    }
    // kept: directories, the system files next to what went, files outside backup-files' roots
    for p in ["/tmp", "/var/tmp", "/var/log", "/etc/ssh/sshd_config", "/etc/hosts", "/home/ubuntu/.profile", "/usr/share/doc/bash/README~", "/var/cache/apt/archives"] {
        assert!(after.contains_key(p), "{p} must stay");
    }
    assert_eq!(after["/tmp"].mode, 0o1777);
    // MAC pins gone from netplan, networkd and NetworkManager; acpiphp and the cloud-init drop-in added
    let changed = |p: &str| diff.iter().any(|l| l.starts_with(&format!("~ {p}:")));
    for p in ["/etc/netplan/50-cloud-init.yaml", "/etc/systemd/network/10-eth0.link", "/etc/NetworkManager/system-connections/Wired.nmconnection", "/etc/modules"] {
        assert!(changed(p), "{p} edited");
    }
    assert!(diff.iter().any(|l| l == "+ /etc/cloud/cloud.cfg.d/95_vsysprep_openstack.cfg (file)"));
    let (_fsd, fss) = assert_checkers_clean(&{
        // a fresh copy run through the same, to read the edited files back with debugfs
        let (d, img) = copy(&fixture("sysprep-ubuntu.raw"));
        ok(&["-q", img.to_str().unwrap()]);
        std::mem::forget(d);
        img
    });
    let root = root_fs(&fss);
    let netplan = debugfs(root, "cat /etc/netplan/50-cloud-init.yaml");
    assert!(!netplan.contains("macaddress"), "{netplan}");
    assert!(!debugfs(root, "cat /etc/systemd/network/10-eth0.link").contains("MACAddress="));
    assert!(!debugfs(root, "cat /etc/NetworkManager/system-connections/Wired.nmconnection").contains("mac-address="));
    assert!(debugfs(root, "cat /etc/modules").lines().any(|l| l == "acpiphp"));
    assert!(debugfs(root, "cat /etc/cloud/cloud.cfg.d/95_vsysprep_openstack.cfg").contains("datasource_list: [ ConfigDrive, OpenStack, None ]"));
}

/// The CentOS 7 trees on XFS (`/` and `/boot`, SELinux labels on every file), as RHEL-family
/// images since 7 are: the same run as on ext4 must do the same to the guest — every change
/// reported, the dry run equal to the run, a second run changing nothing, `xfs_repair -n` and
/// `qemu-img check` clean; the kernel reads the trees before and after.
#[test]
fn el_xfs_image_is_cleaned_as_on_ext4() {
    let ops = ["--operations", "defaults,user-account,zeroconf,serial-console,firewall-rules"];
    let (_report, diff, after) = full_run("sysprep-el-xfs.qcow2", &ops);
    let (_r7, diff7, _after7) = full_run("sysprep-centos7.qcow2", &ops);
    // the same paths changed the same way as on the ext4 twin (inode numbers aside)
    let paths = |d: &[String]| -> Vec<String> { d.iter().map(|l| l.split(": ").next().unwrap().to_string()).collect() };
    assert_eq!(paths(&diff), paths(&diff7));
    assert!(after.contains_key("/var/lib/rpm/Packages") && !after.contains_key("/var/log/audit/audit.log"));
}

#[test]
fn centos7_lvm_image_is_cleaned_as_virt_sysprep_describes() {
    let (report, diff, after) = full_run("sysprep-centos7.qcow2", &["--operations", "defaults,user-account,zeroconf,serial-console,firewall-rules"]);
    let removed = |p: &str| diff.iter().any(|l| l.starts_with(&format!("- {p} (")));
    for p in [
        "/etc/ssh/ssh_host_rsa_key", "/root/.bash_history", "/home/bob", "/var/lib/rpm/__db.001", "/var/lib/yum/uuid",
        "/etc/smolt/hw-uuid", "/var/log/messages", "/var/log/secure", "/var/log/audit/audit.log",
        "/var/lib/dhclient/dhclient-eth0.leases", "/etc/sysconfig/iptables",
    ] {
        assert!(removed(p), "{p} should be gone; diff:\n{}", diff.join("\n"));
    }
    assert!(after.contains_key("/var/lib/rpm/Packages"), "the RPM database itself stays");
    assert!(after.contains_key("/etc/sysconfig/rhn/systemid"), "rhn-systemid is for RHEL only");
    assert!(after.contains_key("/boot/grub2/grub.cfg"), "/boot is mounted and kept");
    // the OpenStack guide's udev steps: both rule files emptied, the generator masked in /etc
    for p in ["/etc/udev/rules.d/70-persistent-net.rules", "/usr/lib/udev/rules.d/75-persistent-net-generator.rules", "/etc/udev/rules.d/75-persistent-net-generator.rules"] {
        assert_eq!(after[p].size, 0, "{p} empty");
    }
    assert!(diff.iter().any(|l| l == "+ /etc/modules-load.d/acpiphp.conf (file)"), "acpiphp through systemd's modules-load.d");
    let warnings: Vec<&str> = report["operations"].as_array().unwrap().iter().flat_map(|o| o["warnings"].as_array().unwrap()).filter_map(|w| w.as_str()).collect();
    assert!(warnings.iter().any(|w| w.contains("cloud-init is not installed")), "{warnings:?}");
    // read the edited files back
    let (d, img) = copy(&fixture("sysprep-centos7.raw"));
    ok(&["-q", "--operations", "defaults,user-account,zeroconf,serial-console", img.to_str().unwrap()]);
    let (_fsd, fss) = assert_checkers_clean(&img);
    drop(d);
    let root = root_fs(&fss);
    let ifcfg = debugfs(root, "cat /etc/sysconfig/network-scripts/ifcfg-eth0");
    for gone in ["HWADDR=", "DHCP_HOSTNAME=", "HOSTNAME="] {
        assert!(!ifcfg.lines().any(|l| l.starts_with(gone)), "{gone} in {ifcfg}");
    }
    assert!(!debugfs(root, "cat /etc/sysconfig/network-scripts/ifcfg-eth1").contains("MACADDR="));
    assert!(debugfs(root, "cat /etc/sysconfig/network").lines().any(|l| l == "NOZEROCONF=yes"));
    assert!(debugfs(root, "cat /etc/default/grub").contains("console=ttyS0,115200n8"));
    let passwd = debugfs(root, "cat /etc/passwd");
    assert!(!passwd.contains("\nbob:") && !passwd.contains("\ncentos:"), "{passwd}");
    assert!(passwd.starts_with("root:"));
    for f in ["/etc/group", "/etc/gshadow"] {
        let t = debugfs(root, &format!("cat {f}"));
        assert!(!t.lines().any(|l| l.split(':').next_back().is_some_and(|m| m.split(',').any(|u| u == "bob"))), "{f}: {t}");
    }
    let boot = &fss.iter().find(|(dev, _)| dev == "/dev/sda1").unwrap().1;
    assert!(debugfs(boot, "cat /grub2/grub.cfg").contains("console=ttyS0,115200n8"), "kernel lines of /boot/grub2/grub.cfg");
    assert!(exists(root, "/.autorelabel"), "SELinux guest flagged for relabelling");
}

#[test]
fn an_image_in_use_by_qemu_is_refused_and_left_alone() {
    let demo = common::root().join("fixtures/demo.qcow2");
    let (_d, img) = copy(&demo);
    let before = sha256_file(&img);
    let mut qemu = Command::new("qemu-io")
        .args(["-f", "qcow2", img.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // wait until qemu-io holds its locks (the kernel's lock table names the image's inode)
    use std::os::unix::fs::MetadataExt;
    let ino = format!(":{} ", std::fs::metadata(&img).unwrap().ino());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::fs::read_to_string("/proc/locks").unwrap().lines().any(|l| l.contains("OFDLCK") && l.contains(&ino)) {
        assert!(std::time::Instant::now() < deadline, "qemu-io never locked the image");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = vsysprep(&["-q", img.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let refused = String::from_utf8_lossy(&o.stderr).into_owned();
    // a dry run opens the image read-only and may look at it meanwhile
    ok(&["-q", "--dry-run", img.to_str().unwrap()]);
    use std::io::Write as _;
    qemu.stdin.take().unwrap().write_all(b"quit\n").unwrap();
    assert!(qemu.wait().unwrap().success());
    assert!(refused.contains("vsysprep: error:"), "{refused}");
    assert!(refused.contains("is in use by another process"), "{refused}");
    assert_eq!(sha256_file(&img), before, "the held image is unchanged");
}

/// Customize values that would land in shell-sourced guest files are refused before any work:
/// a host name carrying a command or a second line, a timezone path escaping zoneinfo. The
/// image is not even opened (its bytes and its lock stay as they were).
#[test]
fn bad_customize_values_are_refused_before_any_work() {
    let (_d, img) = copy(&common::root().join("fixtures/demo.qcow2"));
    let before = sha256_file(&img);
    for (opt, value) in [("--hostname", "web01\nHACK=1"), ("--hostname", "$(reboot)"), ("--timezone", "../../../etc/shadow")] {
        let o = vsysprep(&[opt, value, img.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{opt} {value:?} accepted");
        assert!(!err.contains("Examining the guest") && !String::from_utf8_lossy(&o.stdout).contains("Examining"), "{err}");
        assert!(err.contains(opt), "{err}");
    }
    assert_eq!(sha256_file(&img), before);
}

/// The image guide's linter checks (issue 21 item 3): sshd's effective settings as sshd reads
/// them (an Include'd drop-in first, its first value winning over the main file's), a root
/// password set by `openssl passwd -6` to a well-known one, qemu-guest-agent; `--audit-ignore`
/// leaves a check out and names it in the JSON.
#[test]
fn audit_lints_sshd_root_password_and_guest_agent() {
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("tree");
    run("cp", &["-a", common::root().join("fixtures/trees/ubuntu").to_str().unwrap(), tree.to_str().unwrap()]);
    let put = |p: &str, text: &str| {
        let f = tree.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    };
    // what fixtures/mk-guests.sh adds to a tree: /bin -> usr/bin and an ELF binary
    for dir in ["dev", "proc", "sys", "tmp", "root", "usr/bin"] {
        std::fs::create_dir_all(tree.join(dir)).unwrap();
    }
    if !tree.join("bin").exists() {
        std::os::unix::fs::symlink("usr/bin", tree.join("bin")).unwrap();
    }
    std::fs::copy("/usr/bin/true", tree.join("usr/bin/true")).unwrap();
    put("usr/sbin/sshd", "");
    put("usr/bin/qemu-ga", "");
    put("etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\nPasswordAuthentication yes\nMatch User x\n  PasswordAuthentication no\n");
    put("etc/ssh/sshd_config.d/50-cloud.conf", "PasswordAuthentication no\n");
    let hash = run("openssl", &["passwd", "-6", "-salt", "saltsalt", "changeme"]);
    put("etc/shadow", &format!("root:{}:19000:0:99999:7:::\n", hash.trim()));
    let img = d.path().join("guest.img");
    run("mkfs.ext4", &["-q", "-F", "-d", tree.to_str().unwrap(), img.to_str().unwrap(), "64M"]);
    let o = vsysprep(&["--audit", "--json", "-a", img.to_str().unwrap()]);
    let j: J = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    let get = |j: &J, check: &str| -> (String, String) {
        let f = j["roots"][0]["findings"].as_array().unwrap().iter().find(|f| f["check"] == check).unwrap_or_else(|| panic!("no {check} in {j}"));
        (f["status"].as_str().unwrap().to_string(), f["detail"].as_str().unwrap().to_string())
    };
    assert_eq!(get(&j, "ssh-root-login"), ("warn".into(), "PermitRootLogin yes (/etc/ssh/sshd_config): root logs in with a password".into()));
    assert_eq!(get(&j, "ssh-password-auth"), ("pass".into(), "PasswordAuthentication no (/etc/ssh/sshd_config.d/50-cloud.conf)".into()));
    assert_eq!(get(&j, "root-password"), ("fail".into(), "set to the well-known password 'changeme'".into()));
    assert_eq!(get(&j, "qemu-guest-agent").0, "pass");
    let o = vsysprep(&["--audit", "--json", "--audit-ignore", "root-password", "--audit-ignore", "ssh-root-login", "-a", img.to_str().unwrap()]);
    let j: J = serde_json::from_slice(&o.stdout).unwrap();
    let checks: Vec<&str> = j["roots"][0]["findings"].as_array().unwrap().iter().filter_map(|f| f["check"].as_str()).collect();
    assert!(!checks.contains(&"root-password") && !checks.contains(&"ssh-root-login") && checks.contains(&"ssh-password-auth"), "{checks:?}");
    assert_eq!(j["ignored"], serde_json::json!(["root-password", "ssh-root-login"]));
    let bad = vsysprep(&["--audit", "--audit-ignore", "no-such-check", "-a", img.to_str().unwrap()]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("root-password"), "the error lists the checks");
}

/// The image guide's linter, network and boot (issue 21 item 3): DHCP found per network stack
/// (each a guest of its own, made by mkfs.ext4 -d from the Ubuntu tree), and none when the
/// only configuration is static, loopback or a cloud-init with its network turned off; the
/// boot loader found per firmware on the fixtures (an unpartitioned disk has none).
#[test]
fn audit_finds_dhcp_per_network_stack_and_the_boot_loader() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("base");
    run("cp", &["-a", common::root().join("fixtures/trees/ubuntu").to_str().unwrap(), base.to_str().unwrap()]);
    for dir in ["dev", "proc", "sys", "tmp", "root", "usr/bin"] {
        std::fs::create_dir_all(base.join(dir)).unwrap();
    }
    if !base.join("bin").exists() {
        std::os::unix::fs::symlink("usr/bin", base.join("bin")).unwrap();
    }
    std::fs::copy("/usr/bin/true", base.join("usr/bin/true")).unwrap();
    for stale in ["etc/network", "etc/netplan", "etc/systemd/network", "etc/NetworkManager", "etc/sysconfig", "etc/cloud", "usr/bin/cloud-init"] {
        let p = base.join(stale);
        let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
    }
    // (guest, files written into it, the dhcp finding's detail when it passes)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a str>);
    let cases: &[Case] = &[
        ("static", &[("etc/network/interfaces", "auto lo\niface lo inet dhcp\niface eth0 inet static\n  address 10.0.0.2/24\n")], None),
        ("cloud-init-off", &[("usr/bin/cloud-init", ""), ("etc/cloud/cloud.cfg.d/99-net.cfg", "network: {config: disabled}\n")], None),
        ("ifupdown", &[("etc/network/interfaces.d/50-eth", "# comment\nauto ens3\niface ens3 inet dhcp\n")], Some("ifupdown: ens3 in /etc/network/interfaces.d/50-eth")),
        ("netplan", &[("etc/netplan/50-cloud.yaml", "network:\n  ethernets:\n    eth0:\n      dhcp4: true\n")], Some("netplan: /etc/netplan/50-cloud.yaml")),
        ("networkd", &[("etc/systemd/network/20-wired.network", "[Match]\nName=en*\n[Network]\nDHCP=ipv4\n")], Some("systemd-networkd: /etc/systemd/network/20-wired.network")),
        ("nm-keyfile", &[("etc/NetworkManager/system-connections/eth0.nmconnection", "[connection]\nid=eth0\ntype=ethernet\n[ipv4]\nmethod=auto\n")], Some("NetworkManager: /etc/NetworkManager/system-connections/eth0.nmconnection")),
        ("ifcfg", &[("etc/sysconfig/network-scripts/ifcfg-eth0", "DEVICE=eth0\nBOOTPROTO=\"dhcp\"\nONBOOT=yes\n"), ("etc/sysconfig/network-scripts/ifcfg-lo", "BOOTPROTO=dhcp\n")], Some("ifcfg: /etc/sysconfig/network-scripts/ifcfg-eth0")),
        ("cloud-init", &[("usr/bin/cloud-init", ""), ("etc/cloud/cloud.cfg", "users:\n  - default\n")], Some("cloud-init (DHCP on the first NIC unless the datasource says otherwise)")),
    ];
    let finding = |img: &std::path::Path, check: &str| -> (String, String) {
        let o = vsysprep(&["--audit", "--json", "-a", img.to_str().unwrap()]);
        let j: J = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
        let f = j["roots"][0]["findings"].as_array().unwrap().iter().find(|f| f["check"] == check).unwrap_or_else(|| panic!("no {check} in {j}")).clone();
        (f["status"].as_str().unwrap().to_string(), f["detail"].as_str().unwrap().to_string())
    };
    for (name, files, want) in cases {
        let tree = d.path().join(name);
        run("cp", &["-a", base.to_str().unwrap(), tree.to_str().unwrap()]);
        for (p, text) in *files {
            let f = tree.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, text).unwrap();
        }
        let img = d.path().join(format!("{name}.img"));
        run("mkfs.ext4", &["-q", "-F", "-d", tree.to_str().unwrap(), img.to_str().unwrap(), "64M"]);
        let (status, detail) = finding(&img, "dhcp");
        match want {
            Some(w) => assert_eq!((status.as_str(), detail.as_str()), ("pass", *w), "{name}"),
            None => assert_eq!(status, "fail", "{name}: {detail}"),
        }
        if *name == "static" {
            assert_eq!(finding(&img, "boot-loader"), ("fail".into(), "no boot loader: no boot code in an MBR, no BIOS boot partition, no EFI loader on an ESP".into()));
        }
    }
    assert_eq!(finding(&fixture("guest-el9.qcow2"), "boot-loader"), ("pass".into(), "BIOS (/dev/sda1: BIOS boot partition) and UEFI (/dev/sda2: /EFI/BOOT/BOOTX64.EFI)".into()));
    assert_eq!(finding(&fixture("guest-ubuntu.qcow2"), "boot-loader"), ("pass".into(), "UEFI only (/dev/sda1: /EFI/ubuntu/grubx64.efi): upload with hw_firmware_type=uefi".into()));
}
