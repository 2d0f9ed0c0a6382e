//! The internal log, only as far as telling whether it is clean: the kernel replays a dirty
//! log at mount, so a filesystem shut down uncleanly may hold metadata changes that exist only
//! in the log. We do not replay it; [`state`] finds the head of the log (where the cycle
//! number written in the first word of every 512-byte log block drops) and the last record
//! header before it, as the kernel's `xlog_find_head`/`xlog_find_tail` do, and calls the log
//! clean when that record is an unmount record ending exactly at the head.
//!
//! Log record header (big-endian): magic `0xFEEDbabe` at 0, cycle at 4, version at 8, data
//! length at 12, number of operations at 40, record size (v2 logs) at 320. The record's data
//! follows the header block(s); its first operation header has its flags at byte 9.

use crate::bytes::be32;

/// Basic block: the log's unit.
const BB: u64 = 512;
/// Record header magic.
const HEADER_MAGIC: u32 = 0xFEED_BABE;
/// Operation flag of an unmount record.
const UNMOUNT_TRANS: u8 = 0x20;
/// Cycle data one header block covers (v2 logs with larger records have extra header blocks).
const HEADER_CYCLE_SIZE: u64 = 32 * 1024;
/// Largest log record (data) the kernel writes, in basic blocks, plus its header blocks: how
/// far back from the head a record header must be.
const MAX_RECORD_BBS: u64 = (256 * 1024 + 8 * 512) / BB;

/// What [`state`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogState {
    /// The last record is an unmount record: nothing to replay.
    Clean,
    /// The log holds changes the kernel would replay at mount (an unclean shutdown).
    Dirty,
}

/// Reads basic block `n` (0-based in the log) into a 512-byte buffer.
pub trait LogReader {
    /// The block, or `None` when it cannot be read.
    fn block(&self, n: u64) -> Option<[u8; 512]>;
}

/// The cycle number of a log block: the word after the magic in a header block, the first
/// word in a data block.
fn cycle(b: &[u8; 512]) -> u32 {
    if be32(b, 0) == HEADER_MAGIC {
        be32(b, 4)
    } else {
        be32(b, 0)
    }
}

/// Whether the log of `bbs` basic blocks read through `r` is clean. Unreadable blocks or
/// records that make no sense count as dirty (the cautious answer).
pub fn state(r: &dyn LogReader, bbs: u64) -> LogState {
    head_record(r, bbs).map_or(LogState::Dirty, |(s, _)| s)
}

/// The state and the LSN (cycle << 32 | basic block) of the last record header before the head:
/// the newest LSN the log holds, the one offline writes stamp in v5 metadata (no newer than the
/// head, so the kernel's `xfs_log_check_lsn` at mount finds nothing from the future).
pub fn state_and_lsn(r: &dyn LogReader, bbs: u64) -> Option<(LogState, u64)> {
    head_record(r, bbs)
}

fn head_record(r: &dyn LogReader, bbs: u64) -> Option<(LogState, u64)> {
    if bbs < 2 {
        return None;
    }
    let first = cycle(&r.block(0)?);
    let last = cycle(&r.block(bbs - 1)?);
    // Blocks before the head carry `first`, blocks from the head on the previous cycle.
    let head = if first == last {
        0
    } else {
        let (mut lo, mut hi) = (0u64, bbs - 1);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if cycle(&r.block(mid)?) == first {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    };
    // The last record header before the head (wrapping to the end of the log).
    for back in 1..=MAX_RECORD_BBS.min(bbs) {
        let at = (head + bbs - back) % bbs;
        let b = r.block(at)?;
        if be32(&b, 0) != HEADER_MAGIC {
            continue;
        }
        let version = be32(&b, 8);
        let len = u64::from(be32(&b, 12));
        let size = u64::from(be32(&b, 320));
        let hblks = if version == 2 && size > HEADER_CYCLE_SIZE { size.div_ceil(HEADER_CYCLE_SIZE) } else { 1 };
        let end = (at + hblks + len.div_ceil(BB)) % bbs;
        let lsn = (u64::from(be32(&b, 4)) << 32) | at;
        if be32(&b, 40) != 1 || end != head % bbs {
            return Some((LogState::Dirty, lsn));
        }
        let data = r.block((at + hblks) % bbs)?;
        return Some((if data[9] & UNMOUNT_TRANS != 0 { LogState::Clean } else { LogState::Dirty }, lsn));
    }
    None
}

/// The internal log of a filesystem on a device, as [`LogReader`] blocks.
pub struct OnDevice<'a> {
    dev: &'a crate::disk::Dev,
    start: u64,
    bbs: u64,
}

