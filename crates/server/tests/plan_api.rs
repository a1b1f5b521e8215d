//! The plant planner's API (`/api/plan/v1`) through `dispatch_with` (no
//! sockets), on SQLite and (when ATMPFLOW_TEST_PG is set) PostgreSQL: the
//! two-product example plant is planned, asked for apheresis dates, booked
//! into, disrupted and re-planned, and its versions are read back; roles,
//! stale versions, malformed scenario, orders and events (400 with the
//! located message, nothing stored) and missing credentials.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};
use server::AppState;
use store::auth::{Role, Timestamp};
use support::each_engine;

mod support;

const SCENARIO: &str = include_str!("../../../examples/plant-two-products.toml");
const ORDERS: &str = include_str!("../../../examples/schedule/plant-two-products-orders.csv");
const EVENTS: &str = include_str!("../../../examples/schedule/plant-two-products-events.csv");

struct Resp {
    status: StatusCode,
    etag: Option<String>,
    location: Option<String>,
    body: Value,
}

impl Resp {
    fn text(&self) -> &str {
        self.body["messages"][0]["text"].as_str().unwrap_or("")
    }
}

struct Api {
    st: AppState,
    tokens: std::collections::BTreeMap<&'static str, String>,
}

impl Api {
    fn start(url: &str) -> Api {
        let db = store::Db::connect(url).expect("db");
        let now = Timestamp::now();
        let mut tokens = std::collections::BTreeMap::new();
        for (name, role) in [
            ("planner", Role::Planner),
            ("clinic", Role::Clinic),
            ("operator", Role::Operator),
            ("reader", Role::Reader),
        ] {
            support::add_person(&db, name, name, None, &[role], now);
            let t = store::auth::create_token(&db, "admin", name, &[], "test", None, now)
                .expect("token");
            tokens.insert(name, t.secret);
        }
        Api {
            st: AppState::new(db, "http://127.0.0.1:1/api/v3.0"),
            tokens,
        }
    }

    fn call(
        &self,
        who: Option<&str>,
        method: Method,
        path: &str,
        if_match: Option<&str>,
        body: &Value,
    ) -> Resp {
        let mut h = HeaderMap::new();
        if let Some(w) = who {
            support::insert_bearer(&mut h, &self.tokens[w]);
        }
        if let Some(m) = if_match {
            h.insert(header::IF_MATCH, HeaderValue::from_str(m).expect("header"));
        }
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body).expect("json")
        };
        let a = support::dispatch(
            &self.st,
            &method,
            &format!("/api/plan/v1{path}"),
            &h,
            &bytes,
        );
        Resp {
            status: a.status,
            etag: a.header(header::ETAG),
            location: a.header(header::LOCATION),
            body: serde_json::from_slice(&a.body).unwrap_or(Value::Null),
        }
    }

    fn get(&self, who: &str, path: &str) -> Resp {
        self.call(Some(who), Method::GET, path, None, &Value::Null)
    }

    fn post(&self, who: &str, path: &str, body: &Value) -> Resp {
        self.call(Some(who), Method::POST, path, None, body)
    }

    /// How many plans are stored (every version of every plan).
    fn stored_versions(&self) -> i64 {
        self.st
            .store
            .read(|tx| {
                tx.query_opt("SELECT COUNT(*) FROM plant_plan_versions", &[])
                    .and_then(|r| r.map_or(Ok(0), |r| r.int(0)))
            })
            .expect("count")
    }
}

fn create_body() -> Value {
    json!({
        "scenario": SCENARIO, "orders": ORDERS,
        "time_limit_s": 30, "iterations": 20, "seed": 1,
    })
}

