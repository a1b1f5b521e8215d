//! `atmpflow plant run`: the virtual plant. Many batches run concurrently through the batch
//! execution engine (`batch::engine::Batch::execute`, the same requests a live batch receives)
//! with simulated devices, on a virtual clock, following the scheduler's plan; when a batch
//! fails or a step ends far from its planned end, the plan is re-planned with started work
//! fixed (`schedule::replan`) and what moved is recorded.
//!
//! The plan-following rule is the simulator's (`simulate --plan`): an order arrives at its
//! planned release; a step (a scenario step: one recipe step, or the recipe steps a
//! requirement group holds together) starts no earlier than its planned start, when the batch
//! is ready (previous step ended plus transfer) and its unit is free; among the batches
//! waiting for a unit, the earliest planned start goes first; a unit is cleaned for the
//! step's cleaning time after the step. Every batch is bound at its arrival to the units the
//! plan of that moment gives it (the engine refuses a scan of other equipment), so a later
//! re-plan changes when a bound batch runs, not on which unit.
//!
//! Every record is a rehearsal's: batch ids start with `VP-`, patients are `PSN-VP-…`, and
//! the outputs say `"virtual_plant": true, "dry_run": true`; nothing is written to a
//! production database.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use batch::device::{DeviceAdapter, DeviceRun, SimulatedDevice};
use batch::engine::{Batch, Command, LotRegister, NewOrder, Stage};
use batch::entry::{Label, Source};
use batch::rehearsal::{self, Cast, Journaled, SendError};
use batch::roles::Actor;
use clap::Parser;
use recipe::DateTime;
use recipe::recipe::Recipe;
use schedule::instance::{Instance, Time};
use schedule::plan::Plan;
use schedule::replan::replan;
use schedule::solve::{SolveOptions, solve};
use serde_json::json;

use super::common::{cancel_flag, progress_bar, read, reported};
use super::recipe::{bind_strict_on, load_inventory};
use super::rehearsal_db;

/// The `plant` subcommands.
pub type Args = super::common::Subcommands<Sub>;

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Run orders through the execution engine with simulated devices, following the plan.
    Run(RunArgs),
}

/// `atmpflow plant run RECIPE --equipment INVENTORY --orders ORDERS.csv --out DIR`
#[derive(Debug, Parser)]
pub struct RunArgs {
    /// The recipe (the execution engine runs it; the planner's scenario is generated from it).
    pub recipe: PathBuf,
    /// Equipment inventory the recipe is bound to.
    #[arg(long, value_name = "FILE")]
    pub equipment: PathBuf,
    /// Orders (`id,product,release_h,due_h,weight`; product = the recipe's procedure id).
    #[arg(long, value_name = "FILE")]
    pub orders: PathBuf,
    /// Virtual clock: N times real time, or `max` (as fast as possible).
    #[arg(long, default_value = "max")]
    pub speed: String,
    /// Seed of the simulated devices and of the planner.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Independent runs (run `r` uses seed stream `seed + r`), for intervals.
    #[arg(long, default_value_t = 1)]
    pub runs: u32,
    /// Re-plan when a scenario step ends more than this many hours from its planned end.
    #[arg(long, default_value_t = 4.0)]
    pub replan_after_h: f64,
    /// Never re-plan (follow the first plan throughout, like `simulate --plan`).
    #[arg(long)]
    pub no_replan: bool,
    /// A re-plan places only the orders that have arrived and not finished, and those planned
    /// to start within this many days (a rolling horizon; 0 = every unfinished order). The
    /// others keep their planned times until a later re-plan reaches them.
    #[arg(long, default_value_t = 14.0)]
    pub replan_window_days: f64,
    /// Planner iterations (first plan and every re-plan).
    #[arg(long, default_value_t = 200)]
    pub iterations: u64,
    /// Horizon of the generated scenario, days (steps still running then are unfinished).
    #[arg(long, default_value_t = 365.0)]
    pub horizon_days: f64,
    /// Calendar time of time 0.
    #[arg(long, default_value = "2026-12-01T00:00:00Z")]
    pub start: String,
    /// Output folder: scenario.toml, plan.json, batches.csv, replans.csv, moves.csv, summary.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Database (SQLite file, created if missing, or postgres:// URL) that receives every
    /// request of every batch as the run goes, stored as a live batch's request is (one
    /// transaction each, hash-chained, with the batch twin). Only a rehearsal database (or a
    /// new one) is accepted: its clock is simulated. Batch ids are `VP-SEED-ORDER`; a batch id
    /// already in the database is refused, never overwritten. One run (`--runs 1`).
    #[arg(long, value_name = "PATH|URL")]
    pub db: Option<String>,
}

/// Runs `atmpflow plant`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Sub::Run(a) => run_plant(&a),
    }
}

/// The speed of the virtual clock: `None` = as fast as possible.
fn parse_speed(s: &str) -> anyhow::Result<Option<f64>> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(None);
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(Some(v)),
        _ => bail!("--speed `{s}`: give a positive number (times real time) or `max`"),
    }
}

/// One scenario step of the plan: the recipe steps it covers and its unit pool.
#[derive(Debug, Clone)]
struct StageInfo {
    /// Recipe step indices (a block held together), in order.
    steps: Vec<usize>,
    /// Cleaning hours of the unit after the stage.
    cleaning_h: f64,
}

/// What the plant knows about the plan's machines: per stage, per machine, the unit key and
/// the equipment id (for equipment pools).
#[derive(Debug, Clone)]
struct Machines {
    /// `(stage, machine)` → unit key and equipment id.
    units: Vec<Vec<(String, Option<String>)>>,
}

struct Setup {
    recipe: Recipe,
    recipe_sha: String,
    binding: recipe::bind::Binding,
    inventory: recipe::Inventory,
    model: model::Model,
    orders: Vec<model::Order>,
    inst: Instance,
    map: schedule::plant::PlantMap,
    stages: Vec<StageInfo>,
    machines: Machines,
    /// Stage of each recipe step (`None` for optional steps outside the plan).
    stage_of: Vec<Option<usize>>,
    start: DateTime,
}

/// Checks the numbers of `plant run`; answers the clock's speed and time 0.
fn check_args(a: &RunArgs) -> anyhow::Result<(Option<f64>, DateTime)> {
    let speed = parse_speed(&a.speed)?;
    if !(a.replan_after_h.is_finite() && a.replan_after_h >= 0.0) {
        bail!(
            "--replan-after-h {}: give a non-negative number of hours",
            a.replan_after_h
        );
    }
    if !(a.replan_window_days.is_finite() && a.replan_window_days >= 0.0) {
        bail!(
            "--replan-window-days {}: give a non-negative number of days (0 = every order)",
            a.replan_window_days
        );
    }
    if a.runs == 0 || a.runs > 10_000 {
        bail!("--runs {}: give 1 to 10000", a.runs);
    }
    if !(a.horizon_days.is_finite() && a.horizon_days > 0.0 && a.horizon_days <= 3660.0) {
        bail!("--horizon-days {}: give 0 to 3660 days", a.horizon_days);
    }
    let start = DateTime::parse(&a.start).with_context(|| {
        format!(
            "--start `{}`: expected RFC 3339 with an offset, e.g. 2026-12-01T00:00:00Z",
            a.start
        )
    })?;
    Ok((speed, start))
}

