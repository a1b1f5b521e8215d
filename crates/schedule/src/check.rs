//! Independent feasibility checker. It reads only the [`Instance`] (not the solver's
//! precomputed tables) and verifies every constraint of a [`Plan`].

use std::fmt;

use crate::instance::{Instance, Time};
use crate::plan::{Assignment, Plan};

/// One broken constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// The plan has the wrong number of operations.
    WrongCount {
        /// Expected `jobs * stages`.
        expected: usize,
        /// Found.
        found: usize,
    },
    /// Operation at position `job * stages + stage` is not that (job, stage).
    Misplaced {
        /// Job expected there.
        job: usize,
        /// Stage expected there.
        stage: usize,
    },
    /// Machine index out of range for the stage.
    NoSuchMachine {
        /// Job.
        job: usize,
        /// Stage.
        stage: usize,
        /// Machine given.
        machine: usize,
    },
    /// `end - start` differs from the processing time on that machine.
    WrongDuration {
        /// Job.
        job: usize,
        /// Stage.
        stage: usize,
        /// Processing time on the chosen machine.
        expected: Time,
        /// `end - start` in the plan.
        found: Time,
    },
    /// First stage starts before the job's release.
    BeforeRelease {
        /// Job.
        job: usize,
        /// Start.
        start: Time,
        /// Release.
        release: Time,
    },
    /// A non-frozen operation starts before the re-planning instant.
    BeforeNow {
        /// Job.
        job: usize,
        /// Stage.
        stage: usize,
        /// Start.
        start: Time,
    },
    /// Stage `stage` starts earlier than the end of the previous stage plus the minimum lag.
    MinLag {
        /// Job.
        job: usize,
        /// Later stage.
        stage: usize,
        /// Gap in the plan.
        gap: Time,
        /// Minimum lag.
        min: Time,
    },
    /// Stage `stage` starts later than the end of the previous stage plus the maximum lag.
    MaxLag {
        /// Job.
        job: usize,
        /// Later stage.
        stage: usize,
        /// Gap in the plan.
        gap: Time,
        /// Maximum lag.
        max: Time,
    },
    /// Two operations on one machine overlap or are closer than the set-up time.
    Overlap {
        /// Stage.
        stage: usize,
        /// Machine.
        machine: usize,
        /// Earlier job.
        first: usize,
        /// Later job.
        second: usize,
        /// Required set-up between them.
        setup: Time,
    },
    /// An operation runs during an unavailability window of its machine.
    Unavailable {
        /// Job.
        job: usize,
        /// Stage.
        stage: usize,
        /// Machine.
        machine: usize,
        /// Window start.
        window_start: Time,
    },
    /// A frozen operation was moved.
    FrozenMoved {
        /// Job.
        job: usize,
        /// Stage.
        stage: usize,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// All violations of `plan` against `inst` (empty = feasible).
pub fn check(inst: &Instance, plan: &Plan) -> Vec<Violation> {
    let n = inst.n();
    let g = inst.g();
    let mut v = Vec::new();
    if plan.ops.len() != n * g {
        v.push(Violation::WrongCount {
            expected: n * g,
            found: plan.ops.len(),
        });
        return v;
    }
    let mut frozen = vec![None; n * g];
    for f in &inst.frozen {
        if f.job < n && f.stage < g {
            frozen[f.job * g + f.stage] = Some((f.machine, f.start));
        }
    }
    let mut per_machine: Vec<Vec<Vec<usize>>> = inst
        .stages
        .iter()
        .map(|s| vec![Vec::new(); s.machines.len()])
        .collect();
    for j in 0..n {
        for k in 0..g {
            let a = plan.ops[j * g + k];
            if a.job != j || a.stage != k {
                v.push(Violation::Misplaced { job: j, stage: k });
                continue;
            }
            if a.machine >= inst.stages[k].machines.len() {
                v.push(Violation::NoSuchMachine {
                    job: j,
                    stage: k,
                    machine: a.machine,
                });
                continue;
            }
            per_machine[k][a.machine].push(j);
            check_timing(inst, &a, frozen[j * g + k], &mut v);
            if k > 0 {
                check_lag(inst, &plan.ops[j * g + k - 1], &a, &mut v);
            }
        }
    }
    for (_, ops) in &mut devices(inst, &per_machine) {
        check_overlaps(inst, plan, ops, &mut v);
    }
    v
}

/// Checks one placed operation's length, that it keeps its frozen machine and start or
/// else starts no earlier than now and its release, and that it avoids its machine's
/// unavailable windows.
fn check_timing(
    inst: &Instance,
    a: &Assignment,
    frozen: Option<(usize, Time)>,
    v: &mut Vec<Violation>,
) {
    let (j, k) = (a.job, a.stage);
    let p = inst.proc_time(j, k, a.machine);
    if a.end - a.start != p {
        v.push(Violation::WrongDuration {
            job: j,
            stage: k,
            expected: p,
            found: a.end - a.start,
        });
    }
    match frozen {
        Some((m, s)) => {
            if m != a.machine || s != a.start {
                v.push(Violation::FrozenMoved { job: j, stage: k });
            }
        }
        None => {
            if a.start < inst.not_before {
                v.push(Violation::BeforeNow {
                    job: j,
                    stage: k,
                    start: a.start,
                });
            }
            if k == 0 && a.start < inst.jobs[j].release {
                v.push(Violation::BeforeRelease {
                    job: j,
                    start: a.start,
                    release: inst.jobs[j].release,
                });
            }
        }
    }
    for w in &inst.stages[k].machines[a.machine].unavailable {
        let q = (a.end - a.start).max(1);
        if a.start < w.end && w.start < a.start + q {
            v.push(Violation::Unavailable {
                job: j,
                stage: k,
                machine: a.machine,
                window_start: w.start,
            });
        }
    }
}

/// Checks the gap between the job's previous operation `prev` and `a` against the lag.
fn check_lag(inst: &Instance, prev: &Assignment, a: &Assignment, v: &mut Vec<Violation>) {
    let (j, k) = (a.job, a.stage);
    let gap = a.start - prev.end;
    let lag = inst.lag(j, k - 1);
    if gap < lag.min {
        v.push(Violation::MinLag {
            job: j,
            stage: k,
            gap,
            min: lag.min,
        });
    }
    if let Some(max) = lag.max
        && gap > max
    {
        v.push(Violation::MaxLag {
            job: j,
            stage: k,
            gap,
            max,
        });
    }
}

/// A physical device (by name; `None` for a machine of its own) and its operations
/// `(job, stage)`.
type Device<'a> = (Option<&'a str>, Vec<(usize, usize)>);

