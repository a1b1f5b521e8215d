//! Bad input is rejected with an error naming file, line and field; never a panic, never a
//! silent default.
//!
//! Each fixture in `tests/fixtures/bad/` holds one mistake. Its header says what the error
//! must say (`# expect: FIELD | MESSAGE`), and the offending line carries the comment
//! `# <- here`; the test checks that the error names the file, exactly that line, the field
//! path and the message.

use std::path::{Path, PathBuf};

use crate::support::{
    BadFixture, assert_no_panic, assert_refused, assert_stderr_has, bad_fixtures, bin, example,
    run, simulate_one_replication, squash, stderr, stdout,
};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad")
}

fn cases() -> Vec<BadFixture> {
    bad_fixtures("bad")
}

#[test]
fn there_is_a_fixture_for_every_case_of_the_issue() {
    let names: Vec<String> = cases().into_iter().map(|c| c.name).collect();
    for want in [
        "toml-syntax-error.toml",
        "unknown-resource.toml",
        "negative-duration.toml",
        "impossible-duration.toml",
        "loop-no-exit.toml",
        "step-no-resource.toml",
        "hold-shorter-than-transfer.toml",
        "unknown-field.toml",
        "wrong-type.toml",
        "missing-unit.toml",
        "unknown-goto-step.toml",
        "replications-too-few.toml",
        "warmup-not-shorter-than-horizon.toml",
        "duplicate-names.toml",
        "zero-capacity.toml",
        "shift-end-before-start.toml",
        "decision-both-thresholds.toml",
        "horizon-1e308-days.toml",
        "horizon-1e9-days.toml",
        "patients-1e9-per-year.toml",
        "breakdowns-without-end.toml",
        "lognormal-infinite-variance.toml",
        "shift-count-zero.toml",
        "duration-1e308-days.toml",
        "duration-over-100-years.toml",
        "missing-horizon.toml",
        "count-without-value.toml",
        "not-utf8.toml",
        "keep-unknown.toml",
        "keep-not-used.toml",
        "keep-staff.toml",
        "keep-twice.toml",
        "keep-with-blocking.toml",
        "keep-with-blocking-false.toml",
    ] {
        assert!(names.iter().any(|n| n == want), "fixture {want} is missing");
    }
}

#[test]
fn every_bad_fixture_is_rejected_with_file_line_and_field() {
    let mut failures = Vec::new();
    for c in cases() {
        // Run from the fixture directory with a bare file name, as a user would.
        let o = bin()
            .current_dir(fixtures_dir())
            .args(["validate", &c.name])
            .output()
            .expect("binary runs");
        assert_no_panic(&o);
        let err = stderr(&o);
        let mut problems = Vec::new();
        if o.status.success() {
            problems.push("exit status 0".to_string());
        }
        problems.extend(c.unsaid(&err));
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n{err}", c.name, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn simulate_rejects_bad_input_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    for c in cases() {
        let o = bin()
            .args([
                "simulate".as_ref(),
                c.file.as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
            ])
            .output()
            .expect("binary runs");
        assert_no_panic(&o);
        assert!(
            !o.status.success(),
            "{}: simulate accepted bad input",
            c.name
        );
        assert!(
            squash(&stderr(&o)).contains(&squash(&format!("{}:{}:", c.file.display(), c.line))),
            "{}: simulate does not point at the line:\n{}",
            c.name,
            stderr(&o)
        );
        assert!(
            !out.join("results.json").exists(),
            "{}: results written",
            c.name
        );
    }
}

#[test]
fn validate_checks_every_file_and_fails_if_one_is_bad() {
    let good = example("concept-1-all-in-one");
    let bad = fixtures_dir().join("unknown-resource.toml");
    let o = run([good.as_os_str(), bad.as_os_str()].iter().fold(
        vec![std::ffi::OsString::from("validate")],
        |mut v, p| {
            v.push(p.to_os_string());
            v
        },
    ));
    assert_no_panic(&o);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains(": ok"),
        "the good file is still reported"
    );
    assert_stderr_has(&o, "1 of 2 file(s) failed");
}

#[test]
fn unreadable_and_binary_files_are_reported_not_panicked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-scenario.toml");
    let o = run(["validate".as_ref(), missing.as_os_str()]);
    assert_refused(&o, "no-such-scenario.toml");

    let binary = dir.path().join("binary.toml");
    std::fs::write(&binary, [0xff_u8, 0xfe, 0x00, 0x41]).expect("write");
    let o = run(["validate".as_ref(), binary.as_os_str()]);
    assert_refused(&o, "UTF-8");

    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").expect("write");
    let o = run(["validate".as_ref(), empty.as_os_str()]);
    assert_refused(&o, "missing field `scenario`");
}

#[test]
fn replications_below_two_on_the_command_line_are_rejected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let o = simulate_one_replication(dir.path());
    assert_refused(&o, "at least 2 replications");
}

