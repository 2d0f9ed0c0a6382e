//! `user-account`: removes the login accounts between `UID_MIN` and `UID_MAX` of
//! `/etc/login.defs` (1000 and 60000 when it does not say), as virt-sysprep does, and more
//! thoroughly: their lines in passwd, shadow, group (their own group, when no other account
//! uses it as primary group) and gshadow, their names in other groups' member lists, their
//! home directories (only below `/home`, or where passwd says when that is not a system
//! directory) and mail spools. `--keep-user-accounts` keeps names; with
//! `--remove-user-accounts`, only those names are removed.

use super::{FnOp, Only, Work};
use crate::sysprep::{edit, Ctx};
use crate::Guest;
use crate::sysprep::Result;
use std::collections::BTreeSet;

/// The operation.
pub static USER_ACCOUNT: FnOp = FnOp {
    name: "user-account",
    description: "Remove the user accounts in the guest",
    default_on: false,
    only: Only::Linux,
    apply: Work::Fn(user_account),
};

/// `UID_MIN` and `UID_MAX` of a login.defs text (defaults 1000 and 60000, as shadow-utils').
pub fn uid_range(login_defs: Option<&str>) -> (u64, u64) {
    let get = |key: &str, default: u64| {
        login_defs
            .and_then(|t| {
                t.lines().rev().find_map(|l| {
                    let mut f = l.split_whitespace();
                    (f.next() == Some(key)).then(|| f.next().and_then(|v| v.parse().ok())).flatten()
                })
            })
            .unwrap_or(default)
    };
    (get("UID_MIN", 1000), get("UID_MAX", 60000))
}

/// Directories a removed user's home is never taken to be.
const SYSTEM_DIRS: &[&str] = &["/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var"];

/// Whether a passwd home directory may be removed with its user.
fn removable_home(home: &str) -> bool {
    let h = home.trim_end_matches('/');
    let plain = h.starts_with('/') && h.split('/').all(|c| c != ".." && c != ".");
    plain && !SYSTEM_DIRS.contains(&h) && h.matches('/').count() >= 2
}

fn user_account(g: &Guest, cx: &Ctx) -> Result<()> {
    let (min, max) = uid_range(edit::read_text(g, "/etc/login.defs")?.as_deref());
    let Some(passwd) = edit::read_text(g, "/etc/passwd")? else { return Ok(()) };
    let keep: BTreeSet<&str> = cx.opts.keep_users.iter().map(String::as_str).collect();
    let only: BTreeSet<&str> = cx.opts.remove_users.iter().map(String::as_str).collect();
    // (name, uid, gid, home) of every account, and the ones to remove
    let accounts: Vec<(String, u64, String, String)> = passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 7).then(|| f[2].parse().ok().map(|uid| (f[0].to_string(), uid, f[3].to_string(), f[5].to_string()))).flatten()
        })
        .collect();
    let removed: Vec<&(String, u64, String, String)> = accounts
        .iter()
        .filter(|(name, uid, _, _)| (min..=max).contains(uid) && !keep.contains(name.as_str()) && (only.is_empty() || only.contains(name.as_str())))
        .collect();
    if removed.is_empty() {
        return Ok(());
    }
    let names: BTreeSet<&str> = removed.iter().map(|a| a.0.as_str()).collect();
    // primary groups still used by an account that stays
    let kept_gids: BTreeSet<&str> = accounts.iter().filter(|a| !names.contains(a.0.as_str())).map(|a| a.2.as_str()).collect();
    let first = |l: &str| l.split(':').next().unwrap_or("").to_string();
    edit::edit_lines(g, "/etc/passwd", |l| (!names.contains(first(l).as_str())).then(|| l.to_string()))?;
    edit::edit_lines(g, "/etc/shadow", |l| (!names.contains(first(l).as_str())).then(|| l.to_string()))?;
    // a group named as a removed user goes, unless an account that stays has it as primary
    let mut dropped_groups = BTreeSet::new();
    edit::edit_lines(g, "/etc/group", |l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() >= 4 && names.contains(f[0]) && !kept_gids.contains(f[2]) {
            dropped_groups.insert(f[0].to_string());
            return None;
        }
        Some(without_members(l, 3, &names))
    })?;
    edit::edit_lines(g, "/etc/gshadow", |l| {
        if dropped_groups.contains(&first(l)) {
            return None;
        }
        Some(without_members(&without_members(l, 2, &names), 3, &names))
    })?;
    for (name, _, _, home) in removed {
        edit::apply(g, &format!("/var/spool/mail/{name}"), edit::Action::RmRf)?;
        edit::apply(g, &format!("/var/mail/{name}"), edit::Action::RmRf)?;
        if removable_home(home) {
            edit::apply(g, home, edit::Action::RmRf)?;
        } else {
            cx.warn(format!("user-account: {name}: home directory {home} left in place (not a user's own directory)"));
        }
    }
    Ok(())
}

/// The colon-separated line with `names` removed from the comma-separated list in `field`.
fn without_members(line: &str, field: usize, names: &BTreeSet<&str>) -> String {
    let mut f: Vec<String> = line.split(':').map(str::to_string).collect();
    if let Some(list) = f.get_mut(field) {
        let kept: Vec<&str> = list.split(',').filter(|m| !m.is_empty() && !names.contains(m)).collect();
        *list = kept.join(",");
    }
    f.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_defs_range() {
        assert_eq!(uid_range(None), (1000, 60000));
        assert_eq!(uid_range(Some("# x\nUID_MIN\t\t\t  500\nUID_MAX 29999\n")), (500, 29999));
        assert_eq!(uid_range(Some("UID_MIN bogus\n")), (1000, 60000));
    }

    #[test]
    fn member_lists() {
        let names: BTreeSet<&str> = ["alice", "bob"].into_iter().collect();
        assert_eq!(without_members("sudo:x:27:ubuntu,alice", 3, &names), "sudo:x:27:ubuntu");
        assert_eq!(without_members("adm:x:4:alice", 3, &names), "adm:x:4:");
        assert_eq!(without_members("adm:*:alice:bob,carol", 2, &names), "adm:*::bob,carol");
    }

    #[test]
    fn homes() {
        assert!(removable_home("/home/alice"));
        assert!(removable_home("/srv/users/alice"));
        assert!(!removable_home("/home"));
        assert!(!removable_home("/"));
        assert!(!removable_home("/var"));
        assert!(!removable_home("/home/../etc"));
        assert!(!removable_home("relative"));
    }
}
