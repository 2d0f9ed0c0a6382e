//! Metadata buffers for writing: blocks read from the device, changed in memory and kept in a
//! set of pending blocks that reaches the device only when an operation has succeeded whole
//! ([`Bufs::flush`]); an operation that fails drops its pending set ([`Bufs::discard`]), so an
//! error never leaves half an update behind. On v5 every block put is stamped at once with the
//! LSN (no newer than the log head, as xfsprogs stamps offline writes) and its CRC, so a pending
//! block read back verifies like one on disk.

use super::crc;
use crate::disk::{read_vec, Dev};
use crate::fs::Result;
use std::collections::BTreeMap;

/// Where a v5 structure keeps its LSN (8 bytes, big-endian) and CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Byte offset of the LSN field.
    pub lsn_off: usize,
    /// Byte offset of the CRC field.
    pub crc_off: usize,
}

/// How far before a range pending blocks sharing bytes with it are looked for: longer than
/// any block put (directory blocks are at most 64 KiB).
const MAX_SPAN: u64 = 1 << 20;

/// Pending metadata blocks over a writable device.
pub struct Bufs {
    dev: Dev,
    /// Whether the filesystem is v5 (stamps apply).
    crc: bool,
    /// The LSN stamped into v5 blocks.
    lsn: u64,
    /// Blocks changed by the current operation, by byte offset.
    pending: BTreeMap<u64, Vec<u8>>,
}

impl Bufs {
    /// Buffers over `dev`; `lsn` is what v5 blocks get stamped with.
    pub fn new(dev: Dev, crc: bool, lsn: u64) -> Bufs {
        Bufs { dev, crc, lsn, pending: BTreeMap::new() }
    }

    /// The device's name for messages.
    pub fn dev_name(&self) -> String {
        self.dev.name()
    }

    /// `len` bytes at byte `off`: the pending version when the current operation changed them
    /// (pending blocks that share bytes with the range laid over what the device holds).
    pub fn read(&self, off: u64, len: usize) -> Result<Vec<u8>> {
        if let Some(b) = self.pending.get(&off).filter(|b| b.len() == len) {
            return Ok(b.clone());
        }
        let mut b = read_vec(self.dev.as_ref(), off, len)?;
        let end = off + len as u64;
        for (&k, p) in self.pending.range(off.saturating_sub(MAX_SPAN)..end) {
            let (lo, hi) = (k.max(off), (k + p.len() as u64).min(end));
            if lo < hi {
                b[(lo - off) as usize..(hi - off) as usize].copy_from_slice(&p[(lo - k) as usize..(hi - k) as usize]);
            }
        }
        Ok(b)
    }

    /// The LSN v5 blocks are stamped with (for structures stamped by their own code: inodes).
    pub fn lsn(&self) -> u64 {
        self.lsn
    }

    /// Whether the block at `off` was changed by the current operation.
    pub fn is_pending(&self, off: u64) -> bool {
        self.pending.contains_key(&off)
    }

    /// Puts a changed block at byte `off`; on v5 with `stamp` the LSN and CRC are set first.
    pub fn put(&mut self, off: u64, mut b: Vec<u8>, stamp: Option<Stamp>) {
        self.stamp(&mut b, stamp);
        self.insert(off, b);
    }

    /// Puts a changed block whose bytes lie in pieces on the device (`pieces`: byte offset
    /// and length of each, in order; a directory block over several extents): stamped whole
    /// as [`Bufs::put`] stamps, then each piece pending at its place.
    pub fn put_pieces(&mut self, pieces: &[(u64, usize)], mut b: Vec<u8>, stamp: Option<Stamp>) {
        self.stamp(&mut b, stamp);
        let mut at = 0;
        for &(off, len) in pieces {
            self.insert(off, b[at..at + len].to_vec());
            at += len;
        }
    }

