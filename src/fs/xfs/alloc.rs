//! Free space (`xfs_alloc.c`): extents are allocated from and freed into the two free-space
//! btrees, which always hold the same records — the by-block tree ([`BNOBT`], for neighbours
//! and locality) and the by-size tree ([`CNTBT`], for best fit). The AGF counts the free
//! blocks in the trees (`freeblks`, not the AGFL) and the longest extent; the superblock's
//! `fdblocks` counts those plus the AGFL and the btrees' own blocks beyond their roots, so it
//! changes only with real allocations and frees.
//!
//! Strategies, simplified from the kernel's: by size (the smallest extent of at least `maxlen`
//! blocks, else the largest of at least `minlen`), and near a block (the free extent closest to
//! it, by a scan both ways along the by-block tree's leaves), optionally with the start aligned
//! and the extent inside a range of blocks (inode chunks; an exact block is the range of one
//! extent). Frees merge with both neighbours
//! and refuse, before anything is written, a range that is already free in part or whole, on
//! the AGFL, or outside the AG.

use super::btree_write::{Lookup, BNOBT, CNTBT};
use super::writer::XfsWriter;
use crate::bytes::be32;
use crate::fs::{Errno, Error, Result};

/// Where an allocation may be placed: its start a multiple of `align`, its blocks inside
/// `lo..hi`; `slop` more blocks the longest free extent must have beyond the length and the
/// alignment (the kernel's `minalignslop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Within {
    pub align: u32,
    pub lo: u32,
    pub hi: u32,
    pub slop: u32,
}

impl Within {
    /// Anywhere.
    pub const ANY: Within = Within { align: 1, lo: 0, hi: u32::MAX, slop: 0 };
}

/// A free-space record (startblock, blockcount) as bytes.
pub fn rec(start: u32, len: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(8);
    v.extend(start.to_be_bytes());
    v.extend(len.to_be_bytes());
    v
}

fn unrec(r: &[u8]) -> (u32, u32) {
    (be32(r, 0), be32(r, 4))
}

impl XfsWriter {
    /// Blocks of AG `agno` (the last AG may be short).
    pub(crate) fn ag_len(&self, agno: u32) -> u32 {
        let rest = self.sb.dblocks - u64::from(agno) * u64::from(self.sb.agblocks);
        rest.min(u64::from(self.sb.agblocks)) as u32
    }

    fn set_longest(&mut self, agno: u32) -> Result<()> {
        let longest = self.bt_last(&CNTBT, agno)?.map_or(0, |r| unrec(&r).1);
        let agf = self.agf(agno)?;
        agf.longest = longest;
        Ok(())
    }

    /// Takes `[a, a + take)` out of the free extent `(s, l)` in both trees.
    fn carve(&mut self, agno: u32, s: u32, l: u32, a: u32, take: u32) -> Result<()> {
        let (left, right) = (a - s, s + l - a - take);
        self.bt_delete(&CNTBT, agno, &rec(s, l))?;
        if left > 0 {
            self.bt_update(&BNOBT, agno, &rec(s, left))?;
            self.bt_insert(&CNTBT, agno, &rec(s, left))?;
        } else {
            self.bt_delete(&BNOBT, agno, &rec(s, 0))?;
        }
        if right > 0 {
            self.bt_insert(&BNOBT, agno, &rec(a + take, right))?;
            self.bt_insert(&CNTBT, agno, &rec(a + take, right))?;
        }
        let free = self.agf(agno)?.freeblks;
        let Some(left) = free.checked_sub(take) else {
            return Err(self.corrupt(format!("AGF of AG {agno}: {free} free blocks, {take} allocated from the btrees")));
        };
        self.agf(agno)?.freeblks = left;
        self.set_longest(agno)
    }

