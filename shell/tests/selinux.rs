//! vfish on an SELinux guest (`fixtures/trees/selinux-el9`, enforcing, targeted policy): the
//! files `write`, `mkdir`, `upload`, `touch`, `ln-s`, `cp`, `mknod` create get the label
//! libselinux's `selabel_lookup` gives their path in the guest's policy; `getxattr` shows it and
//! debugfs reads the same bytes; e2fsck stays clean; a path the policy cannot decide is warned
//! about.
mod common;

use common::{root, tool, vfish};
use std::path::{Path, PathBuf};
use std::process::Command;

const FC: &str = "fixtures/trees/selinux-el9/etc/selinux/targeted/contexts/files/file_contexts";

fn image(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    let st = Command::new("cp").args(["-a", root().join("fixtures/trees/selinux-el9").to_str().unwrap(), tree.to_str().unwrap()]).status().unwrap();
    assert!(st.success());
    for d in ["usr/lib", "usr/lib64", "usr/sbin", "tmp", "opt", "srv", "dev", "etc/systemd/system"] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    let img = dir.join("el9.img");
    tool("mkfs.ext4", &["-q", "-F", "-L", "root", "-d", tree.to_str().unwrap(), img.to_str().unwrap(), "48M"]);
    img
}

/// libselinux's context for `path` of type `mode` (S_IFMT bits).
fn oracle(path: &str, mode: u32) -> String {
    let out = tool("selabel_lookup", &["-b", "file", "-k", path, "-t", &mode.to_string(), "-f", root().join(FC).to_str().unwrap()]);
    out.trim().strip_prefix("Default context: ").unwrap_or_else(|| panic!("selabel_lookup {path}: {out}")).to_string()
}

/// The label as debugfs reads it, with the kernel's trailing NUL.
fn debugfs_label(img: &Path, path: &str) -> String {
    let out = tool("debugfs", &["-R", &format!("ea_get -V {path} security.selinux"), img.to_str().unwrap()]);
    out.strip_suffix('\n').unwrap_or(&out).to_string()
}

#[test]
fn created_files_carry_the_guest_policy_label() {
    let t = tempfile::tempdir().unwrap();
    let img = image(t.path());
    let key = t.path().join("key.pub");
    std::fs::write(&key, "ssh-ed25519 AAAA me@host\n").unwrap();
    let i = img.to_str().unwrap();
    let o = vfish(
        &[
            "--rw", "-a", i, "-i",
            "write", "/etc/issue", "hi\n", ":",
            "mkdir", "/root/.ssh", ":",
            "upload", key.to_str().unwrap(), "/root/.ssh/authorized_keys", ":",
            "touch", "/var/log/cloud-init.log", ":",
            "ln-s", "../usr/share/zoneinfo/UTC", "/etc/localtime", ":",
            "cp", "/etc/hosts", "/etc/hosts.orig", ":",
            "mknod-c", "0666", "1", "3", "/dev/null", ":",
            "mkdir-p", "/opt/legacy/data", ":",
            "getxattr", "/etc/issue", "security.selinux",
        ],
        None,
    );
    assert_eq!(o.code, 0, "{o:?}");
    // getxattr prints the raw value: the context and its NUL
    assert_eq!(o.stdout, format!("{}\0", oracle("/etc/issue", 0o100000)));
    // the look-ahead spec of file_contexts.local cannot be decided: a warning, no label
    assert!(o.stderr.contains("/opt/legacy/data") && o.stderr.contains("relabel"), "{}", o.stderr);
    tool("e2fsck", &["-fn", i]);
    for (path, mode) in [
        ("/etc/issue", 0o100000),
        ("/root/.ssh", 0o040000),
        ("/root/.ssh/authorized_keys", 0o100000),
        ("/var/log/cloud-init.log", 0o100000),
        ("/etc/localtime", 0o120000),
        ("/etc/hosts.orig", 0o100000),
        ("/dev/null", 0o020000),
        ("/opt/legacy", 0o040000),
    ] {
        assert_eq!(debugfs_label(&img, path), format!("{}\0", oracle(path, mode)), "{path}");
    }
    assert_eq!(debugfs_label(&img, "/opt/legacy/data"), "");
    // read back through vfish too
    let o = vfish(&["-a", i, "-i", "getxattr", "/root/.ssh", "security.selinux"], None);
    assert_eq!(o.stdout, "unconfined_u:object_r:ssh_home_t:s0\0".replace("unconfined_u", "system_u"), "{o:?}");
    let o = vfish(&["-a", i, "-i", "getxattr", "/etc/motd", "security.selinux"], None);
    assert!(o.code != 0 && o.stderr.contains("No data available"), "{o:?}");
}
