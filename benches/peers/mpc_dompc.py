"""The expansion-feeding MPC of atmpflow (pat::mpc) posed in do-mpc, closed loop.

Reads the JSON printed by `crates/pat/examples/mpc_closed_loop.rs` (model parameters,
controller settings, initial state, number of days) so that both tools solve the same problem,
builds the same model and controller in do-mpc, runs the same closed loop (exact state as
measurement, the plant integrated by do-mpc's CVODES simulator) and prints its own JSON in the
same shape. With --compare it also prints the comparison with the atmpflow run and exits 1
when the final viable cells differ by more than 2 % or the medium used by more than 5 %.

The problem (see the module text of pat::mpc): states viable and dead cells, glucose, lactate,
medium used; input perfusion D (volumes/day, 0..perfusion_max); lag factor as a time-varying
parameter (1 after lag_days); objective sum_k D_k*dt (lterm) + smoothing*(D_k - D_{k-1})^2
(rterm) + penalty*(slack) for the soft constraints -G <= -glucose_min and L <= lactate_max
(do-mpc's soft set_nl_cons, checked at the start of each step). Discretisation: orthogonal
collocation, degree 3, 2 elements per step; NLP solver IPOPT (MUMPS).
"""

import argparse
import json
import sys
import time

import casadi as ca
import do_mpc
import numpy as np


def build(params, s):
    model = do_mpc.model.Model("continuous")
    xv = model.set_variable("_x", "xv")
    xd = model.set_variable("_x", "xd")
    g = model.set_variable("_x", "g")
    l = model.set_variable("_x", "l")
    m = model.set_variable("_x", "medium")
    d = model.set_variable("_u", "d")
    lag = model.set_variable("_tvp", "lag")
    p = params
    xv0, g0, l0 = ca.fmax(xv, 0), ca.fmax(g, 0), ca.fmax(l, 0)
    mu = (
        p["mu_max"] * lag * g0 / (p["k_glucose"] + g0) * p["k_lactate"] / (p["k_lactate"] + l0)
        * ca.fmax(1 - xv0 / p["x_max"], 0)
    )
    kd = p["death_basal"] + p["death_starving"] * p["k_glucose"] / (p["k_glucose"] + g0)
    uptake = p["q_glucose"] * xv0 * (
        (1 - p["maintenance"]) * mu / p["mu_max"] + p["maintenance"] * g0 / (p["k_glucose"] + g0)
    )
    model.set_rhs("xv", (mu - kd) * xv0)
    model.set_rhs("xd", kd * xv0 - p["lysis"] * ca.fmax(xd, 0))
    model.set_rhs("g", -uptake + d * (p["glucose_feed"] - g0))
    model.set_rhs("l", p["yield_lactate"] * uptake - d * l0)
    model.set_rhs("medium", d)
    model.setup()

    dt = s["step_days"]
    mpc = do_mpc.controller.MPC(model)
    mpc.settings.n_horizon = s["horizon"]
    mpc.settings.t_step = dt
    mpc.settings.state_discretization = "collocation"
    mpc.settings.collocation_deg = 3
    mpc.settings.collocation_ni = 2
    mpc.settings.store_full_solution = False
    mpc.settings.supress_ipopt_output()
    mpc.set_objective(lterm=d * dt, mterm=ca.DM(0))
    mpc.set_rterm(d=s["smoothing"])
    mpc.bounds["lower", "_u", "d"] = 0.0
    mpc.bounds["upper", "_u", "d"] = s["perfusion_max"]
    mpc.set_nl_cons("glucose", -g, ub=-s["glucose_min"], soft_constraint=True,
                    penalty_term_cons=s["penalty"])
    mpc.set_nl_cons("lactate", l, ub=s["lactate_max"], soft_constraint=True,
                    penalty_term_cons=s["penalty"])

    def lag_at(t):
        return p["lag_factor"] if t < p["lag_days"] - 1e-9 else 1.0

    tmpl = mpc.get_tvp_template()

    def tvp(t_now):
        for k in range(s["horizon"] + 1):
            tmpl["_tvp", k, "lag"] = lag_at(t_now + k * dt)
        return tmpl

    mpc.set_tvp_fun(tvp)
    mpc.setup()

    sim = do_mpc.simulator.Simulator(model)
    sim.set_param(t_step=dt, integration_tool="cvodes", abstol=1e-10, reltol=1e-10)
    stmpl = sim.get_tvp_template()

    def stvp(t_now):
        stmpl["lag"] = lag_at(t_now)
        return stmpl

    sim.set_tvp_fun(stvp)
    sim.setup()
    return mpc, sim


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rust_json")
    ap.add_argument("--compare", action="store_true")
    args = ap.parse_args()
    with open(args.rust_json) as f:
        rust = json.load(f)
    p, s = rust["params"], rust["settings"]
    start = time.perf_counter()
    mpc, sim = build(p, s)
    setup = time.perf_counter() - start
    x = np.array(rust["initial"], dtype=float).reshape(-1, 1)
    mpc.x0 = x
    sim.x0 = x
    mpc.u0 = np.zeros((1, 1))
    mpc.set_initial_guess()
    steps = []
    n = int(round(rust["days"] / s["step_days"]))
    for k in range(n):
        t0 = time.perf_counter()
        u = mpc.make_step(x)
        sec = time.perf_counter() - t0
        ok = mpc.solver_stats["success"]
        steps.append({"day": k * s["step_days"], "state": x.ravel().tolist(),
                      "perfusion": float(u[0, 0]), "seconds": sec, "success": bool(ok)})
        x = sim.make_step(u)
    out = {
        "tool": f"do-mpc {do_mpc.__version__}, CasADi {ca.__version__}, IPOPT (MUMPS)",
        "setup_seconds": setup, "steps": steps, "final_state": x.ravel().tolist(),
        "final_viable_cells_1e6": float(x[0, 0]) * p["volume_ml"],
        "medium_volumes": float(x[4, 0]),
    }
    if not args.compare:
        print(json.dumps(out, indent=1))
        return 0
    return compare(rust, out)


