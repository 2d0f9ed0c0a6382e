//! The `customize` operation: virt-customize's file-level options, applied in command-line
//! order (`--hostname`, `--timezone`, `--write`, `--append-line`, `--mkdir`, `--chmod`,
//! `--upload`, `--link`, `--delete`, `--touch`, `--truncate`, `--ssh-inject`, `--firstboot`,
//! `--firstboot-command`), then the passwords (`--root-password`, `--password`), as
//! virt-customize sets them last. Options that need to run programs inside the guest
//! (`--run`, `--install`…) are refused by the tool: there is no appliance to run them in.

use super::edit::{self, append_line, read_text, set_var_in_file, write_if_changed};
use super::{crypt, Ctx, Error};
use crate::Guest;
use crate::sysprep::Result;
use std::path::{Path, PathBuf};

/// How a password is chosen (virt-customize's selectors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSelector {
    /// `password:PASSWORD`.
    Password(String),
    /// `file:FILENAME`: the first line of a host file.
    File(PathBuf),
    /// `random`: 16 random letters and digits, printed.
    Random,
    /// `disabled`: no password login (`*`).
    Disabled,
    /// `locked:SELECTOR` (or `locked` alone: `locked:disabled`): `!` before the hash.
    Locked(Box<PasswordSelector>),
}

impl PasswordSelector {
    /// Parses a selector as virt-customize does.
    pub fn parse(option: &'static str, s: &str) -> std::result::Result<PasswordSelector, Error> {
        let bad = |msg: String| Error::BadOption { option, msg };
        Ok(match s.split_once(':') {
            Some(("password", p)) => PasswordSelector::Password(p.to_string()),
            Some(("file", f)) if !f.is_empty() => PasswordSelector::File(host_file(option, f)?),
            Some(("locked", rest)) => PasswordSelector::Locked(Box::new(PasswordSelector::parse(option, rest)?)),
            None if s == "random" => PasswordSelector::Random,
            None if s == "disabled" => PasswordSelector::Disabled,
            None if s == "locked" => PasswordSelector::Locked(Box::new(PasswordSelector::Disabled)),
            _ => return Err(bad(format!("invalid password selector '{s}': use password:PASS, file:FILENAME, random, disabled or locked:SELECTOR"))),
        })
    }
}

/// Where an injected SSH key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `USER` alone: the newest `~/.ssh/id_*.pub` of the user running the tool.
    Default,
    /// `USER:file:FILENAME`.
    File(PathBuf),
    /// `USER:string:KEY`.
    String(String),
}

/// One customize option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomizeAction {
    /// `--hostname HOSTNAME`.
    Hostname(String),
    /// `--timezone TIMEZONE`.
    Timezone(String),
    /// `--write FILE:CONTENT`.
    Write { path: String, content: String },
    /// `--append-line FILE:LINE`.
    AppendLine { path: String, line: String },
    /// `--mkdir DIR` (with parents).
    Mkdir(String),
    /// `--chmod PERMISSIONS:FILE` (octal).
    Chmod { mode: u32, path: String },
    /// `--upload FILE:DEST` (a host file into the guest; DEST may be a directory).
    Upload { src: PathBuf, dest: String },
    /// `--link TARGET:LINK[:LINK…]` (symbolic links, replacing what is there).
    Link { target: String, links: Vec<String> },
    /// `--delete PATH` (recursive; shell globs allowed).
    Delete(String),
    /// `--touch FILE`.
    Touch(String),
    /// `--truncate FILE`.
    Truncate(String),
    /// `--ssh-inject USER[:SELECTOR]`.
    SshInject { user: String, key: KeySource },
    /// `--firstboot SCRIPT` (a host file).
    Firstboot(PathBuf),
    /// `--firstboot-command 'CMD'`.
    FirstbootCommand(String),
    /// `--root-password SELECTOR` / `--password USER:SELECTOR` (applied after the rest).
    Password { user: String, selector: PasswordSelector },
}

/// The customize options, in command-line order.
#[derive(Debug, Clone, Default)]
pub struct Customize {
    /// The actions.
    pub actions: Vec<CustomizeAction>,
}

