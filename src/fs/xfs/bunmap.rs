//! Freeing the blocks an inode owns before the inode itself is freed (the kernel's
//! `xfs_inactive` → `xfs_itruncate_extents` of both forks, each through `__xfs_bunmapi`):
//! every extent of the data and attribute forks in extents or btree format — written and
//! unwritten alike — and the bmap btrees' own blocks (interior blocks and leaves; the root
//! lives in the inode), back to free space in per-AG batches in ascending block order, so
//! neighbours merge into one free extent.
//!
//! Everything is checked before anything is freed: the maps as the reader checks them (order,
//! bounds, btree structure), the forks' extent counts and `di_nblocks` against what the maps
//! hold, no block mapped twice unless shared, none over the AG headers, the internal log, the
//! AGFL, the free-space, inode or refcount btrees or allocated inode chunks; free space itself
//! is refused by the free path's double-free check. Any of it is [`Error::Corrupt`] and the
//! operation writes nothing. On a reflink filesystem a run the refcount btree calls shared in
//! part is not freed but loses one owner (`refc_decrease`, [`super::refcount`]); only its
//! blocks no one else maps are freed.

use super::bmap;
use super::btree::{Source, TreeKind};
use super::btree_write::{BNOBT, CNTBT, FINOBT, INOBT, REFCOUNTBT, RMAPBT};
use super::ialloc::{InoRec, INODES_PER_CHUNK};
use super::inode::{Format, Inode};
use super::refcount::{RefRec, COW_FLAG};
use super::sb::{Superblock, RO_COMPAT_FINOBT, RO_COMPAT_REFLINK};
use super::writer::XfsWriter;
use crate::fs::{Error, Result};

/// The generic btree engine's view of the filesystem while the writer holds it (pending
/// blocks first), for the bmap btrees: long-form pointers only.
pub(crate) struct TreeSrc<'a> {
    pub(crate) w: &'a XfsWriter,
}

impl Source for TreeSrc<'_> {
    fn sb(&self) -> &Superblock {
        &self.w.sb
    }

    fn read_tree_block(&self, kind: &TreeKind, ptr: u64) -> Result<Vec<u8>> {
        let off = self.w.sb.fsb_to_byte(ptr, 1).filter(|_| kind.long);
        let off = off.ok_or_else(|| self.corrupt(format!("{} block {ptr} outside the filesystem", kind.name)))?;
        self.w.bufs.read(off, self.w.sb.blocksize as usize)
    }

    fn corrupt(&self, msg: String) -> Error {
        self.w.corrupt(msg)
    }
}

/// A run of blocks in one AG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Run {
    agno: u32,
    bno: u32,
    len: u32,
}

impl Run {
    fn end(&self) -> u64 {
        u64::from(self.bno) + u64::from(self.len)
    }

    /// Whether the run shares a block with `start..start + len` of its AG.
    fn meets(&self, start: u32, len: u32) -> bool {
        u64::from(self.bno) < u64::from(start) + u64::from(len) && u64::from(start) < self.end()
    }
}

/// What AG blocks no file may own, and the AG's shared extents.
struct AgUse {
    /// (first block, length, what) of the AG's metadata.
    meta: Vec<(u32, u32, &'static str)>,
    /// (first block, length) of the refcount btree's shared extents.
    shared: Vec<(u32, u32)>,
}

impl XfsWriter {
    /// A run from filesystem block `fsb` (checked by the map: inside one AG) of `len` blocks.
    fn run_of(&self, fsb: u64, len: u64) -> Run {
        let mask = (1u64 << self.sb.agblklog) - 1;
        Run { agno: (fsb >> self.sb.agblklog) as u32, bno: (fsb & mask) as u32, len: len as u32 }
    }

