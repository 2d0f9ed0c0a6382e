//! `vimage-info`: `qemu-img info` safe on untrusted files. On trusted fixtures its JSON fields
//! equal `qemu-img info --output=json`'s and its human form `qemu-img info`'s lines; unsafe
//! images (made with qemu-img and xorriso, plus dd for the polyglot) get exit 1 and a reason
//! each, without anything they name being opened; an unreadable file exit 2.

mod common;

use common::{fixture, run};
use serde_json::Value as J;
use std::process::{Command, Output};

fn vimage_info(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vimage-info")).args(args).output().unwrap()
}

fn json(args: &[&str]) -> (i32, J) {
    let mut a = vec!["--output", "json"];
    a.extend(args);
    let o = vimage_info(&a);
    (o.status.code().unwrap(), serde_json::from_slice(&o.stdout).unwrap_or(J::Null))
}

#[test]
fn trusted_images_read_as_qemu_img_says() {
    for name in ["guest-el9.qcow2", "qcow2-compressed.qcow2", "gpt-esp-ext4.raw", "guest-ubuntu.qcow2"] {
        let img = fixture(name);
        let p = img.to_str().unwrap();
        let (code, ours) = json(&[p]);
        assert_eq!(code, 0, "{name}: {ours}");
        assert_eq!(ours["safe"], true);
        let theirs: J = serde_json::from_str(&run("qemu-img", &["info", "--output=json", p])).unwrap();
        for k in ["format", "virtual-size", "cluster-size", "dirty-flag", "format-specific"] {
            assert_eq!(ours[k], theirs[k], "{name}: {k}");
        }
        // the human form: qemu-img's lines but the disk size (allocation may be rounded
        // differently) and the safe line
        let human = String::from_utf8(vimage_info(&[p]).stdout).unwrap();
        let theirs = run("qemu-img", &["info", p]);
        for line in theirs.lines().filter(|l| !l.starts_with("disk size") && !l.starts_with("Child node") && !l.contains("filename:") && !l.contains("protocol type")) {
            if line.starts_with("    ") && !human.contains("Format specific") {
                continue;
            }
            assert!(human.contains(line), "{name}: '{line}' missing in\n{human}");
        }
        assert!(human.ends_with("safe: yes\n"), "{human}");
    }
}

#[test]
fn unsafe_images_are_named_without_opening_what_they_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    // a backing file that is a host file, a FIFO even (a reader following it would hang)
    run("mkfifo", &[&d("fifo")]);
    run("qemu-img", &["create", "-q", "-f", "qcow2", "-u", "-b", &d("fifo"), "-F", "raw", &d("back.qcow2"), "64M"]);
    let (code, j) = json(&[&d("back.qcow2")]);
    assert_eq!(code, 1);
    assert_eq!(j["backing-filename"], d("fifo"));
    assert!(j["reasons"][0].as_str().unwrap().contains("qcow2 backing file"), "{j}");
    // declared raw, detected qcow2
    run("qemu-img", &["create", "-q", "-f", "qcow2", &d("plain.qcow2"), "64M"]);
    assert_eq!(json(&[&d("plain.qcow2")]).0, 0);
    let (code, j) = json(&["--format", "raw", &d("plain.qcow2")]);
    assert_eq!(code, 1);
    assert!(j["reasons"].to_string().contains("declared format raw but the file is qcow2"), "{j}");
    // an ISO whose system area holds a qcow2 header: two formats at once
    std::fs::create_dir(d("isotree")).unwrap();
    std::fs::write(dir.path().join("isotree/readme.txt"), b"hello").unwrap();
    run("xorriso", &["-as", "mkisofs", "-quiet", "-o", &d("x.iso"), &d("isotree")]);
    let (code, j) = json(&[&d("x.iso")]);
    assert_eq!((code, j["format"].as_str()), (0, Some("raw")), "{j}");
    run("dd", &[&format!("if={}", d("plain.qcow2")), &format!("of={}", d("x.iso")), "bs=512", "count=1", "conv=notrunc", "status=none"]);
    let (code, j) = json(&[&d("x.iso")]);
    assert_eq!(code, 1);
    assert!(j["reasons"].to_string().contains("several formats at once (qcow2, iso9660)"), "{j}");
    // a format we do not check yet
    run("qemu-img", &["create", "-q", "-f", "vmdk", &d("x.vmdk"), "64M"]);
    let (code, j) = json(&[&d("x.vmdk")]);
    assert_eq!((code, j["format"].as_str()), (1, Some("vmdk")), "{j}");
    // unreadable
    assert_eq!(vimage_info(&[&d("nope")]).status.code(), Some(2));
    assert_eq!(vimage_info(&[&d("fifo")]).status.code(), Some(2));
}
