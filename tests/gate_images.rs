//! deploy/gate-images.sh, the pipeline gate (issue 21 item 5), on a directory of images: a
//! guest that passes (its failing audit checks waived through AUDIT_IGNORE) gets its Glance
//! properties; a qcow2 whose backing file is a host file is unsafe and never opened further; a
//! disk without an operating system fails; the exit status is 1 when any image fails, 0 when
//! all pass.

mod common;

use common::{fixture, root, run};
use std::process::Command;

fn gate(images: &[&str], ignore: &str) -> (i32, String) {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_vinspect")).parent().unwrap().to_path_buf();
    let o = Command::new(root().join("deploy/gate-images.sh"))
        .args(images)
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
        .env("AUDIT_IGNORE", ignore)
        .output()
        .unwrap();
    (o.status.code().unwrap_or(-1), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

#[test]
fn images_are_gated_with_their_properties_or_the_reason() {
    let d = tempfile::tempdir().unwrap();
    let good = d.path().join("el9.qcow2");
    run("cp", &["--sparse=always", fixture("guest-el9.qcow2").to_str().unwrap(), good.to_str().unwrap()]);
    let bad = d.path().join("hosts-backed.qcow2");
    run("qemu-img", &["create", "-q", "-f", "qcow2", "-b", "/etc/hosts", "-F", "raw", bad.to_str().unwrap(), "1M"]);
    let empty = fixture("fs-ext4.img");
    let waived = "cloud-init ssh-server virtio-drivers dhcp";
    let (code, out) = gate(&[good.to_str().unwrap(), bad.to_str().unwrap(), empty.to_str().unwrap()], waived);
    assert_eq!(code, 1, "{out}");
    let verdict = |out: &str, img: &std::path::Path| out.lines().find(|l| l.starts_with(&format!("{}: ", img.display()))).unwrap_or_else(|| panic!("no verdict for {}: {out}", img.display())).to_string();
    let v = verdict(&out, &good);
    assert!(v.contains(": PASS   properties: openstack image set") && v.contains("--property os_distro=rhel"), "{v}");
    assert!(verdict(&out, &bad).ends_with("FAIL   unsafe (vimage-info)"), "{out}");
    assert!(verdict(&out, &empty).ends_with("FAIL   no operating system (vinspect)"), "{out}");
    // without the waivers the guest fails its audit; alone and waived it passes: exit 0
    let (code, out) = gate(&[good.to_str().unwrap()], "");
    assert!(code == 1 && verdict(&out, &good).contains("FAIL   audit failed"), "{out}");
    let (code, out) = gate(&[good.to_str().unwrap()], waived);
    assert_eq!(code, 0, "{out}");
}
