//! The AAS API v3.0 of `server`, driven through `dispatch` (no sockets).

use std::path::Path;

use aas::ids::encode;
use axum::http::{Method, StatusCode};
use serde_json::json;
use server::AppState;

/// The qualification of every module of the test inventory: qualified, DQ on 2025-01-10 to
/// PQ on 2025-03-01 (as the shared centrifuge's).
const QUALIFIED: &str = r#"status = "qualified"
dq = 2025-01-10
iq = 2025-02-01
oq = 2025-02-15
pq = 2025-03-01"#;

/// The shared centrifuge inventory without its volume limit, a second centrifuge whose
/// qualification expired on 2025-09-01 and a thawer.
fn inventory() -> String {
    let centrifuge =
        testkit::registry::CENTRIFUGE.replace("volume = { max = 0.5, unit = \"L\" }\n", "");
    format!(
        r#"{centrifuge}
[[equipment]]
id = "cfg_2"
class = "module"
manufacturer = "M"
model = "C1"
serial = "S2"
[equipment.capabilities.centrifugation]
rcf = {{ min = 100, max = 800, unit = "x g" }}
[equipment.qualification]
{QUALIFIED}
next_requalification = 2025-09-01

[[equipment]]
id = "thaw_1"
class = "module"
manufacturer = "M"
model = "T1"
serial = "S3"
[equipment.capabilities.thawing]
volume = {{ max = 250, unit = "mL" }}
[equipment.qualification]
{QUALIFIED}
next_requalification = 2026-03-01
"#
    )
}

const BATCH: &str = include_str!("../../../examples/twins/demo-batch.toml");

fn demo_env() -> aas::Environment {
    let inv = recipe::parse_inventory("inv.toml", &inventory()).expect("valid inventory");
    let as_of = recipe::Date::parse("2025-12-01").expect("date");
    let mut twins = support::equipment_twins(&inv, as_of);
    let rec = aas::twins::parse_batch_record("demo-batch.toml", BATCH).expect("valid batch record");
    twins.push(aas::twins::batch_twin(&rec));
    aas::twins::environment(&twins)
}

fn state(path: &Path) -> AppState {
    let store = store::Db::open(path).expect("open store");
    AppState::new(store, "http://127.0.0.1:1/api/v3.0")
}

fn loaded(path: &Path) -> AppState {
    let st = state(path);
    server::load_environment(&st, &demo_env()).expect("load demo");
    st
}

/// An empty repository on a database in a new temporary folder (removed when dropped).
fn empty_in_temp() -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = state(&dir.path().join("db"));
    (dir, st)
}

/// The demo environment's repository on a database in a new temporary folder (removed
/// when dropped).
fn loaded_in_temp() -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = loaded(&dir.path().join("db"));
    (dir, st)
}

mod support;
use support::Resp;

fn call(st: &AppState, method: Method, uri: &str, body: &str) -> Resp {
    support::call(st, &method, uri, body.as_bytes())
}

fn get(st: &AppState, uri: &str) -> Resp {
    call(st, Method::GET, uri, "")
}

/// The error body is exactly the standard one, and its text names `needle`.
fn assert_error(r: &Resp, status: StatusCode, needle: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    // Only a 405 names the methods the resource serves.
    assert_eq!(
        r.allow.is_some(),
        status == StatusCode::METHOD_NOT_ALLOWED,
        "{:?}",
        r.allow
    );
    let m = support::only_error_message(&r.body, status);
    let ts = m["timestamp"].as_str().expect("timestamp");
    assert!(
        aas::validate::check_value(aas::model::DataTypeDefXsd::DateTime, ts).is_ok(),
        "{ts}"
    );
    let text = m["text"].as_str().expect("text");
    assert!(
        text.contains(needle),
        "{text:?} does not mention {needle:?}"
    );
}

const SM: &str = "urn:atmpflow:sm:equipment:cfg_1:Capabilities";
const AAS1: &str = "urn:atmpflow:aas:equipment:cfg_1";

