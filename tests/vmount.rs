//! vmount and vunmount (issue 16), judged by real tools: a read-only mount shows every file as
//! the kernel (XFS) and debugfs (ext4) read the filesystems — types, modes, owners, sizes,
//! contents, link targets, attributes — and refuses writes with EROFS; a `--rw` mount takes
//! what tools do through it (`cp -a`, `tar x`, `rsync -aX`, an editor's save by rename, chmod,
//! chown, hard links, xattrs, ACLs, `df`), `vunmount` returns once the change is committed,
//! and e2fsck / xfs_repair find the filesystems clean with exactly those changes; a `vmount`
//! killed with writes pending leaves the image as it was.

mod common;

use common::tree::{dir_tree, guest_tree, Tree};
use common::{fixture, run};
use std::path::{Path, PathBuf};
use std::process::Command;

fn vmount(args: &[&str], image: &Path, mnt: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_vmount")).args(args).arg("-a").arg(image).arg(mnt).output().unwrap();
    assert!(out.status.success(), "vmount {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn vunmount(mnt: &Path) -> i32 {
    let out = Command::new(env!("CARGO_BIN_EXE_vunmount")).arg(mnt).output().unwrap();
    out.status.code().unwrap_or(-1)
}

/// A tree with what differs between readers by design taken out: inode numbers (FUSE numbers
/// its own), and the subtree at `skip` (a filesystem the other reader does not read).
fn comparable(mut t: Tree, skip: &[&str], xattrs: bool) -> Tree {
    t.retain(|p, _| !skip.iter().any(|s| p == s || p.starts_with(&format!("{s}/"))));
    for n in t.values_mut() {
        n.ino = 0;
        if !xattrs {
            n.xattrs.clear();
        }
    }
    t
}

fn copy_fixture(name: &str, dir: &Path) -> PathBuf {
    let p = dir.join(name);
    run("cp", &["--sparse=always", fixture(name).to_str().unwrap(), p.to_str().unwrap()]);
    p
}

fn sha256(p: &Path) -> String {
    common::sha256_file(p)
}

/// XFS root and /boot (EL, SELinux labels on every file): the mount shows what the kernel
/// reads, attributes included; writes are refused.
#[test]
fn a_read_only_mount_shows_what_the_kernel_reads() {
    let d = tempfile::tempdir().unwrap();
    let img = fixture("sysprep-el-xfs.raw");
    let before = sha256(&img);
    let mnt = d.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    vmount(&["-i"], &img, &mnt);
    let seen = std::panic::catch_unwind(|| {
        let t = dir_tree(&mnt);
        let e = std::fs::write(mnt.join("etc/new"), b"x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
        let st = nix_statvfs(&mnt);
        assert!(st.0 > 0 && st.1 <= st.0, "{st:?}");
        t
    });
    assert_eq!(vunmount(&mnt), 0);
    let seen = seen.unwrap_or_else(|p| std::panic::resume_unwind(p));
    let want = guest_tree(&img, "sysprep-el-xfs");
    let (seen, want) = (comparable(seen, &[], true), comparable(want, &[], true));
    assert!(seen.len() > 100, "{} paths", seen.len());
    assert_eq!(common::tree::diff(&want, &seen), Vec::<String>::new());
    assert_eq!(sha256(&img), before, "a read-only mount changed the image");
    assert_eq!(vunmount(&mnt), 3, "not mounted any more");
}

/// (blocks, free blocks) of the filesystem at `p`, by statvfs(3).
fn nix_statvfs(p: &Path) -> (u64, u64) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid path and a zeroed struct for statvfs to fill.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut s) }, 0);
    (s.f_blocks, s.f_bfree)
}

