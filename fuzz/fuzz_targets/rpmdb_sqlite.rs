//! Fuzzes the SQLite reader of rpm databases with a whole `rpmdb.sqlite`: the `Packages` scan
//! and header parsing as inspection runs them (`rpmdb::read`), then a walk of every table the
//! schema names, decoding each record. Nothing may panic, loop or allocate past the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vguestfs::guest::inspect::rpmdb::{self, sqlite, Backend};

fuzz_target!(|data: &[u8]| {
    let (apps, warnings) = rpmdb::read(data, Backend::Sqlite, "fuzz");
    assert!(warnings.len() <= rpmdb::MAX_WARNINGS + 1);
    assert!(apps.len() <= rpmdb::MAX_PACKAGES);
    if let Ok(db) = sqlite::Database::open(data) {
        let mut roots = Vec::new();
        let _ = db.scan_table(1, &mut |r| {
            if let Ok((_, payload)) = r {
                if let Ok(v) = sqlite::record::parse(payload) {
                    if let Some(sqlite::Value::Integer(root)) = v.get(3) {
                        roots.push(*root);
                    }
                }
            }
        });
        for root in roots.into_iter().take(16).filter_map(|r| u32::try_from(r).ok()) {
            let _ = db.scan_table(root, &mut |r| {
                if let Ok((_, payload)) = r {
                    assert!(payload.len() <= data.len());
                    let _ = sqlite::record::parse(payload);
                }
            });
        }
    }
});
