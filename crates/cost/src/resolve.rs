//! Checking cost inputs against a scenario and turning them into cost lines, each with a
//! driver that says how its yearly amount follows from one simulated replication.

use std::collections::BTreeMap;

use model::{FieldPath, Grade, Model, Problem, ResourceKind};
use serde::Serialize;

use crate::annualise::{annuity, straight_line};
use crate::inputs::{
    Annualisation, Basis, CostInputs, EquipmentCost, HeadCountBasis, ItemCost, RoleCost, RoomCost,
};

/// The Table 2 cost categories of the position paper (§6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Purchase, qualification, maintenance and requalification of devices.
    Equipment,
    /// Cleanroom construction, ventilation, cleaning, monitoring.
    Facility,
    /// Salaries with overheads and training.
    Labour,
    /// Disposables, reagents, viral vector.
    Materials,
    /// Quality-control tests.
    Qc,
    /// Energy, transport, storage, documentation, audits.
    Operating,
    /// Published aggregates that cannot be split into the categories above.
    Other,
}

impl Category {
    /// All categories in report order.
    pub const ALL: [Category; 7] = [
        Category::Equipment,
        Category::Facility,
        Category::Labour,
        Category::Materials,
        Category::Qc,
        Category::Operating,
        Category::Other,
    ];

    /// The name used in JSON and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Category::Equipment => "equipment",
            Category::Facility => "facility",
            Category::Labour => "labour",
            Category::Materials => "materials",
            Category::Qc => "qc",
            Category::Operating => "operating",
            Category::Other => "other",
        }
    }
}

/// What a simulated count a variable cost is multiplied with.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "count", rename_all = "snake_case")]
pub enum Count {
    /// Batches started plus batches made again from stored material, per year.
    Batches,
    /// Runs started of these (flattened) steps, per year.
    StepRuns {
        /// Flattened step indices (products in order, steps in order).
        steps: Vec<usize>,
    },
    /// Failed runs of these steps, per year.
    StepFailures {
        /// Flattened step indices.
        steps: Vec<usize>,
    },
    /// Doses released per year.
    Doses,
    /// Patients admitted per year.
    Patients,
    /// Occupied unit-hours of a resource per year.
    BusyHours {
        /// Resource index.
        resource: usize,
    },
}

/// How the yearly amount of a line follows from a replication.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "driver", rename_all = "snake_case")]
pub enum Driver {
    /// The same amount every year.
    Fixed {
        /// Amount per year.
        per_year: f64,
    },
    /// `unit_cost` times a simulated count per year.
    PerCount {
        /// Cost per counted unit (price × quantity).
        unit_cost: f64,
        /// The count.
        count: Count,
    },
    /// Staff cost with the head count derived from the simulated hours of a staff pool.
    StaffHours {
        /// Cost of one head per year.
        per_head: f64,
        /// Staff pool index.
        resource: usize,
        /// Productive hours per head and year.
        productive_hours: f64,
        /// Round up to whole heads.
        whole_heads: bool,
    },
}

/// One cost line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// Name shown in reports.
    pub name: String,
    /// Category.
    pub category: Category,
    /// How the amount is found.
    pub driver: Driver,
}

impl Line {
    /// Whether the line grows with activity (variable) or not (fixed).
    pub fn is_variable(&self) -> bool {
        !matches!(self.driver, Driver::Fixed { .. })
    }
}

/// Cost inputs checked against a scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostModel {
    /// Currency label.
    pub currency: String,
    /// Price basis note.
    pub price_basis: String,
    /// Annualisation used in the totals.
    pub annualisation: Annualisation,
    /// Discount rate of the annuity.
    pub discount_rate: Option<f64>,
    /// The lines.
    pub lines: Vec<Line>,
    /// Investments (equipment and rooms) annualised as an annuity, per year.
    pub capital_annuity: f64,
    /// Investments annualised straight-line, per year.
    pub capital_straight_line: f64,
    /// Total investment (purchase, qualification, construction).
    pub investment: f64,
}

