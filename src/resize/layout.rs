//! virt-resize's plan for its copy mode: what happens to each partition of the source
//! (`--delete`, `--ignore`, `--resize`, `--resize-force`, `--expand`, `--shrink`), the surplus
//! or deficit on the target disk, and where every partition lands on the target (laid out in
//! disk order from the first partition's start — or `--alignment` with `--align-first` — each
//! next one rounded up to the alignment, renumbered from 1; an extra partition for a surplus of
//! 10 MiB or more). The numbers and messages follow guestfs-tools' `resize.ml`.

use super::{Error, Result};
use crate::part::{PartKind, TableKind};
use crate::units::SECTOR_SIZE;
use std::fmt;

/// The smallest surplus given an extra partition.
pub const MIN_EXTRA_PARTITION: u64 = 10 << 20;
/// Bytes that may hold a boot loader before the first partition (virt-resize copies them).
pub const MAX_BOOTLOADER: u64 = 4096 * 512;

/// What a partition (or LV) holds, as virt-resize classifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Nothing recognised.
    Unknown,
    /// An LVM physical volume of this many bytes (its recorded device size).
    Pv(u64),
    /// A filesystem: its type and the bytes it spans (when known).
    Fs(String, Option<u64>),
    /// An MBR extended partition (its logical partitions are copied inside it).
    Extended,
    /// A swap area.
    Swap,
}

impl Content {
    /// How the content is grown to fill a larger partition, in virt-resize's words; `None`
    /// when it cannot be.
    pub fn method(&self) -> Option<&'static str> {
        match self {
            Content::Pv(_) => Some("pvresize"),
            Content::Fs(t, _) if matches!(t.as_str(), "ext2" | "ext3" | "ext4") => Some("resize2fs"),
            Content::Fs(t, _) if t == "xfs" => Some("xfs_growfs"),
            Content::Swap => Some("mkswap"),
            _ => None,
        }
    }
}

impl fmt::Display for Content {
    /// virt-resize's name of the content (`filesystem ext4`, `LVM PV`, …).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::Unknown => f.write_str("unknown data"),
            Content::Pv(_) => f.write_str("LVM PV"),
            Content::Fs(t, _) => write!(f, "filesystem {t}"),
            Content::Extended => f.write_str("extended partition"),
            Content::Swap => f.write_str("swap"),
        }
    }
}

/// A partition of the source disk (MBR primaries and extended partitions, or GPT entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePart {
    /// `/dev/sdaN`.
    pub name: String,
    /// First byte.
    pub start: u64,
    /// Bytes.
    pub size: u64,
    /// Type, flags, GUIDs, name.
    pub kind: PartKind,
    /// What it holds.
    pub content: Content,
}

/// What happens to a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Copied as it is.
    Copy,
    /// Created on the target, its content not copied.
    Ignore,
    /// Left out of the target.
    Delete,
    /// Copied into a partition of this many bytes.
    Resize(u64),
}

/// A partition's place on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Its number on the target (1, 2, …: in disk order).
    pub number: u32,
    /// First sector.
    pub start: u64,
    /// Last sector (inclusive).
    pub end: u64,
}

/// `--align-first`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlignFirst {
    /// Move the first partition only when virt-resize can fix the boot loader (a lone, bootable
    /// NTFS partition that is not 4 KiB-aligned).
    #[default]
    Auto,
    /// Keep the first partition where it is.
    Never,
    /// Start the first partition at `--alignment`.
    Always,
}

impl std::str::FromStr for AlignFirst {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(AlignFirst::Auto),
            "never" => Ok(AlignFirst::Never),
            "always" => Ok(AlignFirst::Always),
            _ => Err(Error::Layout("unknown --align-first option: use never|always|auto".into())),
        }
    }
}

