//! Remote attribute value blocks (`xfs_attr_remote.c`): a value too large to be local in a
//! leaf entry lies in its own run of attribute-fork blocks, the leaf entry naming the first
//! (`valueblk`) and the length. On v5 every block starts with an `xfs_attr3_rmt_hdr` (magic
//! XARM, the value offset and byte count it holds, CRC, UUID, owner inode, its own disk
//! address, and an LSN the kernel sets to `NULLCOMMITLSN` since these blocks never pass
//! through the log) and holds `blocksize - 56` bytes of the value; v4 blocks are the bare
//! value, the last one zero-padded.

use super::crc;
use crate::bytes::{be32, be64};

/// `XFS_ATTR3_RMT_MAGIC` ("XARM").
pub const MAGIC: u32 = 0x5841_524d;
/// v5 header length.
pub const HDR: usize = 56;
/// Where the v5 header keeps its CRC.
const CRC_OFF: usize = 12;
/// `NULLCOMMITLSN`: the LSN of every remote value block (log recovery overwrites it).
pub const NULL_LSN: u64 = u64::MAX;
/// `XFS_XATTR_SIZE_MAX`.
pub const MAX_VALUE: usize = 65536;

/// Value bytes one block holds (`XFS_ATTR3_RMT_BUF_SPACE`).
pub fn space(blocksize: usize, crc: bool) -> usize {
    blocksize - if crc { HDR } else { 0 }
}

/// Blocks a value of `len` bytes takes (`xfs_attr3_rmt_blocks`).
pub fn blocks(len: usize, blocksize: usize, crc: bool) -> u64 {
    len.div_ceil(space(blocksize, crc)) as u64
}

/// A v5 remote block's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `rm_offset`: where in the value this block's bytes start.
    pub offset: u32,
    /// `rm_bytes`: value bytes in this block.
    pub bytes: u32,
    /// `rm_uuid`.
    pub uuid: [u8; 16],
    /// `rm_owner`.
    pub owner: u64,
    /// `rm_blkno`: the block's own address (512-byte units).
    pub daddr: u64,
    /// `rm_lsn`.
    pub lsn: u64,
}

/// The header of v5 remote block `b`, checked as `xfs_attr3_rmt_verify` checks it (magic,
/// CRC, the bytes inside the block and the value inside 64 KiB, an owner); the caller checks
/// the owner, address and UUID are those expected.
pub fn decode_header(b: &[u8]) -> Result<Header, String> {
    if b.len() < HDR {
        return Err(format!("remote attribute value block of {} bytes", b.len()));
    }
    if be32(b, 0) != MAGIC {
        return Err("remote attribute value block: bad magic".into());
    }
    if !crc::verify(b, CRC_OFF) {
        return Err("remote attribute value block: bad CRC".into());
    }
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&b[16..32]);
    let h = Header { offset: be32(b, 4), bytes: be32(b, 8), uuid, owner: be64(b, 32), daddr: be64(b, 40), lsn: be64(b, 48) };
    if h.bytes as usize > b.len() - HDR || h.offset as usize + h.bytes as usize > MAX_VALUE || h.owner == 0 {
        return Err(format!("remote attribute value block: {} bytes at value offset {} (owner {})", h.bytes, h.offset, h.owner));
    }
    Ok(h)
}

/// The blocks of `value` as stored at the disk addresses `daddrs` (one per block, 512-byte
/// units; [`blocks`] of them) for inode `ino` of the filesystem with metadata UUID `uuid`:
/// v5 headers set and checksummed, the last block zero-padded.
pub fn encode(value: &[u8], blocksize: usize, crc: bool, ino: u64, uuid: &[u8; 16], daddrs: &[u64]) -> Vec<Vec<u8>> {
    let per = space(blocksize, crc);
    let hdr = if crc { HDR } else { 0 };
    value
        .chunks(per)
        .zip(daddrs)
        .enumerate()
        .map(|(k, (part, &daddr))| {
            let mut b = vec![0u8; blocksize];
            b[hdr..hdr + part.len()].copy_from_slice(part);
            if crc {
                b[0..4].copy_from_slice(&MAGIC.to_be_bytes());
                b[4..8].copy_from_slice(&((k * per) as u32).to_be_bytes());
                b[8..12].copy_from_slice(&(part.len() as u32).to_be_bytes());
                b[16..32].copy_from_slice(uuid);
                b[32..40].copy_from_slice(&ino.to_be_bytes());
                b[40..48].copy_from_slice(&daddr.to_be_bytes());
                b[48..56].copy_from_slice(&NULL_LSN.to_be_bytes());
                let c = crc::compute(&b, CRC_OFF);
                b[CRC_OFF..CRC_OFF + 4].copy_from_slice(&c.to_le_bytes());
            }
            b
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_split_into_blocks_and_headers_decode() {
        assert_eq!(blocks(65536, 4096, true), 17);
        assert_eq!(blocks(65536, 4096, false), 16);
        assert_eq!(blocks(4040, 4096, true), 1);
        assert_eq!(blocks(4041, 4096, true), 2);
        let value: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let bs = encode(&value, 4096, true, 131, &[3; 16], &[800, 808]);
        assert_eq!(bs.len(), 2);
        let h = decode_header(&bs[1]).unwrap();
        assert_eq!(h, Header { offset: 4040, bytes: 960, uuid: [3; 16], owner: 131, daddr: 808, lsn: NULL_LSN });
        assert_eq!(&bs[1][HDR..HDR + 960], &value[4040..]);
        assert!(bs[1][HDR + 960..].iter().all(|&x| x == 0));
        let v4 = encode(&value, 4096, false, 131, &[3; 16], &[800, 808]);
        assert_eq!([&v4[0][..], &v4[1][..904]].concat(), value);
        // Damage: a flipped bit fails the CRC; claims past the block or 64 KiB are refused.
        let mut b = bs[0].clone();
        b[100] ^= 1;
        assert!(decode_header(&b).unwrap_err().contains("CRC"));
        let mut b = bs[0].clone();
        b[8..12].copy_from_slice(&5000u32.to_be_bytes());
        let c = crc::compute(&b, CRC_OFF);
        b[CRC_OFF..CRC_OFF + 4].copy_from_slice(&c.to_le_bytes());
        assert!(decode_header(&b).is_err());
        assert!(decode_header(&[0u8; 10]).is_err());
    }
}
