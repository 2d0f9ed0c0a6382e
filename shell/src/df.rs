//! `df` and `df-h`: the table GNU coreutils `df` (resp. `df -h`) prints in the libguestfs
//! appliance, for the guest filesystems vfish has mounted, in mount order. As the appliance
//! shows them: the source is the kernel's device name (`/dev/sda1`; an LV as
//! `/dev/mapper/VG-LV`, the name `mount` records for a device-mapper device) and the
//! mountpoint is under `/sysroot`. Layout and rounding follow coreutils `src/df.c` and gnulib
//! `human.c`: numbers rounded up, `Use%` rounded up, `-` when it cannot be computed.

use crate::command::Args;
use crate::error::CmdResult;
use crate::session::Session;
use std::io::Write;
use vguestfs::fs::StatVfs;

/// Where the appliance mounts the guest's root.
const SYSROOT: &str = "/sysroot";

/// `df`: sizes in 1K blocks.
pub fn df(s: &mut Session, _a: &Args, out: &mut dyn Write) -> CmdResult {
    print(s, out, false)
}

/// `df-h`: sizes in powers of 1024 (`14M`, `2.5G`).
pub fn df_h(s: &mut Session, _a: &Args, out: &mut dyn Write) -> CmdResult {
    print(s, out, true)
}

fn print(s: &Session, out: &mut dyn Write, human: bool) -> CmdResult {
    let lvs = s.guest.lvs()?; // also: nothing to report before launch
    let mut rows = Vec::new();
    for (device, mountpoint, v) in s.guest.mounts_statvfs()? {
        let source = if lvs.contains(&device) { mapper_name(&device) } else { device };
        let target = if mountpoint == "/" { SYSROOT.to_string() } else { format!("{SYSROOT}{mountpoint}") };
        if let Some(row) = row(source, target, &v, human) {
            rows.push(row);
        }
    }
    write!(out, "{}", table(&rows, human))?;
    Ok(())
}

/// `/dev/VG/LV` → `/dev/mapper/VG-LV` (a `-` inside either name doubled).
fn mapper_name(lv: &str) -> String {
    let rest = lv.strip_prefix("/dev/").unwrap_or(lv);
    let (vg, name) = rest.split_once('/').unwrap_or(("", rest));
    format!("/dev/mapper/{}-{}", vg.replace('-', "--"), name.replace('-', "--"))
}

/// One table row: source, size, used, available, use%, mountpoint. `None` for a filesystem
/// of 0 blocks, which df leaves out.
fn row(source: String, target: String, v: &StatVfs, human: bool) -> Option<[String; 6]> {
    if v.blocks == 0 {
        return None;
    }
    let unit = if v.frsize != 0 { v.frsize } else { v.bsize };
    let (to, autoscale) = if human { (1, true) } else { (1024, false) };
    let size = |n: u64| readable(n, unit, to, autoscale);
    let (used, used_neg) = if v.blocks >= v.bfree { (v.blocks - v.bfree, false) } else { (v.bfree - v.blocks, true) };
    let used_cell = if used_neg { format!("-{}", size(used)) } else { size(used) };
    Some([
        printable(&source),
        size(v.blocks),
        used_cell,
        size(v.bavail),
        percent(used, used_neg, v.bavail),
        printable(&target),
    ])
}

/// coreutils' Use%: used / (used + available), rounded up; `-` when the total is 0.
fn percent(used: u64, used_neg: bool, avail: u64) -> String {
    let total = u128::from(used) + u128::from(avail);
    if !used_neg && total != 0 {
        let u100 = u128::from(used) * 100;
        let pct = u100 / total + u128::from(u100 % total != 0);
        return format!("{pct}%");
    }
    // floating-point fallback of df.c for a negative used count
    let u = if used_neg { -(used as f64) } else { used as f64 };
    let t = u + avail as f64;
    if t == 0.0 {
        return "-".into();
    }
    let pct = (u * 100.0 / t).ceil();
    if pct >= 0.0 {
        format!("{pct:.0}%")
    } else {
        "-".into()
    }
}

