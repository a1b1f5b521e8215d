//! Discrete-event Monte-Carlo simulation of cell-therapy plants.
//!
//! [`run`] simulates the replications of a [`model::Model`] in parallel and aggregates them
//! into [`Results`]. Replication `r` draws from stream `r` of a ChaCha8 generator seeded with
//! the scenario's seed, and results are combined in replication order, so the same seed gives
//! the same numbers on any number of threads.

mod engine;
mod events;
mod output;
mod queue;
pub mod results;
mod sketch;
mod stats;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use model::{Model, Plan};

pub use engine::{replicate, replicate_observed};
pub use output::RNG_NAME;
pub use results::{
    DistStat, Histogram, Observation, Observed, Replication, ResourceResult, Results, Stat,
    StepResult,
};
pub use sketch::percentile;
pub use sketch::{EXACT_CAP, RELATIVE_ERROR, Sketch, ZERO_BELOW};
pub use stats::{Running, mean_ci};

/// How to run a study.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Replications (overrides the scenario when set).
    pub replications: Option<u32>,
    /// Seed (overrides the scenario when set).
    pub seed: Option<u64>,
    /// Worker threads; 0 means those of the current rayon pool (one per core by default).
    pub threads: usize,
    /// Follow this plan instead of generating arrivals from demand.
    pub plan: Option<Plan>,
    /// Keep no per-replication summaries (`Results::per_replication` stays empty), so that
    /// memory does not grow with the number of replications.
    pub drop_replications: bool,
    /// Most events one replication may handle before the run stops with
    /// [`SimError::EventBudget`]; [`model::limits::EVENT_BUDGET`] when `None`.
    pub event_budget: Option<u64>,
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
    /// A replication handled more events than the budget allows: the model loops (e.g. a
    /// step that fails and repeats almost surely) or breaks down and repairs far too often.
    #[error(
        "replication {replication} stopped after {budget} events at simulated day {day:.1}, \
         the event budget of one replication; most were {most}. The model keeps the simulator \
         busy without end: check failure probabilities that send batches back, breakdown and \
         repair times, and the arrival rates"
    )]
    EventBudget {
        /// The replication.
        replication: u32,
        /// The budget.
        budget: u64,
        /// Simulated time reached, days.
        day: f64,
        /// The most frequent kind of event with its count.
        most: String,
    },
    /// Blocked batches (steps with `blocking` or `keep`) keep units that each of them needs
    /// to start its next step: none of them can ever proceed.
    #[error(
        "replication {replication} deadlocked at simulated day {day:.2}: blocked batches keep \
         units that each of them needs for its next step, so none can ever start. Batches: \
         {batches}. Resources: {resources}. A kept unit is never handed over to the batch's \
         next step: keep fewer resources (`keep`), add units, or send the batch to a step that \
         needs other equipment"
    )]
    Deadlock {
        /// The replication.
        replication: u32,
        /// Simulated time of the deadlock, days.
        day: f64,
        /// The batches (patients) involved, with what they keep and need.
        batches: String,
        /// The resources involved, with the units kept.
        resources: String,
    },
    /// The receiver of the per-replication summaries failed.
    #[error("summary of replication {replication}: {reason}")]
    ReplicationSink {
        /// Replication whose summary could not be taken.
        replication: u32,
        /// Why.
        reason: String,
    },
    /// The receiver of the raw observations failed.
    #[error("observations of replication {replication}: {reason}")]
    Observer {
        /// Replication whose observations could not be taken.
        replication: u32,
        /// Why.
        reason: String,
    },
}

/// Receives the raw observations of each replication, in replication order.
pub type ObservationSink<'a> = dyn FnMut(u32, &[Observation]) -> Result<(), String> + Send + 'a;

/// Receives each replication's summary, in replication order, as it is combined (to stream it
/// to a file: with [`RunOptions::drop_replications`] the run then holds none of them).
pub type ReplicationSink<'a> = dyn FnMut(&Replication) -> Result<(), String> + Send + 'a;

/// Simulates the study. `progress` is called with the number of replications combined so
/// far. Replications are handed out in order and combined in order as they finish, so memory
/// does not depend on the number of replications (apart from the per-replication summaries,
/// unless [`RunOptions::drop_replications`]; [`run_streamed`] hands each to a sink instead).
/// When `cancel` becomes true no replication is started any more and those running are
/// abandoned within a few thousand events, so the
/// results cover exactly the replications `0..k` combined so far and equal those of a run
/// with `k` replications (marked `cancelled`). A replication that exceeds the event budget
/// ([`RunOptions::event_budget`]) ends the run with [`SimError::EventBudget`] for the
/// earliest such replication.
pub fn run(
    model: &Model,
    opts: &RunOptions,
    progress: &(dyn Fn(u32) + Sync),
    cancel: &AtomicBool,
) -> Result<Results, SimError> {
    run_inner(model, opts, progress, cancel, None, None)
}

/// As [`run`], also passing the raw observations of each replication to `sink`, in
/// replication order (each replication's in the order they were made).
pub fn run_observed(
    model: &Model,
    opts: &RunOptions,
    progress: &(dyn Fn(u32) + Sync),
    cancel: &AtomicBool,
    sink: &mut ObservationSink<'_>,
) -> Result<Results, SimError> {
    run_inner(model, opts, progress, cancel, Some(sink), None)
}

