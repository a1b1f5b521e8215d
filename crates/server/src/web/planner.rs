//! The planner's pages: the scenario list (the bundled examples), a scenario
//! editor whose text is checked by the same loader as `atmpflow validate`
//! (each error shown at its line) and started as a simulation run in the
//! background ([`super::runs`]: progress, cancel, the HTML report of
//! `atmpflow simulate` and its CSV files); the stored plant plans (plan API)
//! as the Gantt-chart page of `atmpflow schedule`; the comparison
//! ([`super::compare`]) and study ([`super::study`]) pages.

use std::fmt::Write;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use batch::Role;

use super::pages::{Ctx, csrf_field, page};
use super::strings::{Text, t};
use super::{Form, alert, batch_roles, esc, html, problem, redirect};

/// The example scenarios bundled in the binary: file name and text.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "concept-1-all-in-one.toml",
        include_str!("../../../../examples/concept-1-all-in-one.toml"),
    ),
    (
        "concept-2-chained-devices.toml",
        include_str!("../../../../examples/concept-2-chained-devices.toml"),
    ),
    (
        "concept-3-modular-plant.toml",
        include_str!("../../../../examples/concept-3-modular-plant.toml"),
    ),
    (
        "concept-4-integrated-platform.toml",
        include_str!("../../../../examples/concept-4-integrated-platform.toml"),
    ),
    (
        "plant-two-products.toml",
        include_str!("../../../../examples/plant-two-products.toml"),
    ),
    (
        "strategy-a-integrated.toml",
        include_str!("../../../../examples/strategy-a-integrated.toml"),
    ),
];

/// Largest scenario text accepted from the editor (the pages' form limit
/// applies first).
const MAX_SCENARIO: usize = 120 << 10;
/// Most replications a run from the pages may ask for (assumption: enough
/// for a first look; larger studies belong to `atmpflow simulate`/`study`).
pub const MAX_REPLICATIONS: u32 = 200;

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

pub(super) fn not_found(what: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        Text::NotFoundTitle,
        &format!("no planner page {what:?}"),
    )
}

