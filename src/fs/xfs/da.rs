//! The dir/attr btree ("da btree") shared by directories and attribute forks: the block
//! info header every such block starts with (`xfs_da_blkinfo`, v5 `xfs_da3_blkinfo` with CRC,
//! address, UUID and owner) and the interior node blocks (`xfs_da_intnode`: hash/before
//! pairs, in hash order). Block numbers are file blocks of the fork (`xfs_dablk_t`).
//!
//! Write side, for any fork holding a da btree ([`Fork`]: a directory's leaf space, an
//! attribute fork): the keys above a changed child kept equal to its highest hash
//! ([`fix_hashes`], `xfs_da3_fixhashpath`), a new sibling linked after a block
//! ([`link_after`], `xfs_da3_blk_link`), and a child's new right sibling keyed in its parent
//! ([`add_child`]): a full node splits in two (`xfs_da3_node_split`, the upper half moving to
//! a new block linked after it), up to the root, which stays at its file block and moves its
//! contents to a new block under a new root one level higher (`xfs_da3_root_split`).

use super::crc;
use crate::bytes::{be16, be32, be64};
use crate::fs::{Error, Result as FsResult};

/// v4 node magic.
pub const NODE_V4: u16 = 0xfebe;
/// v5 node magic.
pub const NODE_V5: u16 = 0x3ebe;
/// Deepest da btree descended (the kernel's `XFS_DA_NODE_MAXDEPTH` is 5).
pub const MAX_DEPTH: u16 = 5;

/// What a v5 block must say about itself.
pub struct Owner<'a> {
    /// The inode.
    pub ino: u64,
    /// Filesystem UUID.
    pub uuid: &'a [u8; 16],
    /// The block's address in 512-byte sectors.
    pub daddr: u64,
}

/// The magic number (`xfs_da_blkinfo.magic`).
pub fn magic(b: &[u8]) -> u16 {
    be16(b, 8)
}

/// The forward sibling (`xfs_da_blkinfo.forw`), 0 for none.
pub fn forw(b: &[u8]) -> u32 {
    be32(b, 0)
}

/// Checks a v5 `xfs_da3_blkinfo`: CRC at 12, address at 16, UUID at 32, owner at 48.
pub fn check_v5(b: &[u8], o: &Owner, what: &str) -> Result<(), String> {
    if !crc::verify(b, 12) {
        return Err(format!("{what} block: bad CRC"));
    }
    if be64(b, 16) != o.daddr || b.get(32..48) != Some(&o.uuid[..]) || be64(b, 48) != o.ino {
        return Err(format!("{what} block: belongs to another inode or place"));
    }
    Ok(())
}

/// Parses a node block (`owner` is `Some` on v5): (level, (hash, child block) pairs).
pub fn node(b: &[u8], owner: Option<&Owner>, what: &str) -> Result<(u16, Vec<(u32, u32)>), String> {
    let hdr = match (magic(b), owner) {
        (NODE_V4, None) => 16,
        (NODE_V5, Some(o)) => {
            check_v5(b, o, what)?;
            64
        }
        (m, _) => return Err(format!("{what} node block: bad magic {m:#x}")),
    };
    let (count, level) = if owner.is_some() { (be16(b, 56), be16(b, 58)) } else { (be16(b, 12), be16(b, 14)) };
    let count = usize::from(count);
    if count == 0 || hdr + count * 8 > b.len() || level == 0 || level > MAX_DEPTH {
        return Err(format!("{what} node block: {count} entries at level {level}"));
    }
    let pair = |e: &[u8]| (u32::from_be_bytes([e[0], e[1], e[2], e[3]]), u32::from_be_bytes([e[4], e[5], e[6], e[7]]));
    Ok((level, b[hdr..hdr + count * 8].chunks_exact(8).map(pair).collect()))
}

/// Sets the forward sibling (`xfs_da_blkinfo.forw`).
pub fn set_forw(b: &mut [u8], v: u32) {
    b[0..4].copy_from_slice(&v.to_be_bytes());
}

/// The backward sibling (`xfs_da_blkinfo.back`), 0 for none.
pub fn back(b: &[u8]) -> u32 {
    be32(b, 4)
}

