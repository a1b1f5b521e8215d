//! Errors of the SiLA 2 client: each names the device, the call and the cause.

use std::time::Duration;

use base64::Engine as _;
use prost::Message as _;

use crate::pb::sila2::org::silastandard as fw;

/// What went wrong in one call to a SiLA 2 server.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SilaError {
    /// The endpoint, certificate or connection could not be set up.
    #[error("device {device}: cannot connect to {address}: {cause}")]
    Connect {
        /// Device (equipment id).
        device: String,
        /// Where it was looked for.
        address: String,
        /// Why it failed.
        cause: String,
    },
    /// A call did not answer within its time limit.
    #[error("device {device}: {call}: no answer within {after:?} ({what})")]
    Timeout {
        /// Device.
        device: String,
        /// Fully named call, e.g. `CellCounter.CountCells`.
        call: String,
        /// The limit that ran out.
        after: Duration,
        /// Which part of the call was waited for.
        what: String,
    },
    /// The server refused a parameter (SiLA validation error).
    #[error("device {device}: {call}: parameter `{parameter}` refused: {message}")]
    Validation {
        /// Device.
        device: String,
        /// Call.
        call: String,
        /// Fully qualified parameter identifier.
        parameter: String,
        /// The server's message.
        message: String,
    },
    /// The server reported an error of the feature definition (SiLA defined execution error).
    #[error("device {device}: {call}: {identifier}: {message}")]
    DefinedExecution {
        /// Device.
        device: String,
        /// Call.
        call: String,
        /// Fully qualified error identifier.
        identifier: String,
        /// The server's message.
        message: String,
    },
    /// The server failed in a way its feature does not define (SiLA undefined execution error).
    #[error("device {device}: {call}: undefined execution error: {message}")]
    UndefinedExecution {
        /// Device.
        device: String,
        /// Call.
        call: String,
        /// The server's message.
        message: String,
    },
    /// The server refused how the call was made (SiLA framework error).
    #[error("device {device}: {call}: framework error {kind}: {message}")]
    Framework {
        /// Device.
        device: String,
        /// Call.
        call: String,
        /// Framework error type (e.g. `INVALID_COMMAND_EXECUTION_UUID`).
        kind: String,
        /// The server's message.
        message: String,
    },
    /// The connection failed or broke during the call (server gone, network, TLS).
    #[error("device {device}: {call}: connection lost: {cause}")]
    ConnectionLost {
        /// Device.
        device: String,
        /// Call.
        call: String,
        /// gRPC status and message.
        cause: String,
    },
    /// The server answered with something that is not a valid answer.
    #[error("device {device}: {call}: invalid answer: {message}")]
    Protocol {
        /// Device.
        device: String,
        /// Call.
        call: String,
        /// What was wrong.
        message: String,
    },
    /// A value from the device is not finite or outside its declared constraints.
    #[error("device {device}: {call}: {field} = {value} refused: {rule}")]
    BadValue {
        /// Device.
        device: String,
        /// Call.
        call: String,
        /// Response field.
        field: String,
        /// The value as received.
        value: String,
        /// The constraint it breaks.
        rule: String,
    },
}

impl SilaError {
    /// The device the error is about.
    pub fn device(&self) -> &str {
        match self {
            SilaError::Connect { device, .. }
            | SilaError::Timeout { device, .. }
            | SilaError::Validation { device, .. }
            | SilaError::DefinedExecution { device, .. }
            | SilaError::UndefinedExecution { device, .. }
            | SilaError::Framework { device, .. }
            | SilaError::ConnectionLost { device, .. }
            | SilaError::Protocol { device, .. }
            | SilaError::BadValue { device, .. } => device,
        }
    }
}

/// Turns a gRPC status into a [`SilaError`]: SiLA errors travel as status `ABORTED` whose
/// message is the base64 encoding of a `SiLAError` message (SiLA 2 Part B); any other status
/// is a broken connection or a server fault.
pub fn from_status(device: &str, call: &str, status: &tonic::Status) -> SilaError {
    let device = device.to_string();
    let call = call.to_string();
    if status.code() == tonic::Code::Aborted {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(status.message().trim())
            .ok()
            .and_then(|bytes| fw::SiLaError::decode(bytes.as_slice()).ok());
        return match decoded.and_then(|e| e.error) {
            Some(fw::si_la_error::Error::ValidationError(v)) => SilaError::Validation {
                device,
                call,
                parameter: v.parameter,
                message: v.message,
            },
            Some(fw::si_la_error::Error::DefinedExecutionError(d)) => SilaError::DefinedExecution {
                device,
                call,
                identifier: d.error_identifier,
                message: d.message,
            },
            Some(fw::si_la_error::Error::UndefinedExecutionError(u)) => {
                SilaError::UndefinedExecution {
                    device,
                    call,
                    message: u.message,
                }
            }
            Some(fw::si_la_error::Error::FrameworkError(f)) => SilaError::Framework {
                device,
                call,
                kind: fw::framework_error::ErrorType::try_from(f.error_type)
                    .map(|t| t.as_str_name().to_string())
                    .unwrap_or_else(|_| format!("unknown type {}", f.error_type)),
                message: f.message,
            },
            None => SilaError::Protocol {
                device,
                call,
                message: format!(
                    "status ABORTED without a SiLA error in its message: {:?}",
                    clip(status.message())
                ),
            },
        };
    }
    // tonic's own message for a broken connection is only "transport error": add the causes.
    let mut cause = format!("gRPC status {:?}: {}", status.code(), status.message());
    let mut source = std::error::Error::source(status);
    while let Some(s) = source {
        cause = format!("{cause}: {s}");
        source = s.source();
    }
    SilaError::ConnectionLost {
        device,
        call,
        cause: clip(&cause),
    }
}