#[test]
fn a_plant_plan_is_planned_promised_booked_and_replanned_over_the_api() {
    each_engine(|url| {
        let api = Api::start(url);

        // no token, no plan
        let r = api.call(None, Method::GET, "/plans", None, &Value::Null);
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = api.call(None, Method::POST, "/plans", None, &create_body());
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        // only a planner makes plans
        for who in ["operator", "reader", "clinic"] {
            let r = api.post(who, "/plans", &create_body());
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}: {}", r.text());
            assert!(r.text().contains("planner"), "{}", r.text());
        }
        // the search time is capped
        let mut long = create_body();
        long["time_limit_s"] = json!(3600);
        let r = api.post("planner", "/plans", &long);
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.text().starts_with("time_limit_s:"), "{}", r.text());
        assert_eq!(api.stored_versions(), 0);

        // plan
        let r = api.post("planner", "/plans", &create_body());
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(r.body["version"], 1);
        assert_eq!(r.etag.as_deref(), Some("\"v1\""));
        let id = r.body["id"].as_str().expect("id").to_string();
        assert_eq!(
            r.location.as_deref(),
            Some(format!("/api/plan/v1/plans/{id}/versions/1").as_str())
        );
        assert_eq!(r.body["by"], "planner");
        let v1 = api.get("reader", &format!("/plans/{id}"));
        assert_eq!(v1.status, StatusCode::OK);
        assert_eq!(v1.etag.as_deref(), Some("\"v1\""));
        let doc1 = &v1.body["document"];
        assert_eq!(doc1["format"], "atmpflow-plant-plan/1");
        assert_eq!(doc1["shop"]["jobs"].as_array().map(Vec::len), Some(16));
        let sha = v1.body["sha256"].as_str().expect("sha");
        assert_eq!(sha.len(), 64);
        assert_eq!(
            doc1["history"][0].as_str(),
            v1.body["event"].as_str(),
            "the event is the document's history line"
        );
        let list = api.get("clinic", "/plans");
        assert_eq!(list.status, StatusCode::OK);
        assert_eq!(list.body["result"][0]["id"], id.as_str());
        assert_eq!(list.body["result"][0]["version"], 1);

        // which apheresis days can a car-t-short patient get in weeks 2-4?
        let ask = json!({
            "product": "car-t-short", "from_day": 7, "to_day": 28, "weekdays": true,
            "order": "X001",
        });
        let a = api.post("clinic", &format!("/plans/{id}/promise"), &ask);
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let offers = a.body["offers"].as_array().expect("offers");
        assert_eq!(offers.len(), 16, "weekdays of days 7..=28");
        // the same answer as the planner's core on the stored document
        let doc: schedule::plan_doc::PlanDoc =
            serde_json::from_value(doc1.clone()).expect("plan document");
        let req = schedule::plan_doc::PromiseRequest {
            id: "X001".into(),
            product: "car-t-short".into(),
            from_day: 7,
            to_day: 28,
            hour: 9.0,
            weekdays: true,
            weight: 1.0,
        };
        let q = req.query(&doc, str::to_string).expect("query");
        let direct = schedule::shop::promise(&doc.shop, &doc.plant_plan, &q).expect("promise");
        assert_eq!(
            a.body["offers"],
            serde_json::to_value(&direct.offers).expect("json")
        );
        let earliest = a.body["earliest"]["release"]
            .as_i64()
            .expect("an on-time date");
        let bad = api.post(
            "clinic",
            &format!("/plans/{id}/promise"),
            &json!({ "product": "car-x", "from_day": 7, "to_day": 28 }),
        );
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(
            bad.text().starts_with(
                "product: the plant makes no 'car-x'; products are car-t, car-t-short"
            ),
            "{}",
            bad.text()
        );

        // book it: on the version seen, by a planner
        let day = earliest / 1440;
        let booking = json!({ "order": "X001", "product": "car-t-short", "day": day });
        let path = format!("/plans/{id}/bookings");
        let r = api.post("planner", &path, &booking);
        assert_eq!(r.status, StatusCode::PRECONDITION_REQUIRED, "{}", r.text());
        let r = api.call(
            Some("clinic"),
            Method::POST,
            &path,
            Some("\"v1\""),
            &booking,
        );
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = api.call(
            Some("planner"),
            Method::POST,
            &path,
            Some("\"v7\""),
            &booking,
        );
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{}", r.text());
        let mut stale = booking.clone();
        stale["expected_version"] = json!(2);
        let r = api.post("planner", &path, &stale);
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
        assert!(r.text().contains("is at version 1"), "{}", r.text());
        assert_eq!(api.stored_versions(), 1, "refused changes store nothing");
        let r = api.call(
            Some("planner"),
            Method::POST,
            &path,
            Some("\"v1\""),
            &booking,
        );
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(r.body["version"], 2);
        assert_eq!(r.etag.as_deref(), Some("\"v2\""));
        assert_eq!(r.body["apheresis"].as_i64(), Some(earliest));
        assert_eq!(r.body["on_time"], true);
        let promised = offers
            .iter()
            .find(|o| o["release"].as_i64() == Some(earliest))
            .expect("offer");
        assert_eq!(r.body["ready"], promised["ready"], "ready as promised");
        // the same order again, on the new version
        let r = api.call(
            Some("planner"),
            Method::POST,
            &path,
            Some("\"v2\""),
            &booking,
        );
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
        let v2 = api.get("reader", &format!("/plans/{id}"));
        let doc2 = &v2.body["document"];
        assert_eq!(doc2["shop"]["jobs"].as_array().map(Vec::len), Some(17));
        let old_ops = doc1["plant_plan"]["ops"].as_array().expect("ops");
        let new_ops = doc2["plant_plan"]["ops"].as_array().expect("ops");
        assert_eq!(
            &new_ops[..old_ops.len()],
            &old_ops[..],
            "committed work stays"
        );

        // disruption: malformed events are located, nothing is stored
        let rp = format!("/plans/{id}/replan");
        let bad_events = EVENTS.replace("processing-station#1", "processing-station#9");
        let r = api.post(
            "planner",
            &rp,
            &json!({ "events": bad_events, "as_of_h": 210, "iterations": 10, "expected_version": 2 }),
        );
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
        assert!(
            r.text().starts_with("events: line 2: resource"),
            "{}",
            r.text()
        );
        let r = api.post(
            "planner",
            &rp,
            &json!({ "events": EVENTS, "as_of_h": 210, "iterations": 10, "expected_version": 1 }),
        );
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
        assert_eq!(api.stored_versions(), 2);
        let r = api.post(
            "planner",
            &rp,
            &json!({ "events": EVENTS, "as_of_h": 210, "iterations": 10, "expected_version": 2 }),
        );
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(r.body["version"], 3);
        let m = &r.body["moves"];
        assert!(m["fixed"].as_u64().is_some_and(|n| n > 0), "{m}");
        assert!(m["compared"].as_u64().is_some_and(|n| n > 0), "{m}");
        let moves = m["moves"].as_array().expect("moves");
        assert_eq!(m["moved"].as_u64(), Some(moves.len() as u64));
        let mut total = 0.0;
        for mv in moves {
            let (o, n, s) = (
                mv["old_start_h"].as_f64().expect("old"),
                mv["new_start_h"].as_f64().expect("new"),
                mv["shift_h"].as_f64().expect("shift"),
            );
            assert!((n - o - s).abs() < 1e-9, "{mv}");
            total += s.abs();
        }
        assert!(
            (m["total_shift_h"].as_f64().expect("total") - total).abs() < 1e-6,
            "{m}"
        );
        assert!(
            r.body["summary"]
                .as_str()
                .is_some_and(|s| s.starts_with("re-planned as of day 8 (Tue) 18:00:")),
            "{}",
            r.body["summary"]
        );

        // the versions read back, append-only
        let vs = api.get("reader", &format!("/plans/{id}/versions"));
        let vs = vs.body["result"].as_array().expect("versions").clone();
        assert_eq!(
            vs.iter().map(|v| v["version"].as_i64()).collect::<Vec<_>>(),
            [Some(1), Some(2), Some(3)]
        );
        assert!(
            vs[1]["event"]
                .as_str()
                .is_some_and(|e| e.starts_with("booked X001"))
        );
        assert!(
            vs[2]["event"]
                .as_str()
                .is_some_and(|e| e.starts_with("re-planned as of"))
        );
        for v in &vs {
            let n = v["version"].as_i64().expect("n");
            let one = api.get("reader", &format!("/plans/{id}/versions/{n}"));
            assert_eq!(one.status, StatusCode::OK);
            assert_eq!(one.body["sha256"], v["sha256"]);
            assert_eq!(
                one.body["document"]["history"].as_array().map(Vec::len),
                Some(n as usize)
            );
        }
        assert_eq!(
            api.get("reader", &format!("/plans/{id}/versions/9")).status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            api.get("reader", "/plans/plan-404").status,
            StatusCode::NOT_FOUND
        );
        let tamper = api.st.store.transaction(|tx| {
            tx.execute(
                "UPDATE plant_plan_versions SET event = 'edited' WHERE n = 1",
                &[],
            )
        });
        assert!(tamper.is_err(), "versions are never changed");
        let erase = api
            .st
            .store
            .transaction(|tx| tx.execute("DELETE FROM plant_plan_versions", &[]));
        assert!(erase.is_err(), "versions are never removed");
        assert_eq!(api.stored_versions(), 3);

        // a plan.json written by the command line (here: version 3) is imported as a new plan
        let v3 = api.get("reader", &format!("/plans/{id}"));
        let r = api.post(
            "planner",
            "/plans",
            &json!({ "document": v3.body["document"] }),
        );
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_ne!(r.body["id"], id.as_str());
        assert_eq!(r.body["version"], 1);
        assert_eq!(r.body["event"], "imported through the plan API");
        let imported = api.get(
            "reader",
            &format!("/plans/{}", r.body["id"].as_str().expect("id")),
        );
        let mut history = v3.body["document"]["history"]
            .as_array()
            .expect("history")
            .clone();
        history.push(json!("imported through the plan API"));
        assert_eq!(imported.body["document"]["history"], Value::Array(history));
        assert_eq!(
            imported.body["document"]["plant_plan"], v3.body["document"]["plant_plan"],
            "the plan itself is imported unchanged"
        );
        let mut foreign = v3.body["document"].clone();
        foreign["format"] = json!("something-else/1");
        let r = api.post("planner", "/plans", &json!({ "document": foreign }));
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.text().starts_with("document: format"), "{}", r.text());
        let list = api.get("reader", "/plans?limit=1");
        assert_eq!(list.body["result"].as_array().map(Vec::len), Some(1));
        let cursor = list.body["paging_metadata"]["cursor"]
            .as_str()
            .expect("a second page")
            .to_string();
        let next = api.get("reader", &format!("/plans?limit=1&cursor={cursor}"));
        assert_eq!(next.body["result"][0]["version"], 1);
        assert_ne!(next.body["result"][0]["id"], list.body["result"][0]["id"]);
    });
}

