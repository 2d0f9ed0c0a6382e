//! Inode allocation (`xfs_ialloc.c`): inodes live in chunks of 64 (more when a block holds
//! more), each chunk a record of the inode btree ([`INOBT`]: first inode, free mask, counts
//! and, with sparse inodes, a hole mask of 16 groups of 4 inodes never allocated); the free
//! inode btree ([`FINOBT`]) holds the same records for the chunks with a free inode. The AGI
//! counts the AG's inodes and free inodes and remembers the chunk allocated last (`newino`);
//! the superblock counts them all (`icount`, `ifree`).
//!
//! [`XfsWriter::alloc_inode`] is the kernel's `xfs_dialloc`: the AG of the parent (a new
//! directory goes to the next AG in turn), then the others (a first pass skipping AGs whose
//! longest free extent cannot take an aligned chunk, as `xfs_dialloc_good_ag`); in an AG a
//! free inode of an existing chunk is taken (the one nearest the parent through the finobt, or the inobt
//! without one), else a new chunk is allocated as `xfs_ialloc_ag_alloc` does — right after
//! the last chunk, else near the inobt root aligned to the inode alignment, else (sparse
//! inodes) a cluster-sized, cluster-aligned sparse chunk merged into its chunk's record — and
//! its inodes are stamped free. [`XfsWriter::free_inode`] is `xfs_inactive` + `xfs_difree` +
//! `xfs_ifree`: the inode's blocks are freed ([`super::bunmap`]), it goes back to the free state, and a chunk whose inodes are all free is removed and its
//! blocks freed (the kernel's default, no `ikeep`). [`XfsWriter::init_inode`] makes an
//! allocated inode a new file, directory, symlink or special file ([`inode::init_new`]).
//!
//! Unlinked lists are not touched. Refused (corruption, nothing written): records that do not
//! add up (counts against masks, chunks outside the AG), an inode the trees call free whose
//! mode is not zero, freeing an inode that is free or a hole.

use super::ag::NULLAGINO;
use super::alloc::Within;
use super::btree_write::{Lookup, FINOBT, INOBT};
use super::rmap_rec::{Owner, OWN_INODES};
use super::inode::{self, Inode, NewInode};
use super::sb::RO_COMPAT_FINOBT;
use super::writer::XfsWriter;
use crate::bytes::{be16, be32, be64};
use crate::fs::{Errno, Error, Result, Timespec};

/// Inodes per inode btree record.
pub const INODES_PER_CHUNK: u32 = 64;
/// Inodes per hole mask bit.
const INODES_PER_HOLE_BIT: u32 = 4;
/// The free mask of a chunk with every inode free.
const ALL_FREE: u64 = u64::MAX;

/// An inode btree record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InoRec {
    /// First inode of the chunk (AG inode number).
    pub startino: u32,
    /// Groups of 4 inodes that are not allocated (sparse chunks; 0 without sparse inodes).
    pub holemask: u16,
    /// Inodes allocated in the chunk (64 unless sparse).
    pub count: u8,
    /// Free inodes among them.
    pub freecount: u8,
    /// Bit `i` set: inode `startino + i` is free (holes count as free).
    pub free: u64,
}

impl InoRec {
    /// Decodes a record: the sparse format (hole mask, 8-bit counts) when `sparse`.
    pub fn decode(r: &[u8], sparse: bool) -> InoRec {
        if sparse {
            InoRec { startino: be32(r, 0), holemask: be16(r, 4), count: r[6], freecount: r[7], free: be64(r, 8) }
        } else {
            InoRec { startino: be32(r, 0), holemask: 0, count: INODES_PER_CHUNK as u8, freecount: be32(r, 4).min(255) as u8, free: be64(r, 8) }
        }
    }

    /// Encodes the record in the format [`InoRec::decode`] reads.
    pub fn encode(&self, sparse: bool) -> Vec<u8> {
        let mut v = Vec::with_capacity(16);
        v.extend(self.startino.to_be_bytes());
        if sparse {
            v.extend(self.holemask.to_be_bytes());
            v.extend([self.count, self.freecount]);
        } else {
            v.extend(u32::from(self.freecount).to_be_bytes());
        }
        v.extend(self.free.to_be_bytes());
        v
    }

    /// Bit `i` set: inode `startino + i` exists (not in a hole).
    pub fn allocmask(&self) -> u64 {
        (0..16).filter(|b| self.holemask & (1 << b) == 0).fold(0u64, |m, b| m | (0xf << (b * INODES_PER_HOLE_BIT)))
    }

