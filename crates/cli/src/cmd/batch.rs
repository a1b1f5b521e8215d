//! `atmpflow batch`: rehearse a whole batch with simulated devices and scripted people (into
//! record files and/or the database, stored exactly as a live batch), verify the hash chains of
//! a record file or of the batches in a database, and write a batch's human-readable report and
//! batch twin.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use batch::engine::LotRegister;
use batch::engine::recipe_sha256;
use batch::rehearsal::{BoundDevices, Cast, Journaled, Ordered, Rehearsal, rehearse};
use batch::{Batch, Entry, NewOrder};
use recipe::DateTime;
use serde::{Deserialize, Serialize};

use super::common::{read, reported};
use super::recipe::{bind_strict_on, load_inventory};
use super::rehearsal_db;
use super::rehearse_api::Remote;
use crate::output::{dir as out_dir, write};

/// The `batch` subcommands.
pub type Args = super::common::Subcommands<Sub>;

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Run a whole batch of a recipe with simulated devices (or the real ones of
    /// --devices, checked against --registry first) and scripted operator entries, QA
    /// review and QP release, through the same checks as a live batch, and write its record
    /// (a user's way to rehearse a control recipe).
    DryRun(Box<DryRunArgs>),
    /// Check a batch record file, or the batches of a database: entry numbering, every
    /// entry's hash, every link to the previous entry and every signature's bound hash (and, in
    /// a database, every row of every batch table against the record). Exits non-zero naming
    /// the first bad entry or row.
    Verify(VerifyArgs),
    /// Write the printable HTML batch record, its JSON and the batch twin (AAS environment
    /// with the Batch Record submodel) from a batch record file or a database.
    Report(ReportArgs),
}

#[derive(Debug, clap::Args)]
pub struct DryRunArgs {
    /// Recipe (TOML).
    pub recipe: PathBuf,
    /// Equipment inventory (TOML, or JSON when the name ends in .json). With --server the
    /// equipment is the server's: its AAS registry.
    #[arg(
        long,
        short = 'e',
        value_name = "FILE",
        required_unless_present = "server",
        conflicts_with = "server"
    )]
    pub equipment: Option<PathBuf>,
    /// Seed of the simulated devices (ChaCha8, one stream per device).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Start of the batch (UTC, RFC 3339); the equipment is bound for its date. With --server
    /// the batch starts at the server's clock when that is later.
    #[arg(long, default_value = "2026-12-01T08:00:00Z")]
    pub start: String,
    /// Chance (0–1) that a simulated value falls outside its range, to rehearse deviations.
    #[arg(long, default_value_t = 0.0)]
    pub excursions: f64,
    /// Batch id.
    #[arg(long, default_value = "DRYRUN-1")]
    pub batch: String,
    /// Donation identification number of the (fictitious) apheresis.
    #[arg(long, default_value = "A999926000001")]
    pub din: String,
    /// Chain-of-identity id on the labels.
    #[arg(long, default_value = "COI-DRYRUN-1")]
    pub coi: String,
    /// Output directory: record.json, record.html, batch-twin.aas.json.
    #[arg(long, value_name = "DIR", required_unless_present_any = ["db", "server"])]
    pub out: Option<PathBuf>,
    /// Database (SQLite file, created if missing, or postgres:// URL): every request is stored
    /// as a live batch stores it, one transaction each, with the batch twin.
    #[arg(long, value_name = "PATH|URL", conflicts_with = "server")]
    pub db: Option<String>,
    /// Send every request through the batch API of this rehearsal server (`atmpflow serve
    /// --rehearsal-clock`, e.g. http://127.0.0.1:8080), each by the person whose part it is,
    /// moving the server's simulated clock to the rehearsal's time before each; every entry the
    /// server makes must equal the rehearsal's (same hash), or the run stops naming the first
    /// difference. Needs --people.
    #[arg(long, value_name = "URL", requires = "people")]
    pub server: Option<String>,
    /// Who plays which part on --server (TOML): tables planner, operator, qc, qa, qp, clinic
    /// and clock (an administrator), each with `token` and, for whoever signs, `password`.
    #[arg(long, value_name = "FILE", requires = "server")]
    pub people: Option<PathBuf>,
    /// Also trust the CA certificates in this PEM file when --server is https://.
    #[arg(
        long,
        value_name = "PEM",
        env = "ATMPFLOW_CA_CERT",
        requires = "server"
    )]
    pub ca_cert: Option<PathBuf>,
    /// Device binding file (devices.toml, docs/devices.md): the equipment it binds runs on
    /// those devices (OPC UA, SiLA 2) instead of simulated ones, for the steps it names.
    #[arg(long, value_name = "FILE")]
    pub devices: Option<PathBuf>,
    /// AAS registry (API base of `atmpflow serve`, e.g. http://127.0.0.1:8080/api/v3.0)
    /// the --devices are checked against before any step runs: each must be registered,
    /// qualified, within its usage counters' limits and offer the programs it runs, or the
    /// batch is refused naming equipment and device. The API token is taken from
    /// ATMPFLOW_TOKEN. Without it the devices are not checked against the registry.
    #[arg(long, value_name = "URL", env = "ATMPFLOW_REGISTRY")]
    pub registry: Option<String>,
    /// Also trust the CA certificates in this PEM file when --registry is https://.
    #[arg(long, value_name = "PEM")]
    pub registry_ca_cert: Option<PathBuf>,
    /// Stop before the qualified person's disposition: the batch is left awaiting
    /// disposition (e.g. for a person to release it on the web pages), nothing after it is
    /// sent or stored.
    #[arg(long)]
    pub until_disposition: bool,
}