/// The layout options of the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--expand PART`.
    pub expand: Option<String>,
    /// `--shrink PART`.
    pub shrink: Option<String>,
    /// `--resize PART=SIZE`, in order.
    pub resizes: Vec<String>,
    /// `--resize-force PART=SIZE`, in order.
    pub resizes_force: Vec<String>,
    /// `--delete PART`.
    pub deletes: Vec<String>,
    /// `--ignore PART`.
    pub ignores: Vec<String>,
    /// `--alignment` in sectors (virt-resize's default 128).
    pub alignment: u64,
    /// `--align-first`.
    pub align_first: AlignFirst,
    /// Create an extra partition for a large surplus (off with `--no-extra-partition`).
    pub extra_partition: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { expand: None, shrink: None, resizes: Vec::new(), resizes_force: Vec::new(), deletes: Vec::new(), ignores: Vec::new(), alignment: 128, align_first: AlignFirst::Auto, extra_partition: true }
    }
}

/// One source partition and its fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The partition on the source.
    pub source: SourcePart,
    /// What happens to it.
    pub op: Op,
    /// Where it lands (`None` when deleted).
    pub target: Option<Target>,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The table type (kept from the source).
    pub kind: TableKind,
    /// The source partitions in disk order.
    pub parts: Vec<Planned>,
    /// Bytes left over after the layout (never negative: a deficit is an error).
    pub surplus: u64,
    /// The extra partition made for the surplus.
    pub extra: Option<Target>,
    /// Whether the first partition moves to `--alignment` (the NTFS boot record is then fixed).
    pub align_first: bool,
    /// Whether an extra partition was asked for (for the summary's wording).
    pub extra_wanted: bool,
}

/// virt-resize's human sizes: bytes below 1 KiB, else one decimal of K, M or G.
pub fn human(bytes: i128) -> String {
    let (sign, b) = if bytes < 0 { ("-", -bytes) } else { ("", bytes) };
    if b < 1024 {
        return format!("{sign}{b}");
    }
    let (mut f, mut i) = (b as f64 / 1024.0, b / 1024);
    for unit in ["K", "M"] {
        if i < 1024 {
            return format!("{sign}{f:.1}{unit}");
        }
        f = i as f64 / 1024.0;
        i /= 1024;
    }
    format!("{sign}{f:.1}G")
}

/// A `--resize` size field against the old size: `10G`, `+200M`, `-1.5G`, `50%`, `+10%`
/// (suffixes b, K, M, G; fractions rounded down, percentages to a tenth).
pub fn parse_resize(old: u64, field: &str) -> Result<i128> {
    let bad = || Error::Layout(format!("{field}: cannot parse resize field"));
    let (sign, rest) = match field.as_bytes().first() {
        Some(b'+') => (1i128, &field[1..]),
        Some(b'-') => (-1, &field[1..]),
        _ => (0, field),
    };
    let number = |s: &str| -> Result<f64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
            return Err(bad());
        }
        s.parse::<f64>().map_err(|_| bad())
    };
    let old = i128::from(old);
    if let Some(p) = rest.strip_suffix('%') {
        let tenths = (10.0 * number(p)?) as i128;
        let delta = old * tenths / 1000;
        return Ok(match sign {
            0 => delta,
            s => old + s * delta,
        });
    }
    let (num, scale) = match rest.char_indices().last().ok_or_else(bad)? {
        (i, 'b') => (&rest[..i], 1.0),
        (i, 'K') => (&rest[..i], 1024.0),
        (i, 'M') => (&rest[..i], 1024.0 * 1024.0),
        (i, 'G') => (&rest[..i], 1024.0 * 1024.0 * 1024.0),
        _ => return Err(bad()),
    };
    let bytes = (number(num)? * scale) as i128;
    Ok(match sign {
        0 => bytes,
        s => old + s * bytes,
    })
}

