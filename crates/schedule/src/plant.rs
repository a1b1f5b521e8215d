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
        let (stage, us) = stage_of_step(model, &prod.steps[si], n)?;
        stages.push(stage);
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

/// `(resource, unit)` of each machine of a stage; `None` for virtual machines.
type StageUnits = Vec<Option<(usize, u32)>>;

/// The stage of one step: a machine per unit of its main resource (the candidates of its
/// first equipment need, else of its first area need), or one virtual machine per order
/// when it has neither; with the `(resource, unit)` of each machine.
fn stage_of_step(
    model: &Model,
    st: &model::StepModel,
    n: usize,
) -> Result<(Stage, StageUnits), ScheduleError> {
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
    let stage = Stage {
        name: st.name.clone(),
        machines,
        setup: (c > 0).then(|| vec![vec![c]]),
    };
    Ok((stage, us))
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
            planned_op(
                a.job,
                map.steps.get(a.stage).copied().unwrap_or(a.stage),
                unit,
                a.start,
                a.end,
            )
        })
        .collect();
    model::Plan {
        orders: orders.to_vec(),
        ops,
    }
}

/// A planned operation of the model's plan: times from minutes to hours; `unit` is the
/// `(model resource, unit)` it runs on, if any.
fn planned_op(
    order: usize,
    step: usize,
    unit: Option<(usize, u32)>,
    start: Time,
    end: Time,
) -> PlannedOp {
    PlannedOp {
        order,
        step,
        resource: unit.map(|u| u.0),
        unit: unit.map_or(0, |u| u.1),
        start_h: start as f64 / 60.0,
        end_h: end as f64 / 60.0,
    }
}

/// How a [`crate::shop::Shop`] built by [`shop_from_model`] relates back to the model.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ShopMap {
    /// Model step index of each operation, per product.
    pub steps: Vec<Vec<usize>>,
    /// `(model resource, unit)` of each shop resource (unit 0 for areas and staff pools).
    pub units: Vec<(usize, u32)>,
}

/// Builds the plant planning problem for `orders` (of any of the model's products) on the
/// plant of `model`.
///
/// Mapping (documented in `docs/scheduling.md`):
/// * each regular (non-optional) step of an order's product is an operation with the step's
///   mean duration, every `uses` entry a need (equipment: that many distinct units of the
///   candidate pools; areas: places of one candidate area; staff: operators of one candidate
///   pool, for the step's first `hours` when given), cleaning after equipment and areas,
///   transfer time as minimum lag, maximum hold as a hard maximum lag, blocking when the step keeps all its equipment
///   and areas (`model::Keep::All`; keeping only some, `keep = [...]`, is refused);
/// * shift calendars are repeated week by week over the planning horizon (the latest release
///   plus the time to make every order one after the other, plus four weeks); with a calendar
///   anchor (`[calendar]`) each day's shifts are laid on that day's local wall clock instead
///   (daylight-saving changes, no cover on holidays, [`model::anchor`]); maintenance
///   windows take units (or area places) out of use;
/// * time unit: minutes from the model's time 0; weights are scaled by 100 to integers;
/// * the objective is the scenario's `[planning]` objective.
pub fn shop_from_model(
    model: &Model,
    orders: &[Order],
) -> Result<(crate::shop::Shop, ShopMap), ScheduleError> {
    use crate::shop::Batch;
    check_orders(model, orders)?;
    let horizon = calendar_horizon(model, orders);
    let (resources, units, of_model) = shop_resources(model, horizon);
    let mut products = Vec::with_capacity(model.products.len());
    let mut steps = Vec::with_capacity(model.products.len());
    for prod in &model.products {
        let (route, regular) = shop_route(model, prod, &of_model, orders)?;
        products.push(route);
        steps.push(regular);
    }
    let jobs = orders
        .iter()
        .map(|o| Batch {
            name: o.id.clone(),
            product: o.product,
            release: minutes(o.release_h),
            due: minutes(o.due_h),
            weight: (o.weight * 100.0).round().max(0.0) as i64,
        })
        .collect();
    let shop = crate::shop::Shop {
        name: model.name.clone(),
        resources,
        products,
        jobs,
        fixed: Vec::new(),
        not_before: 0,
        goal: planning_goal(model),
    };
    shop.validate()?;
    Ok((shop, ShopMap { steps, units }))
}

/// Refuses an empty order list, an order of an unknown product and non-finite order numbers.
fn check_orders(model: &Model, orders: &[Order]) -> Result<(), ScheduleError> {
    if orders.is_empty() {
        return Err(ScheduleError::Invalid("no orders to plan".into()));
    }
    for o in orders {
        if o.product >= model.products.len() {
            return Err(ScheduleError::Invalid(format!(
                "order {} refers to product #{}, which the scenario does not define",
                o.id, o.product
            )));
        }
        if !(o.release_h.is_finite() && o.due_h.is_finite() && o.weight.is_finite()) {
            return Err(ScheduleError::Invalid(format!(
                "order {}: release, due date and weight must be finite numbers",
                o.id
            )));
        }
    }
    Ok(())
}

