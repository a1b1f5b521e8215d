//! The human-readable electronic batch record: one self-contained, printable HTML page
//! with the batch's identity, disposition, steps, values (corrections shown next to the
//! original), lots, equipment, custody log, deviations with their assessment, every
//! signature's manifestation (printed name, time, meaning, signed entry and its hash) and
//! the complete audit trail with each entry's hash.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use batch::entry::{
    Body, Correction, DeviationKind, DeviceEvent, Entry, EquipmentUsed, SeriesBlock, fmt_ms,
};
use batch::{Batch, verify_chain};

use crate::page::{Cell, document, escape, table};

fn fmt_mean(x: f64) -> String {
    format!("{:.4}", x)
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
}

fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

/// Who made an entry: name, user id and role.
pub fn who(e: &Entry) -> String {
    format!("{} ({}, {})", e.by.name, e.by.user, e.by.role)
}

/// A one-line description of an entry for the audit trail.
pub fn summary(e: &Entry) -> String {
    match &e.body {
        Body::Ordered(o) => format!(
            "ordered {} for patient {} (COI {}, DIN {}), recipe {} {}",
            o.product,
            o.patient,
            o.coi,
            o.din.label(),
            o.recipe.id,
            o.recipe.version
        ),
        Body::Custody(c) => format!(
            "{} scan at {}: COI {}, DIN {} — {}",
            c.point,
            c.location,
            c.scanned.coi,
            c.scanned.din,
            if c.matched { "match" } else { "MISMATCH" }
        ),
        Body::StepStarted(s) => format!("started {} (attempt {})", s.step, s.attempt),
        Body::EquipmentUsed(u) => equipment_used_summary(u),
        Body::Value(v) => format!("{} {} = {} {}", v.step, v.field, v.value, v.unit),
        Body::Lot(l) => format!(
            "{} {}: lot {} (expires {})",
            l.step, l.material, l.lot, l.expiry
        ),
        Body::Decision(d) => format!(
            "{} decision on {} = {}: {}",
            d.step,
            d.measure,
            d.value,
            match (&d.then, d.triggered) {
                (Some(c), true) => format!("triggered, {c:?}").to_lowercase(),
                _ => "not triggered".into(),
            }
        ),
        Body::StepCompleted(c) => match &c.failed {
            Some(f) => format!("{} attempt {} FAILED: {f}", c.step, c.attempt),
            None => format!("completed {} (attempt {})", c.step, c.attempt),
        },
        Body::Deviation(d) => format!(
            "deviation {} ({}{}) {}: expected {}, recorded {}",
            d.number,
            d.kind,
            if d.critical { ", critical" } else { "" },
            d.field,
            d.expected,
            d.actual
        ),
        Body::Assessment(a) => format!(
            "deviation {} assessed {:?}{}: {}",
            a.deviation,
            a.classification,
            a.capa
                .as_ref()
                .map(|c| format!(" (CAPA {c})"))
                .unwrap_or_default(),
            a.rationale
        )
        .to_lowercase(),
        Body::Correction(c) => correction_summary(c),
        Body::Signature(s) => format!(
            "signed entry {} as {} by {} (hash {})",
            s.target,
            s.meaning,
            s.name,
            short(&s.target_hash)
        ),
        Body::Disposition(d) => format!("disposition {:?}: {}", d.decision, d.reason),
        Body::Infused(i) => format!("infused at {} on {}", i.clinic, i.infused_at),
        Body::Terminated(t) => format!("terminated: {} ({:?})", t.reason, t.consequence),
        Body::Series(x) => series_summary(x),
        Body::DeviceEvent(d) => device_event_summary(d),
    }
}

/// An equipment scan: the requirement it serves and each counter use.
fn equipment_used_summary(u: &EquipmentUsed) -> String {
    let mut s = format!(
        "{} {}: {} ({})",
        u.step, u.requirement, u.equipment, u.qualification
    );
    for c in &u.counters {
        let _ = write!(s, "; {} {} → {} of {}", c.counter, c.before, c.after, c.max);
    }
    s
}

