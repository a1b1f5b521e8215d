//! The batch API (`/api/batch/v1`) through `dispatch_with` (no sockets), on
//! SQLite and (when ATMPFLOW_TEST_PG is set) PostgreSQL: authentication,
//! roles, orders bound to the registered equipment, idempotent requests,
//! refusals that name the field and store nothing, blocked hand-offs that
//! store their scan, signatures with a re-entered password, the record,
//! server-sent events and verification.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};
use server::AppState;
use store::auth::{NewUser, Role, Timestamp};

mod support;
use support::each_engine;

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
    st: Arc<AppState>,
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
        let path = if path.starts_with("/api/") {
            path.to_string()
        } else {
            format!("/api/batch/v1{path}")
        };
        let mut h = HeaderMap::new();
        if let Some(w) = who {
            support::insert_bearer(&mut h, &self.tokens[w]);
        }
        for (k, v) in extra {
            h.insert(
                header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        let a = support::dispatch(&self.st, &method, &path, &h, body);
        Resp {
            status: a.status,
            text: String::from_utf8_lossy(&a.body).into_owned(),
            body: serde_json::from_slice(&a.body).unwrap_or(Value::Null),
            etag: a.header(header::ETAG),
        }
    }

    /// `POST`s the JSON `body` to `path` as `who`.
    fn post(&self, who: &str, path: &str, body: &Value) -> Resp {
        self.call(Some(who), Method::POST, path, body)
    }

    /// `PUT`s the rehearsal clock `body` as `who`.
    fn set_clock(&self, who: &str, body: &Value) -> Resp {
        self.call(Some(who), Method::PUT, "/clock", body)
    }

    /// `GET`s `path` as `who`.
    fn get(&self, who: &str, path: &str) -> Resp {
        self.call(Some(who), Method::GET, path, &Value::Null)
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
    let people: [(&'static str, &str, Role); 7] = [
        ("planner", "Paula Planner", Role::Planner),
        ("qc", "Quentin Control", Role::Qc),
        ("operator", "Oskar Operator", Role::Operator),
        ("qa", "Quirin Assurance", Role::Qa),
        ("clinic", "Clara Clinic", Role::Clinic),
        ("reader", "Rita Reader", Role::Reader),
        ("admin", "Ada Admin", Role::Admin),
    ];
    let mut tokens = std::collections::BTreeMap::new();
    for (name, display, role) in people {
        support::add_person(&db, name, display, Some(PASSWORD), &[role], now);
        let t =
            store::auth::create_token(&db, "admin", name, &[], "test", None, now).expect("token");
        tokens.insert(name, t.secret);
    }
    let mut st = AppState::new(db, "http://127.0.0.1:1/api/v3.0");
    let clock = support::rehearsal_clock(&mut st);
    support::load_equipment_twins(&st, inventory);
    Api {
        st: Arc::new(st),
        tokens,
        clock,
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
        let r = api.post("operator", "/batches", &order());
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert!(r.text.contains("planner"), "{}", r.text);
        let mut bad = order();
        bad["order"]["din"] = json!("A99992512345X");
        let r = api.post("planner", "/batches", &bad);
        assert!(r.status.is_client_error(), "{}", r.text);
        assert!(r.text.contains("din"), "{}", r.text);
        let mut bad = order();
        bad["order"]["planned_start"] = json!("yesterday");
        let r = api.post("planner", "/batches", &bad);
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
        let r = api.get("reader", "/batches");
        assert_eq!(
            r.body["result"],
            json!([]),
            "nothing stored by refused orders"
        );

        let r = api.post("planner", "/batches", &order());
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["stage"], "ordered");
        let r = api.post("planner", "/batches", &order());
        assert_eq!(r.status, StatusCode::OK, "the same order again: {}", r.text);

        // receive the apheresis with an idempotency key
        api.advance(1800);
        let receive = json!({
            "command": { "action": "receive_apheresis", "location": "goods-in", "scanned": label() },
            "key": "rx-1", "expected_seq": 1
        });
        let r = api.post("clinic", "/batches/B-API-1/requests", &receive);
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        let r = api.post("operator", "/batches/B-API-1/requests", &receive);
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["stage"], "apheresis_received");
        assert_eq!(r.body["replayed"], false);
        let first = r.body["entries"].clone();
        api.advance(60);
        let r = api.post("operator", "/batches/B-API-1/requests", &receive);
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["replayed"], true);
        assert_eq!(
            r.body["entries"], first,
            "the first result, nothing applied twice"
        );
        let mut other = receive.clone();
        other["command"]["location"] = json!("elsewhere");
        let r = api.post("operator", "/batches/B-API-1/requests", &other);
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        assert!(r.text.contains("key"), "{}", r.text);
        // a stale view is refused
        let mut stale = receive.clone();
        stale["key"] = json!("rx-2");
        let r = api.post("operator", "/batches/B-API-1/requests", &stale);
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        assert!(r.text.contains("expected_seq"), "{}", r.text);
        // unknown fields and actions are named
        let r = api.post(
            "operator",
            "/batches/B-API-1/requests",
            &json!({"command": {"action": "teleport"}}),
        );
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.text.contains("command"), "{}", r.text);

        // the batch, its next step, a blocked hand-off that keeps its scan
        let r = api.get("reader", "/batches/B-API-1");
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let step = r.body["next_step"].as_str().expect("next step").to_string();
        let head = r.body["head_seq"].as_i64().expect("head");
        api.advance(600);
        let wrong = json!({
            "command": { "action": "start_step", "step": step, "location": "room_c1",
                         "scanned": { "coi": "COI-SOMEONE-ELSE", "din": DIN } },
            "key": "start-wrong"
        });
        let r = api.post("operator", "/batches/B-API-1/requests", &wrong);
        assert!(r.status.is_client_error(), "{}", r.text);
        assert_eq!(r.body["refused"]["code"], "blocked", "{}", r.text);
        let kept = r.body["entries"].as_array().expect("entries").len();
        assert!(kept >= 2, "scan and deviation are recorded: {}", r.text);
        let r = api.get("reader", "/batches/B-API-1");
        assert_eq!(r.body["head_seq"].as_i64(), Some(head + kept as i64));
        assert_eq!(r.body["unassessed"].as_array().map(Vec::len), Some(1));

        // a signature needs the signer's password; a wrong one stores nothing
        let rec = api.get("reader", "/batches/B-API-1/record");
        assert_eq!(rec.status, StatusCode::OK);
        let e2 = &rec.body["entries"][1];
        let sign = |password: &str| {
            json!({
                "target": 2, "target_hash": e2["hash"], "meaning": "verified",
                "password": password, "key": "sig-2"
            })
        };
        let before = rec.body["entries"].as_array().expect("entries").len();
        let r = api.post(
            "qa",
            "/batches/B-API-1/signatures",
            &sign("wrong password!"),
        );
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
        assert!(r.text.contains("password"), "{}", r.text);
        let r = api.post("qa", "/batches/B-API-1/signatures", &sign(PASSWORD));
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            r.body["entries"][0]["body"]["type"], "signature",
            "{}",
            r.text
        );
        let r = api.post("operator", "/batches/B-API-1/requests", &json!({
            "command": {"action": "sign", "target": 2, "target_hash": e2["hash"], "meaning": "performed"}
        }));
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "signatures only with a password"
        );

        // the record, pages, the exceptions, events and verification
        let r = api.get("reader", "/batches/B-API-1/record?from=2&limit=2");
        assert_eq!(r.body["entries"].as_array().map(Vec::len), Some(2));
        assert_eq!(r.body["entries"][0]["seq"], 2);
        assert_eq!(r.body["next"], 4);
        let r = api.get("reader", "/batches/B-API-1/exceptions");
        assert!(
            r.body["entries"]
                .as_array()
                .is_some_and(|e| e.iter().any(|x| x["body"]["type"] == "deviation"))
        );
        let r = api.raw(
            Some("reader"),
            Method::GET,
            "/batches/B-API-1/events?timeout=0",
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
        let r = api.get("reader", "/batches/B-API-1/verify");
        assert_eq!(r.body["verified"], true, "{}", r.text);
        let r = api.get("reader", "/batches?stage=in_process");
        assert_eq!(r.body["result"], json!([]));
        let r = api.get("reader", "/batches?stage=nonsense");
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = api.get("reader", "/batches/NOPE");
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = api.call(
            Some("reader"),
            Method::DELETE,
            "/batches/B-API-1",
            &Value::Null,
        );
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        // the reader may read, not act
        let r = api.post("reader", "/batches/B-API-1/requests", &receive);
        assert_eq!(
            r.status,
            StatusCode::CONFLICT,
            "another user's key: {}",
            r.text
        );
        let mut fresh = receive.clone();
        fresh["key"] = json!("reader-try");
        fresh["expected_seq"] = Value::Null;
        let r = api.post("reader", "/batches/B-API-1/requests", &fresh);
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
        let r = api.get("planner", "/me");
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["user"], "planner");
        assert_eq!(r.body["name"], "Paula Planner");
        assert_eq!(r.body["batch_roles"], json!(["planner"]));
        assert_eq!(r.body["roles"], json!(["planner"]));

        // a server on the system clock (here the test's) has no clock to move
        let r = api.get("admin", "/clock");
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["simulated"], false);
        assert_eq!(r.body["now"], "2026-12-01T08:00:00Z");
        let to = json!({"now": "2026-12-02T08:00:00Z"});
        let r = api.set_clock("admin", &to);
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
        Arc::get_mut(&mut api.st).expect("state not shared").clock = server::Clock::rehearsal(t.0);
        let r = api.set_clock("operator", &to);
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        let r = api.set_clock("admin", &json!({"now": "tomorrow"}));
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert!(r.text.contains("now:"), "{}", r.text);
        let r = api.set_clock("admin", &json!({"at": "2026-12-02T08:00:00Z"}));
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        let r = api.set_clock("admin", &to);
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            r.body,
            json!({"now": "2026-12-02T08:00:00Z", "simulated": true})
        );
        let back = json!({"now": "2026-12-01T20:00:00Z"});
        let r = api.set_clock("admin", &back);
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert!(r.text.contains("only moves forward"), "{}", r.text);
        let r = api.get("reader", "/clock");
        assert_eq!(r.body["now"], "2026-12-02T08:00:00Z", "{}", r.text);

        // entries carry the simulated time
        let mut o = order();
        o["order"]["planned_start"] = json!("2026-12-02T08:00:00Z");
        let r = api.post("planner", "/batches", &o);
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let r = api.get("reader", "/batches/B-API-1/record");
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
    let r = api.get(
        "reader",
        &format!("/api/v3.0/submodels/{}/$value", aas::ids::encode(&id)),
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
    let full = api.get(
        "reader",
        &format!("/api/v3.0/submodels/{}", aas::ids::encode(&id)),
    );
    (
        (n("Used"), n("MaxUses"), n("Remaining"), reached),
        full.etag.expect("a submodel has an ETag"),
    )
}

