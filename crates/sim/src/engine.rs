//! One replication: a discrete-event simulation of the plant over the horizon.
//!
//! Batches (one per patient) walk through their product's steps. A step seizes all the
//! resources it uses at once, when every one has a free unit; resources held only for part of
//! the step (`hours`) are released early; equipment and areas stay occupied for the step's
//! cleaning time afterwards.
//!
//! Waiting batches that compete for units of the same resource pool are ranked by that pool's
//! own dispatching rule (then by the time they became ready, then by batch index); a batch
//! starts when it can seize every use of its step and no batch ranked before it at a pool whose
//! free units do not suffice for all could start instead. Batches that cannot start yet are
//! skipped: they hold nothing and reserve nothing. See [`Sim::next_to_start`] for the details.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use model::{Arrivals, Dist, Model, Outcome, Plan, ResourceKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, Exp1, StandardNormal};

use crate::SimError;
use crate::events::EventQueue;
use crate::output::RepOutput;
use crate::queue::{Keys, Place, Queues, RULES, rule_index};
use crate::results::{Observation, Observed, Replication};
use crate::sketch::Sketch;

/// Cap on the time after the horizon spent finishing the cohort, hours.
const DRAIN_CAP_H: f64 = model::limits::DRAIN_CAP_H;

/// How many events pass between two looks at the cancel flag.
const CANCEL_EVERY: u64 = 1 << 14;

const EPS: f64 = 1e-9;

/// Observations per sketch a replication makes room for at its start (it grows beyond if it
/// must).
const SKETCH_ROOM: usize = 1024;

/// Whether a unit of a resource of `kind` released at the end of a step with cleaning time
/// `clean_h` is cleaned before it is free again (staff is not cleaned).
fn goes_to_cleaning(kind: ResourceKind, clean_h: f64) -> bool {
    !matches!(kind, ResourceKind::Staff) && clean_h > 0.0
}

/// [`Sim::blocked_by`] of a step that any freed unit it can use wakes.
const NOT_BLOCKED: usize = usize::MAX;

/// The bit of use `u` in the use masks of [`Sim::res_steps`].
fn use_bit(u: usize) -> u64 {
    if u < 64 { 1 << u } else { u64::MAX }
}

/// A batch's or resource's index inside an event (events are kept small: the queue moves them
/// at every push and pop).
type Ix = u32;

/// A batch's or resource's state version; an event carrying an older one is stale. It wraps
/// after 2^32 changes of one batch, far beyond the event budget of a replication.
type Token = u32;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Arrival {
        demand: Ix,
    },
    PlannedArrival {
        order: Ix,
    },
    Ready {
        batch: Ix,
        token: Token,
    },
    StepEnd {
        batch: Ix,
        token: Token,
    },
    PartialRelease {
        batch: Ix,
        token: Token,
        use_idx: Ix,
    },
    CleanDone {
        res: Ix,
        count: u32,
    },
    HoldExpire {
        batch: Ix,
        token: Token,
    },
    PlanGate,
    ShiftChange {
        res: Ix,
    },
    Breakdown {
        res: Ix,
        token: Token,
    },
    Repair {
        res: Ix,
    },
}

/// An index as carried by an event. Models are far smaller than 2^32 batches, resources and
/// orders (the event budget bounds the batches of a replication).
fn ix(i: usize) -> Ix {
    i as Ix
}

impl Kind {
    /// Number of kinds (for counting events by kind).
    const COUNT: usize = 11;

    fn index(self) -> usize {
        match self {
            Kind::Arrival { .. } => 0,
            Kind::PlannedArrival { .. } => 1,
            Kind::Ready { .. } => 2,
            Kind::StepEnd { .. } => 3,
            Kind::PartialRelease { .. } => 4,
            Kind::CleanDone { .. } => 5,
            Kind::HoldExpire { .. } => 6,
            Kind::PlanGate => 7,
            Kind::ShiftChange { .. } => 8,
            Kind::Breakdown { .. } => 9,
            Kind::Repair { .. } => 10,
        }
    }

    const NAMES: [&'static str; Kind::COUNT] = [
        "patient arrivals",
        "planned arrivals",
        "batches ready after transfer",
        "step ends",
        "partial releases of resources",
        "ends of cleaning",
        "hold-time expiries",
        "planned start times",
        "shift changes",
        "equipment breakdowns",
        "repairs",
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Transfer,
    Waiting,
    Running,
    Done,
    Lost,
}

#[derive(Debug, Clone)]
struct Held {
    res: usize,
    count: u32,
    use_idx: usize,
    released: bool,
}

#[derive(Debug, Clone)]
struct Batch {
    product: usize,
    order: Option<usize>,
    arrival: f64,
    due: f64,
    target_h: f64,
    cohort: bool,
    step: usize,
    resume: Option<usize>,
    ready_at: f64,
    /// Dispatching keys for the current step, under each rule of its pools.
    keys: Keys,
    hold_deadline: Option<f64>,
    /// The step whose intermediate is being held.
    hold_from: Option<usize>,
    token: Token,
    rework: u32,
    reman: u32,
    state: State,
    held: Vec<Held>,
    run_start: f64,
    run_end: f64,
    /// Work left on a step interrupted by a breakdown.
    remaining_h: Option<f64>,
    started_any: bool,
    /// Units kept after the last step ended (blocking): (resource, count), released when
    /// the batch starts its next step or leaves.
    kept: Vec<(usize, u32)>,
    /// Cleaning time, hours, of the step whose units are kept (it follows their release).
    kept_clean_h: f64,
}

#[derive(Debug, Clone)]
struct Res {
    /// Units on duty now (the installed count, or the shift calendar's head count of the
    /// current interval between two shift changes).
    on_duty: u32,
    busy: u32,
    cleaning: u32,
    down: u32,
    /// Units kept by blocked batches (their step ended, their next has not started).
    blocked: u32,
    /// Unit-hours kept by blocked batches within the window.
    blocked_integral: f64,
    /// Batches processing on this resource (for breakdowns).
    running: Vec<usize>,
    last_t: f64,
    busy_integral: f64,
    weekly: Vec<f64>,
    /// The week of the window that [`Sim::account_res`] added to last, and its bounds.
    week: usize,
    week_lo: f64,
    week_hi: f64,
    breakdowns: u32,
    fail_token: Token,
}

/// Room for the batches a replication is expected to create (a quarter more than the mean
/// number of arrivals, at most a million: the vector grows beyond that if it must).
fn expected_batches(m: &Model, plan: Option<&Plan>) -> usize {
    let n = match plan {
        Some(p) => p.orders.len() as f64,
        None => m
            .demand
            .iter()
            .map(|d| match &d.arrivals {
                Arrivals::Poisson { per_hour } => per_hour * m.horizon_h,
                Arrivals::Times { at_h } => at_h.len() as f64,
            })
            .sum(),
    };
    (1.25 * n + 16.0).min(1e6) as usize
}

/// The times within the week (hours from Monday 00:00, ascending) at which a shift calendar's
/// head count really changes; empty when it never does (e.g. round the clock written day by
/// day), so that the simulation does not stop at edges where nothing changes.
fn count_changes(c: &model::Calendar) -> Vec<f64> {
    let mut edges: Vec<f64> = c
        .windows
        .iter()
        .flat_map(|w| [w.start_h, w.end_h])
        .map(|e| {
            if e >= model::WEEK_H {
                e - model::WEEK_H
            } else {
                e
            }
        })
        .collect();
    edges.sort_by(f64::total_cmp);
    edges.dedup();
    let n = edges.len();
    // Head count from each edge until the next (cyclically).
    let counts: Vec<u32> = (0..n)
        .map(|i| {
            let next = if i + 1 < n {
                edges[i + 1]
            } else {
                edges[0] + model::WEEK_H
            };
            c.on_duty(0.5 * (edges[i] + next))
        })
        .collect();
    (0..n)
        .filter(|&i| counts[i] != counts[(i + n - 1) % n])
        .map(|i| edges[i])
        .collect()
}

/// The first time after `t` at which the head count changes (`changes` from
/// [`count_changes`]); infinite when it never does.
fn next_count_change(changes: &[f64], t: f64) -> f64 {
    next_count_change_at(changes, t).map_or(f64::INFINITY, |(at, _)| at)
}

/// As [`next_count_change`], with the index of that change in `changes`; `None` when the
/// head count never changes.
fn next_count_change_at(changes: &[f64], t: f64) -> Option<(f64, usize)> {
    let base = (t / model::WEEK_H).floor() * model::WEEK_H;
    for off in [0.0, model::WEEK_H] {
        for (j, &c) in changes.iter().enumerate() {
            let at = base + off + c;
            if at > t + 1e-9 {
                return Some((at, j));
            }
        }
    }
    None
}

/// Per change of a calendar's head count (`changes` from [`count_changes`]): the head count
/// in the interval that ends at that change — the count [`on_duty_from`] gives at any time
/// in it, looked up instead of computed at every shift change. `None` for an interval
/// shorter than a few milliseconds, where [`on_duty_from`] is asked.
fn counts_before_changes(c: &model::Calendar, changes: &[f64]) -> Vec<Option<u32>> {
    let n = changes.len();
    (0..n)
        .map(|j| {
            let prev = if j == 0 {
                changes[n - 1] - model::WEEK_H
            } else {
                changes[j - 1]
            };
            let gap = changes[j] - prev;
            (gap > 1e-6).then(|| c.on_duty(prev + 0.5 * gap))
        })
        .collect()
}

/// Units of `r` on duty from time `t` until its calendar's next change: the head count in the
/// middle of that interval, so that rounding at the change itself cannot pick the wrong side.
fn on_duty_from(r: &model::Resource, changes: &[f64], t: f64) -> u32 {
    match &r.calendar {
        None => r.capacity,
        Some(c) => {
            let next = next_count_change(changes, t);
            let probe = if next.is_finite() {
                t + 0.5 * (next - t)
            } else {
                t
            };
            c.on_duty(probe)
        }
    }
}

/// A step that can start a batch now, found by a dispatch pass.
#[derive(Debug, Clone, Copy)]
struct Feasible {
    /// Flat step index.
    step: usize,
    /// The units it would seize: a range of [`PassScratch::alloc`].
    alloc: (usize, usize),
    /// Its first batch (allowed by the plan) in its primary order.
    head: Place,
}

/// Memory of a dispatch pass, reused between passes (no allocation per event).
#[derive(Debug, Default)]
struct PassScratch {
    /// Steps that may still start a batch in this pass.
    open: Vec<usize>,
    /// Steps that can start a batch now.
    feasible: Vec<Feasible>,
    /// Units the feasible steps would seize: (resource, count, use index).
    alloc: Vec<(usize, u32, usize)>,
    /// Per resource: units asked for by the batches that could start now (all zero between
    /// calls of `next_to_start`).
    demand: Vec<u64>,
    /// Resources with demand.
    touched: Vec<usize>,
    /// Pools whose free units do not suffice for every batch that could start now.
    contested: Vec<usize>,
    /// Per resource: the first batch under its rule, set for contested pools only (all `None`
    /// between calls of `next_to_start`).
    front: Vec<Option<Place>>,
}

impl PassScratch {
    fn new(resources: usize) -> Self {
        PassScratch {
            demand: vec![0; resources],
            front: vec![None; resources],
            ..PassScratch::default()
        }
    }
}

/// Simulates one replication (with the default event budget).
pub fn replicate(model: &Model, index: u32, plan: Option<&Plan>) -> Result<Replication, SimError> {
    let limits = Limits::default();
    match replicate_full(model, &Prepared::new(model), index, plan, false, &limits) {
        Ended::Done(out) => Ok(out.rep),
        Ended::Failed(e) => Err(e),
        Ended::Cancelled => Err(SimError::Cancelled(0)),
    }
}

/// Simulates one replication and returns its raw observations too (in the order they were
/// made; unfinished patients last).
pub fn replicate_observed(
    model: &Model,
    index: u32,
    plan: Option<&Plan>,
) -> Result<(Replication, Vec<Observation>), SimError> {
    let limits = Limits::default();
    match replicate_full(model, &Prepared::new(model), index, plan, true, &limits) {
        Ended::Done(out) => Ok((out.rep, out.observations)),
        Ended::Failed(e) => Err(e),
        Ended::Cancelled => Err(SimError::Cancelled(0)),
    }
}

/// What stops a replication early.
pub(crate) struct Limits<'c> {
    /// Most events one replication may handle.
    pub event_budget: u64,
    /// Set to abandon the replication (looked at every [`CANCEL_EVERY`] events).
    pub cancel: Option<&'c AtomicBool>,
}

