//! The rows of lvm2's `pvs`, `vgs` and `lvs` reports with the columns of libguestfs's
//! `lvm_pv`, `lvm_vg` and `lvm_lv` structs (`pvs-full`, `vgs-full`, `lvs-full`), computed from
//! the parsed labels and metadata the way lvm2 computes them (`lib/metadata/pv.c`, `vg.c`,
//! `lv.c`, `lib/report/report.c`).
//!
//! There is no kernel device behind an LV (vfish maps LVs in user space), so the state columns
//! say what lvm2 says on a host without device-mapper: `lv_attr` state and open flags `XX`,
//! kernel major/minor -1.

use super::vg::{LogicalVolume, PhysicalVolume, Segment, SegmentKind, VolumeGroup};
use super::{Error, Result};

/// A `pvs` row (libguestfs `lvm_pv`). Sizes in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvRow {
    /// Device holding the PV (`/dev/sda2`), `[unknown]` when missing.
    pub pv_name: String,
    /// PV uuid without dashes (32 characters).
    pub pv_uuid: String,
    /// Always `lvm2`.
    pub pv_fmt: String,
    /// Size of its extents (the metadata's device size when it has none).
    pub pv_size: u64,
    /// Size of the device it was found on; 0 when missing.
    pub dev_size: u64,
    /// Bytes of unallocated extents.
    pub pv_free: u64,
    /// Bytes of allocated extents.
    pub pv_used: u64,
    /// `a--`: (a)llocatable or (u)sed, e(x)ported, (m)issing.
    pub pv_attr: String,
    /// Number of extents.
    pub pv_pe_count: i64,
    /// Number of allocated extents.
    pub pv_pe_alloc_count: i64,
    /// Tags, comma-separated.
    pub pv_tags: String,
    /// Offset of the first extent.
    pub pe_start: u64,
    /// Number of metadata areas on the PV.
    pub pv_mda_count: i64,
    /// Free space of its fullest metadata area.
    pub pv_mda_free: u64,
}

/// A `vgs` row (libguestfs `lvm_vg`). Sizes in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VgRow {
    /// VG name.
    pub vg_name: String,
    /// VG uuid without dashes.
    pub vg_uuid: String,
    /// Always `lvm2`.
    pub vg_fmt: String,
    /// `wz--n-`: (w)riteable/(r)ead-only, resi(z)eable, e(x)ported, (p)artial, allocation
    /// policy, (c)lustered/(s)hared.
    pub vg_attr: String,
    /// Size of all PV extents.
    pub vg_size: u64,
    /// Size of the unallocated extents.
    pub vg_free: u64,
    /// System id (usually empty).
    pub vg_sysid: String,
    /// Extent size.
    pub vg_extent_size: u64,
    /// Number of extents.
    pub vg_extent_count: i64,
    /// Number of unallocated extents.
    pub vg_free_count: i64,
    /// LV limit (0: none).
    pub max_lv: i64,
    /// PV limit (0: none).
    pub max_pv: i64,
    /// Number of PVs.
    pub pv_count: i64,
    /// Number of visible LVs.
    pub lv_count: i64,
    /// Number of (old-style) snapshots.
    pub snap_count: i64,
    /// Metadata sequence number.
    pub vg_seqno: i64,
    /// Tags, comma-separated.
    pub vg_tags: String,
    /// Number of metadata areas on its PVs.
    pub vg_mda_count: i64,
    /// Free space of the fullest metadata area in use.
    pub vg_mda_free: u64,
}

/// An `lvs` row (libguestfs `lvm_lv`). Sizes in bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct LvRow {
    /// LV name.
    pub lv_name: String,
    /// LV uuid without dashes.
    pub lv_uuid: String,
    /// The 10 attribute characters (`-wi-XX----`).
    pub lv_attr: String,
    /// Persistent major number, -1 when none.
    pub lv_major: i64,
    /// Persistent minor number, -1 when none.
    pub lv_minor: i64,
    /// Kernel major number: -1 (no kernel device).
    pub lv_kernel_major: i64,
    /// Kernel minor number: -1 (no kernel device).
    pub lv_kernel_minor: i64,
    /// Size.
    pub lv_size: u64,
    /// Number of segments.
    pub seg_count: i64,
    /// Origin of a thin snapshot (or a thin LV's external origin).
    pub origin: String,
    /// Snapshot usage; `None` (not applicable or not known without a kernel device).
    pub snap_percent: Option<f32>,
    /// Mirror synchronisation; `None` (not applicable or not known without a kernel device).
    pub copy_percent: Option<f32>,
    /// Source PV of a pvmove (empty).
    pub move_pv: String,
    /// Tags, comma-separated.
    pub lv_tags: String,
    /// Mirror log LV (empty).
    pub mirror_log: String,
    /// Kernel modules the LV needs (`thin,thin-pool`; empty for linear and striped).
    pub modules: String,
}

