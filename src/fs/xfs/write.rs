//! Regular-file data: [`XfsWriter::write`] (the kernel's buffered write down to
//! `xfs_bmapi_write`) and [`XfsWriter::truncate`] (`xfs_setattr_size` →
//! `xfs_itruncate_extents`).
//!
//! A write overwrites blocks already mapped in place (read-modify-write of partial blocks),
//! writes the blocks of unwritten (preallocated) extents it reaches whole (zero-padded) and
//! marks them written, splitting the extent (`xfs_bmap_add_extent_unwritten_real`), and gives
//! holes — and the range past the end of file — new extents, allocated near the block before
//! them (else near the inode) and as one contiguous extent when the AG has one that long; new
//! blocks are zero-padded. Blocks that other files share (reflink) and that the write would
//! change — data or zeroes — are first given blocks of their own holding what they held, and
//! the shared ones lose this owner in the refcount btree (copy-on-write, as
//! `xfs_reflink_allocate_cow` and `xfs_reflink_end_cow` end up: only the blocks changed are
//! unshared). The new records go into the map in file order, merged with a
//! neighbour when the kernel would (`xfs_bmap_add_extent_hole_real`: the same state,
//! adjacent in the file and on disk, in one AG, at most 2^21-1 blocks). Bytes between
//! the old end of file and the write start read as zeros afterwards: mapped blocks there are
//! zeroed (`xfs_file_write_zero_eof`). Size (when grown), `di_nblocks`, `di_nextents`, the
//! modification and change times and the change count follow; the inode is stamped. The
//! set-user-ID and set-group-ID bits stay, as Linux keeps them for a writer with `CAP_FSETID`.
//!
//! Truncation down zeroes the tail of the new last block and gives back every block past it
//! (a straddling extent is split; shared reflinked runs lose an owner in the refcount btree
//! instead of being freed, [`XfsWriter::release_blocks`]); up, it only sets the size
//! (sparse), after zeroing what mapped blocks hold past the old end of file (unsharing the
//! shared ones that zeroing changes).
//!
//! A map that outgrows the inode moves to a bmap btree and back once it fits again; a changed
//! btree map is rebuilt ([`XfsWriter::store_map`]); one left as it is (overwrites of mapped
//! blocks, growth inside them or sparse) is not touched. Each call is one operation: whole or
//! nothing.

use super::bmap::{self, Extent, MAX_LEN};
use super::bunmap::TreeSrc;
use super::inode::{self, Format, Inode, DIFLAG_APPEND, DIFLAG_IMMUTABLE};
use super::inode::now;
use super::writer::XfsWriter;
use crate::fs::{Errno, Error, Result};

/// The regular file and directory types.
const S_IFREG: u16 = 0o100000;
const S_IFDIR: u16 = 0o040000;
/// Largest file block number plus one (`XFS_MAX_FILEOFF`: 54-bit offsets).
const MAX_FILEOFF: u64 = (1 << 54) - 1;

/// A regular file's inode as [`XfsWriter::data_file`] returns it: the block holding it (byte
/// offset, bytes, the inode's offset in them), the inode, its data fork's extents and the
/// blocks of its bmap btree (none in extents format).
type DataFile = (u64, Vec<u8>, usize, Inode, Vec<Extent>, Vec<u64>);

impl XfsWriter {
    /// Refuses a feature this writer does not write.
    pub(crate) fn refuse(&self, what: String) -> Error {
        Error::Unsupported { dev: self.bufs.dev_name(), fs: "xfs".into(), feature: format!("writing: {what}") }
    }

    /// Regular file `ino` with its extents (in the inode or in its bmap btree), refusing other
    /// types (`EISDIR`, `EINVAL`) and immutable inodes (`EPERM`).
    fn data_file(&self, ino: u64) -> Result<DataFile> {
        let (off, blk, at, i) = self.inode_in_use(ino)?;
        match i.kind() {
            S_IFREG => {}
            S_IFDIR => return Err(Error::Os(Errno::IsDir)),
            _ => return Err(Error::Os(Errno::Invalid)),
        }
        if inode::flags(&blk[at..]) & DIFLAG_IMMUTABLE != 0 {
            return Err(Error::Os(Errno::NotPermitted));
        }
        if !matches!(i.format, Format::Extents | Format::Btree) {
            return Err(self.corrupt(format!("inode {ino}: regular file with a {:?} data fork", i.format)));
        }
        let (map, tree) = bmap::map_and_tree(&TreeSrc { w: self }, ino, i.format, &i.data_fork, i.nextents)?;
        Ok((off, blk, at, i, map, tree))
    }

