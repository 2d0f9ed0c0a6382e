//! xfsprogs as the judge of XFS writes: `xfs_db -r` reads and `xfs_repair -n`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `PATH` with the sbin directories where xfsprogs lives.
pub fn path_env() -> String {
    format!("{}:/usr/sbin:/sbin", std::env::var("PATH").unwrap_or_default())
}

/// `xfs_db -r -c CMD…` on `img`: its output.
pub fn db(img: &Path, cmds: &[&str]) -> String {
    let mut c = Command::new("xfs_db");
    c.env("PATH", path_env()).arg("-r");
    for x in cmds {
        c.arg("-c").arg(x);
    }
    let out = c.arg(img).output().expect("xfs_db");
    assert!(out.status.success(), "xfs_db {cmds:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `xfs_db ls PATH`: name → inode of every entry (`.` and `..` included), each entry's hash
/// checked (`(good)`).
pub fn db_ls(img: &Path, path: &str) -> BTreeMap<String, u64> {
    let text = db(img, &[&format!("ls {path}")]);
    let mut out = BTreeMap::new();
    for l in text.lines().skip(1) {
        let w: Vec<&str> = l.split_whitespace().collect();
        assert!(w.len() >= 7 && w[w.len() - 1] == "(good)", "xfs_db ls {path}: {l}");
        out.insert(w[5..w.len() - 1].join(" "), w[1].parse().unwrap());
    }
    out
}

/// `name = value` lines of xfs_db's print.
pub fn fields(text: &str) -> BTreeMap<String, String> {
    text.lines().filter_map(|l| l.split_once(" = ")).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect()
}

/// Asserts `xfs_repair -n` exits 0 and reports nothing (no "bad", "counted" or "would" line).
pub fn repair_clean(img: &Path) {
    let out = Command::new("xfs_repair").env("PATH", path_env()).args(["-n", "-f"]).arg(img).output().expect("xfs_repair");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let bad: Vec<&str> = text.lines().filter(|l| l.contains("bad") || l.contains("counted") || l.contains("would")).collect();
    assert!(out.status.success() && bad.is_empty(), "xfs_repair -n {}: exit {:?}\n{text}", img.display(), out.status.code());
}

/// Mounts `img` (loop, as root), runs `f` on the mount point and unmounts (a mount busy for a
/// moment is retried). The kernel is a judge here: a machine that cannot loop-mount (not root,
/// as the fixture build needs anyway) fails the test rather than skipping the kernel's part.
pub fn with_kernel(img: &Path, f: impl FnOnce(&Path)) {
    let mnt = tempfile::tempdir().unwrap();
    let st = Command::new("mount").args(["-o", "loop", img.to_str().unwrap(), mnt.path().to_str().unwrap()]).status();
    assert!(st.is_ok_and(|s| s.success()), "cannot loop-mount {} (the kernel judges these tests: run them as root)", img.display());
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(mnt.path())));
    let um = (0..10).any(|_| {
        let ok = Command::new("umount").arg(mnt.path()).status().is_ok_and(|s| s.success());
        if !ok {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        ok
    });
    assert!(um, "umount");
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
}

/// A fresh 300 MiB image made by `mkfs.xfs -q ARGS` in a temporary directory.
pub fn mkfs(args: &[&str]) -> (tempfile::TempDir, PathBuf) {
    mkfs_as(args, false)
}

/// [`mkfs`], with `small` allowing AGs too small for the 64 MiB log mkfs.xfs asks for
/// outside fstests (the environment fstests sets lifts that check).
pub fn mkfs_as(args: &[&str], small: bool) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("xfs.img");
    std::fs::File::create(&path).and_then(|f| f.set_len(300 << 20)).expect("image");
    let mut cmd = Command::new("mkfs.xfs");
    if small {
        cmd.env("TEST_DIR", dir.path()).env("TEST_DEV", &path).env("QA_CHECK_FS", "1");
    }
    let out = cmd.env("PATH", path_env()).arg("-q").args(args).arg(&path).output().expect("mkfs.xfs");
    assert!(out.status.success(), "mkfs.xfs {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    (dir, path)
}
