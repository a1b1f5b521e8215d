//! Objectives and their lexicographic combinations.

use serde::{Deserialize, Serialize};

use crate::error::ScheduleError;
use crate::plan::Values;

/// One scheduling criterion (all are regular: never better when a job finishes later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// Latest completion time.
    Makespan,
    /// Total weighted tardiness.
    WeightedTardiness,
    /// Weighted sum of completion times.
    WeightedCompletion,
}

impl Criterion {
    /// Value of this criterion.
    pub fn of(self, v: &Values) -> i64 {
        match self {
            Criterion::Makespan => v.makespan,
            Criterion::WeightedTardiness => v.weighted_tardiness,
            Criterion::WeightedCompletion => v.weighted_completion,
        }
    }

    /// Short name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Criterion::Makespan => "makespan",
            Criterion::WeightedTardiness => "weighted_tardiness",
            Criterion::WeightedCompletion => "weighted_completion",
        }
    }
}

/// A lexicographic objective: the first criterion matters most.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objective {
    /// One to three distinct criteria, most important first.
    pub levels: Vec<Criterion>,
}

/// Cost vector compared lexicographically; unused levels are 0.
pub type Cost = [i64; 3];

/// Cost of an infeasible solution.
pub const INFEASIBLE: Cost = [i64::MAX; 3];

impl Default for Objective {
    fn default() -> Self {
        Self::makespan()
    }
}

impl Objective {
    /// Minimise the makespan.
    pub fn makespan() -> Self {
        Self {
            levels: vec![Criterion::Makespan],
        }
    }

    /// Parses `makespan`, `twt`/`weighted_tardiness`, `wct`/`weighted_completion`,
    /// or a comma-separated lexicographic list such as `twt,makespan`.
    pub fn parse(s: &str) -> Result<Self, ScheduleError> {
        let mut levels = Vec::new();
        for part in s.split(',') {
            let c = match part.trim() {
                "makespan" | "cmax" => Criterion::Makespan,
                "twt" | "weighted_tardiness" => Criterion::WeightedTardiness,
                "wct" | "weighted_completion" => Criterion::WeightedCompletion,
                other => {
                    return Err(ScheduleError::Invalid(format!(
                        "unknown objective '{other}' (use makespan, twt, wct or a comma-separated list)"
                    )));
                }
            };
            if levels.contains(&c) {
                return Err(ScheduleError::Invalid(format!(
                    "objective '{}' listed twice",
                    c.name()
                )));
            }
            levels.push(c);
        }
        Ok(Self { levels })
    }

    /// Cost vector of the given values.
    pub fn cost(&self, v: &Values) -> Cost {
        let mut c = [0; 3];
        for (slot, crit) in c.iter_mut().zip(&self.levels) {
            *slot = crit.of(v);
        }
        c
    }

    /// The primary criterion.
    pub fn primary(&self) -> Criterion {
        self.levels.first().copied().unwrap_or(Criterion::Makespan)
    }

    /// Human-readable name, e.g. `weighted_tardiness,makespan`.
    pub fn name(&self) -> String {
        self.levels
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_compare() {
        let o = Objective::parse("twt,makespan").unwrap_or_default();
        assert_eq!(
            o.levels,
            vec![Criterion::WeightedTardiness, Criterion::Makespan]
        );
        let a = o.cost(&Values {
            makespan: 10,
            weighted_tardiness: 3,
            weighted_completion: 0,
        });
        let b = o.cost(&Values {
            makespan: 5,
            weighted_tardiness: 4,
            weighted_completion: 0,
        });
        assert!(a < b, "tardiness dominates makespan");
        assert!(Objective::parse("speed").is_err());
        assert!(Objective::parse("makespan,cmax").is_err());
    }
}