    /// Byte offset of filesystem block `fsb` (checked: inside the filesystem).
    fn data_byte(&self, ino: u64, fsb: u64) -> Result<u64> {
        self.sb.fsb_to_byte(fsb, 1).ok_or_else(|| self.corrupt(format!("inode {ino}: block {fsb:#x} outside the filesystem")))
    }

    /// In the blocks `map` has mapped (none of those changed shared: [`XfsWriter::unshare`]
    /// ran first), zeroes bytes `zero_from..offset` and puts `data` at `offset`: written
    /// blocks are changed in place (read first unless covered whole); unwritten blocks read as
    /// zeros already, and those `data` reaches are written whole (zero-padded). Returns the
    /// runs of file blocks (first, count) that turn from unwritten to written.
    fn rewrite_mapped(&mut self, ino: u64, map: &[Extent], zero_from: u64, offset: u64, data: &[u8]) -> Result<Vec<(u64, u64)>> {
        let bs = u64::from(self.sb.blocksize);
        let end = offset + data.len() as u64;
        let (b0, b1) = (zero_from / bs, end.div_ceil(bs));
        let mut converted = Vec::new();
        for e in map.iter().filter(|e| e.off < b1 && e.off + e.count > b0) {
            let (first, last) = (e.off.max(b0), (e.off + e.count).min(b1));
            let touches_data = !data.is_empty() && first * bs < end && last * bs > offset;
            if e.unwritten {
                if touches_data {
                    let (c0, c1) = (first.max(offset / bs), last.min(b1));
                    for fb in c0..c1 {
                        let bstart = fb * bs;
                        let (ds, de) = (bstart.max(offset), (bstart + bs).min(end));
                        let mut buf = vec![0u8; bs as usize];
                        buf[(ds - bstart) as usize..(de - bstart) as usize].copy_from_slice(&data[(ds - offset) as usize..(de - offset) as usize]);
                        let byte = self.data_byte(ino, e.block + (fb - e.off))?;
                        self.bufs.put(byte, buf, None);
                    }
                    converted.push((c0, c1 - c0));
                }
                continue;
            }
            for fb in first..last {
                let (bstart, bend) = (fb * bs, fb * bs + bs);
                let (ds, de) = (bstart.max(offset), bend.min(end));
                let (zs, ze) = (bstart.max(zero_from), bend.min(offset));
                if ds >= de && zs >= ze {
                    continue;
                }
                let byte = self.data_byte(ino, e.block + (fb - e.off))?;
                let full = ds == bstart && de == bend;
                let mut buf = if full { vec![0; bs as usize] } else { self.bufs.read(byte, bs as usize)? };
                let before = (!full).then(|| buf.clone());
                if zs < ze {
                    buf[(zs - bstart) as usize..(ze - bstart) as usize].fill(0);
                }
                if ds < de {
                    buf[(ds - bstart) as usize..(de - bstart) as usize].copy_from_slice(&data[(ds - offset) as usize..(de - offset) as usize]);
                }
                if before.as_ref() != Some(&buf) {
                    self.bufs.put(byte, buf, None);
                }
            }
        }
        Ok(converted)
    }

