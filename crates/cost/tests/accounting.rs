//! Tests of the cost accounting against simulated replications.

use std::sync::atomic::AtomicBool;

use cost::{CostModel, CostSummary};
use model::SourceFile;
use testkit::scenarios::{Scenario, fixed, q, triangular};

/// A plant of six devices in one grade-C room with two weekday operators making CAR-T: a
/// 12-day manufacture that fails one time in ten (made again from the back-up material) and a
/// week of QC that is repeated one time in twenty.
fn plant() -> String {
    Scenario::new("test plant", 400, 35, 8, 7)
        .equipment("device", 6)
        .area("room", "C", 6)
        .set("floor_m2", "50.0")
        .staff("operators", 2)
        .shift(&["weekdays"], 7.0, 15.0)
        .product("car-t")
        .set("remanufacture_from", q("manufacture"))
        .set("max_remanufactures", 1)
        .set("max_rework", 3)
        .step("manufacture", triangular(10, 12, 14, "days"))
        .set(
            "uses",
            r#"[{ equipment = "device" }, { area = "room" }, { staff = "operators", hours = 2 }]"#,
        )
        .set(
            "failure",
            r#"{ probability = 0.1, consequence = "remanufacture" }"#,
        )
        .step("qc", fixed(7, "days"))
        .set(
            "failure",
            r#"{ probability = 0.05, consequence = "repeat" }"#,
        )
        .demand("car-t", "patients_per_year = 100", 25)
        .text()
}

const COST: &str = r#"
[cost]
currency = "EUR"
discount_rate = 0.05

[[cost.equipment]]
pool = "device"
purchase_eur = 150000
qualification_eur = 20000
useful_life_years = 8
maintenance_eur_per_year = 12000

[[cost.grade]]
grade = "C"
build_eur_per_m2 = 5000
useful_life_years = 20
hvac_eur_per_m2_year = 400

[[cost.role]]
name = "operator"
salary_eur_per_year = 50000
overhead_fraction = 0.3
staff = "operators"
basis = "demand"
productive_hours_per_year = 1600

[[cost.material]]
name = "tubing set"
eur = 3500
per = "step_run"
step = "manufacture"

[[cost.qc_test]]
name = "release panel"
eur = 1200
per = "step_run"
step = "qc"

[[cost.operating]]
name = "audits"
eur = 20000
per = "year"
"#;

fn simulate(text: &str) -> (model::Model, sim::Results) {
    let m = model::load("plant.toml", text).expect("scenario loads");
    let never = AtomicBool::new(false);
    let r = sim::run(&m, &sim::RunOptions::default(), &|_| {}, &never).expect("simulates");
    (m, r)
}

fn price(text: &str, m: &model::Model, r: &sim::Results) -> CostSummary {
    let src = SourceFile::new("plant.toml", text);
    let cm = cost::load(&src, m)
        .expect("cost loads")
        .expect("has [cost]");
    cm.summarise(&r.per_replication).expect("priced")
}

#[test]
fn doubling_a_consumable_price_adds_exactly_its_use_per_dose() {
    let text = format!("{}{COST}", plant());
    let (m, r) = simulate(&text);
    let base = price(&text, &m, &r);
    let doubled = text.replace("eur = 3500", "eur = 7000");
    let high = price(&doubled, &m, &r);
    // The step is the first one (flat index 0); its runs include remanufactures.
    let uses_per_dose: Vec<f64> = r
        .per_replication
        .iter()
        .map(|x| x.starts_per_year[0] / x.released_per_year)
        .collect();
    let mean_use = uses_per_dose.iter().sum::<f64>() / uses_per_dose.len() as f64;
    assert!(mean_use > 1.0, "failures must cause extra runs: {mean_use}");
    let delta = high.per_dose.mean - base.per_dose.mean;
    assert!(
        (delta - 3500.0 * mean_use).abs() < 1e-6 * delta,
        "delta {delta} vs {}",
        3500.0 * mean_use
    );
    // Only the materials category moved.
    assert_eq!(base.by_category["equipment"], high.by_category["equipment"]);
    assert!(high.by_category["materials"].mean > base.by_category["materials"].mean);
}