/// The plan's stages as recipe steps (a merged block is named `first..last`): per stage its
/// recipe steps and cleaning time, and the stage of each recipe step.
fn stages_of(
    recipe: &Recipe,
    model: &model::Model,
    map: &schedule::plant::PlantMap,
) -> anyhow::Result<(Vec<StageInfo>, Vec<Option<usize>>)> {
    let prod = &model.products[map.product];
    let pos = |id: &str| recipe.steps.iter().position(|s| s.id == id);
    let mut stages = Vec::new();
    let mut stage_of = vec![None; recipe.steps.len()];
    for (k, &si) in map.steps.iter().enumerate() {
        let st = &prod.steps[si];
        let (first, last) = st.name.split_once("..").unwrap_or((&st.name, &st.name));
        let (Some(i), Some(j)) = (pos(first), pos(last)) else {
            bail!(
                "scenario step `{}` matches no recipe step (a defect)",
                st.name
            );
        };
        for s in stage_of.iter_mut().take(j + 1).skip(i) {
            *s = Some(k);
        }
        stages.push(StageInfo {
            steps: (i..=j).collect(),
            cleaning_h: st.cleaning_h,
        });
    }
    Ok((stages, stage_of))
}

/// The plan's machines as units and equipment ids (pools list their inventory items, unit 1
/// first).
fn machines_of(
    model: &model::Model,
    map: &schedule::plant::PlantMap,
    sc: &model::scenario::Scenario,
) -> Machines {
    let mut units = Vec::new();
    for (k, ms) in map.units.iter().enumerate() {
        let mut row = Vec::new();
        for (m, u) in ms.iter().enumerate() {
            match u {
                Some((r, unit)) => {
                    let res = &model.resources[*r];
                    let eq = sc
                        .equipment
                        .iter()
                        .find(|p| p.name == res.name)
                        .and_then(|p| p.inventory.as_ref())
                        .and_then(|ids| ids.get(*unit as usize))
                        .cloned();
                    row.push((format!("{}#{}", res.name, unit + 1), eq));
                }
                None => row.push((format!("stage{k}-virtual{m}"), None)),
            }
        }
        units.push(row);
    }
    Machines { units }
}

/// What `--db` stored: where, how much, and how fast.
fn stored_summary(k: &Sink) -> serde_json::Value {
    let (n, e, t) = (
        k.requests.get(),
        k.entries.get(),
        k.busy.get().as_secs_f64(),
    );
    json!({
        "location": k.db.location(),
        "engine": format!("{:?}", k.db.engine()),
        "requests": n,
        "entries": e,
        "write_seconds": t,
        "requests_per_second": (t > 0.0).then(|| n as f64 / t),
        "entries_per_second": (t > 0.0).then(|| e as f64 / t),
    })
}

fn run_plant(a: &RunArgs) -> anyhow::Result<()> {
    let (speed, start) = check_args(a)?;
    let recipe_text = read(&a.recipe)?;
    let recipe =
        recipe::parse_recipe(&a.recipe.display().to_string(), &recipe_text).map_err(reported)?;
    let mut inventory = load_inventory(&a.equipment)?;
    let mut start = start;
    let sink = match &a.db {
        Some(url) => {
            let (sink, clock) =
                open_sink(url, &recipe_text, &mut inventory, start, a.runs, a.seed)?;
            start = clock;
            Some(sink)
        }
        None => None,
    };
    let binding = bind_strict_on(&a.recipe, &recipe, &inventory, start.date())?;
    let opts = recipe::PlanOptions {
        horizon_days: a.horizon_days,
        warmup_days: 0.0,
        replications: a.runs.max(2),
        seed: a.seed,
        ..recipe::PlanOptions::default()
    };
    let (sc, _notes) = recipe::scenario(&recipe, &binding, &inventory, &opts)?;
    let body = toml::to_string(&sc).context("cannot serialise the scenario")?;
    let scenario_text = format!(
        "# Generated by `atmpflow plant run` from {} and {}: the planner's model of the virtual plant.\n\n{body}",
        a.recipe.display(),
        a.equipment.display()
    );
    let model = model::load_with(
        "generated scenario",
        &scenario_text,
        &*super::common::expansion_model(),
    )
    .map_err(reported)?;
    let orders_text = read(&a.orders)?;
    let orders = model::orders::read_orders(&a.orders.display().to_string(), &orders_text, &model)?;
    let (inst, map) = schedule::plant::instance_from_model(&model, &orders)?;
    let (stages, stage_of) = stages_of(&recipe, &model, &map)?;
    let machines = machines_of(&model, &map, &sc);
    let setup = Setup {
        recipe_sha: super::common::hex(&sha2::Digest::finalize(
            <sha2::Sha256 as sha2::Digest>::new_with_prefix(recipe_text.as_bytes()),
        )),
        recipe,
        binding,
        inventory,
        model,
        orders,
        inst,
        map,
        stages,
        machines,
        stage_of,
        start,
    };
    let cancel = cancel_flag();
    let sopts = SolveOptions {
        time_limit: None,
        iteration_limit: Some(a.iterations),
        seed: a.seed,
        ..SolveOptions::default()
    };
    let first = solve(&setup.inst, &sopts, &cancel, &mut |_| {})?;
    let model_plan = schedule::plant::to_model_plan(&first.plan, &setup.map, &setup.orders);
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    crate::output::write(&a.out.join("scenario.toml"), &scenario_text)?;
    crate::output::write(
        &a.out.join("plan.json"),
        &serde_json::to_string_pretty(&json!({ "plan": model_plan }))?,
    )?;
    let bar = progress_bar(
        u64::from(a.runs) * setup.orders.len() as u64,
        a.quiet,
        "virtual plant",
        "batches",
    );
    let mut results = Vec::new();
    let wall = Instant::now();
    for r in 0..a.runs {
        if cancel.load(Ordering::SeqCst) {
            break;
        }
        let cfg = RunCfg {
            seed: a.seed.wrapping_add(u64::from(r)),
            speed,
            replan_after_h: (!a.no_replan).then_some(a.replan_after_h),
            replan_window_h: (a.replan_window_days > 0.0).then_some(a.replan_window_days * 24.0),
            sink: sink.as_ref(),
            sopts: &sopts,
        };
        let res = run_once(&setup, &first.plan, &cfg, &cancel, &mut || bar.inc(1))
            .with_context(|| format!("run {r}"))?;
        results.push(res);
    }
    bar.finish_and_clear();
    let cancelled = cancel.load(Ordering::SeqCst);
    let stored = sink.as_ref().map(stored_summary);
    write_outputs(&a.out, &setup, &results, cancelled, wall.elapsed(), stored)?;
    eprintln!(
        "virtual plant: {} run(s) of {} order(s){} in {:.1} s; results in {}",
        results.len(),
        setup.orders.len(),
        if cancelled { " (cancelled)" } else { "" },
        wall.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}

/// The id of order `order`'s batch in the run with seed `seed`.
fn batch_id(seed: u64, order: &str) -> String {
    format!("VP-{seed}-{order}")
}

/// Opens the `--db` database for the run: a rehearsal database (its simulated clock begins
/// at `start`, or the run starts where the clock stands), the usage counters of the
/// equipment twins it holds, and twins for equipment with counters it does not hold yet.
/// Answers the sink and the run's start.
fn open_sink(
    url: &str,
    recipe_text: &str,
    inventory: &mut recipe::Inventory,
    start: DateTime,
    runs: u32,
    seed: u64,
) -> anyhow::Result<(Sink, DateTime)> {
    if runs != 1 {
        bail!("--db stores one run: give --runs 1 (each run restarts the clock at time 0)");
    }
    let db = super::db::open(url)?;
    // never overwrite or extend a stored run: its batch ids are taken
    let prefix = batch_id(seed, "");
    let taken = db
        .read(store::batch::ids)?
        .into_iter()
        .find(|id| id.starts_with(&prefix));
    if let Some(id) = taken {
        bail!(
            "batch {id} already exists in {}: a run with --seed {seed} is stored there and the \
             virtual plant never overwrites a record; give another --seed (batch ids are \
             VP-SEED-ORDER) or another --db",
            db.location()
        );
    }
    let by = super::user::actor();
    let start = rehearsal_db::begin_clock(
        &db,
        start,
        &by,
        "run the virtual plant",
        "the virtual plant",
    )?;
    let twins = rehearsal_db::counted_twins(&db, inventory, start.date())?;
    if !twins.is_empty() {
        db.transaction(|tx| rehearsal_db::store_twins(tx, &twins))
            .with_context(|| format!("storing equipment twins in {}", db.location()))?;
    }
    Ok((
        Sink {
            db,
            recipe_text: recipe_text.to_string(),
            by,
            failed: std::cell::RefCell::new(None),
            requests: std::cell::Cell::new(0),
            entries: std::cell::Cell::new(0),
            busy: std::cell::Cell::new(Duration::ZERO),
        },
        start,
    ))
}

struct RunCfg<'a> {
    seed: u64,
    speed: Option<f64>,
    replan_after_h: Option<f64>,
    /// Rolling horizon of a re-plan, hours (`None`: every unfinished order).
    replan_window_h: Option<f64>,
    sopts: &'a SolveOptions,
    /// Where every request is stored (`--db`).
    sink: Option<&'a Sink>,
}

