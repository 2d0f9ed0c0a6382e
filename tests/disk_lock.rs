//! Image locking against QEMU and other vguestfs processes, judged by QEMU itself (`qemu-io`,
//! `qemu-img`) and by the kernel's lock table (`/proc/locks`).

mod common;

use common::run;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vguestfs::guest::DriveOptions;
use vguestfs::Guest;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The OFD lock ranges (start, end) the kernel lists for the inode of `path`.
fn ofd_locks(path: &Path) -> Vec<(u64, u64)> {
    let ino = fs::metadata(path).unwrap().ino().to_string();
    fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .filter(|l| l.contains("OFDLCK"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let at = f.iter().position(|x| x.rsplit(':').next() == Some(ino.as_str()) && x.matches(':').count() == 2)?;
            Some((f.get(at + 1)?.parse().ok()?, f.get(at + 2)?.parse().ok()?))
        })
        .collect()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A qemu-io session holding `img` open read-write; it quits when its stdin closes.
struct QemuIo(Child);

impl QemuIo {
    fn start(img: &Path, fmt: &str) -> QemuIo {
        let child = Command::new("qemu-io")
            .args(["-f", fmt, s(img)])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for("qemu-io to lock the image", || !ofd_locks(img).is_empty());
        QemuIo(child)
    }

    fn quit(mut self) {
        if let Some(mut stdin) = self.0.stdin.take() {
            let _ = stdin.write_all(b"quit\n");
        }
        let status = self.0.wait().unwrap();
        assert!(status.success(), "qemu-io: {status}");
    }
}

impl Drop for QemuIo {
    fn drop(&mut self) {
        // only if a test failed before quit(): end the process we started
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn guest(img: &Path, readonly: bool) -> vguestfs::guest::Result<Guest> {
    let mut g = Guest::new();
    g.add_drive(img, DriveOptions { format: None, readonly, ..Default::default() })?;
    g.launch()?;
    Ok(g)
}

fn raw_image(dir: &Path) -> PathBuf {
    let img = dir.join("disk.raw");
    fs::copy(common::fixture("whole-ext2.raw"), &img).unwrap();
    img
}

#[test]
fn an_image_held_by_qemu_io_is_refused_for_write() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_image(dir.path());
    let qcow2 = dir.path().join("disk.qcow2");
    run("qemu-img", &["convert", "-f", "raw", "-O", "qcow2", s(&raw), s(&qcow2)]);
    for (img, fmt) in [(&raw, "raw"), (&qcow2, "qcow2")] {
        let before = common::sha256_file(img);
        let qemu = QemuIo::start(img, fmt);
        let err = guest(img, false).err().expect("a writable open of an image qemu-io holds succeeded").to_string();
        assert!(
            err.contains(&format!("{} is in use by another process (a running QEMU/VM?) — refusing to write", img.display())),
            "{err}"
        );
        assert!(err.contains("QEMU's 'consistent read' permission"), "{err}");
        // a read-only open still works
        let g = guest(img, true).unwrap();
        assert_eq!(g.list_filesystems().unwrap(), vec![("/dev/sda".to_string(), "ext2".to_string())]);
        drop(g);
        qemu.quit();
        assert!(ofd_locks(img).is_empty());
        // the holder is gone: writable now, and the refused attempt changed nothing
        assert_eq!(common::sha256_file(img), before);
        let g = guest(img, false).unwrap();
        assert!(g.device("/dev/sda").unwrap().is_writable());
    }
}

/// A child process: tries a writable open of VGFS_LOCK_IMG and prints the outcome.
#[test]
#[ignore = "run as a child process by the lock tests"]
fn lock_child() {
    let Ok(img) = std::env::var("VGFS_LOCK_IMG") else { return };
    match guest(Path::new(&img), false) {
        Ok(_) => println!("OUTCOME: opened"),
        Err(e) => println!("OUTCOME: {e}"),
    }
}

fn other_process_outcome(img: &Path) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["lock_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("VGFS_LOCK_IMG", img)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    stdout.split("OUTCOME: ").nth(1).and_then(|r| r.lines().next()).unwrap_or_else(|| panic!("no outcome: {stdout}")).to_string()
}

#[test]
fn our_write_lock_stops_qemu_and_other_writers() {
    let dir = tempfile::tempdir().unwrap();
    let img = raw_image(dir.path());
    let writer = guest(&img, false).unwrap();
    // The kernel lists our locks: QEMU's four permission bytes, and "others may not write or resize".
    let mut locks = ofd_locks(&img);
    locks.sort();
    assert_eq!(locks, vec![(100, 103), (201, 201), (203, 203)]);

    // QEMU refuses the image, for writing and for a plain (consistent) read.
    let io = Command::new("qemu-io").args(["-f", "raw", "-c", "read 0 512", s(&img)]).output().unwrap();
    let stderr = String::from_utf8_lossy(&io.stderr);
    assert!(!io.status.success() && stderr.contains("Failed to get") && stderr.contains("lock"), "qemu-io: {stderr}");
    let copy = dir.path().join("copy.raw");
    let conv = Command::new("qemu-img").args(["convert", "-O", "raw", s(&img), s(&copy)]).output().unwrap();
    let stderr = String::from_utf8_lossy(&conv.stderr);
    assert!(!conv.status.success() && stderr.contains("Failed to get shared \"write\" lock"), "qemu-img convert: {stderr}");
    // ... but, as with a running VM, a forced shared read works.
    run("qemu-img", &["convert", "-U", "-O", "raw", s(&img), s(&copy)]);

    // A second writer, in this process or another, is refused; readers are not.
    let err = guest(&img, false).err().expect("second writable open succeeded").to_string();
    assert!(err.contains("is in use by another process"), "{err}");
    let outcome = other_process_outcome(&img);
    assert!(outcome.contains("is in use by another process") && outcome.contains("refusing to write"), "{outcome}");
    assert!(guest(&img, true).is_ok());
    let ls = Command::new(env!("CARGO_BIN_EXE_vfilesystems")).args(["-a", s(&img)]).output().unwrap();
    assert!(ls.status.success() && String::from_utf8_lossy(&ls.stdout).contains("/dev/sda"));
    // The refused attempts left our locks as they were.
    let mut again = ofd_locks(&img);
    again.sort();
    assert_eq!(again, locks);

    // Closing the writer releases everything.
    drop(writer);
    assert!(ofd_locks(&img).is_empty());
    run("qemu-io", &["-f", "raw", "-c", "read 0 512", s(&img)]);
    assert_eq!(other_process_outcome(&img), "opened");
}

#[test]
fn backing_files_are_not_locked() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("qcow2-base.qcow2");
    let top = dir.path().join("qcow2-overlay.qcow2");
    fs::copy(common::fixture("qcow2-base.qcow2"), &base).unwrap();
    fs::copy(common::fixture("qcow2-overlay.qcow2"), &top).unwrap();
    let writer = guest(&top, false).unwrap();
    assert!(!ofd_locks(&top).is_empty());
    assert!(ofd_locks(&base).is_empty());
    run("qemu-io", &["-r", "-f", "qcow2", "-c", "read 0 512", s(&base)]);
    drop(writer);
}
