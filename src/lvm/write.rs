//! Metadata writes: `pvresize` of a PV whose device grew, `lvextend` of a linear LV into
//! free extents. The VG's text metadata is edited in
//! place (seqno + 1, the PV's `dev_size` and `pe_count`; everything else kept byte for byte),
//! written into each metadata area's circular buffer after the current copy, and the
//! `raw_locn` and header CRCs updated as lvm2's `format_text` does; the PV header's device
//! size follows. Callers write through a copy-on-write overlay and commit, so a failure
//! leaves the old metadata.

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

/// `pvresize` of the PV on `dev` (the partition, already at its new size; `name` for errors)
/// to the whole device. `None` when `dev` holds no PV; `Some` with what changed (no change when
/// the metadata already says this size). Only growing; the VG must have this one PV with
/// metadata (the other copies could not be updated), and no metadata area may follow the data.
pub fn pvresize(dev: &dyn BlockDev, name: &str) -> Result<Option<PvResized>> {
    let Some(label) = read_label_as(dev, name)? else { return Ok(None) };
    let unsupported = |msg: String| Error::Metadata { dev: name.to_string(), msg };
    let data_start = label.data_areas.first().map_or(0, |d| d.offset);
    if label.metadata_areas.iter().any(|m| m.offset > data_start) {
        return Err(unsupported("pvresize: the PV has a metadata area at the end of the device, which would have to move; not supported".into()));
    }
    let new_sectors = dev.len() / SECTOR;
    let mut texts = Vec::new();
    for area in &label.metadata_areas {
        if let (_, Some(text)) = mda::read_text(dev, name, *area)? {
            texts.push((*area, text));
        }
    }
    let Some((_, text)) = texts.first() else {
        // an orphan PV: only its header records the size
        write_label_dev_size(dev, &label, new_sectors * SECTOR)?;
        return Ok(Some(PvResized { uuid: label.uuid, vg: None, pe_count: (0, 0), dev_size: (label.dev_size / SECTOR, new_sectors) }));
    };
    let vg = super::vg::parse_vg(name, text)?;
    if vg.pvs.len() != 1 {
        return Err(unsupported(format!(
            "pvresize: volume group {} has {} physical volumes; resizing one PV of a multi-PV VG is not supported (the other PVs' metadata copies would be stale)",
            vg.name,
            vg.pvs.len()
        )));
    }
    let pv = vg.pvs.iter().find(|p| p.uuid == label.uuid).ok_or_else(|| unsupported(format!("PV {} is not in the metadata of VG {}", label.uuid, vg.name)))?;
    let extent = vg.extent_size / SECTOR;
    let pe_start = pv.pe_start / SECTOR;
    if extent == 0 || new_sectors < pe_start {
        return Err(unsupported(format!("VG {}: extent size {extent} or pe_start {pe_start} does not fit the device", vg.name)));
    }
    let new_pe = (new_sectors - pe_start) / extent;
    let old = (pv.pe_count, pv.dev_size / SECTOR);
    if new_pe < pv.pe_count {
        return Err(unsupported(format!("pvresize: {name} is smaller than PV {} ({new_pe} < {} extents); shrinking is not supported", pv.uuid, pv.pe_count)));
    }
    if (new_pe, new_sectors) == old {
        return Ok(Some(PvResized { uuid: label.uuid, vg: Some(vg.name), pe_count: (old.0, new_pe), dev_size: (old.1, new_sectors) }));
    }
    let text = String::from_utf8_lossy(text).into_owned();
    let section = pv_section(&text, &pv.uuid).ok_or_else(|| unsupported(format!("PV {} has no section in the metadata text", pv.uuid)))?;
    let seqno = vg.seqno + 1;
    let new_text = edit_values(&text, |s, k, _| match (s.len(), k) {
        (1, "seqno") if s[0] == vg.name => Some(seqno.to_string()),
        (3, "dev_size") if s[1] == "physical_volumes" && s[2] == section => Some(new_sectors.to_string()),
        (3, "pe_count") if s[1] == "physical_volumes" && s[2] == section => Some(new_pe.to_string()),
        _ => None,
    });
    for (area, _) in &texts {
        write_text(dev, name, *area, new_text.as_bytes())?;
    }
    write_label_dev_size(dev, &label, new_sectors * SECTOR)?;
    Ok(Some(PvResized { uuid: label.uuid, vg: Some(vg.name), pe_count: (old.0, new_pe), dev_size: (old.1, new_sectors) }))
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

/// Free extent runs `(pv name, first extent, count)` of a VG, in PV order.
fn free_runs(vg: &VolumeGroup) -> Vec<(String, u64, u64)> {
    let mut runs = Vec::new();
    for pv in &vg.pvs {
        let mut used: Vec<(u64, u64)> = Vec::new();
        for seg in vg.lvs.iter().flat_map(|l| &l.segments) {
            if let SegmentKind::Striped { stripes, .. } = &seg.kind {
                let per = seg.extent_count / stripes.len().max(1) as u64;
                used.extend(stripes.iter().filter(|(n, _)| *n == pv.name).map(|(_, pe)| (*pe, per)));
            }
        }
        used.sort_unstable();
        let mut at = 0u64;
        for (start, count) in used {
            if start > at {
                runs.push((pv.name.clone(), at, start - at));
            }
            at = at.max(start.saturating_add(count));
        }
        if at < pv.pe_count {
            runs.push((pv.name.clone(), at, pv.pe_count - at));
        }
    }
    runs
}

/// What [`lvextend`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LvExtended {
    /// `/dev/VG/LV`.
    pub lv: String,
    /// Extents before and after.
    pub extents: (u64, u64),
}

