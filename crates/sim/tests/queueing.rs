//! Proof that the simulator is right: its results are checked against independent closed-form
//! results of queueing theory (Erlang C, M/M/1, Jackson tandem networks, geometric rework)
//! and against hand-computed timelines of deterministic cases.
//!
//! Stochastic checks assert that the closed form lies inside the simulator's 95 % confidence
//! interval, and that the interval is narrow enough for the check to mean something. Every
//! run uses a fixed seed, so a test gives the same verdict on every machine and thread count.

mod common;

use common::{assert_in_ci, close, load, observed, run_with};
use model::Model;
use sim::{DistStat, Observed, Results, Stat};
use testkit::scenarios::{Scenario, exponential, fixed, q};

fn run(m: &Model) -> Results {
    run_with(m, 0, None)
}

fn ds(d: &DistStat) -> Stat {
    Stat {
        mean: d.mean,
        ci95: d.ci95,
    }
}

fn step<'a>(r: &'a Results, name: &str) -> &'a sim::StepResult {
    match r.steps.iter().find(|s| s.name == name) {
        Some(s) => s,
        None => panic!("no step `{name}` in results"),
    }
}

/// The mean number of hold-time violations before step `name` a replication.
fn hold_violations(r: &Results, name: &str) -> f64 {
    step(r, name).hold_violations.mean
}

fn resource<'a>(r: &'a Results, name: &str) -> &'a sim::ResourceResult {
    match r.resources.iter().find(|s| s.name == name) {
        Some(s) => s,
        None => panic!("no resource `{name}` in results"),
    }
}

// ---- closed forms, written from the textbook definitions ---------------------------------

/// Erlang C: probability that an arrival to an M/M/c queue with offered load `a = λ/μ` waits.
fn erlang_c(c: u32, a: f64) -> f64 {
    assert!(a < f64::from(c), "unstable queue");
    // a^k / k! built up term by term.
    let mut term = 1.0;
    let mut below = 0.0;
    for k in 0..c {
        below += term;
        term *= a / f64::from(k + 1);
    }
    // term = a^c / c!
    let top = term * f64::from(c) / (f64::from(c) - a);
    top / (below + top)
}

/// Mean wait in queue of M/M/c: C(c, a) / (cμ − λ).
fn mmc_wq(c: u32, lambda: f64, mu: f64) -> f64 {
    erlang_c(c, lambda / mu) / (f64::from(c) * mu - lambda)
}

#[test]
fn erlang_c_matches_known_values() {
    // M/M/1: C = ρ.
    assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
    // M/M/2 with a = 1: C = a²/(2 + a... ) = 1/3 (textbook: P(wait) = ρ²·2/(1+ρ) with ρ = 0.5).
    assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
    // Published table value: c = 10, a = 8 → C ≈ 0.409.
    assert!((erlang_c(10, 8.0) - 0.409).abs() < 1e-3);
}

// ---- M/M/c and M/M/1 -------------------------------------------------------------------

/// One step on `c` identical machines, Poisson arrivals at `lambda` per hour, exponential
/// service with mean `1/mu` hours.
fn mmc_scenario(c: u32, lambda: f64, mu: f64, seed: u64, reps: u32) -> String {
    Scenario::new(&format!("M/M/{c}"), 420, 20, reps, seed)
        .machine_queue(c, 1.0 / mu, lambda * 168.0)
        .text()
}

/// Asserts the mean wait before `serve` (`wq` hours, to 5 %) and the machines' utilisation
/// (`rho`, to 2 %) of the M/M/c `queue`.
fn assert_wait_and_utilisation(r: &Results, queue: &str, wq: f64, rho: f64) {
    let wait = ds(&step(r, "serve").wait_hours);
    assert_in_ci(&format!("{queue} mean wait (h)"), wait, wq, 0.05);
    let utilisation = resource(r, "machine").utilisation;
    assert_in_ci(&format!("{queue} utilisation"), utilisation, rho, 0.02);
}

