//! Shared by the `mbr` and `gpt` targets: growpart's grow and virt-resize's copy mode on copies of the disk.

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

/// virt-resize's copy mode of the disk onto a fresh one 4 MiB larger, the first partition
/// expanded: the table written must read back with the planned places.
pub fn copy_all(disk: &[u8]) {
    use std::sync::Arc;
    use vguestfs::disk::Dev;
    use vguestfs::resize::{copy, layout};
    let input: Dev = Arc::new(MemDev::new(disk.to_vec()));
    let Ok(source) = copy::examine(&input) else { return };
    let Some(first) = source.parts.first() else { return };
    let opts = layout::Options { expand: Some(first.name.clone()), ..layout::Options::default() };
    let out_len = disk.len() as u64 / 512 * 512 + (4 << 20);
    let Ok(plan) = layout::plan(source.kind, source.parts.clone(), out_len, &opts) else { return };
    let output: Dev = Arc::new(MemDev::new(vec![0u8; out_len as usize]));
    let run = copy::RunOptions { copy_boot_loader: true, expand_content: true, lv_expands: Vec::new() };
    if copy::run(&input, &source, &plan, &output, &run, &mut |_| {}, &mut |_| {}).is_err() {
        return;
    }
    let table = PartitionTable::read(output.as_ref()).expect("a written table reads back").expect("a table was written");
    for t in plan.parts.iter().filter_map(|p| p.target) {
        let q = table.partitions.iter().find(|q| q.number == t.number).expect("each planned partition is there");
        assert_eq!((q.start, q.size), (t.start * 512, (t.end - t.start + 1) * 512));
    }
}
