//! Locating fields in TOML sources, so that every error in a user-written file names the
//! file, the line and the field.
//!
//! Checks work on typed values and report a [`FieldPath`] (`product[0].step[2].uses[1]`);
//! [`SourceFile::locate`] turns that path into a byte span, a line and a column by walking the
//! span-preserving syntax tree of `toml_edit`. Deserialisation errors come with a span and no
//! path; [`SourceFile::path_at`] finds the innermost field at that span.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};
use toml_edit::{Item, Value};

use crate::limits;

/// One segment of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A key of a table.
    Key(String),
    /// An index into an array or array of tables.
    Index(usize),
}

/// A path to a field, e.g. `product[0].step[2].duration.min`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    /// The empty path (the whole file).
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path extended by a key.
    pub fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        Self(v)
    }

    /// This path extended by an index.
    pub fn idx(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        Self(v)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(file)");
        }
        for (i, s) in self.0.iter().enumerate() {
            match s {
                // the empty key (quoted `""` in TOML, or a header such as `[]`) is shown as
                // written, not as nothing
                Seg::Key(k) if k.is_empty() && i == 0 => f.write_str("\"\"")?,
                Seg::Key(k) if k.is_empty() => f.write_str(".\"\"")?,
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A problem found in a file, before it is located.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Where.
    pub path: FieldPath,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(path: FieldPath, message: impl Into<String>) -> Self {
        Self {
            path,
            message: message.into(),
        }
    }
}

/// A located error in a user-written file: file, line, column, field and message.
#[derive(Debug, Clone, thiserror::Error, Diagnostic)]
#[error("{file}:{line}:{column}: field `{field}`: {message}")]
pub struct FileError {
    /// File name as given by the user.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// The field path, e.g. `product[0].step[1].uses[0].equipment`.
    pub field: String,
    /// What is wrong.
    pub message: String,
    #[source_code]
    src: NamedSource<Arc<str>>,
    #[label("{message}")]
    span: SourceSpan,
}

/// All errors found in one file.
#[derive(Debug, Clone, thiserror::Error, Diagnostic)]
#[error("{} has {} error(s):\n{}", .file, .errors.len(), render_list(.errors))]
pub struct FileErrors {
    /// File name.
    pub file: String,
    /// The errors, in file order.
    #[related]
    pub errors: Vec<FileError>,
}

fn render_list(errors: &[FileError]) -> String {
    errors
        .iter()
        .map(|e| format!("  {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text of a user-written TOML file together with its name.
#[derive(Debug, Clone)]
pub struct SourceFile {
    name: String,
    /// Shared with every error located in it (a file with many errors is not copied per error).
    text: Arc<str>,
    doc: Option<toml_edit::Document<String>>,
}

impl SourceFile {
    /// Wraps a file's text. Parsing for spans happens once, here; a syntax error leaves the
    /// locator without a tree (errors are then reported at the start of the file).
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text: String = text.into();
        let doc = toml_edit::Document::parse(text.clone()).ok();
        Self {
            name: name.into(),
            text: Arc::from(text),
            doc,
        }
    }

    /// Reads a file's bytes as a user-written TOML file: at most
    /// [`limits::MAX_FILE_BYTES`] bytes of UTF-8 text (an invalid byte is reported with its
    /// line and column) with at most [`limits::MAX_TABLES`] tables. Nesting deeper than the
    /// TOML parser's limit is reported as a syntax error by [`SourceFile::parse`].
    pub fn from_bytes(name: impl Into<String>, bytes: &[u8]) -> Result<Self, FileErrors> {
        let name = name.into();
        let whole = |message: String| {
            let shown = &bytes[..bytes.len().min(4096)];
            let src = SourceFile {
                name: name.clone(),
                text: Arc::from(String::from_utf8_lossy(shown).into_owned()),
                doc: None,
            };
            FileErrors {
                file: name.clone(),
                errors: vec![src.error_at(0..0, FieldPath::root().to_string(), &message)],
            }
        };
        if bytes.len() > limits::MAX_FILE_BYTES {
            return Err(whole(format!(
                "the file has {} bytes; files are limited to {} bytes ({} MiB)",
                bytes.len(),
                limits::MAX_FILE_BYTES,
                limits::MAX_FILE_BYTES / (1024 * 1024)
            )));
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let at = e.valid_up_to();
                let src = SourceFile {
                    name: name.clone(),
                    text: Arc::from(String::from_utf8_lossy(bytes).into_owned()),
                    doc: None,
                };
                // Everything before the bad byte is valid, so offsets up to it are the same in
                // the lossily decoded text.
                let (line, column) = src.line_col(at);
                let err = src.error_at(
                    at..at + 1,
                    src.path_from_text(at).to_string(),
                    &format!(
                        "the file is not valid UTF-8 text: byte 0x{:02x} at line {line}, column \
                         {column} (byte offset {at}); save it as UTF-8",
                        bytes[at]
                    ),
                );
                return Err(FileErrors {
                    file: name,
                    errors: vec![err],
                });
            }
        };
        let src = SourceFile::new(name, text);
        if let Some(doc) = &src.doc {
            let mut tables = 0usize;
            let mut first_over = None;
            count_tables(Node::Table(doc.as_table()), &mut tables, &mut first_over);
            if tables > limits::MAX_TABLES {
                let span = first_over.unwrap_or(0..0);
                let field = src.path_at(span.start).to_string();
                return Err(FileErrors {
                    file: src.name.clone(),
                    errors: vec![src.error_at(
                        span,
                        field,
                        &format!(
                            "the file has {tables} tables; files are limited to {} tables",
                            limits::MAX_TABLES
                        ),
                    )],
                });
            }
        }
        Ok(src)
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(&self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    /// The byte span of the field at `path`, or of its nearest existing ancestor.
    pub fn locate(&self, path: &FieldPath) -> Range<usize> {
        let Some(doc) = &self.doc else {
            return 0..0;
        };
        let mut best: Option<Range<usize>> = None;
        let mut cur = Node::Table(doc.as_table());
        for seg in &path.0 {
            let next = match (cur.normalise(), seg) {
                (Node::Table(t), Seg::Key(k)) => {
                    if let Some((key, _)) = t.get_key_value(k) {
                        best = key.span().or(best);
                    }
                    t.get(k).map(Node::Item)
                }
                (Node::Item(Item::ArrayOfTables(a)), Seg::Index(i)) => a.get(*i).map(Node::Table),
                (Node::Value(Value::InlineTable(t)), Seg::Key(k)) => {
                    if let Some((key, _)) = t.get_key_value(k) {
                        best = key.span().or(best);
                    }
                    t.get(k).map(Node::Value)
                }
                (Node::Value(Value::Array(a)), Seg::Index(i)) => a.get(*i).map(Node::Value),
                _ => None,
            };
            match next {
                Some(n) => {
                    if let Some(s) = n.span() {
                        // Prefer the key's span for `key = value`; take array elements and
                        // table headers as they are.
                        if matches!(seg, Seg::Index(_)) || best.is_none() {
                            best = Some(s);
                        }
                    }
                    cur = n;
                }
                None => break,
            }
        }
        best.unwrap_or(0..0)
    }

    /// The innermost field whose span contains `offset`.
    pub fn path_at(&self, offset: usize) -> FieldPath {
        let Some(doc) = &self.doc else {
            return self.path_from_text(offset);
        };
        let mut best: (FieldPath, usize) = (FieldPath::root(), usize::MAX);
        walk(
            Node::Table(doc.as_table()),
            FieldPath::root(),
            &mut |path, span| {
                if span.start <= offset && offset < span.end.max(span.start + 1) {
                    let len = span.end - span.start;
                    if len <= best.1 {
                        best = (path.clone(), len);
                    }
                }
            },
        );
        best.0
    }

    /// Best guess of the field at `offset` in a file that does not parse: the key written on
    /// that line, under the last table header above it.
    fn path_from_text(&self, offset: usize) -> FieldPath {
        let end = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let before = &self.text[..end];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[line_start..]
            .find('\n')
            .map_or(self.text.len(), |i| line_start + i);
        let line = &self.text[line_start..line_end];
        let headers: Vec<&str> = before[..line_start]
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with('['))
            .collect();
        let mut path = header_path(&headers);
        if let Some((key, _)) = line.split_once('=') {
            let key = key.trim();
            if !key.is_empty() && !key.starts_with('#') {
                path = path.key(key);
            }
        } else if line.trim().starts_with('[') {
            let mut with_line = headers;
            with_line.push(line.trim());
            path = header_path(&with_line);
        }
        path
    }

    /// A located error for a problem.
    pub fn error(&self, problem: &Problem) -> FileError {
        let span = self.locate(&problem.path);
        self.error_at(span, problem.path.to_string(), &problem.message)
    }

    /// A located error at a byte span.
    pub fn error_at(&self, span: Range<usize>, field: String, message: &str) -> FileError {
        let (line, column) = self.line_col(span.start);
        FileError {
            file: self.name.clone(),
            line,
            column,
            field,
            message: message.to_string(),
            src: NamedSource::new(self.name.clone(), Arc::clone(&self.text)),
            span: SourceSpan::new(span.start.into(), span.end.saturating_sub(span.start)),
        }
    }

    /// All problems, located and sorted by position; at most [`limits::MAX_ERRORS`] of them,
    /// then one that counts the rest.
    pub fn errors(&self, problems: &[Problem]) -> FileErrors {
        let mut errors: Vec<FileError> = problems.iter().map(|p| self.error(p)).collect();
        errors.sort_by_key(|e| (e.line, e.column));
        if errors.len() > limits::MAX_ERRORS {
            let more = errors.len() - limits::MAX_ERRORS;
            errors.truncate(limits::MAX_ERRORS);
            let last = errors.last().map_or(0..0, |e| {
                let start = e.span.offset();
                start..start + e.span.len()
            });
            errors.push(self.error_at(
                last,
                FieldPath::root().to_string(),
                &format!("{more} more error(s) not shown; correct these first"),
            ));
        }
        FileErrors {
            file: self.name.clone(),
            errors,
        }
    }

    /// Deserialises the file into `T`, turning syntax and type errors into located errors.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, FileErrors> {
        toml::from_str::<T>(&self.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let field = self.path_at(span.start);
            let message = self.explain(span.start, e.message().trim());
            FileErrors {
                file: self.name.clone(),
                errors: vec![self.error_at(span, field.to_string(), &message)],
            }
        })
    }
}

impl SourceFile {
    /// A clearer message for parser errors whose wording misleads: a key with nothing after
    /// `=` is reported by the parser as an unquoted string.
    fn explain(&self, offset: usize, message: &str) -> String {
        let end = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let line_start = self.text[..end].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[end..]
            .find('\n')
            .map_or(self.text.len(), |i| end + i);
        let line = &self.text[line_start..line_end];
        if let Some((key, rest)) = line.split_once('=') {
            let rest = rest.trim();
            if !key.trim().is_empty() && (rest.is_empty() || rest.starts_with('#')) {
                return format!("`{}` has no value after `=`", key.trim());
            }
        }
        message.to_string()
    }
}

/// Counts tables, arrays of tables' entries and inline tables; remembers the span of the
/// first one over the limit.
fn count_tables(node: Node<'_>, n: &mut usize, first_over: &mut Option<Range<usize>>) {
    let node = node.normalise();
    if matches!(node, Node::Table(_) | Node::Value(Value::InlineTable(_))) {
        *n += 1;
        if *n > limits::MAX_TABLES && first_over.is_none() {
            *first_over = node.span();
        }
    }
    for child in node.children() {
        count_tables(child, n, first_over);
    }
}

#[derive(Clone, Copy)]
enum Node<'a> {
    Table(&'a toml_edit::Table),
    Item(&'a Item),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    fn span(&self) -> Option<Range<usize>> {
        match self {
            Node::Table(t) => t.span(),
            Node::Item(i) => i.span(),
            Node::Value(v) => v.span(),
        }
    }

    /// What this node holds, in document order: a table's items, an array of tables'
    /// entries, an inline table's or an array's values; nothing for any other node.
    fn children(self) -> Vec<Node<'a>> {
        match self.normalise() {
            Node::Table(t) => t.iter().map(|(_, item)| Node::Item(item)).collect(),
            Node::Item(Item::ArrayOfTables(a)) => a.iter().map(Node::Table).collect(),
            Node::Value(Value::InlineTable(t)) => t.iter().map(|(_, v)| Node::Value(v)).collect(),
            Node::Value(Value::Array(a)) => a.iter().map(Node::Value).collect(),
            _ => Vec::new(),
        }
    }

    /// Tables and values reached through an item are treated as tables and values.
    fn normalise(self) -> Node<'a> {
        match self {
            Node::Item(Item::Table(t)) => Node::Table(t),
            Node::Item(Item::Value(v)) => Node::Value(v),
            other => other,
        }
    }
}

