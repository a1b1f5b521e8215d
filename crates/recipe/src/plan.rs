//! The planner link: a bound recipe yields the product, resources and demand of a
//! simulation scenario (`model::Scenario`), so planning and execution read the
//! same process definition.
//!
//! Mapping:
//! - every recipe step becomes a scenario step with a triangular duration
//!   (min, target, max; fixed when min = max), its hold limit, transfer and
//!   cleaning times, failure and in-process decisions;
//! - steps tied together by a requirement `group` (e.g. one all-in-one device
//!   for the whole run) are merged into one scenario step, because the device
//!   is held from the first to the last of them; the merged duration is
//!   triangular with summed min, target and max (the mean is exact, the spread
//!   is wider than that of the true sum);
//! - resources are the equipment the binding found *fitting* (chosen or
//!   spare): equipment that fits exactly the same requirements forms one
//!   pool; areas (class `area`) become cleanroom areas with their grade and
//!   workstation count; every requirement becomes a `capability` use that any
//!   pool fitting it may serve;
//! - steps with `operators` use a staff pool described by [`PlanOptions`].
//! - a step with a controlled phase (soft sensor and controller) takes its
//!   duration from the expansion model (`dist = "expansion_model"`, the
//!   controller's strategy): the program reading the scenario simulates the
//!   cultures; the rest of a merged block is added at its nominal duration.

use std::collections::{BTreeMap, BTreeSet};

use model::scenario::{
    Area, Consequence, Decision, Demand, Dispatch, Distribution, EquipmentPool, Failure, Grade,
    Product, Scenario, Settings, Shift, StaffPool, Step as SStep, TimeUnit, Use,
};

use crate::bind::{Binding, Verdict};
use crate::equipment::{EquipmentClass, Inventory, ParamValue};
use crate::recipe::{Recipe, Step};

/// Study settings that a recipe does not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOptions {
    /// Scenario name (the recipe name when `None`).
    pub name: Option<String>,
    /// Simulated days.
    pub horizon_days: f64,
    /// Warm-up days.
    pub warmup_days: f64,
    /// Replications.
    pub replications: u32,
    /// Seed.
    pub seed: u64,
    /// Poisson patient arrivals per year.
    pub patients_per_year: f64,
    /// Target vein-to-vein time, days.
    pub target_vein_to_vein_days: f64,
    /// Operators on duty per shift (used when a step needs operators).
    pub operators: u32,
    /// Shift days (`weekdays`, `all`, `mon`, …).
    pub shift_days: Vec<String>,
    /// Shift start hour.
    pub shift_start_hour: f64,
    /// Shift end hour.
    pub shift_end_hour: f64,
    /// Dispatching rule of every resource.
    pub dispatch: Dispatch,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            name: None,
            horizon_days: 365.0,
            warmup_days: 60.0,
            replications: 20,
            seed: 1,
            patients_per_year: 24.0,
            target_vein_to_vein_days: 25.5,
            operators: 2,
            shift_days: vec!["weekdays".into()],
            shift_start_hour: 7.0,
            shift_end_hour: 15.0,
            dispatch: Dispatch::Fifo,
        }
    }
}

/// Why no scenario could be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// Some requirement is unbound.
    #[error(
        "the binding is incomplete: step `{step}` requirement `{requirement}` has no equipment; run `atmpflow recipe bind` for the reasons"
    )]
    Unbound {
        /// Step id.
        step: String,
        /// Requirement name.
        requirement: String,
    },
    /// The binding was made for another recipe.
    #[error("the binding is for recipe `{binding}`, not `{recipe}`")]
    WrongRecipe {
        /// Recipe id.
        recipe: String,
        /// Binding's recipe id.
        binding: String,
    },
    /// A requirement group mixes in an optional step.
    #[error(
        "step `{0}` is optional but lies inside a group of steps that hold the same equipment; optional steps cannot be merged"
    )]
    OptionalInGroup(String),
    /// The binding lacks a requirement of the recipe (made from an older recipe version).
    #[error(
        "the binding has no entry for step `{step}` requirement `{requirement}`; bind the recipe again"
    )]
    Stale {
        /// Step id.
        step: String,
        /// Requirement name.
        requirement: String,
    },
}

