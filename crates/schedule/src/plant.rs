//! From a plant model (`model::Model`) and concrete orders to a scheduling instance, and
//! from a schedule back to a `model::Plan` that the simulator can follow.
//!
//! Mapping (documented in `docs/scheduling.md`):
//! * stages = the regular (non-optional) steps of the orders' product, in order;
//! * machines of a stage = the units of the step's main resource: the candidates of its first
//!   equipment requirement (else of its first area requirement); a unit used by several steps
//!   is one physical device; a step with neither gets one virtual machine per order;
//! * processing time = the mean step duration; set-up = the step's cleaning time;
//!   minimum lag = transfer time to the next step; maximum lag = maximum hold;
//! * staff, shift calendars, random breakdowns, failures and decisions are left to the
//!   simulation that follows the plan;
//! * time unit: minutes from the model's time 0; weights are scaled by 100 to integers.

use model::{Model, Order, PlannedOp, ResourceKind};

use crate::error::ScheduleError;
use crate::instance::{Instance, Job, Lag, Machine, Stage, Time};
use crate::plan::Plan;

/// How the instance relates back to the model.
#[derive(Debug, Clone)]
pub struct PlantMap {
    /// Product of the orders.
    pub product: usize,
    /// Model step index of each stage.
    pub steps: Vec<usize>,
    /// `(resource, unit)` of each machine of each stage; `None` for virtual machines.
    pub units: Vec<Vec<Option<(usize, u32)>>>,
}

fn minutes(h: f64) -> Time {
    (h * 60.0).round() as Time
}

/// Builds the scheduling instance for `orders` on the plant of `model`.
pub fn instance_from_model(
    model: &Model,
    orders: &[Order],
) -> Result<(Instance, PlantMap), ScheduleError> {
    let Some(first) = orders.first() else {
        return Err(ScheduleError::Invalid("no orders to plan".into()));
    };
    let product = first.product;
    let Some(prod) = model.products.get(product) else {
        return Err(ScheduleError::Invalid(format!(
            "order {} refers to product #{product}, which the scenario does not define",
            first.id
        )));
    };
    if let Some(o) = orders.iter().find(|o| o.product != product) {
        return Err(ScheduleError::Invalid(format!(
            "order {} is for another product than order {}; plan one product at a time",
            o.id, first.id
        )));
    }
    let steps: Vec<usize> = (0..prod.steps.len())
        .filter(|&i| !prod.steps[i].optional)
        .collect();
    if steps.is_empty() {
        return Err(ScheduleError::Invalid(format!(
            "product {} has no regular step",
            prod.name
        )));
    }
    let n = orders.len();
    let mut stages = Vec::with_capacity(steps.len());
    let mut units = Vec::with_capacity(steps.len());
    for &si in &steps {
        let st = &prod.steps[si];
        let pick = |want: fn(&ResourceKind) -> bool| {
            st.uses.iter().find(|u| {
                u.candidates
                    .iter()
                    .any(|&c| model.resources.get(c).is_some_and(|r| want(&r.kind)))
            })
        };
        let main = pick(|k| matches!(k, ResourceKind::Equipment))
            .or_else(|| pick(|k| matches!(k, ResourceKind::Area { .. })));
        let mut machines = Vec::new();
        let mut us = Vec::new();
        match main {
            Some(u) => {
                for &c in &u.candidates {
                    let Some(r) = model.resources.get(c) else {
                        continue;
                    };
                    if matches!(r.kind, ResourceKind::Staff) {
                        continue;
                    }
                    for unit in 0..r.capacity {
                        let name = format!("{}#{}", r.name, unit + 1);
                        machines.push(Machine {
                            name: name.clone(),
                            speed_percent: 100,
                            unavailable: Vec::new(),
                            physical: Some(name),
                        });
                        us.push(Some((c, unit)));
                    }
                }
            }
            None => {
                for i in 0..n {
                    machines.push(Machine::plain(format!(
                        "{} (no equipment) {}",
                        st.name,
                        i + 1
                    )));
                    us.push(None);
                }
            }
        }
        if machines.is_empty() {
            return Err(ScheduleError::Invalid(format!(
                "step {} has no unit to run on",
                st.name
            )));
        }
        let c = minutes(st.cleaning_h);
        stages.push(Stage {
            name: st.name.clone(),
            machines,
            setup: (c > 0).then(|| vec![vec![c]]),
        });
        units.push(us);
    }
    let jobs: Vec<Job> = orders
        .iter()
        .map(|o| Job {
            name: o.id.clone(),
            release: minutes(o.release_h),
            due: minutes(o.due_h),
            weight: (o.weight * 100.0).round().max(0.0) as i64,
            product: 0,
        })
        .collect();
    let p_row: Vec<Time> = steps
        .iter()
        .map(|&si| minutes(prod.steps[si].duration.mean()).max(0))
        .collect();
    let lag_row: Vec<Lag> = steps
        .windows(2)
        .map(|w| {
            let s = &prod.steps[w[0]];
            Lag {
                min: minutes(s.transfer_h).max(0),
                max: s.max_hold_h.map(minutes),
            }
        })
        .collect();
    let inst = Instance {
        name: format!("{} / {}", model.name, prod.name),
        jobs,
        stages,
        processing: vec![p_row; n],
        lags: if lag_row.iter().all(|l| *l == Lag::default()) {
            Vec::new()
        } else {
            vec![lag_row; n]
        },
        frozen: Vec::new(),
        not_before: 0,
        permutation: false,
    };
    Ok((
        inst,
        PlantMap {
            product,
            steps,
            units,
        },
    ))
}

/// The plan in model terms (hours, resource units), for the simulator and reports.
pub fn to_model_plan(plan: &Plan, map: &PlantMap, orders: &[Order]) -> model::Plan {
    let ops = plan
        .ops
        .iter()
        .map(|a| {
            let unit = map
                .units
                .get(a.stage)
                .and_then(|u| u.get(a.machine))
                .copied()
                .flatten();
            PlannedOp {
                order: a.job,
                step: map.steps.get(a.stage).copied().unwrap_or(a.stage),
                resource: unit.map(|u| u.0),
                unit: unit.map_or(0, |u| u.1),
                start_h: a.start as f64 / 60.0,
                end_h: a.end as f64 / 60.0,
            }
        })
        .collect();
    model::Plan {
        orders: orders.to_vec(),
        ops,
    }
}
