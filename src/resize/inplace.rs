//! The in-place grow, in order: partition → PV → LV → filesystem, on a disk device already
//! at its new size (the caller grows the image and puts it under an overlay). A disk without a
//! partition table grows as a whole: its PV, or the filesystem on it.

use super::{Error, Result};
use crate::disk::Dev;
use crate::lvm::{self, LvExtended, PvResized};
use crate::part::grow::{self, GrowOptions, Growth, Plan};
use crate::part::PartitionTable;
use crate::units::SECTOR_SIZE;
use std::fmt;

/// What to grow.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The partition to expand into the new space (`/dev/sda2`).
    pub expand: Option<String>,
    /// The LV to extend into the VG's free extents (`/dev/VG/LV`).
    pub lv_expand: Option<String>,
}

/// One thing done (or, on a scratch overlay, to be done).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The partition grows.
    Partition {
        /// `/dev/sdaN`.
        device: String,
        /// How.
        growth: Growth,
    },
    /// The partition cannot grow (growpart's reason).
    PartitionUnchanged {
        /// `/dev/sdaN`.
        device: String,
        /// Why.
        why: String,
    },
    /// The PV on the partition is resized.
    Pv {
        /// `/dev/sdaN`.
        device: String,
        /// How.
        resized: PvResized,
    },
    /// The LV is extended.
    Lv(LvExtended),
    /// An ext2/3/4 filesystem grows to fill its device.
    Ext {
        /// Its device.
        device: String,
        /// Blocks before and after.
        blocks: (u64, u64),
    },
    /// An XFS filesystem grows to fill its device (as `xfs_growfs` would).
    Xfs {
        /// Its device.
        device: String,
        /// Blocks before and after.
        blocks: (u64, u64),
        /// Allocation groups before and after.
        agcount: (u32, u32),
    },
    /// A swap area is re-made over its whole device, UUID and label kept.
    Swap {
        /// Its device.
        device: String,
        /// Pages before and after.
        pages: (u64, u64),
    },
    /// A filesystem left at its size (its type cannot be grown here).
    NotGrown {
        /// Its device.
        device: String,
        /// Why.
        why: String,
    },
}

fn gib(sectors: u64) -> String {
    format!("{:.1}G", (sectors * SECTOR_SIZE) as f64 / f64::from(1u32 << 30))
}

impl fmt::Display for Step {
    /// A line of the plan, in virt-resize's words where it has them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Partition { device, growth: g } => {
                write!(f, "{device}: This partition will be resized from {} to {} (sectors {}-{} → {}-{}).", gib(g.old_size), gib(g.new_size), g.start, g.old_end, g.start, g.new_end)
            }
            Step::PartitionUnchanged { device, why } => write!(f, "{device}: This partition will be left alone ({why})."),
            Step::Pv { device, resized: r } => write!(f, "{device}: The LVM PV on it will be resized from {} to {} extents.", r.pe_count.0, r.pe_count.1),
            Step::Lv(l) => write!(f, "{}: This logical volume will be expanded from {} to {} extents.", l.lv, l.extents.0, l.extents.1),
            Step::Ext { device, blocks } => write!(f, "{device}: The filesystem ext2/3/4 will be expanded from {} to {} blocks.", blocks.0, blocks.1),
            Step::Xfs { device, blocks, agcount } => {
                write!(f, "{device}: The filesystem xfs will be expanded from {} to {} blocks ({} to {} allocation groups).", blocks.0, blocks.1, agcount.0, agcount.1)
            }
            Step::Swap { device, pages } => write!(f, "{device}: The swap area will be re-made over the whole device ({} to {} pages, UUID and label kept).", pages.0, pages.1),
            Step::NotGrown { device, why } => write!(f, "{device}: The filesystem will not be expanded: {why}."),
        }
    }
}

/// The partition number of `/dev/sdaN` (the only disk).
fn partition_number(device: &str) -> Result<u32> {
    device.strip_prefix("/dev/sda").and_then(|n| n.parse().ok()).filter(|n| *n > 0).ok_or_else(|| Error::NoSuchDevice(device.to_string()))
}

