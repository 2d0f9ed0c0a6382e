//! Installed applications from the package databases: dpkg's `/var/lib/dpkg/status`, apk's
//! `/lib/apk/db/installed` and pacman's `/var/lib/pacman/local/*/desc`.

use super::view::{View, DB_FILE_MAX, SMALL_FILE_MAX};
use super::Error;
use serde::Serialize;

/// Most pacman package directories read.
const MAX_PACMAN_PACKAGES: usize = 100_000;

/// An installed application (libguestfs `application2`, the fields Linux package managers fill).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Application {
    /// Package name.
    pub name: String,
    /// Epoch (0 when none).
    pub epoch: i32,
    /// Upstream version.
    pub version: String,
    /// Distribution release (the part after the last `-`), or empty.
    pub release: String,
    /// Package architecture (`amd64`, `x86_64`, `all`, `any`…), or empty.
    pub arch: String,
    /// Upstream URL, or empty.
    pub url: String,
    /// Source package, or empty.
    pub source_package: String,
    /// One-line summary, or empty.
    pub summary: String,
}

/// `[epoch:]version[-release]` → (epoch, version, release).
fn split_version(full: &str) -> (i32, String, String) {
    let (epoch, rest) = match full.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), rest),
        _ => (0, full),
    };
    match rest.rsplit_once('-') {
        Some((v, r)) => (epoch, v.to_string(), r.to_string()),
        None => (epoch, rest.to_string(), String::new()),
    }
}

/// An application from its name, full version and the other fields.
fn app(name: &str, full_version: &str, arch: &str, url: &str, source: &str, summary: &str) -> Application {
    let (epoch, version, release) = split_version(full_version);
    Application {
        name: name.to_string(),
        epoch,
        version,
        release,
        arch: arch.to_string(),
        url: url.to_string(),
        source_package: source.to_string(),
        summary: summary.to_string(),
    }
}

/// dpkg status: stanzas separated by blank lines; only `install ok installed` packages.
pub fn parse_dpkg_status(text: &str) -> Vec<Application> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |key: &str| {
            stanza.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':'))).map(str::trim).unwrap_or("")
        };
        let name = field("Package");
        if name.is_empty() || field("Status") != "install ok installed" {
            continue;
        }
        let source = field("Source").split_whitespace().next().unwrap_or("");
        out.push(app(name, field("Version"), field("Architecture"), field("Homepage"), source, field("Description")));
    }
    out
}

/// apk's installed database: stanzas of `X:value` lines separated by blank lines.
pub fn parse_apk_installed(text: &str) -> Vec<Application> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |key: &str| stanza.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':'))).unwrap_or("");
        let name = field("P");
        if name.is_empty() {
            continue;
        }
        out.push(app(name, field("V"), field("A"), field("U"), field("o"), field("T")));
    }
    out
}

/// One pacman `desc` file: `%KEY%` lines each followed by its value lines.
pub fn parse_pacman_desc(text: &str) -> Option<Application> {
    let field = |key: &str| {
        let mut lines = text.lines();
        lines.find(|l| l.trim_end() == key)?;
        lines.next().map(str::trim)
    };
    let name = field("%NAME%").filter(|n| !n.is_empty())?;
    let f = |k| field(k).unwrap_or("");
    Some(app(name, f("%VERSION%"), f("%ARCH%"), f("%URL%"), f("%BASE%"), f("%DESC%")))
}

/// The applications of a root by its package format, sorted by name.
pub fn list(view: &View, package_format: &str) -> Result<Vec<Application>, Error> {
    let text = |path: &str| -> Result<String, Error> {
        match view.read_capped(path, DB_FILE_MAX)? {
            Some(data) => Ok(String::from_utf8_lossy(&data).into_owned()),
            None => Err(Error::NoDatabase(path.to_string())),
        }
    };
    let mut apps = match package_format {
        "deb" => parse_dpkg_status(&text("/var/lib/dpkg/status")?),
        "apk" => parse_apk_installed(&text("/lib/apk/db/installed")?),
        "pacman" => {
            let dir = "/var/lib/pacman/local";
            let mut apps = Vec::new();
            for name in view.list_dir(dir).into_iter().take(MAX_PACMAN_PACKAGES) {
                let path = format!("{dir}/{}/desc", String::from_utf8_lossy(&name));
                if let Some(a) = view.read_capped(&path, SMALL_FILE_MAX).ok().flatten().and_then(|d| parse_pacman_desc(&String::from_utf8_lossy(&d))) {
                    apps.push(a);
                }
            }
            apps
        }
        "rpm" => return Err(Error::Unsupported("reading the RPM database (/var/lib/rpm: Berkeley DB or SQLite)".into())),
        _ => Vec::new(),
    };
    apps.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.version.cmp(&b.version)));
    Ok(apps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_split() {
        assert_eq!(split_version("1:9.2p1-2+deb12u3"), (1, "9.2p1".into(), "2+deb12u3".into()));
        assert_eq!(split_version("3.118ubuntu5"), (0, "3.118ubuntu5".into(), String::new()));
        assert_eq!(split_version("1.2.4_git20230717-r4"), (0, "1.2.4_git20230717".into(), "r4".into()));
        assert_eq!(split_version("x:1-2-3"), (0, "x:1-2".into(), "3".into()));
    }

    #[test]
    fn dpkg_only_installed() {
        let s = "Package: a\nStatus: install ok installed\nVersion: 1.0-1\nArchitecture: amd64\nDescription: A\n more\n\n\
                 Package: b\nStatus: deinstall ok config-files\nVersion: 2\n\nGarbage\n\n";
        let apps = parse_dpkg_status(s);
        assert_eq!(apps.len(), 1);
        assert_eq!(apps[0], app("a", "1.0-1", "amd64", "", "", "A"));
    }

    #[test]
    fn pacman_desc() {
        let a = parse_pacman_desc("%NAME%\nzlib\n\n%VERSION%\n1:1.3.1-1\n\n%ARCH%\nx86_64\n").unwrap();
        assert_eq!((a.name.as_str(), a.epoch, a.version.as_str(), a.release.as_str()), ("zlib", 1, "1.3.1", "1"));
        assert_eq!(parse_pacman_desc("%VERSION%\n1\n"), None);
    }
}
