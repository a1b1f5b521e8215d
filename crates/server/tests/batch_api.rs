//! The batch API (`/api/batch/v1`) through `dispatch_with` (no sockets), on
//! SQLite and (when ATMPFLOW_TEST_PG is set) PostgreSQL: authentication,
//! roles, orders bound to the registered equipment, idempotent requests,
//! refusals that name the field and store nothing, blocked hand-offs that
//! store their scan, signatures with a re-entered password, the record,
//! server-sent events and verification.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::to_bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use serde_json::{Value, json};
use server::{AppState, Clock, dispatch_with};
use store::auth::{NewUser, Role, Timestamp};

const RECIPE: &str = include_str!("../../../examples/recipes/car-t-modular.toml");
const INVENTORY: &str = include_str!("../../../examples/equipment/modular-plant.toml");
const PASSWORD: &str = "correct horse battery";
const DIN: &str = "A9999251234569";
const COI: &str = "COI-API-1";

struct Resp {
    status: StatusCode,
    text: String,
    body: Value,
    etag: Option<String>,
}

struct Api {
    st: AppState,
    tokens: std::collections::BTreeMap<&'static str, String>,
    clock: Arc<AtomicI64>,
}

impl Api {
    fn call(&self, who: Option<&str>, method: Method, path: &str, body: &Value) -> Resp {
        self.raw(
            who,
            method,
            path,
            &serde_json::to_vec(body).expect("json"),
            &[],
        )
    }

