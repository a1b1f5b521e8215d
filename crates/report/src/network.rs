//! The network plan page of `atmpflow network solve` and `network check`: key figures, the
//! flow map, sites and flows, cost by site, the what-if scenarios (demand growth, a site down
//! for a quarter) and, after a check, the simulation of every open site next to the
//! optimiser's averages, round by round of the tighten-and-resolve loop; and the CSV tables.

use std::fmt::Write as _;

use network::check::{CheckReport, Estimate, Round};
use network::study::{NetworkStudy, PointOutcome, StudyPoint};
use network::whatif::{Growth, Outcome, SiteDown, WhatIf};
use network::{Network, Plan};

use crate::csv_out;
use crate::page::{self, Cell, escape};
use crate::svg::{
    Axes, FlowLine, Format, Layer, Line, Mark, MarkStyle, Place, PlaceKind, flow_map, histogram,
    line_chart, stacked_bars,
};

/// Where the plan came from (shown in the page's header).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkMeta {
    /// The network file as given.
    pub file: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Program version.
    pub program_version: String,
}

fn money(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    let s = format!("{:.0}", v.round());
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    format!("{sign}{out}")
}

fn n1(v: f64) -> String {
    Format::Number(1).fmt(v)
}

fn pct(v: f64) -> String {
    Format::Percent(1).fmt(v)
}

/// The page.
pub fn network_html(
    net: &Network,
    plan: &Plan,
    whatif: Option<&WhatIf>,
    check: Option<&CheckReport>,
    meta: &NetworkMeta,
) -> String {
    let mut b = String::new();
    header_html(&mut b, net, plan, whatif.is_some(), check.is_some(), meta);
    plan_html(&mut b, net, plan);
    sites_html(&mut b, net, plan);
    let cur = &net.currency;
    // Flows.
    b.push_str("<h2 id=\"flows\">Flows</h2>\n");
    b.push_str(&flows_table(plan, cur));

    if let Some(w) = whatif {
        b.push_str(&whatif_html(net, plan, w));
    }
    if let Some(c) = check {
        b.push_str(&check_html(net, c));
    }
    let _ = write!(
        b,
        "<footer>atmpflow {} · network {} · every number from the network file and, in the \
         check, the simulation with the seed shown</footer>",
        escape(&meta.program_version),
        escape(&meta.sha256)
    );
    page::document(&format!("Network plan — {}", net.name), &b)
}

/// Title, contents and the plan's provenance (file, program, solver, sourcing).
fn header_html(
    b: &mut String,
    net: &Network,
    plan: &Plan,
    whatif: bool,
    check: bool,
    meta: &NetworkMeta,
) {
    let _ = write!(
        b,
        "<h1>Network plan — {}</h1>\n<p class=\"muted\">{}</p>\n",
        escape(&net.name),
        escape(&net.description)
    );
    b.push_str("<nav class=\"toc\"><a href=\"#plan\">Plan</a><a href=\"#sites\">Sites</a><a href=\"#flows\">Flows</a>");
    if whatif {
        b.push_str("<a href=\"#whatif\">What if</a>");
    }
    if check {
        b.push_str("<a href=\"#check\">Check by simulation</a>");
    }
    b.push_str("</nav>\n");
    let status = match plan.status {
        network::solve::Status::Optimal => "optimal".to_string(),
        network::solve::Status::TimeLimit => "time limit reached (best plan found)".to_string(),
    };
    let _ = writeln!(
        b,
        "<dl class=\"meta\"><dt>Network file</dt><dd><code>{}</code></dd>\
         <dt>SHA-256</dt><dd><code>{}</code></dd><dt>Program</dt><dd>atmpflow {}</dd>\
         <dt>Solver</dt><dd>HiGHS (mixed-integer), {} — objective {} {}, bound {}, gap {}</dd>\
         <dt>Sourcing</dt><dd>{}</dd></dl>",
        escape(&meta.file),
        escape(&meta.sha256),
        escape(&meta.program_version),
        escape(&status),
        escape(&money(plan.objective)),
        escape(&net.currency),
        escape(&money(plan.bound)),
        escape(&Format::Percent(4).fmt(plan.gap)),
        match net.sourcing {
            network::format::Sourcing::Continuous =>
                "continuous (a region may be split between sites)",
            network::format::Sourcing::Single => "single (every region to one site)",
        }
    );
}

