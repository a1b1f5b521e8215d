//! Calendar dates and UTC timestamps without a clock.
//!
//! Both accept a TOML date/datetime literal (`2026-11-02`, `2026-11-02T08:00:00Z`)
//! or the same text as a string (JSON), and serialise as ISO 8601 strings.
//! Nothing here reads the system clock: "now" is always passed in. The calendar
//! (month lengths, leap years, day arithmetic) is `jiff`'s; dates run from year -9999
//! to 9999 and arithmetic saturates at those ends.

use std::fmt;

use jiff::SignedDuration;
use jiff::civil;

/// A proleptic Gregorian calendar date, years -9999 to 9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(civil::Date);

const SECONDS_PER_DAY: i64 = 86_400;
const EPOCH: civil::DateTime = civil::date(1970, 1, 1).at(0, 0, 0, 0);

/// Year, month and day of `YYYY-MM-DD` (each field as Rust parses an integer),
/// without checking the calendar.
fn parse_ymd(s: &str) -> Option<(i64, u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = s.get(0..4)?.parse().ok()?;
    let m: u32 = s.get(5..7)?.parse().ok()?;
    let d: u32 = s.get(8..10)?.parse().ok()?;
    Some((y, m, d))
}

impl Date {
    /// A date from year, month and day; `None` if invalid or outside years -9999 to 9999.
    pub fn from_ymd(y: i64, m: u32, d: u32) -> Option<Date> {
        let y = i16::try_from(y).ok()?;
        let m = i8::try_from(m).ok()?;
        let d = i8::try_from(d).ok()?;
        civil::Date::new(y, m, d).ok().map(Date)
    }
    /// Parse `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Date> {
        let (y, m, d) = parse_ymd(s.trim())?;
        Date::from_ymd(y, m, d)
    }
    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i64 {
        self.0
            .to_datetime(civil::Time::midnight())
            .duration_since(EPOCH)
            .as_secs()
            / SECONDS_PER_DAY
    }
    /// This date plus `n` days; saturates at the first and the last representable date
    /// so that absurd durations in user files can never overflow the calendar arithmetic.
    #[must_use]
    pub fn plus_days(self, n: i64) -> Date {
        let secs = n.saturating_mul(SECONDS_PER_DAY);
        Date(self.0.saturating_add(SignedDuration::from_secs(secs)))
    }
    /// Signed number of days from `self` to `other`.
    pub fn days_until(self, other: Date) -> i64 {
        other.days_since_epoch() - self.days_since_epoch()
    }
    /// Midnight UTC at the start of this date.
    pub fn start(self) -> DateTime {
        DateTime(self.0.to_datetime(civil::Time::midnight()))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        write!(f, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
    }
}

/// An instant, held as its UTC wall-clock time to the second (years -9999 to 9999).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime(civil::DateTime);

/// The `(Z|±HH:MM)` suffix of an RFC 3339 time: the time before it and the offset in seconds.
fn split_offset(rest: &str) -> Option<(&str, i64)> {
    if let Some(t) = rest.strip_suffix('Z').or_else(|| rest.strip_suffix('z')) {
        return Some((t, 0));
    }
    let pos = rest.rfind(['+', '-'])?;
    let (t, off) = rest.split_at(pos);
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let (oh, om) = off.get(1..)?.split_once(':')?;
    let oh: i64 = oh.parse().ok()?;
    let om: i64 = om.parse().ok()?;
    if oh > 23 || om > 59 {
        return None;
    }
    Some((t, sign * (oh * 3600 + om * 60)))
}

/// `HH:MM[:SS[.fff]]` as hours, minutes and whole seconds (a leap second 60 is allowed).
fn parse_hms(time: &str) -> Option<(i8, i8, i64)> {
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
    Some((
        i8::try_from(h).ok()?,
        i8::try_from(mi).ok()?,
        sec.floor() as i64,
    ))
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
        let (time, offset_secs) = split_offset(rest)?;
        let (h, mi, sec) = parse_hms(time)?;
        // Seconds and offset are added as a duration: a leap second rolls over into the
        // next minute, and the offset may move the instant to another day.
        let local = date.0.at(h, mi, 0, 0);
        local
            .checked_add(SignedDuration::from_secs(sec - offset_secs))
            .ok()
            .map(DateTime)
    }
    /// The instant `secs` seconds after 1970-01-01T00:00:00Z (saturating at the first and
    /// the last representable second).
    pub fn from_unix_seconds(secs: i64) -> DateTime {
        DateTime(EPOCH.saturating_add(SignedDuration::from_secs(secs)))
    }
    /// Seconds since the epoch.
    pub fn unix_seconds(self) -> i64 {
        self.0.duration_since(EPOCH).as_secs()
    }
    /// Hours from `self` to `later` (negative if `later` is earlier).
    pub fn hours_until(self, later: DateTime) -> f64 {
        later.0.duration_since(self.0).as_secs() as f64 / 3600.0
    }
    /// The calendar date (UTC).
    pub fn date(self) -> Date {
        Date(self.0.date())
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(
            f,
            "{}T{:02}:{:02}:{:02}Z",
            self.date(),
            t.hour(),
            t.minute(),
            t.second()
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
        assert_eq!(a.plus_days(i64::MAX).to_string(), "9999-12-31");
        assert_eq!(a.plus_days(i64::MIN).to_string(), "-9999-01-01");
        assert_eq!(a.plus_days(-1).to_string(), "2025-12-31");
        assert!(Date::parse("1900-02-29").is_none());
        assert!(Date::parse("2000-02-29").is_some());
        assert_eq!(
            Date::parse(" 0999-01-05 ").map(|d| d.to_string()),
            Some("0999-01-05".into())
        );
    }

    #[test]
    fn timestamps_need_an_offset() {
        let t = DateTime::parse("2026-11-02T08:00:00+01:00").expect("offset");
        assert_eq!(t.to_string(), "2026-11-02T07:00:00Z");
        let u = DateTime::parse("2026-11-02T09:30Z").expect("no seconds");
        assert!((t.hours_until(u) - 2.5).abs() < 1e-9);
        assert!(DateTime::parse("2026-11-02T08:00:00").is_none());
        assert!(DateTime::parse("2026-11-02T24:00:00Z").is_none());
        assert!(DateTime::parse("2026-11-02T08:00:00+24:00").is_none());
        // An offset can move the instant to the day before; a leap second rolls over.
        let early = DateTime::parse("2026-01-01 00:30:00+01:00").expect("space, offset");
        assert_eq!(early.to_string(), "2025-12-31T23:30:00Z");
        assert_eq!(early.date().to_string(), "2025-12-31");
        let leap = DateTime::parse("2016-12-31T23:59:60.5Z").expect("leap second");
        assert_eq!(leap.to_string(), "2017-01-01T00:00:00Z");
        assert_eq!(
            DateTime::from_unix_seconds(0).to_string(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            DateTime::from_unix_seconds(-1).to_string(),
            "1969-12-31T23:59:59Z"
        );
        assert_eq!(
            u.unix_seconds(),
            DateTime::from_unix_seconds(u.unix_seconds()).unix_seconds()
        );
        assert_eq!(
            Date::parse("2026-11-02").map(|d| d.start().unix_seconds()),
            Some(20_759 * 86_400)
        );
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
