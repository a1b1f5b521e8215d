//! Every example validates and simulates, and its results carry every key the issue requires.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{assert_no_panic, assert_ok, example, examples, num, run, simulate, stdout};

/// The examples the issue asks for; a missing one is a failure, not a skipped test.
const REQUIRED: [&str; 7] = [
    "concept-1-all-in-one",
    "concept-2-chained-devices",
    "concept-3-modular-plant",
    "concept-4-integrated-platform",
    "strategy-a-integrated",
    "strategy-a-two-areas",
    "strategy-b-farming-matrix",
];

fn assert_stat(v: &Value, what: &str) {
    let mean = v["mean"]
        .as_f64()
        .unwrap_or_else(|| panic!("{what}.mean is not a number: {v}"));
    let ci = v["ci95"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}.ci95 is not an array: {v}"));
    assert_eq!(ci.len(), 2, "{what}.ci95 must have two elements");
    let (lo, hi) = (
        ci[0].as_f64().expect("ci95[0] is a number"),
        ci[1].as_f64().expect("ci95[1] is a number"),
    );
    assert!(
        lo <= mean + 1e-9 && mean <= hi + 1e-9,
        "{what}: mean {mean} outside its interval [{lo}, {hi}]"
    );
}

fn assert_dist(v: &Value, what: &str) {
    assert_stat(v, what);
    let p = |k: &str| {
        v[k].as_f64()
            .unwrap_or_else(|| panic!("{what}.{k} is not a number: {v}"))
    };
    let (p50, p90, p95) = (p("p50"), p("p90"), p("p95"));
    assert!(
        p50 <= p90 && p90 <= p95,
        "{what}: percentiles out of order {p50} {p90} {p95}"
    );
}

#[test]
fn the_required_examples_exist() {
    let have: Vec<String> = examples()
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    for r in REQUIRED {
        assert!(have.iter().any(|h| h == r), "examples/{r}.toml is missing");
    }
}

#[test]
fn every_example_validates() {
    let files = examples();
    assert!(files.len() >= REQUIRED.len());
    let mut args = vec![std::ffi::OsString::from("validate")];
    args.extend(files.iter().map(|p| p.clone().into_os_string()));
    let o = run(&args);
    assert_no_panic(&o);
    assert_ok(&o, "validate examples/*.toml");
    let out = stdout(&o);
    for f in &files {
        let line = out
            .lines()
            .find(|l| l.starts_with(&f.display().to_string()))
            .unwrap_or_else(|| panic!("no verdict for {}:\n{out}", f.display()));
        assert!(line.contains(": ok"), "{line}");
    }
}

#[test]
fn every_example_simulates_with_every_required_key() {
    for file in examples() {
        let name = file.display().to_string();
        let (dir, r) = simulate(&file, &["--replications", "4", "--threads", "2"]);
        let model = model::load(&name, &std::fs::read_to_string(&file).expect("readable"))
            .expect("example compiles");

        // Provenance.
        assert_eq!(r["seed"].as_u64(), Some(model.seed), "{name}: seed");
        assert!(
            r["rng"].as_str().is_some_and(|s| s.contains("ChaCha")),
            "{name}: rng names the generator"
        );
        assert_eq!(r["replications"].as_u64(), Some(4), "{name}: replications");
        let sha = Sha256::digest(std::fs::read(&file).expect("readable"));
        let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            r["scenario_sha256"].as_str(),
            Some(hex.as_str()),
            "{name}: sha256"
        );

        // Key figures.
        assert_stat(&r["throughput_per_year"], "throughput_per_year");
        assert_dist(&r["vein_to_vein_days"], "vein_to_vein_days");
        assert_stat(&r["on_time_fraction"], "on_time_fraction");
        assert_stat(&r["patients_lost"], "patients_lost");
        let thr = num(&r, "/throughput_per_year/mean");
        let demand = model.expected_patients_per_year();
        assert!(
            thr > 0.7 * demand && thr < 1.3 * demand,
            "{name}: a plant for {demand} patients/year releases {thr} doses/year"
        );

        // One entry per resource, in scenario order.
        let res = r["resources"].as_array().expect("resources is an array");
        let names: Vec<&str> = res.iter().filter_map(|x| x["name"].as_str()).collect();
        let want: Vec<&str> = model.resources.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, want, "{name}: resources");
        for x in res {
            assert_stat(&x["utilisation"], "resources[].utilisation");
        }

        // One entry per step of every product.
        let steps = r["steps"].as_array().expect("steps is an array");
        let n_steps: usize = model.products.iter().map(|p| p.steps.len()).sum();
        assert_eq!(steps.len(), n_steps, "{name}: steps");
        for s in steps {
            assert!(s["product"].is_string() && s["name"].is_string(), "{s}");
            assert_dist(&s["wait_hours"], "steps[].wait_hours");
            assert_stat(&s["hold_violations"], "steps[].hold_violations");
        }

        // Report and tables.
        let out = dir.path().join("out");
        let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
        assert!(
            html.contains("<html") && html.contains(&model.name),
            "{name}: report.html"
        );
        for table in ["summary.csv", "resources.csv", "steps.csv"] {
            let text = std::fs::read_to_string(out.join(table))
                .unwrap_or_else(|_| panic!("{name}: {table} not written"));
            assert!(text.lines().count() >= 2, "{name}: {table} has no rows");
        }
    }
}

