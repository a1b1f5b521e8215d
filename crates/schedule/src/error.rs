//! Errors of the scheduling core.

use thiserror::Error;

/// Everything that can go wrong when reading, validating or solving an instance.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScheduleError {
    /// A malformed instance file.
    #[error("line {line}: {field}: {message}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What was being read.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// An instance that is structurally invalid.
    #[error("invalid instance: {0}")]
    Invalid(String),
    /// A maximum lag (shelf life) that cannot be met.
    #[error(
        "infeasible maximum lag for job {job_name} (#{job}) at stage {stage_name} (#{stage}): {reason}"
    )]
    MaxLagInfeasible {
        /// Job index.
        job: usize,
        /// Job name.
        job_name: String,
        /// Index of the stage whose start cannot be reached in time.
        stage: usize,
        /// Stage name.
        stage_name: String,
        /// Explanation.
        reason: String,
    },
    /// A plan document (`plan.json`) of another format or whose plan does not fit its plant.
    #[error("{0}")]
    Document(String),
    /// A question on a plan (promise, booking) whose fields do not fit the plan; the message
    /// names the field.
    #[error("{0}")]
    Request(String),
    /// A re-planning event that refers to something that does not exist.
    #[error("invalid event: {0}")]
    Event(String),
    /// The independent checker rejected a plan produced by the solver (a bug).
    #[error("internal error: produced plan failed the feasibility check: {0}")]
    CheckFailed(String),
}