/// The plant's lot register and, with `--db`, the database every request goes to.
struct Shared<'a> {
    lots: LotRegister,
    sink: Option<&'a Sink>,
}

impl Shared<'_> {
    /// Stores one request (with `--db`), as a live batch's request is stored.
    fn record(&self, j: &Journaled<'_>, recipe: &Recipe) -> anyhow::Result<()> {
        match self.sink {
            Some(sink) => sink.record(j, recipe),
            None => Ok(()),
        }
    }
}

/// The database of `--db`: one transaction per request, in the order the plant sends them
/// (the simulated time never goes back, so the rehearsal clock follows it).
struct Sink {
    db: store::Db,
    recipe_text: String,
    /// Who runs the plant (the clock's `set_by`).
    by: String,
    /// The first write that failed: the run stops there.
    failed: std::cell::RefCell<Option<String>>,
    /// Requests and entries stored, and the wall time spent storing them.
    requests: std::cell::Cell<u64>,
    entries: std::cell::Cell<u64>,
    busy: std::cell::Cell<Duration>,
}

impl Sink {
    fn record(&self, j: &Journaled<'_>, recipe: &Recipe) -> anyhow::Result<()> {
        if j.entries.is_empty() {
            return Ok(());
        }
        let t0 = Instant::now();
        let r = self.db.transaction(|tx| {
            rehearsal_db::store_request(tx, j, &self.recipe_text, recipe, &self.by)
        });
        self.busy.set(self.busy.get() + t0.elapsed());
        match r {
            Ok(()) => {
                self.requests.set(self.requests.get() + 1);
                self.entries
                    .set(self.entries.get() + j.entries.len() as u64);
                Ok(())
            }
            Err(e) => {
                let msg = format!(
                    "storing batch {} in {}: {e:#}",
                    j.batch.id(),
                    self.db.location()
                );
                self.failed.borrow_mut().get_or_insert_with(|| msg.clone());
                bail!(msg)
            }
        }
    }
}

/// One batch of a run.
#[derive(Debug, Clone, Default)]
struct BatchOut {
    order: String,
    batch: String,
    release_h: f64,
    end_h: Option<f64>,
    status: String,
    entries: usize,
    deviations: usize,
    /// Wait before each stage (hours): start − max(ready, planned start is *not* subtracted).
    waits: Vec<Option<f64>>,
}

#[derive(Debug, Clone)]
struct ReplanOut {
    at_h: f64,
    reason: String,
    frozen: usize,
    compared: usize,
    moved: usize,
    error: Option<String>,
}

#[derive(Debug, Clone)]
struct MoveOut {
    replan: usize,
    order: String,
    stage: String,
    old_machine: String,
    old_start_h: f64,
    new_machine: String,
    new_start_h: f64,
}

struct RunOut {
    seed: u64,
    batches: Vec<BatchOut>,
    replans: Vec<ReplanOut>,
    moves: Vec<MoveOut>,
    events: u64,
    end_h: f64,
    complete: bool,
}

/// What the event queue holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    /// Order `i` arrives.
    Arrive(usize),
    /// Batch `i` is ready for its next step.
    Ready(usize),
    /// Batch `i`'s running step ends.
    StepEnd(usize),
    /// A unit is clean and free again.
    Free(usize, usize),
    /// A planned start time: waiting batches may start.
    Gate,
}

/// Simulated time in whole seconds (the engine's clock), as a queue key.
fn secs(h: f64) -> i64 {
    (h * 3600.0).round() as i64
}

struct Live {
    batch: Option<Batch>,
    /// Stage of the batch's held unit, and the unit.
    holding: Option<(usize, usize)>,
    /// Bound machine per stage (fixed at arrival).
    machine: Vec<usize>,
    /// Ready time of the current stage (hours), while waiting for a unit.
    waiting_since: Option<f64>,
    /// The step the batch waits to start (recipe step index).
    next: Option<usize>,
    /// Running step: (recipe step index, start hours, device report).
    running: Option<(usize, f64, batch::device::DeviceReport)>,
    /// Actual (start, end) of each stage (hours).
    actual: Vec<(Option<f64>, Option<f64>)>,
    out: BatchOut,
    done: bool,
}

/// The event queue of a run: `(time in seconds, insertion number, event)`, earliest first.
type Queue = BinaryHeap<Reverse<(i64, u64, Ev)>>;

/// Why to re-plan, and the order whose batch was lost (if that is why).
type ReplanReason = (String, Option<usize>);

/// What handling an event answers: why to re-plan, if the event calls for it.
type Handled = anyhow::Result<Option<ReplanReason>>;

/// The planned start times (seconds) of a plan's operations, sorted, once each.
fn gates(plan: &Plan) -> Vec<i64> {
    let mut v: Vec<i64> = plan.ops.iter().map(|a| a.start * 60).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The virtual clock: waits until `now_h` simulated hours / `speed` wall seconds have passed
/// since `wall0` (or the run is cancelled).
fn follow_clock(speed: Option<f64>, wall0: Instant, now_h: f64, cancel: &AtomicBool) {
    let Some(sp) = speed else { return };
    // simulated seconds / speed = wall seconds
    let due = Duration::from_secs_f64(now_h * 3600.0 / sp);
    while wall0.elapsed() < due {
        if cancel.load(Ordering::SeqCst) {
            break;
        }
        std::thread::sleep((due - wall0.elapsed()).min(Duration::from_millis(100)));
    }
}

/// The state of one run of the virtual plant: the batches, the units, the plan being
/// followed and the event queue.
struct PlantRun<'a> {
    s: &'a Setup,
    cfg: &'a RunCfg<'a>,
    cast: Cast,
    lots: Shared<'a>,
    inventory: recipe::Inventory,
    inst: Instance,
    plan: Plan,
    /// Job index of each order in the current instance.
    job_of: Vec<Option<usize>>,
    devices: BTreeMap<String, SimulatedDevice>,
    manual: SimulatedDevice,
    unit_busy: Vec<Vec<bool>>,
    live: Vec<Live>,
    q: Queue,
    seq: u64,
    replans: Vec<ReplanOut>,
    moves: Vec<MoveOut>,
}

