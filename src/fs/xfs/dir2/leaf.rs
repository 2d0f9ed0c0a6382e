//! Directory leaf blocks: the hash index of leaf-format directories (`xfs_dir2_leaf`, LEAF1
//! magic, with a tail of best-free values) and of node-format directories (LEAFN, reached
//! through da node blocks). Entries are (hash, address) pairs in hash order; the address is
//! the entry's byte offset in the directory's data space divided by 8 (0: stale).

use crate::bytes::{be16, be32};
use crate::fs::xfs::da::{self, Owner};

const LEAF1_V4: u16 = 0xd2f1;
const LEAF1_V5: u16 = 0x3df1;
const LEAFN_V4: u16 = 0xd2ff;
const LEAFN_V5: u16 = 0x3dff;

/// Parses a leaf block (`owner` is `Some` on v5): its (hash, address) entries.
pub fn parse(b: &[u8], owner: Option<&Owner>) -> Result<Vec<(u32, u32)>, String> {
    let m = da::magic(b);
    let (hdr, count, leaf1) = match (m, owner) {
        (LEAF1_V4 | LEAFN_V4, None) => (16, be16(b, 12), m == LEAF1_V4),
        (LEAF1_V5 | LEAFN_V5, Some(o)) => {
            da::check_v5(b, o, "directory leaf")?;
            (64, be16(b, 56), m == LEAF1_V5)
        }
        _ => return Err(format!("directory leaf block: bad magic {m:#x}")),
    };
    let count = usize::from(count);
    let end = if leaf1 {
        let best = be32(b, b.len().saturating_sub(4)) as usize;
        b.len().saturating_sub(4).saturating_sub(best.saturating_mul(2))
    } else {
        b.len()
    };
    if hdr + count * 8 > end {
        return Err(format!("directory leaf block: {count} entries do not fit"));
    }
    Ok((0..count).map(|i| (be32(b, hdr + i * 8), be32(b, hdr + i * 8 + 4))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        let mut b = vec![0u8; 512];
        b[8..10].copy_from_slice(&LEAFN_V4.to_be_bytes());
        b[12..14].copy_from_slice(&1u16.to_be_bytes());
        b[16..24].copy_from_slice(&[0, 0, 0, 7, 0, 0, 0, 2]);
        assert_eq!(parse(&b, None).unwrap(), vec![(7, 2)]);
        b[12..14].copy_from_slice(&100u16.to_be_bytes());
        assert!(parse(&b, None).unwrap_err().contains("do not fit"));
        b[8..10].copy_from_slice(&LEAF1_V4.to_be_bytes());
        b[12..14].copy_from_slice(&1u16.to_be_bytes());
        b[508..512].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse(&b, None).is_err());
        assert!(parse(&b, Some(&Owner { ino: 0, uuid: &[0; 16], daddr: 0 })).unwrap_err().contains("magic"));
    }
}
