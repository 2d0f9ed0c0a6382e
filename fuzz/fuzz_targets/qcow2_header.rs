#![no_main]
//! Fuzzes our qcow2 header parser (and the feature gate) on the fuzzer's bytes as the start of
//! an image file, with file lengths equal to, smaller than and far larger than the data.

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use vguestfs::disk::qcow2;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.qcow2");
    for len in [data.len() as u64, u64::MAX, data.len() as u64 / 2] {
        if let Ok(info) = qcow2::parse_header(data, len, path) {
            let _ = info.check_supported(path);
        }
    }
});
