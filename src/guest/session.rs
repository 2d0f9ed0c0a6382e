//! The `Guest` session: adds drives, then `launch` builds the device map the way the libguestfs
//! appliance's kernel would see it (`/dev/sda`, `/dev/sda1`, `/dev/VG/LV`).

use super::Error as GuestError;
use crate::disk::{self, Dev, Format, Overlay, OverlayOptions, Slice};
use crate::fs::probe::{probe, FsInfo};
use super::path::Mount;
use crate::lvm::{self, VolumeGroup};
use crate::part::{PartKind, Partition, PartitionTable};
use crate::guest::Result;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes `zero` clears at the start of a device: 32 blocks of 4 KiB.
pub const ZERO_HEAD: u64 = 32 * 4096;

/// How a drive is added (`add_drive_opts` in libguestfs).
#[derive(Debug, Clone, Copy)]
pub struct DriveOptions {
    /// Image format; probed from the file when `None`.
    pub format: Option<Format>,
    /// Open the image file read-only (the default).
    pub readonly: bool,
    /// With `readonly`: the guest may still be changed, in a throwaway copy-on-write overlay
    /// (a dry run, like libguestfs's overlays on read-only drives); nothing can be committed.
    pub scratch: bool,
    /// Logical sector size of the disk (libguestfs' `blocksize`: 512 or 4096); probed from
    /// the partition table when `None`.
    pub blocksize: Option<u64>,
}

impl Default for DriveOptions {
    fn default() -> Self {
        DriveOptions { format: None, readonly: true, scratch: false, blocksize: None }
    }
}

/// A `blocksize` libguestfs accepts: 512 or 4096.
pub fn parse_blocksize(s: &str) -> std::result::Result<u64, String> {
    match s {
        "512" => Ok(512),
        "4096" => Ok(4096),
        other => Err(format!("blocksize {other}: must be 512 or 4096")),
    }
}

/// A whole disk of the guest.
pub struct DiskDevice {
    /// `/dev/sda`, `/dev/sdb`, … in the order the drives were added.
    pub name: String,
    /// The image, as a block device.
    pub dev: Dev,
    /// The partition table, if the disk has one.
    pub table: Option<PartitionTable>,
    /// Its partitions as devices, in partition-number order.
    pub partitions: Vec<PartitionDevice>,
}

/// A partition of a guest disk.
pub struct PartitionDevice {
    /// `/dev/sda1`; MBR logical partitions are numbered from 5.
    pub name: String,
    /// The partition's bytes. An MBR extended partition is 1 KiB, as Linux shows it.
    pub dev: Dev,
    /// The table entry.
    pub part: Partition,
}

impl PartitionDevice {
    /// Whether this is an MBR extended-partition container (it holds no filesystem).
    pub fn is_extended(&self) -> bool {
        matches!(self.part.kind, PartKind::Mbr { extended: true, .. })
    }

    /// Whether a filesystem can live here: not an extended container, not a Microsoft reserved
    /// or Windows snapshot partition (as libguestfs `list_filesystems` decides).
    fn can_hold_filesystem(&self) -> bool {
        const MS_RESERVED: &str = "E3C9E316-0B5C-4DB8-817D-F92DF00215AE";
        const WIN_SNAPSHOT: &str = "CADDEBF1-4400-4DE8-B103-12117DCF3CCF";
        match &self.part.kind {
            PartKind::Mbr { extended, .. } => !extended,
            PartKind::Gpt { type_guid, .. } => type_guid != MS_RESERVED && type_guid != WIN_SNAPSHOT,
        }
    }
}

/// An image opened for writing: changes wait in its overlay until [`Guest::commit`].
struct WritableImage {
    /// The image file.
    path: PathBuf,
    /// Its guest device name (`/dev/sda`).
    device: String,
    overlay: Arc<Overlay>,
}

/// What [`Guest::commit`] wrote to one disk image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskCommit {
    /// The image file.
    pub image: PathBuf,
    /// Its guest device name (`/dev/sda`).
    pub device: String,
    /// Bytes written.
    pub bytes: u64,
    /// Merged byte ranges written.
    pub ranges: usize,
}

/// The pending (uncommitted) changes of one disk image: what a commit would write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskChanges {
    /// The image file.
    pub image: PathBuf,
    /// Its guest device name (`/dev/sda`).
    pub device: String,
    /// Changed byte ranges of the disk (virtual offsets for qcow2), merged, ascending.
    pub ranges: Vec<Range<u64>>,
}

