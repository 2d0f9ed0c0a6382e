//! Command handlers, one function per table entry, printing in guestfish's formats: string
//! lists one per line, hashes as `key: value`, integers in decimal (MBR IDs in `0x` hex),
//! struct lists as `[i] = {` … `}` blocks.

use crate::command::{self, Args, Failure};
use crate::error::{CmdError, CmdResult};
use crate::session::Session;
use crate::structs::{print_list, Fields};
use std::io::Write;
use std::path::Path;
use vguestfs::disk::probe::probe_format;
use vguestfs::disk::{open_image, Format};
use vguestfs::guest::files::fnmatch;
use vguestfs::guest::DriveOptions;
use vguestfs::lvm::{LogicalVolume, VolumeGroup};
use vguestfs::part::PartKind;

fn lines(out: &mut dyn Write, items: &[String]) -> CmdResult {
    for i in items {
        writeln!(out, "{i}")?;
    }
    Ok(())
}

/// `add filename [readonly:true|false] [format:..]`
pub fn add(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    let readonly = a.opt_bool("readonly").unwrap_or(s.readonly);
    let blocksize = a.opt("blocksize").map(vguestfs::guest::parse_blocksize).transpose().map_err(CmdError::Failed)?;
    add_drive(s, a.str(0), a.opt("format"), readonly, blocksize)
}

/// `add-ro filename`
pub fn add_ro(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    add_drive(s, a.str(0), None, true, None)
}

fn add_drive(s: &mut Session, file: &str, format: Option<&str>, readonly: bool, blocksize: Option<u64>) -> CmdResult {
    let format = format
        .map(str::parse::<Format>)
        .transpose()
        .map_err(CmdError::Failed)?;
    std::fs::metadata(file)
        .map_err(|e| CmdError::Failed(format!("{file}: {}", crate::cli::strerror(&e))))?;
    s.guest
        .add_drive(Path::new(file), DriveOptions { format, readonly, blocksize, ..Default::default() })?;
    Ok(())
}

/// `disk-format filename`: the image format, `raw` or `qcow2`.
pub fn disk_format(_s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let name = match probe_format(Path::new(a.str(0)))? {
        Format::Raw => "raw",
        Format::Qcow2 => "qcow2",
    };
    writeln!(out, "{name}")?;
    Ok(())
}

/// `disk-virtual-size filename`: the size of the disk the image holds, in bytes.
pub fn disk_virtual_size(_s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    writeln!(
        out,
        "{}",
        open_image(Path::new(a.str(0)), None, false)?.len()
    )?;
    Ok(())
}

/// The words a `glob` argument stands for: guest paths or (for `/dev/…`) device names
/// matching it, or the argument itself when it has no wildcard or matches nothing.
fn expand(s: &Session, word: &str) -> Result<Vec<String>, CmdError> {
    if !word.contains(['*', '?', '[']) {
        return Ok(vec![word.to_string()]);
    }
    let found = if let Some(rest) = word.strip_prefix("/dev/") {
        let g = &s.guest;
        let mut devs = Vec::new();
        for list in [g.list_devices(), g.list_partitions(), g.lvs()] {
            devs.extend(list?);
        }
        devs.retain(|d| {
            let (dp, np) = (d.trim_start_matches("/dev/").split('/'), rest.split('/'));
            dp.clone().count() == np.clone().count()
                && dp.zip(np).all(|(n, p)| fnmatch(p.as_bytes(), n.as_bytes()))
        });
        devs.sort();
        devs
    } else {
        s.guest.glob(word)?
    };
    Ok(if found.is_empty() {
        vec![word.to_string()]
    } else {
        found
    })
}

/// `glob command args…`: runs `command` once for every combination of the expansions.
pub fn glob(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let (name, words) = a
        .all()
        .split_first()
        .ok_or(CmdError::Usage("glob: no command".into()))?;
    let cmd = command::lookup_in(a.commands(), name)
        .ok_or_else(|| CmdError::Usage(format!("{name}: unknown command")))?;
    let mut runs: Vec<Vec<String>> = vec![Vec::new()];
    for w in words {
        let options = expand(s, w)?;
        runs = runs
            .into_iter()
            .flat_map(|prefix| {
                options
                    .iter()
                    .map(move |o| [prefix.clone(), vec![o.clone()]].concat())
            })
            .collect();
    }
    for run in runs {
        cmd.invoke(a.commands(), s, &run, out).map_err(|f| match f {
            Failure::WrongArgs => CmdError::Usage(format!(
                "error: incorrect number of arguments\nusage: {}",
                cmd.synopsis()
            )),
            Failure::Message(m) => CmdError::Usage(m),
            Failure::Library(m) => CmdError::Usage(format!("vguestfs: error: {m}")),
        })?;
    }
    Ok(())
}