/// The partition named `name` (`/dev/sda2` or `sda2`) given with `option`.
fn find(parts: &[Planned], name: &str, option: &str) -> Result<usize> {
    let name = if name.starts_with("/dev/") { name.to_string() } else { format!("/dev/{name}") };
    let i = parts.iter().position(|p| p.source.name == name).ok_or_else(|| {
        Error::Layout(format!("{name}: partition not found in the source disk image (this error came from ‘{option}’ option on the command line)"))
    })?;
    match parts[i].op {
        Op::Ignore => Err(Error::Layout(format!("{name}: partition already ignored, you cannot use it in ‘{option}’ option"))),
        Op::Delete => Err(Error::Layout(format!("{name}: partition already deleted, you cannot use it in ‘{option}’ option"))),
        _ => Ok(i),
    }
}

/// Marks `p` to become `new` bytes, refusing to shrink it below its content unless `force`.
fn mark_resize(p: &mut Planned, new: i128, option: &str, force: bool) -> Result<()> {
    let name = &p.source.name;
    if matches!(p.op, Op::Resize(_)) {
        return Err(Error::Layout(format!("{name}: this partition has already been marked for resizing")));
    }
    let old = i128::from(p.source.size);
    if new <= 0 {
        return Err(Error::Layout(format!("{name}: new partition size is zero or negative")));
    }
    let Ok(new_bytes) = u64::try_from(new) else {
        return Err(Error::Layout(format!("{name}: new partition size {new} bytes is too large")));
    };
    if new == old {
        return Ok(());
    }
    let force_hint = format!("If you want to shrink this partition, you need to use the ‘--resize-force’ option, but that could destroy any data on this partition.  (This error came from ‘{option}’ option on the command line.)");
    if new < old && !force {
        match &p.source.content {
            Content::Unknown => return Err(Error::Layout(format!("{name}: This partition has unknown content which might be damaged by shrinking it.  {force_hint}"))),
            Content::Pv(size) if i128::from(*size) > new => {
                return Err(Error::Layout(format!("{name}: This partition contains an LVM physical volume which will be damaged by shrinking it below {size} bytes (user asked to shrink it to {new} bytes).  {force_hint}")))
            }
            Content::Fs(t, None) => return Err(Error::Layout(format!("{name}: the size of its {t} filesystem is not known, so shrinking it might damage it.  {force_hint}"))),
            Content::Fs(t, Some(size)) if i128::from(*size) > new => {
                return Err(Error::Layout(format!("{name}: This partition contains a {t} filesystem which will be damaged by shrinking it below {size} bytes (user asked to shrink it to {new} bytes).  {}  {force_hint}", shrink_hint(t))))
            }
            Content::Extended => return Err(Error::Layout(format!("{name}: This extended partition contains logical partitions which might be damaged by shrinking it.  {force_hint}"))),
            _ => {}
        }
    }
    p.op = Op::Resize(new_bytes);
    Ok(())
}

/// What to do about a filesystem in the way of a shrink.
fn shrink_hint(fs_type: &str) -> &'static str {
    match fs_type {
        "xfs" => "XFS filesystems cannot be shrunk.",
        _ => "vresize does not shrink filesystems: shrink it first (resize2fs for ext2/3/4).",
    }
}

/// Bytes over (positive) or under (negative) after laying out `parts` on `out_size` bytes.
fn surplus(parts: &[Planned], out_size: u64, alignment: u64) -> i128 {
    let first_start = parts.first().map_or(0, |p| p.source.start / SECTOR_SIZE);
    let start_overhead = 64u64.max(MAX_BOOTLOADER / SECTOR_SIZE).max(first_start);
    let overhead = i128::from(start_overhead + alignment * (parts.len() as u64 + 1) + 64) * i128::from(SECTOR_SIZE);
    let required: i128 = parts
        .iter()
        .map(|p| match p.op {
            Op::Copy | Op::Ignore => i128::from(p.source.size),
            Op::Delete => 0,
            Op::Resize(n) => i128::from(n),
        })
        .sum();
    i128::from(out_size) - required - overhead
}

