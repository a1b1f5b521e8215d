//! Micro-benchmark of the simulator: runs a scenario on a given number of threads and prints
//! the replications per second and the key figures (mean with 95 % interval) as JSON, in the
//! same shape as the SimPy peer (`benches/peers/farming_matrix_simpy.py`).
//!
//! ```text
//! cargo run --release -p sim --example bench -- benches/farming-matrix-500.toml --reps 200 --threads 1
//! ```
//!
//! Timing covers `sim::run` only (not parsing). Wall-clock and process CPU seconds are both
//! reported; CPU seconds are the fair measure on a shared machine.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

fn cpu_seconds() -> Option<f64> {
    // utime + stime of the whole process, in clock ticks (fields 14 and 15 of /proc/self/stat).
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn stat(s: &sim::Stat) -> Value {
    json!({ "mean": s.mean, "ci95": s.ci95 })
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let (mut reps, mut threads, mut seed) = (None, 1usize, None);
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--reps" => reps = Some(val("--reps")?.parse()?),
            "--threads" => threads = val("--threads")?.parse()?,
            "--seed" => seed = Some(val("--seed")?.parse()?),
            _ if path.is_none() => path = Some(a),
            other => bail!("unexpected argument `{other}`"),
        }
    }
    let path = path.context("usage: bench SCENARIO.toml [--reps N] [--threads T] [--seed S]")?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let model = model::load(&path, &text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let opts = sim::RunOptions {
        replications: reps,
        seed,
        threads,
        plan: None,
        drop_replications: true,
        event_budget: None,
    };
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let r = sim::run(&model, &opts, &|_| {}, &AtomicBool::new(false))?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);

    let mut figures = Map::new();
    figures.insert("throughput per year".into(), stat(&r.throughput_per_year));
    let v = &r.vein_to_vein_days;
    figures.insert(
        "vein-to-vein days".into(),
        json!({ "mean": v.mean, "ci95": v.ci95 }),
    );
    figures.insert("lost fraction".into(), stat(&r.patients_lost_fraction));
    let mut flat = 0;
    for p in &model.products {
        for s in &p.steps {
            if !s.uses.is_empty() {
                let w = &r.steps[flat].wait_hours;
                figures.insert(
                    format!("wait h: {}", s.name),
                    json!({ "mean": w.mean, "ci95": w.ci95 }),
                );
            }
            flat += 1;
        }
    }
    for res in &r.resources {
        figures.insert(format!("utilisation: {}", res.name), stat(&res.utilisation));
    }
    let out = json!({
        "simulator": format!("atmpflow sim {} ({} thread(s))", env!("CARGO_PKG_VERSION"), threads),
        "replications": r.replications,
        "seconds": wall,
        "cpu_seconds": cpu,
        "reps_per_second": f64::from(r.replications) / wall,
        "reps_per_cpu_second": cpu.map(|c| f64::from(r.replications) / c.max(1e-9)),
        "figures": figures,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