/// Orders batch `id` and runs it up to the scan of the thawing module.
fn order_batch(api: &Api, id: &str, din: &str) -> Resp {
    api.post(
        "planner",
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
        let r = api.post(
            "operator",
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
    api.post(
        "operator",
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
        let r = api.post(
            "operator",
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
        let r = api.get("reader", "/batches/B-PORT-3");
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        for b in ["B-PORT-1", "B-PORT-2"] {
            let r = api.get("reader", &format!("/batches/{b}/verify"));
            assert_eq!(r.body["verified"], true, "{}", r.text);
        }
    });
}

/// Orders batch `id` as the planner, receives its apheresis and starts its
/// first step (`transport_in`, at most 2 days) as the operator.
fn running_batch(api: &Api, id: &str) {
    let mut o = order();
    o["order"]["batch"] = json!(id);
    let r = api.post("planner", "/batches", &o);
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let path = format!("/batches/{id}/requests");
    for command in [
        json!({ "action": "receive_apheresis", "location": "goods-in", "scanned": label() }),
        json!({ "action": "start_step", "step": "transport_in", "location": "goods-in", "scanned": label() }),
    ] {
        let r = api.post("operator", &path, &json!({ "command": command }));
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
}

/// Rehearses a whole batch (order to infusion) into the state's database,
/// as `atmpflow batch dry-run --db` does: a batch in a terminal stage.
fn finished_batch(api: &Api, id: &str) {
    let order = batch::NewOrder {
        batch: id.into(),
        patient: "PSN-DONE".into(),
        coi: "COI-DONE".into(),
        din: DIN.into(),
        planned_start: recipe::DateTime::parse("2026-11-01T08:00:00Z").expect("time"),
        ship_step: None,
    };
    let cast = batch::rehearsal::Cast::example();
    let b = support::rehearse_into(&api.st.store, &order, &cast, 5, |_| Ok(())).expect("rehearsal");
    assert!(b.stage().is_terminal(), "{:?}", b.stage());
}

fn head_seq(api: &Api, id: &str) -> i64 {
    let r = api.get("reader", &format!("/batches/{id}"));
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["head_seq"].as_i64().expect("head_seq")
}

fn last_entry(api: &Api, id: &str) -> Value {
    let r = api.get("reader", &format!("/batches/{id}/record"));
    r.body["entries"]
        .as_array()
        .and_then(|e| e.last())
        .cloned()
        .expect("entries")
}

#[test]
fn the_engine_watch_raises_each_breach_once_and_leaves_closed_batches_alone() {
    each_engine(|url| {
        let api = start(url);
        finished_batch(&api, "B-DONE-1");
        let done_head = head_seq(&api, "B-DONE-1");
        running_batch(&api, "B-W-1");
        let head = head_seq(&api, "B-W-1");

        // within the step's longest duration (2 days): nothing happens
        api.advance(86_400);
        let t = server::watch::tick(&api.st);
        assert_eq!(t.watched, 1, "only the open batch is watched: {t:?}");
        assert!(t.raised.is_empty(), "{t:?}");
        assert_eq!(head_seq(&api, "B-W-1"), head);

        // beyond it: one deviation, entered by the engine itself, even when
        // two servers on the same database watch at the same moment
        api.advance(86_400 + 3600);
        let mut other = AppState::new(
            store::Db::connect(url).expect("db"),
            "http://127.0.0.1:2/api/v3.0",
        );
        other.clock = api.st.clock.clone();
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| server::watch::tick(&api.st));
            let b = s.spawn(|| server::watch::tick(&other));
            (a.join().expect("tick"), b.join().expect("tick"))
        });
        assert_eq!((a.failed, b.failed), (0, 0), "{a:?} {b:?}");
        let raised: Vec<_> = a.raised.iter().chain(&b.raised).collect();
        assert_eq!(
            raised,
            vec![&("B-W-1".to_string(), vec![head as u64 + 1])],
            "{a:?} {b:?}"
        );
        let e = last_entry(&api, "B-W-1");
        assert_eq!(e["body"]["type"], "deviation", "{e}");
        assert_eq!(e["body"]["field"], "duration", "{e}");
        assert_eq!(e["body"]["step"], "transport_in", "{e}");
        assert_eq!(e["by"]["user"], "engine", "{e}");
        assert_eq!(e["by"]["role"], "engine", "{e}");
        let r = api.get("reader", "/batches/B-W-1");
        assert_eq!(r.body["unassessed"], json!([1]), "{}", r.text);

        // a second tick raises nothing more
        api.advance(3600);
        let t = server::watch::tick(&api.st);
        assert!(t.raised.is_empty(), "{t:?}");
        assert_eq!(head_seq(&api, "B-W-1"), head + 1);

        // a hold time: thaw allows 2 h before the wash starts
        let path = "/batches/B-W-1/requests";
        for command in [
            json!({ "action": "complete_step", "step": "transport_in" }),
            json!({ "action": "start_step", "step": "thaw", "location": "room_c1", "scanned": label() }),
            json!({ "action": "complete_step", "step": "thaw" }),
        ] {
            let r = api.post("operator", path, &json!({ "command": command }));
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
        let head = head_seq(&api, "B-W-1");
        api.advance(3600);
        assert!(
            server::watch::tick(&api.st).raised.is_empty(),
            "within the hold"
        );
        api.advance(3600 + 60);
        let t = server::watch::tick(&api.st);
        assert_eq!(t.raised, vec![("B-W-1".to_string(), vec![head as u64 + 1])]);
        let e = last_entry(&api, "B-W-1");
        assert_eq!(e["body"]["field"], "hold", "{e}");
        assert_eq!(e["by"]["user"], "engine", "{e}");
        api.advance(600);
        assert!(
            server::watch::tick(&api.st).raised.is_empty(),
            "raised once"
        );
        assert_eq!(head_seq(&api, "B-W-1"), head + 1);

        // the finished batch was never touched; both records verify
        assert_eq!(head_seq(&api, "B-DONE-1"), done_head);
        for id in ["B-W-1", "B-DONE-1"] {
            let r = api.get("reader", &format!("/batches/{id}/verify"));
            assert_eq!(r.body["verified"], true, "{}", r.text);
        }
        // nobody can send the watch through the API, nor be named like the engine
        let r = api.post(
            "operator",
            path,
            &json!({ "command": { "action": "watch" } }),
        );
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        let e = store::auth::add_user(
            &api.st.store,
            "admin",
            &NewUser {
                name: "engine",
                display_name: "Not the engine",
                password: None,
                roles: &[Role::Operator],
            },
            Timestamp::now(),
        )
        .expect_err("reserved");
        assert!(e.to_string().contains("reserved"), "{e}");
    });
}

/// A request line and headers sent over a real socket; the answer's lines
/// arrive on the channel as they are read (chunk sizes included).
fn open_stream(
    addr: std::net::SocketAddr,
    token: &str,
    path: &str,
    last_event_id: Option<u64>,
) -> (std::net::TcpStream, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, Write};
    let mut sock = std::net::TcpStream::connect(addr).expect("connect");
    let mut req = format!(
        "GET /api/batch/v1{path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n"
    );
    if let Some(id) = last_event_id {
        req.push_str(&format!("Last-Event-ID: {id}\r\n"));
    }
    req.push_str("\r\n");
    sock.write_all(req.as_bytes()).expect("send");
    let (tx, rx) = std::sync::mpsc::channel();
    let mut reader = std::io::BufReader::new(sock.try_clone().expect("clone"));
    std::thread::spawn(move || {
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(line.trim_end().to_string()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    (sock, rx)
}

/// Reads lines until the event with id `seq`; how long that took.
fn until_event(rx: &std::sync::mpsc::Receiver<String>, seq: u64, within: Duration) -> Duration {
    let t = std::time::Instant::now();
    let want = format!("id: {seq}");
    loop {
        let left = within.saturating_sub(t.elapsed());
        match rx.recv_timeout(left) {
            Ok(l) if l == want => return t.elapsed(),
            Ok(_) => {}
            Err(e) => panic!("event {seq} did not arrive within {within:?}: {e}"),
        }
    }
}

/// Every line of an answer that ends (the stream's `?timeout=`).
fn all_lines(rx: &std::sync::mpsc::Receiver<String>, within: Duration) -> Vec<String> {
    let t = std::time::Instant::now();
    let mut out = Vec::new();
    loop {
        let l = rx.recv_timeout(within.saturating_sub(t.elapsed()));
        match l {
            Ok(l) if l == "0" => return out, // the last chunk
            Ok(l) => out.push(l),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return out,
            Err(e) => panic!("the answer did not end within {within:?}: {e}; so far {out:?}"),
        }
    }
}

fn ids(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|s| s.parse().expect("id"))
        .collect()
}

#[test]
fn event_streams_carry_each_new_entry_at_once_and_resume_after_last_event_id() {
    each_engine(|url| {
        let api = start(url);
        running_batch(&api, "B-EV-1");
        let head = head_seq(&api, "B-EV-1") as u64;
        let gate = server::Gate {
            limits: server::Limits {
                max_event_streams: 2,
                ..server::Limits::default()
            },
            ..server::Gate::default()
        };
        let mut srv = support::serve_on_thread(support::loopback(), api.st.clone(), gate);
        let addr = srv.addr;
        let token = api.tokens["reader"].clone();

        // the stored entries first, then each new one as soon as it is committed
        let (_held, rx) = open_stream(addr, &token, "/batches/B-EV-1/events", None);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)).expect("status"),
            "HTTP/1.1 200 OK"
        );
        until_event(&rx, head, Duration::from_secs(5));
        api.advance(600);
        let r = api.post(
            "operator",
            "/batches/B-EV-1/requests",
            &json!({ "command": { "action": "complete_step", "step": "transport_in" } }),
        );
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let waited = until_event(&rx, head + 1, Duration::from_secs(1));
        assert!(waited < Duration::from_secs(1), "{waited:?}");

        // an entry written by another server process on the same database
        // (no announcement reaches this one) arrives through the poll
        let mut other = AppState::new(
            store::Db::connect(url).expect("db"),
            "http://127.0.0.1:2/api/v3.0",
        );
        other.clock = api.st.clock.clone();
        let elsewhere = Api {
            st: Arc::new(other),
            tokens: api.tokens.clone(),
            clock: api.clock.clone(),
        };
        let r = elsewhere.post("operator", "/batches/B-EV-1/requests", &json!({ "command": { "action": "start_step", "step": "thaw", "location": "room_c1", "scanned": label() } }));
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let last = r.body["head_seq"].as_u64().expect("head");
        until_event(&rx, last, Duration::from_secs(3));

        // a client that missed entries reconnects with the last id it got:
        // exactly the missed ones (this stream ends after its timeout)
        let (_s, again) = open_stream(
            addr,
            &token,
            "/batches/B-EV-1/events?timeout=1",
            Some(head - 1),
        );
        let lines = all_lines(&again, Duration::from_secs(5));
        assert_eq!(ids(&lines), (head..=last).collect::<Vec<_>>(), "{lines:?}");
        assert!(lines.contains(&"retry: 1000".to_string()), "{lines:?}");

        // at most two streams at once: a third is refused with a reason
        let (_second, rx2) = open_stream(addr, &token, "/batches/B-EV-1/events", Some(last));
        assert_eq!(
            rx2.recv_timeout(Duration::from_secs(5)).expect("status"),
            "HTTP/1.1 200 OK"
        );
        let (_third, rx3) = open_stream(addr, &token, "/batches/B-EV-1/events", Some(last));
        let lines = all_lines(&rx3, Duration::from_secs(5));
        assert_eq!(lines[0], "HTTP/1.1 503 Service Unavailable", "{lines:?}");
        assert!(lines.iter().any(|l| l.contains("at most 2")), "{lines:?}");
        // bad parameters are named
        let (_b, rx4) = open_stream(
            addr,
            &token,
            "/batches/B-EV-1/events?timeout=99999999",
            None,
        );
        let lines = all_lines(&rx4, Duration::from_secs(5));
        assert_eq!(lines[0], "HTTP/1.1 400 Bad Request", "{lines:?}");
        assert!(lines.iter().any(|l| l.contains("timeout")), "{lines:?}");

        // shutdown does not wait for the open streams
        assert_eq!(api.st.live.open_streams(), 2);
        let t = std::time::Instant::now();
        let _ = srv.stop.take().map(|s| s.send(()));
        srv.done
            .recv_timeout(Duration::from_secs(5))
            .expect("serve returns after shutdown");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "shutdown waited {:?} for open streams",
            t.elapsed()
        );
        assert!(
            all_lines(&rx, Duration::from_secs(2))
                .iter()
                .all(|l| !l.starts_with("HTTP"))
        );
        assert_eq!(api.st.live.open_streams(), 0);
    });
}

