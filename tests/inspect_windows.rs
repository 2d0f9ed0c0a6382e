//! libguestfs's phony Windows 7 guest (`fixtures/mk-guests-windows.sh`: MBR with disk signature
//! "1234", two NTFS partitions made by mkntfs and filled through ntfs-3g, SOFTWARE and SYSTEM
//! hives merged by hivexregedit from libguestfs's minimal-hive and .reg files, libguestfs's
//! PE32 test program as cmd.exe) inspected as libguestfs 1.48's virt-inspector inspected it
//! (`fixtures/libguestfs/guest-windows.virt-inspector.xml`), field by field and byte for byte,
//! and its variant on GPT with virtio-win drivers (`guest-windows-virtio.raw`) likewise;
//! every registry key and value our hive reader reads equals `hivexregedit --export` of the same
//! hive; damaged hives (byte patches of the hive inside a copy of the image) give errors naming
//! the hive and the structure, never a panic.

mod common;

use common::fixture;
use serde_json::Value as J;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;
use vguestfs::guest::inspect::hive::{Hive, Key};
use vguestfs::guest::DriveOptions;
use vguestfs::Guest;

const ROOT: &str = "/dev/sda2";
const SOFTWARE: &str = "/Windows/System32/Config/SOFTWARE";
const SYSTEM: &str = "/Windows/System32/Config/SYSTEM";

fn open(img: &Path) -> Guest {
    let mut g = Guest::new();
    g.add_drive(img, DriveOptions { readonly: true, ..Default::default() }).unwrap();
    g.launch().unwrap();
    g
}

fn golden() -> String {
    std::fs::read_to_string(common::root().join("fixtures/libguestfs/guest-windows.virt-inspector.xml")).unwrap()
}

/// The texts of every `<name>…</name>` of the golden XML, in order.
fn elements(xml: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    xml.split(&open).skip(1).map(|s| s.split(&close).next().unwrap().replace("&amp;", "&")).collect()
}

fn vinspect(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vinspect")).args(args).output().unwrap()
}

#[test]
fn inspection_equals_virt_inspector_field_by_field() {
    let img = fixture("guest-windows.raw");
    let g = open(&img);
    let x = golden();
    assert_eq!(g.inspect_os().unwrap(), vec![ROOT.to_string()]);
    assert_eq!(elements(&x, "root"), [ROOT]);
    let os = g.inspect_root(ROOT).unwrap();
    let one = |name: &str| elements(&x, name).into_iter().next().unwrap_or_else(|| panic!("{name} not in the golden XML"));
    assert_eq!(os.os_type, one("name"));
    assert_eq!(os.distro, one("distro"));
    assert_eq!(os.arch, one("arch"));
    assert_eq!(os.product_name, one("product_name"));
    assert_eq!(os.product_variant, one("product_variant"));
    assert_eq!(os.major_version.to_string(), one("major_version"));
    assert_eq!(os.minor_version.to_string(), one("minor_version"));
    assert_eq!(os.windows_systemroot.as_deref(), Some(one("windows_systemroot").as_str()));
    assert_eq!(os.windows_current_control_set.as_deref(), Some(one("windows_current_control_set").as_str()));
    assert_eq!(os.hostname, one("hostname"));
    assert_eq!(os.osinfo, one("osinfo"));
    assert!(elements(&x, "package_format").is_empty() && os.package_format == "unknown");
    assert!(elements(&x, "package_management").is_empty() && os.package_management == "unknown");
    assert_eq!(os.mountpoints, vec![("/".to_string(), ROOT.to_string())]);
    assert!(x.contains(&format!("<mountpoint dev=\"{ROOT}\">/</mountpoint>")));
    assert_eq!(os.drive_mappings, vec![("C".to_string(), ROOT.to_string())]);
    assert!(x.contains(&format!("<drive_mapping name=\"C\">{ROOT}</drive_mapping>")));
    assert_eq!(g.inspect_get_product_variant(ROOT).unwrap(), "Client");
    assert_eq!(g.inspect_get_windows_systemroot(ROOT).unwrap(), "/Windows");
    assert_eq!(g.inspect_get_drive_mappings(ROOT).unwrap(), os.drive_mappings);

    let apps = g.inspect_list_applications(ROOT).unwrap();
    let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
    let xml_apps: Vec<&str> = x.split("<application>").skip(1).collect();
    assert_eq!(names, ["test1", "test2", "test3", "test4"]);
    assert_eq!(apps.len(), xml_apps.len());
    for (a, xa) in apps.iter().zip(xml_apps) {
        let field = |n: &str| elements(xa, n).into_iter().next().unwrap_or_default();
        assert_eq!(a.name, field("name"));
        assert_eq!(a.display_name, field("display_name"));
        assert_eq!(a.version, field("version"));
        assert_eq!(a.install_path, field("install_path"));
        assert_eq!(a.publisher, field("publisher"));
        assert_eq!(a.url, field("url"));
        assert_eq!(a.description, field("description"));
    }
}