/// A host tree to copy in: files of several sizes, a symlink, a hard link, an attribute, modes.
fn host_tree(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
    for (k, len) in [0usize, 1, 4095, 4096, 70_000, 1 << 20].into_iter().enumerate() {
        std::fs::write(src.join(format!("f{k}")), (0..len).map(|i| (i * 31 + k) as u8).collect::<Vec<u8>>()).unwrap();
    }
    std::fs::write(src.join("sub/deeper/leaf.txt"), "leaf\n").unwrap();
    std::os::unix::fs::symlink("../f1", src.join("sub/link")).unwrap();
    std::fs::hard_link(src.join("f2"), src.join("sub/f2-again")).unwrap();
    run("setfattr", &["-n", "user.origin", "-v", "host", src.join("f3").to_str().unwrap()]);
    run("chmod", &["640", src.join("f4").to_str().unwrap()]);
    run("chown", &["1000:1000", src.join("f5").to_str().unwrap()]);
    src
}

/// What tools do through a read-write mount (guest root at `mnt`): `src` copied three ways
/// into /root, an editor's save of /etc/hostname, chmod, chown, a hard link, an ACL, an
/// attribute.
fn tools_write(src: &Path, mnt: &Path) {
    let m = |p: &str| mnt.join(p).to_str().unwrap().to_string();
    run("cp", &["-a", src.to_str().unwrap(), &m("root/by-cp")]);
    std::fs::create_dir(mnt.join("root/by-tar")).unwrap();
    run("sh", &["-c", &format!("tar -C {} -cf - . | tar -C {} -xpf -", src.display(), m("root/by-tar"))]);
    run("rsync", &["-aXH", &format!("{}/", src.display()), &m("root/by-rsync")]);
    // An editor's save: a new file written and synced, then renamed over the old one.
    std::fs::write(mnt.join("etc/hostname.tmp"), "edited.example.com\n").unwrap();
    std::fs::File::open(mnt.join("etc/hostname.tmp")).unwrap().sync_all().unwrap();
    std::fs::rename(mnt.join("etc/hostname.tmp"), mnt.join("etc/hostname")).unwrap();
    run("chmod", &["600", &m("etc/hostname")]);
    run("chown", &["12:34", &m("etc/hostname")]);
    std::fs::hard_link(mnt.join("etc/hostname"), mnt.join("root/hostname-link")).unwrap();
    run("setfacl", &["-m", "u:1000:r", &m("root/by-cp/f0")]);
    run("setfattr", &["-n", "user.note", "-v", "set through vmount", &m("etc/hostname")]);
}

/// Judges the guest after [`tools_write`]: the three copies equal the source (inode numbers,
/// times and directory sizes aside), and the other changes are there.
fn judge(after: &Tree, src: &Path) {
    let want = comparable(dir_tree(src), &[], false);
    for how in ["by-cp", "by-tar", "by-rsync"] {
        let prefix = format!("/root/{how}");
        let got: Tree = after.iter().filter_map(|(p, n)| {
            let rest = p.strip_prefix(&prefix)?;
            (rest.is_empty() || rest.starts_with('/')).then(|| (if rest.is_empty() { "/".to_string() } else { rest.to_string() }, n.clone()))
        }).collect();
        let mut got = comparable(got, &[], false);
        if how == "by-cp" {
            // The ACL set afterwards: the mask is the group bits now (r--).
            assert_eq!(got["/f0"].mode & 0o070, 0o040, "{:o}", got["/f0"].mode);
            got.get_mut("/f0").unwrap().mode = want["/f0"].mode;
        }
        // The top directory of a copy is created by the tool (its own mode for tar/rsync).
        got.remove("/");
        let mut w = want.clone();
        w.remove("/");
        assert_eq!(common::tree::diff(&w, &got), Vec::<String>::new(), "{how}");
    }
    let acl = &after["/root/by-cp/f0"].xattrs;
    assert!(acl.keys().any(|k| k.contains("posix_acl_access")), "the ACL: {acl:?}");
    let h = &after["/etc/hostname"];
    assert_eq!((h.mode, h.uid, h.gid, h.size), (0o600, 12, 34, 19));
    assert_eq!(after["/root/hostname-link"].sha256, h.sha256);
    assert!(!after.contains_key("/etc/hostname.tmp"));
}