fn check_amount(p: &mut Vec<Problem>, path: FieldPath, v: f64) {
    if !v.is_finite() || v < 0.0 {
        p.push(Problem::new(
            path,
            format!("must be a finite amount of at least 0, got {v}"),
        ));
    }
}

fn check_positive(p: &mut Vec<Problem>, path: FieldPath, v: f64) {
    if !v.is_finite() || v <= 0.0 {
        p.push(Problem::new(
            path,
            format!("must be greater than 0, got {v}"),
        ));
    }
}

impl CostModel {
    /// Checks the inputs against the scenario and builds the cost lines. Problems carry field
    /// paths under `cost.` for [`model::SourceFile::errors`] on the file the inputs came from.
    pub fn resolve(inputs: &CostInputs, m: &Model) -> Result<CostModel, Vec<Problem>> {
        let mut r = Resolver::new(inputs, m);
        r.check_discount_rate();
        for (i, e) in inputs.equipment.iter().enumerate() {
            r.equipment(i, e);
        }
        let grades = r.grades();
        let rooms = r.rooms();
        r.facility(&grades, &rooms);
        for (i, role) in inputs.role.iter().enumerate() {
            r.role(i, role);
        }
        r.items();
        r.finish()
    }
}

/// A room to be costed: its name, grade and floor area, and the field it was given in.
type Room = (String, Grade, f64, FieldPath);

/// What [`CostModel::resolve`] builds up while it walks the inputs: the problems found, the
/// cost lines, and the sums of the annualised capital under both annualisations.
struct Resolver<'a> {
    inputs: &'a CostInputs,
    m: &'a Model,
    root: FieldPath,
    p: Vec<Problem>,
    lines: Vec<Line>,
    rate: f64,
    cap_ann: f64,
    cap_sl: f64,
    investment: f64,
}

impl<'a> Resolver<'a> {
    fn new(inputs: &'a CostInputs, m: &'a Model) -> Self {
        Resolver {
            inputs,
            m,
            root: FieldPath::root().key("cost"),
            p: Vec::new(),
            lines: Vec::new(),
            rate: inputs.discount_rate.unwrap_or(0.0),
            cap_ann: 0.0,
            cap_sl: 0.0,
            investment: 0.0,
        }
    }

    /// The discount rate is a fraction below 1, and the annuity needs one.
    fn check_discount_rate(&mut self) {
        let inputs = self.inputs;
        if let Some(r) = inputs.discount_rate
            && (!r.is_finite() || !(0.0..1.0).contains(&r))
        {
            self.p.push(Problem::new(
                self.root.key("discount_rate"),
                format!("must be at least 0 and below 1 (0.05 = 5 %), got {r}"),
            ));
        }
        let needs_rate = inputs.annualisation == Annualisation::Annuity
            && (!inputs.equipment.is_empty() || !inputs.grade.is_empty());
        if needs_rate && inputs.discount_rate.is_none() {
            self.p.push(Problem::new(
                self.root.clone(),
                "`discount_rate` is missing: the annuity needs it (e.g. discount_rate = 0.05), \
                 or set annualisation = \"straight_line\"",
            ));
        }
    }

    /// Adds an investment to the capital sums and returns its yearly amount under the chosen
    /// annualisation.
    fn capital(&mut self, inv: f64, life: f64) -> f64 {
        let a = annuity(inv, self.rate, life);
        let s = straight_line(inv, life);
        self.cap_ann += a;
        self.cap_sl += s;
        self.investment += inv;
        match self.inputs.annualisation {
            Annualisation::Annuity => a,
            Annualisation::StraightLine => s,
        }
    }

