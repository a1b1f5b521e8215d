//! The pages: log-in, the batch board, a batch (the operator's step screen,
//! QA's review by exception and assessment, the QP's disposition) and the
//! batch record. Each shows only what the person's batch roles may do; what
//! is done runs through the batch API's handlers, so the engine decides.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::http::StatusCode;
use axum::response::Response;
use batch::engine::{Command, Request};
use batch::entry::{Body, Classification, DispositionDecision, Entry, Label};
use batch::{Meaning, Role, Stage};
use store::auth::Principal;
use store::batch as sb;

use super::strings::{Text, t};
use super::{Form, batch_roles, esc, html, problem, redirect, table_head};
use crate::AppState;

/// What every page of a session knows.
pub(crate) struct Ctx<'a> {
    pub st: &'a AppState,
    pub who: &'a Principal,
    pub csrf: &'a str,
}

/// A whole page: `who` is the person and the session's CSRF token (the
/// header with the log-out form), `None` on the log-in page.
pub(crate) fn layout(title: &str, who: Option<(&Principal, &str)>, main: &str) -> String {
    let mut header = format!(
        "<a class=\"brand\" href=\"/\">{}</a>",
        esc(t(Text::AppName))
    );
    if let Some((p, csrf)) = who {
        if batch_roles(p).contains(&Role::Planner) {
            let _ = write!(
                header,
                "<nav aria-label=\"{}\"><a href=\"/\">{}</a><a href=\"/plan\">{}</a></nav>",
                esc(t(Text::MainNav)),
                esc(t(Text::NavBatches)),
                esc(t(Text::NavPlanning)),
            );
        }
        let roles: Vec<&str> = p.roles.iter().map(|r| r.as_str()).collect();
        let _ = write!(
            header,
            "<span class=\"who\">{}: <strong>{}</strong> ({}: {})</span>\
             <form method=\"post\" action=\"/logout\">{}\
             <button type=\"submit\">{}</button></form>",
            esc(t(Text::SignedInAs)),
            esc(&p.display_name),
            esc(t(Text::Roles)),
            esc(&roles.join(", ")),
            csrf_field(csrf),
            esc(t(Text::LogoutButton)),
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · {}</title><link rel=\"stylesheet\" href=\"/static/app.css\">\
         <script src=\"/static/app.js\" defer></script></head>\n<body>\
         <a class=\"skip\" href=\"#main\">{}</a>\
         <header class=\"top\">{header}</header>\n<main id=\"main\">\n{main}\n</main></body></html>\n",
        esc(title),
        esc(t(Text::AppName)),
        esc(t(Text::SkipToContent)),
    )
}

pub(crate) fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(csrf)
    )
}

/// The log-in page, with the refusal of a failed attempt.
pub(crate) fn login(refusal: Option<&str>) -> String {
    let notice = refusal.map_or(String::new(), super::alert);
    let body = format!(
        "<h1>{}</h1><p>{}</p>{notice}\
         <form method=\"post\" action=\"/login\">\
         <label for=\"user\">{}</label>\
         <input id=\"user\" name=\"user\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">{}</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <div><button type=\"submit\">{}</button></div></form>",
        esc(t(Text::LoginTitle)),
        esc(t(Text::LoginIntro)),
        esc(t(Text::UserName)),
        esc(t(Text::Password)),
        esc(t(Text::LoginButton)),
    );
    layout(t(Text::LoginTitle), None, &body)
}

pub(crate) fn page(ctx: &Ctx<'_>, status: StatusCode, title: &str, main: &str) -> Response {
    html(status, layout(title, Some((ctx.who, ctx.csrf)), main))
}

/// A page for a person without any role that reads batch records.
fn refuse_reading(ctx: &Ctx<'_>) -> Option<Response> {
    crate::caller::may_read(ctx.who)
        .err()
        .map(|e| problem(StatusCode::FORBIDDEN, Text::ForbiddenTitle, &e.text))
}

fn store_problem(e: impl std::fmt::Display) -> Response {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        Text::BadRequestTitle,
        &e.to_string(),
    )
}

/// The stage's machine name (`awaiting_disposition`) as stored.
fn stage_of(s: &str) -> Option<Stage> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

fn is_open(stage: Stage) -> bool {
    !matches!(
        stage,
        Stage::Rejected | Stage::Infused | Stage::Terminated | Stage::Shipped
    )
}

