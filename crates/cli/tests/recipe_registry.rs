//! End-to-end: `atmpflow recipe bind --registry URL` against a running
//! `atmpflow serve` (any free port), and `--db PATH` on its database, give the
//! same binding as `--equipment FILE`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn atmpflow() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_atmpflow"));
    c.current_dir(repo(""));
    c
}

/// The API tokens of the servers started, by base URL.
static TOKENS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Runs atmpflow; a `--registry` of a server started here gets its token
/// through ATMPFLOW_TOKEN.
fn run(args: &[&str]) -> Output {
    let mut c = atmpflow();
    c.args(args).env_remove("ATMPFLOW_TOKEN");
    if let Some(url) = args
        .iter()
        .position(|a| *a == "--registry")
        .and_then(|i| args.get(i + 1))
        && let Some((_, t)) = TOKENS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(base, _)| base == url)
    {
        c.env("ATMPFLOW_TOKEN", t);
    }
    c.output().expect("binary runs")
}

/// A reader's API token for the database `db` (user `registry-reader`).
fn reader_token(db: &Path) -> String {
    let db = db.to_str().expect("UTF-8 path");
    // the user may exist from an earlier server on the same database
    let _ = run(&[
        "user",
        "add",
        "registry-reader",
        "--role",
        "reader",
        "--no-password",
        "--db",
        db,
    ]);
    let o = run(&["token", "create", "--user", "registry-reader", "--db", db]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout).trim().to_string()
}

/// Asserts that the command failed and said `needle` on stderr.
fn fails_with(o: &Output, needle: &str) {
    let err = text(&o.stderr);
    assert!(!o.status.success(), "succeeded; stderr: {err}");
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `atmpflow serve` on 127.0.0.1:0; killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(db: &Path, sources: &[&str]) -> Server {
    let token = reader_token(db);
    let mut child = atmpflow()
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--as-of",
            "2026-12-01",
            "--db",
        ])
        .arg(db)
        .args(sources)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("serve prints its address");
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://") || w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    assert!(!base.contains(":0/"), "the bound port is printed: {base}");
    TOKENS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((base.clone(), token));
    Server { child, base }
}

/// The arguments of `atmpflow recipe COMMAND RECIPE SOURCE-FLAG SOURCE --as-of 2026-12-01
/// [EXTRA…]`: a recipe on the equipment of a file or a registry.
fn recipe_on<'a>(
    command: &'a str,
    recipe: &'a str,
    source: [&'a str; 2],
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["recipe", command, recipe];
    args.extend(source);
    args.extend(["--as-of", "2026-12-01"]);
    args.extend(extra);
    args
}

/// Everything after the first line (which names where the equipment came from).
fn body(s: &str) -> &str {
    s.split_once('\n').map_or(s, |x| x.1)
}

#[test]
fn bind_through_the_registry_equals_bind_from_the_inventory_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (recipe, inventory, sources) in [
        (
            "examples/recipes/car-t-modular.toml",
            "examples/equipment/modular-plant.toml",
            vec!["--demo"],
        ),
        (
            "examples/recipes/car-t-all-in-one.toml",
            "examples/equipment/all-in-one.toml",
            vec!["--inventory", "examples/equipment/all-in-one.toml"],
        ),
    ] {
        let db = dir.path().join(format!(
            "{}.db",
            Path::new(recipe)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("x")
        ));
        let from_file = run(&recipe_on("bind", recipe, ["--equipment", inventory], &[]));
        assert!(from_file.status.success(), "{}", text(&from_file.stderr));
        let file_out = text(&from_file.stdout);
        {
            let srv = serve(&db, &sources);
            let o = run(&recipe_on("bind", recipe, ["--registry", &srv.base], &[]));
            let out = text(&o.stdout);
            assert!(o.status.success(), "{out}\n{}", text(&o.stderr));
            assert!(
                out.starts_with("binding of recipe `")
                    && out.lines().next().is_some_and(|l| l.contains(&srv.base)),
                "{out}"
            );
            assert_eq!(body(&out), body(&file_out), "{recipe}");
            assert!(text(&o.stderr).contains("equipment twin(s) in the registry"));

            // --json: identical assignments
            let j = |args: &[&str]| -> serde_json::Value {
                let o = run(args);
                assert!(o.status.success(), "{}", text(&o.stderr));
                serde_json::from_slice(&o.stdout).expect("json")
            };
            let a = j(&recipe_on(
                "bind",
                recipe,
                ["--registry", &srv.base],
                &["--json"],
            ));
            let b = j(&recipe_on(
                "bind",
                recipe,
                ["--equipment", inventory],
                &["--json"],
            ));
            assert_eq!(a["assignments"], b["assignments"]);
            assert!(a["assignments"].as_array().is_some_and(|v| !v.is_empty()));
        }
        // The server is gone: its database's registry, read directly.
        let o = atmpflow()
            .args(["recipe", "bind", recipe, "--as-of", "2026-12-01", "--db"])
            .arg(&db)
            .output()
            .expect("runs");
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert_eq!(body(&text(&o.stdout)), body(&file_out), "{recipe} via --db");
    }
}

