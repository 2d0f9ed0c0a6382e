//! A tool whose stdout is closed (`vinspect --json | head -1`) ends quietly, as `cat` does —
//! killed by SIGPIPE or done — never with a panic (issue 19 item 3).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

#[test]
fn closed_stdout_never_panics() {
    let demo = common::root().join("fixtures/demo.qcow2");
    let d = demo.to_str().unwrap();
    let runs: &[(&str, &[&str])] = &[
        (env!("CARGO_BIN_EXE_vinspect"), &["--json", "-a", d]),
        (env!("CARGO_BIN_EXE_vinspect"), &["-a", d]),
        (env!("CARGO_BIN_EXE_vfilesystems"), &["-a", d, "--all", "--long"]),
        (env!("CARGO_BIN_EXE_vls"), &["-a", d, "-R", "/"]),
        (env!("CARGO_BIN_EXE_vcat"), &["-a", d, "/etc/os-release"]),
        (env!("CARGO_BIN_EXE_vimage-info"), &["--json", d]),
        (env!("CARGO_BIN_EXE_vsysprep"), &["--list-operations"]),
        (env!("CARGO_BIN_EXE_vdf"), &["-a", d, "-h"]),
        (env!("CARGO_BIN_EXE_vtar-out"), &["-a", d, "/", "-"]),
        (env!("CARGO_BIN_EXE_vcustomize"), &["-a", d, "-n", "--hostname", "pipe-test"]),
    ];
    for (bin, args) in runs {
        for _ in 0..3 {
            let mut child = Command::new(bin).args(*args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
            drop(child.stdout.take()); // the reader goes away at once
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!err.contains("panicked"), "{bin} {args:?}: {err}");
            let sigpipe = out.status.signal() == Some(libc::SIGPIPE);
            assert!(out.status.success() || sigpipe, "{bin} {args:?}: {:?} {err}", out.status);
        }
    }
}
