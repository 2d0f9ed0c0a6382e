//! qcow2 images (v2 and v3) through imago, behind our own header check and backing-chain gate.
//! imago maps and reads every normal cluster; compressed clusters are inflated by us, once
//! each, into a bounded cache ([`compressed`] says why and how).

mod backing;
pub use backing::{backing_chain, set_backing_allow, BackingAllow};
mod check;
mod cluster_cache;
mod compressed;
mod header;
mod storage;

pub use cluster_cache::CLUSTER_CACHE_BYTES;

pub use backing::MAX_DEPTH;
pub use check::{check_metadata, MAX_TABLES};
pub use header::{parse_header, read_info, Bitmaps, Compression, Qcow2Info, MAGIC};

use super::{check_range, check_span, zero_by_writing, BlockDev, Dev, Error, Result};
use cluster_cache::ClusterCache;
use imago::{Mapping, StorageExt};
use storage::ImageFile;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

/// Opens a qcow2 image and its backing chain. The header of every image in the chain is
/// validated by our parser before imago reads it; the image file is opened for writing only
/// when `writable` (backing files never are), and then only after its metadata passed
/// [`check_metadata`].
pub fn open(path: &Path, writable: bool) -> Result<Dev> {
    let (image, info) = backing::open_qcow2(path, writable, &mut Vec::new())?;
    Ok(Arc::new(Qcow2Dev {
        image,
        path: path.to_path_buf(),
        len: info.virtual_size,
        version: info.version,
        writable,
        cache: ClusterCache::new(CLUSTER_CACHE_BYTES),
        writing: RwLock::new(()),
    }))
}

/// An open qcow2 image as a [`BlockDev`].
struct Qcow2Dev {
    image: backing::Image,
    path: PathBuf,
    len: u64,
    /// Header version: 2 (compat=0.10, no zero clusters) or 3.
    version: u32,
    writable: bool,
    /// Inflated compressed clusters of every layer.
    cache: ClusterCache,
    /// Held shared by reads, exclusively by writes: a compressed cluster's L2 entry and data
    /// stay as imago mapped them while we read them.
    writing: RwLock<()>,
}

impl Qcow2Dev {
    fn err(&self, e: std::io::Error) -> Error {
        backing::engine(&self.path, e)
    }

    /// imago's mapping of `len` bytes from `off` (inside the disk): the mapping and its length.
    fn mapping(&self, off: u64, len: u64) -> Result<(Mapping<'_, ImageFile>, u64)> {
        let (mapping, n) = self.image.get_mapping(off, len).map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(Error::Qcow2 { path: self.path.clone(), msg: format!("no mapping for guest offset {off:#x}, inside the disk") });
        }
        Ok((mapping, n.min(len)))
    }

    /// The qcow2 layer of a `Mapping::Special` (imago's qcow2 driver lists the files of its
    /// backing chain first and its own file last).
    fn layer<'a>(&self, layer: &'a backing::Image) -> Result<&'a compressed::Layer> {
        layer.inner().collect_storage_dependencies().last().and_then(|f| f.layer()).ok_or_else(|| Error::Qcow2 {
            path: self.path.clone(),
            msg: format!("imago maps data of {} as special, but it is no qcow2 layer", layer.inner()),
        })
    }

    /// Drops the cached copies of the compressed clusters in `len` bytes from `off`, which are
    /// about to be written (the caller holds `writing` exclusively).
    fn forget_compressed(&self, off: u64, len: u64) -> Result<()> {
        let mut pos = off;
        while pos < off + len {
            let (mapping, n) = self.mapping(pos, off + len - pos)?;
            if let Mapping::Special { layer, offset, .. } = mapping {
                self.layer(layer)?.forget(&self.cache, offset, n)?;
            }
            pos += n;
        }
        Ok(())
    }
}

impl BlockDev for Qcow2Dev {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> Result<()> {
        check_range(&|| self.name(), off, buf.len(), self.len)?;
        let _reading = self.writing.read().unwrap_or_else(PoisonError::into_inner);
        let mut done = 0;
        while done < buf.len() {
            let pos = off + done as u64;
            let (mapping, n) = self.mapping(pos, (buf.len() - done) as u64)?;
            let chunk = &mut buf[done..done + n as usize];
            match mapping {
                Mapping::Raw { storage, offset, .. } => storage.read(&mut *chunk, offset).map_err(|e| self.err(e))?,
                Mapping::Zero { .. } | Mapping::Eof { .. } => chunk.fill(0),
                Mapping::Special { layer, offset, .. } => self.layer(layer)?.read(&self.cache, offset, chunk)?,
                _ => self.image.read(&mut *chunk, pos).map_err(|e| self.err(e))?,
            }
            done += n as usize;
        }
        Ok(())
    }

    fn write_at(&self, buf: &[u8], off: u64) -> Result<()> {
        if !self.writable {
            return Err(Error::ReadOnly { dev: self.name() });
        }
        check_range(&|| self.name(), off, buf.len(), self.len)?;
        let _writing = self.writing.write().unwrap_or_else(PoisonError::into_inner);
        self.forget_compressed(off, buf.len() as u64)?;
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
            let _writing = self.writing.write().unwrap_or_else(PoisonError::into_inner);
            self.forget_compressed(off, len)?;
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