/// A copy of sysprep fixture `name` mounted read-write, [`tools_write`] through the mount,
/// unmounted; every filesystem judged clean by its checker; then [`judge`].
fn tools_write_through(name: &str) {
    let d = tempfile::tempdir().unwrap();
    let img = copy_fixture(&format!("{name}.raw"), d.path());
    let src = host_tree(d.path());
    let mnt = d.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    vmount(&["-i", "--rw"], &img, &mnt);
    let r = std::panic::catch_unwind(|| tools_write(&src, &mnt));
    assert_eq!(vunmount(&mnt), 0);
    r.unwrap_or_else(|p| std::panic::resume_unwind(p));
    for r in common::tree::sysprep_layout(name).into_iter().filter(|r| matches!(r.fstype, "ext4" | "xfs")) {
        let fs = common::tree::extract(&img, r.offset, r.size);
        if r.fstype == "xfs" {
            common::xfs::repair_clean(&fs);
        } else {
            let out = Command::new("e2fsck").args(["-fn"]).arg(&*fs).output().unwrap();
            assert!(out.status.success(), "{}: e2fsck: {}", r.mountpoint, String::from_utf8_lossy(&out.stdout));
        }
    }
    judge(&guest_tree(&img, name), &src);
}

#[test]
fn tools_write_through_a_read_write_ext4_mount() {
    tools_write_through("sysprep-ubuntu");
}

#[test]
fn tools_write_through_a_read_write_xfs_mount() {
    tools_write_through("sysprep-el-xfs");
}

/// `kill -9` of the serving process with writes pending: the image is as it was; the dead
/// mount is cleaned up by `vunmount` (fusermount -u of a disconnected mount).
#[test]
fn a_killed_vmount_leaves_the_image_as_it_was() {
    let d = tempfile::tempdir().unwrap();
    let img = copy_fixture("sysprep-ubuntu.raw", d.path());
    let before = sha256(&img);
    let mnt = d.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let pid_file = d.path().join("pid");
    vmount(&["-i", "--rw", "--pid-file", pid_file.to_str().unwrap()], &img, &mnt);
    std::fs::write(mnt.join("etc/pending"), vec![7u8; 100_000]).unwrap();
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    // SAFETY: kill(2) on the vmount process this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(vunmount(&mnt), 0);
    assert_eq!(sha256(&img), before, "the image changed without a commit");
}

/// SIGTERM ends the mount and commits, as an unmount does: the file written is in the image,
/// e2fsck clean, and the mountpoint is free again.
#[test]
fn sigterm_unmounts_and_commits() {
    let d = tempfile::tempdir().unwrap();
    let img = copy_fixture("sysprep-ubuntu.raw", d.path());
    let mnt = d.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let pid_file = d.path().join("pid");
    vmount(&["-i", "--rw", "--pid-file", pid_file.to_str().unwrap()], &img, &mnt);
    std::fs::write(mnt.join("etc/committed-on-sigterm"), b"yes\n").unwrap();
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    // SAFETY: kill(2) on the vmount process this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let t = std::time::Instant::now();
    while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z'))) {
        assert!(t.elapsed().as_secs() < 30, "vmount still running after SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(vunmount(&mnt), 3, "still mounted after SIGTERM");
    let after = guest_tree(&img, "sysprep-ubuntu");
    assert_eq!(after["/etc/committed-on-sigterm"].size, 4);
    for (_, _, off, size) in common::tree::sysprep_fs("sysprep-ubuntu.raw") {
        let fs = common::tree::extract(&img, off, size);
        let out = Command::new("e2fsck").args(["-fn"]).arg(&*fs).output().unwrap();
        assert!(out.status.success(), "e2fsck: {}", String::from_utf8_lossy(&out.stdout));
    }
}