#[test]
fn malformed_scenarios_and_orders_are_located_and_store_nothing() {
    each_engine(|url| {
        let api = Api::start(url);
        let bad_scenario = SCENARIO.replacen(
            "duration = { dist = \"fixed\", value = 1, unit = \"days\" }",
            "duration = { dist = \"fixed\", value = -1, unit = \"days\" }",
            1,
        );
        assert_ne!(bad_scenario, SCENARIO);
        let r = api.post(
            "planner",
            "/plans",
            &json!({ "scenario": bad_scenario, "orders": ORDERS, "iterations": 5 }),
        );
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.text().contains("scenario:101:"), "{}", r.text());

        let bad_orders = ORDERS.replacen("O002,car-t-short", "O002,car-t-long", 1);
        let r = api.post(
            "planner",
            "/plans",
            &json!({ "scenario": SCENARIO, "orders": bad_orders, "iterations": 5 }),
        );
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.text().starts_with("orders:3:"), "{}", r.text());
        assert!(r.text().contains("car-t-long"), "{}", r.text());

        let r = api.post(
            "planner",
            "/plans",
            &json!({ "scenario": SCENARIO, "iterations": 5 }),
        );
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = api.post(
            "planner",
            "/plans",
            &json!({ "scenario": SCENARIO, "orders": ORDERS, "colour": "red" }),
        );
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.text().contains("colour"), "{}", r.text());
        let r = api.call(
            Some("planner"),
            Method::POST,
            "/plans",
            None,
            &json!("not an object"),
        );
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(api.stored_versions(), 0, "nothing stored");
        assert_eq!(
            api.get("reader", "/plans").body["result"]
                .as_array()
                .map(Vec::len),
            Some(0)
        );
        // unserved methods are 405 with Allow
        let r = api.call(
            Some("planner"),
            Method::DELETE,
            "/plans/plan-1",
            None,
            &Value::Null,
        );
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    });
}

