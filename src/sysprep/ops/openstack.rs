//! OpenStack image readiness (the OpenStack image guide's steps, as operations): `acpiphp`
//! (PCI hotplug for volume attach), `cloud-init` (datasource drop-in, instance state reset),
//! `serial-console` (kernel console on ttyS0 for `nova console-log`), `zeroconf`
//! (no 169.254/16 route over the metadata service's address).

use super::{FnOp, Only, Work};
use crate::sysprep::edit::{self, set_var_in_file};
use crate::sysprep::facts::has_systemd;
use crate::sysprep::Ctx;
use crate::Guest;
use crate::sysprep::Result;

/// The OpenStack operations.
pub static OPS: [FnOp; 4] = [
    FnOp { name: "acpiphp", description: "Load the acpiphp module at boot (PCI hotplug, for OpenStack)", default_on: true, only: Only::Linux, apply: Work::Fn(acpiphp) },
    FnOp {
        name: "cloud-init",
        description: "Configure cloud-init for OpenStack and reset its instance state",
        default_on: true,
        only: Only::Linux,
        apply: Work::Fn(cloud_init),
    },
    FnOp {
        name: "serial-console",
        description: "Send kernel and boot messages to the serial console ttyS0",
        default_on: false,
        only: Only::Linux,
        apply: Work::Fn(serial_console),
    },
    FnOp { name: "zeroconf", description: "Disable the zeroconf route (NOZEROCONF=yes)", default_on: false, only: Only::RhFamily, apply: Work::Fn(zeroconf) },
];

/// Whether a modules list (`/etc/modules`, `modules-load.d/*.conf`) names `module`.
fn lists_module(text: &str, module: &str) -> bool {
    text.lines().any(|l| l.split('#').next().unwrap_or("").split_whitespace().next() == Some(module))
}

/// `acpiphp`: the module is loaded at boot — `/etc/modules` on the Debian family,
/// `/etc/modules-load.d/acpiphp.conf` with systemd, `/etc/sysconfig/modules/acpiphp.modules`
/// on older Red Hat systems.
fn acpiphp(g: &Guest, cx: &Ctx) -> Result<()> {
    const M: &str = "acpiphp";
    for dir in ["/etc/modules-load.d", "/usr/lib/modules-load.d", "/lib/modules-load.d"] {
        for p in edit::files_in(g, dir, "*.conf")? {
            if edit::read_text(g, &p)?.is_some_and(|t| lists_module(&t, M)) {
                return Ok(());
            }
        }
    }
    if cx.is_deb() && edit::is_file(g, "/etc/modules")? {
        let text = edit::read_text(g, "/etc/modules")?.unwrap_or_default();
        if !lists_module(&text, M) {
            let sep = if text.is_empty() || text.ends_with('\n') { "" } else { "\n" };
            g.write_append("/etc/modules", format!("{sep}{M}\n").as_bytes())?;
        }
    } else if has_systemd(g)? {
        if !edit::is_dir(g, "/etc/modules-load.d")? {
            g.mkdir_p("/etc/modules-load.d")?;
        }
        g.write("/etc/modules-load.d/acpiphp.conf", b"# PCI hotplug (OpenStack volume and interface attach)\nacpiphp\n")?;
    } else if cx.is_rpm() {
        let p = "/etc/sysconfig/modules/acpiphp.modules";
        if !edit::exists(g, p)? {
            if !edit::is_dir(g, "/etc/sysconfig/modules")? {
                g.mkdir_p("/etc/sysconfig/modules")?;
            }
            g.write(p, b"#!/bin/sh\n/sbin/modprobe acpiphp >/dev/null 2>&1\n")?;
            g.chmod(0o755, p)?;
        }
    } else {
        cx.warn("acpiphp: do not know how this guest loads modules at boot; load acpiphp by hand");
    }
    Ok(())
}

/// The drop-in `cloud-init` writes.
pub const CLOUD_INIT_DROPIN: &str = "/etc/cloud/cloud.cfg.d/95_vsysprep_openstack.cfg";

