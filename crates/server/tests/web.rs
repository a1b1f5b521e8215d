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

use axum::body::to_bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use serde_json::json;
use server::{AppState, Clock, dispatch_with};
use store::auth::{NewUser, Role, Timestamp};

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
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let bytes = rt
            .block_on(to_bytes(r.into_body(), usize::MAX))
            .expect("body");
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

    /// The batch's last entry number, read through the batch API.
    fn head_seq(&self, id: &str) -> i64 {
        let uri: Uri = format!("/api/batch/v1/batches/{id}").parse().expect("uri");
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {}", self.planner_token)).expect("h"),
        );
        let r = dispatch_with(&self.st, &Method::GET, &uri, &h, b"").expect("batch");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let b = rt
            .block_on(to_bytes(r.into_body(), usize::MAX))
            .expect("body");
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
        store::auth::add_user(
            &db,
            "admin",
            &NewUser {
                name,
                display_name: display,
                password: Some(PASSWORD),
                roles,
            },
            now,
        )
        .expect("user");
    }
    let planner_token = store::auth::create_token(&db, "admin", "planner", &[], "t", None, now)
        .expect("token")
        .secret;
    let mut st = AppState::new(db, "http://127.0.0.1:8080/api/v3.0");
    let clock = Arc::new(AtomicI64::new(
        recipe::DateTime::parse("2026-12-01T08:00:00Z")
            .expect("time")
            .unix_seconds(),
    ));
    let c = clock.clone();
    st.clock = Clock::from_fn(move || c.load(Ordering::SeqCst));
    let inventory = recipe::parse_inventory("modular-plant.toml", INVENTORY).expect("inventory");
    let as_of = recipe::Date::parse("2026-12-01").expect("date");
    let twins: Vec<aas::twins::Twin> = inventory
        .equipment
        .iter()
        .map(|e| aas::twins::equipment_twin(e, as_of))
        .collect();
    server::load_environment(&st, &aas::twins::environment(&twins)).expect("twins");
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
    let mut h = HeaderMap::new();
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {}", web.planner_token)).expect("h"),
    );
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let uri: Uri = "/api/batch/v1/batches".parse().expect("uri");
    let r = dispatch_with(
        &web.st,
        &Method::POST,
        &uri,
        &h,
        order.to_string().as_bytes(),
    )
    .expect("order");
    assert_eq!(r.status(), StatusCode::CREATED);
    web
}