    fn raw(
        &self,
        who: Option<&str>,
        method: Method,
        path: &str,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> Resp {
        let uri: Uri = if path.starts_with("/api/") {
            path.parse().expect("uri")
        } else {
            format!("/api/batch/v1{path}").parse().expect("uri")
        };
        let mut h = HeaderMap::new();
        if let Some(w) = who {
            let t = &self.tokens[w];
            h.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {t}")).expect("header"),
            );
        }
        for (k, v) in extra {
            h.insert(
                header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        let r = match dispatch_with(&self.st, &method, &uri, &h, body) {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        let status = r.status();
        let etag = r
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let bytes = rt
            .block_on(to_bytes(r.into_body(), usize::MAX))
            .expect("body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            text,
            body,
            etag,
        }
    }

    fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }
}

fn start(url: &str) -> Api {
    start_with(url, INVENTORY)
}

/// The API on a database holding the twins of `inventory` (TOML text).
fn start_with(url: &str, inventory: &str) -> Api {
    let db = store::Db::connect(url).expect("db");
    let now = Timestamp::now();
    let people: [(&'static str, &str, Role); 6] = [
        ("planner", "Paula Planner", Role::Planner),
        ("operator", "Oskar Operator", Role::Operator),
        ("qa", "Quirin Assurance", Role::Qa),
        ("clinic", "Clara Clinic", Role::Clinic),
        ("reader", "Rita Reader", Role::Reader),
        ("admin", "Ada Admin", Role::Admin),
    ];
    let mut tokens = std::collections::BTreeMap::new();
    for (name, display, role) in people {
        store::auth::add_user(
            &db,
            "admin",
            &NewUser {
                name,
                display_name: display,
                password: Some(PASSWORD),
                roles: &[role],
            },
            now,
        )
        .expect("user");
        let t =
            store::auth::create_token(&db, "admin", name, &[], "test", None, now).expect("token");
        tokens.insert(name, t.secret);
    }
    let mut st = AppState::new(db, "http://127.0.0.1:1/api/v3.0");
    let clock = Arc::new(AtomicI64::new(
        recipe::DateTime::parse("2026-12-01T08:00:00Z")
            .expect("time")
            .unix_seconds(),
    ));
    let c = clock.clone();
    st.clock = Clock::from_fn(move || c.load(Ordering::SeqCst));
    let inventory = recipe::parse_inventory("modular-plant.toml", inventory).expect("inventory");
    let as_of = recipe::Date::parse("2026-12-01").expect("date");
    let twins: Vec<aas::twins::Twin> = inventory
        .equipment
        .iter()
        .map(|e| aas::twins::equipment_twin(e, as_of))
        .collect();
    server::load_environment(&st, &aas::twins::environment(&twins)).expect("twins");
    Api { st, tokens, clock }
}

fn each_engine(test: impl Fn(&str)) {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in store::testing::urls(dir.path()) {
        test(&url);
    }
}

fn order() -> Value {
    json!({
        "order": {
            "batch": "B-API-1", "patient": "PSN-1", "coi": COI, "din": DIN,
            "planned_start": "2026-12-01T08:00:00Z"
        },
        "recipe": RECIPE,
    })
}

fn label() -> Value {
    json!({ "coi": COI, "din": DIN })
}

#[test]
fn a_batch_runs_through_the_api_with_roles_keys_signatures_and_events() {
    each_engine(|url| {
        let api = start(url);
        // no token, a wrong token: 401 and nothing happens
        let r = api.call(None, Method::GET, "/batches", &Value::Null);
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
        assert!(r.text.contains("Authorization"), "{}", r.text);
        let r = api.raw(
            None,
            Method::GET,
            "/batches",
            b"",
            &[(
                "authorization",
                "Bearer atf_0000000000000000000000000000000000000000000000000000000000000000",
            )],
        );
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);

        // only a planner orders; malformed bodies name the field
        let r = api.call(Some("operator"), Method::POST, "/batches", &order());
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert!(r.text.contains("planner"), "{}", r.text);
        let mut bad = order();
        bad["order"]["din"] = json!("A99992512345X");
        let r = api.call(Some("planner"), Method::POST, "/batches", &bad);
        assert!(r.status.is_client_error(), "{}", r.text);
        assert!(r.text.contains("din"), "{}", r.text);
        let mut bad = order();
        bad["order"]["planned_start"] = json!("yesterday");
        let r = api.call(Some("planner"), Method::POST, "/batches", &bad);
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.text.contains("order.planned_start"), "{}", r.text);
        let r = api.raw(
            Some("planner"),
            Method::POST,
            "/batches",
            b"{\"order\": ",
            &[],
        );
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = api.call(Some("reader"), Method::GET, "/batches", &Value::Null);
        assert_eq!(
            r.body["result"],
            json!([]),
            "nothing stored by refused orders"
        );

        let r = api.call(Some("planner"), Method::POST, "/batches", &order());
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["stage"], "ordered");
        let r = api.call(Some("planner"), Method::POST, "/batches", &order());
        assert_eq!(r.status, StatusCode::OK, "the same order again: {}", r.text);

        // receive the apheresis with an idempotency key
        api.advance(1800);
        let receive = json!({
            "command": { "action": "receive_apheresis", "location": "goods-in", "scanned": label() },
            "key": "rx-1", "expected_seq": 1
        });
        let r = api.call(
            Some("clinic"),
            Method::POST,
            "/batches/B-API-1/requests",
            &receive,
        );
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        let r = api.call(
            Some("operator"),
            Method::POST,
            "/batches/B-API-1/requests",
            &receive,
        );
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["stage"], "apheresis_received");
        assert_eq!(r.body["replayed"], false);
        let first = r.body["entries"].clone();
        api.advance(60);
        let r = api.call(
            Some("operator"),
            Method::POST,
            "/batches/B-API-1/requests",
            &receive,
        );
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["replayed"], true);
        assert_eq!(
            r.body["entries"], first,
            "the first result, nothing applied twice"
        );
        let mut other = receive.clone();
        other["command"]["location"] = json!("elsewhere");
        let r = api.call(
            Some("operator"),
            Method::POST,
            "/batches/B-API-1/requests",
            &other,
        );
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        assert!(r.text.contains("key"), "{}", r.text);
        // a stale view is refused
        let mut stale = receive.clone();
        stale["key"] = json!("rx-2");
        let r = api.call(
            Some("operator"),
            Method::POST,
            "/batches/B-API-1/requests",
            &stale,
        );
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        assert!(r.text.contains("expected_seq"), "{}", r.text);
        // unknown fields and actions are named
        let r = api.call(
            Some("operator"),
            Method::POST,
            "/batches/B-API-1/requests",
            &json!({"command": {"action": "teleport"}}),
        );
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.text.contains("command"), "{}", r.text);

        // the batch, its next step, a blocked hand-off that keeps its scan
        let r = api.call(
            Some("reader"),
            Method::GET,
            "/batches/B-API-1",
            &Value::Null,
        );
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let step = r.body["next_step"].as_str().expect("next step").to_string();
        let head = r.body["head_seq"].as_i64().expect("head");
        api.advance(600);
        let wrong = json!({
            "command": { "action": "start_step", "step": step, "location": "room_c1",
                         "scanned": { "coi": "COI-SOMEONE-ELSE", "din": DIN } },
            "key": "start-wrong"
        });
        let r = api.call(
            Some("operator"),
            Method::POST,
            "/batches/B-API-1/requests",
            &wrong,
        );
        assert!(r.status.is_client_error(), "{}", r.text);
        assert_eq!(r.body["refused"]["code"], "blocked", "{}", r.text);
        let kept = r.body["entries"].as_array().expect("entries").len();
        assert!(kept >= 2, "scan and deviation are recorded: {}", r.text);
        let r = api.call(
            Some("reader"),
            Method::GET,
            "/batches/B-API-1",
            &Value::Null,
        );
        assert_eq!(r.body["head_seq"].as_i64(), Some(head + kept as i64));
        assert_eq!(r.body["unassessed"].as_array().map(Vec::len), Some(1));

        // a signature needs the signer's password; a wrong one stores nothing
        let rec = api.call(
            Some("reader"),
            Method::GET,
            "/batches/B-API-1/record",
            &Value::Null,
        );
        assert_eq!(rec.status, StatusCode::OK);
        let e2 = &rec.body["entries"][1];
        let sign = |password: &str| {
            json!({
                "target": 2, "target_hash": e2["hash"], "meaning": "verified",
                "password": password, "key": "sig-2"
            })
        };
        let before = rec.body["entries"].as_array().expect("entries").len();
        let r = api.call(
            Some("qa"),
            Method::POST,
            "/batches/B-API-1/signatures",
            &sign("wrong password!"),
        );
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
        assert!(r.text.contains("password"), "{}", r.text);
        let r = api.call(
            Some("qa"),
            Method::POST,
            "/batches/B-API-1/signatures",
            &sign(PASSWORD),
        );
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            r.body["entries"][0]["body"]["type"], "signature",
            "{}",
            r.text
        );
        let r = api.call(Some("operator"), Method::POST, "/batches/B-API-1/requests", &json!({
            "command": {"action": "sign", "target": 2, "target_hash": e2["hash"], "meaning": "performed"}
        }));
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "signatures only with a password"
        );

        // the record, pages, the exceptions, events and verification
        let r = api.call(
            Some("reader"),
            Method::GET,
            "/batches/B-API-1/record?from=2&limit=2",
            &Value::Null,
        );
        assert_eq!(r.body["entries"].as_array().map(Vec::len), Some(2));
        assert_eq!(r.body["entries"][0]["seq"], 2);
        assert_eq!(r.body["next"], 4);
        let r = api.call(
            Some("reader"),
            Method::GET,
            "/batches/B-API-1/exceptions",
            &Value::Null,
        );
        assert!(
            r.body["entries"]
                .as_array()
                .is_some_and(|e| e.iter().any(|x| x["body"]["type"] == "deviation"))
        );
        let r = api.raw(
            Some("reader"),
            Method::GET,
            "/batches/B-API-1/events",
            b"",
            &[("last-event-id", "1")],
        );
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.text
                .starts_with("retry: 1000\n\nid: 2\nevent: entry\ndata: {"),
            "{}",
            r.text
        );
        let n_events = r.text.matches("event: entry").count();
        assert_eq!(
            n_events, before,
            "entries 2.. plus the signature: {}",
            r.text
        );
        let r = api.call(
            Some("reader"),
            Method::GET,
            "/batches/B-API-1/verify",
            &Value::Null,
        );
        assert_eq!(r.body["verified"], true, "{}", r.text);
        let r = api.call(
            Some("reader"),
            Method::GET,
            "/batches?stage=in_process",
            &Value::Null,
        );
        assert_eq!(r.body["result"], json!([]));
        let r = api.call(
            Some("reader"),
            Method::GET,
            "/batches?stage=nonsense",
            &Value::Null,
        );
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = api.call(Some("reader"), Method::GET, "/batches/NOPE", &Value::Null);
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = api.call(
            Some("reader"),
            Method::DELETE,
            "/batches/B-API-1",
            &Value::Null,
        );
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        // the reader may read, not act
        let r = api.call(
            Some("reader"),
            Method::POST,
            "/batches/B-API-1/requests",
            &receive,
        );
        assert_eq!(
            r.status,
            StatusCode::CONFLICT,
            "another user's key: {}",
            r.text
        );
        let mut fresh = receive.clone();
        fresh["key"] = json!("reader-try");
        fresh["expected_seq"] = Value::Null;
        let r = api.call(
            Some("reader"),
            Method::POST,
            "/batches/B-API-1/requests",
            &fresh,
        );
        assert!(
            r.status == StatusCode::FORBIDDEN || r.status == StatusCode::CONFLICT,
            "{}",
            r.text
        );
    });
}

