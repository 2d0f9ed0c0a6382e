//! virtio drivers of Linux guests (issue 21): `vinspect --glance` (`hw_disk_bus`,
//! `hw_scsi_model`, `hw_vif_model`) and `vsysprep --audit` (`virtio-drivers`) on the guests of
//! fixtures/mk-virtio.sh, whose initramfs images were made by `cpio -o -H newc` and compressed
//! by xz, gzip, zstd and lz4, with dracut's uncompressed early-microcode cpio in front. The
//! expected sources are the paths that script wrote.

mod common;

use common::fixture;
use serde_json::Value as J;
use std::collections::BTreeMap;
use std::process::Command;

/// key -> (value, source) of the bus properties, and vinspect's stderr.
fn glance(img: &str) -> (BTreeMap<String, (String, String)>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vinspect")).args(["--glance", "--glance-format", "json", "-a", fixture(img).to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: J = serde_json::from_slice(&out.stdout).unwrap();
    let props = j
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| ["hw_disk_bus", "hw_scsi_model", "hw_vif_model", "hw_rng_model"].contains(&p["key"].as_str().unwrap()))
        .map(|p| (p["key"].as_str().unwrap().to_string(), (p["value"].as_str().unwrap().to_string(), p["source"].as_str().unwrap().to_string())))
        .collect();
    (props, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn values(p: &BTreeMap<String, (String, String)>) -> Vec<(&str, &str)> {
    p.iter().map(|(k, (v, _))| (k.as_str(), v.as_str())).collect()
}

/// The audit's virtio-drivers finding: (status, detail).
fn audit(img: &str) -> (String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_vsysprep")).args(["--audit", "--json", "-a", fixture(img).to_str().unwrap()]).output().unwrap();
    let j: J = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    let f = j["roots"][0]["findings"].as_array().unwrap().iter().find(|f| f["check"] == "virtio-drivers").unwrap_or_else(|| panic!("no virtio-drivers in {j}"));
    (f["status"].as_str().unwrap().to_string(), f["detail"].as_str().unwrap().to_string())
}

#[test]
fn glance_bus_properties_follow_the_default_kernels_drivers() {
    // EL9: grubenv's saved_entry picks 5.14.0-427 (its xz initramfs has the drivers), not the
    // newer 503 whose initramfs has none
    let (p, err) = glance("virtio-el9-xz.raw");
    assert_eq!(values(&p), [("hw_disk_bus", "virtio"), ("hw_vif_model", "virtio")]);
    let img = "/boot/initramfs-5.14.0-427.el9.x86_64.img";
    assert_eq!(p["hw_disk_bus"].1, format!("virtio_blk in {img} (usr/lib/modules/5.14.0-427.el9.x86_64/kernel/drivers/block/virtio_blk.ko.xz)"));
    assert_eq!(p["hw_vif_model"].1, format!("virtio_net in {img} (usr/lib/modules/5.14.0-427.el9.x86_64/kernel/drivers/net/virtio_net.ko.xz)"));
    assert!(!err.contains("warning"), "{err}");
    // Debian: grub.cfg's first menuentry, gzip initrd.img; virtio_net and virtio-rng on the
    // root filesystem
    let (p, _) = glance("virtio-debian-gz.raw");
    assert_eq!(values(&p), [("hw_disk_bus", "virtio"), ("hw_rng_model", "virtio"), ("hw_vif_model", "virtio")]);
    assert_eq!(p["hw_rng_model"].1, "virtio-rng module /lib/modules/6.1.0-18-amd64/kernel/drivers/char/hw_random/virtio-rng.ko (loaded once the root is mounted)");
    assert_eq!(p["hw_disk_bus"].1, "virtio_blk in /boot/initrd.img-6.1.0-18-amd64 (usr/lib/modules/6.1.0-18-amd64/kernel/drivers/block/virtio_blk.ko)");
    assert_eq!(p["hw_vif_model"].1, "virtio_net module /lib/modules/6.1.0-18-amd64/kernel/drivers/net/virtio_net.ko (loaded once the root is mounted)");
    // zstd, the newest kernel: virtio_scsi only, so virt-v2v's virtio-scsi pair
    let (p, _) = glance("virtio-zstd.raw");
    assert_eq!(values(&p), [("hw_disk_bus", "scsi"), ("hw_scsi_model", "virtio-scsi"), ("hw_vif_model", "virtio")]);
    assert!(p["hw_scsi_model"].1.starts_with("virtio_scsi in /boot/initramfs-6.8.9-300.fc40.x86_64.img ("), "{p:?}");
    assert!(p["hw_scsi_model"].1.ends_with("virtio_scsi.ko.zst)"), "{p:?}");
    // Arch: grubenv's saved_entry names a submenu entry (`submenu>entry`), whose initrd line
    // starts with a microcode image; the modules directory is found by its pkgbase
    let (p, _) = glance("virtio-arch.raw");
    assert_eq!(p["hw_disk_bus"].1, "virtio_blk in /boot/initramfs-linux-fallback.img (usr/lib/modules/6.8.2-arch1-1/kernel/drivers/block/virtio_blk.ko.zst)");
    assert_eq!(p["hw_vif_model"].1, "virtio_net built in (/usr/lib/modules/6.8.2-arch1-1/modules.builtin)");
    // built in: the lz4 initramfs is never needed
    let (p, err) = glance("virtio-builtin.raw");
    assert_eq!(values(&p), [("hw_disk_bus", "virtio"), ("hw_vif_model", "virtio")]);
    assert_eq!(p["hw_disk_bus"].1, "virtio_blk built in (/usr/lib/modules/6.8.9-300.fc40.x86_64/modules.builtin)");
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn glance_falls_back_to_emulated_devices_with_a_warning() {
    let (p, err) = glance("virtio-missing.raw");
    assert_eq!(values(&p), [("hw_disk_bus", "ide"), ("hw_vif_model", "e1000")]);
    assert!(p["hw_disk_bus"].1.starts_with("no virtio_blk nor virtio_scsi at boot: kernel 5.14.0-427.el9.x86_64 chosen by"), "{p:?}");
    assert!(err.contains("warning: /dev/sda: hw_disk_bus=ide") && err.contains("warning: /dev/sda: hw_vif_model=e1000"), "{err}");
    // lz4 is named, not guessed
    let (p, err) = glance("virtio-lz4.raw");
    assert_eq!(values(&p), [("hw_disk_bus", "ide"), ("hw_vif_model", "e1000")]);
    assert!(p["hw_disk_bus"].1.ends_with("/boot/initramfs-5.14.0-427.el9.x86_64.img: unsupported compression lz4 (gzip, zstd and xz are read)"), "{p:?}");
    assert!(err.contains("unsupported compression lz4"), "{err}");
    // the cli form carries them
    let o = Command::new(env!("CARGO_BIN_EXE_vinspect")).args(["--glance", "-a", fixture("virtio-el9-xz.raw").to_str().unwrap()]).output().unwrap();
    let cli = String::from_utf8_lossy(&o.stdout);
    assert!(cli.contains(" --property hw_disk_bus=virtio ") && cli.contains(" --property hw_vif_model=virtio "), "{cli}");
}

#[test]
fn audit_passes_with_the_drivers_and_fails_naming_what_is_missing() {
    for img in ["virtio-el9-xz.raw", "virtio-debian-gz.raw", "virtio-zstd.raw", "virtio-builtin.raw", "virtio-arch.raw"] {
        let (status, detail) = audit(img);
        assert_eq!(status, "pass", "{img}: {detail}");
    }
    let (_, detail) = audit("virtio-zstd.raw");
    assert!(detail.starts_with("virtio_scsi in /boot/initramfs-6.8.9-300.fc40.x86_64.img"), "{detail}");
    let (status, detail) = audit("virtio-missing.raw");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("missing virtio_blk and virtio_scsi: the instance will not find its root disk; virtio_net: the instance will have no network"), "{detail}");
    // virtio_pci, the transport, nowhere to be seen: a warning, and glance says so
    let (status, detail) = audit("virtio-nopci.raw");
    assert_eq!(status, "warn");
    assert!(detail.ends_with("but virtio_pci not found built in nor in the initramfs: the virtio devices may not appear"), "{detail}");
    let (p, _) = glance("virtio-nopci.raw");
    assert_eq!(values(&p), [("hw_disk_bus", "virtio"), ("hw_vif_model", "virtio")]);
    assert!(p["hw_disk_bus"].1.contains("; virtio_pci not found ("), "{p:?}");
    let (status, detail) = audit("virtio-lz4.raw");
    assert_eq!(status, "fail");
    assert!(detail.contains("unsupported compression lz4"), "{detail}");
    // --audit-ignore knows the check
    let o = Command::new(env!("CARGO_BIN_EXE_vsysprep")).args(["--audit", "--json", "--audit-ignore", "virtio-drivers", "-a", fixture("virtio-missing.raw").to_str().unwrap()]).output().unwrap();
    let j: J = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["ignored"], serde_json::json!(["virtio-drivers"]));
}
