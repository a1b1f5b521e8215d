//! The web pages (`server::web`) without sockets, on SQLite and (when
//! ATMPFLOW_TEST_PG is set) PostgreSQL: log-in with name and password, the
//! session cookie, the same-origin and CSRF checks on every form, pages that
//! offer only what the role may do, an operator's out-of-range value that the
//! engine records as a deviation, an identity mismatch it refuses, QA's
//! signature with a re-entered password, session expiry and log-out, the board's
//! "my batches" and "all open", and the QP's disposition of a batch rehearsed up
//! to its disposition: refused by the four-eyes rule for a QP who worked on the
//! batch, released with e-signature by another.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::json;
use server::{AppState, dispatch_with};
use store::auth::{Role, Timestamp};
use support::{body_bytes, each_engine};

mod support;

const RECIPE: &str = include_str!("../../../examples/recipes/car-t-modular.toml");
const INVENTORY: &str = include_str!("../../../examples/equipment/modular-plant.toml");
const PASSWORD: &str = "correct horse battery";
const DIN: &str = "A9999251234569";
const COI: &str = "COI-WEB-1";
const HOST: &str = "127.0.0.1:8080";
const ORIGIN: &str = "http://127.0.0.1:8080";

struct Page {
    status: StatusCode,
    location: Option<String>,
    set_cookie: Option<String>,
    text: String,
}

impl Page {
    /// Asserts that the page's text holds `needle` (the page shown if not).
    #[track_caller]
    fn assert_shows(&self, needle: &str) {
        assert!(self.text.contains(needle), "{}", self.text);
    }

    /// Asserts that the page's text does not hold `needle` (the page shown if it does).
    #[track_caller]
    fn assert_not_shown(&self, needle: &str) {
        assert!(!self.text.contains(needle), "{}", self.text);
    }

    /// The CSRF token in the page's forms.
    fn csrf(&self) -> String {
        let at = self
            .text
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no CSRF field in {}", self.text));
        let rest = &self.text[at + 19..];
        rest[..rest.find('"').expect("end of value")].to_string()
    }
}

struct Web {
    st: Arc<AppState>,
    clock: Arc<AtomicI64>,
    planner_token: String,
}

impl Web {
    fn send(
        &self,
        method: Method,
        path: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Page {
        let uri: Uri = path.parse().expect("uri");
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static(HOST));
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).expect("origin"));
        }
        if let Some(c) = cookie {
            h.insert(
                header::COOKIE,
                HeaderValue::from_str(&format!("atmpflow_session={c}")).expect("cookie"),
            );
        }
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let r = server::web::answer(&self.st, &method, &uri, &h, body.as_bytes(), false);
        let header = |n| {
            r.headers()
                .get(n)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let (status, location, set_cookie) = (
            r.status(),
            header(header::LOCATION),
            header(header::SET_COOKIE),
        );
        let bytes = body_bytes(r);
        Page {
            status,
            location,
            set_cookie,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    fn get(&self, path: &str, cookie: Option<&str>) -> Page {
        self.send(Method::GET, path, cookie, &[], None)
    }

    fn post(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> Page {
        self.send(Method::POST, path, Some(cookie), form, Some(ORIGIN))
    }

    /// Logs `user` in; the session id from the cookie.
    fn login(&self, user: &str) -> String {
        let p = self.send(
            Method::POST,
            "/login",
            None,
            &[("user", user), ("password", PASSWORD)],
            Some(ORIGIN),
        );
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
        assert_eq!(p.location.as_deref(), Some("/"));
        let c = p.set_cookie.expect("a session cookie");
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(c.contains(attr), "{attr} missing in {c}");
        }
        assert!(!c.contains("Secure"), "no Secure without TLS: {c}");
        c.trim_start_matches("atmpflow_session=")
            .split(';')
            .next()
            .expect("value")
            .to_string()
    }

    fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    /// Sends `method` to the API at `path` with the planner's token and, if
    /// given, the JSON `body`; `what` names the call when it fails.
    fn as_planner(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        what: &str,
    ) -> Response {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {}", self.planner_token)).expect("h"),
        );
        let bytes = match body {
            Some(b) => {
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                b.to_string().into_bytes()
            }
            None => Vec::new(),
        };
        let uri: Uri = path.parse().expect("uri");
        dispatch_with(&self.st, &method, &uri, &h, &bytes).expect(what)
    }

    /// The batch's last entry number, read through the batch API.
    fn head_seq(&self, id: &str) -> i64 {
        let path = format!("/api/batch/v1/batches/{id}");
        let r = self.as_planner(Method::GET, &path, None, "batch");
        let b = body_bytes(r);
        let v: serde_json::Value = serde_json::from_slice(&b).expect("json");
        v["head_seq"]
            .as_i64()
            .unwrap_or_else(|| panic!("head_seq in {v}"))
    }
}

fn start(url: &str) -> Web {
    let db = store::Db::connect(url).expect("db");
    let now = Timestamp::now();
    for (name, display, role) in [
        ("planner", "Paula Planner", Role::Planner),
        ("operator", "Oskar Operator", Role::Operator),
        ("qa", "Quirin Assurance", Role::Qa),
        ("qp", "Quinn Person", Role::QualifiedPerson),
        ("reviewer", "Rae Both", Role::Qa),
        ("nobody", "Nora Nothing", Role::Writer),
        ("opqp", "Olga Both", Role::Operator),
    ] {
        let roles: &[Role] = match name {
            "reviewer" => &[Role::Qa, Role::QualifiedPerson],
            "opqp" => &[Role::Operator, Role::QualifiedPerson],
            _ => std::slice::from_ref(&role),
        };
        support::add_person(&db, name, display, Some(PASSWORD), roles, now);
    }
    let planner_token = store::auth::create_token(&db, "admin", "planner", &[], "t", None, now)
        .expect("token")
        .secret;
    let mut st = AppState::new(db, "http://127.0.0.1:8080/api/v3.0");
    let clock = support::rehearsal_clock(&mut st);
    support::load_equipment_twins(&st, INVENTORY);
    let web = Web {
        st: Arc::new(st),
        clock,
        planner_token,
    };
    // the planner orders a batch through the API
    let order = json!({
        "order": { "batch": "B-WEB-1", "patient": "PSN-1", "coi": COI, "din": DIN,
                   "planned_start": "2026-12-01T08:00:00Z" },
        "recipe": RECIPE,
    });
    let r = web.as_planner(Method::POST, "/api/batch/v1/batches", Some(&order), "order");
    assert_eq!(r.status(), StatusCode::CREATED);
    web
}

