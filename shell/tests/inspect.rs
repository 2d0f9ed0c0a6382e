//! The inspection commands and `-i` on the demo image: every value is what the guest's own files
//! say (fixtures/trees/debian, from which the image was built) or what the host's `readelf` says
//! of the binary copied into it.
mod common;

use common::{demo, fixture, ok, root};
use std::process::Command;

/// The value of `KEY=` in an os-release style file of the source tree.
fn tree_value(file: &str, key: &str) -> String {
    let text = std::fs::read_to_string(root().join("fixtures/trees/debian").join(file)).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap()
        .trim_matches('"')
        .to_string()
}

#[test]
fn inspect_commands_report_the_guest_files() {
    let d = demo();
    let r = "/dev/demo/root";
    let out = ok(&[
        "--ro",
        "-a",
        &d,
        "run",
        ":",
        "inspect-os",
        ":",
        "inspect-get-type",
        r,
        ":",
        "inspect-get-distro",
        r,
        ":",
        "inspect-get-product-name",
        r,
        ":",
        "inspect-get-major-version",
        r,
        ":",
        "inspect-get-minor-version",
        r,
        ":",
        "inspect-get-hostname",
        r,
        ":",
        "inspect-get-arch",
        r,
        ":",
        "inspect-get-package-format",
        r,
        ":",
        "inspect-get-package-management",
        r,
        ":",
        "inspect-get-format",
        r,
        ":",
        "inspect-get-mountpoints",
        r,
    ]);
    let debian_version =
        std::fs::read_to_string(root().join("fixtures/trees/debian/etc/debian_version")).unwrap();
    let (major, minor) = debian_version.trim().split_once('.').unwrap();
    assert_eq!(tree_value("etc/os-release", "ID"), "debian");
    assert_eq!(tree_value("etc/os-release", "VERSION_ID"), major);
    let hostname =
        std::fs::read_to_string(root().join("fixtures/trees/debian/etc/hostname")).unwrap();
    // the binary the build script copied into the guest is the host's /usr/bin/true
    let readelf = Command::new("readelf")
        .args(["-h", "/usr/bin/true"])
        .output()
        .unwrap();
    let machine = String::from_utf8_lossy(&readelf.stdout)
        .lines()
        .find(|l| l.contains("Machine:"))
        .unwrap()
        .to_string();
    let arch = if machine.contains("X86-64") {
        "x86_64"
    } else if machine.contains("AArch64") {
        "aarch64"
    } else {
        "unknown"
    };
    // fstab names the root by UUID and the ESP by its FAT serial: the devices that carry them
    let fstab = std::fs::read_to_string(root().join("fixtures/trees/debian/etc/fstab")).unwrap();
    assert!(
        fstab.contains("UUID=3e0c1f4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b /")
            && fstab.contains("UUID=2C1A-0B3D  /boot/efi")
    );
    let uuid_of = |dev: &str| ok(&["--ro", "-a", &d, "run", ":", "vfs-uuid", dev]);
    assert_eq!(
        uuid_of("/dev/demo/root"),
        "3e0c1f4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b\n"
    );
    assert_eq!(uuid_of("/dev/sda1"), "2C1A-0B3D\n");
    let expected = format!(
        "/dev/demo/root\nlinux\ndebian\n{}\n{major}\n{minor}\n{}{arch}\ndeb\napt\ninstalled\n/: /dev/demo/root\n/boot/efi: /dev/sda1\n",
        debian_version.trim(),
        hostname
    );
    assert_eq!(out, expected);
}

#[test]
fn list_applications2_prints_the_dpkg_database_as_guestfish() {
    let d = demo();
    let out = ok(&["--ro", "-a", &d, "run", ":", "inspect-list-applications2", "/dev/demo/root"]);
    // fixtures/trees/debian/var/lib/dpkg/status: three installed packages, sorted by name
    let names: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("  app2_name: ")).collect();
    assert_eq!(names, ["base-files", "cloud-init", "openssh-server"]);
    let ssh = out.split("[2] = {\n").nth(1).unwrap();
    assert_eq!(
        ssh,
        "  app2_name: openssh-server\n  app2_display_name: \n  app2_epoch: 1\n  app2_version: 9.2p1\n  \
         app2_release: 2+deb12u3\n  app2_arch: amd64\n  app2_install_path: \n  app2_trans_path: \n  \
         app2_publisher: \n  app2_url: \n  app2_source_package: openssh\n  \
         app2_summary: secure shell (SSH) server, for secure access from remote machines\n  \
         app2_description: \n  app2_spare1: \n  app2_spare2: \n  app2_spare3: \n  app2_spare4: \n}\n"
    );
    let old = ok(&["--ro", "-a", &d, "run", ":", "inspect-list-applications", "/dev/demo/root"]);
    assert!(old.contains("[0] = {\n  app_name: base-files\n  app_display_name: \n  app_epoch: 0\n  app_version: 12.4+deb12u7\n  app_release: \n  app_install_path: "), "{old}");
    assert!(!old.contains("arch"), "{old}");
}

/// RHEL-family guests on XFS (fixtures/mk-guests-el.sh) open with `-i` like ext4 ones: the
/// fstab's UUID=, LABEL= and /dev/mapper/ names mounted, files read from / and /boot.
#[test]
fn xfs_guests_open_with_i() {
    for (img, host) in [
        ("guest-el9.qcow2", "rhel9-guest.example.com\n"),
        ("guest-al2023.raw", "al2023-guest.example.com\n"),
    ] {
        let img = fixture(img);
        assert_eq!(ok(&["--ro", "-a", &img, "-i", "cat", "/etc/hostname"]), host);
    }
    let img = fixture("guest-el7.raw");
    let out = ok(&[
        "--ro", "-a", &img, "-i", "inspect-get-osinfo", "/dev/rhel/root", ":", "cat", "/etc/sysconfig/network", ":",
        "ls", "/boot/loader/entries",
    ]);
    assert_eq!(
        out,
        "rhel7.9\nNETWORKING=yes\nHOSTNAME=rhel7-guest.example.com\n0123456789abcdef0123456789abcdef-3.10.0-1160.el7.x86_64.conf\n"
    );
}
