//! `atmpflow network solve|check`: the Central Germany example end to end, located errors in
//! network files, and a network without a plan.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::support::{
    assert_no_panic, assert_ok, assert_stderr_has, repo_path, run, squash, stderr,
};

fn example() -> std::path::PathBuf {
    let p = repo_path("examples/network/central-germany.toml");
    assert!(p.is_file(), "missing {}", p.display());
    p
}

/// Runs `atmpflow network COMMAND FILE [EXTRA…] --out OUT`.
fn network(command: &str, file: &Path, extra: &[&str], out: &Path) -> Output {
    let mut args: Vec<&OsStr> = vec!["network".as_ref(), command.as_ref(), file.as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    args.extend(["--out".as_ref(), out.as_os_str()]);
    run(args)
}

fn results(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("results.json")).expect("results.json written");
    serde_json::from_str(&text).expect("results.json is JSON")
}

fn parse_report(dir: &Path) -> String {
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report.html written");
    roxmltree::Document::parse(html.trim_start_matches("<!DOCTYPE html>\n"))
        .unwrap_or_else(|e| panic!("report.html is not well-formed: {e}"));
    html
}

#[test]
fn the_central_germany_example_is_planned_with_its_scenarios() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("out");
    let o = network("solve", &example(), &[], &out);
    assert_ok(&o, "network solve");
    let v = results(&out);
    let plan = &v["plan"];
    assert_eq!(plan["status"], "optimal");
    assert_eq!(v["solver"], "HiGHS");
    assert_eq!(v["network_sha256"].as_str().map(str::len), Some(64));
    // Every patient is planned, within the vein-to-vein limit and the capacities.
    let flows = plan["flows"].as_array().expect("flows");
    let planned: f64 = flows
        .iter()
        .map(|f| f["patients"].as_f64().unwrap_or(0.0))
        .sum();
    assert!((planned - 190.0).abs() < 1e-6, "{planned}");
    for f in flows {
        assert!(f["v2v_days"].as_f64().unwrap_or(99.0) <= 28.0 + 1e-9, "{f}");
    }
    let cost = &plan["cost"];
    let sum = cost["fixed"].as_f64().unwrap_or(0.0)
        + cost["manufacturing"].as_f64().unwrap_or(0.0)
        + cost["transport"].as_f64().unwrap_or(0.0);
    assert!((sum - cost["total"].as_f64().unwrap_or(0.0)).abs() < 1e-3);
    // Making the cells in the region is far cheaper than buying at the commercial price: the
    // central plant (existing, so open) gets no patient.
    let central = plan["sites"]
        .as_array()
        .and_then(|s| s.iter().find(|x| x["name"] == "Central commercial plant"))
        .expect("central plant");
    assert_eq!(central["open"], true);
    assert_eq!(central["patients"].as_f64(), Some(0.0));
    // What-ifs: three growth factors, one quarter per open site that carries patients.
    let w = &v["what_if"];
    assert_eq!(w["growth"].as_array().map(Vec::len), Some(3));
    assert!(!w["site_down"].as_array().expect("site_down").is_empty());
    for name in ["sites.csv", "flows.csv", "scenarios.csv"] {
        let text = std::fs::read_to_string(out.join(name)).expect("csv written");
        assert!(text.lines().count() > 1, "{name} is empty");
    }
    let html = parse_report(&out);
    for part in [
        "Network (schematic map)",
        "Flows",
        "Demand growth",
        "A site down for a quarter",
    ] {
        assert!(html.contains(part), "report lacks {part}");
    }
}

#[test]
fn the_check_simulates_every_open_site_next_to_the_optimiser() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("out");
    let o = network(
        "check",
        &example(),
        &["--replications", "3", "--quiet"],
        &out,
    );
    assert_ok(&o, "network check");
    let v = results(&out);
    let check = &v["check"];
    assert_eq!(check["replications"], 3);
    let rounds = check["rounds"].as_array().expect("rounds");
    assert!(!rounds.is_empty());
    let first = &rounds[0];
    let open_with_patients = first["plan"]["sites"]
        .as_array()
        .expect("sites")
        .iter()
        .filter(|s| s["open"] == true && s["patients"].as_f64().unwrap_or(0.0) > 0.0)
        .count();
    let sites = first["sites"].as_array().expect("checked sites");
    assert_eq!(sites.len(), open_with_patients);
    for s in sites {
        let mean = s["v2v_days"]["mean"].as_f64().expect("simulated mean");
        let planned = s["planned_v2v_days"].as_f64().expect("planned");
        // The simulation adds queueing and variability to lead time plus transport, so its
        // mean is not below the optimiser's by more than the process spread.
        assert!(mean > planned - 3.0, "{s}");
        let on_time = s["on_time"]["mean"].as_f64().expect("on time");
        assert!((0.0..=1.0).contains(&on_time));
        assert_eq!(s["passes"].as_bool(), Some(on_time >= 0.9));
    }
    // The loop follows its rule: a failing site is tightened, or the loop says why it ended.
    let last = rounds.last().expect("a round");
    let all_pass = last["sites"]
        .as_array()
        .expect("sites")
        .iter()
        .all(|s| s["passes"] == true);
    assert_eq!(check["passed"].as_bool(), Some(all_pass));
    for r in &rounds[..rounds.len() - 1] {
        assert!(!r["tightened"].as_array().expect("tightened").is_empty());
    }
    let html = parse_report(&out);
    assert!(html.contains("Check by simulation"));
    assert!(html.contains("optimiser vein-to-vein d"));
    assert!(std::fs::read_to_string(out.join("check.csv")).is_ok());
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

