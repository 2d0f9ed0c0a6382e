//! Names added to and removed from directories whose entries live in blocks (the kernel's
//! `xfs_dir2_block_addname`/`removename`, `xfs_dir2_leaf_*` and `xfs_dir2_node_*`), and a
//! shortform directory that outgrew its inode turned into a block directory
//! (`xfs_dir2_sf_to_block`).
//!
//! - Block form: the entry goes to the start of the longest free region, its leaf entry in
//!   hash order in the block's tail (stale leaf entries are compacted away then); a removed
//!   entry's space merges with its free neighbours and its leaf entry goes stale.
//! - Leaf and node forms: the leaf entry is found through the hash index (da node blocks down
//!   to the LEAFN blocks); removal marks it stale, updates the data block, its best-free value
//!   (the LEAF1 block's table, or the free index block of node form) and frees a data block
//!   left empty (`xfs_dir2_shrink_inode`: its blocks unmapped, the size cut back when it was
//!   the last one), and a free index block left describing none. Adding uses a data block the
//!   best-free values say has room, inserts the leaf entry in hash order (compacting stale
//!   entries when the leaf is full) and fixes the node keys above a LEAFN block. When no data
//!   block has room a new one is mapped at the first unused data block (`xfs_dir2_grow_inode`)
//!   and the LEAF1 table or the free index block grows with it — a new free index block when
//!   it is the first of the data blocks one describes (`xfs_dir3_free_get_buf`).
//! - A full block directory becomes a leaf directory (`xfs_dir2_block_to_leaf`) first, a
//!   leaf directory whose LEAF1 block is full a node directory (`xfs_dir2_leaf_to_node`), and
//!   a full LEAFN block splits in two, its upper half in a new leaf keyed in the parent node;
//!   full node blocks split on the way up and a full root makes the tree a level deeper, the
//!   root staying at the leaf offset (the da btree's [`da::add_child`]).
//! - Removal never joins leaf or node blocks (the kernel's `xfs_da3_join` merges a leaf
//!   under a quarter full into a sibling): a leaf keeps its stale entries, whose hashes keep
//!   the keys above it valid.
//! - A directory block of several filesystem blocks is allocated in one piece when the free
//!   space allows, else in pieces as the kernel does (`xfs_da_grow_inode_int`); one whose
//!   blocks lie in several extents (the kernel's or ours) is read and written piece by piece,
//!   its CRC over the whole, its address its first piece's.
//!
//! Refused with [`Error::Unsupported`] by name: the block map changes
//! [`crate::fs::xfs::bmap_edit`] refuses. Formats are never converted down.

use super::block;
use super::data::{self, Entries};
use super::free::{self, FreeBlock, NULLDATAOFF};
use super::hash::hashname;
use super::leaf::{self, Leaf};
use super::sf::{data_entsize, SfDir};
use super::{RawEntry, LEAF_OFFSET};
use crate::fs::xfs::alloc::Within;
use crate::fs::xfs::bmap::{self, Extent};
use crate::fs::xfs::bmap_edit::Remap;
use crate::fs::xfs::buf::Stamp;
use crate::fs::xfs::bunmap::TreeSrc;
use crate::fs::xfs::da;
use crate::fs::xfs::inode::{self, Format, Inode};
use crate::fs::xfs::writer::XfsWriter;
use crate::fs::{Errno, Error, Result};

/// A directory in block, leaf or node format open for an edit.
struct Dir {
    ino: u64,
    core: Inode,
    map: Vec<Extent>,
    /// Filesystem blocks per directory block.
    per: u64,
}

/// One directory block: where its bytes lie on the device (byte offset and length of each
/// piece, in order: one unless its filesystem blocks are in several extents), its 512-byte
/// address (its first piece's, as the kernel's buffer names it), its bytes.
struct DirBlock {
    segs: Vec<(u64, usize)>,
    daddr: u64,
    b: Vec<u8>,
}

/// The 512-byte address of a directory block whose pieces are `segs`: its first piece's.
fn daddr_of(segs: &[(u64, usize)]) -> u64 {
    segs.first().map_or(0, |s| s.0 >> 9)
}

impl DirBlock {
    /// A new block's bytes at `segs`.
    fn new(segs: Vec<(u64, usize)>, b: Vec<u8>) -> DirBlock {
        DirBlock { daddr: daddr_of(&segs), segs, b }
    }
}

/// How a directory's blocks are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Block,
    Leaf,
    Node,
}

/// Where a name was found in a leaf or node directory.
struct Found {
    /// The leaf block (file block) and the entry's index in it.
    leaf_fb: u64,
    idx: usize,
    /// The data block (directory block number) and the entry's offset in it.
    db: u64,
    at: usize,
}

/// A directory's leaf space as a da btree ([`da::Fork`]): the node and leaf blocks from the
/// leaf offset, new ones at its first unmapped block (`xfs_dir2_grow_inode` of the leaf space).
struct DirDa<'a> {
    w: &'a mut XfsWriter,
    d: &'a mut Dir,
}

