//! Helpers shared by the subcommands: reading scenario files, running studies with a
//! progress bar and Ctrl-C, writing outputs.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

/// A scenario file that failed to parse or check; printed with source excerpts.
#[derive(Debug)]
pub struct Reported(pub miette::Report);

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for Reported {}

/// An error that ends the program with its own exit code (documented with the subcommand).
#[derive(Debug)]
pub struct Coded {
    /// Exit code.
    pub code: u8,
    /// The message.
    pub message: String,
}

impl std::fmt::Display for Coded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Coded {}

/// A loaded scenario with the hash of its bytes.
#[derive(Debug)]
pub struct Loaded {
    pub model: model::Model,
    pub sha256: String,
}

/// Reads and checks a scenario file.
pub fn load_scenario(path: &Path) -> anyhow::Result<Loaded> {
    let bytes = read_limited(path)?;
    let model = model::load_bytes_with(&path.display().to_string(), &bytes, &*expansion_model())
        .map_err(|e| anyhow::Error::new(Reported(miette::Report::new(e))))?;
    let sha256 = hex(&Sha256::digest(&bytes));
    Ok(Loaded { model, sha256 })
}

/// The expansion model (crate `pat`) that computes `dist = "expansion_model"` durations, one memo
/// per process so that each spec is computed once, whichever command or study point asks; a
/// progress bar counts the cultures of each spec computed.
pub fn expansion_model() -> Arc<model::ExpansionMemo> {
    static MODEL: std::sync::OnceLock<Arc<model::ExpansionMemo>> = std::sync::OnceLock::new();
    MODEL
        .get_or_init(|| {
            Arc::new(model::ExpansionMemo::new(Box::new(|spec| {
                let pb = progress_bar(
                    u64::from(spec.patients),
                    false,
                    spec.strategy.name(),
                    "cultures of the expansion model",
                );
                let days =
                    pat::control::spec_harvest_days(spec, &mut |i, _| pb.set_position(i as u64))
                        .map_err(|e| e.to_string())?;
                pb.finish_and_clear();
                Ok(days)
            })))
        })
        .clone()
}

/// Reads a user-written file, but no more than one byte past the file size limit (so that a
/// huge file is refused by `model::SourceFile::from_bytes` without being read whole).
pub fn read_limited(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(model::limits::MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(bytes)
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A cancel flag set by Ctrl-C (installed once per process).
pub fn cancel_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        // If a handler is already installed (e.g. by an embedding program), runs are simply
        // not cancellable by Ctrl-C.
        let _ = ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\ncancelling: finishing the running replications (Ctrl-C again to abort)");
        });
        flag
    })
    .clone()
}

/// A progress bar on a terminal, hidden with `--quiet` or when stderr is not a terminal.
pub fn progress_bar(len: u64, quiet: bool, label: &str, what: &str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    let style = ProgressStyle::with_template(&format!(
        "{{prefix:>12}} [{{bar:40}}] {{pos}}/{{len}} {what}, {{elapsed}} elapsed, eta {{eta}}"
    ))
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style);
    pb.set_prefix(label.to_string());
    pb
}

/// Runs a study on a loaded scenario.
pub fn simulate(
    loaded: &Loaded,
    opts: &sim::RunOptions,
    quiet: bool,
    label: &str,
) -> anyhow::Result<sim::Results> {
    run_study(loaded, opts, quiet, label, None, None)
}

/// Runs a study on a loaded scenario, passing the raw observations and each replication's
/// summary to the sinks given, in replication order.
pub fn simulate_streamed(
    loaded: &Loaded,
    opts: &sim::RunOptions,
    quiet: bool,
    label: &str,
    observations: Option<&mut sim::ObservationSink<'_>>,
    replications: Option<&mut sim::ReplicationSink<'_>>,
) -> anyhow::Result<sim::Results> {
    run_study(loaded, opts, quiet, label, observations, replications)
}

