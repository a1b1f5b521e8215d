//! Calendar dates and UTC timestamps without a clock.
//!
//! Both accept a TOML date/datetime literal (`2026-11-02`, `2026-11-02T08:00:00Z`)
//! or the same text as a string (JSON), and serialise as ISO 8601 strings.
//! Nothing here reads the system clock: "now" is always passed in.

use std::fmt;

/// A proleptic Gregorian calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Days since 1970-01-01.
    days: i64,
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    // Howard Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

fn parse_ymd(s: &str) -> Option<(i64, u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = s.get(0..4)?.parse().ok()?;
    let m: u32 = s.get(5..7)?.parse().ok()?;
    let d: u32 = s.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some((y, m, d))
}

impl Date {
    /// A date from year, month and day; `None` if invalid.
    pub fn from_ymd(y: i64, m: u32, d: u32) -> Option<Date> {
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        Some(Date {
            days: days_from_civil(y, m, d),
        })
    }
    /// Parse `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Date> {
        let (y, m, d) = parse_ymd(s.trim())?;
        Date::from_ymd(y, m, d)
    }
    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i64 {
        self.days
    }
    /// This date plus `n` days.
    #[must_use]
    pub fn plus_days(self, n: i64) -> Date {
        // Clamped to ±1e9 days (about ±2.7 million years) so that absurd durations in
        // user files can never overflow the calendar arithmetic.
        const LIMIT: i64 = 1_000_000_000;
        Date {
            days: self.days.saturating_add(n).clamp(-LIMIT, LIMIT),
        }
    }
    /// Signed number of days from `self` to `other`.
    pub fn days_until(self, other: Date) -> i64 {
        other.days - self.days
    }
    /// Midnight UTC at the start of this date.
    pub fn start(self) -> DateTime {
        DateTime {
            secs: self.days * 86_400,
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.days);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// An instant, stored as seconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    secs: i64,
}

impl DateTime {
    /// Parse RFC 3339 `YYYY-MM-DDTHH:MM[:SS[.fff]](Z|±HH:MM)`; a space may replace `T`.
    /// An offset is required: a record without one is ambiguous.
    pub fn parse(s: &str) -> Option<DateTime> {
        let s = s.trim();
        let date = Date::parse(s.get(0..10)?)?;
        let rest = s.get(10..)?;
        let rest = rest
            .strip_prefix('T')
            .or_else(|| rest.strip_prefix('t'))
            .or_else(|| rest.strip_prefix(' '))?;
        let (time, offset_secs) =
            if let Some(t) = rest.strip_suffix('Z').or_else(|| rest.strip_suffix('z')) {
                (t, 0)
            } else {
                let pos = rest.rfind(['+', '-'])?;
                let (t, off) = rest.split_at(pos);
                let sign = if off.starts_with('-') { -1 } else { 1 };
                let off = off.get(1..)?;
                let (oh, om) = off.split_once(':')?;
                let oh: i64 = oh.parse().ok()?;
                let om: i64 = om.parse().ok()?;
                if oh > 23 || om > 59 {
                    return None;
                }
                (t, sign * (oh * 3600 + om * 60))
            };
        let mut parts = time.split(':');
        let h: i64 = parts.next()?.parse().ok()?;
        let mi: i64 = parts.next()?.parse().ok()?;
        let sec: f64 = match parts.next() {
            Some(x) => x.parse().ok()?,
            None => 0.0,
        };
        if parts.next().is_some()
            || !(0..24).contains(&h)
            || !(0..60).contains(&mi)
            || !(0.0..61.0).contains(&sec)
        {
            return None;
        }
        Some(DateTime {
            secs: date.days * 86_400 + h * 3600 + mi * 60 + sec.floor() as i64 - offset_secs,
        })
    }
    /// The instant `secs` seconds after 1970-01-01T00:00:00Z.
    pub fn from_unix_seconds(secs: i64) -> DateTime {
        DateTime { secs }
    }
    /// Seconds since the epoch.
    pub fn unix_seconds(self) -> i64 {
        self.secs
    }
    /// Hours from `self` to `later` (negative if `later` is earlier).
    pub fn hours_until(self, later: DateTime) -> f64 {
        (later.secs - self.secs) as f64 / 3600.0
    }
    /// The calendar date (UTC).
    pub fn date(self) -> Date {
        Date {
            days: self.secs.div_euclid(86_400),
        }
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.date();
        let s = self.secs.rem_euclid(86_400);
        write!(
            f,
            "{d}T{:02}:{:02}:{:02}Z",
            s / 3600,
            (s % 3600) / 60,
            s % 60
        )
    }
}

const TOML_DATETIME_FIELD: &str = "$__toml_private_datetime";

struct TextVisitor(&'static str);

impl<'de> serde::de::Visitor<'de> for TextVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
        // A TOML datetime literal arrives as a one-entry map with a private key.
        let Some(k) = map.next_key::<String>()? else {
            return Err(serde::de::Error::custom(format!("expected {}", self.0)));
        };
        if k != TOML_DATETIME_FIELD {
            return Err(serde::de::Error::custom(format!(
                "expected {}, found a table",
                self.0
            )));
        }
        map.next_value::<String>()
    }
}

impl<'de> serde::Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = d.deserialize_any(TextVisitor("a date like 2026-11-02"))?;
        Date::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid date `{s}`: expected YYYY-MM-DD, e.g. 2026-11-02"
            ))
        })
    }
}

impl<'de> serde::Deserialize<'de> for DateTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = d.deserialize_any(TextVisitor("a timestamp like 2026-11-02T08:00:00Z"))?;
        DateTime::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid timestamp `{s}`: expected RFC 3339 with an offset, e.g. 2026-11-02T08:00:00Z"
            ))
        })
    }
}

impl serde::Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl serde::Serialize for DateTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_count_days() {
        let d = Date::parse("2024-02-29").expect("leap day");
        assert_eq!(d.to_string(), "2024-02-29");
        assert_eq!(d.plus_days(1).to_string(), "2024-03-01");
        assert_eq!(
            Date::parse("1970-01-01").map(Date::days_since_epoch),
            Some(0)
        );
        assert!(Date::parse("2023-02-29").is_none());
        assert!(Date::parse("2023-13-01").is_none());
        let a = Date::parse("2026-01-01").expect("a");
        let b = Date::parse("2027-01-01").expect("b");
        assert_eq!(a.days_until(b), 365);
        // Absurd offsets saturate instead of overflowing.
        assert!(a.plus_days(i64::MAX).to_string().len() > 10);
    }

    #[test]
    fn timestamps_need_an_offset() {
        let t = DateTime::parse("2026-11-02T08:00:00+01:00").expect("offset");
        assert_eq!(t.to_string(), "2026-11-02T07:00:00Z");
        let u = DateTime::parse("2026-11-02T09:30Z").expect("no seconds");
        assert!((t.hours_until(u) - 2.5).abs() < 1e-9);
        assert!(DateTime::parse("2026-11-02T08:00:00").is_none());
    }

    #[test]
    fn toml_literals_and_strings_both_parse() {
        #[derive(serde::Deserialize)]
        struct T {
            a: Date,
            b: Date,
            c: DateTime,
        }
        let t: T = toml::from_str("a = 2026-11-02\nb = \"2026-11-03\"\nc = 2026-11-02T08:00:00Z\n")
            .expect("parses");
        assert_eq!(t.a.plus_days(1), t.b);
        assert_eq!(t.c.date(), t.a);
        let e = toml::from_str::<T>("a = 2026-11-02\nb = 2026-11-03\nc = 2026-11-02T08:00:00\n");
        assert!(e.is_err());
    }
}