#[test]
fn stored_twins_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("twins.db");
    let new_sm = json!({
        "modelType": "Submodel", "id": "urn:test:sm:1", "idShort": "Extra",
        "submodelElements": [{"modelType": "Property", "idShort": "Speed", "valueType": "xs:int", "value": "42"}]
    });
    {
        let st = loaded(&db);
        let r = call(&st, Method::POST, "/submodels", &new_sm.to_string());
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let st = state(&db);
    let r = get(&st, &format!("/submodels/{}", encode("urn:test:sm:1")));
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, new_sm);
    assert_eq!(
        get(&st, "/shells").body["result"].as_array().map(Vec::len),
        Some(4)
    );
}

#[test]
fn invalid_json_is_rejected_with_its_path_and_nothing_changes() {
    let (_dir, st) = loaded_in_temp();
    let before = get(&st, &format!("/submodels/{}", encode(SM))).body;

    // a bad value type deep inside a collection
    let mut bad = before.clone();
    bad["submodelElements"][0]["value"][0]["value"][0]["semanticId"]["type"] =
        json!("NoSuchReference");
    let r = call(
        &st,
        Method::PUT,
        &format!("/submodels/{}", encode(SM)),
        &bad.to_string(),
    );
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "$.submodelElements[0].value[0].value[0].semanticId.type",
    );

    // a value that does not match its valueType
    let r = call(
        &st,
        Method::POST,
        "/submodels",
        &json!({"modelType": "Submodel", "id": "urn:x", "submodelElements": [
            {"modelType": "Property", "idShort": "ok", "valueType": "xs:string", "value": "a"},
            {"modelType": "Property", "idShort": "n", "valueType": "xs:int", "value": "twelve"}]})
        .to_string(),
    );
    assert_error(&r, StatusCode::BAD_REQUEST, "$.submodelElements[1].value");

    // idShort rule AASd-002, duplicate idShort AASd-022, unknown field, malformed JSON
    let r = call(
        &st,
        Method::POST,
        "/submodels",
        r#"{"modelType":"Submodel","id":"urn:y","idShort":"1bad"}"#,
    );
    assert_error(&r, StatusCode::BAD_REQUEST, "$.idShort");
    let r = call(
        &st,
        Method::POST,
        "/submodels",
        r#"{"modelType":"Submodel","id":"urn:y","submodelElements":[
            {"modelType":"Property","idShort":"a","valueType":"xs:string"},
            {"modelType":"Property","idShort":"a","valueType":"xs:string"}]}"#,
    );
    assert_error(&r, StatusCode::BAD_REQUEST, "AASd-022");
    let r = call(
        &st,
        Method::POST,
        "/shells",
        r#"{"modelType":"AssetAdministrationShell","id":"urn:z","assetInformation":{"assetKind":"Instance","globalAssetId":"g"},"colour":"red"}"#,
    );
    assert_error(&r, StatusCode::BAD_REQUEST, "colour");
    let r = call(&st, Method::POST, "/shells", "{not json");
    assert_error(&r, StatusCode::BAD_REQUEST, "malformed JSON");

    // element writes: wrong type inside, duplicate, bad idShort change
    let path = format!(
        "/submodels/{}/submodel-elements/CapabilitySet.centrifugation.PropertySet.rcf",
        encode(SM)
    );
    let r = call(
        &st,
        Method::PUT,
        &path,
        r#"{"modelType":"Range","idShort":"rcf","valueType":"xs:double","min":"low"}"#,
    );
    assert_error(&r, StatusCode::BAD_REQUEST, "$.min");
    let r = call(
        &st,
        Method::PUT,
        &path,
        r#"{"modelType":"Range","idShort":"other","valueType":"xs:double"}"#,
    );
    assert_error(&r, StatusCode::BAD_REQUEST, "idShort");
    let r = call(
        &st,
        Method::POST,
        &format!("/submodels/{}/submodel-elements", encode(SM)),
        r#"{"modelType":"Property","idShort":"CapabilitySet","valueType":"xs:string"}"#,
    );
    assert_error(&r, StatusCode::CONFLICT, "CapabilitySet");
    // creating a shell that exists
    let shell = get(&st, &format!("/shells/{}", encode(AAS1))).body;
    let r = call(&st, Method::POST, "/shells", &shell.to_string());
    assert_error(&r, StatusCode::CONFLICT, AAS1);

    assert_eq!(get(&st, &format!("/submodels/{}", encode(SM))).body, before);
    assert_eq!(
        get(&st, "/submodels?limit=1000").body["result"]
            .as_array()
            .map(Vec::len),
        Some(13)
    );

    // a valid element write goes through
    let r = call(
        &st,
        Method::PUT,
        &path,
        r#"{"modelType":"Range","idShort":"rcf","valueType":"xs:double","min":"200","max":"900"}"#,
    );
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        get(&st, &format!("{path}/$value")).body,
        json!({"rcf": {"min": 200.0, "max": 900.0}})
    );
}