#[test]
fn a_bad_orders_file_is_rejected_at_its_line_and_column_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let orders = dir.path().join("orders.csv");
    std::fs::write(&orders, "id,product,release_h\nP1,car-t,0\nP2,car-t,soon\n").expect("write");
    let out = dir.path().join("plan");
    let o = run([
        "schedule".as_ref(),
        example("concept-3-modular-plant").as_os_str(),
        "--orders".as_ref(),
        orders.as_os_str(),
        "--quiet".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_no_panic(&o);
    assert!(!o.status.success());
    let want = format!(
        "{}:3:10: field release_h: 'soon' is not a number",
        orders.display()
    );
    assert_stderr_has(&o, &want);
    assert!(!out.exists(), "nothing written");
}

/// A valid scenario to which the file-limit tests append.
fn base_scenario() -> String {
    std::fs::read_to_string(fixtures_dir().join("zero-patients.toml"))
        .expect("fixture readable")
        .replace(
            "patients_per_year = 0   # <- here",
            "patients_per_year = 50",
        )
}

fn validate_text(name: &str, text: &[u8]) -> (std::process::Output, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(name);
    std::fs::write(&file, text).expect("write");
    let o = run(["validate".as_ref(), file.as_os_str()]);
    assert_no_panic(&o);
    let err = stderr(&o);
    (o, err)
}

#[test]
fn the_base_of_the_file_limit_cases_is_valid() {
    let (o, err) = validate_text("base.toml", base_scenario().as_bytes());
    assert!(o.status.success(), "{err}");
}

#[test]
fn a_file_over_the_size_limit_is_refused_before_parsing() {
    // A valid scenario followed by a comment that takes it past the limit.
    let mut text = base_scenario();
    text.push('#');
    text.push_str(&"x".repeat(model::limits::MAX_FILE_BYTES));
    text.push('\n');
    let (o, err) = validate_text("huge.toml", text.as_bytes());
    assert!(!o.status.success());
    assert!(
        squash(&err).contains(&squash(&format!(
            "files are limited to {} bytes",
            model::limits::MAX_FILE_BYTES
        ))),
        "{err}"
    );
    assert!(err.contains("huge.toml:1:1"), "{err}");
}

#[test]
fn a_file_with_too_many_tables_is_refused() {
    let mut text = base_scenario();
    for i in 0..=model::limits::MAX_TABLES {
        text.push_str(&format!(
            "[[equipment]]\nname = \"e{i}\"\ncount = 1\ndispatch = \"fifo\"\n"
        ));
    }
    let (o, err) = validate_text("tables.toml", text.as_bytes());
    assert!(!o.status.success());
    let flat = squash(&err);
    assert!(
        flat.contains(&squash(&format!(
            "files are limited to {} tables",
            model::limits::MAX_TABLES
        ))),
        "{err}"
    );
    assert!(flat.contains("field`equipment["), "{err}");
}

#[test]
fn deep_nesting_is_a_located_syntax_error_not_a_stack_overflow() {
    let mut text = base_scenario();
    let depth = 100_000;
    text.push_str("[extra]\nx = ");
    text.push_str(&"[".repeat(depth));
    text.push_str(&"]".repeat(depth));
    text.push('\n');
    let (o, err) = validate_text("deep.toml", text.as_bytes());
    assert!(!o.status.success());
    assert!(err.contains("deep.toml:"), "{err}");
}

#[test]
fn a_file_with_thousands_of_errors_reports_the_first_hundred_and_counts_the_rest() {
    let mut text = base_scenario();
    for i in 0..5000 {
        text.push_str(&format!(
            "[[area]]\nname = \"a{i}\"\ngrade = \"B\"\ncapacity = 0\ndispatch = \"fifo\"\n"
        ));
    }
    let (o, err) = validate_text("many.toml", text.as_bytes());
    assert!(!o.status.success());
    let shown = err.matches("an area must hold at least 1 batch").count();
    // Each error is shown in the headline and its label.
    assert!(shown <= 2 * model::limits::MAX_ERRORS, "{shown} shown");
    assert!(
        squash(&err).contains(&squash("4900 more error(s) not shown")),
        "{}",
        &err[err.len().saturating_sub(2000)..]
    );
}

/// A scenario that validates but deadlocks (`tests/fixtures/deadlock/`): `simulate` stops
/// with an error naming the replication, the time, the patients and the resources, and
/// writes no results.
#[test]
fn simulate_stops_a_deadlock_with_an_error_naming_batches_and_resources() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/deadlock/two-cultures-crossed.toml");
    let o = run(["validate".as_ref(), file.as_os_str()]);
    assert_no_panic(&o);
    assert!(o.status.success(), "validate: {}", stderr(&o));
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let o = bin()
        .args([
            "simulate".as_ref(),
            file.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ])
        .output()
        .expect("binary runs");
    assert_no_panic(&o);
    assert!(!o.status.success(), "simulate accepted a deadlock");
    let err = squash(&stderr(&o));
    for part in [
        "replication 0 deadlocked at simulated day 2.00",
        "(product `expand-first`) keeps 1 of `bioreactor` and waits for step `harvest`, which \
         needs 1 of `harvest-isolator`",
        "(product `isolate-first`) keeps 1 of `harvest-isolator` and waits for step \
         `expansion`, which needs 1 of `bioreactor`",
        "`bioreactor` (1 of 1 kept by these batches), `harvest-isolator` (1 of 1 kept by \
         these batches)",
    ] {
        assert!(
            err.contains(&squash(part)),
            "`{part}` missing from:\n{}",
            stderr(&o)
        );
    }
    assert!(!out.join("results.json").exists(), "results written");
}