fn dist(min_h: f64, nominal_h: f64, max_h: f64) -> Distribution {
    if (max_h - min_h).abs() < 1e-12 {
        Distribution::Fixed {
            value: nominal_h,
            unit: Some(TimeUnit::Hours),
        }
    } else {
        Distribution::Triangular {
            min: min_h,
            mode: nominal_h,
            max: max_h,
            unit: Some(TimeUnit::Hours),
        }
    }
}

fn grade_of(v: Option<&ParamValue>) -> Grade {
    match v {
        Some(ParamValue::Text(t)) => match t.as_str() {
            "A" => Grade::A,
            "B" => Grade::B,
            "C" => Grade::C,
            "D" => Grade::D,
            _ => Grade::Cnc,
        },
        _ => Grade::Cnc,
    }
}

/// Build a simulation scenario from a recipe, its (complete) binding and the inventory.
/// Returns the scenario and notes on the approximations made.
pub fn scenario(
    recipe: &Recipe,
    binding: &Binding,
    inventory: &Inventory,
    opts: &PlanOptions,
) -> Result<(Scenario, Vec<String>), PlanError> {
    if binding.recipe != recipe.procedure.id {
        return Err(PlanError::WrongRecipe {
            recipe: recipe.procedure.id.clone(),
            binding: binding.recipe.clone(),
        });
    }
    let mut notes = Vec::new();
    let rid = &recipe.procedure.id;
    let block_of = blocks(recipe);
    let (fits_by_equipment, step_uses) = requirement_keys(recipe, binding)?;
    let fits = group_fits(recipe, &step_uses, &fits_by_equipment);
    let (equipment_pools, areas) = pools(inventory, &fits, opts);
    let (mut steps, model_name) = scenario_steps(recipe, &block_of, &step_uses, &mut notes)?;
    rename_step_references(&mut steps, recipe, &model_name);
    let remanufacture_from = recipe.procedure.remanufacture_from.as_ref().map(|r| {
        recipe
            .steps
            .iter()
            .position(|s| &s.id == r)
            .map_or_else(|| r.clone(), |k| model_name[k].clone())
    });

    let needs_staff = recipe.steps.iter().any(|s| s.operators.is_some());
    let staff = if needs_staff {
        vec![operators_pool(opts)]
    } else {
        Vec::new()
    };
    let sc = Scenario {
        scenario: Settings {
            name: opts
                .name
                .clone()
                .unwrap_or_else(|| recipe.procedure.name.clone()),
            description: format!(
                "Generated from recipe `{}` bound to `{}` as of {}",
                rid, binding.site, binding.as_of
            ),
            horizon_days: opts.horizon_days,
            warmup_days: opts.warmup_days,
            replications: opts.replications,
            seed: opts.seed,
        },
        equipment: equipment_pools,
        area: areas,
        staff,
        planning: None,
        calendar: None,
        product: vec![Product {
            name: rid.clone(),
            remanufacture_from,
            max_remanufactures: recipe.procedure.max_remanufactures,
            max_rework: None,
            step: steps,
        }],
        demand: vec![Demand {
            product: rid.clone(),
            patients_per_year: Some(opts.patients_per_year),
            patients_per_week: None,
            apheresis_days: None,
            target_vein_to_vein_days: opts.target_vein_to_vein_days,
            weight: 1.0,
        }],
        cost: None,
    };
    Ok((sc, notes))
}

