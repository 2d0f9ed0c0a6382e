//! The write side's session: a writable device, the superblock and the AG headers kept in
//! memory while an operation runs, and the [`Bufs`] every changed block goes through. Every
//! public operation ([`XfsWriter::alloc_extent`], [`XfsWriter::free_extent`]…) runs whole or
//! not at all: on success the changed AGFs and AGIs, the superblock and every pending block
//! reach the device; on error nothing does and the in-memory state returns to what it was.
//!
//! Refused at open, by name: what [`Superblock::parse`] refuses (realtime device, external log,
//! metadir, needsrepair, unknown incompatible features), a dirty log (the kernel would replay
//! it first) and unknown read-only-compatible features. On an rmapbt filesystem every
//! allocation and free updates the reverse mappings ([`super::rmap`]).

use super::ag::{self, Agf, Agi};
use super::buf::{Bufs, Stamp};
use super::log::{self, LogState};
use super::sb::{self, SbError, Superblock};
use crate::disk::{read_vec, Dev};
use crate::fs::{Error, Result};
use std::collections::BTreeMap;

/// `features_ro_compat` bits the writer knows: finobt, rmapbt, reflink, inobtcount.
const RO_COMPAT_KNOWN: u32 = 0x1 | 0x2 | 0x4 | 0x8;
/// `sb_dblocks`.
const SB_DBLOCKS_OFF: usize = 8;
/// `sb_agcount`.
const SB_AGCOUNT_OFF: usize = 88;
/// `sb_imax_pct`.
const SB_IMAX_PCT_OFF: usize = 127;
/// `sb_icount`.
const SB_ICOUNT_OFF: usize = 128;
/// `sb_ifree`.
const SB_IFREE_OFF: usize = 136;
/// `sb_fdblocks`.
const SB_FDBLOCKS_OFF: usize = 144;
/// `sb_lsn` (v5).
const SB_LSN_OFF: usize = 240;
/// `sb_versionnum`.
const SB_VERSIONNUM_OFF: usize = 100;

/// An AGF held in memory during an operation.
#[derive(Clone)]
pub(crate) struct AgfState {
    pub agf: Agf,
    raw: Vec<u8>,
    dirty: bool,
}

/// An AGI held in memory during an operation.
#[derive(Clone)]
pub(crate) struct AgiState {
    pub agi: Agi,
    raw: Vec<u8>,
    dirty: bool,
}

impl AgfState {
    /// The encoded AGF when it changed (then marked written).
    fn take_dirty(&mut self) -> Option<Vec<u8>> {
        self.dirty.then(|| {
            self.dirty = false;
            self.agf.encode(&mut self.raw);
            self.raw.clone()
        })
    }
}

impl AgiState {
    /// The encoded AGI when it changed (then marked written).
    fn take_dirty(&mut self) -> Option<Vec<u8>> {
        self.dirty.then(|| {
            self.dirty = false;
            self.agi.encode(&mut self.raw);
            self.raw.clone()
        })
    }
}

/// (AG, encoded header) of every changed header among `states`.
fn dirty<S>(states: &mut BTreeMap<u32, S>, take: fn(&mut S) -> Option<Vec<u8>>) -> Vec<(u32, Vec<u8>)> {
    states.iter_mut().filter_map(|(&agno, st)| take(st).map(|raw| (agno, raw))).collect()
}

/// The in-memory state an operation changes: the superblock, its counters and AG headers.
#[derive(Clone)]
struct State {
    sb: Superblock,
    sb_raw: Vec<u8>,
    fdblocks: u64,
    icount: u64,
    ifree: u64,
    agirotor: u32,
    pagl: BTreeMap<u32, (u32, u32, u32)>,
    agfs: BTreeMap<u32, AgfState>,
    agis: BTreeMap<u32, AgiState>,
}

