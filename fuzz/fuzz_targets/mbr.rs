//! Fuzzes partition-table detection and the MBR/EBR reader: the bytes are the whole disk;
//! then growpart's grow on a copy twice the size (`part::grow`), which must read back, and
//! virt-resize's copy mode onto a larger disk, whose table must read back as planned.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vguestfs::disk::MemDev;
use vguestfs::part::PartitionTable;

#[path = "grow_check.rs"]
mod grow_check;
use grow_check::{copy_all, grow_all};

fuzz_target!(|data: &[u8]| {
    let dev = MemDev::new(data.to_vec());
    let _ = PartitionTable::read(&dev);
    grow_all(data);
    copy_all(data);
});
