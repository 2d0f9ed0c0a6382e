//! XFS, read side, our own code (no crate reads XFS): the layout mirrors xfsprogs' `libxfs`
//! — [`sb`] superblock, [`ag`] AG headers, [`inode`] inodes, [`bmap`] fork block maps over the
//! one generic [`btree`] engine, [`da`] the dir/attr btree, [`dir2`] directories, [`attr`]
//! extended attributes,
//! [`symlink`] link targets, [`crc`] the v5 CRC32c.
//!
//! Supported: v4 (crc=0) and v5 (crc=1) filesystems, block sizes 512 B–64 KiB, directory
//! blocks larger than filesystem blocks, ftype or not, bigtime, nrext64, sparse inodes,
//! reflink/rmapbt (read as plain block maps). Refused with [`Error::Unsupported`] naming the
//! feature: a realtime device, an external log, metadir, needsrepair, unknown incompatible
//! feature bits. Every v5 metadata block read is checked (magic, CRC, UUID, owner, address);
//! every structure is bounded (btree heights, cycles, record counts, sizes).
//!
//! Write side (growing, issue 14): [`writer::XfsWriter`] opens a writable device for metadata
//! writes (refusing a dirty log, rmapbt, and what the reader refuses); [`buf`] holds the blocks
//! an operation changes until it succeeds whole (v5 LSN and CRC stamped); [`btree_write`] is
//! the generic AG btree writer (bnobt, cntbt, inobt, finobt); [`agfl`] the AG free list and
//! `fix_freelist`; [`alloc`] allocates and frees extents; [`ialloc`] allocates and frees
//! inodes and inode chunks; [`create`] creates and removes names in shortform directories;
//! [`grow`] grows the data section offline as `xfs_growfs` does; [`rw`] is the read-write
//! [`Filesystem`] over reader and writer that `fs::open_rw` gives.
//!
//! A dirty log is not replayed: the image is read as it is on disk, which may lag behind
//! what the kernel would show after recovery (files synced before the crash read correctly).
//! [`log`] tells whether it is dirty, and [`Filesystem::warnings`] then names the risk and
//! the fix. Writing (a later issue) must refuse a dirty log, as the kernel would replay it
//! first.
//!
//! Inode numbers are XFS's own. `stat` follows Linux: `blksize` = max(4096, block size),
//! `blocks` = `di_nblocks` in 512-byte units. `statvfs` follows `xfs_fs_statfs` on a
//! read-only mount, from the superblock counters: free blocks less the per-AG set-aside and
//! the free-space btree blocks (a read-write mount also withholds its reserve pool and per-AG
//! metadata reservations, so it reports less free space); the internal log is not counted in
//! `f_blocks`; inode totals capped by `imax_pct`; `fsid` 0 (Linux derives it from the block
//! device number).
//!
//! POSIX ACLs (stored as `trusted.SGI_ACL_FILE`/`SGI_ACL_DEFAULT` in XFS's own format) are
//! listed as Linux lists them to root: under the raw name and as `system.posix_acl_*` with the
//! value converted. Lookups follow the directory hash index; on ASCII case-insensitive
//! filesystems (`mkfs.xfs -n version=ci`, whose hash differs) they scan the listing and
//! match names as the kernel does: an exact match first, else one equal ignoring ASCII case.

pub mod ag;
pub mod agfl;
pub mod alloc;
pub mod attr;
pub mod attr_leaf;
pub mod attr_node;
pub mod attr_remote;
pub mod attr_sf;
pub mod bmap;
pub mod bmap_edit;
pub mod bmbt;
pub mod btree;
pub mod btree_write;
pub mod bunmap;
pub mod buf;
pub mod crc;
pub mod create;
pub mod da;
pub mod dir2;
pub mod grow;
pub mod ialloc;
pub mod inode;
pub mod log;
pub mod rw;
pub mod rmap_rec;
pub mod refcount;
pub mod rmap;
pub mod sb;
pub mod setattr;
pub mod symlink;
pub mod write;
pub mod xattr;
pub mod writer;