/// The metadata text of `vg` (read from its newest copy, `text`) with linear LV `lv` grown by
/// `add` extents, as lvm2's normal allocation does it: the last segment grows when the extents
/// right after it on its PV are free, and the rest goes into new linear segments taken from
/// the free runs in PV order; seqno + 1.
pub fn lvextend_text(text: &str, vg: &VolumeGroup, lv: &str, add: u64) -> Result<String> {
    let bad = |msg: String| Error::Metadata { dev: format!("/dev/{}/{lv}", vg.name), msg };
    let l = vg.lvs.iter().find(|l| l.name == lv).ok_or_else(|| Error::NoSuchLv { vg: vg.name.clone(), lv: lv.to_string() })?;
    let last = l.segments.last().ok_or_else(|| bad("the LV has no segments".into()))?;
    let SegmentKind::Striped { stripes, .. } = &last.kind else {
        return Err(bad("lvextend: only linear LVs can be extended".into()));
    };
    let [(last_pv, last_pe)] = stripes.as_slice() else {
        return Err(bad(format!("lvextend: extending a striped LV ({} stripes) is not supported", stripes.len())));
    };
    let mut runs = free_runs(vg);
    let total: u64 = runs.iter().map(|r| r.2).sum();
    if add > total {
        return Err(bad(format!("lvextend: {add} extents requested, the VG has {total} free")));
    }
    let mut left = add;
    let mut grow_last = 0;
    let after = last_pe + last.extent_count;
    if let Some(r) = runs.iter_mut().find(|r| r.0 == *last_pv && r.1 == after) {
        grow_last = left.min(r.2);
        r.1 += grow_last;
        r.2 -= grow_last;
        left -= grow_last;
    }
    let mut new_segments = Vec::new();
    let mut next_le = last.start_extent + last.extent_count + grow_last;
    for r in runs.iter().filter(|r| r.2 > 0) {
        if left == 0 {
            break;
        }
        let n = left.min(r.2);
        new_segments.push((next_le, n, r.0.clone(), r.1));
        next_le += n;
        left -= n;
    }
    let last_name = format!("segment{}", l.segments.len());
    let count = l.segments.len() + new_segments.len();
    let mut out = edit_values(text, |s, k, v| match (s.len(), k) {
        (1, "seqno") if s[0] == vg.name => Some((vg.seqno + 1).to_string()),
        (3, "segment_count") if s[1] == "logical_volumes" && s[2] == lv => Some(count.to_string()),
        (4, "extent_count") if s[1] == "logical_volumes" && s[2] == lv && s[3] == last_name => {
            v.parse::<u64>().ok().map(|c| (c + grow_last).to_string())
        }
        _ => None,
    });
    if !new_segments.is_empty() {
        let mut ins = String::new();
        for (i, (le, n, pv, pe)) in new_segments.iter().enumerate() {
            let number = l.segments.len() + 1 + i;
            ins.push_str(&format!(
                "\n\t\t\tsegment{number} {{\n\t\t\t\tstart_extent = {le}\n\t\t\t\textent_count = {n}\n\n\t\t\t\ttype = \"striped\"\n\t\t\t\tstripe_count = 1\t# linear\n\n\t\t\t\tstripes = [\n\t\t\t\t\t\"{pv}\", {pe}\n\t\t\t\t]\n\t\t\t}}\n"
            ));
        }
        out = insert_before_close(&out, &[&vg.name, "logical_volumes", lv], &ins).ok_or_else(|| bad("the LV's section was not found in the metadata text".into()))?;
    }
    Ok(out)
}