    /// Whether the counts agree with the masks (`xfs_inobt_check_irec`).
    fn consistent(&self) -> bool {
        let alloc = self.allocmask();
        u32::from(self.count) == alloc.count_ones() && u32::from(self.freecount) == (self.free & alloc).count_ones() && self.count > 0
    }

    /// The lowest free inode's offset in the chunk, if any.
    fn first_free(&self) -> Option<u32> {
        let f = self.free & self.allocmask();
        (f != 0).then(|| f.trailing_zeros())
    }
}

/// Inode chunk geometry (`xfs_ialloc_setup_geometry`), in blocks unless named otherwise.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    /// Inodes a chunk allocation makes (`ialloc_inos`).
    inos: u32,
    /// Blocks of a whole chunk (`ialloc_blks`).
    blks: u32,
    /// Blocks of the smallest (sparse) chunk (`ialloc_min_blks`).
    min_blks: u32,
    /// Alignment of a whole chunk (`cluster_align`).
    align: u32,
    /// Most inodes the filesystem may have (`maxicount`; 0: no limit).
    maxicount: u64,
}

impl XfsWriter {
    fn geometry(&self) -> Result<Geometry> {
        let sb = &self.sb;
        let inopb = 1u32 << sb.inopblog;
        let inos = INODES_PER_CHUNK.max(inopb);
        let blks = inos >> sb.inopblog;
        // Inode clusters: 8 KiB, scaled by the inode size on v5 when the alignment allows.
        let mut cluster = 8192u32;
        if sb.crc {
            let scaled = cluster * (u32::from(sb.inodesize) / 256);
            if sb.inoalignmt >= scaled >> sb.blocklog {
                cluster = scaled;
            }
        }
        let per_cluster = (cluster >> sb.blocklog).max(1);
        let align = if sb.inoalignmt >= per_cluster { sb.inoalignmt } else { 1 };
        let min_blks = if sb.spino_align != 0 { sb.spino_align } else { blks };
        if sb.spino_align != 0 && (sb.inoalignmt != blks || blks % sb.spino_align != 0 || (sb.spino_align << sb.inopblog) % INODES_PER_HOLE_BIT != 0) {
            return Err(self.corrupt(format!("superblock: sparse inode alignment {} with inode alignment {} and chunks of {blks} blocks", sb.spino_align, sb.inoalignmt)));
        }
        let maxicount = if sb.imax_pct == 0 { 0 } else { (sb.dblocks * u64::from(sb.imax_pct) / 100 / u64::from(blks) * u64::from(blks)) << sb.inopblog };
        Ok(Geometry { inos, blks, min_blks, align, maxicount })
    }

    /// Whether inode btree records have the sparse format (hole mask, 8-bit counts).
    fn sparse(&self) -> bool {
        self.sb.sparse_inodes
    }

    fn has_finobt(&self) -> bool {
        self.sb.ro_compat & RO_COMPAT_FINOBT != 0
    }

    /// AG and AG inode number of `ino`, checked against the AG's size.
    pub(crate) fn ino_split(&self, ino: u64) -> Result<(u32, u32)> {
        let shift = u32::from(self.sb.agblklog) + u32::from(self.sb.inopblog);
        let agno = ino.checked_shr(shift).unwrap_or(u64::MAX);
        let agino = ino & ((1u64 << shift) - 1);
        if agno >= u64::from(self.sb.agcount) || (agino >> self.sb.inopblog) >= u64::from(self.ag_len(agno as u32)) || agino >> self.sb.inopblog == 0 {
            return Err(self.corrupt(format!("inode number {ino} outside the filesystem's AGs")));
        }
        Ok((agno as u32, agino as u32))
    }

    fn ino_of(&self, agno: u32, agino: u32) -> u64 {
        (u64::from(agno) << (u32::from(self.sb.agblklog) + u32::from(self.sb.inopblog))) | u64::from(agino)
    }

    /// Reads and checks an inode btree record.
    fn ino_rec(&self, agno: u32, r: &[u8], what: &str) -> Result<InoRec> {
        let rec = InoRec::decode(r, self.sparse());
        let first = rec.startino >> self.sb.inopblog;
        let last = (u64::from(rec.startino) + u64::from(INODES_PER_CHUNK) - 1) >> self.sb.inopblog;
        if !rec.consistent() || first == 0 || last >= u64::from(self.ag_len(agno)) {
            return Err(self.corrupt(format!("{what} of AG {agno}: record {rec:?} does not add up")));
        }
        Ok(rec)
    }

    /// Byte offset of the block holding inode `ino` and the inode's offset in it.
    fn inode_place(&self, ino: u64) -> Result<(u64, usize)> {
        let byte = self.sb.ino_to_byte(ino).ok_or_else(|| self.corrupt(format!("inode number {ino} outside the filesystem")))?;
        let bs = u64::from(self.sb.blocksize);
        Ok((byte / bs * bs, (byte % bs) as usize))
    }

