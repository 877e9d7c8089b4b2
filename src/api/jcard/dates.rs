//! Dates as the jCard document writes them: `yyyy-MM-dd` in requests, ISO-8601 instants on
//! entries, and Java's `Date.toString()` for statement bounds (in UTC, the switch's zone).

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

use crate::clock::EpochMs;

/// miniGL's start of time: its day-floor of a missing start date (a month-indexing quirk kept
/// because the document's examples show it).
pub const STATEMENT_START_DEFAULT: &str = "1970-02-01";
/// miniGL's end of time: the day-ceiling of a missing end date.
pub const STATEMENT_END_DEFAULT: &str = "2100-01-31";

const DAY_MS: i64 = 86_400_000;

/// Midnight UTC starting `yyyy-MM-dd` (exactly that shape: `2015-6-2` is refused).
pub fn parse_day_start(text: &str) -> Option<EpochMs> {
    let text = text.trim();
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(index, byte)| {
            if index == 4 || index == 7 {
                byte == b'-'
            } else {
                byte.is_ascii_digit()
            }
        });
    if !shaped {
        return None;
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// Midnight UTC after the day `yyyy-MM-dd` (the exclusive end of that day).
pub fn parse_day_end(text: &str) -> Option<EpochMs> {
    parse_day_start(text)?.checked_add(DAY_MS)
}

fn utc(ms: EpochMs) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// `yyyy-MM-dd` of an instant.
pub fn format_day(ms: EpochMs) -> String {
    let mut text = String::with_capacity(10);
    push_day(&mut text, ms);
    text
}

/// `yyyy-MM-dd` of an instant, appended to `out`.
pub fn push_day(out: &mut String, ms: EpochMs) {
    // Digits pushed one by one, not `format("%Y-%m-%d")` (which parses the pattern on every
    // call) nor `format!`: this is on the balance enquiry's path.
    // Years outside 0-9999 are written as chrono writes them (`+10000`, `-0001`).
    let day = utc(ms);
    let Some(year) = u32::try_from(day.year()).ok().filter(|year| *year <= 9999) else {
        out.push_str(&day.format("%Y-%m-%d").to_string());
        return;
    };
    for (value, width) in [(year, 4), (day.month(), 2), (day.day(), 2)] {
        if width == 2 {
            out.push('-');
        }
        for place in (0..width).rev() {
            out.extend(char::from_digit(value / 10_u32.pow(place) % 10, 10));
        }
    }
}

/// `2014-06-01T12:00:00Z`.
pub fn format_instant(ms: EpochMs) -> String {
    utc(ms).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `2016-03-23 11:23:55.982`.
pub fn format_millis(ms: EpochMs) -> String {
    utc(ms).format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// `2018-05-04 16:17:54`.
pub fn format_seconds(ms: EpochMs) -> String {
    utc(ms).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Java `Date.toString()` in UTC: `Sun Feb 01 00:00:00 UTC 1970`.
pub fn format_java(ms: EpochMs) -> String {
    utc(ms).format("%a %b %d %H:%M:%S UTC %Y").to_string()
}

/// The last second of the day that ends (exclusively) at `day_end_ms`, Java style.
pub fn format_java_day_end(day_end_ms: EpochMs) -> String {
    format_java(day_end_ms.saturating_sub(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_defaults_render_like_the_document() {
        let start = parse_day_start(STATEMENT_START_DEFAULT).unwrap();
        assert_eq!(format_java(start), "Sun Feb 01 00:00:00 UTC 1970");
        let end = parse_day_end(STATEMENT_END_DEFAULT).unwrap();
        assert_eq!(format_java_day_end(end), "Sun Jan 31 23:59:59 UTC 2100");
    }

    #[test]
    fn days_parse_strictly() {
        assert_eq!(parse_day_start("1970-01-02"), Some(DAY_MS));
        assert_eq!(parse_day_end("1970-01-01"), Some(DAY_MS));
        assert_eq!(parse_day_start("2015-6-22x"), None);
        assert_eq!(parse_day_start("2015-6-2"), None);
        assert_eq!(parse_day_start("+015-06-02"), None);
        assert_eq!(parse_day_start("1990-04-31"), None);
        assert_eq!(format_instant(DAY_MS), "1970-01-02T00:00:00Z");
        assert_eq!(format_day(DAY_MS), "1970-01-02");
    }

    #[test]
    fn days_format_as_chrono_writes_them() {
        // Every day pushes its own digits; chrono's pattern is the reference, over the years
        // the switch meets and the edges of the four-digit range.
        let days =
            [-719_529_i64, -719_528, -1, 0, 59, 10_956, 20_000, 20_778, 2_932_896, 2_932_897];
        for day in days.into_iter().chain((0..800).map(|n| 19_000 + n * 7)) {
            let ms = day * DAY_MS + 12 * 3_600_000;
            assert_eq!(format_day(ms), utc(ms).format("%Y-%m-%d").to_string(), "day {day}");
        }
    }
}
