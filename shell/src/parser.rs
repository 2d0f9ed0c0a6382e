//! The guestfish line syntax.
//!
//! One line is one of:
//! - empty, or a comment (`#` as the first non-blank character; `#!` script headers included);
//! - `!cmd`: run `cmd` with the host shell;
//! - `<!cmd`: run `cmd` and execute its output as vfish commands;
//! - `name arg …`, optionally followed by `| hostcmd` (the command's output is piped to it).
//!
//! A leading `-` (before any of these) lets that one line fail without stopping a script.
//! The command name is the first whitespace-delimited word and cannot be quoted. Arguments are
//! separated by spaces or tabs: bare words (a leading `~` or `~/` is the user's home), `'single
//! quoted'` (literal) or `"double quoted"` with the C escapes `\\ \a \b \f \n \r \t \v \" \' \?`,
//! three-digit octal `\NNN` and two-digit hex `\xHH` (both 1–255). A quoted argument must be
//! followed by whitespace or the end of the line. An argument that starts with `|` begins the
//! pipe: the rest of the line is the host command. There is no line continuation.

use std::fmt;

/// A parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The line started with `-`: its failure does not stop a script.
    pub ignore_errors: bool,
    /// What the line asks for.
    pub kind: LineKind,
}

/// What a line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    /// Blank line or comment.
    Nothing,
    /// `!cmd`: run `cmd` with `sh -c`.
    Shell(String),
    /// `<!cmd`: run `cmd` with `sh -c` and execute each line of its output.
    Inline(String),
    /// A vfish command.
    Command {
        /// The command name as typed.
        name: String,
        /// Its arguments, unquoted.
        args: Vec<String>,
        /// `| hostcmd`: the host command that receives the output.
        pipe: Option<String>,
    },
}

/// A syntax error, printed as `vfish: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// A `"` without its closing quote.
    UnterminatedDouble,
    /// A `'` without its closing quote.
    UnterminatedSingle,
    /// A bad backslash escape; the offset counts from the opening quote's next character.
    BadEscape(usize),
    /// A closing quote followed directly by something other than whitespace.
    NotSeparated,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnterminatedDouble => f.write_str("unterminated double quote"),
            ParseError::UnterminatedSingle => f.write_str("unterminated single quote"),
            ParseError::BadEscape(at) => {
                write!(
                    f,
                    "invalid escape sequence in string (starting at offset {at})"
                )
            }
            ParseError::NotSeparated => {
                f.write_str("command arguments not separated by whitespace")
            }
        }
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Parses one line (without its newline). `home` expands a bare leading `~`.
pub fn parse_line(line: &str, home: Option<&str>) -> Result<Line, ParseError> {
    let mut ignore_errors = false;
    let mut rest = line;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() || rest.starts_with('#') {
            return Ok(Line {
                ignore_errors,
                kind: LineKind::Nothing,
            });
        }
        if let Some(cmd) = rest.strip_prefix('!') {
            return Ok(Line {
                ignore_errors,
                kind: LineKind::Shell(cmd.to_string()),
            });
        }
        if let Some(cmd) = rest.strip_prefix("<!") {
            return Ok(Line {
                ignore_errors,
                kind: LineKind::Inline(cmd.to_string()),
            });
        }
        match rest.strip_prefix('-') {
            Some(r) => {
                ignore_errors = true;
                rest = r;
            }
            None => break,
        }
    }
    let end = rest.find(is_blank).unwrap_or(rest.len());
    let name = rest[..end].to_string();
    let (args, pipe) = parse_args(&rest[end..], home)?;
    Ok(Line {
        ignore_errors,
        kind: LineKind::Command { name, args, pipe },
    })
}

/// Splits the argument part of a command line.
fn parse_args(
    mut s: &str,
    home: Option<&str>,
) -> Result<(Vec<String>, Option<String>), ParseError> {
    let mut args = Vec::new();
    loop {
        s = s.trim_start_matches(is_blank);
        let Some(first) = s.chars().next() else {
            return Ok((args, None));
        };
        let (arg, rest) = match first {
            '|' => return Ok((args, Some(s[1..].to_string()))),
            '"' => double_quoted(&s[1..])?,
            '\'' => {
                let body = &s[1..];
                let close = body.find('\'').ok_or(ParseError::UnterminatedSingle)?;
                (body[..close].to_string(), &body[close + 1..])
            }
            _ => {
                let end = s.find(is_blank).unwrap_or(s.len());
                (expand_tilde(&s[..end], home), &s[end..])
            }
        };
        if (first == '"' || first == '\'') && rest.chars().next().is_some_and(|c| !is_blank(c)) {
            return Err(ParseError::NotSeparated);
        }
        args.push(arg);
        s = rest;
    }
}

/// `~` and `~/…` name the user's home; `~user` is left as typed.
fn expand_tilde(word: &str, home: Option<&str>) -> String {
    match (home, word.strip_prefix('~')) {
        (Some(h), Some(r)) if r.is_empty() || r.starts_with('/') => format!("{h}{r}"),
        _ => word.to_string(),
    }
}

