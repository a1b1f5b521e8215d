//! Load with a crash in the middle: `atmpflow serve` on a database, N client
//! threads sending a seeded mix of reads and writes with a writer's token over
//! keep-alive HTTP/1.1 connections, then `kill -9` of the server while they
//! run, a restart on the same database and a count of what survived:
//! - every acknowledged create (201) is there, and so is its discovery entry
//!   (the asset-id index row written in the same transaction);
//! - every client's own submodel holds at least the last version the client
//!   saw acknowledged, and is whole (all its elements carry that version);
//! - a create in flight at the kill is either whole (shell and discovery
//!   entry) or absent.
//!
//! Anything else counts as a partial object. Repeated for `rounds` crashes on
//! the same database. Shared by the benchmark `benches/kill_load.rs` (figures
//! in docs/benchmarks.md) and the short test `tests/kill_load.rs`.

use std::time::{Duration, Instant};

#[path = "conn.rs"]
mod conn;
#[path = "../../tests/support/serve.rs"]
mod serve;
use conn::Conn;
use serve::Server;

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `--db` of the server: a SQLite path or a postgres:// URL (empty or new).
    pub db: String,
    /// Concurrent clients (one connection each).
    pub clients: usize,
    /// Load before each kill.
    pub before_kill: Duration,
    /// Crashes.
    pub rounds: usize,
    /// Seed of the request mix (xorshift64*, one stream per client and round).
    pub seed: u64,
}

/// What one run measured.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Requests answered before the kills (all rounds).
    pub requests: usize,
    /// Of those, answers that were not the expected 2xx.
    pub errors: usize,
    /// Requests answered per second of load.
    pub per_second: f64,
    /// Latency percentiles of the answered requests, ms.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Writes the server acknowledged (creates and updates).
    pub acknowledged: usize,
    /// Of those, found after the restarts.
    pub acknowledged_present: usize,
    /// Writes in flight at a kill (sent, no answer).
    pub in_flight: usize,
    /// Objects found half-written (must be 0) and what was wrong with them.
    pub partial: Vec<String>,
    /// Acknowledged writes not found (must be none).
    pub lost: Vec<String>,
}

