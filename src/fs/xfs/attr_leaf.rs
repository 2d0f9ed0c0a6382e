//! The write side of an attribute leaf block (`xfs_attr_leafblock`, v5 `xfs_attr3_leafblock`):
//! what a file's attributes become when they outgrow the inode — one leaf at block 0 of the
//! attribute fork, or several below a da node ([`super::attr_node`]). The block is decoded
//! raw (hash, flags, bare name, a local value or where the remote one lies) with its sibling
//! links, and re-encoded whole, compacted as the kernel's `xfs_attr3_leaf_compact` leaves it:
//! the header, the entries (hash value, name offset, flags) in hash order, free space, then
//! the name/value records packed against the block's end, in entry order; `usedbytes` counts
//! them, `firstused` is the lowest, one free-map region covers the gap, no holes.
//!
//! A value is local when its name/value record is smaller than ¾ of a block
//! (`xfs_attr_leaf_newentsize`); else the record holds the name, the value's length and its
//! first block in the attribute fork (`xfs_attr_leaf_name_remote`), the value lying in remote
//! value blocks ([`super::attr_remote`]).

use super::dir2::hash::hashname;
use crate::bytes::{be16, be32};

/// `XFS_ATTR_LOCAL`: the value follows the name in this block.
pub const LOCAL: u8 = 1;
/// `XFS_ATTR_INCOMPLETE`: an entry a logged transaction left half made.
pub const INCOMPLETE: u8 = 0x80;
/// Leaf magic numbers: v4 and v5.
const MAGIC_V4: u16 = 0xfbee;
const MAGIC_V5: u16 = 0x3bee;

/// Header length: v4 32 bytes, v5 80.
pub fn header_len(crc: bool) -> usize {
    if crc { 80 } else { 32 }
}

/// Bytes of a local name/value record (`xfs_attr_leaf_entsize_local`): value length, name
/// length, name, value, rounded to 4.
pub fn local_size(name_len: usize, value_len: usize) -> usize {
    (3 + name_len + value_len).next_multiple_of(4)
}

/// Bytes of a remote record (`xfs_attr_leaf_entsize_remote`): value block, value length,
/// name length, name, rounded to 4 from the historical 11-byte struct.
pub fn remote_size(name_len: usize) -> usize {
    (11 + name_len).next_multiple_of(4)
}

/// Whether a name and value of these lengths are stored in the leaf itself
/// (`xfs_attr_leaf_newentsize`: a local record smaller than ¾ of a block), not in remote value
/// blocks.
pub fn is_local(name_len: usize, value_len: usize, blocksize: usize) -> bool {
    local_size(name_len, value_len) < (blocksize >> 1) + (blocksize >> 2)
}

/// An entry's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    /// The bytes, in the leaf.
    Local(Vec<u8>),
    /// `len` bytes in the remote value blocks from attribute-fork block `blk`.
    Remote {
        /// First block (`valueblk`).
        blk: u32,
        /// Value length (`valuelen`).
        len: u32,
    },
}

/// One leaf entry, raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `hashval`: the name's hash.
    pub hash: u32,
    /// Flags without `LOCAL`: the namespace (ROOT, SECURE, PARENT) and INCOMPLETE.
    pub flags: u8,
    /// The name, without namespace prefix.
    pub name: Vec<u8>,
    /// The value.
    pub val: Val,
}

impl Entry {
    /// An entry for `name` (its hash computed).
    pub fn new(flags: u8, name: Vec<u8>, val: Val) -> Entry {
        Entry { hash: hashname(&name), flags, name, val }
    }

    /// Bytes of its name/value record.
    pub fn size(&self) -> usize {
        match &self.val {
            Val::Local(v) => local_size(self.name.len(), v.len()),
            Val::Remote { .. } => remote_size(self.name.len()),
        }
    }

    /// Bytes it takes in a block: the entry and its record.
    pub fn used(&self) -> usize {
        8 + self.size()
    }
}

/// A leaf block: sibling links (attribute-fork blocks, 0 for none) and entries in hash order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Leaf {
    /// `forw`.
    pub forw: u32,
    /// `back`.
    pub back: u32,
    /// The entries.
    pub ents: Vec<Entry>,
}