/// `run` / `launch`
pub fn run(s: &mut Session, _a: &Args, _out: &mut dyn Write) -> CmdResult {
    s.guest.launch()?;
    for n in s.guest.notices() {
        eprintln!("vguestfs: {n}");
    }
    Ok(())
}

/// `quit` / `exit` / `q`
pub fn quit(s: &mut Session, _a: &Args, _out: &mut dyn Write) -> CmdResult {
    s.quit = true;
    Ok(())
}

/// `help [cmd]`
pub fn help(_s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    match a.all().first() {
        None => {
            writeln!(
                out,
                "Add disk images to examine using the ‘-a’ option, or the ‘add’ command.\n\
                 Once you have done this, use the ‘run’ command.\n\n\
                 For more information about a command, use ‘help cmd’.\n"
            )?;
            write!(out, "{}", command::list_commands(a.commands()))?;
        }
        Some(name) => match command::lookup_in(a.commands(), name) {
            Some(c) => write!(out, "{}", c.long_help())?,
            None => {
                return Err(CmdError::Usage(format!(
                    "{name}: command not known, use -h to list all commands"
                )))
            }
        },
    }
    Ok(())
}

/// `echo [params ...]`
pub fn echo(_s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    writeln!(out, "{}", a.all().join(" "))?;
    Ok(())
}

/// `version`: the vguestfs version as guestfish prints `struct version`.
pub fn version(_s: &mut Session, _a: &Args, out: &mut dyn Write) -> CmdResult {
    let mut parts = env!("CARGO_PKG_VERSION").splitn(3, '.');
    let mut next = || parts.next().unwrap_or("0").to_string();
    let (major, minor, rest) = (next(), next(), next());
    let (release, extra) = match rest.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest, String::new()),
    };
    writeln!(
        out,
        "major: {major}\nminor: {minor}\nrelease: {release}\nextra: {extra}"
    )?;
    Ok(())
}

/// `list-devices`
pub fn list_devices(s: &mut Session, _a: &Args, out: &mut dyn Write) -> CmdResult {
    lines(out, &s.guest.list_devices()?)
}

/// `list-partitions`
pub fn list_partitions(s: &mut Session, _a: &Args, out: &mut dyn Write) -> CmdResult {
    lines(out, &s.guest.list_partitions()?)
}

/// `list-filesystems`: `device: type` lines.
pub fn list_filesystems(s: &mut Session, _a: &Args, out: &mut dyn Write) -> CmdResult {
    for (dev, ty) in s.guest.list_filesystems()? {
        writeln!(out, "{dev}: {ty}")?;
    }
    Ok(())
}

/// `lvs`
pub fn lvs(s: &mut Session, _a: &Args, out: &mut dyn Write) -> CmdResult {
    lines(out, &s.guest.lvs()?)
}

/// `vgs`
pub fn vgs(s: &mut Session, _a: &Args, out: &mut dyn Write) -> CmdResult {
    lines(out, &s.guest.vgs()?)
}

/// `pvs`
pub fn pvs(s: &mut Session, _a: &Args, out: &mut dyn Write) -> CmdResult {
    lines(out, &s.guest.pvs()?)
}

/// Prints one field of the probed filesystem, or an empty line when there is none.
fn vfs_field(
    s: &Session,
    dev: &str,
    out: &mut dyn Write,
    field: fn(vguestfs::fs::probe::FsInfo) -> Option<String>,
) -> CmdResult {
    let value = s.guest.probe(dev)?.and_then(field).unwrap_or_default();
    writeln!(out, "{value}")?;
    Ok(())
}

/// `vfs-type mountable`
pub fn vfs_type(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    vfs_field(s, a.str(0), out, |i| Some(i.fs_type))
}

/// `vfs-uuid mountable`
pub fn vfs_uuid(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    vfs_field(s, a.str(0), out, |i| i.uuid)
}