    /// The block holding inode `ino` (pending version first), and the inode's offset in it.
    pub(crate) fn inode_block(&self, ino: u64) -> Result<(u64, Vec<u8>, usize)> {
        let (off, at) = self.inode_place(ino)?;
        Ok((off, self.bufs.read(off, self.sb.blocksize as usize)?, at))
    }

    /// Allocates a new inode chunk in AG `agno` (`xfs_ialloc_ag_alloc`); false when the AG
    /// has no room for one.
    fn ialloc_chunk(&mut self, agno: u32, g: &Geometry) -> Result<bool> {
        let agi = self.agi(agno)?.clone();
        let aglen = self.ag_len(agno);
        let blog = self.sb.inopblog;
        let mut got = None;
        // Right after the last chunk.
        if agi.newino != NULLAGINO {
            let next = (agi.newino >> blog).saturating_add(g.blks);
            if next < aglen {
                let w = Within { align: 1, lo: next, hi: next.saturating_add(g.blks), slop: g.align - 1 };
                got = self.alloc_within(agno, g.blks, g.blks, Some((next, w)))?;
            }
        }
        // Near the inode btree's root, aligned.
        if got.is_none() {
            let w = Within { align: g.align, lo: 0, hi: u32::MAX, slop: 0 };
            got = self.alloc_within(agno, g.blks, g.blks, Some((agi.root, w)))?;
        }
        // Sparse: a cluster-aligned piece whose whole aligned chunk fits in the AG.
        if got.is_none() && self.sb.spino_align != 0 && g.min_blks < g.blks {
            let hi = (aglen / self.sb.inoalignmt * self.sb.inoalignmt).saturating_sub(g.blks);
            let w = Within { align: self.sb.spino_align, lo: self.sb.inoalignmt, hi, slop: 0 };
            got = self.alloc_within(agno, g.min_blks, g.min_blks, Some((agi.root, w)))?;
        }
        let Some((agbno, len)) = got else { return Ok(false) };
        self.rmap_map(agno, agbno, len, Owner::special(OWN_INODES))?;
        // Stamp the new inodes free, with one random generation for the chunk.
        let mut genb = [0u8; 4];
        getrandom::fill(&mut genb).map_err(|e| Error::Unsupported { dev: self.bufs.dev_name(), fs: "xfs".into(), feature: format!("no random numbers for inode generations: {e}") })?;
        let gen = u32::from_le_bytes(genb);
        let isize = usize::from(self.sb.inodesize);
        for b in agbno..agbno + len {
            let mut blk = vec![0u8; self.sb.blocksize as usize];
            for (i, ib) in blk.chunks_mut(isize).enumerate() {
                let ino = self.ino_of(agno, (b << blog) + i as u32);
                inode::init_free(&self.sb, ino, ib, gen);
            }
            let off = self.ag_byte(agno, b);
            self.bufs.put(off, blk, None);
        }
        let newlen = len << blog;
        let mut newino = agbno << blog;
        if newlen < INODES_PER_CHUNK {
            // A sparse chunk: the record starts at the aligned chunk holding it.
            let mut allocmask: u16 = ((1u32 << (newlen / INODES_PER_HOLE_BIT)) - 1) as u16;
            let offset = (agbno % self.sb.inoalignmt) << blog;
            newino -= offset;
            allocmask <<= offset / INODES_PER_HOLE_BIT;
            let mut rec = InoRec { startino: newino, holemask: !allocmask, count: newlen as u8, freecount: newlen as u8, free: ALL_FREE };
            if let Some(old) = self.bt_lookup(&INOBT, agno, &newino.to_be_bytes(), Lookup::Eq)? {
                let old = self.ino_rec(agno, &old, "inobt")?;
                if old.holemask == 0 || old.allocmask() & rec.allocmask() != 0 || u32::from(old.count) + newlen > INODES_PER_CHUNK {
                    return Err(self.corrupt(format!("inobt of AG {agno}: sparse record {old:?} cannot take {rec:?}")));
                }
                rec.count += old.count;
                rec.freecount += old.freecount;
                rec.holemask &= old.holemask;
                rec.free &= old.free;
                self.bt_update(&INOBT, agno, &rec.encode(true))?;
            } else {
                self.bt_insert(&INOBT, agno, &rec.encode(true))?;
            }
            if self.has_finobt() {
                if self.bt_lookup(&FINOBT, agno, &newino.to_be_bytes(), Lookup::Eq)?.is_some() {
                    self.bt_update(&FINOBT, agno, &rec.encode(true))?;
                } else {
                    self.bt_insert(&FINOBT, agno, &rec.encode(true))?;
                }
            }
        } else {
            let sparse = self.sparse();
            for start in (newino..newino + newlen).step_by(INODES_PER_CHUNK as usize) {
                let rec = InoRec { startino: start, holemask: 0, count: INODES_PER_CHUNK as u8, freecount: INODES_PER_CHUNK as u8, free: ALL_FREE };
                self.bt_insert(&INOBT, agno, &rec.encode(sparse))?;
                if self.has_finobt() {
                    self.bt_insert(&FINOBT, agno, &rec.encode(sparse))?;
                }
            }
        }
        let agi = self.agi(agno)?;
        let (Some(c), Some(f)) = (agi.count.checked_add(newlen), agi.freecount.checked_add(newlen)) else {
            return Err(self.corrupt(format!("AGI of AG {agno}: inode counts overflow")));
        };
        (agi.count, agi.freecount, agi.newino) = (c, f, newino);
        self.icount += u64::from(newlen);
        self.ifree += u64::from(newlen);
        Ok(true)
    }

