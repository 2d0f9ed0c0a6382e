//! The reverse mappings (`xfs_rmap.c`): on an rmapbt filesystem every used extent of an AG has
//! a record in the AG's [`RMAPBT`] saying who owns it — an inode's data or attribute fork at a
//! file offset (maybe unwritten), an inode's bmap btree block, or a special owner (the AG
//! headers, the log, the free-space btrees and AGFL, the inode btrees, inode chunks, the
//! refcount btree). Every allocation and free of the writer changes them here:
//! [`XfsWriter::rmap_map`] adds a mapping, merged with the same owner's records right before
//! and after it (contiguous blocks and file offsets, same flags), and
//! [`XfsWriter::rmap_unmap`] takes one away, shrinking or splitting the record holding it —
//! `xfs_rmap_map` / `xfs_rmap_unmap`. Records are found by a range query over the overlapping
//! keys and matched by owner, so on a reflink filesystem, where several owners map one block,
//! each owner's records are changed alone (`xfs_rmap_map_shared` / `xfs_rmap_unmap_shared`);
//! without reflink any overlap is corruption. A change of the unwritten flag is an unmap of
//! the old mapping and a map of the new (what `xfs_rmap_convert` leaves behind).
//!
//! [`XfsWriter::rmap_fork_change`] turns a fork's old and new block maps into those updates,
//! so the one bmap writer ([`super::bmbt`]) keeps the file mappings exact whatever the caller
//! changed. As the kernel's deferred rmap updates, each update first fixes the AGFL
//! ([`XfsWriter::fix_freelist`]) so that rmapbt splits find blocks there; the AGFL's own
//! refills and trims update the `OWN_AG` records without that (the `_raw` functions).

use super::bmap::Extent;
use super::btree_write::RMAPBT;
use super::rmap_rec::{Owner, RmapRec};
use super::sb::{RO_COMPAT_REFLINK, RO_COMPAT_RMAPBT};
use super::writer::XfsWriter;
use crate::fs::Result;

/// A key bound for range queries: (startblock, owner, offset).
fn key(start: u32, owner: u64, off: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(20);
    k.extend(start.to_be_bytes());
    k.extend(owner.to_be_bytes());
    k.extend(off.to_be_bytes());
    k
}

impl XfsWriter {
    /// Whether the filesystem has the rmapbt.
    pub(crate) fn has_rmapbt(&self) -> bool {
        self.sb.ro_compat & RO_COMPAT_RMAPBT != 0
    }

    /// The records meeting AG blocks `first..=last` in AG `agno`.
    pub(crate) fn rmap_query(&mut self, agno: u32, first: u32, last: u32) -> Result<Vec<RmapRec>> {
        let mut out = Vec::new();
        self.bt_query_range(&RMAPBT, agno, &key(first, 0, 0), &key(last, u64::MAX, u64::MAX), &mut |r| {
            out.push(RmapRec::decode(r));
            true
        })?;
        Ok(out)
    }

    /// Every record of AG `agno`'s rmapbt in order, checking the tree's structure on the way
    /// (levels, key order, each interior entry's low and high keys those of the block below,
    /// siblings, fill, `agf_rmap_blocks`): a test and debug aid. Read-only.
    pub fn rmap_records(&mut self, agno: u32) -> Result<Vec<RmapRec>> {
        self.begin();
        let r = (|| {
            let (recs, beyond_root, _) = self.bt_check(&RMAPBT, agno)?;
            let counted = self.agf(agno)?.rmap_blocks;
            if counted != beyond_root + 1 {
                return Err(self.corrupt(format!("AGF of AG {agno}: {counted} rmapbt blocks counted, the tree has {}", beyond_root + 1)));
            }
            Ok(recs.iter().map(|r| RmapRec::decode(r)).collect())
        })();
        self.bufs.discard();
        self.abort();
        r
    }

    /// Records that `len` blocks from `bno` of AG `agno` are now `own`'s (see the module
    /// documentation); nothing without an rmapbt.
    pub(crate) fn rmap_map(&mut self, agno: u32, bno: u32, len: u32, own: Owner) -> Result<()> {
        if !self.has_rmapbt() || len == 0 {
            return Ok(());
        }
        self.fix_freelist(agno, true)?;
        self.rmap_map_raw(agno, bno, len, own)
    }

    /// Records that `len` blocks from `bno` of AG `agno` are no longer `own`'s.
    pub(crate) fn rmap_unmap(&mut self, agno: u32, bno: u32, len: u32, own: Owner) -> Result<()> {
        if !self.has_rmapbt() || len == 0 {
            return Ok(());
        }
        self.fix_freelist(agno, true)?;
        self.rmap_unmap_raw(agno, bno, len, own)
    }

