//! NTFS, read-only, through the `ntfs` crate (Colin Finck's; pinned).
//!
//! Division of labour:
//! - `ntfs` reads the boot sector, MFT records (update-sequence fixups), attributes resident
//!   and not, attribute lists with their extension records, data runs (sparse ones read as
//!   zeros) and directory indexes (`$INDEX_ROOT` + `$INDEX_ALLOCATION` B+trees, in order).
//! - Ours: LZNT1-compressed data (`lznt1`, `data`), links (`reparse`: Windows symlinks,
//!   junctions, WSL symlinks, Interix files), alternate data streams as `user.NAME` xattrs
//!   (ntfs-3g's `streams_interface=xattr`), the name rules and every bound the crate lacks (a
//!   directory index is walked at most as many entries as its size can hold, so a looping
//!   B-tree is an error, not a hang).
//!
//! The view is ntfs-3g's with its default options (what `ntfs-3g -o ro` shows):
//! - Inode numbers are MFT record numbers; the root is 5. Records below 16 (`$MFT`,
//!   `$Bitmap`…, and the root's own `.` entry) are never listed.
//! - Names are the Win32 or POSIX names; DOS 8.3 twins (namespace 2) are not listed but can be
//!   looked up. Lookups are case-sensitive, as in ntfs-3g.
//! - Mode 0777 for everything (the READONLY attribute is not shown), uid/gid 0; `nlink`
//!   1 for directories, the record's link count (one per `$FILE_NAME`, DOS twins included)
//!   for others. Directory sizes are their `$INDEX_ALLOCATION` size (0 without one), link
//!   sizes their target's length. Times come from `$STANDARD_INFORMATION` (atime, mtime, and
//!   the MFT-change time as ctime), converted from 100 ns units since 1601.
//! - Links as `reparse` says; reparse points of other kinds (dedup, cloud files…) are shown as
//!   the plain file or directory they sit on (ntfs-3g, without its plugins, refuses them).
//! - `st_blocks` is the size rounded up to clusters (0 for resident data): the crate does not
//!   expose allocated sizes.
//!
//! Unsupported (refused naming it, never misread): compressed data whose runs continue into
//! extension records (an attribute list), compression with clusters over 4 KiB, encrypted
//! data (EFS; read raw as ntfs-3g does).

mod data;
mod io;
mod lznt1;
mod reparse;

use self::io::DevReader;
use crate::disk::Dev;
use crate::fs::{makedev, DirEntry, Errno, Error, FileType, Filesystem, Ino, Result, Stat, StatVfs, Timespec};
use ntfs::structured_values::{NtfsFileAttributeFlags, NtfsFileNamespace};
use ntfs::{Ntfs, NtfsAttributeType, NtfsError, NtfsFile};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// The root directory's record.
const ROOT: Ino = 5;
/// `$UpCase`'s record.
const UPCASE: Ino = 10;
/// Records below this are the metadata files ntfs-3g hides (`FILE_first_user`).
const FIRST_USER: Ino = 16;
/// `ST_RDONLY`.
const ST_RDONLY: u64 = 1;
/// Attributes of one file we look at before calling it corrupt (a record holds a few dozen;
/// attribute lists a few thousand).
const MAX_ATTRIBUTES: usize = 65_536;
/// Smallest directory index entry with a `$FILE_NAME` key (0x10 header + 0x42 key).
const MIN_INDEX_ENTRY: u64 = 0x52;
/// Directory entries kept in the listing cache before it is emptied.
const CACHE_ENTRIES: usize = 200_000;
/// Largest total of the streams returned as xattrs of one file.
const MAX_XATTR: u64 = 64 << 20;
/// Largest reparse point (Windows' `MAXIMUM_REPARSE_DATA_BUFFER_SIZE`).
const MAX_REPARSE: u64 = 16 * 1024;

/// One entry of a directory listing.
struct Entry {
    name: Vec<u8>,
    ino: Ino,
    file_type: FileType,
    /// A DOS 8.3 twin: looked up, not listed.
    dos: bool,
}

/// An index entry as walked: name, record, the `$FILE_NAME` flags, whether a DOS name.
type RawEntry = (Vec<u8>, Ino, NtfsFileAttributeFlags, bool);

