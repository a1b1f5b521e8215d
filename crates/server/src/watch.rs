//! The engine's own watch over running batches: hold-time limits between
//! steps and the longest duration of a running step.
//!
//! [`tick`] sends the engine's `watch` command to every batch that is not in
//! a terminal stage, as the engine itself ([`batch::Actor::engine`]: user
//! `engine`, role `engine`, which no person can hold or be named), at the
//! server's clock. The engine raises each breach once (its once-each rule is
//! part of the replayed state), and a watch that raises nothing stores
//! nothing. Each batch is one transaction like any request: on PostgreSQL the
//! head row is locked, so several `serve` processes watching one database
//! take turns and the later one finds the deviation already raised; a
//! change that lost the race on the head version is skipped (the next tick
//! looks again). An error on one batch is logged and the others are still
//! watched. [`run`] repeats the tick at an interval until shutdown.

use std::sync::Arc;
use std::time::Duration;

use batch::engine::{Command, Request};
use batch::{Actor, LotRegister};
use store::batch::{self as sb, BatchError, Outcome};

use crate::AppState;
use crate::batch::register_twin;
use crate::remote::{StoreRegistry, equipment_inventory};
use crate::util::ApiError;

/// What one watch tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tick {
    /// Batches in a non-terminal stage that were watched.
    pub watched: usize,
    /// Batches where the watch raised entries, with the entry numbers made.
    pub raised: Vec<(String, Vec<u64>)>,
    /// Batches skipped because another request changed them at the same
    /// moment (the next tick watches them again).
    pub stale: usize,
    /// Batches whose watch failed (logged).
    pub failed: usize,
}

/// Watches every batch that is not in a terminal stage once, at the
/// server's clock ([`AppState::clock`]).
pub fn tick(st: &AppState) -> Tick {
    let mut out = Tick::default();
    let ids = match st.store.read(sb::active_ids) {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!(error = %e, "batch watch: cannot list the open batches");
            return out;
        }
    };
    if ids.is_empty() {
        return out;
    }
    let inventory = match equipment_inventory(&StoreRegistry::new(&st.store, st.store.location())) {
        Ok(i) => i.inventory,
        Err(e) => {
            tracing::error!(error = %e, "batch watch: cannot read the equipment registry");
            out.failed = ids.len();
            return out;
        }
    };
    let engine = Actor::engine();
    let watch = Request {
        command: Command::Watch,
        key: None,
        expected_seq: None,
    };
    let base = st.base_url.clone();
    for id in ids {
        out.watched += 1;
        let at = recipe::DateTime::from_unix_seconds(st.clock.now());
        let done = st.store.transaction(|tx| -> Result<Outcome, Failure> {
            let (o, twin) = sb::execute(
                tx,
                &id,
                &watch,
                &engine,
                &inventory,
                &LotRegister::default(),
                at,
            )
            .map_err(Failure::Batch)?;
            if let Some(w) = &twin {
                register_twin(tx, Some(&base), w).map_err(Failure::Api)?;
            }
            Ok(o)
        });
        match done {
            Ok(o) if !o.entries().is_empty() => {
                let seqs: Vec<u64> = o.entries().iter().map(|e| e.seq).collect();
                tracing::info!(batch = %id, entries = ?seqs, "batch watch raised deviations");
                crate::live::committed(st, &id);
                out.raised.push((id, seqs));
            }
            Ok(_) => {}
            Err(e @ Failure::Batch(BatchError::Stale { .. } | BatchError::NotFound(_))) => {
                tracing::debug!(batch = %id, error = %e, "batch watch: skipped a stale outcome");
                out.stale += 1;
            }
            Err(e) => {
                tracing::warn!(batch = %id, error = %e, "batch watch failed on this batch");
                out.failed += 1;
            }
        }
    }
    out
}

/// Why the watch of one batch failed: the store or engine, or the twin's
/// registry records.
enum Failure {
    Batch(BatchError),
    Api(ApiError),
}

impl From<store::StoreError> for Failure {
    fn from(e: store::StoreError) -> Self {
        Failure::Batch(e.into())
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Batch(e) => e.fmt(f),
            Failure::Api(e) => f.write_str(&e.text),
        }
    }
}

/// Runs [`tick`] every `interval` on the blocking pool until `stop` turns
/// true; a tick in progress finishes (it is one short transaction per
/// batch). The first tick runs one interval after the start.
pub async fn run(
    st: Arc<AppState>,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let s = st.clone();
        match tokio::task::spawn_blocking(move || tick(&s)).await {
            Ok(t) => {
                if t.failed > 0 {
                    tracing::warn!(
                        watched = t.watched,
                        failed = t.failed,
                        "batch watch tick done with failures"
                    );
                } else {
                    tracing::debug!(
                        watched = t.watched,
                        raised = t.raised.len(),
                        stale = t.stale,
                        "batch watch tick"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "batch watch tick panicked"),
        }
        if *stop.borrow() {
            return;
        }
    }
}
