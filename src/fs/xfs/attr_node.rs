//! Attribute forks in leaf and node form, edited (the kernel's `xfs_attr_leaf_addname`,
//! `xfs_attr_node_addname`, their removals and `xfs_da3_split`/`xfs_da3_join` for attributes):
//! block 0 of the attribute fork is one leaf ([`super::attr_leaf`]), or a da node
//! ([`super::da`]) indexing leaves by their highest hash, the leaves chained in hash order by
//! sibling links; values too large for a leaf lie in remote value blocks
//! ([`super::attr_remote`]) elsewhere in the fork.
//!
//! An edit reads each block it needs once, changes the decoded blocks in memory and writes
//! them when it commits, with the new block map (in the inode, or a bmap btree of the
//! attribute fork: [`XfsWriter::store_fork_map`]) and their reverse mappings; blocks it
//! unmaps are freed then. We commit atomically, so the final state is written directly: no
//! INCOMPLETE entries, no intermediate transactions.
//!
//! - Lookup goes through the node by hash (the first child whose key is at least the name's
//!   hash), then along the leaves while their entries keep that hash.
//! - A new entry goes into the leaf the lookup found, in hash order. A full leaf splits
//!   (`xfs_attr3_leaf_split`): block 0, while it is the only leaf, first moves to a new block
//!   under a new node root (`xfs_attr3_leaf_to_node`); the entries are spread over the old
//!   leaf and one new right sibling as evenly as they go, or two when the new entry fits
//!   neither half (the kernel's double split), each new leaf keyed in the node after the old.
//! - A remote value's blocks go at the first hole of the fork's block space large enough
//!   (`xfs_bmap_first_unused` from block 0), allocated next to the mapping before them.
//!   Replacing or removing the value unmaps and frees them.
//! - A leaf left empty goes (unlinked, its key removed, its block freed); one left under 37%
//!   full joins a sibling when both fit in ¾ of a block (`xfs_attr3_leaf_toosmall`: the lower
//!   numbered block kept); a node root left with one leaf takes that leaf's contents back
//!   into block 0 (`xfs_da3_root_join`). Node keys are the highest hash of each leaf, as
//!   xfs_repair checks them.
//!
//! What an edit reads is checked as xfs_repair checks it (leaves: see
//! [`attr_leaf::decode`]; the root's children distinct and past block 0, its keys in order
//! and each its leaf's highest hash, the leaves' sibling links in the root's order, remote
//! values off the da blocks and at most 64 KiB): [`Error::Corrupt`] otherwise, and nothing is
//! written. Refused with [`Error::Unsupported`] naming the case: a node root that would need more
//! entries than one block holds (splitting a da node) and da btrees of more than one node
//! level (which only such a split makes).

use super::attr_leaf::{self, Entry, Leaf, Val, INCOMPLETE};
use super::attr_remote;
use super::bmap::{self, Extent};
use super::da::{self, Owner};
use super::dir2::hash::hashname;
use super::dir2::leaf::STAMP;
use super::inode::Inode;
use super::writer::XfsWriter;
use crate::fs::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};

/// The namespace bits an entry is matched by (with its name): ROOT, SECURE, PARENT.
pub(crate) const NAMESPACE: u8 = 2 | 4 | 8;

/// A da node block held for an edit.
#[derive(Debug, Clone)]
struct Node {
    level: u16,
    /// (highest hash below, child block) pairs in hash order.
    ents: Vec<(u32, u32)>,
}

/// An attribute fork in leaf or node form open for an edit (see the module documentation).
pub(crate) struct AttrEdit {
    ino: u64,
    /// The fork's block map as the edit leaves it.
    pub(crate) map: Vec<Extent>,
    leaves: BTreeMap<u32, Leaf>,
    /// The node root (block 0) when the fork is in node form.
    root: Option<Node>,
    /// Whether block 0 has been read (as `leaves[0]` or `root`).
    root_read: bool,
    /// Blocks to write at the commit.
    dirty: BTreeSet<u32>,
    /// Remote values to write at the commit: (first block, bytes).
    values: Vec<(u32, Vec<u8>)>,
    /// Filesystem block runs unmapped, freed at the commit.
    pub(crate) freed: Vec<(u64, u64)>,
}

