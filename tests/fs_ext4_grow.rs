//! Offline ext2/3/4 grow (`vguestfs::fs::ext4_grow`) judged by e2fsprogs: for each layout a
//! filesystem is built by mke2fs (with a tree of files), the image is enlarged with
//! `truncate`, one copy is grown by us and another by `resize2fs`; ours must pass
//! `e2fsck -fn`, have resize2fs's block and inode counts, and hold every file unchanged
//! (debugfs listing + rdump hashes). Refusals (unclean, shrink, limits) and fault injection
//! (an error halfway, under the overlay: the image is untouched) are tested too.

mod common;

use common::ext4w::{assert_fsck_clean, e2fsck, pattern};
use common::fault::{Action, On, Plan};
use common::tree::{diff, fs_tree};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use vguestfs::disk::{Dev, Format, Overlay, OverlayOptions, RawFile, RedoTarget};
use vguestfs::fs::ext4::grow::{grow, Checks, GrowReport};
use vguestfs::fs::{Error, Filesystem as _};

const MIB: u64 = 1 << 20;

fn path_env() -> String {
    format!("{}:/usr/sbin:/sbin", std::env::var("PATH").unwrap_or_default())
}

/// Runs an e2fsprogs tool, panicking with its output on failure; returns stdout.
fn tool(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).env("PATH", path_env()).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A source tree for `mke2fs -d`: small and large files, a nested directory, a symlink, an
/// empty file.
fn source_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("etc/sub/deeper")).unwrap();
    std::fs::write(dir.join("etc/hostname"), b"grow-test\n").unwrap();
    std::fs::write(dir.join("etc/sub/deeper/empty"), b"").unwrap();
    std::fs::write(dir.join("big.bin"), pattern(1, 3 * MIB as usize + 123)).unwrap();
    std::fs::write(dir.join("etc/sub/mid.bin"), pattern(2, 200_000)).unwrap();
    for i in 0..40 {
        std::fs::write(dir.join(format!("etc/sub/f{i}")), pattern(100 + i, 1000 + i as usize * 37)).unwrap();
    }
    std::os::unix::fs::symlink("etc/hostname", dir.join("link")).unwrap();
}