#[test]
fn the_rehearsal_clock_moves_forward_only_by_an_administrator() {
    each_engine(|url| {
        let mut api = start(url);
        // who a token belongs to, with the roles the batch engine sees
        let r = api.call(Some("planner"), Method::GET, "/me", &Value::Null);
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["user"], "planner");
        assert_eq!(r.body["name"], "Paula Planner");
        assert_eq!(r.body["batch_roles"], json!(["planner"]));
        assert_eq!(r.body["roles"], json!(["planner"]));

        // a server on the system clock (here the test's) has no clock to move
        let r = api.call(Some("admin"), Method::GET, "/clock", &Value::Null);
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["simulated"], false);
        assert_eq!(r.body["now"], "2026-12-01T08:00:00Z");
        let to = json!({"now": "2026-12-02T08:00:00Z"});
        let r = api.call(Some("admin"), Method::PUT, "/clock", &to);
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        assert!(r.text.contains("--rehearsal-clock"), "{}", r.text);

        // a rehearsal database: the clock starts, and only an administrator moves it, forward
        let start = Timestamp(
            recipe::DateTime::parse("2026-12-01T08:00:00Z")
                .expect("t")
                .unix_seconds(),
        );
        let t = store::clock::begin(&api.st.store, start, "test", Timestamp::now()).expect("begin");
        assert_eq!(t, start);
        api.st.clock = server::Clock::rehearsal(t.0);
        let r = api.call(Some("operator"), Method::PUT, "/clock", &to);
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        let r = api.call(
            Some("admin"),
            Method::PUT,
            "/clock",
            &json!({"now": "tomorrow"}),
        );
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert!(r.text.contains("now:"), "{}", r.text);
        let r = api.call(
            Some("admin"),
            Method::PUT,
            "/clock",
            &json!({"at": "2026-12-02T08:00:00Z"}),
        );
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        let r = api.call(Some("admin"), Method::PUT, "/clock", &to);
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            r.body,
            json!({"now": "2026-12-02T08:00:00Z", "simulated": true})
        );
        let back = json!({"now": "2026-12-01T20:00:00Z"});
        let r = api.call(Some("admin"), Method::PUT, "/clock", &back);
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert!(r.text.contains("only moves forward"), "{}", r.text);
        let r = api.call(Some("reader"), Method::GET, "/clock", &Value::Null);
        assert_eq!(r.body["now"], "2026-12-02T08:00:00Z", "{}", r.text);

        // entries carry the simulated time
        let mut o = order();
        o["order"]["planned_start"] = json!("2026-12-02T08:00:00Z");
        let r = api.call(Some("planner"), Method::POST, "/batches", &o);
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let r = api.call(
            Some("reader"),
            Method::GET,
            "/batches/B-API-1/record",
            &Value::Null,
        );
        assert_eq!(
            r.body["entries"][0]["at"], "2026-12-02T08:00:00Z",
            "{}",
            r.text
        );

        // every move is kept (who, when), and the database refuses to rewrite them
        let rows = api
            .st
            .store
            .read(|tx| {
                tx.query(
                    "SELECT n, sim_now, set_by FROM rehearsal_clock ORDER BY n",
                    &[],
                )
            })
            .expect("rows");
        let rows: Vec<(i64, i64, String)> = rows
            .iter()
            .map(|r| {
                (
                    r.int(0).expect("n"),
                    r.int(1).expect("t"),
                    r.text(2).expect("by").to_string(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (1, start.0, "test".into()),
                (2, start.0 + 86_400, "admin".into())
            ]
        );
        for sql in [
            "UPDATE rehearsal_clock SET sim_now = 0",
            "DELETE FROM rehearsal_clock",
            "INSERT INTO rehearsal_clock (n, sim_now, set_by, set_at) VALUES (3, 0, 'x', 'y')",
        ] {
            let e = api
                .st
                .store
                .transaction(|tx| tx.execute(sql, &[]))
                .expect_err(sql);
            assert!(e.to_string().contains("rehearsal_clock"), "{sql}: {e}");
        }
        // a rehearsal database keeps its clock where it stopped
        let t = store::clock::begin(&api.st.store, start, "test", Timestamp::now()).expect("again");
        assert_eq!(t.0, start.0 + 86_400);
    });
}