/// Where lookup found a name: the leaf and index of a live entry of that name, and the leaf
/// a new entry of its hash goes into.
pub(crate) struct Found {
    /// (leaf block, index) of the entry, if set.
    pub(crate) hit: Option<(u32, usize)>,
    /// The leaf to insert into.
    pub(crate) pos: u32,
}

/// `xfs_bmap_first_unused`: the first file block from 0 where `len` blocks are unmapped.
pub(crate) fn first_unused(map: &[Extent], len: u64) -> u64 {
    let mut max = 0u64;
    for e in map {
        if e.off >= len && e.off - max >= len {
            break;
        }
        max = max.max(e.off + e.count);
    }
    max
}

impl AttrEdit {
    /// An edit of inode `ino`'s attribute fork mapped by `map`.
    pub(crate) fn new(ino: u64, map: Vec<Extent>) -> AttrEdit {
        AttrEdit { ino, map, leaves: BTreeMap::new(), root: None, root_read: false, dirty: BTreeSet::new(), values: Vec::new(), freed: Vec::new() }
    }

    /// The single leaf's entries when block 0 is a leaf (after [`XfsWriter::attr_root`]).
    pub(crate) fn root_leaf(&self) -> Option<&Leaf> {
        if self.root.is_some() { None } else { self.leaves.get(&0) }
    }

    fn leaf(&mut self, blk: u32) -> &mut Leaf {
        self.dirty.insert(blk);
        self.leaves.entry(blk).or_default()
    }
}

impl XfsWriter {
    fn attr_corrupt(&self, ino: u64, m: impl std::fmt::Display) -> Error {
        self.corrupt(format!("inode {ino}: {m}"))
    }

