//! End-to-end tests of `atmpflow pat fit|predict` on generated spectra: calibration with
//! cross-validation, estimates with domain flags, and located errors for every bad input.

use std::path::{Path, PathBuf};
use std::process::Output;

#[path = "support/run.rs"]
mod support;
use support::{out_err as text, run};

/// Spectra of two analytes (Gaussian bands) on a sloping baseline, with xorshift noise.
fn write_data(dir: &Path, name: &str, n: usize, offset: f64, seed: u64) -> (PathBuf, PathBuf) {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let p = 80;
    let mut x = String::from("sample");
    for j in 0..p {
        x.push_str(&format!(",{}", 800 + 5 * j));
    }
    x.push('\n');
    let mut y = String::from("sample,glucose,lactate\n");
    for i in 0..n {
        let (g, l) = (offset + 1.0 + 3.0 * next(), 0.5 + 1.5 * next());
        let base = 0.3 * next();
        x.push_str(&format!("{name}{i}"));
        for j in 0..p {
            let band = |c: f64, w: f64| (-((j as f64 - c) / w).powi(2)).exp();
            let v = g * band(25.0, 3.0)
                + l * band(55.0, 4.0)
                + base
                + 0.002 * j as f64
                + 0.003 * (next() - 0.5);
            x.push_str(&format!(",{v}"));
        }
        x.push('\n');
        y.push_str(&format!("{name}{i},{g},{l}\n"));
    }
    let xp = dir.join(format!("{name}-x.csv"));
    let yp = dir.join(format!("{name}-y.csv"));
    std::fs::write(&xp, x).expect("write");
    std::fs::write(&yp, y).expect("write");
    (xp, yp)
}

fn fit(dir: &Path, x: &Path, y: &Path, extra: &[&str]) -> (Output, PathBuf) {
    let model = dir.join("model.json");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "pat".as_ref(),
        "fit".as_ref(),
        "--spectra".as_ref(),
        x.as_os_str(),
        "--reference".as_ref(),
        y.as_os_str(),
        "--out".as_ref(),
        model.as_os_str(),
    ];
    args.extend(extra.iter().map(|s| std::ffi::OsStr::new(*s)));
    (run(&args), model)
}

fn predict(model: &Path, x: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "pat".as_ref(),
        "predict".as_ref(),
        model.as_os_str(),
        "--spectra".as_ref(),
        x.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    args.extend(extra.iter().map(|s| std::ffi::OsStr::new(*s)));
    run(&args)
}

#[test]
fn fit_then_predict_estimates_and_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (x, y) = write_data(dir.path(), "cal", 50, 0.0, 3);
    let (o, model) = fit(
        dir.path(),
        &x,
        &y,
        &[
            "--components",
            "4",
            "--preprocess",
            "savgol:7:2:1",
            "--cv",
            "5",
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("RMSECV (5 contiguous folds)"), "{out}");
    assert!(out.contains("<- lowest"), "{out}");
    assert!(model.is_file());

    let (xt, yt) = write_data(dir.path(), "new", 10, 0.0, 17);
    let pred = dir.path().join("pred.csv");
    let o = predict(&model, &xt, &pred, &[]);
    assert!(o.status.success(), "{}", text(&o).1);
    let rows: Vec<Vec<String>> = std::fs::read_to_string(&pred)
        .expect("written")
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "sample",
            "glucose",
            "lactate",
            "hotelling_t2",
            "q_residual",
            "domain"
        ]
    );
    let truth: Vec<Vec<f64>> = std::fs::read_to_string(&yt)
        .expect("reference")
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .skip(1)
                .map(|v| v.parse().expect("number"))
                .collect()
        })
        .collect();
    for (row, t) in rows[1..].iter().zip(&truth) {
        let g: f64 = row[1].parse().expect("number");
        assert!((g - t[0]).abs() < 0.1, "glucose {g} vs {}", t[0]);
    }

    // Glucose far above the calibration range: flagged, and refused with --strict.
    let (xf, _) = write_data(dir.path(), "far", 3, 20.0, 5);
    // the earlier predictions stay: an existing output is replaced only with --force
    let o = predict(&model, &xf, &pred, &[]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("--force"));
    let o = predict(&model, &xf, &pred, &["--force"]);
    let (_, err) = text(&o);
    assert!(o.status.success());
    assert!(err.contains("3 of 3 sample(s) outside"), "{err}");
    let flagged = std::fs::read_to_string(&pred).expect("written");
    assert_eq!(
        flagged.lines().filter(|l| l.contains(",outside:")).count(),
        3
    );
    let strict = dir.path().join("strict.csv");
    let o = predict(&model, &xf, &strict, &["--strict"]);
    assert!(!o.status.success());
    assert!(!strict.exists(), "--strict must write nothing");
}