/// Bytes `ents` take in a block, header included.
pub fn bytes(ents: &[Entry], crc: bool) -> usize {
    header_len(crc) + ents.iter().map(Entry::used).sum::<usize>()
}

impl Leaf {
    /// Bytes the leaf takes, header included.
    pub fn bytes(&self, crc: bool) -> usize {
        bytes(&self.ents, crc)
    }

    /// Whether the leaf fits a block of `blocksize` bytes.
    pub fn fits(&self, blocksize: usize, crc: bool) -> bool {
        self.bytes(crc) <= blocksize
    }

    /// The highest hash (the key of the leaf in its parent node), 0 when empty.
    pub fn last_hash(&self) -> u32 {
        self.ents.last().map_or(0, |e| e.hash)
    }

    /// Inserts `e` in hash order, after the entries of an equal hash; returns its index.
    pub fn insert(&mut self, e: Entry) -> usize {
        let i = self.ents.partition_point(|x| x.hash <= e.hash);
        self.ents.insert(i, e);
        i
    }
}

/// Decodes leaf block `b` (its checksum and owner checked by the caller): the sibling links
/// and every entry, checked as the kernel's verifier and xfs_repair check them (records inside
/// the block and past the entry table, names not empty, hashes in order and those of the
/// names, remote values with a block); an error names what is wrong.
pub fn decode(b: &[u8], crc: bool) -> Result<Leaf, String> {
    let hdr = header_len(crc);
    if b.len() < hdr {
        return Err(format!("attribute leaf block of {} bytes", b.len()));
    }
    let (magic, count) = (be16(b, 8), usize::from(be16(b, if crc { 56 } else { 12 })));
    if magic != if crc { MAGIC_V5 } else { MAGIC_V4 } {
        return Err(format!("attribute leaf block: bad magic {magic:#x}"));
    }
    let table = hdr + count * 8;
    if table > b.len() {
        return Err(format!("attribute leaf block: {count} entries do not fit"));
    }
    let mut ents = Vec::with_capacity(count);
    let mut last = 0u32;
    for i in 0..count {
        let e = hdr + i * 8;
        let (hash, idx, flags) = (be32(b, e), usize::from(be16(b, e + 4)), b[e + 6]);
        let bad = |what: &str| format!("attribute leaf block: entry {i} {what}");
        if idx < table || idx + 3 > b.len() {
            return Err(bad("points outside the block"));
        }
        let (name, val) = if flags & LOCAL != 0 {
            let (vl, nl) = (usize::from(be16(b, idx)), usize::from(b[idx + 2]));
            if idx + 3 + nl + vl > b.len() {
                return Err(bad("points outside the block"));
            }
            (&b[idx + 3..idx + 3 + nl], Val::Local(b[idx + 3 + nl..idx + 3 + nl + vl].to_vec()))
        } else {
            if idx + 9 > b.len() {
                return Err(bad("points outside the block"));
            }
            let nl = usize::from(b[idx + 8]);
            if idx + 9 + nl > b.len() {
                return Err(bad("points outside the block"));
            }
            let (blk, len) = (be32(b, idx), be32(b, idx + 4));
            if blk == 0 && flags & INCOMPLETE == 0 {
                return Err(bad("has a remote value at block 0"));
            }
            (&b[idx + 9..idx + 9 + nl], Val::Remote { blk, len })
        };
        if name.is_empty() {
            return Err(bad("has an empty name"));
        }
        if hash < last || hash != hashname(name) {
            return Err(bad("has a bad hash (out of order or not its name's)"));
        }
        last = hash;
        ents.push(Entry { hash, flags: flags & !LOCAL, name: name.to_vec(), val });
    }
    Ok(Leaf { forw: be32(b, 0), back: be32(b, 4), ents })
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

/// Leaf block of `blocksize` bytes holding `leaf` (entries in hash order, fitting: see
/// [`Leaf::fits`]); the v5 checksum and LSN are left for the buffer's stamp.
pub fn encode(leaf: &Leaf, blocksize: usize, crc: bool, me: &BlockId) -> Vec<u8> {
    let hdr = header_len(crc);
    let mut b = vec![0u8; blocksize];
    b[0..4].copy_from_slice(&leaf.forw.to_be_bytes());
    b[4..8].copy_from_slice(&leaf.back.to_be_bytes());
    b[8..10].copy_from_slice(&if crc { MAGIC_V5 } else { MAGIC_V4 }.to_be_bytes());
    if crc {
        b[16..24].copy_from_slice(&me.daddr.to_be_bytes());
        b[32..48].copy_from_slice(&me.uuid);
        b[48..56].copy_from_slice(&me.ino.to_be_bytes());
    }
    let mut at = blocksize;
    for (i, a) in leaf.ents.iter().enumerate() {
        at -= a.size();
        let e = hdr + i * 8;
        let nl = a.name.len();
        b[e..e + 4].copy_from_slice(&a.hash.to_be_bytes());
        b[e + 4..e + 6].copy_from_slice(&(at as u16).to_be_bytes());
        match &a.val {
            Val::Local(v) => {
                b[e + 6] = a.flags | LOCAL;
                b[at..at + 2].copy_from_slice(&(v.len() as u16).to_be_bytes());
                b[at + 2] = nl as u8;
                b[at + 3..at + 3 + nl].copy_from_slice(&a.name);
                b[at + 3 + nl..at + 3 + nl + v.len()].copy_from_slice(v);
            }
            Val::Remote { blk, len } => {
                b[e + 6] = a.flags & !LOCAL;
                b[at..at + 4].copy_from_slice(&blk.to_be_bytes());
                b[at + 4..at + 8].copy_from_slice(&len.to_be_bytes());
                b[at + 8] = nl as u8;
                b[at + 9..at + 9 + nl].copy_from_slice(&a.name);
            }
        }
    }
    // count, usedbytes, firstused, holes; freemap[0] = the gap between entries and names
    let h = if crc { 56 } else { 12 };
    let base = hdr + leaf.ents.len() * 8;
    b[h..h + 2].copy_from_slice(&(leaf.ents.len() as u16).to_be_bytes());
    b[h + 2..h + 4].copy_from_slice(&((blocksize - at) as u16).to_be_bytes());
    b[h + 4..h + 6].copy_from_slice(&(at as u16).to_be_bytes());
    b[h + 8..h + 10].copy_from_slice(&(base as u16).to_be_bytes());
    b[h + 10..h + 12].copy_from_slice(&((at - base) as u16).to_be_bytes());
    b
}

/// Where to cut `ents` (hash order, too many for one block) into consecutive leaves that each
/// fit a block: two as even in bytes as can be (`xfs_attr3_leaf_rebalance` evens them out),
/// else three (the kernel's double split, when the new entry fits neither half); the start
/// index of each leaf after the first. `None` when not even three hold them.
pub fn split_points(ents: &[Entry], blocksize: usize, crc: bool) -> Option<Vec<usize>> {
    let hdr = header_len(crc);
    let mut sum = vec![0usize];
    for e in ents {
        sum.push(sum[sum.len() - 1] + e.used());
    }
    let n = ents.len();
    let part = |a: usize, b: usize| hdr + sum[b] - sum[a];
    let two = (1..n).filter(|&k| part(0, k) <= blocksize && part(k, n) <= blocksize).min_by_key(|&k| part(0, k).abs_diff(part(k, n)));
    if let Some(k) = two {
        return Some(vec![k]);
    }
    let mut best: Option<(usize, usize, usize)> = None;
    for i in 1..n {
        if part(0, i) > blocksize {
            break;
        }
        for j in i + 1..n {
            let (b, c) = (part(i, j), part(j, n));
            if b > blocksize {
                break;
            }
            if c > blocksize {
                continue;
            }
            let worst = part(0, i).max(b).max(c);
            if best.is_none_or(|(w, _, _)| worst < w) {
                best = Some((worst, i, j));
            }
        }
    }
    best.map(|(_, i, j)| vec![i, j])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(flags: u8, name: &str, len: usize) -> Entry {
        Entry::new(flags, name.as_bytes().to_vec(), Val::Local(vec![b'v'; len]))
    }

    fn leaf(mut ents: Vec<Entry>) -> Leaf {
        ents.sort_by_key(|e| e.hash);
        Leaf { forw: 0, back: 0, ents }
    }

    #[test]
    fn encodes_in_hash_order_and_decodes_back() {
        let remote = Entry::new(0, b"huge".to_vec(), Val::Remote { blk: 3, len: 70000 });
        let l = leaf(vec![a(0, "zeta", 300), a(4, "selinux", 30), a(2, "SGI_ACL_FILE", 28), remote]);
        for crc in [false, true] {
            assert!(l.fits(1024, crc));
            let me = BlockId { daddr: 99, uuid: [7; 16], ino: 131 };
            let mut l2 = l.clone();
            (l2.forw, l2.back) = (5, 9);
            let b = encode(&l2, 1024, crc, &me);
            assert_eq!(decode(&b, crc).unwrap(), l2);
            let h = if crc { 56 } else { 12 };
            let used: usize = l.ents.iter().map(Entry::size).sum();
            assert_eq!(usize::from(be16(&b, h + 2)), used);
            assert_eq!(usize::from(be16(&b, h + 4)), 1024 - used);
        }
        // Not local at ¾ of a block; a block's worth does not fit.
        assert!(!is_local(3, 800, 1024) && is_local(3, 700, 1024));
        assert_eq!(remote_size(1), 12);
        assert_eq!(remote_size(2), 16);
        assert!(!leaf(vec![a(0, "x", 700), a(0, "y", 300)]).fits(1024, true));
        // A remote value at block 0, a bad hash and an empty name are refused.
        let mut b = encode(&leaf(vec![Entry::new(0, b"k".to_vec(), Val::Remote { blk: 0, len: 5 })]), 512, false, &BlockId { daddr: 0, uuid: [0; 16], ino: 0 });
        assert!(decode(&b, false).unwrap_err().contains("block 0"));
        b = encode(&leaf(vec![a(0, "k", 5)]), 512, false, &BlockId { daddr: 0, uuid: [0; 16], ino: 0 });
        b[35] ^= 1;
        assert!(decode(&b, false).unwrap_err().contains("hash"));
    }

    #[test]
    fn splits_evenly_and_in_three_when_two_will_not_do() {
        let ents: Vec<Entry> = (0..30).map(|i| a(0, &format!("name{i}"), 40)).collect();
        let l = leaf(ents);
        assert!(!l.fits(1024, true));
        let cut = split_points(&l.ents, 1024, true).unwrap();
        assert_eq!(cut.len(), 1);
        let (left, right) = (bytes(&l.ents[..cut[0]], true), bytes(&l.ents[cut[0]..], true));
        assert!(left <= 1024 && right <= 1024 && left.abs_diff(right) <= 60, "{left} {right}");
        // Three big values: no two halves hold them.
        let big = |n: &str| a(0, n, 600);
        let three = vec![big("a"), big("b"), big("c")];
        assert_eq!(split_points(&three, 1024, true), Some(vec![1, 2]));
        let mut sorted = three.clone();
        sorted.sort_by_key(|e| e.hash);
        assert!(split_points(&sorted, 1024, true).is_some());
    }

    #[test]
    fn damaged_blocks_are_errors_not_panics() {
        let good = encode(&leaf(vec![a(0, "k", 5), a(4, "selinux", 30), Entry::new(0, b"r".to_vec(), Val::Remote { blk: 2, len: 9000 })]), 512, true, &BlockId { daddr: 1, uuid: [1; 16], ino: 2 });
        // every byte of the header and entries set to each of a few hostile values
        for at in 0..120 {
            for v in [0u8, 0x7f, 0xff] {
                let mut b = good.clone();
                b[at] = v;
                let _ = decode(&b, true);
            }
        }
        // and every byte of the records
        for at in 400..512 {
            let mut b = good.clone();
            b[at] = 0xff;
            let _ = decode(&b, true);
        }
        assert!(decode(&[0u8; 512], true).is_err());
        assert!(decode(&[0u8; 20], true).is_err());
        let mut b = good.clone();
        b[56..58].copy_from_slice(&60u16.to_be_bytes());
        assert!(decode(&b, true).unwrap_err().contains("do not fit"));
    }
}