#[test]
fn mmc_wait_matches_erlang_c() {
    let (c, mu) = (3, 1.0);
    let lambda = 0.75 * f64::from(c) * mu; // ρ = 0.75
    let r = run(&load(&mmc_scenario(c, lambda, mu, 11, 30)));
    let wq = mmc_wq(c, lambda, mu);
    // Utilisation = ρ, throughput = λ.
    assert_wait_and_utilisation(&r, "M/M/3", wq, 0.75);
    assert_in_ci(
        "M/M/3 throughput per year",
        r.throughput_per_year,
        lambda * 24.0 * 365.0,
        0.01,
    );
    // Sojourn = Wq + 1/μ.
    assert_in_ci(
        "M/M/3 sojourn (days)",
        ds(&r.vein_to_vein_days),
        (wq + 1.0 / mu) / 24.0,
        0.03,
    );
}

#[test]
fn mm1_wait_matches_formula() {
    let (lambda, mu) = (0.7, 1.0); // ρ = 0.7
    let r = run(&load(&mmc_scenario(1, lambda, mu, 12, 40)));
    let rho: f64 = lambda / mu;
    let wq = rho / (mu - lambda);
    // Erlang C with one server must reduce to the M/M/1 formula.
    assert!((mmc_wq(1, lambda, mu) - wq).abs() < 1e-12);
    assert_wait_and_utilisation(&r, "M/M/1", wq, rho);
}

// ---- Jackson tandem ----------------------------------------------------------------------

/// The stations `(name, servers, mean service hours)` in series, each on its own equipment
/// pool `m-<name>`, with Poisson arrivals at `lambda` an hour.
fn jackson(lambda: f64, stations: &[(&str, u32, f64)]) -> String {
    let mut s = Scenario::new("Jackson tandem", 300, 20, 30, 7);
    for (name, c, _) in stations {
        s = s.equipment(&format!("m-{name}"), c);
    }
    s = s.product("job");
    for (name, _, mean) in stations {
        s = s
            .step(name, exponential(mean, "hours"))
            .uses("equipment", &format!("m-{name}"));
    }
    s.demand("job", &format!("patients_per_week = {}", lambda * 168.0), 1)
        .text()
}

#[test]
fn tandem_line_matches_jackson_product_form() {
    // Three stations in series: M/M/1 (ρ 0.5), M/M/2 (ρ 0.7), M/M/1 (ρ 0.6); λ = 1 per hour.
    let lambda = 1.0;
    let stations: [(&str, u32, f64); 3] = [("a", 1, 0.5), ("b", 2, 1.4), ("c", 1, 0.6)];
    let r = run(&load(&jackson(lambda, &stations)));
    let mut sojourn = 0.0;
    for (name, c, mean) in stations {
        let mu = 1.0 / mean;
        let wq = mmc_wq(c, lambda, mu);
        // Product form: an M/M/1 station contributes 1/(μ − λ); an M/M/c one Wq + 1/μ.
        sojourn += if c == 1 {
            1.0 / (mu - lambda)
        } else {
            wq + mean
        };
        assert_in_ci(
            &format!("station {name} wait (h)"),
            ds(&step(&r, name).wait_hours),
            wq,
            0.06,
        );
        assert_in_ci(
            &format!("station {name} utilisation"),
            resource(&r, &format!("m-{name}")).utilisation,
            lambda * mean / f64::from(c),
            0.02,
        );
    }
    assert_in_ci(
        "tandem sojourn (days)",
        ds(&r.vein_to_vein_days),
        sojourn / 24.0,
        0.04,
    );
}

// ---- deterministic line ------------------------------------------------------------------

