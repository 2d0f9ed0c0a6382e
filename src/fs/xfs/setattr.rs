//! Attribute changes on the inode core (the kernel's `xfs_setattr_nonsize`): permission bits
//! ([`XfsWriter::chmod`]), owner and group ([`XfsWriter::chown`], which drops set-user-ID and
//! — with group execute — set-group-ID from anything but a directory, as Linux does), and the
//! access and modification times ([`XfsWriter::utimens`], in the inode's own format: bigtime
//! nanoseconds or 32-bit seconds). Each sets the change time to now, counts a change in
//! `di_changecount` (v5) and stamps the inode; each is one operation, whole or nothing. An
//! immutable or append-only inode is refused with `EPERM`, as `notify_change` refuses it.

use super::inode::{self, now, Inode, DIFLAG_APPEND, DIFLAG_IMMUTABLE};
use super::sb::Superblock;
use super::writer::XfsWriter;
use crate::fs::{Errno, Error, Result, Timespec};

/// `S_IFMT` type bits.
const S_IFMT: u16 = 0o170000;
/// Directory type.
const S_IFDIR: u16 = 0o040000;
/// Set-user-ID, set-group-ID and group execute bits.
const S_ISUID: u16 = 0o4000;
const S_ISGID: u16 = 0o2000;
const S_IXGRP: u16 = 0o0010;

/// `mode` without set-user-ID, and without set-group-ID when group-executable: what a chown
/// leaves of the mode of anything but a directory (`chown_common`, even for root).
fn drop_suid(mode: u16) -> u16 {
    let mode = mode & !S_ISUID;
    if mode & S_IXGRP != 0 { mode & !S_ISGID } else { mode }
}

impl XfsWriter {
    /// Inode `ino`, in use: its block's offset, the block, the inode's offset in it, and the
    /// inode. `ENOENT` for a free inode.
    pub(crate) fn inode_in_use(&self, ino: u64) -> Result<(u64, Vec<u8>, usize, Inode)> {
        let (off, blk, at) = self.inode_block(ino)?;
        let n = usize::from(self.sb.inodesize);
        let raw = blk.get(at..at + n).ok_or_else(|| self.corrupt(format!("inode {ino} outside its block")))?;
        let i = Inode::parse(&self.sb, ino, raw).map_err(|m| self.corrupt(m))?;
        if i.mode == 0 {
            return Err(Error::Os(Errno::NoEntry));
        }
        Ok((off, blk, at, i))
    }

    /// Changes inode `ino`'s core with `edit` (given its bytes and the parsed inode), sets the
    /// change time, counts the change and stamps the inode; inside an operation.
    fn setattr_in(&mut self, ino: u64, edit: impl FnOnce(&Superblock, &mut [u8], &Inode)) -> Result<()> {
        let (off, mut blk, at, i) = self.inode_in_use(ino)?;
        let b = &mut blk[at..at + usize::from(self.sb.inodesize)];
        if inode::flags(b) & (DIFLAG_IMMUTABLE | DIFLAG_APPEND) != 0 {
            return Err(Error::Os(Errno::NotPermitted));
        }
        edit(&self.sb, b, &i);
        inode::touch(&self.sb, b, now(), false);
        inode::seal(&self.sb, b, self.bufs.lsn());
        self.bufs.put(off, blk, None);
        Ok(())
    }

    /// Sets the permission bits (set-user-ID, set-group-ID, sticky and `rwx`: `mode & 0o7777`)
    /// of inode `ino`, keeping its file type.
    pub fn chmod(&mut self, ino: u64, mode: u16) -> Result<()> {
        self.begin();
        let r = self.setattr_in(ino, |_, b, i| inode::set_mode(b, (i.mode & S_IFMT) | (mode & 0o7777)));
        self.end(r)
    }

    /// Sets the owner and/or group of inode `ino` (`None` keeps one); anything but a directory
    /// loses set-user-ID, and set-group-ID when group-executable, as `chown(2)` does.
    pub fn chown(&mut self, ino: u64, uid: Option<u32>, gid: Option<u32>) -> Result<()> {
        self.begin();
        let r = self.setattr_in(ino, |_, b, i| {
            inode::set_owner(b, uid.unwrap_or(i.uid), gid.unwrap_or(i.gid));
            if i.kind() != S_IFDIR {
                inode::set_mode(b, drop_suid(i.mode));
            }
        });
        self.end(r)
    }

    /// Sets the access and/or modification time of inode `ino` (`None` keeps one); times the
    /// inode's format cannot hold are clamped to its range.
    pub fn utimens(&mut self, ino: u64, atime: Option<Timespec>, mtime: Option<Timespec>) -> Result<()> {
        self.begin();
        let r = self.setattr_in(ino, |sb, b, _| inode::set_times(sb, b, atime, mtime));
        self.end(r)
    }
}