impl da::Fork for DirDa<'_> {
    fn crc(&self) -> bool {
        self.w.sb.crc
    }

    fn ino(&self) -> u64 {
        self.d.ino
    }

    fn uuid(&self) -> [u8; 16] {
        self.w.sb.meta_uuid
    }

    fn root(&self) -> u32 {
        self.w.leaf_fb() as u32
    }

    fn what(&self) -> &'static str {
        "directory"
    }

    fn read(&mut self, fb: u32) -> Result<(Vec<u8>, u64)> {
        let b = self.w.dir_block(self.d, u64::from(fb))?;
        Ok((b.b, b.daddr))
    }

    fn write(&mut self, fb: u32, b: Vec<u8>) -> Result<()> {
        let segs = self.w.dir_segs(self.d, u64::from(fb))?;
        self.w.dir_put(DirBlock::new(segs, b), leaf::STAMP);
        Ok(())
    }

    fn grow(&mut self) -> Result<(u32, u64)> {
        let (from, end) = (self.w.leaf_fb(), self.w.free_fb(self.d, 0));
        let fb = self.w.first_unused(self.d, from, end)?;
        let segs = self.w.dir_grow(self.d, fb)?;
        Ok((fb as u32, daddr_of(&segs)))
    }

    fn corrupt(&self, m: String) -> Error {
        self.w.bad_dir(self.d, m)
    }
}

impl XfsWriter {
    fn dir_open(&self, ino: u64) -> Result<Dir> {
        let (_, blk, at) = self.inode_block(ino)?;
        let n = usize::from(self.sb.inodesize);
        let core = Inode::parse(&self.sb, ino, &blk[at..at + n]).map_err(|m| self.corrupt(m))?;
        if !matches!(core.format, Format::Extents | Format::Btree) {
            return Err(self.corrupt(format!("directory {ino}: data fork format {:?} where blocks were expected", core.format)));
        }
        let map = bmap::extents(&TreeSrc { w: self }, ino, core.format, &core.data_fork, core.nextents)?;
        let per = u64::from(self.sb.dirblksize >> self.sb.blocklog).max(1);
        Ok(Dir { ino, core, map, per })
    }

    fn leaf_fb(&self) -> u64 {
        LEAF_OFFSET >> self.sb.blocklog
    }

    fn free_fb(&self, d: &Dir, db: u64) -> u64 {
        let first = free::FREE_OFFSET / u64::from(self.sb.dirblksize);
        (first + db / free::max_bests(self.sb.dirblksize as usize, self.sb.crc) as u64) * d.per
    }

    /// The filesystem blocks of directory block `fb`: (first block, count) of each piece, in
    /// order (more than one when the block lies in several extents).
    fn dir_fsbs(&self, d: &Dir, fb: u64) -> Result<Vec<(u64, u64)>> {
        let mut out = Vec::new();
        let mut at = fb;
        while at < fb + d.per {
            let e = bmap::find(&d.map, at).map_err(|_| self.corrupt(format!("directory {}: file block {at} of block {fb} is a hole", d.ino)))?;
            let n = (e.off + e.count).min(fb + d.per) - at;
            out.push((e.block + (at - e.off), n));
            at += n;
        }
        Ok(out)
    }

    /// Where directory block `fb`'s bytes lie on the device: (byte offset, length) of each
    /// piece.
    fn dir_segs(&self, d: &Dir, fb: u64) -> Result<Vec<(u64, usize)>> {
        let mut out = Vec::new();
        for (fsb, n) in self.dir_fsbs(d, fb)? {
            let off = self.sb.fsb_to_byte(fsb, n).ok_or_else(|| self.corrupt(format!("directory {}: block {fsb:#x} outside the filesystem", d.ino)))?;
            out.push((off, (n << self.sb.blocklog) as usize));
        }
        Ok(out)
    }

    /// Directory block at file block `fb`, its pieces read in order.
    fn dir_block(&self, d: &Dir, fb: u64) -> Result<DirBlock> {
        let segs = self.dir_segs(d, fb)?;
        let mut b = Vec::with_capacity(self.sb.dirblksize as usize);
        for &(off, len) in &segs {
            b.extend(self.bufs.read(off, len)?);
        }
        Ok(DirBlock::new(segs, b))
    }

    /// Puts directory block `blk` back (stamped whole on v5; each piece at its place).
    fn dir_put(&mut self, blk: DirBlock, stamp: Stamp) {
        match blk.segs.as_slice() {
            [(off, _)] => self.bufs.put(*off, blk.b, Some(stamp)),
            segs => self.bufs.put_pieces(segs, blk.b, Some(stamp)),
        }
    }

    fn bad_dir(&self, d: &Dir, m: String) -> Error {
        self.corrupt(format!("directory {}: {m}", d.ino))
    }

    fn data_of(&self, d: &Dir, blk: &DirBlock) -> Result<Entries> {
        let uuid = self.sb.meta_uuid;
        let o = data::Owner { ino: d.ino, uuid: &uuid, daddr: blk.daddr };
        data::decode(&blk.b, self.sb.ftype, self.sb.crc.then_some(&o)).map_err(|m| self.bad_dir(d, m))
    }

    fn leaf_of(&self, d: &Dir, blk: &DirBlock) -> Result<Leaf> {
        let uuid = self.sb.meta_uuid;
        let o = da::Owner { ino: d.ino, uuid: &uuid, daddr: blk.daddr };
        Leaf::decode(&blk.b, self.sb.crc.then_some(&o)).map_err(|m| self.bad_dir(d, m))
    }

    fn free_of(&self, d: &Dir, blk: &DirBlock) -> Result<FreeBlock> {
        let uuid = self.sb.meta_uuid;
        let o = data::Owner { ino: d.ino, uuid: &uuid, daddr: blk.daddr };
        FreeBlock::decode(&blk.b, self.sb.crc.then_some(&o)).map_err(|m| self.bad_dir(d, m))
    }

