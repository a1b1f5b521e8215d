//! The check by simulation: every open site simulated with its allocated patients, the
//! network pooled, and the tighten-and-resolve rule applied to sites that miss the target.

use std::sync::atomic::AtomicBool;

use model::{Scenario, SourceFile};
use network::check::{CheckOptions, check};
use network::solve::SolveOptions;
use network::{Network, solve};

fn concept() -> Scenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/concept-1-all-in-one.toml");
    let text = std::fs::read_to_string(&path).expect("concept-1 example");
    SourceFile::new(path.display().to_string(), text)
        .parse()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// One centre of 40 patients a year and two all-in-one sites: A cheap, B dearer. The file
/// declares a lead time of 14 days, shorter than the concept's process with its QC release,
/// so with a tight limit the optimiser's plan misses it in simulation.
fn network(limit: f64) -> Network {
    let text = format!(
        r#"[network]
name = "check test"

[[product]]
name = "car-t"
max_vein_to_vein_days = {limit}

[[region]]
name = "R"
patients_per_year = {{ car-t = 40 }}

[[site]]
name = "A"
concept = "concept-1.toml"
fixed_cost_per_year = 0
capacity_patients_per_year = 60
variable_cost_per_patient = 10
lead_time_days = 14

[[site]]
name = "B"
concept = "concept-1.toml"
fixed_cost_per_year = 0
capacity_patients_per_year = 60
variable_cost_per_patient = 20
lead_time_days = 14

[[link]]
region = "R"
site = "A"
days = 1
cost_per_patient = 0

[[link]]
region = "R"
site = "B"
days = 1
cost_per_patient = 0

[check]
replications = 2
seed = 5
horizon_days = 240
min_on_time = 0.9
tighten_factor = 0.5
max_rounds = 3
"#
    );
    network::load(&SourceFile::new("check.toml", text)).unwrap_or_else(|e| panic!("{e}"))
}

fn run(net: &Network) -> network::CheckReport {
    let plan = solve(net, &SolveOptions::default()).expect("a plan");
    let concepts = [Some(concept()), Some(concept())];
    let never = AtomicBool::new(false);
    check(
        net,
        &plan,
        &concepts,
        &CheckOptions {
            replications: None,
            threads: 1,
        },
        &|_, _, _| {},
        &never,
    )
    .expect("check runs")
}

#[test]
fn a_plan_that_meets_its_limit_passes_in_one_round() {
    let r = run(&network(90.0));
    assert!(r.passed, "{}", r.ended);
    assert_eq!(r.rounds.len(), 1);
    let round = &r.rounds[0];
    // All 40 patients at the cheap site A; only A is simulated.
    assert_eq!(round.sites.len(), 1);
    let a = &round.sites[0];
    assert_eq!(a.name, "A");
    assert!((a.patients_per_year - 40.0).abs() < 1e-9);
    assert!((a.planned_v2v_days - 15.0).abs() < 1e-9);
    // The simulation sees the real process (13 days on the device, QC release, transport),
    // longer than the file's optimistic 14-day lead time.
    assert!(a.v2v_days.mean > a.planned_v2v_days, "{a:?}");
    assert!(a.on_time.mean >= 0.9);
    assert!(round.tightened.is_empty());
    assert!(round.network.v2v_days.mean > 0.0);
    assert_eq!(r.replications, 2);
}

#[test]
fn a_site_missing_the_limit_is_tightened_and_the_network_solved_again() {
    // 16 days: the plan (14 + 1 = 15) is within it, the simulated process is not.
    let r = run(&network(16.0));
    assert!(!r.passed);
    let first = &r.rounds[0];
    let a = first
        .sites
        .iter()
        .find(|s| s.name == "A")
        .expect("A simulated");
    assert!(!a.passes && a.on_time.mean < 0.9, "{a:?}");
    // The rule: a failing site gets tighten_factor × its allocated patients per year.
    let t = first
        .tightened
        .iter()
        .find(|t| t.site == "A")
        .expect("A tightened");
    assert!((t.from - 60.0).abs() < 1e-9);
    assert!((t.to - 0.5 * 40.0).abs() < 1e-9, "{t:?}");
    // Round 2 is the network solved again with A at 20: B takes the other 20.
    let second = &r.rounds[1];
    let pa = &second.plan.sites[0];
    let pb = &second.plan.sites[1];
    assert!((pa.capacity - 20.0).abs() < 1e-9);
    assert!((pa.patients - 20.0).abs() < 1e-6, "{pa:?}");
    assert!((pb.patients - 20.0).abs() < 1e-6, "{pb:?}");
    assert_eq!(second.sites.len(), 2);
    // The loop says why it ended, and the rule is stated.
    assert!(!r.ended.is_empty());
    assert!(
        r.rule
            .contains("0.5 × the patients per year allocated to it"),
        "{}",
        r.rule
    );
    assert!(r.rounds.len() <= 3);
}
