//! The shortform attribute fork (`xfs_attr_shortform`): a 4-byte header (`totsize`, the
//! whole fork's used bytes; `count`; one pad byte) and `count` entries of `namelen`,
//! `valuelen`, `flags` (namespace: ROOT = trusted, SECURE = security, none = user; PARENT,
//! INCOMPLETE), the name, then the value — unaligned, in the order they were added.
//! Decoded raw (every entry kept, whatever its flags) for the writer, which re-encodes it.

use crate::bytes::be16;

/// Header length.
pub const HDR: usize = 4;
/// Largest name or value a shortform entry holds (`valuelen` is one byte; the kernel keeps
/// both under `XFS_ATTR_SF_ENTSIZE_MAX`).
pub const MAX_PART: usize = 254;

/// One shortform entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SfAttr {
    /// `XFS_ATTR_*` flags (namespace and state).
    pub flags: u8,
    /// The name, without namespace prefix.
    pub name: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
}

impl SfAttr {
    /// Bytes the entry takes (`xfs_attr_sf_entsize_byname`).
    pub fn size(&self) -> usize {
        3 + self.name.len() + self.value.len()
    }
}

/// Decodes a shortform attribute fork (`fork` is the fork's bytes in the inode): every entry,
/// bounded by `totsize` and the fork.
pub fn decode(fork: &[u8]) -> Result<Vec<SfAttr>, String> {
    if fork.len() < HDR {
        return Err(format!("shortform attributes: a fork of {} bytes", fork.len()));
    }
    let total = usize::from(be16(fork, 0));
    if total < HDR || total > fork.len() {
        return Err(format!("shortform attributes: {total} bytes in a fork of {}", fork.len()));
    }
    let b = &fork[..total];
    let count = usize::from(b[2]);
    let mut p = HDR;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        if p + 3 > b.len() {
            return Err(format!("shortform attribute {i} runs past the fork"));
        }
        let (nl, vl, flags) = (usize::from(b[p]), usize::from(b[p + 1]), b[p + 2]);
        if p + 3 + nl + vl > b.len() {
            return Err(format!("shortform attribute {i} runs past the fork"));
        }
        out.push(SfAttr { flags, name: b[p + 3..p + 3 + nl].to_vec(), value: b[p + 3 + nl..p + 3 + nl + vl].to_vec() });
        p += 3 + nl + vl;
    }
    Ok(out)
}

/// Bytes `entries` take encoded, header included (`totsize`).
pub fn total(entries: &[SfAttr]) -> usize {
    HDR + entries.iter().map(SfAttr::size).sum::<usize>()
}

/// Encodes `entries` (at most 255 of them, each part at most [`MAX_PART`] bytes: the caller
/// checks) as a shortform fork of [`total`] bytes.
pub fn encode(entries: &[SfAttr]) -> Vec<u8> {
    let t = total(entries);
    let mut b = Vec::with_capacity(t);
    b.extend_from_slice(&(t as u16).to_be_bytes());
    b.push(entries.len() as u8);
    b.push(0);
    for e in entries {
        b.extend_from_slice(&[e.name.len() as u8, e.value.len() as u8, e.flags]);
        b.extend_from_slice(&e.name);
        b.extend_from_slice(&e.value);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        let e = vec![SfAttr { flags: 4, name: b"selinux".to_vec(), value: b"system_u:object_r:etc_t:s0\0".to_vec() }, SfAttr { flags: 0, name: b"x".to_vec(), value: vec![] }];
        let b = encode(&e);
        assert_eq!(b.len(), total(&e));
        assert_eq!(decode(&b).unwrap(), e);
        let mut padded = b.clone();
        padded.extend_from_slice(&[0; 9]);
        assert_eq!(decode(&padded).unwrap(), e);
        assert!(decode(&b[..b.len() - 1]).is_err());
        assert!(decode(&[0, 3, 0, 0]).is_err());
        let mut lying = b.clone();
        lying[2] = 3;
        assert!(decode(&lying).is_err());
    }
}
