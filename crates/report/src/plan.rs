//! The production plan of `atmpflow schedule`: the plan page of a plant plan (key figures,
//! what re-planning moved, Gantt charts per resource and per order, the orders' dates) and the
//! plans as CSV.

use std::collections::BTreeSet;

use schedule::plan_doc::{Anchor, PlanDoc, when};
use schedule::shop::{Shop, ShopPlan, ShopReplanned};
use schedule::{Instance, Plan, Time};

use crate::svg::{self, Axes, GanttBar, GanttRow, escape};
use crate::{csv_out, page};

/// Time unit of plans made from a scenario: minutes.
const PER_HOUR: f64 = 60.0;

fn hours(t: Time) -> f64 {
    t as f64 / PER_HOUR
}

/// The plan as CSV: one row per operation with job, stage and machine (index and name),
/// start and end in the instance's time unit.
pub fn plan_csv(inst: &Instance, plan: &Plan) -> String {
    let rows = plan
        .ops
        .iter()
        .map(|a| {
            let stage = &inst.stages[a.stage];
            vec![
                a.job.to_string(),
                inst.jobs[a.job].name.clone(),
                a.stage.to_string(),
                stage.name.clone(),
                a.machine.to_string(),
                stage.machines[a.machine].name.clone(),
                a.start.to_string(),
                a.end.to_string(),
            ]
        })
        .collect();
    csv_out::table(
        &[
            "job",
            "job_name",
            "stage",
            "stage_name",
            "machine",
            "machine_name",
            "start",
            "end",
        ],
        rows,
    )
}

/// The operations a re-plan moved, by order and operation name.
type Moved<'a> = BTreeSet<(&'a str, &'a str)>;

fn moved_ops(moves: Option<&ShopReplanned>) -> Moved<'_> {
    moves
        .map(|r| {
            r.moves
                .iter()
                .map(|m| (m.order.as_str(), m.op.as_str()))
                .collect()
        })
        .unwrap_or_default()
}

/// The bar of an operation (or a resource's use by it) from `start` to `end` minutes, at least
/// one minute wide so that zero-length operations stay visible; `moved`: a re-plan moved it
/// (drawn outlined, with "moved" in the tooltip).
fn op_bar(start: Time, end: Time, colour: usize, tip: String, moved: bool) -> GanttBar {
    GanttBar {
        start: hours(start),
        end: hours(end.max(start + 1)),
        colour,
        tip: if moved { format!("{tip} (moved)") } else { tip },
        moved,
    }
}

/// Rows of the per-resource chart of a plant plan: one per device, area and staff pool; bars
/// coloured by order, and grey where the resource has less capacity than usual (maintenance,
/// requalification, off-shift).
fn shop_by_resource(shop: &Shop, plan: &ShopPlan, end: Time, moved: &Moved) -> Vec<GanttRow> {
    let mut rows: Vec<GanttRow> = shop
        .resources
        .iter()
        .map(|r| GanttRow {
            label: r.name.clone(),
            bars: r
                .segments
                .iter()
                .filter(|s| s.capacity < r.capacity && s.start < end)
                .map(|s| GanttBar {
                    start: hours(s.start.max(0)),
                    end: hours(s.end.min(end)),
                    colour: GanttBar::GREY,
                    tip: format!(
                        "{}: capacity {} from {:.1} h to {:.1} h",
                        r.name,
                        s.capacity,
                        hours(s.start),
                        hours(s.end)
                    ),
                    moved: false,
                })
                .collect(),
        })
        .collect();
    for a in &plan.ops {
        let job = &shop.jobs[a.job].name;
        let op = &shop.ops(a.job)[a.op].name;
        for u in &a.uses {
            if let Some(row) = rows.get_mut(u.resource) {
                let amount = if u.amount > 1 {
                    format!("{} × ", u.amount)
                } else {
                    String::new()
                };
                let tip = format!(
                    "{job} — {op}: {amount}{} held {:.1} h to {:.1} h",
                    row.label,
                    hours(u.start),
                    hours(u.end)
                );
                let m = moved.contains(&(job.as_str(), op.as_str()));
                row.bars.push(op_bar(u.start, u.end, a.job, tip, m));
            }
        }
    }
    rows
}