const SMALL: &str = r#"[network]
name = "small"

[[product]]
name = "car-t"
max_vein_to_vein_days = 25

[[region]]
name = "R"
patients_per_year = { car-t = 10 }

[[site]]
name = "S"
fixed_cost_per_year = 100
capacity_patients_per_year = 20
variable_cost_per_patient = 1
lead_time_days = 20

[[link]]
region = "R"
site = "S"
days = 2
cost_per_patient = 5
"#;

#[test]
fn errors_in_a_network_file_name_file_line_and_field() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let bad = SMALL.replace("site = \"S\"", "site = \"T\"").replace(
        "capacity_patients_per_year = 20",
        "capacity_patients_per_year = -1",
    );
    let p = write(tmp.path(), "bad.toml", &bad);
    let o = network("solve", &p, &[], &tmp.path().join("o"));
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    let e = squash(&stderr(&o));
    assert!(
        e.contains("bad.toml:15:1:field`site[0].capacity_patients_per_year`"),
        "{e}"
    );
    assert!(
        e.contains("field`link[0].site`:nosite`T`;sitesare:`S`"),
        "{e}"
    );
    assert!(!tmp.path().join("o/results.json").exists());
    // A syntax error and an unknown field are located too.
    let p = write(
        tmp.path(),
        "typo.toml",
        &SMALL.replace("lead_time_days", "lead_days"),
    );
    let o = run(["network".as_ref(), "solve".as_ref(), p.as_os_str()]);
    assert_eq!(o.status.code(), Some(1));
    let e = squash(&stderr(&o));
    assert!(e.contains("typo.toml:17:1"), "{e}");
    assert!(e.contains("lead_days"), "{e}");
}

#[test]
fn a_network_without_a_plan_says_why() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let p = write(
        tmp.path(),
        "slow.toml",
        &SMALL.replace("max_vein_to_vein_days = 25", "max_vein_to_vein_days = 21"),
    );
    let o = network("solve", &p, &[], &tmp.path().join("o"));
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("no plan meets every rule"), "{e}");
    assert!(
        e.contains("`S` takes 22 days (20 lead time + 2 transport) > 21 allowed"),
        "{e}"
    );
    assert!(!tmp.path().join("o/results.json").exists());
}

#[test]
fn the_check_needs_a_concept_for_every_open_site() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let p = write(tmp.path(), "net.toml", SMALL);
    let o = network("check", &p, &[], &tmp.path().join("o"));
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o)
            .contains("site `S`: the site has no concept scenario (site.concept) to simulate"),
        "{}",
        stderr(&o)
    );
    // A concept without the network's product is named.
    let concept = repo_path("examples/concept-1-all-in-one.toml");
    let text = SMALL
        .replace("name = \"car-t\"", "name = \"car-nk\"")
        .replace("car-t = 10", "car-nk = 10")
        .replace(
            "name = \"S\"\n",
            &format!(
                "name = \"S\"\nconcept = {:?}\n",
                concept.display().to_string()
            ),
        );
    let p = write(tmp.path(), "nk.toml", &text);
    let o = network("check", &p, &[], &tmp.path().join("o2"));
    assert_eq!(o.status.code(), Some(1));
    assert_stderr_has(
        &o,
        "the concept scenario has no product `car-nk` (it has: `car-t`)",
    );
}

