//! Fuzzes the PV label reader and the whole LVM scan: the fuzzer's bytes are a disk holding a PV.
//! libFuzzer cannot forge CRCs, so when the input's last byte is even the target first makes the
//! label CRC, then each metadata area's text CRC and header CRC valid: the fuzzer then reaches
//! the metadata text parser, VG assembly and the LV maps. Odd last bytes keep the CRCs as given.
//! Then the metadata writes on a copy twice the size: pvresize and lvextend, whose output must
//! scan again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use vguestfs::disk::{Dev, MemDev};
use vguestfs::lvm::{lvm_crc, INITIAL_CRC};

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Fixes the CRCs of the label, and of the metadata areas it lists.
fn fix_crcs(img: &mut [u8]) {
    for s in 0..4.min(img.len() / 512) {
        let sec = &mut img[s * 512..(s + 1) * 512];
        if sec.starts_with(b"LABELONE") {
            let crc = lvm_crc(INITIAL_CRC, &sec[20..]);
            sec[16..20].copy_from_slice(&crc.to_le_bytes());
            break;
        }
    }
    let Ok(Some(label)) = vguestfs::lvm::read_label(&MemDev::new(img.to_vec())) else { return };
    for area in label.metadata_areas {
        let (start, size) = (area.offset, area.size);
        if size <= 512 || start.checked_add(size).is_none_or(|e| e > img.len() as u64) {
            continue;
        }
        let (start, size) = (start as usize, size as usize);
        let (off, len) = (le64(img, start + 40), le64(img, start + 48));
        if (512..size as u64).contains(&off) && len <= size as u64 - 512 {
            let (off, len) = (off as usize, len as usize);
            let first = len.min(size - off);
            let crc = lvm_crc(INITIAL_CRC, &img[start + off..start + off + first]);
            let crc = lvm_crc(crc, &img[start + 512..start + 512 + len - first]);
            img[start + 56..start + 60].copy_from_slice(&crc.to_le_bytes());
        }
        let crc = lvm_crc(INITIAL_CRC, &img[start + 4..start + 512]);
        img[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    }
}

fuzz_target!(|data: &[u8]| {
    let mut img = data.to_vec();
    if data.last().is_some_and(|b| b % 2 == 0) {
        fix_crcs(&mut img);
    }
    let dev: Dev = Arc::new(MemDev::new(img));
    let _ = vguestfs::lvm::read_label(dev.as_ref());
    let devs = [("/dev/sda".to_string(), dev)];
    if let Ok(vgs) = vguestfs::lvm::scan(&devs) {
        for vg in &vgs {
            for lv in &vg.lvs {
                if let Ok(d) = vg.open_lv(&lv.name, &devs) {
                    let mut buf = [0u8; 512];
                    let _ = d.read_at(&mut buf, d.len().saturating_sub(512));
                    let _ = d.read_at(&mut buf, 0);
                }
            }
        }
    }
    grow(data_fixed(&devs));
});

/// The (CRC-fixed) image bytes of the scanned device.
fn data_fixed(devs: &[(String, Dev); 1]) -> Vec<u8> {
    let d = &devs[0].1;
    let mut img = vec![0u8; d.len() as usize];
    let _ = d.read_at(&mut img, 0);
    img
}

/// pvresize on a copy twice the size, then lvextend of each LV into the free extents; metadata
/// we wrote must scan again, with the LV grown.
fn grow(mut img: Vec<u8>) {
    let len = img.len();
    img.resize(len * 2, 0);
    let dev: Dev = Arc::new(MemDev::new(img));
    if vguestfs::lvm::pvresize(dev.as_ref(), "/dev/sda").is_err() {
        return;
    }
    let devs = [("/dev/sda".to_string(), dev)];
    let Ok(vgs) = vguestfs::lvm::scan(&devs) else { panic!("metadata written by pvresize does not scan") };
    for vg in vgs.iter().take(1) {
        for lv in vg.lvs.iter().take(4) {
            if let Ok(r) = vguestfs::lvm::lvextend(&devs, vg, &lv.name, None) {
                let again = vguestfs::lvm::scan(&devs).expect("metadata written by lvextend scans");
                let l = again.iter().flat_map(|v| &v.lvs).find(|l| l.name == lv.name).expect("the LV is still there");
                assert_eq!(l.segments.iter().map(|s| s.extent_count).sum::<u64>(), r.extents.1);
                return;
            }
        }
    }
}
