//! The file-reading commands on the demo image, checked against real oracles: the source tree
//! the image was built from (`fixtures/trees/debian`), a kernel mount of the root LV
//! (`mount -o loop,ro` of the LV's bytes) read with coreutils (`ls -lan`, `stat`, `find`,
//! `du`, `head`, `tail`, `grep`, `cksum`, `tar`), and the image's sha256 before and after.

mod common;
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use vguestfs::guest::DriveOptions;
use vguestfs::Guest;

/// vfish on the demo with the root LV on / (and the ESP on /boot/efi with `esp`).
fn demo_ok(esp: bool, cmds: &[&str]) -> String {
    let d = demo();
    let mut args = vec!["--ro", "-a", &d, "-m", "/dev/demo/root"];
    if esp {
        args.extend(["-m", "/dev/sda1:/boot/efi"]);
    }
    args.extend(cmds);
    ok(&args)
}

/// A shell pipeline's stdout (C locale, UTC).
fn sh(script: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The root LV mounted by the kernel (read-only loop mount of its bytes); unmounted on drop.
struct KernelMount {
    dir: tempfile::TempDir,
}

impl KernelMount {
    fn new() -> KernelMount {
        let dir = tempfile::tempdir().expect("tempdir");
        let raw = dir.path().join("root.raw");
        let mut g = Guest::new();
        g.add_drive(Path::new(&demo()), DriveOptions::default())
            .expect("add");
        g.launch().expect("launch");
        let dev = g.device("/dev/demo/root").expect("LV");
        let mut f = std::fs::File::create(&raw).expect("raw");
        let mut buf = vec![0u8; 1 << 20];
        let mut off = 0;
        while off < dev.len() {
            let n = buf.len().min((dev.len() - off) as usize);
            dev.read_at(&mut buf[..n], off).expect("read LV");
            f.write_all(&buf[..n]).expect("write raw");
            off += n as u64;
        }
        drop(f);
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).expect("mkdir");
        tool(
            "mount",
            &[
                "-o",
                "loop,ro",
                &raw.to_string_lossy(),
                &mnt.to_string_lossy(),
            ],
        );
        KernelMount { dir }
    }

    fn path(&self, p: &str) -> String {
        format!("{}/mnt{p}", self.dir.path().display())
    }
}

impl Drop for KernelMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.path("")).status();
    }
}

fn tree(p: &str) -> PathBuf {
    root()
        .join("fixtures/trees/debian")
        .join(p.trim_start_matches('/'))
}

