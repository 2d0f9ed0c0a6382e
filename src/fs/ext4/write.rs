//! Namespace and attribute changes: create, mkdir, mknod, symlink, link, unlink, rmdir,
//! rename, chmod, chown, utimens — each one `rust-fs-ext4` transaction, with the checks and
//! fixes the crate leaves to its caller: POSIX errnos it does not give (`EPERM` for a
//! directory hard link, `EINVAL` for a device number `dev_t` cannot carry), device numbers
//! stored as the kernel stores them, and set-id bits dropped by `chown` as the kernel drops
//! them.

use super::{dircheck, inode, Ctx};
use crate::fs::{Errno, Error, FileType, Ino, Result, Timespec};
use fs_ext4::fs::{TIME_OMIT, UTIME_OMIT};

/// Permission bits (with set-id and sticky).
const PERM_MASK: u32 = 0o7777;
const S_ISUID: u16 = 0o4000;
const S_ISGID: u16 = 0o2000;
const S_IXGRP: u16 = 0o0010;
/// `i_block` starts at this byte of an on-disk inode.
const OFF_BLOCK: usize = 0x28;
/// `i_extra_isize`, which says whether `i_checksum_hi` (0x82) exists.
const OFF_EXTRA_ISIZE: usize = 0x80;

/// The permission bits of `mode` as the crate takes them.
fn perm(mode: u32) -> u16 {
    // Masked to 12 bits, so it fits.
    (mode & PERM_MASK) as u16
}

/// `create(2)` of a regular file.
pub(super) fn create(c: &Ctx<'_>, dir: u32, name: &[u8], mode: u32) -> Result<Ino> {
    dircheck::before_change(c, c.checked, dir)?;
    let ino = c.ok(c.fs.apply_create_at(dir, name, perm(mode)))?;
    c.names.note(ino, dir, name);
    Ok(u64::from(ino))
}

/// `mkdir(2)`.
pub(super) fn mkdir(c: &Ctx<'_>, dir: u32, name: &[u8], mode: u32) -> Result<Ino> {
    dircheck::before_change(c, c.checked, dir)?;
    let ino = c.ok(c.fs.apply_mkdir_at(dir, name, perm(mode)))?;
    Ok(u64::from(ino))
}

/// `mknod(2)` of a fifo, socket or device; `rdev` is glibc's `makedev` number.
pub(super) fn mknod(c: &Ctx<'_>, dir: u32, name: &[u8], mode: u32, rdev: u64) -> Result<Ino> {
    let kind = FileType::from_mode(mode).ok_or(Error::Os(Errno::Invalid))?;
    let (major, minor) = match kind {
        FileType::CharDevice | FileType::BlockDevice => split_dev(rdev)?,
        FileType::Fifo | FileType::Socket => (0, 0),
        _ => return Err(Error::Os(Errno::Invalid)),
    };
    // Type bits plus permission bits: at most 0o177777, so it fits.
    let full = (kind.mode_bits() | (mode & PERM_MASK)) as u16;
    dircheck::before_change(c, c.checked, dir)?;
    let ino = c.ok(c.fs.apply_mknod_at(dir, name, full, major, minor))?;
    c.names.note(ino, dir, name);
    if matches!(kind, FileType::CharDevice | FileType::BlockDevice) {
        store_device_number(c, ino, major, minor)?;
    }
    Ok(u64::from(ino))
}

/// glibc's `major`/`minor` of `rdev`, refused with EINVAL when the kernel's 32-bit `dev_t`
/// (12-bit major, 20-bit minor) cannot hold them, as glibc's `mknod` refuses them.
fn split_dev(rdev: u64) -> Result<(u32, u32)> {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    if major > 0xfff || minor > 0xf_ffff {
        return Err(Error::Os(Errno::Invalid));
    }
    // Bounded just above.
    Ok((major as u32, minor as u32))
}

/// Rewrites a device inode's `i_block` as the kernel's `ext4_do_update_inode` does: the
/// old 16-bit encoding in word 0 when major and minor fit a byte each, else 0 there and
/// the new encoding in word 1. The crate writes both words always, and its word 0 then
/// holds a truncated number that every reader (the kernel, debugfs, ours) takes first.
fn store_device_number(c: &Ctx<'_>, ino: u32, major: u32, minor: u32) -> Result<()> {
    let words = kernel_dev_words(major, minor);
    let (node, mut raw) = c.ok(c.fs.read_inode_verified(ino))?;
    if raw.len() < OFF_BLOCK + 8 {
        return Err(c.err.corrupt(format!("inode {ino}: shorter than 128 bytes")));
    }
    let mut want = [0u8; 8];
    want[..4].copy_from_slice(&words[0].to_le_bytes());
    want[4..].copy_from_slice(&words[1].to_le_bytes());
    if raw[OFF_BLOCK..OFF_BLOCK + 8] == want {
        return Ok(());
    }
    raw[OFF_BLOCK..OFF_BLOCK + 8].copy_from_slice(&want);
    if let Some((lo, hi)) = c.fs.csum.compute_inode_checksum(ino, node.generation, &raw) {
        raw[0x7c..0x7e].copy_from_slice(&lo.to_le_bytes());
        let extra = u16::from_le_bytes([raw[OFF_EXTRA_ISIZE], raw[OFF_EXTRA_ISIZE + 1]]);
        if extra >= 4 && raw.len() >= 0x84 {
            raw[0x82..0x84].copy_from_slice(&hi.to_le_bytes());
        }
    }
    c.ok(c.fs.write_inode_raw(ino, &raw))?;
    // The number read back through the crate must be the one asked for.
    let mut block = [0u8; 60];
    block.copy_from_slice(&c.ok(c.fs.stat_ino(ino))?.block);
    if inode::device_number(&block) != inode::makedev(major, minor) {
        return Err(c.err.corrupt(format!("inode {ino}: device number did not stick")));
    }
    Ok(())
}

