//! A fault-injecting block device for crash tests: every write and flush of the devices
//! sharing one [`Plan`] is counted, and the k-th one fails (an I/O error) or kills the process
//! (after writing half of the buffer, like a torn write; no destructor or cleanup runs).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use vguestfs::disk::{BlockDev, Dev, Error, Result};

/// Which operation the fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// The k-th write.
    Write,
    /// The k-th flush.
    Flush,
}

/// What the fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Return an I/O error (the write does not happen).
    Fail,
    /// Exit the process at once (a write is half done first).
    Kill,
}

/// Exit status of a process killed by a [`Plan`].
pub const KILLED: i32 = 77;

/// A fault at the k-th (1-based) operation of kind `on`, shared by every device wrapped with it.
#[derive(Debug)]
pub struct Plan {
    pub on: On,
    pub k: u64,
    pub action: Action,
    writes: AtomicU64,
    flushes: AtomicU64,
    fired: AtomicBool,
}

impl Plan {
    pub fn new(on: On, k: u64, action: Action) -> Arc<Plan> {
        Arc::new(Plan { on, k, action, writes: AtomicU64::new(0), flushes: AtomicU64::new(0), fired: AtomicBool::new(false) })
    }

    /// Whether the fault happened.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }

    /// Writes and flushes counted so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.writes.load(Ordering::SeqCst), self.flushes.load(Ordering::SeqCst))
    }

    /// Wraps `dev` so that its writes and flushes count toward this plan.
    pub fn wrap(self: &Arc<Plan>, dev: Dev) -> Dev {
        Arc::new(FaultDev { inner: dev, plan: self.clone() })
    }

    fn injected(&self, dev: &dyn BlockDev) -> Error {
        Error::Io {
            path: dev.name().into(),
            op: "write",
            source: std::io::Error::other(format!("injected fault at {:?} {}", self.on, self.k)),
        }
    }
}

/// A device whose writes and flushes are counted by a [`Plan`].
pub struct FaultDev {
    inner: Dev,
    plan: Arc<Plan>,
}

impl FaultDev {
    /// Counts one write; at the planned one fails it, or runs `half` (a partial write) and
    /// exits the process.
    fn count_write(&self, half: impl FnOnce()) -> Result<()> {
        let n = self.plan.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if self.plan.on == On::Write && n == self.plan.k {
            self.plan.fired.store(true, Ordering::SeqCst);
            match self.plan.action {
                Action::Fail => return Err(self.plan.injected(&*self.inner)),
                Action::Kill => {
                    half();
                    std::process::exit(KILLED);
                }
            }
        }
        Ok(())
    }
}

