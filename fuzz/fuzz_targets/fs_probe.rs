//! Fuzzes filesystem probing: the input bytes are a whole device; probing must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vguestfs::disk::MemDev;

fuzz_target!(|data: &[u8]| {
    let dev = MemDev::new(data.to_vec());
    if let Ok(Some(info)) = vguestfs::fs::probe(&dev) {
        assert!(!info.fs_type.is_empty());
    }
});
