//! virt-resize's copy mode: the source disk is examined ([`examine`]: partitions in disk
//! order and what each holds), a [`Layout`] is planned, then [`run`] writes a new partition
//! table on the fresh output, copies the boot loader area and every kept partition to its new
//! place sparsely (holes of the input and all-zero chunks are skipped), fixes an NTFS boot
//! record when the first partition moved, and expands the content of every resized partition
//! (pvresize, resize2fs, mkswap) and the `--lv-expand` LVs and their filesystems.

use super::inplace::{extend_lv, grow_fs, Step};
use super::layout::{Content, Layout, Op, SourcePart, MAX_BOOTLOADER};
use super::{Error, Result};
use crate::disk::{BlockDev, Dev};
use crate::part::create::{self, NewPartition, GPT_FIRST_USABLE};
use crate::part::{PartKind, PartitionTable, TableKind};
use crate::units::SECTOR_SIZE;

/// Bytes per copied chunk.
pub const CHUNK: usize = 1 << 20;
/// GPT type of the extra partition (Linux filesystem data, parted's default).
const LINUX_DATA: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

/// The source disk as copy mode sees it.
#[derive(Debug, Clone)]
pub struct Source {
    /// MBR or GPT.
    pub kind: TableKind,
    /// The GPT disk GUID (kept on the target).
    pub disk_guid: Option<String>,
    /// MBR primaries and extended partitions, or GPT entries, in disk order.
    pub parts: Vec<SourcePart>,
    /// The first 446 bytes of sector 0 (boot code and disk signature).
    pub boot_code: [u8; 446],
}

/// What a copy wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CopyStats {
    /// Bytes of the input gone through.
    pub read: u64,
    /// Bytes written (chunks holding data).
    pub written: u64,
}

/// Reads the partition table of `input` and classifies every partition's content.
pub fn examine(input: &Dev) -> Result<Source> {
    let name = input.name();
    let table = PartitionTable::read(input.as_ref())?.ok_or_else(|| Error::Layout(format!("{name}: unknown partition table type; copy mode only supports MBR (DOS) and GPT partition tables (a disk holding one filesystem or PV grows in place: vresize --size)")))?;
    table.check_layout(&name)?;
    if table.sector_size != crate::units::SECTOR_SIZE {
        return Err(Error::Unsupported(format!("{name}: copying a disk with {}-byte logical sectors (512-byte sectors only)", table.sector_size)));
    }
    let mut boot_code = [0u8; 446];
    input.read_at(&mut boot_code, 0)?;
    let pv_devs = table.slices(input, "/dev/sda")?;
    // VGs that do not assemble only cost their PVs' exact sizes: such a PV then counts as filling
    // its partition (it cannot be shrunk); expanding it later reports the problem
    let vgs = crate::lvm::scan(&pv_devs).unwrap_or_default();
    let mut parts = Vec::new();
    for p in table.partitions.iter().filter(|p| !matches!(p.kind, PartKind::Mbr { logical: true, .. })) {
        let name = format!("/dev/sda{}", p.number);
        let content = match pv_devs.iter().find(|(n, _)| *n == name) {
            Some((_, dev)) => content_of(dev, &name, &vgs)?,
            None => Content::Extended,
        };
        parts.push(SourcePart { name, start: p.start, size: p.size, kind: p.kind.clone(), content });
    }
    parts.sort_by_key(|p| p.start);
    Ok(Source { kind: table.kind, disk_guid: table.disk_guid, parts, boot_code })
}

/// What `dev` holds; a PV's size is what its extents need (`pe_start` + extents).
fn content_of(dev: &Dev, name: &str, vgs: &[crate::lvm::VolumeGroup]) -> Result<Content> {
    let Some(info) = crate::fs::probe(dev.as_ref())? else { return Ok(Content::Unknown) };
    Ok(match info.fs_type.as_str() {
        "swap" => Content::Swap,
        "LVM2_member" => {
            let pv = vgs.iter().flat_map(|vg| vg.pvs.iter().map(move |pv| (vg, pv))).find(|(_, pv)| pv.device == name);
            match pv {
                Some((vg, pv)) => Content::Pv(pv.pe_start + pv.pe_count * vg.extent_size),
                None => Content::Pv(dev.len()),
            }
        }
        t => Content::Fs(t.to_string(), crate::fs::statfs::span(dev.as_ref(), t)?),
    })
}

