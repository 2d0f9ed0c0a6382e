//! The one generic tree search, shared by the chunk tree, the root tree and the FS trees: the
//! items whose keys lie in a range, in key order. Levels must fall by one per step down (so
//! no path revisits a block), a child's first key must equal the key that points at it and
//! its keys stay below the next pointer's key, and the keys returned must strictly increase:
//! a cycle or a shared subtree is reported as corruption, and a search reads at most the
//! blocks on the path to its first key plus those holding the keys it returns.

use super::node::{Key, Node};
use crate::fs::{Error, Result};
use std::sync::Arc;

/// What a search reads blocks from.
pub trait Source {
    /// The checked tree block at logical address `bytenr`, expected at `level`.
    fn node(&self, bytenr: u64, level: u8) -> Result<Arc<Node>>;
    /// A corruption error naming the structure.
    fn corrupt(&self, msg: String) -> Error;
}

/// The root block of a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Root {
    /// Logical address.
    pub bytenr: u64,
    /// Level.
    pub level: u8,
}

/// Calls `f` on every item with a key in `min..=max`, in key order, until it returns false.
pub fn search<S: Source + ?Sized>(src: &S, root: Root, min: Key, max: Key, f: &mut dyn FnMut(Key, &[u8]) -> Result<bool>) -> Result<()> {
    let mut last = None;
    walk(src, root.bytenr, root.level, None, None, min, max, &mut last, f)?;
    Ok(())
}

/// Every item with a key in `min..=max`.
pub fn items<S: Source + ?Sized>(src: &S, root: Root, min: Key, max: Key) -> Result<Vec<(Key, Vec<u8>)>> {
    let mut out = Vec::new();
    search(src, root, min, max, &mut |k, d| {
        out.push((k, d.to_vec()));
        Ok(true)
    })?;
    Ok(out)
}

/// The item with key exactly `key`.
pub fn get<S: Source + ?Sized>(src: &S, root: Root, key: Key) -> Result<Option<Vec<u8>>> {
    let mut out = None;
    search(src, root, key, key, &mut |_, d| {
        out = Some(d.to_vec());
        Ok(false)
    })?;
    Ok(out)
}

/// The first item with a key in `min..=max`.
pub fn first<S: Source + ?Sized>(src: &S, root: Root, min: Key, max: Key) -> Result<Option<(Key, Vec<u8>)>> {
    let mut out = None;
    search(src, root, min, max, &mut |k, d| {
        out = Some((k, d.to_vec()));
        Ok(false)
    })?;
    Ok(out)
}