    fn node_of(&self, d: &Dir, blk: &DirBlock) -> Result<Vec<(u32, u32)>> {
        let uuid = self.sb.meta_uuid;
        let o = da::Owner { ino: d.ino, uuid: &uuid, daddr: blk.daddr };
        da::node(&blk.b, self.sb.crc.then_some(&o), "directory").map(|(_, k)| k).map_err(|m| self.bad_dir(d, m))
    }

    /// The leaf entries of block directory `d`'s block (its entries decoded: `e`), checked to
    /// index exactly its entries (one live entry each, with the name's hash) before an edit.
    fn block_leaf_of(&self, d: &Dir, blk: &DirBlock, e: &Entries) -> Result<Vec<(u32, u32)>> {
        let ents = data::block_leaf(&blk.b, e.end).map_err(|m| self.bad_dir(d, m))?;
        let mut want: Vec<(u32, u32)> = e.list.iter().map(|(at, x)| (hashname(&x.name), (at / 8) as u32)).collect();
        let mut live: Vec<(u32, u32)> = ents.iter().copied().filter(|x| x.1 != 0).collect();
        want.sort_unstable();
        live.sort_unstable();
        if want != live || ents.windows(2).any(|w| w[0].0 > w[1].0) {
            return Err(self.bad_dir(d, "the block's leaf entries do not index its entries in hash order".into()));
        }
        Ok(ents)
    }

    fn form(&self, d: &Dir) -> Result<Form> {
        if bmap::find(&d.map, self.leaf_fb()).is_err() {
            return Ok(Form::Block);
        }
        let b = self.dir_block(d, self.leaf_fb())?;
        match da::magic(&b.b) {
            _ if leaf::is_leaf1(&b.b) => Ok(Form::Leaf),
            _ if leaf::is_leafn(&b.b) => Ok(Form::Node),
            da::NODE_V4 | da::NODE_V5 => Ok(Form::Node),
            m => Err(self.bad_dir(d, format!("block at the leaf offset has magic {m:#x}"))),
        }
    }

    /// The leaf block holding hash `hash` (or where it goes) and the node blocks above it:
    /// (node file block, index of the entry followed).
    fn leaf_for(&self, d: &Dir, hash: u32) -> Result<(u64, Vec<(u64, usize)>)> {
        let mut fb = self.leaf_fb();
        let mut path = Vec::new();
        loop {
            let blk = self.dir_block(d, fb)?;
            if !matches!(da::magic(&blk.b), da::NODE_V4 | da::NODE_V5) {
                return Ok((fb, path));
            }
            if path.len() >= usize::from(da::MAX_DEPTH) {
                return Err(self.bad_dir(d, "node tree too deep".into()));
            }
            let kids = self.node_of(d, &blk)?;
            let i = kids.iter().position(|k| k.0 >= hash).unwrap_or(kids.len() - 1);
            path.push((fb, i));
            fb = u64::from(kids[i].1);
        }
    }

    /// Finds `name` in a leaf or node directory through the hash index.
    fn find_hashed(&self, d: &Dir, name: &[u8]) -> Result<Option<Found>> {
        let h = hashname(name);
        let dsize = u64::from(self.sb.dirblksize);
        let (mut fb, _) = self.leaf_for(d, h)?;
        for _ in 0..1024 {
            let lb = self.dir_block(d, fb)?;
            let leaf = self.leaf_of(d, &lb)?;
            for (idx, &(_, a)) in leaf.ents.iter().enumerate().filter(|(_, e)| e.0 == h && e.1 != 0) {
                let byte = u64::from(a) * 8;
                let (db, at) = (byte / dsize, (byte % dsize) as usize);
                // The one entry read (the whole block is decoded and checked before an edit).
                let blk = self.dir_block(d, db * d.per)?;
                let uuid = self.sb.meta_uuid;
                let o = data::Owner { ino: d.ino, uuid: &uuid, daddr: blk.daddr };
                let (hdr, end) = data::header(&blk.b, self.sb.crc.then_some(&o)).map_err(|m| self.bad_dir(d, m))?;
                if data::entry_at(&blk.b, at, hdr, end, self.sb.ftype).map_err(|m| self.bad_dir(d, m))?.name == name {
                    return Ok(Some(Found { leaf_fb: fb, idx, db, at }));
                }
            }
            let next = da::forw(&lb.b);
            if next == 0 || leaf.ents.last().is_none_or(|e| e.0 != h) {
                return Ok(None);
            }
            fb = u64::from(next);
        }
        Err(self.bad_dir(d, "leaf sibling chain too long (cycle)".into()))
    }

    /// The inode named `name` in directory `dir` (block, leaf or node format).
    pub(crate) fn dir_lookup(&self, dir: u64, name: &[u8]) -> Result<Option<u64>> {
        let d = self.dir_open(dir)?;
        if self.form(&d)? == Form::Block {
            let blk = self.dir_block(&d, 0)?;
            let e = self.data_of(&d, &blk)?;
            return Ok(e.find(name).map(|i| e.list[i].1.ino));
        }
        let Some(f) = self.find_hashed(&d, name)? else { return Ok(None) };
        let blk = self.dir_block(&d, f.db * d.per)?;
        let e = self.data_of(&d, &blk)?;
        Ok(e.list.iter().find(|(o, _)| *o == f.at).map(|(_, e)| e.ino))
    }

    /// Points the `..` entry of directory `dir` (block, leaf or node format: it is in the
    /// first data block, and keeps its size and hash) at `parent`.
    pub(crate) fn dir_set_dotdot(&mut self, dir: u64, parent: u64) -> Result<()> {
        let d = self.dir_open(dir)?;
        let mut blk = self.dir_block(&d, 0)?;
        let mut e = self.data_of(&d, &blk)?;
        let i = e.find(b"..").ok_or_else(|| self.bad_dir(&d, "no `..` entry in its first data block".into()))?;
        e.list[i].1.ino = parent;
        e.encode(&mut blk.b, self.sb.crc, self.sb.ftype);
        self.dir_put(blk, data::STAMP);
        Ok(())
    }