/// What the person would do on a batch in `stage`, by role: the link text.
fn action_for(roles: &[Role], stage: Stage) -> Text {
    let has = |r| roles.contains(&r);
    match stage {
        Stage::AwaitingDisposition if has(Role::QualifiedPerson) => Text::ActDispose,
        Stage::AwaitingDisposition if has(Role::Qa) => Text::ActReview,
        Stage::Ordered | Stage::ApheresisReceived | Stage::InProcess if has(Role::Operator) => {
            Text::ActExecute
        }
        _ if has(Role::Qa) => Text::ActReview,
        _ => Text::ActView,
    }
}

/// Whether a batch is "mine" for the person: they made an entry in it, or it
/// waits for something their roles do (the operator's next step, QA's
/// assessment of a deviation or review, the QP's disposition). The engine has
/// no assignment of batches to people; this is the nearest it knows.
fn is_mine(user: &str, roles: &[Role], b: &batch::Batch) -> bool {
    let has = |r| roles.contains(&r);
    let waits = match b.stage() {
        Stage::Ordered | Stage::ApheresisReceived | Stage::InProcess => {
            has(Role::Operator) || (has(Role::Qa) && !b.unassessed().is_empty())
        }
        Stage::AwaitingDisposition => has(Role::QualifiedPerson) || has(Role::Qa),
        _ => false,
    };
    waits || b.entries().iter().any(|e| e.by.user == user)
}

/// `GET /` (my batches) and `GET /?show=all` (all open batches): the board.
pub(crate) fn board(ctx: &Ctx<'_>, all: bool) -> Response {
    if let Some(r) = refuse_reading(ctx) {
        return r;
    }
    let roles = batch_roles(ctx.who);
    let listed = ctx.st.store.read(|tx| -> Result<_, sb::BatchError> {
        let (items, _) = sb::list(tx, None, None, 200)?;
        let mut rows = Vec::new();
        for s in items {
            let b = sb::load(tx, &s.id)?;
            rows.push((s, b));
        }
        Ok(rows)
    });
    let rows = match listed {
        Ok(r) => r,
        Err(e) => return store_problem(e),
    };
    let mut body = format!(
        "<h1>{}</h1><p>{}</p>",
        esc(t(Text::BoardTitle)),
        esc(t(Text::BoardIntro))
    );
    let user = crate::caller::actor(ctx.who).user;
    let open: Vec<_> = rows
        .iter()
        .filter(|(s, _)| stage_of(&s.stage).is_none_or(is_open))
        .collect();
    let mine: Vec<_> = open
        .iter()
        .copied()
        .filter(|(_, b)| b.as_ref().is_some_and(|b| is_mine(&user, &roles, &b.batch)))
        .collect();
    let tab = |href: &str, text: Text, n: usize, current: bool| {
        format!(
            "<a class=\"tab\" href=\"{href}\"{}>{} ({n})</a>",
            if current {
                " aria-current=\"page\""
            } else {
                ""
            },
            esc(t(text)),
        )
    };
    let _ = write!(
        body,
        "<nav class=\"tabs\" aria-label=\"{}\">{}{}</nav>",
        esc(t(Text::BoardViews)),
        tab("/", Text::MyBatches, mine.len(), !all),
        tab("/?show=all", Text::AllOpen, open.len(), all),
    );
    if !all {
        let _ = write!(
            body,
            "<p class=\"muted\">{}</p>",
            esc(t(Text::MyBatchesHelp))
        );
    }
    let open = if all { open } else { mine };
    if open.is_empty() {
        let empty = if all {
            Text::NoBatches
        } else {
            Text::NoMyBatches
        };
        let _ = write!(body, "<p>{}</p>", esc(t(empty)));
    } else {
        table_head(
            &mut body,
            "<table>",
            &[
                Text::Batch,
                Text::Product,
                Text::Stage,
                Text::NextStep,
                Text::PlannedStart,
            ],
            Some(Text::Open),
        );
        for (s, stored) in open {
            let stage = stage_of(&s.stage);
            let (next, hold) = match stored {
                Some(st) => (next_text(st), hold_deadline(st)),
                None => (String::new(), None),
            };
            let act = stage.map_or(Text::ActView, |g| action_for(&roles, g));
            let stage_text = stage.map_or(s.stage.clone(), |g| g.to_string());
            let _ = write!(
                body,
                "<tr><td class=\"nowrap\"><a href=\"/batch/{}\">{}</a></td><td>{}</td><td class=\"stage\">{}</td>\
                 <td>{}{}</td><td class=\"nowrap\">{}</td><td><a class=\"button\" href=\"/batch/{}\" \
                 aria-label=\"{} {}\">{}</a></td></tr>",
                enc(&s.id),
                esc(&s.id),
                esc(&s.product),
                esc(&stage_text),
                esc(&next),
                hold.map_or(String::new(), countdown),
                esc(&s.planned_start),
                enc(&s.id),
                esc(t(act)),
                esc(&s.id),
                esc(t(act)),
            );
        }
        body.push_str("</tbody></table>");
    }
    page(ctx, StatusCode::OK, t(Text::BoardTitle), &body)
}