/// The device map built by `launch`.
struct DeviceMap {
    disks: Vec<DiskDevice>,
    writable: Vec<WritableImage>,
    vgs: Vec<VolumeGroup>,
    /// Every device that may hold a PV (name, device): unpartitioned disks and partitions.
    pv_candidates: Vec<(String, Dev)>,
}

/// One change made through the guest's write methods: the operation (guestfish's command
/// name) and the guest path it changed — the per-path part of a `--dry-run` report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathChange {
    /// `write`, `mkdir`, `rm-rf`, `chmod`…
    pub op: &'static str,
    /// The path as given.
    pub path: String,
}

/// A guest: drives added with [`Guest::add_drive`], then [`Guest::launch`].
#[derive(Default)]
pub struct Guest {
    drives: Vec<(PathBuf, DriveOptions)>,
    map: Option<DeviceMap>,
    /// Mounted filesystems, in mount order (see `mounts.rs`).
    pub(super) mounts: Vec<Mount>,
    /// Messages for the user from `launch` (leftover redo logs replayed or removed).
    notices: Vec<String>,
    /// What the write methods changed, by guest path (see `write.rs`).
    pub(super) changes: std::sync::Mutex<Vec<PathChange>>,
    /// Filesystem warnings (see [`Guest::take_warnings`]).
    warnings: std::sync::Mutex<Warnings>,
    /// The guest's SELinux policy and the paths needing a relabel (see `selinux/`).
    pub(super) selinux: std::sync::Mutex<super::selinux::policy::State>,
}

/// Every filesystem warning of the session, and how many the tool has taken.
#[derive(Default)]
struct Warnings {
    all: Vec<String>,
    taken: usize,
}

/// libguestfs disk names: sda … sdz, sdaa … (bijective base 26).
fn disk_name(index: usize) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        n -= 1;
        letters.push(b'a' + (n % 26) as u8);
        n /= 26;
    }
    letters.reverse();
    format!("/dev/sd{}", String::from_utf8_lossy(&letters))
}

impl Guest {
    /// An empty session.
    pub fn new() -> Guest {
        Guest::default()
    }

    /// Adds a disk image (before `launch`).
    pub fn add_drive(&mut self, path: &Path, opts: DriveOptions) -> Result<()> {
        if self.map.is_some() {
            return Err(GuestError::AlreadyLaunched);
        }
        self.drives.push((path.to_path_buf(), opts));
        Ok(())
    }

    /// Opens the drives and discovers partitions and LVM volume groups. A drive added with
    /// `readonly: false` is locked against other writers (a running QEMU, another vguestfs),
    /// opened for writing, and put under a copy-on-write overlay: nothing reaches the image
    /// before [`Guest::commit`], and dropping the guest without it writes nothing. A leftover
    /// redo log of an interrupted commit is settled first; see [`Guest::notices`].
    pub fn launch(&mut self) -> Result<()> {
        if self.map.is_some() {
            return Err(GuestError::AlreadyLaunched);
        }
        if self.drives.is_empty() {
            return Err(GuestError::NoDrives);
        }
        let mut disks = Vec::with_capacity(self.drives.len());
        let mut writable = Vec::new();
        let mut pv_candidates = Vec::new();
        for (i, (path, opts)) in self.drives.iter().enumerate() {
            let name = disk_name(i);
            let scratch = opts.readonly && opts.scratch;
            let opened = if scratch {
                disk::open_scratch_image(path, opts.format, &OverlayOptions::default())?
            } else {
                disk::open_session_image(path, opts.format, !opts.readonly, &OverlayOptions::default())?
            };
            self.notices.extend(opened.notices);
            if let (Some(overlay), true) = (opened.overlay, !opts.readonly || scratch) {
                writable.push(WritableImage { path: path.clone(), device: name.clone(), overlay });
            }
            let dev = opened.dev;
            // the image under its guest device name, so that errors say which disk
            let len = dev.len();
            let dev: Dev = Arc::new(Slice::new(dev, 0, len, name.clone())?);
            let table = PartitionTable::read_with(dev.as_ref(), opts.blocksize)?;
            let mut partitions = Vec::new();
            if let Some(t) = &table {
                self.notices.extend(t.warnings.iter().map(|w| format!("warning: {w}")));
                self.notices.extend(t.layout.iter().map(|p| format!("warning: {name}: partition table layout: {} (writing to a filesystem there is refused)", p.msg)));
                for p in &t.partitions {
                    let pname = format!("{name}{}", p.number);
                    let extended = matches!(p.kind, PartKind::Mbr { extended: true, .. });
                    // Linux exposes an extended container as 1 KiB so tools cannot clobber the
                    // logical partitions through it; libguestfs reports that size.
                    let len = if extended { p.size.min(1024) } else { p.size };
                    let pdev: Dev = Arc::new(Slice::new(dev.clone(), p.start, len, pname.clone())?);
                    if !extended {
                        pv_candidates.push((pname.clone(), pdev.clone()));
                    }
                    partitions.push(PartitionDevice { name: pname, dev: pdev, part: p.clone() });
                }
            } else {
                pv_candidates.push((name.clone(), dev.clone()));
            }
            disks.push(DiskDevice { name, dev, table, partitions });
        }
        let vgs = lvm::scan(&pv_candidates)?;
        self.map = Some(DeviceMap { disks, writable, vgs, pv_candidates });
        Ok(())
    }

