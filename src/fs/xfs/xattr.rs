//! Setting and removing extended attributes (the kernel's `xfs_attr_set`). In the inode, for
//! a shortform attribute fork: the entry replaced or appended ([`super::attr_sf`]), the fork
//! boundary `di_forkoff` placed as `xfs_attr_shortform_bytesfit` places it (as high as the
//! attributes need, never above the room a minimal attribute btree root needs, never into the
//! data fork), the fork removed when its last attribute goes (`xfs_attr_fork_remove`), the
//! change time and count updated. This is what an SELinux label on a new or changed file
//! needs: RHEL-family images label every file. Attributes that outgrow the inode move to
//! blocks of the attribute fork: one leaf, leaves under a da node, values too large for a leaf
//! in remote value blocks ([`super::attr_node`]); back to shortform when a removal or
//! replacement leaves one leaf block whose entries fit the inode, as the kernel's
//! `xfs_attr_shortform_allfit`.
//!
//! Names are checked as Linux checks them (at most 255 bytes, `ERANGE`; values at most
//! 64 KiB, `E2BIG`); `user.` attributes exist only on regular files and directories (`EPERM`
//! elsewhere, as Linux's `xattr_permission`). A new fork makes room as the kernel does: a
//! shortform directory past the boundary becomes a block directory, extents past it a bmap
//! btree. Refused with [`Error::Unsupported`] naming the case: what [`super::attr_node`]
//! refuses (splitting the da node block), moving the fork boundary of a file whose data fork
//! is a btree root, and names outside `user.`, `trusted.`, `security.`. POSIX ACLs set by
//! their `system.posix_acl_*` names are stored as XFS stores them: converted, as
//! `trusted.SGI_ACL_*`.

use super::attr_leaf;
use super::attr_node::{AttrEdit, NAMESPACE};
use super::attr_remote;
use super::attr_sf::{self, SfAttr, MAX_PART};
use super::bmap;
use super::bunmap::TreeSrc;
use super::inode::{self, now, core_len, Format, Inode};
use super::writer::XfsWriter;
use crate::fs::{Errno, Error, Result};

/// Entry flags: namespaces.
const ROOT: u8 = 2;
const SECURE: u8 = 4;
/// `XATTR_NAME_MAX`: the longest Linux attribute name, namespace prefix included.
const NAME_MAX: usize = 255;
/// `di_aformat` values.
const FMT_LOCAL: u8 = 1;
const FMT_EXTENTS: u8 = 2;
/// `XFS_BMDR_SPACE_CALC(n)`: a bmap btree root of `n` records in the inode.
const fn bmdr_space(n: usize) -> usize {
    4 + n * 16
}
/// `MINABTPTRS`, `MINDBTPTRS`.
const MIN_ATTR_PTRS: usize = 2;
const MIN_DATA_PTRS: usize = 3;
/// Entries a shortform fork can count.
const MAX_ENTRIES: usize = 255;

/// The XFS flags and bare name of a Linux attribute name.
fn split_name(name: &[u8]) -> std::result::Result<(u8, &[u8]), &'static str> {
    let (flags, bare) = if let Some(n) = name.strip_prefix(b"user.") {
        (0, n)
    } else if let Some(n) = name.strip_prefix(b"trusted.") {
        (ROOT, n)
    } else if let Some(n) = name.strip_prefix(b"security.") {
        (SECURE, n)
    } else {
        return Err("attribute namespaces other than user., trusted. and security.");
    };
    Ok((flags, bare))
}

impl XfsWriter {
    pub(crate) fn xattr_refuse(&self, ino: u64, what: &str) -> Error {
        Error::Unsupported { dev: self.bufs.dev_name(), fs: "xfs".into(), feature: format!("writing: inode {ino}: {what}") }
    }

    /// `xfs_attr_shortform_bytesfit`: the fork boundary (in 8-byte units) that gives a
    /// shortform attribute fork of `bytes` room, or `None` when it does not fit the inode.
    fn attr_forkoff(&self, i: &Inode, forkoff: usize, bytes: usize) -> Option<usize> {
        let litino = usize::from(self.sb.inodesize) - core_len(&self.sb);
        let offset = litino.checked_sub(bytes)? >> 3;
        if i.format == Format::Dev {
            return (offset >= 1).then_some(1);
        }
        if forkoff != 0 && bytes <= litino - forkoff * 8 {
            return Some(forkoff);
        }
        let dsize = match i.format {
            Format::Local => i.size as usize,
            Format::Extents => {
                let d = i.nextents as usize * 16;
                // a new default fork would push the extents into a btree: a root will do
                if forkoff == 0 && d > bmdr_space(6 * MIN_ATTR_PTRS) { bmdr_space(MIN_DATA_PTRS) } else { d }
            }
            // the data btree root's room is not moved here (refused by the caller)
            Format::Btree | Format::Dev => return None,
        };
        let minforkoff = dsize.max(bmdr_space(MIN_DATA_PTRS)).div_ceil(8);
        let maxforkoff = (litino - bmdr_space(MIN_ATTR_PTRS)) >> 3;
        if offset >= maxforkoff {
            Some(maxforkoff)
        } else if offset >= minforkoff {
            Some(offset)
        } else {
            None
        }
    }

