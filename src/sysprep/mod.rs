//! virt-sysprep's operations on a guest: each [`Operation`] removes, empties or edits the
//! files that make an image one machine's (logs, keys, leases, accounts, machine ids…), or
//! prepares it for OpenStack (`acpiphp`, `cloud-init`, `serial-console`…). Every change goes
//! through the guest's write methods, so it is recorded per guest path: [`run`] returns, per
//! operation, exactly the changes made — the `--dry-run` and `--json` report.
//!
//! Operations only change what needs changing (a file already empty is not emptied again), so
//! a second run finds nothing to do.

pub mod audit;
pub mod crypt;
pub mod customize;
mod edit;
mod facts;
pub mod firstboot;
pub mod ops;

use crate::guest::inspect::OsInfo;
use crate::guest::PathChange;
use crate::Guest;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeSet;

pub use customize::{Customize, CustomizeAction, PasswordSelector};

/// Errors of the sysprep layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--operations` / `--enable` named an operation that does not exist.
    #[error("--operations: '{0}' is not a known operation (see --list-operations)")]
    UnknownOperation(String),
    /// A customize option's value is malformed.
    #[error("{option}: {msg}")]
    BadOption {
        /// The option, as on the command line (`--chmod`).
        option: &'static str,
        /// What is wrong with its value.
        msg: String,
    },
    /// A guest file has content the operation cannot safely edit.
    #[error("{path}: {msg}")]
    GuestFile {
        /// The guest path.
        path: String,
        /// What is wrong.
        msg: String,
    },
    /// Reading a host file named by an option failed.
    #[error("{path}: {msg}")]
    Host {
        /// The host path.
        path: String,
        /// The OS error.
        msg: String,
    },
    /// Something the guest asks for that vguestfs cannot do without running the guest.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// Reading or writing the guest failed.
    #[error(transparent)]
    Guest(#[from] crate::guest::Error),
    /// Inspecting the guest failed.
    #[error(transparent)]
    Inspect(#[from] crate::guest::inspect::Error),
}

/// Result of sysprep operations.
pub type Result<T> = std::result::Result<T, Error>;

/// A message from an operation for the user; the tool decides how to show it (`-q` hides
/// progress lines only, as virt-sysprep's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'m> {
    /// A progress line (`Setting the hostname: web01`).
    Progress(&'m str),
    /// Information that is always shown (`Setting random password of root to …`).
    Info(&'m str),
    /// A warning (also listed in the report).
    Warning(&'m str),
}

/// What the operations are run with: the inspected OS, the user's options, and where
/// messages go.
pub struct Ctx<'a> {
    /// Inspection of the guest's root.
    pub os: OsInfo,
    /// Options of the operations (`--keep-user-accounts`, `--hostname`…).
    pub opts: &'a Options,
    out: &'a dyn Fn(Message),
    warnings: RefCell<Vec<String>>,
}

impl<'a> Ctx<'a> {
    /// A context for the OS `os`; messages go to `out`.
    pub fn new(os: OsInfo, opts: &'a Options, out: &'a dyn Fn(Message)) -> Ctx<'a> {
        Ctx { os, opts, out, warnings: RefCell::new(Vec::new()) }
    }

    /// A progress message.
    pub fn progress(&self, msg: &str) {
        (self.out)(Message::Progress(msg));
    }

    /// A message always shown.
    pub fn info(&self, msg: &str) {
        (self.out)(Message::Info(msg));
    }

    /// A warning for the user (shown, and listed in the report).
    pub fn warn(&self, msg: impl Into<String>) {
        let msg = msg.into();
        (self.out)(Message::Warning(&msg));
        self.warnings.borrow_mut().push(msg);
    }

    fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut self.warnings.borrow_mut())
    }

    /// Whether the guest is of the RHEL family (package format rpm).
    pub fn is_rpm(&self) -> bool {
        self.os.package_format == "rpm"
    }

    /// Whether the guest is of the Debian family.
    pub fn is_deb(&self) -> bool {
        self.os.package_format == "deb"
    }

    /// Whether the guest is Linux.
    pub fn is_linux(&self) -> bool {
        self.os.os_type == "linux"
    }
}

/// The options the operations read.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--keep-user-accounts`: user names or `@GLOB`s kept by `user-account`.
    pub keep_users: Vec<String>,
    /// `--remove-user-accounts`: only these are removed by `user-account`.
    pub remove_users: Vec<String>,
    /// `--cloud-init-user`: the default user the `cloud-init` drop-in names.
    pub cloud_init_user: Option<String>,
    /// The customize options, in command-line order (the `customize` operation).
    pub customize: Customize,
    /// Whether `customize` flags an SELinux guest it changed for relabelling at boot (off with
    /// `--no-selinux-relabel`).
    pub selinux_relabel: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { keep_users: Vec::new(), remove_users: Vec::new(), cloud_init_user: None, customize: Customize::default(), selinux_relabel: true }
    }
}

