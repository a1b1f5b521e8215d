//! Checks on every value a device sends, before it is used: finite numbers inside the
//! feature's declared constraints, well-formed identifiers, bounded text.

use std::time::Duration;

use crate::error::{SilaError, clip_at};
use crate::pb::sila2::org::silastandard as fw;

/// State of a command execution (SiLA `ExecutionInfo.CommandStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandStatus {
    /// Accepted, not started.
    Waiting,
    /// Running.
    Running,
    /// Finished; the result can be read.
    FinishedSuccessfully,
    /// Finished with an error; reading the result returns it.
    FinishedWithError,
}

/// One progress report of an observable command.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Status.
    pub status: CommandStatus,
    /// Fraction done, 0–1, when the server reports it.
    pub fraction: Option<f64>,
    /// Estimated remaining time, when the server reports it.
    pub remaining: Option<Duration>,
}

/// Allowed interval of a Real (inclusive bounds; `None` = unbounded).
#[derive(Debug, Clone, Copy)]
pub struct Range {
    min: Option<f64>,
    max: Option<f64>,
}

impl Range {
    /// Any finite value.
    pub fn any() -> Range {
        Range {
            min: None,
            max: None,
        }
    }
    /// `min ≤ v ≤ max`.
    pub fn closed(min: f64, max: f64) -> Range {
        Range {
            min: Some(min),
            max: Some(max),
        }
    }
}

/// At most 120 characters of a text from a device, for error messages.
pub fn clip(s: &str) -> String {
    clip_at(s, 120)
}

fn bad(device: &str, call: &str, field: &str, value: String, rule: String) -> SilaError {
    SilaError::BadValue {
        device: device.to_string(),
        call: call.to_string(),
        field: field.to_string(),
        value,
        rule,
    }
}

/// A finite Real inside `range`.
pub fn real(device: &str, call: &str, field: &str, v: f64, range: Range) -> Result<f64, SilaError> {
    if !v.is_finite() {
        return Err(bad(
            device,
            call,
            field,
            v.to_string(),
            "must be finite".into(),
        ));
    }
    if let Some(min) = range.min
        && v < min
    {
        return Err(bad(
            device,
            call,
            field,
            v.to_string(),
            format!("must be ≥ {min}"),
        ));
    }
    if let Some(max) = range.max
        && v > max
    {
        return Err(bad(
            device,
            call,
            field,
            v.to_string(),
            format!("must be ≤ {max}"),
        ));
    }
    Ok(v)
}

/// A UUID in its 36-character text form (8-4-4-4-12 hexadecimal digits).
pub fn uuid(device: &str, call: &str, field: &str, s: &str) -> Result<(), SilaError> {
    let groups: Vec<&str> = s.split('-').collect();
    let ok = s.len() == 36
        && groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(bad(device, call, field, clip(s), "must be a UUID".into()))
    }
}

