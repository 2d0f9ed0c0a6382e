//! `vsysprep --audit`: a read-only check of a guest against the OpenStack image requirements
//! (the OpenStack virtual machine image guide): each check passes, warns or fails.

use super::edit;
use super::ops::net::{netplan_unpin, networkd_unpin};
use super::ops::openstack::has_cloud_init;
use super::ops::users::uid_range;
use crate::guest::inspect::OsInfo;
use crate::Guest;
use crate::sysprep::Result;
use serde::Serialize;

mod virtio;
mod windows;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Meets the requirement.
    Pass,
    /// Works, but not as the guide recommends.
    Warn,
    /// The image will not work as expected on OpenStack.
    Fail,
}

impl Status {
    /// `PASS`, `WARN`, `FAIL`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check's name.
    pub check: &'static str,
    /// Its outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
}

/// Every check, in the order they run, with what it looks at: the names `--audit-ignore`
/// takes.
pub const CHECKS: &[(&str, &str)] = &[
    ("cloud-init", "cloud-init installed"),
    ("growpart", "growpart or growroot present"),
    ("ssh-server", "an SSH server installed"),
    ("ssh-enabled", "sshd enabled at boot"),
    ("ssh-root-login", "sshd's effective PermitRootLogin is not yes"),
    ("ssh-password-auth", "sshd's effective PasswordAuthentication is not yes"),
    ("root-password", "root's password is not empty nor a well-known one"),
    ("qemu-guest-agent", "qemu-guest-agent installed"),
    ("virtio-drivers", "virtio_blk or virtio_scsi, and virtio_net, built into the default kernel or in its initramfs"),
    ("ssh-hostkeys", "no SSH host keys in the image"),
    ("mac-pins", "no MAC address pinned in network configuration"),
    ("firewall", "no guest firewall enabled"),
    ("acpid", "acpid installed"),
    ("acpiphp", "acpiphp loaded at boot"),
    ("root-layout", "the root on the first partition or an LV"),
    ("serial-console", "console=ttyS0 on the kernel command line"),
    ("shell-history", "no shell history"),
    ("user-accounts", "no login accounts besides root"),
    ("machine-id", "/etc/machine-id empty"),
    ("dhcp", "DHCP on the first NIC by a network stack the image runs"),
    ("boot-loader", "a boot loader for BIOS or UEFI firmware"),
    ("cloudbase-init", "Windows: cloudbase-init installed"),
];

fn finding(check: &'static str, ok: bool, bad: Status, good: impl Into<String>, why: impl Into<String>) -> Finding {
    debug_assert!(CHECKS.iter().any(|(n, _)| *n == check), "{check} is not in CHECKS");
    if ok {
        Finding { check, status: Status::Pass, detail: good.into() }
    } else {
        Finding { check, status: bad, detail: why.into() }
    }
}

/// The first of `paths` that exists in the guest.
fn first_present(g: &Guest, paths: &[&str]) -> Result<Option<String>> {
    for p in paths {
        if g.file_type(p, true)?.is_some() {
            return Ok(Some((*p).to_string()));
        }
    }
    Ok(None)
}

