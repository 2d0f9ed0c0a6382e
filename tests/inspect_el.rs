//! RHEL-family guests on XFS (`fixtures/mk-guests-el.sh`: RHEL 9.4 on GPT with /boot and / on
//! XFS and a SQLite rpm database, RHEL 7.9 with XFS v4 on LVM and a Berkeley DB one, Amazon
//! Linux 2023) inspected as libguestfs 1.48 inspects them: `vinspect` prints exactly the XML
//! `virt-inspector` printed (golden files recorded by `fixtures/libguestfs/regen.sh`, since an
//! appliance boot takes a minute here), applications from the rpm database included, and
//! `vfilesystems --all --long -h --extra` prints what `virt-filesystems` printed.
//!
//! Amazon Linux is the one deliberate difference: libguestfs does not know `ID=amzn` and says
//! nothing of the distro (so neither package format nor manager, nor applications); we say
//! `amazonlinux`, `rpm`, `dnf` and list its packages. Everything else must match.

mod common;

use common::{fixture, root};
use std::path::Path;
use std::process::Command;

fn golden(name: &str) -> String {
    std::fs::read_to_string(root().join("fixtures/libguestfs").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn tool(bin: &str, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).output().unwrap();
    assert!(out.status.success(), "{bin} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn vinspect(img: &Path) -> String {
    tool(env!("CARGO_BIN_EXE_vinspect"), &["-a", img.to_str().unwrap()])
}

#[test]
fn el9_inspects_as_libguestfs_does() {
    assert_eq!(vinspect(&fixture("guest-el9.qcow2")), golden("guest-el9.virt-inspector.xml"));
}

#[test]
fn el7_inspects_as_libguestfs_does() {
    assert_eq!(vinspect(&fixture("guest-el7.raw")), golden("guest-el7.virt-inspector.xml"));
}

/// The `<filesystem>` blocks of a virt-inspector XML in device order.
fn sort_filesystems(xml: &str) -> String {
    let (Some(a), Some(b)) = (xml.find("    <filesystems>\n"), xml.find("    </filesystems>\n")) else { return xml.to_string() };
    let body = &xml[a + 18..b];
    let mut blocks: Vec<String> = body.split_inclusive("      </filesystem>\n").map(str::to_string).collect();
    blocks.sort();
    format!("{}{}{}", &xml[..a + 18], blocks.concat(), &xml[b..])
}

#[test]
fn al2023_inspects_as_libguestfs_does_and_knows_the_distro() {
    let ours = vinspect(&fixture("guest-al2023.raw"));
    // libguestfs 1.48 leaves /dev/disk/by-partuuid/ names unresolved (later versions resolve
    // /dev/disk/by-uuid/ ones); we resolve both to the device
    let theirs = golden("guest-al2023.virt-inspector.xml").replace("/dev/disk/by-partuuid/9c8b7a6f-5e4d-4c3b-a291-8f7e6d5c4b3a", "/dev/sda128");
    // ours = theirs + the distro, its package format and manager, and the applications
    let added = ["    <distro>amazonlinux</distro>\n", "    <package_format>rpm</package_format>\n", "    <package_management>dnf</package_management>\n"];
    let mut stripped = ours.clone();
    for a in added {
        assert!(stripped.contains(a), "{a} missing in\n{ours}");
        stripped = stripped.replacen(a, "", 1);
    }
    let a = stripped.find("    <applications>\n").expect("applications listed");
    let b = stripped.find("    </applications>\n").unwrap() + "    </applications>\n".len();
    assert_eq!(stripped[a..b].matches("<application>").count(), 41, "{}", &stripped[a..b]);
    stripped.replace_range(a..b, "    <applications/>\n");
    assert_eq!(sort_filesystems(&stripped), sort_filesystems(&theirs));
}

#[test]
fn filesystems_list_as_virt_filesystems_does() {
    for (img, name) in [("guest-el9.qcow2", "guest-el9"), ("guest-el7.raw", "guest-el7"), ("guest-al2023.raw", "guest-al2023")] {
        let ours = tool(env!("CARGO_BIN_EXE_vfilesystems"), &["-a", fixture(img).to_str().unwrap(), "--all", "--long", "-h", "--extra"]);
        assert_eq!(ours, golden(&format!("{name}.virt-filesystems.txt")), "{img}");
    }
}

/// A damaged rpm database (its first b-tree page overwritten through a kernel mount of a copy)
/// lists no applications and warns naming the file and the structure; inspection goes on.
#[test]
fn damaged_rpm_database_warns_and_lists_nothing() {
    let _l = common::loop_lock();
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("al2023.raw");
    common::run("cp", &["--sparse=always", fixture("guest-al2023.raw").to_str().unwrap(), img.to_str().unwrap()]);
    let parts: serde_json::Value = serde_json::from_str(&common::run("sfdisk", &["-J", img.to_str().unwrap()])).unwrap();
    let p1 = parts["partitiontable"]["partitions"].as_array().unwrap().iter().find(|p| p["node"].as_str().unwrap().ends_with("raw1")).unwrap().clone();
    let (start, size) = (p1["start"].as_u64().unwrap() * 512, p1["size"].as_u64().unwrap() * 512);
    {
        let lo = common::Loop::attach_rw(&img, start, size);
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        common::run("mount", &[&lo.0, mnt.to_str().unwrap()]);
        let db = mnt.join("var/lib/rpm/rpmdb.sqlite");
        let mut data = std::fs::read(&db).unwrap();
        data[100..4096].fill(0x42);
        std::fs::write(&db, &data).unwrap();
        common::run("umount", &[mnt.to_str().unwrap()]);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_vinspect")).args(["-a", img.to_str().unwrap()]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("    <applications/>\n"), "{stdout}");
    assert!(stdout.contains("<distro>amazonlinux</distro>"), "{stdout}");
    assert!(stderr.contains("vinspect: warning: /dev/sda1: ") && stderr.contains("rpmdb.sqlite"), "{stderr}");
}