/// The key figures of the plan and the flow map.
fn plan_html(b: &mut String, net: &Network, plan: &Plan) {
    b.push_str("<h2 id=\"plan\">Plan</h2>\n");
    let open = plan.open_site_names();
    let cur = &net.currency;
    let costs = [
        ("Total cost per year", plan.cost.total),
        ("  fixed", plan.cost.fixed),
        ("  manufacturing", plan.cost.manufacturing),
        ("  transport", plan.cost.transport),
        ("Cost per patient", plan.cost.per_patient),
    ]
    .map(|(label, v)| {
        vec![
            Cell::text(&format!("{label} ({cur})")),
            Cell::num(&money(v)),
        ]
    });
    let mut rows = vec![
        vec![Cell::text("Open sites"), Cell::text(&open.join(", "))],
        vec![
            Cell::text("Patients per year"),
            Cell::num(&n1(plan.patients)),
        ],
    ];
    rows.extend(costs);
    rows.push(vec![
        Cell::text("Mean vein-to-vein days (lead time + round trip, patient-weighted)"),
        Cell::num(&plan.mean_v2v_days().map_or("–".into(), n1)),
    ]);
    b.push_str(&page::table(&["", "value"], &rows));
    b.push_str(&page::figure(
        &flow_map_svg(net, plan),
        "Regions (circles), open sites (filled squares) and closed candidates; every line is a flow of patients, its width grows with the square root of the patients per year. Hover for figures.",
    ));
}

/// The sites table and the cost by open site.
fn sites_html(b: &mut String, net: &Network, plan: &Plan) {
    let cur = &net.currency;
    b.push_str("<h2 id=\"sites\">Sites</h2>\n");
    let rows: Vec<Vec<Cell>> = plan
        .sites
        .iter()
        .map(|s| {
            vec![
                Cell::text(&s.name),
                Cell::text(if s.open { "open" } else { "closed" }),
                Cell::text(if s.existing { "yes" } else { "no" }),
                Cell::num(&n1(s.patients)),
                Cell::num(&n1(s.capacity)),
                Cell::num(&pct(s.utilisation)),
                Cell::num(&money(s.fixed_cost)),
                Cell::num(&money(s.manufacturing_cost)),
                Cell::num(&money(s.transport_cost)),
                Cell::num(&s.mean_v2v_days.map_or("–".into(), n1)),
            ]
        })
        .collect();
    b.push_str(&page::table(
        &[
            "site",
            "status",
            "existing",
            "patients/yr",
            "capacity/yr",
            "utilisation",
            "fixed",
            "manufacturing",
            "transport",
            "mean vein-to-vein d",
        ],
        &rows,
    ));
    let opened: Vec<&network::solve::SitePlan> = plan.sites.iter().filter(|s| s.open).collect();
    let cats: Vec<String> = opened.iter().map(|s| s.name.clone()).collect();
    let layers = vec![
        Layer {
            name: "fixed".into(),
            values: opened.iter().map(|s| s.fixed_cost).collect(),
        },
        Layer {
            name: "manufacturing".into(),
            values: opened.iter().map(|s| s.manufacturing_cost).collect(),
        },
        Layer {
            name: "transport".into(),
            values: opened.iter().map(|s| s.transport_cost).collect(),
        },
    ];
    b.push_str(&page::figure(
        &stacked_bars(
            &cats,
            &layers,
            &Axes::new(format!("Cost per year by open site ({cur})")).format(Format::Number(0)),
        ),
        "Fixed cost of the site, manufacturing cost of its patients and the transport of their round trips.",
    ));
}

