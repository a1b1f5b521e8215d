//! Readers for the public benchmark formats (they take text, not files).
//!
//! * `hfs`: line 1 = jobs n; line 2 = stages g; line 3 = machines per stage (g integers);
//!   then n lines of g processing times.
//! * `taillard`: header `n m seed UB LB`, then m lines (one per machine) of n times.
//!
//! Errors carry the 1-based line number.

use crate::error::ScheduleError;
use crate::instance::{Instance, Time};

/// Largest instance dimension accepted (guards against absurd allocations).
const MAX_DIM: usize = 100_000;

struct Tokens<'a> {
    toks: Vec<(usize, &'a str)>,
    pos: usize,
    last_line: usize,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a str) -> Self {
        let mut toks = Vec::new();
        let mut last_line = 1;
        for (i, line) in text.lines().enumerate() {
            last_line = i + 1;
            for t in line.split_whitespace() {
                toks.push((i + 1, t));
            }
        }
        Self {
            toks,
            pos: 0,
            last_line,
        }
    }

    fn line_of_next(&self) -> usize {
        self.toks.get(self.pos).map_or(self.last_line, |t| t.0)
    }

    fn int(&mut self, field: &str) -> Result<(usize, i64), ScheduleError> {
        match self.toks.get(self.pos) {
            None => Err(ScheduleError::Parse {
                line: self.last_line,
                field: field.into(),
                message: "unexpected end of file".into(),
            }),
            Some(&(line, t)) => {
                self.pos += 1;
                t.parse::<i64>()
                    .map(|v| (line, v))
                    .map_err(|_| ScheduleError::Parse {
                        line,
                        field: field.into(),
                        message: format!("'{t}' is not an integer"),
                    })
            }
        }
    }

    fn count(&mut self, field: &str) -> Result<usize, ScheduleError> {
        let (line, v) = self.int(field)?;
        if v < 1 || v as u64 > MAX_DIM as u64 {
            return Err(ScheduleError::Parse {
                line,
                field: field.into(),
                message: format!("{v} is not in 1..={MAX_DIM}"),
            });
        }
        Ok(v as usize)
    }

    fn time(&mut self, field: &str) -> Result<Time, ScheduleError> {
        let (line, v) = self.int(field)?;
        if !(0..=1_000_000_000).contains(&v) {
            return Err(ScheduleError::Parse {
                line,
                field: field.into(),
                message: format!("processing time {v} is not in 0..=1000000000"),
            });
        }
        Ok(v)
    }

    fn expect_end(&self) -> Result<(), ScheduleError> {
        match self.toks.get(self.pos) {
            None => Ok(()),
            Some(&(line, t)) => Err(ScheduleError::Parse {
                line,
                field: "end of data".into(),
                message: format!("unexpected extra value '{t}'"),
            }),
        }
    }
}

/// Reads a hybrid flow shop instance in the `hfs` format.
pub fn parse_hfs(name: &str, text: &str) -> Result<Instance, ScheduleError> {
    let mut t = Tokens::new(text);
    let n = t.count("number of jobs")?;
    let g = t.count("number of stages")?;
    let mut m = Vec::with_capacity(g);
    for k in 0..g {
        m.push(t.count(&format!("machines at stage {k}"))?);
    }
    if n.saturating_mul(g) > 10_000_000 {
        return Err(ScheduleError::Parse {
            line: 1,
            field: "size".into(),
            message: "instance too large".into(),
        });
    }
    let mut p = Vec::with_capacity(n);
    for j in 0..n {
        let mut row = Vec::with_capacity(g);
        let line = t.line_of_next();
        for k in 0..g {
            row.push(t.time(&format!("processing time of job {j} at stage {k}"))?);
        }
        // each job's times must be on one line
        let end_line = t.toks[t.pos - 1].0;
        if end_line != line {
            return Err(ScheduleError::Parse {
                line: end_line,
                field: format!("job {j}"),
                message: format!("expected {g} processing times on line {line}"),
            });
        }
        p.push(row);
    }
    t.expect_end()?;
    Ok(Instance::hybrid_flow_shop(name, &m, p))
}

/// Reads a permutation flow shop instance in Taillard's format.
/// Returns the instance (one machine per stage, `permutation = true`).
pub fn parse_taillard(name: &str, text: &str) -> Result<Instance, ScheduleError> {
    let mut t = Tokens::new(text);
    let n = t.count("number of jobs")?;
    let m = t.count("number of machines")?;
    // seed, upper bound, lower bound: informative only, must be integers if present on the header line
    let header_line = t.toks.first().map_or(1, |x| x.0);
    while t.toks.get(t.pos).is_some_and(|x| x.0 == header_line) {
        t.int("header")?;
    }
    if n.saturating_mul(m) > 10_000_000 {
        return Err(ScheduleError::Parse {
            line: 1,
            field: "size".into(),
            message: "instance too large".into(),
        });
    }
    let mut p = vec![vec![0; m]; n];
    for k in 0..m {
        for (j, row) in p.iter_mut().enumerate() {
            row[k] = t.time(&format!("processing time of job {j} on machine {k}"))?;
        }
    }
    t.expect_end()?;
    let mut inst = Instance::hybrid_flow_shop(name, &vec![1; m], p);
    inst.permutation = true;
    Ok(inst)
}

