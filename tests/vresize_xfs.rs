//! vresize on RHEL-family guests, whose filesystems are XFS: the root grows with the
//! partition (in place and in copy mode) or with its LV, as `xfs_growfs` grows it — the
//! kernel grows a twin of the partition on a loop mount (needs root, as the fixtures do) and
//! the superblocks must agree; `xfs_repair -n` clean; shrinking an XFS partition is refused
//! with the reason.

mod common;

use common::{copy_fixture as copy, vresize, vresize_ok as ok};
use common::xfs::{db, fields, repair_clean};
use common::{fixture, run};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;
use vguestfs::guest::DriveOptions;
use vguestfs::Guest;

/// Copies guest device `name` of `img` into a sparse file (zero MiBs left as holes).
fn device_to_file(img: &Path, name: &str, to: &Path) {
    let mut g = Guest::new();
    g.add_drive(img, DriveOptions { readonly: true, ..Default::default() }).unwrap();
    g.launch().unwrap();
    let dev = g.device(name).unwrap();
    let mut f = std::fs::File::create(to).unwrap();
    f.set_len(dev.len()).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0;
    while off < dev.len() {
        let n = (dev.len() - off).min(buf.len() as u64) as usize;
        dev.read_at(&mut buf[..n], off).unwrap();
        if buf[..n].iter().any(|&b| b != 0) {
            f.seek(SeekFrom::Start(off)).unwrap();
            f.write_all(&buf[..n]).unwrap();
        }
        off += n as u64;
    }
}

/// The kernel's grow of the filesystem image `fs` (its file extended to `size` bytes first):
/// loop mount, `xfs_growfs -d`, unmount.
fn kernel_grow(fs: &Path, size: u64) {
    std::fs::OpenOptions::new().write(true).open(fs).and_then(|f| f.set_len(size)).unwrap();
    let mnt = tempfile::tempdir().unwrap();
    run("mount", &["-o", "loop", fs.to_str().unwrap(), mnt.path().to_str().unwrap()]);
    let grown = Command::new("xfs_growfs").env("PATH", common::xfs::path_env()).arg("-d").arg(mnt.path()).output().unwrap();
    run("umount", &[mnt.path().to_str().unwrap()]);
    assert!(grown.status.success(), "xfs_growfs: {}", String::from_utf8_lossy(&grown.stderr));
}

const SB: &str = "print dblocks agcount agblocks fdblocks icount ifree imax_pct";

/// The guest-el9 root (/dev/sda4, XFS v5) after `args`, compared with the kernel's grow of the
/// original root on a twin of the new partition's size.
fn el9_root_grows_like_xfs_growfs(out_img: &Path, d: &Path) {
    let ours = d.join("ours.fs");
    device_to_file(out_img, "/dev/sda4", &ours);
    repair_clean(&ours);
    let theirs = d.join("theirs.fs");
    device_to_file(&fixture("guest-el9.qcow2"), "/dev/sda4", &theirs);
    kernel_grow(&theirs, std::fs::metadata(&ours).unwrap().len());
    assert_eq!(fields(&db(&ours, &["sb 0", SB])), fields(&db(&theirs, &["sb 0", SB])), "our grow vs the kernel's");
    // the files are the same as before
    let g = |img: &Path| {
        let mut g = Guest::new();
        g.add_drive(img, DriveOptions { readonly: true, ..Default::default() }).unwrap();
        g.launch().unwrap();
        g.mount_ro("/dev/sda4", "/").unwrap();
        g.read_file("/etc/redhat-release").unwrap()
    };
    assert_eq!(g(out_img), g(&fixture("guest-el9.qcow2")));
}

#[test]
fn el9_root_grows_in_place() {
    let d = tempfile::tempdir().unwrap();
    let img = copy("guest-el9.qcow2", d.path(), "el9.qcow2");
    let out = ok(&["--size", "+2G", "--expand", "/dev/sda4", img.to_str().unwrap()]);
    assert!(out.contains("/dev/sda4: The filesystem xfs will be expanded from 87296 to"), "{out}");
    run("qemu-img", &["check", img.to_str().unwrap()]);
    el9_root_grows_like_xfs_growfs(&img, d.path());
}

#[test]
fn el9_root_grows_in_copy_mode() {
    let d = tempfile::tempdir().unwrap();
    let out_img = d.path().join("out.qcow2");
    run("qemu-img", &["create", "-q", "-f", "qcow2", out_img.to_str().unwrap(), "3G"]);
    let out = ok(&["--expand", "/dev/sda4", fixture("guest-el9.qcow2").to_str().unwrap(), out_img.to_str().unwrap()]);
    assert!(out.contains("The filesystem xfs on /dev/sda4 will be expanded using the ‘xfs_growfs’ method"), "{out}");
    run("qemu-img", &["check", out_img.to_str().unwrap()]);
    el9_root_grows_like_xfs_growfs(&out_img, d.path());
}

#[test]
fn el7_root_lv_and_its_xfs_grow() {
    let d = tempfile::tempdir().unwrap();
    let img = copy("guest-el7.raw", d.path(), "el7.raw");
    let out = ok(&["--size", "+1G", "--expand", "/dev/sda2", "--lv-expand", "/dev/rhel/root", img.to_str().unwrap()]);
    assert!(out.contains("/dev/rhel/root: The filesystem xfs will be expanded"), "{out}");
    let fs = d.path().join("root.fs");
    device_to_file(&img, "/dev/rhel/root", &fs);
    repair_clean(&fs);
    // v4 (crc=0): this kernel cannot mount it; the size follows the kernel's rule for the LV.
    let sb = fields(&db(&fs, &["sb 0", "print dblocks agblocks blocksize"]));
    let (agblocks, bs): (u32, u64) = (sb["agblocks"].parse().unwrap(), sb["blocksize"].parse().unwrap());
    let want = vguestfs::fs::xfs::grow::new_geometry(agblocks, std::fs::metadata(&fs).unwrap().len() / bs).0;
    assert_eq!(sb["dblocks"], want.to_string());
}

#[test]
fn shrinking_an_xfs_partition_is_refused_with_the_reason() {
    let d = tempfile::tempdir().unwrap();
    let out_img = d.path().join("out.qcow2");
    run("qemu-img", &["create", "-q", "-f", "qcow2", out_img.to_str().unwrap(), "1G"]);
    let o = vresize(&["--resize", "/dev/sda4=200M", fixture("guest-el9.qcow2").to_str().unwrap(), out_img.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("XFS filesystems cannot be shrunk"), "{err}");
}

/// A grow of a whole-disk XFS whose commit fails at the k-th write or flush, for every k,
/// leaves the image exactly as it was or exactly grown; the grown one is xfs_repair-clean.
#[test]
fn a_commit_failing_at_any_write_leaves_the_old_or_the_new_xfs() {
    use vguestfs::resize::inplace::Request;
    let d = tempfile::tempdir().unwrap();
    let grown = copy("xfs-v5.img", d.path(), "grown.raw");
    std::fs::OpenOptions::new().write(true).open(&grown).and_then(|f| f.set_len(400 << 20)).unwrap();
    let img = d.path().join("img.raw");
    let outcomes = common::fault::vresize_commit_outcomes(&grown, &img, &Request { expand: None, lv_expand: None });
    assert!(outcomes.0 > 0 && outcomes.1 > 0, "{outcomes:?}");
    repair_clean(&img);
    assert_eq!(fields(&db(&img, &["sb 0", "print dblocks"]))["dblocks"], "102400");
}