fn flows_table(plan: &Plan, cur: &str) -> String {
    let rows: Vec<Vec<Cell>> = plan
        .flows
        .iter()
        .map(|f| {
            vec![
                Cell::text(&f.region_name),
                Cell::text(&f.site_name),
                Cell::text(&f.product_name),
                Cell::num(&n1(f.patients / plan.period_years)),
                Cell::num(&f.distance_km.map_or("–".into(), |d| format!("{d:.0}"))),
                Cell::num(&n1(f.transport_days)),
                Cell::num(&n1(f.lead_time_days)),
                Cell::num(&n1(f.v2v_days)),
                Cell::num(&n1(f.max_v2v_days)),
                Cell::num(&money(f.cost_per_patient)),
            ]
        })
        .collect();
    page::table(
        &[
            "region",
            "site",
            "product",
            "patients/yr",
            "km",
            "round trip d",
            "lead time d",
            "vein-to-vein d",
            "limit d",
            &format!("cost/patient ({cur})"),
        ],
        &rows,
    )
}

fn flow_map_svg(net: &Network, plan: &Plan) -> String {
    let mut places: Vec<Place> = net
        .regions
        .iter()
        .map(|r| Place {
            name: r.name.clone(),
            kind: PlaceKind::Region,
            location: r.location,
            tip: format!(
                "{}{}: {} patients per year",
                r.name,
                if r.centre.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.centre)
                },
                n1(r.total_demand())
            ),
        })
        .collect();
    let nr = places.len();
    for (s, site) in net.sites.iter().enumerate() {
        let sp = &plan.sites[s];
        places.push(Place {
            name: site.name.clone(),
            kind: if sp.open {
                PlaceKind::OpenSite
            } else {
                PlaceKind::ClosedSite
            },
            location: site.location,
            tip: format!(
                "{}: {} — {} of {} patients per year",
                site.name,
                if sp.open { "open" } else { "closed" },
                n1(sp.patients / plan.period_years),
                n1(sp.capacity / plan.period_years)
            ),
        });
    }
    let flows: Vec<FlowLine> = plan
        .flows
        .iter()
        .map(|f| FlowLine {
            from: f.region,
            to: nr + f.site,
            amount: f.patients,
            tip: format!(
                "{} → {}: {} patients per year of {}, vein-to-vein {} days",
                f.region_name,
                f.site_name,
                n1(f.patients / plan.period_years),
                f.product_name,
                n1(f.v2v_days)
            ),
        })
        .collect();
    let located = places.iter().all(|p| p.location.is_some());
    let axes = Axes::new(if located {
        "Network (schematic map)"
    } else {
        "Network (regions left, sites right)"
    })
    .size(880.0, 520.0);
    flow_map(&places, &flows, &axes)
}

fn whatif_html(net: &Network, base: &Plan, w: &WhatIf) -> String {
    let cur = &net.currency;
    let mut b = String::from("<h2 id=\"whatif\">What if</h2>\n");
    if !w.growth.is_empty() {
        b.push_str("<h3>Demand growth</h3>\n<p>For every factor the network is planned anew (it may open other sites), and the base plan's open sites alone face the larger demand (patients they cannot take are unserved).</p>\n");
        b.push_str(&growth_table(base, &w.growth, cur));
    }
    if !w.site_down.is_empty() {
        b.push_str("<h3>A site down for a quarter</h3>\n<p>Each open site of the plan is down for one quarter; the quarter's patients (a quarter of a year's demand) go to the other open sites within their capacity for the quarter and the vein-to-vein limits. Extra cost is manufacturing and transport against a normal quarter; fixed costs are paid either way.</p>\n");
        b.push_str(&site_down_table(base, &w.site_down, cur));
    }
    b
}