    /// `xfs_default_attroffset`, in 8-byte units.
    fn default_attroffset(&self) -> usize {
        let litino = usize::from(self.sb.inodesize) - core_len(&self.sb);
        (if self.sb.inodesize == 256 { litino - bmdr_space(MIN_ATTR_PTRS) } else { bmdr_space(6 * MIN_ATTR_PTRS) }) >> 3
    }

    /// `xfs_default_attroffset`: the fork boundary of a new attribute fork that will not be
    /// shortform, when the data fork leaves room for it.
    fn default_attr_forkoff(&self, i: &Inode) -> Option<usize> {
        let offset = self.default_attroffset() * 8;
        let data = match i.format {
            Format::Local => i.size as usize,
            Format::Extents => i.nextents as usize * 16,
            Format::Dev => 4,
            Format::Btree => return None,
        };
        (data <= offset).then_some(offset >> 3)
    }

    /// The change inside an operation: `value` `None` removes.
    fn xattr_in(&mut self, ino: u64, name: &[u8], value: Option<&[u8]>) -> Result<()> {
        // Linux's checks: a name of at most XATTR_NAME_MAX bytes, a value of XATTR_SIZE_MAX
        if name.len() > NAME_MAX {
            return Err(Error::Os(Errno::Range));
        }
        if value.is_some_and(|v| v.len() > attr_remote::MAX_VALUE) {
            return Err(Error::Os(Errno::TooBig));
        }
        // POSIX ACLs are stored converted (`xfs_set_acl`).
        let (raw, stored);
        let (name, value) = match super::attr::acl_raw_name(name) {
            Some(r) => {
                raw = r;
                stored = value.map(|v| super::attr::acl_to_xfs(v).ok_or(Error::Os(Errno::Invalid))).transpose()?;
                (&raw[..], stored.as_deref())
            }
            None => (name, value),
        };
        let (flags, bare) = split_name(name).map_err(|w| self.xattr_refuse(ino, w))?;
        if bare.is_empty() {
            return Err(Error::Os(Errno::Invalid));
        }
        if !self.sb.attr2 {
            return Err(self.xattr_refuse(ino, "a v4 filesystem without the attr2 feature"));
        }
        let (off, blk, at, i) = self.inode_in_use(ino)?;
        if flags == 0 && !matches!(i.kind(), 0o100000 | 0o040000) {
            // Linux's xattr_permission: user attributes only on regular files and directories
            return Err(Error::Os(if value.is_some() { Errno::NotPermitted } else { Errno::NoData }));
        }
        if value.is_some() && !self.sb.crc {
            self.add_version_bit(super::sb::VERSION_ATTRBIT);
        }
        let forkoff = usize::from(blk[at + 82]);
        match (forkoff, i.aformat) {
            // xfs_attr_is_shortform: an extents-format fork of no extents (what the kernel
            // gives a new inode when a security module will label it) counts as shortform
            (0, _) | (_, Some(Format::Local)) => self.xattr_short(ino, (off, blk, at), &i, flags, bare, value),
            (_, Some(Format::Extents)) if i.anextents == 0 => self.xattr_short(ino, (off, blk, at), &i, flags, bare, value),
            (_, Some(Format::Extents | Format::Btree)) => self.xattr_long(ino, (off, blk, at), &i, flags, bare, value),
            (_, f) => Err(self.corrupt(format!("inode {ino}: attribute fork format {f:?}"))),
        }
    }