    /// Copy-on-write before [`XfsWriter::rewrite_mapped`] zeroes `zero_from..offset` and puts
    /// `data` at `offset`: each shared block of `map` that this writes (one `data` reaches, or
    /// a written one with bytes to zero — zeroed even when they are zeros already, as the
    /// kernel's `iomap_zero_range` does) gets a new block near
    /// the file's others holding what it held (zeros for an unwritten one), and the shared
    /// blocks lose this owner. Returns `map` without the blocks replaced, and their new
    /// extents (written, in file order).
    fn unshare(&mut self, ino: u64, map: &[Extent], zero_from: u64, offset: u64, data: &[u8]) -> Result<(Vec<Extent>, Vec<Extent>)> {
        let bs = u64::from(self.sb.blocksize);
        let end = offset + data.len() as u64;
        let (b0, b1) = (zero_from / bs, end.div_ceil(bs));
        // The file blocks to unshare, in order, with the extent mapping them.
        let mut todo: Vec<(u64, Extent)> = Vec::new();
        for e in map.iter().filter(|e| e.off < b1 && e.off + e.count > b0) {
            let (first, last) = (e.off.max(b0), (e.off + e.count).min(b1));
            for (fsb, n) in self.shared_runs(e.block + (first - e.off), last - first)? {
                for fb in (e.off + (fsb - e.block))..(e.off + (fsb - e.block) + n) {
                    let (bstart, bend) = (fb * bs, fb * bs + bs);
                    let touches_data = !data.is_empty() && bstart < end && bend > offset;
                    let zeroes = !e.unwritten && bstart.max(zero_from) < bend.min(offset);
                    if touches_data || zeroes {
                        todo.push((fb, *e));
                    }
                }
            }
        }
        if todo.is_empty() {
            return Ok((map.to_vec(), Vec::new()));
        }
        let mut repl: Vec<Extent> = Vec::new();
        let mut old: Vec<(u64, u64)> = Vec::new();
        let mut i = 0;
        while i < todo.len() {
            // A run of consecutive file blocks in one extent.
            let (fb, e) = todo[i];
            let mut n = 1;
            while i + (n as usize) < todo.len() && todo[i + n as usize] == (fb + n, e) {
                n += 1;
            }
            i += n as usize;
            old.push((e.block + (fb - e.off), n));
            let mut at = fb;
            while at < fb + n {
                let target = self.data_target(ino, map, &repl, at);
                let (block, count) = self.alloc_data(target, fb + n - at)?;
                for k in 0..count {
                    let src = e.block + (at + k - e.off);
                    let buf = if e.unwritten { vec![0u8; bs as usize] } else { self.bufs.read(self.data_byte(ino, src)?, bs as usize)? };
                    let byte = self.data_byte(ino, block + k)?;
                    self.bufs.put(byte, buf, None);
                }
                repl.push(Extent { off: at, block, count, unwritten: false });
                at += count;
            }
        }
        self.release_blocks(ino, &old)?;
        // The map with the replaced file blocks cut out.
        let mut rest = Vec::with_capacity(map.len() + repl.len());
        for e in map {
            let mut at = e.off;
            for r in repl.iter().filter(|r| r.off < e.off + e.count && r.off + r.count > e.off) {
                if at < r.off {
                    rest.push(Extent { off: at, block: e.block + (at - e.off), count: r.off - at, unwritten: e.unwritten });
                }
                at = r.off + r.count;
            }
            if at < e.off + e.count {
                rest.push(Extent { off: at, block: e.block + (at - e.off), count: e.off + e.count - at, unwritten: e.unwritten });
            }
        }
        Ok((rest, repl))
    }

    /// Zeroes bytes `from..to` in the blocks `map` maps, unsharing the shared ones that holds
    /// (see [`XfsWriter::unshare`]); returns the map with their new extents, and whether there
    /// were any.
    fn zero_mapped(&mut self, ino: u64, map: &[Extent], from: u64, to: u64) -> Result<(Vec<Extent>, bool)> {
        let (rest, repl) = self.unshare(ino, map, from, to, &[])?;
        let map = merge_new(&rest, &[], &repl, self.sb.agblklog);
        self.rewrite_mapped(ino, &map, from, to, &[])?;
        Ok((map, !repl.is_empty()))
    }

    /// Where a new extent for file block `fb` should go (`xfs_bmap_adjacent`): after the
    /// mapping before it (as far on as the file gap, when that stays in its AG), else at the
    /// inode.
    pub(crate) fn data_target(&self, ino: u64, map: &[Extent], new: &[Extent], fb: u64) -> u64 {
        let left = map.iter().chain(new).filter(|e| e.off + e.count <= fb).max_by_key(|e| e.off);
        let ag_of = |b: u64| b >> self.sb.agblklog;
        if let Some(l) = left {
            let end = l.block + l.count;
            let far = end + (fb - (l.off + l.count));
            let in_ag = |b: u64| ag_of(b) == ag_of(l.block) && b & ((1u64 << self.sb.agblklog) - 1) < u64::from(self.sb.agblocks);
            if in_ag(far) {
                return far;
            }
            if in_ag(end) {
                return end;
            }
        }
        self.sb.ino_to_fsb(ino)
    }