/// The demand-growth table: for every factor, the network planned anew and the base plan's
/// open sites alone.
fn growth_table(base: &Plan, growth: &[Growth], cur: &str) -> String {
    page::table_of(
        &[
            "demand",
            "patients/yr",
            &format!("re-planned cost/yr ({cur})"),
            &format!("per patient ({cur})"),
            "re-planned open sites",
            "base sites: unserved/yr",
            &format!("base sites: cost/yr ({cur})"),
        ],
        growth,
        |g| {
            let (re_cost, re_pp, re_open) = match &g.replanned {
                Outcome::Planned { plan } => (
                    money(plan.cost.total),
                    money(plan.cost.per_patient),
                    plan.open_site_names().join(", "),
                ),
                Outcome::NoPlan { reasons } => ("no plan".into(), "–".into(), reasons.join("; ")),
            };
            let (base_unmet, base_cost) = match &g.base_sites {
                Outcome::Planned { plan } => (n1(plan.unmet_patients), money(plan.cost.total)),
                Outcome::NoPlan { reasons } => ("–".into(), reasons.join("; ")),
            };
            vec![
                Cell::num(&format!("× {}", g.factor)),
                Cell::num(&n1(base.patients * g.factor)),
                Cell::num(&re_cost),
                Cell::num(&re_pp),
                Cell::text(&re_open),
                Cell::num(&base_unmet),
                Cell::num(&base_cost),
            ]
        },
    )
}

/// The site-down table: each open site down for a quarter, and where its regions go.
fn site_down_table(base: &Plan, site_down: &[SiteDown], cur: &str) -> String {
    page::table_of(
        &[
            "site down",
            "unserved patients in the quarter",
            &format!("normal quarter ({cur})"),
            &format!("extra cost ({cur})"),
            "its regions go to (patients in the quarter)",
        ],
        site_down,
        |d| {
            let moved = d.quarter.plan().map_or_else(
                || match &d.quarter {
                    Outcome::NoPlan { reasons } => reasons.join("; "),
                    Outcome::Planned { .. } => String::new(),
                },
                |q| {
                    let mut to: Vec<String> = q
                        .flows
                        .iter()
                        .filter(|f| {
                            base.flows
                                .iter()
                                .any(|b| b.site == d.site && b.region == f.region)
                        })
                        .map(|f| {
                            format!("{} → {} ({})", f.region_name, f.site_name, n1(f.patients))
                        })
                        .collect();
                    to.dedup();
                    to.join(", ")
                },
            );
            vec![
                Cell::text(&d.name),
                Cell::num(&d.unmet_patients.map_or("–".into(), n1)),
                Cell::num(&money(d.base_quarter_cost)),
                Cell::num(&d.extra_cost.map_or("–".into(), money)),
                Cell::text(&moved),
            ]
        },
    )
}

fn check_html(net: &Network, c: &CheckReport) -> String {
    let mut b = String::from("<h2 id=\"check\">Check by simulation</h2>\n");
    let _ = write!(
        b,
        "<p>Every open site is simulated as a plant (its concept scenario) with the patients the \
         plan allocates to it; each region's patients are a product of their own whose transport \
         steps take that link's round trip. {} replications per site, seed {}, generator {}. \
         Rule: {}.</p>\n<p><strong>{}</strong>{}</p>\n",
        c.replications,
        c.seed,
        escape(&c.rng),
        escape(&c.rule),
        escape(&c.ended),
        if c.cancelled {
            " (cancelled: the rounds shown are those finished)"
        } else {
            ""
        }
    );
    for r in &c.rounds {
        b.push_str(&round_html(net, r, c.min_on_time));
    }
    b
}