/// Whether a systemd unit is enabled for boot (a `*.target.wants` link), or a SysV start link.
fn enabled(g: &Guest, units: &[&str]) -> Result<bool> {
    for u in units {
        for wants in ["multi-user.target.wants", "default.target.wants", "sockets.target.wants"] {
            if edit::exists(g, &format!("/etc/systemd/system/{wants}/{u}"))? {
                return Ok(true);
            }
        }
        let base = u.trim_end_matches(".service").trim_end_matches(".socket");
        for rl in ["/etc/rc3.d", "/etc/rc.d/rc3.d", "/etc/runlevels/default"] {
            if !g.glob(&format!("{rl}/S*{base}"))?.is_empty() || edit::exists(g, &format!("{rl}/{base}"))? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Runs every check on a guest mounted at its mountpoints (on Windows, the checks that apply
/// to it: see [`windows::audit`]).
pub fn audit(g: &Guest, os: &OsInfo) -> Result<Vec<Finding>> {
    if os.windows_systemroot.is_some() {
        return windows::audit(g, os);
    }
    let mut out = Vec::new();
    let ci = has_cloud_init(g)?;
    out.push(finding("cloud-init", ci, Status::Fail, "installed", "not installed: OpenStack cannot inject SSH keys, user data or the hostname"));

    let grow = first_present(g, &["/usr/bin/growpart", "/usr/sbin/growpart", "/usr/sbin/growroot", "/usr/share/initramfs-tools/scripts/local-bottom/growroot"])?;
    out.push(finding("growpart", grow.is_some(), Status::Warn, format!("present ({})", grow.clone().unwrap_or_default()), "neither growpart nor growroot: the root filesystem will not grow to the flavor's disk size"));

    let sshd = first_present(g, &["/usr/sbin/sshd", "/usr/bin/sshd", "/sbin/sshd"])?;
    out.push(finding("ssh-server", sshd.is_some(), Status::Fail, format!("installed ({})", sshd.clone().unwrap_or_default()), "no sshd: the instance cannot be logged into"));
    if sshd.is_some() {
        let on = enabled(g, &["ssh.service", "sshd.service", "ssh.socket", "sshd.socket", "sshd", "dropbear"])?;
        out.push(finding("ssh-enabled", on, Status::Warn, "enabled at boot", "sshd is not enabled at boot (no systemd wants link or rc3.d start link)"));
    }

    if sshd.is_some() {
        let sshd = sshd_settings(g)?;
        let (root_login, from) = sshd.get("permitrootlogin").cloned().unwrap_or(("prohibit-password".into(), "the default".into()));
        out.push(finding("ssh-root-login", root_login != "yes", Status::Warn, format!("PermitRootLogin {root_login} ({from})"), format!("PermitRootLogin yes ({from}): root logs in with a password")));
        let (pw, from) = sshd.get("passwordauthentication").cloned().unwrap_or(("yes".into(), "the default".into()));
        out.push(finding("ssh-password-auth", pw != "yes", Status::Warn, format!("PasswordAuthentication {pw} ({from})"), format!("PasswordAuthentication yes ({from}): passwords are accepted, not only the injected keys")));
    }
    out.push(root_password(g)?);

    let qga = first_present(g, &["/usr/bin/qemu-ga", "/usr/sbin/qemu-ga"])?;
    out.push(finding("qemu-guest-agent", qga.is_some(), Status::Warn, format!("installed ({})", qga.clone().unwrap_or_default()), "not installed: Nova cannot quiesce filesystems for snapshots or set passwords (hw_qemu_guest_agent)"));
    out.push(virtio::check(g, os));

    let mut keys = g.glob("/etc/ssh/*_host_*")?;
    keys.retain(|k| !k.ends_with(".pub"));
    out.push(finding("ssh-hostkeys", keys.is_empty(), Status::Fail, "none (each instance makes its own)", format!("present, shared by every instance: {}", keys.join(" "))));

    let pins = mac_pins(g)?;
    out.push(finding("mac-pins", pins.is_empty(), Status::Fail, "none", format!("MAC addresses pinned (the instance's NIC will not match): {}", pins.join(" "))));

    let fw = firewall(g)?;
    out.push(finding("firewall", fw.is_empty(), Status::Warn, "no guest firewall enabled (security groups filter)", format!("guest firewall configured: {}", fw.join(" "))));

    let acpid = first_present(g, &["/usr/sbin/acpid", "/sbin/acpid"])?;
    out.push(finding("acpid", acpid.is_some(), Status::Warn, "installed", "acpid not installed: the instance ignores ACPI shutdown/reboot from the hypervisor"));

    let hp = acpiphp_configured(g)?;
    out.push(finding("acpiphp", hp, Status::Warn, "loaded at boot", "acpiphp is not loaded at boot: hot-plugged volumes may not appear (run the acpiphp operation)"));

    let (layout_ok, layout) = root_layout(g, &os.root)?;
    out.push(finding("root-layout", layout_ok, Status::Warn, layout.clone(), layout));

    let console = serial_console(g)?;
    out.push(finding("serial-console", console, Status::Warn, "console=ttyS0 on the kernel command line", "no console=ttyS0: the console log (nova console-log) stays empty"));

    let mut hist = g.glob("/home/*/.bash_history")?;
    hist.extend(g.glob("/home/*/.zsh_history")?);
    hist.extend(g.glob("/root/.*_history")?);
    out.push(finding("shell-history", hist.is_empty(), Status::Fail, "none", format!("present: {}", hist.join(" "))));

    let users = login_users(g)?;
    out.push(finding("user-accounts", users.is_empty(), Status::Warn, "no login accounts besides root and system accounts", format!("accounts present in every instance: {}", users.join(" "))));

    let mid = edit::read(g, "/etc/machine-id")?.is_some_and(|b| !b.iter().all(u8::is_ascii_whitespace));
    out.push(finding("machine-id", !mid, Status::Fail, "empty (made at first boot)", "/etc/machine-id is set: every instance would share it"));

    let dhcp = dhcp_sources(g)?;
    out.push(finding("dhcp", !dhcp.is_empty(), Status::Fail, dhcp.join("; "), "no network stack configures DHCP (cloud-init, ifupdown, netplan, systemd-networkd, NetworkManager, ifcfg): the instance will have no network"));

    out.push(boot_loader(g)?);
    Ok(out)
}

/// The `boot-loader` check: boot code for BIOS or an EFI loader on an ESP.
fn boot_loader(g: &Guest) -> Result<Finding> {
    let boot = g.boot_paths()?;
    let efi: Vec<String> = boot.efi.iter().map(|(p, f)| format!("{p}: {f}")).collect();
    let how = match (boot.bios.is_empty(), efi.is_empty()) {
        (false, false) => format!("BIOS ({}) and UEFI ({})", boot.bios.join(", "), efi.join(", ")),
        (false, true) => format!("BIOS only ({})", boot.bios.join(", ")),
        (true, false) => format!("UEFI only ({}): upload with hw_firmware_type=uefi", efi.join(", ")),
        (true, true) => String::new(),
    };
    Ok(finding("boot-loader", !how.is_empty(), Status::Fail, how, "no boot loader: no boot code in an MBR, no BIOS boot partition, no EFI loader on an ESP"))
}

/// Whether `v` (a config value, quotes stripped) turns DHCP on.
fn dhcp_value(v: &str) -> bool {
    matches!(v.trim().trim_matches(|c| c == '"' || c == '\'').to_ascii_lowercase().as_str(), "yes" | "true" | "on" | "ipv4" | "ipv6" | "both" | "dhcp" | "dhcp4" | "dhcp6" | "auto")
}

/// Whether cloud-init's configuration turns its network configuration off
/// (`network: {config: disabled}`, in block or flow style).
fn cloud_init_network_disabled(g: &Guest) -> Result<bool> {
    let mut files = vec!["/etc/cloud/cloud.cfg".to_string()];
    files.extend(edit::files_in(g, "/etc/cloud/cloud.cfg.d", "*.cfg")?);
    for f in files {
        let Some(t) = edit::read_text(g, &f)? else { continue };
        let flat: String = t.lines().map(|l| l.split('#').next().unwrap_or("")).collect::<Vec<_>>().join("\n");
        let squeezed: String = flat.chars().filter(|c| !c.is_whitespace()).collect();
        if squeezed.contains("network:{config:disabled}") || squeezed.contains("network:config:disabled") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Where DHCP is configured on a NIC other than loopback, one entry per source: cloud-init's
/// fallback (DHCP on the first NIC, unless its network configuration is disabled), ifupdown
/// `iface X inet dhcp`, netplan `dhcp4/dhcp6: true`, systemd-networkd `DHCP=`, NetworkManager
/// keyfiles with `method=auto` and its automatic wired connection (NetworkManager enabled,
/// no `no-auto-default=*`), and `ifcfg` files with `BOOTPROTO=dhcp`.
fn dhcp_sources(g: &Guest) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if has_cloud_init(g)? && !cloud_init_network_disabled(g)? {
        out.push("cloud-init (DHCP on the first NIC unless the datasource says otherwise)".to_string());
    }
    let mut ifupdown = vec!["/etc/network/interfaces".to_string()];
    ifupdown.extend(edit::files_in(g, "/etc/network/interfaces.d", "*")?);
    for f in ifupdown {
        let Some(t) = edit::read_text(g, &f)? else { continue };
        for l in t.lines() {
            let w: Vec<&str> = l.split('#').next().unwrap_or("").split_whitespace().collect();
            if let ["iface", name, "inet" | "inet6", method, ..] = w.as_slice() {
                if *name != "lo" && matches!(*method, "dhcp" | "auto") {
                    out.push(format!("ifupdown: {name} in {f}"));
                }
            }
        }
    }
    for f in edit::files_in(g, "/etc/netplan", "*.yaml")? {
        let Some(t) = edit::read_text(g, &f)? else { continue };
        if t.lines().filter_map(|l| l.split('#').next()?.trim().split_once(':')).any(|(k, v)| matches!(k.trim(), "dhcp4" | "dhcp6") && dhcp_value(v)) {
            out.push(format!("netplan: {f}"));
        }
    }
    for f in edit::files_in(g, "/etc/systemd/network", "*.network")? {
        let Some(t) = edit::read_text(g, &f)? else { continue };
        if t.lines().filter_map(|l| l.trim().split_once('=')).any(|(k, v)| k.trim() == "DHCP" && dhcp_value(v)) {
            out.push(format!("systemd-networkd: {f}"));
        }
    }
    for f in edit::files_in(g, "/etc/NetworkManager/system-connections", "*")? {
        let Some(t) = edit::read_text(g, &f)? else { continue };
        let (mut section, mut wired, mut auto) = (String::new(), false, false);
        for l in t.lines().map(str::trim) {
            if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                section = s.to_string();
            } else if let Some((k, v)) = l.split_once('=') {
                match (section.as_str(), k.trim(), v.trim()) {
                    ("connection", "type", "ethernet" | "802-3-ethernet") => wired = true,
                    ("ipv4" | "ipv6", "method", "auto") => auto = true,
                    _ => {}
                }
            }
        }
        if wired && auto {
            out.push(format!("NetworkManager: {f}"));
        }
    }
    if first_present(g, &["/usr/sbin/NetworkManager", "/usr/bin/NetworkManager"])?.is_some() && enabled(g, &["NetworkManager.service"])? {
        let mut conf = vec!["/etc/NetworkManager/NetworkManager.conf".to_string()];
        conf.extend(edit::files_in(g, "/etc/NetworkManager/conf.d", "*.conf")?);
        conf.extend(edit::files_in(g, "/usr/lib/NetworkManager/conf.d", "*.conf")?);
        let mut no_auto = false;
        for f in conf {
            if edit::read_text(g, &f)?.is_some_and(|t| t.lines().filter_map(|l| l.trim().split_once('=')).any(|(k, v)| k.trim() == "no-auto-default" && v.trim() == "*")) {
                no_auto = true;
            }
        }
        if !no_auto {
            out.push("NetworkManager: automatic wired connection (DHCP on every NIC)".to_string());
        }
    }
    for pattern in ["/etc/sysconfig/network-scripts/ifcfg-*", "/etc/sysconfig/network/ifcfg-*"] {
        for f in g.glob(pattern)? {
            if f.ends_with("ifcfg-lo") {
                continue;
            }
            if edit::read_text(g, &f)?.is_some_and(|t| t.lines().filter_map(|l| l.trim().split_once('=')).any(|(k, v)| k.trim() == "BOOTPROTO" && dhcp_value(v))) {
                out.push(format!("ifcfg: {f}"));
            }
        }
    }
    Ok(out)
}

/// Passwords a root password must not be (distribution and appliance defaults).
const KNOWN_PASSWORDS: &[&str] = &["root", "toor", "password", "changeme", "admin", "123456", "cubswin:)", "passw0rd", "centos", "fedora", "ubuntu", "debian"];

/// The root password in `/etc/shadow`: empty or one of [`KNOWN_PASSWORDS`] fails.
fn root_password(g: &Guest) -> Result<Finding> {
    let check = "root-password";
    debug_assert!(CHECKS.iter().any(|(n, _)| *n == check));
    let shadow = edit::read_text(g, "/etc/shadow")?.unwrap_or_default();
    let Some(hash) = shadow.lines().find_map(|l| l.strip_prefix("root:")).map(|rest| rest.split(':').next().unwrap_or_default().to_string()) else {
        return Ok(Finding { check, status: Status::Pass, detail: "no root entry in /etc/shadow".into() });
    };
    Ok(if hash.is_empty() {
        Finding { check, status: Status::Fail, detail: "empty: root logs in without a password".into() }
    } else if hash.starts_with('!') || hash.starts_with('*') {
        Finding { check, status: Status::Pass, detail: "locked or disabled".into() }
    } else {
        match super::crypt::guess(&hash, KNOWN_PASSWORDS) {
            Ok(Some(p)) => Finding { check, status: Status::Fail, detail: format!("set to the well-known password '{p}'") },
            Ok(None) => Finding { check, status: Status::Pass, detail: "set, not a well-known password".into() },
            Err(why) => Finding { check, status: Status::Pass, detail: format!("set ({why} against well-known passwords)") },
        }
    })
}

/// sshd's global settings as it reads them: keywords (lower case) with their first value and
/// the file it came from; `Include` files read in place (globs, relative to `/etc/ssh`), a
/// `Match` block ending the global part of its file.
fn sshd_settings(g: &Guest) -> Result<std::collections::HashMap<String, (String, String)>> {
    let mut out = std::collections::HashMap::new();
    sshd_file(g, "/etc/ssh/sshd_config", 0, &mut out)?;
    Ok(out)
}

fn sshd_file(g: &Guest, path: &str, depth: u32, out: &mut std::collections::HashMap<String, (String, String)>) -> Result<()> {
    let Some(text) = edit::read_text(g, path)? else { return Ok(()) };
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (kw, rest) = line.split_once(|c: char| c.is_whitespace() || c == '=').unwrap_or((line, ""));
        let kw = kw.to_ascii_lowercase();
        let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '=');
        match kw.as_str() {
            "match" => break,
            "include" if depth < 4 => {
                for pat in rest.split_whitespace() {
                    let pat = if pat.starts_with('/') { pat.to_string() } else { format!("/etc/ssh/{pat}") };
                    let mut files = g.glob(&pat)?;
                    files.sort();
                    for f in files {
                        sshd_file(g, &f, depth + 1, out)?;
                    }
                }
            }
            _ => {
                let value = rest.split_whitespace().next().unwrap_or_default().to_ascii_lowercase();
                out.entry(kw).or_insert((value, path.to_string()));
            }
        }
    }
    Ok(())
}

/// Where MAC addresses are pinned.
fn mac_pins(g: &Guest) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for pattern in ["/etc/sysconfig/network-scripts/ifcfg-*", "/etc/sysconfig/network/ifcfg-*"] {
        for p in g.glob(pattern)? {
            if edit::read_text(g, &p)?.is_some_and(|t| t.lines().any(|l| edit::sets_var(l, &["HWADDR", "MACADDR"]))) {
                out.push(p);
            }
        }
    }
    for p in edit::files_in(g, "/etc/netplan", "*.yaml")? {
        if edit::read_text(g, &p)?.is_some_and(|t| netplan_unpin(&t) != t) {
            out.push(p);
        }
    }
    for pat in ["*.link", "*.network"] {
        for p in edit::files_in(g, "/etc/systemd/network", pat)? {
            if edit::read_text(g, &p)?.is_some_and(|t| networkd_unpin(&t, "") != t) {
                out.push(p);
            }
        }
    }
    for p in edit::files_in(g, "/etc/NetworkManager/system-connections", "*")? {
        if edit::read_text(g, &p)?.is_some_and(|t| t.lines().any(|l| l.trim_start().starts_with("mac-address="))) {
            out.push(p);
        }
    }
    let rules = "/etc/udev/rules.d/70-persistent-net.rules";
    if edit::read_text(g, rules)?.is_some_and(|t| t.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))) {
        out.push(rules.to_string());
    }
    Ok(out)
}

