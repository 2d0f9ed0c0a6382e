//! Fuzzes the PV label reader and the whole LVM scan: the fuzzer's bytes are a disk holding a PV.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use vguestfs::disk::{Dev, MemDev};

fuzz_target!(|data: &[u8]| {
    let dev: Dev = Arc::new(MemDev::new(data.to_vec()));
    let _ = vguestfs::lvm::read_label(dev.as_ref());
    let devs = [("/dev/sda".to_string(), dev)];
    if let Ok(vgs) = vguestfs::lvm::scan(&devs) {
        for vg in &vgs {
            for lv in &vg.lvs {
                if let Ok(d) = vg.open_lv(&lv.name, &devs) {
                    let mut buf = [0u8; 512];
                    let _ = d.read_at(&mut buf, d.len().saturating_sub(512));
                }
            }
        }
    }
});
