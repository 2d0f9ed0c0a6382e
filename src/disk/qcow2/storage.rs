//! The file imago reads an image through: imago's own file, and — for a qcow2 image opened
//! read-only whose header carries the dirty bit or the compression type bit — that header as
//! it reads with those bits clear.
//!
//! The dirty bit (incompatible feature bit 0, set by lazy refcounts until a clean close) says
//! only that the refcounts may be stale; reading needs no refcount, and QEMU reads such images.
//! imago refuses every incompatible bit it does not handle, so a read-only open hides this one
//! bit from it. A writable open never does: writing needs sound refcounts, and is refused
//! before imago is reached (repair with `qemu-img check -r all`).
//!
//! A qcow2 image's file also carries its [`Layer`]: imago's mappings name the layer a
//! compressed cluster is in, and its storage leads our reader of compressed clusters there.

use super::compressed::Layer;
use imago::file::File as ImagoFile;
use imago::io_buffers::{IoVector, IoVectorMut};
use imago::storage::drivers::CommonStorageHelper;
use imago::storage::PreallocateMode;
use imago::Storage;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The header byte that holds the dirty bit (the last byte of the big-endian
/// `incompatible_features` at offset 72).
const DIRTY_BYTE: u64 = 79;
/// The dirty bit within [`DIRTY_BYTE`].
pub(super) const DIRTY_MASK: u8 = 0x01;
/// The compression type bit within [`DIRTY_BYTE`] (zstd): imago refuses it, but never reads a
/// compressed cluster itself (they come to our reader, which knows zstd), and a read-only open
/// never writes the header back.
pub(super) const COMPRESSION_MASK: u8 = 0x08;

/// An image file as imago sees it (see the module docs).
#[derive(Debug)]
pub(super) struct ImageFile {
    inner: ImagoFile,
    /// Bits of the header's last incompatible-feature byte that reads show clear (read-only
    /// opens only: [`DIRTY_MASK`], [`COMPRESSION_MASK`]).
    hide: u8,
    /// The qcow2 layer this file holds (none for a raw backing file).
    layer: Option<Layer>,
}

impl ImageFile {
    /// `inner` as it is, or with the header bits `hide` hidden (read-only opens only: the
    /// caller refuses to write such images); `layer` when it is a qcow2 image.
    pub(super) fn new(inner: ImagoFile, hide: u8, layer: Option<Layer>) -> ImageFile {
        ImageFile { inner, hide, layer }
    }

    /// The qcow2 layer this file holds.
    pub(super) fn layer(&self) -> Option<&Layer> {
        self.layer.as_ref()
    }
}

impl fmt::Display for ImageFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Storage for ImageFile {
    fn mem_align(&self) -> usize {
        self.inner.mem_align()
    }

    fn req_align(&self) -> usize {
        self.inner.req_align()
    }

    fn zero_align(&self) -> usize {
        self.inner.zero_align()
    }

    fn discard_align(&self) -> usize {
        self.inner.discard_align()
    }

    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }

    fn resolve_relative_path<P: AsRef<Path>>(&self, relative: P) -> io::Result<PathBuf> {
        self.inner.resolve_relative_path(relative)
    }

    fn get_filename(&self) -> Option<PathBuf> {
        self.inner.get_filename()
    }

    unsafe fn pure_readv(&self, mut bufv: IoVectorMut<'_>, offset: u64) -> io::Result<()> {
        let len = bufv.len();
        if self.hide == 0 || offset > DIRTY_BYTE || offset.saturating_add(len) <= DIRTY_BYTE {
            // SAFETY: the caller's guarantees are passed on unchanged.
            return unsafe { self.inner.pure_readv(bufv, offset) };
        }
        // A read of the header byte: read it into our own buffer, clear the bits, hand it on.
        let mut buf = vec![0u8; usize::try_from(len).map_err(io::Error::other)?];
        let mut own = IoVectorMut::new();
        own.push(&mut buf[..]);
        // SAFETY: `buf` is ours, alive and unaliased for the whole call.
        unsafe { self.inner.pure_readv(own, offset) }?;
        if let Some(b) = buf.get_mut((DIRTY_BYTE - offset) as usize) {
            *b &= !self.hide;
        }
        bufv.copy_from_slice(&buf);
        Ok(())
    }

    unsafe fn pure_writev(&self, bufv: IoVector<'_>, offset: u64) -> io::Result<()> {
        // SAFETY: the caller's guarantees are passed on unchanged.
        unsafe { self.inner.pure_writev(bufv, offset) }
    }

    unsafe fn pure_write_zeroes(&self, offset: u64, length: u64) -> io::Result<()> {
        // SAFETY: the caller's guarantees are passed on unchanged.
        unsafe { self.inner.pure_write_zeroes(offset, length) }
    }

    unsafe fn pure_write_allocated_zeroes(&self, offset: u64, length: u64) -> io::Result<()> {
        // SAFETY: the caller's guarantees are passed on unchanged.
        unsafe { self.inner.pure_write_allocated_zeroes(offset, length) }
    }

    unsafe fn pure_discard(&self, offset: u64, length: u64) -> io::Result<()> {
        // SAFETY: the caller's guarantees are passed on unchanged.
        unsafe { self.inner.pure_discard(offset, length) }
    }

    fn flush(&self) -> io::Result<()> {
        self.inner.flush()
    }

    fn sync(&self) -> io::Result<()> {
        self.inner.sync()
    }

    fn settle_writes(&self) -> io::Result<()> {
        self.inner.settle_writes()
    }

    unsafe fn invalidate_cache(&self) -> io::Result<()> {
        // SAFETY: the caller's guarantees are passed on unchanged.
        unsafe { self.inner.invalidate_cache() }
    }

    fn get_storage_helper(&self) -> &CommonStorageHelper {
        self.inner.get_storage_helper()
    }

    fn resize(&self, new_size: u64, prealloc_mode: PreallocateMode) -> io::Result<()> {
        self.inner.resize(new_size, prealloc_mode)
    }
}
