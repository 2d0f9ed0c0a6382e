//! Symbolic link targets: inside the inode (local format) or in remote blocks of the data
//! fork, each v5 extent (one buffer, as the kernel reads and writes it) starting with a header (`xfs_dsymlink_hdr`: magic XSLM, offset, byte
//! count, CRC, UUID, owner, block address).

use crate::bytes::{be32, be64};
use crate::fs::xfs::crc;

/// Longest target (`XFS_SYMLINK_MAXLEN`).
pub const MAXLEN: u64 = 1024;
/// Most blocks a remote target spans (`XFS_SYMLINK_MAPS`).
pub const MAX_BLOCKS: u64 = 3;
/// v5 remote block header length.
pub const HDR: usize = 56;
const XSLM: u32 = 0x5853_4c4d;

/// Checks a v5 remote symlink buffer (`b` is one extent's blocks at sector address `daddr`)
/// and returns its payload: `want` bytes expected at target offset `offset`.
pub fn remote_block<'a>(b: &'a [u8], ino: u64, uuid: &[u8; 16], daddr: u64, offset: u32) -> Result<&'a [u8], String> {
    if be32(b, 0) != XSLM {
        return Err(format!("symlink {ino}: remote block bad magic"));
    }
    if !crc::verify(b, 12) {
        return Err(format!("symlink {ino}: remote block bad CRC"));
    }
    if b.get(16..32) != Some(&uuid[..]) || be64(b, 32) != ino || be64(b, 40) != daddr || be32(b, 4) != offset {
        return Err(format!("symlink {ino}: remote block of another symlink or place"));
    }
    let n = be32(b, 8) as usize;
    b.get(HDR..HDR + n).ok_or_else(|| format!("symlink {ino}: remote block claims {n} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_header() {
        let mut b = vec![0u8; 512];
        b[0..4].copy_from_slice(&XSLM.to_be_bytes());
        b[8..12].copy_from_slice(&3u32.to_be_bytes());
        b[32..40].copy_from_slice(&9u64.to_be_bytes());
        b[56..59].copy_from_slice(b"abc");
        crc::stamp(&mut b, 12);
        assert_eq!(remote_block(&b, 9, &[0; 16], 0, 0).unwrap(), b"abc");
        assert!(remote_block(&b, 8, &[0; 16], 0, 0).is_err());
        b[8..12].copy_from_slice(&3000u32.to_be_bytes());
        crc::stamp(&mut b, 12);
        assert!(remote_block(&b, 9, &[0; 16], 0, 0).unwrap_err().contains("claims"));
        b[57] = 1;
        assert!(remote_block(&b, 9, &[0; 16], 0, 0).unwrap_err().contains("CRC"));
    }
}
