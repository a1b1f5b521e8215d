//! The simulated clock of a rehearsal database (migration 290).
//!
//! A live server stamps every batch record entry with its system clock. A
//! rehearsal of a control recipe through the API (`atmpflow serve
//! --rehearsal-clock`) needs days of process time to pass in seconds, so its
//! batch engine runs on a simulated clock that an administrator moves
//! forward. Such a database is marked once and for all (a row in
//! `rehearsal_clock`): its records carry simulated times and a server on the
//! system clock refuses it, and a database that already holds batches made on
//! the system clock never becomes a rehearsal database. Every move of the
//! clock is a new row with who moved it and when (real UTC time).

use crate::auth::Timestamp;
use crate::{Db, StoreError, Tx};

/// Why the simulated clock cannot be started or moved.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    /// The database layer failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database is not a rehearsal database.
    #[error("{0} runs on the system clock: it is not a rehearsal database")]
    NotRehearsal(String),
    /// The database holds batches recorded on the system clock.
    #[error(
        "{location} holds {batches} batch(es) recorded on the system clock; a rehearsal clock \
         needs a database of its own"
    )]
    LiveRecords {
        /// The database.
        location: String,
        /// Batches it holds.
        batches: i64,
    },
    /// A move backwards.
    #[error("the simulated clock only moves forward: it reads {now}, not before {to}")]
    Backward {
        /// The clock now.
        now: Timestamp,
        /// The time asked for.
        to: Timestamp,
    },
}

/// The simulated time of a rehearsal database, or `None` for a database on the
/// system clock.
pub fn now(tx: &mut Tx<'_>) -> Result<Option<Timestamp>, StoreError> {
    let r = tx.query_opt(
        "SELECT sim_now FROM rehearsal_clock ORDER BY n DESC LIMIT 1",
        &[],
    )?;
    r.map(|r| r.int(0).map(Timestamp)).transpose()
}

/// Starts the simulated clock at `start` (or, for a rehearsal database, where
/// it stopped: the clock never goes back), and answers its time. Refused for a
/// database holding batches recorded on the system clock.
pub fn begin(
    db: &Db,
    start: Timestamp,
    by: &str,
    real: Timestamp,
) -> Result<Timestamp, ClockError> {
    db.transaction(|tx| -> Result<Timestamp, ClockError> {
        if let Some(t) = now(tx)? {
            return Ok(t);
        }
        let batches = tx
            .query_opt("SELECT COUNT(*) FROM batches", &[])?
            .map_or(Ok(0), |r| r.int(0))?;
        if batches > 0 {
            return Err(ClockError::LiveRecords {
                location: db.location().to_string(),
                batches,
            });
        }
        insert(tx, 1, start, by, real)?;
        Ok(start)
    })
}

/// Moves the simulated clock of a rehearsal database to `to` (not backwards;
/// `to` equal to the clock's time changes nothing).
pub fn set(tx: &mut Tx<'_>, to: Timestamp, by: &str, real: Timestamp) -> Result<(), ClockError> {
    let Some(r) = tx.query_opt(
        "SELECT n, sim_now FROM rehearsal_clock ORDER BY n DESC LIMIT 1",
        &[],
    )?
    else {
        return Err(ClockError::NotRehearsal("the database".into()));
    };
    let (n, now) = (r.int(0)?, Timestamp(r.int(1)?));
    if to < now {
        return Err(ClockError::Backward { now, to });
    }
    if to == now {
        return Ok(());
    }
    insert(tx, n + 1, to, by, real)
}

fn insert(
    tx: &mut Tx<'_>,
    n: i64,
    at: Timestamp,
    by: &str,
    real: Timestamp,
) -> Result<(), ClockError> {
    tx.execute(
        "INSERT INTO rehearsal_clock (n, sim_now, set_by, set_at) VALUES ($1, $2, $3, $4)",
        &[n.into(), at.0.into(), by.into(), real.rfc3339().into()],
    )?;
    Ok(())
}
