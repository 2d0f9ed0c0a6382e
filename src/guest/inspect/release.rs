//! Distribution, product name and version from the release files, checked in libguestfs's
//! order (`/etc/os-release` first, then `/etc/lsb-release`, then the per-distro files): each
//! test whose file exists may finish detection or fall through to the next one.
//!
//! The tables are libguestfs 1.48's, with two os-release IDs it does not know added:
//! `almalinux` (distro `almalinux`; libguestfs falls back to `/etc/redhat-release` and says
//! `redhat-based`) and `amzn` (distro `amazonlinux`; libguestfs says `unknown`).

use super::view::View;

/// What the release files tell.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Release {
    /// libguestfs distro name (`debian`, `rhel`, `alpinelinux`…).
    pub distro: Option<&'static str>,
    /// Product name (`PRETTY_NAME`, or the first line of a release file).
    pub product_name: Option<String>,
    /// (major, minor).
    pub version: Option<(u32, u32)>,
}

/// The libguestfs distro for an os-release `ID`.
fn distro_of_os_release_id(id: &str) -> Option<&'static str> {
    Some(match id {
        "alpine" => "alpinelinux",
        "altlinux" => "altlinux",
        "arch" => "archlinux",
        "centos" => "centos",
        "coreos" => "coreos",
        "debian" => "debian",
        "fedora" => "fedora",
        "frugalware" => "frugalware",
        "gentoo" => "gentoo",
        "kali" => "kalilinux",
        "kylin" => "kylin",
        "mageia" => "mageia",
        "neokylin" => "neokylin",
        "openmandriva" => "openmandriva",
        "opensuse" => "opensuse",
        s if s.starts_with("opensuse-") => "opensuse",
        "pardus" => "pardus",
        "pld" => "pldlinux",
        "rhel" => "rhel",
        "rocky" => "rocky",
        "sles" | "sled" => "sles",
        "ubuntu" => "ubuntu",
        "void" => "voidlinux",
        // Not in libguestfs's table.
        "almalinux" => "almalinux",
        "amzn" => "amazonlinux",
        _ => return None,
    })
}

/// Removes shell quoting from an os-release value (`"a \"b\""`, `'c'`).
fn shell_unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        return v[1..v.len() - 1].to_string();
    }
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        let mut out = String::new();
        let mut chars = v[1..v.len() - 1].chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.extend(chars.next()),
                c => out.push(c),
            }
        }
        return out;
    }
    v.to_string()
}

/// `KEY=value` lines (comments and other lines skipped).
fn key_values(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter(|l| !l.trim_start().starts_with('#')).filter_map(|l| l.split_once('=')).map(|(k, v)| (k.trim(), v))
}

/// The first number `N` or `N.M` in `s`, as (major, minor).
pub fn version_in(s: &str) -> Option<(u32, u32)> {
    let start = s.find(|c: char| c.is_ascii_digit())?;
    let mut parts = s[start..].splitn(3, '.');
    let digits = |p: &str| p.chars().take_while(char::is_ascii_digit).collect::<String>().parse::<u32>().ok();
    let major_part = parts.next()?;
    let major = digits(major_part)?;
    let whole_major = major_part.chars().all(|c| c.is_ascii_digit());
    let minor = if whole_major { parts.next().and_then(digits) } else { None };
    Some((major, minor.unwrap_or(0)))
}

/// The distro of os-release's `ID_LIKE`: its first word we know (`ID_LIKE="ubuntu debian"`).
fn distro_of_id_like(text: &str) -> Option<&'static str> {
    key_values(text).filter(|(k, _)| *k == "ID_LIKE").find_map(|(_, v)| shell_unquote(v).split_whitespace().find_map(distro_of_os_release_id))
}