/// What `stat` and the readers need to know about a record.
struct Node {
    kind: Kind,
    /// Data size (files), index allocation size (directories), target length (links).
    size: u64,
    /// Whether the unnamed data is non-resident (for `st_blocks`).
    non_resident: bool,
    nlink: u64,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
}

enum Kind {
    Dir,
    File,
    Symlink(Vec<u8>),
    Device(FileType, u64),
    Fifo,
    Socket,
}

impl Kind {
    fn file_type(&self) -> FileType {
        match self {
            Kind::Dir => FileType::Directory,
            Kind::File => FileType::Regular,
            Kind::Symlink(_) => FileType::Symlink,
            Kind::Device(t, _) => *t,
            Kind::Fifo => FileType::Fifo,
            Kind::Socket => FileType::Socket,
        }
    }
}

struct Inner {
    rdr: DevReader,
    /// Directory listings by record, weighed in entries.
    dirs: HashMap<Ino, Arc<Vec<Entry>>>,
    cached: usize,
    /// Run maps of streams read lately, by record and stream name.
    streams: HashMap<(Ino, String), Arc<data::Stream>>,
}

/// An NTFS volume, read-only (see the module documentation for the view it gives).
pub struct NtfsFs {
    dev: Dev,
    ntfs: Ntfs,
    inner: Mutex<Inner>,
    /// The `$UpCase` table, once read (`lookup_nocase`).
    upcase: OnceLock<Vec<u16>>,
}

/// `name` (UTF-8, lossily) as UTF-16 upper-cased by `table` (ASCII rules when it is empty).
fn upcased(table: &[u16], name: &[u8]) -> Vec<u16> {
    String::from_utf8_lossy(name)
        .encode_utf16()
        .map(|c| match table.get(usize::from(c)) {
            Some(&u) => u,
            None if (0x61..=0x7a).contains(&c) => c - 0x20,
            None => c,
        })
        .collect()
}