/// A correction: the entry it corrects, the new value or lot, and the reason.
fn correction_summary(c: &Correction) -> String {
    format!(
        "correction of entry {}: {} — reason: {}",
        c.corrects,
        match c.new.as_ref() {
            Body::Value(v) => format!("{} {}", v.value, v.unit),
            Body::Lot(l) => format!("lot {} (expires {})", l.lot, l.expiry),
            other => other.kind().to_string(),
        },
        c.reason
    )
}

/// A block of a monitored series: its span, extremes, mean and samples outside the range.
fn series_summary(x: &SeriesBlock) -> String {
    format!(
        "series {} of {} block {} from device {}: {} samples {} to {}, min {} max {} mean {} {}{}",
        x.field,
        x.step,
        x.block,
        x.device,
        x.count,
        fmt_ms(x.first_ms),
        fmt_ms(x.last_ms),
        x.min,
        x.max,
        fmt_mean(x.mean),
        x.unit,
        if x.outside > 0 {
            format!(", {} outside the range", x.outside)
        } else {
            String::new()
        }
    )
}

/// A device event: the field and refused value it concerns, and the device's own time.
fn device_event_summary(d: &DeviceEvent) -> String {
    let mut s = format!(
        "device {} {} in {}: {}",
        d.device, d.event, d.step, d.detail
    );
    if let Some(f) = &d.field {
        s.push_str(&format!(" ({f}"));
        if let Some(v) = d.value {
            s.push_str(&format!(" = {v}, refused"));
        }
        s.push(')');
    }
    if let Some(t) = d.source_time {
        s.push_str(&format!(", device time {t}"));
    }
    s
}

/// The batch record page.
pub fn batch_record_html(b: &Batch) -> String {
    let o = b.order();
    // the sections read the record as one contiguous slice
    let entries: Vec<Entry> = b.entries().iter().cloned().collect();
    let entries = entries.as_slice();
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Batch record {}</h1>\n<p class=\"muted\">{}</p>\n",
        escape(b.id()),
        escape(&o.product)
    );
    let chain = match verify_chain(b.id(), entries) {
        Ok(head) => format!(
            "<span class=\"good\">verified</span>: {} entries, head hash <code>{}</code>",
            entries.len(),
            escape(&head)
        ),
        Err(e) => format!(
            "<span class=\"bad\">BROKEN</span>: {}",
            escape(&e.to_string())
        ),
    };
    let _ = write!(
        body,
        "<dl class=\"meta\">\
         <dt>Stage</dt><dd>{}</dd>\
         <dt>Patient pseudonym</dt><dd>{}</dd>\
         <dt>Chain of identity</dt><dd><code>{}</code></dd>\
         <dt>Donation (ISBT 128 DIN)</dt><dd><code>{}</code></dd>\
         <dt>Recipe</dt><dd>{} version {} (SHA-256 <code>{}</code>)</dd>\
         <dt>Planned start</dt><dd>{}</dd>\
         <dt>Equipment bound on</dt><dd>{}</dd>\
         <dt>Record chain</dt><dd>{chain}</dd>\
         </dl>",
        escape(&b.stage().to_string()),
        escape(&o.patient),
        escape(&o.coi),
        escape(&o.din.label()),
        escape(&o.recipe.id),
        escape(&o.recipe.version),
        escape(&o.recipe.sha256),
        o.planned_start,
        o.bound_on,
    );
    body.push('\n');
    signatures_section(&mut body, entries);
    deviations_section(&mut body, b, entries);
    steps_section(&mut body, entries);
    values_section(&mut body, entries);
    series_section(&mut body, entries);
    custody_section(&mut body, entries);
    audit_trail_section(&mut body, entries);
    let _ = write!(
        body,
        "<footer>Batch record {} generated by atmpflow from {} entries. Times are UTC (server clock). \
         Each entry's SHA-256 covers the previous entry's hash; every signature names the hash of the \
         entry it signs.</footer>",
        escape(b.id()),
        entries.len()
    );
    document(&format!("Batch record {}", b.id()), &body)
}

