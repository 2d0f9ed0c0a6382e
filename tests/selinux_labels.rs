//! SELinux labels of the files vguestfs creates, judged by libselinux itself (`selabel_lookup
//! -b file`, Debian `selinux-utils`) and read back by debugfs:
//! - the lookup of hundreds of paths × file types in the RHEL 9-like policy of
//!   `fixtures/trees/selinux-el9` (file_contexts + .homedirs + .local + .subs + .subs_dist)
//!   equals libselinux's;
//! - on an ext4 guest built from that tree, every inode the write methods create carries the
//!   oracle's label (`debugfs ea_get`), files rewritten in place keep theirs, e2fsck is clean;
//! - vsysprep's customize options label what they create, and a path the policy cannot decide
//!   leads to `/.autorelabel` and a report warning.
mod common;

use common::root;
use std::path::{Path, PathBuf};
use std::process::Command;
use vguestfs::guest::selinux::file_contexts::{FileContexts, Lookup};
use vguestfs::guest::DriveOptions;
use vguestfs::Guest;

const FC: &str = "fixtures/trees/selinux-el9/etc/selinux/targeted/contexts/files/file_contexts";

const REG: u32 = 0o100000;
const DIR: u32 = 0o040000;
const LNK: u32 = 0o120000;
const CHR: u32 = 0o020000;
const BLK: u32 = 0o060000;
const FIFO: u32 = 0o010000;
const SOCK: u32 = 0o140000;

fn fc_path() -> PathBuf {
    root().join(FC)
}

/// Our file contexts `base` (and the parts beside it that exist), loaded as the guest loader
/// loads them.
fn ours(base: &Path) -> FileContexts {
    let mut fc = FileContexts::new();
    for part in ["", ".homedirs", ".local"] {
        let p = PathBuf::from(format!("{}{part}", base.display()));
        if let Ok(text) = std::fs::read(&p) {
            fc.add_specs(&p.display().to_string(), &text);
        }
    }
    for (part, dist) in [(".subs", false), (".subs_dist", true)] {
        if let Ok(text) = std::fs::read(format!("{}{part}", base.display())) {
            fc.set_subs(&text, dist);
        }
    }
    fc.compile_all();
    fc
}

/// libselinux's answer for the fixture policy: `Some(context)`, or `None` when it finds no
/// context (`<<none>>` or no match).
fn oracle(path: &str, mode: u32) -> Option<String> {
    oracle_in(&fc_path(), path, mode)
}

fn oracle_in(base: &Path, path: &str, mode: u32) -> Option<String> {
    let out = Command::new("/usr/sbin/selabel_lookup")
        .args(["-b", "file", "-k", path, "-t", &mode.to_string(), "-f", base.to_str().unwrap()])
        .output()
        .expect("selabel_lookup (Debian selinux-utils)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if let Some(c) = stdout.trim().strip_prefix("Default context: ") {
        return Some(c.to_string());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("failed to find a valid context"), "selabel_lookup {path}: {stdout}{stderr}");
    None
}