#[test]
fn unknown_and_malformed_ids() {
    let (_dir, st) = loaded_in_temp();
    let nope = encode("urn:nope");
    // unknown ids: the error names what was not found
    for (path, needle) in [
        (format!("/shells/{nope}"), "urn:nope"),
        (format!("/submodels/{nope}"), "urn:nope"),
        (
            format!("/submodels/{}/submodel-elements/Nope", encode(SM)),
            "Nope",
        ),
        (format!("/shell-descriptors/{nope}"), "urn:nope"),
    ] {
        assert_error(&get(&st, &path), StatusCode::NOT_FOUND, needle);
    }
    assert_error(
        &call(&st, Method::DELETE, &format!("/shells/{nope}"), ""),
        StatusCode::NOT_FOUND,
        "urn:nope",
    );
    // malformed ids and parameters: the error names the part at fault
    for (path, needle) in [
        ("/shells/invalid-base64url=====", "base64url"),
        ("/shells?limit=-1", "limit"),
        ("/submodels?level=######", "level"),
        (
            "/serialization?includeConceptDescriptions=maybe",
            "includeConceptDescriptions",
        ),
    ] {
        assert_error(&get(&st, path), StatusCode::BAD_REQUEST, needle);
    }
    // ids with characters that are not path-safe travel base64url-encoded
    let odd = "urn:test:sm/1?x=+ü&y";
    let body = json!({"modelType": "Submodel", "id": odd});
    assert_eq!(
        call(&st, Method::POST, "/submodels", &body.to_string()).status,
        StatusCode::CREATED
    );
    assert_eq!(
        get(&st, &format!("/submodels/{}", encode(odd))).body["id"],
        json!(odd)
    );
}

#[test]
fn paging_with_cursor_visits_everything_once() {
    let (_dir, st) = loaded_in_temp();
    let mut seen = Vec::new();
    let mut uri = "/shells?limit=3".to_string();
    for _ in 0..10 {
        let r = get(&st, &uri);
        assert_eq!(r.status, StatusCode::OK);
        let page = r.body["result"].as_array().expect("result").clone();
        assert!(page.len() <= 3);
        seen.extend(
            page.iter()
                .map(|s| s["id"].as_str().expect("id").to_string()),
        );
        match r.body["paging_metadata"]["cursor"].as_str() {
            Some(c) => uri = format!("/shells?limit=3&cursor={c}"),
            None => break,
        }
    }
    let mut all = seen.clone();
    all.sort();
    all.dedup();
    assert_eq!(seen.len(), 4);
    assert_eq!(all.len(), 4);
    // element paging too
    let r = get(
        &st,
        &format!(
            "/submodels/{}/submodel-elements?limit=2",
            encode("urn:atmpflow:sm:batch:B2026-0001:BatchRecord")
        ),
    );
    assert_eq!(r.body["result"].as_array().map(Vec::len), Some(2));
    let c = r.body["paging_metadata"]["cursor"]
        .as_str()
        .expect("more elements")
        .to_string();
    let r2 = get(
        &st,
        &format!(
            "/submodels/{}/submodel-elements?limit=2&cursor={c}",
            encode("urn:atmpflow:sm:batch:B2026-0001:BatchRecord")
        ),
    );
    assert_ne!(r.body["result"][0], r2.body["result"][0]);
    assert_error(
        &get(&st, "/shells?cursor=%%%"),
        StatusCode::BAD_REQUEST,
        "cursor",
    );
}

