//! `vsysprep`: prepare a guest image for cloning and for OpenStack, like `virt-sysprep`, in
//! user space. The guest is inspected, its filesystems mounted read-write under a
//! copy-on-write overlay, the selected operations run in virt-sysprep's order, and the changes
//! committed at the end through the redo log (all or nothing). `--dry-run` opens the image
//! read-only and lists the changes instead; `--audit` checks OpenStack readiness.

use anyhow::{bail, Context, Result};
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use vguestfs::guest::DriveOptions;
use vguestfs::sysprep::audit::{self, Status};
use vguestfs::sysprep::{self, Ctx, Message, OpReport, Options, Selection};
use vguestfs::tool::customize::{customize_actions, customize_args, refuse_unsupported};
use vguestfs::Guest;

fn cli() -> Command {
    let cmd = vguestfs::tool::drive_args(Command::new("vsysprep"))
        .about("Reset, unconfigure or customize a virtual machine image so clones can be made, and ready it for OpenStack")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::new("images").value_name("IMAGE").num_args(0..).help("Disk image (like -a)"))
        .arg(Arg::new("list-operations").long("list-operations").action(ArgAction::SetTrue).help("List the operations and exit"))
        .arg(Arg::new("operations").long("operations").visible_alias("operation").value_name("OPS").action(ArgAction::Append).help("Operations to run: names, -name, defaults, all (comma-separated, repeatable)"))
        .arg(Arg::new("enable").long("enable").value_name("OPS").action(ArgAction::Append).help("Run exactly these operations"))
        .arg(Arg::new("dry-run").short('n').long("dry-run").visible_alias("dryrun").action(ArgAction::SetTrue).help("Open the image read-only and print the changes that would be made"))
        .arg(Arg::new("audit").long("audit").action(ArgAction::SetTrue).help("Check OpenStack readiness (read-only); exit 1 if a check fails"))
        .arg(
            Arg::new("audit-ignore")
                .long("audit-ignore")
                .value_name("CHECK")
                .action(ArgAction::Append)
                .value_parser(clap::builder::PossibleValuesParser::new(audit::CHECKS.iter().map(|(n, _)| *n)))
                .help("With --audit: leave this check out (repeatable)"),
        )
        .arg(Arg::new("json").long("json").action(ArgAction::SetTrue).help("Print a machine-readable report on stdout"))
        .arg(Arg::new("keep-user-accounts").long("keep-user-accounts").value_name("USERS").action(ArgAction::Append).help("user-account: keep these users"))
        .arg(Arg::new("remove-user-accounts").long("remove-user-accounts").value_name("USERS").action(ArgAction::Append).help("user-account: remove only these users"))
        .arg(Arg::new("cloud-init-user").long("cloud-init-user").value_name("USER").help("cloud-init: the default user of the instances"))
        .arg(Arg::new("no-selinux-relabel").long("no-selinux-relabel").action(ArgAction::SetTrue).hide(true));
    customize_args(cmd)
}

fn main() -> ExitCode {
    vguestfs::tool::default_sigpipe();
    let m = cli().try_get_matches().unwrap_or_else(|e| e.exit());
    match run(&m) {
        Ok(code) => code,
        Err(e) => vguestfs::tool::exit_status("vsysprep", Err(e)),
    }
}

/// Comma-separated names from repeatable options.
fn names(m: &ArgMatches, id: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for v in m.get_many::<String>(id).into_iter().flatten() {
        for n in v.split(',') {
            if n.is_empty() {
                bail!("user-accounts: empty user name");
            }
            out.push(n.to_string());
        }
    }
    Ok(out)
}

/// The JSON report of a run.
#[derive(Serialize)]
struct Report<'a> {
    dry_run: bool,
    images: Vec<String>,
    root: String,
    distro: String,
    operations: &'a [OpReport],
    /// Bytes written per image (0 in a dry run: what would be written).
    disks: Vec<DiskReport>,
}

#[derive(Serialize)]
struct DiskReport {
    image: String,
    bytes: u64,
    ranges: usize,
}

