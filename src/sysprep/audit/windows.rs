//! `vsysprep --audit` on a Windows guest: the image guide's Windows items — the virtio-win
//! drivers (viostor or vioscsi starting at boot, else the instance stops with
//! INACCESSIBLE_BOOT_DEVICE; netkvm, else it has no network; `Guest::windows_virtio_drivers`),
//! cloudbase-init (what cloud-init is to Linux: it takes the instance's name, password, keys and
//! user data from the metadata service), the QEMU guest agent, the root layout and a boot loader.
//! The Linux checks (sshd, files under /etc, DHCP stacks…) do not apply and are not run.

use super::{boot_loader, finding, root_layout, Finding, Status};
use crate::guest::inspect::OsInfo;
use crate::sysprep::Result;
use crate::Guest;

/// The first of `paths` (any case, as on NTFS) that exists in the mounted guest.
fn first_present(g: &Guest, paths: &[&str]) -> Option<String> {
    paths.iter().find_map(|p| g.case_sensitive_path(p).ok().filter(|p| g.file_type(p, true).ok().flatten().is_some()))
}

/// The checks of a Windows guest mounted at `/`.
pub(super) fn audit(g: &Guest, os: &OsInfo) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    let cbi = first_present(g, &["/Program Files/Cloudbase Solutions/Cloudbase-Init", "/Program Files (x86)/Cloudbase Solutions/Cloudbase-Init"]);
    out.push(finding(
        "cloudbase-init",
        cbi.is_some(),
        Status::Fail,
        format!("installed ({})", cbi.unwrap_or_default()),
        "not installed: OpenStack cannot set the instance's name, admin password, keys or user data",
    ));
    let qga = first_present(g, &["/Program Files/Qemu-ga/qemu-ga.exe", "/Program Files (x86)/Qemu-ga/qemu-ga.exe"]);
    out.push(finding(
        "qemu-guest-agent",
        qga.is_some(),
        Status::Warn,
        format!("installed ({})", qga.unwrap_or_default()),
        "not installed (no Program Files/Qemu-ga/qemu-ga.exe): Nova cannot quiesce filesystems for snapshots or set passwords",
    ));
    out.push(virtio(g, &os.root));
    let (layout_ok, layout) = root_layout(g, &os.root)?;
    out.push(finding("root-layout", layout_ok, Status::Warn, layout.clone(), layout));
    out.push(boot_loader(g)?);
    Ok(out)
}

/// The `virtio-drivers` check of a Windows root.
fn virtio(g: &Guest, root: &str) -> Finding {
    let d = match g.windows_virtio_drivers(root) {
        Ok(d) => d,
        Err(e) => return finding("virtio-drivers", false, Status::Fail, "", format!("cannot be checked: {e}")),
    };
    let get = |n: &str| d.iter().find(|(name, _)| *name == n).map(|(_, r)| r.clone()).unwrap_or_else(|| Err(format!("{n} not looked for")));
    let disk = match (get("viostor"), get("vioscsi")) {
        (Ok(s), _) => Ok(format!("viostor: {s}")),
        (Err(_), Ok(s)) => Ok(format!("vioscsi: {s}")),
        (Err(a), Err(b)) => Err(format!("no viostor nor vioscsi at boot ({a}; {b}): the instance stops with INACCESSIBLE_BOOT_DEVICE")),
    };
    let net = get("netkvm").map(|s| format!("netkvm: {s}")).map_err(|e| format!("no netkvm ({e}): the instance will have no network"));
    match (disk, net) {
        (Ok(a), Ok(b)) => finding("virtio-drivers", true, Status::Fail, format!("{a}; {b}"), ""),
        (a, b) => {
            let why: Vec<String> = [a.err(), b.err()].into_iter().flatten().collect();
            finding("virtio-drivers", false, Status::Fail, "", format!("missing: {}", why.join("; ")))
        }
    }
}