/// Sets the backward sibling (`xfs_da_blkinfo.back`).
pub fn set_back(b: &mut [u8], v: u32) {
    b[4..8].copy_from_slice(&v.to_be_bytes());
}

/// Writes a da block header into `b` (zeroed first): `magic`, no siblings, and on v5 the
/// address, UUID and owner `owner` names.
pub fn init_blkinfo(b: &mut [u8], magic: u16, owner: Option<&Owner>) {
    b.fill(0);
    b[8..10].copy_from_slice(&magic.to_be_bytes());
    if let Some(o) = owner {
        b[16..24].copy_from_slice(&o.daddr.to_be_bytes());
        b[32..48].copy_from_slice(o.uuid);
        b[48..56].copy_from_slice(&o.ino.to_be_bytes());
    }
}

/// Entries a node block of `len` bytes holds.
pub fn node_max(len: usize, crc: bool) -> usize {
    (len - if crc { 64 } else { 16 }) / 8
}

/// Writes node block `b`'s level and (hash, child) entries (the caller checked they fit
/// [`node_max`]), the rest of the header kept.
pub fn write_node(b: &mut [u8], crc: bool, level: u16, ents: &[(u32, u32)]) {
    let (hdr, at) = if crc { (64, 56) } else { (16, 12) };
    b[at..at + 2].copy_from_slice(&(ents.len() as u16).to_be_bytes());
    b[at + 2..at + 4].copy_from_slice(&level.to_be_bytes());
    b[hdr..].fill(0);
    for (i, &(h, c)) in ents.iter().enumerate() {
        b[hdr + i * 8..hdr + i * 8 + 4].copy_from_slice(&h.to_be_bytes());
        b[hdr + i * 8 + 4..hdr + i * 8 + 8].copy_from_slice(&c.to_be_bytes());
    }
}

/// Sets the hash of entry `i` of node block `b` (checked by [`node`] to have it): the key a
/// child's highest hash is kept under.
pub fn set_node_hash(b: &mut [u8], crc: bool, i: usize, hash: u32) {
    let at = if crc { 64 } else { 16 } + i * 8;
    b[at..at + 4].copy_from_slice(&hash.to_be_bytes());
}

/// The da btree of one fork, as a change walks it: its blocks read and written back (v5:
/// stamped with LSN and CRC by the writer), new ones mapped.
pub(crate) trait Fork {
    /// Whether its blocks have v5 headers (`xfs_da3_blkinfo`).
    fn crc(&self) -> bool;
    /// The inode a v5 block names as its owner.
    fn ino(&self) -> u64;
    /// The filesystem UUID a v5 block names.
    fn uuid(&self) -> [u8; 16];
    /// The root's file block (a directory's leaf offset, 0 in an attribute fork).
    fn root(&self) -> u32;
    /// "directory" or "attribute", for messages.
    fn what(&self) -> &'static str;
    /// Block `fb`: its bytes and its address in 512-byte sectors.
    fn read(&mut self, fb: u32) -> FsResult<(Vec<u8>, u64)>;
    /// Writes block `fb` back.
    fn write(&mut self, fb: u32, b: Vec<u8>) -> FsResult<()>;
    /// Maps a new block in the fork (`xfs_da_grow_inode`): its file block and address.
    fn grow(&mut self) -> FsResult<(u32, u64)>;
    /// A corruption error naming the fork.
    fn corrupt(&self, m: String) -> Error;
}

/// A node block read: its bytes, level and (hash, child) entries.
type NodeRead = (Vec<u8>, u16, Vec<(u32, u32)>);

/// Node block `fb` of fork `f`, read and checked.
fn read_node<F: Fork>(f: &mut F, fb: u32) -> FsResult<NodeRead> {
    let (b, daddr) = f.read(fb)?;
    let (ino, uuid) = (f.ino(), f.uuid());
    let o = Owner { ino, uuid: &uuid, daddr };
    let (level, kids) = node(&b, f.crc().then_some(&o), f.what()).map_err(|m| f.corrupt(format!("block {fb}: {m}")))?;
    Ok((b, level, kids))
}