#[test]
fn login_needs_the_right_password_and_a_same_origin_form() {
    each_engine(|url| {
        let web = start(url);
        let p = web.get("/", None);
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert_eq!(p.location.as_deref(), Some("/login"));
        let p = web.get("/login", None);
        assert_eq!(p.status, StatusCode::OK);
        p.assert_shows("<label for=\"password\">");
        // the style sheet and script are served from the binary
        let css = web.get("/static/app.css", None);
        assert_eq!(css.status, StatusCode::OK);
        assert!(css.text.contains(":focus-visible"));
        // wrong password: refused, no cookie
        let p = web.send(
            Method::POST,
            "/login",
            None,
            &[("user", "operator"), ("password", "wrong one!")],
            Some(ORIGIN),
        );
        assert_eq!(p.status, StatusCode::UNAUTHORIZED, "{}", p.text);
        assert!(p.set_cookie.is_none());
        p.assert_shows("password is wrong");
        // right password from another origin, or without an Origin: refused
        for origin in [Some("http://evil.example"), None] {
            let p = web.send(
                Method::POST,
                "/login",
                None,
                &[("user", "operator"), ("password", PASSWORD)],
                origin,
            );
            assert_eq!(p.status, StatusCode::FORBIDDEN, "{origin:?}: {}", p.text);
            assert!(p.set_cookie.is_none());
        }
        // a user without a batch role sees the batches but is offered nothing to do
        let writer = web.login("nobody");
        let p = web.get("/", Some(&writer));
        p.assert_shows("My batches (0)");
        p.assert_shows("No open batch has your entries");
        let p = web.get("/?show=all", Some(&writer));
        p.assert_shows("All open (1)");
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        p.assert_shows(">View</a>");
        p.assert_not_shown(">Execute</a>");
        let p = web.get("/batch/B-WEB-1", Some(&writer));
        p.assert_shows("Nothing for your roles to do");
        p.assert_not_shown("<form method=\"post\" action=\"/batch/");
        let cookie = web.login("operator");
        let p = web.get("/", Some(&cookie));
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        p.assert_shows("B-WEB-1");
        p.assert_shows("Oskar Operator");
        // a made-up session id is no session
        let p = web.get("/", Some(&"ab".repeat(32)));
        assert_eq!(p.location.as_deref(), Some("/login"));
    });
}

#[test]
fn every_form_needs_the_session_csrf_token_and_refused_forms_store_nothing() {
    each_engine(|url| {
        let web = start(url);
        let op = web.login("operator");
        let page = web.get("/batch/B-WEB-1", Some(&op));
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let csrf = page.csrf();
        let receive = |token: &str| {
            vec![
                ("csrf", token.to_string()),
                ("action", "receive".to_string()),
                ("expected_seq", "1".to_string()),
                ("coi", COI.to_string()),
                ("din", DIN.to_string()),
                ("location", "goods-in".to_string()),
            ]
        };
        let as_refs = |v: &Vec<(&'static str, String)>| {
            v.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>()
        };
        for bad in ["", "0000", &"f".repeat(64)] {
            let f = as_refs(&receive(bad));
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let p = web.post("/batch/B-WEB-1", &op, &f);
            assert_eq!(p.status, StatusCode::FORBIDDEN, "csrf {bad:?}: {}", p.text);
            assert_eq!(web.head_seq("B-WEB-1"), 1, "a refused form stores nothing");
        }
        // the right token but from another origin
        let f = as_refs(&receive(&csrf));
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let p = web.send(
            Method::POST,
            "/batch/B-WEB-1",
            Some(&op),
            &f,
            Some("http://evil.example"),
        );
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.text);
        assert_eq!(web.head_seq("B-WEB-1"), 1);
        // another session's token does not fit this session
        let other = web.login("operator");
        let other_csrf = web.get("/", Some(&other)).csrf();
        assert_ne!(other_csrf, csrf);
        let f2 = as_refs(&receive(&other_csrf));
        let f2: Vec<(&str, &str)> = f2.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let p = web.post("/batch/B-WEB-1", &op, &f2);
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        assert_eq!(web.head_seq("B-WEB-1"), 1);
        // with its own token the receipt is recorded
        web.advance(1800);
        let p = web.post("/batch/B-WEB-1", &op, &f);
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        p.assert_shows("Recorded");
        assert_eq!(web.head_seq("B-WEB-1"), 2);
    });
}

/// Posts one action of the batch page as `cookie`, with the page's current
/// CSRF token and entry number.
fn act(web: &Web, cookie: &str, fields: &[(&str, &str)]) -> Page {
    let page = web.get("/batch/B-WEB-1", Some(cookie));
    let csrf = page.csrf();
    let seq = web.head_seq("B-WEB-1").to_string();
    let mut f: Vec<(&str, &str)> = vec![("csrf", &csrf), ("expected_seq", &seq)];
    f.extend_from_slice(fields);
    web.post("/batch/B-WEB-1", cookie, &f)
}

/// Starts `step` at `location` as `cookie`, scanning the identity label `coi` with the
/// batch's DIN.
fn start_step(web: &Web, cookie: &str, step: &str, location: &str, coi: &str) -> Page {
    act(
        web,
        cookie,
        &[
            ("action", "start"),
            ("step", step),
            ("location", location),
            ("coi", coi),
            ("din", DIN),
        ],
    )
}

/// Enters `value` °C as the bath temperature of the thaw step, as `cookie`.
fn enter_bath_temperature(web: &Web, cookie: &str, value: &str) -> Page {
    act(
        web,
        cookie,
        &[
            ("action", "value"),
            ("step", "thaw"),
            ("field", "parameters.bath_temperature"),
            ("unit", "°C"),
            ("value", value),
        ],
    )
}

/// Reports a deviation of the thaw step with `observation`, as `cookie`.
fn report_deviation(web: &Web, cookie: &str, observation: &str) -> Page {
    act(
        web,
        cookie,
        &[
            ("action", "report_deviation"),
            ("step", "thaw"),
            ("observation", observation),
        ],
    )
}