/// Rows of the per-order chart of a plant plan: one per order, bars coloured by step.
fn shop_by_order(shop: &Shop, plan: &ShopPlan, moved: &Moved) -> Vec<GanttRow> {
    let mut rows: Vec<GanttRow> = shop
        .jobs
        .iter()
        .map(|b| GanttRow {
            label: b.name.clone(),
            bars: Vec::new(),
        })
        .collect();
    for a in &plan.ops {
        if let Some(row) = rows.get_mut(a.job) {
            let op = &shop.ops(a.job)[a.op].name;
            let tip = format!(
                "{} — {op}: {:.1} h to {:.1} h",
                row.label,
                hours(a.start),
                hours(a.end)
            );
            let m = moved.contains(&(row.label.as_str(), op.as_str()));
            row.bars.push(op_bar(a.start, a.end, a.op, tip, m));
        }
    }
    rows
}

/// The plant plan as CSV: one row per operation with order, product, step, start and end in
/// hours and the resources it holds.
pub fn plant_csv(shop: &Shop, plan: &ShopPlan) -> String {
    plant_csv_local(shop, plan, None)
}

/// [`plant_csv`] with, when the plan has a calendar anchor, the local start and end
/// (`start_local`, `end_local`, e.g. `2027-03-29 06:00 +02:00`) after the hours.
pub fn plant_csv_local(shop: &Shop, plan: &ShopPlan, anchor: Option<&Anchor>) -> String {
    let rows = plan
        .ops
        .iter()
        .map(|o| {
            let b = &shop.jobs[o.job];
            let res: Vec<String> = o
                .uses
                .iter()
                .map(|u| {
                    let r = &shop.resources[u.resource];
                    if u.amount > 1 {
                        format!("{}×{}", u.amount, r.name)
                    } else {
                        r.name.clone()
                    }
                })
                .collect();
            let mut row = vec![
                b.name.clone(),
                shop.products[b.product].name.clone(),
                shop.ops(o.job)[o.op].name.clone(),
                format!("{:.2}", hours(o.start)),
                format!("{:.2}", hours(o.end)),
            ];
            if let Some(a) = anchor {
                row.push(a.local(o.start));
                row.push(a.local(o.end));
            }
            row.push(res.join(" + "));
            row
        })
        .collect();
    let head: &[&str] = if anchor.is_some() {
        &[
            "order",
            "product",
            "step",
            "start_h",
            "end_h",
            "start_local",
            "end_local",
            "resources",
        ]
    } else {
        &["order", "product", "step", "start_h", "end_h", "resources"]
    };
    csv_out::table(head, rows)
}

/// What re-planning moved, as CSV: one row per moved operation.
pub fn moves_csv(r: &ShopReplanned) -> String {
    // the rows the plan API answers with, too
    let rows = schedule::plan_doc::move_rows(r)
        .into_iter()
        .map(|m| {
            vec![
                m.order,
                m.step,
                format!("{:.2}", m.old_start_h),
                format!("{:.2}", m.new_start_h),
                format!("{:.2}", m.shift_h),
                m.old_resources.join(" + "),
                m.new_resources.join(" + "),
            ]
        })
        .collect();
    csv_out::table(
        &[
            "order",
            "step",
            "old_start_h",
            "new_start_h",
            "shift_h",
            "old_resources",
            "new_resources",
        ],
        rows,
    )
}

/// The "what moved" section of a re-planned plan's page.
fn moves_section(r: &ShopReplanned) -> String {
    let mut s = format!(
        "<h2>What moved</h2>\n<p>{} operations had started and stayed fixed; of {} operations \
         free to move, {} moved (start or resources changed), by {:.1} h in total and {:.1} h at \
         most.</p>\n",
        r.fixed,
        r.compared,
        r.moves.len(),
        hours(r.total_shift),
        hours(r.max_shift)
    );
    if r.moves.is_empty() {
        return s;
    }
    s.push_str("<table><thead><tr><th>order</th><th>step</th><th>old start</th><th>new start</th><th>shift (h)</th><th>old resources</th><th>new resources</th></tr></thead><tbody>\n");
    for m in &r.moves {
        s.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:+.1}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&m.order),
            escape(&m.op),
            escape(&when(m.old_start)),
            escape(&when(m.new_start)),
            hours(m.new_start - m.old_start),
            escape(&m.old_resources.join(" + ")),
            escape(&m.new_resources.join(" + "))
        ));
    }
    s.push_str("</tbody></table>\n");
    s
}

