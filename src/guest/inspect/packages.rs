//! Installed applications from the package databases: dpkg's `/var/lib/dpkg/status`, apk's
//! `/lib/apk/db/installed` and pacman's `/var/lib/pacman/local/*/desc`; rpm's in `rpmdb/`.

use super::view::{View, DB_FILE_MAX, SMALL_FILE_MAX};
use super::application::Application;
use super::Error;

/// Most pacman package directories read.
const MAX_PACMAN_PACKAGES: usize = 100_000;

/// `[epoch:]version[-release]` → (epoch, version, release).
fn split_version(full: &str) -> (i32, String, String) {
    let (epoch, rest) = match full.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), rest),
        _ => (0, full),
    };
    match rest.split_once('-') {
        Some((v, r)) => (epoch, v.to_string(), r.to_string()),
        None => (epoch, rest.to_string(), String::new()),
    }
}

/// The text fields of an application besides name and version (libguestfs leaves the
/// ones a format lacks empty).
#[derive(Default)]
struct Fields<'a> {
    arch: &'a str,
    url: &'a str,
    source: &'a str,
    summary: &'a str,
    description: String,
}

/// An application from its name, full version and the other fields.
fn app(name: &str, full_version: &str, f: Fields) -> Application {
    let (epoch, version, release) = split_version(full_version);
    Application {
        name: name.to_string(),
        epoch,
        version,
        release,
        arch: f.arch.to_string(),
        url: f.url.to_string(),
        source_package: f.source.to_string(),
        summary: f.summary.to_string(),
        description: f.description,
        ..Default::default()
    }
}

/// dpkg status: stanzas separated by blank lines; packages whose `Status` says installed.
/// The first line of `Description` is the summary, its continuation lines the description.
pub fn parse_dpkg_status(text: &str) -> Vec<Application> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |key: &str| {
            stanza.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':'))).map(str::trim).unwrap_or("")
        };
        let name = field("Package");
        if name.is_empty() || !field("Status").contains("installed") || field("Version").is_empty() {
            continue;
        }
        let description = stanza
            .lines()
            .skip_while(|l| !l.starts_with("Description:"))
            .skip(1)
            .take_while(|l| l.starts_with(' '))
            .map(|l| &l[1..])
            .collect::<Vec<_>>()
            .join("\n");
        let fields = Fields {
            arch: field("Architecture"),
            url: field("Homepage"),
            source: field("Source").split_whitespace().next().unwrap_or(""),
            summary: field("Description"),
            description,
        };
        out.push(app(name, field("Version"), fields));
    }
    out
}

/// apk's installed database: stanzas of `X:value` lines separated by blank lines. `T` is the
/// description; the release drops its leading `r` (`1.2-r4` → release `4`).
pub fn parse_apk_installed(text: &str) -> Vec<Application> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |key: &str| stanza.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':'))).unwrap_or("");
        let name = field("P");
        if name.is_empty() || field("V").is_empty() {
            continue;
        }
        let mut a = app(name, field("V"), Fields { arch: field("A"), url: field("U"), description: field("T").to_string(), ..Fields::default() });
        if let Some(r) = a.release.strip_prefix('r') {
            a.release = r.to_string();
        }
        out.push(a);
    }
    out
}

/// One pacman `desc` file: `%KEY%` lines each followed by its value line. Name, version with a
/// release, and arch are mandatory; `%DESC%` is the description.
pub fn parse_pacman_desc(text: &str) -> Option<Application> {
    let field = |key: &str| {
        let mut lines = text.lines();
        lines.find(|l| l.trim_end() == key)?;
        lines.next().map(str::trim).filter(|v| !v.is_empty())
    };
    let name = field("%NAME%")?;
    let a = app(
        name,
        field("%VERSION%")?,
        Fields { arch: field("%ARCH%")?, url: field("%URL%").unwrap_or(""), description: field("%DESC%").unwrap_or("").to_string(), ..Fields::default() },
    );
    (!a.version.is_empty() && !a.release.is_empty()).then_some(a)
}

/// The applications of a root by its package format, sorted by name, with warnings about
/// what a damaged database lacks.
pub fn list(view: &View, package_format: &str) -> Result<(Vec<Application>, Vec<String>), Error> {
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
        // sorted as libguestfs sorts them: by name only
        "rpm" => return super::rpmdb::list(view),
        _ => Vec::new(),
    };
    apps.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.version.cmp(&b.version)));
    Ok((apps, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_split() {
        assert_eq!(split_version("1:9.2p1-2+deb12u3"), (1, "9.2p1".into(), "2+deb12u3".into()));
        assert_eq!(split_version("3.118ubuntu5"), (0, "3.118ubuntu5".into(), String::new()));
        assert_eq!(split_version("1.2.4_git20230717-r4"), (0, "1.2.4_git20230717".into(), "r4".into()));
        // libguestfs splits at the first '-'
        assert_eq!(split_version("2:1.2-3-4"), (2, "1.2".into(), "3-4".into()));
    }

    #[test]
    fn dpkg_only_installed() {
        let s = "Package: a\nStatus: install ok installed\nVersion: 1.0-1\nArchitecture: amd64\nDescription: A\n more\n\n\
                 Package: b\nStatus: deinstall ok config-files\nVersion: 2\n\nGarbage\n\n";
        let apps = parse_dpkg_status(s);
        assert_eq!(apps.len(), 1);
        let fields = Fields { arch: "amd64", summary: "A", description: "more".into(), ..Fields::default() };
        assert_eq!(apps[0], app("a", "1.0-1", fields));
    }

    #[test]
    fn pacman_desc() {
        let a = parse_pacman_desc("%NAME%\nzlib\n\n%VERSION%\n1:1.3.1-1\n\n%ARCH%\nx86_64\n").unwrap();
        assert_eq!((a.name.as_str(), a.epoch, a.version.as_str(), a.release.as_str()), ("zlib", 1, "1.3.1", "1"));
        assert_eq!(parse_pacman_desc("%VERSION%\n1\n"), None);
        // release is mandatory
        assert_eq!(parse_pacman_desc("%NAME%\nz\n%VERSION%\n1\n%ARCH%\nany\n"), None);
    }
}