/// At most 300 characters of a server's message (a hostile server could send megabytes).
fn clip(s: &str) -> String {
    clip_at(s, 300)
}

/// At most `max` characters of a text from a device, `…` marking where it was cut.
pub(crate) fn clip_at(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aborted_with(err: fw::si_la_error::Error) -> tonic::Status {
        let bytes = fw::SiLaError { error: Some(err) }.encode_to_vec();
        tonic::Status::aborted(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    #[test]
    fn defined_execution_error_is_decoded_with_its_identifier() {
        let s = aborted_with(fw::si_la_error::Error::DefinedExecutionError(
            fw::DefinedExecutionError {
                error_identifier:
                    "org.atmpflow/devices/CellCounter/v1/DefinedExecutionError/ChamberClogged"
                        .into(),
                message: "flow stopped".into(),
            },
        ));
        let e = from_status("counter-1", "CellCounter.CountCells", &s);
        assert!(
            matches!(e, SilaError::DefinedExecution { ref identifier, .. } if identifier.ends_with("ChamberClogged"))
        );
        let text = e.to_string();
        assert!(
            text.contains("counter-1")
                && text.contains("CountCells")
                && text.contains("flow stopped"),
            "{text}"
        );
    }

    #[test]
    fn validation_and_framework_errors_are_decoded() {
        let s = aborted_with(fw::si_la_error::Error::ValidationError(
            fw::ValidationError {
                parameter: "x/SampleVolume".into(),
                message: "must be > 0".into(),
            },
        ));
        assert!(matches!(
            from_status("d", "c", &s),
            SilaError::Validation { ref parameter, .. } if parameter == "x/SampleVolume"
        ));
        let s = aborted_with(fw::si_la_error::Error::FrameworkError(fw::FrameworkError {
            error_type: 1,
            message: "no such execution".into(),
        }));
        assert!(matches!(
            from_status("d", "c", &s),
            SilaError::Framework { ref kind, .. } if kind == "INVALID_COMMAND_EXECUTION_UUID"
        ));
    }

    #[test]
    fn garbage_in_an_aborted_status_is_a_protocol_error_and_other_codes_a_lost_connection() {
        let e = from_status("d", "c", &tonic::Status::aborted("%%% not base64 %%%"));
        assert!(matches!(e, SilaError::Protocol { .. }), "{e:?}");
        let e = from_status("d", "c", &tonic::Status::unavailable("gone"));
        assert!(matches!(e, SilaError::ConnectionLost { .. }), "{e:?}");
        let long = "x".repeat(10_000);
        let e = from_status("d", "c", &tonic::Status::unavailable(long));
        assert!(e.to_string().len() < 500);
    }
}

#[cfg(test)]
mod robustness {
    use super::*;
    use crate::check;

    /// xorshift64*: a fixed-seed byte source for the robustness loop (no extra dependency).
    fn bytes(state: &mut u64, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                *state ^= *state >> 12;
                *state ^= *state << 25;
                *state ^= *state >> 27;
                (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }

    /// Whatever bytes a server sends as a SiLA error or an ExecutionInfo, decoding and
    /// checking return a value or an error naming the device — never a panic — and a checked
    /// progress report is always inside its bounds.
    #[test]
    fn arbitrary_server_bytes_never_panic_and_checked_values_hold_their_bounds() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut accepted = 0;
        for i in 0..20_000 {
            let len = (i % 64) + 1;
            let raw = bytes(&mut state, len);
            let status =
                tonic::Status::aborted(base64::engine::general_purpose::STANDARD.encode(&raw));
            let e = from_status("dev-x", "F.C", &status);
            assert_eq!(e.device(), "dev-x");
            assert!(e.to_string().len() < 2_000);
            if let Ok(info) = fw::ExecutionInfo::decode(raw.as_slice())
                && let Ok(p) = check::execution_info("dev-x", "F.C_Info", &info)
            {
                accepted += 1;
                assert!(p.fraction.is_none_or(|f| (0.0..=1.0).contains(&f)));
            }
        }
        // The loop must also reach the accepting branch, or it checks nothing there.
        assert!(accepted > 0);
    }
}
