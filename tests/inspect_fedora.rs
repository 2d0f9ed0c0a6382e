//! A Fedora 40 guest with its root on btrfs subvolumes (`fixtures/mk-guests-fedora.sh`: GPT,
//! ESP vfat, /boot ext4, btrfs with `root` and `home` and fstab entries with `subvol=`)
//! inspected as libguestfs names things: the root is `btrfsvol:/dev/sda3/root`, the mountpoints
//! of `/` and `/home` are the subvolumes, `list-filesystems` lists the device then each
//! subvolume, and the tools read through them (`-m DEV:/:subvol=…`, `subvolid=`, inspection).

mod common;

use common::fixture;
use std::path::Path;
use std::process::Command;
use vguestfs::guest::DriveOptions;
use vguestfs::Guest;

fn open(img: &Path) -> Guest {
    let mut g = Guest::new();
    g.add_drive(img, DriveOptions { readonly: true, ..Default::default() }).unwrap();
    g.launch().unwrap();
    g
}

fn tool(bin: &str, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).output().unwrap();
    assert!(out.status.success(), "{bin} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn inspection_finds_the_root_subvolume() {
    let img = fixture("guest-fedora.raw");
    let g = open(&img);
    assert_eq!(g.inspect_os().unwrap(), vec!["btrfsvol:/dev/sda3/root".to_string()]);
    let os = g.inspect_root("btrfsvol:/dev/sda3/root").unwrap();
    assert_eq!((os.distro.as_str(), os.major_version, os.minor_version), ("fedora", 40, 0));
    assert_eq!(os.product_name, "Fedora Linux 40 (Workstation Edition)");
    assert_eq!(os.hostname, "fedora-btrfs.example.org");
    assert_eq!(os.osinfo, "fedora40");
    assert_eq!(os.package_management, "dnf");
    let mps: Vec<(&str, &str)> = os.mountpoints.iter().map(|(m, d)| (m.as_str(), d.as_str())).collect();
    assert_eq!(
        mps,
        vec![("/", "btrfsvol:/dev/sda3/root"), ("/boot", "/dev/sda2"), ("/home", "btrfsvol:/dev/sda3/home"), ("/boot/efi", "/dev/sda1")]
    );
}

#[test]
fn filesystems_and_subvolumes_listed() {
    let g = open(&fixture("guest-fedora.raw"));
    let fs: Vec<(String, String)> = g.list_filesystems().unwrap();
    let names: Vec<&str> = fs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["/dev/sda1", "/dev/sda2", "/dev/sda3", "btrfsvol:/dev/sda3/root", "btrfsvol:/dev/sda3/home"]);
    let v = g.btrfs_subvolume_list("/dev/sda3").unwrap();
    let v: Vec<(u64, u64, &str)> = v.iter().map(|s| (s.id, s.parent, s.path.as_str())).collect();
    assert_eq!(v, vec![(256, 5, "root"), (257, 5, "home")]);
}

#[test]
fn mount_inspected_and_mount_options() {
    let img = fixture("guest-fedora.raw");
    let mut g = open(&img);
    g.mount_inspected("btrfsvol:/dev/sda3/root", true).unwrap();
    assert_eq!(g.read_file("/home/alice/notes.txt").unwrap(), b"alice's notes\n");
    assert!(String::from_utf8(g.read_file("/etc/os-release").unwrap()).unwrap().contains("ID=fedora"));
    assert!(g.read_file("/boot/loader/entries/0123456789abcdef0123456789abcdef-6.8.5-301.fc40.x86_64.conf").is_ok());
    g.umount_all().unwrap();
    g.mount_options("subvol=/home", "/dev/sda3", "/").unwrap();
    assert_eq!(g.read_file("/alice/notes.txt").unwrap(), b"alice's notes\n");
    g.umount_all().unwrap();
    g.mount_options("subvolid=256", "/dev/sda3", "/").unwrap();
    assert!(g.read_file("/etc/fstab").is_ok());
    g.umount_all().unwrap();
    // the device alone: the default subvolume, here the top level
    g.mount_ro("/dev/sda3", "/").unwrap();
    assert!(g.read_file("/root/etc/fstab").is_ok() && g.read_file("/home/alice/notes.txt").is_ok());
    g.umount_all().unwrap();
    assert!(g.mount_options("subvol=nope", "/dev/sda3", "/").is_err());
}

#[test]
fn tools_read_through_inspection_and_m_options() {
    let img = fixture("guest-fedora.raw");
    let a = img.to_str().unwrap();
    let x = tool(env!("CARGO_BIN_EXE_vinspect"), &["-a", a]);
    assert!(x.contains("<root>btrfsvol:/dev/sda3/root</root>") && x.contains("<mountpoint dev=\"btrfsvol:/dev/sda3/home\">/home</mountpoint>"), "{x}");
    assert!(x.contains("<name>alpha</name>"), "applications from the rpm database");
    assert_eq!(tool(env!("CARGO_BIN_EXE_vcat"), &["-a", a, "/home/alice/notes.txt"]), "alice's notes\n");
    assert_eq!(tool(env!("CARGO_BIN_EXE_vcat"), &["-a", a, "-m", "/dev/sda3:/:subvol=home", "/alice/notes.txt"]), "alice's notes\n");
    assert_eq!(tool(env!("CARGO_BIN_EXE_vls"), &["-a", a, "-m", "/dev/sda3:/:subvolid=257", "/"]), "alice\n");
    assert_eq!(tool(env!("CARGO_BIN_EXE_vls"), &["-a", a, "-m", "btrfsvol:/dev/sda3/home", "/"]), "alice\n");
    let f = tool(env!("CARGO_BIN_EXE_vfilesystems"), &["-a", a]);
    assert_eq!(f, "/dev/sda1\n/dev/sda2\n/dev/sda3\nbtrfsvol:/dev/sda3/root\nbtrfsvol:/dev/sda3/home\n");
}

/// `vsysprep --audit` reads the guest through its subvolumes; the root layout is that of the
/// partition holding the btrfs.
#[test]
fn sysprep_audit() {
    let img = fixture("guest-fedora.raw");
    let out = Command::new(env!("CARGO_BIN_EXE_vsysprep")).args(["--audit", "-a", img.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("root-layout")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("root /dev/sda3 is partition 3, not the first") && line.contains("(btrfs subvolume root)"), "{line}");
    assert!(text.contains("boot-loader") && text.contains("/EFI/fedora/shimx64.efi"), "{text}");
}

/// `vinspect --no-applications` prints exactly what libguestfs 1.48's `virt-inspector
/// --no-applications` printed, and `vfilesystems --all --long -h --extra` what
/// `virt-filesystems` printed (golden files of `fixtures/libguestfs/regen.sh`; libguestfs's
/// appliance cannot list this SQLite rpm database, hence no applications).
#[test]
fn equals_libguestfs() {
    let img = fixture("guest-fedora.raw");
    let a = img.to_str().unwrap();
    let golden = |n: &str| std::fs::read_to_string(common::root().join("fixtures/libguestfs").join(n)).unwrap();
    assert_eq!(tool(env!("CARGO_BIN_EXE_vinspect"), &["--no-applications", "-a", a]), golden("guest-fedora.virt-inspector.xml"));
    assert_eq!(tool(env!("CARGO_BIN_EXE_vfilesystems"), &["--all", "--long", "-h", "--extra", "-a", a]), golden("guest-fedora.virt-filesystems.txt"));
}
