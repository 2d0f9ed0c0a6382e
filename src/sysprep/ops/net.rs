//! The network-identity operations: `net-hostname`, `net-hwaddr` (every kind of MAC pin:
//! ifcfg files, netplan, systemd-networkd, NetworkManager keyfiles), `net-nmconn` and
//! `udev-persistent-net` (emptied, as the OpenStack image guide asks).

use super::{FnOp, Only, Work};
use crate::sysprep::edit::{self, Action};
use crate::sysprep::Ctx;
use crate::Guest;
use crate::sysprep::Result;

/// The network operations.
pub static OPS: [FnOp; 4] = [
    FnOp {
        name: "net-hostname",
        description: "Remove HOSTNAME and DHCP_HOSTNAME in network interface configuration",
        default_on: true,
        only: Only::RhFamily,
        apply: Work::Fn(net_hostname),
    },
    FnOp {
        name: "net-hwaddr",
        description: "Remove HWADDR (hard-coded MAC address) configuration",
        default_on: true,
        only: Only::Linux,
        apply: Work::Fn(net_hwaddr),
    },
    FnOp {
        name: "net-nmconn",
        description: "Remove system-local NetworkManager connection profiles (keyfiles)",
        default_on: true,
        only: Only::RhFamily,
        apply: Work::Globs(&["/etc/NetworkManager/system-connections/*.nmconnection"], Action::RmFiles),
    },
    FnOp {
        name: "udev-persistent-net",
        description: "Remove udev persistent net rules",
        default_on: true,
        only: Only::Linux,
        apply: Work::Fn(udev_persistent_net),
    },
];

/// Where ifcfg files live (Red Hat family, SUSE).
const IFCFG: &[&str] = &["/etc/sysconfig/network-scripts/ifcfg-*", "/etc/sysconfig/network/ifcfg-*"];

/// Removes the lines setting one of `keys` from every ifcfg file.
fn strip_ifcfg(g: &Guest, keys: &[&str]) -> Result<()> {
    for pattern in IFCFG {
        for p in g.glob(pattern)? {
            if edit::is_file(g, &p)? {
                edit::edit_lines(g, &p, |l| (!edit::sets_var(l, keys)).then(|| l.to_string()))?;
            }
        }
    }
    Ok(())
}

/// `net-hostname`: `HOSTNAME=` and `DHCP_HOSTNAME=` in ifcfg files.
fn net_hostname(g: &Guest, _: &Ctx) -> Result<()> {
    strip_ifcfg(g, &["HOSTNAME", "DHCP_HOSTNAME"])
}

/// `net-hwaddr`: MAC addresses pinned in ifcfg files (`HWADDR=`, `MACADDR=`), netplan
/// (`match: macaddress:`), systemd-networkd (`[Match] MACAddress=`) and NetworkManager
/// keyfiles (`mac-address=`), on any distro.
fn net_hwaddr(g: &Guest, _: &Ctx) -> Result<()> {
    strip_ifcfg(g, &["HWADDR", "MACADDR"])?;
    for p in edit::files_in(g, "/etc/netplan", "*.yaml")? {
        if let Some(text) = edit::read_text(g, &p)? {
            let new = netplan_unpin(&text);
            if new != text {
                g.write(&p, new.as_bytes())?;
            }
        }
    }
    for (pat, catch_all) in [("*.link", "OriginalName=*"), ("*.network", "Name=*")] {
        for p in edit::files_in(g, "/etc/systemd/network", pat)? {
            if let Some(text) = edit::read_text(g, &p)? {
                let new = networkd_unpin(&text, catch_all);
                if new != text {
                    g.write(&p, new.as_bytes())?;
                }
            }
        }
    }
    for p in edit::files_in(g, "/etc/NetworkManager/system-connections", "*")? {
        edit::edit_lines(g, &p, |l| (!l.trim_start().starts_with("mac-address=")).then(|| l.to_string()))?;
    }
    Ok(())
}

/// The indentation of a YAML line.
fn indent(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

/// Whether a YAML line is blank or only a comment.
fn yaml_blank(l: &str) -> bool {
    let t = l.trim();
    t.is_empty() || t.starts_with('#')
}

/// Removes `macaddress:` from netplan `match:` blocks; a `match:` left empty goes too, with
/// its `set-name:` (netplan refuses `set-name` without `match`).
pub fn netplan_unpin(text: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut drop = vec![false; lines.len()];
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim();
        let is_match = t == "match:" || t.starts_with("match:") && t.contains("macaddress") && t.contains('{');
        if !is_match {
            continue;
        }
        let ind = indent(l);
        // the block's children: following lines indented deeper
        let children: Vec<usize> = (i + 1..lines.len()).take_while(|&j| yaml_blank(lines[j]) || indent(lines[j]) > ind).filter(|&j| !yaml_blank(lines[j])).collect();
        let flow_only_mac = t.starts_with("match:") && t != "match:" && t.matches(':').count() == 2;
        for &j in &children {
            if lines[j].trim_start().starts_with("macaddress:") {
                drop[j] = true;
            }
        }
        if flow_only_mac || children.iter().all(|&j| drop[j]) {
            drop[i] = true;
            // sibling set-name at the same indentation, within the parent block
            let start = (0..i).rev().find(|&j| !yaml_blank(lines[j]) && indent(lines[j]) < ind).map_or(0, |j| j + 1);
            let end = (i + 1..lines.len()).find(|&j| !yaml_blank(lines[j]) && indent(lines[j]) < ind).unwrap_or(lines.len());
            for j in start..end {
                if indent(lines[j]) == ind && lines[j].trim_start().starts_with("set-name:") {
                    drop[j] = true;
                }
            }
        }
    }
    lines.iter().zip(drop).filter(|(_, d)| !d).map(|(l, _)| *l).collect()
}