impl Default for Limits<'_> {
    fn default() -> Self {
        Limits {
            event_budget: model::limits::EVENT_BUDGET,
            cancel: None,
        }
    }
}

/// How a replication ended.
pub(crate) enum Ended {
    Done(Box<RepOutput>),
    /// It exceeded the event budget.
    Failed(SimError),
    /// It was abandoned on cancel.
    Cancelled,
}

/// What every replication of a model needs and is the same for all, computed once per run:
/// the hours on duty of each resource over the observation window and in each week of it
/// (the denominators of utilisation).
#[derive(Debug)]
pub(crate) struct Prepared {
    /// Per resource: hours on duty in the window, and in each week of it.
    cap_hours: Vec<(f64, Vec<f64>)>,
}

impl Prepared {
    pub fn new(m: &Model) -> Self {
        let window = (m.horizon_h - m.warmup_h).max(EPS);
        let weeks = weeks_of(m);
        let cap_hours = m
            .resources
            .iter()
            .map(|res| {
                let total = match &res.calendar {
                    Some(c) => c.capacity_hours(m.warmup_h, m.horizon_h),
                    None => f64::from(res.capacity) * window,
                };
                let weekly = (0..weeks)
                    .map(|w| {
                        let a = m.warmup_h + w as f64 * model::WEEK_H;
                        let b = (a + model::WEEK_H).min(m.horizon_h);
                        match &res.calendar {
                            Some(c) => c.capacity_hours(a, b),
                            None => f64::from(res.capacity) * (b - a),
                        }
                    })
                    .collect();
                (total, weekly)
            })
            .collect();
        Prepared { cap_hours }
    }
}

/// Weeks of the observation window (at least one), as the weekly utilisation counts them.
fn weeks_of(m: &Model) -> usize {
    let window = (m.horizon_h - m.warmup_h).max(0.0);
    (window / model::WEEK_H).ceil().max(1.0) as usize
}

pub(crate) fn replicate_full(
    model: &Model,
    prep: &Prepared,
    index: u32,
    plan: Option<&Plan>,
    observe: bool,
    limits: &Limits<'_>,
) -> Ended {
    let mut rng = ChaCha8Rng::seed_from_u64(model.seed);
    rng.set_stream(u64::from(index));
    let mut sim = Sim::new(model, rng, plan);
    sim.observer.on = observe;
    match sim.run(limits) {
        Run::Finished => Ended::Done(Box::new(sim.finish(index, prep))),
        Run::Cancelled => Ended::Cancelled,
        Run::Deadlock(d) => Ended::Failed(SimError::Deadlock {
            replication: index,
            day: sim.now / 24.0,
            batches: d.batches.join("; "),
            resources: d.resources.join(", "),
        }),
        Run::OverBudget => {
            let (most, n) = sim
                .kind_counts
                .iter()
                .enumerate()
                .max_by_key(|(_, n)| **n)
                .map_or(("events", 0), |(k, n)| (Kind::NAMES[k], *n));
            Ended::Failed(SimError::EventBudget {
                replication: index,
                budget: limits.event_budget,
                day: sim.now / 24.0,
                most: format!("{n} {most}"),
            })
        }
    }
}

/// Why a batch is sent back, re-manufactured or lost: named (in `lost_by_cause`) only when a
/// patient of the cohort is lost, so that the text is not made for every failed step or
/// triggered decision.
#[derive(Debug, Clone, Copy)]
enum Cause<'m> {
    /// The step (its name) failed.
    Failure(&'m str),
    /// An in-process decision (its measure) at the step (its name).
    Decision(&'m str, &'m str),
    /// The shelf life after the step (its name) ran out.
    ShelfLife(&'m str),
    /// A unit broke down under the step (its name).
    Breakdown(&'m str),
}

impl Cause<'_> {
    fn text(self) -> String {
        match self {
            Cause::Failure(step) => format!("failure at {step}"),
            Cause::Decision(measure, step) => format!("{measure} at {step}"),
            Cause::ShelfLife(step) => format!("shelf life exceeded after {step}"),
            Cause::Breakdown(step) => format!("equipment breakdown at {step}"),
        }
    }
}

/// How the main loop ended.
enum Run {
    Finished,
    Cancelled,
    OverBudget,
    /// Blocked batches that can never start their next steps.
    Deadlock(Deadlock),
}

/// What a deadlock involves, named for the error.
struct Deadlock {
    /// The blocked batches (patients), each with its product, the step it waits for and
    /// what it keeps.
    batches: Vec<String>,
    /// The resources: kept units by these batches of the installed ones.
    resources: Vec<String>,
}

/// The raw observations of a replication, kept only when asked for.
#[derive(Default)]
struct Observer {
    /// Whether raw observations are recorded.
    on: bool,
    list: Vec<Observation>,
}

impl Observer {
    /// Records `value` observed for patient (batch) `patient` at `time_h`, if recording.
    fn record(&mut self, patient: usize, what: Observed, time_h: f64, value: f64) {
        if self.on {
            self.list.push(Observation {
                patient: patient as u32,
                what,
                time_h,
                value,
            });
        }
    }
}

struct Sim<'a> {
    m: &'a Model,
    plan: Option<&'a Plan>,
    rng: ChaCha8Rng,
    now: f64,
    events: EventQueue<Kind>,
    res: Vec<Res>,
    batches: Vec<Batch>,
    queues: Queues,
    /// Whether the pools that steps use have more than one dispatching rule.
    mixed_rules: bool,
    /// Per flat step: whether one of its pools uses least slack (its key needs the expected
    /// remaining time).
    slack_step: Vec<bool>,
    /// Reused between dispatch passes (no allocation per event); `None` only during a pass.
    pass: Option<Box<PassScratch>>,
    dirty: bool,
    /// Per flat step: woken for the next dispatch pass ([`Sim::wake_step`]).
    wake: Vec<bool>,
    /// The woken steps.
    woken: Vec<usize>,
    /// Every step is woken.
    wake_everything: bool,
    /// Batches queued at this instant whose hold-time expiry is still to be scheduled, with
    /// their tokens.
    hold_pending: Vec<(usize, Token)>,
    /// Per resource: the flat steps that can use it, each with the uses of the step that
    /// have it among their candidates (bit `u` for use `u`; every bit for uses beyond 63).
    res_steps: Vec<Vec<(usize, u64)>>,
    /// Per flat step: no resource is a candidate of two of its uses, so whether a use can be
    /// seized depends on its own candidates only.
    disjoint: Vec<bool>,
    /// Per flat step: the use that could not be seized when the step was last closed by a
    /// dispatch pass ([`NOT_BLOCKED`] if it was not closed for want of units, or its uses
    /// share candidates). Until units of that use's candidates are freed the step cannot
    /// start a batch, so freeing other units does not wake it.
    blocked_by: Vec<usize>,
    /// Per resource: when in the week its head count changes ([`count_changes`]).
    count_changes: Vec<Vec<f64>>,
    /// Per resource, per change: the head count until it ([`counts_before_changes`]).
    counts_before: Vec<Vec<Option<u32>>>,
    step_offset: Vec<usize>,
    /// Per flat step: (product, step index).
    flat_step: Vec<(usize, usize)>,
    active_cohort: u32,
    pending_orders: usize,
    in_process: u32,
    wip_integral: f64,
    wip_last: f64,
    // Cohort and window measurements.
    patients: u32,
    lost: u32,
    lost_by_cause: BTreeMap<String, u32>,
    v2v_days: Sketch,
    on_time: u32,
    released_window: u32,
    waits: Vec<Sketch>,
    /// Raw observations, recorded on request.
    observer: Observer,
    hold_violations: Vec<u32>,
    starts: Vec<u32>,
    failures: Vec<u32>,
    batches_started: u32,
    reworked: u32,
    remanufactured: u32,
    weeks: usize,
    /// Events handled, by kind.
    kind_counts: [u64; Kind::COUNT],
    /// Whether some step keeps units after it ends (blocking): only then are kept units
    /// released inside a dispatch pass and deadlocks looked for.
    blocking: bool,
    /// Batches that keep units now.
    keepers: Vec<usize>,
    /// Emptied `held` vectors of batches that left, for new batches (no allocation each).
    spare_held: Vec<Vec<Held>>,
}

