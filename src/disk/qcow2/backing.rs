//! Our backing-chain gate: we open every backing file ourselves (read-only, only in the format
//! its overlay names, depth- and loop-checked) and hand the opened image to imago, whose own
//! implicit opening is denied.
//!
//! A backing name is image data, and images come from strangers: a name that resolves
//! (symlinks and `..` followed) outside the directory of the image naming it would let an
//! uploaded image make us read any host file as its disk (`/etc/shadow`, another tenant's
//! image). Such names are refused unless the process allowed them ([`set_backing_allow`], the
//! tools' `--backing-allow DIR|any`); backing files beside the image or below it always open.

use super::header::{read_info_from, Qcow2Info};
use crate::disk::{Error, Result};
use super::compressed::Layer;
use super::storage::ImageFile;
use imago::file::File as ImagoFile;
use imago::qcow2::Qcow2;
use imago::raw::Raw;
use imago::{DenyImplicitOpenGate, FormatAccess, FormatDriverBuilder, StorageOpenOptions};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// Which backing files outside their image's directory may be opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BackingAllow {
    /// Only backing files in the directory of the image naming them, or below it.
    #[default]
    Beside,
    /// Those, and backing files in (or below) these directories.
    Dirs(Vec<PathBuf>),
    /// Any backing file.
    Any,
}

/// The process's backing-file rule.
static ALLOW: RwLock<BackingAllow> = RwLock::new(BackingAllow::Beside);

/// Sets which backing files outside their image's directory may be opened (for the whole
/// process: the tools set it from `--backing-allow` before opening anything).
pub fn set_backing_allow(allow: BackingAllow) {
    *ALLOW.write().unwrap_or_else(|p| p.into_inner()) = allow;
}

/// Refuses `backing` (named `name` by the image `image`) when it resolves outside the
/// image's directory and the process did not allow its directory.
fn check_allowed(image: &Path, name: &str, backing: &Path) -> Result<()> {
    // a backing file that does not exist fails at open, with its own message
    let (Ok(target), Ok(image_c)) = (std::fs::canonicalize(backing), std::fs::canonicalize(image)) else { return Ok(()) };
    let dir = image_c.parent().unwrap_or(Path::new("/"));
    if target.starts_with(dir) {
        return Ok(());
    }
    let allowed = match &*ALLOW.read().unwrap_or_else(|p| p.into_inner()) {
        BackingAllow::Any => true,
        BackingAllow::Beside => false,
        BackingAllow::Dirs(dirs) => dirs.iter().any(|d| std::fs::canonicalize(d).is_ok_and(|d| target.starts_with(d))),
    };
    if allowed {
        return Ok(());
    }
    Err(backing_err(
        image,
        format!(
            "backing file name {name:?} resolves to {}, outside the image's directory {}: an image could make us read any host file that way, so it is refused; allow it with --backing-allow {} (or --backing-allow any)",
            target.display(),
            dir.display(),
            target.parent().unwrap_or(Path::new("/")).display()
        ),
    ))
}

/// Longest backing chain we follow (backing files below the top image).
pub const MAX_DEPTH: usize = 16;

/// An opened imago image over an imago file.
pub(super) type Image = FormatAccess<ImageFile>;

/// Formats a backing file may have.
enum BackingFormat {
    Raw,
    Qcow2,
}

/// Opens the qcow2 image at `path` and, recursively, its backing chain. `chain` holds the
/// canonical paths of the images above it (for loop detection); its length is the depth.
pub(super) fn open_qcow2(path: &Path, writable: bool, chain: &mut Vec<PathBuf>) -> Result<(Image, Qcow2Info)> {
    let canonical = enter(path, chain)?;
    let file = open_file(path, writable)?;
    let info = read_info_from(&file, path)?;
    info.check_supported(path)?;
    if writable {
        if info.dirty() {
            return Err(Error::Qcow2Unsupported {
                path: path.to_path_buf(),
                feature: "writing with the dirty bit set (incompatible feature bit 0: refcounts may be stale after a crash)".into(),
                fix: format!("repair it with `qemu-img check -r all {}` (reading works as it is)", path.display()),
            });
        }
        if info.compression_type == super::header::Compression::Zstd {
            return Err(Error::Qcow2Unsupported {
                path: path.to_path_buf(),
                feature: "writing to a zstd-compressed image (reading works)".into(),
                fix: format!("convert it with `qemu-img convert -O qcow2 -o compression_type=zlib {} OUT`", path.display()),
            });
        }
        super::check::check_metadata(&file, &info, path)?;
    }

    let backing = match &info.backing_file {
        None => None,
        Some(name) => {
            let format = backing_format(path, name, info.backing_format.as_deref())?;
            let backing_path = resolve(path, name);
            check_allowed(path, name, &backing_path)?;
            chain.push(canonical);
            let opened = match format {
                BackingFormat::Raw => open_raw(&backing_path, chain),
                BackingFormat::Qcow2 => open_qcow2(&backing_path, false, chain).map(|(image, _)| image),
            };
            chain.pop();
            Some(opened.map_err(|e| match e {
                Error::Io { path: p, op: "open", source } if p == backing_path => backing_err(
                    path,
                    format!("cannot open backing file {} ({source}); restore it, or point the image at it with `qemu-img rebase -u -F FMT -b BACKING {}`", p.display(), path.display()),
                ),
                other => other,
            })?)
        }
    };

    let layer = Layer::new(&file, &info, path)?;
    let mut hide = 0;
    if !writable && info.dirty() {
        hide |= super::storage::DIRTY_MASK;
    }
    if !writable && info.compression_type == super::header::Compression::Zstd {
        hide |= super::storage::COMPRESSION_MASK;
    }
    let storage = ImageFile::new(imago_file(file, path, writable)?, hide, Some(layer));
    let qcow2 = Qcow2::<ImageFile>::builder(storage)
        .write(writable)
        .backing(backing)
        .data_file(None)
        .open(DenyImplicitOpenGate::default())
        .map_err(|e| engine(path, e))?;
    Ok((FormatAccess::new(qcow2), info))
}

