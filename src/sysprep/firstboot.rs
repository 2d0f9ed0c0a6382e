//! The firstboot service of `--firstboot` / `--firstboot-command`, laid out as virt-customize
//! lays it: scripts in `/usr/lib/virt-sysprep/scripts/`, run once by
//! `/usr/lib/virt-sysprep/firstboot.sh` from a systemd unit (`guestfs-firstboot.service`) or,
//! without systemd, from SysV `S99guestfs-firstboot` links.

use super::facts::{has_systemd, rh_family};
use super::{edit, Ctx, Error};
use crate::Guest;
use crate::sysprep::Result;

const DIR: &str = "/usr/lib/virt-sysprep";
const DRIVER: &str = "/usr/lib/virt-sysprep/firstboot.sh";
const UNIT: &str = "/usr/lib/systemd/system/guestfs-firstboot.service";
const WANTS: &str = "/etc/systemd/system/multi-user.target.wants/guestfs-firstboot.service";

/// The driver: runs each executable script once (moved to `scripts-done` first), logging to
/// `~root/virt-sysprep-firstboot.log`.
const DRIVER_SH: &str = r#"#!/bin/sh
### BEGIN INIT INFO
# Provides:          virt-sysprep
# Required-Start:    $null
# Should-Start:      $all
# Default-Start:     2 3 5
# Default-Stop:      0 1 6
# Short-Description: Run the firstboot scripts once
### END INIT INFO
# Installed by vsysprep: runs each script of $todo once, at the next boot.
todo=/usr/lib/virt-sysprep/scripts
done_dir=/usr/lib/virt-sysprep/scripts-done
log=~root/virt-sysprep-firstboot.log

[ "$1" = start ] || exit 0
mkdir -p "$done_dir"
for script in "$todo"/*; do
  [ -x "$script" ] || continue
  name=$(basename "$script")
  # moved before it runs: a script that reboots the machine is not run twice
  mv "$script" "$done_dir/$name"
  echo "firstboot: running $name" | tee -a $log
  "$done_dir/$name" 2>&1 | tee -a $log
done
rm -f "$done_dir"/*
"#;

const UNIT_FILE: &str = "[Unit]
Description=libguestfs firstboot service
After=network.target
Before=prefdm.service

[Service]
Type=oneshot
ExecStart=/usr/lib/virt-sysprep/firstboot.sh start
RemainAfterExit=yes
StandardOutput=journal+console
StandardError=inherit

[Install]
WantedBy=multi-user.target
";

/// The script file name for the `n`th firstboot item named `name`: priority 5000, a
/// counter, and the name with every character outside `[A-Za-z0-9_]` made `-` (60 at most).
pub fn script_name(n: usize, name: &str) -> String {
    let clean: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).take(60).collect();
    format!("5000-{n:04}-{clean}")
}

/// Installs one firstboot script (and the service, if not there yet).
pub fn add(g: &Guest, cx: &Ctx, n: usize, name: &str, content: &[u8]) -> Result<()> {
    install_service(g, cx)?;
    let scripts = format!("{DIR}/scripts");
    if !edit::is_dir(g, &scripts)? {
        g.mkdir_p(&scripts)?;
    }
    let path = format!("{scripts}/{}", script_name(n, name));
    edit::write_if_changed(g, &path, content)?;
    chmod_755(g, &path)
}

fn chmod_755(g: &Guest, path: &str) -> Result<()> {
    if g.stat(path)?.mode & 0o7777 != 0o755 {
        g.chmod(0o755, path)?;
    }
    Ok(())
}

/// Creates the directories of `path` that are missing.
fn parent_dirs(g: &Guest, path: &str) -> Result<()> {
    if let Some((dir, _)) = path.rsplit_once('/') {
        if !dir.is_empty() && !edit::is_dir(g, dir)? {
            g.mkdir_p(dir)?;
        }
    }
    Ok(())
}

/// A symlink `link` → `target`, unless it is there already.
fn link(g: &Guest, target: &str, link: &str) -> Result<()> {
    if g.readlink(link).ok().as_deref() != Some(target.as_bytes()) {
        parent_dirs(g, link)?;
        g.ln_s(target, link, true)?;
    }
    Ok(())
}

fn install_service(g: &Guest, cx: &Ctx) -> Result<()> {
    parent_dirs(g, DRIVER)?;
    edit::write_if_changed(g, DRIVER, DRIVER_SH.as_bytes())?;
    chmod_755(g, DRIVER)?;
    if has_systemd(g)? || edit::is_dir(g, "/etc/systemd/system")? {
        parent_dirs(g, UNIT)?;
        edit::write_if_changed(g, UNIT, UNIT_FILE.as_bytes())?;
        return link(g, UNIT, WANTS);
    }
    let distro = cx.os.distro.as_str();
    if rh_family(distro) {
        for rl in [2, 3, 5] {
            link(g, DRIVER, &format!("/etc/rc.d/rc{rl}.d/S99guestfs-firstboot"))?;
        }
    } else if matches!(distro, "debian" | "ubuntu" | "kalilinux" | "linuxmint") {
        link(g, DRIVER, "/etc/init.d/guestfs-firstboot")?;
        for rl in [2, 3, 5] {
            link(g, "../init.d/guestfs-firstboot", &format!("/etc/rc{rl}.d/S99guestfs-firstboot"))?;
        }
    } else if matches!(distro, "opensuse" | "sles" | "suse-based") {
        link(g, DRIVER, "/etc/init.d/guestfs-firstboot")?;
        for rl in [2, 3, 5] {
            link(g, "../guestfs-firstboot", &format!("/etc/init.d/rc{rl}.d/S99guestfs-firstboot"))?;
        }
    } else {
        return Err(Error::Unsupported(format!("firstboot scripts on guest type {distro} (no systemd, unknown init system)")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_names() {
        assert_eq!(script_name(1, "/home/me/setup.sh"), "5000-0001--home-me-setup-sh");
        assert_eq!(script_name(12, "echo hi > /x"), "5000-0012-echo-hi----x");
        assert_eq!(script_name(1, &"a".repeat(80)).len(), "5000-0001-".len() + 60);
    }
}