/// An XFS filesystem open for metadata writes (see the module documentation).
pub struct XfsWriter {
    pub(crate) sb: Superblock,
    sb_raw: Vec<u8>,
    pub(crate) fdblocks: u64,
    /// Allocated inodes (`sb_icount`) as the writer keeps it.
    pub(crate) icount: u64,
    /// Free inodes among them (`sb_ifree`).
    pub(crate) ifree: u64,
    /// The AG the next directory's inode is tried in first (the kernel's `m_agirotor`).
    pub(crate) agirotor: u32,
    /// Per AG, where the last inobt search near a parent stopped: (parent's AG inode, left
    /// and right chunk), the kernel's `pagl_pagino`/`pagl_leftrec`/`pagl_rightrec`.
    pub(crate) pagl: BTreeMap<u32, (u32, u32, u32)>,
    pub(crate) bufs: Bufs,
    pub(crate) agfs: BTreeMap<u32, AgfState>,
    pub(crate) agis: BTreeMap<u32, AgiState>,
    /// The superblock's geometry changed in this operation (grow): the primary and every
    /// secondary superblock are rewritten at its end.
    geometry_changed: bool,
    /// The state before the current operation (restored when it fails).
    saved: Option<State>,
}

impl XfsWriter {
    /// Opens `dev` (writable) for metadata writes; refuses what the module documentation lists.
    pub fn open(dev: Dev) -> Result<XfsWriter> {
        let name = dev.name();
        let unsupported = |f: String| Error::Unsupported { dev: name.clone(), fs: "xfs".into(), feature: format!("writing: {f}") };
        let corrupt = |m: String| Error::Corrupt { dev: name.clone(), fs: "xfs".into(), msg: m };
        let first = read_vec(dev.as_ref(), 0, 512.min(dev.len() as usize))?;
        let sectsize = usize::from(crate::bytes::be16(&first, 102)).clamp(512, 32768);
        let raw = if sectsize > 512 && dev.len() >= sectsize as u64 { read_vec(dev.as_ref(), 0, sectsize)? } else { first };
        let sb = Superblock::parse(&raw).map_err(|e| match e {
            SbError::Corrupt(m) => corrupt(m),
            SbError::Unsupported(f) => unsupported(f),
        })?;
        if sb.dblocks.saturating_mul(u64::from(sb.blocksize)) > dev.len() {
            return Err(corrupt(format!("{} blocks of {} bytes do not fit the device of {} bytes", sb.dblocks, sb.blocksize, dev.len())));
        }
        if !dev.is_writable() {
            return Err(Error::Disk(crate::disk::Error::ReadOnly { dev: name.clone() }));
        }
        if sb.ro_compat & !RO_COMPAT_KNOWN != 0 {
            return Err(unsupported(format!("unknown read-only-compatible features {:#x}", sb.ro_compat & !RO_COMPAT_KNOWN)));
        }
        let lsn = match log_lsn(&dev, &sb) {
            Some((LogState::Clean, lsn)) => lsn,
            _ => return Err(Error::NeedsCheck { dev: name.clone(), msg: "xfs: the log is dirty (mount the filesystem to replay it, or run xfs_repair); not writing".into() }),
        };
        let (fdblocks, icount, ifree) = (sb.fdblocks, sb.icount, sb.ifree);
        let bufs = Bufs::new(dev, sb.crc, lsn);
        let sb_raw = raw[..sectsize.min(raw.len())].to_vec();
        Ok(XfsWriter { sb, sb_raw, fdblocks, icount, ifree, agirotor: 0, pagl: BTreeMap::new(), bufs, agfs: BTreeMap::new(), agis: BTreeMap::new(), geometry_changed: false, saved: None })
    }

    /// The superblock as opened (counters as of then; see [`XfsWriter::fdblocks`]).
    pub fn superblock(&self) -> &Superblock {
        &self.sb
    }

    /// Free data blocks (`sb_fdblocks`) as the writer keeps it.
    pub fn fdblocks(&self) -> u64 {
        self.fdblocks
    }

    /// Allocated and free inodes (`sb_icount`, `sb_ifree`) as the writer keeps them.
    pub fn inode_counts(&self) -> (u64, u64) {
        (self.icount, self.ifree)
    }

    pub(crate) fn corrupt(&self, msg: String) -> Error {
        Error::Corrupt { dev: self.bufs.dev_name(), fs: "xfs".into(), msg }
    }

    /// Byte offset of AG block `agbno` of AG `agno`.
    pub(crate) fn ag_byte(&self, agno: u32, agbno: u32) -> u64 {
        (u64::from(agno) * u64::from(self.sb.agblocks) + u64::from(agbno)) << self.sb.blocklog
    }