#[test]
fn categories_and_fixed_variable_parts_add_up() {
    let text = format!("{}{COST}", plant());
    let (m, r) = simulate(&text);
    let c = price(&text, &m, &r);
    let sum: f64 = c.by_category.values().map(|s| s.mean).sum();
    assert!((sum - c.annual_total.mean).abs() < 1e-6 * sum);
    assert!(
        (c.fixed_annual.mean + c.variable_annual.mean - c.annual_total.mean).abs()
            < 1e-6 * c.annual_total.mean
    );
    // Equipment capital as an annuity: 6 units × 170,000 at 5 % over 8 years.
    let capital = cost::annualise::annuity(6.0 * 170_000.0, 0.05, 8.0);
    let eq = c.by_category["equipment"].mean;
    assert!((eq - capital - 6.0 * 12_000.0).abs() < 1e-6, "{eq}");
    // Facility: 50 m² × 5000 over 20 years + 50 × 400 running.
    let fac = cost::annualise::annuity(250_000.0, 0.05, 20.0) + 20_000.0;
    assert!((c.by_category["facility"].mean - fac).abs() < 1e-6);
    // Per patient (intention to treat) is below per dose: lost patients are paid for too.
    assert!(c.per_patient_treated.mean <= c.per_dose.mean);
    assert!(c.per_dose.ci95[0] < c.per_dose.mean && c.per_dose.mean < c.per_dose.ci95[1]);
    // Labour follows simulated operator hours: whole heads, at least one.
    let lab = c.by_category["labour"].mean;
    assert!(lab >= 65_000.0 && (lab / 65_000.0 - (lab / 65_000.0).round()).abs() < 1e-9);
}

#[test]
fn straight_line_is_cheaper_than_annuity_with_interest() {
    let text = format!("{}{COST}", plant());
    let (m, r) = simulate(&text);
    let ann = price(&text, &m, &r);
    let sl_text = text.replace(
        "discount_rate = 0.05",
        "discount_rate = 0.05\nannualisation = \"straight_line\"",
    );
    let sl = price(&sl_text, &m, &r);
    assert!(sl.annual_total.mean < ann.annual_total.mean);
    assert_eq!(sl.capital_annuity, ann.capital_annuity);
    assert!(
        (ann.annual_total.mean
            - sl.annual_total.mean
            - (ann.capital_annuity - ann.capital_straight_line))
            .abs()
            < 1e-6
    );
}

#[test]
fn zero_demand_gives_a_clear_message() {
    let text = format!("{}{COST}", plant());
    let (m, r) = simulate(&text);
    let src = SourceFile::new("plant.toml", text.as_str());
    let cm = cost::load(&src, &m).expect("loads").expect("has cost");
    let mut reps = r.per_replication.clone();
    for x in &mut reps {
        x.patients = 0;
        x.released_per_year = 0.0;
        x.starts_per_year.iter_mut().for_each(|s| *s = 0.0);
        x.busy_hours_per_year.iter_mut().for_each(|s| *s = 0.0);
    }
    let err = cm.summarise(&reps).expect_err("undefined").to_string();
    assert!(err.contains("zero demand"), "{err}");
    assert!(err.contains("cost per patient is undefined"), "{err}");
    assert!(err.contains("a year"), "{err}");
    assert_eq!(
        cm.summarise(&[]).expect_err("empty").to_string(),
        "no replications to price"
    );

    // All patients arrive during the warm-up: none in the observed window.
    let warm = plant().replace(
        "patients_per_year = 100",
        "apheresis_days = [1.0, 2.0, 3.0]",
    );
    let text = format!("{warm}{COST}");
    let (m, r) = simulate(&text);
    let src = SourceFile::new("plant.toml", text.as_str());
    let cm = cost::load(&src, &m).expect("loads").expect("has cost");
    let err = cm
        .summarise(&r.per_replication)
        .expect_err("undefined")
        .to_string();
    assert!(err.contains("zero demand"), "{err}");
}

