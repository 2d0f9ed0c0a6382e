//! Fuzzes XFS reading: the input bytes are the start of a device, zero-extended to the size
//! its superblock claims (at most 1 GiB), so that a small input can hold a whole filesystem's
//! metadata. Opening it with `XfsFs` (superblock, AG headers, root inode) and walking every
//! directory from the root — lookups, stat, xattrs, readlink, reads — must never panic, hang
//! or allocate without bound. The walk itself is bounded (inodes visited, bytes per file).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::sync::Arc;
use vguestfs::disk::{Dev, MemDev, ZeroExtended};
use vguestfs::fs::xfs::XfsFs;
use vguestfs::fs::{FileType, Filesystem};

/// Inodes visited per input.
const MAX_INODES: usize = 2048;
/// Bytes read per file.
const MAX_READ: u64 = 1 << 20;
/// Largest device the input is extended to.
const MAX_DEV: u64 = 1 << 30;

fuzz_target!(|data: &[u8]| {
    if data.len() < 512 {
        return;
    }
    let be32 = |at: usize| u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    let be64 = |at: usize| u64::from(be32(at)) << 32 | u64::from(be32(at + 4));
    let claimed = be64(8).saturating_mul(u64::from(be32(4)));
    let mem: Dev = Arc::new(MemDev::new(data.to_vec()));
    let dev: Dev = Arc::new(ZeroExtended::new(mem, claimed.min(MAX_DEV)));
    let Ok(fs) = XfsFs::open(dev) else { return };
    let _ = fs.statvfs();
    let mut seen = HashSet::new();
    let mut todo = vec![fs.root()];
    let mut buf = vec![0u8; 65536];
    while let Some(dir) = todo.pop() {
        let _ = fs.stat(dir);
        let _ = fs.xattrs(dir);
        let Ok(entries) = fs.read_dir(dir) else { continue };
        for e in entries {
            if seen.len() >= MAX_INODES {
                return;
            }
            if !seen.insert(e.ino) {
                continue;
            }
            let _ = fs.lookup(dir, &e.name);
            let _ = fs.stat(e.ino);
            let _ = fs.xattrs(e.ino);
            match e.file_type {
                FileType::Directory => todo.push(e.ino),
                FileType::Symlink => {
                    let _ = fs.readlink(e.ino);
                }
                _ => {
                    let mut off = 0;
                    while off < MAX_READ {
                        match fs.read(e.ino, off, &mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => off += n as u64,
                        }
                    }
                }
            }
        }
    }
});
