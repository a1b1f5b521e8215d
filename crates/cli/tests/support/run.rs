//! What the end-to-end tests of the `atmpflow` binary share: the binary run with
//! arguments, what it printed, and the files it left in a folder. Included with
//! `#[path]` by each test crate that needs it; each uses a part of it.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `atmpflow` with `args`.
pub fn run(args: &[&OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atmpflow"))
        .args(args)
        .output()
        .expect("binary runs")
}

/// Standard output and standard error of a run, as text.
pub fn out_err(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The names of the entries of `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
