//! Creating, linking, renaming and removing names (the kernel's `xfs_create`, `xfs_symlink`,
//! `xfs_link`, `xfs_rename` and `xfs_remove`): a
//! new inode ([`XfsWriter::dialloc`], [`super::inode::init_new`]) linked under a name — in a
//! shortform parent by [`SfDir::add`] (offsets and 4/8-byte inode numbers as
//! `xfs_dir2_sf_addname`), turned into a block directory when the name no longer fits the
//! inode, and in block, leaf and node parents by [`super::dir2::ops`] — the parent's
//! times, change count and — for a directory — link count updated; removal unlinks the name
//! and frees the inode with its blocks when its last link goes ([`XfsWriter::free_inode`]:
//! files with data, remote symlinks, attribute forks; shared reflinked extents lose an owner).
//!
//! What [`super::dir2::ops`] does not write yet is refused with [`Error::Unsupported`]
//! naming it. Each call is one operation: whole or nothing.

use super::dir2::sf::SfDir;
use super::inode::{self, now, Format, Inode, NewInode};
use super::writer::XfsWriter;
use crate::fs::{Errno, Error, Result, Timespec};

/// `S_IFMT` and the directory type.
const S_IFMT: u16 = 0o170000;
const S_IFDIR: u16 = 0o040000;

/// The directory entry file type (`XFS_DIR3_FT_*`) of a mode.
fn ftype_of(mode: u16) -> u8 {
    match mode & S_IFMT {
        0o100000 => 1,
        0o040000 => 2,
        0o020000 => 3,
        0o060000 => 4,
        0o010000 => 5,
        0o140000 => 6,
        0o120000 => 7,
        _ => 0,
    }
}

/// A name a directory entry may have: 1 to 255 bytes, no `/` or NUL, not `.` or `..`.
fn check_name(name: &[u8]) -> Result<()> {
    if name.len() > 255 {
        return Err(Error::Os(Errno::NameTooLong));
    }
    if name.is_empty() || name == b"." || name == b".." || name.iter().any(|&c| c == b'/' || c == 0) {
        return Err(Error::Os(Errno::Invalid));
    }
    Ok(())
}

impl XfsWriter {
    pub(crate) fn unsupported(&self, what: String) -> Error {
        Error::Unsupported { dev: self.bufs.dev_name(), fs: "xfs".into(), feature: format!("writing: {what}") }
    }

    /// Inode `ino`: its block's offset, the block, the inode's offset in it, and the inode.
    fn read_inode(&self, ino: u64) -> Result<(u64, Vec<u8>, usize, Inode)> {
        self.inode_in_use(ino).map_err(|e| match e {
            Error::Os(Errno::NoEntry) => self.corrupt(format!("inode {ino} is free (mode 0) but a directory names it")),
            e => e,
        })
    }

    /// Directory `dir`: its inode, and its shortform contents when it is in shortform.
    pub(super) fn dir_inode(&self, dir: u64) -> Result<(Inode, Option<SfDir>)> {
        let (_, _, _, i) = self.read_inode(dir)?;
        if i.kind() != S_IFDIR {
            return Err(Error::Os(Errno::NotDir));
        }
        let sf = match i.format {
            Format::Local => Some(SfDir::decode(&i.data_fork, i.size, self.sb.ftype).map_err(|m| self.corrupt(format!("directory {dir}: {m}")))?),
            _ => None,
        };
        Ok((i, sf))
    }

    /// Directory `dir` after a name came or went: its link count changed by `links` (a
    /// subdirectory's `..`), its change and modification times set to `t`.
    fn dir_touch(&mut self, dir: u64, links: i64, t: Timespec) -> Result<()> {
        let (off, mut blk, at, pi) = self.read_inode(dir)?;
        let nl = i64::from(pi.nlink) + links;
        if nl < 2 || nl > i64::from(u32::MAX) {
            return Err(self.corrupt(format!("directory {dir}: link count {} with a subdirectory coming or going", pi.nlink)));
        }
        let n = usize::from(self.sb.inodesize);
        let b = &mut blk[at..at + n];
        inode::set_nlink(b, nl as u32);
        inode::touch(&self.sb, b, t, true);
        inode::seal(&self.sb, b, self.bufs.lsn());
        self.bufs.put(off, blk, None);
        Ok(())
    }