    /// Byte offset of sector `n` of AG `agno` (1 AGF, 2 AGI, 3 AGFL).
    pub(crate) fn ag_sector_byte(&self, agno: u32, n: u64) -> u64 {
        self.ag_byte(agno, 0) + n * u64::from(self.sb.sectsize)
    }

    /// The AGF of `agno` (read and checked on first use).
    pub(crate) fn agf(&mut self, agno: u32) -> Result<&mut Agf> {
        if agno >= self.sb.agcount {
            return Err(self.corrupt(format!("AG {agno} of {}", self.sb.agcount)));
        }
        if !self.agfs.contains_key(&agno) {
            let raw = self.bufs.read(self.ag_sector_byte(agno, 1), usize::from(self.sb.sectsize))?;
            let agf = Agf::parse(&self.sb, agno, &raw).map_err(|m| self.corrupt(m))?;
            if agf.bno_level == 0 || agf.cnt_level == 0 || agf.bno_level > u32::from(super::btree::MAX_HEIGHT) || agf.cnt_level > u32::from(super::btree::MAX_HEIGHT) {
                return Err(self.corrupt(format!("AGF of AG {agno}: free-space btree levels {} and {}", agf.bno_level, agf.cnt_level)));
            }
            self.agfs.insert(agno, AgfState { agf, raw, dirty: false });
        }
        let st = self.agfs.get_mut(&agno).ok_or(Error::Os(crate::fs::Errno::Invalid))?;
        st.dirty = true;
        Ok(&mut st.agf)
    }

    /// The AGI of `agno` (read and checked on first use: the inode btrees' levels).
    pub(crate) fn agi(&mut self, agno: u32) -> Result<&mut Agi> {
        if agno >= self.sb.agcount {
            return Err(self.corrupt(format!("AG {agno} of {}", self.sb.agcount)));
        }
        if !self.agis.contains_key(&agno) {
            let raw = self.bufs.read(self.ag_sector_byte(agno, 2), usize::from(self.sb.sectsize))?;
            let agi = Agi::parse(&self.sb, agno, &raw).map_err(|m| self.corrupt(m))?;
            let max = u32::from(super::btree::MAX_HEIGHT);
            let finobt = self.sb.ro_compat & sb::RO_COMPAT_FINOBT != 0;
            if agi.level == 0 || agi.level > max || (finobt && (agi.free_level == 0 || agi.free_level > max)) {
                return Err(self.corrupt(format!("AGI of AG {agno}: inode btree levels {} and {}", agi.level, agi.free_level)));
            }
            self.agis.insert(agno, AgiState { agi, raw, dirty: false });
        }
        let st = self.agis.get_mut(&agno).ok_or(Error::Os(crate::fs::Errno::Invalid))?;
        st.dirty = true;
        Ok(&mut st.agi)
    }

    fn state(&self) -> State {
        State {
            sb: self.sb.clone(),
            sb_raw: self.sb_raw.clone(),
            fdblocks: self.fdblocks,
            icount: self.icount,
            ifree: self.ifree,
            agirotor: self.agirotor,
            pagl: self.pagl.clone(),
            agfs: self.agfs.clone(),
            agis: self.agis.clone(),
        }
    }

    fn restore(&mut self, s: State) {
        (self.sb, self.sb_raw) = (s.sb, s.sb_raw);
        self.fdblocks = s.fdblocks;
        self.icount = s.icount;
        self.ifree = s.ifree;
        self.agirotor = s.agirotor;
        self.pagl = s.pagl;
        self.agfs = s.agfs;
        self.agis = s.agis;
    }

    /// Starts an operation: remembers the in-memory state to restore when it fails.
    pub(crate) fn begin(&mut self) {
        self.saved = Some(self.state());
    }

