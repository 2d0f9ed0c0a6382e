//! `vimage-info [--format F] [--output human|json] IMAGE`: `qemu-img info` that is safe on
//! untrusted files — headers only, never a backing, data or extent file — with a verdict:
//! exit 0 safe, 1 unsafe (the reasons are printed), 2 unreadable. See `disk::info`.

use clap::{Arg, ArgAction, Command};
use std::path::PathBuf;
use std::process::ExitCode;
use vguestfs::disk::info::{inspect, ImageInfo};

fn cli() -> Command {
    Command::new("vimage-info")
        .about("qemu-img info that is safe on untrusted image files: headers only, and a verdict")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::new("image").value_name("IMAGE").required(true))
        .arg(Arg::new("format").short('f').long("format").value_name("FMT").help("The format the image is declared as (a mismatch is unsafe)"))
        .arg(Arg::new("output").long("output").value_name("human|json").default_value("human").value_parser(["human", "json"]))
        .arg(Arg::new("json").long("json").action(ArgAction::SetTrue).help("Same as --output=json"))
}

/// `qemu-img info`'s size form: `64 MiB`, `1.5 GiB`.
fn size(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        return format!("{n} B");
    }
    // three significant digits, as qemu-img's %0.3g
    let s = if v >= 100.0 { format!("{v:.0}") } else if v >= 10.0 { format!("{v:.1}") } else { format!("{v:.2}") };
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    format!("{s} {}", UNITS[u])
}

fn human(i: &ImageInfo) -> String {
    let mut o = format!("image: {}\nfile format: {}\nvirtual size: {} ({} bytes)\ndisk size: {}\n", i.filename, i.format, size(i.virtual_size), i.virtual_size, size(i.actual_size));
    if let Some(c) = i.cluster_size {
        o += &format!("cluster_size: {c}\n");
    }
    if let Some(b) = &i.backing_filename {
        o += &format!("backing file: {b}\n");
    }
    if let Some(f) = &i.backing_filename_format {
        o += &format!("backing file format: {f}\n");
    }
    if let Some(fs) = &i.format_specific {
        o += "Format specific information:\n";
        // qemu-img's order
        for k in ["compat", "compression-type", "lazy-refcounts", "refcount-bits", "corrupt", "extended-l2"] {
            let v = &fs["data"][k];
            if !v.is_null() {
                let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                o += &format!("    {}: {v}\n", k.replace('-', " "));
            }
        }
    }
    o += &format!("safe: {}\n", if i.safe { "yes" } else { "no" });
    for r in &i.reasons {
        o += &format!("unsafe: {r}\n");
    }
    o
}

fn main() -> ExitCode {
    vguestfs::tool::default_sigpipe();
    let m = cli().try_get_matches().unwrap_or_else(|e| e.exit());
    let path = PathBuf::from(m.get_one::<String>("image").map(String::as_str).unwrap_or_default());
    let info = match inspect(&path, m.get_one::<String>("format").map(String::as_str)) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("vimage-info: error: {e}");
            return ExitCode::from(2);
        }
    };
    if m.get_flag("json") || m.get_one::<String>("output").map(String::as_str) == Some("json") {
        match serde_json::to_string_pretty(&info) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("vimage-info: error: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{}", human(&info));
    }
    ExitCode::from(if info.safe { 0 } else { 1 })
}
