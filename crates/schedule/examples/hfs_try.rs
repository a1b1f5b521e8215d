//! Tuning experiments on one hfs instance:
//! `cargo run --release -p schedule --example hfs_try FILE SECONDS [norev]`, with optional
//! environment variables WIN (local-search window), DEST (jobs destroyed), TEMP
//! (temperature factor), JUST (forward-backward passes), NOCUT (no makespan cut-off),
//! ONEDIR (search only the direction of the better construction) and WARM (file of job
//! indices to start from).
use std::sync::atomic::AtomicBool;
use std::time::Duration;

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 3 {
        eprintln!("usage: hfs_try FILE SECONDS [norev]");
        return;
    }
    let text = match std::fs::read_to_string(&a[1]) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: {e}", a[1]);
            return;
        }
    };
    let inst = match schedule::parse::parse_hfs(&a[1], &text) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{}: {e}", a[1]);
            return;
        }
    };
    let mut opts = schedule::SolveOptions {
        time_limit: Some(Duration::from_secs_f64(a[2].parse().unwrap_or(5.0))),
        ..Default::default()
    };
    opts.tuning.try_reverse = a.get(3).map(String::as_str) != Some("norev");
    opts.tuning.cut = std::env::var("NOCUT").is_err();
    if let Some(w) = env("WIN") {
        opts.tuning.ls_window = w;
    }
    if let Some(d) = env("DEST") {
        opts.tuning.destruct = d;
    }
    if let Some(t) = env("TEMP") {
        opts.tuning.temperature = t;
    }
    opts.tuning.both_directions = std::env::var("ONEDIR").is_err();
    if let Ok(path) = std::env::var("WARM") {
        let ids = std::fs::read_to_string(&path).unwrap_or_default();
        opts.warm_start = Some(
            ids.split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect(),
        );
    }
    if let Some(j) = env("JUST") {
        opts.tuning.justify = j;
    }
    let cancel = AtomicBool::new(false);
    match schedule::solve(&inst, &opts, &cancel, &mut |_| {}) {
        Ok(s) => println!(
            "makespan {} lb {} iters {} evals {} method {}",
            s.cost[0], s.lower_bound, s.iterations, s.evaluations, s.method
        ),
        Err(e) => println!("error {e}"),
    }
}
