//! Users, API tokens, password checks and the audit trail, on SQLite and
//! (when ATMPFLOW_TEST_PG is set) on PostgreSQL.

use store::auth::{self, AuthError, NewUser, Role, Timestamp};
use store::{Db, testing};

fn each_engine(test: impl Fn(&Db)) {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in testing::urls(dir.path()) {
        let db = Db::connect(&url).expect("open");
        test(&db);
    }
}

/// 2026-12-03T12:00:00Z
const NOW: Timestamp = Timestamp(1_796_299_200);
const PW: &str = "correct horse battery";

fn add(db: &Db, name: &str, password: Option<&str>, roles: &[Role]) {
    auth::add_user(
        db,
        "os:admin",
        &NewUser {
            name,
            display_name: "Dr. Ana Müller",
            password,
            roles,
        },
        NOW,
    )
    .expect("add user");
}

#[test]
fn users_are_added_listed_and_never_reused() {
    each_engine(|db| {
        assert!(!auth::has_users(db).expect("has users"));
        add(db, "ana", Some(PW), &[Role::Qa, Role::Reader]);
        add(db, "bioreactor-1", None, &[Role::Writer]);
        let users = auth::list_users(db).expect("list");
        assert_eq!(users.len(), 2);
        let ana = &users[0];
        assert_eq!(ana.name, "ana");
        assert_eq!(ana.roles, vec![Role::Reader, Role::Qa]);
        assert!(ana.has_password && !ana.disabled);
        assert_eq!(ana.created_by, "os:admin");
        assert_eq!(ana.created_at, "2026-12-03T12:00:00Z");
        assert_eq!(ana.changed_at, ana.created_at);
        assert!(!users[1].has_password);
        // the same name again, even after disabling, is refused
        auth::set_disabled(db, "os:admin", "ana", true, "left the company", NOW).expect("disable");
        let r = auth::add_user(
            db,
            "os:admin",
            &NewUser {
                name: "ana",
                display_name: "Another Ana",
                password: Some(PW),
                roles: &[Role::Reader],
            },
            NOW,
        );
        assert!(
            matches!(r, Err(AuthError::UserExists(ref n)) if n == "ana"),
            "{r:?}"
        );
        assert_eq!(auth::list_users(db).expect("list").len(), 2);
    });
}

#[test]
fn bad_values_are_refused_naming_the_field() {
    each_engine(|db| {
        type Case<'a> = (&'a str, &'a str, Option<&'a str>, &'a [Role], &'a str);
        let cases: [Case<'_>; 5] = [
            ("Ana", "Ana", Some(PW), &[Role::Reader], "user name"),
            ("ana", "", Some(PW), &[Role::Reader], "display name"),
            (
                "ana",
                "Ana\u{202E}",
                Some(PW),
                &[Role::Reader],
                "display name",
            ),
            (
                "ana",
                "Ana",
                Some("short"),
                &[Role::Reader],
                "password: has 5 characters",
            ),
            ("ana", "Ana", Some(PW), &[], "roles"),
        ];
        for (name, display_name, password, roles, needle) in cases {
            let e = auth::add_user(
                db,
                "os:admin",
                &NewUser {
                    name,
                    display_name,
                    password,
                    roles,
                },
                NOW,
            )
            .expect_err(needle);
            assert!(matches!(e, AuthError::Invalid { .. }), "{e:?}");
            assert!(e.to_string().contains(needle), "{e} lacks {needle:?}");
        }
        assert!(auth::list_users(db).expect("list").is_empty());
        assert!(auth::audit_trail(db, 10).expect("audit").is_empty());
    });
}

/// The stored password hash of user `name`, as the database holds it.
fn password_hash(db: &Db, name: &str) -> String {
    let row = db
        .read(|tx| {
            tx.query_opt(
                "SELECT password_hash FROM auth_users WHERE name = $1",
                &[name.into()],
            )
        })
        .expect("read")
        .expect("row");
    row.text(0).expect("hash").to_string()
}

#[test]
fn the_password_is_stored_only_as_an_argon2id_hash() {
    each_engine(|db| {
        add(db, "ana", Some(PW), &[Role::Qa]);
        let phc = password_hash(db, "ana");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains(PW));
        // a second user with the same password gets another salt
        add(db, "ben", Some(PW), &[Role::Qa]);
        assert_ne!(password_hash(db, "ben"), phc);
    });
}