fn enc(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The running or next step, as text.
fn next_text(s: &sb::Stored) -> String {
    let name = |id: &str| {
        s.recipe
            .step(id)
            .map_or(id.to_string(), |st| format!("{} ({id})", st.name))
    };
    match (s.batch.running(), s.batch.next_step()) {
        (Some((step, attempt)), _) => {
            format!("{}: {} #{attempt}", t(Text::Running), name(step))
        }
        (None, Some(step)) => name(step),
        (None, None) => String::new(),
    }
}

/// When the hold after the last completed step ends (seconds since 1970),
/// if that step has a maximum hold and the next step has not started.
fn hold_deadline(s: &sb::Stored) -> Option<i64> {
    if s.batch.running().is_some() || s.batch.next_step().is_none() {
        return None;
    }
    let (at, step) = s.batch.entries().iter().rev().find_map(|e| match &e.body {
        Body::StepCompleted(c) => Some((&e.at, c.step.as_str())),
        _ => None,
    })?;
    let h = s.recipe.step(step)?.max_hold_h?;
    Some(at.unix_seconds() + (h * 3600.0).round() as i64)
}

fn countdown(deadline: i64) -> String {
    format!(
        "<br><span class=\"hint\">{}: <span data-deadline=\"{deadline}\" data-over=\"{}\">{}</span></span>",
        esc(t(Text::HoldLeft)),
        esc(t(Text::HoldOverdue)),
        esc(&recipe::DateTime::from_unix_seconds(deadline).to_string()),
    )
}

/// What the last action did, shown on top of the batch page.
pub(crate) struct Feedback {
    ok: bool,
    lines: Vec<String>,
}

/// What the last action did, as the notice at the page's `#feedback`
/// anchor: applied, applied with a deviation raised, or refused.
fn feedback_notice(f: Feedback) -> String {
    let deviation = f
        .lines
        .iter()
        .any(|l| l.starts_with(t(Text::DeviationRaised)));
    let (class, head) = match (f.ok, deviation) {
        (true, false) => ("good", Text::Applied),
        (true, true) => ("warn", Text::AppliedWithDeviation),
        (false, _) => ("bad", Text::Refused),
    };
    let mut out = format!(
        "<div class=\"notice {class}\" role=\"alert\" id=\"feedback\"><p><strong>{}</strong></p><ul>",
        esc(t(head))
    );
    for l in f.lines {
        let _ = write!(out, "<li>{}</li>", esc(&l));
    }
    out.push_str("</ul></div>");
    out
}

/// `GET /batch/{id}` (and the page after an action, with its feedback).
pub(crate) fn batch(ctx: &Ctx<'_>, id: &str, feedback: Option<Feedback>) -> Response {
    if let Some(r) = refuse_reading(ctx) {
        return r;
    }
    let stored = match ctx.st.store.read(|tx| sb::load(tx, id)) {
        Ok(Some(s)) => s,
        Ok(None) => {
            return problem(
                StatusCode::NOT_FOUND,
                Text::NotFoundTitle,
                &format!("no batch {id:?}"),
            );
        }
        Err(e) => return store_problem(e),
    };
    let roles = batch_roles(ctx.who);
    let has = |r| roles.contains(&r);
    let b = &stored.batch;
    let o = b.order();
    let mut body = format!(
        "<p><a href=\"/\">{}</a></p><h1>{} {}</h1>",
        esc(t(Text::BackToBoard)),
        esc(t(Text::Batch)),
        esc(b.id())
    );
    let status = match &feedback {
        Some(f) if !f.ok => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    if let Some(f) = feedback {
        body.push_str(&feedback_notice(f));
    }
    let _ = write!(
        body,
        "<dl class=\"facts\"><dt>{}</dt><dd>{}</dd><dt>COI</dt><dd>{}</dd><dt>{}</dt>\
         <dd class=\"stage\">{}</dd><dt>{}</dt><dd>{}{}</dd></dl>\
         <p><a href=\"/batch/{}/record\">{}</a></p>",
        esc(t(Text::Product)),
        esc(&o.product),
        esc(&o.coi),
        esc(t(Text::Stage)),
        esc(&b.stage().to_string()),
        esc(t(Text::NextStep)),
        esc(&next_text(&stored)),
        hold_deadline(&stored).map_or(String::new(), countdown),
        enc(b.id()),
        esc(t(Text::OpenRecord)),
    );
    let head = b.entries().last().map_or(0, |e| e.seq);
    let form = |action: &str, inner: &str| {
        format!(
            "<form method=\"post\" action=\"/batch/{}\">{}\
             <input type=\"hidden\" name=\"expected_seq\" value=\"{head}\">\
             <input type=\"hidden\" name=\"action\" value=\"{action}\">{inner}</form>",
            enc(b.id()),
            csrf_field(ctx.csrf),
        )
    };
    let mut offered = false;
    if has(Role::Operator) {
        let op = operator_section(&stored, &form);
        offered |= !op.is_empty();
        body.push_str(&op);
        if b.stage() != Stage::Ordered {
            offered = true;
            body.push_str(&report_deviation_section(b, &form));
        }
    }
    if has(Role::Qa) || has(Role::QualifiedPerson) {
        body.push_str(&exceptions_section(b));
    }
    if has(Role::Qa) {
        let unassessed = b.unassessed();
        for (d, _) in b.deviations() {
            if !unassessed.contains(&d.number) {
                continue;
            }
            offered = true;
            body.push_str(&form("assess", &assess_fields(d)));
        }
    }
    if has(Role::QualifiedPerson) && b.stage() == Stage::AwaitingDisposition {
        offered = true;
        body.push_str(&form("dispose", &dispose_fields()));
    }
    let meanings: Vec<Meaning> = [Meaning::Performed, Meaning::Verified, Meaning::Reviewed]
        .into_iter()
        .filter(|m| m.roles().iter().any(|r| has(*r)))
        .collect();
    if !meanings.is_empty() && head > 0 {
        offered = true;
        body.push_str(&form("sign", &sign_fields(b, &meanings)));
    }
    if !offered {
        let _ = write!(body, "<p>{}</p>", esc(t(Text::NothingToDo)));
    }
    page(
        ctx,
        status,
        &format!("{} {}", t(Text::Batch), b.id()),
        &body,
    )
}

fn field(id: &str, label: &str, hint: &str, attrs: &str) -> String {
    let hint = if hint.is_empty() {
        String::new()
    } else {
        format!("<span class=\"hint\" id=\"{id}-hint\">{}</span>", esc(hint))
    };
    let described = if hint.is_empty() {
        String::new()
    } else {
        format!(" aria-describedby=\"{id}-hint\"")
    };
    format!(
        "<label for=\"{id}\">{}{hint}</label><input id=\"{id}\" {attrs}{described}>",
        esc(label)
    )
}

fn button(text: Text) -> String {
    format!(
        "<div><button type=\"submit\">{}</button></div>",
        esc(t(text))
    )
}

/// The three fields an operator scans or types to take material in hand: the
/// chain-of-identity code, the donation identification number and where it is.
fn scan_fields(prefix: &str) -> String {
    format!(
        "{}{}{}",
        field(
            &format!("{prefix}-coi"),
            t(Text::ScanCoi),
            t(Text::StartStepHelp),
            "name=\"coi\" data-scan autocomplete=\"off\" required autofocus",
        ),
        field(
            &format!("{prefix}-din"),
            t(Text::ScanDin),
            "",
            "name=\"din\" data-scan autocomplete=\"off\" required",
        ),
        field(
            &format!("{prefix}-loc"),
            t(Text::Location),
            "",
            "name=\"location\" required",
        ),
    )
}

/// The operator's part: receive, start the next step with its scans, or the
/// running step's values, equipment and completion.
fn operator_section(s: &sb::Stored, form: &dyn Fn(&str, &str) -> String) -> String {
    let b = &s.batch;
    if b.stage() == Stage::Ordered {
        let inner = format!(
            "<fieldset><legend>{}</legend>{}{}</fieldset>",
            esc(t(Text::ReceiveTitle)),
            scan_fields("rcv"),
            button(Text::ReceiveButton)
        );
        return form("receive", &inner);
    }
    if let Some((step, attempt)) = b.running() {
        return running_step_section(s, step, attempt, form);
    }
    let mut out = String::new();
    if let Some(step) = b.next_step()
        && matches!(b.stage(), Stage::ApheresisReceived | Stage::InProcess)
    {
        let name = s
            .recipe
            .step(step)
            .map_or(step.to_string(), |d| format!("{} ({step})", d.name));
        let inner = format!(
            "<fieldset><legend>{}: {}</legend>\
             <input type=\"hidden\" name=\"step\" value=\"{}\">{}{}</fieldset>",
            esc(t(Text::StartStepTitle)),
            esc(&name),
            esc(step),
            scan_fields("start"),
            button(Text::StartButton),
        );
        out.push_str(&form("start", &inner));
    }
    out
}

/// The running step (attempt `attempt`): its description, a form per
/// parameter value and per required piece of equipment, and its completion.
fn running_step_section(
    s: &sb::Stored,
    step: &str,
    attempt: u32,
    form: &dyn Fn(&str, &str) -> String,
) -> String {
    let def = s.recipe.step(step);
    let mut out = String::new();
    let _ = write!(
        out,
        "<section class=\"card\" aria-labelledby=\"step-h\"><h2 id=\"step-h\">{}: {} #{attempt}</h2>",
        esc(t(Text::StepTitle)),
        esc(&def.map_or(step.to_string(), |d| format!("{} ({step})", d.name))),
    );
    if let Some(d) = def {
        if !d.description.is_empty() {
            let _ = write!(out, "<p>{}</p>", esc(&d.description));
        }
        for (name, p) in &d.parameters {
            out.push_str(&form("value", &value_fieldset(step, name, p)));
        }
        for r in &d.requires {
            out.push_str(&form("equipment", &equipment_fieldset(step, r)));
        }
    }
    let inner = format!(
        "<fieldset><legend>{}</legend><p>{}</p>\
         <input type=\"hidden\" name=\"step\" value=\"{}\">{}{}</fieldset>",
        esc(t(Text::CompleteTitle)),
        esc(t(Text::CompleteHelp)),
        esc(step),
        field(
            "complete-failed",
            t(Text::FailedReason),
            "",
            "name=\"failed\" autocomplete=\"off\"",
        ),
        button(Text::CompleteButton),
    );
    out.push_str(&form("complete", &inner));
    out.push_str("</section>");
    out
}

/// The fields recording the value of parameter `name` of `step`, with its
/// allowed range and target as the hint.
fn value_fieldset(step: &str, name: &str, p: &recipe::recipe::ParamSpec) -> String {
    let range = match (p.min, p.max) {
        (Some(lo), Some(hi)) => format!("{} {lo} – {hi} {}", t(Text::Allowed), p.unit),
        (Some(lo), None) => format!("{} ≥ {lo} {}", t(Text::Allowed), p.unit),
        (None, Some(hi)) => format!("{} ≤ {hi} {}", t(Text::Allowed), p.unit),
        (None, None) => t(Text::NoRange).to_string(),
    };
    let target = p.target.map_or(String::new(), |v| {
        format!("; {} {v} {}", t(Text::Target), p.unit)
    });
    let fid = format!("v-{}", css_id(name));
    format!(
        "<fieldset><legend>{} ({})</legend>\
         <input type=\"hidden\" name=\"step\" value=\"{}\">\
         <input type=\"hidden\" name=\"field\" value=\"parameters.{}\">\
         <input type=\"hidden\" name=\"unit\" value=\"{}\">{}{}</fieldset>",
        esc(name),
        esc(&p.unit.to_string()),
        esc(step),
        esc(name),
        esc(&p.unit.to_string()),
        field(
            &fid,
            &format!("{name} [{}]", p.unit),
            &format!("{range}{target}"),
            "name=\"value\" inputmode=\"decimal\" autocomplete=\"off\" required",
        ),
        button(Text::SaveValue),
    )
}

/// The fields naming the equipment used for requirement `r` of `step`.
fn equipment_fieldset(step: &str, r: &recipe::recipe::Requirement) -> String {
    let fid = format!("eq-{}", css_id(&r.name));
    format!(
        "<fieldset><legend>{}: {}</legend>\
         <input type=\"hidden\" name=\"step\" value=\"{}\">\
         <input type=\"hidden\" name=\"requirement\" value=\"{}\">{}{}</fieldset>",
        esc(t(Text::EquipmentTitle)),
        esc(&r.name),
        esc(step),
        esc(&r.name),
        field(
            &fid,
            t(Text::Equipment),
            &r.capability,
            "name=\"equipment\" data-scan autocomplete=\"off\" required",
        ),
        button(Text::UseEquipmentButton),
    )
}

/// The operator's report of a deviation the engine cannot see (for the
/// running step, if one runs), folded away below the step's own forms.
fn report_deviation_section(b: &batch::Batch, form: &dyn Fn(&str, &str) -> String) -> String {
    let step = b.running().map(|(s, _)| s);
    let inner = format!(
        "<fieldset><legend>{}</legend><p>{}</p>{}\
         <label for=\"dev-what\">{}</label>\
         <textarea id=\"dev-what\" name=\"observation\" rows=\"3\" maxlength=\"2000\" required></textarea>{}</fieldset>",
        esc(t(Text::ReportDeviationTitle)),
        esc(t(Text::ReportDeviationHelp)),
        step.map_or(String::new(), |s| format!(
            "<input type=\"hidden\" name=\"step\" value=\"{}\"><p>{}: <strong>{}</strong></p>",
            esc(s),
            esc(t(Text::StepTitle)),
            esc(s)
        )),
        esc(t(Text::Observation)),
        button(Text::ReportDeviationButton),
    );
    format!(
        "<details class=\"card\" id=\"report-deviation\"><summary>{}</summary>{}</details>",
        esc(t(Text::ReportDeviationTitle)),
        form("report_deviation", &inner)
    )
}

/// An id-safe form of a name (letters, digits, `-`).
fn css_id(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Review by exception: deviations (with their assessment), corrections and
/// signatures, with the same one-line text as the batch record.
fn exceptions_section(b: &batch::Batch) -> String {
    let ex = b.exceptions();
    let mut out = format!(
        "<section class=\"card\" aria-labelledby=\"ex-h\"><h2 id=\"ex-h\">{}</h2><p>{}</p>",
        esc(t(Text::ExceptionsTitle)),
        esc(t(Text::ExceptionsIntro))
    );
    if ex.is_empty() {
        let _ = write!(out, "<p>{}</p></section>", esc(t(Text::NoExceptions)));
        return out;
    }
    let classes: BTreeMap<u32, Option<Classification>> = b
        .deviations()
        .into_iter()
        .map(|(d, c)| (d.number, c))
        .collect();
    table_head(
        &mut out,
        "<table>",
        &[Text::Entry, Text::When, Text::Who, Text::What],
        None,
    );
    for e in ex {
        let mut what = esc(&report::record::summary(e));
        if let Body::Deviation(d) = &e.body {
            let c = classes.get(&d.number).copied().flatten();
            let _ = write!(
                what,
                " — {}: {}",
                esc(t(Text::Classification)),
                match c {
                    Some(c) =>
                        format!("<strong>{}</strong>", esc(&format!("{c:?}").to_lowercase())),
                    None => format!("<span class=\"bad\">{}</span>", esc(t(Text::Unassessed))),
                }
            );
        }
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"nowrap\">{}</td><td>{}</td><td>{what}</td></tr>",
            e.seq,
            esc(&e.at.to_string()),
            esc(&report::record::who(e)),
        );
    }
    out.push_str("</tbody></table></section>");
    out
}

fn options(items: &[(&str, Text)]) -> String {
    items
        .iter()
        .map(|(v, l)| format!("<option value=\"{v}\">{}</option>", esc(t(*l))))
        .collect()
}

fn select(id: &str, name: &str, label: Text, opts: &str) -> String {
    format!(
        "<label for=\"{id}\">{}</label><select id=\"{id}\" name=\"{name}\" required>{opts}</select>",
        esc(t(label))
    )
}

fn assess_fields(d: &batch::entry::DeviationEntry) -> String {
    let n = d.number;
    let mut classes = vec![
        ("minor", Text::ClassMinor),
        ("major", Text::ClassMajor),
        ("critical", Text::ClassCritical),
    ];
    if d.critical {
        classes.retain(|(v, _)| *v == "critical");
    }
    format!(
        "<fieldset><legend>{} {n}: {} — {}</legend>\
         <input type=\"hidden\" name=\"deviation\" value=\"{n}\">{}{}{}{}</fieldset>",
        esc(t(Text::AssessTitle)),
        esc(&d.field),
        esc(&format!("expected {}, actual {}", d.expected, d.actual)),
        select(
            &format!("cls-{n}"),
            "classification",
            Text::Classification,
            &options(&classes)
        ),
        field(
            &format!("capa-{n}"),
            t(Text::Capa),
            "",
            "name=\"capa\" autocomplete=\"off\"",
        ),
        field(
            &format!("why-{n}"),
            t(Text::Rationale),
            "",
            "name=\"rationale\" autocomplete=\"off\" required",
        ),
        button(Text::AssessButton),
    )
}

fn password_field(id: &str) -> String {
    field(
        id,
        t(Text::Password),
        t(Text::SignHelp),
        "name=\"password\" type=\"password\" autocomplete=\"current-password\" required",
    )
}

fn dispose_fields() -> String {
    format!(
        "<fieldset><legend>{}</legend><p>{}</p>{}{}{}{}</fieldset>",
        esc(t(Text::DispositionTitle)),
        esc(t(Text::DispositionHelp)),
        select(
            "decision",
            "decision",
            Text::Decision,
            &options(&[
                ("release", Text::DecisionRelease),
                ("release_with_deviation", Text::DecisionReleaseDev),
                ("reject", Text::DecisionReject),
            ])
        ),
        field(
            "reason",
            t(Text::Reason),
            "",
            "name=\"reason\" autocomplete=\"off\" required",
        ),
        password_field("dispose-pw"),
        button(Text::DisposeButton),
    )
}

/// The e-signature form: an entry (newest first), the meaning (only those
/// the person's roles may sign with) and the re-entered password.
fn sign_fields(b: &batch::Batch, meanings: &[Meaning]) -> String {
    let entries: String = b
        .entries()
        .iter()
        .rev()
        .filter(|e| !matches!(e.body, Body::Signature(_)))
        .take(20)
        .map(|e: &Entry| {
            format!(
                "<option value=\"{}:{}\">{} {}: {}</option>",
                e.seq,
                esc(&e.hash),
                esc(t(Text::Entry)),
                e.seq,
                esc(&report::record::summary(e))
            )
        })
        .collect();
    let ms: Vec<(&str, Text)> = meanings
        .iter()
        .map(|m| match m {
            Meaning::Performed => ("performed", Text::MeaningPerformed),
            Meaning::Verified => ("verified", Text::MeaningVerified),
            Meaning::Reviewed => ("reviewed", Text::MeaningReviewed),
            Meaning::Released => ("released", Text::DecisionRelease),
        })
        .collect();
    format!(
        "<fieldset><legend>{}</legend>{}{}{}{}</fieldset>",
        esc(t(Text::SignTitle)),
        select("sign-entry", "target", Text::SignEntry, &entries),
        select("sign-meaning", "meaning", Text::Meaning, &options(&ms)),
        password_field("sign-pw"),
        button(Text::SignButton),
    )
}

/// `POST /batch/{id}`: one action of the page's forms, run by the batch
/// API's handlers; the batch page again with what the engine answered.
pub(crate) fn act(ctx: &Ctx<'_>, id: &str, f: &Form) -> Response {
    let expected_seq = f.get("expected_seq").parse::<u64>().ok();
    let command = match form_command(f) {
        Ok(c) => c,
        Err(m) => return batch(ctx, id, Some(refused(vec![m]))),
    };
    if matches!(command, Command::Sign { .. } | Command::Dispose { .. }) {
        let purpose = format!("signature: {} of batch {id} (web)", command.name());
        if let Err(e) = crate::batch::reauthenticate(ctx.st, ctx.who, f.get("password"), &purpose) {
            return batch(ctx, id, Some(refused(vec![e.text])));
        }
    }
    let req = Request {
        command,
        key: None,
        expected_seq,
    };
    match crate::batch::execute(ctx.st, ctx.who, id, &req) {
        Ok(o) => batch(ctx, id, Some(outcome_feedback(&o))),
        Err(e) if e.status == StatusCode::NOT_FOUND => redirect("/"),
        Err(e) => batch(ctx, id, Some(refused(vec![e.text]))),
    }
}

/// The command the form's `action` names, from the form's fields; what is
/// wrong with them when they do not make one.
fn form_command(f: &Form) -> Result<Command, String> {
    let label = || Label {
        coi: f.get("coi").trim().to_string(),
        din: f.get("din").trim().to_string(),
    };
    let text = |n: &str| f.get(n).trim().to_string();
    match f.get("action") {
        "receive" => Ok(Command::ReceiveApheresis {
            location: text("location"),
            scanned: label(),
        }),
        "start" => Ok(Command::StartStep {
            step: text("step"),
            location: text("location"),
            scanned: label(),
        }),
        "equipment" => Ok(Command::UseEquipment {
            step: text("step"),
            requirement: text("requirement"),
            equipment: text("equipment"),
        }),
        "value" => match text("value").replace(',', ".").parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Command::RecordValue {
                step: text("step"),
                field: text("field"),
                value: v,
                unit: text("unit"),
                source: batch::entry::Source::Manual,
            }),
            _ => Err(format!("value: {:?} is not a number", f.get("value"))),
        },
        "complete" => Ok(Command::CompleteStep {
            step: text("step"),
            measures: BTreeMap::new(),
            failed: Some(text("failed")).filter(|s| !s.is_empty()),
        }),
        "assess" => assess_command(f),
        "report_deviation" => Ok(Command::ReportDeviation {
            step: Some(text("step")).filter(|s| !s.is_empty()),
            observation: text("observation"),
        }),
        "sign" => sign_command(f),
        "dispose" => {
            let decision = match f.get("decision") {
                "release" => Ok(DispositionDecision::Release),
                "release_with_deviation" => Ok(DispositionDecision::ReleaseWithDeviation),
                "reject" => Ok(DispositionDecision::Reject),
                other => Err(format!("decision: unknown {other:?}")),
            };
            decision.map(|decision| Command::Dispose {
                decision,
                reason: text("reason"),
            })
        }
        other => Err(format!("action: unknown {other:?}")),
    }
}

