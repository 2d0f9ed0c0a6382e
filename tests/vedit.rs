//! `vedit` (virt-edit) on a scratch copy of the Ubuntu guest (ext4 root found by inspection):
//! `-e` substitutions and `$EDITOR` (a script) change the file in place — debugfs shows the
//! new content under the same inode, mode and owner, `-b` keeps the old file beside it, and
//! e2fsck finds the filesystem clean; an unchanged file, a failing editor, a bad expression
//! or a missing file leave the image byte-identical.

mod common;

use common::ext4w::{assert_fsck_clean, debugfs_text, scratch, stat_field};
use common::{run, sha256_file};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vedit(args: &[&str], editor: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vedit"));
    c.args(args);
    if let Some(e) = editor {
        c.env("EDITOR", e);
    }
    c.output().unwrap()
}

fn ok(args: &[&str], editor: Option<&Path>) {
    let o = vedit(args, editor);
    assert!(o.status.success(), "vedit {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// The ext4 root (partition 2, sectors 34816..) of a guest-ubuntu image, as a file.
fn root_fs(img: &Path, dir: &Path) -> PathBuf {
    let out = dir.join("root.ext4");
    let (i, o) = (format!("if={}", img.display()), format!("of={}", out.display()));
    run("dd", &[&i, &o, "bs=512", "skip=34816", "count=96223", "conv=sparse", "status=none"]);
    out
}

/// An editor script: runs `body` with the file as `$1`.
fn editor(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("editor.sh");
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn expressions_and_editor_are_judged_by_debugfs_and_e2fsck() {
    let s = scratch("guest-ubuntu.raw");
    let img = s.path.to_str().unwrap();
    let work = tempfile::tempdir().unwrap();
    let fs0 = root_fs(&s.path, work.path());
    let passwd0 = debugfs_text(&fs0, "cat /etc/passwd");
    let stat0 = debugfs_text(&fs0, "stat /etc/passwd");
    let hosts0 = debugfs_text(&fs0, "cat /etc/hosts");
    std::fs::remove_file(&fs0).unwrap();

    // -e with a backup: every line's login shell, groups swapped in the first field pair
    ok(&["-a", img, "/etc/passwd", "-b", ".orig", "-e", r"s|:/bin/(ba)?sh$|:/bin/zsh|"], None);
    ok(&["-a", img, "-e", r"s/^(\w+):x:/$1:*:/i", "/etc/passwd"], None);
    // $EDITOR, a script appending a line
    let ed = editor(work.path(), "printf '10.0.0.1 vedit-test\\n' >> \"$1\"");
    ok(&["-a", img, "/etc/hosts"], Some(&ed));
    // the old form: image first, no -a
    ok(&[img, "/etc/hostname", "-e", "s/$/-renamed/"], None);

    let fs = root_fs(&s.path, work.path());
    assert_fsck_clean(&fs);
    let want: String = passwd0
        .lines()
        .map(|l| {
            let l = l.replace(":/bin/bash", ":/bin/zsh");
            let l = if l.ends_with(":/bin/sh") { l.replace(":/bin/sh", ":/bin/zsh") } else { l };
            let l = match l.split_once(":x:") {
                Some((user, rest)) if user.chars().all(|c| c.is_alphanumeric() || c == '_') => format!("{user}:*:{rest}"),
                _ => l,
            };
            format!("{l}\n")
        })
        .collect();
    assert_eq!(debugfs_text(&fs, "cat /etc/passwd"), want);
    assert_ne!(want, passwd0);
    assert_eq!(debugfs_text(&fs, "cat /etc/passwd.orig"), passwd0, "-b keeps the old file");
    let stat = debugfs_text(&fs, "stat /etc/passwd");
    for field in ["Inode", "Mode", "User", "Group"] {
        assert_eq!(stat_field(&stat, field), stat_field(&stat0, field), "{field}: edited in place");
    }
    assert_eq!(stat_field(&debugfs_text(&fs, "stat /etc/passwd.orig"), "Mode"), stat_field(&stat0, "Mode"));
    assert_eq!(debugfs_text(&fs, "cat /etc/hosts"), format!("{hosts0}10.0.0.1 vedit-test\n"));
    assert!(debugfs_text(&fs, "cat /etc/hostname").ends_with("-renamed\n"));
}

#[test]
fn nothing_is_written_when_nothing_changes_or_something_fails() {
    let s = scratch("guest-ubuntu.raw");
    let img = s.path.to_str().unwrap();
    let work = tempfile::tempdir().unwrap();
    let before = sha256_file(&s.path);
    // no match; an editor that changes nothing
    ok(&["-a", img, "/etc/hostname", "-e", "s/no such text//"], None);
    ok(&["-a", img, "/etc/hostname"], Some(&editor(work.path(), "true")));
    assert_eq!(sha256_file(&s.path), before);
    // a failing editor, after changing its copy: the guest file is not written
    let o = vedit(&["-a", img, "/etc/hostname"], Some(&editor(work.path(), "echo junk > \"$1\"; exit 3")));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/etc/hostname unchanged"), "{o:?}");
    // a bad expression, a missing file, a directory: one sentence naming the option or path
    let o = vedit(&["-a", img, "/etc/hostname", "-e", "s/(/x/"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("vedit: error: -e 's/(/x/': bad regex"), "{o:?}");
    let o = vedit(&["-a", img, "/etc/no-such-file", "-e", "s/a/b/"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/etc/no-such-file"), "{o:?}");
    let o = vedit(&["-a", img, "/etc/hostname", "-e", "s/a/b/", "-e", "s/c/d/"], None);
    assert_eq!(String::from_utf8_lossy(&o.stderr), "vedit: error: -e option given multiple times\n");
    // a second file failing after a first one changed: all or nothing
    let o = vedit(&["-a", img, "/etc/hostname", "/etc/missing", "-e", "s/^/x/"], None);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(sha256_file(&s.path), before, "a failed vedit wrote to the image");
}

/// The `-e` language against what virt-edit runs, `perl -pe EXPR`: for substitutions written
/// the same in both (the documented subset), the result is byte for byte Perl's.
#[test]
fn expressions_edit_as_perl_does() {
    use std::io::Write;
    use vguestfs::tool::edit::Substitution;
    let text = "root:x:0:0:root:/root:/bin/bash\n\
                id:3:initdefault:\n\
                #PermitRootLogin yes\n\
                # PermitRootLogin  prohibit-password\n\
                key=value other=thing\n\
                Foo foo FOO food\n\
                tabs\there\tand trailing  \n\
                numbers 10 200 3000\n\
                path=/usr/bin:/bin\n\
                \n\
                last line without newline";
    let exprs = [
        r"s/^id:.*/id:5:initdefault:/",
        r"s/o/0/",
        r"s/o/0/g",
        r"s/foo/bar/gi",
        r"s/\bfoo\b/bar/i",
        r"s/(\w+)=(\w+)/$2=$1/g",
        r"s/(\w+)=(\w+)/\2=\1/",
        r"s/(\w+)=(\w+)/${2}x$1/",
        r"s|/bin/bash|/bin/zsh|",
        r"s/\/usr\/bin/\/opt\/bin/",
        r"s/^#\s*(PermitRootLogin)\s+\S+/$1 no/",
        r"s/\s+$//",
        r"s/\t/ /g",
        r"s/(\d+)/<$1>/g",
        r"s/$/;/",
        r"s/^/# /",
        r"s/^$/(empty)/",
        r"s/(a)(z)?/[$1$2]/g",
        r"s/x/\$1 costs \$\$/",
        r"s#:#|#g",
        r"s/[[:digit:]]+/N/g",
        r"s/(?i)ROOT/admin/g",
    ];
    for e in exprs {
        let ours = e.parse::<Substitution>().unwrap_or_else(|err| panic!("{e}: {err}")).apply(text.as_bytes());
        let mut perl = Command::new("perl").args(["-pe", e]).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
        perl.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let want = perl.wait_with_output().unwrap();
        assert!(want.status.success(), "perl {e}");
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&want.stdout), "{e}");
    }
}