/// The signatures, each with the entry it signs and that entry's hash.
fn signatures_section(body: &mut String, entries: &[Entry]) {
    let by_seq: BTreeMap<u64, &Entry> = entries.iter().map(|e| (e.seq, e)).collect();
    body.push_str("<h2>Signatures</h2>\n");
    let sigs: Vec<Vec<Cell>> = entries
        .iter()
        .filter_map(|e| match &e.body {
            Body::Signature(s) => {
                let target = by_seq
                    .get(&s.target)
                    .map(|t| summary(t))
                    .unwrap_or_default();
                Some(vec![
                    Cell::num(&e.seq.to_string()),
                    Cell::text(&s.name),
                    Cell::text(&format!("{} ({})", e.by.user, e.by.role)),
                    Cell::text(&s.meaning.to_string()),
                    Cell::text(&e.at.to_string()),
                    Cell::text(&format!("{}: {target}", s.target)),
                    Cell::html(
                        format!("<code>{}</code>", escape(&short(&s.target_hash))),
                        false,
                    ),
                ])
            }
            _ => None,
        })
        .collect();
    body.push_str(&table(
        &[
            "Entry",
            "Printed name",
            "User (role)",
            "Meaning",
            "Signed at (UTC)",
            "Signed entry",
            "Its hash",
        ],
        &sigs,
    ));
}

/// The deviations with their assessment (classification, CAPA, rationale).
fn deviations_section(body: &mut String, b: &Batch, entries: &[Entry]) {
    body.push_str("<h2>Deviations</h2>\n");
    let mut assessed: BTreeMap<u32, &Entry> = BTreeMap::new();
    for e in entries {
        if let Body::Assessment(a) = &e.body {
            assessed.insert(a.deviation, e);
        }
    }
    let devs: Vec<Vec<Cell>> = b
        .deviations()
        .into_iter()
        .map(|(d, _)| {
            let (class, capa, rationale, by) = match assessed.get(&d.number).map(|e| (e, &e.body)) {
                Some((e, Body::Assessment(a))) => (
                    format!("{:?}", a.classification).to_lowercase(),
                    a.capa.clone().unwrap_or_default(),
                    a.rationale.clone(),
                    format!("{} at {}", e.by.name, e.at),
                ),
                _ => (
                    "NOT ASSESSED".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                ),
            };
            vec![
                Cell::num(&d.number.to_string()),
                Cell::text(&format!(
                    "{}{}",
                    d.kind,
                    if d.critical { " (critical)" } else { "" }
                )),
                Cell::text(d.step.as_deref().unwrap_or("—")),
                Cell::text(&d.field),
                Cell::text(&d.expected),
                Cell::text(&d.actual),
                Cell::text(&class),
                Cell::text(&capa),
                Cell::text(&rationale),
                Cell::text(&by),
            ]
        })
        .collect();
    if devs.is_empty() {
        body.push_str("<p>No deviations.</p>\n");
    } else {
        body.push_str(&table(
            &[
                "No.",
                "Kind",
                "Step",
                "Field",
                "Expected",
                "Recorded",
                "Classification",
                "CAPA",
                "Rationale",
                "Assessed by",
            ],
            &devs,
        ));
    }
}

/// What one monitored series of a step adds up to over its blocks.
struct SeriesSum {
    device: String,
    unit: String,
    blocks: u32,
    count: u64,
    first_ms: i64,
    last_ms: i64,
    min: f64,
    max: f64,
    sum: f64,
    outside: u64,
    excursions: Vec<String>,
}

