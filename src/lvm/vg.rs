//! Volume groups: metadata tree → structs, assembly of PVs found on several devices, and LVs
//! as block devices.

use super::metadata::{self, Item, Section, Value};
use super::striped::Striped;
use super::mda::{self, MdaInfo};
use super::{label, Error, Result};
use crate::disk::{Dev, Extent, Linear};
use crate::units::SECTOR_SIZE;
use std::collections::HashMap;
use std::sync::Arc;

/// A physical volume of a volume group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysicalVolume {
    /// Name in the metadata (`pv0`).
    pub name: String,
    /// The scanned device holding it (`/dev/sda2`), or `[unknown]` when it was not found.
    pub device: String,
    /// PV uuid, dashed as in the metadata.
    pub uuid: String,
    /// Device size recorded in the metadata, in bytes.
    pub dev_size: u64,
    /// Start of the first extent on the device, in bytes.
    pub pe_start: u64,
    /// Number of extents.
    pub pe_count: u64,
    /// Status flags (`ALLOCATABLE`…).
    pub status: Vec<String>,
    /// Compatible flags (`MISSING` when lvm2 marked the PV lost).
    pub flags: Vec<String>,
    /// Tags, in metadata order.
    pub tags: Vec<String>,
    /// Size of the device the scan found it on, in bytes; 0 when it was not found.
    pub dev_len: u64,
    /// The metadata areas of its label; empty when it was not found.
    pub mdas: Vec<MdaInfo>,
}

/// A contiguous run of an LV's extents with one mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// First LV extent of the segment.
    pub start_extent: u64,
    /// Number of LV extents.
    pub extent_count: u64,
    /// How the extents map to PVs.
    pub kind: SegmentKind,
    /// String fields of a segment of another type, in file order: the LVs it refers to
    /// (`thin_pool`, `origin`, `external_origin`, `metadata`, `pool`, `cow_store`, …).
    pub refs: Vec<(String, String)>,
    /// `zero_new_blocks` of a thin-pool segment.
    pub zero_new_blocks: bool,
}

/// The mapping of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentKind {
    /// Linear (one stripe) or striped over PVs.
    Striped {
        /// Stripe size in bytes; 0 when there is one stripe.
        stripe_size: u64,
        /// `(pv name, first extent on that pv)` per stripe.
        stripes: Vec<(String, u64)>,
    },
    /// A type we do not map: thin, thin-pool, raid1, mirror, cache, snapshot…
    Unsupported {
        /// The `type` field of the segment.
        seg_type: String,
    },
}

/// A logical volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalVolume {
    /// LV name.
    pub name: String,
    /// LV uuid, dashed.
    pub uuid: String,
    /// Status flags (`READ`, `WRITE`, `VISIBLE`…); tools list only LVs with `VISIBLE`.
    pub status: Vec<String>,
    /// Compatible flags (`ACTIVATION_SKIP`…).
    pub flags: Vec<String>,
    /// Tags, in metadata order.
    pub tags: Vec<String>,
    /// `allocation_policy` (`inherit` when absent).
    pub alloc_policy: String,
    /// Persistent device numbers (`major`, `minor`), set with the `FIXED_MINOR` status.
    pub major_minor: Option<(i64, i64)>,
    /// Segments in LV order.
    pub segments: Vec<Segment>,
}

/// A volume group assembled from the newest metadata found on its PVs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeGroup {
    /// VG name.
    pub name: String,
    /// VG uuid, dashed.
    pub uuid: String,
    /// Metadata sequence number.
    pub seqno: u64,
    /// Extent size in bytes.
    pub extent_size: u64,
    /// Status flags (`RESIZEABLE`, `READ`, `WRITE`, `EXPORTED`, `CLUSTERED`…).
    pub status: Vec<String>,
    /// Tags, in metadata order.
    pub tags: Vec<String>,
    /// `allocation_policy` (`normal` when absent).
    pub alloc_policy: String,
    /// `system_id` (empty when absent).
    pub system_id: String,
    /// `lock_type` of a shared VG (`sanlock`, `dlm`); `none` or absent for a local VG.
    pub lock_type: Option<String>,
    /// `max_lv` (0: no limit).
    pub max_lv: u64,
    /// `max_pv` (0: no limit).
    pub max_pv: u64,
    /// Physical volumes in metadata order.
    pub pvs: Vec<PhysicalVolume>,
    /// Logical volumes in metadata order (hidden sub-LVs included).
    pub lvs: Vec<LogicalVolume>,
    /// Things the user should know (stale metadata copies, missing PVs).
    pub warnings: Vec<String>,
}