fn walk(node: Node<'_>, path: FieldPath, f: &mut dyn FnMut(&FieldPath, Range<usize>)) {
    if let Some(s) = node.span() {
        f(&path, s);
    }
    match node.normalise() {
        Node::Table(t) => walk_table(t, &path, f),
        Node::Item(Item::ArrayOfTables(a)) => {
            for (i, t) in a.iter().enumerate() {
                let p = path.idx(i);
                if let Some(s) = t.span() {
                    f(&p, s);
                }
                walk_table(t, &p, f);
            }
        }
        Node::Value(v) => match v {
            Value::InlineTable(t) => {
                for (k, val) in t.iter() {
                    let p = path.key(k);
                    if let Some((key, _)) = t.get_key_value(k)
                        && let (Some(ks), Some(vs)) = (key.span(), val.span())
                    {
                        f(&p, ks.start..vs.end);
                    }
                    walk(Node::Value(val), p, f);
                }
            }
            Value::Array(a) => {
                for (i, val) in a.iter().enumerate() {
                    walk(Node::Value(val), path.idx(i), f);
                }
            }
            _ => {}
        },
        Node::Item(_) => {}
    }
}

fn walk_table(t: &toml_edit::Table, path: &FieldPath, f: &mut dyn FnMut(&FieldPath, Range<usize>)) {
    for (k, item) in t.iter() {
        let p = path.key(k);
        if let Some((key, _)) = t.get_key_value(k)
            && let (Some(ks), Some(vs)) = (key.span(), item.span())
            && vs.start >= ks.start
        {
            f(&p, ks.start..vs.end);
        }
        walk(Node::Item(item), p, f);
    }
}

