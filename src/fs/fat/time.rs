//! Unix time to DOS date and time as Linux's vfat driver stores it (`fat_time_unix2fat` with
//! no `tz=` option and a kernel time zone of UTC), and the clock `fatfs` stamps new and
//! written entries with (without its `chrono` feature it would write 1980-01-01 00:00:00).

use std::time::{SystemTime, UNIX_EPOCH};

/// A broken-down UTC time inside FAT's range (1980-01-01 00:00:00 .. 2107-12-31 23:59:59).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DosTime {
    year: u16,
    month: u16,
    day: u16,
    hour: u16,
    min: u16,
    sec: u16,
}

impl DosTime {
    /// `sec` seconds since the epoch, clamped to FAT's range as Linux clamps it.
    pub(super) fn from_unix(sec: i64) -> DosTime {
        let days = sec.div_euclid(86400);
        let rem = sec.rem_euclid(86400);
        let (year, month, day) = civil_from_days(days);
        if year < 1980 {
            return DosTime { year: 1980, month: 1, day: 1, hour: 0, min: 0, sec: 0 };
        }
        if year > 2107 {
            return DosTime { year: 2107, month: 12, day: 31, hour: 23, min: 59, sec: 59 };
        }
        // In range: every field fits its DOS bit width.
        DosTime {
            year: year as u16,
            month: month as u16,
            day: day as u16,
            hour: (rem / 3600) as u16,
            min: (rem / 60 % 60) as u16,
            sec: (rem % 60) as u16,
        }
    }

    /// The DOS time word (2-second resolution).
    pub(super) fn time(self) -> u16 {
        (self.hour << 11) | (self.min << 5) | (self.sec / 2)
    }

    /// The DOS date word.
    pub(super) fn date(self) -> u16 {
        ((self.year - 1980) << 9) | (self.month << 5) | self.day
    }

    fn fatfs(self) -> fatfs::DateTime {
        fatfs::DateTime {
            date: fatfs::Date { year: self.year, month: self.month, day: self.day },
            time: fatfs::Time { hour: self.hour, min: self.min, sec: self.sec, millis: 0 },
        }
    }
}

use crate::units::civil_from_days;

/// The current time, for the entries `fatfs` creates and the files it writes.
#[derive(Debug)]
pub(super) struct Now;

/// The one instance (`fatfs` takes a `&'static` provider).
pub(super) static NOW: Now = Now;

impl Now {
    /// Seconds since the epoch now (0 if the clock is before 1970: clamped to 1980 anyway).
    pub(super) fn unix() -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

impl fatfs::TimeProvider for Now {
    fn get_current_date(&self) -> fatfs::Date {
        DosTime::from_unix(Now::unix()).fatfs().date
    }

    fn get_current_date_time(&self) -> fatfs::DateTime {
        DosTime::from_unix(Now::unix()).fatfs()
    }
}

#[cfg(test)]
mod tests {
    use super::super::dirent::fat2unix;
    use super::*;

    #[test]
    fn round_trips_through_linux_decoding() {
        for &t in &[315_532_800i64, 1_560_606_330, 951_868_800, 4_107_542_398, 1_700_000_001, 2_147_483_647] {
            let d = DosTime::from_unix(t);
            assert_eq!(fat2unix(d.time(), d.date()), t & !1, "{t}");
        }
    }

    #[test]
    fn clamps_like_linux() {
        let lo = DosTime::from_unix(0);
        assert_eq!((lo.time(), lo.date()), (0, (1 << 5) | 1));
        let lo = DosTime::from_unix(-86_400 * 400);
        assert_eq!((lo.time(), lo.date()), (0, (1 << 5) | 1));
        let hi = DosTime::from_unix(i64::MAX / 2);
        assert_eq!((hi.time(), hi.date()), ((23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31));
    }

    #[test]
    fn now_is_now() {
        let d = fatfs::TimeProvider::get_current_date_time(&NOW);
        assert!(d.date.year >= 2024, "{d:?}");
    }
}
