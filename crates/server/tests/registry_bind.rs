//! Binding finds equipment through the AAS registry: the real server runs
//! in-process on an ephemeral port, the registry client reads its shell
//! descriptors over HTTP, fetches each twin's submodels from their endpoints,
//! and the binding must equal the one made from the inventory file.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use recipe::bind::{ReasonKind, Verdict};
use recipe::{Date, Inventory};
use server::{AppState, HttpRegistry, RegistryError, StoreRegistry, equipment_inventory};

mod support;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).expect("example file is readable")
}

fn inventory(rel: &str) -> Inventory {
    recipe::parse_inventory(rel, &read(rel)).expect("example inventory is valid")
}

fn as_of() -> Date {
    Date::parse("2026-12-01").expect("date")
}

/// A running server: its API base URL and state.
struct Running {
    base: String,
    state: Arc<AppState>,
    /// An API token of a writer.
    token: String,
    _dir: tempfile::TempDir,
}

/// The tokens of the servers started, by base URL (for [`post`]).
static TOKENS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Starts the AAS server on 127.0.0.1:0 with the twins of `inventory` and the
/// demo batch (a shell that is not equipment).
fn start(inventory_file: &str) -> Running {
    let (dir, store, token) = support::temp_db_with_user(
        "twins.db",
        "integration",
        "Registry integration",
        store::auth::Role::Writer,
    );
    let std_listener = support::loopback();
    let addr = std_listener.local_addr().expect("addr");
    let base = format!("http://{addr}{}", server::BASE_PATH);
    TOKENS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((base.clone(), token.clone()));
    let state = Arc::new(AppState::new(store, base.clone()));

    let mut twins = support::equipment_twins(&inventory(inventory_file), as_of());
    let batch = aas::twins::parse_batch_record(
        "examples/twins/demo-batch.toml",
        &read("examples/twins/demo-batch.toml"),
    )
    .expect("demo batch is valid");
    twins.push(aas::twins::batch_twin(&batch));
    server::load_environment(&state, &aas::twins::environment(&twins)).expect("twins load");

    let st = state.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
            server::serve(
                listener,
                st,
                server::Gate::default(),
                std::future::pending(),
            )
            .await
            .expect("server runs");
        });
    });
    Running {
        base,
        state,
        token,
        _dir: dir,
    }
}

fn sorted(mut inv: Inventory) -> Vec<recipe::Equipment> {
    inv.equipment.sort_by(|a, b| a.id.cmp(&b.id));
    inv.equipment
}

#[test]
fn registry_binding_equals_file_binding_for_every_example_recipe() {
    for (recipe_file, inventory_file) in [
        (
            "examples/recipes/car-t-modular.toml",
            "examples/equipment/modular-plant.toml",
        ),
        (
            "examples/recipes/car-t-all-in-one.toml",
            "examples/equipment/all-in-one.toml",
        ),
    ] {
        let srv = start(inventory_file);
        let file_inv = inventory(inventory_file);
        // Small pages: the client must follow the cursor.
        let reg = HttpRegistry::new(&srv.base)
            .map(|r| r.with_token(&srv.token))
            .expect("http url")
            .with_page_size(3);
        let found = equipment_inventory(&reg).expect("registry reads");
        assert_eq!(found.other_shells, 1, "the batch shell is not equipment");
        assert!(found.skipped.is_empty(), "{:?}", found.skipped);
        assert_eq!(found.inventory.inventory.site, srv.base);
        assert_eq!(
            sorted(found.inventory.clone()),
            sorted(file_inv.clone()),
            "{inventory_file}: twins read back as the inventory's items"
        );

        let r = recipe::parse_recipe(recipe_file, &read(recipe_file)).expect("recipe");
        let from_file = recipe::bind(&r, &file_inv, as_of());
        let from_registry = recipe::bind(&r, &found.inventory, as_of());
        assert!(from_file.is_complete(), "{recipe_file}");
        assert_eq!(from_registry.as_of, from_file.as_of);
        assert_eq!(
            from_registry.assignments, from_file.assignments,
            "{recipe_file}: same choices, same reasons"
        );
        let body = |t: String| t.split_once('\n').map(|x| x.1.to_string()).unwrap_or(t);
        assert_eq!(
            body(from_registry.render_text()),
            body(from_file.render_text())
        );

        // The local database's registry gives the same.
        let local = StoreRegistry::new(&srv.state.store, "twins.db");
        let found_local = equipment_inventory(&local).expect("database registry reads");
        let from_db = recipe::bind(&r, &found_local.inventory, as_of());
        assert_eq!(from_db.assignments, from_file.assignments, "{recipe_file}");
    }
}

