//! A `Read + Write + Seek` stream over a [`Dev`], the I/O type the `fatfs` crate wants.
//!
//! A read-only stream refuses writes (`PermissionDenied`) before they reach the device. A
//! writable stream first saves the bytes each write replaces into an [`UndoLog`], so that an
//! operation failing half-way can put the device back as it was.
//!
//! `fatfs` reads a field at a time (a directory entry is a dozen reads), so small reads are
//! served from one cached block; writes go through to the device and update the block. The
//! streams of one transaction share their [`Shared`] state, so the block stays coherent.

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

/// Size of the cached block.
const BLOCK: u64 = 4096;

/// What the streams of one transaction share: the undo log and the cached block.
#[derive(Default)]
pub(super) struct Shared {
    /// Bytes replaced so far.
    pub(super) undo: UndoLog,
    /// Device offset and bytes of the cached block (empty: none).
    block: (u64, Vec<u8>),
}

/// A cursor over a block device, as `fatfs` expects its disk to be.
pub(super) struct DevIo {
    dev: Dev,
    pos: u64,
    shared: Rc<RefCell<Shared>>,
    writable: bool,
    /// A boot sector shown in place of the device's (read-only cursors only).
    boot: Option<Rc<[u8; 512]>>,
}

impl DevIo {
    /// A read-only cursor at offset 0 of `dev`; `boot`, when given, is read in place of the
    /// device's first 512 bytes.
    pub(super) fn new(dev: Dev, boot: Option<Rc<[u8; 512]>>) -> DevIo {
        DevIo { dev, pos: 0, shared: Rc::default(), writable: false, boot }
    }

    /// A writable cursor at offset 0 of `dev` saving what it overwrites into `shared`.
    pub(super) fn writable(dev: Dev, shared: Rc<RefCell<Shared>>) -> DevIo {
        DevIo { dev, pos: 0, shared, writable: true, boot: None }
    }
}

impl Read for DevIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let at = self.pos;
        let n = self.read_device(buf)?;
        if let Some(boot) = self.boot.as_ref().filter(|_| at < 512) {
            let end = (at + n as u64).min(512);
            buf[..(end - at) as usize].copy_from_slice(&boot[at as usize..end as usize]);
        }
        Ok(n)
    }
}

impl DevIo {
    fn read_device(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.dev.len().saturating_sub(self.pos);
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if n == 0 {
            return Ok(0);
        }
        if n as u64 >= BLOCK {
            self.dev.read_at(&mut buf[..n], self.pos).map_err(io::Error::other)?;
            self.pos += n as u64;
            return Ok(n);
        }
        let mut shared = self.shared.borrow_mut();
        let (start, data) = &mut shared.block;
        if !(*start..*start + data.len() as u64).contains(&self.pos) {
            let at = self.pos - self.pos % BLOCK;
            let len = BLOCK.min(self.dev.len() - at) as usize;
            let mut fresh = vec![0u8; len];
            self.dev.read_at(&mut fresh, at).map_err(io::Error::other)?;
            (*start, *data) = (at, fresh);
        }
        let from = (self.pos - *start) as usize;
        let n = n.min(data.len() - from);
        buf[..n].copy_from_slice(&data[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for DevIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.writable {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "FAT volume opened read-only"));
        }
        // Past the end of the device is an error (the device's), never a short write: `fatfs`
        // takes a short write for a full fixed-size region (the FAT12/16 root directory).
        let mut old = vec![0u8; buf.len()];
        self.dev.read_at(&mut old, self.pos).map_err(io::Error::other)?;
        let mut shared = self.shared.borrow_mut();
        shared.undo.saved.push((self.pos, old));
        // The cached block is forgotten first: it must not outlive a failed write.
        let (start, data) = std::mem::take(&mut shared.block);
        self.dev.write_at(buf, self.pos).map_err(io::Error::other)?;
        let end = self.pos + buf.len() as u64;
        let block_end = start + data.len() as u64;
        let mut data = data;
        if self.pos < block_end && start < end {
            let (lo, hi) = (self.pos.max(start), end.min(block_end));
            data[(lo - start) as usize..(hi - start) as usize]
                .copy_from_slice(&buf[(lo - self.pos) as usize..(hi - self.pos) as usize]);
        }
        shared.block = (start, data);
        self.pos = end;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Every write reaches the device at once; durability is `Filesystem::sync`'s job.
        Ok(())
    }
}

impl Seek for DevIo {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.pos = crate::disk::seek_target(pos, self.pos, self.dev.len())?;
        Ok(self.pos)
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
        let mut io = DevIo::new(mem.clone(), None);
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
        let shared = Rc::new(RefCell::new(Shared::default()));
        let mut io = DevIo::writable(dev.clone(), shared.clone());
        let mut other = DevIo::writable(dev.clone(), shared.clone());
        let mut buf = [0u8; 3];
        other.read_exact(&mut buf).unwrap();
        io.seek(SeekFrom::Start(2)).unwrap();
        io.write_all(&[100, 101, 102]).unwrap();
        io.seek(SeekFrom::Start(3)).unwrap();
        io.write_all(&[200]).unwrap();
        io.seek(SeekFrom::Start(15)).unwrap();
        assert!(io.write(&[1, 2]).is_err());
        assert_eq!(&mem.contents()[..6], &[0, 1, 100, 200, 102, 5]);
        assert_eq!(mem.contents()[15], 15);
        // The other stream of the transaction sees the writes (the cached block follows them).
        other.seek(SeekFrom::Start(1)).unwrap();
        other.read_exact(&mut buf).unwrap();
        assert_eq!(buf, [1, 100, 200]);
        drop((io, other));
        Rc::try_unwrap(shared).ok().unwrap().into_inner().undo.rollback(&dev).unwrap();
        assert_eq!(mem.contents(), (0u8..16).collect::<Vec<_>>());
    }
}
