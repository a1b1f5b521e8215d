//! `plan.json`, the plant plan document written by `atmpflow schedule SCENARIO --orders` and
//! read back by `schedule promise` and `schedule replan`: self-contained (the plant problem, its
//! plan, the link back to the scenario and the `model::Plan` the simulator follows).
//!
//! The helpers both editors of plan documents need — the command line (`atmpflow schedule …`)
//! and the server's plan API (`/api/plan/v1`) — live here, so that both make the same
//! documents, ask the same promise questions and report the same moves: [`PlanDoc::planned`]
//! (a first plan), [`PlanDoc::next`] (booked or re-planned), [`PromiseRequest::query`],
//! [`PromiseAnswer`] and [`ReplanSummary`].

pub use model::Anchor;
use serde::{Deserialize, Serialize};

use crate::error::ScheduleError;
use crate::instance::Time;
use crate::plant::ShopMap;
use crate::shop::{Offer, PromiseQuery, Shop, ShopPlan, ShopReplanned, ShopSolution, ShopValues};

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
    /// The scenario's calendar anchor, when it has one: outputs add local date-times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<model::scenario::CalendarSpec>,
    /// With a calendar anchor: every window in which units or places are out of use
    /// (maintenance and requalification), with its reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub downtime: Vec<Downtime>,
}

/// A window in which a unit (or an area's places, or every unit of a pool) is out of use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Downtime {
    /// Unit (`pool#k`), pool (every unit) or area.
    pub resource: String,
    /// Start, minutes from time 0.
    pub start: Time,
    /// End, minutes from time 0.
    pub end: Time,
    /// Why (the scenario's `reason`, or the inventory's requalification).
    pub reason: String,
}

/// The maintenance windows of `model`'s equipment and areas, in resource order.
pub fn downtime(model: &model::Model) -> Vec<Downtime> {
    let mut v = Vec::new();
    for r in &model.resources {
        for w in &r.maintenance {
            let resource = match (r.kind, w.unit) {
                (model::ResourceKind::Equipment, Some(u)) => format!("{}#{u}", r.name),
                (model::ResourceKind::Area { .. }, Some(u)) => format!("{} ({u} places)", r.name),
                _ => r.name.clone(),
            };
            v.push(Downtime {
                resource,
                start: (w.start_h * 60.0).round() as Time,
                end: (w.end_h * 60.0).round() as Time,
                reason: w.reason.clone(),
            });
        }
    }
    v
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
        if let Some(spec) = &self.calendar
            && let Err(e) = model::Anchor::resolve(spec)
        {
            let list: Vec<String> = e
                .iter()
                .map(|p| format!("calendar.{}: {}", p.field, p.message))
                .collect();
            return Err(ScheduleError::Document(list.join("; ")));
        }
        Ok(())
    }

    /// The calendar anchor, when the plan has one (checked by [`PlanDoc::check`]).
    pub fn anchor(&self) -> Option<model::Anchor> {
        self.calendar
            .as_ref()
            .and_then(|s| model::Anchor::resolve(s).ok())
    }
}

impl PlanDoc {
    /// The first document of a plan: `shop` (built from `model` and its orders by
    /// [`crate::plant::shop_from_model`], with `map`) planned by `sol`; `scenario_sha256` is the
    /// SHA-256 of the scenario text and `event` the first line of the history.
    pub fn planned(
        model: &model::Model,
        scenario_sha256: &str,
        shop: Shop,
        map: ShopMap,
        sol: &ShopSolution,
        event: String,
    ) -> PlanDoc {
        let base = PlanDoc {
            format: PLAN_FORMAT.into(),
            scenario: model.name.clone(),
            scenario_sha256: scenario_sha256.to_string(),
            history: Vec::new(),
            objective: String::new(),
            values: ShopValues::default(),
            seed: sol.seed,
            generator: sol.generator.into(),
            method: sol.method.clone(),
            program_version: String::new(),
            targets_min: targets_min(model),
            map,
            shop: shop.clone(),
            plant_plan: ShopPlan::default(),
            plan: model::Plan::default(),
            calendar: model.calendar.as_ref().map(model::Anchor::spec),
            downtime: if model.calendar.is_some() {
                downtime(model)
            } else {
                Vec::new()
            },
        };
        base.next(shop, sol.plan.clone(), Some(sol), event)
    }