/// The content of the LV `lv_path` (`/dev/VG/LV`) of the source disk `input`.
pub fn lv_content(input: &Dev, lv_path: &str) -> Result<Content> {
    let pv_devs = match PartitionTable::read(input.as_ref())? {
        Some(t) => t.slices(input, "/dev/sda")?,
        None => Vec::new(),
    };
    let (vg_name, lv_name) = lv_path.strip_prefix("/dev/").and_then(|p| p.split_once('/')).ok_or_else(|| Error::NoSuchDevice(lv_path.to_string()))?;
    let vgs = crate::lvm::scan(&pv_devs)?;
    let vg = vgs.iter().find(|v| v.name == vg_name).ok_or_else(|| {
        Error::Layout(format!("{lv_path}: logical volume not found in the source disk image (this error came from ‘--lv-expand’ option on the command line)"))
    })?;
    let dev = vg.open_lv(lv_name, &pv_devs)?;
    content_of(&dev, lv_path, &vgs)
}

/// Bytes `run` copies (for a progress bar).
pub fn bytes_to_copy(layout: &Layout) -> u64 {
    layout
        .parts
        .iter()
        .map(|p| match p.op {
            Op::Copy => p.source.size,
            Op::Resize(n) => n.min(p.source.size),
            Op::Ignore | Op::Delete => 0,
        })
        .sum()
}

/// Options of [`run`] besides the layout.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Copy the boot code of sector 0 and the gap before the first partition.
    pub copy_boot_loader: bool,
    /// Expand the content of resized partitions (off with `--no-expand-content`).
    pub expand_content: bool,
    /// `--lv-expand` LVs (`/dev/VG/LV`).
    pub lv_expands: Vec<String>,
}

/// Carries out `layout` from `input` onto the fresh `output`; `progress` gets messages
/// (`Copying /dev/sda1`) and `bytes` the bytes copied so far. Returns what was expanded.
pub fn run(input: &Dev, source: &Source, layout: &Layout, output: &Dev, opts: &RunOptions, progress: &mut dyn FnMut(&str), bytes: &mut dyn FnMut(u64)) -> Result<Vec<Step>> {
    progress(&format!("Setting up initial partition table on {}", output.name()));
    let mut new_parts: Vec<NewPartition> = Vec::new();
    for p in &layout.parts {
        if let Some(t) = p.target {
            new_parts.push(NewPartition { start: t.start, end: t.end, kind: p.source.kind.clone() });
        }
    }
    if let Some(t) = layout.extra {
        let kind = match layout.kind {
            TableKind::Mbr => PartKind::Mbr { id: 0x83, bootable: false, logical: false, extended: false },
            TableKind::Gpt => PartKind::Gpt { type_guid: LINUX_DATA.into(), guid: random_guid()?, name: "primary".into(), attributes: 0 },
        };
        new_parts.push(NewPartition { start: t.start, end: t.end, kind });
    }
    let boot_code = if opts.copy_boot_loader { source.boot_code } else { [0u8; 446] };
    create::write(output.as_ref(), layout.kind, &new_parts, &boot_code, source.disk_guid.as_deref())?;
    let mut done = 0u64;
    if opts.copy_boot_loader {
        // the gap between the table and the first partition (GRUB's core image on MBR disks),
        // as far as both disks have it
        let table_end = match layout.kind {
            TableKind::Mbr => SECTOR_SIZE,
            TableKind::Gpt => GPT_FIRST_USABLE * SECTOR_SIZE,
        };
        let first_target = new_parts.first().map_or(0, |p| p.start * SECTOR_SIZE);
        let first_source = source.parts.first().map_or(0, |p| p.start);
        let end = first_source.min(first_target).min(table_end + MAX_BOOTLOADER);
        if end > table_end {
            copy_range(input.as_ref(), table_end, output.as_ref(), table_end, end - table_end, &mut |_| {})?;
        }
    }
    for p in &layout.parts {
        let (Some(t), Op::Copy | Op::Resize(_)) = (p.target, p.op) else { continue };
        let len = match p.op {
            Op::Resize(n) => n.min(p.source.size),
            _ => p.source.size,
        };
        progress(&format!("Copying {}", p.source.name));
        let base = done;
        copy_range(input.as_ref(), p.source.start, output.as_ref(), t.start * SECTOR_SIZE, len, &mut |n| bytes(base + n))?;
        done += len;
    }
    if layout.align_first {
        fix_ntfs_boot_record(layout, output, progress)?;
    }
    let mut steps = Vec::new();
    if opts.expand_content {
        steps = expand(layout, output, opts, progress)?;
    }
    output.flush()?;
    Ok(steps)
}