/// lvm2's `alloc_policy_char`.
fn alloc_char(policy: &str) -> char {
    match policy {
        "contiguous" => 'c',
        "cling" => 'l',
        "cling_by_tags" => 't',
        "normal" => 'n',
        "anywhere" => 'a',
        _ => 'i',
    }
}

fn has(list: &[String], flag: &str) -> bool {
    list.iter().any(|f| f == flag)
}

/// Tags as lvm2's reports print a string list: sorted, comma-separated.
fn joined_tags(tags: &[String]) -> String {
    let mut t: Vec<&str> = tags.iter().map(String::as_str).collect();
    t.sort_unstable();
    t.join(",")
}

fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Extents of `pv` allocated to LV segments.
fn pe_alloc_count(vg: &VolumeGroup, pv: &PhysicalVolume) -> u64 {
    let mut n = 0u64;
    for seg in vg.lvs.iter().flat_map(|l| &l.segments) {
        if let SegmentKind::Striped { stripes, .. } = &seg.kind {
            let per = seg.extent_count / (stripes.len().max(1) as u64);
            let on_pv = stripes.iter().filter(|(name, _)| *name == pv.name).count() as u64;
            n = n.saturating_add(per.saturating_mul(on_pv));
        }
    }
    n
}

fn is_missing(pv: &PhysicalVolume) -> bool {
    pv.device == "[unknown]" || has(&pv.flags, "MISSING") || has(&pv.status, "MISSING")
}

/// The `pvs` row of one PV of `vg`.
pub fn pv_row(vg: &VolumeGroup, pv: &PhysicalVolume) -> PvRow {
    let alloc = pe_alloc_count(vg, pv);
    let extents = |n: u64| n.saturating_mul(vg.extent_size);
    let (size, free, used) = if pv.pe_count == 0 {
        (pv.dev_size, pv.dev_size, 0)
    } else {
        (extents(pv.pe_count), extents(pv.pe_count.saturating_sub(alloc)), extents(alloc))
    };
    // a PV in a VG is always "used": 'u' when it is not allocatable
    let attr = [
        if has(&pv.status, "ALLOCATABLE") { 'a' } else { 'u' },
        if has(&vg.status, "EXPORTED") { 'x' } else { '-' },
        if is_missing(pv) { 'm' } else { '-' },
    ];
    PvRow {
        pv_name: pv.device.clone(),
        pv_uuid: pv.uuid.replace('-', ""),
        pv_fmt: "lvm2".into(),
        pv_size: size,
        dev_size: pv.dev_len,
        pv_free: free,
        pv_used: used,
        pv_attr: attr.iter().collect(),
        pv_pe_count: i64_of(pv.pe_count),
        pv_pe_alloc_count: i64_of(alloc),
        pv_tags: joined_tags(&pv.tags),
        pe_start: pv.pe_start,
        pv_mda_count: pv.mdas.len() as i64,
        pv_mda_free: pv.mdas.iter().map(|m| m.free()).min().unwrap_or(0),
    }
}

