//! The copy-on-write overlay and its commit, judged by real tools: overlay contents against a
//! byte model, images after commit against `qemu-img check` / `qemu-img convert`, and crash
//! safety — a commit interrupted at every write and every flush (an I/O error, or the process
//! killed mid-write) leaves, after the next writable open, exactly the old or exactly the new
//! image, whose filesystem `e2fsck -fn` passes. The new state is made by `debugfs -w`.

mod common;

use common::fault::{Action, On, Plan, KILLED};
use common::{run, sha256_file};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use vguestfs::disk::{
    open_image, open_session_image, BlockDev, CommitStats, Format, ImageLock, Overlay, OverlayOptions, RedoTarget,
};
use vguestfs::guest::DriveOptions;
use vguestfs::Guest;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn log_of(img: &Path) -> PathBuf {
    vguestfs::disk::redo::log_path(img)
}

/// Deterministic bytes.
fn pattern(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An ext4 image A (mkfs.ext4 -d) and B = A changed by `debugfs -w` (files written, a
/// directory made, files and a directory removed, a symlink added); both pass `e2fsck -fn`.
struct Pair {
    dir: tempfile::TempDir,
    a: PathBuf,
    b: PathBuf,
}

impl Pair {
    fn new() -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        fs::create_dir_all(tree.join("etc")).unwrap();
        fs::create_dir_all(tree.join("data")).unwrap();
        fs::create_dir_all(tree.join("emptydir")).unwrap();
        fs::write(tree.join("etc/hostname"), "guest\n").unwrap();
        for i in 0..30 {
            fs::write(tree.join(format!("data/file-{i}")), pattern(i, 3000 + 100 * i as usize)).unwrap();
        }
        fs::write(tree.join("data/big"), pattern(99, 300_000)).unwrap();
        let a = dir.path().join("a.raw");
        fs::File::create(&a).unwrap().set_len(8 << 20).unwrap();
        run("mkfs.ext4", &["-q", "-F", "-b", "4096", "-E", "root_owner=0:0", "-d", s(&tree), s(&a)]);
        run("e2fsck", &["-fn", s(&a)]);

        let b = dir.path().join("b.raw");
        fs::copy(&a, &b).unwrap();
        let new1 = dir.path().join("new1");
        let new2 = dir.path().join("new2");
        fs::write(&new1, pattern(1000, 70_000)).unwrap();
        fs::write(&new2, pattern(1001, 5000)).unwrap();
        let cmds = dir.path().join("cmds");
        fs::write(
            &cmds,
            format!(
                "write {} /etc/new-file\nmkdir /newdir\nwrite {} /newdir/inner\nrm /data/file-3\nrm /data/big\n\
                 rmdir /emptydir\nsymlink /newlink /etc/hostname\nrm /data/file-17\nmkdir /newdir/sub\n\
                 write {} /newdir/sub/more\nwrite {} /data/file-new\n",
                s(&new1),
                s(&new2),
                s(&new2),
                s(&new1)
            ),
        )
        .unwrap();
        run("debugfs", &["-w", "-f", s(&cmds), s(&b)]);
        run("e2fsck", &["-fn", s(&b)]);
        // debugfs did what was asked (it exits 0 even when a command fails)
        let cat = Command::new("debugfs").args(["-R", "cat /newdir/inner", s(&b)]).output().unwrap();
        assert_eq!(cat.stdout, fs::read(&new2).unwrap());
        let ls = run("debugfs", &["-R", "ls -l /", s(&b)]);
        assert!(ls.contains("newlink") && !ls.contains("emptydir"), "{ls}");
        assert_ne!(sha256_file(&a), sha256_file(&b));
        Pair { dir, a, b }
    }

    /// The differing 4 KiB blocks of B, each as two unaligned writes.
    fn writes(&self) -> Vec<(u64, Vec<u8>)> {
        block_writes(&self.a, &self.b)
    }

    /// A qcow2 copy of A made by qemu-img.
    fn a_qcow2(&self) -> PathBuf {
        let q = self.dir.path().join("a.qcow2");
        if !q.exists() {
            run("qemu-img", &["convert", "-f", "raw", "-O", "qcow2", s(&self.a), s(&q)]);
        }
        q
    }
}

fn block_writes(a: &Path, b: &Path) -> Vec<(u64, Vec<u8>)> {
    let (a, b) = (fs::read(a).unwrap(), fs::read(b).unwrap());
    let mut out = Vec::new();
    for (i, (x, y)) in a.chunks(4096).zip(b.chunks(4096)).enumerate() {
        if x != y {
            let off = (i * 4096) as u64;
            out.push((off, y[..1000].to_vec()));
            out.push((off + 1000, y[1000..].to_vec()));
        }
    }
    out
}

/// Ranges the zero-record crash tests zero after the A→B writes: inside a chunk, across
/// chunks with unaligned ends, and the last bytes of the image.
const ZEROS: &[(u64, u64)] = &[(100, 200), (5 << 20, (2 << 20) + 1234), ((8 << 20) - 5000, 5000)];

/// Opens `img` for writing under an overlay whose image and log devices count toward `plan`,
/// applies `writes` and commits.
fn commit_with_fault(img: &Path, fmt: Format, writes: &[(u64, Vec<u8>)], plan: &Arc<Plan>, spill: &Path) -> vguestfs::disk::Result<CommitStats> {
    commit_with_fault_zeroing(img, fmt, writes, &[], plan, spill)
}

/// [`commit_with_fault`], zeroing `zeros` (offset, length) after the writes.
fn commit_with_fault_zeroing(
    img: &Path,
    fmt: Format,
    writes: &[(u64, Vec<u8>)],
    zeros: &[(u64, u64)],
    plan: &Arc<Plan>,
    spill: &Path,
) -> vguestfs::disk::Result<CommitStats> {
    let lock = ImageLock::acquire(img)?;
    let base = open_image(img, Some(fmt), true)?;
    let target = RedoTarget::beside(img, fmt, base.len())?;
    let p = plan.clone();
    let opts = OverlayOptions { mem_limit: 16 << 10, spill_dir: Some(spill.to_path_buf()) };
    let ov = Overlay::new(plan.wrap(base), target, opts).with_lock(lock).with_log_wrapper(Arc::new(move |d| p.wrap(d)));
    for (off, data) in writes {
        ov.write_at(data, *off)?;
    }
    for &(off, len) in zeros {
        ov.write_zeroes(off, len)?;
    }
    let (mem, spilled) = ov.buffered_bytes();
    assert!(mem <= 16 << 10 && spilled > 0, "the spill path is not exercised: {mem} {spilled}");
    ov.commit()
}

/// Raw bytes of an image as the guest sees them: the file, or qemu-img's conversion.
fn contents_sha(img: &Path, fmt: Format, scratch: &Path) -> String {
    match fmt {
        Format::Raw => sha256_file(img),
        Format::Qcow2 => {
            let out = scratch.join("converted.raw");
            run("qemu-img", &["convert", "-U", "-O", "raw", s(img), s(&out)]);
            let sum = sha256_file(&out);
            run("e2fsck", &["-fn", s(&out)]);
            sum
        }
    }
}

/// The crash-test child: `crash_child` run by [`crash_in_child`] with VGFS_CRASH set.
#[test]
#[ignore = "run as a child process by the crash tests"]
fn crash_child() {
    let Ok(spec) = std::env::var("VGFS_CRASH") else { return };
    let f: Vec<&str> = spec.split('\t').collect();
    let (img, fmt, a, b) = (Path::new(f[0]), f[1].parse::<Format>().unwrap(), Path::new(f[2]), Path::new(f[3]));
    let on = if f[4] == "write" { On::Write } else { On::Flush };
    let plan = Plan::new(on, f[5].parse().unwrap(), Action::Kill);
    let spill = img.parent().unwrap();
    let zeros = if f.get(6) == Some(&"zeros") { ZEROS } else { &[] };
    commit_with_fault_zeroing(img, fmt, &block_writes(a, b), zeros, &plan, spill).unwrap();
    assert!(!plan.fired());
}

/// Runs the commit in a child process that exits at the fault; returns whether it was killed.
fn crash_in_child(img: &Path, fmt: Format, pair: &Pair, on: On, k: u64) -> bool {
    crash_in_child_zeroing(img, fmt, pair, on, k, false)
}

/// [`crash_in_child`], the commit zeroing [`ZEROS`] too when `zeros`.
fn crash_in_child_zeroing(img: &Path, fmt: Format, pair: &Pair, on: On, k: u64, zeros: bool) -> bool {
    let fmt_name = if fmt == Format::Raw { "raw" } else { "qcow2" };
    let on_name = if on == On::Write { "write" } else { "flush" };
    let z = if zeros { "zeros" } else { "" };
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("VGFS_CRASH", [s(img), fmt_name, s(&pair.a), s(&pair.b), on_name, &k.to_string(), z].join("\t"))
        .output()
        .unwrap();
    match out.status.code() {
        Some(KILLED) => true,
        Some(0) => false,
        other => panic!("crash child {on:?} {k}: status {other:?}: {}", String::from_utf8_lossy(&out.stdout)),
    }
}

/// The whole crash matrix for one format: every write and every flush of a commit, failed
/// in-process and killed in a child process.
fn crash_matrix(fmt: Format) {
    let pair = Pair::new();
    let source = if fmt == Format::Raw { pair.a.clone() } else { pair.a_qcow2() };
    let writes = pair.writes();
    let (old, new) = (sha256_file(&pair.a), sha256_file(&pair.b));
    let scratch = tempfile::tempdir().unwrap();
    let img = scratch.path().join(if fmt == Format::Raw { "img.raw" } else { "img.qcow2" });

    // A clean run counts the writes and flushes of one commit.
    fs::copy(&source, &img).unwrap();
    let plan = Plan::new(On::Write, u64::MAX, Action::Fail);
    let stats = commit_with_fault(&img, fmt, &writes, &plan, scratch.path()).unwrap();
    assert_eq!(contents_sha(&img, fmt, scratch.path()), new);
    let (total_writes, total_flushes) = plan.counts();
    // log: header + one record per range + commit record; image: one write per range
    let records = (total_writes - 2) / 2;
    assert_eq!(total_writes, 2 * records + 2);
    assert_eq!(stats.ranges as u64, records, "every dirty range fits one record here");
    assert_eq!(total_flushes, 2);
    let log_writes = records + 2;

    let mut outcomes = (0, 0);
    for action in [Action::Fail, Action::Kill] {
        for (on, total) in [(On::Write, total_writes), (On::Flush, total_flushes)] {
            for k in 1..=total {
                fs::copy(&source, &img).unwrap();
                let fired = match action {
                    Action::Fail => {
                        let plan = Plan::new(on, k, Action::Fail);
                        let r = commit_with_fault(&img, fmt, &writes, &plan, scratch.path());
                        assert!(plan.fired() && r.is_err(), "{action:?} {on:?} {k}: {r:?}");
                        true
                    }
                    Action::Kill => crash_in_child(&img, fmt, &pair, on, k),
                };
                assert!(fired, "{action:?} {on:?} {k}: the fault did not fire");
                let had_log = log_of(&img).exists();
                // Recovery: the next writable open settles the log.
                let opened = open_session_image(&img, Some(fmt), true, &OverlayOptions::default()).unwrap();
                let notices = opened.notices.join("\n");
                drop(opened);
                assert!(!log_of(&img).exists(), "{action:?} {on:?} {k}: the log is still there");
                assert_eq!(had_log, !notices.is_empty(), "{action:?} {on:?} {k}: {notices}");
                if fmt == Format::Qcow2 {
                    run("qemu-img", &["check", "-U", s(&img)]);
                }
                let sum = contents_sha(&img, fmt, scratch.path());
                if fmt == Format::Raw {
                    run("e2fsck", &["-fn", s(&img)]);
                }
                assert!(sum == old || sum == new, "{action:?} {on:?} {k}: neither the old nor the new image");
                // Where the outcome is determined, check it: a fault before the log is complete
                // keeps the old image; after it, recovery gives the new one.
                let expect_new = match (on, action) {
                    (On::Write, _) => k > log_writes,
                    (On::Flush, Action::Fail) => k > 1,
                    // killed at the log's fsync: the whole log is in the page cache, complete
                    (On::Flush, Action::Kill) => true,
                };
                assert_eq!(sum == new, expect_new, "{action:?} {on:?} {k}: notices: {notices}");
                if sum == new && had_log {
                    assert!(notices.contains("replayed an interrupted commit"), "{notices}");
                }
                if sum == old { outcomes.0 += 1 } else { outcomes.1 += 1 }
            }
        }
    }
    eprintln!(
        "{fmt:?}: {records} records, {total_writes} writes and {total_flushes} flushes per commit; {} crashes ended old, {} new",
        outcomes.0, outcomes.1
    );
}

/// Guest-visible bytes of an image (raw: the file; qcow2: `qemu-img check`, then convert).
fn guest_sha(img: &Path, fmt: Format, scratch: &Path) -> String {
    match fmt {
        Format::Raw => sha256_file(img),
        Format::Qcow2 => {
            // -U: the image is closed, but another test of this binary may be spawning a child
            // at this moment, whose copy of our descriptor holds the OFD lock until its exec
            // (seen once in CI: "Failed to get shared write lock")
            run("qemu-img", &["check", "-U", s(img)]);
            let out = scratch.join("guest.raw");
            run("qemu-img", &["convert", "-U", "-O", "raw", s(img), s(&out)]);
            sha256_file(&out)
        }
    }
}

/// A commit holding zero records (no data in the log) besides data records, interrupted at
/// every write and flush (failed in-process, killed in a child): after the next writable open
/// the image is exactly the old or exactly the new state (sha256 of the guest bytes), and a
/// qcow2 image passes `qemu-img check` (v3: the zeroing made zero clusters).
fn zero_crash_matrix(fmt: Format) {
    let pair = Pair::new();
    let source = if fmt == Format::Raw { pair.a.clone() } else { pair.a_qcow2() };
    let writes = pair.writes();
    let scratch = tempfile::tempdir().unwrap();
    let mut new_bytes = fs::read(&pair.b).unwrap();
    for &(off, len) in ZEROS {
        new_bytes[off as usize..(off + len) as usize].fill(0);
    }
    let want_new = scratch.path().join("new.raw");
    fs::write(&want_new, &new_bytes).unwrap();
    let (old, new) = (sha256_file(&pair.a), sha256_file(&want_new));
    let img = scratch.path().join(if fmt == Format::Raw { "img.raw" } else { "img.qcow2" });

    fs::copy(&source, &img).unwrap();
    let plan = Plan::new(On::Write, u64::MAX, Action::Fail);
    commit_with_fault_zeroing(&img, fmt, &writes, ZEROS, &plan, scratch.path()).unwrap();
    assert_eq!(guest_sha(&img, fmt, scratch.path()), new, "{fmt:?}: the clean commit");
    let (total_writes, total_flushes) = plan.counts();
    let mut outcomes = (0, 0);
    for action in [Action::Fail, Action::Kill] {
        for (on, total) in [(On::Write, total_writes), (On::Flush, total_flushes)] {
            for k in 1..=total {
                fs::copy(&source, &img).unwrap();
                let fired = match action {
                    Action::Fail => {
                        let plan = Plan::new(on, k, Action::Fail);
                        let r = commit_with_fault_zeroing(&img, fmt, &writes, ZEROS, &plan, scratch.path());
                        plan.fired() && r.is_err()
                    }
                    Action::Kill => crash_in_child_zeroing(&img, fmt, &pair, on, k, true),
                };
                assert!(fired, "{action:?} {on:?} {k}: the fault did not fire");
                drop(open_session_image(&img, Some(fmt), true, &OverlayOptions::default()).unwrap());
                assert!(!log_of(&img).exists(), "{action:?} {on:?} {k}: the log is still there");
                let sum = guest_sha(&img, fmt, scratch.path());
                assert!(sum == old || sum == new, "{fmt:?} {action:?} {on:?} {k}: neither the old nor the new image");
                if (on, k) == (On::Write, 1) {
                    assert_eq!(sum, old, "a fault at the log header keeps the old image");
                }
                if sum == old { outcomes.0 += 1 } else { outcomes.1 += 1 }
            }
        }
    }
    assert!(outcomes.0 > 0 && outcomes.1 > 0, "{outcomes:?}");
    eprintln!("{fmt:?} with zero records: {total_writes} writes, {total_flushes} flushes; {} crashes ended old, {} new", outcomes.0, outcomes.1);
}

#[test]
fn crash_at_every_write_and_flush_of_a_raw_commit_with_zero_records() {
    zero_crash_matrix(Format::Raw);
}

#[test]
fn crash_at_every_write_and_flush_of_a_qcow2_commit_with_zero_records() {
    zero_crash_matrix(Format::Qcow2);
}

#[test]
fn crash_at_every_write_and_flush_of_a_raw_commit() {
    crash_matrix(Format::Raw);
}

#[test]
fn crash_at_every_write_and_flush_of_a_qcow2_commit() {
    crash_matrix(Format::Qcow2);
}

/// Random reads and writes through an overlay over a real image, against a byte model; the
/// image is judged after each commit (raw: its bytes; qcow2: `qemu-img check` and convert).
#[test]
fn overlay_over_raw_and_qcow2_matches_a_model() {
    let dir = tempfile::tempdir().unwrap();
    for (name, fmt) in [("qcow2-base.raw", Format::Raw), ("qcow2-v3.qcow2", Format::Qcow2)] {
        let img = dir.path().join(name);
        fs::copy(common::fixture(name), &img).unwrap();
        let model_of = |img: &Path| match fmt {
            Format::Raw => fs::read(img).unwrap(),
            Format::Qcow2 => {
                let out = dir.path().join("model.raw");
                // -U: the image is still open (and locked) by us; every commit flushed it
                run("qemu-img", &["check", "-U", s(img)]);
                run("qemu-img", &["convert", "-U", "-O", "raw", s(img), s(&out)]);
                fs::read(out).unwrap()
            }
        };
        let mut model = model_of(&img);
        let opts = OverlayOptions { mem_limit: 64 << 10, spill_dir: Some(dir.path().into()) };
        let opened = open_session_image(&img, Some(fmt), true, &opts).unwrap();
        let (dev, ov) = (opened.dev, opened.overlay.unwrap());
        let len = model.len();
        let mut rng = pattern(7, 1 << 16).into_iter().cycle();
        let mut next = move || u64::from_le_bytes(std::array::from_fn(|_| rng.next().unwrap()));
        for round in 0..300 {
            let off = (next() % len as u64) as usize;
            let n = ((next() % 70_000) as usize).min(len - off);
            if next() % 3 == 0 {
                let mut got = vec![0u8; n];
                dev.read_at(&mut got, off as u64).unwrap();
                assert!(got == model[off..off + n], "{name} round {round}: read of {n} at {off}");
            } else {
                let data = pattern(next(), n);
                dev.write_at(&data, off as u64).unwrap();
                model[off..off + n].copy_from_slice(&data);
            }
            if round == 150 {
                assert!(ov.buffered_bytes().1 > 0, "{name}: nothing spilled");
                ov.commit().unwrap();
                assert!(model_of(&img) == model, "{name}: after the first commit");
            }
        }
        ov.commit().unwrap();
        // uncommitted writes are dropped with the overlay
        dev.write_at(&[0xee; 10_000], 4096).unwrap();
        drop((dev, ov));
        assert!(model_of(&img) == model, "{name}: after the last commit");
    }
}

/// Writes through the overlay land in the top qcow2 image, never in a backing file, and
/// leave images `qemu-img check` accepts: plain v3, compressed, v2, overlays on qcow2 and raw.
#[test]
fn qcow2_commits_land_in_the_top_image() {
    let dir = tempfile::tempdir().unwrap();
    for backing in ["qcow2-base.qcow2", "qcow2-base.raw"] {
        fs::copy(common::fixture(backing), dir.path().join(backing)).unwrap();
    }
    let sums = |names: &[&str]| names.iter().map(|n| sha256_file(&dir.path().join(n))).collect::<Vec<_>>();
    let backing_before = sums(&["qcow2-base.qcow2", "qcow2-base.raw"]);
    for name in ["qcow2-v3.qcow2", "qcow2-compressed.qcow2", "qcow2-v2.qcow2", "qcow2-overlay.qcow2", "qcow2-rawback.qcow2"] {
        let img = dir.path().join(name);
        fs::copy(common::fixture(name), &img).unwrap();
        let reference = dir.path().join("ref.raw");
        run("qemu-img", &["convert", "-O", "raw", s(&img), s(&reference)]);
        let mut model = fs::read(&reference).unwrap();
        let opened = open_session_image(&img, None, true, &OverlayOptions::default()).unwrap();
        for (i, off) in [0usize, 20_777, (1 << 20) + 5, (12 << 20) + 4000, (32 << 20) - 9000].into_iter().enumerate() {
            let data = pattern(i as u64 + 50, 9000.min(model.len() - off));
            opened.dev.write_at(&data, off as u64).unwrap();
            model[off..off + data.len()].copy_from_slice(&data);
        }
        let stats = opened.overlay.as_ref().unwrap().commit().unwrap();
        assert_eq!(stats.ranges, 5, "{name}");
        drop(opened);
        run("qemu-img", &["check", s(&img)]);
        run("qemu-img", &["convert", "-O", "raw", s(&img), s(&reference)]);
        assert!(fs::read(&reference).unwrap() == model, "{name}: qemu-img convert differs from the model");
        assert_eq!(sums(&["qcow2-base.qcow2", "qcow2-base.raw"]), backing_before, "{name}: a backing file changed");
    }
}

/// A guest with a writable drive: writes wait in the overlay, `dirty_ranges` reports them,
/// dropping the guest writes nothing, `commit` writes exactly them.
#[test]
fn guest_commit_dirty_ranges_and_drop() {
    let pair = Pair::new();
    let img = pair.dir.path().join("guest.raw");
    fs::copy(&pair.a, &img).unwrap();
    let writes = pair.writes();
    let open = || {
        let mut g = Guest::new();
        g.add_drive(&img, DriveOptions { format: Some(Format::Raw), readonly: false, ..Default::default() }).unwrap();
        g.launch().unwrap();
        for (off, data) in &writes {
            g.device("/dev/sda").unwrap().write_at(data, *off).unwrap();
        }
        g
    };
    let g = open();
    let changes = g.dirty_ranges().unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].image.as_path(), changes[0].device.as_str()), (img.as_path(), "/dev/sda"));
    // the merged differing blocks
    let mut expect: Vec<std::ops::Range<u64>> = Vec::new();
    for (off, data) in &writes {
        let r = *off..*off + data.len() as u64;
        match expect.last_mut() {
            Some(last) if last.end == r.start => last.end = r.end,
            _ => expect.push(r),
        }
    }
    assert_eq!(changes[0].ranges, expect);
    assert_eq!(g.probe("/dev/sda").unwrap().unwrap().fs_type, "ext4");
    drop(g);
    assert_eq!(sha256_file(&img), sha256_file(&pair.a), "dropping an uncommitted guest wrote to the image");

    let g = open();
    let done = g.commit().unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].ranges, expect.len());
    assert_eq!(done[0].bytes, expect.iter().map(|r| r.end - r.start).sum::<u64>());
    assert!(g.dirty_ranges().unwrap()[0].ranges.is_empty());
    assert_eq!(g.commit().unwrap()[0].bytes, 0);
    drop(g);
    assert_eq!(sha256_file(&img), sha256_file(&pair.b));
    run("e2fsck", &["-fn", s(&img)]);
}