    /// [`XfsWriter::xattr_in`] on an inode without an attribute fork or with a shortform one:
    /// the entry replaced or appended in the inode while the attributes fit it, else they all
    /// move to a new leaf-form fork (`xfs_attr_shortform_to_leaf`), added one by one as the
    /// kernel adds them (splitting into node form when one leaf does not hold them).
    fn xattr_short(&mut self, ino: u64, (off, blk, at): (u64, Vec<u8>, usize), i: &Inode, flags: u8, bare: &[u8], value: Option<&[u8]>) -> Result<()> {
        let n = usize::from(self.sb.inodesize);
        let forkoff = usize::from(blk[at + 82]);
        let mut entries = if forkoff == 0 || i.aformat != Some(Format::Local) { Vec::new() } else { attr_sf::decode(&i.attr_fork).map_err(|m| self.corrupt(format!("inode {ino}: {m}")))? };
        let old = entries.iter().position(|e| e.flags & NAMESPACE == flags && e.name == bare);
        match (old, value) {
            (None, None) => return Err(Error::Os(Errno::NoData)),
            (Some(k), _) => {
                entries.remove(k);
            }
            (None, Some(_)) => {}
        }
        if let Some(v) = value {
            entries.push(SfAttr { flags, name: bare.to_vec(), value: v.to_vec() });
        }
        let core = core_len(&self.sb);
        let sf_ok = entries.len() <= MAX_ENTRIES && entries.iter().all(|e| e.name.len() <= MAX_PART && e.value.len() <= MAX_PART);
        let sf_forkoff = if sf_ok { self.attr_forkoff(i, forkoff, attr_sf::total(&entries)) } else { None };
        let sf_forkoff = sf_forkoff.filter(|&f| f == forkoff || i.format != Format::Btree);
        // The boundary may sit below what the data fork holds (bytesfit caps it where an
        // attribute btree root still fits). A new fork beside a shortform directory moves the
        // directory to a block first, as xfs_bmap_add_attrfork_local does; anything else that
        // would lose data fork bytes goes to a leaf block at the boundary it has.
        let held = match i.format {
            Format::Local => i.size as usize,
            Format::Extents => i.nextents as usize * 16,
            Format::Btree | Format::Dev => 0,
        };
        let (off, blk, at, moved) = match sf_forkoff {
            Some(new) if new * 8 < held && forkoff == 0 && i.format == Format::Local && i.kind() == 0o040000 => {
                let sf = self.dir_inode(ino)?.1.ok_or_else(|| self.corrupt(format!("directory {ino}: local data fork without shortform entries")))?;
                self.sf_to_block(ino, &sf)?;
                let (o, b, a, moved) = self.inode_in_use(ino)?;
                (o, b, a, Some(moved))
            }
            _ => (off, blk, at, None),
        };
        let i = moved.as_ref().unwrap_or(i);
        let held = if i.format == Format::Extents { i.nextents as usize * 16 } else { held };
        let sf_forkoff = sf_forkoff.filter(|&new| new * 8 >= held || i.format == Format::Btree);
        // A new fork in a leaf block sits at the default boundary: a shortform directory past
        // it becomes a block first, extents past it a bmap btree (xfs_bmap_add_attrfork_local,
        // _extents).
        let new_leaf_fork = forkoff == 0 && sf_forkoff.is_none() && !entries.is_empty() && self.default_attr_forkoff(i).is_none();
        let (off, mut blk, at, moved) = match i.format {
            Format::Local if new_leaf_fork && i.kind() == 0o040000 => {
                let sf = self.dir_inode(ino)?.1.ok_or_else(|| self.corrupt(format!("directory {ino}: local data fork without shortform entries")))?;
                self.sf_to_block(ino, &sf)?;
                let (o, b, a, moved) = self.inode_in_use(ino)?;
                (o, b, a, Some(moved))
            }
            Format::Extents if new_leaf_fork => {
                let default = self.default_attroffset();
                let (map, tree) = bmap::map_and_tree(&TreeSrc { w: self }, ino, i.format, &i.data_fork, i.nextents)?;
                let mut blk = blk;
                let b = &mut blk[at..at + n];
                b[82] = default as u8;
                let delta = self.store_map(i, &map, &tree, b, &map)?;
                let nblocks = i.nblocks.checked_add_signed(delta).ok_or_else(|| self.corrupt(format!("inode {ino}: {} blocks", i.nblocks)))?;
                inode::set_size_blocks(b, i.size, nblocks);
                inode::seal(&self.sb, b, self.bufs.lsn());
                self.bufs.put(off, blk, None);
                let (o, b, a, moved) = self.inode_in_use(ino)?;
                (o, b, a, Some(moved))
            }
            _ => (off, blk, at, None),
        };
        let i = moved.as_ref().unwrap_or(i);
        let forkoff = usize::from(blk[at + 82]);
        let mut nblocks = i.nblocks;
        let b = &mut blk[at..at + n];
        if entries.is_empty() {
            // xfs_attr_fork_remove: no attribute fork at all
            b[core + forkoff * 8..].fill(0);
            b[82] = 0;
            b[83] = FMT_EXTENTS;
        } else if let Some(new) = sf_forkoff {
            self.write_shortform(b, forkoff, new, &entries);
        } else {
            // xfs_attr_shortform_to_leaf / xfs_bmap_add_attrfork: the boundary kept, or the
            // default one for a new fork; an empty leaf at block 0, then every entry added.
            let new = if forkoff != 0 { forkoff } else { self.default_attr_forkoff(i).ok_or_else(|| self.xattr_refuse(ino, "an attribute fork beside this data fork (it would move to a btree)"))? };
            let start = core + new * 8;
            if n - start < 16 {
                return Err(self.xattr_refuse(ino, "an attribute fork too small for an extent (moving the fork boundary)"));
            }
            let data_end = if forkoff == 0 { n } else { core + forkoff * 8 };
            b[start.min(data_end)..].fill(0);
            b[82] = new as u8;
            b[83] = FMT_EXTENTS;
            inode::set_anextents(&self.sb, b, 0);
            let mut ed = AttrEdit::new(ino, Vec::new());
            self.attr_new_leaf_root(&mut ed)?;
            for e in &entries {
                let f = self.attr_find(&mut ed, e.flags & NAMESPACE, &e.name)?;
                self.attr_add(&mut ed, f.pos, e.flags, &e.name, &e.value)?;
            }
            let delta = self.attr_commit(ed, i, &[], &[], b)?;
            nblocks = nblocks.checked_add_signed(delta).ok_or_else(|| self.corrupt(format!("inode {ino}: {nblocks} blocks counted")))?;
        }
        self.xattr_seal(off, blk, at, i.size, nblocks);
        Ok(())
    }

