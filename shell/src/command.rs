//! The shape of a vfish command: its arguments and their types, the handler signature, argument
//! parsing and conversion, and the help text built from an entry. The entries themselves are the
//! table in [`crate::table`]; handlers depend on this module and [`Session`] only.

use crate::error::{CmdError, CmdResult};
use crate::session::Session;
use std::io::Write;

/// How an argument is typed, converted and completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// Any string.
    String,
    /// A guest device: `/dev/sda`, `/dev/sda1`, `/dev/VG/LV` (completed from the guest).
    Device,
    /// A host file name (completed from the host filesystem).
    HostFile,
    /// A path in the mounted guest (completed from the guest's directories).
    GuestPath,
    /// A 32-bit signed integer (decimal, `0x` hex or `0` octal).
    Int,
    /// A 64-bit signed integer (same syntax).
    Int64,
    /// A boolean: `true`/`yes`/`y`/`1`/`on` or `false`/`no`/`n`/`0`/`off`.
    Bool,
}

/// One argument of a command.
#[derive(Debug, Clone, Copy)]
pub struct ArgSpec {
    /// The name shown in the synopsis.
    pub name: &'static str,
    /// Its type.
    pub kind: ArgKind,
}
/// A command handler: reads the session, writes its output to `out`.
pub type Handler = fn(&mut Session, &Args, &mut dyn Write) -> CmdResult;

/// One command.
pub struct Command {
    /// The name, with dashes (`list-devices`). Lookup also accepts underscores, any case.
    pub name: &'static str,
    /// Other names for it (`launch` for `run`).
    pub aliases: &'static [&'static str],
    /// Required arguments, in order.
    pub args: &'static [ArgSpec],
    /// Optional `name:value` arguments.
    pub optargs: &'static [ArgSpec],
    /// Any number of further arguments of this kind (`echo`'s words).
    pub rest: Option<ArgSpec>,
    /// One-line summary (the `help` list, the NAME section).
    pub summary: &'static str,
    /// Description paragraphs (separated by blank lines), shown by `help NAME`.
    pub description: &'static str,
    /// The code.
    pub handler: Handler,
}



/// Finds a command of `table` by name or alias: any case, `_` and `-` alike.
pub fn lookup_in(table: &'static [Command], name: &str) -> Option<&'static Command> {
    let want = name.to_ascii_lowercase().replace('_', "-");
    table
        .iter()
        .find(|c| c.name == want || c.aliases.contains(&want.as_str()))
}
impl Command {
    /// The libguestfs API name used in error messages: `vfs_type`.
    pub fn api_name(&self) -> String {
        self.name.replace('-', "_")
    }

    /// `name arg … [opt:type] …`, as in guestfish's usage line.
    pub fn synopsis(&self) -> String {
        let mut s = self.name.to_string();
        for a in self.args {
            s.push(' ');
            s.push_str(a.name);
        }
        for o in self.optargs {
            let ty = match o.kind {
                ArgKind::Bool => "true|false",
                ArgKind::Int | ArgKind::Int64 => "N",
                _ => "..",
            };
            s.push_str(&format!(" [{}:{ty}]", o.name));
        }
        if let Some(r) = self.rest {
            s.push_str(&format!(" [{} ...]", r.name));
        }
        s
    }

    /// The text `help NAME` prints (pod2text layout of guestfish).
    pub fn long_help(&self) -> String {
        let mut out = format!(
            "NAME\n    {} - {}\n\nSYNOPSIS\n     {}\n\nDESCRIPTION\n",
            self.name,
            self.summary,
            self.synopsis()
        );
        let mut paras: Vec<String> = self.description.split("\n\n").map(str::to_string).collect();
        if !self.optargs.is_empty() {
            paras.push("This command has one or more optional arguments, given as name:value after the other arguments.".into());
        }
        if !self.aliases.is_empty() {
            let names: Vec<String> = self.aliases.iter().map(|a| format!("'{a}'")).collect();
            paras.push(format!(
                "You can use {} as an alias for this command.",
                names.join(" or ")
            ));
        }
        for (i, p) in paras.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&wrap(p, 4, 76));
        }
        out
    }

    /// The kind of the argument at `index` (0-based, after the command name), if any.
    pub fn arg_kind(&self, index: usize) -> Option<ArgKind> {
        self.args.get(index).or(self.rest.as_ref()).map(|a| a.kind)
    }

    /// Checks the count and types of `words` and runs the handler.
    ///
    /// `table` is the command table `self` belongs to: handlers such as `help` and `glob` read
    /// it through [`Args::commands`].
    pub fn invoke(
        &self,
        table: &'static [Command],
        session: &mut Session,
        words: &[String],
        out: &mut dyn Write,
    ) -> Result<(), Failure> {
        let mut args = Args::parse(self, words)?;
        args.table = table;
        (self.handler)(session, &args, out).map_err(|e| match e {
            CmdError::Failed(m) => Failure::Library(format!("{}: {m}", self.api_name())),
            CmdError::Usage(m) => Failure::Message(m),
        })
    }
}

/// Wraps a paragraph at `width` columns with `indent` spaces, like pod2text.
fn wrap(text: &str, indent: usize, width: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.len() + 1 + word.len() > width {
            out.push_str(&format!("{pad}{line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{pad}{line}\n"));
    }
    out
}

