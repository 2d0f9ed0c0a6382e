//! `vcustomize`: customize a virtual machine image, like `virt-customize -a IMAGE
//! [--hostname …] [--write FILE:CONTENT] …`, with vsysprep's `customize` operation (the same
//! code and options, see [`vguestfs::tool::customize`]): the guest is inspected, its
//! filesystems mounted read-write under a copy-on-write overlay, the options applied in
//! command-line order (passwords last), and the image written at the end, all or nothing.
//! Options that need the guest's own programs run (`--run`, `--run-command`, `--install`…)
//! are refused with the reason: nothing in the guest is ever run; `--firstboot` and
//! `--firstboot-command` make the guest do it at its next boot. `-n` lists the changes
//! instead of writing them.

use anyhow::{bail, Context, Result};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::process::ExitCode;
use std::time::Instant;
use vguestfs::guest::DriveOptions;
use vguestfs::sysprep::{self, Ctx, Message, Options};
use vguestfs::tool::customize::{customize_actions, customize_args, refuse_unsupported};
use vguestfs::Guest;

fn cli() -> Command {
    let cmd = vguestfs::tool::drive_args(Command::new("vcustomize"))
        .about("Customize a virtual machine (file-level options; nothing in the guest is run)")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::new("dry-run").short('n').long("dry-run").visible_alias("dryrun").action(ArgAction::SetTrue).help("Open the image read-only and print the changes that would be made"))
        .arg(Arg::new("no-selinux-relabel").long("no-selinux-relabel").action(ArgAction::SetTrue).help("Do not flag an SELinux guest for relabelling where a label could not be decided"))
        .arg(Arg::new("network").long("network").action(ArgAction::SetTrue).hide(true).help("Accepted for virt-customize compatibility; nothing runs, so no effect"))
        .arg(Arg::new("no-network").long("no-network").action(ArgAction::SetTrue).hide(true).help("Accepted for virt-customize compatibility; no effect"));
    customize_args(cmd)
}

fn main() -> ExitCode {
    vguestfs::tool::default_sigpipe();
    let m = cli().try_get_matches().unwrap_or_else(|e| e.exit());
    vguestfs::tool::exit_status("vcustomize", run(&m))
}

fn run(m: &ArgMatches) -> Result<()> {
    let start = Instant::now();
    if m.get_flag("verbose") {
        env_logger::Builder::new().filter_level(log::LevelFilter::Debug).init();
    }
    refuse_unsupported(m, "vcustomize")?;
    if let Some(c) = m.get_one::<String>("password-crypto") {
        if c != "sha512" {
            bail!("--password-crypto {c}: only sha512 is supported");
        }
    }
    let (quiet, trace, dry_run) = (m.get_flag("quiet"), m.get_flag("trace"), m.get_flag("dry-run"));
    let opts = Options { customize: sysprep::Customize { actions: customize_actions(m)? }, selinux_relabel: !m.get_flag("no-selinux-relabel"), ..Default::default() };
    // progress on stdout as virt-customize prints it
    let out = |msg: Message| match msg {
        Message::Progress(p) if !quiet => println!("[{:>6.1}] {p}", start.elapsed().as_secs_f64()),
        Message::Progress(_) => {}
        Message::Info(i) => println!("vcustomize: {i}"),
        Message::Warning(w) => eprintln!("vcustomize: warning: {w}"),
    };
    let drives = vguestfs::tool::drives(m)?;
    if drives.is_empty() {
        bail!("you must give at least one -a option.  Read vcustomize --help for further information.");
    }
    out(Message::Progress("Examining the guest ..."));
    let mut g = Guest::new();
    for (path, format) in &drives {
        g.add_drive(path, DriveOptions { format: *format, readonly: dry_run, scratch: dry_run, blocksize: None }).with_context(|| path.display().to_string())?;
    }
    g.launch()?;
    for n in g.notices() {
        eprintln!("vcustomize: {n}");
    }
    let roots = g.inspect_os()?;
    vguestfs::tool::print_warnings(&g, "vcustomize");
    if roots.is_empty() {
        bail!("no operating systems were found in the guest image");
    }
    let mut changes = Vec::new();
    for root in &roots {
        for (mp, e) in g.mount_inspected(root, false)? {
            eprintln!("vcustomize: warning: {mp}: {e} (ignored)");
        }
        let cx = Ctx::new(g.inspect_root(root)?, &opts, &out);
        let r = sysprep::run_op(&g, &cx, &sysprep::ops::CUSTOMIZE)?;
        if trace {
            for c in &r.changes {
                eprintln!("vcustomize: trace: {} {}", c.action, c.path);
            }
        }
        changes.extend(r.changes);
        g.umount_all()?;
    }
    out(Message::Progress("Finishing off"));
    if dry_run {
        println!("dry run: nothing was written; these changes would have been made:");
        for c in &changes {
            println!("  {} {}", c.action, c.path);
        }
    } else {
        g.commit()?;
    }
    Ok(())
}