/// Reads the `hfsw` format: an `hfs` instance followed by `n` lines of `g - 1` maximum
/// waits (between stage k and k + 1; `-1` = unlimited).
pub fn parse_hfsw(name: &str, text: &str) -> Result<Instance, ScheduleError> {
    let mut t = Tokens::new(text);
    let n = t.count("number of jobs")?;
    let g = t.count("number of stages")?;
    // re-parse the hfs part from the same text, then the waits
    let mut skip = 2 + g + n * g;
    let mut lines_end = 0;
    for (i, line) in text.lines().enumerate() {
        let c = line.split_whitespace().count();
        if skip == 0 {
            break;
        }
        skip = skip.saturating_sub(c);
        lines_end = i + 1;
    }
    let head: String = text.lines().take(lines_end).collect::<Vec<_>>().join("\n");
    let mut inst = parse_hfs(name, &head)?;
    t.pos = 2 + g + n * g;
    let mut lags = Vec::with_capacity(n);
    for j in 0..n {
        let mut row = Vec::with_capacity(g - 1);
        for k in 0..g - 1 {
            let (line, v) = t.int(&format!("maximum wait of job {j} after stage {k}"))?;
            if !(-1..=1_000_000_000).contains(&v) {
                return Err(ScheduleError::Parse {
                    line,
                    field: format!("maximum wait of job {j} after stage {k}"),
                    message: format!("{v} is not -1 (unlimited) or in 0..=1000000000"),
                });
            }
            row.push(crate::instance::Lag {
                min: 0,
                max: (v >= 0).then_some(v),
            });
        }
        lags.push(row);
    }
    t.expect_end()?;
    inst.lags = lags;
    Ok(inst)
}

/// Writes an instance in the `hfsw` format (identical machines assumed; speeds, set-ups,
/// windows and minimum lags are not representable and are left out).
pub fn write_hfsw(inst: &Instance) -> String {
    let mut s = String::new();
    let g = inst.g();
    s.push_str(&format!("{}\n{}\n", inst.n(), g));
    let m: Vec<String> = inst
        .stages
        .iter()
        .map(|st| st.machines.len().to_string())
        .collect();
    s.push_str(&m.join(" "));
    s.push('\n');
    for row in &inst.processing {
        let r: Vec<String> = row.iter().map(|x| x.to_string()).collect();
        s.push_str(&r.join(" "));
        s.push('\n');
    }
    for j in 0..inst.n() {
        let r: Vec<String> = (0..g.saturating_sub(1))
            .map(|k| inst.lag(j, k).max.unwrap_or(-1).to_string())
            .collect();
        s.push_str(&r.join(" "));
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_small_hfs() {
        let i = parse_hfs("x", "2\n2\n1 2\n3 4\n5 6\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(i.n(), 2);
        assert_eq!(i.stages[1].machines.len(), 2);
        assert_eq!(i.processing[1], vec![5, 6]);
    }

    #[test]
    fn errors_carry_line_numbers() {
        type Parser = fn(&str, &str) -> Result<Instance, ScheduleError>;
        // Each malformed text with the 1-based line its error must name.
        let cases: [(Parser, &str, usize); 7] = [
            (parse_hfs, "2\n2\n1 2\n3 4\n5 x\n", 5),
            (parse_hfs, "2\n2\n1 2\n3 4\n", 4),
            (parse_hfs, "2\n0\n", 2),
            (parse_hfs, "1\n2\n1 1\n3 4\n7\n", 5),
            (parse_hfs, "2\n2\n1 1\n3\n4 5 6\n", 5),
            (parse_taillard, "3 2 1 10 9\n1 2 3\n4 -5 6\n", 3),
            (parse_taillard, "3 2 1 10 9\n1 2 3\n4 5\n", 3),
        ];
        for (parse, text, line) in cases {
            let e = parse("x", text);
            assert!(
                matches!(e, Err(ScheduleError::Parse { line: l, .. }) if l == line),
                "{text:?}: {e:?}"
            );
        }
    }

    #[test]
    fn hfsw_round_trip() {
        let mut i = parse_hfs("x", "2\n3\n1 2 1\n3 4 5\n5 6 7\n").unwrap_or_else(|e| panic!("{e}"));
        i.lags = vec![
            vec![
                crate::instance::Lag {
                    min: 0,
                    max: Some(4),
                },
                crate::instance::Lag::default(),
            ],
            vec![
                crate::instance::Lag {
                    min: 0,
                    max: Some(0),
                },
                crate::instance::Lag {
                    min: 0,
                    max: Some(9),
                },
            ],
        ];
        let text = write_hfsw(&i);
        let back = parse_hfsw("x", &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.lags, i.lags);
        assert_eq!(back.processing, i.processing);
        let bad = text.replace("-1", "-7");
        assert!(matches!(
            parse_hfsw("x", &bad),
            Err(ScheduleError::Parse { line: 6, .. })
        ));
    }

    #[test]
    fn reads_taillard_transposed() {
        let i = parse_taillard("t", "3 2 1 10 9\n1 2 3\n4 5 6\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(i.permutation);
        assert_eq!(i.processing, vec![vec![1, 4], vec![2, 5], vec![3, 6]]);
    }
}
