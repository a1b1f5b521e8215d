//! The planner's pages: the scenario list (the bundled examples), a scenario
//! editor whose text is checked by the same loader as `atmpflow validate`
//! (each error shown at its line) and started as a simulation run in the
//! background ([`super::runs`]: progress, cancel, the HTML report of
//! `atmpflow simulate` and its CSV files); the stored plant plans (plan API)
//! as the Gantt-chart page of `atmpflow schedule`; the comparison
//! ([`super::compare`]) and study ([`super::study`]) pages.

use std::fmt::Write;

use axum::http::StatusCode;
use axum::response::Response;
use batch::Role;

use super::pages::{Ctx, page};
use super::planning::{EXAMPLES, not_found, replications, report_page, sha256, validate};
use super::stored::editor;
use super::strings::{Text, t};
use super::{Form, alert, batch_roles, esc, problem, redirect, table_head};

/// Largest scenario text accepted from the editor (the pages' form limit
/// applies first).
const MAX_SCENARIO: usize = 120 << 10;
/// A refusal for a person without the planner role.
fn refuse(ctx: &Ctx<'_>) -> Option<Response> {
    (!batch_roles(ctx.who).contains(&Role::Planner)).then(|| {
        problem(
            StatusCode::FORBIDDEN,
            Text::ForbiddenTitle,
            t(Text::PlannerOnly),
        )
    })
}

/// Answers the planner's pages under `/plan`.
pub(crate) fn answer(ctx: &Ctx<'_>, segs: &[&str], read: bool, form: &Form) -> Response {
    if let Some(r) = refuse(ctx) {
        return r;
    }
    match (segs, read) {
        ([], true) => list(ctx),
        (["example", name], true) => match EXAMPLES.iter().find(|(n, _)| n == name) {
            Some((n, text)) => editor(ctx, n, text, None, None, StatusCode::OK),
            None => not_found(name),
        },
        (["new"], true) => editor(ctx, "my-scenario.toml", "", None, None, StatusCode::OK),
        (["scenarios", rest @ ..], _) => super::stored::answer(ctx, rest, read, form),
        (["plans", id, "replan"], _) => super::replan::answer(ctx, id, read, form),
        (["plans", id, "moves", n, rest @ ..], true) => super::replan::moves(ctx, id, n, rest),
        (["plans", id], true) => plan(ctx, id),
        (["check"], false) => check(ctx, form),
        (["compare"], true) => super::compare::form_page(ctx),
        (["compare"], false) => super::compare::submit(ctx, form),
        (["study"], true) => super::study::form_page(ctx, None),
        (["study", "example", name], true) => super::study::form_page(ctx, Some(name)),
        (["study"], false) => super::study::submit(ctx, form),
        (["run", rest @ ..], _) => super::runs::answer(ctx, rest, read),
        _ => not_found(&segs.join("/")),
    }
}