impl<'a> PlantRun<'a> {
    /// A run before its first event: every order's arrival and every planned start queued.
    fn new(s: &'a Setup, first: &Plan, cfg: &'a RunCfg<'a>) -> Self {
        let g = s.stages.len();
        let n = s.orders.len();
        let live = (0..n)
            .map(|i| Live {
                batch: None,
                holding: None,
                machine: vec![0; g],
                waiting_since: None,
                next: None,
                running: None,
                actual: vec![(None, None); g],
                out: BatchOut {
                    order: s.orders[i].id.clone(),
                    batch: batch_id(cfg.seed, &s.orders[i].id),
                    release_h: s.orders[i].release_h,
                    status: "not arrived".into(),
                    waits: vec![None; g],
                    ..BatchOut::default()
                },
                done: false,
            })
            .collect();
        let mut run = PlantRun {
            s,
            cfg,
            cast: Cast::example(),
            lots: Shared {
                lots: LotRegister::default(),
                sink: cfg.sink,
            },
            inventory: s.inventory.clone(),
            inst: s.inst.clone(),
            plan: first.clone(),
            job_of: (0..n).map(Some).collect(),
            devices: BTreeMap::new(),
            manual: SimulatedDevice::new("manual", cfg.seed),
            unit_busy: s
                .machines
                .units
                .iter()
                .map(|r| vec![false; r.len()])
                .collect(),
            live,
            q: BinaryHeap::new(),
            seq: 0,
            replans: Vec::new(),
            moves: Vec::new(),
        };
        for (i, o) in s.orders.iter().enumerate() {
            run.push(o.release_h, Ev::Arrive(i));
        }
        for t in gates(&run.plan) {
            run.push(t as f64 / 3600.0, Ev::Gate);
        }
        run
    }

    fn push(&mut self, t: f64, e: Ev) {
        self.seq += 1;
        self.q.push(Reverse((secs(t), self.seq, e)));
    }

    /// Handles one event; answers why to re-plan, if the event calls for it.
    fn handle(&mut self, ev: Ev, now: Now, tick: &mut dyn FnMut()) -> Handled {
        match ev {
            Ev::Gate => {}
            Ev::Free(k, m) => set_unit(&mut self.unit_busy, self.s, k, m, false),
            Ev::Arrive(i) => self.arrive(i, now)?,
            Ev::Ready(i) => self.ready(i, now, tick)?,
            Ev::StepEnd(i) => return self.step_end(i, now, tick),
        }
        Ok(None)
    }

    /// Order `i` arrives: its batch is bound to the units the plan gives the order now,
    /// opened, and receives its apheresis.
    fn arrive(&mut self, i: usize, now: Now) -> anyhow::Result<()> {
        let s = self.s;
        let g = s.stages.len();
        let j = self.job_of[i];
        let mut binding = s.binding.clone();
        for k in 0..g {
            let m = j.map_or(0, |j| self.plan.ops[j * g + k].machine);
            self.live[i].machine[k] = m;
            if let Some(eq) = &s.machines.units[k][m].1 {
                rebind(
                    &mut binding,
                    &s.recipe,
                    &s.stages[k].steps,
                    eq,
                    &s.inventory,
                );
            }
        }
        let batch = self.live[i].out.batch.clone();
        let order = NewOrder {
            patient: format!("PSN-{batch}"),
            coi: format!("COI-{batch}"),
            batch,
            din: din_for(self.cfg.seed, i),
            planned_start: now.at,
            ship_step: None,
        };
        let mut desk = Desk::new(&s.recipe, &mut self.inventory, &self.lots, now.at);
        let mut b = desk.open(&order, &s.recipe_sha, &binding, &self.cast.planner)?;
        let label = label_of(&b);
        desk.send(
            &mut b,
            &self.cast.operator,
            Command::ReceiveApheresis {
                location: "virtual plant".into(),
                scanned: label,
            },
        )?;
        self.live[i].batch = Some(b);
        self.live[i].out.status = "in process".into();
        self.push(now.h, Ev::Ready(i));
        Ok(())
    }

    /// Starts recipe step `st` of batch `i`; answers the step's duration (hours).
    fn start(&mut self, i: usize, st: usize, now: Now) -> anyhow::Result<f64> {
        start_step(
            &mut self.live[i],
            st,
            self.s,
            &self.cast,
            &mut Desk::new(&self.s.recipe, &mut self.inventory, &self.lots, now.at),
            now.h,
            self.cfg.seed,
            &mut self.devices,
            &mut self.manual,
        )
    }

    /// Batch `i` is ready for its next step: it advances, and inside a held block starts
    /// the next step at once.
    fn ready(&mut self, i: usize, now: Now, tick: &mut dyn FnMut()) -> anyhow::Result<()> {
        advance(
            &mut self.live[i],
            self.s,
            &self.cast,
            &mut Desk::new(&self.s.recipe, &mut self.inventory, &self.lots, now.at),
            now.h,
        )?;
        if self.live[i].done {
            tick();
        } else if self.live[i].next.is_some() && self.live[i].waiting_since.is_none() {
            // continuing inside a held block: start at once
            let st = self.live[i].next.take().unwrap_or_default();
            let d = self.start(i, st, now)?;
            self.push(now.h + d, Ev::StepEnd(i));
        }
        Ok(())
    }

    /// Batch `i`'s running step ends: the step is completed, the held unit goes at the end
    /// of its block (or when the batch is lost); answers why to re-plan, if it must.
    fn step_end(&mut self, i: usize, now: Now, tick: &mut dyn FnMut()) -> Handled {
        let s = self.s;
        let Some((st, _, report)) = self.live[i].running.take() else {
            return Ok(None);
        };
        let step = &s.recipe.steps[st];
        let person = person_for(&self.cast, step);
        let held = self.live[i].holding;
        let b = self.live[i].batch.as_mut().context("batch not open")?;
        let mut desk = Desk::new(&s.recipe, &mut self.inventory, &self.lots, now.at);
        desk.send(
            b,
            person,
            Command::CompleteStep {
                step: step.id.clone(),
                measures: report.measures.clone(),
                failed: report.failed.clone(),
            },
        )?;
        let lost = matches!(b.stage(), Stage::Terminated | Stage::Rejected);
        // does the held unit go? (end of the block, or the batch leaves it)
        let next_in_block = b.next_step().and_then(|id| {
            let p = s.recipe.steps.iter().position(|x| x.id == id)?;
            let (k, _) = held?;
            (s.stage_of[p] == Some(k) && p > st).then_some(p)
        });
        let mut reason = None;
        if let Some((k, m)) = self.live[i].holding
            && (next_in_block.is_none() || lost)
        {
            reason = self.release_unit(i, k, m, now.h, lost);
        }
        if lost {
            let l = &mut self.live[i];
            l.done = true;
            l.out.status = "lost".into();
            l.out.end_h = Some(now.h);
            tick();
        } else {
            self.push(now.h + step.transfer_h, Ev::Ready(i));
        }
        Ok(reason)
    }