/// As [`run`], passing the raw observations of each replication to `observations` and each
/// replication's summary to `replications` (either may be `None`), both in replication order.
pub fn run_streamed(
    model: &Model,
    opts: &RunOptions,
    progress: &(dyn Fn(u32) + Sync),
    cancel: &AtomicBool,
    observations: Option<&mut ObservationSink<'_>>,
    replications: Option<&mut ReplicationSink<'_>>,
) -> Result<Results, SimError> {
    run_inner(model, opts, progress, cancel, observations, replications)
}

/// The replications finished so far, combined in order.
struct Combine<'s, 'a, 'b> {
    acc: stats::Acc,
    /// Finished out of order, waiting for those before them.
    pending: BTreeMap<u32, output::RepOutput>,
    sink: Option<&'s mut ObservationSink<'a>>,
    rep_sink: Option<&'s mut ReplicationSink<'b>>,
    error: Option<SimError>,
}

impl Combine<'_, '_, '_> {
    /// Keeps the earliest failing replication's error, whatever the thread count.
    fn failed(&mut self, r: u32, e: SimError) {
        let earlier = match &self.error {
            Some(
                SimError::EventBudget { replication, .. } | SimError::Deadlock { replication, .. },
            ) => r < *replication,
            Some(_) => false,
            None => true,
        };
        if earlier {
            self.error = Some(e);
        }
    }

    /// Combines the pending replications that are next in order, passing each to the
    /// sinks first. True if a sink refused one (the run is to stop).
    fn combine_due(&mut self) -> bool {
        let mut refused = false;
        loop {
            let due = self.acc.len() as u32;
            let Some(mut o) = self.pending.remove(&due) else {
                break;
            };
            if self.error.is_none()
                && let Some(sink) = self.sink.as_mut()
                && let Err(reason) = sink(due, &o.observations)
            {
                self.error = Some(SimError::Observer {
                    replication: due,
                    reason,
                });
                refused = true;
            }
            o.observations = Vec::new();
            if self.error.is_none()
                && let Some(sink) = self.rep_sink.as_mut()
                && let Err(reason) = sink(&o.rep)
            {
                self.error = Some(SimError::ReplicationSink {
                    replication: due,
                    reason,
                });
                refused = true;
            }
            self.acc.add(o);
        }
        refused
    }
}

/// The model as this run sees it: the seed of the options, and when following a plan,
/// no warm-up and a horizon past the last release.
fn run_model(model: &Model, opts: &RunOptions) -> Result<Model, SimError> {
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
    Ok(m)
}

fn run_inner(
    model: &Model,
    opts: &RunOptions,
    progress: &(dyn Fn(u32) + Sync),
    cancel: &AtomicBool,
    sink: Option<&mut ObservationSink<'_>>,
    rep_sink: Option<&mut ReplicationSink<'_>>,
) -> Result<Results, SimError> {
    let reps = opts.replications.unwrap_or(model.replications);
    if reps < 2 {
        return Err(SimError::TooFewReplications(reps));
    }
    let m = run_model(model, opts)?;
    let observe = sink.is_some();
    let limits = engine::Limits {
        event_budget: opts.event_budget.unwrap_or(model::limits::EVENT_BUDGET),
        cancel: Some(cancel),
    };
    let prep = engine::Prepared::new(&m);
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let combine = Mutex::new(Combine {
        acc: stats::Acc::new(&m, !opts.drop_replications),
        pending: BTreeMap::new(),
        sink,
        rep_sink,
        error: None,
    });
    let worker = || {
        loop {
            if cancel.load(Ordering::SeqCst) || stop.load(Ordering::SeqCst) {
                return;
            }
            let r = next.fetch_add(1, Ordering::SeqCst);
            if r >= u64::from(reps) {
                return;
            }
            let r = r as u32;
            let out =
                match engine::replicate_full(&m, &prep, r, opts.plan.as_ref(), observe, &limits) {
                    engine::Ended::Done(out) => out,
                    // Abandoned: the replications combined before it are the result.
                    engine::Ended::Cancelled => return,
                    engine::Ended::Failed(e) => {
                        stop.store(true, Ordering::SeqCst);
                        if let Ok(mut c) = combine.lock() {
                            c.failed(r, e);
                        }
                        return;
                    }
                };
            let Ok(mut guard) = combine.lock() else {
                stop.store(true, Ordering::SeqCst);
                return;
            };
            let c = &mut *guard;
            c.pending.insert(r, *out);
            if c.combine_due() {
                stop.store(true, Ordering::SeqCst);
            }
            progress(c.acc.len() as u32);
        }
    };
    let workers = |n: usize| {
        rayon::scope(|s| {
            for _ in 0..n.max(1) {
                s.spawn(|_| worker());
            }
        });
    };
    if opts.threads == 0 {
        workers(rayon::current_num_threads());
    } else {
        rayon::ThreadPoolBuilder::new()
            .num_threads(opts.threads)
            .build()
            .map_err(|e| SimError::Threads {
                threads: opts.threads,
                reason: e.to_string(),
            })?
            .install(|| workers(opts.threads));
    }
    let c = combine.into_inner().map_err(|_| SimError::Threads {
        threads: opts.threads,
        reason: "a worker thread panicked".to_string(),
    })?;
    if let Some(e) = c.error {
        return Err(e);
    }
    // Replications are combined in order, so those combined are a prefix; replications that
    // finished after one abandoned on cancel are dropped with it.
    let done = c.acc.len() as u32;
    if done < 2 {
        return Err(SimError::Cancelled(done));
    }
    Ok(c.acc.finish(&m, reps, done < reps, opts.plan.is_some()))
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
