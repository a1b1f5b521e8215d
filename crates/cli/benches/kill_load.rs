//! Load with `kill -9` in the middle (see `support/kill_load.rs`): N clients
//! with a writer's token send a seeded mix of creates, updates, list pages and
//! reads to `atmpflow serve`; after S seconds the server is killed, restarted
//! on the same database, and every acknowledged write is looked for; K rounds.
//! Prints throughput, latency percentiles, errors, acknowledged writes found
//! and partial objects; exits non-zero when a write was lost or half-written.
//!
//! cargo bench -p atmpflow --bench kill_load -- --db PATH|URL [--clients 20] [--secs 10] [--rounds 3] [--seed 1]

use std::time::Duration;

#[path = "support/kill_load.rs"]
mod kill_load;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[allow(clippy::print_stdout)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes --bench; without --db there is nothing to do
    let Some(db) = arg(&args, "--db") else {
        eprintln!(
            "usage: kill_load --db PATH|URL [--clients N] [--secs S] [--rounds K] [--seed X]"
        );
        return;
    };
    let num = |name: &str, default: u64| {
        arg(&args, name).map_or(default, |s| {
            s.parse().unwrap_or_else(|_| panic!("{name} N"))
        })
    };
    let cfg = kill_load::Config {
        db: db.clone(),
        clients: num("--clients", 20) as usize,
        before_kill: Duration::from_secs(num("--secs", 10)),
        rounds: num("--rounds", 3) as usize,
        seed: num("--seed", 1),
    };
    let r = kill_load::run(&cfg);
    let engine = if db.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "| engine | clients | rounds × s | requests/s | p50 ms | p99 ms | errors | acknowledged writes found | in flight at kill | partial objects |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| {engine} | {} | {} × {} | {:.0} | {:.1} | {:.1} | {} | {} / {} | {} | {} |",
        cfg.clients,
        cfg.rounds,
        cfg.before_kill.as_secs(),
        r.per_second,
        r.p50_ms,
        r.p99_ms,
        r.errors,
        r.acknowledged_present,
        r.acknowledged,
        r.in_flight,
        r.partial.len()
    );
    for p in r.partial.iter().chain(&r.lost) {
        eprintln!("{p}");
    }
    if !r.partial.is_empty() || !r.lost.is_empty() {
        std::process::exit(1);
    }
}
