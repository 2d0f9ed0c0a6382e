//! lvm2's extent allocator as `lvextend` runs it with the default `normal` policy and
//! `maximise_cling = 1` (`_allocate` and `_find_some_parallel_space` in
//! `lib/metadata/lv_manip.c`, `lib/metadata/pv_map.c`), for extending an LV with the stripe
//! count of its last segment (no logs, no tags, no parallel areas): a contiguous pass (every
//! stripe continues right after the last segment's area on its PV), a cling pass (each stripe
//! on the PV of the same stripe of the LV's first segment, then any of the LV's PVs), then the
//! normal pass (PVs already used by this allocation first, then the largest free areas, one per
//! PV, sorted by size). The order of lvm2's free-area lists is reproduced step by step, since
//! it decides which areas are taken.

use super::vg::{LogicalVolume, SegmentKind, VolumeGroup};

/// A newly allocated piece of an LV: `len` extents on each stripe, `(pv index, first extent)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Extents per stripe.
    pub len: u64,
    /// Per stripe: index into `vg.pvs` and the first extent on that PV.
    pub stripes: Vec<(usize, u64)>,
}

/// How an allocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shortfall {
    /// Not enough free extents in total (`Insufficient free space`): needed, available.
    Space(u64, u64),
    /// Some extents (LEs) could not be placed.
    Extents(u64),
}

/// A free area of a PV (`struct pv_area`); `id` identifies it while lists are reordered.
#[derive(Debug, Clone, Copy)]
struct Area {
    id: usize,
    start: u64,
    count: u64,
    unreserved: u64,
}

/// A candidate area for one stripe (`struct pv_area_used`): map index, area id, extents.
#[derive(Debug, Clone, Copy)]
struct Slot {
    map: usize,
    id: usize,
    used: u64,
}

const CONTIGUOUS: u8 = 1;
const CLING_LVSEG: u8 = 2;
const CLING_ALLOCED: u8 = 4;
const POSITIONAL: u8 = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Policy {
    Contiguous,
    Cling,
    Normal,
}

enum Use {
    Preferred,
    Area,
    NextArea,
    NextPv,
}

struct Allocator {
    /// Per allocatable PV: its index in `vg.pvs` and its free areas, largest first.
    maps: Vec<(usize, Vec<Area>)>,
    /// Per stripe of the last segment: PV index and the extent right after its area.
    last: Vec<(usize, u64)>,
    /// Per stripe of the first segment: PV index.
    first: Vec<usize>,
    /// PVs allocated so far, per stripe.
    alloced: Vec<Vec<usize>>,
    /// Positional candidates (one per stripe) and the others, in the order found.
    positional: Vec<Option<Slot>>,
    found: Vec<Slot>,
    chunks: Vec<Chunk>,
}

/// `_insert_area`: before the first area with a smaller count than `a`'s (its unreserved
/// extents when `reduced`); returns the position.
fn insert(areas: &mut Vec<Area>, a: Area, reduced: bool) -> usize {
    let key = if reduced { a.unreserved } else { a.count };
    let at = areas.iter().position(|b| key > b.count).unwrap_or(areas.len());
    areas.insert(at, a);
    at
}

/// `reinsert_changed_pv_area`: moves the area at `i` by its unreserved count; its new place.
fn reinsert(areas: &mut Vec<Area>, i: usize) -> usize {
    let a = areas.remove(i);
    insert(areas, a, true)
}

/// Stripe PVs of a striped segment, as indices into `vg.pvs`.
fn stripe_pvs(vg: &VolumeGroup, stripes: &[(String, u64)]) -> Vec<(usize, u64)> {
    stripes.iter().map(|(n, pe)| (vg.pvs.iter().position(|p| p.name == *n).unwrap_or(usize::MAX), *pe)).collect()
}