/// `/etc/os-release`: true when it gives the distro, product and a full version.
fn parse_os_release(text: &str, r: &mut Release) -> bool {
    for (k, v) in key_values(text) {
        let v = shell_unquote(v);
        match k {
            "ID" => {
                if let Some(d) = distro_of_os_release_id(&v) {
                    r.distro = Some(d);
                }
            }
            "PRETTY_NAME" => r.product_name = Some(v),
            "VERSION_ID" => {
                if let Some(ver) = version_in(&v) {
                    r.version = Some(ver);
                }
            }
            _ => {}
        }
    }
    if r.distro.is_none() || r.product_name.is_none() {
        return false;
    }
    match (r.distro, r.version) {
        // Debian, CentOS and Rocky give only the major version here: the release files have more.
        (Some("debian" | "centos" | "rocky"), Some((_, 0))) => false,
        // Rolling distros have no VERSION_ID.
        (Some("archlinux" | "gentoo" | "voidlinux"), None) => {
            r.version = Some((0, 0));
            true
        }
        (_, None) => false,
        _ => true,
    }
}

/// `/etc/lsb-release` (Ubuntu, Linux Mint, Mageia, CoreOS).
fn parse_lsb_release(text: &str, r: &mut Release) -> bool {
    let mut ok = false;
    for (k, v) in key_values(text) {
        let v = v.trim().trim_matches('"').to_string();
        match k {
            "DISTRIB_ID" => {
                let d = match v.as_str() {
                    "CoreOS" => Some("coreos"),
                    "LinuxMint" => Some("linuxmint"),
                    "Mageia" => Some("mageia"),
                    "Ubuntu" => Some("ubuntu"),
                    _ => None,
                };
                if d.is_some() {
                    r.distro = d;
                    ok = true;
                }
            }
            "DISTRIB_RELEASE" => {
                if let Some(ver) = version_in(&v) {
                    r.version = Some(ver);
                }
            }
            "DISTRIB_DESCRIPTION" => {
                r.product_name = Some(v);
                ok = true;
            }
            _ => {}
        }
    }
    ok
}

/// The number after `word` in `s`, if `word` is followed by digits.
fn number_after<'a>(s: &'a str, word: &str) -> Option<(u32, &'a str)> {
    let i = s.find(word)? + word.len();
    let rest = &s[i..];
    let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((n.parse().ok()?, &rest[n.len()..]))
}

/// Matches `"<vendor>.*release N[.M]"`, `"… release N … Update M"` (libguestfs's three Red Hat
/// style patterns, tried together): (major, minor).
fn redhat_style(line: &str, vendor: &str) -> Option<(u32, u32)> {
    let i = line.find(vendor)?;
    let (major, rest) = number_after(&line[i..], "release ")?;
    if let Some((update, _)) = number_after(rest, "Update ") {
        return Some((major, update));
    }
    let minor = rest.strip_prefix('.').and_then(|r| number_after(r, "")).map(|(m, _)| m);
    Some((major, minor.unwrap_or(0)))
}

/// A generic release file: its first line is the product name; `pattern` must match it when
/// given, and the version comes from it (else any `N.M` in the line).
fn parse_generic(text: &str, distro: &'static str, pattern: Option<&str>, r: &mut Release) -> bool {
    let line = text.lines().next().unwrap_or("").trim_end();
    if line.is_empty() {
        return false;
    }
    let version = match pattern {
        Some(vendor) => match redhat_style(line, vendor) {
            Some(v) => Some(v),
            None => return false,
        },
        None => version_in(line),
    };
    r.product_name = Some(line.to_string());
    r.distro = Some(distro);
    if version.is_some() {
        r.version = version;
    }
    true
}

