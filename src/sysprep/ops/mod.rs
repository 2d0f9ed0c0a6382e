//! The operations: [`files`] holds virt-sysprep's file-removing ones (most are a list of
//! globs), [`net`] the network-identity ones, [`users`] `user-account`, [`openstack`] the
//! OpenStack readiness ones, [`firstboot`] the firstboot service `customize` installs.

pub mod files;
pub mod net;
pub mod openstack;
pub mod users;

use super::facts::rh_family;
use super::{Ctx, Operation};
use crate::Guest;

/// Which guests an operation applies to (virt-sysprep's per-operation checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    /// Every guest.
    Any,
    /// Linux guests.
    Linux,
    /// The Red Hat family (Fedora, RHEL, CentOS, Rocky, Alma, Oracle, Scientific).
    RhFamily,
    /// RHEL itself.
    Rhel,
    /// Guests whose packages are RPMs.
    Rpm,
    /// Guests managed by yum.
    Yum,
}

impl Only {
    /// Whether the guest of `cx` qualifies.
    pub fn applies(self, cx: &Ctx) -> bool {
        match self {
            Only::Any => true,
            Only::Linux => cx.is_linux(),
            Only::RhFamily => cx.is_linux() && rh_family(&cx.os.distro),
            Only::Rhel => cx.is_linux() && cx.os.distro == "rhel",
            Only::Rpm => cx.is_rpm(),
            Only::Yum => cx.os.package_management == "yum",
        }
    }
}

/// What an operation does.
#[derive(Clone, Copy)]
pub enum Work {
    /// Applies an action to what shell globs match (most of virt-sysprep's operations).
    Globs(&'static [&'static str], super::edit::Action),
    /// Runs a function.
    Fn(fn(&Guest, &Ctx) -> crate::sysprep::Result<()>),
}

/// An operation of the list.
pub struct FnOp {
    /// Name.
    pub name: &'static str,
    /// `--list-operations` text.
    pub description: &'static str,
    /// Default on.
    pub default_on: bool,
    /// Which guests.
    pub only: Only,
    /// The work.
    pub apply: Work,
}

impl Operation for FnOp {
    fn name(&self) -> &'static str {
        self.name
    }
    fn description(&self) -> &'static str {
        self.description
    }
    fn default_on(&self) -> bool {
        self.default_on
    }
    fn apply(&self, g: &Guest, cx: &Ctx) -> crate::sysprep::Result<()> {
        if !self.only.applies(cx) {
            return Ok(());
        }
        match self.apply {
            Work::Globs(globs, action) => super::edit::apply_globs(g, globs, action),
            Work::Fn(f) => f(g, cx),
        }
    }
}

/// Every operation (unsorted).
pub fn all() -> Vec<&'static dyn Operation> {
    let mut v: Vec<&'static dyn Operation> = Vec::new();
    v.extend(files::GLOB_OPS.iter().map(|o| o as &dyn Operation));
    v.extend(files::FN_OPS.iter().map(|o| o as &dyn Operation));
    v.extend(net::OPS.iter().map(|o| o as &dyn Operation));
    v.extend(openstack::OPS.iter().map(|o| o as &dyn Operation));
    v.push(&users::USER_ACCOUNT);
    v.push(&CUSTOMIZE);
    v
}

/// `customize`: the customize options, in command-line order (see [`super::customize`]).
/// Runs after every other operation, as virt-sysprep orders it.
pub static CUSTOMIZE: FnOp = FnOp {
    name: "customize",
    description: "Customize the guest",
    default_on: true,
    only: Only::Any,
    apply: Work::Fn(|g, cx| super::customize::apply(g, cx, &cx.opts.customize)),
};