/// The vein-to-vein cells a site row and the network row share: planned days, the mean
/// with its 95 % interval, the 5th/50th/95th percentiles and the on-time share.
fn v2v_cells(
    planned_days: f64,
    v2v_days: &Estimate,
    percentiles: &[f64; 3],
    on_time: &Estimate,
) -> [Cell; 4] {
    [
        Cell::num(&n1(planned_days)),
        Cell::html(
            page::mean_ci(v2v_days.mean, v2v_days.ci95, Format::Number(1)),
            true,
        ),
        Cell::num(&format!(
            "{} / {} / {}",
            n1(percentiles[0]),
            n1(percentiles[1]),
            n1(percentiles[2])
        )),
        Cell::html(
            page::mean_ci(on_time.mean, on_time.ci95, Format::Percent(1)),
            true,
        ),
    ]
}

fn round_html(net: &Network, r: &Round, min_on_time: f64) -> String {
    let mut b = format!("<h3>Round {}</h3>\n", r.round);
    let mut rows: Vec<Vec<Cell>> = r
        .sites
        .iter()
        .map(|s| {
            let busiest = s.resources.first().map_or("–".to_string(), |x| {
                format!("{} {}", x.name, pct(x.utilisation.mean))
            });
            let [planned, v2v, percentiles, on_time] = v2v_cells(
                s.planned_v2v_days,
                &s.v2v_days,
                &s.v2v_percentiles,
                &s.on_time,
            );
            vec![
                Cell::text(&s.name),
                Cell::num(&n1(s.patients_per_year)),
                Cell::num(&n1(s.capacity)),
                planned,
                v2v,
                percentiles,
                on_time,
                Cell::html(
                    page::mean_ci(s.lost.mean, s.lost.ci95, Format::Percent(1)),
                    true,
                ),
                Cell::text(&busiest),
                Cell::html(
                    if s.passes {
                        "<span class=\"good\">passes</span>".to_string()
                    } else {
                        "<span class=\"bad\">misses</span>".to_string()
                    },
                    false,
                ),
            ]
        })
        .collect();
    let n = &r.network;
    let [planned, v2v, percentiles, on_time] = v2v_cells(
        n.planned_v2v_days,
        &n.v2v_days,
        &n.v2v_percentiles,
        &n.on_time,
    );
    rows.push(vec![
        Cell::html("<strong>network</strong>".into(), false),
        Cell::num(&n1(r.plan.patients)),
        Cell::num(""),
        planned,
        v2v,
        percentiles,
        on_time,
        Cell::num(""),
        Cell::text(""),
        Cell::text(""),
    ]);
    b.push_str(&page::table(
        &[
            "site",
            "patients/yr",
            "capacity/yr",
            "optimiser vein-to-vein d",
            "simulated mean d [95 % CI]",
            "p50 / p90 / p95 d",
            &format!("on time (target {})", pct(min_on_time)),
            "lost",
            "busiest resource",
            "",
        ],
        &rows,
    ));
    let mut axes = Axes::new(format!(
        "Round {}: vein-to-vein days of the network's patients (pooled)",
        r.round
    ))
    .x_label("days")
    .y_label("patients")
    .mark(Mark::new(
        n.planned_v2v_days,
        "optimiser mean",
        MarkStyle::Percentile,
    ))
    .mark(Mark::new(
        n.v2v_percentiles[2],
        "p95 (pooled)",
        MarkStyle::Percentile,
    ));
    let limits: Vec<f64> = net.products.iter().map(|p| p.max_v2v_days).collect();
    if let Some(&l) = limits.first()
        && limits.iter().all(|&x| (x - l).abs() < 1e-9)
    {
        axes = axes.mark(Mark::new(l, "limit", MarkStyle::Target));
    }
    b.push_str(&page::figure(
        &histogram(&n.histogram_edges, &n.histogram_counts, &axes),
        "Simulated vein-to-vein times of every treated patient of every open site, all replications; the optimiser's mean counts lead time plus round trip only, the simulation adds the queueing.",
    ));
    if !r.tightened.is_empty() {
        let rows: Vec<Vec<Cell>> = r
            .tightened
            .iter()
            .map(|t| {
                vec![
                    Cell::text(&t.site),
                    Cell::num(&n1(t.from)),
                    Cell::num(&n1(t.to)),
                ]
            })
            .collect();
        b.push_str("<p>Tightened for the next round:</p>\n");
        b.push_str(&page::table(
            &["site", "capacity before", "capacity after"],
            &rows,
        ));
    }
    b
}

