//! Guest OS inspection, after libguestfs's: `inspect_os` finds the root filesystems of the
//! operating systems in the guest — Linux and Windows — (mounting each filesystem read-only in a
//! private mount table, so that nothing stays mounted), and `inspect_get_*` tell what each root
//! holds: distro, product, version, hostname, architecture, package manager, fstab mountpoints,
//! applications; for Windows the system root, the registry's control set and drive letters.

mod application;
pub mod cpio;
mod distro;
mod elf;
mod fstab;
pub mod glance;
pub mod hive;
pub mod initramfs;
pub mod kernel;
mod packages;
mod pe;
mod release;
pub mod rpmdb;
mod view;
pub mod virtio;
mod windows;
pub mod windows_drivers;

pub use application::Application;

use crate::guest::Guest;
use crate::part::PartKind;
use serde::Serialize;
use view::View;

/// Errors of inspection.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The device is not a root found by inspection.
    #[error("{0}: not a root device found by inspection (see inspect-os)")]
    NotARoot(String),
    /// A guest file is larger than inspection reads.
    #[error("{path}: file too large ({size} bytes, at most {max} are read)")]
    TooLarge {
        /// Guest path.
        path: String,
        /// Its size.
        size: u64,
        /// The cap.
        max: u64,
    },
    /// The package database file is missing.
    #[error("{0}: package database not found in the guest")]
    NoDatabase(String),
    /// Something inspection cannot do (yet).
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The rpm database is damaged.
    #[error(transparent)]
    Rpmdb(#[from] rpmdb::Error),
    /// A Windows registry hive is damaged.
    #[error(transparent)]
    Hive(#[from] hive::Error),
    /// The layers below failed.
    #[error(transparent)]
    Guest(#[from] super::Error),
}

impl From<crate::fs::Error> for Error {
    fn from(e: crate::fs::Error) -> Self {
        Error::Guest(e.into())
    }
}

/// Result of inspection calls.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything inspection knows about one root; strings are `unknown` when not found, as the
/// libguestfs `inspect_get_*` calls return them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsInfo {
    /// The root device.
    pub root: String,
    /// `linux` or `windows` (`inspect_get_type`).
    #[serde(rename = "name")]
    pub os_type: String,
    /// libguestfs distro name (`windows` for Windows).
    pub distro: String,
    /// Product name.
    pub product_name: String,
    /// Product variant: Windows's `InstallationType` (`Client`, `Server`…), else `unknown`.
    pub product_variant: String,
    /// Major version.
    pub major_version: u32,
    /// Minor version.
    pub minor_version: u32,
    /// Architecture from an ELF binary (a PE one, cmd.exe, on Windows).
    pub arch: String,
    /// Host name.
    pub hostname: String,
    /// `deb`, `rpm`, `apk`, `pacman`…
    pub package_format: String,
    /// `apt`, `yum`, `dnf`, `zypper`, `apk`, `pacman`…
    pub package_management: String,
    /// `installed`.
    pub format: String,
    /// libosinfo short id (`rhel9.4`, `debian12`, `win7`…) or `unknown`.
    pub osinfo: String,
    /// Build id: Windows's `CurrentBuildNumber`, else `unknown`.
    pub build_id: String,
    /// Windows: the system root as the filesystem spells it (`/Windows`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows_systemroot: Option<String>,
    /// Windows: the current control set of the SYSTEM hive (`ControlSet001`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows_current_control_set: Option<String>,
    /// Windows: (drive letter, device) from the SYSTEM hive's `MountedDevices`, by letter.
    /// Not serialized: reports give them their own shape.
    #[serde(skip)]
    pub drive_mappings: Vec<(String, String)>,
    /// (mountpoint, device) from fstab, shortest mountpoint first (then by name): the order
    /// in which to mount them. Not serialized: reports give them their own shape.
    #[serde(skip)]
    pub mountpoints: Vec<(String, String)>,
    /// Devices of this OS: the root and what its fstab names (swap included). Not serialized.
    #[serde(skip)]
    pub filesystems: Vec<String>,
}

/// Whether the filesystem mounted as `/` of `view` looks like a Linux root (libguestfs's
/// test: `/etc` is a directory, `/bin` a directory or a symlink to `usr/bin`, and `/etc/fstab`
/// or `/etc/hosts` a file).
fn is_linux_root(view: &View) -> bool {
    let bin = view.file_type("/bin", false) == Some(crate::fs::FileType::Directory)
        || view.readlink("/bin").is_some_and(|t| t == b"usr/bin" || t == b"/usr/bin");
    view.file_type("/etc", false) == Some(crate::fs::FileType::Directory)
        && bin
        && (view.is_file("/etc/fstab") || view.is_file("/etc/hosts"))
}

/// The first non-empty line of a small file.
fn first_line(view: &View, path: &str) -> Option<String> {
    let text = view.small_text(path)?;
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_string())
}

