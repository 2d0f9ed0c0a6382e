//! Removing from one huge hash-tree directory (issue 23 item 6, e2fsprogs' `f_many_subdirs`):
//! `fixtures/build/ext4-many-subdirs-8k.img` (made by the kernel: 8,000 subdirectories in
//! `/htree_eq_1` under a two-level hash index, 2,000 files in `/files`). Each removal goes
//! through the Guest API on a copy while the kernel makes the same removal on a twin through a
//! loop mount; then `e2fsck -fn` must find nothing to fix in ours, debugfs and the kernel must
//! read back what is left, and the free block and inode counts must be the kernel's (superblock
//! and every group). Timing, on 65,000 subdirectories: `bench/ext4_rmrf.sh`.

mod common;

use common::ext4w::{assert_fsck_clean, debugfs_text, scratch, stat_field, Scratch};
use common::xfs::with_kernel;
use std::os::unix::fs::FileExt;
use std::path::Path;
use vguestfs::guest::DriveOptions;
use vguestfs::Guest;

const FIXTURE: &str = "ext4-many-subdirs-8k.img";
const SUBDIRS: usize = 8_000;
const FILES: usize = 2_000;

/// Runs `f` on a Guest with `img` mounted writable at `/`, then commits.
fn with_guest(img: &Path, f: impl FnOnce(&Guest)) {
    let mut g = Guest::new();
    let opts = DriveOptions { readonly: false, format: Some(vguestfs::disk::Format::Raw), ..Default::default() };
    g.add_drive(img, opts).unwrap();
    g.launch().unwrap();
    g.mount("/dev/sda", "/").unwrap();
    f(&g);
    g.commit().unwrap();
}

/// Free blocks and free inodes as the superblock records them, and each group's free blocks,
/// free inodes and used directories as its descriptor records them (debugfs `stats`).
fn free_counts(img: &Path) -> (String, String, Vec<String>) {
    let stats = debugfs_text(img, "stats");
    let groups = stats.lines().filter(|l| l.contains(" free blocks, ")).map(|l| l.trim().to_string()).collect();
    (stat_field(&stats, "Free blocks"), stat_field(&stats, "Free inodes"), groups)
}

/// The last 12 bytes of the first block (the index root) of directory `dir`: where a block of
/// entries keeps its checksum tail (1 KiB blocks).
fn root_block_end(img: &Path, dir: &str) -> Vec<u8> {
    let phys: u64 = debugfs_text(img, &format!("bmap {dir} 0")).trim().parse().unwrap();
    let mut end = vec![0u8; 12];
    std::fs::File::open(img).unwrap().read_exact_at(&mut end, phys * 1024 + 1012).unwrap();
    end
}

/// Our copy and the kernel's twin of the fixture.
fn pair() -> (Scratch, Scratch) {
    (scratch(FIXTURE), scratch(FIXTURE))
}

#[test]
fn rm_rf_of_a_huge_htree_directory_matches_the_kernel() {
    let (ours, twin) = pair();
    let stat = debugfs_text(&ours.path, "stat /htree_eq_1");
    assert!(stat.contains("Flags: 0x81000"), "not an extent-mapped hash-tree directory: {stat}");
    // The index root of /files ends as a block of entries with a checksum tail would (the kernel
    // leaves the tail of the block it indexed in place): `..` was looked up as a name of such a
    // block, its checksum failed, and rm-rf /files ended in ENOENT.
    assert_eq!(root_block_end(&ours.path, "/files")[..8], [0, 0, 0, 0, 0x0c, 0, 0, 0xde]);
    with_guest(&ours.path, |g| {
        g.rm_rf("/htree_eq_1").unwrap();
        g.rm_rf("/files").unwrap();
    });
    with_kernel(&twin.path, |mnt| {
        std::fs::remove_dir_all(mnt.join("htree_eq_1")).unwrap();
        std::fs::remove_dir_all(mnt.join("files")).unwrap();
    });
    assert_fsck_clean(&ours.path);
    let ls = debugfs_text(&ours.path, "ls /");
    assert!(!ls.contains("htree_eq_1") && !ls.contains("files") && ls.contains("keep"), "{ls}");
    assert_eq!(free_counts(&ours.path), free_counts(&twin.path), "free blocks and inodes: ours, the kernel's");
    with_kernel(&ours.path, |mnt| {
        assert_eq!(std::fs::read(mnt.join("keep/file")).unwrap(), b"kept\n");
    });
}

#[test]
fn removing_every_other_name_matches_the_kernel() {
    let (ours, twin) = pair();
    let dirs: Vec<String> = (0..SUBDIRS).step_by(2).map(|i| format!("htree_eq_1/d{i:05}")).collect();
    let files: Vec<String> = (0..FILES).step_by(2).map(|i| format!("files/f{i:05}")).collect();
    with_guest(&ours.path, |g| {
        for d in &dirs {
            g.rmdir(&format!("/{d}")).unwrap();
        }
        for f in &files {
            g.rm(&format!("/{f}")).unwrap();
        }
    });
    with_kernel(&twin.path, |mnt| {
        for d in &dirs {
            std::fs::remove_dir(mnt.join(d)).unwrap();
        }
        for f in &files {
            std::fs::remove_file(mnt.join(f)).unwrap();
        }
    });
    assert_fsck_clean(&ours.path);
    assert_eq!(free_counts(&ours.path), free_counts(&twin.path), "free blocks and inodes: ours, the kernel's");
    let stat = debugfs_text(&ours.path, "stat /htree_eq_1");
    assert_eq!(stat_field(&stat, "Links"), (SUBDIRS / 2 + 2).to_string());
    with_kernel(&ours.path, |mnt| {
        let names = |d: &str| {
            let mut v: Vec<String> = std::fs::read_dir(mnt.join(d)).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            v.sort();
            v
        };
        let want_dirs: Vec<String> = (1..SUBDIRS).step_by(2).map(|i| format!("d{i:05}")).collect();
        let want_files: Vec<String> = (1..FILES).step_by(2).map(|i| format!("f{i:05}")).collect();
        assert_eq!(names("htree_eq_1"), want_dirs);
        assert_eq!(names("files"), want_files);
        // Each name the kernel's hash-tree lookup finds.
        for d in want_dirs.iter().step_by(97) {
            assert!(mnt.join("htree_eq_1").join(d).is_dir(), "{d}");
        }
    });
}