/// Blocks of steps merged by groups: for each step, the index of the first step of its block
/// (a group spans from its first to its last step; overlapping spans merge).
fn blocks(recipe: &Recipe) -> Vec<usize> {
    let n = recipe.steps.len();
    let mut block_of: Vec<usize> = (0..n).collect();
    let mut spans: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (i, s) in recipe.steps.iter().enumerate() {
        for r in &s.requires {
            if let Some(g) = &r.group {
                let e = spans.entry(g.as_str()).or_insert((i, i));
                e.0 = e.0.min(i);
                e.1 = e.1.max(i);
            }
        }
    }
    let mut intervals: Vec<(usize, usize)> =
        spans.values().copied().filter(|(a, b)| a < b).collect();
    intervals.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (a, b) in intervals {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    for (a, b) in merged {
        for item in block_of.iter_mut().take(b + 1).skip(a) {
            *item = a;
        }
    }
    block_of
}

/// For each piece of equipment, the requirement keys it fits, each tagged `KEY#STEP`
/// with the step that asks for it.
type TaggedFits<'a> = BTreeMap<&'a str, BTreeSet<String>>;

/// Requirement keys and the equipment fitting each: the tagged keys each piece of equipment
/// fits, and the keys each step uses (in order, without repeats).
fn requirement_keys<'a>(
    recipe: &Recipe,
    binding: &'a Binding,
) -> Result<(TaggedFits<'a>, Vec<Vec<String>>), PlanError> {
    let rid = &recipe.procedure.id;
    let mut fits_by_equipment: TaggedFits<'a> = BTreeMap::new();
    let mut step_uses: Vec<Vec<String>> = vec![Vec::new(); recipe.steps.len()];
    for (i, s) in recipe.steps.iter().enumerate() {
        for r in &s.requires {
            let a = binding
                .get(&s.id, &r.name)
                .ok_or_else(|| PlanError::Stale {
                    step: s.id.clone(),
                    requirement: r.name.clone(),
                })?;
            if a.equipment.is_none() {
                return Err(PlanError::Unbound {
                    step: s.id.clone(),
                    requirement: r.name.clone(),
                });
            }
            let key = match &r.group {
                Some(g) => format!("{rid}/group/{g}"),
                None => format!("{rid}/{}/{}", s.id, r.name),
            };
            for c in &a.candidates {
                if c.verdict != Verdict::Rejected {
                    fits_by_equipment
                        .entry(c.equipment.as_str())
                        .or_default()
                        .insert(format!("{key}#{}", s.id));
                }
            }
            if !step_uses[i].contains(&key) {
                step_uses[i].push(key);
            }
        }
    }
    Ok((fits_by_equipment, step_uses))
}

/// The requirement keys each piece of equipment serves. A group's equipment must fit every
/// member: a group key is kept only when it fits all.
fn group_fits<'a>(
    recipe: &Recipe,
    step_uses: &[Vec<String>],
    fits_by_equipment: &TaggedFits<'a>,
) -> BTreeMap<&'a str, BTreeSet<String>> {
    let mut group_members: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (i, s) in recipe.steps.iter().enumerate() {
        for key in &step_uses[i] {
            group_members
                .entry(key.clone())
                .or_default()
                .insert(s.id.clone());
        }
    }
    let mut fits: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (e, tagged) in fits_by_equipment {
        let mut keys = BTreeSet::new();
        for (key, members) in &group_members {
            if members
                .iter()
                .all(|m| tagged.contains(&format!("{key}#{m}")))
            {
                keys.insert(key.clone());
            }
        }
        if !keys.is_empty() {
            fits.insert(e, keys);
        }
    }
    fits
}

/// Pools: equipment with the same fit signature and class; areas one by one.
fn pools(
    inventory: &Inventory,
    fits: &BTreeMap<&str, BTreeSet<String>>,
    opts: &PlanOptions,
) -> (Vec<EquipmentPool>, Vec<Area>) {
    let mut equipment_pools = Vec::new();
    let mut areas = Vec::new();
    let mut by_sig: BTreeMap<(BTreeSet<String>, bool), Vec<&str>> = BTreeMap::new();
    for e in &inventory.equipment {
        let Some(keys) = fits.get(e.id.as_str()) else {
            continue;
        };
        let is_area = e.class == EquipmentClass::Area;
        if is_area {
            let cap = e.capabilities.get("cleanroom");
            let workstations = cap
                .and_then(|c| c.parameters.get("workstations"))
                .and_then(ParamValue::canonical_range)
                .map_or(1, |(_, hi)| hi.max(1.0) as u32);
            areas.push(Area {
                name: e.id.clone(),
                grade: grade_of(cap.and_then(|c| c.parameters.get("grade"))),
                capacity: workstations,
                floor_m2: None,
                capabilities: keys.iter().cloned().collect(),
                dispatch: opts.dispatch,
                maintenance: Vec::new(),
            });
        } else {
            by_sig
                .entry((keys.clone(), false))
                .or_default()
                .push(e.id.as_str());
        }
    }
    for ((keys, _), members) in by_sig {
        let name = if members.len() <= 3 {
            members.join("+")
        } else {
            format!("{}+{}_more", members[0], members.len() - 1)
        };
        equipment_pools.push(EquipmentPool {
            name,
            count: members.len() as u32,
            capabilities: keys.into_iter().collect(),
            dispatch: opts.dispatch,
            failures: None,
            maintenance: Vec::new(),
            // the units are these inventory items, unit 1 first (the virtual plant and the
            // requalification windows read which item is which unit from here)
            inventory: Some(members.iter().map(|m| (*m).to_string()).collect()),
            requalification_hours: None,
        });
    }
    (equipment_pools, areas)
}