/// The field path of the last of these table headers (in file order), with the index of
/// each array-of-tables entry counted from the headers before it: after `[[product]]`,
/// `[[product.step]]`, `[[product]]`, `[[product.step]]` it is `product[1].step[0]`.
fn header_path(headers: &[&str]) -> FieldPath {
    let parts = |h: &str| -> (bool, Vec<String>) {
        let aot = h.starts_with("[[");
        let name = h.trim_matches(|c| c == '[' || c == ']').trim();
        (aot, name.split('.').map(|p| p.trim().to_string()).collect())
    };
    let Some(last) = headers.last() else {
        return FieldPath::root();
    };
    let (_, segs) = parts(last);
    let all: Vec<(bool, Vec<String>)> = headers.iter().map(|h| parts(h)).collect();
    let mut path = FieldPath::root();
    for k in 1..=segs.len() {
        path = path.key(&segs[k - 1]);
        let prefix = &segs[..k];
        // Entries of the array `prefix` since the last entry of its parent array.
        let mut count = 0usize;
        for (aot, s) in &all {
            if *aot && s.as_slice() == prefix {
                count += 1;
            } else if *aot && k > 1 && s.as_slice() == &segs[..k - 1] {
                count = 0;
            }
        }
        if count > 0 {
            path = path.idx(count - 1);
        }
    }
    path
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
