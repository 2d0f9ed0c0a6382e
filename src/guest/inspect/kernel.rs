//! The kernel a Linux guest boots by default, as its boot loader chooses it: the grub2
//! `saved_entry` of `grubenv` among the Boot Loader Specification entries
//! (`/boot/loader/entries/*.conf`, else the one of the highest version, as grub's `blscfg`
//! sorts them) or the `menuentry`s of `grub.cfg` (else the first one), and without a boot
//! loader configuration the newest `/boot/vmlinuz-*`. Paths in boot entries are relative to the
//! filesystem holding them: a separate `/boot` or the root.

use super::view::View;

/// The default kernel and how it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootKernel {
    /// Its version (`5.14.0-427.13.1.el9_4.x86_64`): the kernel file name after `vmlinuz-`.
    pub version: String,
    /// The guest path of the initramfs the entry names, if it names one that exists.
    pub initrd: Option<String>,
    /// Where the choice came from (`/boot/loader/entries/….conf (grubenv saved_entry)`…).
    pub source: String,
}

/// One boot entry of a BLS file or a grub.cfg `menuentry`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BootEntry {
    /// Names grubenv's `saved_entry` may use: the BLS file stem, or the menuentry's title and
    /// its `$menuentry_id_option`/`--id`.
    pub ids: Vec<String>,
    /// The kernel version (BLS `version`, else from the kernel file name).
    pub version: String,
    /// The kernel path (`linux`, `linux16`, `linuxefi`).
    pub linux: Option<String>,
    /// The initrd paths, in order (microcode images included).
    pub initrd: Vec<String>,
}

