//! File extent items (EXTENT_DATA, keyed by file offset): inline data stored in the item, or a
//! regular / preallocated extent pointing at `disk_num_bytes` on disk, of which the file uses
//! `num_bytes` from `offset` (of the uncompressed data). `disk_bytenr` 0 is a hole. Missing
//! ranges (the NO_HOLES feature) and ranges past the last extent read as zeros.

use crate::bytes::{le16, le64};

/// Header of an inline extent (the data follows).
pub const INLINE_HEADER: usize = 21;
/// Size of a regular extent item.
const REG_SIZE: usize = 53;

/// Compression of an extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Stored as is.
    None,
    /// zlib stream.
    Zlib,
    /// btrfs's segmented LZO.
    Lzo,
    /// zstd frame.
    Zstd,
}

/// Where the bytes of an extent are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// In the item.
    Inline(Vec<u8>),
    /// On disk: `disk_num_bytes` at logical `disk_bytenr`; the file's range starts `offset`
    /// bytes into the (uncompressed) extent.
    Regular {
        /// Logical address (0: a hole).
        disk_bytenr: u64,
        /// Bytes on disk.
        disk_num_bytes: u64,
        /// Offset into the uncompressed extent.
        offset: u64,
    },
    /// Preallocated (fallocate): reads as zeros.
    Prealloc,
}

/// One file extent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extent {
    /// File offset (the item key's offset).
    pub file_off: u64,
    /// Bytes of the file it covers (inline: `ram_bytes`).
    pub len: u64,
    /// Uncompressed size of the whole extent.
    pub ram_bytes: u64,
    /// Compression.
    pub compression: Compression,
    /// The data.
    pub data: Data,
}

/// Why an extent item was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtentError {
    /// Damaged.
    Corrupt(String),
    /// Encrypted or otherwise encoded, or an unknown compression: named.
    Unsupported(String),
}

/// Parses the file extent item at file offset `file_off`.
pub fn parse(file_off: u64, b: &[u8]) -> Result<Extent, ExtentError> {
    let c = |m: String| ExtentError::Corrupt(format!("file extent at offset {file_off}: {m}"));
    if b.len() < INLINE_HEADER {
        return Err(c(format!("item of {} bytes", b.len())));
    }
    let ram_bytes = le64(b, 8);
    let compression = match b[16] {
        0 => Compression::None,
        1 => Compression::Zlib,
        2 => Compression::Lzo,
        3 => Compression::Zstd,
        x => return Err(ExtentError::Unsupported(format!("compression type {x}"))),
    };
    if b[17] != 0 {
        return Err(ExtentError::Unsupported(format!("encrypted file extents (encryption {})", b[17])));
    }
    if le16(b, 18) != 0 {
        return Err(ExtentError::Unsupported(format!("file extents with other encoding {}", le16(b, 18))));
    }
    match b[20] {
        0 => {
            let data = b[INLINE_HEADER..].to_vec();
            if compression == Compression::None && ram_bytes != data.len() as u64 {
                return Err(c(format!("inline extent of {} bytes says {ram_bytes}", data.len())));
            }
            Ok(Extent { file_off, len: ram_bytes, ram_bytes, compression, data: Data::Inline(data) })
        }
        t @ (1 | 2) => {
            if b.len() < REG_SIZE {
                return Err(c(format!("regular extent item of {} bytes", b.len())));
            }
            let disk_bytenr = le64(b, 21);
            let disk_num_bytes = le64(b, 29);
            let offset = le64(b, 37);
            let len = le64(b, 45);
            if file_off.checked_add(len).is_none() || disk_bytenr.checked_add(disk_num_bytes).is_none() {
                return Err(c(format!("extent of {len} bytes at {disk_bytenr:#x} overflows")));
            }
            if disk_bytenr != 0 && t == 1 && offset.checked_add(len).is_none_or(|e| e > ram_bytes.max(if compression == Compression::None { disk_num_bytes } else { 0 })) {
                return Err(c(format!("range {offset}+{len} past the extent of {ram_bytes} bytes")));
            }
            let data = if t == 2 { Data::Prealloc } else { Data::Regular { disk_bytenr, disk_num_bytes, offset } };
            Ok(Extent { file_off, len, ram_bytes, compression, data })
        }
        t => Err(c(format!("type {t}"))),
    }
}
