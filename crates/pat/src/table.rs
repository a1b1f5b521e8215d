//! Numeric tables read from CSV text: a header row, then one row per sample whose first field
//! is the sample id and whose other fields are finite numbers.
//!
//! Every problem names the file, the line and the column (by its header), and the reader stops
//! at limits on rows, columns and cells before allocating for them.

use nalgebra::DMatrix;

/// Most data rows a table may have.
pub const MAX_ROWS: usize = 200_000;
/// Most numeric columns a table may have.
pub const MAX_COLUMNS: usize = 100_000;
/// Most numeric cells a table may have (8 bytes each).
pub const MAX_CELLS: usize = 25_000_000;

/// A located problem in a table file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{line}: {}{message}", field.as_ref().map(|f| format!("column `{f}`: ")).unwrap_or_default())]
pub struct TableError {
    /// The file name as the user gave it.
    pub file: String,
    /// 1-based line number (0 when the problem concerns the file as a whole).
    pub line: u64,
    /// The column header of the offending field, when there is one.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// A parsed table: `values[(i, j)]` is sample `ids[i]` in column `columns[j]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The file name, for messages about the table as a whole.
    pub file: String,
    /// Header of the id column.
    pub id_header: String,
    /// Headers of the numeric columns.
    pub columns: Vec<String>,
    /// Sample ids, in file order, all distinct and non-empty.
    pub ids: Vec<String>,
    /// Line of each sample in the file (1-based).
    pub lines: Vec<u64>,
    /// The numbers, one row per sample.
    pub values: DMatrix<f64>,
}

impl Table {
    /// Builds a table from parts (for values computed rather than read). Panics never: the
    /// caller's dimensions are checked.
    pub fn new(
        file: impl Into<String>,
        id_header: impl Into<String>,
        columns: Vec<String>,
        ids: Vec<String>,
        values: DMatrix<f64>,
    ) -> Result<Table, TableError> {
        let file = file.into();
        if values.nrows() != ids.len() || values.ncols() != columns.len() {
            return Err(TableError {
                file,
                line: 0,
                field: None,
                message: format!(
                    "{} ids and {} columns for a {}×{} matrix",
                    ids.len(),
                    columns.len(),
                    values.nrows(),
                    values.ncols()
                ),
            });
        }
        let lines = (0..ids.len() as u64).map(|i| i + 2).collect();
        Ok(Table {
            file,
            id_header: id_header.into(),
            columns,
            ids,
            lines,
            values,
        })
    }

    /// Writes the table as CSV text (numbers in shortest round-trip form).
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        push_field(&mut out, &self.id_header);
        for c in &self.columns {
            out.push(',');
            push_field(&mut out, c);
        }
        out.push('\n');
        for (i, id) in self.ids.iter().enumerate() {
            push_field(&mut out, id);
            for j in 0..self.columns.len() {
                out.push(',');
                out.push_str(&format!("{}", self.values[(i, j)]));
            }
            out.push('\n');
        }
        out
    }
}

