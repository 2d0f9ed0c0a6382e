//! An in-memory block device: for fuzz targets (image bytes from the fuzzer) and unit tests.

use super::{check_range, BlockDev, Result};
use std::sync::Mutex;

/// A writable device backed by a `Vec<u8>`.
pub struct MemDev {
    data: Mutex<Vec<u8>>,
    name: String,
}

impl MemDev {
    /// A device holding `data`, named `mem`.
    pub fn new(data: Vec<u8>) -> MemDev {
        MemDev { data: Mutex::new(data), name: "mem".into() }
    }

    /// A copy of the current contents.
    pub fn contents(&self) -> Vec<u8> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // A poisoned lock only means another thread panicked mid-copy; the bytes are still usable.
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl BlockDev for MemDev {
    fn len(&self) -> u64 {
        self.lock().len() as u64
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> Result<()> {
        let data = self.lock();
        check_range(&|| self.name.clone(), off, buf.len(), data.len() as u64)?;
        let at = off as usize;
        buf.copy_from_slice(&data[at..at + buf.len()]);
        Ok(())
    }

    fn write_at(&self, buf: &[u8], off: u64) -> Result<()> {
        let mut data = self.lock();
        check_range(&|| self.name.clone(), off, buf.len(), data.len() as u64)?;
        let at = off as usize;
        data[at..at + buf.len()].copy_from_slice(buf);
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn is_writable(&self) -> bool {
        true
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}
