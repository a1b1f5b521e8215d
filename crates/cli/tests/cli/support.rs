//! Helpers shared by the test modules.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_atmpflow"))
}

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root exists")
}

/// Path of a file under the repository root.
pub fn repo_path(rel: &str) -> PathBuf {
    repo_root().join(rel)
}

/// Every example scenario `examples/*.toml`, sorted.
pub fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo_path("examples"))
        .expect("examples/ exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

/// One example by file stem, e.g. `concept-1-all-in-one`.
pub fn example(stem: &str) -> PathBuf {
    let p = repo_path(&format!("examples/{stem}.toml"));
    assert!(p.is_file(), "missing example {}", p.display());
    p
}

/// Runs the binary with arguments.
pub fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    bin().args(args).output().expect("binary runs")
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Fails with the program's output unless it exited successfully.
pub fn assert_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed with {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

/// Fails if the output shows a Rust panic.
pub fn assert_no_panic(o: &Output) {
    let all = format!("{}{}", stdout(o), stderr(o));
    for sign in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!all.contains(sign), "the program panicked:\n{all}");
    }
    // A panic exits with 101; errors exit with 1.
    assert_ne!(
        o.status.code(),
        Some(101),
        "exit code 101 means a panic:\n{all}"
    );
}

/// Fails unless standard error holds `needle` (standard error shown if not).
#[track_caller]
pub fn assert_stderr_has(o: &Output, needle: &str) {
    assert!(stderr(o).contains(needle), "{}", stderr(o));
}

/// Fails unless the program was refused without a panic, standard error naming `needle`.
#[track_caller]
pub fn assert_refused(o: &Output, needle: &str) {
    assert_no_panic(o);
    assert!(!o.status.success());
    assert_stderr_has(o, needle);
}

/// Simulates the example `concept-1-all-in-one` with a single replication (which the
/// simulator refuses) into `out`.
pub fn simulate_one_replication(out: &Path) -> Output {
    run([
        "simulate".as_ref(),
        example("concept-1-all-in-one").as_os_str(),
        "--replications".as_ref(),
        "1".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
}

/// Simulates `scenario` into a fresh temporary directory and returns it with the parsed
/// `results.json`.
pub fn simulate(scenario: &Path, extra: &[&str]) -> (tempfile::TempDir, Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let mut args: Vec<std::ffi::OsString> = vec![
        "simulate".into(),
        scenario.into(),
        "--quiet".into(),
        "--out".into(),
        out.clone().into(),
    ];
    args.extend(extra.iter().map(|s| (*s).into()));
    let o = run(&args);
    assert_ok(&o, &format!("simulate {}", scenario.display()));
    let text = std::fs::read_to_string(out.join("results.json")).expect("results.json written");
    let v: Value = serde_json::from_str(&text).expect("results.json is JSON");
    (dir, v)
}

/// A number at a JSON pointer, e.g. `/vein_to_vein_days/mean`.
pub fn num(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer}"))
}

/// The element of an array of objects whose `name` is `name`.
pub fn by_name<'a>(v: &'a Value, array: &str, name: &str) -> &'a Value {
    v[array]
        .as_array()
        .unwrap_or_else(|| panic!("`{array}` is not an array"))
        .iter()
        .find(|x| x["name"] == name)
        .unwrap_or_else(|| panic!("no `{name}` in `{array}`"))
}

/// Text with all white space and box-drawing characters removed, so that a message wrapped
/// by the diagnostic renderer still matches.
pub fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '│' | '·' | '╭' | '╰' | '─' | '┬'))
        .collect()
}

/// One bad-input fixture: a file holding one mistake, its header saying what the error must
/// say (`# expect: FIELD | MESSAGE`) and the offending line marked `# <- here`.
pub struct BadFixture {
    pub file: PathBuf,
    pub name: String,
    /// 1-based number of the line marked `# <- here`.
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl BadFixture {
    /// What the error output `err` of a run on this fixture fails to say, each as a
    /// problem: the fixture's name with the marked line, its field and its message.
    pub fn unsaid(&self, err: &str) -> Vec<String> {
        let flat = squash(err);
        let mut problems = Vec::new();
        let at = format!("{}:{}:", self.name, self.line);
        if !flat.contains(&squash(&at)) {
            problems.push(format!("does not point at `{at}`"));
        }
        let field = format!("field `{}`", self.field);
        if !flat.contains(&squash(&field)) {
            problems.push(format!("does not name {field}"));
        }
        if !flat.contains(&squash(&self.message)) {
            problems.push(format!("does not say `{}`", self.message));
        }
        problems
    }
}

/// Every `*.toml` fixture in `tests/fixtures/{folder}`, sorted by name. Read lossily: a
/// fixture may deliberately not be UTF-8.
pub fn bad_fixtures(folder: &str) -> Vec<BadFixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let bytes = std::fs::read(&file).expect("fixture readable");
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let name = file
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let (field, message) = text
                .lines()
                .find_map(|l| l.strip_prefix("# expect: "))
                .and_then(|e| e.split_once(" | "))
                .unwrap_or_else(|| panic!("{name}: no `# expect: FIELD | MESSAGE` line"));
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
            BadFixture {
                line: marked[0],
                field: field.trim().to_string(),
                message: message.trim().to_string(),
                name,
                file,
            }
        })
        .collect()
}
