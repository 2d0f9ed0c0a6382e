//! Fuzzes the rpm header blob parser: index and data store checks, then every entry read as a
//! string and a number, and the application libguestfs would make of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vguestfs::guest::inspect::rpmdb::header::Header;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = Header::parse(data) {
        let a = h.application();
        assert!(a.name.len() + a.description.len() <= data.len() * 3 + 12);
        for e in h.entries().iter().take(256) {
            let _ = (h.format(e.tag), h.number(e.tag), h.string_bytes(e.tag));
        }
    }
});