/// Signs `target` with the meaning "reviewed" and `password`, as `cookie`.
fn sign_reviewed(web: &Web, cookie: &str, target: &str, password: &str) -> Page {
    act(
        web,
        cookie,
        &[
            ("action", "sign"),
            ("target", target),
            ("meaning", "reviewed"),
            ("password", password),
        ],
    )
}

#[test]
fn pages_follow_the_role_and_the_engine_decides() {
    each_engine(|url| {
        let web = start(url);
        let op = web.login("operator");
        let qa = web.login("qa");
        let qp = web.login("qp");
        // the operator is offered the receipt; QA and the QP are not
        let p = web.get("/batch/B-WEB-1", Some(&op));
        p.assert_shows("value=\"receive\"");
        p.assert_not_shown("value=\"dispose\"");
        for c in [&qa, &qp] {
            let p = web.get("/batch/B-WEB-1", Some(c));
            p.assert_not_shown("value=\"receive\"");
            p.assert_shows("Review by exception");
        }
        // QA's own board is empty while nothing waits for QA; all open batches show it
        let board = web.get("/", Some(&qa));
        board.assert_shows("My batches (0)");
        board.assert_not_shown("href=\"/batch/B%2DWEB%2D1\"");
        let board = web.get("/?show=all", Some(&qa));
        board.assert_shows(">Review</a>");
        board.assert_not_shown(">Execute</a>");
        // the operator's board has the batch: its next step waits for an operator
        let board = web.get("/", Some(&op));
        board.assert_shows("My batches (1)");
        board.assert_shows(">Execute</a>");

        web.advance(1800);
        let receive = [
            ("action", "receive"),
            ("location", "goods-in"),
            ("coi", COI),
            ("din", DIN),
        ];
        assert_eq!(act(&web, &op, &receive).status, StatusCode::OK);
        let p = start_step(&web, &op, "transport_in", "goods-in", COI);
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        web.advance(86_400);
        let p = act(
            &web,
            &op,
            &[
                ("action", "complete"),
                ("step", "transport_in"),
                ("failed", ""),
            ],
        );
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        // the board shows the hold time of the thawed material only after thaw; the next step
        // is offered with its scan fields, the first one focused
        web.advance(600);
        let p = web.get("/batch/B-WEB-1", Some(&op));
        p.assert_shows("data-scan autocomplete=\"off\" required autofocus");
        // an identity mismatch at the hand-off: the engine refuses and records it
        let p = start_step(&web, &op, "thaw", "room_c1", "COI-OTHER");
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        p.assert_shows("Refused");
        p.assert_shows("Deviation raised");
        let p = start_step(&web, &op, "thaw", "room_c1", COI);
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        // the step screen shows the parameter with unit and allowed range
        let p = web.get("/batch/B-WEB-1", Some(&op));
        p.assert_shows("allowed 36 – 38 °C");
        // an out-of-range value is recorded with a deviation raised by the engine
        let p = enter_bath_temperature(&web, &op, "40.5");
        p.assert_shows("Deviation raised");
        let before = web.head_seq("B-WEB-1");
        // a value that is no number never reaches the engine
        let p = enter_bath_temperature(&web, &op, "warm");
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
        p.assert_shows("is not a number");
        assert_eq!(web.head_seq("B-WEB-1"), before);
        // the operator reports a deviation the engine cannot see, from the step screen
        let p = web.get("/batch/B-WEB-1", Some(&op));
        p.assert_shows("value=\"report_deviation\"");
        p.assert_shows("<label for=\"dev-what\">");
        let p = report_deviation(&web, &op, " ");
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        p.assert_shows("observation");
        assert_eq!(
            web.head_seq("B-WEB-1"),
            before,
            "an empty report stores nothing"
        );
        let p = report_deviation(&web, &op, "bag port cracked during thaw");
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        p.assert_shows("Deviation raised");
        p.assert_shows("bag port cracked during thaw");
        assert_eq!(web.head_seq("B-WEB-1"), before + 1);
        // QA's review shows it as a deviation reported by a person, by the operator
        let p = web.get("/batch/B-WEB-1", Some(&qa));
        p.assert_shows("reported by a person");
        // QA, the QP and a user without a batch role are not offered the report
        for c in [&qa, &qp] {
            let p = web.get("/batch/B-WEB-1", Some(c));
            p.assert_not_shown("value=\"report_deviation\"");
        }
        // with deviations to assess, the batch is on QA's own board
        let board = web.get("/", Some(&qa));
        board.assert_shows("My batches (1)");
        board.assert_shows("href=\"/batch/B%2DWEB%2D1\"");
        // QA sees the deviations as unassessed and may assess them; the operator may not
        let p = web.get("/batch/B-WEB-1", Some(&qa));
        p.assert_shows("not assessed");
        p.assert_shows("value=\"assess\"");
        let p = web.get("/batch/B-WEB-1", Some(&op));
        p.assert_not_shown("value=\"assess\"");
        // a signature with a wrong password is refused and stores nothing
        let page = web.get("/batch/B-WEB-1", Some(&qa));
        let at = page.text.find("name=\"target\"").expect("sign form");
        let opt = &page.text[at..];
        let v0 = opt.find("value=\"").expect("option") + 7;
        let target = opt[v0..v0 + opt[v0..].find('"').expect("end")].to_string();
        let before = web.head_seq("B-WEB-1");
        let p = sign_reviewed(&web, &qa, &target, "not it at all");
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        p.assert_shows("password");
        assert_eq!(web.head_seq("B-WEB-1"), before);
        let p = sign_reviewed(&web, &qa, &target, PASSWORD);
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        assert_eq!(web.head_seq("B-WEB-1"), before + 1);
        // the record page is the batch report's renderer
        let p = web.get("/batch/B-WEB-1/record", Some(&qp));
        assert_eq!(p.status, StatusCode::OK);
        p.assert_shows("Batch record B-WEB-1");
    });
}

