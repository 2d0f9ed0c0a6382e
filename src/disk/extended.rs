//! A device seen as longer than it is: reads past its end return zeros, as they will once the
//! image file is grown. Used under a scratch overlay to plan (and dry-run) a resize before the
//! image is touched; writes past the end are refused.

use super::{check_range, BlockDev, Dev, Error, Result};

/// `inner`, extended with zeros to `len` bytes.
pub struct ZeroExtended {
    inner: Dev,
    len: u64,
}

impl ZeroExtended {
    /// `inner` seen as `len` bytes (at least its own length).
    pub fn new(inner: Dev, len: u64) -> ZeroExtended {
        let len = len.max(inner.len());
        ZeroExtended { inner, len }
    }
}

impl BlockDev for ZeroExtended {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> Result<()> {
        check_range(&|| self.name(), off, buf.len(), self.len)?;
        let real = self.inner.len();
        let n = real.saturating_sub(off).min(buf.len() as u64) as usize;
        if n > 0 {
            self.inner.read_at(&mut buf[..n], off)?;
        }
        buf[n..].fill(0);
        Ok(())
    }

    fn write_at(&self, buf: &[u8], off: u64) -> Result<()> {
        check_range(&|| self.name(), off, buf.len(), self.len)?;
        if off + buf.len() as u64 > self.inner.len() {
            return Err(Error::ReadOnly { dev: format!("{} (past its current end)", self.name()) });
        }
        self.inner.write_at(buf, off)
    }

    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    fn is_writable(&self) -> bool {
        self.inner.is_writable()
    }

    fn name(&self) -> String {
        self.inner.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::MemDev;
    use std::sync::Arc;

    #[test]
    fn reads_zeros_past_the_end() {
        let d = ZeroExtended::new(Arc::new(MemDev::new(vec![7u8; 1000])), 3000);
        assert_eq!(d.len(), 3000);
        let mut b = vec![1u8; 100];
        d.read_at(&mut b, 950).unwrap();
        assert_eq!(&b[..50], &[7u8; 50][..]);
        assert_eq!(&b[50..], &[0u8; 50][..]);
        d.read_at(&mut b, 2900).unwrap();
        assert_eq!(b, vec![0u8; 100]);
        assert!(d.read_at(&mut b, 2950).is_err());
        assert!(d.write_at(&[1; 10], 995).is_err());
        d.write_at(&[1; 10], 990).unwrap();
    }
}
