//! Metadata writes: `pvresize` of a PV whose device grew, `lvextend` of a linear or striped
//! LV into free extents (placed by lvm2's allocator, [`super::alloc`]). The VG's text metadata
//! is edited in place (seqno + 1, the PV's `dev_size` and `pe_count`, the LV's segments;
//! everything else kept byte for byte), written into the circular buffer of every metadata
//! area of every PV of the VG after the current copy, and the `raw_locn` and header CRCs
//! updated as lvm2's `format_text` does. Callers write through a copy-on-write overlay and
//! commit, so a failure leaves the old metadata.

use super::alloc::{free_runs, Shortfall};
use super::label::{read_label_as, PvLabel};
use super::mda::{self, MDA_HEADER_SIZE};
use super::vg::{SegmentKind, VolumeGroup};
use super::{lvm_crc, DiskArea, Error, Result, INITIAL_CRC};
use crate::bytes::{le32, le64};
use crate::disk::{read_vec, BlockDev};

/// Sector size of lvm2's metadata units.
const SECTOR: u64 = 512;

/// What [`pvresize`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvResized {
    /// PV uuid.
    pub uuid: String,
    /// Volume group, when the PV is in one.
    pub vg: Option<String>,
    /// Extents before and after.
    pub pe_count: (u64, u64),
    /// Device size in 512-byte sectors before and after.
    pub dev_size: (u64, u64),
}

/// The line's content without a `#` comment outside quotes, and the comment.
fn split_comment(line: &str) -> (&str, &str) {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return (&line[..i], &line[i..]),
            _ => {}
        }
    }
    (line, "")
}

/// Rewrites metadata text line by line: `f(sections, key, value)` may return a new value for
/// a `key = value` line (`sections` is the path of section names it is in). A replaced value
/// loses its comment (lvm2's size comments would be stale).
pub fn edit_values(text: &str, mut f: impl FnMut(&[String], &str, &str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut stack: Vec<String> = Vec::new();
    for piece in text.split_inclusive('\n') {
        let (line, nl) = match piece.strip_suffix('\n') {
            Some(l) => (l, "\n"),
            None => (piece, ""),
        };
        let (body, _comment) = split_comment(line);
        let t = body.trim();
        if let Some(name) = t.strip_suffix('{') {
            stack.push(name.trim().to_string());
        } else if t == "}" {
            stack.pop();
        } else if let Some((k, v)) = t.split_once('=') {
            if let Some(new) = f(&stack, k.trim(), v.trim()) {
                let indent = &line[..line.len() - line.trim_start().len()];
                out.push_str(&format!("{indent}{} = {new}{nl}", k.trim()));
                continue;
            }
        }
        out.push_str(piece);
    }
    out
}

/// The name of the `physical_volumes` subsection whose `id` is `uuid` (`pv0`).
fn pv_section(text: &str, uuid: &str) -> Option<String> {
    let mut found = None;
    let quoted = format!("\"{uuid}\"");
    edit_values(text, |s, k, v| {
        if s.len() == 3 && s[1] == "physical_volumes" && k == "id" && v == quoted {
            found = Some(s[2].clone());
        }
        None
    });
    found
}

/// Writes `text` as the new committed metadata of the area `area` of `dev`: after the current
/// copy in the circular buffer (wrapping to just after the header), `raw_locn[0]` and the
/// header CRC updated.
pub fn write_text(dev: &dyn BlockDev, name: &str, area: DiskArea, text: &[u8]) -> Result<()> {
    let err = |msg: String| Error::Mda { dev: name.to_string(), offset: area.offset, msg };
    let mut h = read_vec(dev, area.offset, MDA_HEADER_SIZE as usize)?;
    let (old_off, old_len) = (le64(&h, 40), le64(&h, 48));
    let mut blob = text.to_vec();
    blob.push(0);
    let len = blob.len() as u64;
    let ring = area.size - MDA_HEADER_SIZE;
    // lvm2 keeps room for two copies: the new one may take at most half the buffer
    if len > ring / 2 {
        return Err(err(format!("metadata of {len} bytes does not fit (the area holds {} bytes per copy); enlarge the metadata area", ring / 2)));
    }
    let mut off = if old_len == 0 { MDA_HEADER_SIZE } else { (old_off + old_len).div_ceil(SECTOR) * SECTOR };
    if off >= area.size {
        off = MDA_HEADER_SIZE + (off - area.size);
    }
    // the text may wrap around the end of the area
    let first = len.min(area.size - off);
    dev.write_at(&blob[..first as usize], area.offset + off)?;
    if first < len {
        dev.write_at(&blob[first as usize..], area.offset + MDA_HEADER_SIZE)?;
    }
    h[40..48].copy_from_slice(&off.to_le_bytes());
    h[48..56].copy_from_slice(&len.to_le_bytes());
    h[56..60].copy_from_slice(&lvm_crc(INITIAL_CRC, &blob).to_le_bytes());
    let crc = lvm_crc(INITIAL_CRC, &h[4..]);
    h[0..4].copy_from_slice(&crc.to_le_bytes());
    dev.write_at(&h, area.offset)?;
    Ok(())
}

/// Sets the device size in the PV header (and the label CRC).
fn write_label_dev_size(dev: &dyn BlockDev, label: &PvLabel, dev_size: u64) -> Result<()> {
    let at = label.sector * SECTOR;
    let mut sec = read_vec(dev, at, SECTOR as usize)?;
    let hdr = le32(&sec, 20) as usize;
    let field = hdr + 32;
    if field + 8 > sec.len() {
        return Err(Error::Label { dev: dev.name(), sector: label.sector, msg: format!("PV header offset {hdr} lies outside the sector") });
    }
    sec[field..field + 8].copy_from_slice(&dev_size.to_le_bytes());
    let crc = lvm_crc(INITIAL_CRC, &sec[20..]);
    sec[16..20].copy_from_slice(&crc.to_le_bytes());
    dev.write_at(&sec, at)?;
    Ok(())
}

/// A device with a PV label.
struct Labelled<'a> {
    name: &'a str,
    dev: &'a dyn BlockDev,
    label: PvLabel,
}

