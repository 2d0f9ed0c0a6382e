//! A window (offset + length) onto another device: partitions.

use super::{check_range, check_span, BlockDev, Dev, Error, Result};

/// `len` bytes of `inner` starting at byte `offset`, under its own device name.
pub struct Slice {
    inner: Dev,
    offset: u64,
    len: u64,
    name: String,
}

impl Slice {
    /// A view of `len` bytes at `offset` of `inner`. Fails if the window is not inside `inner`
    /// (a partition table entry pointing past the end of the disk).
    pub fn new(inner: Dev, offset: u64, len: u64, name: impl Into<String>) -> Result<Slice> {
        let name = name.into();
        match offset.checked_add(len) {
            Some(end) if end <= inner.len() => Ok(Slice { inner, offset, len, name }),
            _ => Err(Error::OutOfRange { dev: inner.name(), offset, len, size: inner.len() }),
        }
    }

    /// Byte offset of the window in the parent device.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The parent device.
    pub fn parent(&self) -> &Dev {
        &self.inner
    }
}

impl BlockDev for Slice {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> Result<()> {
        check_range(&|| self.name.clone(), off, buf.len(), self.len)?;
        self.inner.read_at(buf, self.offset + off)
    }

    fn write_at(&self, buf: &[u8], off: u64) -> Result<()> {
        check_range(&|| self.name.clone(), off, buf.len(), self.len)?;
        self.inner.write_at(buf, self.offset + off)
    }

    fn write_zeroes(&self, off: u64, len: u64) -> Result<()> {
        check_span(&|| self.name.clone(), off, len, self.len)?;
        self.inner.write_zeroes(self.offset + off, len)
    }

    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    fn is_writable(&self) -> bool {
        self.inner.is_writable()
    }

    fn buffers_until_commit(&self) -> bool {
        self.inner.buffers_until_commit()
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::disk::MemDev;
    use std::sync::Arc;

    /// A device of `bytes`, byte i = i % 251.
    pub(crate) fn pattern_dev(bytes: usize) -> Dev {
        Arc::new(MemDev::new((0..bytes).map(|i| (i % 251) as u8).collect()))
    }

    #[test]
    fn slice_maps_offsets_and_bounds() {
        let dev = pattern_dev(10_000);
        let s = Slice::new(dev.clone(), 1000, 500, "/dev/sda1").unwrap();
        let mut b = [0u8; 4];
        s.read_at(&mut b, 10).unwrap();
        assert_eq!(b, [(1010 % 251) as u8, (1011 % 251) as u8, (1012 % 251) as u8, (1013 % 251) as u8]);
        let err = s.read_at(&mut b, 497).unwrap_err().to_string();
        assert!(err.contains("/dev/sda1"), "{err}");
        assert!(Slice::new(dev.clone(), 9_990, 11, "x").is_err());
        assert!(Slice::new(dev, u64::MAX, 2, "x").is_err());
    }
}
