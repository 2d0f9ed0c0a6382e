//! Command-line plumbing shared by the tool binaries (`vfilesystems`, `vcat`, `vls`…): the
//! virt-tools way of pairing `--format` with the `-a` options after it, and opening a guest
//! read-only with `-m` mounts or, without them, by inspection like `-i`. The submodules hold
//! the work that a standalone tool and a vfish command share (`vdf` and `df`, `vcopy-in` and
//! `copy-in`, `vedit` and `edit`, `vcustomize` and `vsysprep`…).

pub mod copy;
pub mod customize;
pub mod df;
pub mod edit;
pub mod fuse;
pub mod host;
pub mod tar;

use crate::disk::Format;
use crate::guest::DriveOptions;
use crate::Guest;
use anyhow::{bail, Context, Result};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::path::PathBuf;
use std::process::ExitCode;

/// Reads the `add` and `format` arguments (refusing `-d`/`-c`): pairs each `-a IMAGE` with the last `--format` given before it on the command line.
/// Applies `--backing-allow` first (see [`apply_backing_allow`]).
pub fn drives(m: &ArgMatches) -> Result<Vec<(PathBuf, Option<Format>)>> {
    if let Ok(Some(guest)) = m.try_get_one::<String>("domain") {
        bail!("-d {guest}: libvirt guests cannot be opened (vguestfs has no libvirt connection): give the guest's disk images with -a");
    }
    if let Ok(Some(uri)) = m.try_get_one::<String>("connect") {
        bail!("-c {uri}: libvirt is not supported (vguestfs opens disk images only): give the guest's disk images with -a");
    }
    apply_backing_allow(m);
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

/// Reads the `add`, `format` and `mount` arguments: adds the drives read-only, launches, and mounts (`-m` list, or inspection like `-i`).
pub fn open_guest(m: &ArgMatches, prog: &str) -> Result<Guest> {
    open_guest_with(m, prog, true)
}

/// [`open_guest`], read-write unless `readonly`: the filesystems are mounted for writing and
/// the changes held in the drives' copy-on-write overlays until [`Guest::commit`] writes them
/// (all or nothing, through the redo log).
pub fn open_guest_with(m: &ArgMatches, prog: &str, readonly: bool) -> Result<Guest> {
    let drives = drives(m)?;
    if drives.is_empty() {
        bail!("you must specify at least one -a option.");
    }
    let mut g = Guest::new();
    for (path, format) in drives {
        g.add_drive(&path, DriveOptions { format, readonly, ..Default::default() }).with_context(|| path.display().to_string())?;
    }
    g.launch()?;
    for n in g.notices() {
        eprintln!("{prog}: {n}");
    }
    let mounts: Vec<&String> = m.get_many::<String>("mount").map(|v| v.collect()).unwrap_or_default();
    if mounts.is_empty() {
        let roots = g.inspect_os()?;
        let root = match roots.as_slice() {
            [] => bail!("no operating system was found on this disk"),
            [r] => r.clone(),
            _ => bail!("multi-boot operating systems are not supported"),
        };
        for (mp, e) in g.mount_inspected(&root, readonly)? {
            eprintln!("{prog}: warning: {mp}: {e}");
        }
    } else {
        for spec in mounts {
            let (dev, mp, opts) = mount_spec_parts(spec)?;
            let ro = readonly || opts.split(',').any(|o| o == "ro");
            // btrfs subvol=/subvolid= choose the subvolume mounted
            let subvol: Vec<&str> = opts.split(',').filter(|o| o.starts_with("subvol=") || o.starts_with("subvolid=")).collect();
            let r = if !subvol.is_empty() {
                g.mount_options(&format!("{}{}", subvol.join(","), if ro { ",ro" } else { "" }), dev, mp)
            } else if ro {
                g.mount_ro(dev, mp)
            } else {
                g.mount(dev, mp)
            };
            r.with_context(|| format!("mount {dev} on {mp}"))?;
        }
    }
    print_warnings(&g, prog);
    Ok(g)
}

/// A `-m DEV[:MOUNTPOINT[:OPTIONS[:FSTYPE]]]` argument, as guestfish and guestmount take it:
/// the device, the mountpoint (`/` when left out) and whether the options ask for a read-only
/// mount (`ro`). Other mount options are the kernel's business and change nothing here, and a
/// filesystem type is not needed: filesystems are probed.
pub fn mount_spec(spec: &str) -> Result<(&str, &str, bool)> {
    let (dev, mp, opts) = mount_spec_parts(spec)?;
    Ok((dev, mp, opts.split(',').any(|o| o == "ro")))
}

/// The device (a `btrfsvol:DEVICE/SUBVOLUME` keeps its prefix), the mountpoint (`/` when left
/// out) and the options (maybe empty) of a `-m` argument.
pub fn mount_spec_parts(spec: &str) -> Result<(&str, &str, &str)> {
    let skip = if spec.starts_with("btrfsvol:") { "btrfsvol:".len() } else { 0 };
    let mut parts = spec[skip..].splitn(4, ':');
    let dev = &spec[..skip + parts.next().unwrap_or_default().len()];
    let mp = parts.next().filter(|m| !m.is_empty()).unwrap_or("/");
    let opts = parts.next().unwrap_or("");
    if dev.len() == skip {
        bail!("-m {spec}: no device");
    }
    Ok((dev, mp, opts))
}

/// With `-v`: prints each qcow2 image's backing chain (`PROG: IMAGE: backing chain: IMAGE
/// (qcow2) -> BASE (raw)`), as the open follows it.
pub fn print_backing_chains(prog: &str, images: &[PathBuf]) {
    for img in images {
        if crate::disk::probe::probe_format(img).ok() != Some(Format::Qcow2) {
            continue;
        }
        match crate::disk::qcow2::backing_chain(img) {
            Ok(chain) if chain.len() > 1 => {
                let parts: Vec<String> = chain.iter().map(|(p, f)| format!("{} ({f})", p.display())).collect();
                eprintln!("{prog}: {}: backing chain: {}", img.display(), parts.join(" -> "));
            }
            Ok(_) => eprintln!("{prog}: {}: no backing file", img.display()),
            Err(e) => eprintln!("{prog}: {}: backing chain: {e}", img.display()),
        }
    }
}

/// Lets a closed stdout end the tool quietly, as it ends `cat` or `qemu-img` (`vinspect --json
/// | head`): the default SIGPIPE action instead of Rust's, which turns the broken pipe into a
/// panic at the next `println!`. Every tool calls it first.
pub fn default_sigpipe() {
    // SAFETY: setting a signal's disposition to its default; no handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Prints the filesystem warnings the session has not shown yet (see
/// [`Guest::take_warnings`]) as `PROG: warning: …` lines.
pub fn print_warnings(g: &Guest, prog: &str) {
    for w in g.take_warnings() {
        eprintln!("{prog}: warning: {w}");
    }
}

/// The `--backing-allow DIR|any` option (repeatable): qcow2 backing files that resolve outside
/// their image's directory are opened only from these directories (see
/// [`crate::disk::set_backing_allow`]).
pub fn backing_allow_arg() -> Arg {
    Arg::new("backing-allow")
        .long("backing-allow")
        .value_name("DIR|any")
        .action(ArgAction::Append)
        .help("Allow qcow2 backing files in DIR (repeatable), or anywhere with 'any'; by default only backing files beside their image or below it are opened")
}

/// Sets the process's backing-file rule from `--backing-allow` (when the command has it).
pub fn apply_backing_allow(m: &ArgMatches) {
    let Ok(Some(values)) = m.try_get_many::<String>("backing-allow") else { return };
    crate::disk::set_backing_allow(backing_allow(values.map(String::as_str)));
}

/// The rule for a list of `--backing-allow` values: `any` wins, else the directories.
pub fn backing_allow<'a>(values: impl Iterator<Item = &'a str>) -> crate::disk::BackingAllow {
    let mut dirs = Vec::new();
    for v in values {
        if v == "any" {
            return crate::disk::BackingAllow::Any;
        }
        dirs.push(PathBuf::from(v));
    }
    crate::disk::BackingAllow::Dirs(dirs)
}

/// Adds the `-a IMAGE`, `--format[=raw|qcow2]` and `--backing-allow` options that [`drives`]
/// reads, and virt-tools' libvirt options `-d`/`-c`, which it refuses with the reason.
pub fn drive_args(cmd: Command) -> Command {
    cmd.arg(Arg::new("domain").short('d').long("domain").value_name("GUEST").hide(true))
        .arg(Arg::new("connect").short('c').long("connect").value_name("URI").hide(true))
        .arg(backing_allow_arg()).arg(Arg::new("add").short('a').long("add").value_name("IMAGE").action(ArgAction::Append).help("Add image"))
        .arg(
            Arg::new("format")
                .long("format")
                .value_name("raw|qcow2")
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("")
                .action(ArgAction::Append)
                .help("Force disk format for the following -a options (--format alone: probe again)"),
        )
}

/// The options of the tools that wrap one guestfish command (`vcopy-in`, `vcopy-out`,
/// `vtar-in`, `vtar-out`, `vedit`), besides [`drive_args`]: `-m DEV[:MP]` (repeatable),
/// `-i` (inspection, the default without `-m`), `-v`.
pub fn mount_args(cmd: Command) -> Command {
    drive_args(cmd)
        .arg(Arg::new("mount").short('m').long("mount").value_name("DEV[:MP]").action(ArgAction::Append).help("Mount DEV on MP (default /) instead of inspecting"))
        .arg(Arg::new("inspector").short('i').long("inspector").action(ArgAction::SetTrue).help("Inspect the guest and mount its filesystems (the default without -m)"))
        .arg(Arg::new("verbose").short('v').long("verbose").action(ArgAction::SetTrue).help("Verbose messages"))
}

/// Ends a read-write session: unmounts everything (filesystems write what they hold), then
/// commits the drives' overlays to the image files, all or nothing.
pub fn commit(g: &mut Guest) -> Result<()> {
    g.umount_all()?;
    g.commit()?;
    Ok(())
}

/// The exit status of a tool: 0, or 1 after printing `PROG: error: …` as the virt tools do.
pub fn exit_status(prog: &str, result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{prog}: error: {}", one_line(&e));
            ExitCode::from(1)
        }
    }
}

