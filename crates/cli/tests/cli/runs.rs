//! How `simulate` runs: raw observations on request, results without the per-replication
//! block, the output folder checked before the run, and Ctrl-C that keeps a reproducible
//! prefix of the replications and exits with its own status.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    assert_ok, bin, example, num, repo_path, run, simulate, simulate_one_replication, stderr,
};

#[test]
fn observations_are_written_on_request_and_agree_with_the_results() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("obs.csv");
    let (_d, r) = simulate(
        &example("concept-1-all-in-one"),
        &[
            "--replications",
            "3",
            "--threads",
            "2",
            "--observations",
            csv.to_str().expect("utf-8 path"),
        ],
    );
    let text = std::fs::read_to_string(&csv).expect("observations written");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("replication,patient,measure,product,step,time_h,value,unit,censored")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(rows.iter().all(|r| r.len() == 9), "every row has 9 fields");
    let v2v: Vec<f64> = rows
        .iter()
        .filter(|r| r[2] == "vein_to_vein")
        .map(|r| r[6].parse().expect("a number"))
        .collect();
    assert_eq!(v2v.len() as f64, num(&r, "/vein_to_vein_days/n"));
    // Replications arrive in order.
    let reps: Vec<u32> = rows.iter().map(|r| r[0].parse().expect("index")).collect();
    assert!(reps.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(reps.last(), Some(&2));
    // Three replications pool fewer observations than the exact buffer holds: the median is
    // the exact one.
    let mut sorted = v2v.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sim::percentile(&sorted, 0.5);
    assert!((num(&r, "/vein_to_vein_days/p50") - median).abs() < 1e-9);
    assert!(!dir.path().join("obs.csv.partial").exists());
}

#[test]
fn the_per_replication_block_can_be_left_out() {
    let args = ["--replications", "4", "--threads", "1"];
    let (_a, with) = simulate(&example("concept-1-all-in-one"), &args);
    let mut drop = args.to_vec();
    drop.push("--no-per-replication");
    let (d, without) = simulate(&example("concept-1-all-in-one"), &drop);
    assert_eq!(with["per_replication"].as_array().map(Vec::len), Some(4));
    assert!(without.get("per_replication").is_none());
    assert_eq!(with["vein_to_vein_days"], without["vein_to_vein_days"]);
    assert_eq!(with["resources"], without["resources"]);
    assert!(d.path().join("out/report.html").is_file());
}

/// The per-replication summaries are streamed to disk as replications finish (not held), with
/// or without cost inputs (priced as they arrive): one compact line each in results.json, in
/// replication order, and replications.csv from the same stream. A priced run has the same
/// summaries and figures as an unpriced one (the cost block apart), and its cost block does
/// not depend on the thread count nor on whether the summaries are written.
#[test]
fn per_replication_summaries_are_streamed_one_compact_line_each() {
    let scenario = example("concept-1-all-in-one");
    let args = ["--replications", "12", "--threads", "2"];
    let (d, streamed) = simulate(&scenario, &args);
    let shared = repo_path("examples/costs/shared.cost.toml");
    let cost = repo_path("examples/costs/concept-1-all-in-one.cost.toml");
    let mut priced = args.to_vec();
    for c in [&shared, &cost] {
        priced.extend(["--cost", c.to_str().expect("utf-8 path")]);
    }
    let (h, mut with_cost) = simulate(&scenario, &priced);
    assert!(
        streamed.get("cost").is_none(),
        "the first run is not priced"
    );
    assert!(with_cost.get("cost").is_some(), "the second run is priced");
    let blocks = streamed["per_replication"]
        .as_array()
        .expect("blocks")
        .clone();
    assert_eq!(blocks.len(), 12);
    let read = |dir: &tempfile::TempDir, name: &str| {
        std::fs::read_to_string(dir.path().join("out").join(name)).expect(name)
    };
    let is_block = |l: &&str| l.trim_start().starts_with("{\"index\":");
    for dir in [&d, &h] {
        let text = read(dir, "results.json");
        let lines: Vec<&str> = text.lines().filter(is_block).collect();
        assert_eq!(lines.len(), 12, "one line per replication");
        for (i, l) in lines.iter().enumerate() {
            assert!(l.contains(&format!("{{\"index\":{i},")), "in order: {l}");
        }
    }
    // One thread, and no per-replication block: the same cost, byte for byte.
    let mut one = priced.clone();
    one[3] = "1";
    let (o, _) = simulate(&scenario, &one);
    assert_eq!(read(&o, "results.json"), read(&h, "results.json"));
    assert_eq!(read(&o, "cost.csv"), read(&h, "cost.csv"));
    assert_eq!(read(&o, "cost_lines.csv"), read(&h, "cost_lines.csv"));
    one.push("--no-per-replication");
    let (_n, bare) = simulate(&scenario, &one);
    assert!(bare.get("per_replication").is_none());
    assert_eq!(bare["cost"], with_cost["cost"]);
    assert_eq!(
        with_cost["cost"]["replications"].as_u64(),
        Some(12),
        "every replication priced"
    );
    with_cost.as_object_mut().expect("an object").remove("cost");
    assert_eq!(streamed, with_cost, "the same content");
    let csv = read(&d, "replications.csv");
    assert_eq!(csv, read(&h, "replications.csv"), "the same table");
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 12);
    for (row, b) in rows.iter().zip(&blocks) {
        assert_eq!(row[0], b["index"].to_string());
        assert_eq!(row[2], b["patients"].to_string());
        let released: f64 = row[1].parse().expect("a number");
        assert!((released - b["released_per_year"].as_f64().expect("number")).abs() < 1e-6);
    }
}

