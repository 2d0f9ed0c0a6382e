//! The interactive shell: banner, `><fs> ` prompt, history in `$HOME/.vfish`, and tab
//! completion driven by the command table (command names; then, per argument kind, guest
//! devices, guest paths or host files).
//!
//! Completion of an argument asks the table for the argument's [`ArgKind`]; guest paths are
//! completed from the mounted guest's directories.

use crate::command::ArgKind;
use crate::table::{self, COMMANDS};
use crate::shell::{Fatal, Shell};
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use std::path::PathBuf;
use vguestfs::fs::FileType;
use vguestfs::guest::files::MountView;

const PROMPT: &str = "><fs> ";

/// Completion state: the guest's device names and mount table (refreshed after every
/// command).
struct VfishHelper {
    devices: Vec<String>,
    mounts: MountView,
    files: FilenameCompleter,
}

impl VfishHelper {
    /// Candidates for an argument of `kind` that starts with `word`.
    /// Returns where the replaced text starts, as [`Completer::complete`] does.
    fn candidates(
        &self,
        kind: ArgKind,
        line: &str,
        pos: usize,
        word_start: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        match kind {
            ArgKind::Device => Ok((
                word_start,
                matching(
                    self.devices.iter().map(String::as_str),
                    &line[word_start..pos],
                ),
            )),
            ArgKind::HostFile => self.files.complete(line, pos, ctx),
            ArgKind::GuestPath => Ok((word_start, self.guest_paths(&line[word_start..pos]))),
            ArgKind::String | ArgKind::Int | ArgKind::Int64 | ArgKind::Bool => Ok((word_start, Vec::new())),
        }
    }
}

impl VfishHelper {
    /// Guest paths completing `word`: the entries of its directory part that start with its
    /// last component; a directory is completed with `/`, anything else with a space.
    fn guest_paths(&self, word: &str) -> Vec<Pair> {
        let Some(slash) = word.rfind('/') else {
            return Vec::new();
        };
        let (dir, prefix) = (&word[..=slash], &word[slash + 1..]);
        let Ok(entries) = self.mounts.read_dir(dir) else {
            return Vec::new();
        };
        let mut out: Vec<Pair> = entries
            .into_iter()
            .filter_map(|e| String::from_utf8(e.name).ok().map(|n| (n, e.file_type)))
            .filter(|(n, _)| {
                n.starts_with(prefix) && (!n.starts_with('.') || prefix.starts_with('.'))
            })
            .map(|(n, ty)| Pair {
                display: n.clone(),
                replacement: format!(
                    "{dir}{n}{}",
                    if ty == FileType::Directory { "/" } else { " " }
                ),
            })
            .collect();
        out.sort_by(|a, b| a.display.cmp(&b.display));
        out
    }
}

/// The names from `names` that start with `prefix`, as completions followed by a space.
fn matching<'a>(names: impl Iterator<Item = &'a str>, prefix: &str) -> Vec<Pair> {
    let mut out: Vec<Pair> = names
        .filter(|n| {
            n.to_ascii_lowercase()
                .starts_with(&prefix.to_ascii_lowercase())
        })
        .map(|n| Pair {
            display: n.to_string(),
            replacement: format!("{n} "),
        })
        .collect();
    out.sort_by(|a, b| a.display.cmp(&b.display));
    out.dedup_by(|a, b| a.display == b.display);
    out
}

impl Completer for VfishHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let word_start = before.rfind([' ', '\t']).map_or(0, |i| i + 1);
        let words: Vec<&str> = before[..word_start].split_whitespace().collect();
        let Some((first, done)) = words.split_first() else {
            // The command name (after any `-` that forgives its failure).
            let start = word_start + before[word_start..].len()
                - before[word_start..].trim_start_matches('-').len();
            let names = COMMANDS
                .iter()
                .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()));
            return Ok((start, matching(names, &before[start..])));
        };
        let kind =
            table::lookup(first.trim_start_matches('-')).and_then(|c| c.arg_kind(done.len()));
        match kind {
            Some(k) => self.candidates(k, line, pos, word_start, ctx),
            None => Ok((word_start, Vec::new())),
        }
    }
}

impl Hinter for VfishHelper {
    type Hint = String;
}
impl Highlighter for VfishHelper {}
impl Validator for VfishHelper {}
impl Helper for VfishHelper {}

/// Every device name of a launched guest (disks, partitions, LVs); empty before `run`.
fn devices(shell: &Shell) -> Vec<String> {
    let g = &shell.session.guest;
    let mut all = Vec::new();
    for list in [g.list_devices(), g.list_partitions(), g.lvs()] {
        all.extend(list.unwrap_or_default());
    }
    all
}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".vfish"))
}

/// What guestfish prints after the banner when `-i` mounted a guest: the product name and
/// each fstab mountpoint with its device, shortest mountpoint first, then a blank line.
fn inspect_prompt(guest: &vguestfs::Guest, root: &str) -> String {
    let mut o = String::new();
    if let Ok(name) = guest.inspect_get_product_name(root) {
        if name != "unknown" {
            o.push_str(&format!("Operating system: {name}\n"));
        }
    }
    let mut mps = guest.inspect_get_mountpoints(root).unwrap_or_default();
    mps.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
    for (mp, dev) in mps {
        o.push_str(&format!("{dev} mounted on {mp}\n"));
    }
    o.push('\n');
    o
}

/// Runs the interactive shell until `quit` or end of input.
pub fn run(shell: &mut Shell) -> Result<(), Fatal> {
    let mut rl: Editor<VfishHelper, DefaultHistory> = Editor::new().map_err(|e| {
        eprintln!("vfish: terminal: {e}");
        Fatal
    })?;
    rl.set_helper(Some(VfishHelper {
        devices: devices(shell),
        mounts: shell.session.guest.mount_view(),
        files: FilenameCompleter::new(),
    }));
    let history = history_path();
    if let Some(h) = &history {
        // A missing history file is the normal first run.
        let _ = rl.load_history(h);
    }
    print!(
        "\nWelcome to vfish, the guest filesystem shell for\n\
         editing virtual machine filesystems and disk images.\n\n\
         Type: ‘help’ for help on commands\n\
         \x20     ‘quit’ to quit the shell\n\n"
    );
    if let Some(root) = &shell.session.inspected_root {
        print!("{}", inspect_prompt(&shell.session.guest, root));
    }
    let mut result = Ok(());
    while !shell.session.quit {
        match rl.readline(PROMPT) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = rl.add_history_entry(line.as_str());
                }
                if let Err(f) = shell.run_line(&line, false) {
                    result = Err(f);
                    break;
                }
                if let Some(h) = rl.helper_mut() {
                    h.devices = devices(shell);
                    h.mounts = shell.session.guest.mount_view();
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("vfish: terminal: {e}");
                result = Err(Fatal);
                break;
            }
        }
    }
    println!();
    if let Some(h) = &history {
        if let Err(e) = rl.save_history(h) {
            eprintln!("vfish: {}: {e}", h.display());
        }
    }
    result
}
