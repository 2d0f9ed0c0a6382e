//! Facts about the guest that operations and customize options decide by.

use crate::Guest;
use crate::sysprep::Result;

/// Whether the guest's distro is of the Red Hat family.
pub fn rh_family(distro: &str) -> bool {
    matches!(
        distro,
        "fedora" | "rhel" | "centos" | "scientificlinux" | "oraclelinux" | "redhat-based" | "rocky" | "almalinux"
    )
}

/// Whether the guest boots with systemd.
pub fn has_systemd(g: &Guest) -> Result<bool> {
    for p in ["/lib/systemd/systemd", "/usr/lib/systemd/systemd"] {
        if g.file_type(p, true)?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}