use self::bmap::Extent;
use self::btree::{Source, TreeKind};
use self::dir2::RawEntry;
use self::inode::{Format, Inode};
use self::sb::{SbError, Superblock};
use crate::disk::{read_vec, Dev};
use crate::fs::{DirEntry, Errno, Error, FileType, Filesystem, Ino, Result, Stat, StatVfs};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// `ST_RDONLY`.
const ST_RDONLY: u64 = 1;
/// Cached block maps and directory listings (each cache).
const CACHE_ENTRIES: usize = 256;
/// Largest directory (data space bytes, `di_size`) listed: about 5 million entries of
/// 30-byte names; a listing is held in memory whole. Larger ones are refused as unsupported.
const MAX_DIR_BYTES: u64 = 256 << 20;

/// An XFS filesystem opened read-only (see the module documentation).
pub struct XfsFs {
    dev: Dev,
    sb: Superblock,
    log: log::LogState,
    maps: Mutex<HashMap<Ino, Arc<Vec<Extent>>>>,
    dirs: Mutex<HashMap<Ino, Arc<Vec<RawEntry>>>>,
}

fn bounded_insert<V>(m: &Mutex<HashMap<Ino, Arc<V>>>, k: Ino, v: Arc<V>) {
    let mut m = m.lock().unwrap_or_else(|p| p.into_inner());
    if m.len() >= CACHE_ENTRIES {
        m.clear();
    }
    m.insert(k, v);
}

fn cached<V>(m: &Mutex<HashMap<Ino, Arc<V>>>, k: Ino) -> Option<Arc<V>> {
    m.lock().unwrap_or_else(|p| p.into_inner()).get(&k).cloned()
}

impl XfsFs {
    /// Opens the XFS filesystem on `dev` read-only: superblock, AG 0's headers and the root
    /// inode verified.
    pub fn open(dev: Dev) -> Result<XfsFs> {
        let first = read_vec(dev.as_ref(), 0, 512.min(dev.len() as usize))?;
        let sectsize = usize::from(crate::bytes::be16(&first, 102)).clamp(512, 32768);
        let b = if sectsize > 512 && dev.len() >= sectsize as u64 { read_vec(dev.as_ref(), 0, sectsize)? } else { first };
        let sb = Superblock::parse(&b).map_err(|e| match e {
            SbError::Corrupt(m) => corrupt(&dev, m),
            SbError::Unsupported(f) => Error::Unsupported { dev: dev.name(), fs: "xfs".into(), feature: f },
        })?;
        if sb.dblocks.saturating_mul(u64::from(sb.blocksize)) > dev.len() {
            return Err(corrupt(&dev, format!("{} blocks of {} bytes do not fit the device of {} bytes", sb.dblocks, sb.blocksize, dev.len())));
        }
        let mut fs = XfsFs { dev, sb, log: log::LogState::Clean, maps: Mutex::default(), dirs: Mutex::default() };
        fs.log = fs.log_state();
        // AG 0's headers now; the others when statvfs needs them (hundreds of AGs cost a read
        // each, and files are found through inodes, not AG headers).
        fs.agf(0)?;
        fs.agi(0)?;
        let root = fs.inode(fs.sb.rootino)?;
        if root.kind() != 0o040000 {
            return Err(fs.corrupt("the root inode is not a directory".into()));
        }
        Ok(fs)
    }

    /// The superblock.
    pub fn superblock(&self) -> &Superblock {
        &self.sb
    }

    /// Whether the internal log is clean (read at open; see [`log`]).
    pub fn log_state(&self) -> log::LogState {
        match log::OnDevice::new(&self.dev, &self.sb) {
            Some(l) => log::state(&l, l.bbs()),
            None => log::LogState::Dirty,
        }
    }