/// Printable text of at most `max` characters.
pub fn text(
    device: &str,
    call: &str,
    field: &str,
    s: &str,
    max: usize,
) -> Result<String, SilaError> {
    let n = s.chars().count();
    if n > max {
        return Err(bad(
            device,
            call,
            field,
            clip(s),
            format!("at most {max} characters (got {n})"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(bad(
            device,
            call,
            field,
            clip(s).escape_default().to_string(),
            "no control characters".into(),
        ));
    }
    Ok(s.to_string())
}

fn duration(
    device: &str,
    call: &str,
    field: &str,
    d: &fw::Duration,
) -> Result<Duration, SilaError> {
    if d.seconds < 0 || !(0..1_000_000_000).contains(&d.nanos) {
        return Err(bad(
            device,
            call,
            field,
            format!("{} s {} ns", d.seconds, d.nanos),
            "seconds ≥ 0 and nanos in 0–999999999".into(),
        ));
    }
    // Both checked non-negative above.
    Ok(Duration::new(
        d.seconds.unsigned_abs(),
        d.nanos.unsigned_abs(),
    ))
}

/// An ExecutionInfo message: known status, progress in 0–1, non-negative durations.
pub fn execution_info(
    device: &str,
    call: &str,
    m: &fw::ExecutionInfo,
) -> Result<Progress, SilaError> {
    use fw::execution_info::CommandStatus as S;
    let status = match S::try_from(m.command_status) {
        Ok(S::Waiting) => CommandStatus::Waiting,
        Ok(S::Running) => CommandStatus::Running,
        Ok(S::FinishedSuccessfully) => CommandStatus::FinishedSuccessfully,
        Ok(S::FinishedWithError) => CommandStatus::FinishedWithError,
        Err(_) => {
            return Err(bad(
                device,
                call,
                "commandStatus",
                m.command_status.to_string(),
                "one of waiting, running, finishedSuccessfully, finishedWithError".into(),
            ));
        }
    };
    let fraction = m
        .progress_info
        .map(|r| {
            real(
                device,
                call,
                "progressInfo",
                r.value,
                Range::closed(0.0, 1.0),
            )
        })
        .transpose()?;
    let remaining = m
        .estimated_remaining_time
        .as_ref()
        .map(|d| duration(device, call, "estimatedRemainingTime", d))
        .transpose()?;
    Ok(Progress {
        status,
        fraction,
        remaining,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reals_must_be_finite_and_inside_their_constraints() {
        let r = Range::closed(0.0, 100.0);
        assert_eq!(real("d", "c", "Viability", 92.5, r), Ok(92.5));
        for bad in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.1,
            100.01,
            1e300,
        ] {
            let e = real("d", "c", "Viability", bad, r).expect_err("must be refused");
            assert!(e.to_string().contains("Viability"), "{e}");
        }
        assert!(real("d", "c", "T", 1e300, Range::any()).is_ok());
        assert!(real("d", "c", "T", f64::NAN, Range::any()).is_err());
    }

    #[test]
    fn uuids_and_text_are_checked() {
        assert!(uuid("d", "c", "u", "5d2c1a7e-0f3b-4c59-9a8e-7b1e3c2d4f60").is_ok());
        for bad in [
            "",
            "5d2c1a7e0f3b4c599a8e7b1e3c2d4f60abcd",
            "5d2c1a7e-0f3b-4c59-9a8e-7b1e3c2d4f6g",
            "é".repeat(36).as_str(),
        ] {
            assert!(uuid("d", "c", "u", bad).is_err(), "{bad}");
        }
        assert!(text("d", "c", "n", "Test counter", 255).is_ok());
        assert!(text("d", "c", "n", &"x".repeat(256), 255).is_err());
        assert!(text("d", "c", "n", "a\u{0}b", 255).is_err());
    }

    #[test]
    fn execution_info_is_checked() {
        let ok = fw::ExecutionInfo {
            command_status: 1,
            progress_info: Some(fw::Real { value: 0.4 }),
            estimated_remaining_time: Some(fw::Duration {
                seconds: 3,
                nanos: 500_000_000,
            }),
            updated_lifetime_of_execution: None,
        };
        let p = execution_info("d", "c", &ok).expect("valid");
        assert_eq!(p.status, CommandStatus::Running);
        assert_eq!(p.fraction, Some(0.4));
        assert_eq!(p.remaining, Some(Duration::from_millis(3500)));
        let mut m = ok;
        m.command_status = 7;
        assert!(execution_info("d", "c", &m).is_err());
        let mut m = ok;
        m.progress_info = Some(fw::Real { value: f64::NAN });
        assert!(execution_info("d", "c", &m).is_err());
        let mut m = ok;
        m.progress_info = Some(fw::Real { value: 1.5 });
        assert!(execution_info("d", "c", &m).is_err());
        let mut m = ok;
        m.estimated_remaining_time = Some(fw::Duration {
            seconds: -1,
            nanos: 0,
        });
        assert!(execution_info("d", "c", &m).is_err());
        let mut m = ok;
        m.estimated_remaining_time = Some(fw::Duration {
            seconds: 1,
            nanos: 1_000_000_000,
        });
        assert!(execution_info("d", "c", &m).is_err());
    }
}
