//! Fuzzes the GPT reader: the bytes follow a fixed protective MBR, so every input reaches the
//! GPT headers (LBA 1 = the first 512 fuzzer bytes, the backup at the last full sector).
//! libFuzzer cannot forge CRC32s, so when the input's last byte is even the target recomputes
//! the entry-array and header CRCs of both headers first: the fuzzer then reaches the entry
//! array and partition checks. Odd last bytes leave the CRCs as they are (mismatch paths).
//! Then growpart's grow on a copy twice the size (`part::grow`), which must read back, and
//! virt-resize's copy mode onto a larger disk, whose table must read back as planned.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vguestfs::disk::MemDev;
use vguestfs::part::PartitionTable;

/// Sector 0: one 0xEE entry covering the disk, and the 0x55AA signature.
fn protective_mbr() -> Vec<u8> {
    let mut s = vec![0u8; 512];
    s[446 + 4] = 0xEE;
    s[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
    s[446 + 12..446 + 16].copy_from_slice(&u32::MAX.to_le_bytes());
    s[510] = 0x55;
    s[511] = 0xAA;
    s
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Makes the entry-array CRC and then the header CRC of the header at byte `h` valid.
fn fix_crcs(disk: &mut [u8], h: usize) {
    let entries_lba = le64(disk, h + 72);
    let bytes = u64::from(le32(disk, h + 80)) * u64::from(le32(disk, h + 84));
    if let Some(start) = entries_lba.checked_mul(512) {
        if bytes <= 1 << 20 && start.checked_add(bytes).is_some_and(|e| e <= disk.len() as u64) {
            let crc = crc32fast::hash(&disk[start as usize..(start + bytes) as usize]);
            disk[h + 88..h + 92].copy_from_slice(&crc.to_le_bytes());
        }
    }
    let size = (le32(disk, h + 12) as usize).clamp(92, 512);
    disk[h + 16..h + 20].fill(0);
    let crc = crc32fast::hash(&disk[h..h + size]);
    disk[h + 16..h + 20].copy_from_slice(&crc.to_le_bytes());
}

#[path = "grow_check.rs"]
mod grow_check;
use grow_check::{copy_all, grow_all};

fuzz_target!(|data: &[u8]| {
    let mut disk = protective_mbr();
    disk.extend_from_slice(data);
    if data.last().is_some_and(|b| b % 2 == 0) && disk.len() >= 1024 {
        let last = (disk.len() / 512 - 1) * 512;
        if last > 512 {
            fix_crcs(&mut disk, last);
        }
        fix_crcs(&mut disk, 512);
    }
    let _ = PartitionTable::read(&MemDev::new(disk.clone()));
    grow_all(&disk);
    copy_all(&disk);
});