impl NtfsFs {
    /// Opens the NTFS volume on `dev`. A damaged boot sector, `$MFT` or root directory is
    /// [`Error::Corrupt`].
    pub fn open(dev: Dev) -> Result<NtfsFs> {
        let mut rdr = DevReader::new(dev.clone());
        // The crate's $UpCase table is not read: only its name lookups use it, and we use ours.
        let ntfs = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Ntfs::new(&mut rdr)))
            .map_err(|_| Error::Corrupt { dev: dev.name(), fs: "ntfs".into(), msg: "boot sector: damaged".into() })?
            .map_err(|e| ntfs_error(&dev, "boot sector", e))?;
        let inner = Mutex::new(Inner { rdr, dirs: HashMap::new(), cached: 0, streams: HashMap::new() });
        let fs = NtfsFs { dev, ntfs, inner, upcase: OnceLock::new() };
        let root_is_dir = fs.guarded("root directory (MFT record 5)", || {
            let mut inner = fs.lock();
            Ok(matches!(fs.node(&mut inner, ROOT)?.kind, Kind::Dir))
        })?;
        if !root_is_dir {
            return Err(fs.corrupt("root directory (MFT record 5) is not a directory"));
        }
        Ok(fs)
    }

    /// The cluster size in bytes.
    pub fn cluster_size(&self) -> u32 {
        self.ntfs.cluster_size()
    }

    /// The entry of directory `dir` whose name equals `name` ignoring case as Windows does
    /// (the volume's `$UpCase` table; ASCII rules when it cannot be read), for case-insensitive
    /// path lookups (libguestfs' `case-sensitive-path`). Returns the listed name and its inode:
    /// an exact match first, else a listed name, else the long name of a matching DOS name.
    pub fn lookup_nocase(&self, dir: Ino, name: &[u8]) -> Result<Option<(Vec<u8>, Ino)>> {
        self.guarded(&format!("directory record {dir}"), || self.lookup_nocase_in(dir, name))
    }

    fn lookup_nocase_in(&self, dir: Ino, name: &[u8]) -> Result<Option<(Vec<u8>, Ino)>> {
        let mut inner = self.lock();
        let list = self.listing(&mut inner, dir)?;
        if let Some(e) = list.iter().find(|e| e.name == name && !e.dos) {
            return Ok(Some((e.name.clone(), e.ino)));
        }
        let table = self.upcase(&mut inner);
        let key = upcased(table, name);
        let found = list.iter().filter(|e| upcased(table, &e.name) == key).min_by_key(|e| e.dos);
        Ok(found.and_then(|f| list.iter().find(|e| e.ino == f.ino && !e.dos)).map(|e| (e.name.clone(), e.ino)))
    }

    /// The `$UpCase` table (record 10), read once; empty when it cannot be read.
    fn upcase<'a>(&'a self, inner: &mut Inner) -> &'a [u16] {
        self.upcase.get_or_init(|| {
            let mut raw = vec![0u8; 2 * 65536];
            match data::read_stream(self, inner, UPCASE, "", 0, &mut raw) {
                Ok(n) if n == raw.len() => raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect(),
                _ => Vec::new(),
            }
        })
    }

    /// Runs one operation, turning a panic of the `ntfs` crate into a `Corrupt` error: the
    /// crate indexes some slices by lengths read from the disk (an index entry shorter than
    /// its header panics in `IndexNodeEntryRanges`; found by fuzz/ntfs_structs). Our own code
    /// returns errors; this only catches the crate. The read guard is reset afterwards.
    fn guarded<T>(&self, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
            self.lock().rdr.set_guard(None);
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            Err(self.corrupt(format!("{what}: damaged structure ({msg})")))
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn corrupt(&self, msg: impl Into<String>) -> Error {
        Error::Corrupt { dev: self.dev.name(), fs: "ntfs".into(), msg: msg.into() }
    }

    fn ntfs_error(&self, what: impl std::fmt::Display, e: NtfsError) -> Error {
        ntfs_error(&self.dev, what, e)
    }

    /// MFT record `ino`, which must be an in-use base record (else `ENOENT`).
    fn file(&self, inner: &mut Inner, ino: Ino) -> Result<NtfsFile<'_>> {
        let file = self.ntfs.file(&mut inner.rdr, ino).map_err(|e| match e {
            NtfsError::InvalidFileRecordNumber { .. } => Error::Os(Errno::NoEntry),
            e => self.ntfs_error(format!("MFT record {ino}"), e),
        })?;
        if !file.flags().contains(ntfs::NtfsFileFlags::IN_USE) {
            return Err(Error::Os(Errno::NoEntry));
        }
        // The base record reference at 0x20: an extension record is not a file.
        let mut base = [0u8; 8];
        let at = file.position().value().map(|p| p.get() + 0x20).ok_or_else(|| self.corrupt(format!("MFT record {ino}: no position")))?;
        inner.rdr.read_full_at(&mut base, at).map_err(|e| self.io(format!("MFT record {ino}"), e))?;
        if u64::from_le_bytes(base) & 0xffff_ffff_ffff != 0 {
            return Err(Error::Os(Errno::NoEntry));
        }
        Ok(file)
    }

    fn io(&self, what: impl std::fmt::Display, e: std::io::Error) -> Error {
        ntfs_error(&self.dev, what, NtfsError::Io(e))
    }

    /// What record `ino` is.
    fn node(&self, inner: &mut Inner, ino: Ino) -> Result<Node> {
        let file = self.file(inner, ino)?;
        let err = |e| self.ntfs_error(format!("MFT record {ino}"), e);
        let info = file.info().map_err(err)?;
        let attrs = info.file_attributes();
        let mut data: Option<(u64, bool)> = None;
        let mut index_size = 0u64;
        let mut reparse_data: Option<Vec<u8>> = None;
        let mut iter = file.attributes();
        let mut count = 0usize;
        while let Some(item) = iter.next(&mut inner.rdr) {
            count += 1;
            if count > MAX_ATTRIBUTES {
                return Err(self.corrupt(format!("MFT record {ino}: more than {MAX_ATTRIBUTES} attributes")));
            }
            let item = item.map_err(err)?;
            let attr = item.to_attribute().map_err(err)?;
            let Ok(ty) = attr.ty() else { continue };
            match ty {
                NtfsAttributeType::Data if attr.name_length() == 0 => {
                    // With an attribute list, only the first extent carries the size.
                    let (len, non_resident) = data.get_or_insert((0, false));
                    *len = (*len).max(attr.value_length());
                    *non_resident |= !attr.is_resident();
                }
                NtfsAttributeType::IndexAllocation if attr.name().map_err(err)?.to_string_lossy() == "$I30" => {
                    index_size = attr.value_length();
                }
                NtfsAttributeType::ReparsePoint if reparse_data.is_none() => {
                    let len = attr.value_length();
                    if len > MAX_REPARSE {
                        return Err(self.corrupt(format!("MFT record {ino}: reparse point of {len} bytes")));
                    }
                    let mut value = attr.value(&mut inner.rdr).map_err(err)?;
                    reparse_data = Some(data::read_value_all(self, &mut inner.rdr, &mut value, len, ino)?);
                }
                _ => {}
            }
        }
        let t = |ft: ntfs::NtfsTime| filetime(ft.nt_timestamp());
        let (size, non_resident) = data.unwrap_or((0, false));
        let mut node = Node {
            kind: Kind::File,
            size,
            non_resident,
            nlink: u64::from(file.hard_link_count()),
            atime: t(info.access_time()),
            mtime: t(info.modification_time()),
            ctime: t(info.mft_record_modification_time()),
        };
        if let Some(rp) = reparse_data.filter(|rp| reparse::tag(rp).is_some_and(reparse::is_link_tag)) {
            let target = reparse::target(&rp).map_err(|m| self.corrupt(format!("MFT record {ino}: {m}")))?;
            node.size = target.len() as u64;
            node.kind = Kind::Symlink(target);
        } else if file.is_directory() {
            node.kind = Kind::Dir;
            node.size = index_size;
            node.nlink = 1;
        } else if attrs.contains(NtfsFileAttributeFlags::SYSTEM) && size <= reparse::INTERIX_MAX {
            let mut head = vec![0u8; size as usize];
            drop(file);
            data::read_stream(self, inner, ino, "", 0, &mut head)?;
            match reparse::interix(size, &head) {
                Some(reparse::Interix::Symlink) => {
                    let target = reparse::interix_target(&head);
                    node.size = target.len() as u64;
                    node.kind = Kind::Symlink(target);
                }
                Some(reparse::Interix::CharDevice(ma, mi)) => node.kind = Kind::Device(FileType::CharDevice, dev_number(ma, mi)),
                Some(reparse::Interix::BlockDevice(ma, mi)) => node.kind = Kind::Device(FileType::BlockDevice, dev_number(ma, mi)),
                Some(reparse::Interix::Fifo) => node.kind = Kind::Fifo,
                Some(reparse::Interix::Socket) => node.kind = Kind::Socket,
                None => {}
            }
        }
        Ok(node)
    }

    /// The entries of directory `dir` (cached).
    fn listing(&self, inner: &mut Inner, dir: Ino) -> Result<Arc<Vec<Entry>>> {
        if let Some(l) = inner.dirs.get(&dir) {
            return Ok(l.clone());
        }
        let file = self.file(inner, dir)?;
        if !file.is_directory() {
            return Err(Error::Os(Errno::NotDir));
        }
        let err = |e| self.ntfs_error(format!("directory index of record {dir}"), e);
        // The index can hold no more entries than its root and allocation have room for.
        let mut alloc = 0u64;
        let mut attrs = file.attributes();
        let mut count = 0usize;
        while let Some(item) = attrs.next(&mut inner.rdr) {
            count += 1;
            if count > MAX_ATTRIBUTES {
                return Err(self.corrupt(format!("MFT record {dir}: more than {MAX_ATTRIBUTES} attributes")));
            }
            let item = item.map_err(err)?;
            let attr = item.to_attribute().map_err(err)?;
            if matches!(attr.ty(), Ok(NtfsAttributeType::IndexAllocation)) {
                alloc = alloc.saturating_add(attr.value_length());
            }
        }
        // The crate's walk reads each index block once: a block read twice is a loop, and it
        // reads no more than the allocation (a bound on what a looping walk holds).
        inner.rdr.set_guard(Some(alloc.min(self.dev.len()).saturating_mul(2).saturating_add(1 << 20)));
        let walked = self.walk_index(inner, &file, dir, alloc);
        inner.rdr.set_guard(None);
        let raw = walked?;
        drop(file);
        let mut list = Vec::with_capacity(raw.len());
        for (name, ino, flags, dos) in raw {
            let plain = !flags.intersects(NtfsFileAttributeFlags::REPARSE_POINT | NtfsFileAttributeFlags::SYSTEM);
            let file_type = if dos {
                FileType::Regular
            } else if plain {
                if flags.contains(NtfsFileAttributeFlags::IS_DIRECTORY) {
                    FileType::Directory
                } else {
                    FileType::Regular
                }
            } else {
                self.node(inner, ino)?.kind.file_type()
            };
            list.push(Entry { name, ino, file_type, dos });
        }
        let list = Arc::new(list);
        if inner.cached + list.len() > CACHE_ENTRIES {
            inner.dirs.clear();
            inner.cached = 0;
        }
        inner.cached += list.len();
        inner.dirs.insert(dir, list.clone());
        Ok(list)
    }

    /// The entries of directory `dir`'s index in order.
    fn walk_index(&self, inner: &mut Inner, file: &NtfsFile, dir: Ino, alloc: u64) -> Result<Vec<RawEntry>> {
        let err = |e| self.ntfs_error(format!("directory index of record {dir}"), e);
        let index = file.directory_index(&mut inner.rdr).map_err(err)?;
        let mut entries = index.entries();
        // A looping B-tree shows the same entries again: each entry's position is seen once.
        let limit = alloc.min(self.dev.len()).saturating_add(u64::from(self.ntfs.file_record_size())) / MIN_INDEX_ENTRY + 16;
        let mut positions = std::collections::HashSet::new();
        let mut raw = Vec::new();
        let mut seen = 0u64;
        while let Some(entry) = entries.next(&mut inner.rdr) {
            seen += 1;
            if seen > limit {
                return Err(self.corrupt(format!("directory index of record {dir}: more entries than its {alloc} bytes hold (a loop in the B-tree?)")));
            }
            let entry = entry.map_err(err)?;
            if !positions.insert(entry.position().value()) {
                return Err(self.corrupt(format!("directory index of record {dir}: an index block is reached twice (a loop in the B-tree)")));
            }
            let ino = entry.file_reference().file_record_number();
            let Some(key) = entry.key() else { continue };
            let key = key.map_err(err)?;
            if ino < FIRST_USER {
                continue;
            }
            let flags = key.file_attributes();
            raw.push((key.name().to_string_lossy().into_bytes(), ino, flags, key.namespace() == NtfsFileNamespace::Dos));
        }
        Ok(raw)
    }
}

