//! What crosses the FUSE boundary: an inode's [`Stat`] as the kernel's `struct fuse_attr`,
//! device numbers in the kernel's 32-bit encoding, times, and our errors as error numbers.

use crate::fs::{self, major, makedev, minor, FileType, Stat, Timespec};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `t` as a [`SystemTime`] (times before 1970 too).
pub fn system_time(t: Timespec) -> SystemTime {
    let nanos = Duration::new(t.sec.unsigned_abs(), t.nsec.min(999_999_999));
    if t.sec >= 0 {
        UNIX_EPOCH + nanos
    } else {
        UNIX_EPOCH - Duration::from_secs(t.sec.unsigned_abs()) + Duration::from_nanos(u64::from(t.nsec.min(999_999_999)))
    }
}

/// `t` as a [`Timespec`].
pub fn timespec(t: SystemTime) -> Timespec {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => Timespec { sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX), nsec: d.subsec_nanos() },
        Err(e) => {
            let d = e.duration();
            let (sec, nsec) = (-i64::try_from(d.as_secs()).unwrap_or(i64::MAX), d.subsec_nanos());
            if nsec == 0 { Timespec { sec, nsec } } else { Timespec { sec: sec - 1, nsec: 1_000_000_000 - nsec } }
        }
    }
}

/// The FUSE file type of `t`.
pub fn kind(t: FileType) -> fuser::FileType {
    match t {
        FileType::Regular => fuser::FileType::RegularFile,
        FileType::Directory => fuser::FileType::Directory,
        FileType::Symlink => fuser::FileType::Symlink,
        FileType::CharDevice => fuser::FileType::CharDevice,
        FileType::BlockDevice => fuser::FileType::BlockDevice,
        FileType::Fifo => fuser::FileType::NamedPipe,
        FileType::Socket => fuser::FileType::Socket,
    }
}

/// Device number `dev` (glibc's encoding) as the kernel's 32-bit `new_encode_dev`.
pub fn encode_dev(dev: u64) -> u32 {
    let (ma, mi) = (major(dev), minor(dev));
    (mi & 0xff) | ((ma & 0xfff) << 8) | ((mi & !0xff) << 12)
}

/// The kernel's 32-bit device number (`new_decode_dev`) in glibc's encoding.
pub fn decode_dev(rdev: u32) -> u64 {
    makedev((rdev & 0xfff00) >> 8, (rdev & 0xff) | ((rdev >> 12) & 0xfff00))
}

/// `st` of FUSE inode `ino` as the kernel's attributes.
pub fn file_attr(ino: u64, st: &Stat) -> fuser::FileAttr {
    fuser::FileAttr {
        ino: fuser::INodeNo(ino),
        size: st.size,
        blocks: st.blocks,
        atime: system_time(st.atime),
        mtime: system_time(st.mtime),
        ctime: system_time(st.ctime),
        crtime: system_time(st.ctime),
        kind: st.file_type().map_or(fuser::FileType::RegularFile, kind),
        perm: (st.mode & 0o7777) as u16,
        nlink: u32::try_from(st.nlink).unwrap_or(u32::MAX),
        uid: st.uid,
        gid: st.gid,
        rdev: encode_dev(st.rdev),
        blksize: u32::try_from(st.blksize).unwrap_or(4096),
        flags: 0,
    }
}

/// The error number a FUSE reply carries for `e`: POSIX errors as they are; damage, features
/// we do not handle and I/O failures as `EIO`, `EOPNOTSUPP`, `EIO` (the message goes to the
/// log: the kernel passes on only the number).
pub fn errno(e: &fs::Error) -> fuser::Errno {
    match e {
        fs::Error::Os(n) => fuser::Errno::from_i32(n.raw()),
        fs::Error::Unsupported { .. } => fuser::Errno::from_i32(libc::EOPNOTSUPP),
        fs::Error::Resize { .. } => fuser::Errno::from_i32(libc::EINVAL),
        _ => fuser::Errno::from_i32(libc::EIO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_round_trip_through_the_kernel_encoding() {
        for (ma, mi) in [(8, 1), (1, 3), (259, 0x12345), (4095, 255)] {
            let d = makedev(ma, mi);
            assert_eq!(decode_dev(encode_dev(d)), d, "{ma}:{mi}");
        }
        // sda1 is 8:1 = 0x801 in the kernel's encoding.
        assert_eq!(encode_dev(makedev(8, 1)), 0x801);
    }

    #[test]
    fn times_round_trip_either_side_of_1970() {
        for t in [Timespec { sec: 1_700_000_000, nsec: 5 }, Timespec { sec: -1, nsec: 999_999_999 }, Timespec { sec: -100, nsec: 0 }] {
            assert_eq!(timespec(system_time(t)), t);
        }
    }
}
