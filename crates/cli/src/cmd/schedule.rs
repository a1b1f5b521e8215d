//! `atmpflow schedule`: plan patient batches on a flexible flow shop.
//!
//! Benchmark mode: `atmpflow schedule --format hfs|taillard|hfsw FILE --time-limit S --json OUT`.
//! Plant mode (`plant.rs`): `atmpflow schedule SCENARIO --orders ORDERS.csv`, `atmpflow schedule
//! promise PLAN.json …`, `atmpflow schedule replan PLAN.json --events EVENTS.csv …`.

mod plant;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use schedule::{ExactMode, Instance, Objective, Progress, Solution, SolveOptions};

/// Set by Ctrl-C: the solver stops and the best plan so far is kept.
static CANCEL: AtomicBool = AtomicBool::new(false);

/// Benchmark instance formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Hybrid flow shop (`../shared/data/hfs`): n, g, machines per stage, n rows of times.
    Hfs,
    /// Taillard permutation flow shop: header `n m seed UB LB`, m rows of n times.
    Taillard,
    /// `hfs` followed by n rows of g-1 maximum waits (-1 = unlimited).
    Hfsw,
}

/// When to run the exact branch and bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExactArg {
    /// Small instances only.
    Auto,
    /// Never.
    Off,
    /// Always, within the remaining time.
    On,
}

/// Plant planning actions on a written plan.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Capable-to-promise: which apheresis dates in a window keep every committed promise, and
    /// when each product would be ready; --book commits one.
    Promise(plant::PromiseArgs),
    /// Re-plan after events (breakdowns, delays, failed, new and cancelled orders) as of a time;
    /// started work stays, the report shows what moved.
    Replan(plant::ReplanArgs),
}

/// Arguments of `atmpflow schedule`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// Plant planning on a written plan.
    #[command(subcommand)]
    pub action: Option<Action>,
    /// A benchmark instance (with --format) or a scenario file (with --orders).
    pub input: Option<PathBuf>,
    /// Format of a benchmark instance file.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Orders (CSV) to plan on the scenario's plant.
    #[arg(long)]
    pub orders: Option<PathBuf>,
    /// Equipment inventory (TOML or JSON, as `recipe bind` reads): its units' qualification
    /// dates add requalification windows to the plan (needs the scenario's `[calendar]`).
    #[arg(long, requires = "orders")]
    pub equipment: Option<PathBuf>,
    /// Time limit in seconds (wall clock, one thread).
    #[arg(long, default_value_t = 30.0)]
    pub time_limit: f64,
    /// Iteration limit of the metaheuristic: with it (and a generous time limit) runs are reproducible.
    #[arg(long)]
    pub iterations: Option<u64>,
    /// Seed of the random generator (xoshiro256**/splitmix64).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Objective: makespan, twt, wct, or a lexicographic list such as twt,makespan.
    #[arg(long, default_value = "makespan")]
    pub objective: String,
    /// Exact branch and bound.
    #[arg(long, value_enum, default_value = "auto")]
    pub exact: ExactArg,
    /// Add seeded maximum waits (shelf-life variant, see docs/scheduling.md) before solving.
    #[arg(long)]
    pub shelf_life_seed: Option<u64>,
    /// Write the (possibly derived) instance in hfsw format to this file.
    #[arg(long)]
    pub write_instance: Option<PathBuf>,
    /// Write the result as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the plan as CSV (job, stage, machine, start, end).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Output directory of the scenario mode (plan.json, plan.csv, schedule.html).
    #[arg(long, default_value = "out/schedule")]
    pub out: PathBuf,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// Tuning: jobs removed per iterated-greedy destruction.
    #[arg(long, hide = true)]
    pub tune_destruct: Option<usize>,
    /// Tuning: local-search insertion window (0 = off).
    #[arg(long, hide = true)]
    pub tune_window: Option<usize>,
    /// Tuning: acceptance temperature factor.
    #[arg(long, hide = true)]
    pub tune_temperature: Option<f64>,
    /// Tuning: decoder for instances without maximum waits (fifo or jobwise).
    #[arg(long, hide = true)]
    pub tune_decoder: Option<String>,
    /// Tuning: forward-backward improvement passes per evaluation.
    #[arg(long, hide = true)]
    pub tune_justify: Option<usize>,
    /// Tuning: apply forward-backward improvement in every evaluation.
    #[arg(long, hide = true)]
    pub tune_justify_all: bool,
    /// Tuning: do not try the reversed flow.
    #[arg(long, hide = true)]
    pub tune_no_reverse: bool,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    match &args.action {
        Some(Action::Promise(a)) => return plant::run_promise(a),
        Some(Action::Replan(a)) => return plant::run_replan(a),
        None => {}
    }
    let Some(input) = args.input.clone() else {
        bail!(
            "give a scenario file with --orders ORDERS.csv, an instance file with --format, or promise/replan"
        );
    };
    let Some(format) = args.format else {
        let Some(orders) = &args.orders else {
            bail!(
                "give --orders ORDERS.csv to plan orders on a scenario, or --format for an instance file"
            );
        };
        return plant::run_orders(&args, &input, orders);
    };
    let (name, inst) = load_instance(&args, &input, format)?;
    let opts = solve_options(&args)?;
    let t0 = Instant::now();
    let sol = solve_with_progress(&inst, &opts, args.quiet)?;
    let secs = t0.elapsed().as_secs_f64();
    if !args.quiet {
        eprintln!(
            "{}: {} = {:?}, lower bound {}, gap {:.2} %, {}, {:.2} s",
            name,
            sol.objective.name(),
            &sol.cost[..sol.objective.levels.len()],
            sol.lower_bound,
            gap(sol.cost[0], sol.lower_bound),
            if sol.proven_optimal {
                "proven optimal"
            } else {
                "not proven optimal"
            },
            secs
        );
    }
    write_result(&args, format, &name, &inst, &sol, secs)
}

