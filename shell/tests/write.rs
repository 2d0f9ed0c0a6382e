//! The write commands with `--rw`, judged by the real tools: every image ends `e2fsck -fn`
//! clean and its files are read back with `debugfs` (and `qemu-img check` for qcow2).
//! Without `--rw` every write command fails with EROFS and the image stays byte-identical.
mod common;

use common::{ok, sha256_file, tool, vfish};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh 32 MiB ext4 image built by `mkfs.ext4 -d` from a small tree.
fn ext4_image(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("etc/ssh")).unwrap();
    std::fs::write(tree.join("etc/hostname"), "guest\n").unwrap();
    std::fs::write(tree.join("etc/ssh/ssh_host_rsa_key"), "KEY\n").unwrap();
    std::fs::write(tree.join("etc/motd"), "hello a world\n").unwrap();
    let img = dir.join("fs.img");
    tool("mkfs.ext4", &["-q", "-F", "-d", tree.to_str().unwrap(), img.to_str().unwrap(), "32M"]);
    img
}

/// `e2fsck -fn` exits 0 (nothing to fix).
fn assert_fsck_clean(img: &Path) {
    let out = Command::new("/sbin/e2fsck").args(["-fn", img.to_str().unwrap()]).output().unwrap();
    assert!(
        out.status.success(),
        "e2fsck -fn {}: {}{}",
        img.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `debugfs -R REQUEST IMG` output.
fn debugfs(img: &Path, request: &str) -> String {
    tool("debugfs", &["-R", request, img.to_str().unwrap()])
}

fn rw(img: &Path, cmds: &[&str]) -> String {
    let mut args = vec!["--rw", "-a", img.to_str().unwrap(), "-m", "/dev/sda"];
    args.extend_from_slice(cmds);
    ok(&args)
}

#[test]
fn write_commands_are_judged_by_e2fsck_and_debugfs() {
    let t = tempfile::tempdir().unwrap();
    let img = ext4_image(t.path());
    rw(
        &img,
        &[
            "write", "/etc/hostname", "newname\n", ":",
            "write-append", "/etc/hostname", "more\n", ":",
            "mkdir-p", "/var/lib/cloud/x", ":",
            "mkdir-mode", "/srv", "0700", ":",
            "touch", "/var/lib/cloud/x/stamp", ":",
            "rm", "/etc/ssh/ssh_host_rsa_key", ":",
            "ln-s", "../etc/hostname", "/srv/link", ":",
            "ln", "/etc/motd", "/srv/motd.hard", ":",
            "cp", "/etc/motd", "/srv/motd.copy", ":",
            "mv", "/etc/motd", "/etc/motd.old", ":",
            "chmod", "0600", "/etc/motd.old", ":",
            "chown", "1000", "1001", "/etc/motd.old", ":",
            "truncate-size", "/srv/motd.copy", "3", ":",
            "mkfifo", "0644", "/srv/fifo", ":",
            "mknod-c", "0600", "4", "64", "/srv/ttyS0", ":",
            "setxattr", "user.test", "value", "5", "/etc/hostname", ":",
            "utimens", "/etc/hostname", "1000000000", "5", "1234567890", "6",
        ],
    );
    assert_fsck_clean(&img);
    assert_eq!(debugfs(&img, "cat /etc/hostname"), "newname\nmore\n");
    assert_eq!(debugfs(&img, "cat /srv/motd.copy"), "hel");
    assert_eq!(debugfs(&img, "cat /etc/motd.old"), "hello a world\n");
    assert!(debugfs(&img, "stat /etc/ssh/ssh_host_rsa_key").is_empty());
    let st = debugfs(&img, "stat /etc/motd.old");
    assert!(st.contains("Mode:  0600") && st.contains("User:  1000") && st.contains("Group:  1001"), "{st}");
    assert!(st.contains("Links: 2"), "hard link counted: {st}");
    let st = debugfs(&img, "stat /srv");
    assert!(st.contains("Type: directory") && st.contains("Mode:  0700"), "{st}");
    assert!(debugfs(&img, "stat /srv/link").contains("Fast link dest: \"../etc/hostname\""));
    assert!(debugfs(&img, "stat /srv/fifo").contains("Type: FIFO"));
    let dev = debugfs(&img, "stat /srv/ttyS0");
    assert!(dev.contains("Type: character special") && dev.contains("Device major/minor number: 04:64"), "{dev}");
    assert!(debugfs(&img, "ea_get /etc/hostname user.test").contains("value"));
    let st = debugfs(&img, "stat /etc/hostname");
    assert!(st.contains("mtime: 0x499602d2:00000018"), "mtime 1234567890 s + 6 ns: {st}");
    assert!(debugfs(&img, "ls -l /var/lib/cloud/x").contains("stamp"));
}

#[test]
fn recursive_removal_copy_and_selinux_labels() {
    let t = tempfile::tempdir().unwrap();
    let img = ext4_image(t.path());
    rw(
        &img,
        &[
            "setxattr", "security.selinux", "system_u:object_r:etc_t:s0", "26", "/etc/hostname", ":",
            "write", "/etc/hostname", "relabelled?\n", ":",
            "cp-a", "/etc", "/etc.bak", ":",
            "cp-r", "/etc", "/etc.r", ":",
            "rm-rf", "/etc/ssh", ":",
            "rm-rf", "/does/not/exist", ":",
            "rm-f", "/nope",
        ],
    );
    assert_fsck_clean(&img);
    // a rewritten file keeps its SELinux label
    assert!(debugfs(&img, "ea_get /etc/hostname security.selinux").contains("system_u:object_r:etc_t:s0"));
    assert!(debugfs(&img, "ea_get /etc.bak/hostname security.selinux").contains("etc_t"), "cp-a keeps xattrs");
    assert_eq!(debugfs(&img, "cat /etc.bak/ssh/ssh_host_rsa_key"), "KEY\n");
    assert_eq!(debugfs(&img, "cat /etc.r/hostname"), "relabelled?\n");
    assert!(debugfs(&img, "stat /etc/ssh").is_empty());
}

#[test]
fn errors_are_the_kernels() {
    let t = tempfile::tempdir().unwrap();
    let img = ext4_image(t.path());
    let a = ["--rw", "-a", img.to_str().unwrap(), "-m", "/dev/sda"];
    let run = |cmd: &[&str]| {
        let mut v = a.to_vec();
        v.extend_from_slice(cmd);
        vfish(&v, None)
    };
    for (cmd, msg) in [
        (&["rm", "/etc"][..], "rm: /etc: Is a directory"),
        (&["rmdir", "/etc"], "rmdir: /etc: Directory not empty"),
        (&["mkdir", "/etc"], "mkdir: /etc: File exists"),
        (&["rm", "/nope"], "rm: /nope: No such file or directory"),
        (&["write", "/nodir/x", "y"], "write: /nodir/x: No such file or directory"),
        (&["truncate", "/nope"], "truncate: /nope: No such file or directory"),
        (&["ln-s", "x", "/etc/hostname"], "ln_s: /etc/hostname: File exists"),
    ] {
        let o = run(cmd);
        assert_eq!(o.code, 1, "{cmd:?}: {o:?}");
        assert!(o.stderr.contains(msg), "{cmd:?}: {}", o.stderr);
    }
    assert_fsck_clean(&img);
}

#[test]
fn without_rw_every_write_fails_and_the_image_is_unchanged() {
    let t = tempfile::tempdir().unwrap();
    let img = ext4_image(t.path());
    let before = sha256_file(&img);
    for cmd in [
        &["write", "/x", "y"][..],
        &["mkdir", "/d"],
        &["rm", "/etc/motd"],
        &["rm-rf", "/etc"],
        &["touch", "/etc/motd"],
        &["chmod", "0777", "/etc/motd"],
        &["ln-s", "a", "/b"],
        &["setxattr", "user.x", "v", "1", "/etc/motd"],
    ] {
        let mut v = vec!["-a", img.to_str().unwrap(), "-m", "/dev/sda"];
        v.extend_from_slice(cmd);
        let o = vfish(&v, None);
        assert_eq!(o.code, 1, "{cmd:?}");
        assert!(o.stderr.contains("Read-only file system"), "{cmd:?}: {}", o.stderr);
    }
    assert_eq!(sha256_file(&img), before);
}

#[test]
fn tar_in_and_copy_in_equal_the_host_tree() {
    let t = tempfile::tempdir().unwrap();
    let img = ext4_image(t.path());
    let src = t.path().join("src");
    std::fs::create_dir_all(src.join("d/e")).unwrap();
    std::fs::write(src.join("d/a.txt"), "alpha\n").unwrap();
    std::fs::write(src.join("d/e/big.bin"), vec![7u8; 3 << 20]).unwrap();
    std::os::unix::fs::symlink("a.txt", src.join("d/lnk")).unwrap();
    std::fs::hard_link(src.join("d/a.txt"), src.join("d/hard")).unwrap();
    let tarfile = t.path().join("t.tar.gz");
    tool("tar", &["-czf", tarfile.to_str().unwrap(), "-C", src.to_str().unwrap(), "d"]);
    rw(
        &img,
        &[
            "mkdir", "/fromtar", ":",
            "tar-in", tarfile.to_str().unwrap(), "/fromtar", "compress:gzip", ":",
            "mkdir", "/fromcopy", ":",
            "copy-in", src.join("d").to_str().unwrap(), "/fromcopy",
        ],
    );
    assert_fsck_clean(&img);
    for top in ["/fromtar/d", "/fromcopy/d"] {
        assert_eq!(debugfs(&img, &format!("cat {top}/a.txt")), "alpha\n");
        let out = t.path().join("big.out");
        debugfs(&img, &format!("dump {top}/e/big.bin {}", out.display()));
        assert_eq!(std::fs::read(&out).unwrap(), vec![7u8; 3 << 20], "{top}");
        assert!(debugfs(&img, &format!("stat {top}/lnk")).contains("Fast link dest: \"a.txt\""));
    }
    assert!(debugfs(&img, "stat /fromtar/d/a.txt").contains("Links: 2"), "tar hard link kept");
}

#[test]
fn edit_runs_the_editor_and_writes_back() {
    let t = tempfile::tempdir().unwrap();
    let img = ext4_image(t.path());
    let o = Command::new(env!("CARGO_BIN_EXE_vfish"))
        .args(["--rw", "-a", img.to_str().unwrap(), "-m", "/dev/sda", "edit", "/etc/motd"])
        .env("EDITOR", "sed -i s/a/b/")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_fsck_clean(&img);
    assert_eq!(debugfs(&img, "cat /etc/motd"), "hello b world\n");
}

#[test]
fn qcow2_writes_pass_qemu_img_check() {
    let t = tempfile::tempdir().unwrap();
    let raw = ext4_image(t.path());
    let q = t.path().join("fs.qcow2");
    tool("qemu-img", &["convert", "-f", "raw", "-O", "qcow2", raw.to_str().unwrap(), q.to_str().unwrap()]);
    let payload = t.path().join("payload.bin");
    std::fs::write(&payload, (0..5u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect::<Vec<u8>>()).unwrap();
    rw(&q, &["write", "/etc/hostname", "q\n", ":", "mkdir-p", "/a/b", ":", "upload", payload.to_str().unwrap(), "/a/b/fs.img"]);
    tool("qemu-img", &["check", q.to_str().unwrap()]);
    let back = t.path().join("back.raw");
    tool("qemu-img", &["convert", "-O", "raw", q.to_str().unwrap(), back.to_str().unwrap()]);
    assert_fsck_clean(&back);
    assert_eq!(debugfs(&back, "cat /etc/hostname"), "q\n");
    let out = t.path().join("up.out");
    debugfs(&back, &format!("dump /a/b/fs.img {}", out.display()));
    assert_eq!(sha256_file(&out), sha256_file(&payload));
}

#[test]
fn dry_run_lists_the_changes_and_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let img = ext4_image(t.path());
    let before = std::fs::read(&img).unwrap();
    let cmds = ["write", "/etc/hostname", "x", ":", "mkdir", "/d", ":", "rm", "/etc/motd"];
    let mut args = vec!["--rw", "--dry-run", "-a", img.to_str().unwrap(), "-m", "/dev/sda"];
    args.extend_from_slice(&cmds);
    let out = ok(&args);
    assert_eq!(std::fs::read(&img).unwrap(), before, "a dry run writes nothing");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("dry run: nothing was written; these changes would have been made:"));
    assert_eq!(lines.by_ref().take(3).collect::<Vec<_>>(), ["write /etc/hostname", "mkdir /d", "rm /etc/motd"]);
    let dev = lines.next().unwrap();
    assert!(dev.starts_with(&format!("/dev/sda ({}): ", img.display())), "{dev}");
    let ranges: Vec<(usize, usize)> = lines
        .map(|l| {
            let r = l.trim().strip_prefix("bytes ").unwrap().split(' ').next().unwrap();
            let (s, e) = r.split_once("..").unwrap();
            (s.parse().unwrap(), e.parse().unwrap())
        })
        .collect();
    assert!(!ranges.is_empty());
    // the same commands for real change bytes inside the listed ranges only
    rw(&img, &cmds);
    let after = std::fs::read(&img).unwrap();
    assert_ne!(after, before);
    let outside = before
        .iter()
        .zip(&after)
        .enumerate()
        .filter(|(i, (x, y))| x != y && !ranges.iter().any(|&(s, e)| (s..e).contains(i)))
        .count();
    assert_eq!(outside, 0, "bytes changed outside the dry run's ranges");
}

#[test]
fn qcow2_variants_commit_cleanly_and_backing_files_stay() {
    let t = tempfile::tempdir().unwrap();
    let raw = ext4_image(t.path());
    let p = |n: &str| t.path().join(n).to_str().unwrap().to_string();
    tool("qemu-img", &["convert", "-c", "-O", "qcow2", raw.to_str().unwrap(), &p("c.qcow2")]);
    tool("qemu-img", &["convert", "-O", "qcow2", "-o", "compat=0.10", raw.to_str().unwrap(), &p("v2.qcow2")]);
    tool("qemu-img", &["convert", "-O", "qcow2", raw.to_str().unwrap(), &p("base.qcow2")]);
    tool("qemu-img", &["create", "-f", "qcow2", "-F", "qcow2", "-b", &p("base.qcow2"), &p("top.qcow2")]);
    let base_sha = sha256_file(Path::new(&p("base.qcow2")));
    for img in ["c.qcow2", "v2.qcow2", "top.qcow2"] {
        let q = PathBuf::from(p(img));
        rw(&q, &["write", "/etc/hostname", "variant\n", ":", "mkdir-p", "/x/y", ":", "cp-a", "/etc", "/x/y/etc", ":", "rm-rf", "/etc/ssh"]);
        tool("qemu-img", &["check", q.to_str().unwrap()]);
        let back = t.path().join(format!("{img}.raw"));
        tool("qemu-img", &["convert", "-O", "raw", q.to_str().unwrap(), back.to_str().unwrap()]);
        assert_fsck_clean(&back);
        assert_eq!(debugfs(&back, "cat /x/y/etc/hostname"), "variant\n", "{img}");
        assert!(debugfs(&back, "stat /etc/ssh").is_empty(), "{img}");
    }
    assert_eq!(sha256_file(Path::new(&p("base.qcow2"))), base_sha, "backing file untouched");
}

#[test]
fn fat_esp_of_the_demo_image_is_written_and_passes_fsck_vfat() {
    let t = tempfile::tempdir().unwrap();
    let q = t.path().join("demo.qcow2");
    std::fs::copy(common::demo(), &q).unwrap();
    ok(&[
        "--rw", "-a", q.to_str().unwrap(), "-m", "/dev/sda1",
        "mkdir-p", "/EFI/debian", ":", "write", "/EFI/debian/grub.cfg", "set root=x\n", ":",
        "write", "/startup.nsh", "fs0:\\EFI\\debian\\grubx64.efi\n", ":", "mv", "/startup.nsh", "/STARTUP.NSH",
    ]);
    tool("qemu-img", &["check", q.to_str().unwrap()]);
    let raw = t.path().join("demo.raw");
    tool("qemu-img", &["convert", "-O", "raw", q.to_str().unwrap(), raw.to_str().unwrap()]);
    // the ESP's bytes, cut out at its sfdisk offset
    let dump = tool("sfdisk", &["-J", raw.to_str().unwrap()]);
    let j: serde_json::Value = serde_json::from_str(&dump).unwrap();
    let p1 = &j["partitiontable"]["partitions"][0];
    let (start, size) = (p1["start"].as_u64().unwrap(), p1["size"].as_u64().unwrap());
    let esp = t.path().join("esp.img");
    let bytes = std::fs::read(&raw).unwrap();
    std::fs::write(&esp, &bytes[(start * 512) as usize..((start + size) * 512) as usize]).unwrap();
    tool("fsck.vfat", &["-n", esp.to_str().unwrap()]);
    let e = format!("{}", esp.display());
    assert_eq!(tool("mtype", &["-i", &e, "::/EFI/debian/grub.cfg"]), "set root=x\n");
    assert!(tool("mdir", &["-i", &e, "::/"]).contains("STARTUP"));
}

/// `zero-device`, `zero` and `blkdiscard` on partitions of qcow2 v3 (the fixture) and v2
/// (compat=0.10, made by qemu-img) copies: `qemu-img check` clean, `qemu-img convert -O raw`
/// shows the ranges zeroed and every other byte unchanged, and the image did not grow (v3:
/// zero clusters; v2: zeros written only over data that was not zero). A mounted device is
/// refused; without --rw nothing is written.
#[test]
fn zero_device_on_qcow2_v3_and_v2_judged_by_qemu_img() {
    let t = tempfile::tempdir().unwrap();
    let raw = common::fixture("gpt-esp-ext4.raw");
    let parts = common::partitions(&raw);
    let (p1, p2) = (parts[0], parts[1]);
    let reference = std::fs::read(&raw).unwrap();
    for compat in ["1.1", "0.10"] {
        let img = t.path().join(format!("disk-{compat}.qcow2"));
        let s = |p: &Path| p.to_str().unwrap().to_string();
        tool("qemu-img", &["convert", "-f", "raw", "-O", "qcow2", "-o", &format!("compat={compat}"), &raw, &s(&img)]);
        let before = sha256_file(&img);
        let size_before = std::fs::metadata(&img).unwrap().len();

        // read-only: refused, nothing written
        let o = vfish(&["-a", &s(&img), "run", ":", "zero-device", "/dev/sda2"], None);
        assert!(o.code != 0 && o.stderr.contains("/dev/sda2"), "{o:?}");
        // mounted: refused, nothing written
        let o = vfish(&["--rw", "-a", &s(&img), "-m", "/dev/sda2", "zero-device", "/dev/sda2"], None);
        assert!(o.code != 0 && o.stderr.contains("in use"), "{o:?}");
        let o = vfish(&["--rw", "-a", &s(&img), "-m", "/dev/sda2", "zero", "/dev/sda"], None);
        assert!(o.code != 0 && o.stderr.contains("in use"), "{o:?}");
        assert_eq!(sha256_file(&img), before, "compat={compat}: a refused zeroing wrote");

        ok(&["--rw", "-a", &s(&img), "run", ":", "zero-device", "/dev/sda2", ":", "zero", "/dev/sda1"]);
        tool("qemu-img", &["check", &s(&img)]);
        let out = t.path().join("out.raw");
        tool("qemu-img", &["convert", "-O", "raw", &s(&img), &s(&out)]);
        let got = std::fs::read(&out).unwrap();
        assert_eq!(got.len(), reference.len());
        let zeroed = |i: usize| {
            let i = i as u64;
            (p2.0..p2.0 + p2.1).contains(&i) || (p1.0..p1.0 + 128 * 1024).contains(&i)
        };
        let first_bad = (0..got.len()).find(|&i| got[i] != if zeroed(i) { 0 } else { reference[i] });
        assert_eq!(first_bad, None, "compat={compat}: byte differs");
        // the partition had data: something really changed
        assert!(reference[p2.0 as usize..(p2.0 + p2.1) as usize].iter().any(|&b| b != 0));
        let size_after = std::fs::metadata(&img).unwrap().len();
        assert!(size_after <= size_before + (1 << 20), "compat={compat}: {size_before} -> {size_after}");

        // blkdiscard on the rest reads back as zeros too
        ok(&["--rw", "-a", &s(&img), "run", ":", "blkdiscard", "/dev/sda1"]);
        tool("qemu-img", &["check", &s(&img)]);
        tool("qemu-img", &["convert", "-O", "raw", &s(&img), &s(&out)]);
        let got = std::fs::read(&out).unwrap();
        assert!(got[p1.0 as usize..(p1.0 + p1.1) as usize].iter().all(|&b| b == 0), "compat={compat}");
        assert!(got[..p1.0 as usize] == reference[..p1.0 as usize], "compat={compat}: the GPT changed");
    }
}

/// `resize2fs` and `resize2fs-size` on a filesystem whose device grew: the same block and
/// inode counts as resize2fs on a twin, e2fsck clean, files unchanged; refusals (read-only,
/// mounted, shrinking, a size that is not whole KiB) leave the image byte-identical.
#[test]
fn resize2fs_grows_like_resize2fs() {
    let t = tempfile::tempdir().unwrap();
    let img = ext4_image(t.path());
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let counts = |p: &Path| {
        let h = tool("dumpe2fs", &["-h", &s(p)]);
        h.lines().filter(|l| l.starts_with("Block count:") || l.starts_with("Inode count:") || l.starts_with("Reserved block count:")).map(str::to_string).collect::<Vec<_>>()
    };
    for (cmd, size, theirs_size) in [(vec!["resize2fs", "/dev/sda"], "64M", None), (vec!["resize2fs-size", "/dev/sda", "52428800"], "64M", Some("50M"))] {
        let (ours, theirs) = (t.path().join("ours.img"), t.path().join("theirs.img"));
        for p in [&ours, &theirs] {
            std::fs::copy(&img, p).unwrap();
            tool("truncate", &["-s", size, &s(p)]);
        }
        let before = sha256_file(&ours);
        let mut ro = vec!["-a".to_string(), s(&ours), "run".into(), ":".into()];
        ro.extend(cmd.iter().map(|c| c.to_string()));
        let ro: Vec<&str> = ro.iter().map(String::as_str).collect();
        let o = vfish(&ro, None);
        assert!(o.code != 0, "{cmd:?} read-only: {o:?}");
        let mut mounted = vec!["--rw", "-a", ours.to_str().unwrap(), "-m", "/dev/sda"];
        mounted.extend(cmd.iter().copied());
        let o = vfish(&mounted, None);
        assert!(o.code != 0 && o.stderr.contains("in use"), "{cmd:?} mounted: {o:?}");
        assert_eq!(sha256_file(&ours), before, "{cmd:?}: a refused resize wrote");
        let mut args = vec!["--rw", "-a", ours.to_str().unwrap(), "run", ":"];
        args.extend(cmd.iter().copied());
        ok(&args);
        let mut r2 = vec![s(&theirs)];
        r2.extend(theirs_size.map(str::to_string));
        tool("resize2fs", &r2.iter().map(String::as_str).collect::<Vec<_>>());
        assert_fsck_clean(&ours);
        assert_eq!(counts(&ours), counts(&theirs), "{cmd:?}");
        assert_eq!(debugfs(&ours, "cat /etc/hostname"), "guest\n");
    }
    let ours = t.path().join("ours.img");
    let before = sha256_file(&ours);
    for (size, msg) in [("1000", "round number of kilobytes"), ("16777216", "")] {
        let o = vfish(&["--rw", "-a", ours.to_str().unwrap(), "run", ":", "resize2fs-size", "/dev/sda", size], None);
        assert!(o.code != 0 && o.stderr.contains(msg), "{size}: {o:?}");
    }
    assert_eq!(sha256_file(&ours), before, "a refused resize wrote");
}