/// The PV labels on `devs` (devices without one are left out).
fn labels<'a>(devs: &[(&'a str, &'a dyn BlockDev)]) -> Result<Vec<Labelled<'a>>> {
    let mut out = Vec::new();
    for &(name, dev) in devs {
        if let Some(label) = read_label_as(dev, name)? {
            out.push(Labelled { name, dev, label });
        }
    }
    Ok(out)
}

/// Whether two PV uuids are the same (with or without dashes).
fn same_uuid(a: &str, b: &str) -> bool {
    a.replace('-', "") == b.replace('-', "")
}

/// The newest metadata copy (text and volume group) in the metadata areas of `labels` whose
/// volume group satisfies `wanted`.
fn newest_copy(labels: &[Labelled], wanted: impl Fn(&VolumeGroup) -> bool) -> Result<Option<(Vec<u8>, VolumeGroup)>> {
    let mut best: Option<(Vec<u8>, VolumeGroup)> = None;
    for l in labels {
        for area in &l.label.metadata_areas {
            let (_, Some(text)) = mda::read_text(l.dev, l.name, *area)? else { continue };
            let vg = super::vg::parse_vg(l.name, &text)?;
            if wanted(&vg) && best.as_ref().is_none_or(|(_, b)| vg.seqno > b.seqno) {
                best = Some((text, vg));
            }
        }
    }
    Ok(best)
}

/// Writes `text` (already checked to parse) as the new metadata of `vg` into every metadata
/// area in use on every PV of `vg`, as lvm2's `vg_write` + `vg_commit` do; `what` names the
/// object being changed in errors. Every PV must be among `labels`.
fn write_vg_text(labels: &[Labelled], vg: &VolumeGroup, what: &str, text: &str) -> Result<()> {
    let mut pvs = Vec::with_capacity(vg.pvs.len());
    for pv in &vg.pvs {
        let l = labels.iter().find(|l| same_uuid(&l.label.uuid, &pv.uuid));
        pvs.push(l.ok_or_else(|| Error::MissingPv { lv: what.to_string(), pv: pv.name.clone(), uuid: pv.uuid.clone() })?);
    }
    for l in pvs {
        for area in &l.label.metadata_areas {
            if let (_, Some(_)) = mda::read_text(l.dev, l.name, *area)? {
                write_text(l.dev, l.name, *area, text.as_bytes())?;
            }
        }
    }
    Ok(())
}