impl LogicalVolume {
    /// Whether users see this LV (lvm2's `lv_role=public`, what libguestfs `lvs` lists): visible
    /// and not a pool (thin-pool, cache-pool) whose data lives in hidden sub-LVs.
    pub fn is_public(&self) -> bool {
        let pool = self.segments.iter().any(|s| matches!(&s.kind, SegmentKind::Unsupported { seg_type } if seg_type.ends_with("-pool")));
        self.status.iter().any(|s| s == "VISIBLE") && !pool
    }

    /// Size in bytes.
    pub fn size(&self, vg: &VolumeGroup) -> u64 {
        let extents = self.segments.iter().fold(0u64, |a, s| a.saturating_add(s.extent_count));
        extents.saturating_mul(vg.extent_size)
    }
}

impl VolumeGroup {
    /// Total size of the PVs' extents, in bytes.
    pub fn size(&self) -> u64 {
        let extents = self.pvs.iter().fold(0u64, |a, p| a.saturating_add(p.pe_count));
        extents.saturating_mul(self.extent_size)
    }

    /// Bytes of PV extents not allocated to any (striped or linear) segment.
    pub fn free(&self) -> u64 {
        let used = self
            .lvs
            .iter()
            .flat_map(|lv| &lv.segments)
            .filter(|s| matches!(s.kind, SegmentKind::Striped { .. }))
            .fold(0u64, |a, s| a.saturating_add(s.extent_count));
        self.size().saturating_sub(used.saturating_mul(self.extent_size))
    }

    /// The LV as a block device named "/dev/VG/LV": Linear over the PV devices for 1-stripe
    /// segments, a striped map for n stripes (multi-segment LVs: segments in order).
    /// "unsupported LV type thin (/dev/vg/lv)" for other segment types; error if a PV is missing.
    pub fn open_lv(&self, lv: &str, pv_devs: &[(String, Dev)]) -> Result<Dev> {
        let path = format!("/dev/{}/{}", self.name, lv);
        let l = self
            .lvs
            .iter()
            .find(|l| l.name == lv)
            .ok_or_else(|| Error::NoSuchLv { vg: self.name.clone(), lv: lv.to_string() })?;
        let pvs = pv_index(&self.pvs);
        let mut pieces = Vec::with_capacity(l.segments.len());
        for seg in &l.segments {
            let SegmentKind::Striped { stripe_size, stripes } = &seg.kind else {
                let SegmentKind::Unsupported { seg_type } = &seg.kind else { continue };
                return Err(Error::Unsupported { seg_type: seg_type.clone(), lv: path });
            };
            // validated by from_metadata: stripes nonempty, counts divide, no overflow
            let per_stripe = seg.extent_count / stripes.len().max(1) as u64 * self.extent_size;
            let mut extents = Vec::with_capacity(stripes.len());
            for (pv_name, pe) in stripes {
                let pv = pvs.get(pv_name.as_str()).ok_or_else(|| self.bad(format!("{path} uses unknown PV {pv_name}")))?;
                let dev = pv_devs.iter().find(|(n, _)| n == &pv.device).map(|(_, d)| d.clone()).ok_or_else(|| {
                    Error::MissingPv { lv: path.clone(), pv: pv.name.clone(), uuid: pv.uuid.clone() }
                })?;
                let offset = pe.checked_mul(self.extent_size).and_then(|o| o.checked_add(pv.pe_start));
                let offset = offset.ok_or_else(|| self.bad(format!("{path}: extent offset overflows")))?;
                extents.push(Extent { dev, offset, len: per_stripe });
            }
            if extents.len() == 1 {
                pieces.extend(extents);
            } else {
                let s = Striped::new(extents, *stripe_size, path.clone()).map_err(|m| self.bad(m))?;
                let len = crate::disk::BlockDev::len(&s);
                pieces.push(Extent { dev: Arc::new(s), offset: 0, len });
            }
        }
        Ok(Arc::new(Linear::new(pieces, path)?))
    }

    fn bad(&self, msg: String) -> Error {
        Error::Metadata { dev: format!("volume group {}", self.name), msg }
    }
}

/// Limits on counts in metadata (far above what lvm2 creates).
const MAX_PVS: usize = 4096;
const MAX_LVS: usize = 65536;
const MAX_SEGMENTS: usize = 65536;
const MAX_STRIPES: usize = 128;

type VResult<T> = std::result::Result<T, String>;

/// PVs by name (the first of each name), so that stripes find their PV in constant time: a
/// linear search per stripe is quadratic over thousands of PVs and stripes (1 MiB of fuzzed
/// metadata took 21 s).
fn pv_index(pvs: &[PhysicalVolume]) -> HashMap<&str, &PhysicalVolume> {
    let mut index = HashMap::with_capacity(pvs.len());
    for pv in pvs {
        index.entry(pv.name.as_str()).or_insert(pv);
    }
    index
}

