//! A striped map (dm-striped): chunks of `stripe_size` bytes taken from each stripe in turn.

use crate::disk::{self, BlockDev, Extent};

/// A device striped over equal-length pieces of other devices.
pub struct Striped {
    stripes: Vec<Extent>,
    stripe_size: u64,
    len: u64,
    name: String,
}

impl Striped {
    /// Builds the map. Every stripe must have the same length, a multiple of `stripe_size`
    /// (nonzero), and lie inside its device; the error says what is wrong otherwise.
    pub fn new(stripes: Vec<Extent>, stripe_size: u64, name: impl Into<String>) -> Result<Striped, String> {
        let name = name.into();
        let per = stripes.first().map_or(0, |e| e.len);
        if stripes.is_empty() || stripe_size == 0 || per % stripe_size != 0 {
            return Err(format!("{name}: invalid striped map ({} stripes of {per} bytes, stripe size {stripe_size})", stripes.len()));
        }
        for e in &stripes {
            if e.len != per {
                return Err(format!("{name}: stripes of unequal length ({} and {per} bytes)", e.len));
            }
            if e.offset.checked_add(e.len).is_none_or(|end| end > e.dev.len()) {
                return Err(format!(
                    "{name}: stripe at offset {} ({} bytes) lies beyond the end of {} ({} bytes)",
                    e.offset,
                    e.len,
                    e.dev.name(),
                    e.dev.len()
                ));
            }
        }
        let len = per
            .checked_mul(stripes.len() as u64)
            .ok_or_else(|| format!("{name}: striped size overflows"))?;
        Ok(Striped { stripes, stripe_size, len, name })
    }

    /// Runs `f(extent, device offset, buffer range)` for each chunk of `len` bytes at `off`.
    fn each_chunk(
        &self,
        off: u64,
        len: usize,
        mut f: impl FnMut(&Extent, u64, std::ops::Range<usize>) -> disk::Result<()>,
    ) -> disk::Result<()> {
        if off.checked_add(len as u64).is_none_or(|end| end > self.len) {
            return Err(disk::Error::OutOfRange { dev: self.name.clone(), offset: off, len: len as u64, size: self.len });
        }
        let n = self.stripes.len() as u64;
        let mut done = 0usize;
        while done < len {
            let pos = off + done as u64;
            let chunk = pos / self.stripe_size;
            let within = pos % self.stripe_size;
            let stripe = &self.stripes[(chunk % n) as usize];
            let at = stripe.offset + (chunk / n) * self.stripe_size + within;
            let k = ((self.stripe_size - within) as usize).min(len - done);
            f(stripe, at, done..done + k)?;
            done += k;
        }
        Ok(())
    }
}

impl BlockDev for Striped {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> disk::Result<()> {
        self.each_chunk(off, buf.len(), |e, at, r| e.dev.read_at(&mut buf[r], at))
    }

    fn write_at(&self, buf: &[u8], off: u64) -> disk::Result<()> {
        if !self.is_writable() {
            return Err(disk::Error::ReadOnly { dev: self.name.clone() });
        }
        self.each_chunk(off, buf.len(), |e, at, r| e.dev.write_at(&buf[r], at))
    }

    fn write_zeroes(&self, off: u64, len: u64) -> disk::Result<()> {
        if !self.is_writable() {
            return Err(disk::Error::ReadOnly { dev: self.name.clone() });
        }
        let n = usize::try_from(len)
            .map_err(|_| disk::Error::OutOfRange { dev: self.name.clone(), offset: off, len, size: self.len })?;
        self.each_chunk(off, n, |e, at, r| e.dev.write_zeroes(at, r.len() as u64))
    }

    fn flush(&self) -> disk::Result<()> {
        self.stripes.iter().try_for_each(|e| e.dev.flush())
    }

    fn is_writable(&self) -> bool {
        self.stripes.iter().all(|e| e.dev.is_writable())
    }

    fn buffers_until_commit(&self) -> bool {
        self.stripes.iter().all(|e| e.dev.buffers_until_commit())
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::{Dev, MemDev};
    use std::sync::Arc;

    #[test]
    fn interleaves_chunks() {
        let a: Dev = Arc::new(MemDev::new((0..64u8).collect()));
        let b: Dev = Arc::new(MemDev::new((100..164u8).collect()));
        let s = Striped::new(
            vec![Extent { dev: a.clone(), offset: 8, len: 16 }, Extent { dev: b.clone(), offset: 0, len: 16 }],
            4,
            "/dev/vg/s",
        )
        .unwrap();
        assert_eq!(s.len(), 32);
        let mut buf = vec![0u8; 32];
        s.read_at(&mut buf, 0).unwrap();
        let expect: Vec<u8> = [8, 9, 10, 11, 100, 101, 102, 103, 12, 13, 14, 15, 104, 105, 106, 107]
            .into_iter()
            .chain([16, 17, 18, 19, 108, 109, 110, 111, 20, 21, 22, 23, 112, 113, 114, 115])
            .collect();
        assert_eq!(buf, expect);
        let mut part = [0u8; 7];
        s.read_at(&mut part, 3).unwrap();
        assert_eq!(&part[..], &expect[3..10]);
        assert!(s.read_at(&mut part, 30).is_err());
        assert!(Striped::new(vec![Extent { dev: a.clone(), offset: 60, len: 8 }], 4, "x").is_err());
        assert!(Striped::new(vec![Extent { dev: a, offset: 0, len: 8 }, Extent { dev: b, offset: 0, len: 4 }], 4, "x").is_err());
    }
}
