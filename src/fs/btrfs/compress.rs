//! Decompression of compressed extents, per extent as btrfs stores them: zlib (one zlib
//! stream, flate2), zstd (one frame, ruzstd) and LZO (btrfs's own framing around LZO1X
//! segments, decoded by [`super::lzo`]). Output is bounded by the extent's `ram_bytes`; data
//! that ends early reads as zeros past its end, as the kernel fills it.

use super::extent::Compression;
use crate::bytes::le32;
use std::io::Read;

/// Largest uncompressed extent accepted (btrfs writes at most 128 KiB per compressed extent).
pub const MAX_RAM_BYTES: u64 = 1 << 20;

/// Decompresses `input` into `ram_bytes` bytes. `sectorsize` is the LZO segment alignment.
pub fn decompress(kind: Compression, input: &[u8], ram_bytes: u64, sectorsize: u32) -> Result<Vec<u8>, String> {
    if ram_bytes > MAX_RAM_BYTES {
        return Err(format!("compressed extent of {ram_bytes} bytes uncompressed (at most {MAX_RAM_BYTES})"));
    }
    let want = ram_bytes as usize;
    let mut out = match kind {
        Compression::None => input.get(..want).unwrap_or(input).to_vec(),
        Compression::Zlib => read_to(flate2::read::ZlibDecoder::new(input), want).map_err(|e| format!("zlib: {e}"))?,
        Compression::Zstd => {
            let mut src = input;
            let dec = ruzstd::decoding::StreamingDecoder::new(&mut src).map_err(|e| format!("zstd: not a frame ({e})"))?;
            read_to(dec, want).map_err(|e| format!("zstd: {e}"))?
        }
        Compression::Lzo => lzo_segments(input, want, sectorsize)?,
    };
    out.resize(want, 0);
    Ok(out)
}

/// Reads up to `want` bytes.
fn read_to<R: Read>(r: R, want: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(want);
    r.take(want as u64).read_to_end(&mut out)?;
    Ok(out)
}

/// btrfs LZO: a 4-byte total length (including itself), then segments, each a 4-byte length
/// and LZO1X data decoding to at most one sector; a segment header never straddles a sector
/// boundary (the space left is skipped).
fn lzo_segments(input: &[u8], want: usize, sectorsize: u32) -> Result<Vec<u8>, String> {
    let sector = sectorsize as usize;
    if input.len() < 4 {
        return Err(format!("lzo: {} bytes", input.len()));
    }
    let total = le32(input, 0) as usize;
    if total < 4 || total > input.len() {
        return Err(format!("lzo: total length {total} of {} bytes", input.len()));
    }
    let mut out = Vec::with_capacity(want);
    let mut pos = 4;
    while out.len() < want && pos < total {
        let left_in_sector = sector - pos % sector;
        if left_in_sector < 4 {
            pos += left_in_sector;
            if pos >= total {
                break;
            }
        }
        if pos + 4 > total {
            return Err(format!("lzo: segment header at {pos} past the total length {total}"));
        }
        let len = le32(input, pos) as usize;
        pos += 4;
        let seg = input.get(pos..pos.saturating_add(len)).filter(|_| pos + len <= total).ok_or_else(|| format!("lzo: segment of {len} bytes at {pos} past the data"))?;
        let room = (want - out.len()).min(sector);
        let before = out.len();
        super::lzo::decompress(seg, &mut out, room).map_err(|e| format!("lzo: segment at {}: {e}", pos - 4))?;
        if out.len() == before {
            return Err(format!("lzo: empty segment at {}", pos - 4));
        }
        pos += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn zlib_and_zstd_and_bounds() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 97) as u8).collect();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&data).unwrap();
        let zz = z.finish().unwrap();
        assert_eq!(decompress(Compression::Zlib, &zz, 100_000, 4096).unwrap(), data);
        // shorter stream than ram_bytes: zero-filled
        let mut more = data.clone();
        more.resize(110_000, 0);
        assert_eq!(decompress(Compression::Zlib, &zz, 110_000, 4096).unwrap(), more);
        assert!(decompress(Compression::Zlib, b"garbage!", 100, 4096).is_err());
        assert!(decompress(Compression::Zstd, b"garbage!", 100, 4096).is_err());
        assert!(decompress(Compression::Zlib, &zz, MAX_RAM_BYTES + 1, 4096).is_err());
        assert!(decompress(Compression::Lzo, &[0xff; 3], 100, 4096).is_err());
        assert!(decompress(Compression::Lzo, &[200, 0, 0, 0, 1, 2], 100, 4096).is_err());
    }
}
