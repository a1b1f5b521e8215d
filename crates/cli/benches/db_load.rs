//! Load client for the AAS API on both database engines: fills an empty
//! database with N shells (through the store, in batches), starts
//! `atmpflow serve` on it, then drives list, get and put requests over
//! keep-alive HTTP/1.1 connections from several threads for a fixed time
//! each and prints throughput and latency percentiles.
//!
//! cargo bench -p atmpflow --bench db_load -- --db URL --shells N [--secs S] [--conns C] [--seed X]
//!
//! The request mix is drawn from a xorshift64* generator seeded with
//! `--seed` (default 1) and the thread number. Every request carries a bearer
//! token of a `writer` account made in the database before the server starts,
//! so the figures include authentication.

use std::time::{Duration, Instant};

#[path = "support/conn.rs"]
mod conn;
#[path = "../tests/support/serve.rs"]
mod serve;
use conn::Conn;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn shell_id(i: usize) -> String {
    format!("urn:bench:aas:{i:08}")
}

fn shell_json(i: usize, tag: &str) -> String {
    serde_json::json!({
        "modelType": "AssetAdministrationShell",
        "id": shell_id(i),
        "idShort": format!("Shell{tag}"),
        "assetInformation": {
            "assetKind": "Instance",
            "globalAssetId": format!("urn:bench:asset:{i:08}"),
            "specificAssetIds": [{"name": "serialNumber", "value": format!("SN-{i:08}")}]
        },
        "submodels": [{"type": "ModelReference", "keys": [{"type": "Submodel", "value": format!("urn:bench:sm:{i:08}")}]}]
    })
    .to_string()
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[allow(clippy::print_stdout)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes --bench; without --db there is nothing to do
    let Some(db) = arg(&args, "--db") else {
        eprintln!("usage: db_load --db PATH|URL --shells N [--secs S] [--conns C] [--seed X]");
        return;
    };
    let n: usize = arg(&args, "--shells").map_or(10_000, |s| s.parse().expect("--shells N"));
    let secs: u64 = arg(&args, "--secs").map_or(10, |s| s.parse().expect("--secs S"));
    let conns: usize = arg(&args, "--conns").map_or(8, |s| s.parse().expect("--conns C"));
    let seed: u64 = arg(&args, "--seed").map_or(1, |s| s.parse().expect("--seed X"));

    let store = store::Db::connect(&db).expect("open database");
    assert!(
        store::copy::is_empty(&store).expect("count"),
        "{db} must be empty"
    );
    let t0 = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(2_000) {
        store
            .transaction(|tx| -> Result<(), store::StoreError> {
                for &i in chunk {
                    tx.put(
                        store::Kind::Shell,
                        &shell_id(i),
                        shell_json(i, "").as_bytes(),
                    )?;
                }
                Ok(())
            })
            .expect("fill");
    }
    eprintln!("filled {n} shells in {:.1} s", t0.elapsed().as_secs_f64());
    let now = store::auth::Timestamp::now();
    let roles = [store::auth::Role::Reader, store::auth::Role::Writer];
    let account = store::auth::NewUser {
        name: "bench",
        display_name: "load client",
        password: None,
        roles: &roles,
    };
    store::auth::add_user(&store, "db_load", &account, now).expect("bench user");
    let token = store::auth::create_token(&store, "db_load", "bench", &[], "db_load", None, now)
        .expect("bench token")
        .secret;
    let engine = store.engine();
    drop(store);

    let server = serve::Server::start(&db, &[]);
    let base = server.base.clone();

    println!("| engine | shells | operation | requests/s | p50 ms | p99 ms | errors |");
    println!("| --- | ---: | --- | ---: | ---: | ---: | ---: |");
    for op in ["list", "get", "put"] {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..conns)
                .map(|t| {
                    let base = &base;
                    let token = &token;
                    sc.spawn(move || {
                        let mut rng =
                            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (t as u64 + 1));
                        let mut c = Conn::open(base, token).expect("connect");
                        let mut lat = Vec::new();
                        let mut errors = 0;
                        let mut k = 0u64;
                        while Instant::now() < deadline {
                            let i = rng.below(n);
                            let id = aas::ids::encode(&shell_id(i));
                            let start = Instant::now();
                            let answer = match op {
                                "list" => {
                                    c.call("GET", &format!("/shells?limit=100&cursor={id}"), "")
                                }
                                "get" => c.call("GET", &format!("/shells/{id}"), ""),
                                _ => {
                                    k += 1;
                                    let body = shell_json(i, &format!("T{t}K{k}"));
                                    c.call("PUT", &format!("/shells/{id}"), &body)
                                }
                            };
                            let (status, _) = answer.expect("request");
                            lat.push(start.elapsed());
                            if !(200..300).contains(&status) {
                                errors += 1;
                            }
                        }
                        (lat, errors)
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().expect("client thread"))
                .collect()
        });
        let errors: usize = results.iter().map(|r| r.1).sum();
        let mut all: Vec<Duration> = results.into_iter().flat_map(|r| r.0).collect();
        all.sort();
        println!(
            "| {engine} | {n} | {op} | {:.0} | {:.2} | {:.2} | {errors} |",
            all.len() as f64 / secs as f64,
            percentile(&all, 0.5),
            percentile(&all, 0.99)
        );
    }
    server.kill();
}
