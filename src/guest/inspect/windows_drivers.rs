//! Whether a Windows guest can drive virtio devices: the virtio-win drivers `viostor`
//! (virtio-blk), `vioscsi` (virtio-scsi), `netkvm` (virtio-net) and `viorng` (virtio-rng) count
//! when the driver file `System32\drivers\NAME.sys` is there and the current control set of the
//! SYSTEM hive has its service `Services\NAME`; a storage driver must also start at boot
//! (`Start` = 0: Windows needs it to find its own disk, else it stops with
//! INACCESSIBLE_BOOT_DEVICE). virt-v2v installs these drivers itself from virtio-win; here the
//! image is taken as it is.

use super::view::View;
use super::windows::{current_control_set, open_hive};
use super::{Error, Result};
use crate::guest::Guest;

/// Each driver looked for with where it was found (`Ok`), or why it does not count (`Err`).
pub type Drivers = Vec<(&'static str, std::result::Result<String, String>)>;

/// The drivers looked for: (service name, whether it must start at boot).
pub const DRIVERS: [(&str, bool); 4] = [("viostor", true), ("vioscsi", true), ("netkvm", false), ("viorng", false)];

impl Guest {
    /// The virtio-win drivers of the Windows root `root`: each of [`DRIVERS`] with where it
    /// was found, or why it does not count; an error for other roots.
    pub fn windows_virtio_drivers(&self, root: &str) -> Result<Drivers> {
        let os = self.inspect_root(root)?;
        let systemroot = os.windows_systemroot.ok_or_else(|| Error::Unsupported(format!("{root}: not a Windows root")))?;
        drivers(&View::new(self, root)?, &systemroot)
    }
}

/// [`Guest::windows_virtio_drivers`] on a view.
fn drivers(view: &View, systemroot: &str) -> Result<Drivers> {
    let system = open_hive(view, systemroot, "system")?;
    let set = match &system {
        Some(h) => current_control_set(h)?,
        None => None,
    };
    let mut out = Vec::new();
    for (name, boot) in DRIVERS {
        let file = view.case_path(&format!("{systemroot}/system32/drivers/{name}.sys")).filter(|p| view.is_file(p));
        let found = match (&system, &set, file) {
            (_, _, None) => Err(format!("no {systemroot}/System32/drivers/{name}.sys")),
            (None, _, Some(_)) | (_, None, Some(_)) => Err("no SYSTEM hive or current control set".to_string()),
            (Some(h), Some(set), Some(file)) => match h.path(&[set, "Services", name])? {
                None => Err(format!("{file} but no service {set}\\Services\\{name}")),
                Some(svc) => {
                    let start = h.value(svc, "Start")?.and_then(|v| v.as_dword());
                    if boot && start != Some(0) {
                        let start = start.map_or("missing".to_string(), |s| s.to_string());
                        Err(format!("{file}, service {set}\\Services\\{name} with Start {start}, not 0 (boot)"))
                    } else {
                        Ok(format!("{file}, service {set}\\Services\\{name}"))
                    }
                }
            },
        };
        out.push((name, found));
    }
    Ok(out)
}
