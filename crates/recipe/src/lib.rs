//! `recipe`: four-level process descriptions for cell-therapy manufacturing
//! (ISA-88 in spirit), the equipment inventory they bind to, and the deviation
//! check of an executed record. Pure: no files, clocks or sockets.

pub mod catalog;
pub mod date;
pub mod diag;
pub mod equipment;
pub mod quantity;

pub use date::{Date, DateTime};
pub use diag::{FieldPath, FileErrors, Problem, SourceFile};
pub use equipment::{Equipment, Inventory, parse_inventory, parse_inventory_json};
pub mod bind;
pub mod plan;
pub mod recipe;
pub mod record;
pub mod requal;

pub use bind::{Binding, bind, bind_strict};
pub use plan::{PlanOptions, scenario};
pub use recipe::{Recipe, parse_recipe};
pub use record::{DiffReport, Record, diff, parse_record};
