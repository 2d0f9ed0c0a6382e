//! The text `file_contexts` format and its lookup, matched as libselinux's file backend
//! (`selabel_lookup`, what `setfiles`/`restorecon`/`matchpathcon` use) does:
//!
//! - a line is `REGEX [TYPE] CONTEXT` (whitespace separated; `#` comments, blank lines; fields
//!   after the third are ignored); TYPE is `--` `-d` `-l` `-c` `-b` `-p` `-s`; CONTEXT
//!   `<<none>>` means "do not label";
//! - specs are loaded from `file_contexts`, then `.homedirs`, then `.local`, in file order; then
//!   the specs without regex meta characters ("exact" paths) are moved after the others,
//!   keeping their order; the LAST spec (in that order) whose anchored regex matches the whole
//!   path and whose type is absent or equal to the file's wins;
//! - the path is cleaned first (`//` → `/`, no trailing `/`), then rewritten by the first
//!   matching `.subs` substitution (the file's last line first) and then by `.subs_dist`'s.
//!
//! Regexes go to the `regex` crate (linear time, compiled size capped), anchored `^…$` as
//! libselinux anchors them (no group: a top-level `|` binds as in libselinux), `.` matching any
//! byte. A spec it cannot compile (back-references, look-around, a bad type field…) is kept as
//! "unknown": a lookup that reaches it before any match cannot decide (libselinux itself fails
//! such lookups), and says so.

use regex::bytes::{Regex, RegexBuilder};
use std::sync::OnceLock;

/// Compiled size cap per spec: a real policy's regexes need well under 1 KiB each; a hostile
/// one (`a{1000}{1000}`) is refused, so [`MAX_SPECS`] × this bounds the memory of a policy.
const REGEX_SIZE_LIMIT: usize = 16 << 10;
/// Lazy-DFA cache cap per spec (searches fall back to the NFA engines past it).
const DFA_SIZE_LIMIT: usize = 64 << 10;
/// At most this many specs are kept (RHEL 9 targeted has about 6000 with its homedirs); past
/// it the policy is distrusted: every lookup is undecided.
pub const MAX_SPECS: usize = 20_000;
/// At most this many substitution lines per file.
const MAX_SUBS: usize = 10_000;

/// S_IFMT bits.
pub const S_IFMT: u32 = 0o170000;

/// The file type field of a spec as S_IFMT bits (`--` regular … `-s` socket).
fn type_field(t: &str) -> Option<u32> {
    Some(match t {
        "--" => 0o100000,
        "-d" => 0o040000,
        "-c" => 0o020000,
        "-b" => 0o060000,
        "-p" => 0o010000,
        "-l" => 0o120000,
        "-s" => 0o140000,
        _ => return None,
    })
}

/// One spec line.
struct Spec {
    /// The regex as written.
    regex_str: String,
    /// S_IFMT bits, 0 for any type.
    mode: u32,
    /// The context; `None` for `<<none>>`.
    context: Option<String>,
    /// Whether the regex has meta characters (libselinux's `hasMetaChars`).
    meta: bool,
    /// A literal every matching path starts with (a filter before the regex runs).
    prefix: Vec<u8>,
    /// Why this spec cannot be used (it then blocks every lookup that reaches it).
    broken: Option<String>,
    /// Compiled on first use; `Err` holds the compiler's message.
    regex: OnceLock<Result<Regex, String>>,
    /// Where it came from, for messages: `file:line`.
    origin: String,
}

impl Spec {
    fn compiled(&self) -> &Result<Regex, String> {
        self.regex.get_or_init(|| {
            // `(?s)` as libselinux's PCRE2_DOTALL; anchored without a group, as libselinux does
            RegexBuilder::new(&format!("(?s-u)^{}$", pcre_braces(&self.regex_str)))
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(DFA_SIZE_LIMIT)
                .nest_limit(100)
                .build()
                .map_err(|e| e.to_string().lines().last().unwrap_or("invalid regex").trim().to_string())
        })
    }
}

