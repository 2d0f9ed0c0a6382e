//! Fuzzes the LVM2 metadata text parser and the VG builder with arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(vg) = vguestfs::lvm::vg::parse_vg("fuzz", data) {
        let _ = (vg.size(), vg.free());
        for lv in &vg.lvs {
            let _ = lv.size(&vg);
            let _ = vg.open_lv(&lv.name, &[]);
        }
    }
});
