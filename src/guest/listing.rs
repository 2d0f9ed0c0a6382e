//! `ll`: the `ls -la` listing the libguestfs appliance prints (C locale, UTC): mode string,
//! link count, owner, group, size (or `major, minor`), date, name (`name -> target` for
//! symlinks), columns padded as GNU ls pads them, after a `total` line of 1 KiB blocks.
//! Owners are numeric and right-aligned (`ls -lan`): the guest's user names are not the
//! appliance's.

use crate::fs::{FileType, Stat};

/// One line's worth of data.
pub struct Row {
    /// `lstat` of the entry.
    pub stat: Stat,
    /// The mark after the mode string: `+` (ACL), `.` (SELinux context) or ` `.
    pub mark: char,
    /// The name as listed (bytes: names need not be UTF-8).
    pub name: Vec<u8>,
    /// A symlink's target.
    pub target: Option<Vec<u8>>,
}

/// GNU ls's "recent" window: half an average Gregorian year.
const SIX_MONTHS: i64 = 31_556_952 / 2;

/// The `-rwxr-xr-x` mode string.
pub fn mode_string(mode: u32) -> String {
    let t = match FileType::from_mode(mode) {
        Some(FileType::Directory) => 'd',
        Some(FileType::Symlink) => 'l',
        Some(FileType::CharDevice) => 'c',
        Some(FileType::BlockDevice) => 'b',
        Some(FileType::Fifo) => 'p',
        Some(FileType::Socket) => 's',
        Some(FileType::Regular) | None => '-',
    };
    let mut s = String::from(t);
    for (shift, special, lower, upper) in [
        (6, 0o4000, 's', 'S'),
        (3, 0o2000, 's', 'S'),
        (0, 0o1000, 't', 'T'),
    ] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (bits & 1 != 0, mode & special != 0) {
            (true, true) => lower,
            (false, true) => upper,
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// Linux `major()`/`minor()` of a device number.
fn major_minor(rdev: u64) -> (u64, u64) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major, minor)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (year, month 1-12, day, hour, minute) of a Unix time, UTC.
fn civil(t: i64) -> (i64, usize, i64, i64, i64) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (year, month, day) = crate::units::civil_from_days(days);
    (year, month as usize, day, secs / 3600, secs % 3600 / 60)
}

/// `ls`'s date column: `Nov 22 00:27` when within six months before `now`, else `Jan  1  2001`.
pub fn date(t: i64, now: i64) -> String {
    let (year, month, day, hour, minute) = civil(t);
    let mon = MONTHS[month - 1];
    if t > now - SIX_MONTHS && t <= now {
        format!("{mon} {day:>2} {hour:02}:{minute:02}")
    } else {
        format!("{mon} {day:>2}  {year}")
    }
}

/// The listing: `total N` and one line per row, rows in the order given. The mark column is
/// there only when some row has a mark, as in GNU ls.
pub fn render(rows: &[Row], now: i64) -> Vec<u8> {
    let marks = rows.iter().any(|r| r.mark != ' ');
    let size_of = |st: &Stat| match st.file_type() {
        Some(FileType::CharDevice | FileType::BlockDevice) => None,
        _ => Some(st.size.to_string()),
    };
    let devs: Vec<(u64, u64)> = rows
        .iter()
        .filter(|r| size_of(&r.stat).is_none())
        .map(|r| major_minor(r.stat.rdev))
        .collect();
    let major_w = devs
        .iter()
        .map(|d| d.0.to_string().len())
        .max()
        .unwrap_or(0);
    let minor_w = devs
        .iter()
        .map(|d| d.1.to_string().len())
        .max()
        .unwrap_or(0);
    let width = |f: &dyn Fn(&Row) -> usize| rows.iter().map(f).max().unwrap_or(0);
    let nlink_w = width(&|r| r.stat.nlink.to_string().len());
    let uid_w = width(&|r| r.stat.uid.to_string().len());
    let gid_w = width(&|r| r.stat.gid.to_string().len());
    let dev_w = if devs.is_empty() {
        0
    } else {
        major_w + 2 + minor_w
    };
    let size_w = width(&|r| size_of(&r.stat).map_or(0, |s| s.len())).max(dev_w);
    let blocks: u64 = rows.iter().map(|r| r.stat.blocks).sum();
    let mut out = format!("total {}\n", blocks.div_ceil(2)).into_bytes();
    for r in rows {
        let st = &r.stat;
        let size = size_of(st).unwrap_or_else(|| {
            let (ma, mi) = major_minor(st.rdev);
            format!("{ma:>major_w$}, {mi:>minor_w$}")
        });
        let mode = if marks {
            format!("{}{}", mode_string(st.mode), r.mark)
        } else {
            mode_string(st.mode)
        };
        out.extend_from_slice(
            format!(
                "{mode} {:>nlink_w$} {:>uid_w$} {:>gid_w$} {size:>size_w$} {} ",
                st.nlink,
                st.uid,
                st.gid,
                date(st.mtime.sec, now)
            )
            .as_bytes(),
        );
        out.extend_from_slice(&r.name);
        if let Some(t) = &r.target {
            out.extend_from_slice(b" -> ");
            out.extend_from_slice(t);
        }
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(mode_string(0o100644), "-rw-r--r--");
        assert_eq!(mode_string(0o040755), "drwxr-xr-x");
        assert_eq!(mode_string(0o041777), "drwxrwxrwt");
        assert_eq!(mode_string(0o104755), "-rwsr-xr-x");
        assert_eq!(mode_string(0o102644), "-rw-r-Sr--");
        assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
        assert_eq!(mode_string(0o020620), "crw--w----");
    }

    #[test]
    fn dates() {
        let now = 1_795_300_000; // 2026-11-22
        assert_eq!(date(978_307_200, now), "Jan  1  2001");
        assert!(
            date(now - 3600, now).contains(':'),
            "recent dates show the time"
        );
        assert_eq!(date(951_782_400, now), "Feb 29  2000");
        assert_eq!(
            date(now + 86_400, now).len(),
            12,
            "future dates show the year"
        );
        assert_eq!(major_minor(0x0103), (1, 3));
        assert_eq!(major_minor((136 << 8) | 10), (136, 10));
    }
}
