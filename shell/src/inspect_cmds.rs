//! Handlers of the inspection commands (`inspect-os`, `inspect-get-*`), printing as guestfish:
//! strings and integers on one line, lists one item per line, hashes as `key: value`.

use crate::commands::{Args, CmdResult};
use crate::session::Session;
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

/// `inspect-list-applications2 root`: guestfish's `application2` structs.
pub fn list_applications2(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    for (i, app) in s.guest.inspect_list_applications(a.str(0))?.iter().enumerate() {
        writeln!(
            out,
            "[{i}] = {{\n  app2_name: {}\n  app2_display_name: \n  app2_epoch: {}\n  app2_version: {}\n  \
             app2_release: {}\n  app2_arch: {}\n  app2_install_path: \n  app2_trans_path: \n  \
             app2_publisher: \n  app2_url: {}\n  app2_source_package: {}\n  app2_summary: {}\n  \
             app2_description: {}\n  app2_spare1: \n  app2_spare2: \n  app2_spare3: \n  \
             app2_spare4: \n}}",
            app.name, app.epoch, app.version, app.release, app.arch, app.url, app.source_package,
            app.summary, app.description
        )?;
    }
    Ok(())
}

/// `inspect-list-applications root` (deprecated in libguestfs): the `application` structs,
/// which have no arch.
pub fn list_applications(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    for (i, app) in s.guest.inspect_list_applications(a.str(0))?.iter().enumerate() {
        writeln!(
            out,
            "[{i}] = {{\n  app_name: {}\n  app_display_name: \n  app_epoch: {}\n  app_version: {}\n  \
             app_release: {}\n  app_install_path: \n  app_trans_path: \n  app_publisher: \n  \
             app_url: {}\n  app_source_package: {}\n  app_summary: {}\n  app_description: {}\n}}",
            app.name, app.epoch, app.version, app.release, app.url, app.source_package,
            app.summary, app.description
        )?;
    }
    Ok(())
}
