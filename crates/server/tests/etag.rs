//! Conditional requests: every AAS object answers GET with an `ETag`; a write
//! with an `If-Match` naming an earlier state is refused 412 with the AAS
//! error body and changes nothing. On SQLite and (when ATMPFLOW_TEST_PG is
//! set) on PostgreSQL.

use std::sync::{Arc, Barrier};

use aas::ids::encode;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use server::AppState;

mod support;
use support::{Resp, call_json};

fn get(st: &AppState, path: &str) -> Resp {
    call_json(st, Method::GET, path, None, &Value::Null)
}

/// A 412 with exactly the AAS error body.
fn assert_412(r: &Resp, ctx: &str) {
    assert_eq!(
        r.status,
        StatusCode::PRECONDITION_FAILED,
        "{ctx}: {}",
        r.body
    );
    let m = &r.body["messages"][0];
    assert_eq!(m["code"], json!("412"), "{ctx}");
    assert_eq!(m["messageType"], json!("Error"), "{ctx}");
    assert!(
        m["text"].as_str().is_some_and(|t| t.contains("If-Match")),
        "{ctx}: {m}"
    );
    assert!(m["correlationId"].is_string() && m["timestamp"].is_string());
}

const AAS: &str = "urn:test:aas:etag";
const SM: &str = "urn:test:sm:etag";

fn shell(global: &str) -> Value {
    json!({
        "modelType": "AssetAdministrationShell",
        "id": AAS,
        "idShort": "EtagShell",
        "assetInformation": {"assetKind": "Instance", "globalAssetId": global},
        "submodels": [{"type": "ModelReference", "keys": [{"type": "Submodel", "value": SM}]}]
    })
}

fn submodel(value: &str) -> Value {
    json!({
        "modelType": "Submodel",
        "id": SM,
        "idShort": "EtagSubmodel",
        "submodelElements": [
            {"modelType": "Property", "idShort": "Speed", "valueType": "xs:string", "value": value},
            {"modelType": "Property", "idShort": "Other", "valueType": "xs:string", "value": "o"}
        ]
    })
}