/// Enabled guest firewalls.
fn firewall(g: &Guest) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if enabled(g, &["firewalld.service"])? {
        out.push("firewalld".to_string());
    }
    if edit::read_text(g, "/etc/ufw/ufw.conf")?.is_some_and(|t| t.lines().any(|l| l.trim() == "ENABLED=yes")) {
        out.push("ufw".to_string());
    }
    if edit::is_file(g, "/etc/sysconfig/iptables")? && enabled(g, &["iptables.service"])? {
        out.push("iptables".to_string());
    }
    Ok(out)
}

/// Whether a modules-load list or `/etc/modules` loads acpiphp.
fn acpiphp_configured(g: &Guest) -> Result<bool> {
    let mut files = vec!["/etc/modules".to_string()];
    for dir in ["/etc/modules-load.d", "/usr/lib/modules-load.d", "/lib/modules-load.d"] {
        files.extend(edit::files_in(g, dir, "*.conf")?);
    }
    files.extend(edit::files_in(g, "/etc/sysconfig/modules", "*.modules")?);
    for f in files {
        if edit::read_text(g, &f)?.is_some_and(|t| t.lines().any(|l| l.split('#').next().unwrap_or("").split_whitespace().any(|w| w == "acpiphp"))) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether the root is on the first partition or an LV, and a description.
fn root_layout(g: &Guest, root: &str) -> Result<(bool, String)> {
    // a btrfs subvolume: the layout of the device holding it
    if let Some((dev, sub)) = g.split_btrfsvol(root) {
        let (ok, what) = root_layout(g, &dev)?;
        return Ok((ok, format!("{what} (btrfs subvolume {sub})")));
    }
    if g.lvs()?.iter().any(|lv| lv == root) {
        return Ok((true, format!("root {root} is an LVM logical volume")));
    }
    let digits = root.len() - root.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return Ok((true, format!("root {root} is a whole disk")));
    }
    let n = &root[root.len() - digits..];
    Ok((n == "1", if n == "1" { format!("root {root} is the first partition") } else { format!("root {root} is partition {n}, not the first: growing it needs the partitions after it moved") }))
}

/// Whether the kernel command line has `console=ttyS0`.
fn serial_console(g: &Guest) -> Result<bool> {
    let mut files = vec!["/etc/default/grub".to_string(), "/boot/grub/grub.cfg".to_string(), "/boot/grub2/grub.cfg".to_string()];
    files.extend(g.glob("/boot/efi/EFI/*/grub.cfg")?);
    for f in files {
        if edit::read_text(g, &f)?.is_some_and(|t| t.contains("console=ttyS0")) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Accounts in the login range of `/etc/login.defs`.
fn login_users(g: &Guest) -> Result<Vec<String>> {
    let (min, max) = uid_range(edit::read_text(g, "/etc/login.defs")?.as_deref());
    let passwd = edit::read_text(g, "/etc/passwd")?.unwrap_or_default();
    Ok(passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let uid: u64 = f.get(2)?.parse().ok()?;
            (min..=max).contains(&uid).then(|| f[0].to_string())
        })
        .collect())
}