/// What the journal answers to stop a rehearsal at `--until-disposition`.
const STOP_AT_DISPOSITION: &str = "stopped before the disposition (--until-disposition)";

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Batch record file (record.json as written by `batch dry-run` or `batch report`).
    #[arg(required_unless_present = "db", conflicts_with = "db")]
    pub record: Option<PathBuf>,
    /// Database (SQLite file or postgres:// URL) whose batches are verified.
    #[arg(long, value_name = "PATH|URL")]
    pub db: Option<String>,
    /// Only this batch of the database (default: every batch).
    #[arg(long, requires = "db")]
    pub batch: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Batch record file (record.json).
    #[arg(
        required_unless_present = "db",
        conflicts_with = "db",
        requires = "recipe"
    )]
    pub record: Option<PathBuf>,
    /// The recipe the batch ran (its SHA-256 must match the one in the order); with a record file.
    #[arg(long)]
    pub recipe: Option<PathBuf>,
    /// Database (SQLite file or postgres:// URL) holding the batch.
    #[arg(long, value_name = "PATH|URL", requires = "batch")]
    pub db: Option<String>,
    /// Batch id (with --db).
    #[arg(long, requires = "db")]
    pub batch: Option<String>,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// The exported batch record file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordFile {
    /// Always `atmpflow-batch-record/1`.
    format: String,
    /// Batch id.
    batch: String,
    /// Every entry, in order.
    entries: Vec<Entry>,
}

const FORMAT: &str = "atmpflow-batch-record/1";
/// Largest record file read (a batch has thousands of entries, not millions).
const MAX_RECORD_BYTES: u64 = 256 << 20;

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Sub::DryRun(a) => dry_run(&a),
        Sub::Verify(a) => verify(&a),
        Sub::Report(a) => report(&a),
    }
}

