//! Backing files named by untrusted images: a FIFO (as the image or as its backing file) is
//! refused at once instead of hanging; a backing name that resolves outside the image's
//! directory (absolute, `../`, or a symlink beside the image pointing elsewhere) is refused
//! unless `--backing-allow` names its directory (or `any`); backing files beside the image or
//! below it open as before. Images made by `qemu-img create -b … -F …`.

mod common;

use common::run;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn vfilesystems(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vfilesystems")).args(args).output().unwrap()
}

/// A 16 MiB raw base with a FAT filesystem (so vfilesystems has something to list).
fn base(p: &Path) {
    run("truncate", &["-s", "16M", p.to_str().unwrap()]);
    run("mkfs.vfat", &["-n", "BASE", p.to_str().unwrap()]);
}

fn overlay(over: &Path, backing: &str, fmt: &str) {
    run("qemu-img", &["create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", fmt, over.to_str().unwrap(), "16M"]);
}

fn mkfifo(p: &Path) {
    run("mkfifo", &[p.to_str().unwrap()]);
}

#[test]
fn fifos_fail_fast() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("disk.img");
    mkfifo(&fifo);
    let t = Instant::now();
    let out = vfilesystems(&["-a", fifo.to_str().unwrap()]);
    assert!(t.elapsed() < Duration::from_secs(1));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a FIFO (named pipe), not a disk image"), "{out:?}");
    // opened for writing too (the lock is taken first)
    let t = Instant::now();
    let mut g = vguestfs::Guest::new();
    g.add_drive(&fifo, vguestfs::guest::DriveOptions { readonly: false, ..Default::default() }).unwrap();
    let e = g.launch().unwrap_err().to_string();
    assert!(t.elapsed() < Duration::from_secs(1) && e.contains("FIFO"), "{e}");
    // a qcow2 whose backing file (beside it) is a FIFO
    let back = dir.path().join("back.raw");
    mkfifo(&back);
    let over = dir.path().join("over.qcow2");
    overlay(&over, "back.raw", "raw");
    let t = Instant::now();
    let out = vfilesystems(&["-a", over.to_str().unwrap()]);
    assert!(t.elapsed() < Duration::from_secs(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("back.raw") && err.contains("FIFO"), "{err}");
}

#[test]
fn backing_names_outside_the_image_directory_need_allowing() {
    let top = tempfile::tempdir().unwrap();
    let images = top.path().join("images");
    let elsewhere = top.path().join("elsewhere");
    std::fs::create_dir_all(images.join("sub")).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    base(&images.join("sub/base.raw"));
    base(&elsewhere.join("secret.raw"));
    std::os::unix::fs::symlink(elsewhere.join("secret.raw"), images.join("link.raw")).unwrap();
    let lists_base = |o: &Output| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("/dev/sda");

    // beside or below: opens
    let ok = images.join("ok.qcow2");
    overlay(&ok, "sub/base.raw", "raw");
    assert!(lists_base(&vfilesystems(&["-a", ok.to_str().unwrap()])));
    let abs_inside = images.join("abs-inside.qcow2");
    overlay(&abs_inside, images.join("sub/base.raw").to_str().unwrap(), "raw");
    assert!(lists_base(&vfilesystems(&["-a", abs_inside.to_str().unwrap()])));

    // -v prints the chain followed
    let o = vfilesystems(&["-v", "-a", ok.to_str().unwrap()]);
    let want = format!("vfilesystems: {}: backing chain: {} (qcow2) -> {} (raw)", ok.display(), ok.display(), images.join("sub/base.raw").display());
    assert!(String::from_utf8_lossy(&o.stderr).contains(&want), "{}", String::from_utf8_lossy(&o.stderr));

    // outside: absolute, ../, or a symlink beside the image — refused, naming the option
    let escaping = [
        ("abs.qcow2", elsewhere.join("secret.raw").to_str().unwrap().to_string()),
        ("dotdot.qcow2", "../elsewhere/secret.raw".to_string()),
        ("symlink.qcow2", "link.raw".to_string()),
    ];
    for (name, backing) in &escaping {
        let img = images.join(name);
        overlay(&img, backing, "raw");
        let out = vfilesystems(&["-a", img.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: opened");
        assert!(err.contains("outside the image's directory") && err.contains("--backing-allow"), "{name}: {err}");
        assert!(err.contains(elsewhere.join("secret.raw").to_str().unwrap()), "{name}: {err}");
        // allowed by directory, or by `any`
        let dir = elsewhere.to_str().unwrap();
        assert!(lists_base(&vfilesystems(&["--backing-allow", dir, "-a", img.to_str().unwrap()])), "{name}");
        assert!(lists_base(&vfilesystems(&["--backing-allow", "any", "-a", img.to_str().unwrap()])), "{name}");
        // another directory does not allow it
        let other = images.join("sub");
        assert!(!vfilesystems(&["--backing-allow", other.to_str().unwrap(), "-a", img.to_str().unwrap()]).status.success());
    }
}
