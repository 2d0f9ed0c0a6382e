//! Fuzzes FAT writing: the input bytes are a whole device, opened with `FatFs::open_rw`, then
//! changed by a fixed script whose parameters come from the input's last bytes (create, write
//! across clusters and past the end, truncate, mkdir, rename across directories, unlink, rmdir,
//! utimens, chmod), then walked and read like `fat_read`. Nothing may panic, hang or allocate
//! without bound; errors are expected and ignored.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use vguestfs::disk::MemDev;
use vguestfs::fs::fat::FatFs;
use vguestfs::fs::{FileType, Filesystem, Timespec};

/// Entries of the root the script works on.
const MAX_ENTRIES: usize = 8;
/// Inodes visited by the final walk.
const MAX_INODES: usize = 2048;

fuzz_target!(|data: &[u8]| {
    let p = |i: usize| u64::from(data.get(data.len().wrapping_sub(1 + i)).copied().unwrap_or(0));
    let Ok(fs) = FatFs::open_rw(Arc::new(MemDev::new(data.to_vec()))) else { return };
    let root = fs.root();
    let entries: Vec<_> = fs.read_dir(root).map(|e| e.into_iter().take(MAX_ENTRIES).collect()).unwrap_or_default();
    let dir = fs.mkdir(root, b"fuzz dir", 0o755).ok();
    for (i, e) in entries.iter().enumerate() {
        let k = p(i);
        match e.file_type {
            FileType::Directory => {
                let _ = fs.create(e.ino, b"new file in a directory.txt", 0o644);
                let _ = fs.mkdir(e.ino, b"D", 0o755);
                let _ = fs.rmdir(e.ino, b"d");
                if k & 1 == 1 {
                    let _ = fs.rmdir(root, &e.name);
                }
            }
            _ => {
                let _ = fs.write(e.ino, k * 97, &vec![k as u8; (k as usize * 131) % 9000]);
                let _ = fs.truncate(e.ino, k * 301);
                let _ = fs.utimens(e.ino, Some(Timespec { sec: k as i64 * 1_000_000, nsec: 0 }), None);
                let _ = fs.chmod(e.ino, if k & 1 == 1 { 0o555 } else { 0o755 });
                let mut buf = [0u8; 4096];
                let _ = fs.read(e.ino, k * 13, &mut buf);
            }
        }
        match (k % 4, dir) {
            (0, Some(d)) => {
                let _ = fs.rename(root, &e.name, d, b"moved here");
            }
            (1, _) => {
                let _ = fs.rename(root, &e.name, root, b"Renamed In Place.txt");
            }
            (2, _) => {
                let _ = fs.unlink(root, &e.name);
            }
            _ => {}
        }
    }
    if let Ok(f) = fs.create(root, b"NEW.TXT", 0o644) {
        let _ = fs.write(f, p(9) * 1000, &[7u8; 10_000]);
        let _ = fs.truncate(f, p(10) * 100);
    }
    let _ = fs.sync();
    let _ = fs.statvfs();
    // Everything left must still read without trouble.
    let mut seen = 0;
    let mut todo = vec![root];
    let mut buf = vec![0u8; 65536];
    while let Some(d) = todo.pop() {
        let Ok(list) = fs.read_dir(d) else { continue };
        for e in list {
            seen += 1;
            if seen > MAX_INODES {
                return;
            }
            let _ = fs.stat(e.ino);
            if e.file_type == FileType::Directory {
                todo.push(e.ino);
            } else {
                let _ = fs.read(e.ino, 0, &mut buf);
            }
        }
    }
});
