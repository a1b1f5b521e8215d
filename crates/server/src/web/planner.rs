//! The planner's pages: the scenario list (the bundled examples), a scenario
//! editor whose text is checked by the same loader as `atmpflow validate`
//! (each error shown at its line), and a simulation run in the background
//! with a progress bar the page polls, a cancel button, the HTML report of
//! `atmpflow simulate` and its CSV files; the stored plant plans (plan API)
//! as the Gantt-chart page of `atmpflow schedule`.
//!
//! Runs live in this process only (a table of at most [`MAX_RUNS`] runs,
//! the oldest finished one dropped first): nothing is stored in the
//! database, and a restart forgets them. A run belongs to the person who
//! started it; nobody else sees it.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use batch::Role;

use super::pages::{Ctx, csrf_field, page};
use super::strings::{Text, t};
use super::{Form, batch_roles, esc, html, problem, redirect};

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
/// Runs kept in memory at once.
pub const MAX_RUNS: usize = 16;
/// Most replications a run from the pages may ask for (assumption: enough
/// for a first look; larger studies belong to `atmpflow simulate`/`study`).
pub const MAX_REPLICATIONS: u32 = 200;

/// How a run ended: its results, or why it has none.
type Ended = Option<Result<Arc<sim::Results>, String>>;

/// One simulation run started from the pages.
struct Run {
    owner: String,
    scenario: String,
    wanted: u32,
    done: Arc<AtomicU32>,
    cancel: Arc<AtomicBool>,
    outcome: Arc<Mutex<Ended>>,
}

fn runs() -> &'static Mutex<BTreeMap<u64, Run>> {
    static RUNS: std::sync::OnceLock<Mutex<BTreeMap<u64, Run>>> = std::sync::OnceLock::new();
    RUNS.get_or_init(|| Mutex::new(BTreeMap::new()))
}

fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

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
            Some((n, text)) => editor(ctx, n, text, None, StatusCode::OK),
            None => not_found(name),
        },
        (["new"], true) => editor(ctx, "my-scenario.toml", "", None, StatusCode::OK),
        (["plans", id], true) => plan(ctx, id),
        (["check"], false) => check(ctx, form),
        (["run", id], true) => with_run(ctx, id, |id, r| run_page(ctx, id, r)),
        (["run", id, "status"], true) => with_run(ctx, id, |_, r| status(r)),
        (["run", id, "cancel"], false) => with_run(ctx, id, |id, r| {
            r.cancel.store(true, Ordering::SeqCst);
            redirect(&format!("/plan/run/{id}"))
        }),
        (["run", id, "report"], true) => with_run(ctx, id, |_, r| report(r)),
        (["run", id, "csv", name], true) => with_run(ctx, id, |_, r| csv(r, name)),
        _ => not_found(&segs.join("/")),
    }
}

fn not_found(what: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        Text::NotFoundTitle,
        &format!("no planner page {what:?}"),
    )
}

fn with_run(ctx: &Ctx<'_>, id: &str, f: impl FnOnce(u64, &Run) -> Response) -> Response {
    let Ok(n) = id.parse::<u64>() else {
        return not_found(id);
    };
    let table = runs()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match table.get(&n) {
        Some(r) if r.owner == ctx.who.user => f(n, r),
        _ => not_found(&format!("run/{id}")),
    }
}

