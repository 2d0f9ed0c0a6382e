//! Mapping of `rust-fs-ext4` errors onto ours: POSIX errnos where the kernel would return one,
//! `Corrupt` naming the damaged structure, `Unsupported` naming the feature.

use crate::fs::{Errno, Error};
use fs_ext4::features::{Incompat, RoCompat};

/// Converts errors of the crate for the filesystem on device `dev` of type `fs`.
pub(super) struct Mapper<'a> {
    /// The device name.
    pub dev: &'a str,
    /// The blkid type.
    pub fs: &'a str,
}

impl Mapper<'_> {
    /// A `Corrupt` error with `msg`.
    pub fn corrupt(&self, msg: impl Into<String>) -> Error {
        Error::Corrupt {
            dev: self.dev.to_string(),
            fs: self.fs.to_string(),
            msg: msg.into(),
        }
    }

    /// An `Unsupported` error for `feature`.
    pub fn unsupported(&self, feature: impl Into<String>) -> Error {
        Error::Unsupported {
            dev: self.dev.to_string(),
            fs: self.fs.to_string(),
            feature: feature.into(),
        }
    }

    /// Our error for a crate error.
    pub fn map(&self, e: fs_ext4::Error) -> Error {
        use fs_ext4::Error as E;
        match e {
            E::Io(io) => self.io(io),
            E::NotFound | E::Stale | E::InvalidInode(_) => Error::Os(Errno::NoEntry),
            E::NotADirectory => Error::Os(Errno::NotDir),
            E::IsADirectory => Error::Os(Errno::IsDir),
            E::NameTooLong => Error::Os(Errno::NameTooLong),
            E::InvalidArgument(_) => Error::Os(Errno::Invalid),
            E::AlreadyExists => Error::Os(Errno::Exists),
            E::DirectoryNotEmpty => Error::Os(Errno::NotEmpty),
            E::NoSpaceLeftOnDevice => Error::Os(Errno::NoSpace),
            E::TooManyLinks => Error::Os(Errno::TooManyLinks),
            E::ReadOnly | E::JournalNotReplayed => Error::Os(Errno::ReadOnlyFs),
            E::BadMagic { .. } => {
                self.corrupt("superblock: bad magic (not an ext2/3/4 filesystem)")
            }
            E::UnsupportedIncompat(bits) => {
                let known = Incompat::from_bits_truncate(bits);
                let names = known.iter_names().map(|(n, _)| n);
                self.unsupported(feature_list("INCOMPAT", names, bits & !known.bits()))
            }
            E::UnsupportedRoCompat(bits) => {
                let known = RoCompat::from_bits_truncate(bits);
                let names = known.iter_names().map(|(n, _)| n);
                self.unsupported(feature_list("RO_COMPAT", names, bits & !known.bits()))
            }
            E::Unsupported(what) => self.unsupported(what),
            other => self.corrupt(other.to_string()),
        }
    }

    /// A device error surfaced through the crate: a read outside the device means a block
    /// pointer is damaged; anything else is the block layer's failure.
    fn io(&self, io: std::io::Error) -> Error {
        let inner = match io.into_inner().map(|b| b.downcast::<crate::disk::Error>()) {
            Some(Ok(disk)) => *disk,
            Some(Err(other)) => return self.corrupt(format!("I/O: {other}")),
            None => return self.corrupt("I/O error"),
        };
        match inner {
            crate::disk::Error::OutOfRange { offset, .. } => self.corrupt(format!(
                "block pointer beyond the end of the device (byte {offset})"
            )),
            other => Error::Disk(other),
        }
    }
}

/// "INCOMPAT feature(s) casefold, unknown 0x80000000": the lower-cased flag names of a
/// feature set, then any bits no flag names.
fn feature_list<'a>(set: &str, names: impl Iterator<Item = &'a str>, unknown: u32) -> String {
    let mut parts: Vec<String> = names.map(str::to_ascii_lowercase).collect();
    if unknown != 0 {
        parts.push(format!("unknown {unknown:#x}"));
    }
    format!("{set} feature(s) {}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_errors_name_the_features() {
        let m = Mapper {
            dev: "d",
            fs: "ext4",
        };
        let e = m.map(fs_ext4::Error::UnsupportedIncompat(
            0x0002_0001 | 0x8000_0000,
        ));
        let Error::Unsupported { feature, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(
            feature,
            "INCOMPAT feature(s) compression, casefold, unknown 0x80000000"
        );
        let e = m.map(fs_ext4::Error::UnsupportedRoCompat(0x0080));
        let Error::Unsupported { feature, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(feature, "RO_COMPAT feature(s) has_snapshot");
    }

    #[test]
    fn errnos() {
        let m = Mapper {
            dev: "d",
            fs: "ext4",
        };
        assert!(matches!(
            m.map(fs_ext4::Error::NotFound),
            Error::Os(Errno::NoEntry)
        ));
        assert!(matches!(
            m.map(fs_ext4::Error::NotADirectory),
            Error::Os(Errno::NotDir)
        ));
        assert!(matches!(
            m.map(fs_ext4::Error::DirectoryNotEmpty),
            Error::Os(Errno::NotEmpty)
        ));
        assert!(matches!(
            m.map(fs_ext4::Error::NoSpaceLeftOnDevice),
            Error::Os(Errno::NoSpace)
        ));
        assert!(matches!(
            m.map(fs_ext4::Error::CorruptExtentTree("x")),
            Error::Corrupt { .. }
        ));
    }
}