/// The host name: `/etc/HOSTNAME`, `/etc/hostname`, then `HOSTNAME=` in
/// `/etc/sysconfig/network`.
fn hostname(view: &View) -> Option<String> {
    first_line(view, "/etc/HOSTNAME").or_else(|| first_line(view, "/etc/hostname")).or_else(|| {
        let text = view.small_text("/etc/sysconfig/network")?;
        let v = text.lines().find_map(|l| l.trim().strip_prefix("HOSTNAME="))?;
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
        (!v.is_empty()).then(|| v.to_string())
    })
}

/// The architecture from the first of [`elf::ARCH_BINARIES`] that is an ELF file.
fn arch(view: &View) -> Option<&'static str> {
    elf::ARCH_BINARIES.iter().find_map(|bin| elf::elf_arch(&view.head(bin, elf::HEADER_LEN)?))
}

/// Sorts mountpoints as they must be mounted: shortest first, then by name.
fn sort_mountpoints(mps: &mut [(String, String)]) {
    mps.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
}

impl Guest {
    /// The session's devices with the names fstab entries may use.
    fn fstab_devices(&self) -> Result<fstab::Devices> {
        let mut d = fstab::Devices { disks: self.list_devices()?, ..Default::default() };
        d.names.extend(d.disks.iter().cloned());
        for disk in self.disks()? {
            for p in &disk.partitions {
                d.names.push(p.name.clone());
                if let PartKind::Gpt { guid, .. } = &p.part.kind {
                    d.partuuids.push((p.name.clone(), guid.clone()));
                }
            }
        }
        d.names.extend(self.lvs()?);
        for (dev, _) in self.list_filesystems()? {
            if let Ok(Some(info)) = self.probe(&dev) {
                d.filesystems.push((dev, info.uuid, info.label));
            }
        }
        Ok(d)
    }

    /// `inspect-os`: the devices holding the root filesystem of an operating system, sorted.
    /// Each filesystem is opened read-only in a private mount table; filesystems that cannot
    /// be opened (swap, unsupported types, damaged ones) are skipped. Nothing stays mounted.
    pub fn inspect_os(&self) -> Result<Vec<String>> {
        let mut roots = Vec::new();
        for (dev, fs_type) in self.list_filesystems()? {
            if fs_type == "swap" || fs_type == "unknown" {
                continue;
            }
            if View::new(self, &dev).is_ok_and(|v| is_linux_root(&v) || windows::systemroot(&v).is_some()) {
                roots.push(dev);
            }
        }
        roots.sort();
        Ok(roots)
    }

    /// Everything inspection knows about `root` (one call instead of one per `inspect_get_*`).
    pub fn inspect_root(&self, root: &str) -> Result<OsInfo> {
        let view = View::new(self, root).map_err(|_| Error::NotARoot(root.to_string()))?;
        if !is_linux_root(&view) {
            return match windows::systemroot(&view) {
                Some(systemroot) => self.inspect_windows(root, &view, &systemroot),
                None => Err(Error::NotARoot(root.to_string())),
            };
        }
        let rel = release::detect(&view);
        let distro = rel.distro.unwrap_or("unknown");
        let (major, minor) = rel.version.unwrap_or((0, 0));
        let devices = self.fstab_devices()?;
        let entries = view.small_text("/etc/fstab").map(|t| fstab::parse(&t, &devices, root)).unwrap_or_default();
        let mut mountpoints: Vec<(String, String)> = Vec::new();
        for (dev, mp) in &entries {
            if mp.starts_with('/') && !mountpoints.iter().any(|(m, _)| m == mp) {
                mountpoints.push((mp.clone(), dev.clone()));
            }
        }
        if mountpoints.is_empty() {
            mountpoints.push(("/".into(), root.to_string()));
        }
        sort_mountpoints(&mut mountpoints);
        let mut filesystems = vec![root.to_string()];
        for (dev, _) in entries {
            if !filesystems.contains(&dev) {
                filesystems.push(dev);
            }
        }
        let unknown = || "unknown".to_string();
        Ok(OsInfo {
            root: root.to_string(),
            os_type: "linux".into(),
            distro: distro.into(),
            product_name: rel.product_name.clone().unwrap_or_else(unknown),
            product_variant: unknown(),
            major_version: major,
            minor_version: minor,
            arch: arch(&view).map(str::to_string).unwrap_or_else(unknown),
            hostname: hostname(&view).unwrap_or_else(unknown),
            package_format: distro::package_format(distro).into(),
            package_management: distro::package_management(distro, major, view.is_file("/usr/bin/dnf")).into(),
            format: "installed".into(),
            osinfo: distro::osinfo(distro, rel.product_name.as_deref().unwrap_or(""), major, minor),
            build_id: unknown(),
            windows_systemroot: None,
            windows_current_control_set: None,
            drive_mappings: Vec::new(),
            mountpoints,
            filesystems,
        })
    }