/// The usage counter `sterile_connector_port` of `equipment` as the AAS API
/// shows it: (used, max, remaining, limit reached) and the submodel's ETag.
fn port_counter(api: &Api, equipment: &str) -> ((u64, u64, u64, bool), String) {
    let inv = recipe::parse_inventory("modular-plant.toml", INVENTORY).expect("inventory");
    let e = inv.get(equipment).expect("equipment");
    let id = aas::twins::usage_counters(e).id;
    let r = api.call(
        Some("reader"),
        Method::GET,
        &format!("/api/v3.0/submodels/{}/$value", aas::ids::encode(&id)),
        &Value::Null,
    );
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let c = r.body["Counters"]
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|c| c["Name"] == "sterile_connector_port")
                .cloned()
        })
        .unwrap_or_else(|| panic!("no port counter: {}", r.text));
    let n = |k: &str| {
        c[k].as_str()
            .and_then(|v| v.parse::<u64>().ok())
            .or_else(|| c[k].as_u64())
            .unwrap_or_else(|| panic!("{k}: {}", r.text))
    };
    let reached = c["LimitReached"] == json!(true) || c["LimitReached"] == json!("true");
    let full = api.call(
        Some("reader"),
        Method::GET,
        &format!("/api/v3.0/submodels/{}", aas::ids::encode(&id)),
        &Value::Null,
    );
    (
        (n("Used"), n("MaxUses"), n("Remaining"), reached),
        full.etag.expect("a submodel has an ETag"),
    )
}

