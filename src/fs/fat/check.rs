//! The check made once before a FAT volume is written: the directory tree and the FAT are
//! walked together, every cluster claimed by the one chain that holds it, and a volume that
//! fsck.vfat would have to repair is refused for writing: cross-linked chains, chains that run
//! into free, bad or out-of-volume clusters, a directory without its `.` and `..`, a directory
//! reachable twice. Writing such a volume makes the damage worse — freeing a cluster another
//! file still uses, allocating a cluster a directory entry still points to — so the refusal
//! says to run fsck.vfat on a copy first. Reading such a volume keeps working.
//!
//! The work is bounded by the volume: each cluster is claimed once (a chain that reaches a
//! claimed cluster, its own or another's, stops there), so the walk reads every directory and
//! FAT entry at most once.

use super::dirent::{self, RawEntry};
use super::geom::Next;
use super::FatFs;
use crate::disk::read_vec;
use crate::fs::{Error, Result};

/// The clusters claimed so far, one bit each.
struct Claims {
    bits: Vec<u64>,
}

impl Claims {
    /// Claims cluster `c`; false when it was claimed already.
    fn claim(&mut self, c: u32) -> bool {
        let (word, bit) = ((c / 64) as usize, 1u64 << (c % 64));
        match self.bits.get_mut(word) {
            Some(w) if *w & bit == 0 => {
                *w |= bit;
                true
            }
            _ => false,
        }
    }
}

impl FatFs {
    /// Refuses the volume for writing when its tree and FAT disagree (see the module docs).
    pub(super) fn check_before_writing(&self) -> Result<()> {
        let g = &self.geom;
        let mut claims = Claims { bits: vec![0; (g.max_cluster as usize).div_ceil(64)] };
        // (first cluster, path); the FAT12/16 root lives outside the clusters.
        let mut dirs: Vec<(Option<u32>, String)> = vec![(if g.fat_bits == 32 { Some(g.root_cluster) } else { None }, "/".into())];
        while let Some((first, path)) = dirs.pop() {
            let entries = match first {
                None => {
                    let (off, len) = g.root_region;
                    let data = read_vec(self.dev.as_ref(), off, len as usize)?;
                    dirent::scan(&data, &[off], len.max(1), false)
                }
                Some(c) => {
                    let chain = self.claim_chain(&mut claims, c, &path)?;
                    let cs = g.cluster_size;
                    let mut data = Vec::with_capacity(chain.len() * cs as usize);
                    let offsets: Vec<u64> = chain.iter().map(|&c| g.cluster_offset(c)).collect();
                    for &off in &offsets {
                        data.extend_from_slice(&read_vec(self.dev.as_ref(), off, cs as usize)?);
                    }
                    let entries = dirent::scan(&data, &offsets, cs, g.fat_bits == 32);
                    if path != "/" {
                        self.check_dots(&entries, c, &path)?;
                    }
                    entries
                }
            };
            for e in entries.iter().filter(|e| !e.is_dot()) {
                let child = format!("{}/{}", path.trim_end_matches('/'), String::from_utf8_lossy(&e.short_name()));
                if e.first_cluster == 0 {
                    if e.is_dir() {
                        return Err(self.refuse(format!("directory {child} has no cluster")));
                    }
                    continue;
                }
                if e.is_dir() {
                    dirs.push((Some(e.first_cluster), child));
                } else {
                    self.claim_chain(&mut claims, e.first_cluster, &child)?;
                }
            }
        }
        Ok(())
    }

    /// Walks and claims the chain of `path` from `first`; its clusters in order.
    fn claim_chain(&self, claims: &mut Claims, first: u32, path: &str) -> Result<Vec<u32>> {
        let g = &self.geom;
        if !g.valid(first) {
            return Err(self.refuse(format!("{path}: first cluster {first} outside the volume")));
        }
        let mut chain = vec![first];
        let mut c = first;
        loop {
            if !claims.claim(c) {
                return Err(self.refuse(format!(
                    "{path}: cluster {c} is also in another chain, or twice in its own (cross-linked or looping)"
                )));
            }
            match g.next(self.dev.as_ref(), c)? {
                Ok(Next::End) => return Ok(chain),
                Ok(Next::Cluster(n)) => {
                    chain.push(n);
                    c = n;
                }
                Err(msg) => return Err(self.refuse(format!("{path}: {msg}"))),
            }
        }
    }

    /// A directory's first two entries are `.` (itself) and `..`.
    fn check_dots(&self, entries: &[RawEntry], first: u32, path: &str) -> Result<()> {
        let dot = entries.first().is_some_and(|e| &e.name == b".          " && e.is_dir() && e.first_cluster == first);
        let dotdot = entries.get(1).is_some_and(|e| &e.name == b"..         " && e.is_dir());
        if dot && dotdot {
            return Ok(());
        }
        Err(self.refuse(format!("directory {path} has lost its '.' or '..' entry")))
    }

    /// The refusal for a volume that needs repairs.
    fn refuse(&self, msg: String) -> Error {
        self.corrupt(format!("{msg}; refusing to write (run fsck.vfat on a copy first)"))
    }
}