    /// Whether directory `dir` (block, leaf or node format) holds nothing but `.` and `..`.
    pub(crate) fn dir_is_empty(&self, dir: u64) -> Result<bool> {
        let d = self.dir_open(dir)?;
        let leaf = self.leaf_fb();
        let mut fb = 0;
        while fb < leaf {
            match bmap::find(&d.map, fb) {
                Ok(_) => {
                    let blk = self.dir_block(&d, fb)?;
                    if self.data_of(&d, &blk)?.list.iter().any(|(_, e)| e.name != b"." && e.name != b"..") {
                        return Ok(false);
                    }
                    fb += d.per;
                }
                Err(next) => fb = next.saturating_add(d.per - 1) / d.per * d.per,
            }
        }
        Ok(true)
    }

    /// Unmaps and frees directory block `fb` (`xfs_dir2_shrink_inode`): the data fork loses
    /// it (an extent split when it lies inside one), `di_nblocks` the blocks, and `di_size`
    /// is cut back to the last data block left when it was the last one.
    fn dir_shrink(&mut self, d: &mut Dir, fb: u64) -> Result<()> {
        let pieces = self.dir_fsbs(d, fb)?;
        let leaf = self.leaf_fb();
        let mut size = d.core.size;
        if fb < leaf && (fb + d.per) << self.sb.blocklog >= size {
            let map = bmap::punch(&d.map, fb, d.per);
            size = map.iter().filter(|e| e.off < leaf).map(|e| (e.off + e.count).min(leaf)).max().unwrap_or(0) << self.sb.blocklog;
        }
        d.map = self.fork_remap(d.ino, Remap::Unmap { off: fb, count: d.per }, size)?;
        d.core.size = size;
        let mask = (1u64 << self.sb.agblklog) - 1;
        for (fsb, n) in pieces {
            self.free_in_ag((fsb >> self.sb.agblklog) as u32, (fsb & mask) as u32, n as u32)?;
        }
        Ok(())
    }

    /// Removes `name` from directory `dir` (block, leaf or node format); returns its inode.
    pub(crate) fn dir_remove(&mut self, dir: u64, name: &[u8]) -> Result<u64> {
        let mut d = self.dir_open(dir)?;
        let (crc, ftype) = (self.sb.crc, self.sb.ftype);
        let form = self.form(&d)?;
        if form == Form::Block {
            let mut blk = self.dir_block(&d, 0)?;
            let mut e = self.data_of(&d, &blk)?;
            let i = e.find(name).ok_or(Error::Os(Errno::NoEntry))?;
            let mut ents = self.block_leaf_of(&d, &blk, &e)?;
            let (at, ent) = e.list.remove(i);
            let key = (hashname(name), (at / 8) as u32);
            let li = ents.iter().position(|&x| x == key).ok_or_else(|| self.bad_dir(&d, format!("no leaf entry for the entry at {at}")))?;
            ents[li].1 = 0;
            let stale = ents.iter().filter(|x| x.1 == 0).count() as u32;
            e.encode(&mut blk.b, crc, ftype);
            block::write_leaf(&mut blk.b, &ents, stale);
            self.dir_put(blk, data::STAMP);
            return Ok(ent.ino);
        }
        let f = self.find_hashed(&d, name)?.ok_or(Error::Os(Errno::NoEntry))?;
        let mut lb = self.dir_block(&d, f.leaf_fb)?;
        let mut leaf = self.leaf_of(&d, &lb)?;
        leaf.ents[f.idx].1 = 0;
        let mut blk = self.dir_block(&d, f.db * d.per)?;
        let mut e = self.data_of(&d, &blk)?;
        let i = e.list.iter().position(|(o, _)| *o == f.at).ok_or_else(|| self.bad_dir(&d, format!("no entry at {}", f.at)))?;
        let (_, ent) = e.list.remove(i);
        let best = if e.is_empty() {
            let fb = f.db * d.per;
            self.dir_shrink(&mut d, fb)?;
            NULLDATAOFF
        } else {
            e.encode(&mut blk.b, crc, ftype);
            self.dir_put(blk, data::STAMP);
            e.best(ftype) as u16
        };
        if let Some(bests) = leaf.bests.as_mut() {
            let Some(v) = bests.get_mut(f.db as usize) else { return Err(self.bad_dir(&d, format!("no best-free value for data block {}", f.db))) };
            *v = best;
            while bests.last() == Some(&NULLDATAOFF) {
                bests.pop();
            }
        } else {
            self.free_set(&mut d, f.db, best)?;
        }
        leaf.encode(&mut lb.b, crc);
        self.dir_put(lb, leaf::STAMP);
        Ok(ent.ino)
    }

    /// Sets data block `db`'s best-free value in its free index block (node form), freeing
    /// the free index block when it describes no data block any more.
    fn free_set(&mut self, d: &mut Dir, db: u64, best: u16) -> Result<()> {
        let ffb = self.free_fb(d, db);
        let mut fblk = self.dir_block(d, ffb)?;
        let mut fr = self.free_of(d, &fblk)?;
        fr.set(db as u32, best, self.max_bests()).map_err(|m| self.bad_dir(d, m))?;
        if fr.is_empty() {
            return self.dir_shrink(d, ffb);
        }
        fr.encode(&mut fblk.b, self.sb.crc);
        self.dir_put(fblk, data::STAMP);
        Ok(())
    }

