//! The LVM2 text metadata format: `key = value` assignments and nested `name { … }` sections;
//! values are integers, double-quoted strings (with `\` escapes) and flat lists `[ "a", 1 ]`;
//! `#` starts a comment. This module parses text into a [`Section`] tree; [`super::vg`] turns
//! the tree into volume-group structs.

/// Deepest section nesting accepted (lvm2 writes 4 levels).
pub const MAX_DEPTH: usize = 32;

/// Most values and entries accepted in one text (bounds memory to tens of MiB; lvm2 metadata
/// for thousands of LVs holds far fewer).
pub const MAX_ITEMS: usize = 1_000_000;

/// A value on the right of `=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A decimal integer.
    Int(i64),
    /// A string, escapes resolved.
    Str(String),
    /// A flat list of integers and strings.
    List(Vec<Value>),
}

/// One entry of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// `key = value`.
    Value(Value),
    /// `name { … }`.
    Section(Section),
}

/// A section: its entries in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    /// `(key or section name, item)` pairs.
    pub entries: Vec<(String, Item)>,
}

impl Section {
    /// The first entry named `key`.
    pub fn get(&self, key: &str) -> Option<&Item> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value `key = …`, if it is a value.
    pub fn value(&self, key: &str) -> Option<&Value> {
        match self.get(key)? {
            Item::Value(v) => Some(v),
            Item::Section(_) => None,
        }
    }

    /// The subsection `key { … }`.
    pub fn section(&self, key: &str) -> Option<&Section> {
        match self.get(key)? {
            Item::Section(s) => Some(s),
            Item::Value(_) => None,
        }
    }

    /// All subsections, in order.
    pub fn sections(&self) -> impl Iterator<Item = (&str, &Section)> {
        self.entries.iter().filter_map(|(k, v)| match v {
            Item::Section(s) => Some((k.as_str(), s)),
            Item::Value(_) => None,
        })
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    line: usize,
    items: usize,
}

type PResult<T> = std::result::Result<T, String>;

fn is_name_byte(c: u8) -> bool {
    !c.is_ascii_whitespace() && !b"{}[]=\",#".contains(&c)
}

impl Parser<'_> {
    fn err<T>(&self, msg: impl std::fmt::Display) -> PResult<T> {
        Err(format!("line {}: {msg}", self.line))
    }

    /// Skips whitespace and comments; returns the next byte without consuming it.
    fn peek(&mut self) -> Option<u8> {
        while let Some(&c) = self.s.get(self.pos) {
            if c == b'#' {
                while let Some(&c) = self.s.get(self.pos) {
                    if c == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
            } else if c.is_ascii_whitespace() {
                if c == b'\n' {
                    self.line += 1;
                }
                self.pos += 1;
            } else {
                return Some(c);
            }
        }
        None
    }

    fn name(&mut self) -> PResult<String> {
        let start = self.pos;
        while self.s.get(self.pos).is_some_and(|&c| is_name_byte(c)) {
            self.pos += 1;
        }
        if start == self.pos {
            return self.err(format!("expected a name, found {}", self.what()));
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    fn what(&self) -> String {
        match self.s.get(self.pos) {
            Some(&c) if c.is_ascii_graphic() => format!("'{}'", c as char),
            Some(&c) => format!("byte {c:#04x}"),
            None => "end of text".into(),
        }
    }

    fn string(&mut self) -> PResult<String> {
        self.pos += 1; // opening quote
        let mut out = Vec::new();
        loop {
            match self.s.get(self.pos) {
                None => return self.err("unterminated string"),
                Some(b'"') => break,
                Some(b'\\') => {
                    self.pos += 1;
                    match self.s.get(self.pos) {
                        Some(&c) => out.push(c),
                        None => return self.err("unterminated string"),
                    }
                }
                Some(&c) => {
                    if c == b'\n' {
                        self.line += 1;
                    }
                    out.push(c);
                }
            }
            self.pos += 1;
        }
        self.pos += 1;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Counts one more value or entry against [`MAX_ITEMS`].
    fn count(&mut self) -> PResult<()> {
        self.items += 1;
        if self.items > MAX_ITEMS {
            return self.err(format!("more than {MAX_ITEMS} values"));
        }
        Ok(())
    }

    fn scalar(&mut self) -> PResult<Value> {
        self.count()?;
        match self.peek() {
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.pos;
                self.pos += 1;
                while self.s.get(self.pos).is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                if self.s.get(self.pos).is_some_and(|&c| is_name_byte(c)) {
                    return self.err("malformed number (floating-point values are not expected in VG metadata)");
                }
                let t = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
                match t.parse::<i64>() {
                    Ok(n) => Ok(Value::Int(n)),
                    Err(_) => self.err(format!("number {t} is out of range")),
                }
            }
            _ => self.err(format!("expected a value, found {}", self.what())),
        }
    }

    fn value(&mut self) -> PResult<Value> {
        if self.peek() != Some(b'[') {
            return self.scalar();
        }
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            match self.peek() {
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::List(items));
                }
                Some(b',') if !items.is_empty() => self.pos += 1,
                _ => items.push(self.scalar()?),
            }
        }
    }