/// `GET /plan`: the scenarios.
fn list(ctx: &Ctx<'_>) -> Response {
    let mut body = format!(
        "<h1>{}</h1><p>{}</p><p><a class=\"button\" href=\"/plan/new\">{}</a> \
         <a class=\"button secondary\" href=\"/plan/compare\">{}</a> \
         <a class=\"button secondary\" href=\"/plan/study\">{}</a></p>{}\
         <h2>{}</h2><table><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        esc(t(Text::ScenariosTitle)),
        esc(t(Text::ScenariosIntro)),
        esc(t(Text::NewScenario)),
        esc(t(Text::CompareLink)),
        esc(t(Text::StudyLink)),
        super::stored::list_section(ctx),
        esc(t(Text::ExamplesTitle)),
        esc(t(Text::Scenario)),
        esc(t(Text::Description)),
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
            let _ = write!(
                body,
                "<table><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
                 <th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
                esc(t(Text::Plan)),
                esc(t(Text::Scenario)),
                esc(t(Text::Version)),
                esc(t(Text::When)),
                esc(t(Text::ReplanTitle)),
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

/// A report page of the `report` crate: its own inline style sheet and
/// table-sorting script, nothing from elsewhere.
pub(super) fn report_page(text: String) -> Response {
    let mut resp = html(StatusCode::OK, text);
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
             img-src data:; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    resp
}

/// The scenario's name (the first `name = "…"` line, that of `[scenario]`),
/// else its first comment line.
fn first_comment(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("name = \"")?.split('"').next())
        .or_else(|| text.lines().find_map(|l| l.strip_prefix('#')))
        .map_or(String::new(), |l| l.trim().to_string())
}

/// The editor: the scenario's name and text, with the checker's findings.
///
/// `stored`: the stored scenario the text is a version of (its id and
/// version; a save adds the next version), `None` for a text not stored yet
/// (a save stores a new scenario).
pub(super) fn editor(
    ctx: &Ctx<'_>,
    name: &str,
    text: &str,
    findings: Option<&[model::FileError]>,
    stored: Option<&store::scenarios::Version>,
    status: StatusCode,
) -> Response {
    let mut body = format!(
        "<p><a href=\"/plan\">{}</a></p><h1>{}</h1>",
        esc(t(Text::ScenariosTitle)),
        esc(name)
    );
    if let Some(v) = stored {
        body.push_str(&super::stored::banner(v));
    }
    if let Some(errors) = findings {
        if errors.is_empty() {
            let _ = write!(
                body,
                "<div class=\"notice good\" role=\"alert\" id=\"feedback\"><p>{}</p></div>",
                esc(t(Text::ScenarioValid))
            );
        } else {
            body.push_str(&error_notice(t(Text::ScenarioErrors), errors, None));
            body.push_str(&numbered(text, errors, t(Text::ScenarioLines)));
        }
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/plan/check\">{}\
         <label for=\"sc-name\">{}</label>\
         <input id=\"sc-name\" name=\"name\" value=\"{}\" required autocomplete=\"off\">\
         <label for=\"sc-file\">{}<span class=\"hint\">{}</span></label>\
         <input id=\"sc-file\" type=\"file\" accept=\".toml,text/plain\" data-load-into=\"sc-text\">\
         <label for=\"sc-text\">{}</label>\
         <textarea id=\"sc-text\" name=\"text\" rows=\"22\" spellcheck=\"false\" class=\"code\" required>{}</textarea>\
         <label for=\"sc-reps\">{}<span class=\"hint\" id=\"sc-reps-hint\">{}</span></label>\
         <input id=\"sc-reps\" name=\"replications\" inputmode=\"numeric\" value=\"20\" aria-describedby=\"sc-reps-hint\">\
         <div class=\"row\"><div><button type=\"submit\" name=\"do\" value=\"check\">{}</button> \
         <button type=\"submit\" name=\"do\" value=\"run\" class=\"secondary\">{}</button> \
         <button type=\"submit\" name=\"do\" value=\"save\" class=\"secondary\">{}</button></div></div></form>",
        format_args!(
            "{}{}",
            csrf_field(ctx.csrf),
            stored.map_or(String::new(), super::stored::hidden_fields)
        ),
        esc(t(Text::ScenarioName)),
        esc(name),
        esc(t(Text::UploadScenario)),
        esc(t(Text::UploadHelp)),
        esc(t(Text::ScenarioText)),
        esc(text),
        esc(t(Text::Replications)),
        esc(&format!("2 – {MAX_REPLICATIONS}")),
        esc(t(Text::CheckButton)),
        esc(t(Text::RunButton)),
        esc(t(Text::SaveScenario)),
    );
    if let Some(v) = stored {
        body.push_str(&super::stored::history_and_delete(ctx, v));
    }
    page(ctx, status, name, &body)
}

/// The notice listing located errors under `title`, each linking to its
/// marked line (`#L{n}`). `own`: the name of the file shown with
/// [`numbered`] when errors may come from other files too (those are named
/// and not linked); `None`: every error is in the shown text.
pub(super) fn error_notice(title: &str, errors: &[model::FileError], own: Option<&str>) -> String {
    let mut out = format!(
        "<div class=\"notice bad\" role=\"alert\" id=\"feedback\"><p><strong>{} ({})</strong></p><ul>",
        esc(title),
        errors.len()
    );
    for e in errors {
        let at = format!(
            "{} {}, {} {}",
            t(Text::Line),
            e.line,
            t(Text::Column),
            e.column
        );
        let place = match own {
            Some(f) if f != e.file => format!("{} {}", esc(&e.file), esc(&at)),
            _ => format!("<a href=\"#L{}\">{}</a>", e.line, esc(&at)),
        };
        let _ = write!(
            out,
            "<li>{place}: <code>{}</code> — {}</li>",
            esc(&e.field),
            esc(&e.message),
        );
    }
    out.push_str("</ul></div>");
    out
}

/// The text with line numbers under `title`, the lines with errors marked
/// (each with an anchor `#L{n}`).
pub(super) fn numbered(text: &str, errors: &[model::FileError], title: &str) -> String {
    let mut out = format!(
        "<section class=\"card\" aria-labelledby=\"src-h\"><h2 id=\"src-h\">{}</h2><pre class=\"src\" tabindex=\"0\">",
        esc(title)
    );
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let here: Vec<&model::FileError> = errors.iter().filter(|e| e.line == n).collect();
        if here.is_empty() {
            let _ = writeln!(out, "<span class=\"ln\">{n:>4}</span> {}", esc(line));
        } else {
            let _ = writeln!(
                out,
                "<mark id=\"L{n}\" class=\"err\"><span class=\"ln\">{n:>4}</span> {}</mark>\
                 <span class=\"errmsg\">     ^ {}</span>",
                esc(line),
                esc(&here
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")),
            );
        }
    }
    out.push_str("</pre></section>");
    out
}

/// Checks a scenario text with the loader of `atmpflow validate`.
pub fn validate(name: &str, text: &str) -> Result<model::Model, Vec<model::FileError>> {
    model::load_bytes(name, text.as_bytes()).map_err(|e| e.errors)
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

/// SHA-256 of a scenario text (lower-case hex).
pub(super) fn sha256(text: &str) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(text.as_bytes()))
}

/// The form's `replications`, a whole number from 2 to [`MAX_REPLICATIONS`];
/// otherwise the page refusing it.
pub(crate) fn replications(form: &Form) -> Result<u32, Box<Response>> {
    match form.get("replications").trim().parse::<u32>() {
        Ok(n) if (2..=MAX_REPLICATIONS).contains(&n) => Ok(n),
        _ => Err(Box::new(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            Text::BadRequestTitle,
            &format!(
                "replications: {:?} is not a whole number from 2 to {MAX_REPLICATIONS}",
                form.get("replications")
            ),
        ))),
    }
}

/// A CSV file to download as `name` (never rendered by the browser).
pub(crate) fn csv_download(name: &str, text: String) -> Response {
    let mut resp = Response::new(Body::from(text));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}