/// A scratch directory holding a fresh filesystem image.
struct Img {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Img {
    /// `mke2fs -q -F -E root_owner=0:0 ARGS -d TREE` into a file of `mib` MiB.
    fn mkfs(args: &[&str], mib: u64) -> Img {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        source_tree(&tree);
        let path = dir.path().join("fs.img");
        std::fs::File::create(&path).unwrap().set_len(mib * MIB).unwrap();
        let mut all = vec!["-q", "-F", "-E", "root_owner=0:0"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-d", tree.to_str().unwrap(), path.to_str().unwrap()]);
        tool("mke2fs", &all);
        Img { dir, path }
    }

    /// A sparse copy named `name`, enlarged to `mib` MiB.
    fn copy(&self, name: &str, mib: u64) -> PathBuf {
        let p = self.dir.path().join(name);
        tool("cp", &["--sparse=always", self.path.to_str().unwrap(), p.to_str().unwrap()]);
        tool("truncate", &["-s", &format!("{}", mib * MIB), p.to_str().unwrap()]);
        p
    }
}

/// A pristine copy of `p` to compare with after an operation that must not write.
fn snapshot(p: &Path) -> PathBuf {
    let copy = p.with_extension("orig");
    tool("cp", &["--sparse=always", p.to_str().unwrap(), copy.to_str().unwrap()]);
    copy
}

/// Whether `p` is byte for byte its snapshot (`cmp`).
fn unchanged(p: &Path, orig: &Path) -> bool {
    Command::new("cmp").args(["-s"]).arg(p).arg(orig).status().unwrap().success()
}

fn open_rw(p: &Path) -> Dev {
    Arc::new(RawFile::open(p, true).unwrap())
}

/// `dumpe2fs -h` field `name` as a number.
fn dumpe2fs_field(img: &Path, name: &str) -> u64 {
    let out = tool("dumpe2fs", &["-h", img.to_str().unwrap()]);
    let key = format!("{name}:");
    let line = out.lines().find(|l| l.starts_with(&key)).unwrap_or_else(|| panic!("no {name} in dumpe2fs -h:\n{out}"));
    line[key.len()..].trim().parse().unwrap_or_else(|_| panic!("{line}"))
}

/// The free counts summed over `dumpe2fs` group lines ("N free blocks, M free inodes").
fn group_free_sums(img: &Path) -> (u64, u64) {
    let out = tool("dumpe2fs", &[img.to_str().unwrap()]);
    let (mut b, mut i) = (0, 0);
    for l in out.lines() {
        let l = l.trim();
        if let Some((blocks, rest)) = l.split_once(" free blocks, ") {
            if let (Ok(n), Some(m)) = (blocks.parse::<u64>(), rest.split(' ').next().and_then(|m| m.parse::<u64>().ok())) {
                b += n;
                i += m;
            }
        }
    }
    (b, i)
}

/// Grows a copy with us and another with resize2fs (`size` = None: fill the device) and
/// compares them; returns our report.
fn grow_and_compare(img: &Img, to_mib: u64, size: Option<u64>) -> GrowReport {
    let before = fs_tree(&img.path);
    let ours = img.copy("ours.img", to_mib);
    let theirs = img.copy("theirs.img", to_mib);
    let report = grow(&open_rw(&ours), size, Checks::Strict).unwrap_or_else(|e| panic!("grow: {e}"));
    let mut args = vec![theirs.to_str().unwrap().to_string()];
    if let Some(n) = size {
        args.push(n.to_string());
    }
    tool("resize2fs", &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_fsck_clean(&ours);
    assert_fsck_clean(&theirs);
    for field in ["Block count", "Inode count"] {
        assert_eq!(dumpe2fs_field(&ours, field), dumpe2fs_field(&theirs, field), "{field}");
    }
    assert_eq!(report.new_blocks, dumpe2fs_field(&ours, "Block count"));
    assert_eq!(report.new_inodes, dumpe2fs_field(&ours, "Inode count"));
    assert_eq!(dumpe2fs_field(&ours, "Reserved block count"), dumpe2fs_field(&theirs, "Reserved block count"));
    let (fb, fi) = group_free_sums(&ours);
    assert_eq!(fb, dumpe2fs_field(&ours, "Free blocks"), "superblock free blocks = sum over groups");
    assert_eq!(fi, dumpe2fs_field(&ours, "Free inodes"), "superblock free inodes = sum over groups");
    let after = fs_tree(&ours);
    assert_eq!(diff(&before, &after), Vec::<String>::new(), "files changed by the grow");
    // our own ext4 stack mounts the grown filesystem and sees its new size
    let fs = vguestfs::fs::ext4::Ext4Fs::open(open_rw(&ours)).unwrap_or_else(|e| panic!("mount after grow: {e}"));
    assert!(!fs.read_dir(fs.root()).unwrap().is_empty());
    let st = fs.statvfs().unwrap();
    assert_eq!(st.files, report.new_inodes);
    assert_eq!(st.bfree, dumpe2fs_field(&ours, "Free blocks"));
    assert!(report.changed());
    // a second grow to the same size has nothing to do
    let again = grow(&open_rw(&ours), size, Checks::Strict).unwrap();
    assert!(!again.changed(), "{again:?}");
    assert!(again.message.contains("Nothing to do!"), "{}", again.message);
    report
}

#[test]
fn ext4_4k_defaults_64m_to_200m() {
    let img = Img::mkfs(&["-t", "ext4", "-b", "4096"], 64);
    let r = grow_and_compare(&img, 200, None);
    assert_eq!(r.new_blocks, 200 * MIB / 4096);
    assert!(r.lazy_itable_init);
}

#[test]
fn ext4_4k_defaults_64m_to_2g() {
    let img = Img::mkfs(&["-t", "ext4", "-b", "4096"], 64);
    let r = grow_and_compare(&img, 2048, None);
    assert_eq!((r.old_groups, r.new_groups), (1, 16));
}

#[test]
fn ext4_4k_explicit_size_and_in_two_steps() {
    let img = Img::mkfs(&["-t", "ext4", "-b", "4096"], 64);
    let before = fs_tree(&img.path);
    let ours = img.copy("ours.img", 1024);
    let theirs = img.copy("theirs.img", 1024);
    let dev = open_rw(&ours);
    let first = grow(&dev, Some(40_000), Checks::Strict).unwrap();
    assert_eq!(first.new_blocks, 40_000);
    assert_fsck_clean(&ours);
    let second = grow(&dev, None, Checks::Strict).unwrap();
    assert_eq!(second.old_blocks, 40_000);
    tool("resize2fs", &[theirs.to_str().unwrap()]);
    assert_fsck_clean(&ours);
    assert_eq!(dumpe2fs_field(&ours, "Block count"), dumpe2fs_field(&theirs, "Block count"));
    assert_eq!(dumpe2fs_field(&ours, "Inode count"), dumpe2fs_field(&theirs, "Inode count"));
    assert_eq!(diff(&before, &fs_tree(&ours)), Vec::<String>::new());
}

#[test]
fn ext4_1k_64m_to_200m_and_2g() {
    let img = Img::mkfs(&["-t", "ext4", "-b", "1024"], 64);
    grow_and_compare(&img, 200, None);
    grow_and_compare(&img, 2048, None);
}

#[test]
fn ext4_no_flex_bg() {
    let img = Img::mkfs(&["-t", "ext4", "-b", "4096", "-O", "^flex_bg"], 64);
    grow_and_compare(&img, 600, None);
}

#[test]
fn ext4_no_64bit() {
    let img = Img::mkfs(&["-t", "ext4", "-b", "4096", "-O", "^64bit"], 64);
    grow_and_compare(&img, 1024, None);
    let img = Img::mkfs(&["-t", "ext4", "-b", "1024", "-O", "^64bit"], 32);
    grow_and_compare(&img, 700, None);
}

#[test]
fn ext4_uninit_bg_without_metadata_csum() {
    let img = Img::mkfs(&["-t", "ext4", "-b", "4096", "-O", "^metadata_csum,uninit_bg"], 64);
    grow_and_compare(&img, 300, None);
}

#[test]
fn ext3_4k_and_1k() {
    let img = Img::mkfs(&["-t", "ext3", "-b", "4096"], 64);
    let r = grow_and_compare(&img, 400, None);
    assert!(!r.lazy_itable_init, "ext3 inode tables are zeroed");
    let img = Img::mkfs(&["-t", "ext3", "-b", "1024"], 32);
    grow_and_compare(&img, 300, None);
}

#[test]
fn ext2_1k_and_4k() {
    let img = Img::mkfs(&["-t", "ext2", "-b", "1024"], 32);
    grow_and_compare(&img, 300, None);
    let img = Img::mkfs(&["-t", "ext2", "-b", "4096"], 64);
    grow_and_compare(&img, 700, None);
}

#[test]
fn ext4_sparse_super2() {
    let img = Img::mkfs(&["-t", "ext4", "-b", "4096", "-O", "sparse_super2"], 300);
    grow_and_compare(&img, 1000, None);
    let img = Img::mkfs(&["-t", "ext4", "-b", "4096", "-O", "sparse_super2"], 64);
    grow_and_compare(&img, 1000, None);
}

#[test]
fn ext4_meta_bg_beyond_the_first_descriptor_block() {
    // 1 KiB blocks, 64-byte descriptors: 16 groups per descriptor block, so growing from 8 to
    // 70 groups adds four meta groups
    let img = Img::mkfs(&["-t", "ext4", "-b", "1024", "-O", "meta_bg,^resize_inode"], 64);
    grow_and_compare(&img, 560, None);
}

#[test]
fn reserved_gdt_exhausted_without_meta_bg_is_refused_with_the_limit() {
    // 1 KiB blocks, 64-byte descriptors: one descriptor block covers 16 groups (128 MiB)
    let img = Img::mkfs(&["-t", "ext4", "-b", "1024", "-O", "^resize_inode"], 64);
    let ours = img.copy("ours.img", 200);
    let orig = snapshot(&ours);
    let err = grow(&open_rw(&ours), None, Checks::Strict).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Unsupported { .. }), "{msg}");
    assert!(msg.contains("no meta_bg") && msg.contains("largest size that fits is 131073 blocks"), "{msg}");
    assert!(unchanged(&ours, &orig), "nothing written");
    // the largest size that fits works
    let r = grow(&open_rw(&ours), Some(131_073), Checks::Strict).unwrap();
    assert_eq!(r.new_groups, 16);
    assert_fsck_clean(&ours);
}

#[test]
fn more_than_2_32_blocks_without_64bit_is_refused() {
    let img = Img::mkfs(&["-t", "ext4", "-b", "4096", "-O", "^64bit"], 64);
    let ours = img.copy("ours.img", 64);
    let err = grow(&open_rw(&ours), Some((1 << 32) + 5), Checks::Strict).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Resize { .. }) && msg.contains("too large to be expressed in 32 bits"), "{msg}");
}

