//! vfish with its stdout closed (`vfish … | head -1`) ends quietly — killed by SIGPIPE or done —
//! never with a panic (issue 19 item 3).
mod common;

use common::demo;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

#[test]
fn closed_stdout_never_panics() {
    let d = demo();
    for _ in 0..3 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vfish"))
            .args(["--ro", "-a", &d, "-i", "find", "/", ":", "cat", "/etc/passwd"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.status.success() || out.status.signal() == Some(13) /* SIGPIPE */, "{:?} {err}", out.status);
    }
}
