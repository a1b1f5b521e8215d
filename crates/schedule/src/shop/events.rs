//! The events file of re-planning (CSV, one event per line), resolved against a plant.
//!
//! Header: `kind` and any of `order,step,resource,from_h,to_h,hours,amount,product,release_h,
//! due_h,weight` (order free). Kinds and the fields they read:
//! * `breakdown`: `resource` (a unit such as `rocking-bioreactor#1`, an area or a staff pool),
//!   `from_h`, `to_h`, optional `amount` (places or operators lost; all when empty);
//! * `delay`: `order`, `step`, `hours` (the step takes that much longer; for an order's first
//!   step that has not started: the apheresis is that much late);
//! * `failed`: `order`, optional `release_h` (apheresis of a replacement batch);
//! * `new`: `order`, `product`, `release_h`, optional `due_h` (default: release plus the
//!   product's target vein-to-vein time) and `weight` (default 1);
//! * `cancelled`: `order`.
//!
//! Times in hours from the scenario's time 0. Errors give the line and field.

use super::{Batch, Shop, ShopEvent};
use crate::error::ScheduleError;
use crate::instance::Time;

/// Largest events file accepted.
pub const MAX_EVENTS: usize = 100_000;

const COLUMNS: [&str; 12] = [
    "kind",
    "order",
    "step",
    "resource",
    "from_h",
    "to_h",
    "hours",
    "amount",
    "product",
    "release_h",
    "due_h",
    "weight",
];

fn err(line: usize, field: &str, message: impl Into<String>) -> ScheduleError {
    ScheduleError::Parse {
        line,
        field: field.to_string(),
        message: message.into(),
    }
}

/// Reads the events in `text` against `shop`; `targets[p]` is the target vein-to-vein time
/// of product `p` in minutes (due date of new orders without `due_h`).
pub fn parse_events(
    text: &str,
    shop: &Shop,
    targets: &[Time],
) -> Result<Vec<ShopEvent>, ScheduleError> {
    let mut rd = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let header = read_header(&mut rd)?;
    let mut out = Vec::new();
    for rec in rd.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            err(line, "record", e.to_string())
        })?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        if out.len() >= MAX_EVENTS {
            return Err(err(line, "kind", format!("more than {MAX_EVENTS} events")));
        }
        let row = Row {
            header: &header,
            rec: &rec,
            line,
            shop,
        };
        let kind = row.need("kind")?.to_ascii_lowercase();
        let ev = match kind.as_str() {
            "breakdown" => row.breakdown()?,
            "delay" => row.delay()?,
            "failed" => ShopEvent::Failed {
                job: row.order("order")?,
                restart: row.hours("release_h")?,
            },
            "cancelled" => ShopEvent::Cancelled {
                job: row.order("order")?,
            },
            "new" => row.new_order(targets)?,
            other => {
                return Err(err(
                    line,
                    "kind",
                    format!(
                        "unknown event '{other}'; use breakdown, delay, failed, new or cancelled"
                    ),
                ));
            }
        };
        out.push(ev);
    }
    Ok(out)
}

/// The header's column names in lower case; unknown columns and a missing `kind` are errors.
fn read_header(rd: &mut csv::Reader<&[u8]>) -> Result<Vec<String>, ScheduleError> {
    let header: Vec<String> = rd
        .headers()
        .map_err(|e| err(1, "header", e.to_string()))?
        .iter()
        .map(str::to_ascii_lowercase)
        .collect();
    for h in &header {
        if !COLUMNS.contains(&h.as_str()) {
            return Err(err(
                1,
                h,
                format!("unknown column; columns are {}", COLUMNS.join(", ")),
            ));
        }
    }
    if !header.iter().any(|h| h == "kind") {
        return Err(err(1, "kind", "the header needs a `kind` column"));
    }
    Ok(header)
}

/// One record of the events file with what its fields are resolved against.
struct Row<'a> {
    header: &'a [String],
    rec: &'a csv::StringRecord,
    line: usize,
    shop: &'a Shop,
}

