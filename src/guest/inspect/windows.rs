//! Windows guests, as libguestfs inspects them (daemon/inspect_fs_windows.ml, lib/inspect-apps.c,
//! lib/inspect-osinfo.c): the system root is `/Windows` (or `/WINNT`, `/Win32`, `/Win`,
//! `/ReactOS`, any case, else a path `boot.ini` names) holding `System32/config` and
//! `System32/cmd.exe`; the architecture
//! comes from cmd.exe's PE header; product, version and edition from the SOFTWARE hive
//! (`Microsoft\Windows NT\CurrentVersion`), host name, control set and drive letters from the
//! SYSTEM hive; applications from the Uninstall keys of the SOFTWARE hive (native and WOW64).
//!
//! Not done (yet): libguestfs's heuristics for applications that have no Uninstall key (Windows
//! Defender).

use super::hive::{self, Hive, Key, REG_BINARY};
use super::view::View;
use super::{pe, Application, Result};
use crate::guest::DiskDevice;
use crate::part::{PartKind, TableKind};

/// Where libguestfs looks for the system root, in order.
const SYSTEMROOTS: &[&str] = &["/windows", "/winnt", "/win32", "/win", "/reactos"];

/// Largest hive file read: real SOFTWARE hives reach a few hundred MiB.
const HIVE_MAX: u64 = 1 << 30;

/// What the registry and the system root tell about a Windows guest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Windows {
    /// The system root as the filesystem spells it (`/Windows`).
    pub systemroot: String,
    /// From cmd.exe's PE header.
    pub arch: Option<&'static str>,
    /// `ProductName`.
    pub product_name: Option<String>,
    /// `InstallationType` (`Client`, `Server`…).
    pub product_variant: Option<String>,
    /// `CurrentMajorVersionNumber`/`CurrentMinorVersionNumber`, else `CurrentVersion`.
    pub version: Option<(u32, u32)>,
    /// `CurrentBuildNumber`.
    pub build_id: Option<String>,
    /// `ControlSetNNN` named by `Select\Current`.
    pub current_control_set: Option<String>,
    /// `Services\Tcpip\Parameters\Hostname` of the current control set.
    pub hostname: Option<String>,
    /// Drive letters of `MountedDevices` and what they name.
    pub mounted: Vec<(String, MountedDevice)>,
}

/// What a `\DosDevices\X:` value of `MountedDevices` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountedDevice {
    /// An MBR partition: the disk signature and the partition's first byte.
    Mbr {
        /// Disk signature (offset 440 of the MBR).
        signature: u32,
        /// Byte offset of the partition.
        offset: u64,
    },
    /// A GPT partition by its unique GUID (uppercase).
    Gpt(String),
}

/// The system root of the filesystem of `view`, when it is a Windows root: the first of
/// [`SYSTEMROOTS`] that is one, else the first of the `[operating systems]` of `/boot.ini`.
pub fn systemroot(view: &View) -> Option<String> {
    let is_systemroot = |p: &str| {
        let root = view.case_path(p)?;
        let sys = view.case_path(&format!("{root}/system32"))?;
        let dir = crate::fs::FileType::Directory;
        (view.file_type(&sys, true) == Some(dir)
            && view.case_path(&format!("{sys}/config")).is_some_and(|c| view.file_type(&c, true) == Some(dir))
            && view.case_path(&format!("{sys}/cmd.exe")).is_some_and(|c| view.is_file(&c)))
        .then_some(root)
    };
    SYSTEMROOTS.iter().find_map(|p| is_systemroot(p)).or_else(|| {
        let text = view.small_text(&view.case_path("/boot.ini")?)?;
        boot_ini_roots(&text).iter().find_map(|p| is_systemroot(p))
    })
}

/// The system roots `boot.ini` names: the lines after `[operating systems]` that start with
/// `multi(N)disk(N)rdisk(N)partition(N)` or `scsi(…)…`, their path up to `=` with `/` for `\`
/// (libguestfs assumes, as here, that they are on this partition).
fn boot_ini_roots(text: &str) -> Vec<String> {
    let parse = |line: &str| -> Option<String> {
        let mut rest = line.strip_prefix("multi").or_else(|| line.strip_prefix("scsi"))?;
        for part in ["(", "disk(", "rdisk(", "partition("] {
            let after = rest.strip_prefix(part)?;
            let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            rest = after.get(digits..).filter(|_| digits > 0)?.strip_prefix(')')?;
        }
        let (path, _) = rest.split_once('=')?;
        (!path.is_empty()).then(|| path.replace('\\', "/"))
    };
    let lines = text.lines().map(str::trim_end).skip_while(|l| !l.starts_with("[operating systems]")).skip(1);
    lines.take_while(|l| l.starts_with("multi(") || l.starts_with("scsi(")).filter_map(parse).collect()
}

/// The hive `System32/config/NAME` of `systemroot`, when it is a file: `Ok(None)` when missing.
pub(super) fn open_hive(view: &View, systemroot: &str, name: &str) -> Result<Option<Hive>> {
    let Some(path) = view.case_path(&format!("{systemroot}/system32/config/{name}")) else { return Ok(None) };
    let Some(data) = view.read_capped(&path, HIVE_MAX)? else { return Ok(None) };
    Ok(Some(Hive::new(&path, data)?))
}