    fn ag_sector(&self, agno: u32, sector: u64) -> Result<Vec<u8>> {
        let off = ((u64::from(agno) * u64::from(self.sb.agblocks)) << self.sb.blocklog) + sector * u64::from(self.sb.sectsize);
        Ok(read_vec(self.dev.as_ref(), off, usize::from(self.sb.sectsize))?)
    }

    /// The AGF of `agno`, checked.
    pub fn agf(&self, agno: u32) -> Result<ag::Agf> {
        ag::Agf::parse(&self.sb, agno, &self.ag_sector(agno, 1)?).map_err(|m| self.corrupt(m))
    }

    /// The AGI of `agno`, checked.
    pub fn agi(&self, agno: u32) -> Result<ag::Agi> {
        ag::Agi::parse(&self.sb, agno, &self.ag_sector(agno, 2)?).map_err(|m| self.corrupt(m))
    }

    /// Inode `ino`, checked.
    pub fn inode(&self, ino: Ino) -> Result<Inode> {
        let off = self.sb.ino_to_byte(ino).ok_or(Error::Os(Errno::NoEntry))?;
        let b = read_vec(self.dev.as_ref(), off, usize::from(self.sb.inodesize))?;
        let i = Inode::parse(&self.sb, ino, &b).map_err(|m| self.corrupt(m))?;
        if i.mode == 0 {
            return Err(Error::Os(Errno::NoEntry));
        }
        Ok(i)
    }

    fn corrupt(&self, msg: String) -> Error {
        corrupt(&self.dev, msg)
    }

    /// Reads `count` filesystem blocks from `fsb`.
    fn read_fsb(&self, fsb: u64, count: u64) -> Result<Vec<u8>> {
        let off = self.sb.fsb_to_byte(fsb, count).ok_or_else(|| self.corrupt(format!("block {fsb:#x} (+{count}) outside the filesystem")))?;
        Ok(read_vec(self.dev.as_ref(), off, (count << self.sb.blocklog) as usize)?)
    }

    /// The data fork map of `ino` (cached).
    fn data_map(&self, ino: &Inode) -> Result<Arc<Vec<Extent>>> {
        if let Some(m) = cached(&self.maps, ino.ino) {
            return Ok(m);
        }
        let m = match ino.format {
            Format::Extents | Format::Btree => Arc::new(bmap::extents(self, ino.ino, ino.format, &ino.data_fork, ino.nextents)?),
            _ => Arc::new(Vec::new()),
        };
        bounded_insert(&self.maps, ino.ino, m.clone());
        Ok(m)
    }

    /// Reads the run of `count` file blocks from `fblock` of a fork map; every block must be
    /// mapped (directory and attribute blocks have no holes).
    fn read_mapped(&self, map: &[Extent], fblock: u64, count: u64, what: &str) -> Result<(Vec<u8>, u64)> {
        let mut out = Vec::with_capacity((count << self.sb.blocklog) as usize);
        let mut daddr = None;
        let mut fb = fblock;
        while fb < fblock + count {
            let e = bmap::find(map, fb).map_err(|_| self.corrupt(format!("{what}: file block {fb} is a hole")))?;
            let n = (e.off + e.count - fb).min(fblock + count - fb);
            let start = e.block + (fb - e.off);
            if daddr.is_none() {
                daddr = self.sb.fsb_to_byte(start, 1).map(|b| b >> 9);
            }
            out.extend(self.read_fsb(start, n)?);
            fb += n;
        }
        Ok((out, daddr.unwrap_or(0)))
    }