/// Orders batch `id` and runs it up to the scan of the thawing module.
fn order_batch(api: &Api, id: &str, din: &str) -> Resp {
    api.call(
        Some("planner"),
        Method::POST,
        "/batches",
        &json!({
            "order": {
                "batch": id, "patient": format!("PSN-{id}"), "coi": format!("COI-{id}"),
                "din": din, "planned_start": "2026-12-01T08:00:00Z"
            },
            "recipe": RECIPE,
        }),
    )
}

fn to_thaw_scan(api: &Api, id: &str, din: &str) -> Resp {
    let label = json!({ "coi": format!("COI-{id}"), "din": din });
    let send = |command: Value| {
        let r = api.call(
            Some("operator"),
            Method::POST,
            &format!("/batches/{id}/requests"),
            &json!({ "command": command }),
        );
        assert_eq!(r.status, StatusCode::OK, "{command}: {}", r.text);
    };
    send(json!({"action": "receive_apheresis", "location": "goods-in", "scanned": label}));
    send(
        json!({"action": "start_step", "step": "transport_in", "location": "goods-in", "scanned": label}),
    );
    api.advance(86_400);
    send(json!({"action": "complete_step", "step": "transport_in"}));
    api.advance(600);
    send(json!({"action": "start_step", "step": "thaw", "location": "room_c1", "scanned": label}));
    api.call(
        Some("operator"),
        Method::POST,
        &format!("/batches/{id}/requests"),
        &json!({ "command": {
            "action": "use_equipment", "step": "thaw", "requirement": "thawing",
            "equipment": "thaw_1"
        }}),
    )
}

