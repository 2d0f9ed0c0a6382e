//! Fuzzes the boot loader readers that choose a guest's default kernel
//! (guest/inspect/kernel.rs): grub.cfg menuentries and the version order of kernels and BLS
//! entries. Nothing may panic; every entry found boots a kernel; the order is antisymmetric.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vguestfs::guest::inspect::kernel::{grub_entries, vercmp};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for e in grub_entries(&text) {
        assert!(e.linux.is_some());
    }
    let (a, b) = text.split_once('\n').unwrap_or((&text, ""));
    assert_eq!(vercmp(a, b), vercmp(b, a).reverse());
});