/// Makes a complete leftover log for A→B on `img` (a commit whose first image write failed).
fn leave_complete_log(pair: &Pair, img: &Path) -> u64 {
    fs::copy(&pair.a, img).unwrap();
    let writes = pair.writes();
    let plan = Plan::new(On::Write, u64::MAX, Action::Fail);
    let probe = pair.dir.path().join("probe.raw");
    fs::copy(&pair.a, &probe).unwrap();
    commit_with_fault(&probe, Format::Raw, &writes, &plan, pair.dir.path()).unwrap();
    let log_writes = (plan.counts().0 - 2) / 2 + 2;
    let plan = Plan::new(On::Write, log_writes + 1, Action::Fail);
    let err = commit_with_fault(img, Format::Raw, &writes, &plan, pair.dir.path()).unwrap_err().to_string();
    assert!(err.contains("redo log is kept") && err.contains("--rw"), "{err}");
    assert!(log_of(img).exists());
    assert_eq!(sha256_file(img), sha256_file(&pair.a));
    log_writes - 2 // records
}

#[test]
fn leftover_logs_are_settled_and_reported() {
    let pair = Pair::new();
    let img = pair.dir.path().join("left.raw");
    let (old, new) = (sha256_file(&pair.a), sha256_file(&pair.b));
    let guest = |readonly: bool| {
        let mut g = Guest::new();
        g.add_drive(&img, DriveOptions { format: None, readonly, ..Default::default() }).unwrap();
        g.launch().map(|()| g)
    };

    // A complete log, read-only: shown applied, nothing written, the log kept.
    let records = leave_complete_log(&pair, &img);
    let g = guest(true).unwrap();
    let notices = g.notices().join("\n");
    assert!(notices.contains("holds an interrupted commit") && notices.contains("--rw"), "{notices}");
    let dev = g.device("/dev/sda").unwrap();
    assert!(!dev.is_writable());
    let mut seen = vec![0u8; dev.len() as usize];
    dev.read_at(&mut seen, 0).unwrap();
    assert!(seen == fs::read(&pair.b).unwrap(), "the read-only view is not the committed state");
    drop((dev, g));
    assert_eq!(sha256_file(&img), old);
    assert!(log_of(&img).exists());

    // A tool prints the notice.
    let out = Command::new(env!("CARGO_BIN_EXE_vfilesystems")).args(["-a", s(&img)]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.contains("holds an interrupted commit"), "{stderr}");

    // Writable: replayed, reported, the log gone.
    let g = guest(false).unwrap();
    let notices = g.notices().join("\n");
    let bytes: u64 = block_writes(&pair.a, &pair.b).iter().map(|(_, d)| d.len() as u64).sum();
    let want = format!(
        "{}: replayed an interrupted commit ({bytes} bytes in {records} ranges) from {}",
        img.display(),
        log_of(&img).display()
    );
    assert_eq!(notices, want);
    drop(g);
    assert_eq!(sha256_file(&img), new);
    assert!(!log_of(&img).exists());
    run("e2fsck", &["-fn", s(&img)]);

    // An incomplete log: ignored read-only, removed read-write; the image never changes.
    leave_complete_log(&pair, &img);
    let log = log_of(&img);
    let full = fs::metadata(&log).unwrap().len();
    fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(full - 20).unwrap();
    let g = guest(true).unwrap();
    assert!(g.notices().join("\n").contains("ignoring"), "{:?}", g.notices());
    drop(g);
    assert!(log.exists());
    let g = guest(false).unwrap();
    let notices = g.notices().join("\n");
    assert!(notices.contains("removed") && notices.contains("before that commit"), "{notices}");
    drop(g);
    assert!(!log.exists());
    assert_eq!(sha256_file(&img), old);

    // A complete log written for another image is neither replayed nor removed.
    leave_complete_log(&pair, &img);
    let other = pair.dir.path().join("other.raw");
    fs::copy(&pair.a, &other).unwrap();
    fs::rename(&log, log_of(&other)).unwrap();
    let mut g = Guest::new();
    g.add_drive(&other, DriveOptions { format: None, readonly: false, ..Default::default() }).unwrap();
    let err = g.launch().unwrap_err().to_string();
    assert!(err.contains("not replayed") && err.contains("inode") && err.contains("delete the log"), "{err}");
    assert_eq!(sha256_file(&other), old);
    assert!(log_of(&other).exists());
}
