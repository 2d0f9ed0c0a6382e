//! Editing a guest file, as virt-edit and guestfish's `edit` do: in the user's `$EDITOR` on a
//! host copy, or non-interactively with a substitution expression. Shared by vfish (`edit`,
//! `vi`, `emacs`) and `vedit`.
//!
//! The file is rewritten in place through [`Guest::write`], so its inode, owner, mode, hard
//! links and extended attributes (the SELinux label) stay; with a backup extension the old
//! file is first copied beside it (`cp -a`, attributes kept). Nothing reaches the image until
//! the session commits, which is all or nothing.
//!
//! # Expressions (`vedit -e`)
//! virt-edit runs `perl -pe EXPR`; vguestfs has no Perl and takes one substitution in the
//! sed/Perl form `s/REGEX/REPLACEMENT/FLAGS`, applied to each line in turn with its newline,
//! as `perl -p` does: `$` matches at the end of the line or before its newline, `^` at its
//! start, and `\s` or `[^…]` can match the newline (`s/\s+$//` joins lines, as in Perl):
//! - the delimiter is the character after `s` (any punctuation: `s|a|b|`, `s#a#b#`); a
//!   backslash before it makes it literal;
//! - REGEX is a Rust `regex` crate pattern (Perl-like: `\d`, `\s`, `\b`, `(?i)`, classes,
//!   `(…)` groups, `(?P<name>…)`; no backreferences or look-around);
//! - REPLACEMENT names groups as `$1`, `${1}`, `$name`, `${name}` or `\1`…`\9` (`$1x` is
//!   group 1 then `x`, as in Perl); `$0` is the whole match (Perl's `$&`; `&` is literal);
//!   `\$` and `$$` are a literal `$` (in Perl `$$` is the process id: write `\$`), as is a
//!   `$` before anything else; `\\` is a backslash, `\n` and `\t` a newline and a tab;
//! - what both languages write the same gives Perl's result byte for byte
//!   (`tests/vedit.rs` runs `perl -pe` as the oracle);
//! - FLAGS: `g` replaces every match on the line (else the first), `i` ignores case.

use crate::guest::write::Copy;
use crate::Guest;
use anyhow::{anyhow, bail, Context, Result};
use regex::{Regex, RegexBuilder};

/// A parsed `s/REGEX/REPLACEMENT/FLAGS` expression (see the module documentation).
#[derive(Debug, Clone)]
pub struct Substitution {
    re: Regex,
    replacement: String,
    global: bool,
}

/// Splits `s` at unescaped `delim`s: the pieces with `\delim` turned into `delim` (other
/// escapes kept for the regex or the replacement to read).
fn split_unescaped(s: &str, delim: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n) if n == delim => cur.push(n),
                Some(n) => {
                    cur.push('\\');
                    cur.push(n);
                }
                None => cur.push('\\'),
            }
        } else if c == delim {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts
}

/// A replacement in sed/Perl form as the regex crate's: `\N` and `$N` → `${N}` (so `$1x` is
/// group 1 then `x`, as in Perl), `$name` → `${name}`, `\$` and `$$` → `$$`, a `$` before
/// anything else literal, `\\` → `\`, `\n`/`\t` → newline/tab.
fn replacement_syntax(r: &str) -> Result<String> {
    let mut out = String::new();
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(d @ '0'..='9') => out.push_str(&format!("${{{d}}}")),
                Some('$') => out.push_str("$$"),
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => bail!("the replacement ends with a lone backslash"),
            },
            '$' => match chars.peek() {
                Some('{') => {
                    out.push('$');
                    for n in chars.by_ref() {
                        out.push(n);
                        if n == '}' {
                            break;
                        }
                    }
                }
                Some(d) if d.is_ascii_digit() => {
                    let mut n = String::new();
                    while let Some(d) = chars.next_if(char::is_ascii_digit) {
                        n.push(d);
                    }
                    out.push_str(&format!("${{{n}}}"));
                }
                Some(a) if a.is_alphabetic() || *a == '_' => {
                    let mut n = String::new();
                    while let Some(a) = chars.next_if(|a| a.is_alphanumeric() || *a == '_') {
                        n.push(a);
                    }
                    out.push_str(&format!("${{{n}}}"));
                }
                Some('$') => {
                    chars.next();
                    out.push_str("$$");
                }
                _ => out.push_str("$$"),
            },
            _ => out.push(c),
        }
    }
    Ok(out)
}

