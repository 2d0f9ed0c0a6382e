//! Btrfs, read side, our own code: [`sb`] the superblock (and its mirrors) with the
//! `sys_chunk_array`, [`csum`] block checksums, [`chunk`] the logical→physical map, [`node`] tree blocks, [`tree`] the
//! one generic tree search, [`root`] root items and subvolume refs, [`inode`] inode items and
//! refs, [`dir`] directory and xattr items, [`extent`] file extents, [`compress`] zlib, zstd
//! and LZO extents ([`lzo`] the LZO1X decoder).
//!
//! Supported: one device, SINGLE and DUP block groups (the first copy of a DUP tree block is
//! read, the second when the first fails its checksum), crc32c checksums, node sizes 4–64 KiB,
//! inline, regular and preallocated extents, holes (explicit and NO_HOLES), compressed
//! extents, xattrs, symlinks, subvolumes. Refused with [`Error::Unsupported`] naming what: RAID
//! profiles, several devices, xxhash64/sha256/blake2b checksums, extent tree v2, the raid stripe
//! tree, encrypted extents. Data checksums (the csum tree) are not verified; tree blocks are
//! (checksum, address, fsid, level, key order against the parent).
//!
//! Subvolumes: the filesystem opens on one subvolume as its root — the default one (the
//! `default` entry of the root tree directory, else the top level, id 5), or one chosen by id
//! or path with [`BtrfsFs::open_subvol`] (`subvolid=`/`subvol=`). Subvolumes linked inside it
//! are entered as the kernel does. Inode numbers are unique across subvolumes: an [`Ino`] is
//! `index << 48 | objectid`, the index 0 for the opened subvolume (so its inode numbers are
//! the kernel's) and 1, 2… for others in the order they are first met. [`BtrfsFs::subvolumes`]
//! lists every subvolume as `btrfs subvolume list` does.
//!
//! A log tree (fsyncs since the last commit) is not replayed: [`Filesystem::warnings`] names it.
//! `statvfs` is an approximation from the superblock (total and used bytes), not the kernel's
//! per-profile computation.

pub mod chunk;
pub mod compress;
pub mod csum;
pub mod dir;
pub mod extent;
pub mod inode;
pub mod lzo;
pub mod node;
pub mod root;
pub mod sb;
pub mod tree;

use self::chunk::{ChunkMap, MapError};
use self::extent::{Compression, Data, Extent, ExtentError};
use self::inode::Inode;
use self::node::{Key, Node};
use self::root::{RootItem, RootRef};
use self::sb::{SbError, Superblock};
use self::tree::Root;
use crate::disk::{read_vec, Dev};
use crate::fs::{DirEntry, Errno, Error, FileType, Filesystem, Ino, Result, Stat, StatVfs};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// `ST_RDONLY`.
const ST_RDONLY: u64 = 1;
/// The chunk tree's objectid for chunk items.
const FIRST_CHUNK_TREE_OBJECTID: u64 = 256;
/// The top-level subvolume (FS_TREE).
pub const FS_TREE_OBJECTID: u64 = 5;
/// The root tree directory (holding `default`).
const ROOT_TREE_DIR_OBJECTID: u64 = 6;
/// The first inode number; every subvolume's root directory.
const FIRST_FREE_OBJECTID: u64 = 256;
/// Bits of an [`Ino`] holding the objectid.
const INO_BITS: u32 = 48;
/// Subvolumes that can be told apart in inode numbers.
const MAX_SUBVOLS: usize = 1 << (64 - INO_BITS);
/// Bytes of tree blocks cached.
const NODE_CACHE_BYTES: usize = 32 << 20;
/// Cached extent maps and decompressed extents (each cache).
const CACHE_ENTRIES: usize = 256;
/// Longest symlink target read.
const MAX_SYMLINK: u64 = 65536;
/// Deepest directory path followed up to a subvolume's root.
const MAX_PATH_DEPTH: usize = 4096;

/// Which subvolume to open as the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subvol {
    /// The default subvolume (`btrfs subvolume set-default`), else the top level.
    Default,
    /// By id (`subvolid=`); 5 is the top level.
    Id(u64),
    /// By path from the top level (`subvol=`), as `btrfs subvolume list` prints it; `/` or
    /// empty is the top level.
    Path(String),
}