    /// Every stored entry of directory `dir` (with `.` and `..` for block directories), cached.
    fn entries(&self, dir: Ino) -> Result<Arc<Vec<RawEntry>>> {
        if let Some(e) = cached(&self.dirs, dir) {
            return Ok(e);
        }
        let ino = self.inode(dir)?;
        if ino.kind() != 0o040000 {
            return Err(Error::Os(Errno::NotDir));
        }
        let mut out = Vec::new();
        match ino.format {
            Format::Local => {
                let (_, e) = dir2::sf::parse(&ino.data_fork, ino.size, self.sb.ftype).map_err(|m| self.corrupt(format!("directory {dir}: {m}")))?;
                out = e;
            }
            Format::Extents | Format::Btree => {
                let map = self.data_map(&ino)?;
                let per = u64::from(self.sb.dirblksize >> self.sb.blocklog);
                // The data space ends at di_size (leaf and free blocks lie beyond, uncounted),
                // as the kernel's readdir stops there.
                if ino.size > MAX_DIR_BYTES {
                    return Err(Error::Unsupported {
                        dev: self.dev.name(),
                        fs: "xfs".into(),
                        feature: format!("listing directory {dir} of {} bytes (at most {MAX_DIR_BYTES})", ino.size),
                    });
                }
                let leaf = ino.size.min(dir2::LEAF_OFFSET).div_ceil(u64::from(self.sb.blocksize));
                let mut starts = Vec::new();
                for e in map.iter().filter(|e| e.off < leaf) {
                    let first = e.off.div_ceil(per) * per;
                    let end = (e.off + e.count).min(leaf);
                    let mut s = first;
                    while s < end {
                        starts.push(s);
                        if starts.len() as u64 * u64::from(self.sb.dirblksize) > MAX_DIR_BYTES {
                            return Err(self.corrupt(format!("directory {dir}: larger than {MAX_DIR_BYTES} bytes")));
                        }
                        s += per;
                    }
                }
                let uuid = self.sb.meta_uuid;
                for s in starts {
                    let (b, daddr) = self.read_mapped(&map, s, per, &format!("directory {dir}"))?;
                    let owner = dir2::data::Owner { ino: dir, uuid: &uuid, daddr };
                    dir2::data::parse(&b, self.sb.ftype, self.sb.crc.then_some(&owner), &mut out)
                        .map_err(|m| self.corrupt(format!("directory {dir} block {s}: {m}")))?;
                }
            }
            f => return Err(self.corrupt(format!("directory {dir}: fork format {f:?}"))),
        }
        let e = Arc::new(out);
        bounded_insert(&self.dirs, dir, e.clone());
        Ok(e)
    }