fn dry_run(a: &DryRunArgs) -> anyhow::Result<()> {
    let text = read(&a.recipe)?;
    let recipe = recipe::parse_recipe(&a.recipe.display().to_string(), &text).map_err(reported)?;
    let start = DateTime::parse(&a.start).with_context(|| {
        format!(
            "--start `{}`: expected RFC 3339 with an offset, e.g. 2026-12-01T08:00:00Z",
            a.start
        )
    })?;
    let Participants {
        mut inventory,
        cast,
        start,
        mut remote,
    } = participants(a, &text, start)?;
    if !(0.0..=1.0).contains(&a.excursions) {
        bail!("--excursions {}: must be between 0 and 1", a.excursions);
    }
    let (db, start) = match &a.db {
        Some(url) => {
            let (db, start) = RehearsalDb::open(url, &a.batch, &recipe, &mut inventory, start)?;
            (Some(db), start)
        }
        None => (None, start),
    };
    let lots = db.as_ref().map(|d| d.lots.clone()).unwrap_or_default();
    let binding = bind_strict_on(&a.recipe, &recipe, &inventory, start.date())?;
    let mut bound = match &a.devices {
        Some(path) => {
            let registry = a
                .registry
                .as_deref()
                .map(|url| (url, a.registry_ca_cert.as_deref()));
            super::device::for_batch(path, &recipe, &binding, registry, start.date())?
        }
        None => BoundDevices::new(),
    };
    let order = NewOrder {
        batch: a.batch.clone(),
        patient: format!("PSN-{}", a.batch),
        coi: a.coi.clone(),
        din: a.din.clone(),
        planned_start: start,
        ship_step: None,
    };
    let options = Rehearsal {
        seed: a.seed,
        start,
        excursions: a.excursions,
        // the registry's inventory names the registry as its site
        location: if remote.is_some() {
            "plant".into()
        } else {
            location_of(&inventory.inventory.site)
        },
        clinic: "Treating clinic".into(),
    };
    let actor = super::user::actor();
    let mut last: Option<(String, usize, usize)> = None;
    let rehearsed = rehearse(
        Ordered {
            order: &order,
            recipe: &recipe,
            recipe_sha: &recipe_sha256(&text),
            binding: &binding,
        },
        &mut inventory,
        &lots,
        &cast,
        &options,
        &mut bound,
        |j| {
            if a.until_disposition && is_disposition(&j) {
                return Err(STOP_AT_DISPOSITION.to_string());
            }
            last = Some((
                j.batch.stage().to_string(),
                j.batch.entries().len(),
                j.batch.deviations().len(),
            ));
            match (&db, &mut remote) {
                (_, Some(r)) => r.send(&j),
                (Some(db), None) => db
                    .store(&j, &text, &recipe, &actor)
                    .map_err(|e| format!("{e:#}")),
                (None, None) => Ok(()),
            }
        },
    );
    let b = match rehearsed {
        Err(batch::rehearsal::RehearsalError::Journal(m)) if m == STOP_AT_DISPOSITION => {
            print_stopped(a, last.unwrap_or_default());
            return Ok(());
        }
        r => {
            r.with_context(|| format!("rehearsing batch {} of {}", a.batch, a.recipe.display()))?
        }
    };
    let wrote = write_rehearsed(a, &b, db.as_ref(), remote.as_ref())?;
    print_rehearsed(&b, a.seed, &wrote);
    Ok(())
}

/// Who and what a dry run works with, and when it starts.
struct Participants {
    /// The equipment: the --equipment file's, or the --server's AAS registry.
    inventory: recipe::Inventory,
    /// Who plays each part: the example cast, or the --people on the --server.
    cast: Cast,
    /// When the batch starts: --start, or the server's clock when that is later.
    start: DateTime,
    /// The rehearsal server every request is sent through (--server).
    remote: Option<Remote>,
}

/// Connects to the rehearsal server with its people, or reads the equipment file.
fn participants(a: &DryRunArgs, text: &str, start: DateTime) -> anyhow::Result<Participants> {
    match (&a.server, &a.people, &a.equipment) {
        (Some(url), Some(people), _) => {
            let (r, cast, clock) =
                super::rehearse_api::connect(url, people, a.ca_cert.as_deref(), text)?;
            let inventory = r.inventory()?;
            let start = if clock.unix_seconds() > start.unix_seconds() {
                eprintln!("note: {} reads {clock}; the batch starts then", r.root());
                clock
            } else {
                start
            };
            Ok(Participants {
                inventory,
                cast,
                start,
                remote: Some(r),
            })
        }
        (_, _, Some(path)) => Ok(Participants {
            inventory: load_inventory(path)?,
            cast: Cast::example(),
            start,
            remote: None,
        }),
        _ => bail!("give --equipment FILE, or --server URL with --people FILE"),
    }
}

/// The database of `--db`: every request of the rehearsal is stored in it as a live batch
/// stores it, one transaction each.
struct RehearsalDb {
    db: store::Db,
    /// Twins of the equipment whose uses the database starts counting, stored with the order.
    twins: Vec<aas::twins::Twin>,
    /// The plant's lot register, as far as the recipe's materials go.
    lots: LotRegister,
}

impl RehearsalDb {
    /// Opens the database for batch `batch` (refused when it exists there), begins its
    /// rehearsal clock (a rehearsal's times are simulated: they go into a rehearsal database
    /// only) and answers it with the time the batch starts.
    fn open(
        url: &str,
        batch: &str,
        recipe: &recipe::Recipe,
        inventory: &mut recipe::Inventory,
        start: DateTime,
    ) -> anyhow::Result<(Self, DateTime)> {
        let db = super::db::open(url)?;
        if db.read(|tx| store::batch::exists(tx, batch))? {
            bail!(
                "batch {batch} already exists in {}; give another --batch",
                db.location()
            );
        }
        let start =
            rehearsal_db::begin_clock(&db, start, &super::user::actor(), "rehearse", "the batch")?;
        let twins = rehearsal_db::counted_twins(&db, inventory, start.date())?;
        let materials: Vec<&str> = recipe.materials.iter().map(|m| m.id.as_str()).collect();
        let lots = db.read(|tx| store::lots::register_for(tx, &materials))?;
        Ok((Self { db, twins, lots }, start))
    }