/// One subvolume, as `btrfs subvolume list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubvolInfo {
    /// Subvolume id.
    pub id: u64,
    /// Id of the subvolume it is linked in (`top level`).
    pub parent: u64,
    /// Path from the top level.
    pub path: String,
}

#[derive(Default)]
struct Subvols {
    /// Index → subvolume id (index 0: the opened one).
    ids: Vec<u64>,
    /// Root items read.
    roots: HashMap<u64, RootItem>,
}

/// Decompressed extents by (disk address, compressed length).
type Inflated = HashMap<(u64, u64), Arc<Vec<u8>>>;

/// A btrfs filesystem opened read-only on one subvolume (see the module documentation).
pub struct BtrfsFs {
    dev: Dev,
    sb: Superblock,
    chunks: ChunkMap,
    root_tree: Root,
    top: RootItem,
    subvols: Mutex<Subvols>,
    nodes: Mutex<HashMap<u64, Arc<Node>>>,
    extents: Mutex<HashMap<Ino, Arc<Vec<Extent>>>>,
    inflated: Mutex<Inflated>,
}

fn bounded_insert<K: std::hash::Hash + Eq, V>(m: &Mutex<HashMap<K, V>>, k: K, v: V, max: usize) {
    let mut m = m.lock().unwrap_or_else(|p| p.into_inner());
    if m.len() >= max {
        m.clear();
    }
    m.insert(k, v);
}

fn cached<K: std::hash::Hash + Eq, V: Clone>(m: &Mutex<HashMap<K, V>>, k: &K) -> Option<V> {
    m.lock().unwrap_or_else(|p| p.into_inner()).get(k).cloned()
}

fn corrupt(dev: &Dev, msg: String) -> Error {
    Error::Corrupt { dev: dev.name(), fs: "btrfs".into(), msg }
}

fn unsupported(dev: &Dev, feature: String) -> Error {
    Error::Unsupported { dev: dev.name(), fs: "btrfs".into(), feature }
}

/// Reads the superblock: the primary copy, else the valid mirror of the highest generation.
fn read_superblock(dev: &Dev) -> Result<Superblock> {
    let mut first_err = None;
    let mut best: Option<Superblock> = None;
    for (i, &off) in sb::OFFSETS.iter().enumerate() {
        if off + sb::SIZE as u64 > dev.len() {
            break;
        }
        let b = read_vec(dev.as_ref(), off, sb::SIZE)?;
        match Superblock::parse(&b) {
            Ok(s) if s.bytenr == off => {
                if i == 0 {
                    return Ok(s);
                }
                if best.as_ref().is_none_or(|b| b.generation < s.generation) {
                    best = Some(s);
                }
            }
            Ok(s) => first_err = first_err.or(Some(corrupt(dev, format!("superblock at {off:#x} claims to be at {:#x}", s.bytenr)))),
            Err(SbError::Unsupported(f)) if i == 0 => return Err(unsupported(dev, f)),
            Err(SbError::Unsupported(_)) => {}
            Err(SbError::Corrupt(m)) => first_err = first_err.or(Some(corrupt(dev, format!("superblock at {off:#x}: {m}")))),
        }
    }
    best.ok_or_else(|| first_err.unwrap_or_else(|| corrupt(dev, "no superblock".into())))
}

