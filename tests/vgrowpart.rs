//! `vgrowpart`, judged against the real `growpart` (cloud-guest-utils) run on a twin copy of
//! the same image: same messages and exit status, same `sfdisk -d` (and for GPT the same bytes),
//! `sgdisk -v` clean; an LVM PV on the partition is resized as lvm2's `pvresize` does (lvm2's
//! `pvs`/`vgs`/`lvs` on a loop device agree); qcow2 images pass `qemu-img check`.

mod common;

use common::{fixture, loop_lock, run, sha256_file};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vgrowpart(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vgrowpart")).args(args).output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Two copies of a fixture, grown to `size` with truncate (or `qemu-img resize` for qcow2),
/// with the same file name in two directories (so that dumps naming the device compare equal).
struct Twins {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    ours: PathBuf,
    theirs: PathBuf,
}

fn twins(name: &str, size: &str) -> Twins {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let file = "disk.img";
    let (ours, theirs) = (a.path().join(file), b.path().join(file));
    for p in [&ours, &theirs] {
        run("cp", &["--sparse=always", fixture(name).to_str().unwrap(), p.to_str().unwrap()]);
        run("truncate", &["-s", size, p.to_str().unwrap()]);
    }
    Twins { _dirs: (a, b), ours, theirs }
}

fn sfdisk_d(p: &Path) -> String {
    let o = Command::new("sfdisk").current_dir(p.parent().unwrap()).args(["-d", "disk.img"]).output().unwrap();
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `growpart [OPTS] disk.img N` on both twins: same stdout and exit status.
fn grow_both(t: &Twins, opts: &[&str], n: &str) -> (Output, Output) {
    let run_in = |p: &Path, prog: &str| {
        let mut args: Vec<&str> = opts.to_vec();
        args.push("disk.img");
        args.push(n);
        Command::new(prog).current_dir(p.parent().unwrap()).args(&args).output().unwrap()
    };
    let o = run_in(&t.ours, env!("CARGO_BIN_EXE_vgrowpart"));
    let g = run_in(&t.theirs, "growpart");
    assert_eq!(text(&o).0, text(&g).0, "stdout of vgrowpart {opts:?} vs growpart");
    assert_eq!(o.status.code(), g.status.code(), "exit status; ours stderr: {}", text(&o).1);
    (o, g)
}

#[test]
fn gpt_grow_is_byte_identical_to_growpart() {
    let t = twins("sysprep-ubuntu.raw", "200M");
    let (o, _) = grow_both(&t, &[], "1");
    assert!(text(&o).0.starts_with("CHANGED: partition=1 start=43008 old: size=151552"), "{:?}", text(&o));
    assert_eq!(sha256_file(&t.ours), sha256_file(&t.theirs), "the same bytes as growpart + sfdisk");
    let v = run("sgdisk", &["-v", t.ours.to_str().unwrap()]);
    assert!(v.contains("No problems found"), "{v}");
    // nothing left to grow: growpart's NOCHANGE, exit 1
    let (o, _) = grow_both(&t, &[], "1");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).0.starts_with("NOCHANGE: partition 1 is size"));
    // the ESP cannot grow: the root partition follows it
    let (o, _) = grow_both(&t, &[], "15");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn dry_run_prints_growparts_tables_and_writes_nothing() {
    let t = twins("sysprep-centos7.raw", "300M");
    let before = sha256_file(&t.ours);
    let (o, g) = grow_both(&t, &["-N"], "2");
    assert_eq!(text(&o).1, text(&g).1, "old and new sfdisk -d");
    assert!(text(&o).0.starts_with("CHANGE: partition=2"));
    assert_eq!(sha256_file(&t.ours), before);
    let t = twins("sysprep-ubuntu.raw", "200M");
    let (o, g) = grow_both(&t, &["--dry-run"], "1");
    assert_eq!(text(&o).1, text(&g).1);
}

#[test]
fn fudge_and_free_percent_as_growpart() {
    // 16 KiB more: with the 33 sectors kept for a GPT backup, 2047 sectors, less than the 1 MiB fudge
    let t = twins("sysprep-ubuntu.raw", "98320K");
    let (o, _) = grow_both(&t, &[], "1");
    assert!(text(&o).0.contains("could only be grown by"), "{:?}", text(&o));
    let (o, _) = grow_both(&t, &["--fudge", "4096"], "1");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(sfdisk_d(&t.ours), sfdisk_d(&t.theirs));
    let t = twins("sysprep-ubuntu.raw", "400M");
    grow_both(&t, &["--free-percent=10"], "1");
    assert_eq!(sfdisk_d(&t.ours), sfdisk_d(&t.theirs));
    let t = twins("sysprep-ubuntu.raw", "100M");
    let (o, _) = grow_both(&t, &["--free-percent=50"], "1");
    assert!(text(&o).0.contains("could not be grown while leaving 50%"), "{:?}", text(&o));
}

#[test]
fn mbr_over_2tib_is_capped_like_growpart() {
    // a sparse 3 TiB disk with one small MBR partition
    let t = twins("sysprep-centos7.raw", "3T");
    for p in [&t.ours, &t.theirs] {
        let mut sf = Command::new("sfdisk").args(["-q", p.to_str().unwrap()]).stdin(std::process::Stdio::piped()).spawn().unwrap();
        use std::io::Write;
        sf.stdin.take().unwrap().write_all(b"label: dos\nlabel-id: 0x1234abcd\nstart=2048, size=2048, type=83\n").unwrap();
        assert!(sf.wait().unwrap().success());
    }
    // growpart 0.33 puts the end at sector 2^32, which MBR cannot address, and its sfdisk call
    // fails; we stop at 2^32 - 1, which sfdisk itself accepts
    let o = vgrowpart(&[t.ours.to_str().unwrap(), "1"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(text(&o).0, "CHANGED: partition=1 start=2048 old: size=2048 end=4095 new: size=4294965248 end=4294967295\n");
    assert!(text(&o).1.contains("larger than 2TB"), "{:?}", text(&o));
    assert!(sfdisk_d(&t.ours).contains("start=        2048, size=  4294965248, type=83"), "{}", sfdisk_d(&t.ours));
    let v = Command::new("sfdisk").args(["--verify", t.ours.to_str().unwrap()]).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
}

#[test]
fn lvm_pv_is_resized_as_pvresize_does() {
    let t = twins("sysprep-centos7.raw", "300M");
    grow_both(&t, &[], "2");
    assert_eq!(sfdisk_d(&t.ours), sfdisk_d(&t.theirs));
    let mbr = |p: &Path| std::fs::read(p).unwrap()[..512].to_vec();
    assert_eq!(mbr(&t.ours), mbr(&t.theirs), "the MBR sector, CHS fields included, is sfdisk's");
    // lvm2 resizes the twin's PV; then both must report the same
    let (start, size) = (67584u64 * 512, 546783u64 * 512);
    let _l = loop_lock();
    let report = |img: &Path, resize: bool| -> String {
        let env_dir = tempfile::tempdir().unwrap();
        std::fs::write(
            env_dir.path().join("lvm.conf"),
            "devices { filter = [ \"a|^/dev/loop|\", \"r|.*|\" ] use_devicesfile = 0 }\nbackup { backup = 0 archive = 0 }\nglobal { use_lvmlockd = 0 }\nactivation { udev_sync = 0 udev_rules = 0 monitoring = 0 }\n",
        )
        .unwrap();
        let dev = run("losetup", &["-f", "--show", "-o", &start.to_string(), "--sizelimit", &size.to_string(), img.to_str().unwrap()]);
        let dev = dev.trim().to_string();
        let lvm = |args: &[&str]| {
            let o = Command::new(args[0]).args(&args[1..]).env("LVM_SYSTEM_DIR", env_dir.path()).env("LVM_SUPPRESS_FD_WARNINGS", "1").output().unwrap();
            (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
        };
        if resize {
            let (ok, out) = lvm(&["pvresize", &dev]);
            assert!(ok, "{out}");
        }
        let mut out = String::new();
        for cmd in [
            vec!["pvs", "--noheadings", "--units", "s", "-o", "pv_uuid,pv_size,pe_start,dev_size,pv_pe_count,pv_pe_alloc_count,pv_free"],
            vec!["vgs", "--noheadings", "--units", "s", "-o", "vg_name,seqno,vg_extent_count,vg_free_count,vg_size"],
            vec!["lvs", "--noheadings", "--units", "s", "-o", "lv_name,lv_size,seg_pe_ranges"],
            vec!["vgck", "centos"],
        ] {
            let (ok, o) = lvm(&cmd);
            assert!(ok, "{cmd:?}: {o}");
            out.push_str(&o.replace(&dev, "DEV"));
        }
        let _ = Command::new("losetup").args(["-d", &dev]).status();
        out
    };
    let ours = report(&t.ours, false);
    let theirs = report(&t.theirs, true);
    assert_eq!(ours, theirs, "lvm2's view of our pvresize vs its own");
    assert!(ours.contains(" 66 "), "{ours}");
    // growing again changes nothing
    let o = vgrowpart(&[t.ours.to_str().unwrap(), "2"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn qcow2_images_grow_and_pass_qemu_img_check() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("disk.qcow2");
    run("cp", &[fixture("sysprep-ubuntu.qcow2").to_str().unwrap(), img.to_str().unwrap()]);
    run("qemu-img", &["resize", "-q", img.to_str().unwrap(), "200M"]);
    let o = vgrowpart(&[img.to_str().unwrap(), "1"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    run("qemu-img", &["check", img.to_str().unwrap()]);
    let raw = d.path().join("disk.img");
    run("qemu-img", &["convert", "-O", "raw", img.to_str().unwrap(), raw.to_str().unwrap()]);
    // the same as growpart on the raw twin
    let t = twins("sysprep-ubuntu.raw", "200M");
    grow_both(&t, &[], "1");
    assert_eq!(sha256_file(&raw), sha256_file(&t.theirs));
}

#[test]
fn errors_exit_2() {
    let t = twins("sysprep-ubuntu.raw", "200M");
    let o = vgrowpart(&[t.ours.to_str().unwrap(), "9"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.starts_with("FAILED: "), "{:?}", text(&o));
    let o = vgrowpart(&["/nonexistent.img", "1"]);
    assert_eq!(o.status.code(), Some(2));
    let o = vgrowpart(&[fixture("mbr-logical.raw").to_str().unwrap(), "5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("logical or extended"), "{:?}", text(&o));
    let o = vgrowpart(&[]);
    assert_eq!(o.status.code(), Some(2));
}
