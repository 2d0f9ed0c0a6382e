//! LVM metadata writes (`pvresize`, `lvextend`) judged by lvm2: the same change made by lvm2's
//! own `pvresize` / `lvextend --driverloaded n` on a twin copy must report the same PVs,
//! segments, sizes, free extents and seqno (`pvs`, `lvs -o seg_pe_ranges`, `vgs`), `vgck` must
//! pass on ours, every PV's metadata area must hold the new seqno with good CRCs
//! (`pvck --dump headers`), PV labels must be byte-identical, and refusals must say what
//! lvm2 says. Fixtures: a single-PV CentOS guest, VG vgstripe over two disks and VG vgmulti
//! over three (one PV without a metadata area), with striped LVs.

mod common;

use common::{fixture, loop_lock, run, Loop};
use std::path::{Path, PathBuf};
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
    lvm2_on(&[(img, PART.0, PART.1)], cmds)
}

/// lvm2 with a private configuration on loop devices over `(file, offset, size)` ranges:
/// `DEV0`, `DEV1`… in the commands name them, and their output says `DEV0`… for them.
fn lvm2_on(parts: &[(&Path, u64, u64)], cmds: &[&[&str]]) -> String {
    let lvm = Lvm2::on(parts);
    let mut out = String::new();
    for c in cmds {
        let (ok, text, err) = lvm.run(c);
        assert!(ok, "{c:?}: {text}{err}");
        if c[0] == "pvs" {
            // pvs lists in the order of the real device names (/dev/loop9 after /dev/loop10):
            // sorted by our DEVi names, two runs on different loop devices compare equal
            let mut lines: Vec<&str> = text.lines().collect();
            lines.sort();
            lines.iter().for_each(|l| out.push_str(&format!("{l}\n")));
            continue;
        }
        out.push_str(&text);
    }
    out
}

/// A private lvm2 configuration and the loop devices it sees (detached on drop).
struct Lvm2 {
    conf: tempfile::TempDir,
    loops: Vec<Loop>,
}

impl Lvm2 {
    fn on(parts: &[(&Path, u64, u64)]) -> Lvm2 {
        let conf = tempfile::tempdir().unwrap();
        std::fs::write(
            conf.path().join("lvm.conf"),
            "devices { filter = [ \"a|^/dev/loop|\", \"r|.*|\" ] use_devicesfile = 0 }\nbackup { backup = 0 archive = 0 }\nglobal { use_lvmlockd = 0 }\nactivation { udev_sync = 0 udev_rules = 0 monitoring = 0 }\n",
        )
        .unwrap();
        Lvm2 { conf, loops: parts.iter().map(|(f, o, s)| Loop::attach_rw(f, *o, *s)).collect() }
    }

    /// Runs `cmd` (`DEVi` for the i-th loop device): success, stdout and stderr with the
    /// loop devices named `DEVi`.
    fn run(&self, cmd: &[&str]) -> (bool, String, String) {
        let args: Vec<String> = cmd[1..].iter().map(|a| self.loops.iter().enumerate().fold(a.to_string(), |a, (i, l)| a.replace(&format!("DEV{i}"), &l.0))).collect();
        let o = Command::new(cmd[0]).args(&args).env("LVM_SYSTEM_DIR", self.conf.path()).env("LVM_SUPPRESS_FD_WARNINGS", "1").output().unwrap();
        // longest names first: /dev/loop10 before /dev/loop1
        let mut named: Vec<(usize, &Loop)> = self.loops.iter().enumerate().collect();
        named.sort_by_key(|(_, l)| std::cmp::Reverse(l.0.len()));
        let rename = |b: &[u8]| named.iter().fold(String::from_utf8_lossy(b).into_owned(), |t, (i, l)| t.replace(&l.0, &format!("DEV{i}")));
        (o.status.success(), rename(&o.stdout), rename(&o.stderr))
    }
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
    assert!(lvm2(&ours, REPORT).contains("DEV0:4-65"));
    // swap: root follows it, so a new segment takes the first free run
    let (ours, theirs) = (grown_centos(d.path(), "c.img"), grown_centos(d.path(), "e.img"));
    our_lvextend(&ours, "swap", Some(10));
    cmds = vec![&["lvextend", "--driverloaded", "n", "-l", "+10", "centos/swap"]];
    lvm2(&theirs, &cmds);
    let report = lvm2(&ours, REPORT);
    assert_eq!(report, lvm2(&theirs, REPORT));
    assert!(report.contains("DEV0:20-29"), "{report}");
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
    assert!(e.contains("insufficient free space: 1000 extents needed, but only 46 available"), "{e}");
    let e = vguestfs::lvm::lvextend(&devs, &vgs[0], "nope", None).unwrap_err().to_string();
    assert!(e.contains("/dev/centos/nope: no such logical volume"), "{e}");
    let e = vguestfs::lvm::lvextend(&[], &vgs[0], "root", None).unwrap_err().to_string();
    assert!(e.contains("is missing"), "{e}");
}

