//! `vcat`: print files from a disk image to stdout, like `virt-cat`: the guest is inspected
//! and its filesystems mounted read-only (or mounted as `-m DEV[:MP]` says), and each file's
//! bytes are streamed to stdout.

use anyhow::{bail, Context, Result};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use vguestfs::disk::Format;
use vguestfs::fs::FileType;
use vguestfs::guest::DriveOptions;
use vguestfs::Guest;

fn cli() -> Command {
    Command::new("vcat")
        .about("display files in a virtual machine")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::new("add").short('a').long("add").value_name("IMAGE").action(ArgAction::Append).help("Add image"))
        .arg(
            Arg::new("format")
                .long("format")
                .value_name("raw|qcow2")
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("")
                .action(ArgAction::Append)
                .help("Force disk format for the following -a options"),
        )
        .arg(Arg::new("mount").short('m').long("mount").value_name("DEV[:MP]").action(ArgAction::Append).help("Mount DEV on MP (default /)"))
        .arg(Arg::new("verbose").short('v').long("verbose").action(ArgAction::SetTrue).help("Verbose messages"))
        .arg(Arg::new("files").value_name("FILE").num_args(1..).required(true).help("Files to display"))
}

/// Pairs each `-a IMAGE` with the last `--format` given before it on the command line.
fn drives(m: &ArgMatches) -> Result<Vec<(PathBuf, Option<Format>)>> {
    let adds: Vec<(usize, &String)> = match (m.indices_of("add"), m.get_many::<String>("add")) {
        (Some(i), Some(v)) => i.zip(v).collect(),
        _ => Vec::new(),
    };
    let formats: Vec<(usize, &String)> = match (m.indices_of("format"), m.get_many::<String>("format")) {
        (Some(i), Some(v)) => i.zip(v).collect(),
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for (idx, path) in adds {
        let fmt = formats.iter().rev().find(|(fi, _)| *fi < idx).map(|(_, f)| f.as_str()).unwrap_or("");
        let fmt = if fmt.is_empty() { None } else { Some(fmt.parse::<Format>().map_err(anyhow::Error::msg)?) };
        out.push((PathBuf::from(path), fmt));
    }
    Ok(out)
}

/// Adds the drives read-only, launches, and mounts (`-m` list, or inspection like `-i`).
fn open_guest(m: &ArgMatches) -> Result<Guest> {
    let drives = drives(m)?;
    if drives.is_empty() {
        bail!("you must specify at least one -a option.");
    }
    let mut g = Guest::new();
    for (path, format) in drives {
        g.add_drive(&path, DriveOptions { format, readonly: true }).with_context(|| path.display().to_string())?;
    }
    g.launch()?;
    let mounts: Vec<&String> = m.get_many::<String>("mount").map(|v| v.collect()).unwrap_or_default();
    if mounts.is_empty() {
        let roots = g.inspect_os()?;
        let root = match roots.as_slice() {
            [] => bail!("no operating system was found on this disk"),
            [r] => r.clone(),
            _ => bail!("multi-boot operating systems are not supported"),
        };
        for (mp, e) in g.mount_inspected(&root, true)? {
            eprintln!("vcat: warning: {mp}: {e}");
        }
    } else {
        for spec in mounts {
            let (dev, mp) = match spec.split_once(':') {
                Some((d, mp)) => (d, mp),
                None => (spec.as_str(), "/"),
            };
            g.mount_ro(dev, mp).with_context(|| format!("mount {dev} on {mp}"))?;
        }
    }
    Ok(g)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vcat: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<()> {
    let m = cli().try_get_matches().unwrap_or_else(|e| e.exit());
    if m.get_flag("verbose") {
        env_logger::Builder::new().filter_level(log::LevelFilter::Debug).init();
    }
    let g = open_guest(&m)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for file in m.get_many::<String>("files").into_iter().flatten() {
        if g.stat(file)?.file_type() == Some(FileType::Directory) {
            bail!("{file}: Is a directory");
        }
        let mut f = g.open_file(file)?;
        std::io::copy(&mut f, &mut out).with_context(|| file.clone())?;
    }
    out.flush()?;
    Ok(())
}