fn each_engine(test: impl Fn(&str)) {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in store::testing::urls(dir.path()) {
        test(&url);
    }
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
        assert!(p.text.contains("<label for=\"password\">"), "{}", p.text);
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
        assert!(p.text.contains("password is wrong"), "{}", p.text);
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
        assert!(p.text.contains("My batches (0)"), "{}", p.text);
        assert!(
            p.text.contains("No open batch has your entries"),
            "{}",
            p.text
        );
        let p = web.get("/?show=all", Some(&writer));
        assert!(p.text.contains("All open (1)"), "{}", p.text);
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        assert!(p.text.contains(">View</a>"), "{}", p.text);
        assert!(!p.text.contains(">Execute</a>"), "{}", p.text);
        let p = web.get("/batch/B-WEB-1", Some(&writer));
        assert!(
            p.text.contains("Nothing for your roles to do"),
            "{}",
            p.text
        );
        assert!(
            !p.text.contains("<form method=\"post\" action=\"/batch/"),
            "{}",
            p.text
        );
        let cookie = web.login("operator");
        let p = web.get("/", Some(&cookie));
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        assert!(p.text.contains("B-WEB-1"), "{}", p.text);
        assert!(p.text.contains("Oskar Operator"), "{}", p.text);
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
        assert!(p.text.contains("Recorded"), "{}", p.text);
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

#[test]
fn pages_follow_the_role_and_the_engine_decides() {
    each_engine(|url| {
        let web = start(url);
        let op = web.login("operator");
        let qa = web.login("qa");
        let qp = web.login("qp");
        // the operator is offered the receipt; QA and the QP are not
        let p = web.get("/batch/B-WEB-1", Some(&op));
        assert!(p.text.contains("value=\"receive\""), "{}", p.text);
        assert!(!p.text.contains("value=\"dispose\""));
        for c in [&qa, &qp] {
            let p = web.get("/batch/B-WEB-1", Some(c));
            assert!(!p.text.contains("value=\"receive\""), "{}", p.text);
            assert!(p.text.contains("Review by exception"), "{}", p.text);
        }
        // QA's own board is empty while nothing waits for QA; all open batches show it
        let board = web.get("/", Some(&qa));
        assert!(board.text.contains("My batches (0)"), "{}", board.text);
        assert!(!board.text.contains("href=\"/batch/B%2DWEB%2D1\""));
        let board = web.get("/?show=all", Some(&qa));
        assert!(board.text.contains(">Review</a>"), "{}", board.text);
        assert!(!board.text.contains(">Execute</a>"));
        // the operator's board has the batch: its next step waits for an operator
        let board = web.get("/", Some(&op));
        assert!(board.text.contains("My batches (1)"), "{}", board.text);
        assert!(board.text.contains(">Execute</a>"), "{}", board.text);

        let label = [("coi", COI), ("din", DIN)];
        web.advance(1800);
        let mut f = vec![("action", "receive"), ("location", "goods-in")];
        f.extend_from_slice(&label);
        assert_eq!(act(&web, &op, &f).status, StatusCode::OK);
        let mut f = vec![
            ("action", "start"),
            ("step", "transport_in"),
            ("location", "goods-in"),
        ];
        f.extend_from_slice(&label);
        let p = act(&web, &op, &f);
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
        assert!(
            p.text
                .contains("data-scan autocomplete=\"off\" required autofocus"),
            "{}",
            p.text
        );
        // an identity mismatch at the hand-off: the engine refuses and records it
        let p = act(
            &web,
            &op,
            &[
                ("action", "start"),
                ("step", "thaw"),
                ("location", "room_c1"),
                ("coi", "COI-OTHER"),
                ("din", DIN),
            ],
        );
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        assert!(p.text.contains("Refused"), "{}", p.text);
        assert!(p.text.contains("Deviation raised"), "{}", p.text);
        let mut f = vec![
            ("action", "start"),
            ("step", "thaw"),
            ("location", "room_c1"),
        ];
        f.extend_from_slice(&label);
        let p = act(&web, &op, &f);
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        // the step screen shows the parameter with unit and allowed range
        let p = web.get("/batch/B-WEB-1", Some(&op));
        assert!(p.text.contains("allowed 36 – 38 °C"), "{}", p.text);
        // an out-of-range value is recorded with a deviation raised by the engine
        let p = act(
            &web,
            &op,
            &[
                ("action", "value"),
                ("step", "thaw"),
                ("field", "parameters.bath_temperature"),
                ("unit", "°C"),
                ("value", "40.5"),
            ],
        );
        assert!(p.text.contains("Deviation raised"), "{}", p.text);
        let before = web.head_seq("B-WEB-1");
        // a value that is no number never reaches the engine
        let p = act(
            &web,
            &op,
            &[
                ("action", "value"),
                ("step", "thaw"),
                ("field", "parameters.bath_temperature"),
                ("unit", "°C"),
                ("value", "warm"),
            ],
        );
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(p.text.contains("is not a number"), "{}", p.text);
        assert_eq!(web.head_seq("B-WEB-1"), before);
        // the operator reports a deviation the engine cannot see, from the step screen
        let p = web.get("/batch/B-WEB-1", Some(&op));
        assert!(p.text.contains("value=\"report_deviation\""), "{}", p.text);
        assert!(p.text.contains("<label for=\"dev-what\">"), "{}", p.text);
        let p = act(
            &web,
            &op,
            &[
                ("action", "report_deviation"),
                ("step", "thaw"),
                ("observation", " "),
            ],
        );
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        assert!(p.text.contains("observation"), "{}", p.text);
        assert_eq!(
            web.head_seq("B-WEB-1"),
            before,
            "an empty report stores nothing"
        );
        let p = act(
            &web,
            &op,
            &[
                ("action", "report_deviation"),
                ("step", "thaw"),
                ("observation", "bag port cracked during thaw"),
            ],
        );
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        assert!(p.text.contains("Deviation raised"), "{}", p.text);
        assert!(
            p.text.contains("bag port cracked during thaw"),
            "{}",
            p.text
        );
        assert_eq!(web.head_seq("B-WEB-1"), before + 1);
        // QA's review shows it as a deviation reported by a person, by the operator
        let p = web.get("/batch/B-WEB-1", Some(&qa));
        assert!(p.text.contains("reported by a person"), "{}", p.text);
        // QA, the QP and a user without a batch role are not offered the report
        for c in [&qa, &qp] {
            let p = web.get("/batch/B-WEB-1", Some(c));
            assert!(!p.text.contains("value=\"report_deviation\""));
        }
        // with deviations to assess, the batch is on QA's own board
        let board = web.get("/", Some(&qa));
        assert!(board.text.contains("My batches (1)"), "{}", board.text);
        assert!(
            board.text.contains("href=\"/batch/B%2DWEB%2D1\""),
            "{}",
            board.text
        );
        // QA sees the deviations as unassessed and may assess them; the operator may not
        let p = web.get("/batch/B-WEB-1", Some(&qa));
        assert!(p.text.contains("not assessed"), "{}", p.text);
        assert!(p.text.contains("value=\"assess\""), "{}", p.text);
        let p = web.get("/batch/B-WEB-1", Some(&op));
        assert!(!p.text.contains("value=\"assess\""));
        // a signature with a wrong password is refused and stores nothing
        let page = web.get("/batch/B-WEB-1", Some(&qa));
        let at = page.text.find("name=\"target\"").expect("sign form");
        let opt = &page.text[at..];
        let v0 = opt.find("value=\"").expect("option") + 7;
        let target = opt[v0..v0 + opt[v0..].find('"').expect("end")].to_string();
        let before = web.head_seq("B-WEB-1");
        let p = act(
            &web,
            &qa,
            &[
                ("action", "sign"),
                ("target", &target),
                ("meaning", "reviewed"),
                ("password", "not it at all"),
            ],
        );
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        assert!(p.text.contains("password"), "{}", p.text);
        assert_eq!(web.head_seq("B-WEB-1"), before);
        let p = act(
            &web,
            &qa,
            &[
                ("action", "sign"),
                ("target", &target),
                ("meaning", "reviewed"),
                ("password", PASSWORD),
            ],
        );
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        assert_eq!(web.head_seq("B-WEB-1"), before + 1);
        // the record page is the batch report's renderer
        let p = web.get("/batch/B-WEB-1/record", Some(&qp));
        assert_eq!(p.status, StatusCode::OK);
        assert!(p.text.contains("Batch record B-WEB-1"), "{}", p.text);
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

/// A failed transaction of the rehearsal's journal.
struct Failed(String);

impl From<store::StoreError> for Failed {
    fn from(e: store::StoreError) -> Failed {
        Failed(e.to_string())
    }
}

/// Rehearses batch `B-WEB-2` into the test database up to its disposition
/// (each request stored as a live batch stores it), its steps run by `opqp`
/// (an operator who is also a qualified person) and its record reviewed by
/// `qa`; moves the pages' clock past its last entry.
fn rehearse_to_disposition(web: &Web) {
    use batch::rehearsal::{Cast, Journaled, Rehearsal, rehearse};
    let recipe = recipe::parse_recipe("car-t-modular.toml", RECIPE).expect("recipe");
    let mut inventory =
        recipe::parse_inventory("modular-plant.toml", INVENTORY).expect("inventory");
    let start = recipe::DateTime::parse("2026-12-01T08:00:00Z").expect("time");
    let binding = recipe::bind_strict(&recipe, &inventory, start.date()).expect("binding");
    let mut cast = Cast::example();
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
        planned_start: start,
        ship_step: None,
    };
    let options = Rehearsal {
        seed: 3,
        start,
        excursions: 0.0,
        location: "room_c1".into(),
        clinic: "Treating clinic".into(),
    };
    let stop = "stop at the disposition";
    let mut last = 0;
    let r = rehearse(
        &order,
        &recipe,
        &batch::engine::recipe_sha256(RECIPE),
        &binding,
        &mut inventory,
        &batch::engine::LotRegister::default(),
        &cast,
        &options,
        |j: Journaled<'_>| {
            if j.request
                .is_some_and(|r| matches!(r.command, batch::engine::Command::Dispose { .. }))
            {
                return Err(stop.to_string());
            }
            last = j.at.unix_seconds();
            web.st
                .store
                .transaction(|tx| -> Result<(), Failed> {
                    let w = store::batch::record_journaled(tx, &j, RECIPE, &recipe)
                        .map_err(|e| Failed(e.to_string()))?;
                    if let Some(w) = w {
                        server::batch::register_twin(tx, None, &w).map_err(|e| Failed(e.text))?;
                    }
                    Ok(())
                })
                .map_err(|e| e.0)
        },
    );
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
        assert!(board.text.contains(">Disposition</a>"), "{}", board.text);
        let p = web.get(&path, Some(&qp));
        assert!(p.text.contains("awaiting disposition"), "{}", p.text);
        assert!(p.text.contains("value=\"dispose\""), "{}", p.text);
        let op = web.login("operator");
        assert!(!web.get(&path, Some(&op)).text.contains("value=\"dispose\""));
        let before = web.head_seq(id);
        // a QP who ran the steps is offered the form, but the engine refuses: four eyes
        let both = web.login("opqp");
        let p = dispose(&both, PASSWORD);
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        assert!(p.text.contains("Refused"), "{}", p.text);
        assert!(p.text.contains("four eyes: opqp performed"), "{}", p.text);
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
        assert!(p.text.contains("Recorded"), "{}", p.text);
        assert!(web.head_seq(id) > before);
        let p = web.get(&path, Some(&qp));
        assert!(!p.text.contains("value=\"dispose\""), "{}", p.text);
        assert!(!p.text.contains("awaiting disposition"), "{}", p.text);
        let record = web.get(&format!("{path}/record"), Some(&qp));
        assert!(record.text.contains("Quinn Person"), "{}", record.text);
    });
}