/// The `vgs` row of `vg`.
pub fn vg_row(vg: &VolumeGroup) -> VgRow {
    let extent_count = vg.pvs.iter().fold(0u64, |a, p| a.saturating_add(p.pe_count));
    let free_count = vg.free() / vg.extent_size.max(1);
    let shared = if has(&vg.status, "CLUSTERED") {
        'c'
    } else if vg.lock_type.is_some() {
        's'
    } else {
        '-'
    };
    let attr = [
        if has(&vg.status, "WRITE") { 'w' } else { 'r' },
        if has(&vg.status, "RESIZEABLE") { 'z' } else { '-' },
        if has(&vg.status, "EXPORTED") { 'x' } else { '-' },
        if vg.pvs.iter().any(is_missing) { 'p' } else { '-' },
        alloc_char(&vg.alloc_policy),
        shared,
    ];
    let mdas = vg.pvs.iter().flat_map(|p| &p.mdas);
    VgRow {
        vg_name: vg.name.clone(),
        vg_uuid: vg.uuid.replace('-', ""),
        vg_fmt: "lvm2".into(),
        vg_attr: attr.iter().collect(),
        vg_size: vg.size(),
        vg_free: vg.free(),
        vg_sysid: vg.system_id.clone(),
        vg_extent_size: vg.extent_size,
        vg_extent_count: i64_of(extent_count),
        vg_free_count: i64_of(free_count),
        max_lv: i64_of(vg.max_lv),
        max_pv: i64_of(vg.max_pv),
        pv_count: vg.pvs.len() as i64,
        lv_count: vg.lvs.iter().filter(|l| has(&l.status, "VISIBLE")).count() as i64,
        snap_count: segments_of_type(vg, "snapshot").count() as i64,
        vg_seqno: i64_of(vg.seqno),
        vg_tags: joined_tags(&vg.tags),
        vg_mda_count: mdas.clone().count() as i64,
        vg_mda_free: mdas.filter(|m| !m.ignored).map(|m| m.free()).min().unwrap_or(0),
    }
}

/// Segments of type `ty` of every LV of `vg`.
fn segments_of_type<'a>(vg: &'a VolumeGroup, ty: &'a str) -> impl Iterator<Item = &'a Segment> + Clone + 'a {
    vg.lvs
        .iter()
        .flat_map(|l| &l.segments)
        .filter(move |s| matches!(&s.kind, SegmentKind::Unsupported { seg_type } if seg_type == ty))
}

/// The value of reference `key` of an LV's first segment.
fn first_ref<'a>(lv: &'a LogicalVolume, key: &str) -> Option<&'a str> {
    lv.segments.first()?.refs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The type of a segment (`striped` for linear and striped ones).
fn seg_type(seg: &Segment) -> &str {
    match &seg.kind {
        SegmentKind::Unsupported { seg_type } => seg_type,
        SegmentKind::Striped { .. } => "striped",
    }
}

/// Whether an LV, or an LV it is built from (a thin LV's pool and the pool's data and metadata
/// LVs), uses a PV that is missing: lvm2's partial flag.
fn is_partial(vg: &VolumeGroup, lv: &LogicalVolume, depth: usize) -> bool {
    if depth > 8 {
        return false;
    }
    lv.segments.iter().any(|seg| match &seg.kind {
        SegmentKind::Striped { stripes, .. } => {
            stripes.iter().any(|(name, _)| vg.pvs.iter().any(|p| &p.name == name && is_missing(p)))
        }
        SegmentKind::Unsupported { .. } => seg
            .refs
            .iter()
            .filter_map(|(_, name)| vg.lvs.iter().find(|l| &l.name == name))
            .any(|sub| is_partial(vg, sub, depth + 1)),
    })
}

