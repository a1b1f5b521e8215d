//! Bad input is rejected with an error naming file, line and field; never a panic, never a
//! silent default.
//!
//! Each fixture in `tests/fixtures/bad/` holds one mistake. Its header says what the error
//! must say (`# expect: FIELD | MESSAGE`), and the offending line carries the comment
//! `# <- here`; the test checks that the error names the file, exactly that line, the field
//! path and the message.

use std::path::{Path, PathBuf};

use crate::support::{assert_no_panic, bin, example, run, squash, stderr, stdout};

struct Case {
    file: PathBuf,
    name: String,
    line: usize,
    field: String,
    message: String,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad")
}

fn cases() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures/bad exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).expect("fixture readable");
            let name = file
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let expect = text
                .lines()
                .find_map(|l| l.strip_prefix("# expect: "))
                .unwrap_or_else(|| panic!("{name}: no `# expect:` line"));
            let (field, message) = expect
                .split_once(" | ")
                .unwrap_or_else(|| panic!("{name}: `# expect: FIELD | MESSAGE`"));
            let marked: Vec<usize> = text
                .lines()
                .enumerate()
                .filter(|(_, l)| l.trim_end().ends_with("# <- here"))
                .map(|(i, _)| i + 1)
                .collect();
            assert_eq!(
                marked.len(),
                1,
                "{name}: mark exactly one line with `# <- here`"
            );
            Case {
                name,
                line: marked[0],
                field: field.trim().to_string(),
                message: message.trim().to_string(),
                file,
            }
        })
        .collect()
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
        let flat = squash(&err);
        let mut problems = Vec::new();
        if o.status.success() {
            problems.push("exit status 0".to_string());
        }
        let at = format!("{}:{}:", c.name, c.line);
        if !flat.contains(&squash(&at)) {
            problems.push(format!("does not point at `{at}`"));
        }
        let field = format!("field `{}`", c.field);
        if !flat.contains(&squash(&field)) {
            problems.push(format!("does not name {field}"));
        }
        if !flat.contains(&squash(&c.message)) {
            problems.push(format!("does not say `{}`", c.message));
        }
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
    assert!(
        stderr(&o).contains("1 of 2 file(s) failed"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unreadable_and_binary_files_are_reported_not_panicked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-scenario.toml");
    let o = run(["validate".as_ref(), missing.as_os_str()]);
    assert_no_panic(&o);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no-such-scenario.toml"),
        "{}",
        stderr(&o)
    );

    let binary = dir.path().join("binary.toml");
    std::fs::write(&binary, [0xff_u8, 0xfe, 0x00, 0x41]).expect("write");
    let o = run(["validate".as_ref(), binary.as_os_str()]);
    assert_no_panic(&o);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("UTF-8"), "{}", stderr(&o));

    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").expect("write");
    let o = run(["validate".as_ref(), empty.as_os_str()]);
    assert_no_panic(&o);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("missing field `scenario`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn replications_below_two_on_the_command_line_are_rejected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let o = run([
        "simulate".as_ref(),
        example("concept-1-all-in-one").as_os_str(),
        "--replications".as_ref(),
        "1".as_ref(),
        "--out".as_ref(),
        dir.path().as_os_str(),
    ]);
    assert_no_panic(&o);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("at least 2 replications"),
        "{}",
        stderr(&o)
    );
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
    assert!(stderr(&o).contains(&want), "{}", stderr(&o));
    assert!(!out.exists(), "nothing written");
}
