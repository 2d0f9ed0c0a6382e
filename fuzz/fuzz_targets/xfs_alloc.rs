//! Fuzzes the XFS free-space writer: the input bytes are the start of a device, zero-extended
//! to the size its superblock claims (at most 64 MiB; the `xfs_read` seeds). When the input's
//! last byte is even, a clean log (one unmount record) is written at the log's start first, so
//! the writer's clean-log rule lets the input through; odd inputs keep the log as given. The
//! last 64 bytes are a script of allocations (by size or near a block) and frees of what was
//! allocated, or of arbitrary ranges; then each AG's free space is walked and checked. Last,
//! the device (the input's device followed by up to 16 MiB of zeros, chosen by the second-last
//! byte) is grown to its end (offline `xfs_growfs`); a grow that succeeds must leave a
//! filesystem whose second grow finds nothing to do. Nothing may panic, hang or allocate
//! without bound: damage must come back as errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use vguestfs::disk::{Dev, MemDev};
use vguestfs::fs::xfs::grow::{grow, Size};
use vguestfs::fs::xfs::writer::XfsWriter;

/// Largest device the input is extended to.
const MAX_DEV: u64 = 64 << 20;

fuzz_target!(|data: &[u8]| {
    if data.len() < 576 {
        return;
    }
    let be32 = |at: usize| u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    let be64 = |at: usize| u64::from(be32(at)) << 32 | u64::from(be32(at + 4));
    let claimed = be64(8).saturating_mul(u64::from(be32(4)));
    if claimed > MAX_DEV {
        return;
    }
    let mut dev = data.to_vec();
    let grown = (claimed as usize).max(data.len());
    dev.resize(grown + usize::from(data[data.len() - 2]) * (64 << 10), 0);
    let script = &data[data.len() - 64..];
    if data[data.len() - 1] % 2 == 0 {
        // A clean log: a record header (cycle 1, v2, 512 bytes of data, one operation) and an
        // unmount record, at the log's first block.
        let (blocklog, agblklog, agblocks) = (u32::from(data[120]), u32::from(data[124]), u64::from(be32(84)));
        let logstart = be64(48);
        let (agno, agbno) = (logstart.checked_shr(agblklog).unwrap_or(0), logstart & ((1u64 << agblklog.min(63)) - 1));
        let off = agno.saturating_mul(agblocks).saturating_add(agbno).checked_shl(blocklog).unwrap_or(u64::MAX);
        if let Some(log) = usize::try_from(off).ok().and_then(|o| dev.get_mut(o..o.checked_add(1024)?)) {
            log.fill(0);
            log[0..4].copy_from_slice(&0xFEED_BABEu32.to_be_bytes());
            log[4..8].copy_from_slice(&1u32.to_be_bytes());
            log[8..12].copy_from_slice(&2u32.to_be_bytes());
            log[12..16].copy_from_slice(&512u32.to_be_bytes());
            log[40..44].copy_from_slice(&1u32.to_be_bytes());
            log[320..324].copy_from_slice(&32768u32.to_be_bytes());
            log[512..516].copy_from_slice(&1u32.to_be_bytes());
            log[512 + 9] = 0x20;
        }
    }
    let mem: Dev = Arc::new(MemDev::new(dev));
    let Ok(mut w) = XfsWriter::open(mem.clone()) else { return };
    let agcount = w.superblock().agcount;
    let agblocks = w.superblock().agblocks;
    let mut held: Vec<(u32, u32, u32)> = Vec::new();
    for op in script.chunks(4) {
        let agno = u32::from(op[1]) % agcount.max(1);
        match op[0] % 4 {
            0 | 1 => {
                let minlen = 1 + u32::from(op[2] % 16);
                let maxlen = minlen + u32::from(op[3]);
                let near = (op[0] % 4 == 1).then(|| u32::from(op[2]) * agblocks / 256);
                if let Ok(Some((s, l))) = w.alloc_extent(agno, minlen, maxlen, near) {
                    held.push((agno, s, l));
                }
            }
            2 if !held.is_empty() => {
                let (a, s, l) = held.remove(usize::from(op[2]) % held.len());
                let _ = w.free_extent(a, s, l);
            }
            _ => {
                let _ = w.free_extent(agno, u32::from(op[2]) * agblocks / 256, 1 + u32::from(op[3]));
            }
        }
    }
    for a in 0..agcount.min(4) {
        let _ = w.free_extents(a);
    }
    drop(w);
    if let Ok(r) = grow(&mem, Size::Device, None) {
        if r.changed() {
            let again = grow(&mem, Size::Device, None).expect("a grown filesystem grows again");
            assert!(!again.changed(), "second grow changed it again: {r:?} then {again:?}");
        }
    }
});
