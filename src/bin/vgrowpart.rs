//! `vgrowpart`: grow a partition of a disk image (raw or qcow2) into the space after it, like
//! cloud-utils' `growpart DISK PARTITION` on the image file: same rules, same messages
//! (`CHANGED:`, `NOCHANGE:`, `FAILED:`), same exit status (0 grown, 1 no change, 2 error).
//! The table is written through the copy-on-write overlay and committed through the redo log,
//! so an interrupted run leaves the old table; an LVM physical volume on the partition is
//! resized with it (pvresize).

use clap::{Arg, ArgAction, ArgMatches, Command};
use std::path::Path;
use std::process::ExitCode;
use vguestfs::disk::{open_session_image, Format, OverlayOptions};
use vguestfs::part::grow::{self, GrowOptions, Plan};
use vguestfs::part::PartitionTable;

fn cli() -> Command {
    Command::new("vgrowpart")
        .about("Rewrite a partition table so that a partition takes up all the space it can")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::new("disk").value_name("IMAGE").required(true).help("Disk image (raw or qcow2)"))
        .arg(Arg::new("partition").value_name("PARTITION").required(true).help("Partition number"))
        .arg(Arg::new("dry-run").short('N').long("dry-run").action(ArgAction::SetTrue).help("Only report what would be done, show new 'sfdisk -d'"))
        .arg(Arg::new("fudge").long("fudge").value_name("F").value_parser(clap::value_parser!(u64)).help("If the growth would be less than F bytes, do not resize (default 1048576)"))
        .arg(Arg::new("free-percent").long("free-percent").value_name("P").value_parser(clap::value_parser!(u64).range(0..100)).help("Leave P percent of the disk unused"))
        .arg(Arg::new("update").short('u').long("update").value_name("MODE").help("Accepted for growpart compatibility (an image file has no kernel partition table to update)"))
        .arg(Arg::new("format").long("format").value_name("raw|qcow2").help("Image format (probed by default)"))
        .arg(vguestfs::tool::backing_allow_arg())
        .arg(Arg::new("verbose").short('v').long("verbose").action(ArgAction::Count).help("Verbose"))
}

/// A failure: growpart's `FAILED:` line and exit 2.
struct Failed(String);

impl<E: std::fmt::Display> From<E> for Failed {
    fn from(e: E) -> Failed {
        Failed(e.to_string())
    }
}

fn main() -> ExitCode {
    vguestfs::tool::default_sigpipe();
    let m = cli().try_get_matches().unwrap_or_else(|e| {
        let code = if e.use_stderr() { 2 } else { 0 };
        let _ = e.print();
        std::process::exit(code)
    });
    vguestfs::tool::apply_backing_allow(&m);
    match run(&m) {
        Ok(code) => ExitCode::from(code),
        Err(Failed(msg)) => {
            eprintln!("FAILED: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run(m: &ArgMatches) -> Result<u8, Failed> {
    let disk = m.get_one::<String>("disk").map(String::as_str).unwrap_or_default();
    let number: u32 = m
        .get_one::<String>("partition")
        .and_then(|p| p.parse().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| Failed("partition must be a number".into()))?;
    let format = m.get_one::<String>("format").map(|f| f.parse::<Format>()).transpose().map_err(Failed)?;
    let dry_run = m.get_flag("dry-run");
    let opts = GrowOptions {
        fudge: m.get_one::<u64>("fudge").copied().unwrap_or(GrowOptions::default().fudge),
        free_percent: m.get_one::<u64>("free-percent").copied(),
    };
    let path = Path::new(disk);
    if !path.exists() {
        return Err(Failed(format!("{disk}: does not exist")));
    }
    let opened = open_session_image(path, format, !dry_run, &OverlayOptions::default())?;
    for n in &opened.notices {
        eprintln!("vgrowpart: {n}");
    }
    let dev = opened.dev;
    let table = PartitionTable::read(dev.as_ref())?.ok_or_else(|| Failed(format!("{disk}: no partition table")))?;
    let (growth, warnings) = match grow::plan(dev.as_ref(), &table, number, &opts)? {
        Plan::NoChange(why) => {
            println!("NOCHANGE: {why}");
            return Ok(1);
        }
        Plan::Grow { growth, warnings } => (growth, warnings),
    };
    for w in warnings {
        eprintln!("{w}");
    }
    if dry_run {
        println!("CHANGE: {}", growth.info());
        eprint!("# === old sfdisk -d ===\n{}", grow::sfdisk_dump(dev.as_ref(), &table, disk, None)?);
        eprint!("# === new sfdisk -d ===\n{}", grow::sfdisk_dump(dev.as_ref(), &table, disk, Some(&growth))?);
        return Ok(0);
    }
    grow::apply(dev.as_ref(), &growth)?;
    // the PV on the grown partition, its VG's other PVs on the other partitions
    let parts = PartitionTable::read(dev.as_ref())?.ok_or_else(|| Failed(format!("{disk}: the grown table does not read back")))?.slices(&dev, disk)?;
    let pv = vguestfs::lvm::pvresize_in(&parts, &format!("{disk}{number}"))?;
    if let Some(o) = &opened.overlay {
        o.commit()?;
    }
    if let Some(pv) = pv.filter(|_| m.get_count("verbose") > 0) {
        eprintln!("vgrowpart: LVM PV {} resized: {} -> {} extents", pv.uuid, pv.pe_count.0, pv.pe_count.1);
    }
    println!("CHANGED: {}", growth.info());
    Ok(0)
}