/// The backing chain of the qcow2 image at `path` as the open would follow it: (image, format)
/// from `path` down, with the same rules (formats named, never probed; names inside the
/// image's directory unless allowed; depth and loops bounded). For `-v` listings.
pub fn backing_chain(path: &Path) -> Result<Vec<(PathBuf, &'static str)>> {
    let mut out = vec![(path.to_path_buf(), "qcow2")];
    let mut seen = vec![enter(path, &[])?];
    let mut cur = path.to_path_buf();
    loop {
        let info = super::header::read_info(&cur)?;
        let Some(name) = &info.backing_file else { return Ok(out) };
        let format = backing_format(&cur, name, info.backing_format.as_deref())?;
        let next = resolve(&cur, name);
        check_allowed(&cur, name, &next)?;
        seen.push(enter(&next, &seen)?);
        match format {
            BackingFormat::Raw => {
                out.push((next, "raw"));
                return Ok(out);
            }
            BackingFormat::Qcow2 => out.push((next.clone(), "qcow2")),
        }
        cur = next;
    }
}

/// Opens a raw backing file read-only.
fn open_raw(path: &Path, chain: &[PathBuf]) -> Result<Image> {
    enter(path, chain)?;
    let file = open_file(path, false)?;
    let storage = ImageFile::new(imago_file(file, path, false)?, 0, None);
    let raw = Raw::<ImageFile>::builder(storage)
        .write(false)
        .open(DenyImplicitOpenGate::default())
        .map_err(|e| engine(path, e))?;
    Ok(FormatAccess::new(raw))
}

/// Checks depth and loops for `path`, given the chain of images above it; returns its
/// canonical path.
fn enter(path: &Path, chain: &[PathBuf]) -> Result<PathBuf> {
    let canonical = std::fs::canonicalize(path).map_err(|source| Error::Io { path: path.to_path_buf(), op: "open", source })?;
    let top = chain.first().map(PathBuf::as_path).unwrap_or(path);
    if let Some(pos) = chain.iter().position(|p| *p == canonical) {
        let cycle: Vec<String> = chain[pos..].iter().chain(std::iter::once(&canonical)).map(|p| p.display().to_string()).collect();
        return Err(backing_err(top, format!("backing chain loops: {}; fix the chain with `qemu-img rebase -u -b BACKING -F FMT IMG`", cycle.join(" -> "))));
    }
    if chain.len() > MAX_DEPTH {
        return Err(backing_err(
            top,
            format!("backing chain is deeper than {MAX_DEPTH} images (at {}); flatten it with `qemu-img convert -O qcow2 {} OUT`", path.display(), top.display()),
        ));
    }
    Ok(canonical)
}

/// The backing format named by the header; we never probe.
fn backing_format(path: &Path, name: &str, format: Option<&str>) -> Result<BackingFormat> {
    match format {
        Some("raw") => Ok(BackingFormat::Raw),
        Some("qcow2") => Ok(BackingFormat::Qcow2),
        Some(other) => Err(backing_err(
            path,
            format!("backing file {name} has format '{other}', which we do not open (raw or qcow2 only); convert it with `qemu-img convert -O qcow2 {name} OUT` and rebase onto it"),
        )),
        None => Err(backing_err(
            path,
            format!(
                "the header names backing file {name} but no backing format, and we never probe backing files; record the format with `qemu-img rebase -u -F FMT -b {name} {}` (FMT = raw or qcow2)",
                path.display()
            ),
        )),
    }
}

/// Resolves a backing file name against the directory of the image naming it.
fn resolve(image: &Path, name: &str) -> PathBuf {
    let name = Path::new(name);
    if name.is_absolute() {
        return name.to_path_buf();
    }
    match image.parent() {
        Some(dir) => dir.join(name),
        None => name.to_path_buf(),
    }
}

/// Opens an image file (never blocking; regular files and block devices only); for writing
/// only when `writable`.
fn open_file(path: &Path, writable: bool) -> Result<File> {
    crate::disk::file::open(path, writable)
}

/// Hands an open file to imago, telling it how the file was opened.
fn imago_file(file: File, path: &Path, writable: bool) -> Result<ImagoFile> {
    let opts = StorageOpenOptions::new().filename(path).write(writable);
    ImagoFile::from_open_file(file, opts).map_err(|e| engine(path, e))
}

fn backing_err(path: &Path, msg: String) -> Error {
    Error::Backing { path: path.to_path_buf(), msg }
}

/// An error from imago.
pub(super) fn engine(path: &Path, e: std::io::Error) -> Error {
    Error::Qcow2 { path: path.to_path_buf(), msg: e.to_string() }
}
