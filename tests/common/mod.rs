//! Shared helpers for integration tests: locating fixture images built by `fixtures/build.sh`.
#![allow(dead_code)]

pub mod ext4w;
pub mod fault;
pub mod fat;
pub mod tree;
pub mod view;
pub mod xfs;

use std::path::{Path, PathBuf};
use serde_json::Value as J;
use std::process::Command;

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of a fixture built by `fixtures/build.sh` into `fixtures/build/`. Panics with the
/// command to run when it is missing (tests/run builds every fixture before testing).
pub fn fixture(name: &str) -> PathBuf {
    let p = root().join("fixtures/build").join(name);
    assert!(p.exists(), "fixture {} is missing: run fixtures/build.sh (tests/run does)", p.display());
    p
}

/// Runs a host command and returns its stdout; panics with stderr on failure.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// sha256 of a file, hex.
pub fn sha256_file(p: &Path) -> String {
    use sha2::{Digest, Sha256};
    let data = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    format!("{:x}", Sha256::digest(&data))
}

/// Serialises tests that attach loop devices and run lvm2 (they scan every loop device).
pub fn loop_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A loop device over part of a file, detached on drop.
pub struct Loop(pub String);

impl Loop {
    /// Read-only.
    pub fn attach(file: &Path, offset: u64, size: u64) -> Loop {
        Loop::attach_with(file, offset, size, &["-r"])
    }

    /// Writable (for lvm2 commands that change the metadata).
    pub fn attach_rw(file: &Path, offset: u64, size: u64) -> Loop {
        Loop::attach_with(file, offset, size, &[])
    }

    fn attach_with(file: &Path, offset: u64, size: u64, flags: &[&str]) -> Loop {
        let (o, s) = (offset.to_string(), size.to_string());
        let mut args = flags.to_vec();
        args.extend(["-f", "--show", "-o", &o, "--sizelimit", &s, file.to_str().unwrap()]);
        Loop(run("losetup", &args).trim().to_string())
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

/// Runs an lvm2 report command restricted to `devs`, with a private configuration so the
/// host's LVM state is neither read nor changed. Returns the JSON rows of `kind`.
pub fn lvm_report(cmd: &str, kind: &str, fields: &str, devs: &[&Loop]) -> Vec<J> {
    let all: &[&str] = if cmd == "lvs" { &["-a"] } else { &[] }; // lvs -a: hidden sub-LVs too
    let conf = tempfile::tempdir().unwrap();
    std::fs::write(
        conf.path().join("lvm.conf"),
        "devices { use_devicesfile = 0 obtain_device_list_from_udev = 0 hints = \"none\" }\n\
         global { use_lvmlockd = 0 }\nbackup { backup = 0 archive = 0 }\n",
    )
    .unwrap();
    let list = devs.iter().map(|l| l.0.as_str()).collect::<Vec<_>>().join(",");
    let out = Command::new(cmd)
        .env("LVM_SYSTEM_DIR", conf.path())
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .args(all)
        .args(["--devices", &list, "--readonly", "--units", "b", "--nosuffix", "--reportformat", "json", "-o", fields])
        .output()
        .unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
    let j: J = serde_json::from_slice(&out.stdout).unwrap();
    j["report"][0][kind].as_array().unwrap().clone()
}

/// A small deterministic generator (xorshift64*), so a failing case can be replayed by seed.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64-bit value.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `vresize ARGS` (the built binary).
pub fn vresize(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vresize")).args(args).output().unwrap()
}

/// `vresize ARGS`, which must succeed: its standard output.
pub fn vresize_ok(args: &[&str]) -> String {
    let o = vresize(args);
    assert!(o.status.success(), "vresize {args:?}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A sparse copy of fixture `name` at `dir/as_name`.
pub fn copy_fixture(name: &str, dir: &Path, as_name: &str) -> PathBuf {
    let p = dir.join(as_name);
    run("cp", &["--sparse=always", fixture(name).to_str().unwrap(), p.to_str().unwrap()]);
    p
}
