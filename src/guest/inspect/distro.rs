//! What libguestfs derives from a distro name and version: the package format, the package
//! manager and the libosinfo short id (libguestfs 1.48's tables, plus the distros
//! `release.rs` adds: `almalinux`, `amazonlinux`).

/// The package format of a distro (`inspect-get-package-format`).
pub fn package_format(distro: &str) -> &'static str {
    match distro {
        "altlinux" | "centos" | "rocky" | "fedora" | "mageia" | "mandriva" | "meego" | "neokylin" | "openmandriva"
        | "opensuse" | "oraclelinux" | "redhat-based" | "rhel" | "scientificlinux" | "sles" | "suse-based"
        | "almalinux" | "amazonlinux" => "rpm",
        "debian" | "kalilinux" | "kylin" | "linuxmint" | "ubuntu" => "deb",
        "archlinux" => "pacman",
        "gentoo" => "ebuild",
        "pardus" => "pisi",
        "alpinelinux" => "apk",
        "voidlinux" => "xbps",
        _ => "unknown",
    }
}

/// The package manager of a distro (`inspect-get-package-management`): `has_dnf` tells
/// whether `/usr/bin/dnf` exists (libguestfs's test for Fedora ≥ 22).
pub fn package_management(distro: &str, major: u32, has_dnf: bool) -> &'static str {
    match distro {
        "meego" => "yum",
        "fedora" if major >= 22 && has_dnf => "dnf",
        "fedora" if major >= 1 => "yum",
        "neokylin" => "dnf",
        "centos" | "rocky" | "oraclelinux" | "redhat-based" | "rhel" | "scientificlinux" | "almalinux" => match major {
            8.. => "dnf",
            5..=7 => "yum",
            2..=4 => "up2date",
            _ => "unknown",
        },
        // Amazon Linux 2 uses yum, 2023 (and later) dnf.
        "amazonlinux" => match major {
            2022.. => "dnf",
            1.. => "yum",
            0 => "unknown",
        },
        "altlinux" | "debian" | "kalilinux" | "kylin" | "linuxmint" | "ubuntu" => "apt",
        "archlinux" => "pacman",
        "gentoo" => "portage",
        "pardus" => "pisi",
        "mageia" | "mandriva" => "urpmi",
        "opensuse" | "sles" | "suse-based" => "zypper",
        "alpinelinux" => "apk",
        "voidlinux" => "xbps",
        "openmandriva" => "dnf",
        _ => "unknown",
    }
}

/// The libosinfo short id of a Linux guest (`inspect-get-osinfo`): libguestfs's rules
/// (`rhel9.4`, `centos7.0`, `rocky9`, `debian12`, `ubuntu22.04`, `fedora40`, `sles15sp5`…),
/// except that CentOS Stream gets osinfo-db's `centos-streamN` (libguestfs says `centosN`,
/// an id osinfo-db does not have), AlmaLinux `almalinuxN`, and Amazon Linux `unknown`
/// (osinfo-db has no entry for it).
pub fn osinfo(distro: &str, product_name: &str, major: u32, minor: u32) -> String {
    match distro {
        "centos" if major >= 8 && product_name.contains("Stream") => format!("centos-stream{major}"),
        "centos" if major >= 8 => format!("centos{major}"),
        "centos" if major == 7 => "centos7.0".into(),
        "centos" if major == 6 => format!("centos6.{minor}"),
        "rocky" | "almalinux" if major >= 8 => format!("{distro}{major}"),
        "debian" if major >= 4 => format!("debian{major}"),
        "fedora" | "mageia" => format!("{distro}{major}"),
        "sles" if minor == 0 => format!("sles{major}"),
        "sles" => format!("sles{major}sp{minor}"),
        "ubuntu" => format!("ubuntu{major}.{minor:02}"),
        "archlinux" | "gentoo" | "voidlinux" => distro.into(),
        "altlinux" if major >= 8 => format!("alt{major}.{minor}"),
        "altlinux" => format!("altlinux{major}.{minor}"),
        "amazonlinux" | "unknown" => "unknown".into(),
        _ if major > 0 || minor > 0 => format!("{distro}{major}.{minor}"),
        _ => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osinfo_ids() {
        assert_eq!(osinfo("rhel", "Red Hat Enterprise Linux 9.4 (Plow)", 9, 4), "rhel9.4");
        assert_eq!(osinfo("rhel", "", 7, 9), "rhel7.9");
        assert_eq!(osinfo("rocky", "", 9, 4), "rocky9");
        assert_eq!(osinfo("rocky", "", 7, 0), "rocky7.0");
        assert_eq!(osinfo("centos", "CentOS Stream release 9", 9, 0), "centos-stream9");
        assert_eq!(osinfo("centos", "CentOS Linux release 8.5.2111", 8, 5), "centos8");
        assert_eq!(osinfo("centos", "", 7, 9), "centos7.0");
        assert_eq!(osinfo("centos", "", 6, 10), "centos6.10");
        assert_eq!(osinfo("debian", "", 12, 7), "debian12");
        assert_eq!(osinfo("ubuntu", "", 22, 4), "ubuntu22.04");
        assert_eq!(osinfo("fedora", "", 40, 0), "fedora40");
        assert_eq!(osinfo("sles", "", 15, 5), "sles15sp5");
        assert_eq!(osinfo("archlinux", "", 0, 0), "archlinux");
        assert_eq!(osinfo("oraclelinux", "", 9, 4), "oraclelinux9.4");
        assert_eq!(osinfo("almalinux", "", 9, 4), "almalinux9");
        assert_eq!(osinfo("amazonlinux", "", 2023, 6), "unknown");
        assert_eq!(osinfo("redhat-based", "", 0, 0), "unknown");
        assert_eq!(osinfo("unknown", "", 5, 0), "unknown");
    }

    #[test]
    fn managers() {
        assert_eq!(package_management("fedora", 40, true), "dnf");
        assert_eq!(package_management("fedora", 40, false), "yum");
        assert_eq!(package_management("rhel", 9, false), "dnf");
        assert_eq!(package_management("rhel", 7, false), "yum");
        assert_eq!(package_management("centos", 0, false), "unknown");
        assert_eq!(package_management("amazonlinux", 2023, false), "dnf");
        assert_eq!(package_management("amazonlinux", 2, false), "yum");
        assert_eq!(package_format("amazonlinux"), "rpm");
        assert_eq!(package_format("cirros"), "unknown");
    }
}
