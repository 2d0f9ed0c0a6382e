//! LZNT1, the compression of NTFS compressed attributes (the `ntfs` crate reads compressed
//! values raw). A compression unit (16 clusters) is stored as a sequence of chunks, each
//! holding up to 4096 bytes of output: a 16-bit header (bits 0–11 the chunk's stored size
//! minus 3, header included; bit 15 set when compressed), then either the 4096 bytes raw
//! or groups of one flag byte and eight tokens — a literal byte (flag bit 0) or a 16-bit
//! back-reference (flag bit 1) whose split between offset and length bits depends on how
//! much of the chunk has been produced: 12 length bits while fewer than 16 bytes are out, one
//! fewer for every doubling after. A header of 0 ends the unit.

/// Output size of one chunk.
const CHUNK: usize = 4096;

/// Decompresses the compression unit `src` into `out` (the unit's size): the bytes not
/// produced (the unit ended early) are zeros. An error names what is malformed.
pub(super) fn decompress(src: &[u8], out: &mut [u8]) -> Result<(), String> {
    let mut s = 0usize;
    let mut o = 0usize;
    while s + 2 <= src.len() && o < out.len() {
        let header = u16::from_le_bytes([src[s], src[s + 1]]);
        if header == 0 {
            break;
        }
        let stored = usize::from(header & 0x0fff) + 1;
        let body = src.get(s + 2..s + 2 + stored).ok_or_else(|| format!("LZNT1 chunk at {s} runs past its compression unit"))?;
        s += 2 + stored;
        let end = (o + CHUNK).min(out.len());
        if header & 0x8000 == 0 {
            let n = body.len().min(end - o);
            out[o..o + n].copy_from_slice(&body[..n]);
            out[o + n..end].fill(0);
            o = end;
            continue;
        }
        o = chunk(body, out, o, end)?;
    }
    out[o..].fill(0);
    Ok(())
}

/// Decompresses one compressed chunk into `out[start..end]`; returns where its output ended.
fn chunk(body: &[u8], out: &mut [u8], start: usize, end: usize) -> Result<usize, String> {
    let mut i = 0usize;
    let mut o = start;
    while i < body.len() && o < end {
        let flags = body[i];
        i += 1;
        for bit in 0..8 {
            if i >= body.len() || o >= end {
                break;
            }
            if flags & (1 << bit) == 0 {
                out[o] = body[i];
                o += 1;
                i += 1;
                continue;
            }
            let token = u16::from_le_bytes([body[i], *body.get(i + 1).ok_or("LZNT1 back-reference cut short")?]);
            i += 2;
            if o == start {
                return Err("LZNT1 back-reference at the start of a chunk".into());
            }
            let mut shift = 12u32;
            let mut p = o - start - 1;
            while p >= 0x10 {
                shift -= 1;
                p >>= 1;
            }
            let back = usize::from(token >> shift) + 1;
            let len = usize::from(token & (0xffff >> (16 - shift))) + 3;
            if back > o - start {
                return Err(format!("LZNT1 back-reference {back} bytes before the start of its chunk"));
            }
            // Overlapping copies repeat the pattern, byte by byte.
            for _ in 0..len.min(end - o) {
                out[o] = out[o - back];
                o += 1;
            }
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_back_references() {
        // "abcabcabcabc" + "x": literals a b c, then a reference back 3 for 9 bytes, literal x.
        // At 3 bytes out, shift is 12: token = (back-1) << 12 | (len-3) = 0x2006.
        let body = [0b0000_1000u8, b'a', b'b', b'c', 0x06, 0x20, b'x'];
        let mut src = vec![];
        src.extend_from_slice(&(0x8000 | (body.len() as u16 - 1)).to_le_bytes());
        src.extend_from_slice(&body);
        let mut out = vec![1u8; 8192];
        decompress(&src, &mut out).unwrap();
        assert_eq!(&out[..13], b"abcabcabcabcx");
        assert!(out[13..].iter().all(|&b| b == 0));
    }

    #[test]
    fn raw_chunk_and_bad_input() {
        let mut src = vec![0xff, 0x3f];
        src.extend(std::iter::repeat_n(7u8, 4096));
        let mut out = vec![0u8; 4096];
        decompress(&src, &mut out).unwrap();
        assert!(out.iter().all(|&b| b == 7));
        // A reference before the chunk's start, and a chunk longer than its source.
        assert!(decompress(&[0x02, 0x80, 0x01, 0x00, 0x10], &mut out).is_err());
        assert!(decompress(&[0x10, 0x80, 0x00], &mut out).is_err());
    }
}
