//! The write half of [`FatFs`]: each change is checked against Linux vfat's rules first, then
//! made in one transaction on a writable `fatfs` mount (see [`FatFs::transact`]), then the
//! changed directories are listed again so that reads see it.

use super::dirent::{RawEntry, ATTR_RO, SLOT};
use super::dirs::{open_dir, Node};
use super::geom::MAX_DIR_BYTES;
use super::io::{DevIo, Shared};
use super::time::{DosTime, Now};
use super::{cp437, names, time, FatFs, FatVolume, Inner, ROOT};
use crate::disk::read_vec;
use crate::fs::{Errno, Error, Ino, Result, Timespec};
use std::cell::RefCell;
use std::collections::HashSet;
use std::io::{self, Seek, SeekFrom, Write};
use std::rc::Rc;

/// FAT's largest file: sizes are 32-bit.
const MAX_FILE: u64 = u32::MAX as u64;
/// Full sets of checksum-form short names a directory may hold before creating a name in it
/// is refused (`names::full_checksum_sets`): each costs `fatfs` one scan of the directory.
const MAX_FULL_SETS: usize = 16;
/// Offsets inside a short entry.
const OFF_ATTR: u64 = 11;
const OFF_ADATE: u64 = 18;
const OFF_CLUSTER_HI: u64 = 20;
const OFF_MTIME: u64 = 22;
const OFF_CLUSTER_LO: u64 = 26;

/// A non-root entry ready for `fatfs`: its parent directory, what we know of it, and a name
/// that `fatfs` resolves to it and to nothing else.
struct Located {
    parent: Ino,
    node: Node,
    handle: String,
}