impl<'a> OnDevice<'a> {
    /// The log the superblock places on `dev`; `None` when it lies outside the data device.
    pub fn new(dev: &'a crate::disk::Dev, sb: &super::sb::Superblock) -> Option<OnDevice<'a>> {
        let bbs = u64::from(sb.logblocks) << (sb.blocklog - 9);
        let start = sb.fsb_to_byte(sb.logstart, u64::from(sb.logblocks))?;
        Some(OnDevice { dev, start, bbs })
    }

    /// Its length in basic blocks.
    pub fn bbs(&self) -> u64 {
        self.bbs
    }
}

impl LogReader for OnDevice<'_> {
    fn block(&self, n: u64) -> Option<[u8; 512]> {
        let mut b = [0u8; 512];
        (n < self.bbs).then_some(())?;
        self.dev.read_at(&mut b, self.start + n * 512).ok()?;
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log of `n` blocks as a vector.
    struct Mem(Vec<[u8; 512]>);

    impl LogReader for Mem {
        fn block(&self, n: u64) -> Option<[u8; 512]> {
            self.0.get(n as usize).copied()
        }
    }

    fn data(cycle: u32) -> [u8; 512] {
        let mut b = [0u8; 512];
        b[..4].copy_from_slice(&cycle.to_be_bytes());
        b
    }

    fn header(cycle: u32, len: u32, ops: u32) -> [u8; 512] {
        let mut b = [0u8; 512];
        b[..4].copy_from_slice(&HEADER_MAGIC.to_be_bytes());
        b[4..8].copy_from_slice(&cycle.to_be_bytes());
        b[8..12].copy_from_slice(&2u32.to_be_bytes());
        b[12..16].copy_from_slice(&len.to_be_bytes());
        b[40..44].copy_from_slice(&ops.to_be_bytes());
        b[320..324].copy_from_slice(&32768u32.to_be_bytes());
        b
    }

    fn unmount(cycle: u32) -> [u8; 512] {
        let mut b = data(cycle);
        b[9] = UNMOUNT_TRANS;
        b
    }

    #[test]
    fn clean_and_dirty_logs() {
        // cycle 2 up to block 4 (a transaction, then an unmount record), cycle 1 after
        let mut log = vec![header(2, 512, 3), data(2), header(2, 20, 1), unmount(2)];
        log.extend((0..12).map(|_| data(1)));
        assert_eq!(state(&Mem(log.clone()), 16), LogState::Clean);
        assert_eq!(state_and_lsn(&Mem(log.clone()), 16), Some((LogState::Clean, 2 << 32 | 2)));
        // the head record is a transaction: dirty
        log[3] = data(2);
        assert_eq!(state(&Mem(log.clone()), 16), LogState::Dirty);
        // an unmount record that does not end at the head: dirty
        log[3] = unmount(2);
        log[4] = data(2);
        assert_eq!(state(&Mem(log.clone()), 16), LogState::Dirty);
        // every block on the same cycle: the head record is the last one of the log
        let mut wrapped: Vec<_> = (0..14).map(|_| data(3)).collect();
        wrapped.push(header(3, 100, 1));
        wrapped.push(unmount(3));
        assert_eq!(state(&Mem(wrapped), 16), LogState::Clean);
        // nothing readable, nothing found: dirty
        assert_eq!(state(&Mem(vec![data(0); 4]), 4), LogState::Dirty);
        assert_eq!(state(&Mem(Vec::new()), 4), LogState::Dirty);
    }
}