    /// `create`/`symlink` inside an operation.
    fn create_in(&mut self, parent: u64, name: &[u8], new: NewInode) -> Result<u64> {
        check_name(name)?;
        let (pi, _) = self.dir_inode(parent)?;
        if self.name_lookup(parent, name)?.is_some() {
            return Err(Error::Os(Errno::Exists));
        }
        let is_dir = new.mode & S_IFMT == S_IFDIR;
        if is_dir && pi.nlink == u32::MAX {
            return Err(Error::Os(Errno::TooManyLinks));
        }
        let t = now();
        let ino = self.dialloc(parent, new.mode)?;
        self.init_inode_in(ino, &NewInode { parent, ..new.clone() }, t)?;
        self.name_add(parent, name, ino, new.mode)?;
        self.dir_touch(parent, i64::from(is_dir), t)?;
        Ok(ino)
    }

    /// Enters `name` → `ino` (of type `mode`) in directory `parent`, whatever its format; a
    /// shortform directory the name no longer fits becomes a block directory first
    /// (`xfs_dir2_sf_to_block`). The parent's times and link count are the caller's.
    fn name_add(&mut self, parent: u64, name: &[u8], ino: u64, mode: u16) -> Result<()> {
        let ft = if self.sb.ftype { ftype_of(mode) } else { 0 };
        // The parent read now: a new inode may share its block.
        let (off, mut blk, at, _) = self.read_inode(parent)?;
        match self.dir_inode(parent)?.1 {
            Some(d) => {
                let n = usize::from(self.sb.inodesize);
                let mut grown = d.clone();
                let fits = grown.add(name, ino, ft, self.sb.crc, self.sb.ftype, self.sb.dirblksize as usize)
                    && inode::set_local_fork(&self.sb, &mut blk[at..at + n], &grown.encode(self.sb.ftype));
                if fits {
                    inode::seal(&self.sb, &mut blk[at..at + n], self.bufs.lsn());
                    self.bufs.put(off, blk, None);
                    Ok(())
                } else {
                    self.sf_to_block(parent, &d)?;
                    self.dir_add(parent, name, ino, ft)
                }
            }
            None => self.dir_add(parent, name, ino, ft),
        }
    }

    /// Takes `name` out of directory `parent`, whatever its format; returns the inode it
    /// named. The inodes' link counts and times are the caller's.
    fn name_remove(&mut self, parent: u64, name: &[u8]) -> Result<u64> {
        match self.dir_inode(parent)?.1 {
            Some(mut d) => {
                let ino = d.remove(name).ok_or(Error::Os(Errno::NoEntry))?.ino;
                let n = usize::from(self.sb.inodesize);
                let (off, mut blk, at, _) = self.read_inode(parent)?;
                if !inode::set_local_fork(&self.sb, &mut blk[at..at + n], &d.encode(self.sb.ftype)) {
                    return Err(self.corrupt(format!("directory {parent}: a smaller shortform directory does not fit")));
                }
                inode::seal(&self.sb, &mut blk[at..at + n], self.bufs.lsn());
                self.bufs.put(off, blk, None);
                Ok(ino)
            }
            None => self.dir_remove(parent, name),
        }
    }

    /// The inode `name` names in directory `dir` (`..` included), if any; `ENOTDIR` when
    /// `dir` is not a directory.
    pub fn lookup(&self, dir: u64, name: &[u8]) -> Result<Option<u64>> {
        self.name_lookup(dir, name)
    }

    /// The inode `name` names in directory `dir`, if any.
    fn name_lookup(&self, dir: u64, name: &[u8]) -> Result<Option<u64>> {
        match self.dir_inode(dir)?.1 {
            Some(d) if name == b".." => Ok(Some(d.parent)),
            Some(d) => Ok(d.find(name).map(|e| e.ino)),
            None => self.dir_lookup(dir, name),
        }
    }

    /// Whether directory `dir` holds nothing but `.` and `..`.
    fn is_empty_dir(&self, dir: u64) -> Result<bool> {
        match self.dir_inode(dir)?.1 {
            Some(sub) => Ok(sub.entries.is_empty()),
            None => self.dir_is_empty(dir),
        }
    }

    /// Creates an empty regular file, an empty directory (shortform, `..` = `parent`), a fifo
    /// or a socket named `name` in directory `parent`, with `mode` (type and
    /// permission bits), `uid` and `gid`; returns its inode number. See the module
    /// documentation for what is refused.
    pub fn create(&mut self, parent: u64, name: &[u8], mode: u16, uid: u32, gid: u32) -> Result<u64> {
        if !matches!(mode & S_IFMT, 0o100000 | 0o040000 | 0o010000 | 0o140000) {
            return Err(Error::Os(Errno::Invalid));
        }
        self.begin();
        let r = self.create_in(parent, name, NewInode { mode, uid, gid, rdev: 0, parent, target: Vec::new() });
        self.end(r)
    }