/// Sets the "hidden sectors" of the NTFS boot record of the first partition to its new start.
fn fix_ntfs_boot_record(layout: &Layout, output: &Dev, progress: &mut dyn FnMut(&str)) -> Result<()> {
    let Some((p, t)) = layout.parts.iter().find_map(|p| p.target.map(|t| (p, t))) else { return Ok(()) };
    if !matches!(&p.source.content, Content::Fs(f, _) if f == "ntfs") {
        return Ok(());
    }
    let at = t.start * SECTOR_SIZE;
    let mut magic = [0u8; 8];
    output.read_at(&mut magic, at + 3)?;
    if &magic != b"NTFS    " {
        progress("warning: first partition is NTFS but does not contain NTFS boot loader magic");
        return Ok(());
    }
    progress("Fixing first NTFS partition boot record");
    let hidden = u32::try_from(t.start).map_err(|_| Error::Layout(format!("the first partition's start {} does not fit the NTFS boot record", t.start)))?;
    output.write_at(&hidden.to_le_bytes(), at + 0x1C)?;
    Ok(())
}

/// Expands what grew: each resized partition's content, then each `--lv-expand` LV and its
/// filesystem.
fn expand(layout: &Layout, output: &Dev, opts: &RunOptions, progress: &mut dyn FnMut(&str)) -> Result<Vec<Step>> {
    let table = PartitionTable::read(output.as_ref())?.ok_or_else(|| Error::Layout(format!("{}: the new partition table does not read back", output.name())))?;
    let pv_devs = table.slices(output, "/dev/sda")?;
    let mut steps = Vec::new();
    for p in &layout.parts {
        let (Some(t), Op::Resize(_)) = (p.target, p.op) else { continue };
        let Some(method) = p.source.content.method() else { continue };
        let target = format!("/dev/sda{}", t.number);
        let now = if target != p.source.name { format!(" (now {target})") } else { String::new() };
        progress(&format!("Expanding {}{now} using the ‘{method}’ method", p.source.name));
        let dev = pv_devs.iter().find(|(n, _)| *n == target).map(|(_, d)| d.clone()).ok_or_else(|| Error::NoSuchDevice(target.clone()))?;
        match p.source.content {
            Content::Pv(_) => {
                if let Some(resized) = crate::lvm::pvresize_in(&pv_devs, &target)? {
                    steps.push(Step::Pv { device: target, resized });
                }
            }
            _ => steps.extend(grow_fs(&target, &dev)?),
        }
    }
    for lv in &opts.lv_expands {
        progress(&format!("Expanding {lv}"));
        let (step, (name, dev)) = extend_lv(&pv_devs, lv)?;
        steps.extend(step);
        steps.extend(grow_fs(&name, &dev)?);
    }
    Ok(steps)
}

/// A stretch of the input as [`read_pieces`] found it.
enum Piece {
    /// This many bytes known or read to be zero.
    Zeros(u64),
    /// A chunk holding data: the buffer and its used length.
    Data(Vec<u8>, usize),
}

/// Chunks read ahead of the writer.
const READ_AHEAD: usize = 4;

