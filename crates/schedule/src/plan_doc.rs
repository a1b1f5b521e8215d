//! `plan.json`, the plant plan document written by `atmpflow schedule SCENARIO --orders` and
//! read back by `schedule promise` and `schedule replan`: self-contained (the plant problem, its
//! plan, the link back to the scenario and the `model::Plan` the simulator follows).

use serde::{Deserialize, Serialize};

use crate::error::ScheduleError;
use crate::instance::Time;
use crate::plant::ShopMap;
use crate::shop::{Shop, ShopPlan, ShopValues};

/// Identifies the plan document format.
pub const PLAN_FORMAT: &str = "atmpflow-plant-plan/1";

/// `plan.json` as written by the planner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanDoc {
    /// Always [`PLAN_FORMAT`].
    pub format: String,
    /// Scenario name.
    pub scenario: String,
    /// SHA-256 of the scenario file.
    pub scenario_sha256: String,
    /// How the plan was made (solve, book, replan) and from what.
    pub history: Vec<String>,
    /// Objective (from the scenario's `[planning]`).
    pub objective: String,
    /// Objective values (minutes; weights × 100).
    pub values: ShopValues,
    /// Seed of the search.
    pub seed: u64,
    /// Random generator.
    pub generator: String,
    /// Algorithm.
    pub method: String,
    /// Program version.
    pub program_version: String,
    /// Target vein-to-vein time of each model product, minutes.
    pub targets_min: Vec<Time>,
    /// Link of the plant problem back to the scenario.
    pub map: ShopMap,
    /// The plant problem (times in minutes from the scenario's time 0).
    pub shop: Shop,
    /// Its plan.
    pub plant_plan: ShopPlan,
    /// The plan in scenario terms (hours), for `atmpflow simulate --plan`.
    pub plan: model::Plan,
}

impl PlanDoc {
    /// Checks a document read from a file: its format tag, its plant problem, and that its
    /// plan fits the plant. The message says which of them failed.
    pub fn check(&self) -> Result<(), ScheduleError> {
        if self.format != PLAN_FORMAT {
            return Err(ScheduleError::Document(format!(
                "format '{}', expected '{PLAN_FORMAT}'",
                self.format
            )));
        }
        self.shop.validate()?;
        if let Some(v) = crate::shop::check(&self.shop, &self.plant_plan).first() {
            return Err(ScheduleError::Document(format!(
                "the plan does not fit its plant: {v}"
            )));
        }
        Ok(())
    }
}

/// `day N (Ddd) HH:MM` of a time in minutes from time 0 (Monday 00:00 of the first week).
pub fn when(t: Time) -> String {
    let day = t.div_euclid(24 * 60);
    let m = t.rem_euclid(24 * 60);
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    format!(
        "day {day} ({}) {:02}:{:02}",
        DAYS[day.rem_euclid(7) as usize],
        m / 60,
        m % 60
    )
}

#[cfg(test)]
mod tests {
    use super::when;

    #[test]
    fn times_are_written_as_day_weekday_and_clock() {
        assert_eq!(when(0), "day 0 (Mon) 00:00");
        assert_eq!(when(24 * 60 * 8 + 75), "day 8 (Tue) 01:15");
        assert_eq!(when(-30), "day -1 (Sun) 23:30");
    }
}
