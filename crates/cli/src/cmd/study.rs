//! `atmpflow study`: sweep scenario parameters, simulate and price every point, compare
//! concepts; `--shard i/n` runs one part of the points, `atmpflow study merge` joins parts.
//! A study file whose `[study]` names a `network` sweeps network parameters instead
//! ([`super::network_study`]).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use cost::study::{self, MergeError, NamedPart, ScenarioFiles, StudyError};
use indicatif::{ProgressBar, ProgressStyle};
use model::SourceFile;
use sha2::{Digest, Sha256};

use super::common;
use super::common::{EXIT_PARTIAL, read_source as read, reported};

/// Run a scenario study (parameter sweep with cost per dose), or merge shard parts.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,
    /// Study file (TOML).
    #[arg(required = true)]
    pub study: Option<PathBuf>,
    /// Run only shard I of N (0-based, `I/N`); writes `study-part-I-of-N.json` for `merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    #[command(flatten)]
    pub run: common::Replicate,
    #[command(flatten)]
    pub output: common::Output,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Join the parts written by `--shard` runs into the study report.
    Merge(MergeArgs),
}

/// Join shard parts. Exit codes: 0 merged; 1 unreadable part or other error; 3 points
/// missing (a shard not given or a cancelled run; `--allow-partial` writes the report
/// marked partial and exits 0); 4 a shard given twice; 5 a part of other inputs, program
/// version or settings, or one whose contents do not fit its own header.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Part files (`study-part-I-of-N.json`), all of the same study file.
    #[arg(required = true)]
    pub parts: Vec<PathBuf>,
    /// Write the report even when points are missing, marked as partial.
    #[arg(long)]
    pub allow_partial: bool,
    #[command(flatten)]
    pub output: common::Output,
}

/// Exit code of a merge given the same shard twice.
pub const EXIT_DUPLICATE: u8 = 4;
/// Exit code of a merge given a part of other inputs, version or settings, or a damaged one.
pub const EXIT_FOREIGN: u8 = 5;

/// A fingerprint of every input of a study: each file's name as the study file writes it
/// and its bytes, so parts run from copies of the same files in other directories match.
#[derive(Default)]
struct Inputs(Sha256);

impl Inputs {
    fn add(&mut self, name: &str, bytes: &[u8]) {
        for chunk in [name.as_bytes(), bytes] {
            self.0.update((chunk.len() as u64).to_le_bytes());
            self.0.update(chunk);
        }
    }

    /// Reads `dir/rel` and adds it to the fingerprint.
    fn read(&mut self, dir: &Path, rel: &str) -> anyhow::Result<SourceFile> {
        let f = read(&dir.join(rel))?;
        self.add(rel, f.text().as_bytes());
        Ok(f)
    }

    fn finish(self) -> String {
        common::hex(&self.0.finalize())
    }
}

fn parse_shard(s: &str) -> anyhow::Result<[usize; 2]> {
    let bad = || format!("--shard takes I/N with 0 ≤ I < N (e.g. 0/4), got `{s}`");
    let (i, n) = s.split_once('/').with_context(bad)?;
    let i: usize = i.trim().parse().ok().with_context(bad)?;
    let n: usize = n.trim().parse().ok().with_context(bad)?;
    if n == 0 || i >= n {
        bail!(bad());
    }
    Ok([i, n])
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(Sub::Merge(m)) = args.command {
        return merge(m);
    }
    let Some(path) = args.study else {
        bail!("give a study file, or `merge` with part files");
    };
    let bytes = common::read_limited(&path)?;
    let sha256 = common::hex(&Sha256::digest(&bytes));
    let mut inputs = Inputs::default();
    inputs.add("(study file)", &bytes);
    let src = SourceFile::from_bytes(path.display().to_string(), &bytes).map_err(reported)?;
    if cost::study::names_a_network(&src) {
        if args.shard.is_some() {
            bail!("a network study runs whole: --shard is for scenario studies");
        }
        return super::network_study::run(&path, &src, &args.output.out, args.output.quiet);
    }
    let mut spec = study::parse_spec(&src).map_err(reported)?;
    if let Some(r) = args.run.replications {
        if r < 2 {
            bail!("--replications must be at least 2 for confidence intervals");
        }
        spec.study.replications = r;
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let shared = match &spec.study.cost {
        Some(c) => Some(inputs.read(dir, c)?),
        None => None,
    };
    let mut files = Vec::new();
    for s in &spec.scenario {
        let scenario = inputs.read(dir, &s.file)?;
        let cost = match &s.cost {
            Some(c) => Some(inputs.read(dir, c)?),
            None => None,
        };
        files.push(ScenarioFiles {
            scenario,
            shared: shared.clone(),
            cost,
        });
    }
    let st = study::Study::prepare_with(spec, files, common::expansion_model()).map_err(
        |e| match e {
            StudyError::File(f) => reported(f),
            StudyError::Message(m) => anyhow::anyhow!(m),
        },
    )?;
    let shard = match &args.shard {
        Some(s) => parse_shard(s)?,
        None => [0, 1],
    };
    let indices = study::shard_points(st.points.len(), shard[0], shard[1]);
    let pb = if args.output.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let pb = ProgressBar::new(indices.len() as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix:>12} [{bar:40}] {pos}/{len} points, {elapsed} elapsed, eta {eta}",
        ) {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_prefix("study");
        pb
    };
    let cancel = common::cancel_flag();
    let progress = |n: usize| pb.set_position(n as u64);
    let started = std::time::Instant::now();
    let (points, failed, partial) = study::run(&st, &indices, args.run.threads, &progress, &cancel)
        .map_err(anyhow::Error::msg)?;
    pb.finish_and_clear();
    let mut part = st.part(shard, indices.len());
    part.study_sha256 = sha256;
    part.inputs_sha256 = inputs.finish();
    part.points = points;
    part.failed = failed;
    part.partial = partial;
    if partial && !args.output.quiet {
        eprintln!(
            "cancelled: {} of {} points finished; writing a partial result",
            part.points.len(),
            indices.len()
        );
    }
    let out = crate::output::dir(&args.output.out)?;
    if args.shard.is_some() {
        let name = format!("study-part-{}-of-{}.json", shard[0], shard[1]);
        let json = study::part_to_json(&part).map_err(anyhow::Error::msg)?;
        crate::output::write(&out.join(&name), &json)?;
        if !args.output.quiet {
            println!(
                "shard {}/{}: {} points in {:.1} s; wrote {}",
                shard[0],
                shard[1],
                part.points.len(),
                started.elapsed().as_secs_f64(),
                out.join(name).display()
            );
        }
        return partial_exit(partial, "the part");
    }
    let named = NamedPart {
        name: path.display().to_string(),
        part,
    };
    let result = study::merge(&[named], true).map_err(merge_error)?;
    write_result(&out, &result, args.output.quiet)?;
    if !args.output.quiet {
        println!(
            "{} points in {:.1} s",
            result.points.len(),
            started.elapsed().as_secs_f64()
        );
    }
    partial_exit(partial, "the report")
}

