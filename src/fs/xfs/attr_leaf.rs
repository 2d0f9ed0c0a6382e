//! The write side of an attribute fork held in one leaf block (`xfs_attr_leafblock`, v5
//! `xfs_attr3_leafblock`): what a file's attributes become when they outgrow the inode. The
//! block is decoded raw (flags, bare name, value) and re-encoded whole, compacted as the
//! kernel's `xfs_attr3_leaf_compact` leaves it: the header, the entries (hash value, name
//! offset, flags) in hash order, free space, then the local name/value records packed against
//! the block's end, in entry order; `usedbytes` counts them, `firstused` is the lowest, one
//! free-map region covers the gap, no holes.
//!
//! Only local values: one needing remote value blocks (a name and value of ¾ of a block or
//! more) is for the caller to refuse, and so is a set that does not fit one block (the node
//! format).

use super::attr_sf::SfAttr;
use super::dir2::hash::hashname;
use crate::bytes::{be16, be32};

/// `XFS_ATTR_LOCAL`: the value follows the name in this block.
const LOCAL: u8 = 1;
/// Leaf magic numbers: v4 and v5.
const MAGIC_V4: u16 = 0xfbee;
const MAGIC_V5: u16 = 0x3bee;

/// Header length: v4 32 bytes, v5 80.
pub fn header_len(crc: bool) -> usize {
    if crc { 80 } else { 32 }
}

/// Bytes of an entry's local name/value record (`xfs_attr_leaf_entsize_local`): value length,
/// name length, name, value, rounded to 4.
pub fn local_size(a: &SfAttr) -> usize {
    (3 + a.name.len() + a.value.len()).next_multiple_of(4)
}

/// Whether `a` is stored in the leaf itself (`xfs_attr_leaf_newentsize`: smaller than ¾ of a
/// block), not in remote value blocks.
pub fn is_local(a: &SfAttr, blocksize: usize) -> bool {
    local_size(a) < (blocksize >> 1) + (blocksize >> 2)
}

/// Whether `entries` (all local) fit one block.
pub fn fits(entries: &[SfAttr], blocksize: usize, crc: bool) -> bool {
    header_len(crc) + entries.iter().map(|a| 8 + local_size(a)).sum::<usize>() <= blocksize
}

/// The entries of leaf block `b` (its checksum and owner checked by the caller), raw; an error
/// names what is wrong, or a remote value (not handled by this writer).
pub fn decode(b: &[u8], crc: bool) -> Result<Vec<SfAttr>, String> {
    let hdr = header_len(crc);
    let (magic, count) = (be16(b, 8), usize::from(be16(b, if crc { 56 } else { 12 })));
    if magic != if crc { MAGIC_V5 } else { MAGIC_V4 } {
        return Err(format!("attribute leaf block: bad magic {magic:#x}"));
    }
    if be32(b, 0) != 0 || be32(b, 4) != 0 {
        return Err("attribute leaf block with siblings (the node format)".into());
    }
    if hdr + count * 8 > b.len() {
        return Err(format!("attribute leaf block: {count} entries do not fit"));
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let e = hdr + i * 8;
        let (idx, flags) = (usize::from(be16(b, e + 4)), b[e + 6]);
        if flags & LOCAL == 0 {
            return Err("an attribute value in remote blocks".into());
        }
        let bad = || format!("attribute leaf block: entry {i} points outside the block");
        let (vl, nl) = (usize::from(be16(b, idx.min(b.len().saturating_sub(2)))), usize::from(*b.get(idx + 2).ok_or_else(bad)?));
        if idx < hdr + count * 8 || idx + 3 + nl + vl > b.len() {
            return Err(bad());
        }
        out.push(SfAttr { flags: flags & !LOCAL, name: b[idx + 3..idx + 3 + nl].to_vec(), value: b[idx + 3 + nl..idx + 3 + nl + vl].to_vec() });
    }
    Ok(out)
}

/// Where a v5 block says who it is: its disk address (512-byte units), the filesystem's
/// metadata UUID, the owning inode.
pub struct BlockId {
    /// `blkno`.
    pub daddr: u64,
    /// `uuid`.
    pub uuid: [u8; 16],
    /// `owner`.
    pub ino: u64,
}

