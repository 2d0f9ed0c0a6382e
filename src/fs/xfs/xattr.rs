//! Setting and removing extended attributes kept in the inode (the kernel's `xfs_attr_set` for
//! a shortform attribute fork): the entry replaced or appended ([`super::attr_sf`]), the fork
//! boundary `di_forkoff` placed as `xfs_attr_shortform_bytesfit` places it (as high as the
//! attributes need, never above the room a minimal attribute btree root needs, never into the
//! data fork), the fork removed when its last attribute goes (`xfs_attr_fork_remove`), the
//! change time and count updated. This is what an SELinux label on a new or changed file
//! needs: RHEL-family images label every file.
//!
//! `user.` attributes exist only on regular files and directories (`EPERM` elsewhere, as
//! Linux's `xattr_permission`). A new fork makes room as the kernel does: a shortform
//! directory past the boundary becomes a block directory, extents past it a bmap btree.
//! Refused with [`Error::Unsupported`] naming the case: attributes that do not fit in the
//! inode (leaf, node or remote-value formats), an attribute fork already in those formats,
//! moving the fork boundary of a file whose data fork is a btree root, and names outside
//! `user.`, `trusted.`, `security.`. POSIX ACLs set by their `system.posix_acl_*` names are
//! stored as XFS stores them: converted, as `trusted.SGI_ACL_*`.

use super::attr_leaf;
use super::attr_sf::{self, SfAttr, MAX_PART};
use super::bmap::{self, Extent};
use super::bunmap::TreeSrc;
use super::da::{self, Owner};
use super::dir2::leaf::STAMP as LEAF_STAMP;
use super::inode::{self, now, core_len, Format, Inode};
use super::writer::XfsWriter;
use crate::fs::{Errno, Error, Result};

