//! `vresize`: grow a guest disk image in place — the image's virtual size (raw or qcow2),
//! then the partition given with `--expand` (growpart's rules), the LVM PV on it, the LV given
//! with `--lv-expand`, and the filesystem inside (ext2/3/4 as resize2fs grows them; swap
//! re-made with its UUID and label). The plan is worked out first on a read-only view of the image and printed;
//! `--dry-run` stops there. Then the image is grown and every table and filesystem change is
//! committed together through the redo log. Copy mode (`INPUT OUTPUT`, OUTPUT pre-created) is
//! virt-resize's: its options, layout, summary and messages; partitions are copied sparsely to
//! their new places and the content of the ones that grew is expanded — into a staging copy
//! of the output renamed over it when complete (a block device is written in place).

use anyhow::{bail, Context, Result};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use vguestfs::disk::{self, open_session_image, Dev, Format, Overlay, OverlayOptions, RedoTarget, ZeroExtended};
use vguestfs::resize::inplace::{self, Request, Step};
use vguestfs::resize::{copy, layout, parse_size};

fn cli() -> Command {
    Command::new("vresize")
        .about("Resize a virtual machine disk image: grow it in place (disk, partition, LVM, filesystem), or copy it onto a new disk as virt-resize does")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::new("size").long("size").value_name("SIZE|+SIZE").help("New disk size (20G) or growth (+10G)"))
        .arg(Arg::new("expand").long("expand").value_name("PART").help("Partition to expand into the new space (/dev/sda2)"))
        .arg(Arg::new("lv-expand").long("lv-expand").visible_alias("LV-expand").value_name("LV").action(ArgAction::Append).help("Logical volume to extend into the free extents (/dev/VG/LV)"))
        .arg(Arg::new("dry-run").short('n').long("dry-run").action(ArgAction::SetTrue).help("Print the plan and stop; the image is opened read-only"))
        .arg(Arg::new("format").long("format").value_name("raw|qcow2").help("Image format (probed by default)"))
        .arg(vguestfs::tool::backing_allow_arg())
        .arg(Arg::new("quiet").short('q').long("quiet").action(ArgAction::SetTrue).help("Don't print the plan"))
        .arg(Arg::new("shrink").long("shrink").value_name("PART").help("Copy mode: shrink this partition so that the disk fits the output"))
        .arg(Arg::new("resize").long("resize").value_name("PART=[+-]SIZE[%]").action(ArgAction::Append).help("Copy mode: resize a partition (10G, +200M, -10%)"))
        .arg(Arg::new("resize-force").long("resize-force").value_name("PART=[+-]SIZE[%]").action(ArgAction::Append).help("Copy mode: resize a partition even below its content"))
        .arg(Arg::new("delete").long("delete").value_name("PART").action(ArgAction::Append).help("Copy mode: leave a partition out"))
        .arg(Arg::new("ignore").long("ignore").value_name("PART").action(ArgAction::Append).help("Copy mode: create a partition but do not copy its content"))
        .arg(Arg::new("alignment").long("alignment").value_name("SECTORS").value_parser(clap::value_parser!(u64)).help("Copy mode: partition alignment (default 128 sectors)"))
        .arg(Arg::new("align-first").long("align-first").value_name("auto|never|always").help("Copy mode: move the first partition to the alignment (default auto)"))
        .arg(Arg::new("no-extra-partition").long("no-extra-partition").action(ArgAction::SetTrue).help("Copy mode: do not make a partition of the surplus"))
        .arg(Arg::new("no-copy-boot-loader").long("no-copy-boot-loader").action(ArgAction::SetTrue).help("Copy mode: do not copy the boot loader"))
        .arg(Arg::new("no-expand-content").long("no-expand-content").action(ArgAction::SetTrue).help("Copy mode: do not grow the PVs and filesystems of resized partitions"))
        .arg(Arg::new("no-sparse").long("no-sparse").action(ArgAction::SetTrue).hide(true))
        .arg(Arg::new("unknown-filesystems").long("unknown-filesystems").value_name("ignore|warn|error").help("Copy mode: what to do about filesystems that cannot be expanded (default warn)"))
        .arg(Arg::new("output-format").long("output-format").value_name("raw|qcow2").help("Copy mode: output format (probed by default)"))
        .arg(Arg::new("images").value_name("IMAGE").num_args(1..=2).required(true).help("IMAGE (in place, with --size) or INPUT OUTPUT (copy mode: OUTPUT pre-created, raw or qcow2)"))
}

