//! The directory and attribute name hash (`xfs_da_hashname`): names are indexed by it in
//! leaf, node and attribute blocks.

/// The hash of `name`.
pub fn hashname(name: &[u8]) -> u32 {
    let mut hash: u32 = 0;
    let mut chunks = name.chunks_exact(4);
    for c in &mut chunks {
        hash = (u32::from(c[0]) << 21) ^ (u32::from(c[1]) << 14) ^ (u32::from(c[2]) << 7) ^ u32::from(c[3]) ^ hash.rotate_left(28);
    }
    match *chunks.remainder() {
        [a, b, c] => (u32::from(a) << 14) ^ (u32::from(b) << 7) ^ u32::from(c) ^ hash.rotate_left(21),
        [a, b] => (u32::from(a) << 7) ^ u32::from(b) ^ hash.rotate_left(14),
        [a] => u32::from(a) ^ hash.rotate_left(7),
        _ => hash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // "." and ".." as xfs_db's `hash` command prints them.
        assert_eq!(hashname(b"."), 0x2e);
        assert_eq!(hashname(b".."), 0x172e);
        assert_eq!(hashname(b""), 0);
    }
}
