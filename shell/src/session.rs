//! The state commands act on: the guest (drives, then the device map after `run`) and the
//! settings from the command line that commands honour.

use crate::commands::CmdError;
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
}

impl Session {
    /// A session with no drives.
    pub fn new(readonly: bool) -> Session {
        Session {
            guest: Guest::new(),
            readonly,
            quit: false,
            inspected_root: None,
        }
    }

    /// `sync`: writes what the filesystems hold to the disk images (commits the overlays).
    pub fn sync(&mut self) -> Result<(), CmdError> {
        if self.guest.is_launched() {
            self.guest.commit()?;
        }
        Ok(())
    }

    /// At exit: unmounts everything (filesystems write what they hold to their devices),
    /// then commits the writable drives' overlays to the image files.
    pub fn close(&mut self) -> Result<(), CmdError> {
        self.guest.umount_all()?;
        if self.guest.is_launched() {
            self.guest.commit()?;
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
