//! LVM metadata writes (`lvextend`) judged by lvm2: the same LV grown by lvm2's own
//! `lvextend --driverloaded n` on a twin copy must report the same segments, sizes and free
//! extents (`lvs -o seg_pe_ranges`, `vgs`), and `vgck` must pass on ours.

mod common;

use common::{fixture, loop_lock, run};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use vguestfs::disk::{open_session_image, Dev, OverlayOptions, Slice};

/// The CentOS fixture grown to 300 MiB with its PV partition and PV grown (vgrowpart):
/// extents 20-65 free after root (4-19); swap at 0-3.
const PART: (u64, u64) = (67584 * 512, 546783 * 512);

fn grown_centos(dir: &Path, name: &str) -> std::path::PathBuf {
    let img = dir.join(name);
    run("cp", &["--sparse=always", fixture("sysprep-centos7.raw").to_str().unwrap(), img.to_str().unwrap()]);
    run("truncate", &["-s", "300M", img.to_str().unwrap()]);
    let o = Command::new(env!("CARGO_BIN_EXE_vgrowpart")).args([img.to_str().unwrap(), "2"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    img
}

/// lvm2 with a private configuration on a loop device over the PV partition of `img`.
fn lvm2(img: &Path, cmds: &[&[&str]]) -> String {
    let env_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        env_dir.path().join("lvm.conf"),
        "devices { filter = [ \"a|^/dev/loop|\", \"r|.*|\" ] use_devicesfile = 0 }\nbackup { backup = 0 archive = 0 }\nglobal { use_lvmlockd = 0 }\nactivation { udev_sync = 0 udev_rules = 0 monitoring = 0 }\n",
    )
    .unwrap();
    let dev = run("losetup", &["-f", "--show", "-o", &PART.0.to_string(), "--sizelimit", &PART.1.to_string(), img.to_str().unwrap()]);
    let dev = dev.trim().to_string();
    let mut out = String::new();
    for c in cmds {
        let o = Command::new(c[0]).args(&c[1..]).env("LVM_SYSTEM_DIR", env_dir.path()).env("LVM_SUPPRESS_FD_WARNINGS", "1").output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        if !o.status.success() {
            let _ = Command::new("losetup").args(["-d", &dev]).status();
        }
        assert!(o.status.success(), "{c:?}: {text}{}", String::from_utf8_lossy(&o.stderr));
        out.push_str(&text.replace(&dev, "DEV"));
    }
    let _ = Command::new("losetup").args(["-d", &dev]).status();
    out
}

const REPORT: &[&[&str]] = &[
    &["lvs", "--noheadings", "--units", "s", "-o", "lv_name,lv_size,seg_start_pe,seg_pe_ranges"],
    &["vgs", "--noheadings", "--units", "s", "-o", "vg_name,seqno,vg_extent_count,vg_free_count"],
    &["vgck", "centos"],
];

/// Our lvextend on `img` (through the overlay, committed).
fn our_lvextend(img: &Path, lv: &str, add: Option<u64>) -> vguestfs::lvm::LvExtended {
    let opened = open_session_image(img, None, true, &OverlayOptions::default()).unwrap();
    let part: Dev = Arc::new(Slice::new(opened.dev.clone(), PART.0, PART.1, "/dev/sda2").unwrap());
    let devs = vec![("/dev/sda2".to_string(), part)];
    let vgs = vguestfs::lvm::scan(&devs).unwrap();
    let r = vguestfs::lvm::lvextend(&devs, &vgs[0], lv, add).unwrap();
    opened.overlay.unwrap().commit().unwrap();
    r
}

#[test]
fn lvextend_matches_lvm2() {
    let d = tempfile::tempdir().unwrap();
    let _l = loop_lock();
    // root: the free extents follow it, so its segment grows
    let (ours, theirs) = (grown_centos(d.path(), "a.img"), grown_centos(d.path(), "b.img"));
    let r = our_lvextend(&ours, "root", None);
    assert_eq!(r.extents, (16, 62));
    let mut cmds: Vec<&[&str]> = vec![&["lvextend", "--driverloaded", "n", "-l", "+100%FREE", "centos/root"]];
    lvm2(&theirs, &cmds);
    assert_eq!(lvm2(&ours, REPORT), lvm2(&theirs, REPORT));
    assert!(lvm2(&ours, REPORT).contains("DEV:4-65"));
    // swap: root follows it, so a new segment takes the first free run
    let (ours, theirs) = (grown_centos(d.path(), "c.img"), grown_centos(d.path(), "e.img"));
    our_lvextend(&ours, "swap", Some(10));
    cmds = vec![&["lvextend", "--driverloaded", "n", "-l", "+10", "centos/swap"]];
    lvm2(&theirs, &cmds);
    let report = lvm2(&ours, REPORT);
    assert_eq!(report, lvm2(&theirs, REPORT));
    assert!(report.contains("DEV:20-29"), "{report}");
    // and then the rest of the free space, after that new segment
    our_lvextend(&ours, "swap", None);
    lvm2(&theirs, &[&["lvextend", "--driverloaded", "n", "-l", "+100%FREE", "centos/swap"]]);
    assert_eq!(lvm2(&ours, REPORT), lvm2(&theirs, REPORT));
}

#[test]
fn lvextend_refusals() {
    let d = tempfile::tempdir().unwrap();
    let img = grown_centos(d.path(), "a.img");
    let opened = open_session_image(&img, None, true, &OverlayOptions::default()).unwrap();
    let part: Dev = Arc::new(Slice::new(opened.dev.clone(), PART.0, PART.1, "/dev/sda2").unwrap());
    let devs = vec![("/dev/sda2".to_string(), part)];
    let vgs = vguestfs::lvm::scan(&devs).unwrap();
    let e = vguestfs::lvm::lvextend(&devs, &vgs[0], "root", Some(1000)).unwrap_err().to_string();
    assert!(e.contains("1000 extents requested, the VG has 46 free"), "{e}");
    let e = vguestfs::lvm::lvextend(&devs, &vgs[0], "nope", None).unwrap_err().to_string();
    assert!(e.contains("/dev/centos/nope: no such logical volume"), "{e}");
    let e = vguestfs::lvm::lvextend(&[], &vgs[0], "root", None).unwrap_err().to_string();
    assert!(e.contains("is missing"), "{e}");
}
