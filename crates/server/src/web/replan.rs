//! Re-planning a stored plant plan after a delay or a failed batch, from the
//! pages: the planner names the order (and step) and the hours, the server
//! re-plans with the scheduler's re-planning (started work stays fixed; the
//! same function as `POST /api/plan/v1/plans/{id}/replan`), stores the
//! result as the plan's next version and shows what moved: a table, the
//! plan's page of `atmpflow schedule` with its "what moved" section, and
//! `moves.csv`.
//!
//! The new plan version is stored in the database; the list of what moved
//! is kept in this process only (the last [`MAX_KEPT`] re-plans), so after a
//! restart the version is there but its "what moved" page is not.
//!
//! - `GET /plan/plans/{id}/replan`: the form;
//! - `POST /plan/plans/{id}/replan`: re-plan, then the moves;
//! - `GET /plan/plans/{id}/moves/{n}` and `…/moves/{n}/moves.csv`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use schedule::plan_doc::{PlanDoc, when};
use schedule::shop::{ShopOptions, ShopReplanned};

use super::pages::{Ctx, csrf_field, page};
use super::strings::{Text, t};
use super::{Form, esc, feedback_alert, problem, table_head};

/// Re-plans whose moves are kept in memory.
pub const MAX_KEPT: usize = 32;
/// Search time of a re-plan from the pages, seconds (assumption: a few
/// seconds give the local search room on the bundled plant examples; the
/// plan API allows up to a minute).
const SEARCH_S: u64 = 5;

type Kept = BTreeMap<(String, i64), Arc<ShopReplanned>>;

fn kept() -> &'static Mutex<Kept> {
    static KEPT: std::sync::OnceLock<Mutex<Kept>> = std::sync::OnceLock::new();
    KEPT.get_or_init(|| Mutex::new(BTreeMap::new()))
}

fn lock() -> std::sync::MutexGuard<'static, Kept> {
    kept()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn not_found(what: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        Text::NotFoundTitle,
        &format!("no planner page {what:?}"),
    )
}

/// The latest version of plan `id` and its document.
fn latest(ctx: &Ctx<'_>, id: &str) -> Result<(store::plans::Version, PlanDoc), Box<Response>> {
    let v = match ctx.st.store.read(|tx| store::plans::get(tx, id, None)) {
        Ok(v) => v,
        Err(store::plans::PlanError::Store(e)) => {
            return Err(Box::new(problem(
                StatusCode::SERVICE_UNAVAILABLE,
                Text::BadRequestTitle,
                &e.to_string(),
            )));
        }
        Err(e) => return Err(Box::new(not_found(&format!("plans/{id}: {e}")))),
    };
    match serde_json::from_str::<PlanDoc>(&v.document) {
        Ok(d) => Ok((v, d)),
        Err(e) => Err(Box::new(problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            Text::BadRequestTitle,
            &format!(
                "plan {id} version {}: the stored document is unreadable: {e}",
                v.version
            ),
        ))),
    }
}