/// The planning horizon for the shift calendars, minutes: the latest release plus the work of
/// every order one after the other plus four weeks (at most five years).
fn calendar_horizon(model: &Model, orders: &[Order]) -> Time {
    let work_h: f64 = orders
        .iter()
        .map(|o| model.products[o.product].remaining_mean_h(0))
        .sum();
    let latest = orders.iter().map(|o| o.release_h).fold(0.0, f64::max);
    minutes((latest + work_h + 4.0 * model::WEEK_H).min(5.0 * 8760.0))
}

/// Shop resources, model unit of each, and shop resources of each model resource.
type ShopResources = (
    Vec<crate::shop::Resource>,
    Vec<(usize, u32)>,
    Vec<Vec<usize>>,
);

/// The shop resources of the model, in model order: one per equipment unit, one per area and
/// one per staff pool, each with its availability over time.
fn shop_resources(model: &Model, horizon: Time) -> ShopResources {
    use crate::shop::{Resource, ResourceKind as K};
    let mut resources = Vec::new();
    let mut units = Vec::new();
    // shop resources of each model resource
    let mut of_model: Vec<Vec<usize>> = Vec::with_capacity(model.resources.len());
    for (ri, r) in model.resources.iter().enumerate() {
        let mut mine = Vec::new();
        let win = |w: &model::MaintenanceWindow| (minutes(w.start_h), minutes(w.end_h));
        match r.kind {
            ResourceKind::Equipment => {
                for u in 0..r.capacity {
                    let changes: Vec<(Time, Time, i64)> = r
                        .maintenance
                        .iter()
                        .filter(|w| w.unit.is_none_or(|x| x == u + 1))
                        .map(|w| {
                            let (a, b) = win(w);
                            (a, b, -1)
                        })
                        .collect();
                    mine.push(resources.len());
                    resources.push(Resource {
                        name: format!("{}#{}", r.name, u + 1),
                        pool: r.name.clone(),
                        kind: K::Unit,
                        capacity: 1,
                        segments: crate::shop::segments(1, &changes),
                    });
                    units.push((ri, u));
                }
            }
            ResourceKind::Area { .. } => {
                let changes: Vec<(Time, Time, i64)> = r
                    .maintenance
                    .iter()
                    .map(|w| {
                        let (a, b) = win(w);
                        (a, b, -i64::from(w.unit.unwrap_or(r.capacity)))
                    })
                    .collect();
                mine.push(resources.len());
                resources.push(Resource {
                    name: r.name.clone(),
                    pool: r.name.clone(),
                    kind: K::Place,
                    capacity: r.capacity,
                    segments: crate::shop::segments(r.capacity, &changes),
                });
                units.push((ri, 0));
            }
            ResourceKind::Staff => {
                let (base, changes) = staff_changes(model, r, horizon);
                mine.push(resources.len());
                resources.push(Resource {
                    name: r.name.clone(),
                    pool: r.name.clone(),
                    kind: K::Staff,
                    capacity: base,
                    segments: crate::shop::segments(base, &changes),
                });
                units.push((ri, 0));
            }
        }
        of_model.push(mine);
    }
    (resources, units, of_model)
}

/// A staff pool's base head count and its changes over the horizon: the full pool without a
/// calendar, else its shifts on the anchor's wall clock or repeated week by week.
fn staff_changes(
    model: &Model,
    r: &model::Resource,
    horizon: Time,
) -> (u32, Vec<(Time, Time, i64)>) {
    match (&r.calendar, &model.calendar) {
        (None, _) => (r.capacity, Vec::new()),
        (Some(cal), Some(anchor)) => {
            let ch = anchor
                .shift_intervals(&cal.windows, horizon)
                .into_iter()
                .map(|(a, b, c)| (a, b, i64::from(c)))
                .collect();
            (0, ch)
        }
        (Some(cal), None) => {
            let weeks = (horizon / minutes(model::WEEK_H)).max(0) + 1;
            let mut ch = Vec::new();
            for wk in 0..weeks {
                let at = wk * minutes(model::WEEK_H);
                for s in &cal.windows {
                    ch.push((
                        at + minutes(s.start_h),
                        at + minutes(s.end_h),
                        i64::from(s.count),
                    ));
                }
            }
            (0, ch)
        }
    }
}

