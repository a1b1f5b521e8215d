//! The web pages served at `/` for people (operators, QA, qualified
//! persons): server-rendered HTML, one style sheet and a few lines of our own
//! script, all compiled into the binary (no CDN, no external font: the pages
//! work offline in a clean room).
//!
//! Admission is separate from the APIs' (which take API tokens and JSON
//! only): a person logs in with name and password ([`store::auth`]) and
//! holds a session ([`store::session`]) in the cookie [`COOKIE`]
//! (`HttpOnly; SameSite=Strict; Path=/`, `Secure` under TLS). Every `POST`
//! must come from this server's own pages (its `Origin` is the server's, a
//! `Sec-Fetch-Site` if sent is `same-origin`) and, except the log-in form,
//! carry the session's CSRF token. What a page offers follows the person's
//! batch roles; what is done goes through the same handlers as the batch API
//! ([`crate::batch`]), so the engine decides and its refusals are shown.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use store::auth::{Principal, Timestamp};
use store::session::{self, Session};

use crate::AppState;

mod compare;
mod pages;
pub mod planner;
mod planning;
mod replan;
mod runs;
mod stored;
pub mod strings;
mod study;

use strings::{Text, t};

/// The session cookie's name.
pub const COOKIE: &str = "atmpflow_session";
/// How long a session lasts after log-in, in seconds (assumption: one
/// eight-hour shift; not from the reference numbers).
pub const SESSION_LIFETIME_S: i64 = 8 * 3600;
/// Largest form body accepted (a scenario text, URL-encoded, is the largest).
pub const MAX_FORM: usize = 256 << 10;

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

/// Whether `path` is one of the pages (or their assets) rather than an API.
pub fn owns(path: &str) -> bool {
    path == "/"
        || path == "/login"
        || path == "/logout"
        || path.starts_with("/static/")
        || path == "/batch"
        || path.starts_with("/batch/")
        || path == "/plan"
        || path.starts_with("/plan/")
}

/// HTML-escapes `s` for text and attribute values; control characters are kept (a
/// scenario's carriage returns come back in the editor as they were sent).
pub(crate) use report::svg::escape_markup as esc;

/// The security headers of every page.
const PAGE_HEADERS: [(HeaderName, &str); 4] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; \
         img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "same-origin"),
    (header::X_FRAME_OPTIONS, "DENY"),
];

fn secure_headers(r: &mut Response) {
    set_static(r.headers_mut(), &PAGE_HEADERS);
}

/// Sets each header of `pairs` to its fixed value.
pub(super) fn set_static(h: &mut HeaderMap, pairs: &[(HeaderName, &'static str)]) {
    for (name, value) in pairs {
        h.insert(name.clone(), HeaderValue::from_static(value));
    }
}

pub(crate) fn html(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure_headers(&mut r);
    r
}

fn asset(ctype: &'static str, text: &'static str) -> Response {
    let mut r = Response::new(Body::from(text));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    secure_headers(&mut r);
    r
}

/// `303 See Other` to `to`.
pub(crate) fn redirect(to: &str) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// What went wrong, as a notice assistive technology announces at once.
pub(crate) fn alert(message: &str) -> String {
    format!(
        "<div class=\"notice bad\" role=\"alert\"><p>{}</p></div>",
        esc(message)
    )
}

/// An [`alert`] that answers the form just sent: the page's `#feedback` anchor.
pub(crate) fn feedback_alert(message: &str) -> String {
    format!(
        "<div class=\"notice bad\" role=\"alert\" id=\"feedback\"><p>{}</p></div>",
        esc(message)
    )
}

/// Starts a data table on `out`: `open` (the `<table…>` tag, with its caption if
/// it has one), then the header row, one column per text, and `hint` as a last,
/// quieter column (a link column whose header only explains it). The caller
/// writes the rows and closes with `</tbody></table>`.
pub(crate) fn table_head(out: &mut String, open: &str, columns: &[Text], hint: Option<Text>) {
    out.push_str(open);
    out.push_str("<thead><tr>");
    for c in columns {
        out.push_str("<th scope=\"col\">");
        out.push_str(&esc(t(*c)));
        out.push_str("</th>");
    }
    if let Some(h) = hint {
        out.push_str("<th scope=\"col\"><span class=\"hint\">");
        out.push_str(&esc(t(h)));
        out.push_str("</span></th>");
    }
    out.push_str("</tr></thead><tbody>");
}

/// A page that only says what went wrong (no session needed).
pub(crate) fn problem(status: StatusCode, title: Text, message: &str) -> Response {
    let body = format!(
        "{}<p><a href=\"/\">{}</a></p>",
        alert(message),
        esc(t(Text::BackToBoard))
    );
    html(status, pages::layout(t(title), None, &body))
}

/// The session cookie of the request, if any.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().to_string())
}

fn set_cookie(r: &mut Response, value: &str, max_age: i64, secure: bool) {
    let v = format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&v) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Whether a state-changing request comes from this server's own pages:
/// its `Origin` is `scheme://Host` (a browser sends it with every form
/// `POST`), and a `Sec-Fetch-Site`, when sent, says `same-origin`.
fn same_origin(headers: &HeaderMap, secure: bool) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok());
    let (Some(host), Some(origin)) = (host, origin) else {
        return false;
    };
    let scheme = if secure { "https" } else { "http" };
    let site_ok = headers
        .get("sec-fetch-site")
        .is_none_or(|v| v.as_bytes() == b"same-origin");
    site_ok && origin.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
}

