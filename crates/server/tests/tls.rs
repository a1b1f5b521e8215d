//! HTTPS: the server over TLS with a certificate issued by a site CA made in
//! the test, clients that trust that CA (reads, writes, 401), plain HTTP to
//! the TLS port, stalled handshakes under the connection cap and at shutdown,
//! bad certificate and key files, and the registry client over HTTPS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use server::tls::{TlsError, read_certificates, server_config};
use server::{AppState, Gate, HttpRegistry, Limits, RegistryError, equipment_inventory};
use store::auth::Role;

mod support;

/// A site CA and a server certificate it issued for `localhost` and
/// 127.0.0.1, written as PEM files.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "atmpflow test site CA");
        ca.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = rcgen::KeyPair::generate().expect("server key");
        let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("server params");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        let other_key = rcgen::KeyPair::generate().expect("another key");
        let files = [
            ("ca.pem", ca_cert.pem()),
            // the chain: the server's certificate, then the issuing CA
            ("cert.pem", format!("{}{}", cert.pem(), ca_cert.pem())),
            ("key.pem", key.serialize_pem()),
            ("other-key.pem", other_key.serialize_pem()),
        ];
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write PEM");
        }
        Pki { dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn config(&self) -> Arc<rustls::ServerConfig> {
        server_config(&self.path("cert.pem"), &self.path("key.pem")).expect("TLS config")
    }
}

struct Running {
    addr: SocketAddr,
    base: String,
    state: Arc<AppState>,
    reader: String,
    writer: String,
    server: support::OnThread,
    _dir: tempfile::TempDir,
}

fn limits() -> Limits {
    Limits {
        header_timeout: Duration::from_millis(500),
        body_timeout: Duration::from_millis(500),
        max_connections: 2,
        max_body: 1 << 20,
        shutdown_grace: Duration::from_millis(500),
        ..Limits::default()
    }
}

/// Serves HTTPS with `tls` on 127.0.0.1:0; `load` fills the database first.
fn start(tls: Arc<rustls::ServerConfig>, limits: Limits, load: impl FnOnce(&AppState)) -> Running {
    let (dir, store, reader) =
        support::temp_db_with_user("db", "tls-reader", "tls-reader", Role::Reader);
    let writer = support::user_with_token(&store, "tls-writer", "tls-writer", Role::Writer);
    let std_listener = support::loopback();
    let addr = std_listener.local_addr().expect("addr");
    // the certificate names localhost, so clients use that name
    let base = format!("https://localhost:{}/api/v3.0", addr.port());
    let state = Arc::new(AppState::new(store, base.clone()));
    load(&state);
    let st = state.clone();
    let gate = Gate {
        limits,
        ..Gate::default()
    };
    let server = support::on_thread(std_listener, move |listener, stopped| async move {
        server::serve_tls(listener, st, gate, tls, async {
            let _ = stopped.await;
        })
        .await
        .expect("server runs");
    });
    Running {
        addr,
        base,
        state,
        reader,
        writer,
        server,
        _dir: dir,
    }
}

/// An HTTPS client that trusts only the certificates of `ca` (a PEM file).
fn client(ca: Option<&Path>) -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let roots: Vec<Certificate<'static>> = ca
        .map(|p| read_certificates(p).expect("CA file"))
        .unwrap_or_default()
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .tls_config(
            TlsConfig::builder()
                .unversioned_rustls_crypto_provider(server::tls::provider())
                .root_certs(RootCerts::Specific(Arc::new(roots)))
                .build(),
        )
        .build()
        .into()
}

fn get(agent: &ureq::Agent, url: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut r = req.call().expect("HTTPS request");
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().expect("body");
    (status, serde_json::from_str(&body).unwrap_or_default())
}

fn shell_json(id: &str) -> String {
    serde_json::json!({
        "modelType": "AssetAdministrationShell",
        "id": id,
        "idShort": "tlsShell",
        "assetInformation": { "assetKind": "Instance", "globalAssetId": "urn:example:asset:tls" }
    })
    .to_string()
}

