//! Handlers of the inspection commands (`inspect-os`, `inspect-get-*`), printing as guestfish:
//! strings and integers on one line, lists one item per line, hashes as `key: value`.

use crate::command::Args;
use crate::error::{CmdError, CmdResult};
use crate::session::Session;
use crate::structs::{print_list, Fields};
use std::io::Write;
use vguestfs::guest::inspect::OsInfo;

/// `inspect-os`: the root filesystems of the operating systems found, one per line.
pub fn inspect_os(s: &mut Session, _a: &Args, out: &mut dyn Write) -> CmdResult {
    for root in s.guest.inspect_os()? {
        writeln!(out, "{root}")?;
    }
    Ok(())
}

/// Prints one field of the inspection of the root named by the first argument.
fn field(s: &Session, a: &Args, out: &mut dyn Write, get: impl Fn(&OsInfo) -> String) -> CmdResult {
    let info = s.guest.inspect_root(a.str(0))?;
    writeln!(out, "{}", get(&info))?;
    Ok(())
}

/// `inspect-get-type root`
pub fn get_type(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    field(s, a, out, |i| i.os_type.clone())
}

/// `inspect-get-distro root`
pub fn get_distro(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    field(s, a, out, |i| i.distro.clone())
}

/// `inspect-get-product-name root`
pub fn get_product_name(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    field(s, a, out, |i| i.product_name.clone())
}

/// `inspect-get-major-version root`
pub fn get_major_version(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    field(s, a, out, |i| i.major_version.to_string())
}

/// `inspect-get-minor-version root`
pub fn get_minor_version(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    field(s, a, out, |i| i.minor_version.to_string())
}

/// `inspect-get-arch root`
pub fn get_arch(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    field(s, a, out, |i| i.arch.clone())
}

/// `inspect-get-hostname root`
pub fn get_hostname(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    field(s, a, out, |i| i.hostname.clone())
}

/// `inspect-get-osinfo root`
pub fn get_osinfo(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    field(s, a, out, |i| i.osinfo.clone())
}

/// `inspect-get-package-format root`
pub fn get_package_format(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    field(s, a, out, |i| i.package_format.clone())
}

/// `inspect-get-package-management root`
pub fn get_package_management(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    field(s, a, out, |i| i.package_management.clone())
}

/// `inspect-get-format root`
pub fn get_format(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    field(s, a, out, |i| i.format.clone())
}

/// `inspect-get-product-variant root`
pub fn get_product_variant(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    field(s, a, out, |i| i.product_variant.clone())
}

/// `inspect-get-build-id root`
pub fn get_build_id(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    field(s, a, out, |i| i.build_id.clone())
}

/// `inspect-get-windows-systemroot root`
pub fn get_windows_systemroot(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    writeln!(out, "{}", s.guest.inspect_get_windows_systemroot(a.str(0))?)?;
    Ok(())
}

/// `inspect-get-windows-current-control-set root`
pub fn get_windows_current_control_set(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    writeln!(out, "{}", s.guest.inspect_get_windows_current_control_set(a.str(0))?)?;
    Ok(())
}

/// `inspect-get-drive-mappings root`: `letter: device` lines, as guestfish prints the hash.
pub fn get_drive_mappings(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    for (letter, dev) in s.guest.inspect_get_drive_mappings(a.str(0))? {
        writeln!(out, "{letter}: {dev}")?;
    }
    Ok(())
}

/// `inspect-get-mountpoints root`: `mountpoint: device` lines.
pub fn get_mountpoints(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    for (mp, dev) in s.guest.inspect_get_mountpoints(a.str(0))? {
        writeln!(out, "{mp}: {dev}")?;
    }
    Ok(())
}

/// `inspect-get-filesystems root`
pub fn get_filesystems(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    for fs in s.guest.inspect_get_filesystems(a.str(0))? {
        writeln!(out, "{fs}")?;
    }
    Ok(())
}

/// The applications of `root` as guestfish's `application2` structs, or with `v1` as the
/// older `application` structs (fields named `app_`, no arch, no spares).
fn applications(s: &Session, root: &str, v1: bool) -> Result<Vec<Fields>, CmdError> {
    Ok(s.guest
        .inspect_list_applications(root)?
        .into_iter()
        .map(|app| {
            let all = [
                ("app2_name", "app_name", app.name),
                ("app2_display_name", "app_display_name", app.display_name),
                ("app2_epoch", "app_epoch", app.epoch.to_string()),
                ("app2_version", "app_version", app.version),
                ("app2_release", "app_release", app.release),
                ("app2_arch", "", app.arch),
                ("app2_install_path", "app_install_path", app.install_path),
                ("app2_trans_path", "app_trans_path", String::new()),
                ("app2_publisher", "app_publisher", app.publisher),
                ("app2_url", "app_url", app.url),
                ("app2_source_package", "app_source_package", app.source_package),
                ("app2_summary", "app_summary", app.summary),
                ("app2_description", "app_description", app.description),
                ("app2_spare1", "", String::new()),
                ("app2_spare2", "", String::new()),
                ("app2_spare3", "", String::new()),
                ("app2_spare4", "", String::new()),
            ];
            all.into_iter()
                .filter_map(|(n2, n1, v)| match v1 {
                    false => Some((n2, v)),
                    true => (!n1.is_empty()).then_some((n1, v)),
                })
                .collect()
        })
        .collect())
}

/// `inspect-list-applications2 root`: guestfish's `application2` structs.
pub fn list_applications2(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    print_list(out, &applications(s, a.str(0), false)?)
}

/// `inspect-list-applications root` (deprecated in libguestfs): the `application` structs.
pub fn list_applications(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    print_list(out, &applications(s, a.str(0), true)?)
}