    /// The runs of blocks inode `core` owns, sorted: its forks' extents and bmap btree blocks,
    /// checked against the inode's counts.
    fn owned_runs(&self, core: &Inode) -> Result<Vec<Run>> {
        let ino = core.ino;
        let src = TreeSrc { w: self };
        let mut runs = Vec::new();
        let mut total = 0u64;
        let forks = [("data", Some(core.format), &core.data_fork, core.nextents), ("attribute", core.aformat, &core.attr_fork, core.anextents)];
        for (what, format, fork, n) in forks {
            let Some(format @ (Format::Extents | Format::Btree)) = format else { continue };
            let (map, tree) = bmap::map_and_tree(&src, ino, format, fork, n)?;
            if map.len() as u64 != n {
                return Err(self.corrupt(format!("inode {ino}: its {what} fork counts {n} extents, its block map holds {}", map.len())));
            }
            for e in &map {
                runs.push(self.run_of(e.block, e.count));
                total += e.count;
            }
            for &b in &tree {
                runs.push(self.run_of(b, 1));
                total += 1;
            }
        }
        if total != core.nblocks {
            return Err(self.corrupt(format!("inode {ino}: {} blocks counted, its forks map {total}", core.nblocks)));
        }
        runs.sort();
        Ok(runs)
    }

    /// The metadata blocks of AG `agno` and its shared extents (see [`AgUse`]).
    fn ag_use(&mut self, agno: u32) -> Result<AgUse> {
        let hdr_end = (4 * u64::from(self.sb.sectsize)).div_ceil(u64::from(self.sb.blocksize)) as u32;
        let mut meta = vec![(0, hdr_end, "AG headers")];
        if self.sb.logstart >> self.sb.agblklog == u64::from(agno) {
            meta.push(((self.sb.logstart & ((1u64 << self.sb.agblklog) - 1)) as u32, self.sb.logblocks, "log"));
        }
        meta.extend(self.agfl_blocks(agno)?.into_iter().map(|b| (b, 1, "AGFL")));
        let finobt = self.sb.ro_compat & RO_COMPAT_FINOBT != 0;
        let rmap = self.has_rmapbt();
        for t in [&BNOBT, &CNTBT, &INOBT, &FINOBT, &RMAPBT].into_iter().filter(|t| (finobt || t.name != FINOBT.name) && (rmap || t.name != RMAPBT.name)) {
            meta.extend(self.bt_blocks(t, agno)?.into_iter().map(|b| (b, 1, t.name)));
        }
        // Allocated inodes' blocks, chunk by chunk (a sparse chunk's holes may be anything).
        let mut recs = Vec::new();
        let sparse = self.sb.sparse_inodes;
        self.bt_scan(&INOBT, agno, &0u32.to_be_bytes(), true, &mut |r| {
            recs.push(InoRec::decode(r, sparse));
            true
        })?;
        let blog = self.sb.inopblog;
        for rec in recs {
            let alloc = rec.allocmask();
            let first = meta.len();
            for i in (0..INODES_PER_CHUNK).filter(|i| alloc & (1 << i) != 0) {
                let b = rec.startino.saturating_add(i) >> blog;
                let ours = meta.len() > first;
                match meta.last_mut() {
                    Some((s, l, _)) if ours && matches!((u64::from(*s) + u64::from(*l)).checked_sub(u64::from(b)), Some(0 | 1)) => *l = b + 1 - *s,
                    _ => meta.push((b, 1, "inode chunk")),
                }
            }
        }
        let mut shared = Vec::new();
        if self.sb.ro_compat & RO_COMPAT_REFLINK != 0 {
            meta.extend(self.bt_blocks(&REFCOUNTBT, agno)?.into_iter().map(|b| (b, 1, REFCOUNTBT.name)));
            self.bt_scan(&REFCOUNTBT, agno, &0u32.to_be_bytes(), true, &mut |r| {
                let rec = RefRec::decode(r);
                if rec.start & COW_FLAG == 0 {
                    shared.push((rec.start, rec.len));
                }
                rec.start & COW_FLAG == 0
            })?;
        }
        Ok(AgUse { meta, shared })
    }

