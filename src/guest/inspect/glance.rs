//! Glance image properties derived from the guest, with where each came from: virt-v2v's
//! `-o openstack` rules (`output/openstack_image_properties.ml`) for what inspection knows —
//! `architecture`, `os_type`, `os_distro` (`archlinux` → `arch`, `sles` → `sled`, the rest as
//! inspection names it), `os_version` (major, or major.minor when the minor is not 0),
//! `hypervisor_type` and `vm_mode` — and, from the disk itself, the firmware
//! (`hw_firmware_type`: `uefi` when an ESP holds an EFI loader and no BIOS boot path exists,
//! `bios` otherwise, saying when both work; `hw_machine_type` `q35` with UEFI;
//! `os_secure_boot` `optional` when the EFI loader is a signed shim), `hw_qemu_guest_agent`,
//! `os_admin_user` (cloud-init's default user) and `cloud_init_installed`.
//!
//! The bus properties follow virt-v2v's choice for a Linux guest (`convert_linux.ml`: virtio_blk
//! if the kernel has it, else IDE; virtio_net, else e1000) mapped as its
//! `openstack_image_properties.ml` maps them, with one difference: the kernel must have the
//! driver at boot ([`super::virtio`]: built in or in the default kernel's initramfs), since
//! nothing rebuilds the initramfs here as virt-v2v does. So `hw_disk_bus` is `virtio` with
//! virtio_blk; with virtio_scsi only, `scsi` and `hw_scsi_model` `virtio-scsi` (virt-v2v's
//! pair for its virtio-scsi bus); else `ide`, with a warning. `hw_vif_model` is `virtio` with
//! virtio_net, else `e1000`, with a warning.
//!
//! A Windows guest gets the same first properties, from its registry and cmd.exe's PE header
//! (`os_version` is major.minor, e.g. `6.1`, as virt-v2v writes it), the firmware, and the bus
//! properties from the virtio-win drivers the image holds ([`super::windows_drivers`]: viostor →
//! `hw_disk_bus` `virtio`; else vioscsi → `scsi` with `hw_scsi_model` `virtio-scsi`; else `ide`,
//! with a warning; netkvm → `hw_vif_model` `virtio`, else `e1000`; viorng → `hw_rng_model`
//! `virtio`). The Linux checks (qemu-guest-agent, cloud-init) are not made for it.

use super::view::View;
use super::Result;
use crate::guest::Guest;
use crate::part::PartKind;
use serde::Serialize;

/// The GPT type of an EFI System Partition.
const ESP_GUID: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
/// The GPT type of a BIOS boot partition (GRUB's core image on GPT disks).
const BIOS_BOOT_GUID: &str = "21686148-6449-6E6F-744E-656564454649";

/// One Glance property: key, value, and where the value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Property {
    /// Property name (`os_distro`…).
    pub key: String,
    /// Its value.
    pub value: String,
    /// Where it came from (`/etc/os-release`, `/dev/sda2: /EFI/BOOT/BOOTX64.EFI`…).
    pub source: String,
}

/// What can boot the disks: EFI loaders on ESPs (partition, path), and BIOS boot paths.
pub(crate) struct BootPaths {
    /// EFI loaders: (ESP partition, path in it).
    pub efi: Vec<(String, String)>,
    /// BIOS boot paths, described.
    pub bios: Vec<String>,
}

fn prop(key: &str, value: impl Into<String>, source: impl Into<String>) -> Property {
    Property { key: key.into(), value: value.into(), source: source.into() }
}

/// The Glance name of an inspection distro.
fn glance_distro(distro: &str) -> &str {
    match distro {
        "archlinux" => "arch",
        "sles" => "sled",
        other => other,
    }
}

/// cloud-init's default user: `name:` under `default_user:` in `/etc/cloud/cloud.cfg`.
fn cloud_default_user(cfg: &str) -> Option<String> {
    let mut lines = cfg.lines().skip_while(|l| l.trim_start() != "default_user:" && !l.trim_start().starts_with("default_user:"));
    let head = lines.next()?;
    let indent = head.len() - head.trim_start().len();
    for l in lines {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if l.len() - t.len() <= indent {
            break;
        }
        if let Some(v) = t.strip_prefix("name:") {
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
            return (!v.is_empty()).then(|| v.to_string());
        }
    }
    None
}

