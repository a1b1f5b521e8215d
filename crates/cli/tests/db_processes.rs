//! Several `atmpflow serve` processes on one database (a SQLite file, and
//! PostgreSQL when ATMPFLOW_TEST_PG is set): concurrent writes to the same
//! record and to different records through both servers lose nothing.

#[path = "support/serve.rs"]
mod serve;
use serve::Server;

/// The API tokens of the servers started, by base URL.
static TOKENS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// `atmpflow serve` on `db` with a writer's token (user `writer`, added
/// unless an earlier server on the same database added it).
fn serve(db: &str) -> Server {
    let _ = serve::add_user(db, "writer", "writer", None);
    let token = serve::token(db, "writer");
    let server = Server::start(db, &[]);
    TOKENS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((server.base.clone(), token));
    server
}

/// One HTTP/1.1 request (connection closed after it): status and body.
fn call(base: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let (status, _, body) = call_with(base, method, path, "", body);
    (status, body)
}

/// One HTTP/1.1 request with extra header lines (each ending in CRLF):
/// status, response head and body.
fn call_with(
    base: &str,
    method: &str,
    path: &str,
    extra: &str,
    body: &str,
) -> (u16, String, String) {
    let rest = base.strip_prefix("http://").expect("http base");
    let (host, prefix) = rest.split_once('/').expect("base path");
    let token = TOKENS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(b, _)| b == base)
        .map(|(_, t)| t.clone())
        .expect("a server started by this test");
    let a = serve::http(
        host,
        &token,
        method,
        &format!("/{prefix}{path}"),
        extra,
        body,
    )
    .unwrap_or_else(|| panic!("{method} {base}{path}: no whole answer"));
    (a.status, a.head, a.body)
}

/// The `ETag` header of a response head.
fn etag(head: &str) -> String {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("etag").then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no ETag in {head:?}"))
}

/// Runs `test` with two servers `a` and `b` on one database `db`, on every database engine
/// the tests reach: SQLite in a fresh folder, and PostgreSQL when ATMPFLOW_TEST_PG names one.
fn each_database_two_servers(test: impl Fn(&str, &Server, &Server)) {
    let dir = tempfile::tempdir().expect("tempdir");
    for db in store::testing::urls(dir.path()) {
        let a = serve(&db);
        let b = serve(&db);
        test(&db, &a, &b);
    }
}

#[test]
fn two_servers_on_one_database_lose_no_write() {
    each_database_two_servers(|db, a, b| {
        let sm = "urn:test:shared-submodel";
        let (st, body) = call(
            &a.base,
            "POST",
            "/submodels",
            &serde_json::json!({"modelType": "Submodel", "id": sm, "idShort": "Shared"})
                .to_string(),
        );
        assert_eq!(st, 201, "{db}: {body}");
        let sm_path = format!("/submodels/{}", aas::ids::encode(sm));
        let (threads, per) = (4, 8);
        std::thread::scope(|sc| {
            for t in 0..threads {
                let base = if t % 2 == 0 { &a.base } else { &b.base };
                let sm_path = &sm_path;
                let db = &db;
                sc.spawn(move || {
                    for j in 0..per {
                        // the same record through both servers: a new element each
                        let el = serde_json::json!({"modelType": "Property", "idShort": format!("p{t}_{j}"),
                            "valueType": "xs:string", "value": "v"});
                        let (st, body) = call(
                            base,
                            "POST",
                            &format!("{sm_path}/submodel-elements"),
                            &el.to_string(),
                        );
                        assert_eq!(st, 201, "{db}: element p{t}_{j}: {body}");
                        // different records
                        let id = format!("urn:test:shell:{t}:{j}");
                        let shell = serde_json::json!({"modelType": "AssetAdministrationShell", "id": id,
                            "assetInformation": {"assetKind": "Instance", "globalAssetId": format!("urn:asset:{t}:{j}")}});
                        let (st, body) = call(base, "POST", "/shells", &shell.to_string());
                        assert_eq!(st, 201, "{db}: shell {id}: {body}");
                    }
                });
            }
        });
        // every write is there, seen through either server
        for base in [&a.base, &b.base] {
            let (st, body) = call(base, "GET", &sm_path, "");
            assert_eq!(st, 200, "{body}");
            let v: serde_json::Value = serde_json::from_str(&body).expect("json");
            let n = v["submodelElements"].as_array().map_or(0, Vec::len);
            assert_eq!(n, threads * per, "{db}: elements of the shared submodel");
            let (_, body) = call(base, "GET", "/shells", "");
            let v: serde_json::Value = serde_json::from_str(&body).expect("json");
            assert_eq!(
                v["result"].as_array().map_or(0, Vec::len),
                threads * per,
                "{db}: shells"
            );
        }
        // a duplicate create through the other server is refused
        let shell = serde_json::json!({"modelType": "AssetAdministrationShell", "id": "urn:test:shell:0:0",
            "assetInformation": {"assetKind": "Instance", "globalAssetId": "urn:asset:0:0"}});
        let (st, body) = call(&b.base, "POST", "/shells", &shell.to_string());
        assert_eq!(st, 409, "{db}: {body}");
    });
}