impl BtrfsFs {
    /// The directory-format items (`DIR_INDEX` entries, `XATTR_ITEM`s) of type `ty` of object
    /// `obj` in the tree at `root`, in key order; a malformed item's description as the inner
    /// error, for the caller to name.
    fn dir_items(&self, root: tree::Root, obj: u64, ty: u8) -> Result<std::result::Result<Vec<dir::DirItem>, String>> {
        let mut out = Vec::new();
        let mut bad = None;
        tree::search(self, root, Key::new(obj, ty, 0), Key::new(obj, ty, u64::MAX), &mut |_, d| {
            match dir::parse(d) {
                Ok(items) => out.extend(items),
                Err(m) => {
                    bad = Some(m);
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        Ok(bad.map_or(Ok(out), Err))
    }

    /// Opens the btrfs filesystem on `dev` read-only on its default subvolume.
    pub fn open(dev: Dev) -> Result<BtrfsFs> {
        BtrfsFs::open_subvol(dev, Subvol::Default)
    }

    /// Opens the btrfs filesystem on `dev` read-only with subvolume `which` as its root.
    pub fn open_subvol(dev: Dev, which: Subvol) -> Result<BtrfsFs> {
        let sb = read_superblock(&dev)?;
        let map_err = |e: MapError| match e {
            MapError::Corrupt(m) => corrupt(&dev, m),
            MapError::Unsupported(f) => unsupported(&dev, f),
        };
        let mut chunks = ChunkMap::default();
        for c in &sb.sys_chunks {
            chunks.insert(c.clone(), sb.devid).map_err(map_err)?;
        }
        if sb.num_devices != 1 {
            return Err(unsupported(&dev, format!("multiple devices ({} devices in the filesystem)", sb.num_devices)));
        }
        let root_tree = Root { bytenr: sb.root, level: sb.root_level };
        let placeholder = RootItem { root: root_tree, dirid: FIRST_FREE_OBJECTID, flags: 0 };
        let mut fs = BtrfsFs {
            dev,
            sb,
            chunks,
            root_tree,
            top: placeholder,
            subvols: Mutex::default(),
            nodes: Mutex::default(),
            extents: Mutex::default(),
            inflated: Mutex::default(),
        };
        // The chunk tree: every chunk (the SYSTEM ones again).
        let chunk_root = Root { bytenr: fs.sb.chunk_root, level: fs.sb.chunk_root_level };
        let mut found = Vec::new();
        tree::search(&fs, chunk_root, Key::new(FIRST_CHUNK_TREE_OBJECTID, node::CHUNK_ITEM, 0), Key::new(FIRST_CHUNK_TREE_OBJECTID, node::CHUNK_ITEM, u64::MAX), &mut |k, d| {
            found.push((k.offset, d.to_vec()));
            Ok(true)
        })?;
        for (logical, d) in found {
            let (c, _) = chunk::parse_item(logical, &d).map_err(|m| fs.corrupt(format!("chunk tree: {m}")))?;
            let e = fs.chunks.insert(c, fs.sb.devid);
            e.map_err(|e| match e {
                MapError::Corrupt(m) => fs.corrupt(m),
                MapError::Unsupported(f) => unsupported(&fs.dev, f),
            })?;
        }
        let id = match which {
            Subvol::Default => fs.default_subvol()?,
            Subvol::Id(id) => id,
            Subvol::Path(p) => {
                let p = p.trim_matches('/');
                if p.is_empty() {
                    FS_TREE_OBJECTID
                } else {
                    let list = fs.subvolumes()?;
                    list.iter().find(|s| s.path == p).map(|s| s.id).ok_or_else(|| unsupported_subvol(&fs.dev, &format!("no subvolume at path {p}")))?
                }
            }
        };
        // subvolumes: the top level and ids from 256 (lower ids are internal trees)
        if id != FS_TREE_OBJECTID && !(FIRST_FREE_OBJECTID..=u64::MAX - 256).contains(&id) {
            return Err(unsupported_subvol(&fs.dev, &format!("{id} is not a subvolume id")));
        }
        fs.top = fs.root_item(id)?.ok_or_else(|| unsupported_subvol(&fs.dev, &format!("no subvolume with id {id}")))?;
        fs.subvols.lock().unwrap_or_else(|p| p.into_inner()).ids.push(id);
        let st = fs.stat(fs.root())?;
        if st.file_type() != Some(FileType::Directory) {
            return Err(fs.corrupt(format!("subvolume {id}: the root inode is not a directory")));
        }
        Ok(fs)
    }

    /// The superblock.
    pub fn superblock(&self) -> &Superblock {
        &self.sb
    }

    /// The chunk map.
    pub fn chunk_map(&self) -> &ChunkMap {
        &self.chunks
    }

    /// The id of the subvolume opened as the root.
    pub fn subvol_id(&self) -> u64 {
        self.subvols.lock().unwrap_or_else(|p| p.into_inner()).ids.first().copied().unwrap_or(FS_TREE_OBJECTID)
    }

    /// The default subvolume's id (`btrfs subvolume get-default`).
    pub fn default_subvol(&self) -> Result<u64> {
        let hash = dir::name_hash(b"default");
        let Some(d) = tree::get(self, self.root_tree, Key::new(ROOT_TREE_DIR_OBJECTID, node::DIR_ITEM, hash))? else {
            return Ok(FS_TREE_OBJECTID);
        };
        let items = dir::parse(&d).map_err(|m| self.corrupt(format!("root tree directory: {m}")))?;
        Ok(items.iter().find(|i| i.name == b"default").map(|i| i.location.objectid).unwrap_or(FS_TREE_OBJECTID))
    }

    /// Every subvolume but the top level, by id, with the path `btrfs subvolume list` prints.
    pub fn subvolumes(&self) -> Result<Vec<SubvolInfo>> {
        let mut refs: HashMap<u64, (u64, RootRef)> = HashMap::new();
        let mut ids = Vec::new();
        tree::search(self, self.root_tree, Key::new(FIRST_FREE_OBJECTID, 0, 0), Key::new(u64::MAX, u8::MAX, u64::MAX), &mut |k, d| {
            if k.ty == node::ROOT_BACKREF && !refs.contains_key(&k.objectid) {
                let r = RootRef::parse(d).map_err(|m| self.corrupt(format!("root backref of subvolume {}: {m}", k.objectid)))?;
                refs.insert(k.objectid, (k.offset, r));
                ids.push(k.objectid);
            }
            Ok(true)
        })?;
        let mut out = Vec::new();
        for id in ids {
            let Some((parent, _)) = refs.get(&id) else { continue };
            // The chain of parents up to the top level, bounded.
            let mut parts = Vec::new();
            let mut cur = id;
            let mut ok = true;
            for _ in 0..=refs.len() {
                if cur == FS_TREE_OBJECTID {
                    break;
                }
                let Some((p, r)) = refs.get(&cur) else {
                    ok = false; // an orphaned (deleted) subvolume's parent
                    break;
                };
                let mut part = self.dir_path(*p, r.dirid)?;
                part.push(String::from_utf8_lossy(&r.name).into_owned());
                parts.push(part.join("/"));
                cur = *p;
            }
            if !ok || cur != FS_TREE_OBJECTID {
                continue;
            }
            parts.reverse();
            out.push(SubvolInfo { id, parent: *parent, path: parts.join("/") });
        }
        Ok(out)
    }

    /// The names from subvolume `subvol`'s root directory down to directory `dirid`.
    fn dir_path(&self, subvol: u64, dirid: u64) -> Result<Vec<String>> {
        let ri = self.root_item(subvol)?.ok_or_else(|| self.corrupt(format!("subvolume {subvol} has a ref but no root item")))?;
        let mut names = Vec::new();
        let mut cur = dirid;
        while cur != ri.dirid {
            if names.len() >= MAX_PATH_DEPTH {
                return Err(self.corrupt(format!("subvolume {subvol}: directory {dirid} is more than {MAX_PATH_DEPTH} levels deep (a cycle?)")));
            }
            let (k, d) = tree::first(self, ri.root, Key::new(cur, node::INODE_REF, 0), Key::new(cur, node::INODE_REF, u64::MAX))?
                .ok_or_else(|| self.corrupt(format!("subvolume {subvol}: directory {cur} has no inode ref")))?;
            let refs = inode::parse_refs(&d).map_err(|m| self.corrupt(format!("subvolume {subvol}: inode {cur}: {m}")))?;
            let (_, name) = refs.first().ok_or_else(|| self.corrupt(format!("subvolume {subvol}: inode {cur}: empty inode ref")))?;
            names.push(String::from_utf8_lossy(name).into_owned());
            cur = k.offset;
        }
        names.reverse();
        Ok(names)
    }

    /// The root item of tree `id`, cached.
    fn root_item(&self, id: u64) -> Result<Option<RootItem>> {
        if let Some(r) = self.subvols.lock().unwrap_or_else(|p| p.into_inner()).roots.get(&id) {
            return Ok(Some(*r));
        }
        let Some((_, d)) = tree::first(self, self.root_tree, Key::new(id, node::ROOT_ITEM, 0), Key::new(id, node::ROOT_ITEM, u64::MAX))? else {
            return Ok(None);
        };
        let r = RootItem::parse(&d).map_err(|m| self.corrupt(format!("root item of tree {id}: {m}")))?;
        let mut s = self.subvols.lock().unwrap_or_else(|p| p.into_inner());
        if s.roots.len() < MAX_SUBVOLS {
            s.roots.insert(id, r);
        }
        Ok(Some(r))
    }

    /// The [`Ino`] of `objectid` in subvolume `subvol`.
    fn ino(&self, subvol: u64, objectid: u64) -> Result<Ino> {
        if objectid >> INO_BITS != 0 {
            return Err(self.corrupt(format!("subvolume {subvol}: inode number {objectid} is too large")));
        }
        let mut s = self.subvols.lock().unwrap_or_else(|p| p.into_inner());
        let idx = match s.ids.iter().position(|&i| i == subvol) {
            Some(i) => i,
            None if s.ids.len() < MAX_SUBVOLS => {
                s.ids.push(subvol);
                s.ids.len() - 1
            }
            None => return Err(unsupported(&self.dev, format!("more than {MAX_SUBVOLS} subvolumes in one walk"))),
        };
        Ok(((idx as u64) << INO_BITS) | objectid)
    }

    /// The subvolume id, its tree and the objectid of an [`Ino`].
    fn locate(&self, ino: Ino) -> Result<(u64, RootItem, u64)> {
        let idx = (ino >> INO_BITS) as usize;
        let obj = ino & ((1 << INO_BITS) - 1);
        if idx == 0 {
            return Ok((self.subvol_id(), self.top, obj));
        }
        let id = self.subvols.lock().unwrap_or_else(|p| p.into_inner()).ids.get(idx).copied().ok_or(Error::Os(Errno::NoEntry))?;
        let ri = self.root_item(id)?.ok_or(Error::Os(Errno::NoEntry))?;
        Ok((id, ri, obj))
    }

    /// The inode item of `ino`.
    fn inode(&self, ino: Ino) -> Result<(u64, RootItem, u64, Inode)> {
        let (id, ri, obj) = self.locate(ino)?;
        let d = tree::get(self, ri.root, Key::new(obj, node::INODE_ITEM, 0))?.ok_or(Error::Os(Errno::NoEntry))?;
        let i = Inode::parse(&d).map_err(|m| self.corrupt(format!("subvolume {id}: inode {obj}: {m}")))?;
        Ok((id, ri, obj, i))
    }

    /// The [`Ino`] a directory entry of subvolume `subvol` names.
    fn target(&self, subvol: u64, e: &dir::DirItem) -> Result<Ino> {
        match e.location.ty {
            node::INODE_ITEM => self.ino(subvol, e.location.objectid),
            node::ROOT_ITEM => self.ino(e.location.objectid, FIRST_FREE_OBJECTID),
            t => Err(self.corrupt(format!("subvolume {subvol}: entry {:?} has a location of type {t}", String::from_utf8_lossy(&e.name)))),
        }
    }

    fn corrupt(&self, msg: String) -> Error {
        corrupt(&self.dev, msg)
    }

    /// Reads `buf.len()` bytes at logical address `logical` (first copy), across chunks.
    fn read_logical(&self, logical: u64, buf: &mut [u8]) -> Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let at = logical.checked_add(done as u64).ok_or_else(|| self.corrupt(format!("logical address {logical:#x} overflows")))?;
            let (phys, rem) = self.map(at)?;
            let n = (buf.len() - done).min(rem.min(usize::MAX as u64) as usize);
            let p = phys[0];
            if p.saturating_add(n as u64) > self.dev.len() {
                return Err(self.corrupt(format!("logical address {at:#x} maps past the end of the device")));
            }
            self.dev.read_at(&mut buf[done..done + n], p)?;
            done += n;
        }
        Ok(())
    }

    fn map(&self, logical: u64) -> Result<(Vec<u64>, u64)> {
        self.chunks.map(logical).map_err(|e| match e {
            MapError::Corrupt(m) => self.corrupt(m),
            MapError::Unsupported(f) => unsupported(&self.dev, f),
        })
    }

    /// The file extents of `ino` (cached), by file offset.
    fn extent_map(&self, ino: Ino, ri: &RootItem, obj: u64) -> Result<Arc<Vec<Extent>>> {
        if let Some(m) = cached(&self.extents, &ino) {
            return Ok(m);
        }
        let mut out = Vec::new();
        let mut err = None;
        tree::search(self, ri.root, Key::new(obj, node::EXTENT_DATA, 0), Key::new(obj, node::EXTENT_DATA, u64::MAX), &mut |k, d| {
            match extent::parse(k.offset, d) {
                Ok(e) => out.push(e),
                Err(e) => {
                    err = Some(e);
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        match err {
            Some(ExtentError::Corrupt(m)) => return Err(self.corrupt(format!("inode {obj}: {m}"))),
            Some(ExtentError::Unsupported(f)) => return Err(unsupported(&self.dev, f)),
            None => {}
        }
        let m = Arc::new(out);
        bounded_insert(&self.extents, ino, m.clone(), CACHE_ENTRIES);
        Ok(m)
    }

    /// The uncompressed bytes of a compressed extent (cached).
    fn inflate(&self, obj: u64, e: &Extent) -> Result<Arc<Vec<u8>>> {
        let bad = |m: String| self.corrupt(format!("inode {obj}: extent at file offset {}: {m}", e.file_off));
        let (key, input) = match &e.data {
            Data::Inline(d) => (None, d.clone()),
            Data::Regular { disk_bytenr, disk_num_bytes, .. } => {
                let k = (*disk_bytenr, *disk_num_bytes);
                if let Some(v) = cached(&self.inflated, &k) {
                    return Ok(v);
                }
                if *disk_num_bytes > compress::MAX_RAM_BYTES {
                    return Err(bad(format!("{disk_num_bytes} compressed bytes")));
                }
                let mut b = vec![0u8; *disk_num_bytes as usize];
                self.read_logical(*disk_bytenr, &mut b)?;
                (Some(k), b)
            }
            Data::Prealloc => return Ok(Arc::new(vec![0; e.ram_bytes.min(compress::MAX_RAM_BYTES) as usize])),
        };
        let out = Arc::new(compress::decompress(e.compression, &input, e.ram_bytes, self.sb.sectorsize).map_err(bad)?);
        if let Some(k) = key {
            bounded_insert(&self.inflated, k, out.clone(), CACHE_ENTRIES);
        }
        Ok(out)
    }
}

fn unsupported_subvol(dev: &Dev, what: &str) -> Error {
    Error::Unsupported { dev: dev.name(), fs: "btrfs".into(), feature: format!("mounting a subvolume: {what}") }
}

impl tree::Source for BtrfsFs {
    fn node(&self, bytenr: u64, level: u8) -> Result<Arc<Node>> {
        if let Some(n) = cached(&self.nodes, &bytenr) {
            if n.level != level {
                return Err(self.corrupt(format!("tree block {bytenr:#x}: level {}, expected {level}", n.level)));
            }
            return Ok(n);
        }
        let size = self.sb.nodesize as usize;
        let (phys, rem) = self.map(bytenr)?;
        if rem < size as u64 {
            return Err(self.corrupt(format!("tree block {bytenr:#x} crosses the end of its chunk")));
        }
        let mut first_err = None;
        for p in phys {
            if p.saturating_add(size as u64) > self.dev.len() {
                first_err = first_err.or(Some(self.corrupt(format!("tree block {bytenr:#x} maps past the end of the device"))));
                continue;
            }
            let b = read_vec(self.dev.as_ref(), p, size)?;
            match Node::parse(b, bytenr, Some(level), &self.sb.meta_uuid) {
                Ok(n) => {
                    let n = Arc::new(n);
                    bounded_insert(&self.nodes, bytenr, n.clone(), NODE_CACHE_BYTES / size);
                    return Ok(n);
                }
                Err(e) => first_err = first_err.or(Some(self.corrupt(e.msg))),
            }
        }
        Err(first_err.unwrap_or_else(|| self.corrupt(format!("tree block {bytenr:#x}: no copy"))))
    }

    fn corrupt(&self, msg: String) -> Error {
        corrupt(&self.dev, msg)
    }
}

impl Filesystem for BtrfsFs {
    fn fs_type(&self) -> &str {
        "btrfs"
    }

    fn warnings(&self) -> Vec<String> {
        if self.sb.log_root == 0 {
            return Vec::new();
        }
        vec![format!(
            "{}: the btrfs log tree holds fsyncs not yet committed (the guest was not shut down cleanly) and is not \
             replayed: files synced just before the shutdown may read as they were before; to replay the log, mount \
             and unmount the filesystem once with the Linux kernel (booting the guest does it)",
            self.dev.name()
        )]
    }

    fn root(&self) -> Ino {
        self.top.dirid
    }

    fn lookup(&self, dir: Ino, name: &[u8]) -> Result<Option<Ino>> {
        let (id, ri, obj, i) = self.inode(dir)?;
        if i.kind() != 0o040000 {
            return Err(Error::Os(Errno::NotDir));
        }
        if name == b"." {
            return Ok(Some(dir));
        }
        if name == b".." {
            if obj == ri.dirid {
                if id == self.subvol_id() {
                    return Ok(Some(dir));
                }
                let Some((k, d)) = tree::first(self, self.root_tree, Key::new(id, node::ROOT_BACKREF, 0), Key::new(id, node::ROOT_BACKREF, u64::MAX))? else {
                    return Ok(Some(self.root()));
                };
                let r = RootRef::parse(&d).map_err(|m| self.corrupt(format!("root backref of subvolume {id}: {m}")))?;
                return self.ino(k.offset, r.dirid).map(Some);
            }
            let (k, _) = tree::first(self, ri.root, Key::new(obj, node::INODE_REF, 0), Key::new(obj, node::INODE_REF, u64::MAX))?
                .ok_or_else(|| self.corrupt(format!("subvolume {id}: directory {obj} has no inode ref")))?;
            return self.ino(id, k.offset).map(Some);
        }
        let Some(d) = tree::get(self, ri.root, Key::new(obj, node::DIR_ITEM, dir::name_hash(name)))? else { return Ok(None) };
        let items = dir::parse(&d).map_err(|m| self.corrupt(format!("subvolume {id}: directory {obj}: {m}")))?;
        match items.iter().find(|e| e.name == name) {
            Some(e) => self.target(id, e).map(Some),
            None => Ok(None),
        }
    }

    fn stat(&self, ino: Ino) -> Result<Stat> {
        let (_, _, _, i) = self.inode(ino)?;
        let ss = u64::from(self.sb.sectorsize);
        Ok(Stat {
            ino,
            mode: i.mode,
            nlink: u64::from(i.nlink),
            uid: i.uid,
            gid: i.gid,
            rdev: if matches!(i.kind(), 0o020000 | 0o060000) { i.st_rdev() } else { 0 },
            size: i.size,
            blksize: ss,
            blocks: i.nbytes.div_ceil(ss).saturating_mul(ss) >> 9,
            atime: i.atime,
            mtime: i.mtime,
            ctime: i.ctime,
        })
    }

    fn read_dir(&self, dir: Ino) -> Result<Vec<DirEntry>> {
        let (id, ri, obj, i) = self.inode(dir)?;
        if i.kind() != 0o040000 {
            return Err(Error::Os(Errno::NotDir));
        }
        let raw = self.dir_items(ri.root, obj, node::DIR_INDEX)?.map_err(|m| self.corrupt(format!("subvolume {id}: directory {obj}: {m}")))?;
        let mut out = Vec::with_capacity(raw.len());
        for e in raw {
            if e.ty == dir::FT_XATTR {
                continue;
            }
            let file_type = dir::file_type(e.ty).ok_or_else(|| self.corrupt(format!("subvolume {id}: directory {obj}: entry type {}", e.ty)))?;
            let ino = self.target(id, &e)?;
            out.push(DirEntry { name: e.name, ino, file_type });
        }
        Ok(out)
    }

    fn read(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let (_, ri, obj, i) = self.inode(ino)?;
        match i.kind() {
            0o100000 | 0o120000 => {}
            0o040000 => return Err(Error::Os(Errno::IsDir)),
            _ => return Err(Error::Os(Errno::Invalid)),
        }
        if offset >= i.size {
            return Ok(0);
        }
        let end = i.size.min(offset.saturating_add(buf.len() as u64));
        let want = (end - offset) as usize;
        buf[..want].fill(0);
        let map = self.extent_map(ino, &ri, obj)?;
        let start = map.partition_point(|e| e.file_off.saturating_add(e.len) <= offset);
        for e in &map[start..] {
            if e.file_off >= end {
                break;
            }
            let s = e.file_off.max(offset);
            let t = e.file_off.saturating_add(e.len).min(end);
            if s >= t {
                continue;
            }
            let dst = &mut buf[(s - offset) as usize..(t - offset) as usize];
            let into = s - e.file_off; // offset into the file's part of the extent
            match (&e.data, e.compression) {
                (Data::Prealloc, _) | (Data::Regular { disk_bytenr: 0, .. }, _) => {}
                (Data::Inline(d), Compression::None) => {
                    let src = d.get(into as usize..).unwrap_or(&[]);
                    let n = src.len().min(dst.len());
                    dst[..n].copy_from_slice(&src[..n]);
                }
                (Data::Regular { disk_bytenr, offset: eoff, .. }, Compression::None) => {
                    let at = disk_bytenr.checked_add(*eoff).and_then(|a| a.checked_add(into)).ok_or_else(|| self.corrupt(format!("inode {obj}: extent address overflows")))?;
                    self.read_logical(at, dst)?;
                }
                (data, _) => {
                    let full = self.inflate(obj, e)?;
                    let eoff = if let Data::Regular { offset, .. } = data { *offset } else { 0 };
                    let from = eoff.saturating_add(into).min(full.len() as u64) as usize;
                    let src = &full[from..];
                    let n = src.len().min(dst.len());
                    dst[..n].copy_from_slice(&src[..n]);
                }
            }
        }
        Ok(want)
    }

    fn readlink(&self, ino: Ino) -> Result<Vec<u8>> {
        let (_, _, obj, i) = self.inode(ino)?;
        if i.kind() != 0o120000 {
            return Err(Error::Os(Errno::Invalid));
        }
        if i.size == 0 || i.size > MAX_SYMLINK {
            return Err(self.corrupt(format!("symlink {obj}: length {}", i.size)));
        }
        let mut b = vec![0u8; i.size as usize];
        let n = self.read(ino, 0, &mut b)?;
        b.truncate(n);
        Ok(b)
    }

    fn xattrs(&self, ino: Ino) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let (id, ri, obj, _) = self.inode(ino)?;
        let items = self.dir_items(ri.root, obj, node::XATTR_ITEM)?.map_err(|m| self.corrupt(format!("subvolume {id}: xattrs of inode {obj}: {m}")))?;
        Ok(items.into_iter().map(|e| (e.name, e.data)).collect())
    }

    fn statvfs(&self) -> Result<StatVfs> {
        let ss = u64::from(self.sb.sectorsize);
        let blocks = self.sb.total_bytes / ss;
        let free = self.sb.total_bytes.saturating_sub(self.sb.bytes_used) / ss;
        let fsid = u64::from_le_bytes(crate::bytes::array(&self.sb.fsid, 0)) ^ u64::from_le_bytes(crate::bytes::array(&self.sb.fsid, 8));
        Ok(StatVfs { bsize: ss, frsize: ss, blocks, bfree: free, bavail: free, files: 0, ffree: 0, favail: 0, fsid, flag: ST_RDONLY, namemax: 255 })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ino_layout() {
        assert_eq!(super::MAX_SUBVOLS, 65536);
    }
}
