//! Whether a Linux guest's default kernel ([`super::kernel`]) can drive virtio devices at
//! boot: each of `virtio_blk`, `virtio_scsi`, `virtio_net` and `virtio_pci` is built in
//! (`modules.builtin` in `/lib/modules/VER` or `/usr/lib/modules/VER`, or `=y` in
//! `/boot/config-VER`, as virt-v2v's kernel check reads it) or a module in the kernel's
//! initramfs (`.ko`, `.ko.xz`, `.ko.zst`, `.ko.gz`; [`super::initramfs`]). A module only on
//! the root filesystem does not count for the disk drivers, which must find the root disk
//! before it is mounted; it does for `virtio_net` (`kernel/drivers/net/virtio_net.ko*` under
//! the modules directory), which udev loads once the root is mounted, and which virt-v2v looks
//! for there too. Likewise `virtio-rng` (the entropy device, `hw_rng_model`): built in
//! (`CONFIG_HW_RANDOM_VIRTIO=y`, `modules.builtin`) or a module on the root filesystem.

use super::initramfs;
use super::kernel::{default_kernel, BootKernel};
use super::view::View;
use super::Result;
use crate::guest::Guest;

/// The drivers looked for, with the kernel configuration symbol of each.
pub const DRIVERS: [(&str, &str); 4] = [("virtio_blk", "CONFIG_VIRTIO_BLK"), ("virtio_scsi", "CONFIG_SCSI_VIRTIO"), ("virtio_net", "CONFIG_VIRTIO_NET"), ("virtio_pci", "CONFIG_VIRTIO_PCI")];

/// Largest initramfs image read.
pub const INITRAMFS_MAX: u64 = 512 << 20;

/// What was found for the default kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtioDrivers {
    /// The default kernel, `None` when `/boot` has none.
    pub kernel: Option<BootKernel>,
    /// The initramfs read, if one was found.
    pub initramfs: Option<String>,
    /// Why the initramfs could not be read or was not found, when it was needed.
    pub problem: Option<String>,
    /// Each of [`DRIVERS`] with where it was found (`built in (/lib/modules/…/modules.builtin)`,
    /// `in /boot/initramfs-….img (usr/lib/modules/…/virtio_blk.ko.xz)`), `None` when missing.
    pub found: Vec<(&'static str, Option<String>)>,
    /// Where `virtio-rng` was found (built in or on the root filesystem), `None` when missing.
    pub rng: Option<String>,
}

impl VirtioDrivers {
    /// Where `driver` was found, `None` when it is missing.
    pub fn source(&self, driver: &str) -> Option<&str> {
        self.found.iter().find(|(d, _)| *d == driver).and_then(|(_, w)| w.as_deref())
    }

    /// What makes the drivers missing: the problem with the initramfs, or the lack of a kernel.
    pub fn why_missing(&self) -> String {
        match (&self.kernel, &self.problem) {
            (None, _) => "no kernel in /boot".to_string(),
            (Some(k), Some(p)) => format!("kernel {}: {p}", k.version),
            (Some(k), None) => format!("kernel {} chosen by {}, initramfs {}", k.version, k.source, self.initramfs.as_deref().unwrap_or("none")),
        }
    }
}

/// The module name of an archive or `modules.builtin` path (`…/virtio_blk.ko.xz` →
/// `virtio_blk`), `None` when it is not a kernel module.
fn module_name(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next()?;
    ["", ".xz", ".zst", ".gz"].iter().find_map(|ext| name.strip_suffix(ext).and_then(|n| n.strip_suffix(".ko")))
}

/// The initramfs of kernel `k`: the one its boot entry names, or the dracut, initramfs-tools
/// or SUSE name for its version.
fn initramfs_path(view: &View, k: &BootKernel) -> Option<String> {
    let v = &k.version;
    k.initrd.clone().or_else(|| {
        [format!("/boot/initramfs-{v}.img"), format!("/boot/initrd.img-{v}"), format!("/boot/initrd-{v}"), format!("/boot/initrd-{v}.img")].into_iter().find(|p| view.is_file(p))
    })
}

/// The module directories of kernel `version`: `/lib/modules/VER`, `/usr/lib/modules/VER`,
/// or, for Arch Linux's `vmlinuz-linux` (version `linux`), the one whose `pkgbase` file names
/// the kernel package.
fn module_dirs(view: &View, version: &str) -> Vec<String> {
    let dirs: Vec<String> = ["/lib/modules", "/usr/lib/modules"].iter().map(|d| format!("{d}/{version}")).filter(|d| view.file_type(d, true).is_some()).collect();
    if !dirs.is_empty() {
        return dirs;
    }
    view.list_dir("/usr/lib/modules")
        .into_iter()
        .map(|n| format!("/usr/lib/modules/{}", String::from_utf8_lossy(&n)))
        .filter(|d| view.small_text(&format!("{d}/pkgbase")).is_some_and(|t| t.trim() == version))
        .collect()
}