/// The monitored series: per step and field the blocks, samples, time span, min, max,
/// mean, samples outside the range and the deviation raised for each excursion.
fn series_section(body: &mut String, entries: &[Entry]) {
    let mut sums: BTreeMap<(String, String), SeriesSum> = BTreeMap::new();
    for e in entries {
        match &e.body {
            Body::Series(x) => {
                let s = sums
                    .entry((x.step.clone(), x.field.clone()))
                    .or_insert_with(|| SeriesSum {
                        device: x.device.clone(),
                        unit: x.unit.clone(),
                        blocks: 0,
                        count: 0,
                        first_ms: x.first_ms,
                        last_ms: x.last_ms,
                        min: x.min,
                        max: x.max,
                        sum: 0.0,
                        outside: 0,
                        excursions: Vec::new(),
                    });
                s.blocks += 1;
                s.count += u64::from(x.count);
                s.last_ms = x.last_ms;
                s.min = s.min.min(x.min);
                s.max = s.max.max(x.max);
                s.sum += x.mean * f64::from(x.count);
                s.outside += u64::from(x.outside);
            }
            Body::Deviation(d) if d.kind == DeviationKind::OutOfRange => {
                if let Some(s) = d
                    .step
                    .as_ref()
                    .and_then(|st| sums.get_mut(&(st.clone(), d.field.clone())))
                {
                    s.excursions
                        .push(format!("deviation {}: {}", d.number, d.actual));
                }
            }
            _ => {}
        }
    }
    if sums.is_empty() {
        return;
    }
    body.push_str(
        "<h2>Monitored series</h2>
",
    );
    let rows: Vec<Vec<Cell>> = sums
        .iter()
        .map(|((step, field), s)| {
            vec![
                Cell::text(step),
                Cell::text(field),
                Cell::text(&s.device),
                Cell::num(&s.blocks.to_string()),
                Cell::num(&s.count.to_string()),
                Cell::text(&format!("{} to {}", fmt_ms(s.first_ms), fmt_ms(s.last_ms))),
                Cell::num(&format!("{} {}", s.min, s.unit)),
                Cell::num(&format!("{} {}", s.max, s.unit)),
                Cell::num(&format!(
                    "{} {}",
                    fmt_mean(s.sum / s.count.max(1) as f64),
                    s.unit
                )),
                Cell::num(&s.outside.to_string()),
                Cell::text(&if s.excursions.is_empty() {
                    "none".to_string()
                } else {
                    s.excursions.join("; ")
                }),
            ]
        })
        .collect();
    body.push_str(&table(
        &[
            "Step",
            "Field",
            "Device",
            "Blocks",
            "Samples",
            "Device time (UTC)",
            "Min",
            "Max",
            "Mean",
            "Samples outside",
            "Excursions",
        ],
        &rows,
    ));
}

/// The steps performed: start, end, hours, operator and outcome of each attempt.
fn steps_section(body: &mut String, entries: &[Entry]) {
    body.push_str("<h2>Steps</h2>\n");
    let mut starts: BTreeMap<(String, u32), &Entry> = BTreeMap::new();
    let mut rows = Vec::new();
    for e in entries {
        match &e.body {
            Body::StepStarted(s) => {
                starts.insert((s.step.clone(), s.attempt), e);
            }
            Body::StepCompleted(c) => {
                let start = starts.get(&(c.step.clone(), c.attempt));
                let hours = start.map(|s| s.at.hours_until(e.at)).unwrap_or(0.0);
                rows.push(vec![
                    Cell::text(&c.step),
                    Cell::num(&c.attempt.to_string()),
                    Cell::text(&start.map(|s| s.at.to_string()).unwrap_or_default()),
                    Cell::text(&e.at.to_string()),
                    Cell::num(&format!("{hours:.2}")),
                    Cell::text(&e.by.name),
                    Cell::text(c.failed.as_deref().unwrap_or("completed")),
                ]);
            }
            _ => {}
        }
    }
    body.push_str(&table(
        &[
            "Step",
            "Attempt",
            "Started (UTC)",
            "Ended (UTC)",
            "Hours",
            "Performed by",
            "Outcome",
        ],
        &rows,
    ));
}