/// Leaf block of `blocksize` bytes holding `entries` (all local, fitting: see [`fits`]); the
/// v5 checksum and LSN are left for the buffer's stamp.
pub fn encode(entries: &[SfAttr], blocksize: usize, crc: bool, me: &BlockId) -> Vec<u8> {
    let hdr = header_len(crc);
    let mut order: Vec<(u32, &SfAttr)> = entries.iter().map(|a| (hashname(&a.name), a)).collect();
    order.sort_by_key(|(h, _)| *h);
    let mut b = vec![0u8; blocksize];
    b[8..10].copy_from_slice(&if crc { MAGIC_V5 } else { MAGIC_V4 }.to_be_bytes());
    if crc {
        b[16..24].copy_from_slice(&me.daddr.to_be_bytes());
        b[32..48].copy_from_slice(&me.uuid);
        b[48..56].copy_from_slice(&me.ino.to_be_bytes());
    }
    let mut at = blocksize;
    for (i, (hash, a)) in order.iter().enumerate() {
        at -= local_size(a);
        let e = hdr + i * 8;
        b[e..e + 4].copy_from_slice(&hash.to_be_bytes());
        b[e + 4..e + 6].copy_from_slice(&(at as u16).to_be_bytes());
        b[e + 6] = a.flags | LOCAL;
        b[at..at + 2].copy_from_slice(&(a.value.len() as u16).to_be_bytes());
        b[at + 2] = a.name.len() as u8;
        b[at + 3..at + 3 + a.name.len()].copy_from_slice(&a.name);
        b[at + 3 + a.name.len()..at + 3 + a.name.len() + a.value.len()].copy_from_slice(&a.value);
    }
    // count, usedbytes, firstused, holes; freemap[0] = the gap between entries and names
    let h = if crc { 56 } else { 12 };
    let base = hdr + order.len() * 8;
    b[h..h + 2].copy_from_slice(&(order.len() as u16).to_be_bytes());
    b[h + 2..h + 4].copy_from_slice(&((blocksize - at) as u16).to_be_bytes());
    b[h + 4..h + 6].copy_from_slice(&(at as u16).to_be_bytes());
    b[h + 8..h + 10].copy_from_slice(&(base as u16).to_be_bytes());
    b[h + 10..h + 12].copy_from_slice(&((at - base) as u16).to_be_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(flags: u8, name: &str, len: usize) -> SfAttr {
        SfAttr { flags, name: name.as_bytes().to_vec(), value: vec![b'v'; len] }
    }

    #[test]
    fn encodes_in_hash_order_and_decodes_back() {
        let all = vec![a(0, "zeta", 300), a(4, "selinux", 30), a(2, "SGI_ACL_FILE", 28)];
        for crc in [false, true] {
            assert!(fits(&all, 1024, crc));
            let me = BlockId { daddr: 99, uuid: [7; 16], ino: 131 };
            let b = encode(&all, 1024, crc, &me);
            let got = decode(&b, crc).unwrap();
            let mut want = all.clone();
            want.sort_by_key(|x| hashname(&x.name));
            assert_eq!(got, want);
            let h = if crc { 56 } else { 12 };
            let used: usize = all.iter().map(local_size).sum();
            assert_eq!(usize::from(be16(&b, h + 2)), used);
            assert_eq!(usize::from(be16(&b, h + 4)), 1024 - used);
        }
        // Not local at ¾ of a block; a block's worth does not fit.
        assert!(!is_local(&a(0, "big", 800), 1024) && is_local(&a(0, "big", 700), 1024));
        assert!(!fits(&[a(0, "x", 700), a(0, "y", 300)], 1024, true));
        // Remote values and siblings are refused by name.
        let mut b = encode(&[a(0, "k", 5)], 512, false, &BlockId { daddr: 0, uuid: [0; 16], ino: 0 });
        b[32 + 6] = 0;
        assert!(decode(&b, false).unwrap_err().contains("remote"));
        b[3] = 1;
        assert!(decode(&b, false).unwrap_err().contains("siblings"));
    }

    #[test]
    fn damaged_blocks_are_errors_not_panics() {
        let good = encode(&[a(0, "k", 5), a(4, "selinux", 30)], 512, true, &BlockId { daddr: 1, uuid: [1; 16], ino: 2 });
        // every byte of the header and entries set to each of a few hostile values
        for at in 0..120 {
            for v in [0u8, 0x7f, 0xff] {
                let mut b = good.clone();
                b[at] = v;
                let _ = decode(&b, true);
            }
        }
        assert!(decode(&[0u8; 512], true).is_err());
        let mut b = good.clone();
        b[56..58].copy_from_slice(&60u16.to_be_bytes());
        assert!(decode(&b, true).unwrap_err().contains("do not fit"));
    }
}