fn run(m: &ArgMatches) -> Result<ExitCode> {
    let start = Instant::now();
    if m.get_flag("verbose") {
        env_logger::Builder::new().filter_level(log::LevelFilter::Debug).init();
    }
    if m.get_flag("list-operations") {
        print!("{}", sysprep::list_operations());
        return Ok(ExitCode::SUCCESS);
    }
    refuse_unsupported(m, "vsysprep")?;
    if let Some(c) = m.get_one::<String>("password-crypto") {
        if c != "sha512" {
            bail!("--password-crypto {c}: only sha512 is supported");
        }
    }
    let json = m.get_flag("json");
    let quiet = m.get_flag("quiet") || json;
    let trace = m.get_flag("trace");
    let dry_run = m.get_flag("dry-run");
    let audit_only = m.get_flag("audit");

    let mut lists: Vec<String> = m.get_many::<String>("enable").into_iter().flatten().cloned().collect();
    if lists.len() > 1 {
        bail!("--enable option can only be given once");
    }
    lists.extend(m.get_many::<String>("operations").into_iter().flatten().cloned());
    let selection = Selection::from_lists(&lists)?;
    let opts = Options {
        keep_users: names(m, "keep-user-accounts")?,
        remove_users: names(m, "remove-user-accounts")?,
        cloud_init_user: m.get_one::<String>("cloud-init-user").cloned(),
        customize: sysprep::Customize { actions: customize_actions(m)? },
        selinux_relabel: !m.get_flag("no-selinux-relabel"),
    };
    if !selection.contains("user-account") {
        for (opt, v) in [("--keep-user-accounts", &opts.keep_users), ("--remove-user-accounts", &opts.remove_users)] {
            if !v.is_empty() {
                bail!("user-accounts: {opt} parameter was used, but the \"user-account\" operation is not enabled");
            }
        }
    }

    // progress on stdout as virt-sysprep prints it (stderr when stdout carries the JSON report)
    let say = |msg: &str| {
        let line = format!("[{:>6.1}] {msg}", start.elapsed().as_secs_f64());
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    let out = |msg: Message| match msg {
        Message::Progress(p) if !quiet => say(p),
        Message::Progress(_) => {}
        Message::Info(i) if json => eprintln!("vsysprep: {i}"),
        Message::Info(i) => println!("vsysprep: {i}"),
        Message::Warning(w) => eprintln!("vsysprep: warning: {w}"),
    };

    let mut drives = vguestfs::tool::drives(m)?;
    drives.extend(m.get_many::<String>("images").into_iter().flatten().map(|p| (PathBuf::from(p), None)));
    if drives.is_empty() {
        bail!("you must give either -a or an IMAGE.  Read vsysprep --help for further information.");
    }
    let readonly = dry_run || audit_only;
    let mut g = Guest::new();
    for (path, format) in &drives {
        // as libguestfs' add_drive: a missing or unreadable image fails before any progress
        std::fs::File::open(path).with_context(|| path.display().to_string())?;
        g.add_drive(path, DriveOptions { format: *format, readonly, scratch: dry_run, blocksize: None })
            .with_context(|| path.display().to_string())?;
    }
    out(Message::Progress("Examining the guest ..."));
    g.launch()?;
    for n in g.notices() {
        eprintln!("vsysprep: {n}");
    }
    let roots = g.inspect_os()?;
    vguestfs::tool::print_warnings(&g, "vsysprep");
    if roots.is_empty() {
        bail!("no operating systems were found in the guest image");
    }
    if audit_only {
        let ignore: Vec<String> = m.get_many::<String>("audit-ignore").into_iter().flatten().cloned().collect();
        return audit_roots(&mut g, &roots, json, &ignore);
    }
    let mut reports = Vec::new();
    let mut distro = String::new();
    for root in &roots {
        for (mp, e) in g.mount_inspected(root, false)? {
            eprintln!("vsysprep: warning: {mp}: {e} (ignored)");
        }
        let os = g.inspect_root(root)?;
        distro = os.distro.clone();
        let cx = Ctx::new(os, &opts, &out);
        for op in sysprep::run_order(&selection) {
            out(Message::Progress(&format!("Performing \"{}\" ...", op.name())));
            let r = sysprep::run_op(&g, &cx, op)?;
            if trace {
                for c in &r.changes {
                    eprintln!("vsysprep: trace: {} {}", c.action, c.path);
                }
            }
            reports.push(r);
        }
        g.umount_all()?;
    }
    let disks: Vec<DiskReport> = if dry_run {
        g.dirty_ranges()?
            .into_iter()
            .map(|d| DiskReport { image: d.image.display().to_string(), bytes: d.ranges.iter().map(|r| r.end - r.start).sum(), ranges: d.ranges.len() })
            .collect()
    } else {
        g.commit()?.into_iter().map(|c| DiskReport { image: c.image.display().to_string(), bytes: c.bytes, ranges: c.ranges }).collect()
    };
    if json {
        let report = Report {
            dry_run,
            images: drives.iter().map(|(p, _)| p.display().to_string()).collect(),
            root: roots.join(" "),
            distro,
            operations: &reports,
            disks,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if dry_run {
        print_dry_run(&reports, &disks)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The `--dry-run` listing: each change per operation, then the bytes per image.
fn print_dry_run(reports: &[OpReport], disks: &[DiskReport]) -> Result<()> {
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    writeln!(o, "dry run: nothing was written; these changes would have been made:")?;
    for r in reports {
        for c in &r.changes {
            writeln!(o, "  {}: {} {}", r.name, c.action, c.path)?;
        }
    }
    for d in disks {
        writeln!(o, "  {}: {} bytes in {} ranges", d.image, d.bytes, d.ranges)?;
    }
    Ok(())
}

/// `--audit`: the readiness checks of each root but the `ignore`d ones, printed or as JSON;
/// exit 1 when one fails.
fn audit_roots(g: &mut Guest, roots: &[String], json: bool, ignore: &[String]) -> Result<ExitCode> {
    let mut all = Vec::new();
    for root in roots {
        for (mp, e) in g.mount_inspected(root, true)? {
            eprintln!("vsysprep: warning: {mp}: {e} (ignored)");
        }
        let os = g.inspect_root(root)?;
        let mut findings = audit::audit(g, &os)?;
        findings.retain(|f| !ignore.iter().any(|i| i == f.check));
        g.umount_all()?;
        all.push((root.clone(), findings));
    }
    let failed = all.iter().flat_map(|(_, f)| f).filter(|f| f.status == Status::Fail).count();
    if json {
        #[derive(Serialize)]
        struct RootAudit<'a> {
            root: &'a str,
            findings: &'a [audit::Finding],
        }
        let v: Vec<RootAudit> = all.iter().map(|(r, f)| RootAudit { root: r, findings: f }).collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "roots": v, "failed": failed, "ignored": ignore }))?);
    } else {
        for (root, findings) in &all {
            println!("OpenStack readiness of {root}:");
            for f in findings {
                println!("{}  {:<17} {}", f.status.label(), f.check, f.detail);
            }
        }
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