    /// The file blocks of directory `d`'s free index blocks, in order.
    fn free_blocks(&self, d: &Dir) -> Vec<u64> {
        let first = self.free_fb(d, 0);
        let mut out = Vec::new();
        // A block starts in one extent (and may go on in the next).
        for e in d.map.iter().filter(|e| e.off + e.count > first) {
            let mut fb = e.off.max(first).div_ceil(d.per) * d.per;
            while fb < e.off + e.count {
                out.push(fb);
                fb += d.per;
            }
        }
        out
    }

    /// A new, empty free index block for data block `db` at its place in the free index
    /// section (`xfs_dir2_grow_inode` of the free space, `xfs_dir3_free_get_buf`): its header
    /// names the first data block it describes (`firstdb`), and on v5 its address and owner.
    fn free_new(&mut self, d: &mut Dir, db: u64) -> Result<()> {
        let ffb = self.free_fb(d, db);
        let max = self.max_bests() as u64;
        let firstdb = u32::try_from(db / max * max).map_err(|_| self.bad_dir(d, format!("data block {db} past the data space")))?;
        let segs = self.dir_grow(d, ffb)?;
        let daddr = daddr_of(&segs);
        let uuid = self.sb.meta_uuid;
        let mut b = vec![0u8; self.sb.dirblksize as usize];
        let o = data::Owner { ino: d.ino, uuid: &uuid, daddr };
        free::init_header(&mut b, firstdb, self.sb.crc.then_some(&o));
        FreeBlock { firstdb, bests: Vec::new() }.encode(&mut b, self.sb.crc);
        self.dir_put(DirBlock::new(segs, b), data::STAMP);
        Ok(())
    }

    /// Adds `ent` to data block `db` (its best-free value said it has room): the entry's
    /// offset in the block and the block's new best-free value.
    fn data_add(&mut self, d: &Dir, db: u64, ent: RawEntry) -> Result<(usize, u16)> {
        let mut blk = self.dir_block(d, db * d.per)?;
        let mut e = self.data_of(d, &blk)?;
        let at = e.add(ent, self.sb.ftype).ok_or_else(|| self.bad_dir(d, format!("data block {db}: no room where its best-free value says there is")))?;
        e.encode(&mut blk.b, self.sb.crc, self.sb.ftype);
        self.dir_put(blk, data::STAMP);
        Ok((at, e.best(self.sb.ftype) as u16))
    }

    fn max_bests(&self) -> usize {
        free::max_bests(self.sb.dirblksize as usize, self.sb.crc)
    }

    /// The `per` filesystem blocks of one new directory block (`xfs_da_grow_inode_int`): in
    /// one piece near AG block `near` of AG `agno`, else in any AG; else — the free space too
    /// fragmented — in pieces as long as there are, each near the one before, as the kernel
    /// maps a block it cannot map contiguously. (first block, count) of each piece.
    fn dir_alloc(&mut self, agno: u32, near: u32, per: u64) -> Result<Vec<(u64, u64)>> {
        let fsb = |w: &Self, a: u32, b: u32| (u64::from(a) << w.sb.agblklog) | u64::from(b);
        let p = per as u32;
        if let Some((b, _)) = self.alloc_within(agno, p, p, Some((near, Within::ANY)))? {
            return Ok(vec![(fsb(self, agno, b), per)]);
        }
        for a in (0..self.sb.agcount).filter(|&a| a != agno) {
            if let Some((b, _)) = self.alloc_within(a, p, p, None)? {
                return Ok(vec![(fsb(self, a, b), per)]);
            }
        }
        let (mut agno, mut near, mut left) = (agno, near, p);
        let mut out = Vec::new();
        while left > 0 {
            let mut got = self.alloc_within(agno, 1, left, Some((near, Within::ANY)))?.map(|g| (agno, g));
            for a in (0..self.sb.agcount).filter(|&a| a != agno) {
                if got.is_some() {
                    break;
                }
                got = self.alloc_within(a, 1, left, None)?.map(|g| (a, g));
            }
            let Some((a, (b, n))) = got else { return Err(Error::Os(Errno::NoSpace)) };
            if n == 0 || n > left {
                return Err(self.corrupt(format!("AG {a}: an allocation of 1 to {left} blocks returned {n}")));
            }
            match out.last_mut() {
                // Right after the piece before (in its AG): one piece.
                Some((f, c)) if a == agno && *f + *c == fsb(self, a, b) => *c += u64::from(n),
                _ => out.push((fsb(self, a, b), u64::from(n))),
            }
            (agno, near, left) = (a, b + n, left - n);
        }
        Ok(out)
    }

    /// Allocates one directory block (near the directory's last block before `fb`, else its
    /// inode; in pieces when it must be, see [`XfsWriter::dir_alloc`]) and maps it at file
    /// block `fb` of the data fork (merged with a neighbouring extent it continues); `di_size`
    /// grows over a new data block. Returns where its bytes lie on the device.
    fn dir_grow(&mut self, d: &mut Dir, fb: u64) -> Result<Vec<(u64, usize)>> {
        let mask = (1u64 << self.sb.agblklog) - 1;
        let (iagno, iagino) = self.ino_split(d.ino)?;
        let (agno, near) = match d.map.iter().rfind(|e| e.off < fb) {
            Some(e) => ((e.block >> self.sb.agblklog) as u32, ((e.block & mask) + e.count) as u32),
            None => (iagno, iagino >> self.sb.inopblog),
        };
        let pieces = self.dir_alloc(agno, near, d.per)?;
        let size = if fb < self.leaf_fb() { d.core.size.max((fb + d.per) << self.sb.blocklog) } else { d.core.size };
        let mut at = fb;
        for (fsb, n) in pieces {
            d.map = self.fork_remap(d.ino, Remap::Map(Extent { off: at, block: fsb, count: n, unwritten: false }), size)?;
            at += n;
        }
        d.core.size = size;
        self.dir_segs(d, fb)
    }

