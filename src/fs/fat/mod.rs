//! FAT12/16/32 (vfat), read-only, through the `fatfs` crate.
//!
//! Division of labour:
//! - `fatfs` opens the volume (its own boot-sector validation) and iterates directories: long
//!   names with their checksums, the lower-case flags of short names.
//! - We check the boot sector first (`geom`: values that overflow `fatfs`' arithmetic are
//!   rejected), read the FAT ourselves to validate every directory's cluster chain before
//!   `fatfs` follows it (`fatfs` has no loop detection: a directory whose chain loops would be
//!   read forever), count free clusters for `statvfs`, and scan the raw directory slots
//!   (`dirent`) for what `fatfs` keeps private: each entry's position and first cluster.
//! - File data is read by us from the file's validated cluster chain (kept as runs of
//!   contiguous clusters). `fatfs` can only open a file by iterating its parent directory and
//!   seeks by walking the chain from the start, which made each `read` cost O(directory size +
//!   offset): 600 small files of one directory took 4 s.
//!
//! Inode numbers: the root is 1 (Linux's `MSDOS_ROOT_INO`); every other inode is the byte
//! offset of its short directory entry on the device divided by 32 — Linux's `i_pos`, stable
//! across opens. Stat values follow Linux's vfat driver mounted as libguestfs mounts it (no
//! options, umask 022, kernel time zone UTC): mode 0755 (0555 for read-only files), uid/gid 0,
//! times are the DOS local time read as UTC, `ctime` = `mtime` (Linux ≥ 5.19), `atime` = the
//! access date at midnight, the root's times are 0, directories' `nlink` counts their
//! subdirectory entries (`.` and `..` included; the root gets 2 more), `blksize` is the
//! cluster size. `statvfs` is Linux's `fat_statfs`: clusters as blocks, free clusters counted
//! in the FAT (the FSInfo hint is ignored, as Linux does without `usefree`), no inode counts,
//! `namemax` 1530, `ST_RDONLY`, and `fsid` 0 (Linux derives it from the block device number).
//!
//! An inode is known once the directory holding it has been listed (`read_dir` or `lookup`);
//! other numbers are `ENOENT`. Names are UTF-8: long names from UTF-16, short names from
//! code page 437 (Linux's default `codepage`; `fatfs` decodes them with our table). Stricter than Linux: `fatfs` wants the 0x55AA boot signature
//! and, on FAT32, a valid FSInfo sector; a file whose cluster chain is shorter than its size
//! cannot be read at all (Linux fails only past the end of the chain).

mod cp437;
mod dirent;
mod geom;
mod io;

use self::dirent::RawEntry;
use self::geom::{Geometry, MAX_DIR_BYTES};
use self::io::DevIo;
use crate::disk::{read_vec, Dev};
use crate::fs::{DirEntry, Errno, Error, FileType, Filesystem, Ino, Result, Stat, StatVfs};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The root directory's inode number.
const ROOT: Ino = 1;
/// `ST_RDONLY`.
const ST_RDONLY: u64 = 1;
/// Linux's `f_namelen` for vfat: `FAT_LFN_LEN` (255) × `NLS_MAX_CHARSET_SIZE` (6).
const NAMEMAX: u64 = 255 * 6;

type FatVolume = fatfs::FileSystem<DevIo>;

/// A FAT12/16/32 filesystem opened read-only (see the module documentation for how inode
/// numbers and `stat` values are made). Nothing is ever written to the device.
pub struct FatFs {
    dev: Dev,
    geom: Geometry,
    /// Number of root directory entries (FAT12/16): the root's size is this × 32.
    root_entries: u64,
    inner: Mutex<Inner>,
}

/// What we learnt while listing directories.
#[derive(Default)]
struct Inner {
    /// Every inode seen in a listing, kept as first seen (cross-linked directories cannot
    /// make an inode its own ancestor).
    nodes: HashMap<Ino, Node>,
    /// Directory listings, by directory inode.
    dirs: HashMap<Ino, Arc<Listing>>,
    /// The data runs of files read so far.
    runs: HashMap<Ino, Arc<Vec<Run>>>,
}

/// Where an inode's entry is: the `ordinal`-th entry `fatfs` yields in directory `parent`.
#[derive(Clone)]
struct Node {
    parent: Ino,
    ordinal: usize,
    raw: RawEntry,
}

/// `count` contiguous clusters from `cluster`, holding the file's clusters from `index` on.
#[derive(Debug, Clone, Copy)]
struct Run {
    index: u64,
    cluster: u32,
    count: u64,
}

/// A listed directory.
struct Listing {
    entries: Vec<Item>,
    nlink: u64,
    size: u64,
}