/// `vinspect` prints virt-inspector's XML byte for byte, and its JSON carries the same data.
#[test]
fn vinspect_equals_virt_inspector() {
    let img = fixture("guest-windows.raw");
    let a = img.to_str().unwrap();
    let out = vinspect(&["-a", a]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), golden());
    let out = vinspect(&["--json", "-a", a]);
    let j: J = serde_json::from_slice(&out.stdout).unwrap();
    let os = &j["operatingsystems"][0];
    let x = golden();
    for k in ["root", "name", "arch", "distro", "product_name", "product_variant", "windows_systemroot", "windows_current_control_set", "hostname", "osinfo"] {
        assert_eq!(os[k].as_str(), Some(elements(&x, k)[0].as_str()), "{k}");
    }
    assert_eq!(os["major_version"], 6);
    assert_eq!(os["drive_mappings"][0]["name"], "C");
    assert_eq!(os["drive_mappings"][0]["dev"], ROOT);
    assert_eq!(os["applications"][2]["install_path"], "C:\\Program Files\\Red Hat\\test3");
}

/// One value of a `.reg` export: (type, data).
fn reg_value(v: &str) -> (u32, Vec<u8>) {
    let hex = |s: &str| s.split(',').filter(|b| !b.is_empty()).map(|b| u8::from_str_radix(b.trim(), 16).unwrap()).collect::<Vec<u8>>();
    if let Some(d) = v.strip_prefix("dword:") {
        (4, u32::from_str_radix(d, 16).unwrap().to_le_bytes().to_vec())
    } else if let Some(h) = v.strip_prefix("hex:") {
        (3, hex(h))
    } else if let Some(rest) = v.strip_prefix("hex(") {
        let (t, h) = rest.split_once("):").unwrap();
        (u32::from_str_radix(t, 16).unwrap(), hex(h))
    } else {
        let s = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap().replace("\\\\", "\\").replace("\\\"", "\"");
        (1, s.encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect())
    }
}

/// `hivexregedit --export` text as (key path, [(value name, type, data)]) in file order.
fn parse_export(text: &str) -> Vec<(String, Vec<(String, u32, Vec<u8>)>)> {
    let text = text.replace("\\\n", "");
    let mut keys: Vec<(String, Vec<(String, u32, Vec<u8>)>)> = Vec::new();
    for line in text.lines() {
        if let Some(k) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            keys.push((k.to_string(), Vec::new()));
        } else if let Some(rest) = line.strip_prefix('"') {
            let (name, v) = rest.split_once("\"=").unwrap();
            let (t, d) = reg_value(v);
            keys.last_mut().unwrap().1.push((name.replace("\\\\", "\\"), t, d));
        } else if let Some(v) = line.strip_prefix("@=") {
            let (t, d) = reg_value(v);
            keys.last_mut().unwrap().1.push((String::new(), t, d));
        }
    }
    keys
}