#[test]
fn verify_password_for_signatures_and_lockout() {
    each_engine(|db| {
        add(db, "qp", Some(PW), &[Role::QualifiedPerson]);
        add(db, "device", None, &[Role::Writer]);
        let u = auth::verify_password(db, "qp", PW, "signature: released batch B1", NOW)
            .expect("right password");
        assert_eq!(u.name, "qp");
        assert_eq!(u.roles, vec![Role::QualifiedPerson]);
        // the same refusal for a wrong password, an unknown user and an
        // account without password
        let refused = |name: &str, pw: &str| match auth::verify_password(db, name, pw, "login", NOW)
        {
            Err(AuthError::Unauthenticated(m)) => m,
            other => panic!("{name}: expected a refusal, got {other:?}"),
        };
        let m1 = refused("qp", "wrong password!");
        assert_eq!(m1, refused("nobody", PW));
        assert_eq!(m1, refused("device", PW));
        assert_eq!(m1, refused("NOT A NAME", PW));
        assert_eq!(auth::user(db, "qp").expect("user").failed_logins, 1);
        // a right password resets the count
        auth::verify_password(db, "qp", PW, "login", NOW).expect("right again");
        assert_eq!(auth::user(db, "qp").expect("user").failed_logins, 0);
        for i in 1..auth::MAX_FAILED_LOGINS {
            refused("qp", "wrong password!");
            assert_eq!(auth::user(db, "qp").expect("user").failed_logins, i);
        }
        let m = refused("qp", "wrong password!");
        assert!(m.contains("locked"), "{m}");
        assert!(auth::user(db, "qp").expect("user").disabled);
        // locked: even the right password is refused
        refused("qp", PW);
        auth::set_disabled(db, "os:admin", "qp", false, "identity checked", NOW).expect("enable");
        auth::verify_password(db, "qp", PW, "login", NOW).expect("enabled again");
        let trail = auth::audit_trail(db, 100).expect("audit");
        let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
        assert!(actions.contains(&"user.lock"), "{actions:?}");
        let sig = trail
            .iter()
            .find(|e| e.action == "password.ok")
            .expect("first check recorded");
        assert_eq!(
            (sig.actor.as_str(), sig.detail.as_str()),
            ("qp", "signature: released batch B1")
        );
        // sequence numbers are consecutive, in order
        for (i, e) in trail.iter().enumerate() {
            assert_eq!(e.seq, i as i64 + 1, "{e:?}");
        }
    });
}

#[test]
fn set_password_replaces_the_old_one() {
    each_engine(|db| {
        add(db, "ana", Some(PW), &[Role::Qa]);
        let new = "a much better passphrase";
        auth::set_password(db, "ana", "ana", new, NOW).expect("set");
        assert!(auth::verify_password(db, "ana", PW, "login", NOW).is_err());
        auth::verify_password(db, "ana", new, "login", NOW).expect("new password");
        assert!(matches!(
            auth::set_password(db, "os:admin", "nobody", new, NOW),
            Err(AuthError::NoSuchUser(_))
        ));
    });
}

#[test]
fn tokens_are_stored_only_as_hashes_and_authenticate() {
    each_engine(|db| {
        add(db, "integration", None, &[Role::Reader, Role::Writer]);
        let t = auth::create_token(db, "os:admin", "integration", &[], "MES link", None, NOW)
            .expect("token");
        assert!(
            t.secret.starts_with("atf_") && t.secret.len() == 68,
            "{}",
            t.secret
        );
        assert_eq!(t.info.prefix, t.secret[..auth::PREFIX_LEN]);
        assert_eq!(t.info.roles, vec![Role::Reader, Role::Writer]);
        assert!(!format!("{t:?}").contains(&t.secret));
        // no column of any row holds the token
        let rows = db
            .read(|tx| tx.query("SELECT * FROM auth_tokens", &[]))
            .expect("rows");
        assert_eq!(rows.len(), 1);
        for v in &rows[0].values {
            if let store::Value::Text(s) = v {
                assert!(!s.contains(&t.secret[auth::PREFIX_LEN..]), "{s}");
            }
        }
        let p = auth::authenticate(db, &t.secret, NOW).expect("valid");
        assert_eq!(p.user, "integration");
        assert_eq!(p.token, t.info.prefix);
        assert!(p.can_read() && p.can_write() && !p.has(Role::Admin));
        // one changed character, or a token of the wrong form
        let mut wrong = t.secret.clone();
        let last = if wrong.ends_with('0') { "1" } else { "0" };
        wrong.replace_range(67.., last);
        for bad in [
            wrong.as_str(),
            "",
            "atf_",
            &t.secret.to_uppercase(),
            "Basic abc",
        ] {
            assert!(
                matches!(
                    auth::authenticate(db, bad, NOW),
                    Err(AuthError::Unauthenticated(_))
                ),
                "{bad:?}"
            );
        }
    });
}

#[test]
fn token_roles_are_a_subset_of_the_owners() {
    each_engine(|db| {
        add(db, "ana", Some(PW), &[Role::Reader, Role::Writer]);
        let t = auth::create_token(db, "ana", "ana", &[Role::Reader], "", None, NOW)
            .expect("reader token");
        let p = auth::authenticate(db, &t.secret, NOW).expect("valid");
        assert_eq!(p.roles, vec![Role::Reader]);
        assert!(p.can_read() && !p.can_write());
        let e = auth::create_token(db, "ana", "ana", &[Role::Admin], "", None, NOW)
            .expect_err("not held");
        assert!(
            e.to_string().contains("does not hold the role admin"),
            "{e}"
        );
        assert!(matches!(
            auth::create_token(db, "ana", "nobody", &[], "", None, NOW),
            Err(AuthError::NoSuchUser(_))
        ));
        let e = auth::create_token(db, "ana", "ana", &[], "", Some(NOW), NOW)
            .expect_err("expired at birth");
        assert!(e.to_string().starts_with("expiry:"), "{e}");
    });
}

