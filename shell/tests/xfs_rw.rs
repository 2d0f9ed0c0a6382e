//! vfish `--rw` on XFS (issue 14): names created and removed through the read-write XFS
//! filesystem are what `xfs_repair -n` accepts and what the kernel then lists, with the types
//! and permission bits vfish asked for (and a label set by `setxattr`); file data, sizes,
//! permissions and owners written through it are what the kernel reads; a change XFS does not write yet fails naming it and
//! leaves the image byte for byte as it was; without `--rw` nothing is written.
mod common;

use common::{loop_lock, sha256_file, tool, vfish};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// A fresh 300 MiB `mkfs.xfs` image (v5, shortform root) in `dir`.
fn fresh(dir: &Path) -> PathBuf {
    let img = dir.join("xfs.img");
    std::fs::File::create(&img).and_then(|f| f.set_len(300 << 20)).unwrap();
    tool("mkfs.xfs", &["-q", img.to_str().unwrap()]);
    img
}

fn repair_clean(img: &Path) {
    let out = std::process::Command::new("xfs_repair").env("PATH", format!("{}:/usr/sbin:/sbin", std::env::var("PATH").unwrap_or_default())).args(["-n", "-f"]).arg(img).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && !text.lines().any(|l| l.contains("would") || l.contains("bad")), "xfs_repair -n:\n{text}");
}

/// What the kernel sees under the root of `img` (loop mount): `path type mode links` lines
/// (devices with `major:minor`), sorted.
fn kernel_tree(img: &Path) -> String {
    let _l = loop_lock();
    let mnt = tempfile::tempdir().unwrap();
    tool("mount", &["-o", "loop,ro", img.to_str().unwrap(), mnt.path().to_str().unwrap()]);
    let out = std::process::Command::new("find").arg(".").args(["-mindepth", "1", "-printf", "%p %y %m %n\n"]).current_dir(mnt.path()).output();
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.unwrap().stdout)
        .lines()
        .map(|l| {
            let path = l.split(' ').next().unwrap_or_default();
            match std::fs::symlink_metadata(mnt.path().join(path)) {
                Ok(m) if m.file_type().is_char_device() || m.file_type().is_block_device() => {
                    let r = m.rdev();
                    format!("{l} {}:{}", (r >> 8) & 0xfff, (r & 0xff) | ((r >> 12) & 0xfff00))
                }
                _ => l.to_string(),
            }
        })
        .collect();
    tool("umount", &[mnt.path().to_str().unwrap()]);
    lines.sort();
    lines.join("\n")
}

#[test]
fn names_made_and_removed_on_xfs_are_what_xfs_repair_and_the_kernel_see() {
    let t = tempfile::tempdir().unwrap();
    let img = fresh(t.path());
    let o = vfish(
        &[
            "--rw", "-a", img.to_str().unwrap(), "run", ":", "mount", "/dev/sda", "/",
            ":", "mkdir-p", "/etc/ssh/keys", ":", "mkdir-mode", "/tmp", "01777", ":", "touch", "/etc/machine-id",
            ":", "touch", "/etc/ssh/keys/host_key", ":", "ln-s", "../etc/machine-id", "/tmp/id",
            ":", "mkfifo", "0600", "/tmp/fifo", ":", "mkdir", "/gone", ":", "touch", "/gone/file",
            ":", "rm", "/gone/file", ":", "rmdir", "/gone", ":", "rm", "/etc/ssh/keys/host_key",
            ":", "setxattr", "security.selinux", "system_u:object_r:etc_t:s0", "26", "/etc/machine-id",
            ":", "mkdir", "/var", ":", "mv", "/etc/ssh", "/var/ssh", ":", "ln", "/etc/machine-id", "/tmp/hard",
            ":", "mv", "/tmp/fifo", "/tmp/pipe", ":", "mknod-c", "0620", "4", "1", "/tmp/tty",
        ],
        None,
    );
    assert!(o.code == 0 && o.stderr.is_empty(), "{o:?}");
    repair_clean(&img);
    let expect = [
        "./etc d 755 2",
        "./etc/machine-id f 644 2",
        "./tmp d 1777 2",
        "./tmp/hard f 644 2",
        "./tmp/id l 777 1",
        "./tmp/pipe p 600 1",
        "./tmp/tty c 620 1 4:1",
        "./var d 755 3",
        "./var/ssh d 755 3",
        "./var/ssh/keys d 755 2",
    ];
    assert_eq!(kernel_tree(&img), expect.join("\n"));
    let o = vfish(&["-a", img.to_str().unwrap(), "-m", "/dev/sda", "getxattr", "/etc/machine-id", "security.selinux"], None);
    assert_eq!(o.stdout.trim_end_matches(['\n', '\0']), "system_u:object_r:etc_t:s0", "{o:?}");
    // vfish reads back its own changes in a later session, as the kernel does
    let o = vfish(&["-a", img.to_str().unwrap(), "-m", "/dev/sda", "readlink", "/tmp/id"], None);
    assert_eq!(o.stdout.trim(), "../etc/machine-id", "{o:?}");
}