/// Reads a benchmark instance in `format` (with the seeded maximum waits of
/// --shelf-life-seed added, and written to --write-instance when given); answers its file
/// name and the instance.
fn load_instance(args: &Args, input: &Path, format: Format) -> anyhow::Result<(String, Instance)> {
    let text =
        std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    let name = input
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parsed = match format {
        Format::Hfs => schedule::parse::parse_hfs(&name, &text),
        Format::Taillard => schedule::parse::parse_taillard(&name, &text),
        Format::Hfsw => schedule::parse::parse_hfsw(&name, &text),
    };
    let mut inst = parsed.map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
    if let Some(seed) = args.shelf_life_seed {
        inst = schedule::shelf::with_max_waits(
            &inst,
            seed,
            schedule::shelf::DEFAULT_LO,
            schedule::shelf::DEFAULT_HI,
        );
    }
    if let Some(path) = &args.write_instance {
        crate::output::write(path, schedule::parse::write_hfsw(&inst))?;
    }
    Ok((name, inst))
}

/// The solver's options: objective, limits, seed, exact mode and the hidden tuning flags.
fn solve_options(args: &Args) -> anyhow::Result<SolveOptions> {
    let objective = Objective::parse(&args.objective)?;
    if !(args.time_limit.is_finite() && args.time_limit > 0.0) {
        bail!("--time-limit must be a positive number of seconds");
    }
    let mut opts = SolveOptions {
        objective,
        time_limit: Some(Duration::from_secs_f64(args.time_limit)),
        iteration_limit: args.iterations,
        seed: args.seed,
        exact: match args.exact {
            ExactArg::Auto => ExactMode::Auto,
            ExactArg::Off => ExactMode::Off,
            ExactArg::On => ExactMode::On,
        },
        ..SolveOptions::default()
    };
    if let Some(d) = args.tune_destruct {
        opts.tuning.destruct = d.max(1);
    }
    if let Some(w) = args.tune_window {
        opts.tuning.ls_window = w;
    }
    if let Some(t) = args.tune_temperature {
        opts.tuning.temperature = t;
    }
    if let Some(j) = args.tune_justify {
        opts.tuning.justify = j;
    }
    opts.tuning.justify_all = args.tune_justify_all;
    opts.tuning.try_reverse = !args.tune_no_reverse;
    match args.tune_decoder.as_deref() {
        None => {}
        Some("fifo") => opts.tuning.decoder = Some(schedule::DecoderKind::Fifo),
        Some("jobwise") => {
            opts.tuning.decoder = Some(schedule::DecoderKind::JobWise { append_only: false })
        }
        Some(other) => bail!("unknown decoder {other}"),
    }
    Ok(opts)
}

