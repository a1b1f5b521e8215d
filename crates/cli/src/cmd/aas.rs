//! `atmpflow aas`: build, export, check and search Asset Administration Shell
//! twins of equipment and batches.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::common::{read, reported};

/// Demo inputs, compiled in so `--demo` works from any directory.
const DEMO_INVENTORY: (&str, &str) = (
    "examples/equipment/modular-plant.toml",
    include_str!("../../../../examples/equipment/modular-plant.toml"),
);
const DEMO_BATCH: (&str, &str) = (
    "examples/twins/demo-batch.toml",
    include_str!("../../../../examples/twins/demo-batch.toml"),
);
const DEMO_RECIPE: (&str, &str) = (
    "examples/recipes/car-t-modular.toml",
    include_str!("../../../../examples/recipes/car-t-modular.toml"),
);
const DEMO_RECORD: (&str, &str) = (
    "examples/recipes/records/car-t-modular-batch-0042.toml",
    include_str!("../../../../examples/recipes/records/car-t-modular-batch-0042.toml"),
);

/// Where twins come from (shared by `aas export` and `serve`).
#[derive(Debug, Clone, clap::Args)]
pub struct Sources {
    /// Use the demo equipment inventory and batch record shipped with atmpflow.
    #[arg(long)]
    pub demo: bool,
    /// Equipment inventory files (TOML, the format of `examples/equipment/`).
    #[arg(long = "inventory", value_name = "FILE")]
    pub inventories: Vec<PathBuf>,
    /// Documented batch records (TOML, the format of `examples/twins/demo-batch.toml`).
    #[arg(long = "batch", value_name = "FILE")]
    pub batches: Vec<PathBuf>,
    /// Level-4 executed records (the format of `examples/recipes/records/`).
    #[arg(long = "record", value_name = "FILE")]
    pub records: Vec<PathBuf>,
    /// Recipe the `--record` files are compared against (deviations go into the batch record).
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,
    /// Day the qualification state is evaluated on (YYYY-MM-DD); default: today (UTC).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
}

/// The `aas` subcommands.
pub type Args = super::common::Subcommands<Sub>;

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Write one AAS v3.0 JSON environment per twin (shell + submodels +
    /// concept descriptions) into a directory, from input files or a database.
    Export {
        #[command(flatten)]
        sources: Sources,
        /// Export what a `serve` database holds (SQLite file or postgres:// URL)
        /// instead of building from files.
        #[arg(long, value_name = "PATH|URL", conflicts_with_all = ["demo", "inventories", "batches"])]
        db: Option<String>,
        /// Output directory (created if missing).
        out: PathBuf,
    },
    /// Check AAS v3.0 JSON environment files against the metamodel constraints.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Find equipment through the registry of a `serve` database: shells whose
    /// capability submodel offers a capability (and, optionally, whose
    /// qualification is effective).
    Find {
        /// Database written by `atmpflow serve` (SQLite file or postgres:// URL).
        #[arg(long, value_name = "PATH|URL")]
        db: String,
        /// Capability name, e.g. `centrifugation`.
        #[arg(long)]
        capability: String,
        /// Only equipment whose qualification state says usable for GMP.
        #[arg(long)]
        qualified: bool,
    },
}

/// Builds the twins named by `sources`.
pub fn build_twins(sources: &Sources) -> anyhow::Result<Vec<aas::twins::Twin>> {
    let as_of = super::common::as_of(sources.as_of.as_deref())?;
    let mut inventories: Vec<(String, String)> = Vec::new();
    let mut batches: Vec<(String, String)> = Vec::new();
    let mut records: Vec<(String, String)> = Vec::new();
    let mut recipe_src: Option<(String, String)> = None;
    if sources.demo {
        inventories.push((DEMO_INVENTORY.0.into(), DEMO_INVENTORY.1.into()));
        batches.push((DEMO_BATCH.0.into(), DEMO_BATCH.1.into()));
        records.push((DEMO_RECORD.0.into(), DEMO_RECORD.1.into()));
        recipe_src = Some((DEMO_RECIPE.0.into(), DEMO_RECIPE.1.into()));
    }
    for p in &sources.inventories {
        inventories.push((p.display().to_string(), read(p)?));
    }
    for p in &sources.batches {
        batches.push((p.display().to_string(), read(p)?));
    }
    for p in &sources.records {
        records.push((p.display().to_string(), read(p)?));
    }
    if let Some(p) = &sources.recipe {
        recipe_src = Some((p.display().to_string(), read(p)?));
    }
    if inventories.is_empty() && batches.is_empty() && records.is_empty() {
        bail!("nothing to build: give --demo, --inventory FILE, --batch FILE or --record FILE");
    }
    let mut twins = Vec::new();
    let mut parsed = Vec::new();
    for (name, text) in &inventories {
        let inv = recipe::parse_inventory(name, text).map_err(reported)?;
        twins.extend(
            inv.equipment
                .iter()
                .map(|e| aas::twins::equipment_twin(e, as_of)),
        );
        parsed.push(inv);
    }
    for (name, text) in &batches {
        let rec = aas::twins::parse_batch_record(name, text).map_err(reported)?;
        twins.push(aas::twins::batch_twin(&rec));
    }
    let recipe = match &recipe_src {
        Some((name, text)) => Some(recipe::parse_recipe(name, text).map_err(reported)?),
        None => None,
    };
    for (name, text) in &records {
        let rec = recipe::parse_record(name, text).map_err(reported)?;
        let diff = recipe
            .as_ref()
            .map(|r| recipe::diff(r, None, parsed.first(), &rec));
        let product = recipe.as_ref().map(|r| r.procedure.product.as_str());
        let br = aas::twins::batch_record_from_executed(&rec, product, diff.as_ref());
        twins.push(aas::twins::batch_twin(&br));
    }
    let mut seen = std::collections::BTreeSet::new();
    for t in &twins {
        if !seen.insert(t.shell.id.clone()) {
            bail!("two inputs define the twin {:?}", t.shell.id);
        }
    }
    Ok(twins)
}