/// The calendar paragraph and the downtime table of a plan with a calendar anchor.
fn calendar_section(a: &Anchor, doc: &PlanDoc) -> String {
    let mut s = format!(
        "<p>Calendar: time 0 is {} ({}); shifts follow the local wall clock; holidays without \
         cover: {}.</p>\n",
        escape(&a.local(0)),
        escape(&a.time_zone),
        if a.holidays.is_empty() {
            "none".to_string()
        } else {
            escape(
                &a.holidays
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        }
    );
    if !doc.downtime.is_empty() {
        s.push_str("<h2>Out of use</h2>\n<table><thead><tr><th>resource</th><th>from</th><th>until</th><th>reason</th></tr></thead><tbody>\n");
        for d in &doc.downtime {
            s.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&d.resource),
                escape(&a.local(d.start)),
                escape(&a.local(d.end)),
                escape(&d.reason)
            ));
        }
        s.push_str("</tbody></table>\n");
    }
    s
}

/// A time as the page shows it: `when` and, with an anchor, the local date-time.
fn at(t: Time, anchor: Option<&Anchor>) -> String {
    match anchor {
        Some(a) => format!("{} ({})", when(t), a.local(t)),
        None => when(t),
    }
}

/// The orders table of a plant plan's page: apheresis, ready and due time and lateness.
fn orders_table(shop: &Shop, plan: &ShopPlan, anchor: Option<&Anchor>) -> String {
    let mut s = String::from(
        "<h2>Orders</h2>\n<table><thead><tr><th>order</th><th>product</th><th>apheresis</th><th>ready</th><th>due</th><th>late (h)</th></tr></thead><tbody>\n",
    );
    let c = plan.completions(shop);
    for (j, b) in shop.jobs.iter().enumerate() {
        s.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td></tr>\n",
            escape(&b.name),
            escape(&shop.products[b.product].name),
            escape(&at(b.release, anchor)),
            escape(&at(c[j], anchor)),
            escape(&at(b.due, anchor)),
            hours((c[j] - b.due).max(0))
        ));
    }
    s.push_str("</tbody></table>\n");
    s
}