fn run_study(
    loaded: &Loaded,
    opts: &sim::RunOptions,
    quiet: bool,
    label: &str,
    sink: Option<&mut sim::ObservationSink<'_>>,
    rep_sink: Option<&mut sim::ReplicationSink<'_>>,
) -> anyhow::Result<sim::Results> {
    let reps = opts.replications.unwrap_or(loaded.model.replications);
    let pb = progress_bar(u64::from(reps), quiet, label, "replications");
    let cancel = cancel_flag();
    let progress = |n: u32| pb.set_position(u64::from(n));
    let mut results = sim::run_streamed(&loaded.model, opts, &progress, &cancel, sink, rep_sink)?;
    pb.finish_and_clear();
    results.scenario_sha256 = loaded.sha256.clone();
    if results.cancelled && !quiet {
        eprintln!(
            "cancelled: results cover {} of {} replications",
            results.replications, results.replications_requested
        );
    }
    Ok(results)
}

/// Reads a text file, naming it on failure.
pub fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Reads a user-written file as a source for located errors, within the file limits of
/// `model::SourceFile::from_bytes` (size, UTF-8 with line and column, number of tables).
pub fn read_source(path: &Path) -> anyhow::Result<model::SourceFile> {
    let bytes = read_limited(path)?;
    model::SourceFile::from_bytes(path.display().to_string(), &bytes).map_err(reported)
}

/// Errors in a user-written file, rendered by miette with their source spans.
pub fn reported(e: impl miette::Diagnostic + Send + Sync + 'static) -> anyhow::Error {
    anyhow::Error::new(Reported(miette::Report::new(e)))
}

/// The "as of" date of recipe binding and twins: given (`--as-of`), or today in UTC from the
/// system clock (read here, at the edge only). A clock before 1970 is an error.
pub fn as_of(given: Option<&str>) -> anyhow::Result<recipe::Date> {
    match given {
        Some(s) => recipe::Date::parse(s)
            .with_context(|| format!("--as-of `{s}` is not a date like 2026-12-01")),
        None => {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("system clock before 1970")?
                .as_secs();
            let days = i64::try_from(secs / 86_400).context("clock out of range")?;
            Ok(recipe::Date::parse("1970-01-01")
                .context("epoch")?
                .plus_days(days))
        }
    }
}

/// Exit code of a run or merge whose result is partial (cancelled, or points missing).
pub const EXIT_PARTIAL: u8 = 3;

/// The arguments of a command that does its work in one of its subcommands (`atmpflow db
/// status`, `atmpflow lot add`, …): the subcommand and its own arguments.
#[derive(Debug, clap::Args)]
pub struct Subcommands<S: clap::Subcommand> {
    #[command(subcommand)]
    pub command: S,
}

/// How many replications on how many threads: the options `simulate`, `compare` and `study`
/// share.
#[derive(Debug, Clone, clap::Args)]
pub struct Replicate {
    /// Replications (overrides the scenario's or study's).
    #[arg(long)]
    pub replications: Option<u32>,
    /// Worker threads (default: one per core). Results do not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// A seed that replaces the scenario's, and the replications and threads: the options
/// `simulate` and `compare` share.
#[derive(Debug, Clone, clap::Args)]
pub struct SeededRun {
    /// Seed (overrides the scenario's; `compare` runs every scenario with it).
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub run: Replicate,
}

impl SeededRun {
    /// The simulator's options for these choices: the dispatching rules of the scenario (no
    /// plan to follow), every replication kept and no event budget.
    pub fn options(&self) -> sim::RunOptions {
        sim::RunOptions {
            replications: self.run.replications,
            seed: self.seed,
            threads: self.run.threads,
            plan: None,
            drop_replications: false,
            event_budget: None,
        }
    }
}

/// Where the outputs go and whether to be silent: the options every command that writes a
/// report shares.
#[derive(Debug, Clone, clap::Args)]
pub struct Output {
    /// Output directory (created if missing; existing files are replaced only with --force).
    #[arg(long, default_value = "out")]
    pub out: std::path::PathBuf,
    /// No progress bar and no summary.
    #[arg(long)]
    pub quiet: bool,
}

/// `mean [low, high]` with a sensible number of decimals.
pub fn fmt_stat(s: &sim::Stat, decimals: usize) -> String {
    format!(
        "{:.d$} [{:.d$}, {:.d$}]",
        s.mean,
        s.ci95[0],
        s.ci95[1],
        d = decimals
    )
}