    /// Looks `name` up in a block, leaf, node or btree directory through its hash index:
    /// only the index blocks on the way and the data blocks of candidate entries are read.
    fn lookup_hashed(&self, dir: &Inode, name: &[u8]) -> Result<Option<Ino>> {
        let map = self.data_map(dir)?;
        let per = u64::from(self.sb.dirblksize >> self.sb.blocklog);
        let leaf_fb = dir2::LEAF_OFFSET >> self.sb.blocklog;
        let hash = dir2::hash::hashname(name);
        let uuid = self.sb.meta_uuid;
        let what = format!("directory {}", dir.ino);
        let bad = |m: String| self.corrupt(format!("{what}: {m}"));
        let mut addrs = Vec::new();
        if bmap::find(&map, leaf_fb).is_err() {
            // Block directory: the index sits at the end of its only block.
            let (b, daddr) = self.read_mapped(&map, 0, per, &what)?;
            let o = dir2::data::Owner { ino: dir.ino, uuid: &uuid, daddr };
            let (_, end) = dir2::data::header(&b, self.sb.crc.then_some(&o)).map_err(bad)?;
            addrs.extend(dir2::data::block_leaf(&b, end).map_err(bad)?.into_iter().filter(|e| e.0 == hash).map(|e| e.1));
        } else {
            let (mut b, mut daddr) = self.read_mapped(&map, leaf_fb, per, &what)?;
            let mut depth = 0;
            while matches!(da::magic(&b), da::NODE_V4 | da::NODE_V5) {
                depth += 1;
                if depth > da::MAX_DEPTH {
                    return Err(bad("node tree too deep".into()));
                }
                let o = da::Owner { ino: dir.ino, uuid: &uuid, daddr };
                let (_, kids) = da::node(&b, self.sb.crc.then_some(&o), "directory").map_err(bad)?;
                // The first subtree whose highest hash reaches ours, else the last.
                let child = kids.iter().find(|k| k.0 >= hash).or(kids.last()).map_or(0, |k| k.1);
                (b, daddr) = self.read_mapped(&map, u64::from(child), per, &what)?;
            }
            let mut seen = HashSet::new();
            loop {
                let o = da::Owner { ino: dir.ino, uuid: &uuid, daddr };
                let entries = dir2::leaf::parse(&b, self.sb.crc.then_some(&o)).map_err(bad)?;
                addrs.extend(entries.iter().filter(|e| e.0 == hash).map(|e| e.1));
                // Equal hashes may continue in the next leaf.
                let next = da::forw(&b);
                if next == 0 || entries.last().is_none_or(|e| e.0 != hash) {
                    break;
                }
                if !seen.insert(next) || seen.len() > 1024 {
                    return Err(bad(format!("leaf sibling {next} reached twice (cycle)")));
                }
                (b, daddr) = self.read_mapped(&map, u64::from(next), per, &what)?;
            }
        }
        for addr in addrs.into_iter().filter(|&a| a != 0) {
            let byte = u64::from(addr) * 8;
            let db = byte / u64::from(self.sb.dirblksize);
            let at = (byte % u64::from(self.sb.dirblksize)) as usize;
            let (b, daddr) = self.read_mapped(&map, db * per, per, &what)?;
            let o = dir2::data::Owner { ino: dir.ino, uuid: &uuid, daddr };
            let (hdr, end) = dir2::data::header(&b, self.sb.crc.then_some(&o)).map_err(bad)?;
            let e = dir2::data::entry_at(&b, at, hdr, end, self.sb.ftype).map_err(bad)?;
            if e.name == name {
                return Ok(Some(e.ino));
            }
        }
        Ok(None)
    }

    /// The attribute fork map of `ino`.
    fn attr_map(&self, ino: &Inode) -> Result<Vec<Extent>> {
        match ino.aformat {
            Some(f @ (Format::Extents | Format::Btree)) => bmap::extents(self, ino.ino, f, &ino.attr_fork, ino.anextents),
            _ => Ok(Vec::new()),
        }
    }

    fn attr_block(&self, ino: &Inode, map: &[Extent], block: u64) -> Result<(Vec<u8>, u64)> {
        self.read_mapped(map, block, 1, &format!("attributes of inode {}", ino.ino))
    }

    fn remote_value(&self, ino: &Inode, map: &[Extent], block: u32, len: u32) -> Result<Vec<u8>> {
        if len > attr::MAX_VALUE {
            return Err(self.corrupt(format!("inode {}: attribute value of {len} bytes", ino.ino)));
        }
        let bs = self.sb.blocksize as usize;
        let mut out = Vec::with_capacity(len as usize);
        let mut fb = u64::from(block);
        let uuid = self.sb.meta_uuid;
        while out.len() < len as usize {
            let (b, daddr) = self.attr_block(ino, map, fb)?;
            if self.sb.crc {
                let o = da::Owner { ino: ino.ino, uuid: &uuid, daddr };
                let part = attr::remote_block(&b, &o, out.len() as u32).map_err(|m| self.corrupt(format!("inode {}: {m}", ino.ino)))?;
                if part.is_empty() {
                    return Err(self.corrupt(format!("inode {}: empty remote value block", ino.ino)));
                }
                let n = part.len().min(len as usize - out.len());
                out.extend_from_slice(&part[..n]);
            } else {
                let n = bs.min(len as usize - out.len());
                out.extend_from_slice(&b[..n]);
            }
            fb += 1;
        }
        Ok(out)
    }