/// The drivers built into kernel `version`: (driver, source).
fn builtin(view: &View, version: &str) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for dir in module_dirs(view, version) {
        let f = format!("{dir}/modules.builtin");
        if let Some(text) = view.small_text(&f) {
            for (d, _) in DRIVERS {
                if text.lines().any(|l| module_name(l.trim()) == Some(d)) && !out.iter().any(|(o, _)| *o == d) {
                    out.push((d, format!("built in ({f})")));
                }
            }
        }
    }
    let f = format!("/boot/config-{version}");
    if let Some(text) = view.small_text(&f) {
        for (d, sym) in DRIVERS {
            if text.lines().any(|l| l.trim() == format!("{sym}=y")) && !out.iter().any(|(o, _)| *o == d) {
                out.push((d, format!("built in ({f}: {sym}=y)")));
            }
        }
    }
    out
}

/// Where kernel `k` has `virtio-rng`: built in, or a module on the root filesystem.
fn rng(view: &View, k: &BootKernel) -> Option<String> {
    for dir in module_dirs(view, &k.version) {
        let f = format!("{dir}/modules.builtin");
        if view.small_text(&f).is_some_and(|t| t.lines().any(|l| module_name(l.trim()) == Some("virtio-rng"))) {
            return Some(format!("built in ({f})"));
        }
    }
    let f = format!("/boot/config-{}", k.version);
    if view.small_text(&f).is_some_and(|t| t.lines().any(|l| l.trim() == "CONFIG_HW_RANDOM_VIRTIO=y")) {
        return Some(format!("built in ({f}: CONFIG_HW_RANDOM_VIRTIO=y)"));
    }
    root_module(view, &Some(k.clone()), "kernel/drivers/char/hw_random/virtio-rng.ko")
}

/// Where the module file `rel` (`kernel/drivers/net/virtio_net.ko`, compressed or not) of
/// kernel `k` is on the root filesystem.
fn root_module(view: &View, k: &Option<BootKernel>, rel: &str) -> Option<String> {
    for dir in module_dirs(view, &k.as_ref()?.version) {
        for ext in ["", ".xz", ".zst", ".gz"] {
            let f = format!("{dir}/{rel}{ext}");
            if view.is_file(&f) {
                return Some(format!("module {f} (loaded once the root is mounted)"));
            }
        }
    }
    None
}

impl Guest {
    /// The virtio drivers the default kernel of the Linux root `root` has at boot (see the
    /// module documentation), read with the root's fstab mountpoints in place.
    pub fn virtio_drivers(&self, root: &str) -> Result<VirtioDrivers> {
        let os = self.inspect_root(root)?;
        let mut view = View::new(self, root)?;
        for (mp, dev) in os.mountpoints.iter().filter(|(mp, _)| mp != "/") {
            view.add(self, dev, mp);
        }
        Ok(drivers(&view))
    }
}

/// [`Guest::virtio_drivers`] on a view.
fn drivers(view: &View) -> VirtioDrivers {
    let mut found: Vec<(&'static str, Option<String>)> = DRIVERS.iter().map(|(d, _)| (*d, None)).collect();
    let Some(kernel) = default_kernel(view) else { return VirtioDrivers { kernel: None, initramfs: None, problem: None, found, rng: None } };
    let rng = rng(view, &kernel);
    for (d, src) in builtin(view, &kernel.version) {
        if let Some(slot) = found.iter_mut().find(|(x, _)| *x == d) {
            slot.1 = Some(src);
        }
    }
    let mut out = VirtioDrivers { initramfs: initramfs_path(view, &kernel), kernel: Some(kernel), problem: None, found, rng };
    if out.found.iter().all(|(_, w)| w.is_some()) {
        return out;
    }
    match out.initramfs.clone() {
        None => out.problem = Some("no initramfs found for it in /boot".into()),
        Some(path) => {
            let entries = match view.read_capped(&path, INITRAMFS_MAX) {
                Ok(Some(data)) => {
                    // stop decompressing once every driver still missing has been seen
                    let mut wanted: Vec<&str> = out.found.iter().filter(|(_, w)| w.is_none()).map(|(d, _)| *d).collect();
                    initramfs::list_until(&data, |e| {
                        wanted.retain(|d| module_name(&e.name) != Some(*d));
                        wanted.is_empty()
                    })
                    .map_err(|e| e.to_string())
                }
                Ok(None) => Err("not a regular file".to_string()),
                Err(e) => Err(e.to_string()),
            };
            match entries {
                Ok(entries) => {
                    for e in &entries {
                        let Some(m) = module_name(&e.name) else { continue };
                        if let Some(slot) = out.found.iter_mut().find(|(x, w)| *x == m && w.is_none()) {
                            slot.1 = Some(format!("in {path} ({})", e.name.trim_start_matches("./")));
                        }
                    }
                }
                Err(e) => out.problem = Some(format!("{path}: {e}")),
            }
        }
    }
    let net = root_module(view, &out.kernel, "kernel/drivers/net/virtio_net.ko");
    if let Some(slot) = out.found.iter_mut().find(|(x, w)| *x == "virtio_net" && w.is_none()) {
        slot.1 = net;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names() {
        assert_eq!(module_name("usr/lib/modules/6.1/kernel/drivers/block/virtio_blk.ko.xz"), Some("virtio_blk"));
        assert_eq!(module_name("kernel/drivers/net/virtio_net.ko"), Some("virtio_net"));
        assert_eq!(module_name("virtio_scsi.ko.zst"), Some("virtio_scsi"));
        assert_eq!(module_name("virtio_pci.ko.gz"), Some("virtio_pci"));
        assert_eq!(module_name("virtio_blk.ko.bz2"), None);
        assert_eq!(module_name("etc/virtio_blk.conf"), None);
    }
}