    /// The document that follows this one: `shop` with `plan` (made by `sol` when a search made
    /// it, else the search figures stay those of this document), with `event` added to the
    /// history.
    pub fn next(
        &self,
        shop: Shop,
        plan: ShopPlan,
        sol: Option<&ShopSolution>,
        event: String,
    ) -> PlanDoc {
        let values = plan.values(&shop);
        let mut history = self.history.clone();
        history.push(event);
        PlanDoc {
            format: PLAN_FORMAT.into(),
            scenario: self.scenario.clone(),
            scenario_sha256: self.scenario_sha256.clone(),
            history,
            objective: shop.goal.name(),
            values,
            seed: sol.map_or(self.seed, |s| s.seed),
            generator: sol.map_or(self.generator.clone(), |s| s.generator.to_string()),
            method: sol.map_or(self.method.clone(), |s| s.method.clone()),
            program_version: env!("CARGO_PKG_VERSION").into(),
            targets_min: self.targets_min.clone(),
            map: self.map.clone(),
            plan: model_plan(&shop, &plan, &self.map),
            shop,
            plant_plan: plan,
            calendar: self.calendar.clone(),
            downtime: self.downtime.clone(),
        }
    }

    /// The products a new order may name (product variants made by re-planning excluded).
    pub fn product_names(&self) -> Vec<&str> {
        self.shop
            .products
            .iter()
            .filter(|p| p.variant_of.is_none())
            .map(|p| p.name.as_str())
            .collect()
    }
}

/// The target vein-to-vein time of each product of `model` in minutes (0 for a product
/// without demand).
pub fn targets_min(model: &model::Model) -> Vec<Time> {
    (0..model.products.len())
        .map(|p| {
            model
                .demand
                .iter()
                .find(|d| d.product == p)
                .map_or(0, |d| (d.target_v2v_h * 60.0).round() as Time)
        })
        .collect()
}

/// Model orders of the plant's orders (product variants made by re-planning map back).
pub fn model_orders(shop: &Shop) -> Vec<model::Order> {
    shop.jobs
        .iter()
        .map(|b| model::Order {
            id: b.name.clone(),
            product: shop.products[b.product].variant_of.unwrap_or(b.product),
            release_h: b.release as f64 / 60.0,
            due_h: b.due as f64 / 60.0,
            weight: b.weight as f64 / 100.0,
        })
        .collect()
}

/// The plan in scenario terms (hours) that the simulator follows.
pub fn model_plan(shop: &Shop, plan: &ShopPlan, map: &ShopMap) -> model::Plan {
    let mut m = map.clone();
    // variants share the steps of the product they were made from
    for (i, r) in shop.products.iter().enumerate().skip(map.steps.len()) {
        let base = r.variant_of.unwrap_or(i);
        let steps = m.steps.get(base).cloned().unwrap_or_default();
        m.steps.push(steps);
    }
    crate::plant::shop_plan_to_model(shop, plan, &m, &model_orders(shop))
}

/// A capable-to-promise question as a user asks it: a product by name, a window of apheresis
/// days at one hour of the day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromiseRequest {
    /// Identifier of the new order.
    pub id: String,
    /// Product of the new order (one of [`PlanDoc::product_names`]).
    pub product: String,
    /// First apheresis day (days from time 0, Monday of the first week).
    pub from_day: u32,
    /// Last apheresis day.
    pub to_day: u32,
    /// Hour of day of the apheresis, in [0, 24).
    pub hour: f64,
    /// Only Monday to Friday.
    pub weekdays: bool,
    /// Weight of the new order (≥ 0).
    pub weight: f64,
}

/// Longest window of apheresis days one question may cover.
pub const MAX_PROMISE_DAYS: u32 = 366;

impl PromiseRequest {
    /// The instant of the apheresis on `day` at the request's hour, minutes from time 0.
    pub fn at(&self, day: u32) -> Time {
        i64::from(day) * 1440 + (self.hour * 60.0).round() as Time
    }

