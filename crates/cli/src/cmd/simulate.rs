//! `atmpflow simulate`: Monte-Carlo simulation of one scenario, writing the report.
//!
//! Exit status: 0 when every replication ran, [`EXIT_CANCELLED`] (3) when the run was
//! cancelled with Ctrl-C and the outputs cover the replications finished before (always the
//! first `k`, so `--replications k` reproduces them), 1 on an error; a second Ctrl-C stops at
//! once with 130.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::common;

/// Exit status of a cancelled run that wrote the results of the replications finished before
/// (the same as a cancelled study's).
pub const EXIT_CANCELLED: u8 = super::common::EXIT_PARTIAL;

/// Simulate a scenario and write report.html, results.json and CSV tables.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario file (TOML).
    pub scenario: PathBuf,
    #[command(flatten)]
    pub sim: common::SeededRun,
    #[command(flatten)]
    pub output: common::Output,
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
    /// report), so that the output does not grow with the number of replications. (They are
    /// streamed to the files, and costs are priced as each replication finishes, so memory
    /// does not grow either way.)
    #[arg(long)]
    pub no_per_replication: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let loaded = common::load_scenario(&args.scenario)?;
    let cost_model = load_cost(&args.scenario, &args.cost, &loaded.model)?;
    // The per-replication summaries are streamed to disk as replications are combined (in
    // replication order), and each is priced then into a running cost summary: the run holds
    // none of them, so memory does not grow with the number of replications.
    let stream = !args.no_per_replication;
    let opts = sim::RunOptions {
        plan: args.plan.as_deref().map(read_plan).transpose()?,
        drop_replications: true,
        ..args.sim.options()
    };
    // Outputs that cannot be written are found before the run, not after it.
    let dir = crate::output::dir(&args.output.out)?;
    crate::output::check_writable(&dir)?;
    let mut observations = args
        .observations
        .as_deref()
        .map(ObservationsCsv::create)
        .transpose()?;
    let mut streamed = stream.then(|| Replications::create(&dir)).transpose()?;
    let names = step_names(&loaded.model);
    let mut obs_sink = observations
        .as_mut()
        .map(|csv| move |r: u32, obs: &[sim::Observation]| csv.write(r, obs, &names));
    let mut priced = cost_model.as_ref().map(cost::CostModel::accumulator);
    let mut rep_sink =
        (streamed.is_some() || priced.is_some()).then_some(|x: &sim::Replication| {
            if let Some(acc) = priced.as_mut() {
                acc.add(x);
            }
            match streamed.as_mut() {
                Some(s) => s.write(x),
                None => Ok(()),
            }
        });
    let mut results = common::simulate_streamed(
        &loaded,
        &opts,
        args.output.quiet,
        "simulating",
        obs_sink
            .as_mut()
            .map(|f| f as &mut sim::ObservationSink<'_>),
        rep_sink
            .as_mut()
            .map(|f| f as &mut sim::ReplicationSink<'_>),
    )?;
    // The sinks borrow the writers and the cost summary; they are done with them.
    drop(obs_sink);
    if let Some(csv) = observations {
        csv.finish()?;
    }
    let priced = priced.and_then(price);
    match streamed {
        None => crate::output::write(
            &dir.join("results.json"),
            &results_json(&results, priced.as_ref())?,
        )?,
        // The report shows the first replications; the files have all of them.
        Some(s) => {
            results.per_replication = s.finish(&dir, &results_json(&results, priced.as_ref())?)?;
        }
    }
    for (name, text) in report::simulation_csv(&results) {
        if stream && name == "replications.csv" {
            continue;
        }
        crate::output::write(&dir.join(name), &text)?;
    }
    let report_opts = report::ReportOptions {
        v2v_target_days: v2v_target_days(&loaded.model),
        scenario_file: Some(args.scenario.display().to_string()),
    };
    let html = with_cost(
        &dir,
        report::simulation_html_with(&results, &report_opts),
        priced.as_ref(),
    )?;
    crate::output::write(&dir.join("report.html"), &html)?;
    if !args.output.quiet {
        print_summary(&results);
        print_cost(priced.as_ref());
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

/// Replications whose summaries the report shows when they are streamed (the files have all).
const REPORT_REPLICATIONS: usize = 1000;

/// The per-replication summaries of a run, streamed as replications are combined: the blocks
/// of `results.json` (one compact line each) to an unnamed temporary file until the summary
/// they follow is known, `replications.csv` to its own temporary file, and the first
/// [`REPORT_REPLICATIONS`] kept for the report.
struct Replications {
    blocks: std::io::BufWriter<std::fs::File>,
    written: u64,
    csv: crate::output::Streamed,
    head: Vec<sim::Replication>,
}

impl Replications {
    fn create(dir: &Path) -> anyhow::Result<Self> {
        let blocks = tempfile::tempfile_in(dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        let path = dir.join("replications.csv");
        let mut csv = crate::output::Streamed::create(&path)?;
        csv.write_all(report::replications_csv_header().as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Replications {
            blocks: std::io::BufWriter::new(blocks),
            written: 0,
            csv,
            head: Vec::new(),
        })
    }

    fn write(&mut self, x: &sim::Replication) -> Result<(), String> {
        let block = serde_json::to_string(x).map_err(|e| e.to_string())?;
        let sep: &[u8] = if self.written == 0 {
            b"    "
        } else {
            b",\n    "
        };
        self.blocks
            .write_all(sep)
            .and_then(|()| self.blocks.write_all(block.as_bytes()))
            .map_err(|e| format!("cannot write the temporary file of results.json: {e}"))?;
        self.csv
            .write_all(report::replications_csv_line(x).as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", self.csv.path().display()))?;
        self.written += 1;
        if self.head.len() < REPORT_REPLICATIONS {
            self.head.push(x.clone());
        }
        Ok(())
    }

    /// Writes `results.json`: `summary` (the results without the summaries, a JSON object)
    /// with the streamed summaries as its last member; puts `replications.csv` in place.
    /// Gives back the replications kept for the report.
    fn finish(self, dir: &Path, summary: &str) -> anyhow::Result<Vec<sim::Replication>> {
        use std::io::{Seek, SeekFrom};
        let path = dir.join("results.json");
        let body = summary
            .trim_end()
            .strip_suffix('}')
            .context("the results are not a JSON object")?
            .trim_end();
        let mut blocks = self
            .blocks
            .into_inner()
            .map_err(|e| e.into_error())
            .context("cannot write the temporary file of results.json")?;
        blocks
            .seek(SeekFrom::Start(0))
            .context("cannot read the temporary file of results.json")?;
        let mut out = crate::output::Streamed::create(&path)?;
        let write = |out: &mut crate::output::Streamed, blocks: &mut std::fs::File| {
            out.write_all(body.as_bytes())?;
            out.write_all(b",\n  \"per_replication\": [\n")?;
            std::io::copy(blocks, out)?;
            out.write_all(b"\n  ]\n}")
        };
        write(&mut out, &mut blocks).with_context(|| format!("cannot write {}", path.display()))?;
        out.finish()?;
        self.csv.finish()?;
        Ok(self.head)
    }
}

/// (product, step) names by flat step index.
fn step_names(m: &model::Model) -> Vec<(String, String)> {
    m.products
        .iter()
        .flat_map(|p| p.steps.iter().map(|s| (p.name.clone(), s.name.clone())))
        .collect()
}

/// The raw observations as CSV, streamed through the one output helper: a temporary file
/// beside the target until the run is over, so a failed run leaves no half-written file.
struct ObservationsCsv {
    out: crate::output::Streamed,
}

impl ObservationsCsv {
    fn create(path: &std::path::Path) -> anyhow::Result<Self> {
        let mut out = crate::output::Streamed::create(path)
            .with_context(|| format!("--observations {}", path.display()))?;
        writeln!(
            out,
            "replication,patient,measure,product,step,time_h,value,unit,censored"
        )
        .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(ObservationsCsv { out })
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
                .map_err(|e| format!("cannot write {}: {e}", self.out.path().display()))?;
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        self.out.finish()
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
fn read_plan(path: &Path) -> anyhow::Result<model::Plan> {
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

/// Reads the cost inputs for a simulation: the scenario's own `[cost]` section merged with
/// the `[cost]` sections of `cost_files` (arrays appended, settings of later files win).
/// `None` when there is none. Errors name file, line and field.
fn load_cost(
    scenario: &Path,
    cost_files: &[PathBuf],
    m: &model::Model,
) -> anyhow::Result<Option<cost::CostModel>> {
    let mut layers = vec![common::read_source(scenario)?];
    for f in cost_files {
        let src = common::read_source(f)?;
        if cost::cost_table(&src).map_err(common::reported)?.is_none() {
            bail!("{} has no [cost] section", f.display());
        }
        layers.push(src);
    }
    let refs: Vec<&model::SourceFile> = layers.iter().collect();
    Ok(cost::load_layers(&refs, m)
        .map_err(common::reported)?
        .map(|(cm, _)| cm))
}

/// The cost summary of the replications priced as they were combined; an undefined cost
/// (e.g. no dose released) is reported as a warning and leaves the results without a cost
/// block.
fn price(acc: cost::CostAccumulator) -> Option<cost::CostSummary> {
    match acc.finish() {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("warning: cost: {e}");
            None
        }
    }
}

/// Prints cost per dose and per patient.
fn print_cost(c: Option<&cost::CostSummary>) {
    if let Some(c) = c {
        println!(
            "  cost per dose             {} {}",
            common::fmt_stat(&c.per_dose, 0),
            c.currency
        );
        println!(
            "  cost per patient (ITT)    {} {}",
            common::fmt_stat(&c.per_patient_treated, 0),
            c.currency
        );
    }
}

/// `results.json`: the simulation results with a `cost` block when priced.
fn results_json(r: &sim::Results, c: Option<&cost::CostSummary>) -> anyhow::Result<String> {
    let mut v = serde_json::to_value(r)?;
    if let (Some(c), Some(obj)) = (c, v.as_object_mut()) {
        obj.insert("cost".to_string(), serde_json::to_value(c)?);
    }
    Ok(serde_json::to_string_pretty(&v)?)
}

/// Writes the cost CSV tables and adds the cost section to the report.
fn with_cost(dir: &Path, html: String, c: Option<&cost::CostSummary>) -> anyhow::Result<String> {
    let Some(c) = c else {
        return Ok(html);
    };
    for (name, text) in report::cost::cost_csv(c) {
        crate::output::write(&dir.join(name), &text)?;
    }
    Ok(report::cost::insert_section(
        &html,
        &report::cost::cost_section(c),
    ))
}