    /// By size: the smallest free extent of at least `maxlen` blocks, else the largest if it
    /// has `minlen`; taken from its start. Touches neither the AGFL minimum nor `fdblocks`.
    pub(crate) fn alloc_by_size(&mut self, agno: u32, minlen: u32, maxlen: u32) -> Result<Option<(u32, u32)>> {
        let found = match self.bt_lookup(&CNTBT, agno, &rec(0, maxlen), Lookup::Ge)? {
            Some(r) => Some(r),
            None => self.bt_last(&CNTBT, agno)?,
        };
        let Some((s, l)) = found.map(|r| unrec(&r)) else { return Ok(None) };
        if l < minlen || l == 0 {
            return Ok(None);
        }
        let take = l.min(maxlen);
        self.carve(agno, s, l, s, take)?;
        Ok(Some((s, take)))
    }

    /// Near `near`: the free extent (of at least `minlen`) closest to it, the allocation placed
    /// as close to `near` as the extent allows, starting at a multiple of `w.align` and inside
    /// blocks `w.lo..w.hi`.
    fn alloc_near(&mut self, agno: u32, minlen: u32, maxlen: u32, near: u32, w: Within) -> Result<Option<(u32, u32)>> {
        // (distance, -take, extent start, extent length, allocation start)
        let mut best: Option<(u64, i64, u32, u32, u32)> = None;
        let align = w.align.max(1);
        let mut consider = |s: u32, l: u32| -> Option<u64> {
            let dist_to = |x: u32| u64::from(x.abs_diff(near));
            let (lo, hi) = (s.max(w.lo), (s + l).min(w.hi));
            let a0 = lo.div_ceil(align).saturating_mul(align);
            if a0 < hi && hi - a0 >= minlen {
                let take = (hi - a0).min(maxlen);
                let a = near.clamp(a0, hi - take) / align * align;
                let cand = (dist_to(a), -i64::from(take), s, l, a);
                if best.is_none_or(|b| cand < b) {
                    best = Some(cand);
                }
            }
            best.map(|b| b.0)
        };
        self.bt_scan(&BNOBT, agno, &rec(near.saturating_add(1), 0), false, &mut |r| {
            let (s, l) = unrec(r);
            let d = consider(s, l);
            // Stop once the extents to the left end farther away than the best found.
            !matches!(d, Some(d) if u64::from(near.saturating_sub(s.saturating_add(l))) > d)
        })?;
        self.bt_scan(&BNOBT, agno, &rec(near.saturating_add(1), 0), true, &mut |r| {
            let (s, l) = unrec(r);
            let d = consider(s, l);
            !matches!(d, Some(d) if u64::from(s.saturating_sub(near)) > d)
        })?;
        let Some((_, ntake, s, l, a)) = best else { return Ok(None) };
        let take = (-ntake) as u32;
        self.carve(agno, s, l, a, take)?;
        Ok(Some((a, take)))
    }

    /// Puts `[bno, bno + len)` back into both trees, merged with its neighbours; refuses a
    /// range overlapping free space.
    pub(crate) fn free_in_trees(&mut self, agno: u32, bno: u32, len: u32) -> Result<()> {
        let end = bno.checked_add(len).filter(|&e| e <= self.ag_len(agno)).ok_or_else(|| self.corrupt(format!("freeing blocks {bno}+{len} of AG {agno}: past the AG's end")))?;
        let left = self.bt_lookup(&BNOBT, agno, &rec(bno, 0), Lookup::Le)?.map(|r| unrec(&r));
        let right = self.bt_lookup(&BNOBT, agno, &rec(bno, 0), Lookup::Ge)?.map(|r| unrec(&r));
        let overlap = |m: String| self.corrupt(format!("freeing blocks {bno}..{end} of AG {agno}: {m}"));
        if let Some((s, l)) = left {
            if u64::from(s) + u64::from(l) > u64::from(bno) {
                return Err(overlap(format!("free extent {s}+{l} overlaps it (double free)")));
            }
        }
        if let Some((s, l)) = right {
            if s < end {
                return Err(overlap(format!("free extent {s}+{l} overlaps it (double free)")));
            }
        }
        let join_left = left.filter(|&(s, l)| s + l == bno);
        let join_right = right.filter(|&(s, _)| s == end);
        let (mut ns, mut nl) = (bno, len);
        if let Some((s, l)) = join_left {
            self.bt_delete(&CNTBT, agno, &rec(s, l))?;
            (ns, nl) = (s, l + nl);
        }
        if let Some((s, l)) = join_right {
            self.bt_delete(&CNTBT, agno, &rec(s, l))?;
            self.bt_delete(&BNOBT, agno, &rec(s, l))?;
            nl += l;
        }
        if join_left.is_some() {
            self.bt_update(&BNOBT, agno, &rec(ns, nl))?;
        } else {
            self.bt_insert(&BNOBT, agno, &rec(ns, nl))?;
        }
        self.bt_insert(&CNTBT, agno, &rec(ns, nl))?;
        let aglen = self.ag_len(agno);
        let free = self.agf(agno)?.freeblks;
        let Some(now) = free.checked_add(len).filter(|&f| f <= aglen) else {
            return Err(self.corrupt(format!("AGF of AG {agno}: {free} free blocks and {len} more exceed the AG's {aglen}")));
        };
        self.agf(agno)?.freeblks = now;
        self.set_longest(agno)
    }