/// Paths to look up: for every spec, its literal head with a few tails, plus the paths the
/// substitutions, home directories, `<<none>>` entries and odd spellings exercise.
fn sample_paths(base: &Path) -> Vec<String> {
    let mut heads = std::collections::BTreeSet::new();
    for part in ["", ".homedirs", ".local"] {
        let Ok(text) = std::fs::read_to_string(format!("{}{part}", base.display())) else { continue };
        for line in text.lines() {
            let Some(re) = line.split_whitespace().next().filter(|r| !r.starts_with('#')) else { continue };
            let mut head = String::new();
            let mut chars = re.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => head.extend(chars.next()),
                    '.' | '^' | '$' | '?' | '*' | '+' | '|' | '[' | '(' | '{' => break,
                    c => head.push(c),
                }
            }
            heads.insert(head);
        }
    }
    let mut paths = std::collections::BTreeSet::new();
    for h in &heads {
        let h = h.trim_end_matches('/');
        let h = if h.is_empty() { "" } else { h };
        paths.insert(if h.is_empty() { "/".to_string() } else { h.to_string() });
        for tail in ["/x", "-1", ".conf", "/a/b.so.1"] {
            paths.insert(format!("{h}{tail}"));
        }
    }
    for p in [
        "/bin/bash", "/sbin/sshd", "/lib64/libc.so.6", "/usr/lib64/ld-linux-x86-64.so.2", "/run/sshd.pid", "/run/lock/x", "/run/user/1000",
        "/srv/data/app", "/srv/app/x", "/srv/www/index.html", "/srv/site/www/a", "/var/roothome/.ssh/authorized_keys", "/etc/systemd/system/guestfs-firstboot.service",
        "/etc/systemd/system/multi-user.target.wants/x.service", "//etc//motd/", "/etc/motd", "/etc/motd/", "/home/rocky/.ssh/authorized_keys", "/home/bob/.bashrc",
        "/home/bob", "/home/rocky", "/home/rocky/.config/x", "/home/lost+found", "/home/lost+found/x", "/opt/legacy/keep", "/opt/legacy/x", "/opt/vendor/bin/tool",
        "/opt/a/b/lib64/x.so", "/tmp/foo", "/tmp/.X11-unix/X0", "/tmp/.ICE-unix", "/var/tmp/x", "/var/log/cloud-init.log", "/var/log/cloud-init-output.log",
        "/var/log/secure-20240101", "/var/log/audit/audit.log", "/var/log/journal/abc/system.journal", "/root/.ssh", "/root/.ssh/authorized_keys", "/root/.bashrc",
        "/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/passwd-", "/etc/group+", "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key.pub",
        "/etc/ssh/sshd_config.d/50-cloud-init.conf", "/etc/cloud/cloud.cfg.d/99-x.cfg", "/etc/sudoers.d/90-cloud-init-users", "/etc/hostname", "/etc/machine-id",
        "/etc/localtime", "/etc/resolv.conf", "/.autorelabel", "/quota.user", "/aquota.group", "/dev/vda", "/dev/vdaa1", "/dev/vdabc", "/dev/nvme0n1p2", "/dev/tty12",
        "/dev/null", "/dev/log", "/dev/initctl", "/dev/pts/0", "/dev/input/mouse0", "/usr/bin/python3.9", "/usr/bin/dnf-3", "/usr/bin/zsh", "/usr/bin/sh",
        "/usr/lib/python3.9/site-packages/cloudinit/x.py", "/usr/lib/modules/5.14.0/kernel/fs/xfs.ko", "/usr/share/doc/pkg/README.md", "/var/www/html/wp-content/a",
        "/var/www/html/blog/x/wp-content", "/etc/selinux/targeted/contexts/files/file_contexts", "/etc/selinux/mls/policy/policy.33", "/var/spool/cron/root",
        "/boot/efi/EFI/System.map-5.14", "/boot/System.map-5.14.0", "/", "/x", "/lost+found", "/lost+found/#12",
    ] {
        paths.insert(p.to_string());
    }
    paths.into_iter().collect()
}

/// Compares our lookups with libselinux's for `paths` (each as a regular file, a directory and
/// one other type in turn; `step` > 1 samples every step-th path); returns the number compared
/// and the undecided lookups.
fn compare(base: &Path, fc: &FileContexts, paths: &[String], step: usize) -> (usize, Vec<String>) {
    let modes = [REG, DIR, LNK, CHR, BLK, FIFO, SOCK];
    let mut compared = 0;
    let mut undecided = Vec::new();
    let mut diffs = Vec::new();
    for (i, p) in paths.iter().enumerate().step_by(step) {
        for mode in [REG, DIR, modes[2 + i % 5]] {
            let want = oracle_in(base, p, mode);
            let got = match fc.lookup_sorted(p.as_bytes(), mode) {
                Lookup::Label(c) => Some(c),
                Lookup::None | Lookup::NoMatch => None,
                Lookup::Undecided(why) => {
                    undecided.push(format!("{p} {mode:o}: {why}"));
                    continue;
                }
            };
            compared += 1;
            if got != want {
                diffs.push(format!("{p} (mode {mode:o}): ours {got:?}, libselinux {want:?}"));
            }
        }
    }
    assert!(diffs.is_empty(), "{} of {compared} lookups differ:\n{}", diffs.len(), diffs.join("\n"));
    (compared, undecided)
}