fn post(url: &str, body: &serde_json::Value) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let token = TOKENS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(base, _)| url.starts_with(base.as_str()))
        .map(|(_, t)| t.clone())
        .expect("a server started by this test");
    let mut resp = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("Authorization", &format!("Bearer {token}"))
        .send(body.to_string().as_bytes())
        .expect("server answers");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (status, text)
}

/// Registers a device from outside: its submodels are POSTed to the Submodel
/// Repository, and a shell descriptor (written by hand, as a vendor's device
/// would) pointing at them to the AAS Registry. There is no shell in the
/// repository; only the registry knows the device.
fn register_external(base: &str, toml_item: &str, aas_id: &str, id_short: &str) {
    let inv = recipe::parse_inventory("external.toml", toml_item).expect("device is valid");
    let e = &inv.equipment[0];
    let submodels = [
        aas::twins::nameplate(e),
        aas::twins::capabilities(e),
        aas::twins::qualification(e, as_of()),
        aas::twins::usage_counters(e),
    ];
    let mut descriptors = Vec::new();
    for sm in &submodels {
        let (status, text) = post(
            &format!("{base}/submodels"),
            &serde_json::to_value(sm).expect("json"),
        );
        assert_eq!(status, 201, "{text}");
        descriptors.push(serde_json::json!({
            "id": sm.id,
            "idShort": sm.id_short,
            "semanticId": sm.semantic_id,
            "endpoints": [{
                "interface": "SUBMODEL-3.0",
                "protocolInformation": {
                    "href": format!("{base}/submodels/{}", aas::ids::encode(&sm.id)),
                    "endpointProtocol": "HTTP"
                }
            }]
        }));
    }
    let descriptor = serde_json::json!({
        "id": aas_id,
        "idShort": id_short,
        "assetKind": "Instance",
        "globalAssetId": format!("urn:vendor:asset:{id_short}"),
        "endpoints": [{
            "interface": "AAS-3.0",
            "protocolInformation": { "href": format!("http://vendor.invalid/aas/{id_short}") }
        }],
        "submodelDescriptors": descriptors
    });
    let (status, text) = post(&format!("{base}/shell-descriptors"), &descriptor);
    assert_eq!(status, 201, "{text}");
}

const EXTERNAL: &str = r#"
[[equipment]]
id = "ext_centrifuge_9"
name = "Vendor centrifuge 9"
class = "device"
manufacturer = "VendorCo"
model = "VC-900"
serial = "VC9-0001"
[equipment.capabilities.centrifugation]
rcf = { min = 200, max = 900, unit = "x g" }
volume = { min = 10, max = 600, unit = "mL" }
closed = true
[equipment.qualification]
status = "qualified"
dq = 2026-01-05
iq = 2026-01-20
oq = 2026-02-01
pq = 2026-02-15
next_requalification = 2027-09-01
[[equipment.counters]]
name = "sterile_connector_port"
used = 3
max = 500
"#;