/// Every key under `key` (depth first, subkeys sorted by name as the export sorts them) with
/// its values.
fn walk(h: &Hive, key: Key, path: &str, out: &mut Vec<(String, Vec<(String, u32, Vec<u8>)>)>) {
    let mut vals: Vec<(String, u32, Vec<u8>)> = h.values(key).unwrap().into_iter().map(|v| (v.name, v.kind, v.data)).collect();
    vals.sort_by(|a, b| a.0.cmp(&b.0));
    out.push((if path.is_empty() { "\\".to_string() } else { path.to_string() }, vals));
    let mut subs: Vec<(String, Key)> = h.subkeys(key).unwrap().into_iter().map(|k| (h.key_name(k).unwrap(), k)).collect();
    subs.sort_by(|a, b| a.0.to_lowercase().cmp(&b.0.to_lowercase()));
    for (name, k) in subs {
        walk(h, k, &format!("{path}\\{name}"), out);
    }
}

#[test]
fn registry_equals_hivexregedit_export() {
    let img = fixture("guest-windows.raw");
    let mut g = open(&img);
    g.mount_ro(ROOT, "/").unwrap();
    for (guest_path, name) in [(SOFTWARE, "software"), (SYSTEM, "system")] {
        let file = std::fs::read(fixture(&format!("guest-windows.{name}"))).unwrap();
        // the hive in the image, read through our NTFS reader, is the file hivexregedit wrote
        let data = g.read_file(guest_path).unwrap();
        assert_eq!(data, file, "{guest_path}");
        let h = Hive::new(guest_path, data).unwrap();
        let mut ours = Vec::new();
        walk(&h, h.root(), "", &mut ours);
        let mut theirs = parse_export(&std::fs::read_to_string(fixture(&format!("guest-windows.{name}.reg"))).unwrap());
        for (_, vals) in &mut theirs {
            vals.sort_by(|a, b| a.0.cmp(&b.0));
        }
        assert_eq!(ours, theirs, "{name}");
    }
    let h = Hive::new(SOFTWARE, g.read_file(SOFTWARE).unwrap()).unwrap();
    let cv = h.path(&["microsoft", "WINDOWS NT", "currentversion"]).unwrap().unwrap();
    assert_eq!(h.value(cv, "productname").unwrap().unwrap().as_string().as_deref(), Some("Microsoft Windows 7 Phony Edition"));
    assert_eq!(h.path(&["Microsoft", "nope"]).unwrap(), None);
    let t1 = h.path(&["Microsoft", "Windows", "CurrentVersion", "Uninstall", "test1"]).unwrap().unwrap();
    assert_eq!(h.value(t1, "VersionMinor").unwrap().unwrap().as_dword(), Some(2));
}

/// Where each 4 KiB block of `hive` lies in `img` (the hive's clusters, found by content).
fn hive_blocks(img: &Path, hive: &[u8]) -> Vec<u64> {
    let f = std::fs::File::open(img).unwrap();
    let len = f.metadata().unwrap().len();
    let mut found = vec![None; hive.len() / 4096];
    let mut chunk = vec![0u8; 1 << 20];
    let mut off = 0;
    while off < len {
        f.read_exact_at(&mut chunk, off).unwrap();
        for (i, block) in chunk.chunks(4096).enumerate() {
            if let Some(b) = hive.chunks(4096).position(|h| h == block) {
                found[b].get_or_insert(off + (i * 4096) as u64);
            }
        }
        off += chunk.len() as u64;
    }
    found.into_iter().map(|o| o.expect("hive block in the image")).collect()
}

/// The XOR checksum of a base block, stored at 508.
fn checksum(base: &[u8]) -> [u8; 4] {
    (0..127).fold(0u32, |a, i| a ^ u32::from_le_bytes(base[i * 4..i * 4 + 4].try_into().unwrap())).to_le_bytes()
}