/// Splits `A:B` at the first colon, for options whose value is two fields.
fn split2<'a>(option: &'static str, value: &'a str, what: &str) -> std::result::Result<(&'a str, &'a str), Error> {
    value.split_once(':').ok_or_else(|| Error::BadOption { option, msg: format!("'{value}': expected {what}") })
}

/// A host name as RFC 1123 allows it: dot-separated labels of 1–63 letters, digits and
/// hyphens, not starting or ending with a hyphen; at most 253 bytes in all (a single name: at
/// most 63). It lands in shell-sourced files (`/etc/sysconfig/network`, `/etc/machine-info`),
/// so nothing else may pass.
fn check_hostname(name: &str) -> std::result::Result<(), String> {
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len()) && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') && !l.starts_with('-') && !l.ends_with('-')
    };
    if name.is_empty() || name.len() > 253 || !name.trim_end_matches('.').split('.').all(label_ok) {
        return Err(format!(
            "'{}': not a valid host name (RFC 1123: labels of 1-63 letters, digits and '-', not starting or ending with '-', separated by dots, 253 bytes at most)",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// A timezone name as tzdata names its files (`Europe/London`, `Etc/GMT+5`, `UTC`): letters,
/// digits and `/_+-.`, no `..` component, not absolute.
fn check_timezone(tz: &str) -> std::result::Result<(), String> {
    let ok = !tz.is_empty()
        && tz.len() <= 255
        && tz.bytes().all(|c| c.is_ascii_alphanumeric() || b"/_+-.".contains(&c))
        && !tz.starts_with('/')
        && !tz.split('/').any(|c| c == ".." || c == "." || c.is_empty());
    if ok {
        Ok(())
    } else {
        Err(format!("'{}': not a timezone name (use a location like 'Europe/London')", tz.escape_debug()))
    }
}

/// A user name as useradd accepts it (letters, digits, `._-`, a trailing `$`, not starting
/// with `-`): it selects lines of /etc/passwd and /etc/shadow, so `:` or a newline must not
/// pass.
fn check_user(user: &str) -> std::result::Result<(), String> {
    let body = user.strip_suffix('$').unwrap_or(user);
    let ok = !body.is_empty() && user.len() <= 32 && !body.starts_with('-') && body.bytes().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(format!("'{}': not a valid user name", user.escape_debug()))
    }
}

impl CustomizeAction {
    /// Parses one command-line option (`--hostname`…, without its value's shell quoting). Values
    /// that land in shell-sourced or line-based guest files are checked here, before any work.
    pub fn parse(option: &'static str, value: &str) -> std::result::Result<CustomizeAction, Error> {
        let bad = |msg: String| Error::BadOption { option, msg };
        Ok(match option {
            "--hostname" => {
                check_hostname(value).map_err(bad)?;
                CustomizeAction::Hostname(value.to_string())
            }
            "--timezone" => {
                check_timezone(value).map_err(bad)?;
                CustomizeAction::Timezone(value.to_string())
            }
            "--write" => {
                let (p, c) = split2(option, value, "FILE:CONTENT")?;
                CustomizeAction::Write { path: p.to_string(), content: c.to_string() }
            }
            "--append-line" => {
                let (p, l) = split2(option, value, "FILE:LINE")?;
                if l.contains(['\n', '\r']) {
                    return Err(bad("the line must not contain a newline (give one --append-line per line)".into()));
                }
                CustomizeAction::AppendLine { path: p.to_string(), line: l.to_string() }
            }
            "--mkdir" => CustomizeAction::Mkdir(value.to_string()),
            "--chmod" => {
                let (m, p) = split2(option, value, "PERMISSIONS:FILE")?;
                // virt-customize: octal with a leading 0, decimal otherwise
                let radix = if m.starts_with('0') { 8 } else { 10 };
                let mode = u32::from_str_radix(m, radix).ok().filter(|m| *m <= 0o7777).ok_or_else(|| bad(format!("'{m}': permissions must be a number, octal with a leading 0 (0755)")))?;
                CustomizeAction::Chmod { mode, path: p.to_string() }
            }
            "--upload" => {
                let (s, d) = split2(option, value, "FILE:DEST")?;
                CustomizeAction::Upload { src: host_file(option, s)?, dest: d.to_string() }
            }
            "--link" => {
                let (t, rest) = split2(option, value, "TARGET:LINK[:LINK…]")?;
                CustomizeAction::Link { target: t.to_string(), links: rest.split(':').map(str::to_string).collect() }
            }
            "--delete" => CustomizeAction::Delete(value.to_string()),
            "--touch" => CustomizeAction::Touch(value.to_string()),
            "--truncate" => CustomizeAction::Truncate(value.to_string()),
            "--ssh-inject" => {
                let (user, key) = match value.split_once(':') {
                    None => (value, KeySource::Default),
                    Some((u, sel)) => match sel.split_once(':') {
                        Some(("file", f)) => (u, KeySource::File(host_file(option, f)?)),
                        Some(("string", k)) => (u, KeySource::String(k.to_string())),
                        _ => return Err(bad(format!("'{sel}': expected file:FILENAME or string:KEY"))),
                    },
                };
                check_user(user).map_err(bad)?;
                CustomizeAction::SshInject { user: user.to_string(), key }
            }
            "--firstboot" => CustomizeAction::Firstboot(host_file(option, value)?),
            "--firstboot-command" => CustomizeAction::FirstbootCommand(value.to_string()),
            "--root-password" => CustomizeAction::Password { user: "root".into(), selector: PasswordSelector::parse(option, value)? },
            "--password" => {
                let (u, s) = split2(option, value, "USER:SELECTOR")?;
                check_user(u).map_err(bad)?;
                CustomizeAction::Password { user: u.to_string(), selector: PasswordSelector::parse(option, s)? }
            }
            other => return Err(Error::Unsupported(format!("{other}: not a customize option of vsysprep"))),
        })
    }
}

/// A host file an option names, checked to be a readable regular file before any work (the
/// option is named when it is not).
fn host_file(option: &'static str, f: &str) -> std::result::Result<PathBuf, Error> {
    let p = PathBuf::from(f);
    match std::fs::metadata(&p) {
        Ok(m) if m.is_file() => match std::fs::File::open(&p) {
            Ok(_) => Ok(p),
            Err(e) => Err(Error::BadOption { option, msg: format!("{f}: {e}") }),
        },
        Ok(_) => Err(Error::BadOption { option, msg: format!("{f}: not a regular file") }),
        Err(e) => Err(Error::BadOption { option, msg: format!("{f}: {e}") }),
    }
}

/// Reads a host file for an option.
fn host_read(path: &Path) -> std::result::Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::Host { path: path.display().to_string(), msg: e.to_string() })
}

