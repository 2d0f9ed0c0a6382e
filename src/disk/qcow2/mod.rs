//! qcow2 images (v2 and v3) through imago, behind our own header check and backing-chain gate.

mod backing;
pub use backing::{backing_chain, set_backing_allow, BackingAllow};
mod check;
mod header;
mod storage;

pub use backing::MAX_DEPTH;
pub use check::{check_metadata, MAX_TABLES};
pub use header::{parse_header, read_info, Bitmaps, Compression, Qcow2Info, MAGIC};

use super::{check_range, check_span, zero_by_writing, BlockDev, Dev, Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Opens a qcow2 image and its backing chain. The header of every image in the chain is
/// validated by our parser before imago reads it; the image file is opened for writing only
/// when `writable` (backing files never are), and then only after its metadata passed
/// [`check_metadata`].
pub fn open(path: &Path, writable: bool) -> Result<Dev> {
    let (image, info) = backing::open_qcow2(path, writable, &mut Vec::new())?;
    Ok(Arc::new(Qcow2Dev { image, path: path.to_path_buf(), len: info.virtual_size, version: info.version, writable }))
}

/// An open qcow2 image as a [`BlockDev`].
struct Qcow2Dev {
    image: backing::Image,
    path: PathBuf,
    len: u64,
    /// Header version: 2 (compat=0.10, no zero clusters) or 3.
    version: u32,
    writable: bool,
}

impl Qcow2Dev {
    fn err(&self, e: std::io::Error) -> Error {
        backing::engine(&self.path, e)
    }
}

impl BlockDev for Qcow2Dev {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> Result<()> {
        check_range(&|| self.name(), off, buf.len(), self.len)?;
        self.image.read(buf, off).map_err(|e| self.err(e))
    }

    fn write_at(&self, buf: &[u8], off: u64) -> Result<()> {
        if !self.writable {
            return Err(Error::ReadOnly { dev: self.name() });
        }
        check_range(&|| self.name(), off, buf.len(), self.len)?;
        self.image.write(buf, off).map_err(|e| self.err(e))
    }

    /// Version 3: imago's write-zeroes (zero clusters, partial clusters written as zeros).
    /// Version 2 has no zero clusters: zeros are written, over pieces not zero already.
    fn write_zeroes(&self, off: u64, len: u64) -> Result<()> {
        if !self.writable {
            return Err(Error::ReadOnly { dev: self.name() });
        }
        check_span(&|| self.name(), off, len, self.len)?;
        if self.version >= 3 {
            self.image.write_zeroes(off, len).map_err(|e| self.err(e))
        } else {
            zero_by_writing(self, off, len)
        }
    }

    fn flush(&self) -> Result<()> {
        if !self.writable {
            return Ok(());
        }
        self.image.flush().map_err(|e| self.err(e))?;
        self.image.sync().map_err(|e| self.err(e))
    }

    fn is_writable(&self) -> bool {
        self.writable
    }

    fn known_zeros(&self, off: u64, len: u64) -> Result<u64> {
        let len = len.min(self.len.saturating_sub(off));
        if len == 0 {
            return Ok(0);
        }
        let (mapping, n) = self.image.get_mapping(off, len).map_err(|e| self.err(e))?;
        Ok(match mapping {
            imago::Mapping::Zero { .. } => n.min(len),
            _ => 0,
        })
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

/// Grows the virtual size of the qcow2 image at `path` to `new_size` bytes (no
/// preallocation): imago writes the new size (and, when needed, a larger L1 table) into the
/// image; its metadata is checked first as for any write. The caller holds the image lock.
pub fn resize_grow(path: &Path, new_size: u64) -> Result<()> {
    let (image, info) = backing::open_qcow2(path, true, &mut Vec::new())?;
    if new_size < info.virtual_size {
        return Err(Error::Qcow2 { path: path.to_path_buf(), msg: format!("cannot shrink from {} to {new_size} bytes", info.virtual_size) });
    }
    let e = |e| backing::engine(path, e);
    image.resize_grow(new_size, imago::format::PreallocateMode::None).map_err(e)?;
    image.flush().map_err(e)?;
    image.sync().map_err(e)
}