/// Writes the result to --json and the plan to --csv, or prints a one-line JSON summary
/// when neither is given.
fn write_result(
    args: &Args,
    format: Format,
    name: &str,
    inst: &Instance,
    sol: &Solution,
    secs: f64,
) -> anyhow::Result<()> {
    if let Some(path) = &args.json {
        let doc = result_json(inst, sol, secs, args, format);
        crate::output::write(path, &serde_json::to_string_pretty(&doc)?)?;
    }
    if let Some(path) = &args.csv {
        crate::output::write(path, report::plan_csv(inst, &sol.plan))?;
    }
    if args.json.is_none() && args.csv.is_none() {
        println!(
            "{}",
            serde_json::to_string(&serde_json::json!({
                "instance": name,
                "objective": sol.objective.name(),
                "value": sol.cost[0],
                "makespan": sol.values.makespan,
                "lower_bound": sol.lower_bound,
                "proven_optimal": sol.proven_optimal,
                "time_seconds": secs,
            }))?
        );
    }
    Ok(())
}

fn gap(v: i64, lb: i64) -> f64 {
    if lb > 0 {
        100.0 * (v - lb) as f64 / lb as f64
    } else {
        0.0
    }
}

/// Solves with an indicatif spinner on a terminal; Ctrl-C keeps the best plan.
pub fn solve_with_progress(
    inst: &Instance,
    opts: &SolveOptions,
    quiet: bool,
) -> anyhow::Result<Solution> {
    // Installing the handler fails only if one is already installed; then Ctrl-C keeps its default.
    let _ = ctrlc::set_handler(|| CANCEL.store(true, Ordering::SeqCst));
    let bar = if !quiet && std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(Duration::from_millis(200));
        b.set_message("constructing (Ctrl-C stops and keeps the best plan)");
        Some(b)
    } else {
        None
    };
    let mut on_progress = |p: &Progress| {
        if let Some(b) = &bar {
            b.set_message(format!(
                "best {} | lower bound {} | gap {:.2} % | iteration {} | {}",
                p.best[0],
                p.lower_bound,
                gap(p.best[0], p.lower_bound),
                p.iteration,
                p.phase
            ));
        }
    };
    let sol = schedule::solve(inst, opts, &CANCEL, &mut on_progress);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if CANCEL.load(Ordering::SeqCst) && !quiet {
        eprintln!("cancelled: returning the best plan found so far");
    }
    Ok(sol?)
}

fn result_json(
    inst: &Instance,
    sol: &Solution,
    secs: f64,
    args: &Args,
    format: Format,
) -> serde_json::Value {
    let assignments: Vec<serde_json::Value> = sol
        .plan
        .ops
        .iter()
        .map(|a| {
            serde_json::json!({
                "job": a.job, "stage": a.stage, "machine": a.machine, "start": a.start, "end": a.end
            })
        })
        .collect();
    serde_json::json!({
        "instance": inst.name,
        "format": format!("{format:?}").to_lowercase(),
        "jobs": inst.n(),
        "stages": inst.g(),
        "machines_per_stage": inst.stages.iter().map(|s| s.machines.len()).collect::<Vec<_>>(),
        "has_max_waits": inst.has_max_lags(),
        "shelf_life_seed": args.shelf_life_seed,
        "objective": sol.objective.name(),
        "objective_value": sol.cost[0],
        "makespan": sol.values.makespan,
        "weighted_tardiness": sol.values.weighted_tardiness,
        "weighted_completion": sol.values.weighted_completion,
        "lower_bound": sol.lower_bound,
        "lower_bounds": sol.bounds,
        "gap_percent": gap(sol.cost[0], sol.lower_bound),
        "proven_optimal": sol.proven_optimal,
        "feasible": true,
        "time_seconds": secs,
        "time_limit": args.time_limit,
        "iteration_limit": args.iterations,
        "threads": 1,
        "iterations": sol.iterations,
        "evaluations": sol.evaluations,
        "exact_nodes": sol.exact_nodes,
        "seed": sol.seed,
        "generator": sol.generator,
        "method": sol.method,
        "solver": "atmpflow",
        "permutation": sol.permutation,
        "assignments": assignments,
    })
}

/// Reads the orders file (format: `model::orders`).
fn read_orders(path: &Path, model: &model::Model) -> anyhow::Result<Vec<model::Order>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(model::orders::read_orders(
        &path.display().to_string(),
        &text,
        model,
    )?)
}