#[test]
fn damaged_hives_are_errors_naming_the_hive() {
    let img = fixture("guest-windows.raw");
    let software = std::fs::read(fixture("guest-windows.software")).unwrap();
    let system = std::fs::read(fixture("guest-windows.system")).unwrap();
    let sw_blocks = hive_blocks(&img, &software);
    let sys_blocks = hive_blocks(&img, &system);
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("w.raw");
    common::run("cp", &["--sparse=always", img.to_str().unwrap(), copy.to_str().unwrap()]);
    // the offset in the image of byte `at` of a hive
    let pos = |blocks: &[u64], at: usize| blocks[at / 4096] + (at % 4096) as u64;
    let hostname_vk = system.windows(8).position(|w| w == b"Hostname").unwrap() - 20;
    let mut root_moved = software[..4096].to_vec();
    root_moved[36..40].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    let sum = checksum(&root_moved);
    root_moved[508..512].copy_from_slice(&sum);
    let cases: Vec<(&str, Vec<(u64, Vec<u8>)>, &str)> = vec![
        ("signature", vec![(pos(&sw_blocks, 0), b"regX".to_vec())], "no \"regf\" signature"),
        ("checksum", vec![(pos(&sw_blocks, 100), vec![0x55])], "base block: checksum"),
        ("root key", vec![(pos(&sw_blocks, 0), root_moved)], "root key: cell offset 0x7fff0000 past the end of the hive"),
        (
            "value data",
            vec![(pos(&sys_blocks, hostname_vk + 8), 0x7fff_0000u32.to_le_bytes().to_vec())],
            "value \"Hostname\": cell offset 0x7fff0000 past the end",
        ),
    ];
    for (what, patches, want) in cases {
        common::run("cp", &["--sparse=always", img.to_str().unwrap(), copy.to_str().unwrap()]);
        let f = std::fs::OpenOptions::new().write(true).open(&copy).unwrap();
        for (off, bytes) in &patches {
            f.write_all_at(bytes, *off).unwrap();
        }
        drop(f);
        let g = open(&copy);
        // the root is still found (its files are there); its inspection is an error
        assert_eq!(g.inspect_os().unwrap(), vec![ROOT.to_string()], "{what}");
        let e = g.inspect_root(ROOT).unwrap_err().to_string();
        let hive = if what == "value data" { SYSTEM } else { SOFTWARE };
        assert!(e.starts_with(&format!("{hive}: damaged registry hive: ")) && e.contains(want), "{what}: {e}");
        let out = vinspect(&["-a", copy.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains(want) && !err.contains("panicked"), "{what}: {err}");
    }
}

/// Every single-byte change of either hive (three hostile values at every offset past the base
/// block) gives a hive that reads or an error naming the hive: no panic, no endless walk.
#[test]
fn every_byte_patch_of_the_hives_is_handled() {
    for name in ["software", "system"] {
        let file = std::fs::read(fixture(&format!("guest-windows.{name}"))).unwrap();
        for at in 4096..file.len() {
            for v in [0x00, 0xff, file[at] ^ 0x80] {
                let mut d = file.clone();
                d[at] = v;
                let Ok(h) = Hive::new(name, d) else { continue };
                let mut stack = vec![(h.root(), 0)];
                while let Some((k, depth)) = stack.pop() {
                    if let Err(e) = h.key_name(k).and(h.values(k)) {
                        assert!(e.to_string().starts_with(&format!("{name}: damaged registry hive: ")), "{e}");
                        continue;
                    }
                    match h.subkeys(k) {
                        Ok(subs) if depth < 16 => stack.extend(subs.into_iter().map(|s| (s, depth + 1))),
                        Ok(_) => {}
                        Err(e) => assert!(e.to_string().starts_with(&format!("{name}: damaged registry hive: ")), "{e}"),
                    }
                }
            }
        }
    }
}

/// The Glance properties of a guest, as (key, value).
fn glance(img: &Path) -> Vec<(String, String)> {
    let g = open(img);
    g.glance_properties(ROOT).unwrap().into_iter().map(|p| (p.key, p.value)).collect()
}

fn get<'a>(props: &'a [(String, String)], key: &str) -> Option<&'a str> {
    props.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// `vinspect --glance` on Windows: virt-v2v's rules (`output/openstack_image_properties.ml`)
