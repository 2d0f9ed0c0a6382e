//! A read-only reader of Windows registry hive files (the `regf` format of
//! `\Windows\System32\config\SOFTWARE`, `SYSTEM`…): keys, their subkeys and values, looked up
//! by name without regard to case as Windows (and hivex) do.
//!
//! Our own code, not the `nt-hive` crate: that crate is GPL-2.0-or-later, which would change
//! the licence of every binary of this MIT/Apache-2.0 project. Every offset, count and length
//! read from the file is checked against the cell that holds it; a damaged hive gives an
//! [`Error`] naming the hive and the structure, never a panic, and no walk can loop (lists
//! of lists nest one level only, as the format allows) or grow past the hive: a key's subkeys
//! are at most what its record announces and what the hive can hold, the data of its values at
//! most the size of the hive (cells shared to amplify a small file are refused).

/// Size of the base block, before the first hive bin; cell offsets count from its end.
const BASE_BLOCK: usize = 4096;
/// Largest segment of a value stored as "big data" (`db`).
const BIG_DATA_SEGMENT: usize = 16344;
/// Name flag of key and value records: the name is stored in Latin-1, not UTF-16LE.
const KEY_COMP_NAME: u16 = 0x20;
const VALUE_COMP_NAME: u16 = 0x1;

/// Registry value types.
pub const REG_SZ: u32 = 1;
/// `REG_EXPAND_SZ`.
pub const REG_EXPAND_SZ: u32 = 2;
/// `REG_BINARY`.
pub const REG_BINARY: u32 = 3;
/// `REG_DWORD` (little-endian).
pub const REG_DWORD: u32 = 4;
/// `REG_DWORD_BIG_ENDIAN`.
pub const REG_DWORD_BIG_ENDIAN: u32 = 5;
/// `REG_LINK` (a UTF-16LE string).
pub const REG_LINK: u32 = 6;

/// A damaged hive: which hive, and what in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{hive}: damaged registry hive: {what}")]
pub struct Error {
    /// The hive (its guest path).
    pub hive: String,
    /// The structure and the fault.
    pub what: String,
}

/// Result of hive reads.
pub type Result<T> = std::result::Result<T, Error>;

/// A key: the offset of its `nk` cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key(u32);

/// A value of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// Its name (empty for the key's default value).
    pub name: String,
    /// Its type (`REG_SZ`…).
    pub kind: u32,
    /// Its data.
    pub data: Vec<u8>,
}

impl Value {
    /// The data as a string, for the string types (`REG_SZ`, `REG_EXPAND_SZ`, `REG_LINK`):
    /// UTF-16LE up to the first NUL, as hivex's `value_string` reads it; `None` for other
    /// types.
    pub fn as_string(&self) -> Option<String> {
        if !matches!(self.kind, REG_SZ | REG_EXPAND_SZ | REG_LINK) {
            return None;
        }
        let units: Vec<u16> =
            self.data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|&u| u != 0).collect();
        Some(String::from_utf16_lossy(&units))
    }

    /// The data as a number, for `REG_DWORD` and `REG_DWORD_BIG_ENDIAN` of 4 bytes.
    pub fn as_dword(&self) -> Option<u32> {
        let b: [u8; 4] = self.data.as_slice().try_into().ok()?;
        match self.kind {
            REG_DWORD => Some(u32::from_le_bytes(b)),
            REG_DWORD_BIG_ENDIAN => Some(u32::from_be_bytes(b)),
            _ => None,
        }
    }
}

/// A hive file held in memory.
pub struct Hive {
    name: String,
    data: Vec<u8>,
    root: Key,
}

/// Whether two registry names are equal without regard to case.
fn name_eq(a: &str, b: &str) -> bool {
    a.chars().flat_map(char::to_uppercase).eq(b.chars().flat_map(char::to_uppercase))
}