/// A cancelled run wrote its finished points; it still exits with [`EXIT_PARTIAL`], so a
/// batch job cut short does not look like a success.
fn partial_exit(partial: bool, what: &str) -> anyhow::Result<()> {
    if !partial {
        return Ok(());
    }
    Err(common::Coded {
        code: EXIT_PARTIAL,
        message: format!("cancelled: {what} holds only the points that finished"),
    }
    .into())
}

/// Largest part file read (a 200-point part is about 1 MB).
const MAX_PART_BYTES: u64 = 256 << 20;

fn read_part(path: &Path) -> anyhow::Result<NamedPart> {
    let name = path.display().to_string();
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read {name}"))?
        .len();
    if len > MAX_PART_BYTES {
        bail!("{name}: {len} bytes is larger than a study part can be ({MAX_PART_BYTES} bytes)");
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?;
    let part = study::part_from_json(&text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    Ok(NamedPart { name, part })
}

fn merge_error(e: MergeError) -> anyhow::Error {
    let code = match &e {
        MergeError::NoParts => 1,
        MergeError::Missing { .. } => EXIT_PARTIAL,
        MergeError::Duplicate { .. } => EXIT_DUPLICATE,
        MergeError::Foreign { .. } | MergeError::Inconsistent { .. } => EXIT_FOREIGN,
    };
    let hint = match &e {
        MergeError::Missing { .. } => {
            "; give every part, or --allow-partial to write the report marked partial"
        }
        MergeError::Duplicate { .. } => "; give each shard once",
        _ => "",
    };
    common::Coded {
        code,
        message: format!("{e}{hint}"),
    }
    .into()
}

fn merge(args: MergeArgs) -> anyhow::Result<()> {
    let parts = args
        .parts
        .iter()
        .map(|p| read_part(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let result = study::merge(&parts, args.allow_partial).map_err(merge_error)?;
    let out = crate::output::dir(&args.output.out)?;
    write_result(&out, &result, args.output.quiet)
}

fn write_result(out: &Path, r: &study::StudyResult, quiet: bool) -> anyhow::Result<()> {
    crate::output::write(&out.join("study.json"), &serde_json::to_string_pretty(r)?)?;
    for (name, text) in report::cost::study_csv(r) {
        crate::output::write(&out.join(name), &text)?;
    }
    crate::output::write(&out.join("study.html"), report::cost::study_html(r))?;
    if !quiet {
        print_summary(r);
        println!("wrote {}", out.join("study.html").display());
    }
    if r.partial {
        eprintln!(
            "partial result: {} of {} points missing",
            r.missing.len(),
            r.points_total
        );
    }
    Ok(())
}

fn print_summary(r: &study::StudyResult) {
    println!(
        "{} — {} points × {} replications, seed {}",
        r.study, r.points_total, r.replications, r.seed
    );
    println!(
        "  {:>5}  {:<24} {:>30}  {:>26}  {:>9}",
        "point", "concept", "axes", "cost per dose [95% CI]", "v2v p95"
    );
    for p in r
        .points
        .iter()
        .filter(|p| p.point.kind == study::PointKind::Grid)
    {
        let axes: Vec<String> = p.point.values.values().map(|v| format!("{v}")).collect();
        let cost = p.cost.as_ref().map_or_else(
            || "undefined".to_string(),
            |c| {
                format!(
                    "{:.0} [{:.0}, {:.0}]",
                    c.per_dose.mean, c.per_dose.ci95[0], c.per_dose.ci95[1]
                )
            },
        );
        let bound = if p.vein_to_vein_is_lower_bound() {
            "≥"
        } else {
            ""
        };
        println!(
            "  {:>5}  {:<24} {:>30}  {:>26}  {:>9}",
            p.point.index,
            p.point.label,
            axes.join(" × "),
            cost,
            format!("{bound}{:.1}", p.vein_to_vein_p95)
        );
    }
    if !r.pareto.is_empty() {
        println!(
            "  Pareto front (cost per dose vs p95 vein-to-vein): points {:?}",
            r.pareto
        );
    }
}