fn load_err(text: &str) -> model::FileErrors {
    let m = model::load("plant.toml", &plant()).expect("scenario loads");
    let src = SourceFile::new("plant.toml", text);
    cost::load(&src, &m).expect_err("must fail")
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .expect("needle in text")
}

#[test]
fn bad_inputs_name_file_line_and_field() {
    // A wrong type.
    let text = format!(
        "{}{}",
        plant(),
        COST.replace("purchase_eur = 150000", "purchase_eur = \"a lot\"")
    );
    let e = load_err(&text);
    let first = &e.errors[0];
    assert_eq!(first.file, "plant.toml");
    assert_eq!(first.field, "cost.equipment[0].purchase_eur");
    assert_eq!(first.line, line_of(&text, "purchase_eur = \"a lot\""));

    // A missing field.
    let text = format!("{}{}", plant(), COST.replace("useful_life_years = 8\n", ""));
    let e = load_err(&text);
    assert!(e.errors[0].field.starts_with("cost.equipment[0]"), "{e}");
    assert!(e.errors[0].message.contains("useful_life_years"), "{e}");

    // An unknown field.
    let text = format!(
        "{}{}",
        plant(),
        COST.replace("hvac_eur_per_m2_year", "havc_eur_per_m2_year")
    );
    let e = load_err(&text);
    assert!(e.errors[0].field.starts_with("cost.grade[0]"), "{e}");
    assert_eq!(e.errors[0].line, line_of(&text, "havc_eur_per_m2_year"));

    // Semantic checks, all reported at once, each at its field.
    let text = format!(
        "{}{}",
        plant(),
        COST.replace("pool = \"device\"", "pool = \"devise\"")
            .replace("eur = 1200", "eur = -1200")
            .replace("step = \"qc\"", "step = \"qcc\"")
            .replace("discount_rate = 0.05\n", "")
    );
    let e = load_err(&text);
    let fields: Vec<&str> = e.errors.iter().map(|x| x.field.as_str()).collect();
    assert!(fields.contains(&"cost.equipment[0].pool"), "{fields:?}");
    assert!(fields.contains(&"cost.qc_test[0].eur"), "{fields:?}");
    assert!(fields.contains(&"cost.qc_test[0].step"), "{fields:?}");
    assert!(fields.contains(&"cost"), "{fields:?}");
    let pool = e
        .errors
        .iter()
        .find(|x| x.field == "cost.equipment[0].pool")
        .expect("pool");
    assert_eq!(pool.line, line_of(&text, "pool = \"devise\""));
    assert!(
        pool.message.contains("`device`"),
        "lists the pools: {}",
        pool.message
    );
    let rendered = e.to_string();
    assert!(rendered.contains("plant.toml:"), "{rendered}");
    assert!(rendered.contains("discount_rate"), "{rendered}");

    // A grade without prices.
    let text = format!(
        "{}{}",
        plant(),
        COST.replace("grade = \"C\"\nbuild", "grade = \"D\"\nbuild")
    );
    let e = load_err(&text);
    assert!(
        e.to_string()
            .contains("no [[cost.grade]] entry for grade C"),
        "{e}"
    );
}

#[test]
fn a_file_without_cost_section_gives_none() {
    let m = model::load("plant.toml", &plant()).expect("scenario loads");
    let src = SourceFile::new("plant.toml", plant());
    assert!(cost::load(&src, &m).expect("no error").is_none());
}