/// Copies of whole-disk PV fixtures into `dir` (`tag` keeps twins apart).
fn copies(dir: &Path, names: &[&str], tag: &str) -> Vec<PathBuf> {
    names
        .iter()
        .map(|n| {
            let p = dir.join(format!("{tag}-{n}"));
            std::fs::copy(fixture(n), &p).unwrap();
            p
        })
        .collect()
}

/// Whole files as lvm2 loop ranges.
fn whole(imgs: &[PathBuf]) -> Vec<(&Path, u64, u64)> {
    imgs.iter().map(|p| (p.as_path(), 0, std::fs::metadata(p).unwrap().len())).collect()
}

/// Runs `f` on our devices over `imgs` (`/dev/sda`, `/dev/sdb`… as scanned), then commits.
fn ours<T>(imgs: &[PathBuf], f: impl FnOnce(&[(String, Dev)]) -> T) -> T {
    let opened: Vec<_> = imgs.iter().map(|p| open_session_image(p, None, true, &OverlayOptions::default()).unwrap()).collect();
    let devs: Vec<(String, Dev)> = opened.iter().enumerate().map(|(i, o)| (format!("/dev/sd{}", (b'a' + i as u8) as char), o.dev.clone())).collect();
    let r = f(&devs);
    for o in opened {
        o.overlay.unwrap().commit().unwrap();
    }
    r
}

