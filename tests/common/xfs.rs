//! xfsprogs as the judge of XFS writes: `xfs_db -r` reads and `xfs_repair -n`.

use std::collections::BTreeMap;
use std::path::Path;
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
