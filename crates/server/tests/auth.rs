//! Authentication and roles on every request: 401 (with `WWW-Authenticate:
//! Bearer`) without valid credentials, 403 for the wrong role, both with the
//! AAS error body; `/description` and `/health` open. On SQLite and (when
//! ATMPFLOW_TEST_PG is set) on PostgreSQL.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use server::AppState;
use store::auth::{self, NewUser, Role, Timestamp};

mod support;
use support::{Resp, call_as};

const CD: &str = r#"{"modelType":"ConceptDescription","id":"urn:test:cd:auth"}"#;

fn states(dir: &std::path::Path) -> Vec<AppState> {
    support::named_states(dir)
        .into_iter()
        .map(|(_, st)| st)
        .collect()
}

fn user(st: &AppState, name: &str, roles: &[Role]) {
    let u = NewUser {
        name,
        display_name: name,
        password: None,
        roles,
    };
    auth::add_user(&st.store, "test", &u, Timestamp::now()).expect("user");
}

fn token(st: &AppState, owner: &str, roles: &[Role]) -> String {
    let now = Timestamp::now();
    auth::create_token(&st.store, "test", owner, roles, "", None, now)
        .expect("token")
        .secret
}

/// Exactly the AAS error body with `status`, its text naming `needle`.
fn assert_refused(r: &Resp, status: StatusCode, needle: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let m = support::only_error_message(&r.body, status);
    let text = m["text"].as_str().expect("text");
    assert!(text.contains(needle), "{text:?} lacks {needle:?}");
    assert_eq!(
        r.www_authenticate.as_deref(),
        (status == StatusCode::UNAUTHORIZED).then_some("Bearer realm=\"atmpflow\""),
    );
}

fn get(st: &AppState, path: &str, token: Option<&str>) -> Resp {
    call_as(st, &Method::GET, path, token, None, b"")
}

fn post_cd(st: &AppState, token: Option<&str>) -> Resp {
    call_as(
        st,
        &Method::POST,
        "/concept-descriptions",
        token,
        None,
        CD.as_bytes(),
    )
}

fn stored_cds(st: &AppState) -> u64 {
    st.store
        .count(store::Kind::ConceptDescription)
        .expect("count")
}

#[test]
fn without_valid_credentials_every_request_is_401() {
    support::each_state(|_, st| {
        user(st, "ana", &[Role::Writer]);
        let good = token(st, "ana", &[]);
        let r = get(st, "/shells", None);
        assert_refused(&r, StatusCode::UNAUTHORIZED, "Authorization: Bearer TOKEN");
        // unknown paths do not tell what exists
        assert_refused(
            &get(st, "/no-such-endpoint", None),
            StatusCode::UNAUTHORIZED,
            "needs an API token",
        );
        let mut wrong = good.clone();
        let last = if wrong.ends_with('0') { "1" } else { "0" };
        wrong.replace_range(wrong.len() - 1.., last);
        assert_refused(
            &get(st, "/shells", Some(&wrong)),
            StatusCode::UNAUTHORIZED,
            "unknown token",
        );
        assert_refused(
            &get(st, "/shells", Some("not-a-token")),
            StatusCode::UNAUTHORIZED,
            "not an atmpflow API token",
        );
        // another scheme
        let uri: axum::http::Uri = "/api/v3.0/shells".parse().expect("uri");
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            axum::http::header::AUTHORIZATION,
            "Basic YW5hOnB3".parse().expect("header"),
        );
        let e = server::dispatch_with(st, &Method::GET, &uri, &h, b"").expect_err("basic");
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
        assert!(e.text.contains("\"Basic\" is not accepted"), "{}", e.text);
        // a write without credentials stores nothing
        assert_refused(&post_cd(st, None), StatusCode::UNAUTHORIZED, "API token");
        assert_eq!(stored_cds(st), 0);
        // the right token works (the scheme name is case-insensitive)
        assert_eq!(get(st, "/shells", Some(&good)).status, StatusCode::OK);
        h.insert(
            axum::http::header::AUTHORIZATION,
            format!("bearer {good}").parse().expect("header"),
        );
        let r = server::dispatch_with(st, &Method::GET, &uri, &h, b"").expect("lowercase");
        assert_eq!(r.status(), StatusCode::OK);
    });
}

#[test]
fn revoked_and_expired_tokens_and_disabled_users_are_refused_at_once() {
    support::each_state(|_, st| {
        user(st, "dev", &[Role::Writer]);
        let t = token(st, "dev", &[]);
        assert_eq!(get(st, "/shells", Some(&t)).status, StatusCode::OK);
        // revoked: refused with the very next request
        let prefix = &t[..auth::PREFIX_LEN];
        auth::revoke_token(&st.store, "test", prefix, "", Timestamp::now()).expect("revoke");
        assert_refused(
            &get(st, "/shells", Some(&t)),
            StatusCode::UNAUTHORIZED,
            "revoked",
        );
        // expired: made two days ago, valid for one
        let then = Timestamp(Timestamp::now().0 - 2 * 86_400);
        let old = auth::create_token(
            &st.store,
            "test",
            "dev",
            &[],
            "",
            Some(then.plus_days(1)),
            then,
        )
        .expect("old token")
        .secret;
        assert_refused(
            &get(st, "/shells", Some(&old)),
            StatusCode::UNAUTHORIZED,
            "expired",
        );
        // disabled user
        let t2 = token(st, "dev", &[]);
        assert_eq!(post_cd(st, Some(&t2)).status, StatusCode::CREATED);
        auth::set_disabled(&st.store, "test", "dev", true, "", Timestamp::now()).expect("disable");
        assert_refused(
            &get(st, "/shells", Some(&t2)),
            StatusCode::UNAUTHORIZED,
            "disabled",
        );
        auth::set_disabled(&st.store, "test", "dev", false, "", Timestamp::now()).expect("enable");
        assert_eq!(get(st, "/shells", Some(&t2)).status, StatusCode::OK);
    });
}

