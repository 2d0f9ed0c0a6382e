//! vfish --rw sessions and the write-safety layer: a writable drive is refused while another
//! process (here qemu-io) holds the image, a leftover redo log is reported, and a session that
//! changes nothing leaves the image byte-identical.

mod common;

use common::{sha256_file, vfish};
use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn rw_refuses_an_image_qemu_holds_and_ro_still_reads_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("demo.qcow2");
    std::fs::copy(common::demo(), &img).expect("copy");
    let p = img.to_string_lossy().into_owned();
    let mut qemu = Command::new("qemu-io")
        .args(["-f", "qcow2", &p])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-io");
    let mut stdin = qemu.stdin.take().expect("stdin");
    // wait until the kernel lists qemu-io's locks on the image
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&img).expect("stat")).to_string();
    let start = std::time::Instant::now();
    while !std::fs::read_to_string("/proc/locks")
        .expect("/proc/locks")
        .lines()
        .any(|l| l.contains("OFDLCK") && l.split_whitespace().any(|f| f.matches(':').count() == 2 && f.ends_with(&format!(":{ino}"))))
    {
        assert!(start.elapsed().as_secs() < 20, "qemu-io never locked the image");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let o = vfish(&["--rw", "-a", &p, "run"], None);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("is in use by another process (a running QEMU/VM?) — refusing to write"), "{}", o.stderr);
    let o = vfish(&["--ro", "-a", &p, "run", ":", "list-devices"], None);
    assert_eq!((o.code, o.stdout.as_str()), (0, "/dev/sda\n"), "{}", o.stderr);
    stdin.write_all(b"quit\n").expect("quit");
    drop(stdin);
    assert!(qemu.wait().expect("wait").success());
    let before = sha256_file(&img);
    let o = vfish(&["--rw", "-a", &p, "run", ":", "list-devices"], None);
    assert_eq!((o.code, o.stdout.as_str()), (0, "/dev/sda\n"), "{}", o.stderr);
    assert_eq!(sha256_file(&img), before, "a session that changed nothing wrote to the image");
}

#[test]
fn an_incomplete_redo_log_is_reported_and_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("demo.qcow2");
    std::fs::copy(common::demo(), &img).expect("copy");
    let log = dir.path().join("demo.qcow2.vguestfs-redo");
    std::fs::write(&log, b"VGFSREDO truncated").expect("log");
    let p = img.to_string_lossy().into_owned();
    let before = sha256_file(&img);
    let o = vfish(&["--ro", "-a", &p, "run"], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("ignoring") && o.stderr.contains("vguestfs-redo"), "{}", o.stderr);
    assert!(log.exists());
    let o = vfish(&["--rw", "-a", &p, "run"], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("removed") && o.stderr.contains("the image is as it was"), "{}", o.stderr);
    assert!(!log.exists());
    assert_eq!(sha256_file(&img), before);
}
