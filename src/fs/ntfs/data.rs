//! Reading `$DATA` streams (the unnamed one and alternate data streams), LZNT1-compressed
//! ones included, and counting free clusters for `statvfs`.
//!
//! A compressed attribute is stored in compression units of 16 clusters: a unit whose
//! clusters are all allocated holds its bytes raw, one with no allocated cluster is zeros,
//! and any other holds LZNT1 data in its allocated clusters (the rest of the unit is a sparse
//! run). The crate reads compressed values raw, so we map units to runs ourselves.

use super::{lznt1, Inner, NtfsFs, MAX_ATTRIBUTES, MAX_XATTR};
use crate::fs::{Errno, Error, Result, StatVfs};
use super::io::DevReader;
use ntfs::attribute_value::NtfsAttributeValue;
use ntfs::structured_values::NtfsAttributeList;
use ntfs::{NtfsAttribute, NtfsAttributeFlags, NtfsAttributeType, NtfsReadSeek};
use std::io::SeekFrom;
use std::sync::Arc;

/// Clusters in a compression unit (`compression_unit` 4, the only value Windows writes).
const UNIT_CLUSTERS: u64 = 16;
/// Largest cluster size compression is used with.
const MAX_COMPRESSED_CLUSTER: u64 = 4096;
/// Data runs of one attribute we follow before calling it corrupt.
const MAX_RUNS: usize = 1 << 20;
/// Streams whose run maps are kept.
const STREAM_CACHE: usize = 64;

/// Reads `len` bytes of an attribute value from its start.
pub(super) fn read_value_all(fs: &NtfsFs, rdr: &mut DevReader, value: &mut NtfsAttributeValue, len: u64, ino: u64) -> Result<Vec<u8>> {
    let mut out = vec![0u8; len as usize];
    value.seek(rdr, SeekFrom::Start(0)).map_err(|e| fs.ntfs_error(format!("MFT record {ino}: attribute value"), e))?;
    let mut done = 0;
    while done < out.len() {
        let n = value.read(rdr, &mut out[done..]).map_err(|e| fs.ntfs_error(format!("MFT record {ino}: attribute value"), e))?;
        if n == 0 {
            return Err(fs.corrupt(format!("MFT record {ino}: attribute value ends at {done} of its {len} bytes")));
        }
        done += n;
    }
    Ok(out)
}

/// Where a `$DATA` stream's bytes are.
pub(super) enum Stream {
    /// Inside the MFT record.
    Resident(Vec<u8>),
    /// In data runs, possibly spread over extension records; LZNT1 when `compressed`.
    NonResident { len: u64, runs: Vec<Run>, compressed: bool },
}

/// A data run: its first byte in the value, its length, and its device offset (`None`: sparse).
pub(super) struct Run {
    start: u64,
    len: u64,
    at: Option<u64>,
}

/// The `$DATA` stream `name` ("" for the file's data) of record `ino`, with the runs of every
/// extent: the crate's attribute iterator misses the extents that follow one kept in the base
/// record when an attribute list spreads a runlist, so the list is walked here, each extent
/// placed at its lowest VCN. `None` when the stream does not exist.
pub(super) fn stream(fs: &NtfsFs, inner: &mut Inner, ino: u64, name: &str) -> Result<Option<Arc<Stream>>> {
    let key = (ino, name.to_string());
    if let Some(s) = inner.streams.get(&key) {
        return Ok(Some(s.clone()));
    }
    let Some(s) = load_stream(fs, inner, ino, name)? else { return Ok(None) };
    let s = Arc::new(s);
    if inner.streams.len() >= STREAM_CACHE {
        inner.streams.clear();
    }
    inner.streams.insert(key, s.clone());
    Ok(Some(s))
}

