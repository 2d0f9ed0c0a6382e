//! `vfilesystems`: list filesystems, partitions, block devices and LVM in disk images, with the
//! options, columns and layout of `virt-filesystems`.

use anyhow::{bail, Context, Result};
use clap::{Arg, ArgAction, Command};
use std::process::ExitCode;
use vguestfs::fs::statfs::statvfs_size;
use vguestfs::guest::DriveOptions;
use vguestfs::part::{PartKind, TableKind};
use vguestfs::units::human_size;
use vguestfs::tool::drives;
use vguestfs::Guest;

/// What is listed (the real tool's OUTPUT_* bits).
#[derive(Default, Clone, Copy)]
struct Output {
    filesystems: bool,
    extra: bool,
    partitions: bool,
    blockdevs: bool,
    lvs: bool,
    vgs: bool,
    pvs: bool,
}

/// Which columns are shown, in display order.
#[derive(Clone, Copy)]
struct Columns {
    long: bool,
    vfs: bool,
    mbr: bool,
    uuid: bool,
    fs_version: bool,
}

/// One output row; `None` and `""` print as `-`.
type Row = Vec<Option<String>>;

fn cli() -> Command {
    let flag = |name: &'static str| Arg::new(name).long(name).action(ArgAction::SetTrue);
    vguestfs::tool::drive_args(Command::new("vfilesystems"))
        .about("list filesystems, partitions, block devices, LVM in a disk image")
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_flag(true)
        .arg(Arg::new("help").long("help").action(ArgAction::Help).help("Display brief help"))
        .arg(flag("all").help("Display everything"))
        .arg(flag("blkdevs").alias("block-devices").help("Display block devices"))
        .arg(flag("csv").help("Output as Comma-Separated Values"))
        .arg(flag("extra").help("Display swap and data filesystems"))
        .arg(flag("filesystems").help("Display mountable filesystems"))
        .arg(flag("fs-version").alias("fs-versions").help("Add filesystem version to --long output"))
        .arg(Arg::new("human").short('h').long("human-readable").action(ArgAction::SetTrue).help("Human-readable sizes in --long output"))
        .arg(Arg::new("long").short('l').long("long").action(ArgAction::SetTrue).help("Long output"))
        .arg(flag("lvs").aliases(["logvols", "logical-volumes"]).help("Display LVM logical volumes"))
        .arg(flag("no-title").help("No title in --long output"))
        .arg(flag("parts").alias("partitions").help("Display partitions"))
        .arg(flag("pvs").aliases(["physvols", "physical-volumes"]).help("Display LVM physical volumes"))
        .arg(flag("uuid").alias("uuids").help("Add UUIDs to --long output"))
        .arg(Arg::new("verbose").short('v').long("verbose").action(ArgAction::SetTrue).help("Verbose messages"))
        .arg(flag("vgs").aliases(["volgroups", "volume-groups"]).help("Display LVM volume groups"))
        .arg(Arg::new("trace").short('x').action(ArgAction::SetTrue).help("Trace library calls"))
}

fn main() -> ExitCode {
    vguestfs::tool::default_sigpipe();
    vguestfs::tool::exit_status("vfilesystems", run())
}

