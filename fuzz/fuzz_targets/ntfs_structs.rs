//! Fuzzes NTFS reading: the input bytes are the start of a device, zero-extended to the size
//! its boot sector claims (at most 64 MiB). Opening it with `NtfsFs` (boot sector, `$MFT`,
//! `$UpCase`, the root) and walking every directory from the root — index roots and
//! allocations, MFT records with their fixups and attribute lists, data runs, LZNT1 units,
//! reparse points and Interix files, named streams — must never panic, hang or allocate
//! without bound. Seeds (fuzz/run.sh): 2 MiB volumes from mkntfs filled through ntfs-3g.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::sync::Arc;
use vguestfs::disk::{Dev, MemDev, ZeroExtended};
use vguestfs::fs::ntfs::NtfsFs;
use vguestfs::fs::{FileType, Filesystem};

/// Records visited per input.
const MAX_INODES: usize = 1024;
/// Bytes read per file.
const MAX_READ: u64 = 1 << 20;
/// Largest device the input is extended to.
const MAX_DEV: u64 = 64 << 20;

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys aborts in its panic hook, even for panics caught by `catch_unwind`:
    // `NtfsFs` catches the ntfs crate's known panics (vendor/README.md), so the default hook
    // is put back; a panic that escapes still aborts (libfuzzer-sys catches and aborts).
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| drop(std::panic::take_hook()));
    if data.len() < 512 {
        return;
    }
    let sector = u64::from(u16::from_le_bytes([data[0x0b], data[0x0c]]));
    let sectors = u64::from_le_bytes(data[0x28..0x30].try_into().unwrap());
    let claimed = sectors.saturating_add(1).saturating_mul(sector);
    let mem: Dev = Arc::new(MemDev::new(data.to_vec()));
    let dev: Dev = Arc::new(ZeroExtended::new(mem, claimed.clamp(data.len() as u64, MAX_DEV)));
    let Ok(fs) = NtfsFs::open(dev) else { return };
    let _ = fs.statvfs();
    let mut seen = HashSet::new();
    let mut todo = vec![fs.root()];
    let mut buf = vec![0u8; 65536];
    while let Some(dir) = todo.pop() {
        let _ = fs.stat(dir);
        let _ = fs.xattrs(dir);
        let _ = fs.lookup_nocase(dir, b"WINDOWS");
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
                    // A read in the middle: a compression unit or run found by offset.
                    let _ = fs.read(e.ino, 12345, &mut buf[..5000]);
                }
            }
        }
    }
});