/// Every fixture in `tests/fixtures/bad-network/` holds one mistake, written like the
/// scenario fixtures of `bad_input.rs`: `# expect: FIELD | MESSAGE` in its header and
/// `# <- here` on the offending line. `network solve` must name the file, that line, the
/// field and the message, exit 1 and write nothing.
#[test]
fn every_bad_network_fixture_is_rejected_with_file_line_and_field() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad-network");
    let fixtures = crate::support::bad_fixtures("bad-network");
    assert!(
        fixtures.len() >= 10,
        "only {} bad network fixtures",
        fixtures.len()
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut failures = Vec::new();
    for fx in fixtures {
        let name = &fx.name;
        let out = tmp.path().join(name);
        let o = crate::support::bin()
            .current_dir(&dir)
            .args([
                "network".as_ref(),
                "solve".as_ref(),
                name.as_ref(),
                "--out".as_ref(),
                out.as_os_str(),
            ])
            .output()
            .expect("binary runs");
        assert_no_panic(&o);
        let err = stderr(&o);
        let mut problems = Vec::new();
        if o.status.code() != Some(1) {
            problems.push(format!("exit status {:?}", o.status.code()));
        }
        problems.extend(fx.unsaid(&err));
        if out.join("results.json").exists() {
            problems.push("results.json written".to_string());
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}\n{err}", problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `atmpflow study` on a study file that names a network: every combination of the axes is
/// the network planned anew; the cheapest plan changes with the swept parameters as the
/// example's comment says, and a bad axis path is a located error.
#[test]
fn a_study_sweeps_network_parameters() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("out");
    let file = repo_path("examples/studies/network-central-germany.toml");
    let o = run([
        "study".as_ref(),
        file.as_os_str(),
        "--quiet".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_ok(&o, "network study");
    let text = std::fs::read_to_string(out.join("study.json")).expect("study.json written");
    let v: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(v["kind"], "network");
    let points = v["study"]["points"].as_array().expect("points");
    assert_eq!(points.len(), 5 * 3);
    // The last axis runs fastest.
    assert_eq!(points[1]["values"][0].as_f64(), Some(5.0));
    assert_eq!(points[1]["values"][1].as_f64(), Some(1_800_000.0));
    for p in points {
        assert_eq!(p["outcome"], "planned", "{p}");
        let per_centre = p["values"][0].as_f64().expect("value");
        let plan = &p["plan"];
        // Every point plans all its patients (five centres).
        assert!((plan["patients"].as_f64().unwrap_or(0.0) - 5.0 * per_centre).abs() < 1e-9);
        let per_patient = plan["cost_per_patient"].as_f64().expect("cost per patient");
        let total = plan["total_cost"].as_f64().expect("total");
        assert!(
            (per_patient * 5.0 * per_centre - total).abs() < 1e-6 * total,
            "{p}"
        );
    }
    let serving = |i: usize| -> Vec<String> {
        points[i]["plan"]["serving_sites"]
            .as_array()
            .expect("serving")
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    // At the file's demand (38 per centre) and cost, one regional plant at Halle serves all;
    // when the Halle plant costs twice as much, Magdeburg's takes its place.
    assert_eq!(serving(3 * 3 + 1), vec!["Halle regional plant".to_string()]);
    assert_eq!(
        serving(3 * 3 + 2),
        vec!["Magdeburg regional plant".to_string()]
    );
    // The same points solved directly agree with the study (same cost at the file's values).
    let direct = tmp.path().join("direct");
    let o = network(
        "solve",
        &repo_path("examples/network/central-germany.toml"),
        &["--quiet"],
        &direct,
    );
    assert_ok(&o, "network solve");
    let d = results(&direct);
    let p = &points[3 * 3 + 1]["plan"];
    // 38 per centre is 190 in all, but spread evenly rather than as in the file.
    assert!(
        (p["patients"].as_f64().unwrap_or(0.0) - d["plan"]["patients"].as_f64().unwrap_or(1.0))
            .abs()
            < 1e-9
    );
    let csv = std::fs::read_to_string(out.join("points.csv")).expect("points.csv");
    assert_eq!(csv.lines().count(), 1 + 15);
    let html = std::fs::read_to_string(out.join("study.html")).expect("study.html");
    roxmltree::Document::parse(html.trim_start_matches("<!DOCTYPE html>\n"))
        .unwrap_or_else(|e| panic!("study.html is not well-formed: {e}"));
    assert!(html.contains("Cost per patient along"));

    // A path that matches nothing in the network file names the axis and the line.
    let bad = tmp.path().join("bad-study.toml");
    let text = std::fs::read_to_string(&file)
        .expect("study file")
        .replace("site.Halle regional plant.", "site.Hale regional plant.")
        .replace(
            "\"../network/central-germany.toml\"",
            &format!(
                "{:?}",
                repo_path("examples/network/central-germany.toml")
                    .display()
                    .to_string()
            ),
        );
    std::fs::write(&bad, text).expect("write");
    let o = run([
        "study".as_ref(),
        bad.as_os_str(),
        "--out".as_ref(),
        tmp.path().join("o").as_os_str(),
    ]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    let e = squash(&stderr(&o));
    assert!(e.contains("field`axis[1].param`"), "{e}");
    assert!(e.contains("noelementnamed`Hale"), "{e}");
    assert!(!tmp.path().join("o/study.json").exists());
}
