//! The plant model for planning real orders: several products with their own routes,
//! operations that need several resources at once (equipment units, cleanroom places,
//! qualified operators for the manual part), capacity that changes over time (shift
//! calendars, maintenance and requalification windows), cleaning after use, transfer times
//! and hold limits between operations, blocking (a batch keeps its equipment until its next
//! operation starts) and operations that are already fixed (started or committed).
//!
//! The flow-shop [`crate::Instance`] stays the model of the academic benchmarks; this model
//! is what the plant link ([`crate::plant`]) builds from a scenario. Times are integer
//! minutes from the scenario's time 0.
//!
//! * [`Shop::validate`] checks shapes and ranges with messages naming order, operation and
//!   resource;
//! * [`decode`] turns a priority order of the orders into a plan (serial list scheduling,
//!   earliest feasible start over all needs, repair of hold limits and blocking);
//! * [`check()`] verifies every constraint of a plan reading only the [`Shop`];
//! * [`solve()`] searches priority orders (construction by insertion, iterated greedy);
//! * [`promise()`] answers capable-to-promise questions against a committed plan and
//!   [`book`] adds the order to it; [`replan()`] re-plans after events.

mod check;
pub(crate) mod decode;
mod events;
mod profile;
mod promise;
mod replan;
mod solve;

use serde::{Deserialize, Serialize};

use crate::error::ScheduleError;
use crate::instance::{TIME_LIMIT, Time};

pub use check::{ShopViolation, check};
pub use events::{MAX_EVENTS, parse_events};
pub use promise::{Offer, Promise, PromiseQuery, book, commit, promise};
pub use replan::{Move, ShopEvent, ShopReplanned, replan, replan_with};
pub use solve::{ShopOptions, ShopSolution, solve};

/// How a resource is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// One device (capacity 1, or 0 during maintenance); a need of `k` takes `k` distinct units.
    Unit,
    /// Places of a cleanroom area (batches at once); cleaned after use.
    Place,
    /// Operators of a staff pool; on-duty head count from the shift calendar, not cleaned.
    Staff,
}

/// A resource whose capacity may change over time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Name shown in errors and reports (e.g. `bioreactor#2`).
    pub name: String,
    /// Pool or group the resource belongs to (e.g. `bioreactor`).
    pub pool: String,
    /// How it is held.
    pub kind: ResourceKind,
    /// Capacity outside every segment.
    pub capacity: u32,
    /// Capacity in given periods (shifts, maintenance): sorted, non-overlapping `[start, end)`.
    pub segments: Vec<Segment>,
}

/// A period `[start, end)` with its own capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// First instant of the period.
    pub start: Time,
    /// First instant after it.
    pub end: Time,
    /// Capacity during the period.
    pub capacity: u32,
}

/// The running sum of changes `(start, end, delta)` (each adds `delta` from `start` until
/// `end`; empty ones are left out) at every instant where it may change and at every instant
/// of `marks`: `(t, sum from t on)`, in time order, one per distinct instant.
pub(crate) fn level_steps(changes: &[(Time, Time, i64)], marks: &[Time]) -> Vec<(Time, i64)> {
    let mut ev: Vec<(Time, i64)> = Vec::with_capacity(changes.len() * 2 + marks.len());
    for &(a, b, d) in changes {
        if b > a {
            ev.push((a, d));
            ev.push((b, -d));
        }
    }
    ev.extend(marks.iter().map(|&t| (t, 0)));
    ev.sort_unstable();
    let mut out = Vec::new();
    let mut level = 0i64;
    let mut i = 0;
    while i < ev.len() {
        let t = ev[i].0;
        while i < ev.len() && ev[i].0 == t {
            level += ev[i].1;
            i += 1;
        }
        out.push((t, level));
    }
    out
}

/// Capacity segments of a resource with `base` capacity and changes `(start, end, delta)`
/// that add up where they overlap (capacity never below 0).
pub(crate) fn segments(base: u32, changes: &[(Time, Time, i64)]) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for w in level_steps(changes, &[]).windows(2) {
        let ((t, level), (next, _)) = (w[0], w[1]);
        let cap = (i64::from(base) + level).clamp(0, i64::from(u32::MAX)) as u32;
        if cap == base {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.end == t && last.capacity == cap => last.end = next,
            _ => out.push(Segment {
                start: t,
                end: next,
                capacity: cap,
            }),
        }
    }
    out
}

