//! `vcopy-in`, `vcopy-out`, `vtar-in`, `vtar-out` (virt-copy-in/out, virt-tar-in/out) on a
//! scratch copy of the Ubuntu guest (GPT: ESP + ext4 root, found by inspection): what goes in
//! is judged by e2fsck (clean) and debugfs (`rdump` of the tree equals the host tree, `stat`
//! modes and owners); what comes out equals debugfs' `rdump` of the same directory and the
//! fixture source tree; GNU tar reads the tarballs (plain, `-z`, `--xz`, to stdout) and lists
//! the members virt-tar-out's tarball of the same directory has; the read-only tools leave the
//! image untouched.

mod common;

use common::ext4w::{assert_fsck_clean, debugfs_text, scratch, stat_field};
use common::{fixture, root, run, sha256_file};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn tool(bin: &str, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().unwrap()
}

fn ok(bin: &str, args: &[&str]) -> Vec<u8> {
    let o = tool(bin, args);
    assert!(o.status.success(), "{bin} {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

/// The ext4 root (partition 2, sectors 34816..) of a guest-ubuntu image, as a file.
fn root_fs(img: &Path, dir: &Path) -> PathBuf {
    let out = dir.join("root.ext4");
    let (i, o) = (format!("if={}", img.display()), format!("of={}", out.display()));
    run("dd", &[&i, &o, "bs=512", "skip=34816", "count=96223", "conv=sparse", "status=none"]);
    out
}

/// `diff -r --no-dereference` of two host trees: empty when equal (contents, names, links).
fn diff(a: &Path, b: &Path) -> String {
    let o = Command::new("diff").args(["-r", "--no-dereference"]).arg(a).arg(b).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// debugfs `rdump` of guest directory `dir` of an ext4 image into a new host directory.
fn rdump(fs: &Path, dir: &str, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    debugfs_text(fs, &format!("rdump {dir} {}", to.display()));
    to.join(dir.rsplit('/').next().unwrap())
}

/// A small host tree: files of several sizes (one spanning many blocks), a nested directory,
/// a symlink, odd modes.
fn host_tree(dir: &Path) -> PathBuf {
    let t = dir.join("payload");
    std::fs::create_dir_all(t.join("sub/deeper")).unwrap();
    std::fs::write(t.join("empty"), b"").unwrap();
    std::fs::write(t.join("hello.txt"), b"hello, guest\n").unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(t.join("sub/big.bin"), &big).unwrap();
    std::fs::write(t.join("sub/deeper/x.conf"), b"key = value\n").unwrap();
    std::os::unix::fs::symlink("../hello.txt", t.join("sub/link")).unwrap();
    std::fs::set_permissions(t.join("hello.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::set_permissions(t.join("sub/deeper"), std::fs::Permissions::from_mode(0o750)).unwrap();
    t
}

#[test]
fn copy_in_is_judged_by_e2fsck_and_debugfs() {
    let s = scratch("guest-ubuntu.raw");
    let img = s.path.to_str().unwrap();
    let work = tempfile::tempdir().unwrap();
    let t = host_tree(work.path());
    let extra = work.path().join("single.txt");
    std::fs::write(&extra, b"one file\n").unwrap();
    ok(env!("CARGO_BIN_EXE_vcopy-in"), &["-a", img, t.to_str().unwrap(), extra.to_str().unwrap(), "/root"]);
    let fs = root_fs(&s.path, work.path());
    assert_fsck_clean(&fs);
    let got = rdump(&fs, "/root/payload", &work.path().join("dump"));
    assert_eq!(diff(&t, &got), "", "rdump of /root/payload differs from the host tree");
    let single = debugfs_text(&fs, "cat /root/single.txt");
    assert_eq!(single, "one file\n");
    let st = debugfs_text(&fs, "stat /root/payload/hello.txt");
    assert!(stat_field(&st, "Mode").starts_with("0640"), "{st}");
    assert_eq!(stat_field(&st, "User"), "0", "{st}");
    let st = debugfs_text(&fs, "stat /root/payload/sub/deeper");
    assert!(stat_field(&st, "Mode").starts_with("0750"), "{st}");

    // -m instead of inspection: the ESP (vfat), judged by fsck.vfat and mtype
    ok(env!("CARGO_BIN_EXE_vcopy-in"), &["-a", img, "-m", "/dev/sda1", extra.to_str().unwrap(), "/"]);
    let esp = work.path().join("esp.img");
    let (i, o) = (format!("if={img}"), format!("of={}", esp.display()));
    run("dd", &[&i, &o, "bs=512", "skip=2048", "count=32768", "status=none"]);
    run("fsck.vfat", &["-n", esp.to_str().unwrap()]);
    assert_eq!(run("mtype", &["-i", esp.to_str().unwrap(), "::/single.txt"]), "one file\n");
}

#[test]
fn copy_in_errors_leave_the_image_unchanged() {
    let s = scratch("guest-ubuntu.raw");
    let img = s.path.to_str().unwrap();
    let before = sha256_file(&s.path);
    let o = tool(env!("CARGO_BIN_EXE_vcopy-in"), &["-a", img, "/nonexistent-host-file", "/root"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "vcopy-in: error: /nonexistent-host-file: No such file or directory\n");
    let o = tool(env!("CARGO_BIN_EXE_vcopy-in"), &["-a", img, "/etc/hostname", "/no/such/dir"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/no/such/dir"), "{o:?}");
    let o = tool(env!("CARGO_BIN_EXE_vcopy-in"), &["-a", img, "/root"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(sha256_file(&s.path), before, "a failed copy-in wrote to the image");
}

#[test]
fn copy_out_equals_debugfs_and_the_source_tree() {
    let img = fixture("guest-ubuntu.raw");
    let before = sha256_file(&img);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    ok(env!("CARGO_BIN_EXE_vcopy-out"), &["-a", img.to_str().unwrap(), "/etc", "/etc/hostname", out.to_str().unwrap()]);
    let fs = root_fs(&img, work.path());
    let want = rdump(&fs, "/etc", &work.path().join("dump"));
    assert_eq!(diff(&want, &out.join("etc")), "");
    assert_eq!(diff(&root().join("fixtures/trees/ubuntu/etc"), &out.join("etc")), "");
    assert_eq!(std::fs::read(out.join("hostname")).unwrap(), std::fs::read(root().join("fixtures/trees/ubuntu/etc/hostname")).unwrap());
    // a missing local directory, a missing guest path: errors naming them
    let o = tool(env!("CARGO_BIN_EXE_vcopy-out"), &["-a", img.to_str().unwrap(), "/etc", "/nonexistent-dir"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent-dir"), "{o:?}");
    let o = tool(env!("CARGO_BIN_EXE_vcopy-out"), &["-a", img.to_str().unwrap(), "/no-such", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/no-such"), "{o:?}");
    assert_eq!(sha256_file(&img), before, "image modified");
}

#[test]
fn tar_out_is_read_by_gnu_tar() {
    let img = fixture("guest-ubuntu.raw");
    let before = sha256_file(&img);
    let work = tempfile::tempdir().unwrap();
    let fs = root_fs(&img, work.path());
    let want = rdump(&fs, "/etc", &work.path().join("dump"));
    for (flag, tar_flag) in [(None, "-xf"), (Some("-z"), "-xzf"), (Some("--xz"), "-xJf")] {
        let tarball = work.path().join("etc.tar");
        let mut args = vec!["-a", img.to_str().unwrap()];
        args.extend(flag);
        args.extend(["/etc", tarball.to_str().unwrap()]);
        ok(env!("CARGO_BIN_EXE_vtar-out"), &args);
        let x = work.path().join(format!("x{}", flag.unwrap_or("")));
        std::fs::create_dir(&x).unwrap();
        run("tar", &["-C", x.to_str().unwrap(), tar_flag, tarball.to_str().unwrap()]);
        assert_eq!(diff(&want, &x), "", "{flag:?}");
    }
    // to standard output
    let stdout = ok(env!("CARGO_BIN_EXE_vtar-out"), &["-a", img.to_str().unwrap(), "-z", "/etc", "-"]);
    let mut t = Command::new("tar").args(["-tzf", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut t.stdin.take().unwrap(), &stdout).unwrap();
    let listing = String::from_utf8(t.wait_with_output().unwrap().stdout).unwrap();
    assert!(listing.lines().any(|l| l == "os-release"), "{listing}");
    let o = tool(env!("CARGO_BIN_EXE_vtar-out"), &["-a", img.to_str().unwrap(), "/etc/hostname", "-"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "vtar-out: error: /etc/hostname: Not a directory\n");
    assert_eq!(sha256_file(&img), before, "image modified");
}

#[test]
fn tar_in_is_judged_by_e2fsck_and_debugfs() {
    let s = scratch("guest-ubuntu.raw");
    let img = s.path.to_str().unwrap();
    let work = tempfile::tempdir().unwrap();
    let t = host_tree(work.path());
    let parent = t.parent().unwrap().to_str().unwrap();
    let modes = [("plain", "/tmp", None, "-cf"), ("gz", "/run", Some("-z"), "-czf"), ("xz", "/var/tmp", Some("--xz"), "-cJf")];
    for (name, dest, flag, tar_flag) in modes {
        let tarball = work.path().join(format!("p.{name}"));
        run("tar", &["-C", parent, "--numeric-owner", tar_flag, tarball.to_str().unwrap(), "payload"]);
        let mut args = vec!["-a", img];
        args.extend(flag);
        args.extend([tarball.to_str().unwrap(), dest]);
        ok(env!("CARGO_BIN_EXE_vtar-in"), &args);
    }
    let fs = root_fs(&s.path, work.path());
    assert_fsck_clean(&fs);
    for (name, dest, _, _) in modes {
        let got = rdump(&fs, &format!("{dest}/payload"), &work.path().join(format!("dump-{name}")));
        assert_eq!(diff(&t, &got), "", "{name}");
    }
    let st = debugfs_text(&fs, "stat /var/tmp/payload/hello.txt");
    assert!(stat_field(&st, "Mode").starts_with("0640"), "{st}");
    // from standard input; a member escaping with .. is refused and nothing is written
    let before = sha256_file(&s.path);
    let evil = work.path().join("evil.tar");
    run("tar", &["-C", parent, "-cf", evil.to_str().unwrap(), "--transform", "s,^payload,../../escape,", "payload/hello.txt"]);
    let o = Command::new(env!("CARGO_BIN_EXE_vtar-in")).args(["-a", img, "-", "/tmp"]).stdin(std::fs::File::open(&evil).unwrap()).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("'..' in a member name is refused"), "{o:?}");
    assert_eq!(sha256_file(&s.path), before, "a failed tar-in wrote to the image");
}

/// `vtar-out` against virt-tar-out itself: the listing of its tarball of the same directory
/// (recorded by `fixtures/libguestfs/regen.sh`, `ONLY=tar`) has the same members with the same
/// types, modes, numeric owners, sizes and link targets. virt-tar-out's tar runs `tar -cf - .`
/// in the directory, so its names start with `./` and it has a `./` member; vtar-out names
/// members as vfish's tar-out does (no `./`, no member for the directory itself), which GNU
/// tar extracts the same. Times are left out: they are the fixture build's.
#[test]
fn tar_out_members_equal_virt_tar_out_s() {
    let img = fixture("guest-ubuntu.raw");
    let work = tempfile::tempdir().unwrap();
    let tarball = work.path().join("etc.tar");
    ok(env!("CARGO_BIN_EXE_vtar-out"), &["-a", img.to_str().unwrap(), "/etc", tarball.to_str().unwrap()]);
    let out = Command::new("tar").args(["-tv", "--numeric-owner", "--full-time", "-f"]).arg(&tarball).env("TZ", "UTC").output().unwrap();
    assert!(out.status.success());
    // mode owner size date time name [-> target]: all but the date and time, name without ./
    let rows = |listing: &str| {
        let mut v: Vec<String> = listing
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let name = f[5..].join(" ");
                format!("{} {} {} {}", f[0], f[1], f[2], name.strip_prefix("./").unwrap_or(&name))
            })
            .filter(|r| !r.ends_with(' '))
            .collect();
        v.sort();
        v
    };
    let golden = std::fs::read_to_string(root().join("fixtures/libguestfs/guest-ubuntu.virt-tar-out-etc.txt")).unwrap();
    assert_eq!(rows(&String::from_utf8_lossy(&out.stdout)), rows(&golden));
}

/// `vcopy-in` and `vtar-in` into a compressed qcow2 guest: `qemu-img check` finds the image
/// clean, and its raw conversion holds the files (debugfs) in an e2fsck-clean filesystem.
#[test]
fn copy_in_and_tar_in_on_qcow2_are_judged_by_qemu_img() {
    let work = tempfile::tempdir().unwrap();
    let q = work.path().join("g.qcow2");
    std::fs::copy(fixture("guest-ubuntu.qcow2"), &q).unwrap();
    let t = host_tree(work.path());
    ok(env!("CARGO_BIN_EXE_vcopy-in"), &["-a", q.to_str().unwrap(), t.to_str().unwrap(), "/root"]);
    let tarball = work.path().join("p.tgz");
    run("tar", &["-C", t.parent().unwrap().to_str().unwrap(), "-czf", tarball.to_str().unwrap(), "payload"]);
    ok(env!("CARGO_BIN_EXE_vtar-in"), &["-a", q.to_str().unwrap(), "-z", tarball.to_str().unwrap(), "/tmp"]);
    run("qemu-img", &["check", "-q", q.to_str().unwrap()]);
    let raw = work.path().join("g.raw");
    run("qemu-img", &["convert", "-O", "raw", q.to_str().unwrap(), raw.to_str().unwrap()]);
    let fs = root_fs(&raw, work.path());
    assert_fsck_clean(&fs);
    for dir in ["/root/payload", "/tmp/payload"] {
        let got = rdump(&fs, dir, &work.path().join(format!("dump{}", dir.replace('/', "-"))));
        assert_eq!(diff(&t, &got), "", "{dir}");
    }
}
