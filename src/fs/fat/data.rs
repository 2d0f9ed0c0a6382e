//! File data: read by us from the file's cluster chain, checked once and kept as runs of
//! contiguous clusters.

use super::dirent::RawEntry;
use super::{FatFs, Inner};
use crate::fs::{Ino, Result};
use std::sync::Arc;

/// `count` contiguous clusters from `cluster`, holding the file's clusters from `index` on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Run {
    index: u64,
    cluster: u32,
    count: u64,
}

impl FatFs {
    /// The data runs of file `ino`, after checking once that its chain covers its size.
    pub(super) fn runs(&self, inner: &mut Inner, ino: Ino, raw: &RawEntry) -> Result<Arc<Vec<Run>>> {
        if let Some(r) = inner.runs.get(&ino) {
            return Ok(r);
        }
        let need = u64::from(raw.size).div_ceil(self.geom.cluster_size);
        if need > self.geom.clusters() {
            return Err(self.corrupt(format!("file {ino}: size {} larger than the volume", raw.size)));
        }
        let mut runs: Vec<Run> = Vec::new();
        let mut index = 0;
        let mut add = |c: u32| {
            match runs.last_mut() {
                Some(r) if u64::from(r.cluster) + r.count == u64::from(c) => r.count += 1,
                _ => runs.push(Run { index, cluster: c, count: 1 }),
            }
            index += 1;
        };
        if need > 0 {
            let got = self
                .geom
                .walk(self.dev.as_ref(), raw.first_cluster, need, true, &mut add)?
                .map_err(|m| self.corrupt(format!("file {ino}: {m}")))?;
            if got < need {
                return Err(self.corrupt(format!(
                    "file {ino}: cluster chain of {got} clusters is shorter than its size {}",
                    raw.size
                )));
            }
        }
        let weight = runs.len() + 1;
        Ok(inner.runs.insert(ino, runs, weight))
    }

    /// Reads `want` bytes at `offset` of file `ino` (inside its size) into `buf`.
    pub(super) fn read_runs(
        &self,
        ino: Ino,
        runs: &[Run],
        offset: u64,
        want: usize,
        buf: &mut [u8],
    ) -> Result<usize> {
        let cs = self.geom.cluster_size;
        let mut done = 0;
        while done < want {
            let at = offset + done as u64;
            let k = at / cs;
            // The run holding cluster k: the last one starting at or before it.
            let i = runs.partition_point(|r| r.index <= k);
            let Some(r) = i.checked_sub(1).and_then(|i| runs.get(i)) else {
                return Err(self.corrupt(format!("file {ino}: no cluster for offset {at}")));
            };
            let run_end = (r.index + r.count) * cs;
            let n = (want - done).min((run_end - at) as usize);
            let dev_off = self.geom.cluster_offset(r.cluster) + (at - r.index * cs);
            self.dev.read_at(&mut buf[done..done + n], dev_off)?;
            done += n;
        }
        Ok(done)
    }
}