/// The car-t-short culture of the example plant with its duration from the expansion model.
fn expansion_scenario(patients: u32, seed: u64) -> String {
    let s = SCENARIO.replacen(
        "name = \"bioreactor-culture\"\nduration = { dist = \"fixed\", value = 7, unit = \"days\" }",
        &format!(
            "name = \"bioreactor-culture\"\nduration = {{ dist = \"expansion_model\", \
             strategy = \"fixed_at_dose\", patients = {patients}, seed = {seed} }}"
        ),
        1,
    );
    assert_ne!(s, SCENARIO, "the culture step is in the example");
    s
}

#[test]
fn expansion_model_durations_are_computed_within_a_per_request_budget() {
    each_engine(|url| {
        let api = Api::start(url);
        // Within the budget: planned with the mean of the model's harvest days, like the CLI.
        let r = api.post(
            "planner",
            "/plans",
            &json!({ "scenario": expansion_scenario(3, 5), "orders": ORDERS, "iterations": 5 }),
        );
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.body["id"].as_str().expect("id").to_string();
        let doc = &api.get("reader", &format!("/plans/{id}")).body["document"];
        let spec = model::ExpansionSpec {
            strategy: model::ExpansionStrategy::FixedAtDose,
            patients: 3,
            seed: 5,
        };
        let days = pat::control::spec_harvest_days(&spec, &mut |_, _| {}).expect("model runs");
        let mean_min = (days.iter().sum::<f64>() / days.len() as f64 * 1440.0).round();
        assert_ne!(
            mean_min,
            7.0 * 1440.0,
            "the model's mean differs from the fixed 7 days"
        );
        let durations: Vec<f64> = doc["shop"]["products"]
            .as_array()
            .expect("products")
            .iter()
            .flat_map(|j| j["ops"].as_array().cloned().unwrap_or_default())
            .filter_map(|o| o["duration"].as_f64())
            .collect();
        assert!(
            durations.contains(&mean_min),
            "a culture of {mean_min} min in {durations:?}"
        );

        // Beyond the budget: refused before anything is simulated, located, nothing stored.
        let before = api.stored_versions();
        let r = api.post(
            "planner",
            "/plans",
            &json!({ "scenario": expansion_scenario(2000, 5), "orders": ORDERS, "iterations": 5 }),
        );
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.text().contains("scenario:188:"), "{}", r.text());
        assert!(
            r.text().contains("2000 more patients") && r.text().contains("atmpflow schedule"),
            "{}",
            r.text()
        );
        assert_eq!(api.stored_versions(), before, "nothing stored");
    });
}

