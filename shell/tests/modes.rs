//! vfish run the guestfish ways: commands on the command line, `-f` scripts (and `#!`
//! scripts), standard input; exit codes and error rules; `!cmd`, `<!cmd`, `| cmd`; quoting.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;

const DEMO_FS: &str = "/dev/sda1: vfat\n/dev/demo/root: ext4\n/dev/demo/swap: swap\n";

#[test]
fn command_line_commands_are_separated_by_colons() {
    let d = demo();
    assert_eq!(
        ok(&[
            "-a",
            &d,
            "run",
            ":",
            "list-filesystems",
            ":",
            "echo",
            "a",
            "b"
        ]),
        format!("{DEMO_FS}a b\n")
    );
    // `launch` is run's alias; command names ignore case and accept underscores.
    assert_eq!(
        ok(&["--ro", "-a", &d, "launch", ":", "LIST_DEVICES"]),
        "/dev/sda\n"
    );
    // --format applies to the -a options after it.
    assert_eq!(
        ok(&["--format=qcow2", "-a", &d, "run", ":", "vgs"]),
        "demo\n"
    );
}

#[test]
fn device_commands_need_run_first() {
    // guestfish does not launch by itself for commands on the command line.
    let o = vfish(&["-a", &demo(), "list-devices"], None);
    assert_eq!(o.code, 1);
    assert_eq!(o.stdout, "");
    assert_eq!(
        o.stderr,
        "vguestfs: error: list_devices: call launch before using this function\n"
    );
}

#[test]
fn first_error_stops_unless_the_command_is_dashed() {
    let d = demo();
    let o = vfish(
        &[
            "-a", &d, "run", ":", "vfs-type", "/dev/sdz", ":", "echo", "after",
        ],
        None,
    );
    assert_eq!(o.code, 1);
    assert_eq!(o.stdout, "");
    assert!(
        o.stderr
            .starts_with("vguestfs: error: vfs_type: /dev/sdz: no such device"),
        "{}",
        o.stderr
    );
    let o = vfish(
        &[
            "-a",
            &d,
            "run",
            ":",
            "-vfs-type",
            "/dev/sdz",
            ":",
            "echo",
            "after",
        ],
        None,
    );
    assert_eq!(o.code, 0);
    assert_eq!(o.stdout, "after\n");
    assert!(
        o.stderr.starts_with("vguestfs: error: vfs_type:"),
        "{}",
        o.stderr
    );
}

#[test]
fn scripts_from_file_and_stdin_stop_at_the_first_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("s.vfish");
    std::fs::write(
        &script,
        "# a comment\n\nrun\nlist-filesystems\nvfs-type /dev/nope\necho not reached\n",
    )
    .expect("write");
    let d = demo();
    let o = vfish(&["-a", &d, "-f", &script.to_string_lossy()], None);
    assert_eq!((o.code, o.stdout.as_str()), (1, DEMO_FS));
    // Library errors in scripts name the input and line, as guestfish's do.
    let at = format!(
        "{}:5: vguestfs: error: vfs_type: /dev/nope: no such device",
        script.display()
    );
    assert!(o.stderr.starts_with(&at), "{}", o.stderr);
    let o = vfish(
        &["-a", &d],
        Some("run\nlist-filesystems\nvfs-type /dev/nope\necho not reached\n"),
    );
    assert_eq!((o.code, o.stdout.as_str()), (1, DEMO_FS));
    assert!(
        o.stderr
            .starts_with("*stdin*:3: vguestfs: error: vfs_type: /dev/nope"),
        "{}",
        o.stderr
    );
    // A dashed line may fail.
    let o = vfish(
        &["-a", &d],
        Some("run\n-vfs-type /dev/nope\n  - echo reached\n"),
    );
    assert_eq!((o.code, o.stdout.as_str()), (0, "reached\n"));
    // quit stops reading.
    let o = vfish(&["-a", &d], Some("echo 1\nquit\necho 2\n"));
    assert_eq!((o.code, o.stdout.as_str()), (0, "1\n"));
}

#[test]
fn shebang_scripts_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("list");
    let text = format!(
        "#!{} -f\nadd-ro {}\nrun\nlvs\n",
        env!("CARGO_BIN_EXE_vfish"),
        demo()
    );
    std::fs::write(&script, text).expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let o = std::process::Command::new(&script)
        .output()
        .expect("run script");
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "/dev/demo/root\n/dev/demo/swap\n"
    );
}