impl Guest {
    /// The EFI loaders of the ESPs of the disks, and the BIOS boot paths: a BIOS boot
    /// partition or an MBR with boot code.
    pub(crate) fn boot_paths(&self) -> Result<BootPaths> {
        let (mut efi, mut bios) = (Vec::new(), Vec::new());
        for disk in self.disks()? {
            if let Some(t) = &disk.table {
                if matches!(t.kind, crate::part::TableKind::Mbr) {
                    let mut code = [0u8; 440];
                    if disk.dev.read_at(&mut code, 0).is_ok() && code.iter().any(|&b| b != 0) {
                        bios.push(format!("{}: boot code in the MBR", disk.name));
                    }
                }
            }
            for p in &disk.partitions {
                let (esp, bios_boot) = match &p.part.kind {
                    PartKind::Gpt { type_guid, .. } => (type_guid == ESP_GUID, type_guid == BIOS_BOOT_GUID),
                    PartKind::Mbr { id, .. } => (*id == 0xef, false),
                };
                if bios_boot {
                    bios.push(format!("{}: BIOS boot partition", p.name));
                }
                if esp {
                    let Ok(view) = View::new(self, &p.name) else { continue };
                    for dir in view.list_dir("/EFI") {
                        let dir = String::from_utf8_lossy(&dir).into_owned();
                        for f in view.list_dir(&format!("/EFI/{dir}")) {
                            let f = String::from_utf8_lossy(&f).into_owned();
                            if f.to_ascii_lowercase().ends_with(".efi") {
                                efi.push((p.name.clone(), format!("/EFI/{dir}/{f}")));
                            }
                        }
                    }
                }
            }
        }
        Ok(BootPaths { efi, bios })
    }

    /// Glance properties of the operating system at `root` (see the module documentation),
    /// read with its fstab mountpoints in place.
    pub fn glance_properties(&self, root: &str) -> Result<Vec<Property>> {
        let os = self.inspect_root(root)?;
        let mut view = View::new(self, root)?;
        for (mp, dev) in os.mountpoints.iter().filter(|(mp, _)| mp != "/") {
            view.add(self, dev, mp);
        }
        let (release, arch_source) = match &os.windows_systemroot {
            Some(sr) => ("the SOFTWARE hive (Microsoft\\Windows NT\\CurrentVersion)".to_string(), format!("the PE header of {sr}/System32/cmd.exe")),
            None => ("the release files (/etc/os-release…)".to_string(), "the ELF header of a system binary".to_string()),
        };
        let release = release.as_str();
        let mut out = Vec::new();
        if os.arch != "unknown" {
            out.push(prop("architecture", os.arch.clone(), arch_source));
        }
        out.push(prop("os_type", os.os_type.clone(), "inspection"));
        if os.distro != "unknown" {
            out.push(prop("os_distro", glance_distro(&os.distro), format!("{release}: distro {} (osinfo {})", os.distro, os.osinfo)));
        }
        match (os.major_version, os.minor_version) {
            (0, 0) => {}
            (x, 0) => out.push(prop("os_version", x.to_string(), release)),
            (x, y) => out.push(prop("os_version", format!("{x}.{y}"), release)),
        }
        out.push(prop("hypervisor_type", "kvm", "virt-v2v's default"));
        out.push(prop("vm_mode", "hvm", "virt-v2v's default"));

        let BootPaths { efi, bios } = self.boot_paths()?;
        let efi_text = efi.iter().map(|(p, f)| format!("{p}: {f}")).collect::<Vec<_>>().join(", ");
        match (efi.is_empty(), bios.is_empty()) {
            (false, true) => {
                out.push(prop("hw_firmware_type", "uefi", format!("EFI loader {efi_text}; no BIOS boot path")));
                out.push(prop("hw_machine_type", "q35", "UEFI firmware"));
            }
            (false, false) => out.push(prop("hw_firmware_type", "bios", format!("both work: {} and EFI loader {efi_text}; BIOS is the default", bios.join(", ")))),
            (true, false) => out.push(prop("hw_firmware_type", "bios", bios.join(", "))),
            (true, true) => out.push(prop("hw_firmware_type", "bios", "no EFI loader found (and no BIOS boot code either)")),
        }
        if let Some((p, f)) = efi.iter().find(|(_, f)| f.rsplit('/').next().is_some_and(|n| n.to_ascii_lowercase().starts_with("shim"))) {
            out.push(prop("os_secure_boot", "optional", format!("signed shim {p}: {f}")));
        }
        if os.windows_systemroot.is_some() {
            self.windows_virtio_properties(root, &mut out)?;
            return Ok(out);
        }
        let agent = ["/usr/bin/qemu-ga", "/usr/sbin/qemu-ga"].into_iter().find(|b| view.is_file(b));
        let enabled = ["/etc/systemd/system/multi-user.target.wants/qemu-guest-agent.service", "/etc/systemd/system/sysinit.target.wants/qemu-guest-agent.service"]
            .into_iter()
            .find(|l| view.readlink(l).is_some());
        if let (Some(b), Some(l)) = (agent, enabled) {
            out.push(prop("hw_qemu_guest_agent", "yes", format!("{b}, enabled by {l}")));
        }
        self.virtio_properties(root, &mut out)?;
        let cloud_init = ["/usr/bin/cloud-init", "/usr/local/bin/cloud-init"].into_iter().find(|b| view.is_file(b));
        out.push(prop("cloud_init_installed", if cloud_init.is_some() { "true" } else { "false" }, cloud_init.unwrap_or("no cloud-init binary in /usr/bin")));
        if let Some(user) = view.small_text("/etc/cloud/cloud.cfg").and_then(|t| cloud_default_user(&t)) {
            out.push(prop("os_admin_user", user, "/etc/cloud/cloud.cfg: system_info.default_user.name"));
        }
        Ok(out)
    }