#[test]
fn device_registered_from_outside_is_found_and_expired_ones_are_rejected() {
    let srv = start("examples/equipment/modular-plant.toml");
    register_external(
        &srv.base,
        EXTERNAL,
        "urn:vendor:aas:ext-centrifuge-9",
        "ext_centrifuge_9",
    );
    // A second vendor device whose requalification fell due before the as-of day.
    let expired = EXTERNAL
        .replace("ext_centrifuge_9", "ext_centrifuge_old")
        .replace("VC9-0001", "VC9-0002")
        .replace(
            "next_requalification = 2027-09-01",
            "next_requalification = 2026-11-20",
        );
    register_external(
        &srv.base,
        &expired,
        "urn:vendor:aas:ext-centrifuge-old",
        "ext_centrifuge_old",
    );

    let reg = HttpRegistry::new(&srv.base)
        .expect("url")
        .with_token(&srv.token);
    let found = equipment_inventory(&reg).expect("registry reads");
    let ext = found
        .inventory
        .get("ext_centrifuge_9")
        .expect("the device registered from outside is found");
    assert_eq!(ext.manufacturer, "VendorCo");
    assert_eq!(
        ext.counter("sterile_connector_port").map(|c| c.used),
        Some(3)
    );
    assert!(found.inventory.get("ext_centrifuge_old").is_some());

    let r = recipe::parse_recipe(
        "examples/recipes/car-t-modular.toml",
        &read("examples/recipes/car-t-modular.toml"),
    )
    .expect("recipe");
    let b = recipe::bind(&r, &found.inventory, as_of());
    let wash = b
        .assignments
        .iter()
        .find(|a| a.capability == "centrifugation" && a.step == "wash")
        .expect("wash step needs a centrifuge");
    // Qualified until 2027-09-01, longer than the plant's own centrifuge_2.
    assert_eq!(wash.equipment.as_deref(), Some("ext_centrifuge_9"));
    let verdict = |id: &str| {
        wash.candidates
            .iter()
            .find(|c| c.equipment == id)
            .unwrap_or_else(|| panic!("{id} is a candidate"))
    };
    assert_eq!(verdict("centrifuge_2").verdict, Verdict::Fits);
    let old = verdict("ext_centrifuge_old");
    assert_eq!(old.verdict, Verdict::Rejected);
    assert_eq!(old.reasons[0].kind, ReasonKind::QualificationExpired);
    assert_eq!(
        old.reasons[0].message,
        "qualification expired (requalification was due 2026-11-20)"
    );
    // The plant's own centrifuge_1 expired in October.
    let c1 = verdict("centrifuge_1");
    assert_eq!(c1.verdict, Verdict::Rejected);
    assert_eq!(
        c1.reasons[0].message,
        "qualification expired (requalification was due 2026-10-15)"
    );
}

#[test]
fn a_registry_client_without_token_is_refused_401_naming_the_url() {
    let srv = start("examples/equipment/modular-plant.toml");
    let err =
        equipment_inventory(&HttpRegistry::new(&srv.base).expect("url")).expect_err("no token");
    let m = err.to_string();
    assert!(m.contains("401"), "{m}");
    assert!(m.contains(&srv.base) && m.contains("Bearer"), "{m}");
    let err = equipment_inventory(
        &HttpRegistry::new(&srv.base)
            .expect("url")
            .with_token("atf_0123"),
    )
    .expect_err("bad token");
    assert!(
        err.to_string().contains("not an atmpflow API token"),
        "{err}"
    );
}