impl std::str::FromStr for Substitution {
    type Err = anyhow::Error;

    fn from_str(expr: &str) -> Result<Substitution> {
        let bad = |why: &str| anyhow!("-e '{expr}': {why} (the form is s/REGEX/REPLACEMENT/FLAGS, flags g and i)");
        let rest = expr.trim().strip_prefix('s').ok_or_else(|| bad("not a substitution"))?;
        let delim = rest.chars().next().ok_or_else(|| bad("no delimiter after s"))?;
        if delim.is_alphanumeric() || delim.is_whitespace() || delim == '\\' {
            return Err(bad("the delimiter must be punctuation"));
        }
        let parts = split_unescaped(&rest[delim.len_utf8()..], delim);
        let [pattern, replacement, flags] = parts.as_slice() else {
            return Err(bad("expected three delimited parts"));
        };
        let (mut global, mut icase) = (false, false);
        for f in flags.trim().chars() {
            match f {
                'g' => global = true,
                'i' => icase = true,
                other => return Err(bad(&format!("unknown flag '{other}'"))),
            }
        }
        let re = RegexBuilder::new(&perl_dollar(pattern)).case_insensitive(icase).size_limit(1 << 20).build().map_err(|e| bad(&format!("bad regex: {e}")))?;
        Ok(Substitution { re, replacement: replacement_syntax(replacement).map_err(|e| bad(&e.to_string()))?, global })
    }
}

impl Substitution {
    /// Applies the substitution to each line of `text` (lines end after `\n`), newline
    /// included, as `perl -p` does. Bytes that are not UTF-8 are matched as U+FFFD and written
    /// back unchanged on lines the expression does not change.
    pub fn apply(&self, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len());
        for line in text.split_inclusive(|&b| b == b'\n') {
            let s = String::from_utf8_lossy(line);
            let replaced = if self.global { self.re.replace_all(&s, self.replacement.as_str()) } else { self.re.replace(&s, self.replacement.as_str()) };
            if replaced == s {
                out.extend_from_slice(line);
            } else {
                out.extend_from_slice(replaced.as_bytes());
            }
        }
        out
    }
}

/// A pattern with Perl's `$` (end of the string, or before a newline ending it) for the regex
/// crate's (end of the string only): each `$` outside a character class and not escaped
/// becomes `(?m:$)`, which on one line is the same.
fn perl_dollar(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    let mut depth = 0usize; // character class nesting
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '[' => {
                depth += 1;
                out.push(c);
                // a `]` first in a class (after an optional `^`) is literal
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push(']');
                    chars.next();
                }
            }
            ']' if depth > 0 => {
                depth -= 1;
                out.push(c);
            }
            '$' if depth == 0 => out.push_str("(?m:$)"),
            _ => out.push(c),
        }
    }
    out
}

/// How to edit: in an editor command (run through `/bin/sh -c`, so `$EDITOR` may carry
/// arguments), or with a substitution.
pub enum How<'a> {
    /// `$EDITOR` (or the given command) on a host copy.
    Editor(&'a str),
    /// A `-e` expression.
    Expr(&'a Substitution),
}

/// The editor command: `$EDITOR`, or `vi`.
pub fn default_editor() -> String {
    std::env::var("EDITOR").ok().filter(|e| !e.trim().is_empty()).unwrap_or_else(|| "vi".into())
}

/// Runs `editor` on a host copy of `before`; returns the edited bytes.
fn run_editor(editor: &str, path: &str, before: &[u8]) -> Result<Vec<u8>> {
    let dir = tempfile::tempdir().context("edit: temporary directory")?;
    let name = path.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("file");
    let tmp = dir.path().join(name);
    std::fs::write(&tmp, before).map_err(|e| super::host::host_err(&tmp, &e))?;
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&tmp)
        .status()
        .map_err(|e| anyhow!("edit: running {editor}: {e}"))?;
    if !status.success() {
        bail!("edit: {editor} failed ({status}); {path} unchanged");
    }
    std::fs::read(&tmp).map_err(|e| super::host::host_err(&tmp, &e))
}