/// The CSV tables: `sites.csv`, `flows.csv`, and with what-ifs `scenarios.csv`, with a check
/// `check.csv`.
pub fn network_csv(
    plan: &Plan,
    whatif: Option<&WhatIf>,
    check: Option<&CheckReport>,
) -> Vec<(String, String)> {
    let mut out = vec![
        ("sites.csv".to_string(), sites_csv(plan)),
        ("flows.csv".to_string(), flows_csv(plan)),
    ];
    if let Some(w) = whatif {
        out.push(("scenarios.csv".to_string(), scenarios_csv(w)));
    }
    if let Some(c) = check {
        out.push(("check.csv".to_string(), check_csv(c)));
    }
    out
}

/// A CSV field, quoted where it holds a comma, a quote or a line break.
fn q(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Numbers as CSV fields (shortest form that reads back the same).
fn numbers(xs: &[f64]) -> impl Iterator<Item = String> + '_ {
    xs.iter().map(f64::to_string)
}

/// An optional number as a CSV field (empty when absent).
fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

/// `sites.csv`: one row per candidate site.
fn sites_csv(plan: &Plan) -> String {
    let header = "site,open,existing,patients_per_year,capacity_per_year,utilisation,fixed_cost,manufacturing_cost,transport_cost,mean_v2v_days";
    let rows = plan.sites.iter().map(|s| {
        let mut row = vec![s.name.clone(), s.open.to_string(), s.existing.to_string()];
        row.extend(numbers(&[
            s.patients,
            s.capacity,
            s.utilisation,
            s.fixed_cost,
            s.manufacturing_cost,
            s.transport_cost,
        ]));
        row.push(opt(s.mean_v2v_days));
        row
    });
    csv_out::table_of_line(header, rows.collect())
}

/// `flows.csv`: one row per flow of patients.
fn flows_csv(plan: &Plan) -> String {
    let header = "region,site,product,patients_per_year,distance_km,transport_days,lead_time_days,v2v_days,max_v2v_days,cost_per_patient";
    let rows = plan.flows.iter().map(|f| {
        let mut row = vec![
            f.region_name.clone(),
            f.site_name.clone(),
            f.product_name.clone(),
            f.patients.to_string(),
            opt(f.distance_km),
        ];
        row.extend(numbers(&[
            f.transport_days,
            f.lead_time_days,
            f.v2v_days,
            f.max_v2v_days,
            f.cost_per_patient,
        ]));
        row
    });
    csv_out::table_of_line(header, rows.collect())
}

/// `scenarios.csv`: one row per what-if scenario.
fn scenarios_csv(w: &WhatIf) -> String {
    let mut t = String::from(
        "scenario,parameter,outcome,total_cost,per_patient,unmet_patients,open_sites\n",
    );
    let row = |t: &mut String, kind: &str, param: &str, o: &Outcome| match o {
        Outcome::Planned { plan } => {
            let open = plan.open_site_names();
            let _ = writeln!(
                t,
                "{kind},{},planned,{},{},{},{}",
                q(param),
                plan.cost.total,
                plan.cost.per_patient,
                plan.unmet_patients,
                q(&open.join(";"))
            );
        }
        Outcome::NoPlan { reasons } => {
            let _ = writeln!(
                t,
                "{kind},{},no_plan,,,,{}",
                q(param),
                q(&reasons.join("; "))
            );
        }
    };
    for g in &w.growth {
        row(
            &mut t,
            "growth_replanned",
            &g.factor.to_string(),
            &g.replanned,
        );
        row(
            &mut t,
            "growth_base_sites",
            &g.factor.to_string(),
            &g.base_sites,
        );
    }
    for d in &w.site_down {
        row(&mut t, "site_down_quarter", &d.name, &d.quarter);
    }
    t
}