#[test]
fn revoked_and_expired_tokens_and_disabled_users_are_refused_at_once() {
    each_engine(|db| {
        add(db, "dev", None, &[Role::Writer]);
        let later = NOW.plus_days(30);
        let a = auth::create_token(db, "os:admin", "dev", &[], "a", None, NOW).expect("a");
        let b = auth::create_token(db, "os:admin", "dev", &[], "b", Some(later), NOW).expect("b");
        auth::authenticate(db, &a.secret, NOW).expect("a valid");
        auth::authenticate(db, &b.secret, NOW).expect("b valid");
        let refusal = |secret: &str, at: Timestamp| match auth::authenticate(db, secret, at) {
            Err(AuthError::Unauthenticated(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        };
        // expiry
        assert!(refusal(&b.secret, later).contains("expired at 2027-01-02T12:00:00Z"));
        auth::authenticate(db, &b.secret, Timestamp(later.0 - 1)).expect("just before");
        // revocation, by prefix
        let r = auth::revoke_token(db, "os:admin", &a.info.prefix, "device replaced", NOW)
            .expect("revoke");
        assert_eq!(r.revoked_by.as_deref(), Some("os:admin"));
        assert_eq!(r.state(NOW), "revoked");
        assert!(refusal(&a.secret, NOW).contains("revoked"));
        // twice is fine, an unknown prefix is not
        auth::revoke_token(db, "os:admin", &a.info.prefix, "", NOW).expect("again");
        assert!(matches!(
            auth::revoke_token(db, "os:admin", "atf_000000000000", "", NOW),
            Err(AuthError::NoSuchToken(_))
        ));
        // a disabled user's tokens stop working, and work again when enabled
        auth::set_disabled(db, "os:admin", "dev", true, "", NOW).expect("disable");
        assert!(refusal(&b.secret, NOW).contains("disabled"));
        assert!(auth::create_token(db, "os:admin", "dev", &[], "", None, NOW).is_err());
        auth::set_disabled(db, "os:admin", "dev", false, "", NOW).expect("enable");
        auth::authenticate(db, &b.secret, NOW).expect("b valid again");
        let list = auth::list_tokens(db, Some("dev")).expect("list");
        assert_eq!(list.len(), 2);
        let states: Vec<&str> = list.iter().map(|t| t.state(later)).collect();
        assert!(
            states.contains(&"revoked") && states.contains(&"expired"),
            "{states:?}"
        );
        assert!(
            auth::list_tokens(db, Some("nobody"))
                .expect("list")
                .is_empty()
        );
    });
}

#[test]
fn the_audit_trail_is_append_only() {
    each_engine(|db| {
        add(db, "ana", Some(PW), &[Role::Admin]);
        let t = auth::create_token(db, "ana", "ana", &[], "", None, NOW).expect("token");
        auth::revoke_token(db, "ana", &t.info.prefix, "test", NOW).expect("revoke");
        let trail = auth::audit_trail(db, 10).expect("audit");
        let got: Vec<(&str, &str, &str)> = trail
            .iter()
            .map(|e| (e.actor.as_str(), e.action.as_str(), e.subject.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("os:admin", "user.add", "ana"),
                ("ana", "token.create", t.info.prefix.as_str()),
                ("ana", "token.revoke", t.info.prefix.as_str()),
            ]
        );
        assert!(trail.iter().all(|e| e.at == "2026-12-03T12:00:00Z"));
        for sql in [
            "UPDATE auth_audit SET actor = 'mallory'",
            "DELETE FROM auth_audit",
        ] {
            let r = db.transaction(|tx| tx.execute(sql, &[]));
            let e = r.expect_err(sql).to_string();
            assert!(e.contains("append-only"), "{sql}: {e}");
        }
        assert_eq!(auth::audit_trail(db, 10).expect("audit"), trail);
        // the last n, oldest first
        let last = auth::audit_trail(db, 2).expect("audit");
        assert_eq!(last, trail[1..]);
    });
}

#[test]
fn users_and_tokens_survive_a_backup_and_restore() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, url) in testing::urls(dir.path()).into_iter().enumerate() {
        let db = Db::connect(&url).expect("open");
        add(&db, "ana", Some(PW), &[Role::Reader]);
        let t = auth::create_token(&db, "os:admin", "ana", &[], "", None, NOW).expect("token");
        // tokens sort before users: the owner check waits for the commit
        let copy = Db::connect(&dir.path().join(format!("copy{i}.db")).display().to_string())
            .expect("open copy");
        store::copy::copy(&db, &copy).expect("copy");
        assert_eq!(
            auth::authenticate(&copy, &t.secret, NOW)
                .expect("token works")
                .user,
            "ana"
        );
        auth::verify_password(&copy, "ana", PW, "login", NOW).expect("password works");
        assert_eq!(auth::audit_trail(&copy, 10).expect("audit").len(), 3);
    }
}
