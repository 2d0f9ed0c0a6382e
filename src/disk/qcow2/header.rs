//! Our own qcow2 header parser: every field is read and bounded here, before imago sees the file.
//!
//! The header, its extensions and the backing file name all live in the first cluster (as QEMU
//! requires), so parsing needs the first cluster of the file and the file length only.

use crate::disk::{Error, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The qcow2 magic, `QFI\xfb`.
pub const MAGIC: [u8; 4] = *b"QFI\xfb";

/// Length of the version 2 header, and of the version 3 header without optional fields.
const V2_HEADER_LEN: usize = 72;
const V3_HEADER_LEN: usize = 104;

/// Cluster size limits (QEMU: 512 bytes to 2 MiB).
const MIN_CLUSTER_BITS: u32 = 9;
const MAX_CLUSTER_BITS: u32 = 21;

/// Largest L1 table QEMU accepts (32 MiB of 8-byte entries).
pub(super) const MAX_L1_ENTRIES: u64 = 32 * 1024 * 1024 / 8;
/// Largest refcount table QEMU accepts (8 MiB).
const MAX_REFTABLE_BYTES: u64 = 8 * 1024 * 1024;
/// Largest snapshot count QEMU accepts.
const MAX_SNAPSHOTS: u32 = 65536;
/// Longest backing file name QEMU accepts.
const MAX_BACKING_NAME: u32 = 1023;

/// Header extension types.
const EXT_END: u32 = 0;
const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
const EXT_DATA_FILE: u32 = 0x4441_5441;
const EXT_BITMAPS: u32 = 0x2385_2875;

/// Autoclear feature bit 0: the bitmaps extension is consistent.
const AUTOCLEAR_BITMAPS: u64 = 1 << 0;

/// Incompatible feature bits.
const INCOMPAT_DIRTY: u64 = 1 << 0;
const INCOMPAT_CORRUPT: u64 = 1 << 1;
const INCOMPAT_DATA_FILE: u64 = 1 << 2;
const INCOMPAT_COMPRESSION: u64 = 1 << 3;
const INCOMPAT_EXTL2: u64 = 1 << 4;

/// Compatible feature bit: lazy refcounts.
const COMPAT_LAZY_REFCOUNTS: u64 = 1 << 0;

/// Compression used for compressed clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// zlib/deflate (the default, `compression_type = 0`).
    Zlib,
    /// zstd (`compression_type = 1`).
    Zstd,
}

impl Compression {
    /// The name `qemu-img info` prints (`zlib`, `zstd`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::Zlib => "zlib",
            Compression::Zstd => "zstd",
        }
    }
}

/// What the qcow2 header says, after validation of every offset and size in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qcow2Info {
    /// Virtual disk size in bytes.
    pub virtual_size: u64,
    /// Cluster size in bytes.
    pub cluster_size: u64,
    /// Header version: 2 (compat=0.10) or 3 (compat=1.1).
    pub version: u32,
    /// Backing file name as stored in the header (may be relative to the image's directory).
    pub backing_file: Option<String>,
    /// Backing file format from the backing-format header extension.
    pub backing_format: Option<String>,
    /// Compression used for compressed clusters.
    pub compression_type: Compression,
    /// Refcount width in bits (`1 << refcount_order`).
    pub refcount_bits: u32,
    /// Lazy refcounts (compatible feature bit 0).
    pub lazy_refcounts: bool,
    /// Number of L1 table entries.
    pub l1_size: u32,
    /// File offset of the L1 table (cluster-aligned, inside the file).
    pub l1_table_offset: u64,
    /// File offset of the refcount table (cluster-aligned, inside the file).
    pub refcount_table_offset: u64,
    /// Length of the refcount table in clusters.
    pub refcount_table_clusters: u32,
    /// Number of internal snapshots.
    pub nb_snapshots: u32,
    /// File offset of the snapshot table (meaningful when `nb_snapshots > 0`).
    pub snapshots_offset: u64,
    /// Incompatible feature bits (dirty, corrupt, external data file, compression type,
    /// extended L2, and any unknown bit).
    pub incompatible_features: u64,
    /// Encryption method (0 = none, 1 = AES, 2 = LUKS).
    pub crypt_method: u32,
    /// External data file name from the header extension, if any.
    pub data_file: Option<String>,
    /// The bitmaps extension, when present and marked consistent (autoclear bit 0).
    pub bitmaps: Option<Bitmaps>,
}