/// `vfs-label mountable`
pub fn vfs_label(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    vfs_field(s, a.str(0), out, |i| i.label)
}

/// `blockdev-getsize64 device`
pub fn blockdev_getsize64(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    writeln!(out, "{}", s.guest.device(a.str(0))?.len())?;
    Ok(())
}

/// `blockdev-getsz device`: size in 512-byte sectors.
pub fn blockdev_getsz(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    writeln!(out, "{}", s.guest.device(a.str(0))?.len() / 512)?;
    Ok(())
}

/// `blockdev-getss device`: always 512 (images are addressed in 512-byte sectors).
pub fn blockdev_getss(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    s.guest.device(a.str(0))?;
    writeln!(out, "512")?;
    Ok(())
}

/// `part-list device`: the `struct partition` list.
pub fn part_list(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let (_, table) = s.table(a.str(0))?;
    let rows: Vec<Fields> = table
        .partitions
        .iter()
        .map(|p| {
            let end = (p.start + p.size).saturating_sub(1);
            vec![
                ("part_num", p.number.to_string()),
                ("part_start", p.start.to_string()),
                ("part_end", end.to_string()),
                ("part_size", p.size.to_string()),
            ]
        })
        .collect();
    print_list(out, &rows)
}

/// `part-get-parttype device`: `msdos` or `gpt`.
pub fn part_get_parttype(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let (_, table) = s.table(a.str(0))?;
    writeln!(out, "{}", table.kind)?;
    Ok(())
}

/// `part-get-mbr-id device partnum`: the type byte, printed `0x83` like guestfish.
pub fn part_get_mbr_id(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let p = s.partition(a.str(0), a.int(1))?;
    match p.part.kind {
        PartKind::Mbr { id, .. } if id != 0 => writeln!(out, "0x{id:x}")?,
        PartKind::Mbr { .. } => writeln!(out, "0")?,
        PartKind::Gpt { .. } => return Err(not_table(a.str(0), "msdos")),
    }
    Ok(())
}

fn not_table(dev: &str, want: &str) -> CmdError {
    CmdError::Failed(format!(
        "{dev}: this function needs a partition table of type '{want}'"
    ))
}

/// A GPT partition's (type GUID, GUID, name).
fn gpt_entry<'a>(s: &'a Session, a: &Args) -> Result<(&'a str, &'a str, &'a str), CmdError> {
    let p = s.partition(a.str(0), a.int(1))?;
    match &p.part.kind {
        PartKind::Gpt {
            type_guid,
            guid,
            name,
            ..
        } => Ok((type_guid, guid, name)),
        PartKind::Mbr { .. } => Err(not_table(a.str(0), "gpt")),
    }
}

/// `part-get-gpt-type device partnum`
pub fn part_get_gpt_type(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    writeln!(out, "{}", gpt_entry(s, a)?.0)?;
    Ok(())
}

/// `part-get-gpt-guid device partnum`
pub fn part_get_gpt_guid(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    writeln!(out, "{}", gpt_entry(s, a)?.1)?;
    Ok(())
}

/// `part-get-name device partnum` (GPT only)
pub fn part_get_name(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    writeln!(out, "{}", gpt_entry(s, a)?.2)?;
    Ok(())
}

/// `part-get-bootable device partnum` (MBR boot flag)
pub fn part_get_bootable(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let p = s.partition(a.str(0), a.int(1))?;
    match p.part.kind {
        PartKind::Mbr { bootable, .. } => writeln!(out, "{bootable}")?,
        PartKind::Gpt { .. } => return Err(not_table(a.str(0), "msdos")),
    }
    Ok(())
}

/// `part-get-gpt-attributes device partnum`: the 64 attribute bits, in decimal.
pub fn part_get_gpt_attributes(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let p = s.partition(a.str(0), a.int(1))?;
    match p.part.kind {
        PartKind::Gpt { attributes, .. } => writeln!(out, "{}", attributes as i64)?,
        PartKind::Mbr { .. } => return Err(not_table(a.str(0), "gpt")),
    }
    Ok(())
}

/// `part-get-disk-guid device`
pub fn part_get_disk_guid(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let (_, table) = s.table(a.str(0))?;
    match &table.disk_guid {
        Some(g) => writeln!(out, "{g}")?,
        None => return Err(not_table(a.str(0), "gpt")),
    }
    Ok(())
}