/// Optimistic concurrency across processes: an update naming a state that
/// the other server has since replaced is refused 412 and changes nothing,
/// and of many updates racing through both servers with the same `If-Match`
/// exactly one wins; the others get 412 and the record holds the winner.
#[test]
fn a_stale_update_through_another_server_is_refused() {
    each_database_two_servers(|db, a, b| {
        let id = "urn:test:shell:if-match";
        let shell = |tag: &str| {
            serde_json::json!({"modelType": "AssetAdministrationShell", "id": id, "idShort": tag,
                "assetInformation": {"assetKind": "Instance", "globalAssetId": "urn:asset:if-match"}})
            .to_string()
        };
        let path = format!("/shells/{}", aas::ids::encode(id));
        let (st, body) = call(&a.base, "POST", "/shells", &shell("Original"));
        assert_eq!(st, 201, "{db}: {body}");
        let (st, head, _) = call_with(&a.base, "GET", &path, "", "");
        assert_eq!(st, 200, "{db}");
        let seen_by_a = etag(&head);

        // B replaces the shell; A's update still names the state it read
        let (st, head_b, _) = call_with(&b.base, "GET", &path, "", "");
        assert_eq!(
            (st, etag(&head_b)),
            (200, seen_by_a.clone()),
            "{db}: one state, one tag"
        );
        let cond = format!("If-Match: {seen_by_a}\r\n");
        let (st, _, body) = call_with(&b.base, "PUT", &path, &cond, &shell("ByB"));
        assert!((200..300).contains(&st), "{db}: {st} {body}");
        let (st, _, body) = call_with(&a.base, "PUT", &path, &cond, &shell("StaleA"));
        assert_eq!(st, 412, "{db}: a stale update must be refused: {body}");
        for base in [&a.base, &b.base] {
            let (_, body) = call(base, "GET", &path, "");
            let v: serde_json::Value = serde_json::from_str(&body).expect("json");
            assert_eq!(
                v["idShort"], "ByB",
                "{db}: the refused update changed nothing"
            );
        }

        // many updates with the same If-Match at once, through both servers
        let (_, head, _) = call_with(&a.base, "GET", &path, "", "");
        let current = format!("If-Match: {}\r\n", etag(&head));
        let racers = 8;
        let barrier = std::sync::Barrier::new(racers);
        let outcomes: Vec<(usize, u16)> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..racers)
                .map(|t| {
                    let base = if t % 2 == 0 { &a.base } else { &b.base };
                    let (path, current, barrier, shell) = (&path, &current, &barrier, &shell);
                    sc.spawn(move || {
                        let body = shell(&format!("Racer{t}"));
                        barrier.wait();
                        let (st, _, _) = call_with(base, "PUT", path, current, &body);
                        (t, st)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("racer")).collect()
        });
        let winners: Vec<usize> = outcomes
            .iter()
            .filter(|(_, st)| (200..300).contains(st))
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "{db}: exactly one racer wins: {outcomes:?}"
        );
        assert!(
            outcomes
                .iter()
                .all(|(t, st)| *st == 412 || winners.contains(t)),
            "{db}: every other racer gets 412: {outcomes:?}"
        );
        for base in [&a.base, &b.base] {
            let (_, body) = call(base, "GET", &path, "");
            let v: serde_json::Value = serde_json::from_str(&body).expect("json");
            assert_eq!(
                v["idShort"],
                format!("Racer{}", winners[0]),
                "{db}: the record holds the winner's update"
            );
        }
    });
}
