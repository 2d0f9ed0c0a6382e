//! FAT12/16/32 (vfat), read and written through the `fatfs` crate.
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
//! `namemax` 1530, `ST_RDONLY` when opened read-only, and `fsid` 0 (Linux derives it from the
//! block device number).
//!
//! An inode is known once the directory holding it has been listed (`read_dir` or `lookup`);
//! other numbers are `ENOENT`. Names are UTF-8: long names from UTF-16, short names from code
//! page 437 (Linux's default `codepage`; `fatfs` decodes them with our table).
//!
//! Stricter than Linux: `fatfs` wants the 0x55AA boot signature and, on FAT32, a valid FSInfo
//! sector; a file whose cluster chain is shorter than its size cannot be read at all (Linux
//! fails only past the end of the chain); a directory longer than 2 MiB (Linux's
//! `FAT_MAX_DIR_SIZE`) is refused.
//!
//! Writing ([`FatFs::open_rw`], module `write`): every change is one transaction on a fresh
//! `fatfs` mount (its allocation, long names, 8.3 name generation, FSInfo and dirty flag),
//! unmounted at its end so the volume is clean between operations; a failure undoes every
//! byte the transaction wrote. Entry fields `fatfs` has no API for (times, the read-only
//! attribute, the `..` cluster of a moved directory) are written by us in the same
//! transaction. Afterwards the directories that changed are listed again, so reads see the
//! writes exactly. Inode numbers stay stable except that a renamed entry gets a new one (its
//! short entry moved).

mod cache;
mod check;
mod cp437;
mod data;
mod dirent;
mod dirs;
mod geom;
mod io;
mod names;
mod time;
mod write;

use self::cache::Cache;
use self::dirs::{Listing, Node};
use self::geom::Geometry;
use self::io::DevIo;
use crate::disk::{read_vec, Dev};
use crate::fs::{DirEntry, Errno, Error, Filesystem, Ino, Result, Stat, StatVfs, Timespec};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// The root directory's inode number.
const ROOT: Ino = 1;
/// `ST_RDONLY`, set when opened read-only.
const ST_RDONLY: u64 = 1;
/// Linux's `f_namelen` for vfat: `FAT_LFN_LEN` (255) × `NLS_MAX_CHARSET_SIZE` (6).
const NAMEMAX: u64 = 255 * 6;

type FatVolume = fatfs::FileSystem<DevIo>;

/// The fewest clusters `fatfs` takes for FAT32 (`FatType::FAT32_MIN_CLUSTERS`).
const FAT32_MIN_CLUSTERS: u64 = 65_525;

/// What we learnt while listing directories.
#[derive(Default)]
struct Inner {
    /// Every inode seen in a listing, kept as first seen (cross-linked directories cannot
    /// make an inode its own ancestor) and refreshed when its own parent is listed again
    /// after a change. At most one per 32 bytes of the device.
    nodes: HashMap<Ino, Node>,
    /// Directory listings, by first cluster (`None` for the root): cross-linked directories
    /// share one. Weighed in entries.
    dirs: Cache<Option<u32>, Listing>,
    /// The data runs of files read so far. Weighed in runs.
    runs: Cache<Ino, Vec<data::Run>>,
}

/// A FAT12/16/32 filesystem (see the module documentation for how inode numbers and `stat`
/// values are made). Opened with [`FatFs::open`], nothing is ever written to the device.
pub struct FatFs {
    dev: Dev,
    geom: Geometry,
    /// Number of root directory entries (FAT12/16): the root's size is this × 32.
    root_entries: u64,
    /// Opened with [`FatFs::open_rw`].
    writable: bool,
    inner: Mutex<Inner>,
}

/// Why the device, which no probe recognised, holds no FAT volume Linux would mount: when its
/// boot sector names FAT (`FAT16   `, `FAT32   `, `MSWIN`…) but a boot-sector field is invalid,
/// the error names the field. `None` when the sector does not look like FAT at all.
pub fn diagnose(dev: &Dev) -> Result<Option<Error>> {
    if dev.len() < 512 {
        return Ok(None);
    }
    let bs = read_vec(dev.as_ref(), 0, 512)?;
    if !crate::fs::probe::fat::has_fat_string(&bs) {
        return Ok(None);
    }
    Ok(match Geometry::parse(&bs) {
        Err(msg) => Some(corrupt(dev, msg)),
        Ok(g) => past_the_device(&g, dev),
    })
}

/// The error for a volume whose boot sector makes it larger than its device.
fn past_the_device(g: &Geometry, dev: &Dev) -> Option<Error> {
    (g.end() > dev.len()).then(|| {
        corrupt(
            dev,
            format!("boot sector: total sectors (BPB_TotSec16/BPB_TotSec32) make the volume {} bytes, larger than the device ({} bytes)", g.end(), dev.len()),
        )
    })
}