/// Whether virt-resize moves the first partition under `--align-first auto`: one bootable NTFS
/// partition whose start sector has fewer than 12 low zero bits (its boot record's hidden
/// sectors are then fixed).
fn can_fix_boot_loader(parts: &[Planned]) -> bool {
    match parts {
        [p] => {
            let bootable = match p.source.kind {
                PartKind::Mbr { bootable, .. } => bootable,
                PartKind::Gpt { attributes, .. } => attributes & 4 != 0,
            };
            let start = p.source.start / SECTOR_SIZE;
            bootable && p.op != Op::Delete && matches!(&p.source.content, Content::Fs(t, _) if t == "ntfs") && start != 0 && start.trailing_zeros() < 12
        }
        _ => false,
    }
}

/// Plans copying `parts` (in disk order) of a `kind` table onto a disk of `out_size` bytes.
pub fn plan(kind: TableKind, parts: Vec<SourcePart>, out_size: u64, opts: &Options) -> Result<Layout> {
    if parts.is_empty() {
        return Err(Error::Layout("the source disk has no partitions".into()));
    }
    if opts.alignment < 1 {
        return Err(Error::Layout("alignment cannot be < 1".into()));
    }
    let mut end_of_prev = 0;
    for p in &parts {
        if p.start < end_of_prev {
            return Err(Error::Layout(format!("{}: this partition overlaps the previous one", p.name)));
        }
        end_of_prev = p.start + p.size;
        match p.content {
            Content::Pv(size) if size > p.size => return Err(Error::Layout(format!("{}: partition size {} < physical volume size {size}", p.name, p.size))),
            Content::Fs(_, Some(size)) if size > p.size => return Err(Error::Layout(format!("{}: partition size {} < filesystem size {size}", p.name, p.size))),
            _ => {}
        }
    }
    let mut parts: Vec<Planned> = parts.into_iter().map(|source| Planned { source, op: Op::Copy, target: None }).collect();
    for name in &opts.ignores {
        let i = find(&parts, name, "--ignore")?;
        parts[i].op = Op::Ignore;
    }
    for name in &opts.deletes {
        let i = find(&parts, name, "--delete")?;
        parts[i].op = Op::Delete;
    }
    for (list, option, force) in [(&opts.resizes, "--resize", false), (&opts.resizes_force, "--resize-force", true)] {
        for arg in list {
            let (name, field) = arg.split_once('=').filter(|(_, f)| !f.is_empty()).ok_or_else(|| Error::Layout(format!("{arg}: missing size field in ‘{option}’ option")))?;
            let i = find(&parts, name, option)?;
            let new = parse_resize(parts[i].source.size, field)?;
            mark_resize(&mut parts[i], new, option, force)?;
        }
    }
    if opts.expand.is_some() && opts.shrink.is_some() {
        return Err(Error::Layout("you cannot use options --expand and --shrink together".into()));
    }
    if let Some(name) = &opts.expand {
        let s = surplus(&parts, out_size, opts.alignment);
        if s < 0 {
            return Err(Error::Layout(format!(
                "You cannot use --expand when there is no surplus space to expand into.  You need to make the target disk larger by at least {}.",
                human(-s)
            )));
        }
        let i = find(&parts, name, "--expand")?;
        let new = i128::from(parts[i].source.size) + s;
        mark_resize(&mut parts[i], new, "--expand", false)?;
    }
    if let Some(name) = &opts.shrink {
        let s = surplus(&parts, out_size, opts.alignment);
        if s > 0 {
            return Err(Error::Layout("You cannot use --shrink when there is no deficit (see ‘deficit’ in the virt-resize(1) man page).".into()));
        }
        let i = find(&parts, name, "--shrink")?;
        let new = i128::from(parts[i].source.size) + s;
        mark_resize(&mut parts[i], new, "--shrink", false)?;
    }
    let s = surplus(&parts, out_size, opts.alignment);
    if s < 0 {
        return Err(Error::Layout(format!(
            "There is a deficit of {} bytes ({}).  You need to make the target disk larger by at least this amount or adjust your resizing requests.",
            -s,
            human(-s)
        )));
    }
    let surplus = s as u64;
    let align_first = match opts.align_first {
        AlignFirst::Never => false,
        AlignFirst::Always => true,
        AlignFirst::Auto => can_fix_boot_loader(&parts),
    };
    let a = opts.alignment;
    let mut start = if align_first { a } else { parts[0].source.start / SECTOR_SIZE };
    let mut number = 1u32;
    for p in &mut parts {
        let size = match p.op {
            Op::Delete => continue,
            Op::Copy | Op::Ignore => p.source.size,
            Op::Resize(n) => n,
        };
        let sectors = size.div_ceil(SECTOR_SIZE);
        let next = (start + sectors).div_ceil(a) * a;
        // a resized partition reaches up to the next aligned start; a copy keeps its size
        let end = if matches!(p.op, Op::Resize(_)) { next - 1 } else { start + sectors - 1 };
        p.target = Some(Target { number, start, end });
        number += 1;
        start = next;
    }
    let out_sectors = out_size / SECTOR_SIZE;
    let room = match kind {
        TableKind::Mbr => number <= 4,
        TableKind::Gpt => number <= 128,
    };
    let extra = (opts.extra_partition && surplus >= MIN_EXTRA_PARTITION && room && out_sectors > start + 64).then(|| Target { number, start, end: out_sectors - 64 });
    Ok(Layout { kind, parts, surplus, extra, align_first, extra_wanted: opts.extra_partition })
}