const SCENARIO: &str = include_str!("../../../examples/concept-1-all-in-one.toml");

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
        assert!(
            p.text
                .contains("href=\"/plan/example/concept-1-all-in-one.toml\""),
            "{}",
            p.text
        );
        assert!(
            p.text
                .contains("Concept 1 — all-in-one devices, 200 patients/year"),
            "{}",
            p.text
        );
        let p = web.get("/plan/example/concept-1-all-in-one.toml", Some(&pl));
        assert!(p.text.contains("<textarea id=\"sc-text\""), "{}", p.text);
        assert!(p.text.contains("name = &quot;Concept 1"), "{}", p.text);
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
        let broken = SCENARIO.replacen("count = 10 ", "count = -3 ", 1);
        let line = broken
            .lines()
            .position(|l| l.starts_with("count = -3"))
            .expect("the broken line")
            + 1;
        let p = send(&broken, "check", "20");
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        assert!(
            p.text.contains(&format!("line {line}, column 9")),
            "{}",
            p.text
        );
        assert!(p.text.contains("equipment[0].count"), "{}", p.text);
        assert!(
            p.text.contains(&format!("<mark id=\"L{line}\"")),
            "{}",
            p.text
        );
        assert_eq!(p.text.matches("<mark ").count(), 1, "only the broken line");
        // the same broken text is not run
        let p = send(&broken, "run", "3");
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        // the valid one checks clean; too few replications are refused
        let p = send(SCENARIO, "check", "20");
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        assert!(p.text.contains("The scenario is valid."), "{}", p.text);
        let p = send(SCENARIO, "run", "1");
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.text);
        assert!(p.text.contains("replications"), "{}", p.text);
        // a run: its page, its status until it ends, the report and the CSV files
        let p = send(SCENARIO, "run", "3");
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
        let run = p.location.expect("the run's page");
        assert!(run.starts_with("/plan/run/"), "{run}");
        let mut finished = false;
        for _ in 0..600 {
            let s = web.get(&format!("{run}/status"), Some(&pl));
            assert_eq!(s.status, StatusCode::OK, "{}", s.text);
            let v: serde_json::Value = serde_json::from_str(&s.text).expect("status json");
            assert_eq!(v["wanted"], 3);
            if v["finished"] == true {
                assert_eq!(v["done"], 3, "{v}");
                finished = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(finished, "the run did not finish within a minute");
        let p = web.get(&run, Some(&pl));
        assert!(
            p.text.contains("Finished (3 replications done)"),
            "{}",
            p.text
        );
        assert!(
            p.text.contains(&format!("href=\"{run}/report\"")),
            "{}",
            p.text
        );
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
        assert!(c.text.contains(','), "{}", c.text);
        // another person does not see the run
        let other = web.login("reviewer");
        assert_ne!(web.get(&run, Some(&other)).status, StatusCode::OK);
        // no stored plant plan yet; one made through the plan API is shown as its Gantt page
        let p = web.get("/plan", Some(&pl));
        assert!(p.text.contains("No plan is stored yet"), "{}", p.text);
        let body = json!({
            "scenario": include_str!("../../../examples/plant-two-products.toml"),
            "orders": include_str!("../../../examples/schedule/plant-two-products-orders.csv"),
            "time_limit_s": 30, "iterations": 20, "seed": 1,
        });
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {}", web.planner_token)).expect("h"),
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let uri: Uri = "/api/plan/v1/plans".parse().expect("uri");
        let r = dispatch_with(
            &web.st,
            &Method::POST,
            &uri,
            &h,
            body.to_string().as_bytes(),
        )
        .expect("plan");
        assert_eq!(r.status(), StatusCode::CREATED);
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
        let mut ended = None;
        for _ in 0..600 {
            let s = web.get(&format!("{run}/status"), Some(&pl));
            let v: serde_json::Value = serde_json::from_str(&s.text).expect("status json");
            if v["finished"] == true {
                ended = v["done"].as_u64();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let done = ended.expect("the cancelled run ended");
        assert!(done < 200, "cancelled after {done} of 200");
        let p = web.get(&run, Some(&pl));
        assert!(
            p.text.contains("Cancelled") || p.text.contains("cancelled after"),
            "{}",
            p.text
        );
    });
}
