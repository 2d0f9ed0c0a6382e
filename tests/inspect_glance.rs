//! `vinspect --glance` (issue 21 item 1, first part): Glance properties as virt-v2v's
//! `-o openstack` rules derive them from inspection, and the firmware, guest agent and
//! cloud-init facts from the disk, each with its source. Expectations come from the guest
//! trees and the partition layouts the fixture scripts gave (sgdisk types, the ESP's files,
//! fixtures/trees/*/etc/cloud/cloud.cfg).

mod common;

use common::fixture;
use serde_json::Value as J;
use std::collections::BTreeMap;
use std::process::Command;

fn props(img: &str) -> BTreeMap<String, (String, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_vinspect")).args(["--glance", "--glance-format", "json", "-a", fixture(img).to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: J = serde_json::from_slice(&out.stdout).unwrap();
    j.as_array().unwrap().iter().map(|p| (p["key"].as_str().unwrap().to_string(), (p["value"].as_str().unwrap().to_string(), p["source"].as_str().unwrap().to_string()))).collect()
}

fn values(p: &BTreeMap<String, (String, String)>) -> BTreeMap<&str, &str> {
    p.iter().map(|(k, (v, _))| (k.as_str(), v.as_str())).collect()
}

#[test]
fn properties_as_virt_v2v_derives_them() {
    // RHEL 9: GPT with a BIOS boot partition and an ESP with a loader: both work, BIOS chosen
    let el9 = props("guest-el9.qcow2");
    let want: BTreeMap<&str, &str> = [
        ("architecture", "x86_64"), ("os_type", "linux"), ("os_distro", "rhel"), ("os_version", "9.4"), ("hypervisor_type", "kvm"),
        ("vm_mode", "hvm"), ("hw_firmware_type", "bios"), ("cloud_init_installed", "false"),
        // the fixture's initramfs is the text "initramfs\n", not a cpio archive: no virtio drivers at boot
        ("hw_disk_bus", "ide"), ("hw_vif_model", "e1000"),
    ]
    .into_iter()
    .collect();
    assert_eq!(values(&el9), want);
    assert!(el9["hw_firmware_type"].1.starts_with("both work: /dev/sda1: BIOS boot partition and EFI loader /dev/sda2: /EFI/BOOT/BOOTX64.EFI"), "{el9:?}");
    assert!(el9["os_distro"].1.contains("osinfo rhel9.4"));
    // Ubuntu: ESP with GRUB's EFI binary, no BIOS path: UEFI on q35
    let ubuntu = values(&props("guest-ubuntu.qcow2")).into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
    assert_eq!(ubuntu["hw_firmware_type"], "uefi");
    assert_eq!(ubuntu["hw_machine_type"], "q35");
    assert_eq!(ubuntu["os_version"], "22.4", "virt-v2v prints major.minor with %d.%d");
    // Arch Linux: Glance's name
    assert_eq!(values(&props("guest-arch.raw"))["os_distro"], "arch");
    // cloud-init installed, its default user, a signed shim on the ESP
    let sp = props("sysprep-ubuntu.qcow2");
    assert_eq!(values(&sp)["cloud_init_installed"], "true");
    assert_eq!(values(&sp)["os_admin_user"], "ubuntu");
    assert_eq!(values(&sp)["os_secure_boot"], "optional");
}

#[test]
fn cli_and_env_formats_are_shell_words() {
    let img = fixture("guest-el9.qcow2");
    let run = |fmt: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_vinspect")).args(["--glance", "--glance-format", fmt, "-a", img.to_str().unwrap()]).output().unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stdout).unwrap()
    };
    let cli = run("cli");
    assert!(cli.starts_with("openstack image set --property architecture=x86_64 --property os_type=linux --property os_distro=rhel"), "{cli}");
    assert!(cli.trim_end().ends_with(img.to_str().unwrap()), "{cli}");
    // the env form sources in a shell
    let env = run("env");
    let o = Command::new("sh").arg("-c").arg(format!("{env}\necho \"$os_distro $os_version $hw_firmware_type\"")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "rhel 9.4 bios\n");
    // --json carries a glance object per operating system
    let o = Command::new(env!("CARGO_BIN_EXE_vinspect")).args(["--json", "--glance", "--no-applications", "-a", img.to_str().unwrap()]).output().unwrap();
    let j: J = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["operatingsystems"][0]["glance"][2]["value"], "rhel");
}
