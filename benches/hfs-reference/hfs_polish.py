#!/usr/bin/env python3
"""Tries to improve atmpflow's hybrid-flow-shop plans with OR-Tools CP-SAT.

For each instance, atmpflow's plan (the `--json` output of `atmpflow schedule --format hfs`)
is checked independently, then given to CP-SAT as a complete starting solution (a hint, with
the plan's makespan as the upper bound) on the exact model of hfs_bound_proof.py (in this
folder; start variables in head/tail windows, stage order per job, one cumulative constraint per
stage). CP-SAT then minimises the makespan with its full portfolio of workers, including its
large-neighbourhood searches, which change the order of jobs at every stage freely, not only
the first stage's permutation as atmpflow's search does.

The question it answers: how much better do plans in the neighbourhood of atmpflow's plan get
with a different, unrestricted search? Any plan CP-SAT finds is checked here before it is
reported.

Reproducible: workers are interleaved deterministically (`interleave_search`), the budget is a
deterministic time (CP-SAT's load-independent measure of work) and the seed is fixed, so a
rerun gives the same makespans on any machine with the same OR-Tools version.

usage: benches/hfs-reference/hfs_polish.py --data ../shared/data/hfs --plans DIR --ids "320 640"
           [--dtime 60] [--workers 8] [--seed 1] [--out polish.csv]
       DIR holds ID.atmpflow.json (as written by benches/schedule_bench.sh) or ID.json.
"""
import argparse
import csv
import json
import os
import sys
import time

from ortools.sat.python import cp_model
import ortools

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
from cpsat_hfs import read_instance  # noqa: E402  (the peer's reader, with its error messages)
from hfs_bound_proof import build_model, check_plan, cumulative_reasoning, read_bks  # noqa: E402


def read_plan(path, n, g):
    """Start times start[j][k] and makespan of an atmpflow JSON plan; exits naming the field."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as e:
        sys.exit(f"{path}: cannot read the plan: {e.strerror}")
    except json.JSONDecodeError as e:
        sys.exit(f"{path}: line {e.lineno}, column {e.colno}: not JSON: {e.msg}")
    if not isinstance(doc, dict) or not isinstance(doc.get("assignments"), list):
        sys.exit(f"{path}: field 'assignments' (a list) is missing")
    if not isinstance(doc.get("makespan"), int):
        sys.exit(f"{path}: field 'makespan' (an integer) is missing")
    start = [[None] * g for _ in range(n)]
    for i, a in enumerate(doc["assignments"]):
        for field in ("job", "stage", "start"):
            if not isinstance(a, dict) or not isinstance(a.get(field), int):
                sys.exit(f"{path}: assignments[{i}]: field '{field}' (an integer) is missing")
        j, k = a["job"], a["stage"]
        if not (0 <= j < n and 0 <= k < g):
            sys.exit(f"{path}: assignments[{i}]: job {j} stage {k} is not in the instance "
                     f"({n} jobs, {g} stages)")
        if start[j][k] is not None:
            sys.exit(f"{path}: assignments[{i}]: job {j} stage {k} is planned twice")
        start[j][k] = a["start"]
    for j in range(n):
        for k in range(g):
            if start[j][k] is None:
                sys.exit(f"{path}: job {j} stage {k} has no assignment")
    return start, doc["makespan"]


def polish(n, g, m, p, start, c, dtime, workers, seed):
    """(best makespan, proven lower bound, status name) after the budget, starting from the plan."""
    md, s = build_model(n, g, m, p, c)
    cmax = md.NewIntVar(0, c, "cmax")
    for j in range(n):
        md.Add(cmax >= s[j][g - 1] + p[j][g - 1])
        for k in range(g):
            md.AddHint(s[j][k], start[j][k])
    md.Minimize(cmax)
    sv = cp_model.CpSolver()
    prm = sv.parameters
    prm.num_workers = workers
    prm.interleave_search = True
    prm.random_seed = seed
    prm.max_deterministic_time = dtime
    cumulative_reasoning(prm)
    st = sv.Solve(md)
    if st not in (cp_model.FEASIBLE, cp_model.OPTIMAL):
        # the hint alone is a plan with makespan c; without a solution nothing was improved
        return c, int(sv.BestObjectiveBound()), sv.StatusName(st)
    best = [[sv.Value(s[j][k]) for k in range(g)] for j in range(n)]
    ms = max(best[j][g - 1] + p[j][g - 1] for j in range(n))
    err = check_plan(n, g, m, p, best, ms)
    if err:
        sys.exit(f"CP-SAT plan with makespan {ms} fails the check: {err}")
    return ms, int(sv.BestObjectiveBound()), sv.StatusName(st)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="folder with instances/ and bks.csv")
    ap.add_argument("--plans", required=True, help="folder with atmpflow's JSON plans")
    ap.add_argument("--ids", required=True, help="instance ids")
    ap.add_argument("--dtime", type=float, default=60.0, help="deterministic-time limit")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="CSV of the results")
    a = ap.parse_args()
    if a.workers < 1 or a.dtime <= 0:
        sys.exit("--workers must be at least 1 and --dtime above 0")
    bks = read_bks(a.data)
    print(f"# OR-Tools {ortools.__version__}, {a.workers} interleaved workers, seed {a.seed}, "
          f"deterministic time {a.dtime}")
    rows = []
    for iid in a.ids.split():
        n, g, m, p, _ = read_instance("hfs", os.path.join(a.data, "instances", f"{iid}.txt"))
        path = os.path.join(a.plans, f"{iid}.atmpflow.json")
        if not os.path.exists(path):
            path = os.path.join(a.plans, f"{iid}.json")
        start, ms = read_plan(path, n, g)
        err = check_plan(n, g, m, p, start, ms)
        if err:
            sys.exit(f"{path}: the plan fails the check: {err}")
        ends = max(start[j][g - 1] + p[j][g - 1] for j in range(n))
        if ms != ends:
            sys.exit(f"{path}: field 'makespan' is {ms}, but the assignments end at {ends}")
        t0 = time.time()
        best, bound, status = polish(n, g, m, p, start, ms, a.dtime, a.workers, a.seed)
        secs = time.time() - t0
        b = bks.get(iid)
        row = {
            "instance": iid,
            "class": f"{n}x{g}x{m[0]}",
            "bks": b if b is not None else "",
            "atmpflow": ms,
            "cpsat_from_atmpflow": best,
            "improvement_pct": f"{(ms - best) / ms * 100:.2f}",
            "cpsat_bound": bound,
            "status": status,
            "seconds": f"{secs:.1f}",
        }
        rows.append(row)
        gap = f", best-known {b}" if b is not None else ""
        print(f"{iid:>6} {row['class']:<9} atmpflow {ms:>5} -> CP-SAT {best:>5} "
              f"({row['improvement_pct']} %), CP-SAT bound {bound}{gap}  ({secs:.1f} s)",
              flush=True)
    if a.out and rows:
        with open(a.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            w.writeheader()
            w.writerows(rows)
    if rows:
        mean = sum(float(r["improvement_pct"]) for r in rows) / len(rows)
        print(f"mean improvement over atmpflow's plans: {mean:.2f} % on {len(rows)} instances")


if __name__ == "__main__":
    main()