/// Where the persistent dirty bitmaps are (the bitmaps header extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bitmaps {
    /// Number of bitmaps in the directory.
    pub count: u32,
    /// File offset of the bitmap directory.
    pub directory_offset: u64,
    /// Size of the bitmap directory in bytes.
    pub directory_size: u64,
}

impl Qcow2Info {
    /// The dirty bit (incompatible bit 0): refcounts may be stale.
    pub fn dirty(&self) -> bool {
        self.incompatible_features & INCOMPAT_DIRTY != 0
    }

    /// The corrupt bit (incompatible bit 1).
    pub fn corrupt(&self) -> bool {
        self.incompatible_features & INCOMPAT_CORRUPT != 0
    }

    /// Extended L2 entries with subclusters (incompatible bit 4).
    pub fn extended_l2(&self) -> bool {
        self.incompatible_features & INCOMPAT_EXTL2 != 0
    }

    /// The `compat` string `qemu-img info` prints: `0.10` or `1.1`.
    pub fn compat(&self) -> &'static str {
        if self.version == 2 {
            "0.10"
        } else {
            "1.1"
        }
    }

    /// Our safety gate: refuses every feature we do not open safely, naming the feature and the
    /// command that converts or repairs the image.
    pub fn check_supported(&self, path: &Path) -> Result<()> {
        let unsupported = |feature: &str, fix: String| Error::Qcow2Unsupported {
            path: path.to_path_buf(),
            feature: feature.to_string(),
            fix,
        };
        let p = path.display();
        if self.crypt_method != 0 {
            let method = if self.crypt_method == 1 { "AES" } else { "LUKS" };
            return Err(unsupported(
                &format!("encryption ({method})"),
                format!(
                    "decrypt it with qemu-img convert --object secret,id=sec0,file=KEYFILE \
                     --image-opts driver=qcow2,file.filename={p},encrypt.key-secret=sec0 -O qcow2 OUT"
                ),
            ));
        }
        if self.corrupt() {
            return Err(unsupported(
                "corrupt bit set (incompatible feature bit 1)",
                format!("check and repair it with `qemu-img check -r all {p}`"),
            ));
        }
        if self.incompatible_features & INCOMPAT_DATA_FILE != 0 || self.data_file.is_some() {
            return Err(unsupported(
                "external data file (incompatible feature bit 2)",
                format!("convert it to a self-contained image with `qemu-img convert -O qcow2 {p} OUT`"),
            ));
        }
        if self.extended_l2() {
            return Err(unsupported(
                "extended L2 entries (incompatible feature bit 4)",
                format!("convert it with `qemu-img convert -O qcow2 -o extended_l2=off {p} OUT`"),
            ));
        }
        let known = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;
        let unknown = self.incompatible_features & !known;
        if unknown != 0 {
            return Err(unsupported(
                &format!("unknown incompatible feature bits {unknown:#x}"),
                format!("convert it with a newer `qemu-img convert -O qcow2 -o compat=1.1 {p} OUT`"),
            ));
        }
        Ok(())
    }
}

/// Reads and parses the header of the qcow2 image at `path` (our own parser; no imago).
pub fn read_info(path: &Path) -> Result<Qcow2Info> {
    let file = crate::disk::file::open(path, false)?;
    read_info_from(&file, path)
}