    /// The finobt record to take an inode from (`xfs_dialloc_ag_finobt_near`/`_newino`).
    fn finobt_pick(&mut self, agno: u32, near: Option<u32>) -> Result<Option<Vec<u8>>> {
        let newino = self.agi(agno)?.newino;
        let Some(pagino) = near.map(|p| if p == 0 { newino } else { p }) else {
            if newino != NULLAGINO {
                if let Some(r) = self.bt_lookup(&FINOBT, agno, &newino.to_be_bytes(), Lookup::Eq)? {
                    return Ok(Some(r));
                }
            }
            return self.bt_lookup(&FINOBT, agno, &0u32.to_be_bytes(), Lookup::Ge);
        };
        let left = self.bt_lookup(&FINOBT, agno, &pagino.to_be_bytes(), Lookup::Le)?;
        if let Some(l) = &left {
            if pagino - be32(l, 0) < INODES_PER_CHUNK {
                return Ok(left);
            }
        }
        let right = self.bt_lookup(&FINOBT, agno, &pagino.to_be_bytes(), Lookup::Ge)?;
        Ok(match (left, right) {
            (Some(l), Some(r)) => {
                // Nearer to the right unless the left chunk's last inode is closer.
                let (dl, dr) = (u64::from(pagino - be32(&l, 0)) + u64::from(INODES_PER_CHUNK) - 1, u64::from(be32(&r, 0).saturating_sub(pagino)));
                if dl > dr {
                    Some(r)
                } else {
                    Some(l)
                }
            }
            (l, r) => r.or(l),
        })
    }

    /// The inobt record with startino `start` (`xfs_ialloc_get_rec`), the one before it or
    /// after it (`xfs_ialloc_next_rec`).
    fn inobt_at(&mut self, agno: u32, start: u32, how: i8) -> Result<Option<InoRec>> {
        let (key, lk) = match how {
            0 => (start, Lookup::Eq),
            h if h < 0 => match start.checked_sub(1) {
                Some(k) => (k, Lookup::Le),
                None => return Ok(None),
            },
            _ => match start.checked_add(1) {
                Some(k) => (k, Lookup::Ge),
                None => return Ok(None),
            },
        };
        match self.bt_lookup(&INOBT, agno, &key.to_be_bytes(), lk)? {
            Some(r) => Ok(Some(self.ino_rec(agno, &r, "inobt")?)),
            None => Ok(None),
        }
    }