#[test]
fn an_expired_or_ended_session_is_no_session() {
    each_engine(|url| {
        let web = start(url);
        // a session made nine hours ago with an eight-hour life
        let old = Timestamp(Timestamp::now().0 - 9 * 3600);
        let s = store::session::create(
            &web.st.store,
            "operator",
            server::web::SESSION_LIFETIME_S,
            old,
        )
        .expect("session");
        let p = web.get("/", Some(&s.secret));
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert_eq!(p.location.as_deref(), Some("/login"));
        let p = web.post(
            "/batch/B-WEB-1",
            &s.secret,
            &[("csrf", &s.csrf), ("action", "receive")],
        );
        assert_eq!(p.status, StatusCode::UNAUTHORIZED, "{}", p.text);
        // log-out ends the session on the server, not only in the browser
        let c = web.login("qa");
        let csrf = web.get("/", Some(&c)).csrf();
        let p = web.post("/logout", &c, &[("csrf", "wrong")]);
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        assert_eq!(
            web.get("/", Some(&c)).status,
            StatusCode::OK,
            "a refused log-out ends nothing"
        );
        let p = web.post("/logout", &c, &[("csrf", &csrf)]);
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert!(
            p.set_cookie
                .as_deref()
                .is_some_and(|v| v.contains("Max-Age=0"))
        );
        let p = web.get("/", Some(&c));
        assert_eq!(
            p.location.as_deref(),
            Some("/login"),
            "the old cookie is no session any more"
        );
        // a disabled user's session ends at once
        let c = web.login("operator");
        assert_eq!(web.get("/", Some(&c)).status, StatusCode::OK);
        store::auth::set_disabled(
            &web.st.store,
            "admin",
            "operator",
            true,
            "test",
            Timestamp::now(),
        )
        .expect("disable");
        assert_eq!(web.get("/", Some(&c)).location.as_deref(), Some("/login"));
    });
}

/// Rehearses batch `B-WEB-2` into the test database up to its disposition
/// (each request stored as a live batch stores it), its steps run by `opqp`
/// (an operator who is also a qualified person) and its record reviewed by
/// `qa`; moves the pages' clock past its last entry.
fn rehearse_to_disposition(web: &Web) {
    let mut cast = batch::rehearsal::Cast::example();
    let actor = |user: &str, name: &str, role| batch::Actor {
        user: user.into(),
        name: name.into(),
        roles: vec![role],
    };
    cast.planner = actor("planner", "Paula Planner", batch::Role::Planner);
    cast.operator = actor("opqp", "Olga Both", batch::Role::Operator);
    cast.qa = actor("qa", "Quirin Assurance", batch::Role::Qa);
    let order = batch::NewOrder {
        batch: "B-WEB-2".into(),
        patient: "PSN-2".into(),
        coi: "COI-WEB-2".into(),
        din: "A999926000001".into(),
        planned_start: recipe::DateTime::parse("2026-12-01T08:00:00Z").expect("time"),
        ship_step: None,
    };
    let stop = "stop at the disposition";
    let mut last = 0;
    let r = support::rehearse_into(&web.st.store, &order, &cast, 3, |j| {
        if j.request
            .is_some_and(|r| matches!(r.command, batch::engine::Command::Dispose { .. }))
        {
            return Err(stop.to_string());
        }
        last = j.at.unix_seconds();
        Ok(())
    });
    match r {
        Err(batch::rehearsal::RehearsalError::Journal(m)) if m == stop => {}
        other => panic!("the rehearsal should stop at the disposition: {other:?}"),
    }
    web.clock.store(last + 3600, Ordering::SeqCst);
}

#[test]
fn the_qp_releases_on_the_page_and_four_eyes_refuses_a_qp_who_worked_on_the_batch() {
    each_engine(|url| {
        let web = start(url);
        rehearse_to_disposition(&web);
        let id = "B-WEB-2";
        let path = format!("/batch/{id}");
        let dispose = |cookie: &str, password: &str| {
            let page = web.get(&path, Some(cookie));
            let csrf = page.csrf();
            let seq = web.head_seq(id).to_string();
            web.post(
                &path,
                cookie,
                &[
                    ("csrf", &csrf),
                    ("expected_seq", &seq),
                    ("action", "dispose"),
                    ("decision", "release"),
                    ("reason", "Record reviewed by exception"),
                    ("password", password),
                ],
            )
        };
        // the QP's board says to dispose; the operator's does not
        let qp = web.login("qp");
        let board = web.get("/", Some(&qp));
        board.assert_shows(">Disposition</a>");
        let p = web.get(&path, Some(&qp));
        p.assert_shows("awaiting disposition");
        p.assert_shows("value=\"dispose\"");
        let op = web.login("operator");
        assert!(!web.get(&path, Some(&op)).text.contains("value=\"dispose\""));
        let before = web.head_seq(id);
        // a QP who ran the steps is offered the form, but the engine refuses: four eyes
        let both = web.login("opqp");
        let p = dispose(&both, PASSWORD);
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        p.assert_shows("Refused");
        p.assert_shows("four eyes: opqp performed");
        assert_eq!(
            web.head_seq(id),
            before,
            "a refused disposition stores nothing"
        );
        // the other QP with a wrong password: refused before the engine
        let p = dispose(&qp, "not my password");
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        assert_eq!(web.head_seq(id), before);
        // and with the right one: released, the batch leaves disposition
        let p = dispose(&qp, PASSWORD);
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        p.assert_shows("Recorded");
        assert!(web.head_seq(id) > before);
        let p = web.get(&path, Some(&qp));
        p.assert_not_shown("value=\"dispose\"");
        p.assert_not_shown("awaiting disposition");
        let record = web.get(&format!("{path}/record"), Some(&qp));
        record.assert_shows("Quinn Person");
    });
}

const SCENARIO: &str = include_str!("../../../examples/concept-1-all-in-one.toml");

/// [`SCENARIO`] with a negative equipment count, and the line of that count.
fn broken_scenario() -> (String, usize) {
    let broken = SCENARIO.replacen("count = 10 ", "count = -3 ", 1);
    let line = broken
        .lines()
        .position(|l| l.starts_with("count = -3"))
        .expect("the broken line")
        + 1;
    (broken, line)
}

