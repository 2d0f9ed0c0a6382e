//! An LZO1X decoder (the format of `lzo1x_1_compress`, as btrfs and the Linux kernel use it),
//! written from the format's description: literal runs and matches coded in 1–3 byte
//! instructions, lengths extended by zero bytes, the state (how many literals followed the
//! last instruction) selecting the meaning of short codes. Bounded: every read and copy is
//! checked against the input, the output limit and the data already produced.

/// Decodes one LZO1X stream from `input`, appending at most `room` bytes to `out`. Back
/// references may only reach data this stream produced.
pub fn decompress(input: &[u8], out: &mut Vec<u8>, room: usize) -> Result<(), String> {
    let mut d = Decoder { input, ip: 0, o: Vec::with_capacity(room.min(1 << 20)), room };
    d.run()?;
    out.extend_from_slice(&d.o);
    Ok(())
}

struct Decoder<'a> {
    input: &'a [u8],
    ip: usize,
    o: Vec<u8>,
    room: usize,
}

impl Decoder<'_> {
    fn byte(&mut self) -> Result<usize, String> {
        let b = *self.input.get(self.ip).ok_or_else(|| format!("input ends at {}", self.ip))?;
        self.ip += 1;
        Ok(usize::from(b))
    }

    fn le16(&mut self) -> Result<usize, String> {
        let lo = self.byte()?;
        Ok(lo | (self.byte()? << 8))
    }

    /// A length extension: each zero byte adds 255, then the first non-zero byte.
    fn ext(&mut self) -> Result<usize, String> {
        let mut n = 0usize;
        loop {
            let b = self.byte()?;
            if b != 0 {
                return Ok(n + b);
            }
            n += 255;
        }
    }

    fn literals(&mut self, n: usize) -> Result<(), String> {
        if self.o.len() + n > self.room {
            return Err(format!("output past {} bytes", self.room));
        }
        let src = self.input.get(self.ip..self.ip + n).ok_or_else(|| format!("{n} literals at {} past the input", self.ip))?;
        self.o.extend_from_slice(src);
        self.ip += n;
        Ok(())
    }

    fn copy(&mut self, dist: usize, len: usize) -> Result<(), String> {
        if dist == 0 || dist > self.o.len() {
            return Err(format!("match distance {dist} with {} bytes decoded", self.o.len()));
        }
        if self.o.len() + len > self.room {
            return Err(format!("output past {} bytes", self.room));
        }
        let start = self.o.len() - dist;
        for i in 0..len {
            let b = self.o[start + i];
            self.o.push(b);
        }
        Ok(())
    }

    fn run(&mut self) -> Result<(), String> {
        // state: literals copied after the last instruction (0, 1..3), 4 after a literal run
        let mut state = 0usize;
        let first = usize::from(*self.input.first().ok_or("empty input")?);
        if first > 17 {
            self.ip = 1;
            let t = first - 17;
            self.literals(t)?;
            state = if t < 4 { t } else { 4 };
        }
        loop {
            let t = self.byte()?;
            let (dist, len, trailing);
            if t < 16 {
                match state {
                    0 => {
                        let n = if t == 0 { 15 + self.ext()? } else { t };
                        self.literals(n + 3)?;
                        state = 4;
                        continue;
                    }
                    4 => {
                        let b = self.byte()?;
                        (dist, len) = (1 + 0x800 + (t >> 2) + (b << 2), 3);
                    }
                    _ => {
                        let b = self.byte()?;
                        (dist, len) = (1 + (t >> 2) + (b << 2), 2);
                    }
                }
                trailing = t & 3;
            } else if t >= 64 {
                let b = self.byte()?;
                (dist, len, trailing) = (1 + ((t >> 2) & 7) + (b << 3), (t >> 5) + 1, t & 3);
            } else if t >= 32 {
                let n = if t & 31 == 0 { 31 + self.ext()? } else { t & 31 };
                let v = self.le16()?;
                (dist, len, trailing) = (1 + (v >> 2), n + 2, v & 3);
            } else {
                let n = if t & 7 == 0 { 7 + self.ext()? } else { t & 7 };
                let v = self.le16()?;
                let d = ((t & 8) << 11) + (v >> 2);
                if d == 0 {
                    return Ok(()); // end of stream
                }
                (dist, len, trailing) = (d + 0x4000, n + 2, v & 3);
            }
            self.copy(dist, len)?;
            self.literals(trailing)?;
            state = trailing;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_run_match_and_end() {
        // first byte 17+5: five literals; then an M2 match (len 3, dist 5); then the end marker
        let mut s = vec![22, b'h', b'e', b'l', b'l', b'o'];
        // M2: t = ((len-1) << 5) | ((dist-1) & 7) << 2 | trailing, next byte (dist-1) >> 3
        s.extend_from_slice(&[(2 << 5) | (4 << 2), 0]);
        s.extend_from_slice(&[0x11, 0, 0]);
        let mut out = Vec::new();
        decompress(&s, &mut out, 100).unwrap();
        assert_eq!(out, b"hellohel");
        // bounded output and input
        assert!(decompress(&s, &mut Vec::new(), 6).is_err());
        assert!(decompress(&s[..7], &mut Vec::new(), 100).is_err());
        // a match before any output
        assert!(decompress(&[0x11 + 1, b'a', 0x40, 0xff], &mut Vec::new(), 100).is_err());
    }
}