    /// Allocates between `minlen` and `maxlen` blocks in AG `agno`, near AG block `near` when
    /// given, else by size; `None` when the AG has no free extent that long (the AGFL may have
    /// been refilled). The AGFL is fixed first; the AGF and `fdblocks` follow.
    ///
    /// Refused on an rmapbt filesystem: blocks without an owner would have no reverse mapping.
    pub fn alloc_extent(&mut self, agno: u32, minlen: u32, maxlen: u32, near: Option<u32>) -> Result<Option<(u32, u32)>> {
        if self.has_rmapbt() {
            return Err(self.refuse("allocating blocks without an owner on an rmapbt filesystem".into()));
        }
        self.begin();
        let r = self.alloc_within(agno, minlen, maxlen, near.map(|n| (n, Within::ANY)));
        self.end(r)
    }

    /// One block near AG block `near`, inside an operation (the inode btrees' new blocks).
    pub(crate) fn alloc_block_near(&mut self, agno: u32, near: u32) -> Result<Option<u32>> {
        Ok(self.alloc_within(agno, 1, 1, Some((near, Within::ANY)))?.map(|(bno, _)| bno))
    }

    /// [`XfsWriter::alloc_extent`] inside an operation (no begin/end of its own): near
    /// `place.0` and placed as `place.1` says, else by size.
    pub(crate) fn alloc_within(&mut self, agno: u32, minlen: u32, maxlen: u32, place: Option<(u32, Within)>) -> Result<Option<(u32, u32)>> {
        if minlen == 0 || minlen > maxlen {
            return Err(Error::Os(Errno::Invalid));
        }
        let need = self.min_freelist(agno)?;
        let agf = self.agf(agno)?.clone();
        // As `xfs_alloc_space_available`: the longest extent less what refilling the AGFL
        // takes from it must hold the length, the alignment's worst case and the slop.
        let alloc_len = u64::from(minlen) + place.map_or(0, |(_, w)| u64::from(w.align.max(1) - 1) + u64::from(w.slop));
        let delta = need.saturating_sub(agf.flcount);
        let longest = if agf.longest > delta { agf.longest - delta } else { u32::from(agf.flcount > 0 || agf.longest > 0) };
        if u64::from(longest) < alloc_len || u64::from(agf.freeblks) + u64::from(agf.flcount) < u64::from(need) + alloc_len {
            return Ok(None);
        }
        self.fix_freelist(agno, false)?;
        let got = match place {
            Some((n, w)) => self.alloc_near(agno, minlen, maxlen, n, w)?,
            None => self.alloc_by_size(agno, minlen, maxlen)?,
        };
        if let Some((_, len)) = got {
            self.fdblocks = self.fdblocks.checked_sub(u64::from(len)).ok_or_else(|| self.corrupt("superblock: fdblocks below zero".into()))?;
        }
        Ok(got)
    }