#[test]
fn https_serves_reads_and_writes_and_refuses_requests_without_a_token() {
    let pki = Pki::new();
    let mut srv = start(pki.config(), limits(), |_| {});
    let agent = client(Some(&pki.path("ca.pem")));
    let shells = format!("{}/shells", srv.base);

    let (s, body) = get(&agent, &shells, None);
    assert_eq!(s, 401, "{body}");
    assert!(
        body["messages"][0]["text"].is_string(),
        "AAS error body: {body}"
    );

    let mut r = agent
        .post(&shells)
        .header("Authorization", format!("Bearer {}", srv.writer))
        .header("Content-Type", "application/json")
        .send(shell_json("urn:example:aas:tls:1"))
        .expect("POST over HTTPS");
    let body = r.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(r.status().as_u16(), 201, "{body}");

    // a reader cannot write, over TLS as over plain HTTP
    let r = agent
        .post(&shells)
        .header("Authorization", format!("Bearer {}", srv.reader))
        .header("Content-Type", "application/json")
        .send(shell_json("urn:example:aas:tls:2"))
        .expect("POST over HTTPS");
    assert_eq!(r.status().as_u16(), 403);

    let (s, body) = get(&agent, &shells, Some(&srv.reader));
    assert_eq!(s, 200, "{body}");
    let ids: Vec<&str> = body["result"]
        .as_array()
        .expect("result list")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, ["urn:example:aas:tls:1"]);

    // what was written over TLS is in the database
    let stored = server::export_environment(&srv.state.store).expect("export");
    assert_eq!(stored.asset_administration_shells.len(), 1);

    // a client that does not trust the site CA does not get through
    let untrusting = client(None);
    let err = untrusting
        .get(&shells)
        .call()
        .expect_err("untrusted certificate");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    srv.server.shutdown(Duration::from_secs(5));
}