fn load_stream(fs: &NtfsFs, inner: &mut Inner, ino: u64, name: &str) -> Result<Option<Stream>> {
    let file = fs.file(inner, ino)?;
    let cluster = u64::from(fs.ntfs.cluster_size());
    let err = |e| fs.ntfs_error(format!("MFT record {ino}: $DATA"), e);
    let mut list = None;
    let mut base = None;
    for (count, attr) in file.attributes_raw().enumerate() {
        if count >= MAX_ATTRIBUTES {
            return Err(fs.corrupt(format!("MFT record {ino}: more than {MAX_ATTRIBUTES} attributes")));
        }
        let attr = attr.map_err(err)?;
        match attr.ty() {
            Ok(NtfsAttributeType::AttributeList) => list = Some(attr.structured_value::<_, NtfsAttributeList>(&mut inner.rdr).map_err(err)?),
            Ok(NtfsAttributeType::Data) if base.is_none() && attr.name().map_err(err)?.to_string_lossy() == name => {
                if attr.is_resident() {
                    let mut value = attr.value(&mut inner.rdr).map_err(err)?;
                    let len = attr.value_length();
                    return Ok(Some(Stream::Resident(read_value_all(fs, &mut inner.rdr, &mut value, len, ino)?)));
                }
                let mut runs = Vec::new();
                add_runs(fs, &mut inner.rdr, ino, &attr, 0, &mut runs)?;
                base = Some(Stream::NonResident { len: attr.value_length(), runs, compressed: attr.flags().contains(NtfsAttributeFlags::COMPRESSED) });
            }
            _ => {}
        }
    }
    let Some(list) = list else { return Ok(base) };
    let (mut len, mut compressed, mut found) = (0, false, false);
    let mut runs = Vec::new();
    let mut entries = list.entries();
    let mut count = 0usize;
    while let Some(entry) = entries.next(&mut inner.rdr) {
        count += 1;
        if count > MAX_ATTRIBUTES {
            return Err(fs.corrupt(format!("MFT record {ino}: more than {MAX_ATTRIBUTES} attribute list entries")));
        }
        let entry = entry.map_err(err)?;
        if !matches!(entry.ty(), Ok(NtfsAttributeType::Data)) || entry.name().to_string_lossy() != name {
            continue;
        }
        let efile = entry.to_file(&fs.ntfs, &mut inner.rdr).map_err(err)?;
        let attr = entry.to_attribute(&efile).map_err(err)?;
        if attr.is_resident() {
            let mut value = attr.value(&mut inner.rdr).map_err(err)?;
            let len = attr.value_length();
            return Ok(Some(Stream::Resident(read_value_all(fs, &mut inner.rdr, &mut value, len, ino)?)));
        }
        let vcn = u64::try_from(entry.lowest_vcn().value()).map_err(|_| fs.corrupt(format!("MFT record {ino}: negative VCN in the attribute list")))?;
        if vcn == 0 {
            (len, compressed) = (attr.value_length(), attr.flags().contains(NtfsAttributeFlags::COMPRESSED));
        }
        let start = vcn.checked_mul(cluster).ok_or_else(|| fs.corrupt(format!("MFT record {ino}: VCN {vcn} too large")))?;
        add_runs(fs, &mut inner.rdr, ino, &attr, start, &mut runs)?;
        found = true;
    }
    if !found {
        return Ok(base);
    }
    runs.sort_by_key(|r| r.start);
    if runs.windows(2).any(|w| w[0].start + w[0].len > w[1].start) {
        return Err(fs.corrupt(format!("MFT record {ino}: $DATA extents overlap")));
    }
    Ok(Some(Stream::NonResident { len, runs, compressed }))
}

/// Appends the data runs of the non-resident extent `attr`, whose first byte is `start`.
fn add_runs(fs: &NtfsFs, rdr: &mut DevReader, ino: u64, attr: &NtfsAttribute, start: u64, runs: &mut Vec<Run>) -> Result<()> {
    let err = |e| fs.ntfs_error(format!("MFT record {ino}: $DATA runs"), e);
    let NtfsAttributeValue::NonResident(v) = attr.value(rdr).map_err(err)? else {
        return Err(fs.corrupt(format!("MFT record {ino}: $DATA extent is not a plain non-resident value")));
    };
    let mut pos = start;
    for run in v.data_runs() {
        if runs.len() >= MAX_RUNS {
            return Err(fs.corrupt(format!("MFT record {ino}: more than {MAX_RUNS} data runs")));
        }
        let run = run.map_err(err)?;
        let len = run.allocated_size();
        runs.push(Run { start: pos, len, at: run.data_position().value().map(|p| p.get()) });
        pos = pos.checked_add(len).ok_or_else(|| fs.corrupt(format!("MFT record {ino}: $DATA runs overflow")))?;
    }
    Ok(())
}