impl FatFs {
    /// Opens the FAT filesystem on `dev` read-only. Damaged boot sectors are
    /// [`Error::Corrupt`].
    pub fn open(dev: Dev) -> Result<FatFs> {
        let bs = read_vec(dev.as_ref(), 0, 512.min(dev.len() as usize))?;
        let geom = Geometry::parse(&bs).map_err(|msg| corrupt(&dev, msg))?;
        let root_entries = u64::from(u16::from_le_bytes([bs[0x11], bs[0x12]]));
        let fs = FatFs { dev, geom, root_entries, writable: false, inner: Mutex::new(Inner::default()) };
        fs.mount()?;
        Ok(fs)
    }

    /// Opens the FAT filesystem on the writable device `dev` for reading and writing (in
    /// production a copy-on-write overlay). Refused, naming the reason, when the device is
    /// read-only or when `fatfs` would read the volume's geometry differently from Linux (a
    /// FAT too small for the clusters, a cluster count that contradicts the FAT type, a FAT32
    /// volume of fewer than 65,525 clusters).
    pub fn open_rw(dev: Dev) -> Result<FatFs> {
        if !dev.is_writable() {
            return Err(Error::Disk(crate::disk::Error::ReadOnly { dev: dev.name() }));
        }
        let mut fs = FatFs::open(dev)?;
        if let Some(e) = past_the_device(&fs.geom, &fs.dev) {
            return Err(e);
        }
        let fatfs_bits = match fs.mount()?.fat_type() {
            fatfs::FatType::Fat12 => 12,
            fatfs::FatType::Fat16 => 16,
            fatfs::FatType::Fat32 => 32,
        };
        let unsupported = |feature: String| Error::Unsupported { dev: fs.dev.name(), fs: "vfat".into(), feature };
        if fs.geom.fat_bits == 32 && fs.geom.bpb_clusters < FAT32_MIN_CLUSTERS {
            return Err(unsupported(format!(
                "writing a FAT32 volume of {} clusters (under 65,525, the FAT library would allocate as if it were larger)",
                fs.geom.bpb_clusters
            )));
        }
        if fs.geom.bpb_clusters != fs.geom.clusters() {
            return Err(unsupported(format!(
                "writing a volume whose FAT holds {} of its {} clusters",
                fs.geom.clusters(),
                fs.geom.bpb_clusters
            )));
        }
        if fatfs_bits != fs.geom.fat_bits {
            return Err(unsupported(format!(
                "writing a FAT{} volume whose {} clusters make fatfs read it as FAT{fatfs_bits}",
                fs.geom.fat_bits,
                fs.geom.clusters()
            )));
        }
        fs.check_before_writing()?;
        fs.writable = true;
        Ok(fs)
    }

    /// A `fatfs` view of the volume. One is made per operation (two sector reads): `fatfs`
    /// volumes are not `Send`, so none is kept in `self`. Read-only: dropping it writes nothing
    /// (its unmount only writes what it changed) and [`DevIo`] refuses writes anyway.
    ///
    /// A FAT32 volume of fewer than 65,525 clusters (Linux and mkfs.fat decide FAT32 by the
    /// 16-bit FAT size being 0; `fatfs` by the cluster count, and refuses the volume) is shown
    /// to `fatfs` with a boot sector whose total sector count gives it 65,525: reading only
    /// follows chains, which the volume's own FAT holds. Writing such a volume is refused
    /// ([`FatFs::open_rw`]): `fatfs` would allocate past it.
    fn mount(&self) -> Result<FatVolume> {
        let options = fatfs::FsOptions::new().oem_cp_converter(&cp437::CP437);
        let boot = (self.geom.fat_bits == 32 && self.geom.bpb_clusters < FAT32_MIN_CLUSTERS).then(|| self.fat32_boot_sector()).transpose()?;
        fatfs::FileSystem::new(DevIo::new(self.dev.clone(), boot), options).map_err(|e| self.io("boot sector", e))
    }