/// The fields of a form body (`application/x-www-form-urlencoded`).
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Form {
        Form(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
    /// Every value sent under `name` (checkboxes), in order.
    pub(crate) fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Who is logged in on this request, read from the database now (the
/// session and its id), or the database's error.
fn session_of(
    st: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(Session, String)>, store::auth::AuthError> {
    let Some(secret) = cookie(headers) else {
        return Ok(None);
    };
    Ok(session::lookup(&st.store, &secret, Timestamp::now())?.map(|s| (s, secret)))
}

/// Answers one request for a page. `secure`: the connection is TLS (the
/// cookie gets `Secure`, the expected origin is `https://…`).
pub fn answer(
    st: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    secure: bool,
) -> Response {
    let path = uri.path();
    let read = matches!(*method, Method::GET | Method::HEAD);
    if !read && *method != Method::POST {
        let mut r = problem(
            StatusCode::METHOD_NOT_ALLOWED,
            Text::BadRequestTitle,
            &format!("{method} is not supported at {path}"),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
        return r;
    }
    match path {
        "/static/app.css" if read => return asset("text/css; charset=utf-8", CSS),
        "/static/app.js" if read => return asset("text/javascript; charset=utf-8", JS),
        _ => {}
    }
    if !read && !same_origin(headers, secure) {
        return problem(
            StatusCode::FORBIDDEN,
            Text::ForbiddenTitle,
            t(Text::OriginRefused),
        );
    }
    let current = match session_of(st, headers) {
        Ok(s) => s,
        Err(e) => {
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                Text::BadRequestTitle,
                &e.to_string(),
            );
        }
    };
    if path == "/login" {
        return if read {
            match current {
                Some(_) => redirect("/"),
                None => html(StatusCode::OK, pages::login(None)),
            }
        } else {
            login(st, &Form::parse(body), secure)
        };
    }
    let Some((session, secret)) = current else {
        return if read {
            redirect("/login")
        } else {
            problem(
                StatusCode::UNAUTHORIZED,
                Text::LoginTitle,
                t(Text::CsrfRefused),
            )
        };
    };
    let form = Form::parse(body);
    if !read && !session::csrf_matches(&session, form.get("csrf")) {
        return problem(
            StatusCode::FORBIDDEN,
            Text::ForbiddenTitle,
            t(Text::CsrfRefused),
        );
    }
    if path == "/logout" {
        if read {
            return redirect("/");
        }
        let _ = session::end(&st.store, &secret, Timestamp::now());
        let mut r = redirect("/login");
        set_cookie(&mut r, "", 0, secure);
        return r;
    }
    let ctx = pages::Ctx {
        st,
        who: &session.principal,
        csrf: &session.csrf,
    };
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(crate::decode_segment)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (segs.as_slice(), read) {
        ([], true) => pages::board(&ctx, uri.query() == Some("show=all")),
        (["batch", id], true) => pages::batch(&ctx, id, None),
        (["batch", id], false) => pages::act(&ctx, id, &form),
        (["batch", id, "record"], true) => pages::record(&ctx, id),
        (["plan", rest @ ..], _) => planner::answer(&ctx, rest, read, &form),
        _ => problem(
            StatusCode::NOT_FOUND,
            Text::NotFoundTitle,
            &format!("no page {path}"),
        ),
    }
}

/// `POST /login`: checks name and password (audited, locked after repeated
/// failures by `store::auth`), then starts a session.
fn login(st: &AppState, form: &Form, secure: bool) -> Response {
    let (user, password) = (form.get("user").trim(), form.get("password"));
    let now = Timestamp::now();
    let checked = store::auth::verify_password(&st.store, user, password, "web login", now);
    let user = match checked {
        Ok(u) => u,
        Err(e) => {
            return html(
                StatusCode::UNAUTHORIZED,
                pages::login(Some(&format!("{}: {e}", t(Text::LoginFailed)))),
            );
        }
    };
    match session::create(&st.store, &user.name, SESSION_LIFETIME_S, now) {
        Ok(s) => {
            let mut r = redirect("/");
            set_cookie(&mut r, &s.secret, SESSION_LIFETIME_S, secure);
            r
        }
        Err(e) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            Text::BadRequestTitle,
            &e.to_string(),
        ),
    }
}

/// The batch roles of a person, as the engine sees them.
pub(crate) fn batch_roles(p: &Principal) -> Vec<batch::Role> {
    crate::caller::actor(p).roles
}