#[test]
fn published_academic_cost_structure_is_reproduced() {
    // Ran et al. 2020 (reference-numbers.md, "academic decentralised cost structure"):
    // fixed EUR 438,098 a year + EUR 34,798 per production at 18 productions a year gives
    // EUR 59,137 per product. With exactly 18 patients a year, no failures and a fixed
    // process, the simulation-coupled cost per dose must give the same number.
    let days: Vec<String> = (0..54)
        .map(|k| format!("{:.4}", k as f64 * 365.0 / 18.0))
        .collect();
    let text = Scenario::new("academic", 1095, 182.5, 2, 1)
        .equipment("prodigy", 2)
        .product("car-t")
        .step("manufacture", fixed(13, "days"))
        .uses("equipment", "prodigy")
        .demand(
            "car-t",
            &format!("apheresis_days = [{}]", days.join(", ")),
            30,
        )
        .append(
            r#"
[cost]
annualisation = "straight_line"
[[cost.other]]
name = "fixed costs as published"
eur = 438098
per = "year"
[[cost.other]]
name = "variable costs per production as published"
eur = 34798
per = "batch"
"#,
        )
        .text();
    let (m, r) = simulate(&text);
    let c = price(&text, &m, &r);
    assert!(
        (c.doses_per_year.mean - 18.0).abs() < 1e-9,
        "{:?}",
        c.doses_per_year
    );
    let published = 438_098.0 / 18.0 + 34_798.0;
    assert!(
        (c.per_dose.mean - published).abs() < 0.01,
        "{}",
        c.per_dose.mean
    );
    assert!((c.per_dose.mean - 59_137.0).abs() < 1.0);
}

#[test]
fn cost_model_reports_both_annualisations() {
    let m = model::load("plant.toml", &plant()).expect("scenario loads");
    let src = SourceFile::new("plant.toml", format!("{}{COST}", plant()));
    let cm: CostModel = cost::load(&src, &m).expect("loads").expect("has cost");
    assert!(cm.capital_annuity > cm.capital_straight_line);
    let sl = 6.0 * 170_000.0 / 8.0 + 250_000.0 / 20.0;
    assert!((cm.capital_straight_line - sl).abs() < 1e-6);
    assert!((cm.investment - 1_270_000.0).abs() < 1e-6);
}

#[test]
fn academic_example_lies_near_the_published_cost() {
    // examples/costs/academic-poc.toml: the published lines (Ran et al. 2020) priced on
    // simulated operation. Failures made again and years with fewer patients put the cost per
    // dose above the planned EUR 59,137, but not far.
    let text = include_str!("../../../examples/costs/academic-poc.toml");
    let (m, r) = simulate(text);
    let c = price(text, &m, &r);
    assert!(
        c.per_dose.mean > 59_137.0 && c.per_dose.mean < 66_000.0,
        "{:?}",
        c.per_dose
    );
    assert!(
        c.per_dose.ci95[1] - c.per_dose.ci95[0] < 2_000.0,
        "{:?}",
        c.per_dose
    );
    assert!((c.fixed_annual.mean - 438_098.0).abs() < 1e-6);
    assert_eq!(c.by_category["other"].mean, c.annual_total.mean);
}

/// A small deterministic generator (SplitMix64) for random replications with fixed seeds.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` replications of the test plant with random counts: spreads from a few percent to
/// orders of magnitude, so the running variance meets both easy and ill-conditioned data.
fn random_reps(template: &sim::Replication, seed: u64, n: u32) -> Vec<sim::Replication> {
    let mut g = Mix(seed);
    (0..n)
        .map(|i| {
            let mut x = template.clone();
            x.index = i;
            // Large figures with a small spread (ill-conditioned for a one-pass variance).
            x.years = 1.0;
            x.patients = 1_000_000 + (g.next() % 50) as u32;
            x.released_per_year = g.uniform(80.0, 120.0);
            x.batches_started_per_year = g.uniform(90.0, 130.0);
            x.remanufactured_per_year = g.uniform(0.0, 10.0);
            for s in &mut x.starts_per_year {
                *s = g.uniform(1e6, 1e6 + 1.0);
            }
            for f in &mut x.failures_per_year {
                *f = g.uniform(0.0, 30.0);
            }
            for h in &mut x.busy_hours_per_year {
                *h = g.uniform(0.0, 1e4).powf(g.uniform(0.5, 1.5));
            }
            x
        })
        .collect()
}

