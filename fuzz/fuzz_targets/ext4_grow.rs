//! Fuzzes the offline ext2/3/4 grow: the bytes are a filesystem image, the device is that
//! image followed by zeros (up to 4 MiB more, chosen by the last byte), grown to fill the
//! device under each level of checks (the two lenient ones replay a journal needing recovery
//! first). A grow that succeeds must leave a filesystem the grow reads again and finds nothing
//! to do on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use vguestfs::disk::{Dev, MemDev};
use vguestfs::fs::ext4::grow::{grow, Checks};

fuzz_target!(|data: &[u8]| {
    let extra = (usize::from(data.last().copied().unwrap_or(0)) + 1) * 16 * 1024;
    for checks in [Checks::Strict, Checks::Repairs, Checks::Force] {
        let mut img = data.to_vec();
        img.resize(data.len() + extra, 0);
        let dev: Dev = Arc::new(MemDev::new(img));
        if let Ok(r) = grow(&dev, None, checks) {
            if r.changed() {
                let again = grow(&dev, None, Checks::Force).expect("a grown filesystem reads back");
                assert!(!again.changed(), "second grow changed it again: {r:?} then {again:?}");
            }
        }
    }
});