    /// Frees `len` blocks from `agbno` of AG `agno` inside an operation (the caller checked
    /// they are not free space, AGFL or free-space btree blocks).
    pub(crate) fn free_in_ag(&mut self, agno: u32, agbno: u32, len: u32) -> Result<()> {
        self.fix_freelist(agno, true)?;
        self.free_in_trees(agno, agbno, len)?;
        self.fdblocks += u64::from(len);
        Ok(())
    }

    /// Frees `len` blocks from `agbno` of AG `agno`. A range outside the AG, over its headers,
    /// on the AGFL or free in part already is refused as corruption, nothing written.
    ///
    /// Refused on an rmapbt filesystem, as [`XfsWriter::alloc_extent`].
    pub fn free_extent(&mut self, agno: u32, agbno: u32, len: u32) -> Result<()> {
        if self.has_rmapbt() {
            return Err(self.refuse("freeing blocks without an owner on an rmapbt filesystem".into()));
        }
        let hdr_end = (4 * u64::from(self.sb.sectsize)).div_ceil(u64::from(self.sb.blocksize));
        if agno >= self.sb.agcount || len == 0 || u64::from(agbno) < hdr_end || u64::from(agbno) + u64::from(len) > u64::from(self.ag_len(agno)) {
            return Err(self.corrupt(format!("freeing blocks {agbno}+{len} of AG {agno}: outside the AG's data blocks")));
        }
        self.begin();
        let r = (|| {
            let fl = self.agfl_blocks(agno)?;
            if let Some(b) = fl.iter().find(|&&b| b >= agbno && b - agbno < len) {
                return Err(self.corrupt(format!("freeing blocks {agbno}+{len} of AG {agno}: block {b} is on the AGFL")));
            }
            for t in [&BNOBT, &CNTBT] {
                if let Some(b) = self.bt_blocks(t, agno)?.into_iter().find(|&b| b >= agbno && b - agbno < len) {
                    return Err(self.corrupt(format!("freeing blocks {agbno}+{len} of AG {agno}: block {b} belongs to the {}", t.name)));
                }
            }
            self.free_in_ag(agno, agbno, len)
        })();
        self.end(r)
    }

    /// The free extents of AG `agno` from the by-block tree, checked against the by-size tree
    /// and the AGF (both trees' structure, `freeblks`, `longest`, `btreeblks`): a test and
    /// debug aid. Read-only.
    pub fn free_extents(&mut self, agno: u32) -> Result<Vec<(u32, u32)>> {
        self.begin();
        let r = (|| {
            let (bno, bb, _) = self.bt_check(&BNOBT, agno)?;
            let (cnt, mut cb, _) = self.bt_check(&CNTBT, agno)?;
            if self.has_rmapbt() {
                // agf_btreeblks counts the rmapbt's blocks beyond its root too.
                cb += self.bt_check(&super::btree_write::RMAPBT, agno)?.1;
            }
            let by_block: Vec<_> = bno.iter().map(|r| unrec(r)).collect();
            let mut by_size: Vec<_> = cnt.iter().map(|r| unrec(r)).collect();
            by_size.sort();
            if by_block != by_size {
                return Err(self.corrupt(format!("AG {agno}: the free-space btrees disagree")));
            }
            let agf = self.agf(agno)?.clone();
            let free: u64 = by_block.iter().map(|&(_, l)| u64::from(l)).sum();
            let longest = by_block.iter().map(|&(_, l)| l).max().unwrap_or(0);
            if free != u64::from(agf.freeblks) || longest != agf.longest || bb + cb != agf.btreeblks {
                return Err(self.corrupt(format!(
                    "AG {agno}: AGF says {} free, longest {}, {} btree blocks; the trees hold {free}, {longest}, {}",
                    agf.freeblks,
                    agf.longest,
                    agf.btreeblks,
                    bb + cb
                )));
            }
            Ok(by_block)
        })();
        // Nothing changed: drop what reading marked.
        self.bufs.discard();
        self.abort();
        r
    }

    /// The AGF of `agno` as the writer holds it.
    pub fn agf_now(&mut self, agno: u32) -> Result<super::ag::Agf> {
        let a = self.agf(agno)?.clone();
        Ok(a)
    }
}