#[test]
fn modifiers_value_metadata_reference_path() {
    let (_dir, st) = loaded_in_temp();
    let q = format!(
        "/submodels/{}",
        encode("urn:atmpflow:sm:equipment:cfg_1:UsageCounters")
    );
    assert_eq!(
        get(&st, &format!("{q}/$value")).body,
        json!({"Counters": [{"Name": "sterile_connector_port", "Used": 47, "MaxUses": 50, "Remaining": 3, "LimitReached": false}]})
    );
    let md = get(&st, &format!("{q}/$metadata")).body;
    assert_eq!(md["idShort"], json!("UsageCounters"));
    assert!(md.get("submodelElements").is_none());
    assert_eq!(
        get(&st, &format!("{q}/$reference")).body,
        json!({"type": "ModelReference", "keys": [{"type": "Submodel", "value": "urn:atmpflow:sm:equipment:cfg_1:UsageCounters"}]})
    );
    let paths = get(&st, &format!("{q}/$path")).body;
    assert_eq!(paths[0], json!("Counters"));
    assert!(
        paths
            .as_array()
            .expect("list")
            .contains(&json!("Counters[0].Remaining")),
        "{paths}"
    );
    assert_eq!(
        get(&st, &format!("{q}/$path?level=core")).body,
        json!(["Counters"])
    );

    let el = format!("{q}/submodel-elements/Counters[0].Used");
    assert_eq!(get(&st, &format!("{el}/$value")).body, json!({"Used": 47}));
    let md = get(&st, &format!("{el}/$metadata")).body;
    assert_eq!(md["valueType"], json!("xs:unsignedLong"));
    assert!(md.get("value").is_none());
    assert_eq!(
        get(&st, &format!("{el}/$reference")).body["keys"],
        json!([
            {"type": "Submodel", "value": "urn:atmpflow:sm:equipment:cfg_1:UsageCounters"},
            {"type": "SubmodelElementList", "value": "Counters"},
            {"type": "SubmodelElementCollection", "value": "0"},
            {"type": "Property", "value": "Used"}
        ])
    );
    // $path only for containers
    assert_error(
        &get(&st, &format!("{el}/$path")),
        StatusCode::BAD_REQUEST,
        "$path",
    );
    // level=core drops grandchildren
    let core = get(&st, &format!("{q}/submodel-elements/Counters?level=core")).body;
    assert!(core["value"][0].get("value").is_none(), "{core}");
    // Blob values only with extent=withBlobValue
    let b = format!(
        "/submodels/{}/submodel-elements/Measurements.viable_cell_density.Csv",
        encode("urn:atmpflow:sm:batch:B2026-0001:BatchRecord")
    );
    assert!(get(&st, &b).body.get("value").is_none());
    let with = get(&st, &format!("{b}?extent=withBlobValue")).body;
    assert!(with["value"].as_str().is_some_and(|v| !v.is_empty()));
    // a Capability has no $metadata view
    let cap = format!(
        "/submodels/{}/submodel-elements/CapabilitySet.centrifugation.Capability/$metadata",
        encode(SM)
    );
    assert_error(&get(&st, &cap), StatusCode::BAD_REQUEST, "Capability");
}