/// Edits the guest file `path` as `how` says. When the content changed it is written back in
/// place, after copying the old file to `PATH` + `backup` when a backup extension is given.
/// Returns whether the file changed.
pub fn edit_file(g: &Guest, path: &str, how: How<'_>, backup: Option<&str>) -> Result<bool> {
    let before = g.read_file(path)?;
    let after = match how {
        How::Editor(editor) => run_editor(editor, path, &before)?,
        How::Expr(sub) => sub.apply(&before),
    };
    if after == before {
        return Ok(false);
    }
    if let Some(ext) = backup {
        let canonical = g.realpath(path)?;
        g.cp(&canonical, &format!("{canonical}{ext}"), Copy::Archive)?;
    }
    g.write(path, &after)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(e: &str, text: &str) -> String {
        String::from_utf8(e.parse::<Substitution>().unwrap().apply(text.as_bytes())).unwrap()
    }

    #[test]
    fn substitutions_per_line() {
        assert_eq!(sub("s/^id:.*/id:5:initdefault:/", "x\nid:3:initdefault:\ny"), "x\nid:5:initdefault:\ny");
        assert_eq!(sub("s/a/b/", "aaa\naa\n"), "baa\nba\n");
        assert_eq!(sub("s/a/b/g", "aaa\naa\n"), "bbb\nbb\n");
        assert_eq!(sub("s/A/b/gi", "aAa\n"), "bbb\n");
        assert_eq!(sub(r"s/(\w+)=(\w+)/\2=\1/", "k=v\n"), "v=k\n");
        assert_eq!(sub(r"s/(\w+)=(\w+)/${2}x=$1/", "k=v\n"), "vx=k\n");
        assert_eq!(sub(r"s|/usr/bin|/opt/bin|", "PATH=/usr/bin\n"), "PATH=/opt/bin\n");
        assert_eq!(sub(r"s/\/usr/\/opt/", "/usr/x\n"), "/opt/x\n");
        assert_eq!(sub(r"s/x/\$1 $$ \\/", "x\n"), "$1 $ \\\n");
        assert_eq!(sub(r"s/$/;/", "a\nb"), "a;\nb;");
        assert_eq!(sub(r"s/\s+$//", "a \nb"), "ab");
        assert_eq!(sub(r"s/[$]x$/y/", "$x\n"), "y\n");
        assert_eq!(perl_dollar(r"a$|[]$]\$[^]$]$"), r"a(?m:$)|[]$]\$[^]$](?m:$)");
        assert_eq!(sub(r"s/(?P<k>\w+)=(\w+)/$1x $k-$2 $ ${k}/", "a=b\n"), "ax a-b $ a\n");
    }

    #[test]
    fn bad_expressions_are_refused() {
        for e in ["y/a/b/", "s/a/b", "s/a/b/q", "s/(/x/", "sabac", "s"] {
            let err = e.parse::<Substitution>().unwrap_err().to_string();
            assert!(err.contains("s/REGEX/REPLACEMENT/FLAGS"), "{e}: {err}");
        }
    }

    #[test]
    fn bytes_outside_changed_lines_are_kept() {
        let s: Substitution = "s/a/b/".parse().unwrap();
        assert_eq!(s.apply(b"\xff\xfe\nxa\n"), b"\xff\xfe\nxb\n");
    }
}