#[test]
fn demo_read_commands_match_the_kernel_and_the_source_tree() {
    let image = root().join("fixtures/demo.qcow2");
    let before = sha256_file(&image);
    let k = KernelMount::new();

    // cat, ls
    assert_eq!(demo_ok(true, &["cat", "/etc/hostname"]), "demo-debian\n");
    assert_eq!(
        demo_ok(true, &["cat", "/etc/hostname"]).as_bytes(),
        std::fs::read(tree("etc/hostname")).unwrap()
    );
    let ls = demo_ok(true, &["ls", "/etc"]);
    assert_eq!(ls, sh(&format!("ls -A {}", k.path("/etc"))));
    assert_eq!(ls, sh(&format!("ls -A {}", tree("etc").display())));
    assert_eq!(ls.lines().count(), 16);

    // ll = ls -lan (for / the kernel's `..` is the host's: compare the other lines)
    assert_eq!(
        demo_ok(true, &["ll", "/etc"]),
        sh(&format!("ls -lan {}", k.path("/etc")))
    );
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.ends_with(" ..") && !l.starts_with("total"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    assert_eq!(
        strip(&demo_ok(false, &["ll", "/"])),
        strip(&sh(&format!("ls -lan {}", k.path("/"))))
    );

    // stat / statns against stat(1)
    let st = demo_ok(true, &["stat", "/etc/passwd"]);
    let kst = sh(&format!("stat -c 'ino: %i\nmode: 0x%f\nnlink: %h\nuid: %u\ngid: %g\nsize: %s\nblksize: %o\nblocks: %b\natime: %X\nmtime: %Y\nctime: %Z' {}", k.path("/etc/passwd")));
    for line in kst.lines() {
        let (field, value) = line.split_once(": ").unwrap();
        let value = match value.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16).unwrap().to_string(),
            None => value.to_string(),
        };
        assert!(
            st.contains(&format!("\n{field}: {value}\n")),
            "{field}: {value} not in\n{st}"
        );
    }
    assert!(st.starts_with("dev: ") && st.ends_with("\n"), "{st}");
    let ns = demo_ok(true, &["statns", "/etc/passwd"]);
    let fields: Vec<&str> = ns.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(fields.len(), 22);
    assert_eq!(&fields[..4], ["st_dev", "st_ino", "st_mode", "st_nlink"]);
    let mtime = sh(&format!("stat -c %.9Y {}", k.path("/etc/passwd")));
    let (sec, nsec) = mtime.trim().split_once('.').unwrap();
    assert!(
        ns.contains(&format!(
            "\nst_mtime_sec: {sec}\nst_mtime_nsec: {}\n",
            nsec.parse::<u64>().unwrap()
        )),
        "{ns}"
    );

    // statvfs against stat -f
    let v = demo_ok(true, &["statvfs", "/"]);
    let kv = sh(&format!("stat -f -c 'bsize: %s\nfrsize: %S\nblocks: %b\nbfree: %f\nbavail: %a\nfiles: %c\nffree: %d\nnamemax: %l' {}", k.path("/")));
    for line in kv.lines() {
        assert!(v.contains(&format!("{line}\n")), "{line} not in\n{v}");
    }
    assert!(v.contains("\nflag: 1\n"), "read-only mount: {v}");

    // checksums against the source tree and coreutils
    let f = tree("etc/os-release").to_string_lossy().into_owned();
    let sum = |ty: &str| demo_ok(true, &["checksum", ty, "/etc/os-release"]);
    assert_eq!(sum("sha256"), format!("{}\n", sha256_file(Path::new(&f))));
    for (ty, tool_name) in [
        ("md5", "md5sum"),
        ("sha1", "sha1sum"),
        ("sha224", "sha224sum"),
        ("sha384", "sha384sum"),
        ("sha512", "sha512sum"),
    ] {
        assert_eq!(
            sum(ty),
            format!(
                "{}\n",
                sh(&format!("{tool_name} {f}")).split(' ').next().unwrap()
            ),
            "{ty}"
        );
    }
    assert_eq!(
        sum("crc"),
        format!("{}\n", sh(&format!("cksum {f}")).split(' ').next().unwrap())
    );

    // find against the source tree and the kernel's find
    let find = |dir: &str| sh(&format!("find {dir} -mindepth 1 -printf '%P\\n' | sort"));
    assert_eq!(
        demo_ok(true, &["find", "/etc/ssh"]),
        find(&tree("etc/ssh").to_string_lossy())
    );
    assert_eq!(
        demo_ok(true, &["find", "/etc/ssh"]),
        "ssh_host_ed25519_key\nssh_host_ed25519_key.pub\nsshd_config\n"
    );
    assert_eq!(demo_ok(false, &["find", "/"]), find(&k.path("/")));

    // head/tail/grep against coreutils and GNU grep on the kernel mount
    let passwd = k.path("/etc/passwd");
    for (cmd, n, host) in [
        ("head-n", "2", "head -n 2"),
        ("head-n", "-2", "head -n -2"),
        ("head-n", "0", "head -n 0"),
        ("tail-n", "1", "tail -n 1"),
        ("tail-n", "-3", "tail -n +3"),
        ("tail-n", "0", "tail -n 0"),
    ] {
        assert_eq!(
            demo_ok(true, &[cmd, n, "/etc/passwd"]),
            sh(&format!("{host} {passwd}")),
            "{cmd} {n}"
        );
    }
    assert_eq!(
        demo_ok(true, &["head-n", "2", "/etc/passwd"]),
        "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    );
    assert_eq!(
        demo_ok(true, &["head", "/etc/passwd"]),
        sh(&format!("head {passwd}"))
    );
    assert_eq!(
        demo_ok(true, &["tail", "/etc/passwd"]),
        sh(&format!("tail {passwd}"))
    );
    for (args, host) in [
        (vec!["^root:"], "grep '^root:'"),
        (vec!["bin/\\(ba\\)*sh$"], "grep 'bin/\\(ba\\)*sh$'"),
        (
            vec!["^(root|daemon):", "extended:true"],
            "grep -E '^(root|daemon):'",
        ),
        (vec!["DEBIAN", "insensitive:true"], "grep -i DEBIAN"),
        (vec!["x:1", "fixed:true"], "grep -F x:1"),
    ] {
        let mut c = vec!["grep", args[0], "/etc/passwd"];
        c.extend(&args[1..]);
        assert_eq!(
            demo_ok(true, &c),
            sh(&format!("{host} {passwd}")),
            "{args:?}"
        );
    }
    assert_eq!(demo_ok(true, &["grep", "nomatch", "/etc/passwd"]), "");

    // tests, du, readlink/realpath, mounts
    assert_eq!(
        demo_ok(
            true,
            &[
                "exists",
                "/etc",
                ":",
                "exists",
                "/nope",
                ":",
                "is-dir",
                "/etc",
                ":",
                "is-file",
                "/etc",
                ":",
                "is-file",
                "/etc/passwd",
                ":",
                "is-symlink",
                "/etc/passwd",
                ":",
                "is-dir",
                "/boot/efi/EFI"
            ]
        ),
        "true\nfalse\ntrue\nfalse\ntrue\nfalse\ntrue\n"
    );
    assert_eq!(
        demo_ok(true, &["du", "/etc"]),
        sh(&format!("du -sk {} | cut -f1", k.path("/etc")))
    );
    assert_eq!(
        demo_ok(true, &["realpath", "/boot/efi/../../etc/./passwd"]),
        "/etc/passwd\n"
    );
    assert_eq!(
        demo_ok(true, &["mountpoints", ":", "mounts"]),
        "/dev/demo/root: /\n/dev/sda1: /boot/efi\n/dev/demo/root\n/dev/sda1\n"
    );
    assert_eq!(demo_ok(true, &["glob", "echo", "/etc/host*", "/dev/sda?"]), "/etc/hostname /dev/sda1\n/etc/hostname /dev/sda2\n/etc/hosts /dev/sda1\n/etc/hosts /dev/sda2\n");

    // download, copy-out, tar-out against the kernel mount
    let out = tempfile::tempdir().unwrap();
    let o = |p: &str| out.path().join(p).to_string_lossy().into_owned();
    demo_ok(true, &["download", "/etc/passwd", &o("passwd")]);
    assert_eq!(
        std::fs::read(o("passwd")).unwrap(),
        std::fs::read(&passwd).unwrap()
    );
    assert_eq!(
        demo_ok(true, &["download", "/etc/hostname", "-"]),
        "demo-debian\n"
    );
    demo_ok(true, &["copy-out", "/etc", &o("")]);
    let meta = |dir: &str| {
        sh(&format!(
            "cd {dir} && find . -printf '%P %y %m %U %G %T@ %l\\n' | sort"
        ))
    };
    assert_eq!(meta(&o("etc")), meta(&k.path("/etc")));
    sh(&format!("diff -r {} {}", o("etc"), k.path("/etc")));
    demo_ok(true, &["tar-out", "/etc", &o("etc.tar")]);
    demo_ok(false, &["tar-out", "/", &o("root.tgz"), "compress:gzip"]);
    let listing = sh(&format!("tar -tf {} | sed 's,/$,,' | sort", o("etc.tar")));
    assert_eq!(listing, find(&k.path("/etc")));
    assert_eq!(
        sh(&format!("tar -tzf {} | sed 's,/$,,' | sort", o("root.tgz"))),
        find(&k.path("/"))
    );
    std::fs::create_dir(o("x")).unwrap();
    sh(&format!("tar -xf {} -C {}", o("etc.tar"), o("x")));
    sh(&format!("diff -r {} {}", o("x"), k.path("/etc")));
    // (tar-out has no entry for the directory itself: its first line is the host's)
    let tail = |m: String| {
        m.lines()
            .skip(1)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    assert_eq!(tail(meta(&o("x"))), tail(meta(&k.path("/etc"))));

    drop(k);
    assert_eq!(sha256_file(&image), before, "--ro changed the image");
}

#[test]
fn mount_errors_and_usage() {
    let d = demo();
    let o = vfish(&["-a", &d, "-m", "/dev/demo/swap"], None);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("vguestfs: error: mount: ") && o.stderr.contains("swap"),
        "{o:?}"
    );
    let o = vfish(&["-a", &d, "-m", "/dev/sda1:/:ro:ext4"], None);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("filesystem type is ‘vfat’, not ‘ext4’"),
        "{o:?}"
    );
    let o = vfish(&["-a", &d, "run", ":", "cat", "/etc/hostname"], None);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .contains("vguestfs: error: cat: no filesystem is mounted on /"),
        "{o:?}"
    );
    let o = vfish(&["-a", &d, "-m", "/dev/demo/root", "cat", "/etc"], None);
    assert!(
        o.stderr
            .contains("vguestfs: error: cat: /etc: Is a directory"),
        "{o:?}"
    );
    let o = vfish(
        &[
            "-a",
            &d,
            "-m",
            "/dev/demo/root",
            "checksum",
            "sha3",
            "/etc/passwd",
        ],
        None,
    );
    assert!(o.stderr.contains("unknown checksum type"), "{o:?}");
    // mount/umount inside a session; --ro mounts read-only
    assert_eq!(
        ok(&[
            "-a",
            &d,
            "run",
            ":",
            "mount",
            "/dev/demo/root",
            "/",
            ":",
            "mount-ro",
            "/dev/sda1",
            "/boot/efi",
            ":",
            "cat",
            "/boot/efi/EFI/BOOT/BOOTX64.EFI",
            ":",
            "umount",
            "/boot/efi",
            ":",
            "mounts",
            ":",
            "umount-all",
            ":",
            "mounts"
        ]),
        "demo EFI loader\n/dev/demo/root\n"
    );
}