/// The scenario steps, one per block, and for each recipe step the name of the scenario
/// step it became.
fn scenario_steps(
    recipe: &Recipe,
    block_of: &[usize],
    step_uses: &[Vec<String>],
    notes: &mut Vec<String>,
) -> Result<(Vec<SStep>, Vec<String>), PlanError> {
    let n = recipe.steps.len();
    let mut model_name: Vec<String> = vec![String::new(); n];
    let mut steps = Vec::new();
    let mut i = 0;
    while i < n {
        let b = block_of[i];
        let mut j = i;
        while j + 1 < n && block_of[j + 1] == b {
            j += 1;
        }
        let block = &recipe.steps[i..=j];
        if block.len() > 1
            && let Some(o) = block.iter().find(|s| s.optional)
        {
            return Err(PlanError::OptionalInGroup(o.id.clone()));
        }
        let name = if block.len() == 1 {
            block[0].id.clone()
        } else {
            format!("{}..{}", block[0].id, block[block.len() - 1].id)
        };
        for m in &mut model_name[i..=j] {
            m.clone_from(&name);
        }
        steps.push(block_step(name, block, &step_uses[i..=j], notes));
        i = j + 1;
    }
    Ok((steps, model_name))
}

/// One scenario step from a block of recipe steps (one step, or the steps a group holds
/// together): summed durations, the capabilities used, operators, combined failure and the
/// hold limit of the last step. `uses_of` are the requirement keys of each step of the block.
fn block_step(
    name: String,
    block: &[Step],
    uses_of: &[Vec<String>],
    notes: &mut Vec<String>,
) -> SStep {
    let last = &block[block.len() - 1];
    let (mut mn, mut nom, mut mx) = (0.0, 0.0, 0.0);
    let mut uses: Vec<Use> = Vec::new();
    let mut failure_p = 1.0;
    let mut failure_c: Option<Consequence> = None;
    let mut decisions: Vec<Decision> = Vec::new();
    let mut cleaning: f64 = 0.0;
    let (mut staff_count, mut staff_hours, mut staff_steps) = (0u32, 0.0f64, Vec::new());
    for (k, s) in block.iter().enumerate() {
        mn += s.duration.min_h;
        nom += s.duration.nominal_h;
        mx += s.duration.max_h;
        if k + 1 < block.len() {
            // Transfers inside a merged block happen within the device.
            mn += s.transfer_h;
            nom += s.transfer_h;
            mx += s.transfer_h;
        }
        cleaning = cleaning.max(s.cleaning_h);
        for key in &uses_of[k] {
            if !uses
                .iter()
                .any(|u| u.capability.as_deref() == Some(key.as_str()))
            {
                uses.push(Use {
                    equipment: None,
                    area: None,
                    staff: None,
                    capability: Some(key.clone()),
                    count: 1,
                    hours: None,
                });
            }
        }
        if let Some(o) = &s.operators {
            staff_count = staff_count.max(o.count);
            staff_hours += o.hours.unwrap_or(s.duration.nominal_h);
            staff_steps.push(s.id.as_str());
        }
        if let Some(f) = &s.failure {
            failure_p *= 1.0 - f.probability;
            match &failure_c {
                None => failure_c = Some(f.consequence.clone()),
                Some(c) if *c != f.consequence => notes.push(format!(
                    "merged step `{name}`: failure consequences differ; `{c:?}` is used for all"
                )),
                Some(_) => {}
            }
        }
        decisions.extend(s.decision.iter().cloned());
    }
    if staff_count > 0 {
        uses.push(operators_use(
            &name,
            block,
            staff_count,
            staff_hours,
            &staff_steps,
            notes,
        ));
    }
    if block.len() > 1 {
        notes.push(format!(
            "steps {} hold the same equipment and are one scenario step `{name}` (triangular {:.1}/{:.1}/{:.1} h)",
            block.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", "),
            mn,
            nom,
            mx
        ));
    }
    let on_hold_violation = last.max_hold_h.map(|_| {
        last.on_hold_violation.clone().unwrap_or_else(|| {
            notes.push(format!(
                "step `{}`: no `on_hold_violation` given; the scenario records violations and proceeds",
                last.id
            ));
            Consequence::Proceed
        })
    });
    let duration = block_duration(&name, block, (mn, nom, mx), notes);
    SStep {
        name,
        duration,
        uses,
        cleaning_hours: cleaning,
        transfer_hours: last.transfer_h,
        max_hold_hours: last.max_hold_h,
        on_hold_violation,
        failure: failure_c.map(|c| Failure {
            probability: 1.0 - failure_p,
            consequence: c,
        }),
        decision: decisions,
        optional: block.len() == 1 && block[0].optional,
        blocking: None,
        keep: Vec::new(),
    }
}

