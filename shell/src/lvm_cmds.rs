//! `pvs-full`, `vgs-full`, `lvs-full`: lvm2's report columns as libguestfs's `lvm_pv`,
//! `lvm_vg` and `lvm_lv` structs (uuids without dashes, sizes in bytes).

use crate::command::Args;
use crate::error::CmdResult;
use crate::session::Session;
use crate::structs::{opt_percent, print_list, Fields};
use std::io::Write;

/// `pvs-full`
pub fn pvs_full(s: &mut Session, _a: &Args, out: &mut dyn Write) -> CmdResult {
    let rows: Vec<Fields> = s
        .guest
        .pvs_full()?
        .into_iter()
        .map(|p| {
            vec![
                ("pv_name", p.pv_name),
                ("pv_uuid", p.pv_uuid),
                ("pv_fmt", p.pv_fmt),
                ("pv_size", p.pv_size.to_string()),
                ("dev_size", p.dev_size.to_string()),
                ("pv_free", p.pv_free.to_string()),
                ("pv_used", p.pv_used.to_string()),
                ("pv_attr", p.pv_attr),
                ("pv_pe_count", p.pv_pe_count.to_string()),
                ("pv_pe_alloc_count", p.pv_pe_alloc_count.to_string()),
                ("pv_tags", p.pv_tags),
                ("pe_start", p.pe_start.to_string()),
                ("pv_mda_count", p.pv_mda_count.to_string()),
                ("pv_mda_free", p.pv_mda_free.to_string()),
            ]
        })
        .collect();
    print_list(out, &rows)
}

/// `vgs-full`
pub fn vgs_full(s: &mut Session, _a: &Args, out: &mut dyn Write) -> CmdResult {
    let rows: Vec<Fields> = s
        .guest
        .vgs_full()?
        .into_iter()
        .map(|v| {
            vec![
                ("vg_name", v.vg_name),
                ("vg_uuid", v.vg_uuid),
                ("vg_fmt", v.vg_fmt),
                ("vg_attr", v.vg_attr),
                ("vg_size", v.vg_size.to_string()),
                ("vg_free", v.vg_free.to_string()),
                ("vg_sysid", v.vg_sysid),
                ("vg_extent_size", v.vg_extent_size.to_string()),
                ("vg_extent_count", v.vg_extent_count.to_string()),
                ("vg_free_count", v.vg_free_count.to_string()),
                ("max_lv", v.max_lv.to_string()),
                ("max_pv", v.max_pv.to_string()),
                ("pv_count", v.pv_count.to_string()),
                ("lv_count", v.lv_count.to_string()),
                ("snap_count", v.snap_count.to_string()),
                ("vg_seqno", v.vg_seqno.to_string()),
                ("vg_tags", v.vg_tags),
                ("vg_mda_count", v.vg_mda_count.to_string()),
                ("vg_mda_free", v.vg_mda_free.to_string()),
            ]
        })
        .collect();
    print_list(out, &rows)
}

/// `lvs-full`
pub fn lvs_full(s: &mut Session, _a: &Args, out: &mut dyn Write) -> CmdResult {
    let rows: Vec<Fields> = s
        .guest
        .lvs_full()?
        .into_iter()
        .map(|l| {
            vec![
                ("lv_name", l.lv_name),
                ("lv_uuid", l.lv_uuid),
                ("lv_attr", l.lv_attr),
                ("lv_major", l.lv_major.to_string()),
                ("lv_minor", l.lv_minor.to_string()),
                ("lv_kernel_major", l.lv_kernel_major.to_string()),
                ("lv_kernel_minor", l.lv_kernel_minor.to_string()),
                ("lv_size", l.lv_size.to_string()),
                ("seg_count", l.seg_count.to_string()),
                ("origin", l.origin),
                ("snap_percent", opt_percent(l.snap_percent)),
                ("copy_percent", opt_percent(l.copy_percent)),
                ("move_pv", l.move_pv),
                ("lv_tags", l.lv_tags),
                ("mirror_log", l.mirror_log),
                ("modules", l.modules),
            ]
        })
        .collect();
    print_list(out, &rows)
}
