//! Re-planning: from a plan plus events, a new plan that keeps started operations fixed.
//!
//! Rules (documented in `docs/scheduling.md`):
//! * every operation of the old plan that started before `now` is frozen (same machine, same start);
//! * `BatchFailed { job, stage }`: the batch is lost from that stage on; the job leaves the plan
//!   (its machine is free from `now`); with `restart_release` a replacement batch (same product,
//!   weight and due date) is added that starts from the first stage no earlier than that time;
//! * `MachineDown { from, to }`: an unavailability window; an operation already running on the
//!   machine at `from` finishes first (the window then starts at its end);
//! * `NewOrder`: a new job.
//!
//! Stability: operations present in both plans that were not frozen and changed machine or start.

use std::sync::atomic::AtomicBool;

use serde::Serialize;

use crate::error::ScheduleError;
use crate::instance::{FrozenOp, Instance, Job, Lag, Time, Window};
use crate::plan::Plan;
use crate::solve::{Progress, Solution, SolveOptions, solve};

/// Something that happened since the plan was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Event {
    /// Batch `job` failed at `stage` (at `now`).
    BatchFailed {
        /// Job index in the old instance.
        job: usize,
        /// Stage at which it failed.
        stage: usize,
        /// Release of a replacement batch, if one is made.
        restart_release: Option<Time>,
    },
    /// A machine is unavailable in `[from, to)`.
    MachineDown {
        /// Stage index.
        stage: usize,
        /// Machine index within the stage.
        machine: usize,
        /// Start of the outage.
        from: Time,
        /// End of the outage.
        to: Time,
    },
    /// A new order.
    NewOrder {
        /// The job.
        job: Job,
        /// Processing times per stage.
        processing: Vec<Time>,
        /// Lags between stages (`None` = none).
        lags: Option<Vec<Lag>>,
    },
}

/// Result of [`replan`].
#[derive(Debug, Clone, Serialize)]
pub struct Replanned {
    /// The instance that was solved (new job numbering).
    pub instance: Instance,
    /// The new plan and its figures.
    pub solution: Solution,
    /// For each old job, its index in the new instance (`None` if it left the plan).
    pub job_map: Vec<Option<usize>>,
    /// Operations frozen because they had started.
    pub frozen: usize,
    /// Operations present in both plans, not frozen, compared for stability.
    pub compared: usize,
    /// Of those, how many changed machine or start time.
    pub moved: usize,
}