    /// Sets feature bit `bit` of `sb_versionnum` (v4: the attribute bit with the first
    /// attribute, as `xfs_sb_version_addattr`); the primary superblock is written at the
    /// operation's end, as the kernel logs only it.
    pub(crate) fn add_version_bit(&mut self, bit: u16) {
        let v = crate::bytes::be16(&self.sb_raw, SB_VERSIONNUM_OFF) | bit;
        self.sb_raw[SB_VERSIONNUM_OFF..SB_VERSIONNUM_OFF + 2].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the data size and AG count (and `imax_pct` when given) of the superblock; at the
    /// operation's end the primary and every secondary superblock get the new geometry, as
    /// the kernel's growfs rewrites them all (`xfs_update_secondary_sbs`).
    pub(crate) fn set_geometry(&mut self, dblocks: u64, agcount: u32, imax_pct: Option<u8>) {
        self.sb.dblocks = dblocks;
        self.sb.agcount = agcount;
        self.sb_raw[SB_DBLOCKS_OFF..SB_DBLOCKS_OFF + 8].copy_from_slice(&dblocks.to_be_bytes());
        self.sb_raw[SB_AGCOUNT_OFF..SB_AGCOUNT_OFF + 4].copy_from_slice(&agcount.to_be_bytes());
        if let Some(p) = imax_pct {
            self.sb.imax_pct = p;
            self.sb_raw[SB_IMAX_PCT_OFF] = p;
        }
        self.geometry_changed = true;
    }

    /// Ends an operation: on success writes the changed AGFs, the superblock and every pending
    /// block; on error (or when writing fails) restores the state and writes nothing more.
    pub(crate) fn end<T>(&mut self, r: Result<T>) -> Result<T> {
        let saved = self.saved.take();
        let r = r.and_then(|v| self.write_headers().map(|()| v));
        let r = r.and_then(|v| self.bufs.flush().map(|()| v));
        if r.is_err() {
            self.bufs.discard();
            if let Some(s) = saved {
                self.restore(s);
            }
        }
        self.geometry_changed = false;
        r
    }

    /// Ends an operation that must change nothing: drops pending blocks, restores the state.
    pub(crate) fn abort(&mut self) {
        self.bufs.discard();
        if let Some(s) = self.saved.take() {
            self.restore(s);
        }
        self.geometry_changed = false;
    }

    fn write_headers(&mut self) -> Result<()> {
        let agfs = dirty(&mut self.agfs, AgfState::take_dirty);
        let agis = dirty(&mut self.agis, AgiState::take_dirty);
        let agf_stamp = Stamp { lsn_off: ag::AGF_LSN_OFF, crc_off: ag::AGF_CRC_OFF };
        let agi_stamp = Stamp { lsn_off: ag::AGI_LSN_OFF, crc_off: ag::AGI_CRC_OFF };
        // the AGF in each AG's sector 1, the AGI in sector 2
        for (sector, stamp, puts) in [(1, agf_stamp, agfs), (2, agi_stamp, agis)] {
            for (agno, raw) in puts {
                let off = self.ag_sector_byte(agno, sector);
                self.bufs.put(off, raw, Some(stamp));
            }
        }
        let counters = [(SB_ICOUNT_OFF, self.icount), (SB_IFREE_OFF, self.ifree), (SB_FDBLOCKS_OFF, self.fdblocks)];
        let on_disk = self.bufs.read(0, SB_VERSIONNUM_OFF + 2)?;
        let features = on_disk[SB_VERSIONNUM_OFF..] != self.sb_raw[SB_VERSIONNUM_OFF..SB_VERSIONNUM_OFF + 2];
        if counters.iter().any(|&(at, v)| v != crate::bytes::be64(&self.sb_raw, at)) || self.geometry_changed || features {
            for (at, v) in counters {
                self.sb_raw[at..at + 8].copy_from_slice(&v.to_be_bytes());
            }
            self.bufs.put(0, self.sb_raw.clone(), Some(Stamp { lsn_off: SB_LSN_OFF, crc_off: sb::CRC_OFF }));
            self.sb_raw = self.bufs.read(0, self.sb_raw.len())?;
        }
        if self.geometry_changed {
            for agno in 1..self.sb.agcount {
                let off = self.ag_sector_byte(agno, 0);
                self.bufs.put(off, self.sb_raw.clone(), None);
            }
        }
        Ok(())
    }
}

/// The log's state and newest LSN.
fn log_lsn(dev: &Dev, sb: &Superblock) -> Option<(LogState, u64)> {
    let l = log::OnDevice::new(dev, sb)?;
    log::state_and_lsn(&l, l.bbs())
}
