//! Fuzzes FAT reading: the input bytes are a whole device; opening it with `FatFs` and walking
//! every directory from the root, reading every file, must never panic, hang or allocate
//! without bound. The walk itself is bounded (inodes visited, bytes read per file).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::sync::Arc;
use vguestfs::disk::MemDev;
use vguestfs::fs::fat::FatFs;
use vguestfs::fs::{FileType, Filesystem};

/// Inodes visited per input.
const MAX_INODES: usize = 4096;
/// Bytes read per file.
const MAX_READ: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(fs) = FatFs::open(Arc::new(MemDev::new(data.to_vec()))) else { return };
    let _ = fs.statvfs();
    let mut seen = HashSet::new();
    let mut todo = vec![fs.root()];
    let mut buf = vec![0u8; 65536];
    while let Some(dir) = todo.pop() {
        let _ = fs.stat(dir);
        let Ok(entries) = fs.read_dir(dir) else { continue };
        for e in entries {
            if seen.len() >= MAX_INODES {
                return;
            }
            if !seen.insert(e.ino) {
                continue;
            }
            // A listed name is found again (vfat ignores trailing dots in looked-up names, so
            // a hostile on-disk name ending in one may legitimately not be).
            if e.name.last() != Some(&b'.') {
                assert!(fs.lookup(dir, &e.name).ok().flatten().is_some());
            }
            let _ = fs.stat(e.ino);
            if e.file_type == FileType::Directory {
                todo.push(e.ino);
                continue;
            }
            let mut off = 0;
            while off < MAX_READ {
                match fs.read(e.ino, off, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => off += n as u64,
                }
            }
        }
    }
});
