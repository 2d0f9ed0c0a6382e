//! The CRC32c that v5 metadata carries: computed over the whole structure with its own CRC
//! field read as zero, stored little-endian.

/// The CRC32c of `b` with the 4 bytes at `off` taken as zeros.
pub fn compute(b: &[u8], off: usize) -> u32 {
    let (head, rest) = b.split_at(off.min(b.len()));
    let tail = rest.get(4..).unwrap_or(&[]);
    let c = crc32c::crc32c(head);
    let c = crc32c::crc32c_append(c, &[0; 4]);
    crc32c::crc32c_append(c, tail)
}

/// Whether the CRC stored at `off` of `b` matches.
pub fn verify(b: &[u8], off: usize) -> bool {
    match b.get(off..off + 4) {
        Some(s) => u32::from_le_bytes([s[0], s[1], s[2], s[3]]) == compute(b, off),
        None => false,
    }
}

/// Stores the CRC of `b` at `off` (tests build hostile structures with it).
#[cfg(test)]
pub fn stamp(b: &mut [u8], off: usize) {
    let c = compute(b, off);
    b[off..off + 4].copy_from_slice(&c.to_le_bytes());
}
