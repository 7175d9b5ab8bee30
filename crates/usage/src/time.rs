//! Unix milliseconds and their UTC calendar forms (RFC 3339, days, hours), on `headroom_core::time`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch; a time before it (a badly set clock) counts as negative.
pub(crate) fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// `2026-12-02`
pub(crate) fn day(ms: i64) -> String {
    let (y, m, d) = headroom_core::time::civil_from_days(ms.div_euclid(86_400_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2026-12-02T15:00:00Z`: the start of the hour `ms` falls in.
pub(crate) fn hour(ms: i64) -> String {
    let h = ms.rem_euclid(86_400_000) / 3_600_000;
    format!("{}T{h:02}:00:00Z", day(ms))
}

/// `2026-12-02T15:09:10.123Z`
pub(crate) fn rfc3339(ms: i64) -> String {
    let in_day = ms.rem_euclid(86_400_000);
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{}T{h:02}:{m:02}:{s:02}.{milli:03}Z", day(ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn calendar_forms() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        // 2024-02-29T23:59:59.999Z, a leap day.
        assert_eq!(rfc3339(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        assert_eq!(day(1_709_251_200_000), "2024-03-01");
        assert_eq!(hour(1_764_688_150_000), "2025-12-02T15:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_688_150_123);
        assert_eq!(unix_ms(t), 1_764_688_150_123);
        assert_eq!(
            unix_ms(SystemTime::UNIX_EPOCH - Duration::from_millis(5)),
            -5
        );
    }
}
