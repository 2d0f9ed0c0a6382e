//! Helpers for the vfish integration tests: fixtures, running the binary, host tools.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The committed demo image (GPT: ESP + LVM PV, VG demo with LVs root and swap).
pub fn demo() -> String {
    root()
        .join("fixtures/demo.qcow2")
        .to_string_lossy()
        .into_owned()
}

/// A fixture built by `fixtures/build.sh` (tests/run builds them all first).
pub fn fixture(name: &str) -> String {
    let p = root().join("fixtures/build").join(name);
    assert!(
        p.exists(),
        "fixture {} is missing: run fixtures/build.sh (tests/run does)",
        p.display()
    );
    p.to_string_lossy().into_owned()
}

/// What a vfish run produced.
#[derive(Debug)]
pub struct Out {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// The `$HOME` vfish runs with in these tests (for `~` expansion).
pub const HOME: &str = "/home/vfish-test";

/// Runs vfish with `args` and `stdin` (None = empty; never a terminal).
pub fn vfish(args: &[&str], stdin: Option<&str>) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vfish"));
    cmd.args(args)
        .env("HOME", HOME)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn vfish");
    {
        let mut si = child.stdin.take().expect("stdin");
        if let Some(s) = stdin {
            si.write_all(s.as_bytes()).expect("write stdin");
        }
    }
    let o = child.wait_with_output().expect("wait vfish");
    Out {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}

/// Runs vfish and asserts success and an empty stderr; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let o = vfish(args, None);
    assert!(o.code == 0 && o.stderr.is_empty(), "vfish {args:?}: {o:?}");
    o.stdout
}

/// Runs a host tool (PATH plus /usr/sbin, /sbin) and returns stdout; panics on failure.
pub fn tool(cmd: &str, args: &[&str]) -> String {
    let path = format!(
        "{}:/usr/sbin:/sbin",
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(cmd)
        .args(args)
        .env("PATH", path)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// sha256 of a file, hex.
pub fn sha256_file(p: &Path) -> String {
    use sha2::{Digest, Sha256};
    let data = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    format!("{:x}", Sha256::digest(&data))
}

/// Serialises tests that attach loop devices (lvm2 and kernel mounts).
pub fn loop_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A read-only loop device over `size` bytes at `offset` of a file, detached on drop.
pub struct Loop(pub String);

impl Loop {
    pub fn attach(file: &str, offset: u64, size: u64) -> Loop {
        let (o, s) = (offset.to_string(), size.to_string());
        let dev = tool("losetup", &["-r", "-f", "--show", "-o", &o, "--sizelimit", &s, file]);
        Loop(dev.trim().to_string())
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

/// An lvm2 report (`pvs`, `vgs`, `lvs`) of `fields` over the loop devices only, with a private
/// configuration (the host's LVM state is neither read nor changed): the JSON rows of `kind`.
pub fn lvm_report(cmd: &str, kind: &str, fields: &str, devs: &[&Loop]) -> Vec<serde_json::Value> {
    let conf = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        conf.path().join("lvm.conf"),
        "devices { use_devicesfile = 0 obtain_device_list_from_udev = 0 hints = \"none\" }\n\
         global { use_lvmlockd = 0 }\nbackup { backup = 0 archive = 0 }\n",
    )
    .expect("lvm.conf");
    let list = devs.iter().map(|l| l.0.as_str()).collect::<Vec<_>>().join(",");
    let path = format!("{}:/usr/sbin:/sbin", std::env::var("PATH").unwrap_or_default());
    let out = Command::new(cmd)
        .env("PATH", path)
        .env("LVM_SYSTEM_DIR", conf.path())
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .args(["--devices", &list, "--readonly", "--units", "b", "--nosuffix"])
        .args(["--reportformat", "json", "-o", fields])
        .output()
        .expect("lvm2");
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("lvm2 json");
    j["report"][0][kind].as_array().expect("report rows").clone()
}

/// Partitions of an image as (start, size) in bytes, from `sfdisk -J`.
pub fn partitions(image: &str) -> Vec<(u64, u64)> {
    let j: serde_json::Value = serde_json::from_str(&tool("sfdisk", &["-J", image])).expect("sfdisk json");
    j["partitiontable"]["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| (p["start"].as_u64().expect("start") * 512, p["size"].as_u64().expect("size") * 512))
        .collect()
}