#[test]
fn lookups_equal_libselinux() {
    let fc = ours(&fc_path());
    assert!(fc.len() > 400, "{} specs", fc.len());
    let paths = sample_paths(&fc_path());
    assert!(paths.len() >= 300, "{} paths", paths.len());
    let (compared, undecided) = compare(&fc_path(), &fc, &paths, 1);
    assert!(compared >= 900, "{compared} lookups");
    // only what the look-ahead spec of file_contexts.local may match is undecided
    assert!(!undecided.is_empty());
    for u in &undecided {
        assert!(u.starts_with("/opt/legacy/") && u.contains("(?!keep)"), "{u}");
    }
}

/// The same on the reference policy's ~5500 specs as Debian ships them
/// (`fixtures/mk-refpolicy.sh`): every regex compiles, and lookups agree.
#[test]
fn refpolicy_lookups_equal_libselinux() {
    let base = common::fixture("refpolicy/file_contexts");
    let fc = ours(&base);
    assert!(fc.len() > 5000, "{} specs", fc.len());
    assert!(fc.warnings().is_empty(), "{:?}", fc.warnings());
    let mut paths = sample_paths(&base);
    paths.extend(sample_paths(&fc_path()));
    paths.sort();
    paths.dedup();
    let step = (paths.len() / 600).max(1);
    let (compared, undecided) = compare(&base, &fc, &paths, step);
    assert!(compared >= 1500, "{compared} lookups");
    assert!(undecided.is_empty(), "{undecided:?}");
}

// ---- end to end on an ext4 guest ----

/// Directories git cannot keep (empty) that the guest tree has.
const EMPTY_DIRS: &[&str] = &["usr/lib64", "usr/lib", "tmp", "var/tmp", "opt", "srv", "boot", "dev", "proc", "sys", "run", "etc/sudoers.d", "etc/systemd/system", "var/lib/cloud", "usr/sbin"];