/// The dispatching rules of each step's pools (flat step order), the primary rule (first
/// candidate of the first use) first; and whether the model mixes rules.
fn step_rules(m: &Model, n: usize) -> (Vec<Vec<usize>>, bool) {
    let mut rules = Vec::with_capacity(n);
    let mut seen = [false; RULES];
    for p in &m.products {
        for s in &p.steps {
            let mut r: Vec<usize> = Vec::new();
            for &c in s.uses.iter().flat_map(|u| &u.candidates) {
                let i = rule_index(m.resources[c].dispatch);
                seen[i] = true;
                if !r.contains(&i) {
                    r.push(i);
                }
            }
            rules.push(r);
        }
    }
    let mixed_rules = seen.iter().filter(|&&x| x).count() > 1;
    (rules, mixed_rules)
}

/// For each resource, the steps (flat index) that may use it with the bit mask of their
/// uses; and for each step, whether its uses' candidates are disjoint.
fn step_uses(m: &Model, n: usize) -> (Vec<Vec<(usize, u64)>>, Vec<bool>) {
    let mut res_steps: Vec<Vec<(usize, u64)>> = vec![Vec::new(); m.resources.len()];
    let mut disjoint = Vec::with_capacity(n);
    for (flat, s) in m.products.iter().flat_map(|p| &p.steps).enumerate() {
        let mut seen: Vec<usize> = Vec::new();
        let mut repeats = false;
        for (ui, u) in s.uses.iter().enumerate() {
            let bit = use_bit(ui);
            for &c in &u.candidates {
                repeats |= seen.contains(&c);
                seen.push(c);
                match res_steps[c].iter_mut().find(|(st, _)| *st == flat) {
                    Some((_, mask)) => *mask |= bit,
                    None => res_steps[c].push((flat, bit)),
                }
            }
        }
        disjoint.push(!repeats);
    }
    (res_steps, disjoint)
}

/// The resources' state at time 0.
fn fresh_resources(m: &Model, changes: &[Vec<f64>], weeks: usize) -> Vec<Res> {
    m.resources
        .iter()
        .zip(changes)
        .map(|(r, ch)| Res {
            on_duty: on_duty_from(r, ch, 0.0),
            busy: 0,
            cleaning: 0,
            down: 0,
            blocked: 0,
            blocked_integral: 0.0,
            running: Vec::new(),
            last_t: 0.0,
            busy_integral: 0.0,
            weekly: vec![0.0; weeks],
            week: 0,
            week_lo: f64::INFINITY,
            week_hi: f64::NEG_INFINITY,
            breakdowns: 0,
            fail_token: 0,
        })
        .collect()
}

impl<'a> Sim<'a> {
    fn new(m: &'a Model, rng: ChaCha8Rng, plan: Option<&'a Plan>) -> Self {
        let mut step_offset = Vec::with_capacity(m.products.len());
        let mut flat_step = Vec::new();
        let mut n = 0;
        for (pi, p) in m.products.iter().enumerate() {
            step_offset.push(n);
            flat_step.extend((0..p.steps.len()).map(|s| (pi, s)));
            n += p.steps.len();
        }
        let (rules, mixed_rules) = step_rules(m, n);
        let (res_steps, disjoint) = step_uses(m, n);
        let slack = rule_index(model::Dispatch::LeastSlack);
        let slack_step = rules.iter().map(|r| r.contains(&slack)).collect();
        let expected = expected_batches(m, plan);
        let weeks = weeks_of(m);
        let changes: Vec<Vec<f64>> = m
            .resources
            .iter()
            .map(|r| r.calendar.as_ref().map(count_changes).unwrap_or_default())
            .collect();
        let res = fresh_resources(m, &changes, weeks);
        Sim {
            m,
            plan,
            rng,
            now: 0.0,
            events: EventQueue::with_capacity(64 + 2 * m.resources.len()),
            res,
            batches: Vec::with_capacity(expected),
            queues: Queues::new(rules),
            mixed_rules,
            slack_step,
            pass: Some(Box::new(PassScratch::new(m.resources.len()))),
            dirty: false,
            wake: vec![false; n],
            woken: Vec::with_capacity(n),
            wake_everything: false,
            hold_pending: Vec::new(),
            res_steps,
            disjoint,
            blocked_by: vec![NOT_BLOCKED; n],
            counts_before: m
                .resources
                .iter()
                .zip(&changes)
                .map(|(r, ch)| match &r.calendar {
                    Some(c) => counts_before_changes(c, ch),
                    None => Vec::new(),
                })
                .collect(),
            count_changes: changes,
            step_offset,
            flat_step,
            active_cohort: 0,
            pending_orders: plan.map_or(0, |p| p.orders.len()),
            in_process: 0,
            wip_integral: 0.0,
            wip_last: 0.0,
            patients: 0,
            lost: 0,
            lost_by_cause: BTreeMap::new(),
            v2v_days: Sketch::with_capacity(expected.min(SKETCH_ROOM)),
            on_time: 0,
            released_window: 0,
            // Not `vec![..; n]`: a clone of a vector does not keep its capacity.
            waits: (0..n)
                .map(|_| Sketch::with_capacity(expected.min(SKETCH_ROOM)))
                .collect(),
            observer: Observer::default(),
            hold_violations: vec![0; n],
            starts: vec![0; n],
            failures: vec![0; n],
            batches_started: 0,
            reworked: 0,
            remanufactured: 0,
            weeks,
            kind_counts: [0; Kind::COUNT],
            blocking: m.has_blocking(),
            keepers: Vec::new(),
            spare_held: Vec::new(),
        }
    }

    #[inline]
    fn schedule(&mut self, t: f64, kind: Kind) {
        self.events.push(t, kind);
    }

    fn in_window(&self, t: f64) -> bool {
        t >= self.m.warmup_h && t < self.m.horizon_h
    }

    // ---- sampling ----------------------------------------------------------------------

    fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    fn sample(&mut self, d: &Dist) -> f64 {
        match d {
            Dist::Fixed { value } => *value,
            Dist::Uniform { min, max } => min + (max - min) * self.uniform(),
            Dist::Triangular { min, mode, max } => {
                let u = self.uniform();
                let (a, c, b) = (*min, *mode, *max);
                if b - a <= 0.0 {
                    return a;
                }
                let f = (c - a) / (b - a);
                if u < f {
                    a + (u * (b - a) * (c - a)).sqrt()
                } else {
                    b - ((1.0 - u) * (b - a) * (b - c)).sqrt()
                }
            }
            Dist::TruncatedNormal { mean, sd, min, max } => {
                // Rejection; compile() guarantees at least 0.1 % of the mass inside.
                for _ in 0..100_000 {
                    let z: f64 = StandardNormal.sample(&mut self.rng);
                    let x = mean + sd * z;
                    if x >= *min && x <= *max {
                        return x;
                    }
                }
                mean.clamp(*min, *max)
            }
            Dist::Lognormal { mu, sigma } => {
                let z: f64 = StandardNormal.sample(&mut self.rng);
                (mu + sigma * z).exp()
            }
            Dist::Exponential { mean } => {
                let e: f64 = Exp1.sample(&mut self.rng);
                mean * e
            }
            Dist::Empirical { values, cumulative } => {
                let u = self.uniform();
                let i = cumulative.partition_point(|c| *c < u).min(values.len() - 1);
                values[i]
            }
        }
    }

    fn exp(&mut self, mean: f64) -> f64 {
        let e: f64 = Exp1.sample(&mut self.rng);
        mean * e
    }

    // ---- accounting --------------------------------------------------------------------

    #[inline(always)]
    fn account_res(&mut self, r: usize) {
        let (warmup, horizon, now) = (self.m.warmup_h, self.m.horizon_h, self.now);
        let st = &mut self.res[r];
        let a = st.last_t;
        st.last_t = now;
        let units = st.busy + st.cleaning;
        if (units == 0 && st.blocked == 0) || now <= a {
            return;
        }
        let lo = a.max(warmup);
        let hi = now.min(horizon);
        if hi <= lo {
            return;
        }
        if st.blocked > 0 {
            st.blocked_integral += f64::from(st.blocked) * (hi - lo);
            if units == 0 {
                return;
            }
        }
        let busy = f64::from(units);
        st.busy_integral += busy * (hi - lo);
        // Spread over weeks of the window; the week of the last call is kept, so that most
        // calls add to it without finding it again — most at once, as here (the loop below
        // would add the same).
        if st.week_lo <= lo && hi <= st.week_hi {
            if let Some(slot) = st.weekly.get_mut(st.week) {
                *slot += busy * (hi - lo);
            }
            return;
        }
        let mut t = lo;
        while t < hi {
            if !(st.week_lo <= t && t < st.week_hi) {
                // `t - warm-up` is not negative, so the cast is the floor (no call into libm).
                let mut w = ((t - warmup) / model::WEEK_H) as usize;
                let mut w_end = warmup + (w as f64 + 1.0) * model::WEEK_H;
                // Rounding can put `t` on the end of the week it was computed in; move on, or
                // the loop would never advance.
                if w_end <= t {
                    w += 1;
                    w_end = warmup + (w as f64 + 1.0) * model::WEEK_H;
                }
                st.week = w;
                st.week_lo = t.min(warmup + w as f64 * model::WEEK_H);
                st.week_hi = w_end;
            }
            let seg_end = st.week_hi.min(hi);
            if let Some(slot) = st.weekly.get_mut(st.week) {
                *slot += busy * (seg_end - t);
            }
            t = seg_end;
        }
    }