    /// The question for [`crate::shop::promise`] and [`crate::shop::book`] on `doc`. `name`
    /// gives the name under which the caller knows a field (`--from-day` on the command line,
    /// `from_day` in the API), for the messages of refused requests.
    pub fn query(
        &self,
        doc: &PlanDoc,
        name: impl Fn(&str) -> String,
    ) -> Result<PromiseQuery, ScheduleError> {
        let shop = &doc.shop;
        let Some(product) = shop
            .products
            .iter()
            .position(|p| p.name == self.product && p.variant_of.is_none())
        else {
            return Err(ScheduleError::Request(format!(
                "{}: the plant makes no '{}'; products are {}",
                name("product"),
                self.product,
                doc.product_names().join(", ")
            )));
        };
        if self.to_day < self.from_day || self.to_day - self.from_day > MAX_PROMISE_DAYS {
            return Err(ScheduleError::Request(format!(
                "{}..{} must be a window of at most a year, in order",
                name("from_day"),
                name("to_day")
            )));
        }
        if !(self.hour.is_finite() && (0.0..24.0).contains(&self.hour)) {
            return Err(ScheduleError::Request(format!(
                "{} must be in [0, 24)",
                name("hour")
            )));
        }
        if !(self.weight.is_finite() && (0.0..1e6).contains(&self.weight)) {
            return Err(ScheduleError::Request(format!(
                "{} must be a number ≥ 0",
                name("weight")
            )));
        }
        let candidates: Vec<Time> = (self.from_day..=self.to_day)
            .filter(|d| !self.weekdays || d % 7 < 5)
            .map(|d| self.at(d))
            .collect();
        Ok(PromiseQuery {
            name: self.id.clone(),
            product,
            candidates,
            lead: doc.targets_min.get(product).copied().unwrap_or(0),
            weight: (self.weight * 100.0).round() as i64,
        })
    }

    /// The history line of booking this order with apheresis on `day`.
    pub fn booked_event(&self, day: u32) -> String {
        format!(
            "booked {} ({}) with apheresis {}",
            self.id,
            self.product,
            when(self.at(day))
        )
    }
}

/// The answer to a promise question as it is written (`--json`, and the API's answer).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromiseAnswer {
    /// Identifier of the new order.
    pub order: String,
    /// Its product.
    pub product: String,
    /// Target vein-to-vein time, minutes.
    pub target_minutes: Time,
    /// Per candidate apheresis instant, when the product would be ready.
    pub offers: Vec<Offer>,
    /// The earliest on-time candidate.
    pub earliest: Option<Offer>,
    /// Time the answer took, seconds (measured by the caller).
    pub seconds: f64,
    /// The unit of every time in the answer.
    pub time_unit: &'static str,
}

/// [`PromiseAnswer::time_unit`].
pub const TIME_UNIT: &str = "minutes from time 0 (Monday 00:00 of the first week)";

impl PromiseAnswer {
    /// The answer to `q` (asked as `r`): `p` from [`crate::shop::promise`], found in `seconds`.
    pub fn new(
        r: &PromiseRequest,
        q: &PromiseQuery,
        p: crate::shop::Promise,
        seconds: f64,
    ) -> Self {
        PromiseAnswer {
            order: r.id.clone(),
            product: r.product.clone(),
            target_minutes: q.lead,
            offers: p.offers,
            earliest: p.earliest,
            seconds,
            time_unit: TIME_UNIT,
        }
    }
}

/// One operation that re-planning moved, as `moves.csv` lists it (hours from time 0).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoveRow {
    /// Order.
    pub order: String,
    /// Step (operation).
    pub step: String,
    /// Start before re-planning, hours.
    pub old_start_h: f64,
    /// Start after, hours.
    pub new_start_h: f64,
    /// New start − old start, hours.
    pub shift_h: f64,
    /// Resources before.
    pub old_resources: Vec<String>,
    /// Resources after.
    pub new_resources: Vec<String>,
}

/// What re-planning moved and the stability measure: the content of `moves.csv` and of the
/// "what moved" section of the plan page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplanSummary {
    /// The re-planning instant, minutes from time 0.
    pub as_of: Time,
    /// Operations that had started and stayed fixed.
    pub fixed: usize,
    /// Operations in both plans that were free to move.
    pub compared: usize,
    /// How many of them moved (start or resources changed).
    pub moved: usize,
    /// Sum of the shifts of the starts, hours.
    pub total_shift_h: f64,
    /// Largest shift of a start, hours.
    pub max_shift_h: f64,
    /// Late orders in the new plan.
    pub late: usize,
    /// The operations that moved.
    pub moves: Vec<MoveRow>,
}

fn hours(t: Time) -> f64 {
    t as f64 / 60.0
}

/// The operations that re-planning moved, one row each (the rows of `moves.csv`).
pub fn move_rows(r: &ShopReplanned) -> Vec<MoveRow> {
    r.moves
        .iter()
        .map(|m| MoveRow {
            order: m.order.clone(),
            step: m.op.clone(),
            old_start_h: hours(m.old_start),
            new_start_h: hours(m.new_start),
            shift_h: hours(m.new_start - m.old_start),
            old_resources: m.old_resources.clone(),
            new_resources: m.new_resources.clone(),
        })
        .collect()
}