/// `/plan/plans/{id}/replan` (the caller checked the planner role).
pub(super) fn answer(ctx: &Ctx<'_>, id: &str, read: bool, form: &Form) -> Response {
    let (v, doc) = match latest(ctx, id) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if read {
        return form_page(ctx, &v, &doc, None, StatusCode::OK);
    }
    let (events, as_of_h) = match events_of(form, &doc) {
        Ok(x) => x,
        Err(msg) => return form_page(ctx, &v, &doc, Some(&msg), StatusCode::UNPROCESSABLE_ENTITY),
    };
    let Ok(seen) = form.get("seen").parse::<i64>() else {
        return form_page(
            ctx,
            &v,
            &doc,
            Some("seen: the version the plan was opened at is missing"),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    };
    let opts = ShopOptions {
        time_limit: Some(Duration::from_secs(SEARCH_S)),
        ..ShopOptions::default()
    };
    let s = crate::plans::Seen {
        version: seen,
        by_header: false,
    };
    match crate::plans::replan_stored(
        ctx.st,
        ctx.who,
        id,
        s,
        &events,
        as_of_h,
        &opts,
        "the planning pages",
    ) {
        Ok((nv, r, summary)) => {
            let r = Arc::new(r);
            {
                let mut k = lock();
                while k.len() >= MAX_KEPT {
                    let Some(first) = k.keys().next().cloned() else {
                        break;
                    };
                    k.remove(&first);
                }
                k.insert((nv.id.clone(), nv.version), r.clone());
            }
            moves_page(ctx, &nv.id, nv.version, &r, Some(&summary.text()))
        }
        Err(e) => form_page(ctx, &v, &doc, Some(&e.text), e.status),
    }
}

/// The events file of the form (one event), and the re-planning instant.
fn events_of(form: &Form, doc: &PlanDoc) -> Result<(String, f64), String> {
    let order = form.get("order").trim();
    if !doc.shop.jobs.iter().any(|j| j.name == order) {
        return Err(format!("order: the plan has no order {order:?}"));
    }
    let num = |field: &str| -> Result<f64, String> {
        let raw = form.get(field).trim();
        raw.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && x.abs() < 1e6)
            .ok_or_else(|| format!("{field}: {raw:?} is not a number of hours"))
    };
    let as_of_h = num("as_of_h")?;
    let csv_field = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let text = match form.get("kind") {
        "delay" => {
            let step = form.get("step").trim();
            if step.is_empty() {
                return Err("step: a delay needs the step that takes longer".into());
            }
            let hours = num("hours")?;
            if hours <= 0.0 {
                return Err(format!(
                    "hours: {hours} — a delay is a positive number of hours"
                ));
            }
            format!(
                "kind,order,step,hours\ndelay,{},{},{hours}\n",
                csv_field(order),
                csv_field(step)
            )
        }
        "failed" => {
            let raw = form.get("hours").trim();
            if raw.is_empty() {
                format!("kind,order\nfailed,{}\n", csv_field(order))
            } else {
                let release = as_of_h + num("hours")?;
                format!(
                    "kind,order,release_h\nfailed,{},{release}\n",
                    csv_field(order)
                )
            }
        }
        k => return Err(format!("kind: {k:?} is neither a delay nor a failure")),
    };
    Ok((text, as_of_h))
}

/// The form: what happened, to which order and step, how many hours.
fn form_page(
    ctx: &Ctx<'_>,
    v: &store::plans::Version,
    doc: &PlanDoc,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let id = &v.id;
    let mut body = format!(
        "<p><a href=\"/plan\">{}</a> · <a href=\"/plan/plans/{}\">{}</a></p><h1>{}: {}</h1><p>{}</p>",
        esc(t(Text::ScenariosTitle)),
        esc(id),
        esc(t(Text::OpenGantt)),
        esc(t(Text::ReplanTitle)),
        esc(id),
        esc(&format!(
            "{} {} ({}: {}, {})",
            t(Text::Version),
            v.version,
            t(Text::Scenario),
            doc.scenario,
            t(Text::ReplanIntro)
        )),
    );
    if let Some(e) = error {
        body.push_str(&feedback_alert(e));
    }
    let mut orders = String::new();
    for j in &doc.shop.jobs {
        let _ = write!(orders, "<option>{}</option>", esc(&j.name));
    }
    let mut steps: Vec<&str> = doc
        .shop
        .products
        .iter()
        .flat_map(|p| p.ops.iter().map(|o| o.name.as_str()))
        .collect();
    steps.sort_unstable();
    steps.dedup();
    let mut step_opts = String::new();
    for s in steps {
        let _ = write!(step_opts, "<option>{}</option>", esc(s));
    }
    let start_h = doc
        .plant_plan
        .ops
        .iter()
        .map(|o| o.start)
        .min()
        .unwrap_or(0) as f64
        / 60.0;
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/plan/plans/{}/replan\">{}\
         <input type=\"hidden\" name=\"seen\" value=\"{}\">\
         <fieldset><legend>{}</legend>\
         <label class=\"choice\"><input type=\"radio\" name=\"kind\" value=\"delay\" checked> {}</label>\
         <label class=\"choice\"><input type=\"radio\" name=\"kind\" value=\"failed\"> {}</label></fieldset>\
         <label for=\"rp-order\">{}</label><select id=\"rp-order\" name=\"order\">{orders}</select>\
         <label for=\"rp-step\">{}<span class=\"hint\">{}</span></label>\
         <select id=\"rp-step\" name=\"step\">{step_opts}</select>\
         <label for=\"rp-hours\">{}<span class=\"hint\" id=\"rp-hours-hint\">{}</span></label>\
         <input id=\"rp-hours\" name=\"hours\" inputmode=\"decimal\" value=\"24\" aria-describedby=\"rp-hours-hint\">\
         <label for=\"rp-asof\">{}<span class=\"hint\" id=\"rp-asof-hint\">{}</span></label>\
         <input id=\"rp-asof\" name=\"as_of_h\" inputmode=\"decimal\" value=\"{start_h}\" aria-describedby=\"rp-asof-hint\">\
         <div class=\"row\"><div><button type=\"submit\">{}</button></div></div></form>",
        esc(id),
        csrf_field(ctx.csrf),
        v.version,
        esc(t(Text::WhatHappened)),
        esc(t(Text::KindDelay)),
        esc(t(Text::KindFailed)),
        esc(t(Text::Order)),
        esc(t(Text::Step)),
        esc(t(Text::StepHelp)),
        esc(t(Text::Hours)),
        esc(t(Text::HoursHelp)),
        esc(t(Text::AsOf)),
        esc(t(Text::AsOfHelp)),
        esc(t(Text::ReplanButton)),
    );
    page(ctx, status, t(Text::ReplanTitle), &body)
}