impl BlockDev for FaultDev {
    fn len(&self) -> u64 {
        self.inner.len()
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> Result<()> {
        self.inner.read_at(buf, off)
    }

    fn write_at(&self, buf: &[u8], off: u64) -> Result<()> {
        self.count_write(|| {
            let _ = self.inner.write_at(&buf[..buf.len() / 2], off);
        })?;
        self.inner.write_at(buf, off)
    }

    /// Counts as one write; killed, the first half of the range is zeroed first.
    fn write_zeroes(&self, off: u64, len: u64) -> Result<()> {
        self.count_write(|| {
            let _ = self.inner.write_zeroes(off, len / 2);
        })?;
        self.inner.write_zeroes(off, len)
    }

    fn flush(&self) -> Result<()> {
        let n = self.plan.flushes.fetch_add(1, Ordering::SeqCst) + 1;
        if self.plan.on == On::Flush && n == self.plan.k {
            self.plan.fired.store(true, Ordering::SeqCst);
            match self.plan.action {
                Action::Fail => return Err(self.plan.injected(&*self.inner)),
                Action::Kill => std::process::exit(KILLED),
            }
        }
        self.inner.flush()
    }

    fn is_writable(&self) -> bool {
        self.inner.is_writable()
    }

    fn name(&self) -> String {
        self.inner.name()
    }
}

/// A digest of a file's content that reads only its data (holes skipped by `SEEK_DATA`):
/// the length and every non-zero 4 KiB block with its offset, so two files with the same
/// bytes agree however their holes lie.
pub fn content_digest(p: &std::path::Path) -> String {
    use sha2::{Digest, Sha256};
    use std::os::unix::fs::FileExt;
    use std::os::unix::io::AsRawFd;
    let f = std::fs::File::open(p).unwrap();
    let len = f.metadata().unwrap().len();
    let mut h = Sha256::new();
    h.update(len.to_le_bytes());
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    while pos < len {
        // SAFETY: lseek on an open descriptor; no memory is passed.
        let data = unsafe { libc::lseek(f.as_raw_fd(), pos as libc::off_t, libc::SEEK_DATA) };
        if data < 0 {
            break; // ENXIO: only a hole is left
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(f.as_raw_fd(), data, libc::SEEK_HOLE) } as u64;
        let mut at = data as u64 & !4095;
        while at < hole.min(len) {
            let n = (hole.min(len) - at).min(buf.len() as u64) as usize;
            f.read_exact_at(&mut buf[..n], at).unwrap();
            for (i, b) in buf[..n].chunks(4096).enumerate() {
                if b.iter().any(|&x| x != 0) {
                    h.update((at + i as u64 * 4096).to_le_bytes());
                    h.update(b);
                }
            }
            at += n as u64;
        }
        pos = hole.max(pos + 1);
    }
    format!("{:x}", h.finalize())
}

/// How the commits of one vresize-in-place request ended when each write, then each flush,
/// failed in turn: [`commit_outcomes`] with `vguestfs::resize::inplace::run` as the work.
pub fn vresize_commit_outcomes(grown: &std::path::Path, img: &std::path::Path, req: &vguestfs::resize::inplace::Request) -> (u32, u32) {
    commit_outcomes(grown, img, &|dev| vguestfs::resize::inplace::run(dev, req).map(|_| ()).map_err(|e| e.to_string()), &content_digest)
}

/// How the commits of `work` (done on the whole raw image through the copy-on-write overlay,
/// then committed) ended when each write, then each flush, failed in turn: (ended old, ended
/// new). `base` is the raw image to start from; `img` is where each attempt runs (a fresh copy
/// of `base`). Every failed attempt must leave, once the next writable open has settled the
/// redo log, the old image or the image an uninterrupted run makes (which is left at `img`
/// for the caller to judge), as `summary` tells images apart ([`content_digest`]: byte for
/// byte; work that stamps times needs a summary that judges what matters). Panics otherwise.
pub fn commit_outcomes(
    base: &std::path::Path,
    img: &std::path::Path,
    work: &dyn Fn(&Dev) -> std::result::Result<(), String>,
    summary: &dyn Fn(&std::path::Path) -> String,
) -> (u32, u32) {
    use vguestfs::disk::{open_image, open_session_image, Format, ImageLock, Overlay, OverlayOptions, RedoTarget};
    let old = summary(base);
    let attempt = |plan: &Arc<Plan>| -> std::result::Result<(), String> {
        super::run("cp", &["--sparse=always", base.to_str().unwrap(), img.to_str().unwrap()]);
        let lock = ImageLock::acquire(img).map_err(|e| e.to_string())?;
        let raw = open_image(img, Some(Format::Raw), true).map_err(|e| e.to_string())?;
        let target = RedoTarget::beside(img, Format::Raw, raw.len()).map_err(|e| e.to_string())?;
        let p = plan.clone();
        let ov = Arc::new(Overlay::new(plan.wrap(raw), target, OverlayOptions::default()).with_lock(lock).with_log_wrapper(Arc::new(move |d| p.wrap(d))));
        let dev: Dev = ov.clone();
        work(&dev)?;
        ov.commit().map(|_| ()).map_err(|e| e.to_string())
    };
    let clean = Plan::new(On::Write, u64::MAX, Action::Fail);
    attempt(&clean).unwrap();
    let new = summary(img);
    assert_ne!(new, old);
    let (writes, flushes) = clean.counts();
    let mut outcomes = (0, 0);
    for (on, total) in [(On::Write, writes), (On::Flush, flushes)] {
        for k in 1..=total {
            let plan = Plan::new(on, k, Action::Fail);
            assert!(attempt(&plan).is_err() && plan.fired(), "{on:?} {k}");
            drop(open_session_image(img, Some(Format::Raw), true, &OverlayOptions::default()).unwrap());
            let sum = summary(img);
            assert!(sum == old || sum == new, "{on:?} {k}: neither the old nor the new guest");
            if sum == old { outcomes.0 += 1 } else { outcomes.1 += 1 }
        }
    }
    eprintln!("{writes} writes, {flushes} flushes per commit; crashes ended {} old, {} new", outcomes.0, outcomes.1);
    attempt(&clean).unwrap();
    outcomes
}