    /// The first unmapped directory block from file block `from`, before `end`.
    fn first_unused(&self, d: &Dir, from: u64, end: u64) -> Result<u64> {
        let mut fb = from;
        while let Ok(e) = bmap::find(&d.map, fb) {
            fb = (e.off + e.count).div_ceil(d.per) * d.per;
        }
        if fb + d.per > end {
            return Err(self.bad_dir(d, format!("no room for another block below file block {end}")));
        }
        Ok(fb)
    }

    /// Turns leaf directory `d` into a node directory (`xfs_dir2_leaf_to_node`): its LEAF1
    /// table of best-free values moves to a new free index block, the leaf block stays where
    /// it is as the single LEAFN block (the root of the hash index).
    fn leaf_to_node(&mut self, d: &mut Dir) -> Result<()> {
        let crc = self.sb.crc;
        let mut lb = self.dir_block(d, self.leaf_fb())?;
        let mut l = self.leaf_of(d, &lb)?;
        let bests = l.bests.take().unwrap_or_default();
        if bests.len() > self.max_bests() {
            return Err(self.bad_dir(d, format!("{} data blocks in leaf format", bests.len())));
        }
        let ffb = self.free_fb(d, 0);
        let segs = self.dir_grow(d, ffb)?;
        let daddr = daddr_of(&segs);
        let uuid = self.sb.meta_uuid;
        let mut b = vec![0u8; self.sb.dirblksize as usize];
        let o = data::Owner { ino: d.ino, uuid: &uuid, daddr };
        free::init_header(&mut b, 0, crc.then_some(&o));
        FreeBlock { firstdb: 0, bests }.encode(&mut b, crc);
        self.dir_put(DirBlock::new(segs, b), data::STAMP);
        leaf::set_leafn(&mut lb.b, crc);
        l.encode(&mut lb.b, crc);
        self.dir_put(lb, leaf::STAMP);
        Ok(())
    }

    /// Splits full LEAFN block `lfb` (decoded: `l`; `path`: the node blocks above it) in two
    /// halves (`xfs_dir2_leafn_split`): the upper half moves to a new leaf linked after it,
    /// keyed in the parent node after it ([`da::add_child`]: full nodes split up to the root;
    /// a root leaf or node moves to a new block under a new root node at the leaf offset).
    fn leafn_split(&mut self, d: &mut Dir, lfb: u64, path: &[(u64, usize)], mut l: Leaf) -> Result<()> {
        let crc = self.sb.crc;
        l.compact();
        let mid = l.ents.len() / 2;
        let right = Leaf { ents: l.ents.split_off(mid), bests: None };
        let left = l;
        if left.ents.is_empty() || right.ents.is_empty() {
            return Err(self.bad_dir(d, "splitting a leaf of fewer than two entries".into()));
        }
        let uuid = self.sb.meta_uuid;
        let (ino, dsize) = (d.ino, self.sb.dirblksize as usize);
        let mut f = DirDa { w: self, d };
        let (f2, daddr2) = da::Fork::grow(&mut f)?;
        let lfb = lfb as u32;
        let (mut lb, _) = da::Fork::read(&mut f, lfb)?;
        left.encode(&mut lb, crc);
        da::Fork::write(&mut f, lfb, lb)?;
        let mut b2 = vec![0u8; dsize];
        let o = da::Owner { ino, uuid: &uuid, daddr: daddr2 };
        leaf::init_leafn(&mut b2, crc.then_some(&o));
        right.encode(&mut b2, crc);
        da::Fork::write(&mut f, f2, b2)?;
        da::link_after(&mut f, lfb, f2)?;
        let path: Vec<(u32, usize)> = path.iter().map(|&(fb, i)| (fb as u32, i)).collect();
        da::add_child(&mut f, &path, left.last_hash(), (right.last_hash(), f2))
    }

    /// Sets the keys on `path` (node blocks, entry followed) bottom up to `last`, the highest
    /// hash below them, as far as each entry is its node's last ([`da::fix_hashes`]).
    fn fix_keys(&mut self, d: &mut Dir, path: &[(u64, usize)], last: u32) -> Result<()> {
        let path: Vec<(u32, usize)> = path.iter().map(|&(fb, i)| (fb as u32, i)).collect();
        da::fix_hashes(&mut DirDa { w: self, d }, &path, last)
    }

    /// A new data block at the directory's first unmapped data block (`xfs_dir2_grow_inode`)
    /// holding `ent` alone: its number, the entry's offset and the block's best-free value.
    fn data_new(&mut self, d: &mut Dir, ent: RawEntry) -> Result<(u64, usize, u16)> {
        let fb = self.first_unused(d, 0, self.leaf_fb())?;
        let segs = self.dir_grow(d, fb)?;
        let daddr = daddr_of(&segs);
        let uuid = self.sb.meta_uuid;
        let mut b = vec![0u8; self.sb.dirblksize as usize];
        let o = data::Owner { ino: d.ino, uuid: &uuid, daddr };
        data::init_header(&mut b, false, self.sb.crc.then_some(&o));
        let hdr = if self.sb.crc { 64 } else { 16 };
        let mut e = Entries { hdr, end: b.len(), list: Vec::new() };
        let at = e.add(ent, self.sb.ftype).ok_or_else(|| self.bad_dir(d, "an entry larger than a directory block".into()))?;
        e.encode(&mut b, self.sb.crc, self.sb.ftype);
        self.dir_put(DirBlock::new(segs, b), data::STAMP);
        Ok((fb / d.per, at, e.best(self.sb.ftype) as u16))
    }