impl Allocator {
    fn new(vg: &VolumeGroup, lv: &LogicalVolume, stripes: usize) -> Allocator {
        let mut maps = Vec::new();
        let mut id = 0;
        for (i, pv) in vg.pvs.iter().enumerate() {
            if !pv.status.iter().any(|s| s == "ALLOCATABLE") || pv.flags.iter().any(|f| f == "MISSING") {
                continue;
            }
            let mut areas = Vec::new();
            for (start, count) in free_runs(vg, &pv.name) {
                insert(&mut areas, Area { id, start, count, unreserved: count }, false);
                id += 1;
            }
            maps.push((i, areas));
        }
        let seg_pvs = |seg: Option<&super::vg::Segment>| match seg.map(|s| (&s.kind, s.extent_count)) {
            Some((SegmentKind::Striped { stripes, .. }, n)) => {
                let per = n / stripes.len().max(1) as u64;
                stripe_pvs(vg, stripes).into_iter().map(|(p, pe)| (p, pe.saturating_add(per))).collect()
            }
            _ => Vec::new(),
        };
        let last = seg_pvs(lv.segments.last());
        let first = seg_pvs(lv.segments.first()).into_iter().map(|(p, _)| p).collect();
        Allocator { maps, last, first, alloced: vec![Vec::new(); stripes], positional: Vec::new(), found: Vec::new(), chunks: Vec::new() }
    }

    fn stripes(&self) -> usize {
        self.alloced.len()
    }

    fn free(&self) -> u64 {
        self.maps.iter().flat_map(|(_, a)| a).fold(0u64, |t, a| t.saturating_add(a.count))
    }

    /// Whether a stripe `s` with `hits[s]` is found (its slot still free, when positional); a
    /// positional match reserves the whole area for that stripe (`_is_condition`).
    fn claim(&mut self, hits: &[bool], map: usize, area: Area, flags: u8) -> bool {
        let positional = flags & POSITIONAL != 0;
        let free_slot = |s: usize| self.positional.get(s).is_some_and(Option::is_none);
        let Some(s) = (0..hits.len()).find(|&s| hits[s] && (!positional || free_slot(s))) else { return false };
        if let Some(slot) = self.positional.get_mut(s).filter(|_| positional) {
            *slot = Some(Slot { map, id: area.id, used: area.count });
        }
        true
    }

    /// `_check_pva` for the area at `i` of map `m`.
    fn check(&mut self, m: usize, i: usize, still_needed: u64, found_one: bool, flags: u8) -> Use {
        let (pv, area) = (self.maps[m].0, self.maps[m].1[i]);
        if area.unreserved == 0 {
            return Use::NextArea;
        }
        let found = if flags & POSITIONAL != 0 { Use::Preferred } else { Use::Area };
        if flags & (CONTIGUOUS | CLING_LVSEG | CLING_ALLOCED) == 0 {
            // normal: a PV's first (largest) area, or a later one big enough on its own
            if area.unreserved.saturating_mul(self.stripes() as u64) < still_needed && found_one {
                return Use::NextPv;
            }
            return found;
        }
        let contiguous: Vec<bool> = self.last.iter().map(|&l| l == (pv, area.start)).collect();
        if self.claim(&contiguous, m, area, flags) {
            return found;
        }
        if flags & CONTIGUOUS != 0 {
            return Use::NextArea;
        }
        let cling: Vec<bool> = self.first.iter().map(|&p| p == pv).collect();
        if self.claim(&cling, m, area, flags) {
            return found;
        }
        let alloced: Vec<bool> = self.alloced.iter().map(|a| a.contains(&pv)).collect();
        if flags & CLING_ALLOCED != 0 && self.claim(&alloced, m, area, flags) {
            return found;
        }
        Use::NextPv
    }