    /// Stores one request (with the twins of counted equipment when it opens the batch),
    /// moving the database's rehearsal clock to it.
    fn store(
        &self,
        j: &Journaled<'_>,
        text: &str,
        recipe: &recipe::Recipe,
        actor: &str,
    ) -> anyhow::Result<()> {
        self.db.transaction(|tx| -> anyhow::Result<()> {
            if j.order.is_some() {
                rehearsal_db::store_twins(tx, &self.twins)?;
            }
            rehearsal_db::store_request(tx, j, text, recipe, actor)
        })
    }
}

/// Whether a request is the qualified person's disposition.
fn is_disposition(j: &Journaled<'_>) -> bool {
    j.request
        .is_some_and(|r| matches!(r.command, batch::engine::Command::Dispose { .. }))
}

/// Prints where a rehearsal stopped at `--until-disposition`: the stage, entries and
/// deviations of the last request journaled.
fn print_stopped(a: &DryRunArgs, (stage, n, devs): (String, usize, usize)) {
    println!(
        "batch {}: {stage} after {n} entries, {devs} deviation(s), {STOP_AT_DISPOSITION}; \
         seed {} (ChaCha8)",
        a.batch, a.seed
    );
    if a.out.is_some() {
        eprintln!("note: --out is not written for a batch stopped before its disposition");
    }
}

/// Writes the rehearsed batch's outputs (--out) and answers what became of it: where it was
/// written, stored and sent.
fn write_rehearsed(
    a: &DryRunArgs,
    b: &Batch,
    db: Option<&RehearsalDb>,
    remote: Option<&Remote>,
) -> anyhow::Result<Vec<String>> {
    let mut wrote = Vec::new();
    if let Some(out) = &a.out {
        let dir = out_dir(out)?;
        write_outputs(b, &dir)?;
        wrote.push(format!("record in {}", dir.display()));
    }
    if let Some(d) = db {
        wrote.push(format!("stored in {}", d.db.location()));
        if !d.twins.is_empty() {
            wrote.push(format!(
                "with {} equipment twin(s) that count its uses",
                d.twins.len()
            ));
        }
    }
    if let Some(r) = remote {
        wrote.push(format!(
            "sent through {} in {} calls; its {} entries equal the rehearsal's",
            r.root(),
            r.calls,
            r.entries
        ));
    }
    Ok(wrote)
}

/// Prints the rehearsed batch: its stage, entries and every deviation.
fn print_rehearsed(b: &Batch, seed: u64, wrote: &[String]) {
    let devs = b.deviations();
    println!(
        "batch {}: {} after {} entries, {} deviation(s); seed {} (ChaCha8); {}",
        b.id(),
        b.stage(),
        b.entries().len(),
        devs.len(),
        seed,
        wrote.join("; ")
    );
    for (d, class) in devs {
        println!(
            "  deviation {} [{}] {} {}: expected {}, recorded {} — {}",
            d.number,
            d.kind,
            d.step.as_deref().unwrap_or("batch"),
            d.field,
            d.expected,
            d.actual,
            class.map_or("unassessed".to_string(), |c| format!("{c:?}")
                .to_lowercase())
        );
    }
}

/// The plant's site name as a scan location (printable, at most 120 bytes), or `plant`.
fn location_of(site: &str) -> String {
    let mut out = String::new();
    for c in site.trim().chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > 120 {
            break;
        }
        out.push(c);
    }
    if out.trim().is_empty() {
        "plant".into()
    } else {
        out
    }
}

fn write_outputs(b: &Batch, dir: &Path) -> anyhow::Result<()> {
    let file = RecordFile {
        format: FORMAT.into(),
        batch: b.id().to_string(),
        entries: b.entries().iter().cloned().collect(),
    };
    write(
        &dir.join("record.json"),
        &serde_json::to_string_pretty(&file).context("serialising the record")?,
    )?;
    write(
        &dir.join("record.html"),
        report::record::batch_record_html(b),
    )?;
    let twin = aas::twins::batch_twin(&batch::twin::batch_record(b));
    let env = aas::twins::environment(std::slice::from_ref(&twin));
    let problems = aas::validate::environment(&env);
    if let Some(p) = problems.first() {
        bail!("the batch twin of {} is invalid: {p:?}", b.id());
    }
    write(
        &dir.join("batch-twin.aas.json"),
        &serde_json::to_string_pretty(&env).context("serialising the batch twin")?,
    )?;
    Ok(())
}