    /// Creates a character or block device (`mode` with its type bits, `rdev` Linux's
    /// `makedev` number), fifo or socket named `name` in directory `parent`; returns its
    /// inode number.
    pub fn mknod(&mut self, parent: u64, name: &[u8], mode: u16, rdev: u64, uid: u32, gid: u32) -> Result<u64> {
        if !matches!(mode & S_IFMT, 0o020000 | 0o060000 | 0o010000 | 0o140000) {
            return Err(Error::Os(Errno::Invalid));
        }
        self.begin();
        let r = self.create_in(parent, name, NewInode { mode, uid, gid, rdev, parent, target: Vec::new() });
        self.end(r)
    }

    /// Creates a symlink named `name` to `target` in directory `parent` (the target
    /// kept in the inode: it must fit there); returns its inode number.
    pub fn symlink(&mut self, parent: u64, name: &[u8], target: &[u8], uid: u32, gid: u32) -> Result<u64> {
        self.begin();
        let r = self.create_in(parent, name, NewInode { mode: 0o120777, uid, gid, rdev: 0, parent, target: target.to_vec() });
        self.end(r)
    }

    /// `remove` inside an operation.
    fn remove_in(&mut self, parent: u64, name: &[u8]) -> Result<()> {
        check_name(name)?;
        let Some(child) = self.name_lookup(parent, name)? else { return Err(Error::Os(Errno::NoEntry)) };
        let (_, _, _, ti) = self.read_inode(child)?;
        let is_dir = ti.kind() == S_IFDIR;
        if is_dir && !self.is_empty_dir(child)? {
            return Err(Error::Os(Errno::NotEmpty));
        }
        let t = now();
        if self.name_remove(parent, name)? != child {
            return Err(self.corrupt(format!("directory {parent}: the entry removed is not the one looked up")));
        }
        self.dir_touch(parent, -i64::from(is_dir), t)?;
        // The inode loses a link (a directory both: its name and its `.`); the last one frees it.
        let left = if is_dir { 0 } else { ti.nlink.checked_sub(1).ok_or_else(|| self.corrupt(format!("inode {child}: link count 0 with a name")))? };
        if left == 0 {
            return self.difree(child);
        }
        self.relink(child, left, t)
    }

    /// Sets inode `ino`'s link count to `links` and its change time to `t`.
    fn relink(&mut self, ino: u64, links: u32, t: Timespec) -> Result<()> {
        let (off, mut blk, at, _) = self.read_inode(ino)?;
        let b = &mut blk[at..at + usize::from(self.sb.inodesize)];
        inode::set_nlink(b, links);
        inode::touch(&self.sb, b, t, false);
        inode::seal(&self.sb, b, self.bufs.lsn());
        self.bufs.put(off, blk, None);
        Ok(())
    }

    /// `link` inside an operation.
    fn link_in(&mut self, ino: u64, parent: u64, name: &[u8]) -> Result<()> {
        check_name(name)?;
        let (_, _, _, i) = self.inode_in_use(ino)?;
        if i.kind() == S_IFDIR {
            return Err(Error::Os(Errno::NotPermitted));
        }
        if i.nlink == u32::MAX {
            return Err(Error::Os(Errno::TooManyLinks));
        }
        if self.name_lookup(parent, name)?.is_some() {
            return Err(Error::Os(Errno::Exists));
        }
        let t = now();
        self.name_add(parent, name, ino, i.mode)?;
        self.dir_touch(parent, 0, t)?;
        self.relink(ino, i.nlink + 1, t)
    }

    /// `rename` inside an operation.
    fn rename_in(&mut self, dir: u64, name: &[u8], new_dir: u64, new_name: &[u8]) -> Result<()> {
        check_name(name)?;
        check_name(new_name)?;
        let Some(child) = self.name_lookup(dir, name)? else { return Err(Error::Os(Errno::NoEntry)) };
        let (_, _, _, ci) = self.read_inode(child)?;
        let is_dir = ci.kind() == S_IFDIR;
        self.dir_inode(new_dir)?;
        let target = self.name_lookup(new_dir, new_name)?;
        // the VFS's checks, in its order: a directory not into itself (EINVAL), a target that
        // holds the source not replaced (ENOTEMPTY), then the kinds
        if is_dir && self.is_ancestor(child, new_dir)? {
            return Err(Error::Os(Errno::Invalid));
        }
        if let Some(t) = target.filter(|&t| t != child) {
            if self.is_ancestor(t, dir)? {
                return Err(Error::Os(Errno::NotEmpty));
            }
        }
        match target {
            // the same inode under both names (hard links, or the name itself): nothing to do
            Some(target) if target == child => return Ok(()),
            Some(target) => {
                let target_dir = self.read_inode(target)?.3.kind() == S_IFDIR;
                match (is_dir, target_dir) {
                    (true, false) => return Err(Error::Os(Errno::NotDir)),
                    (false, true) => return Err(Error::Os(Errno::IsDir)),
                    // xfs_rename says EEXIST for a directory with entries (ext4: ENOTEMPTY)
                    (true, true) if !self.is_empty_dir(target)? => return Err(Error::Os(Errno::Exists)),
                    _ => {}
                }
                self.remove_in(new_dir, new_name)?;
            }
            None => {}
        }
        let t = now();
        if is_dir && dir != new_dir && new_dir != self.sb.rootino && self.read_inode(new_dir)?.3.nlink == u32::MAX {
            return Err(Error::Os(Errno::TooManyLinks));
        }
        self.name_add(new_dir, new_name, child, ci.mode)?;
        if self.name_remove(dir, name)? != child {
            return Err(self.corrupt(format!("directory {dir}: the entry removed is not the one looked up")));
        }
        let moved_dir = is_dir && dir != new_dir;
        if moved_dir {
            self.set_dotdot(child, new_dir)?;
        }
        self.dir_touch(dir, -i64::from(moved_dir), t)?;
        if new_dir != dir {
            self.dir_touch(new_dir, i64::from(moved_dir), t)?;
        }
        self.relink(child, ci.nlink, t)
    }