    /// Batch `i` leaves unit `m` of stage `k` (cleaned before it is free again); answers
    /// why to re-plan if the batch was lost or the stage ended too far from its plan.
    fn release_unit(
        &mut self,
        i: usize,
        k: usize,
        m: usize,
        now_h: f64,
        lost: bool,
    ) -> Option<ReplanReason> {
        let s = self.s;
        self.live[i].holding = None;
        self.live[i].actual[k].1 = Some(now_h);
        let clean = s.stages[k].cleaning_h;
        if clean > 0.0 {
            self.push(now_h + clean, Ev::Free(k, m));
        } else {
            set_unit(&mut self.unit_busy, s, k, m, false);
        }
        // deviation from the plan?
        let (Some(limit), Some(j)) = (self.cfg.replan_after_h, self.job_of[i]) else {
            return None;
        };
        let planned_end = self.plan.ops[j * s.stages.len() + k].end as f64 / 60.0;
        if lost {
            Some((
                format!(
                    "batch {} failed at {}",
                    self.live[i].out.batch,
                    s.stages_name(k)
                ),
                Some(i),
            ))
        } else if (now_h - planned_end).abs() > limit {
            Some((
                format!(
                    "{} of {} ended at {:.1} h, planned {:.1} h",
                    s.stages_name(k),
                    self.live[i].out.order,
                    now_h,
                    planned_end
                ),
                None,
            ))
        } else {
            None
        }
    }

    /// Re-plans with started work fixed and records what the re-plan did.
    fn replan(&mut self, reason: String, failed: Option<usize>, now_h: f64) {
        if let Some(i) = failed {
            // a lost batch leaves the plan: its unit is free from now
            self.job_of[i] = None;
        }
        let r = replan_window(
            self.s,
            &mut self.inst,
            &mut self.plan,
            &self.job_of,
            &self.live,
            now_h,
            self.cfg,
        );
        let nr = self.replans.len();
        match r {
            Ok((out, mv)) => {
                for t in out.gates {
                    self.push(t as f64 / 3600.0, Ev::Gate);
                }
                self.moves
                    .extend(mv.into_iter().map(|m| MoveOut { replan: nr, ..m }));
                self.replans.push(ReplanOut {
                    at_h: now_h,
                    reason,
                    frozen: out.frozen,
                    compared: out.compared,
                    moved: out.moved,
                    error: None,
                });
            }
            Err(e) => self.replans.push(ReplanOut {
                at_h: now_h,
                reason,
                frozen: 0,
                compared: 0,
                moved: 0,
                error: Some(e.to_string()),
            }),
        }
    }

    /// The waiting batch to start next at time `t` (seconds): its bound unit is free and its
    /// planned start came; the earliest planned start first.
    fn next_to_start(&self, t: i64) -> Option<usize> {
        let (s, g) = (self.s, self.s.stages.len());
        let mut best: Option<(i64, usize)> = None;
        for (i, l) in self.live.iter().enumerate() {
            if l.waiting_since.is_none() || l.done {
                continue;
            }
            let Some(st) = l.next else { continue };
            let Some(k) = s.stage_of[st] else { continue };
            let m = l.machine[k];
            // a stage without equipment or area (the planner's virtual machines) waits
            // for no unit, as in the simulator
            if self.unit_busy[k][m] && s.map.units[k][m].is_some() {
                continue;
            }
            let planned = self.job_of[i].map_or(0, |j| self.plan.ops[j * g + k].start * 60);
            if planned > t {
                continue;
            }
            if best.is_none_or(|(p, _)| planned < p) {
                best = Some((planned, i));
            }
        }
        best.map(|(_, i)| i)
    }

    /// Starts every waiting batch that may start at time `t` (seconds).
    fn dispatch(&mut self, t: i64, now: Now, tick: &mut dyn FnMut()) {
        while let Some(i) = self.next_to_start(t) {
            let st = self.live[i].next.take().unwrap_or_default();
            let k = self.s.stage_of[st].unwrap_or_default();
            let m = self.live[i].machine[k];
            set_unit(&mut self.unit_busy, self.s, k, m, true);
            let l = &mut self.live[i];
            l.holding = Some((k, m));
            l.out.waits[k] = l.waiting_since.take().map(|w| now.h - w);
            l.actual[k].0 = Some(now.h);
            match self.start(i, st, now) {
                Ok(d) => self.push(now.h + d, Ev::StepEnd(i)),
                Err(e) => {
                    stop_batch(&mut self.live[i], &mut self.unit_busy, self.s, now.h, &e);
                    tick();
                }
            }
        }
    }

    /// The run's outcome once the queue is done (or the run stopped).
    fn finish(self, events: u64, end_h: f64, complete: bool) -> RunOut {
        let batches = self
            .live
            .into_iter()
            .map(|l| {
                let mut o = l.out;
                if let Some(b) = &l.batch {
                    o.entries = b.entries().len();
                    o.deviations = b.deviations().len();
                    if !l.done {
                        o.status = "unfinished".into();
                    }
                }
                o
            })
            .collect();
        RunOut {
            seed: self.cfg.seed,
            batches,
            replans: self.replans,
            moves: self.moves,
            events,
            end_h,
            complete,
        }
    }
}

fn run_once(
    s: &Setup,
    first: &Plan,
    cfg: &RunCfg<'_>,
    cancel: &AtomicBool,
    tick: &mut dyn FnMut(),
) -> anyhow::Result<RunOut> {
    let mut run = PlantRun::new(s, first, cfg);
    let horizon_h = s.model.horizon_h;
    let wall0 = Instant::now();
    let mut events = 0u64;
    let mut now_h = 0.0;
    let mut complete = true;
    while let Some(Reverse((t, _, ev))) = run.q.pop() {
        now_h = t as f64 / 3600.0;
        if now_h > horizon_h {
            break;
        }
        if cancel.load(Ordering::SeqCst) {
            complete = false;
            break;
        }
        if cfg.sink.is_some_and(|k| k.failed.borrow().is_some()) {
            // a request could not be stored: the run ends with that error (below)
            complete = false;
            break;
        }
        events += 1;
        follow_clock(cfg.speed, wall0, now_h, cancel);
        let now = Now {
            at: DateTime::from_unix_seconds(s.start.unix_seconds().saturating_add(t)),
            h: now_h,
        };
        match run.handle(ev, now, tick) {
            Ok(Some((reason, failed))) => run.replan(reason, failed, now_h),
            Ok(None) => {}
            Err(e) => {
                if let Ev::Arrive(i) | Ev::Ready(i) | Ev::StepEnd(i) = ev {
                    stop_batch(&mut run.live[i], &mut run.unit_busy, s, now_h, &e);
                    tick();
                }
            }
        }
        run.dispatch(t, now, tick);
    }
    if let Some(e) = cfg.sink.and_then(|k| k.failed.borrow().clone()) {
        bail!(e);
    }
    if complete && run.live.iter().any(|l| !l.done) {
        complete = now_h <= horizon_h && run.q.is_empty();
    }
    Ok(run.finish(events, now_h, complete))
}

