//! The FUSE inode numbers of a guest's mount table: each (mount, inode) pair the kernel has
//! seen gets one number for the session (hard links share it), 1 being the root of the
//! filesystem mounted at `/`; and where the mounts meet — the directory entry in one
//! filesystem that another filesystem's root covers (`/boot` on `/`).

use crate::fs::Ino;
use crate::guest::path::Mount;
use std::collections::HashMap;

/// A node of the served tree: a mount (index into the mount table) and an inode in it.
pub type Node = (usize, Ino);

/// The numbering, and the mountpoints as directory entries.
pub struct Inodes {
    /// FUSE number `k + 1` is `nodes[k]`.
    nodes: Vec<Node>,
    numbers: HashMap<Node, u64>,
    /// (mount, directory inode, name) → the mount covering that entry.
    covers: HashMap<(usize, Ino, Vec<u8>), usize>,
}

impl Inodes {
    /// The numbering for `mounts`, whose mountpoints other than `/` are resolved by `locate`
    /// (mountpoint → the directory holding it and the entry's name). A later mount at the same
    /// mountpoint shadows an earlier one. `None` without a mount at `/`.
    pub fn new(mounts: &[Mount], locate: impl Fn(&str) -> Option<(Node, Vec<u8>)>) -> Option<Inodes> {
        let root = mounts.iter().rposition(|m| m.mountpoint == "/")?;
        let mut covers = HashMap::new();
        for (i, m) in mounts.iter().enumerate().filter(|(_, m)| m.mountpoint != "/") {
            if let Some(((pm, dir), name)) = locate(&m.mountpoint) {
                covers.insert((pm, dir, name), i);
            }
        }
        let top = (root, mounts[root].fs.root());
        Some(Inodes { nodes: vec![top], numbers: HashMap::from([(top, 1)]), covers })
    }

    /// The node numbered `n`.
    pub fn node(&self, n: u64) -> Option<Node> {
        usize::try_from(n).ok().and_then(|n| n.checked_sub(1)).and_then(|k| self.nodes.get(k)).copied()
    }

    /// The number of `node`, given one now if it has none.
    pub fn number(&mut self, node: Node) -> u64 {
        if let Some(&n) = self.numbers.get(&node) {
            return n;
        }
        self.nodes.push(node);
        let n = self.nodes.len() as u64;
        self.numbers.insert(node, n);
        n
    }

    /// The mount whose root covers entry `name` of directory `dir` (of mount `m`), if any.
    pub fn covering(&self, m: usize, dir: Ino, name: &[u8]) -> Option<usize> {
        self.covers.get(&(m, dir, name.to_vec())).copied()
    }

}
