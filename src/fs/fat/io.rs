//! A `Read + Write + Seek` stream over a [`Dev`], the I/O type the `fatfs` crate wants.
//!
//! A read-only stream refuses writes (`PermissionDenied`) before they reach the device. A
//! writable stream first saves the bytes each write replaces into an [`UndoLog`], so that an
//! operation failing half-way can put the device back as it was.

use crate::disk::Dev;
use std::cell::RefCell;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::rc::Rc;

/// The bytes every write of one operation replaced, oldest first.
#[derive(Default)]
pub(super) struct UndoLog {
    saved: Vec<(u64, Vec<u8>)>,
}

impl UndoLog {
    /// Writes the saved bytes back, newest first: afterwards the device holds what it held
    /// before the first logged write.
    pub(super) fn rollback(self, dev: &Dev) -> crate::disk::Result<()> {
        for (off, old) in self.saved.into_iter().rev() {
            dev.write_at(&old, off)?;
        }
        Ok(())
    }
}

/// A cursor over a block device, as `fatfs` expects its disk to be.
pub(super) struct DevIo {
    dev: Dev,
    pos: u64,
    /// Where replaced bytes are saved; `None` for a read-only stream.
    undo: Option<Rc<RefCell<UndoLog>>>,
}

impl DevIo {
    /// A read-only cursor at offset 0 of `dev`.
    pub(super) fn new(dev: Dev) -> DevIo {
        DevIo { dev, pos: 0, undo: None }
    }

    /// A writable cursor at offset 0 of `dev` saving what it overwrites into `undo`.
    pub(super) fn writable(dev: Dev, undo: Rc<RefCell<UndoLog>>) -> DevIo {
        DevIo { dev, pos: 0, undo: Some(undo) }
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
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(undo) = &self.undo else {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "FAT volume opened read-only"));
        };
        // Past the end of the device is an error (the device's), never a short write: `fatfs`
        // takes a short write for a full fixed-size region (the FAT12/16 root directory).
        let mut old = vec![0u8; buf.len()];
        self.dev.read_at(&mut old, self.pos).map_err(io::Error::other)?;
        undo.borrow_mut().saved.push((self.pos, old));
        self.dev.write_at(buf, self.pos).map_err(io::Error::other)?;
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Every write reaches the device at once; durability is `Filesystem::sync`'s job.
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

    #[test]
    fn writes_are_undone_newest_first() {
        let mem = Arc::new(MemDev::new((0u8..16).collect()));
        let dev: Dev = mem.clone();
        let undo = Rc::new(RefCell::new(UndoLog::default()));
        let mut io = DevIo::writable(dev.clone(), undo.clone());
        io.seek(SeekFrom::Start(2)).unwrap();
        io.write_all(&[100, 101, 102]).unwrap();
        io.seek(SeekFrom::Start(3)).unwrap();
        io.write_all(&[200]).unwrap();
        io.seek(SeekFrom::Start(15)).unwrap();
        assert!(io.write(&[1, 2]).is_err());
        assert_eq!(&mem.contents()[..6], &[0, 1, 100, 200, 102, 5]);
        assert_eq!(mem.contents()[15], 15);
        drop(io);
        Rc::try_unwrap(undo).ok().unwrap().into_inner().rollback(&dev).unwrap();
        assert_eq!(mem.contents(), (0u8..16).collect::<Vec<_>>());
    }
}