/// Linux `makedev` of Interix major/minor numbers (saturated to 32 bits).
fn dev_number(major: u64, minor: u64) -> u64 {
    makedev(u32::try_from(major).unwrap_or(u32::MAX), u32::try_from(minor).unwrap_or(u32::MAX))
}

/// Windows FILETIME (100 ns units since 1601-01-01 UTC) as Unix time.
fn filetime(ft: u64) -> Timespec {
    const EPOCH_DIFF: i128 = 116_444_736_000_000_000;
    let t = i128::from(ft) - EPOCH_DIFF;
    Timespec { sec: t.div_euclid(10_000_000) as i64, nsec: (t.rem_euclid(10_000_000) * 100) as u32 }
}

/// A crate error: our device's error when it is one, else damage found in `what`.
fn ntfs_error(dev: &Dev, what: impl std::fmt::Display, e: NtfsError) -> Error {
    if let NtfsError::Io(io) = e {
        let msg = io.to_string();
        return match io.into_inner().map(|inner| inner.downcast::<crate::disk::Error>()) {
            Some(Ok(disk)) => Error::Disk(*disk),
            _ => Error::Corrupt { dev: dev.name(), fs: "ntfs".into(), msg: format!("{what}: {msg}") },
        };
    }
    Error::Corrupt { dev: dev.name(), fs: "ntfs".into(), msg: format!("{what}: {e}") }
}