#[test]
fn shrink_is_not_supported_and_same_size_is_nothing_to_do() {
    let img = Img::mkfs(&["-t", "ext4", "-b", "4096"], 64);
    let ours = img.copy("ours.img", 64);
    let orig = snapshot(&ours);
    let err = grow(&open_rw(&ours), Some(10_000), Checks::Strict).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }) && err.to_string().contains("shrinking"), "{err}");
    let r = grow(&open_rw(&ours), None, Checks::Strict).unwrap();
    assert!(!r.changed());
    assert_eq!(r.message, "The filesystem is already 16384 (4k) blocks long.  Nothing to do!");
    let err = grow(&open_rw(&ours), Some(20_000), Checks::Strict).unwrap_err();
    assert!(matches!(err, Error::Resize { .. }) && err.to_string().contains("is only 16384 (4k) blocks"), "{err}");
    assert!(unchanged(&ours, &orig), "nothing written");
}

#[test]
fn unclean_filesystems_need_e2fsck_unless_forced() {
    let img = Img::mkfs(&["-t", "ext4", "-b", "4096"], 64);
    // mounted after its last check (every booted image): resize2fs wants e2fsck first, the
    // lenient checks (what virt-resize gets after libguestfs's e2fsck) let it through
    for (i, set) in ["state 0", "state 3", "last_orphan 12", "mtime 20300101"].iter().enumerate() {
        let ours = img.copy(&format!("unclean{i}.img"), 200);
        tool("debugfs", &["-w", "-R", &format!("ssv {set}"), ours.to_str().unwrap()]);
        let orig = snapshot(&ours);
        let err = grow(&open_rw(&ours), None, Checks::Strict).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::NeedsCheck { .. }), "{set}: {msg}");
        assert!(msg.contains(&format!("Please run 'e2fsck -f {}' first.", ours.display())), "{set}: {msg}");
        assert!(unchanged(&ours, &orig), "{set}: nothing written");
        if set.starts_with("mtime") {
            assert!(grow(&open_rw(&ours), None, Checks::Repairs).unwrap().changed());
            assert_eq!(e2fsck(&ours).0, 0, "{}", e2fsck(&ours).1);
            continue;
        }
        let err = grow(&open_rw(&ours), None, Checks::Repairs).unwrap_err();
        assert!(matches!(err, Error::NeedsCheck { .. }), "{set}, repairs: {err}");
        assert!(unchanged(&ours, &orig), "{set}: nothing written");
        if *set == "state 0" {
            let r = grow(&open_rw(&ours), None, Checks::Force).unwrap();
            assert!(r.changed());
            assert_eq!(e2fsck(&ours).0, 0, "{}", e2fsck(&ours).1);
        }
    }
    // a journal that needs recovery is refused unless forced
    let ours = img.copy("recover.img", 200);
    tool("debugfs", &["-w", "-R", "feature needs_recovery", ours.to_str().unwrap()]);
    let orig = snapshot(&ours);
    let err = grow(&open_rw(&ours), None, Checks::Strict).unwrap_err();
    assert!(matches!(err, Error::NeedsCheck { .. }) && err.to_string().contains("journal needs recovery"), "{err}");
    assert!(unchanged(&ours, &orig), "nothing written");
}