    /// One `[[cost.equipment]]` entry: its capital line and its running-cost line.
    fn equipment(&mut self, i: usize, e: &EquipmentCost) {
        let m = self.m;
        let p = &mut self.p;
        let at = self.root.key("equipment").idx(i);
        check_amount(p, at.key("purchase_eur"), e.purchase_eur);
        check_amount(p, at.key("qualification_eur"), e.qualification_eur);
        check_positive(p, at.key("useful_life_years"), e.useful_life_years);
        check_amount(
            p,
            at.key("maintenance_eur_per_year"),
            e.maintenance_eur_per_year,
        );
        check_amount(
            p,
            at.key("requalification_eur_per_year"),
            e.requalification_eur_per_year,
        );
        let pool_units = match &e.pool {
            Some(name) => match m.resource(name) {
                Some(id) if m.resources[id].kind == ResourceKind::Equipment => {
                    Some(m.resources[id].capacity)
                }
                _ => {
                    p.push(Problem::new(
                        at.key("pool"),
                        format!(
                            "no equipment pool `{name}` in the scenario (pools: {})",
                            names(m, |k| k == ResourceKind::Equipment)
                        ),
                    ));
                    return;
                }
            },
            None => None,
        };
        let Some(units) = e.units.or(pool_units) else {
            p.push(Problem::new(
                at.clone(),
                "give `pool` (an equipment pool of the scenario) or `units`",
            ));
            return;
        };
        let Some(name) = e.name.clone().or_else(|| e.pool.clone()) else {
            p.push(Problem::new(at.clone(), "give `name` or `pool`"));
            return;
        };
        if e.useful_life_years <= 0.0 || !e.useful_life_years.is_finite() {
            return;
        }
        let u = f64::from(units);
        let per_year = self.capital(
            u * (e.purchase_eur + e.qualification_eur),
            e.useful_life_years,
        );
        self.lines.push(Line {
            name: format!("{name}: purchase and qualification ({units} units)"),
            category: Category::Equipment,
            driver: Driver::Fixed { per_year },
        });
        let running = u * (e.maintenance_eur_per_year + e.requalification_eur_per_year);
        if running > 0.0 {
            self.lines.push(Line {
                name: format!("{name}: maintenance and requalification"),
                category: Category::Equipment,
                driver: Driver::Fixed { per_year: running },
            });
        }
    }

    /// Checks the `[[cost.grade]]` entries; returns the index of the entry for each grade.
    fn grades(&mut self) -> BTreeMap<Grade, usize> {
        let p = &mut self.p;
        let mut grades: BTreeMap<Grade, usize> = BTreeMap::new();
        for (i, g) in self.inputs.grade.iter().enumerate() {
            let at = self.root.key("grade").idx(i);
            if grades.insert(g.grade, i).is_some() {
                p.push(Problem::new(
                    at.key("grade"),
                    format!("grade {:?} is given twice", g.grade),
                ));
            }
            check_amount(p, at.key("build_eur_per_m2"), g.build_eur_per_m2);
            check_positive(p, at.key("useful_life_years"), g.useful_life_years);
            for (k, v) in [
                ("hvac_eur_per_m2_year", g.hvac_eur_per_m2_year),
                ("cleaning_eur_per_m2_year", g.cleaning_eur_per_m2_year),
                ("monitoring_eur_per_m2_year", g.monitoring_eur_per_m2_year),
                (
                    "requalification_eur_per_m2_year",
                    g.requalification_eur_per_m2_year,
                ),
            ] {
                check_amount(p, at.key(k), v);
            }
        }
        grades
    }

    /// The rooms to cost: every `[[cost.room]]` entry, then every scenario area no entry
    /// covers.
    fn rooms(&mut self) -> Vec<Room> {
        let m = self.m;
        let mut rooms: Vec<Room> = Vec::new();
        let mut covered = vec![false; m.resources.len()];
        for (i, rc) in self.inputs.room.iter().enumerate() {
            let at = self.root.key("room").idx(i);
            if let Some(room) = self.room(rc, at, &mut covered) {
                rooms.push(room);
            }
        }
        for (id, r) in m.resources.iter().enumerate() {
            let ResourceKind::Area { grade } = r.kind else {
                continue;
            };
            if covered[id] {
                continue;
            }
            match r.floor_m2 {
                Some(f) => rooms.push((r.name.clone(), grade, f, self.root.key("room"))),
                None => self.p.push(Problem::new(
                    self.root.clone(),
                    format!(
                        "area `{}` has no `floor_m2` in the scenario; give it there or add \
                         [[cost.room]] with area = \"{}\" and floor_m2",
                        r.name, r.name
                    ),
                )),
            }
        }
        rooms
    }