fn want<'a>(s: &'a Section, key: &str, what: &str) -> VResult<&'a Value> {
    s.value(key).ok_or_else(|| format!("{what}: missing {key}"))
}

fn uint(s: &Section, key: &str, what: &str) -> VResult<u64> {
    match want(s, key, what)? {
        Value::Int(n) if *n >= 0 => Ok(*n as u64),
        v => Err(format!("{what}: {key} should be a nonnegative integer, not {v:?}")),
    }
}

fn string(s: &Section, key: &str, what: &str) -> VResult<String> {
    match want(s, key, what)? {
        Value::Str(t) => Ok(t.clone()),
        v => Err(format!("{what}: {key} should be a string, not {v:?}")),
    }
}

fn strings(s: &Section, key: &str, what: &str) -> VResult<Vec<String>> {
    match want(s, key, what)? {
        Value::List(l) => l
            .iter()
            .map(|v| match v {
                Value::Str(t) => Ok(t.clone()),
                v => Err(format!("{what}: {key} should list strings, not {v:?}")),
            })
            .collect(),
        v => Err(format!("{what}: {key} should be a list, not {v:?}")),
    }
}

/// A list of strings that may be absent (`tags`, `flags`): empty then.
fn opt_strings(s: &Section, key: &str, what: &str) -> VResult<Vec<String>> {
    if s.value(key).is_none() {
        return Ok(Vec::new());
    }
    strings(s, key, what)
}

/// A string that may be absent.
fn opt_string(s: &Section, key: &str, what: &str) -> VResult<Option<String>> {
    if s.value(key).is_none() {
        return Ok(None);
    }
    string(s, key, what).map(Some)
}

/// A nonnegative integer that may be absent: 0 then.
fn opt_uint(s: &Section, key: &str, what: &str) -> VResult<u64> {
    if s.value(key).is_none() {
        return Ok(0);
    }
    uint(s, key, what)
}

fn sectors(s: &Section, key: &str, what: &str) -> VResult<u64> {
    uint(s, key, what)?.checked_mul(SECTOR_SIZE).ok_or_else(|| format!("{what}: {key} overflows"))
}

fn parse_pv(name: &str, s: &Section, vg: &str) -> VResult<PhysicalVolume> {
    let what = format!("VG {vg} PV {name}");
    Ok(PhysicalVolume {
        name: name.to_string(),
        device: s.value("device").and_then(|v| if let Value::Str(d) = v { Some(d.clone()) } else { None }).unwrap_or_default(),
        uuid: string(s, "id", &what)?,
        dev_size: sectors(s, "dev_size", &what)?,
        pe_start: sectors(s, "pe_start", &what)?,
        pe_count: uint(s, "pe_count", &what)?,
        status: opt_strings(s, "status", &what)?,
        flags: opt_strings(s, "flags", &what)?,
        tags: opt_strings(s, "tags", &what)?,
        dev_len: 0,
        mdas: Vec::new(),
    })
}

fn parse_segment(s: &Section, what: &str, extent_size: u64, pvs: &HashMap<&str, &PhysicalVolume>) -> VResult<Segment> {
    let start_extent = uint(s, "start_extent", what)?;
    let extent_count = uint(s, "extent_count", what)?;
    let seg_type = string(s, "type", what)?;
    if seg_type != "striped" {
        let refs = s
            .entries
            .iter()
            .filter_map(|(k, v)| match v {
                Item::Value(Value::Str(t)) if k != "type" => Some((k.clone(), t.clone())),
                _ => None,
            })
            .collect();
        let zero_new_blocks = matches!(s.value("zero_new_blocks"), Some(Value::Int(n)) if *n != 0);
        return Ok(Segment { start_extent, extent_count, kind: SegmentKind::Unsupported { seg_type }, refs, zero_new_blocks });
    }
    let n = uint(s, "stripe_count", what)?;
    if n == 0 || n > MAX_STRIPES as u64 || extent_count % n != 0 || extent_count == 0 {
        return Err(format!("{what}: {extent_count} extents cannot be split into {n} stripes (limit {MAX_STRIPES})"));
    }
    let stripe_size = if n == 1 { 0 } else { sectors(s, "stripe_size", what)? };
    if n > 1 && (stripe_size == 0 || extent_size % stripe_size != 0) {
        return Err(format!("{what}: stripe size {stripe_size} does not divide the extent size {extent_size}"));
    }
    let Some(Value::List(list)) = s.value("stripes") else {
        return Err(format!("{what}: missing stripes list"));
    };
    if list.len() as u64 != 2 * n {
        return Err(format!("{what}: stripes list has {} items, expected {}", list.len(), 2 * n));
    }
    let per = extent_count / n;
    let mut stripes = Vec::with_capacity(n as usize);
    for pair in list.chunks_exact(2) {
        let [Value::Str(pv), Value::Int(pe)] = pair else {
            return Err(format!("{what}: stripes should be pairs of PV name and extent"));
        };
        let p = pvs.get(pv.as_str()).ok_or_else(|| format!("{what}: stripe on unknown PV {pv}"))?;
        let pe = u64::try_from(*pe).map_err(|_| format!("{what}: negative extent {pe}"))?;
        if pe.checked_add(per).is_none_or(|end| end > p.pe_count) {
            return Err(format!("{what}: extents {pe}..{pe}+{per} on {pv} go past its pe_count {}", p.pe_count));
        }
        stripes.push((pv.clone(), pe));
    }
    Ok(Segment { start_extent, extent_count, kind: SegmentKind::Striped { stripe_size, stripes }, refs: Vec::new(), zero_new_blocks: false })
}

