//! The `virtio-drivers` check of `vsysprep --audit`: OpenStack gives instances virtio disks
//! and NICs, so the default kernel must have virtio_blk (or virtio_scsi) and virtio_net at
//! boot, built in or in its initramfs (`Guest::virtio_drivers`); virtio_pci, their transport,
//! missing is a warning (older kernels have no `modules.builtin` to show it built in).

use super::{Finding, Status, CHECKS};
use crate::guest::inspect::OsInfo;
use crate::Guest;

/// The check's name in [`CHECKS`].
const CHECK: &str = "virtio-drivers";

/// Runs the check on the root of `os`.
pub(super) fn check(g: &Guest, os: &OsInfo) -> Finding {
    debug_assert!(CHECKS.iter().any(|(n, _)| *n == CHECK));
    let d = match g.virtio_drivers(&os.root) {
        Ok(d) => d,
        Err(e) => return Finding { check: CHECK, status: Status::Fail, detail: format!("cannot be checked: {e}") },
    };
    let disk = d.source("virtio_blk").map(|s| ("virtio_blk", s)).or_else(|| d.source("virtio_scsi").map(|s| ("virtio_scsi", s)));
    let net = d.source("virtio_net");
    let mut missing = Vec::new();
    if disk.is_none() {
        missing.push("virtio_blk and virtio_scsi: the instance will not find its root disk");
    }
    if net.is_none() {
        missing.push("virtio_net: the instance will have no network");
    }
    if !missing.is_empty() {
        return Finding { check: CHECK, status: Status::Fail, detail: format!("missing {} ({})", missing.join("; "), d.why_missing()) };
    }
    let (disk, disk_src) = disk.unwrap_or_default();
    let found = format!("{disk} {disk_src}; virtio_net {}", net.unwrap_or_default());
    match d.source("virtio_pci") {
        Some(pci) => Finding { check: CHECK, status: Status::Pass, detail: format!("{found}; virtio_pci {pci}") },
        None => Finding { check: CHECK, status: Status::Warn, detail: format!("{found}; but virtio_pci not found built in nor in the initramfs: the virtio devices may not appear") },
    }
}