#[test]
fn the_planner_checks_a_scenario_at_its_lines_and_simulates_it() {
    each_engine(|url| {
        let web = start(url);
        // the planning pages are the planner's only
        let op = web.login("operator");
        let p = web.get("/plan", Some(&op));
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.text);
        assert!(!web.get("/", Some(&op)).text.contains("href=\"/plan\""));
        let pl = web.login("planner");
        assert!(web.get("/", Some(&pl)).text.contains("href=\"/plan\""));
        let p = web.get("/plan", Some(&pl));
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        p.assert_shows("href=\"/plan/example/concept-1-all-in-one.toml\"");
        p.assert_shows("Concept 1 — all-in-one devices, 200 patients/year");
        let p = web.get("/plan/example/concept-1-all-in-one.toml", Some(&pl));
        p.assert_shows("<textarea id=\"sc-text\"");
        p.assert_shows("name = &quot;Concept 1");
        assert_eq!(
            web.get("/plan/example/none.toml", Some(&pl)).status,
            StatusCode::NOT_FOUND
        );
        let csrf = p.csrf();
        let send = |text: &str, action: &str, reps: &str| {
            web.post(
                "/plan/check",
                &pl,
                &[
                    ("csrf", &csrf),
                    ("name", "concept-1.toml"),
                    ("text", text),
                    ("do", action),
                    ("replications", reps),
                ],
            )
        };
        // a broken scenario: the loader's error at its line and column, the line marked
        let (broken, line) = broken_scenario();
        let p = send(&broken, "check", "20");
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        p.assert_shows(&format!("line {line}, column 9"));
        p.assert_shows("equipment[0].count");
        p.assert_shows(&format!("<mark id=\"L{line}\""));
        assert_eq!(p.text.matches("<mark ").count(), 1, "only the broken line");
        // the same broken text is not run
        let p = send(&broken, "run", "3");
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        // the valid one checks clean; too few replications are refused
        let p = send(SCENARIO, "check", "20");
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        p.assert_shows("The scenario is valid.");
        let p = send(SCENARIO, "run", "1");
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        p.assert_shows("replications");
        // a run: its page, its status until it ends, the report and the CSV files
        let p = send(SCENARIO, "run", "3");
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
        let run = p.location.expect("the run's page");
        assert!(run.starts_with("/plan/run/"), "{run}");
        let v = wait_finished(&web, &run, &pl, 60, |v| assert_eq!(v["wanted"], 3));
        assert_eq!(v["done"], 3, "{v}");
        let p = web.get(&run, Some(&pl));
        p.assert_shows("Finished (3 replications done)");
        p.assert_shows(&format!("href=\"{run}/report\""));
        let r = web.get(&format!("{run}/report"), Some(&pl));
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.text.contains("Concept 1"),
            "{}",
            &r.text[..r.text.len().min(2000)]
        );
        let at = p.text.find(&format!("{run}/csv/")).expect("a CSV link");
        let rest = &p.text[at..];
        let csv_path = &rest[..rest.find('"').expect("end")];
        let c = web.get(csv_path, Some(&pl));
        assert_eq!(c.status, StatusCode::OK);
        c.assert_shows(",");
        // another person does not see the run
        let other = web.login("reviewer");
        assert_ne!(web.get(&run, Some(&other)).status, StatusCode::OK);
        // no stored plant plan yet; one made through the plan API is shown as its Gantt page
        let p = web.get("/plan", Some(&pl));
        p.assert_shows("No plan is stored yet");
        store_example_plan(&web);
        let p = web.get("/plan", Some(&pl));
        let at = p
            .text
            .find("href=\"/plan/plans/")
            .expect("the stored plan's link")
            + 6;
        let link = &p.text[at..at + p.text[at..].find('"').expect("end")];
        let g = web.get(link, Some(&pl));
        assert_eq!(g.status, StatusCode::OK, "{}", g.text);
        assert!(
            g.text.contains("<svg"),
            "a Gantt chart: {}",
            &g.text[..g.text.len().min(2000)]
        );
        assert_eq!(
            web.get("/plan/plans/no-such-plan", Some(&pl)).status,
            StatusCode::NOT_FOUND
        );
        // a run cancelled at once ends, cancelled or with too few replications
        let p = send(SCENARIO, "run", "200");
        let run = p.location.expect("the run's page");
        let page = web.get(&run, Some(&pl));
        if page.text.contains("Cancel the simulation") {
            let c = web.post(&format!("{run}/cancel"), &pl, &[("csrf", &csrf)]);
            assert_eq!(c.status, StatusCode::SEE_OTHER, "{}", c.text);
        }
        let v = wait_finished(&web, &run, &pl, 60, |_| {});
        let done = v["done"].as_u64().expect("the cancelled run ended");
        assert!(done < 200, "cancelled after {done} of 200");
        let p = web.get(&run, Some(&pl));
        assert!(
            p.text.contains("Cancelled") || p.text.contains("cancelled after"),
            "{}",
            p.text
        );
    });
}

/// The value of the first `href="{prefix}…"` in a page.
fn link(p: &Page, prefix: &str) -> String {
    let at = p
        .text
        .find(&format!("href=\"{prefix}"))
        .unwrap_or_else(|| panic!("no link {prefix} in {}", p.text))
        + 6;
    p.text[at..at + p.text[at..].find('"').expect("end")].to_string()
}