    /// One `[[cost.room]]` entry: a scenario area (marked in `covered`) or an extra room.
    fn room(&mut self, rc: &RoomCost, at: FieldPath, covered: &mut [bool]) -> Option<Room> {
        let m = self.m;
        let p = &mut self.p;
        let (name, grade, floor) = match &rc.area {
            Some(a) => {
                let Some(id) = m
                    .resource(a)
                    .filter(|&id| matches!(m.resources[id].kind, ResourceKind::Area { .. }))
                else {
                    p.push(Problem::new(
                        at.key("area"),
                        format!(
                            "no area `{a}` in the scenario (areas: {})",
                            names(m, |k| matches!(k, ResourceKind::Area { .. }))
                        ),
                    ));
                    return None;
                };
                if covered[id] {
                    p.push(Problem::new(
                        at.key("area"),
                        format!("area `{a}` has two room entries"),
                    ));
                }
                covered[id] = true;
                let ResourceKind::Area { grade } = m.resources[id].kind else {
                    return None;
                };
                (
                    rc.name.clone().unwrap_or_else(|| a.clone()),
                    rc.grade.unwrap_or(grade),
                    rc.floor_m2.or(m.resources[id].floor_m2),
                )
            }
            None => {
                let Some(grade) = rc.grade else {
                    p.push(Problem::new(
                        at.clone(),
                        "a room without `area` needs `grade`",
                    ));
                    return None;
                };
                let Some(name) = rc.name.clone() else {
                    p.push(Problem::new(at.clone(), "give `name` or `area`"));
                    return None;
                };
                (name, grade, rc.floor_m2)
            }
        };
        let Some(floor) = floor else {
            p.push(Problem::new(
                at.clone(),
                format!("`floor_m2` is missing for room `{name}`"),
            ));
            return None;
        };
        check_positive(p, at.key("floor_m2"), floor);
        Some((name, grade, floor, at))
    }

    /// The facility lines of each room: construction, and the yearly costs per m² of its
    /// grade.
    fn facility(&mut self, grades: &BTreeMap<Grade, usize>, rooms: &[Room]) {
        for (name, grade, floor, at) in rooms {
            let Some(&gi) = grades.get(grade) else {
                self.p.push(Problem::new(
                    at.clone(),
                    format!("no [[cost.grade]] entry for grade {grade:?}, needed by room `{name}`"),
                ));
                continue;
            };
            let g = &self.inputs.grade[gi];
            if g.useful_life_years <= 0.0 || !g.useful_life_years.is_finite() {
                continue;
            }
            let per_year = self.capital(floor * g.build_eur_per_m2, g.useful_life_years);
            self.lines.push(Line {
                name: format!("{name}: construction (grade {grade:?}, {floor} m²)"),
                category: Category::Facility,
                driver: Driver::Fixed { per_year },
            });
            for (what, v) in [
                ("ventilation", g.hvac_eur_per_m2_year),
                ("cleaning", g.cleaning_eur_per_m2_year),
                ("environmental monitoring", g.monitoring_eur_per_m2_year),
                ("requalification", g.requalification_eur_per_m2_year),
            ] {
                if v > 0.0 {
                    self.lines.push(Line {
                        name: format!("{name}: {what}"),
                        category: Category::Facility,
                        driver: Driver::Fixed {
                            per_year: v * floor,
                        },
                    });
                }
            }
        }
    }