    /// Turns block directory `d` into a leaf directory (`xfs_dir2_block_to_leaf`): its block
    /// becomes data block 0 (the tail's space free), its live leaf entries go to a new LEAF1
    /// block at the leaf offset with the one best-free value.
    fn block_to_leaf(&mut self, d: &mut Dir) -> Result<()> {
        let (crc, ftype) = (self.sb.crc, self.sb.ftype);
        let mut blk = self.dir_block(d, 0)?;
        let mut e = self.data_of(d, &blk)?;
        let live: Vec<(u32, u32)> = self.block_leaf_of(d, &blk, &e)?.into_iter().filter(|x| x.1 != 0).collect();
        let uuid = self.sb.meta_uuid;
        let o = data::Owner { ino: d.ino, uuid: &uuid, daddr: blk.daddr };
        let mut b = vec![0u8; blk.b.len()];
        data::init_header(&mut b, false, crc.then_some(&o));
        e.end = b.len();
        e.encode(&mut b, crc, ftype);
        blk.b = b;
        let best = e.best(ftype) as u16;
        self.dir_put(blk, data::STAMP);
        let lfb = self.leaf_fb();
        let segs = self.dir_grow(d, lfb)?;
        let daddr = daddr_of(&segs);
        let mut b = vec![0u8; self.sb.dirblksize as usize];
        let o = da::Owner { ino: d.ino, uuid: &uuid, daddr };
        leaf::init_leaf1(&mut b, crc.then_some(&o));
        let l = Leaf { ents: live, bests: Some(vec![best]) };
        if !l.fits(b.len(), crc) {
            return Err(self.bad_dir(d, "the block's leaf entries do not fit a leaf block".into()));
        }
        l.encode(&mut b, crc);
        self.dir_put(DirBlock::new(segs, b), leaf::STAMP);
        Ok(())
    }

    /// Adds the name `name` for inode `ino` with file type byte `ft` to directory `dir` (block,
    /// leaf or node format; the caller checked the name is new).
    pub(crate) fn dir_add(&mut self, dir: u64, name: &[u8], ino: u64, ft: u8) -> Result<()> {
        let mut d = self.dir_open(dir)?;
        let (crc, ftype) = (self.sb.crc, self.sb.ftype);
        let ent = RawEntry { name: name.to_vec(), ino, ftype: if ftype { ft } else { 0 } };
        let size = data_entsize(name.len(), ftype);
        let h = hashname(name);
        let dsize = u64::from(self.sb.dirblksize);
        let form = self.form(&d)?;
        if form == Form::Block {
            let mut blk = self.dir_block(&d, 0)?;
            let mut e = self.data_of(&d, &blk)?;
            let mut live: Vec<(u32, u32)> = self.block_leaf_of(&d, &blk, &e)?.into_iter().filter(|x| x.1 != 0).collect();
            let end = block::data_end(blk.b.len(), e.hdr, live.len() + 1).filter(|&end| e.list.last().is_none_or(|(o, x)| o + data_entsize(x.name.len(), ftype) <= end));
            let at = end.and_then(|end| {
                e.end = end;
                e.add(ent, ftype)
            });
            let Some(at) = at else {
                // Full: the leaf format, then the name there.
                self.block_to_leaf(&mut d)?;
                return self.dir_add(dir, name, ino, ft);
            };
            let i = live.partition_point(|x| x.0 <= h);
            live.insert(i, (h, (at / 8) as u32));
            e.encode(&mut blk.b, crc, ftype);
            block::write_leaf(&mut blk.b, &live, 0);
            self.dir_put(blk, data::STAMP);
            return Ok(());
        }
        let (lfb, path) = self.leaf_for(&d, h)?;
        let mut lb = self.dir_block(&d, lfb)?;
        let mut leaf = self.leaf_of(&d, &lb)?;
        // Room for the leaf entry (and one more best-free value) first: a full LEAF1 block
        // turns the directory into a node directory, a full LEAFN block splits.
        let mut probe = leaf.clone();
        probe.compact();
        probe.ents.push((h, 1));
        if let Some(b) = probe.bests.as_mut() {
            b.push(0);
        }
        if !probe.fits(lb.b.len(), crc) {
            if leaf.bests.is_some() {
                self.leaf_to_node(&mut d)?;
            } else {
                self.leafn_split(&mut d, lfb, &path, leaf)?;
            }
            return self.dir_add(dir, name, ino, ft);
        }
        let db = if let Some(bests) = leaf.bests.as_mut() {
            match bests.iter().position(|&v| v != NULLDATAOFF && usize::from(v) >= size) {
                Some(db) => {
                    let (at, best) = self.data_add(&d, db as u64, ent)?;
                    bests[db] = best;
                    (db as u64, at)
                }
                None => {
                    let (db, at, best) = self.data_new(&mut d, ent)?;
                    let i = db as usize;
                    if i >= bests.len() {
                        bests.resize(i + 1, NULLDATAOFF);
                    }
                    bests[i] = best;
                    (db, at)
                }
            }
        } else {
            // Every free index block (a run of data blocks all gone leaves a hole among them).
            let mut found = None;
            for ffb in self.free_blocks(&d) {
                let fblk = self.dir_block(&d, ffb)?;
                let fr = self.free_of(&d, &fblk)?;
                found = fr.bests.iter().position(|&v| v != NULLDATAOFF && usize::from(v) >= size).map(|i| u64::from(fr.firstdb) + i as u64);
                if found.is_some() {
                    break;
                }
            }
            let (db, at, best) = match found {
                Some(db) => {
                    let (at, best) = self.data_add(&d, db, ent)?;
                    (db, at, best)
                }
                None => self.data_new(&mut d, ent)?,
            };
            let ffb = self.free_fb(&d, db);
            if bmap::find(&d.map, ffb).is_err() {
                self.free_new(&mut d, db)?;
            }
            let mut fblk = self.dir_block(&d, ffb)?;
            let mut fr = self.free_of(&d, &fblk)?;
            fr.set(db as u32, best, self.max_bests()).map_err(|m| self.bad_dir(&d, m))?;
            fr.encode(&mut fblk.b, crc);
            self.dir_put(fblk, data::STAMP);
            (db, at)
        };
        let addr = u32::try_from((db.0 * dsize + db.1 as u64) / 8).map_err(|_| self.bad_dir(&d, "data space past 32 GiB".into()))?;
        leaf.insert(h, addr);
        if !leaf.fits(lb.b.len(), crc) {
            leaf.compact();
        }
        if !leaf.fits(lb.b.len(), crc) {
            return Err(self.bad_dir(&d, "a leaf block with room has none".into()));
        }
        leaf.encode(&mut lb.b, crc);
        self.dir_put(lb, leaf::STAMP);
        // The keys above a LEAFN block follow its highest hash.
        self.fix_keys(&mut d, &path, leaf.last_hash())
    }

