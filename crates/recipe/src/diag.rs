//! Diagnostics for user-written files, located by the shared span locator of
//! the `model` crate.
//!
//! Every check in this crate reports a [`Problem`]: a [`FieldPath`] (e.g.
//! `equipment[2].qualification.pq`) plus a message. [`SourceFile::errors`]
//! turns problems into [`FileErrors`] that name file, line, column and field.

pub use model::span::{FieldPath, FileError, FileErrors, Problem, Seg, SourceFile};

/// Parse `src` as `T` (TOML) or, when `json` is set, as JSON; syntax and type
/// errors become located [`FileErrors`].
pub(crate) fn parse_as<T: serde::de::DeserializeOwned>(
    src: &SourceFile,
    json: bool,
) -> Result<T, FileErrors> {
    if !json {
        return src.parse::<T>();
    }
    serde_json::from_str::<T>(src.text()).map_err(|e| {
        // serde_json reports 1-based line and column; turn them into a byte offset.
        let offset = src
            .text()
            .split_inclusive('\n')
            .take(e.line().saturating_sub(1))
            .map(str::len)
            .sum::<usize>()
            + e.column().saturating_sub(1);
        FileErrors {
            file: src.name().to_string(),
            errors: vec![src.error_at(offset..offset, "(file)".to_string(), &e.to_string())],
        }
    })
}

/// Errors from `problems`, or `Ok(value)` when there are none.
pub(crate) fn finish<T>(
    src: &SourceFile,
    problems: Vec<Problem>,
    value: T,
) -> Result<T, FileErrors> {
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(src.errors(&problems))
    }
}