    fn attrs(&self, ino: &Inode) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let bad = |m: String| self.corrupt(format!("inode {}: {m}", ino.ino));
        match ino.aformat {
            None => return Ok(Vec::new()),
            Some(Format::Local) => return attr::shortform(&ino.attr_fork).map_err(bad),
            Some(Format::Extents | Format::Btree) => {}
            Some(f) => return Err(bad(format!("attribute fork format {f:?}"))),
        }
        let map = self.attr_map(ino)?;
        if map.is_empty() {
            return Ok(Vec::new());
        }
        let uuid = self.sb.meta_uuid;
        // Descend from block 0 to the leftmost leaf.
        let mut blk = 0u64;
        let mut depth = 0;
        let (mut b, mut daddr) = self.attr_block(ino, &map, 0)?;
        while matches!(da::magic(&b), da::NODE_V4 | da::NODE_V5) {
            depth += 1;
            if depth > da::MAX_DEPTH {
                return Err(bad("attribute tree too deep".into()));
            }
            let o = da::Owner { ino: ino.ino, uuid: &uuid, daddr };
            let (_, kids) = da::node(&b, self.sb.crc.then_some(&o), "attribute").map_err(bad)?;
            blk = u64::from(kids[0].1);
            (b, daddr) = self.attr_block(ino, &map, blk)?;
        }
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        loop {
            if !seen.insert(blk) {
                return Err(bad(format!("attribute leaf {blk} reached twice (cycle)")));
            }
            let o = da::Owner { ino: ino.ino, uuid: &uuid, daddr };
            let (next, entries) = attr::leaf(&b, self.sb.crc.then_some(&o)).map_err(bad)?;
            for (name, v) in entries {
                let value = match v {
                    attr::Value::Local(v) => v,
                    attr::Value::Remote { block, len } => self.remote_value(ino, &map, block, len)?,
                };
                out.push((name, value));
            }
            if next == 0 {
                break;
            }
            blk = u64::from(next);
            (b, daddr) = self.attr_block(ino, &map, blk)?;
        }
        Ok(out)
    }
}

impl Source for XfsFs {
    fn sb(&self) -> &Superblock {
        &self.sb
    }

    fn read_tree_block(&self, kind: &TreeKind, ptr: u64) -> Result<Vec<u8>> {
        if !kind.long {
            return Err(self.corrupt(format!("{}: short-form trees are read per AG", kind.name)));
        }
        self.read_fsb(ptr, 1)
    }

    fn corrupt(&self, msg: String) -> Error {
        corrupt(&self.dev, msg)
    }
}

fn corrupt(dev: &Dev, msg: String) -> Error {
    Error::Corrupt { dev: dev.name(), fs: "xfs".into(), msg }
}

impl Filesystem for XfsFs {
    fn fs_type(&self) -> &str {
        "xfs"
    }

    fn warnings(&self) -> Vec<String> {
        match self.log {
            log::LogState::Clean => Vec::new(),
            log::LogState::Dirty => vec![format!(
                "{}: the XFS log is dirty (the guest was not shut down cleanly) and is not replayed: \
                 files changed just before the shutdown may read as they were before; to replay the \
                 log, mount and unmount the filesystem once with the Linux kernel (booting the guest \
                 does it)",
                self.dev.name()
            )],
        }
    }

    fn root(&self) -> Ino {
        self.sb.rootino
    }

    fn lookup(&self, dir: Ino, name: &[u8]) -> Result<Option<Ino>> {
        if name == b"." {
            return Ok(Some(dir));
        }
        let ino = self.inode(dir)?;
        if name == b".." && ino.format == Format::Local {
            let (parent, _) = dir2::sf::parse(&ino.data_fork, ino.size, self.sb.ftype).map_err(|m| self.corrupt(format!("directory {dir}: {m}")))?;
            return Ok(Some(parent));
        }
        match ino.format {
            Format::Extents | Format::Btree if !self.sb.ascii_ci => self.lookup_hashed(&ino, name),
            _ => {
                let entries = self.entries(dir)?;
                let exact = entries.iter().find(|e| e.name == name);
                // ASCII case-insensitive filesystems prefer an exact match, as the kernel does
                let found = exact.or_else(|| if self.sb.ascii_ci { entries.iter().find(|e| e.name.eq_ignore_ascii_case(name)) } else { None });
                Ok(found.map(|e| e.ino))
            }
        }
    }