/// Goes through `len` bytes at `from` of `input`, giving `sink` each hole (imago's zero
/// mappings), all-zero chunk or data chunk in order; stops after an error or when `sink`
/// returns false. Buffers come from `spare` when it has one.
fn read_pieces(input: &dyn BlockDev, from: u64, len: u64, spare: &mut dyn FnMut() -> Option<Vec<u8>>, sink: &mut dyn FnMut(Result<Piece>) -> bool) {
    let mut off = 0u64;
    while off < len {
        let piece = (|| -> Result<(Piece, u64)> {
            let zeros = input.known_zeros(from + off, len - off)?.min(len - off);
            if zeros > 0 {
                return Ok((Piece::Zeros(zeros), zeros));
            }
            let n = (len - off).min(CHUNK as u64) as usize;
            let mut buf = spare().unwrap_or_else(|| vec![0u8; CHUNK]);
            input.read_at(&mut buf[..n], from + off)?;
            Ok((if buf[..n].iter().all(|&b| b == 0) { Piece::Zeros(n as u64) } else { Piece::Data(buf, n) }, n as u64))
        })();
        match piece {
            Ok((p, n)) => {
                off += n;
                if !sink(Ok(p)) {
                    return;
                }
            }
            Err(e) => {
                sink(Err(e));
                return;
            }
        }
    }
}

/// Copies `len` bytes at `from` of `input` to `to` of `output`, skipping the input's holes and
/// all-zero chunks (the output reads as zeros there already); `progress` gets the bytes done.
/// Past [`READ_AHEAD`] chunks a second thread reads (and looks for zeros) while this one writes.
pub fn copy_range(input: &dyn BlockDev, from: u64, output: &dyn BlockDev, to: u64, len: u64, progress: &mut dyn FnMut(u64)) -> Result<CopyStats> {
    let mut stats = CopyStats { read: len, written: 0 };
    let mut off = 0u64;
    let mut write = |piece: Result<Piece>| -> Result<Option<Vec<u8>>> {
        let spare = match piece? {
            Piece::Zeros(n) => {
                off += n;
                None
            }
            Piece::Data(buf, n) => {
                output.write_at(&buf[..n], to + off)?;
                stats.written += n as u64;
                off += n as u64;
                Some(buf)
            }
        };
        progress(off);
        Ok(spare)
    };
    let mut failed = None;
    if len <= (READ_AHEAD * CHUNK) as u64 {
        let spare = std::cell::Cell::new(None);
        read_pieces(input, from, len, &mut || spare.take(), &mut |p| match write(p) {
            Ok(buf) => {
                spare.set(buf);
                true
            }
            Err(e) => {
                failed = Some(e);
                false
            }
        });
    } else {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Piece>>(READ_AHEAD);
        let (spare_tx, spare_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        std::thread::scope(|scope| {
            scope.spawn(move || read_pieces(input, from, len, &mut || spare_rx.try_recv().ok(), &mut |p| tx.send(p).is_ok()));
            for p in rx {
                match write(p) {
                    Ok(buf) => {
                        if let Some(b) = buf {
                            let _ = spare_tx.send(b);
                        }
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
        });
    }
    if let Some(e) = failed {
        return Err(e);
    }
    if off < len {
        return Err(Error::Unsupported(format!("copy of {} stopped at byte {off} of {len}", input.name())));
    }
    Ok(stats)
}

/// The output device of a copy must start out zero where the input is zero (a freshly created
/// image): checked on its first and last sectors, the usual places of old partition tables.
pub fn check_fresh(output: &Dev) -> Result<()> {
    let mut s = [0u8; 512];
    for off in [0, output.len().saturating_sub(512)] {
        output.read_at(&mut s, off)?;
        if s.iter().any(|&b| b != 0) {
            return Err(Error::Unsupported(format!("copy mode: the output is not empty (data at byte {off}); create it fresh (qemu-img create or truncate)")));
        }
    }
    Ok(())
}

/// A random (version 4) GUID, uppercase.
fn random_guid() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| Error::Unsupported(format!("no random numbers from the operating system for a partition GUID: {e}")))?;
    b[6] = (b[6] & 0x0F) | 0x40;
    b[8] = (b[8] & 0x3F) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02X}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
}