fn deterministic() -> String {
    Scenario::new("deterministic line", 5, 0, 2, 1)
        .equipment("m1", 1)
        .equipment("m2", 1)
        .area("room", "C", 1)
        .product("p")
        .step("a", fixed(10, "hours"))
        .uses("equipment", "m1")
        .set("cleaning_hours", 2)
        .set("transfer_hours", 1)
        .step("b", fixed(20, "hours"))
        .set("uses", r#"[{ equipment = "m2" }, { area = "room" }]"#)
        .set("cleaning_hours", 1)
        .step("qc", fixed(1, "days"))
        .demand("p", "apheresis_days = [0, 0.25, 2]", 2.5)
        .text()
}

#[test]
fn deterministic_line_gives_hand_computed_times() {
    // Timeline, hours (m1: 10 h + 2 h cleaning; transfer 1 h; m2 + room: 20 h + 1 h cleaning;
    // qc: 24 h, no resource):
    //   P1 arrives 0:  a 0–10 (m1 clean to 12), ready for b at 11, b 11–31 (clean to 32),
    //                  qc 31–55.                                         vein-to-vein 55
    //   P2 arrives 6:  waits for m1 until 12 (6 h), a 12–22 (clean to 24), ready 23,
    //                  m2 busy until 32 → waits 9 h, b 32–52 (clean to 53), qc 52–76.  → 70
    //   P3 arrives 48: a 48–58 (clean to 60), ready 59, b 59–79 (clean to 80), qc 79–103. → 55
    let (r, obs) = observed(&load(&deterministic()), 0);
    let v2v = [55.0, 70.0, 55.0];
    close(
        "mean vein-to-vein (days)",
        r.vein_to_vein_days.mean,
        v2v.iter().sum::<f64>() / 3.0 / 24.0,
    );
    assert_eq!(r.vein_to_vein_days.ci95[0], r.vein_to_vein_days.ci95[1]);
    assert_eq!(obs.len(), r.per_replication.len());
    for (rep, obs) in r.per_replication.iter().zip(&obs) {
        let days: Vec<f64> = v2v.iter().map(|h| h / 24.0).collect();
        assert_eq!(rep.treated, 3);
        let got: Vec<f64> = obs
            .iter()
            .filter(|o| matches!(o.what, Observed::VeinToVein { .. }))
            .map(|o| o.value)
            .collect();
        assert_eq!(got.len(), 3);
        for (got, want) in got.iter().zip(&days) {
            close("vein-to-vein of one patient", *got, *want);
        }
        close(
            "mean vein-to-vein of a replication",
            rep.vein_to_vein_mean_days.unwrap_or(f64::NAN),
            days.iter().sum::<f64>() / 3.0,
        );
        // Waits before b: P1 0, P2 9, P3 0 (flat step 1).
        let waits_b: Vec<f64> = obs
            .iter()
            .filter(|o| o.what == Observed::Wait { step: 1 })
            .map(|o| o.value)
            .collect();
        assert_eq!(waits_b, vec![0.0, 9.0, 0.0]);
        assert_eq!(rep.waits[1], 3);
        close("mean wait before b", rep.wait_mean_h[1], 3.0);
        assert_eq!(rep.patients, 3);
        assert_eq!(rep.lost, 0);
        assert_eq!(rep.unfinished, 0);
        // Target 2.5 days = 60 h: P2 (70 h) is late.
        assert_eq!(rep.on_time, 2);
    }
    close("wait before a", step(&r, "a").wait_hours.mean, 2.0);
    close("wait before b", step(&r, "b").wait_hours.mean, 3.0);
    close("wait before qc", step(&r, "qc").wait_hours.mean, 0.0);
    // Pooled over both replications the waits before b are [0, 0, 0, 0, 9, 9].
    close("p90 wait before b", step(&r, "b").wait_hours.p90, 9.0);
    close("median wait before b", step(&r, "b").wait_hours.p50, 0.0);
    // Utilisation over the 120 h window, cleaning counted as occupied.
    close(
        "m1 utilisation",
        resource(&r, "m1").utilisation.mean,
        36.0 / 120.0,
    );
    close(
        "m2 utilisation",
        resource(&r, "m2").utilisation.mean,
        63.0 / 120.0,
    );
    close(
        "room utilisation",
        resource(&r, "room").utilisation.mean,
        63.0 / 120.0,
    );
    // All three released inside the window (at 55, 76, 103 h).
    close(
        "throughput per year",
        r.throughput_per_year.mean,
        3.0 / (120.0 / (24.0 * 365.0)),
    );
    close("on-time fraction", r.on_time_fraction.mean, 2.0 / 3.0);
    close("wip", r.wip.mean, (55.0 + 70.0 + 55.0) / 120.0);
}

/// The plant `s` (with an equipment pool `m`) making product `p` in one step `(name,
/// duration)` on a unit of `m`, for patients arriving as `arrivals`, due `target_days` later.
fn one_step_on_m(
    s: Scenario,
    (name, duration): (&str, String),
    arrivals: &str,
    target_days: u32,
) -> String {
    s.product("p")
        .step(name, duration)
        .uses("equipment", "m")
        .demand("p", arrivals, target_days)
        .text()
}

/// One machine, a 250-day step, two patients a day apart: the second is still waiting or
/// processing when the run is cut off one year after the 2-day horizon.
fn overloaded() -> String {
    one_step_on_m(
        Scenario::new("plant that cannot keep up", 2, 0, 2, 1).equipment("m", 1),
        ("a", fixed(250, "days")),
        "apheresis_days = [0, 1]",
        300,
    )
}

#[test]
fn unfinished_patients_count_as_lower_bounds_of_vein_to_vein_time() {
    let (r, obs) = observed(&load(&overloaded()), 0);
    // P1: 0-250 days, released. P2: waits until day 250, would finish on day 500, but the
    // run is cut off at 2 + 365 days; it counts with its age then, 366 days.
    for (rep, obs) in r.per_replication.iter().zip(&obs) {
        assert_eq!(rep.treated, 1);
        assert_eq!(rep.vein_to_vein_mean_days, Some(250.0));
        assert_eq!(rep.unfinished, 1);
        close(
            "age at cut-off",
            rep.unfinished_age_mean_days.unwrap_or(f64::NAN),
            366.0,
        );
        let v2v: Vec<(f64, Observed)> = obs
            .iter()
            .filter(|o| matches!(o.what, Observed::VeinToVein { .. }))
            .map(|o| (o.value, o.what))
            .collect();
        assert_eq!(
            v2v,
            vec![
                (250.0, Observed::VeinToVein { censored: false }),
                (366.0, Observed::VeinToVein { censored: true })
            ]
        );
    }
    let v = &r.vein_to_vein_days;
    assert_eq!(v.n, 4);
    assert_eq!(v.censored, 2);
    close("mean vein-to-vein", v.mean, (250.0 + 366.0) / 2.0);
    close("p95 vein-to-vein", v.p95, 366.0);
    // The treated patient was on time; the censored one does not count as treated.
    close("on-time fraction", r.on_time_fraction.mean, 1.0);
}

// ---- shelf life --------------------------------------------------------------------------

fn shelf_scenario(on_violation: &str) -> String {
    Scenario::new("shelf life", 10, 0, 2, 3)
        .equipment("m1", 1)
        .equipment("m2", 1)
        .product("p")
        .set("remanufacture_from", q("a"))
        .set("max_remanufactures", 0)
        .step("a", fixed(10, "hours"))
        .uses("equipment", "m1")
        .set("max_hold_hours", 5)
        .set("on_hold_violation", q(on_violation))
        .step("b", fixed(20, "hours"))
        .uses("equipment", "m2")
        .demand("p", &format!("apheresis_days = [0, {}, 4]", 1.0 / 24.0), 5)
        .text()
}

#[test]
fn shelf_life_violation_loses_the_patient() {
    // P1: a 0–10, b 10–30. P2 (arrives 1 h): a 10–20, then must start b by 25 but m2 is busy
    // until 30 → violation at 25, patient lost. P3 (day 4 = 96 h): a 96–106, b 106–126.
    let r = run(&load(&shelf_scenario("lost")));
    close("hold violations before b", hold_violations(&r, "b"), 1.0);
    close("hold violations before a", hold_violations(&r, "a"), 0.0);
    close("patients lost", r.patients_lost.mean, 1.0);
    assert_eq!(r.losses.len(), 1, "{:?}", r.losses);
    assert_eq!(r.losses[0].cause, "shelf life exceeded after a");
    close("losses of that cause", r.losses[0].count.mean, 1.0);
    close("mean vein-to-vein", r.vein_to_vein_days.mean, 30.0 / 24.0);
    // The lost batch never started b, so b saw two starts with no wait.
    close("wait before b", step(&r, "b").wait_hours.mean, 0.0);
    close(
        "m2 utilisation",
        resource(&r, "m2").utilisation.mean,
        40.0 / 240.0,
    );
}

#[test]
fn shelf_life_violation_with_no_material_left_is_a_loss_of_that_cause() {
    let r = run(&load(&shelf_scenario("remanufacture")));
    close("patients lost", r.patients_lost.mean, 1.0);
    assert_eq!(r.losses.len(), 1, "{:?}", r.losses);
    assert_eq!(
        r.losses[0].cause,
        "shelf life exceeded after a; no starting material left"
    );
}

#[test]
fn shelf_life_violation_with_repeat_makes_the_intermediate_again() {
    // P2 violates at 25 and goes back to a: m1 is free since 20, a 25–35, ready for b at 35,
    // m2 free since 30 → b 35–55. Vein-to-vein 54 h. P1 30 h, P3 30 h.
    let r = run(&load(&shelf_scenario("repeat")));
    close("hold violations before b", hold_violations(&r, "b"), 1.0);
    close("patients lost", r.patients_lost.mean, 0.0);
    assert!(r.losses.is_empty());
    close(
        "mean vein-to-vein",
        r.vein_to_vein_days.mean,
        (30.0 + 54.0 + 30.0) / 3.0 / 24.0,
    );
    // Waits before a: P1 0, P2 9 (1 → 10), P2 again 0, P3 0.
    close("wait before a", step(&r, "a").wait_hours.mean, 9.0 / 4.0);
    close(
        "m1 utilisation",
        resource(&r, "m1").utilisation.mean,
        40.0 / 240.0,
    );
    for rep in &r.per_replication {
        close("rework per year", rep.reworked_per_year, 1.0 / rep.years);
    }
}

// ---- determinism -------------------------------------------------------------------------

#[test]
fn same_seed_same_results_on_any_thread_count() {
    let m = load(&mmc_scenario(2, 1.4, 1.0, 99, 6));
    let one = run_with(&m, 1, None);
    let two = run_with(&m, 2, None);
    let json = |r: &Results| match serde_json::to_string(r) {
        Ok(s) => s,
        Err(e) => panic!("results do not serialise: {e}"),
    };
    assert_eq!(json(&one), json(&two));
    let other = run_with(&m, 2, Some(100));
    assert_ne!(json(&one), json(&other));
    assert_ne!(one.vein_to_vein_days.mean, other.vein_to_vein_days.mean);
    assert_ne!(
        one.per_replication[0].vein_to_vein_mean_days,
        other.per_replication[0].vein_to_vein_mean_days
    );
    // One replication alone equals the same replication inside a run.
    let rep = sim::replicate(&m, 3, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rep, one.per_replication[3]);
}

// ---- failures and rework ---------------------------------------------------------------

fn failure_scenario(p: f64, consequence: &str, max_reman: u32, reps: u32) -> String {
    Scenario::new("failures", 200, 5, reps, 5)
        .product("p")
        .set("remanufacture_from", q("make"))
        .set("max_remanufactures", max_reman)
        .step("make", fixed(0.01, "hours"))
        .set(
            "failure",
            format!("{{ probability = {p}, consequence = {} }}", q(consequence)),
        )
        .demand("p", "patients_per_week = 400", 1)
        .text()
}

#[test]
fn repeat_gives_geometric_number_of_starts() {
    let p = 0.3;
    let r = run(&load(&failure_scenario(p, "repeat", 0, 20)));
    // Starts per released batch, per replication.
    let ratios: Vec<f64> = r
        .per_replication
        .iter()
        .map(|x| x.starts_per_year[0] / x.released_per_year)
        .collect();
    assert_in_ci(
        "starts per released batch",
        sim::mean_ci(&ratios),
        1.0 / (1.0 - p),
        0.01,
    );
    let fail_share: Vec<f64> = r
        .per_replication
        .iter()
        .map(|x| x.failures_per_year[0] / x.starts_per_year[0])
        .collect();
    assert_in_ci("failures per start", sim::mean_ci(&fail_share), p, 0.03);
    close("no patient lost", r.patients_lost.mean, 0.0);
}

#[test]
fn remanufacture_without_material_loses_the_failed_fraction() {
    let p = 0.2;
    let r = run(&load(&failure_scenario(p, "remanufacture", 0, 20)));
    assert_in_ci("lost fraction", r.patients_lost_fraction, p, 0.03);
    assert_eq!(r.losses.len(), 1);
    assert_eq!(
        r.losses[0].cause,
        "failure at make; no starting material left"
    );
    // With one back-up, a patient is lost only when both runs fail.
    let r = run(&load(&failure_scenario(p, "remanufacture", 1, 20)));
    assert_in_ci(
        "lost fraction with one back-up",
        r.patients_lost_fraction,
        p * p,
        0.06,
    );
}

// ---- breakdowns --------------------------------------------------------------------------

/// Equipment that fails after exponential up times with mean `mtbf` hours and is repaired in
/// exactly `repair` hours; `on_failure` says what becomes of the step it was serving.
fn breakdowns(mtbf: f64, repair: f64, on_failure: &str) -> String {
    format!(
        "{{ mtbf_hours = {mtbf}, repair = {}, on_failure = {} }}",
        fixed(repair, "hours"),
        q(on_failure)
    )
}

/// One batch at time 0 on a single machine that fails after exponential up times (mean
/// `mtbf`) and is repaired in a fixed `repair` time; the step takes a fixed `d` hours.
fn breakdown_scenario(on_failure: &str, d: f64, mtbf: f64, repair: f64, reps: u32) -> String {
    one_step_on_m(
        Scenario::new("breakdowns", 1, 0, reps, 17)
            .equipment("m", 1)
            .set("failures", breakdowns(mtbf, repair, on_failure)),
        ("work", fixed(d, "hours")),
        "apheresis_days = [0]",
        1,
    )
}

#[test]
fn breakdown_with_resume_matches_preemptive_resume_formula() {
    // Preemptive resume: the work is never lost; each failure during the D hours of work
    // (Poisson, mean D/MTBF) adds one repair: E[T] = D (1 + R / MTBF).
    let (d, mtbf, repair) = (10.0, 20.0, 5.0);
    let r = run(&load(&breakdown_scenario(
        "transfer", d, mtbf, repair, 1000,
    )));
    let expected_h = d * (1.0 + repair / mtbf);
    assert_in_ci(
        "completion time, preemptive resume (days)",
        ds(&r.vein_to_vein_days),
        expected_h / 24.0,
        0.05,
    );
}

#[test]
fn breakdown_that_spoils_the_step_matches_preemptive_repeat_formula() {
    // Preemptive repeat: a failure loses the work; with failure rate f = 1/MTBF,
    // E[T] = (e^{fD} − 1)(1/f + R).
    let (d, mtbf, repair) = (10.0, 20.0, 5.0);
    let r = run(&load(&breakdown_scenario(
        "fail_step",
        d,
        mtbf,
        repair,
        1000,
    )));
    let f: f64 = 1.0 / mtbf;
    let expected_h = ((f * d).exp() - 1.0) * (1.0 / f + repair);
    assert_in_ci(
        "completion time, preemptive repeat (days)",
        ds(&r.vein_to_vein_days),
        expected_h / 24.0,
        0.06,
    );
}

/// `c` units of `m`, each failing after exponential up times (mean `mtbf` hours) and
/// repaired in `repair` hours, serving exponential 2-hour steps at a moderate load.
fn breakdown_rate(c: u32, mtbf: f64, repair: f64) -> String {
    one_step_on_m(
        Scenario::new("breakdown rate", 740, 10, 30, 23)
            .equipment("m", c)
            .set("failures", breakdowns(mtbf, repair, "transfer")),
        ("work", exponential(2, "hours")),
        "patients_per_week = 84",
        1,
    )
}

#[test]
fn breakdown_rate_matches_alternating_renewal() {
    // Each of c units alternates exponential up times (mean MTBF) and fixed repairs: in the
    // long run c / (MTBF + R) failures per hour, whatever the load.
    let (c, mtbf, repair) = (4u32, 100.0, 25.0);
    let r = run(&load(&breakdown_rate(c, mtbf, repair)));
    assert_in_ci(
        "breakdowns per year",
        resource(&r, "m").breakdowns_per_year,
        f64::from(c) * 24.0 * 365.0 / (mtbf + repair),
        0.02,
    );
}