/// The recorded values with their source and corrections.
fn values_section(body: &mut String, entries: &[Entry]) {
    body.push_str("<h2>Values</h2>\n");
    let mut corrections: BTreeMap<u64, Vec<&Entry>> = BTreeMap::new();
    for e in entries {
        if let Body::Correction(c) = &e.body {
            corrections.entry(c.corrects).or_default().push(e);
        }
    }
    let values: Vec<Vec<Cell>> = entries
        .iter()
        .filter_map(|e| match &e.body {
            Body::Value(v) => {
                let source = match &v.source {
                    batch::entry::Source::Manual => format!("manual, {}", e.by.name),
                    batch::entry::Source::Device {
                        device,
                        source_time,
                        address,
                    } => {
                        let mut s = format!("device {device}");
                        if let Some(a) = address {
                            s.push_str(&format!(" at {a}"));
                        }
                        if let Some(t) = source_time {
                            s.push_str(&format!(", measured {t}"));
                        }
                        s
                    }
                };
                let fixes: Vec<String> = corrections
                    .get(&e.seq)
                    .into_iter()
                    .flatten()
                    .map(|c| summary(c))
                    .collect();
                Some(vec![
                    Cell::num(&e.seq.to_string()),
                    Cell::text(&v.step),
                    Cell::text(&v.field),
                    Cell::num(&v.value.to_string()),
                    Cell::text(&v.unit),
                    Cell::text(&source),
                    Cell::text(&e.at.to_string()),
                    Cell::text(&fixes.join("; ")),
                ])
            }
            _ => None,
        })
        .collect();
    body.push_str(&table(
        &[
            "Entry",
            "Step",
            "Field",
            "Value",
            "Unit",
            "Source",
            "Recorded (UTC)",
            "Corrections",
        ],
        &values,
    ));
}

/// The chain-of-custody log: every hand-off with the scanned labels.
fn custody_section(body: &mut String, entries: &[Entry]) {
    body.push_str("<h2>Chain of custody</h2>\n");
    let custody: Vec<Vec<Cell>> = entries
        .iter()
        .filter_map(|e| match &e.body {
            Body::Custody(c) => Some(vec![
                Cell::text(&e.at.to_string()),
                Cell::text(&c.point.to_string()),
                Cell::text(c.step.as_deref().unwrap_or("—")),
                Cell::text(&c.location),
                Cell::text(&who(e)),
                Cell::text(&c.scanned.coi),
                Cell::text(&c.scanned.din),
                Cell::html(
                    if c.matched {
                        "<span class=\"good\">match</span>".into()
                    } else {
                        "<span class=\"bad\">MISMATCH</span>".into()
                    },
                    false,
                ),
            ]),
            _ => None,
        })
        .collect();
    body.push_str(&table(
        &[
            "Time (UTC)",
            "Hand-off",
            "Step",
            "Location",
            "By",
            "Label COI",
            "Label DIN",
            "Result",
        ],
        &custody,
    ));
}