impl Resource {
    /// Takes `amount` (all when `None`) out of use in `[start, end)`, on top of the segments
    /// already there (a breakdown, an unplanned maintenance).
    pub fn take_out(&mut self, start: Time, end: Time, amount: Option<u32>) {
        let base = i64::from(self.capacity);
        let mut changes: Vec<(Time, Time, i64)> = self
            .segments
            .iter()
            .map(|s| (s.start, s.end, i64::from(s.capacity) - base))
            .collect();
        // what is left at each instant is capped at 0 by `segments`
        let cut = amount.map_or(i64::from(u32::MAX), i64::from);
        changes.push((start, end, -cut));
        self.segments = segments(self.capacity, &changes);
    }

    /// Capacity at instant `t`.
    pub fn capacity_at(&self, t: Time) -> u32 {
        let i = self.segments.partition_point(|s| s.end <= t);
        match self.segments.get(i) {
            Some(s) if s.start <= t => s.capacity,
            _ => self.capacity,
        }
    }
}

/// What one operation needs of one kind of resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Need {
    /// Resources that can serve it (all of one kind): `count` distinct units, or `count`
    /// places or operators of one of the candidate pools.
    pub candidates: Vec<usize>,
    /// How many units, places or operators.
    pub count: u32,
    /// Held only for the first `hold` minutes of the operation (the manual part); the whole
    /// operation when `None`.
    pub hold: Option<Time>,
}

/// One operation of a product's route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// Step name.
    pub name: String,
    /// Processing time.
    pub duration: Time,
    /// Resources needed, each at the operation's start.
    pub needs: Vec<Need>,
    /// Cleaning of units and places after they are released.
    pub cleaning: Time,
    /// Minimum time from the end of this operation to the start of the next (transfer).
    pub min_lag: Time,
    /// Maximum time from the end of this operation to the start of the next (hold limit);
    /// a hard constraint.
    pub max_lag: Option<Time>,
    /// Units and places held for the whole operation stay held until the next operation of
    /// the batch starts (the culture stays in its bioreactor); cleaning follows then.
    pub blocking: bool,
}

/// A product: its route of operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Product name.
    pub name: String,
    /// Operations in order.
    pub ops: Vec<Operation>,
    /// For a route made for one order from another (e.g. an operation delayed while
    /// re-planning): the product it was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_of: Option<usize>,
}

/// One order (a patient's batch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// Order identifier.
    pub name: String,
    /// Index into [`Shop::products`].
    pub product: usize,
    /// Earliest start of the first operation (apheresis material available).
    pub release: Time,
    /// Due date of the last operation's end (target vein-to-vein time).
    pub due: Time,
    /// Weight of its tardiness.
    pub weight: i64,
}

/// One resource held by an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Index into the operation's needs.
    pub need: usize,
    /// Resource index.
    pub resource: usize,
    /// Units, places or operators held (1 for a unit).
    pub amount: u32,
    /// Held from.
    pub start: Time,
    /// Held until (cleaning of units and places follows).
    pub end: Time,
}

/// A planned operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedOp {
    /// Order index.
    pub job: usize,
    /// Operation index within the order's route.
    pub op: usize,
    /// Start.
    pub start: Time,
    /// End.
    pub end: Time,
    /// Resources held.
    pub uses: Vec<Usage>,
}

/// A plan: every operation of every order, ordered by order then operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopPlan {
    /// The operations.
    pub ops: Vec<PlannedOp>,
}

impl ShopPlan {
    /// Completion time (end of the last operation) of each order.
    pub fn completions(&self, shop: &Shop) -> Vec<Time> {
        let mut c = vec![Time::MIN; shop.jobs.len()];
        for o in &self.ops {
            if let Some(x) = c.get_mut(o.job) {
                *x = (*x).max(o.end);
            }
        }
        c
    }

    /// Objective values of this plan.
    pub fn values(&self, shop: &Shop) -> ShopValues {
        ShopValues::of(shop, &self.completions(shop))
    }
}

/// A criterion of the plant objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Latest completion.
    Makespan,
    /// Sum of weight × lateness against the due dates.
    WeightedTardiness,
    /// Sum over orders of completion minus release.
    TotalFlowTime,
}

impl Measure {
    /// Parses a criterion name as written in files and on the command line.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "makespan" | "cmax" => Some(Self::Makespan),
            "weighted_tardiness" | "twt" => Some(Self::WeightedTardiness),
            "total_flow_time" | "flow_time" | "flow" => Some(Self::TotalFlowTime),
            _ => None,
        }
    }

    /// Name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Makespan => "makespan",
            Self::WeightedTardiness => "weighted_tardiness",
            Self::TotalFlowTime => "total_flow_time",
        }
    }

    /// Value of this criterion.
    pub fn of(self, v: &ShopValues) -> i64 {
        match self {
            Self::Makespan => v.makespan,
            Self::WeightedTardiness => v.weighted_tardiness,
            Self::TotalFlowTime => v.total_flow_time,
        }
    }
}