/// Applies every action to the guest, in order, passwords last, with virt-customize's
/// progress messages (`Setting the hostname: …`). Files created get their SELinux label from
/// the guest's policy as they are made (what virt-customize's `setfiles` pass gives them); when
/// a label could not be decided (policy unreadable, a spec the regex engine cannot compile),
/// `/.autorelabel` asks for a relabel at the next boot and a warning in the report says why.
pub fn apply(g: &Guest, cx: &Ctx, c: &Customize) -> Result<()> {
    let say = |m: String| cx.progress(&m);
    let mut firstboot_n = 0usize;
    for a in &c.actions {
        match a {
            CustomizeAction::Hostname(h) => {
                say(format!("Setting the hostname: {h}"));
                if !set_hostname(g, cx, h)? {
                    cx.warn("hostname could not be set for this type of guest");
                }
            }
            CustomizeAction::Timezone(tz) => {
                say(format!("Setting the timezone: {tz}"));
                let target = format!("/usr/share/zoneinfo/{tz}");
                if tz.contains("..") || !edit::exists(g, &target)? {
                    return Err(Error::BadOption { option: "--timezone", msg: format!("timezone '{tz}' does not exist, use a location like 'Europe/London'") });
                }
                if g.readlink("/etc/localtime").ok().as_deref() != Some(target.as_bytes()) {
                    g.ln_s(&target, "/etc/localtime", true)?;
                }
            }
            CustomizeAction::Write { path, content } => {
                say(format!("Writing: {path}"));
                write_if_changed(g, path, content.as_bytes())?;
            }
            CustomizeAction::AppendLine { path, line } => {
                say(format!("Appending line to {path}"));
                append_line(g, path, line)?;
            }
            CustomizeAction::Mkdir(d) => {
                say(format!("Making directory: {d}"));
                if !edit::is_dir(g, d)? {
                    g.mkdir_p(d)?;
                }
            }
            CustomizeAction::Chmod { mode, path } => {
                say(format!("Changing permissions of {path} to {mode:o}"));
                if g.stat(path)?.mode & 0o7777 != *mode {
                    g.chmod(*mode, path)?;
                }
            }
            CustomizeAction::Upload { src, dest } => {
                say(format!("Uploading: {} to {dest}", src.display()));
                let data = host_read(src)?;
                let dest = if edit::is_dir(g, dest)? {
                    let name = src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    format!("{}/{name}", dest.trim_end_matches('/'))
                } else {
                    dest.clone()
                };
                write_if_changed(g, &dest, &data)?;
            }
            CustomizeAction::Link { target, links } => {
                for l in links {
                    say(format!("Linking: {l} -> {target}"));
                    if g.readlink(l).ok().as_deref() != Some(target.as_bytes()) {
                        g.ln_s(target, l, true)?;
                    }
                }
            }
            CustomizeAction::Delete(p) => {
                say(format!("Deleting: {p}"));
                for m in g.glob(p)? {
                    g.rm_rf(&m)?;
                }
            }
            CustomizeAction::Touch(p) => {
                say(format!("Running touch: {p}"));
                if !edit::exists(g, p)? {
                    g.touch(p)?;
                }
            }
            CustomizeAction::Truncate(p) => {
                say(format!("Truncating: {p}"));
                if edit::exists(g, p)? {
                    if g.stat(p)?.size > 0 {
                        g.truncate_size(p, 0)?;
                    }
                } else {
                    g.touch(p)?;
                }
            }
            CustomizeAction::SshInject { user, key } => {
                say(format!("SSH key inject: {user}"));
                ssh_inject(g, user, key)?;
            }
            CustomizeAction::Firstboot(script) => {
                firstboot_n += 1;
                say(format!("Installing firstboot script: {}", script.display()));
                let name = script.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "script".into());
                super::firstboot::add(g, cx, firstboot_n, &name, &host_read(script)?)?;
            }
            CustomizeAction::FirstbootCommand(cmd) => {
                firstboot_n += 1;
                say(format!("Installing firstboot command: {cmd}"));
                super::firstboot::add(g, cx, firstboot_n, cmd, format!("{cmd}\n").as_bytes())?;
            }
            CustomizeAction::Password { .. } => {}
        }
    }
    let passwords: Vec<(&str, &PasswordSelector)> = c
        .actions
        .iter()
        .filter_map(|a| match a {
            CustomizeAction::Password { user, selector } => Some((user.as_str(), selector)),
            _ => None,
        })
        .collect();
    if !passwords.is_empty() {
        say("Setting passwords".into());
        set_passwords(g, cx, &passwords)?;
    }
    say("SELinux relabelling".into());
    if cx.opts.selinux_relabel && selinux_enabled(g)? {
        // files created were labelled from the guest's policy as they were made (see
        // guest::selinux); those it could not decide are left to a relabel at next boot
        let undecided = g.selinux_relabel_needed();
        if !undecided.is_empty() && !edit::exists(g, "/.autorelabel")? {
            const SHOWN: usize = 5;
            let mut list: Vec<String> = undecided.iter().take(SHOWN).map(|(p, why)| format!("{p} ({why})")).collect();
            if undecided.len() > SHOWN {
                list.push(format!("and {} more", undecided.len() - SHOWN));
            }
            cx.warn(format!(
                "SELinux: the label of {} could not be decided from the guest's policy: created /.autorelabel, the guest relabels its filesystems at next boot",
                list.join(", ")
            ));
            g.touch("/.autorelabel")?;
        }
    }
    Ok(())
}