    /// The boot sector with `BPB_TotSec32` raised so that `fatfs` counts 65,525 clusters.
    fn fat32_boot_sector(&self) -> Result<std::rc::Rc<[u8; 512]>> {
        let mut bs = [0u8; 512];
        self.dev.read_at(&mut bs, 0)?;
        // FAT32: reserved sectors and the FATs (BPB_FATSz32), no fixed root directory.
        let reserved = u64::from(u16::from_le_bytes([bs[0x0E], bs[0x0F]]));
        let data_start = reserved + u64::from(bs[0x10]) * u64::from(u32::from_le_bytes([bs[0x24], bs[0x25], bs[0x26], bs[0x27]]));
        let spc = u64::from(bs[0x0D]);
        let total = u32::try_from(data_start + FAT32_MIN_CLUSTERS * spc).map_err(|_| self.corrupt("boot sector: FAT32 volume too large"))?;
        bs[0x13..0x15].fill(0);
        bs[0x20..0x24].copy_from_slice(&total.to_le_bytes());
        Ok(std::rc::Rc::new(bs))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave `Inner` half-updated in a harmful way: maps only grow.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn corrupt(&self, msg: impl Into<String>) -> Error {
        corrupt(&self.dev, msg)
    }

    fn io(&self, what: &str, e: std::io::Error) -> Error {
        io_error(&self.dev, what, e)
    }

    fn blocks(&self, size: u64) -> u64 {
        size.div_ceil(self.geom.cluster_size) * self.geom.cluster_size / 512
    }
}

impl FatFs {
    /// `lookup` with the lock held.
    fn lookup_in(&self, inner: &mut Inner, dir: Ino, name: &[u8]) -> Result<Option<Ino>> {
        let listing = self.listing(inner, dir)?;
        // vfat ignores trailing dots in looked-up names (`vfat_striptail_len`).
        let end = name.len() - name.iter().rev().take_while(|&&c| c == b'.').count();
        let name = if end == 0 { name } else { &name[..end] };
        Ok(listing
            .entries
            .iter()
            .find(|i| same_name(&i.entry.name, name) || same_name(&i.short, name))
            .map(|i| i.entry.ino))
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
        self.lookup_in(&mut inner, dir, name)
    }

    fn stat(&self, ino: Ino) -> Result<Stat> {
        let mut inner = self.lock();
        let base = Stat { ino, uid: 0, gid: 0, blksize: self.geom.cluster_size, ..Stat::default() };
        if ino == ROOT {
            let l = self.listing(&mut inner, ROOT)?;
            return Ok(Stat {
                mode: 0o040755,
                nlink: l.nlink,
                size: l.size,
                blocks: self.blocks(l.size),
                ..base
            });
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
        Ok(Stat {
            mode: r.mode(),
            nlink,
            size,
            blocks: self.blocks(size),
            atime: r.atime(),
            mtime,
            ctime: mtime,
            ..base
        })
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
        self.read_runs(ino, &runs, offset, (size - offset).min(buf.len() as u64) as usize, buf)
    }

    fn readlink(&self, ino: Ino) -> Result<Vec<u8>> {
        self.stat(ino)?;
        Err(Error::Os(Errno::Invalid))
    }

    fn xattrs(&self, ino: Ino) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.stat(ino)?;
        Ok(Vec::new())
    }

    fn is_writable(&self) -> bool {
        self.writable
    }

    fn create(&self, dir: Ino, name: &[u8], _mode: u32) -> Result<Ino> {
        // Like Linux, the mode is not stored: new files are read-write (0755 as mounted).
        self.make(dir, name, false)
    }

    fn mkdir(&self, dir: Ino, name: &[u8], _mode: u32) -> Result<Ino> {
        self.make(dir, name, true)
    }

    fn mknod(&self, dir: Ino, name: &[u8], _mode: u32, _rdev: u64) -> Result<Ino> {
        self.refuse_new(dir, name)
    }

    fn symlink(&self, dir: Ino, name: &[u8], _target: &[u8]) -> Result<Ino> {
        self.refuse_new(dir, name)
    }

    fn link(&self, ino: Ino, dir: Ino, name: &[u8]) -> Result<()> {
        self.stat(ino)?;
        self.refuse_new(dir, name).map(drop)
    }

    fn unlink(&self, dir: Ino, name: &[u8]) -> Result<()> {
        self.remove(dir, name, false)
    }

    fn rmdir(&self, dir: Ino, name: &[u8]) -> Result<()> {
        self.remove(dir, name, true)
    }

    fn rename(&self, dir: Ino, name: &[u8], new_dir: Ino, new_name: &[u8]) -> Result<()> {
        self.rename_entry(dir, name, new_dir, new_name)
    }

    fn write(&self, ino: Ino, offset: u64, data: &[u8]) -> Result<()> {
        self.write_file(ino, offset, data)
    }

    fn truncate(&self, ino: Ino, size: u64) -> Result<()> {
        self.truncate_file(ino, size)
    }

    fn chmod(&self, ino: Ino, mode: u32) -> Result<()> {
        self.set_mode(ino, mode)
    }

    fn chown(&self, ino: Ino, uid: Option<u32>, gid: Option<u32>) -> Result<()> {
        self.set_owner(ino, uid, gid)
    }

    fn utimens(&self, ino: Ino, atime: Option<Timespec>, mtime: Option<Timespec>) -> Result<()> {
        self.set_times(ino, atime, mtime)
    }

    fn setxattr(&self, ino: Ino, _name: &[u8], _value: &[u8]) -> Result<()> {
        self.refuse_xattr(ino)
    }

    fn removexattr(&self, ino: Ino, _name: &[u8]) -> Result<()> {
        self.refuse_xattr(ino)
    }

    fn sync(&self) -> Result<()> {
        self.sync_dev()
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
            flag: if self.writable { 0 } else { ST_RDONLY },
            namemax: NAMEMAX,
        })
    }
}
