//! `vedit`: edit files in a disk image, like `virt-edit -a IMAGE FILE…`: the guest is
//! inspected (or mounted as `-m DEV[:MP]` says) read-write, each file is edited in `$EDITOR`
//! on a host copy or with `-e 's/REGEX/REPLACEMENT/FLAGS'` (a sed/Perl-like substitution,
//! since there is no Perl: see [`vguestfs::tool::edit`]), written back in place if it
//! changed (with `-b EXT`, the old file kept as FILE+EXT), and the image is written at the
//! end, all or nothing. The old form `vedit IMAGE… FILE` (no `-a`) works as in virt-edit.

use anyhow::{bail, Result};
use clap::{Arg, ArgAction, Command};
use std::process::ExitCode;
use vguestfs::tool::edit::{default_editor, edit_file, How, Substitution};

fn cli() -> Command {
    vguestfs::tool::mount_args(Command::new("vedit"))
        .about("edit a file in a virtual machine")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::new("backup").short('b').long("backup").value_name("EXT").help("Keep the original file as FILE+EXT"))
        .arg(
            Arg::new("expr")
                .short('e')
                .long("edit")
                .visible_alias("expr")
                .value_name("EXPR")
                .action(ArgAction::Append)
                .help("Edit non-interactively with s/REGEX/REPLACEMENT/FLAGS (flags g, i; groups $1 ${1} \\1), applied to each line"),
        )
        .arg(Arg::new("files").value_name("FILE").num_args(1..).required(true).help("Guest files to edit"))
}

fn main() -> ExitCode {
    vguestfs::tool::default_sigpipe();
    vguestfs::tool::exit_status("vedit", run())
}

/// The command line with virt-edit's old form made explicit: without `-a`, every argument
/// but the last that is not an option and names a path (contains `/` or exists) is an image.
fn old_style_args() -> Vec<String> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "-a" || a.starts_with("--add") || (a.starts_with("-a") && !a.starts_with("--"))) {
        return args;
    }
    let positional: Vec<usize> = (1..args.len()).filter(|&i| !args[i].starts_with('-') && !takes_value(&args[i - 1])).collect();
    let Some((_, images)) = positional.split_last() else { return args };
    let mut out = args.clone();
    for &i in images.iter().rev() {
        if args[i].contains('/') || std::path::Path::new(&args[i]).exists() {
            out.insert(i, "-a".into());
        }
    }
    out
}

/// Whether option `a` takes the next argument as its value.
fn takes_value(a: &str) -> bool {
    matches!(a, "-b" | "--backup" | "-e" | "--edit" | "--expr" | "-m" | "--mount" | "--backing-allow" | "-d" | "--domain" | "-c" | "--connect")
}

fn run() -> Result<()> {
    let m = cli().try_get_matches_from(old_style_args()).unwrap_or_else(|e| e.exit());
    if m.get_flag("verbose") {
        env_logger::Builder::new().filter_level(log::LevelFilter::Debug).init();
    }
    let exprs: Vec<&String> = m.get_many::<String>("expr").into_iter().flatten().collect();
    if exprs.len() > 1 {
        bail!("-e option given multiple times");
    }
    let sub = exprs.first().map(|e| e.parse::<Substitution>()).transpose()?;
    let backup = m.get_one::<String>("backup").map(String::as_str);
    if backup.is_some_and(|b| b.is_empty() || b.contains('/')) {
        bail!("-b: the backup extension must be non-empty and contain no '/'");
    }
    let mut g = vguestfs::tool::open_guest_with(&m, "vedit", false)?;
    let editor = default_editor();
    for file in m.get_many::<String>("files").into_iter().flatten() {
        let how = match &sub {
            Some(s) => How::Expr(s),
            None => How::Editor(&editor),
        };
        edit_file(&g, file, how, backup)?;
    }
    vguestfs::tool::commit(&mut g)
}