/// Sends `raw` on a fresh connection and reads until the server closes it.
fn plain_exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(raw).expect("send");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn plain_http_to_the_tls_port_gets_a_clear_refusal() {
    let pki = Pki::new();
    let mut srv = start(pki.config(), limits(), |_| {});
    let host = format!("localhost:{}", srv.addr.port());
    let answer = plain_exchange(
        srv.addr,
        format!("GET /api/v3.0/shells HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
    );
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    let v: serde_json::Value = serde_json::from_str(body).expect("AAS error body");
    let text = v["messages"][0]["text"].as_str().expect("text");
    assert!(text.contains("HTTPS"), "{text}");
    // nothing was read from the database for it, and HTTPS still works
    let agent = client(Some(&pki.path("ca.pem")));
    let (s, _) = get(
        &agent,
        &format!("{}/shells", srv.base),
        Some(&srv.reader.clone()),
    );
    assert_eq!(s, 200);
    // bytes that are neither TLS nor HTTP: the connection is closed
    let answer = plain_exchange(srv.addr, b"\x00\x01\x02garbage\r\n\r\n");
    assert!(!answer.contains("200"), "{answer}");
    srv.server.shutdown(Duration::from_secs(5));
}

#[test]
fn stalled_handshakes_are_cut_and_cannot_starve_other_clients() {
    let pki = Pki::new();
    let lim = limits(); // two connections at once, handshake within 500 ms
    let timeout = lim.header_timeout;
    let mut srv = start(pki.config(), lim, |_| {});
    // one client connects and sends nothing; another starts a TLS record and
    // stops: together they hold both connection slots
    let silent = TcpStream::connect(srv.addr).expect("connect");
    let mut half = TcpStream::connect(srv.addr).expect("connect");
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .expect("partial ClientHello");
    let t = Instant::now();
    let agent = client(Some(&pki.path("ca.pem")));
    let (s, _) = get(&agent, &format!("{}/shells", srv.base), Some(&srv.reader));
    let waited = t.elapsed();
    assert_eq!(s, 200);
    assert!(
        waited < timeout * 6,
        "a third client waited {waited:?} behind stalled handshakes (timeout {timeout:?})"
    );
    // both stalled connections were closed by the server
    for mut stalled in [silent, half] {
        stalled
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        let t = Instant::now();
        let n = stalled.read(&mut buf);
        assert!(
            matches!(n, Ok(0)) || n.is_err() && t.elapsed() < Duration::from_secs(4),
            "a stalled handshake was kept open: {n:?} after {:?}",
            t.elapsed()
        );
    }
    srv.server.shutdown(Duration::from_secs(5));
}

#[test]
fn shutdown_drops_a_handshake_in_progress() {
    let pki = Pki::new();
    let lim = Limits {
        header_timeout: Duration::from_secs(60),
        shutdown_grace: Duration::from_millis(300),
        ..limits()
    };
    let mut srv = start(pki.config(), lim, |_| {});
    let mut half = TcpStream::connect(srv.addr).expect("connect");
    half.write_all(&[0x16, 0x03, 0x01]).expect("partial record");
    std::thread::sleep(Duration::from_millis(200));
    let took = srv.server.shutdown(Duration::from_secs(10));
    assert!(
        took < Duration::from_secs(3),
        "shutdown waited {took:?} for a stalled handshake"
    );
    // the database was released with the server
    assert_eq!(Arc::strong_count(&srv.state), 1);
}

#[test]
fn bad_certificate_and_key_files_are_reported_with_file_and_line() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    let cert = pki.path("cert.pem");
    let key = pki.path("key.pem");
    let cert_text = std::fs::read_to_string(&cert).expect("cert");
    // the pair `cert`, `key` is refused with an error naming `file` and saying `what`
    let refused = |cert: &Path, key: &Path, file: &str, what: &str| {
        let e = server_config(cert, key)
            .map(|_| ())
            .map_err(|e: TlsError| e.to_string())
            .expect_err(what);
        assert!(e.contains(file) && e.contains(what), "{e}");
    };

    // missing file
    let missing = dir.path().join("missing.pem");
    refused(&missing, &key, "missing.pem", "cannot read");

    // no certificate in the file
    let empty = write("empty.pem", "just some text\n");
    refused(&empty, &key, "empty.pem", "no PEM certificate");

    // a broken base64 body: the line of the section is named
    let broken = write(
        "broken.pem",
        "# site certificate\n\n-----BEGIN CERTIFICATE-----\nMIIB!!!notbase64\n-----END CERTIFICATE-----\n",
    );
    refused(&broken, &key, "broken.pem:3:", "base64");

    // a section without its end line (a truncated copy)
    let cut = &cert_text[..cert_text.len() / 3];
    let truncated = write("truncated.pem", cut);
    refused(&truncated, &key, "truncated.pem:1:", "end line");

    // the key file holds a certificate only
    refused(&cert, &cert, "cert.pem", "no PEM private key");

    // a key that belongs to another certificate
    refused(
        &cert,
        &pki.path("other-key.pem"),
        "other-key.pem",
        "does not belong",
    );

    // two keys in one file
    let key_text = std::fs::read_to_string(&key).expect("key");
    let other = std::fs::read_to_string(pki.path("other-key.pem")).expect("key");
    let two = write("two-keys.pem", &format!("{key_text}{other}"));
    refused(&cert, &two, "two-keys.pem:", "second");

    // a key section whose content is not a key
    let not_key = write(
        "not-a-key.pem",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    refused(&cert, &not_key, "not-a-key.pem", "not a usable private key");

    // a certificate section whose content is not a certificate
    let not_cert = write(
        "not-a-cert.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    refused(&not_cert, &key, "not-a-cert.pem", "X.509");

    // a huge file is not read whole
    let huge = write("huge.pem", &"A".repeat(2 << 20));
    refused(&huge, &key, "huge.pem", "larger than");

    // and the good pair works
    server_config(&cert, &key).expect("valid certificate and key");
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

#[test]
fn the_registry_client_reads_equipment_over_https_trusting_a_site_ca() {
    let pki = Pki::new();
    let inv_file = "examples/equipment/modular-plant.toml";
    let text = std::fs::read_to_string(repo(inv_file)).expect("inventory");
    let inventory = recipe::parse_inventory(inv_file, &text).expect("valid inventory");
    let as_of = recipe::Date::parse("2026-12-01").expect("date");
    let inv = inventory.clone();
    let mut srv = start(pki.config(), Limits::default(), move |st| {
        support::load_twins_of(st, &inv, as_of);
    });

    // without the site CA the certificate is not trusted, and the error says so
    let reg = HttpRegistry::new(&srv.base)
        .expect("https URL")
        .with_token(&srv.reader);
    match equipment_inventory(&reg) {
        Err(RegistryError::Unreachable { reason, .. }) => {
            assert!(reason.contains("not trusted"), "{reason}");
        }
        other => panic!("expected an untrusted certificate, got {other:?}"),
    }

    let ca = read_certificates(&pki.path("ca.pem")).expect("CA");
    let reg = HttpRegistry::new(&srv.base)
        .expect("https URL")
        .with_token(&srv.reader)
        .trusting(&ca)
        .with_page_size(2);
    let found = equipment_inventory(&reg).expect("registry over HTTPS");
    let mut got = found.inventory.equipment.clone();
    let mut want = inventory.equipment.clone();
    got.sort_by(|a, b| a.id.cmp(&b.id));
    want.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(got, want);
    srv.server.shutdown(Duration::from_secs(5));
}
