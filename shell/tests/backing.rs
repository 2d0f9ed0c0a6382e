//! `--backing-allow`: a qcow2 whose backing name escapes its directory (`../`) is refused
//! by vfish naming the option, and opens when the option allows it. Images made by
//! `qemu-img create -b … -F …` and `mkfs.vfat`.
mod common;

use common::{tool, vfish};

#[test]
fn escaping_backing_files_need_backing_allow() {
    let top = tempfile::tempdir().unwrap();
    let (images, elsewhere) = (top.path().join("images"), top.path().join("elsewhere"));
    std::fs::create_dir_all(&images).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let base = elsewhere.join("base.raw");
    tool("truncate", &["-s", "16M", base.to_str().unwrap()]);
    tool("mkfs.vfat", &["-n", "BASE", base.to_str().unwrap()]);
    let img = images.join("over.qcow2");
    tool("qemu-img", &["create", "-q", "-f", "qcow2", "-u", "-b", "../elsewhere/base.raw", "-F", "raw", img.to_str().unwrap(), "16M"]);
    let img = img.to_str().unwrap();
    let refused = vfish(&["--ro", "-a", img, "run"], None);
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("outside the image's directory") && refused.stderr.contains("--backing-allow"), "{refused:?}");
    for allow in ["any", elsewhere.to_str().unwrap()] {
        let out = vfish(&["--ro", "--backing-allow", allow, "-a", img, "run", ":", "vfs-label", "/dev/sda"], None);
        assert_eq!((out.code, out.stdout.as_str()), (0, "BASE\n"), "{out:?}");
    }
}
