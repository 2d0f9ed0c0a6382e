//! Checksums of superblocks and tree blocks: the first 32 bytes hold the checksum of the
//! rest; only crc32c (type 0) is computed, the other types are named to be refused.

/// The crc32c btrfs stores in the first 4 bytes of a superblock or tree block, over the bytes
/// after the 32-byte checksum field.
pub fn crc32c(b: &[u8]) -> u32 {
    crc32c::crc32c(b.get(32..).unwrap_or(&[]))
}

/// The name of checksum type `t`.
pub fn name(t: u16) -> String {
    match t {
        0 => "crc32c".into(),
        1 => "xxhash64".into(),
        2 => "sha256".into(),
        3 => "blake2b".into(),
        t => format!("checksum type {t}"),
    }
}
