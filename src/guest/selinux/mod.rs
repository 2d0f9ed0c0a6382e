//! SELinux labels for the files vguestfs creates. On a guest whose `/etc/selinux/config` says
//! `SELINUX=enforcing` or `permissive`, every inode the write methods create gets the
//! `security.selinux` the guest's own policy gives its path (`file_contexts` and its `.homedirs`,
//! `.local`, `.subs`, `.subs_dist` parts, matched as `setfiles`/`restorecon` match them: see
//! [`file_contexts`]). Files changed in place keep their label, as the kernel keeps it.
//!
//! The policy is loaded once per root filesystem, on the first create. When the guest has
//! SELinux but the policy cannot be read, or a path cannot be decided (a spec the regex engine
//! cannot compile, no spec at all), the path is recorded: [`Guest::selinux_relabel_needed`]
//! tells vsysprep to create `/.autorelabel`, as virt-sysprep does, and the session warns.
//! A `<<none>>` path gets its parent directory's label (the kernel's default for a new inode
//! with no type transition).

pub mod file_contexts;
pub mod policy;

use super::Guest;
use crate::fs::{Errno, Ino};
use file_contexts::Lookup;
pub use file_contexts::S_IFMT;
pub use policy::{Policy, XATTR};
use policy::load_policy;
use std::sync::Arc;

impl Guest {
    /// The SELinux policy of the guest mounted at `/`, loaded on first use (and again when
    /// another filesystem is mounted at `/`).
    pub fn selinux_policy(&self) -> Policy {
        let root = self.mounts.iter().rposition(|m| m.mountpoint == "/").map(|i| Arc::as_ptr(&self.mounts[i].fs) as *const () as usize);
        let Some(root) = root else { return Policy::Off };
        let mut st = self.selinux.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((r, p)) = &st.loaded {
            if *r == root {
                return p.clone();
            }
        }
        let mut warnings = Vec::new();
        let p = load_policy(&self.mounts, &mut |w| warnings.push(w));
        st.loaded = Some((root, p.clone()));
        drop(st);
        for w in warnings {
            self.note_warning(w);
        }
        p
    }

    /// Drops the loaded policy: the mount table changed, the next create reads it again from
    /// whatever is then mounted at `/`.
    pub(super) fn forget_selinux_policy(&self) {
        self.selinux.lock().unwrap_or_else(|p| p.into_inner()).loaded = None;
    }

    /// What the guest's policy says for `path` of type `mode` (S_IFMT bits; 0: any type) —
    /// `matchpathcon`. `None` when the guest has no SELinux.
    pub fn selinux_lookup(&self, path: &str, mode: u32) -> Option<Result<Lookup, String>> {
        match self.selinux_policy() {
            Policy::Off => None,
            Policy::Unreadable(e) => Some(Err(e)),
            Policy::On(fc) => Some(Ok(fc.lookup_sorted(path.as_bytes(), mode))),
        }
    }

    /// Paths created in this session whose label could not be decided, with the reason: the
    /// guest needs a relabel (`/.autorelabel`) at its next boot.
    pub fn selinux_relabel_needed(&self) -> Vec<(String, String)> {
        self.selinux.lock().unwrap_or_else(|p| p.into_inner()).relabel.clone()
    }

    fn note_relabel(&self, path: &str, why: String) {
        self.note_warning(format!("SELinux: cannot decide the label of {path} ({why}); the guest needs a relabel (/.autorelabel)"));
        self.selinux.lock().unwrap_or_else(|p| p.into_inner()).relabel.push((path.to_string(), why));
    }

    /// Labels the inode `ino` just created at the canonical guest path `path` on mount `m`, in
    /// directory `dir`, of type `kind` (S_IFMT bits), as `restorecon` would. Never fails the
    /// write: what cannot be labelled is recorded for a relabel.
    pub(super) fn label_created(&self, m: usize, dir: Ino, ino: Ino, path: &str, kind: u32) {
        let fs = &self.mounts[m].fs;
        let context = match self.selinux_policy() {
            Policy::Off => return,
            Policy::Unreadable(why) => return self.note_relabel(path, why),
            Policy::On(fc) => match fc.lookup_sorted(path.as_bytes(), kind) {
                Lookup::Label(c) => {
                    let mut v = c.into_bytes();
                    v.push(0); // stored NUL-terminated, as setfiles and the kernel do
                    v
                }
                Lookup::None => {
                    // not labelled by setfiles; a new inode gets its directory's context
                    match fs.xattrs(dir).ok().and_then(|x| x.into_iter().find(|(n, _)| n == XATTR.as_bytes())) {
                        Some((_, v)) => v,
                        None => return,
                    }
                }
                Lookup::NoMatch => return self.note_relabel(path, "no file context matches it".into()),
                Lookup::Undecided(why) => return self.note_relabel(path, why),
            },
        };
        match fs.setxattr(ino, XATTR.as_bytes(), &context) {
            Ok(()) => {}
            // FAT and the like take their label from the mount, not the file
            Err(crate::fs::Error::Os(Errno::NotSupported)) => {}
            Err(e) => self.note_relabel(path, format!("setting {XATTR}: {e}")),
        }
    }
}