#[test]
fn registry_and_discovery_follow_the_repository() {
    let (_dir, st) = loaded_in_temp();
    let d = get(&st, &format!("/shell-descriptors/{}", encode(AAS1))).body;
    assert_eq!(d["endpoints"][0]["interface"], json!("AAS-3.0"));
    assert_eq!(
        d["endpoints"][0]["protocolInformation"]["href"],
        json!(format!(
            "http://127.0.0.1:1/api/v3.0/shells/{}",
            encode(AAS1)
        ))
    );
    assert_eq!(d["submodelDescriptors"].as_array().map(Vec::len), Some(4));

    // discovery by global and specific asset id
    let q = |name: &str, value: &str| encode(&json!({"name": name, "value": value}).to_string());
    let r = get(
        &st,
        &format!(
            "/lookup/shells?assetIds={}",
            q("globalAssetId", "urn:atmpflow:asset:equipment:cfg_1")
        ),
    );
    assert_eq!(r.body["result"], json!([AAS1]));
    let r = get(
        &st,
        &format!("/lookup/shells?assetIds={}", q("serialNumber", "S2")),
    );
    assert_eq!(
        r.body["result"],
        json!(["urn:atmpflow:aas:equipment:cfg_2"])
    );
    let r = get(
        &st,
        &format!("/shells?assetIds={}", q("serialNumber", "S2")),
    );
    assert_eq!(r.body["result"].as_array().map(Vec::len), Some(1));

    // explicit discovery links
    let r = call(
        &st,
        Method::POST,
        &format!("/lookup/shells/{}", encode(AAS1)),
        r#"[{"name":"inventoryTag","value":"T-77"}]"#,
    );
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = get(
        &st,
        &format!("/lookup/shells?assetIds={}", q("inventoryTag", "T-77")),
    );
    assert_eq!(r.body["result"], json!([AAS1]));

    // deleting the shell deregisters it
    let r = call(
        &st,
        Method::DELETE,
        &format!("/shells/{}", encode(AAS1)),
        "",
    );
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_error(
        &get(&st, &format!("/shell-descriptors/{}", encode(AAS1))),
        StatusCode::NOT_FOUND,
        AAS1,
    );

    // an outside device registers itself; bad descriptors are rejected with a path
    let desc = json!({"id": "urn:vendor:aas:1", "idShort": "Vendor1", "endpoints": [
        {"interface": "AAS-3.0", "protocolInformation": {"href": "http://127.0.0.1:9/shells/x"}}]});
    assert_eq!(
        call(&st, Method::POST, "/shell-descriptors", &desc.to_string()).status,
        StatusCode::CREATED
    );
    let r = call(
        &st,
        Method::POST,
        "/submodel-descriptors",
        r#"{"id":"urn:s","endpoints":[]}"#,
    );
    assert_error(&r, StatusCode::BAD_REQUEST, "$.endpoints");
}

#[test]
fn binding_finds_equipment_through_the_registry() {
    let (_dir, st) = loaded_in_temp();
    let all = server::find_equipment(&st.store, "centrifugation", false).expect("find");
    let ids: Vec<&str> = all.iter().map(|f| f.aas_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "urn:atmpflow:aas:equipment:cfg_1",
            "urn:atmpflow:aas:equipment:cfg_2"
        ]
    );
    assert_eq!(all[1].qualification, "expired");
    let usable = server::find_equipment(&st.store, "centrifugation", true).expect("find");
    assert_eq!(usable.len(), 1);
    assert_eq!(usable[0].aas_id, AAS1);
    assert!(
        server::find_equipment(&st.store, "weighing", false)
            .expect("find")
            .is_empty()
    );
}