impl Row<'_> {
    /// The field `name`, `None` when its column is absent or the field empty.
    fn get(&self, name: &str) -> Option<&str> {
        self.header
            .iter()
            .position(|h| h == name)
            .and_then(|c| self.rec.get(c))
            .filter(|s| !s.is_empty())
    }

    /// The field `name`, an error when missing.
    fn need(&self, name: &str) -> Result<&str, ScheduleError> {
        self.get(name)
            .ok_or_else(|| err(self.line, name, "missing"))
    }

    /// The field `name` as hours, converted to minutes; `None` when missing.
    fn hours(&self, name: &str) -> Result<Option<Time>, ScheduleError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.parse::<f64>() {
                Ok(x) if x.is_finite() && x.abs() < 1e9 => Ok(Some((x * 60.0).round() as Time)),
                _ => Err(err(
                    self.line,
                    name,
                    format!("'{v}' is not a number of hours"),
                )),
            },
        }
    }

    /// The field `name` as hours, converted to minutes; an error when missing.
    fn need_hours(&self, name: &str) -> Result<Time, ScheduleError> {
        self.hours(name)?
            .ok_or_else(|| err(self.line, name, "missing"))
    }

    /// The position among `names` of the name the field `field` gives; when none matches,
    /// an error saying that `owner` has no such `what`.
    fn find<'n>(
        &self,
        field: &str,
        names: impl IntoIterator<Item = &'n str>,
        owner: &str,
        what: &str,
    ) -> Result<usize, ScheduleError> {
        let id = self.need(field)?;
        names
            .into_iter()
            .position(|n| n == id)
            .ok_or_else(|| err(self.line, field, format!("{owner} has no {what} '{id}'")))
    }

    /// The order the field `name` names, as its index in the plan.
    fn order(&self, name: &str) -> Result<usize, ScheduleError> {
        let names = self.shop.jobs.iter().map(|b| b.name.as_str());
        self.find(name, names, "the plan", "order")
    }

    /// A `breakdown` event: a resource out of use (all of it, or `amount` places) from
    /// `from_h` to `to_h`.
    fn breakdown(&self) -> Result<ShopEvent, ScheduleError> {
        let line = self.line;
        let names = self.shop.resources.iter().map(|r| r.name.as_str());
        let resource = self.find("resource", names, "the plant", "resource")?;
        let (from, to) = (self.need_hours("from_h")?, self.need_hours("to_h")?);
        if to <= from {
            return Err(err(line, "to_h", "must be later than from_h"));
        }
        let amount = match self.get("amount") {
            None => None,
            Some(v) => Some(v.parse::<u32>().ok().filter(|&a| a > 0).ok_or_else(|| {
                err(
                    line,
                    "amount",
                    format!("'{v}' is not a positive whole number"),
                )
            })?),
        };
        Ok(ShopEvent::Breakdown {
            resource,
            from,
            to,
            amount,
        })
    }

    /// A `delay` event: a step of an order takes `hours` longer.
    fn delay(&self) -> Result<ShopEvent, ScheduleError> {
        let line = self.line;
        let job = self.order("order")?;
        let owner = format!("order {}", self.shop.jobs[job].name);
        let names = self.shop.ops(job).iter().map(|o| o.name.as_str());
        let op = self.find("step", names, &owner, "step")?;
        let minutes = self.need_hours("hours")?;
        if minutes <= 0 {
            return Err(err(line, "hours", "a delay must be positive"));
        }
        Ok(ShopEvent::Delay { job, op, minutes })
    }

    /// A `new` event: an order of a product released at `release_h`, due at `due_h` (else
    /// release plus the product's target) with `weight` (else 1).
    fn new_order(&self, targets: &[Time]) -> Result<ShopEvent, ScheduleError> {
        let line = self.line;
        let name = self.need("order")?.to_string();
        let names = self.shop.products.iter().map(|p| p.name.as_str());
        let product = self.find("product", names, "the plant", "product")?;
        let release = self.need_hours("release_h")?;
        if release < 0 {
            return Err(err(line, "release_h", "must not be negative"));
        }
        let due = match self.hours("due_h")? {
            Some(d) => d,
            None => release.saturating_add(targets.get(product).copied().unwrap_or(0)),
        };
        let weight = match self.get("weight") {
            None => 100,
            Some(v) => match v.parse::<f64>() {
                Ok(w) if w.is_finite() && (0.0..1e6).contains(&w) => (w * 100.0).round() as i64,
                _ => return Err(err(line, "weight", format!("'{v}' is not a weight ≥ 0"))),
            },
        };
        Ok(ShopEvent::NewOrder(Batch {
            name,
            product,
            release,
            due,
            weight,
        }))
    }
}