    /// `_find_some_parallel_space`: one parallel allocation of at most `max` extents; whether
    /// it found one.
    fn find_some(&mut self, max: u64, flags: u8) -> bool {
        let n = self.stripes();
        // _reset_unreserved, walking each list as lvm2 does while areas move
        for (_, areas) in &mut self.maps {
            let mut i = 0;
            while i < areas.len() {
                if areas[i].unreserved != areas[i].count {
                    areas[i].unreserved = areas[i].count;
                    i = reinsert(areas, i);
                }
                i += 1;
            }
        }
        let num_positional = if flags & POSITIONAL != 0 { n } else { 0 };
        self.positional = vec![None; num_positional];
        self.found.clear();
        let mut preferred = 0;
        for m in 0..self.maps.len() {
            let mut found_one = false;
            let mut i = 0;
            while i < self.maps[m].1.len() {
                match self.check(m, i, max, found_one, flags) {
                    Use::Preferred => {
                        preferred += 1;
                        break;
                    }
                    Use::NextPv => break,
                    Use::NextArea => i += 1,
                    Use::Area => {
                        if !found_one {
                            self.found.push(Slot { map: m, id: 0, used: 0 });
                            found_one = true;
                        }
                        // _calc_required_extents: reserve what one stripe needs of this area
                        let areas = &mut self.maps[m].1;
                        let required = (max / n as u64).min(areas[i].unreserved);
                        areas[i].unreserved -= required;
                        let id = areas[i].id;
                        if areas[i].unreserved > 0 {
                            i = reinsert(areas, i);
                        }
                        i += 1;
                        if let Some(last) = self.found.last_mut() {
                            *last = Slot { map: m, id, used: required };
                        }
                    }
                }
            }
            if num_positional > 0 && preferred == num_positional {
                break;
            }
        }
        let ix = self.found.len();
        if (preferred < num_positional && ix == 0) || ix + preferred < n || ix + num_positional < n {
            return false;
        }
        // qsort of glibc 2.36 (merge sort): stable
        self.found.sort_by_key(|s| std::cmp::Reverse(s.used));
        let mut rest = self.found.iter().copied();
        let chosen: Vec<Slot> = if num_positional == 0 {
            rest.take(n).collect()
        } else {
            let filled: Option<Vec<Slot>> = self.positional.clone().into_iter().map(|p| p.or_else(|| rest.next())).collect();
            match filled {
                Some(f) => f,
                None => return false,
            }
        };
        self.take(&chosen, max)
    }

    /// `_alloc_parallel_area`: the same number of extents from each chosen area.
    fn take(&mut self, chosen: &[Slot], max: u64) -> bool {
        let n = self.stripes() as u64;
        let len = chosen.iter().map(|s| s.used).fold(max / n, u64::min);
        if len == 0 {
            return false;
        }
        let mut stripes = Vec::with_capacity(chosen.len());
        for (s, slot) in chosen.iter().enumerate() {
            let (pv, areas) = &mut self.maps[slot.map];
            let Some(i) = areas.iter().position(|a| a.id == slot.id) else { return false };
            let mut a = areas.remove(i);
            stripes.push((*pv, a.start));
            self.alloced[s].push(*pv);
            // consume_pv_area
            if len < a.count {
                a.start += len;
                a.count -= len;
                a.unreserved = a.count;
                insert(areas, a, false);
            }
        }
        self.chunks.push(Chunk { len, stripes });
        true
    }

    /// `_find_max_parallel_space_for_one_policy`; the extents still needed after it.
    fn one_policy(&mut self, policy: Policy, mut left: u64, approx: bool) -> u64 {
        let mut flags = match policy {
            Policy::Contiguous => CONTIGUOUS | POSITIONAL,
            Policy::Cling => CLING_LVSEG | POSITIONAL,
            Policy::Normal => CLING_ALLOCED,
        };
        loop {
            if self.find_some(left, flags) {
                let got = self.chunks.last().map_or(0, |c| c.len.saturating_mul(self.stripes() as u64));
                left -= got.min(left);
                if policy == Policy::Normal {
                    flags |= CLING_ALLOCED;
                }
            } else if policy == Policy::Cling && flags & POSITIONAL != 0 {
                flags &= !POSITIONAL;
            } else if policy == Policy::Normal && flags & CLING_ALLOCED != 0 {
                flags &= !CLING_ALLOCED;
            } else {
                return left;
            }
            if policy == Policy::Contiguous || left == 0 || (approx && self.free() == 0) {
                return left;
            }
        }
    }
}