/// Removes `MACAddress=` / `PermanentMACAddress=` from `[Match]` sections of a systemd-networkd
/// file; a section left without a match gets `catch_all` so it matches as before by name.
pub fn networkd_unpin(text: &str, catch_all: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_match = false;
    // where the first removed line of the current [Match] section was, and keys kept there
    let mut removed_at: Option<usize> = None;
    let mut kept_keys = 0;
    let finish = |out: &mut String, removed_at: Option<usize>, kept: usize| {
        if let (Some(at), 0) = (removed_at, kept) {
            out.insert_str(at, &format!("{catch_all}\n"));
        }
    };
    for l in text.split_inclusive('\n') {
        let t = l.trim();
        if t.starts_with('[') {
            if in_match {
                finish(&mut out, removed_at, kept_keys);
            }
            in_match = t.eq_ignore_ascii_case("[match]");
            removed_at = None;
            kept_keys = 0;
            out.push_str(l);
            continue;
        }
        if in_match {
            let key = t.split('=').next().unwrap_or("").trim();
            if key == "MACAddress" || key == "PermanentMACAddress" {
                removed_at.get_or_insert(out.len());
                continue;
            }
            if !t.is_empty() && !t.starts_with('#') && !t.starts_with(';') {
                kept_keys += 1;
            }
        }
        out.push_str(l);
    }
    if in_match {
        finish(&mut out, removed_at, kept_keys);
    }
    out
}

/// `udev-persistent-net`: the persistent net rules and their generator are emptied (kept as
/// empty files, as the OpenStack image guide does: an empty rules file in /etc also masks the
/// packaged generator).
fn udev_persistent_net(g: &Guest, _: &Ctx) -> Result<()> {
    edit::truncate(g, "/etc/udev/rules.d/70-persistent-net.rules")?;
    let generator = "75-persistent-net-generator.rules";
    let mut packaged = false;
    for dir in ["/lib/udev/rules.d", "/usr/lib/udev/rules.d"] {
        let p = format!("{dir}/{generator}");
        if edit::is_file(g, &p)? {
            packaged = true;
            edit::truncate(g, &p)?;
        }
    }
    let mask = format!("/etc/udev/rules.d/{generator}");
    if edit::is_file(g, &mask)? {
        edit::truncate(g, &mask)?;
    } else if packaged && edit::is_dir(g, "/etc/udev/rules.d")? {
        g.write(&mask, b"")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netplan_mac_match_removed_with_set_name() {
        let y = "network:\n  ethernets:\n    eth0:\n      dhcp4: true\n      match:\n        macaddress: 52:54:00:12:34:56\n      set-name: eth0\n  version: 2\n";
        assert_eq!(netplan_unpin(y), "network:\n  ethernets:\n    eth0:\n      dhcp4: true\n  version: 2\n");
        let keep = "    eth0:\n      match:\n        macaddress: 52:54:00:12:34:56\n        driver: virtio_net\n      set-name: eth0\n";
        assert_eq!(netplan_unpin(keep), "    eth0:\n      match:\n        driver: virtio_net\n      set-name: eth0\n");
        let flow = "    eth0:\n      match: {macaddress: '52:54:00:12:34:56'}\n      set-name: eth0\n      dhcp4: yes\n";
        assert_eq!(netplan_unpin(flow), "    eth0:\n      dhcp4: yes\n");
        let none = "network:\n  version: 2\n  ethernets:\n    eth0: {dhcp4: true}\n";
        assert_eq!(netplan_unpin(none), none);
    }

    #[test]
    fn networkd_match_mac_removed() {
        let link = "[Match]\nMACAddress=52:54:00:12:34:56\n\n[Link]\nName=eth0\n";
        assert_eq!(networkd_unpin(link, "OriginalName=*"), "[Match]\nOriginalName=*\n\n[Link]\nName=eth0\n");
        let net = "[Match]\nName=eth0\nMACAddress=52:54:00:12:34:56\n[Network]\nDHCP=yes\n";
        assert_eq!(networkd_unpin(net, "Name=*"), "[Match]\nName=eth0\n[Network]\nDHCP=yes\n");
        let set = "[Link]\nMACAddress=52:54:00:12:34:56\n";
        assert_eq!(networkd_unpin(set, "Name=*"), set);
    }
}
