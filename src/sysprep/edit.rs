//! File-level helpers the operations share: removing what globs match, emptying files, and
//! editing text files line by line, appending lines and setting shell variables — each writes
//! only when something changes.

use crate::fs::FileType;
use crate::Guest;
use crate::sysprep::Result;

/// Largest guest file an operation reads whole to edit it (config files are tiny; a larger one
/// is left alone with an error rather than read into memory).
pub const MAX_EDIT: u64 = 16 << 20;

/// What a glob's matches become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `rm-rf` every match (files, directories, symlinks).
    RmRf,
    /// `rm` regular files and symlinks; directories are left alone.
    RmFiles,
}

/// The type of `path`, not following a final symlink; `None` when it does not exist.
pub fn kind(g: &Guest, path: &str) -> Result<Option<FileType>> {
    Ok(g.file_type(path, false)?)
}

/// Whether `path` is a regular file (not a symlink to one).
pub fn is_file(g: &Guest, path: &str) -> Result<bool> {
    Ok(kind(g, path)? == Some(FileType::Regular))
}

/// Whether `path` is a directory (following symlinks).
pub fn is_dir(g: &Guest, path: &str) -> Result<bool> {
    Ok(g.file_type(path, true)? == Some(FileType::Directory))
}

/// Whether `path` exists (a dangling symlink counts).
pub fn exists(g: &Guest, path: &str) -> Result<bool> {
    Ok(kind(g, path)?.is_some())
}

/// Applies `action` to every path the shell patterns match.
pub fn apply_globs(g: &Guest, globs: &[&str], action: Action) -> Result<()> {
    for pattern in globs {
        for path in g.glob(pattern)? {
            apply(g, &path, action)?;
        }
    }
    Ok(())
}

/// `path` with its directory resolved (`/var/run/utmp` → `/run/utmp`): the name the
/// report gives for what was removed.
fn canonical(g: &Guest, path: &str) -> Result<String> {
    match path.rsplit_once('/') {
        Some((dir, name)) if !dir.is_empty() => {
            let d = g.realpath(dir)?;
            Ok(if d == "/" { format!("/{name}") } else { format!("{d}/{name}") })
        }
        _ => Ok(path.to_string()),
    }
}

/// Applies `action` to one existing path.
pub fn apply(g: &Guest, path: &str, action: Action) -> Result<()> {
    let Some(k) = kind(g, path)? else { return Ok(()) };
    let path = &canonical(g, path)?;
    match (action, k) {
        (Action::RmRf, _) => g.rm_rf(path)?,
        (Action::RmFiles, FileType::Directory) => {}
        (Action::RmFiles, _) => g.rm(path)?,
    }
    Ok(())
}

/// Empties the regular file `path` when it is not empty (a missing file is left missing).
pub fn truncate(g: &Guest, path: &str) -> Result<()> {
    if is_file(g, path)? && g.lstat(path)?.size > 0 {
        let path = &canonical(g, path)?;
        g.truncate_size(path, 0)?;
    }
    Ok(())
}

/// The content of the regular file `path` (following symlinks), `None` when there is none.
pub fn read(g: &Guest, path: &str) -> Result<Option<Vec<u8>>> {
    if g.file_type(path, true)? != Some(FileType::Regular) {
        return Ok(None);
    }
    let size = g.stat(path)?.size;
    if size > MAX_EDIT {
        return Err(crate::sysprep::Error::GuestFile { path: path.to_string(), msg: format!("{size} bytes: too large to edit (at most {MAX_EDIT})") });
    }
    Ok(Some(g.read_file(path)?))
}