    /// The inobt record to take an inode from on filesystems without a finobt, as the
    /// kernel's `xfs_dialloc_ag_inobt`: in the parent's AG the chunk holding the parent
    /// (`near`), else the nearest chunk with a free inode left or right, at most nine steps
    /// away, resuming where the last search for the same parent stopped (the kernel's per-AG
    /// `pagl_*` hints); else the chunk allocated last, else the first with a free inode.
    fn inobt_pick(&mut self, agno: u32, near: Option<u32>) -> Result<Option<InoRec>> {
        let newino = self.agi(agno)?.newino;
        if let Some(p) = near {
            let pagino = if p == 0 { newino } else { p };
            for _ in 0..2 {
                let Some(here) = self.bt_lookup(&INOBT, agno, &pagino.to_be_bytes(), Lookup::Le)? else {
                    return Err(self.corrupt(format!("inobt of AG {agno}: no chunk at or before the parent's inode {pagino}")));
                };
                let here = self.ino_rec(agno, &here, "inobt")?;
                if here.freecount > 0 {
                    return Ok(Some(here));
                }
                let hint = self.pagl.get(&agno).copied().filter(|&(p, l, r)| pagino != NULLAGINO && p == pagino && l != NULLAGINO && r != NULLAGINO);
                let (mut left, mut right) = match hint {
                    Some((_, l, r)) => (self.inobt_at(agno, l, 0)?, self.inobt_at(agno, r, 0)?),
                    None => (self.inobt_at(agno, here.startino, -1)?, self.inobt_at(agno, here.startino, 1)?),
                };
                // The last records seen on each side (what the hints remember).
                let (mut lseen, mut rseen) = (left.map_or(NULLAGINO, |r| r.startino), right.map_or(NULLAGINO, |r| r.startino));
                let mut distance = 10;
                loop {
                    distance -= 1;
                    if distance <= 0 || (left.is_none() && right.is_none()) {
                        break;
                    }
                    let useleft = match (left, right) {
                        (Some(l), Some(r)) => i64::from(pagino) - (i64::from(l.startino) + i64::from(INODES_PER_CHUNK) - 1) < i64::from(r.startino) - i64::from(pagino),
                        (l, _) => l.is_some(),
                    };
                    let pick = if useleft { left } else { right };
                    if let Some(rec) = pick.filter(|r| r.freecount > 0) {
                        self.pagl.insert(agno, (pagino, lseen, rseen));
                        return Ok(Some(rec));
                    }
                    if useleft {
                        left = self.inobt_at(agno, lseen, -1)?;
                        lseen = left.map_or(lseen, |r| r.startino);
                    } else {
                        right = self.inobt_at(agno, rseen, 1)?;
                        rseen = right.map_or(rseen, |r| r.startino);
                    }
                }
                if distance <= 0 {
                    self.pagl.insert(agno, (pagino, lseen, rseen));
                    break;
                }
                // Searched everything from stale hints: forget them and search again.
                self.pagl.remove(&agno);
                if hint.is_none() {
                    break;
                }
            }
        }
        if newino != NULLAGINO {
            if let Some(r) = self.inobt_at(agno, newino, 0)?.filter(|r| r.freecount > 0) {
                return Ok(Some(r));
            }
        }
        let sparse = self.sparse();
        let mut found = None;
        self.bt_scan(&INOBT, agno, &0u32.to_be_bytes(), true, &mut |r| {
            if InoRec::decode(r, sparse).freecount > 0 {
                found = Some(r.to_vec());
                return false;
            }
            true
        })?;
        found.map(|r| self.ino_rec(agno, &r, "inobt")).transpose()
    }

    /// Takes a free inode of AG `agno` (which has one), nearest the parent's AG inode number
    /// `near` (`xfs_dialloc_ag`).
    fn dialloc_ag(&mut self, agno: u32, near: Option<u32>) -> Result<u64> {
        let sparse = self.sparse();
        let what = if self.has_finobt() { "finobt" } else { "inobt" };
        let picked = if self.has_finobt() {
            match self.finobt_pick(agno, near)? {
                Some(raw) => Some(self.ino_rec(agno, &raw, what)?),
                None => None,
            }
        } else {
            self.inobt_pick(agno, near)?
        };
        let Some(mut rec) = picked else {
            return Err(self.corrupt(format!("AGI of AG {agno}: free inodes counted but the {what} has none")));
        };
        let Some(offset) = rec.first_free() else {
            return Err(self.corrupt(format!("{what} of AG {agno}: record {rec:?} without a free inode")));
        };
        rec.free &= !(1u64 << offset);
        rec.freecount -= 1;
        let key = rec.startino.to_be_bytes();
        if self.has_finobt() {
            if rec.freecount > 0 {
                self.bt_update(&FINOBT, agno, &rec.encode(sparse))?;
            } else {
                self.bt_delete(&FINOBT, agno, &key)?;
            }
            let Some(iraw) = self.bt_lookup(&INOBT, agno, &key, Lookup::Eq)? else {
                return Err(self.corrupt(format!("inobt of AG {agno}: no record for finobt chunk {}", rec.startino)));
            };
            let mut irec = self.ino_rec(agno, &iraw, "inobt")?;
            irec.free &= !(1u64 << offset);
            irec.freecount = irec.freecount.saturating_sub(1);
            if irec != rec {
                return Err(self.corrupt(format!("AG {agno}: inobt record {irec:?} and finobt record {rec:?} disagree")));
            }
        }
        self.bt_update(&INOBT, agno, &rec.encode(sparse))?;
        let agi = self.agi(agno)?;
        let Some(f) = agi.freecount.checked_sub(1) else { return Err(self.corrupt(format!("AGI of AG {agno}: no free inode counted"))) };
        agi.freecount = f;
        self.ifree = self.ifree.checked_sub(1).ok_or_else(|| self.corrupt("superblock: ifree below zero".into()))?;
        let ino = self.ino_of(agno, rec.startino + offset);
        // The inode itself must be free.
        let (_, blk, at) = self.inode_block(ino)?;
        let isize = usize::from(self.sb.inodesize);
        let core = Inode::parse(&self.sb, ino, &blk[at..at + isize]).map_err(|m| self.corrupt(m))?;
        if core.mode != 0 {
            return Err(self.corrupt(format!("inode {ino} is free in the inode btrees but has mode {:o}", core.mode)));
        }
        Ok(ino)
    }