#[test]
fn host_commands_bang_inline_and_pipes() {
    let d = demo();
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("marker");
    let script = format!(
        "!echo from-host > {m}\n<!echo run; echo 'echo \"inline  quoted\"'\nlist-filesystems | tr a-z A-Z\nlvs | wc -l\nlist-devices | head -c 0\necho done\n",
        m = marker.display()
    );
    let o = vfish(&["-a", &d], Some(&script));
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        std::fs::read_to_string(&marker).expect("marker"),
        "from-host\n"
    );
    assert_eq!(
        o.stdout,
        "inline  quoted\n/DEV/SDA1: VFAT\n/DEV/DEMO/ROOT: EXT4\n/DEV/DEMO/SWAP: SWAP\n2\ndone\n"
    );
    // A failing !cmd is an error (stops a script); -!cmd is forgiven.
    let o = vfish(&[], Some("!exit 3\necho no\n"));
    assert_eq!((o.code, o.stdout.as_str()), (1, ""));
    let o = vfish(&[], Some("-!exit 3\necho yes\n"));
    assert_eq!((o.code, o.stdout.as_str()), (0, "yes\n"));
    // A failing command inside <! stops everything.
    let o = vfish(&[], Some("<!echo bogus-cmd; echo 'echo x'\necho no\n"));
    assert_eq!((o.code, o.stdout.as_str()), (1, ""));
    assert!(
        o.stderr.starts_with("bogus-cmd: unknown command\n"),
        "{}",
        o.stderr
    );
}

#[test]
fn quoting_and_escapes() {
    let o = vfish(
        &[],
        Some("echo 'a  b' \"c\\td\" \"\\x41\\102\\\\\\\"\" it's x\"y\" #no\n"),
    );
    assert_eq!(o.stdout, "a  b c\td AB\\\" it's x\"y\" #no\n");
    assert_eq!(o.code, 0);
    let o = vfish(&[], Some("echo \"abc\n"));
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "vfish: unterminated double quote\n")
    );
    let o = vfish(&[], Some("echo \"a\\qb\"\n"));
    assert_eq!(
        o.stderr,
        "vfish: invalid escape sequence in string (starting at offset 1)\n"
    );
    let o = vfish(&[], Some("echo 'a'b\n"));
    assert_eq!(
        o.stderr,
        "vfish: command arguments not separated by whitespace\n"
    );
    let home = vfish(&[], Some("echo ~/x ~ ~root/y\n")).stdout;
    assert_eq!(home, format!("{HOME}/x {HOME} ~root/y\n"));
}

#[test]
fn usage_errors_match_guestfish() {
    let o = vfish(&["vfs-type"], None);
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        "error: incorrect number of arguments\nusage: vfs-type mountable\ntype 'help vfs-type' for more help on vfs-type\n"
    );
    let o = vfish(&["disk.img"], None);
    assert_eq!(
        o.stderr,
        "disk.img: unknown command\nDid you mean to open a disk image?  vfish -a disk.img\n\
         For a list of commands:             vfish -h\nFor complete documentation:         vfish --help\n"
    );
    // Only the first command gets the hint.
    let o = vfish(&["--", "-echo", ":", "nope"], None);
    assert_eq!((o.code, o.stderr.as_str()), (1, "nope: unknown command\n"));
    let o = vfish(&["part-get-mbr-id", "/dev/sda", "one"], None);
    assert_eq!(
        o.stderr,
        "part-get-mbr-id: partnum: invalid integer parameter\n"
    );
    let o = vfish(&["add", "x", "readonly:maybe"], None);
    assert_eq!(
        o.stderr,
        "vfish: 'maybe': invalid boolean value, use 'true' or 'false'\n"
    );
    let o = vfish(&["add", "x", "colour:red"], None);
    assert_eq!(o.stderr, "add: unknown optional argument \"colour:red\"\n");
    let o = vfish(&["add", "x", "format:raw", "format:raw"], None);
    assert_eq!(
        o.stderr,
        "add: optional argument \"format\" given more than once\n"
    );
    let o = vfish(&["--bogus"], None);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            1,
            "vfish: unrecognized option '--bogus'\nTry ‘vfish --help’ for more information.\n"
        )
    );
    let o = vfish(&["-a", "/nonexistent.img"], None);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "/nonexistent.img: No such file or directory\n")
    );
    let o = vfish(&["run", ":", ":", "lvs"], None);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            1,
            "vfish: empty command on command line\nTry ‘vfish --help’ for more information.\n"
        )
    );
}

#[test]
fn inspection_mounts_the_guest_and_m_mounts() {
    let d = demo();
    // -i: the one OS found, its fstab mounted shortest mountpoint first (the ESP on /boot/efi)
    assert_eq!(
        ok(&[
            "--ro",
            "-a",
            &d,
            "-i",
            "mountpoints",
            ":",
            "cat",
            "/etc/hostname",
            ":",
            "ls",
            "/boot/efi/EFI"
        ]),
        "/dev/demo/root: /\n/dev/sda1: /boot/efi\ndemo-debian\nBOOT\n"
    );
    // -i with -m: -m mounts on top of the inspected guest
    assert_eq!(
        ok(&["-a", &d, "-i", "-m", "/dev/sda1:/tmp", "mountpoints"]),
        "/dev/demo/root: /\n/dev/sda1: /boot/efi\n/dev/sda1: /tmp\n"
    );
    // no OS: guestfish's message, exit 1
    let whole = format!(
        "{}/../fixtures/build/whole-ext2.raw",
        env!("CARGO_MANIFEST_DIR")
    );
    let o = vfish(&["-a", &whole, "-i"], None);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "vfish: no operating system was found on this disk\n")
    );
    // -m launches and mounts (ro as an option; other options are refused)
    assert_eq!(
        ok(&["-a", &d, "-m", "/dev/demo/root:/:ro:ext4", "mountpoints"]),
        "/dev/demo/root: /\n"
    );
    let o = vfish(&["-a", &d, "-m", "/dev/demo/root:/:noatime"], None);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("mount option ‘noatime’ is not supported"),
        "{}",
        o.stderr
    );
}

