//! `vinspect`: inspect the operating systems in disk images and print what `virt-inspector`
//! prints — its XML (`<operatingsystems><operatingsystem><root>…`, same element names and
//! order), or with `--json` the same data as JSON.

use anyhow::{bail, Result};
use clap::{Arg, ArgAction, Command};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use vguestfs::disk::Format;
use vguestfs::guest::inspect::{Application, OsInfo};
use vguestfs::guest::DriveOptions;
use vguestfs::Guest;

fn cli() -> Command {
    Command::new("vinspect")
        .about("display information about the operating systems in a virtual machine disk image")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::new("add").short('a').long("add").value_name("IMAGE").action(ArgAction::Append).required(true).help("Add image"))
        .arg(Arg::new("format").long("format").value_name("raw|qcow2").help("Disk format of every -a image (default: probed)"))
        .arg(vguestfs::tool::backing_allow_arg())
        .arg(Arg::new("verbose").short('v').long("verbose").action(ArgAction::SetTrue).help("Print the backing chain of each qcow2 image"))
        .arg(Arg::new("json").long("json").action(ArgAction::SetTrue).help("Print JSON instead of XML"))
        .arg(Arg::new("glance").long("glance").action(ArgAction::SetTrue).help("Print the Glance image properties derived from the guest (see --glance-format); with --json, add a glance object"))
        .arg(Arg::new("glance-format").long("glance-format").value_name("cli|env|json").value_parser(["cli", "env", "json"]).default_value("cli").help("cli: one `openstack image set --property k=v … IMAGE` line; env: KEY=value lines; json: properties with their sources"))
        .arg(Arg::new("no-applications").long("no-applications").action(ArgAction::SetTrue).help("Do not list applications"))
}

/// One `<mountpoint dev="…">path</mountpoint>`.
#[derive(Serialize)]
struct MountpointOut {
    dev: String,
    mountpoint: String,
}

/// One `<drive_mapping name="C">device</drive_mapping>` of a Windows guest.
#[derive(Serialize)]
struct DriveMappingOut {
    name: String,
    dev: String,
}

/// One `<filesystem dev="…">` with what blkid tells.
#[derive(Serialize)]
struct FilesystemOut {
    dev: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    fs_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uuid: Option<String>,
}

/// One `<operatingsystem>`.
#[derive(Serialize)]
struct OsOut {
    #[serde(flatten)]
    info: OsInfo,
    #[serde(rename = "mountpoints")]
    mountpoints_out: Vec<MountpointOut>,
    #[serde(rename = "filesystems")]
    filesystems_out: Vec<FilesystemOut>,
    #[serde(rename = "drive_mappings", skip_serializing_if = "Vec::is_empty")]
    drive_mappings_out: Vec<DriveMappingOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    applications: Option<Vec<Application>>,
    /// Glance properties (`--glance`).
    #[serde(skip_serializing_if = "Option::is_none")]
    glance: Option<Vec<vguestfs::guest::inspect::glance::Property>>,
}

/// The whole report.
#[derive(Serialize)]
struct Report {
    operatingsystems: Vec<OsOut>,
}

