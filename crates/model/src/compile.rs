//! Checking a scenario and resolving it into a [`Model`].
//!
//! Every check reports a [`Problem`] at a field path; all problems are collected so the user
//! sees every error of a file at once.

use std::collections::{HashMap, HashSet};

use crate::dist::Dist;
use crate::limits::{
    DRAIN_CAP_H, MAX_BREAKDOWNS, MAX_DURATION_H, MAX_HORIZON_DAYS, MAX_PATIENTS, MAX_UNITS,
};
use crate::scenario::{
    Area, Breakdowns, Consequence, Demand, Distribution, EquipmentPool, Scenario, Settings, Shift,
    StaffPool, Step,
};
use crate::span::{FieldPath, Problem};
use crate::{
    Arrivals, BreakdownModel, Calendar, DecisionModel, DemandModel, Keep, MaintenanceWindow, Model,
    Outcome, PlanningModel, ProductModel, Resource, ResourceKind, ShiftWindow, StepModel, UseModel,
};

const DAY_H: f64 = 24.0;

/// Checks a scenario and resolves it. Returns every problem found.
pub fn compile(sc: &Scenario) -> Result<Model, Vec<Problem>> {
    let mut c = Checker::default();
    let root = FieldPath::root();
    let s = &sc.scenario;
    let horizon_h = c.settings(s);

    let resources = c.resources(sc, horizon_h);
    let mut products = Vec::new();
    let mut product_names = HashSet::new();
    if sc.product.is_empty() {
        c.err(&root.key("product"), "the scenario has no product");
    }
    for (pi, p) in sc.product.iter().enumerate() {
        let pp = root.key("product").idx(pi);
        if !product_names.insert(p.name.as_str()) {
            c.err(
                &pp.key("name"),
                format!("product `{}` is defined twice", p.name),
            );
        }
        products.push(c.product(p, &pp, &resources));
    }

    let demand = c.demands(sc, horizon_h);
    let planning = c.planning(sc.planning.as_ref());
    let calendar = sc.calendar.as_ref().and_then(|spec| c.calendar(spec));

    if c.problems.is_empty() {
        Ok(Model {
            name: s.name.clone(),
            description: s.description.clone(),
            horizon_h: s.horizon_days * DAY_H,
            warmup_h: s.warmup_days * DAY_H,
            replications: s.replications,
            seed: s.seed,
            resources,
            products,
            demand,
            planning,
            calendar,
            scenario: sc.clone(),
        })
    } else {
        Err(c.problems)
    }
}

/// A number as a reader wants it: very large and very small ones in scientific notation.
fn num(v: f64) -> String {
    if v != 0.0 && !(1e-4..1e9).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

fn unit_name(u: crate::scenario::TimeUnit) -> &'static str {
    match u {
        crate::scenario::TimeUnit::Minutes => "minutes",
        crate::scenario::TimeUnit::Hours => "hours",
        crate::scenario::TimeUnit::Days => "days",
    }
}

/// Whether a resource of `kind` is what a `uses` entry keyed `key` refers to.
fn kind_is(key: &str, kind: ResourceKind) -> bool {
    matches!(
        (key, kind),
        ("equipment", ResourceKind::Equipment)
            | ("area", ResourceKind::Area { .. })
            | ("staff", ResourceKind::Staff)
    )
}

fn list<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<String> = it.map(|s| format!("`{s}`")).collect();
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(", ")
    }
}