    /// One `[[cost.role]]` entry: a fixed head count, or heads derived from a staff pool.
    fn role(&mut self, i: usize, role: &RoleCost) {
        let p = &mut self.p;
        let at = self.root.key("role").idx(i);
        check_amount(p, at.key("salary_eur_per_year"), role.salary_eur_per_year);
        check_amount(p, at.key("overhead_fraction"), role.overhead_fraction);
        check_amount(
            p,
            at.key("training_eur_per_year"),
            role.training_eur_per_year,
        );
        let per_head =
            role.salary_eur_per_year * (1.0 + role.overhead_fraction) + role.training_eur_per_year;
        match (role.head_count, &role.staff) {
            (Some(_), Some(_)) => p.push(Problem::new(
                at.key("head_count"),
                "give either `head_count` or `staff`, not both",
            )),
            (None, None) => p.push(Problem::new(
                at.clone(),
                "give `head_count`, or `staff` (a staff pool of the scenario) with `basis` \
                 and `productive_hours_per_year`",
            )),
            (Some(h), None) => {
                check_amount(p, at.key("head_count"), h);
                self.lines.push(Line {
                    name: format!("{}: {h} heads", role.name),
                    category: Category::Labour,
                    driver: Driver::Fixed {
                        per_year: h * per_head,
                    },
                });
            }
            (None, Some(staff)) => {
                if let Some(line) = self.staffed_role(role, staff, per_head, &at) {
                    self.lines.push(line);
                }
            }
        }
    }

    /// The labour line of a role that staffs the pool `staff`: heads for its shifts, or for
    /// the hours it is used in the simulation.
    fn staffed_role(
        &mut self,
        role: &RoleCost,
        staff: &str,
        per_head: f64,
        at: &FieldPath,
    ) -> Option<Line> {
        let m = self.m;
        let p = &mut self.p;
        let Some(id) = m
            .resource(staff)
            .filter(|&id| m.resources[id].kind == ResourceKind::Staff)
        else {
            p.push(Problem::new(
                at.key("staff"),
                format!(
                    "no staff pool `{staff}` in the scenario (staff pools: {})",
                    names(m, |k| k == ResourceKind::Staff)
                ),
            ));
            return None;
        };
        let Some(hours) = role.productive_hours_per_year else {
            p.push(Problem::new(
                at.clone(),
                "`productive_hours_per_year` is missing (hours one head works per \
                 year, e.g. 1600)",
            ));
            return None;
        };
        if !hours.is_finite() || hours <= 0.0 {
            check_positive(p, at.key("productive_hours_per_year"), hours);
            return None;
        }
        Some(match role.basis.unwrap_or(HeadCountBasis::Shifts) {
            HeadCountBasis::Shifts => {
                let r = &m.resources[id];
                let weekly = match &r.calendar {
                    Some(c) => c.capacity_hours(0.0, model::WEEK_H),
                    None => f64::from(r.capacity) * model::WEEK_H,
                };
                let mut heads = weekly * (365.0 / 7.0) / hours;
                if role.whole_heads {
                    heads = (heads - 1e-9).ceil().max(0.0);
                }
                Line {
                    name: format!(
                        "{}: {heads:.1} heads to staff the shifts of `{staff}`",
                        role.name
                    ),
                    category: Category::Labour,
                    driver: Driver::Fixed {
                        per_year: heads * per_head,
                    },
                }
            }
            HeadCountBasis::Demand => Line {
                name: format!("{}: heads for the simulated hours of `{staff}`", role.name),
                category: Category::Labour,
                driver: Driver::StaffHours {
                    per_head,
                    resource: id,
                    productive_hours: hours,
                    whole_heads: role.whole_heads,
                },
            },
        })
    }

    /// Materials, QC tests, operating and other costs.
    fn items(&mut self) {
        let inputs = self.inputs;
        for (key, cat, items) in [
            ("material", Category::Materials, &inputs.material),
            ("qc_test", Category::Qc, &inputs.qc_test),
            ("operating", Category::Operating, &inputs.operating),
            ("other", Category::Other, &inputs.other),
        ] {
            for (i, it) in items.iter().enumerate() {
                let at = self.root.key(key).idx(i);
                if let Some(line) = item_line(it, cat, &at, self.m, &mut self.p) {
                    self.lines.push(line);
                }
            }
        }
    }