#[test]
fn serialization_and_description() {
    let (_dir, st) = loaded_in_temp();
    let env = get(
        &st,
        &format!(
            "/serialization?aasIds={}&includeConceptDescriptions=false",
            encode(AAS1)
        ),
    )
    .body;
    assert_eq!(
        env["assetAdministrationShells"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(env["submodels"].as_array().map(Vec::len), Some(4));
    assert!(env.get("conceptDescriptions").is_none());
    let bytes = serde_json::to_vec(&env).expect("json");
    aas::parse::parse_environment(&bytes).expect("a valid environment");
    let d = get(&st, "/description").body;
    assert!(d["profiles"].as_array().expect("profiles").contains(&json!(
        "https://admin-shell.io/aas/API/3/0/SubmodelRepositoryServiceSpecification/SSP-002"
    )));
}

#[test]
fn paging_survives_huge_limits_and_has_a_default_page_size() {
    let (_dir, st) = empty_in_temp();
    // 130 concept descriptions: more than one default page
    for i in 0..130 {
        let cd = json!({"modelType": "ConceptDescription", "id": format!("urn:cd:{i:03}")});
        let r = call(&st, Method::POST, "/concept-descriptions", &cd.to_string());
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let r = get(&st, "/concept-descriptions");
    assert_eq!(r.body["result"].as_array().map(Vec::len), Some(100));
    let cursor = r.body["paging_metadata"]["cursor"]
        .as_str()
        .expect("a cursor after the default page")
        .to_string();
    // start + limit overflowed here: now the rest of the list, and no cursor
    for lim in ["18446744073709551615", "99999999999999999999999999"] {
        for path in [
            "/concept-descriptions",
            "/shells",
            "/submodels",
            "/shell-descriptors",
        ] {
            let r = get(&st, &format!("{path}?limit={lim}&cursor={cursor}"));
            assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        }
        let r = get(
            &st,
            &format!("/concept-descriptions?limit={lim}&cursor={cursor}"),
        );
        assert_eq!(r.body["result"].as_array().map(Vec::len), Some(30));
        assert!(r.body["paging_metadata"].get("cursor").is_none());
    }
    for bad in ["0", "-1", "", "1e3", "+5"] {
        assert_error(
            &get(&st, &format!("/concept-descriptions?limit={bad}")),
            StatusCode::BAD_REQUEST,
            "limit must be a positive integer",
        );
    }
}

#[test]
fn a_path_glued_to_the_base_path_is_no_endpoint() {
    let (_dir, st) = loaded_in_temp();
    // (the helper puts the path right after `/api/v3.0`)
    assert_error(
        &get(&st, "shells"),
        StatusCode::NOT_FOUND,
        "/api/v3.0shells",
    );
    assert_eq!(get(&st, "/shells").status, StatusCode::OK);
}

#[test]
fn identifiers_with_forbidden_characters_are_rejected_naming_the_field() {
    let (_dir, st) = empty_in_temp();
    for bad in ["urn:a\u{0}b", "urn:a\r\nb", "urn:\u{202E}gpj.exe"] {
        let shell = json!({"modelType": "AssetAdministrationShell", "id": bad,
            "assetInformation": {"assetKind": "Instance", "globalAssetId": "urn:asset:1"}});
        let r = call(&st, Method::POST, "/shells", &shell.to_string());
        assert_error(&r, StatusCode::BAD_REQUEST, "$.id");
        let cd = json!({"modelType": "ConceptDescription", "id": bad});
        let r = call(&st, Method::POST, "/concept-descriptions", &cd.to_string());
        assert_error(&r, StatusCode::BAD_REQUEST, "$.id");
        let d = json!({"id": bad, "endpoints": [{"interface": "AAS-3.0",
            "protocolInformation": {"href": "http://127.0.0.1:9/x"}}]});
        let r = call(&st, Method::POST, "/shell-descriptors", &d.to_string());
        assert_error(&r, StatusCode::BAD_REQUEST, "$.id");
        let r = get(&st, &format!("/shells/{}", encode(bad)));
        assert_error(&r, StatusCode::BAD_REQUEST, "U+");
    }
    assert_eq!(get(&st, "/shells").body["result"], json!([]));
    assert_eq!(get(&st, "/concept-descriptions").body["result"], json!([]));
}

#[test]
fn discovery_lists_exactly_what_it_can_delete() {
    let (_dir, st) = loaded_in_temp();
    let links = format!("/lookup/shells/{}", encode(AAS1));
    // the links from the shell's asset information are listed …
    let r = get(&st, &links);
    assert_eq!(r.status, StatusCode::OK);
    let names: Vec<&str> = r
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(names.contains(&"globalAssetId"), "{names:?}");
    // … so DELETE finds them (it answered 404) and GET no longer lists them
    assert_eq!(
        call(&st, Method::DELETE, &links, "").status,
        StatusCode::NO_CONTENT
    );
    assert_error(&get(&st, &links), StatusCode::NOT_FOUND, AAS1);
    let q = encode(
        &json!({"name": "globalAssetId", "value": "urn:atmpflow:asset:equipment:cfg_1"})
            .to_string(),
    );
    let r = get(&st, &format!("/lookup/shells?assetIds={q}"));
    assert_eq!(r.body["result"], json!([]));
    assert_error(
        &call(&st, Method::DELETE, &links, ""),
        StatusCode::NOT_FOUND,
        AAS1,
    );
    // changing the shell's asset information links the new ids and unlinks the old
    let ai = format!("/shells/{}/asset-information", encode(AAS1));
    for id in ["urn:asset:new", "urn:asset:newer"] {
        let info = json!({"assetKind": "Instance", "globalAssetId": id});
        let r = call(&st, Method::PUT, &ai, &info.to_string());
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        assert_eq!(
            get(&st, &links).body,
            json!([{"name": "globalAssetId", "value": id}])
        );
    }
}

#[test]
fn asset_links_are_capped_and_merged_in_linear_time() {
    let (_dir, st) = empty_in_temp();
    let links = format!("/lookup/shells/{}", encode("urn:aas:many"));
    let batch = |from: usize, n: usize| {
        json!(
            (from..from + n)
                .map(|i| json!({"name": "tag", "value": format!("T-{i}")}))
                .collect::<Vec<_>>()
        )
        .to_string()
    };
    let cap = server::MAX_ASSET_LINKS;
    let t = std::time::Instant::now();
    let r = call(&st, Method::POST, &links, &batch(0, cap));
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // duplicates are merged, not appended
    let r = call(&st, Method::POST, &links, &batch(0, cap));
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body.as_array().map(Vec::len), Some(cap));
    // with quadratic merging this took seconds; a generous bound still catches it
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
    let r = call(&st, Method::POST, &links, &batch(cap, 1));
    assert_error(&r, StatusCode::BAD_REQUEST, "at most 1000");
    let r = call(&st, Method::POST, &links, &batch(0, cap + 1));
    assert_error(&r, StatusCode::BAD_REQUEST, "at most 1000");
    assert_eq!(get(&st, &links).body.as_array().map(Vec::len), Some(cap));
}

#[test]
fn description_claims_no_profile_whose_operations_answer_405() {
    let (_dir, st) = loaded_in_temp();
    let d = get(&st, "/description").body;
    let profiles = d["profiles"].as_array().expect("profiles");
    // the full repository and service profiles include storing attachments
    // and thumbnails and invoking Operations, which are not served
    for full in [
        "AssetAdministrationShellRepositoryServiceSpecification/SSP-001",
        "SubmodelRepositoryServiceSpecification/SSP-001",
        "AssetAdministrationShellServiceSpecification/SSP-001",
        "SubmodelServiceSpecification/SSP-001",
    ] {
        assert!(
            !profiles
                .iter()
                .any(|p| p.as_str().is_some_and(|p| p.ends_with(full))),
            "{full} claimed"
        );
    }
    let sm = encode(SM);
    let r = call(
        &st,
        Method::PUT,
        &format!("/submodels/{sm}/submodel-elements/CapabilitySet/attachment"),
        "{}",
    );
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "PUT");
    let r = call(
        &st,
        Method::DELETE,
        &format!("/shells/{}/asset-information/thumbnail", encode(AAS1)),
        "",
    );
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "DELETE");
    // PATCH, which the full profiles need too, is served: an empty merge changes nothing
    let before = get(&st, &format!("/submodels/{sm}")).body;
    let r = call(&st, Method::PATCH, &format!("/submodels/{sm}"), "{}");
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(get(&st, &format!("/submodels/{sm}")).body, before);
}