fn run() -> Result<()> {
    let m = cli().try_get_matches().unwrap_or_else(|e| e.exit());
    if m.get_flag("verbose") || m.get_flag("trace") {
        env_logger::Builder::new().filter_level(log::LevelFilter::Debug).init();
    }
    let human = m.get_flag("human");
    let csv = m.get_flag("csv");
    if human && csv {
        bail!("you cannot use -h and --csv options together.");
    }
    let mut out = Output::default();
    if m.get_flag("all") {
        out = Output { filesystems: true, extra: true, partitions: true, blockdevs: true, lvs: true, vgs: true, pvs: true };
    }
    out.filesystems |= m.get_flag("filesystems") || m.get_flag("extra");
    out.extra |= m.get_flag("extra");
    out.partitions |= m.get_flag("parts");
    out.blockdevs |= m.get_flag("blkdevs");
    out.lvs |= m.get_flag("lvs");
    out.vgs |= m.get_flag("vgs");
    out.pvs |= m.get_flag("pvs");
    if !(out.filesystems || out.partitions || out.blockdevs || out.lvs || out.vgs || out.pvs) {
        out.filesystems = true;
    }
    let long = m.get_flag("long");
    let cols = Columns {
        long,
        vfs: long && out.filesystems,
        mbr: long && out.partitions,
        uuid: long && m.get_flag("uuid"),
        fs_version: long && m.get_flag("fs-version"),
    };
    let drives = drives(&m)?;
    if m.get_flag("verbose") {
        vguestfs::tool::print_backing_chains("vfilesystems", &drives.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>());
    }
    if drives.is_empty() {
        bail!("you must specify at least one -a option.");
    }
    let mut g = Guest::new();
    for (path, format) in &drives {
        g.add_drive(path, DriveOptions { format: *format, readonly: true, ..Default::default() })?;
    }
    g.launch().context("opening the disk images")?;
    for n in g.notices() {
        eprintln!("vfilesystems: {n}");
    }

    let mut rows: Vec<Row> = Vec::new();
    if long && !m.get_flag("no-title") {
        rows.push(title(cols));
    }
    let size = |n: u64| Some(if human { human_size(n) } else { n.to_string() });
    if out.filesystems {
        for (name, fs_type) in g.list_filesystems()? {
            if !out.extra && (fs_type == "swap" || fs_type == "unknown") {
                continue;
            }
            let info = if cols.long && fs_type != "unknown" { g.probe(&name)? } else { None };
            // like virt-filesystems: the mounted filesystem's statvfs size where it can be
            // mounted, else the device size
            let bytes = match fs_type.as_str() {
                "unknown" | "swap" => g.device_size(&name)?,
                _ => {
                    let dev = g.device(&name)?;
                    statvfs_size(dev.as_ref(), &fs_type)?.unwrap_or(dev.len())
                }
            };
            // a btrfs subvolume has no size of its own: virt-filesystems prints none
            let sized = if name.starts_with("btrfsvol:") { None } else { size(bytes) };
            rows.push(row(
                cols,
                [
                    Some(name),
                    Some("filesystem".into()),
                    Some(fs_type),
                    info.as_ref().map(|i| i.label.clone().unwrap_or_default()),
                    None,
                    sized,
                    None,
                    info.as_ref().and_then(|i| i.uuid.clone()),
                    info.as_ref().and_then(|i| i.version.clone()),
                ],
            ));
        }
    }
    if out.lvs {
        for lv in g.lvs()? {
            let bytes = g.device_size(&lv)?;
            let (vg_name, lv_name) = lv.trim_start_matches("/dev/").split_once('/').unwrap_or(("", ""));
            let uuid = g
                .volume_groups()?
                .iter()
                .find(|vg| vg.name == vg_name)
                .and_then(|vg| vg.lvs.iter().find(|l| l.name == lv_name))
                .map(|l| l.uuid.replace('-', ""));
            rows.push(row(cols, [Some(lv.clone()), Some("lv".into()), None, None, None, size(bytes), Some(format!("/dev/{vg_name}")), uuid, None]));
        }
    }
    if out.vgs {
        let mut vgs: Vec<_> = g.volume_groups()?.iter().collect();
        vgs.sort_by(|a, b| a.name.cmp(&b.name));
        for vg in vgs {
            let parents: Vec<&str> = vg.pvs.iter().map(|pv| pv.device.as_str()).collect();
            rows.push(row(
                cols,
                [Some(format!("/dev/{}", vg.name)), Some("vg".into()), None, None, None, size(vg.size()), Some(parents.join(",")), Some(vg.uuid.replace('-', "")), None],
            ));
        }
    }
    if out.pvs {
        for vg in g.volume_groups()? {
            for pv in &vg.pvs {
                // lvm2's pv_size: allocatable extents × extent size once the PV is in a VG.
                let bytes = if pv.pe_count > 0 { pv.pe_count.saturating_mul(vg.extent_size) } else { pv.dev_size };
                rows.push(row(cols, [Some(pv.device.clone()), Some("pv".into()), None, None, None, size(bytes), None, Some(pv.uuid.replace('-', "")), None]));
            }
        }
    }
    if out.partitions {
        for d in g.disks()? {
            let msdos = matches!(d.table.as_ref().map(|t| t.kind), Some(TableKind::Mbr));
            for p in &d.partitions {
                let mbr = match p.part.kind {
                    PartKind::Mbr { id, .. } if msdos => Some(format!("{id:02x}")),
                    _ => None,
                };
                rows.push(row(cols, [Some(p.name.clone()), Some("partition".into()), None, None, mbr, size(p.dev.len()), Some(d.name.clone()), None, None]));
            }
        }
    }
    if out.blockdevs {
        for d in g.disks()? {
            rows.push(row(cols, [Some(d.name.clone()), Some("device".into()), None, None, None, size(d.dev.len()), None, None, None]));
        }
    }
    let text = if csv { render_csv(&rows) } else { render_text(&rows) };
    print!("{text}");
    Ok(())
}

/// The title row.
fn title(cols: Columns) -> Row {
    let t = |s: &str| Some(s.to_string());
    row(cols, [t("Name"), t("Type"), t("VFS"), t("Label"), t("MBR"), t("Size"), t("Parent"), t("UUID"), t("FSVersion")])
}

/// Keeps the fields of the shown columns: Name, Type, VFS, Label, MBR, Size, Parent, UUID, FSVersion.
fn row(cols: Columns, fields: [Option<String>; 9]) -> Row {
    let shown = [true, cols.long, cols.vfs, cols.vfs, cols.mbr, cols.long, cols.long, cols.uuid, cols.fs_version];
    fields.into_iter().zip(shown).filter(|(_, s)| *s).map(|(f, _)| f).collect()
}

/// Aligned text: columns wholly empty are dropped, `-` stands for an empty field, two spaces
/// between columns unless that makes the table wider than 72 characters.
fn render_text(rows: &[Row]) -> String {
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut width = vec![0usize; ncols];
    for r in rows {
        for (j, f) in r.iter().enumerate() {
            if let Some(s) = f {
                width[j] = width[j].max(s.chars().count().max(1));
            }
        }
    }
    // the real tool sums over all nine columns, the unused ones being zero wide
    let total: usize = width.iter().sum::<usize>() + 2 * 9;
    let gap = if total > 72 { 1 } else { 2 };
    let mut out = String::new();
    for r in rows {
        let mut pad = 0;
        for (j, w) in width.iter().enumerate() {
            if *w == 0 {
                continue;
            }
            out.extend(std::iter::repeat_n(' ', pad));
            let s = match r.get(j) {
                Some(Some(s)) if !s.is_empty() => s.as_str(),
                _ => "-",
            };
            out.push_str(s);
            pad = w - s.chars().count() + gap;
        }
        out.push('\n');
    }
    out
}

/// CSV: fields with a space, quote, newline or comma are quoted; empty fields stay empty.
fn render_csv(rows: &[Row]) -> String {
    let mut out = String::new();
    for r in rows {
        let fields: Vec<String> = r
            .iter()
            .map(|f| match f {
                Some(s) if s.contains([' ', '"', '\n', ',']) => format!("\"{}\"", s.replace('"', "\"\"")),
                Some(s) => s.clone(),
                None => String::new(),
            })
            .collect();
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}