/// `check.csv`: one row per site and round of the check by simulation.
fn check_csv(c: &CheckReport) -> String {
    let header = "round,site,patients_per_year,capacity,planned_v2v_days,v2v_mean_days,v2v_ci_low,v2v_ci_high,v2v_p50,v2v_p90,v2v_p95,on_time,on_time_ci_low,on_time_ci_high,lost_fraction,passes";
    let mut rows = Vec::new();
    for r in &c.rounds {
        for s in &r.sites {
            let numbers_of_site = [
                s.patients_per_year,
                s.capacity,
                s.planned_v2v_days,
                s.v2v_days.mean,
                s.v2v_days.ci95[0],
                s.v2v_days.ci95[1],
                s.v2v_percentiles[0],
                s.v2v_percentiles[1],
                s.v2v_percentiles[2],
                s.on_time.mean,
                s.on_time.ci95[0],
                s.on_time.ci95[1],
                s.lost.mean,
            ];
            let mut row = vec![r.round.to_string(), s.name.clone()];
            row.extend(numbers(&numbers_of_site));
            row.push(s.passes.to_string());
            rows.push(row);
        }
    }
    csv_out::table_of_line(header, rows)
}

// ---- network studies ------------------------------------------------------------------------

/// The values of the other axes and the points `(first axis value, cost per patient)`.
type StudyLine = (Vec<f64>, Vec<(f64, f64)>);

/// Most lines in the study's chart (one per combination of the other axes); beyond that the
/// table alone shows the points.
const MAX_STUDY_LINES: usize = 8;

