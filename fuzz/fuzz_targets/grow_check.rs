//! Shared by the `mbr` and `gpt` targets: growpart's grow on a copy of the disk.

use vguestfs::disk::MemDev;
use vguestfs::part::{grow, PartitionTable};

/// Grows every partition of a copy of the disk, doubled in size; a table we wrote must read
/// back with the new size.
pub fn grow_all(disk: &[u8]) {
    let mut big = disk.to_vec();
    big.resize(disk.len() * 2, 0);
    let dev = MemDev::new(big);
    let Ok(Some(table)) = PartitionTable::read(&dev) else { return };
    for p in table.partitions.iter().take(8) {
        if let Ok(grow::Plan::Grow { growth, .. }) = grow::plan(&dev, &table, p.number, &grow::GrowOptions::default()) {
            if grow::apply(&dev, &growth).is_ok() {
                let again = PartitionTable::read(&dev).expect("a grown table reads back");
                let q = again.and_then(|t| t.partitions.into_iter().find(|q| q.number == p.number)).expect("the grown partition is there");
                assert_eq!(q.size, growth.new_size * 512);
                return;
            }
        }
    }
}
