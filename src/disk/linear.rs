//! A concatenation of extents of other devices: LVM linear segments.

use super::{check_range, BlockDev, Dev, Error, Result};

/// `len` bytes of `dev` starting at byte `offset`: one piece of a [`Linear`] device.
#[derive(Clone)]
pub struct Extent {
    /// The device holding the data.
    pub dev: Dev,
    /// Start of the piece in `dev`, in bytes.
    pub offset: u64,
    /// Length of the piece, in bytes.
    pub len: u64,
}

/// A device made of extents laid end to end.
pub struct Linear {
    extents: Vec<Extent>,
    /// Logical start of each extent (prefix sums), same length as `extents`.
    starts: Vec<u64>,
    len: u64,
    name: String,
}

impl Linear {
    /// Builds the device; each extent must lie inside its device.
    pub fn new(extents: Vec<Extent>, name: impl Into<String>) -> Result<Linear> {
        let name = name.into();
        let mut starts = Vec::with_capacity(extents.len());
        let mut len: u64 = 0;
        for e in &extents {
            match e.offset.checked_add(e.len) {
                Some(end) if end <= e.dev.len() => {}
                _ => return Err(Error::OutOfRange { dev: e.dev.name(), offset: e.offset, len: e.len, size: e.dev.len() }),
            }
            starts.push(len);
            len = len.checked_add(e.len).ok_or_else(|| Error::OutOfRange {
                dev: name.clone(),
                offset: len,
                len: e.len,
                size: u64::MAX,
            })?;
        }
        Ok(Linear { extents, starts, len, name })
    }

    /// Runs `f(extent, offset in extent, range of buf)` over the pieces covering `len` bytes at `off`.
    fn each_piece(
        &self,
        off: u64,
        len: usize,
        mut f: impl FnMut(&Extent, u64, std::ops::Range<usize>) -> Result<()>,
    ) -> Result<()> {
        check_range(&|| self.name.clone(), off, len, self.len)?;
        let mut done = 0usize;
        // index of the extent containing `off`
        let mut i = self.starts.partition_point(|&s| s <= off).saturating_sub(1);
        while done < len {
            let pos = off + done as u64;
            let (e, start) = (&self.extents[i], self.starts[i]);
            let within = pos - start;
            let n = ((e.len - within) as usize).min(len - done);
            if n > 0 {
                f(e, e.offset + within, done..done + n)?;
            }
            done += n;
            i += 1;
        }
        Ok(())
    }
}

impl BlockDev for Linear {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> Result<()> {
        self.each_piece(off, buf.len(), |e, at, r| e.dev.read_at(&mut buf[r], at))
    }

    fn write_at(&self, buf: &[u8], off: u64) -> Result<()> {
        if !self.is_writable() {
            return Err(Error::ReadOnly { dev: self.name.clone() });
        }
        self.each_piece(off, buf.len(), |e, at, r| e.dev.write_at(&buf[r], at))
    }

    fn write_zeroes(&self, off: u64, len: u64) -> Result<()> {
        if !self.is_writable() {
            return Err(Error::ReadOnly { dev: self.name.clone() });
        }
        let n = usize::try_from(len)
            .map_err(|_| Error::OutOfRange { dev: self.name.clone(), offset: off, len, size: self.len })?;
        self.each_piece(off, n, |e, at, r| e.dev.write_zeroes(at, r.len() as u64))
    }

    fn flush(&self) -> Result<()> {
        for e in &self.extents {
            e.dev.flush()?;
        }
        Ok(())
    }

    fn is_writable(&self) -> bool {
        self.extents.iter().all(|e| e.dev.is_writable())
    }

    fn buffers_until_commit(&self) -> bool {
        self.extents.iter().all(|e| e.dev.buffers_until_commit())
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::slice::tests::pattern_dev;

    #[test]
    fn reads_across_extents() {
        let dev = pattern_dev(10_000);
        let lin = Linear::new(
            vec![
                Extent { dev: dev.clone(), offset: 5000, len: 100 },
                Extent { dev: dev.clone(), offset: 0, len: 0 },
                Extent { dev: dev.clone(), offset: 1000, len: 200 },
            ],
            "/dev/vg/lv",
        )
        .unwrap();
        assert_eq!(lin.len(), 300);
        let mut buf = vec![0u8; 300];
        lin.read_at(&mut buf, 0).unwrap();
        let expect: Vec<u8> = (5000..5100).chain(1000..1200).map(|i| (i % 251) as u8).collect();
        assert_eq!(buf, expect);
        let mut b = [0u8; 10];
        lin.read_at(&mut b, 95).unwrap();
        assert_eq!(&b[..], &expect[95..105]);
        assert!(lin.read_at(&mut b, 295).is_err());
        assert!(Linear::new(vec![Extent { dev, offset: 9_999, len: 2 }], "x").is_err());
    }
}
