//! LVM read side against lvm2: our VGs/PVs/LVs equal `pvs`/`vgs`/`lvs` on loop devices of the
//! same fixture images, LV bytes equal the PV bytes at the extents lvm2 reports, and damaged
//! labels/metadata give clear errors (never panics).

mod common;

use common::{fixture, lvm_report, run, Loop};
use serde_json::Value as J;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vguestfs::disk::{BlockDev, Dev, MemDev, RawFile, Slice};
use vguestfs::lvm::{self, lvm_crc, scan, SegmentKind, VolumeGroup, INITIAL_CRC};

fn num(v: &J) -> u64 {
    v.as_str().unwrap().trim().parse().unwrap()
}

/// A disk image given to the scanner, and the loop device lvm2 sees for the same PV.
struct Pv {
    name: String,
    dev: Dev,
    image: PathBuf,
    offset: u64,
    size: u64,
}

fn open(image: &Path) -> Dev {
    Arc::new(RawFile::open(image, false).unwrap())
}

/// Partitions of an MBR image as (start, size) in bytes, from `sfdisk -J`.
fn partitions(image: &Path) -> Vec<(u64, u64)> {
    let j: J = serde_json::from_str(&run("sfdisk", &["-J", image.to_str().unwrap()])).unwrap();
    j["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["start"].as_u64().unwrap() * 512, p["size"].as_u64().unwrap() * 512))
        .collect()
}

/// The MBR fixture as /dev/sda, /dev/sda1, /dev/sda2 (the PV).
fn mbr_devices() -> (Vec<(String, Dev)>, Vec<Pv>) {
    let image = fixture("mbr-lvm.raw");
    let disk = open(&image);
    let mut devs = vec![("/dev/sda".to_string(), disk.clone())];
    let mut pvs = Vec::new();
    for (i, (off, size)) in partitions(&image).into_iter().enumerate() {
        let name = format!("/dev/sda{}", i + 1);
        let dev: Dev = Arc::new(Slice::new(disk.clone(), off, size, name.clone()).unwrap());
        devs.push((name.clone(), dev.clone()));
        if i == 1 {
            pvs.push(Pv { name, dev, image: image.clone(), offset: off, size });
        }
    }
    (devs, pvs)
}

fn striped_devices() -> (Vec<(String, Dev)>, Vec<Pv>) {
    let mut devs = Vec::new();
    let mut pvs = Vec::new();
    for (name, file) in [("/dev/sda", "lvm-striped-a.raw"), ("/dev/sdb", "lvm-striped-b.raw")] {
        let image = fixture(file);
        let dev = open(&image);
        devs.push((name.to_string(), dev.clone()));
        pvs.push(Pv { name: name.into(), size: dev.len(), dev, image, offset: 0 });
    }
    (devs, pvs)
}

fn read_all(dev: &dyn BlockDev) -> Vec<u8> {
    let mut buf = vec![0u8; dev.len() as usize];
    dev.read_at(&mut buf, 0).unwrap();
    buf
}

/// Compares everything lvm2 reports about the PVs with what `scan` found.
fn compare_with_lvm2(devs: &[(String, Dev)], pvs: &[Pv]) -> Vec<VolumeGroup> {
    let _guard = common::loop_lock();
    let vgs = scan(devs).unwrap();
    let loops: Vec<Loop> = pvs.iter().map(|p| Loop::attach(&p.image, p.offset, p.size)).collect();
    let refs: Vec<&Loop> = loops.iter().collect();
    // loop device name -> our device name
    let ours = |l: &str| pvs[loops.iter().position(|x| x.0 == l).unwrap()].name.clone();

    let rvgs = lvm_report("vgs", "vg", "vg_name,vg_uuid,vg_seqno,vg_extent_size,vg_size,vg_free,pv_count,lv_count", &refs);
    assert_eq!(rvgs.len(), vgs.len());
    for r in &rvgs {
        let vg = vgs.iter().find(|v| v.name == r["vg_name"].as_str().unwrap()).unwrap();
        assert_eq!(vg.uuid, r["vg_uuid"].as_str().unwrap());
        assert_eq!(vg.seqno, num(&r["vg_seqno"]));
        assert_eq!(vg.extent_size, num(&r["vg_extent_size"]));
        assert_eq!(vg.size(), num(&r["vg_size"]));
        assert_eq!(vg.free(), num(&r["vg_free"]));
        assert_eq!(vg.pvs.len() as u64, num(&r["pv_count"]));
        let visible = vg.lvs.iter().filter(|l| l.status.iter().any(|s| s == "VISIBLE")).count();
        assert_eq!(visible as u64, num(&r["lv_count"]));
        assert!(vg.warnings.is_empty(), "{:?}", vg.warnings);
    }

    let rpvs = lvm_report("pvs", "pv", "pv_name,vg_name,pv_uuid,dev_size,pe_start,pv_pe_count", &refs);
    assert_eq!(rpvs.len(), pvs.len());
    for r in &rpvs {
        let vg = vgs.iter().find(|v| v.name == r["vg_name"].as_str().unwrap()).unwrap();
        let pv = vg.pvs.iter().find(|p| p.uuid == r["pv_uuid"].as_str().unwrap()).unwrap();
        assert_eq!(pv.device, ours(r["pv_name"].as_str().unwrap()));
        assert_eq!(pv.dev_size, num(&r["dev_size"]));
        assert_eq!(pv.pe_start, num(&r["pe_start"]));
        assert_eq!(pv.pe_count, num(&r["pv_pe_count"]));
        let label = lvm::read_label(devs.iter().find(|(n, _)| *n == pv.device).unwrap().1.as_ref()).unwrap().unwrap();
        assert_eq!(label.uuid, pv.uuid);
    }

    let fields = "vg_name,lv_name,lv_uuid,lv_size,seg_start,seg_size,segtype,stripes,stripe_size,seg_pe_ranges";
    let rsegs = lvm_report("lvs", "lv", fields, &refs);
    let nsegs: usize = vgs.iter().flat_map(|v| &v.lvs).map(|l| l.segments.len()).sum();
    assert_eq!(rsegs.len(), nsegs);
    for r in &rsegs {
        let vg = vgs.iter().find(|v| v.name == r["vg_name"].as_str().unwrap()).unwrap();
        // hidden LVs are listed as [name]
        let name = r["lv_name"].as_str().unwrap().trim_start_matches('[').trim_end_matches(']');
        let lv = vg.lvs.iter().find(|l| l.name == name).unwrap();
        assert_eq!(lv.uuid, r["lv_uuid"].as_str().unwrap());
        assert_eq!(lv.size(vg), num(&r["lv_size"]));
        let start = num(&r["seg_start"]);
        let seg = lv.segments.iter().find(|s| s.start_extent * vg.extent_size == start).unwrap();
        assert_eq!(seg.extent_count * vg.extent_size, num(&r["seg_size"]));
        let segtype = r["segtype"].as_str().unwrap();
        let (stripe_size, stripes) = match &seg.kind {
            SegmentKind::Striped { stripe_size, stripes } => (stripe_size, stripes),
            SegmentKind::Unsupported { seg_type } => {
                assert_eq!(seg_type, segtype);
                let e = vg.open_lv(&lv.name, devs).err().unwrap().to_string();
                assert!(e.starts_with(&format!("unsupported LV type {segtype} (/dev/{}/{})", vg.name, lv.name)), "{e}");
                continue;
            }
        };
        assert_eq!(segtype, if stripes.len() == 1 { "linear" } else { "striped" });
        assert_eq!(stripes.len() as u64, num(&r["stripes"]));
        assert_eq!(*stripe_size, num(&r["stripe_size"]));
        let per = seg.extent_count / stripes.len() as u64;
        let ranges: Vec<String> = stripes
            .iter()
            .map(|(pv, pe)| format!("{}:{}-{}", vg.pvs.iter().find(|p| &p.name == pv).unwrap().device, pe, pe + per - 1))
            .collect();
        // lvm2's ranges, device names translated to ours
        let theirs: Vec<String> = r["seg_pe_ranges"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .map(|x| {
                let (d, rng) = x.rsplit_once(':').unwrap();
                format!("{}:{rng}", ours(d))
            })
            .collect();
        assert_eq!(ranges, theirs);

        // the LV's bytes for this segment equal the PV bytes at lvm2's ranges (+ pe_start)
        let lvdev = vg.open_lv(&lv.name, devs).unwrap();
        assert_eq!(lvdev.len(), lv.size(vg));
        let seg_len = num(&r["seg_size"]) as usize;
        let mut got = vec![0u8; seg_len];
        lvdev.read_at(&mut got, start).unwrap();
        let mut expect = Vec::with_capacity(seg_len);
        let chunk = if *stripe_size == 0 { per * vg.extent_size } else { *stripe_size } as usize;
        let areas: Vec<Vec<u8>> = r["seg_pe_ranges"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .map(|x| {
                let (d, rng) = x.rsplit_once(':').unwrap();
                let first: u64 = rng.split('-').next().unwrap().parse().unwrap();
                let rpv = rpvs.iter().find(|p| p["pv_name"].as_str().unwrap() == d).unwrap();
                let pv = &pvs[loops.iter().position(|l| l.0 == d).unwrap()];
                let at = pv.offset + num(&rpv["pe_start"]) + first * vg.extent_size;
                let bytes = std::fs::read(&pv.image).unwrap();
                bytes[at as usize..(at + per * vg.extent_size) as usize].to_vec()
            })
            .collect();
        for row in 0..(per * vg.extent_size) as usize / chunk {
            for a in &areas {
                expect.extend_from_slice(&a[row * chunk..(row + 1) * chunk]);
            }
        }
        assert!(got == expect, "{}/{} segment at {start}: bytes differ from lvm2's extents", vg.name, lv.name);
    }
    vgs
}

fn blkid_of(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("lv.img");
    std::fs::write(&f, bytes).unwrap();
    run("blkid", &["-p", "-o", "export", f.to_str().unwrap()])
}

#[test]
fn mbr_lvm_matches_lvm2() {
    let (devs, pvs) = mbr_devices();
    let vgs = compare_with_lvm2(&devs, &pvs);
    assert_eq!(vgs.len(), 1);
    let vg = &vgs[0];
    assert_eq!(vg.name, "vg0");
    let root = &vg.lvs.iter().find(|l| l.name == "root").unwrap();
    assert_eq!(root.segments.len(), 2, "root has two non-contiguous segments");
    let rootdev = vg.open_lv("root", &devs).unwrap();
    assert_eq!(rootdev.name(), "/dev/vg0/root");
    let id = blkid_of(&read_all(rootdev.as_ref()));
    assert!(id.contains("TYPE=ext4") && id.contains("LABEL=root"), "{id}");
    let id = blkid_of(&read_all(vg.open_lv("swap", &devs).unwrap().as_ref()));
    assert!(id.contains("TYPE=swap") && id.contains("LABEL=swap"), "{id}");
}

#[test]
fn striped_two_disks_match_lvm2() {
    let (devs, pvs) = striped_devices();
    let vgs = compare_with_lvm2(&devs, &pvs);
    assert_eq!(vgs.len(), 1);
    assert_eq!(vgs[0].name, "vgstripe");
    let st = vgs[0].lvs.iter().find(|l| l.name == "stripes").unwrap();
    assert!(matches!(&st.segments[0].kind, SegmentKind::Striped { stripes, .. } if stripes.len() == 2));
    // one disk alone: the VG is listed with a warning; LVs needing the other disk refuse to open
    let alone = scan(&devs[..1]).unwrap();
    assert!(alone[0].warnings.iter().any(|w| w.contains("is missing")), "{:?}", alone[0].warnings);
    match alone[0].open_lv("span", &devs[..1]) {
        Err(e) => assert!(e.to_string().contains("/dev/vgstripe/span: physical volume pv1"), "{e}"),
        Ok(_) => panic!("span opened without its second disk"),
    }
}

#[test]
fn thin_pool_and_thin_lvs_are_listed_but_refused() {
    let image = fixture("lvm-thin.raw");
    let dev = open(&image);
    let devs = vec![("/dev/sda".to_string(), dev.clone())];
    let pvs = [Pv { name: "/dev/sda".into(), size: dev.len(), dev, image, offset: 0 }];
    let vgs = compare_with_lvm2(&devs, &pvs);
    let vg = &vgs[0];
    let kinds: Vec<(&str, bool)> = vg
        .lvs
        .iter()
        .map(|l| (l.name.as_str(), matches!(l.segments[0].kind, SegmentKind::Unsupported { .. })))
        .collect();
    assert!(kinds.contains(&("thin", true)) && kinds.contains(&("pool", true)) && kinds.contains(&("plain", false)), "{kinds:?}");
    let e = vg.open_lv("thin", &devs).err().unwrap().to_string();
    assert_eq!(e, "unsupported LV type thin (/dev/vgthin/thin); only linear and striped LVs can be opened");
}

#[test]
fn metadata_wrapped_around_the_ring_matches_lvm2() {
    let image = fixture("lvm-wrap.raw");
    let dev = open(&image);
    // the fixture's committed text really wraps past the end of the metadata area
    let label = lvm::read_label(dev.as_ref()).unwrap().unwrap();
    let mda = label.metadata_areas[0];
    let mut h = [0u8; 64];
    dev.read_at(&mut h, mda.offset).unwrap();
    let field = |at: usize| u64::from_le_bytes(h[at..at + 8].try_into().unwrap());
    assert!(field(40) + field(48) > mda.size, "fixture text does not wrap: {} + {} <= {}", field(40), field(48), mda.size);
    let devs = vec![("/dev/sda".to_string(), dev.clone())];
    let pvs = [Pv { name: "/dev/sda".into(), size: dev.len(), dev, image, offset: 0 }];
    let vgs = compare_with_lvm2(&devs, &pvs);
    assert_eq!(vgs[0].name, "vgwrap");
    assert!(vgs[0].seqno > 3, "seqno {}", vgs[0].seqno);
}

// ---------------------------------------------------------------- hostile input

/// The PV area of the MBR fixture up to pe_start (label + metadata area), and where the
/// metadata text is: (mda start, text offset in area, text size).
fn pv_head() -> (Vec<u8>, u64, u64, u64) {
    let (_, pvs) = mbr_devices();
    let pv = &pvs[0];
    let label = lvm::read_label(pv.dev.as_ref()).unwrap().unwrap();
    let end = label.data_areas[0].offset as usize;
    let mut head = vec![0u8; end];
    pv.dev.read_at(&mut head, 0).unwrap();
    let mda = label.metadata_areas[0].offset;
    let h = &head[mda as usize..];
    let off = u64::from_le_bytes(h[40..48].try_into().unwrap());
    let size = u64::from_le_bytes(h[48..56].try_into().unwrap());
    (head, mda, off, size)
}

/// Recomputes the metadata area header CRC.
fn fix_mda_crc(img: &mut [u8], mda: u64) {
    let m = mda as usize;
    let crc = lvm_crc(INITIAL_CRC, &img[m + 4..m + 512]);
    img[m..m + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Puts `text` in place of the metadata text, with correct size and CRCs.
fn with_text(head: &[u8], mda: u64, off: u64, text: &[u8]) -> Vec<u8> {
    let mut img = head.to_vec();
    let (m, o) = (mda as usize, off as usize);
    img[m + o..m + o + text.len()].copy_from_slice(text);
    img[m + 48..m + 56].copy_from_slice(&(text.len() as u64).to_le_bytes());
    img[m + 56..m + 60].copy_from_slice(&lvm_crc(INITIAL_CRC, text).to_le_bytes());
    fix_mda_crc(&mut img, mda);
    img
}

fn scan_err(img: Vec<u8>) -> String {
    match scan(&[("/dev/sda2".to_string(), Arc::new(MemDev::new(img)) as Dev)]) {
        Ok(v) => panic!("scan accepted damaged PV: {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn damaged_pv_gives_clear_errors() {
    let (head, mda, off, size) = pv_head();
    let text = head[(mda + off) as usize..(mda + off + size) as usize].to_vec();
    let text_str = String::from_utf8_lossy(&text).into_owned();
    assert!(scan(&[("/dev/sda2".to_string(), Arc::new(MemDev::new(head.clone())) as Dev)]).is_ok());

    let e = scan_err(with_text(&head, mda, off, b"vg0 { id = [ \"x\" \n garbage } } }"));
    assert!(e.starts_with("/dev/sda2: LVM metadata text: line 2:"), "{e}");

    let mut img = head.clone();
    img[(mda + 48) as usize..(mda + 56) as usize].copy_from_slice(&(64u64 << 20).to_le_bytes());
    fix_mda_crc(&mut img, mda);
    let e = scan_err(img);
    assert!(e.starts_with(&format!("/dev/sda2: LVM metadata area at offset {mda}: metadata text size")), "{e}");

    let mut img = head.clone();
    img[(mda + 40) as usize] ^= 0x10;
    let e = scan_err(img);
    assert!(e.contains(&format!("LVM metadata area at offset {mda}: header CRC mismatch")), "{e}");

    let mut img = head.clone();
    img[(mda + off) as usize] ^= 0x20;
    assert!(scan_err(img).contains("metadata text CRC mismatch"));

    let mut img = head.clone();
    img[512 + 40] ^= 1;
    let e = scan_err(img);
    assert!(e.starts_with("/dev/sda2: LVM label in sector 1: CRC mismatch"), "{e}");

    let e = scan_err(with_text(&head, mda, off, "x {".repeat(10_000).as_bytes()));
    assert!(e.contains("nested deeper than"), "{e}");

    let past = text_str.replacen("\"pv0\", 20", "\"pv0\", 40", 1);
    assert_ne!(past, text_str);
    let e = scan_err(with_text(&head, mda, off, past.as_bytes()));
    assert!(e.contains("LV vg0/root segment2: extents 40..40+20 on pv0 go past its pe_count 46"), "{e}");
}

/// xorshift64: a fixed sequence, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mutated_labels_and_metadata_never_panic() {
    let (head, mda, off, size) = pv_head();
    let text = head[(mda + off) as usize..(mda + off + size) as usize].to_vec();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut errs) = (0, 0);
    for i in 0..1500 {
        let mut img = if i % 3 == 0 {
            // label sector: mutate, then fix its CRC so the decoder sees the change
            let mut img = head.clone();
            for _ in 0..1 + rng.below(4) {
                let p = 512 + 20 + rng.below(492);
                img[p] = rng.next() as u8;
            }
            let crc = lvm_crc(INITIAL_CRC, &img[512 + 20..1024]);
            img[512 + 16..512 + 20].copy_from_slice(&crc.to_le_bytes());
            img
        } else {
            // metadata text: byte flips, deletions, duplicated slices; CRCs fixed
            let mut t = text.clone();
            for _ in 0..1 + rng.below(3) {
                let p = rng.below(t.len());
                match rng.below(3) {
                    0 => {
                        const BYTES: &[u8] = b"{}[]=\",#0123456789-\\ \nabc";
                        t[p] = BYTES[rng.below(BYTES.len())];
                    }
                    1 => {
                        t.remove(p);
                    }
                    _ => {
                        let q = (p + rng.below(64)).min(t.len());
                        let dup = t[p..q].to_vec();
                        t.splice(p..p, dup);
                    }
                }
            }
            with_text(&head, mda, off, &t)
        };
        if i % 7 == 0 {
            img.truncate(rng.below(img.len()));
        }
        let devs = [("/dev/sda2".to_string(), Arc::new(MemDev::new(img)) as Dev)];
        match scan(&devs) {
            Ok(vgs) => {
                ok += 1;
                for vg in &vgs {
                    for lv in &vg.lvs {
                        if let Ok(d) = vg.open_lv(&lv.name, &devs) {
                            let mut b = [0u8; 512];
                            let _ = d.read_at(&mut b, d.len().saturating_sub(512));
                        }
                    }
                }
            }
            Err(e) => {
                errs += 1;
                assert!(e.to_string().starts_with("/dev/sda2: "), "{e}");
            }
        }
    }
    assert!(ok > 0 && errs > 0, "mutations should both pass and fail: ok {ok}, errors {errs}");
}