const CALENDAR_SCENARIO: &str = include_str!("../../../examples/plant-two-products-calendar.toml");
const CALENDAR_INVENTORY: &str =
    include_str!("../../../examples/equipment/plant-two-products.toml");

/// The reasons of a plan document's out-of-use windows.
fn downtime_reasons(doc: &Value) -> Vec<String> {
    doc["downtime"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| w["reason"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn requalification_windows_come_from_the_servers_equipment_registry() {
    each_engine(|url| {
        let api = Api::start(url);
        let body = json!({
            "scenario": CALENDAR_SCENARIO, "orders": ORDERS, "iterations": 5,
            "requalification_from_registry": true,
        });
        // no twins registered: the pool's listed units are not found, located in the scenario
        let r = api.post("planner", "/plans", &body);
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.text().contains("scenario:32:"), "{}", r.text());
        assert!(
            r.text().contains(
                "no equipment `station_a` in the inventory of the server's equipment registry"
            ),
            "{}",
            r.text()
        );
        assert_eq!(api.stored_versions(), 0, "nothing stored");

        // the example inventory's twins in the registry: its qualification dates reach the plan
        let inv = recipe::parse_inventory("inventory", CALENDAR_INVENTORY).expect("inventory");
        let as_of = recipe::Date::parse("2027-03-01").expect("date");
        support::load_twins_of(&api.st, &inv, as_of);
        let r = api.post("planner", "/plans", &body);
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.body["id"].as_str().expect("id").to_string();
        assert!(
            r.body["event"]
                .as_str()
                .is_some_and(|e| e
                    .contains("requalification window(s) from the server's equipment registry")),
            "{}",
            r.body
        );
        let doc = &api.get("reader", &format!("/plans/{id}")).body["document"];
        let reasons = downtime_reasons(doc);
        assert!(
            reasons.contains(&"requalification due 2027-04-01 (inventory station_b)".to_string()),
            "{reasons:?}"
        );

        // without the flag the same scenario plans without those windows
        let r = api.post(
            "planner",
            "/plans",
            &json!({ "scenario": CALENDAR_SCENARIO, "orders": ORDERS, "iterations": 5 }),
        );
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.body["id"].as_str().expect("id").to_string();
        let plain = downtime_reasons(&api.get("reader", &format!("/plans/{id}")).body["document"]);
        assert!(
            !plain.iter().any(|w| w.contains("(inventory ")),
            "{plain:?}"
        );

        // an import keeps the windows it was made with: the flag is refused there
        let r = api.post(
            "planner",
            "/plans",
            &json!({ "document": doc, "requalification_from_registry": true }),
        );
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(
            r.text().starts_with("requalification_from_registry:"),
            "{}",
            r.text()
        );
    });
}
