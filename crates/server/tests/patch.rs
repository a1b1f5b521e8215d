//! The PATCH operations of the Submodel Repository (also through a shell):
//! `…/submodels/{id}`, `…/$metadata`, `…/$value` and
//! `…/submodel-elements/{idShortPath}` (plain, `$metadata`, `$value`) —
//! merge semantics, 404, 400 with a located message, 412 on a stale
//! `If-Match`, 403 for a reader, and nothing changed by a refused request. On
//! SQLite and (when ATMPFLOW_TEST_PG is set) on PostgreSQL.

use aas::ids::encode;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use server::AppState;
use store::auth::{self, NewUser, Role, Timestamp};

mod support;
use support::{Resp, call_as, call_json, call_with};

const AAS: &str = "urn:test:aas:patch";
const SM: &str = "urn:test:sm:patch";

fn get(st: &AppState, path: &str) -> Value {
    let r = call_json(st, Method::GET, path, None, &Value::Null);
    assert_eq!(r.status, StatusCode::OK, "GET {path}: {}", r.body);
    r.body
}

fn patch(st: &AppState, path: &str, body: &Value) -> Resp {
    call_json(st, Method::PATCH, path, None, body)
}

fn sm_path(rest: &str) -> String {
    format!("/submodels/{}{rest}", encode(SM))
}

/// The error text of an AAS error body with `status`.
fn error(r: &Resp, status: StatusCode, ctx: &str) -> String {
    assert_eq!(r.status, status, "{ctx}: {}", r.body);
    let m = &r.body["messages"][0];
    assert_eq!(m["code"], json!(status.as_u16().to_string()), "{ctx}");
    assert_eq!(m["messageType"], json!("Error"), "{ctx}");
    m["text"].as_str().expect("text").to_owned()
}

