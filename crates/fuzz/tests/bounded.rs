//! Bounded fuzzing on every `cargo test`: each target gets every file of its
//! committed corpus (`fuzz/corpus/NAME/`) and then mutations of them —
//! bytes flipped, inserted, deleted, duplicated and spliced between seeds —
//! from proptest's seeded generator (a failure prints the seed and the
//! shrunk input). `FUZZ_CASES` sets the number of mutated inputs per target
//! (default 256); the coverage-guided search is libFuzzer's in `fuzz/`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.display().to_string(), bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no corpus", dir.display());
    files
}

fn target(name: &str) -> fn(&[u8]) {
    fuzz::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no target {name}"))
}

fn timed(name: &str, f: fn(&[u8]), input: &[u8], what: &str) {
    let t = Instant::now();
    f(input);
    let took = t.elapsed();
    assert!(
        took < fuzz::TIME_LIMIT,
        "{name}: {what} took {took:?} (limit {:?})",
        fuzz::TIME_LIMIT
    );
}

#[derive(Debug, Clone)]
enum Edit {
    Flip {
        at: usize,
        bit: u8,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Duplicate {
        at: usize,
        len: usize,
    },
    Splice {
        at: usize,
        seed: usize,
        from: usize,
        len: usize,
    },
}

/// Tokens that move a TOML/JSON/query reader into its less common paths.
const TOKENS: &[&[u8]] = &[
    b"[",
    b"]",
    b"{",
    b"}",
    b"\"",
    b"'",
    b"=",
    b",",
    b".",
    b"\n",
    b"[[",
    b"]]",
    b"#",
    b"\\u0000",
    b"-1",
    b"1e309",
    b"nan",
    b"inf",
    b"18446744073709551615",
    b"0",
    b"&",
    b"%00",
    b"%",
    b"+",
    b"\xe2\x80\xae",
    b"\x00",
    b"\r\n",
    b"null",
    b"true",
    b"\"modelType\"",
    b"limit=",
    b"cursor=",
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Edit::Flip { at, bit }),
        (
            any::<usize>(),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 1..8),
                proptest::sample::select(TOKENS).prop_map(<[u8]>::to_vec),
            ]
        )
            .prop_map(|(at, bytes)| Edit::Insert { at, bytes }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), 1usize..256).prop_map(|(at, len)| Edit::Duplicate { at, len }),
        (any::<usize>(), any::<usize>(), any::<usize>(), 1usize..256).prop_map(
            |(at, seed, from, len)| Edit::Splice {
                at,
                seed,
                from,
                len
            }
        ),
    ]
}

fn apply(seeds: &[(String, Vec<u8>)], base: usize, edits: &[Edit]) -> Vec<u8> {
    let mut v = seeds[base % seeds.len()].1.clone();
    for e in edits {
        let n = v.len();
        match e {
            Edit::Flip { at, bit } => {
                if n > 0 {
                    v[at % n] ^= 1 << bit;
                }
            }
            Edit::Insert { at, bytes } => {
                let at = at % (n + 1);
                v.splice(at..at, bytes.iter().copied());
            }
            Edit::Delete { at, len } => {
                let at = at % (n + 1);
                v.drain(at..(at + len).min(n));
            }
            Edit::Duplicate { at, len } => {
                let at = at % (n + 1);
                let part = v[at..(at + len).min(n)].to_vec();
                v.splice(at..at, part);
            }
            Edit::Splice {
                at,
                seed,
                from,
                len,
            } => {
                let other = &seeds[seed % seeds.len()].1;
                let from = from % (other.len() + 1);
                let part = &other[from..(from + len).min(other.len())];
                let at = at % (n + 1);
                v.splice(at..at, part.iter().copied());
            }
        }
    }
    v
}

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

fn run(name: &str) {
    let f = target(name);
    let seeds = corpus(name);
    for (file, bytes) in &seeds {
        timed(name, f, bytes, file);
    }
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    // a fixed seed per target: the same inputs on every run and machine
    let mut seed = [0u8; 32];
    for (i, b) in name.bytes().enumerate() {
        seed[i % 32] ^= b;
    }
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
    let strategy = (any::<usize>(), proptest::collection::vec(edit(), 1..12));
    let result = runner.run(&strategy, |(base, edits)| {
        let input = apply(&seeds, base, &edits);
        std::panic::catch_unwind(|| timed(name, f, &input, "a mutated input")).map_err(|e| {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            TestCaseError::fail(format!(
                "{why}\n-- reproducer ({} bytes, Rust byte string):\nb\"{}\"",
                input.len(),
                input.escape_ascii()
            ))
        })
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

#[test]
fn scenario() {
    run("scenario");
}

#[test]
fn recipe() {
    run("recipe");
}

#[test]
fn record() {
    run("record");
}

#[test]
fn aas_json() {
    run("aas_json");
}

#[test]
fn api_query() {
    run("api_query");
}

#[test]
fn every_target_has_a_corpus_and_a_libfuzzer_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for (name, _) in fuzz::TARGETS {
        assert!(!corpus(name).is_empty());
        let file = root.join("fuzz_targets").join(format!("{name}.rs"));
        let src =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            src.contains(&format!("fuzz::{name}(")),
            "{} does not call fuzz::{name}",
            file.display()
        );
    }
}
