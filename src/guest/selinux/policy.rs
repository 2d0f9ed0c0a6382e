//! The guest's SELinux configuration and policy files: `/etc/selinux/config`, then the
//! `file_contexts` parts of the configured policy type, read with a size cap.

use super::super::path::{resolve, Mount};
use super::file_contexts::FileContexts;
use crate::fs::{Errno, FileType};
use std::sync::Arc;

/// The extended attribute holding a file's SELinux context.
pub const XATTR: &str = "security.selinux";
/// Cap on each policy text file read from the guest (RHEL 9 targeted's `file_contexts` is about
/// 400 KiB).
pub const POLICY_FILE_MAX: u64 = 32 << 20;

/// `SELINUX=` of `/etc/selinux/config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `enforcing`.
    Enforcing,
    /// `permissive`.
    Permissive,
    /// `disabled` (or no config).
    Disabled,
}

/// What `/etc/selinux/config` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `SELINUX=`.
    pub mode: Mode,
    /// `SELINUXTYPE=` (`targeted`, `mls`, `minimum`…), `targeted` when unset as in libselinux.
    pub policy_type: String,
}

/// Parses `/etc/selinux/config` (shell-like `KEY=value`, the last assignment wins). An
/// unknown `SELINUX=` value counts as enabled (the kernel's default is enforcing).
pub fn parse_config(text: &str) -> Config {
    let mut mode = None;
    let mut policy_type = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
        match k.trim() {
            "SELINUX" => mode = Some(v),
            "SELINUXTYPE" => policy_type = Some(v),
            _ => {}
        }
    }
    let mode = match mode.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("disabled") => Mode::Disabled,
        Some("permissive") => Mode::Permissive,
        Some(_) => Mode::Enforcing,
    };
    Config { mode, policy_type: policy_type.filter(|t| !t.is_empty()).unwrap_or_else(|| "targeted".into()) }
}

/// The guest policy as loaded for labelling.
#[derive(Clone)]
pub enum Policy {
    /// No SELinux (no config, `SELINUX=disabled`, nothing mounted on `/`).
    Off,
    /// The file contexts of the guest's policy.
    On(Arc<FileContexts>),
    /// SELinux is on but its file contexts cannot be used (the reason).
    Unreadable(String),
}

/// The per-session state: which root filesystem the policy was loaded from, and the paths
/// that need a relabel.
#[derive(Default)]
pub struct State {
    /// The policy and the root filesystem (its `Arc` address) it was read from.
    pub(in crate::guest) loaded: Option<(usize, Policy)>,
    /// Paths created whose label could not be decided, with the reason.
    pub(in crate::guest) relabel: Vec<(String, String)>,
}

/// Reads a regular file of the guest, at most `max` bytes: `Ok(None)` when missing.
fn read_capped(mounts: &[Mount], path: &str, max: u64) -> Result<Option<Vec<u8>>, String> {
    let r = match resolve(mounts, path, true) {
        Ok(r) => r,
        Err(super::super::Error::Path { errno: Errno::NoEntry, .. }) => return Ok(None),
        Err(e) => return Err(format!("{path}: {e}")),
    };
    let fs = &mounts[r.mount].fs;
    let st = fs.stat(r.ino).map_err(|e| format!("{path}: {e}"))?;
    if st.file_type() != Some(FileType::Regular) {
        return Err(format!("{path}: not a regular file"));
    }
    if st.size > max {
        return Err(format!("{path}: {} bytes, more than the {max} read", st.size));
    }
    let mut out = vec![0u8; st.size as usize];
    let mut got = 0;
    while got < out.len() {
        match fs.read(r.ino, got as u64, &mut out[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(format!("{path}: {e}")),
        }
    }
    out.truncate(got);
    Ok(Some(out))
}

/// Loads the policy of the guest whose root is `mounts` (warnings go to `warn`).
pub fn load_policy(mounts: &[Mount], warn: &mut dyn FnMut(String)) -> Policy {
    if !mounts.iter().any(|m| m.mountpoint == "/") {
        return Policy::Off;
    }
    let config = match read_capped(mounts, "/etc/selinux/config", 1 << 20) {
        Ok(None) => return Policy::Off,
        Ok(Some(t)) => parse_config(&String::from_utf8_lossy(&t)),
        Err(e) => return Policy::Unreadable(e),
    };
    if config.mode == Mode::Disabled {
        return Policy::Off;
    }
    let t = &config.policy_type;
    if t.contains('/') || t == "." || t == ".." {
        return Policy::Unreadable(format!("/etc/selinux/config: SELINUXTYPE={t} is not a policy name"));
    }
    let base = format!("/etc/selinux/{t}/contexts/files/file_contexts");
    let mut fc = FileContexts::new();
    match read_capped(mounts, &base, POLICY_FILE_MAX) {
        Ok(Some(text)) => fc.add_specs(&base, &text),
        Ok(None) => return Policy::Unreadable(format!("{base}: missing")),
        Err(e) => return Policy::Unreadable(e),
    }
    for part in ["homedirs", "local"] {
        let p = format!("{base}.{part}");
        match read_capped(mounts, &p, POLICY_FILE_MAX) {
            Ok(Some(text)) => fc.add_specs(&p, &text),
            Ok(None) => {}
            Err(e) => return Policy::Unreadable(e),
        }
    }
    for (part, dist) in [("subs", false), ("subs_dist", true)] {
        let p = format!("{base}.{part}");
        match read_capped(mounts, &p, POLICY_FILE_MAX) {
            Ok(Some(text)) => fc.set_subs(&text, dist),
            Ok(None) => {}
            Err(e) => return Policy::Unreadable(e),
        }
    }
    if fc.is_empty() {
        return Policy::Unreadable(format!("{base}: no specs"));
    }
    fc.prepare();
    for w in fc.warnings() {
        warn(format!("SELinux policy: {w}"));
    }
    Policy::On(Arc::new(fc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config() {
        let c = parse_config("# x\nSELINUX=enforcing\nSELINUXTYPE=targeted\n");
        assert_eq!(c, Config { mode: Mode::Enforcing, policy_type: "targeted".into() });
        assert_eq!(parse_config("SELINUX=permissive\nSELINUXTYPE=mls\nSELINUX=disabled\n").mode, Mode::Disabled);
        assert_eq!(parse_config("SELINUX=\"permissive\"").policy_type, "targeted");
        assert_eq!(parse_config("").mode, Mode::Disabled);
    }
}