/// `lvextend` of linear LV `lv` of `vg` by `add` extents (all free extents when `None`):
/// the new metadata is written on every metadata area of every PV (`devs` are the scanned
/// devices, by the names the VG's PVs were found on).
pub fn lvextend(devs: &[(String, crate::disk::Dev)], vg: &VolumeGroup, lv: &str, add: Option<u64>) -> Result<LvExtended> {
    let path = format!("/dev/{}/{lv}", vg.name);
    let before = vg.lvs.iter().find(|l| l.name == lv).ok_or_else(|| Error::NoSuchLv { vg: vg.name.clone(), lv: lv.to_string() })?;
    let old: u64 = before.segments.iter().map(|s| s.extent_count).sum();
    let free: u64 = free_runs(vg).iter().map(|r| r.2).sum();
    let add = add.unwrap_or(free);
    if add == 0 {
        return Ok(LvExtended { lv: path, extents: (old, old) });
    }
    let mut pv_devs = Vec::new();
    for pv in &vg.pvs {
        let dev = devs.iter().find(|(n, _)| *n == pv.device).map(|(_, d)| d.clone());
        let dev = dev.ok_or_else(|| Error::MissingPv { lv: path.clone(), pv: pv.name.clone(), uuid: pv.uuid.clone() })?;
        pv_devs.push((pv.device.clone(), dev));
    }
    // the newest copy of the text, from the first PV that has one
    let mut current = None;
    for (name, dev) in &pv_devs {
        let Some(label) = read_label_as(dev.as_ref(), name)? else { continue };
        for area in &label.metadata_areas {
            if let (_, Some(t)) = mda::read_text(dev.as_ref(), name, *area)? {
                if super::vg::parse_vg(name, &t)?.seqno == vg.seqno {
                    current = Some(t);
                }
            }
        }
        if current.is_some() {
            break;
        }
    }
    let text = current.ok_or_else(|| Error::Metadata { dev: path.clone(), msg: format!("no metadata copy with seqno {} found", vg.seqno) })?;
    let new_text = lvextend_text(&String::from_utf8_lossy(&text), vg, lv, add)?;
    super::vg::parse_vg(&path, new_text.as_bytes())?;
    for (name, dev) in &pv_devs {
        let Some(label) = read_label_as(dev.as_ref(), name)? else { continue };
        for area in &label.metadata_areas {
            if let (_, Some(_)) = mda::read_text(dev.as_ref(), name, *area)? {
                write_text(dev.as_ref(), name, *area, new_text.as_bytes())?;
            }
        }
    }
    Ok(LvExtended { lv: path, extents: (old, old + add) })
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
