//! Filesystem and volume signature probing, like `blkid -p`: reads a few superblocks at fixed
//! offsets and reports the type, UUID, label and version exactly as libblkid names them.
//!
//! Signatures are tried in libblkid's order — volume formats that wrap other data (LVM2 PV,
//! LUKS) first, then filesystems — so a swap or LUKS header is never misread as something else.
//! The first family whose checks pass wins; where `blkid -p` finds several signatures and
//! refuses with "ambivalent result", this reports the first in blkid's order. Every read is
//! bounded; a device shorter than a family's superblock is simply "not that type", and devices
//! of 1 KiB or less are never probed (as in libblkid).

mod btrfs;
mod ext;
pub(crate) mod fat;
mod iso9660;
mod luks;
mod lvm;
mod ntfs;
mod squashfs;
mod swap;
mod xfs;

use super::{Error, Result};
use crate::bytes::{array, be16, be32, be64, bytes, le16, le32, le64};
use crate::disk::{read_vec, BlockDev};

/// What [`probe`] found on a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsInfo {
    /// The blkid `TYPE`: `ext2`, `ext3`, `ext4`, `ext4dev`, `jbd`, `vfat`, `swap`,
    /// `swsuspend`, `xfs`, `btrfs`, `ntfs`, `iso9660`, `crypto_LUKS`, `LVM2_member`,
    /// `squashfs`, `squashfs3` (names exactly as blkid).
    pub fs_type: String,
    /// The `UUID` exactly as `blkid -p -o export` prints it (its format depends on the type).
    pub uuid: Option<String>,
    /// The `LABEL` as blkid reports it: trailing blanks removed, bytes that are not UTF-8
    /// replaced by U+FFFD. For FAT this is the root-directory volume-label entry (see `fat`).
    pub label: Option<String>,
    /// The `VERSION` where blkid prints one (`FAT32`, `1.0` for ext, `2` for LUKS…).
    pub version: Option<String>,
}

impl FsInfo {
    /// An `FsInfo` of type `fs_type` with nothing else known yet.
    fn new(fs_type: &str) -> FsInfo {
        FsInfo { fs_type: fs_type.to_string(), uuid: None, label: None, version: None }
    }
}

/// One probe: recognises one family of signatures on a device.
type ProbeFn = fn(&Reader) -> Result<Option<FsInfo>>;

/// The probes in libblkid's order (RAID-like and crypto containers first, then filesystems).
const PROBES: &[ProbeFn] = &[
    lvm::probe,
    luks::probe,
    fat::probe,
    swap::probe_swsuspend,
    swap::probe_swap,
    xfs::probe,
    ext::probe,
    iso9660::probe,
    ntfs::probe,
    squashfs::probe,
    btrfs::probe,
];

/// Identifies the filesystem or volume format on `dev`, as `blkid -p` would.
///
/// Reads only a few KB (superblocks at fixed offsets); `Ok(None)` when nothing is recognised.
/// Errors are I/O failures of the device and name it.
pub fn probe(dev: &dyn BlockDev) -> Result<Option<FsInfo>> {
    let reader = Reader { dev, len: dev.len() };
    if reader.len <= MIN_DEVICE {
        return Ok(None);
    }
    for p in PROBES {
        if let Some(info) = p(&reader)? {
            return Ok(Some(info));
        }
    }
    Ok(None)
}

/// libblkid does not look for superblocks on devices of 1 KiB or less.
const MIN_DEVICE: u64 = 1024;

/// Size of the largest "tiny" (floppy) device.
const TINY: u64 = 1440 * 1024;

/// The largest single read a probe makes.
const MAX_READ: usize = 64 * 1024;

/// Bounded reads from the probed device.
struct Reader<'a> {
    dev: &'a dyn BlockDev,
    len: u64,
}

impl Reader<'_> {
    /// Device size in bytes.
    fn len(&self) -> u64 {
        self.len
    }

    /// Whether libblkid treats the device as a floppy ("tiny": 1440 KiB or less), where it
    /// skips RAID-like signatures and reads FAT directories entry by entry.
    fn is_tiny(&self) -> bool {
        self.len <= TINY
    }

    /// Reads `len` bytes at `off`; `None` when they lie (partly) beyond the end of the device
    /// or exceed [`MAX_READ`].
    fn read(&self, off: u64, len: usize) -> Result<Option<Vec<u8>>> {
        if len > MAX_READ {
            return Ok(None);
        }
        match off.checked_add(len as u64) {
            Some(end) if end <= self.len => {}
            _ => return Ok(None),
        }
        read_vec(self.dev, off, len)
            .map(Some)
            .map_err(|source| Error::Probe { dev: self.dev.name(), source })
    }

    /// Whether the bytes at `off` equal `magic` (false when beyond the end).
    fn has_magic(&self, off: u64, magic: &[u8]) -> Result<bool> {
        Ok(self.read(off, magic.len())?.is_some_and(|b| b == magic))
    }
}

/// `raw` up to its first NUL: blkid's values are C strings.
fn cstr(raw: &[u8]) -> &[u8] {
    let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
    bytes(raw, 0, end)
}

/// A label as libblkid sets it: up to the first NUL, trailing whitespace removed, `None` when
/// empty.
fn label(raw: &[u8]) -> Option<String> {
    non_empty(rtrim(&String::from_utf8_lossy(cstr(raw))))
}

/// A UTF-16 label (`big_endian` or little), up to the first NUL, trailing whitespace removed.
fn utf16_label(raw: &[u8], big_endian: bool) -> Option<String> {
    let units: Vec<u16> = raw
        .chunks_exact(2)
        .map(|c| {
            let pair = [c.first().copied().unwrap_or(0), c.get(1).copied().unwrap_or(0)];
            if big_endian { u16::from_be_bytes(pair) } else { u16::from_le_bytes(pair) }
        })
        .take_while(|&u| u != 0)
        .collect();
    non_empty(rtrim(&String::from_utf16_lossy(&units)))
}

/// `s` without trailing C-locale whitespace (libblkid trims with `isspace`).
fn rtrim(s: &str) -> &str {
    s.trim_end_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r'])
}

/// `Some(s)` unless `s` is empty.
fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// A binary 16-byte UUID in the standard lowercase 8-4-4-4-12 form; `None` when all zeros
/// (libblkid does not report an empty UUID).
fn uuid(raw: &[u8; 16]) -> Option<String> {
    if raw.iter().all(|&b| b == 0) {
        return None;
    }
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let part = |a: usize, b: usize| hex.get(a..b).unwrap_or("");
    Some(format!("{}-{}-{}-{}-{}", part(0, 8), part(8, 12), part(12, 16), part(16, 20), part(20, 32)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::MemDev;

    #[test]
    fn zeros_are_nothing() {
        let dev = MemDev::new(vec![0; 256 * 1024]);
        assert_eq!(probe(&dev).unwrap(), None);
    }

    #[test]
    fn empty_device_is_nothing() {
        let dev = MemDev::new(Vec::new());
        assert_eq!(probe(&dev).unwrap(), None);
    }

    #[test]
    fn label_rules() {
        assert_eq!(label(b"abc  \0xyz"), Some("abc".into()));
        assert_eq!(label(b"    "), None);
        assert_eq!(utf16_label(b"\0a\0b\0 \0\0\0c", true), Some("ab".into()));
    }

    #[test]
    fn uuid_format() {
        let mut raw = [0u8; 16];
        assert_eq!(uuid(&raw), None);
        raw[0] = 0xab;
        raw[15] = 0x01;
        assert_eq!(uuid(&raw).as_deref(), Some("ab000000-0000-0000-0000-000000000001"));
    }
}
