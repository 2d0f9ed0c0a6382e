//! `xfs-growfs` on an XFS filesystem whose device grew: the superblock equals the twin the
//! kernel grew (`xfs_growfs` on a loop mount, recorded by fixtures/mk-xfs-grow.sh),
//! `xfs_repair -n` is clean and the mount sees the new size at once; `maxpct` alone changes
//! only `imax_pct`; without `--rw` it fails and the image is untouched.
mod common;

use common::{fixture, ok, tool, vfish};
use std::path::{Path, PathBuf};

fn copy(dir: &Path, size: u64) -> PathBuf {
    let img = dir.join("xfs.img");
    tool("cp", &["--sparse=always", &fixture("xfs-grow/src-part.img"), img.to_str().unwrap()]);
    std::fs::OpenOptions::new().write(true).open(&img).and_then(|f| f.set_len(size)).unwrap();
    img
}

/// `xfs_db -r -c 'sb 0' -c 'print FIELDS'` as `name = value` lines.
fn sb(img: &Path, fields: &str) -> String {
    tool("xfs_db", &["-r", "-c", "sb 0", "-c", &format!("print {fields}"), img.to_str().unwrap()])
}

fn repair_clean(img: &Path) {
    let out = std::process::Command::new("xfs_repair").args(["-n", "-f"]).arg(img).output().unwrap();
    assert!(out.status.success(), "xfs_repair -n: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn xfs_growfs_grows_as_the_kernel_does() {
    let t = tempfile::tempdir().unwrap();
    let img = copy(t.path(), 1250 << 20);
    let before = ok(&["--ro", "-a", img.to_str().unwrap(), "run", ":", "mount-ro", "/dev/sda", "/", ":", "statvfs", "/"]);
    let after = ok(&["--rw", "-a", img.to_str().unwrap(), "run", ":", "mount-ro", "/dev/sda", "/", ":", "xfs-growfs", "/d3", ":", "statvfs", "/"]);
    let blocks = |s: &str| s.lines().find_map(|l| l.trim().strip_prefix("blocks: ")).unwrap_or_default().to_string();
    assert!(blocks(&after).parse::<u64>().unwrap() > blocks(&before).parse::<u64>().unwrap(), "{before}\n{after}");
    let kernel = std::fs::read_to_string(fixture("xfs-grow/part-new.sb")).unwrap();
    assert_eq!(sb(&img, "dblocks agcount agblocks fdblocks icount ifree imax_pct"), kernel);
    repair_clean(&img);
}

#[test]
fn maxpct_alone_and_refusals() {
    let t = tempfile::tempdir().unwrap();
    let img = copy(t.path(), 1250 << 20);
    let src = fixture("xfs-grow/src-part.img");
    let n = std::fs::metadata(&src).unwrap().len().to_string();
    let unchanged = || tool("cmp", &["-n", &n, &src, img.to_str().unwrap()]);
    let ro = vfish(&["--ro", "-a", img.to_str().unwrap(), "run", ":", "mount-ro", "/dev/sda", "/", ":", "xfs-growfs", "/"], None);
    assert!(ro.code != 0 && ro.stderr.contains("read-only"), "{}", ro.stderr);
    for bad in [vec!["xfs-growfs", "/", "logsize:100000"], vec!["xfs-growfs", "/", "rtsec:true"], vec!["xfs-growfs", "/", "datasize:1000"], vec!["xfs-growfs", "/", "maxpct:200"]] {
        let mut args = vec!["--rw", "-a", img.to_str().unwrap(), "run", ":", "mount-ro", "/dev/sda", "/", ":"];
        args.extend(bad.iter().copied());
        let o = vfish(&args, None);
        assert!(o.code != 0, "{bad:?}: {}", o.stdout);
    }
    unchanged(); // refused commands left the image as it was (the rest of it is a hole)
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 1250 << 20);
    ok(&["--rw", "-a", img.to_str().unwrap(), "run", ":", "mount-ro", "/dev/sda", "/", ":", "xfs-growfs", "/", "maxpct:10"]);
    let s = sb(&img, "dblocks imax_pct");
    assert!(s.contains("dblocks = 281600") && s.contains("imax_pct = 10"), "{s}");
    repair_clean(&img);
}
