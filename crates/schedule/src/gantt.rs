//! Gantt charts of a plan as self-contained SVG (no external resources; all text escaped).

use std::fmt::Write;

use crate::instance::{Instance, Time};
use crate::plan::Plan;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn colour(i: usize) -> String {
    // golden-angle hues: neighbouring indices get distinct colours
    let h = (i as f64 * 137.508) % 360.0;
    format!("hsl({h:.0},55%,62%)")
}

struct Row {
    label: String,
    bars: Vec<(Time, Time, usize, String)>,
}

fn chart(rows: &[Row], t_end: Time, unit_per_hour: f64, title: &str) -> String {
    let label_w = 190.0;
    let width = 1100.0;
    let row_h = 18.0;
    let top = 28.0;
    let h = top + row_h * rows.len() as f64 + 24.0;
    let span = (t_end.max(1)) as f64;
    let x = |t: Time| label_w + (width - label_w - 10.0) * (t as f64 / span);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {width} {h}\" role=\"img\" aria-label=\"{}\" font-family=\"sans-serif\" font-size=\"11\">",
        esc(title)
    );
    // time axis in hours or days
    let hours = span / unit_per_hour;
    let step_h = [
        1.0, 2.0, 4.0, 6.0, 12.0, 24.0, 48.0, 96.0, 168.0, 336.0, 720.0,
    ]
    .into_iter()
    .find(|&st| hours / st <= 14.0)
    .unwrap_or(1440.0);
    let mut th = 0.0;
    while th <= hours {
        let t = (th * unit_per_hour) as Time;
        let xx = x(t);
        let lbl = if step_h >= 24.0 {
            format!("day {:.0}", th / 24.0)
        } else {
            format!("{th:.0} h")
        };
        let _ = write!(
            s,
            "<line x1=\"{xx:.1}\" y1=\"{:.1}\" x2=\"{xx:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{xx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
            top - 4.0,
            h - 20.0,
            h - 6.0,
            esc(&lbl)
        );
        th += step_h;
    }
    for (r, row) in rows.iter().enumerate() {
        let y = top + r as f64 * row_h;
        let _ = write!(
            s,
            "<text x=\"4\" y=\"{:.1}\" fill=\"#222\">{}</text>",
            y + 13.0,
            esc(&row.label)
        );
        for (a, b, c, tip) in &row.bars {
            let (x0, x1) = (x(*a), x(*b));
            let _ = write!(
                s,
                "<rect x=\"{x0:.2}\" y=\"{:.1}\" width=\"{:.2}\" height=\"{:.1}\" fill=\"{}\" stroke=\"#333\" stroke-width=\"0.3\"><title>{}</title></rect>",
                y + 2.0,
                (x1 - x0).max(0.8),
                row_h - 4.0,
                if *c == usize::MAX {
                    "#bbb".to_string()
                } else {
                    colour(*c)
                },
                esc(tip)
            );
        }
    }
    s.push_str("</svg>");
    s
}

fn fmt_h(t: Time, unit_per_hour: f64) -> String {
    format!("{:.1} h", t as f64 / unit_per_hour)
}

/// Gantt chart with one row per machine; bars coloured by job.
pub fn by_machine(inst: &Instance, plan: &Plan, unit_per_hour: f64) -> String {
    let mut rows = Vec::new();
    for (k, st) in inst.stages.iter().enumerate() {
        for (m, mach) in st.machines.iter().enumerate() {
            let bars: Vec<_> = plan
                .ops
                .iter()
                .filter(|a| a.stage == k && a.machine == m)
                .map(|a| {
                    (
                        a.start,
                        a.end,
                        a.job,
                        format!(
                            "{} — {} on {}: {} to {}",
                            inst.jobs[a.job].name,
                            st.name,
                            mach.name,
                            fmt_h(a.start, unit_per_hour),
                            fmt_h(a.end, unit_per_hour)
                        ),
                    )
                })
                .collect();
            if bars.is_empty() && mach.physical.is_none() && st.machines.len() > 8 {
                continue;
            }
            rows.push(Row {
                label: format!("{} · {}", st.name, mach.name),
                bars,
            });
        }
    }
    let end = plan.ops.iter().map(|a| a.end).max().unwrap_or(1);
    chart(&rows, end, unit_per_hour, "Gantt chart per machine")
}

