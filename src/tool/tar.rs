//! Tar streams in and out of the guest, as guestfish's `tar-in` and `tar-out` (and so
//! virt-tar-in and virt-tar-out) make them: members named relative to the directory, numeric
//! owners, symbolic links as links, modes and times kept. Shared by vfish and
//! `vtar-in`/`vtar-out`.
//!
//! Compression: gzip in-process (flate2); xz through the host's `xz` program as a filter
//! (`xz -dc` / `xz -c`), as the libguestfs appliance runs it.

use super::copy::{chmod_if_supported, chown_if_supported};
use super::host::{safe_component, write_host_file};
use crate::fs::{FileType, Stat, Timespec};
use crate::Guest;
use anyhow::{anyhow, bail, Context, Result};
use flate2::write::GzEncoder;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The compression of a tar stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar stream.
    #[default]
    None,
    /// gzip (`-z`, `compress:gzip`).
    Gzip,
    /// xz (`--xz`, `compress:xz`), through the host's `xz` program.
    Xz,
}

impl Compression {
    /// `-z/--gzip` and `--xz` on `cmd`, as virt-tar-in/-out take them, worded for `reading`
    /// a tarball or writing one.
    pub fn args(cmd: clap::Command, reading: bool) -> clap::Command {
        use clap::{Arg, ArgAction};
        let (gz, xz) = if reading { ("The tarball is gzip-compressed", "The tarball is xz-compressed (runs the host's xz)") } else { ("Compress with gzip", "Compress with xz (runs the host's xz)") };
        cmd.arg(Arg::new("gzip").short('z').long("gzip").action(ArgAction::SetTrue).conflicts_with("xz").help(gz))
            .arg(Arg::new("xz").long("xz").action(ArgAction::SetTrue).help(xz))
    }