    /// Up to `want` blocks for file data near filesystem block `target`: one extent of `want`
    /// in its AG if there is one, else the longest near it, else any in the other AGs; ENOSPC
    /// when none has a block. Returns (filesystem block, length).
    pub(crate) fn alloc_data(&mut self, target: u64, want: u64) -> Result<(u64, u64)> {
        let agno = (target >> self.sb.agblklog) as u32;
        let near = (target & ((1u64 << self.sb.agblklog) - 1)) as u32;
        let want = want.min(MAX_LEN) as u32;
        let place = Some((near, super::alloc::Within::ANY));
        let mut got = self.alloc_within(agno, want, want, place)?;
        if got.is_none() {
            got = self.alloc_within(agno, 1, want, place)?;
        }
        let mut at = agno;
        for k in 1..self.sb.agcount {
            if got.is_some() {
                break;
            }
            at = (agno + k) % self.sb.agcount;
            got = self.alloc_within(at, 1, want, None)?;
        }
        let Some((bno, len)) = got else { return Err(Error::Os(Errno::NoSpace)) };
        Ok(((u64::from(at) << self.sb.agblklog) | u64::from(bno), u64::from(len)))
    }

    /// Gives the holes among the blocks `data` at `offset` covers new extents holding it
    /// (zero-padded); returns them.
    fn fill_holes(&mut self, ino: u64, map: &[Extent], offset: u64, data: &[u8]) -> Result<Vec<Extent>> {
        let bs = u64::from(self.sb.blocksize);
        let end = offset + data.len() as u64;
        let (mut fb, b1) = (offset / bs, end.div_ceil(bs));
        let mut new: Vec<Extent> = Vec::new();
        while fb < b1 {
            let hole_end = match bmap::find(map, fb) {
                Ok(e) => {
                    fb = e.off + e.count;
                    continue;
                }
                Err(next) => next.min(b1),
            };
            while fb < hole_end {
                let target = self.data_target(ino, map, &new, fb);
                let (block, count) = self.alloc_data(target, hole_end - fb)?;
                for k in 0..count {
                    let bstart = (fb + k) * bs;
                    let mut buf = vec![0u8; bs as usize];
                    let (ds, de) = (bstart.max(offset), (bstart + bs).min(end));
                    buf[(ds - bstart) as usize..(de - bstart) as usize].copy_from_slice(&data[(ds - offset) as usize..(de - offset) as usize]);
                    let byte = self.data_byte(ino, block + k)?;
                    self.bufs.put(byte, buf, None);
                }
                new.push(Extent { off: fb, block, count, unwritten: false });
                fb += count;
            }
        }
        Ok(new)
    }

    /// `write` inside an operation.
    fn write_in(&mut self, ino: u64, offset: u64, data: &[u8]) -> Result<()> {
        let bs = u64::from(self.sb.blocksize);
        let end = offset.checked_add(data.len() as u64).filter(|e| e.div_ceil(bs) <= MAX_FILEOFF).ok_or(Error::Os(Errno::FileTooBig))?;
        let (_, blk, at, i, map, tree) = self.data_file(ino)?;
        if inode::flags(&blk[at..]) & DIFLAG_APPEND != 0 && offset != i.size {
            return Err(Error::Os(Errno::NotPermitted));
        }
        if data.is_empty() {
            return Ok(());
        }
        let (rest, repl) = self.unshare(ino, &map, i.size.min(offset), offset, data)?;
        let unshared = merge_new(&rest, &[], &repl, self.sb.agblklog);
        let converted = self.rewrite_mapped(ino, &unshared, i.size.min(offset), offset, data)?;
        let new = self.fill_holes(ino, &unshared, offset, data)?;
        let added: u64 = new.iter().map(|e| e.count).sum();
        let (off, mut blk, at, _) = self.inode_in_use(ino)?;
        let b = &mut blk[at..at + usize::from(self.sb.inodesize)];
        let nblocks = if new.is_empty() && converted.is_empty() && repl.is_empty() {
            i.nblocks
        } else {
            let delta = self.store_map(&i, &map, &tree, b, &merge_new(&unshared, &converted, &new, self.sb.agblklog))?;
            i.nblocks.checked_add(added).and_then(|n| n.checked_add_signed(delta)).ok_or_else(|| self.corrupt(format!("inode {ino}: {} blocks", i.nblocks)))?
        };
        inode::set_size_blocks(b, i.size.max(end), nblocks);
        inode::touch(&self.sb, b, now(), true);
        inode::seal(&self.sb, b, self.bufs.lsn());
        self.bufs.put(off, blk, None);
        Ok(())
    }

