//! Creating and removing names in shortform directories (the kernel's `xfs_create`,
//! `xfs_symlink` and `xfs_remove` for a parent whose entries live inside its inode): a new
//! inode ([`XfsWriter::dialloc`], [`super::inode::init_new`]) linked under a name
//! ([`SfDir::add`], offsets and 4/8-byte inode numbers as `xfs_dir2_sf_addname`), the parent's
//! times, change count and — for a directory — link count updated; removal unlinks the name
//! and frees the inode when its last link goes (it must own no blocks: empty files, short
//! symlinks, empty directories, special files).
//!
//! A parent in block, leaf, node or btree format, or one the new entry would push out of the
//! inode (to the block format), is refused with [`Error::Unsupported`] naming the format:
//! those conversions are a later step. Each call is one operation: whole or nothing.

use super::dir2::sf::SfDir;
use super::inode::{self, Format, Inode, NewInode};
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

/// The current time.
fn now() -> Timespec {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Timespec { sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX), nsec: d.subsec_nanos() }
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
    fn unsupported(&self, what: String) -> Error {
        Error::Unsupported { dev: self.bufs.dev_name(), fs: "xfs".into(), feature: format!("writing: {what}") }
    }

    /// Inode `ino`: its block's offset, the block, the inode's offset in it, and the inode.
    fn read_inode(&self, ino: u64) -> Result<(u64, Vec<u8>, usize, Inode)> {
        let (off, blk, at) = self.inode_block(ino)?;
        let n = usize::from(self.sb.inodesize);
        let i = Inode::parse(&self.sb, ino, &blk[at..at + n]).map_err(|m| self.corrupt(m))?;
        if i.mode == 0 {
            return Err(self.corrupt(format!("inode {ino} is free (mode 0) but a directory names it")));
        }
        Ok((off, blk, at, i))
    }

    /// Directory `dir` decoded, refusing the formats not written yet.
    fn sf_dir(&self, dir: u64) -> Result<(u64, Vec<u8>, usize, Inode, SfDir)> {
        let (off, blk, at, i) = self.read_inode(dir)?;
        if i.kind() != S_IFDIR {
            return Err(Error::Os(Errno::NotDir));
        }
        if i.format != Format::Local {
            return Err(self.unsupported(format!("directory {dir} is in block/leaf/node/btree format ({:?} data fork); only shortform directories are written yet", i.format)));
        }
        let d = SfDir::decode(&i.data_fork, i.size, self.sb.ftype).map_err(|m| self.corrupt(format!("directory {dir}: {m}")))?;
        Ok((off, blk, at, i, d))
    }

    /// `create`/`symlink` inside an operation.
    fn create_in(&mut self, parent: u64, name: &[u8], new: NewInode) -> Result<u64> {
        check_name(name)?;
        let (_, _, _, pi, d) = self.sf_dir(parent)?;
        if d.find(name).is_some() {
            return Err(Error::Os(Errno::Exists));
        }
        let is_dir = new.mode & S_IFMT == S_IFDIR;
        if is_dir && pi.nlink == u32::MAX {
            return Err(Error::Os(Errno::TooManyLinks));
        }
        let t = now();
        let ino = self.dialloc(parent, new.mode)?;
        self.init_inode_in(ino, &NewInode { parent, ..new.clone() }, t)?;
        // The parent again: the new inode may share its block.
        let (off, mut blk, at, pi, mut d) = self.sf_dir(parent)?;
        let n = usize::from(self.sb.inodesize);
        let full = || format!("directory {parent} is full in shortform; the block format it would convert to is not written yet");
        if !d.add(name, ino, if self.sb.ftype { ftype_of(new.mode) } else { 0 }, self.sb.crc, self.sb.ftype, self.sb.dirblksize as usize) {
            return Err(self.unsupported(full()));
        }
        let b = &mut blk[at..at + n];
        if !inode::set_local_fork(&self.sb, b, &d.encode(self.sb.ftype)) {
            return Err(self.unsupported(full()));
        }
        if is_dir {
            inode::set_nlink(b, pi.nlink + 1);
        }
        inode::touch(&self.sb, b, t, true);
        inode::seal(&self.sb, b, self.bufs.lsn());
        self.bufs.put(off, blk, None);
        Ok(ino)
    }

    /// Creates an empty regular file, an empty directory (shortform, `..` = `parent`), a fifo
    /// or a socket named `name` in shortform directory `parent`, with `mode` (type and
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

    /// Creates a symlink named `name` to `target` in shortform directory `parent` (the target
    /// kept in the inode: it must fit there); returns its inode number.
    pub fn symlink(&mut self, parent: u64, name: &[u8], target: &[u8], uid: u32, gid: u32) -> Result<u64> {
        self.begin();
        let r = self.create_in(parent, name, NewInode { mode: 0o120777, uid, gid, rdev: 0, parent, target: target.to_vec() });
        self.end(r)
    }

    /// `remove` inside an operation.
    fn remove_in(&mut self, parent: u64, name: &[u8]) -> Result<()> {
        check_name(name)?;
        let (off, mut blk, at, pi, mut d) = self.sf_dir(parent)?;
        let Some(e) = d.remove(name) else { return Err(Error::Os(Errno::NoEntry)) };
        let (_, _, _, ti) = self.read_inode(e.ino)?;
        let is_dir = ti.kind() == S_IFDIR;
        if is_dir {
            if ti.format != Format::Local {
                return Err(self.unsupported(format!("directory {} is in block/leaf/node/btree format; only shortform directories are written yet", e.ino)));
            }
            let sub = SfDir::decode(&ti.data_fork, ti.size, self.sb.ftype).map_err(|m| self.corrupt(format!("directory {}: {m}", e.ino)))?;
            if !sub.entries.is_empty() {
                return Err(Error::Os(Errno::NotEmpty));
            }
        }
        let t = now();
        let n = usize::from(self.sb.inodesize);
        let b = &mut blk[at..at + n];
        if !inode::set_local_fork(&self.sb, b, &d.encode(self.sb.ftype)) {
            return Err(self.corrupt(format!("directory {parent}: a smaller shortform directory does not fit")));
        }
        if is_dir {
            let Some(nl) = pi.nlink.checked_sub(1).filter(|&n| n >= 2) else {
                return Err(self.corrupt(format!("directory {parent}: link count {} with a subdirectory", pi.nlink)));
            };
            inode::set_nlink(b, nl);
        }
        inode::touch(&self.sb, b, t, true);
        inode::seal(&self.sb, b, self.bufs.lsn());
        self.bufs.put(off, blk, None);
        // The inode loses a link (a directory both: its name and its `.`); the last one frees it.
        let left = if is_dir { 0 } else { ti.nlink.checked_sub(1).ok_or_else(|| self.corrupt(format!("inode {}: link count 0 with a name", e.ino)))? };
        if left == 0 {
            return self.difree(e.ino);
        }
        let (toff, mut tblk, tat, _) = self.read_inode(e.ino)?;
        let b = &mut tblk[tat..tat + n];
        inode::set_nlink(b, left);
        inode::touch(&self.sb, b, t, false);
        inode::seal(&self.sb, b, self.bufs.lsn());
        self.bufs.put(toff, tblk, None);
        Ok(())
    }

    /// Removes the name `name` from shortform directory `parent` (an empty directory, or
    /// any other file): the inode loses a link and is freed with its last one (it must own no
    /// blocks). `ENOENT` without such a name, `ENOTEMPTY` for a directory with entries.
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