/// What to minimise: criteria in order of importance, or a weighted sum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "combine", rename_all = "snake_case")]
pub enum Goal {
    /// The first criterion matters most, the next breaks ties, and so on (1 to 3 criteria).
    Lexicographic {
        /// Criteria, most important first.
        criteria: Vec<Measure>,
    },
    /// One value: the sum of weight × criterion.
    Weighted {
        /// Criteria with their non-negative weights.
        terms: Vec<(Measure, f64)>,
    },
}

impl Default for Goal {
    fn default() -> Self {
        Self::Lexicographic {
            criteria: vec![Measure::WeightedTardiness, Measure::Makespan],
        }
    }
}

/// Cost vector compared lexicographically (unused levels 0).
pub type ShopCost = [i64; 3];

impl Goal {
    /// Checks the number of criteria, duplicates and weights.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        let list: Vec<Measure> = match self {
            Self::Lexicographic { criteria } => criteria.clone(),
            Self::Weighted { terms } => {
                if let Some((m, w)) = terms.iter().find(|(_, w)| !(w.is_finite() && *w >= 0.0)) {
                    return Err(ScheduleError::Invalid(format!(
                        "objective weight of {} is {w}; it must be a finite number ≥ 0",
                        m.name()
                    )));
                }
                terms.iter().map(|t| t.0).collect()
            }
        };
        if list.is_empty() || list.len() > 3 {
            return Err(ScheduleError::Invalid(
                "the objective needs one to three criteria".into(),
            ));
        }
        for (i, m) in list.iter().enumerate() {
            if list[..i].contains(m) {
                return Err(ScheduleError::Invalid(format!(
                    "objective criterion {} is listed twice",
                    m.name()
                )));
            }
        }
        Ok(())
    }

    /// Cost vector of the given values.
    pub fn cost(&self, v: &ShopValues) -> ShopCost {
        let mut c = [0; 3];
        match self {
            Self::Lexicographic { criteria } => {
                for (slot, m) in c.iter_mut().zip(criteria) {
                    *slot = m.of(v);
                }
            }
            Self::Weighted { terms } => {
                let s: f64 = terms.iter().map(|(m, w)| w * m.of(v) as f64).sum();
                c[0] = s.round().clamp(-9.0e18, 9.0e18) as i64;
            }
        }
        c
    }

    /// Human-readable form, e.g. `weighted_tardiness, then makespan`.
    pub fn name(&self) -> String {
        match self {
            Self::Lexicographic { criteria } => criteria
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(", then "),
            Self::Weighted { terms } => terms
                .iter()
                .map(|(m, w)| format!("{w} × {}", m.name()))
                .collect::<Vec<_>>()
                .join(" + "),
        }
    }
}

/// The objective values of a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopValues {
    /// Latest completion.
    pub makespan: Time,
    /// Sum of weight × max(0, completion − due).
    pub weighted_tardiness: i64,
    /// Sum of completion − release.
    pub total_flow_time: i64,
    /// Orders finished after their due date.
    pub late: usize,
}

impl ShopValues {
    /// Values for the given completion times (one per order).
    pub fn of(shop: &Shop, completion: &[Time]) -> Self {
        let mut v = Self::default();
        for (b, &c) in shop.jobs.iter().zip(completion) {
            v.makespan = v.makespan.max(c);
            v.weighted_tardiness = v
                .weighted_tardiness
                .saturating_add(b.weight.saturating_mul((c - b.due).max(0)));
            v.total_flow_time = v.total_flow_time.saturating_add(c - b.release);
            if c > b.due {
                v.late += 1;
            }
        }
        v
    }
}

/// An operation that may not move (started before the re-planning instant, or committed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedOp {
    /// Order index.
    pub job: usize,
    /// Operation index.
    pub op: usize,
    /// Start.
    pub start: Time,
    /// Resources held (their `end` for blocked units is final only if the next operation is
    /// fixed too; otherwise the hold is extended to the next operation's planned start).
    pub uses: Vec<Usage>,
}