    /// Writes `data` at byte `offset` of regular file `ino`, growing it when the write ends
    /// past its end (see the module documentation for placement and what is refused).
    pub fn write(&mut self, ino: u64, offset: u64, data: &[u8]) -> Result<()> {
        self.begin();
        let r = self.write_in(ino, offset, data);
        self.end(r)
    }

    /// `truncate` inside an operation.
    fn truncate_in(&mut self, ino: u64, size: u64) -> Result<()> {
        let bs = u64::from(self.sb.blocksize);
        if size.div_ceil(bs) > MAX_FILEOFF {
            return Err(Error::Os(Errno::FileTooBig));
        }
        let (_, blk, at, i, map, tree) = self.data_file(ino)?;
        if inode::flags(&blk[at..]) & DIFLAG_APPEND != 0 {
            return Err(Error::Os(Errno::NotPermitted));
        }
        let mut keep = Vec::with_capacity(map.len());
        let mut freed = 0u64;
        let mut remapped = false;
        let mut runs = Vec::new();
        if size > i.size {
            (keep, remapped) = self.zero_mapped(ino, &map, i.size, size)?;
        } else {
            // The new last block's tail is zeroed (`xfs_truncate_page`; a shared block is
            // unshared for it), then every block past it is given back.
            let mut now_mapped = map.clone();
            if size % bs != 0 {
                (now_mapped, remapped) = self.zero_mapped(ino, &map, size, size.div_ceil(bs) * bs)?;
            }
            let cut = size.div_ceil(bs);
            for &e in &now_mapped {
                if e.off >= cut {
                    runs.push((e.block, e.count));
                } else if e.off + e.count > cut {
                    let k = cut - e.off;
                    keep.push(Extent { count: k, ..e });
                    runs.push((e.block + k, e.count - k));
                } else {
                    keep.push(e);
                }
            }
            freed = runs.iter().map(|r| r.1).sum();
        }
        let (off, mut blk, at, _) = self.inode_in_use(ino)?;
        let b = &mut blk[at..at + usize::from(self.sb.inodesize)];
        let delta = if freed > 0 || remapped { self.store_map(&i, &map, &tree, b, &keep)? } else { 0 };
        // After the new map (and its reverse mappings): the blocks past the end are freed.
        if !runs.is_empty() {
            self.release_blocks(ino, &runs)?;
        }
        let nblocks = i.nblocks.checked_sub(freed).and_then(|n| n.checked_add_signed(delta));
        let nblocks = nblocks.ok_or_else(|| self.corrupt(format!("inode {ino}: {} blocks counted, {freed} mapped past the end", i.nblocks)))?;
        inode::set_size_blocks(b, size, nblocks);
        if size != i.size {
            inode::touch(&self.sb, b, now(), true);
        }
        inode::seal(&self.sb, b, self.bufs.lsn());
        self.bufs.put(off, blk, None);
        Ok(())
    }

    /// Sets the size of regular file `ino` to `size`: down, the blocks past the new end are
    /// given back; up, the file grows sparse. Times change only with the size; blocks mapped
    /// past the end of file are given back even then (see the module documentation).
    pub fn truncate(&mut self, ino: u64, size: u64) -> Result<()> {
        self.begin();
        let r = self.truncate_in(ino, size);
        self.end(r)
    }
}

