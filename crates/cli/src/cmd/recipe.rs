//! `atmpflow recipe`: process descriptions on four levels — check recipes, equipment
//! inventories and executed records; bind a recipe to equipment; compare an executed record
//! with the recipe; turn a bound recipe into a simulation scenario.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::common::{read, reported};

/// The `recipe` subcommands.
pub type Args = super::common::Subcommands<Sub>;

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Check recipe, equipment inventory and executed record files (detected by content).
    Check(CheckArgs),
    /// Bind every capability requirement of a recipe to equipment (level 3), from an inventory
    /// file or found through an AAS registry.
    Bind(BindArgs),
    /// Compare an executed record with the recipe and its binding (level 4): deviation list.
    /// With equipment (file or registry), also check that the equipment used offered the
    /// capability and was qualified on the day of use.
    Diff(DiffArgs),
    /// Write a simulation scenario generated from a recipe bound to an inventory.
    Plan(PlanArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Files (TOML): recipes, equipment inventories, executed records.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Where the equipment comes from: an inventory file or an AAS registry (one of them; the
/// commands that need equipment require it through the `source` group).
#[derive(Debug, clap::Args)]
#[group(multiple = false)]
pub struct EquipmentSource {
    /// Equipment inventory (TOML, or JSON when the name ends in .json).
    #[arg(long, short = 'e', value_name = "FILE")]
    pub equipment: Option<PathBuf>,
    /// Find the equipment through the AAS Registry of an AAS API v3.0 server: the base URL,
    /// e.g. http://127.0.0.1:8080/api/v3.0 (shell descriptors, then each twin's Nameplate,
    /// Capabilities, QualificationState and UsageCounters submodels from their endpoints).
    /// The API token (a reader's is enough) is taken from the environment variable
    /// ATMPFLOW_TOKEN.
    #[arg(long, value_name = "URL")]
    pub registry: Option<String>,
    /// Find the equipment through the registry of a database written by `atmpflow serve`
    /// (read directly; no server needed).
    /// (SQLite file or postgres:// URL).
    #[arg(long, value_name = "PATH|URL")]
    pub db: Option<String>,
}

/// Trust for an https:// `--registry` (besides the system's root certificates).
#[derive(Debug, clap::Args)]
pub struct RegistryTrust {
    /// Also trust the CA certificates in this PEM file when the registry is reached over
    /// https:// (a site CA that issued the server's certificate; the system's roots are
    /// always trusted).
    #[arg(long, value_name = "PEM", env = "ATMPFLOW_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

/// A recipe and the equipment it is bound to on a date: the arguments `recipe bind` and
/// `recipe plan` begin with.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").args(["equipment", "registry", "db"]).required(true)))]
pub struct RecipeOnEquipment {
    /// Recipe file (TOML).
    pub recipe: PathBuf,
    #[command(flatten)]
    pub source: EquipmentSource,
    #[command(flatten)]
    pub trust: RegistryTrust,
    /// Judge qualification on this date (YYYY-MM-DD); today (UTC) when absent.
    #[arg(long)]
    pub as_of: Option<String>,
}

/// A recipe bound to equipment.
struct Bound {
    recipe: recipe::Recipe,
    inventory: recipe::Inventory,
    /// Where the equipment came from (the inventory file, or the registry).
    source: String,
    /// The day qualification was judged on.
    date: recipe::Date,
    binding: recipe::Binding,
}

impl RecipeOnEquipment {
    /// Loads the recipe and the equipment and binds the one to the other as of the date.
    fn bind(&self) -> anyhow::Result<Bound> {
        let recipe = load_recipe(&self.recipe)?;
        let (inventory, source) = load_equipment(&self.source, &self.trust)?;
        let date = super::common::as_of(self.as_of.as_deref())?;
        let binding = recipe::bind(&recipe, &inventory, date);
        Ok(Bound {
            recipe,
            inventory,
            source,
            date,
            binding,
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct BindArgs {
    #[command(flatten)]
    pub on: RecipeOnEquipment,
    /// Print the binding as JSON (the input of `recipe diff --bound`).
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON binding to this file.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// Recipe file (TOML).
    pub recipe: PathBuf,
    /// Executed record (TOML, or JSON when the name ends in .json).
    #[arg(long, short = 'r')]
    pub record: PathBuf,
    /// Binding written by `recipe bind --json` (level 3); equipment is then compared with it.
    #[arg(long, short = 'b')]
    pub bound: Option<PathBuf>,
    /// Equipment (inventory file or registry): also check that the equipment used offered the
    /// capability and was qualified on the day of use.
    #[command(flatten)]
    pub source: Option<EquipmentSource>,
    #[command(flatten)]
    pub trust: RegistryTrust,
    /// Print the deviation list as JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit with status 1 when there is any deviation.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub on: RecipeOnEquipment,
    /// Scenario file to write (TOML); printed when absent.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Poisson patient arrivals per year.
    #[arg(long, default_value_t = 24.0)]
    pub patients_per_year: f64,
    /// Target vein-to-vein time in days.
    #[arg(long, default_value_t = 25.5)]
    pub target_vein_to_vein_days: f64,
    /// Simulated days.
    #[arg(long, default_value_t = 365.0)]
    pub horizon_days: f64,
    /// Warm-up days excluded from statistics.
    #[arg(long, default_value_t = 60.0)]
    pub warmup_days: f64,
    /// Replications.
    #[arg(long, default_value_t = 20)]
    pub replications: u32,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Operators per shift (weekdays 07:00–15:00) for steps that need operators.
    #[arg(long, default_value_t = 2)]
    pub operators: u32,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Sub::Check(a) => check(a),
        Sub::Bind(a) => bind(a),
        Sub::Diff(a) => diff(a),
        Sub::Plan(a) => plan(a),
    }
}

fn is_json(path: &Path) -> bool {
    path.extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("json"))
}

fn load_recipe(path: &Path) -> anyhow::Result<recipe::Recipe> {
    let text = read(path)?;
    recipe::parse_recipe(&path.display().to_string(), &text).map_err(reported)
}

pub(crate) fn load_inventory(path: &Path) -> anyhow::Result<recipe::Inventory> {
    let text = read(path)?;
    let name = path.display().to_string();
    if is_json(path) {
        recipe::parse_inventory_json(&name, &text).map_err(reported)
    } else {
        recipe::parse_inventory(&name, &text).map_err(reported)
    }
}

/// Binds the recipe read from `path` strictly (every requirement to equipment qualified on
/// `date`), as a batch is bound; an error names the file and the date.
pub(crate) fn bind_strict_on(
    path: &Path,
    recipe: &recipe::Recipe,
    inventory: &recipe::Inventory,
    date: recipe::Date,
) -> anyhow::Result<recipe::Binding> {
    recipe::bind_strict(recipe, inventory, date).map_err(|e| {
        anyhow::anyhow!(
            "{}: cannot bind the recipe on {}: {e}",
            path.display(),
            date
        )
    })
}

fn load_record(path: &Path) -> anyhow::Result<recipe::Record> {
    let text = read(path)?;
    let name = path.display().to_string();
    if is_json(path) {
        recipe::record::parse_record_json(&name, &text).map_err(reported)
    } else {
        recipe::parse_record(&name, &text).map_err(reported)
    }
}

/// The environment variable holding the API token sent to `--registry`
/// (an argument would be visible to other users of the machine).
const TOKEN_ENV: &str = "ATMPFLOW_TOKEN";

/// The equipment of `src` and a label naming where it came from. Shells of a registry
/// that offer capabilities but were left out are reported on stderr.
fn load_equipment(
    src: &EquipmentSource,
    trust: &RegistryTrust,
) -> anyhow::Result<(recipe::Inventory, String)> {
    let found = if let Some(path) = &src.equipment {
        return Ok((load_inventory(path)?, path.display().to_string()));
    } else if let Some(url) = &src.registry {
        let mut reg = server::HttpRegistry::new(url)?;
        if let Some(ca) = &trust.ca_cert {
            let certs = server::tls::read_certificates(ca).context("--ca-cert")?;
            reg = reg.trusting(&certs);
        }
        match std::env::var(TOKEN_ENV) {
            Ok(t) if !t.trim().is_empty() => reg = reg.with_token(&t),
            _ => {}
        }
        server::equipment_inventory(&reg)?
    } else if let Some(db) = &src.db {
        let store = super::db::open_existing(db)?;
        let reg = server::StoreRegistry::new(&store, store.location().to_string());
        server::equipment_inventory(&reg)?
    } else {
        bail!("give --equipment FILE, --registry URL or --db PATH|URL");
    };
    for s in &found.skipped {
        eprintln!("note: registry shell left out: {s}");
    }
    eprintln!(
        "found {} equipment twin(s) in the registry {} ({} other shell(s))",
        found.inventory.equipment.len(),
        found.inventory.inventory.site,
        found.other_shells
    );
    let label = format!("the registry {}", found.inventory.inventory.site);
    Ok((found.inventory, label))
}

fn check(args: CheckArgs) -> anyhow::Result<()> {
    let mut failed = 0;
    for path in &args.files {
        let result = (|| -> anyhow::Result<String> {
            let text = read(path)?;
            let table: toml::Table = toml::from_str(&text).unwrap_or_default();
            if table.contains_key("record") {
                let r = load_record(path)?;
                Ok(format!(
                    "ok — executed record of batch {} ({} step(s))",
                    r.record.batch,
                    r.step.len()
                ))
            } else if table.contains_key("equipment") || table.contains_key("inventory") {
                let inv = load_inventory(path)?;
                Ok(format!(
                    "ok — equipment inventory `{}` with {} item(s)",
                    inv.inventory.site,
                    inv.equipment.len()
                ))
            } else {
                let r =
                    recipe::parse_recipe(&path.display().to_string(), &text).map_err(reported)?;
                let sensors = check_soft_sensors(path, &text, &r)?;
                let warnings = recipe::recipe::check(&r);
                let mut s = format!(
                    "ok — {} recipe `{}`: {} unit procedure(s), {} step(s), {} capability requirement(s), capabilities: {}",
                    serde_json::to_value(r.procedure.recipe_type)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    r.procedure.id,
                    r.unit_procedures.len(),
                    r.steps.len(),
                    r.steps.iter().map(|s| s.requires.len()).sum::<usize>(),
                    recipe::recipe::capabilities_used(&r).join(", ")
                );
                for line in sensors {
                    s.push_str(&format!("\n  {line}"));
                }
                for w in warnings {
                    s.push_str(&format!("\n  warning: {}: {}", w.field, w.message));
                }
                Ok(s)
            }
        })();
        match result {
            Ok(msg) => println!("{}: {msg}", path.display()),
            Err(e) => {
                failed += 1;
                super::print_error(&e);
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} file(s) failed", args.files.len());
    }
    Ok(())
}

/// Loads the soft sensor of every controlled phase of `r` (relative to the recipe's folder) and
/// checks that it estimates what the controller needs. An error is located at the phase's
/// `soft_sensor` field of the recipe. Gives one line per controlled phase.
fn check_soft_sensors(path: &Path, text: &str, r: &recipe::Recipe) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for (i, step) in r.steps.iter().enumerate() {
        let Some(c) = &step.control else { continue };
        let k = step.phases.iter().position(|p| *p == c.phase).unwrap_or(0);
        let field = model::FieldPath::root()
            .key("step")
            .idx(i)
            .key("phases")
            .idx(k)
            .key("soft_sensor");
        let Some(file) = &c.soft_sensor else {
            lines.push(format!(
                "step `{}`: phase `{}` controlled ({}), no soft sensor named",
                step.id,
                c.phase,
                c.controller.name()
            ));
            continue;
        };
        let sensor_path = path.parent().unwrap_or(Path::new(".")).join(file);
        let loaded = super::common::read_limited(&sensor_path)
            .and_then(|bytes| {
                String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("not UTF-8 text"))
            })
            .and_then(|t| {
                pat::sensor::SoftSensor::from_json(&sensor_path.display().to_string(), &t)
                    .map_err(anyhow::Error::from)
            });
        match loaded {
            Err(e) => problems.push(model::Problem::new(
                field,
                format!("soft sensor {}: {e:#}", sensor_path.display()),
            )),
            Ok(sensor) => {
                let missing: Vec<&str> = pat::control::CONTROL_RESPONSES
                    .iter()
                    .copied()
                    .filter(|want| !sensor.responses.iter().any(|r| r == want))
                    .collect();
                if missing.is_empty() {
                    lines.push(format!(
                        "step `{}`: phase `{}` controlled ({}) on soft sensor {} ({} components, {} variables, responses {})",
                        step.id,
                        c.phase,
                        c.controller.name(),
                        sensor_path.display(),
                        sensor.components,
                        sensor.variables.len(),
                        sensor.responses.join(", ")
                    ));
                } else {
                    problems.push(model::Problem::new(
                        field,
                        format!(
                            "soft sensor {} estimates {}; the controller needs {} too",
                            sensor_path.display(),
                            sensor.responses.join(", "),
                            missing.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(lines)
    } else {
        let src = model::SourceFile::new(path.display().to_string(), text);
        Err(reported(src.errors(&problems)))
    }
}

fn bind(args: BindArgs) -> anyhow::Result<()> {
    let Bound { binding: b, .. } = args.on.bind()?;
    let json = serde_json::to_string_pretty(&b)?;
    if let Some(out) = &args.out {
        crate::output::write(out, format!("{json}\n"))?;
    }
    if args.json {
        println!("{json}");
    } else {
        print!("{}", b.render_text());
    }
    if !b.is_complete() {
        let err = recipe::bind::NoFit {
            unbound: b.unbound().cloned().collect(),
        };
        bail!("{err}");
    }
    Ok(())
}

fn diff(args: DiffArgs) -> anyhow::Result<()> {
    let r = load_recipe(&args.recipe)?;
    let rec = load_record(&args.record)?;
    let binding = match &args.bound {
        Some(p) => Some(
            recipe::bind::parse_binding_json(&read(p)?).with_context(|| {
                format!(
                    "{} is not a binding written by `recipe bind --json`",
                    p.display()
                )
            })?,
        ),
        None => None,
    };
    let inv = match &args.source {
        Some(src) => Some(load_equipment(src, &args.trust)?.0),
        None => None,
    };
    if let Some(b) = &binding
        && b.recipe != r.procedure.id
    {
        bail!(
            "the binding {} is for recipe `{}`, not `{}`",
            args.bound
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            b.recipe,
            r.procedure.id
        );
    }
    let d = recipe::diff(&r, binding.as_ref(), inv.as_ref(), &rec);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print!("{}", d.render_text());
    }
    if args.strict && !d.deviations.is_empty() {
        bail!("{} deviation(s)", d.deviations.len());
    }
    Ok(())
}

fn plan(args: PlanArgs) -> anyhow::Result<()> {
    let Bound {
        recipe: r,
        inventory: inv,
        source,
        date,
        binding: b,
    } = args.on.bind()?;
    if !b.is_complete() {
        let err = recipe::bind::NoFit {
            unbound: b.unbound().cloned().collect(),
        };
        bail!("cannot plan: {err}");
    }
    let opts = recipe::PlanOptions {
        horizon_days: args.horizon_days,
        warmup_days: args.warmup_days,
        replications: args.replications,
        seed: args.seed,
        patients_per_year: args.patients_per_year,
        target_vein_to_vein_days: args.target_vein_to_vein_days,
        operators: args.operators,
        ..recipe::PlanOptions::default()
    };
    let (sc, notes) = recipe::scenario(&r, &b, &inv, &opts)?;
    let body = toml::to_string(&sc).context("cannot serialise the scenario")?;
    let mut text = format!(
        "# Generated by `atmpflow recipe plan` from {} and {} (as of {date}).\n\
         # Durations, holds and resources come from the recipe and its binding; edit the recipe, not this file.\n",
        args.on.recipe.display(),
        source
    );
    for n in &notes {
        text.push_str(&format!("# note: {n}\n"));
    }
    text.push('\n');
    text.push_str(&body);
    // The scenario must load exactly as `simulate` will read it.
    let name = args.out.as_deref().map_or_else(
        || "generated scenario".to_string(),
        |p| p.display().to_string(),
    );
    model::load_with(&name, &text, &*super::common::expansion_model()).map_err(reported)?;
    match &args.out {
        Some(out) => {
            crate::output::write(out, &text)?;
            eprintln!(
                "wrote {} ({} step(s), {} equipment pool(s), {} area(s))",
                out.display(),
                sc.product.first().map_or(0, |p| p.step.len()),
                sc.equipment.len(),
                sc.area.len()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}