fn main() -> ExitCode {
    vguestfs::tool::default_sigpipe();
    let m = cli().try_get_matches().unwrap_or_else(|e| e.exit());
    vguestfs::tool::apply_backing_allow(&m);
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

/// The values of a repeatable option, in order.
fn many(m: &ArgMatches, id: &str) -> Vec<String> {
    m.get_many::<String>(id).into_iter().flatten().cloned().collect()
}

/// virt-resize's copy mode: plan the layout, print the summary, then copy and expand.
fn copy_mode(m: &ArgMatches, input: &Path, output: &Path) -> Result<()> {
    if m.contains_id("size") {
        bail!("--size is for growing in place; in copy mode the output's size is used");
    }
    if m.get_flag("no-sparse") {
        bail!("--no-sparse: writing the zeros of the input is not supported (the output is created fresh, so a sparse copy reads the same)");
    }
    if input.canonicalize().ok().is_some_and(|i| output.canonicalize().ok() == Some(i)) {
        bail!("you cannot use the same disk image for input and output");
    }
    let started = std::time::Instant::now();
    let quiet = m.get_flag("quiet");
    let say = |msg: &str| {
        if !quiet {
            println!("[{:6.1}] {msg}", started.elapsed().as_secs_f64());
        }
    };
    let in_fmt = format_of(m, input)?;
    let out_fmt = match m.get_one::<String>("output-format") {
        Some(f) => f.parse::<Format>().map_err(anyhow::Error::msg)?,
        None => disk::probe::probe_format(output)?,
    };
    say(&format!("Examining {}", input.display()));
    let src = disk::open_image(input, Some(in_fmt), false)?;
    let out_len = disk::open_image(output, Some(out_fmt), false)?.len();
    for (what, len) in [(input, src.len()), (output, out_len)] {
        if len < layout::MAX_BOOTLOADER {
            bail!("{}: file is too small to be a disk image ({len} bytes)", what.display());
        }
    }
    let source = copy::examine(&src)?;
    let opts = layout::Options {
        expand: m.get_one::<String>("expand").cloned(),
        shrink: m.get_one::<String>("shrink").cloned(),
        resizes: many(m, "resize"),
        resizes_force: many(m, "resize-force"),
        deletes: many(m, "delete"),
        ignores: many(m, "ignore"),
        alignment: *m.get_one::<u64>("alignment").unwrap_or(&128),
        align_first: m.get_one::<String>("align-first").map_or(Ok(layout::AlignFirst::Auto), |a| a.parse())?,
        extra_partition: !m.get_flag("no-extra-partition"),
    };
    let plan = layout::plan(source.kind, source.parts.clone(), out_len, &opts)?;
    let lv_expands = many(m, "lv-expand");
    let mut lv_lines = Vec::new();
    let mut warnings = plan.unknown_filesystems();
    for lv in &lv_expands {
        let content = copy::lv_content(&src, lv)?;
        let mut line = format!("{lv}: This logical volume will be expanded to maximum size.");
        match content.method() {
            Some(method) => line.push_str(&format!("  The {content} on {lv} will be expanded using the ‘{method}’ method.")),
            None => {
                if let layout::Content::Fs(t, _) = &content {
                    warnings.push(format!("unknown/unavailable method for expanding the {t} filesystem on {lv}"));
                }
            }
        }
        lv_lines.push(line);
    }
    match m.get_one::<String>("unknown-filesystems").map_or("warn", String::as_str) {
        "error" if !warnings.is_empty() => bail!("{}", warnings.join("; ")),
        "warn" => warnings.iter().for_each(|w| eprintln!("vresize: warning: {w}")),
        "ignore" | "error" => {}
        other => bail!("unknown --unknown-filesystems {other}: use ignore|warn|error"),
    }
    if !quiet {
        println!("**********\n\nSummary of changes:\n");
        let mut lines = plan.summary();
        let surplus = if plan.surplus > 0 { lines.pop() } else { None };
        lines.extend(lv_lines);
        lines.extend(surplus);
        for l in lines {
            println!("{l}\n");
        }
        println!("**********");
    }
    if m.get_flag("dry-run") {
        return Ok(());
    }
    let _lock = disk::ImageLock::acquire(output)?;
    copy::check_fresh(&disk::open_image(output, Some(out_fmt), true)?)?;
    // A regular file is written in a staging copy renamed over it at the end: interrupted, the
    // output stays as it was created.
    let staged = disk::Staged::begin(output)?;
    let dst = disk::open_image(staged.as_ref().map_or(output, |s| s.path()), Some(out_fmt), true)?;
    let bar = if quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(copy::bytes_to_copy(&plan)) };
    bar.set_style(indicatif::ProgressStyle::with_template("{bar:50} {percent:>3}% {bytes}/{total_bytes} {bytes_per_sec}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
    let run_opts = copy::RunOptions { copy_boot_loader: !m.get_flag("no-copy-boot-loader"), expand_content: !m.get_flag("no-expand-content"), lv_expands };
    let steps = copy::run(&src, &source, &plan, &dst, &run_opts, &mut |msg| bar.suspend(|| say(msg)), &mut |done| bar.set_position(done))
        .with_context(|| match staged {
            Some(_) => format!("{}: the output was not changed, nor the input", output.display()),
            None => format!("{}: the output is incomplete (the input was not changed); create it fresh before trying again", output.display()),
        })?;
    dst.flush()?;
    drop(dst);
    if let Some(s) = staged {
        s.finish()?;
    }
    bar.finish_and_clear();
    if !quiet {
        for s in &steps {
            println!("{s}");
        }
        println!("\nResize operation completed with no errors.  Before deleting the old disk, carefully check that the resized disk boots and works correctly.");
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
    let lvs = many(m, "lv-expand");
    if lvs.len() > 1 {
        bail!("--lv-expand: in place, one LV is extended (into all the free extents)");
    }
    let req = Request { expand: m.get_one::<String>("expand").cloned(), lv_expand: lvs.first().cloned() };
    for opt in ["shrink", "resize", "resize-force", "delete", "ignore", "alignment", "align-first", "no-extra-partition", "no-copy-boot-loader", "no-expand-content", "output-format"] {
        if m.value_source(opt) == Some(clap::parser::ValueSource::CommandLine) {
            bail!("--{opt} is for copy mode (vresize [OPTIONS] INPUT OUTPUT); in place only --size, --expand and --lv-expand apply");
        }
    }
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