/// Control characters shown as `?`, as df does when its output is not a terminal.
fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// gnulib `human_readable` with rounding up: `n` blocks of `from` bytes in blocks of `to`
/// bytes; with `autoscale`, in powers of 1024 with one decimal below 10 (`K`, `M`, `G`, …).
fn readable(n: u64, from: u64, to: u64, autoscale: bool) -> String {
    const LETTERS: &[u8] = b"KMGTPEZYRQ";
    let (bytes, to) = (u128::from(n) * u128::from(from), u128::from(to.max(1)));
    let mut amt = bytes / to;
    let r10 = (bytes % to) * 10;
    let mut tenths = r10 / to;
    let r2 = (r10 % to) * 2;
    // 0: exact; 1: below half a tenth; 2: exactly half; 3: above half
    let mut rounding: u128 = if r2 < to { u128::from(r2 > 0) } else { 2 + u128::from(to < r2) };
    let mut exponent = 0usize;
    let mut decimal = None;
    if autoscale && amt >= 1024 {
        while amt >= 1024 && exponent < LETTERS.len() {
            let r10 = (amt % 1024) * 10 + tenths;
            let r2 = (r10 % 1024) * 2 + (rounding >> 1);
            amt /= 1024;
            tenths = r10 / 1024;
            rounding = if r2 < 1024 { u128::from(r2 + rounding != 0) } else { 2 + u128::from(1024 < r2 + rounding) };
            exponent += 1;
        }
        if amt < 10 {
            if rounding > 0 {
                tenths += 1;
                rounding = 0;
                if tenths == 10 {
                    amt += 1;
                    tenths = 0;
                }
            }
            if amt < 10 {
                decimal = Some(tenths);
                tenths = 0;
                rounding = 0;
            }
        }
    }
    if tenths + rounding > 0 {
        amt += 1;
        if autoscale && amt == 1024 && exponent < LETTERS.len() {
            exponent += 1;
            decimal = Some(0);
            amt = 1;
        }
    }
    let mut s = amt.to_string();
    if let Some(d) = decimal {
        s.push_str(&format!(".{d}"));
    }
    if exponent > 0 {
        s.push(char::from(LETTERS[exponent - 1]));
    }
    s
}

/// The table with df's headers, column widths (at least 14, 5, 5, 5, 4, 0, or the widest
/// cell), left-aligned text and right-aligned numbers, the last column unpadded.
fn table(rows: &[[String; 6]], human: bool) -> String {
    let header: [&str; 6] = if human {
        ["Filesystem", "Size", "Used", "Avail", "Use%", "Mounted on"]
    } else {
        ["Filesystem", "1K-blocks", "Used", "Available", "Use%", "Mounted on"]
    };
    let mut widths = [14usize, 5, 5, 5, 4, 0];
    let all = std::iter::once(header.map(str::to_string)).chain(rows.iter().cloned()).collect::<Vec<_>>();
    for r in &all {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for r in &all {
        let mut line = String::new();
        for (i, (cell, w)) in r.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push(' ');
            }
            match i {
                0 => line.push_str(&format!("{cell:<w$}")),
                5 => line.push_str(cell),
                _ => line.push_str(&format!("{cell:>w$}")),
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_rounds_up_like_gnulib() {
        // 1K blocks
        assert_eq!(readable(14073, 1024, 1024, false), "14073");
        assert_eq!(readable(3, 4096, 1024, false), "12");
        assert_eq!(readable(3, 512, 1024, false), "2");
        assert_eq!(readable(0, 4096, 1024, false), "0");
        // -h
        assert_eq!(readable(14073, 1024, 1, true), "14M");
        assert_eq!(readable(14, 1024, 1, true), "14K");
        assert_eq!(readable(12913, 1024, 1, true), "13M");
        assert_eq!(readable(0, 1024, 1, true), "0");
        assert_eq!(readable(1, 512, 1, true), "512");
        assert_eq!(readable(1, 1024, 1, true), "1.0K");
        assert_eq!(readable(1025, 1, 1, true), "1.1K");
        assert_eq!(readable(10 * 1024 - 1, 1, 1, true), "10K");
        assert_eq!(readable(1024 * 1024 - 1, 1, 1, true), "1.0M");
        assert_eq!(readable(u64::MAX, 4096, 1, true), "64Z");
        assert_eq!(readable(u64::MAX, u64::MAX, 1024, false), (u128::from(u64::MAX) * u128::from(u64::MAX)).div_ceil(1024).to_string());
    }

    #[test]
    fn percent_rounds_up() {
        assert_eq!(percent(14, false, 12913), "1%");
        assert_eq!(percent(0, false, 100), "0%");
        assert_eq!(percent(50, false, 50), "50%");
        assert_eq!(percent(1, false, 2), "34%");
        assert_eq!(percent(0, false, 0), "-");
        assert_eq!(percent(5, true, 0), "100%");
        assert_eq!(percent(5, true, 10), "-");
        assert_eq!(percent(u64::MAX, false, u64::MAX), "50%");
    }

    #[test]
    fn names_and_layout() {
        assert_eq!(mapper_name("/dev/demo/root"), "/dev/mapper/demo-root");
        assert_eq!(mapper_name("/dev/my-vg/lv-1"), "/dev/mapper/my--vg-lv--1");
        let rows = [["/dev/sda1".to_string(), "14073".into(), "14".into(), "12913".into(), "1%".into(), "/sysroot/a\nb".into()]];
        let rows = [rows[0].clone().map(|c| printable(&c))];
        assert_eq!(
            table(&rows, false),
            "Filesystem     1K-blocks  Used Available Use% Mounted on\n\
             /dev/sda1          14073    14     12913   1% /sysroot/a?b\n"
        );
        assert_eq!(table(&[], true), "Filesystem      Size  Used Avail Use% Mounted on\n");
    }
}
