//! Image format probing by magic, with an explicit `--format` override.

use super::{qcow2, raw::RawFile, BlockDev, Dev, Error, Result};
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

/// Opens an image file: the format is `format` if given (`Raw` opens any file, even a qcow2
/// one, as plain bytes, like qemu's `-f raw`), else probed from the magic.
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


/// Length of the VHD (vpc) footer at the end of fixed-size images.
const VPC_FOOTER: u64 = 512;

/// Reads the first bytes (and the VHD footer) of `path` and names its format; formats we
/// recognise but do not open are refused with the conversion command.
pub fn probe_format(path: &Path) -> Result<Format> {
    let f = RawFile::open(path, false)?;
    let mut head = [0u8; 512];
    let head_len = usize::try_from(f.len()).unwrap_or(usize::MAX).min(head.len());
    let head = head.get_mut(..head_len).unwrap_or_default();
    f.read_at(head, 0)?;
    if head.starts_with(&qcow2::MAGIC) {
        return Ok(Format::Qcow2);
    }
    let at = |magic: &[u8], off: u64| {
        usize::try_from(off)
            .ok()
            .and_then(|o| head.get(o..o.checked_add(magic.len())?))
            .is_some_and(|b| b == magic)
    };
    // the containers we recognise but do not open (one signature table: `info::SIGNATURES`)
    let mut foreign = super::info::SIGNATURES
        .iter()
        .filter(|(name, _, _)| *name != "qcow2" && super::info::CONTAINERS.contains(name))
        .find(|(_, magic, off)| at(magic, *off))
        .map(|(name, _, _)| *name);
    if foreign.is_none() && f.len() >= VPC_FOOTER {
        let mut footer = [0u8; 8];
        f.read_at(&mut footer, f.len() - VPC_FOOTER)?;
        if &footer == b"conectix" {
            foreign = Some("vpc");
        }
    }
    match foreign {
        Some(name) => Err(Error::Format {
            path: path.to_path_buf(),
            msg: format!(
                "this is a {name} image, which we do not open (raw and qcow2 only); convert it with `qemu-img convert -O qcow2 {} OUT`",
                path.display()
            ),
        }),
        None => Ok(Format::Raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn image(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(bytes).unwrap();
        tmp
    }

    #[test]
    fn tiny_and_plain_files_are_raw() {
        assert_eq!(probe_format(image(b"").path()).unwrap(), Format::Raw);
        assert_eq!(probe_format(image(b"QF").path()).unwrap(), Format::Raw);
        assert_eq!(probe_format(image(&[0u8; 4096]).path()).unwrap(), Format::Raw);
    }

    #[test]
    fn vpc_footer_at_the_end_is_refused() {
        let mut bytes = vec![0u8; 4096];
        bytes[4096 - 512..4096 - 504].copy_from_slice(b"conectix");
        let err = probe_format(image(&bytes).path()).unwrap_err().to_string();
        assert!(err.contains("vpc image") && err.contains("qemu-img convert -O qcow2"), "{err}");
    }

    #[test]
    fn vdi_signature_at_0x40_is_refused() {
        let mut bytes = vec![0u8; 1024];
        bytes[0x40..0x44].copy_from_slice(&[0x7f, 0x10, 0xda, 0xbe]);
        let err = probe_format(image(&bytes).path()).unwrap_err().to_string();
        assert!(err.contains("vdi image"), "{err}");
    }
}