fn study_axes_text(st: &NetworkStudy, p: &StudyPoint) -> String {
    st.axes
        .iter()
        .zip(&p.values)
        .map(|(a, v)| format!("{a} = {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The page of a network study (`atmpflow study` on a study file that names a network): cost
/// per patient along the first axis, one line per combination of the other axes' values, and
/// every point with its open sites, costs and vein-to-vein days, or why it has no plan.
pub fn network_study_html(st: &NetworkStudy) -> String {
    let mut b = String::new();
    let cur = &st.currency;
    let _ = write!(
        b,
        "<h1>Network study — {}</h1>\n<p class=\"muted\">{}</p>\n<dl class=\"meta\">\
         <dt>Network file</dt><dd><code>{}</code></dd><dt>Axes</dt><dd>{}</dd>\
         <dt>Points</dt><dd>{} (each planned anew with HiGHS)</dd></dl>\n",
        escape(&st.name),
        escape(&st.description),
        escape(&st.network_file),
        st.axes
            .iter()
            .map(|a| format!("<code>{}</code>", escape(a)))
            .collect::<Vec<_>>()
            .join(", "),
        st.points.len()
    );
    // Lines: points grouped by the values of every axis but the first, in point order.
    let mut groups: Vec<StudyLine> = Vec::new();
    for p in &st.points {
        let Some(x) = p.values.first().copied() else {
            continue;
        };
        let rest = p.values[1..].to_vec();
        let y = p.outcome.plan().map_or(f64::NAN, |pl| pl.cost_per_patient);
        match groups.iter_mut().find(|(k, _)| *k == rest) {
            Some((_, pts)) => pts.push((x, y)),
            None => groups.push((rest, vec![(x, y)])),
        }
    }
    b.push_str("<h2 id=\"chart\">Cost per patient</h2>\n");
    if groups.len() <= MAX_STUDY_LINES && !st.axes.is_empty() {
        let lines: Vec<Line> = groups
            .into_iter()
            .map(|(rest, mut pts)| {
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                let name = if rest.is_empty() {
                    "cost per patient".to_string()
                } else {
                    st.axes[1..]
                        .iter()
                        .zip(&rest)
                        .map(|(a, v)| format!("{a} = {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                Line { name, points: pts }
            })
            .collect();
        let axes = Axes::new(format!("Cost per patient along {}", st.axes[0]))
            .x_label(st.axes[0].clone())
            .y_label(format!("{cur} per patient"))
            .format(Format::Number(0))
            .x_format(Format::Number(1));
        b.push_str(&page::figure(
            &line_chart(&lines, &axes),
            "Total cost per year (fixed, manufacturing, transport) divided by the patients, \
             for the cheapest plan of each point; a gap in a line is a point without a plan.",
        ));
    } else {
        let _ = writeln!(
            b,
            "<p>More than {MAX_STUDY_LINES} combinations of the other axes: see the table.</p>"
        );
    }
    b.push_str("<h2 id=\"points\">Points</h2>\n");
    let mut header: Vec<String> = vec!["point".to_string()];
    header.extend(st.axes.iter().cloned());
    header.extend([
        "open sites (serving)".to_string(),
        format!("total per year ({cur})"),
        format!("per patient ({cur})"),
        "mean vein-to-vein d".to_string(),
        "longest vein-to-vein d".to_string(),
    ]);
    let rows: Vec<Vec<Cell>> = st
        .points
        .iter()
        .map(|p| {
            let mut r = vec![Cell::num(&p.index.to_string())];
            r.extend(p.values.iter().map(|v| Cell::num(&v.to_string())));
            match &p.outcome {
                PointOutcome::Planned { plan } => {
                    r.push(Cell::text(&plan.serving_sites.join(", ")));
                    r.push(Cell::num(&money(plan.total_cost)));
                    r.push(Cell::num(&money(plan.cost_per_patient)));
                    r.push(Cell::num(&plan.mean_v2v_days.map_or("–".into(), n1)));
                    r.push(Cell::num(&plan.max_v2v_days.map_or("–".into(), n1)));
                }
                PointOutcome::NoPlan { reasons } => {
                    r.push(Cell::text(&format!("no plan: {}", reasons.join("; "))));
                    r.extend(std::iter::repeat_n(Cell::num("–"), 4));
                }
            }
            r
        })
        .collect();
    let hdr: Vec<&str> = header.iter().map(String::as_str).collect();
    b.push_str(&page::sortable_table(&hdr, &rows));
    let _ = write!(
        b,
        "<footer>every point: {} with the axes' values set, planned anew</footer>",
        escape(&st.points.first().map_or(String::new(), |p| format!(
            "{} (first: {})",
            st.network_file,
            study_axes_text(st, p)
        )))
    );
    page::document(&format!("Network study — {}", st.name), &b)
}

/// `points.csv` of a network study: one row per point.
pub fn network_study_csv(st: &NetworkStudy) -> String {
    let mut t = String::from("point");
    for a in &st.axes {
        t.push(',');
        t.push_str(&q(a));
    }
    t.push_str(",outcome,total_cost,fixed_cost,manufacturing_cost,transport_cost,cost_per_patient,mean_v2v_days,max_v2v_days,open_sites,serving_sites,reasons\n");
    for p in &st.points {
        let _ = write!(t, "{}", p.index);
        for v in &p.values {
            let _ = write!(t, ",{v}");
        }
        match &p.outcome {
            PointOutcome::Planned { plan } => {
                let _ = writeln!(
                    t,
                    ",planned,{},{},{},{},{},{},{},{},{},",
                    plan.total_cost,
                    plan.fixed_cost,
                    plan.manufacturing_cost,
                    plan.transport_cost,
                    plan.cost_per_patient,
                    plan.mean_v2v_days.map_or(String::new(), |v| v.to_string()),
                    plan.max_v2v_days.map_or(String::new(), |v| v.to_string()),
                    q(&plan.open_sites.join(";")),
                    q(&plan.serving_sites.join(";"))
                );
            }
            PointOutcome::NoPlan { reasons } => {
                let _ = writeln!(t, ",no_plan,,,,,,,,,,{}", q(&reasons.join("; ")));
            }
        }
    }
    t
}