/// A string value of `key`, `None` when missing or not a string.
fn string(h: &Hive, key: Key, name: &str) -> hive::Result<Option<String>> {
    Ok(h.value(key, name)?.and_then(|v| v.as_string()))
}

/// "6.1" → (6, 1), "10" → (10, 0), as libguestfs parses `CurrentVersion`.
fn parse_version(s: &str) -> Option<(u32, u32)> {
    let mut it = s.trim().splitn(2, '.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next().map(str::parse).transpose().ok()?.unwrap_or(0);
    Some((major, minor))
}

/// Inspects the Windows system root `systemroot` of `view`. Without both hives only the
/// architecture is known, as in libguestfs; a damaged hive is an error naming it.
pub fn inspect(view: &View, systemroot: &str) -> Result<Windows> {
    let mut w = Windows { systemroot: systemroot.to_string(), ..Default::default() };
    w.arch = view.case_path(&format!("{systemroot}/system32/cmd.exe")).and_then(|p| pe::pe_arch(&view.head(&p, pe::HEADER_LEN)?));
    let (Some(software), Some(system)) = (open_hive(view, systemroot, "software")?, open_hive(view, systemroot, "system")?) else {
        return Ok(w);
    };
    if let Some(cv) = software.path(&["Microsoft", "Windows NT", "CurrentVersion"])? {
        w.product_name = string(&software, cv, "ProductName")?;
        let dword = |n: &str| software.value(cv, n).map(|v| v.and_then(|v| v.as_dword()));
        w.version = match (dword("CurrentMajorVersionNumber")?, dword("CurrentMinorVersionNumber")?) {
            (Some(major), Some(minor)) => Some((major, minor)),
            _ => string(&software, cv, "CurrentVersion")?.as_deref().and_then(parse_version),
        };
        w.product_variant = string(&software, cv, "InstallationType")?;
        w.build_id = string(&software, cv, "CurrentBuildNumber")?;
    }
    w.mounted = mounted_devices(&system)?;
    if let Some(set) = current_control_set(&system)? {
        if let Some(params) = system.path(&[&set, "Services", "Tcpip", "Parameters"])? {
            w.hostname = string(&system, params, "Hostname")?;
        }
        w.current_control_set = Some(set);
    }
    Ok(w)
}

/// `ControlSetNNN` named by `Select\Current` of the SYSTEM hive.
pub(super) fn current_control_set(system: &Hive) -> hive::Result<Option<String>> {
    let current = match system.path(&["Select"])? {
        Some(sel) => system.value(sel, "Current")?.and_then(|v| v.as_dword()),
        None => None,
    };
    Ok(current.map(|n| format!("ControlSet{n:03}")))
}

/// The `\DosDevices\X:` values of `MountedDevices` that name a partition: 12 bytes (MBR disk
/// signature and byte offset) or `DMIO:ID:` and a GPT partition GUID.
fn mounted_devices(system: &Hive) -> hive::Result<Vec<(String, MountedDevice)>> {
    let Some(md) = system.path(&["MountedDevices"])? else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for v in system.values(md)? {
        let name = v.name.as_bytes();
        if name.len() < 14 || !name[..12].eq_ignore_ascii_case(b"\\dosdevices\\") || !name[12].is_ascii_alphabetic() || name[13] != b':' {
            continue;
        }
        if v.kind != REG_BINARY {
            continue;
        }
        let letter = char::from(name[12]).to_string();
        let d = &v.data;
        let dev = if d.len() >= 24 && d.starts_with(b"DMIO:ID:") {
            let g = &d[8..24];
            MountedDevice::Gpt(format!(
                "{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{}",
                u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
                u16::from_le_bytes([g[4], g[5]]),
                u16::from_le_bytes([g[6], g[7]]),
                g[8],
                g[9],
                g[10..16].iter().map(|b| format!("{b:02X}")).collect::<String>()
            ))
        } else if d.len() == 12 {
            let mut off = [0u8; 8];
            off.copy_from_slice(&d[4..12]);
            MountedDevice::Mbr { signature: u32::from_le_bytes([d[0], d[1], d[2], d[3]]), offset: u64::from_le_bytes(off) }
        } else {
            continue;
        };
        out.push((letter, dev));
    }
    Ok(out)
}

/// The drive letters of `mounted` that name a partition of `disks`: (letter, partition),
/// sorted by letter without regard to case as virt-inspector prints them.
pub fn drive_mappings(mounted: &[(String, MountedDevice)], disks: &[DiskDevice]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = mounted
        .iter()
        .filter_map(|(letter, dev)| {
            let part = disks.iter().find_map(|disk| {
                let table = disk.table.as_ref()?;
                disk.partitions.iter().find(|p| match (dev, &p.part.kind) {
                    (MountedDevice::Mbr { signature, offset }, PartKind::Mbr { .. }) => {
                        table.kind == TableKind::Mbr && table.mbr_signature == Some(*signature) && p.part.start == *offset
                    }
                    (MountedDevice::Gpt(g), PartKind::Gpt { guid, .. }) => guid.eq_ignore_ascii_case(g),
                    _ => false,
                })
            })?;
            Some((letter.clone(), part.name.clone()))
        })
        .collect();
    out.sort_by_key(|(l, _)| l.to_ascii_uppercase());
    out
}

/// The libosinfo short id of a Windows guest (libguestfs's lib/inspect-osinfo.c): `winxp`,
/// `win2k3`, `win7`, `win2k8r2`, `win8.1`, `win10`, `win11` (build ≥ 22000), `win2k16`…
/// `win2k25`, else `unknown`.
pub fn osinfo(product_name: &str, variant: &str, major: u32, minor: u32, build_id: &str) -> String {
    let server = variant.contains("Server");
    let id = match (major, minor) {
        (5, 1) => "winxp",
        (5, 2) if product_name.contains("XP") => "winxp",
        (5, 2) if product_name.contains("R2") => "win2k3r2",
        (5, 2) => "win2k3",
        (6, 0) if server => "win2k8",
        (6, 0) => "winvista",
        (6, 1) if server => "win2k8r2",
        (6, 1) => "win7",
        (6, 2) if server => "win2k12",
        (6, 2) => "win8",
        (6, 3) if server => "win2k12r2",
        (6, 3) => "win8.1",
        (10, 0) if server => match ["2025", "2022", "2019"].iter().find(|y| product_name.contains(*y)) {
            Some(&"2025") => "win2k25",
            Some(&"2022") => "win2k22",
            Some(_) => "win2k19",
            None => "win2k16",
        },
        (10, 0) => match build_id.trim().parse::<u32>() {
            Ok(b) if b >= 22000 => "win11",
            Ok(_) => "win10",
            Err(_) => "unknown",
        },
        _ => "unknown",
    };
    id.to_string()
}

/// The applications of the Uninstall keys of the SOFTWARE hive (native, then WOW6432Node),
/// those with a `DisplayName`, sorted by key name as libguestfs sorts them.
pub fn applications(view: &View, systemroot: &str) -> Result<Vec<Application>> {
    let Some(h) = open_hive(view, systemroot, "software")? else { return Ok(Vec::new()) };
    let mut apps = Vec::new();
    for path in [&["Microsoft", "Windows", "CurrentVersion", "Uninstall"][..], &["WOW6432node", "Microsoft", "Windows", "CurrentVersion", "Uninstall"]] {
        let Some(node) = h.path(path)? else { continue };
        for child in h.subkeys(node)? {
            let Some(display_name) = string(&h, child, "DisplayName")? else { continue };
            let get = |n: &str| string(&h, child, n).map(Option::unwrap_or_default);
            apps.push(Application {
                name: h.key_name(child)?,
                display_name,
                version: get("DisplayVersion")?,
                install_path: get("InstallLocation")?,
                publisher: get("Publisher")?,
                url: get("URLInfoAbout")?,
                description: get("Comments")?,
                ..Default::default()
            });
        }
    }
    apps.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(apps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_ini() {
        let ini = "[boot loader]\r\ntimeout=30\r\ndefault=multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS\r\n[operating systems]\r\n\
                   multi(0)disk(0)rdisk(0)partition(1)\\WINNT\\System=\"Windows 2000\" /fastdetect\r\n\
                   scsi(1)disk(0)rdisk(0)partition(2)\\WINDOWS=\"XP\"\r\nmulti(x)disk(0)rdisk(0)partition(1)\\BAD=\"x\"\r\n\
                   C:\\=\"Recovery Console\"\r\nmulti(0)disk(0)rdisk(0)partition(1)\\AFTER=\"x\"\r\n";
        assert_eq!(boot_ini_roots(ini), ["/WINNT/System", "/WINDOWS"]);
        assert!(boot_ini_roots("multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS=\"x\"").is_empty());
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("6.1"), Some((6, 1)));
        assert_eq!(parse_version("10"), Some((10, 0)));
        assert_eq!(parse_version("x.1"), None);
        assert_eq!(parse_version("6.y"), None);
    }

    #[test]
    fn osinfo_ids() {
        assert_eq!(osinfo("Microsoft Windows 7 Phony Edition", "Client", 6, 1, ""), "win7");
        assert_eq!(osinfo("Windows Server 2008 R2 Standard", "Server", 6, 1, "7601"), "win2k8r2");
        assert_eq!(osinfo("Windows 10 Pro", "Client", 10, 0, "19045"), "win10");
        assert_eq!(osinfo("Windows 10 Pro", "Client", 10, 0, "22631"), "win11");
        assert_eq!(osinfo("Windows Server 2022 Datacenter", "Server", 10, 0, "20348"), "win2k22");
        assert_eq!(osinfo("Windows Server 2016 Standard", "Server Core", 10, 0, "14393"), "win2k16");
        assert_eq!(osinfo("Windows XP Professional x64 Edition", "", 5, 2, ""), "winxp");
        assert_eq!(osinfo("", "", 4, 0, ""), "unknown");
    }
}