    /// The inspection of the Windows root `root` whose system root is `systemroot`: mounted
    /// alone at `/` (its other drives are not mounted, as libguestfs does).
    fn inspect_windows(&self, root: &str, view: &View, systemroot: &str) -> Result<OsInfo> {
        let w = windows::inspect(view, systemroot)?;
        let unknown = || "unknown".to_string();
        let (major, minor) = w.version.unwrap_or((0, 0));
        let name = w.product_name.clone().unwrap_or_else(unknown);
        let variant = w.product_variant.clone().unwrap_or_else(unknown);
        let build_id = w.build_id.clone().unwrap_or_else(unknown);
        Ok(OsInfo {
            root: root.to_string(),
            os_type: "windows".into(),
            distro: "windows".into(),
            osinfo: windows::osinfo(&name, &variant, major, minor, &build_id),
            product_name: name,
            product_variant: variant,
            major_version: major,
            minor_version: minor,
            arch: w.arch.map(str::to_string).unwrap_or_else(unknown),
            hostname: w.hostname.unwrap_or_else(unknown),
            package_format: unknown(),
            package_management: unknown(),
            format: "installed".into(),
            build_id,
            windows_systemroot: Some(w.systemroot),
            windows_current_control_set: w.current_control_set,
            drive_mappings: windows::drive_mappings(&w.mounted, self.disks()?),
            mountpoints: vec![("/".into(), root.to_string())],
            filesystems: vec![root.to_string()],
        })
    }

    /// `inspect-get-type`: `linux` or `windows`.
    pub fn inspect_get_type(&self, root: &str) -> Result<String> {
        Ok(self.inspect_root(root)?.os_type)
    }

    /// `inspect-get-distro`: libguestfs's distro name (`debian`, `ubuntu`, `centos`, `rhel`,
    /// `rocky`, `fedora`, `alpinelinux`, `archlinux`, `cirros`, `opensuse`, `sles`…).
    pub fn inspect_get_distro(&self, root: &str) -> Result<String> {
        Ok(self.inspect_root(root)?.distro)
    }

    /// `inspect-get-product-name`.
    pub fn inspect_get_product_name(&self, root: &str) -> Result<String> {
        Ok(self.inspect_root(root)?.product_name)
    }

    /// `inspect-get-product-variant`: Windows's `InstallationType` (`Client`, `Server`…), else
    /// `unknown`.
    pub fn inspect_get_product_variant(&self, root: &str) -> Result<String> {
        Ok(self.inspect_root(root)?.product_variant)
    }

    /// `inspect-get-build-id`: Windows's `CurrentBuildNumber`, else `unknown`.
    pub fn inspect_get_build_id(&self, root: &str) -> Result<String> {
        Ok(self.inspect_root(root)?.build_id)
    }

    /// `inspect-get-windows-systemroot`: an error when `root` is not a Windows root.
    pub fn inspect_get_windows_systemroot(&self, root: &str) -> Result<String> {
        self.inspect_root(root)?.windows_systemroot.ok_or_else(|| Error::Unsupported(format!("{root}: not a Windows root")))
    }