/// `blockdev-getro device`: whether the device is read-only.
pub fn blockdev_getro(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    writeln!(out, "{}", !s.guest.device(a.str(0))?.is_writable())?;
    Ok(())
}

/// The volume group and LV name of `/dev/VG/LV`, if it is a logical volume of the guest.
fn find_lv<'a>(
    s: &'a Session,
    dev: &str,
) -> Result<Option<(&'a VolumeGroup, &'a LogicalVolume)>, CmdError> {
    let Some((vg, lv)) = dev.strip_prefix("/dev/").and_then(|r| r.split_once('/')) else {
        return Ok(None);
    };
    let found = s
        .guest
        .volume_groups()?
        .iter()
        .find(|g| g.name == vg)
        .and_then(|g| g.lvs.iter().find(|l| l.name == lv).map(|l| (g, l)));
    Ok(found)
}

/// `is-lv mountable`
pub fn is_lv(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    writeln!(out, "{}", find_lv(s, a.str(0))?.is_some())?;
    Ok(())
}

/// `lvuuid device`
pub fn lvuuid(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    match find_lv(s, a.str(0))? {
        Some((_, lv)) => writeln!(out, "{}", lv.uuid)?,
        None => {
            return Err(CmdError::Failed(format!(
                "{}: not a logical volume (see lvs)",
                a.str(0)
            )))
        }
    }
    Ok(())
}

/// `vguuid vgname`
pub fn vguuid(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let name = a.str(0);
    match s.guest.volume_groups()?.iter().find(|g| g.name == name) {
        Some(vg) => writeln!(out, "{}", vg.uuid)?,
        None => {
            return Err(CmdError::Failed(format!(
                "{name}: no such volume group (see vgs)"
            )))
        }
    }
    Ok(())
}

/// `pvuuid device`
pub fn pvuuid(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let dev = a.str(0);
    let pv = s
        .guest
        .volume_groups()?
        .iter()
        .flat_map(|g| g.pvs.iter())
        .find(|p| p.device == dev);
    match pv {
        Some(pv) => writeln!(out, "{}", pv.uuid)?,
        None => {
            return Err(CmdError::Failed(format!(
                "{dev}: not a physical volume (see pvs)"
            )))
        }
    }
    Ok(())
}

/// `part-to-dev partition`
pub fn part_to_dev(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let (disk, _) = s.guest.partition(a.str(0))?;
    writeln!(out, "{}", disk.name)?;
    Ok(())
}

/// `part-to-partnum partition`
pub fn part_to_partnum(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let (_, p) = s.guest.partition(a.str(0))?;
    writeln!(out, "{}", p.part.number)?;
    Ok(())
}

/// `canonical-device-name device`
pub fn canonical_device_name(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let name = a.str(0);
    let canonical = if let Some(rest) = name
        .strip_prefix("/dev/hd")
        .or_else(|| name.strip_prefix("/dev/vd"))
    {
        format!("/dev/sd{rest}")
    } else if let Some(mapped) = name.strip_prefix("/dev/mapper/") {
        let lvs = s.guest.lvs()?;
        match split_mapper_name(mapped) {
            Some((vg, lv)) if lvs.contains(&format!("/dev/{vg}/{lv}")) => format!("/dev/{vg}/{lv}"),
            _ => name.to_string(),
        }
    } else {
        name.to_string()
    };
    writeln!(out, "{canonical}")?;
    Ok(())
}

/// Splits a device-mapper name `VG-LV` (a `-` inside a name is doubled) into its parts.
fn split_mapper_name(m: &str) -> Option<(String, String)> {
    let b = m.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'-' {
            if b.get(i + 1) == Some(&b'-') {
                i += 2;
                continue;
            }
            let (vg, lv) = (&m[..i], &m[i + 1..]);
            return Some((vg.replace("--", "-"), lv.replace("--", "-")));
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::split_mapper_name;

    #[test]
    fn mapper_names() {
        assert_eq!(
            split_mapper_name("demo-root"),
            Some(("demo".into(), "root".into()))
        );
        assert_eq!(
            split_mapper_name("my--vg-lv--1"),
            Some(("my-vg".into(), "lv-1".into()))
        );
        assert_eq!(split_mapper_name("novg"), None);
    }
}
