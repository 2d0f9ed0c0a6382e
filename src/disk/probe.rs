//! Image format probing by magic, with an explicit `--format` override.

use super::{qcow2, raw::RawFile, Dev, Error, Result};
use std::path::Path;
use std::sync::Arc;

/// Image formats we open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A plain disk image.
    Raw,
    /// QEMU copy-on-write v2 (compat=0.10) or v3 (compat=1.1).
    Qcow2,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Format, String> {
        match s {
            "raw" => Ok(Format::Raw),
            "qcow2" => Ok(Format::Qcow2),
            other => Err(format!("unknown image format '{other}' (expected raw or qcow2)")),
        }
    }
}

/// Opens an image file: the format is `format` if given, else probed from the magic.
pub fn open_image(path: &Path, format: Option<Format>, writable: bool) -> Result<Dev> {
    let format = match format {
        Some(f) => f,
        None => probe_format(path)?,
    };
    match format {
        Format::Raw => Ok(Arc::new(RawFile::open(path, writable)?)),
        Format::Qcow2 => qcow2::open(path, writable),
    }
}

/// Reads the first bytes of `path` and names its format.
pub fn probe_format(path: &Path) -> Result<Format> {
    let f = RawFile::open(path, false)?;
    let mut magic = [0u8; 4];
    if super::BlockDev::len(&f) >= 4 {
        super::BlockDev::read_at(&f, &mut magic, 0)?;
    }
    if &magic == b"QFI\xfb" {
        Ok(Format::Qcow2)
    } else {
        Ok(Format::Raw)
    }
}
