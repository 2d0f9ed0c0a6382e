//! Crash consistency of XFS writes (issue 14): a batch of every kind of write — files created,
//! written past a hole, truncated, renamed, linked, removed; directories made and removed; an
//! attribute set; a symlink — done through `fs::open_rw` on the copy-on-write overlay, whose
//! commit fails at the k-th write, then at the k-th flush, for every k. After each failure the
//! next writable open settles the redo log, and the image is the old one or the new one as the
//! kernel reads it (every path, type, mode, owner, size, inode number, content and attribute),
//! and xfs_repair -n finds nothing either way.

mod common;

use common::fault::commit_outcomes;
use common::tree::kernel_fs_tree;
use common::xfs::{mkfs_as, repair_clean, with_kernel};
use vguestfs::disk::Dev;
use vguestfs::fs::Filesystem;

/// The inode at absolute path `p`.
fn at(fs: &dyn Filesystem, p: &str) -> vguestfs::fs::Result<vguestfs::fs::Ino> {
    let mut ino = fs.root();
    for c in p.split('/').filter(|c| !c.is_empty()) {
        ino = fs.lookup(ino, c.as_bytes())?.ok_or(vguestfs::fs::Error::Os(vguestfs::fs::Errno::NoEntry))?;
    }
    Ok(ino)
}

/// The batch: one writable open, every kind of write, one sync.
fn work(dev: &Dev) -> vguestfs::fs::Result<()> {
    let fs = vguestfs::fs::open_rw(dev.clone())?;
    let fs = fs.as_ref();
    let root = fs.root();
    let etc = at(fs, "/etc")?;
    let f = fs.create(etc, b"machine-id", 0o444)?;
    fs.write(f, 0, b"0123456789abcdef0123456789abcdef\n")?;
    let big = fs.create(root, b"big", 0o600)?;
    fs.write(big, 0, &vec![0x5a; 70_000])?;
    fs.write(big, 300_000, b"past a hole")?;
    fs.truncate(at(fs, "/var/log/messages")?, 0)?;
    fs.rename(etc, b"hostname", etc, b"hostname.old")?;
    fs.link(at(fs, "/etc/hostname.old")?, root, b"hostname-link")?;
    fs.unlink(at(fs, "/var/log")?, b"dmesg")?;
    let d = fs.mkdir(root, b"new-dir", 0o755)?;
    for k in 0..40 {
        fs.create(d, format!("entry-{k:03}-with-a-long-name").as_bytes(), 0o644)?;
    }
    fs.rmdir(root, b"empty")?;
    fs.setxattr(f, b"security.selinux", b"system_u:object_r:machineid_t:s0\0")?;
    fs.symlink(root, b"link", b"/etc/hostname.old")?;
    fs.sync()
}

#[test]
fn a_commit_failing_at_any_write_leaves_the_old_or_the_new_filesystem() {
    let (d, base) = mkfs_as(&["-d", "size=64m"], true);
    with_kernel(&base, |m| {
        for dir in ["etc", "var/log", "empty"] {
            std::fs::create_dir_all(m.join(dir)).unwrap();
        }
        std::fs::write(m.join("etc/hostname"), "el9.example.com\n").unwrap();
        std::fs::write(m.join("var/log/messages"), vec![b'm'; 200_000]).unwrap();
        std::fs::write(m.join("var/log/dmesg"), vec![b'd'; 30_000]).unwrap();
        for k in 0..30 {
            std::fs::write(m.join(format!("etc/conf-{k}")), format!("setting {k}\n")).unwrap();
        }
    });
    repair_clean(&base);
    let img = d.path().join("img.raw");
    let summary = |p: &std::path::Path| {
        repair_clean(p);
        format!("{:?}", kernel_fs_tree(p))
    };
    let (old, new) = commit_outcomes(&base, &img, &|dev| work(dev).map_err(|e| e.to_string()), &summary);
    assert!(old > 0 && new > 0, "{old} old, {new} new");
    let t = kernel_fs_tree(&img);
    assert_eq!(t["/new-dir"].kind, common::tree::Kind::Dir);
    assert_eq!(t["/big"].size, 300_011);
    assert!(!t.contains_key("/empty") && !t.contains_key("/var/log/dmesg"));
}
