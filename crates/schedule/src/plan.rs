//! A concrete plan: which job runs on which machine, when.

use serde::{Deserialize, Serialize};

use crate::instance::{Instance, Time};

/// One scheduled operation. Indices are 0-based in the instance's order;
/// `machine` is the index within the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// Job index.
    pub job: usize,
    /// Stage index.
    pub stage: usize,
    /// Machine index within the stage.
    pub machine: usize,
    /// Start time.
    pub start: Time,
    /// End time.
    pub end: Time,
}

/// A complete plan: one assignment per (job, stage), ordered by job then stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// `ops[job * stages + stage]`.
    pub ops: Vec<Assignment>,
}

/// The objective values of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Values {
    /// Latest completion time.
    pub makespan: Time,
    /// Sum of `weight * max(0, completion - due)`.
    pub weighted_tardiness: i64,
    /// Sum of `weight * completion`.
    pub weighted_completion: i64,
}

impl Plan {
    /// Completion time of each job (end of its last stage).
    pub fn completions(&self, inst: &Instance) -> Vec<Time> {
        let g = inst.g();
        (0..inst.n())
            .map(|j| self.ops.get(j * g + g - 1).map_or(0, |a| a.end))
            .collect()
    }

    /// Objective values of this plan.
    pub fn values(&self, inst: &Instance) -> Values {
        let c = self.completions(inst);
        let mut v = Values {
            makespan: 0,
            weighted_tardiness: 0,
            weighted_completion: 0,
        };
        for (j, &cj) in c.iter().enumerate() {
            let job = &inst.jobs[j];
            v.makespan = v.makespan.max(cj);
            v.weighted_tardiness += job.weight * (cj - job.due).max(0);
            v.weighted_completion += job.weight * cj;
        }
        v
    }

    /// Operations of one machine, sorted by start.
    pub fn machine_ops(&self, stage: usize, machine: usize) -> Vec<Assignment> {
        let mut v: Vec<Assignment> = self
            .ops
            .iter()
            .filter(|a| a.stage == stage && a.machine == machine)
            .copied()
            .collect();
        v.sort_by_key(|a| (a.start, a.end, a.job));
        v
    }
}