fn setup(st: &AppState) {
    let sm = json!({
        "modelType": "Submodel", "id": SM, "idShort": "Settings",
        "description": [{"language": "en", "text": "set points"}],
        "submodelElements": [
            {"modelType": "Property", "idShort": "Temperature", "valueType": "xs:double", "value": "37.0",
             "description": [{"language": "en", "text": "chamber temperature"}]},
            {"modelType": "Range", "idShort": "Humidity", "valueType": "xs:int", "min": "85", "max": "95"},
            {"modelType": "SubmodelElementCollection", "idShort": "Door", "value": [
                {"modelType": "Property", "idShort": "Open", "valueType": "xs:boolean", "value": "false"},
                {"modelType": "Property", "idShort": "Openings", "valueType": "xs:int", "value": "3"}]},
            {"modelType": "SubmodelElementList", "idShort": "Loads", "typeValueListElement": "Property",
             "valueTypeListElement": "xs:int", "value": [
                {"modelType": "Property", "valueType": "xs:int", "value": "1"},
                {"modelType": "Property", "valueType": "xs:int", "value": "2"}]}
        ]
    });
    let r = call_json(st, Method::POST, "/submodels", None, &sm);
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let shell = json!({
        "modelType": "AssetAdministrationShell", "id": AAS, "idShort": "PatchShell",
        "assetInformation": {"assetKind": "Instance", "globalAssetId": "urn:test:asset:patch"},
        "submodels": [{"type": "ModelReference", "keys": [{"type": "Submodel", "value": SM}]}]
    });
    let r = call_json(st, Method::POST, "/shells", None, &shell);
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

fn element(st: &AppState, path: &str) -> Value {
    get(st, &sm_path(&format!("/submodel-elements/{path}")))
}

#[test]
fn patch_merges_the_given_fields_into_the_submodel() {
    support::each_state(|db, st| {
        setup(st);
        let r = patch(
            st,
            &sm_path(""),
            &json!({"idShort": "Settings7",
                "submodelElements": [{"idShort": "Temperature", "value": "36.5"},
                    {"idShort": "Door", "value": [{"idShort": "Openings", "value": "4"}]},
                    {"modelType": "Property", "idShort": "Setpoint", "valueType": "xs:double", "value": "37"}]}),
        );
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{db}: {}", r.body);
        let sm = get(st, &sm_path(""));
        assert_eq!(sm["idShort"], json!("Settings7"), "{db}");
        assert_eq!(sm["description"][0]["text"], json!("set points"), "{db}");
        let names: Vec<&str> = sm["submodelElements"]
            .as_array()
            .expect("elements")
            .iter()
            .map(|e| e["idShort"].as_str().expect("idShort"))
            .collect();
        assert_eq!(
            names,
            ["Temperature", "Humidity", "Door", "Loads", "Setpoint"],
            "{db}"
        );
        let t = &sm["submodelElements"][0];
        assert_eq!(t["value"], json!("36.5"), "{db}");
        assert_eq!(
            t["description"][0]["text"],
            json!("chamber temperature"),
            "{db}"
        );
        assert_eq!(
            element(st, "Door.Open")["value"],
            json!("false"),
            "{db}: an unnamed member changed"
        );
        assert_eq!(element(st, "Door.Openings")["value"], json!("4"), "{db}");
        // the registry follows: the descriptor carries the new idShort
        let d = get(st, &format!("/submodel-descriptors/{}", encode(SM)));
        assert_eq!(d["idShort"], json!("Settings7"), "{db}");

        // through the shell, the same operation
        let through = format!("/shells/{}/submodels/{}", encode(AAS), encode(SM));
        let r = patch(st, &through, &json!({"category": "PARAMETER"}));
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{db}: {}", r.body);
        assert_eq!(get(st, &sm_path(""))["category"], json!("PARAMETER"));
    });
}

#[test]
fn patch_of_metadata_and_value() {
    support::each_state(|db, st| {
        setup(st);
        let before = get(st, &sm_path(""));
        // $metadata: what GET returned can be sent back with a change
        let mut md = get(st, &sm_path("/$metadata"));
        md["description"] = json!([{"language": "de", "text": "Sollwerte"}]);
        let r = patch(st, &sm_path("/$metadata"), &md);
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{db}: {}", r.body);
        let sm = get(st, &sm_path(""));
        assert_eq!(sm["description"][0]["text"], json!("Sollwerte"), "{db}");
        assert_eq!(sm["submodelElements"], before["submodelElements"], "{db}");
        let r = patch(st, &sm_path("/$metadata"), &json!({"submodelElements": []}));
        let text = error(&r, StatusCode::BAD_REQUEST, db);
        assert!(text.contains("$.submodelElements"), "{db}: {text}");

        // $value of the submodel: only what is named changes
        let r = patch(
            st,
            &sm_path("/$value"),
            &json!({"Temperature": 35.5, "Humidity": {"max": 97}, "Door": {"Open": true}, "Loads": [7]}),
        );
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{db}: {}", r.body);
        let v = get(st, &sm_path("/$value"));
        assert_eq!(
            v,
            json!({"Temperature": 35.5, "Humidity": {"min": 85, "max": 97},
                "Door": {"Open": true, "Openings": 3}, "Loads": [7, 2]}),
            "{db}"
        );

        // elements: plain merge, $metadata, $value (bare and {idShort: value})
        let el = |p: &str| sm_path(&format!("/submodel-elements/{p}"));
        let r = patch(st, &el("Humidity"), &json!({"min": "80"}));
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{db}: {}", r.body);
        let h = element(st, "Humidity");
        assert_eq!(
            (h["min"].clone(), h["max"].clone()),
            (json!("80"), json!("97"))
        );
        let r = patch(
            st,
            &el("Door.Openings/$metadata"),
            &json!({"category": "VARIABLE"}),
        );
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{db}: {}", r.body);
        let o = element(st, "Door.Openings");
        assert_eq!(
            (o["category"].clone(), o["value"].clone()),
            (json!("VARIABLE"), json!("3"))
        );
        let r = patch(st, &el("Door.Openings/$value"), &json!(5));
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{db}: {}", r.body);
        assert_eq!(element(st, "Door.Openings")["value"], json!("5"), "{db}");
        let r = patch(
            st,
            &el("Temperature/$value"),
            &json!({"Temperature": "36.0"}),
        );
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{db}: {}", r.body);
        assert_eq!(element(st, "Temperature")["value"], json!("36.0"), "{db}");
        let r = patch(st, &el("Loads%5B1%5D/$value"), &json!(9));
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{db}: {}", r.body);
        assert_eq!(element(st, "Loads%5B1%5D")["value"], json!("9"), "{db}");
    });
}

#[test]
fn refused_patches_are_located_and_change_nothing() {
    support::each_state(|db, st| {
        setup(st);
        let before = get(st, &sm_path(""));
        let el = |p: &str| sm_path(&format!("/submodel-elements/{p}"));
        let cases: Vec<(String, Value, &str)> = vec![
            (sm_path(""), json!({"id": "urn:other"}), "$.id"),
            (sm_path(""), json!([]), "JSON object"),
            (
                sm_path(""),
                json!({"submodelElements": [{"idShort": "Temperature", "value": "warm"}]}),
                "$.submodelElements[0].value",
            ),
            (
                sm_path("/$value"),
                json!({"Temperature": "warm"}),
                "$.Temperature.value",
            ),
            (sm_path("/$value"), json!({"Nothing": 1}), "$.Nothing"),
            (sm_path("/$value"), json!({"Loads": [1, 2, 3]}), "$.Loads"),
            (el("Humidity"), json!({"idShort": "Moisture"}), "$.idShort"),
            (
                el("Humidity"),
                json!({"modelType": "Property"}),
                "$.modelType",
            ),
            (el("Humidity/$metadata"), json!({"max": "1"}), "$.max"),
            (el("Door.Open/$value"), json!([true]), "$"),
            (el("Temperature/$value"), json!({"x": {}}), "$"),
        ];
        for (path, body, needle) in cases {
            let r = patch(st, &path, &body);
            let text = error(
                &r,
                StatusCode::BAD_REQUEST,
                &format!("{db} PATCH {path} {body}"),
            );
            assert!(
                text.contains(needle),
                "{db} PATCH {path} {body}: {text:?} does not name {needle}"
            );
        }
        // malformed JSON
        let r = call_with(st, &Method::PATCH, &sm_path(""), None, b"{\"idShort\": ");
        let text = error(&r, StatusCode::BAD_REQUEST, db);
        assert!(text.contains("malformed JSON"), "{db}: {text}");
        assert_eq!(
            get(st, &sm_path("")),
            before,
            "{db}: a refused PATCH changed the submodel"
        );

        // 404: unknown submodel, element, submodel not held by the shell
        let unknown = format!("/submodels/{}", encode("urn:test:none"));
        for path in [
            unknown.clone(),
            format!("{unknown}/$value"),
            format!("{unknown}/submodel-elements/Temperature"),
            el("Nothing"),
            el("Door.Nothing/$value"),
            el("Loads%5B5%5D/$metadata"),
            format!(
                "/shells/{}/submodels/{}",
                encode(AAS),
                encode("urn:test:none")
            ),
        ] {
            let r = patch(st, &path, &json!({"category": "X"}));
            error(&r, StatusCode::NOT_FOUND, &format!("{db} PATCH {path}"));
        }
        assert_eq!(get(st, &sm_path("")), before, "{db}");
    });
}

#[test]
fn patch_honours_if_match_and_roles() {
    support::each_state(|db, st| {
        setup(st);
        let first = call_json(st, Method::GET, &sm_path(""), None, &Value::Null);
        let tag = first.etag.expect("ETag");
        // a change made meanwhile: the earlier tag no longer matches
        let r = patch(st, &sm_path("/$value"), &json!({"Temperature": 30}));
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{db}: {}", r.body);
        for path in [
            sm_path(""),
            sm_path("/$metadata"),
            sm_path("/$value"),
            sm_path("/submodel-elements/Temperature"),
            sm_path("/submodel-elements/Temperature/$value"),
        ] {
            let body = if path.ends_with("$value") {
                json!(31)
            } else {
                json!({"category": "X"})
            };
            let r = call_json(st, Method::PATCH, &path, Some(&tag), &body);
            let text = error(&r, StatusCode::PRECONDITION_FAILED, &format!("{db} {path}"));
            assert!(text.contains("If-Match"), "{db}: {text}");
        }
        assert_eq!(element(st, "Temperature")["value"], json!("30"), "{db}");
        // the current tag matches
        let now = call_json(st, Method::GET, &sm_path(""), None, &Value::Null)
            .etag
            .expect("ETag");
        let r = call_json(
            st,
            Method::PATCH,
            &sm_path("/submodel-elements/Temperature/$value"),
            Some(&now),
            &json!(32),
        );
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{db}: {}", r.body);
        assert_eq!(element(st, "Temperature")["value"], json!("32"), "{db}");

        // a reader may read but not PATCH
        let u = NewUser {
            name: "viewer",
            display_name: "Viewer",
            password: None,
            roles: &[Role::Reader],
        };
        auth::add_user(&st.store, "test", &u, Timestamp::now()).expect("user");
        let reader =
            auth::create_token(&st.store, "test", "viewer", &[], "", None, Timestamp::now())
                .expect("token")
                .secret;
        let r = call_as(
            st,
            &Method::PATCH,
            &sm_path("/$value"),
            Some(&reader),
            None,
            br#"{"Temperature": 1}"#,
        );
        let text = error(&r, StatusCode::FORBIDDEN, db);
        assert!(text.contains("writer or admin"), "{db}: {text}");
        let r = call_as(st, &Method::PATCH, &sm_path(""), None, None, br#"{}"#);
        error(&r, StatusCode::UNAUTHORIZED, db);
        assert_eq!(element(st, "Temperature")["value"], json!("32"), "{db}");
    });
}