/// With the lenient checks (vresize's), a journal needing recovery (three committed
/// transactions written by debugfs, never checkpointed) is replayed before the grow: the result equals debugfs's journal replay
/// (`jr`) followed by resize2fs on a twin — counts (dumpe2fs), the replayed file blocks, the
/// directory listings (names, inodes, modes, sizes; the fixture has a non-UTF-8 name, so not
/// the tree helper). (e2fsck -fy would also re-index a large directory: not the twin.)
#[test]
fn lenient_grow_replays_a_journal_needing_recovery_first() {
    let dir = tempfile::tempdir().unwrap();
    let copy = |name: &str| {
        let p = dir.path().join(name);
        tool("cp", &["--sparse=always", common::fixture("ext4-dirty.img").to_str().unwrap(), p.to_str().unwrap()]);
        tool("truncate", &["-s", "+16M", p.to_str().unwrap()]);
        p
    };
    let (ours, theirs) = (copy("ours.img"), copy("theirs.img"));
    let r = grow(&open_rw(&ours), None, Checks::Repairs).unwrap();
    assert!(r.changed());
    assert_fsck_clean(&ours);
    tool("debugfs", &["-w", "-R", "jr", theirs.to_str().unwrap()]);
    assert!(!tool("dumpe2fs", &["-h", theirs.to_str().unwrap()]).contains("needs_recovery"));
    tool("resize2fs", &["-f", theirs.to_str().unwrap()]);
    for field in ["Block count", "Inode count", "Free blocks", "Free inodes"] {
        assert_eq!(dumpe2fs_field(&ours, field), dumpe2fs_field(&theirs, field), "{field}");
    }
    let journal = |n| std::fs::read(common::fixture(&format!("ext4-journal-{n}.bin"))).unwrap();
    assert_eq!(tool_bytes(&ours, "cat /exactly-4k"), journal(2));
    assert_eq!(tool_bytes(&ours, "cat /mid-5000")[..4096], journal(3)[..]);
    for dir in ["/", "/big-dir"] {
        let ls = |img: &Path| String::from_utf8_lossy(&tool_bytes(img, &format!("ls -p {dir}"))).into_owned();
        assert_eq!(ls(&ours), ls(&theirs), "{dir}");
    }
}

