//! The orders file (`orders.csv`): the patient orders that `atmpflow schedule` plans on a
//! scenario's plant.
//!
//! CSV with a header row naming the columns, in any order and case: `id`, `product`,
//! `release_h` (required) and `due_h`, `weight` (optional columns; empty cells allowed).
//! `release_h` is the apheresis time in hours from the scenario's time 0; an empty `due_h` is
//! the release plus the target vein-to-vein time of the product's demand; an empty `weight`
//! is 1. Blank lines are skipped; fields may be quoted. Every error names file, line and
//! column.

use std::collections::HashMap;
use std::fmt;

use crate::{Model, Order};

/// The columns of an orders file.
pub const COLUMNS: [&str; 5] = ["id", "product", "release_h", "due_h", "weight"];

/// A problem in an orders file, located at a line and column (1-based; `None` for a problem
/// of the whole file, such as an empty file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct OrdersError {
    /// File name as given.
    pub file: String,
    /// Line and column (characters) of the offending cell.
    pub at: Option<(u64, usize)>,
    /// What is wrong, naming the column.
    pub message: String,
}

impl fmt::Display for OrdersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((line, column)) => write!(f, "{}:{line}:{column}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Where the columns stand in the header.
struct Header {
    index: HashMap<&'static str, usize>,
}

impl Header {
    fn get(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
}

/// One data row being read: its cells and where they stand in the file.
struct Row<'a> {
    file: &'a str,
    record: &'a csv::StringRecord,
    line: u64,
    raw: &'a str,
}

impl Row<'_> {
    /// The character column where cell `i` starts (after leading blanks); one past the end of
    /// the line for a missing cell.
    fn column(&self, i: usize) -> usize {
        let mut field = 0;
        let mut quoted = false;
        let mut start = 0;
        for (pos, c) in self.raw.char_indices() {
            if field == i {
                start = pos;
                break;
            }
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    field += 1;
                    start = pos + 1;
                }
                _ => {}
            }
        }
        if field < i {
            return self.raw.chars().count() + 1;
        }
        let rest = &self.raw[start..];
        let blanks = rest.len() - rest.trim_start().len();
        self.raw[..start + blanks].chars().count() + 1
    }

    fn error(&self, i: usize, message: String) -> OrdersError {
        OrdersError {
            file: self.file.to_string(),
            at: Some((self.line, self.column(i))),
            message,
        }
    }

    /// Cell `i` (column `name`), which must be present.
    fn cell(&self, i: usize, name: &str) -> Result<&str, OrdersError> {
        self.record
            .get(i)
            .ok_or_else(|| self.error(i, format!("field {name}: missing")))
    }

    /// A finite number in column `name`; `None` for a missing column or an empty cell.
    fn number(&self, i: Option<usize>, name: &str) -> Result<Option<f64>, OrdersError> {
        let Some(i) = i else { return Ok(None) };
        match self.record.get(i) {
            None | Some("") => Ok(None),
            Some(v) => match v.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Some(x)),
                _ => Err(self.error(i, format!("field {name}: '{v}' is not a number"))),
            },
        }
    }
}

fn csv_error(file: &str, e: &csv::Error) -> OrdersError {
    OrdersError {
        file: file.to_string(),
        at: e.position().map(|p| (p.line(), 1)),
        message: format!("not readable as CSV: {e}"),
    }
}

/// Reads the header row: every column known, none twice, the required ones present.
fn header(file: &str, record: &csv::StringRecord, raw: &str) -> Result<Header, OrdersError> {
    let row = Row {
        file,
        record,
        line: 1,
        raw,
    };
    let mut index = HashMap::new();
    for (i, name) in record.iter().enumerate() {
        let name = name.to_lowercase();
        let Some(known) = COLUMNS.iter().copied().find(|c| *c == name) else {
            return Err(row.error(
                i,
                format!(
                    "unknown column '{name}' (the columns are {})",
                    COLUMNS.join(", ")
                ),
            ));
        };
        if index.insert(known, i).is_some() {
            return Err(row.error(i, format!("column '{known}' appears twice")));
        }
    }
    for required in ["id", "product", "release_h"] {
        if !index.contains_key(required) {
            return Err(OrdersError {
                file: file.to_string(),
                at: Some((row.line, 1)),
                message: format!(
                    "the header has no column '{required}' (required: id, product, release_h; optional: due_h, weight)"
                ),
            });
        }
    }
    Ok(Header { index })
}

/// The line of `text` that starts at byte `start`.
fn line_at(text: &str, start: usize) -> &str {
    let rest = text.get(start..).unwrap_or("");
    rest.split(['\n', '\r']).next().unwrap_or("")
}

/// Reads the orders of file `file` (its contents `text`) for scenario `model`: every product
/// must be one of the scenario's, ids unique, times and weights finite and not negative.
pub fn read_orders(file: &str, text: &str, model: &Model) -> Result<Vec<Order>, OrdersError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut head: Option<Header> = None;
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(file, &e))?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        let (line, byte) = record
            .position()
            .map_or((1, 0), |p| (p.line(), p.byte() as usize));
        let raw = line_at(text, byte);
        let Some(h) = &head else {
            head = Some(header(file, &record, raw)?);
            continue;
        };
        let row = Row {
            file,
            record: &record,
            line,
            raw,
        };
        out.push(order(&row, h, model, &mut seen)?);
    }
    if head.is_none() {
        return Err(OrdersError {
            file: file.to_string(),
            at: None,
            message: format!(
                "empty orders file (expected a header {})",
                COLUMNS.join(",")
            ),
        });
    }
    if out.is_empty() {
        return Err(OrdersError {
            file: file.to_string(),
            at: None,
            message: "no orders".to_string(),
        });
    }
    Ok(out)
}

/// One order from a data row.
fn order(
    row: &Row<'_>,
    h: &Header,
    model: &Model,
    seen: &mut HashMap<String, u64>,
) -> Result<Order, OrdersError> {
    let (ci, cp, cr) = (
        h.get("id").unwrap_or(0),
        h.get("product").unwrap_or(0),
        h.get("release_h").unwrap_or(0),
    );
    let id = row.cell(ci, "id")?.to_string();
    if id.is_empty() {
        return Err(row.error(ci, "field id: empty".to_string()));
    }
    if let Some(first) = seen.insert(id.clone(), row.line) {
        return Err(row.error(
            ci,
            format!("field id: '{id}' is already the id of the order on line {first}"),
        ));
    }
    let name = row.cell(cp, "product")?;
    let Some(product) = model.product(name) else {
        return Err(row.error(
            cp,
            format!("field product: the scenario has no product '{name}'"),
        ));
    };
    let Some(release_h) = row.number(Some(cr), "release_h")? else {
        return Err(row.error(cr, "field release_h: missing".to_string()));
    };
    if release_h < 0.0 {
        return Err(row.error(cr, "field release_h: must not be negative".to_string()));
    }
    let target = model
        .demand
        .iter()
        .find(|d| d.product == product)
        .map_or(0.0, |d| d.target_v2v_h);
    let due_h = row
        .number(h.get("due_h"), "due_h")?
        .unwrap_or(release_h + target);
    let weight = row.number(h.get("weight"), "weight")?.unwrap_or(1.0);
    if weight < 0.0 {
        let i = h.get("weight").unwrap_or(0);
        return Err(row.error(i, "field weight: must not be negative".to_string()));
    }
    Ok(Order {
        id,
        product,
        release_h,
        due_h,
        weight,
    })
}
