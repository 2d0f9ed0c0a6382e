//! Links: reparse points (`$REPARSE_POINT`) and Interix files, shown as ntfs-3g shows them.
//!
//! - `IO_REPARSE_TAG_SYMLINK`: a relative target (flag 1) is the substitute name with `\`
//!   turned into `/`; an absolute one (`\??\C:\dir\file`) becomes `/dir/file`. ntfs-3g puts its
//!   mount point in front (`/mnt/dir/file`); we resolve inside the guest, whose `/` is the
//!   volume, so the mount point is `/`. Any drive letter is taken as this volume.
//! - `IO_REPARSE_TAG_MOUNT_POINT` (junctions): the same as an absolute symlink. Volume-GUID
//!   targets (`\??\Volume{…}\`) are kept with their slashes turned.
//! - `IO_REPARSE_TAG_LX_SYMLINK` (WSL): version 2, then the UTF-8 target as is.
//! - Interix (SFU) files, ntfs-3g's own symlinks and devices: a file with the SYSTEM attribute
//!   whose data is `IntxLNK\x01` and a UTF-16 target, `IntxCHR\0`/`IntxBLK\0` and two 64-bit
//!   device numbers; empty system files are FIFOs and one-byte ones sockets.

/// Reparse tags we show as links.
pub(super) const TAG_MOUNT_POINT: u32 = 0xA000_0003;
pub(super) const TAG_SYMLINK: u32 = 0xA000_000C;
pub(super) const TAG_LX_SYMLINK: u32 = 0xA000_001D;

/// The tag of a reparse point's data.
pub(super) fn tag(data: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(..4)?.try_into().ok()?))
}

/// Whether the tag is one shown as a symbolic link.
pub(super) fn is_link_tag(tag: u32) -> bool {
    matches!(tag, TAG_MOUNT_POINT | TAG_SYMLINK | TAG_LX_SYMLINK)
}

fn le16(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?)))
}

/// The link target of a reparse point, or an error naming what is malformed.
pub(super) fn target(data: &[u8]) -> Result<Vec<u8>, String> {
    let tag = tag(data).ok_or("reparse point shorter than its header")?;
    let len = le16(data, 4).ok_or("reparse point shorter than its header")?;
    let body = data.get(8..8 + len).ok_or("reparse data longer than its attribute")?;
    let bad = |what: &str| format!("reparse point (tag {tag:#010x}): {what}");
    match tag {
        TAG_LX_SYMLINK => {
            let version = body.get(..4).ok_or_else(|| bad("WSL symlink without a version"))?;
            if version != [2, 0, 0, 0] {
                return Err(bad("WSL symlink version is not 2"));
            }
            Ok(body[4..].to_vec())
        }
        TAG_SYMLINK | TAG_MOUNT_POINT => {
            let (path_at, flags) = if tag == TAG_SYMLINK {
                (12, u32::from_le_bytes(body.get(8..12).ok_or_else(|| bad("symlink header cut short"))?.try_into().map_err(|_| bad("flags"))?))
            } else {
                (8, 0)
            };
            let (off, n) = (le16(body, 0).ok_or_else(|| bad("header cut short"))?, le16(body, 2).ok_or_else(|| bad("header cut short"))?);
            let name = body.get(path_at + off..path_at + off + n).ok_or_else(|| bad("substitute name outside the reparse data"))?;
            let name: Vec<u16> = name.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
            let name = String::from_utf16_lossy(&name).replace('\\', "/");
            Ok(translate(&name, tag == TAG_SYMLINK && flags & 1 != 0).into_bytes())
        }
        _ => Err(bad("not a link")),
    }
}

/// A Windows target with its slashes turned: relative ones stay, `/??/C:/x` becomes `/x`.
fn translate(name: &str, relative: bool) -> String {
    if relative {
        return name.to_string();
    }
    let rest = name.strip_prefix("/??/").unwrap_or(name);
    let b = rest.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        let path = &rest[2..];
        return if path.is_empty() { "/".to_string() } else { path.to_string() };
    }
    name.to_string()
}

/// What an Interix (system-attribute) file is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Interix {
    Symlink,
    CharDevice(u64, u64),
    BlockDevice(u64, u64),
    Fifo,
    Socket,
}

/// Longest Interix file ntfs-3g looks into (its symlink target limit, `PATH_MAX` UTF-16).
pub(super) const INTERIX_MAX: u64 = 8 + 4096 * 2;

/// What a system file of `size` bytes whose first bytes are `head` is, as ntfs-3g decides.
pub(super) fn interix(size: u64, head: &[u8]) -> Option<Interix> {
    match size {
        0 => return Some(Interix::Fifo),
        1 => return Some(Interix::Socket),
        _ => {}
    }
    let magic = head.get(..8)?;
    let dev = |at: usize| head.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    match magic {
        b"IntxLNK\x01" => Some(Interix::Symlink),
        b"IntxCHR\0" if size == 24 => Some(Interix::CharDevice(dev(8)?, dev(16)?)),
        b"IntxBLK\0" if size == 24 => Some(Interix::BlockDevice(dev(8)?, dev(16)?)),
        _ => None,
    }
}

/// The target of an Interix symlink whose whole data is `data`.
pub(super) fn interix_target(data: &[u8]) -> Vec<u8> {
    let units: Vec<u16> = data.get(8..).unwrap_or(&[]).chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    String::from_utf16_lossy(&units).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symlink(sub: &str, flags: u32) -> Vec<u8> {
        let s: Vec<u8> = sub.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let mut body = vec![];
        for v in [0u16, s.len() as u16, s.len() as u16, 0] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        body.extend_from_slice(&flags.to_le_bytes());
        body.extend_from_slice(&s);
        let mut d = TAG_SYMLINK.to_le_bytes().to_vec();
        d.extend_from_slice(&(body.len() as u16).to_le_bytes());
        d.extend_from_slice(&[0, 0]);
        d.extend(body);
        d
    }

    #[test]
    fn symlink_targets() {
        assert_eq!(target(&symlink("..\\a\\b", 1)).unwrap(), b"../a/b");
        assert_eq!(target(&symlink("\\??\\C:\\Windows\\x.exe", 0)).unwrap(), b"/Windows/x.exe");
        assert_eq!(target(&symlink("\\??\\D:\\", 0)).unwrap(), b"/");
        let mut cut = symlink("abc", 1);
        cut.truncate(cut.len() - 1);
        assert!(target(&cut).is_err());
        assert!(target(&[1, 2]).is_err());
    }

    #[test]
    fn interix_kinds() {
        assert_eq!(interix(0, &[]), Some(Interix::Fifo));
        assert_eq!(interix(12, b"IntxLNK\x01a\0b\0"), Some(Interix::Symlink));
        assert_eq!(interix_target(b"IntxLNK\x01a\0b\0"), b"ab");
        assert_eq!(interix(12, b"MZ\0\0\0\0\0\0\0\0\0\0"), None);
    }
}
