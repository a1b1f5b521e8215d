//! Diagnostics that point into a user-written file by *field path*.
//!
//! Every semantic check in this crate reports a [`FieldPath`] (e.g.
//! `equipment[2].qualification.pq`) plus a message. The edge that owns the
//! source text turns the path into a line and column with [`locate`], so an
//! error always names file, line and field.

use std::fmt;

/// One segment of a path into a TOML/JSON document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// An array index (0-based).
    Index(usize),
}

/// A path from the document root to a field, e.g. `step[3].requires[0].capability`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    /// The empty path (the whole document).
    pub fn root() -> Self {
        Self(Vec::new())
    }
    /// This path extended by a key.
    #[must_use]
    pub fn key(&self, k: impl Into<String>) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.into()));
        Self(v)
    }
    /// This path extended by an index.
    #[must_use]
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        Self(v)
    }
    /// Whether the path is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        let mut first = true;
        for s in &self.0 {
            match s {
                Seg::Key(k) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if bare {
                        f.write_str(k)?;
                    } else {
                        write!(f, "\"{}\"", k.replace('"', "\\\""))?;
                    }
                }
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

/// A problem found in a user-written document, located by field path.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Diagnostic {
    /// Where: the field the problem is about.
    #[serde(serialize_with = "ser_path")]
    pub path: FieldPath,
    /// What is wrong, in words.
    pub message: String,
    /// Byte range in the source when the parser knew it (syntax errors).
    #[serde(skip)]
    pub span: Option<std::ops::Range<usize>>,
}

fn ser_path<S: serde::Serializer>(p: &FieldPath, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(p)
}

impl Diagnostic {
    /// A diagnostic at `path`.
    pub fn new(path: FieldPath, message: impl Into<String>) -> Self {
        Self {
            path,
            message: message.into(),
            span: None,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Errors from loading a document: the list of every problem found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} problem(s): {}", .0.len(), .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("; "))]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Render every diagnostic as `file:line:column: field: message`, one per line,
    /// locating paths in `source`.
    pub fn render(&self, file: &str, source: &str) -> String {
        let mut out = String::new();
        for d in &self.0 {
            let pos = d
                .span
                .as_ref()
                .map(|s| line_col(source, s.start))
                .or_else(|| locate(source, &d.path));
            match pos {
                Some((l, c)) => {
                    out.push_str(&format!("{file}:{l}:{c}: {}: {}\n", d.path, d.message))
                }
                None => out.push_str(&format!("{file}: {}: {}\n", d.path, d.message)),
            }
        }
        out
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, col)
}

/// Line and column (1-based) of the field at `path` in a TOML `source`, or of the
/// nearest existing ancestor when the field itself is absent (e.g. a missing
/// key is reported at its table). `None` if the source does not parse.
pub fn locate(source: &str, path: &FieldPath) -> Option<(usize, usize)> {
    let root = toml::de::DeTable::parse(source).ok()?;
    let mut best = None;
    let mut cur: Option<&toml::de::DeValue<'_>> = None;
    let mut table: Option<&toml::de::DeTable<'_>> = Some(root.get_ref());
    for seg in &path.0 {
        match seg {
            Seg::Key(k) => {
                let t = match (table, cur) {
                    (Some(t), _) => t,
                    (None, Some(toml::de::DeValue::Table(t))) => t,
                    _ => break,
                };
                let Some((key, val)) = t
                    .iter()
                    .find(|(key, _)| key.get_ref().as_ref() == k.as_str())
                else {
                    break;
                };
                best = Some(key.span().start);
                cur = Some(val.get_ref());
                table = None;
            }
            Seg::Index(i) => {
                let Some(toml::de::DeValue::Array(a)) = cur else {
                    break;
                };
                let Some(item) = a.get(*i) else { break };
                best = Some(item.span().start);
                cur = Some(item.get_ref());
                table = None;
            }
        }
    }
    best.map(|o| line_col(source, o))
}

/// The deepest field path whose value contains byte `offset` in a TOML `source`
/// (used to name the field of a deserialisation error that only has a span).
pub fn path_at(source: &str, offset: usize) -> FieldPath {
    fn walk(
        v: &toml::de::DeValue<'_>,
        path: &mut FieldPath,
        offset: usize,
        best: &mut Option<(usize, usize, FieldPath)>,
    ) {
        fn consider(
            start: usize,
            end: usize,
            path: &FieldPath,
            offset: usize,
            best: &mut Option<(usize, usize, FieldPath)>,
        ) {
            if (start..end.max(start + 1)).contains(&offset) {
                let len = end.saturating_sub(start);
                let better = match best {
                    None => true,
                    Some((l, depth, _)) => len < *l || (len == *l && path.0.len() > *depth),
                };
                if better {
                    *best = Some((len, path.0.len(), path.clone()));
                }
            }
        }
        match v {
            toml::de::DeValue::Table(t) => {
                for (k, val) in t.iter() {
                    path.0.push(Seg::Key(k.get_ref().to_string()));
                    let (s, e) = (
                        k.span().start.min(val.span().start),
                        k.span().end.max(val.span().end),
                    );
                    consider(s, e, path, offset, best);
                    walk(val.get_ref(), path, offset, best);
                    path.0.pop();
                }
            }
            toml::de::DeValue::Array(a) => {
                for (i, val) in a.iter().enumerate() {
                    path.0.push(Seg::Index(i));
                    consider(val.span().start, val.span().end, path, offset, best);
                    walk(val.get_ref(), path, offset, best);
                    path.0.pop();
                }
            }
            _ => {}
        }
    }
    let Ok(root) = toml::de::DeTable::parse(source) else {
        return FieldPath::root();
    };
    let mut best = None;
    walk(
        &toml::de::DeValue::Table(root.into_inner()),
        &mut FieldPath::root(),
        offset,
        &mut best,
    );
    best.map_or_else(FieldPath::root, |(_, _, p)| p)
}

/// Turn a `toml` parse/deserialise error into a diagnostic with its span.
pub(crate) fn from_toml_error(source: &str, e: &toml::de::Error) -> Diagnostic {
    // `message()` is the bare text; Display would add a rendered excerpt.
    Diagnostic {
        path: e
            .span()
            .map_or_else(FieldPath::root, |s| path_at(source, s.start)),
        message: e.message().trim().to_string(),
        span: e.span(),
    }
}