/// A name stored in Latin-1 (`compressed`) or UTF-16LE.
fn decode_name(raw: &[u8], compressed: bool) -> String {
    if compressed {
        raw.iter().map(|&b| char::from(b)).collect()
    } else {
        let units: Vec<u16> = raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        String::from_utf16_lossy(&units)
    }
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

impl Hive {
    /// Reads a hive from its bytes; `name` (its guest path) names it in errors. Checks the
    /// base block: signature, major version 1, checksum and the root key.
    pub fn new(name: &str, data: Vec<u8>) -> Result<Hive> {
        let mut hive = Hive { name: name.to_string(), data, root: Key(0) };
        if hive.data.len() < BASE_BLOCK + 32 {
            return Err(hive.err(format!("{} bytes, shorter than a base block and one hive bin", hive.data.len())));
        }
        if &hive.data[..4] != b"regf" {
            return Err(hive.err("base block: no \"regf\" signature".into()));
        }
        let major = u32_at(&hive.data, 20).unwrap_or(0);
        if major != 1 {
            return Err(hive.err(format!("base block: major version {major}, not 1")));
        }
        let sum = (0..127).fold(0u32, |acc, i| acc ^ u32_at(&hive.data, i * 4).unwrap_or(0));
        let stored = u32_at(&hive.data, 508).unwrap_or(0);
        if sum != stored {
            return Err(hive.err(format!("base block: checksum {stored:#010x}, computed {sum:#010x}")));
        }
        if &hive.data[BASE_BLOCK..BASE_BLOCK + 4] != b"hbin" {
            return Err(hive.err("first hive bin: no \"hbin\" signature".into()));
        }
        let root = Key(u32_at(&hive.data, 36).unwrap_or(u32::MAX));
        hive.nk(root, "root key")?;
        hive.root = root;
        Ok(hive)
    }

    fn err(&self, what: String) -> Error {
        Error { hive: self.name.clone(), what }
    }

    /// The data of the cell at `off` (after its 4-byte size), checked to lie in the file.
    fn cell(&self, off: u32, what: &str) -> Result<&[u8]> {
        let pos = (off as usize).checked_add(BASE_BLOCK).filter(|&p| p.checked_add(4).is_some_and(|e| e <= self.data.len()));
        let Some(pos) = pos else {
            return Err(self.err(format!("{what}: cell offset {off:#x} past the end of the hive")));
        };
        let size = u32_at(&self.data, pos).map(|s| (s as i32).unsigned_abs() as usize).unwrap_or(0);
        if size < 8 || pos + size > self.data.len() {
            return Err(self.err(format!("{what}: cell at {off:#x} has size {size}, beyond the hive or too small")));
        }
        Ok(&self.data[pos + 4..pos + size])
    }

    /// The `nk` record of `key`.
    fn nk(&self, key: Key, what: &str) -> Result<&[u8]> {
        let c = self.cell(key.0, what)?;
        if c.len() < 76 || &c[..2] != b"nk" {
            return Err(self.err(format!("{what}: cell at {:#x} is not a key record (nk)", key.0)));
        }
        Ok(c)
    }

    /// The root key.
    pub fn root(&self) -> Key {
        self.root
    }

    /// The name of `key`.
    pub fn key_name(&self, key: Key) -> Result<String> {
        let nk = self.nk(key, "key")?;
        let flags = u16_at(nk, 2).unwrap_or(0);
        let len = u16_at(nk, 72).unwrap_or(0) as usize;
        let raw = nk.get(76..76 + len).ok_or_else(|| self.err(format!("key at {:#x}: name of {len} bytes runs past its cell", key.0)))?;
        Ok(decode_name(raw, flags & KEY_COMP_NAME != 0))
    }

    /// The subkeys of `key`, in the order of its subkey list (sorted, as Windows keeps it).
    pub fn subkeys(&self, key: Key) -> Result<Vec<Key>> {
        let nk = self.nk(key, "key")?;
        let count = u32_at(nk, 20).unwrap_or(0);
        let list = u32_at(nk, 28).unwrap_or(u32::MAX);
        if count == 0 || list == u32::MAX {
            return Ok(Vec::new());
        }
        // every subkey has its own key record of at least 80 bytes
        if count as usize > self.data.len() / 80 {
            return Err(self.err(format!("key at {:#x}: {count} subkeys announced, more than the hive can hold", key.0)));
        }
        let mut out = Vec::new();
        self.subkey_list(list, key, true, count as usize, &mut out)?;
        if out.len() != count as usize {
            return Err(self.err(format!("key at {:#x}: {count} subkeys announced, its lists hold {}", key.0, out.len())));
        }
        Ok(out)
    }

    /// Appends the keys of the subkey list at `off` (`lf`, `lh`, `li`, or when `nested` is
    /// allowed an `ri` of such lists), at most `max` in all.
    fn subkey_list(&self, off: u32, parent: Key, nested: bool, max: usize, out: &mut Vec<Key>) -> Result<()> {
        let what = format!("subkey list of key at {:#x}", parent.0);
        let c = self.cell(off, &what)?;
        let n = u16_at(c, 2).unwrap_or(0) as usize;
        let stride = match &c[..2] {
            b"lf" | b"lh" => 8,
            b"li" | b"ri" => 4,
            sig => return Err(self.err(format!("{what}: cell at {off:#x} has signature {:?}, not lf/lh/li/ri", String::from_utf8_lossy(sig)))),
        };
        if 4 + n * stride > c.len() {
            return Err(self.err(format!("{what}: {n} entries do not fit in its cell of {} bytes", c.len())));
        }
        let entries = (0..n).map(|i| u32_at(c, 4 + i * stride).unwrap_or(u32::MAX));
        if &c[..2] == b"ri" {
            if !nested {
                return Err(self.err(format!("{what}: an index root (ri) inside an index root")));
            }
            for sub in entries {
                self.subkey_list(sub, parent, false, max, out)?;
            }
        } else {
            out.extend(entries.map(Key));
        }
        if out.len() > max {
            return Err(self.err(format!("{what}: more entries than the {max} subkeys announced")));
        }
        Ok(())
    }

    /// The subkey of `key` named `name` (case-insensitive), if any.
    pub fn subkey(&self, key: Key, name: &str) -> Result<Option<Key>> {
        for k in self.subkeys(key)? {
            if name_eq(&self.key_name(k)?, name) {
                return Ok(Some(k));
            }
        }
        Ok(None)
    }

    /// The key at `path` below the root (each element case-insensitive), if it exists.
    pub fn path(&self, path: &[&str]) -> Result<Option<Key>> {
        let mut key = self.root;
        for p in path {
            match self.subkey(key, p)? {
                Some(k) => key = k,
                None => return Ok(None),
            }
        }
        Ok(Some(key))
    }

    /// The values of `key`, in the order of its value list.
    pub fn values(&self, key: Key) -> Result<Vec<Value>> {
        let nk = self.nk(key, "key")?;
        let count = u32_at(nk, 36).unwrap_or(0) as usize;
        let list = u32_at(nk, 40).unwrap_or(u32::MAX);
        if count == 0 || list == u32::MAX {
            return Ok(Vec::new());
        }
        let what = format!("value list of key at {:#x}", key.0);
        let c = self.cell(list, &what)?;
        if count * 4 > c.len() {
            return Err(self.err(format!("{what}: {count} values do not fit in its cell of {} bytes", c.len())));
        }
        let mut out = Vec::with_capacity(count);
        let mut total = 0usize;
        for i in 0..count {
            let v = self.value_at(u32_at(c, i * 4).unwrap_or(u32::MAX), key)?;
            total += v.data.len();
            if total > self.data.len() {
                return Err(self.err(format!("{what}: its values hold more data than the hive ({} bytes)", self.data.len())));
            }
            out.push(v);
        }
        Ok(out)
    }

    /// The value of `key` named `name` (case-insensitive), if any.
    pub fn value(&self, key: Key, name: &str) -> Result<Option<Value>> {
        Ok(self.values(key)?.into_iter().find(|v| name_eq(&v.name, name)))
    }

    /// The `vk` record at `off` and its data.
    fn value_at(&self, off: u32, key: Key) -> Result<Value> {
        let what = format!("value of key at {:#x}", key.0);
        let vk = self.cell(off, &what)?;
        if vk.len() < 20 || &vk[..2] != b"vk" {
            return Err(self.err(format!("{what}: cell at {off:#x} is not a value record (vk)")));
        }
        let name_len = u16_at(vk, 2).unwrap_or(0) as usize;
        let size = u32_at(vk, 4).unwrap_or(0);
        let data_off = u32_at(vk, 8).unwrap_or(u32::MAX);
        let kind = u32_at(vk, 12).unwrap_or(0);
        let flags = u16_at(vk, 16).unwrap_or(0);
        let raw = vk.get(20..20 + name_len).ok_or_else(|| self.err(format!("{what}: value at {off:#x}: name runs past its cell")))?;
        let name = decode_name(raw, flags & VALUE_COMP_NAME != 0);
        let data = if size & 0x8000_0000 != 0 {
            // Up to 4 bytes stored in the data offset field itself.
            let len = (size & 0x7fff_ffff) as usize;
            if len > 4 {
                return Err(self.err(format!("{what}: value {name:?}: inline data of {len} bytes (at most 4)")));
            }
            vk[8..8 + len].to_vec()
        } else {
            self.value_data(data_off, size as usize, &format!("{what}: value {name:?}"))?
        };
        Ok(Value { name, kind, data })
    }

    /// `len` bytes of value data at `off`: one cell, or a big-data (`db`) record whose segments
    /// hold it.
    fn value_data(&self, off: u32, len: usize, what: &str) -> Result<Vec<u8>> {
        if len > self.data.len() {
            return Err(self.err(format!("{what}: {len} bytes of data, more than the hive holds")));
        }
        let c = self.cell(off, what)?;
        if len > BIG_DATA_SEGMENT && c.len() >= 8 && &c[..2] == b"db" {
            let n = u16_at(c, 2).unwrap_or(0) as usize;
            let list = self.cell(u32_at(c, 4).unwrap_or(u32::MAX), what)?;
            if n * 4 > list.len() {
                return Err(self.err(format!("{what}: big data list of {n} segments does not fit in its cell")));
            }
            let mut out = Vec::with_capacity(len.min(n * BIG_DATA_SEGMENT));
            for i in 0..n {
                if out.len() >= len {
                    break;
                }
                let seg = self.cell(u32_at(list, i * 4).unwrap_or(u32::MAX), what)?;
                let take = (len - out.len()).min(BIG_DATA_SEGMENT).min(seg.len());
                out.extend_from_slice(&seg[..take]);
            }
            if out.len() != len {
                return Err(self.err(format!("{what}: big data holds {} of its {len} bytes", out.len())));
            }
            return Ok(out);
        }
        c.get(..len).map(<[u8]>::to_vec).ok_or_else(|| self.err(format!("{what}: {len} bytes of data in a cell of {} bytes", c.len())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_and_dword_values() {
        let v = Value { name: "x".into(), kind: REG_SZ, data: b"a\0b\0\0\0z\0".to_vec() };
        assert_eq!(v.as_string().as_deref(), Some("ab"));
        assert_eq!(v.as_dword(), None);
        let d = Value { name: "d".into(), kind: REG_DWORD, data: vec![1, 0, 0, 0] };
        assert_eq!((d.as_dword(), d.as_string()), (Some(1), None));
        let b = Value { name: "b".into(), kind: REG_DWORD_BIG_ENDIAN, data: vec![0, 0, 0, 2] };
        assert_eq!(b.as_dword(), Some(2));
    }

    #[test]
    fn names_compare_without_case() {
        assert!(name_eq("WOW6432Node", "wow6432node"));
        assert!(name_eq("ÉTÉ", "été"));
        assert!(!name_eq("System", "Systems"));
    }

    /// A hive of one 4 KiB bin holding `cells` (offset from the bin's start, data), the root
    /// key at 0x20, with a valid base block.
    fn hive(cells: &[(usize, Vec<u8>)]) -> Vec<u8> {
        let mut h = vec![0u8; 8192];
        h[..4].copy_from_slice(b"regf");
        h[20..24].copy_from_slice(&1u32.to_le_bytes());
        h[36..40].copy_from_slice(&0x20u32.to_le_bytes());
        let sum = (0..127).fold(0u32, |a, i| a ^ u32_at(&h, i * 4).unwrap());
        h[508..512].copy_from_slice(&sum.to_le_bytes());
        h[4096..4100].copy_from_slice(b"hbin");
        for (off, data) in cells {
            let pos = 4096 + off;
            let size = (data.len() + 4).next_multiple_of(8);
            h[pos..pos + 4].copy_from_slice(&(-(size as i32)).to_le_bytes());
            h[pos + 4..pos + 4 + data.len()].copy_from_slice(data);
        }
        h
    }

    /// A key record with `subkeys` at `list` and `values` at `vlist`.
    fn nk(subkeys: u32, list: u32, values: u32, vlist: u32) -> Vec<u8> {
        let mut nk = vec![0u8; 80];
        nk[..2].copy_from_slice(b"nk");
        nk[2..4].copy_from_slice(&KEY_COMP_NAME.to_le_bytes());
        nk[20..24].copy_from_slice(&subkeys.to_le_bytes());
        nk[28..32].copy_from_slice(&list.to_le_bytes());
        nk[36..40].copy_from_slice(&values.to_le_bytes());
        nk[40..44].copy_from_slice(&vlist.to_le_bytes());
        nk[72..74].copy_from_slice(&4u16.to_le_bytes());
        nk[76..80].copy_from_slice(b"ROOT");
        nk
    }

    #[test]
    fn a_small_hive_cannot_amplify() {
        // three values sharing one 3000-byte data cell: 9000 bytes from an 8 KiB hive
        let mut vk = vec![0u8; 24];
        vk[..2].copy_from_slice(b"vk");
        vk[4..8].copy_from_slice(&3000u32.to_le_bytes());
        vk[8..12].copy_from_slice(&0x200u32.to_le_bytes());
        vk[12..16].copy_from_slice(&REG_BINARY.to_le_bytes());
        let vlist = [0x100u32; 3].iter().flat_map(|o| o.to_le_bytes()).collect();
        let h = Hive::new("/H", hive(&[(0x20, nk(0, u32::MAX, 3, 0xc0)), (0xc0, vlist), (0x100, vk), (0x200, vec![7; 3000])])).unwrap();
        let e = h.values(h.root()).unwrap_err().to_string();
        assert!(e.starts_with("/H: damaged registry hive: value list of key at 0x20: its values hold more data than the hive"), "{e}");
        // a subkey count no hive of this size can hold
        let h = Hive::new("/H", hive(&[(0x20, nk(1000, 0xc0, 0, u32::MAX))])).unwrap();
        assert!(h.subkeys(h.root()).unwrap_err().to_string().contains("1000 subkeys announced, more than the hive can hold"));
        // an index root naming itself: refused, not followed
        let ri = [b"ri".to_vec(), 1u16.to_le_bytes().to_vec(), 0xc0u32.to_le_bytes().to_vec()].concat();
        let h = Hive::new("/H", hive(&[(0x20, nk(1, 0xc0, 0, u32::MAX)), (0xc0, ri)])).unwrap();
        assert!(h.subkeys(h.root()).unwrap_err().to_string().contains("an index root (ri) inside an index root"));
        // an lf list repeating the root as its own subkey: listed (the count matches), and a
        // path lookup through it ends, bounded by the path's length
        let lf = [b"lf".to_vec(), 1u16.to_le_bytes().to_vec(), 0x20u32.to_le_bytes().to_vec(), b"ROOT".to_vec()].concat();
        let h = Hive::new("/H", hive(&[(0x20, nk(1, 0xc0, 0, u32::MAX)), (0xc0, lf)])).unwrap();
        assert_eq!(h.path(&["root", "ROOT", "Root"]).unwrap(), Some(h.root()));
        assert_eq!(h.key_name(h.root()).unwrap(), "ROOT");
    }

    #[test]
    fn short_or_foreign_data_is_an_error() {
        let e = Hive::new("/SOFTWARE", vec![0; 100]).err().unwrap();
        assert!(e.to_string().starts_with("/SOFTWARE: damaged registry hive: 100 bytes"), "{e}");
        let e = Hive::new("/SYSTEM", vec![0; 8192]).err().unwrap();
        assert!(e.to_string().contains("no \"regf\" signature"), "{e}");
    }
}