/// applied to virt-inspector's data — os_type and os_distro as inspection names them,
/// os_version major.minor, architecture — and the buses from the virtio-win drivers the image
/// holds: none on the phony guest (IDE and e1000, with warnings), viostor, netkvm and viorng
/// on its virtio variant.
#[test]
fn glance_properties() {
    let x = golden();
    let plain = glance(&fixture("guest-windows.raw"));
    let one = |name: &str| elements(&x, name).into_iter().next().unwrap();
    let version = match (one("major_version").as_str(), one("minor_version").as_str()) {
        (x, "0") => x.to_string(),
        (x, y) => format!("{x}.{y}"),
    };
    assert_eq!(get(&plain, "os_type"), Some(one("name").as_str()));
    assert_eq!(get(&plain, "os_distro"), Some(one("distro").as_str()));
    assert_eq!(get(&plain, "os_version"), Some(version.as_str()));
    assert_eq!(get(&plain, "os_version"), Some("6.1"));
    assert_eq!(get(&plain, "architecture"), Some(one("arch").as_str()));
    assert_eq!((get(&plain, "hw_disk_bus"), get(&plain, "hw_vif_model"), get(&plain, "hw_rng_model")), (Some("ide"), Some("e1000"), None));
    assert_eq!(get(&plain, "cloud_init_installed"), None, "no Linux checks on Windows");
    let virtio = glance(&fixture("guest-windows-virtio.raw"));
    assert_eq!((get(&virtio, "hw_disk_bus"), get(&virtio, "hw_vif_model"), get(&virtio, "hw_rng_model")), (Some("virtio"), Some("virtio"), Some("virtio")));
    assert_eq!(get(&virtio, "hw_scsi_model"), None);
    let out = vinspect(&["--glance", "-a", fixture("guest-windows.raw").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hw_disk_bus=ide: no viostor nor vioscsi at boot: no /Windows/System32/drivers/viostor.sys"), "{err}");
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(line.starts_with("openstack image set --property architecture=i386 --property os_type=windows --property os_distro=windows --property os_version=6.1 "), "{line}");
}

/// On GPT, `MountedDevices` names C: by `DMIO:ID:` and the partition's unique GUID (set by
/// sgdisk -u in the fixture), which maps to the partition holding it.
#[test]
fn gpt_drive_letter() {
    let g = open(&fixture("guest-windows-virtio.raw"));
    assert_eq!(g.inspect_os().unwrap(), vec![ROOT.to_string()]);
    assert_eq!(g.inspect_get_drive_mappings(ROOT).unwrap(), vec![("C".to_string(), ROOT.to_string())]);
    let parts = common::run("sgdisk", &["-i", "2", fixture("guest-windows-virtio.raw").to_str().unwrap()]);
    assert!(parts.contains("Partition unique GUID: 6F1A2B3C-4D5E-4F60-8172-8394A5B6C7D8"), "{parts}");
    // virt-inspector maps it the same way (its whole XML, byte for byte)
    let golden = std::fs::read_to_string(common::root().join("fixtures/libguestfs/guest-windows-virtio.virt-inspector.xml")).unwrap();
    assert!(golden.contains(&format!("<drive_mapping name=\"C\">{ROOT}</drive_mapping>")));
    let out = vinspect(&["-a", fixture("guest-windows-virtio.raw").to_str().unwrap()]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), golden);
}

/// `vsysprep --audit` on Windows runs the Windows checks only (no sshd or /etc checks): the
/// phony guest fails cloudbase-init and virtio-drivers, its virtio variant passes both and the
/// guest agent; both have no boot code (the phony guest has none) and C: on partition 2.
#[test]
fn sysprep_audit() {
    let audit = |img: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_vsysprep")).args(["--audit", "--json", "-a", fixture(img).to_str().unwrap()]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
        let j: J = serde_json::from_slice(&out.stdout).unwrap();
        j["roots"][0]["findings"].as_array().unwrap().iter().map(|f| (f["check"].as_str().unwrap().to_string(), f["status"].as_str().unwrap().to_string())).collect::<Vec<_>>()
    };
    let pairs = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
    assert_eq!(
        audit("guest-windows.raw"),
        pairs(&[("cloudbase-init", "fail"), ("qemu-guest-agent", "warn"), ("virtio-drivers", "fail"), ("root-layout", "warn"), ("boot-loader", "fail")])
    );
    assert_eq!(
        audit("guest-windows-virtio.raw"),
        pairs(&[("cloudbase-init", "pass"), ("qemu-guest-agent", "pass"), ("virtio-drivers", "pass"), ("root-layout", "warn"), ("boot-loader", "fail")])
    );
}
