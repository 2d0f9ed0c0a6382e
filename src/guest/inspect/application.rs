//! The installed-application record every package database reader fills (libguestfs
//! `application2`).

use serde::Serialize;

/// An installed application (libguestfs `application2`: the fields Linux package managers and
/// the Windows Uninstall keys fill).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Application {
    /// Package name (on Windows, the name of its Uninstall key).
    pub name: String,
    /// Windows `DisplayName`, or empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// Epoch (0 when none).
    pub epoch: i32,
    /// Upstream version.
    pub version: String,
    /// Distribution release (the part after the first `-` of the version, as libguestfs
    /// splits it; apk's leading `r` dropped), or empty.
    pub release: String,
    /// Package architecture (`amd64`, `x86_64`, `all`, `any`…), or empty.
    pub arch: String,
    /// Windows `InstallLocation`, or empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub install_path: String,
    /// Windows `Publisher`, or empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub publisher: String,
    /// Upstream URL, or empty.
    pub url: String,
    /// Source package, or empty.
    pub source_package: String,
    /// One-line summary, or empty.
    pub summary: String,
    /// Longer description, or empty.
    pub description: String,
}
