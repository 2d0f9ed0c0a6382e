//! Command-line options, with guestfish's names. Options end at the first argument that is not
//! one (or at `--`); what follows is commands separated by `:` words.

use vguestfs::disk::Format;

/// A `-a` drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drive {
    /// Image file.
    pub path: String,
    /// From the `--format=` in force when it was given; `None` = detect.
    pub format: Option<Format>,
    /// From the `--blocksize=` in force when it was given; `None` = probe.
    pub blocksize: Option<u64>,
}

/// A `-m DEV[:MOUNTPOINT[:OPTIONS[:FSTYPE]]]` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Device to mount.
    pub device: String,
    /// Where in the guest (default `/`).
    pub mountpoint: String,
    /// Mount options (may be empty).
    pub options: String,
    /// Filesystem type (empty = detect).
    pub fstype: String,
}

impl MountSpec {
    /// Parses the `-m` argument.
    pub fn parse(s: &str) -> MountSpec {
        // a btrfsvol:DEVICE/SUBVOLUME mountable keeps its prefix
        let (prefix, body) = match s.strip_prefix("btrfsvol:") {
            Some(b) => ("btrfsvol:", b),
            None => ("", s),
        };
        let mut it = body.splitn(4, ':');
        let mut next = || it.next().unwrap_or("").to_string();
        let (device, mountpoint, options, fstype) = (format!("{prefix}{}", next()), next(), next(), next());
        let mountpoint = if mountpoint.is_empty() {
            "/".to_string()
        } else {
            mountpoint
        };
        MountSpec {
            device,
            mountpoint,
            options,
            fstype,
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run the shell.
    Run(Options),
    /// `--help`: print the usage and exit 0.
    Usage,
    /// `-V`/`--version`.
    Version,
    /// `-h [cmd]`: list the commands, or show one command's help.
    CmdHelp(Option<String>),
}

/// The shell's options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `-a` images in order.
    pub drives: Vec<Drive>,
    /// `--rw` (the default is read-only).
    pub rw: bool,
    /// `--dry-run` (vfish only): with `--rw`, commands change the guest as usual but nothing
    /// is written to the images; the changes are listed at exit.
    pub dry_run: bool,
    /// `-i`.
    pub inspect: bool,
    /// `-m` requests.
    pub mounts: Vec<MountSpec>,
    /// `-f FILE`.
    pub file: Option<String>,
    /// `-x`: print each command on stderr before running it.
    pub trace: bool,
    /// `-v` count.
    pub verbose: u8,
    /// Commands on the command line, split at `:` (each: name and arguments).
    pub commands: Vec<Vec<String>>,
    /// `--backing-allow DIR|any` values, in order.
    pub backing_allow: Vec<String>,
}

/// A bad command line: the message (without the program name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Action, CliError> {
    let mut o = Options::default();
    let mut format: Option<Format> = None;
    let mut blocksize: Option<u64> = None;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let value = |i: &mut usize| -> Result<String, CliError> {
                if let Some(v) = &inline {
                    return Ok(v.clone());
                }
                let v = args
                    .get(*i)
                    .cloned()
                    .ok_or_else(|| CliError(format!("option '--{name}' requires an argument")))?;
                *i += 1;
                Ok(v)
            };
            match name {
                "add" => o.drives.push(Drive {
                    path: value(&mut i)?,
                    format,
                    blocksize,
                }),
                "file" => set_file(&mut o, value(&mut i)?)?,
                "mount" => o.mounts.push(MountSpec::parse(&value(&mut i)?)),
                "backing-allow" => o.backing_allow.push(value(&mut i)?),
                "format" => {
                    // `--format` or `--format=` alone: back to detecting the format.
                    format = inline
                        .as_deref()
                        .filter(|f| !f.is_empty())
                        .map(parse_format)
                        .transpose()?
                }
                "blocksize" => {
                    // `--blocksize` alone: back to probing the sector size.
                    blocksize = inline
                        .as_deref()
                        .filter(|b| !b.is_empty())
                        .map(|b| vguestfs::guest::parse_blocksize(b).map_err(|e| CliError(format!("--{e}"))))
                        .transpose()?
                }
                "inspector" => o.inspect = true,
                "ro" => o.rw = false,
                "rw" => o.rw = true,
                "dry-run" => o.dry_run = true,
                "verbose" => o.verbose = o.verbose.saturating_add(1),
                "no-sync" => {}
                "version" => return Ok(Action::Version),
                "help" => return Ok(Action::Usage),
                "cmd-help" => return Ok(Action::CmdHelp(inline.or_else(|| next_word(args, i)))),
                _ => return Err(CliError(format!("unrecognized option '--{name}'"))),
            }
            if inline.is_some()
                && matches!(
                    name,
                    "inspector" | "ro" | "rw" | "dry-run" | "verbose" | "no-sync" | "version" | "help"
                )
            {
                return Err(CliError(format!(
                    "option '--{name}' doesn't allow an argument"
                )));
            }
            continue;
        }
        let Some(shorts) = a.strip_prefix('-').filter(|s| !s.is_empty()) else {
            i -= 1;
            break;
        };
        for (pos, c) in shorts.char_indices() {
            let attached = &shorts[pos + c.len_utf8()..];
            let value = |i: &mut usize| -> Result<String, CliError> {
                if !attached.is_empty() {
                    return Ok(attached.to_string());
                }
                let v = args
                    .get(*i)
                    .cloned()
                    .ok_or_else(|| CliError(format!("option requires an argument -- '{c}'")))?;
                *i += 1;
                Ok(v)
            };
            match c {
                'a' => o.drives.push(Drive {
                    path: value(&mut i)?,
                    format,
                    blocksize,
                }),
                'f' => set_file(&mut o, value(&mut i)?)?,
                'm' => o.mounts.push(MountSpec::parse(&value(&mut i)?)),
                'h' => {
                    let cmd = if attached.is_empty() {
                        next_word(args, i)
                    } else {
                        Some(attached.to_string())
                    };
                    return Ok(Action::CmdHelp(cmd));
                }
                'i' => o.inspect = true,
                'r' => o.rw = false,
                'w' => o.rw = true,
                'v' => o.verbose = o.verbose.saturating_add(1),
                'x' => o.trace = true,
                'n' => {}
                'V' => return Ok(Action::Version),
                _ => return Err(CliError(format!("invalid option -- '{c}'"))),
            }
            if matches!(c, 'a' | 'f' | 'm') {
                break;
            }
        }
    }
    o.commands = split_commands(&args[i.min(args.len())..])?;
    if o.file.is_some() && !o.commands.is_empty() {
        return Err(CliError(
            "-f and commands on the command line cannot be used together".into(),
        ));
    }
    Ok(Action::Run(o))
}

