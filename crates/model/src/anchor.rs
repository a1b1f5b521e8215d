//! The calendar anchor of a scenario (`[calendar]`): the local date of time 0, the IANA time
//! zone of the plant and its public holidays. With an anchor the planner turns the weekly
//! shift pattern into concrete intervals of elapsed minutes, so that a shift written as
//! 06:00–14:00 stays 06:00–14:00 on the wall clock across daylight-saving changes, and no
//! shift covers a holiday.
//!
//! The time-zone rules come from the IANA database bundled into the program (jiff's
//! `tzdb-bundle-always`): nothing is read from the machine, so a plan is the same on every
//! machine with the same program version.
//!
//! Wall-clock times that do not exist or exist twice are resolved by one rule (jiff's
//! "compatible" disambiguation, the rule of RFC 5545 and of `java.time`): a local time in the
//! hour skipped in spring is moved forward by the length of the gap (02:30 becomes 03:30 at
//! the new offset); a local time in the hour repeated in autumn is its first occurrence (at
//! the summer offset).

use jiff::Timestamp;
use jiff::civil::{self, Weekday};
use jiff::tz::TimeZone;

use crate::ShiftWindow;
use crate::scenario::CalendarSpec;

/// Years accepted for `start` and holidays (keeps every conversion far from jiff's range ends).
pub const YEARS: std::ops::RangeInclusive<i16> = 1900..=2200;

/// A resolved calendar anchor.
#[derive(Debug, Clone)]
pub struct Anchor {
    /// The date of time 0 (a Monday); time 0 is 00:00 local on it.
    pub start: civil::Date,
    /// IANA name of the time zone, as written.
    pub time_zone: String,
    tz: TimeZone,
    /// Local days without shift cover, sorted, unique.
    pub holidays: Vec<civil::Date>,
    /// Time 0 as a Unix timestamp in seconds.
    t0: i64,
}

/// A problem with a `[calendar]` table: the field (`start`, `time_zone`, `holidays` and the
/// index) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorProblem {
    /// Field name.
    pub field: &'static str,
    /// Index into `holidays`, for a bad holiday.
    pub index: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Parses `YYYY-MM-DD` strictly (four-digit year within [`YEARS`]).
pub fn parse_date(s: &str) -> Result<civil::Date, String> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return Err(format!("`{s}` is not a date written YYYY-MM-DD"));
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<i16>().unwrap_or(-1);
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    if !YEARS.contains(&y) {
        return Err(format!(
            "`{s}`: the year must be between {} and {}",
            YEARS.start(),
            YEARS.end()
        ));
    }
    civil::Date::new(y, m as i8, d as i8).map_err(|_| format!("`{s}` is not a day of the calendar"))
}