/// Borrows a device list as `(name, device)` pairs.
fn borrowed(devs: &[(String, crate::disk::Dev)]) -> Vec<(&str, &dyn BlockDev)> {
    devs.iter().map(|(n, d)| (n.as_str(), d.as_ref())).collect()
}

/// `pvresize` of the PV on `dev` (already at its new size; `name` for errors) to the whole
/// device, when its volume group has no other PV: see [`pvresize_in`], which also resizes a PV
/// of a multi-PV volume group given all its devices (here the other PVs are missing).
pub fn pvresize(dev: &dyn BlockDev, name: &str) -> Result<Option<PvResized>> {
    resize_pv(&[(name, dev)], name)
}

/// `pvresize` of the PV on device `name`, one of `devs`, to its whole (grown) device, as lvm2
/// does it: the PV's `dev_size` and `pe_count` and the volume group's seqno change in the
/// metadata text, which is written into the metadata areas of EVERY PV of the volume group
/// (new `raw_locn` and header CRCs). Like lvm2, the PV header's device size is rewritten only
/// for a PV in no volume group.
///
/// `devs` are the scanned devices as for [`lvextend`] and [`super::scan`] (every partition
/// and whole disk, the grown one at its new size), and must hold every PV of the volume group.
/// Returns `None` when `name` holds no PV label, `Some` with what changed otherwise (no
/// change when the metadata already has this size; `vg: None` for a PV in no volume group,
/// whose header alone is updated). Only growing; a PV with a metadata area after its data
/// (which would have to move) is refused. Errors: `name` not among `devs`; a PV of the volume
/// group not found on any of `devs` ([`Error::MissingPv`], checked before anything is written);
/// damaged labels or metadata on any of `devs`. Write through an overlay and commit: a write
/// error may leave some areas written.
pub fn pvresize_in(devs: &[(String, crate::disk::Dev)], name: &str) -> Result<Option<PvResized>> {
    resize_pv(&borrowed(devs), name)
}

fn resize_pv(devs: &[(&str, &dyn BlockDev)], name: &str) -> Result<Option<PvResized>> {
    let unsupported = |msg: String| Error::Metadata { dev: name.to_string(), msg };
    let labels = labels(devs)?;
    let Some(me) = labels.iter().find(|l| l.name == name) else {
        return if devs.iter().any(|(n, _)| *n == name) { Ok(None) } else { Err(unsupported("pvresize: no such device among the scanned ones".into())) };
    };
    let label = &me.label;
    let data_start = label.data_areas.first().map_or(0, |d| d.offset);
    if label.metadata_areas.iter().any(|m| m.offset > data_start) {
        return Err(unsupported("pvresize: the PV has a metadata area at the end of the device, which would have to move; not supported".into()));
    }
    let new_sectors = me.dev.len() / SECTOR;
    let Some((text, vg)) = newest_copy(&labels, |vg| vg.pvs.iter().any(|p| same_uuid(&p.uuid, &label.uuid)))? else {
        // an orphan PV: only its header records the size
        write_label_dev_size(me.dev, label, new_sectors * SECTOR)?;
        return Ok(Some(PvResized { uuid: label.uuid.clone(), vg: None, pe_count: (0, 0), dev_size: (label.dev_size / SECTOR, new_sectors) }));
    };
    let pv = vg.pvs.iter().find(|p| same_uuid(&p.uuid, &label.uuid)).ok_or_else(|| unsupported(format!("PV {} is not in the metadata of VG {}", label.uuid, vg.name)))?;
    let extent = vg.extent_size / SECTOR;
    let pe_start = pv.pe_start / SECTOR;
    if extent == 0 || new_sectors < pe_start {
        return Err(unsupported(format!("VG {}: extent size {extent} or pe_start {pe_start} does not fit the device", vg.name)));
    }
    let new_pe = (new_sectors - pe_start) / extent;
    let old = (pv.pe_count, pv.dev_size / SECTOR);
    let resized = PvResized { uuid: label.uuid.clone(), vg: Some(vg.name.clone()), pe_count: (old.0, new_pe), dev_size: (old.1, new_sectors) };
    if new_pe < pv.pe_count {
        return Err(unsupported(format!("pvresize: {name} is smaller than PV {} ({new_pe} < {} extents); shrinking is not supported", pv.uuid, pv.pe_count)));
    }
    if (new_pe, new_sectors) == old {
        return Ok(Some(resized));
    }
    let text = String::from_utf8_lossy(&text).into_owned();
    let section = pv_section(&text, &pv.uuid).ok_or_else(|| unsupported(format!("PV {} has no section in the metadata text", pv.uuid)))?;
    let new_text = edit_values(&text, |s, k, _| match (s.len(), k) {
        (1, "seqno") if s[0] == vg.name => Some((vg.seqno + 1).to_string()),
        (3, "dev_size") if s[1] == "physical_volumes" && s[2] == section => Some(new_sectors.to_string()),
        (3, "pe_count") if s[1] == "physical_volumes" && s[2] == section => Some(new_pe.to_string()),
        _ => None,
    });
    super::vg::parse_vg(name, new_text.as_bytes())?;
    // lvm2 rewrites the PV header only of an orphan PV (or one with a second metadata area)
    write_vg_text(&labels, &vg, name, &new_text)?;
    Ok(Some(resized))
}

