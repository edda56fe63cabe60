//! Event times: parsing the forms the sources log, and Splunk's
//! `convert ctime` rendering with a fixed UTC offset.

use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, fmt::strtime};

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;

/// Parses `2020-08-01 06:55:19.289` (UTC), `2020-10-08T11:03:46.6179203Z`,
/// RFC 3339 with an offset, or epoch seconds / milliseconds as digits
/// (`1713805173418`, CrowdStrike's `timestamp`). Times without a zone are UTC.
pub fn parse(text: &str) -> Option<Micros> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return parse_epoch(t);
    }
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Some(ts.as_microsecond());
    }
    let dt = t.parse::<DateTime>().ok()?;
    let ts = dt.to_zoned(TimeZone::UTC).ok()?.timestamp();
    Some(ts.as_microsecond())
}

/// Epoch digits: 13+ digit integers are milliseconds, shorter ones seconds;
/// a fraction is allowed (`1713805173.321`).
fn parse_epoch(t: &str) -> Option<Micros> {
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let n: i64 = int.parse().ok()?;
    let (secs, mut micros) = if int.len() >= 13 {
        (n / 1000, (n % 1000) * 1000)
    } else {
        (n, 0)
    };
    if int.len() < 13 && !frac.is_empty() {
        let digits: String = frac.chars().chain("000000".chars()).take(6).collect();
        micros += digits.parse::<i64>().ok()?;
    }
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

/// Parses a fixed offset: `Z`, `UTC`, `+02:00`, `-0530`, `+2`.
pub fn parse_offset(text: &str) -> Result<i32, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") || t.is_empty() {
        return Ok(0);
    }
    let bad = || format!("invalid time zone offset {text:?}: expected ±HH:MM");
    let (sign, rest) = match t.as_bytes()[0] {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = if let Some((h, m)) = rest.split_once(':') {
        (h, m)
    } else if rest.len() == 4 {
        rest.split_at(2)
    } else {
        (rest, "0")
    };
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// Renders `micros` with a strftime `format` at a fixed `offset_seconds`.
pub fn format(micros: Micros, format: &str, offset_seconds: i32) -> String {
    let Ok(ts) = Timestamp::from_microsecond(micros) else {
        return String::new();
    };
    let Ok(offset) = Offset::from_seconds(offset_seconds) else {
        return String::new();
    };
    let zoned = ts.to_zoned(TimeZone::fixed(offset));
    strtime::format(format, &zoned).unwrap_or_default()
}

/// `_time` of a match as ISO 8601 with milliseconds and the offset.
pub fn format_iso(micros: Micros, offset_seconds: i32) -> String {
    let suffix = if offset_seconds == 0 { "Z" } else { "%:z" };
    format(
        micros,
        &format!("%Y-%m-%dT%H:%M:%S%.3f{suffix}"),
        offset_seconds,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTIME: &str = "%Y-%m-%dT%H:%M:%S";

    #[test]
    fn parses_every_source_form() {
        let a = parse("2020-08-01 06:55:19.289").unwrap();
        assert_eq!(format(a, CTIME, 0), "2020-08-01T06:55:19");
        let b = parse("2020-10-08T11:03:46.617920300Z").unwrap();
        assert_eq!(format(b, CTIME, 0), "2020-10-08T11:03:46");
        let c = parse("1713805173418").unwrap();
        assert_eq!(format(c, CTIME, 0), "2024-04-22T16:59:33");
        assert_eq!(parse("1713805173.5"), Some(1_713_805_173_500_000));
        let d = parse("2020-12-19T06:59:28.410+02:00").unwrap();
        assert_eq!(format(d, CTIME, 0), "2020-12-19T04:59:28");
        assert_eq!(parse(""), None);
        assert_eq!(parse("yesterday"), None);
    }

    #[test]
    fn formats_with_fixed_offsets() {
        let t = parse("2020-08-01 23:30:00").unwrap();
        assert_eq!(
            format(t, CTIME, parse_offset("+02:00").unwrap()),
            "2020-08-02T01:30:00"
        );
        assert_eq!(
            format(t, CTIME, parse_offset("-0530").unwrap()),
            "2020-08-01T18:00:00"
        );
        assert_eq!(format_iso(t, 0), "2020-08-01T23:30:00.000Z");
        assert!(parse_offset("Europe/Paris").is_err());
        assert!(parse_offset("+25:00").is_err());
    }
}
