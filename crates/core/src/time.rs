//! UTC calendar arithmetic (Howard Hinnant's `days_from_civil` and its inverse), the one place
//! headroom turns a `SystemTime` into a date and back: manifest stamps, log lines and `--since`,
//! the usage history's days and hours.

use std::time::{SystemTime, UNIX_EPOCH};

/// (year, month, day) of a day number since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The day number since 1970-01-01 of a (year, month 1–12, day) date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let (m, d) = (i64::from(m), i64::from(d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD<sep>HH:MM:SS` in UTC, whole seconds (a time before the epoch is the epoch).
pub fn utc(t: SystemTime, sep: char) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}{sep}{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The current time as RFC 3339 in UTC, whole seconds: `2026-11-24T13:59:11Z`.
pub fn now_rfc3339() -> String {
    format!("{}Z", utc(SystemTime::now(), 'T'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn days_round_trip_across_leap_years_and_the_epoch() {
        for days in [-719_468, -1, 0, 19_782, 20_424, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
    }

    #[test]
    fn utc_renders_whole_seconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_709_251_199_999);
        assert_eq!(utc(t, 'T'), "2024-02-29T23:59:59");
        assert_eq!(utc(UNIX_EPOCH, ' '), "1970-01-01 00:00:00");
        assert_eq!(now_rfc3339().len(), 20);
    }
}
