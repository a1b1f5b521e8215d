//! `atmpflow simulate`: Monte-Carlo simulation of one scenario, writing the report.

use std::path::PathBuf;

use super::common;

/// Simulate a scenario and write report.html, results.json and CSV tables.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario file (TOML).
    pub scenario: PathBuf,
    /// Seed (overrides the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Replications (overrides the scenario's).
    #[arg(long)]
    pub replications: Option<u32>,
    /// Worker threads (default: one per core). Results do not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Output directory.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// No progress bar and no summary.
    #[arg(long)]
    pub quiet: bool,
    /// Follow this plan (`plan.json` written by `atmpflow schedule`, or a bare plan) instead
    /// of dispatching rules: planned orders arrive at their apheresis time and each step
    /// starts no earlier than planned, in planned order (predictive-reactive).
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Cost inputs: files with a `[cost]` section, merged with the scenario's own (repeatable).
    #[arg(long)]
    pub cost: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let loaded = common::load_scenario(&args.scenario)?;
    let cost_model = super::study::load_cost(&args.scenario, &args.cost, &loaded.model)?;
    let opts = sim::RunOptions {
        replications: args.replications,
        seed: args.seed,
        threads: args.threads,
        plan: args.plan.as_deref().map(read_plan).transpose()?,
    };
    let results = common::simulate(&loaded, &opts, args.quiet, "simulating")?;
    let dir = common::out_dir(&args.out)?;
    let priced = super::study::price(cost_model.as_ref(), &results);
    common::write(
        &dir.join("results.json"),
        &super::study::results_json(&results, priced.as_ref())?,
    )?;
    for (name, text) in report::simulation_csv(&results) {
        common::write(&dir.join(name), &text)?;
    }
    let report_opts = report::ReportOptions {
        v2v_target_days: v2v_target_days(&loaded.model),
        scenario_file: Some(args.scenario.display().to_string()),
    };
    let html = super::study::with_cost(
        &dir,
        report::simulation_html_with(&results, &report_opts),
        priced.as_ref(),
    )?;
    common::write(&dir.join("report.html"), &html)?;
    if !args.quiet {
        print_summary(&results);
        super::study::print_cost(priced.as_ref());
        println!("wrote {}", dir.join("report.html").display());
    }
    Ok(())
}

/// The target vein-to-vein time drawn on the report's histogram: the demands' common target
/// (none when demands differ, since one line would be wrong for some patients).
fn v2v_target_days(m: &model::Model) -> Option<f64> {
    let first = m.demand.first()?.target_v2v_h;
    m.demand
        .iter()
        .all(|d| (d.target_v2v_h - first).abs() < 1e-9)
        .then_some(first / 24.0)
}

/// Reads a plan: either the document `atmpflow schedule` writes (with a `plan` member) or a
/// bare plan.
fn read_plan(path: &std::path::Path) -> anyhow::Result<model::Plan> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read plan {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let inner = value.get("plan").cloned().unwrap_or(value);
    serde_json::from_value(inner).with_context(|| {
        format!(
            "{} is not a plan (expected `orders` and `ops` as written by `atmpflow schedule`)",
            path.display()
        )
    })
}

fn print_summary(r: &sim::Results) {
    println!(
        "{} — {} replications, seed {} ({})",
        r.scenario, r.replications, r.seed, r.rng
    );
    println!(
        "  doses released per year   {}",
        common::fmt_stat(&r.throughput_per_year, 1)
    );
    let v = &r.vein_to_vein_days;
    println!(
        "  vein-to-vein days         mean {:.1} [{:.1}, {:.1}]  p50 {:.1}  p90 {:.1}  p95 {:.1}",
        v.mean, v.ci95[0], v.ci95[1], v.p50, v.p90, v.p95
    );
    println!(
        "  on time                   {}",
        common::fmt_stat(&r.on_time_fraction, 3)
    );
    println!(
        "  patients lost             {}",
        common::fmt_stat(&r.patients_lost, 1)
    );
    let w = r
        .resources
        .iter()
        .map(|x| x.name.len())
        .max()
        .unwrap_or(0)
        .max(14);
    for res in &r.resources {
        println!(
            "  utilisation {:<w$}  {}",
            res.name,
            common::fmt_stat(&res.utilisation, 3)
        );
    }
}
