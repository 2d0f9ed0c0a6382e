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

    /// `len` bytes at byte `off`: the pending version when the current operation changed them.
    pub fn read(&self, off: u64, len: usize) -> Result<Vec<u8>> {
        if let Some(b) = self.pending.get(&off).filter(|b| b.len() == len) {
            return Ok(b.clone());
        }
        Ok(read_vec(self.dev.as_ref(), off, len)?)
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