#[test]
fn bad_inputs_are_located() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (x, y) = write_data(dir.path(), "cal", 12, 0.0, 3);
    let case = |name: &str, content: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, content).expect("write");
        p
    };
    let bad_y = case("bad-y.csv", "sample,glucose\ncal0,1\ncal1,x2\n");
    let (o, _) = fit(dir.path(), &x, &bad_y, &["--components", "2"]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("bad-y.csv:3: column `glucose`: `x2` is not a number"),
        "{err}"
    );

    let short_y = case("short-y.csv", "sample,glucose\ncal0,1\ncal1,2\n");
    let (o, _) = fit(dir.path(), &x, &short_y, &["--components", "2"]);
    let (_, err) = text(&o);
    assert!(
        err.contains("cal-x.csv:4: sample `cal2` has no row in"),
        "{err}"
    );

    for (extra, expect) in [
        (&["--components", "0"][..], "between 1 and"),
        (
            &["--components", "2", "--preprocess", "savgol:4:2:0"][..],
            "must be odd",
        ),
        (
            &["--components", "2", "--preprocess", "msc"][..],
            "unknown step `msc`",
        ),
        (&["--components", "2", "--cv", "40"][..], "between 2 and 12"),
        (
            &["--components", "2", "--confidence", "1.5"][..],
            "between 0 and 1",
        ),
    ] {
        let (o, _) = fit(dir.path(), &x, &y, extra);
        let (_, err) = text(&o);
        assert!(!o.status.success(), "{extra:?} accepted");
        assert!(err.contains(expect), "{extra:?}: {err}");
    }

    let (o, model) = fit(dir.path(), &x, &y, &["--components", "2"]);
    assert!(o.status.success(), "{}", text(&o).1);
    let other = case("other.csv", "sample,800,999\nz,1,2\n");
    let pred = dir.path().join("p.csv");
    let o = predict(&model, &other, &pred, &[]);
    let (_, err) = text(&o);
    assert!(
        err.contains("other.csv:1: the spectra do not match the calibration: column 3 is `999`"),
        "{err}"
    );

    let broken = case(
        "broken.json",
        "{\"format\": \"atmpflow-pat-soft-sensor/1\",\n \"variables\": 7}",
    );
    let o = predict(&broken, &x, &pred, &[]);
    let (_, err) = text(&o);
    assert!(err.contains("broken.json:2:"), "{err}");
    let o = predict(&dir.path().join("missing.json"), &x, &pred, &[]);
    assert!(text(&o).1.contains("cannot read"), "{}", text(&o).1);
    assert!(!pred.exists(), "nothing written after errors");
}