/// `map` with its unwritten extents split where the `converted` runs of file blocks (each
/// inside one extent, in order) became written, and the `new` extents put in file order;
/// each changed or new extent merged with a neighbour the kernel would merge it with
/// (`xfs_bmap_add_extent_hole_real`, `xfs_bmap_add_extent_unwritten_real`): the same state,
/// adjacent in the file and on disk, in one AG (AG number above bit `agblklog`), together at
/// most [`MAX_LEN`] blocks.
fn merge_new(map: &[Extent], converted: &[(u64, u64)], new: &[Extent], agblklog: u8) -> Vec<Extent> {
    let piece = |e: &Extent, off: u64, count: u64, unwritten: bool| Extent { off, block: e.block + (off - e.off), count, unwritten };
    let mut all: Vec<(Extent, bool)> = Vec::with_capacity(map.len() + 2 * converted.len() + new.len());
    for e in map {
        let end = e.off + e.count;
        let mut at = e.off;
        for &(s, n) in converted.iter().filter(|&&(s, n)| e.unwritten && s < end && s + n > e.off) {
            let (s, t) = (s.max(e.off), (s + n).min(end));
            if at < s {
                all.push((piece(e, at, s - at, true), false));
            }
            all.push((piece(e, s, t - s, false), true));
            at = t;
        }
        if at < end {
            all.push((piece(e, at, end - at, e.unwritten), false));
        }
    }
    all.extend(new.iter().map(|&e| (e, true)));
    all.sort_by_key(|(e, _)| e.off);
    let mut out: Vec<(Extent, bool)> = Vec::with_capacity(all.len());
    for (e, is_new) in all {
        if let Some((l, l_new)) = out.last_mut() {
            let joins = l.unwritten == e.unwritten && l.off + l.count == e.off && l.block + l.count == e.block && l.count + e.count <= MAX_LEN;
            if (*l_new || is_new) && joins && l.block >> agblklog == e.block >> agblklog {
                l.count += e.count;
                *l_new = true;
                continue;
            }
        }
        out.push((e, is_new));
    }
    out.into_iter().map(|(e, _)| e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(off: u64, block: u64, count: u64) -> Extent {
        Extent { off, block, count, unwritten: false }
    }

    #[test]
    fn merges_new_extents_only_as_the_kernel_would() {
        // Old neighbours that happen to touch stay apart; a new extent joins both sides.
        let map = [x(0, 100, 2), x(2, 102, 2), x(10, 200, 5)];
        assert_eq!(merge_new(&map, &[], &[x(4, 104, 6)], 20), vec![x(0, 100, 2), x(2, 102, 8), x(10, 200, 5)]);
        assert_eq!(merge_new(&map, &[], &[x(4, 104, 3), x(7, 107, 3)], 20), vec![x(0, 100, 2), x(2, 102, 8), x(10, 200, 5)]);
        assert_eq!(merge_new(&[x(0, 100, 4)], &[], &[x(4, 195, 6)], 20), vec![x(0, 100, 4), x(4, 195, 6)]);
        // Not across an AG boundary, not an unwritten neighbour, not past 2^21-1 blocks.
        assert_eq!(merge_new(&[x(0, 14, 2)], &[], &[x(2, 16, 1)], 4), vec![x(0, 14, 2), x(2, 16, 1)]);
        let u = |off, block, count| Extent { unwritten: true, ..x(off, block, count) };
        assert_eq!(merge_new(&[u(0, 100, 4)], &[], &[x(4, 104, 1)], 20), vec![u(0, 100, 4), x(4, 104, 1)]);
        assert_eq!(merge_new(&[x(0, 0, MAX_LEN)], &[], &[x(MAX_LEN, MAX_LEN, 1)], 30).len(), 2);
    }

    #[test]
    fn converts_unwritten_runs() {
        let u = |off, block, count| Extent { unwritten: true, ..x(off, block, count) };
        // The middle of an unwritten extent: three pieces.
        assert_eq!(merge_new(&[u(0, 100, 10)], &[(3, 2)], &[], 20), vec![u(0, 100, 3), x(3, 103, 2), u(5, 105, 5)]);
        // Its start joins a written left neighbour; its end a written right one.
        assert_eq!(merge_new(&[x(0, 96, 4), u(4, 100, 10)], &[(4, 3)], &[], 20), vec![x(0, 96, 7), u(7, 103, 7)]);
        assert_eq!(merge_new(&[u(0, 100, 10), x(10, 110, 2)], &[(6, 4)], &[], 20), vec![u(0, 100, 6), x(6, 106, 6)]);
        // Whole, between written neighbours: one extent; and a new extent after it joins too.
        assert_eq!(merge_new(&[x(0, 96, 4), u(4, 100, 2), x(6, 102, 1)], &[(4, 2)], &[x(7, 103, 1)], 20), vec![x(0, 96, 8)]);
    }
}
