//! Names for the write side: which new names Linux's vfat driver accepts (and which of those
//! `fatfs` can store), how `fatfs` matches a name against an entry, and a name by which
//! `fatfs` finds exactly one given entry.

use super::dirs::Item;
use crate::fs::{Errno, Error, Result};

/// Linux's `FAT_LFN_LEN`: a long name holds at most 255 UTF-16 units.
const LFN_LEN: usize = 255;

/// Checks a new name as Linux's `vfat_add_entry` does and returns the name to store: trailing
/// dots are dropped (`vfat_striptail_len`; nothing left is ENOENT); a name must be UTF-8
/// (EINVAL), at most 255 UTF-16 units (ENAMETOOLONG), free of control characters and
/// `*?<>|":/\` and not end in a space (EINVAL). `fatfs` 0.3.6 is stricter than Linux in two
/// ways, refused the same way: names longer than 255 bytes (ENAMETOOLONG), and DEL or
/// characters outside the Basic Multilingual Plane (EINVAL).
pub(super) fn new_name(name: &[u8]) -> Result<&str> {
    let end = name.len() - name.iter().rev().take_while(|&&c| c == b'.').count();
    if end == 0 {
        return Err(Error::Os(Errno::NoEntry));
    }
    let name = std::str::from_utf8(&name[..end]).map_err(|_| Error::Os(Errno::Invalid))?;
    if name.encode_utf16().count() > LFN_LEN || name.len() > LFN_LEN {
        return Err(Error::Os(Errno::NameTooLong));
    }
    let bad = |c: char| c < ' ' || "*?<>|\":/\\".contains(c) || c == '\x7f' || c > '\u{FFFF}';
    if name.chars().any(bad) || name.ends_with(' ') {
        return Err(Error::Os(Errno::Invalid));
    }
    Ok(name)
}

/// Whether `fatfs` takes `name` for the entry listed as `item`: its long (or displayed) name
/// or its 8.3 name, compared case-insensitively over all of Unicode (Linux compares ASCII
/// letters only; where the two differ we refuse rather than let `fatfs` pick another entry).
pub(super) fn fatfs_matches(item: &Item, name: &str) -> bool {
    let up = |s: &[u8]| String::from_utf8_lossy(s).chars().flat_map(char::to_uppercase).collect::<String>();
    let want = up(name.as_bytes());
    up(&item.entry.name) == want || up(&item.short) == want
}

/// A name `fatfs` resolves to `entries[index]` and to no earlier entry (`fatfs` takes the
/// first match): the long name, else the 8.3 name. A directory where neither works (two
/// entries answering to the same name) is damaged.
pub(super) fn handle(entries: &[Item], index: usize) -> Option<String> {
    let item = entries.get(index)?;
    [&item.entry.name, &item.short].into_iter().find_map(|n| {
        let n = std::str::from_utf8(n).ok()?;
        let usable = !n.is_empty() && !n.contains('/') && n != "." && n != "..";
        (usable && !entries[..index].iter().any(|e| fatfs_matches(e, n))).then(|| n.to_string())
    })
}

/// How many sets of generated short names of the checksum form (`XXHHHH~1` … `XXHHHH~9`,
/// same extension) the directory holds in full. `fatfs` tries one checksum after another,
/// each with a scan of the whole directory, until it finds a set with a free number: a
/// hostile directory full of such sets would make it scan for hours.
pub(super) fn full_checksum_sets(entries: &[Item]) -> usize {
    let mut sets: std::collections::HashMap<(&[u8], &[u8]), u16> = std::collections::HashMap::new();
    for item in entries {
        let s = item.short.as_slice();
        let (base, ext) = match s.iter().position(|&c| c == b'.') {
            Some(dot) => (&s[..dot], &s[dot + 1..]),
            None => (s, &s[s.len()..]),
        };
        let Some(tilde) = base.iter().position(|&c| c == b'~') else { continue };
        let digit = base.get(tilde + 1).filter(|d| (b'1'..=b'9').contains(d) && base.len() == tilde + 2);
        let hex = (4..=6).contains(&tilde) && base[tilde - 4..tilde].iter().all(u8::is_ascii_hexdigit);
        if let (Some(d), true) = (digit, hex) {
            *sets.entry((&base[..tilde], ext)).or_default() |= 1 << (d - b'0');
        }
    }
    sets.values().filter(|&&bits| bits == 0b11_1111_1110).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{DirEntry, FileType};

    fn item(long: &str, short: &str) -> Item {
        Item {
            entry: DirEntry { name: long.as_bytes().to_vec(), ino: 0, file_type: FileType::Regular },
            short: short.as_bytes().to_vec(),
        }
    }

    #[test]
    fn linux_name_rules() {
        assert_eq!(new_name(b"a.txt").unwrap(), "a.txt");
        assert_eq!(new_name(b"trailing...").unwrap(), "trailing");
        assert_eq!(new_name(b" lead space").unwrap(), " lead space");
        assert_eq!(new_name("héllo ✓".as_bytes()).unwrap(), "héllo ✓");
        assert!(matches!(new_name(b"..."), Err(Error::Os(Errno::NoEntry))));
        for bad in [&b"a*b"[..], b"a?", b"a<", b"a>", b"a|", b"a\"", b"a:", b"a\\b", b"a\x01", b"end ", b"\xff", b"a\x7f"] {
            assert!(matches!(new_name(bad), Err(Error::Os(Errno::Invalid))), "{bad:?}");
        }
        assert!(matches!(new_name("😀".as_bytes()), Err(Error::Os(Errno::Invalid))));
        assert!(new_name("x".repeat(255).as_bytes()).is_ok());
        assert!(matches!(new_name("x".repeat(256).as_bytes()), Err(Error::Os(Errno::NameTooLong))));
        assert!(matches!(new_name("é".repeat(200).as_bytes()), Err(Error::Os(Errno::NameTooLong))));
    }

    #[test]
    fn handles_avoid_earlier_matches() {
        let entries = [item("Readme", "README"), item("readme.txt", "README.TXT"), item("x", "README~1")];
        assert!(fatfs_matches(&entries[0], "rEaDmE"));
        assert!(fatfs_matches(&entries[1], "README.txt"));
        assert_eq!(handle(&entries, 1).as_deref(), Some("readme.txt"));
        let dup = [item("same", "SAME"), item("SAME", "SAME~1")];
        assert_eq!(handle(&dup, 1).as_deref(), Some("SAME~1"));
        let broken = [item("same", "SAME"), item("SAME", "SAME")];
        assert_eq!(handle(&broken, 1), None);
        assert_eq!(handle(&broken, 0).as_deref(), Some("same"));
    }

    #[test]
    fn counts_full_checksum_sets() {
        let mut entries: Vec<Item> = (1..=9).map(|d| item("x", &format!("AB12CD~{d}.TXT"))).collect();
        assert_eq!(full_checksum_sets(&entries), 1);
        entries.pop();
        assert_eq!(full_checksum_sets(&entries), 0);
        let short: Vec<Item> = (1..=9).map(|d| item("x", &format!("12CD~{d}"))).collect();
        assert_eq!(full_checksum_sets(&short), 1);
        let long_prefix: Vec<Item> = (1..=9).map(|d| item("x", &format!("FILENU~{d}.TXT"))).collect();
        assert_eq!(full_checksum_sets(&long_prefix), 0);
    }
}
