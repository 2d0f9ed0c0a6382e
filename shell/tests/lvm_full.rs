//! `pvs-full`, `vgs-full`, `lvs-full` against lvm2: for every LVM fixture, lvm2's `pvs`,
//! `vgs`, `lvs` (no `-a`, as libguestfs runs them) on read-only loop devices of the same PVs,
//! turned into guestfish's struct-list text (uuids without dashes, loop devices renamed to the
//! guest's names, empty percentages), must equal vfish's output exactly.

mod common;
use common::*;
use serde_json::Value as J;

const PV: &str = "pv_name,pv_uuid,pv_fmt,pv_size,dev_size,pv_free,pv_used,pv_attr,pv_pe_count,pv_pe_alloc_count,pv_tags,pe_start,pv_mda_count,pv_mda_free";
const VG: &str = "vg_name,vg_uuid,vg_fmt,vg_attr,vg_size,vg_free,vg_sysid,vg_extent_size,vg_extent_count,vg_free_count,max_lv,max_pv,pv_count,lv_count,snap_count,vg_seqno,vg_tags,vg_mda_count,vg_mda_free";
const LV: &str = "lv_name,lv_uuid,lv_attr,lv_major,lv_minor,lv_kernel_major,lv_kernel_minor,lv_size,seg_count,origin,snap_percent,copy_percent,move_pv,lv_tags,mirror_log,modules";

/// A PV of a fixture: the guest's name for it and where its bytes are.
struct Pv {
    name: &'static str,
    image: String,
    offset: u64,
    size: u64,
}

fn whole(name: &'static str, image: String) -> Pv {
    let size = std::fs::metadata(&image).expect("image").len();
    Pv { name, image, offset: 0, size }
}

fn partition(name: &'static str, image: String, n: usize) -> Pv {
    let (offset, size) = partitions(&image)[n - 1];
    Pv { name, image, offset, size }
}

/// guestfish's struct-list text for lvm2's rows: fields in `cols` order, dashes dropped from
/// uuids, loop device names replaced by ours, rows sorted by `key` as vfish sorts them.
fn expected(rows: &[J], cols: &str, key: &str, rename: &dyn Fn(&str) -> String) -> String {
    let mut rows: Vec<Vec<(String, String)>> = rows
        .iter()
        .map(|r| {
            cols.split(',')
                .map(|c| {
                    // lvm2's JSON names `modules` by its full name `lv_modules`
                    let cell = if c == "modules" { &r["lv_modules"] } else { &r[c] };
                    let v = cell.as_str().unwrap_or_else(|| panic!("{c} in {r}")).to_string();
                    let v = match c {
                        "pv_uuid" | "vg_uuid" | "lv_uuid" => v.replace('-', ""),
                        "pv_name" => rename(&v),
                        _ => v,
                    };
                    (c.to_string(), v)
                })
                .collect()
        })
        .collect();
    rows.sort_by_key(|r| r.iter().find(|(c, _)| c == key).map(|(_, v)| v.clone()));
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        out += &format!("[{i}] = {{\n");
        for (c, v) in r {
            out += &format!("  {c}: {v}\n");
        }
        out += "}\n";
    }
    out
}

/// Checks the three commands on the guest made of `disks` whose PVs are `pvs`; returns
/// vfish's `lvs-full` output.
fn check(disks: &[&str], pvs: &[Pv]) -> String {
    let mut args = Vec::new();
    for d in disks {
        args.extend(["-a", d]);
    }
    args.extend(["run", ":", "pvs-full", ":", "echo", "====", ":", "vgs-full", ":", "echo", "====", ":", "lvs-full"]);
    let got = ok(&args);
    let parts: Vec<&str> = got.split("====\n").collect();
    assert_eq!(parts.len(), 3, "{got}");

    let _lock = loop_lock();
    let loops: Vec<Loop> = pvs.iter().map(|p| Loop::attach(&p.image, p.offset, p.size)).collect();
    let refs: Vec<&Loop> = loops.iter().collect();
    let rename = |l: &str| -> String {
        match loops.iter().position(|x| x.0 == l) {
            Some(i) => pvs[i].name.to_string(),
            None => l.to_string(),
        }
    };
    let want_pvs = expected(&lvm_report("pvs", "pv", PV, &refs), PV, "pv_name", &rename);
    let want_vgs = expected(&lvm_report("vgs", "vg", VG, &refs), VG, "vg_name", &rename);
    let lvs = lvm_report("lvs", "lv", &format!("vg_name,{LV}"), &refs);
    // sorted by VG, then LV name, as lvm2 sorts; the vg_name column is not a struct field
    let mut lvs = lvs;
    lvs.sort_by_key(|r| (r["vg_name"].as_str().map(str::to_string), r["lv_name"].as_str().map(str::to_string)));
    let want_lvs = expected(&lvs, LV, "", &rename);
    assert_eq!(parts[0], want_pvs, "pvs-full of {disks:?}");
    assert_eq!(parts[1], want_vgs, "vgs-full of {disks:?}");
    assert_eq!(parts[2], want_lvs, "lvs-full of {disks:?}");
    assert!(!parts[0].is_empty() && !parts[1].is_empty());
    parts[2].to_string()
}