/// A plant planning problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shop {
    /// Name shown in reports.
    pub name: String,
    /// Units, places and staff pools.
    pub resources: Vec<Resource>,
    /// Products and their routes.
    pub products: Vec<Route>,
    /// Orders.
    pub jobs: Vec<Batch>,
    /// Operations that may not move; for each order a prefix of its route.
    pub fixed: Vec<FixedOp>,
    /// No operation that is not fixed starts before this instant.
    pub not_before: Time,
    /// What to minimise.
    pub goal: Goal,
}

/// Latest instant any resource may be planned into; a need that cannot be met before it is
/// reported as unplannable.
pub const HORIZON: Time = TIME_LIMIT;

impl Shop {
    /// The route of order `j`.
    pub fn route(&self, j: usize) -> &Route {
        &self.products[self.jobs[j].product]
    }

    /// Operations of order `j`.
    pub fn ops(&self, j: usize) -> &[Operation] {
        &self.route(j).ops
    }

    /// Index of the first planned operation of each order in a plan (`ops` ordered by
    /// order then operation).
    pub fn offsets(&self) -> Vec<usize> {
        let mut off = Vec::with_capacity(self.jobs.len() + 1);
        let mut t = 0;
        for j in 0..self.jobs.len() {
            off.push(t);
            t += self.ops(j).len();
        }
        off.push(t);
        off
    }

    /// How long need `need` of `op` holds its resources when the operation starts at 0 and
    /// is not blocked (cleaning excluded).
    pub fn hold_len(op: &Operation, need: &Need) -> Time {
        need.hold.map_or(op.duration, |h| h.min(op.duration))
    }

    /// Whether need `need` of `op` is held until the next operation starts.
    pub fn blocks(&self, op: &Operation, need: &Need) -> bool {
        op.blocking
            && need.hold.is_none_or(|h| h >= op.duration)
            && need
                .candidates
                .first()
                .and_then(|&r| self.resources.get(r))
                .is_some_and(|r| r.kind != ResourceKind::Staff)
    }

    /// Cleaning after need `need` of `op` releases its resource.
    pub fn cleaning_after(&self, op: &Operation, resource: usize) -> Time {
        match self.resources.get(resource).map(|r| r.kind) {
            Some(ResourceKind::Staff) | None => 0,
            Some(_) => op.cleaning,
        }
    }

