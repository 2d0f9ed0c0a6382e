#![no_main]
//! Fuzzes the metadata check run before a qcow2 image is written (placement, overlaps,
//! references against refcounts, COPIED flags, bitmaps): the fuzzer's bytes are the whole image
//! file; a header our parser accepts goes through `check_metadata`, which must return (accept
//! or refuse) without panicking, hanging or allocating without bound.

use libfuzzer_sys::fuzz_target;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::OnceLock;
use vguestfs::disk::qcow2;

/// One scratch file per fuzzing process, rewritten for every input.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("vguestfs-fuzz-qcow2-check-{}", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    let Ok(mut file) = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path) else { return };
    if file.write_all(data).is_err() || file.seek(SeekFrom::Start(0)).is_err() {
        return;
    }
    if let Ok(info) = qcow2::read_info(path) {
        let _ = qcow2::check_metadata(&file, &info, path);
    }
});