/// A guest whose symlinks aim at the host (`/etc/shadow`, `../..` chains, absolute paths of a
/// host canary) and host targets booby-trapped with symlinks: `download`, `copy-out` and
/// `tar-out` copy links as links, never write through a host symlink, and leave everything
/// outside the named target untouched.
#[test]
fn hostile_symlinks_never_reach_the_host() {
    use std::os::unix::fs::symlink;
    let t = tempfile::tempdir().unwrap();
    let p = |s: &str| t.path().join(s);
    let s = |s: &str| p(s).to_string_lossy().into_owned();
    std::fs::create_dir(p("canary")).unwrap();
    std::fs::write(p("canary/secret"), "canary\n").unwrap();
    let canary = s("canary/secret");
    let evil = p("tree/evil");
    std::fs::create_dir_all(evil.join("sub")).unwrap();
    std::fs::write(evil.join("file"), "guest data\n").unwrap();
    std::fs::write(evil.join("sub/f2"), "more\n").unwrap();
    let up = format!("{}{}", "../".repeat(12), canary.trim_start_matches('/'));
    let links = [
        ("shadow", "/etc/shadow".to_string()),
        ("up", up.clone()),
        ("abs", canary.clone()),
        ("absdir", s("canary")),
        ("dotdot", "..".into()),
    ];
    for (name, target) in &links {
        symlink(target, evil.join(name)).unwrap();
    }
    let img = s("evil.img");
    tool("mkfs.ext4", &["-q", "-d", &s("tree"), &img, "4M"]);
    let img_sum = sha256_file(Path::new(&img));
    let shadow_sum = sha256_file(Path::new("/etc/shadow"));
    let canary_state = || {
        sh(&format!(
            "cd {} && find . -printf '%P %y %s %T@\\n' && cat secret",
            s("canary")
        ))
    };
    let before = canary_state();
    let run = |cmds: &[&str]| vfish(&[&["-a", &img, "-m", "/dev/sda"], cmds].concat(), None);

    // copy-out: the links arrive as links with their targets as stored
    std::fs::create_dir(p("out")).unwrap();
    let o = run(&["copy-out", "/evil", &s("out")]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""), "{o:?}");
    for (name, target) in &links {
        let host = p("out/evil").join(name);
        assert!(
            std::fs::symlink_metadata(&host)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{name}"
        );
        assert_eq!(
            std::fs::read_link(&host).unwrap().to_string_lossy(),
            *target
        );
    }
    assert_eq!(
        std::fs::read_to_string(p("out/evil/sub/f2")).unwrap(),
        "more\n"
    );

    // a host symlink where copy-out would create the top directory, or a file inside a merged
    // directory: refused, nothing written through it
    std::fs::create_dir(p("out2")).unwrap();
    symlink(p("canary"), p("out2/evil")).unwrap();
    let o = run(&["copy-out", "/evil", &s("out2")]);
    assert!(o.code == 1 && o.stderr.contains("File exists"), "{o:?}");
    std::fs::create_dir_all(p("out3/evil")).unwrap();
    symlink(&canary, p("out3/evil/file")).unwrap();
    let o = run(&["copy-out", "/evil", &s("out3")]);
    assert!(o.code == 1 && o.stderr.contains("File exists"), "{o:?}");

    // download: guest links resolve inside the guest; a host symlink as target is replaced
    for link in ["/evil/abs", "/evil/up", "/evil/absdir/secret"] {
        let o = run(&["download", link, &s("out/x")]);
        assert!(
            o.code == 1 && o.stderr.contains("No such file or directory"),
            "{link}: {o:?}"
        );
    }
    assert!(!p("out/x").exists());
    let o = run(&["download", "/evil/shadow", &s("out/x")]);
    assert!(o.code == 1, "the guest has no /etc/shadow: {o:?}");
    symlink(&canary, p("out/link")).unwrap();
    let o = run(&["download", "/evil/file", &s("out/link")]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""), "{o:?}");
    assert!(std::fs::symlink_metadata(p("out/link"))
        .unwrap()
        .file_type()
        .is_file());
    assert_eq!(
        std::fs::read_to_string(p("out/link")).unwrap(),
        "guest data\n"
    );
    assert_eq!(
        run(&["download", "/evil/dotdot/evil/file", "-"]).stdout,
        "guest data\n"
    );

    // tar-out: links stored as links; a host symlink named as the tar file is replaced
    symlink(&canary, p("out/t.tar")).unwrap();
    let o = run(&["tar-out", "/evil", &s("out/t.tar")]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""), "{o:?}");
    assert!(std::fs::symlink_metadata(p("out/t.tar"))
        .unwrap()
        .file_type()
        .is_file());
    let listing = sh(&format!("tar -tvf {}", s("out/t.tar")));
    for (name, target) in &links {
        let line = listing
            .lines()
            .find(|l| l.contains(&format!(" {name} -> ")))
            .unwrap_or_else(|| panic!("{name}: {listing}"));
        assert!(
            line.starts_with('l') && line.ends_with(&format!(" {name} -> {target}")),
            "{line}"
        );
    }
    for name in sh(&format!("tar -tf {}", s("out/t.tar"))).lines() {
        assert!(
            !name.starts_with('/') && !name.split('/').any(|c| c == ".."),
            "unsafe tar entry {name}"
        );
    }

    assert_eq!(canary_state(), before, "the host canary was touched");
    assert_eq!(sha256_file(Path::new("/etc/shadow")), shadow_sum);
    assert_eq!(
        sha256_file(Path::new(&img)),
        img_sum,
        "read-only session changed the image"
    );
}

