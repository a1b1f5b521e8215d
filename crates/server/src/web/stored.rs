//! The planners' scenarios kept in the database ([`store::scenarios`]):
//! saved from the editor, listed on `/plan` above the bundled examples,
//! opened (with the checker's findings of the stored text), saved again as
//! a new version, their earlier versions read, and deleted (a last version
//! marked deleted; nothing is overwritten or removed).
//!
//! - `GET /plan/scenarios/{id}`: the editor on the latest version;
//! - `GET /plan/scenarios/{id}/versions/{n}`: the text of version `n`;
//! - `POST /plan/check` with `do=save`: a new scenario, or with the hidden
//!   fields `scenario` and `seen` the next version of that one (refused
//!   when someone saved another version since it was opened);
//! - `POST /plan/scenarios/{id}/delete` with `seen`.
//!
//! The scenario editor ([`editor`]) lives here too: a text not stored yet is
//! the same form without the stored version's banner, hidden fields and history.

use std::fmt::Write;

use axum::http::StatusCode;
use axum::response::Response;
use store::scenarios::{self, ScenarioError, Version};

use super::pages::{Ctx, csrf_field, page};
use super::planning::{MAX_REPLICATIONS, error_notice, numbered, validate};
use super::strings::{Text, t};
use super::{Form, alert, esc, problem, redirect, table_head};

/// Answers `/plan/scenarios/…` (the caller checked the planner role).
pub(super) fn answer(ctx: &Ctx<'_>, segs: &[&str], read: bool, form: &Form) -> Response {
    match (segs, read) {
        ([id], true) => open(ctx, id),
        ([id, "versions", n], true) => old_version(ctx, id, n),
        ([id, "delete"], false) => delete(ctx, id, form),
        _ => refused(StatusCode::NOT_FOUND, Text::NotFoundTitle, &segs.join("/")),
    }
}

fn refused(status: StatusCode, title: Text, message: &str) -> Response {
    problem(status, title, message)
}

fn error_page(e: &ScenarioError) -> Response {
    let (status, title) = match e {
        ScenarioError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, Text::BadRequestTitle),
        ScenarioError::NotFound(_) | ScenarioError::NoVersion { .. } => {
            (StatusCode::NOT_FOUND, Text::NotFoundTitle)
        }
        ScenarioError::Deleted { .. } => (StatusCode::GONE, Text::NotFoundTitle),
        ScenarioError::Stale { .. } | ScenarioError::Busy => {
            (StatusCode::CONFLICT, Text::BadRequestTitle)
        }
        ScenarioError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, Text::BadRequestTitle),
        ScenarioError::BadName => (StatusCode::UNPROCESSABLE_ENTITY, Text::BadRequestTitle),
    };
    refused(
        status,
        title,
        &format!("{}: {e}", t(Text::ScenarioNotSaved)),
    )
}

/// `GET /plan/scenarios/{id}`: the editor on the latest version, with the
/// checker's findings of its text.
fn open(ctx: &Ctx<'_>, id: &str) -> Response {
    match ctx.st.store.read(|tx| scenarios::get(tx, id, None)) {
        Ok(v) => {
            let findings = validate(&v.name, &v.text).err().unwrap_or_default();
            editor(
                ctx,
                &v.name,
                &v.text,
                Some(&findings),
                Some(&v),
                StatusCode::OK,
            )
        }
        Err(e) => error_page(&e),
    }
}

/// `GET /plan/scenarios/{id}/versions/{n}`: an earlier text, read only.
fn old_version(ctx: &Ctx<'_>, id: &str, n: &str) -> Response {
    let Ok(n) = n.parse::<i64>() else {
        return refused(StatusCode::NOT_FOUND, Text::NotFoundTitle, n);
    };
    let v = match ctx.st.store.read(|tx| scenarios::get(tx, id, Some(n))) {
        Ok(v) => v,
        Err(e) => return error_page(&e),
    };
    let mut body = format!(
        "<p><a href=\"/plan/scenarios/{}\">{}</a></p><h1>{} — {} {}</h1>{}",
        esc(id),
        esc(t(Text::BackToScenario)),
        esc(&v.name),
        esc(t(Text::Version)),
        v.version,
        banner(&v),
    );
    if v.deleted {
        let _ = write!(body, "<p>{}</p>", esc(t(Text::DeletedVersion)));
    } else {
        let _ = write!(
            body,
            "<pre class=\"src\" tabindex=\"0\" aria-label=\"{}\">{}</pre>",
            esc(t(Text::ScenarioText)),
            esc(&v.text)
        );
    }
    page(ctx, StatusCode::OK, &v.name, &body)
}

/// The stored scenario a form's text was opened from (hidden fields
/// `scenario` and `seen`), as the version that was opened.
pub(super) fn from_form(ctx: &Ctx<'_>, form: &Form) -> Option<Version> {
    let id = form.get("scenario");
    let seen = form.get("seen").parse::<i64>().ok()?;
    if id.is_empty() {
        return None;
    }
    ctx.st
        .store
        .read(|tx| scenarios::get(tx, id, Some(seen)))
        .ok()
}