    /// Whether directory `anc` is `dir` or one of its ancestors (walking `..` up to the root).
    fn is_ancestor(&self, anc: u64, dir: u64) -> Result<bool> {
        let mut at = dir;
        for _ in 0..4096 {
            if at == anc {
                return Ok(true);
            }
            if at == self.sb.rootino {
                return Ok(false);
            }
            at = self.name_lookup(at, b"..")?.ok_or_else(|| self.corrupt(format!("directory {at}: no `..`")))?;
        }
        Err(self.corrupt(format!("directory {dir}: more than 4096 levels of `..` (a loop)")))
    }

    /// Points directory `dir`'s `..` at `parent`.
    fn set_dotdot(&mut self, dir: u64, parent: u64) -> Result<()> {
        match self.dir_inode(dir)?.1 {
            Some(mut d) => {
                d.parent = parent;
                let n = usize::from(self.sb.inodesize);
                let (off, mut blk, at, _) = self.read_inode(dir)?;
                if !inode::set_local_fork(&self.sb, &mut blk[at..at + n], &d.encode(self.sb.ftype)) {
                    return Err(self.unsupported(format!("directory {dir}: its shortform entries with an 8-byte parent number no longer fit the inode")));
                }
                inode::seal(&self.sb, &mut blk[at..at + n], self.bufs.lsn());
                self.bufs.put(off, blk, None);
                Ok(())
            }
            None => self.dir_set_dotdot(dir, parent),
        }
    }

    /// Adds the name `name` in directory `parent` for the existing inode `ino` (not a
    /// directory: `EPERM`, as Linux): a hard link, its link count up by one.
    pub fn link(&mut self, ino: u64, parent: u64, name: &[u8]) -> Result<()> {
        self.begin();
        let r = self.link_in(ino, parent, name);
        self.end(r)
    }

    /// `rename(2)`: moves `name` of directory `dir` to `new_name` of `new_dir`, replacing an
    /// existing target as POSIX does (a file by a file, an empty directory by a directory:
    /// `ENOTDIR`/`EISDIR`, `EEXIST` for a directory with entries as XFS says; `EINVAL` moving
    /// a directory into itself); a
    /// directory moved to another parent gets its `..` and both parents' link counts changed.
    pub fn rename(&mut self, dir: u64, name: &[u8], new_dir: u64, new_name: &[u8]) -> Result<()> {
        self.begin();
        let r = self.rename_in(dir, name, new_dir, new_name);
        self.end(r)
    }

    /// Removes the name `name` from directory `parent` (an empty directory, or
    /// any other file): the inode loses a link and is freed with its last one, its data and
    /// attribute fork blocks first (reflinked shared extents lose an owner instead). `ENOENT`
    /// without such a name, `ENOTEMPTY` for a directory with entries.
    pub fn remove(&mut self, parent: u64, name: &[u8]) -> Result<()> {
        self.begin();
        let r = self.remove_in(parent, name);
        self.end(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types() {
        assert!(check_name(b"ok").is_ok());
        for bad in [&b""[..], b".", b"..", b"a/b", b"a\0"] {
            assert!(matches!(check_name(bad), Err(Error::Os(Errno::Invalid))), "{bad:?}");
        }
        assert!(matches!(check_name(&[b'x'; 256]), Err(Error::Os(Errno::NameTooLong))));
        assert_eq!(ftype_of(0o100644), 1);
        assert_eq!(ftype_of(0o40755), 2);
        assert_eq!(ftype_of(0o120777), 7);
    }
}