fn results_bytes(file: &std::path::Path, seed: &str, threads: &str) -> Vec<u8> {
    let (dir, _) = simulate(
        file,
        &["--replications", "6", "--seed", seed, "--threads", threads],
    );
    std::fs::read(dir.path().join("out/results.json")).expect("results.json")
}

#[test]
fn same_seed_gives_identical_results_on_one_and_two_threads() {
    for stem in ["strategy-b-farming-matrix", "concept-2-chained-devices"] {
        let f = example(stem);
        let one = results_bytes(&f, "424242", "1");
        let two = results_bytes(&f, "424242", "2");
        assert!(
            one == two,
            "{stem}: results.json differs between 1 and 2 threads"
        );
        // The comparison must be able to fail: another seed gives other numbers.
        let other = results_bytes(&f, "424243", "2");
        assert!(one != other, "{stem}: results do not depend on the seed");
    }
}

/// A `compare` run of two examples and what it wrote.
struct Compared {
    /// The temporary folder, removed when dropped.
    _dir: tempfile::TempDir,
    /// The output directory.
    out: std::path::PathBuf,
    /// The two scenario files.
    a: std::path::PathBuf,
    b: std::path::PathBuf,
    /// The finished run.
    o: std::process::Output,
}

/// Runs `atmpflow compare A B --replications 3 [EXTRA…] --out DIR` on two examples and
/// checks that it succeeded without a panic.
fn compare(a: &str, b: &str, extra: &[&str]) -> Compared {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("cmp");
    let (a, b) = (example(a), example(b));
    let mut args = vec![
        "compare".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
        "--replications".as_ref(),
        "3".as_ref(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    args.extend(["--out".as_ref(), out.as_os_str()]);
    let o = run(args);
    assert_no_panic(&o);
    assert_ok(&o, "compare");
    Compared {
        _dir: dir,
        out,
        a,
        b,
        o,
    }
}

#[test]
fn compare_prints_both_scenarios_and_writes_html() {
    let Compared { _dir, out, a, b, o } = compare(
        "strategy-a-integrated",
        "strategy-a-two-areas",
        &["--quiet"],
    );
    let text = stdout(&o);
    let names: Vec<String> = [&a, &b]
        .iter()
        .map(|p| {
            model::load("x", &std::fs::read_to_string(p).expect("readable"))
                .expect("compiles")
                .name
        })
        .collect();
    for n in &names {
        assert!(
            text.contains(n.as_str()),
            "compare output lacks `{n}`:\n{text}"
        );
    }
    let html = std::fs::read_to_string(out.join("compare.html")).expect("compare.html");
    for n in &names {
        assert!(html.contains(n.as_str()), "compare.html lacks `{n}`");
    }
    // Nothing is blocked in either plant: no blocked share anywhere.
    assert!(!text.contains("blocked"), "{text}");
    assert!(!html.contains("blocked"));
    assert!(!out.join("compare_resources.csv").exists());
}

/// Strategy A with and without blocking side by side: the table, the per-resource CSV and the
/// HTML show the share of each resource kept by blocked batches, which is above zero for the
/// blocking plant's bioreactors and zero for every resource of the plant without blocking.
#[test]
fn compare_shows_blocked_time_per_resource_when_a_plant_blocks() {
    let Compared {
        _dir, out, b, o, ..
    } = compare(
        "strategy-a-integrated",
        "strategy-a-integrated-blocking",
        &[],
    );
    let text = stdout(&o);
    assert!(text.contains("share kept by blocked batches"), "{text}");
    let html = std::fs::read_to_string(out.join("compare.html")).expect("compare.html");
    assert!(html.contains("Kept by blocked batches"));
    let csv = std::fs::read_to_string(out.join("compare_resources.csv")).expect("the CSV");
    let kept_name = model::load("x", &std::fs::read_to_string(&b).expect("readable"))
        .expect("compiles")
        .name;
    // The scenario names hold commas, so the first field is quoted.
    let fields = |l: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = l;
        while !rest.is_empty() {
            if let Some(q) = rest.strip_prefix('"') {
                let end = q.find('"').expect("closing quote");
                out.push(q[..end].to_string());
                rest = q[end + 1..].strip_prefix(',').unwrap_or("");
            } else {
                let end = rest.find(',').unwrap_or(rest.len());
                out.push(rest[..end].to_string());
                rest = rest.get(end + 1..).unwrap_or("");
            }
        }
        out
    };
    let mut lines = csv.lines();
    let head = fields(lines.next().expect("header"));
    let at = |name: &str| head.iter().position(|h| h == name).expect(name);
    let (scenario, resource, blocked) = (at("scenario"), at("resource"), at("blocked_mean"));
    let rows: Vec<Vec<String>> = lines.map(fields).collect();
    let share = |r: &Vec<String>| r[blocked].parse::<f64>().expect("a number");
    let (kept, free): (Vec<&Vec<String>>, Vec<&Vec<String>>) =
        rows.iter().partition(|r| r[scenario] == kept_name);
    assert!(!kept.is_empty() && !free.is_empty(), "{csv}");
    assert!(
        kept.iter()
            .any(|r| r[resource] == "expansion-bioreactor" && share(r) > 0.0),
        "the blocking plant's bioreactors are blocked:\n{csv}"
    );
    assert!(
        free.iter().all(|r| share(r) == 0.0),
        "nothing blocked without blocking:\n{csv}"
    );
}

/// The Strategy A example with blocking differs from the one without only in its expansion
/// steps keeping their bioreactors: with the same seed, the bioreactors (and their places in
/// area D) are blocked part of the time and nothing else is, while without blocking nothing
/// is ever blocked (docs/scenario-format.md compares the two).
#[test]
fn strategy_a_with_blocking_keeps_bioreactors_and_only_them() {
    let free = example("strategy-a-integrated");
    let kept = example("strategy-a-integrated-blocking");
    let a = std::fs::read_to_string(&free).expect("example");
    let b = std::fs::read_to_string(&kept).expect("example");
    // The same plant: the blocking file adds a header, a name suffix and two `blocking` lines.
    let strip = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| {
                !l.starts_with('#')
                    && !l.starts_with("blocking = ")
                    && !l.starts_with("name = \"Strategy A")
            })
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        strip(&a),
        strip(&b),
        "the two Strategy A files differ beyond blocking"
    );
    let args = ["--replications", "6"];
    let (_d1, without) = simulate(&free, &args);
    let (_d2, with) = simulate(&kept, &args);
    for r in without["resources"].as_array().expect("resources") {
        assert_eq!(num(r, "/blocked/mean"), 0.0, "{r}");
    }
    for r in with["resources"].as_array().expect("resources") {
        let name = r["name"].as_str().expect("name");
        let blocked = num(r, "/blocked/mean");
        if name == "expansion-bioreactor" || name == "area-d" {
            assert!(blocked > 0.0, "{name} is never blocked");
            assert!(num(r, "/blocked_hours_per_year/mean") > 0.0);
        } else {
            assert_eq!(blocked, 0.0, "{name} blocked");
        }
    }
}
