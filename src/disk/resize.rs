//! Growing a disk image's virtual size: a raw file is extended (sparse, reads as zeros), a
//! qcow2 image gets a larger virtual size through imago. The image is locked against QEMU and
//! other writers while it changes. Growing only appends zeros to what the guest sees, so an
//! interruption leaves the guest's data as it was.

use super::lock::ImageLock;
use super::{qcow2, Error, Format, Result};
use std::fs::OpenOptions;
use std::path::Path;

/// Grows the image at `path` to `new_size` bytes of guest-visible disk; returns the old size.
/// A size that is not a multiple of 512 is refused; a smaller size is refused (shrinking a
/// disk loses data: not supported).
pub fn grow_image(path: &Path, format: Format, new_size: u64) -> Result<u64> {
    if new_size % 512 != 0 {
        return Err(Error::Format { path: path.to_path_buf(), msg: format!("new size {new_size} is not a multiple of 512 bytes") });
    }
    let _lock = ImageLock::acquire(path)?;
    match format {
        Format::Raw => {
            let f = OpenOptions::new().read(true).write(true).open(path).map_err(|source| Error::Io { path: path.to_path_buf(), op: "open", source })?;
            let old = f.metadata().map_err(|source| Error::Io { path: path.to_path_buf(), op: "stat", source })?.len();
            if new_size < old {
                return Err(Error::Format { path: path.to_path_buf(), msg: format!("cannot shrink from {old} to {new_size} bytes") });
            }
            f.set_len(new_size).map_err(|source| Error::Io { path: path.to_path_buf(), op: "truncate", source })?;
            f.sync_all().map_err(|source| Error::Io { path: path.to_path_buf(), op: "fsync", source })?;
            Ok(old)
        }
        Format::Qcow2 => {
            let old = qcow2::read_info(path)?.virtual_size;
            qcow2::resize_grow(path, new_size)?;
            Ok(old)
        }
    }
}
