//! `df` and `df-h`: the table GNU coreutils `df` (resp. `df -h`) prints in the libguestfs
//! appliance, for the guest filesystems vfish has mounted, in mount order. As the appliance
//! shows them: the source is the kernel's device name (`/dev/sda1`; an LV as
//! `/dev/mapper/VG-LV`, the name `mount` records for a device-mapper device) and the
//! mountpoint is under `/sysroot`. The table is [`vguestfs::tool::df`]'s coreutils layout.

use crate::command::Args;
use crate::error::CmdResult;
use crate::session::Session;
use std::io::Write;
use vguestfs::tool::df::{coreutils_row, coreutils_table, mapper_name};

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
        if let Some(row) = coreutils_row(&source, &target, &v, human) {
            rows.push(row);
        }
    }
    write!(out, "{}", coreutils_table(&rows, human))?;
    Ok(())
}