/// Gantt chart with one row per job (patient); bars coloured by stage, waits visible as gaps.
pub fn by_job(inst: &Instance, plan: &Plan, unit_per_hour: f64) -> String {
    let g = inst.g();
    let rows: Vec<Row> = inst
        .jobs
        .iter()
        .enumerate()
        .map(|(j, job)| Row {
            label: job.name.clone(),
            bars: (0..g)
                .filter_map(|k| plan.ops.get(j * g + k))
                .map(|a| {
                    let st = &inst.stages[a.stage];
                    (
                        a.start,
                        a.end,
                        a.stage,
                        format!(
                            "{} — {} on {}: {} to {}",
                            job.name,
                            st.name,
                            st.machines.get(a.machine).map_or("?", |m| m.name.as_str()),
                            fmt_h(a.start, unit_per_hour),
                            fmt_h(a.end, unit_per_hour)
                        ),
                    )
                })
                .collect(),
        })
        .collect();
    let end = plan.ops.iter().map(|a| a.end).max().unwrap_or(1);
    chart(&rows, end, unit_per_hour, "Gantt chart per patient")
}

/// Gantt chart of a plant plan with one row per device, area and staff pool; bars coloured by
/// order, maintenance windows and off-shift periods in grey.
pub fn shop_by_resource(
    shop: &crate::shop::Shop,
    plan: &crate::shop::ShopPlan,
    unit_per_hour: f64,
) -> String {
    let end = plan.ops.iter().map(|a| a.end).max().unwrap_or(1);
    let mut rows: Vec<Row> = shop
        .resources
        .iter()
        .map(|r| Row {
            label: r.name.clone(),
            bars: r
                .segments
                .iter()
                .filter(|s| s.capacity < r.capacity && s.start < end)
                .map(|s| {
                    (
                        s.start.max(0),
                        s.end.min(end),
                        usize::MAX,
                        format!(
                            "{}: capacity {} from {} to {}",
                            r.name,
                            s.capacity,
                            fmt_h(s.start, unit_per_hour),
                            fmt_h(s.end, unit_per_hour)
                        ),
                    )
                })
                .collect(),
        })
        .collect();
    for a in &plan.ops {
        let job = &shop.jobs[a.job].name;
        let op = &shop.ops(a.job)[a.op].name;
        for u in &a.uses {
            if let Some(row) = rows.get_mut(u.resource) {
                row.bars.push((
                    u.start,
                    u.end.max(u.start + 1),
                    a.job,
                    format!(
                        "{job} — {op}: {}{} held {} to {}",
                        if u.amount > 1 {
                            format!("{} × ", u.amount)
                        } else {
                            String::new()
                        },
                        row.label,
                        fmt_h(u.start, unit_per_hour),
                        fmt_h(u.end, unit_per_hour)
                    ),
                ));
            }
        }
    }
    chart(&rows, end, unit_per_hour, "Gantt chart per resource")
}

/// Gantt chart of a plant plan with one row per order; bars coloured by step.
pub fn shop_by_order(
    shop: &crate::shop::Shop,
    plan: &crate::shop::ShopPlan,
    unit_per_hour: f64,
) -> String {
    let mut rows: Vec<Row> = shop
        .jobs
        .iter()
        .map(|b| Row {
            label: b.name.clone(),
            bars: Vec::new(),
        })
        .collect();
    for a in &plan.ops {
        if let Some(row) = rows.get_mut(a.job) {
            let op = &shop.ops(a.job)[a.op].name;
            row.bars.push((
                a.start,
                a.end.max(a.start + 1),
                a.op,
                format!(
                    "{} — {op}: {} to {}",
                    row.label,
                    fmt_h(a.start, unit_per_hour),
                    fmt_h(a.end, unit_per_hour)
                ),
            ));
        }
    }
    let end = plan.ops.iter().map(|a| a.end).max().unwrap_or(1);
    chart(&rows, end, unit_per_hour, "Gantt chart per order")
}
