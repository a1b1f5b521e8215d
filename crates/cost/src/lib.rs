//! Cost of goods of cell-therapy manufacturing, priced from simulated operation.
//!
//! The cost inputs live in a `[cost]` section of a scenario file (or a separate file of the
//! same layout): [`inputs::parse`] reads them with located errors, [`CostModel::resolve`]
//! checks them against the scenario's plant and process and turns them into cost lines of the
//! position paper's Table 2 categories (equipment, facility, labour, materials, QC,
//! operating), each fixed or variable. [`CostModel::summarise`] prices every simulated
//! replication — batches started, runs and failures per step, doses released, patients
//! admitted, staff hours — and reports means with 95 % confidence intervals; a
//! [`CostAccumulator`] does the same one replication at a time as a simulation hands them
//! over, in memory independent of the number of replications.
//!
//! [`study`] sweeps scenario parameters and compares plants by cost and vein-to-vein time.
//! Nothing here does IO.

pub mod annualise;
pub mod eval;
pub mod inputs;
pub mod resolve;
pub mod study;

pub use eval::{CostAccumulator, CostError, CostSummary, LineCost, ReplicationCost};
pub use inputs::CostInputs;
pub use resolve::{Category, CostModel, Count, Driver, Line};

use model::{FieldPath, FileErrors, Model, Problem, SourceFile, span::Seg};

/// Reads the `[cost]` section of `src` and checks it against `model`. `Ok(None)` when the
/// file has no `[cost]` section. Errors name file, line and field.
pub fn load(src: &SourceFile, model: &Model) -> Result<Option<CostModel>, FileErrors> {
    let Some(inputs) = inputs::parse(src)? else {
        return Ok(None);
    };
    CostModel::resolve(&inputs, model)
        .map(Some)
        .map_err(|problems| src.errors(&problems))
}

/// Builds a cost model from a `[cost]` table already in memory (e.g. after a study changed a
/// value). Errors are plain text, with field paths but without lines.
pub fn from_table(table: &toml::Table, model: &Model) -> Result<CostModel, String> {
    let inputs: CostInputs = toml::Value::Table(table.clone())
        .try_into()
        .map_err(|e: toml::de::Error| format!("cost: {}", e.message()))?;
    CostModel::resolve(&inputs, model).map_err(|ps| {
        ps.iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// The `[cost]` table of a TOML file, if any (syntax errors located).
pub fn cost_table(src: &SourceFile) -> Result<Option<toml::Table>, FileErrors> {
    // Type-check the section with located errors first.
    if inputs::parse(src)?.is_none() {
        return Ok(None);
    }
    let doc: toml::Table = src.parse()?;
    Ok(doc.get("cost").and_then(|c| c.as_table()).cloned())
}

/// Merges `[cost]` tables: arrays of later layers are appended to those of earlier ones,
/// plain settings (currency, discount rate, …) of later layers replace earlier ones.
pub fn merge_tables(layers: &[toml::Table]) -> toml::Table {
    let mut out = toml::Table::new();
    for t in layers {
        for (k, v) in t {
            match (out.get_mut(k), v) {
                (Some(toml::Value::Array(a)), toml::Value::Array(b)) => a.extend(b.iter().cloned()),
                _ => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    }
    out
}

/// Reads cost inputs from several layers — e.g. a study's shared file (grades, roles,
/// materials, QC, operating costs), the scenario's own `[cost]` section and a per-concept file
/// (equipment) — merges them ([`merge_tables`]) and checks them against `model`. Errors name
/// the file, line and field they come from. Returns the model and the merged table;
/// `Ok(None)` when no layer has a `[cost]` section.
pub fn load_layers(
    layers: &[&SourceFile],
    model: &Model,
) -> Result<Option<(CostModel, toml::Table)>, FileErrors> {
    let mut found: Vec<(&SourceFile, toml::Table)> = Vec::new();
    for src in layers {
        if let Some(t) = cost_table(src)? {
            found.push((src, t));
        }
    }
    let Some((first, _)) = found.first() else {
        return Ok(None);
    };
    let first: &SourceFile = first;
    let tables: Vec<toml::Table> = found.iter().map(|(_, t)| t.clone()).collect();
    let merged = merge_tables(&tables);
    let inputs: CostInputs =
        toml::Value::Table(merged.clone())
            .try_into()
            .map_err(|e: toml::de::Error| {
                first.errors(&[Problem::new(
                    FieldPath::root().key("cost"),
                    format!(
                        "the merged cost inputs do not fit together: {}",
                        e.message()
                    ),
                )])
            })?;
    match CostModel::resolve(&inputs, model) {
        Ok(cm) => Ok(Some((cm, merged))),
        Err(problems) => {
            // Map each problem back to the layer its array element came from.
            let mut per_layer: Vec<Vec<Problem>> = vec![Vec::new(); found.len()];
            for p in problems {
                let (layer, path) = locate_layer(&found, &p.path);
                per_layer[layer].push(Problem::new(path, p.message));
            }
            let (i, ps) = per_layer
                .iter()
                .enumerate()
                .find(|(_, ps)| !ps.is_empty())
                .unwrap_or((0, &per_layer[0]));
            Err(found[i].0.errors(ps))
        }
    }
}

fn locate_layer(found: &[(&SourceFile, toml::Table)], path: &FieldPath) -> (usize, FieldPath) {
    // Paths look like cost.<array>[i].…; other paths belong to the last layer that sets them.
    if let (Some(Seg::Key(arr)), Some(Seg::Index(i))) = (path.0.get(1), path.0.get(2)) {
        let mut offset = 0;
        for (l, (_, t)) in found.iter().enumerate() {
            let n = t.get(arr).and_then(|a| a.as_array()).map_or(0, Vec::len);
            if *i < offset + n {
                let mut segs = path.0.clone();
                segs[2] = Seg::Index(i - offset);
                return (l, FieldPath(segs));
            }
            offset += n;
        }
    }
    if let Some(Seg::Key(k)) = path.0.get(1)
        && let Some(l) = found.iter().rposition(|(_, t)| t.contains_key(k))
    {
        return (l, path.clone());
    }
    (found.len() - 1, path.clone())
}