impl FatFs {
    fn check_writable(&self) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(Error::Os(Errno::ReadOnlyFs))
        }
    }

    /// Runs `op` as one transaction: on a fresh writable `fatfs` mount (its clock: the current
    /// time), handed that mount and a raw writer for entry fields `fatfs` cannot set, then
    /// unmounted (FSInfo written, dirty flag cleared). If anything fails, every byte written is
    /// put back as it was (so a transaction holds a copy of every byte it overwrites: callers
    /// write large files in chunks). `what` names the operation in errors.
    fn transact<R>(&self, what: &str, op: impl FnOnce(&FatVolume, &mut DevIo) -> io::Result<R>) -> Result<R> {
        let shared = Rc::new(RefCell::new(Shared::default()));
        let run = || -> io::Result<R> {
            let options = fatfs::FsOptions::new().oem_cp_converter(&cp437::CP437).time_provider(&time::NOW);
            let vol = fatfs::FileSystem::new(DevIo::writable(self.dev.clone(), shared.clone()), options)?;
            let mut raw = DevIo::writable(self.dev.clone(), shared.clone());
            let r = op(&vol, &mut raw)?;
            vol.unmount()?;
            Ok(r)
        };
        let result = run();
        let log = std::mem::take(&mut shared.borrow_mut().undo);
        match result {
            Ok(r) => Ok(r),
            Err(e) => {
                // Listings are made before any change, so what is cached stays true once the
                // device holds what it held before.
                let err = self.fatfs_error(what, e);
                match log.rollback(&self.dev) {
                    Ok(()) => Err(err),
                    Err(undo) => Err(self.corrupt(format!(
                        "{what}: {err}; undoing the partial change failed too ({undo}): check the volume with fsck.vfat"
                    ))),
                }
            }
        }
    }

    /// A `fatfs` error as an errno where it means one (no free cluster, a full FAT12/16 root
    /// directory, a name taken), else our device's error or damage found by `fatfs`.
    fn fatfs_error(&self, what: &str, e: io::Error) -> Error {
        match e.kind() {
            io::ErrorKind::WriteZero => Error::Os(Errno::NoSpace),
            io::ErrorKind::AlreadyExists => Error::Os(Errno::Exists),
            io::ErrorKind::Other if e.to_string() == "No space left on device" => Error::Os(Errno::NoSpace),
            _ => self.io(what, e),
        }
    }

    /// The entry of inode `ino` (not the root), located for `fatfs`.
    fn locate(&self, inner: &mut Inner, ino: Ino) -> Result<Located> {
        let node = self.node(inner, ino)?;
        let listing = self.listing(inner, node.parent)?;
        let index = listing.entries.iter().position(|i| i.entry.ino == ino).ok_or(Error::Os(Errno::NoEntry))?;
        let handle = names::handle(&listing.entries, index).ok_or_else(|| {
            self.corrupt(format!("directory {}: entry {ino} shares every name it has with an earlier entry", node.parent))
        })?;
        Ok(Located { parent: node.parent, node, handle })
    }

    /// Checks the whole cluster chain of file `ino` before `fatfs` follows or frees it: it must
    /// end (no loop, no free or out-of-range link) and cover the size.
    fn check_chain(&self, ino: Ino, raw: &RawEntry) -> Result<()> {
        let need = u64::from(raw.size).div_ceil(self.geom.cluster_size);
        if raw.first_cluster == 0 {
            return match need {
                0 => Ok(()),
                _ => Err(self.corrupt(format!("file {ino}: size {} but no first cluster", raw.size))),
            };
        }
        let got = self
            .geom
            .walk(self.dev.as_ref(), raw.first_cluster, self.geom.clusters(), false, &mut |_| {})?
            .map_err(|m| self.corrupt(format!("file {ino}: {m}")))?;
        if got < need {
            return Err(self.corrupt(format!("file {ino}: cluster chain of {got} clusters is shorter than its size {}", raw.size)));
        }
        Ok(())
    }

    /// After a change to the entries of `dirs`: forgets file data runs, reads the directories'
    /// own entries again (their times changed) and lists them again, ancestors first (their
    /// listing fixes the ordinals of their subdirectories), dropping inodes that are gone.
    fn changed(&self, inner: &mut Inner, dirs: &[Ino]) -> Result<()> {
        inner.runs.clear();
        let mut dirs = dirs.to_vec();
        dirs.sort_by_key(|&d| self.depth(inner, d));
        dirs.dedup();
        for dir in dirs {
            if dir != ROOT {
                self.reload(inner, dir)?;
            }
            let key = self.dir_key(inner, dir)?;
            inner.dirs.remove(&key);
            let listing = self.listing(inner, dir)?;
            let present: HashSet<Ino> = listing.entries.iter().map(|i| i.entry.ino).collect();
            inner.nodes.retain(|ino, n| n.parent != dir || present.contains(ino));
        }
        Ok(())
    }

    /// How many directories up the root is from `ino` (bounded: cross-linked volumes).
    fn depth(&self, inner: &Inner, ino: Ino) -> usize {
        let mut at = ino;
        let mut depth = 0;
        while let Some(n) = inner.nodes.get(&at) {
            if at == ROOT || depth > inner.nodes.len() {
                break;
            }
            depth += 1;
            at = n.parent;
        }
        depth
    }

    /// Reads the short entry of `ino` again after it was changed in place.
    fn reload(&self, inner: &mut Inner, ino: Ino) -> Result<()> {
        let pos = ino * SLOT;
        let slot = read_vec(self.dev.as_ref(), pos, SLOT as usize)?;
        let raw = RawEntry::parse(&slot, pos, self.geom.fat_bits == 32);
        inner.runs.clear();
        if let Some(n) = inner.nodes.get_mut(&ino) {
            n.raw = raw;
        }
        Ok(())
    }

    /// Creates file or directory `name` in `dir`.
    pub(super) fn make(&self, dir: Ino, name: &[u8], is_dir: bool) -> Result<Ino> {
        self.check_writable()?;
        let mut inner = self.lock();
        let listing = self.listing(&mut inner, dir)?;
        let name = names::new_name(name)?;
        if listing.entries.iter().any(|i| names::fatfs_matches(i, name)) {
            return Err(Error::Os(Errno::Exists));
        }
        let sets = names::full_checksum_sets(&listing.entries);
        if sets > MAX_FULL_SETS {
            return Err(Error::Unsupported {
                dev: self.dev.name(),
                fs: "vfat".into(),
                feature: format!("creating a name in directory {dir}, which holds {sets} full sets of generated 8.3 names (~1..~9)"),
            });
        }
        let what = format!("creating {name:?} in directory {dir}");
        let key = self.dir_key(&inner, dir)?;
        self.transact(&what, |vol, raw| {
            let d = open_dir(vol, &inner.nodes, dir)?;
            if !is_dir {
                d.create_file(name)?;
                return self.check_dir_size(key);
            }
            drop(d.create_dir(name)?);
            self.check_dir_size(key)?;
            // The new directory: the one short entry of `dir` that was not listed before.
            let before: HashSet<Ino> = listing.entries.iter().map(|i| i.entry.ino).collect();
            let (now, _) = self.read_raw_dir(dir, key).map_err(io::Error::other)?;
            let new = now.iter().find(|r| r.is_dir() && !r.is_dot() && !before.contains(&(r.pos / SLOT)));
            let new = new.ok_or_else(|| io::Error::other("the new directory's entry is not found"))?;
            self.fix_dots(raw, new, dir == ROOT)
        })?;
        self.changed(&mut inner, &[dir])?;
        let listing = self.listing(&mut inner, dir)?;
        let made = listing.entries.iter().find(|i| i.entry.name == name.as_bytes());
        made.map(|i| i.entry.ino).ok_or_else(|| self.corrupt(format!("{what}: the new entry is not listed")))
    }

    /// Inside a transaction that added entries to the directory whose listing key is `key`:
    /// a directory may not grow past Linux's `FAT_MAX_DIR_SIZE` (ENOSPC there, and our reader
    /// refuses longer ones).
    fn check_dir_size(&self, key: Option<u32>) -> io::Result<()> {
        let g = &self.geom;
        let first = match key {
            Some(c) => c,
            None if g.fat_bits == 32 => g.root_cluster,
            None => return Ok(()),
        };
        let limit = MAX_DIR_BYTES / g.cluster_size;
        match g.walk(self.dev.as_ref(), first, limit, false, &mut |_| {}).map_err(io::Error::other)? {
            Ok(_) => Ok(()),
            Err(m) if m.contains("longer than") => Err(io::Error::new(io::ErrorKind::WriteZero, m)),
            Err(m) => Err(io::Error::other(m)),
        }
    }

    /// Rewrites the start of a directory `fatfs` 0.3.6 just made, whose `.` and `..` entries
    /// each follow a long-name slot (fsck.vfat: "Expected a valid '.' entry in this slot"), as
    /// Linux lays it out: `.`, `..`, then free slots. The `..` of a directory in the root
    /// names cluster 0 (`fatfs` writes the FAT32 root's cluster).
    fn fix_dots(&self, raw: &mut DevIo, entry: &RawEntry, in_root: bool) -> io::Result<()> {
        if !self.geom.valid(entry.first_cluster) {
            return Err(io::Error::other("the new directory has no cluster"));
        }
        let start = self.geom.cluster_offset(entry.first_cluster);
        let mut slots = read_vec(self.dev.as_ref(), start, 4 * SLOT as usize).map_err(io::Error::other)?;
        let (dot, dotdot) = (&slots[32..43], &slots[96..107]);
        if dot != b".          " || dotdot != b"..         " {
            return Err(io::Error::other("the new directory's . and .. entries are not where fatfs 0.3.6 puts them"));
        }
        slots.copy_within(32..64, 0);
        slots.copy_within(96..128, 32);
        slots[64..].fill(0);
        if in_root {
            slots[32 + OFF_CLUSTER_HI as usize..][..2].fill(0);
            slots[32 + OFF_CLUSTER_LO as usize..][..2].fill(0);
        }
        poke(raw, start, &slots)
    }

    /// `unlink` (`is_dir` false) or `rmdir` (true) of `name` in `dir`.
    pub(super) fn remove(&self, dir: Ino, name: &[u8], is_dir: bool) -> Result<()> {
        self.check_writable()?;
        let mut inner = self.lock();
        let ino = self.lookup_in(&mut inner, dir, name)?.ok_or(Error::Os(Errno::NoEntry))?;
        let at = self.locate(&mut inner, ino)?;
        self.check_removable(&mut inner, ino, &at.node.raw, is_dir)?;
        let what = format!("removing entry {ino} of directory {}", at.parent);
        self.transact(&what, |vol, _| open_dir(vol, &inner.nodes, at.parent)?.remove(&at.handle))?;
        self.forget(&mut inner, ino, &at.node.raw);
        self.changed(&mut inner, &[at.parent])
    }

    /// Checks that entry `ino` may be removed as a directory (`is_dir`: empty, else ENOTDIR)
    /// or as a file (else EISDIR), and that `fatfs` can free its clusters.
    fn check_removable(&self, inner: &mut Inner, ino: Ino, raw: &RawEntry, is_dir: bool) -> Result<()> {
        match (is_dir, raw.is_dir()) {
            (true, false) => Err(Error::Os(Errno::NotDir)),
            (false, true) => Err(Error::Os(Errno::IsDir)),
            (true, true) if !self.listing(inner, ino)?.entries.is_empty() => Err(Error::Os(Errno::NotEmpty)),
            (true, true) => Ok(()),
            (false, false) => self.check_chain(ino, raw),
        }
    }

    /// Forgets a removed inode (and its listing, whose first cluster may be reused).
    fn forget(&self, inner: &mut Inner, ino: Ino, raw: &RawEntry) {
        if raw.is_dir() {
            inner.dirs.remove(&Some(raw.first_cluster));
        }
        inner.nodes.remove(&ino);
    }

    /// `rename(2)`: see [`crate::fs::Filesystem::rename`].
    pub(super) fn rename_entry(&self, dir: Ino, name: &[u8], new_dir: Ino, new_name: &[u8]) -> Result<()> {
        self.check_writable()?;
        let mut inner = self.lock();
        let src = self.lookup_in(&mut inner, dir, name)?.ok_or(Error::Os(Errno::NoEntry))?;
        let target_listing = self.listing(&mut inner, new_dir)?;
        let new_name = names::new_name(new_name)?;
        let at = self.locate(&mut inner, src)?;
        let src_is_dir = at.node.raw.is_dir();
        if src_is_dir && self.is_within(&inner, new_dir, src) {
            return Err(Error::Os(Errno::Invalid));
        }
        // The entry `fatfs` would see as the target must be the one Linux sees.
        let linux_target = self.lookup_in(&mut inner, new_dir, new_name.as_bytes())?;
        let fatfs_target = target_listing.entries.iter().find(|i| names::fatfs_matches(i, new_name)).map(|i| i.entry.ino);
        if fatfs_target != linux_target {
            return Err(Error::Os(Errno::Exists));
        }
        let target = match linux_target {
            Some(t) if t == src => return Ok(()),
            Some(t) => {
                let t_at = self.locate(&mut inner, t)?;
                self.check_removable(&mut inner, t, &t_at.node.raw, src_is_dir)?;
                Some((t, t_at))
            }
            None => None,
        };
        // Linux moves the entry into the target's slot, keeping the target's spelling of the
        // name ("mv a b" onto "B" leaves "B"); we write a new entry with that spelling.
        let kept = target.as_ref().and_then(|(t, _)| target_listing.entries.iter().find(|i| i.entry.ino == *t));
        let kept = kept.and_then(|i| std::str::from_utf8(&i.entry.name).ok()).filter(|n| names::new_name(n.as_bytes()).ok() == Some(*n));
        let new_name = kept.unwrap_or(new_name);
        if names::full_checksum_sets(&target_listing.entries) > MAX_FULL_SETS {
            return Err(Error::Unsupported {
                dev: self.dev.name(),
                fs: "vfat".into(),
                feature: format!("creating a name in directory {new_dir}, which holds many full sets of generated 8.3 names"),
            });
        }
        // A directory moved to another parent gets its `..` entry pointed at the new parent
        // (`fatfs` does not do it); the root is cluster 0 there, as Linux writes it.
        let dir = at.parent;
        let dotdot = match (src_is_dir, dir != new_dir) {
            (true, true) => Some((self.dotdot_pos(src, &at.node.raw)?, self.parent_cluster(&inner, new_dir)?)),
            _ => None,
        };
        let fat32 = self.geom.fat_bits == 32;
        let new_key = self.dir_key(&inner, new_dir)?;
        let what = format!("renaming entry {src} of directory {dir} to {new_name:?} in directory {new_dir}");
        self.transact(&what, |vol, raw| {
            let from = open_dir(vol, &inner.nodes, dir)?;
            let to = open_dir(vol, &inner.nodes, new_dir)?;
            if let Some((_, t_at)) = &target {
                to.remove(&t_at.handle)?;
            }
            from.rename(&at.handle, &to, new_name)?;
            self.check_dir_size(new_key)?;
            if let Some((pos, cluster)) = dotdot {
                poke(raw, pos + OFF_CLUSTER_LO, &(cluster as u16).to_le_bytes())?;
                if fat32 {
                    poke(raw, pos + OFF_CLUSTER_HI, &((cluster >> 16) as u16).to_le_bytes())?;
                }
            }
            Ok(())
        })?;
        if let Some((t, t_at)) = &target {
            self.forget(&mut inner, *t, &t_at.node.raw);
        }
        inner.nodes.remove(&src);
        self.changed(&mut inner, &[dir, new_dir])?;
        // Subdirectory entries keep their inode numbers; they now hang from the moved entry.
        if let Some(moved) = self.lookup_in(&mut inner, new_dir, new_name.as_bytes())? {
            for n in inner.nodes.values_mut().filter(|n| n.parent == src) {
                n.parent = moved;
            }
        }
        Ok(())
    }

    /// Whether directory `ino` is `ancestor` or lies below it.
    fn is_within(&self, inner: &Inner, ino: Ino, ancestor: Ino) -> bool {
        let mut at = ino;
        for _ in 0..=inner.nodes.len() {
            if at == ancestor {
                return true;
            }
            match inner.nodes.get(&at) {
                Some(n) if at != ROOT => at = n.parent,
                _ => return false,
            }
        }
        false
    }

    /// The device offset of the `..` entry of directory `ino` (the second slot of its first
    /// cluster), checked to be one.
    fn dotdot_pos(&self, ino: Ino, raw: &RawEntry) -> Result<u64> {
        if !self.geom.valid(raw.first_cluster) {
            return Err(self.corrupt(format!("directory {ino}: first cluster {} outside the volume", raw.first_cluster)));
        }
        let pos = self.geom.cluster_offset(raw.first_cluster) + SLOT;
        let name = read_vec(self.dev.as_ref(), pos, 11)?;
        if name != b"..         " {
            return Err(self.corrupt(format!("directory {ino}: second entry is not \"..\"")));
        }
        Ok(pos)
    }

    /// The cluster a `..` entry names for directory `dir`: 0 for the root.
    fn parent_cluster(&self, inner: &Inner, dir: Ino) -> Result<u32> {
        match dir {
            ROOT => Ok(0),
            _ => Ok(self.node(inner, dir)?.raw.first_cluster),
        }
    }

    /// The regular file `ino`, located, with its chain checked; EISDIR for directories.
    fn file_for_write(&self, inner: &mut Inner, ino: Ino) -> Result<Located> {
        if ino == ROOT {
            return Err(Error::Os(Errno::IsDir));
        }
        let at = self.locate(inner, ino)?;
        if at.node.raw.is_dir() {
            return Err(Error::Os(Errno::IsDir));
        }
        self.check_chain(ino, &at.node.raw)?;
        Ok(at)
    }

    /// Writes `data` at `offset` of file `ino`; a gap after the end reads as zeros.
    pub(super) fn write_file(&self, ino: Ino, offset: u64, data: &[u8]) -> Result<()> {
        self.check_writable()?;
        let mut inner = self.lock();
        let at = self.file_for_write(&mut inner, ino)?;
        if offset.checked_add(data.len() as u64).is_none_or(|end| end > MAX_FILE) {
            return Err(Error::Os(Errno::FileTooBig));
        }
        if data.is_empty() {
            return Ok(());
        }
        let size = u64::from(at.node.raw.size);
        self.transact(&format!("writing file {ino}"), |vol, _| {
            let mut f = open_dir(vol, &inner.nodes, at.parent)?.open_file(&at.handle)?;
            if offset > size {
                f.seek(SeekFrom::Start(size))?;
                write_zeros(&mut f, offset - size)?;
            } else {
                f.seek(SeekFrom::Start(offset))?;
            }
            f.write_all(data)?;
            f.flush()
        })?;
        self.reload(&mut inner, ino)
    }

    /// Sets the size of file `ino`, freeing clusters or appending zeros; the modification time
    /// becomes now (as `truncate(2)` sets it).
    pub(super) fn truncate_file(&self, ino: Ino, size: u64) -> Result<()> {
        self.check_writable()?;
        let mut inner = self.lock();
        let at = self.file_for_write(&mut inner, ino)?;
        if size > MAX_FILE {
            return Err(Error::Os(Errno::FileTooBig));
        }
        let old = u64::from(at.node.raw.size);
        self.transact(&format!("truncating file {ino}"), |vol, raw| {
            {
                let mut f = open_dir(vol, &inner.nodes, at.parent)?.open_file(&at.handle)?;
                if size < old {
                    f.seek(SeekFrom::Start(size))?;
                    f.truncate()?;
                } else if size > old {
                    f.seek(SeekFrom::Start(old))?;
                    write_zeros(&mut f, size - old)?;
                }
                f.flush()?;
            }
            let now = DosTime::from_unix(Now::unix());
            poke(raw, ino * SLOT + OFF_MTIME, &dos_words(now.time(), now.date()))
        })?;
        self.reload(&mut inner, ino)
    }

    /// Sets the access date and modification time of `ino` (FAT keeps a date for access and
    /// 2-second steps for modification; out-of-range times are clamped as Linux does). The
    /// root has no entry to keep them in: accepted and forgotten, as Linux does.
    pub(super) fn set_times(&self, ino: Ino, atime: Option<Timespec>, mtime: Option<Timespec>) -> Result<()> {
        self.check_writable()?;
        let mut inner = self.lock();
        if ino == ROOT {
            return Ok(());
        }
        self.node(&inner, ino)?;
        self.transact(&format!("setting the times of entry {ino}"), |_, raw| {
            if let Some(t) = atime {
                poke(raw, ino * SLOT + OFF_ADATE, &DosTime::from_unix(t.sec).date().to_le_bytes())?;
            }
            if let Some(t) = mtime {
                let t = DosTime::from_unix(t.sec);
                poke(raw, ino * SLOT + OFF_MTIME, &dos_words(t.time(), t.date()))?;
            }
            Ok(())
        })?;
        self.reload(&mut inner, ino)
    }

    /// `chmod` as Linux's `fat_setattr` allows it (umask 022, no `fmask`/`dmask`/`rodir`): the
    /// read and execute bits must stay `0555` and no set-id or sticky bit may be asked for;
    /// a file's owner write bit clears or sets the read-only attribute; a directory must stay
    /// writable. Anything else is EPERM.
    pub(super) fn set_mode(&self, ino: Ino, mode: u32) -> Result<()> {
        self.check_writable()?;
        let mut inner = self.lock();
        let is_dir = ino == ROOT || self.node(&inner, ino)?.raw.is_dir();
        let mode = mode & 0o7777;
        if mode & 0o7000 != 0 || mode & 0o555 != 0o555 || (is_dir && mode & 0o200 == 0) {
            return Err(Error::Os(Errno::NotPermitted));
        }
        if is_dir {
            return Ok(());
        }
        let raw = self.node(&inner, ino)?.raw;
        let attr = if mode & 0o200 == 0 { raw.attr | ATTR_RO } else { raw.attr & !ATTR_RO };
        if attr == raw.attr {
            return Ok(());
        }
        self.transact(&format!("setting the attributes of entry {ino}"), |_, w| poke(w, ino * SLOT + OFF_ATTR, &[attr]))?;
        self.reload(&mut inner, ino)
    }

    /// `chown`: only to the owner and group every file has (0, as mounted without `uid=`/
    /// `gid=`); anything else is EPERM.
    pub(super) fn set_owner(&self, ino: Ino, uid: Option<u32>, gid: Option<u32>) -> Result<()> {
        self.check_writable()?;
        let inner = self.lock();
        if ino != ROOT {
            self.node(&inner, ino)?;
        }
        if uid.is_some_and(|u| u != 0) || gid.is_some_and(|g| g != 0) {
            return Err(Error::Os(Errno::NotPermitted));
        }
        Ok(())
    }

    /// What vfat answers to making a symlink, hard link or device node `name` in `dir`: EEXIST
    /// when the name is taken (the VFS checks first), else EPERM.
    pub(super) fn refuse_new(&self, dir: Ino, name: &[u8]) -> Result<Ino> {
        self.check_writable()?;
        let mut inner = self.lock();
        match self.lookup_in(&mut inner, dir, name)? {
            Some(_) => Err(Error::Os(Errno::Exists)),
            None => Err(Error::Os(Errno::NotPermitted)),
        }
    }

    /// Extended attributes: vfat has none to set or remove (EOPNOTSUPP).
    pub(super) fn refuse_xattr(&self, ino: Ino) -> Result<()> {
        self.check_writable()?;
        let inner = self.lock();
        if ino != ROOT {
            self.node(&inner, ino)?;
        }
        Err(Error::Os(Errno::NotSupported))
    }

    /// `sync`: every transaction already left the volume consistent and clean; make it durable.
    pub(super) fn sync_dev(&self) -> Result<()> {
        let _serialise = self.lock();
        Ok(self.dev.flush()?)
    }
}

/// A DOS time and date as stored, little-endian, time first.
fn dos_words(time: u16, date: u16) -> [u8; 4] {
    let (t, d) = (time.to_le_bytes(), date.to_le_bytes());
    [t[0], t[1], d[0], d[1]]
}

/// Writes `bytes` at device offset `pos` through the transaction's raw writer.
fn poke(raw: &mut DevIo, pos: u64, bytes: &[u8]) -> io::Result<()> {
    raw.seek(SeekFrom::Start(pos))?;
    raw.write_all(bytes)
}

/// Appends `len` zero bytes at the position of `f`.
fn write_zeros(f: &mut impl Write, mut len: u64) -> io::Result<()> {
    let zeros = [0u8; 8192];
    while len > 0 {
        let n = len.min(zeros.len() as u64) as usize;
        f.write_all(&zeros[..n])?;
        len -= n as u64;
    }
    Ok(())
}