/// What lvm2 says about VG `vg` on `imgs`: PVs, LV segments, VG counts and seqno, `vgck`, and
/// per PV its header's device size and the VG name and seqno of the text in its metadata
/// area (`pvck --dump headers`, which checks the CRCs).
fn vg_report(imgs: &[PathBuf], vg: &str) -> String {
    let mut cmds: Vec<Vec<String>> = vec![
        vec!["pvs".into(), "--noheadings".into(), "--units".into(), "s".into(), "-o".into(), "pv_name,pv_size,dev_size,pv_pe_count,pv_free".into()],
        vec!["lvs".into(), "--noheadings".into(), "--units".into(), "s".into(), "-o".into(), "lv_name,lv_size,seg_pe_ranges,stripes,stripe_size".into(), vg.into()],
        vec!["vgs".into(), "--noheadings".into(), "-o".into(), "vg_extent_count,vg_free_count,vg_seqno".into(), vg.into()],
        vec!["vgck".into(), vg.into()],
    ];
    for i in 0..imgs.len() {
        cmds.push(vec!["pvck".into(), "--dump".into(), "headers".into(), format!("DEV{i}")]);
    }
    let refs: Vec<Vec<&str>> = cmds.iter().map(|c| c.iter().map(String::as_str).collect()).collect();
    let cmds: Vec<&[&str]> = refs.iter().map(|c| c.as_slice()).collect();
    let out = lvm2_on(&whole(imgs), &cmds);
    assert!(!out.contains("CHECK"), "{out}");
    out.lines()
        .filter(|l| !l.contains("_header") && !l.contains("metadata text at") || l.contains("device_size") || l.contains("metadata text at"))
        // where the text lands depends on the previous text's length, which differs from lvm2's
        .map(|l| if l.contains("metadata text at") { l.split_once('#').map_or("", |x| x.1).to_string() } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The label sectors of `imgs`.
fn labels(imgs: &[PathBuf]) -> Vec<Vec<u8>> {
    imgs.iter().map(|p| std::fs::read(p).unwrap()[512..1024].to_vec()).collect()
}

fn grow(img: &Path, size: &str) {
    run("truncate", &["-s", size, img.to_str().unwrap()]);
}

const STRIPED: &[&str] = &["lvm-striped-a.raw", "lvm-striped-b.raw"];
const MULTI: &[&str] = &["lvm-multi-a.raw", "lvm-multi-b.raw", "lvm-multi-c.raw"];

#[test]
fn pvresize_of_one_pv_in_a_multi_pv_vg_matches_lvm2() {
    let d = tempfile::tempdir().unwrap();
    let _l = loop_lock();
    let (a, b) = (copies(d.path(), STRIPED, "ours"), copies(d.path(), STRIPED, "lvm2"));
    for (i, dev, size, pe) in [(0, "/dev/sda", "48M", (31, 47)), (1, "/dev/sdb", "40M", (31, 39))] {
        grow(&a[i], size);
        grow(&b[i], size);
        let r = ours(&a, |devs| vguestfs::lvm::pvresize_in(devs, dev).unwrap().unwrap());
        assert_eq!((r.vg.as_deref(), r.pe_count), (Some("vgstripe"), pe));
        lvm2_on(&whole(&b), &[&["pvresize", &format!("DEV{i}")]]);
        let report = vg_report(&a, "vgstripe");
        assert_eq!(report, vg_report(&b, "vgstripe"));
        assert_eq!(report.matches(&format!("vgname vgstripe seqno {}", 3 + i)).count(), 2, "{report}");
        assert_eq!(labels(&a), labels(&b));
    }
    // a PV without a metadata area: the text changes on the other two
    let (a, b) = (copies(d.path(), MULTI, "ours"), copies(d.path(), MULTI, "lvm2"));
    grow(&a[2], "40M");
    grow(&b[2], "40M");
    let r = ours(&a, |devs| vguestfs::lvm::pvresize_in(devs, "/dev/sdc").unwrap().unwrap());
    assert_eq!(r.pe_count, (23, 39));
    lvm2_on(&whole(&b), &[&["pvresize", "DEV2"]]);
    let report = vg_report(&a, "vgmulti");
    assert_eq!(report, vg_report(&b, "vgmulti"));
    assert_eq!(report.matches("vgname vgmulti seqno 3").count(), 2, "{report}");
    assert_eq!(labels(&a), labels(&b));
    // the single-device form refuses: the other PVs' copies would be stale
    grow(&a[0], "40M");
    let e = ours(&a[..1], |devs| vguestfs::lvm::pvresize(devs[0].1.as_ref(), "/dev/sda").unwrap_err().to_string());
    assert!(e.contains("/dev/sda: physical volume pv1 (uuid VgMulP-vdbb-0000-0000-0000-0000-00000f) is missing"), "{e}");
}

#[test]
fn lvextend_striped_matches_lvm2() {
    let d = tempfile::tempdir().unwrap();
    let _l = loop_lock();
    // wide's second stripe cannot continue (LV after follows it): +3 rounds up to 4 extents in
    // a new segment; then all the rest, partly on pv2
    let (a, b) = (copies(d.path(), MULTI, "ours"), copies(d.path(), MULTI, "lvm2"));
    let r = ours(&a, |devs| vguestfs::lvm::lvextend(devs, &vguestfs::lvm::scan(devs).unwrap()[0], "wide", Some(3)).unwrap());
    assert_eq!(r.extents, (8, 12));
    lvm2_on(&whole(&b), &[&["lvextend", "--driverloaded", "n", "-l", "+3", "vgmulti/wide"]]);
    assert_eq!(vg_report(&a, "vgmulti"), vg_report(&b, "vgmulti"));
    let r = ours(&a, |devs| vguestfs::lvm::lvextend(devs, &vguestfs::lvm::scan(devs).unwrap()[0], "wide", None).unwrap());
    lvm2_on(&whole(&b), &[&["lvextend", "--driverloaded", "n", "-l", "+100%FREE", "vgmulti/wide"]]);
    let report = vg_report(&a, "vgmulti");
    assert_eq!(report, vg_report(&b, "vgmulti"));
    assert_eq!(r.extents, (12, 46), "{report}");
    assert!(report.contains("DEV2:4-7 DEV0:19-22"), "{report}");
    // linear LVs across the PVs: after (pv1 4-7, wide follows it) clings to pv1, then takes
    // the largest free areas; lin continues in place on pv2, then the same
    let (a, b) = (copies(d.path(), MULTI, "ours"), copies(d.path(), MULTI, "lvm2"));
    for (lv, add, arg) in [("wide", Some(4), "+4"), ("after", Some(20), "+20"), ("lin", None, "+100%FREE")] {
        ours(&a, |devs| vguestfs::lvm::lvextend(devs, &vguestfs::lvm::scan(devs).unwrap()[0], lv, add).unwrap());
        lvm2_on(&whole(&b), &[&["lvextend", "--driverloaded", "n", "-l", arg, &format!("vgmulti/{lv}")]]);
        assert_eq!(vg_report(&a, "vgmulti"), vg_report(&b, "vgmulti"), "{lv} {arg}");
    }
    // stripes: span follows both stripes, so a new segment; after both PVs grow, the last
    // segment continues on both
    let (a, b) = (copies(d.path(), STRIPED, "ours"), copies(d.path(), STRIPED, "lvm2"));
    let extend = |a: &[PathBuf], b: &[PathBuf]| {
        let r = ours(a, |devs| vguestfs::lvm::lvextend(devs, &vguestfs::lvm::scan(devs).unwrap()[0], "stripes", None).unwrap());
        lvm2_on(&whole(b), &[&["lvextend", "--driverloaded", "n", "-l", "+100%FREE", "vgstripe/stripes"]]);
        let report = vg_report(a, "vgstripe");
        assert_eq!(report, vg_report(b, "vgstripe"));
        (r.extents, report)
    };
    let (extents, report) = extend(&a, &b);
    assert_eq!(extents, (16, 38), "{report}");
    for img in a.iter().chain(&b) {
        grow(img, "48M");
    }
    ours(&a, |devs| devs.iter().for_each(|(n, _)| drop(vguestfs::lvm::pvresize_in(devs, n).unwrap())));
    lvm2_on(&whole(&b), &[&["pvresize", "DEV0", "DEV1"]]);
    let (extents, report) = extend(&a, &b);
    assert_eq!(extents, (38, 70), "{report}");
    assert_eq!(report.matches("stripes").count(), 2, "two segments: {report}");
}

#[test]
fn lvextend_striped_refusals_match_lvm2() {
    let d = tempfile::tempdir().unwrap();
    let _l = loop_lock();
    let (a, b) = (copies(d.path(), MULTI, "ours"), copies(d.path(), MULTI, "lvm2"));
    let refused = |add: Option<u64>, arg: &str| {
        let ours = ours(&a, |devs| vguestfs::lvm::lvextend(devs, &vguestfs::lvm::scan(devs).unwrap()[0], "wide", add).unwrap_err().to_string());
        let (ok, out, err) = Lvm2::on(&whole(&b)).run(&["lvextend", "--driverloaded", "n", "-l", arg, "vgmulti/wide"]);
        assert!(!ok, "{out}");
        let theirs = err.to_lowercase();
        let tail = ours.split_once("lvextend: ").unwrap().1.to_string();
        assert!(theirs.contains(&tail), "ours: {ours}\nlvm2: {theirs}");
        tail
    };
    assert_eq!(refused(Some(1000), "+1000"), "insufficient free space: 1000 extents needed, but only 53 available");
    assert_eq!(refused(Some(51), "+51"), "insufficient suitable allocatable extents for logical volume wide: 14 more required");
    // once wide has all it can get, the rest is on pv2 alone: no room for two stripes, and
    // lvm2 leaves the LV (and seqno) as it is
    ours(&a, |devs| vguestfs::lvm::lvextend(devs, &vguestfs::lvm::scan(devs).unwrap()[0], "wide", None).unwrap());
    lvm2_on(&whole(&b), &[&["lvextend", "--driverloaded", "n", "-l", "+100%FREE", "vgmulti/wide"]]);
    let r = ours(&a, |devs| vguestfs::lvm::lvextend(devs, &vguestfs::lvm::scan(devs).unwrap()[0], "wide", None).unwrap());
    lvm2_on(&whole(&b), &[&["lvextend", "--driverloaded", "n", "-l", "+100%FREE", "vgmulti/wide"]]);
    assert_eq!(r.extents, (46, 46));
    let report = vg_report(&a, "vgmulti");
    assert_eq!(report, vg_report(&b, "vgmulti"));
    assert!(report.contains("69   15   3"), "{report}");
}

/// A disk whose partitions 1 and 2 hold the two PVs of vgstripe (sfdisk's table, the fixtures'
/// bytes), grown by 16 MiB: `vgrowpart DISK 2` grows partition 2 and its PV, writing the new
/// metadata on both PVs, as growpart + lvm2's pvresize do on a twin (same pvs/lvs/vgs, vgck).
#[test]
fn vgrowpart_resizes_a_pv_whose_vg_spans_two_partitions() {
    let d = tempfile::tempdir().unwrap();
    let _l = loop_lock();
    let mib = 1u64 << 20;
    let disk = |name: &str| {
        let p = d.path().join(name);
        run("truncate", &["-s", &(65 * mib).to_string(), p.to_str().unwrap()]);
        let table = "label: dos\nstart=2048, size=65536, type=8e\nstart=67584, size=65536, type=8e\n";
        let mut c = Command::new("sfdisk").args(["-q", p.to_str().unwrap()]).stdin(std::process::Stdio::piped()).spawn().unwrap();
        std::io::Write::write_all(c.stdin.as_mut().unwrap(), table.as_bytes()).unwrap();
        assert!(c.wait().unwrap().success());
        for (f, seek) in [("lvm-striped-a.raw", 1), ("lvm-striped-b.raw", 33)] {
            run("dd", &[&format!("if={}", fixture(f).display()), &format!("of={}", p.display()), "bs=1M", &format!("seek={seek}"), "conv=notrunc", "status=none"]);
        }
        run("truncate", &["-s", &(81 * mib).to_string(), p.to_str().unwrap()]);
        p
    };
    let (ours, theirs) = (disk("ours.raw"), disk("theirs.raw"));
    let o = Command::new(env!("CARGO_BIN_EXE_vgrowpart")).args([ours.to_str().unwrap(), "2"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    run("growpart", &[theirs.to_str().unwrap(), "2"]);
    let size2 = |img: &Path| -> u64 {
        let dump = run("sfdisk", &["-d", img.to_str().unwrap()]);
        let line = dump.lines().find(|l| l.contains("start=       67584")).unwrap().to_string();
        line.split("size=").nth(1).unwrap().split(',').next().unwrap().trim().parse::<u64>().unwrap() * 512
    };
    assert_eq!(size2(&ours), size2(&theirs));
    let ranges = |img: &Path| vec![(img.to_path_buf(), 2048 * 512, 65536 * 512), (img.to_path_buf(), 67584 * 512, size2(img))];
    let report: &[&[&str]] = &[
        &["pvs", "--noheadings", "--units", "s", "-o", "pv_name,pv_size,dev_size,pv_pe_count,pv_free"],
        &["lvs", "--noheadings", "--units", "s", "-o", "lv_name,lv_size,seg_pe_ranges", "vgstripe"],
        &["vgs", "--noheadings", "-o", "vg_extent_count,vg_free_count,vg_seqno", "vgstripe"],
        &["vgck", "vgstripe"],
    ];
    let on = |img: &Path, before: &[&[&str]]| {
        let r = ranges(img);
        let parts: Vec<(&Path, u64, u64)> = r.iter().map(|(p, o, s)| (p.as_path(), *o, *s)).collect();
        lvm2_on(&parts, if before.is_empty() { report } else { before })
    };
    on(&theirs, &[&["pvresize", "DEV1"]]);
    let ours_report = on(&ours, &[]);
    assert_eq!(ours_report, on(&theirs, &[]));
    assert!(ours_report.contains("DEV1 94208S  98271S  46 53248S"), "{ours_report}");
}