#[test]
fn a_submodel_endpoint_that_serves_no_submodel_names_url_and_path() {
    let srv = start("examples/equipment/all-in-one.toml");
    let sem = |s: &str| serde_json::json!({"type": "ExternalReference", "keys": [{"type": "GlobalReference", "value": s}]});
    let ep = |href: String| serde_json::json!([{ "interface": "SUBMODEL-3.0", "protocolInformation": { "href": href } }]);
    let descriptor = serde_json::json!({
        "id": "urn:vendor:aas:broken",
        "idShort": "broken_device",
        "submodelDescriptors": [
            { "id": "urn:vendor:sm:caps", "semanticId": sem(aas::twins::SEM_CAPABILITIES),
              "endpoints": ep(format!("{}/description", srv.base)) },
            { "id": "urn:vendor:sm:np", "semanticId": sem(aas::twins::SEM_NAMEPLATE),
              "endpoints": ep(format!("{}/description", srv.base)) },
            { "id": "urn:vendor:sm:q", "semanticId": sem(aas::twins::SEM_QUALIFICATION),
              "endpoints": ep(format!("{}/description", srv.base)) }
        ]
    });
    let (status, text) = post(&format!("{}/shell-descriptors", srv.base), &descriptor);
    assert_eq!(status, 201, "{text}");
    let reg = HttpRegistry::new(&srv.base)
        .expect("url")
        .with_token(&srv.token);
    let err = equipment_inventory(&reg).expect_err("not a submodel");
    match &err {
        RegistryError::Invalid { url, path, .. } => {
            assert_eq!(url, &format!("{}/description", srv.base));
            assert_eq!(path, "$.profiles", "{err}");
        }
        other => panic!("wrong error: {other}"),
    }

    // A submodel endpoint that is not there: the status and the server's message.
    let descriptor = serde_json::json!({
        "id": "urn:vendor:aas:broken",
        "idShort": "broken_device",
        "submodelDescriptors": [
            { "id": "urn:vendor:sm:caps", "semanticId": sem(aas::twins::SEM_CAPABILITIES),
              "endpoints": ep(format!("{}/submodels/{}", srv.base, aas::ids::encode("urn:vendor:sm:caps"))) },
            { "id": "urn:vendor:sm:np", "semanticId": sem(aas::twins::SEM_NAMEPLATE),
              "endpoints": ep(format!("{}/description", srv.base)) },
            { "id": "urn:vendor:sm:q", "semanticId": sem(aas::twins::SEM_QUALIFICATION),
              "endpoints": ep(format!("{}/description", srv.base)) }
        ]
    });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let put = agent
        .put(&format!(
            "{}/shell-descriptors/{}",
            srv.base,
            aas::ids::encode("urn:vendor:aas:broken")
        ))
        .header("Content-Type", "application/json")
        .header("Authorization", &format!("Bearer {}", srv.token))
        .send(descriptor.to_string().as_bytes())
        .expect("server answers");
    assert_eq!(put.status().as_u16(), 204);
    let err = equipment_inventory(&reg).expect_err("no such submodel");
    match &err {
        RegistryError::Status { url, status, text } => {
            assert!(
                url.ends_with(&aas::ids::encode("urn:vendor:sm:caps")),
                "{err}"
            );
            assert_eq!(*status, 404);
            assert!(text.starts_with(": "), "{err}");
        }
        other => panic!("wrong error: {other}"),
    }
}

/// Serves one canned HTTP answer to every connection.
fn fake_server(body: &'static str) -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}/api/v3.0")
}

#[test]
fn an_invalid_descriptor_names_url_and_json_path() {
    let base = fake_server(
        r#"{"paging_metadata":{},"result":[{"id":"urn:x:1","endpoints":[{"interface":"AAS-3.0"}]}]}"#,
    );
    let reg = HttpRegistry::new(&base).expect("url");
    let err = equipment_inventory(&reg).expect_err("invalid descriptor");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{base}/shell-descriptors?limit=100 is not valid AAS JSON at $.result[0].endpoints[0]"
        )),
        "{text}"
    );
    assert!(text.contains("protocolInformation"), "{text}");

    let base = fake_server(r#"{"paging_metadata":{"cursor":"abc"},"result":[]}"#);
    let err = equipment_inventory(&HttpRegistry::new(&base).expect("url")).expect_err("loops");
    assert!(err.to_string().contains("the paging never ends"), "{err}");
}

#[test]
fn an_unreachable_registry_names_its_url() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let base = format!("http://127.0.0.1:{port}/api/v3.0");
    let err = equipment_inventory(&HttpRegistry::new(&base).expect("url")).expect_err("nobody");
    assert!(matches!(err, RegistryError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot reach the AAS registry at {base}")),
        "{err}"
    );
    HttpRegistry::new("https://plant.example/api/v3.0").expect("https is spoken");
    let err = HttpRegistry::new("ftp://plant.example/api/v3.0").expect_err("not HTTP");
    assert!(
        err.to_string().contains("not an http:// or https:// URL"),
        "{err}"
    );
}