/// `GET /plan`: the scenarios.
fn list(ctx: &Ctx<'_>) -> Response {
    let mut body = format!(
        "<h1>{}</h1><p>{}</p><p><a class=\"button\" href=\"/plan/new\">{}</a> \
         <a class=\"button secondary\" href=\"/plan/compare\">{}</a> \
         <a class=\"button secondary\" href=\"/plan/study\">{}</a></p>{}\
         <h2>{}</h2>",
        esc(t(Text::ScenariosTitle)),
        esc(t(Text::ScenariosIntro)),
        esc(t(Text::NewScenario)),
        esc(t(Text::CompareLink)),
        esc(t(Text::StudyLink)),
        super::stored::list_section(ctx),
        esc(t(Text::ExamplesTitle)),
    );
    table_head(
        &mut body,
        "<table>",
        &[Text::Scenario, Text::Description],
        None,
    );
    for (name, text) in EXAMPLES {
        let _ = write!(
            body,
            "<tr><td class=\"nowrap\"><a href=\"/plan/example/{}\">{}</a></td><td>{}</td></tr>",
            esc(name),
            esc(name),
            esc(&first_comment(text)),
        );
    }
    body.push_str("</tbody></table>");
    let _ = write!(
        body,
        "<h2>{}</h2><p>{}</p>",
        esc(t(Text::PlansTitle)),
        esc(t(Text::PlansIntro))
    );
    match ctx.st.store.read(|tx| store::plans::list(tx, None, 100)) {
        Ok((plans, _)) if plans.is_empty() => {
            let _ = write!(body, "<p>{}</p>", esc(t(Text::NoPlans)));
        }
        Ok((plans, _)) => {
            table_head(
                &mut body,
                "<table>",
                &[
                    Text::Plan,
                    Text::Scenario,
                    Text::Version,
                    Text::When,
                    Text::ReplanTitle,
                ],
                None,
            );
            for p in plans {
                let _ = write!(
                    body,
                    "<tr><td><a href=\"/plan/plans/{}\">{}</a></td><td>{}</td><td>{}</td>\
                     <td class=\"nowrap\">{} ({})</td><td><a href=\"/plan/plans/{0}/replan\">{}</a></td></tr>",
                    percent_encoding::utf8_percent_encode(
                        &p.id,
                        percent_encoding::NON_ALPHANUMERIC
                    ),
                    esc(&p.id),
                    esc(&p.scenario),
                    p.version,
                    esc(&p.updated_at),
                    esc(&p.updated_by),
                    esc(t(Text::ReplanLink)),
                );
            }
            body.push_str("</tbody></table>");
        }
        Err(e) => {
            body.push_str(&alert(&e.to_string()));
        }
    }
    page(ctx, StatusCode::OK, t(Text::ScenariosTitle), &body)
}

/// `GET /plan/plans/{id}`: the latest version of a stored plant plan as the
/// page `atmpflow schedule` writes (`report::plant_html`: key figures, the
/// Gantt charts per resource and per order, the orders).
fn plan(ctx: &Ctx<'_>, id: &str) -> Response {
    let v = match ctx.st.store.read(|tx| store::plans::get(tx, id, None)) {
        Ok(v) => v,
        Err(store::plans::PlanError::Store(e)) => {
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                Text::BadRequestTitle,
                &e.to_string(),
            );
        }
        Err(e) => return not_found(&format!("plans/{id}: {e}")),
    };
    let doc: schedule::plan_doc::PlanDoc = match serde_json::from_str(&v.document) {
        Ok(d) => d,
        Err(e) => {
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                Text::BadRequestTitle,
                &format!(
                    "plan {id} version {}: the stored document is unreadable: {e}",
                    v.version
                ),
            );
        }
    };
    report_page(report::plant_html(&doc, None))
}

/// The scenario's name (the first `name = "…"` line, that of `[scenario]`),
/// else its first comment line.
fn first_comment(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("name = \"")?.split('"').next())
        .or_else(|| text.lines().find_map(|l| l.strip_prefix('#')))
        .map_or(String::new(), |l| l.trim().to_string())
}

/// `POST /plan/check`: check the text; with `do=run` and no error, start a run.
fn check(ctx: &Ctx<'_>, form: &Form) -> Response {
    let name = match form.get("name").trim() {
        "" => "scenario.toml",
        n => n,
    };
    let name: String = name.chars().filter(|c| !c.is_control()).take(120).collect();
    let text = form.get("text").replace("\r\n", "\n");
    if form.get("do") == "save" {
        return super::stored::save(ctx, form, &name, &text);
    }
    let stored = super::stored::from_form(ctx, form);
    if text.len() > MAX_SCENARIO {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            Text::BadRequestTitle,
            &format!("the scenario text is longer than {MAX_SCENARIO} bytes"),
        );
    }
    let model = match validate(&name, &text) {
        Ok(m) => m,
        Err(errors) => {
            return editor(
                ctx,
                &name,
                &text,
                Some(&errors),
                stored.as_ref(),
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    if form.get("do") != "run" {
        return editor(
            ctx,
            &name,
            &text,
            Some(&[]),
            stored.as_ref(),
            StatusCode::OK,
        );
    }
    let reps = match replications(form) {
        Ok(n) => n,
        Err(refused) => return *refused,
    };
    let id = super::runs::start(
        ctx.who.user.clone(),
        name,
        vec![(model, sha256(&text))],
        reps,
    );
    redirect(&format!("/plan/run/{id}"))
}