/// Walks the subtree at `bytenr`, whose first key must be `first` (when known) and whose keys
/// must stay below `below`. Returns false once the search is over.
#[allow(clippy::too_many_arguments)]
fn walk<S: Source + ?Sized>(
    src: &S,
    bytenr: u64,
    level: u8,
    first: Option<Key>,
    below: Option<Key>,
    min: Key,
    max: Key,
    last: &mut Option<Key>,
    f: &mut dyn FnMut(Key, &[u8]) -> Result<bool>,
) -> Result<bool> {
    let node = src.node(bytenr, level)?;
    let n = node.nritems as usize;
    if let Some(fk) = first {
        if n == 0 || node.key(0) != fk {
            return Err(src.corrupt(format!("tree block {bytenr:#x}: first key {:?} differs from its parent's {fk:?}", (n > 0).then(|| node.key(0)))));
        }
    }
    let mut prev: Option<Key> = None;
    for i in 0..n {
        let k = node.key(i);
        if prev.is_some_and(|p| p >= k) || below.is_some_and(|b| k >= b) {
            return Err(src.corrupt(format!("tree block {bytenr:#x}: key {i} {k:?} out of order")));
        }
        prev = Some(k);
        if level == 0 {
            if k < min {
                continue;
            }
            if k > max {
                return Ok(false);
            }
            if last.is_some_and(|l| l >= k) {
                return Err(src.corrupt(format!("tree block {bytenr:#x}: key {k:?} repeats or goes back (a cycle or shared block)")));
            }
            *last = Some(k);
            let data = node.item(i).map_err(|m| src.corrupt(m))?;
            if !f(k, data)? {
                return Ok(false);
            }
        } else {
            let next = if i + 1 < n { Some(node.key(i + 1)) } else { below };
            if next.is_some_and(|nk| nk <= min) {
                continue;
            }
            if k > max {
                return Ok(false);
            }
            if !walk(src, node.child(i), level - 1, Some(k), next, min, max, last, f)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::btrfs::csum;
    use crate::fs::btrfs::node::{tests::leaf, HEADER, INODE_ITEM};
    use std::collections::HashMap;

    const SIZE: usize = 4096;

    /// An internal node at `bytenr` of `level` pointing at (key, child).
    fn internal(bytenr: u64, level: u8, ptrs: &[(Key, u64)]) -> Vec<u8> {
        let mut b = vec![0u8; SIZE];
        b[0x30..0x38].copy_from_slice(&bytenr.to_le_bytes());
        b[0x60..0x64].copy_from_slice(&(ptrs.len() as u32).to_le_bytes());
        b[0x64] = level;
        for (i, (k, child)) in ptrs.iter().enumerate() {
            let h = HEADER + i * 33;
            b[h..h + 8].copy_from_slice(&k.objectid.to_le_bytes());
            b[h + 8] = k.ty;
            b[h + 9..h + 17].copy_from_slice(&k.offset.to_le_bytes());
            b[h + 17..h + 25].copy_from_slice(&child.to_le_bytes());
        }
        let c = csum::crc32c(&b);
        b[0..4].copy_from_slice(&c.to_le_bytes());
        b
    }

    struct Mem(HashMap<u64, Vec<u8>>);

    impl Source for Mem {
        fn node(&self, bytenr: u64, level: u8) -> Result<Arc<Node>> {
            let b = self.0.get(&bytenr).cloned().ok_or_else(|| self.corrupt(format!("no block {bytenr:#x}")))?;
            Node::parse(b, bytenr, Some(level), &[0; 16]).map(Arc::new).map_err(|e| self.corrupt(e.msg))
        }
        fn corrupt(&self, msg: String) -> Error {
            Error::Corrupt { dev: "mem".into(), fs: "btrfs".into(), msg }
        }
    }

    fn k(o: u64) -> Key {
        Key::new(o, INODE_ITEM, 0)
    }

    fn all(m: &Mem, root: Root) -> Result<Vec<u64>> {
        Ok(items(m, root, Key::new(0, 0, 0), Key::new(u64::MAX, u8::MAX, u64::MAX))?.into_iter().map(|(k, _)| k.objectid).collect())
    }

    #[test]
    fn searches_ranges_and_refuses_shared_or_misplaced_blocks() {
        let mut m = Mem(HashMap::new());
        m.0.insert(0x1000, leaf(0x1000, SIZE, &[(k(1), b"a"), (k(2), b"b")]));
        m.0.insert(0x2000, leaf(0x2000, SIZE, &[(k(5), b"c"), (k(6), b"d")]));
        m.0.insert(0x3000, internal(0x3000, 1, &[(k(1), 0x1000), (k(5), 0x2000)]));
        let root = Root { bytenr: 0x3000, level: 1 };
        assert_eq!(all(&m, root).unwrap(), vec![1, 2, 5, 6]);
        assert_eq!(items(&m, root, k(2), k(5)).unwrap().len(), 2);
        assert_eq!(get(&m, root, k(6)).unwrap().as_deref(), Some(&b"d"[..]));
        assert_eq!(get(&m, root, k(3)).unwrap(), None);
        // the same leaf twice: keys would repeat
        m.0.insert(0x4000, internal(0x4000, 1, &[(k(1), 0x1000), (k(2), 0x1000)]));
        assert!(all(&m, Root { bytenr: 0x4000, level: 1 }).is_err());
        // a child whose first key is not its pointer's
        m.0.insert(0x5000, internal(0x5000, 1, &[(k(1), 0x2000)]));
        assert!(all(&m, Root { bytenr: 0x5000, level: 1 }).unwrap_err().to_string().contains("first key"));
        // a node pointing at itself: the level must fall
        m.0.insert(0x6000, internal(0x6000, 1, &[(k(1), 0x6000)]));
        assert!(all(&m, Root { bytenr: 0x6000, level: 1 }).is_err());
        // keys past the next pointer's
        m.0.insert(0x7000, internal(0x7000, 1, &[(k(1), 0x1000), (k(2), 0x2000)]));
        assert!(all(&m, Root { bytenr: 0x7000, level: 1 }).is_err());
        // keys out of order inside a leaf
        m.0.insert(0x8000, leaf(0x8000, SIZE, &[(k(3), b""), (k(2), b"")]));
        assert!(all(&m, Root { bytenr: 0x8000, level: 0 }).is_err());
    }
}