/// `GET /plan`: the scenarios.
fn list(ctx: &Ctx<'_>) -> Response {
    let mut body = format!(
        "<h1>{}</h1><p>{}</p><p><a class=\"button\" href=\"/plan/new\">{}</a></p>\
         <table><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        esc(t(Text::ScenariosTitle)),
        esc(t(Text::ScenariosIntro)),
        esc(t(Text::NewScenario)),
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
                 <th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
                esc(t(Text::Plan)),
                esc(t(Text::Scenario)),
                esc(t(Text::Version)),
                esc(t(Text::When)),
            );
            for p in plans {
                let _ = write!(
                    body,
                    "<tr><td><a href=\"/plan/plans/{}\">{}</a></td><td>{}</td><td>{}</td>\
                     <td class=\"nowrap\">{} ({})</td></tr>",
                    percent_encoding::utf8_percent_encode(
                        &p.id,
                        percent_encoding::NON_ALPHANUMERIC
                    ),
                    esc(&p.id),
                    esc(&p.scenario),
                    p.version,
                    esc(&p.updated_at),
                    esc(&p.updated_by),
                );
            }
            body.push_str("</tbody></table>");
        }
        Err(e) => {
            let _ = write!(
                body,
                "<div class=\"notice bad\" role=\"alert\"><p>{}</p></div>",
                esc(&e.to_string())
            );
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
fn report_page(text: String) -> Response {
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
fn editor(
    ctx: &Ctx<'_>,
    name: &str,
    text: &str,
    findings: Option<&[model::FileError]>,
    status: StatusCode,
) -> Response {
    let mut body = format!(
        "<p><a href=\"/plan\">{}</a></p><h1>{}</h1>",
        esc(t(Text::ScenariosTitle)),
        esc(name)
    );
    if let Some(errors) = findings {
        if errors.is_empty() {
            let _ = write!(
                body,
                "<div class=\"notice good\" role=\"alert\" id=\"feedback\"><p>{}</p></div>",
                esc(t(Text::ScenarioValid))
            );
        } else {
            let _ = write!(
                body,
                "<div class=\"notice bad\" role=\"alert\" id=\"feedback\"><p><strong>{} ({})</strong></p><ul>",
                esc(t(Text::ScenarioErrors)),
                errors.len()
            );
            for e in errors {
                let _ = write!(
                    body,
                    "<li><a href=\"#L{}\">{} {}, {} {}</a>: <code>{}</code> — {}</li>",
                    e.line,
                    esc(t(Text::Line)),
                    e.line,
                    esc(t(Text::Column)),
                    e.column,
                    esc(&e.field),
                    esc(&e.message),
                );
            }
            body.push_str("</ul></div>");
            body.push_str(&numbered(text, errors));
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
         <button type=\"submit\" name=\"do\" value=\"run\" class=\"secondary\">{}</button></div></div></form>",
        csrf_field(ctx.csrf),
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
    );
    page(ctx, status, name, &body)
}

/// The text with line numbers, the lines with errors marked (each with an
/// anchor `#L{n}`).
fn numbered(text: &str, errors: &[model::FileError]) -> String {
    let mut out = format!(
        "<section class=\"card\" aria-labelledby=\"src-h\"><h2 id=\"src-h\">{}</h2><pre class=\"src\" tabindex=\"0\">",
        esc(t(Text::ScenarioLines))
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
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    if form.get("do") != "run" {
        return editor(ctx, &name, &text, Some(&[]), StatusCode::OK);
    }
    let reps = match form.get("replications").trim().parse::<u32>() {
        Ok(n) if (2..=MAX_REPLICATIONS).contains(&n) => n,
        _ => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                Text::BadRequestTitle,
                &format!(
                    "replications: {:?} is not a whole number from 2 to {MAX_REPLICATIONS}",
                    form.get("replications")
                ),
            );
        }
    };
    let id = start(ctx.who.user.clone(), name, model, &text, reps);
    redirect(&format!("/plan/run/{id}"))
}

/// Starts a run on a thread of its own; its id.
fn start(owner: String, name: String, model: model::Model, text: &str, reps: u32) -> u64 {
    use sha2::Digest;
    let sha = format!("{:x}", sha2::Sha256::digest(text.as_bytes()));
    let done = Arc::new(AtomicU32::new(0));
    let cancel = Arc::new(AtomicBool::new(false));
    let outcome = Arc::new(Mutex::new(None));
    let id = next_id();
    {
        let mut table = runs()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while table.len() >= MAX_RUNS {
            // the oldest finished run goes first, else the oldest
            let finished = table
                .iter()
                .find(|(_, r)| r.outcome.lock().map(|o| o.is_some()).unwrap_or(true))
                .map(|(k, _)| *k);
            let Some(k) = finished.or_else(|| table.keys().next().copied()) else {
                break;
            };
            if let Some(r) = table.remove(&k) {
                r.cancel.store(true, Ordering::SeqCst);
            }
        }
        table.insert(
            id,
            Run {
                owner,
                scenario: name,
                wanted: reps,
                done: done.clone(),
                cancel: cancel.clone(),
                outcome: outcome.clone(),
            },
        );
    }
    std::thread::spawn(move || {
        let opts = sim::RunOptions {
            replications: Some(reps),
            seed: None,
            threads: 1,
            plan: None,
            drop_replications: false,
            event_budget: None,
        };
        let progress = |n: u32| done.store(n, Ordering::SeqCst);
        let r = sim::run(&model, &opts, &progress, &cancel)
            .map(|mut r| {
                r.scenario_sha256 = sha;
                Arc::new(r)
            })
            .map_err(|e| e.to_string());
        *outcome
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(r);
    });
    id
}

/// What a run has reached: (done, wanted, finished, error).
fn state(r: &Run) -> (u32, u32, Ended) {
    let o = r
        .outcome
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    (r.done.load(Ordering::SeqCst), r.wanted, o)
}

/// `GET /plan/run/{id}`: the progress bar (the page's script polls
/// `…/status` and reloads when the run ends), cancel, then the report.
fn run_page(ctx: &Ctx<'_>, id: u64, r: &Run) -> Response {
    let (done, wanted, outcome) = state(r);
    let mut body = format!(
        "<p><a href=\"/plan\">{}</a></p><h1>{}: {}</h1>",
        esc(t(Text::ScenariosTitle)),
        esc(t(Text::RunTitle)),
        esc(&r.scenario)
    );
    match outcome {
        None => {
            let _ = write!(
                body,
                "<label for=\"run-progress\">{}</label>\
                 <progress id=\"run-progress\" max=\"{wanted}\" value=\"{done}\" \
                 data-status=\"/plan/run/{id}/status\">{done} / {wanted}</progress>\
                 <p aria-live=\"polite\"><span id=\"run-count\">{done}</span> / {wanted} {}</p>\
                 <form method=\"post\" action=\"/plan/run/{id}/cancel\">{}\
                 <button type=\"submit\" class=\"secondary\">{}</button></form>",
                esc(t(Text::RunProgress)),
                esc(t(Text::ReplicationsDone)),
                csrf_field(ctx.csrf),
                esc(t(Text::CancelRun)),
            );
        }
        Some(Err(e)) => {
            let _ = write!(
                body,
                "<div class=\"notice bad\" role=\"alert\" id=\"feedback\"><p>{}</p></div>",
                esc(&e)
            );
        }
        Some(Ok(res)) => {
            let note = if res.cancelled {
                format!(
                    "{} ({} / {})",
                    t(Text::RunCancelled),
                    res.replications,
                    res.replications_requested
                )
            } else {
                format!(
                    "{} ({} {})",
                    t(Text::RunDone),
                    res.replications,
                    t(Text::ReplicationsDone)
                )
            };
            let _ = write!(
                body,
                "<div class=\"notice good\" role=\"alert\" id=\"feedback\"><p>{}</p></div>\
                 <p><a class=\"button\" href=\"/plan/run/{id}/report\">{}</a></p><h2>{}</h2><ul>",
                esc(&note),
                esc(t(Text::OpenReport)),
                esc(t(Text::CsvDownloads)),
            );
            for (name, _) in report::simulation_csv(&res) {
                let _ = write!(
                    body,
                    "<li><a href=\"/plan/run/{id}/csv/{}\" download>{}</a></li>",
                    esc(&name),
                    esc(&name)
                );
            }
            body.push_str("</ul>");
        }
    }
    page(ctx, StatusCode::OK, t(Text::RunTitle), &body)
}

/// `GET /plan/run/{id}/status`: `{"done":N,"wanted":M,"finished":bool}`.
fn status(r: &Run) -> Response {
    let (done, wanted, outcome) = state(r);
    let v = serde_json::json!({ "done": done, "wanted": wanted, "finished": outcome.is_some() });
    let mut resp = Response::new(Body::from(v.to_string()));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn finished(r: &Run) -> Option<Arc<sim::Results>> {
    state(r).2.and_then(Result::ok)
}

fn not_finished() -> Response {
    problem(
        StatusCode::CONFLICT,
        Text::BadRequestTitle,
        t(Text::RunNotFinished),
    )
}

/// `GET /plan/run/{id}/report`: the report of `atmpflow simulate`.
fn report(r: &Run) -> Response {
    let Some(res) = finished(r) else {
        return not_finished();
    };
    let opts = report::ReportOptions {
        v2v_target_days: None,
        scenario_file: Some(r.scenario.clone()),
    };
    report_page(report::simulation_html_with(&res, &opts))
}

/// `GET /plan/run/{id}/csv/{name}`: one CSV file of the results.
fn csv(r: &Run, name: &str) -> Response {
    let Some(res) = finished(r) else {
        return not_finished();
    };
    match report::simulation_csv(&res)
        .into_iter()
        .find(|(n, _)| n == name)
    {
        Some((n, text)) => {
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
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{n}\"")) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            resp
        }
        None => not_found(name),
    }
}
