//! `qemu-img info` made safe for untrusted files (`vimage-info`): only headers are read —
//! never a backing file, data file or extent file — in bounded time and memory, and the
//! answer says whether the image is safe to hand to tools that follow what it names (the
//! checks OpenStack's format inspector makes after CVE-2024-32498):
//! - a qcow2 backing file or external data file (they make a reader open host files);
//! - qcow2 features we do not know (unknown incompatible bits, encryption), a corrupt header,
//!   a virtual size or L1 table past sane limits;
//! - a file that is two formats at once: an image container (qcow2, vmdk, vhd, vhdx, vdi, qed)
//!   whose bytes also carry another signature at its offset (ISO 9660 at 0x8001, a GPT header
//!   at LBA 1, another container's magic);
//! - a declared format that differs from the detected one;
//! - container formats whose headers we do not check yet (vmdk, vhd, vhdx, vdi, qed): unsafe
//!   until they are checked, said as such.

use super::qcow2::{self, Compression};
use super::{Error, Result};
use serde::Serialize;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Largest virtual size called sane: 1 PiB.
pub const MAX_VIRTUAL_SIZE: u64 = 1 << 50;
/// Largest qcow2 L1 table called sane (32 MiB: 4 M entries).
pub const MAX_L1_BYTES: u64 = 32 << 20;

/// What `vimage-info` reports: `qemu-img info`'s JSON fields, and the verdict.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ImageInfo {
    /// The image path as given.
    pub filename: String,
    /// Detected format (`raw`, `qcow2`, `vmdk`…).
    pub format: String,
    /// Guest-visible size in bytes.
    pub virtual_size: u64,
    /// Bytes the file occupies on the host.
    pub actual_size: u64,
    /// qcow2 cluster size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_size: Option<u64>,
    /// qcow2 dirty bit (lazy refcounts); false for other formats, as qemu-img says.
    pub dirty_flag: bool,
    /// The backing file named by the header (never opened).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backing_filename: Option<String>,
    /// Its declared format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backing_filename_format: Option<String>,
    /// `qemu-img info`'s format-specific block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format_specific: Option<serde_json::Value>,
    /// Whether nothing named above makes the image unsafe to open.
    pub safe: bool,
    /// Why not, one sentence each.
    pub reasons: Vec<String>,
}

/// Signatures looked for: (format, magic, offset). Offsets past the file are not checked.
/// `probe_format` uses the containers' ones too.
pub(crate) const SIGNATURES: &[(&str, &[u8], u64)] = &[
    ("qcow2", &qcow2::MAGIC, 0),
    ("vmdk", b"KDMV", 0),
    ("vmdk", b"COWD", 0),
    ("vmdk", b"# Disk DescriptorFile", 0),
    ("vhdx", b"vhdxfile", 0),
    ("vpc", b"conectix", 0),
    ("vdi", &[0x7f, 0x10, 0xda, 0xbe], 0x40),
    ("qed", b"QED\0", 0),
    ("iso9660", b"CD001", 0x8001),
    ("iso9660", b"CD001", 0x8801),
    ("iso9660", b"CD001", 0x9001),
    ("gpt", b"EFI PART", 512),
    ("gpt", b"EFI PART", 4096),
];

/// Image containers (formats a reader interprets instead of reading as a disk).
pub(crate) const CONTAINERS: &[&str] = &["qcow2", "vmdk", "vhdx", "vpc", "vdi", "qed"];