/// Reads the first cluster of an open image file and parses the header in it.
pub(super) fn read_info_from(file: &File, path: &Path) -> Result<Qcow2Info> {
    let io = |op, source| Error::Io { path: path.to_path_buf(), op, source };
    let file_len = file.metadata().map_err(|e| io("stat", e))?.len();
    // Cluster bits sit at byte 20; the first cluster is at most 2 MiB once they are checked.
    let mut fixed = [0u8; V3_HEADER_LEN];
    let fixed_len = usize::try_from(file_len).unwrap_or(usize::MAX).min(V3_HEADER_LEN);
    let fixed = fixed.get_mut(..fixed_len).unwrap_or_default();
    file.read_exact_at(fixed, 0).map_err(|e| io("read", e))?;
    let cluster_bits = cluster_bits(fixed, path)?;
    let want = (1u64 << cluster_bits).min(file_len);
    let mut first = vec![0u8; want as usize];
    file.read_exact_at(&mut first, 0).map_err(|e| io("read", e))?;
    parse_header(&first, file_len, path)
}

/// Big-endian field reader over the first cluster; out-of-bounds reads are errors.
struct Fields<'a> {
    bytes: &'a [u8],
    path: &'a Path,
}

impl Fields<'_> {
    fn slice(&self, off: usize, len: usize, what: &str) -> Result<&[u8]> {
        off.checked_add(len)
            .and_then(|end| self.bytes.get(off..end))
            .ok_or_else(|| corrupt(self.path, format!("{what} at byte {off} lies beyond the first cluster or the end of the file; the image is truncated or corrupt")))
    }

    fn u32(&self, off: usize, what: &str) -> Result<u32> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.slice(off, 4, what)?);
        Ok(u32::from_be_bytes(b))
    }

    fn u64(&self, off: usize, what: &str) -> Result<u64> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.slice(off, 8, what)?);
        Ok(u64::from_be_bytes(b))
    }
}

fn corrupt(path: &Path, msg: String) -> Error {
    Error::Qcow2 { path: path.to_path_buf(), msg }
}

/// Checks the magic and returns the validated cluster_bits from the start of the header.
fn cluster_bits(bytes: &[u8], path: &Path) -> Result<u32> {
    let f = Fields { bytes, path };
    if f.slice(0, 4, "magic")? != MAGIC {
        return Err(corrupt(path, "bad magic: not a qcow2 image".into()));
    }
    let bits = f.u32(20, "cluster_bits")?;
    if !(MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS).contains(&bits) {
        return Err(corrupt(
            path,
            format!("cluster_bits {bits} is outside {MIN_CLUSTER_BITS}..={MAX_CLUSTER_BITS}; the header is corrupt"),
        ));
    }
    Ok(bits)
}

/// Checks that the table at `off` of `len` bytes is cluster-aligned and inside the file.
fn check_table(path: &Path, what: &str, off: u64, len: u64, cluster_size: u64, file_len: u64) -> Result<()> {
    if off % cluster_size != 0 {
        return Err(corrupt(path, format!("{what} offset {off:#x} is not cluster-aligned; the header is corrupt")));
    }
    match off.checked_add(len) {
        Some(end) if end <= file_len => Ok(()),
        _ => Err(corrupt(
            path,
            format!("{what} ({len} bytes at {off:#x}) lies beyond the end of the file ({file_len} bytes); the image is truncated or corrupt"),
        )),
    }
}