/// Parses the body of a `"…"` string (after the opening quote); returns it and what follows
/// the closing quote.
fn double_quoted(body: &str) -> Result<(String, &str), ParseError> {
    let bytes = body.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // The input was a &str and escapes produce single bytes 1..=255: invalid UTF-8
                // can only come from \x or octal escapes, kept as the Unicode replacement.
                let s = String::from_utf8(out)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                return Ok((s, &body[i + 1..]));
            }
            b'\\' => {
                let (byte, used) = escape(&bytes[i + 1..]).ok_or(ParseError::BadEscape(i))?;
                out.push(byte);
                i += 1 + used;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Err(ParseError::UnterminatedDouble)
}

/// Decodes the escape after a backslash: the byte and how many input bytes it used.
fn escape(s: &[u8]) -> Option<(u8, usize)> {
    let simple = |b: u8| match b {
        b'\\' => Some(b'\\'),
        b'a' => Some(0x07),
        b'b' => Some(0x08),
        b'f' => Some(0x0c),
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'v' => Some(0x0b),
        b'"' => Some(b'"'),
        b'\'' => Some(b'\''),
        b'?' => Some(b'?'),
        _ => None,
    };
    let first = *s.first()?;
    let value = match first {
        b'0'..=b'7' => {
            let digits = s.get(..3)?;
            if !digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                return None;
            }
            digits
                .iter()
                .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'))
        }
        b'x' => {
            let hex = std::str::from_utf8(s.get(1..3)?).ok()?;
            if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            u32::from_str_radix(hex, 16).ok()?
        }
        b => return simple(b).map(|c| (c, 1)),
    };
    match u8::try_from(value) {
        Ok(v) if v != 0 => Some((v, 3)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(line: &str) -> (String, Vec<String>, Option<String>) {
        match parse_line(line, Some("/home/u")).expect("parses").kind {
            LineKind::Command { name, args, pipe } => (name, args, pipe),
            other => panic!("not a command: {other:?}"),
        }
    }

    #[test]
    fn words_quotes_and_escapes() {
        let (n, a, p) = cmd("  echo a  'b c' \"d\\te\\x41\\101\\\"\" ~/x ~ ~root");
        assert_eq!(n, "echo");
        assert_eq!(a, ["a", "b c", "d\teAA\"", "/home/u/x", "/home/u", "~root"]);
        assert_eq!(p, None);
    }

    #[test]
    fn bare_words_keep_quotes_and_pipes_inside() {
        let (_, a, p) = cmd("echo a|b it's x\"y");
        assert_eq!(a, ["a|b", "it's", "x\"y"]);
        assert_eq!(p, None);
    }

    #[test]
    fn pipe_takes_the_rest_of_the_line() {
        let (n, a, p) = cmd("list-devices |  grep 'sd' | wc -l");
        assert_eq!(n, "list-devices");
        assert!(a.is_empty());
        assert_eq!(p.as_deref(), Some("  grep 'sd' | wc -l"));
        let (_, a, p) = cmd("echo x |tr a-z A-Z");
        assert_eq!(a, ["x"]);
        assert_eq!(p.as_deref(), Some("tr a-z A-Z"));
    }

    #[test]
    fn comments_shell_inline_and_dash() {
        let p = |l| parse_line(l, None).expect("parses");
        assert_eq!(p("   # c").kind, LineKind::Nothing);
        assert_eq!(p("#!/usr/bin/vfish -f").kind, LineKind::Nothing);
        assert_eq!(p("").kind, LineKind::Nothing);
        assert_eq!(p("!ls -l").kind, LineKind::Shell("ls -l".into()));
        assert_eq!(p("<!echo run").kind, LineKind::Inline("echo run".into()));
        let l = p("- -!false");
        assert!(l.ignore_errors);
        assert_eq!(l.kind, LineKind::Shell("false".into()));
        let l = p("-vfs-type /dev/sda");
        assert!(l.ignore_errors);
        assert!(matches!(l.kind, LineKind::Command { ref name, .. } if name == "vfs-type"));
        assert!(!p("echo # not a comment").ignore_errors);
    }

    #[test]
    fn errors() {
        let e = |l| parse_line(l, None).expect_err("fails");
        assert_eq!(e("echo \"abc"), ParseError::UnterminatedDouble);
        assert_eq!(e("echo 'abc"), ParseError::UnterminatedSingle);
        assert_eq!(e("echo \"a\"b"), ParseError::NotSeparated);
        assert_eq!(e("echo 'a'b"), ParseError::NotSeparated);
        assert_eq!(e("echo \"ab\\q\""), ParseError::BadEscape(2));
        assert_eq!(e("echo \"\\000\""), ParseError::BadEscape(0));
        assert_eq!(e("echo \"\\x0\""), ParseError::BadEscape(0));
        assert_eq!(e("echo \"\\18\""), ParseError::BadEscape(0));
        assert_eq!(e("echo \"\\400\""), ParseError::BadEscape(0));
        assert_eq!(e("echo \"\\"), ParseError::BadEscape(0));
    }

    #[test]
    fn empty_quoted_arguments_count() {
        let (_, a, _) = cmd("echo \"\" ''");
        assert_eq!(a, ["", ""]);
    }
}