    /// `hw_disk_bus`, `hw_scsi_model`, `hw_vif_model` and `hw_rng_model` of a Windows guest
    /// from its virtio-win drivers, with a warning for each bus that falls back to an emulated
    /// device.
    fn windows_virtio_properties(&self, root: &str, out: &mut Vec<Property>) -> Result<()> {
        let d = self.windows_virtio_drivers(root)?;
        let get = |n: &str| d.iter().find(|(name, _)| *name == n).map(|(_, r)| r.clone()).unwrap_or_else(|| Err(format!("{n} not looked for")));
        match (get("viostor"), get("vioscsi")) {
            (Ok(src), _) => out.push(prop("hw_disk_bus", "virtio", format!("viostor: {src}"))),
            (Err(_), Ok(src)) => {
                out.push(prop("hw_disk_bus", "scsi", format!("vioscsi: {src}; no viostor")));
                out.push(prop("hw_scsi_model", "virtio-scsi", format!("vioscsi: {src}")));
            }
            (Err(a), Err(b)) => {
                let why = format!("no viostor nor vioscsi at boot: {a}; {b}");
                self.note_warning(format!("{root}: hw_disk_bus=ide: {why}"));
                out.push(prop("hw_disk_bus", "ide", why));
            }
        }
        match get("netkvm") {
            Ok(src) => out.push(prop("hw_vif_model", "virtio", format!("netkvm: {src}"))),
            Err(why) => {
                self.note_warning(format!("{root}: hw_vif_model=e1000: {why}"));
                out.push(prop("hw_vif_model", "e1000", why));
            }
        }
        if let Ok(src) = get("viorng") {
            out.push(prop("hw_rng_model", "virtio", format!("viorng: {src}")));
        }
        Ok(())
    }

    /// `hw_disk_bus`, `hw_scsi_model`, `hw_vif_model` and `hw_rng_model` from the default kernel's drivers,
    /// with a warning for each bus that falls back to an emulated device.
    fn virtio_properties(&self, root: &str, out: &mut Vec<Property>) -> Result<()> {
        let d = self.virtio_drivers(root)?;
        let with_pci = |src: &str| match d.source("virtio_pci") {
            Some(_) => src.to_string(),
            None => format!("{src}; virtio_pci not found ({})", d.why_missing()),
        };
        if let Some(src) = d.source("virtio_blk") {
            out.push(prop("hw_disk_bus", "virtio", with_pci(&format!("virtio_blk {src}"))));
        } else if let Some(src) = d.source("virtio_scsi") {
            out.push(prop("hw_disk_bus", "scsi", with_pci(&format!("virtio_scsi {src}; no virtio_blk"))));
            out.push(prop("hw_scsi_model", "virtio-scsi", format!("virtio_scsi {src}")));
        } else {
            let why = format!("no virtio_blk nor virtio_scsi at boot: {}", d.why_missing());
            self.note_warning(format!("{root}: hw_disk_bus=ide: {why}"));
            out.push(prop("hw_disk_bus", "ide", why));
        }
        if let Some(src) = d.source("virtio_net") {
            out.push(prop("hw_vif_model", "virtio", with_pci(&format!("virtio_net {src}"))));
        } else {
            let why = format!("no virtio_net at boot: {}", d.why_missing());
            self.note_warning(format!("{root}: hw_vif_model=e1000: {why}"));
            out.push(prop("hw_vif_model", "e1000", why));
        }
        // virt-v2v: hw_rng_model=virtio when the guest can drive a virtio-rng device
        if let Some(src) = &d.rng {
            out.push(prop("hw_rng_model", "virtio", format!("virtio-rng {src}")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_user_of_cloud_cfg() {
        let cfg = "users:\n - default\nsystem_info:\n   distro: rhel\n   default_user:\n     name: cloud-user\n     lock_passwd: true\n   paths:\n     cloud_dir: /var/lib/cloud\n";
        assert_eq!(cloud_default_user(cfg).as_deref(), Some("cloud-user"));
        assert_eq!(cloud_default_user("system_info:\n  default_user:\n    lock_passwd: true\n  other:\n    name: x\n"), None);
        assert_eq!(cloud_default_user("garbage"), None);
        assert_eq!(glance_distro("archlinux"), "arch");
        assert_eq!(glance_distro("rocky"), "rocky");
    }
}
