//! Compressed clusters, read by us through a cache instead of by imago.
//!
//! imago inflates a compressed cluster on every read that touches it and keeps nothing (its
//! `qcow2/compressed.rs`), so a directory walk reading eight 4 KiB blocks of one 64 KiB
//! cluster inflated it eight times. The split: imago still maps every read
//! (`FormatAccess::get_mapping`, through the whole backing chain) and reads every normal
//! cluster; the ranges it maps as `Mapping::Special` — in qcow2, compressed clusters, in any
//! qcow2 layer of the chain — come here. imago does not expose a compressed cluster's
//! descriptor, so we read that cluster's L1 and L2 entries ourselves (two 8-byte reads, on a
//! cluster's first read only), inflate it with zlib-rs (measured against
//! miniz_oxide, imago's inflater, and libdeflate: `bench/inflate.sh`, BENCHMARKS.md) — or,
//! in an image whose header says `compression_type = zstd`, decode its zstd frame with ruzstd
//! (imago refuses such images; read-only opens hide the header bit from it) — into a
//! bounded LRU [`ClusterCache`] keyed by (layer, host offset of the compressed data), and
//! copy from there. Each cluster is thus inflated once while it stays among the most recently
//! used [`CLUSTER_CACHE_BYTES`](super::cluster_cache::CLUSTER_CACHE_BYTES).
//!
//! Backing chains: each qcow2 layer is read with its own cluster size, so a compressed cluster
//! in a backing file whose cluster size differs from the top image's is inflated and cached
//! like any other (no fallback to imago's path).
//!
//! Agreement with imago: imago writes L1 entries and newly placed L2 tables to the file at
//! once, and only ever replaces a compressed L2 entry by a normal or zero one, so an entry it
//! maps as compressed reads the same from the file. Writes are kept out while we read (the
//! device's lock), and a written cluster's cached copy is dropped first ([`Layer::forget`]).
//! Should the file still disagree (another writer), the read fails and says so.

use super::cluster_cache::{ClusterCache, Key};
use super::header::Qcow2Info;
use crate::disk::{Error, Result};
use std::cell::RefCell;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Offset bits of an L1 entry.
const L1_OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// The "compressed" bit of an L2 entry.
const L2_COMPRESSED: u64 = 1 << 62;
/// Window bits for raw deflate: QEMU compresses with 12; 15 inflates every raw stream.
const WINDOW_BITS: u8 = 15;

/// Layer ids, unique in the process (cache keys).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// One inflate state per thread, reset per cluster (cheaper than a new one each time).
    static INFLATE: RefCell<zlib_rs::Inflate> = RefCell::new(zlib_rs::Inflate::new(false, WINDOW_BITS));
}

/// One qcow2 image of a chain as the compressed-cluster reader needs it: its file, where its
/// L1 table is, its cluster size.
#[derive(Debug)]
pub(super) struct Layer {
    id: u64,
    path: PathBuf,
    file: File,
    cluster_bits: u32,
    l1_offset: u64,
    l1_entries: u64,
    /// Clusters are zstd frames, not raw deflate streams.
    zstd: bool,
}

/// Where a compressed cluster's data is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Descriptor {
    /// Host offset of the compressed data.
    host: u64,
    /// Upper bound of its length (whole 512-byte sectors, as the L2 entry counts them).
    len: u64,
}

impl Layer {
    /// The layer of the qcow2 image open in `file` (a second handle on it is kept), described
    /// by its validated header `info`.
    pub(super) fn new(file: &File, info: &Qcow2Info, path: &Path) -> Result<Layer> {
        let file = file.try_clone().map_err(|source| Error::Io { path: path.to_path_buf(), op: "open", source })?;
        Ok(Layer {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            path: path.to_path_buf(),
            file,
            cluster_bits: info.cluster_size.trailing_zeros(),
            l1_offset: info.l1_table_offset,
            l1_entries: u64::from(info.l1_size),
            zstd: info.compression_type == super::header::Compression::Zstd,
        })
    }

    fn err(&self, msg: String) -> Error {
        Error::Qcow2 { path: self.path.clone(), msg }
    }

    fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }


    /// The cache key of the compressed data at `d`.
    fn key(&self, d: Descriptor) -> Key {
        (self.id, d.host)
    }

    /// Calls `f(guest offset, offset in its cluster, length)` for each cluster-sized piece of
    /// `len` bytes from guest offset `guest`.
    fn per_cluster(&self, guest: u64, len: u64, f: &mut dyn FnMut(u64, usize, usize) -> Result<()>) -> Result<()> {
        let mut done = 0;
        while done < len {
            let pos = guest + done;
            let at = pos & (self.cluster_size() - 1);
            let n = (self.cluster_size() - at).min(len - done);
            f(pos, at as usize, n as usize)?;
            done += n;
        }
        Ok(())
    }

    /// Fills `out` from guest offset `guest` of this layer, where imago maps compressed
    /// clusters only: from `cache`, or by inflating each cluster into it.
    pub(super) fn read(&self, cache: &ClusterCache, guest: u64, out: &mut [u8]) -> Result<()> {
        let base = guest;
        self.per_cluster(guest, out.len() as u64, &mut |pos, at, n| {
            let start = (pos - base) as usize;
            self.read_in_cluster(cache, pos, at, &mut out[start..start + n])
        })
    }

    /// Drops from `cache` the compressed clusters of `len` bytes from guest offset `guest`
    /// (about to be written), where imago maps compressed clusters only.
    pub(super) fn forget(&self, cache: &ClusterCache, guest: u64, len: u64) -> Result<()> {
        self.per_cluster(guest, len, &mut |pos, _, _| {
            cache.remove(self.key(self.descriptor(pos)?));
            Ok(())
        })
    }

    fn read_entry(&self, off: u64, what: &str) -> Result<u64> {
        let mut b = [0u8; 8];
        self.file.read_exact_at(&mut b, off).map_err(|e| self.err(format!("cannot read {what} at offset {off:#x}: {e}")))?;
        Ok(u64::from_be_bytes(b))
    }

    /// The descriptor of the compressed cluster holding guest offset `guest` (one imago maps
    /// as compressed).
    fn descriptor(&self, guest: u64) -> Result<Descriptor> {
        let cb = self.cluster_bits;
        let cluster = guest >> cb;
        let l1_index = cluster >> (cb - 3);
        let changed = |what: String| {
            self.err(format!(
                "guest offset {guest:#x} is mapped as compressed, but {what}: the image changed under us (is another program writing it?)"
            ))
        };
        if l1_index >= self.l1_entries {
            return Err(changed(format!("it lies past the L1 table ({} entries)", self.l1_entries)));
        }
        let l2_offset = self.read_entry(self.l1_offset + l1_index * 8, "an L1 entry")? & L1_OFFSET_MASK;
        if l2_offset == 0 {
            return Err(changed(format!("its L1 entry {l1_index} has no L2 table")));
        }
        let l2_at = l2_offset + (cluster & ((1 << (cb - 3)) - 1)) * 8;
        let entry = self.read_entry(l2_at, "an L2 entry")?;
        if entry & L2_COMPRESSED == 0 {
            return Err(changed(format!("its L2 entry at offset {l2_at:#x} reads {entry:#018x}")));
        }
        // QEMU's layout: the low 62 - (cluster_bits - 8) bits are the host offset, the next
        // cluster_bits - 8 bits the number of 512-byte sectors it touches, minus one.
        let shift = 62 - (cb - 8);
        let host = entry & ((1 << shift) - 1);
        let sectors = ((entry >> shift) & ((1 << (cb - 8)) - 1)) + 1;
        Ok(Descriptor { host, len: sectors * 512 - (host & 511) })
    }

    /// Fills `out` from guest offset `guest`, `at` bytes into its compressed cluster (`out`
    /// stays inside it).
    fn read_in_cluster(&self, cache: &ClusterCache, guest: u64, at: usize, out: &mut [u8]) -> Result<()> {
        let index = (self.id, guest >> self.cluster_bits);
        if cache.read_guest(index, at, out) {
            return Ok(());
        }
        let d = self.descriptor(guest)?;
        if cache.read(self.key(d), index, at, out) {
            return Ok(());
        }
        let data = self.inflate(guest, d)?;
        let Some(src) = data.get(at..at + out.len()) else {
            return Err(self.err(format!("read of {} bytes at guest offset {guest:#x} crosses its cluster", out.len())));
        };
        out.copy_from_slice(src);
        cache.insert(self.key(d), index, data);
        Ok(())
    }

    /// Reads the compressed data at `d` and inflates it into a whole cluster.
    fn inflate(&self, guest: u64, d: Descriptor) -> Result<Box<[u8]>> {
        let bad = |why: String| {
            self.err(format!(
                "the compressed cluster at guest offset {guest:#x} (data at host offset {:#x}, at most {} bytes) {why}; the image is damaged: `qemu-img check {}` tells more",
                d.host,
                d.len,
                self.path.display()
            ))
        };
        // at most 2 clusters (the sector count has cluster_bits - 8 bits)
        let mut input = vec![0u8; d.len as usize];
        let mut got = 0;
        while got < input.len() {
            // the last cluster's sector bound may pass the end of the file
            match self.file.read_at(&mut input[got..], d.host + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(bad(format!("cannot be read: {e}"))),
            }
        }
        if got == 0 {
            return Err(bad("lies past the end of the file".into()));
        }
        let mut out = vec![0u8; self.cluster_size() as usize].into_boxed_slice();
        if self.zstd { decode_zstd(&input[..got], &mut out) } else { inflate_raw(&input[..got], &mut out) }.map_err(bad)?;
        Ok(out)
    }
}

