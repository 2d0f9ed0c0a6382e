//! Reference counts of shared extents (reflink: the kernel's `xfs_refcount.c`): the refcount
//! btree ([`REFCOUNTBT`]) holds a record (start, length, count ≥ 2) for every run of blocks
//! more than one owner maps, merged so that neighbouring runs never have the same count; a
//! block without a record has one owner. `XfsWriter::refc_decrease` is what an owner freeing
//! its mapping does (`xfs_refcount_decrease_extent`): the counts of the shared runs it covers
//! drop by one (a run falling to one owner loses its record), records straddling its ends are
//! split, neighbours with equal counts merged, and the blocks it owned alone are returned to be
//! freed. Copy-on-write staging records (start flagged in bit 31) are left alone.

use super::btree_write::{Lookup, REFCOUNTBT};
use super::writer::XfsWriter;
use crate::bytes::be32;
use crate::fs::Result;

/// The start flag of a copy-on-write staging record.
pub const COW_FLAG: u32 = 1 << 31;

/// A refcount record of the shared domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefRec {
    /// First AG block.
    pub start: u32,
    /// Blocks.
    pub len: u32,
    /// Owners (at least 2).
    pub refcount: u32,
}

impl RefRec {
    /// Decodes a 12-byte record.
    pub fn decode(r: &[u8]) -> RefRec {
        RefRec { start: be32(r, 0), len: be32(r, 4), refcount: be32(r, 8) }
    }

    fn encode(&self) -> Vec<u8> {
        [self.start, self.len, self.refcount].iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    /// One past the last block.
    pub fn end(&self) -> u64 {
        u64::from(self.start) + u64::from(self.len)
    }
}

/// One owner less over blocks `start..end` given the records `old` that overlap or touch
/// them (in order): the records that replace them (split at the ends, counts one lower, gone
/// at one owner, neighbours with equal counts merged) and the runs no one else maps.
fn decrease(old: &[RefRec], start: u32, end: u32) -> (Vec<RefRec>, Vec<(u32, u32)>) {
    let mut pieces: Vec<RefRec> = Vec::new();
    let mut free = Vec::new();
    let mut cur = start;
    for r in old {
        let rend = r.end() as u32;
        if r.start < start {
            pieces.push(RefRec { len: start.min(rend) - r.start, ..*r });
        }
        let (a, b) = (r.start.max(start), rend.min(end));
        if a < b {
            if cur < a {
                free.push((cur, a - cur));
            }
            if r.refcount > 2 {
                pieces.push(RefRec { start: a, len: b - a, refcount: r.refcount - 1 });
            }
            cur = b;
        }
        if rend > end {
            let s = end.max(r.start);
            pieces.push(RefRec { start: s, len: rend - s, ..*r });
        }
    }
    if cur < end {
        free.push((cur, end - cur));
    }
    let mut merged: Vec<RefRec> = Vec::new();
    for p in pieces {
        match merged.last_mut() {
            Some(m) if m.end() == u64::from(p.start) && m.refcount == p.refcount => m.len += p.len,
            _ => merged.push(p),
        }
    }
    (merged, free)
}

impl XfsWriter {
    /// The shared-domain records of AG `agno` that overlap or touch blocks `start..end`,
    /// in order, checked (lengths, counts of at least 2, inside the AG, no overlaps).
    fn refc_around(&mut self, agno: u32, start: u32, end: u32) -> Result<Vec<RefRec>> {
        // The last record starting before `start`: it may end at `start` (touching it).
        let before = start.saturating_sub(1).to_be_bytes();
        let from = self.bt_lookup(&REFCOUNTBT, agno, &before, Lookup::Le)?.map_or(start, |r| be32(&r, 0));
        let mut out: Vec<RefRec> = Vec::new();
        self.bt_scan(&REFCOUNTBT, agno, &from.to_be_bytes(), true, &mut |r| {
            let rec = RefRec::decode(r);
            if rec.start & COW_FLAG != 0 || rec.start > end {
                return false;
            }
            out.push(rec);
            true
        })?;
        let aglen = u64::from(self.ag_len(agno));
        let mut prev = 0u64;
        for r in &out {
            if r.len == 0 || r.refcount < 2 || r.end() > aglen || u64::from(r.start) < prev {
                return Err(self.corrupt(format!("refcountbt of AG {agno}: record {r:?} (after block {prev})")));
            }
            prev = r.end();
        }
        out.retain(|r| r.end() >= u64::from(start));
        Ok(out)
    }