    /// [`XfsWriter::xattr_in`] on an attribute fork in leaf or node form
    /// ([`super::attr_node`]): the old entry taken out (its remote value blocks freed), the new
    /// one added; when an old entry went, a fork left with one leaf block whose entries fit
    /// the inode goes back to shortform (`xfs_attr_shortform_allfit`), one left with no entry
    /// goes.
    fn xattr_long(&mut self, ino: u64, (off, mut blk, at): (u64, Vec<u8>, usize), i: &Inode, flags: u8, bare: &[u8], value: Option<&[u8]>) -> Result<()> {
        let n = usize::from(self.sb.inodesize);
        let forkoff = usize::from(blk[at + 82]);
        let fmt = i.aformat.unwrap_or(Format::Extents);
        let (map, tree) = bmap::map_and_tree(&TreeSrc { w: self }, ino, fmt, &i.attr_fork, i.anextents)?;
        let mut ed = AttrEdit::new(ino, map.clone());
        if map.is_empty() {
            // an attribute fork of no blocks (the kernel copes with it): a leaf to add to
            if value.is_none() {
                return Err(Error::Os(Errno::NoData));
            }
            self.attr_new_leaf_root(&mut ed)?;
        }
        let found = self.attr_find(&mut ed, flags, bare)?;
        match (found.hit, value) {
            (None, None) => return Err(Error::Os(Errno::NoData)),
            (Some((leaf, k)), _) => self.attr_remove_at(&mut ed, leaf, k)?,
            (None, Some(_)) => {}
        }
        if let Some(v) = value {
            self.attr_add(&mut ed, found.pos, flags, bare, v)?;
        }
        if let Some((leaf, _)) = found.hit {
            self.attr_shrink(&mut ed, leaf)?;
        }
        let mut nblocks = i.nblocks;
        let counted = |w: &XfsWriter, nb: u64| w.corrupt(format!("inode {ino}: {nb} blocks counted"));
        // After a removal or replacement (the kernel's removal of the old entry checks, in
        // xfs_attr_leaf_remove_attr and xfs_attr_leaf_shrink): no entry left, or one leaf
        // block whose entries all fit the inode.
        let left: Option<Vec<SfAttr>> = match ed.root_leaf() {
            Some(l) if found.hit.is_some() && (l.ents.is_empty() || (ed.map.len() == 1 && ed.map[0].off == 0 && ed.map[0].count == 1)) => {
                let live = l.ents.iter().filter(|e| e.flags & attr_leaf::INCOMPLETE == 0);
                live.map(|e| match &e.val {
                    attr_leaf::Val::Local(v) => Some(SfAttr { flags: e.flags, name: e.name.clone(), value: v.clone() }),
                    attr_leaf::Val::Remote { .. } => None,
                })
                .collect()
            }
            _ => None,
        };
        let sf_forkoff = left.as_ref().filter(|e| !e.is_empty() && e.len() <= MAX_ENTRIES && e.iter().all(|e| e.name.len() <= MAX_PART && e.value.len() <= MAX_PART));
        let sf_forkoff = sf_forkoff.and_then(|e| self.attr_forkoff(i, forkoff, attr_sf::total(e))).filter(|&f| f == forkoff || i.format != Format::Btree);
        let core = core_len(&self.sb);
        let b = &mut blk[at..at + n];
        match (left, sf_forkoff) {
            (Some(entries), new) if entries.is_empty() || new.is_some() => {
                // the fork's blocks all go: their reverse mappings first, then the blocks
                self.rmap_fork_change(ino, true, &map, &[], &tree, &[])?;
                let mut runs: Vec<(u64, u64)> = map.iter().map(|e| (e.block, e.count)).collect();
                runs.extend(tree.iter().map(|&t| (t, 1)));
                self.release_blocks(ino, &runs)?;
                let gone = runs.iter().map(|r| r.1).sum::<u64>();
                nblocks = nblocks.checked_sub(gone).ok_or_else(|| counted(self, nblocks))?;
                inode::set_anextents(&self.sb, b, 0);
                match new {
                    Some(new) if !entries.is_empty() => self.write_shortform(b, forkoff, new, &entries),
                    _ => {
                        // xfs_attr_fork_remove: no attribute fork at all
                        b[core + forkoff * 8..].fill(0);
                        b[82] = 0;
                        b[83] = FMT_EXTENTS;
                    }
                }
            }
            _ => {
                let delta = self.attr_commit(ed, i, &map, &tree, b)?;
                nblocks = nblocks.checked_add_signed(delta).ok_or_else(|| counted(self, nblocks))?;
            }
        }
        self.xattr_seal(off, blk, at, i.size, nblocks);
        Ok(())
    }