/// The documented example: simulate a calibration and a test cohort, calibrate, estimate.
#[test]
fn simulated_cohort_chain_runs_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cal = dir.path().join("cal");
    let new = dir.path().join("new");
    for (out, seed, n) in [(&cal, "1", "6"), (&new, "2", "2")] {
        let o = run(&[
            "pat".as_ref(),
            "simulate".as_ref(),
            "--patients".as_ref(),
            n.as_ref(),
            "--seed".as_ref(),
            seed.as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        let (stdout, err) = text(&o);
        assert!(o.status.success(), "{err}");
        assert!(stdout.contains("harvest day"), "{stdout}");
    }
    let (o, model) = fit(
        dir.path(),
        &cal.join("spectra.csv"),
        &cal.join("reference.csv"),
        &[
            "--components",
            "6",
            "--preprocess",
            "savgol:9:2:1",
            "--cv",
            "6",
        ],
    );
    assert!(o.status.success(), "{}", text(&o).1);
    let pred = dir.path().join("pred.csv");
    let o = predict(&model, &new.join("spectra.csv"), &pred, &[]);
    assert!(o.status.success(), "{}", text(&o).1);
    let est = std::fs::read_to_string(&pred).expect("written");
    let truth = std::fs::read_to_string(new.join("reference.csv")).expect("written");
    let mut worst: f64 = 0.0;
    for (e, t) in est.lines().skip(1).zip(truth.lines().skip(1)) {
        let e: Vec<&str> = e.split(',').collect();
        let t: Vec<&str> = t.split(',').collect();
        assert_eq!(e[0], t[0]);
        let g = |v: &str| v.parse::<f64>().expect("number");
        worst = worst.max((g(e[1]) - g(t[1])).abs());
    }
    assert!(worst < 3.0, "largest glucose error {worst} mM");
}

/// A second run into the same folder is refused before anything is written unless `--force`
/// is given; the files of the first run stay as they were.
#[test]
fn simulate_refuses_existing_outputs_without_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("cohort");
    let sim = |seed: &str, force: bool| {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "pat".as_ref(),
            "simulate".as_ref(),
            "--patients".as_ref(),
            "1".as_ref(),
            "--days".as_ref(),
            "2".as_ref(),
            "--seed".as_ref(),
            seed.as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ];
        if force {
            args.push("--force".as_ref());
        }
        run(&args)
    };
    assert!(sim("1", false).status.success());
    let first = std::fs::read_to_string(out.join("spectra.csv")).expect("written");
    // only one of the four files is left: the refusal still names it and writes nothing
    std::fs::remove_file(out.join("spectra.csv")).expect("remove");
    std::fs::remove_file(out.join("reference.csv")).expect("remove");
    std::fs::remove_file(out.join("patients.csv")).expect("remove");
    let o = sim("2", false);
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("trajectories.csv exists"),
        "{}",
        text(&o).1
    );
    assert!(!out.join("spectra.csv").exists(), "no partial set written");
    let o = sim("1", true);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(
        std::fs::read_to_string(out.join("spectra.csv")).expect("written"),
        first,
        "same seed, same spectra"
    );
    let o = sim("1", false);
    assert!(text(&o).1.contains("--force"), "{}", text(&o).1);
}

fn control(out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "pat".as_ref(),
        "control".as_ref(),
        "--patients".as_ref(),
        "3".as_ref(),
        "--quiet".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    run(&args)
}

/// Closed-loop feeding on a small cohort: the controller holds the glucose target better
/// than the fixed schedule, the files are complete, and the same seed gives the same numbers.
#[test]
fn control_compares_mpc_with_the_fixed_schedule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("ctl");
    let o = control(&out, &[]);
    let (stdout, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(stdout.contains("seed 1, ChaCha8"), "{stdout}");
    let summary = std::fs::read_to_string(out.join("summary.csv")).expect("summary");
    let rows: Vec<Vec<String>> = summary
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["mpc", "fixed-at-dose", "fixed-duration"]);
    let num = |r: &Vec<String>, i: usize| r[i].parse::<f64>().expect("number");
    // glucose-low days (column 6): the controller below both fixed strategies
    assert!(num(&rows[0], 6) < num(&rows[1], 6), "{summary}");
    assert!(num(&rows[0], 6) < num(&rows[2], 6), "{summary}");
    // less medium than the fixed schedule run for the fixed duration (column 5)
    assert!(num(&rows[0], 5) < num(&rows[2], 5), "{summary}");
    let traj = std::fs::read_to_string(out.join("trajectories.csv")).expect("trajectories");
    assert!(traj.lines().count() > 3 * 3 * 10, "a row per control time");
    let outcomes = std::fs::read_to_string(out.join("outcomes.csv")).expect("outcomes");
    assert_eq!(outcomes.lines().count(), 1 + 3 * 3);
    let page = std::fs::read_to_string(out.join("control.html")).expect("page");
    for title in [
        "Viable cells",
        "Glucose",
        "Lactate",
        "Perfusion",
        "predicted, 5–95 % over patients",
        "harvest at (dose + margin)",
    ] {
        assert!(page.contains(title), "{title} missing from the page");
    }
    assert_eq!(page.matches("<svg").count(), 4);
    check_page_layout(&page);
    // The sensor the controller used is written and loads as a `pat fit` model would.
    let sensor_text = std::fs::read_to_string(out.join("sensor.json")).expect("sensor");
    let sensor = pat::sensor::SoftSensor::from_json("sensor.json", &sensor_text).expect("loads");
    assert_eq!(
        sensor.responses,
        ["glucose_mM", "lactate_mM", pat::control::CELLS]
    );
    // same seed, same numbers; another seed, other numbers
    let again = dir.path().join("again");
    assert!(control(&again, &[]).status.success());
    assert_eq!(
        std::fs::read_to_string(again.join("outcomes.csv")).expect("outcomes"),
        outcomes
    );
    let other = dir.path().join("other");
    assert!(control(&other, &["--seed", "7"]).status.success());
    assert_ne!(
        std::fs::read_to_string(other.join("outcomes.csv")).expect("outcomes"),
        outcomes
    );
}

