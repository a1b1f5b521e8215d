//! Methods an endpoint does not serve: 405 with the `Allow` header listing the
//! methods it does serve (RFC 9110 §15.5.6), decided before any identifier in
//! the path is decoded.

use std::collections::BTreeSet;

use aas::ids::encode;
use axum::http::{Method, StatusCode};
use serde_json::json;
use server::AppState;

mod support;
use support::Resp;

/// What one identifiable (a shell, concept description or descriptor) serves.
const ONE: &[&str] = &["GET", "PUT", "DELETE"];
/// What one submodel serves.
const SUBMODEL: &[&str] = &["GET", "PUT", "PATCH", "DELETE"];
/// What one submodel element serves.
const ELEMENT: &[&str] = &["GET", "PUT", "POST", "PATCH", "DELETE"];

fn call(st: &AppState, method: &Method, path: &str) -> Resp {
    support::call(st, method, path, b"")
}

fn methods() -> Vec<Method> {
    [
        "GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT",
    ]
    .iter()
    .map(|m| Method::from_bytes(m.as_bytes()).expect("method"))
    .collect()
}

fn set(allow: &str) -> BTreeSet<String> {
    allow
        .split(',')
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

/// A 405 with exactly `expected` in `Allow` and the standard AAS error body.
fn assert_405(r: &Resp, what: &str, expected: &[&str]) {
    assert_eq!(
        r.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{what}: {}",
        r.body
    );
    let allow = r
        .allow
        .as_deref()
        .unwrap_or_else(|| panic!("{what}: 405 without an Allow header"));
    let want: BTreeSet<String> = expected.iter().map(|m| (*m).to_owned()).collect();
    assert_eq!(set(allow), want, "{what}: Allow {allow:?}");
    let msgs = r.body["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 1, "{what}");
    let m = msgs[0].as_object().expect("message object");
    let mut keys: Vec<&str> = m.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["code", "correlationId", "messageType", "text", "timestamp"],
        "{what}"
    );
    assert_eq!(m["code"], json!("405"), "{what}");
    assert_eq!(m["messageType"], json!("Error"), "{what}");
}

fn state(dir: &tempfile::TempDir) -> AppState {
    let store = store::Db::open(&dir.path().join("twins.db")).expect("open store");
    AppState::new(store, "http://127.0.0.1:1/api/v3.0")
}

/// One path of each kind of endpoint with the methods it serves.
fn routes() -> Vec<(String, &'static [&'static str])> {
    let aas = encode("urn:test:aas:1");
    let sm = encode("urn:test:sm:1");
    vec![
        ("/shells".into(), &["GET", "POST"]),
        ("/shells/$reference".into(), &["GET"]),
        (format!("/shells/{aas}"), ONE),
        (format!("/shells/{aas}/asset-information"), &["GET", "PUT"]),
        (format!("/shells/{aas}/submodel-refs"), &["GET", "POST"]),
        (format!("/shells/{aas}/submodel-refs/{sm}"), &["DELETE"]),
        (format!("/shells/{aas}/submodels/{sm}"), SUBMODEL),
        (
            format!("/shells/{aas}/submodels/{sm}/$value"),
            &["GET", "PATCH"],
        ),
        (format!("/shells/{aas}/submodels/{sm}/$reference"), &["GET"]),
        (
            format!("/shells/{aas}/submodels/{sm}/submodel-elements/Speed"),
            ELEMENT,
        ),
        (
            format!("/shells/{aas}/submodels/{sm}/submodel-elements/Speed/$metadata"),
            &["GET", "PATCH"],
        ),
        ("/submodels".into(), &["GET", "POST"]),
        ("/submodels/$metadata".into(), &["GET"]),
        (format!("/submodels/{sm}"), SUBMODEL),
        (format!("/submodels/{sm}/$value"), &["GET", "PATCH"]),
        (format!("/submodels/{sm}/$metadata"), &["GET", "PATCH"]),
        (format!("/submodels/{sm}/$path"), &["GET"]),
        (
            format!("/submodels/{sm}/submodel-elements"),
            &["GET", "POST"],
        ),
        (format!("/submodels/{sm}/submodel-elements/$path"), &["GET"]),
        (
            format!("/submodels/{sm}/submodel-elements/Caps.Speed%5B0%5D"),
            ELEMENT,
        ),
        (
            format!("/submodels/{sm}/submodel-elements/Caps.Speed/$value"),
            &["GET", "PATCH"],
        ),
        (
            format!("/submodels/{sm}/submodel-elements/Caps.Speed/$reference"),
            &["GET"],
        ),
        ("/concept-descriptions".into(), &["GET", "POST"]),
        (format!("/concept-descriptions/{sm}"), ONE),
        ("/shell-descriptors".into(), &["GET", "POST"]),
        (format!("/shell-descriptors/{aas}"), ONE),
        (
            format!("/shell-descriptors/{aas}/submodel-descriptors"),
            &["GET", "POST"],
        ),
        (
            format!("/shell-descriptors/{aas}/submodel-descriptors/{sm}"),
            ONE,
        ),
        ("/submodel-descriptors".into(), &["GET", "POST"]),
        (format!("/submodel-descriptors/{sm}"), ONE),
        ("/lookup/shells".into(), &["GET"]),
        (format!("/lookup/shells/{aas}"), &["GET", "POST", "DELETE"]),
        ("/description".into(), &["GET"]),
        ("/serialization".into(), &["GET"]),
    ]
}