impl Layout {
    /// virt-resize's "Summary of changes" lines for the partitions and the surplus (the
    /// LV lines are the caller's: they need the LVs' content).
    pub fn summary(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for p in &self.parts {
            let name = &p.source.name;
            lines.push(match p.op {
                Op::Copy => format!("{name}: This partition will be left alone."),
                Op::Ignore => format!("{name}: This partition will be created, but the contents will be ignored (ie. not copied to the target)."),
                Op::Delete => format!("{name}: This partition will be deleted."),
                Op::Resize(new) => {
                    let mut l = format!("{name}: This partition will be resized from {} to {}.", human(p.source.size.into()), human(new.into()));
                    if let Some(m) = p.source.content.method() {
                        l.push_str(&format!("  The {} on {name} will be expanded using the ‘{m}’ method.", p.source.content));
                    }
                    l
                }
            });
        }
        if self.surplus > 0 {
            let mut l = format!("There is a surplus of {}.", human(self.surplus.into()));
            l.push_str(match (self.extra_wanted, self.extra.is_some()) {
                (true, true) => "  An extra partition will be created for the surplus.",
                (true, false) => "  The surplus space is not large enough for an extra partition to be created and so it will just be ignored.",
                (false, _) => "  The surplus space will be ignored.  Run a partitioning program in the guest to partition this extra space if you want.",
            });
            lines.push(l);
        }
        lines
    }