#[test]
fn stale_if_match_is_refused_412_and_changes_nothing() {
    support::each_state(|db, st| {
        let sp = format!("/shells/{}", encode(AAS));
        let mp = format!("/submodels/{}", encode(SM));
        let null = Value::Null;
        assert_eq!(
            call_json(st, Method::POST, "/submodels", None, &submodel("1")).status,
            StatusCode::CREATED
        );
        assert_eq!(
            call_json(st, Method::POST, "/shells", None, &shell("urn:a:1")).status,
            StatusCode::CREATED
        );

        // GET carries an ETag, the same while nothing changes
        let r = get(st, &sp);
        assert_eq!(r.status, StatusCode::OK, "{db}");
        let t1 = r.etag.clone().expect("ETag on GET shell");
        assert!(t1.starts_with('"') && t1.ends_with('"'), "{db}: {t1}");
        assert_eq!(get(st, &sp).etag.as_deref(), Some(t1.as_str()), "{db}");
        // sub-resources of the shell carry the shell's tag
        assert_eq!(
            get(st, &format!("{sp}/asset-information")).etag.as_deref(),
            Some(t1.as_str()),
            "{db}"
        );

        // PUT naming the current state succeeds and changes the tag
        let r = call_json(st, Method::PUT, &sp, Some(&t1), &shell("urn:a:2"));
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{db}: {}", r.body);
        let t2 = get(st, &sp).etag.expect("ETag");
        assert_ne!(t1, t2, "{db}");

        // a PUT, a sub-resource PUT and a DELETE naming the earlier state: 412
        assert_412(
            &call_json(st, Method::PUT, &sp, Some(&t1), &shell("urn:a:lost")),
            db,
        );
        assert_412(
            &call_json(
                st,
                Method::PUT,
                &format!("{sp}/asset-information"),
                Some(&t1),
                &json!({"assetKind": "Instance", "globalAssetId": "urn:a:lost"}),
            ),
            db,
        );
        assert_412(&call_json(st, Method::DELETE, &sp, Some(&t1), &null), db);
        // weak tags never match; a list matches if one of its tags does
        assert_412(
            &call_json(st, Method::DELETE, &sp, Some(&format!("W/{t2}")), &null),
            db,
        );
        // nothing of the refused writes is stored, the tag is unchanged
        let r = get(st, &sp);
        assert_eq!(
            r.body["assetInformation"]["globalAssetId"],
            json!("urn:a:2"),
            "{db}"
        );
        assert_eq!(r.etag.as_deref(), Some(t2.as_str()), "{db}");
        let r = get(st, &format!("/lookup/shells/{}", encode(AAS)));
        assert_eq!(r.body[0]["value"], json!("urn:a:2"), "{db}: {}", r.body);

        // submodel elements: a change of one element changes the submodel's tag,
        // so a write to another element naming the old tag is refused
        let s1 = get(st, &mp).etag.expect("ETag on GET submodel");
        let speed = format!("{mp}/submodel-elements/Speed");
        let other = format!("{mp}/submodel-elements/Other");
        assert_eq!(get(st, &speed).etag.as_deref(), Some(s1.as_str()), "{db}");
        let el = |v: &str| json!({"modelType": "Property", "idShort": "Speed", "valueType": "xs:string", "value": v});
        let r = call_json(st, Method::PUT, &speed, Some(&s1), &el("2"));
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{db}: {}", r.body);
        assert_412(&call_json(st, Method::DELETE, &other, Some(&s1), &null), db);
        // the same element through the shell
        let via = format!("{sp}/submodels/{}/submodel-elements/Speed", encode(SM));
        assert_412(&call_json(st, Method::PUT, &via, Some(&s1), &el("3")), db);
        assert_eq!(get(st, &speed).body["value"], json!("2"), "{db}");
        let s2 = get(st, &via).etag.expect("ETag through the shell");
        let r = call_json(
            st,
            Method::PUT,
            &via,
            Some(&format!("\"nope\", {s2}")),
            &el("3"),
        );
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{db}: {}", r.body);
        assert_eq!(get(st, &speed).body["value"], json!("3"), "{db}");

        // DELETE naming the current state succeeds; afterwards any If-Match,
        // even `*`, fails: the object does not exist
        let t3 = get(st, &sp).etag.expect("ETag");
        let r = call_json(st, Method::DELETE, &sp, Some(&t3), &null);
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{db}: {}", r.body);
        assert_412(
            &call_json(st, Method::PUT, &sp, Some("*"), &shell("urn:a:3")),
            db,
        );

        // concept descriptions and descriptors too
        let cd =
            json!({"modelType": "ConceptDescription", "id": "urn:test:cd:etag", "idShort": "Cd"});
        let cp = format!("/concept-descriptions/{}", encode("urn:test:cd:etag"));
        assert_eq!(
            call_json(st, Method::POST, "/concept-descriptions", None, &cd).status,
            StatusCode::CREATED
        );
        let c1 = get(st, &cp).etag.expect("ETag on GET concept description");
        assert_eq!(
            call_json(st, Method::PUT, &cp, Some(&c1), &cd).status,
            StatusCode::NO_CONTENT
        );
        assert_412(&call_json(st, Method::PUT, &cp, Some(&c1), &cd), db);
        let dp = format!("/submodel-descriptors/{}", encode(SM));
        let d1 = get(st, &dp).etag.expect("ETag on GET submodel descriptor");
        assert_eq!(
            call_json(st, Method::PUT, &mp, None, &submodel("4")).status,
            StatusCode::NO_CONTENT
        );
        // the descriptor was re-registered with the submodel: its tag moved on
        assert_412(&call_json(st, Method::DELETE, &dp, Some(&d1), &null), db);

        // lists carry no tag; a malformed If-Match is a located 400
        assert_eq!(get(st, "/shells").etag, None, "{db}");
        let r = call_json(st, Method::DELETE, &cp, Some("not-a-tag"), &null);
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{db}");
        assert!(
            r.body["messages"][0]["text"]
                .as_str()
                .is_some_and(|t| t.contains("If-Match")),
            "{db}: {}",
            r.body
        );
        assert_eq!(get(st, &cp).status, StatusCode::OK, "{db}");
    });
}

/// Two writers read the same state and both write naming it: exactly one
/// wins, the other gets 412, and the winner's change is what is stored.
#[test]
fn of_two_writers_naming_one_state_exactly_one_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (db, st) in support::named_states(dir.path()) {
        let mp = format!("/submodels/{}", encode(SM));
        assert_eq!(
            call_json(&st, Method::POST, "/submodels", None, &submodel("0")).status,
            StatusCode::CREATED
        );
        let st = Arc::new(st);
        for round in 0..10 {
            let tag = get(&st, &mp).etag.expect("ETag");
            let gate = Arc::new(Barrier::new(2));
            let handles: Vec<_> = (0..2)
                .map(|w| {
                    let (st, gate, tag, mp) = (st.clone(), gate.clone(), tag.clone(), mp.clone());
                    std::thread::spawn(move || {
                        gate.wait();
                        let v = format!("r{round}w{w}");
                        let r = call_json(&st, Method::PUT, &mp, Some(&tag), &submodel(&v));
                        (r.status, v)
                    })
                })
                .collect();
            let results: Vec<(StatusCode, String)> = handles
                .into_iter()
                .map(|h| h.join().expect("writer"))
                .collect();
            let won: Vec<&String> = results
                .iter()
                .filter(|(s, _)| *s == StatusCode::NO_CONTENT)
                .map(|(_, v)| v)
                .collect();
            let lost = results
                .iter()
                .filter(|(s, _)| *s == StatusCode::PRECONDITION_FAILED)
                .count();
            assert_eq!((won.len(), lost), (1, 1), "{db} round {round}: {results:?}");
            let stored = get(&st, &format!("{mp}/submodel-elements/Speed"));
            assert_eq!(stored.body["value"], json!(won[0]), "{db} round {round}");
        }
    }
}