/// Inserts `insertion` (whole lines) before the line closing the section at `path`.
fn insert_before_close(text: &str, path: &[&str], insertion: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + insertion.len());
    let mut stack: Vec<String> = Vec::new();
    let mut done = false;
    for piece in text.split_inclusive('\n') {
        let t = split_comment(piece.trim_end_matches('\n')).0.trim();
        if let Some(name) = t.strip_suffix('{') {
            stack.push(name.trim().to_string());
        } else if t == "}" {
            if !done && stack.iter().map(String::as_str).eq(path.iter().copied()) {
                out.push_str(insertion);
                done = true;
            }
            stack.pop();
        }
        out.push_str(piece);
    }
    done.then_some(out)
}

/// What [`lvextend`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LvExtended {
    /// `/dev/VG/LV`.
    pub lv: String,
    /// Extents before and after.
    pub extents: (u64, u64),
}

/// The extents `lvextend -l +N` (`Some(N)`) or `-l +100%FREE` (`None`) asks for, for an LV
/// whose last segment has `stripes` stripes of `stripe_size` bytes: lvm2 rounds to whole
/// stripes (of at least one extent each), up for `+N`, down for `100%FREE`.
fn requested(vg: &VolumeGroup, stripes: u64, stripe_size: u64, add: Option<u64>) -> u64 {
    let free = vg.pvs.iter().flat_map(|p| free_runs(vg, &p.name)).fold(0u64, |a, r| a.saturating_add(r.1));
    let unit = stripes.max(1).saturating_mul(if stripe_size > vg.extent_size { stripe_size / vg.extent_size.max(1) } else { 1 });
    match add {
        Some(n) => n.div_ceil(unit).saturating_mul(unit),
        None => free / unit * unit,
    }
}

/// A segment of the extended LV: start, extents per stripe, `(pv name, first extent)` per stripe.
type NewSegment = (u64, u64, Vec<(String, u64)>);