    fn account_wip(&mut self) {
        let lo = self.wip_last.max(self.m.warmup_h);
        let hi = self.now.min(self.m.horizon_h);
        if hi > lo {
            self.wip_integral += f64::from(self.in_process) * (hi - lo);
        }
        self.wip_last = self.now;
    }

    fn available(&self, r: usize) -> u32 {
        let st = &self.res[r];
        st.on_duty
            .saturating_sub(st.busy + st.cleaning + st.down + st.blocked)
    }

    /// Marks the steps that can use resource `r` for the next dispatch pass: more of its
    /// units are free (released, cleaned, repaired, or a shift began). Steps without waiting
    /// batches stay asleep (a batch that joins a queue wakes its step), and so does a step
    /// that the last pass closed because a use of it whose candidates do not include `r`
    /// could not be seized: it still cannot seize that use. When no step wakes, no dispatch
    /// pass follows (it would start nothing) — except with blocking, where every pass also
    /// looks for a deadlock, as before.
    #[inline]
    fn wake_res(&mut self, r: usize) {
        let Sim {
            res_steps,
            wake,
            woken,
            dirty,
            blocked_by,
            queues,
            ..
        } = self;
        for &(s, uses) in &res_steps[r] {
            if wake[s] {
                // Woken already (and perhaps left over by the last pass): a pass follows.
                *dirty = true;
                continue;
            }
            let blocked = blocked_by[s];
            if queues.step_len(s) > 0 && (blocked == NOT_BLOCKED || uses & use_bit(blocked) != 0) {
                wake[s] = true;
                woken.push(s);
                *dirty = true;
            }
        }
        if self.blocking {
            self.dirty = true;
        }
    }

    /// Marks flat step `s` for the next dispatch pass: a batch joined its queue.
    fn wake_step(&mut self, s: usize) {
        if !self.wake[s] {
            self.wake[s] = true;
            self.woken.push(s);
        }
        self.dirty = true;
    }

    /// Marks every step for the next dispatch pass (a plan's start time came, or a breakdown
    /// moved batches and units at once).
    fn wake_all(&mut self) {
        self.wake_everything = true;
        self.dirty = true;
    }

    // ---- main loop ---------------------------------------------------------------------

    fn run(&mut self, limits: &Limits<'_>) -> Run {
        self.start();
        let mut handled: u64 = 0;
        while let Some((t, kind)) = self.events.pop() {
            handled += 1;
            if handled.is_multiple_of(CANCEL_EVERY)
                && limits
                    .cancel
                    .is_some_and(|c| c.load(AtomicOrdering::Relaxed))
            {
                return Run::Cancelled;
            }
            if handled > limits.event_budget {
                self.now = t;
                return Run::OverBudget;
            }
            self.kind_counts[kind.index()] += 1;
            if t >= self.m.horizon_h && self.active_cohort == 0 && self.pending_orders == 0 {
                break;
            }
            if t > self.m.horizon_h + DRAIN_CAP_H {
                // Cut off: patients still in process are censored at this time.
                self.now = self.m.horizon_h + DRAIN_CAP_H;
                break;
            }
            self.now = t;
            self.handle(kind);
            // Handle every event at the same instant before dispatching.
            let same_instant = self.events.peek_time().is_some_and(|t| t == self.now);
            if self.dirty && !same_instant {
                self.dispatch();
                self.arm_hold_timers();
                if self.blocking
                    && let Some(d) = self.deadlock()
                {
                    return Run::Deadlock(d);
                }
            }
        }
        self.now = self.now.max(self.m.horizon_h);
        for r in 0..self.res.len() {
            self.account_res(r);
        }
        self.account_wip();
        Run::Finished
    }

    fn start(&mut self) {
        if let Some(plan) = self.plan {
            for (i, o) in plan.orders.iter().enumerate() {
                self.schedule(o.release_h, Kind::PlannedArrival { order: ix(i) });
            }
            let mut gates: Vec<f64> = plan.ops.iter().map(|o| o.start_h).collect();
            gates.sort_by(f64::total_cmp);
            gates.dedup();
            for g in gates {
                self.schedule(g, Kind::PlanGate);
            }
        } else {
            for (di, d) in self.m.demand.iter().enumerate() {
                match &d.arrivals {
                    Arrivals::Poisson { per_hour } => {
                        let t = self.exp(1.0 / per_hour);
                        if t < self.m.horizon_h {
                            self.schedule(t, Kind::Arrival { demand: ix(di) });
                        }
                    }
                    Arrivals::Times { at_h } => {
                        for &t in at_h {
                            self.schedule(t, Kind::Arrival { demand: ix(di) });
                        }
                    }
                }
            }
        }
        for (r, res) in self.m.resources.iter().enumerate() {
            let t = next_count_change(&self.count_changes[r], 0.0);
            if t.is_finite() {
                self.schedule(t, Kind::ShiftChange { res: ix(r) });
            }
            if res.breakdowns.is_some() {
                self.schedule_breakdown(r);
            }
        }
    }

    fn handle(&mut self, kind: Kind) {
        match kind {
            Kind::Arrival { demand } => {
                let d = &self.m.demand[demand as usize];
                if let Arrivals::Poisson { per_hour } = d.arrivals {
                    let next = self.now + self.exp(1.0 / per_hour);
                    if next < self.m.horizon_h {
                        self.schedule(next, Kind::Arrival { demand });
                    }
                }
                let (product, target) = (d.product, d.target_v2v_h);
                self.new_batch(product, None, target);
            }
            Kind::PlannedArrival { order } => {
                let order = order as usize;
                self.pending_orders = self.pending_orders.saturating_sub(1);
                if let Some(plan) = self.plan {
                    let o = &plan.orders[order];
                    let target = (o.due_h - o.release_h).max(0.0);
                    self.new_batch(o.product, Some(order), target);
                }
            }
            Kind::Ready { batch, token } => {
                let batch = batch as usize;
                if self.batches[batch].token == token
                    && self.batches[batch].state == State::Transfer
                {
                    self.enqueue(batch);
                }
            }
            Kind::StepEnd { batch, token } => {
                let batch = batch as usize;
                if self.batches[batch].token == token && self.batches[batch].state == State::Running
                {
                    self.step_end(batch);
                }
            }
            Kind::PartialRelease {
                batch,
                token,
                use_idx,
            } => {
                let (batch, use_idx) = (batch as usize, use_idx as usize);
                if self.batches[batch].token == token && self.batches[batch].state == State::Running
                {
                    self.release_use(batch, use_idx, false);
                }
            }
            Kind::CleanDone { res, count } => {
                let res = res as usize;
                self.account_res(res);
                self.res[res].cleaning = self.res[res].cleaning.saturating_sub(count);
                self.wake_res(res);
            }
            Kind::HoldExpire { batch, token } => {
                let batch = batch as usize;
                let b = &self.batches[batch];
                if b.token == token && b.state == State::Waiting {
                    self.hold_violation(batch);
                }
            }
            Kind::PlanGate => self.wake_all(),
            Kind::ShiftChange { res } => {
                let r = res as usize;
                self.account_res(r);
                let changes = &self.count_changes[r];
                let next = next_count_change_at(changes, self.now);
                self.res[r].on_duty = match next.and_then(|(_, j)| self.counts_before[r][j]) {
                    Some(count) => count,
                    None => on_duty_from(&self.m.resources[r], changes, self.now),
                };
                let t = next.map_or(f64::INFINITY, |(at, _)| at);
                if t.is_finite() && t <= self.m.horizon_h + DRAIN_CAP_H {
                    self.schedule(t, Kind::ShiftChange { res });
                }
                self.wake_res(r);
            }
            Kind::Breakdown { res, token } => {
                let res = res as usize;
                if self.res[res].fail_token == token {
                    self.breakdown(res);
                }
            }
            Kind::Repair { res } => {
                let res = res as usize;
                self.account_res(res);
                self.res[res].down = self.res[res].down.saturating_sub(1);
                self.schedule_breakdown(res);
                self.wake_res(res);
            }
        }
    }

    fn new_batch(&mut self, product: usize, order: Option<usize>, target_h: f64) {
        let cohort = self.in_window(self.now) || order.is_some();
        let p = &self.m.products[product];
        let Some(first) = p.first_regular() else {
            return;
        };
        self.account_wip();
        self.in_process += 1;
        if cohort {
            self.patients += 1;
            self.active_cohort += 1;
        }
        let id = self.batches.len();
        self.batches.push(Batch {
            product,
            order,
            arrival: self.now,
            due: self.now + target_h,
            target_h,
            cohort,
            step: first,
            resume: None,
            ready_at: self.now,
            keys: [self.now; RULES],
            hold_deadline: None,
            hold_from: None,
            token: 0,
            rework: 0,
            reman: 0,
            state: State::Transfer,
            held: self.spare_held.pop().unwrap_or_default(),
            run_start: 0.0,
            run_end: 0.0,
            remaining_h: None,
            started_any: false,
            kept: Vec::new(),
            kept_clean_h: 0.0,
        });
        self.enqueue(id);
    }

    /// The batch is ready for its current step: start it at once if it uses no resource,
    /// otherwise queue it.
    fn enqueue(&mut self, b: usize) {
        let step = &self.m.products[self.batches[b].product].steps[self.batches[b].step];
        let now = self.now;
        let keys = self.priority_keys(b);
        {
            let bt = &mut self.batches[b];
            bt.state = State::Waiting;
            bt.ready_at = now;
            bt.keys = keys;
        }
        if step.uses.is_empty() && self.plan_allows(b) {
            self.start_step(b, &[]);
            return;
        }
        if let Some(dl) = self.batches[b].hold_deadline {
            let token = self.batches[b].token;
            if dl <= now {
                self.schedule(
                    dl,
                    Kind::HoldExpire {
                        batch: ix(b),
                        token,
                    },
                );
            } else {
                // Most batches start in the dispatch pass at this instant: the expiry is
                // scheduled after it, for those still waiting (see `arm_hold_timers`).
                self.hold_pending.push((b, token));
            }
        }
        self.queue(b);
    }