/// The text of `path` (lossy UTF-8), `None` when it is not a regular file.
pub fn read_text(g: &Guest, path: &str) -> Result<Option<String>> {
    Ok(read(g, path)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// Writes `content` to `path` when it differs from what is there (the inode, owner, mode and
/// xattrs of an existing file stay: see [`Guest::write`]).
pub fn write_if_changed(g: &Guest, path: &str, content: &[u8]) -> Result<bool> {
    if read(g, path)?.as_deref() == Some(content) {
        return Ok(false);
    }
    g.write(path, content)?;
    Ok(true)
}

/// Edits the text file `path` line by line: `f` returns the line to keep (possibly changed)
/// or `None` to drop it. Line endings are kept; the file is rewritten only when it changed.
/// A missing file is left missing.
pub fn edit_lines(g: &Guest, path: &str, mut f: impl FnMut(&str) -> Option<String>) -> Result<bool> {
    let Some(old) = read(g, path)? else {
        return Ok(false);
    };
    let text = String::from_utf8_lossy(&old);
    let mut out = String::with_capacity(text.len());
    for piece in text.split_inclusive('\n') {
        let (line, end) = split_ending(piece);
        if let Some(new) = f(line) {
            out.push_str(&new);
            out.push_str(end);
        }
    }
    if out.as_bytes() == old.as_slice() {
        return Ok(false);
    }
    g.write(path, out.as_bytes())?;
    Ok(true)
}

/// A line and its ending (`\n`, `\r\n` or nothing).
fn split_ending(piece: &str) -> (&str, &str) {
    if let Some(l) = piece.strip_suffix("\r\n") {
        (l, "\r\n")
    } else if let Some(l) = piece.strip_suffix('\n') {
        (l, "\n")
    } else {
        (piece, "")
    }
}

/// Whether a `KEY=value` shell-variable line (optionally `export`ed, leading blanks allowed)
/// sets one of `keys`.
pub fn sets_var(line: &str, keys: &[&str]) -> bool {
    let l = line.trim_start();
    let l = l.strip_prefix("export ").map_or(l, str::trim_start);
    keys.iter().any(|k| l.strip_prefix(k).is_some_and(|rest| rest.trim_start().starts_with('=')))
}

/// The regular files directly in `dir` whose names match the shell pattern `pat`, sorted.
pub fn files_in(g: &Guest, dir: &str, pat: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for p in g.glob(&format!("{}/{pat}", dir.trim_end_matches('/')))? {
        if is_file(g, &p)? {
            out.push(p);
        }
    }
    Ok(out)
}

/// `--append-line`: adds `line` at the end of `path` (created if missing), after a line
/// ending if the file does not end with one; the file's own line ending (`\r\n`) is used.
/// A file whose last line is already `line` is left alone.
pub fn append_line(g: &Guest, path: &str, line: &str) -> Result<()> {
    let old = read(g, path)?.unwrap_or_default();
    let crlf = old.windows(2).any(|w| w == b"\r\n");
    let nl: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let last = old.strip_suffix(nl).unwrap_or(&old).rsplit(|b| *b == b'\n').next().unwrap_or(&[]);
    let last = last.strip_suffix(b"\r").unwrap_or(last);
    if !old.is_empty() && last == line.as_bytes() && old.ends_with(nl) {
        return Ok(());
    }
    let mut add = Vec::new();
    if !old.is_empty() && !old.ends_with(b"\n") {
        add.extend_from_slice(nl);
    }
    add.extend_from_slice(line.as_bytes());
    add.extend_from_slice(nl);
    Ok(g.write_append(path, &add)?)
}

/// Sets `KEY=value` in a shell-variable file: replaces the lines that set it, or appends one
/// when none does (creating the file when it is missing).
pub fn set_var_in_file(g: &Guest, path: &str, key: &str, value: &str) -> Result<()> {
    let new = format!("{key}={value}");
    let mut found = false;
    edit_lines(g, path, |l| {
        if sets_var(l, &[key]) {
            found = true;
            Some(new.clone())
        } else {
            Some(l.to_string())
        }
    })?;
    if !found {
        append_line(g, path, &new)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_variable_lines() {
        assert!(sets_var("HWADDR=52:54:00:12:34:56", &["HWADDR"]));
        assert!(sets_var("  export HWADDR = x", &["HWADDR"]));
        assert!(sets_var("MACADDR=\"x\"", &["HWADDR", "MACADDR"]));
        assert!(!sets_var("#HWADDR=x", &["HWADDR"]));
        assert!(!sets_var("HWADDRX=x", &["HWADDR"]));
        assert!(!sets_var("DHCP_HOSTNAME=a", &["HOSTNAME"]));
    }

    #[test]
    fn line_endings_are_split_off() {
        assert_eq!(split_ending("a\r\n"), ("a", "\r\n"));
        assert_eq!(split_ending("a\n"), ("a", "\n"));
        assert_eq!(split_ending("a"), ("a", ""));
    }
}