/// A new, empty node block's bytes (`xfs_da3_node_create`) of `len` bytes at `daddr`.
fn new_node<F: Fork>(f: &F, len: usize, daddr: u64) -> Vec<u8> {
    let uuid = f.uuid();
    let o = Owner { ino: f.ino(), uuid: &uuid, daddr };
    let mut b = vec![0u8; len];
    init_blkinfo(&mut b, if f.crc() { NODE_V5 } else { NODE_V4 }, f.crc().then_some(&o));
    b
}

/// Sets the keys on `path` (node blocks from the root down, with the entry followed in each)
/// bottom up to `last`, the highest hash below them, as far as each entry is its node's last
/// (`xfs_da3_fixhashpath`).
pub(crate) fn fix_hashes<F: Fork>(f: &mut F, path: &[(u32, usize)], last: u32) -> FsResult<()> {
    let crc = f.crc();
    for &(fb, i) in path.iter().rev() {
        let (mut b, _, kids) = read_node(f, fb)?;
        let Some(k) = kids.get(i) else { return Err(f.corrupt(format!("node block {fb}: no entry {i}"))) };
        if k.0 == last {
            break;
        }
        set_node_hash(&mut b, crc, i, last);
        f.write(fb, b)?;
        if i + 1 != kids.len() {
            break;
        }
    }
    Ok(())
}

/// Links block `new` into its level's sibling chain right after block `old`
/// (`xfs_da3_blk_link`, the new block holding the higher hashes).
pub(crate) fn link_after<F: Fork>(f: &mut F, old: u32, new: u32) -> FsResult<()> {
    let (mut ob, _) = f.read(old)?;
    let next = forw(&ob);
    set_forw(&mut ob, new);
    f.write(old, ob)?;
    let (mut nb, _) = f.read(new)?;
    set_back(&mut nb, old);
    set_forw(&mut nb, next);
    f.write(new, nb)?;
    if next != 0 {
        let (mut xb, _) = f.read(next)?;
        if back(&xb) != old {
            return Err(f.corrupt(format!("block {next}: back pointer {} where {old} was expected", back(&xb))));
        }
        set_back(&mut xb, new);
        f.write(next, xb)?;
    }
    Ok(())
}

/// A child split in two: the child followed at the bottom of `path` (node blocks from the
/// root down, with the entry followed in each; empty when the child is the root) now has
/// highest hash `left`, and its new right sibling `add` (highest hash, block; linked after
/// it already) is keyed right after it. A node with no room splits (`xfs_da3_node_split`):
/// of its `n` entries the upper `n / 2` move to a new node linked after it, the new key goes
/// to the half holding the child, and the new node is keyed in the parent in turn; a root
/// with no room (or a root that was the child) moves to a new block under a new root one
/// level higher at the same file block (`xfs_da3_root_split`). The keys above are fixed.
pub(crate) fn add_child<F: Fork>(f: &mut F, path: &[(u32, usize)], mut left: u32, mut add: (u32, u32)) -> FsResult<()> {
    let crc = f.crc();
    for i in (0..path.len()).rev() {
        let (fb, idx) = path[i];
        let (mut b, level, mut kids) = read_node(f, fb)?;
        if idx >= kids.len() {
            return Err(f.corrupt(format!("node block {fb}: no entry {idx}")));
        }
        let max = node_max(b.len(), crc);
        kids[idx].0 = left;
        kids.insert(idx + 1, add);
        if kids.len() <= max {
            write_node(&mut b, crc, level, &kids);
            f.write(fb, b)?;
            let last = kids.last().map_or(0, |k| k.0);
            return fix_hashes(f, &path[..i], last);
        }
        // The kernel moves the upper half of the full node, then inserts where the child is.
        let n = kids.len() - 1;
        let keep = n - n / 2;
        let right = kids.split_off(if idx < keep { keep + 1 } else { keep });
        let (nfb, ndaddr) = f.grow()?;
        let mut nb = new_node(f, b.len(), ndaddr);
        write_node(&mut nb, crc, level, &right);
        write_node(&mut b, crc, level, &kids);
        f.write(fb, b)?;
        f.write(nfb, nb)?;
        link_after(f, fb, nfb)?;
        left = kids.last().map_or(0, |k| k.0);
        add = (right.last().map_or(0, |k| k.0), nfb);
    }
    root_split(f, left, add)
}

