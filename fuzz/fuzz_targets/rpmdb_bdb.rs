//! Fuzzes the Berkeley DB hash reader of rpm's `Packages` file with a whole file: the bucket
//! walk, overflow chains and header parsing as inspection runs them (`rpmdb::read`). Nothing
//! may panic, loop or allocate past the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vguestfs::guest::inspect::rpmdb::{self, bdb, Backend};

fuzz_target!(|data: &[u8]| {
    let (apps, warnings) = rpmdb::read(data, Backend::Bdb, "fuzz");
    assert!(warnings.len() <= rpmdb::MAX_WARNINGS + 1);
    assert!(apps.len() <= rpmdb::MAX_PACKAGES);
    if let Ok(db) = bdb::Database::open(data) {
        let _ = db.scan(&mut |r| {
            if let Ok((k, v)) = r {
                assert!(k.len() + v.len() <= data.len());
            }
        });
    }
});
