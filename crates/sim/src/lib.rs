//! Discrete-event Monte-Carlo simulation of cell-therapy plants.
//!
//! [`run`] simulates the replications of a [`model::Model`] in parallel and aggregates them
//! into [`Results`]. Replication `r` draws from stream `r` of a ChaCha8 generator seeded with
//! the scenario's seed, and results are combined in replication order, so the same seed gives
//! the same numbers on any number of threads.

mod engine;
mod queue;
pub mod results;
mod stats;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use model::{Model, Plan};
use rayon::prelude::*;

pub use engine::{RNG_NAME, replicate};
pub use results::{DistStat, Histogram, Replication, ResourceResult, Results, Stat, StepResult};
pub use stats::{mean_ci, percentile};

/// How to run a study.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Replications (overrides the scenario when set).
    pub replications: Option<u32>,
    /// Seed (overrides the scenario when set).
    pub seed: Option<u64>,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Follow this plan instead of generating arrivals from demand.
    pub plan: Option<Plan>,
}

/// Errors of a simulation run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Fewer than two replications were asked for.
    #[error("at least 2 replications are needed for confidence intervals, got {0}")]
    TooFewReplications(u32),
    /// The run was cancelled before two replications finished.
    #[error("cancelled after {0} replication(s); at least 2 are needed for results")]
    Cancelled(u32),
    /// The thread pool could not be built.
    #[error("could not start {threads} worker threads: {reason}")]
    Threads {
        /// Threads asked for.
        threads: usize,
        /// Why it failed.
        reason: String,
    },
    /// A plan refers to an order, product or step that the model does not have.
    #[error("the plan does not fit the scenario: {0}")]
    BadPlan(String),
}

/// Simulates the study. `progress` is called with the number of finished replications; when
/// `cancel` becomes true, replications not yet started are skipped and the results of those
/// finished are returned (marked `cancelled`).
pub fn run(
    model: &Model,
    opts: &RunOptions,
    progress: &(dyn Fn(u32) + Sync),
    cancel: &AtomicBool,
) -> Result<Results, SimError> {
    let reps = opts.replications.unwrap_or(model.replications);
    if reps < 2 {
        return Err(SimError::TooFewReplications(reps));
    }
    let mut m = model.clone();
    if let Some(seed) = opts.seed {
        m.seed = seed;
    }
    if let Some(plan) = &opts.plan {
        check_plan(&m, plan)?;
        // Following a plan, every planned order is a patient of the cohort and the
        // observation window starts at time 0 and covers the last release.
        m.warmup_h = 0.0;
        let last = plan
            .orders
            .iter()
            .map(|o| o.release_h)
            .fold(0.0_f64, f64::max);
        m.horizon_h = m.horizon_h.max(last + 1.0);
    }
    let done = AtomicU32::new(0);
    let work = || -> Vec<Option<Replication>> {
        (0..reps)
            .into_par_iter()
            .map(|r| {
                if cancel.load(Ordering::Relaxed) {
                    return None;
                }
                let out = replicate(&m, r, opts.plan.as_ref());
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                progress(n);
                Some(out)
            })
            .collect()
    };
    let outs = if opts.threads == 0 {
        work()
    } else {
        rayon::ThreadPoolBuilder::new()
            .num_threads(opts.threads)
            .build()
            .map_err(|e| SimError::Threads {
                threads: opts.threads,
                reason: e.to_string(),
            })?
            .install(work)
    };
    let finished: Vec<Replication> = outs.into_iter().flatten().collect();
    let cancelled = (finished.len() as u32) < reps;
    if finished.len() < 2 {
        return Err(SimError::Cancelled(finished.len() as u32));
    }
    Ok(stats::aggregate(
        &m,
        finished,
        reps,
        cancelled,
        opts.plan.is_some(),
    ))
}

fn check_plan(m: &Model, plan: &Plan) -> Result<(), SimError> {
    for (i, o) in plan.orders.iter().enumerate() {
        if o.product >= m.products.len() {
            return Err(SimError::BadPlan(format!(
                "order {i} (`{}`) names product {} but the scenario has {}",
                o.id,
                o.product,
                m.products.len()
            )));
        }
        if !(o.release_h.is_finite() && o.due_h.is_finite()) {
            return Err(SimError::BadPlan(format!(
                "order {i} (`{}`) has a non-finite time",
                o.id
            )));
        }
    }
    for op in &plan.ops {
        let Some(o) = plan.orders.get(op.order) else {
            return Err(SimError::BadPlan(format!(
                "an operation names order {} but the plan has {}",
                op.order,
                plan.orders.len()
            )));
        };
        if op.step >= m.products[o.product].steps.len() {
            return Err(SimError::BadPlan(format!(
                "order `{}`: step {} does not exist in product `{}`",
                o.id, op.step, m.products[o.product].name
            )));
        }
    }
    Ok(())
}