/// Free extent runs `(first extent, count)` of PV `pv` (its name in the metadata) of `vg`,
/// in extent order.
pub(super) fn free_runs(vg: &VolumeGroup, pv: &str) -> Vec<(u64, u64)> {
    let Some(p) = vg.pvs.iter().find(|p| p.name == pv) else { return Vec::new() };
    let mut used: Vec<(u64, u64)> = Vec::new();
    for seg in vg.lvs.iter().flat_map(|l| &l.segments) {
        if let SegmentKind::Striped { stripes, .. } = &seg.kind {
            let per = seg.extent_count / stripes.len().max(1) as u64;
            used.extend(stripes.iter().filter(|(n, _)| n == pv).map(|(_, pe)| (*pe, per)));
        }
    }
    used.sort_unstable();
    let mut runs = Vec::new();
    let mut at = 0u64;
    for (start, count) in used {
        if start > at && at < p.pe_count {
            runs.push((at, start.min(p.pe_count) - at));
        }
        at = at.max(start.saturating_add(count));
    }
    if at < p.pe_count {
        runs.push((at, p.pe_count - at));
    }
    runs
}

/// Allocates `add` extents (a multiple of `stripes`) for `lv` with `stripes` stripes like
/// lvm2's `lvextend`. `approx` (`-l +100%FREE`) takes what it can get, maybe nothing. The
/// chunks in allocation order, or what was missing.
pub fn allocate(vg: &VolumeGroup, lv: &LogicalVolume, stripes: usize, add: u64, approx: bool) -> Result<Vec<Chunk>, Shortfall> {
    let mut a = Allocator::new(vg, lv, stripes.max(1));
    let mut left = add;
    for policy in [Policy::Contiguous, Policy::Cling, Policy::Normal] {
        let free = a.free();
        if !approx && left > free {
            return Err(Shortfall::Space(left, free));
        }
        left = a.one_policy(policy, left, approx);
        if left == 0 {
            break;
        }
    }
    if left > 0 && !approx {
        return Err(Shortfall::Extents(left));
    }
    Ok(a.chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lvm::metadata::tests::VGCFGBACKUP;

    #[test]
    fn equal_areas_keep_their_order_and_reduced_ones_move() {
        let a = |id, count| Area { id, start: 0, count, unreserved: count };
        let mut areas = Vec::new();
        for (id, count) in [(0, 5), (1, 9), (2, 5)] {
            insert(&mut areas, a(id, count), false);
        }
        assert_eq!(areas.iter().map(|a| a.id).collect::<Vec<_>>(), [1, 0, 2]);
        areas[0].unreserved = 5;
        assert_eq!(reinsert(&mut areas, 0), 2, "after the areas of 5 it no longer exceeds");
    }

    #[test]
    fn striped_lv_takes_a_new_segment_on_its_own_pvs() {
        // vgstripe: stripes on pv0 0-7 / pv1 0-7, span after both; free pv0 18-30, pv1 20-30
        let mut vg = crate::lvm::vg::parse_vg("test", VGCFGBACKUP.as_bytes()).unwrap();
        assert_eq!(allocate(&vg, &vg.lvs[0], 2, 24, true), Ok(vec![]), "pv1 is missing: no room for 2 stripes");
        vg.pvs[1].flags.clear();
        let lv = &vg.lvs[0];
        assert_eq!(allocate(&vg, lv, 2, 24, true), Ok(vec![Chunk { len: 11, stripes: vec![(0, 18), (1, 20)] }]));
        assert_eq!(allocate(&vg, lv, 2, 24, false), Err(Shortfall::Extents(2)));
        assert_eq!(allocate(&vg, lv, 2, 100, false), Err(Shortfall::Space(100, 24)));
        // span (linear, last on pv0 8-17) continues in place
        assert_eq!(allocate(&vg, &vg.lvs[1], 1, 3, false), Ok(vec![Chunk { len: 3, stripes: vec![(0, 18)] }]));
    }
}