    /// [`XfsWriter::rmap_map`] without fixing the AGFL first (the AGFL's own changes).
    pub(crate) fn rmap_map_raw(&mut self, agno: u32, bno: u32, len: u32, own: Owner) -> Result<()> {
        if !self.has_rmapbt() || len == 0 {
            return Ok(());
        }
        let end = u64::from(bno) + u64::from(len);
        let bad = |w: &XfsWriter, m: String| w.corrupt(format!("rmapbt of AG {agno}: mapping blocks {bno}+{len} to owner {:#x} offset {}: {m}", own.owner, own.off));
        if end > u64::from(self.ag_len(agno)) {
            return Err(bad(self, "past the AG's end".into()));
        }
        let near = self.rmap_query(agno, bno.saturating_sub(1), end as u32)?;
        let shared = self.sb.ro_compat & RO_COMPAT_REFLINK != 0 && own.owner & (1 << 63) == 0;
        let ign = own.ignore_off();
        for r in &near {
            let meets = u64::from(r.start) < end && r.end() > u64::from(bno);
            if !meets {
                continue;
            }
            // Without reflink no two records meet; with it, only the same mapping twice is wrong.
            let logical = ign || (r.off < own.off + u64::from(len) && own.off < r.off + u64::from(r.len));
            if !shared || (r.same(&own) && logical) {
                return Err(bad(self, format!("already mapped by {r:?}")));
            }
        }
        let left = near.iter().copied().find(|r| r.same(&own) && r.end() == u64::from(bno) && (ign || r.off + u64::from(r.len) == own.off));
        let right = near.iter().copied().find(|r| r.same(&own) && u64::from(r.start) == end && (ign || r.off == own.off + u64::from(len)));
        match (left, right) {
            (Some(l), Some(r)) => {
                self.bt_delete(&RMAPBT, agno, &(RMAPBT.key_of)(&r.encode()))?;
                self.bt_update(&RMAPBT, agno, &RmapRec { len: l.len + len + r.len, ..l }.encode())
            }
            (Some(l), None) => self.bt_update(&RMAPBT, agno, &RmapRec { len: l.len + len, ..l }.encode()),
            (None, Some(r)) => {
                self.bt_delete(&RMAPBT, agno, &(RMAPBT.key_of)(&r.encode()))?;
                self.bt_insert(&RMAPBT, agno, &RmapRec { start: bno, len: len + r.len, owner: own.owner, off: own.off, flags: own.flags }.encode())
            }
            (None, None) => self.bt_insert(&RMAPBT, agno, &RmapRec { start: bno, len, owner: own.owner, off: own.off, flags: own.flags }.encode()),
        }
    }

    /// [`XfsWriter::rmap_unmap`] without fixing the AGFL first (the AGFL's own changes).
    pub(crate) fn rmap_unmap_raw(&mut self, agno: u32, bno: u32, len: u32, own: Owner) -> Result<()> {
        if !self.has_rmapbt() || len == 0 {
            return Ok(());
        }
        let end = u64::from(bno) + u64::from(len);
        let ign = own.ignore_off();
        let near = self.rmap_query(agno, bno, (end - 1) as u32)?;
        let found = near.iter().copied().find(|r| {
            r.same(&own) && r.start <= bno && r.end() >= end && (ign || r.off + u64::from(bno - r.start) == own.off)
        });
        let Some(r) = found else {
            return Err(self.corrupt(format!("rmapbt of AG {agno}: no record maps blocks {bno}+{len} to owner {:#x} offset {}", own.owner, own.off)));
        };
        let tail = (r.end() - end) as u32;
        let tail_rec = RmapRec { start: end as u32, len: tail, off: if ign { r.off } else { r.off + u64::from(end as u32 - r.start) }, ..r };
        if r.start == bno {
            self.bt_delete(&RMAPBT, agno, &(RMAPBT.key_of)(&r.encode()))?;
            if tail > 0 {
                self.bt_insert(&RMAPBT, agno, &tail_rec.encode())?;
            }
            return Ok(());
        }
        self.bt_update(&RMAPBT, agno, &RmapRec { len: bno - r.start, ..r }.encode())?;
        if tail > 0 {
            self.bt_insert(&RMAPBT, agno, &tail_rec.encode())?;
        }
        Ok(())
    }

    /// Maps (`map`) or unmaps filesystem blocks `fsb..fsb + count` for `own`, split at AG
    /// boundaries; a file owner's offset advances with the blocks.
    fn rmap_fsb(&mut self, fsb: u64, count: u64, own: Owner, map: bool) -> Result<()> {
        let mask = (1u64 << self.sb.agblklog) - 1;
        let (mut fsb, mut left, mut own) = (fsb, count, own);
        while left > 0 {
            let (agno, bno) = ((fsb >> self.sb.agblklog) as u32, fsb & mask);
            let room = u64::from(self.sb.agblocks).saturating_sub(bno);
            if agno >= self.sb.agcount || room == 0 {
                return Err(self.corrupt(format!("reverse mapping of filesystem block {fsb:#x}: outside the filesystem")));
            }
            let n = left.min(room);
            if map {
                self.rmap_map(agno, bno as u32, n as u32, own)?;
            } else {
                self.rmap_unmap(agno, bno as u32, n as u32, own)?;
            }
            fsb += n;
            left -= n;
            if !own.ignore_off() {
                own.off += n;
            }
        }
        Ok(())
    }

