//! Directory leaf blocks: the hash index of leaf-format directories (`xfs_dir2_leaf`, LEAF1
//! magic, with a tail of best-free values) and of node-format directories (LEAFN, reached
//! through da node blocks). Entries are (hash, address) pairs in hash order; the address is
//! the entry's byte offset in the directory's data space divided by 8 (0: stale).
//!
//! Write side: [`Leaf`] is a leaf block decoded for editing (entries, and a LEAF1 block's
//! best-free table), written back with its counts by [`Leaf::encode`].

use crate::bytes::{be16, be32};
use crate::fs::xfs::buf::Stamp;
use crate::fs::xfs::da::{self, Owner};

/// Where a v5 leaf or da node block keeps its LSN and CRC (`xfs_da3_blkinfo`).
pub const STAMP: Stamp = Stamp { lsn_off: 24, crc_off: 12 };

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
    let pair = |e: &[u8]| (u32::from_be_bytes([e[0], e[1], e[2], e[3]]), u32::from_be_bytes([e[4], e[5], e[6], e[7]]));
    Ok(b[hdr..hdr + count * 8].chunks_exact(8).map(pair).collect())
}

/// Writes the header of a new, empty LEAF1 block into `b` (`owner` is `Some` on v5: address,
/// UUID and owner); the entries and counts are left to [`Leaf::encode`].
pub fn init_leaf1(b: &mut [u8], owner: Option<&Owner>) {
    da::init_blkinfo(b, if owner.is_some() { LEAF1_V5 } else { LEAF1_V4 }, owner);
}

/// Writes the header of a new, empty LEAFN block into `b`, as [`init_leaf1`].
pub fn init_leafn(b: &mut [u8], owner: Option<&Owner>) {
    da::init_blkinfo(b, if owner.is_some() { LEAFN_V5 } else { LEAFN_V4 }, owner);
}

/// Turns LEAF1 block `b` into a LEAFN block (`xfs_dir2_leaf_to_node`): the magic; the
/// best-free table is dropped by the next [`Leaf::encode`] of a [`Leaf`] without one.
pub fn set_leafn(b: &mut [u8], crc: bool) {
    b[8..10].copy_from_slice(&if crc { LEAFN_V5 } else { LEAFN_V4 }.to_be_bytes());
}

/// Whether `b` is a LEAFN block (a leaf of a node-format directory).
pub fn is_leafn(b: &[u8]) -> bool {
    matches!(da::magic(b), LEAFN_V4 | LEAFN_V5)
}

/// Whether `b` is a LEAF1 block (the single leaf of a leaf-format directory).
pub fn is_leaf1(b: &[u8]) -> bool {
    matches!(da::magic(b), LEAF1_V4 | LEAF1_V5)
}

/// A leaf block decoded for editing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// (hash, address) entries in hash order; address 0 is stale.
    pub ents: Vec<(u32, u32)>,
    /// A LEAF1 block's best-free value per data block (`None` for LEAFN).
    pub bests: Option<Vec<u16>>,
}

impl Leaf {
    /// Decodes leaf block `b` as [`parse`] checks it.
    pub fn decode(b: &[u8], owner: Option<&Owner>) -> Result<Leaf, String> {
        let ents = parse(b, owner)?;
        let bests = if is_leaf1(b) {
            let n = be32(b, b.len().saturating_sub(4)) as usize;
            let at = b.len().checked_sub(4).and_then(|e| e.checked_sub(n.checked_mul(2)?));
            let at = at.ok_or_else(|| format!("directory leaf block: {n} best-free values do not fit its {} bytes", b.len()))?;
            Some((0..n).map(|i| be16(b, at + 2 * i)).collect())
        } else {
            None
        };
        Ok(Leaf { ents, bests })
    }

    /// Whether the entries and the best-free table fit a block of `len` bytes.
    pub fn fits(&self, len: usize, crc: bool) -> bool {
        let hdr = if crc { 64 } else { 16 };
        hdr + self.ents.len() * 8 + self.bests.as_ref().map_or(0, |v| 4 + 2 * v.len()) <= len
    }

    /// Drops the stale entries.
    pub fn compact(&mut self) {
        self.ents.retain(|e| e.1 != 0);
    }

    /// Inserts an entry after those with a hash not above its own.
    pub fn insert(&mut self, hash: u32, addr: u32) {
        let i = self.ents.partition_point(|e| e.0 <= hash);
        self.ents.insert(i, (hash, addr));
    }

    /// The hash of the last entry (the key the node above keeps), 0 when empty.
    pub fn last_hash(&self) -> u32 {
        self.ents.last().map_or(0, |e| e.0)
    }

    /// Writes the entries, counts (and best-free table) into `b`, the rest of the header
    /// kept; the caller checked [`Leaf::fits`].
    pub fn encode(&self, b: &mut [u8], crc: bool) {
        let (hdr, at) = if crc { (64, 56) } else { (16, 12) };
        let stale = self.ents.iter().filter(|e| e.1 == 0).count() as u16;
        b[at..at + 2].copy_from_slice(&(self.ents.len() as u16).to_be_bytes());
        b[at + 2..at + 4].copy_from_slice(&stale.to_be_bytes());
        b[hdr..].fill(0);
        for (e, &(h, a)) in b[hdr..].chunks_exact_mut(8).zip(&self.ents) {
            e[..4].copy_from_slice(&h.to_be_bytes());
            e[4..].copy_from_slice(&a.to_be_bytes());
        }
        if let Some(v) = &self.bests {
            let len = b.len();
            let start = len - 4 - 2 * v.len();
            for (i, x) in v.iter().enumerate() {
                b[start + 2 * i..start + 2 * i + 2].copy_from_slice(&x.to_be_bytes());
            }
            b[len - 4..].copy_from_slice(&(v.len() as u32).to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaf1_best_count_past_the_block_is_an_error() {
        // LEAF1 (v4) of 32 bytes, no entries, claiming 0x7fff_ffff best-free values
        let mut b = vec![0u8; 32];
        b[8..10].copy_from_slice(&LEAF1_V4.to_be_bytes());
        b[28..32].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
        assert!(Leaf::decode(&b, None).is_err());
    }

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

    #[test]
    fn edits_round_trip() {
        let mut b = vec![0u8; 512];
        init_leafn(&mut b, None);
        assert!(!is_leaf1(&b) && is_leafn(&b));
        init_leaf1(&mut b, None);
        assert!(is_leaf1(&b));
        let mut l = Leaf { ents: vec![(5, 2), (9, 0)], bests: Some(vec![100, 0xffff]) };
        l.encode(&mut b, false);
        assert_eq!(be16(&b, 14), 1);
        assert_eq!(Leaf::decode(&b, None).unwrap(), l);
        l.compact();
        l.insert(7, 4);
        l.insert(5, 6);
        assert_eq!(l.ents, vec![(5, 2), (5, 6), (7, 4)]);
        assert_eq!(l.last_hash(), 7);
        assert!(l.fits(512, false));
        l.ents = vec![(1, 1); 62];
        assert!(!l.fits(512, false));
    }
}