/// Whether `/etc/selinux/config` enables SELinux (`SELINUX=` other than `disabled`).
fn selinux_enabled(g: &Guest) -> Result<bool> {
    let Some(cfg) = read_text(g, "/etc/selinux/config")? else { return Ok(false) };
    Ok(cfg.lines().rev().find(|l| edit::sets_var(l, &["SELINUX"])).is_some_and(|l| {
        let v = l.split_once('=').map_or("", |(_, v)| v).trim().trim_matches('"');
        v != "disabled"
    }))
}

/// Sets the hostname the way the guest's distro keeps it; false when it does not know how.
pub fn set_hostname(g: &Guest, cx: &Ctx, name: &str) -> Result<bool> {
    let os = &cx.os;
    let rhel_like = matches!(
        os.distro.as_str(),
        "rhel" | "centos" | "scientificlinux" | "oraclelinux" | "redhat-based" | "rocky" | "almalinux" | "circle" | "fedora"
    );
    let systemd_rhel = (os.distro == "fedora" && os.major_version >= 18) || (rhel_like && os.distro != "fedora" && os.major_version >= 7);
    let line = format!("{name}\n");
    match os.distro.as_str() {
        _ if systemd_rhel => {
            write_if_changed(g, "/etc/hostname", line.as_bytes())?;
            set_var_in_file(g, "/etc/machine-info", "PRETTY_HOSTNAME", name)?;
        }
        _ if rhel_like => set_var_in_file(g, "/etc/sysconfig/network", "HOSTNAME", name)?,
        "opensuse" | "sles" | "suse-based" => {
            write_if_changed(g, "/etc/HOSTNAME", line.as_bytes())?;
        }
        "debian" | "ubuntu" | "linuxmint" | "kalilinux" => {
            let old = read_text(g, "/etc/hostname")?.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
            write_if_changed(g, "/etc/hostname", line.as_bytes())?;
            if let Some(old) = old.filter(|o| o != name) {
                replace_host_in_etc_hosts(g, &old, name)?;
            }
        }
        "archlinux" | "alpinelinux" | "voidlinux" | "gentoo" | "mageia" | "openmandriva" | "altlinux" => {
            write_if_changed(g, "/etc/hostname", line.as_bytes())?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The short form of a host name (before the first dot).
fn short(h: &str) -> &str {
    h.split('.').next().unwrap_or(h)
}

/// Renames the host in `/etc/hosts` (the names after each address) as virt-customize does on
/// Debian: the old name becomes the new one, the old short name the new short name, and the
/// installer's `unassigned-hostname` placeholders the new names.
fn replace_host_in_etc_hosts(g: &Guest, old: &str, new: &str) -> Result<()> {
    let rename = |name: &str| -> Option<&str> {
        if name == old {
            Some(new)
        } else if name == short(old) || name == "unassigned-hostname" {
            Some(short(new))
        } else if name == "unassigned-hostname.unassigned-domain" && new.contains('.') {
            Some(new)
        } else {
            None
        }
    };
    edit::edit_lines(g, "/etc/hosts", |l| {
        let mut out = String::with_capacity(l.len());
        let mut rest = l;
        let mut first = true;
        while !rest.is_empty() {
            let ws = rest.len() - rest.trim_start().len();
            out.push_str(&rest[..ws]);
            rest = &rest[ws..];
            if rest.starts_with('#') {
                out.push_str(rest);
                break;
            }
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let word = &rest[..end];
            // the first field is the address
            out.push_str(if first { word } else { rename(word).unwrap_or(word) });
            first = false;
            rest = &rest[end..];
        }
        Some(out)
    })?;
    Ok(())
}

/// The guest's passwd entry of `user`: (uid, gid, home).
pub fn passwd_entry(g: &Guest, user: &str) -> Result<Option<(u32, u32, String)>> {
    let Some(text) = read_text(g, "/etc/passwd")? else { return Ok(None) };
    for l in text.lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() >= 7 && f[0] == user {
            if let (Ok(uid), Ok(gid)) = (f[2].parse(), f[3].parse()) {
                return Ok(Some((uid, gid, f[5].to_string())));
            }
        }
    }
    Ok(None)
}

/// `--ssh-inject`: adds the key to `~USER/.ssh/authorized_keys` (0700 directory, 0600 file,
/// owned by the user) unless it is there already.
fn ssh_inject(g: &Guest, user: &str, key: &KeySource) -> Result<()> {
    let key = match key {
        KeySource::String(k) => k.clone(),
        KeySource::File(f) => String::from_utf8_lossy(&host_read(f)?).trim_end().to_string(),
        KeySource::Default => default_ssh_key()?,
    };
    let Some((uid, gid, home)) = passwd_entry(g, user)? else {
        return Err(Error::BadOption { option: "--ssh-inject", msg: format!("the user {user} does not exist in the guest") });
    };
    let dir = format!("{}/.ssh", home.trim_end_matches('/'));
    if !edit::is_dir(g, &dir)? {
        g.mkdir_mode(&dir, 0o700)?;
        g.chown(i64::from(uid), i64::from(gid), &dir, true)?;
    }
    let file = format!("{dir}/authorized_keys");
    if !edit::exists(g, &file)? {
        g.write(&file, b"")?;
        g.chmod(0o600, &file)?;
        g.chown(i64::from(uid), i64::from(gid), &file, true)?;
    }
    let old = read_text(g, &file)?.unwrap_or_default();
    if old.lines().any(|l| l.trim() == key.trim()) {
        return Ok(());
    }
    let sep = if old.is_empty() || old.ends_with('\n') { "" } else { "\n" };
    Ok(g.write_append(&file, format!("{sep}{key}\n").as_bytes())?)
}

/// The newest `~/.ssh/id_*.pub` of the user running the tool.
fn default_ssh_key() -> std::result::Result<String, Error> {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let dir = home.join(".ssh");
    let none = || Error::BadOption { option: "--ssh-inject", msg: format!("no SSH public key (id_*.pub) in {}: give USER:file:KEYFILE or USER:string:KEY", dir.display()) };
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for e in std::fs::read_dir(&dir).map_err(|_| none())?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("id_") && name.ends_with(".pub") {
            let t = e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().is_none_or(|(bt, _)| t > *bt) {
                best = Some((t, e.path()));
            }
        }
    }
    let (_, path) = best.ok_or_else(none)?;
    Ok(String::from_utf8_lossy(&host_read(&path)?).trim_end().to_string())
}

/// Sets the passwords in `/etc/shadow` (the second field; `!` first when locked).
fn set_passwords(g: &Guest, cx: &Ctx, list: &[(&str, &PasswordSelector)]) -> Result<()> {
    let mut hashes = Vec::new();
    for (user, sel) in list {
        hashes.push((user.to_string(), hash_for(cx, user, sel)?));
    }
    let mut seen = vec![false; hashes.len()];
    edit::edit_lines(g, "/etc/shadow", |l| {
        let mut f: Vec<&str> = l.split(':').collect();
        if let Some(i) = hashes.iter().rposition(|(u, _)| f.len() >= 2 && f[0] == u) {
            seen[i] = true;
            f[1] = &hashes[i].1;
            return Some(f.join(":"));
        }
        Some(l.to_string())
    })?;
    if let Some(i) = seen.iter().position(|s| !s) {
        return Err(Error::BadOption { option: "--password", msg: format!("user {} does not exist in the guest's /etc/shadow", hashes[i].0) });
    }
    Ok(())
}

/// The shadow field for a selector.
fn hash_for(cx: &Ctx, user: &str, sel: &PasswordSelector) -> std::result::Result<String, Error> {
    Ok(match sel {
        PasswordSelector::Password(p) => crypt::sha512_crypt(p)?,
        PasswordSelector::File(f) => {
            let text = String::from_utf8_lossy(&host_read(f)?).into_owned();
            crypt::sha512_crypt(text.lines().next().unwrap_or(""))?
        }
        PasswordSelector::Random => {
            let p = crypt::random_password()?;
            cx.info(&format!("Setting random password of {user} to {p}"));
            crypt::sha512_crypt(&p)?
        }
        PasswordSelector::Disabled => "*".into(),
        PasswordSelector::Locked(inner) => format!("!!{}", hash_for(cx, user, inner)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_reach_shell_sourced_files_are_checked() {
        for ok in ["web01", "web-01.example.com", "a", "x.example.com.", &"a".repeat(63), &format!("{}.{}.{}.{}", "a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(61))] {
            assert!(CustomizeAction::parse("--hostname", ok).is_ok(), "{ok}");
        }
        for bad in ["", "web 01", "web01\nHACK=1", "web;reboot", "-web", "web-", "a..b", "$(id)", "web_01", &"a".repeat(64), &format!("{}.{}.{}.{}", "a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(62))] {
            let e = CustomizeAction::parse("--hostname", bad).unwrap_err().to_string();
            assert!(e.contains("not a valid host name"), "{bad}: {e}");
        }
        for ok in ["Europe/London", "UTC", "Etc/GMT+5", "America/Argentina/Buenos_Aires"] {
            assert!(CustomizeAction::parse("--timezone", ok).is_ok(), "{ok}");
        }
        for bad in ["../../etc/shadow", "/etc/passwd", "Europe/London\nx", "Europe//London", "a b", ""] {
            assert!(CustomizeAction::parse("--timezone", bad).is_err(), "{bad}");
        }
        assert!(CustomizeAction::parse("--append-line", "/etc/hosts:1.2.3.4 a\n5.6.7.8 b").is_err());
        assert!(CustomizeAction::parse("--append-line", "/etc/hosts:1.2.3.4 a").is_ok());
        assert!(CustomizeAction::parse("--password", "ro:ot:password:x").is_err());
        assert!(CustomizeAction::parse("--password", "bob\nroot:password:x").is_err());
        assert!(CustomizeAction::parse("--password", "svc$:password:x").is_ok());
        assert!(CustomizeAction::parse("--ssh-inject", "../root:string:ssh-ed25519 AAAA").is_err());
        // host files are checked before any work, naming the option
        for (opt, v) in [("--ssh-inject", "root:file:/nonexistent/key.pub"), ("--upload", "/nonexistent/f:/etc/f"), ("--firstboot", "/nonexistent/s.sh"), ("--root-password", "file:/nonexistent/pw")] {
            let e = CustomizeAction::parse(opt, v).expect_err(opt).to_string();
            assert!(e.contains(opt) && e.contains("/nonexistent"), "{e}");
        }
        assert!(CustomizeAction::parse("--upload", "/:/etc/f").is_err(), "a directory is not a file to upload");
        assert!(CustomizeAction::parse("--ssh-inject", "cloud-user:string:ssh-ed25519 AAAA").is_ok());
    }

    #[test]
    fn parses_options() {
        assert_eq!(
            CustomizeAction::parse("--chmod", "0755:/usr/bin/x").unwrap(),
            CustomizeAction::Chmod { mode: 0o755, path: "/usr/bin/x".into() }
        );
        assert!(CustomizeAction::parse("--chmod", "rwx:/x").is_err());
        assert_eq!(CustomizeAction::parse("--chmod", "493:/x").unwrap(), CustomizeAction::Chmod { mode: 0o755, path: "/x".into() });
        assert_eq!(
            CustomizeAction::parse("--link", "/t:/a:/b").unwrap(),
            CustomizeAction::Link { target: "/t".into(), links: vec!["/a".into(), "/b".into()] }
        );
        assert_eq!(
            CustomizeAction::parse("--ssh-inject", "root:string:ssh-ed25519 AAAA x@y").unwrap(),
            CustomizeAction::SshInject { user: "root".into(), key: KeySource::String("ssh-ed25519 AAAA x@y".into()) }
        );
        assert_eq!(
            CustomizeAction::parse("--password", "bob:locked:password:x").unwrap(),
            CustomizeAction::Password {
                user: "bob".into(),
                selector: PasswordSelector::Locked(Box::new(PasswordSelector::Password("x".into())))
            }
        );
        assert!(CustomizeAction::parse("--root-password", "hunter2").is_err());
        assert!(CustomizeAction::parse("--write", "nocolon").is_err());
    }
}