/// Reads `buf.len()` bytes at `offset` of the `$DATA` stream `name` ("" for the file's data)
/// of record `ino`, stopping at the stream's end. Returns the count read.
pub(super) fn read_stream(fs: &NtfsFs, inner: &mut Inner, ino: u64, name: &str, offset: u64, buf: &mut [u8]) -> Result<usize> {
    let Some(s) = stream(fs, inner, ino, name)? else { return Err(Error::Os(Errno::NoData)) };
    match &*s {
        Stream::Resident(data) => {
            let Some(rest) = usize::try_from(offset).ok().and_then(|o| data.get(o..)) else { return Ok(0) };
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            Ok(n)
        }
        Stream::NonResident { len, runs, compressed } => {
            if offset >= *len || buf.is_empty() {
                return Ok(0);
            }
            let n = (len - offset).min(buf.len() as u64) as usize;
            let buf = &mut buf[..n];
            if *compressed {
                read_compressed(fs, inner, ino, runs, offset, buf)?;
            } else {
                read_runs(fs, inner, ino, runs, offset, buf)?;
            }
            Ok(n)
        }
    }
}

/// The index of the run holding byte `pos` or the first after it.
fn first_run(runs: &[Run], pos: u64) -> usize {
    runs.partition_point(|r| r.start + r.len <= pos)
}

/// Reads plain data: holes and bytes past the last run read as zeros.
fn read_runs(fs: &NtfsFs, inner: &mut Inner, ino: u64, runs: &[Run], offset: u64, buf: &mut [u8]) -> Result<()> {
    buf.fill(0);
    let end = offset + buf.len() as u64;
    for r in &runs[first_run(runs, offset)..] {
        if r.start >= end {
            break;
        }
        let (lo, hi) = (r.start.max(offset), (r.start + r.len).min(end));
        if let Some(at) = r.at {
            let dst = &mut buf[(lo - offset) as usize..(hi - offset) as usize];
            inner.rdr.read_full_at(dst, at + (lo - r.start)).map_err(|e| fs.io(format!("MFT record {ino}: data"), e))?;
        }
    }
    Ok(())
}

/// Reads compressed data (`buf` lies inside the value).
fn read_compressed(fs: &NtfsFs, inner: &mut Inner, ino: u64, runs: &[Run], offset: u64, buf: &mut [u8]) -> Result<()> {
    let cluster = u64::from(fs.ntfs.cluster_size());
    if cluster > MAX_COMPRESSED_CLUSTER {
        return Err(Error::Unsupported { dev: fs.dev.name(), fs: "ntfs".into(), feature: format!("compression with {cluster}-byte clusters") });
    }
    let unit = UNIT_CLUSTERS * cluster;
    let first = offset / unit;
    let end = offset + buf.len() as u64;
    let last_end = end.div_ceil(unit) * unit;
    let mut plain = vec![0u8; unit as usize];
    let mut packed = Vec::with_capacity(unit as usize);
    for u in first..last_end / unit {
        let (ustart, uend) = (u * unit, (u + 1) * unit);
        packed.clear();
        let mut allocated = 0u64;
        for r in runs[first_run(runs, ustart)..].iter().take_while(|r| r.start < uend) {
            let (lo, hi) = (r.start.max(ustart), (r.start + r.len).min(uend));
            if let Some(at) = r.at {
                let from = packed.len();
                packed.resize(from + (hi - lo) as usize, 0);
                inner.rdr.read_full_at(&mut packed[from..], at + (lo - r.start)).map_err(|e| fs.io(format!("MFT record {ino}: compressed data"), e))?;
                allocated += hi - lo;
            }
        }
        if allocated == unit {
            plain.copy_from_slice(&packed);
        } else if allocated == 0 {
            plain.fill(0);
        } else {
            lznt1::decompress(&packed, &mut plain).map_err(|m| fs.corrupt(format!("MFT record {ino}: compression unit {u}: {m}")))?;
        }
        let (lo, hi) = (offset.max(ustart), end.min(uend));
        buf[(lo - offset) as usize..(hi - offset) as usize].copy_from_slice(&plain[(lo - ustart) as usize..(hi - ustart) as usize]);
    }
    Ok(())
}

/// The alternate data streams of record `ino` as `user.NAME` xattrs.
pub(super) fn named_streams(fs: &NtfsFs, inner: &mut Inner, ino: u64) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut streams = Vec::new();
    {
        let file = fs.file(inner, ino)?;
        let err = |e| fs.ntfs_error(format!("MFT record {ino}: named $DATA"), e);
        let mut attrs = file.attributes();
        let mut count = 0usize;
        while let Some(item) = attrs.next(&mut inner.rdr) {
            count += 1;
            if count > MAX_ATTRIBUTES {
                return Err(fs.corrupt(format!("MFT record {ino}: more than {MAX_ATTRIBUTES} attributes")));
            }
            let item = item.map_err(err)?;
            let attr = item.to_attribute().map_err(err)?;
            if matches!(attr.ty(), Ok(NtfsAttributeType::Data)) && attr.name_length() > 0 {
                let name = attr.name().map_err(err)?.to_string_lossy();
                if !streams.contains(&name) {
                    streams.push(name);
                }
            }
        }
    }
    let mut total = 0u64;
    let mut out = Vec::with_capacity(streams.len());
    for name in streams {
        let len = match stream(fs, inner, ino, &name)?.as_deref() {
            Some(Stream::Resident(d)) => d.len() as u64,
            Some(Stream::NonResident { len, .. }) => *len,
            None => continue,
        };
        total = total.saturating_add(len);
        if total > MAX_XATTR {
            return Err(Error::Os(Errno::TooBig));
        }
        let mut value = vec![0u8; len as usize];
        read_stream(fs, inner, ino, &name, 0, &mut value)?;
        out.push((format!("user.{name}").into_bytes(), value));
    }
    Ok(out)
}