impl Filesystem for NtfsFs {
    fn fs_type(&self) -> &str {
        "ntfs"
    }

    fn root(&self) -> Ino {
        ROOT
    }

    fn lookup(&self, dir: Ino, name: &[u8]) -> Result<Option<Ino>> {
        self.guarded(&format!("directory record {dir}"), || {
            let mut inner = self.lock();
            Ok(self.listing(&mut inner, dir)?.iter().find(|e| e.name == name).map(|e| e.ino))
        })
    }

    fn stat(&self, ino: Ino) -> Result<Stat> {
        self.guarded(&format!("MFT record {ino}"), || self.stat_in(ino))
    }

    fn read_dir(&self, dir: Ino) -> Result<Vec<DirEntry>> {
        self.guarded(&format!("directory record {dir}"), || {
            let mut inner = self.lock();
            let list = self.listing(&mut inner, dir)?;
            Ok(list.iter().filter(|e| !e.dos).map(|e| DirEntry { name: e.name.clone(), ino: e.ino, file_type: e.file_type }).collect())
        })
    }

    fn read(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.guarded(&format!("MFT record {ino}"), || self.read_in(ino, offset, buf))
    }

    fn readlink(&self, ino: Ino) -> Result<Vec<u8>> {
        self.guarded(&format!("MFT record {ino}"), || {
            let mut inner = self.lock();
            match self.node(&mut inner, ino)?.kind {
                Kind::Symlink(t) => Ok(t),
                _ => Err(Error::Os(Errno::Invalid)),
            }
        })
    }