    /// Writes shortform `entries` into inode bytes `b` at fork boundary `new` (from `forkoff`):
    /// the data fork keeps its bytes up to the new boundary (bytesfit left it room); the old
    /// attribute fork and the room between go.
    fn write_shortform(&self, b: &mut [u8], forkoff: usize, new: usize, entries: &[SfAttr]) {
        let n = b.len();
        let core = core_len(&self.sb);
        let bytes = attr_sf::total(entries);
        let start = core + new * 8;
        let data_end = if forkoff == 0 { n } else { core + forkoff * 8 };
        b[start.min(data_end)..].fill(0);
        b[start..start + bytes].copy_from_slice(&attr_sf::encode(entries));
        b[82] = new as u8;
        b[83] = FMT_LOCAL;
    }

    /// The inode's block count, change time, CRC; the inode block pending.
    fn xattr_seal(&mut self, off: u64, mut blk: Vec<u8>, at: usize, size: u64, nblocks: u64) {
        let b = &mut blk[at..at + usize::from(self.sb.inodesize)];
        inode::set_size_blocks(b, size, nblocks);
        inode::touch(&self.sb, b, now(), false);
        inode::seal(&self.sb, b, self.bufs.lsn());
        self.bufs.put(off, blk, None);
    }

    /// Sets extended attribute `name` (with its namespace prefix: `user.`, `trusted.`,
    /// `security.`) of inode `ino` to `value`, replacing it if set. See the module
    /// documentation for what is refused.
    pub fn setxattr(&mut self, ino: u64, name: &[u8], value: &[u8]) -> Result<()> {
        self.begin();
        let r = self.xattr_in(ino, name, Some(value));
        self.end(r)
    }

    /// Removes extended attribute `name` of inode `ino`; `ENODATA` when it is not set.
    pub fn removexattr(&mut self, ino: u64, name: &[u8]) -> Result<()> {
        self.begin();
        let r = self.xattr_in(ino, name, None);
        self.end(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_namespaces() {
        assert_eq!(split_name(b"security.selinux"), Ok((SECURE, &b"selinux"[..])));
        assert_eq!(split_name(b"trusted.SGI_ACL_FILE"), Ok((ROOT, &b"SGI_ACL_FILE"[..])));
        assert_eq!(split_name(b"user.x"), Ok((0, &b"x"[..])));
        assert!(split_name(b"system.posix_acl_access").is_err());
        assert!(split_name(b"os2.x").is_err());
    }
}