    /// The compression [`Compression::args`] asked for.
    pub fn of(m: &clap::ArgMatches) -> Compression {
        if m.get_flag("gzip") {
            Compression::Gzip
        } else if m.get_flag("xz") {
            Compression::Xz
        } else {
            Compression::None
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = String;

    /// guestfish's `compress:` names: `none`, `gzip`, `xz`.
    fn from_str(s: &str) -> std::result::Result<Compression, String> {
        match s {
            "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "xz" => Ok(Compression::Xz),
            other => Err(format!("unknown or unsupported compression type: {other} (none, gzip and xz are)")),
        }
    }
}

/// The guest path of a member below `dir`, refusing `..` (a member must stay inside the
/// directory the user named); leading `/` and `.` components are dropped.
fn member_path(dir: &str, name: &Path) -> Result<Option<String>> {
    let mut out = dir.trim_end_matches('/').to_string();
    let mut any = false;
    for c in name.components() {
        match c {
            Component::Normal(n) => {
                out.push('/');
                out.push_str(&n.to_string_lossy());
                any = true;
            }
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => bail!("tar-in: member {}: '..' in a member name is refused", name.display()),
        }
    }
    Ok(any.then_some(out))
}

/// An `xz` child process filtering through its stdin/stdout.
fn xz(args: &[&str], stdin: Stdio, stdout: Stdio) -> Result<Child> {
    Command::new("xz")
        .args(args)
        .stdin(stdin)
        .stdout(stdout)
        .spawn()
        .map_err(|e| anyhow!("xz compression needs the xz program on the host: running xz: {}", super::host::strerror(&e)))
}

/// Waits for an `xz` child and fails when it did.
fn wait_xz(mut child: Child) -> Result<()> {
    let status = child.wait().context("xz")?;
    if !status.success() {
        bail!("xz failed ({status})");
    }
    Ok(())
}

/// Unpacks the tar file `file` (`-`: standard input), compressed as `compression` says,
/// into the existing guest directory `dir` (see [`unpack`]).
pub fn tar_in(g: &Guest, file: &str, dir: &str, compression: Compression, xattrs: bool) -> Result<()> {
    if g.file_type(dir, true)? != Some(FileType::Directory) {
        bail!("tar-in: {dir}: not a directory");
    }
    let open = || -> Result<Box<dyn Read>> {
        Ok(if file == "-" {
            Box::new(io::stdin().lock())
        } else {
            let p = Path::new(file);
            Box::new(std::fs::File::open(p).map_err(|e| super::host::host_err(p, &e))?)
        })
    };
    match compression {
        Compression::None => unpack(g, open()?, dir, xattrs),
        Compression::Gzip => unpack(g, flate2::read::GzDecoder::new(open()?), dir, xattrs),
        Compression::Xz => {
            let stdin = if file == "-" {
                Stdio::inherit()
            } else {
                let p = Path::new(file);
                Stdio::from(std::fs::File::open(p).map_err(|e| super::host::host_err(p, &e))?)
            };
            let mut child = xz(&["-dc"], stdin, Stdio::piped())?;
            let out = child.stdout.take().ok_or_else(|| anyhow!("xz: no output pipe"))?;
            let r = unpack(g, out, dir, xattrs);
            let w = wait_xz(child);
            r.and(w)
        }
    }
}

/// Unpacks `input` into guest directory `dir`, keeping modes, numeric owners, times,
/// symlinks, hard links, devices, fifos, and with `xattrs` the pax `SCHILY.xattr.*` extended
/// attributes. Members with `..` components are refused; leading `/` is dropped. Directory
/// times are set last (filling a directory changes its mtime).
pub fn unpack(guest: &Guest, input: impl Read, dir: &str, xattrs: bool) -> Result<()> {
    let mut archive = tar::Archive::new(input);
    let mut dirs = Vec::new();
    let tar_err = |e: io::Error| anyhow!("tar-in: {e}");
    for entry in archive.entries().map_err(tar_err)? {
        let mut entry = entry.map_err(tar_err)?;
        let name = entry.path().map_err(tar_err)?.into_owned();
        let Some(path) = member_path(dir, &name)? else { continue };
        let h = entry.header().clone();
        let mode = h.mode().map_err(tar_err)? & 0o7777;
        let (uid, gid) = (h.uid().map_err(tar_err)?, h.gid().map_err(tar_err)?);
        let mtime = Timespec { sec: i64::try_from(h.mtime().map_err(tar_err)?).unwrap_or(i64::MAX), nsec: 0 };
        let kind = h.entry_type();
        let mut is_link = false;
        match kind {
            tar::EntryType::Directory => {
                if guest.file_type(&path, false)? != Some(FileType::Directory) {
                    guest.mkdir_mode(&path, mode)?;
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                guest.rm_f(&path)?;
                guest.write_stream(&path, &mut entry)?;
            }
            tar::EntryType::Symlink => {
                let target = h.link_name().map_err(tar_err)?.unwrap_or_default();
                guest.ln_s(&target.to_string_lossy(), &path, true)?;
                is_link = true;
            }
            tar::EntryType::Link => {
                let target = h.link_name().map_err(tar_err)?.unwrap_or_default();
                let Some(target) = member_path(dir, &target)? else { continue };
                guest.ln(&target, &path, true)?;
                continue;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let bits = match kind {
                    tar::EntryType::Char => FileType::CharDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                }
                .mode_bits();
                let major = h.device_major().map_err(tar_err)?.unwrap_or(0);
                let minor = h.device_minor().map_err(tar_err)?.unwrap_or(0);
                guest.rm_f(&path)?;
                guest.mknod(mode | bits, major, minor, &path)?;
            }
            // pax/GNU metadata members are consumed by the tar reader itself
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader | tar::EntryType::GNULongName | tar::EntryType::GNULongLink => continue,
            other => bail!("tar-in: member {}: unsupported tar entry type {other:?}", name.display()),
        }
        if xattrs {
            if let Some(exts) = entry.pax_extensions().map_err(tar_err)? {
                for ext in exts {
                    let ext = ext.map_err(tar_err)?;
                    if let Some(attr) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                        guest.setxattr(attr, ext.value_bytes(), &path, false)?;
                    }
                }
            }
        }
        chown_if_supported(guest, uid.try_into().unwrap_or(-1), gid.try_into().unwrap_or(-1), &path)?;
        if !is_link {
            chmod_if_supported(guest, mode, &path)?;
            if kind == tar::EntryType::Directory {
                dirs.push((path, mtime));
            } else {
                guest.set_times(&path, Some(mtime), Some(mtime))?;
            }
        }
    }
    for (path, mtime) in dirs.iter().rev() {
        guest.set_times(path, Some(*mtime), Some(*mtime))?;
    }
    Ok(())
}

/// The tar header for a guest node (type, mode, owner, time, size, device numbers).
fn tar_header(st: &Stat) -> Option<tar::Header> {
    let mut h = tar::Header::new_gnu();
    let ty = match st.file_type()? {
        FileType::Regular => tar::EntryType::Regular,
        FileType::Directory => tar::EntryType::Directory,
        FileType::Symlink => tar::EntryType::Symlink,
        FileType::CharDevice => tar::EntryType::Char,
        FileType::BlockDevice => tar::EntryType::Block,
        FileType::Fifo => tar::EntryType::Fifo,
        // GNU tar: "socket ignored".
        FileType::Socket => return None,
    };
    h.set_entry_type(ty);
    h.set_mode(st.mode & 0o7777);
    h.set_uid(u64::from(st.uid));
    h.set_gid(u64::from(st.gid));
    h.set_mtime(u64::try_from(st.mtime.sec).unwrap_or(0));
    h.set_size(if ty == tar::EntryType::Regular { st.size } else { 0 });
    if matches!(ty, tar::EntryType::Char | tar::EntryType::Block) {
        let major = ((st.rdev >> 8) & 0xfff) | ((st.rdev >> 32) & !0xfff);
        let minor = (st.rdev & 0xff) | ((st.rdev >> 12) & !0xff);
        // The GNU header has room for both; numbers that do not fit are kept as 0.
        let _ = h.set_device_major(u32::try_from(major).unwrap_or(0));
        let _ = h.set_device_minor(u32::try_from(minor).unwrap_or(0));
    }
    Some(h)
}

/// Writes the tree at guest directory `dir` (canonical) as a tar stream into `w`. A symlink
/// whose target no tar archive can store is left out with a `PROG: tar-out: skipping …`
/// warning on stderr.
pub fn write_tar(g: &Guest, dir: &str, w: &mut dyn Write, prog: &str) -> Result<()> {
    let mut b = tar::Builder::new(w);
    g.walk_each(dir, |e| {
        if e.components.is_empty() {
            return Ok(());
        }
        let mut path = PathBuf::new();
        for c in &e.components {
            path.push(safe_component(c)?);
        }
        let Some(mut h) = tar_header(&e.stat) else { return Ok(()) };
        // Errors name the guest path they happened at.
        let guest = format!("{}/{}", dir.trim_end_matches('/'), path.display());
        let at = |err: &dyn std::fmt::Display| anyhow!("{guest}: {err}");
        match e.stat.file_type() {
            Some(FileType::Symlink) => {
                let target = e.readlink().map_err(|err| at(&err))?;
                // A damaged filesystem can hold targets no tar archive can store: one such
                // symlink is left out with a warning, not the whole archive.
                if target.is_empty() || target.contains(&0) {
                    let why = if target.is_empty() { "is empty" } else { "contains a NUL byte" };
                    eprintln!("{prog}: tar-out: skipping the symlink {guest}: its target {why}");
                    return Ok(());
                }
                b.append_link(&mut h, &path, OsStr::from_bytes(&target)).map_err(|err| at(&err))?
            }
            Some(FileType::Regular) => {
                // A file that reads short still fills its declared size.
                let data = e.open().chain(io::repeat(0)).take(e.stat.size);
                b.append_data(&mut h, &path, data).map_err(|err| at(&err))?
            }
            _ => b.append_data(&mut h, &path, io::empty()).map_err(|err| at(&err))?,
        }
        Ok::<(), anyhow::Error>(())
    })?;
    b.finish()?;
    Ok(())
}

/// Packs guest directory `dir` into the host file `tarfile` (`-`: `out`, standard output),
/// compressed as `compression` says. The host file is written new and renamed over
/// `tarfile` (see [`write_host_file`]).
pub fn tar_out(g: &Guest, dir: &str, tarfile: &str, compression: Compression, out: &mut dyn Write, prog: &str) -> Result<()> {
    let canonical = g.realpath(dir)?;
    if g.stat(&canonical)?.file_type() != Some(FileType::Directory) {
        bail!("{dir}: Not a directory");
    }
    write_host_file(tarfile, out, |w| match compression {
        Compression::None => write_tar(g, &canonical, w, prog),
        Compression::Gzip => {
            let mut z = GzEncoder::new(w, flate2::Compression::default());
            write_tar(g, &canonical, &mut z, prog)?;
            z.finish()?;
            Ok(())
        }
        Compression::Xz => {
            let mut child = xz(&["-c"], Stdio::piped(), Stdio::piped())?;
            let mut stdin = child.stdin.take().ok_or_else(|| anyhow!("xz: no input pipe"))?;
            let mut stdout = child.stdout.take().ok_or_else(|| anyhow!("xz: no output pipe"))?;
            // xz's output is gathered in an unnamed temporary file while the tree is written
            // to its input, then copied into `w`.
            let gather = std::thread::spawn(move || -> io::Result<std::fs::File> {
                let mut f = tempfile::tempfile()?;
                io::copy(&mut stdout, &mut f)?;
                Ok(f)
            });
            let written = write_tar(g, &canonical, &mut stdin, prog);
            drop(stdin);
            let gathered = gather.join().map_err(|_| anyhow!("tar-out: the xz reader thread panicked"))?.context("xz output");
            written?;
            wait_xz(child)?;
            let mut f = gathered?;
            io::Seek::rewind(&mut f)?;
            io::copy(&mut f, w)?;
            Ok(())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths_stay_below_the_directory() {
        assert_eq!(member_path("/d", Path::new("a/b")).unwrap().as_deref(), Some("/d/a/b"));
        assert_eq!(member_path("/d/", Path::new("/etc/x")).unwrap().as_deref(), Some("/d/etc/x"));
        assert_eq!(member_path("/d", Path::new("./")).unwrap(), None);
        assert!(member_path("/d", Path::new("a/../../etc/shadow")).is_err());
    }

    #[test]
    fn compression_names() {
        assert_eq!("gzip".parse::<Compression>(), Ok(Compression::Gzip));
        assert_eq!("xz".parse::<Compression>(), Ok(Compression::Xz));
        assert!("bzip2".parse::<Compression>().is_err());
    }
}