/// The assessment of a deviation: its number, classification, CAPA and
/// rationale.
fn assess_command(f: &Form) -> Result<Command, String> {
    let text = |n: &str| f.get(n).trim().to_string();
    let class = match f.get("classification") {
        "minor" => Ok(Classification::Minor),
        "major" => Ok(Classification::Major),
        "critical" => Ok(Classification::Critical),
        other => Err(format!("classification: unknown {other:?}")),
    };
    match (class, f.get("deviation").parse::<u32>()) {
        (Ok(c), Ok(n)) => Ok(Command::AssessDeviation {
            deviation: n,
            classification: c,
            capa: Some(text("capa")).filter(|s| !s.is_empty()),
            rationale: text("rationale"),
        }),
        (Err(e), _) => Err(e),
        (_, Err(_)) => Err("deviation: not a deviation number".to_string()),
    }
}

/// What the engine answered, as the page's feedback: the refusal (if it
/// refused) and a line per entry it wrote, deviations marked.
fn outcome_feedback(o: &sb::Outcome) -> Feedback {
    let mut lines = Vec::new();
    let refusal = match o {
        sb::Outcome::Refused { refusal, .. } => Some(refusal.message.clone()),
        sb::Outcome::Applied { .. } => None,
    };
    if let Some(m) = &refusal {
        lines.push(m.clone());
    }
    for e in o.entries() {
        let prefix = if matches!(e.body, Body::Deviation(_)) {
            format!("{}: ", t(Text::DeviationRaised))
        } else {
            String::new()
        };
        lines.push(format!(
            "{prefix}{} {}: {}",
            t(Text::Entry),
            e.seq,
            report::record::summary(e)
        ));
    }
    Feedback {
        ok: refusal.is_none(),
        lines,
    }
}

