//! Fuzzes partition-table detection and the MBR/EBR reader: the bytes are the whole disk.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vguestfs::disk::MemDev;
use vguestfs::part::PartitionTable;

fuzz_target!(|data: &[u8]| {
    let dev = MemDev::new(data.to_vec());
    let _ = PartitionTable::read(&dev);
});
