//! `vls`: list directories in a disk image, like `virt-ls`: plain names (`ls`), `-l` (the
//! appliance's `ls -la`), `-R` (`find`, full paths). The guest is inspected and mounted
//! read-only (or mounted as `-m DEV[:MP]` says). The recursive long / CSV / checksum modes are
//! not implemented.

use anyhow::{bail, Result};
use clap::{Arg, ArgAction, Command};
use std::io::Write;
use std::process::ExitCode;
use vguestfs::fs::FileType;
use vguestfs::guest::listing::{self, Row};
use vguestfs::tool::open_guest;
use vguestfs::Guest;

fn cli() -> Command {
    vguestfs::tool::drive_args(Command::new("vls"))
        .about("list files in a virtual machine")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::new("mount").short('m').long("mount").value_name("DEV[:MP]").action(ArgAction::Append).help("Mount DEV on MP (default /)"))
        .arg(Arg::new("long").short('l').long("long").action(ArgAction::SetTrue).help("Long listing (ls -la)"))
        .arg(Arg::new("recursive").short('R').long("recursive").action(ArgAction::SetTrue).help("Recursive listing"))
        .arg(Arg::new("verbose").short('v').long("verbose").action(ArgAction::SetTrue).help("Verbose messages"))
        .arg(Arg::new("dirs").value_name("DIR").num_args(1..).required(true).help("Directories to list"))
}

/// The mark after the mode string, from the extended attributes (as `ls` shows it).
fn access_mark(xattrs: &[(Vec<u8>, Vec<u8>)]) -> char {
    let has = |n: &[u8]| xattrs.iter().any(|(k, _)| k.as_slice() == n);
    if has(b"system.posix_acl_access") || has(b"system.posix_acl_default") {
        '+'
    } else if has(b"security.selinux") {
        '.'
    } else {
        ' '
    }
}

/// `ls -la DIR` as the appliance prints it.
fn long_listing(g: &Guest, dir: &str) -> Result<Vec<u8>> {
    let dir = g.realpath(dir)?;
    let parent = match dir.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => dir[..i].to_string(),
    };
    let mut rows = vec![
        Row { stat: g.stat(&dir)?, mark: access_mark(&g.xattrs(&dir, true)?), name: b".".to_vec(), target: None },
        Row { stat: g.stat(&parent)?, mark: access_mark(&g.xattrs(&parent, true)?), name: b"..".to_vec(), target: None },
    ];
    for e in g.list_dir(&dir)? {
        let target = if e.stat.file_type() == Some(FileType::Symlink) { Some(e.readlink()?) } else { None };
        let mark = access_mark(&e.xattrs()?);
        let name = e.components.last().cloned().unwrap_or_default();
        rows.push(Row { stat: e.stat, mark, name, target });
    }
    rows.sort_by(|x, y| x.name.cmp(&y.name));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Ok(listing::render(&rows, now))
}

fn main() -> ExitCode {
    vguestfs::tool::default_sigpipe();
    vguestfs::tool::exit_status("vls", run())
}

fn run() -> Result<()> {
    let m = cli().try_get_matches().unwrap_or_else(|e| e.exit());
    if m.get_flag("verbose") {
        env_logger::Builder::new().filter_level(log::LevelFilter::Debug).init();
    }
    let long = m.get_flag("long");
    let recursive = m.get_flag("recursive");
    if long && recursive {
        bail!("-lR (recursive long listing) is not supported");
    }
    let g = open_guest(&m, "vls")?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for dir in m.get_many::<String>("dirs").into_iter().flatten() {
        if long {
            out.write_all(&long_listing(&g, dir)?)?;
        } else if recursive {
            let prefix = if dir.ends_with('/') { dir.clone() } else { format!("{dir}/") };
            for p in g.find(dir)? {
                writeln!(out, "{prefix}{p}")?;
            }
        } else {
            for e in g.list_dir(dir)? {
                out.write_all(e.components.last().map_or(&[][..], |c| c.as_slice()))?;
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