/// Grows what `req` names on `disk` (the image at its new size, writable); returns the steps.
pub fn run(disk: &Dev, req: &Request) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let table = PartitionTable::read(disk.as_ref())?;
    if let Some(t) = &table {
        t.check_layout(&disk.name())?;
    }
    // every device that may hold a PV: partitions (as they are after the grow), or the disk
    let mut pv_devs: Vec<(String, Dev)> = Vec::new();
    let mut expanded: Option<(String, Dev)> = None;
    let Some(table) = table else {
        if let Some(p) = &req.expand {
            return Err(Error::NoSuchDevice(p.clone()));
        }
        // no table: the whole disk is what grows (its PV, or its filesystem)
        pv_devs.push(("/dev/sda".into(), disk.clone()));
        return finish(req, Some(("/dev/sda".into(), disk.clone())), pv_devs, steps);
    };
    let number = req.expand.as_deref().map(partition_number).transpose()?;
    if let Some(n) = number {
        let device = format!("/dev/sda{n}");
        let plan = grow::plan(disk.as_ref(), &table, n, &GrowOptions { fudge: 0, free_percent: None })?;
        match plan {
            Plan::Grow { growth, .. } => {
                grow::apply(disk.as_ref(), &growth)?;
                steps.push(Step::Partition { device, growth });
            }
            Plan::NoChange(why) => steps.push(Step::PartitionUnchanged { device, why }),
        }
    }
    // the partitions as they are now (the expanded one at its new size)
    let table = PartitionTable::read(disk.as_ref())?.ok_or_else(|| Error::NoSuchDevice("/dev/sda".into()))?;
    pv_devs.extend(table.slices(disk, "/dev/sda")?);
    if let Some(n) = number {
        let name = format!("/dev/sda{n}");
        let dev = pv_devs.iter().find(|(d, _)| *d == name).map(|(_, d)| d.clone()).ok_or_else(|| Error::NoSuchDevice(name.clone()))?;
        expanded = Some((name, dev));
    }
    finish(req, expanded, pv_devs, steps)
}

/// PV, LV and filesystem steps after the partition's.
fn finish(req: &Request, expanded: Option<(String, Dev)>, pv_devs: Vec<(String, Dev)>, mut steps: Vec<Step>) -> Result<Vec<Step>> {
    let mut fs_target = None;
    if let Some((name, dev)) = &expanded {
        match lvm::pvresize_in(&pv_devs, name)? {
            Some(resized) => {
                if resized.pe_count.0 != resized.pe_count.1 {
                    steps.push(Step::Pv { device: name.clone(), resized });
                }
            }
            None => fs_target = Some((name.clone(), dev.clone())),
        }
    }
    if let Some(lv_path) = &req.lv_expand {
        let (step, lv) = extend_lv(&pv_devs, lv_path)?;
        steps.extend(step);
        fs_target = Some(lv);
    }
    if let Some((name, dev)) = fs_target {
        if let Some(step) = grow_fs(&name, &dev)? {
            steps.push(step);
        }
    }
    Ok(steps)
}

/// Extends the LV `lv_path` (`/dev/VG/LV` or `/dev/mapper/VG-LV`) found on `pv_devs` into
/// its VG's free extents; returns the step (`None`: no free extents) and the LV's name and
/// device as they are afterwards.
pub(super) fn extend_lv(pv_devs: &[(String, Dev)], lv_path: &str) -> Result<(Option<Step>, (String, Dev))> {
    let (vg_name, lv_name) = lv_path
        .strip_prefix("/dev/")
        .and_then(|p| p.split_once('/'))
        .or_else(|| lv_path.strip_prefix("/dev/mapper/").and_then(|p| p.split_once('-')))
        .ok_or_else(|| Error::NoSuchDevice(lv_path.to_string()))?;
    let find = || -> Result<lvm::VolumeGroup> {
        let vgs = lvm::scan(pv_devs)?;
        vgs.into_iter().find(|v| v.name == vg_name).ok_or_else(|| Error::NoSuchDevice(lv_path.to_string()))
    };
    let ext = lvm::lvextend(pv_devs, &find()?, lv_name, None)?;
    let step = (ext.extents.0 != ext.extents.1).then_some(Step::Lv(ext));
    let dev = find()?.open_lv(lv_name, pv_devs)?;
    Ok((step, (format!("/dev/{vg_name}/{lv_name}"), dev)))
}

/// Grows (or re-makes, for swap) the filesystem on `dev` to fill it, by its type.
pub(super) fn grow_fs(name: &str, dev: &Dev) -> Result<Option<Step>> {
    let info = crate::fs::probe(dev.as_ref())?;
    let fs_type = info.map(|i| i.fs_type).unwrap_or_default();
    Ok(match fs_type.as_str() {
        "swap" => {
            let g = crate::fs::swap::remake(dev.as_ref())?;
            (g.pages.0 != g.pages.1).then(|| Step::Swap { device: name.to_string(), pages: g.pages })
        }
        "ext2" | "ext3" | "ext4" => {
            let r = crate::fs::ext4::grow::grow(dev, None, crate::fs::ext4::grow::Checks::Repairs)?;
            r.changed().then(|| Step::Ext { device: name.to_string(), blocks: (r.old_blocks, r.new_blocks) })
        }
        "xfs" => {
            let r = crate::fs::xfs::grow::grow(dev, crate::fs::xfs::grow::Size::Device, None)?;
            r.changed().then(|| Step::Xfs { device: name.to_string(), blocks: r.blocks, agcount: r.agcount })
        }
        "" => Some(Step::NotGrown { device: name.to_string(), why: "no filesystem found".into() }),
        other => Some(Step::NotGrown { device: name.to_string(), why: format!("growing {other} is not supported yet") }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names() {
        assert_eq!(partition_number("/dev/sda2").unwrap(), 2);
        assert!(partition_number("/dev/sdb1").is_err());
        assert!(partition_number("/dev/sda").is_err());
        assert!(partition_number("/dev/sda0").is_err());
    }
}