def compare(rust, peer):
    def median(v):
        return float(np.median(v))

    rs = [r["seconds"] for r in rust["steps"]]
    ps = [r["seconds"] for r in peer["steps"]]
    cells = (rust["final_viable_cells_1e6"], peer["final_viable_cells_1e6"])
    medium = (rust["medium_volumes"], peer["medium_volumes"])
    dc = abs(cells[0] - cells[1]) / abs(cells[1])
    dm = abs(medium[0] - medium[1]) / abs(medium[1])
    du = max(abs(a["perfusion"] - b["perfusion"]) for a, b in zip(rust["steps"], peer["steps"]))
    failed = sum(1 for r in peer["steps"] if not r["success"])
    print(f"closed loop, {rust['days']} days, {len(rs)} control steps of {rust['settings']['step_days']} d, horizon {rust['settings']['horizon']}")
    print(f"{'':28}{'atmpflow':>14}{'do-mpc':>14}{'difference':>12}")
    print(f"{'final viable cells (1e9)':28}{cells[0] / 1000:14.4f}{cells[1] / 1000:14.4f}{100 * dc:11.2f}%")
    print(f"{'medium used (volumes)':28}{medium[0]:14.4f}{medium[1]:14.4f}{100 * dm:11.2f}%")
    print(f"largest difference of an applied rate: {du:.4f} volumes/day; do-mpc steps not solved: {failed}")
    print(f"time per MPC step, median (mean): atmpflow {1e3 * median(rs):.2f} ms ({1e3 * sum(rs) / len(rs):.2f}), "
          f"do-mpc {1e3 * median(ps):.1f} ms ({1e3 * sum(ps) / len(ps):.1f}); "
          f"ratio of medians {median(ps) / median(rs):.0f}x; do-mpc setup {peer['setup_seconds']:.2f} s")
    print(f"atmpflow: {rust['tool']}; peer: {peer['tool']}")
    ok = dc <= 0.02 and dm <= 0.05 and failed == 0
    print("within 2 % (cells) and 5 % (medium):", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