/// Reads the headers of `path` and judges it; `declared` is the format the caller was told
/// (`--format`). An error only when the file cannot be read at all (exit 2).
pub fn inspect(path: &Path, declared: Option<&str>) -> Result<ImageInfo> {
    let file = super::file::open(path, false)?;
    let meta = file.metadata().map_err(|source| Error::Io { path: path.to_path_buf(), op: "stat", source })?;
    let dev = super::raw::RawFile::from_file(file, path.to_path_buf(), false)?;
    let len = super::BlockDev::len(&dev);
    let at = |magic: &[u8], off: u64| -> Result<bool> {
        if off.saturating_add(magic.len() as u64) > len {
            return Ok(false);
        }
        let mut b = vec![0u8; magic.len()];
        super::BlockDev::read_at(&dev, &mut b, off)?;
        Ok(b == magic)
    };
    let mut found: Vec<&str> = Vec::new();
    for (name, magic, off) in SIGNATURES {
        if at(magic, *off)? && !found.contains(name) {
            found.push(name);
        }
    }
    if len >= 512 && !found.contains(&"vpc") && at(b"conectix", len - 512)? {
        found.push("vpc");
    }
    let containers: Vec<&str> = found.iter().copied().filter(|f| CONTAINERS.contains(f)).collect();
    let format = containers.first().copied().unwrap_or("raw").to_string();
    let mut info = ImageInfo {
        filename: path.display().to_string(),
        format: format.clone(),
        virtual_size: len,
        actual_size: meta.blocks() * 512,
        cluster_size: None,
        dirty_flag: false,
        backing_filename: None,
        backing_filename_format: None,
        format_specific: None,
        safe: true,
        reasons: Vec::new(),
    };
    if !containers.is_empty() && found.len() > 1 {
        info.reasons.push(format!("the file is several formats at once ({}): a polyglot image", found.join(", ")));
    }
    if let Some(d) = declared {
        let d = if d == "vhd" { "vpc" } else { d };
        if d != format {
            info.reasons.push(format!("declared format {d} but the file is {format}"));
        }
    }
    match format.as_str() {
        "qcow2" => qcow2_checks(path, &mut info),
        "raw" => {}
        other => info.reasons.push(format!("{other} headers are not checked yet: the extents or parent files they may name are unknown")),
    }
    if info.virtual_size > MAX_VIRTUAL_SIZE {
        info.reasons.push(format!("virtual size {} bytes is past the sane limit of {MAX_VIRTUAL_SIZE}", info.virtual_size));
    }
    info.safe = info.reasons.is_empty();
    Ok(info)
}

/// The qcow2 header's fields and checks.
fn qcow2_checks(path: &Path, info: &mut ImageInfo) {
    let q = match qcow2::read_info(path) {
        Ok(q) => q,
        Err(e) => {
            info.reasons.push(format!("qcow2 header: {e}"));
            return;
        }
    };
    info.virtual_size = q.virtual_size;
    info.cluster_size = Some(q.cluster_size);
    info.dirty_flag = q.dirty();
    info.backing_filename = q.backing_file.clone();
    info.backing_filename_format = q.backing_format.clone();
    let compression = match q.compression_type {
        Compression::Zlib => "zlib",
        Compression::Zstd => "zstd",
    };
    let mut data = serde_json::json!({ "compat": if q.version >= 3 { "1.1" } else { "0.10" }, "refcount-bits": q.refcount_bits });
    if q.version >= 3 {
        data["compression-type"] = compression.into();
        data["lazy-refcounts"] = q.lazy_refcounts.into();
        data["corrupt"] = q.corrupt().into();
        data["extended-l2"] = q.extended_l2().into();
    }
    info.format_specific = Some(serde_json::json!({ "type": "qcow2", "data": data }));
    if let Some(b) = &q.backing_file {
        info.reasons.push(format!("qcow2 backing file {b:?}: opening the image would open it"));
    }
    if let Some(d) = &q.data_file {
        info.reasons.push(format!("qcow2 external data file {d:?}: opening the image would open it"));
    }
    if let Err(e) = q.check_supported(path) {
        info.reasons.push(e.to_string());
    }
    if u64::from(q.l1_size) * 8 > MAX_L1_BYTES {
        info.reasons.push(format!("L1 table of {} entries is past the sane limit", q.l1_size));
    }
}