#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn err(&mut self, path: &FieldPath, msg: impl Into<String>) {
        self.problems.push(Problem::new(path.clone(), msg));
    }

    /// Whether a time window's bounds (fields `names` of `at`) are finite with
    /// `0 ≤ start < end`, and `end ≤ upper` where an upper limit is given; else reports
    /// the problem at the end field.
    fn window_ok(
        &mut self,
        at: &FieldPath,
        names: [&str; 2],
        [start, end]: [f64; 2],
        upper: Option<f64>,
    ) -> bool {
        let ok = start.is_finite()
            && end.is_finite()
            && 0.0 <= start
            && start < end
            && upper.is_none_or(|u| end <= u);
        if !ok {
            let limit = upper.map(|u| format!(" ≤ {u}")).unwrap_or_default();
            self.err(
                &at.key(names[1]),
                format!(
                    "need 0 ≤ {} < {}{limit}, got {start} to {end}",
                    names[0], names[1]
                ),
            );
        }
        ok
    }

    fn positive(&mut self, path: &FieldPath, v: f64) -> bool {
        if v.is_finite() && v > 0.0 {
            true
        } else {
            self.err(path, format!("must be a positive number, got {v}"));
            false
        }
    }

    /// Poisson arrivals of `r` patients per `days` days (at `path`), if the rate is
    /// positive and within the patient budget; adds the expected patients over the horizon.
    fn poisson(
        &mut self,
        path: &FieldPath,
        r: f64,
        days: f64,
        horizon_h: f64,
        expected_patients: &mut f64,
    ) -> Option<Arrivals> {
        if self.positive_rate(path, r) && self.patient_budget(path, r, days, horizon_h) {
            *expected_patients += r / (days * DAY_H) * horizon_h;
            Some(Arrivals::Poisson {
                per_hour: r / (days * DAY_H),
            })
        } else {
            None
        }
    }

    fn positive_rate(&mut self, path: &FieldPath, v: f64) -> bool {
        if v.is_finite() && v > 0.0 {
            true
        } else {
            self.err(
                path,
                format!(
                    "must be a positive number of patients, got {v}; a plant without patients \
                     has no throughput or cost per dose"
                ),
            );
            false
        }
    }

    fn non_negative(&mut self, path: &FieldPath, v: f64) -> bool {
        if !(v.is_finite() && v >= 0.0) {
            self.err(path, format!("must be zero or more hours, got {v}"));
            false
        } else {
            self.hours_within_limit(path, v)
        }
    }

    /// Hours within the duration limit.
    fn hours_within_limit(&mut self, path: &FieldPath, h: f64) -> bool {
        if h > MAX_DURATION_H {
            self.err(
                path,
                format!(
                    "{} hours is longer than the limit of {MAX_DURATION_H} hours (100 years)",
                    num(h)
                ),
            );
            false
        } else {
            true
        }
    }

    /// A count of units, places or persons within [`MAX_UNITS`].
    fn units_within_limit(&mut self, path: &FieldPath, n: u32) {
        if n > MAX_UNITS {
            self.err(path, format!("{n} is more than the limit of {MAX_UNITS}"));
        }
    }

    /// Whether `rate` patients per `per_days` days over the horizon stay within the patient
    /// budget of a replication.
    fn patient_budget(
        &mut self,
        path: &FieldPath,
        rate: f64,
        per_days: f64,
        horizon_h: f64,
    ) -> bool {
        let expected = rate / (per_days * DAY_H) * horizon_h;
        if expected > MAX_PATIENTS {
            self.err(
                path,
                format!(
                    "{} patients per {} over the horizon of {} days are about {expected:.3e} \
                     patients per replication; the limit is {MAX_PATIENTS} (arrival rate × \
                     horizon)",
                    num(rate),
                    if per_days == 7.0 { "week" } else { "year" },
                    horizon_h / DAY_H
                ),
            );
            false
        } else {
            true
        }
    }

    /// Checks the `[scenario]` settings (horizon, warm-up, replications) and returns the
    /// horizon in hours for the budgets (the limit when the horizon is out of range).
    fn settings(&mut self, s: &Settings) -> f64 {
        let sp = FieldPath::root().key("scenario");
        if self.positive(&sp.key("horizon_days"), s.horizon_days)
            && s.horizon_days > MAX_HORIZON_DAYS
        {
            self.err(
                &sp.key("horizon_days"),
                format!(
                    "{} days is longer than the limit of {MAX_HORIZON_DAYS} days (100 years)",
                    num(s.horizon_days)
                ),
            );
        }
        let horizon_h = if s.horizon_days.is_finite() && s.horizon_days > 0.0 {
            s.horizon_days.min(MAX_HORIZON_DAYS) * DAY_H
        } else {
            MAX_HORIZON_DAYS * DAY_H
        };
        if !(s.warmup_days.is_finite() && s.warmup_days >= 0.0) {
            self.err(&sp.key("warmup_days"), "must be zero or more days");
        } else if s.warmup_days >= s.horizon_days {
            self.err(
                &sp.key("warmup_days"),
                format!(
                    "warm-up ({} days) must be shorter than the horizon ({} days)",
                    s.warmup_days, s.horizon_days
                ),
            );
        }
        if s.replications < 2 {
            self.err(
                &sp.key("replications"),
                "at least 2 replications are needed for confidence intervals",
            );
        }
        horizon_h
    }

    /// Checks every `[[demand]]` and the patients they bring together against the budget.
    fn demands(&mut self, sc: &Scenario, horizon_h: f64) -> Vec<DemandModel> {
        let root = FieldPath::root();
        let mut demand = Vec::new();
        // Patients a replication expects, summed over demands, against the patient budget.
        let mut expected_patients = 0.0;
        if sc.demand.is_empty() {
            self.err(&root.key("demand"), "the scenario has no demand");
        }
        for (di, d) in sc.demand.iter().enumerate() {
            let dp = root.key("demand").idx(di);
            if let Some(m) = self.demand(sc, d, &dp, horizon_h, &mut expected_patients) {
                demand.push(m);
            }
        }
        if expected_patients > MAX_PATIENTS {
            self.err(
                &root.key("demand"),
                format!(
                    "the demands together bring about {expected_patients:.0} patients per \
                     replication; the limit is {MAX_PATIENTS} (arrival rate × horizon); shorten \
                     the horizon or lower the rates"
                ),
            );
        }
        demand
    }

    /// Checks one demand at `dp`; adds the patients it brings to `expected_patients`.
    fn demand(
        &mut self,
        sc: &Scenario,
        d: &Demand,
        dp: &FieldPath,
        horizon_h: f64,
        expected_patients: &mut f64,
    ) -> Option<DemandModel> {
        let product = sc.product.iter().position(|p| p.name == d.product);
        if product.is_none() {
            self.err(
                &dp.key("product"),
                format!(
                    "unknown product `{}`; products are: {}",
                    d.product,
                    list(sc.product.iter().map(|p| p.name.as_str()))
                ),
            );
        }
        let arrivals = self.arrivals(
            d,
            dp,
            sc.scenario.horizon_days,
            horizon_h,
            expected_patients,
        );
        if self.positive(
            &dp.key("target_vein_to_vein_days"),
            d.target_vein_to_vein_days,
        ) && d.target_vein_to_vein_days > MAX_HORIZON_DAYS
        {
            self.err(
                &dp.key("target_vein_to_vein_days"),
                format!(
                    "{} days is longer than the limit of {MAX_HORIZON_DAYS} days (100 years)",
                    num(d.target_vein_to_vein_days)
                ),
            );
        }
        if !(d.weight.is_finite() && d.weight > 0.0) {
            self.err(&dp.key("weight"), "must be a positive number");
        }
        Some(DemandModel {
            product: product?,
            arrivals: arrivals?,
            target_v2v_h: d.target_vein_to_vein_days * DAY_H,
            weight: d.weight,
        })
    }

    /// The arrivals of one demand: exactly one of a yearly rate, a weekly rate or a list of
    /// apheresis days; adds the patients they bring to `expected_patients`.
    fn arrivals(
        &mut self,
        d: &Demand,
        dp: &FieldPath,
        horizon_days: f64,
        horizon_h: f64,
        expected_patients: &mut f64,
    ) -> Option<Arrivals> {
        let given = [
            d.patients_per_year.is_some(),
            d.patients_per_week.is_some(),
            d.apheresis_days.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if given != 1 {
            self.err(
                dp,
                "give exactly one of `patients_per_year`, `patients_per_week` or `apheresis_days`",
            );
            None
        } else if let Some(r) = d.patients_per_year {
            let path = dp.key("patients_per_year");
            self.poisson(&path, r, 365.0, horizon_h, expected_patients)
        } else if let Some(r) = d.patients_per_week {
            let path = dp.key("patients_per_week");
            self.poisson(&path, r, 7.0, horizon_h, expected_patients)
        } else if let Some(days) = &d.apheresis_days {
            let mut at_h = Vec::with_capacity(days.len());
            for (i, t) in days.iter().enumerate() {
                if !(t.is_finite() && *t >= 0.0 && *t < horizon_days) {
                    self.err(
                        &dp.key("apheresis_days").idx(i),
                        format!("{t} is outside the horizon [0, {})", horizon_days),
                    );
                } else {
                    at_h.push(t * DAY_H);
                }
            }
            if days.is_empty() {
                self.err(
                    &dp.key("apheresis_days"),
                    "the list of apheresis dates is empty",
                );
            }
            at_h.sort_by(f64::total_cmp);
            *expected_patients += at_h.len() as f64;
            Some(Arrivals::Times { at_h })
        } else {
            None
        }
    }

    /// Checks the equipment pools, areas and staff pools (names unique across all three) and
    /// resolves them in that order.
    fn resources(&mut self, sc: &Scenario, horizon_h: f64) -> Vec<Resource> {
        let root = FieldPath::root();
        let mut out = Vec::new();
        let mut seen: HashMap<&str, FieldPath> = HashMap::new();
        let mut inventory_ids: HashMap<&str, FieldPath> = HashMap::new();
        for (i, e) in sc.equipment.iter().enumerate() {
            let p = root.key("equipment").idx(i);
            self.unique(&mut seen, &e.name, &p);
            out.push(self.equipment(e, &p, &mut inventory_ids, horizon_h));
        }
        for (i, a) in sc.area.iter().enumerate() {
            let p = root.key("area").idx(i);
            self.unique(&mut seen, &a.name, &p);
            out.push(self.area(a, &p));
        }
        for (i, st) in sc.staff.iter().enumerate() {
            let p = root.key("staff").idx(i);
            self.unique(&mut seen, &st.name, &p);
            out.push(self.staff(st, &p));
        }
        out
    }

    /// Checks one equipment pool at `p`: count, requalification, inventory ids (unique across
    /// pools) and breakdowns.
    fn equipment<'a>(
        &mut self,
        e: &'a EquipmentPool,
        p: &FieldPath,
        inventory_ids: &mut HashMap<&'a str, FieldPath>,
        horizon_h: f64,
    ) -> Resource {
        if e.count == 0 {
            self.err(&p.key("count"), "an equipment pool needs at least 1 unit");
        }
        self.units_within_limit(&p.key("count"), e.count);
        if let Some(h) = e.requalification_hours
            && self.positive(&p.key("requalification_hours"), h)
        {
            self.hours_within_limit(&p.key("requalification_hours"), h);
        }
        if let Some(ids) = &e.inventory {
            self.inventory(ids, e.count, p, inventory_ids);
        }
        let breakdowns = e
            .failures
            .as_ref()
            .and_then(|f| self.breakdowns(f, e.count, &p.key("failures"), horizon_h));
        Resource {
            name: e.name.clone(),
            kind: ResourceKind::Equipment,
            capacity: e.count,
            capabilities: e.capabilities.clone(),
            dispatch: e.dispatch,
            calendar: None,
            breakdowns,
            floor_m2: None,
            maintenance: self.maintenance(&e.maintenance, p, e.count),
        }
    }

    /// Checks a pool's inventory ids: one per unit, none empty, none given twice.
    fn inventory<'a>(
        &mut self,
        ids: &'a [String],
        count: u32,
        p: &FieldPath,
        inventory_ids: &mut HashMap<&'a str, FieldPath>,
    ) {
        if ids.len() != count as usize {
            self.err(
                &p.key("inventory"),
                format!(
                    "{} inventory ids for {} units; give one id per unit, unit 1 first",
                    ids.len(),
                    count
                ),
            );
        }
        for (k, id) in ids.iter().enumerate() {
            let at = p.key("inventory").idx(k);
            if id.trim().is_empty() {
                self.err(&at, "an inventory id cannot be empty");
            } else if let Some(first) = inventory_ids.insert(id.as_str(), at.clone()) {
                self.err(
                    &at,
                    format!("inventory id `{id}` is already given at {first}; a device is one unit of one pool"),
                );
            }
        }
    }

    /// Checks a pool's breakdowns at `fp`: failure and repair times, and the expected number
    /// of breakdowns per replication against the limit.
    fn breakdowns(
        &mut self,
        f: &Breakdowns,
        count: u32,
        fp: &FieldPath,
        horizon_h: f64,
    ) -> Option<BreakdownModel> {
        let mut ok = self.positive(&fp.key("mtbf_hours"), f.mtbf_hours)
            && self.hours_within_limit(&fp.key("mtbf_hours"), f.mtbf_hours);
        let repair = self.duration(&f.repair, &fp.key("repair"));
        if let (true, Some(rep)) = (ok, &repair) {
            // Each unit fails and is repaired in turn until one year after the horizon.
            let cycle = f.mtbf_hours + rep.mean();
            let expected = f64::from(count) * (horizon_h + DRAIN_CAP_H) / cycle;
            if expected.is_nan() || expected > MAX_BREAKDOWNS {
                self.err(
                    &fp.key("mtbf_hours"),
                    format!(
                        "a unit fails every {} h and is repaired in {} h on average: \
                         about {expected:.3e} breakdowns per replication, more than the \
                         limit of {MAX_BREAKDOWNS}; failure and repair times are too \
                         short together",
                        f.mtbf_hours,
                        rep.mean()
                    ),
                );
                ok = false;
            }
        }
        match (ok, repair) {
            (true, Some(repair)) => Some(BreakdownModel {
                mtbf_h: f.mtbf_hours,
                repair,
                on_failure: f.on_failure,
            }),
            _ => None,
        }
    }

    /// Checks one area at `p`: capacity and floor space.
    fn area(&mut self, a: &Area, p: &FieldPath) -> Resource {
        if a.capacity == 0 {
            self.err(&p.key("capacity"), "an area must hold at least 1 batch");
        }
        self.units_within_limit(&p.key("capacity"), a.capacity);
        if let Some(m2) = a.floor_m2 {
            self.positive(&p.key("floor_m2"), m2);
        }
        Resource {
            name: a.name.clone(),
            kind: ResourceKind::Area { grade: a.grade },
            capacity: a.capacity,
            capabilities: a.capabilities.clone(),
            dispatch: a.dispatch,
            calendar: None,
            breakdowns: None,
            floor_m2: a.floor_m2,
            maintenance: self.maintenance(&a.maintenance, p, a.capacity),
        }
    }

    /// Checks one staff pool at `p` and resolves its shifts into a weekly calendar.
    fn staff(&mut self, st: &StaffPool, p: &FieldPath) -> Resource {
        if st.count == 0 {
            self.err(&p.key("count"), "a staff pool needs at least 1 person");
        }
        self.units_within_limit(&p.key("count"), st.count);
        if st.shift.is_empty() {
            self.err(
                &p.key("shift"),
                "a staff pool needs at least one shift; for round-the-clock cover write \
                 days = [\"all\"], start_hour = 0, end_hour = 24",
            );
        }
        let mut windows = Vec::new();
        for (si, sh) in st.shift.iter().enumerate() {
            self.shift(sh, &p.key("shift").idx(si), st.count, &mut windows);
        }
        Resource {
            name: st.name.clone(),
            kind: ResourceKind::Staff,
            capacity: st.count.max(
                st.shift
                    .iter()
                    .filter_map(|s| s.count)
                    .max()
                    .unwrap_or(st.count),
            ),
            capabilities: st.capabilities.clone(),
            dispatch: st.dispatch,
            calendar: Some(Calendar { windows }),
            breakdowns: None,
            floor_m2: None,
            maintenance: Vec::new(),
        }
    }

    /// Checks one shift at `sp` (hours, days, head count; `pool_count` when it gives none)
    /// and appends its weekly windows.
    fn shift(
        &mut self,
        sh: &Shift,
        sp: &FieldPath,
        pool_count: u32,
        windows: &mut Vec<ShiftWindow>,
    ) {
        let ok_range = self.window_ok(
            sp,
            ["start_hour", "end_hour"],
            [sh.start_hour, sh.end_hour],
            Some(24.0),
        );
        if sh.days.is_empty() {
            self.err(&sp.key("days"), "no day given");
        }
        if sh.count == Some(0) {
            self.err(
                &sp.key("count"),
                "a shift needs at least 1 person; leave out the days without cover",
            );
        }
        if let Some(n) = sh.count {
            self.units_within_limit(&sp.key("count"), n);
        }
        let count = sh.count.unwrap_or(pool_count);
        for (di, d) in sh.days.iter().enumerate() {
            let idx: Vec<usize> = match d.to_ascii_lowercase().as_str() {
                "all" => (0..7).collect(),
                "weekdays" => (0..5).collect(),
                "mon" => vec![0],
                "tue" => vec![1],
                "wed" => vec![2],
                "thu" => vec![3],
                "fri" => vec![4],
                "sat" => vec![5],
                "sun" => vec![6],
                other => {
                    self.err(
                        &sp.key("days").idx(di),
                        format!(
                            "unknown day `{other}`; use mon, tue, wed, thu, fri, sat, \
                             sun, weekdays or all"
                        ),
                    );
                    vec![]
                }
            };
            if ok_range {
                for day in idx {
                    windows.push(ShiftWindow {
                        start_h: day as f64 * DAY_H + sh.start_hour,
                        end_h: day as f64 * DAY_H + sh.end_hour,
                        count,
                    });
                }
            }
        }
    }

    fn unique<'a>(&mut self, seen: &mut HashMap<&'a str, FieldPath>, name: &'a str, p: &FieldPath) {
        if name.trim().is_empty() {
            self.err(&p.key("name"), "a resource needs a name");
        }
        if let Some(first) = seen.insert(name, p.clone()) {
            self.err(
                &p.key("name"),
                format!("resource name `{name}` is already used at {first}"),
            );
        }
    }

    fn duration(&mut self, d: &Distribution, p: &FieldPath) -> Option<Dist> {
        if !self.resolved(d, p) {
            return None;
        }
        let Some(unit) = d.unit() else {
            self.err(
                &p.key("unit"),
                "a duration needs a `unit` (\"minutes\", \"hours\" or \"days\")",
            );
            return None;
        };
        // Check in the units of the file, so that messages quote the numbers as written.
        let as_written = match Dist::from_spec(d, 1.0) {
            Ok(dist) => dist,
            Err((field, msg)) => {
                self.err(&p.key(field), msg);
                return None;
            }
        };
        if as_written.min() < 0.0 {
            self.err(
                p,
                format!(
                    "a duration cannot be negative, but this distribution reaches {} {}",
                    as_written.min(),
                    unit_name(unit)
                ),
            );
            return None;
        }
        // Durations stay within the limit: the largest value when bounded, else the mean and
        // the standard deviation.
        let limit = MAX_DURATION_H / unit.hours();
        let (what, v) = if as_written.max().is_finite() {
            ("reaches", as_written.max())
        } else if as_written.mean() > as_written.variance().sqrt() {
            ("has a mean of", as_written.mean())
        } else {
            ("has a standard deviation of", as_written.variance().sqrt())
        };
        if v > limit {
            self.err(
                p,
                format!(
                    "this duration {what} {} {u}; durations are limited to {limit} {u} (100 \
                     years)",
                    num(v),
                    u = unit_name(unit)
                ),
            );
            return None;
        }
        match Dist::from_spec(d, unit.hours()) {
            Ok(dist) => Some(dist),
            Err((field, msg)) => {
                self.err(&p.key(field), msg);
                None
            }
        }
    }

    /// False (with the problem) for an expansion model left unresolved: possible only as a
    /// step's duration, resolved before the checks by [`crate::load_with`].
    fn resolved(&mut self, d: &Distribution, p: &FieldPath) -> bool {
        if matches!(d, Distribution::ExpansionModel { .. }) {
            self.err(&p.key("dist"), crate::dist::UNRESOLVED_EXPANSION_MODEL);
            return false;
        }
        true
    }

    fn measurement(&mut self, d: &Distribution, p: &FieldPath) -> Option<Dist> {
        if !self.resolved(d, p) {
            return None;
        }
        if d.unit().is_some() {
            self.err(
                &p.key("unit"),
                "a measured value has no time unit; remove `unit`",
            );
            return None;
        }
        match Dist::from_spec(d, 1.0) {
            Ok(dist) => Some(dist),
            Err((field, msg)) => {
                self.err(&p.key(field), msg);
                None
            }
        }
    }

    fn product(
        &mut self,
        p: &crate::scenario::Product,
        pp: &FieldPath,
        resources: &[Resource],
    ) -> ProductModel {
        let mut names: HashMap<&str, usize> = HashMap::new();
        for (si, s) in p.step.iter().enumerate() {
            if names.insert(s.name.as_str(), si).is_some() {
                self.err(
                    &pp.key("step").idx(si).key("name"),
                    format!("step `{}` is defined twice in product `{}`", s.name, p.name),
                );
            }
        }
        if p.step.iter().all(|s| s.optional) {
            self.err(
                &pp.key("step"),
                "the product has no regular (non-optional) step",
            );
        }
        let remanufacture_from = p.remanufacture_from.as_ref().and_then(|n| {
            let r = names.get(n.as_str()).copied();
            match r {
                None => self.err(&pp.key("remanufacture_from"), format!("unknown step `{n}`")),
                Some(i) if p.step[i].optional => self.err(
                    &pp.key("remanufacture_from"),
                    format!(
                        "step `{n}` is optional; re-manufacture must restart at a regular step"
                    ),
                ),
                _ => {}
            }
            r
        });
        let last_regular = p.step.iter().rposition(|s| !s.optional);
        let mut steps = Vec::new();
        for (si, s) in p.step.iter().enumerate() {
            let sp = pp.key("step").idx(si);
            let at = StepAt {
                p,
                s,
                si,
                sp: &sp,
                names: &names,
            };
            let step = self.step(&at, resources, last_regular == Some(si));
            steps.push(step);
        }
        ProductModel {
            name: p.name.clone(),
            steps,
            remanufacture_from,
            max_remanufactures: p.max_remanufactures,
            max_rework: p.max_rework,
        }
    }

    fn step(&mut self, at: &StepAt<'_>, resources: &[Resource], is_last: bool) -> StepModel {
        let (s, sp) = (at.s, at.sp);
        let duration = self
            .duration(&s.duration, &sp.key("duration"))
            .unwrap_or(Dist::Fixed { value: 0.0 });
        let mut uses = Vec::new();
        for (ui, u) in s.uses.iter().enumerate() {
            uses.extend(self.step_use(u, &sp.key("uses").idx(ui), resources));
        }
        self.non_negative(&sp.key("cleaning_hours"), s.cleaning_hours);
        self.non_negative(&sp.key("transfer_hours"), s.transfer_hours);
        let on_hold_violation = self.hold_rule(at, is_last);
        let failure = self.step_failure(at);
        let decisions = self.decisions(at);
        let keep = self.keep(s, sp, &uses, resources);
        if s.optional
            && s.decision
                .iter()
                .any(|d| matches!(d.then, Consequence::Insert(_)))
        {
            self.err(
                &sp.key("decision"),
                "an optional step cannot insert further optional steps",
            );
        }

        StepModel {
            name: s.name.clone(),
            duration,
            uses,
            cleaning_h: s.cleaning_hours,
            transfer_h: s.transfer_hours,
            max_hold_h: s.max_hold_hours,
            on_hold_violation,
            failure,
            decisions,
            optional: s.optional,
            keep,
        }
    }

    /// The units the batch keeps after step `s` (its `blocking` and `keep` at `sp`), resolved
    /// against the uses that compiled. `keep` names equipment pools and areas that the step can
    /// use (directly or through a capability); staff are never kept; listing every equipment
    /// pool and area the step can use is the same as `blocking = true`. A non-empty `keep` with
    /// `blocking` written (true or false) is refused as ambiguous.
    fn keep(
        &mut self,
        s: &Step,
        sp: &FieldPath,
        uses: &[UseModel],
        resources: &[Resource],
    ) -> Keep {
        let kp = sp.key("keep");
        if !s.keep.is_empty()
            && let Some(b) = s.blocking
        {
            self.err(
                &kp,
                if b {
                    "give either `blocking = true` (keep all the step's equipment and areas) or \
                     `keep = [...]` (keep only those listed), not both"
                } else {
                    "`blocking = false` says the step keeps nothing, but `keep` lists what it \
                     keeps; remove one of them"
                },
            );
            return Keep::Nothing;
        }
        // Equipment pools and areas the step can use, in index order.
        let mut usable: Vec<usize> = uses
            .iter()
            .flat_map(|u| &u.candidates)
            .copied()
            .filter(|&r| resources[r].kind != ResourceKind::Staff)
            .collect();
        usable.sort_unstable();
        usable.dedup();
        let names = || list(usable.iter().map(|&r| resources[r].name.as_str()));
        if s.blocking == Some(true) {
            return if usable.is_empty() {
                Keep::Nothing
            } else {
                Keep::All
            };
        }
        let mut kept: Vec<usize> = Vec::new();
        for (i, id) in s.keep.iter().enumerate() {
            let at = kp.idx(i);
            let Some(r) = resources.iter().position(|r| r.name == *id) else {
                self.err(
                    &at,
                    format!(
                        "unknown equipment or area `{id}`; this step can keep: {}",
                        names()
                    ),
                );
                continue;
            };
            if resources[r].kind == ResourceKind::Staff {
                self.err(
                    &at,
                    format!(
                        "`{id}` is a staff pool; only equipment and areas are kept after a step \
                         (this step can keep: {})",
                        names()
                    ),
                );
                continue;
            }
            if usable.binary_search(&r).is_err() {
                self.err(
                    &at,
                    format!(
                        "this step does not use `{id}`; it can keep only what it uses: {}",
                        names()
                    ),
                );
                continue;
            }
            if kept.contains(&r) {
                self.err(&at, format!("`{id}` is listed twice"));
                continue;
            }
            kept.push(r);
        }
        kept.sort_unstable();
        if kept.is_empty() {
            Keep::Nothing
        } else if kept == usable {
            Keep::All
        } else {
            Keep::Only(kept)
        }
    }

    /// One entry of a step's `uses` at `up`: exactly one way to name the resource, which
    /// must exist and be large enough; `None` after reporting the error.
    fn step_use(
        &mut self,
        u: &crate::scenario::Use,
        up: &FieldPath,
        resources: &[Resource],
    ) -> Option<UseModel> {
        let given: Vec<(&str, &String)> = [
            ("equipment", u.equipment.as_ref()),
            ("area", u.area.as_ref()),
            ("staff", u.staff.as_ref()),
            ("capability", u.capability.as_ref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        if given.len() != 1 {
            self.err(
                up,
                "give exactly one of `equipment`, `area`, `staff` or `capability`",
            );
            return None;
        }
        let (key, name) = given[0];
        let candidates: Vec<usize> = match key {
            "capability" => resources
                .iter()
                .enumerate()
                .filter(|(_, r)| r.capabilities.iter().any(|c| c == name))
                .map(|(i, _)| i)
                .collect(),
            _ => resources
                .iter()
                .enumerate()
                .filter(|(_, r)| r.name == *name && kind_is(key, r.kind))
                .map(|(i, _)| i)
                .collect(),
        };
        if candidates.is_empty() {
            let msg = if key == "capability" {
                format!(
                    "no resource can serve this step: no equipment, area or staff offers \
                     capability `{name}`"
                )
            } else {
                let same_kind = resources.iter().filter(|r| kind_is(key, r.kind));
                format!(
                    "unknown {key} `{name}`; defined: {}",
                    list(same_kind.map(|r| r.name.as_str()))
                )
            };
            self.err(&up.key(key), msg);
            return None;
        }
        if u.count == 0 {
            self.err(&up.key("count"), "must be at least 1");
            return None;
        }
        let max_cap = candidates
            .iter()
            .map(|&c| resources[c].capacity)
            .max()
            .unwrap_or(0);
        if u.count > max_cap {
            self.err(
                &up.key("count"),
                format!(
                    "no resource can serve this step: it needs {} at once but `{name}` has \
                     at most {max_cap}",
                    u.count
                ),
            );
            return None;
        }
        if let Some(h) = u.hours
            && !(h.is_finite() && h > 0.0)
        {
            self.err(&up.key("hours"), format!("must be positive hours, got {h}"));
            return None;
        }
        if let Some(h) = u.hours
            && !self.hours_within_limit(&up.key("hours"), h)
        {
            return None;
        }
        Some(UseModel {
            candidates,
            count: u.count,
            hours: u.hours,
        })
    }

    /// `max_hold_hours` and `on_hold_violation`: what a batch that waits too long causes.
    fn hold_rule(&mut self, at: &StepAt<'_>, is_last: bool) -> Outcome {
        let (s, sp) = (at.s, at.sp);

        let mut on_hold_violation = Outcome::Proceed;
        match (s.max_hold_hours, &s.on_hold_violation) {
            (Some(h), cons) => {
                if !(h.is_finite() && h > 0.0) {
                    self.err(
                        &sp.key("max_hold_hours"),
                        format!("must be positive hours, got {h}"),
                    );
                } else if h > MAX_DURATION_H {
                    self.hours_within_limit(&sp.key("max_hold_hours"), h);
                } else if h < s.transfer_hours {
                    self.err(
                        &sp.key("max_hold_hours"),
                        format!(
                            "the hold time ({h} h) is shorter than the transfer time ({} h): every \
                             batch would expire on the way",
                            s.transfer_hours
                        ),
                    );
                }
                if is_last {
                    self.err(
                        &sp.key("max_hold_hours"),
                        "the last step has no next step to hold for",
                    );
                }
                match cons {
                    None => self.err(
                        &sp.key("max_hold_hours"),
                        "say what a violation causes with `on_hold_violation`",
                    ),
                    Some(cons) => {
                        if let Some(o) =
                            at.resolve(self, cons, &sp.key("on_hold_violation"), "hold violation")
                        {
                            on_hold_violation = o;
                        }
                    }
                }
            }
            (None, Some(_)) => self.err(
                &sp.key("on_hold_violation"),
                "there is no `max_hold_hours` for this consequence to apply to",
            ),
            (None, None) => {}
        }

        on_hold_violation
    }

    /// A step's `failure`: its probability and consequence (no certain loop without an exit).
    fn step_failure(&mut self, at: &StepAt<'_>) -> Option<(f64, Outcome)> {
        let (p, s, si, sp) = (at.p, at.s, at.si, at.sp);

        let mut failure = None;
        if let Some(f) = &s.failure {
            let fp = sp.key("failure");
            if !(f.probability.is_finite() && (0.0..=1.0).contains(&f.probability)) {
                self.err(
                    &fp.key("probability"),
                    format!("must be between 0 and 1, got {}", f.probability),
                );
            } else if let Some(o) =
                at.resolve(self, &f.consequence, &fp.key("consequence"), "failure")
            {
                let loops =
                    matches!(o, Outcome::Repeat) || matches!(o, Outcome::Goto(k) if k <= si);
                if loops && f.probability >= 1.0 && p.max_rework.is_none() {
                    self.err(
                        &fp.key("probability"),
                        "loop with no exit: the step always fails and sends the batch back; \
                         lower the probability or set the product's `max_rework`",
                    );
                }
                failure = Some((f.probability, o));
            }
        }

        failure
    }

    /// A step's `decision`s: one threshold each, a measurement, and no certain loop without
    /// an exit.
    fn decisions(&mut self, at: &StepAt<'_>) -> Vec<DecisionModel> {
        let (p, s, si, sp) = (at.p, at.s, at.si, at.sp);

        let mut decisions = Vec::new();
        for (di, d) in s.decision.iter().enumerate() {
            let dp = sp.key("decision").idx(di);
            let value = self.measurement(&d.value, &dp.key("value"));
            if d.below.is_some() && d.above.is_some() {
                self.err(
                    &dp.key("above"),
                    "give exactly one threshold: `below` or `above`, not both",
                );
                continue;
            }
            if d.below.is_none() && d.above.is_none() {
                self.err(&dp, "give exactly one threshold: `below` or `above`");
                continue;
            }
            let Some(then) = at.resolve(self, &d.then, &dp.key("then"), "decision") else {
                continue;
            };
            let Some(value) = value else { continue };
            let dm = DecisionModel {
                measure: d.measure.clone(),
                value,
                below: d.below,
                above: d.above,
                then,
            };
            let certain = match (dm.below, dm.above) {
                (Some(b), _) => dm.value.max() < b,
                (_, Some(a)) => dm.value.min() > a,
                _ => false,
            };
            let loops =
                matches!(then, Outcome::Repeat) || matches!(then, Outcome::Goto(k) if k <= si);
            if certain && loops && p.max_rework.is_none() {
                self.err(
                    &dp.key("then"),
                    "loop with no exit: every sampled value triggers this decision and sends the \
                     batch back",
                );
            }
            decisions.push(dm);
        }
        decisions
    }

    /// Maintenance windows of a pool or area with `units` units or places.
    fn maintenance(
        &mut self,
        list: &[crate::scenario::Maintenance],
        p: &FieldPath,
        units: u32,
    ) -> Vec<MaintenanceWindow> {
        let mut out = Vec::new();
        for (i, w) in list.iter().enumerate() {
            let wp = p.key("maintenance").idx(i);
            if !self.window_ok(
                &wp,
                ["start_hours", "end_hours"],
                [w.start_hours, w.end_hours],
                None,
            ) {
                continue;
            }
            if !self.hours_within_limit(&wp.key("end_hours"), w.end_hours) {
                continue;
            }
            if let Some(u) = w.unit
                && !(1..=units).contains(&u)
            {
                self.err(&wp.key("unit"), format!("must be between 1 and {units}"));
                continue;
            }
            out.push(MaintenanceWindow {
                unit: w.unit,
                start_h: w.start_hours,
                end_h: w.end_hours,
                reason: w.reason.clone(),
            });
        }
        out
    }

    /// The calendar anchor; problems located at `calendar.start`, `calendar.time_zone` or
    /// `calendar.holidays[i]`.
    fn calendar(&mut self, spec: &crate::scenario::CalendarSpec) -> Option<crate::Anchor> {
        match crate::Anchor::resolve(spec) {
            Ok(a) => Some(a),
            Err(problems) => {
                let p = FieldPath::root().key("calendar");
                for e in problems {
                    let mut at = p.key(e.field);
                    if let Some(i) = e.index {
                        at = at.idx(i);
                    }
                    self.err(&at, e.message);
                }
                None
            }
        }
    }

    /// The planner's objective (weighted tardiness, then makespan, when not given).
    fn planning(&mut self, pl: Option<&crate::scenario::Planning>) -> PlanningModel {
        use crate::scenario::{Combine, PlanCriterion};
        let Some(pl) = pl else {
            return PlanningModel::default();
        };
        let p = FieldPath::root().key("planning");
        if pl.objective.is_empty() || pl.objective.len() > 3 {
            self.err(&p.key("objective"), "give one to three criteria");
        }
        for (i, c) in pl.objective.iter().enumerate() {
            if pl.objective[..i].contains(c) {
                self.err(&p.key("objective").idx(i), "criterion listed twice");
            }
        }
        let weights = match (pl.combine, &pl.weights) {
            (Combine::Lexicographic, None) => vec![1.0; pl.objective.len()],
            (Combine::Lexicographic, Some(_)) => {
                self.err(
                    &p.key("weights"),
                    "weights apply only with combine = \"weighted\"",
                );
                vec![1.0; pl.objective.len()]
            }
            (Combine::Weighted, None) => {
                self.err(
                    &p.key("combine"),
                    "combine = \"weighted\" needs `weights`, one per criterion",
                );
                vec![1.0; pl.objective.len()]
            }
            (Combine::Weighted, Some(w)) => {
                if w.len() != pl.objective.len() {
                    self.err(
                        &p.key("weights"),
                        format!("{} weights for {} criteria", w.len(), pl.objective.len()),
                    );
                }
                for (i, x) in w.iter().enumerate() {
                    if !(x.is_finite() && *x >= 0.0) {
                        self.err(&p.key("weights").idx(i), "must be a number ≥ 0");
                    }
                }
                w.clone()
            }
        };
        let criteria: Vec<(PlanCriterion, f64)> = pl
            .objective
            .iter()
            .copied()
            .zip(weights.into_iter().chain(std::iter::repeat(1.0)))
            .collect();
        PlanningModel {
            criteria,
            combine: pl.combine,
        }
    }
}

/// The step being checked: its product, the step and its index, the path of its table in
/// the file, and the product's step names (for consequences that name a step).
struct StepAt<'a> {
    p: &'a crate::scenario::Product,
    s: &'a Step,
    si: usize,
    sp: &'a FieldPath,
    names: &'a HashMap<&'a str, usize>,
}

