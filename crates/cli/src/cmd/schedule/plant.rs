//! The production planner on a scenario's plant: plan orders of several products
//! (`atmpflow schedule SCENARIO --orders ORDERS.csv`), answer capable-to-promise questions and
//! book orders (`atmpflow schedule promise PLAN.json …`), and re-plan after events
//! (`atmpflow schedule replan PLAN.json --events EVENTS.csv …`).
//!
//! `plan.json` is self-contained: the plant problem, its plan, the link back to the scenario
//! and the `model::Plan` the simulator follows (`atmpflow simulate --plan`).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use schedule::Time;
use schedule::plan_doc::{PlanDoc, PromiseAnswer, PromiseRequest, ReplanSummary, when};
use schedule::shop::{Shop, ShopOptions, ShopPlan, ShopSolution};

use super::super::common;

/// Largest plan document read.
const MAX_PLAN_BYTES: u64 = 256 << 20;

fn read_doc(path: &Path) -> anyhow::Result<PlanDoc> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if len > MAX_PLAN_BYTES {
        bail!(
            "{}: {len} bytes, more than a plan document may have",
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let doc: PlanDoc = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}:{}:{}: not a plant plan written by `atmpflow schedule SCENARIO --orders`: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    doc.check()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(doc)
}

fn solve_plant(
    shop: &Shop,
    opts: &ShopOptions,
    quiet: bool,
    replan: Option<(&ShopPlan, Time, &[schedule::shop::ShopEvent])>,
) -> anyhow::Result<(ShopSolution, Option<schedule::shop::ShopReplanned>)> {
    let cancel = common::cancel_flag();
    let mut report = |c: schedule::shop::ShopCost, it: u64| {
        if !quiet {
            eprint!("\rbest {:?} at iteration {it}        ", &c[..]);
        }
    };
    let out = match replan {
        None => (
            schedule::shop::solve(shop, opts, &cancel, &mut report)?,
            None,
        ),
        Some((plan, now, events)) => {
            let r = schedule::shop::replan(shop, plan, now, events, opts, &cancel, &mut report)?;
            (r.solution.clone(), Some(r))
        }
    };
    if !quiet {
        eprintln!();
        if cancel.load(Ordering::SeqCst) {
            eprintln!("cancelled: keeping the best plan found so far");
        }
    }
    Ok(out)
}

fn options(time_limit: f64, iterations: Option<u64>, seed: u64) -> anyhow::Result<ShopOptions> {
    if !(time_limit.is_finite() && time_limit > 0.0) {
        bail!("--time-limit must be a positive number of seconds");
    }
    Ok(ShopOptions {
        time_limit: Some(Duration::from_secs_f64(time_limit)),
        iteration_limit: iterations,
        seed,
        warm_start: None,
    })
}

/// Writes plan.json, plan.csv and schedule.html into `out`, and the same plan.json and
/// plan.csv also to `copies` (`--json`, `--csv`) where given.
fn write_outputs(
    out: &Path,
    doc: &PlanDoc,
    moves: Option<&schedule::shop::ShopReplanned>,
    copies: [Option<&Path>; 2],
) -> anyhow::Result<Vec<PathBuf>> {
    crate::output::dir(out)?;
    let json_text = serde_json::to_string_pretty(doc)?;
    let csv_text = report::plant_csv_local(&doc.shop, &doc.plant_plan, doc.anchor().as_ref());
    let json = out.join("plan.json");
    crate::output::write(&json, &json_text)?;
    let csv = out.join("plan.csv");
    crate::output::write(&csv, &csv_text)?;
    let html = out.join("schedule.html");
    crate::output::write(&html, report::plant_html(doc, moves))?;
    let mut v = vec![json, csv, html];
    for (copy, text) in copies.into_iter().zip([&json_text, &csv_text]) {
        if let Some(p) = copy {
            crate::output::write(p, text)?;
            v.push(p.to_path_buf());
        }
    }
    if let Some(r) = moves {
        let mc = out.join("moves.csv");
        crate::output::write(&mc, report::moves_csv(r))?;
        v.push(mc);
    }
    Ok(v)
}