/// The operators' use of a block: the most at once, and their hours (the whole step's
/// duration for a single step without `hours`); a merged block books them at its start.
fn operators_use(
    name: &str,
    block: &[Step],
    staff_count: u32,
    staff_hours: f64,
    staff_steps: &[&str],
    notes: &mut Vec<String>,
) -> Use {
    let whole = block.len() == 1
        && block[0]
            .operators
            .as_ref()
            .is_some_and(|o| o.hours.is_none());
    let u = Use {
        equipment: None,
        area: None,
        staff: Some("operators".into()),
        capability: None,
        count: staff_count,
        hours: if whole { None } else { Some(staff_hours) },
    };
    if block.len() > 1 {
        notes.push(format!(
            "merged step `{name}`: operator time of {} ({staff_hours:.1} h, {staff_count} at once) is booked at its start",
            staff_steps.join(", ")
        ));
    }
    u
}

/// The duration of a block: triangular over the summed bounds, or the expansion model's
/// for a block holding a controlled step.
fn block_duration(
    name: &str,
    block: &[Step],
    (mn, nom, mx): (f64, f64, f64),
    notes: &mut Vec<String>,
) -> Distribution {
    match block
        .iter()
        .find_map(|s| s.control.as_ref().map(|c| (s, c)))
    {
        None => dist(mn, nom, mx),
        Some((controlled, c)) => {
            // The controlled step lasts as long as the expansion model's culture; the rest of
            // the block (the other steps at their nominal duration, transfers inside it) is
            // added to every harvest day.
            let plus_hours = nom - controlled.duration.nominal_h;
            notes.push(format!(
                "step `{}`: phase `{}` is controlled ({}); its duration comes from the expansion model ({} patients, seed {}){}",
                controlled.id,
                c.phase,
                c.controller.name(),
                c.patients,
                c.seed,
                if plus_hours > 0.0 {
                    format!(", plus {plus_hours:.1} h of the rest of `{name}` at nominal durations")
                } else {
                    String::new()
                }
            ));
            Distribution::ExpansionModel {
                strategy: c.controller.strategy(),
                patients: c.patients,
                seed: c.seed,
                plus_hours,
            }
        }
    }
}

/// Step references in consequences point at recipe steps: rename them to scenario steps.
fn rename_step_references(steps: &mut [SStep], recipe: &Recipe, model_name: &[String]) {
    let rename = |c: &mut Consequence| match c {
        Consequence::Goto(t) | Consequence::Insert(t) => {
            if let Some(k) = recipe.steps.iter().position(|s| s.id == *t) {
                *t = model_name[k].clone();
            }
        }
        _ => {}
    };
    for s in steps {
        if let Some(f) = &mut s.failure {
            rename(&mut f.consequence);
        }
        if let Some(c) = &mut s.on_hold_violation {
            rename(c);
        }
        for d in &mut s.decision {
            rename(&mut d.then);
        }
    }
}

/// The operators' staff pool with the shift of the options.
fn operators_pool(opts: &PlanOptions) -> StaffPool {
    StaffPool {
        name: "operators".into(),
        count: opts.operators,
        capabilities: Vec::new(),
        dispatch: opts.dispatch,
        shift: vec![Shift {
            days: opts.shift_days.clone(),
            start_hour: opts.shift_start_hour,
            end_hour: opts.shift_end_hour,
            count: None,
        }],
    }
}