    /// The reverse-mapping updates for a fork of inode `ino` (`attr`: the attribute fork) whose
    /// map goes from `old` to `new` and whose bmap btree blocks from `old_tree` to `new_tree`
    /// (filesystem blocks): what `old` maps and `new` does not (or maps elsewhere, or with
    /// another unwritten flag) is unmapped, then what `new` maps anew is mapped.
    pub(crate) fn rmap_fork_change(&mut self, ino: u64, attr: bool, old: &[Extent], new: &[Extent], old_tree: &[u64], new_tree: &[u64]) -> Result<()> {
        if !self.has_rmapbt() {
            return Ok(());
        }
        let (gone, added) = fork_diff(old, new);
        for e in gone {
            self.rmap_fsb(e.block, e.count, Owner::file(ino, e.off, attr, e.unwritten), false)?;
        }
        for &b in old_tree.iter().filter(|b| !new_tree.contains(b)) {
            self.rmap_fsb(b, 1, Owner::bmbt(ino, attr), false)?;
        }
        for e in added {
            self.rmap_fsb(e.block, e.count, Owner::file(ino, e.off, attr, e.unwritten), true)?;
        }
        for &b in new_tree.iter().filter(|b| !old_tree.contains(b)) {
            self.rmap_fsb(b, 1, Owner::bmbt(ino, attr), true)?;
        }
        Ok(())
    }
}

/// The pieces `old` maps that `new` does not map the same way, and the pieces `new` maps that
/// `old` did not, each as extents joined where contiguous (both maps sorted by offset).
fn fork_diff(old: &[Extent], new: &[Extent]) -> (Vec<Extent>, Vec<Extent>) {
    let mut cuts: Vec<u64> = old.iter().chain(new).flat_map(|e| [e.off, e.off + e.count]).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let (mut gone, mut added): (Vec<Extent>, Vec<Extent>) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0usize, 0usize);
    let push = |v: &mut Vec<Extent>, e: Extent| match v.last_mut() {
        Some(l) if l.off + l.count == e.off && l.block + l.count == e.block && l.unwritten == e.unwritten => l.count += e.count,
        _ => v.push(e),
    };
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        while i < old.len() && old[i].off + old[i].count <= a {
            i += 1;
        }
        while j < new.len() && new[j].off + new[j].count <= a {
            j += 1;
        }
        let at = |v: &[Extent], k: usize| v.get(k).filter(|e| e.off <= a).map(|e| Extent { off: a, block: e.block + (a - e.off), count: b - a, unwritten: e.unwritten });
        let (o, n) = (at(old, i), at(new, j));
        if o == n {
            continue;
        }
        if let Some(o) = o {
            push(&mut gone, o);
        }
        if let Some(n) = n {
            push(&mut added, n);
        }
    }
    (gone, added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use super::super::rmap_rec::{F_ATTR, OWN_AG};
    use crate::bytes::{be32, be64};

    fn e(off: u64, block: u64, count: u64) -> Extent {
        Extent { off, block, count, unwritten: false }
    }

    #[test]
    fn diffs() {
        assert_eq!(fork_diff(&[e(0, 100, 4)], &[e(0, 100, 6)]), (vec![], vec![e(4, 104, 2)]));
        assert_eq!(fork_diff(&[e(0, 100, 4)], &[e(0, 100, 1), e(2, 102, 2)]), (vec![e(1, 101, 1)], vec![]));
        assert_eq!(fork_diff(&[e(0, 100, 4)], &[e(0, 100, 1), e(1, 200, 3)]), (vec![e(1, 101, 3)], vec![e(1, 200, 3)]));
        let mut u = e(0, 100, 4);
        u.unwritten = true;
        assert_eq!(fork_diff(&[u], &[e(0, 100, 4)]), (vec![u], vec![e(0, 100, 4)]));
    }

    #[test]
    fn records() {
        let r = RmapRec { start: 7, len: 3, owner: 131, off: 9, flags: F_ATTR };
        assert_eq!(RmapRec::decode(&r.encode()), r);
        let high = (RMAPBT.high_of)(&r.encode());
        assert_eq!(be32(&high, 0), 9);
        assert_eq!(be64(&high, 12), 11 | F_ATTR);
        let s = RmapRec { start: 7, len: 3, owner: OWN_AG, off: 0, flags: 0 };
        assert_eq!(be64(&(RMAPBT.high_of)(&s.encode()), 12), 0);
    }
}
