//! vfish's output formats with values checked against real tools: `sfdisk -J` for partition
//! tables, `blkid -p` for filesystem type/UUID/label, and the demo image's build script
//! (`fixtures/make-demo.sh`: sgdisk GUIDs, mkfs labels and UUIDs, LV extents).

mod common;
use common::*;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// One partition as `sfdisk -J` shows it.
struct SfPart {
    num: u32,
    start: u64,
    size: u64,
    /// MBR type byte in hex without `0x`, or the GPT type GUID.
    ty: String,
    uuid: String,
    name: String,
    bootable: bool,
    /// GPT attributes as sfdisk names them (`LegacyBIOSBootable GUID:60`).
    attrs: String,
}

/// `sfdisk -J`: the table label (`dos`/`gpt`), its id and its partitions.
fn sfdisk(image: &str) -> (String, String, Vec<SfPart>) {
    let json = tool("sfdisk", &["-J", image]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("sfdisk json");
    let t = &v["partitiontable"];
    let label = t["label"].as_str().expect("label").to_string();
    let id = t["id"].as_str().unwrap_or("").to_string();
    let parts = t["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| {
            let node = p["node"].as_str().expect("node");
            let s = |k: &str| p[k].as_str().unwrap_or("").to_string();
            SfPart {
                num: node[image.len()..].parse().expect("partition number"),
                start: p["start"].as_u64().expect("start"),
                size: p["size"].as_u64().expect("size"),
                ty: s("type"),
                uuid: s("uuid"),
                name: s("name"),
                bootable: p["bootable"].as_bool().unwrap_or(false),
                attrs: s("attrs"),
            }
        })
        .collect();
    (label, id, parts)
}

/// The attribute bits sfdisk's names stand for.
fn attr_bits(attrs: &str) -> u64 {
    attrs
        .split_whitespace()
        .map(|a| match a {
            "RequiredPartition" => 1,
            "NoBlockIOProtocol" => 1 << 1,
            "LegacyBIOSBootable" => 1 << 2,
            other => {
                let bits = other
                    .strip_prefix("GUID:")
                    .unwrap_or_else(|| panic!("sfdisk attribute {other}"));
                bits.split(',')
                    .map(|b| 1u64 << b.parse::<u32>().expect("bit"))
                    .sum()
            }
        })
        .sum()
}