/// A replication's block in results.json stays under 1 KiB on the small benchmark plant
/// (benches/memory-small.toml; it grows with the steps and resources of the scenario).
#[test]
fn a_replication_block_of_a_small_plant_is_under_one_kibibyte() {
    let scenario = repo_path("benches/memory-small.toml");
    let size = |n: &str| {
        let (d, _) = simulate(&scenario, &["--replications", n, "--threads", "1"]);
        std::fs::metadata(d.path().join("out/results.json"))
            .expect("results.json")
            .len()
    };
    let (a, b) = (size("10"), size("30"));
    let per = (b - a) as f64 / 20.0;
    assert!(per < 1024.0, "{per} bytes per replication");
}

#[test]
fn an_output_folder_that_cannot_be_made_is_reported_before_the_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    // One replication is refused by the simulator, so an error about the folder shows that
    // the folder was checked first.
    let o = simulate_one_replication(&file.join("out"));
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("cannot create output directory"), "{err}");
    assert!(!err.contains("replications"), "{err}");
}

fn results(dir: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(dir.join("results.json")).expect("results.json written");
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn ctrl_c_keeps_a_prefix_that_a_shorter_run_reproduces() {
    let (cut, _) = cut_and_rerun(&["--no-per-replication"]);
    assert!(cut.get("per_replication").is_none());
}

/// A cancelled run whose per-replication summaries are streamed to disk still writes a valid
/// results.json, with the summaries of exactly the replications kept, in order.
#[test]
fn ctrl_c_on_a_streamed_run_writes_the_summaries_of_the_prefix() {
    let (cut, dir) = cut_and_rerun(&[]);
    let k = cut["replications"].as_u64().expect("replications");
    let blocks = cut["per_replication"].as_array().expect("the summaries");
    assert_eq!(blocks.len() as u64, k);
    for (i, b) in blocks.iter().enumerate() {
        assert_eq!(b["index"].as_u64(), Some(i as u64));
    }
    let csv = std::fs::read_to_string(dir.path().join("cut/replications.csv")).expect("csv");
    assert_eq!(csv.lines().count() as u64, k + 1, "a header and a row each");
    assert!(dir.path().join("cut/report.html").is_file());
}

/// Cancels a two-thread run of 1,000,000 replications with Ctrl-C after 1.5 s, checks its exit
/// status and that its results.json equals that of a run of the `k` replications it kept
/// (`extra` goes to both runs). Gives the cut run's results and the folder of both runs.
fn cut_and_rerun(extra: &[&str]) -> (Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("cut");
    let child = bin()
        .args(["simulate", "--quiet", "--threads", "2"])
        .arg(example("concept-1-all-in-one"))
        .args(["--replications", "1000000"])
        .args(extra)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    // The output folder is made just before the run starts and the Ctrl-C handler is set.
    let t0 = Instant::now();
    while !out.is_dir() {
        assert!(t0.elapsed() < Duration::from_secs(60), "never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let o = child.wait_with_output().expect("finishes");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let cut = results(&out);
    assert_eq!(cut["cancelled"], true);
    let k = cut["replications"].as_u64().expect("replications");
    assert!((2..1_000_000).contains(&k), "kept {k}");

    let again = dir.path().join("again");
    let k_text = k.to_string();
    let scenario = example("concept-1-all-in-one");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "simulate".as_ref(),
        "--quiet".as_ref(),
        scenario.as_os_str(),
        "--threads".as_ref(),
        "1".as_ref(),
        "--replications".as_ref(),
        k_text.as_ref(),
        "--out".as_ref(),
        again.as_os_str(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    let o = run(args);
    assert_ok(&o, "the shorter run");
    let mut full = results(&again);
    full["cancelled"] = Value::Bool(true);
    full["replications_requested"] = Value::from(1_000_000u64);
    assert_eq!(cut, full);
    (cut, dir)
}
