//! Directories (dir2): shortform inside the inode ([`sf`]), or data blocks in the data fork
//! below the 32 GiB leaf offset ([`data`]: the single block of block-format directories and
//! the data blocks of leaf, node and btree directories, whose fork may itself be a bmbt).
//! Listings read every data block; lookups follow the hash index ([`hash`]): the leaf entries
//! at the end of a block directory's block, the [`leaf`] block of a leaf directory, or the da
//! node blocks down to the leaf blocks of node and btree directories.
//!
//! Write side: [`ops`] adds and removes names in block, leaf and node directories (and
//! converts shortform → block → leaf → node as they grow) over the editable forms of the
//! data blocks ([`data::Entries`]), the block tail ([`block`]), leaf blocks ([`leaf::Leaf`])
//! and the free index blocks of node directories ([`free`]).

pub mod block;
pub mod data;
pub mod free;
pub mod hash;
pub mod leaf;
pub mod ops;
pub mod sf;

/// Logical byte offset where leaf blocks start (`XFS_DIR2_LEAF_OFFSET`): data blocks lie below.
pub const LEAF_OFFSET: u64 = 32 << 30;

/// One directory entry as stored: name, inode, and the ftype byte (0 when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// Name bytes.
    pub name: Vec<u8>,
    /// Inode number.
    pub ino: u64,
    /// `XFS_DIR3_FT_*` (0: unknown).
    pub ftype: u8,
}

/// The file type an ftype byte names.
pub fn file_type(ftype: u8) -> Option<crate::fs::FileType> {
    use crate::fs::FileType::*;
    Some(match ftype {
        1 => Regular,
        2 => Directory,
        3 => CharDevice,
        4 => BlockDevice,
        5 => Fifo,
        6 => Socket,
        7 => Symlink,
        _ => return None,
    })
}