/// The audit trail: every entry with its hash.
fn audit_trail_section(body: &mut String, entries: &[Entry]) {
    body.push_str("<h2>Audit trail</h2>\n");
    let trail: Vec<Vec<Cell>> = entries
        .iter()
        .map(|e| {
            vec![
                Cell::num(&e.seq.to_string()),
                Cell::text(&e.at.to_string()),
                Cell::text(&who(e)),
                Cell::text(e.body.kind()),
                Cell::text(&summary(e)),
                Cell::html(format!("<code>{}</code>", escape(&short(&e.hash))), false),
            ]
        })
        .collect();
    body.push_str(&table(
        &["Entry", "Time (UTC)", "By", "Kind", "What", "Hash"],
        &trail,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use batch::engine::recipe_sha256;
    use batch::rehearsal::{BoundDevices, Cast, Ordered, Rehearsal, rehearse};
    use batch::{LotRegister, NewOrder};

    const RECIPE: &str = include_str!("../../../examples/recipes/car-t-modular.toml");
    const INVENTORY: &str = include_str!("../../../examples/equipment/modular-plant.toml");

    #[test]
    fn series_blocks_add_up_in_the_series_table_with_their_excursions() {
        use batch::entry::{DeviationEntry, SeriesBlock};
        let by = batch::Person {
            user: "op".into(),
            name: "Op".into(),
            role: batch::Role::Operator,
        };
        let at = recipe::DateTime::parse("2026-12-02T08:10:00Z").expect("t");
        let block = |n: u32, first_ms: i64, values: Vec<f64>, outside: u32| {
            Body::Series(SeriesBlock {
                step: "thaw".into(),
                field: "parameters.bath_temperature".into(),
                unit: "°C".into(),
                device: "thaw_1".into(),
                address: None,
                block: n,
                first_ms,
                last_ms: first_ms + 100 * (values.len() as i64 - 1),
                count: values.len() as u32,
                min: values.iter().copied().fold(f64::INFINITY, f64::min),
                max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                mean: values.iter().sum::<f64>() / values.len() as f64,
                outside,
                ends_outside: false,
                offsets_ms: (0..values.len() as u32).map(|i| i * 100).collect(),
                values,
            })
        };
        let bodies = vec![
            block(1, 1_796_199_000_000, vec![37.0, 37.0], 0),
            block(2, 1_796_199_000_200, vec![39.0, 37.0], 1),
            Body::Deviation(DeviationEntry {
                number: 1,
                kind: DeviationKind::OutOfRange,
                step: Some("thaw".into()),
                field: "parameters.bath_temperature".into(),
                expected: "36–38 °C".into(),
                actual: "39 °C from device time X".into(),
                critical: false,
            }),
        ];
        let mut prev = batch::entry::GENESIS.to_string();
        let entries: Vec<Entry> = bodies
            .into_iter()
            .enumerate()
            .map(|(i, b)| {
                let e = Entry::seal("B", i as u64 + 1, at, by.clone(), None, None, b, &prev);
                prev = e.hash.clone();
                e
            })
            .collect();
        let mut html = String::new();
        series_section(&mut html, &entries);
        assert!(html.contains("Monitored series"), "{html}");
        // 2 blocks, 4 samples, min 37, max 39, mean 37.5, 1 outside, the deviation named
        for want in [
            ">2<",
            ">4<",
            "37 °C",
            "39 °C",
            "37.5 °C",
            ">1<",
            "deviation 1: 39 °C",
        ] {
            assert!(html.contains(want), "{want} missing in {html}");
        }
        assert!(summary(&entries[1]).contains("2 samples 2026-12-02T08:10:00.200Z"));
        let mut none = String::new();
        series_section(&mut none, &entries[2..]);
        assert!(none.is_empty(), "no series, no section");
    }

    #[test]
    fn the_record_page_is_well_formed_and_shows_signatures_and_deviations() {
        let r = recipe::parse_recipe("r.toml", RECIPE).expect("recipe");
        let mut inv = recipe::parse_inventory("i.toml", INVENTORY).expect("inventory");
        let day = recipe::Date::parse("2026-12-01").expect("date");
        let binding = recipe::bind_strict(&r, &inv, day).expect("binding");
        let start = recipe::DateTime::parse("2026-12-01T08:00:00Z").expect("t");
        let order = NewOrder {
            batch: "B-<&>".replace("<&>", "7"),
            patient: "PSN-1".into(),
            coi: "COI-<1>".replace(['<', '>'], ""),
            din: "A999925123456".into(),
            planned_start: start,
            ship_step: None,
        };
        let b = rehearse(
            Ordered {
                order: &order,
                recipe: &r,
                recipe_sha: &recipe_sha256(RECIPE),
                binding: &binding,
            },
            &mut inv,
            &LotRegister::default(),
            &Cast::example(),
            &Rehearsal {
                seed: 5,
                start,
                excursions: 0.3,
                location: "room <c1> & co".into(),
                clinic: "Clinic".into(),
            },
            &mut BoundDevices::new(),
            |_| Ok(()),
        )
        .expect("rehearsal");
        let html = batch_record_html(&b);
        roxmltree::Document::parse(html.trim_start_matches("<!DOCTYPE html>\n"))
            .expect("well-formed");
        assert!(html.contains("Dr. Quentin Person"));
        assert!(html.contains(">released<"), "release meaning shown");
        assert!(html.contains("verified</span>"));
        assert!(html.contains("room &lt;c1&gt; &amp; co"));
        assert!(html.contains("A9999 25 123456 9"));
        assert!(!html.contains("NOT ASSESSED"));
        assert!(!html.contains("http"), "self-contained");
    }
}