    fn stat(&self, ino: Ino) -> Result<Stat> {
        let i = self.inode(ino)?;
        Ok(Stat {
            ino,
            mode: u32::from(i.mode),
            nlink: u64::from(i.nlink),
            uid: i.uid,
            gid: i.gid,
            rdev: i.rdev,
            size: i.size,
            blksize: u64::from(self.sb.blocksize.max(4096)),
            blocks: i.nblocks.saturating_mul(u64::from(self.sb.blocksize >> 9)),
            atime: i.atime,
            mtime: i.mtime,
            ctime: i.ctime,
        })
    }

    fn read_dir(&self, dir: Ino) -> Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for e in self.entries(dir)?.iter() {
            if e.name == b"." || e.name == b".." {
                continue;
            }
            let file_type = match dir2::file_type(e.ftype) {
                Some(t) => t,
                None => {
                    let i = self.inode(e.ino)?;
                    FileType::from_mode(u32::from(i.mode)).ok_or_else(|| self.corrupt(format!("inode {}: mode {:o}", e.ino, i.mode)))?
                }
            };
            out.push(DirEntry { name: e.name.clone(), ino: e.ino, file_type });
        }
        Ok(out)
    }

    fn read(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let i = self.inode(ino)?;
        match i.kind() {
            0o100000 => {}
            0o040000 => return Err(Error::Os(Errno::IsDir)),
            _ => return Err(Error::Os(Errno::Invalid)),
        }
        if offset >= i.size {
            return Ok(0);
        }
        let end = i.size.min(offset.saturating_add(buf.len() as u64));
        let want = (end - offset) as usize;
        if i.format == Format::Local {
            let src = i.data_fork.get(offset as usize..end as usize).ok_or_else(|| self.corrupt(format!("inode {ino}: local data past the fork")))?;
            buf[..want].copy_from_slice(src);
            return Ok(want);
        }
        let map = self.data_map(&i)?;
        let bl = self.sb.blocklog;
        let mut pos = offset;
        while pos < end {
            let at = (pos - offset) as usize;
            let fb = pos >> bl;
            match bmap::find(&map, fb) {
                Ok(e) => {
                    let run_end = end.min((e.off + e.count).saturating_mul(1 << bl));
                    let n = (run_end - pos) as usize;
                    if e.unwritten {
                        buf[at..at + n].fill(0);
                    } else {
                        let base = self.sb.fsb_to_byte(e.block, e.count).ok_or_else(|| self.corrupt(format!("inode {ino}: extent outside the filesystem")))?;
                        let dev_off = base + ((fb - e.off) << bl) + (pos & ((1 << bl) - 1));
                        self.dev.read_at(&mut buf[at..at + n], dev_off)?;
                    }
                    pos = run_end;
                }
                Err(next) => {
                    let run_end = end.min(next.saturating_mul(1 << bl).max(pos + 1));
                    buf[at..(run_end - offset) as usize].fill(0);
                    pos = run_end;
                }
            }
        }
        Ok(want)
    }

    fn readlink(&self, ino: Ino) -> Result<Vec<u8>> {
        let i = self.inode(ino)?;
        if i.kind() != 0o120000 {
            return Err(Error::Os(Errno::Invalid));
        }
        if i.size == 0 || i.size > symlink::MAXLEN {
            return Err(self.corrupt(format!("symlink {ino}: length {}", i.size)));
        }
        let size = i.size as usize;
        match i.format {
            Format::Local => i.data_fork.get(..size).map(<[u8]>::to_vec).ok_or_else(|| self.corrupt(format!("symlink {ino}: target past the fork"))),
            Format::Extents | Format::Btree => {
                // One buffer (and on v5 one header) per extent, as xfs_readlink_bmap reads.
                let map = self.data_map(&i)?;
                let mut out = Vec::with_capacity(size);
                let uuid = self.sb.meta_uuid;
                for e in map.iter() {
                    if out.len() >= size {
                        break;
                    }
                    if e.count > symlink::MAX_BLOCKS || e.off > symlink::MAX_BLOCKS {
                        return Err(self.corrupt(format!("symlink {ino}: extent of {} blocks at {}", e.count, e.off)));
                    }
                    let b = self.read_fsb(e.block, e.count)?;
                    let daddr = self.sb.fsb_to_byte(e.block, e.count).unwrap_or(0) >> 9;
                    let part = if self.sb.crc {
                        symlink::remote_block(&b, ino, &uuid, daddr, out.len() as u32).map_err(|m| self.corrupt(m))?
                    } else {
                        &b[..]
                    };
                    if part.is_empty() {
                        return Err(self.corrupt(format!("symlink {ino}: empty remote block")));
                    }
                    let n = part.len().min(size - out.len());
                    out.extend_from_slice(&part[..n]);
                }
                if out.len() < size {
                    return Err(self.corrupt(format!("symlink {ino}: {} of {size} bytes mapped", out.len())));
                }
                Ok(out)
            }
            f => Err(self.corrupt(format!("symlink {ino}: fork format {f:?}"))),
        }
    }

    fn xattrs(&self, ino: Ino) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let i = self.inode(ino)?;
        let mut out = Vec::new();
        for (name, value) in self.attrs(&i)? {
            if let Some(twin) = attr::acl_twin(&name, &value) {
                out.push(twin);
            }
            out.push((name, value));
        }
        Ok(out)
    }

    fn statvfs(&self) -> Result<StatVfs> {
        let sb = &self.sb;
        // xfs_fs_statfs: blocks less the internal log; free less the set-aside
        // (xfs_alloc_set_aside: 4 AGFL blocks + 4 per AG) and the free-space btree blocks.
        let mut allocbt = 0u64;
        for agno in 0..sb.agcount {
            let agf = self.agf(agno)?;
            let mut n = i64::from(agf.btreeblks);
            if sb.ro_compat & sb::RO_COMPAT_RMAPBT != 0 {
                n -= i64::from(agf.rmap_blocks) - 1;
            }
            allocbt = allocbt.saturating_add(n.max(0) as u64);
        }
        let blocks = sb.dblocks.saturating_sub(u64::from(sb.logblocks));
        let unavailable = (u64::from(sb.agcount) * 8).saturating_add(allocbt);
        let bfree = sb.fdblocks.saturating_sub(unavailable);
        let ialloc_blks = (64u64 >> sb.inopblog).max(1);
        let maxicount = if sb.imax_pct > 0 { (sb.dblocks * u64::from(sb.imax_pct) / 100 / ialloc_blks * ialloc_blks) << sb.inopblog } else { 0 };
        let mut files = sb.icount.saturating_add(bfree.saturating_mul(1 << sb.inopblog)).min((1 << 56) - 1);
        if maxicount > 0 {
            files = files.min(maxicount);
        }
        files = files.max(sb.icount);
        let ffree = files.saturating_sub(sb.icount.saturating_sub(sb.ifree));
        Ok(StatVfs {
            bsize: u64::from(sb.blocksize),
            frsize: u64::from(sb.blocksize),
            blocks,
            bfree,
            bavail: bfree,
            files,
            ffree,
            favail: ffree,
            fsid: 0,
            flag: ST_RDONLY,
            namemax: 255,
        })
    }
}