/// `statvfs` as ntfs-3g answers it: clusters, free clusters counted in `$Bitmap`, and as
/// inodes the bits of the MFT bitmap's clusters plus the records the free clusters could hold.
pub(super) fn statvfs(fs: &NtfsFs, inner: &mut Inner) -> Result<StatVfs> {
    let cluster = u64::from(fs.ntfs.cluster_size());
    let record = u64::from(fs.ntfs.file_record_size());
    let clusters = fs.ntfs.size() / cluster;
    let free = clusters.saturating_sub(count_ones(fs, inner, 6, clusters)?.0);
    // ntfs-3g counts every bit of the MFT bitmap's clusters as a record.
    let (mft_used, bitmap_len) = count_ones(fs, inner, 0, u64::MAX)?;
    let mft_bits = bitmap_len.div_ceil(cluster).saturating_mul(cluster).saturating_mul(8);
    let mft_free = mft_bits.saturating_sub(mft_used);
    let inodes = if cluster >= record { free.saturating_mul(cluster / record) } else { free / (record / cluster) };
    Ok(StatVfs {
        bsize: cluster,
        frsize: cluster,
        blocks: clusters,
        bfree: free,
        bavail: free,
        files: mft_bits.saturating_add(inodes),
        ffree: mft_free.saturating_add(inodes),
        favail: mft_free.saturating_add(inodes),
        fsid: 0,
        flag: super::ST_RDONLY,
        namemax: 255,
    })
}

/// Set bits among the first `bits` of a bitmap, and the bitmap's length in bytes: record 6's
/// data (`$Bitmap`) or, for record 0, the `$MFT`'s `$BITMAP` attribute.
fn count_ones(fs: &NtfsFs, inner: &mut Inner, ino: u64, bits: u64) -> Result<(u64, u64)> {
    let file = fs.ntfs.file(&mut inner.rdr, ino).map_err(|e| fs.ntfs_error(format!("MFT record {ino}"), e))?;
    let err = |e| fs.ntfs_error(format!("MFT record {ino}: bitmap"), e);
    let want = if ino == 0 { NtfsAttributeType::Bitmap } else { NtfsAttributeType::Data };
    let mut attrs = file.attributes();
    let mut count = 0usize;
    let item = loop {
        count += 1;
        let Some(item) = attrs.next(&mut inner.rdr).filter(|_| count <= MAX_ATTRIBUTES) else {
            return Err(fs.corrupt(format!("MFT record {ino}: no bitmap")));
        };
        let item = item.map_err(err)?;
        let attr = item.to_attribute().map_err(err)?;
        if attr.ty().ok() == Some(want) && attr.name_length() == 0 {
            break item;
        }
    };
    let attr = item.to_attribute().map_err(err)?;
    let bitmap_len = attr.value_length();
    let len = bitmap_len.min(bits.div_ceil(8));
    let mut value = attr.value(&mut inner.rdr).map_err(err)?;
    value.seek(&mut inner.rdr, SeekFrom::Start(0)).map_err(err)?;
    let mut chunk = vec![0u8; 1 << 20];
    let (mut done, mut used) = (0u64, 0u64);
    while done < len {
        let want = (len - done).min(chunk.len() as u64) as usize;
        let n = value.read(&mut inner.rdr, &mut chunk[..want]).map_err(err)?;
        if n == 0 {
            break;
        }
        for (i, &b) in chunk[..n].iter().enumerate() {
            let first_bit = (done + i as u64) * 8;
            let valid = bits.saturating_sub(first_bit).min(8) as u32;
            let mask = if valid == 8 { 0xff } else { (1u16 << valid) as u8 - 1 };
            used += u64::from((b & mask).count_ones());
        }
        done += n as u64;
    }
    Ok((used, bitmap_len))
}
