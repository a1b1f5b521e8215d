#!/usr/bin/env python3
"""OR-Tools CP-SAT peer for plant plans: the exact model of a plant problem as atmpflow's
planner states it (the `shop` member of the plan.json that `atmpflow schedule SCENARIO
--orders` writes; docs/scheduling.md, "The plant model").

Model: per operation a start variable with fixed duration; transfer times and hold limits
between consecutive operations; per need either `count` distinct units chosen by presence
literals (optional intervals of hold + cleaning; for blocking operations the interval runs to
the next operation's start + cleaning) under one no-overlap per unit, or `count` places /
operators of one chosen pool under that pool's cumulative; capacity that changes over time
(maintenance, shifts) as fixed intervals taking the missing capacity; fixed operations fixed.
The objective is the problem's: lexicographic criteria are combined as one weighted sum with
weights that keep the order (each level's weight exceeds the range of everything below it),
a weighted objective as written.

usage: cpsat_plant.py PLAN.json --time-limit S --threads T --json OUT [--seed N]
"""
import argparse
import json
import sys
import time

from ortools.sat.python import cp_model
import ortools


def fail(msg):
    sys.exit(f"cpsat_plant.py: {msg}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("plan")
    ap.add_argument("--time-limit", type=float, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    try:
        with open(a.plan) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{a.plan}: {e}")
    shop = doc.get("shop", doc)
    for k in ("resources", "products", "jobs", "goal"):
        if k not in shop:
            fail(f"{a.plan}: no '{k}' (expected a plan.json written by atmpflow schedule --orders)")
    res, prods, jobs = shop["resources"], shop["products"], shop["jobs"]
    fixed = {(f["job"], f["op"]): f for f in shop.get("fixed", [])}
    not_before = shop.get("not_before", 0)
    t0 = time.time()

    # horizon: the end of the staff calendars (nothing needing staff can run later), else a
    # sequential bound
    total = sum(o["duration"] + o["cleaning"] + o["min_lag"] for j in jobs for o in prods[j["product"]]["ops"])
    horizon = max([j["release"] for j in jobs] + [not_before]) + total
    for r in res:
        if r["capacity"] == 0 and r["segments"]:
            horizon = min(horizon, max(s["end"] for s in r["segments"])) if r["kind"] == "staff" else horizon
    horizon = max(horizon, max(j["release"] for j in jobs) + 1)

    m = cp_model.CpModel()
    start, end = {}, {}
    for j, b in enumerate(jobs):
        ops = prods[b["product"]]["ops"]
        for o, op in enumerate(ops):
            lo = b["release"] if o == 0 else 0
            lo = max(lo, not_before)
            if (j, o) in fixed:
                s = m.new_constant(fixed[(j, o)]["start"])
            else:
                s = m.new_int_var(lo, horizon, f"s{j}_{o}")
            start[j, o] = s
            end[j, o] = s + op["duration"]
        for o in range(1, len(ops)):
            p = ops[o - 1]
            m.add(start[j, o] >= end[j, o - 1] + p["min_lag"])
            if p.get("max_lag") is not None:
                m.add(start[j, o] <= end[j, o - 1] + p["max_lag"])

    # per resource: intervals and demands
    unit_iv = {r: [] for r in range(len(res))}
    pool_iv = {r: [] for r in range(len(res))}
    for j, b in enumerate(jobs):
        ops = prods[b["product"]]["ops"]
        for o, op in enumerate(ops):
            f = fixed.get((j, o))
            for ni, need in enumerate(op["needs"]):
                cands = need["candidates"]
                kind = res[cands[0]]["kind"]
                hold = op["duration"] if need.get("hold") is None else min(need["hold"], op["duration"])
                clean = 0 if kind == "staff" else op["cleaning"]
                blocks = op["blocking"] and kind != "staff" and (need.get("hold") is None or need["hold"] >= op["duration"])
                s = start[j, o]
                if blocks and o + 1 < len(ops):
                    e = start[j, o + 1] + clean
                else:
                    e = s + hold + clean
                chosen = {u["resource"] for u in f["uses"] if u["need"] == ni} if f else None
                lits = []
                for c in cands:
                    x = m.new_bool_var(f"x{j}_{o}_{ni}_{c}")
                    if chosen is not None:
                        m.add(x == (1 if c in chosen else 0))
                    size = m.new_int_var(0, horizon + 10**6, f"len{j}_{o}_{ni}_{c}")
                    iv = m.new_optional_interval_var(s, size, e, x, f"iv{j}_{o}_{ni}_{c}")
                    if kind == "unit":
                        unit_iv[c].append(iv)
                    else:
                        pool_iv[c].append((iv, need["count"]))
                    lits.append(x)
                if kind == "unit":
                    m.add(sum(lits) == need["count"])
                else:
                    m.add(sum(lits) == 1)

    # capacity over time: fixed intervals take the missing capacity
    for r, rr in enumerate(res):
        caps = [rr["capacity"]] + [s["capacity"] for s in rr["segments"]]
        cmax = max(caps)
        gaps = []  # (start, end, missing)
        t = 0
        for sgm in rr["segments"]:
            if sgm["start"] > t and cmax > rr["capacity"]:
                gaps.append((t, sgm["start"], cmax - rr["capacity"]))
            if cmax > sgm["capacity"]:
                gaps.append((sgm["start"], sgm["end"], cmax - sgm["capacity"]))
            t = max(t, sgm["end"])
        if cmax > rr["capacity"]:
            gaps.append((t, horizon + 10**6, cmax - rr["capacity"]))
        fixed_iv = [(m.new_fixed_size_interval_var(a0, b0 - a0, f"cap{r}_{a0}"), d) for a0, b0, d in gaps if b0 > a0]
        if rr["kind"] == "unit":
            ivs = unit_iv[r] + [iv for iv, _ in fixed_iv]
            if len(ivs) > 1:
                m.add_no_overlap(ivs)
        else:
            items = pool_iv[r] + fixed_iv
            if items and cmax > 0:
                m.add_cumulative([iv for iv, _ in items], [d for _, d in items], cmax)
            elif pool_iv[r]:
                m.add(m.new_constant(0) == 1)  # needed, but never any capacity

    # criteria
    comp = [end[j, len(prods[b["product"]]["ops"]) - 1] for j, b in enumerate(jobs)]
    cmax_v = m.new_int_var(0, horizon + 10**6, "makespan")
    m.add_max_equality(cmax_v, comp)
    tard = []
    for j, b in enumerate(jobs):
        tj = m.new_int_var(0, horizon + 10**6, f"t{j}")
        m.add(tj >= comp[j] - b["due"])
        tard.append(b["weight"] * tj)
    wt = sum(tard)
    flow = sum(comp[j] - b["release"] for j, b in enumerate(jobs))
    ub = {"makespan": horizon + 10**6,
          "weighted_tardiness": sum(b["weight"] for b in jobs) * (horizon + 10**6),
          "total_flow_time": len(jobs) * (horizon + 10**6)}
    expr = {"makespan": cmax_v, "weighted_tardiness": wt, "total_flow_time": flow}
    goal = shop["goal"]
    if goal["combine"] == "lexicographic":
        crit = goal["criteria"]
        weights, w = [], 1
        for c in reversed(crit):
            weights.append(w)
            w *= ub[c] + 1
        weights.reverse()
        if w >= 2**62:
            fail("lexicographic weights overflow; use fewer criteria")
        m.minimize(sum(wi * expr[c] for wi, c in zip(weights, crit)))
        primary_weight = weights[0]
    else:
        terms = goal["terms"]
        m.minimize(sum(round(wi * 1000) * expr[c] for c, wi in terms))
        crit, primary_weight = [c for c, _ in terms], 1000

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = a.time_limit
    solver.parameters.num_workers = a.threads
    solver.parameters.random_seed = a.seed
    st = solver.solve(m)
    secs = time.time() - t0
    out = {
        "solver": "cp-sat", "ortools": ortools.__version__, "threads": a.threads, "seed": a.seed,
        "time_limit": a.time_limit, "time_seconds": secs, "status": solver.status_name(st),
        "objective": goal, "orders": len(jobs),
        "operations": sum(len(prods[b["product"]]["ops"]) for b in jobs),
    }
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        out["values"] = {
            "makespan": solver.value(cmax_v),
            "weighted_tardiness": solver.value(wt),
            "total_flow_time": solver.value(flow),
        }
        out["proven_optimal"] = st == cp_model.OPTIMAL
        # bound on the primary criterion (exact when lexicographic: the weight of the
        # first level exceeds everything below it)
        out["primary"] = crit[0] if goal["combine"] == "lexicographic" else "weighted"
        out["primary_bound"] = int(solver.best_objective_bound // primary_weight)
        out["starts"] = [[solver.value(start[j, o]) for o in range(len(prods[b["product"]]["ops"]))]
                         for j, b in enumerate(jobs)]
    with open(a.json, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