/// What a re-plan changed.
struct Replanned {
    /// Planned starts (seconds) after now of the operations it placed.
    gates: Vec<i64>,
    frozen: usize,
    compared: usize,
    moved: usize,
}

/// Re-plans with started work fixed (`schedule::replan`, warm-started from the current plan)
/// on the orders within reach: every order whose batch has arrived and is not finished, and
/// every order planned to start within the window (all unfinished orders without one). The
/// finished orders and the ones beyond the window keep their plan, so a re-plan late in a
/// plant-year solves tens of orders instead of all of them. The plan and the instance keep
/// one numbering throughout: job `i` is order `i`.
fn replan_window(
    s: &Setup,
    inst: &mut Instance,
    plan: &mut Plan,
    job_of: &[Option<usize>],
    live: &[Live],
    now_h: f64,
    cfg: &RunCfg<'_>,
) -> anyhow::Result<(Replanned, Vec<MoveOut>)> {
    let g = s.stages.len();
    let now_min = (now_h * 60.0).round() as Time;
    let reach = cfg
        .replan_window_h
        .map(|w| now_min.saturating_add((w * 60.0).round() as Time));
    let sel: Vec<usize> = (0..live.len())
        .filter(|&i| job_of[i].is_some() && !live[i].done)
        .filter(|&i| live[i].batch.is_some() || reach.is_none_or(|r| plan.ops[i * g].start <= r))
        .collect();
    let mut out = Replanned {
        gates: Vec::new(),
        frozen: 0,
        compared: 0,
        moved: 0,
    };
    if sel.is_empty() {
        return Ok((out, Vec::new()));
    }
    let mut sub = inst.clone();
    sub.jobs = sel.iter().map(|&i| inst.jobs[i].clone()).collect();
    sub.processing = sel.iter().map(|&i| inst.processing[i].clone()).collect();
    if !inst.lags.is_empty() {
        sub.lags = sel.iter().map(|&i| inst.lags[i].clone()).collect();
    }
    sub.frozen.clear();
    let mut cur = Plan {
        ops: sel
            .iter()
            .flat_map(|&i| plan.ops[i * g..(i + 1) * g].iter().copied())
            .collect(),
    };
    for (p, &i) in sel.iter().enumerate() {
        let l = &live[i];
        for k in 0..g {
            let a = &mut cur.ops[p * g + k];
            if let (Some(a0), e) = l.actual[k] {
                // started: where and when it ran (or runs, at least until now)
                a.start = (a0 * 60.0).round() as Time;
                a.machine = l.machine[k];
                let d = match e {
                    Some(e) => (e * 60.0).round() as Time - a.start,
                    None => sub.processing[p][k].max(now_min - a.start + 1),
                }
                .max(0);
                sub.processing[p][k] = d;
                a.end = a.start + d;
            } else if a.start < now_min {
                // not started: placed from now on (before now it would count as started)
                a.end += now_min - a.start;
                a.start = now_min;
            }
        }
        // a started batch's holds are the execution's matter (the engine records a hold
        // violation); the planner only places its remaining steps
        if !sub.lags.is_empty() && l.actual.iter().any(|a| a.0.is_some()) {
            for lag in &mut sub.lags[p] {
                lag.max = None;
            }
        }
    }
    spread_virtual(s, &mut cur, sel.len(), now_min);
    let never = AtomicBool::new(false);
    let rp = replan(&sub, &cur, now_min, &[], cfg.sopts, &never, &mut |_| {})?;
    (out.frozen, out.compared, out.moved) = (rp.frozen, rp.compared, rp.moved);
    let mut moves = Vec::new();
    for (p, &i) in sel.iter().enumerate() {
        let Some(nj) = rp.job_map[p] else { continue };
        for k in 0..g {
            let (o, nw) = (cur.ops[p * g + k], rp.solution.plan.ops[nj * g + k]);
            if o.start >= now_min && (o.machine != nw.machine || o.start != nw.start) {
                moves.push(MoveOut {
                    replan: 0,
                    order: s.orders[i].id.clone(),
                    stage: s.stages_name(k),
                    old_machine: s.machines.units[k][o.machine].0.clone(),
                    old_start_h: o.start as f64 / 60.0,
                    new_machine: s.machines.units[k][nw.machine].0.clone(),
                    new_start_h: nw.start as f64 / 60.0,
                });
            }
            if nw.start > now_min {
                out.gates.push(nw.start * 60);
            }
            plan.ops[i * g + k] = nw;
        }
        inst.processing[i] = sub.processing[p].clone();
        if !inst.lags.is_empty() {
            inst.lags[i] = sub.lags[p].clone();
        }
    }
    out.gates.sort_unstable();
    out.gates.dedup();
    Ok((out, moves))
}

/// A stage without equipment or area (transport, release) waits for no unit in the plant, so
/// batches overlap on it freely, while the planner gives it machines of capacity one. The
/// started operations of such a stage are spread over its machines (first free machine, in
/// order of start) so that the frozen part of a re-plan does not overlap itself.
fn spread_virtual(s: &Setup, cur: &mut Plan, jobs: usize, now_min: Time) {
    let g = s.stages.len();
    for k in 0..g {
        if s.map.units[k].iter().any(Option::is_some) {
            continue;
        }
        let mut started: Vec<usize> = (0..jobs)
            .map(|p| p * g + k)
            .filter(|&x| cur.ops[x].start < now_min)
            .collect();
        started.sort_by_key(|&x| cur.ops[x].start);
        let mut free_at = vec![Time::MIN; s.map.units[k].len()];
        for x in started {
            let a = &mut cur.ops[x];
            if let Some(m) = (0..free_at.len()).find(|&m| free_at[m] <= a.start) {
                a.machine = m;
                free_at[m] = a.end;
            }
        }
    }
}

/// Marks unit `m` of stage `k` busy or free, on every stage whose machine is the same unit
/// (steps of different stages served by one equipment pool, e.g. the centrifuges of wash and
/// harvest, share its units: one batch at a time).
fn set_unit(busy: &mut [Vec<bool>], s: &Setup, k: usize, m: usize, to: bool) {
    busy[k][m] = to;
    if s.map.units[k][m].is_none() {
        return;
    }
    let key = &s.machines.units[k][m].0;
    for (k2, row) in s.machines.units.iter().enumerate() {
        for (m2, (other, _)) in row.iter().enumerate() {
            if other == key && s.map.units[k2][m2].is_some() {
                busy[k2][m2] = to;
            }
        }
    }
}

/// A request of the batch was refused (or its device failed): the batch stops there, its
/// record keeps what the engine recorded (e.g. the deviation of a refused scan), its unit is
/// freed and the refusal is its status.
fn stop_batch(l: &mut Live, busy: &mut [Vec<bool>], s: &Setup, now_h: f64, e: &anyhow::Error) {
    if let Some((k, m)) = l.holding.take() {
        set_unit(busy, s, k, m, false);
    }
    l.running = None;
    l.next = None;
    l.waiting_since = None;
    l.done = true;
    l.out.end_h = Some(now_h);
    l.out.status = format!("stopped: {e:#}");
}

impl Setup {
    fn stages_name(&self, k: usize) -> String {
        self.model.products[self.map.product].steps[self.map.steps[k]]
            .name
            .clone()
    }
}

/// A valid-looking donation identification number for a virtual batch (not ISBT 128 checked
/// beyond what the engine checks).
fn din_for(seed: u64, i: usize) -> String {
    // facility A9999 (the fictitious one of the rehearsal), year 26, serial from the order
    format!(
        "A999926{:06}",
        (seed.wrapping_mul(1000) + i as u64) % 1_000_000
    )
}