impl ReplanSummary {
    /// The summary of `r`, re-planned as of `as_of`, whose new plan has `late` late orders.
    pub fn new(r: &ShopReplanned, as_of: Time, late: usize) -> Self {
        ReplanSummary {
            as_of,
            fixed: r.fixed,
            compared: r.compared,
            moved: r.moves.len(),
            total_shift_h: hours(r.total_shift),
            max_shift_h: hours(r.max_shift),
            late,
            moves: move_rows(r),
        }
    }

    /// One sentence: what stayed, what moved and by how much, how many are late.
    pub fn text(&self) -> String {
        format!(
            "re-planned as of {}: {} started operations fixed; {} of {} others moved ({:.1} h in total, {:.1} h at most); {} late",
            when(self.as_of),
            self.fixed,
            self.moved,
            self.compared,
            self.total_shift_h,
            self.max_shift_h,
            self.late
        )
    }
}

/// The history line of re-planning as of `now` after `events` events from `source`.
pub fn replanned_event(now: Time, events: usize, source: &str) -> String {
    format!(
        "re-planned as of {} after {events} events from {source}",
        when(now)
    )
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
    use super::{PlanDoc, PromiseRequest, when};
    use crate::shop::ShopOptions;

    fn example_doc() -> PlanDoc {
        let m = model::load(
            "plant-two-products.toml",
            include_str!("../../../examples/plant-two-products.toml"),
        )
        .expect("scenario");
        let orders = model::orders::read_orders(
            "orders.csv",
            include_str!("../../../examples/schedule/plant-two-products-orders.csv"),
            &m,
        )
        .expect("orders");
        let (shop, map) = crate::plant::shop_from_model(&m, &orders).expect("plant");
        let opts = ShopOptions {
            time_limit: None,
            iteration_limit: Some(5),
            seed: 1,
            warm_start: None,
        };
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let sol = crate::shop::solve(&shop, &opts, &cancel, &mut |_, _| {}).expect("solve");
        PlanDoc::planned(&m, "00", shop, map, &sol, "planned".into())
    }

    #[test]
    fn a_planned_document_checks_and_promise_requests_name_the_field_as_the_caller_does() {
        let doc = example_doc();
        doc.check().expect("a consistent document");
        assert_eq!(doc.history, ["planned"]);
        assert_eq!(doc.product_names(), ["car-t", "car-t-short"]);
        assert_eq!(doc.plan.ops.len(), doc.plant_plan.ops.len());
        let ok = PromiseRequest {
            id: "X".into(),
            product: "car-t-short".into(),
            from_day: 7,
            to_day: 13,
            hour: 9.5,
            weekdays: true,
            weight: 2.0,
        };
        let q = ok.query(&doc, str::to_string).expect("query");
        // days 7..=13 are Monday to Sunday of the second week
        assert_eq!(
            q.candidates,
            (7..=11).map(|d| d * 1440 + 570).collect::<Vec<_>>()
        );
        assert_eq!(q.weight, 200);
        assert!(q.lead > 0, "the target vein-to-vein time of car-t-short");
        let cli = |f: &str| format!("--{}", f.replace('_', "-"));
        let bad = |r: PromiseRequest| {
            (
                r.query(&doc, str::to_string)
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default(),
                r.query(&doc, cli)
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default(),
            )
        };
        let (api, line) = bad(PromiseRequest {
            product: "car-x".into(),
            ..ok.clone()
        });
        assert_eq!(
            api,
            "product: the plant makes no 'car-x'; products are car-t, car-t-short"
        );
        assert!(line.starts_with("--product: the plant makes no"), "{line}");
        let (api, line) = bad(PromiseRequest {
            to_day: 6,
            ..ok.clone()
        });
        assert!(api.starts_with("from_day..to_day must be"), "{api}");
        assert!(line.starts_with("--from-day..--to-day must be"), "{line}");
        let (api, _) = bad(PromiseRequest {
            hour: 24.0,
            ..ok.clone()
        });
        assert_eq!(api, "hour must be in [0, 24)");
        let (api, _) = bad(PromiseRequest {
            weight: f64::NAN,
            ..ok.clone()
        });
        assert_eq!(api, "weight must be a number ≥ 0");
        let booked = ok.booked_event(8);
        assert_eq!(
            booked,
            "booked X (car-t-short) with apheresis day 8 (Tue) 09:30"
        );
    }

    #[test]
    fn times_are_written_as_day_weekday_and_clock() {
        assert_eq!(when(0), "day 0 (Mon) 00:00");
        assert_eq!(when(24 * 60 * 8 + 75), "day 8 (Tue) 01:15");
        assert_eq!(when(-30), "day -1 (Sun) 23:30");
    }
}
