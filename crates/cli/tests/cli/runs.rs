//! How `simulate` runs: raw observations on request, results without the per-replication
//! block, the output folder checked before the run, and Ctrl-C that keeps a reproducible
//! prefix of the replications and exits with its own status.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{assert_ok, bin, example, num, run, simulate, stderr};

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

#[test]
fn an_output_folder_that_cannot_be_made_is_reported_before_the_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    // One replication is refused by the simulator, so an error about the folder shows that
    // the folder was checked first.
    let o = run([
        "simulate".as_ref(),
        example("concept-1-all-in-one").as_os_str(),
        "--replications".as_ref(),
        "1".as_ref(),
        "--out".as_ref(),
        file.join("out").as_os_str(),
    ]);
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
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("cut");
    let child = bin()
        .args(["simulate", "--quiet", "--threads", "2"])
        .arg(example("concept-1-all-in-one"))
        .args(["--replications", "1000000", "--no-per-replication", "--out"])
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
    let o = run([
        "simulate".as_ref(),
        "--quiet".as_ref(),
        example("concept-1-all-in-one").as_os_str(),
        "--threads".as_ref(),
        "1".as_ref(),
        "--no-per-replication".as_ref(),
        "--replications".as_ref(),
        k.to_string().as_ref(),
        "--out".as_ref(),
        again.as_os_str(),
    ]);
    assert_ok(&o, "the shorter run");
    let mut full = results(&again);
    full["cancelled"] = Value::Bool(true);
    full["replications_requested"] = Value::from(1_000_000u64);
    assert_eq!(cut, full);
}