/// Entry flags: namespaces.
const ROOT: u8 = 2;
const SECURE: u8 = 4;
/// The namespace bits an entry is matched by (with its name).
const NAMESPACE: u8 = ROOT | SECURE | 8;
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
    fn xattr_unsupported(&self, ino: u64, what: &str) -> Error {
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

    /// The entries of inode `ino`'s attribute leaf block at filesystem block `fsb`, checked.
    fn attr_leaf_read(&self, ino: u64, fsb: u64) -> Result<Vec<SfAttr>> {
        let byte = self.sb.fsb_to_byte(fsb, 1).ok_or_else(|| self.corrupt(format!("inode {ino}: attribute block {fsb:#x} outside the filesystem")))?;
        let b = self.bufs.read(byte, self.sb.blocksize as usize)?;
        if self.sb.crc {
            da::check_v5(&b, &Owner { ino, uuid: &self.sb.meta_uuid, daddr: byte / 512 }, "attribute leaf").map_err(|m| self.corrupt(format!("inode {ino}: {m}")))?;
        }
        attr_leaf::decode(&b, self.sb.crc).map_err(|m| {
            if m.contains("remote") || m.contains("siblings") { self.xattr_unsupported(ino, &m) } else { self.corrupt(format!("inode {ino}: {m}")) }
        })
    }

    /// The change inside an operation: `value` `None` removes.
    fn xattr_in(&mut self, ino: u64, name: &[u8], value: Option<&[u8]>) -> Result<()> {
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
        let (flags, bare) = split_name(name).map_err(|w| self.xattr_unsupported(ino, w))?;
        if bare.is_empty() {
            return Err(Error::Os(Errno::Invalid));
        }
        if !self.sb.attr2 {
            return Err(self.xattr_unsupported(ino, "a v4 filesystem without the attr2 feature"));
        }
        let (off, blk, at, i) = self.inode_in_use(ino)?;
        let n = usize::from(self.sb.inodesize);
        if flags == 0 && !matches!(i.kind(), 0o100000 | 0o040000) {
            // Linux's xattr_permission: user attributes only on regular files and directories
            return Err(Error::Os(if value.is_some() { Errno::NotPermitted } else { Errno::NoData }));
        }
        let forkoff = usize::from(blk[at + 82]);
        // The attributes as they are, and the leaf block holding them (filesystem block).
        let (mut entries, leaf) = match (forkoff, i.aformat, i.anextents) {
            (0, _, _) => (Vec::new(), None),
            (_, Some(Format::Local), _) => (attr_sf::decode(&i.attr_fork).map_err(|m| self.corrupt(format!("inode {ino}: {m}")))?, None),
            (_, Some(Format::Extents), 0) => (Vec::new(), None),
            (_, Some(Format::Extents), 1) => {
                let e = Extent::decode(&i.attr_fork);
                if e.off != 0 || e.count != 1 || e.unwritten {
                    return Err(self.xattr_unsupported(ino, "its attribute fork is in the node format (more than one block)"));
                }
                (self.attr_leaf_read(ino, e.block)?, Some(e.block))
            }
            _ => return Err(self.xattr_unsupported(ino, "its attribute fork is in the node format (more than one block)")),
        };
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
            if !self.sb.crc {
                self.add_version_bit(super::sb::VERSION_ATTRBIT);
            }
        }
        let bs = self.sb.blocksize as usize;
        let core = core_len(&self.sb);
        // Shortform when it fits — once in a leaf, only a removal goes back (the kernel's
        // xfs_attr_shortform_allfit) —, else one leaf block.
        let sf_ok = entries.len() <= MAX_ENTRIES && entries.iter().all(|e| e.name.len() <= MAX_PART && e.value.len() <= MAX_PART);
        let sf_forkoff = if sf_ok && (leaf.is_none() || value.is_none()) { self.attr_forkoff(&i, forkoff, attr_sf::total(&entries)) } else { None };
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
        let (off, blk, at, i) = match sf_forkoff {
            Some(new) if new * 8 < held && forkoff == 0 && i.format == Format::Local && i.kind() == 0o040000 => {
                let sf = self.dir_inode(ino)?.1.ok_or_else(|| self.corrupt(format!("directory {ino}: local data fork without shortform entries")))?;
                self.sf_to_block(ino, &sf)?;
                self.inode_in_use(ino)?
            }
            _ => (off, blk, at, i),
        };
        let held = if i.format == Format::Extents { i.nextents as usize * 16 } else { held };
        let sf_forkoff = sf_forkoff.filter(|&new| new * 8 >= held || i.format == Format::Btree);
        // A new fork in a leaf block sits at the default boundary: a shortform directory past
        // it becomes a block first, extents past it a bmap btree (xfs_bmap_add_attrfork_local,
        // _extents).
        let new_leaf_fork = forkoff == 0 && sf_forkoff.is_none() && !entries.is_empty() && self.default_attr_forkoff(&i).is_none();
        let (off, mut blk, at, i) = match i.format {
            Format::Local if new_leaf_fork && i.kind() == 0o040000 => {
                let sf = self.dir_inode(ino)?.1.ok_or_else(|| self.corrupt(format!("directory {ino}: local data fork without shortform entries")))?;
                self.sf_to_block(ino, &sf)?;
                self.inode_in_use(ino)?
            }
            Format::Extents if new_leaf_fork => {
                let default = self.default_attroffset();
                let (map, tree) = bmap::map_and_tree(&TreeSrc { w: self }, ino, i.format, &i.data_fork, i.nextents)?;
                let mut blk = blk;
                let b = &mut blk[at..at + n];
                b[82] = default as u8;
                let delta = self.store_map(&i, &map, &tree, b, &map)?;
                let nblocks = i.nblocks.checked_add_signed(delta).ok_or_else(|| self.corrupt(format!("inode {ino}: {} blocks", i.nblocks)))?;
                inode::set_size_blocks(b, i.size, nblocks);
                inode::seal(&self.sb, b, self.bufs.lsn());
                self.bufs.put(off, blk, None);
                self.inode_in_use(ino)?
            }
            _ => (off, blk, at, i),
        };
        let forkoff = usize::from(blk[at + 82]);
        let b = &mut blk[at..at + n];
        let mut nblocks = i.nblocks;
        if entries.is_empty() || sf_forkoff.is_some() {
            if let Some(fsb) = leaf {
                let gone = Extent { off: 0, block: fsb, count: 1, unwritten: false };
                self.rmap_fork_change(ino, true, &[gone], &[], &[], &[])?;
                self.release_blocks(ino, &[(fsb, 1)])?;
                nblocks -= 1;
                inode::set_anextents(&self.sb, b, 0);
            }
        }
        if entries.is_empty() {
            // xfs_attr_fork_remove: no attribute fork at all
            b[core + forkoff * 8..].fill(0);
            b[82] = 0;
            b[83] = FMT_EXTENTS;
        } else if let Some(new) = sf_forkoff {
            let bytes = attr_sf::total(&entries);
            let start = core + new * 8;
            let data_end = if forkoff == 0 { n } else { core + forkoff * 8 };
            // the data fork keeps its bytes up to the new boundary (bytesfit left it room);
            // the old attribute fork and the room between go
            b[start.min(data_end)..].fill(0);
            b[start..start + bytes].copy_from_slice(&attr_sf::encode(&entries));
            b[82] = new as u8;
            b[83] = FMT_LOCAL;
        } else {
            if let Some(big) = entries.iter().find(|e| !attr_leaf::is_local(e, bs)) {
                return Err(self.xattr_unsupported(ino, &format!("a value of {} bytes (remote attribute value blocks)", big.value.len())));
            }
            if !attr_leaf::fits(&entries, bs, self.sb.crc) {
                return Err(self.xattr_unsupported(ino, "more attributes than one leaf block holds (the node format)"));
            }
            let fsb = match leaf {
                Some(fsb) => fsb,
                None => {
                    // xfs_attr_shortform_to_leaf / xfs_bmap_add_attrfork: the boundary kept,
                    // or the default one for a new fork; one block near the inode.
                    let new = if forkoff != 0 { forkoff } else { self.default_attr_forkoff(&i).ok_or_else(|| self.xattr_unsupported(ino, "an attribute fork beside this data fork (it would move to a btree)"))? };
                    let target = self.sb.ino_to_fsb(ino);
                    let (fsb, _) = self.alloc_data(target, 1)?;
                    let added = Extent { off: 0, block: fsb, count: 1, unwritten: false };
                    self.rmap_fork_change(ino, true, &[], &[added], &[], &[])?;
                    let start = core + new * 8;
                    if n - start < 16 {
                        return Err(self.xattr_unsupported(ino, "an attribute fork too small for an extent (moving the fork boundary)"));
                    }
                    let data_end = if forkoff == 0 { n } else { core + forkoff * 8 };
                    b[start.min(data_end)..].fill(0);
                    b[start..start + 16].copy_from_slice(&added.encode());
                    b[82] = new as u8;
                    b[83] = FMT_EXTENTS;
                    inode::set_anextents(&self.sb, b, 1);
                    nblocks += 1;
                    fsb
                }
            };
            let byte = self.sb.fsb_to_byte(fsb, 1).ok_or_else(|| self.corrupt(format!("inode {ino}: attribute block {fsb:#x} outside the filesystem")))?;
            let me = attr_leaf::BlockId { daddr: byte / 512, uuid: self.sb.meta_uuid, ino };
            self.bufs.put(byte, attr_leaf::encode(&entries, bs, self.sb.crc, &me), Some(LEAF_STAMP));
        }
        inode::set_size_blocks(b, i.size, nblocks);
        inode::touch(&self.sb, b, now(), false);
        inode::seal(&self.sb, b, self.bufs.lsn());
        self.bufs.put(off, blk, None);
        Ok(())
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
