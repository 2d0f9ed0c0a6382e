//! Directory listings: the raw slots scanned by us (positions, first clusters) zipped with
//! `fatfs`' iteration of the same directory (names), and the inode table they fill.

use super::dirent::{self, RawEntry};
use super::geom::MAX_DIR_BYTES;
use super::io::DevIo;
use super::{FatFs, FatVolume, Inner, ROOT};
use crate::disk::read_vec;
use crate::fs::{DirEntry, Errno, Error, FileType, Ino, Result};
use std::collections::HashMap;
use std::sync::Arc;

/// Where an inode's entry is: the `ordinal`-th entry `fatfs` yields in directory `parent`.
#[derive(Clone)]
pub(super) struct Node {
    pub(super) parent: Ino,
    pub(super) ordinal: usize,
    pub(super) raw: RawEntry,
}

/// A listed directory.
pub(super) struct Listing {
    pub(super) entries: Vec<Item>,
    pub(super) nlink: u64,
    pub(super) size: u64,
}

/// One listed entry: the [`DirEntry`] and the decoded 8.3 name (lookups match either).
pub(super) struct Item {
    pub(super) entry: DirEntry,
    pub(super) short: Vec<u8>,
}

impl FatFs {
    /// The listing of directory `dir`, reading it on first use.
    pub(super) fn listing(&self, inner: &mut Inner, dir: Ino) -> Result<Arc<Listing>> {
        let key = match dir {
            ROOT => None,
            _ => {
                let node = inner.nodes.get(&dir).ok_or(Error::Os(Errno::NoEntry))?;
                if !node.raw.is_dir() {
                    return Err(Error::Os(Errno::NotDir));
                }
                Some(node.raw.first_cluster)
            }
        };
        if let Some(l) = inner.dirs.get(&key) {
            return Ok(l);
        }
        let (raw, size) = self.read_raw_dir(dir, key)?;
        let vol = self.mount()?;
        let nodes = &mut inner.nodes;
        let fat_dir = open_dir(&vol, nodes, dir).map_err(|e| self.io(&format!("directory {dir}"), e))?;
        let mut entries = Vec::new();
        let mut subdirs = if dir == ROOT { 2 } else { 0 };
        let mut seen = 0;
        for (ordinal, got) in fat_dir.iter().enumerate() {
            let got = got.map_err(|e| self.io(&format!("directory {dir}"), e))?;
            let Some(r) = raw.get(ordinal) else {
                return Err(
                    self.corrupt(format!("directory {dir}: fatfs read more than {} entries", raw.len()))
                );
            };
            if got.short_file_name_as_bytes() != r.short_name().as_slice() {
                return Err(self.corrupt(format!("directory {dir}: entry {ordinal} differs between fatfs and the raw slots")));
            }
            seen += 1;
            subdirs += u64::from(r.is_dir());
            if r.is_dot() {
                continue;
            }
            let ino = r.pos / dirent::SLOT;
            let file_type = if r.is_dir() { FileType::Directory } else { FileType::Regular };
            let entry = DirEntry { name: got.file_name().into_bytes(), ino, file_type };
            entries.push(Item { entry, short: got.short_file_name().into_bytes() });
            let node = Node { parent: dir, ordinal, raw: r.clone() };
            match nodes.get_mut(&ino) {
                None => {
                    nodes.insert(ino, node);
                }
                Some(old) if old.parent == dir => *old = node,
                Some(_) => {}
            }
        }
        if seen != raw.len() {
            return Err(self.corrupt(format!("directory {dir}: {} entries, fatfs read {seen}", raw.len())));
        }
        let weight = entries.len() + 1;
        Ok(inner.dirs.insert(key, Listing { entries, nlink: subdirs, size }, weight))
    }

    /// The short entries of directory `dir`, which starts at cluster `first` (`None`: the
    /// root, found from the boot sector), read from the device, and its size in bytes, after
    /// checking its cluster chain.
    pub(super) fn read_raw_dir(&self, dir: Ino, first: Option<u32>) -> Result<(Vec<RawEntry>, u64)> {
        let g = &self.geom;
        let fat32 = g.fat_bits == 32;
        let first = match first {
            Some(c) => c,
            None if fat32 => g.root_cluster,
            None => {
                let (off, len) = g.root_region;
                let data = read_vec(self.dev.as_ref(), off, len as usize)?;
                let raw = dirent::scan(&data, &[off], len.max(1), false);
                return Ok((raw, self.root_entries * dirent::SLOT));
            }
        };
        let limit = g.clusters().min(MAX_DIR_BYTES / g.cluster_size).max(1);
        let mut offsets = Vec::new();
        g.walk(self.dev.as_ref(), first, limit, false, &mut |c| offsets.push(g.cluster_offset(c)))?
            .map_err(|m| self.corrupt(format!("directory {dir}: {m}")))?;
        let cs = g.cluster_size;
        let mut data = Vec::with_capacity(offsets.len() * cs as usize);
        for &off in &offsets {
            data.extend_from_slice(&read_vec(self.dev.as_ref(), off, cs as usize)?);
        }
        Ok((dirent::scan(&data, &offsets, cs, fat32), data.len() as u64))
    }

    /// The listing key of directory `dir` (its first cluster; `None` for the root).
    pub(super) fn dir_key(&self, inner: &Inner, dir: Ino) -> Result<Option<u32>> {
        match dir {
            ROOT => Ok(None),
            _ => Ok(Some(self.node(inner, dir)?.raw.first_cluster)),
        }
    }

    /// The node of a non-root inode.
    pub(super) fn node(&self, inner: &Inner, ino: Ino) -> Result<Node> {
        inner.nodes.get(&ino).cloned().ok_or(Error::Os(Errno::NoEntry))
    }
}

/// The `fatfs` directory of inode `dir`, found from the root by the ordinals of its ancestors
/// (each already listed, so its chain is checked).
pub(super) fn open_dir<'a>(
    vol: &'a FatVolume,
    nodes: &HashMap<Ino, Node>,
    dir: Ino,
) -> std::io::Result<fatfs::Dir<'a, DevIo>> {
    let mut path = Vec::new();
    let mut at = dir;
    while at != ROOT {
        let node = nodes.get(&at).ok_or_else(|| std::io::Error::other("directory not listed"))?;
        if path.len() > nodes.len() {
            return Err(std::io::Error::other("directory is its own ancestor"));
        }
        path.push(node.ordinal);
        at = node.parent;
    }
    let mut d = vol.root_dir();
    for &ordinal in path.iter().rev() {
        let e = nth(&d, ordinal)?;
        if !e.is_dir() {
            return Err(std::io::Error::other("not a directory"));
        }
        d = e.to_dir();
    }
    Ok(d)
}

/// The `ordinal`-th entry `fatfs` yields in `d`.
fn nth<'a>(d: &fatfs::Dir<'a, DevIo>, ordinal: usize) -> std::io::Result<fatfs::DirEntry<'a, DevIo>> {
    d.iter().nth(ordinal).unwrap_or_else(|| Err(std::io::Error::other("directory entry vanished")))
}