fn main() -> ExitCode {
    vguestfs::tool::default_sigpipe();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vinspect: error: {}", vguestfs::tool::one_line(&e));
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<()> {
    let m = cli().try_get_matches().unwrap_or_else(|e| e.exit());
    let format = match m.get_one::<String>("format") {
        Some(f) => Some(f.parse::<Format>().map_err(anyhow::Error::msg)?),
        None => None,
    };
    vguestfs::tool::apply_backing_allow(&m);
    if m.get_flag("verbose") {
        let images: Vec<PathBuf> = m.get_many::<String>("add").into_iter().flatten().map(PathBuf::from).collect();
        vguestfs::tool::print_backing_chains("vinspect", &images);
    }
    let mut g = Guest::new();
    for path in m.get_many::<String>("add").into_iter().flatten() {
        g.add_drive(&PathBuf::from(path), DriveOptions { format, readonly: true, ..Default::default() })?;
    }
    g.launch()?;
    for n in g.notices() {
        eprintln!("vinspect: {n}");
    }
    let roots = g.inspect_os()?;
    vguestfs::tool::print_warnings(&g, "vinspect");
    if roots.is_empty() {
        bail!("no operating system could be detected inside this disk image.");
    }
    if m.get_flag("glance") && !m.get_flag("json") {
        return print_glance(&g, &roots, &m);
    }
    let mut report = Report { operatingsystems: Vec::new() };
    for root in roots {
        let mut info = g.inspect_root(&root)?;
        // The XML lists the mountpoints and filesystems in their own elements.
        let mountpoints = std::mem::take(&mut info.mountpoints);
        let mut filesystems = std::mem::take(&mut info.filesystems);
        let drive_mappings = std::mem::take(&mut info.drive_mappings);
        filesystems.sort();
        let filesystems_out = filesystems
            .into_iter()
            .map(|dev| {
                let probed = g.probe(&dev).ok().flatten();
                FilesystemOut {
                    fs_type: probed.as_ref().map(|p| p.fs_type.clone()),
                    label: probed.as_ref().and_then(|p| p.label.clone()).filter(|l| !l.is_empty()),
                    uuid: probed.and_then(|p| p.uuid),
                    dev,
                }
            })
            .collect();
        let applications = if m.get_flag("no-applications") {
            None
        } else {
            match g.inspect_list_applications(&root) {
                Ok(apps) => Some(apps),
                Err(e) => {
                    eprintln!("vinspect: warning: {root}: applications not listed: {e}");
                    None
                }
            }
        };
        report.operatingsystems.push(OsOut {
            info,
            mountpoints_out: mountpoints.into_iter().map(|(mountpoint, dev)| MountpointOut { dev, mountpoint }).collect(),
            filesystems_out,
            drive_mappings_out: drive_mappings.into_iter().map(|(name, dev)| DriveMappingOut { name, dev }).collect(),
            applications,
            glance: if m.get_flag("glance") { Some(g.glance_properties(&root)?) } else { None },
        });
    }
    vguestfs::tool::print_warnings(&g, "vinspect");
    if m.get_flag("json") {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", xml(&report));
    }
    Ok(())
}

/// `--glance` without `--json`: the properties of each root in the chosen format.
fn print_glance(g: &Guest, roots: &[String], m: &clap::ArgMatches) -> Result<()> {
    let images: Vec<&String> = m.get_many::<String>("add").into_iter().flatten().collect();
    for root in roots {
        let props = g.glance_properties(root)?;
        vguestfs::tool::print_warnings(g, "vinspect");
        match m.get_one::<String>("glance-format").map(String::as_str) {
            Some("env") => {
                for p in &props {
                    println!("{}={}", p.key, shell_quote(&p.value));
                }
            }
            Some("json") => println!("{}", serde_json::to_string_pretty(&props)?),
            _ => {
                let args: Vec<String> = props.iter().map(|p| format!("--property {}", shell_quote(&format!("{}={}", p.key, p.value)))).collect();
                let image = images.first().map(|i| shell_quote(i)).unwrap_or_default();
                println!("openstack image set {} {image}", args.join(" "));
            }
        }
    }
    Ok(())
}

/// A word for a POSIX shell: unchanged when safe, else single-quoted.
fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_.=/:,+@".contains(&c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// XML text escaping.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// virt-inspector's XML, two-space indented.
fn xml(r: &Report) -> String {
    let mut o = String::from("<?xml version=\"1.0\"?>\n<operatingsystems>\n");
    let el = |o: &mut String, indent: usize, name: &str, v: &str| {
        if !v.is_empty() && v != "unknown" {
            o.push_str(&format!("{:indent$}<{name}>{}</{name}>\n", "", esc(v)));
        }
    };
    for os in &r.operatingsystems {
        let i = &os.info;
        o.push_str("  <operatingsystem>\n");
        el(&mut o, 4, "root", &i.root);
        el(&mut o, 4, "name", &i.os_type);
        el(&mut o, 4, "arch", &i.arch);
        el(&mut o, 4, "distro", &i.distro);
        el(&mut o, 4, "product_name", &i.product_name);
        el(&mut o, 4, "product_variant", &i.product_variant);
        el(&mut o, 4, "major_version", &i.major_version.to_string());
        el(&mut o, 4, "minor_version", &i.minor_version.to_string());
        el(&mut o, 4, "package_format", &i.package_format);
        el(&mut o, 4, "package_management", &i.package_management);
        el(&mut o, 4, "windows_systemroot", i.windows_systemroot.as_deref().unwrap_or(""));
        el(&mut o, 4, "windows_current_control_set", i.windows_current_control_set.as_deref().unwrap_or(""));
        el(&mut o, 4, "hostname", &i.hostname);
        el(&mut o, 4, "osinfo", &i.osinfo);
        o.push_str("    <mountpoints>\n");
        for mp in &os.mountpoints_out {
            o.push_str(&format!("      <mountpoint dev=\"{}\">{}</mountpoint>\n", esc(&mp.dev), esc(&mp.mountpoint)));
        }
        o.push_str("    </mountpoints>\n    <filesystems>\n");
        for fs in &os.filesystems_out {
            o.push_str(&format!("      <filesystem dev=\"{}\">\n", esc(&fs.dev)));
            el(&mut o, 8, "type", fs.fs_type.as_deref().unwrap_or(""));
            el(&mut o, 8, "label", fs.label.as_deref().unwrap_or(""));
            el(&mut o, 8, "uuid", fs.uuid.as_deref().unwrap_or(""));
            o.push_str("      </filesystem>\n");
        }
        o.push_str("    </filesystems>\n");
        if !os.drive_mappings_out.is_empty() {
            o.push_str("    <drive_mappings>\n");
            for d in &os.drive_mappings_out {
                o.push_str(&format!("      <drive_mapping name=\"{}\">{}</drive_mapping>\n", esc(&d.name), esc(&d.dev)));
            }
            o.push_str("    </drive_mappings>\n");
        }
        // libxml2's writer closes an empty element in its start tag
        if os.applications.as_ref().is_some_and(Vec::is_empty) {
            o.push_str("    <applications/>\n");
        } else if let Some(apps) = &os.applications {
            o.push_str("    <applications>\n");
            for a in apps {
                o.push_str("      <application>\n");
                el(&mut o, 8, "name", &a.name);
                el(&mut o, 8, "display_name", &a.display_name);
                if a.epoch != 0 {
                    el(&mut o, 8, "epoch", &a.epoch.to_string());
                }
                el(&mut o, 8, "version", &a.version);
                el(&mut o, 8, "release", &a.release);
                el(&mut o, 8, "arch", &a.arch);
                el(&mut o, 8, "install_path", &a.install_path);
                el(&mut o, 8, "publisher", &a.publisher);
                el(&mut o, 8, "url", &a.url);
                el(&mut o, 8, "source_package", &a.source_package);
                el(&mut o, 8, "summary", &a.summary);
                el(&mut o, 8, "description", &a.description);
                o.push_str("      </application>\n");
            }
            o.push_str("    </applications>\n");
        }
        o.push_str("  </operatingsystem>\n");
    }
    o.push_str("</operatingsystems>\n");
    o
}
