//! vfish on a btrfs guest (`fixtures/mk-guests-fedora.sh`: root and home subvolumes, fstab
//! `subvol=`): `btrfs-subvolume-list` as guestfish prints the struct list, `mount-options` with
//! `subvol=`, `-m DEV:/:subvol=…`, a `btrfsvol:` mountable, and `-i` mounting the subvolumes
//! inspection found.
mod common;

use common::{fixture, ok, vfish};

#[test]
fn subvolumes_listed_and_mounted() {
    let img = fixture("guest-fedora.raw");
    let out = ok(&["--ro", "-a", &img, "run", ":", "btrfs-subvolume-list", "/dev/sda3"]);
    assert_eq!(
        out,
        "[0] = {\n  btrfssubvolume_id: 256\n  btrfssubvolume_top_level_id: 5\n  btrfssubvolume_path: root\n}\n\
         [1] = {\n  btrfssubvolume_id: 257\n  btrfssubvolume_top_level_id: 5\n  btrfssubvolume_path: home\n}\n"
    );
    let out = ok(&["--ro", "-a", &img, "run", ":", "mount-options", "subvol=root", "/dev/sda3", "/", ":", "cat", "/etc/hostname"]);
    assert_eq!(out, "fedora-btrfs.example.org\n");
    assert_eq!(ok(&["--ro", "-a", &img, "-m", "/dev/sda3:/:subvol=home", "ls", "/"]), "alice\n");
    assert_eq!(ok(&["--ro", "-a", &img, "-m", "/dev/sda3:/:subvolid=257", "ls", "/"]), "alice\n");
    assert_eq!(ok(&["--ro", "-a", &img, "-m", "btrfsvol:/dev/sda3/root", "cat", "/etc/fedora-release"]), "Fedora release 40 (Forty)\n");
    let out = ok(&["--ro", "-a", &img, "-i", "cat", "/home/alice/notes.txt", ":", "mountpoints"]);
    assert_eq!(out, "alice's notes\nbtrfsvol:/dev/sda3/root: /\n/dev/sda2: /boot\nbtrfsvol:/dev/sda3/home: /home\n/dev/sda1: /boot/efi\n");
    // writing btrfs is refused, naming it (on a copy: a --rw session may write the image)
    let t = tempfile::tempdir().unwrap();
    let copy = t.path().join("fedora.raw");
    common::tool("cp", &["--sparse=always", &img, copy.to_str().unwrap()]);
    let o = vfish(&["--rw", "-a", copy.to_str().unwrap(), "-m", "/dev/sda3", "ls", "/"], None);
    assert!(o.code != 0 && o.stderr.contains("writing btrfs"), "{o:?}");
}
