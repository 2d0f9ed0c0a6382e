//! Fuzzes the ext2/3/4 reader: the input bytes are a whole device; opening it and walking the
//! tree from the root (listing, stat, xattrs, readlink, reading every file) must never panic,
//! hang or allocate without bound. The walk itself is bounded (entries, bytes, cycles).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::sync::Arc;
use vguestfs::disk::{Dev, MemDev};
use vguestfs::fs::ext4::Ext4Fs;
use vguestfs::fs::{FileType, Filesystem};

/// The most entries visited and bytes read per file in one run.
const MAX_ENTRIES: usize = 2000;
const MAX_FILE_BYTES: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let dev: Dev = Arc::new(MemDev::new(data.to_vec()));
    let Ok(fs) = Ext4Fs::open(dev) else { return };
    let _ = fs.statvfs();
    let mut seen = HashSet::new();
    let mut stack = vec![fs.root()];
    let mut visited = 0;
    let mut buf = vec![0u8; 65536];
    while let Some(dir) = stack.pop() {
        if !seen.insert(dir) {
            continue;
        }
        let Ok(entries) = fs.read_dir(dir) else { continue };
        for e in entries {
            visited += 1;
            if visited > MAX_ENTRIES {
                return;
            }
            let _ = fs.lookup(dir, &e.name);
            let _ = fs.xattrs(e.ino);
            let Ok(st) = fs.stat(e.ino) else { continue };
            match st.file_type() {
                Some(FileType::Directory) => stack.push(e.ino),
                Some(FileType::Symlink) => {
                    let _ = fs.readlink(e.ino);
                }
                Some(FileType::Regular) => {
                    let mut off = 0;
                    while off < st.size.min(MAX_FILE_BYTES) {
                        match fs.read(e.ino, off, &mut buf) {
                            Ok(n) if n > 0 => off += n as u64,
                            _ => break,
                        }
                    }
                }
                _ => {}
            }
        }
    }
});
