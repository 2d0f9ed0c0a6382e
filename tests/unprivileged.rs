//! The gatekeeper tools need no privilege (issue 21 item 5): run as an unprivileged user with
//! no capabilities at all (`setpriv --reuid 12345 --regid 12345 --clear-groups --inh-caps=-all
//! --bounding-set=-all`), `vimage-info`, `vinspect --glance`, `vsysprep --audit`,
//! `vfilesystems` and `vcat` print exactly what they print as root, with the same exit code; a
//! `vsysprep` run on an image that user owns writes it as it does for root; an image the user
//! cannot read is a clear error naming it.

mod common;

use common::{fixture, run};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const UID: &str = "12345";

/// Runs tool `bin` with `args`, as root or as the unprivileged user.
fn tool(bin: &str, args: &[&str], unprivileged: bool) -> Output {
    let mut c = if unprivileged {
        let mut c = Command::new("setpriv");
        c.args(["--reuid", UID, "--regid", UID, "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", bin]);
        c
    } else {
        Command::new(bin)
    };
    c.args(args).env("HOME", "/nonexistent").output().unwrap()
}

/// A directory the user may enter, holding a copy of fixture `name` it may read (and, with
/// `owned`, write: the directory and the image are the user's).
fn shared_copy(dir: &Path, name: &str, owned: bool) -> String {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let img = dir.join(name);
    run("cp", &["--sparse=always", fixture(name).to_str().unwrap(), img.to_str().unwrap()]);
    std::fs::set_permissions(&img, std::fs::Permissions::from_mode(0o644)).unwrap();
    if owned {
        run("chown", &["-R", &format!("{UID}:{UID}"), dir.to_str().unwrap()]);
    }
    img.to_str().unwrap().to_string()
}

#[test]
fn gatekeeper_tools_answer_the_same_without_privilege() {
    let d = tempfile::tempdir().unwrap();
    for name in ["guest-el9.qcow2", "guest-ubuntu.qcow2"] {
        let img = shared_copy(d.path(), name, false);
        for (bin, args) in [
            (env!("CARGO_BIN_EXE_vimage-info"), vec![img.as_str()]),
            (env!("CARGO_BIN_EXE_vimage-info"), vec!["--json", img.as_str()]),
            (env!("CARGO_BIN_EXE_vinspect"), vec!["--glance", "-a", img.as_str()]),
            (env!("CARGO_BIN_EXE_vsysprep"), vec!["--audit", "--json", "-a", img.as_str()]),
            (env!("CARGO_BIN_EXE_vfilesystems"), vec!["--long", "-a", img.as_str()]),
            (env!("CARGO_BIN_EXE_vcat"), vec!["-a", img.as_str(), "/etc/os-release"]),
        ] {
            let root = tool(bin, &args, false);
            let user = tool(bin, &args, true);
            let what = format!("{} {args:?}", Path::new(bin).file_name().unwrap().to_string_lossy());
            assert!(!root.stdout.is_empty(), "{what}: {}", String::from_utf8_lossy(&root.stderr));
            assert_eq!(user.status.code(), root.status.code(), "{what}: {}", String::from_utf8_lossy(&user.stderr));
            assert_eq!(String::from_utf8_lossy(&user.stdout), String::from_utf8_lossy(&root.stdout), "{what}");
        }
    }
}

#[test]
fn an_owned_image_is_written_and_an_unreadable_one_named() {
    let mine = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let img = shared_copy(mine.path(), "guest-ubuntu.qcow2", true);
    let twin = shared_copy(theirs.path(), "guest-ubuntu.qcow2", false);
    let args = |i: &str| vec!["-q", "--operations", "logfiles,bash-history,ssh-hostkeys", "-a", i].into_iter().map(str::to_string).collect::<Vec<_>>();
    let vsysprep = env!("CARGO_BIN_EXE_vsysprep");
    let user = tool(vsysprep, &args(&img).iter().map(String::as_str).collect::<Vec<_>>(), true);
    assert!(user.status.success(), "{}", String::from_utf8_lossy(&user.stderr));
    let root = tool(vsysprep, &args(&twin).iter().map(String::as_str).collect::<Vec<_>>(), false);
    assert!(root.status.success());
    let cmp = Command::new("qemu-img").args(["compare", "-q", &img, &twin]).status().unwrap();
    assert_eq!(cmp.code(), Some(0), "the unprivileged run wrote another guest");
    run("qemu-img", &["check", &img]);
    // the user may not read the root-owned image once it is 0600
    std::fs::set_permissions(&twin, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = tool(env!("CARGO_BIN_EXE_vinspect"), &["-a", &twin], true);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains(&twin) && err.contains("ermission denied"), "{err}");
}