    /// Whether AG `agno` (without free inodes) has the space for a new chunk, as the kernel's
    /// `xfs_dialloc_good_ag`: the smallest chunk (plus its alignment on the first pass) in
    /// the longest free extent, and one block more for files, directories and symlinks.
    fn chunk_may_fit(&mut self, agno: u32, g: &Geometry, first_pass: bool, mode: u16) -> Result<bool> {
        let agf = self.agf(agno)?.clone();
        let ineed = if first_pass && g.min_blks > 1 { g.min_blks + g.align } else { g.min_blks };
        let longest = if agf.longest == 0 { u32::from(agf.flcount > 0) } else { agf.longest };
        let needspace = u32::from(matches!(mode & 0o170000, 0o100000 | 0o040000 | 0o120000));
        Ok(agf.freeblks >= needspace + ineed && longest >= ineed)
    }

    /// `alloc_inode` inside an operation.
    pub(crate) fn dialloc(&mut self, parent: u64, mode: u16) -> Result<u64> {
        let g = self.geometry()?;
        let agcount = self.sb.agcount;
        let (pagno, pagino) = self.ino_split(parent).unwrap_or_default();
        let start = if mode & 0o170000 == 0o040000 {
            let a = self.agirotor % agcount;
            self.agirotor = (a + 1) % agcount;
            a
        } else {
            pagno
        };
        let ok_alloc = g.maxicount == 0 || self.icount + u64::from(g.inos) <= g.maxicount;
        // Near ENOSPC the first pass takes free inodes only; the second may allocate chunks.
        let low_space = self.fdblocks < self.sb.dblocks / 100;
        for (first_pass, alloc) in [(true, ok_alloc && !low_space), (false, ok_alloc || low_space)] {
            for i in 0..agcount {
                let agno = (start + i) % agcount;
                let near = (agno == pagno).then_some(pagino);
                if self.agi(agno)?.freecount > 0 || (alloc && self.chunk_may_fit(agno, &g, first_pass, mode)? && self.ialloc_chunk(agno, &g)?) {
                    return self.dialloc_ag(agno, near);
                }
            }
        }
        Err(Error::Os(Errno::NoSpace))
    }

    /// Allocates an inode for a new file of type `mode` (its `S_IFMT` bits: a directory goes
    /// to the next AG in turn, the rest near the parent) in directory `parent` as the kernel's
    /// `xfs_dialloc` (see the module documentation) and returns its number. The inode stays in
    /// the free state on disk (mode 0) until [`XfsWriter::init_inode`].
    pub fn alloc_inode(&mut self, parent: u64, mode: u16) -> Result<u64> {
        self.begin();
        let r = self.dialloc(parent, mode);
        self.end(r)
    }

    /// `init_inode` inside an operation.
    pub(crate) fn init_inode_in(&mut self, ino: u64, new: &NewInode, now: Timespec) -> Result<()> {
        let (off, mut blk, at) = self.inode_block(ino)?;
        let isize = usize::from(self.sb.inodesize);
        let core = Inode::parse(&self.sb, ino, &blk[at..at + isize]).map_err(|m| self.corrupt(m))?;
        if core.mode != 0 {
            return Err(self.corrupt(format!("inode {ino} is in use (mode {:o}); not initialising it", core.mode)));
        }
        let mut genb = [0u8; 4];
        getrandom::fill(&mut genb).map_err(|e| Error::Unsupported { dev: self.bufs.dev_name(), fs: "xfs".into(), feature: format!("no random numbers for inode generations: {e}") })?;
        let lsn = self.bufs.lsn();
        inode::init_new(&self.sb, &mut blk[at..at + isize], new, now, u32::from_le_bytes(genb), lsn)
            .map_err(|m| Error::Unsupported { dev: self.bufs.dev_name(), fs: "xfs".into(), feature: format!("creating inode {ino}: {m}") })?;
        self.bufs.put(off, blk, None);
        Ok(())
    }

