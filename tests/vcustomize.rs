//! `vcustomize` (virt-customize's file-level options) on scratch copies of the Ubuntu guest:
//! the changes are judged by debugfs (content, modes) and e2fsck (clean), and equal those of
//! `vsysprep --operations customize` with the same options (one implementation); options
//! that would run guest programs are refused with the reason and a pointer to `--firstboot`;
//! `-n` and every refusal leave the image byte-identical.

mod common;

use common::ext4w::{assert_fsck_clean, debugfs_text, scratch, stat_field};
use common::{run, sha256_file};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tool(bin: &str, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().unwrap()
}

/// The ext4 root (partition 2, sectors 34816..) of a guest-ubuntu image, as a file.
fn root_fs(img: &Path, dir: &Path) -> PathBuf {
    let out = dir.join("root.ext4");
    let (i, o) = (format!("if={}", img.display()), format!("of={}", out.display()));
    run("dd", &[&i, &o, "bs=512", "skip=34816", "count=96223", "conv=sparse", "status=none"]);
    out
}

const OPTIONS: &[&str] = &[
    "--hostname",
    "web01",
    "--write",
    "/etc/motd:hello from vcustomize",
    "--append-line",
    "/etc/hosts:10.1.1.1 db01",
    "--mkdir",
    "/opt/app/conf",
    "--chmod",
    "0700:/opt/app",
    "--link",
    "/opt/app/conf:/etc/app",
    "--firstboot-command",
    "touch /var/lib/first",
];

#[test]
fn file_options_are_judged_by_debugfs_and_equal_vsysprep_s() {
    let work = tempfile::tempdir().unwrap();
    let a = scratch("guest-ubuntu.raw");
    let mut args = vec!["-a", a.path.to_str().unwrap()];
    args.extend(OPTIONS);
    let o = tool(env!("CARGO_BIN_EXE_vcustomize"), &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for line in ["] Examining the guest ...", "] Setting the hostname: web01", "] Finishing off"] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
    let fs = root_fs(&a.path, work.path());
    assert_fsck_clean(&fs);
    assert_eq!(debugfs_text(&fs, "cat /etc/hostname"), "web01\n");
    assert_eq!(debugfs_text(&fs, "cat /etc/motd"), "hello from vcustomize");
    assert!(debugfs_text(&fs, "cat /etc/hosts").ends_with("10.1.1.1 db01\n"));
    assert!(stat_field(&debugfs_text(&fs, "stat /opt/app"), "Mode").starts_with("0700"));
    assert!(debugfs_text(&fs, "stat /etc/app").contains("Fast link dest: \"/opt/app/conf\""));

    // vsysprep's customize operation, same options: the same files
    let b = scratch("guest-ubuntu.raw");
    let mut args = vec!["-a", b.path.to_str().unwrap(), "--operations", "customize"];
    args.extend(OPTIONS);
    let o = tool(env!("CARGO_BIN_EXE_vsysprep"), &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir_b = work.path().join("b");
    std::fs::create_dir(&dir_b).unwrap();
    let fs_b = root_fs(&b.path, &dir_b);
    for f in ["/etc/hostname", "/etc/motd", "/etc/hosts", "/usr/lib/virt-sysprep/scripts/0001-touch-var-lib-first"] {
        assert_eq!(debugfs_text(&fs, &format!("cat {f}")), debugfs_text(&fs_b, &format!("cat {f}")), "{f}");
    }
    for d in ["/opt/app", "/opt/app/conf", "/etc/app"] {
        let (sa, sb) = (debugfs_text(&fs, &format!("stat {d}")), debugfs_text(&fs_b, &format!("stat {d}")));
        assert_eq!(stat_field(&sa, "Mode"), stat_field(&sb, "Mode"), "{d}");
    }
}

#[test]
fn guest_programs_are_refused_and_dry_run_writes_nothing() {
    let s = scratch("guest-ubuntu.raw");
    let img = s.path.to_str().unwrap();
    let before = sha256_file(&s.path);
    for (opt, val) in [("--install", "nginx"), ("--run", "/tmp/x.sh"), ("--run-command", "apt-get update")] {
        let o = tool(env!("CARGO_BIN_EXE_vcustomize"), &["-a", img, "--hostname", "x", opt, val]);
        assert_eq!(o.status.code(), Some(1), "{opt}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with(&format!("vcustomize: error: {opt}: ")) && err.contains("vcustomize never runs the guest (use --firstboot"), "{err}");
    }
    let o = tool(env!("CARGO_BIN_EXE_vcustomize"), &["-a", img, "-n", "--hostname", "web02", "--write", "/etc/motd:x"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("dry run: nothing was written") && stdout.contains("write /etc/motd"), "{stdout}");
    let o = tool(env!("CARGO_BIN_EXE_vcustomize"), &["-a", img, "--hostname", "bad_name!"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--hostname"), "{o:?}");
    assert_eq!(sha256_file(&s.path), before, "image modified");
}