/// An ext4 image (label `root`) of the `selinux-el9` tree with `extra` applied to a copy of
/// the tree first.
pub fn guest_image(dir: &Path, extra: impl FnOnce(&Path)) -> PathBuf {
    let tree = dir.join("tree");
    let st = Command::new("cp").args(["-a", root().join("fixtures/trees/selinux-el9").to_str().unwrap(), tree.to_str().unwrap()]).status().unwrap();
    assert!(st.success());
    for d in EMPTY_DIRS {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    extra(&tree);
    let img = dir.join("el9.img");
    let out = Command::new("/sbin/mkfs.ext4")
        .args(["-q", "-F", "-L", "root", "-I", "256", "-d", tree.to_str().unwrap(), img.to_str().unwrap(), "64M"])
        .output()
        .unwrap();
    assert!(out.status.success(), "mkfs.ext4: {}", String::from_utf8_lossy(&out.stderr));
    img
}

fn debugfs(img: &Path, req: &str) -> String {
    let out = Command::new("/sbin/debugfs").args(["-R", req, img.to_str().unwrap()]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `security.selinux` of `path` as debugfs reads it (`None` when not set).
pub fn label(img: &Path, path: &str) -> Option<String> {
    let out = Command::new("/sbin/debugfs").args(["-R", &format!("ea_get -V {path} security.selinux"), img.to_str().unwrap()]).output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    let s = s.strip_suffix('\n').unwrap_or(&s).to_string(); // debugfs's own line end
    if !out.status.success() || s.is_empty() {
        return None;
    }
    // -V prints the raw value; the kernel's form ends with a NUL
    assert!(s.ends_with('\0'), "{path}: label {s:?} not NUL-terminated");
    Some(s.trim_end_matches('\0').to_string())
}

fn assert_fsck_clean(img: &Path) {
    let out = Command::new("/sbin/e2fsck").args(["-fn", img.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "e2fsck -fn: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

fn open_rw(img: &Path) -> Guest {
    let mut g = Guest::new();
    g.add_drive(img, DriveOptions { readonly: false, ..Default::default() }).unwrap();
    g.launch().unwrap();
    g.mount("/dev/sda", "/").unwrap();
    g
}

#[test]
fn created_inodes_get_the_policy_label() {
    let d = tempfile::tempdir().unwrap();
    let img = guest_image(d.path(), |_| {});
    {
        let g = open_rw(&img);
        g.write("/etc/motd", b"replaced in place\n").unwrap(); // existing: keeps its (absent) label
        g.write("/etc/issue", b"new\n").unwrap();
        g.mkdir_p("/root/.ssh").unwrap();
        g.write("/root/.ssh/authorized_keys", b"ssh-ed25519 AAAA x\n").unwrap();
        g.mkdir("/home/rocky/.ssh").unwrap();
        g.write("/home/rocky/.ssh/authorized_keys", b"ssh-ed25519 AAAA x\n").unwrap();
        g.mkdir_p("/etc/systemd/system/multi-user.target.wants").unwrap();
        g.write("/etc/systemd/system/guestfs-firstboot.service", b"[Unit]\n").unwrap();
        g.ln_s("/etc/systemd/system/guestfs-firstboot.service", "/etc/systemd/system/multi-user.target.wants/guestfs-firstboot.service", false).unwrap();
        g.ln_s("../usr/share/zoneinfo/UTC", "/etc/localtime", true).unwrap();
        g.touch("/var/log/cloud-init.log").unwrap();
        g.mknod(0o020666, 1, 3, "/dev/null").unwrap();
        g.mknod(0o010600, 0, 0, "/dev/initctl").unwrap();
        g.mkdir("/srv/app").unwrap();
        g.mkdir_p("/srv/data/x").unwrap(); // .subs: /srv/data → /var/lib
        g.cp("/etc/hosts", "/etc/hosts.bak", vguestfs::guest::write::Copy::File).unwrap();
        // <<none>>: a new inode under /tmp gets its directory's label
        g.setxattr("security.selinux", b"system_u:object_r:tmp_t:s0\0", "/tmp", true).unwrap();
        g.write("/tmp/scratch", b"x").unwrap();
        g.write("/var/tmp/other", b"x").unwrap(); // <<none>> under an unlabelled directory: none
        assert!(g.selinux_relabel_needed().is_empty(), "{:?}", g.selinux_relabel_needed());
        g.touch("/opt/legacy-not").unwrap();
        g.mkdir("/opt/legacy").unwrap();
        g.touch("/opt/legacy/x").unwrap(); // the look-ahead spec: undecided
        let r = g.selinux_relabel_needed();
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].0, "/opt/legacy/x");
        assert!(g.take_warnings().iter().any(|w| w.contains("/opt/legacy/x") && w.contains("relabel")));
        g.commit().unwrap();
    }
    assert_fsck_clean(&img);
    for (path, mode) in [
        ("/etc/issue", REG),
        ("/root/.ssh", DIR),
        ("/root/.ssh/authorized_keys", REG),
        ("/home/rocky/.ssh", DIR),
        ("/home/rocky/.ssh/authorized_keys", REG),
        ("/etc/systemd/system/multi-user.target.wants", DIR),
        ("/etc/systemd/system/guestfs-firstboot.service", REG),
        ("/etc/systemd/system/multi-user.target.wants/guestfs-firstboot.service", LNK),
        ("/etc/localtime", LNK),
        ("/var/log/cloud-init.log", REG),
        ("/dev/null", CHR),
        ("/dev/initctl", FIFO),
        ("/srv/app", DIR),
        ("/srv/data", DIR),
        ("/srv/data/x", DIR),
        ("/etc/hosts.bak", REG),
        ("/opt/legacy", DIR),
        ("/opt/legacy-not", REG),
    ] {
        let want = oracle(path, mode).unwrap_or_else(|| panic!("{path}: the oracle has no label"));
        assert_eq!(label(&img, path).as_deref(), Some(want.as_str()), "{path}");
    }
    assert_eq!(label(&img, "/etc/motd"), None, "a file rewritten in place keeps its label (none here)");
    assert_eq!(label(&img, "/tmp/scratch").as_deref(), Some("system_u:object_r:tmp_t:s0"));
    assert_eq!(label(&img, "/var/tmp/other"), None);
    assert_eq!(label(&img, "/opt/legacy/x"), None);
    assert!(debugfs(&img, "cat /root/.ssh/authorized_keys").contains("ssh-ed25519"));
}

#[test]
fn guests_without_selinux_get_no_labels() {
    for config in [Some("SELINUX=disabled\nSELINUXTYPE=targeted\n"), None] {
        let d = tempfile::tempdir().unwrap();
        let img = guest_image(d.path(), |t| match config {
            Some(c) => std::fs::write(t.join("etc/selinux/config"), c).unwrap(),
            None => std::fs::remove_file(t.join("etc/selinux/config")).unwrap(),
        });
        {
            let g = open_rw(&img);
            g.write("/etc/issue", b"x\n").unwrap();
            g.mkdir("/root/.ssh").unwrap();
            assert!(g.selinux_relabel_needed().is_empty());
            g.commit().unwrap();
        }
        assert_eq!(label(&img, "/etc/issue"), None);
        assert_eq!(label(&img, "/root/.ssh"), None);
    }
}

#[test]
fn an_unreadable_policy_asks_for_a_relabel() {
    let d = tempfile::tempdir().unwrap();
    let img = guest_image(d.path(), |t| std::fs::write(t.join("etc/selinux/config"), "SELINUX=permissive\nSELINUXTYPE=mls\n").unwrap());
    let g = open_rw(&img);
    g.write("/etc/issue", b"x\n").unwrap();
    let r = g.selinux_relabel_needed();
    assert_eq!(r.len(), 1);
    assert!(r[0].1.contains("/etc/selinux/mls/contexts/files/file_contexts"), "{r:?}");
}

// ---- vsysprep ----

fn vsysprep(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vsysprep")).args(args).output().unwrap()
}

#[test]
fn vsysprep_customize_labels_what_it_creates() {
    let d = tempfile::tempdir().unwrap();
    let img = guest_image(d.path(), |_| {});
    let key = d.path().join("id.pub");
    std::fs::write(&key, "ssh-ed25519 AAAAC3Nza test@host\n").unwrap();
    let up = d.path().join("app.conf");
    std::fs::write(&up, "x=1\n").unwrap();
    let out = vsysprep(&[
        "-a", img.to_str().unwrap(), "--operations", "customize",
        "--mkdir", "/srv/app/data", "--write", "/etc/issue:hello", "--upload", &format!("{}:/etc/app.conf", up.display()),
        "--ssh-inject", &format!("rocky:file:{}", key.display()), "--firstboot-command", "echo hi", "--hostname", "web01",
    ]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_fsck_clean(&img);
    let mut checked = 0;
    for (path, mode) in [
        ("/srv/app", DIR),
        ("/srv/app/data", DIR),
        ("/etc/issue", REG),
        ("/etc/app.conf", REG),
        ("/home/rocky/.ssh", DIR),
        ("/home/rocky/.ssh/authorized_keys", REG),
        ("/etc/machine-info", REG),
        // firstboot: its directory, driver, unit and the wants symlink
        ("/usr/lib/virt-sysprep", DIR),
        ("/usr/lib/virt-sysprep/firstboot.sh", REG),
        ("/usr/lib/systemd/system/guestfs-firstboot.service", REG),
        ("/etc/systemd/system/multi-user.target.wants", DIR),
        ("/etc/systemd/system/multi-user.target.wants/guestfs-firstboot.service", LNK),
    ] {
        let want = oracle(path, mode).unwrap();
        assert_eq!(label(&img, path).as_deref(), Some(want.as_str()), "{path}");
        checked += 1;
    }
    assert!(checked >= 8, "{checked}");
    assert!(!debugfs(&img, "stat /.autorelabel").contains("Inode:"), "no relabel needed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("autorelabel"), "{stderr}");
}

#[test]
fn vsysprep_relabels_when_a_path_cannot_be_decided() {
    let d = tempfile::tempdir().unwrap();
    let img = guest_image(d.path(), |_| {});
    let out = vsysprep(&["-a", img.to_str().unwrap(), "--operations", "customize", "--json", "--mkdir", "/opt/legacy/cache", "--write", "/etc/issue:x"]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_fsck_clean(&img);
    assert!(debugfs(&img, "stat /.autorelabel").contains("Type: regular"), "/.autorelabel created");
    assert_eq!(label(&img, "/.autorelabel").as_deref(), Some(oracle("/.autorelabel", REG).unwrap().as_str()));
    assert_eq!(label(&img, "/etc/issue").as_deref(), Some(oracle("/etc/issue", REG).unwrap().as_str()), "decided paths are still labelled");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/opt/legacy/cache") && stderr.contains("/.autorelabel"), "{stderr}");
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(json.contains("/opt/legacy/cache") && json.contains("autorelabel"), "{json}");
}