    /// Turns shortform directory `dir` (decoded: `sf`) into a block directory
    /// (`xfs_dir2_sf_to_block`): one directory block allocated near the inode holds `.`, `..`
    /// and the entries at the offsets their tags name, with their leaf entries; the data
    /// fork becomes one extent (more when the block had to be allocated in pieces).
    pub(crate) fn sf_to_block(&mut self, dir: u64, sf: &SfDir) -> Result<()> {
        let (crc, ftype) = (self.sb.crc, self.sb.ftype);
        let per = u64::from(self.sb.dirblksize >> self.sb.blocklog).max(1);
        let (agno, agino) = self.ino_split(dir)?;
        let near = agino >> self.sb.inopblog;
        let pieces = self.dir_alloc(agno, near, per)?;
        let mut segs = Vec::new();
        let mut recs = Vec::new();
        for (fsb, count) in pieces {
            let off = self.sb.fsb_to_byte(fsb, count).ok_or_else(|| self.corrupt(format!("allocated block {fsb:#x} outside the filesystem")))?;
            segs.push((off, (count << self.sb.blocklog) as usize));
            recs.push(Extent { off: recs.iter().map(|r: &Extent| r.count).sum(), block: fsb, count, unwritten: false });
        }
        let daddr = daddr_of(&segs);
        let uuid = self.sb.meta_uuid;
        let mut b = vec![0u8; self.sb.dirblksize as usize];
        let o = data::Owner { ino: dir, uuid: &uuid, daddr };
        data::init_header(&mut b, true, crc.then_some(&o));
        let hdr = if crc { 64 } else { 16 };
        let dt = if ftype { 2 } else { 0 };
        let mut list = vec![(hdr, RawEntry { name: b".".to_vec(), ino: dir, ftype: dt }), (hdr + data_entsize(1, ftype), RawEntry { name: b"..".to_vec(), ino: sf.parent, ftype: dt })];
        let mut next = hdr + data_entsize(1, ftype) + data_entsize(2, ftype);
        for e in &sf.entries {
            let at = usize::from(e.offset);
            if at < next || at % 8 != 0 {
                return Err(self.corrupt(format!("directory {dir}: shortform entry offset {at} overlaps the one before")));
            }
            next = at + data_entsize(e.name.len(), ftype);
            list.push((at, RawEntry { name: e.name.clone(), ino: e.ino, ftype: e.ftype }));
        }
        let end = block::data_end(b.len(), hdr, list.len()).filter(|&end| next <= end);
        let end = end.ok_or_else(|| self.unsupported(format!("directory {dir}: its entries do not fit one directory block (the leaf format is not written yet)")))?;
        let mut ents: Vec<(u32, u32)> = list.iter().map(|(at, e)| (hashname(&e.name), (at / 8) as u32)).collect();
        ents.sort_by_key(|e| e.0);
        Entries { hdr, end, list }.encode(&mut b, crc, ftype);
        block::write_leaf(&mut b, &ents, 0);
        self.dir_put(DirBlock::new(segs, b), data::STAMP);
        let (ioff, mut iblk, at, core) = self.inode_in_use(dir)?;
        let n = usize::from(self.sb.inodesize);
        if !inode::set_data_extents(&self.sb, &mut iblk[at..at + n], &recs.iter().map(Extent::encode).collect::<Vec<_>>()) {
            return Err(self.corrupt(format!("directory {dir}: no room for {} extents in its data fork", recs.len())));
        }
        self.rmap_fork_change(dir, false, &[], &recs, &[], &[])?;
        inode::set_size_blocks(&mut iblk[at..at + n], u64::from(self.sb.dirblksize), core.nblocks + per);
        inode::seal(&self.sb, &mut iblk[at..at + n], self.bufs.lsn());
        self.bufs.put(ioff, iblk, None);
        Ok(())
    }
}