/// `blkid -p` of the bytes at `offset` (`size` long) of `image`: TYPE, UUID, LABEL, ….
fn blkid(image: &str, offset: u64, size: u64) -> HashMap<String, String> {
    let path = format!(
        "{}:/usr/sbin:/sbin",
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("blkid")
        .args([
            "-p",
            "-o",
            "export",
            "-O",
            &offset.to_string(),
            "-S",
            &size.to_string(),
            image,
        ])
        .env("PATH", path)
        .output()
        .expect("blkid");
    // Exit status 2: nothing found.
    assert!(
        matches!(out.status.code(), Some(0 | 2)),
        "blkid {image}: {out:?}"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Runs `cmds` (one per line) on `image` after `run`; returns stdout lines.
fn shell(image: &str, cmds: &[String]) -> Vec<String> {
    let script = format!("run\n{}\n", cmds.join("\n"));
    let o = vfish(&["-a", image], Some(&script));
    assert!(o.code == 0 && o.stderr.is_empty(), "{image}: {o:?}");
    o.stdout.lines().map(str::to_string).collect()
}

/// Checks part-list, part-get-parttype, MBR IDs / GPT GUIDs and names against sfdisk, and the
/// vfs-* commands against blkid for every non-extended partition.
fn check_against_tools(image: &str) {
    let (label, id, parts) = sfdisk(image);
    let mut expected_list = String::new();
    for (
        i,
        SfPart {
            num, start, size, ..
        },
    ) in parts.iter().enumerate()
    {
        let (b, l) = (start * 512, size * 512);
        expected_list.push_str(&format!(
            "[{i}] = {{\n  part_num: {num}\n  part_start: {b}\n  part_end: {}\n  part_size: {l}\n}}\n",
            b + l - 1
        ));
    }
    assert_eq!(
        ok(&["-a", image, "run", ":", "part-list", "/dev/sda"]),
        expected_list,
        "{image}"
    );
    let parttype = if label == "dos" { "msdos" } else { "gpt" };
    assert_eq!(
        ok(&["-a", image, "run", ":", "part-get-parttype", "/dev/sda"]),
        format!("{parttype}\n")
    );

    let mut cmds = Vec::new();
    let mut want = Vec::new();
    if label == "gpt" {
        cmds.push("part-get-disk-guid /dev/sda".to_string());
        want.push(id.clone());
    }
    for SfPart {
        num,
        start,
        size,
        ty,
        uuid,
        name,
        bootable,
        attrs,
    } in &parts
    {
        let dev = format!("/dev/sda{num}");
        cmds.push(format!("part-to-partnum {dev}"));
        want.push(num.to_string());
        cmds.push(format!("part-to-dev {dev}"));
        want.push("/dev/sda".to_string());
        if label == "dos" {
            cmds.push(format!("part-get-mbr-id /dev/sda {num}"));
            want.push(format!("0x{ty}"));
            cmds.push(format!("part-get-bootable /dev/sda {num}"));
            want.push(bootable.to_string());
        } else {
            cmds.push(format!("part-get-gpt-type /dev/sda {num}"));
            want.push(ty.clone());
            cmds.push(format!("part-get-gpt-guid /dev/sda {num}"));
            want.push(uuid.clone());
            cmds.push(format!("part-get-name /dev/sda {num}"));
            want.push(name.clone());
            cmds.push(format!("part-get-gpt-attributes /dev/sda {num}"));
            want.push((attr_bits(attrs) as i64).to_string());
        }
        if label == "dos" && matches!(ty.as_str(), "5" | "f" | "85") {
            continue; // extended container: Linux shows 1 KiB of it, blkid has nothing to say
        }
        let b = blkid(image, start * 512, size * 512);
        for (cmd, key) in [
            ("vfs-type", "TYPE"),
            ("vfs-uuid", "UUID"),
            ("vfs-label", "LABEL"),
        ] {
            cmds.push(format!("{cmd} {dev}"));
            want.push(b.get(key).cloned().unwrap_or_default());
        }
        cmds.push(format!("blockdev-getsize64 {dev}"));
        want.push((size * 512).to_string());
    }
    assert_eq!(shell(image, &cmds), want, "{image}");
}

#[test]
fn mbr_with_logical_partitions_matches_sfdisk_and_blkid() {
    check_against_tools(&fixture("mbr-logical.raw"));
}

#[test]
fn gpt_matches_sfdisk_and_blkid() {
    check_against_tools(&fixture("gpt-esp-ext4.raw"));
    check_against_tools(&fixture("gpt-many.raw"));
}

#[test]
fn demo_image_matches_its_raw_conversion_and_build_script() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = dir.path().join("demo.raw");
    tool(
        "qemu-img",
        &["convert", "-O", "raw", &demo(), &raw.to_string_lossy()],
    );
    let raw = raw.to_string_lossy().into_owned();
    check_against_tools(&raw);
    // The qcow2 and its raw conversion read the same.
    let script =
        "run\nlist-filesystems\npart-list /dev/sda\nlvs\nvgs\npvs\nvfs-uuid /dev/demo/swap\n";
    let a = vfish(&["-a", &demo()], Some(script));
    let b = vfish(&["--format=raw", "-a", &raw], Some(script));
    assert_eq!((a.code, &a.stdout), (0, &b.stdout));
}

#[test]
fn demo_image_pinned_outputs() {
    // Values set by fixtures/make-demo.sh: sgdisk -u/-t/-c, mkfs.vfat -n EFI -i 2C1A0B3D,
    // mkfs.ext4 -L root -U 3e0c…, mkswap -L swap -U 7a8b…; VG demo with 4 MiB extents,
    // root = 17 extents, swap = 4 extents.
    let script = "\
run
list-devices
list-partitions
list-filesystems
lvs
vgs
pvs
part-get-parttype /dev/sda
part-get-gpt-type /dev/sda 1
part-get-gpt-guid /dev/sda 1
part-get-name /dev/sda 2
vfs-type /dev/sda1
vfs-uuid /dev/sda1
vfs-label /dev/sda1
vfs-type /dev/sda2
vfs-type /dev/demo/root
vfs-uuid /dev/demo/root
vfs-label /dev/demo/root
vfs-type /dev/demo/swap
vfs-uuid /dev/demo/swap
vfs-label /dev/demo/swap
blockdev-getsize64 /dev/demo/root
blockdev-getsize64 /dev/demo/swap
blockdev-getsz /dev/demo/swap
blockdev-getss /dev/sda
canonical-device-name /dev/mapper/demo-root
canonical-device-name /dev/vda2
canonical-device-name /dev/mapper/other-lv
is-lv /dev/demo/swap
is-lv /dev/sda2
lvuuid /dev/demo/root
pvuuid /dev/sda2
blockdev-getro /dev/demo/root
";
    let o = vfish(&["-a", &demo()], Some(script));
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.stdout,
        "/dev/sda
/dev/sda1
/dev/sda2
/dev/sda1: vfat
/dev/demo/root: ext4
/dev/demo/swap: swap
/dev/demo/root
/dev/demo/swap
demo
/dev/sda2
gpt
C12A7328-F81F-11D2-BA4B-00A0C93EC93B
0A1B2C3D-4E5F-4061-8273-94A5B6C7D8E9
Linux LVM
vfat
2C1A-0B3D
EFI
LVM2_member
ext4
3e0c1f4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b
root
swap
7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d
swap
71303168
16777216
32768
512
/dev/demo/root
/dev/sda2
/dev/mapper/other-lv
true
false
Dm0LVr-aaaa-bbbb-cccc-dddd-eeee-ffff01
Dm0PV1-aaaa-bbbb-cccc-dddd-eeee-ffff01
true
"
    );
}

#[test]
fn vguuid_is_the_id_lvm2_wrote() {
    // vgcreate picked the VG's id at random: read it from the metadata text lvm2 wrote into
    // the PV's metadata area of the raw conversion.
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = dir.path().join("demo.raw");
    tool(
        "qemu-img",
        &["convert", "-O", "raw", &demo(), &raw.to_string_lossy()],
    );
    let bytes = std::fs::read(&raw).expect("read raw");
    let text = String::from_utf8_lossy(&bytes);
    let at = text.find("demo {\nid = \"").expect("VG metadata text") + "demo {\nid = \"".len();
    let id = &text[at..at + 38];
    assert_eq!(
        ok(&["-a", &demo(), "run", ":", "vguuid", "demo"]),
        format!("{id}\n")
    );
}

#[test]
fn partition_command_errors() {
    let d = demo();
    let cases = [
        ("part-list /dev/sda1", "vguestfs: error: part_list: /dev/sda1: not a whole disk device (see list-devices)\n"),
        ("part-get-mbr-id /dev/sda 1", "vguestfs: error: part_get_mbr_id: /dev/sda: this function needs a partition table of type 'msdos'\n"),
        ("part-get-gpt-type /dev/sda 9", "vguestfs: error: part_get_gpt_type: /dev/sda: partition 9 does not exist\n"),
        ("part-get-gpt-guid /dev/sda 0", "vguestfs: error: part_get_gpt_guid: partition number must be >= 1\n"),
        ("part-to-dev /dev/sda", "vguestfs: error: part_to_dev: /dev/sda: no such device in the guest (see list-devices, list-partitions, lvs)\n"),
    ];
    for (cmd, err) in cases {
        let o = vfish(&["-a", &d], Some(&format!("run\n{cmd}\n")));
        assert_eq!(
            (o.code, o.stderr.as_str()),
            (1, format!("*stdin*:2: {err}").as_str()),
            "{cmd}"
        );
    }
    let whole = fixture("whole-ext2.raw");
    let o = vfish(
        &["-a", &whole],
        Some("run\nlist-filesystems\npart-list /dev/sda\n"),
    );
    assert_eq!(o.code, 1);
    assert_eq!(o.stdout, "/dev/sda: ext2\n");
    assert_eq!(
        o.stderr,
        "*stdin*:3: vguestfs: error: part_list: /dev/sda: unrecognised disk label\n"
    );
    let mbr = fixture("mbr-logical.raw");
    let o = vfish(&["-a", &mbr], Some("run\npart-get-gpt-type /dev/sda 1\n"));
    assert_eq!(o.stderr, "*stdin*:2: vguestfs: error: part_get_gpt_type: /dev/sda: this function needs a partition table of type 'gpt'\n");
}

#[test]
fn whole_disk_filesystem_matches_blkid() {
    let whole = fixture("whole-ext2.raw");
    let len = std::fs::metadata(Path::new(&whole)).expect("stat").len();
    let b = blkid(&whole, 0, len);
    let out = ok(&[
        "-a",
        &whole,
        "run",
        ":",
        "vfs-type",
        "/dev/sda",
        ":",
        "vfs-uuid",
        "/dev/sda",
        ":",
        "vfs-label",
        "/dev/sda",
        ":",
        "blockdev-getsize64",
        "/dev/sda",
    ]);
    let want = format!(
        "{}\n{}\n{}\n{len}\n",
        b["TYPE"],
        b["UUID"],
        b.get("LABEL").cloned().unwrap_or_default()
    );
    assert_eq!(out, want);
}

#[test]
fn disk_format_and_virtual_size_match_qemu_img() {
    let images = [
        demo(),
        fixture("qcow2-v2.qcow2"),
        fixture("qcow2-v3.qcow2"),
        fixture("mbr-logical.raw"),
    ];
    for img in &images {
        let info: serde_json::Value =
            serde_json::from_str(&tool("qemu-img", &["info", "--output=json", img]))
                .expect("qemu-img json");
        let want = format!(
            "{}\n{}\n",
            info["format"].as_str().expect("format"),
            info["virtual-size"].as_u64().expect("size")
        );
        // No drive added, nothing launched: these work on any host file.
        assert_eq!(
            ok(&["disk-format", img, ":", "disk-virtual-size", img]),
            want,
            "{img}"
        );
    }
}
