//! The tail of a block-format directory's single block (`xfs_dir2_block_tail`: leaf entry
//! count and stale count in its last 8 bytes) with the (hash, address) leaf entries just
//! before it, in hash order; a stale entry has address 0. Reading is [`super::data::header`]
//! and [`super::data::block_leaf`]; this writes them.

use crate::bytes::be32;

/// The stale count of block `b`'s tail.
pub fn stale(b: &[u8]) -> u32 {
    be32(b, b.len() - 4)
}

/// Where the entry space ends when the block holds `count` leaf entries, `None` when they
/// do not fit after a header of `hdr` bytes.
pub fn data_end(len: usize, hdr: usize, count: usize) -> Option<usize> {
    len.checked_sub(8)?.checked_sub(count.checked_mul(8)?).filter(|&e| e >= hdr)
}

/// Writes leaf entries `ents` (sorted by hash by the caller) before the tail of `b`, and the
/// tail: their count and `stale` (how many have address 0).
pub fn write_leaf(b: &mut [u8], ents: &[(u32, u32)], stale: u32) {
    let len = b.len();
    let start = len - 8 - ents.len() * 8;
    for (i, &(h, a)) in ents.iter().enumerate() {
        b[start + i * 8..start + i * 8 + 4].copy_from_slice(&h.to_be_bytes());
        b[start + i * 8 + 4..start + i * 8 + 8].copy_from_slice(&a.to_be_bytes());
    }
    b[len - 8..len - 4].copy_from_slice(&(ents.len() as u32).to_be_bytes());
    b[len - 4..].copy_from_slice(&stale.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_round_trips() {
        let mut b = vec![0u8; 512];
        write_leaf(&mut b, &[(1, 2), (3, 0)], 1);
        assert_eq!(stale(&b), 1);
        assert_eq!(crate::fs::xfs::dir2::data::block_leaf(&b, 512 - 24).unwrap(), vec![(1, 2), (3, 0)]);
        assert_eq!(data_end(512, 16, 2), Some(488));
        assert_eq!(data_end(512, 64, 100), None);
    }
}
