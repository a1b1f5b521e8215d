//! Cost of goods of cell-therapy manufacturing, priced from simulated operation.
//!
//! The cost inputs live in a `[cost]` section of a scenario file (or a separate file of the
//! same layout): [`inputs::parse`] reads them with located errors, [`CostModel::resolve`]
//! checks them against the scenario's plant and process and turns them into cost lines of the
//! position paper's Table 2 categories (equipment, facility, labour, materials, QC,
//! operating), each fixed or variable. [`CostModel::summarise`] prices every simulated
//! replication — batches started, runs and failures per step, doses released, patients
//! admitted, staff hours — and reports means with 95 % confidence intervals.
//!
//! [`study`] sweeps scenario parameters and compares plants by cost and vein-to-vein time.
//! Nothing here does IO.

pub mod annualise;
pub mod eval;
pub mod inputs;
pub mod resolve;
pub mod study;

pub use eval::{CostError, CostSummary, LineCost, ReplicationCost};
pub use inputs::CostInputs;
pub use resolve::{Category, CostModel, Count, Driver, Line};

use model::{FileErrors, Model, SourceFile};

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
