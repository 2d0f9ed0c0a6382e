//! vfish on libguestfs's phony Windows guest (fixtures/mk-guests-windows.sh): `-i` mounts C: as
//! `/`, the Windows inspection commands print what virt-inspector printed for it
//! (fixtures/libguestfs/guest-windows.virt-inspector.xml), and `case-sensitive-path` finds the
//! paths as NTFS spells them.
mod common;

use common::{fixture, ok, vfish};

#[test]
fn inspection_commands_and_mount_inspected() {
    let img = fixture("guest-windows.raw");
    let r = "/dev/sda2";
    let out = ok(&[
        "--ro", "-a", &img, "run", ":", "inspect-os", ":", "inspect-get-type", r, ":", "inspect-get-product-variant", r, ":",
        "inspect-get-windows-systemroot", r, ":", "inspect-get-windows-current-control-set", r, ":", "inspect-get-drive-mappings", r, ":",
        "inspect-get-osinfo", r, ":", "inspect-get-build-id", r,
    ]);
    assert_eq!(out, "/dev/sda2\nwindows\nClient\n/Windows\nControlSet001\nC: /dev/sda2\nwin7\nunknown\n");
    let apps = ok(&["--ro", "-a", &img, "run", ":", "inspect-list-applications2", r]);
    assert!(apps.contains("app2_display_name: Test3 is not real software\n") && apps.contains("app2_install_path: C:\\Program Files\\Red Hat\\test3\n"), "{apps}");
    let out = ok(&["--ro", "-a", &img, "-i", "case-sensitive-path", "/windows/SYSTEM32/config/software", ":", "case-sensitive-path", "/WINDOWS/system32/new-file", ":", "ls", "/"]);
    assert_eq!(out, "/Windows/System32/Config/SOFTWARE\n/Windows/System32/new-file\nProgram Files\nWindows\nautoexec.bat\n");
    let o = vfish(&["--ro", "-a", &img, "-i", "case-sensitive-path", "/nope/system32"], None);
    assert!(o.code != 0 && o.stderr.contains("/nope"), "{o:?}");
    let o = vfish(&["--ro", "-a", &img, "run", ":", "inspect-get-windows-systemroot", "/dev/sda1"], None);
    assert!(o.code != 0, "{o:?}");
}