    /// Puts the waiting batch into its step's queue, at its dispatching keys.
    fn queue(&mut self, b: usize) {
        let bt = &self.batches[b];
        let flat = self.step_offset[bt.product] + bt.step;
        self.queues.push(flat, bt.keys, bt.ready_at, b);
        self.wake_step(flat);
    }

    /// The batch's dispatching keys for its current step (smaller first), one per rule: the
    /// planned start when it follows a plan; otherwise `fifo` the time it became ready (now),
    /// `edd` its due date, `least_slack` the expiry of its held intermediate or else its due
    /// date minus the expected remaining processing time (only computed when one of the
    /// step's pools uses that rule).
    fn priority_keys(&self, b: usize) -> Keys {
        let bt = &self.batches[b];
        if let (Some(plan), Some(o)) = (self.plan, bt.order)
            && let Some(s) = plan.start_of(o, bt.step)
        {
            return [s; RULES];
        }
        let mut keys = [0.0; RULES];
        keys[rule_index(model::Dispatch::Fifo)] = self.now;
        keys[rule_index(model::Dispatch::Edd)] = bt.due;
        let flat = self.step_offset[bt.product] + bt.step;
        if self.slack_step[flat] {
            let p = &self.m.products[bt.product];
            keys[rule_index(model::Dispatch::LeastSlack)] = bt
                .hold_deadline
                .unwrap_or(bt.due - p.remaining_mean_h(bt.step));
        }
        keys
    }

    fn plan_allows(&self, b: usize) -> bool {
        let bt = &self.batches[b];
        match (self.plan, bt.order) {
            (Some(plan), Some(o)) => plan
                .start_of(o, bt.step)
                .is_none_or(|s| s <= self.now + EPS),
            _ => true,
        }
    }

    /// Starts every waiting batch that can start now, one at a time, until no waiting batch
    /// can seize every use of its step (see [`Sim::next_to_start`] for which one goes next).
    /// A step whose uses cannot be seized stays closed for the rest of the pass: units only
    /// get scarcer while a pass starts steps, and every batch of a step needs the same units.
    fn dispatch(&mut self) {
        // A start may release units kept after the batch's previous step (blocking): the
        // steps that can use them get another pass at this instant. Every further pass
        // follows such a release, so this ends. (One call site, so that the pass stays
        // inlined into the event loop.)
        loop {
            self.dispatch_pass();
            if !(self.blocking && self.dirty) {
                break;
            }
        }
    }

    /// One dispatch pass over the woken steps (see [`Sim::dispatch`]).
    fn dispatch_pass(&mut self) {
        self.dirty = false;
        if self.queues.len() == 0 {
            self.clear_wake();
            return;
        }
        // The scratch is moved out for the pass (a pointer, not its vectors) so that the
        // helpers can read the rest of the state.
        let Some(mut ps) = self.pass.take() else {
            return;
        };
        // Only steps woken since the last pass can start a batch: at the end of that pass no
        // step could, and a step becomes able to only when a batch joins its queue or units it
        // can use are freed.
        ps.open.clear();
        if self.wake_everything {
            ps.open.extend_from_slice(self.queues.busy());
        } else {
            let queues = &self.queues;
            ps.open
                .extend(self.woken.iter().filter(|&&s| queues.step_len(s) > 0));
        }
        self.clear_wake();
        loop {
            self.feasible_steps(&mut ps);
            let Some((b, f)) = self.next_to_start(&mut ps) else {
                break;
            };
            debug_assert_eq!(self.batches[b].state, State::Waiting);
            let (lo, hi) = ps.feasible[f].alloc;
            self.queues.remove(b);
            self.start_step(b, &ps.alloc[lo..hi]);
        }
        // Steps left feasible (the pools' rules disagree and no batch is chosen) are looked
        // at again next time.
        for f in &ps.feasible {
            if !self.wake[f.step] {
                self.wake[f.step] = true;
                self.woken.push(f.step);
            }
        }
        self.pass = Some(ps);
    }

