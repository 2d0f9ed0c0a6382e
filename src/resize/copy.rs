//! virt-resize's copy mode, for the layouts that need no partition moved: the input disk is
//! copied sparsely (the input's holes and all-zero chunks are skipped) onto the start of the pre-created, larger
//! output, then the output is grown in place ([`super::inplace::run`]): the expanded
//! partition, its PV, an LV, the filesystem. Partitions after the expanded one would have to
//! move, and `--shrink`/`--resize`/`--delete` change the layout: those are refused by name.

use super::Error;
use crate::disk::{BlockDev, Dev};
use crate::part::PartitionTable;
use crate::units::SECTOR_SIZE;

/// Bytes per copied chunk.
pub const CHUNK: usize = 1 << 20;

/// What a copy wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyStats {
    /// Bytes of the input read.
    pub read: u64,
    /// Bytes written (chunks holding data).
    pub written: u64,
}

/// Checks that growing partition `expand` of the input needs no other partition moved: no
/// partition starts after it.
pub fn check_layout(input: &dyn BlockDev, expand: Option<&str>) -> crate::Result<()> {
    let Some(expand) = expand else { return Ok(()) };
    let n: u32 = expand.strip_prefix("/dev/sda").and_then(|n| n.parse().ok()).ok_or_else(|| Error::NoSuchDevice(expand.to_string()))?;
    let table = PartitionTable::read(input)?.ok_or_else(|| Error::NoSuchDevice(expand.to_string()))?;
    let p = table.partitions.iter().find(|p| p.number == n).ok_or_else(|| Error::NoSuchDevice(expand.to_string()))?;
    if let Some(q) = table.partitions.iter().find(|q| q.start > p.start) {
        return Err(Error::Unsupported(format!(
            "copy mode: /dev/sda{} (sector {}) follows {expand} and would have to move; moving partitions is not supported yet",
            q.number,
            q.start / SECTOR_SIZE
        ))
        .into());
    }
    Ok(())
}

/// Copies `input` onto the start of `output` (at least as large), skipping all-zero chunks of
/// a fresh output; `progress` is told the bytes done so far after each chunk.
pub fn copy(input: &dyn BlockDev, output: &dyn BlockDev, progress: &mut dyn FnMut(u64)) -> crate::Result<CopyStats> {
    let len = input.len();
    if output.len() < len {
        return Err(Error::Unsupported(format!("copy mode: the output ({} bytes) is smaller than the input ({len} bytes); shrinking is not supported", output.len())).into());
    }
    let mut buf = vec![0u8; CHUNK];
    let mut stats = CopyStats { read: 0, written: 0 };
    let mut off = 0u64;
    while off < len {
        // holes of the input (a fresh output already reads as zeros there)
        let zeros = input.known_zeros(off, len - off)?;
        if zeros > 0 {
            off += zeros;
            stats.read = off;
            progress(off);
            continue;
        }
        let n = (len - off).min(CHUNK as u64) as usize;
        let piece = &mut buf[..n];
        input.read_at(piece, off)?;
        if piece.iter().any(|&b| b != 0) {
            output.write_at(piece, off)?;
            stats.written += n as u64;
        }
        off += n as u64;
        stats.read = off;
        progress(off);
    }
    output.flush()?;
    Ok(stats)
}

/// The output device of a copy must start out zero where the input is zero (a freshly created
/// image): checked on its first and last sectors, the usual places of old partition tables.
pub fn check_fresh(output: &Dev) -> crate::Result<()> {
    let mut s = [0u8; 512];
    for off in [0, output.len().saturating_sub(512)] {
        output.read_at(&mut s, off)?;
        if s.iter().any(|&b| b != 0) {
            return Err(Error::Unsupported(format!("copy mode: the output is not empty (data at byte {off}); create it fresh (qemu-img create or truncate)")).into());
        }
    }
    Ok(())
}