/// `re` with each `{` that does not open a `{n}`, `{n,}` or `{n,m}` quantifier escaped: PCRE
/// (libselinux's engine) takes such a brace literally (`/run/user/%{USERID}` in refpolicy), the
/// `regex` crate refuses it.
fn pcre_braces(re: &str) -> std::borrow::Cow<'_, str> {
    let b = re.as_bytes();
    let quantifier = |i: usize| {
        let rest = &b[i + 1..];
        let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
        let n = digits(rest);
        if n == 0 {
            return false;
        }
        match rest.get(n) {
            Some(b'}') => true,
            Some(b',') => {
                let m = digits(&rest[n + 1..]);
                rest.get(n + 1 + m) == Some(&b'}')
            }
            _ => false,
        }
    };
    let mut out = String::new();
    let (mut i, mut in_class, mut last) = (0, false, 0);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'[' if !in_class => {
                in_class = true;
                if b.get(i + 1) == Some(&b'^') {
                    i += 1;
                }
                if b.get(i + 1) == Some(&b']') {
                    i += 1;
                }
            }
            b']' if in_class => in_class = false,
            b'{' if !in_class && !quantifier(i) => {
                out.push_str(&re[last..i]);
                out.push_str("\\{");
                last = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if last == 0 {
        return std::borrow::Cow::Borrowed(re);
    }
    out.push_str(&re[last..]);
    std::borrow::Cow::Owned(out)
}

/// Whether `re` has regex meta characters, as libselinux's `spec_hasMetaChars` decides (a
/// backslash hides the next character).
fn has_meta(re: &[u8]) -> bool {
    let mut i = 0;
    while i < re.len() {
        match re[i] {
            b'.' | b'^' | b'$' | b'?' | b'*' | b'+' | b'|' | b'[' | b'(' | b'{' => return true,
            b'\\' => i += 1,
            _ => {}
        }
        i += 1;
    }
    false
}

