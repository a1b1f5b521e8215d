//! The controller of `pat::mpc` in closed loop on the nominal expansion model with the exact
//! state as measurement, timed per control step: the atmpflow side of
//! `benches/mpc_vs_dompc.sh`, which runs the same problem in do-mpc.
//!
//!     cargo run --release -p pat --example mpc_closed_loop -- [DAYS] > rust.json
//!
//! Prints JSON: the model parameters and controller settings (which the do-mpc script reads,
//! so both solve the same problem), then per control step the day, state, rate, SQP
//! iterations and solve time, then the final viable cells and medium used.

use std::time::Instant;

use pat::expansion::{self, Initial, Params};
use pat::mpc::{self, Settings};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let days: f64 = match std::env::args().nth(1) {
        Some(a) => a.parse().map_err(|e| format!("DAYS `{a}`: {e}"))?,
        None => 6.0,
    };
    // The lag phase ends on a control time (1 day, inside the cited 20–24 h), so a model
    // with a piecewise-constant lag factor per step (do-mpc's time-varying parameter) is exact.
    let p = Params {
        lag_days: 1.0,
        ..Params::default()
    };
    let s = Settings::default();
    let steps = (days / s.step_days).round() as usize;
    let mut x = Initial::default().state();
    let mut u_prev = 0.0;
    let mut warm: Option<Vec<f64>> = None;
    let mut rows = Vec::new();
    for k in 0..steps {
        let t = k as f64 * s.step_days;
        let start = Instant::now();
        let plan = mpc::solve(&p, &s, t, &x, u_prev, warm.as_deref())?;
        let seconds = start.elapsed().as_secs_f64();
        let u = plan.perfusion[0];
        let mut next = plan.perfusion[1..].to_vec();
        next.push(*plan.perfusion.last().unwrap_or(&0.0));
        warm = Some(next);
        rows.push(serde_json::json!({
            "day": t, "state": x.as_slice(), "perfusion": u,
            "iterations": plan.iterations, "seconds": seconds, "objective": plan.objective,
        }));
        x = expansion::step(&p, t, &x, u, s.step_days)?;
        u_prev = u;
    }
    let out = serde_json::json!({
        "tool": "atmpflow pat::mpc (SQP with clarabel, Dormand-Prince prediction)",
        "params": p, "settings": s, "initial": Initial::default().state().as_slice(),
        "days": days, "steps": rows,
        "final_state": x.as_slice(),
        "final_viable_cells_1e6": x[0] * p.volume_ml, "medium_volumes": x[4],
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
