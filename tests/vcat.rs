//! `vcat` against real oracles: the bytes it prints equal the files of the source trees the
//! fixture images were built from; errors as virt-cat reports them; images untouched.

mod common;

use common::{fixture, root, sha256_file};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vcat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vcat")).args(args).output().unwrap()
}

fn demo() -> PathBuf {
    root().join("fixtures/demo.qcow2")
}

/// Every regular file below `dir` of a source tree, as guest paths.
fn tree_files(tree: &Path, dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![tree.join(dir.trim_start_matches('/'))];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(format!("/{}", e.path().strip_prefix(tree).unwrap().to_str().unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn check_tree(img: &Path, tree: &str, dirs: &[&str]) {
    let before = sha256_file(img);
    let tree = root().join("fixtures/trees").join(tree);
    let mut n = 0;
    for dir in dirs {
        for f in tree_files(&tree, dir) {
            let o = vcat(&["-a", img.to_str().unwrap(), &f]);
            assert!(o.status.success(), "{f}: {}", String::from_utf8_lossy(&o.stderr));
            assert_eq!(o.stdout, std::fs::read(tree.join(&f[1..])).unwrap(), "{f}");
            n += 1;
        }
    }
    assert!(n > 3, "only {n} files checked");
    // several files in one call: concatenated
    let files = tree_files(&tree, dirs[0]);
    let mut args = vec!["-a", img.to_str().unwrap()];
    args.extend(files.iter().map(String::as_str));
    let o = vcat(&args);
    assert!(o.status.success());
    let want: Vec<u8> = files.iter().flat_map(|f| std::fs::read(tree.join(&f[1..])).unwrap()).collect();
    assert_eq!(o.stdout, want);
    assert_eq!(sha256_file(img), before, "image modified");
}

#[test]
fn demo_files_equal_source_tree() {
    check_tree(&demo(), "debian", &["/etc", "/home", "/root"]);
}

#[test]
fn centos7_files_equal_source_tree() {
    check_tree(&fixture("guest-centos7.raw"), "centos7", &["/etc"]);
}

#[test]
fn explicit_mount_and_format() {
    let d = demo();
    let o = vcat(&["--format=qcow2", "-a", d.to_str().unwrap(), "-m", "/dev/demo/root", "/etc/hostname"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.stdout, std::fs::read(root().join("fixtures/trees/debian/etc/hostname")).unwrap());
}

#[test]
fn errors_like_virt_cat() {
    let d = demo();
    let d = d.to_str().unwrap();
    let o = vcat(&["-a", d, "/etc/nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "vcat: error: /etc/nope: No such file or directory\n");
    let o = vcat(&["-a", d, "/etc"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "vcat: error: /etc: Is a directory\n");
    // a bare filesystem image has no OS
    let fsimg = fixture("ext4-4k.img");
    let o = vcat(&["-a", fsimg.to_str().unwrap(), "/etc/hostname"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no operating system"), "{}", String::from_utf8_lossy(&o.stderr));
}