    /// The runs (filesystem block, length) among the `len` blocks from filesystem block `fsb`
    /// (inside one AG) that more than one owner maps, in order; none without reflink.
    pub(crate) fn shared_runs(&mut self, fsb: u64, len: u64) -> Result<Vec<(u64, u64)>> {
        if self.sb.ro_compat & super::sb::RO_COMPAT_REFLINK == 0 || len == 0 {
            return Ok(Vec::new());
        }
        let agno = (fsb >> self.sb.agblklog) as u32;
        let base = u64::from(agno) << self.sb.agblklog;
        let bno = fsb - base;
        let end = bno.checked_add(len).and_then(|e| u32::try_from(e).ok()).ok_or_else(|| self.corrupt(format!("blocks {bno}+{len} of AG {agno}")))?;
        let recs = self.refc_around(agno, bno as u32, end)?;
        Ok(recs
            .iter()
            .map(|r| (u64::from(r.start).max(bno), r.end().min(u64::from(end))))
            .filter(|(a, b)| a < b)
            .map(|(a, b)| (base + a, b - a))
            .collect())
    }

    /// Drops one owner from blocks `start..start + len` of AG `agno` (see the module
    /// documentation), inside an operation; returns the runs (start, length) no other owner
    /// maps, for the caller to free.
    pub(crate) fn refc_decrease(&mut self, agno: u32, start: u32, len: u32) -> Result<Vec<(u32, u32)>> {
        let end = start.checked_add(len).ok_or_else(|| self.corrupt(format!("AG {agno}: blocks {start}+{len}")))?;
        let old = self.refc_around(agno, start, end)?;
        let (merged, free) = decrease(&old, start, end);
        // The least change to the tree: records gone deleted, records kept in place updated,
        // new ones inserted.
        for r in old.iter().filter(|r| !merged.iter().any(|m| m.start == r.start)) {
            self.bt_delete(&REFCOUNTBT, agno, &r.start.to_be_bytes())?;
        }
        for m in &merged {
            match old.iter().find(|r| r.start == m.start) {
                Some(r) if r == m => {}
                Some(_) => self.bt_update(&REFCOUNTBT, agno, &m.encode())?,
                None => self.bt_insert(&REFCOUNTBT, agno, &m.encode())?,
            }
        }
        Ok(free)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u32, len: u32, refcount: u32) -> RefRec {
        RefRec { start, len, refcount }
    }

    #[test]
    fn decrease_splits_drops_and_merges() {
        // No record: everything is freed.
        assert_eq!(decrease(&[], 10, 20), (vec![], vec![(10, 10)]));
        // A record straddling both ends: split, the middle one owner less.
        assert_eq!(decrease(&[r(5, 20, 3)], 10, 20), (vec![r(5, 5, 3), r(10, 10, 2), r(20, 5, 3)], vec![]));
        // Count 2 inside the range: the record goes, nothing freed there; the gaps are freed.
        assert_eq!(decrease(&[r(12, 3, 2)], 10, 20), (vec![], vec![(10, 2), (15, 5)]));
        // Neighbours touching the range merge with what drops to their count.
        assert_eq!(decrease(&[r(0, 10, 2), r(10, 6, 3), r(16, 4, 2)], 10, 16), (vec![r(0, 20, 2)], vec![]));
        // A record ending where the range starts is kept as it is.
        assert_eq!(decrease(&[r(0, 10, 4), r(10, 2, 2)], 10, 12), (vec![r(0, 10, 4)], vec![]));
        // The record encodes as startblock, blockcount, refcount.
        assert_eq!(RefRec::decode(&r(7, 8, 9).encode()), r(7, 8, 9));
    }
}
