//! `vresize`: grow a guest disk image in place — the image's virtual size (raw or qcow2),
//! then the partition given with `--expand` (growpart's rules), the LVM PV on it, the LV given
//! with `--lv-expand`, and the filesystem inside (ext2/3/4 as resize2fs grows them; swap
//! re-made with its UUID and label). The plan is worked out first on a read-only view of the image and printed;
//! `--dry-run` stops there. Then the image is grown and every table and filesystem change is
//! committed together through the redo log.

use anyhow::{bail, Context, Result};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use vguestfs::disk::{self, open_session_image, Dev, Format, Overlay, OverlayOptions, RedoTarget, ZeroExtended};
use vguestfs::resize::inplace::{self, Request, Step};
use vguestfs::resize::parse_size;

fn cli() -> Command {
    Command::new("vresize")
        .about("Grow a virtual machine disk image in place: disk, partition, LVM, filesystem")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::new("size").long("size").value_name("SIZE|+SIZE").help("New disk size (20G) or growth (+10G)"))
        .arg(Arg::new("expand").long("expand").value_name("PART").help("Partition to expand into the new space (/dev/sda2)"))
        .arg(Arg::new("lv-expand").long("lv-expand").value_name("LV").help("Logical volume to extend into the free extents (/dev/VG/LV)"))
        .arg(Arg::new("dry-run").short('n').long("dry-run").action(ArgAction::SetTrue).help("Print the plan and stop; the image is opened read-only"))
        .arg(Arg::new("format").long("format").value_name("raw|qcow2").help("Image format (probed by default)"))
        .arg(Arg::new("quiet").short('q').long("quiet").action(ArgAction::SetTrue).help("Don't print the plan"))
        .arg(Arg::new("images").value_name("IMAGE").num_args(1..=2).required(true).help("The image (copy mode, INPUT OUTPUT, is not supported yet)"))
}

fn main() -> ExitCode {
    let m = cli().try_get_matches().unwrap_or_else(|e| e.exit());
    vguestfs::tool::exit_status("vresize", run(&m))
}

/// The steps on a scratch overlay over the image seen at `new_size` (nothing is written).
fn plan(path: &Path, format: Format, new_size: u64, req: &Request) -> Result<Vec<Step>> {
    let base = disk::open_image(path, Some(format), false)?;
    let extended: Dev = Arc::new(ZeroExtended::new(base, new_size));
    let target = RedoTarget::beside(path, format, new_size)?;
    let scratch: Dev = Arc::new(Overlay::scratch(extended, target, OverlayOptions::default()));
    Ok(inplace::run(&scratch, req)?)
}

fn run(m: &ArgMatches) -> Result<()> {
    let images: Vec<&String> = m.get_many::<String>("images").into_iter().flatten().collect();
    if images.len() == 2 {
        bail!("copy mode (vresize INPUT OUTPUT, as virt-resize) is not supported yet; grow in place with --size IMAGE");
    }
    let path = Path::new(images[0].as_str());
    let format = match m.get_one::<String>("format") {
        Some(f) => f.parse::<Format>().map_err(anyhow::Error::msg)?,
        None => disk::probe::probe_format(path)?,
    };
    let old = disk::open_image(path, Some(format), false)?.len();
    let new_size = match m.get_one::<String>("size") {
        Some(s) => parse_size(s, old)?,
        None => old,
    };
    let req = Request { expand: m.get_one::<String>("expand").cloned(), lv_expand: m.get_one::<String>("lv-expand").cloned() };
    let steps = plan(path, format, new_size, &req)?;
    if !m.get_flag("quiet") {
        println!("Summary of changes:");
        if new_size != old {
            println!("{}: The disk will be grown from {old} to {new_size} bytes.", path.display());
        }
        for s in &steps {
            println!("{s}");
        }
    }
    if m.get_flag("dry-run") {
        return Ok(());
    }
    if new_size != old {
        disk::grow_image(path, format, new_size).with_context(|| format!("growing {}", path.display()))?;
    }
    let opened = open_session_image(path, Some(format), true, &OverlayOptions::default())?;
    for n in &opened.notices {
        eprintln!("vresize: {n}");
    }
    let done = inplace::run(&opened.dev, &req).with_context(|| format!("{}: the disk is {new_size} bytes now; nothing else was changed", path.display()))?;
    if done != steps {
        bail!("{}: the image changed while it was planned; nothing was written past growing the disk", path.display());
    }
    if let Some(o) = &opened.overlay {
        o.commit()?;
    }
    Ok(())
}