    /// Warnings for partitions to be resized whose filesystem cannot be grown here.
    pub fn unknown_filesystems(&self) -> Vec<String> {
        self.parts
            .iter()
            .filter(|p| matches!(p.op, Op::Resize(_)) && p.source.content.method().is_none())
            .filter_map(|p| match &p.source.content {
                Content::Fs(t, _) => Some(format!("unknown/unavailable method for expanding the {t} filesystem on {}", p.source.name)),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = 1 << 20;

    fn part(n: u32, start_sector: u64, size: u64, content: Content) -> SourcePart {
        SourcePart { name: format!("/dev/sda{n}"), start: start_sector * 512, size, kind: PartKind::Mbr { id: 0x83, bootable: n == 1, logical: false, extended: false }, content }
    }

    fn ext4(size: u64) -> Content {
        Content::Fs("ext4".into(), Some(size))
    }

    #[test]
    fn human_sizes_as_virt_resize() {
        for (n, s) in [(100, "100"), (-100, "-100"), (1024, "1.0K"), (1126, "1.1K"), (1363149, "1.3M"), (-1363149, "-1.3M"), (3650722201, "3.4G")] {
            assert_eq!(human(n), s);
        }
    }

    #[test]
    fn resize_fields_as_virt_resize() {
        for (old, f, want) in [
            (100, "100b", 100),
            (100, "100K", 102400),
            (100, "1.1K", 1126),
            (100, "100.1M", 104962457),
            (100, "123.4G", 132499741081),
            (100, "+1b", 101),
            (100, "-2b", 98),
            (1024, "-1K", 0),
            (1024, "+1.1M", 1154457),
            (100, "+1%", 101),
            (100000, "-50%", 50000),
            (100000, "+300%", 400000),
            (100000, "+1.12%", 101100),
            (100000, "50%", 50000),
        ] {
            assert_eq!(parse_resize(old, f).unwrap(), want, "{f}");
        }
        for f in ["", "10", "10X", "+", "1.2.3M", "abcG", "--1M"] {
            assert!(parse_resize(100, f).is_err(), "{f}");
        }
    }

    #[test]
    fn expand_takes_the_surplus_and_later_partitions_move() {
        // sda1 64 MiB at 2048, sda2 64 MiB at 133120; 1 GiB target, expand sda1
        let parts = vec![part(1, 2048, 64 * M, ext4(64 * M)), part(2, 133120, 64 * M, Content::Swap)];
        let opts = Options { expand: Some("/dev/sda1".into()), ..Options::default() };
        let l = plan(TableKind::Mbr, parts, 1024 * M, &opts).unwrap();
        // overhead: max(64, 4096, 2048) + 128 * 3 + 64 sectors
        let overhead = (4096 + 384 + 64) * 512;
        let new = 1024 * M - 128 * M - overhead + 64 * M;
        assert_eq!(l.parts[0].op, Op::Resize(new));
        let t1 = l.parts[0].target.unwrap();
        assert_eq!((t1.number, t1.start), (1, 2048));
        let next = (2048 + new / 512).div_ceil(128) * 128;
        assert_eq!(t1.end, next - 1);
        let t2 = l.parts[1].target.unwrap();
        assert_eq!((t2.number, t2.start, t2.end), (2, next, next + 131072 - 1));
        assert!(l.surplus < MIN_EXTRA_PARTITION && l.extra.is_none());
        assert!(l.summary()[0].contains("will be resized from 64.0M to"), "{:?}", l.summary());
        assert!(l.summary()[0].contains("The filesystem ext4 on /dev/sda1 will be expanded using the ‘resize2fs’ method."));
    }

    #[test]
    fn delete_renumbers_and_a_surplus_gets_an_extra_partition() {
        let parts = vec![part(1, 2048, 64 * M, ext4(64 * M)), part(2, 133120, 64 * M, Content::Swap), part(3, 264192, 64 * M, Content::Pv(64 * M))];
        let opts = Options { deletes: vec!["sda2".into()], ..Options::default() };
        let l = plan(TableKind::Mbr, parts, 1024 * M, &opts).unwrap();
        assert_eq!(l.parts[1].target, None);
        let t3 = l.parts[2].target.unwrap();
        assert_eq!((t3.number, t3.start), (2, 133120));
        let extra = l.extra.unwrap();
        assert_eq!((extra.number, extra.start, extra.end), (3, 264192, 1024 * M / 512 - 64));
        assert!(l.summary().iter().any(|s| s == "/dev/sda2: This partition will be deleted."));
        assert!(l.summary().last().unwrap().contains("An extra partition will be created"));
        let none = Options { deletes: vec!["sda2".into()], extra_partition: false, ..Options::default() };
        let parts = vec![part(1, 2048, 64 * M, ext4(64 * M)), part(2, 133120, 64 * M, Content::Swap)];
        assert_eq!(plan(TableKind::Mbr, parts, 1024 * M, &none).unwrap().extra, None);
    }

    #[test]
    fn shrinking_is_checked_against_the_content() {
        let parts = || vec![part(1, 2048, 64 * M, ext4(32 * M)), part(2, 133120, 64 * M, Content::Unknown), part(3, 264192, 64 * M, Content::Pv(48 * M))];
        let try_ = |o: Options| plan(TableKind::Mbr, parts(), 1024 * M, &o).map_err(|e| e.to_string());
        assert!(try_(Options { resizes: vec!["/dev/sda1=32M".into()], ..Options::default() }).is_ok());
        let e = try_(Options { resizes: vec!["/dev/sda1=-40M".into()], ..Options::default() }).unwrap_err();
        assert!(e.contains("ext4 filesystem which will be damaged by shrinking it below 33554432 bytes"), "{e}");
        assert!(try_(Options { resizes: vec!["/dev/sda2=-1M".into()], ..Options::default() }).unwrap_err().contains("unknown content"));
        assert!(try_(Options { resizes_force: vec!["/dev/sda2=-1M".into()], ..Options::default() }).is_ok());
        assert!(try_(Options { resizes: vec!["/dev/sda3=40M".into()], ..Options::default() }).unwrap_err().contains("LVM physical volume"));
        assert!(try_(Options { resizes: vec!["/dev/sda1=+1M".into(), "/dev/sda1=+2M".into()], ..Options::default() }).unwrap_err().contains("already been marked"));
        assert!(try_(Options { resizes: vec!["/dev/sda9=+1M".into()], ..Options::default() }).unwrap_err().contains("partition not found"));
        // regression: a size past 2^64 was truncated (to a shrink that skipped the content check)
        let e = try_(Options { resizes: vec!["/dev/sda1=99999999999999G".into()], ..Options::default() }).unwrap_err();
        assert!(e.contains("too large"), "{e}");
        assert!(try_(Options { resizes: vec!["/dev/sda1".into()], ..Options::default() }).unwrap_err().contains("missing size field"));
        assert!(try_(Options { deletes: vec!["sda1".into()], resizes: vec!["sda1=+1M".into()], ..Options::default() }).unwrap_err().contains("already deleted"));
        assert!(try_(Options { shrink: Some("sda1".into()), ..Options::default() }).unwrap_err().contains("no deficit"));
        assert!(try_(Options { expand: Some("sda1".into()), shrink: Some("sda2".into()), ..Options::default() }).unwrap_err().contains("together"));
    }

    #[test]
    fn deficit_and_shrink() {
        let parts = || vec![part(1, 2048, 64 * M, ext4(32 * M)), part(2, 133120, 64 * M, Content::Swap)];
        let e = plan(TableKind::Mbr, parts(), 100 * M, &Options::default()).unwrap_err().to_string();
        assert!(e.contains("There is a deficit of"), "{e}");
        let l = plan(TableKind::Mbr, parts(), 100 * M, &Options { shrink: Some("/dev/sda1".into()), ..Options::default() }).unwrap();
        let Op::Resize(n) = l.parts[0].op else { panic!("{:?}", l.parts[0].op) };
        assert!((32 * M..64 * M).contains(&n));
        assert_eq!(l.surplus, 0);
        let e = plan(TableKind::Mbr, parts(), 100 * M, &Options { expand: Some("/dev/sda1".into()), ..Options::default() }).unwrap_err().to_string();
        assert!(e.contains("no surplus space to expand into"), "{e}");
    }

    #[test]
    fn align_first() {
        let parts = || vec![part(1, 63, 64 * M, Content::Fs("ntfs".into(), Some(64 * M)))];
        assert!(plan(TableKind::Mbr, parts(), 1024 * M, &Options::default()).unwrap().align_first);
        let never = Options { align_first: AlignFirst::Never, ..Options::default() };
        let l = plan(TableKind::Mbr, parts(), 1024 * M, &never).unwrap();
        assert_eq!(l.parts[0].target.unwrap().start, 63);
        let ext = || vec![part(1, 63, 64 * M, ext4(64 * M))];
        assert!(!plan(TableKind::Mbr, ext(), 1024 * M, &Options::default()).unwrap().align_first);
        let always = Options { align_first: AlignFirst::Always, ..Options::default() };
        assert_eq!(plan(TableKind::Mbr, ext(), 1024 * M, &always).unwrap().parts[0].target.unwrap().start, 128);
    }
}