    /// Makes `b` pending at `off`. Pending blocks at other offsets sharing bytes with it take
    /// its bytes (one inside it is dropped), so whatever order they reach the device in, and
    /// whatever range is read back, the newest bytes are the ones seen: a block freed and
    /// its space mapped again within one operation may be cut in other pieces.
    fn insert(&mut self, off: u64, b: Vec<u8>) {
        let end = off + b.len() as u64;
        let mut inside = Vec::new();
        for (&k, p) in self.pending.range_mut(off.saturating_sub(MAX_SPAN)..end) {
            let k_end = k + p.len() as u64;
            if k == off || k_end <= off {
                continue;
            }
            if k >= off && k_end <= end {
                inside.push(k);
            } else {
                let (lo, hi) = (k.max(off), k_end.min(end));
                p[(lo - k) as usize..(hi - k) as usize].copy_from_slice(&b[(lo - off) as usize..(hi - off) as usize]);
            }
        }
        for k in inside {
            self.pending.remove(&k);
        }
        self.pending.insert(off, b);
    }

    /// Writes a block at byte `off` at once, stamped like [`Bufs::put`]: for blocks outside
    /// the filesystem as it stands (new AG headers before a grow commits, as the kernel writes
    /// them), which nothing reads until the superblock says they exist.
    pub fn write_now(&mut self, off: u64, mut b: Vec<u8>, stamp: Option<Stamp>) -> Result<()> {
        self.stamp(&mut b, stamp);
        Ok(self.dev.write_at(&b, off)?)
    }

    fn stamp(&self, b: &mut [u8], stamp: Option<Stamp>) {
        if let (true, Some(s)) = (self.crc, stamp) {
            b[s.lsn_off..s.lsn_off + 8].copy_from_slice(&self.lsn.to_be_bytes());
            let c = crc::compute(b, s.crc_off);
            b[s.crc_off..s.crc_off + 4].copy_from_slice(&c.to_le_bytes());
        }
    }

    /// Blocks pending.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Writes every pending block to the device (in offset order) and empties the set.
    pub fn flush(&mut self) -> Result<()> {
        for (off, b) in std::mem::take(&mut self.pending) {
            self.dev.write_at(&b, off)?;
        }
        Ok(())
    }

    /// Drops every pending block (the operation failed).
    pub fn discard(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::MemDev;
    use std::sync::Arc;

    /// A block put in pieces, then freed and put whole at the same place (and the other way
    /// round): reads see the newest bytes, and so does the device after the flush.
    #[test]
    fn overlapping_puts_keep_the_newest_bytes() {
        let mem = Arc::new(MemDev::new(vec![0u8; 64 << 10]));
        let dev: Dev = mem.clone();
        let mut b = Bufs::new(dev, false, 0);
        b.put_pieces(&[(4096, 1024), (8192, 1024), (5120, 2048)], vec![1; 4096], None);
        assert_eq!(b.read(8192, 1024).unwrap(), vec![1; 1024]);
        assert_eq!(b.read(4096, 3072).unwrap(), vec![1; 3072]);
        // The same bytes mapped again as one block: the pieces inside it go.
        b.put(4096, vec![2; 4096], None);
        assert_eq!(b.pending(), 2);
        let r = b.read(4096, 4096).unwrap();
        assert!(r == vec![2; 4096]);
        assert_eq!(b.read(5120, 1024).unwrap(), vec![2; 1024]);
        // A piece inside a pending block takes its place there, the rest kept.
        b.put(6144, vec![3; 1024], None);
        let r = b.read(4096, 4096).unwrap();
        assert!(r[..2048] == [2; 2048] && r[2048..3072] == [3; 1024] && r[3072..] == [2; 1024]);
        // A block over the start of another pending one.
        b.put(7168, vec![4; 2048], None);
        b.flush().unwrap();
        let disk = mem.contents();
        assert!(disk[4096..6144] == [2; 2048] && disk[6144..7168] == [3; 1024] && disk[7168..9216] == [4; 2048]);
        assert!(disk[9216..10240] == [0; 1024]);
    }
}