#[test]
fn unsupported_methods_get_405_with_the_allow_set_and_served_ones_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = state(&dir);
    for (path, served) in routes() {
        for m in methods() {
            let r = call(&st, &m, &path);
            let what = format!("{m} {path}");
            if served.contains(&m.as_str()) {
                // served: answered by its handler (an empty store gives 404,
                // an empty body 400), never refused as a method or failing
                assert!(
                    r.status != StatusCode::METHOD_NOT_ALLOWED
                        && r.status != StatusCode::INTERNAL_SERVER_ERROR,
                    "{what}: {} {}",
                    r.status,
                    r.body
                );
                assert_eq!(r.allow, None, "{what}");
            } else {
                assert_405(&r, &what, served);
            }
        }
    }
}

#[test]
fn method_is_checked_before_a_malformed_identifier() {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = state(&dir);
    // `!` and `*` are no base64url characters
    let bad = "not*base64url!";
    let sm = encode("urn:test:sm:1");
    let cases: Vec<(String, Method, &[&str])> = vec![
        (format!("/shells/{bad}"), Method::PATCH, ONE),
        (
            format!("/shells/{bad}/submodel-refs"),
            Method::PUT,
            &["GET", "POST"],
        ),
        (
            format!("/shells/{sm}/submodel-refs/{bad}"),
            Method::GET,
            &["DELETE"],
        ),
        (format!("/submodels/{bad}"), Method::POST, SUBMODEL),
        (
            format!("/submodels/{bad}/submodel-elements/Speed"),
            Method::TRACE,
            ELEMENT,
        ),
        (
            format!("/submodels/{sm}/submodel-elements/..bad..path"),
            Method::TRACE,
            ELEMENT,
        ),
        (
            format!("/submodels/{bad}/$value"),
            Method::PUT,
            &["GET", "PATCH"],
        ),
        (format!("/concept-descriptions/{bad}"), Method::POST, ONE),
        (format!("/shell-descriptors/{bad}"), Method::TRACE, ONE),
        (
            format!("/shell-descriptors/{sm}/submodel-descriptors/{bad}"),
            Method::POST,
            ONE,
        ),
        (format!("/submodel-descriptors/{bad}"), Method::PATCH, ONE),
        (
            format!("/lookup/shells/{bad}"),
            Method::PUT,
            &["GET", "POST", "DELETE"],
        ),
    ];
    for (path, m, served) in cases {
        assert_405(&call(&st, &m, &path), &format!("{m} {path}"), served);
        // the same path with a method it serves: the identifier is rejected
        let ok_method = Method::from_bytes(served[0].as_bytes()).expect("method");
        let r = call(&st, &ok_method, &path);
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{ok_method} {path}: {}",
            r.body
        );
        assert_eq!(r.allow, None, "{ok_method} {path}");
    }
}

#[test]
fn paths_that_are_no_endpoint_are_404_for_every_method() {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = state(&dir);
    let aas = encode("urn:test:aas:1");
    let sm = encode("urn:test:sm:1");
    for path in [
        "/".to_owned(),
        "/nothing".into(),
        "/description/more".into(),
        "/submodels/$unknown".into(),
        format!("/shells/{aas}/unknown"),
        format!("/shells/{aas}/submodels"),
        format!("/submodels/{sm}/submodel-elements/Speed/unknown"),
        format!("/submodels/{sm}/submodel-elements/$unknown"),
        "/lookup/unknown".into(),
    ] {
        for m in methods() {
            let r = call(&st, &m, &path);
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{m} {path}: {}", r.body);
            assert_eq!(r.allow, None, "{m} {path}");
        }
    }
}
