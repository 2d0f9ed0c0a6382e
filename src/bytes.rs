//! Bounds-checked reads of integers and byte ranges from on-disk structures: out of range
//! gives zeros or an empty slice, never a panic, so parsers can read fields of untrusted data
//! and validate the values afterwards.

/// `len` bytes of `b` at `at`, or an empty slice when out of range.
pub(crate) fn bytes(b: &[u8], at: usize, len: usize) -> &[u8] {
    at.checked_add(len).and_then(|end| b.get(at..end)).unwrap_or(&[])
}

/// Fixed-size array at `at` (zeros when out of range).
pub(crate) fn array<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    bytes(b, at, N).try_into().unwrap_or([0; N])
}

/// Little-endian u16 at `at` (0 when out of range).
pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(array(b, at))
}

/// Little-endian u32 at `at` (0 when out of range).
pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(array(b, at))
}

/// Little-endian u64 at `at` (0 when out of range).
pub(crate) fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(array(b, at))
}

/// Big-endian u16 at `at` (0 when out of range).
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(array(b, at))
}

/// Big-endian u32 at `at` (0 when out of range).
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(array(b, at))
}

/// Big-endian u64 at `at` (0 when out of range).
pub(crate) fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(array(b, at))
}