/// The summary as it was computed before the running accumulator: every replication priced,
/// then each figure's mean and interval from all values at once (`sim::mean_ci`).
fn two_pass(cm: &CostModel, reps: &[sim::Replication]) -> Vec<(String, sim::Stat)> {
    let priced: Vec<cost::ReplicationCost> = reps.iter().map(|r| cm.replication(r)).collect();
    let col = |name: &str, f: &dyn Fn(&cost::ReplicationCost) -> f64| {
        (
            name.to_string(),
            sim::mean_ci(&priced.iter().map(f).collect::<Vec<_>>()),
        )
    };
    let mut out = vec![
        col("per_dose", &|rc| rc.total / rc.doses_per_year),
        col("per_patient_treated", &|rc| rc.total / rc.patients_per_year),
        col("annual_total", &|rc| rc.total),
        col("fixed_annual", &|rc| rc.fixed),
        col("variable_annual", &|rc| rc.variable),
        col("fixed_per_dose", &|rc| rc.fixed / rc.doses_per_year),
        col("variable_per_dose", &|rc| rc.variable / rc.doses_per_year),
        col("doses_per_year", &|rc| rc.doses_per_year),
        col("patients_per_year", &|rc| rc.patients_per_year),
    ];
    for c in cost::Category::ALL {
        let idx: Vec<usize> = (0..cm.lines.len())
            .filter(|&i| cm.lines[i].category == c)
            .collect();
        let sum = |rc: &cost::ReplicationCost| idx.iter().map(|&i| rc.lines[i]).sum::<f64>();
        out.push(col(&format!("annual {}", c.name()), &sum));
        out.push(col(&format!("per dose {}", c.name()), &|rc| {
            sum(rc) / rc.doses_per_year
        }));
    }
    for i in 0..cm.lines.len() {
        out.push(col(&format!("line {i} annual"), &|rc| rc.lines[i]));
        out.push(col(&format!("line {i} per dose"), &|rc| {
            rc.lines[i] / rc.doses_per_year
        }));
    }
    out
}