/// `atmpflow schedule SCENARIO --orders ORDERS.csv`.
pub fn run_orders(args: &super::Args, input: &Path, orders_path: &Path) -> anyhow::Result<()> {
    let mut loaded = common::load_scenario(input)?;
    let mut windows_added = None;
    if let Some(inv_path) = &args.equipment {
        windows_added = Some(add_requalification(&mut loaded.model, input, inv_path)?);
    }
    let m = &loaded.model;
    let orders = super::read_orders(orders_path, m)?;
    let (shop, map) = schedule::plant::shop_from_model(m, &orders)
        .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
    let opts = options(args.time_limit, args.iterations, args.seed)?;
    let (sol, _) = solve_plant(&shop, &opts, args.quiet, None)?;
    let doc = PlanDoc::planned(
        m,
        &loaded.sha256,
        shop,
        map,
        &sol,
        format!(
            "planned {} orders from {}{} ({} iterations)",
            orders.len(),
            orders_path.display(),
            match (windows_added, &args.equipment) {
                (Some(n), Some(p)) =>
                    format!(" with {n} requalification window(s) from {}", p.display()),
                _ => String::new(),
            },
            sol.iterations
        ),
    );
    let paths = write_outputs(
        &args.out,
        &doc,
        None,
        [args.json.as_deref(), args.csv.as_deref()],
    )?;
    if !args.quiet {
        eprintln!(
            "{} orders of {} products planned: makespan {}, {} late, weighted tardiness {}; wrote {}",
            orders.len(),
            doc.shop.products.len(),
            when(doc.values.makespan),
            doc.values.late,
            doc.values.weighted_tardiness,
            listed(&paths)
        );
    }
    Ok(())
}

/// Adds the requalification windows of the inventory at `inv_path` to the pools of `model`
/// (rules: `recipe::requal`); problems are located in the scenario or the inventory file.
fn add_requalification(
    model: &mut model::Model,
    scenario_path: &Path,
    inv_path: &Path,
) -> anyhow::Result<usize> {
    let inv = super::super::recipe::load_inventory(inv_path)?;
    let name = inv_path.display().to_string();
    recipe::requal::apply(model, &inv, &name).map_err(|p| {
        if !p.scenario.is_empty() {
            match common::read_source(scenario_path) {
                Ok(src) => common::reported(src.errors(&p.scenario)),
                Err(e) => e,
            }
        } else {
            match common::read_source(inv_path) {
                Ok(src) => common::reported(src.errors(&p.inventory)),
                Err(e) => e,
            }
        }
    })
}

