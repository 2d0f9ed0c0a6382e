//! `vresize`: grow a guest disk image in place — the image's virtual size (raw or qcow2),
//! then the partition given with `--expand` (growpart's rules), the LVM PV on it, the LV given
//! with `--lv-expand`, and the filesystem inside (ext2/3/4 as resize2fs grows them; swap
//! re-made with its UUID and label). The plan is worked out first on a read-only view of the image and printed;
//! `--dry-run` stops there. Then the image is grown and every table and filesystem change is
//! committed together through the redo log. Copy mode (`INPUT OUTPUT`, as virt-resize, OUTPUT
//! pre-created and larger) copies the disk sparsely, then grows the copy the same way.

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
        .arg(Arg::new("align-first").long("align-first").value_name("auto|never|always").help("Copy mode: moving the first partition is not done (auto and never keep it)"))
        .arg(Arg::new("shrink").long("shrink").value_name("PART").hide(true))
        .arg(Arg::new("resize").long("resize").value_name("PART=SIZE").hide(true))
        .arg(Arg::new("delete").long("delete").value_name("PART").hide(true))
        .arg(Arg::new("images").value_name("IMAGE").num_args(1..=2).required(true).help("IMAGE (in place, with --size) or INPUT OUTPUT (copy mode: OUTPUT pre-created, larger)"))
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

/// The format given with `--format`, or probed.
fn format_of(m: &ArgMatches, path: &Path) -> Result<Format> {
    Ok(match m.get_one::<String>("format") {
        Some(f) => f.parse::<Format>().map_err(anyhow::Error::msg)?,
        None => disk::probe::probe_format(path)?,
    })
}

/// The steps printed as virt-resize's summary.
fn print_summary(m: &ArgMatches, lines: &[String]) {
    if !m.get_flag("quiet") {
        println!("Summary of changes:");
        for l in lines {
            println!("{l}");
        }
    }
}

/// virt-resize's copy mode, for layouts that need no partition moved.
fn copy_mode(m: &ArgMatches, input: &Path, output: &Path) -> Result<()> {
    for opt in ["shrink", "resize", "delete"] {
        if m.contains_id(opt) {
            bail!("--{opt}: changing the layout (shrinking, resizing or deleting partitions) is not supported yet in copy mode");
        }
    }
    if m.get_one::<String>("align-first").is_some_and(|a| a == "always") {
        bail!("--align-first always: moving the first partition is not supported yet (auto and never keep it where it is)");
    }
    if m.contains_id("size") {
        bail!("--size is for growing in place; in copy mode the output's size is used");
    }
    let req = Request { expand: m.get_one::<String>("expand").cloned(), lv_expand: m.get_one::<String>("lv-expand").cloned() };
    let in_fmt = disk::probe::probe_format(input)?;
    let out_fmt = format_of(m, output)?;
    let src = disk::open_image(input, Some(in_fmt), false)?;
    vguestfs::resize::copy::check_layout(src.as_ref(), req.expand.as_deref())?;
    let out_len = disk::open_image(output, Some(out_fmt), false)?.len();
    let steps = plan(input, in_fmt, out_len, &req)?;
    let mut lines = vec![format!("{}: The disk will be copied to {} ({} → {out_len} bytes).", input.display(), output.display(), src.len())];
    lines.extend(steps.iter().map(|s| s.to_string()));
    print_summary(m, &lines);
    if m.get_flag("dry-run") {
        return Ok(());
    }
    let _lock = disk::ImageLock::acquire(output)?;
    let dst = disk::open_image(output, Some(out_fmt), true)?;
    vguestfs::resize::copy::check_fresh(&dst)?;
    let bar = if m.get_flag("quiet") { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(src.len()) };
    bar.set_style(indicatif::ProgressStyle::with_template("{bar:50} {percent:>3}% {bytes}/{total_bytes} {bytes_per_sec}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
    vguestfs::resize::copy::copy(src.as_ref(), dst.as_ref(), &mut |done| bar.set_position(done))?;
    bar.finish_and_clear();
    let done = inplace::run(&dst, &req)?;
    dst.flush()?;
    if done != steps {
        bail!("{}: the input changed while it was copied", input.display());
    }
    if !m.get_flag("quiet") {
        println!("Resize operation completed with no errors.  Before deleting the old disk, carefully check that the resized disk boots and works correctly.");
    }
    Ok(())
}

fn run(m: &ArgMatches) -> Result<()> {
    let images: Vec<&String> = m.get_many::<String>("images").into_iter().flatten().collect();
    if let [input, output] = images.as_slice() {
        return copy_mode(m, Path::new(input.as_str()), Path::new(output.as_str()));
    }
    let path = Path::new(images[0].as_str());
    let format = format_of(m, path)?;
    let old = disk::open_image(path, Some(format), false)?.len();
    let new_size = match m.get_one::<String>("size") {
        Some(s) => parse_size(s, old)?,
        None => old,
    };
    let req = Request { expand: m.get_one::<String>("expand").cloned(), lv_expand: m.get_one::<String>("lv-expand").cloned() };
    let steps = plan(path, format, new_size, &req)?;
    let mut lines = Vec::new();
    if new_size != old {
        lines.push(format!("{}: The disk will be grown from {old} to {new_size} bytes.", path.display()));
    }
    lines.extend(steps.iter().map(|s| s.to_string()));
    print_summary(m, &lines);
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
