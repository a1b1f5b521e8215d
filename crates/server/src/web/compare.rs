//! `/plan/compare`: the planner picks two or more scenarios (stored ones and
//! bundled examples) and a number of replications; the server runs the
//! computation of `atmpflow compare` in the background (the run machinery
//! of [`super::planner`]: progress, cancel) and shows the `report` crate's
//! comparison page and its CSV files. A scenario with errors is refused with
//! its errors at their lines; nothing is run then.

use std::fmt::Write;

use axum::http::StatusCode;
use axum::response::Response;

use super::pages::{Ctx, csrf_field, page};
use super::planning::{EXAMPLES, MAX_REPLICATIONS, replications, sha256, validate};
use super::runs::start;
use super::strings::{Text, t};
use super::{Form, alert, esc, redirect};

/// Most scenarios in one comparison (assumption: more do not fit side by
/// side on the page; larger sets belong to `atmpflow compare`).
pub const MAX_COMPARED: usize = 8;

/// `GET /plan/compare`: the choice of scenarios and replications.
pub(super) fn form_page(ctx: &Ctx<'_>) -> Response {
    choice_page(ctx, &[], "", StatusCode::OK)
}

/// The form; `picked`: the choices to keep ticked; `feedback`: HTML shown
/// above the form (the refusal).
fn choice_page(ctx: &Ctx<'_>, picked: &[&str], feedback: &str, status: StatusCode) -> Response {
    let mut body = format!(
        "<p><a href=\"/plan\">{}</a></p><h1>{}</h1><p>{}</p>{feedback}\
         <form method=\"post\" action=\"/plan/compare\">{}<fieldset><legend>{}</legend>",
        esc(t(Text::ScenariosTitle)),
        esc(t(Text::CompareTitle)),
        esc(t(Text::CompareIntro)),
        csrf_field(ctx.csrf),
        esc(t(Text::CompareChoose)),
    );
    let mut choices: Vec<(String, String)> = Vec::new();
    match ctx.st.store.read(|tx| store::scenarios::list(tx, 200)) {
        Ok(list) => {
            for v in list {
                choices.push((
                    format!("stored:{}", v.id),
                    format!("{} ({} {})", v.name, t(Text::Version), v.version),
                ));
            }
        }
        Err(e) => {
            body.push_str(&alert(&e.to_string()));
        }
    }
    for (name, _) in EXAMPLES {
        choices.push((format!("example:{name}"), (*name).to_string()));
    }
    for (i, (value, label)) in choices.iter().enumerate() {
        let _ = write!(
            body,
            "<div><input type=\"checkbox\" id=\"cmp-{i}\" name=\"pick\" value=\"{}\"{}> \
             <label for=\"cmp-{i}\">{}</label></div>",
            esc(value),
            if picked.contains(&value.as_str()) {
                " checked"
            } else {
                ""
            },
            esc(label),
        );
    }
    let _ = write!(
        body,
        "</fieldset><label for=\"cmp-reps\">{}<span class=\"hint\" id=\"cmp-reps-hint\">{}</span></label>\
         <input id=\"cmp-reps\" name=\"replications\" inputmode=\"numeric\" value=\"20\" aria-describedby=\"cmp-reps-hint\">\
         <div class=\"row\"><div><button type=\"submit\">{}</button></div></div></form>",
        esc(t(Text::Replications)),
        esc(&format!("2 – {MAX_REPLICATIONS}")),
        esc(t(Text::CompareButton)),
    );
    page(ctx, status, t(Text::CompareTitle), &body)
}

/// The text of one choice (`stored:{id}` or `example:{name}`): its file
/// name and text, or why there is none.
fn text_of(ctx: &Ctx<'_>, pick: &str) -> Result<(String, String), String> {
    if let Some(name) = pick.strip_prefix("example:") {
        return EXAMPLES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, text)| ((*n).to_string(), (*text).to_string()))
            .ok_or_else(|| format!("no bundled example {name:?}"));
    }
    if let Some(id) = pick.strip_prefix("stored:") {
        return ctx
            .st
            .store
            .read(|tx| store::scenarios::get(tx, id, None))
            .map(|v| (v.name, v.text))
            .map_err(|e| format!("stored scenario {id:?}: {e}"));
    }
    Err(format!("{pick:?} is not a scenario to compare"))
}

/// `POST /plan/compare`: check every chosen scenario, then start the
/// comparison and go to its run page.
pub(super) fn submit(ctx: &Ctx<'_>, form: &Form) -> Response {
    let mut picked: Vec<&str> = Vec::new();
    for p in form.get_all("pick") {
        if !picked.contains(&p) {
            picked.push(p);
        }
    }
    if picked.len() < 2 || picked.len() > MAX_COMPARED {
        let note = format!(
            "<div class=\"notice bad\" role=\"alert\" id=\"feedback\"><p>{} (2 – {MAX_COMPARED})</p></div>",
            esc(t(Text::CompareTooFew)),
        );
        return choice_page(ctx, &picked, &note, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let reps = match replications(form) {
        Ok(n) => n,
        Err(refused) => return *refused,
    };
    let mut models = Vec::new();
    let mut names = Vec::new();
    let mut refused = String::new();
    for pick in &picked {
        let (name, text) = match text_of(ctx, pick) {
            Ok(x) => x,
            Err(e) => {
                let _ = write!(refused, "<li>{}</li>", esc(&e));
                continue;
            }
        };
        match validate(&name, &text) {
            Ok(m) => {
                models.push((m, sha256(&text)));
                names.push(name);
            }
            Err(errors) => {
                let _ = write!(refused, "<li><strong>{}</strong><ul>", esc(&name));
                for e in &errors {
                    let _ = write!(
                        refused,
                        "<li>{} {}, {} {}: <code>{}</code> — {}</li>",
                        esc(t(Text::Line)),
                        e.line,
                        esc(t(Text::Column)),
                        e.column,
                        esc(&e.field),
                        esc(&e.message),
                    );
                }
                refused.push_str("</ul></li>");
            }
        }
    }
    if !refused.is_empty() {
        let note = format!(
            "<div class=\"notice bad\" role=\"alert\" id=\"feedback\"><p><strong>{}</strong></p><ul>{refused}</ul></div>",
            esc(t(Text::CompareRefused)),
        );
        return choice_page(ctx, &picked, &note, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let id = start(ctx.who.user.clone(), names.join(" · "), models, reps);
    redirect(&format!("/plan/run/{id}"))
}