fn parse_lv(name: &str, s: &Section, vg: &str, extent_size: u64, pvs: &HashMap<&str, &PhysicalVolume>) -> VResult<LogicalVolume> {
    let what = format!("LV {vg}/{name}");
    let count = uint(s, "segment_count", &what)?;
    if count == 0 || count > MAX_SEGMENTS as u64 {
        return Err(format!("{what}: segment_count {count} is out of range (1..{MAX_SEGMENTS})"));
    }
    // The first entry of each name, indexed once: `Section::section` per segment is a linear
    // search, quadratic over tens of thousands of segments (minutes for fuzzed metadata).
    let mut by_name: HashMap<&str, &Item> = HashMap::with_capacity(s.entries.len());
    for (k, item) in &s.entries {
        by_name.entry(k.as_str()).or_insert(item);
    }
    let mut segments = Vec::with_capacity(count as usize);
    let mut next = 0u64;
    for i in 1..=count {
        let key = format!("segment{i}");
        let seg_what = format!("{what} {key}");
        let Some(Item::Section(seg)) = by_name.get(key.as_str()) else {
            return Err(format!("{what}: missing {key} of {count}"));
        };
        let seg = parse_segment(seg, &seg_what, extent_size, pvs)?;
        if seg.start_extent != next {
            return Err(format!("{seg_what}: starts at extent {} but the previous segment ends at {next}", seg.start_extent));
        }
        next = next.checked_add(seg.extent_count).ok_or_else(|| format!("{seg_what}: extent count overflows"))?;
        segments.push(seg);
    }
    if next.checked_mul(extent_size).is_none() {
        return Err(format!("{what}: size overflows"));
    }
    let status = strings(s, "status", &what)?;
    let major_minor = match (s.value("major"), s.value("minor")) {
        (Some(Value::Int(ma)), Some(Value::Int(mi))) if status.iter().any(|f| f == "FIXED_MINOR") => Some((*ma, *mi)),
        _ => None,
    };
    Ok(LogicalVolume {
        name: name.to_string(),
        uuid: string(s, "id", &what)?,
        status,
        flags: opt_strings(s, "flags", &what)?,
        tags: opt_strings(s, "tags", &what)?,
        alloc_policy: opt_string(s, "allocation_policy", &what)?.unwrap_or_else(|| "inherit".into()),
        major_minor,
        segments,
    })
}

/// Builds a volume group from a parsed metadata tree (the top level of the text).
/// Checks a VG, LV or PV name as lvm2 does (`validate_name`): 1–127 bytes of
/// `[A-Za-z0-9+_.-]`, not `.` or `..`, not starting with `-`.
fn check_name(kind: &str, name: &str) -> VResult<()> {
    let ok_chars = name.bytes().all(|c| c.is_ascii_alphanumeric() || b"+_.-".contains(&c));
    if name.is_empty() || name.len() > 127 || !ok_chars || name == "." || name == ".." || name.starts_with('-') {
        return Err(format!(
            "invalid {kind} name {:?} (lvm2 allows 1-127 characters of A-Z a-z 0-9 + _ . -, not '.', '..' or a leading '-')",
            name.escape_debug().to_string()
        ));
    }
    Ok(())
}

/// Fails when two items share a name or an id (`what` says which).
fn check_unique<'a>(what: &str, kind: &str, items: impl Iterator<Item = (&'a str, &'a str)>) -> VResult<()> {
    let mut names = HashMap::new();
    let mut ids = HashMap::new();
    for (name, id) in items {
        if names.insert(name, ()).is_some() {
            return Err(format!("{what}: two {kind}s are named {name}"));
        }
        let id_key = id.replace('-', "");
        if ids.insert(id_key, name).is_some_and(|other| other != name) {
            return Err(format!("{what}: {kind}s share the id {id}"));
        }
    }
    Ok(())
}