/// `xfs_da3_root_split`: the root (split already: highest hash `left`, its new sibling
/// `add`) is copied to a new block (v5: its address set), the sibling's back pointer follows
/// it there, and the root's file block becomes a node one level above, over the two.
fn root_split<F: Fork>(f: &mut F, left: u32, add: (u32, u32)) -> FsResult<()> {
    let root = f.root();
    let (mut b, rdaddr) = f.read(root)?;
    let level = match magic(&b) {
        NODE_V4 | NODE_V5 => read_node(f, root)?.1,
        _ => 0,
    };
    if level + 1 >= MAX_DEPTH {
        return Err(f.corrupt(format!("a root split past {} levels", MAX_DEPTH)));
    }
    if forw(&b) != add.1 || back(&b) != 0 {
        return Err(f.corrupt(format!("root block {root}: siblings {}/{} after its split into {}", back(&b), forw(&b), add.1)));
    }
    let (cfb, cdaddr) = f.grow()?;
    if f.crc() {
        b[16..24].copy_from_slice(&cdaddr.to_be_bytes());
    }
    let len = b.len();
    f.write(cfb, b)?;
    let (mut sb, _) = f.read(add.1)?;
    set_back(&mut sb, cfb);
    f.write(add.1, sb)?;
    let mut r = new_node(f, len, rdaddr);
    write_node(&mut r, f.crc(), level + 1, &[(left, cfb), add]);
    f.write(root, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_bounds() {
        let mut b = vec![0u8; 512];
        b[8..10].copy_from_slice(&NODE_V4.to_be_bytes());
        b[12..14].copy_from_slice(&1u16.to_be_bytes());
        b[14..16].copy_from_slice(&1u16.to_be_bytes());
        b[16..24].copy_from_slice(&[0, 0, 0, 5, 0, 0, 0, 9]);
        assert_eq!(node(&b, None, "x").unwrap(), (1, vec![(5, 9)]));
        set_node_hash(&mut b, false, 0, 6);
        assert_eq!(node(&b, None, "x").unwrap(), (1, vec![(6, 9)]));
        init_blkinfo(&mut b, NODE_V4, None);
        write_node(&mut b, false, 2, &[(1, 2), (3, 4)]);
        set_forw(&mut b, 7);
        set_back(&mut b, 8);
        assert_eq!(node(&b, None, "x").unwrap(), (2, vec![(1, 2), (3, 4)]));
        assert_eq!((forw(&b), back(&b)), (7, 8));
        assert_eq!(node_max(512, false), 62);
        b[12..14].copy_from_slice(&100u16.to_be_bytes());
        assert!(node(&b, None, "x").is_err());
        b[12..14].copy_from_slice(&1u16.to_be_bytes());
        b[14..16].copy_from_slice(&0u16.to_be_bytes());
        assert!(node(&b, None, "x").is_err());
        let o = Owner { ino: 1, uuid: &[0; 16], daddr: 0 };
        assert!(node(&b, Some(&o), "x").unwrap_err().contains("magic"));
    }

    /// A da btree in memory over blocks of `len` bytes: leaves are da blocks of magic
    /// [`MEM_LEAF`] holding sorted hashes (count at 12, v5 at 56), made and split here as a directory
    /// splits its LEAFN blocks, the nodes above by [`add_child`].
    struct Mem {
        crc: bool,
        len: usize,
        blocks: std::collections::BTreeMap<u32, Vec<u8>>,
        next: u32,
    }

    const MEM_LEAF: u16 = 0x1eaf;
    const UUID: [u8; 16] = [7; 16];

    impl Fork for Mem {
        fn crc(&self) -> bool {
            self.crc
        }
        fn ino(&self) -> u64 {
            99
        }
        fn uuid(&self) -> [u8; 16] {
            UUID
        }
        fn root(&self) -> u32 {
            0
        }
        fn what(&self) -> &'static str {
            "test"
        }
        fn read(&mut self, fb: u32) -> FsResult<(Vec<u8>, u64)> {
            Ok((self.blocks[&fb].clone(), u64::from(fb) * 8))
        }
        fn write(&mut self, fb: u32, mut b: Vec<u8>) -> FsResult<()> {
            assert!(self.blocks.contains_key(&fb), "block {fb} written before it was mapped");
            if self.crc {
                crc::stamp(&mut b, 12);
            }
            self.blocks.insert(fb, b);
            Ok(())
        }
        fn grow(&mut self) -> FsResult<(u32, u64)> {
            self.next += 1;
            self.blocks.insert(self.next, vec![0xa5; self.len]);
            Ok((self.next, u64::from(self.next) * 8))
        }
        fn corrupt(&self, m: String) -> Error {
            Error::Corrupt { dev: "mem".into(), fs: "xfs".into(), msg: m }
        }
    }

    impl Mem {
        fn new(crc: bool, len: usize) -> Mem {
            let mut m = Mem { crc, len, blocks: Default::default(), next: 0 };
            m.blocks.insert(0, vec![0; len]);
            let b = m.leaf_block(0, &[]);
            m.write(0, b).unwrap();
            m
        }
        fn hdr(&self) -> usize {
            if self.crc { 64 } else { 16 }
        }
        fn leaf_block(&self, fb: u32, hashes: &[u32]) -> Vec<u8> {
            let mut b = vec![0u8; self.len];
            let o = Owner { ino: 99, uuid: &UUID, daddr: u64::from(fb) * 8 };
            init_blkinfo(&mut b, MEM_LEAF, self.crc.then_some(&o));
            self.set_leaf(&mut b, hashes);
            b
        }
        fn set_leaf(&self, b: &mut [u8], hashes: &[u32]) {
            let at = if self.crc { 56 } else { 12 };
            b[at..at + 2].copy_from_slice(&(hashes.len() as u16).to_be_bytes());
            let h = self.hdr();
            b[h..].fill(0);
            for (i, x) in hashes.iter().enumerate() {
                b[h + 4 * i..h + 4 * i + 4].copy_from_slice(&x.to_be_bytes());
            }
        }
        fn leaf(&self, b: &[u8]) -> Vec<u32> {
            (0..usize::from(be16(b, if self.crc { 56 } else { 12 }))).map(|i| be32(b, self.hdr() + 4 * i)).collect()
        }
        fn node_of(&self, fb: u32) -> (u16, Vec<(u32, u32)>) {
            let o = Owner { ino: 99, uuid: &UUID, daddr: u64::from(fb) * 8 };
            node(&self.blocks[&fb], self.crc.then_some(&o), "test").unwrap()
        }

        /// Inserts `h` as a directory inserts a leaf entry.
        fn insert(&mut self, h: u32) -> FsResult<()> {
            loop {
                let mut fb = 0;
                let mut path = Vec::new();
                while matches!(magic(&self.blocks[&fb]), NODE_V4 | NODE_V5) {
                    let (_, kids) = self.node_of(fb);
                    let i = kids.iter().position(|k| k.0 >= h).unwrap_or(kids.len() - 1);
                    path.push((fb, i));
                    fb = kids[i].1;
                }
                let mut b = self.blocks[&fb].clone();
                let mut hs = self.leaf(&b);
                if hs.len() < (self.len - self.hdr()) / 4 {
                    hs.insert(hs.partition_point(|&x| x <= h), h);
                    self.set_leaf(&mut b, &hs);
                    self.write(fb, b)?;
                    return fix_hashes(self, &path, *hs.last().unwrap());
                }
                let right = hs.split_off(hs.len() / 2);
                let (nfb, _) = self.grow()?;
                let nb = self.leaf_block(nfb, &right);
                self.write(nfb, nb)?;
                self.set_leaf(&mut b, &hs);
                self.write(fb, b)?;
                link_after(self, fb, nfb)?;
                add_child(self, &path, *hs.last().unwrap(), (*right.last().unwrap(), nfb))?;
            }
        }

        /// Checks the whole tree: levels, every key its child's highest hash, every level's
        /// sibling chain in key order; returns the hashes in leaf order and the root level.
        fn check(&self) -> (Vec<u32>, u16) {
            let mut levels: Vec<Vec<u32>> = Vec::new();
            let mut out = Vec::new();
            let root_level = if magic(&self.blocks[&0]) == MEM_LEAF { 0 } else { self.node_of(0).0 };
            self.walk(0, root_level, &mut levels, &mut out);
            for (lv, blocks) in levels.iter().enumerate() {
                for (j, &fb) in blocks.iter().enumerate() {
                    let b = &self.blocks[&fb];
                    let want_back = if j == 0 { 0 } else { blocks[j - 1] };
                    let want_forw = blocks.get(j + 1).copied().unwrap_or(0);
                    assert_eq!((back(b), forw(b)), (want_back, want_forw), "level {lv} block {fb}: siblings");
                }
            }
            (out, root_level)
        }

        /// Walks the subtree at `fb` (of `level`): its highest hash.
        fn walk(&self, fb: u32, level: u16, levels: &mut Vec<Vec<u32>>, out: &mut Vec<u32>) -> u32 {
            if levels.len() <= usize::from(level) {
                levels.resize(usize::from(level) + 1, Vec::new());
            }
            levels[usize::from(level)].push(fb);
            if level == 0 {
                let b = &self.blocks[&fb];
                assert_eq!(magic(b), MEM_LEAF, "block {fb}");
                let hs = self.leaf(b);
                assert!(!hs.is_empty() && hs.windows(2).all(|w| w[0] <= w[1]), "leaf {fb}: {hs:?}");
                out.extend(&hs);
                return *hs.last().unwrap();
            }
            let (lv, kids) = self.node_of(fb);
            assert_eq!(lv, level, "node {fb}");
            assert!(kids.len() >= 2 || fb == 0, "node {fb}: {} entries", kids.len());
            for (h, c) in &kids {
                assert_eq!(self.walk(*c, level - 1, levels, out), *h, "node {fb}: key of child {c}");
            }
            kids.last().unwrap().0
        }
    }

    fn lcg(x: &mut u64) -> u32 {
        *x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (*x >> 33) as u32
    }

    /// Random, ascending and descending hashes (with duplicates) into small blocks: every
    /// level splits, the root several times; after each insert of a sample the tree checks.
    #[test]
    fn splits_keep_the_tree_whole() {
        for (crc, len) in [(false, 128), (true, 160)] {
            for order in 0..3 {
                let mut m = Mem::new(crc, len);
                let mut seed = 0x5eed + order as u64;
                let mut want: Vec<u32> = (0..4000).map(|_| lcg(&mut seed) % 5000).collect();
                match order {
                    1 => want.sort_unstable(),
                    2 => want.sort_unstable_by(|a, b| b.cmp(a)),
                    _ => {}
                }
                for (i, &h) in want.iter().enumerate() {
                    m.insert(h).unwrap();
                    if i % 97 == 0 {
                        m.check();
                    }
                }
                let (got, level) = m.check();
                want.sort_unstable();
                assert_eq!(got, want, "crc {crc} order {order}");
                assert!(level >= 3, "crc {crc} order {order}: root level {level}");
                // Every node but the root holds at least half of what fits.
                let max = node_max(len, crc);
                for (&fb, b) in &m.blocks {
                    if fb != 0 && matches!(magic(b), NODE_V4 | NODE_V5) {
                        assert!(m.node_of(fb).1.len() >= max / 2, "crc {crc} order {order}: node {fb}");
                    }
                }
            }
        }
    }

    /// A split that would make the tree deeper than `XFS_DA_NODE_MAXDEPTH` levels is an
    /// error, not a deeper tree.
    #[test]
    fn no_root_split_past_the_deepest_tree() {
        let mut m = Mem::new(false, 40);
        let mut seed = 1;
        let mut err = None;
        for _ in 0..100_000 {
            if let Err(e) = m.insert(lcg(&mut seed)) {
                err = Some(e);
                break;
            }
        }
        assert!(err.is_some_and(|e| e.to_string().contains("levels")));
        assert!(m.node_of(0).0 < MAX_DEPTH);
    }
}
