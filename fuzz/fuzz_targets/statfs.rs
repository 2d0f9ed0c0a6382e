//! Fuzzes the statvfs size computation from superblocks: the bytes are the device, tried as
//! every filesystem type the function knows (and one it does not).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vguestfs::disk::MemDev;

fuzz_target!(|data: &[u8]| {
    let dev = MemDev::new(data.to_vec());
    for fs_type in ["ext2", "ext3", "ext4", "vfat", "xfs"] {
        let _ = vguestfs::fs::statfs::statvfs_size(&dev, fs_type);
    }
});
