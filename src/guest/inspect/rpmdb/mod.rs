//! Installed packages from an rpm database, read in pure Rust: `rpmdb.sqlite` (rpm ≥ 4.16:
//! Fedora ≥ 33, EL9) through a minimal SQLite reader, or the Berkeley DB hash `Packages` file
//! (EL5–EL8) through a minimal hash reader; each header blob then gives the fields libguestfs'
//! librpm code takes (daemon/rpm-c.c). A damaged database gives what could be read and
//! warnings naming the file and the structure that is wrong.
//!
//! One file per on-disk structure: `header.rs` (the header blob), `sqlite/` (file header,
//! b-tree pages, records), `bdb/` (meta page, hash and overflow pages).

pub mod bdb;
pub mod error;
pub mod header;
pub mod sqlite;

pub use error::Error;

use super::application::Application;
use super::view::{View, DB_FILE_MAX};

/// Database formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `rpmdb.sqlite`.
    Sqlite,
    /// Berkeley DB hash `Packages`.
    Bdb,
}

/// Where rpm keeps its database, in the order looked at (`/usr/lib/sysimage/rpm` is Fedora
/// ≥ 36's, often with `/var/lib/rpm` a symlink to it).
pub const PATHS: [(&str, Backend); 4] = [
    ("/var/lib/rpm/rpmdb.sqlite", Backend::Sqlite),
    ("/usr/lib/sysimage/rpm/rpmdb.sqlite", Backend::Sqlite),
    ("/var/lib/rpm/Packages", Backend::Bdb),
    ("/usr/lib/sysimage/rpm/Packages", Backend::Bdb),
];

/// Most headers read from one database (real systems have a few thousand).
pub const MAX_PACKAGES: usize = 100_000;
/// Most warnings kept; the rest are counted in a last one.
pub const MAX_WARNINGS: usize = 20;

/// Warnings, capped at [`MAX_WARNINGS`].
struct Warnings {
    list: Vec<String>,
    dropped: usize,
}

impl Warnings {
    fn push(&mut self, w: String) {
        if self.list.len() < MAX_WARNINGS {
            self.list.push(w);
        } else {
            self.dropped += 1;
        }
    }

    fn finish(mut self, path: &str) -> Vec<String> {
        if self.dropped > 0 {
            self.list.push(format!("{path}: {} more warnings not shown", self.dropped));
        }
        self.list
    }
}

/// The applications of the database `file` (the whole file) in `backend` format, with the
/// warnings about what could not be read; `path` names the file in the warnings. Sorted by
/// name as libguestfs sorts them (a stable sort of the reversed database order).
pub fn read(file: &[u8], backend: Backend, path: &str) -> (Vec<Application>, Vec<String>) {
    let mut apps = Vec::new();
    let mut w = Warnings { list: Vec::new(), dropped: 0 };
    let mut seen = 0usize;
    let mut add = |r: error::Record<'_, i64>, w: &mut Warnings| {
        seen += 1;
        if seen > MAX_PACKAGES {
            if seen == MAX_PACKAGES + 1 {
                w.push(format!("{path}: more than {MAX_PACKAGES} headers, the rest are not read"));
            }
            return;
        }
        match r.and_then(|(n, blob)| header::Header::parse(blob).map_err(|e| e.context(format_args!("header {n}")))) {
            Ok(h) => apps.push(h.application()),
            Err(e) => w.push(format!("{path}: {e}")),
        }
    };
    let ended = match backend {
        Backend::Sqlite => match sqlite::packages(file, &mut |r| add(r, &mut w)) {
            Ok(true) => Ok(()),
            Ok(false) => Err(error::sqlite("no Packages table")),
            Err(e) => Err(e),
        },
        Backend::Bdb => bdb::packages(file, &mut |r| add(r.map(|(k, b)| (i64::from(k), b)), &mut w)),
    };
    if let Err(e) = ended {
        w.push(format!("{path}: {e}"));
    }
    if apps.is_empty() && w.list.is_empty() {
        w.push(format!("{path}: the database holds no packages"));
    }
    apps.reverse();
    apps.sort_by(|a, b| a.name.cmp(&b.name));
    (apps, w.finish(path))
}

/// The applications of the rpm database of the root in `view` (the first of [`PATHS`] found),
/// with warnings about what could not be read (a damaged database gives what could be read);
/// a missing database is an [`super::Error::NoDatabase`].
pub fn list(view: &View) -> Result<(Vec<Application>, Vec<String>), super::Error> {
    for (path, backend) in PATHS {
        let Some(file) = view.read_capped(path, DB_FILE_MAX)? else {
            continue;
        };
        let (apps, mut warnings) = read(&file, backend, path);
        if backend == Backend::Sqlite {
            let wal = format!("{path}-wal");
            if view.head(&wal, 1).is_some_and(|b| !b.is_empty()) {
                warnings.push(format!(
                    "{wal}: write-ahead log not replayed: packages installed or removed since the last checkpoint may be missing or still listed"
                ));
            }
        }
        return Ok((apps, warnings));
    }
    Err(super::Error::NoDatabase("/var/lib/rpm".into()))
}