/// Groups the operations on each machine by physical device (shared devices serve several
/// stages), in stage and machine order.
fn devices<'a>(inst: &'a Instance, per_machine: &[Vec<Vec<usize>>]) -> Vec<Device<'a>> {
    let mut devices: Vec<Device> = Vec::new();
    for (k, machines) in per_machine.iter().enumerate() {
        for (m, jobs) in machines.iter().enumerate() {
            let key = inst.stages[k].machines[m].physical.as_deref();
            let slot = match key {
                Some(name) => devices.iter().position(|d| d.0 == Some(name)),
                None => None,
            };
            let i = match slot {
                Some(i) => i,
                None => {
                    devices.push((key, Vec::new()));
                    devices.len() - 1
                }
            };
            devices[i].1.extend(jobs.iter().map(|&j| (j, k)));
        }
    }
    devices
}

/// Sorts one device's operations by time and reports each that starts before the one
/// before it ends plus the set-up between them.
fn check_overlaps(
    inst: &Instance,
    plan: &Plan,
    ops: &mut [(usize, usize)],
    v: &mut Vec<Violation>,
) {
    let g = inst.g();
    ops.sort_by_key(|&(j, k)| {
        let a = plan.ops[j * g + k];
        (a.start, a.end, j, k)
    });
    for w in ops.windows(2) {
        let ((j1, k1), (j2, k2)) = (w[0], w[1]);
        let (a, b) = (plan.ops[j1 * g + k1], plan.ops[j2 * g + k2]);
        // the set-up before an operation is that of its own stage
        let s = inst.setup(k2, inst.jobs[j1].product, inst.jobs[j2].product);
        let overlap = b.start < a.end + s || (a.start == b.start && a.end > a.start);
        if overlap {
            v.push(Violation::Overlap {
                stage: k2,
                machine: b.machine,
                first: j1,
                second: j2,
                setup: s,
            });
        }
    }
}