    /// Entries up to `}` (when `depth > 0`) or the end of text.
    fn entries(&mut self, depth: usize) -> PResult<Section> {
        let mut sec = Section::default();
        loop {
            match self.peek() {
                None if depth == 0 => return Ok(sec),
                None => return self.err("unexpected end of text: missing '}'"),
                Some(b'}') if depth > 0 => {
                    self.pos += 1;
                    return Ok(sec);
                }
                _ => {}
            }
            let name = self.name()?;
            self.count()?;
            match self.peek() {
                Some(b'=') => {
                    self.pos += 1;
                    let v = self.value()?;
                    sec.entries.push((name, Item::Value(v)));
                }
                Some(b'{') => {
                    if depth >= MAX_DEPTH {
                        return self.err(format!("sections nested deeper than {MAX_DEPTH}"));
                    }
                    self.pos += 1;
                    let sub = self.entries(depth + 1)?;
                    sec.entries.push((name, Item::Section(sub)));
                }
                _ => return self.err(format!("expected '=' or '{{' after {name:?}, found {}", self.what())),
            }
        }
    }
}

/// Parses metadata text. Errors carry the line number.
pub fn parse(text: &[u8]) -> std::result::Result<Section, String> {
    Parser { s: text, pos: 0, line: 1, items: 0 }.entries(0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `vgcfgbackup` output of the `vgstripe` fixture (lvm2 2.03.16).
    pub(crate) const VGCFGBACKUP: &str = include_str!("testdata/vgstripe.vg");

    #[test]
    fn parses_vgcfgbackup_output() {
        let top = parse(VGCFGBACKUP.as_bytes()).unwrap();
        assert_eq!(top.value("contents"), Some(&Value::Str("Text Format Volume Group".into())));
        assert_eq!(top.value("version"), Some(&Value::Int(1)));
        let vg = top.section("vgstripe").unwrap();
        assert_eq!(vg.value("seqno"), Some(&Value::Int(2)));
        assert_eq!(
            vg.value("status"),
            Some(&Value::List(vec![Value::Str("RESIZEABLE".into()), Value::Str("READ".into()), Value::Str("WRITE".into())]))
        );
        assert_eq!(vg.value("flags"), Some(&Value::List(vec![])));
        let pvs: Vec<&str> = vg.section("physical_volumes").unwrap().sections().map(|(n, _)| n).collect();
        assert_eq!(pvs, ["pv0", "pv1"]);
        let seg = vg.section("logical_volumes").unwrap().section("stripes").unwrap().section("segment1").unwrap();
        assert_eq!(
            seg.value("stripes"),
            Some(&Value::List(vec![Value::Str("pv0".into()), Value::Int(0), Value::Str("pv1".into()), Value::Int(0)]))
        );
        assert_eq!(seg.value("stripe_size"), Some(&Value::Int(128)));
    }

    #[test]
    fn escapes_comments_and_negative_numbers() {
        let t = br#"a = "x\"y\\z" # c "
b = -5 c=[1,"2" ,3]
s { t { } }"#;
        let top = parse(t).unwrap();
        assert_eq!(top.value("a"), Some(&Value::Str("x\"y\\z".into())));
        assert_eq!(top.value("b"), Some(&Value::Int(-5)));
        assert_eq!(top.value("c"), Some(&Value::List(vec![Value::Int(1), Value::Str("2".into()), Value::Int(3)])));
        assert!(top.section("s").unwrap().section("t").is_some());
    }

    #[test]
    fn rejects_bad_text_with_line_numbers() {
        for (t, msg) in [
            (&b"a = \"open"[..], "line 1: unterminated string"),
            (b"a {\n b = 1\n", "line 3: unexpected end of text"),
            (b"a = 1.5", "floating-point"),
            (b"a = 99999999999999999999", "out of range"),
            (b"a = [1, [2]]", "expected a value"),
            (b"}", "expected a name"),
            (b"a b", "expected '=' or '{'"),
            (b"a = ,", "expected a value"),
        ] {
            let e = parse(t).unwrap_err();
            assert!(e.contains(msg), "{e} vs {msg}");
        }
        let many = format!("a = [{}]", "1,".repeat(MAX_ITEMS + 1));
        assert!(parse(many.as_bytes()).unwrap_err().contains("more than 1000000 values"));
        let deep = "a {".repeat(100_000);
        assert!(parse(deep.as_bytes()).unwrap_err().contains("nested deeper"));
    }
}