    /// Makes allocated inode `ino` (from [`XfsWriter::alloc_inode`], still mode 0) the new
    /// inode `new` created at `now` ([`inode::init_new`]); the inode's link count is what a
    /// new entry gives it, the caller links it into a directory.
    pub fn init_inode(&mut self, ino: u64, new: &NewInode, now: Timespec) -> Result<()> {
        self.begin();
        let r = self.init_inode_in(ino, new, now);
        self.end(r)
    }

    /// `free_inode` inside an operation.
    pub(crate) fn difree(&mut self, ino: u64) -> Result<()> {
        let (agno, agino) = self.ino_split(ino)?;
        let sparse = self.sparse();
        let Some(raw) = self.bt_lookup(&INOBT, agno, &agino.to_be_bytes(), Lookup::Le)? else {
            return Err(self.corrupt(format!("freeing inode {ino}: no inobt record holds it")));
        };
        let mut rec = self.ino_rec(agno, &raw, "inobt")?;
        let offset = agino - rec.startino;
        if offset >= INODES_PER_CHUNK || rec.allocmask() & (1 << offset) == 0 {
            return Err(self.corrupt(format!("freeing inode {ino}: not in an allocated part of a chunk")));
        }
        if rec.free & (1 << offset) != 0 {
            return Err(self.corrupt(format!("freeing inode {ino}: it is free already")));
        }
        // Its blocks first (`xfs_itruncate_extents` of both forks), then the inode back to the
        // free state (`xfs_ifree`).
        let (_, blk, at) = self.inode_block(ino)?;
        let isize = usize::from(self.sb.inodesize);
        let core = Inode::parse(&self.sb, ino, &blk[at..at + isize]).map_err(|m| self.corrupt(m))?;
        self.free_owned_blocks(&core)?;
        let (off, mut blk, at) = self.inode_block(ino)?;
        let lsn = self.bufs.lsn();
        inode::reset_free(&self.sb, &mut blk[at..at + isize], lsn);
        self.bufs.put(off, blk, None);
        rec.free |= 1 << offset;
        rec.freecount += 1;
        let key = rec.startino.to_be_bytes();
        let inopb = 1u32 << self.sb.inopblog;
        let delete = rec.free == ALL_FREE && inopb <= INODES_PER_CHUNK;
        if delete {
            let ilen = u32::from(rec.freecount);
            let (count, freecount) = {
                let a = self.agi(agno)?;
                (a.count, a.freecount)
            };
            let (Some(c), Some(f)) = (count.checked_sub(ilen), freecount.checked_sub(ilen - 1)) else {
                return Err(self.corrupt(format!("AGI of AG {agno}: {count} inodes, {freecount} free; a chunk of {ilen} removed")));
            };
            let agi = self.agi(agno)?;
            (agi.count, agi.freecount) = (c, f);
            self.icount = self.icount.checked_sub(u64::from(ilen)).ok_or_else(|| self.corrupt("superblock: icount below zero".into()))?;
            self.ifree = self.ifree.checked_sub(u64::from(ilen - 1)).ok_or_else(|| self.corrupt("superblock: ifree below zero".into()))?;
            self.bt_delete(&INOBT, agno, &key)?;
            self.free_chunk_blocks(agno, &rec)?;
        } else {
            self.bt_update(&INOBT, agno, &rec.encode(sparse))?;
            let (count, freecount) = {
                let a = self.agi(agno)?;
                (a.count, a.freecount)
            };
            if freecount >= count {
                return Err(self.corrupt(format!("AGI of AG {agno}: {freecount} of {count} inodes free already")));
            }
            self.agi(agno)?.freecount += 1;
            self.ifree += 1;
        }
        if self.has_finobt() {
            match self.bt_lookup(&FINOBT, agno, &key, Lookup::Eq)? {
                None if rec.freecount == 1 => self.bt_insert(&FINOBT, agno, &rec.encode(sparse))?,
                None => return Err(self.corrupt(format!("finobt of AG {agno}: no record for chunk {} with free inodes", rec.startino))),
                Some(fraw) => {
                    let mut frec = self.ino_rec(agno, &fraw, "finobt")?;
                    frec.free |= 1 << offset;
                    frec.freecount = frec.freecount.saturating_add(1);
                    if frec != rec {
                        return Err(self.corrupt(format!("AG {agno}: inobt record {rec:?} and finobt record {frec:?} disagree")));
                    }
                    if delete {
                        self.bt_delete(&FINOBT, agno, &key)?;
                    } else {
                        self.bt_update(&FINOBT, agno, &rec.encode(sparse))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Frees the allocated blocks of chunk `rec` (its runs of allocated inodes).
    fn free_chunk_blocks(&mut self, agno: u32, rec: &InoRec) -> Result<()> {
        let alloc = rec.allocmask();
        let blog = self.sb.inopblog;
        let mut i = 0u32;
        while i < INODES_PER_CHUNK {
            if alloc & (1 << i) == 0 {
                i += 1;
                continue;
            }
            let run = (alloc >> i).trailing_ones().min(INODES_PER_CHUNK - i);
            let first = rec.startino + i;
            if first % (1 << blog) != 0 || run % (1 << blog) != 0 {
                return Err(self.corrupt(format!("inobt of AG {agno}: chunk {rec:?} has allocated inodes not in whole blocks")));
            }
            self.rmap_unmap(agno, first >> blog, run >> blog, Owner::special(OWN_INODES))?;
            self.free_in_ag(agno, first >> blog, run >> blog)?;
            i += run;
        }
        Ok(())
    }

    /// Frees inode `ino`: the blocks of its data and attribute forks freed first
    /// ([`super::bunmap`]: shared reflinked runs only lose an owner), then back to the free
    /// state on disk (mode 0, generation one up), free in the inode btrees, its chunk removed
    /// and the chunk's blocks freed when all its inodes are free (see the module
    /// documentation); a free inode or a hole is corruption.
    pub fn free_inode(&mut self, ino: u64) -> Result<()> {
        self.begin();
        let r = self.difree(ino);
        self.end(r)
    }

    /// Every inode btree record of AG `agno`, checked against the finobt (the same records
    /// for the chunks with a free inode) and the AGI (`count`, `freecount`, block counts): a
    /// test and debug aid. Read-only.
    pub fn inode_chunks(&mut self, agno: u32) -> Result<Vec<InoRec>> {
        self.begin();
        let r = (|| {
            let (recs, iblocks, _) = self.bt_check(&INOBT, agno)?;
            let recs = recs.iter().map(|r| self.ino_rec(agno, r, "inobt")).collect::<Result<Vec<_>>>()?;
            let agi = self.agi(agno)?.clone();
            let count: u32 = recs.iter().map(|r| u32::from(r.count)).sum();
            let free: u32 = recs.iter().map(|r| u32::from(r.freecount)).sum();
            if count != agi.count || free != agi.freecount {
                return Err(self.corrupt(format!("AG {agno}: AGI says {} inodes, {} free; the inobt holds {count}, {free}", agi.count, agi.freecount)));
            }
            let counted = self.sb.ro_compat & super::sb::RO_COMPAT_INOBTCOUNT != 0;
            if counted && iblocks + 1 != agi.iblocks {
                return Err(self.corrupt(format!("AG {agno}: AGI says {} inobt blocks, the tree has {}", agi.iblocks, iblocks + 1)));
            }
            if self.has_finobt() {
                let (frecs, fblocks, _) = self.bt_check(&FINOBT, agno)?;
                let frecs = frecs.iter().map(|r| self.ino_rec(agno, r, "finobt")).collect::<Result<Vec<_>>>()?;
                let want: Vec<InoRec> = recs.iter().filter(|r| r.freecount > 0).copied().collect();
                if frecs != want {
                    return Err(self.corrupt(format!("AG {agno}: the finobt does not hold the inobt's chunks with free inodes")));
                }
                if counted && fblocks + 1 != agi.fblocks {
                    return Err(self.corrupt(format!("AG {agno}: AGI says {} finobt blocks, the tree has {}", agi.fblocks, fblocks + 1)));
                }
            }
            Ok(recs)
        })();
        self.bufs.discard();
        self.abort();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_masks() {
        let r = InoRec { startino: 128, holemask: 0, count: 64, freecount: 61, free: !7 };
        assert_eq!(InoRec::decode(&r.encode(true), true), r);
        assert_eq!(InoRec::decode(&r.encode(false), false), r);
        assert_eq!(r.encode(false)[4..8], 61u32.to_be_bytes());
        assert!(r.consistent());
        assert_eq!(r.first_free(), Some(3));
        // A sparse chunk with only its first 16 inodes (4 hole bits clear).
        let s = InoRec { startino: 256, holemask: 0xfff0, count: 16, freecount: 16, free: ALL_FREE };
        assert_eq!(s.allocmask(), 0xffff);
        assert!(s.consistent());
        assert_eq!(s.first_free(), Some(0));
        let bad = InoRec { count: 20, ..s };
        assert!(!bad.consistent());
        let full = InoRec { free: 0, freecount: 0, ..r };
        assert_eq!(full.first_free(), None);
    }
}