/// `debugfs -R REQUEST` of an image, as bytes.
fn tool_bytes(img: &Path, request: &str) -> Vec<u8> {
    let out = Command::new("debugfs").env("PATH", path_env()).args(["-R", request, img.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn fault_halfway_under_the_overlay_leaves_the_image_unchanged() {
    let img = Img::mkfs(&["-t", "ext4", "-b", "4096"], 64);
    let ours = img.copy("ours.img", 512);
    let orig = snapshot(&ours);
    // count the writes of a successful grow (into a throwaway overlay)
    let overlay = |p: &Path| -> Overlay {
        let base: Dev = Arc::new(RawFile::open(p, false).unwrap());
        let target = RedoTarget::beside(p, Format::Raw, base.len()).unwrap();
        Overlay::scratch(base, target, OverlayOptions::default())
    };
    let count = Plan::new(On::Write, u64::MAX, Action::Fail);
    let ov: Dev = Arc::new(overlay(&ours));
    grow(&count.wrap(ov), None, Checks::Strict).unwrap();
    let writes = count.counts().0;
    assert!(writes > 10, "{writes} writes");
    for k in [1, 2, writes / 2, writes - 1, writes] {
        let plan = Plan::new(On::Write, k, Action::Fail);
        let ov: Dev = Arc::new(overlay(&ours));
        let err = grow(&plan.wrap(ov), None, Checks::Strict).unwrap_err();
        assert!(plan.fired() && err.to_string().contains("injected fault"), "k={k}: {err}");
    }
    assert!(unchanged(&ours, &orig), "the image was written");
    // without an overlay the interrupted grow leaves the error flag for e2fsck to see
    let plan = Plan::new(On::Write, writes / 2, Action::Fail);
    assert!(grow(&plan.wrap(open_rw(&ours)), None, Checks::Strict).is_err());
    let state = tool("dumpe2fs", &["-h", ours.to_str().unwrap()]);
    assert!(state.contains("Filesystem state:         clean with errors"), "{state}");
}

#[test]
fn not_ext_is_an_error_not_a_panic() {
    let dev: Dev = Arc::new(vguestfs::disk::MemDev::new(vec![0u8; 1 << 20]));
    let err = grow(&dev, None, Checks::Strict).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

/// Timing figures for bench/ext4_grow.sh (run in release with `--ignored --nocapture`): our
/// grow straight to the file and under a scratch overlay (the production path, nothing
/// committed), against resize2fs on a copy.
#[test]
#[ignore]
fn bench_grow() {
    for (from, to) in [(64, 2048), (2048, 20 * 1024)] {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("fs.img");
        std::fs::File::create(&img).unwrap().set_len(from * MIB).unwrap();
        tool("mke2fs", &["-q", "-F", "-t", "ext4", "-b", "4096", img.to_str().unwrap()]);
        tool("truncate", &["-s", &format!("{}", to * MIB), img.to_str().unwrap()]);
        let copy = |name: &str| {
            let p = dir.path().join(name);
            tool("cp", &["--sparse=always", img.to_str().unwrap(), p.to_str().unwrap()]);
            p
        };
        let (direct, theirs) = (copy("direct.img"), copy("theirs.img"));
        let t = std::time::Instant::now();
        let r = grow(&open_rw(&direct), None, Checks::Strict).unwrap();
        let ours = t.elapsed();
        let base: Dev = Arc::new(RawFile::open(&img, false).unwrap());
        let target = RedoTarget::beside(&img, Format::Raw, base.len()).unwrap();
        let ov = Arc::new(Overlay::scratch(base, target, OverlayOptions::default()));
        let t = std::time::Instant::now();
        grow(&(ov.clone() as Dev), None, Checks::Strict).unwrap();
        let overlay = t.elapsed();
        let (ranges, bytes) = (ov.dirty_ranges().len(), ov.dirty_ranges().iter().map(|r| r.end - r.start).sum::<u64>());
        let t = std::time::Instant::now();
        tool("resize2fs", &[theirs.to_str().unwrap()]);
        let resize2fs = t.elapsed();
        assert_fsck_clean(&direct);
        println!(
            "BENCH ext4 4k {from} MiB -> {to} MiB ({} -> {} groups): ours direct {:.1} ms, ours under overlay {:.1} ms \
             ({ranges} dirty ranges, {bytes} bytes), resize2fs {:.1} ms",
            r.old_groups,
            r.new_groups,
            ours.as_secs_f64() * 1e3,
            overlay.as_secs_f64() * 1e3,
            resize2fs.as_secs_f64() * 1e3
        );
    }
}