/// The kernel's `i_block[0]`, `i_block[1]` for a device.
fn kernel_dev_words(major: u32, minor: u32) -> [u32; 2] {
    if major < 256 && minor < 256 {
        [(major << 8) | minor, 0]
    } else {
        [0, (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)]
    }
}

/// `symlink(2)`: a fast symlink (in the inode) below 60 bytes, else one block.
pub(super) fn symlink(c: &Ctx<'_>, dir: u32, name: &[u8], target: &[u8]) -> Result<Ino> {
    if target.is_empty() {
        return Err(Error::Os(Errno::NoEntry));
    }
    if target.contains(&0) {
        return Err(Error::Os(Errno::Invalid));
    }
    dircheck::before_change(c, c.checked, dir)?;
    let ino = c.ok(c.fs.apply_symlink_at(dir, name, target))?;
    c.names.note(ino, dir, name);
    Ok(u64::from(ino))
}

/// `link(2)`: EPERM for a directory, as Linux answers.
pub(super) fn link(c: &Ctx<'_>, ino: u32, dir: u32, name: &[u8]) -> Result<()> {
    if c.ok(c.fs.stat_ino(ino))?.is_dir() {
        return Err(Error::Os(Errno::NotPermitted));
    }
    dircheck::before_change(c, c.checked, dir)?;
    c.ok(c.fs.apply_link_at(ino, dir, name))?;
    c.names.note(ino, dir, name);
    Ok(())
}

/// `unlink(2)`: EISDIR for a directory.
pub(super) fn unlink(c: &Ctx<'_>, dir: u32, name: &[u8]) -> Result<()> {
    dircheck::before_change(c, c.checked, dir)?;
    c.ok(c.fs.apply_unlink_at(dir, name))
}

/// `rmdir(2)`: ENOTDIR for a non-directory, ENOTEMPTY for a directory with entries.
pub(super) fn rmdir(c: &Ctx<'_>, dir: u32, name: &[u8]) -> Result<()> {
    dircheck::before_change(c, c.checked, dir)?;
    dircheck::moved_dir(c, dir, name)?;
    c.ok(c.fs.apply_rmdir_at(dir, name))
}

/// `rename(2)`, replacing an existing target as POSIX does.
pub(super) fn rename(c: &Ctx<'_>, dir: u32, name: &[u8], new_dir: u32, new_name: &[u8]) -> Result<()> {
    dircheck::before_change(c, c.checked, dir)?;
    dircheck::before_change(c, c.checked, new_dir)?;
    dircheck::moved_dir(c, dir, name)?;
    c.ok(c.fs.apply_rename_at(dir, name, new_dir, new_name, true))?;
    if let Ok(ino) = c.fs.lookup_at(new_dir, new_name) {
        c.names.note(ino, new_dir, new_name);
    }
    Ok(())
}

/// `chmod(2)`.
pub(super) fn chmod(c: &Ctx<'_>, ino: u32, mode: u32) -> Result<()> {
    c.ok(c.fs.apply_chmod_ino(ino, perm(mode)))
}

/// `chown(2)`. As Linux does (even for root), a non-directory loses set-user-ID, and
/// set-group-ID when group execute is set.
pub(super) fn chown(c: &Ctx<'_>, ino: u32, uid: Option<u32>, gid: Option<u32>) -> Result<()> {
    c.ok(c.fs.apply_chown_ino(ino, uid.unwrap_or(u32::MAX), gid.unwrap_or(u32::MAX)))?;
    let node = c.ok(c.fs.stat_ino(ino))?;
    if node.is_dir() {
        return Ok(());
    }
    let mut kill = S_ISUID;
    if node.mode & S_IXGRP != 0 {
        kill |= S_ISGID;
    }
    if node.mode & kill != 0 {
        c.ok(c.fs.apply_chmod_ino(ino, node.mode & 0o7777 & !kill))?;
    }
    Ok(())
}

/// `utimensat(2)` with explicit times; `None` leaves a time as it is.
pub(super) fn utimens(
    c: &Ctx<'_>,
    ino: u32,
    atime: Option<Timespec>,
    mtime: Option<Timespec>,
) -> Result<()> {
    let pair = |t: Option<Timespec>| match t {
        Some(t) if t.nsec >= 1_000_000_000 => Err(Error::Os(Errno::Invalid)),
        Some(t) => Ok((t.sec, t.nsec)),
        None => Ok((TIME_OMIT, UTIME_OMIT)),
    };
    let (asec, ansec) = pair(atime)?;
    let (msec, mnsec) = pair(mtime)?;
    c.ok(c.fs.apply_utimens_ino(ino, asec, ansec, msec, mnsec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_split_is_glibc() {
        assert_eq!(split_dev(inode::makedev(8, 1)).ok(), Some((8, 1)));
        assert_eq!(split_dev(inode::makedev(300, 70000)).ok(), Some((300, 70000)));
        assert!(split_dev(inode::makedev(4096, 0)).is_err());
        assert!(split_dev(inode::makedev(1, 0x10_0000)).is_err());
    }

    #[test]
    fn kernel_encoding() {
        assert_eq!(kernel_dev_words(8, 1), [0x0801, 0]);
        let [w0, w1] = kernel_dev_words(300, 70000);
        assert_eq!(w0, 0);
        let mut b = [0u8; 60];
        b[4..8].copy_from_slice(&w1.to_le_bytes());
        assert_eq!(inode::device_number(&b), inode::makedev(300, 70000));
    }
}