fn weekday_name(w: Weekday) -> &'static str {
    match w {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

impl Anchor {
    /// Checks and resolves a `[calendar]` table; every problem is reported.
    pub fn resolve(spec: &CalendarSpec) -> Result<Anchor, Vec<AnchorProblem>> {
        let mut problems = Vec::new();
        let start = match parse_date(spec.start.trim()) {
            Ok(d) if d.weekday() != Weekday::Monday => {
                let back = d
                    .checked_sub(jiff::Span::new().days(d.weekday().to_monday_zero_offset()))
                    .map(|m| format!("; the Monday of that week is {m}"))
                    .unwrap_or_default();
                problems.push(AnchorProblem {
                    field: "start",
                    index: None,
                    message: format!(
                        "{d} is a {}; time 0 is Monday 00:00, so `start` must be a Monday{back}",
                        weekday_name(d.weekday())
                    ),
                });
                None
            }
            Ok(d) => Some(d),
            Err(m) => {
                problems.push(AnchorProblem {
                    field: "start",
                    index: None,
                    message: m,
                });
                None
            }
        };
        let name = spec.time_zone.trim();
        let tz = match TimeZone::get(name) {
            Ok(tz) if !name.is_empty() => Some(tz),
            _ => {
                problems.push(AnchorProblem {
                    field: "time_zone",
                    index: None,
                    message: format!(
                        "unknown time zone `{name}`; give an IANA name such as `Europe/Berlin` \
                         or `America/New_York` (or `UTC`)"
                    ),
                });
                None
            }
        };
        let mut holidays = Vec::with_capacity(spec.holidays.len());
        for (i, h) in spec.holidays.iter().enumerate() {
            match parse_date(h.trim()) {
                Ok(d) => holidays.push(d),
                Err(m) => problems.push(AnchorProblem {
                    field: "holidays",
                    index: Some(i),
                    message: m,
                }),
            }
        }
        holidays.sort_unstable();
        holidays.dedup();
        let (Some(start), Some(tz)) = (start, tz) else {
            return Err(problems);
        };
        let t0 = match tz
            .to_ambiguous_timestamp(start.to_datetime(civil::Time::midnight()))
            .compatible()
        {
            Ok(t) => t.as_second(),
            Err(e) => {
                problems.push(AnchorProblem {
                    field: "start",
                    index: None,
                    message: format!("00:00 on {start} cannot be placed in `{name}`: {e}"),
                });
                return Err(problems);
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Anchor {
            start,
            time_zone: name.to_string(),
            tz,
            holidays,
            t0,
        })
    }

    /// The table this anchor was resolved from.
    pub fn spec(&self) -> CalendarSpec {
        CalendarSpec {
            start: self.start.to_string(),
            time_zone: self.time_zone.clone(),
            holidays: self.holidays.iter().map(|d| d.to_string()).collect(),
        }
    }

    /// The local date `days` days after the start.
    pub fn date(&self, days: i64) -> Option<civil::Date> {
        self.start
            .checked_add(jiff::Span::new().try_days(days).ok()?)
            .ok()
    }

    /// Whether `d` is a holiday.
    pub fn is_holiday(&self, d: civil::Date) -> bool {
        self.holidays.binary_search(&d).is_ok()
    }

    /// Elapsed minutes from time 0 to local `minute_of_day` (0 to 1440; 1440 is 00:00 of the
    /// next day) on date `d`, with the module's rule for skipped and repeated wall-clock
    /// times. `None` outside the calendar's range.
    pub fn minute_at(&self, d: civil::Date, minute_of_day: i64) -> Option<i64> {
        let (day, m) = if minute_of_day >= 1440 {
            (d.tomorrow().ok()?, minute_of_day - 1440)
        } else {
            (d, minute_of_day.max(0))
        };
        let dt = day.to_datetime(civil::Time::new((m / 60) as i8, (m % 60) as i8, 0, 0).ok()?);
        let ts = self.tz.to_ambiguous_timestamp(dt).compatible().ok()?;
        Some((ts.as_second() - self.t0).div_euclid(60))
    }

    /// Elapsed minutes from time 0 to 00:00 local of date `d`.
    pub fn midnight(&self, d: civil::Date) -> Option<i64> {
        self.minute_at(d, 0)
    }

    /// The local date and time of elapsed minute `t`, e.g. `2027-03-29 06:00 +02:00`.
    pub fn local(&self, t: i64) -> String {
        let Some(ts) = t
            .checked_mul(60)
            .and_then(|s| s.checked_add(self.t0))
            .and_then(|s| Timestamp::from_second(s).ok())
        else {
            return String::new();
        };
        let dt = self.tz.to_datetime(ts);
        let off = self.tz.to_offset(ts).seconds();
        let sign = if off < 0 { '-' } else { '+' };
        let a = off.unsigned_abs();
        format!(
            "{} {:02}:{:02} {sign}{:02}:{:02}",
            dt.date(),
            dt.hour(),
            dt.minute(),
            a / 3600,
            a % 3600 / 60
        )
    }

    /// The weekly shift windows (hours from Monday 00:00, as in [`crate::Calendar`]) laid on
    /// the calendar for every day from the start until elapsed minute `horizon`: each
    /// window's start and end are local wall-clock times of its day; windows on holidays are
    /// left out. Returns `(start, end, head count)` in elapsed minutes, in day order.
    pub fn shift_intervals(&self, windows: &[ShiftWindow], horizon: i64) -> Vec<(i64, i64, u32)> {
        let mut out = Vec::new();
        // a day is at most 25 h long: enough days to pass the horizon
        let days = horizon.max(0) / (24 * 60) + 2;
        for k in 0..days {
            let Some(d) = self.date(k) else { break };
            if self.is_holiday(d) {
                continue;
            }
            let wd = i64::from(d.weekday().to_monday_zero_offset());
            for w in windows {
                let day = (w.start_h / 24.0).floor() as i64;
                if day.rem_euclid(7) != wd {
                    continue;
                }
                let a = ((w.start_h - day as f64 * 24.0) * 60.0).round() as i64;
                let b = ((w.end_h - day as f64 * 24.0) * 60.0).round() as i64;
                if let (Some(s), Some(e)) = (self.minute_at(d, a), self.minute_at(d, b))
                    && e > s
                {
                    out.push((s, e, w.count));
                }
            }
        }
        out
    }

    /// Length of local day `d` in minutes (1380, 1440 or 1500 around daylight-saving changes).
    pub fn day_minutes(&self, d: civil::Date) -> Option<i64> {
        Some(self.minute_at(d, 1440)? - self.midnight(d)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(start: &str, tz: &str, hol: &[&str]) -> CalendarSpec {
        CalendarSpec {
            start: start.into(),
            time_zone: tz.into(),
            holidays: hol.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn berlin_days_around_the_changes_are_23_and_25_hours() {
        let a = Anchor::resolve(&spec("2027-01-04", "Europe/Berlin", &[])).expect("valid");
        // 2027: summer time from Sunday 28 March, back on Sunday 31 October
        assert_eq!(a.day_minutes(civil::date(2027, 3, 28)), Some(23 * 60));
        assert_eq!(a.day_minutes(civil::date(2027, 10, 31)), Some(25 * 60));
        assert_eq!(a.day_minutes(civil::date(2027, 3, 29)), Some(24 * 60));
        // 06:00 local on Monday 29 March is one hour earlier in elapsed minutes than a plain
        // count of 24-hour days gives
        let days = 84; // 2027-01-04 + 84 days = 2027-03-29
        assert_eq!(a.date(days), Some(civil::date(2027, 3, 29)));
        assert_eq!(
            a.minute_at(civil::date(2027, 3, 29), 360),
            Some(days * 1440 + 360 - 60)
        );
        assert_eq!(a.local(days * 1440 + 300), "2027-03-29 06:00 +02:00");
        assert_eq!(a.local(0), "2027-01-04 00:00 +01:00");
    }

    #[test]
    fn skipped_and_repeated_wall_clock_times_follow_the_compatible_rule() {
        let a = Anchor::resolve(&spec("2027-01-04", "Europe/Berlin", &[])).expect("valid");
        let sun = civil::date(2027, 3, 28);
        // 02:30 does not exist: moved forward by the gap, to 03:30 CEST = 01:30 UTC
        let m0 = a.midnight(sun).expect("in range");
        assert_eq!(a.minute_at(sun, 150), Some(m0 + 150));
        assert_eq!(a.local(m0 + 150), "2027-03-28 03:30 +02:00");
        // 02:30 on 31 October exists twice: the first (CEST) occurrence
        let oct = civil::date(2027, 10, 31);
        let m1 = a.midnight(oct).expect("in range");
        assert_eq!(a.minute_at(oct, 150), Some(m1 + 150));
        assert_eq!(a.local(m1 + 150), "2027-10-31 02:30 +02:00");
        assert_eq!(a.local(m1 + 210), "2027-10-31 02:30 +01:00");
    }

    #[test]
    fn shifts_stay_on_the_wall_clock_and_skip_holidays() {
        let a =
            Anchor::resolve(&spec("2027-03-22", "Europe/Berlin", &["2027-03-24"])).expect("valid");
        // 06:00-14:00 every day
        let w: Vec<ShiftWindow> = (0..7)
            .map(|d| ShiftWindow {
                start_h: d as f64 * 24.0 + 6.0,
                end_h: d as f64 * 24.0 + 14.0,
                count: 2,
            })
            .collect();
        let iv = a.shift_intervals(&w, 14 * 1440);
        // the holiday (Wednesday) has no shift
        assert!(
            iv.iter()
                .all(|&(s, _, _)| !a.local(s).starts_with("2027-03-24"))
        );
        for &(s, e, c) in &iv {
            assert!(a.local(s).contains(" 06:00 "), "{}", a.local(s));
            assert!(a.local(e).contains(" 14:00 "), "{}", a.local(e));
            assert_eq!(c, 2);
        }
        // Monday 22 March 06:00 and Monday 29 March 06:00 are 7 days minus one hour apart
        let mon1 = iv[0].0;
        let mon2 = iv
            .iter()
            .find(|x| a.local(x.0).starts_with("2027-03-29"))
            .expect("a shift")
            .0;
        assert_eq!(mon2 - mon1, 7 * 1440 - 60);
    }

    #[test]
    fn bad_tables_name_the_field() {
        let e = Anchor::resolve(&spec("2027-01-05", "Europe/Berlin", &[])).expect_err("Tuesday");
        assert_eq!(e[0].field, "start");
        assert!(
            e[0].message.contains("Tuesday") && e[0].message.contains("2027-01-04"),
            "{}",
            e[0].message
        );
        let e = Anchor::resolve(&spec("2027-02-30", "Mars/Olympus", &["2027-13-01", "x"]))
            .expect_err("bad");
        let fields: Vec<(&str, Option<usize>)> = e.iter().map(|p| (p.field, p.index)).collect();
        assert_eq!(
            fields,
            vec![
                ("start", None),
                ("time_zone", None),
                ("holidays", Some(0)),
                ("holidays", Some(1))
            ]
        );
        assert!(e[1].message.contains("Mars/Olympus"));
    }
}