/// `POST /plan/check` with `do=save`: stores the text (also one with
/// errors: the planner may save unfinished work) and opens it.
pub(super) fn save(ctx: &Ctx<'_>, form: &Form, name: &str, text: &str) -> Response {
    let now = crate::caller::now(ctx.st);
    let who = ctx.who.user.as_str();
    let id = form.get("scenario");
    let r = if id.is_empty() {
        ctx.st
            .store
            .transaction(|tx| scenarios::create(tx, name, text, who, now))
    } else {
        let Ok(seen) = form.get("seen").parse::<i64>() else {
            return refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                Text::BadRequestTitle,
                "seen: the version the scenario was opened at is missing",
            );
        };
        ctx.st
            .store
            .transaction(|tx| scenarios::save(tx, id, seen, name, text, who, now))
    };
    match r {
        Ok(v) => redirect(&format!("/plan/scenarios/{}", v.id)),
        Err(e) => error_page(&e),
    }
}

/// `POST /plan/scenarios/{id}/delete`.
fn delete(ctx: &Ctx<'_>, id: &str, form: &Form) -> Response {
    let Ok(seen) = form.get("seen").parse::<i64>() else {
        return refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            Text::BadRequestTitle,
            "seen: the version the scenario was opened at is missing",
        );
    };
    let now = crate::caller::now(ctx.st);
    let who = ctx.who.user.as_str();
    match ctx
        .st
        .store
        .transaction(|tx| scenarios::delete(tx, id, seen, who, now))
    {
        Ok(_) => redirect("/plan"),
        Err(e) => error_page(&e),
    }
}

/// Which stored version the editor shows, who saved it and when.
pub(super) fn banner(v: &Version) -> String {
    format!(
        "<div class=\"notice\" id=\"stored\"><p>{} <code>{}</code>, {} {}: {} {} ({})</p></div>",
        esc(t(Text::StoredScenario)),
        esc(&v.id),
        esc(t(Text::Version)),
        v.version,
        esc(t(Text::SavedBy)),
        esc(&v.by),
        esc(&v.at),
    )
}

/// The hidden fields that make a save the next version of `v`.
pub(super) fn hidden_fields(v: &Version) -> String {
    format!(
        "<input type=\"hidden\" name=\"scenario\" value=\"{}\">\
         <input type=\"hidden\" name=\"seen\" value=\"{}\">",
        esc(&v.id),
        v.version
    )
}

/// The versions of a stored scenario and the delete form.
pub(super) fn history_and_delete(ctx: &Ctx<'_>, v: &Version) -> String {
    let mut out = format!(
        "<section class=\"card\" aria-labelledby=\"hist-h\"><h2 id=\"hist-h\">{}</h2>",
        esc(t(Text::VersionsTitle))
    );
    match ctx.st.store.read(|tx| scenarios::versions(tx, &v.id)) {
        Ok(list) => {
            table_head(
                &mut out,
                "<table>",
                &[Text::Version, Text::ScenarioName, Text::Who, Text::When],
                None,
            );
            for h in list.iter().rev() {
                let _ = write!(
                    out,
                    "<tr><td><a href=\"/plan/scenarios/{}/versions/{}\">{}</a></td><td>{}</td>\
                     <td>{}</td><td class=\"nowrap\">{}</td></tr>",
                    esc(&h.id),
                    h.version,
                    h.version,
                    esc(&h.name),
                    esc(&h.by),
                    esc(&h.at),
                );
            }
            out.push_str("</tbody></table>");
        }
        Err(e) => {
            out.push_str(&alert(&e.to_string()));
        }
    }
    let _ = write!(
        out,
        "<form method=\"post\" action=\"/plan/scenarios/{}/delete\">{}\
         <input type=\"hidden\" name=\"seen\" value=\"{}\">\
         <p class=\"hint\">{}</p><button type=\"submit\" class=\"secondary\">{}</button></form></section>",
        esc(&v.id),
        csrf_field(ctx.csrf),
        v.version,
        esc(t(Text::DeleteHelp)),
        esc(t(Text::DeleteScenario)),
    );
    out
}

/// The stored scenarios on `/plan`.
pub(super) fn list_section(ctx: &Ctx<'_>) -> String {
    let mut out = format!("<h2>{}</h2>", esc(t(Text::StoredTitle)));
    match ctx.st.store.read(|tx| scenarios::list(tx, 200)) {
        Ok(list) if list.is_empty() => {
            let _ = write!(out, "<p>{}</p>", esc(t(Text::NoStored)));
        }
        Ok(list) => {
            table_head(
                &mut out,
                "<table id=\"stored-scenarios\">",
                &[Text::Scenario, Text::Version, Text::Who, Text::When],
                None,
            );
            for v in list {
                let _ = write!(
                    out,
                    "<tr><td class=\"nowrap\"><a href=\"/plan/scenarios/{}\">{}</a></td><td>{}</td>\
                     <td>{}</td><td class=\"nowrap\">{}</td></tr>",
                    esc(&v.id),
                    esc(&v.name),
                    v.version,
                    esc(&v.by),
                    esc(&v.at),
                );
            }
            out.push_str("</tbody></table>");
        }
        Err(e) => {
            out.push_str(&alert(&e.to_string()));
        }
    }
    out
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
        body.push_str(&banner(v));
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
            stored.map_or(String::new(), hidden_fields)
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
        body.push_str(&history_and_delete(ctx, v));
    }
    page(ctx, status, name, &body)
}