#[test]
fn a_read_only_database_answers_503_with_the_aas_error_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ro.db");
    // the token is made while the database is writable
    let rw = loaded(&path);
    let token = support::admin_token(&rw);
    drop(rw);
    // root ignores file modes: SQLite is asked to open the file read-only
    let db = store::Db::connect(&format!("file:{}?mode=ro", path.display()));
    let st = match db {
        Ok(db) => AppState::new(db, "http://127.0.0.1:1/api/v3.0"),
        Err(e) => {
            let m = e.to_string();
            assert!(m.contains("read-only") || m.contains("readonly"), "{m}");
            return;
        }
    };
    let call = |st: &AppState, m: Method, path: &str, body: &str| {
        support::call_as(st, &m, path, Some(&token), None, body.as_bytes())
    };
    let get = |st: &AppState, path: &str| call(st, Method::GET, path, "");
    // reads still work
    assert_eq!(get(&st, "/shells").status, StatusCode::OK);
    // a write is refused with a clear message, and nothing panics
    let r = call(
        &st,
        Method::POST,
        "/concept-descriptions",
        r#"{"modelType":"ConceptDescription","id":"urn:test:cd:ro"}"#,
    );
    assert_unavailable(&r);
    let r = call(
        &st,
        Method::DELETE,
        &format!("/submodels/{}", encode(SM)),
        "",
    );
    assert_unavailable(&r);
    assert_eq!(
        get(&st, &format!("/submodels/{}", encode(SM))).status,
        StatusCode::OK
    );
}

fn assert_unavailable(r: &Resp) {
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    let m = &r.body["messages"][0];
    assert_eq!(m["code"], json!("503"));
    let text = m["text"].as_str().expect("text");
    assert!(text.contains("read-only"), "{text}");
}