#[test]
fn the_planner_saves_scenarios_as_versions_and_deletes_them() {
    each_engine(|url| {
        let web = start(url);
        let pl = web.login("planner");
        let p = web.get("/plan", Some(&pl));
        p.assert_shows("No scenario is stored yet");
        let csrf = p.csrf();
        let save = |fields: &[(&str, &str)]| {
            let mut f = vec![("csrf", csrf.as_str()), ("do", "save")];
            f.extend_from_slice(fields);
            web.post("/plan/check", &pl, &f)
        };
        // a new scenario with an error is stored too (unfinished work), its finding shown
        let (broken, _) = broken_scenario();
        let p = save(&[("name", "mine.toml"), ("text", &broken)]);
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
        let at = p.location.expect("the stored scenario");
        assert_eq!(at, "/plan/scenarios/scenario-1");
        let e = web.get(&at, Some(&pl));
        assert_eq!(e.status, StatusCode::OK, "{}", e.text);
        e.assert_shows("Stored scenario <code>scenario-1</code>, Version 1");
        e.assert_shows("equipment[0].count");
        e.assert_shows("name=\"seen\" value=\"1\"");
        // the list shows it above the examples
        let l = web.get("/plan", Some(&pl));
        l.assert_shows("href=\"/plan/scenarios/scenario-1\">mine.toml</a>");
        // a second save is version 2; a save on version 1 again is refused, nothing stored
        let next = [
            ("scenario", "scenario-1"),
            ("seen", "1"),
            ("name", "mine.toml"),
            ("text", SCENARIO),
        ];
        let p = save(&next);
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
        let p = save(&next);
        assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.text);
        p.assert_shows("is at version 2");
        let e = web.get("/plan/scenarios/scenario-1", Some(&pl));
        e.assert_shows("Version 2");
        e.assert_shows("The scenario is valid.");
        let v1 = web.get("/plan/scenarios/scenario-1/versions/1", Some(&pl));
        assert!(
            v1.text.contains("count = -3"),
            "version 1 keeps its text: {}",
            v1.text
        );
        // checking a stored text keeps it the stored scenario's
        let p = web.post(
            "/plan/check",
            &pl,
            &[
                ("csrf", &csrf),
                ("do", "check"),
                ("scenario", "scenario-1"),
                ("seen", "2"),
                ("name", "mine.toml"),
                ("text", SCENARIO),
            ],
        );
        p.assert_shows("name=\"seen\" value=\"2\"");
        // too large: a clear message, nothing stored
        let big = format!(
            "{SCENARIO}\n{}",
            "# padding\n".repeat(store::scenarios::MAX_TEXT / 10)
        );
        let p = save(&[("name", "big.toml"), ("text", &big)]);
        assert_eq!(p.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", p.text);
        p.assert_shows("Nothing was stored");
        assert!(!web.get("/plan", Some(&pl)).text.contains("big.toml"));
        // another planner sees it; an operator does not
        let op = web.login("operator");
        assert_eq!(
            web.get("/plan/scenarios/scenario-1", Some(&op)).status,
            StatusCode::FORBIDDEN
        );
        // deletion: off the list, the versions stay
        let d = web.post(
            "/plan/scenarios/scenario-1/delete",
            &pl,
            &[("csrf", &csrf), ("seen", "1")],
        );
        assert_eq!(
            d.status,
            StatusCode::CONFLICT,
            "a stale delete is refused: {}",
            d.text
        );
        let d = web.post(
            "/plan/scenarios/scenario-1/delete",
            &pl,
            &[("csrf", &csrf), ("seen", "2")],
        );
        assert_eq!(d.status, StatusCode::SEE_OTHER, "{}", d.text);
        assert!(!web.get("/plan", Some(&pl)).text.contains("mine.toml"));
        assert_eq!(
            web.get("/plan/scenarios/scenario-1", Some(&pl)).status,
            StatusCode::GONE
        );
        let v2 = web.get("/plan/scenarios/scenario-1/versions/2", Some(&pl));
        assert_eq!(v2.status, StatusCode::OK);
        v2.assert_shows("count = 10");
        let versions = web
            .st
            .store
            .read(|tx| store::scenarios::versions(tx, "scenario-1"))
            .expect("versions");
        assert_eq!(
            versions
                .iter()
                .map(|v| (v.version, v.by.as_str(), v.deleted))
                .collect::<Vec<_>>(),
            [
                (1, "planner", false),
                (2, "planner", false),
                (3, "planner", true)
            ]
        );
    });
}