/// The metadata text of `vg` (read from its newest copy, `text`) with LV `lv` extended as
/// `lvextend -l +N` (`add = Some(N)`) or `-l +100%FREE` (`None`) does it with lvm2's normal
/// allocation ([`super::alloc`]): new extents continuing the last segment on every stripe
/// grow it, the others become new segments with its stripe count and stripe size; seqno + 1.
/// Also the number of extents added (0: nothing to do or, for `None`, no room for the LV's
/// stripes; the text unchanged, as lvm2 leaves it).
pub fn lvextend_text(text: &str, vg: &VolumeGroup, lv: &str, add: Option<u64>) -> Result<(String, u64)> {
    let path = format!("/dev/{}/{lv}", vg.name);
    let bad = |msg: String| Error::Metadata { dev: path.clone(), msg };
    let l = vg.lvs.iter().find(|l| l.name == lv).ok_or_else(|| Error::NoSuchLv { vg: vg.name.clone(), lv: lv.to_string() })?;
    let last = l.segments.last().ok_or_else(|| bad("the LV has no segments".into()))?;
    let SegmentKind::Striped { stripes, stripe_size } = &last.kind else {
        return Err(bad("lvextend: only linear and striped LVs can be extended".into()));
    };
    let n = stripes.len() as u64;
    let want = requested(vg, n, *stripe_size, add);
    if want == 0 {
        return Ok((text.to_string(), 0));
    }
    let chunks = super::alloc::allocate(vg, l, stripes.len(), want, add.is_none()).map_err(|s| match s {
        Shortfall::Space(need, free) => bad(format!("lvextend: insufficient free space: {need} extents needed, but only {free} available")),
        Shortfall::Extents(left) => bad(format!("lvextend: insufficient suitable allocatable extents for logical volume {lv}: {left} more required")),
    })?;
    // lvm2's lv_merge_segments: a chunk continuing the previous segment on every stripe joins it
    let per = last.extent_count / n.max(1);
    let mut ends: Vec<(String, u64)> = stripes.iter().map(|(p, pe)| (p.clone(), pe.saturating_add(per))).collect();
    let (mut grow_last, mut segments, mut next_le) = (0u64, Vec::<NewSegment>::new(), last.start_extent.saturating_add(last.extent_count));
    for c in &chunks {
        let at: Vec<(String, u64)> = c.stripes.iter().map(|&(p, pe)| (vg.pvs[p].name.clone(), pe)).collect();
        if at != ends {
            segments.push((next_le, c.len, at.clone()));
        } else if let Some(seg) = segments.last_mut() {
            seg.1 += c.len;
        } else {
            grow_last = grow_last.saturating_add(c.len.saturating_mul(n));
        }
        ends = at.into_iter().map(|(p, pe)| (p, pe.saturating_add(c.len))).collect();
        next_le = next_le.saturating_add(c.len.saturating_mul(n));
    }
    let added = chunks.iter().fold(0u64, |a, c| a.saturating_add(c.len.saturating_mul(n)));
    if added == 0 {
        return Ok((text.to_string(), 0));
    }
    let last_name = format!("segment{}", l.segments.len());
    let count = l.segments.len() + segments.len();
    let mut out = edit_values(text, |s, k, v| match (s.len(), k) {
        (1, "seqno") if s[0] == vg.name => Some((vg.seqno + 1).to_string()),
        (3, "segment_count") if s[1] == "logical_volumes" && s[2] == lv => Some(count.to_string()),
        (4, "extent_count") if s[1] == "logical_volumes" && s[2] == lv && s[3] == last_name => {
            v.parse::<u64>().ok().map(|c| c.saturating_add(grow_last).to_string())
        }
        _ => None,
    });
    if !segments.is_empty() {
        let mut ins = String::new();
        for (i, (le, len, at)) in segments.iter().enumerate() {
            ins.push_str(&segment_text(l.segments.len() + 1 + i, *le, len.saturating_mul(n), *stripe_size / SECTOR, at));
        }
        out = insert_before_close(&out, &[&vg.name, "logical_volumes", lv], &ins).ok_or_else(|| bad("the LV's section was not found in the metadata text".into()))?;
    }
    Ok((out, added))
}

/// A striped (or linear) segment section as lvm2 writes it.
fn segment_text(number: usize, start: u64, extents: u64, stripe_sectors: u64, stripes: &[(String, u64)]) -> String {
    let kind = match stripes.len() {
        1 => "\t# linear\n".to_string(),
        _ => format!("\n\t\t\t\tstripe_size = {stripe_sectors}\n"),
    };
    let list: Vec<String> = stripes.iter().map(|(pv, pe)| format!("\t\t\t\t\t\"{pv}\", {pe}")).collect();
    format!(
        "\n\t\t\tsegment{number} {{\n\t\t\t\tstart_extent = {start}\n\t\t\t\textent_count = {extents}\n\n\t\t\t\ttype = \"striped\"\n\t\t\t\tstripe_count = {}{kind}\n\t\t\t\tstripes = [\n{}\n\t\t\t\t]\n\t\t\t}}\n",
        stripes.len(),
        list.join(",\n")
    )
}

