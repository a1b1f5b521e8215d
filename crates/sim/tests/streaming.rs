//! Statistics in constant memory: pooled percentiles from sketches against the exact pooled
//! values, per-replication summaries against the raw observations, and cancelled runs that
//! equal shorter complete runs.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use common::{load, observed};
use model::Model;
use sim::{Observed, Results, RunOptions};
use testkit::scenarios::Scenario;

/// M/M/1 at ρ = 0.8 with about 1,000 patients per replication (the waits of 30 replications
/// do not fit the exact buffer of the sketch).
fn mm1() -> Model {
    load(
        &Scenario::new("M/M/1 streaming", 42, 2, 30, 8)
            .machine_queue(1, 1.0, 134.4)
            .text(),
    )
}

/// Who stopped the run `r` (`observer` or `sink`), in which replication and why; any other
/// outcome fails the test.
fn stopped(r: Result<Results, sim::SimError>) -> (&'static str, u32, String) {
    match r {
        Err(sim::SimError::Observer {
            replication,
            reason,
        }) => ("observer", replication, reason),
        Err(sim::SimError::ReplicationSink {
            replication,
            reason,
        }) => ("sink", replication, reason),
        other => panic!("expected an observer's or a replication sink's error, got {other:?}"),
    }
}

fn exact_percentile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    sim::percentile(&v, q)
}

#[test]
fn pooled_percentiles_are_within_the_stated_error_of_the_exact_ones() {
    let (r, obs) = observed(&mm1(), 2);
    let waits: Vec<f64> = obs
        .iter()
        .flatten()
        .filter(|o| o.what == Observed::Wait { step: 0 })
        .map(|o| o.value)
        .collect();
    assert!(
        waits.len() > sim::EXACT_CAP,
        "only {} waits: the sketch would still be exact",
        waits.len()
    );
    let w = &r.steps[0].wait_hours;
    assert_eq!(w.n, waits.len() as u64);
    for (q, got) in [(0.5, w.p50), (0.9, w.p90), (0.95, w.p95)] {
        let want = exact_percentile(waits.clone(), q);
        assert!(
            (got - want).abs() <= sim::RELATIVE_ERROR * want + sim::ZERO_BELOW,
            "p{}: sketch {got}, exact {want}",
            q * 100.0
        );
    }
    // The mean of replication means is exact.
    let means: Vec<f64> = obs
        .iter()
        .map(|rep| {
            let v: Vec<f64> = rep
                .iter()
                .filter(|o| o.what == Observed::Wait { step: 0 })
                .map(|o| o.value)
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        })
        .collect();
    let want = sim::mean_ci(&means);
    assert!((w.mean - want.mean).abs() <= 1e-12 * want.mean);
    assert!((w.ci95[1] - want.ci95[1]).abs() <= 1e-9 * want.ci95[1]);
    assert_eq!(w.histogram.counts.iter().sum::<u64>(), w.n);
    assert!(r.percentiles.contains("0.5 %"), "{}", r.percentiles);
    // Every replication's summary agrees with its observations.
    for (rep, o) in r.per_replication.iter().zip(&obs) {
        let v2v: Vec<f64> = o
            .iter()
            .filter(|o| o.what == Observed::VeinToVein { censored: false })
            .map(|o| o.value)
            .collect();
        assert_eq!(rep.treated as usize, v2v.len());
        let mean = v2v.iter().sum::<f64>() / v2v.len() as f64;
        assert!((rep.vein_to_vein_mean_days.unwrap_or(f64::NAN) - mean).abs() <= 1e-12 * mean);
    }
}

#[test]
fn dropping_the_replications_changes_no_statistic() {
    let m = mm1();
    let never = AtomicBool::new(false);
    let run = |drop_replications| {
        let opts = RunOptions {
            replications: Some(6),
            drop_replications,
            ..RunOptions::default()
        };
        match sim::run(&m, &opts, &|_| {}, &never) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    };
    let (mut kept, dropped) = (run(false), run(true));
    assert_eq!(kept.per_replication.len(), 6);
    assert!(dropped.per_replication.is_empty());
    kept.per_replication.clear();
    assert_eq!(kept, dropped);
}