/// Stores a plan of the two-product example through the plan API, as the
/// planner's token.
fn store_example_plan(web: &Web) {
    let body = json!({
        "scenario": include_str!("../../../examples/plant-two-products.toml"),
        "orders": include_str!("../../../examples/schedule/plant-two-products-orders.csv"),
        "time_limit_s": 30, "iterations": 20, "seed": 1,
    });
    let r = web.as_planner(Method::POST, "/api/plan/v1/plans", Some(&body), "plan");
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[test]
fn the_planner_replans_a_stored_plan_after_a_delay_and_sees_what_moved() {
    each_engine(|url| {
        let web = start(url);
        let pl = web.login("planner");
        store_example_plan(&web);
        let l = web.get("/plan", Some(&pl));
        let form_path = link(&l, "/plan/plans/plan%2D1/replan");
        let f = web.get(&form_path, Some(&pl));
        assert_eq!(f.status, StatusCode::OK, "{}", f.text);
        f.assert_shows("<option>O001</option>");
        let csrf = f.csrf();
        // an unknown order: a located message, nothing stored
        let bad = web.post(
            &form_path,
            &pl,
            &[
                ("csrf", &csrf),
                ("seen", "1"),
                ("kind", "delay"),
                ("order", "O999"),
                ("step", "expansion"),
                ("hours", "24"),
                ("as_of_h", "0"),
            ],
        );
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
        bad.assert_shows("order: the plan has no order");
        // the first order's first step is 48 h late: the plan moves, version 2 is stored
        let doc: serde_json::Value = serde_json::from_str(
            &web.st
                .store
                .read(|tx| store::plans::get(tx, "plan-1", None))
                .expect("v1")
                .document,
        )
        .expect("doc");
        let product = doc["shop"]["jobs"][0]["product"].as_u64().expect("product") as usize;
        let step = doc["shop"]["products"][product]["ops"][0]["name"]
            .as_str()
            .expect("step")
            .to_string();
        // order O001's step delayed by 48 hours from the plan's start, on version 1
        let delay = [
            ("csrf", csrf.as_str()),
            ("seen", "1"),
            ("kind", "delay"),
            ("order", "O001"),
            ("step", &step),
            ("hours", "48"),
            ("as_of_h", "0"),
        ];
        let p = web.post(&form_path, &pl, &delay);
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        p.assert_shows("Re-planned and stored");
        assert!(
            p.text.contains("<table id=\"moves\""),
            "something moved: {}",
            p.text
        );
        let latest = web
            .st
            .store
            .read(|tx| store::plans::latest(tx, "plan-1"))
            .expect("latest");
        assert_eq!(latest, 2);
        let csv = web.get(&link(&p, "/plan/plans/plan-1/moves/2/moves.csv"), Some(&pl));
        assert_eq!(csv.status, StatusCode::OK);
        assert!(
            csv.text
                .starts_with("order,step,old_start_h,new_start_h,shift_h"),
            "{}",
            csv.text
        );
        assert!(csv.text.lines().count() > 1, "{}", csv.text);
        let g = web.get("/plan/plans/plan-1/moves/2/gantt", Some(&pl));
        assert_eq!(g.status, StatusCode::OK);
        assert!(
            g.text.contains("What moved") && g.text.contains("<svg"),
            "{}",
            &g.text[..g.text.len().min(3000)]
        );
        // the moved operations' bars are outlined (as many as rows of moves.csv, at least),
        // with the legend; the stored plan's own page has neither
        let outlined = g.text.matches("stroke-dasharray=\"5 2\"><title>").count();
        assert!(
            outlined >= csv.text.lines().count() - 1,
            "{outlined} outlined bars for {} moves",
            csv.text.lines().count() - 1
        );
        assert!(g.text.contains("moved by the re-plan"), "the legend");
        let plain = web.get("/plan/plans/plan-1", Some(&pl));
        assert!(
            !plain.text.contains("stroke-dasharray"),
            "no outline without moves"
        );
        // the same form again is stale (made on version 1)
        let again = web.post(&form_path, &pl, &delay);
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
        assert_eq!(
            web.st
                .store
                .read(|tx| store::plans::latest(tx, "plan-1"))
                .expect("latest"),
            2
        );
        // an operator may not re-plan
        let op = web.login("operator");
        assert_eq!(web.get(&form_path, Some(&op)).status, StatusCode::FORBIDDEN);
    });
}

#[test]
fn the_planner_compares_two_examples_and_a_broken_scenario_is_refused() {
    each_engine(|url| {
        let web = start(url);
        let pl = web.login("planner");
        assert!(
            web.get("/plan", Some(&pl))
                .text
                .contains("href=\"/plan/compare\"")
        );
        let p = web.get("/plan/compare", Some(&pl));
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        // every checkbox has its label
        let boxes = p.text.matches("type=\"checkbox\" id=\"cmp-").count();
        assert!(boxes >= 2, "{}", p.text);
        for i in 0..boxes {
            p.assert_shows(&format!("<label for=\"cmp-{i}\">"));
        }
        p.assert_shows("<label for=\"cmp-reps\">");
        let csrf = p.csrf();
        let compare = |picks: &[&str], reps: &str| {
            let mut f = vec![("csrf", csrf.as_str()), ("replications", reps)];
            f.extend(picks.iter().map(|p| ("pick", *p)));
            web.post("/plan/compare", &pl, &f)
        };
        let one = "example:concept-1-all-in-one.toml";
        let two = "example:concept-2-chained-devices.toml";
        // one scenario is not a comparison
        let p = compare(&[one], "3");
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        p.assert_shows("at least two");
        // a stored scenario with an error is refused with its located error; nothing runs
        let (broken, line) = broken_scenario();
        let s = web.post(
            "/plan/check",
            &pl,
            &[
                ("csrf", &csrf),
                ("do", "save"),
                ("name", "mine.toml"),
                ("text", &broken),
            ],
        );
        assert_eq!(s.status, StatusCode::SEE_OTHER, "{}", s.text);
        let id = s.location.expect("stored").replace("/plan/scenarios/", "");
        let p = compare(&[one, &format!("stored:{id}")], "3");
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        assert!(p.location.is_none());
        p.assert_shows("these scenarios have errors");
        p.assert_shows("mine.toml");
        p.assert_shows(&format!("line {line}, column 9"));
        p.assert_shows("equipment[0].count");
        // bad replications are refused
        let p = compare(&[one, two], "1");
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        // two examples: a run of 2 × 3 replications, then the comparison page and CSV
        let p = compare(&[one, two], "3");
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
        let run = p.location.expect("the comparison's run page");
        assert!(run.starts_with("/plan/run/"), "{run}");
        let v = wait_finished(&web, &run, &pl, 120, |v| assert_eq!(v["wanted"], 6, "{v}"));
        assert_eq!(v["done"], 6, "{v}");
        let p = web.get(&run, Some(&pl));
        p.assert_shows("<h1>Comparison: ");
        p.assert_shows("<title>Comparison");
        p.assert_shows("Finished (2 × 3");
        let r = web.get(&format!("{run}/report"), Some(&pl));
        assert_eq!(r.status, StatusCode::OK);
        r.assert_shows("Comparison of 2 scenarios");
        r.assert_shows("Concept 1");
        r.assert_shows("Concept 2");
        let c = web.get(&format!("{run}/csv/compare.csv"), Some(&pl));
        assert_eq!(c.status, StatusCode::OK, "{}", c.text);
        assert!(c.text.starts_with("scenario,"), "{}", c.text);
        assert_eq!(c.text.lines().count(), 3, "header and two rows: {}", c.text);
        c.assert_shows("Concept 2");
        // the simulation's CSV files are not those of a comparison
        assert_eq!(
            web.get(&format!("{run}/csv/summary.csv"), Some(&pl)).status,
            StatusCode::NOT_FOUND
        );
        // nobody else sees it
        let other = web.login("reviewer");
        assert_ne!(web.get(&run, Some(&other)).status, StatusCode::OK);
    });
}

/// A small study: concept 1 at the demands `values`, `reps` replications per point, the
/// files it names looked up among the bundled examples.
fn small_study(values: &str, reps: u32) -> String {
    format!(
        "[study]\nname = \"Web test: concept 1 by demand\"\nseed = 3\nreplications = {reps}\n\
         cost = \"../costs/shared.cost.toml\"\n\n[[axis]]\nparam = \"demand.*.patients_per_year\"\n\
         values = [{values}]\n\n[[scenario]]\nlabel = \"concept-1\"\n\
         file = \"../concept-1-all-in-one.toml\"\ncost = \"../costs/concept-1-all-in-one.cost.toml\"\n"
    )
}

/// Reads a run's event stream (`…/events`) to its end: the events as (name, data).
fn read_events(web: &Web, run: &str, cookie: &str) -> Vec<(String, serde_json::Value)> {
    let uri: Uri = format!("{run}/events").parse().expect("uri");
    let mut h = HeaderMap::new();
    h.insert(header::HOST, HeaderValue::from_static(HOST));
    h.insert(
        header::COOKIE,
        HeaderValue::from_str(&format!("atmpflow_session={cookie}")).expect("cookie"),
    );
    let r = server::web::answer(&web.st, &Method::GET, &uri, &h, b"", false);
    assert_eq!(r.status(), StatusCode::OK);
    let ctype = r.headers().get(header::CONTENT_TYPE).expect("content type");
    assert_eq!(ctype, "text/event-stream");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let body = rt
        .block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(300),
                axum::body::to_bytes(r.into_body(), usize::MAX),
            )
            .await
        })
        .expect("the stream ends with the run")
        .expect("body");
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut events = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let field = |k: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(str::to_string)
        };
        if let (Some(name), Some(data)) = (field("event: "), field("data: ")) {
            events.push((name, serde_json::from_str(&data).expect("event data")));
        }
    }
    events
}