    /// Schedules the hold-time expiry of the batches queued at this instant with a shelf life
    /// that did not start in the dispatch pass.
    fn arm_hold_timers(&mut self) {
        if self.hold_pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.hold_pending);
        for &(b, token) in &pending {
            let bt = &self.batches[b];
            if bt.token == token
                && bt.state == State::Waiting
                && let Some(dl) = bt.hold_deadline
            {
                self.schedule(
                    dl,
                    Kind::HoldExpire {
                        batch: ix(b),
                        token,
                    },
                );
            }
        }
        self.hold_pending = pending;
        self.hold_pending.clear();
    }

    fn clear_wake(&mut self) {
        for &s in &self.woken {
            self.wake[s] = false;
        }
        self.woken.clear();
        self.wake_everything = false;
    }

    /// Fills `ps.feasible` with the open steps that have a batch allowed to start now (by the
    /// plan, if any) and whose uses can all be seized now, with the units they would take;
    /// closes the other open steps for the rest of the pass (remembering, for a step closed
    /// for want of units, the use it could not seize: [`Sim::wake_res`]).
    fn feasible_steps(&mut self, ps: &mut PassScratch) {
        ps.feasible.clear();
        ps.alloc.clear();
        let mut i = 0;
        while i < ps.open.len() {
            let s = ps.open[i];
            // Without a plan every batch is allowed: the head is the front of the primary order.
            let head = if self.plan.is_none() {
                self.queues.front(s)
            } else {
                let rule = self.queues.primary_rule(s);
                self.queues.first(s, rule, |b| self.plan_allows(b))
            };
            let start = ps.alloc.len();
            let seized = match head {
                Some(_) => self.seize_units(s, &mut ps.alloc),
                None => Ok(()),
            };
            match (head, seized) {
                (Some(head), Ok(())) => {
                    self.blocked_by[s] = NOT_BLOCKED;
                    ps.feasible.push(Feasible {
                        step: s,
                        alloc: (start, ps.alloc.len()),
                        head,
                    });
                    i += 1;
                }
                (_, seized) => {
                    self.blocked_by[s] = match seized {
                        Err(u) if self.disjoint[s] => u,
                        _ => NOT_BLOCKED,
                    };
                    ps.alloc.truncate(start);
                    ps.open.swap_remove(i);
                }
            }
        }
    }

    /// The batch to start next among those of the feasible steps, with its index in
    /// `ps.feasible`.
    ///
    /// A pool is *contested* when the batches that could start now would take more of its
    /// units than are free. At a contested pool the batches are ranked by the pool's own
    /// dispatching rule (then ready time, then batch index); a batch may start when it is the
    /// first at every contested pool it would take units from. Batches that may start do not
    /// compete for any units, so all of them will start; they start in the order of their
    /// steps' primary keys (which decides only the order of their random draws). When no batch
    /// may start because the pools rank them differently (batch A first at one pool, B at
    /// another, and neither first at both), the batch that became ready first among those
    /// first at some contested pool starts, then the lower batch index.
    ///
    /// With one rule throughout, the first batch in that rule's order that can start is first
    /// at every pool, so batches start in that order, as with one global queue.
    fn next_to_start(&self, ps: &mut PassScratch) -> Option<(usize, usize)> {
        let by_head = |ps: &PassScratch| {
            ps.feasible
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.head.cmp(&b.1.head))
                .map(|(i, f)| (f.head.batch, i))
        };
        if ps.feasible.is_empty() {
            return None;
        }
        if !self.mixed_rules {
            return by_head(ps);
        }
        // Units asked for at each pool by the batches that could start now.
        for f in &ps.feasible {
            let units = &ps.alloc[f.alloc.0..f.alloc.1];
            let n = match self.plan {
                None => self.queues.step_len(f.step),
                // Counting beyond the most free units of one pool changes no verdict.
                Some(_) => {
                    let most = units.iter().map(|&(r, _, _)| self.available(r)).max();
                    let cap = most.unwrap_or(0) as usize + 1;
                    self.queues.count(f.step, cap, |b| self.plan_allows(b))
                }
            };
            for &(r, c, _) in units {
                if !ps.touched.contains(&r) {
                    ps.touched.push(r);
                }
                ps.demand[r] += u64::from(c) * n as u64;
            }
        }
        ps.contested.clear();
        for &r in &ps.touched {
            if ps.demand[r] > u64::from(self.available(r)) {
                ps.contested.push(r);
            }
            ps.demand[r] = 0;
        }
        ps.touched.clear();
        if ps.contested.is_empty() {
            return by_head(ps);
        }
        // The first batch at each contested pool, under the pool's rule.
        for &r in &ps.contested {
            let rule = rule_index(self.m.resources[r].dispatch);
            let mut front: Option<Place> = None;
            for f in &ps.feasible {
                if !ps.alloc[f.alloc.0..f.alloc.1].iter().any(|u| u.0 == r) {
                    continue;
                }
                let p = self.queues.first(f.step, rule, |b| self.plan_allows(b));
                if let Some(p) = p
                    && front.is_none_or(|q| p < q)
                {
                    front = Some(p);
                }
            }
            ps.front[r] = front;
        }
        // Batches first at every contested pool they would take units from.
        let mut best: Option<(Place, usize)> = None;
        for (i, f) in ps.feasible.iter().enumerate() {
            let mut first: Option<usize> = None;
            let mut ok = true;
            for &(r, _, _) in &ps.alloc[f.alloc.0..f.alloc.1] {
                if let Some(p) = ps.front[r] {
                    match first {
                        None => first = Some(p.batch),
                        Some(b) => ok &= b == p.batch,
                    }
                }
            }
            let place = match first {
                None => Some(f.head),
                Some(b) => self
                    .queues
                    .place(b, self.queues.primary_rule(f.step))
                    .filter(|&(s, _)| s == f.step)
                    .map(|(_, p)| p),
            };
            if let Some(p) = place.filter(|_| ok)
                && best.is_none_or(|(q, _)| p < q)
            {
                best = Some((p, i));
            }
        }
        // Otherwise the pools disagree: the front-runner that became ready first.
        let fallback = best.is_none().then(|| {
            ps.contested
                .iter()
                .filter_map(|&r| ps.front[r])
                .min_by(|a, b| a.ready.total_cmp(&b.ready).then(a.batch.cmp(&b.batch)))
        });
        for &r in &ps.contested {
            ps.front[r] = None;
        }
        if let Some((p, i)) = best {
            return Some((p.batch, i));
        }
        let p = fallback.flatten()?;
        let (step, _) = self.queues.place(p.batch, 0)?;
        let i = ps.feasible.iter().position(|f| f.step == step)?;
        Some((p.batch, i))
    }

    /// Finds units for every use of flat step `s` now, first free candidate first, and
    /// appends them to `taken`; the first use that finds none is the error (then `taken`
    /// holds a part).
    fn seize_units(&self, s: usize, taken: &mut Vec<(usize, u32, usize)>) -> Result<(), usize> {
        let (product, step) = self.flat_step[s];
        let step = &self.m.products[product].steps[step];
        let start = taken.len();
        let disjoint = self.disjoint[s];
        for (ui, u) in step.uses.iter().enumerate() {
            let mut found = None;
            for &r in &u.candidates {
                // Units of `r` taken by earlier uses of this step (none when the uses share
                // no candidate).
                let already: u32 = if disjoint {
                    0
                } else {
                    taken[start..]
                        .iter()
                        .filter(|(tr, _, _)| *tr == r)
                        .map(|(_, c, _)| *c)
                        .sum()
                };
                if self.available(r) >= already + u.count {
                    found = Some(r);
                    break;
                }
            }
            let Some(r) = found else {
                return Err(ui);
            };
            taken.push((r, u.count, ui));
        }
        Ok(())
    }

    fn start_step(&mut self, b: usize, alloc: &[(usize, u32, usize)]) {
        let (product, step_idx) = (self.batches[b].product, self.batches[b].step);
        let step = &self.m.products[product].steps[step_idx];
        let flat = self.step_offset[product] + step_idx;
        let wait = self.now - self.batches[b].ready_at;
        let duration = match self.batches[b].remaining_h.take() {
            Some(rem) => rem,
            None => {
                let d = self.sample(&step.duration);
                if self.batches[b].cohort {
                    self.waits[flat].add(wait);
                    self.observer
                        .record(b, Observed::Wait { step: flat }, self.now, wait);
                }
                if self.in_window(self.now) {
                    self.starts[flat] += 1;
                    if !self.batches[b].started_any {
                        self.batches_started += 1;
                    }
                }
                self.batches[b].started_any = true;
                d
            }
        };
        let mut held = std::mem::take(&mut self.batches[b].held);
        held.clear();
        for &(r, count, ui) in alloc {
            self.account_res(r);
            self.res[r].busy += count;
            if self.m.resources[r].kind == ResourceKind::Equipment {
                self.res[r].running.push(b);
            }
            held.push(Held {
                res: r,
                count,
                use_idx: ui,
                released: false,
            });
        }
        if !self.batches[b].kept.is_empty() {
            // The kept units were not handed over to this step (they were not free when it
            // seized its units); the batch now moves on and lets them go.
            self.release_kept(b);
        }
        let token = self.batches[b].token.wrapping_add(1);
        let end = self.now + duration;
        {
            let bt = &mut self.batches[b];
            bt.token = token;
            bt.state = State::Running;
            bt.held = held;
            bt.run_start = self.now;
            bt.run_end = end;
            bt.hold_deadline = None;
            bt.hold_from = None;
        }
        for &(_, _, ui) in alloc {
            if let Some(h) = step.uses[ui].hours
                && h < duration
            {
                self.schedule(
                    self.now + h,
                    Kind::PartialRelease {
                        batch: ix(b),
                        token,
                        use_idx: ix(ui),
                    },
                );
            }
        }
        self.schedule(
            end,
            Kind::StepEnd {
                batch: ix(b),
                token,
            },
        );
    }

    /// Releases the units held for one use (or all, when `all`), starting cleaning for
    /// equipment and areas at the end of the step.
    fn release_use(&mut self, b: usize, use_idx: usize, all: bool) {
        let step_clean = {
            let bt = &self.batches[b];
            self.m.products[bt.product].steps[bt.step].cleaning_h
        };
        let mut held = std::mem::take(&mut self.batches[b].held);
        for h in held.iter_mut() {
            if h.released || !(all || h.use_idx == use_idx) {
                continue;
            }
            h.released = true;
            self.account_res(h.res);
            let st = &mut self.res[h.res];
            st.busy = st.busy.saturating_sub(h.count);
            if let Some(pos) = st.running.iter().position(|&x| x == b) {
                st.running.swap_remove(pos);
            }
            if goes_to_cleaning(self.m.resources[h.res].kind, step_clean) {
                st.cleaning += h.count;
                let (res, count) = (ix(h.res), h.count);
                self.schedule(self.now + step_clean, Kind::CleanDone { res, count });
            }
        }
        // Units that go to cleaning are not free yet: the end of cleaning wakes their steps.
        // (With blocking every wake is followed by a pass that looks for a deadlock, so
        // those wake as before.)
        for h in &held {
            if h.released
                && (all || h.use_idx == use_idx)
                && (self.blocking || !goes_to_cleaning(self.m.resources[h.res].kind, step_clean))
            {
                self.wake_res(h.res);
            }
        }
        self.batches[b].held = held;
    }

    fn step_end(&mut self, b: usize) {
        let (product, step_idx) = (self.batches[b].product, self.batches[b].step);
        if self.m.products[product].steps[step_idx].keep.any() {
            self.keep_units(b);
        }
        self.release_use(b, usize::MAX, true);
        let step = &self.m.products[product].steps[step_idx];
        let flat = self.step_offset[product] + step_idx;
        if let Some((p, outcome)) = step.failure
            && p > 0.0
            && self.uniform() < p
        {
            // A failed step keeps nothing: its units are released (and cleaned) now.
            self.release_kept(b);
            if self.in_window(self.now) {
                self.failures[flat] += 1;
            }
            self.apply(b, outcome, step_idx, Cause::Failure(&step.name));
            return;
        }
        for d in &step.decisions {
            let v = self.sample(&d.value);
            if d.triggers(v) {
                self.apply(b, d.then, step_idx, Cause::Decision(&d.measure, &step.name));
                return;
            }
        }
        self.advance(b, step_idx);
    }

    /// At the end of the batch's current step, moves the units its step keeps (still held
    /// for the whole step) from processing to blocked.
    fn keep_units(&mut self, b: usize) {
        let (product, step_idx) = (self.batches[b].product, self.batches[b].step);
        let step = &self.m.products[product].steps[step_idx];
        let mut held = std::mem::take(&mut self.batches[b].held);
        let mut kept = std::mem::take(&mut self.batches[b].kept);
        for h in held.iter_mut() {
            if h.released || !step.keep.keeps(h.res, self.m.resources[h.res].kind) {
                continue;
            }
            h.released = true;
            self.account_res(h.res);
            let st = &mut self.res[h.res];
            st.busy = st.busy.saturating_sub(h.count);
            st.blocked += h.count;
            if let Some(pos) = st.running.iter().position(|&x| x == b) {
                st.running.swap_remove(pos);
            }
            kept.push((h.res, h.count));
        }
        if !kept.is_empty() {
            self.keepers.push(b);
        }
        let bt = &mut self.batches[b];
        bt.held = held;
        bt.kept = kept;
        bt.kept_clean_h = step.cleaning_h;
    }

    /// Releases the units the batch keeps (if any), cleaning them after the kept step.
    fn release_kept(&mut self, b: usize) {
        if self.batches[b].kept.is_empty() {
            return;
        }
        let kept = std::mem::take(&mut self.batches[b].kept);
        let clean = self.batches[b].kept_clean_h;
        for &(r, count) in &kept {
            self.account_res(r);
            let st = &mut self.res[r];
            st.blocked = st.blocked.saturating_sub(count);
            let cleans = !matches!(self.m.resources[r].kind, ResourceKind::Staff);
            if cleans && clean > 0.0 {
                st.cleaning += count;
                self.schedule(self.now + clean, Kind::CleanDone { res: ix(r), count });
            }
            self.wake_res(r);
        }
        // Give the vector back, so that the batch's next keep does not allocate.
        let mut kept = kept;
        kept.clear();
        self.batches[b].kept = kept;
        if let Some(pos) = self.keepers.iter().position(|&x| x == b) {
            self.keepers.swap_remove(pos);
        }
    }

    /// Moves the batch past step `from` along the regular flow.
    fn advance(&mut self, b: usize, from: usize) {
        let p = &self.m.products[self.batches[b].product];
        let step = &p.steps[from];
        let next = if step.optional {
            self.batches[b].resume.take()
        } else {
            p.next_regular(from)
        };
        match next {
            None => self.release(b),
            Some(n) => {
                let (transfer, hold) = (step.transfer_h, step.max_hold_h);
                self.move_to(b, n, transfer, hold.map(|h| (self.now + h, from)));
            }
        }
    }

    fn move_to(&mut self, b: usize, step: usize, transfer_h: f64, hold: Option<(f64, usize)>) {
        let token = self.batches[b].token.wrapping_add(1);
        {
            let bt = &mut self.batches[b];
            bt.token = token;
            bt.step = step;
            bt.state = State::Transfer;
            bt.hold_deadline = hold.map(|h| h.0);
            bt.hold_from = hold.map(|h| h.1);
        }
        if transfer_h > 0.0 {
            self.schedule(
                self.now + transfer_h,
                Kind::Ready {
                    batch: ix(b),
                    token,
                },
            );
        } else {
            self.enqueue(b);
        }
    }

    fn apply(&mut self, b: usize, outcome: Outcome, at: usize, cause: Cause<'a>) {
        let product = self.batches[b].product;
        let p = &self.m.products[product];
        match outcome {
            Outcome::Proceed => self.advance(b, at),
            Outcome::Lost => self.lose(b, || cause.text()),
            Outcome::Repeat | Outcome::Goto(_) => {
                let target = if let Outcome::Goto(k) = outcome {
                    k
                } else {
                    at
                };
                self.batches[b].rework += 1;
                if self.in_window(self.now) {
                    self.reworked += 1;
                }
                if p.max_rework.is_some_and(|m| self.batches[b].rework > m) {
                    self.lose(b, || "rework limit reached".to_string());
                } else {
                    self.move_to(b, target, 0.0, None);
                }
            }
            Outcome::Insert(k) => {
                let resume = if p.steps[at].optional {
                    self.batches[b].resume
                } else {
                    p.next_regular(at)
                };
                self.batches[b].resume = resume;
                let transfer = p.steps[at].transfer_h;
                self.move_to(b, k, transfer, None);
            }
            Outcome::Remanufacture => {
                self.batches[b].reman += 1;
                if self.batches[b].reman > p.max_remanufactures {
                    self.lose(b, || format!("{}; no starting material left", cause.text()));
                } else {
                    if self.in_window(self.now) {
                        self.remanufactured += 1;
                    }
                    let from = p.remanufacture_from.unwrap_or(0);
                    self.batches[b].resume = None;
                    self.move_to(b, from, 0.0, None);
                }
            }
        }
    }

    fn hold_violation(&mut self, b: usize) {
        let (product, step) = (self.batches[b].product, self.batches[b].step);
        let flat = self.step_offset[product] + step;
        if self.batches[b].cohort {
            self.hold_violations[flat] += 1;
        }
        let from = self.batches[b].hold_from.unwrap_or(step);
        let p = &self.m.products[product];
        let outcome = p.steps[from].on_hold_violation;
        let cause = Cause::ShelfLife(&p.steps[from].name);
        self.batches[b].hold_deadline = None;
        if outcome == Outcome::Proceed {
            return; // keeps waiting, deviation recorded
        }
        self.queues.remove(b);
        match outcome {
            Outcome::Repeat => self.apply(b, Outcome::Goto(from), from, cause),
            other => self.apply(b, other, from, cause),
        }
    }

    /// The batch is lost; `cause` (made only for a patient of the cohort) names why.
    fn lose(&mut self, b: usize, cause: impl FnOnce() -> String) {
        self.queues.remove(b);
        self.release_kept(b);
        self.spare_held(b);
        self.batches[b].state = State::Lost;
        self.batches[b].token = self.batches[b].token.wrapping_add(1);
        self.account_wip();
        self.in_process -= 1;
        if self.batches[b].cohort {
            self.lost += 1;
            self.active_cohort -= 1;
            *self.lost_by_cause.entry(cause()).or_insert(0) += 1;
        }
    }

    /// Keeps the `held` vector of batch `b`, which leaves, for a new batch.
    fn spare_held(&mut self, b: usize) {
        let mut held = std::mem::take(&mut self.batches[b].held);
        if held.capacity() > 0 {
            held.clear();
            self.spare_held.push(held);
        }
    }

    fn release(&mut self, b: usize) {
        self.release_kept(b);
        self.spare_held(b);
        self.batches[b].state = State::Done;
        self.account_wip();
        self.in_process -= 1;
        if self.in_window(self.now) {
            self.released_window += 1;
        }
        let bt = &self.batches[b];
        if bt.cohort {
            let v2v = self.now - bt.arrival;
            self.v2v_days.add(v2v / 24.0);
            self.observer.record(
                b,
                Observed::VeinToVein { censored: false },
                self.now,
                v2v / 24.0,
            );
            if v2v <= bt.target_h + EPS {
                self.on_time += 1;
            }
            self.active_cohort -= 1;
        }
    }

    // ---- deadlock ----------------------------------------------------------------------

    /// A set of blocked batches that can never start their next steps, if there is one now.
    ///
    /// Looked for after a dispatch pass, only when some blocked batch is waiting (it failed to
    /// start). Starting from every waiting batch that keeps units, the batches that may still
    /// proceed are removed until none is left to remove: a batch may proceed when the plan
    /// does not let it start yet, when its hold-time expiry will take it out of the queue, or
    /// when every use of its step has a candidate whose installed units, less those kept by
    /// the batches still in the set, suffice (units that are free, processing, cleaning, in
    /// repair, off shift or kept by a batch outside the set will be free again some day). The
    /// batches left keep, for ever, units that each of them needs: a deadlock.
    fn deadlock(&self) -> Option<Deadlock> {
        let waiting = |b: usize| self.batches[b].state == State::Waiting;
        if !self.keepers.iter().any(|&b| waiting(b)) {
            return None;
        }
        let mut set: Vec<usize> = self
            .keepers
            .iter()
            .copied()
            .filter(|&b| waiting(b))
            .collect();
        let mut kept_in_set = vec![0u32; self.res.len()];
        loop {
            kept_in_set.iter_mut().for_each(|k| *k = 0);
            for &b in &set {
                for &(r, c) in &self.batches[b].kept {
                    kept_in_set[r] += c;
                }
            }
            let before = set.len();
            set.retain(|&b| !self.may_proceed(b, &kept_in_set));
            if set.is_empty() {
                return None;
            }
            if set.len() == before {
                break;
            }
        }
        set.sort_unstable();
        let name = |r: usize| self.m.resources[r].name.as_str();
        let mut involved: Vec<usize> = Vec::new();
        let batches = set
            .iter()
            .map(|&b| {
                let bt = &self.batches[b];
                let p = &self.m.products[bt.product];
                let step = &p.steps[bt.step];
                let keeps: Vec<String> = bt
                    .kept
                    .iter()
                    .map(|&(r, c)| format!("{c} of `{}`", name(r)))
                    .collect();
                let mut needs: Vec<String> = Vec::new();
                for u in &step.uses {
                    let ok = u.candidates.iter().any(|&r| {
                        self.m.resources[r].capacity.saturating_sub(kept_in_set[r]) >= u.count
                    });
                    if !ok {
                        let names: Vec<&str> = u.candidates.iter().map(|&r| name(r)).collect();
                        needs.push(format!("{} of `{}`", u.count, names.join("` or `")));
                        involved.extend(&u.candidates);
                    }
                }
                involved.extend(bt.kept.iter().map(|k| k.0));
                format!(
                    "patient {b} (product `{}`) keeps {} and waits for step `{}`, which needs {}",
                    p.name,
                    keeps.join(" and "),
                    step.name,
                    needs.join(" and ")
                )
            })
            .collect();
        involved.sort_unstable();
        involved.dedup();
        let resources = involved
            .iter()
            .map(|&r| {
                format!(
                    "`{}` ({} of {} kept by these batches)",
                    name(r),
                    kept_in_set[r],
                    self.m.resources[r].capacity
                )
            })
            .collect();
        Some(Deadlock { batches, resources })
    }

    /// Whether waiting batch `b` may still start its step or leave the queue, when the units
    /// `kept_in_set` (per resource) are never released.
    fn may_proceed(&self, b: usize, kept_in_set: &[u32]) -> bool {
        let bt = &self.batches[b];
        if !self.plan_allows(b) {
            return true;
        }
        let p = &self.m.products[bt.product];
        if bt.hold_deadline.is_some() {
            let from = bt.hold_from.unwrap_or(bt.step);
            if p.steps[from].on_hold_violation != Outcome::Proceed {
                return true;
            }
        }
        p.steps[bt.step].uses.iter().all(|u| {
            u.candidates
                .iter()
                .any(|&r| self.m.resources[r].capacity.saturating_sub(kept_in_set[r]) >= u.count)
        })
    }

    // ---- breakdowns --------------------------------------------------------------------

    fn schedule_breakdown(&mut self, r: usize) {
        let Some(bd) = &self.m.resources[r].breakdowns else {
            return;
        };
        let mtbf = bd.mtbf_h;
        self.res[r].fail_token = self.res[r].fail_token.wrapping_add(1);
        let up = self.m.resources[r]
            .capacity
            .saturating_sub(self.res[r].down);
        if up == 0 {
            return;
        }
        let t = self.now + self.exp(mtbf / f64::from(up));
        if t <= self.m.horizon_h + DRAIN_CAP_H {
            let token = self.res[r].fail_token;
            self.schedule(t, Kind::Breakdown { res: ix(r), token });
        }
    }

    fn breakdown(&mut self, r: usize) {
        let Some(bd) = self.m.resources[r].breakdowns.clone() else {
            return;
        };
        self.account_res(r);
        let cap = self.m.resources[r].capacity;
        let up = cap.saturating_sub(self.res[r].down);
        if up == 0 {
            return;
        }
        if self.in_window(self.now) {
            self.res[r].breakdowns += 1;
        }
        // The failing unit is chosen uniformly among units that are up; units being cleaned
        // are counted as idle.
        let processing = self.res[r].running.len() as u32;
        let pick = (self.uniform() * f64::from(up)).floor() as u32;
        let victim = if pick < processing {
            Some(self.res[r].running[pick as usize])
        } else {
            None
        };
        if let Some(b) = victim {
            self.interrupt(b, bd.on_failure);
        }
        self.res[r].down += 1;
        let repair = self.sample(&bd.repair);
        self.schedule(self.now + repair, Kind::Repair { res: ix(r) });
        self.schedule_breakdown(r);
        self.wake_all();
    }

    fn interrupt(&mut self, b: usize, how: model::OnBreakdown) {
        // Release everything the batch holds; the failed unit goes down instead of cleaning.
        let held = std::mem::take(&mut self.batches[b].held);
        for h in &held {
            if h.released {
                continue;
            }
            self.account_res(h.res);
            let st = &mut self.res[h.res];
            st.busy = st.busy.saturating_sub(h.count);
            if let Some(pos) = st.running.iter().position(|&x| x == b) {
                st.running.swap_remove(pos);
            }
        }
        let remaining = (self.batches[b].run_end - self.now).max(0.0);
        let (product, step) = (self.batches[b].product, self.batches[b].step);
        let token = self.batches[b].token.wrapping_add(1);
        self.batches[b].token = token;
        match how {
            model::OnBreakdown::Transfer => {
                // Continue on a spare with the work left; the batch keeps its queue key.
                let bt = &mut self.batches[b];
                bt.remaining_h = Some(remaining);
                bt.state = State::Waiting;
                self.queue(b);
            }
            model::OnBreakdown::FailStep => {
                let s = &self.m.products[product].steps[step];
                let outcome = s.failure.map_or(Outcome::Repeat, |f| f.1);
                let flat = self.step_offset[product] + step;
                if self.in_window(self.now) {
                    self.failures[flat] += 1;
                }
                self.apply(b, outcome, step, Cause::Breakdown(&s.name));
            }
        }
    }

    // ---- results -----------------------------------------------------------------------

    fn finish(mut self, index: u32, prep: &Prepared) -> RepOutput {
        let window = (self.m.horizon_h - self.m.warmup_h).max(EPS);
        let years = window / (365.0 * 24.0);
        let per_year = |x: f64| x / years;
        let mut utilisation = Vec::new();
        let mut busy_hours = Vec::new();
        let mut weekly = Vec::new();
        let mut breakdowns = Vec::new();
        let mut blocked = Vec::new();
        let mut blocked_hours = Vec::new();
        for r in 0..self.m.resources.len() {
            let (cap_hours, week_caps) = &prep.cap_hours[r];
            let cap_hours = *cap_hours;
            let st = &self.res[r];
            utilisation.push(if cap_hours > 0.0 {
                st.busy_integral / cap_hours
            } else {
                0.0
            });
            busy_hours.push(per_year(st.busy_integral));
            blocked.push(if cap_hours > 0.0 {
                st.blocked_integral / cap_hours
            } else {
                0.0
            });
            blocked_hours.push(per_year(st.blocked_integral));
            breakdowns.push(per_year(f64::from(st.breakdowns)));
            let mut wk = Vec::with_capacity(self.weeks);
            for (busy, &cap) in st.weekly.iter().zip(week_caps) {
                wk.push(if cap > 0.0 { busy / cap } else { 0.0 });
            }
            weekly.push(wk);
        }
        let unfinished = self.active_cohort;
        let mut ages = Sketch::new();
        for (i, b) in self.batches.iter().enumerate() {
            if b.cohort && !matches!(b.state, State::Done | State::Lost) {
                let age = (self.now - b.arrival) / 24.0;
                ages.add(age);
                self.observer
                    .record(i, Observed::VeinToVein { censored: true }, self.now, age);
            }
        }
        debug_assert_eq!(ages.count() + ages.invalid(), u64::from(unfinished));
        let treated = self.v2v_days.count() + self.v2v_days.invalid();
        let rep = Replication {
            index,
            years,
            released_per_year: per_year(f64::from(self.released_window)),
            patients: self.patients,
            lost: self.lost,
            lost_by_cause: self.lost_by_cause,
            unfinished,
            treated: treated as u32,
            vein_to_vein_mean_days: self.v2v_days.mean(),
            unfinished_age_mean_days: ages.mean(),
            on_time: self.on_time,
            wip: self.wip_integral / window,
            utilisation,
            busy_hours_per_year: busy_hours,
            breakdowns_per_year: breakdowns,
            blocked,
            blocked_hours_per_year: blocked_hours,
            waits: self.waits.iter().map(|w| w.count() as u32).collect(),
            wait_mean_h: self.waits.iter().map(|w| w.mean().unwrap_or(0.0)).collect(),
            hold_violations: self.hold_violations,
            starts_per_year: self
                .starts
                .iter()
                .map(|&s| per_year(f64::from(s)))
                .collect(),
            failures_per_year: self
                .failures
                .iter()
                .map(|&s| per_year(f64::from(s)))
                .collect(),
            batches_started_per_year: per_year(f64::from(self.batches_started)),
            reworked_per_year: per_year(f64::from(self.reworked)),
            remanufactured_per_year: per_year(f64::from(self.remanufactured)),
        };
        RepOutput {
            rep,
            v2v: self.v2v_days,
            unfinished: ages,
            waits: self.waits,
            weekly,
            observations: self.observer.list,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long replication: many patients through one machine over 100 years.
    fn long_model() -> Model {
        let text = testkit::scenarios::Scenario::new("long replication", 36500, 0, 2, 1)
            .machine_queue(1, 3.0, 20.0)
            .text();
        match model::load("long.toml", &text) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_replication_is_abandoned_when_the_cancel_flag_is_set() {
        let m = long_model();
        let cancel = AtomicBool::new(true);
        let limits = Limits {
            event_budget: u64::MAX,
            cancel: Some(&cancel),
        };
        let ended = replicate_full(&m, &Prepared::new(&m), 0, None, false, &limits);
        assert!(matches!(ended, Ended::Cancelled));
        // Without the flag the same replication runs to its end.
        cancel.store(false, AtomicOrdering::SeqCst);
        let ended = replicate_full(&m, &Prepared::new(&m), 0, None, false, &limits);
        assert!(matches!(ended, Ended::Done(_)));
    }

    /// An event exactly at the end of a week of the observation window, where
    /// `(t - warm-up) / 168` rounds below the week number: the weekly utilisation used to loop
    /// for ever there (found by the property test in `tests/robustness.rs`).
    #[test]
    fn busy_time_up_to_a_week_boundary_that_rounds_down_is_spread_over_the_weeks() {
        let mut m = long_model();
        m.warmup_h = 3943.616755677566;
        m.horizon_h = m.warmup_h + 20.0 * model::WEEK_H;
        let t = m.warmup_h + 7.0 * model::WEEK_H;
        assert!(
            ((t - m.warmup_h) / model::WEEK_H).floor() < 7.0,
            "the case rounds down"
        );
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        rng.set_stream(0);
        let mut sim = Sim::new(&m, rng, None);
        sim.res[0].busy = 1;
        sim.res[0].last_t = m.warmup_h;
        sim.now = t;
        sim.account_res(0);
        let total: f64 = sim.res[0].weekly.iter().sum();
        assert!((total - 7.0 * model::WEEK_H).abs() < 1e-6, "{total}");
        assert!((sim.res[0].busy_integral - 7.0 * model::WEEK_H).abs() < 1e-6);
    }

    fn calendar(windows: &[(f64, f64, u32)]) -> model::Calendar {
        model::Calendar {
            windows: windows
                .iter()
                .map(|&(start_h, end_h, count)| model::ShiftWindow {
                    start_h,
                    end_h,
                    count,
                })
                .collect(),
        }
    }

    #[test]
    fn only_edges_where_the_head_count_changes_stop_the_simulation() {
        // Round the clock written day by day: edges at every midnight, no change at any.
        let days: Vec<(f64, f64, u32)> = (0..7)
            .map(|d| (24.0 * f64::from(d), 24.0 * f64::from(d + 1), 2))
            .collect();
        let c = count_changes(&calendar(&days));
        assert!(c.is_empty(), "{c:?}");
        assert!(next_count_change(&c, 5.0).is_infinite());
        // 06-22 every day: a change at 6 and at 22 of each day.
        let shifts: Vec<(f64, f64, u32)> = (0..7)
            .map(|d| (24.0 * f64::from(d) + 6.0, 24.0 * f64::from(d) + 22.0, 1))
            .collect();
        let c = count_changes(&calendar(&shifts));
        assert_eq!(c.len(), 14);
        assert_eq!(next_count_change(&c, 0.0), 6.0);
        assert_eq!(next_count_change(&c, 6.0), 22.0);
        // Sunday 22:00 to Monday 06:00 of the next week.
        assert_eq!(next_count_change(&c, 166.0), 168.0 + 6.0);
        // Two overlapping shifts that hand over at 14:00: the count stays 1 there.
        let c = count_changes(&calendar(&[(6.0, 14.0, 1), (14.0, 22.0, 1)]));
        assert_eq!(c, vec![6.0, 22.0]);
    }

    /// The head count looked up at a shift change is the one computed from the calendar in
    /// the middle of the interval up to the next change, at every change of several weeks.
    #[test]
    fn head_counts_looked_up_at_changes_equal_those_computed_from_the_calendar() {
        let mut windows: Vec<(f64, f64, u32)> = (0..5)
            .map(|d| (24.0 * f64::from(d) + 6.0, 24.0 * f64::from(d) + 22.0, 2))
            .collect();
        // A late shift at the week's end, a short overlap, a Saturday shift of one.
        windows.push((160.0, 168.0, 1));
        windows.push((30.0, 30.5, 3));
        windows.push((5.0 * 24.0 + 8.0, 5.0 * 24.0 + 16.0, 1));
        let c = calendar(&windows);
        let changes = count_changes(&c);
        let counts = counts_before_changes(&c, &changes);
        assert_eq!(counts.len(), changes.len());
        let r = model::Resource {
            calendar: Some(c.clone()),
            ..long_model().resources[0].clone()
        };
        let mut t = 0.0;
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..3 * changes.len() {
            let Some((at, j)) = next_count_change_at(&changes, t) else {
                panic!("the calendar changes");
            };
            assert_eq!(at, next_count_change(&changes, t));
            assert_eq!(
                counts[j],
                Some(on_duty_from(&r, &changes, t)),
                "change {j} at {at}"
            );
            seen.insert(counts[j]);
            t = at;
        }
        // Counts 0, 1, 2 and 5 (the overlap) all occur.
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(next_count_change_at(&[], 3.0).is_none());
    }

    #[test]
    fn a_replication_over_the_event_budget_ends_with_an_error() {
        let m = long_model();
        let limits = Limits {
            event_budget: 1000,
            cancel: None,
        };
        match replicate_full(&m, &Prepared::new(&m), 1, None, false, &limits) {
            Ended::Failed(SimError::EventBudget {
                replication,
                budget,
                day,
                ..
            }) => {
                assert_eq!((replication, budget), (1, 1000));
                assert!(day > 0.0 && day < 36500.0, "{day}");
            }
            _ => panic!("the budget did not stop the replication"),
        }
    }
}
