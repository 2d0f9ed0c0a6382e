//! A set of byte ranges kept merged: the dirty ranges of an overlay.

use std::collections::BTreeMap;
use std::ops::Range;

/// Disjoint, non-adjacent byte ranges; inserting merges with overlapping or touching ones.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RangeSet {
    /// start → end (exclusive).
    map: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// An empty set.
    pub fn new() -> RangeSet {
        RangeSet::default()
    }

    /// Adds `range`, merging it with every range it overlaps or touches. Empty ranges are ignored.
    pub fn insert(&mut self, range: Range<u64>) {
        if range.start >= range.end {
            return;
        }
        let (mut start, mut end) = (range.start, range.end);
        // The range starting at or before `start` may reach it.
        if let Some((&s, &e)) = self.map.range(..=start).next_back() {
            if e >= start {
                start = s;
                end = end.max(e);
            }
        }
        // Every range starting inside [start, end] is absorbed.
        let absorbed: Vec<(u64, u64)> = self.map.range(start..=end).map(|(&s, &e)| (s, e)).collect();
        for (s, e) in absorbed {
            end = end.max(e);
            self.map.remove(&s);
        }
        self.map.insert(start, end);
    }

    /// Removes `range` from the set, trimming and splitting the ranges it overlaps.
    pub fn remove(&mut self, range: Range<u64>) {
        for r in self.intersecting(range.clone()) {
            // `r` is clipped; find the stored range holding it
            let Some((&s, &e)) = self.map.range(..=r.start).next_back() else { continue };
            self.map.remove(&s);
            if s < r.start {
                self.map.insert(s, r.start);
            }
            if r.end < e {
                self.map.insert(r.end, e);
            }
        }
    }

    /// The parts of the set inside `range`, clipped to it, in ascending order.
    pub fn intersecting(&self, range: Range<u64>) -> Vec<Range<u64>> {
        if range.start >= range.end {
            return Vec::new();
        }
        let first = self.map.range(..=range.start).next_back().map_or(range.start, |(&s, _)| s);
        self.map
            .range(first..range.end)
            .filter(|&(_, &e)| e > range.start)
            .map(|(&s, &e)| s.max(range.start)..e.min(range.end))
            .collect()
    }

    /// The ranges in ascending order.
    pub fn ranges(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.map.iter().map(|(&s, &e)| s..e)
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Total bytes covered.
    pub fn bytes(&self) -> u64 {
        self.map.iter().map(|(&s, &e)| e - s).sum()
    }

    /// Removes every range.
    pub fn clear(&mut self) {
        self.map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model: a bitmap of covered bytes, turned into maximal runs.
    fn runs(bits: &[bool]) -> Vec<Range<u64>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < bits.len() {
            if bits[i] {
                let s = i;
                while i < bits.len() && bits[i] {
                    i += 1;
                }
                out.push(s as u64..i as u64);
            } else {
                i += 1;
            }
        }
        out
    }

    /// A small deterministic random number generator (xorshift64).
    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn merges_like_a_bitmap() {
        let mut next = xorshift(0x1234_5678_9abc_def1);
        for _ in 0..200 {
            let mut set = RangeSet::new();
            let mut bits = vec![false; 300];
            for _ in 0..(next() % 30) {
                let s = next() % 300;
                let len = next() % 40;
                let e = (s + len).min(300);
                set.insert(s..e);
                bits[s as usize..e as usize].iter_mut().for_each(|b| *b = true);
                assert_eq!(set.ranges().collect::<Vec<_>>(), runs(&bits));
            }
            assert_eq!(set.bytes(), bits.iter().filter(|&&b| b).count() as u64);
        }
    }

    #[test]
    fn remove_and_intersecting_match_a_bitmap() {
        let mut next = xorshift(0x0bad_cafe_f00d_d00d);
        for _ in 0..200 {
            let mut set = RangeSet::new();
            let mut bits = vec![false; 300];
            for _ in 0..(next() % 30) {
                let s = next() % 300;
                let e = (s + next() % 60).min(300);
                let keep = next() % 3 != 0;
                if keep {
                    set.insert(s..e);
                } else {
                    set.remove(s..e);
                }
                bits[s as usize..e as usize].iter_mut().for_each(|b| *b = keep);
                assert_eq!(set.ranges().collect::<Vec<_>>(), runs(&bits));
                let (qs, qe) = (next() % 300, next() % 300);
                let (qs, qe) = (qs.min(qe), qs.max(qe));
                let mut clipped = vec![false; 300];
                clipped[qs as usize..qe as usize].copy_from_slice(&bits[qs as usize..qe as usize]);
                assert_eq!(set.intersecting(qs..qe), runs(&clipped), "{qs}..{qe}");
            }
        }
    }

    #[test]
    fn touching_ranges_merge_and_empty_ones_are_ignored() {
        let mut set = RangeSet::new();
        set.insert(10..20);
        set.insert(20..30);
        set.insert(5..5);
        set.insert(0..3);
        assert_eq!(set.ranges().collect::<Vec<_>>(), vec![0..3, 10..30]);
        set.insert(2..11);
        assert_eq!(set.ranges().collect::<Vec<_>>(), vec![0..30]);
        assert_eq!(set.len(), 1);
    }
}
