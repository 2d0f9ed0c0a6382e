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

/// Formats `bytes` the way libguestfs tools do with `-h`: one decimal, binary prefixes
/// (`512`, `1.0K`, `20M`, `3.5G`), as `virt-filesystems -h` and `df -h` print.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    if bytes < 1024 {
        return bytes.to_string();
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        // one decimal below 10, rounded up like gnulib's human_readable (ceiling)
        let tenths = (value * 10.0).ceil() / 10.0;
        if tenths < 10.0 {
            return format!("{tenths:.1}{}", UNITS[unit]);
        }
        return format!("10{}", UNITS[unit]);
    }
    format!("{}{}", value.ceil() as u64, UNITS[unit])
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
        assert_eq!(human_size(100 << 20), "100M");
        assert_eq!(human_size((1 << 30) + 1), "1.1G");
        assert_eq!(human_size(10 << 30), "10G");
    }
}