/// The literal text every match of `^re$` starts with: the characters before the first meta
/// character or class escape, less one when that meta character quantifies it; empty when `re`
/// has a `|` outside brackets and groups (an alternation at the top level).
fn literal_prefix(re: &[u8]) -> Vec<u8> {
    // a top-level alternation: no common prefix
    let (mut depth, mut i, mut in_class) = (0i32, 0, false);
    while i < re.len() {
        match re[i] {
            b'\\' => i += 1,
            b'[' if !in_class => {
                in_class = true;
                // `[]…]` and `[^]…]`: the first `]` is literal
                if re.get(i + 1) == Some(&b'^') {
                    i += 1;
                }
                if re.get(i + 1) == Some(&b']') {
                    i += 1;
                }
            }
            b']' if in_class => in_class = false,
            b'(' if !in_class => depth += 1,
            b')' if !in_class => depth -= 1,
            b'|' if !in_class && depth <= 0 => return Vec::new(),
            _ => {}
        }
        i += 1;
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < re.len() {
        let c = re[i];
        match c {
            b'?' | b'*' | b'{' => {
                out.pop();
                return out;
            }
            b'.' | b'^' | b'$' | b'+' | b'|' | b'[' | b'(' => return out,
            b'\\' => {
                let Some(&n) = re.get(i + 1) else { return out };
                if n.is_ascii_alphanumeric() {
                    return out; // \d, \w, \b, \x41…: not a plain literal
                }
                // a quantifier after the escaped character makes it optional
                if matches!(re.get(i + 2), Some(b'?' | b'*' | b'{')) {
                    return out;
                }
                out.push(n);
                i += 2;
                continue;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// What the policy says for a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Label it with this context.
    Label(String),
    /// `<<none>>`: the policy says not to label it.
    None,
    /// No spec matches.
    NoMatch,
    /// A spec that could not be used may apply (the reason names it).
    Undecided(String),
}

/// A loaded set of file contexts: specs in lookup order, and the path substitutions.
#[derive(Default)]
pub struct FileContexts {
    specs: Vec<Spec>,
    /// `file_contexts.subs`, in the order they are tried (last line first).
    subs: Vec<(Vec<u8>, Vec<u8>)>,
    /// `file_contexts.subs_dist`, likewise.
    subs_dist: Vec<(Vec<u8>, Vec<u8>)>,
    warnings: Vec<String>,
    sorted: bool,
    /// Specs were dropped over [`MAX_SPECS`]: every lookup is undecided.
    overflow: bool,
}

/// Whether a context field looks like `user:role:type[:range]` (no validation against a
/// binary policy is possible here).
fn plausible_context(c: &str) -> bool {
    c.split(':').count() >= 3 && c.split(':').take(3).all(|p| !p.is_empty()) && c.bytes().all(|b| b.is_ascii_graphic())
}

impl FileContexts {
    /// An empty set.
    pub fn new() -> FileContexts {
        FileContexts::default()
    }

    /// Adds the specs of one file (`name` is used in messages), after those added before.
    pub fn add_specs(&mut self, name: &str, text: &[u8]) {
        self.sorted = false;
        for (n, line) in text.split(|&b| b == b'\n').enumerate() {
            let mut fields = line.split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty());
            let Some(first) = fields.next() else { continue };
            if first.starts_with(b"#") {
                continue;
            }
            let origin = format!("{name}:{}", n + 1);
            if self.specs.len() >= MAX_SPECS {
                self.warnings.push(format!("{origin}: more than {MAX_SPECS} specs; the rest are ignored"));
                self.overflow = true;
                return;
            }
            let (type_str, context) = match (fields.next(), fields.next()) {
                (None, _) => {
                    self.warnings.push(format!("{origin}: a spec without a context (ignored)"));
                    continue;
                }
                (Some(c), None) => (None, c),
                (Some(t), Some(c)) => (Some(t), c),
            };
            let regex_str = String::from_utf8_lossy(first).into_owned();
            let context = String::from_utf8_lossy(context).into_owned();
            let mut broken = None;
            if !first.is_ascii() && std::str::from_utf8(first).is_err() {
                broken = Some("the regex is not UTF-8".to_string());
            }
            let mode = match type_str {
                None => 0,
                Some(t) => match type_field(&String::from_utf8_lossy(t)) {
                    Some(m) => m,
                    None => {
                        broken = Some(format!("unknown file type field {:?}", String::from_utf8_lossy(t)));
                        0
                    }
                },
            };
            let context = if context == "<<none>>" {
                None
            } else {
                if !plausible_context(&context) && broken.is_none() {
                    broken = Some(format!("{context:?} is not a security context"));
                }
                Some(context)
            };
            let spec = Spec {
                meta: has_meta(first),
                prefix: literal_prefix(first),
                regex_str,
                mode,
                context,
                broken,
                regex: OnceLock::new(),
                origin,
            };
            if let Some(why) = &spec.broken {
                self.warnings.push(format!("{}: {why}; paths it may match are left for a relabel", spec.origin));
            }
            self.specs.push(spec);
        }
    }

    /// Sets the substitutions of `file_contexts.subs` (`dist`: `.subs_dist`) from its text:
    /// `SRC DST` lines; the last line is tried first, as libselinux does.
    pub fn set_subs(&mut self, text: &[u8], dist: bool) {
        let mut list = Vec::new();
        for line in text.split(|&b| b == b'\n') {
            let mut f = line.split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty());
            let (Some(src), Some(dst)) = (f.next(), f.next()) else { continue };
            if src.starts_with(b"#") {
                continue;
            }
            if list.len() >= MAX_SUBS {
                self.warnings.push(format!("more than {MAX_SUBS} path substitutions; the rest are ignored"));
                break;
            }
            list.push((src.to_vec(), dst.to_vec()));
        }
        list.reverse();
        if dist {
            self.subs_dist = list;
        } else {
            self.subs = list;
        }
    }

    /// Problems met while loading (one line each, naming file and line).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The number of specs loaded.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Whether no spec was loaded.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// libselinux's `sort_specs`: regex specs first, then exact paths, each in load order.
    fn sort(&mut self) {
        if !self.sorted {
            let specs = std::mem::take(&mut self.specs);
            let (mut meta, exact): (Vec<Spec>, Vec<Spec>) = specs.into_iter().partition(|s| s.meta);
            meta.extend(exact);
            self.specs = meta;
            self.sorted = true;
        }
    }

    /// Puts the specs in lookup order (libselinux's `sort_specs`); regexes still compile on
    /// first use, so a session pays only for the specs its lookups reach.
    pub fn prepare(&mut self) {
        self.sort();
    }

    /// Compiles every spec now (lookups compile lazily otherwise); warns about those that fail.
    pub fn compile_all(&mut self) {
        self.sort();
        for s in &self.specs {
            if s.broken.is_none() {
                if let Err(e) = s.compiled() {
                    self.warnings.push(format!("{}: regex {:?} not supported: {e}; paths it may match are left for a relabel", s.origin, s.regex_str));
                }
            }
        }
    }

    /// The path as libselinux looks it up: `//` squeezed, no trailing `/`, substituted.
    pub fn clean_key(&self, path: &[u8]) -> Vec<u8> {
        let mut key = Vec::with_capacity(path.len());
        for &b in path {
            if !(b == b'/' && key.last() == Some(&b'/')) {
                key.push(b);
            }
        }
        if key.len() > 1 && key.last() == Some(&b'/') {
            key.pop();
        }
        match sub(&self.subs, &key) {
            Some(k) => sub(&self.subs_dist, &k).unwrap_or(k),
            None => sub(&self.subs_dist, &key).unwrap_or(key),
        }
    }

    /// The context for `path` (a canonical guest path) of type `mode` (S_IFMT bits, or 0 for
    /// any type).
    pub fn lookup(&mut self, path: &[u8], mode: u32) -> Lookup {
        self.sort();
        self.lookup_sorted(path, mode)
    }

    /// [`Self::lookup`] on a set already sorted (by [`Self::compile_all`] or a lookup).
    pub fn lookup_sorted(&self, path: &[u8], mode: u32) -> Lookup {
        debug_assert!(self.sorted || self.specs.is_empty());
        if self.overflow {
            return Lookup::Undecided("the file contexts have too many specs".into());
        }
        if path.is_empty() {
            return Lookup::NoMatch;
        }
        let key = self.clean_key(path);
        let mode = mode & S_IFMT;
        for s in self.specs.iter().rev() {
            if mode != 0 && s.mode != 0 && s.mode != mode {
                continue;
            }
            if !key.starts_with(&s.prefix) {
                continue;
            }
            if let Some(why) = &s.broken {
                return Lookup::Undecided(format!("{}: {why}", s.origin));
            }
            match s.compiled() {
                Ok(re) => {
                    if re.is_match(&key) {
                        return match &s.context {
                            Some(c) => Lookup::Label(c.clone()),
                            None => Lookup::None,
                        };
                    }
                }
                Err(e) => return Lookup::Undecided(format!("{}: regex {:?} not supported: {e}", s.origin, s.regex_str)),
            }
        }
        Lookup::NoMatch
    }
}

/// libselinux's `selabel_sub`: the first substitution whose source is `key` or a leading
/// component sequence of it.
fn sub(list: &[(Vec<u8>, Vec<u8>)], key: &[u8]) -> Option<Vec<u8>> {
    for (src, dst) in list {
        if key.starts_with(src) && matches!(key.get(src.len()), None | Some(b'/')) {
            let skip = if key.get(src.len()) == Some(&b'/') && dst.as_slice() == b"/" { src.len() + 1 } else { src.len() };
            let mut out = dst.clone();
            out.extend_from_slice(&key[skip..]);
            return Some(out);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: u32 = 0o040000;
    const REG: u32 = 0o100000;

    fn fc(text: &str) -> FileContexts {
        let mut f = FileContexts::new();
        f.add_specs("fc", text.as_bytes());
        f
    }

    #[test]
    fn last_match_wins_and_exact_paths_come_last() {
        let mut f = fc("/etc/motd system_u:object_r:exact_t:s0\n/.* system_u:object_r:default_t:s0\n/etc(/.*)? system_u:object_r:etc_t:s0\n");
        assert_eq!(f.lookup(b"/etc/motd", REG), Lookup::Label("system_u:object_r:exact_t:s0".into()));
        assert_eq!(f.lookup(b"/etc/x", REG), Lookup::Label("system_u:object_r:etc_t:s0".into()));
        assert_eq!(f.lookup(b"/usr", DIR), Lookup::Label("system_u:object_r:default_t:s0".into()));
    }

    #[test]
    fn file_types_none_and_broken_specs() {
        let mut f = fc("/.* a:b:default_t\n/tmp -d a:b:tmp_t\n/tmp/.* <<none>>\n/x(?=y) a:b:c\n/bad -q a:b:c\n");
        assert_eq!(f.lookup(b"/tmp", DIR), Lookup::Label("a:b:tmp_t".into()));
        assert_eq!(f.lookup(b"/tmp", REG), Lookup::Label("a:b:default_t".into()));
        assert_eq!(f.lookup(b"/tmp/f", REG), Lookup::None);
        assert!(matches!(f.lookup(b"/xy", REG), Lookup::Undecided(_)));
        assert!(matches!(f.lookup(b"/bad", REG), Lookup::Undecided(_)));
        assert_eq!(f.lookup(b"//tmp//", DIR), Lookup::Label("a:b:tmp_t".into()));
    }

    #[test]
    fn prefixes_respect_quantifiers_and_alternation() {
        assert_eq!(literal_prefix(b"/usr/lib64?/x"), b"/usr/lib6");
        assert_eq!(literal_prefix(b"/a|/b"), b"");
        assert_eq!(literal_prefix(b"/a(b|c)"), b"/a");
        assert_eq!(literal_prefix(br"/etc/x\.conf"), b"/etc/x.conf");
        assert_eq!(literal_prefix(br"/etc/x\d"), b"/etc/x");
        assert_eq!(literal_prefix(br"/x\.?y"), b"/x");
        assert_eq!(literal_prefix(b"/a[|]b"), b"/a");
    }

    #[test]
    fn hostile_regexes_are_refused_not_run() {
        let mut f = fc("/.* a:b:default_t\n/x(a{1000}){1000} a:b:c\n/y(((a*)*)*)*b a:b:c\n");
        f.compile_all();
        assert_eq!(f.warnings().len(), 1, "{:?}", f.warnings());
        assert!(matches!(f.lookup(b"/xa", REG), Lookup::Undecided(_)));
        let long = format!("/y{}", "a".repeat(100_000));
        assert_eq!(f.lookup(long.as_bytes(), REG), Lookup::Label("a:b:default_t".into()));
        let mut many = String::new();
        for i in 0..MAX_SPECS + 1 {
            many.push_str(&format!("/d{i} a:b:c\n"));
        }
        let mut f = fc(&many);
        assert!(matches!(f.lookup(b"/d1", REG), Lookup::Undecided(_)));
    }

    #[test]
    fn literal_braces_as_pcre() {
        assert_eq!(pcre_braces("/run/user/%{USERID}/x"), "/run/user/%\\{USERID}/x");
        assert_eq!(pcre_braces("/a{1,2}b{3}c{4,}"), "/a{1,2}b{3}c{4,}");
        assert_eq!(pcre_braces("/a{,2}[{]\\{"), "/a\\{,2}[{]\\{");
        let mut f = fc("/.* a:b:c\n/run/user/%{USERID}(/.*)? a:b:user_t\n");
        assert_eq!(f.lookup(b"/run/user/%{USERID}/bus", REG), Lookup::Label("a:b:user_t".into()));
    }

    #[test]
    fn substitutions() {
        let mut f = fc("/.* a:b:default_t\n/home/[^/]+/.* a:b:user_home_t\n/ a:b:root_t\n");
        f.set_subs(b"/export/home /home\n/myroot /\n", false);
        assert_eq!(f.lookup(b"/export/home/joe/x", REG), Lookup::Label("a:b:user_home_t".into()));
        assert_eq!(f.clean_key(b"/myroot/x"), b"/x");
        assert_eq!(f.clean_key(b"/myroot"), b"/");
        assert_eq!(f.clean_key(b"/export/homes"), b"/export/homes");
    }
}