    fn xattrs(&self, ino: Ino) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.guarded(&format!("MFT record {ino}"), || {
            let mut inner = self.lock();
            self.node(&mut inner, ino)?;
            data::named_streams(self, &mut inner, ino)
        })
    }

    fn statvfs(&self) -> Result<StatVfs> {
        self.guarded("statvfs", || {
            let mut inner = self.lock();
            data::statvfs(self, &mut inner)
        })
    }
}

impl NtfsFs {
    fn stat_in(&self, ino: Ino) -> Result<Stat> {
        let mut inner = self.lock();
        if ino < FIRST_USER && ino != ROOT {
            return Err(Error::Os(Errno::NoEntry));
        }
        let node = self.node(&mut inner, ino)?;
        let cluster = u64::from(self.ntfs.cluster_size());
        // ntfs-3g's default: no permission mapping, no umask, READONLY not shown.
        let perm = 0o777;
        let rdev = if let Kind::Device(_, rdev) = node.kind { rdev } else { 0 };
        let blocks = if node.non_resident || matches!(node.kind, Kind::Dir) { node.size.div_ceil(cluster) * cluster / 512 } else { 0 };
        Ok(Stat {
            ino,
            mode: node.kind.file_type().mode_bits() | perm,
            nlink: node.nlink,
            uid: 0,
            gid: 0,
            rdev,
            size: node.size,
            blksize: cluster,
            blocks,
            atime: node.atime,
            mtime: node.mtime,
            ctime: node.ctime,
        })
    }

    fn read_in(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let mut inner = self.lock();
        let node = self.node(&mut inner, ino)?;
        match node.kind {
            Kind::File => {}
            Kind::Dir => return Err(Error::Os(Errno::IsDir)),
            _ => return Err(Error::Os(Errno::Invalid)),
        }
        if offset >= node.size || buf.is_empty() {
            return Ok(0);
        }
        let n = (node.size - offset).min(buf.len() as u64) as usize;
        data::read_stream(self, &mut inner, ino, "", offset, &mut buf[..n])
    }

}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetimes() {
        assert_eq!(filetime(116_444_736_000_000_000), Timespec { sec: 0, nsec: 0 });
        assert_eq!(filetime(116_444_736_000_000_001), Timespec { sec: 0, nsec: 100 });
        assert_eq!(filetime(0), Timespec { sec: -11_644_473_600, nsec: 0 });
        assert_eq!(filetime(116_444_735_999_999_999), Timespec { sec: -1, nsec: 999_999_900 });
    }
}