pub fn from_metadata(top: &Section) -> VResult<VolumeGroup> {
    let mut vgs = top.sections();
    let (name, s) = vgs.next().ok_or("no volume group section")?;
    if vgs.next().is_some() {
        return Err("more than one volume group section".into());
    }
    check_name("volume group", name)?;
    let what = format!("VG {name}");
    let extent_size = sectors(s, "extent_size", &what)?;
    if extent_size == 0 {
        return Err(format!("{what}: extent_size is 0"));
    }
    let mut pvs = Vec::new();
    if let Some(list) = s.section("physical_volumes") {
        for (n, p) in list.sections() {
            if pvs.len() >= MAX_PVS {
                return Err(format!("{what}: more than {MAX_PVS} PVs"));
            }
            let pv = parse_pv(n, p, name)?;
            if pv.pe_count.checked_mul(extent_size).and_then(|b| b.checked_add(pv.pe_start)).is_none() {
                return Err(format!("{what} PV {n}: pe_count {} overflows", pv.pe_count));
            }
            pvs.push(pv);
        }
    }
    check_unique(&what, "PV", pvs.iter().map(|p| (p.name.as_str(), p.uuid.as_str())))?;
    let pv_names = pv_index(&pvs);
    let mut lvs = Vec::new();
    if let Some(list) = s.section("logical_volumes") {
        for (n, l) in list.sections() {
            if lvs.len() >= MAX_LVS {
                return Err(format!("{what}: more than {MAX_LVS} LVs"));
            }
            check_name("logical volume", n).map_err(|e| format!("{what}: {e}"))?;
            lvs.push(parse_lv(n, l, name, extent_size, &pv_names)?);
        }
    }
    check_unique(&what, "LV", lvs.iter().map(|l| (l.name.as_str(), l.uuid.as_str())))?;
    Ok(VolumeGroup {
        name: name.to_string(),
        uuid: string(s, "id", &what)?,
        seqno: uint(s, "seqno", &what)?,
        extent_size,
        status: opt_strings(s, "status", &what)?,
        tags: opt_strings(s, "tags", &what)?,
        alloc_policy: opt_string(s, "allocation_policy", &what)?.unwrap_or_else(|| "normal".into()),
        system_id: opt_string(s, "system_id", &what)?.unwrap_or_default(),
        lock_type: opt_string(s, "lock_type", &what)?.filter(|t| t != "none"),
        max_lv: opt_uint(s, "max_lv", &what)?,
        max_pv: opt_uint(s, "max_pv", &what)?,
        pvs,
        lvs,
        warnings: Vec::new(),
    })
}

/// Parses metadata text read from `dev` into a volume group.
pub fn parse_vg(dev: &str, text: &[u8]) -> Result<VolumeGroup> {
    let bad = |msg| Error::Metadata { dev: dev.to_string(), msg };
    let top = metadata::parse(text).map_err(bad)?;
    from_metadata(&top).map_err(bad)
}