/// One listed entry: the [`DirEntry`] and the decoded 8.3 name (lookups match either).
struct Item {
    entry: DirEntry,
    short: Vec<u8>,
}

impl FatFs {
    /// Opens the FAT filesystem on `dev`. Damaged boot sectors are [`Error::Corrupt`].
    pub fn open(dev: Dev) -> Result<FatFs> {
        let bs = read_vec(dev.as_ref(), 0, 512.min(dev.len() as usize))?;
        let geom = Geometry::parse(&bs).map_err(|msg| corrupt(&dev, msg))?;
        let root_entries = u64::from(u16::from_le_bytes([bs[0x11], bs[0x12]]));
        let fs = FatFs { dev, geom, root_entries, inner: Mutex::new(Inner::default()) };
        fs.mount()?;
        Ok(fs)
    }

    /// A `fatfs` view of the volume. One is made per operation (two sector reads): `fatfs`
    /// volumes are not `Send`, so none is kept in `self`. Read-only: dropping it writes nothing
    /// (its unmount only writes what it changed) and [`DevIo`] refuses writes anyway.
    fn mount(&self) -> Result<FatVolume> {
        let options = fatfs::FsOptions::new().oem_cp_converter(&cp437::CP437);
        fatfs::FileSystem::new(DevIo::new(self.dev.clone()), options)
            .map_err(|e| self.io("boot sector", e))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave `Inner` half-updated in a harmful way: maps only grow.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn corrupt(&self, msg: impl Into<String>) -> Error {
        corrupt(&self.dev, msg)
    }

    /// The listing of directory `dir`, reading it on first use.
    fn listing(&self, inner: &mut Inner, dir: Ino) -> Result<Arc<Listing>> {
        if let Some(l) = inner.dirs.get(&dir) {
            return Ok(l.clone());
        }
        let (raw, size) = self.read_raw_dir(inner, dir)?;
        let vol = self.mount()?;
        let nodes = &mut inner.nodes;
        let fat_dir = open_dir(&vol, nodes, dir).map_err(|e| self.io(&format!("directory {dir}"), e))?;
        let mut entries = Vec::new();
        let mut subdirs = if dir == ROOT { 2 } else { 0 };
        let mut seen = 0;
        for (ordinal, got) in fat_dir.iter().enumerate() {
            let got = got.map_err(|e| self.io(&format!("directory {dir}"), e))?;
            let Some(r) = raw.get(ordinal) else { break };
            if got.short_file_name_as_bytes() != r.short_name().as_slice() {
                return Err(self.corrupt(format!("directory {dir}: entry {ordinal} changed while read")));
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
            nodes.entry(ino).or_insert_with(|| Node { parent: dir, ordinal, raw: r.clone() });
        }
        if seen != raw.len() {
            return Err(self.corrupt(format!("directory {dir}: {} entries, fatfs read {seen}", raw.len())));
        }
        let listing = Arc::new(Listing { entries, nlink: subdirs, size });
        inner.dirs.insert(dir, listing.clone());
        Ok(listing)
    }

    /// The short entries of directory `dir` read from the device and its size in bytes, after
    /// checking its cluster chain.
    fn read_raw_dir(&self, inner: &Inner, dir: Ino) -> Result<(Vec<RawEntry>, u64)> {
        let g = &self.geom;
        let fat32 = g.fat_bits == 32;
        let first = if dir == ROOT {
            if !fat32 {
                let (off, len) = g.root_region;
                let data = read_vec(self.dev.as_ref(), off, len as usize)?;
                return Ok((dirent::scan(&data, &[off], len.max(1), false), self.root_entries * dirent::SLOT));
            }
            g.root_cluster
        } else {
            let node = inner.nodes.get(&dir).ok_or(Error::Os(Errno::NoEntry))?;
            if !node.raw.is_dir() {
                return Err(Error::Os(Errno::NotDir));
            }
            node.raw.first_cluster
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

    /// The node of a non-root inode.
    fn node(&self, inner: &Inner, ino: Ino) -> Result<Node> {
        inner.nodes.get(&ino).cloned().ok_or(Error::Os(Errno::NoEntry))
    }

    /// The data runs of file `ino`, after checking once that its chain covers its size.
    fn runs(&self, inner: &mut Inner, ino: Ino, raw: &RawEntry) -> Result<Arc<Vec<Run>>> {
        if let Some(r) = inner.runs.get(&ino) {
            return Ok(r.clone());
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
        let runs = Arc::new(runs);
        inner.runs.insert(ino, runs.clone());
        Ok(runs)
    }

    fn io(&self, what: &str, e: std::io::Error) -> Error {
        io_error(&self.dev, what, e)
    }

    fn blocks(&self, size: u64) -> u64 {
        size.div_ceil(self.geom.cluster_size) * self.geom.cluster_size / 512
    }
}

fn corrupt(dev: &Dev, msg: impl Into<String>) -> Error {
    Error::Corrupt { dev: dev.name(), fs: "vfat".into(), msg: msg.into() }
}

/// A `fatfs` error: our device's error when it is one, else damage found by `fatfs`.
fn io_error(dev: &Dev, what: &str, e: std::io::Error) -> Error {
    let msg = e.to_string();
    match e.into_inner().map(|inner| inner.downcast::<crate::disk::Error>()) {
        Some(Ok(disk)) => Error::Disk(*disk),
        _ => corrupt(dev, format!("{what}: {msg}")),
    }
}

/// The `fatfs` directory of inode `dir`, found from the root by the ordinals of its ancestors
/// (each already listed, so its chain is checked).
fn open_dir<'a>(vol: &'a FatVolume, nodes: &HashMap<Ino, Node>, dir: Ino) -> std::io::Result<fatfs::Dir<'a, DevIo>> {
    let mut path = Vec::new();
    let mut at = dir;
    while at != ROOT {
        let node = nodes.get(&at).ok_or_else(|| std::io::Error::other("directory not listed"))?;
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

/// Linux vfat's name comparison (`name_check=n`): ASCII case-insensitive.
fn same_name(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl Filesystem for FatFs {
    fn fs_type(&self) -> &str {
        "vfat"
    }

    fn root(&self) -> Ino {
        ROOT
    }

    fn lookup(&self, dir: Ino, name: &[u8]) -> Result<Option<Ino>> {
        let mut inner = self.lock();
        let listing = self.listing(&mut inner, dir)?;
        // vfat ignores trailing dots in looked-up names (`vfat_striptail_len`).
        let end = name.len() - name.iter().rev().take_while(|&&c| c == b'.').count();
        let name = if end == 0 { name } else { &name[..end] };
        Ok(listing
            .entries
            .iter()
            .find(|i| same_name(&i.entry.name, name) || same_name(&i.short, name))
            .map(|i| i.entry.ino))
    }

    fn stat(&self, ino: Ino) -> Result<Stat> {
        let mut inner = self.lock();
        let base = Stat { ino, uid: 0, gid: 0, blksize: self.geom.cluster_size, ..Stat::default() };
        if ino == ROOT {
            let l = self.listing(&mut inner, ROOT)?;
            return Ok(Stat { mode: 0o040755, nlink: l.nlink, size: l.size, blocks: self.blocks(l.size), ..base });
        }
        let node = self.node(&inner, ino)?;
        let r = &node.raw;
        let (nlink, size) = if r.is_dir() {
            let l = self.listing(&mut inner, ino)?;
            (l.nlink, l.size)
        } else {
            (1, u64::from(r.size))
        };
        let mtime = r.mtime();
        Ok(Stat { mode: r.mode(), nlink, size, blocks: self.blocks(size), atime: r.atime(), mtime, ctime: mtime, ..base })
    }

    fn read_dir(&self, dir: Ino) -> Result<Vec<DirEntry>> {
        let mut inner = self.lock();
        Ok(self.listing(&mut inner, dir)?.entries.iter().map(|i| i.entry.clone()).collect())
    }

    fn read(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let mut inner = self.lock();
        if ino == ROOT {
            return Err(Error::Os(Errno::IsDir));
        }
        let node = self.node(&inner, ino)?;
        if node.raw.is_dir() {
            return Err(Error::Os(Errno::IsDir));
        }
        let size = u64::from(node.raw.size);
        if offset >= size || buf.is_empty() {
            return Ok(0);
        }
        let runs = self.runs(&mut inner, ino, &node.raw)?;
        drop(inner);
        let want = (size - offset).min(buf.len() as u64) as usize;
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

    fn readlink(&self, ino: Ino) -> Result<Vec<u8>> {
        self.stat(ino)?;
        Err(Error::Os(Errno::Invalid))
    }

    fn xattrs(&self, ino: Ino) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.stat(ino)?;
        Ok(Vec::new())
    }

    fn statvfs(&self) -> Result<StatVfs> {
        let _serialise = self.lock();
        let free = self.geom.free_clusters(self.dev.as_ref())?;
        let cs = self.geom.cluster_size;
        Ok(StatVfs {
            bsize: cs,
            frsize: cs,
            blocks: self.geom.clusters(),
            bfree: free,
            bavail: free,
            files: 0,
            ffree: 0,
            favail: 0,
            fsid: 0,
            flag: ST_RDONLY,
            namemax: NAMEMAX,
        })
    }
}
