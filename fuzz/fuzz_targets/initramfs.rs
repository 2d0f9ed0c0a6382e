//! Fuzzes the initramfs reader: concatenated cpio newc archives, uncompressed or gzip/zstd/xz
//! compressed (guest/inspect/initramfs.rs and cpio.rs). Nothing may panic; the same bytes fed
//! to the cpio parser in two pieces list the same entries as in one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vguestfs::guest::inspect::{cpio, initramfs};

fuzz_target!(|data: &[u8]| {
    let _ = initramfs::list(data);
    let mut whole = cpio::Reader::new(1 << 16, 1 << 24);
    let a = whole.feed(data);
    let mut split = cpio::Reader::new(1 << 16, 1 << 24);
    let half = data.len() / 2;
    let b = split.feed(&data[..half]).and_then(|n| if n < half { Ok(n) } else { split.feed(&data[half..]).map(|m| n + m) });
    assert_eq!(a, b);
    if a.is_ok() {
        assert_eq!(whole.finish(), split.finish());
    }
});