/// Scan these devices (name, device) — whole disks and partitions — for PV labels, read metadata,
/// assemble VGs (a VG may span PVs on several devices/disks). Devices with no label are skipped.
/// A PV whose label/metadata is garbage → an error naming device and structure (not a panic).
pub fn scan(devs: &[(String, Dev)]) -> Result<Vec<VolumeGroup>> {
    // every label: device name, PV uuid, device size, metadata areas; and (device, vg) of
    // every metadata copy
    let mut labels: Vec<(String, String, u64, Vec<MdaInfo>)> = Vec::new();
    let mut copies: Vec<(String, VolumeGroup)> = Vec::new();
    for (name, dev) in devs {
        let Some(l) = label::read_label_as(dev.as_ref(), name)? else { continue };
        let mut mdas = Vec::with_capacity(l.metadata_areas.len());
        for area in &l.metadata_areas {
            let (info, text) = mda::read_text(dev.as_ref(), name, *area)?;
            mdas.push(info);
            if let Some(text) = text {
                copies.push((name.clone(), parse_vg(name, &text)?));
            }
        }
        labels.push((name.clone(), l.uuid, dev.len(), mdas));
    }
    // the newest copy of each VG (by uuid), with the device it came from
    let mut newest: Vec<(String, VolumeGroup)> = Vec::new();
    for (dev, vg) in copies {
        match newest.iter_mut().find(|(_, v)| v.uuid == vg.uuid) {
            None => newest.push((dev, vg)),
            Some((_, cur)) if cur.seqno == vg.seqno => {}
            Some((cur_dev, cur)) => {
                let (old, new) = if vg.seqno > cur.seqno { ((&*cur_dev, &*cur), (&dev, &vg)) } else { ((&dev, &vg), (&*cur_dev, &*cur)) };
                let msg = format!(
                    "VG {}: metadata on {} (seqno {}) is older than on {} (seqno {}); using seqno {}",
                    vg.name, old.0, old.1.seqno, new.0, new.1.seqno, new.1.seqno
                );
                let mut warnings = std::mem::take(&mut cur.warnings);
                warnings.push(msg);
                if vg.seqno > cur.seqno {
                    *cur = vg;
                    *cur_dev = dev;
                }
                cur.warnings = warnings;
            }
        }
    }
    let mut out: Vec<VolumeGroup> = newest.into_iter().map(|(_, vg)| vg).collect();
    // two VGs of one name would give two devices one name (/dev/VG/LV): lvm2 refuses to
    // activate both; so do we, naming them
    for (i, a) in out.iter().enumerate() {
        if let Some(b) = out[i + 1..].iter().find(|b| b.name == a.name) {
            return Err(Error::Metadata {
                dev: format!("volume group {}", a.name),
                msg: format!(
                    "two volume groups are named {} (uuids {} and {}); rename one on a copy with `vgimportclone` or `vgrename UUID NEWNAME`",
                    a.name, a.uuid, b.uuid
                ),
            });
        }
    }
    for vg in &mut out {
        for pv in &mut vg.pvs {
            let found = labels.iter().find(|(_, u, _, _)| u.replace('-', "") == pv.uuid.replace('-', ""));
            match found {
                Some((dev, _, len, mdas)) => {
                    pv.device = dev.clone();
                    pv.dev_len = *len;
                    pv.mdas = mdas.clone();
                }
                None => {
                    vg.warnings.push(format!(
                        "VG {}: PV {} (uuid {}, last seen as {}) is missing; LVs on it cannot be opened",
                        vg.name, pv.name, pv.uuid, pv.device
                    ));
                    pv.device = "[unknown]".into();
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::MemDev;
    use crate::lvm::label::tests::put_label;
    use crate::lvm::mda::tests::put_mda;
    use crate::lvm::metadata::tests::VGCFGBACKUP;

    fn open_err(vg: &VolumeGroup, lv: &str) -> String {
        match vg.open_lv(lv, &[]) {
            Ok(_) => panic!("{lv} opened"),
            Err(e) => e.to_string(),
        }
    }

    fn vg_from(text: &str) -> Result<VolumeGroup> {
        parse_vg("test", text.as_bytes())
    }

    #[test]
    fn vgcfgbackup_output_to_structs() {
        let vg = vg_from(VGCFGBACKUP).unwrap();
        assert_eq!((vg.name.as_str(), vg.seqno, vg.extent_size), ("vgstripe", 2, 1 << 20));
        assert_eq!(vg.uuid, "Z43CcN-fC4r-n12Y-BTpj-oC18-5lLc-eonMXy");
        assert_eq!(vg.pvs.len(), 2);
        assert_eq!(vg.pvs[0].uuid, "VgStrP-vdaa-0000-0000-0000-0000-00000a");
        assert_eq!((vg.pvs[0].dev_size, vg.pvs[0].pe_start, vg.pvs[0].pe_count), (32 << 20, 1 << 20, 31));
        let names: Vec<&str> = vg.lvs.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["stripes", "span"]);
        assert_eq!(
            vg.lvs[0].segments,
            [Segment {
                start_extent: 0,
                extent_count: 16,
                kind: SegmentKind::Striped { stripe_size: 65536, stripes: vec![("pv0".into(), 0), ("pv1".into(), 0)] },
                refs: vec![],
                zero_new_blocks: false,
            }]
        );
        assert_eq!(vg.lvs[1].size(&vg), 22 << 20);
        assert_eq!(vg.lvs[1].status, ["READ", "WRITE", "VISIBLE"]);
        assert_eq!(vg.size(), 62 << 20);
        assert_eq!(vg.free(), 24 << 20);
    }

    /// Replaces the first occurrence of `from` in the real vgcfgbackup text.
    fn edited(from: &str, to: &str) -> String {
        assert!(VGCFGBACKUP.contains(from), "{from}");
        VGCFGBACKUP.replacen(from, to, 1)
    }

    #[test]
    fn unsupported_segment_type_is_kept_and_refused_on_open() {
        let thin = edited("type = \"striped\"\n\t\t\t\tstripe_count = 2", "type = \"thin-pool\"\n\t\t\t\tstripe_count = 2");
        let vg = vg_from(&thin).unwrap();
        assert_eq!(vg.lvs[0].segments[0].kind, SegmentKind::Unsupported { seg_type: "thin-pool".into() });
        assert_eq!(vg.free(), 40 << 20);
        let e = open_err(&vg, "stripes");
        assert_eq!(e, "unsupported LV type thin-pool (/dev/vgstripe/stripes); only linear and striped LVs can be opened");
        let e = open_err(&vg, "nope");
        assert_eq!(e, "/dev/vgstripe/nope: no such logical volume");
        let e = open_err(&vg, "span");
        assert!(e.contains("/dev/vgstripe/span: physical volume pv1 (uuid VgStrP-vdbb-0000-0000-0000-0000-00000b) is missing"), "{e}");
    }

    #[test]
    fn bad_metadata_is_a_clear_error() {
        for (from, to, msg) in [
            ("\"pv1\", 8", "\"pv1\", 25", "extents 25..25+12 on pv1 go past its pe_count 31"),
            ("\"pv1\", 8", "\"pv7\", 8", "stripe on unknown PV pv7"),
            ("stripe_size = 128", "stripe_size = 100", "does not divide the extent size"),
            ("extent_count = 16", "extent_count = 15", "cannot be split into 2 stripes"),
            ("start_extent = 12", "start_extent = 13", "starts at extent 13"),
            ("segment_count = 2", "segment_count = 3", "missing segment3"),
            ("seqno = 2", "seqno = \"2\"", "seqno should be a nonnegative integer"),
            ("extent_size = 2048", "extent_size = 0", "extent_size is 0"),
            ("pe_count = 31", "pe_count = 9223372036854775807", "overflows"),
            // names as lvm2 validates them, and duplicates
            ("\t\tspan {", "\t\tstripes {", "two LVs are named stripes"),
            ("\t\tspan {", "\t\t.. {", "invalid logical volume name \"..\""),
            ("\t\tspan {", "\t\t-span {", "invalid logical volume name \"-span\""),
            ("vgstripe {", "vg/../etc {", "invalid volume group name"),
            ("\t\tpv1 {", "\t\tpv0 {", "two PVs are named pv0"),
        ] {
            let e = vg_from(&edited(from, to)).unwrap_err().to_string();
            assert!(e.starts_with("test: LVM metadata text: ") && e.contains(msg), "{e} vs {msg}");
        }
    }

    /// Regression (fuzz campaign): one LV with `segment1`..`segmentN` took minutes to build
    /// because every segment was found by a linear search of the LV section (1 MiB of such
    /// text, the fuzzer's input size, took over 5 s; 3.4 MiB took 164 s of CPU).
    #[test]
    fn many_segments_are_found_in_linear_time() {
        let n = MAX_SEGMENTS;
        let mut text = format!("vg {{\nid = \"x\"\nseqno = 1\nextent_size = 8\nlogical_volumes {{\nlv {{\nid = \"y\"\nstatus = []\nsegment_count = {n}\n");
        for i in 0..n {
            text += &format!("segment{} {{\nstart_extent = {i}\nextent_count = 1\ntype = \"x\"\n}}\n", i + 1);
        }
        text += "}\n}\n}\n";
        let t = std::time::Instant::now();
        let vg = vg_from(&text).unwrap();
        assert_eq!(vg.lvs[0].segments.len(), n);
        assert_eq!(vg.lvs[0].size(&vg), n as u64 * 4096);
        assert!(t.elapsed() < std::time::Duration::from_secs(60), "{:?}", t.elapsed());
    }

    /// Regression (fuzz campaign): MAX_PVS PVs and segments of MAX_STRIPES stripes on the last
    /// PV took 21 s (1.1 MiB of text, fuzz build) because each stripe searched the PV list.
    #[test]
    fn many_pvs_and_stripes_are_found_in_linear_time() {
        let last = MAX_PVS - 1;
        let mut text = "vg {\nid = \"x\"\nseqno = 1\nextent_size = 8\nphysical_volumes {\n".to_string();
        for i in 0..MAX_PVS {
            text += &format!("pv{i} {{\nid = \"a{i}\"\ndevice = \"/dev/sda\"\ndev_size = 8\npe_start = 0\npe_count = 1\n}}\n");
        }
        let segments = 600;
        let stripes = vec![format!("\"pv{last}\", 0"); MAX_STRIPES].join(", ");
        text += &format!("}}\nlogical_volumes {{\nlv {{\nid = \"y\"\nstatus = []\nsegment_count = {segments}\n");
        for i in 0..segments {
            text += &format!(
                "segment{} {{\nstart_extent = {}\nextent_count = {MAX_STRIPES}\ntype = \"striped\"\nstripe_count = {MAX_STRIPES}\nstripe_size = 8\nstripes = [{stripes}]\n}}\n",
                i + 1,
                i * MAX_STRIPES
            );
        }
        text += "}\n}\n}\n";
        let t = std::time::Instant::now();
        let vg = vg_from(&text).unwrap();
        let devs: Vec<(String, Dev)> = vec![("/dev/sda".into(), Arc::new(MemDev::new(vec![7; 4096])))];
        let lv = vg.open_lv("lv", &devs).unwrap();
        assert_eq!(lv.len(), (segments * MAX_STRIPES * 4096) as u64);
        let mut buf = [0u8; 512];
        lv.read_at(&mut buf, lv.len() - 512).unwrap();
        assert_eq!(buf, [7; 512]);
        assert!(t.elapsed() < std::time::Duration::from_secs(60), "{:?}", t.elapsed());
    }

    /// A disk image holding one PV (label in sector 1, metadata area at 4 KiB, extents at 1 MiB).
    fn pv_image(uuid: &[u8; 32], text: &str, size: usize) -> Vec<u8> {
        let mut img = vec![0u8; size];
        put_label(&mut img, 1, uuid, size as u64, &[(1 << 20, 0)], &[(4096, (1 << 20) - 4096)]);
        let mut t = text.as_bytes().to_vec();
        t.push(0);
        put_mda(&mut img, 4096, (1 << 20) - 4096, 512, &t);
        img
    }

    #[test]
    fn scan_assembles_two_disks_and_prefers_newest_metadata() {
        let newer = VGCFGBACKUP.replacen("seqno = 2", "seqno = 3", 1);
        let mut a = pv_image(b"VgStrPvdaa000000000000000000000a", VGCFGBACKUP, 32 << 20);
        let b = pv_image(b"VgStrPvdbb000000000000000000000b", &newer, 32 << 20);
        // distinct data on each disk at extent 0
        a[1 << 20..(1 << 20) + 65536].fill(0xaa);
        let devs: Vec<(String, Dev)> =
            vec![("/dev/sda".into(), Arc::new(MemDev::new(a))), ("/dev/sdb".into(), Arc::new(MemDev::new(b))), ("/dev/sdc".into(), Arc::new(MemDev::new(vec![0; 8192])))];
        let vgs = scan(&devs).unwrap();
        assert_eq!(vgs.len(), 1);
        let vg = &vgs[0];
        assert_eq!(vg.seqno, 3);
        assert_eq!(vg.warnings, ["VG vgstripe: metadata on /dev/sda (seqno 2) is older than on /dev/sdb (seqno 3); using seqno 3"]);
        assert_eq!((vg.pvs[0].device.as_str(), vg.pvs[1].device.as_str()), ("/dev/sda", "/dev/sdb"));
        let lv = vg.open_lv("stripes", &devs).unwrap();
        assert_eq!(lv.len(), 16 << 20);
        assert_eq!(lv.name(), "/dev/vgstripe/stripes");
        let mut buf = vec![0u8; 3 * 65536];
        lv.read_at(&mut buf, 0).unwrap();
        assert!(buf[..65536].iter().all(|&x| x == 0xaa) && buf[65536..].iter().all(|&x| x == 0));
        // dropping sdb: the VG is still listed, with a warning, and its LVs refuse to open
        let vgs = scan(&devs[..1]).unwrap();
        assert!(vgs[0].warnings[0].contains("PV pv1 (uuid VgStrP-vdbb-0000-0000-0000-0000-00000b, last seen as [unknown]) is missing"), "{:?}", vgs[0].warnings);
        assert!(vgs[0].open_lv("stripes", &devs[..1]).is_err());
    }

    #[test]
    fn two_vgs_with_one_name_are_refused() {
        // the same VG name with another VG uuid on a second disk (a cloned disk attached twice)
        let vg_id = VGCFGBACKUP.lines().find_map(|l| l.trim().strip_prefix("id = ")).unwrap().trim_matches('"').to_string();
        let other = VGCFGBACKUP.replacen(&vg_id, "Other0-aaaa-bbbb-cccc-dddd-eeee-ffffff", 1);
        let a = pv_image(b"VgStrPvdaa000000000000000000000a", VGCFGBACKUP, 32 << 20);
        let b = pv_image(b"VgStrPvdbb000000000000000000000b", &other, 32 << 20);
        let devs: Vec<(String, Dev)> = vec![("/dev/sda".into(), Arc::new(MemDev::new(a))), ("/dev/sdb".into(), Arc::new(MemDev::new(b)))];
        let e = scan(&devs).unwrap_err().to_string();
        assert!(e.contains("two volume groups are named vgstripe") && e.contains("vgimportclone"), "{e}");
    }

    #[test]
    fn scan_reports_garbage_with_device_name() {
        let img = pv_image(b"VgStrPvdaa000000000000000000000a", "vgstripe { id = ", 2 << 20);
        let e = scan(&[("/dev/sda2".into(), Arc::new(MemDev::new(img)) as Dev)]).unwrap_err().to_string();
        assert!(e.starts_with("/dev/sda2: LVM metadata text: line 1:"), "{e}");
    }
}