fn label_of(b: &Batch) -> Label {
    Label {
        coi: b.order().coi.clone(),
        din: b.order().din.label(),
    }
}

fn person_for<'a>(cast: &'a Cast, step: &recipe::recipe::Step) -> &'a Actor {
    if step.unit_procedure == "release" {
        &cast.qc
    } else {
        &cast.operator
    }
}

/// Binds the main requirement of the block's steps to `eq` where the base binding chose
/// another member of the same pool (equipment fitting the same requirements).
fn rebind(
    binding: &mut recipe::bind::Binding,
    recipe: &Recipe,
    steps: &[usize],
    eq: &str,
    _inv: &recipe::Inventory,
) {
    for &si in steps {
        let step = &recipe.steps[si];
        let Some(req) = step.requires.first() else {
            continue;
        };
        for a in &mut binding.assignments {
            if a.step == step.id && a.requirement == req.name && a.equipment.is_some() {
                a.equipment = Some(eq.to_string());
            }
        }
    }
}

/// A moment of the virtual plant's simulated time: as a date and time, and in hours from
/// the start of the run.
#[derive(Debug, Clone, Copy)]
struct Now {
    at: DateTime,
    h: f64,
}

/// What every command of the virtual plant is sent with: the rehearsal's desk (the recipe,
/// the plant's inventory, the lot register and the simulated time) and, with `--db`, the
/// store each request goes to.
struct Desk<'r, 'a> {
    desk: rehearsal::Desk<'r>,
    shared: &'r Shared<'a>,
}

impl<'r, 'a> Desk<'r, 'a> {
    fn new(
        recipe: &'r Recipe,
        inventory: &'r mut recipe::Inventory,
        shared: &'r Shared<'a>,
        now: DateTime,
    ) -> Self {
        Desk {
            desk: rehearsal::Desk {
                recipe,
                inventory,
                lots: &shared.lots,
                now,
            },
            shared,
        }
    }

    /// The simulated time the commands are sent at.
    fn now(&self) -> DateTime {
        self.desk.now
    }

    /// `actor` opens a batch for `order`; stores the opening entry.
    fn open(
        &self,
        order: &NewOrder,
        recipe_sha: &str,
        binding: &recipe::bind::Binding,
        actor: &Actor,
    ) -> anyhow::Result<Batch> {
        let (shared, recipe) = (self.shared, self.desk.recipe);
        self.desk
            .open(order, recipe_sha, binding, actor, |j| {
                shared.record(&j, recipe)
            })
            .map_err(|e| match e {
                SendError::Refused(e) => anyhow!("opening {}: {e}", order.batch),
                SendError::Journal(e) => e,
            })
    }

    /// Sends `cmd` to batch `b` as `actor`; stores what the engine answers, a refusal too.
    fn send(&mut self, b: &mut Batch, actor: &Actor, cmd: Command) -> anyhow::Result<()> {
        let (shared, recipe, now) = (self.shared, self.desk.recipe, self.desk.now);
        let (id, action) = (b.id().to_string(), cmd.name());
        self.desk
            .send(b, actor, cmd, |j| shared.record(&j, recipe))
            .map_err(|e| match e {
                SendError::Refused(error) => anyhow!("{id}: {action} at {now} refused: {error}"),
                SendError::Journal(e) => e,
            })
    }
}

/// Moves a ready batch on: disposition, shipping and infusion happen at once (people act
/// instantly in the virtual plant); the next step either waits for its unit or is marked to
/// start inside the held block.
fn advance(
    l: &mut Live,
    s: &Setup,
    cast: &Cast,
    desk: &mut Desk<'_, '_>,
    now_h: f64,
) -> anyhow::Result<()> {
    let now = desk.now();
    let Some(b) = l.batch.as_mut() else {
        return Ok(());
    };
    loop {
        if b.stage() == Stage::AwaitingDisposition {
            dispose(b, cast, desk)?;
            continue;
        }
        let next = b.next_step().map(str::to_string);
        let Some(id) = next.filter(|_| !b.stage().is_terminal()) else {
            if b.stage() == Stage::Shipped {
                let label = label_of(b);
                desk.send(
                    b,
                    &cast.clinic,
                    Command::ClinicReceipt {
                        location: "Treating clinic".into(),
                        scanned: label,
                    },
                )?;
                desk.send(
                    b,
                    &cast.clinic,
                    Command::ConfirmInfusion {
                        clinic: "Treating clinic".into(),
                        infused_at: now,
                    },
                )?;
            }
            l.done = true;
            l.out.end_h = Some(now_h);
            l.out.status = b.stage().to_string();
            return Ok(());
        };
        let p = s
            .recipe
            .steps
            .iter()
            .position(|x| x.id == id)
            .context("engine named an unknown step")?;
        l.next = Some(p);
        match (s.stage_of[p], l.holding) {
            (Some(k), Some((hk, _))) if k == hk => l.waiting_since = None,
            (Some(_), _) => l.waiting_since = Some(now_h),
            // optional steps outside the plan run without a planned unit
            (None, _) => l.waiting_since = None,
        }
        if s.stage_of[p].is_none() && l.holding.is_none() {
            // run it as if in a held block of its own: mark holding none, start at once
            l.waiting_since = None;
        }
        return Ok(());
    }
}

/// Starts recipe step `st` through the engine; returns its simulated duration (hours).
#[allow(clippy::too_many_arguments)]
fn start_step(
    l: &mut Live,
    st: usize,
    s: &Setup,
    cast: &Cast,
    desk: &mut Desk<'_, '_>,
    now_h: f64,
    seed: u64,
    devices: &mut BTreeMap<String, SimulatedDevice>,
    manual: &mut SimulatedDevice,
) -> anyhow::Result<f64> {
    let now = desk.now();
    let step = &s.recipe.steps[st];
    let person = person_for(cast, step);
    let b = l.batch.as_mut().context("batch not open")?;
    let label = label_of(b);
    // the other materials' lots are named for the batch, usable for a year
    let lot_of = |material: &str| {
        let lot = format!("{material}-{}", b.id());
        (lot, Some(now.date().plus_days(365)))
    };
    let start = rehearsal::step_start(b, &s.recipe, step, "virtual plant", &label, now, lot_of);
    for cmd in start {
        desk.send(b, person, cmd)?;
    }
    let device_id = step
        .requires
        .first()
        .and_then(|r| b.bound(&step.id, &r.name))
        .map(str::to_string);
    let drun = DeviceRun { step, started: now };
    let (report, source) = match &device_id {
        Some(id) => {
            let dev = devices
                .entry(id.clone())
                .or_insert_with(|| SimulatedDevice::new(id, seed));
            (dev.run(&drun)?, Source::device(dev.id()))
        }
        None => (manual.run(&drun)?, Source::Manual),
    };
    for r in &report.readings {
        desk.send(
            b,
            person,
            Command::RecordValue {
                step: step.id.clone(),
                field: r.field.clone(),
                value: r.value,
                unit: r.unit.clone(),
                source: source.clone(),
            },
        )?;
    }
    let d = report.duration_h.max(0.0);
    l.running = Some((st, now_h, report));
    Ok(d)
}

