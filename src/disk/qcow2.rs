//! qcow2 images through imago (placeholder until the qcow2 work lands).

use super::{Dev, Error, Result};
use std::path::Path;

/// Opens a qcow2 image.
pub fn open(path: &Path, _writable: bool) -> Result<Dev> {
    Err(Error::Qcow2 { path: path.to_path_buf(), msg: "qcow2 support is not built yet".into() })
}
