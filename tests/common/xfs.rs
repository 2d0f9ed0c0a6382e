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
/// XFS is mounted `nouuid`: copies of one fixture share its UUID, and tests running side by
/// side may mount two of them at once (the kernel refuses the second: "duplicate UUID").
pub fn with_kernel(img: &Path, f: impl FnOnce(&Path)) {
    let mnt = tempfile::tempdir().unwrap();
    let mut magic = [0u8; 4];
    let xfs = std::fs::File::open(img).and_then(|f| std::os::unix::fs::FileExt::read_exact_at(&f, &mut magic, 0)).is_ok() && &magic == b"XFSB";
    let opts = if xfs { "loop,nouuid" } else { "loop" };
    let st = Command::new("mount").args(["-o", opts, img.to_str().unwrap(), mnt.path().to_str().unwrap()]).status();
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

/// `XFS_RMAP_OWN_AG`, `XFS_RMAP_OWN_INOBT` and `XFS_RMAP_OWN_REFC` as xfs_db prints them.
const OWN_AG: i64 = -5;
const OWN_INOBT: i64 = -6;
const OWN_REFC: i64 = -8;

/// A btree's entries (records, and interior keys: as xfs_db prints them, split at commas) and
/// its block count, from `btdump -i` of root `root` (`bnoroot`, `cntroot`, `rmaproot`) of AG `agno`.
fn btdump(img: &Path, agno: u32, root: &str) -> (Vec<Vec<i64>>, u32) {
    let hdr = if root == "root" || root == "free_root" { "agi" } else { "agf" };
    let text = db(img, &[&format!("{hdr} {agno}"), &format!("addr {root}"), "btdump -i"]);
    let mut recs = Vec::new();
    let mut blocks = 0;
    for l in text.lines() {
        if l.contains(" level ") && l.contains(" block ") {
            blocks += 1;
        }
        // Leaf records: "N:[a,b,...]"; keys and pointers of interior blocks are not wanted.
        let Some((n, rest)) = l.split_once(":[") else { continue };
        if n.trim().parse::<u32>().is_err() || l.contains("ptrs") {
            continue;
        }
        let Some(body) = rest.trim_end().strip_suffix(']') else { continue };
        let v: Option<Vec<i64>> = body.split(',').map(|x| x.trim().parse().ok()).collect();
        if let Some(v) = v {
            recs.push(v);
        }
    }
    (recs, blocks)
}

/// The rmapbt's records and blocks of AG `agno` (interior keys, with their high halves, have
/// ten fields, records seven).
fn rmap_records(img: &Path, agno: u32) -> (Vec<Vec<i64>>, u32) {
    let (recs, blocks) = btdump(img, agno, "rmaproot");
    (recs.into_iter().filter(|r| r.len() == 7).collect(), blocks)
}

/// The judges of an rmapbt filesystem written (tests/xfs_rmap.rs): `xfs_repair -n` clean;
/// `xfs_repair` on a copy rebuilds every rmapbt and its records equal ours but for the AG
/// btrees' and AGFL's (rebuilt elsewhere), whose totals must be those trees' blocks and the
/// AGFL as xfs_db walks them; `agf_rmap_blocks` and `agf_btreeblks` as counted.
pub fn judge_rmap(img: &Path, what: &str) {
    repair_clean(img);
    let agcount: u32 = fields(&db(img, &["sb 0", "p agcount"]))["agcount"].parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fixed = dir.path().join("repaired.img");
    let st = Command::new("cp").args(["--sparse=always", img.to_str().unwrap(), fixed.to_str().unwrap()]).status().unwrap();
    assert!(st.success());
    let out = Command::new("xfs_repair").env("PATH", path_env()).arg("-f").arg(&fixed).output().unwrap();
    assert!(out.status.success(), "{what}: xfs_repair: {}", String::from_utf8_lossy(&out.stderr));
    for agno in 0..agcount {
        let agf = fields(&db(img, &[&format!("agf {agno}"), "p rmapblocks btreeblks flcount rmaplevel"]));
        let n = |k: &str| agf[k].parse::<u32>().unwrap();
        let (ours, rmap_blocks) = rmap_records(img, agno);
        let (theirs, _) = rmap_records(&fixed, agno);
        let (_, bno_blocks) = btdump(img, agno, "bnoroot");
        let (_, cnt_blocks) = btdump(img, agno, "cntroot");
        assert_eq!(n("rmapblocks"), rmap_blocks, "{what}: AG {agno}: agf_rmap_blocks");
        assert_eq!(n("btreeblks"), bno_blocks + cnt_blocks + rmap_blocks - 3, "{what}: AG {agno}: agf_btreeblks");
        let total = |o: i64| ours.iter().filter(|r| r[2] == o).map(|r| r[1]).sum::<i64>();
        assert_eq!(total(OWN_AG), i64::from(bno_blocks + cnt_blocks + rmap_blocks + n("flcount")), "{what}: AG {agno}: OWN_AG blocks");
        let (_, ino_blocks) = btdump(img, agno, "root");
        let fino_blocks = if db(img, &[&format!("agi {agno}"), "p free_root"]).contains("free_root") { btdump(img, agno, "free_root").1 } else { 0 };
        assert_eq!(total(OWN_INOBT), i64::from(ino_blocks + fino_blocks), "{what}: AG {agno}: OWN_INOBT blocks");
        let refc = fields(&db(img, &[&format!("agf {agno}"), "p refcntblocks"])).get("refcntblocks").map_or(0, |v| v.parse::<i64>().unwrap());
        assert_eq!(total(OWN_REFC), refc, "{what}: AG {agno}: OWN_REFC blocks");
        let strip = |v: &[Vec<i64>]| v.iter().filter(|r| ![OWN_AG, OWN_INOBT, OWN_REFC].contains(&r[2])).cloned().collect::<Vec<_>>();
        let (a, b) = (strip(&ours), strip(&theirs));
        if a != b {
            let only_ours: Vec<_> = a.iter().filter(|r| !b.contains(r)).take(10).collect();
            let only_theirs: Vec<_> = b.iter().filter(|r| !a.contains(r)).take(10).collect();
            panic!("{what}: AG {agno}: rmapbt differs from xfs_repair's\n ours only: {only_ours:?}\n repair's only: {only_theirs:?}");
        }
    }
}