fn file_name(id_short: &str) -> String {
    id_short
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The identifier an exported environment is named after: its shell's (else its first
/// submodel's) id.
fn env_id(env: &aas::Environment) -> String {
    env.asset_administration_shells
        .first()
        .map(|s| s.id.clone())
        .or_else(|| env.submodels.first().map(|s| s.id.clone()))
        .unwrap_or_default()
}

/// `{idShort}-{16 hex digits of SHA-256 of the id}.json`: the idShort is only a readable
/// prefix (shells of different ids may share it); the hash keeps names of different ids apart.
fn export_file_name(id_short: &str, id: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(id.as_bytes());
    let hex: String = h[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}.json", file_name(id_short))
}

fn write_env(dir: &Path, name: &str, env: &aas::Environment) -> anyhow::Result<PathBuf> {
    if let Some(v) = aas::validate::environment(env).into_iter().next() {
        bail!(
            "internal error: twin {name} breaks the metamodel at {}: {}",
            v.path,
            v.message
        );
    }
    let path = dir.join(export_file_name(name, &env_id(env)));
    crate::output::write(&path, serde_json::to_string_pretty(env)?)?;
    Ok(path)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Sub::Export { sources, db, out } => {
            let envs: Vec<(String, aas::Environment)> = match db {
                Some(db) => {
                    let store = super::db::open_existing(&db)?;
                    let all =
                        server::export_environment(&store).map_err(|e| anyhow::anyhow!(e.text))?;
                    split_by_shell(all)
                }
                None => {
                    let twins = build_twins(&sources)?;
                    twins
                        .iter()
                        .map(|t| {
                            let name = t
                                .shell
                                .id_short
                                .clone()
                                .unwrap_or_else(|| t.shell.id.clone());
                            (name, aas::twins::environment(std::slice::from_ref(t)))
                        })
                        .collect()
                }
            };
            crate::output::dir(&out)?;
            for (name, env) in &envs {
                let p = write_env(&out, name, env)?;
                println!("{}", p.display());
            }
            eprintln!("exported {} environments to {}", envs.len(), out.display());
            Ok(())
        }
        Sub::Check { files } => {
            let mut failed = 0;
            for f in &files {
                let bytes =
                    std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
                match aas::parse::parse_environment(&bytes) {
                    Ok(env) => println!(
                        "{}: ok ({} shells, {} submodels, {} concept descriptions)",
                        f.display(),
                        env.asset_administration_shells.len(),
                        env.submodels.len(),
                        env.concept_descriptions.len()
                    ),
                    Err(e) => {
                        failed += 1;
                        println!("{}: {}: {}", f.display(), e.path, e.message);
                    }
                }
            }
            if failed > 0 {
                bail!(
                    "{failed} of {} files are not valid AAS v3.0 environments",
                    files.len()
                );
            }
            Ok(())
        }
        Sub::Find {
            db,
            capability,
            qualified,
        } => {
            let store = super::db::open_existing(&db)?;
            let hits = server::find_equipment(&store, &capability, qualified)
                .map_err(|e| anyhow::anyhow!(e.text))?;
            for h in &hits {
                println!("{}\t{}\t{}", h.aas_id, h.qualification, h.endpoint);
            }
            eprintln!("{} equipment item(s) offer `{capability}`", hits.len());
            Ok(())
        }
    }
}

/// Splits a store's content into one environment per shell (its submodels
/// and all concept descriptions); submodels no shell references go into
/// `unreferenced`.
fn split_by_shell(all: aas::Environment) -> Vec<(String, aas::Environment)> {
    let mut out = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    for s in &all.asset_administration_shells {
        let ids: Vec<&str> = s
            .submodels
            .iter()
            .filter_map(|r| r.keys.first().map(|k| k.value.as_str()))
            .collect();
        let subs: Vec<aas::Submodel> = all
            .submodels
            .iter()
            .filter(|m| ids.contains(&m.id.as_str()))
            .cloned()
            .collect();
        used.extend(subs.iter().map(|m| m.id.clone()));
        let env = aas::Environment {
            asset_administration_shells: vec![s.clone()],
            submodels: subs,
            concept_descriptions: all.concept_descriptions.clone(),
        };
        out.push((s.id_short.clone().unwrap_or_else(|| s.id.clone()), env));
    }
    let rest: Vec<aas::Submodel> = all
        .submodels
        .iter()
        .filter(|m| !used.contains(&m.id))
        .cloned()
        .collect();
    if !rest.is_empty() {
        out.push((
            "unreferenced".to_string(),
            aas::Environment {
                asset_administration_shells: Vec::new(),
                submodels: rest,
                concept_descriptions: Vec::new(),
            },
        ));
    }
    out
}