/// The figures of a summary in the order of [`two_pass`].
fn figures(c: &CostSummary) -> Vec<(String, sim::Stat)> {
    let mut out: Vec<(String, sim::Stat)> = [
        ("per_dose", c.per_dose),
        ("per_patient_treated", c.per_patient_treated),
        ("annual_total", c.annual_total),
        ("fixed_annual", c.fixed_annual),
        ("variable_annual", c.variable_annual),
        ("fixed_per_dose", c.fixed_per_dose),
        ("variable_per_dose", c.variable_per_dose),
        ("doses_per_year", c.doses_per_year),
        ("patients_per_year", c.patients_per_year),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect();
    for k in cost::Category::ALL {
        out.push((format!("annual {}", k.name()), c.by_category[k.name()]));
        out.push((
            format!("per dose {}", k.name()),
            c.per_dose_by_category[k.name()],
        ));
    }
    for (i, l) in c.lines.iter().enumerate() {
        out.push((format!("line {i} annual"), l.annual));
        out.push((format!("line {i} per dose"), l.per_dose));
    }
    out
}

/// The documented error of the running summary against the two-pass one: means identical
/// (both are the plain sum over the count, in replication order), interval ends within
/// 1e-12 relative (of the larger of the end and the mean).
fn assert_close(got: &[(String, sim::Stat)], want: &[(String, sim::Stat)], exact_means: bool) {
    assert_eq!(got.len(), want.len());
    for ((name, a), (wname, b)) in got.iter().zip(want) {
        assert_eq!(name, wname);
        let tol = |x: f64, y: f64| 1e-12 * x.abs().max(y.abs()).max(b.mean.abs());
        if exact_means {
            assert_eq!(a.mean, b.mean, "{name}");
        } else {
            assert!((a.mean - b.mean).abs() <= tol(a.mean, b.mean), "{name}");
        }
        for k in 0..2 {
            let (x, y) = (a.ci95[k], b.ci95[k]);
            assert!(
                (x - y).abs() <= tol(x, y),
                "{name} ci95[{k}]: {a:?} vs {b:?}"
            );
        }
    }
}

fn test_cost_model() -> (CostModel, sim::Results) {
    let text = format!("{}{COST}", plant());
    let (m, r) = simulate(&text);
    let src = SourceFile::new("plant.toml", text.as_str());
    let cm = cost::load(&src, &m).expect("loads").expect("has cost");
    (cm, r)
}

#[test]
fn running_summary_agrees_with_the_two_pass_one() {
    let (cm, r) = test_cost_model();
    // The simulated replications.
    let got = cm.summarise(&r.per_replication).expect("priced");
    assert_eq!(got.replications, r.per_replication.len() as u32);
    assert_close(&figures(&got), &two_pass(&cm, &r.per_replication), true);
    // Random ones, from 2 to 2,000 replications.
    for (seed, n) in [(1, 2), (2, 3), (3, 17), (4, 250), (5, 2000)] {
        let reps = random_reps(&r.per_replication[0], seed, n);
        let got = cm.summarise(&reps).expect("priced");
        let want = two_pass(&cm, &reps);
        assert_close(&figures(&got), &want, true);
        // The data do spread: the intervals are not degenerate.
        assert!(got.per_dose.ci95[1] > got.per_dose.ci95[0]);
    }
}

#[test]
fn merged_parts_equal_one_summary_of_all_replications() {
    let (cm, r) = test_cost_model();
    let reps = random_reps(&r.per_replication[0], 11, 301);
    let whole = cm.summarise(&reps).expect("priced");
    for cut in [1, 2, 150, 299] {
        let (mut a, mut b) = (cm.accumulator(), cm.accumulator());
        reps[..cut].iter().for_each(|x| a.add(x));
        reps[cut..].iter().for_each(|x| b.add(x));
        a.merge(&b);
        assert_eq!(a.replications(), 301);
        let merged = a.finish().expect("priced");
        assert_eq!(merged.replications, whole.replications);
        assert_close(&figures(&merged), &figures(&whole), false);
    }
    // Three parts merged in order, and an empty part, change nothing beyond rounding.
    let mut parts: Vec<cost::CostAccumulator> = reps
        .chunks(100)
        .map(|c| {
            let mut p = cm.accumulator();
            c.iter().for_each(|x| p.add(x));
            p
        })
        .collect();
    let mut first = parts.remove(0);
    first.merge(&cm.accumulator());
    for p in &parts {
        first.merge(p);
    }
    assert_close(
        &figures(&first.finish().expect("priced")),
        &figures(&whole),
        false,
    );
}

#[test]
fn the_undefined_cost_names_the_first_replication_in_order() {
    let (cm, r) = test_cost_model();
    let mut reps = random_reps(&r.per_replication[0], 21, 8);
    reps[5].released_per_year = 0.0;
    reps[2].patients = 0;
    let rc = cm.replication(&reps[2]);
    let want = format!(
        "zero demand: no patient was admitted in replication 2 (0.0 patients and {:.1} doses \
         per year): cost per patient is undefined; the plant still costs {:.0} EUR a year; give \
         the scenario a demand above zero (or a longer horizon)",
        rc.doses_per_year, rc.total
    );
    let err = cm.summarise(&reps).expect_err("undefined").to_string();
    assert_eq!(err, want);
    // Whichever way the replications are split, the lowest index is named.
    let (mut early, mut late) = (cm.accumulator(), cm.accumulator());
    reps[..4].iter().for_each(|x| early.add(x));
    reps[4..].iter().for_each(|x| late.add(x));
    let late_only = late.clone().finish().expect_err("undefined").to_string();
    assert!(
        late_only.contains("no dose was released in replication 5"),
        "{late_only}"
    );
    assert!(
        late_only.contains("cost per dose is undefined"),
        "{late_only}"
    );
    late.merge(&early);
    assert_eq!(late.finish().expect_err("undefined").to_string(), want);
    early.merge(&cm.accumulator());
    assert_eq!(early.finish().expect_err("undefined").to_string(), want);
}
