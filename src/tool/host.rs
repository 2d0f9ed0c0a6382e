//! The host side of copying out of a guest (`download`, `copy-out`, `tar-out`, `vcopy-out`,
//! `vtar-out`), written so that nothing outside the target the user named is touched: files
//! are created with `O_EXCL` (never opening an existing file or following a symlink), a host
//! file named by the user is written as a fresh file and renamed over the name (the rename
//! replaces a symlink rather than writing through it), and every guest name is checked to be
//! a plain component (no `/`, `.` or `..`) before it is joined to a host path.

use anyhow::{anyhow, Result};
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// An I/O error as `perror` words it ("No such file or directory"), without Rust's
/// "(os error N)" suffix.
pub fn strerror(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// A host-side failure, naming the host path.
pub fn host_err(path: &Path, e: &io::Error) -> anyhow::Error {
    anyhow!("{}: {}", path.display(), strerror(e))
}

/// A guest name that can be joined to a host path: one non-empty component.
pub fn safe_component(name: &[u8]) -> Result<&OsStr> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0) {
        return Err(anyhow!("refusing unsafe file name in the guest: {:?}", String::from_utf8_lossy(name)));
    }
    Ok(OsStr::from_bytes(name))
}

/// A new file next to `target`, created with `O_EXCL`, that [`write_host_file`] renames onto
/// `target`.
fn temp_beside(target: &Path) -> Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{base}.vfish-{}-{n}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(host_err(target, &e)),
        }
    }
}

/// Writes the host file `target` with `fill`: into a fresh temporary file, then renamed over
/// `target` (a symlink at `target` is replaced, never followed). `-` is `out` (standard
/// output).
pub fn write_host_file(target: &str, out: &mut dyn Write, fill: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    if target == "-" {
        return fill(out);
    }
    let target = Path::new(target);
    let (tmp, mut file) = temp_beside(target)?;
    let result = fill(&mut file).and_then(|()| file.sync_all().map_err(|e| host_err(target, &e)));
    let result = result.and_then(|()| fs::rename(&tmp, target).map_err(|e| host_err(target, &e)));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::safe_component;

    #[test]
    fn unsafe_names_are_refused() {
        for bad in [&b""[..], b".", b"..", b"a/b", b"/", b"a\0b"] {
            assert!(safe_component(bad).is_err(), "{bad:?}");
        }
        assert!(safe_component(b"..a").is_ok());
        assert!(safe_component(b"shadow").is_ok());
    }
}