/// Parses and validates a qcow2 header. `first_cluster` holds the start of the file (at least
/// the whole first cluster, or the whole file when it is smaller); `file_len` is the file size.
/// Never panics and allocates only the (bounded) names it returns.
pub fn parse_header(first_cluster: &[u8], file_len: u64, path: &Path) -> Result<Qcow2Info> {
    let cluster_bits = cluster_bits(first_cluster, path)?;
    let cluster_size = 1u64 << cluster_bits;
    // Only the first cluster may hold header data.
    let bytes = first_cluster.get(..cluster_size as usize).unwrap_or(first_cluster);
    let f = Fields { bytes, path };

    let version = f.u32(4, "version")?;
    if version != 2 && version != 3 {
        return Err(Error::Qcow2Unsupported {
            path: path.to_path_buf(),
            feature: format!("qcow2 version {version}"),
            fix: format!("convert it with `qemu-img convert -O qcow2 -o compat=1.1 {} OUT`", path.display()),
        });
    }
    let backing_file_offset = f.u64(8, "backing_file_offset")?;
    let backing_file_size = f.u32(16, "backing_file_size")?;
    let virtual_size = f.u64(24, "size")?;
    let crypt_method = f.u32(32, "crypt_method")?;
    let l1_size = f.u32(36, "l1_size")?;
    let l1_table_offset = f.u64(40, "l1_table_offset")?;
    let refcount_table_offset = f.u64(48, "refcount_table_offset")?;
    let refcount_table_clusters = f.u32(56, "refcount_table_clusters")?;
    let nb_snapshots = f.u32(60, "nb_snapshots")?;
    let snapshots_offset = f.u64(64, "snapshots_offset")?;

    let (incompatible_features, compatible_features, autoclear_features, refcount_order, header_length, compression_type) = if version == 2 {
        (0, 0, 0, 4, V2_HEADER_LEN, Compression::Zlib)
    } else {
        let incompat = f.u64(72, "incompatible_features")?;
        let compat = f.u64(80, "compatible_features")?;
        let autoclear = f.u64(88, "autoclear_features")?;
        let order = f.u32(96, "refcount_order")?;
        let len = f.u32(100, "header_length")?;
        if (len as usize) < V3_HEADER_LEN || u64::from(len) > cluster_size || (len > V3_HEADER_LEN as u32 && len % 8 != 0) {
            return Err(corrupt(path, format!("header_length {len} is invalid (must be 104, or a multiple of 8 within the first cluster)")));
        }
        let ctype = if len as usize > V3_HEADER_LEN { f.slice(104, 1, "compression_type")?.first().copied().unwrap_or(0) } else { 0 };
        let compression = match ctype {
            0 => Compression::Zlib,
            1 => Compression::Zstd,
            other => {
                return Err(Error::Qcow2Unsupported {
                    path: path.to_path_buf(),
                    feature: format!("unknown compression type {other}"),
                    fix: format!("convert it with `qemu-img convert -O qcow2 -o compression_type=zlib {} OUT`", path.display()),
                })
            }
        };
        if (incompat & INCOMPAT_COMPRESSION != 0) != (compression != Compression::Zlib) {
            return Err(corrupt(path, format!("compression type bit (incompatible bit 3) does not match compression_type {ctype}")));
        }
        (incompat, compat, autoclear, order, len as usize, compression)
    };
    if refcount_order > 6 {
        return Err(corrupt(path, format!("refcount_order {refcount_order} is larger than 6")));
    }

    // L1 table: bounded, inside the file, and large enough for the virtual size.
    if u64::from(l1_size) > MAX_L1_ENTRIES {
        return Err(corrupt(path, format!("l1_size {l1_size} exceeds the maximum of {MAX_L1_ENTRIES} entries; the header is corrupt")));
    }
    let l2_entry_size = if incompatible_features & INCOMPAT_EXTL2 != 0 { 16 } else { 8 };
    let bytes_per_l1_entry = cluster_size / l2_entry_size * cluster_size;
    let needed_l1 = virtual_size.div_ceil(bytes_per_l1_entry);
    if needed_l1 > u64::from(l1_size) {
        return Err(corrupt(
            path,
            format!("L1 table has {l1_size} entries but the virtual size {virtual_size} needs {needed_l1}; the header is corrupt"),
        ));
    }
    check_table(path, "L1 table", l1_table_offset, u64::from(l1_size) * 8, cluster_size, file_len)?;

    let reftable_bytes = u64::from(refcount_table_clusters) * cluster_size;
    if reftable_bytes > MAX_REFTABLE_BYTES {
        return Err(corrupt(path, format!("refcount table of {refcount_table_clusters} clusters exceeds {MAX_REFTABLE_BYTES} bytes; the header is corrupt")));
    }
    check_table(path, "refcount table", refcount_table_offset, reftable_bytes, cluster_size, file_len)?;

    if nb_snapshots > MAX_SNAPSHOTS {
        return Err(corrupt(path, format!("nb_snapshots {nb_snapshots} exceeds {MAX_SNAPSHOTS}")));
    }
    if nb_snapshots > 0 {
        // Each snapshot table entry is at least 40 bytes.
        check_table(path, "snapshot table", snapshots_offset, u64::from(nb_snapshots) * 40, cluster_size, file_len)?;
    }

    // Backing file name: inside the first cluster, after the header.
    let backing_file = if backing_file_offset == 0 {
        None
    } else {
        if backing_file_size == 0 || backing_file_size > MAX_BACKING_NAME {
            return Err(corrupt(path, format!("backing file name length {backing_file_size} is not within 1..={MAX_BACKING_NAME}")));
        }
        let off = usize::try_from(backing_file_offset)
            .ok()
            .filter(|&o| o >= header_length)
            .ok_or_else(|| corrupt(path, format!("backing file name offset {backing_file_offset:#x} is not inside the first cluster after the header")))?;
        let name = f.slice(off, backing_file_size as usize, "backing file name")?;
        let name = std::str::from_utf8(name)
            .map_err(|_| corrupt(path, "backing file name is not valid UTF-8".into()))?;
        if name.contains('\0') {
            return Err(corrupt(path, "backing file name contains a NUL byte".into()));
        }
        Some(name.to_string())
    };

    // Header extensions: from the end of the header to the backing file name (or the end of the
    // first cluster). Each is at least 8 bytes, so the loop is bounded by the cluster size.
    let ext_end = match backing_file_offset {
        0 => bytes.len(),
        off => usize::try_from(off).unwrap_or(usize::MAX).min(bytes.len()),
    };
    let mut backing_format = None;
    let mut data_file = None;
    let mut bitmaps = None;
    let mut pos = header_length;
    loop {
        if pos.checked_add(8).is_none_or(|end| end > ext_end) {
            if pos == ext_end {
                break;
            }
            return Err(corrupt(path, format!("header extension at byte {pos} runs past the end of the extension area")));
        }
        let ty = f.u32(pos, "header extension type")?;
        if ty == EXT_END {
            break;
        }
        let len = f.u32(pos + 4, "header extension length")? as usize;
        let data_off = pos + 8;
        let data = f.slice(data_off, len, "header extension")?;
        if data_off + len > ext_end {
            return Err(corrupt(path, format!("header extension {ty:#x} at byte {pos} runs past the end of the extension area")));
        }
        match ty {
            EXT_BACKING_FORMAT => backing_format = Some(ext_string(data, path, "backing format")?),
            EXT_DATA_FILE => data_file = Some(ext_string(data, path, "external data file name")?),
            EXT_BITMAPS if autoclear_features & AUTOCLEAR_BITMAPS != 0 => bitmaps = Some(bitmaps_ext(data, path)?),
            _ => {}
        }
        pos = data_off + len.next_multiple_of(8);
    }

    Ok(Qcow2Info {
        virtual_size,
        cluster_size,
        version,
        backing_file,
        backing_format,
        compression_type,
        refcount_bits: 1 << refcount_order,
        lazy_refcounts: compatible_features & COMPAT_LAZY_REFCOUNTS != 0,
        l1_size,
        l1_table_offset,
        refcount_table_offset,
        refcount_table_clusters,
        nb_snapshots,
        snapshots_offset,
        incompatible_features,
        crypt_method,
        data_file,
        bitmaps,
    })
}