    /// Leaf `blk` as the edit read or made it; an error when it did neither.
    fn attr_leaf_of<'a>(&self, ed: &'a AttrEdit, blk: u32) -> Result<&'a Leaf> {
        ed.leaves.get(&blk).ok_or_else(|| self.attr_corrupt(ed.ino, format!("attribute leaf {blk} not read")))
    }

    /// Byte offset of attribute-fork block `blk` as `map` maps it.
    fn attr_byte(&self, ino: u64, map: &[Extent], blk: u64) -> Result<u64> {
        let e = bmap::find(map, blk).map_err(|_| self.attr_corrupt(ino, format!("attribute fork block {blk} is a hole")))?;
        let fsb = e.block + (blk - e.off);
        self.sb.fsb_to_byte(fsb, 1).ok_or_else(|| self.attr_corrupt(ino, format!("attribute block {fsb:#x} outside the filesystem")))
    }

    /// Reads block `blk` of the fork: a leaf (into the edit's leaves) or, for block 0, a node.
    fn attr_read(&self, ed: &mut AttrEdit, blk: u32) -> Result<()> {
        if ed.leaves.contains_key(&blk) || (blk == 0 && ed.root_read) {
            return Ok(());
        }
        let ino = ed.ino;
        let byte = self.attr_byte(ino, &ed.map, u64::from(blk))?;
        let b = self.bufs.read(byte, self.sb.blocksize as usize)?;
        let crc = self.sb.crc;
        let uuid = self.sb.meta_uuid;
        let o = Owner { ino, uuid: &uuid, daddr: byte >> 9 };
        let what = format!("attribute fork block {blk}");
        if matches!(da::magic(&b), da::NODE_V4 | da::NODE_V5) {
            if blk != 0 {
                return Err(self.xattr_refuse(ino, &format!("its attribute fork's da btree has interior nodes below the root ({what})")));
            }
            let (level, ents) = da::node(&b, crc.then_some(&o), "attribute").map_err(|m| self.attr_corrupt(ino, format!("{what}: {m}")))?;
            if level != 1 {
                return Err(self.xattr_refuse(ino, &format!("its attribute fork's da btree has {level} node levels (only one node block is written)")));
            }
            if da::forw(&b) != 0 || da::back(&b) != 0 {
                return Err(self.attr_corrupt(ino, "attribute node root with siblings"));
            }
            let mut kids: Vec<u32> = ents.iter().map(|e| e.1).collect();
            kids.sort_unstable();
            kids.dedup();
            if kids.len() != ents.len() || kids.first() == Some(&0) || ents.windows(2).any(|w| w[0].0 > w[1].0) {
                return Err(self.attr_corrupt(ino, "attribute node root: children repeated, block 0 among them, or keys out of order"));
            }
            ed.root = Some(Node { level, ents });
            ed.root_read = true;
            return Ok(());
        }
        if crc {
            da::check_v5(&b, &o, "attribute leaf").map_err(|m| self.attr_corrupt(ino, format!("{what}: {m}")))?;
        }
        let leaf = attr_leaf::decode(&b, crc).map_err(|m| self.attr_corrupt(ino, format!("{what}: {m}")))?;
        if blk == 0 {
            if leaf.forw != 0 || leaf.back != 0 {
                return Err(self.attr_corrupt(ino, "attribute leaf block 0 with siblings"));
            }
            ed.root_read = true;
        } else {
            // a leaf of a node-form fork: keyed in the root, linked to its neighbours there
            let root = ed.root.as_ref().ok_or_else(|| self.attr_corrupt(ino, format!("{what}: a leaf past block 0 of a leaf-form fork")))?;
            let i = root.ents.iter().position(|e| e.1 == blk).ok_or_else(|| self.attr_corrupt(ino, format!("{what}: a leaf the node root does not index")))?;
            let back = if i == 0 { 0 } else { root.ents[i - 1].1 };
            let forw = root.ents.get(i + 1).map_or(0, |e| e.1);
            if leaf.ents.is_empty() || leaf.back != back || leaf.forw != forw {
                return Err(self.attr_corrupt(ino, format!("{what}: an empty leaf, or sibling links not in the node's order")));
            }
            let low = if i == 0 { 0 } else { root.ents[i - 1].0 };
            if leaf.last_hash() != root.ents[i].0 || leaf.ents[0].hash < low {
                return Err(self.attr_corrupt(ino, format!("{what}: hashes outside its key's range in the node root")));
            }
        }
        ed.leaves.insert(blk, leaf);
        Ok(())
    }

    /// Reads block 0: afterwards [`AttrEdit::root_leaf`] tells the form.
    pub(crate) fn attr_root(&self, ed: &mut AttrEdit) -> Result<()> {
        self.attr_read(ed, 0)
    }

    /// Starts a fork with no blocks: an empty leaf at block 0 (`xfs_attr3_leaf_create`).
    pub(crate) fn attr_new_leaf_root(&mut self, ed: &mut AttrEdit) -> Result<()> {
        let blk = self.attr_grow(ed)?;
        if blk != 0 {
            return Err(self.attr_corrupt(ed.ino, "a new attribute fork with blocks mapped"));
        }
        ed.leaves.insert(0, Leaf::default());
        ed.dirty.insert(0);
        ed.root_read = true;
        Ok(())
    }

    /// `xfs_da_grow_inode` for the attribute fork: one block mapped at the first unused
    /// file block, allocated next to the mapping before it; its number.
    fn attr_grow(&mut self, ed: &mut AttrEdit) -> Result<u32> {
        self.attr_map_run(ed, 1)
    }

    /// `len` blocks mapped at the first hole of the fork that holds them, in as few extents
    /// as the allocator gives; the first file block.
    fn attr_map_run(&mut self, ed: &mut AttrEdit, len: u64) -> Result<u32> {
        let first = first_unused(&ed.map, len);
        if first + len > u64::from(u32::MAX) {
            return Err(self.xattr_refuse(ed.ino, "an attribute fork past 2^32 blocks"));
        }
        let mut fb = first;
        while fb < first + len {
            let target = self.data_target(ed.ino, &ed.map, &[], fb);
            let (fsb, got) = self.alloc_data(target, first + len - fb)?;
            ed.map = bmap::insert(&ed.map, Extent { off: fb, block: fsb, count: got, unwritten: false });
            fb += got;
        }
        Ok(first as u32)
    }

    /// Unmaps `len` file blocks from `blk` (every one mapped), to be freed at the commit.
    fn attr_unmap(&mut self, ed: &mut AttrEdit, blk: u64, len: u64) -> Result<()> {
        let mut fb = blk;
        while fb < blk + len {
            let e = *bmap::find(&ed.map, fb).map_err(|_| self.attr_corrupt(ed.ino, format!("attribute fork block {fb} is a hole")))?;
            let n = (e.off + e.count - fb).min(blk + len - fb);
            ed.freed.push((e.block + (fb - e.off), n));
            fb += n;
        }
        ed.map = bmap::punch(&ed.map, blk, len);
        Ok(())
    }

    /// Looks `name` of namespace `flags` up (see the module documentation).
    pub(crate) fn attr_find(&self, ed: &mut AttrEdit, flags: u8, name: &[u8]) -> Result<Found> {
        self.attr_root(ed)?;
        let hash = hashname(name);
        let matches = |e: &Entry| e.hash == hash && e.flags & INCOMPLETE == 0 && e.flags & NAMESPACE == flags && e.name == name;
        let Some(root) = ed.root.clone() else {
            let hit = self.attr_leaf_of(ed, 0)?.ents.iter().position(matches).map(|k| (0, k));
            return Ok(Found { hit, pos: 0 });
        };
        let mut i = root.ents.iter().position(|&(h, _)| h >= hash).unwrap_or(root.ents.len() - 1);
        let pos = root.ents[i].1;
        loop {
            let blk = root.ents[i].1;
            self.attr_read(ed, blk)?;
            let l = self.attr_leaf_of(ed, blk)?;
            if let Some(k) = l.ents.iter().position(matches) {
                return Ok(Found { hit: Some((blk, k)), pos });
            }
            if l.last_hash() != hash || i + 1 == root.ents.len() {
                return Ok(Found { hit: None, pos });
            }
            i += 1;
        }
    }

    /// Takes entry `k` out of leaf `blk`, unmapping its remote value (which must lie outside
    /// the da blocks and hold at most 64 KiB).
    pub(crate) fn attr_remove_at(&mut self, ed: &mut AttrEdit, blk: u32, k: usize) -> Result<()> {
        let e = ed.leaf(blk).ents.remove(k);
        if let Val::Remote { blk: vb, len } = e.val {
            let n = attr_remote::blocks(len as usize, self.sb.blocksize as usize, self.sb.crc);
            let (from, to) = (u64::from(vb), u64::from(vb) + n);
            let da_blocks = ed.root.iter().flat_map(|r| r.ents.iter().map(|e| u64::from(e.1))).chain([0]);
            if len as usize > attr_remote::MAX_VALUE || da_blocks.into_iter().any(|d| (from..to).contains(&d)) {
                return Err(self.attr_corrupt(ed.ino, format!("a remote attribute value of {len} bytes at block {vb}, over the fork's da blocks or too long")));
            }
            self.attr_unmap(ed, from, n)?;
        }
        Ok(())
    }

    /// Adds an attribute (none of that name set) into leaf `pos` (from [`XfsWriter::attr_find`]),
    /// splitting it when full; a remote value gets its blocks.
    pub(crate) fn attr_add(&mut self, ed: &mut AttrEdit, pos: u32, flags: u8, name: &[u8], value: &[u8]) -> Result<()> {
        let bs = self.sb.blocksize as usize;
        let local = attr_leaf::is_local(name.len(), value.len(), bs);
        let val = if local { Val::Local(value.to_vec()) } else { Val::Remote { blk: 0, len: value.len() as u32 } };
        let (blk, k) = self.attr_insert(ed, pos, Entry::new(flags, name.to_vec(), val))?;
        if !local {
            let n = attr_remote::blocks(value.len(), bs, self.sb.crc);
            let first = self.attr_map_run(ed, n)?;
            ed.leaf(blk).ents[k].val = Val::Remote { blk: first, len: value.len() as u32 };
            ed.values.push((first, value.to_vec()));
        }
        Ok(())
    }

    /// Inserts `e` into leaf `blk`, splitting it when it overflows; where the entry ended up.
    fn attr_insert(&mut self, ed: &mut AttrEdit, blk: u32, e: Entry) -> Result<(u32, usize)> {
        let (bs, crc, ino) = (self.sb.blocksize as usize, self.sb.crc, ed.ino);
        self.attr_read(ed, blk)?;
        let k = ed.leaf(blk).insert(e);
        if self.attr_leaf_of(ed, blk)?.fits(bs, crc) {
            return Ok((blk, k));
        }
        let cuts = attr_leaf::split_points(&self.attr_leaf_of(ed, blk)?.ents, bs, crc).ok_or_else(|| self.attr_corrupt(ino, "attribute entries no three leaves hold"))?;
        let max = da::node_max(bs, crc);
        let have = ed.root.as_ref().map_or(1, |r| r.ents.len());
        if have + cuts.len() > max {
            return Err(self.xattr_refuse(ino, &format!("more attributes than {max} leaves under one da node block hold (the node format: splitting the attribute fork's da node block)")));
        }
        let mut blk = blk;
        if ed.root.is_none() {
            // xfs_attr3_leaf_to_node: the leaf moves to a new block under a new node root
            let nb = self.attr_grow(ed)?;
            let l = ed.leaves.remove(&0).unwrap_or_default();
            ed.dirty.remove(&0);
            ed.root = Some(Node { level: 1, ents: vec![(l.last_hash(), nb)] });
            ed.dirty.insert(0);
            *ed.leaf(nb) = l;
            blk = nb;
        }
        // the new leaves, right of the old one
        let mut news = Vec::with_capacity(cuts.len());
        for _ in &cuts {
            news.push(self.attr_grow(ed)?);
        }
        let mut all = std::mem::take(&mut ed.leaf(blk).ents);
        let old_forw = self.attr_leaf_of(ed, blk)?.forw;
        let mut bounds = cuts.clone();
        bounds.push(all.len());
        let mut groups = Vec::with_capacity(news.len());
        for w in bounds.windows(2).rev() {
            groups.push(all.split_off(w[0]));
        }
        groups.reverse();
        ed.leaf(blk).ents = all;
        let chain: Vec<u32> = std::iter::once(blk).chain(news.iter().copied()).collect();
        for (j, ents) in groups.into_iter().enumerate() {
            let nb = news[j];
            *ed.leaf(nb) = Leaf { forw: chain.get(j + 2).copied().unwrap_or(old_forw), back: chain[j], ents };
        }
        ed.leaf(blk).forw = news[0];
        if old_forw != 0 {
            self.attr_read(ed, old_forw)?;
            ed.leaf(old_forw).back = *news.last().unwrap_or(&blk);
        }
        let keys: Vec<(u32, u32)> = chain.iter().map(|&c| Ok((self.attr_leaf_of(ed, c)?.last_hash(), c))).collect::<Result<_>>()?;
        let root = ed.root.as_mut().ok_or_else(|| self.attr_corrupt(ino, "no node root after a split"))?;
        let p = root.ents.iter().position(|&(_, c)| c == blk).ok_or_else(|| self.attr_corrupt(ino, format!("attribute leaf {blk} not in the node root")))?;
        root.ents.splice(p..=p, keys);
        ed.dirty.insert(0);
        // where the new entry went
        let (mut at, mut j) = (k, 0);
        while j < cuts.len() && k >= cuts[j] {
            at = k - cuts[j];
            j += 1;
        }
        Ok((chain[j], at))
    }

    /// After a removal from leaf `blk` of a node-form fork: a leaf left empty goes, one under
    /// 37% full joins a sibling when both fit ¾ of a block, a root left with one leaf takes
    /// it back into block 0.
    pub(crate) fn attr_shrink(&mut self, ed: &mut AttrEdit, blk: u32) -> Result<()> {
        let (bs, crc) = (self.sb.blocksize as usize, self.sb.crc);
        if ed.root.is_none() || blk == 0 || !ed.leaves.contains_key(&blk) {
            return Ok(());
        }
        let l = self.attr_leaf_of(ed, blk)?.clone();
        if l.ents.is_empty() {
            self.attr_join(ed, (blk, blk), blk)?;
        } else if l.bytes(crc) < bs * 37 / 100 {
            // xfs_attr3_leaf_toosmall: the lower numbered sibling first
            let mut sibs = [l.forw, l.back];
            sibs.sort_unstable();
            for s in sibs.into_iter().filter(|&s| s != 0) {
                self.attr_read(ed, s)?;
                let both = l.bytes(crc) + self.attr_leaf_of(ed, s)?.bytes(crc) - attr_leaf::header_len(crc);
                if both <= bs - bs / 4 {
                    let pair = if s == l.forw { (blk, s) } else { (s, blk) };
                    self.attr_join(ed, pair, blk.min(s))?;
                    break;
                }
            }
        }
        // a root left with no leaf (it indexed one, which emptied): an empty leaf root, for
        // the caller to drop with the fork
        if ed.root.as_ref().is_some_and(|r| r.ents.is_empty()) {
            ed.root = None;
            ed.leaves.insert(0, Leaf::default());
            ed.dirty.insert(0);
        }
        // xfs_da3_root_join: one leaf left under the root goes back into block 0
        if let Some(root) = ed.root.clone().filter(|r| r.ents.len() == 1) {
            let child = root.ents[0].1;
            self.attr_read(ed, child)?;
            let mut l = ed.leaves.remove(&child).unwrap_or_default();
            ed.dirty.remove(&child);
            (l.forw, l.back) = (0, 0);
            ed.root = None;
            ed.leaves.insert(0, l);
            ed.dirty.insert(0);
            self.attr_unmap(ed, u64::from(child), 1)?;
        }
        Ok(())
    }

    /// Joins neighbouring leaves `left` and `right` (the same block for an empty leaf that
    /// just goes) into `keep`, one of them: the entries of both in hash order, the outer
    /// sibling links, the other block's key taken out of the root and its block unmapped.
    fn attr_join(&mut self, ed: &mut AttrEdit, (left, right): (u32, u32), keep: u32) -> Result<()> {
        let ino = ed.ino;
        let (back, forw) = (self.attr_leaf_of(ed, left)?.back, self.attr_leaf_of(ed, right)?.forw);
        let mut ents = std::mem::take(&mut ed.leaf(left).ents);
        if right != left {
            ents.append(&mut ed.leaf(right).ents);
        }
        let drop = if keep == left { right } else { left };
        ed.leaves.remove(&drop);
        ed.dirty.remove(&drop);
        // an empty leaf just goes: its neighbours link to each other
        let keep = if ents.is_empty() { None } else { Some(keep) };
        if let Some(k) = keep {
            *ed.leaf(k) = Leaf { forw, back, ents };
        }
        if back != 0 {
            self.attr_read(ed, back)?;
            ed.leaf(back).forw = keep.unwrap_or(forw);
        }
        if forw != 0 {
            self.attr_read(ed, forw)?;
            ed.leaf(forw).back = keep.unwrap_or(back);
        }
        let root = ed.root.as_mut().ok_or_else(|| self.attr_corrupt(ino, "joining leaves without a node root"))?;
        root.ents.retain(|&(_, c)| c != drop);
        ed.dirty.insert(0);
        self.attr_unmap(ed, u64::from(drop), 1)
    }

    /// Writes the edit: every changed leaf and node block (node keys set to their leaves'
    /// highest hashes), the remote values, the fork's block map into inode bytes `b` of inode
    /// `i` (whose fork had map `old` and bmap btree blocks `tree`) with the reverse mappings,
    /// and frees the blocks unmapped. Returns the change of `di_nblocks`.
    pub(crate) fn attr_commit(&mut self, ed: AttrEdit, i: &Inode, old: &[Extent], tree: &[u64], b: &mut [u8]) -> Result<i64> {
        let (bs, crc, ino) = (self.sb.blocksize as usize, self.sb.crc, ed.ino);
        let uuid = self.sb.meta_uuid;
        let mut ed = ed;
        if let Some(root) = ed.root.as_mut() {
            for e in &mut root.ents {
                if let Some(l) = ed.leaves.get(&e.1) {
                    if l.ents.is_empty() {
                        return Err(self.attr_corrupt(ino, format!("attribute leaf {} left empty", e.1)));
                    }
                    if e.0 != l.last_hash() {
                        e.0 = l.last_hash();
                        ed.dirty.insert(0);
                    }
                }
            }
            if root.ents.len() > da::node_max(bs, crc) {
                return Err(self.xattr_refuse(ino, "more leaves than one da node block indexes"));
            }
        }
        for &blk in &ed.dirty {
            let byte = self.attr_byte(ino, &ed.map, u64::from(blk))?;
            let block = match (&ed.root, blk) {
                (Some(root), 0) => {
                    let mut nb = vec![0u8; bs];
                    let o = Owner { ino, uuid: &uuid, daddr: byte >> 9 };
                    da::init_blkinfo(&mut nb, if crc { da::NODE_V5 } else { da::NODE_V4 }, crc.then_some(&o));
                    da::write_node(&mut nb, crc, root.level, &root.ents);
                    nb
                }
                _ => {
                    let l = ed.leaves.get(&blk).ok_or_else(|| self.attr_corrupt(ino, format!("attribute leaf {blk} lost")))?;
                    if !l.fits(bs, crc) {
                        return Err(self.attr_corrupt(ino, format!("attribute leaf {blk} overfull")));
                    }
                    attr_leaf::encode(l, bs, crc, &attr_leaf::BlockId { daddr: byte >> 9, uuid, ino })
                }
            };
            self.bufs.put(byte, block, Some(STAMP));
        }
        for (first, value) in &ed.values {
            let n = attr_remote::blocks(value.len(), bs, crc);
            let offs: Vec<u64> = (0..n).map(|k| self.attr_byte(ino, &ed.map, u64::from(*first) + k)).collect::<Result<_>>()?;
            let daddrs: Vec<u64> = offs.iter().map(|o| o >> 9).collect();
            for (off, blk) in offs.into_iter().zip(attr_remote::encode(value, bs, crc, ino, &uuid, &daddrs)) {
                self.bufs.put(off, blk, None);
            }
        }
        let delta = self.store_fork_map(i, true, old, tree, b, &ed.map)?;
        if !ed.freed.is_empty() {
            self.release_blocks(ino, &ed.freed)?;
        }
        let count = |m: &[Extent]| m.iter().map(|e| e.count).sum::<u64>() as i64;
        Ok(count(&ed.map) - count(old) + delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_unused_finds_the_first_hole_that_holds() {
        let e = |off, count| Extent { off, block: 100 + off, count, unwritten: false };
        assert_eq!(first_unused(&[], 3), 0);
        assert_eq!(first_unused(&[e(0, 1)], 3), 1);
        assert_eq!(first_unused(&[e(0, 1), e(3, 2)], 2), 1);
        assert_eq!(first_unused(&[e(0, 1), e(3, 2)], 3), 5);
        assert_eq!(first_unused(&[e(2, 1)], 2), 0);
        assert_eq!(first_unused(&[e(1, 1)], 2), 2);
    }
}