/// The page of a plant plan (`schedule.html`): key figures, what re-planning moved (if it
/// did), Gantt charts per resource and per order, and the orders with their dates.
pub fn plant_html(doc: &PlanDoc, moves: Option<&ShopReplanned>) -> String {
    let shop = &doc.shop;
    let v = &doc.values;
    let mut body = format!(
        "<h1>Production plan — {}</h1>\n<p>{} orders of {} products; objective: {}. Makespan {}; \
         {} orders late; total weighted tardiness {} (minutes × weight × 100); total flow time {:.1} days. \
         Seed {} ({}). Method: {}. Every plan passes the independent checker (capacity at every instant, \
         shifts, maintenance, hold limits, blocking).</p>\n",
        escape(&doc.scenario),
        shop.jobs.len(),
        shop.products
            .iter()
            .filter(|p| p.variant_of.is_none())
            .count(),
        escape(&doc.objective),
        escape(&when(v.makespan)),
        v.late,
        v.weighted_tardiness,
        v.total_flow_time as f64 / 1440.0,
        doc.seed,
        escape(&doc.generator),
        escape(&doc.method),
    );
    body.push_str("<p>History: ");
    body.push_str(&escape(&doc.history.join("; ")));
    body.push_str("</p>\n");
    let anchor = doc.anchor();
    if let Some(a) = &anchor {
        body.push_str(&calendar_section(a, doc));
    }
    if let Some(r) = moves {
        body.push_str(&moves_section(r));
    }
    let moved = moved_ops(moves);
    let outlined = if moved.is_empty() {
        ""
    } else {
        " Bars with a thick dashed black outline moved in the re-plan (see the legend under the chart)."
    };
    let end = doc.plant_plan.ops.iter().map(|a| a.end).max().unwrap_or(1);
    // both charts on the time scale of the whole plan
    let chart = |rows: &[GanttRow], title: &str| {
        svg::gantt(
            rows,
            &Axes::new(title).size(1100.0, 0.0).range(0.0, hours(end)),
        )
    };
    body.push_str("<h2>Per resource</h2>\n<figure>");
    body.push_str(&chart(
        &shop_by_resource(shop, &doc.plant_plan, end, &moved),
        "Gantt chart per resource",
    ));
    body.push_str("<figcaption>One row per device, area and staff pool; colour = order; grey = maintenance and requalification windows; hover for times.");
    body.push_str(outlined);
    body.push_str("</figcaption></figure>\n");
    body.push_str("<h2>Per order</h2>\n<figure>");
    body.push_str(&chart(
        &shop_by_order(shop, &doc.plant_plan, &moved),
        "Gantt chart per order",
    ));
    body.push_str("<figcaption>One row per order; colour = step; gaps are transfers and waits within the hold limits.");
    body.push_str(outlined);
    body.push_str("</figcaption></figure>\n");
    body.push_str(&orders_table(shop, &doc.plant_plan, anchor.as_ref()));
    page::document(&format!("Plan — {}", doc.scenario), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    use schedule::plant::ShopMap;
    use schedule::shop::{
        Batch, Goal, Need, Operation, Resource, ResourceKind, Route, Segment, ShopOptions,
        ShopValues,
    };

    /// Two bioreactors (the second in maintenance for the first 10 h) and three orders of one
    /// product with two steps; names with markup to check the escaping.
    fn doc() -> PlanDoc {
        let unit = |name: &str, segments: Vec<Segment>| Resource {
            name: name.into(),
            pool: "bioreactor".into(),
            kind: ResourceKind::Unit,
            capacity: 1,
            segments,
        };
        let op = |name: &str, duration: Time| Operation {
            name: name.into(),
            duration,
            needs: vec![Need {
                candidates: vec![0, 1],
                count: 1,
                hold: None,
            }],
            cleaning: 0,
            min_lag: 0,
            max_lag: None,
            blocking: false,
        };
        let maintenance = Segment {
            start: 0,
            end: 600,
            capacity: 0,
        };
        let shop = Shop {
            name: "toy".into(),
            resources: vec![
                unit("bioreactor#1", Vec::new()),
                unit("bioreactor#2", vec![maintenance]),
            ],
            products: vec![Route {
                name: "car-t <x>".into(),
                ops: vec![op("expansion", 240), op("harvest", 60)],
                variant_of: None,
            }],
            jobs: (0..3)
                .map(|i| Batch {
                    name: format!("P{i} & co"),
                    product: 0,
                    release: 0,
                    due: 600,
                    weight: 100,
                })
                .collect(),
            fixed: Vec::new(),
            not_before: 0,
            goal: Goal::default(),
        };
        let opts = ShopOptions {
            time_limit: None,
            iteration_limit: Some(20),
            seed: 1,
            warm_start: None,
        };
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let sol = schedule::shop::solve(&shop, &opts, &cancel, &mut |_, _| {}).expect("solvable");
        PlanDoc {
            format: schedule::plan_doc::PLAN_FORMAT.into(),
            scenario: "Plant <A>".into(),
            scenario_sha256: String::new(),
            history: vec!["solved".into()],
            objective: shop.goal.name(),
            values: ShopValues::default(),
            seed: 1,
            generator: "g".into(),
            method: "m".into(),
            program_version: "0".into(),
            targets_min: Vec::new(),
            map: ShopMap {
                steps: Vec::new(),
                units: Vec::new(),
            },
            plan: model::Plan::default(),
            plant_plan: sol.plan,
            shop,
            calendar: None,
            downtime: Vec::new(),
        }
    }

    #[test]
    fn the_plant_page_is_well_formed_with_a_bar_per_use_and_order_step_and_grey_maintenance() {
        let d = doc();
        d.check().expect("a consistent document");
        let html = plant_html(&d, None);
        let body = html
            .strip_prefix("<!DOCTYPE html>\n")
            .expect("HTML5 doctype");
        let page = match roxmltree::Document::parse(body) {
            Ok(p) => p,
            Err(e) => panic!("plan page is not well-formed: {e}"),
        };
        let rects: Vec<_> = page
            .descendants()
            .filter(|n| n.has_tag_name("rect"))
            .collect();
        let grey = rects
            .iter()
            .filter(|n| n.attribute("fill") == Some("#bbb"))
            .count();
        // per resource: 6 uses + 1 maintenance window; per order: 6 operations
        assert_eq!(grey, 1, "one maintenance window");
        assert_eq!(rects.len() - grey, 6 + 6);
        assert!(html.contains("Production plan — Plant &lt;A&gt;"));
        assert!(html.contains("P0 &amp; co"));
        assert!(!html.contains("http"), "no URL in the page");
    }

    #[test]
    fn plant_csv_has_a_row_per_operation_and_quotes_where_needed() {
        let d = doc();
        let csv = plant_csv(&d.shop, &d.plant_plan);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "order,product,step,start_h,end_h,resources");
        assert_eq!(lines.len(), 1 + 6);
        assert!(lines[1].starts_with("P0 & co,car-t <x>,expansion,"));
    }
}