#[test]
fn help_comes_from_the_table() {
    let list = ok(&["-h"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines[0], "    Command              Description");
    assert_eq!(
        lines[1],
        "help                 display a list of commands or help on a command"
    );
    assert_eq!(lines[2], "quit                 quit vfish");
    assert!(lines.contains(&"launch               alias for 'run'"));
    assert!(lines.contains(
        &"vfs-type             get the Linux VFS type corresponding to a mounted device"
    ));
    assert_eq!(
        *lines.last().expect("last"),
        "    Use -h <cmd> / help <cmd> to show detailed help for a command."
    );
    // help inside the shell prints the same list after an introduction.
    assert!(ok(&["help"]).ends_with(&list));
    let vfs = ok(&["help", "vfs-type"]);
    assert!(vfs.starts_with(
        "NAME\n    vfs-type - get the Linux VFS type corresponding to a mounted device\n\n\
         SYNOPSIS\n     vfs-type mountable\n\nDESCRIPTION\n    This command gets the filesystem type"
    ), "{vfs}");
    assert_eq!(ok(&["-h", "vfs_type"]), vfs);
    let o = vfish(&["help", "nope"], None);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "nope: command not known, use -h to list all commands\n")
    );
    assert!(ok(&["--help"]).contains("-a|--add image"));
    assert_eq!(
        ok(&["--version"]),
        format!("vfish {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn trace_echoes_each_command_on_stderr() {
    let o = vfish(
        &["-x", "-a", &demo(), "run", ":", "vfs-type", "/dev/sda1"],
        None,
    );
    assert_eq!(o.code, 0);
    assert_eq!(o.stdout, "vfat\n");
    assert_eq!(
        o.stderr,
        "vguestfs: trace: run\nvguestfs: trace: vfs_type \"/dev/sda1\"\n"
    );
}

#[test]
fn read_only_leaves_images_byte_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("demo.qcow2");
    std::fs::copy(demo(), &img).expect("copy");
    let before = sha256_file(&img);
    let p = img.to_string_lossy().into_owned();
    let script = "run\nlist-filesystems\npart-list /dev/sda\nvfs-uuid /dev/demo/root\nblockdev-getsize64 /dev/demo/swap\n";
    for args in [vec!["-a", p.as_str()], vec!["--ro", "-a", p.as_str()]] {
        let o = vfish(&args, Some(script));
        assert_eq!(o.code, 0, "{o:?}");
    }
    // `add` without readonly: follows the session's read-only default.
    let o = vfish(&[], Some(&format!("add {p}\nrun\nlvs\n")));
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(sha256_file(&img), before);
}

#[test]
fn add_commands_before_run() {
    let d = demo();
    let o = vfish(
        &[],
        Some(&format!(
            "add {d} format:qcow2 readonly:true\nadd-ro {d}\nrun\nlist-devices\npvs\n"
        )),
    );
    assert_eq!(o.code, 0, "{o:?}");
    // The same image twice: two disks, and LVM sees a duplicate PV only once.
    assert!(o.stdout.starts_with("/dev/sda\n/dev/sdb\n"), "{}", o.stdout);
    let o = vfish(&[], Some(&format!("add {d} format:vmdk\n")));
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        "*stdin*:1: vguestfs: error: add: unknown image format 'vmdk' (expected raw or qcow2)\n"
    );
    let o = vfish(&[], Some(&format!("add {d}\nrun\nadd {d}\n")));
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        "*stdin*:3: vguestfs: error: add: the guest is already launched\n"
    );
}

#[test]
fn rw_adds_drives_writable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("demo.qcow2");
    std::fs::copy(demo(), &img).expect("copy");
    let before = sha256_file(&img);
    let p = img.to_string_lossy().into_owned();
    assert_eq!(
        ok(&["--rw", "-a", &p, "run", ":", "blockdev-getro", "/dev/sda"]),
        "false\n"
    );
    assert_eq!(
        ok(&["-a", &p, "run", ":", "blockdev-getro", "/dev/sda"]),
        "true\n"
    );
    let o = vfish(
        &["--rw"],
        Some(&format!(
            "add {p} readonly:true\nrun\nblockdev-getro /dev/sda1\n"
        )),
    );
    assert_eq!((o.code, o.stdout.as_str()), (0, "true\n"));
    // Nothing writes yet: reading through a writable drive changes no byte.
    assert_eq!(sha256_file(&img), before);
}