#[test]
fn plan_through_the_registry_writes_the_same_scenario_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let srv = serve(&dir.path().join("t.db"), &["--demo"]);
    let recipe = "examples/recipes/car-t-modular.toml";
    let strip = |o: &Output| -> String {
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout)
            .lines()
            .filter(|l| !l.starts_with("# Generated by"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let a = run(&recipe_on("plan", recipe, ["--registry", &srv.base], &[]));
    let b = run(&recipe_on(
        "plan",
        recipe,
        ["--equipment", "examples/equipment/modular-plant.toml"],
        &[],
    ));
    // Only the name of the equipment source differs.
    assert_eq!(
        strip(&a).replace(&srv.base, "Example modular plant (grade C surroundings)"),
        strip(&b)
    );
    assert!(text(&a.stdout).contains(&format!("the registry {}", srv.base)));
}

#[test]
fn bind_reports_an_unreachable_registry_and_needs_exactly_one_source() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}/api/v3.0");
    // `recipe bind` of the modular recipe with the equipment sources `sources`
    let bind = |sources: &[&str]| {
        let recipe = ["recipe", "bind", "examples/recipes/car-t-modular.toml"];
        run(&[recipe.as_slice(), sources].concat())
    };
    let o = bind(&["--registry", &url]);
    fails_with(&o, &format!("cannot reach the AAS registry at {url}"));

    let o = bind(&[
        "--registry",
        &url,
        "--equipment",
        "examples/equipment/modular-plant.toml",
    ]);
    fails_with(&o, "cannot be used with");
    let o = bind(&[]);
    fails_with(&o, "required");
}

#[test]
fn bind_through_a_registry_without_fitting_equipment_fails_with_no_fit() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The all-in-one devices cannot run the modular recipe's steps.
    let srv = serve(
        &dir.path().join("t.db"),
        &["--inventory", "examples/equipment/all-in-one.toml"],
    );
    let o = run(&[
        "recipe",
        "bind",
        "examples/recipes/car-t-modular.toml",
        "--registry",
        &srv.base,
        "--as-of",
        "2026-12-01",
    ]);
    fails_with(&o, "no equipment fits step `");
}

#[test]
fn a_registry_without_a_token_is_refused_401() {
    let dir = tempfile::tempdir().expect("tempdir");
    let srv = serve(&dir.path().join("t.db"), &["--demo"]);
    let o = atmpflow()
        .args([
            "recipe",
            "bind",
            "examples/recipes/car-t-modular.toml",
            "--registry",
            &srv.base,
        ])
        .env_remove("ATMPFLOW_TOKEN")
        .output()
        .expect("runs");
    fails_with(&o, "401");
    fails_with(&o, "Authorization: Bearer TOKEN");
}

#[test]
fn diff_checks_equipment_found_through_the_registry_like_the_inventory_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let srv = serve(&dir.path().join("t.db"), &["--demo"]);
    let diff_run = |source: &[&str]| -> Output {
        let mut args = vec![
            "recipe",
            "diff",
            "examples/recipes/car-t-modular.toml",
            "--record",
            "examples/recipes/records/car-t-modular-batch-0042.toml",
            "--json",
        ];
        args.extend_from_slice(source);
        run(&args)
    };
    let diff = |source: &[&str]| -> serde_json::Value {
        let o = diff_run(source);
        assert!(o.status.success(), "{}", text(&o.stderr));
        serde_json::from_str(&text(&o.stdout)).expect("json")
    };
    let from_file = diff(&["--equipment", "examples/equipment/modular-plant.toml"]);
    let from_registry = diff(&["--registry", &srv.base]);
    let without = diff(&[]);
    assert_eq!(from_registry, from_file);
    // The equipment check adds deviations that the record alone cannot show.
    let n = |v: &serde_json::Value| v["deviations"].as_array().map_or(0, Vec::len);
    assert!(n(&from_file) > n(&without), "{from_file}\n{without}");
    // Only one equipment source at a time.
    let o = diff_run(&[
        "--registry",
        &srv.base,
        "--equipment",
        "examples/equipment/modular-plant.toml",
    ]);
    fails_with(&o, "cannot be used with");
}

