//! `pvresize`, `pvresize-size` and `lvresize-free` judged by lvm2: the CentOS fixture grown to
//! 300 MiB with `growpart` (the real tool) twice; on one copy vfish, on the twin lvm2's own
//! `pvresize [--setphysicalvolumesize]` and `lvextend --driverloaded n -l +N%FREE` on a loop
//! device; lvm2's reports of both must be equal and `vgck` pass on ours.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

/// A copy of the CentOS fixture, 300 MiB, partition 2 grown by growpart.
fn grown(dir: &Path, name: &str) -> String {
    let p = dir.join(name).to_str().unwrap().to_string();
    tool("cp", &["--sparse=always", &fixture("sysprep-centos7.raw"), &p]);
    tool("truncate", &["-s", "300M", &p]);
    tool("growpart", &[&p, "2"]);
    p
}

/// Runs lvm2 commands (`DEV` = a writable loop device over partition 2) with a private
/// configuration.
fn lvm2(image: &str, cmds: &[&[&str]]) {
    let (off, size) = partitions(image)[1];
    let dev = tool("losetup", &["-f", "--show", "-o", &off.to_string(), "--sizelimit", &size.to_string(), image]).trim().to_string();
    let conf = tempfile::tempdir().unwrap();
    std::fs::write(conf.path().join("lvm.conf"), "devices { use_devicesfile = 0 obtain_device_list_from_udev = 0 hints = \"none\" }\nglobal { use_lvmlockd = 0 }\nbackup { backup = 0 archive = 0 }\nactivation { udev_sync = 0 udev_rules = 0 monitoring = 0 }\n").unwrap();
    let path = format!("{}:/usr/sbin:/sbin", std::env::var("PATH").unwrap_or_default());
    let mut failed = None;
    for c in cmds {
        let args: Vec<&str> = c[1..].iter().map(|a| if *a == "DEV" { dev.as_str() } else { a }).collect();
        let o = Command::new(c[0]).args(["--devices", &dev]).args(&args).env("PATH", &path).env("LVM_SYSTEM_DIR", conf.path()).env("LVM_SUPPRESS_FD_WARNINGS", "1").output().unwrap();
        if !o.status.success() {
            failed = Some(format!("{c:?}: {}", String::from_utf8_lossy(&o.stderr)));
            break;
        }
    }
    let _ = Command::new("losetup").args(["-d", &dev]).status();
    assert!(failed.is_none(), "{}", failed.unwrap_or_default());
}

/// lvm2's view of partition 2: PVs, LV segments, VG counts.
fn report(image: &str) -> String {
    let (off, size) = partitions(image)[1];
    let l = Loop::attach(image, off, size);
    let pvs = lvm_report("pvs", "pv", "pv_size,dev_size,pv_pe_count,pv_free", &[&l]);
    let lvs = lvm_report("lvs", "lv", "lv_name,lv_size,seg_pe_ranges", &[&l]);
    let vgs = lvm_report("vgs", "vg", "vg_extent_count,vg_free_count,vg_seqno", &[&l]);
    format!("{pvs:?}\n{lvs:?}\n{vgs:?}").replace(&l.0, "DEV")
}

#[test]
fn pvresize_and_lvresize_free_match_lvm2() {
    let _g = loop_lock();
    let t = tempfile::tempdir().unwrap();
    for (ours_cmds, theirs_cmds) in [
        (
            vec!["pvresize", "/dev/sda2", ":", "lvresize-free", "/dev/centos/root", "50"],
            vec![vec!["pvresize", "DEV"], vec!["lvextend", "--driverloaded", "n", "-l", "+50%FREE", "centos/root"]],
        ),
        (
            vec!["pvresize-size", "/dev/sda2", "209715200", ":", "lvresize-free", "/dev/centos/swap", "100"],
            vec![vec!["pvresize", "-y", "--setphysicalvolumesize", "209715200b", "DEV"], vec!["lvextend", "--driverloaded", "n", "-l", "+100%FREE", "centos/swap"]],
        ),
    ] {
        let (ours, theirs) = (grown(t.path(), "ours.raw"), grown(t.path(), "theirs.raw"));
        let before = sha256_file(Path::new(&ours));
        let mut ro = vec!["-a", ours.as_str(), "run", ":"];
        ro.extend(ours_cmds.iter().copied());
        let o = vfish(&ro, None);
        assert!(o.code != 0 && o.stderr.contains("read-only"), "{o:?}");
        assert_eq!(sha256_file(Path::new(&ours)), before, "read-only wrote");
        let mut rw = vec!["--rw", "-a", ours.as_str(), "run", ":"];
        rw.extend(ours_cmds.iter().copied());
        ok(&rw);
        let cmds: Vec<&[&str]> = theirs_cmds.iter().map(|c| c.as_slice()).collect();
        lvm2(&theirs, &cmds);
        let mine = report(&ours);
        assert_eq!(mine, report(&theirs), "{ours_cmds:?}");
        lvm2(&ours, &[&["vgck", "centos"]]);
    }
    let ours = grown(t.path(), "ours.raw");
    let before = sha256_file(Path::new(&ours));
    for (cmd, msg) in [
        (vec!["pvresize", "/dev/sda1"], "not an LVM physical volume"),
        (vec!["pvresize-size", "/dev/sda2", "1000"], "not a multiple of 512"),
        (vec!["pvresize-size", "/dev/sda2", "1048576"], "shrinking is not supported"),
        (vec!["lvresize-free", "/dev/centos/root", "101"], "percentage must be [0..100]"),
        (vec!["lvresize-free", "/dev/centos/nope", "50"], "no such device"),
    ] {
        let mut a = vec!["--rw", "-a", ours.as_str(), "run", ":"];
        a.extend(cmd.iter().copied());
        let o = vfish(&a, None);
        assert!(o.code != 0 && o.stderr.contains(msg), "{cmd:?}: {o:?}");
    }
    assert_eq!(sha256_file(Path::new(&ours)), before, "a refused command wrote");
}