/// The ext4 built by `fixtures/mk-ext4.sh` (every kind of inode: devices, FIFO, socket,
/// symlinks, hard links, ACLs, xattrs, non-UTF-8 names, sparse files, old and future times),
/// read by vfish and by the kernel (loop mount) with coreutils, getfattr and GNU tar.
#[test]
fn every_inode_kind_matches_the_kernel() {
    let t = tempfile::tempdir().unwrap();
    let fx = t.path().join("fx");
    let built = fixture_or_build(&fx);
    let img = built.join("ext4-4k.img").to_string_lossy().into_owned();
    let before = sha256_file(Path::new(&img));
    // The kernel mount's `..` is a fresh directory of ours: it widens no column.
    let mnt = t.path().join("p/mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let m = mnt.to_string_lossy().into_owned();
    tool("mount", &["-o", "loop,ro", &img, &m]);
    struct Umount(String);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Umount(m.clone());
    let run = |cmds: &[&str]| ok(&[&["-a", &img, "-m", "/dev/sda"], cmds].concat());

    // ll = ls -lan (for / without the `..` line and the total it counts in)
    let strip = |s: String| {
        s.lines()
            .filter(|l| !l.ends_with(" ..") && !l.starts_with("total"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    assert_eq!(strip(run(&["ll", "/"])), strip(sh(&format!("ls -lan {m}"))));
    for d in ["/a", "/big-dir", "/sticky", "/acl-dir"] {
        assert_eq!(run(&["ll", d]), sh(&format!("ls -lan {m}{d}")), "{d}");
    }
    assert_eq!(run(&["ls", "/"]), sh(&format!("ls -A {m}")));
    assert_eq!(
        run(&["find", "/"]),
        sh(&format!(
            "cd {m} && find . -mindepth 1 -printf '%P\\n' | sort"
        ))
    );

    // stat of every kind
    for f in [
        "/big-dev",
        "/block-dev",
        "/fifo",
        "/socket",
        "/hard-link",
        "/sparse-64m",
        "/future-time",
        "/ns-time",
        "/big-owner",
        "/short-link",
    ] {
        let st = run(&["lstatns", f]);
        let k = sh(&format!("stat -c 'st_ino: %i\nst_nlink: %h\nst_uid: %u\nst_gid: %g\nst_size: %s\nst_blocks: %b' {m}{f}"));
        for line in k.lines() {
            assert!(
                st.contains(&format!("\n{line}\n")),
                "{f}: {line} not in\n{st}"
            );
        }
        let (sec, nsec) = sh(&format!("stat -c %.9Y {m}{f}"))
            .trim()
            .split_once('.')
            .map(|(a, b)| (a.to_string(), b.parse::<u64>().unwrap()))
            .unwrap();
        assert!(
            st.contains(&format!("\nst_mtime_sec: {sec}\nst_mtime_nsec: {nsec}\n")),
            "{f}: {st}"
        );
        let mode = u32::from_str_radix(sh(&format!("stat -c %f {m}{f}")).trim(), 16).unwrap();
        assert!(st.contains(&format!("\nst_mode: {mode}\n")), "{f}: {st}");
    }
    assert_eq!(
        run(&[
            "is-chardev",
            "/char-dev",
            ":",
            "is-blockdev",
            "/block-dev",
            ":",
            "is-fifo",
            "/fifo",
            ":",
            "is-socket",
            "/socket",
            ":",
            "is-symlink",
            "/short-link",
            ":",
            "is-file",
            "/short-link",
            ":",
            "is-file",
            "/short-link",
            "followsymlinks:true",
            ":",
            "exists",
            "/dangling-link",
            ":",
            "is-symlink",
            "/dangling-link",
            ":",
            "readlink",
            "/dir-link",
            ":",
            "realpath",
            "/dir-link"
        ]),
        "true\ntrue\ntrue\ntrue\ntrue\nfalse\ntrue\nfalse\ntrue\na/b\n/a/b\n"
    );

    // checksums of every regular file against md5sum/cksum on the kernel mount
    let files = sh(&format!(
        "cd {m} && find . -maxdepth 1 -type f -printf '/%P\\n' | grep -a '^/[ -~]*$' | sort"
    ));
    let script: String = files
        .lines()
        .map(|f| format!("checksum md5 \"{f}\"\nchecksum crc \"{f}\"\n"))
        .collect();
    let o = vfish(&["-a", &img, "-m", "/dev/sda"], Some(&script));
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    let want: String = files
        .lines()
        .map(|f| {
            let md5 = sh(&format!("md5sum '{m}{f}'"));
            let crc = sh(&format!("cksum '{m}{f}'"));
            format!(
                "{}\n{}\n",
                md5.split(' ').next().unwrap(),
                crc.split(' ').next().unwrap()
            )
        })
        .collect();
    assert_eq!(o.stdout, want);
    assert!(files.lines().count() > 15, "{files}");

    // xattrs against getfattr (names and values, hex)
    for f in ["/with-xattrs", "/xattr-dir", "/with-acl"] {
        let ours = run(&["getxattrs", f]);
        let mut names: Vec<&str> = ours
            .lines()
            .filter_map(|l| l.strip_prefix("  attrname: "))
            .collect();
        names.sort();
        let k = sh(&format!("getfattr --absolute-names -d -m - -e hex {m}{f}"));
        let mut kn: Vec<&str> = k
            .lines()
            .filter_map(|l| l.split_once('=').map(|(n, _)| n))
            .collect();
        kn.sort();
        assert_eq!(names, kn, "{f}");
    }
    let x = run(&["getxattrs", "/with-xattrs"]);
    assert!(
        x.contains("  attrname: user.comment\n  attrval: hello world\n}"),
        "{x}"
    );
    assert!(
        x.contains("  attrname: user.binary\n  attrval: \\x00\\xff\\x10\n}"),
        "{x}"
    );
    assert!(x.starts_with("[0] = {\n  attrname: "), "{x}");

    // tar-out: GNU tar reads it back as the kernel sees the tree
    let out = t.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let o = |p: &str| out.join(p).to_string_lossy().into_owned();
    run(&["tar-out", "/", &o("t.tar")]);
    let names = sh(&format!(
        "tar --quoting-style=literal -tf {} | sed 's,/$,,' | sort",
        o("t.tar")
    ));
    let kernel = sh(&format!(
        "cd {m} && find . -mindepth 1 ! -type s -printf '%P\\n' | sort"
    ));
    assert_eq!(names, kernel);
    std::fs::create_dir(o("x")).unwrap();
    sh(&format!(
        "tar -xpf {} -C {} --numeric-owner",
        o("t.tar"),
        o("x")
    ));
    let meta = |dir: &str| {
        sh(&format!("cd {dir} && find . -mindepth 1 ! -type s ! -type d -printf '%P %y %m %U %G %s %Ts %l\\n' | sort"))
    };
    // (tar keeps whole seconds)
    assert_eq!(meta(&o("x")), meta(&m));
    sh(&format!(
        "diff -r --no-dereference -x fifo -x char-dev -x block-dev -x big-dev -x socket {} {m}",
        o("x")
    ));

    // copy-out: the same tree minus special files
    run(&["copy-out", "/a", &o("")]);
    sh(&format!("diff -r --no-dereference {} {m}/a", o("a")));
    assert_eq!(sha256_file(Path::new(&img)), before);
}

/// The fixtures of `fixtures/mk-ext4.sh`: from fixtures/build when built there, else built now
/// into `dir`.
fn fixture_or_build(dir: &Path) -> PathBuf {
    let built = root().join("fixtures/build");
    if built.join("ext4-4k.img").exists() {
        return built;
    }
    tool(
        "bash",
        &[
            &root().join("fixtures/mk-ext4.sh").to_string_lossy(),
            &dir.to_string_lossy(),
        ],
    );
    dir.to_path_buf()
}

/// `zcat` and `grep compressed:true` against gzip(1) and zgrep(1) on files gzip made
/// (one member, two concatenated members, and an uncompressed file zgrep passes through).
#[test]
fn compressed_files_match_gzip_and_zgrep() {
    let t = tempfile::tempdir().unwrap();
    let s = |p: &str| t.path().join(p).to_string_lossy().into_owned();
    std::fs::create_dir(s("tree")).unwrap();
    let text: String = (0..2000)
        .map(|i| format!("line {i} {}\n", if i % 7 == 0 { "error" } else { "ok" }))
        .collect();
    std::fs::write(s("tree/plain.log"), &text).unwrap();
    sh(&format!("cd {} && gzip -9 -c plain.log > one.gz && (gzip -c plain.log; printf 'tail error\\n' | gzip -c) > two.gz", s("tree")));
    let img = s("gz.img");
    tool("mkfs.ext4", &["-q", "-d", &s("tree"), &img, "4M"]);
    let run = |cmds: &[&str]| ok(&[&["-a", &img, "-m", "/dev/sda"], cmds].concat());
    for f in ["one.gz", "two.gz"] {
        assert_eq!(
            run(&["zcat", &format!("/{f}")]),
            sh(&format!("gzip -dc {}", s(&format!("tree/{f}")))),
            "{f}"
        );
        assert_eq!(
            run(&["grep", "error$", &format!("/{f}"), "compressed:true"]),
            sh(&format!("zgrep 'error$' {}", s(&format!("tree/{f}")))),
            "{f}"
        );
    }
    assert_eq!(
        run(&["grep", "^line 1[0-9] ", "/plain.log", "compressed:true"]),
        sh(&format!("zgrep '^line 1[0-9] ' {}", s("tree/plain.log")))
    );
    let o = vfish(&["-a", &img, "-m", "/dev/sda", "zcat", "/plain.log"], None);
    assert!(
        o.code == 1
            && o.stderr
                .contains("vguestfs: error: zcat: /plain.log: invalid gzip header"),
        "{o:?}"
    );
}

/// tar-out over a damaged filesystem: a symlink whose target no tar archive can store (here
/// an empty one, made with debugfs) is skipped with a warning naming it, and the rest of the
/// tree is archived; an error names the guest path it happened at.
#[test]
fn tar_out_skips_unstorable_symlinks_and_names_paths() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("fs.img");
    let p = img.to_str().unwrap();
    let run = |cmd: &str, args: &[&str]| {
        let out = Command::new(cmd).args(args).env("PATH", "/usr/sbin:/sbin:/usr/bin:/bin").output().unwrap();
        assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run("truncate", &["-s", "8M", p]);
    run("mkfs.ext4", &["-q", "-F", p]);
    let src = dir.path().join("hello");
    std::fs::write(&src, b"hello\n").unwrap();
    let script = format!("write {} hello\nsymlink bad x\nsif bad size 0\nsymlink good hello\n", src.display());
    let out = Command::new("debugfs").args(["-w", "-f", "-", p]).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::null()).spawn().and_then(|mut c| {
        c.stdin.take().unwrap().write_all(script.as_bytes())?;
        c.wait()
    });
    assert!(out.unwrap().success());
    let tar = dir.path().join("out.tar");
    let r = vfish(&["--ro", "-a", p, "-m", "/dev/sda", "tar-out", "/", tar.to_str().unwrap()], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("skipping the symlink /bad: its target is empty"), "{}", r.stderr);
    let list = sh(&format!("tar tvf {}", tar.display()));
    assert!(list.contains("good -> hello") && list.contains("hello") && !list.contains(" bad"), "{list}");
    let r = vfish(&["--ro", "-a", p, "-m", "/dev/sda", "tar-out", "/nope", tar.to_str().unwrap()], None);
    assert!(r.code != 0 && r.stderr.contains("/nope: No such file or directory"), "{}", r.stderr);
}

/// tar-out of a directory holding one name twice (a directory and a symlink both called x1,
/// made by mkfs.ext4 -d and a two-byte patch of the directory block renaming y1 to x1): one
/// x1 member only, never a member below a symlink member (which would write outside the
/// target on extraction), and a warning naming the path; copy-out the same.
#[test]
fn tar_out_of_a_duplicate_name_never_goes_below_a_symlink() {
    for symlink_first in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir(&tree).unwrap();
        // both creation orders (mkfs.ext4 -d's directory order follows the host's readdir)
        let (first, second) = if symlink_first { ("y1", "x1") } else { ("x1", "y1") };
        for name in [first, second] {
            if name == "y1" {
                std::os::unix::fs::symlink("/etc", tree.join("y1")).unwrap();
            } else {
                std::fs::create_dir(tree.join("x1")).unwrap();
                std::fs::write(tree.join("x1/inner"), b"inner\n").unwrap();
            }
        }
        let img = dir.path().join("fs.img");
        let p = img.to_str().unwrap();
        sh(&format!("truncate -s 8M {p} && mkfs.ext4 -q -O ^metadata_csum -d {} {p}", tree.display()));
        let blk = sh(&format!("debugfs -R 'blocks /' {p} 2>/dev/null")).trim().to_string();
        sh(&format!(
            "python3 -c \"f=open('{p}','r+b'); f.seek({blk}*1024); d=bytearray(f.read(1024)); i=d.find(b'y1'); assert i>0; d[i:i+2]=b'x1'; f.seek({blk}*1024); f.write(d)\""
        ));
        let tar = dir.path().join("out.tar");
        let r = vfish(&["--ro", "-a", p, "-m", "/dev/sda", "tar-out", "/", tar.to_str().unwrap()], None);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stderr.contains("vguestfs: warning: /x1: the directory holds this name twice"), "{}", r.stderr);
        let members = sh(&format!("tar tf {}", tar.display()));
        let members: Vec<&str> = members.lines().map(|m| m.trim_end_matches('/')).collect();
        assert_eq!(members.iter().filter(|m| **m == "x1").count(), 1, "{members:?}");
        let links = sh(&format!("tar tvf {} | grep '^l' || true", tar.display()));
        for l in links.lines() {
            let name = l.split(" -> ").next().unwrap().rsplit(' ').next().unwrap();
            assert!(!members.iter().any(|m| m.starts_with(&format!("{name}/"))), "member below symlink {name}: {members:?}");
        }
        let out = dir.path().join("copy");
        std::fs::create_dir(&out).unwrap();
        let r = vfish(&["--ro", "-a", p, "-m", "/dev/sda", "copy-out", "/", out.to_str().unwrap()], None);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stderr.contains("/x1: the directory holds this name twice"), "{}", r.stderr);
        // whichever entry came first in the directory, x1 is copied once, as that entry
        let x1 = std::fs::symlink_metadata(out.join("x1")).unwrap();
        let archived_dir = members.contains(&"x1/inner");
        assert_eq!(x1.is_dir(), archived_dir, "{members:?}");
    }
}