/// A site CA and a server certificate it issued for 127.0.0.1 and
/// `localhost`: (CA file, certificate chain file, key file).
fn site_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "atmpflow test site CA");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("params")
        .signed_by(&key, &issuer)
        .expect("certificate");
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca_cert.pem()).expect("write");
    std::fs::write(&paths.1, cert.pem()).expect("write");
    std::fs::write(&paths.2, key.serialize_pem()).expect("write");
    paths
}

#[test]
fn bind_through_a_registry_served_over_https_with_a_site_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = site_pki(dir.path());
    let (cert_s, key_s) = (cert.to_str().expect("utf-8"), key.to_str().expect("utf-8"));
    let srv = serve(
        &dir.path().join("t.db"),
        &["--demo", "--tls-cert", cert_s, "--tls-key", key_s],
    );
    assert!(srv.base.starts_with("https://127.0.0.1:"), "{}", srv.base);
    let recipe = "examples/recipes/car-t-modular.toml";
    let from_file = run(&recipe_on(
        "bind",
        recipe,
        ["--equipment", "examples/equipment/modular-plant.toml"],
        &[],
    ));
    assert!(from_file.status.success(), "{}", text(&from_file.stderr));
    let ca_s = ca.to_str().expect("utf-8");
    let bind = [
        "recipe",
        "bind",
        recipe,
        "--registry",
        &srv.base,
        "--as-of",
        "2026-12-01",
    ];
    let with_flag = run(&[&bind[..], &["--ca-cert", ca_s]].concat());
    assert!(with_flag.status.success(), "{}", text(&with_flag.stderr));
    assert_eq!(
        body(&text(&with_flag.stdout)),
        body(&text(&from_file.stdout))
    );

    // the same CA through the environment
    let token = TOKENS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(b, _)| *b == srv.base)
        .map(|(_, t)| t.clone())
        .expect("token");
    let with_env = atmpflow()
        .args(bind)
        .env("ATMPFLOW_TOKEN", &token)
        .env("ATMPFLOW_CA_CERT", &ca)
        .output()
        .expect("runs");
    assert!(with_env.status.success(), "{}", text(&with_env.stderr));

    // without the site CA the server's certificate is not trusted
    let o = atmpflow()
        .args(bind)
        .env("ATMPFLOW_TOKEN", &token)
        .env_remove("ATMPFLOW_CA_CERT")
        .output()
        .expect("runs");
    fails_with(&o, "not trusted");
    // a CA file that holds no certificate is named
    let o = run(&[&bind[..], &["--ca-cert", key_s]].concat());
    fails_with(&o, "no PEM certificate");
    fails_with(&o, "key.pem");
}

#[test]
fn serve_refuses_bad_tls_files_before_it_listens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, cert, key) = site_pki(dir.path());
    let db = dir.path().join("t.db");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "\n-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let serve = |cert: &Path, key: &Path| {
        atmpflow()
            .args(["serve", "--bind", "127.0.0.1:0", "--db"])
            .arg(&db)
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .output()
            .expect("runs")
    };
    let o = serve(&garbage, &key);
    fails_with(&o, "garbage.pem:2:");
    fails_with(&o, "--tls-cert");
    let o = serve(&cert, &cert);
    fails_with(&o, "no PEM private key");
    // nothing was created for a server that never started
    assert!(
        !db.exists(),
        "the database was created before the TLS check"
    );
    // one of the two alone is refused by the argument parser
    let o = atmpflow()
        .args(["serve", "--bind", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .output()
        .expect("runs");
    fails_with(&o, "--tls-key");
}

#[test]
fn serve_refuses_a_batch_cache_budget_out_of_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    for (value, says) in [
        ("0", "0 is not in 1..=1048576"),
        ("1048577", "1048577 is not in 1..=1048576"),
        ("lots", "invalid digit"),
    ] {
        let o = atmpflow()
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--batch-cache-mib",
                value,
                "--db",
            ])
            .arg(&db)
            .output()
            .expect("runs");
        fails_with(&o, "--batch-cache-mib");
        fails_with(&o, says);
    }
    assert!(!db.exists(), "nothing opened for a refused option");
}