/// `-h cmd`: the next argument names the command unless it is an option.
fn next_word(args: &[String], i: usize) -> Option<String> {
    args.get(i).filter(|a| !a.starts_with('-')).cloned()
}

fn set_file(o: &mut Options, f: String) -> Result<(), CliError> {
    if o.file.is_some() {
        return Err(CliError("only one -f parameter can be given".into()));
    }
    o.file = Some(f);
    Ok(())
}

fn parse_format(s: &str) -> Result<Format, CliError> {
    s.parse::<Format>()
        .map_err(|e| CliError(format!("--format: {e}")))
}

/// Splits `cmd a b : cmd2 : cmd3` at the `:` words.
fn split_commands(words: &[String]) -> Result<Vec<Vec<String>>, CliError> {
    let mut out = Vec::new();
    if words.is_empty() {
        return Ok(out);
    }
    for group in words.split(|w| w == ":") {
        if group.is_empty() {
            return Err(CliError("empty command on command line".into()));
        }
        out.push(group.to_vec());
    }
    Ok(out)
}

pub use vguestfs::tool::host::strerror;

/// `vfish --help`.
pub fn usage() -> String {
    "vfish: guest filesystem shell\n\
     vfish lets you inspect virtual machine disk images (raw, qcow2)\n\
     Usage:\n\
     \x20 vfish [--options] cmd [: cmd : cmd ...]\n\
     or for interactive use:\n\
     \x20 vfish\n\
     or from a shell script:\n\
     \x20 vfish <<EOF\n\
     \x20 cmd\n\
     \x20 ...\n\
     \x20 EOF\n\
     Options:\n\
     \x20 -h|--cmd-help        List available commands\n\
     \x20 -h|--cmd-help cmd    Display detailed help on ‘cmd’\n\
     \x20 -a|--add image       Add image\n\
     \x20 -f|--file file       Read commands from file\n\
     \x20 --backing-allow DIR|any Allow qcow2 backing files in DIR (or anywhere),\n\
     \x20                      not only beside their image\n\
     \x20 --blocksize[=512|4096] Set the sector size of the disk for -a option\n\
     \x20 --format[=raw|..]    Force disk format for -a option\n\
     \x20 --dry-run            With --rw: write nothing, list what would change\n\
     \x20 -i|--inspector       Automatically mount filesystems\n\
     \x20 -m|--mount dev[:mnt[:opts[:fstype]]]\n\
     \x20                      Mount dev on mnt (if omitted, /)\n\
     \x20 -n|--no-sync         Don't autosync (accepted; there is nothing to sync)\n\
     \x20 -r|--ro              Mount read-only (the default)\n\
     \x20 -v|--verbose         Verbose messages\n\
     \x20 -V|--version         Display version and exit\n\
     \x20 -w|--rw              Mount read-write\n\
     \x20 -x                   Echo each command before executing it\n\
     For more information, see the vfish README.\n"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Options {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&v) {
            Ok(Action::Run(o)) => o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn drives_formats_and_commands() {
        let o = run(&[
            "-a",
            "x.img",
            "--format=qcow2",
            "--blocksize=4096",
            "-ay.qcow2",
            "--format",
            "--blocksize",
            "--add=z",
            "-rx",
            "run",
            ":",
            "-lvs",
            ":",
            "echo",
            "a",
            "b",
        ]);
        assert_eq!(
            o.drives,
            [
                Drive {
                    path: "x.img".into(),
                    format: None,
                    blocksize: None
                },
                Drive {
                    path: "y.qcow2".into(),
                    format: Some(Format::Qcow2),
                    blocksize: Some(4096)
                },
                Drive {
                    path: "z".into(),
                    format: None,
                    blocksize: None
                },
            ]
        );
        assert!(o.trace && !o.rw);
        assert!(parse(&["--blocksize=1024".to_string()]).is_err());
        let r = run(&["--format=raw", "-a", "a", "--format=", "-a", "b"]);
        assert_eq!(r.drives[0].format, Some(Format::Raw));
        assert_eq!(r.drives[1].format, None);
        assert_eq!(
            o.commands,
            [vec!["run"], vec!["-lvs"], vec!["echo", "a", "b"]]
        );
    }

    #[test]
    fn mounts_and_errors() {
        let o = run(&[
            "--rw",
            "-m",
            "/dev/sda1",
            "-m",
            "/dev/sda2:/boot:ro:ext4",
            "-v",
            "-v",
        ]);
        assert!(o.rw);
        assert_eq!(o.verbose, 2);
        assert_eq!(
            o.mounts[0],
            MountSpec {
                device: "/dev/sda1".into(),
                mountpoint: "/".into(),
                options: "".into(),
                fstype: "".into()
            }
        );
        assert_eq!(o.mounts[1].mountpoint, "/boot");
        assert_eq!(o.mounts[1].fstype, "ext4");
        let err = |a: &[&str]| {
            parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect_err("fails")
                .0
        };
        assert_eq!(err(&["--bogus"]), "unrecognized option '--bogus'");
        assert_eq!(err(&["-q"]), "invalid option -- 'q'");
        assert_eq!(err(&["-a"]), "option requires an argument -- 'a'");
        assert_eq!(
            err(&["run", ":", ":", "lvs"]),
            "empty command on command line"
        );
        assert_eq!(err(&[":"]), "empty command on command line");
        assert_eq!(
            err(&["-f", "a", "-f", "b"]),
            "only one -f parameter can be given"
        );
        assert_eq!(
            err(&["--format=vmdk"]),
            "--format: unknown image format 'vmdk' (expected raw or qcow2)"
        );
        assert_eq!(err(&["--ro=1"]), "option '--ro' doesn't allow an argument");
    }

    #[test]
    fn help_and_version() {
        let p = |a: &[&str]| {
            parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("parses")
        };
        assert_eq!(p(&["-h"]), Action::CmdHelp(None));
        assert_eq!(
            p(&["-h", "vfs-type"]),
            Action::CmdHelp(Some("vfs-type".into()))
        );
        assert_eq!(p(&["--cmd-help=lvs"]), Action::CmdHelp(Some("lvs".into())));
        assert_eq!(p(&["--help"]), Action::Usage);
        assert_eq!(p(&["-V"]), Action::Version);
        assert_eq!(
            p(&["--", "-x"]),
            Action::Run(Options {
                commands: vec![vec!["-x".into()]],
                ..Options::default()
            })
        );
    }
}