/// `--blocksize` and `add … blocksize:N`: a 4K-sector disk read with the size given, as
/// guestfish takes it, lists the partitions `fdisk -b 4096` made; 512 lists another layout.
#[test]
fn blocksize_option_sets_the_sector_size() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("d4k.img");
    let p = img.to_str().unwrap();
    assert!(Command::new("truncate").args(["-s", "64M", p]).status().unwrap().success());
    let mut fdisk = Command::new("fdisk").args(["-b", "4096", p]).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::null()).spawn().unwrap();
    fdisk.stdin.take().unwrap().write_all(b"g\nn\n1\n256\n4351\nw\n").unwrap();
    assert!(fdisk.wait().unwrap().success());
    let r = vfish(&["--blocksize=4096", "-a", p, "run", ":", "part-list", "/dev/sda"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("part_start: 1048576") && r.stdout.contains("part_size: 16777216"), "{}", r.stdout);
    let r = vfish(&["add", p, "blocksize:4096", ":", "run", ":", "part-list", "/dev/sda"], None);
    assert!(r.stdout.contains("part_start: 1048576"), "{} {}", r.stdout, r.stderr);
    let r = vfish(&["--blocksize=1024", "-a", p, "run"], None);
    assert!(r.code != 0 && r.stderr.contains("must be 512 or 4096"), "{}", r.stderr);
}