#[test]
fn mbr_lvm_matches_lvm2() {
    let img = fixture("mbr-lvm.raw");
    let lvs = check(&[&img], &[partition("/dev/sda2", img.clone(), 2)]);
    // the LVs are fully described by the fixture script (fixed uuids and extents)
    assert_eq!(
        lvs,
        "[0] = {\n  lv_name: root\n  lv_uuid: RootLv00000000000000000000000001\n  lv_attr: -wi-XX----\n  \
         lv_major: -1\n  lv_minor: -1\n  lv_kernel_major: -1\n  lv_kernel_minor: -1\n  lv_size: 31457280\n  \
         seg_count: 2\n  origin: \n  snap_percent: \n  copy_percent: \n  move_pv: \n  lv_tags: \n  mirror_log: \n  modules: \n}\n\
         [1] = {\n  lv_name: swap\n  lv_uuid: SwapLv00000000000000000000000002\n  lv_attr: -wi-XX----\n  \
         lv_major: -1\n  lv_minor: -1\n  lv_kernel_major: -1\n  lv_kernel_minor: -1\n  lv_size: 10485760\n  \
         seg_count: 1\n  origin: \n  snap_percent: \n  copy_percent: \n  move_pv: \n  lv_tags: \n  mirror_log: \n  modules: \n}\n"
    );
}

#[test]
fn centos7_matches_lvm2() {
    let img = fixture("guest-centos7.raw");
    check(&[&img], &[partition("/dev/sda2", img.clone(), 2)]);
}

#[test]
fn demo_matches_lvm2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = dir.path().join("demo.raw").to_string_lossy().into_owned();
    tool("qemu-img", &["convert", "-O", "raw", &demo(), &raw]);
    check(&[&demo()], &[partition("/dev/sda2", raw.clone(), 2)]);
}

#[test]
fn striped_two_disks_match_lvm2() {
    let (a, b) = (fixture("lvm-striped-a.raw"), fixture("lvm-striped-b.raw"));
    check(&[&a, &b], &[whole("/dev/sda", a.clone()), whole("/dev/sdb", b.clone())]);
}

#[test]
fn thin_pool_and_thin_lv_match_lvm2() {
    let img = fixture("lvm-thin.raw");
    let lvs = check(&[&img], &[whole("/dev/sda", img.clone())]);
    // lvm2's lvs without -a: the pool is listed, its hidden sub-LVs are not
    let names: Vec<&str> = lvs.lines().filter_map(|l| l.strip_prefix("  lv_name: ")).collect();
    assert_eq!(names, ["plain", "pool", "thin"]);
    assert!(lvs.contains("  lv_attr: Vwi-XXtz--\n") && lvs.contains("  modules: thin,thin-pool\n"), "{lvs}");
}

#[test]
fn wrapped_metadata_and_tags_match_lvm2() {
    let img = fixture("lvm-wrap.raw");
    check(&[&img], &[whole("/dev/sda", img.clone())]);
    let vgs = ok(&["-a", &img, "run", ":", "vgs-full"]);
    assert!(vgs.contains("  vg_tags: fixture_tag_number_1,fixture_tag_number_10,"), "{vgs}");
}

#[test]
fn without_lvm_the_lists_are_empty() {
    let img = fixture("whole-ext2.raw");
    assert_eq!(ok(&["-a", &img, "run", ":", "pvs-full", ":", "vgs-full", ":", "lvs-full"]), "");
    let o = vfish(&["-a", &img, "pvs-full"], None);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("pvs_full"), "{o:?}");
}