/// What moved in the re-plan that made version `n` of plan `id`.
fn moves_page(
    ctx: &Ctx<'_>,
    id: &str,
    n: i64,
    r: &ShopReplanned,
    summary: Option<&str>,
) -> Response {
    let mut body = format!(
        "<p><a href=\"/plan\">{}</a></p><h1>{}: {} {} {n}</h1>",
        esc(t(Text::ScenariosTitle)),
        esc(t(Text::MovedTitle)),
        esc(id),
        esc(t(Text::Version)),
    );
    if let Some(s) = summary {
        let _ = write!(
            body,
            "<div class=\"notice good\" role=\"alert\" id=\"feedback\"><p>{}: {}</p></div>",
            esc(t(Text::ReplanStored)),
            esc(s)
        );
    }
    let base = format!("/plan/plans/{}/moves/{n}", esc(id));
    let _ = write!(
        body,
        "<p><a class=\"button\" href=\"{base}/gantt\">{}</a> \
         <a class=\"button secondary\" href=\"{base}/moves.csv\" download>{}</a> \
         <a class=\"button secondary\" href=\"/plan/plans/{}/replan\">{}</a></p><p class=\"hint\">{}</p>",
        esc(t(Text::OpenMovedGantt)),
        esc(t(Text::MovesCsv)),
        esc(id),
        esc(t(Text::ReplanAgain)),
        esc(t(Text::MovesInMemory)),
    );
    if r.moves.is_empty() {
        let _ = write!(body, "<p>{}</p>", esc(t(Text::NothingMoved)));
    } else {
        table_head(
            &mut body,
            &format!(
                "<table id=\"moves\"><caption>{} ({})</caption>",
                esc(t(Text::MovedTitle)),
                r.moves.len()
            ),
            &[
                Text::Order,
                Text::Step,
                Text::OldStart,
                Text::NewStart,
                Text::ShiftH,
                Text::NewResources,
            ],
            None,
        );
        for m in &r.moves {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td class=\"nowrap\">{}</td><td class=\"nowrap\">{}</td>\
                 <td class=\"num\">{:+.1}</td><td>{}</td></tr>",
                esc(&m.order),
                esc(&m.op),
                esc(&when(m.old_start)),
                esc(&when(m.new_start)),
                (m.new_start - m.old_start) as f64 / 60.0,
                esc(&m.new_resources.join(" + ")),
            );
        }
        body.push_str("</tbody></table>");
    }
    page(ctx, StatusCode::OK, t(Text::MovedTitle), &body)
}

/// `GET /plan/plans/{id}/moves/{n}[/gantt|/moves.csv]`.
pub(super) fn moves(ctx: &Ctx<'_>, id: &str, n: &str, rest: &[&str]) -> Response {
    let Ok(n) = n.parse::<i64>() else {
        return not_found(n);
    };
    let Some(r) = lock().get(&(id.to_string(), n)).cloned() else {
        return problem(
            StatusCode::NOT_FOUND,
            Text::NotFoundTitle,
            t(Text::MovesGone),
        );
    };
    match rest {
        [] => moves_page(ctx, id, n, &r, None),
        ["moves.csv"] => super::planning::csv_download("moves.csv", report::moves_csv(&r)),
        ["gantt"] => {
            let v = match ctx.st.store.read(|tx| store::plans::get(tx, id, Some(n))) {
                Ok(v) => v,
                Err(e) => return not_found(&format!("plans/{id}: {e}")),
            };
            match serde_json::from_str::<PlanDoc>(&v.document) {
                Ok(doc) => super::planning::report_page(report::plant_html(&doc, Some(&r))),
                Err(e) => problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Text::BadRequestTitle,
                    &format!("plan {id} version {n}: the stored document is unreadable: {e}"),
                ),
            }
        }
        _ => not_found(&rest.join("/")),
    }
}