/// Appends one CSV field, quoted when it needs to be.
pub fn push_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) || s.trim() != s {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// Parses CSV `text` read from `file` (the name is only used in messages).
pub fn parse(file: &str, text: &str) -> Result<Table, TableError> {
    parse_limited(file, text, MAX_CELLS)
}

/// The header row: the sample id column's name and the numeric columns' names (at
/// least one, at most [`MAX_COLUMNS`], none empty or repeated).
fn read_header(
    file: &str,
    first: Option<Result<csv::StringRecord, csv::Error>>,
) -> Result<(String, Vec<String>), TableError> {
    let err = |line: u64, field: Option<&str>, message: String| TableError {
        file: file.to_string(),
        line,
        field: field.map(str::to_string),
        message,
    };
    let header = match first {
        None => {
            return Err(err(
                1,
                None,
                "the file is empty; expected a header row".into(),
            ));
        }
        Some(Err(e)) => return Err(csv_error(file, &e)),
        Some(Ok(r)) => r,
    };
    if header.len() < 2 {
        return Err(err(
            1,
            None,
            "the header needs a sample id column and at least one numeric column".into(),
        ));
    }
    if header.len() - 1 > MAX_COLUMNS {
        return Err(err(
            1,
            None,
            format!(
                "{} numeric columns; at most {MAX_COLUMNS} are allowed",
                header.len() - 1
            ),
        ));
    }
    let id_header = header[0].to_string();
    let columns: Vec<String> = header.iter().skip(1).map(str::to_string).collect();
    let mut seen = std::collections::HashMap::new();
    for (j, c) in columns.iter().enumerate() {
        if c.is_empty() {
            return Err(err(
                1,
                None,
                format!("column {} has an empty header", j + 2),
            ));
        }
        if let Some(first) = seen.insert(c.as_str(), j) {
            return Err(err(
                1,
                Some(c),
                format!("header repeated (columns {} and {})", first + 2, j + 2),
            ));
        }
    }
    Ok((id_header, columns))
}

fn parse_limited(file: &str, text: &str, max_cells: usize) -> Result<Table, TableError> {
    let err = |line: u64, field: Option<&str>, message: String| TableError {
        file: file.to_string(),
        line,
        field: field.map(str::to_string),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let (id_header, columns) = read_header(file, records.next())?;
    let width = columns.len();
    // Line numbers from byte offsets (the reader's own count skips blank lines).
    let (mut seen_byte, mut seen_lines) = (0usize, 1u64);
    let mut lines_to = |byte: u64| -> u64 {
        let mut byte = (byte as usize).min(text.len());
        // A record's position may include the blank lines skipped before it.
        while matches!(text.as_bytes().get(byte), Some(b'\n' | b'\r')) {
            byte += 1;
        }
        if byte >= seen_byte {
            seen_lines += text.as_bytes()[seen_byte..byte]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64;
            seen_byte = byte;
        }
        seen_lines
    };
    let max_rows = MAX_ROWS.min(max_cells / width);
    let mut ids = Vec::new();
    let mut lines = Vec::new();
    let mut data = Vec::new();
    let mut id_lines = std::collections::HashMap::new();
    for rec in records {
        let rec = rec.map_err(|e| csv_error(file, &e))?;
        let line = lines_to(rec.position().map(|p| p.byte()).unwrap_or(0));
        if rec.len() == 1 && rec[0].is_empty() {
            continue; // blank line
        }
        if rec.len() != width + 1 {
            return Err(err(
                line,
                None,
                format!("{} fields, but the header has {}", rec.len(), width + 1),
            ));
        }
        if ids.len() == max_rows {
            return Err(err(
                line,
                None,
                format!(
                    "more than {max_rows} rows of {width} numbers; the limit is {max_cells} numbers"
                ),
            ));
        }
        let id = rec[0].to_string();
        if id.is_empty() {
            return Err(err(line, Some(&id_header), "empty sample id".into()));
        }
        if let Some(first) = id_lines.insert(id.clone(), line) {
            return Err(err(
                line,
                Some(&id_header),
                format!("sample id `{id}` repeated (first on line {first})"),
            ));
        }
        for (j, field) in rec.iter().skip(1).enumerate() {
            let v = parse_number(field).map_err(|m| err(line, Some(&columns[j]), m))?;
            data.push(v);
        }
        ids.push(id);
        lines.push(line);
    }
    if ids.is_empty() {
        return Err(err(2, None, "no data rows after the header".into()));
    }
    let values = DMatrix::from_row_slice(ids.len(), width, &data);
    Ok(Table {
        file: file.to_string(),
        id_header,
        columns,
        ids,
        lines,
        values,
    })
}

fn parse_number(field: &str) -> Result<f64, String> {
    if field.is_empty() {
        return Err("empty value; expected a number".into());
    }
    let v: f64 = field
        .parse()
        .map_err(|_| format!("`{}` is not a number", shorten(field)))?;
    if !v.is_finite() {
        return Err(format!("`{}` is not a finite number", shorten(field)));
    }
    Ok(v)
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

fn csv_error(file: &str, e: &csv::Error) -> TableError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_string(),
        _ => format!("malformed CSV: {e}"),
    };
    TableError {
        file: file.to_string(),
        line,
        field: None,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(text: &str) -> TableError {
        match parse("x.csv", text) {
            Err(e) => e,
            Ok(t) => panic!("accepted {text:?}: {t:?}"),
        }
    }

    #[test]
    fn reads_ids_columns_and_numbers() {
        let t = parse("x.csv", "id,400,401.5\na, 1.5 ,-2e-3\n\nb,3,4\n").expect("valid");
        assert_eq!(t.columns, ["400", "401.5"]);
        assert_eq!(t.ids, ["a", "b"]);
        assert_eq!(t.lines, [2, 4]);
        assert_eq!(t.values[(0, 1)], -2e-3);
        assert_eq!(t.values[(1, 0)], 3.0);
    }

    #[test]
    fn round_trips_through_csv() {
        let t = parse("x.csv", "id,\"a,b\",c\n\"s 1\",0.1,1e300\n").expect("valid");
        let again = parse("x.csv", &t.to_csv()).expect("valid");
        assert_eq!(t, again);
    }

    #[test]
    fn every_malformed_table_is_located() {
        let e = fails("");
        assert_eq!((e.line, e.message.contains("empty")), (1, true));
        let e = fails("id\na\n");
        assert!(e.message.contains("at least one numeric column"), "{e}");
        let e = fails("id,x,x\na,1,2\n");
        assert_eq!((e.line, e.field.as_deref()), (1, Some("x")));
        let e = fails("id,x,\na,1,2\n");
        assert!(e.message.contains("empty header"), "{e}");
        let e = fails("id,x,y\na,1,2\nb,1\n");
        assert_eq!(e.line, 3);
        assert!(e.message.contains("2 fields"), "{e}");
        let e = fails("id,x,y\na,1,zz\n");
        assert_eq!(e.to_string(), "x.csv:2: column `y`: `zz` is not a number");
        let e = fails("id,x,y\na,1,NaN\n");
        assert!(e.message.contains("finite"), "{e}");
        let e = fails("id,x,y\na,1,inf\n");
        assert!(e.message.contains("finite"), "{e}");
        let e = fails("id,x,y\na,1,\n");
        assert!(e.message.contains("empty value"), "{e}");
        let e = fails("id,x\na,1\n,2\n");
        assert_eq!((e.line, e.field.as_deref()), (3, Some("id")));
        let e = fails("id,x\na,1\nb,2\na,3\n");
        assert_eq!(e.line, 4);
        assert!(e.message.contains("first on line 2"), "{e}");
        let e = fails("id,x\n");
        assert!(e.message.contains("no data rows"), "{e}");
        let e = fails("id,x\na,\"1\nb,2\n");
        assert_eq!((e.line, e.field.as_deref()), (2, Some("x")));
    }

    #[test]
    fn limits_are_checked_before_allocation() {
        let wide = format!("id{}\n", ",c".repeat(MAX_COLUMNS + 1));
        assert!(fails(&wide).message.contains("at most"));
        let text = "id,a,b\nr1,1,2\nr2,1,2\nr3,1,2\n";
        assert!(parse_limited("x.csv", text, 6).is_ok());
        let e = parse_limited("x.csv", text, 5).expect_err("over the limit");
        assert_eq!(e.line, 4);
        assert!(e.message.contains("limit is 5"), "{e}");
    }
}