    /// `inspect-get-windows-current-control-set`: an error when `root` is not a Windows root
    /// or its SYSTEM hive names no current control set.
    pub fn inspect_get_windows_current_control_set(&self, root: &str) -> Result<String> {
        let info = self.inspect_root(root)?;
        info.windows_current_control_set.ok_or_else(|| Error::Unsupported(format!("{root}: no Windows current control set")))
    }

    /// `inspect-get-drive-mappings`: (drive letter, device) of a Windows root, by letter;
    /// empty for other roots.
    pub fn inspect_get_drive_mappings(&self, root: &str) -> Result<Vec<(String, String)>> {
        Ok(self.inspect_root(root)?.drive_mappings)
    }

    /// `inspect-get-major-version`.
    pub fn inspect_get_major_version(&self, root: &str) -> Result<u32> {
        Ok(self.inspect_root(root)?.major_version)
    }

    /// `inspect-get-minor-version`.
    pub fn inspect_get_minor_version(&self, root: &str) -> Result<u32> {
        Ok(self.inspect_root(root)?.minor_version)
    }

    /// `inspect-get-arch`: from the ELF header of one of the guest's binaries.
    pub fn inspect_get_arch(&self, root: &str) -> Result<String> {
        Ok(self.inspect_root(root)?.arch)
    }

    /// `inspect-get-hostname`.
    pub fn inspect_get_hostname(&self, root: &str) -> Result<String> {
        Ok(self.inspect_root(root)?.hostname)
    }

    /// `inspect-get-package-format`.
    pub fn inspect_get_package_format(&self, root: &str) -> Result<String> {
        Ok(self.inspect_root(root)?.package_format)
    }

    /// `inspect-get-package-management`.
    pub fn inspect_get_package_management(&self, root: &str) -> Result<String> {
        Ok(self.inspect_root(root)?.package_management)
    }

    /// `inspect-get-format`: `installed`.
    pub fn inspect_get_format(&self, root: &str) -> Result<String> {
        Ok(self.inspect_root(root)?.format)
    }

    /// `inspect-get-osinfo`: the libosinfo short id (`rhel9.4`, `ubuntu22.04`…) or `unknown`.
    pub fn inspect_get_osinfo(&self, root: &str) -> Result<String> {
        Ok(self.inspect_root(root)?.osinfo)
    }

    /// `inspect-get-mountpoints`: (mountpoint, device), shortest mountpoint first.
    pub fn inspect_get_mountpoints(&self, root: &str) -> Result<Vec<(String, String)>> {
        Ok(self.inspect_root(root)?.mountpoints)
    }

    /// `inspect-get-filesystems`: the root and the devices its fstab names.
    pub fn inspect_get_filesystems(&self, root: &str) -> Result<Vec<String>> {
        Ok(self.inspect_root(root)?.filesystems)
    }

    /// `inspect-list-applications2`: installed packages sorted by name, from the dpkg, apk,
    /// pacman or rpm (SQLite or Berkeley DB) database, read with the root's fstab mountpoints
    /// in place, or Windows's Uninstall keys. What a damaged database lacks is logged as
    /// warnings; a damaged hive is an error.
    pub fn inspect_list_applications(&self, root: &str) -> Result<Vec<Application>> {
        let info = self.inspect_root(root)?;
        let mut view = View::new(self, root)?;
        if let Some(systemroot) = &info.windows_systemroot {
            return windows::applications(&view, systemroot);
        }
        for (mp, dev) in info.mountpoints.iter().filter(|(mp, _)| mp != "/") {
            view.add(self, dev, mp);
        }
        let (apps, warnings) = packages::list(&view, &info.package_format)?;
        for w in warnings {
            self.note_warning(format!("{root}: {w}"));
        }
        Ok(apps)
    }

    /// Mounts `root` and its fstab mountpoints, shortest first (like `guestfish -i`): read-only
    /// when `readonly`. A mountpoint that cannot be mounted is skipped and returned with its
    /// error, as guestfish reports and ignores it.
    pub fn mount_inspected(&mut self, root: &str, readonly: bool) -> Result<Vec<(String, super::Error)>> {
        let info = self.inspect_root(root)?;
        let mut skipped = Vec::new();
        for (mp, dev) in &info.mountpoints {
            let r = if readonly { self.mount_ro(dev, mp) } else { self.mount(dev, mp) };
            if let Err(e) = r {
                if mp == "/" {
                    return Err(e.into());
                }
                skipped.push((mp.clone(), e));
            }
        }
        Ok(skipped)
    }
}