    /// Checks shapes, ranges and references. Errors name the order, operation and resource.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        self.goal.validate()?;
        if self.jobs.is_empty() {
            return invalid("no orders to plan".into());
        }
        self.validate_resources()?;
        for p in &self.products {
            if p.ops.is_empty() {
                return invalid(format!("product {} has no operation", p.name));
            }
            for (oi, op) in p.ops.iter().enumerate() {
                let at = format!("product {}, operation {} (#{oi})", p.name, op.name);
                self.validate_operation(&at, op)?;
            }
        }
        for (j, b) in self.jobs.iter().enumerate() {
            if b.product >= self.products.len() {
                return invalid(format!(
                    "order {} (#{j}) refers to product #{}, which does not exist",
                    b.name, b.product
                ));
            }
            if !in_range(b.release) || !in_range(b.due) || b.weight < 0 {
                return invalid(format!(
                    "order {} (#{j}): release or due date out of range, or negative weight",
                    b.name
                ));
            }
        }
        self.validate_fixed()?;
        if !in_range(self.not_before) {
            return invalid("re-planning instant out of range".into());
        }
        Ok(())
    }

    /// Units have capacity 0 or 1; each resource's periods are in range, non-empty and in
    /// order.
    fn validate_resources(&self) -> Result<(), ScheduleError> {
        for (ri, r) in self.resources.iter().enumerate() {
            if r.kind == ResourceKind::Unit && r.capacity > 1 {
                return invalid(format!(
                    "resource {} (#{ri}): a unit has capacity 0 or 1, not {}",
                    r.name, r.capacity
                ));
            }
            let mut last = Time::MIN;
            for s in &r.segments {
                if s.end <= s.start || !in_range(s.start) || !in_range(s.end) || s.start < last {
                    return invalid(format!(
                        "resource {}: period [{}, {}) is empty, out of range or overlaps the one before",
                        r.name, s.start, s.end
                    ));
                }
                if r.kind == ResourceKind::Unit && s.capacity > 1 {
                    return invalid(format!(
                        "resource {}: a unit has capacity 0 or 1 in [{}, {})",
                        r.name, s.start, s.end
                    ));
                }
                last = s.end;
            }
        }
        Ok(())
    }

    /// One route operation (named `at` in errors): times in range, and needs that existing
    /// resources of one kind can serve, no resource serving two needs.
    fn validate_operation(&self, at: &str, op: &Operation) -> Result<(), ScheduleError> {
        if !(0..=TIME_LIMIT / 1024).contains(&op.duration)
            || !(0..=TIME_LIMIT / 1024).contains(&op.cleaning)
            || !(0..=TIME_LIMIT / 1024).contains(&op.min_lag)
        {
            return invalid(format!(
                "{at}: duration, cleaning and transfer time must be 0 or more and below {}",
                TIME_LIMIT / 1024
            ));
        }
        if let Some(max) = op.max_lag
            && (max < op.min_lag || !in_range(max))
        {
            return invalid(format!(
                "{at}: hold limit {max} is below the transfer time {}",
                op.min_lag
            ));
        }
        let mut used: Vec<usize> = Vec::new();
        for (ni, n) in op.needs.iter().enumerate() {
            let Some(&first) = n.candidates.first() else {
                return invalid(format!("{at}, need #{ni}: no resource can serve it"));
            };
            if n.count == 0 {
                return invalid(format!("{at}, need #{ni}: count must be at least 1"));
            }
            if n.hold
                .is_some_and(|h| !(0..=TIME_LIMIT / 1024).contains(&h))
            {
                return invalid(format!("{at}, need #{ni}: hold time out of range"));
            }
            let Some(kind) = self.resources.get(first).map(|r| r.kind) else {
                return invalid(format!(
                    "{at}, need #{ni}: resource #{first} does not exist"
                ));
            };
            for &c in &n.candidates {
                match self.resources.get(c) {
                    None => {
                        return invalid(format!("{at}, need #{ni}: resource #{c} does not exist"));
                    }
                    Some(r) if r.kind != kind => {
                        return invalid(format!(
                            "{at}, need #{ni}: candidates mix kinds ({} is {:?}, {} is {:?})",
                            self.resources[first].name, kind, r.name, r.kind
                        ));
                    }
                    Some(r) => {
                        if used.contains(&c) {
                            return invalid(format!(
                                "{at}: resource {} serves two needs of the operation",
                                r.name
                            ));
                        }
                    }
                }
            }
            used.extend(&n.candidates);
            if kind == ResourceKind::Unit && (n.candidates.len() as u64) < u64::from(n.count) {
                return invalid(format!(
                    "{at}, need #{ni}: {} units needed, only {} can serve",
                    n.count,
                    n.candidates.len()
                ));
            }
        }
        Ok(())
    }

    /// Fixed operations exist, start in range, are fixed once, use resources their needs
    /// allow, and have the operation before them fixed too.
    fn validate_fixed(&self) -> Result<(), ScheduleError> {
        let off = self.offsets();
        let mut seen = vec![false; off[self.jobs.len()]];
        for f in &self.fixed {
            let Some(ops) = self.jobs.get(f.job).map(|_| self.ops(f.job)) else {
                return invalid(format!("fixed operation of order #{} out of range", f.job));
            };
            let name = &self.jobs[f.job].name;
            let Some(op) = ops.get(f.op) else {
                return invalid(format!(
                    "order {name}: fixed operation #{} does not exist",
                    f.op
                ));
            };
            if !in_range(f.start) {
                return invalid(format!(
                    "order {name}, {}: fixed start out of range",
                    op.name
                ));
            }
            if std::mem::replace(&mut seen[off[f.job] + f.op], true) {
                return invalid(format!("order {name}, {}: fixed twice", op.name));
            }
            for u in &f.uses {
                let ok = op
                    .needs
                    .get(u.need)
                    .is_some_and(|n| n.candidates.contains(&u.resource))
                    && in_range(u.start)
                    && in_range(u.end)
                    && u.end >= u.start;
                if !ok {
                    return invalid(format!(
                        "order {name}, {}: a fixed resource use does not match the operation's needs",
                        op.name
                    ));
                }
            }
        }
        for f in &self.fixed {
            if f.op > 0 && !seen[off[f.job] + f.op - 1] {
                return invalid(format!(
                    "order {}, {}: fixed, but the operation before it is not",
                    self.jobs[f.job].name,
                    self.ops(f.job)[f.op].name
                ));
            }
        }
        Ok(())
    }
}

/// An invalid-shop error with `s` as its message.
fn invalid(s: String) -> Result<(), ScheduleError> {
    Err(ScheduleError::Invalid(s))
}

/// Whether a time lies within the accepted range (±[`TIME_LIMIT`]).
fn in_range(t: Time) -> bool {
    (-TIME_LIMIT..=TIME_LIMIT).contains(&t)
}
