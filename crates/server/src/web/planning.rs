//! What the planner's pages share: the bundled example scenarios, the
//! checks of a scenario text (the loader of `atmpflow validate`) and of the
//! replications field, the notice of located errors and the text with its
//! lines numbered, and the responses for a report page, a CSV download and a
//! planner page that does not exist. The pages themselves (`planner`,
//! `stored`, `compare`, `study`, `runs`, `replan`) build on these and not on
//! each other's helpers.

use std::fmt::Write;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::strings::{Text, t};
use super::{Form, esc, html, problem};

/// The example scenarios bundled in the binary: file name and text.
pub(super) const EXAMPLES: &[(&str, &str)] = &[
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

/// Most replications a run from the pages may ask for (assumption: enough
/// for a first look; larger studies belong to `atmpflow simulate`/`study`).
pub(super) const MAX_REPLICATIONS: u32 = 200;

/// Checks a scenario text with the loader of `atmpflow validate`.
pub(super) fn validate(name: &str, text: &str) -> Result<model::Model, Vec<model::FileError>> {
    model::load_bytes(name, text.as_bytes()).map_err(|e| e.errors)
}

/// SHA-256 of a scenario text (lower-case hex).
pub(super) fn sha256(text: &str) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(text.as_bytes()))
}

/// The form's `replications`, a whole number from 2 to [`MAX_REPLICATIONS`];
/// otherwise the page refusing it.
pub(super) fn replications(form: &Form) -> Result<u32, Box<Response>> {
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

/// A CSV file to download as `name` (never rendered by the browser).
pub(super) fn csv_download(name: &str, text: String) -> Response {
    let mut resp = Response::new(Body::from(text));
    let h = resp.headers_mut();
    super::set_static(
        h,
        &[
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// The page for a planner path that names nothing.
pub(super) fn not_found(what: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        Text::NotFoundTitle,
        &format!("no planner page {what:?}"),
    )
}