/// The list `help` and `vfish -h` print: every name and alias of `table` with its summary.
pub fn list_commands(table: &[Command]) -> String {
    let mut rows: Vec<(&str, String)> = Vec::new();
    for c in table {
        rows.push((c.name, c.summary.to_string()));
        for a in c.aliases {
            rows.push((a, format!("alias for '{}'", c.name)));
        }
    }
    rows.sort_by(|a, b| a.0.cmp(b.0));
    // help and quit come first, as in guestfish.
    rows.sort_by_key(|(n, _)| match *n {
        "help" => 0,
        "quit" => 1,
        _ => 2,
    });
    let mut out = format!("    {:<16}     {}\n", "Command", "Description");
    for (n, s) in rows {
        out.push_str(&format!("{n:<20} {s}\n"));
    }
    out.push_str("    Use -h <cmd> / help <cmd> to show detailed help for a command.\n");
    out
}

/// Why a command did not succeed; the dispatcher prints it and decides whether to go on.
#[derive(Debug)]
pub enum Failure {
    /// Wrong argument count: guestfish prints the usage lines.
    WrongArgs,
    /// A message to print on stderr.
    Message(String),
    /// The operation failed: `api_name: message`, printed after `vguestfs: error: ` (and, in
    /// scripts, the input's `FILE:LINE: `).
    Library(String),
}

/// Converted arguments of one call.
#[derive(Default)]
pub struct Args {
    values: Vec<String>,
    ints: Vec<Option<i64>>,
    opts: Vec<(&'static str, String)>,
    table: &'static [Command],
}

impl Args {
    fn parse(cmd: &Command, words: &[String]) -> Result<Args, Failure> {
        let (min, max) = (cmd.args.len(), cmd.args.len() + cmd.optargs.len());
        if words.len() < min || (cmd.rest.is_none() && words.len() > max) {
            return Err(Failure::WrongArgs);
        }
        let mut args = Args::default();
        for (i, w) in words.iter().enumerate() {
            match cmd.args.get(i) {
                Some(spec) => {
                    args.ints.push(convert(cmd, spec, w)?);
                    args.values.push(w.clone());
                }
                None if cmd.rest.is_some() => args.values.push(w.clone()),
                None => {
                    let spec = cmd
                        .optargs
                        .iter()
                        .find(|o| w.strip_prefix(o.name).is_some_and(|r| r.starts_with(':')))
                        .ok_or_else(|| {
                            Failure::Message(format!(
                                "{}: unknown optional argument \"{w}\"",
                                cmd.name
                            ))
                        })?;
                    if args.opts.iter().any(|(n, _)| *n == spec.name) {
                        return Err(Failure::Message(format!(
                            "{}: optional argument \"{}\" given more than once",
                            cmd.name, spec.name
                        )));
                    }
                    let value = &w[spec.name.len() + 1..];
                    convert(cmd, spec, value)?;
                    args.opts.push((spec.name, value.to_string()));
                }
            }
        }
        Ok(args)
    }

    /// Required or variadic argument `i` as given.
    pub fn str(&self, i: usize) -> &str {
        self.values.get(i).map_or("", String::as_str)
    }

    /// All positional arguments.
    pub fn all(&self) -> &[String] {
        &self.values
    }

    /// Required 32-bit integer argument `i` (already validated to fit).
    pub fn int(&self, i: usize) -> i32 {
        i32::try_from(self.int64(i)).unwrap_or(0)
    }

    /// Required 64-bit integer argument `i` (already validated).
    pub fn int64(&self, i: usize) -> i64 {
        self.ints.get(i).copied().flatten().unwrap_or(0)
    }

    /// Optional argument `name`, as given.
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The command table the running command was found in (for `help`, `glob`).
    pub fn commands(&self) -> &'static [Command] {
        self.table
    }

    /// Optional boolean argument `name` (already validated).
    pub fn opt_bool(&self, name: &str) -> Option<bool> {
        self.opt(name).and_then(parse_bool)
    }
}

/// Validates one value against its type; returns the integer for `Int` and `Int64`.
fn convert(cmd: &Command, spec: &ArgSpec, w: &str) -> Result<Option<i64>, Failure> {
    let int = match spec.kind {
        ArgKind::Int => parse_int(w).map(i64::from),
        ArgKind::Int64 => parse_int64(w),
        _ => None,
    };
    match spec.kind {
        ArgKind::Int | ArgKind::Int64 => int.map(Some).ok_or_else(|| {
            Failure::Message(format!(
                "{}: {}: invalid integer parameter",
                cmd.name, spec.name
            ))
        }),
        ArgKind::Bool => match parse_bool(w) {
            Some(_) => Ok(None),
            None => Err(Failure::Message(format!(
                "vfish: '{w}': invalid boolean value, use 'true' or 'false'"
            ))),
        },
        ArgKind::String | ArgKind::Device | ArgKind::HostFile | ArgKind::GuestPath => Ok(None),
    }
}

/// A C-style 32-bit integer: optional sign, then decimal, `0x` hex or leading-`0` octal.
pub fn parse_int(s: &str) -> Option<i32> {
    i32::try_from(parse_int64(s)?).ok()
}

/// A C-style 64-bit integer (same syntax as [`parse_int`]).
pub fn parse_int64(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (body, radix) = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (h, 16)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (&digits[1..], 8)
    } else {
        (digits, 10)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i64::from_str_radix(body, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// guestfish's boolean words.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "t" | "yes" | "y" | "on" => Some(true),
        "0" | "false" | "f" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_booleans() {
        assert_eq!(parse_int("12"), Some(12));
        assert_eq!(parse_int("0x1f"), Some(31));
        assert_eq!(parse_int("010"), Some(8));
        assert_eq!(parse_int("-3"), Some(-3));
        assert_eq!(parse_int("0"), Some(0));
        assert_eq!(parse_int("--3"), None);
        assert_eq!(parse_int("1k"), None);
        assert_eq!(parse_int("4294967296"), None);
        assert_eq!(parse_bool("Yes"), Some(true));
        assert_eq!(parse_bool("off"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }
}