fn refused(lines: Vec<String>) -> Feedback {
    Feedback { ok: false, lines }
}

/// The signature of the entry the form names with the hash the page showed
/// (`SEQ:HASH`): the engine refuses it if the entry is not the one shown.
fn sign_command(f: &Form) -> Result<Command, String> {
    let (target, hash) = f
        .get("target")
        .split_once(':')
        .and_then(|(n, h)| Some((n.parse::<u64>().ok()?, h.to_string())))
        .ok_or_else(|| "target: not an entry of this batch".to_string())?;
    let meaning = match f.get("meaning") {
        "performed" => Meaning::Performed,
        "verified" => Meaning::Verified,
        "reviewed" => Meaning::Reviewed,
        other => return Err(format!("meaning: unknown {other:?}")),
    };
    Ok(Command::Sign {
        target,
        target_hash: hash,
        meaning,
    })
}

/// `GET /batch/{id}/record`: the batch record, rendered by the same code as
/// `atmpflow batch report`.
pub(crate) fn record(ctx: &Ctx<'_>, id: &str) -> Response {
    if let Some(r) = refuse_reading(ctx) {
        return r;
    }
    match ctx.st.store.read(|tx| sb::load(tx, id)) {
        Ok(Some(s)) => {
            let mut r = html(StatusCode::OK, report::record::batch_record_html(&s.batch));
            // the report page carries its own inline style sheet and no script
            r.headers_mut().insert(
                axum::http::header::CONTENT_SECURITY_POLICY,
                axum::http::HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
                     frame-ancestors 'none'; base-uri 'none'",
                ),
            );
            r
        }
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            Text::NotFoundTitle,
            &format!("no batch {id:?}"),
        ),
        Err(e) => store_problem(e),
    }
}