#[test]
fn the_lot_register_is_kept_by_qc_and_qa_and_checks_every_recorded_lot() {
    each_engine(|url| {
        let api = start(url);
        let count = |api: &Api| {
            let r = api.get("reader", "/lots");
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.body["result"].as_array().map_or(0, Vec::len)
        };
        let lot = |material: &str, lot: &str, expiry: &str, status: &str| json!({"material": material, "lot": lot, "expiry": expiry, "status": status});
        // wrong roles and bad input: a clear error naming the field, nothing stored
        for who in ["reader", "operator", "planner"] {
            let r = api.call(
                Some(who),
                Method::POST,
                "/lots",
                &lot("cassette", "CAS-1", "2027-03-01", "released"),
            );
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}: {}", r.text);
            assert!(r.text.contains("qc or qa"), "{}", r.text);
        }
        for (body, field) in [
            (
                lot("cassette", "", "2027-03-01", "released"),
                "lot: must not be empty",
            ),
            (
                lot("", "CAS-1", "2027-03-01", "released"),
                "material: must not be empty",
            ),
            (
                lot("cassette", "CAS 1", "2027-03-01", "released"),
                "lot: `CAS 1`",
            ),
            (
                lot("cassette", "CAS-1", "2027-02-30", "released"),
                "expiry: ",
            ),
            (lot("cassette", "CAS-1", "soon", "released"), "expiry: "),
            (lot("cassette", "CAS-1", "2027-03-01", "fine"), "status: "),
            (
                json!({"material": "cassette", "lot": "CAS-1"}),
                "missing field `expiry`",
            ),
            (
                json!({"material": "cassette", "lot": "CAS-1", "expiry": "2027-03-01", "colour": 1}),
                "colour",
            ),
        ] {
            let r = api.post("qc", "/lots", &body);
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
            assert!(r.text.contains(field), "{body}: {field} in {}", r.text);
        }
        assert_eq!(count(&api), 0, "nothing stored by refused registrations");
        // QC and QA register; the same lot again is refused
        for (who, body) in [
            ("qc", lot("cassette", "CAS-1", "2027-03-01", "released")),
            ("qc", lot("cassette", "CAS-OLD", "2026-11-30", "released")),
            (
                "qa",
                json!({"material": "cassette", "lot": "CAS-Q", "expiry": "2027-03-01"}),
            ),
            ("qa", lot("cassette", "CAS-R", "2027-03-01", "quarantined")),
        ] {
            let r = api.call(Some(who), Method::POST, "/lots", &body);
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        }
        let r = api.post(
            "qa",
            "/lots",
            &lot("cassette", "CAS-1", "2027-04-01", "released"),
        );
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        assert!(r.text.contains("registered already"), "{}", r.text);
        assert_eq!(count(&api), 4);
        // status changes: QA only, with a reason; the history keeps old and new
        let change = json!({"status": "rejected", "reason": "supplier recall 2026-17"});
        let r = api.post("qc", "/lots/cassette/CAS-R/status", &change);
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        let r = api.post(
            "qa",
            "/lots/cassette/CAS-R/status",
            &json!({"status": "rejected", "reason": ""}),
        );
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert!(r.text.contains("reason"), "{}", r.text);
        let r = api.post(
            "qa",
            "/lots/cassette/CAS-R/status",
            &json!({"status": "binned", "reason": "x"}),
        );
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert!(r.text.contains("status"), "{}", r.text);
        let r = api.post("qa", "/lots/cassette/CAS-404/status", &change);
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
        let r = api.post("qa", "/lots/cassette/CAS-R/status", &change);
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["status"], "rejected");
        let r = api.post("qa", "/lots/cassette/CAS-R/status", &change);
        assert_eq!(
            r.status,
            StatusCode::CONFLICT,
            "same status again: {}",
            r.text
        );
        let r = api.get("reader", "/lots/cassette/CAS-R");
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let h = r.body["history"].as_array().expect("history");
        assert_eq!(h.len(), 2, "{}", r.text);
        assert_eq!(
            (
                &h[1]["old_status"],
                &h[1]["new_status"],
                &h[1]["actor"],
                &h[1]["reason"]
            ),
            (
                &json!("quarantined"),
                &json!("rejected"),
                &json!("qa"),
                &json!("supplier recall 2026-17")
            )
        );
        // keyset paging and the material filter
        let r = api.get("reader", "/lots?limit=3");
        assert_eq!(r.body["result"].as_array().map(Vec::len), Some(3));
        let cursor = r.body["paging_metadata"]["cursor"]
            .as_str()
            .expect("cursor")
            .to_string();
        let r = api.get("reader", &format!("/lots?limit=3&cursor={cursor}"));
        assert_eq!(
            r.body["result"].as_array().map(Vec::len),
            Some(1),
            "{}",
            r.text
        );
        assert_eq!(r.body["paging_metadata"]["cursor"], Value::Null);
        let r = api.get("reader", "/lots?material=beads");
        assert_eq!(r.body["result"], json!([]));

        // a batch at its thaw step records the cassette lot: only a known, released,
        // unexpired lot of that material is accepted (its expiry from the register)
        let r = order_batch(&api, "B-LOTS", "A999926000021");
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let r = to_thaw_scan(&api, "B-LOTS", "A999926000021");
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let record = |lot: &str| {
            api.post(
                "operator",
                "/batches/B-LOTS/requests",
                &json!({"command": {
                    "action": "record_lot", "step": "thaw", "material": "cassette", "lot": lot
                }}),
            )
        };
        let r = record("CAS-404");
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert!(
            r.text
                .contains("lot: lot `CAS-404` is not in the plant's lot register"),
            "{}",
            r.text
        );
        for (l, why) in [
            ("CAS-OLD", "expired on 2026-11-30"),
            ("CAS-Q", "in quarantine"),
            ("CAS-R", "rejected"),
        ] {
            let r = record(l);
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{l}: {}",
                r.text
            );
            assert_eq!(r.body["refused"]["field"], "lot", "{}", r.text);
            let dev = r.body["entries"]
                .as_array()
                .and_then(|e| e.iter().find(|x| x["body"]["type"] == "deviation"))
                .unwrap_or_else(|| panic!("{l}: a deviation: {}", r.text));
            assert_eq!(dev["body"]["kind"], "material", "{}", r.text);
            assert_eq!(dev["body"]["field"], "materials.cassette", "{}", r.text);
            assert!(
                dev["body"]["actual"]
                    .as_str()
                    .is_some_and(|a| a.contains(why)),
                "{l}: {}",
                r.text
            );
        }
        let r = record("CAS-1");
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            r.body["entries"][0]["body"]["expiry"], "2027-03-01",
            "{}",
            r.text
        );
        let r = api.get("reader", "/batches/B-LOTS/verify");
        assert_eq!(r.body["verified"], true, "{}", r.text);
    });
}