/// `lvextend` of LV `lv` of `vg` (linear or striped) by `add` extents, like `lvextend -l +N`,
/// or by all it can get of the free extents when `None`, like `lvextend -l +100%FREE`
/// ([`lvextend_text`]): the new metadata is written on every metadata area of every PV
/// (`devs` are the scanned devices and must hold every PV of the volume group). lvm2's
/// refusals: "insufficient free space: N extents needed, but only M available",
/// "insufficient suitable allocatable extents …".
pub fn lvextend(devs: &[(String, crate::disk::Dev)], vg: &VolumeGroup, lv: &str, add: Option<u64>) -> Result<LvExtended> {
    let path = format!("/dev/{}/{lv}", vg.name);
    let before = vg.lvs.iter().find(|l| l.name == lv).ok_or_else(|| Error::NoSuchLv { vg: vg.name.clone(), lv: lv.to_string() })?;
    let old: u64 = before.segments.iter().map(|s| s.extent_count).sum();
    let devs = borrowed(devs);
    let labels = labels(&devs)?;
    if let Some(pv) = vg.pvs.iter().find(|p| !labels.iter().any(|l| same_uuid(&l.label.uuid, &p.uuid))) {
        return Err(Error::MissingPv { lv: path, pv: pv.name.clone(), uuid: pv.uuid.clone() });
    }
    let current = newest_copy(&labels, |v| v.uuid == vg.uuid && v.seqno == vg.seqno)?;
    let (text, _) = current.ok_or_else(|| Error::Metadata { dev: path.clone(), msg: format!("no metadata copy with seqno {} found", vg.seqno) })?;
    let (new_text, added) = lvextend_text(&String::from_utf8_lossy(&text), vg, lv, add)?;
    if added > 0 {
        super::vg::parse_vg(&path, new_text.as_bytes())?;
        write_vg_text(&labels, vg, &path, &new_text)?;
    }
    Ok(LvExtended { lv: path, extents: (old, old + added) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "vg0 {\n\tid = \"abc\"\n\tseqno = 3\n\tphysical_volumes {\n\n\t\tpv0 {\n\t\t\tid = \"P-1\"\n\t\t\tdevice = \"/dev/x\"\t# Hint only\n\t\t\tdev_size = 100\t# 50 Kilobytes\n\t\t\tpe_count = 2\n\t\t}\n\t}\n\tlogical_volumes {\n\t\tlv {\n\t\t\tseqno = 9\n\t\t}\n\t}\n}\n# comment {\ncontents = \"Text Format Volume Group\"\n";

    #[test]
    fn values_are_edited_by_section_path() {
        assert_eq!(pv_section(TEXT, "P-1").as_deref(), Some("pv0"));
        assert_eq!(pv_section(TEXT, "P-2"), None);
        let out = edit_values(TEXT, |s, k, _| match (s.len(), k) {
            (1, "seqno") => Some("4".into()),
            (3, "dev_size") if s[2] == "pv0" => Some("200".into()),
            _ => None,
        });
        assert!(out.contains("\tseqno = 4\n"));
        assert!(out.contains("\t\t\tdev_size = 200\n"));
        assert!(out.contains("\t\t\tseqno = 9\n"), "nested keys of the same name stay");
        assert!(out.contains("device = \"/dev/x\"\t# Hint only\n"), "other lines stay byte for byte");
        assert_eq!(out.len(), TEXT.len() - "\t# 50 Kilobytes".len());
    }

    #[test]
    fn comments_outside_quotes_only() {
        assert_eq!(split_comment("a = \"x#y\" # c"), ("a = \"x#y\" ", "# c"));
        assert_eq!(split_comment("plain"), ("plain", ""));
    }
}