/// The route of one product (its regular steps as operations) and the model step of each
/// operation; an order of a product without regular steps is refused.
fn shop_route(
    model: &Model,
    prod: &model::ProductModel,
    of_model: &[Vec<usize>],
    orders: &[Order],
) -> Result<(crate::shop::Route, Vec<usize>), ScheduleError> {
    use crate::shop::{Operation, Route};
    let regular: Vec<usize> = (0..prod.steps.len())
        .filter(|&i| !prod.steps[i].optional)
        .collect();
    let mut ops = Vec::with_capacity(regular.len());
    for &si in &regular {
        let st = &prod.steps[si];
        let blocking = step_blocking(model, prod, st)?;
        ops.push(Operation {
            name: st.name.clone(),
            duration: minutes(st.duration.mean()).max(0),
            needs: step_needs(model, st, of_model),
            cleaning: minutes(st.cleaning_h).max(0),
            min_lag: minutes(st.transfer_h).max(0),
            max_lag: st.max_hold_h.map(minutes),
            blocking,
        });
    }
    if let Some(o) = orders.iter().find(|o| {
        ops.is_empty()
            && model
                .products
                .get(o.product)
                .is_some_and(|p| p.name == prod.name)
    }) {
        return Err(ScheduleError::Invalid(format!(
            "order {}: product {} has no regular step",
            o.id, prod.name
        )));
    }
    let route = Route {
        name: prod.name.clone(),
        ops,
        variant_of: None,
    };
    Ok((route, regular))
}

/// Whether a step blocks its resources until the next starts (`keep`: all or nothing; keeping
/// only some is refused).
fn step_blocking(
    model: &Model,
    prod: &model::ProductModel,
    st: &model::StepModel,
) -> Result<bool, ScheduleError> {
    match &st.keep {
        model::Keep::Nothing => Ok(false),
        model::Keep::All => Ok(true),
        model::Keep::Only(kept) => {
            let names: Vec<&str> = kept
                .iter()
                .map(|&r| model.resources[r].name.as_str())
                .collect();
            Err(ScheduleError::Invalid(format!(
                "product {}, step {}: `keep = [{}]` keeps only some of the step's \
                 equipment and areas; the planner honours only keeping all of them \
                 (`blocking = true`) or none. The simulator honours `keep`",
                prod.name,
                st.name,
                names.join(", ")
            )))
        }
    }
}

/// The resource needs of a step: per `uses` entry, the shop resources of its candidates of
/// the same kind as the first.
fn step_needs(
    model: &Model,
    st: &model::StepModel,
    of_model: &[Vec<usize>],
) -> Vec<crate::shop::Need> {
    let mut needs = Vec::new();
    for u in &st.uses {
        let Some(&first) = u.candidates.first() else {
            continue;
        };
        let kind = model.resources[first].kind;
        let candidates: Vec<usize> = u
            .candidates
            .iter()
            .filter(|&&c| {
                std::mem::discriminant(&model.resources[c].kind) == std::mem::discriminant(&kind)
            })
            .flat_map(|&c| of_model[c].iter().copied())
            .collect();
        needs.push(crate::shop::Need {
            candidates,
            count: u.count,
            hold: u.hours.map(minutes),
        });
    }
    needs
}

/// The shop's goal from the scenario's `[planning]` criteria and how they combine.
fn planning_goal(model: &Model) -> crate::shop::Goal {
    use crate::shop::{Goal, Measure};
    use model::scenario::{Combine, PlanCriterion};
    let measure = |c: PlanCriterion| match c {
        PlanCriterion::Makespan => Measure::Makespan,
        PlanCriterion::WeightedTardiness => Measure::WeightedTardiness,
        PlanCriterion::TotalFlowTime => Measure::TotalFlowTime,
    };
    let crit = &model.planning.criteria;
    match model.planning.combine {
        Combine::Lexicographic => Goal::Lexicographic {
            criteria: crit.iter().map(|c| measure(c.0)).collect(),
        },
        Combine::Weighted => Goal::Weighted {
            terms: crit.iter().map(|c| (measure(c.0), c.1)).collect(),
        },
    }
}

/// A plant plan in model terms (hours, resource units), for the simulator and reports; each
/// operation names its first equipment unit (else its area) as the carrying resource.
pub fn shop_plan_to_model(
    shop: &crate::shop::Shop,
    plan: &crate::shop::ShopPlan,
    map: &ShopMap,
    orders: &[Order],
) -> model::Plan {
    use crate::shop::ResourceKind as K;
    let ops = plan
        .ops
        .iter()
        .map(|a| {
            let carrier = [K::Unit, K::Place].iter().find_map(|k| {
                a.uses
                    .iter()
                    .find(|u| shop.resources.get(u.resource).is_some_and(|r| r.kind == *k))
            });
            let unit = carrier.and_then(|u| map.units.get(u.resource)).copied();
            let product = shop.jobs.get(a.job).map_or(0, |b| b.product);
            let step = map
                .steps
                .get(product)
                .and_then(|s| s.get(a.op))
                .copied()
                .unwrap_or(a.op);
            planned_op(a.job, step, unit, a.start, a.end)
        })
        .collect();
    model::Plan {
        orders: orders.to_vec(),
        ops,
    }
}