/// Whether cloud-init is installed.
pub fn has_cloud_init(g: &Guest) -> Result<bool> {
    for p in ["/usr/bin/cloud-init", "/usr/local/bin/cloud-init", "/etc/cloud/cloud.cfg"] {
        if g.file_type(p, true)?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `cloud-init`: a drop-in naming the OpenStack datasources (and the default user of
/// `--cloud-init-user`), and no instance state left, so it runs again at first boot.
fn cloud_init(g: &Guest, cx: &Ctx) -> Result<()> {
    if !has_cloud_init(g)? {
        cx.warn("cloud-init is not installed in the guest: OpenStack cannot inject SSH keys or user data at boot (install cloud-init)");
        return Ok(());
    }
    let mut cfg = String::from("# Written by vsysprep: OpenStack datasources\ndatasource_list: [ ConfigDrive, OpenStack, None ]\n");
    if let Some(user) = &cx.opts.cloud_init_user {
        cfg.push_str(&format!("system_info:\n  default_user:\n    name: {user}\n"));
    }
    if !edit::is_dir(g, "/etc/cloud/cloud.cfg.d")? {
        g.mkdir_p("/etc/cloud/cloud.cfg.d")?;
    }
    edit::write_if_changed(g, CLOUD_INIT_DROPIN, cfg.as_bytes())?;
    edit::apply_globs(g, &["/var/lib/cloud/*"], edit::Action::RmRf)?;
    edit::apply_globs(g, &["/var/log/cloud-init.log", "/var/log/cloud-init-output.log"], edit::Action::RmFiles)
}

/// The kernel arguments `serial-console` adds.
const CONSOLE_ARGS: &str = "console=tty0 console=ttyS0,115200n8";

/// Adds the console arguments to a kernel command line that has no `console=ttyS0` yet.
fn with_console(cmdline: &str) -> Option<String> {
    if cmdline.split_whitespace().any(|a| a.starts_with("console=ttyS0")) {
        return None;
    }
    Some(if cmdline.trim().is_empty() { CONSOLE_ARGS.to_string() } else { format!("{} {CONSOLE_ARGS}", cmdline.trim_end()) })
}

/// `serial-console`: `GRUB_CMDLINE_LINUX_DEFAULT` in `/etc/default/grub` and the kernel lines
/// (`linux`, `linux16`, `linuxefi`) of the generated grub.cfg files.
fn serial_console(g: &Guest, _: &Ctx) -> Result<()> {
    let key = "GRUB_CMDLINE_LINUX_DEFAULT";
    if edit::is_file(g, "/etc/default/grub")? {
        let mut found = false;
        edit::edit_lines(g, "/etc/default/grub", |l| {
            if !edit::sets_var(l, &[key]) {
                return Some(l.to_string());
            }
            found = true;
            let (head, value) = l.split_once('=').unwrap_or((l, ""));
            let quote = value.trim().chars().next().filter(|c| *c == '"' || *c == '\'');
            let inner = match quote {
                Some(q) => value.trim().trim_matches(q),
                None => value.trim(),
            };
            let q = quote.map_or(String::from("\""), String::from);
            Some(with_console(inner).map_or_else(|| l.to_string(), |new| format!("{head}={q}{new}{q}")))
        })?;
        if !found {
            let text = edit::read_text(g, "/etc/default/grub")?.unwrap_or_default();
            let sep = if text.is_empty() || text.ends_with('\n') { "" } else { "\n" };
            g.write_append("/etc/default/grub", format!("{sep}{key}=\"{CONSOLE_ARGS}\"\n").as_bytes())?;
        }
    }
    let mut cfgs = vec!["/boot/grub/grub.cfg".to_string(), "/boot/grub2/grub.cfg".to_string()];
    cfgs.extend(g.glob("/boot/efi/EFI/*/grub.cfg")?);
    for p in cfgs {
        if !edit::is_file(g, &p)? {
            continue;
        }
        edit::edit_lines(g, &p, |l| {
            let t = l.trim_start();
            let cmd = t.split_whitespace().next().unwrap_or("");
            if matches!(cmd, "linux" | "linux16" | "linuxefi") {
                // a kernel line inside a one-line menuentry keeps its closing brace last
                let (body, tail) = match l.trim_end().strip_suffix('}') {
                    Some(b) => (b.trim_end(), " }"),
                    None => (l, ""),
                };
                return Some(with_console(body).map_or_else(|| l.to_string(), |new| format!("{new}{tail}")));
            }
            Some(l.to_string())
        })?;
    }
    Ok(())
}

/// `zeroconf`: `NOZEROCONF=yes` in `/etc/sysconfig/network`.
fn zeroconf(g: &Guest, _: &Ctx) -> Result<()> {
    let already = edit::read_text(g, "/etc/sysconfig/network")?
        .is_some_and(|t| t.lines().rev().find(|l| edit::sets_var(l, &["NOZEROCONF"])).is_some_and(|l| l.trim().ends_with("=yes")));
    if !already {
        set_var_in_file(g, "/etc/sysconfig/network", "NOZEROCONF", "yes")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_arguments() {
        assert_eq!(with_console("quiet splash").unwrap(), "quiet splash console=tty0 console=ttyS0,115200n8");
        assert_eq!(with_console("").unwrap(), CONSOLE_ARGS);
        assert!(with_console("ro console=ttyS0,9600").is_none());
    }

    #[test]
    fn module_lists() {
        assert!(lists_module("# comment\nloop\nacpiphp # hotplug\n", "acpiphp"));
        assert!(!lists_module("#acpiphp\nacpiphp_ibm\n", "acpiphp"));
    }
}