/// Compares version strings as `sort -V` does, near enough: digit runs by value.
pub fn vercmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn runs(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let b = s.as_bytes();
        for i in 1..=b.len() {
            if i == b.len() || b[i].is_ascii_digit() != b[start].is_ascii_digit() {
                out.push((b[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ra, rb) = (runs(a), runs(b));
    for (x, y) in ra.iter().zip(rb.iter()) {
        let o = match (x, y) {
            ((true, p), (true, q)) => {
                let (p, q) = (p.trim_start_matches('0'), q.trim_start_matches('0'));
                p.len().cmp(&q.len()).then_with(|| p.cmp(q))
            }
            ((_, p), (_, q)) => p.cmp(q),
        };
        if o.is_ne() {
            return o;
        }
    }
    ra.len().cmp(&rb.len())
}

/// The version of a kernel path: its file name after `vmlinuz-` (or `kernel-`).
fn version_of(path: &str) -> Option<String> {
    let name = path.rsplit('/').next()?;
    let v = name.strip_prefix("vmlinuz-").or_else(|| name.strip_prefix("kernel-"))?;
    (!v.is_empty()).then(|| v.to_string())
}

/// The guest path of a boot-entry path: as is, or under `/boot` when `/boot` is separate.
fn locate(view: &View, path: &str) -> Option<String> {
    let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
    [path.clone(), format!("/boot{path}")].into_iter().find(|p| view.is_file(p))
}

/// grub2's `saved_entry` from its environment block.
fn saved_entry(view: &View) -> Option<String> {
    ["/boot/grub2/grubenv", "/boot/grub/grubenv"].into_iter().find_map(|f| {
        let text = view.small_text(f)?;
        // `submenu>entry` names an entry inside a submenu: the entry is what counts
        let v = text.lines().find_map(|l| l.strip_prefix("saved_entry="))?.trim().rsplit('>').next()?;
        (!v.is_empty()).then(|| v.to_string())
    })
}

/// The Boot Loader Specification entries.
fn bls_entries(view: &View) -> Vec<BootEntry> {
    let dir = "/boot/loader/entries";
    let mut out = Vec::new();
    for name in view.list_dir(dir) {
        let name = String::from_utf8_lossy(&name).into_owned();
        let Some(stem) = name.strip_suffix(".conf") else { continue };
        let Some(text) = view.small_text(&format!("{dir}/{name}")) else { continue };
        let mut e = BootEntry { ids: vec![stem.to_string()], ..Default::default() };
        for line in text.lines() {
            let (k, v) = line.trim().split_once(char::is_whitespace).unwrap_or((line.trim(), ""));
            match k {
                "version" => e.version = v.trim().to_string(),
                "linux" => e.linux = Some(v.trim().to_string()),
                "initrd" => e.initrd.extend(v.split_whitespace().map(str::to_string)),
                _ => {}
            }
        }
        if e.version.is_empty() {
            e.version = e.linux.as_deref().and_then(version_of).unwrap_or_else(|| stem.to_string());
        }
        out.push(e);
    }
    out.sort_by(|a, b| vercmp(&b.version, &a.version).then_with(|| b.ids.cmp(&a.ids)));
    out
}

/// The `menuentry`s of a grub.cfg that boot a kernel, in order (those of submenus included).
pub fn grub_entries(cfg: &str) -> Vec<BootEntry> {
    let mut out = Vec::new();
    let mut cur: Option<BootEntry> = None;
    for line in cfg.lines() {
        let line = line.trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first().copied() {
            Some("menuentry") => {
                if let Some(e) = cur.take() {
                    out.push(e);
                }
                let mut ids = Vec::new();
                if let Some(title) = line.strip_prefix("menuentry").map(str::trim_start).and_then(|r| {
                    let q = r.chars().next().filter(|c| *c == '\'' || *c == '"')?;
                    r[1..].split(q).next()
                }) {
                    ids.push(title.to_string());
                }
                if let Some(i) = words.iter().position(|w| *w == "$menuentry_id_option" || *w == "--id") {
                    if let Some(id) = words.get(i + 1) {
                        ids.push(id.trim_matches(|c| c == '\'' || c == '"').to_string());
                    }
                }
                cur = Some(BootEntry { ids, ..Default::default() });
            }
            Some("linux" | "linux16" | "linuxefi") => {
                if let (Some(e), Some(p)) = (cur.as_mut(), words.get(1)) {
                    e.linux.get_or_insert_with(|| p.to_string());
                }
            }
            Some("initrd" | "initrd16" | "initrdefi") => {
                if let Some(e) = cur.as_mut() {
                    if e.initrd.is_empty() {
                        e.initrd.extend(words[1..].iter().map(|w| w.to_string()));
                    }
                }
            }
            _ => {}
        }
    }
    out.extend(cur);
    out.retain(|e| e.linux.is_some());
    for e in &mut out {
        e.version = e.linux.as_deref().and_then(version_of).unwrap_or_default();
    }
    out
}

/// The kernel of `e`, with its initramfs when the entry names one (microcode images and
/// grub variables left aside).
fn from_entry(view: &View, e: &BootEntry, source: String) -> Option<BootKernel> {
    let version = e.linux.as_deref().and_then(version_of).or_else(|| (!e.version.is_empty()).then(|| e.version.clone()))?;
    let initrd = e.initrd.iter().filter(|p| !p.starts_with('$') && !p.rsplit('/').next().unwrap_or("").contains("ucode")).find_map(|p| locate(view, p));
    Some(BootKernel { version, initrd, source })
}

/// The kernel the guest boots by default, `None` when it has none in `/boot`.
pub fn default_kernel(view: &View) -> Option<BootKernel> {
    let saved = saved_entry(view);
    let bls = bls_entries(view);
    if !bls.is_empty() {
        let by_saved = saved.as_ref().and_then(|s| bls.iter().find(|e| e.ids.contains(s)));
        let (e, why) = match by_saved {
            Some(e) => (e, "grubenv saved_entry"),
            None => (&bls[0], "highest version"),
        };
        return from_entry(view, e, format!("/boot/loader/entries/{}.conf ({why})", e.ids[0]));
    }
    for cfg in ["/boot/grub2/grub.cfg", "/boot/grub/grub.cfg"] {
        let entries = view.small_text(cfg).map(|t| grub_entries(&t)).unwrap_or_default();
        let by_saved = saved.as_ref().and_then(|s| entries.iter().find(|e| e.ids.contains(s)));
        let (e, why) = match (by_saved, entries.first()) {
            (Some(e), _) => (e, "grubenv saved_entry"),
            (None, Some(e)) => (e, "first menuentry"),
            (None, None) => continue,
        };
        if let Some(k) = from_entry(view, e, format!("{cfg} ({why} '{}')", e.ids.first().map(String::as_str).unwrap_or(""))) {
            return Some(k);
        }
    }
    let newest = view
        .list_dir("/boot")
        .into_iter()
        .filter_map(|n| String::from_utf8(n).ok())
        .filter(|n| n.starts_with("vmlinuz-") && !n.contains("-rescue-"))
        .filter_map(|n| version_of(&n))
        .max_by(|a, b| vercmp(a, b))?;
    Some(BootKernel { version: newest.clone(), initrd: None, source: format!("/boot/vmlinuz-{newest} (the newest kernel; no boot loader entry)") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_by_value() {
        use std::cmp::Ordering::*;
        assert_eq!(vercmp("5.14.0-427.el9", "5.14.0-70.el9"), Greater);
        assert_eq!(vercmp("6.1.0-10-amd64", "6.1.0-9-amd64"), Greater);
        assert_eq!(vercmp("6.1", "6.1.0"), Less);
        assert_eq!(vercmp("05", "5"), Equal);
        assert_eq!(version_of("/boot/vmlinuz-6.1.0-18-amd64").as_deref(), Some("6.1.0-18-amd64"));
        assert_eq!(version_of("/vmlinuz"), None);
    }

    #[test]
    fn grub_cfg_menuentries() {
        let cfg = "set default=\"0\"\nmenuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-abc' {\n\tlinux\t/boot/vmlinuz-6.1.0-18-amd64 root=UUID=x ro\n\tinitrd\t/boot/initrd.img-6.1.0-18-amd64\n}\nsubmenu 'Advanced' {\n menuentry \"Debian, with Linux 6.1.0-17-amd64\" {\n  linux /vmlinuz-6.1.0-17-amd64\n  initrd /intel-ucode.img /initrd.img-6.1.0-17-amd64\n }\n}\n";
        let e = grub_entries(cfg);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].ids, ["Debian GNU/Linux", "gnulinux-simple-abc"]);
        assert_eq!(e[0].version, "6.1.0-18-amd64");
        assert_eq!(e[1].ids, ["Debian, with Linux 6.1.0-17-amd64"]);
        assert_eq!(e[1].initrd, ["/intel-ucode.img", "/initrd.img-6.1.0-17-amd64"]);
    }
}