#[test]
fn wrong_kinds_and_unwritten_changes_fail_and_change_nothing() {
    let t = tempfile::tempdir().unwrap();
    let img = fresh(t.path());
    let o = vfish(&["--rw", "-a", img.to_str().unwrap(), "-m", "/dev/sda", "mkdir", "/d", ":", "touch", "/f"], None);
    assert_eq!(o.code, 0, "{o:?}");
    let before = sha256_file(&img);
    for (cmd, says) in [
        (&["rm", "/d"][..], "Is a directory"),
        (&["rmdir", "/f"], "Not a directory"),
        (&["rm", "/nothing"], "No such file"),
        (&["mkdir", "/d"], "exists"),
        (&["mv", "/d", "/d/inside"], "Invalid argument"),
        (&["ln", "/d", "/g"], "Operation not permitted"),
        (&["setxattr", "system.posix_acl_access", "1", "1", "/f"], "Invalid argument"),
    ] {
        let mut args = vec!["--rw", "-a", img.to_str().unwrap(), "-m", "/dev/sda"];
        args.extend_from_slice(cmd);
        let o = vfish(&args, None);
        assert!(o.code != 0 && o.stderr.contains(says), "{cmd:?}: {o:?}");
        assert_eq!(sha256_file(&img), before, "{cmd:?} changed the image");
    }
    // read-only: refused, nothing written
    let o = vfish(&["-a", img.to_str().unwrap(), "-m", "/dev/sda", "touch", "/new"], None);
    assert!(o.code != 0, "{o:?}");
    assert_eq!(sha256_file(&img), before);
    repair_clean(&img);
}

#[test]
fn file_data_sizes_and_attributes_on_xfs_are_what_the_kernel_reads() {
    let t = tempfile::tempdir().unwrap();
    let img = fresh(t.path());
    let o = vfish(
        &[
            "--rw", "-a", img.to_str().unwrap(), "-m", "/dev/sda",
            "touch", "/f", ":", "write", "/f", "hello world\n", ":", "write-append", "/f", "and more\n", ":",
            "touch", "/g", ":", "write", "/g", "0123456789", ":", "truncate-size", "/g", "4", ":",
            "chmod", "0640", "/f", ":", "chown", "1000", "1001", "/f",
        ],
        None,
    );
    assert_eq!(o.code, 0, "{o:?}");
    repair_clean(&img);
    let _l = loop_lock();
    let mnt = tempfile::tempdir().unwrap();
    tool("mount", &["-o", "loop,ro", img.to_str().unwrap(), mnt.path().to_str().unwrap()]);
    let f = std::fs::read(mnt.path().join("f"));
    let g = std::fs::read(mnt.path().join("g"));
    let st = std::process::Command::new("stat").args(["-c", "%a %u %g %s"]).arg(mnt.path().join("f")).output();
    tool("umount", &[mnt.path().to_str().unwrap()]);
    assert_eq!(f.unwrap(), b"hello world\nand more\n");
    assert_eq!(g.unwrap(), b"0123");
    assert_eq!(String::from_utf8_lossy(&st.unwrap().stdout).trim(), "640 1000 1001 21");
}
