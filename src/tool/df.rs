//! Disk-space reports from `statvfs` figures: the table GNU coreutils `df` prints (vfish's
//! `df`, `df-h`) and the one virt-df prints (`vdf`), with their rounding rules.
//!
//! coreutils (`src/df.c`, gnulib `human.c`): numbers rounded up, `Use%` = used / (used +
//! available) rounded up, `-` when it cannot be computed. virt-df (guestfs-tools
//! `df/output.c`): 1K blocks truncated, `-h` sizes rounded to the nearest (ties to even),
//! `Use%` = 100 − 100 × bfree / blocks computed in single precision and rounded up (one
//! decimal in `--csv`), a row per filesystem labelled `NAME:DEVICE`.

use crate::fs::StatVfs;
use crate::guest::{Guest, Result};

/// How gnulib's `human_readable` rounds an inexact amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    /// Up (`human_ceiling`, what `df` uses).
    Ceiling,
    /// To the nearest, ties to even (`human_round_to_nearest`, what virt-df uses).
    Nearest,
}

/// gnulib `human_readable`: `n` blocks of `from` bytes in blocks of `to` bytes, rounded as
/// `rounding` says; with `autoscale`, in powers of 1024 with one decimal below 10 (`K`, `M`,
/// `G`, …).
pub fn readable(n: u64, from: u64, to: u64, autoscale: bool, rounding_style: Rounding) -> String {
    const LETTERS: &[u8] = b"KMGTPEZYRQ";
    let nearest = rounding_style == Rounding::Nearest;
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
            let up = if nearest { 2 < rounding + (tenths & 1) } else { rounding > 0 };
            if up {
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
    let up = if nearest { 5 < tenths + u128::from(0 < rounding + (amt & 1)) } else { tenths + rounding > 0 };
    if up {
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

/// coreutils' Use%: used / (used + available), rounded up; `-` when the total is 0.
pub fn percent(used: u64, used_neg: bool, avail: u64) -> String {
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
pub fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// `/dev/VG/LV` → `/dev/mapper/VG-LV` (a `-` inside either name doubled), the name the
/// kernel's `mount` records for a device-mapper device.
pub fn mapper_name(lv: &str) -> String {
    let rest = lv.strip_prefix("/dev/").unwrap_or(lv);
    let (vg, name) = rest.split_once('/').unwrap_or(("", rest));
    format!("/dev/mapper/{}-{}", vg.replace('-', "--"), name.replace('-', "--"))
}

/// One coreutils `df` row: source, size, used, available, use%, mountpoint. `None` for a
/// filesystem of 0 blocks, which df leaves out.
pub fn coreutils_row(source: &str, target: &str, v: &StatVfs, human: bool) -> Option<[String; 6]> {
    if v.blocks == 0 {
        return None;
    }
    let unit = if v.frsize != 0 { v.frsize } else { v.bsize };
    let (to, autoscale) = if human { (1, true) } else { (1024, false) };
    let size = |n: u64| readable(n, unit, to, autoscale, Rounding::Ceiling);
    let (used, used_neg) = if v.blocks >= v.bfree { (v.blocks - v.bfree, false) } else { (v.bfree - v.blocks, true) };
    let used_cell = if used_neg { format!("-{}", size(used)) } else { size(used) };
    Some([printable(source), size(v.blocks), used_cell, size(v.bavail), percent(used, used_neg, v.bavail), printable(target)])
}

/// The coreutils `df` table with its headers, column widths (at least 14, 5, 5, 5, 4, 0, or
/// the widest cell), left-aligned text and right-aligned numbers, the last column unpadded.
pub fn coreutils_table(rows: &[[String; 6]], human: bool) -> String {
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

/// What virt-df shows: sizes in 1K blocks (the default), human-readable sizes (`-h`) or
/// inode counts (`-i`); as a text table or CSV (`--csv`, which excludes `-h`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VirtDfStyle {
    /// `-h`: sizes in powers of 1024.
    pub human: bool,
    /// `-i`: inodes instead of blocks.
    pub inodes: bool,
    /// `--csv`: comma-separated values with a VirtualMachine column.
    pub csv: bool,
}

/// virt-df's header line.
pub fn virt_df_title(style: VirtDfStyle) -> String {
    let cols: [&str; 6] = match (style.inodes, style.human) {
        (true, _) => ["VirtualMachine", "Filesystem", "Inodes", "IUsed", "IFree", "IUse%"],
        (false, false) => ["VirtualMachine", "Filesystem", "1K-blocks", "Used", "Available", "Use%"],
        (false, true) => ["VirtualMachine", "Filesystem", "Size", "Used", "Available", "Use%"],
    };
    if style.csv {
        let fields: Vec<String> = cols.iter().map(|c| csv_field(c)).collect();
        format!("{}\n", fields.join(","))
    } else {
        format!("{:<36}{:>10} {:>10} {:>10} {:>5}\n", cols[1], cols[2], cols[3], cols[4], cols[5])
    }
}

/// One virt-df line for filesystem `device` of guest `name`.
pub fn virt_df_line(name: &str, device: &str, v: &StatVfs, style: VirtDfStyle) -> String {
    // libguestfs scales by bsize (not frsize) and subtracts in signed 64-bit arithmetic
    let signed = |n: u64| i128::from(n);
    let scale = |n: i128| -> i128 {
        let bsize = i128::from(v.bsize.max(1));
        if bsize >= 1024 {
            n * (bsize / 1024)
        } else {
            n / (1024 / bsize)
        }
    };
    let (cols, percent): ([String; 3], f32) = if style.inodes {
        let pct = if v.files != 0 { (100.0 - 100.0 * v.ffree as f64 / v.files as f64) as f32 } else { 0.0 };
        ([v.files.to_string(), (signed(v.files) - signed(v.ffree)).to_string(), v.ffree.to_string()], pct)
    } else {
        let pct = if v.blocks != 0 { (100.0 - 100.0 * v.bfree as f64 / v.blocks as f64) as f32 } else { 0.0 };
        let cols = if style.human {
            let h = |n: u64| readable(n, v.bsize, 1, true, Rounding::Nearest);
            [h(v.blocks), h(v.blocks.wrapping_sub(v.bfree)), h(v.bavail)]
        } else {
            [scale(signed(v.blocks)).to_string(), scale(signed(v.blocks) - signed(v.bfree)).to_string(), scale(signed(v.bavail)).to_string()]
        };
        (cols, pct)
    };
    if style.csv {
        let pct = format!("{:.1}", f64::from(percent));
        let fields = [csv_field(name), csv_field(device), csv_field(&cols[0]), csv_field(&cols[1]), csv_field(&cols[2]), csv_field(&pct)];
        format!("{}\n", fields.join(","))
    } else {
        let label = format!("{name}:{device}");
        let pad = if label.len() <= 36 { " ".repeat(36 - label.len()) } else { format!("\n{}", " ".repeat(36)) };
        let pct = format!("{:>3.0}%", f64::from(percent).ceil());
        format!("{label}{pad}{:>10} {:>10} {:>10} {:>5}\n", cols[0], cols[1], cols[2], pct)
    }
}

/// A CSV field, quoted (with `"` doubled) when it holds a space, `"`, newline or comma.
fn csv_field(s: &str) -> String {
    if s.contains([' ', '"', '\n', ',']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The name virt-df gives a guest added with `-a`: the first image's file name, with a `+`
/// for each further image.
pub fn virt_df_name(images: &[std::path::PathBuf]) -> String {
    let Some(first) = images.first() else { return String::new() };
    let s = first.to_string_lossy();
    let base = s.rsplit('/').next().unwrap_or(&s);
    format!("{base}{}", "+".repeat(images.len() - 1))
}

/// virt-df's walk over a launched guest: every filesystem `list_filesystems` names, except
/// swap and unknown ones, mounted read-only on `/` in turn and its `statvfs` taken; one that
/// cannot be mounted is left out, as virt-df leaves it out. Ends with nothing mounted.
pub fn virt_df_stats(g: &mut Guest) -> Result<Vec<(String, StatVfs)>> {
    let mut out = Vec::new();
    for (device, vfs_type) in g.list_filesystems()? {
        if vfs_type.is_empty() || vfs_type == "swap" || vfs_type == "unknown" {
            continue;
        }
        g.umount_all()?;
        match g.mount_ro(&device, "/") {
            Ok(()) => {
                let stat = g.statvfs("/");
                g.umount_all()?;
                if let Ok(stat) = stat {
                    out.push((device, stat));
                }
            }
            Err(e) => log::debug!("{device}: not mounted: {e}"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_rounds_up_like_gnulib() {
        let r = |n, from, to, auto| readable(n, from, to, auto, Rounding::Ceiling);
        // 1K blocks
        assert_eq!(r(14073, 1024, 1024, false), "14073");
        assert_eq!(r(3, 4096, 1024, false), "12");
        assert_eq!(r(3, 512, 1024, false), "2");
        assert_eq!(r(0, 4096, 1024, false), "0");
        // -h
        assert_eq!(r(14073, 1024, 1, true), "14M");
        assert_eq!(r(14, 1024, 1, true), "14K");
        assert_eq!(r(12913, 1024, 1, true), "13M");
        assert_eq!(r(0, 1024, 1, true), "0");
        assert_eq!(r(1, 512, 1, true), "512");
        assert_eq!(r(1, 1024, 1, true), "1.0K");
        assert_eq!(r(1025, 1, 1, true), "1.1K");
        assert_eq!(r(10 * 1024 - 1, 1, 1, true), "10K");
        assert_eq!(r(1024 * 1024 - 1, 1, 1, true), "1.0M");
        assert_eq!(r(u64::MAX, 4096, 1, true), "64Z");
        assert_eq!(r(u64::MAX, u64::MAX, 1024, false), (u128::from(u64::MAX) * u128::from(u64::MAX)).div_ceil(1024).to_string());
    }

    #[test]
    fn readable_rounds_to_nearest_like_gnulib() {
        let r = |n, from| readable(n, from, 1, true, Rounding::Nearest);
        assert_eq!(r(1025, 1), "1.0K"); // 1.0009…
        assert_eq!(r(1075, 1), "1.0K"); // 1.0498…
        assert_eq!(r(1076, 1), "1.1K"); // 1.0507…
        assert_eq!(r(14073, 1024), "14M"); // 13.74…
        assert_eq!(r(12913, 1024), "13M"); // 12.61…
        assert_eq!(r(12800, 1024), "12M"); // 12.5: ties to even
        assert_eq!(r(13824, 1024), "14M"); // 13.5: ties to even
        assert_eq!(r(1023, 1), "1023");
        assert_eq!(r(1024 * 1024 - 1, 1), "1.0M");
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
            coreutils_table(&rows, false),
            "Filesystem     1K-blocks  Used Available Use% Mounted on\n\
             /dev/sda1          14073    14     12913   1% /sysroot/a?b\n"
        );
        assert_eq!(coreutils_table(&[], true), "Filesystem      Size  Used Avail Use% Mounted on\n");
    }

    #[test]
    fn virt_df_layout() {
        let v = StatVfs { bsize: 4096, frsize: 4096, blocks: 1000, bfree: 250, bavail: 200, files: 64, ffree: 60, favail: 60, fsid: 0, flag: 1, namemax: 255 };
        let plain = VirtDfStyle::default();
        assert_eq!(virt_df_title(plain), format!("{:<36}{:>10} {:>10} {:>10} {:>5}\n", "Filesystem", "1K-blocks", "Used", "Available", "Use%"));
        assert_eq!(virt_df_line("a.img", "/dev/sda1", &v, plain), format!("a.img:/dev/sda1{}{:>10} {:>10} {:>10} {:>5}\n", " ".repeat(21), 4000, 3000, 800, " 75%"));
        let long = "a-very-long-image-name-for-a-guest.qcow2";
        assert!(virt_df_line(long, "/dev/sda1", &v, plain).starts_with(&format!("{long}:/dev/sda1\n{}", " ".repeat(36))));
        let csv = VirtDfStyle { csv: true, inodes: true, ..Default::default() };
        assert_eq!(virt_df_title(csv), "VirtualMachine,Filesystem,Inodes,IUsed,IFree,IUse%\n");
        assert_eq!(virt_df_line("a b", "/dev/sda1", &v, csv), "\"a b\",/dev/sda1,64,4,60,6.2\n");
        assert_eq!(virt_df_name(&["/x/a.img".into(), "b.img".into(), "c".into()]), "a.img++");
    }
}