/// The bitmaps extension: bitmap count, reserved word, directory size and offset.
fn bitmaps_ext(data: &[u8], path: &Path) -> Result<Bitmaps> {
    let f = Fields { bytes: data, path };
    if data.len() != 24 {
        return Err(corrupt(path, format!("bitmaps header extension has {} bytes, not 24", data.len())));
    }
    Ok(Bitmaps { count: f.u32(0, "nb_bitmaps")?, directory_size: f.u64(8, "bitmap_directory_size")?, directory_offset: f.u64(16, "bitmap_directory_offset")? })
}

/// A string header extension (no NUL, UTF-8).
fn ext_string(data: &[u8], path: &Path, what: &str) -> Result<String> {
    let s = std::str::from_utf8(data).map_err(|_| corrupt(path, format!("{what} is not valid UTF-8")))?;
    if s.contains('\0') {
        return Err(corrupt(path, format!("{what} contains a NUL byte")));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal v3 header (64 KiB clusters, 1 MiB disk, refcount table at 0x10000, L1 at
    /// 0x30000, file of 0x40000 bytes) with a backing file name at 0x200 and the given
    /// extensions after the 112-byte header.
    fn header(exts: &[(u32, &[u8])]) -> Vec<u8> {
        let mut h = vec![0u8; 65536];
        let mut put = |off: usize, b: &[u8]| h[off..off + b.len()].copy_from_slice(b);
        put(0, &MAGIC);
        put(4, &3u32.to_be_bytes());
        put(8, &0x200u64.to_be_bytes());
        put(16, &8u32.to_be_bytes());
        put(20, &16u32.to_be_bytes());
        put(24, &(1u64 << 20).to_be_bytes());
        put(36, &1u32.to_be_bytes());
        put(40, &0x30000u64.to_be_bytes());
        put(48, &0x10000u64.to_be_bytes());
        put(56, &1u32.to_be_bytes());
        put(96, &4u32.to_be_bytes());
        put(100, &112u32.to_be_bytes());
        put(0x200, b"base.img");
        let mut pos = 112;
        for (ty, data) in exts {
            put(pos, &ty.to_be_bytes());
            put(pos + 4, &(data.len() as u32).to_be_bytes());
            put(pos + 8, data);
            pos += 8 + data.len().next_multiple_of(8);
        }
        h
    }

    const LEN: u64 = 0x40000;

    #[test]
    fn parses_backing_name_and_format() {
        let info = parse_header(&header(&[(EXT_BACKING_FORMAT, b"raw"), (0x6803_f857, &[0; 48])]), LEN, Path::new("x")).unwrap();
        assert_eq!(info.backing_file.as_deref(), Some("base.img"));
        assert_eq!(info.backing_format.as_deref(), Some("raw"));
        assert_eq!((info.version, info.cluster_size, info.refcount_bits), (3, 65536, 16));
        assert!(info.check_supported(Path::new("x")).is_ok());
    }

    #[test]
    fn refuses_extensions_overrunning_the_backing_name() {
        let err = parse_header(&header(&[(EXT_BACKING_FORMAT, &[b'q'; 0x200])]), LEN, Path::new("x")).unwrap_err();
        assert!(err.to_string().contains("runs past"), "{err}");
    }

    #[test]
    fn refuses_backing_name_inside_the_header() {
        let mut h = header(&[]);
        h[8..16].copy_from_slice(&64u64.to_be_bytes());
        let err = parse_header(&h, LEN, Path::new("x")).unwrap_err();
        assert!(err.to_string().contains("backing file name offset"), "{err}");
    }

    #[test]
    fn external_data_file_name_is_refused_by_the_gate() {
        let info = parse_header(&header(&[(EXT_DATA_FILE, b"data.raw")]), LEN, Path::new("x")).unwrap();
        let err = info.check_supported(Path::new("x")).unwrap_err();
        assert!(err.to_string().contains("external data file"), "{err}");
    }
}
