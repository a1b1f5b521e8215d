//! `atmpflow simulate`: Monte-Carlo simulation of one scenario, writing the report.
//!
//! Exit status: 0 when every replication ran, [`EXIT_CANCELLED`] (3) when the run was
//! cancelled with Ctrl-C and the outputs cover the replications finished before (always the
//! first `k`, so `--replications k` reproduces them), 1 on an error; a second Ctrl-C stops at
//! once with 130.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use super::common;

/// Exit status of a cancelled run that wrote the results of the replications finished before
/// (the same as a cancelled study's).
pub const EXIT_CANCELLED: u8 = super::study::EXIT_PARTIAL;

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
    /// Also write every raw observation (each patient's vein-to-vein time and each wait before
    /// a step) to this CSV file, streamed in replication order.
    #[arg(long, value_name = "FILE")]
    pub observations: Option<PathBuf>,
    /// Leave out the per-replication summaries (in results.json, replications.csv and the
    /// report), so that memory and output do not grow with the number of replications. Costs
    /// are priced per replication, so this cannot go with cost inputs.
    #[arg(long)]
    pub no_per_replication: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let loaded = common::load_scenario(&args.scenario)?;
    let cost_model = super::study::load_cost(&args.scenario, &args.cost, &loaded.model)?;
    if cost_model.is_some() && args.no_per_replication {
        anyhow::bail!(
            "--no-per-replication cannot be used with cost inputs: costs are priced per \
             replication (leave out --cost, or the scenario's [cost] section)"
        );
    }
    let opts = sim::RunOptions {
        replications: args.replications,
        seed: args.seed,
        threads: args.threads,
        plan: args.plan.as_deref().map(read_plan).transpose()?,
        drop_replications: args.no_per_replication,
    };
    // Outputs that cannot be written are found before the run, not after it.
    let dir = common::out_dir(&args.out)?;
    common::check_writable(&dir)?;
    let mut observations = args
        .observations
        .as_deref()
        .map(ObservationsCsv::create)
        .transpose()?;
    let results = match observations.as_mut() {
        None => common::simulate(&loaded, &opts, args.quiet, "simulating")?,
        Some(csv) => {
            let names = step_names(&loaded.model);
            let mut sink = |r: u32, obs: &[sim::Observation]| csv.write(r, obs, &names);
            common::simulate_observed(&loaded, &opts, args.quiet, "simulating", &mut sink)?
        }
    };
    if let Some(csv) = observations {
        csv.finish()?;
    }
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
    if results.cancelled {
        return Err(common::Coded {
            code: EXIT_CANCELLED,
            message: format!(
                "cancelled: the outputs cover replications 0 to {} of {} (rerun with \
                 --replications {} to reproduce them)",
                results.replications.saturating_sub(1),
                results.replications_requested,
                results.replications
            ),
        }
        .into());
    }
    Ok(())
}

/// (product, step) names by flat step index.
fn step_names(m: &model::Model) -> Vec<(String, String)> {
    m.products
        .iter()
        .flat_map(|p| p.steps.iter().map(|s| (p.name.clone(), s.name.clone())))
        .collect()
}

/// The raw observations as CSV, written to a temporary file beside the target and renamed
/// into place when the run is over, so a failed run leaves no half-written file.
struct ObservationsCsv {
    path: PathBuf,
    tmp: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
}

impl ObservationsCsv {
    fn create(path: &std::path::Path) -> anyhow::Result<Self> {
        let mut name = path
            .file_name()
            .with_context(|| format!("--observations {} names no file", path.display()))?
            .to_os_string();
        name.push(".partial");
        let tmp = path.with_file_name(name);
        let file = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut out = std::io::BufWriter::new(file);
        writeln!(
            out,
            "replication,patient,measure,product,step,time_h,value,unit,censored"
        )
        .with_context(|| format!("cannot write {}", tmp.display()))?;
        Ok(ObservationsCsv {
            path: path.to_path_buf(),
            tmp,
            out,
        })
    }

    fn write(
        &mut self,
        r: u32,
        obs: &[sim::Observation],
        names: &[(String, String)],
    ) -> Result<(), String> {
        let csv = |s: &str| {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        for o in obs {
            let line = match o.what {
                sim::Observed::VeinToVein { censored } => format!(
                    "{r},{},vein_to_vein,,,{},{},days,{censored}",
                    o.patient, o.time_h, o.value
                ),
                sim::Observed::Wait { step } => {
                    let (p, s) = names.get(step).map_or(("", ""), |(p, s)| (p, s));
                    format!(
                        "{r},{},wait,{},{},{},{},hours,false",
                        o.patient,
                        csv(p),
                        csv(s),
                        o.time_h,
                        o.value
                    )
                }
            };
            writeln!(self.out, "{line}")
                .map_err(|e| format!("cannot write {}: {e}", self.tmp.display()))?;
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        let file = self
            .out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", self.tmp.display()))?;
        file.sync_all()
            .with_context(|| format!("cannot write {}", self.tmp.display()))?;
        std::fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        Ok(())
    }
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