#[test]
fn the_wrong_role_is_403_and_changes_nothing() {
    support::each_state(|_, st| {
        user(st, "viewer", &[Role::Reader]);
        user(st, "op", &[Role::Operator]);
        user(st, "mes", &[Role::Reader, Role::Writer]);
        user(st, "root", &[Role::Admin]);
        let reader = token(st, "viewer", &[]);
        assert_eq!(get(st, "/shells", Some(&reader)).status, StatusCode::OK);
        let r = post_cd(st, Some(&reader));
        assert_refused(&r, StatusCode::FORBIDDEN, "needs the role writer or admin");
        assert_refused(&r, StatusCode::FORBIDDEN, "user `viewer`");
        for m in [Method::PUT, Method::DELETE] {
            let r = call_as(
                st,
                &m,
                &format!(
                    "/concept-descriptions/{}",
                    aas::ids::encode("urn:test:cd:auth")
                ),
                Some(&reader),
                None,
                CD.as_bytes(),
            );
            assert_refused(&r, StatusCode::FORBIDDEN, "writer or admin");
        }
        assert_eq!(stored_cds(st), 0);
        // a batch role alone grants nothing on the AAS API
        let op = token(st, "op", &[]);
        assert_refused(
            &get(st, "/shells", Some(&op)),
            StatusCode::FORBIDDEN,
            "reader, writer or admin; user `op` (token atf_",
        );
        // a token restricted to reading cannot write, though its owner could
        let mes_read = token(st, "mes", &[Role::Reader]);
        assert_refused(
            &post_cd(st, Some(&mes_read)),
            StatusCode::FORBIDDEN,
            "has reader",
        );
        let mes = token(st, "mes", &[]);
        assert_eq!(post_cd(st, Some(&mes)).status, StatusCode::CREATED);
        let admin = token(st, "root", &[]);
        assert_eq!(
            call_as(
                st,
                &Method::DELETE,
                &format!(
                    "/concept-descriptions/{}",
                    aas::ids::encode("urn:test:cd:auth")
                ),
                Some(&admin),
                None,
                b"",
            )
            .status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(stored_cds(st), 0);
    });
}

#[test]
fn description_and_health_are_open() {
    support::each_state(|_, st| {
        let r = get(st, "/description", None);
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body["profiles"].is_array(), "{}", r.body);
        let r = get(st, "/health", None);
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, json!({"status": "ok"}));
        let r = call_as(st, &Method::POST, "/health", None, None, b"{}");
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.allow.as_deref(), Some("GET"));
        // only reading the description is open
        let r = call_as(st, &Method::POST, "/description", None, None, b"{}");
        assert_refused(&r, StatusCode::UNAUTHORIZED, "API token");
        assert_eq!(r.body["messages"][0]["messageType"], Value::from("Error"));
    });
}

/// A principal for another route module: `authenticate` and `require_role`.
#[test]
fn other_route_modules_get_the_principal_from_the_headers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = &states(dir.path())[0];
    user(st, "qp", &[Role::QualifiedPerson, Role::Reader]);
    let t = token(st, "qp", &[]);
    let mut h = axum::http::HeaderMap::new();
    h.insert(
        axum::http::header::AUTHORIZATION,
        format!("Bearer {t}").parse().expect("header"),
    );
    let p = server::auth::authenticate(&st.store, &h).expect("principal");
    assert_eq!(p.user, "qp");
    assert_eq!(p.roles, vec![Role::Reader, Role::QualifiedPerson]);
    server::auth::require_role(&p, &[Role::QualifiedPerson], "release").expect("qp releases");
    let e = server::auth::require_role(&p, &[Role::Qa], "review").expect_err("not QA");
    assert_eq!(e.status, StatusCode::FORBIDDEN);
    assert!(
        e.text.contains("review needs one of the roles qa"),
        "{}",
        e.text
    );
    let e = server::auth::require(&p, server::auth::Access::Admin, "user list").expect_err("admin");
    assert!(e.text.contains("needs the role admin"), "{}", e.text);
    // two Authorization headers are refused
    h.append(
        axum::http::header::AUTHORIZATION,
        format!("Bearer {t}").parse().expect("header"),
    );
    let e = server::auth::authenticate(&st.store, &h).expect_err("two headers");
    assert_eq!(e.status, StatusCode::UNAUTHORIZED);
}
