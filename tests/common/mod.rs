//! Shared helpers for integration tests: locating fixture images built by `fixtures/build.sh`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
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