fn load_record(path: &Path) -> anyhow::Result<RecordFile> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if len > MAX_RECORD_BYTES {
        bail!(
            "{}: {len} bytes; a batch record file is at most {MAX_RECORD_BYTES} bytes",
            path.display()
        );
    }
    let text = read(path)?;
    let file: RecordFile = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}:{}:{}: not a batch record file: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    if file.format != FORMAT {
        bail!(
            "{}: format `{}` is not {FORMAT}",
            path.display(),
            file.format
        );
    }
    Ok(file)
}

fn verify(a: &VerifyArgs) -> anyhow::Result<()> {
    if let Some(url) = &a.db {
        return verify_db(url, a.batch.as_deref());
    }
    let Some(path) = &a.record else {
        bail!("give a record file or --db");
    };
    let file = load_record(path)?;
    match batch::verify_chain(&file.batch, &file.entries) {
        Ok(head) => {
            let sigs = file
                .entries
                .iter()
                .filter(|e| matches!(e.body, batch::Body::Signature(_)))
                .count();
            println!(
                "batch {}: {} entries and {sigs} signature(s) verified; head {head}",
                file.batch,
                file.entries.len()
            );
            Ok(())
        }
        Err(e) => bail!("{}: {e}", path.display()),
    }
}

/// Verifies every batch (or one) of a database; fails naming the first bad row.
fn verify_db(url: &str, only: Option<&str>) -> anyhow::Result<()> {
    let db = super::db::open_existing(url)?;
    let ids = match only {
        Some(id) => {
            if !db.read(|tx| store::batch::exists(tx, id))? {
                bail!("{}: no batch {id}", db.location());
            }
            vec![id.to_string()]
        }
        None => db.read(store::batch::ids)?,
    };
    let mut bad = Vec::new();
    for id in &ids {
        match db.read(|tx| store::batch::verify(tx, id))? {
            Ok(v) => println!(
                "batch {}: {}, {} entries, {} signature(s) and {} request(s) verified; head {}",
                v.batch, v.stage, v.entries, v.signatures, v.requests, v.head
            ),
            Err(f) => {
                eprintln!("batch {id}: FAILED: {f}");
                bad.push(f);
            }
        }
    }
    if only.is_none() {
        for f in db.read(store::batch::orphans)? {
            eprintln!("FAILED: {f}");
            bad.push(f);
        }
    }
    if let Some(f) = bad.first() {
        bail!(
            "{}: {} of {} batch(es) fail verification; first: {f}",
            db.location(),
            bad.len(),
            ids.len()
        );
    }
    if ids.is_empty() {
        println!("{}: no batches", db.location());
    }
    Ok(())
}

fn report(a: &ReportArgs) -> anyhow::Result<()> {
    let b = match (&a.db, &a.batch, &a.record, &a.recipe) {
        (Some(url), Some(id), _, _) => {
            let db = super::db::open_existing(url)?;
            // a report is release evidence: only from a record that verifies
            if let Err(f) = db.read(|tx| store::batch::verify(tx, id))? {
                bail!("{}: batch {id} fails verification: {f}", db.location());
            }
            db.read(|tx| store::batch::load(tx, id))?
                .map(|s| s.batch)
                .ok_or_else(|| anyhow::anyhow!("{}: no batch {id}", db.location()))?
        }
        (None, _, Some(record), Some(recipe_path)) => {
            let file = load_record(record)?;
            let text = read(recipe_path)?;
            let recipe = recipe::parse_recipe(&recipe_path.display().to_string(), &text)
                .map_err(reported)?;
            Batch::replay(&file.entries, &recipe, &recipe_sha256(&text))
                .map_err(|e| anyhow::anyhow!("{}: {e}", record.display()))?
        }
        _ => bail!("give a record file with --recipe, or --db with --batch"),
    };
    let dir = out_dir(&a.out)?;
    write_outputs(&b, &dir)?;
    println!(
        "batch {}: {}, {} entries; report in {}",
        b.id(),
        b.stage(),
        b.entries().len(),
        dir.display()
    );
    Ok(())
}
