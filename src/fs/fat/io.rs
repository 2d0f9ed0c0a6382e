//! A read-only `Read + Write + Seek` stream over a [`Dev`], the I/O type the `fatfs` crate
//! wants. Writes always fail (`PermissionDenied`) and never reach the device.

use crate::disk::Dev;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// A cursor over a block device, as `fatfs` expects its disk to be.
pub(super) struct DevIo {
    dev: Dev,
    pos: u64,
}

impl DevIo {
    /// A cursor at offset 0 of `dev`.
    pub(super) fn new(dev: Dev) -> DevIo {
        DevIo { dev, pos: 0 }
    }
}

impl Read for DevIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.dev.len().saturating_sub(self.pos);
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if n == 0 {
            return Ok(0);
        }
        self.dev.read_at(&mut buf[..n], self.pos).map_err(io::Error::other)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for DevIo {
    fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::PermissionDenied, "FAT support is read-only"))
    }

    fn flush(&mut self) -> io::Result<()> {
        // Nothing is ever buffered: writes are refused.
        Ok(())
    }
}

impl Seek for DevIo {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.dev.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let new = new.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.pos = new;
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::MemDev;
    use std::sync::Arc;

    #[test]
    fn reads_seeks_and_refuses_writes() {
        let mem = Arc::new(MemDev::new((0u8..16).collect()));
        let mut io = DevIo::new(mem.clone());
        let mut buf = [0u8; 4];
        assert_eq!(io.seek(SeekFrom::Start(14)).unwrap(), 14);
        assert_eq!(io.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], &[14, 15]);
        assert_eq!(io.read(&mut buf).unwrap(), 0);
        assert_eq!(io.seek(SeekFrom::Current(-16)).unwrap(), 0);
        assert!(io.seek(SeekFrom::Current(-1)).is_err());
        assert_eq!(io.write(&[9]).unwrap_err().kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(mem.contents()[0], 0);
    }
}
