//! Why a batch operation did not happen: the error of `batch` and `counters` (its own room so
//! that the equipment counters need not reach back into the batch store).

use batch::Refusal;

use crate::StoreError;

/// Why a batch operation did not happen. Nothing was stored unless the
/// variant says so.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No batch with this id.
    #[error("batch `{0}` not found")]
    NotFound(String),
    /// A batch with this id exists with another order.
    #[error("batch: `{0}` already exists with a different order")]
    Exists(String),
    /// The engine refused the request; nothing was stored.
    #[error(transparent)]
    Refused(Refusal),
    /// The idempotency key was stored with a different request.
    #[error(
        "key: idempotency key `{key}` was already used for a different request on batch {batch}"
    )]
    KeyReused { batch: String, key: String },
    /// The batch changed since it was read (optimistic concurrency).
    #[error(
        "batch {batch} is at version {found}, the change was made on version {expected}; nothing was stored, reload and retry"
    )]
    Stale {
        batch: String,
        expected: i64,
        found: i64,
    },
    /// The equipment's twin cannot take the counter uses a request books
    /// (no twin, no such counter, or a count that moved since the check);
    /// nothing was stored.
    #[error("equipment {equipment}: {message}")]
    Equipment { equipment: String, message: String },
    /// The stored record cannot be read back (altered outside the program).
    #[error("batch {batch}: the stored record is unusable: {message}")]
    Corrupt { batch: String, message: String },
}

impl BatchError {
    pub(crate) fn corrupt(batch: &str, message: impl Into<String>) -> BatchError {
        BatchError::Corrupt {
            batch: batch.to_string(),
            message: message.into(),
        }
    }
}
