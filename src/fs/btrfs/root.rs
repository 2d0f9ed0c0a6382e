//! Root items (where each tree's root block is) and root refs (where a subvolume is linked
//! into its parent).

use super::tree::Root;
use crate::bytes::{le16, le64};

/// Bytes of a root item read (up to `level`).
const MIN_SIZE: usize = 239;

/// The parts of a root item the reader uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootItem {
    /// The tree's root block.
    pub root: Root,
    /// The tree's root directory (256 for subvolumes).
    pub dirid: u64,
    /// Flags (bit 0: read-only snapshot).
    pub flags: u64,
}

impl RootItem {
    /// Parses a root item.
    pub fn parse(b: &[u8]) -> Result<RootItem, String> {
        if b.len() < MIN_SIZE {
            return Err(format!("root item of {} bytes", b.len()));
        }
        let level = b[238];
        if level >= super::node::MAX_LEVEL {
            return Err(format!("root item level {level}"));
        }
        Ok(RootItem { root: Root { bytenr: le64(b, 176), level }, dirid: le64(b, 168), flags: le64(b, 208) })
    }
}

/// A ROOT_REF / ROOT_BACKREF: the directory of the parent tree holding the subvolume, and
/// the subvolume's name there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootRef {
    /// Directory inode in the parent tree.
    pub dirid: u64,
    /// Index of the entry in that directory.
    pub sequence: u64,
    /// Name of the entry.
    pub name: Vec<u8>,
}

impl RootRef {
    /// Parses a root ref.
    pub fn parse(b: &[u8]) -> Result<RootRef, String> {
        if b.len() < 18 {
            return Err(format!("root ref of {} bytes", b.len()));
        }
        let len = usize::from(le16(b, 16));
        let name = b.get(18..18 + len).ok_or_else(|| format!("root ref: name of {len} bytes past the item"))?;
        Ok(RootRef { dirid: le64(b, 0), sequence: le64(b, 8), name: name.to_vec() })
    }
}