impl StepAt<'_> {
    /// Resolves a consequence written in this step (see [`resolve_consequence`]).
    fn resolve(
        &self,
        c: &mut Checker,
        cons: &Consequence,
        path: &FieldPath,
        ctx: &str,
    ) -> Option<Outcome> {
        resolve_consequence(c, self.p, self.names, cons, path, ctx)
    }
}

fn resolve_consequence(
    c: &mut Checker,
    p: &crate::scenario::Product,
    names: &HashMap<&str, usize>,
    cons: &Consequence,
    path: &FieldPath,
    ctx: &str,
) -> Option<Outcome> {
    let step_ref = |c: &mut Checker, n: &str, key: &str| -> Option<usize> {
        let r = names.get(n).copied();
        if r.is_none() {
            c.err(
                &path.key(key),
                format!(
                    "unknown step `{n}` in product `{}`; steps are: {}",
                    p.name,
                    list(p.step.iter().map(|s| s.name.as_str()))
                ),
            );
        }
        r
    };
    match cons {
        Consequence::Repeat => Some(Outcome::Repeat),
        Consequence::Lost => Some(Outcome::Lost),
        Consequence::Proceed => {
            if ctx == "hold violation" {
                Some(Outcome::Proceed)
            } else {
                c.err(
                    path,
                    format!("`proceed` is only allowed for hold violations, not a {ctx}"),
                );
                None
            }
        }
        Consequence::Remanufacture => {
            if p.remanufacture_from.is_none() {
                c.err(
                    path,
                    format!(
                        "`remanufacture` needs the product's `remanufacture_from` step (where \
                         stored starting material re-enters), which product `{}` lacks",
                        p.name
                    ),
                );
                None
            } else {
                Some(Outcome::Remanufacture)
            }
        }
        Consequence::Goto(n) => {
            let i = step_ref(c, n, "goto")?;
            if p.step[i].optional {
                c.err(
                    &path.key("goto"),
                    format!("step `{n}` is optional; use `insert` to run it"),
                );
                return None;
            }
            Some(Outcome::Goto(i))
        }
        Consequence::Insert(n) => {
            let i = step_ref(c, n, "insert")?;
            if !p.step[i].optional {
                c.err(
                    &path.key("insert"),
                    format!("step `{n}` is not optional; only optional steps can be inserted"),
                );
                return None;
            }
            Some(Outcome::Insert(i))
        }
    }
}