    /// Messages for the user from `launch`: an interrupted commit replayed from a leftover
    /// redo log, an incomplete log removed or ignored, a log shown applied in a read-only
    /// session. Tools print them.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// Records the warnings of a filesystem just opened (mounted, or opened by inspection),
    /// each once per session.
    pub(super) fn note_fs_warnings(&self, fs: &dyn crate::fs::Filesystem) {
        for msg in fs.warnings() {
            self.note_warning(msg);
        }
    }

    /// Records a warning for the tool to print (once per session).
    pub(super) fn note_warning(&self, msg: String) {
        let mut w = self.warnings.lock().unwrap_or_else(|p| p.into_inner());
        if !w.all.contains(&msg) {
            w.all.push(msg);
        }
    }

    /// Warnings since the last call — about filesystems opened (an XFS log that was not
    /// replayed…) or package databases read (a damaged rpm database…) — each given once per
    /// session: tools print them as `warning:` lines.
    pub fn take_warnings(&self) -> Vec<String> {
        let mut w = self.warnings.lock().unwrap_or_else(|p| p.into_inner());
        let new = w.all[w.taken..].to_vec();
        w.taken = w.all.len();
        new
    }

    /// Commits every writable drive: mounted filesystems are synced, then each image's
    /// pending changes are written through its redo log (see [`Overlay::commit`]). Returns
    /// what was written per image; a drive with no changes reports 0 bytes.
    pub fn commit(&self) -> Result<Vec<DiskCommit>> {
        let map = self.map()?;
        self.sync_filesystems()?;
        let mut out = Vec::with_capacity(map.writable.len());
        for w in &map.writable {
            let stats = w.overlay.commit()?;
            out.push(DiskCommit { image: w.path.clone(), device: w.device.clone(), bytes: stats.bytes, ranges: stats.ranges });
        }
        Ok(out)
    }

    /// The pending changes per writable drive (mounted filesystems are synced into the
    /// overlays first): what [`Guest::commit`] would write — the `--dry-run` report.
    pub fn dirty_ranges(&self) -> Result<Vec<DiskChanges>> {
        let map = self.map()?;
        self.sync_filesystems()?;
        Ok(map
            .writable
            .iter()
            .map(|w| DiskChanges { image: w.path.clone(), device: w.device.clone(), ranges: w.overlay.dirty_ranges() })
            .collect())
    }

    /// Whether `launch` has run.
    pub fn is_launched(&self) -> bool {
        self.map.is_some()
    }

    /// The first partition-table layout problem naming partition `device` (it overlaps another
    /// partition or the table), if any: filesystems there are not written.
    pub(super) fn layout_problem(&self, device: &str) -> Option<String> {
        let map = self.map.as_ref()?;
        map.disks.iter().find_map(|d| {
            let table = d.table.as_ref()?;
            let p = d.partitions.iter().find(|p| p.name == device)?;
            table.layout.iter().find(|l| l.partitions.contains(&p.part.number)).map(|l| format!("{}: {}", d.name, l.msg))
        })
    }

    fn map(&self) -> Result<&DeviceMap> {
        self.map.as_ref().ok_or(GuestError::NotLaunched)
    }

    /// The guest's disks.
    pub fn disks(&self) -> Result<&[DiskDevice]> {
        Ok(&self.map()?.disks)
    }