/// Inflates the raw deflate stream at the start of `input` (trailing bytes ignored) into all
/// of `out`, as QEMU accepts it: success once `out` is full.
fn inflate_raw(input: &[u8], out: &mut [u8]) -> std::result::Result<(), String> {
    INFLATE.with(|z| {
        let mut z = z.borrow_mut();
        z.reset(false);
        match z.decompress(input, out, zlib_rs::InflateFlush::Finish) {
            Ok(_) if z.total_out() == out.len() as u64 => Ok(()),
            Ok(_) => Err(format!("inflates to {} bytes instead of {}", z.total_out(), out.len())),
            Err(e) => Err(format!("does not inflate ({}, after {} bytes)", e.as_str(), z.total_out())),
        }
    })
}

/// Decodes the zstd frame at the start of `input` (trailing bytes ignored) into all of `out`,
/// as QEMU's `qcow2_zstd_decompress` accepts it: success once `out` is full. Memory stays
/// bounded by the output: the decoder's window grows only with what it produces.
fn decode_zstd(input: &[u8], out: &mut [u8]) -> std::result::Result<(), String> {
    let mut src = input;
    let mut dec = ruzstd::decoding::StreamingDecoder::new(&mut src).map_err(|e| format!("is not a zstd frame ({e})"))?;
    let mut done = 0;
    while done < out.len() {
        match std::io::Read::read(&mut dec, &mut out[done..]) {
            Ok(0) => return Err(format!("decodes to {done} bytes instead of {}", out.len())),
            Ok(n) => done += n,
            Err(e) => return Err(format!("does not decode ({e}, after {done} bytes)")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A raw deflate stream of `data`, stored (uncompressed blocks), with `trailer` appended.
    fn stored(data: &[u8], trailer: &[u8]) -> Vec<u8> {
        let mut s = Vec::new();
        let mut chunks = data.chunks(65535).peekable();
        while let Some(c) = chunks.next() {
            s.push(u8::from(chunks.peek().is_none()));
            s.extend_from_slice(&(c.len() as u16).to_le_bytes());
            s.extend_from_slice(&(!(c.len() as u16)).to_le_bytes());
            s.extend_from_slice(c);
        }
        s.extend_from_slice(trailer);
        s
    }

    #[test]
    fn inflates_a_stream_followed_by_garbage_into_the_whole_cluster() {
        let data: Vec<u8> = (0..4096u32).map(|i| (i * 7) as u8).collect();
        let mut out = vec![0u8; 4096];
        inflate_raw(&stored(&data, &[0xff; 300]), &mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn short_and_corrupt_streams_are_errors() {
        let mut out = vec![0u8; 4096];
        let short = inflate_raw(&stored(&[1; 1000], &[]), &mut out).unwrap_err();
        assert!(short.contains("1000 bytes instead of 4096"), "{short}");
        let truncated = stored(&[1; 4096], &[]);
        assert!(inflate_raw(&truncated[..2000], &mut out).is_err());
        // block type 3 is reserved
        let corrupt = inflate_raw(&[0x07, 0, 0, 0], &mut out).unwrap_err();
        assert!(corrupt.contains("does not inflate"), "{corrupt}");
        // and the state is reusable after an error
        inflate_raw(&stored(&[9; 4096], &[]), &mut out).unwrap();
        assert_eq!(out, vec![9; 4096]);
    }
}