/// An error and its causes on one line, joined by `: ` as `{:#}` joins them, without a cause
/// whose text is already in the line: our errors name their source in their own message, so
/// the chain would say it twice ("open: No such file or directory (os error 2): No such file
/// or directory (os error 2)").
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{mount_spec, mount_spec_parts, one_line};

    #[test]
    fn mount_specs_split_as_guestfish_does() {
        assert_eq!(mount_spec("/dev/sda1").unwrap(), ("/dev/sda1", "/", false));
        assert_eq!(mount_spec("/dev/sda1:/boot").unwrap(), ("/dev/sda1", "/boot", false));
        assert_eq!(mount_spec("/dev/sda1:/boot:noatime,ro").unwrap(), ("/dev/sda1", "/boot", true));
        assert_eq!(mount_spec("/dev/sda3:/:subvol=root:btrfs").unwrap(), ("/dev/sda3", "/", false));
        assert!(mount_spec(":/boot").is_err());
        assert_eq!(mount_spec_parts("btrfsvol:/dev/sda3/root:/:ro").unwrap(), ("btrfsvol:/dev/sda3/root", "/", "ro"));
        assert_eq!(mount_spec_parts("/dev/sda3:/home:subvol=home").unwrap(), ("/dev/sda3", "/home", "subvol=home"));
        assert!(mount_spec("btrfsvol::/").is_err());
    }

    #[test]
    fn causes_already_said_are_not_repeated() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let disk = crate::disk::Error::Io { path: "/x.img".into(), op: "open", source: io };
        let e = anyhow::Error::new(disk).context("inspecting /x.img");
        let line = one_line(&e);
        assert_eq!(line.matches("not found").count(), 1, "{line}");
        assert!(line.starts_with("inspecting /x.img: /x.img: open"), "{line}");
    }
}