/// The `lvs` row of `lv`. Linear, striped, thin and thin-pool LVs are described; for other
/// types (mirror, raid, snapshots and their origins, cache, vdo…) lvm2's attributes depend on
/// rules we do not model, and the error says so.
pub fn lv_row(vg: &VolumeGroup, lv: &LogicalVolume) -> Result<LvRow> {
    let unsupported = |what: String| Error::UnsupportedReport { lv: format!("/dev/{}/{}", vg.name, lv.name), what };
    let ty = lv.segments.first().map_or("striped", seg_type);
    let (kind, modules, zero) = match ty {
        "striped" => ('-', "", false),
        "thin-pool" => ('t', "thin-pool", lv.segments.first().is_some_and(|s| s.zero_new_blocks)),
        "thin" => {
            let pool = first_ref(lv, "thin_pool").and_then(|p| vg.lvs.iter().find(|l| l.name == p));
            ('V', "thin,thin-pool", pool.and_then(|p| p.segments.first()).is_some_and(|s| s.zero_new_blocks))
        }
        other => return Err(unsupported(format!("LV type {other}"))),
    };
    if lv.segments.iter().any(|s| seg_type(s) != ty) {
        return Err(unsupported("LVs mixing segment types".into()));
    }
    // old-style snapshots: their origin and their COW store; thin LVs' external origins
    let named_by = |ty: &'static str, key: &'static str| {
        segments_of_type(vg, ty).any(|s| s.refs.iter().any(|(k, v)| k == key && *v == lv.name))
    };
    if named_by("snapshot", "origin") || named_by("thin", "external_origin") {
        return Err(unsupported("snapshot origin".into()));
    }
    if named_by("snapshot", "cow_store") {
        return Err(unsupported("snapshot".into()));
    }
    for (flag, what) in [("CONVERTING", "LVs under conversion"), ("LOCKED", "LVs locked by pvmove"), ("PVMOVE", "pvmove LVs")] {
        if has(&lv.status, flag) {
            return Err(unsupported(what.into()));
        }
    }
    let attr = [
        kind,
        if has(&lv.status, "WRITE") {
            'w'
        } else if has(&lv.status, "READ") {
            'r'
        } else {
            '-'
        },
        alloc_char(&lv.alloc_policy),
        if has(&lv.status, "FIXED_MINOR") { 'm' } else { '-' },
        'X', // state: unknown without device-mapper
        'X', // open: unknown without device-mapper
        if ty == "striped" { '-' } else { 't' },
        if zero { 'z' } else { '-' },
        if is_partial(vg, lv, 0) { 'p' } else { '-' },
        if has(&lv.status, "ACTIVATION_SKIP") || has(&lv.flags, "ACTIVATION_SKIP") { 'k' } else { '-' },
    ];
    let (major, minor) = lv.major_minor.unwrap_or((-1, -1));
    let origin = first_ref(lv, "origin").or_else(|| first_ref(lv, "external_origin")).unwrap_or_default();
    Ok(LvRow {
        lv_name: lv.name.clone(),
        lv_uuid: lv.uuid.replace('-', ""),
        lv_attr: attr.iter().collect(),
        lv_major: major,
        lv_minor: minor,
        lv_kernel_major: -1,
        lv_kernel_minor: -1,
        lv_size: lv.size(vg),
        seg_count: lv.segments.len() as i64,
        origin: origin.to_string(),
        snap_percent: None,
        copy_percent: None,
        move_pv: String::new(),
        lv_tags: joined_tags(&lv.tags),
        mirror_log: String::new(),
        modules: modules.to_string(),
    })
}

/// `pvs-full`: the PVs of every VG, sorted by device name as lvm2 sorts them.
pub fn pvs(vgs: &[VolumeGroup]) -> Vec<PvRow> {
    let mut rows: Vec<PvRow> = vgs.iter().flat_map(|vg| vg.pvs.iter().map(move |pv| pv_row(vg, pv))).collect();
    rows.sort_by(|a, b| a.pv_name.cmp(&b.pv_name));
    rows
}

/// `vgs-full`: every VG, sorted by name.
pub fn vgs(vgs: &[VolumeGroup]) -> Vec<VgRow> {
    let mut rows: Vec<VgRow> = vgs.iter().map(vg_row).collect();
    rows.sort_by(|a, b| a.vg_name.cmp(&b.vg_name));
    rows
}