#[test]
fn a_port_with_room_for_one_batch_is_counted_in_its_twin_and_refused_to_the_next() {
    // thaw_1's sterile connector port has room for exactly one thaw (3 uses); thaw_2, the
    // other thawing module, has too few uses left to be bound at all
    let inventory = INVENTORY.replacen("used = 112", "used = 497", 1);
    assert_ne!(inventory, INVENTORY);
    each_engine(|url| {
        let api = start_with(url, &inventory);
        assert_eq!(port_counter(&api, "thaw_1").0, (497, 500, 3, false));
        // both batches are ordered (and bound to thaw_1) while it has room for one
        for (id, din) in [("B-PORT-1", "A999926000011"), ("B-PORT-2", "A999926000012")] {
            let r = order_batch(&api, id, din);
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        }
        let (_, etag0) = port_counter(&api, "thaw_1");
        // the first batch's scan uses the three uses left: the twin shows it
        let r = to_thaw_scan(&api, "B-PORT-1", "A999926000011");
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let used = &r.body["entries"][0]["body"]["counters"][0];
        assert_eq!(
            (used["before"].as_u64(), used["after"].as_u64()),
            (Some(497), Some(500))
        );
        let (c, etag1) = port_counter(&api, "thaw_1");
        assert_eq!(c, (500, 500, 0, true));
        assert_ne!(etag1, etag0, "the twin's ETag moves with the count");
        // the second batch, bound while there was room, is refused at its scan with a
        // counter-limit deviation (the scan and deviation are recorded); no counter moves
        let r = to_thaw_scan(&api, "B-PORT-2", "A999926000012");
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert_eq!(r.body["refused"]["code"], "blocked", "{}", r.text);
        assert!(
            r.body["refused"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("is at 500 of 500 uses")),
            "{}",
            r.text
        );
        let dev = r.body["entries"]
            .as_array()
            .and_then(|e| e.iter().find(|x| x["body"]["type"] == "deviation"))
            .unwrap_or_else(|| panic!("a deviation: {}", r.text));
        assert_eq!(dev["body"]["kind"], "counter_limit", "{}", r.text);
        assert_eq!(
            dev["body"]["field"],
            "equipment.thawing.sterile_connector_port"
        );
        assert_eq!(port_counter(&api, "thaw_1"), (c, etag1.clone()));
        // a wrong scan is refused too and counts nothing
        let r = api.call(
            Some("operator"),
            Method::POST,
            "/batches/B-PORT-2/requests",
            &json!({ "command": {
                "action": "use_equipment", "step": "thaw", "requirement": "thawing",
                "equipment": "thaw_2"
            }}),
        );
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert_eq!(port_counter(&api, "thaw_1"), (c, etag1.clone()));
        assert_eq!(port_counter(&api, "thaw_2").0.0, 498);
        // a batch ordered now cannot be bound: no thawing module has three uses left
        let r = order_batch(&api, "B-PORT-3", "A999926000013");
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert!(
            r.text.contains("cannot be bound") && r.text.contains("sterile_connector_port"),
            "{}",
            r.text
        );
        let r = api.call(
            Some("reader"),
            Method::GET,
            "/batches/B-PORT-3",
            &Value::Null,
        );
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        for b in ["B-PORT-1", "B-PORT-2"] {
            let r = api.call(
                Some("reader"),
                Method::GET,
                &format!("/batches/{b}/verify"),
                &Value::Null,
            );
            assert_eq!(r.body["verified"], true, "{}", r.text);
        }
    });
}