/// The files written, for the closing message.
fn listed(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Arguments of `atmpflow schedule promise`.
#[derive(Debug, clap::Args)]
pub struct PromiseArgs {
    /// plan.json written by `atmpflow schedule SCENARIO --orders` (or by promise --book / replan).
    pub plan: PathBuf,
    /// Product of the new order.
    #[arg(long)]
    pub product: String,
    /// First apheresis day to consider (days from time 0, Monday of the first week).
    #[arg(long)]
    pub from_day: u32,
    /// Last apheresis day to consider.
    #[arg(long)]
    pub to_day: u32,
    /// Hour of day of the apheresis.
    #[arg(long, default_value_t = 9.0)]
    pub hour: f64,
    /// Only Monday to Friday.
    #[arg(long)]
    pub weekdays: bool,
    /// Identifier of the new order.
    #[arg(long, default_value = "NEW")]
    pub id: String,
    /// Weight of the new order.
    #[arg(long, default_value_t = 1.0)]
    pub weight: f64,
    /// Book the order with apheresis on this day (at --hour) and write the new plan to --out.
    #[arg(long)]
    pub book: Option<u32>,
    /// Output directory of --book (plan.json, plan.csv, schedule.html).
    #[arg(long, default_value = "out/schedule")]
    pub out: PathBuf,
    /// Write the answer as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// A time as the commands print it: [`when`] and, when the plan has a calendar anchor, the
/// local date-time.
fn at(anchor: Option<&schedule::plan_doc::Anchor>, t: Time) -> String {
    match anchor {
        Some(a) => format!("{} ({})", when(t), a.local(t)),
        None => when(t),
    }
}

/// `atmpflow schedule promise`.
pub fn run_promise(a: &PromiseArgs) -> anyhow::Result<()> {
    let doc = read_doc(&a.plan)?;
    let anchor = doc.anchor();
    let when = |t: Time| at(anchor.as_ref(), t);
    let shop = &doc.shop;
    let r = PromiseRequest {
        id: a.id.clone(),
        product: a.product.clone(),
        from_day: a.from_day,
        to_day: a.to_day,
        hour: a.hour,
        weekdays: a.weekdays,
        weight: a.weight,
    };
    let q = r
        .query(&doc, |f| format!("--{}", f.replace('_', "-")))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let t0 = std::time::Instant::now();
    let p = schedule::shop::promise(shop, &doc.plant_plan, &q)?;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{} for {} (target vein-to-vein {:.1} days), {} apheresis dates checked in {:.3} s:",
        a.id,
        a.product,
        q.lead as f64 / 1440.0,
        p.offers.len(),
        secs
    );
    for o in &p.offers {
        println!(
            "  apheresis {}  ->  {}",
            when(o.release),
            match o.ready {
                None => "cannot be planned without moving committed work".to_string(),
                Some(r) => format!(
                    "ready {}{}",
                    when(r),
                    if o.on_time { "" } else { "  (late)" }
                ),
            }
        );
    }
    match &p.earliest {
        Some(o) => println!("earliest on-time apheresis: {}", when(o.release)),
        None => println!("no on-time apheresis date in the window"),
    }
    if let Some(path) = &a.json {
        // through a JSON value, whose keys are written in the same order as before
        let v = serde_json::to_value(PromiseAnswer::new(&r, &q, p, secs))?;
        crate::output::write(path, &serde_json::to_string_pretty(&v)?)?;
    }
    if let Some(day) = a.book {
        let (s2, p2) = schedule::shop::book(shop, &doc.plant_plan, &q, r.at(day))?;
        let c = p2.completions(&s2)[s2.jobs.len() - 1];
        let d2 = doc.next(s2, p2, None, r.booked_event(day));
        let paths = write_outputs(&a.out, &d2, None, [None, None])?;
        println!(
            "booked {} with apheresis {}, ready {}; wrote {}",
            a.id,
            when(r.at(day)),
            when(c),
            listed(&paths)
        );
    }
    Ok(())
}

/// Arguments of `atmpflow schedule replan`.
#[derive(Debug, clap::Args)]
pub struct ReplanArgs {
    /// plan.json written by `atmpflow schedule SCENARIO --orders` (or by promise --book / replan).
    pub plan: PathBuf,
    /// Events (CSV; see docs/scheduling.md): breakdown, delay, failed, new, cancelled.
    #[arg(long)]
    pub events: PathBuf,
    /// The instant of re-planning, hours from time 0: what started before stays.
    #[arg(long)]
    pub as_of_h: f64,
    /// Time limit in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub time_limit: f64,
    /// Iteration limit (reproducible runs).
    #[arg(long)]
    pub iterations: Option<u64>,
    /// Seed of the random generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory (plan.json, plan.csv, schedule.html with what moved, moves.csv).
    #[arg(long, default_value = "out/replan")]
    pub out: PathBuf,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
}

/// `atmpflow schedule replan`.
pub fn run_replan(a: &ReplanArgs) -> anyhow::Result<()> {
    let doc = read_doc(&a.plan)?;
    if !(a.as_of_h.is_finite() && a.as_of_h.abs() < 1e8) {
        bail!("--as-of-h must be a number of hours");
    }
    let now = (a.as_of_h * 60.0).round() as Time;
    let text = std::fs::read_to_string(&a.events)
        .with_context(|| format!("cannot read {}", a.events.display()))?;
    let events = schedule::shop::parse_events(&text, &doc.shop, &doc.targets_min)
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.events.display()))?;
    let opts = options(a.time_limit, a.iterations, a.seed)?;
    let (sol, r) = solve_plant(
        &doc.shop,
        &opts,
        a.quiet,
        Some((&doc.plant_plan, now, &events)),
    )?;
    let Some(r) = r else {
        bail!("re-planning gave no result");
    };
    let d2 = doc.next(
        r.shop.clone(),
        sol.plan.clone(),
        Some(&sol),
        schedule::plan_doc::replanned_event(now, events.len(), &a.events.display().to_string()),
    );
    let paths = write_outputs(&a.out, &d2, Some(&r), [None, None])?;
    if !a.quiet {
        eprintln!(
            "{}; wrote {}",
            ReplanSummary::new(&r, now, d2.values.late).text(),
            listed(&paths)
        );
    }
    Ok(())
}