/// The page of patient 0 (whose parameters and spectra do not depend on the cohort's size, so
/// its charts are those of the documented 20-patient example): the cell, glucose and lactate
/// charts carry the controller's shaded prediction band, and no two harvest labels overlap.
fn check_page_layout(page: &str) {
    let doc = roxmltree::Document::parse(page.trim_start_matches("<!DOCTYPE html>\n"))
        .expect("well-formed page");
    let svgs: Vec<_> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "svg")
        .collect();
    let attr = |n: &roxmltree::Node, a: &str| -> f64 {
        n.attribute(a).expect("attribute").parse().expect("number")
    };
    for (i, svg) in svgs.iter().enumerate() {
        let bands: Vec<_> = svg
            .descendants()
            .filter(|n| n.attribute("class") == Some("band"))
            .collect();
        if i < 3 {
            assert!(!bands.is_empty(), "chart {i} has no prediction band");
            for b in &bands {
                let d = b.attribute("d").expect("outline");
                assert!(d.matches(" L").count() >= 5, "band outline {d}");
                assert!(b.attribute("fill-opacity").is_some(), "shaded");
            }
        } else {
            assert!(bands.is_empty(), "the perfusion chart has no band");
        }
        // label boxes: 11 px text, ≈ 0.58 em per character, above the baseline
        let boxes: Vec<(f64, f64, f64, f64, String)> = svg
            .descendants()
            .filter(|n| n.attribute("class") == Some("mark-label"))
            .map(|n| {
                let text = n.text().unwrap_or_default().to_string();
                let (x, y) = (attr(&n, "x"), attr(&n, "y"));
                let w = text.chars().count() as f64 * 11.0 * 0.58;
                (x, y - 11.0, x + w, y, text)
            })
            .collect();
        assert!(
            boxes.iter().any(|b| b.4.contains("harvest mpc")),
            "harvest labels in chart {i}"
        );
        for (a, p) in boxes.iter().enumerate() {
            for q in &boxes[a + 1..] {
                let apart = p.2 <= q.0 || q.2 <= p.0 || p.3 <= q.1 || q.3 <= p.1;
                assert!(apart, "chart {i}: labels `{}` and `{}` overlap", p.4, q.4);
            }
        }
    }
}

#[test]
fn control_refuses_bad_settings_before_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (flag, value, word) in [
        ("--horizon", "0", "horizon"),
        ("--step", "-1", "step_days"),
        ("--perfusion-max", "0", "perfusion_max"),
        ("--lactate-max", "NaN", "lactate_max"),
        ("--dose-margin-sd", "-1", "standard errors"),
        ("--dose-margin", "inf", "dose margin"),
    ] {
        let out = dir.path().join(flag.trim_start_matches('-'));
        let o = control(&out, &[&format!("{flag}={value}")]);
        assert!(!o.status.success(), "{flag} {value}");
        assert!(text(&o).1.contains(word), "{flag}: {}", text(&o).1);
        assert!(!out.join("summary.csv").exists());
    }
    let out = dir.path().join("p");
    let o = control(&out, &["--patients", "0"]);
    assert!(text(&o).1.contains("patients"), "{}", text(&o).1);
}
