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
