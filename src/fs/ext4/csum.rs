//! The checksums a grow rewrites: ext4's raw CRC32C (`ext2fs_crc32c_le`, no final inversion)
//! for `metadata_csum` superblocks, group descriptors, bitmaps and inodes, and the CRC16 of
//! `uninit_bg` (`gdt_csum`) group descriptors.

/// `ext2fs_crc32c_le(seed, data)`: CRC32C (Castagnoli) updated from `seed`, without the
/// pre/post inversion of the standard CRC.
pub(super) fn crc32c_raw(seed: u32, data: &[u8]) -> u32 {
    !crc32c::crc32c_append(!seed, data)
}

/// `ext2fs_crc16(seed, data)`: CRC-16 with the reflected polynomial 0xA001 (CRC-16/ARC
/// without its zero initial value), as the kernel's `crc16`.
pub(super) fn crc16(seed: u16, data: &[u8]) -> u16 {
    let mut crc = seed;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xA001 } else { crc >> 1 };
        }
    }
    crc
}

/// The superblock checksum (`s_checksum` at 0x3FC): CRC32C of the first 0x3FC bytes.
pub(super) fn superblock(sb: &[u8]) -> u32 {
    crc32c_raw(!0, &sb[..0x3FC])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_raw_matches_the_standard_crc() {
        // standard CRC32C("123456789") = 0xE3069283; raw = inverted, from seed !0
        assert_eq!(!crc32c_raw(!0, b"123456789"), 0xE306_9283);
        // chaining: raw(raw(s, a), b) = raw(s, a ++ b)
        assert_eq!(crc32c_raw(crc32c_raw(7, b"1234"), b"56789"), crc32c_raw(7, b"123456789"));
    }

    #[test]
    fn crc16_matches_crc16_arc() {
        // CRC-16/ARC("123456789") = 0xBB3D (initial value 0)
        assert_eq!(crc16(0, b"123456789"), 0xBB3D);
    }
}