/// Polls a run's status until it has ended (at most `secs` seconds), checking every status
/// read with `check`; its last status.
fn wait_finished(
    web: &Web,
    run: &str,
    cookie: &str,
    secs: u64,
    check: impl Fn(&serde_json::Value),
) -> serde_json::Value {
    for _ in 0..secs * 10 {
        let s = web.get(&format!("{run}/status"), Some(cookie));
        assert_eq!(s.status, StatusCode::OK, "{}", s.text);
        let v: serde_json::Value = serde_json::from_str(&s.text).expect("status json");
        check(&v);
        if v["finished"] == true {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{run} did not end within {secs} s");
}

#[test]
fn the_planner_runs_a_study_follows_its_events_and_a_cancel_keeps_the_points_done() {
    each_engine(|url| {
        let web = start(url);
        let op = web.login("operator");
        assert_eq!(
            web.get("/plan/study", Some(&op)).status,
            StatusCode::FORBIDDEN
        );
        let pl = web.login("planner");
        assert!(
            web.get("/plan", Some(&pl))
                .text
                .contains("href=\"/plan/study\"")
        );
        let p = web.get("/plan/study/example/concepts-by-demand.toml", Some(&pl));
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        p.assert_shows("<label for=\"st-text\">");
        p.assert_shows("label = &quot;concept-1&quot;");
        p.assert_shows("<code>shared.cost.toml</code>");
        let csrf = p.csrf();
        let send = |text: &str, action: &str, reps: &str| {
            web.post(
                "/plan/study",
                &pl,
                &[
                    ("csrf", csrf.as_str()),
                    ("text", text),
                    ("do", action),
                    ("replications", reps),
                ],
            )
        };
        // the bundled concepts study checks clean with its own replications
        let concepts = include_str!("../../../examples/studies/concepts-by-demand.toml");
        let p = send(concepts, "check", "");
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        p.assert_shows("× 20 replications");
        // a file the study names that is neither bundled nor stored: located at its line
        let study = small_study("50, 100", 2);
        let wrong = study.replace("../concept-1-all-in-one.toml", "../nowhere.toml");
        let line = wrong
            .lines()
            .position(|l| l.contains("nowhere.toml"))
            .expect("line")
            + 1;
        let p = send(&wrong, "run", "");
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        assert!(p.location.is_none());
        p.assert_shows("scenario[0].file");
        p.assert_shows(&format!("<mark id=\"L{line}\""));
        p.assert_shows("nowhere.toml");
        // a syntax error, a network study, too many points, bad replications: refused
        let p = send("[study\nname = 1", "check", "");
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        p.assert_shows("<mark id=\"L1\"");
        let net = include_str!("../../../examples/studies/network-central-germany.toml");
        let p = send(net, "check", "");
        p.assert_shows("network study");
        let big = include_str!("../../../examples/studies/incubators-by-demand.toml");
        let p = send(big, "run", "2");
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        p.assert_shows("too large for the pages");
        p.assert_shows("200 points");
        let p = send(&study, "run", "1");
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        p.assert_shows("from 2 to");
        // checked: the number of points
        let p = send(&study, "check", "");
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        p.assert_shows("The study is valid");
        p.assert_shows("2 points × 2 replications");
        // a run followed through its event stream to the end
        let p = send(&study, "run", "");
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
        let run = p.location.expect("the study's run page");
        let page = web.get(&run, Some(&pl));
        page.assert_shows("<title>Study");
        let events = read_events(&web, &run, &pl);
        let (last, data) = events.last().expect("events");
        assert_eq!(last, "end", "{events:?}");
        assert_eq!(data["done"], 2, "{events:?}");
        assert_eq!(data["wanted"], 2, "{events:?}");
        assert!(
            events[..events.len() - 1]
                .iter()
                .all(|(n, d)| n == "progress" && d["finished"] == false),
            "{events:?}"
        );
        let page = web.get(&run, Some(&pl));
        page.assert_shows("Finished (2 points done)");
        let r = web.get(&format!("{run}/report"), Some(&pl));
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.text.contains("Web test: concept 1 by demand"),
            "{}",
            &r.text[..2000.min(r.text.len())]
        );
        for csv in ["points.csv", "pareto.csv"] {
            page.assert_shows(&format!("{run}/csv/{csv}"));
        }
        let c = web.get(&format!("{run}/csv/points.csv"), Some(&pl));
        assert_eq!(c.status, StatusCode::OK, "{}", c.text);
        assert_eq!(
            c.text.lines().count(),
            3,
            "header and two points: {}",
            c.text
        );
        // the event stream of a run that has ended: just its end
        let again = read_events(&web, &run, &pl);
        assert_eq!(again.len(), 1, "{again:?}");
        // nobody else sees it or its events
        let other = web.login("reviewer");
        assert_ne!(
            web.get(&format!("{run}/events"), Some(&other)).status,
            StatusCode::OK
        );
        // a longer study cancelled once a point has finished: a partial result of those
        // (the pages' largest study: 60 points x 25 replications, so that the 59 points
        // after the first cannot all finish between the first and the cancel)
        let values: Vec<String> = (0..60).map(|i| (40 + 5 * i).to_string()).collect();
        let long = small_study(&values.join(", "), 25);
        let p = send(&long, "run", "");
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
        let run = p.location.expect("the run page");
        assert!(web.get(&run, Some(&pl)).text.contains("Cancel the study"));
        for _ in 0..3000 {
            let s = web.get(&format!("{run}/status"), Some(&pl));
            let v: serde_json::Value = serde_json::from_str(&s.text).expect("status json");
            if v["done"].as_u64().unwrap_or(0) >= 1 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let c = web.post(&format!("{run}/cancel"), &pl, &[("csrf", csrf.as_str())]);
        assert_eq!(c.status, StatusCode::SEE_OTHER, "{}", c.text);
        let v = wait_finished(&web, &run, &pl, 300, |_| {});
        let done = v["done"].as_u64().expect("done");
        assert!((1..60).contains(&done), "cancelled after {done} of 60: {v}");
        let page = web.get(&run, Some(&pl));
        page.assert_shows("Partial result");
        page.assert_shows(&format!("({done} / 60 points done)"));
        let c = web.get(&format!("{run}/csv/points.csv"), Some(&pl));
        assert_eq!(c.text.lines().count() as u64, done + 1, "{}", c.text);
        let r = web.get(&format!("{run}/report"), Some(&pl));
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.text.to_lowercase().contains("partial"),
            "the report says it is partial"
        );
    });
}
