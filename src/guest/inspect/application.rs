//! The installed-application record every package database reader fills (libguestfs
//! `application2`).

use serde::Serialize;

/// An installed application (libguestfs `application2`, the fields Linux package managers fill).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Application {
    /// Package name.
    pub name: String,
    /// Epoch (0 when none).
    pub epoch: i32,
    /// Upstream version.
    pub version: String,
    /// Distribution release (the part after the first `-` of the version, as libguestfs
    /// splits it; apk's leading `r` dropped), or empty.
    pub release: String,
    /// Package architecture (`amd64`, `x86_64`, `all`, `any`…), or empty.
    pub arch: String,
    /// Upstream URL, or empty.
    pub url: String,
    /// Source package, or empty.
    pub source_package: String,
    /// One-line summary, or empty.
    pub summary: String,
    /// Longer description, or empty.
    pub description: String,
}