    /// The cost model, or every problem found.
    fn finish(self) -> Result<CostModel, Vec<Problem>> {
        if !self.p.is_empty() {
            return Err(self.p);
        }
        let inputs = self.inputs;
        Ok(CostModel {
            currency: inputs.currency.clone(),
            price_basis: inputs.price_basis.clone(),
            annualisation: inputs.annualisation,
            discount_rate: inputs.discount_rate,
            lines: self.lines,
            capital_annuity: self.cap_ann,
            capital_straight_line: self.cap_sl,
            investment: self.investment,
        })
    }
}

fn names(m: &Model, f: impl Fn(ResourceKind) -> bool) -> String {
    let v: Vec<String> = m
        .resources
        .iter()
        .filter(|r| f(r.kind))
        .map(|r| format!("`{}`", r.name))
        .collect();
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

fn item_line(
    it: &ItemCost,
    category: Category,
    at: &FieldPath,
    m: &Model,
    p: &mut Vec<Problem>,
) -> Option<Line> {
    let before = p.len();
    check_amount(p, at.key("eur"), it.eur);
    check_amount(p, at.key("quantity"), it.quantity);
    let unit_cost = it.eur * it.quantity;
    let steps = |p: &mut Vec<Problem>| -> Option<Vec<usize>> {
        let Some(step) = &it.step else {
            p.push(Problem::new(
                at.clone(),
                format!(
                    "`step` is missing (needed with per = \"{}\")",
                    basis_name(it.per)
                ),
            ));
            return None;
        };
        if let Some(prod) = &it.product
            && m.product(prod).is_none()
        {
            p.push(Problem::new(
                at.key("product"),
                format!("no product `{prod}` in the scenario"),
            ));
            return None;
        }
        let mut flat = 0;
        let mut found = Vec::new();
        for prod in &m.products {
            for s in &prod.steps {
                if s.name == *step && it.product.as_ref().is_none_or(|n| *n == prod.name) {
                    found.push(flat);
                }
                flat += 1;
            }
        }
        if found.is_empty() {
            let all: Vec<String> = m
                .products
                .iter()
                .flat_map(|pr| pr.steps.iter().map(|s| format!("`{}`", s.name)))
                .collect();
            p.push(Problem::new(
                at.key("step"),
                format!(
                    "no step `{step}` in the scenario (steps: {})",
                    all.join(", ")
                ),
            ));
            return None;
        }
        Some(found)
    };
    let driver = match it.per {
        Basis::Year => Driver::Fixed {
            per_year: unit_cost,
        },
        Basis::Batch => Driver::PerCount {
            unit_cost,
            count: Count::Batches,
        },
        Basis::Dose => Driver::PerCount {
            unit_cost,
            count: Count::Doses,
        },
        Basis::Patient => Driver::PerCount {
            unit_cost,
            count: Count::Patients,
        },
        Basis::StepRun => Driver::PerCount {
            unit_cost,
            count: Count::StepRuns { steps: steps(p)? },
        },
        Basis::StepFailure => Driver::PerCount {
            unit_cost,
            count: Count::StepFailures { steps: steps(p)? },
        },
        Basis::BusyHour => {
            let Some(r) = &it.resource else {
                p.push(Problem::new(
                    at.clone(),
                    "`resource` is missing (needed with per = \"busy_hour\")",
                ));
                return None;
            };
            let Some(id) = m.resource(r) else {
                p.push(Problem::new(
                    at.key("resource"),
                    format!("no resource `{r}` in the scenario"),
                ));
                return None;
            };
            Driver::PerCount {
                unit_cost,
                count: Count::BusyHours { resource: id },
            }
        }
    };
    if p.len() > before {
        return None;
    }
    let label = match &it.kind {
        Some(k) => format!("{} ({k})", it.name),
        None => it.name.clone(),
    };
    Some(Line {
        name: label,
        category,
        driver,
    })
}

fn basis_name(b: Basis) -> &'static str {
    match b {
        Basis::Year => "year",
        Basis::Batch => "batch",
        Basis::StepRun => "step_run",
        Basis::StepFailure => "step_failure",
        Basis::Dose => "dose",
        Basis::Patient => "patient",
        Basis::BusyHour => "busy_hour",
    }
}