/// `/etc/SuSE-release`: product on line 1, `VERSION = N` and `PATCHLEVEL = M` after.
fn parse_suse_release(text: &str, r: &mut Release) -> bool {
    let mut lines = text.lines();
    let Some(product) = lines.next() else { return false };
    r.product_name = Some(product.to_string());
    let field = |l: Option<&str>, key: &str| l.and_then(|l| l.strip_prefix(key)).and_then(|v| v.trim().parse::<u32>().ok());
    if product.starts_with("SUSE Linux Enterprise ") || product.starts_with("SUSE LINUX Enterprise ") || product.starts_with("Novell Linux Desktop ") {
        let major = field(lines.next(), "VERSION =");
        let minor = field(lines.next(), "PATCHLEVEL =");
        r.distro = Some("sles");
        r.version = major.map(|m| (m, minor.unwrap_or(0)));
    } else if ["openSUSE ", "SuSE Linux ", "SUSE LINUX "].iter().any(|p| product.starts_with(p)) {
        if let Some(v) = lines.next().and_then(version_in) {
            r.version = Some(v);
        }
        r.distro = Some("opensuse");
    }
    true
}

/// Runs libguestfs's Linux release-file tests, in order, on a root filesystem. When none
/// names the distro, os-release's `ID_LIKE` does (a derivative with an `ID` nobody knows and no
/// release file of its parent is inspected, customized and sysprepped as the distro it says
/// it is like, not as unknown; libguestfs says unknown).
pub fn detect(view: &View) -> Release {
    let mut r = Release::default();
    type Test = (&'static str, fn(&View, &str, &mut Release) -> bool);
    let tests: &[Test] = &[
        ("/etc/os-release", |_, t, r| parse_os_release(t, r)),
        ("/etc/lsb-release", |_, t, r| parse_lsb_release(t, r)),
        ("/etc/oracle-release", |_, t, r| parse_generic(t, "oraclelinux", Some("Oracle Linux"), r)),
        ("/etc/centos-release", |_, t, r| parse_generic(t, "centos", Some("CentOS"), r)),
        ("/etc/rocky-release", |_, t, r| parse_generic(t, "rocky", Some("Rocky Linux"), r)),
        ("/etc/altlinux-release", |_, t, r| parse_generic(t, "altlinux", None, r)),
        ("/etc/redhat-release", |_, t, r| {
            if let Some(major) = t.lines().next().and_then(|l| number_after(l, "Fedora release ")).map(|(m, _)| m) {
                r.product_name = t.lines().next().map(str::to_string);
                r.distro = Some("fedora");
                r.version = Some((major, 0));
                return true;
            }
            parse_generic(t, "rhel", Some("Red Hat"), r)
                || parse_generic(t, "centos", Some("CentOS"), r)
                || parse_generic(t, "rocky", Some("Rocky Linux"), r)
                || parse_generic(t, "scientificlinux", Some("Scientific Linux"), r)
                || parse_generic(t, "redhat-based", None, r)
                || {
                    r.distro = Some("redhat-based");
                    true
                }
        }),
        ("/etc/debian_version", |_, t, r| parse_generic(t, "debian", None, r)),
        ("/etc/pardus-release", |_, t, r| parse_generic(t, "pardus", None, r)),
        ("/etc/arch-release", |_, _, r| {
            r.distro = Some("archlinux");
            true
        }),
        ("/etc/gentoo-release", |_, t, r| parse_generic(t, "gentoo", None, r)),
        ("/etc/meego-release", |_, t, r| parse_generic(t, "meego", None, r)),
        ("/etc/slackware-version", |_, t, r| parse_generic(t, "slackware", None, r)),
        ("/etc/ttylinux-target", |_, t, r| parse_generic(t, "ttylinux", None, r)),
        ("/etc/SuSE-release", |_, t, r| parse_suse_release(t, r)),
        ("/etc/cirros/version", |_, t, r| parse_generic(t, "cirros", None, r)),
        ("/etc/br-version", |v, t, r| {
            let distro = if v.is_file("/usr/share/cirros/logo") { "cirros" } else { "buildroot" };
            parse_generic(t, distro, None, r)
        }),
        ("/etc/alpine-release", |_, t, r| parse_generic(t, "alpinelinux", None, r)),
    ];
    for (file, test) in tests {
        if !view.is_file(file) {
            continue;
        }
        // An unreadable or oversized release file counts as an empty one.
        let text = view.small_text(file).unwrap_or_default();
        if test(view, &text, &mut r) {
            break;
        }
    }
    if r.distro.is_none() {
        r.distro = view.small_text("/etc/os-release").as_deref().and_then(distro_of_id_like);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(version_in("12.7"), Some((12, 7)));
        assert_eq!(version_in("3.19.1"), Some((3, 19)));
        assert_eq!(version_in("22.04"), Some((22, 4)));
        assert_eq!(version_in("7"), Some((7, 0)));
        assert_eq!(version_in("bookworm/sid"), None);
    }

    #[test]
    fn redhat_patterns() {
        assert_eq!(redhat_style("CentOS Linux release 7.9.2009 (Core)", "CentOS"), Some((7, 9)));
        assert_eq!(redhat_style("CentOS release 5 (Final)", "CentOS"), Some((5, 0)));
        assert_eq!(redhat_style("Red Hat Enterprise Linux AS release 4 (Nahant Update 9)", "Red Hat"), Some((4, 9)));
        assert_eq!(redhat_style("Red Hat Enterprise Linux release 9.4 (Plow)", "Red Hat"), Some((9, 4)));
        assert_eq!(redhat_style("Rocky Linux release 9.4 (Blue Onyx)", "Red Hat"), None);
        assert_eq!(redhat_style("Rocky Linux release 9.4 (Blue Onyx)", "Rocky Linux"), Some((9, 4)));
        assert_eq!(redhat_style("CentOS Stream release 9", "CentOS"), Some((9, 0)));
    }

    #[test]
    fn os_release_rules() {
        let mut r = Release::default();
        assert!(!parse_os_release("ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\n", &mut r));
        assert_eq!(r.distro, Some("debian"));
        let mut r = Release::default();
        assert!(parse_os_release("ID='ubuntu'\nPRETTY_NAME=\"Ubuntu \\\"22.04\\\"\"\nVERSION_ID=\"22.04\"\n", &mut r));
        assert_eq!(r.product_name.as_deref(), Some("Ubuntu \"22.04\""));
        let mut r = Release::default();
        // rolling distros have no version: 0.0
        assert!(parse_os_release("ID=arch\nPRETTY_NAME=\"Arch Linux\"\n", &mut r));
        assert_eq!(r.version, Some((0, 0)));
        let mut r = Release::default();
        assert!(!parse_os_release("ID=rocky\nPRETTY_NAME=\"Rocky Linux 9\"\nVERSION_ID=\"9\"\n", &mut r));
        let mut r = Release::default();
        // ID_LIKE is the last resort of detect(), not of os-release
        assert!(!parse_os_release("ID=neon\nID_LIKE=\"ubuntu debian\"\nPRETTY_NAME=\"KDE neon 6.2\"\nVERSION_ID=\"24.04\"\n", &mut r));
        assert_eq!((r.distro, r.version), (None, Some((24, 4))));
        assert_eq!(distro_of_id_like("ID=neon\nID_LIKE=\"mystery ubuntu debian\"\n"), Some("ubuntu"));
        assert_eq!(distro_of_id_like("ID=x\nID_LIKE='nothing known'\n"), None);
        let mut r = Release::default();
        assert!(parse_os_release("ID=\"amzn\"\nPRETTY_NAME=\"Amazon Linux 2023.6.20241121\"\nVERSION_ID=\"2023\"\n", &mut r));
        assert_eq!((r.distro, r.version), (Some("amazonlinux"), Some((2023, 0))));
        // libguestfs does not know ID=ol: /etc/oracle-release decides
        let mut r = Release::default();
        assert!(!parse_os_release("ID=\"ol\"\nPRETTY_NAME=\"Oracle Linux Server 9.4\"\nVERSION_ID=\"9.4\"\n", &mut r));
        assert!(!parse_os_release("\u{0}\u{1}=\u{ff}garbage", &mut Release::default()));
    }
}
