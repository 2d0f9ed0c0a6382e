//! Fuzzes the GPT reader: the bytes follow a fixed protective MBR, so every input reaches the
//! GPT headers (LBA 1 = the first 512 fuzzer bytes, the backup at the last full sector).
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

fuzz_target!(|data: &[u8]| {
    let mut disk = protective_mbr();
    disk.extend_from_slice(data);
    let dev = MemDev::new(disk);
    let _ = PartitionTable::read(&dev);
});