fn dispose(b: &mut Batch, cast: &Cast, desk: &mut Desk<'_, '_>) -> anyhow::Result<()> {
    // The virtual plant's devices are simulated and report no device faults, so
    // the rehearsal's rule (a device fault is major) changes nothing here.
    for (n, classification, capa) in batch::rehearsal::assessments(b) {
        let rationale = format!("Assessed in the virtual plant (batch {})", b.id());
        desk.send(
            b,
            &cast.qa,
            Command::AssessDeviation {
                deviation: n,
                classification,
                capa,
                rationale,
            },
        )?;
    }
    let review = rehearsal::review_signature(b);
    desk.send(b, &cast.qa, review)?;
    let release = rehearsal::disposition(b, "Virtual plant: record reviewed by exception");
    desk.send(b, &cast.qp, release)
}

/// Mean and 95 % half-width (Student t) of `xs`.
fn mean_ci(xs: &[f64]) -> (Option<f64>, Option<f64>) {
    let n = xs.len();
    if n == 0 {
        return (None, None);
    }
    let m = xs.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (Some(m), None);
    }
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
    let t = statrs_t975(n - 1);
    (Some(m), Some(t * (var / n as f64).sqrt()))
}

/// 97.5 % quantile of Student's t with `df` degrees of freedom (table to 30, then normal-ish).
fn statrs_t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => T[df - 1],
        31..=60 => 2.000,
        61..=120 => 1.980,
        _ => 1.960,
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt(x: Option<f64>) -> String {
    x.map_or_else(String::new, |v| format!("{v:.4}"))
}

fn write_outputs(
    dir: &Path,
    s: &Setup,
    runs: &[RunOut],
    cancelled: bool,
    wall: Duration,
    stored: Option<serde_json::Value>,
) -> anyhow::Result<()> {
    let g = s.stages.len();
    let mut b = String::from(
        "run_seed,order,batch,release_h,end_h,status,vein_to_vein_days,entries,deviations",
    );
    for k in 0..g {
        b.push_str(&format!(",wait_h:{}", csv_field(&s.stages_name(k))));
    }
    b.push('\n');
    let mut rp = String::from("run_seed,replan,at_h,reason,frozen,compared,moved,error\n");
    let mut mv = String::from(
        "run_seed,replan,order,stage,old_machine,old_start_h,new_machine,new_start_h\n",
    );
    let years = s.model.horizon_h / 8760.0;
    let mut per_run = Vec::new();
    let (mut thr, mut v2v, mut waits): (Vec<f64>, Vec<f64>, Vec<Vec<f64>>) =
        (Vec::new(), Vec::new(), vec![Vec::new(); g]);
    for r in runs {
        let (released, lost, vv, w) = batch_rows(r, g, &mut b);
        replan_rows(r, &mut rp, &mut mv);
        let vmean = (!vv.is_empty()).then(|| vv.iter().sum::<f64>() / vv.len() as f64);
        let wmean: Vec<Option<f64>> = w
            .iter()
            .map(|x| (!x.is_empty()).then(|| x.iter().sum::<f64>() / x.len() as f64))
            .collect();
        thr.push(f64::from(released) / years);
        if let Some(v) = vmean {
            v2v.push(v);
        }
        for k in 0..g {
            if let Some(v) = wmean[k] {
                waits[k].push(v);
            }
        }
        per_run.push(json!({
            "seed": r.seed,
            "complete": r.complete,
            "end_h": r.end_h,
            "events": r.events,
            "released": released,
            "lost": lost,
            "released_per_year": f64::from(released) / years,
            "vein_to_vein_mean_days": vmean,
            "wait_mean_h": wmean,
            "replans": r.replans.len(),
            "moves": r.moves.len(),
        }));
    }
    let stat = |xs: &[f64]| {
        let (m, h) = mean_ci(xs);
        json!({ "mean": m, "half_width_95": h, "runs": xs.len() })
    };
    let summary = json!({
        "virtual_plant": true,
        "dry_run": true,
        "note": "records of the virtual plant are rehearsals (batch ids VP-…); nothing here is a real batch",
        "program_version": env!("CARGO_PKG_VERSION"),
        "recipe_sha256": s.recipe_sha,
        "orders": s.orders.len(),
        "horizon_days": s.model.horizon_h / 24.0,
        "cancelled": cancelled,
        "wall_seconds": wall.as_secs_f64(),
        "stages": (0..g).map(|k| s.stages_name(k)).collect::<Vec<_>>(),
        "released_per_year": stat(&thr),
        "vein_to_vein_mean_days": stat(&v2v),
        "wait_mean_h": waits.iter().map(|w| stat(w)).collect::<Vec<_>>(),
        "runs": per_run,
        "db": stored,
    });
    crate::output::write(&dir.join("batches.csv"), &b)?;
    crate::output::write(&dir.join("replans.csv"), &rp)?;
    crate::output::write(&dir.join("moves.csv"), &mv)?;
    crate::output::write(
        &dir.join("summary.json"),
        &serde_json::to_string_pretty(&summary)?,
    )?;
    Ok(())
}

/// Appends run `r`'s rows to batches.csv (`b`); answers the batches released and lost, the
/// vein-to-vein days of the released ones and the waits per stage.
fn batch_rows(r: &RunOut, g: usize, b: &mut String) -> (u32, u32, Vec<f64>, Vec<Vec<f64>>) {
    let mut released = 0u32;
    let mut lost = 0u32;
    let mut vv = Vec::new();
    let mut w: Vec<Vec<f64>> = vec![Vec::new(); g];
    for x in &r.batches {
        let treated = matches!(
            x.status.as_str(),
            "infused" | "shipped" | "released" | "released with deviation"
        );
        let days = x
            .end_h
            .filter(|_| treated)
            .map(|e| (e - x.release_h) / 24.0);
        if treated {
            released += 1;
            if let Some(d) = days {
                vv.push(d);
            }
        }
        if x.status == "lost" {
            lost += 1;
        }
        b.push_str(&format!(
            "{},{},{},{:.4},{},{},{},{},{}",
            r.seed,
            csv_field(&x.order),
            csv_field(&x.batch),
            x.release_h,
            opt(x.end_h),
            csv_field(&x.status),
            opt(days),
            x.entries,
            x.deviations
        ));
        for (k, wk) in x.waits.iter().enumerate() {
            b.push_str(&format!(",{}", opt(*wk)));
            if let Some(v) = wk {
                w[k].push(*v);
            }
        }
        b.push('\n');
    }
    (released, lost, vv, w)
}

/// Appends run `r`'s re-plans to replans.csv (`rp`) and what they moved to moves.csv (`mv`).
fn replan_rows(r: &RunOut, rp: &mut String, mv: &mut String) {
    for (i, x) in r.replans.iter().enumerate() {
        rp.push_str(&format!(
            "{},{i},{:.4},{},{},{},{},{}\n",
            r.seed,
            x.at_h,
            csv_field(&x.reason),
            x.frozen,
            x.compared,
            x.moved,
            csv_field(x.error.as_deref().unwrap_or(""))
        ));
    }
    for m in &r.moves {
        mv.push_str(&format!(
            "{},{},{},{},{},{:.4},{},{:.4}\n",
            r.seed,
            m.replan,
            csv_field(&m.order),
            csv_field(&m.stage),
            csv_field(&m.old_machine),
            m.old_start_h,
            csv_field(&m.new_machine),
            m.new_start_h
        ));
    }
}