fn json(r: &Results) -> String {
    serde_json::to_string(r).unwrap_or_else(|e| panic!("results do not serialise: {e}"))
}

#[test]
fn a_cancelled_run_keeps_a_prefix_and_equals_the_shorter_run() {
    let m = mm1();
    for threads in [1, 2] {
        let cancel = AtomicBool::new(false);
        let opts = RunOptions {
            replications: Some(1000),
            threads,
            ..RunOptions::default()
        };
        // Cancel once five replications are combined; those already started still finish.
        let progress = |n: u32| {
            if n >= 5 {
                cancel.store(true, Ordering::SeqCst);
            }
        };
        let mut cut = match sim::run(&m, &opts, &progress, &cancel) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        let k = cut.replications;
        assert!(cut.cancelled);
        assert_eq!(cut.replications_requested, 1000);
        // Replications started before the flag was seen finish too (how many depends on the
        // machine's load), but never more than were asked for.
        assert!((5..1000).contains(&k), "kept {k}");
        let idx: Vec<u32> = cut.per_replication.iter().map(|x| x.index).collect();
        assert_eq!(idx, (0..k).collect::<Vec<_>>());
        let short = {
            let opts = RunOptions {
                replications: Some(k),
                threads: 1,
                ..RunOptions::default()
            };
            match sim::run(&m, &opts, &|_| {}, &AtomicBool::new(false)) {
                Ok(r) => r,
                Err(e) => panic!("{e}"),
            }
        };
        cut.cancelled = false;
        cut.replications_requested = k;
        assert_eq!(json(&cut), json(&short));
    }
}

#[test]
fn an_observer_error_stops_the_run_with_its_replication() {
    let m = mm1();
    let mut sink = |r: u32, _: &[sim::Observation]| {
        if r == 3 {
            Err("disk full".to_string())
        } else {
            Ok(())
        }
    };
    let opts = RunOptions {
        threads: 2,
        ..RunOptions::default()
    };
    let r = sim::run_observed(&m, &opts, &|_| {}, &AtomicBool::new(false), &mut sink);
    assert_eq!(stopped(r), ("observer", 3, "disk full".to_string()));
}

/// The summaries passed to a replication sink are those a run keeps, in replication order on
/// two threads, and the run that streams them holds none.
#[test]
fn a_replication_sink_gets_the_kept_summaries_in_order() {
    let m = mm1();
    let never = AtomicBool::new(false);
    let opts = |drop_replications| RunOptions {
        replications: Some(9),
        threads: 2,
        drop_replications,
        ..RunOptions::default()
    };
    let kept = match sim::run(&m, &opts(false), &|_| {}, &never) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let mut got = Vec::new();
    let mut sink = |x: &sim::Replication| {
        got.push(x.clone());
        Ok(())
    };
    let streamed = match sim::run_streamed(&m, &opts(true), &|_| {}, &never, None, Some(&mut sink))
    {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert!(streamed.per_replication.is_empty());
    assert_eq!(got, kept.per_replication);
    let mut without = kept.clone();
    without.per_replication.clear();
    assert_eq!(without, streamed);
}

#[test]
fn a_replication_sink_error_stops_the_run_with_its_replication() {
    let m = mm1();
    let mut sink = |x: &sim::Replication| {
        if x.index == 4 {
            Err("no space".to_string())
        } else {
            Ok(())
        }
    };
    let opts = RunOptions {
        threads: 2,
        drop_replications: true,
        ..RunOptions::default()
    };
    let never = AtomicBool::new(false);
    let r = sim::run_streamed(&m, &opts, &|_| {}, &never, None, Some(&mut sink));
    assert_eq!(stopped(r), ("sink", 4, "no space".to_string()));
}