    /// The LVM volume groups found.
    pub fn volume_groups(&self) -> Result<&[VolumeGroup]> {
        Ok(&self.map()?.vgs)
    }

    /// `list-devices`: the whole disks.
    pub fn list_devices(&self) -> Result<Vec<String>> {
        Ok(self.map()?.disks.iter().map(|d| d.name.clone()).collect())
    }

    /// `list-partitions`: every partition of every disk (extended containers included).
    pub fn list_partitions(&self) -> Result<Vec<String>> {
        Ok(self.map()?.disks.iter().flat_map(|d| d.partitions.iter().map(|p| p.name.clone())).collect())
    }

    /// Finds a partition device by name, with its disk.
    pub fn partition(&self, name: &str) -> Result<(&DiskDevice, &PartitionDevice)> {
        for d in &self.map()?.disks {
            if let Some(p) = d.partitions.iter().find(|p| p.name == name) {
                return Ok((d, p));
            }
        }
        Err(GuestError::NoSuchDevice(name.to_string()))
    }

    /// `lvs`: public logical volumes as `/dev/VG/LV`, sorted.
    pub fn lvs(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = self
            .map()?
            .vgs
            .iter()
            .flat_map(|vg| {
                vg.lvs
                    .iter()
                    .filter(|lv| lv.is_public())
                    .map(move |lv| format!("/dev/{}/{}", vg.name, lv.name))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// `vgs`: volume group names, sorted.
    pub fn vgs(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = self.map()?.vgs.iter().map(|vg| vg.name.clone()).collect();
        out.sort();
        Ok(out)
    }

    /// `pvs`: devices holding physical volumes, sorted.
    pub fn pvs(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> =
            self.map()?.vgs.iter().flat_map(|vg| vg.pvs.iter().map(|pv| pv.device.clone())).collect();
        out.sort();
        Ok(out)
    }

    /// `pvs-full`: lvm2's `pvs` columns for every PV of every volume group.
    pub fn pvs_full(&self) -> Result<Vec<lvm::report::PvRow>> {
        Ok(lvm::report::pvs(&self.map()?.vgs))
    }

    /// `vgs-full`: lvm2's `vgs` columns for every volume group.
    pub fn vgs_full(&self) -> Result<Vec<lvm::report::VgRow>> {
        Ok(lvm::report::vgs(&self.map()?.vgs))
    }

    /// `lvs-full`: lvm2's `lvs` columns for every LV `lvs` (without `-a`) lists.
    pub fn lvs_full(&self) -> Result<Vec<lvm::report::LvRow>> {
        Ok(lvm::report::lvs(&self.map()?.vgs)?)
    }

    /// `blockdev-getsize64`: a device's size in bytes. An LV's size comes from the LVM metadata,
    /// so it is known even for LV types that cannot be opened.
    pub fn device_size(&self, name: &str) -> Result<u64> {
        if let Some((vg, lv)) = self.find_lv(name)? {
            return Ok(lv.size(vg));
        }
        Ok(self.device(name)?.len())
    }

    /// The volume group and LV named by `/dev/VG/LV`, if it is one.
    fn find_lv(&self, name: &str) -> Result<Option<(&VolumeGroup, &lvm::LogicalVolume)>> {
        let Some((vg, lv)) = name.strip_prefix("/dev/").and_then(|r| r.split_once('/')) else {
            return Ok(None);
        };
        Ok(self.map()?.vgs.iter().find(|g| g.name == vg).and_then(|g| g.lvs.iter().find(|l| l.name == lv).map(|l| (g, l))))
    }

    /// Splits a libguestfs btrfs subvolume mountable, `btrfsvol:DEVICE/SUBVOLUME` (the form
    /// `list-filesystems`, inspection and fstab entries with `subvol=` give), into the device
    /// and the subvolume path; `None` for other names.
    pub fn split_btrfsvol(&self, name: &str) -> Option<(String, String)> {
        let rest = name.strip_prefix("btrfsvol:")?;
        // the device is the shortest prefix that names one (`/dev/sda3`, `/dev/VG/LV`)
        for (i, _) in rest.match_indices('/').filter(|(i, _)| *i > "/dev/".len()) {
            let (dev, sub) = rest.split_at(i);
            if self.device(dev).is_ok() {
                return Some((dev.to_string(), sub.trim_start_matches('/').to_string()));
            }
        }
        None
    }

    /// Opens the filesystem on `name` read-only: a device (its default btrfs subvolume for
    /// btrfs) or a `btrfsvol:DEVICE/SUBVOLUME`.
    pub fn open_fs_ro(&self, name: &str) -> Result<Arc<dyn crate::fs::Filesystem>> {
        if let Some((dev, sub)) = self.split_btrfsvol(name) {
            let fs = crate::fs::btrfs::BtrfsFs::open_subvol(self.device(&dev)?, crate::fs::btrfs::Subvol::Path(sub))?;
            return Ok(Arc::new(fs));
        }
        Ok(crate::fs::open(self.device(name)?)?)
    }

    /// `btrfs-subvolume-list`: the subvolumes of the btrfs filesystem on `device` (id, the id of
    /// the subvolume holding it, path from the top level), by id.
    pub fn btrfs_subvolume_list(&self, device: &str) -> Result<Vec<crate::fs::btrfs::SubvolInfo>> {
        let fs = crate::fs::btrfs::BtrfsFs::open_subvol(self.device(device)?, crate::fs::btrfs::Subvol::Id(crate::fs::btrfs::FS_TREE_OBJECTID))?;
        let mut v = fs.subvolumes()?;
        v.sort_by_key(|s| s.id);
        Ok(v)
    }

    /// Opens any guest device by name: `/dev/sda`, `/dev/sda1`, `/dev/VG/LV`; for a
    /// `btrfsvol:DEVICE/SUBVOLUME`, its device.
    pub fn device(&self, name: &str) -> Result<Dev> {
        if name.starts_with("btrfsvol:") {
            let (dev, _) = self.split_btrfsvol(name).ok_or_else(|| GuestError::NoSuchDevice(name.to_string()))?;
            return self.device(&dev);
        }
        let map = self.map()?;
        for d in &map.disks {
            if d.name == name {
                return Ok(d.dev.clone());
            }
            if let Some(p) = d.partitions.iter().find(|p| p.name == name) {
                return Ok(p.dev.clone());
            }
        }
        if let Some((vg, lv)) = self.find_lv(name)? {
            return Ok(vg.open_lv(&lv.name, &map.pv_candidates)?);
        }
        Err(GuestError::NoSuchDevice(name.to_string()))
    }

    /// `zero-device`: makes the whole device read as zeros. Through the overlay no data is
    /// stored for it; the commit zeroes the image its own way (qcow2 v3: zero clusters; raw
    /// and qcow2 v2: zeros written only where the image is not zero already).
    pub fn zero_device(&self, name: &str) -> Result<()> {
        let dev = self.device_to_overwrite(name)?;
        Ok(dev.write_zeroes(0, dev.len())?)
    }

    /// `zero`: zeros the first [`ZERO_HEAD`] bytes of the device (all of a smaller one):
    /// enough to remove partition tables and filesystem superblocks, not to wipe it.
    pub fn zero(&self, name: &str) -> Result<()> {
        let dev = self.device_to_overwrite(name)?;
        Ok(dev.write_zeroes(0, dev.len().min(ZERO_HEAD))?)
    }

    /// `resize2fs` / `resize2fs-size`: grows the ext2/3/4 filesystem on the device to fill it,
    /// or to `size` bytes (a whole number of KiB, as resize2fs's `NK`). libguestfs runs
    /// `e2fsck -f -y` first; here a journal needing recovery is replayed and a filesystem
    /// that would need e2fsck's repairs is refused ([`Checks::Repairs`]). Shrinking is refused.
    ///
    /// [`Checks::Repairs`]: crate::fs::ext4::grow::Checks::Repairs
    pub fn resize2fs(&self, name: &str, size: Option<u64>) -> Result<()> {
        let dev = self.device_to_overwrite(name)?;
        let blocks = match size {
            None => None,
            Some(bytes) if bytes % 1024 != 0 => return Err(GuestError::BadArgument(format!("{bytes}: size must be a round number of kilobytes"))),
            Some(bytes) => Some(bytes / crate::fs::ext4::grow::block_size(dev.as_ref())?),
        };
        crate::fs::ext4::grow::grow(&dev, blocks, crate::fs::ext4::grow::Checks::Repairs)?;
        Ok(())
    }

    /// `xfs-growfs`: grows the data section of the XFS filesystem mounted at `path` (any path
    /// inside it) to `size`, setting `imax_pct` to `maxpct` when given, as `xfs_growfs -d
    /// [-D size] [-m maxpct]` does ([`crate::fs::xfs::grow`]); the mount then sees the new
    /// size. The drive must be writable (`--rw`); the mount itself may be read-only.
    /// Shrinking is refused: XFS cannot shrink.
    pub fn xfs_growfs(&mut self, path: &str, size: crate::fs::xfs::grow::Size, maxpct: Option<u8>) -> Result<()> {
        let r = super::path::resolve(&self.mounts, path, true)?;
        let m = &self.mounts[r.mount];
        let dev = self.device(&m.device)?;
        if probe(dev.as_ref())?.map(|i| i.fs_type).as_deref() != Some("xfs") {
            return Err(GuestError::BadArgument(format!("{path}: the filesystem mounted there ({}) is not XFS", m.device)));
        }
        if !dev.is_writable() {
            return Err(disk::Error::ReadOnly { dev: m.device.clone() }.into());
        }
        crate::fs::xfs::grow::grow(&dev, size, maxpct)?;
        let fs = if m.readonly { crate::fs::open(dev)? } else { crate::fs::open_rw(dev)? };
        self.mounts[r.mount].fs = fs;
        Ok(())
    }

    /// `pvresize` / `pvresize-size`: sets the LVM PV on `name` (a partition or disk) to fill
    /// it, or to `size` bytes, as lvm2's `pvresize [--setphysicalvolumesize]`; the VG's
    /// metadata is rewritten on every PV. Shrinking is refused.
    pub fn pvresize(&mut self, name: &str, size: Option<u64>) -> Result<()> {
        let map = self.map.as_mut().ok_or(GuestError::NotLaunched)?;
        let Some(i) = map.pv_candidates.iter().position(|(n, _)| n == name) else {
            return Err(GuestError::NoSuchDevice(name.to_string()));
        };
        let dev = map.pv_candidates[i].1.clone();
        if !dev.is_writable() {
            return Err(disk::Error::ReadOnly { dev: name.to_string() }.into());
        }
        let mut devs = map.pv_candidates.clone();
        if let Some(size) = size {
            if size > dev.len() || size % 512 != 0 {
                return Err(GuestError::BadArgument(format!("pvresize-size: {size} bytes: not a multiple of 512 or larger than {name} ({} bytes)", dev.len())));
            }
            devs[i].1 = Arc::new(Slice::new(dev, 0, size, name)?);
        }
        lvm::pvresize_in(&devs, name)?.ok_or_else(|| GuestError::BadArgument(format!("{name}: not an LVM physical volume")))?;
        map.vgs = lvm::scan(&map.pv_candidates)?;
        Ok(())
    }

    /// `lvresize-free lv percent`: extends the LV by `percent` % of its VG's free extents
    /// (rounded up, as lvm2's `lvextend -l +N%FREE`).
    pub fn lvresize_free(&mut self, lv: &str, percent: i64) -> Result<()> {
        if !(0..=100).contains(&percent) {
            return Err(GuestError::BadArgument(format!("percentage must be [0..100] (was {percent})")));
        }
        let (vg, l) = self.find_lv(lv)?.ok_or_else(|| GuestError::NoSuchDevice(lv.to_string()))?;
        let (vg, name) = (vg.clone(), l.name.clone());
        let map = self.map.as_mut().ok_or(GuestError::NotLaunched)?;
        if let Some((n, _)) = map.pv_candidates.iter().find(|(_, d)| !d.is_writable()) {
            return Err(disk::Error::ReadOnly { dev: n.clone() }.into());
        }
        let free = vg.free().checked_div(vg.extent_size).unwrap_or(0);
        let add = free.saturating_mul(percent as u64).div_ceil(100);
        if add > 0 {
            lvm::lvextend(&map.pv_candidates, &vg, &name, Some(add))?;
            map.vgs = lvm::scan(&map.pv_candidates)?;
        }
        Ok(())
    }

    /// A device to overwrite whole: refused while it holds a mounted filesystem, or is part of
    /// a mounted device (its disk, a partition of it, or — for a disk or partition — any
    /// mounted logical volume, which may lie on it), whose cached state would go stale.
    fn device_to_overwrite(&self, name: &str) -> Result<Dev> {
        let dev = self.device(name)?;
        if !dev.is_writable() {
            return Err(disk::Error::ReadOnly { dev: name.to_string() }.into());
        }
        if let Some(m) = self.mounts().into_iter().find(|m| shares_storage(m, name)) {
            return Err(GuestError::InUse { device: name.to_string(), mounted: m });
        }
        Ok(dev)
    }

    /// Probes the filesystem (or other signature) on a device, like `vfs-type`/`vfs-uuid`.
    pub fn probe(&self, name: &str) -> Result<Option<FsInfo>> {
        let dev = self.device(name)?;
        Ok(probe(dev.as_ref())?)
    }

    /// `list-filesystems`: (device, filesystem type or `unknown`) for unpartitioned disks,
    /// partitions and logical volumes, skipping LVM/RAID members, LUKS containers and extended
    /// partitions, as libguestfs does.
    pub fn list_filesystems(&self) -> Result<Vec<(String, String)>> {
        let map = self.map()?;
        let mut candidates: Vec<String> = Vec::new();
        for d in &map.disks {
            if d.table.is_none() {
                candidates.push(d.name.clone());
            }
        }
        for d in &map.disks {
            candidates.extend(d.partitions.iter().filter(|p| p.can_hold_filesystem()).map(|p| p.name.clone()));
        }
        candidates.extend(self.lvs()?);
        let mut out = Vec::new();
        for name in candidates {
            let vfs_type = match self.probe(&name) {
                Ok(Some(info)) => info.fs_type,
                Ok(None) => "unknown".to_string(),
                // An LV of an unsupported segment type cannot be read: it is listed as unknown,
                // and the error names the type when it is accessed.
                Err(super::Error::Lvm(_)) => "unknown".to_string(),
                Err(e) => return Err(e),
            };
            if vfs_type.ends_with("_member") || vfs_type == "crypto_LUKS" {
                continue;
            }
            // btrfs: the device, then each subvolume as libguestfs lists them
            let subvols = if vfs_type == "btrfs" { self.btrfs_subvolume_list(&name).unwrap_or_default() } else { Vec::new() };
            out.push((name.clone(), vfs_type));
            out.extend(subvols.into_iter().map(|s| (format!("btrfsvol:{name}/{}", s.path), "btrfs".to_string())));
        }
        Ok(out)
    }
}

/// Whether the mounted device `mounted` and the device `target` may share storage: the same
/// device, a disk and one of its partitions (`/dev/sda`, `/dev/sda1` — not `/dev/sda1` and
/// `/dev/sda10`), or a logical volume and a disk or partition (the LV may lie on it).
fn shares_storage(mounted: &str, target: &str) -> bool {
    let is_lv = |d: &str| d.strip_prefix("/dev/").is_some_and(|r| r.contains('/'));
    let partition_of = |disk: &str, dev: &str| {
        !disk.ends_with(|c: char| c.is_ascii_digit()) && dev.strip_prefix(disk).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    mounted == target || (is_lv(mounted) != is_lv(target)) || (!is_lv(target) && (partition_of(target, mounted) || partition_of(mounted, target)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounted_devices_sharing_storage() {
        // regression: /dev/sda1 mounted made /dev/sda10 look in use (prefix comparison)
        assert!(!shares_storage("/dev/sda1", "/dev/sda10"));
        assert!(!shares_storage("/dev/sda10", "/dev/sda1"));
        assert!(!shares_storage("/dev/sdb1", "/dev/sda"));
        assert!(shares_storage("/dev/sda1", "/dev/sda"));
        assert!(shares_storage("/dev/sda", "/dev/sda12"));
        assert!(shares_storage("/dev/sda2", "/dev/sda2"));
        assert!(shares_storage("/dev/vg/root", "/dev/sda2"));
        assert!(shares_storage("/dev/sda2", "/dev/vg/root"));
        assert!(!shares_storage("/dev/vg/root", "/dev/vg/swap"));
    }

    #[test]
    fn disk_names_follow_libguestfs() {
        assert_eq!(disk_name(0), "/dev/sda");
        assert_eq!(disk_name(1), "/dev/sdb");
        assert_eq!(disk_name(25), "/dev/sdz");
        assert_eq!(disk_name(26), "/dev/sdaa");
        assert_eq!(disk_name(27), "/dev/sdab");
        assert_eq!(disk_name(701), "/dev/sdzz");
        assert_eq!(disk_name(702), "/dev/sdaaa");
    }

    #[test]
    fn methods_need_launch_and_drives() {
        let mut g = Guest::new();
        assert!(matches!(g.list_devices(), Err(GuestError::NotLaunched)));
        assert!(matches!(g.launch(), Err(GuestError::NoDrives)));
    }
}