/// One operation of virt-sysprep's list.
pub trait Operation: Sync {
    /// The name (`--operations`, `--list-operations`).
    fn name(&self) -> &'static str;
    /// The one-line description `--list-operations` prints.
    fn description(&self) -> &'static str;
    /// Whether it runs when no `--operations` are given.
    fn default_on(&self) -> bool;
    /// Does the operation's work on `g` (mounted read-write at the guest's mountpoints).
    fn apply(&self, g: &Guest, cx: &Ctx) -> Result<()>;
}

/// Every operation, sorted by name (the order `--list-operations` shows them in).
pub fn operations() -> Vec<&'static dyn Operation> {
    let mut all = ops::all();
    all.sort_by_key(|o| o.name());
    all
}

/// The `--list-operations` text: `name * description` for the default ones, `name   description` for the rest.
pub fn list_operations() -> String {
    operations()
        .iter()
        .map(|o| format!("{} {} {}\n", o.name(), if o.default_on() { "*" } else { " " }, o.description()))
        .collect()
}

/// The set of operations to run, built from `--operations`/`--enable` lists as virt-sysprep
/// reads them: without any list, the default ones; each list adds names, `defaults` or `all`,
/// and removes `-name`s.
#[derive(Debug, Clone)]
pub struct Selection(BTreeSet<&'static str>);

impl Selection {
    /// The default operations.
    pub fn defaults() -> Selection {
        Selection(operations().iter().filter(|o| o.default_on()).map(|o| o.name()).collect())
    }

    /// The selection of the `--operations` lists given (defaults when there are none).
    pub fn from_lists<S: AsRef<str>>(lists: &[S]) -> Result<Selection> {
        if lists.is_empty() {
            return Ok(Selection::defaults());
        }
        let all = operations();
        let mut set = BTreeSet::new();
        for list in lists {
            for item in list.as_ref().split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (remove, name) = match item.strip_prefix('-') {
                    Some(n) => (true, n),
                    None => (false, item),
                };
                let names: Vec<&'static str> = match name {
                    "defaults" => all.iter().filter(|o| o.default_on()).map(|o| o.name()).collect(),
                    "all" => all.iter().map(|o| o.name()).collect(),
                    n => vec![all.iter().find(|o| o.name() == n).ok_or_else(|| Error::UnknownOperation(n.to_string()))?.name()],
                };
                for n in names {
                    if remove {
                        set.remove(n);
                    } else {
                        set.insert(n);
                    }
                }
            }
        }
        Ok(Selection(set))
    }

    /// Adds an operation by name (options like `--hostname` imply `customize`).
    pub fn insert(&mut self, name: &'static str) {
        self.0.insert(name);
    }

    /// Whether `name` is selected.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

/// What one operation did.
#[derive(Debug, Clone, Serialize)]
pub struct OpReport {
    /// The operation's name.
    pub name: &'static str,
    /// Every change, in order: the write method (guestfish's command name) and the guest path.
    pub changes: Vec<Change>,
    /// Warnings the operation gave.
    pub warnings: Vec<String>,
}

/// One change in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `rm`, `rm-rf`, `write`, `truncate`, `mkdir`, `ln-sf`, `chmod`…
    pub action: &'static str,
    /// The guest path.
    pub path: String,
}

impl From<PathChange> for Change {
    fn from(c: PathChange) -> Change {
        Change { action: c.op, path: c.path }
    }
}

/// The selected operations in the order they run: by name, `customize` last (virt-sysprep
/// gives it a later order than the rest).
pub fn run_order(selection: &Selection) -> Vec<&'static dyn Operation> {
    let mut ops: Vec<_> = operations().into_iter().filter(|o| selection.contains(o.name())).collect();
    ops.sort_by_key(|o| (o.name() == "customize", o.name()));
    ops
}

/// Runs one operation on `g`; returns what it changed.
pub fn run_op(g: &Guest, cx: &Ctx, op: &dyn Operation) -> Result<OpReport> {
    let before = g.path_changes().len();
    op.apply(g, cx)?;
    let changes = g.path_changes().into_iter().skip(before).map(Change::from).collect();
    Ok(OpReport { name: op.name(), changes, warnings: cx.take_warnings() })
}

/// Runs the selected operations on `g` in [`run_order`]; returns what each one changed.
/// Stops at the first operation that fails.
pub fn run(g: &Guest, cx: &Ctx, selection: &Selection) -> Result<Vec<OpReport>> {
    run_order(selection).into_iter().map(|op| run_op(g, cx, op)).collect()
}