    /// Frees every block inode `core` owns (see the module documentation), inside an
    /// operation; the inode itself is left as it is for the caller to reset.
    pub(crate) fn free_owned_blocks(&mut self, core: &Inode) -> Result<()> {
        let runs = self.owned_runs(core)?;
        // Both forks' reverse mappings go with the blocks (the maps read before any is freed).
        let mut maps = Vec::new();
        if self.has_rmapbt() {
            let forks = [(false, Some(core.format), &core.data_fork, core.nextents), (true, core.aformat, &core.attr_fork, core.anextents)];
            for (attr, format, fork, n) in forks {
                let Some(format @ (Format::Extents | Format::Btree)) = format else { continue };
                let (map, tree) = bmap::map_and_tree(&TreeSrc { w: self }, core.ino, format, fork, n)?;
                maps.push((attr, map, tree));
            }
        }
        // Reverse mappings first: a freed block must have none left when it is reused.
        for (attr, map, tree) in maps {
            self.rmap_fork_change(core.ino, attr, &map, &[], &tree, &[])?;
        }
        self.release_runs(core.ino, runs)
    }

    /// Gives back blocks inode `ino` stops mapping (truncation): each `(filesystem block,
    /// length)` run is checked and freed, or loses an owner where shared, as
    /// [`XfsWriter::free_owned_blocks`] does.
    pub(crate) fn release_blocks(&mut self, ino: u64, runs: &[(u64, u64)]) -> Result<()> {
        let mut runs: Vec<Run> = runs.iter().map(|&(b, l)| self.run_of(b, l)).collect();
        runs.sort();
        self.release_runs(ino, runs)
    }

    /// The checks and frees of [`XfsWriter::free_owned_blocks`] on sorted `runs`.
    fn release_runs(&mut self, ino: u64, runs: Vec<Run>) -> Result<()> {
        let mut agnos: Vec<u32> = runs.iter().map(|r| r.agno).collect();
        agnos.dedup();
        let (mut free, mut shared) = (Vec::new(), Vec::new());
        for agno in agnos {
            let u = self.ag_use(agno)?;
            // Blocks the file maps twice must be shared (a clone inside the file): each mapping
            // then drops one reference.
            let mut reach = 0u64;
            for r in runs.iter().filter(|r| r.agno == agno) {
                if reach > u64::from(r.bno) && !covered(&u.shared, r.bno, reach.min(r.end()) as u32) {
                    return Err(self.corrupt(format!("inode {ino}: blocks from {} of AG {agno} mapped twice and not shared", r.bno)));
                }
                reach = reach.max(r.end());
            }
            for r in runs.iter().filter(|r| r.agno == agno) {
                if let Some(&(s, l, what)) = u.meta.iter().find(|&&(s, l, _)| r.meets(s, l)) {
                    return Err(self.corrupt(format!("inode {ino}: blocks {}+{} of AG {agno} overlap the {what} at {s}+{l}", r.bno, r.len)));
                }
                if u.shared.iter().any(|&(s, l)| r.meets(s, l)) {
                    shared.push(*r);
                } else {
                    free.push(*r);
                }
            }
        }
        // Checked: shared runs lose an owner (neighbours together), what no one else maps is
        // freed with the rest.
        for r in merge(shared) {
            let alone = self.refc_decrease(r.agno, r.bno, r.len)?;
            free.extend(alone.into_iter().map(|(bno, len)| Run { agno: r.agno, bno, len }));
        }
        free.sort();
        for r in merge(free) {
            self.free_in_ag(r.agno, r.bno, r.len)?;
        }
        Ok(())
    }
}

/// Whether blocks `start..end` are all inside the (sorted) shared extents.
fn covered(shared: &[(u32, u32)], start: u32, end: u32) -> bool {
    let mut at = u64::from(start);
    for &(s, l) in shared {
        let e = u64::from(s) + u64::from(l);
        if e <= at {
            continue;
        }
        if u64::from(s) > at {
            return false;
        }
        at = e;
        if at >= u64::from(end) {
            return true;
        }
    }
    at >= u64::from(end)
}

/// Sorted runs with neighbours in one AG joined.
fn merge(runs: Vec<Run>) -> Vec<Run> {
    let mut merged: Vec<Run> = Vec::new();
    for r in runs {
        match merged.last_mut() {
            Some(l) if l.agno == r.agno && l.end() == u64::from(r.bno) => l.len += r.len,
            _ => merged.push(r),
        }
    }
    merged
}
