//! Growing a guest in place (`vresize --size`): the disk image, a partition (growpart's
//! rules), the LVM PV on it (pvresize), an LV (lvextend) and the filesystem inside (ext4 grow,
//! swap re-made keeping its UUID and label). [`inplace::run`] works on any writable device —
//! the image under a copy-on-write overlay, so the tool can run it first on a scratch overlay
//! to print the plan (and stop there with `--dry-run`), then for real and commit. [`copy`] is
//! virt-resize's copy mode onto a fresh output, laid out by [`layout`].

pub mod copy;
pub mod inplace;
pub mod layout;

/// Errors of resizing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A size that does not parse.
    #[error("--size {0}: expected a size like 20G or +10G (suffixes K, M, G, T: powers of 1024)")]
    BadSize(String),
    /// A size smaller than the disk.
    #[error("the disk is {old} bytes; {new} bytes would shrink it, which is not supported (vresize only grows)")]
    Shrink {
        /// Current size.
        old: u64,
        /// Requested size.
        new: u64,
    },
    /// A device name that is not on the disk.
    #[error("{0}: no such partition or logical volume on the disk")]
    NoSuchDevice(String),
    /// A copy-mode request that cannot be laid out (virt-resize's message).
    #[error("{0}")]
    Layout(String),
    /// Something not supported, named.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The block layer failed.
    #[error(transparent)]
    Disk(#[from] crate::disk::Error),
    /// A partition table could not be read or written.
    #[error(transparent)]
    Part(#[from] crate::part::Error),
    /// LVM metadata could not be read or written.
    #[error(transparent)]
    Lvm(#[from] crate::lvm::Error),
    /// A filesystem could not be examined or grown.
    #[error(transparent)]
    Fs(#[from] crate::fs::Error),
}

/// Result of resize calls.
pub type Result<T> = std::result::Result<T, Error>;

/// The new size for `spec` (`20G`, `+10G`, `1048576`) given the current size; a multiple of
/// 512 bytes.
pub fn parse_size(spec: &str, current: u64) -> Result<u64> {
    let bad = || Error::BadSize(spec.to_string());
    let (relative, s) = match spec.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, spec),
    };
    let s = s.trim_end_matches(['b', 'B']).trim_end_matches('i');
    let (num, shift) = match s.char_indices().last().ok_or_else(bad)? {
        (i, 'k' | 'K') => (&s[..i], 10),
        (i, 'm' | 'M') => (&s[..i], 20),
        (i, 'g' | 'G') => (&s[..i], 30),
        (i, 't' | 'T') => (&s[..i], 40),
        _ => (s, 0),
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let bytes = n.checked_mul(1u64 << shift).ok_or_else(bad)?;
    let size = if relative { current.checked_add(bytes).ok_or_else(bad)? } else { bytes };
    if size % 512 != 0 {
        return Err(Error::BadSize(format!("{spec} ({size} bytes is not a multiple of 512)")));
    }
    if size < current {
        return Err(Error::Shrink { old: current, new: size });
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let g = 1u64 << 30;
        assert_eq!(parse_size("20G", 2 * g).unwrap(), 20 * g);
        assert_eq!(parse_size("+10G", 2 * g).unwrap(), 12 * g);
        assert_eq!(parse_size("+512M", 0).unwrap(), 512 << 20);
        assert_eq!(parse_size("4096", 0).unwrap(), 4096);
        assert_eq!(parse_size("2GiB", 0).unwrap(), 2 * g);
        assert!(matches!(parse_size("1G", 2 * g), Err(Error::Shrink { .. })));
        assert!(parse_size("1000", 0).is_err());
        assert!(parse_size("x", 0).is_err());
        assert!(parse_size("+", 0).is_err());
        assert!(parse_size("99999999999T", 0).is_err());
    }
}