/// Builds the re-planning instance and solves it.
pub fn replan(
    inst: &Instance,
    plan: &Plan,
    now: Time,
    events: &[Event],
    opts: &SolveOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Replanned, ScheduleError> {
    inst.validate()?;
    let (n, g) = (inst.n(), inst.g());
    if plan.ops.len() != n * g {
        return Err(ScheduleError::Event(format!(
            "plan has {} operations, instance needs {}",
            plan.ops.len(),
            n * g
        )));
    }
    let effects = read_events(inst, now, events)?;
    let (mut out, job_map, frozen_count) = rebuild(inst, plan, now, &effects);
    add_outages(&mut out, &effects.windows);
    out.validate()?;
    let mut o = opts.clone();
    o.warm_start = Some(warm_start(plan, &job_map, g));
    let solution = solve(&out, &o, cancel, progress)?;
    let (compared, moved) = stability(plan, &solution.plan, &job_map, now, g);
    Ok(Replanned {
        instance: out,
        solution,
        job_map,
        frozen: frozen_count,
        compared,
        moved,
    })
}

/// What the events ask of the new plan.
struct Effects {
    /// Per old job: whether its batch failed (it leaves the plan).
    failed: Vec<bool>,
    /// Failed jobs made again: (old job, release).
    redo: Vec<(usize, Time)>,
    /// Machine outages: (stage, machine, from, to).
    windows: Vec<(usize, usize, Time, Time)>,
    /// New orders with their processing times and lags.
    new_jobs: Vec<(Job, Vec<Time>, Vec<Lag>)>,
}

/// Checks each event against the instance and collects what it asks.
fn read_events(inst: &Instance, now: Time, events: &[Event]) -> Result<Effects, ScheduleError> {
    let (n, g) = (inst.n(), inst.g());
    let mut fx = Effects {
        failed: vec![false; n],
        redo: Vec::new(),
        windows: Vec::new(),
        new_jobs: Vec::new(),
    };
    for e in events {
        match e {
            Event::BatchFailed {
                job,
                stage,
                restart_release,
            } => {
                if *job >= n || *stage >= g {
                    return Err(ScheduleError::Event(format!(
                        "batch failure refers to job #{job} stage #{stage}, which does not exist"
                    )));
                }
                fx.failed[*job] = true;
                if let Some(r) = restart_release {
                    fx.redo.push((*job, (*r).max(now)));
                }
            }
            Event::MachineDown {
                stage,
                machine,
                from,
                to,
            } => {
                if *stage >= g || *machine >= inst.stages[*stage].machines.len() {
                    return Err(ScheduleError::Event(format!(
                        "machine #{machine} of stage #{stage} does not exist"
                    )));
                }
                if to <= from {
                    return Err(ScheduleError::Event(format!(
                        "machine outage [{from}, {to}) is empty"
                    )));
                }
                fx.windows.push((*stage, *machine, *from, *to));
            }
            Event::NewOrder {
                job,
                processing,
                lags,
            } => {
                if processing.len() != g {
                    return Err(ScheduleError::Event(format!(
                        "new order {} has {} processing times, plant has {g} stages",
                        job.name,
                        processing.len()
                    )));
                }
                let l = lags.clone().unwrap_or_else(|| vec![Lag::default(); g - 1]);
                if l.len() != g - 1 {
                    return Err(ScheduleError::Event(format!(
                        "new order {} has {} lags, expected {}",
                        job.name,
                        l.len(),
                        g - 1
                    )));
                }
                fx.new_jobs.push((job.clone(), processing.clone(), l));
            }
        }
    }
    Ok(fx)
}

/// The new instance from `now` on: the surviving jobs (their started operations frozen),
/// then the redone ones, then the new orders. Returns it with the old-to-new job map and the
/// number of frozen operations.
fn rebuild(
    inst: &Instance,
    plan: &Plan,
    now: Time,
    fx: &Effects,
) -> (Instance, Vec<Option<usize>>, usize) {
    let (n, g) = (inst.n(), inst.g());
    let mut out = inst.clone();
    out.jobs.clear();
    out.processing.clear();
    out.frozen.clear();
    out.not_before = now;
    let mut lags: Vec<Vec<Lag>> = Vec::new();
    let mut job_map = vec![None; n];
    let mut frozen_count = 0;
    for j in 0..n {
        if fx.failed[j] {
            continue;
        }
        let nj = out.jobs.len();
        job_map[j] = Some(nj);
        out.jobs.push(inst.jobs[j].clone());
        out.processing.push(inst.processing[j].clone());
        lags.push((0..g - 1).map(|k| inst.lag(j, k)).collect());
        for k in 0..g {
            let a = plan.ops[j * g + k];
            if a.start < now {
                out.frozen.push(FrozenOp {
                    job: nj,
                    stage: k,
                    machine: a.machine,
                    start: a.start,
                });
                frozen_count += 1;
            } else {
                break;
            }
        }
    }
    for &(j, r) in &fx.redo {
        let mut job = inst.jobs[j].clone();
        job.name = format!("{}/redo", job.name);
        job.release = r;
        out.jobs.push(job);
        out.processing.push(inst.processing[j].clone());
        lags.push((0..g - 1).map(|k| inst.lag(j, k)).collect());
    }
    for (job, p, l) in &fx.new_jobs {
        out.jobs.push(job.clone());
        out.processing.push(p.clone());
        lags.push(l.clone());
    }
    out.lags = if lags.iter().flatten().all(|l| *l == Lag::default()) {
        Vec::new()
    } else {
        lags
    };
    (out, job_map, frozen_count)
}

/// Marks the machine outages as unavailable, letting running frozen operations finish first.
fn add_outages(out: &mut Instance, windows: &[(usize, usize, Time, Time)]) {
    for &(k, m, from, to) in windows {
        let mut s = from;
        for f in &out.frozen {
            if f.stage == k && f.machine == m {
                let e = f.start + out.proc_time(f.job, k, m);
                if f.start <= s && e > s {
                    s = e;
                }
            }
        }
        if s < to {
            out.stages[k].machines[m]
                .unavailable
                .push(Window { start: s, end: to });
        }
    }
}

/// The warm start: the surviving jobs (new numbers) in their old first-stage order.
fn warm_start(plan: &Plan, job_map: &[Option<usize>], g: usize) -> Vec<usize> {
    let mut order: Vec<(Time, usize)> = (0..job_map.len())
        .filter_map(|j| job_map[j].map(|nj| (plan.ops[j * g].start, nj)))
        .collect();
    order.sort_unstable();
    order.into_iter().map(|x| x.1).collect()
}

/// Of the operations not started at `now` and present in both plans: how many were compared
/// and how many changed machine or start.
fn stability(
    plan: &Plan,
    new_plan: &Plan,
    job_map: &[Option<usize>],
    now: Time,
    g: usize,
) -> (usize, usize) {
    let mut compared = 0;
    let mut moved = 0;
    for (j, nj) in job_map.iter().enumerate() {
        let Some(nj) = *nj else { continue };
        for k in 0..g {
            let old = plan.ops[j * g + k];
            if old.start < now {
                continue;
            }
            let new = new_plan.ops[nj * g + k];
            compared += 1;
            if new.machine != old.machine || new.start != old.start {
                moved += 1;
            }
        }
    }
    (compared, moved)
}