/// `lvs-full`: the LVs lvm2's `lvs` lists (visible ones, thin pools included, as libguestfs runs
/// it without `-a`), sorted by VG and LV name.
pub fn lvs(vgs: &[VolumeGroup]) -> Result<Vec<LvRow>> {
    let mut sorted: Vec<&VolumeGroup> = vgs.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut rows = Vec::new();
    for vg in sorted {
        let mut lvs: Vec<&LogicalVolume> = vg.lvs.iter().filter(|l| has(&l.status, "VISIBLE")).collect();
        lvs.sort_by(|a, b| a.name.cmp(&b.name));
        for lv in lvs {
            rows.push(lv_row(vg, lv)?);
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lvm::metadata::tests::VGCFGBACKUP;
    use crate::lvm::vg::parse_vg;

    /// The vgstripe backup with `edits` applied (each `from` must occur), both PVs found (the
    /// backup was taken with pv1 missing: its `MISSING` flag is dropped).
    fn vg(edits: &[(&str, &str)]) -> VolumeGroup {
        let mut text = VGCFGBACKUP.to_string();
        for (from, to) in edits {
            assert!(text.contains(from), "{from}");
            text = text.replacen(from, to, 1);
        }
        let mut vg = parse_vg("test", text.as_bytes()).unwrap();
        for (pv, dev) in vg.pvs.iter_mut().zip(["/dev/sda", "/dev/sdb"]) {
            pv.device = dev.into();
            pv.flags.clear();
        }
        vg
    }

    #[test]
    fn plain_vg_rows() {
        let vg = vg(&[]);
        let v = vg_row(&vg);
        assert_eq!((v.vg_attr.as_str(), v.vg_extent_count, v.vg_free_count, v.lv_count), ("wz--n-", 62, 24, 2));
        let p = pvs(std::slice::from_ref(&vg));
        assert_eq!((p[0].pv_attr.as_str(), p[0].pv_pe_alloc_count, p[1].pv_pe_alloc_count), ("a--", 8 + 10, 8 + 12));
        assert_eq!(p[0].pv_uuid, "VgStrPvdaa000000000000000000000a");
        let l = lvs(std::slice::from_ref(&vg)).unwrap();
        assert_eq!(l.iter().map(|r| (r.lv_name.as_str(), r.lv_attr.as_str(), r.seg_count)).collect::<Vec<_>>(), [("span", "-wi-XX----", 2), ("stripes", "-wi-XX----", 1)]);
    }

    #[test]
    fn flags_policies_and_tags_follow_lvm2() {
        let vg = vg(&[
            ("status = [\"RESIZEABLE\", \"READ\", \"WRITE\"]", "status = [\"READ\", \"EXPORTED\"]\ntags = [\"b\", \"a\"]\nallocation_policy = \"cling\""),
            ("status = [\"ALLOCATABLE\"]", "status = []"),
            ("status = [\"READ\", \"WRITE\", \"VISIBLE\"]", "status = [\"READ\", \"VISIBLE\", \"FIXED_MINOR\"]\nflags = [\"ACTIVATION_SKIP\"]\nallocation_policy = \"contiguous\"\nmajor = 253\nminor = 7\ntags = [\"z\", \"y\"]"),
        ]);
        let v = vg_row(&vg);
        assert_eq!((v.vg_attr.as_str(), v.vg_tags.as_str()), ("r-x-l-", "a,b"));
        assert_eq!(pv_row(&vg, &vg.pvs[0]).pv_attr, "ux-");
        let stripes = vg.lvs.iter().find(|l| l.name == "stripes").unwrap();
        let r = lv_row(&vg, stripes).unwrap();
        assert_eq!((r.lv_attr.as_str(), r.lv_major, r.lv_minor, r.lv_tags.as_str()), ("-rcmXX---k", 253, 7, "y,z"));
    }

    #[test]
    fn missing_pv_marks_pv_vg_and_lv() {
        let mut vg = vg(&[]);
        vg.pvs[1].flags = vec!["MISSING".into()]; // lvm2's mark in the metadata
        assert_eq!(pv_row(&vg, &vg.pvs[1]).pv_attr, "a-m");
        vg.pvs[1].flags.clear();
        vg.pvs[1].device = "[unknown]".into(); // not found by the scan
        assert_eq!(pv_row(&vg, &vg.pvs[1]).pv_attr, "a-m");
        assert_eq!(pv_row(&vg, &vg.pvs[1]).dev_size, 0);
        assert_eq!(vg_row(&vg).vg_attr, "wz-pn-");
        let attrs: Vec<String> = lvs(std::slice::from_ref(&vg)).unwrap().into_iter().map(|r| r.lv_attr).collect();
        assert_eq!(attrs, ["-wi-XX--p-", "-wi-XX--p-"]);
    }

    #[test]
    fn unmodelled_types_are_named_errors() {
        let raid = vg(&[("type = \"striped\"\n\t\t\t\tstripe_count = 2", "type = \"raid1\"\n\t\t\t\tstripe_count = 2")]);
        let e = lvs(std::slice::from_ref(&raid)).unwrap_err().to_string();
        assert_eq!(e, "/dev/vgstripe/stripes: lvs-full cannot describe LV type raid1 (lvm2's attributes for it are not modelled)");
        // span is the origin of an old-style snapshot held in stripes
        let snap = vg(&[("type = \"striped\"\n\t\t\t\tstripe_count = 2", "type = \"snapshot\"\n\t\t\t\torigin = \"span\"\n\t\t\t\tcow_store = \"nothing\"\n\t\t\t\tstripe_count = 2")]);
        let span = snap.lvs.iter().find(|l| l.name == "span").unwrap();
        assert!(lv_row(&snap, span).unwrap_err().to_string().contains("cannot describe snapshot origin"));
        assert_eq!(vg_row(&snap).snap_count, 1);
    }
}
