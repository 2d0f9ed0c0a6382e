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
