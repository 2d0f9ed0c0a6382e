//! The state commands act on: the guest (drives, then the device map after `run`) and the
//! settings from the command line that commands honour.

use crate::error::CmdError;
use vguestfs::guest::{DiskDevice, PartitionDevice};
use vguestfs::part::PartitionTable;
use vguestfs::Guest;

/// What handlers see.
pub struct Session {
    /// The guest: drives added with `-a`/`add`, launched by `run`.
    pub guest: Guest,
    /// Default for drives added by `add`: read-only unless `--rw`.
    pub readonly: bool,
    /// Set by `quit`: no further commands are read.
    pub quit: bool,
    /// The root `-i` inspected and mounted, for the interactive banner.
    pub inspected_root: Option<String>,
    /// `--dry-run`: never commit; [`Session::close`] lists the changes instead.
    pub dry_run: bool,
}

impl Session {
    /// A session with no drives.
    pub fn new(readonly: bool) -> Session {
        Session {
            guest: Guest::new(),
            readonly,
            quit: false,
            inspected_root: None,
            dry_run: false,
        }
    }

    /// `sync`: writes what the filesystems hold to the disk images (commits the overlays).
    pub fn sync(&mut self) -> Result<(), CmdError> {
        if self.guest.is_launched() && !self.dry_run {
            self.guest.commit()?;
        }
        Ok(())
    }

    /// At exit: unmounts everything (filesystems write what they hold to their devices),
    /// then commits the writable drives' overlays to the image files.
    /// With `--dry-run`, nothing is committed: the changes are printed on stdout instead, per
    /// guest path and per image byte range.
    pub fn close(&mut self, out: &mut dyn std::io::Write) -> Result<(), CmdError> {
        let changes = self.guest.path_changes();
        self.guest.umount_all()?;
        if !self.guest.is_launched() {
            return Ok(());
        }
        if !self.dry_run {
            self.guest.commit()?;
            return Ok(());
        }
        writeln!(out, "dry run: nothing was written; these changes would have been made:")?;
        for c in &changes {
            writeln!(out, "{} {}", c.op, c.path)?;
        }
        for d in self.guest.dirty_ranges()? {
            let bytes: u64 = d.ranges.iter().map(|r| r.end - r.start).sum();
            writeln!(out, "{} ({}): {bytes} bytes in {} ranges", d.device, d.image.display(), d.ranges.len())?;
            for r in &d.ranges {
                writeln!(out, "  bytes {}..{} ({} bytes)", r.start, r.end, r.end - r.start)?;
            }
        }
        Ok(())
    }

    /// The whole disk called `name`; a partition or LV name is an error.
    pub fn disk(&self, name: &str) -> Result<&DiskDevice, CmdError> {
        if let Some(d) = self.guest.disks()?.iter().find(|d| d.name == name) {
            return Ok(d);
        }
        // Let the library say "no such device" when it is not a device at all.
        self.guest.device(name)?;
        Err(CmdError::Failed(format!(
            "{name}: not a whole disk device (see list-devices)"
        )))
    }

    /// The partition table of disk `name`.
    pub fn table(&self, name: &str) -> Result<(&DiskDevice, &PartitionTable), CmdError> {
        let d = self.disk(name)?;
        match &d.table {
            Some(t) => Ok((d, t)),
            None => Err(CmdError::Failed(format!("{name}: unrecognised disk label"))),
        }
    }

    /// Partition number `partnum` of disk `name`.
    pub fn partition(&self, name: &str, partnum: i32) -> Result<&PartitionDevice, CmdError> {
        if partnum < 1 {
            return Err(CmdError::Failed("partition number must be >= 1".into()));
        }
        let (d, _) = self.table(name)?;
        d.partitions
            .iter()
            .find(|p| i64::from(p.part.number) == i64::from(partnum))
            .ok_or_else(|| CmdError::Failed(format!("{name}: partition {partnum} does not exist")))
    }
}
