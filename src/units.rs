//! Unit newtypes where mix-ups are likely: byte offsets and 512-byte sectors.

use std::fmt;

/// The logical sector size every layer uses (libguestfs assumes 512-byte sectors too).
pub const SECTOR_SIZE: u64 = 512;

/// A count or position in 512-byte sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Sectors(pub u64);

impl Sectors {
    /// The same position in bytes, or `None` if it does not fit in a `u64`.
    pub fn to_bytes(self) -> Option<u64> {
        self.0.checked_mul(SECTOR_SIZE)
    }

    /// Whole sectors in `bytes` (rounding down).
    pub fn from_bytes_floor(bytes: u64) -> Sectors {
        Sectors(bytes / SECTOR_SIZE)
    }
}

impl fmt::Display for Sectors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Formats `bytes` as gnulib's `human_readable` does with autoscale, base 1024, SI suffixes and
/// round-to-nearest (ties to even) — the `-h` output of `virt-filesystems`: `512`, `1.0K`,
/// `9.5G`, `500M`. One decimal is shown while the scaled value is below 10.
pub fn human_size(bytes: u64) -> String {
    const SUFFIX: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    let mut exp = 0usize;
    let mut div: u128 = 1;
    while (bytes as u128) >= div * 1024 && exp < SUFFIX.len() - 1 {
        div *= 1024;
        exp += 1;
    }
    if exp == 0 {
        return bytes.to_string();
    }
    let n = bytes as u128;
    if n / div < 10 {
        let tenths = round_half_even(n * 10, div);
        if tenths < 100 {
            return format!("{}.{}{}", tenths / 10, tenths % 10, SUFFIX[exp]);
        }
    }
    let whole = round_half_even(n, div);
    if whole == 1024 && exp < SUFFIX.len() - 1 {
        return format!("1.0{}", SUFFIX[exp + 1]);
    }
    format!("{whole}{}", SUFFIX[exp])
}

/// `num / den` rounded to the nearest integer, ties to even.
fn round_half_even(num: u128, den: u128) -> u128 {
    let (q, r) = (num / den, num % den);
    match (2 * r).cmp(&den) {
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal if q % 2 == 1 => q + 1,
        _ => q,
    }
}

/// Year, month (1..12), day (1..31) of `days` since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sectors_convert() {
        assert_eq!(Sectors(2048).to_bytes(), Some(1 << 20));
        assert_eq!(Sectors(u64::MAX).to_bytes(), None);
        assert_eq!(Sectors::from_bytes_floor(1023), Sectors(1));
    }

    #[test]
    fn human_sizes_like_gnulib() {
        assert_eq!(human_size(0), "0");
        assert_eq!(human_size(1023), "1023");
        assert_eq!(human_size(1024), "1.0K");
        assert_eq!(human_size(1536), "1.5K");
        // the two examples of the virt-filesystems man page
        assert_eq!(human_size(524_288_000), "500M");
        assert_eq!(human_size(10_212_081_664), "9.5G");
        assert_eq!(human_size((1 << 30) + 1), "1.0G");
        assert_eq!(human_size(10 << 30), "10G");
        // 9.96K rounds to 10K; 1023.9K rounds up into the next unit
        assert_eq!(human_size(10_200), "10K");
        assert_eq!(human_size(1_048_500), "1.0M");
        // ties to even: 1.25K -> 1.2K, 1.75K -> 1.8K
        assert_eq!(human_size(1280), "1.2K");
        assert_eq!(human_size(1792), "1.8K");
    }
}