struct Rng(u64);
impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        Rng((seed ^ 0x9E37_79B9_7F4A_7C15).wrapping_mul(stream.wrapping_add(1) | 1) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A writer's token for `db`, made with the CLI as an operator would (user
/// `loader`, added unless an earlier round added it).
fn writer_token(db: &str) -> String {
    let _ = serve::add_user(db, "loader", "writer", None);
    serve::token(db, "loader")
}

const ELEMENTS: usize = 8;

fn shell_id(round: usize, client: usize, k: u64) -> String {
    format!("urn:load:aas:{round}:{client}:{k}")
}

fn serial(id: &str) -> String {
    format!("SN-{}", id.trim_start_matches("urn:load:aas:"))
}

fn shell_json(id: &str) -> String {
    serde_json::json!({
        "modelType": "AssetAdministrationShell",
        "id": id,
        "idShort": "LoadShell",
        "assetInformation": {
            "assetKind": "Instance",
            "globalAssetId": format!("{id}:asset"),
            "specificAssetIds": [{"name": "serialNumber", "value": serial(id)}]
        }
    })
    .to_string()
}

fn submodel_id(round: usize, client: usize) -> String {
    format!("urn:load:sm:{round}:{client}")
}

/// Version `v` of a client's submodel: every element carries `v`.
fn submodel_json(id: &str, v: u64) -> String {
    let elements: Vec<serde_json::Value> = (0..ELEMENTS)
        .map(|e| {
            serde_json::json!({"modelType": "Property", "idShort": format!("e{e}"),
                "valueType": "xs:long", "value": v.to_string()})
        })
        .collect();
    serde_json::json!({"modelType": "Submodel", "id": id, "idShort": "LoadState",
        "submodelElements": elements})
    .to_string()
}

/// What one client did in one round.
#[derive(Default)]
struct ClientLog {
    latencies: Vec<Duration>,
    errors: usize,
    created: Vec<String>,
    in_flight_create: Option<String>,
    in_flight_update: bool,
    submodel: Option<(String, u64)>,
}

fn client(base: &str, token: &str, round: usize, t: usize, seed: u64, stop: &Instant) -> ClientLog {
    let mut log = ClientLog::default();
    let mut rng = Rng::new(seed, (round * 10_000 + t) as u64);
    let Ok(mut c) = Conn::open(base, token) else {
        return log;
    };
    let sm = submodel_id(round, t);
    let sm_path = format!("/submodels/{}", aas::ids::encode(&sm));
    let mut version = 0u64;
    match c.call("POST", "/submodels", &submodel_json(&sm, 0)) {
        Ok((201, _)) => log.submodel = Some((sm.clone(), 0)),
        Ok(_) => {
            log.errors += 1;
            return log;
        }
        Err(_) => return log,
    }
    let mut k = 0u64;
    // until the kill cuts the connection (bounded in case it never comes)
    let cap = *stop + Duration::from_secs(30);
    while Instant::now() < cap {
        let roll = rng.below(10);
        let start = Instant::now();
        let result = match roll {
            0..=2 => {
                k += 1;
                let id = shell_id(round, t, k);
                log.in_flight_create = Some(id.clone());
                let r = c.call("POST", "/shells", &shell_json(&id));
                if let Ok((201, _)) = r {
                    log.created.push(id);
                    log.in_flight_create = None;
                }
                r.map(|(s, _)| s == 201)
            }
            3..=5 => {
                log.in_flight_update = true;
                let r = c.call("PUT", &sm_path, &submodel_json(&sm, version + 1));
                if let Ok((s, _)) = &r
                    && (200..300).contains(s)
                {
                    version += 1;
                    log.submodel = Some((sm.clone(), version));
                    log.in_flight_update = false;
                }
                r.map(|(s, _)| (200..300).contains(&s))
            }
            6..=7 => {
                let cursor = aas::ids::encode(&shell_id(round, rng.below(20) as usize, 1));
                c.call("GET", &format!("/shells?limit=50&cursor={cursor}"), "")
                    .map(|(s, _)| s == 200)
            }
            _ => c
                .call("GET", &format!("{sm_path}/$value"), "")
                .map(|(s, _)| s == 200),
        };
        match result {
            Ok(ok) => {
                log.latencies.push(start.elapsed());
                if !ok {
                    log.errors += 1;
                }
            }
            // the server was killed: what was sent stays in flight
            Err(_) => return log,
        }
    }
    log
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Checks what a restarted server holds against what the clients saw.
fn verify(base: &str, token: &str, logs: &[ClientLog], report: &mut Report) {
    let mut c = Conn::open(base, token).expect("connect to the restarted server");
    let shell_whole = |c: &mut Conn, id: &str| -> Option<bool> {
        let (st, _) = c
            .call("GET", &format!("/shells/{}", aas::ids::encode(id)), "")
            .expect("restarted server answers");
        if st == 404 {
            return None;
        }
        assert_eq!(st, 200, "GET {id}");
        let asset = aas::ids::encode(
            &serde_json::json!({"name": "serialNumber", "value": serial(id)}).to_string(),
        );
        let (st, body) = c
            .call("GET", &format!("/lookup/shells?assetIds={asset}"), "")
            .expect("restarted server answers");
        assert_eq!(st, 200, "lookup {id}: {body}");
        Some(body.contains(&format!("\"{id}\"")))
    };
    for log in logs {
        for id in &log.created {
            report.acknowledged += 1;
            match shell_whole(&mut c, id) {
                Some(true) => report.acknowledged_present += 1,
                Some(false) => {
                    report.acknowledged_present += 1;
                    report
                        .partial
                        .push(format!("{id}: shell without its discovery entry"));
                }
                None => report.lost.push(format!("acknowledged create of {id}")),
            }
        }
        if let Some(id) = &log.in_flight_create {
            report.in_flight += 1;
            if shell_whole(&mut c, id) == Some(false) {
                report.partial.push(format!(
                    "{id} (in flight): shell without its discovery entry"
                ));
            }
        }
        if log.in_flight_update {
            report.in_flight += 1;
        }
        let Some((sm, acked)) = &log.submodel else {
            continue;
        };
        report.acknowledged += 1 + *acked as usize;
        let (st, body) = c
            .call(
                "GET",
                &format!("/submodels/{}/$value", aas::ids::encode(sm)),
                "",
            )
            .expect("restarted server answers");
        if st != 200 {
            report
                .lost
                .push(format!("acknowledged submodel {sm} ({st})"));
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&body).expect("$value is JSON");
        let values: Vec<u64> = (0..ELEMENTS)
            .filter_map(|e| {
                // `$value` gives xs:long values as JSON numbers
                let x = &v[format!("e{e}")];
                x.as_u64()
                    .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
            })
            .collect();
        let stored = values.first().copied().unwrap_or(0);
        if values.len() != ELEMENTS || values.iter().any(|&x| x != stored) {
            report.partial.push(format!("{sm}: elements {body}"));
        } else if stored < *acked {
            report.lost.push(format!(
                "{sm}: version {stored} stored, {acked} acknowledged"
            ));
        } else if stored > acked + 1 {
            report
                .partial
                .push(format!("{sm}: version {stored} was never sent"));
        }
        report.acknowledged_present += 1 + (*acked).min(stored) as usize;
    }
}

/// Runs the load, the kills and the checks.
pub fn run(cfg: &Config) -> Report {
    let token = writer_token(&cfg.db);
    let mut report = Report::default();
    let mut latencies = Vec::new();
    let mut load_time = Duration::ZERO;
    for round in 0..cfg.rounds {
        let server = Server::start(&cfg.db, &[]);
        let base = server.base.clone();
        let began = Instant::now();
        let stop = began + cfg.before_kill;
        let logs: Vec<ClientLog> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..cfg.clients)
                .map(|t| {
                    let (base, token) = (&base, &token);
                    sc.spawn(move || client(base, token, round, t, cfg.seed, &stop))
                })
                .collect();
            // kill -9 while the clients are still sending
            std::thread::sleep(stop.saturating_duration_since(Instant::now()));
            let killed_at = Instant::now();
            server.kill();
            load_time += killed_at - began;
            handles
                .into_iter()
                .map(|h| h.join().expect("client thread"))
                .collect()
        });
        for log in &logs {
            report.requests += log.latencies.len();
            report.errors += log.errors;
            latencies.extend_from_slice(&log.latencies);
        }
        let restarted = Server::start(&cfg.db, &[]);
        verify(&restarted.base, &token, &logs, &mut report);
        restarted.kill();
    }
    latencies.sort();
    report.per_second = report.requests as f64 / load_time.as_secs_f64().max(1e-9);
    report.p50_ms = percentile(&latencies, 0.5);
    report.p99_ms = percentile(&latencies, 0.99);
    report
}
