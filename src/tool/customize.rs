//! virt-customize's file-level options on the command line, shared by `vsysprep` and
//! `vcustomize`: the options applied by [`crate::sysprep::customize`], and the options that
//! need programs run inside the guest (or are not done yet), recognised and refused with the
//! reason.

use crate::sysprep::CustomizeAction;
use anyhow::{bail, Result};
use clap::{Arg, ArgAction, ArgMatches, Command};

/// The customize options applied (virt-customize's file-level ones): (clap id, option, value
/// name).
pub const CUSTOMIZE: &[(&str, &str, &str)] = &[
    ("hostname", "--hostname", "HOSTNAME"),
    ("timezone", "--timezone", "TIMEZONE"),
    ("root-password", "--root-password", "SELECTOR"),
    ("password", "--password", "USER:SELECTOR"),
    ("ssh-inject", "--ssh-inject", "USER[:SELECTOR]"),
    ("write", "--write", "FILE:CONTENT"),
    ("append-line", "--append-line", "FILE:LINE"),
    ("delete", "--delete", "PATH"),
    ("mkdir", "--mkdir", "DIR"),
    ("chmod", "--chmod", "PERMISSIONS:FILE"),
    ("upload", "--upload", "FILE:DEST"),
    ("link", "--link", "TARGET:LINK[:LINK..]"),
    ("touch", "--touch", "FILE"),
    ("truncate", "--truncate", "FILE"),
    ("firstboot", "--firstboot", "SCRIPT"),
    ("firstboot-command", "--firstboot-command", "CMD"),
];

/// virt-customize options that need programs run inside the guest, or are not done yet:
/// (clap id, why; `{prog}` is the tool's name).
pub const REFUSED: &[(&str, &str)] = &[
    ("run", "running scripts inside the guest needs the guest booted; {prog} never runs the guest (use --firstboot)"),
    ("run-command", "running commands inside the guest needs the guest booted; {prog} never runs the guest (use --firstboot-command)"),
    ("install", "installing packages runs the guest's package manager; {prog} never runs the guest (use --firstboot-command)"),
    ("uninstall", "removing packages runs the guest's package manager; {prog} never runs the guest (use --firstboot-command)"),
    ("update", "updating packages runs the guest's package manager; {prog} never runs the guest (use --firstboot-command)"),
    ("firstboot-install", "not supported yet (use --firstboot-command with the package manager)"),
    ("script", "the script operation mounts the guest on the host with FUSE, which {prog} does not do"),
    ("scriptdir", "the script operation mounts the guest on the host with FUSE, which {prog} does not do"),
    ("edit", "Perl expressions are not supported (use --write or --append-line, or vedit -e)"),
    ("copy", "not supported yet"),
    ("copy-in", "not supported yet (use --upload per file, or vcopy-in)"),
    ("move", "not supported yet"),
    ("scrub", "not supported yet (use --delete)"),
    ("chown", "not supported yet"),
    ("commands-from-file", "not supported yet"),
    ("truncate-recursive", "not supported yet"),
    ("tar-in", "not supported yet (vtar-in does it)"),
];

/// Adds the [`CUSTOMIZE`] options, the hidden [`REFUSED`] ones, and the options every tool
/// that customizes takes: `--password-crypto`, `--selinux-relabel` (accepted, hidden: labels
/// are set as files are made), `-q`, `-v`, `-x`.
pub fn customize_args(mut cmd: Command) -> Command {
    cmd = cmd
        .arg(Arg::new("password-crypto").long("password-crypto").value_name("sha512").help("Password hash (sha512 only)"))
        .arg(Arg::new("selinux-relabel").long("selinux-relabel").action(ArgAction::SetTrue).hide(true))
        .arg(Arg::new("quiet").short('q').long("quiet").action(ArgAction::SetTrue).help("Don't print progress messages"))
        .arg(Arg::new("verbose").short('v').long("verbose").action(ArgAction::SetTrue).help("Verbose messages"))
        .arg(Arg::new("trace").short('x').action(ArgAction::SetTrue).help("Trace every change as it is made"));
    for (name, _, value) in CUSTOMIZE {
        cmd = cmd.arg(Arg::new(*name).long(*name).value_name(*value).action(ArgAction::Append).help("Customize option (see virt-customize)"));
    }
    for (name, _) in REFUSED {
        cmd = cmd.arg(Arg::new(*name).long(*name).value_name("ARG").num_args(0..=1).action(ArgAction::Append).hide(true));
    }
    cmd
}

/// Fails with `--OPTION: why` for the first [`REFUSED`] option given.
pub fn refuse_unsupported(m: &ArgMatches, prog: &str) -> Result<()> {
    for (name, why) in REFUSED {
        if m.contains_id(name) && m.value_source(name) == Some(clap::parser::ValueSource::CommandLine) {
            bail!("--{name}: {}", why.replace("{prog}", prog));
        }
    }
    Ok(())
}

/// The customize actions, in command-line order.
pub fn customize_actions(m: &ArgMatches) -> Result<Vec<CustomizeAction>> {
    let mut all: Vec<(usize, CustomizeAction)> = Vec::new();
    for (name, option, _) in CUSTOMIZE {
        let (Some(idx), Some(vals)) = (m.indices_of(name), m.get_many::<String>(name)) else { continue };
        for (i, v) in idx.zip(vals) {
            all.push((i, CustomizeAction::parse(option, v)?));
        }
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, a)| a).collect())
}
