#!/usr/bin/env python3
"""Checks best-known values of the hybrid flow shop set by proof.

For an instance and a trial makespan C, the question "is there a plan with makespan <= C?"
is posed to OR-Tools CP-SAT as a satisfaction problem on the exact model of the hybrid flow
shop with identical machines: one start variable per operation, in the window from the
operation's head (the job's processing before it) to C minus its tail and its own time; the
stages of a job in order; one cumulative constraint per stage with the stage's machine count
as capacity (with identical machines, any plan within that capacity can be put on the
machines, so the model is exact, not a relaxation). CP-SAT's time-table edge finding,
overload checker and precedence reasoning in cumulative constraints are switched on.

If CP-SAT proves the problem infeasible for C = best-known value (or the value given with
--makespan), no plan reaches the listed
value under this model: the optimum is at least best-known + 1. With --raise the trial
makespan then climbs (steps 1, 2, 4, ... while proofs succeed, halving after a failure) to
find a higher proven lower bound. A plan CP-SAT finds instead is checked here (precedences
and machine capacity per stage) and reported.

Reproducible: every call has a deterministic-time limit (CP-SAT's "deterministic time",
independent of machine load) and a fixed seed on one worker, so a rerun gives the same
statuses on any machine with the same OR-Tools version.

usage: benches/hfs-reference/hfs_bound_proof.py --data ../shared/data/hfs --ids "300 320"
           [--dtime 10] [--raise N] [--makespan C] [--out proofs.csv]
"""
import argparse
import csv
import os
import sys
import time

from ortools.sat.python import cp_model
import ortools

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
from cpsat_hfs import read_instance  # noqa: E402  (the peer's reader, with its error messages)


def check_plan(n, g, m, p, start, c):
    """Independent check of a plan given as start[j][k]: job order, window, stage capacity."""
    for j in range(n):
        for k in range(g):
            if start[j][k] < 0 or start[j][k] + p[j][k] > c:
                return f"job {j} stage {k} outside [0, {c}]"
            if k > 0 and start[j][k] < start[j][k - 1] + p[j][k - 1]:
                return f"job {j} stage {k} starts before stage {k - 1} ends"
    for k in range(g):
        events = sorted(
            [(start[j][k] + p[j][k], -1) for j in range(n)] + [(start[j][k], 1) for j in range(n)]
        )
        load = 0
        for t, d in events:
            load += d
            if load > m[k]:
                return f"stage {k} has more than {m[k]} operations at time {t}"
    return None


def read_bks(data):
    """Best-known makespan per instance id (as text) from DATA/bks.csv."""
    with open(os.path.join(data, "bks.csv")) as f:
        return {r["instance"]: int(r["bks"]) for r in csv.DictReader(f)}


def build_model(n, g, m, p, c):
    """The exact model with every operation inside its window for makespan <= c.

    Returns (model, start variables s[j][k]), or None when one job alone is longer than c."""
    md = cp_model.CpModel()
    s = [[None] * g for _ in range(n)]
    per_stage = [[] for _ in range(g)]
    for j in range(n):
        total = sum(p[j])
        head = 0
        for k in range(g):
            hi = c - (total - head)
            if hi < head:
                return None
            s[j][k] = md.NewIntVar(head, hi, f"s{j}_{k}")
            per_stage[k].append(md.NewFixedSizeIntervalVar(s[j][k], p[j][k], f"o{j}_{k}"))
            if k > 0:
                md.Add(s[j][k] >= s[j][k - 1] + p[j][k - 1])
            head += p[j][k]
    for k in range(g):
        md.AddCumulative(per_stage[k], [1] * n, m[k])
    return md, s


def cumulative_reasoning(prm):
    """CP-SAT's edge finding, overload checker and precedence reasoning for cumulatives."""
    prm.use_timetable_edge_finding_in_cumulative = True
    prm.use_overload_checker_in_cumulative = True
    prm.use_hard_precedences_in_cumulative = True


def decide(n, g, m, p, c, dtime, seed):
    """'infeasible' (proof), 'feasible' (a plan, checked here) or 'unknown' within the budget."""
    built = build_model(n, g, m, p, c)
    if built is None:
        return "infeasible"  # a job alone is longer than c
    md, s = built
    sv = cp_model.CpSolver()
    prm = sv.parameters
    prm.num_workers = 1
    prm.random_seed = seed
    prm.max_deterministic_time = dtime
    cumulative_reasoning(prm)
    st = sv.Solve(md)
    if st == cp_model.INFEASIBLE:
        return "infeasible"
    if st in (cp_model.FEASIBLE, cp_model.OPTIMAL):
        start = [[sv.Value(s[j][k]) for k in range(g)] for j in range(n)]
        err = check_plan(n, g, m, p, start, c)
        if err:
            sys.exit(f"CP-SAT plan for C={c} fails the check: {err}")
        return "feasible"
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="folder with instances/ and bks.csv")
    ap.add_argument("--ids", help="instance ids (default: every id in bks.csv)")
    ap.add_argument("--dtime", type=float, default=10.0, help="deterministic-time limit per call")
    ap.add_argument("--raise", dest="raise_calls", type=int, default=0,
                    help="after a refutation, up to this many calls to raise the bound")
    ap.add_argument("--makespan", type=int,
                    help="trial makespan instead of the best-known value (for every id)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="CSV of the results")
    a = ap.parse_args()
    bks = read_bks(a.data)
    ids = a.ids.split() if a.ids else sorted(bks, key=int)
    print(f"# OR-Tools {ortools.__version__}, 1 worker, seed {a.seed}, deterministic time {a.dtime} per call")
    rows = []
    out = open(a.out, "w", newline="") if a.out else None
    writer = None
    for iid in ids:
        trial = a.makespan if a.makespan is not None else bks.get(iid)
        if trial is None:
            sys.exit(f"instance {iid}: no best-known value in {a.data}/bks.csv (give --makespan)")
        n, g, m, p, _ = read_instance("hfs", os.path.join(a.data, "instances", f"{iid}.txt"))
        t0 = time.time()
        status = decide(n, g, m, p, trial, a.dtime, a.seed)
        lb = trial + 1 if status == "infeasible" else None
        calls = 1
        if lb is not None and a.raise_calls > 0:
            step = 1
            while calls <= a.raise_calls:
                c = lb - 1 + step
                res = decide(n, g, m, p, c, a.dtime, a.seed)
                calls += 1
                if res == "infeasible":
                    lb = c + 1
                    step *= 2
                elif step == 1:
                    break
                else:
                    step //= 2
        secs = time.time() - t0
        row = {
            "instance": iid,
            "class": f"{n}x{g}x{m[0]}",
            "bks": bks.get(iid, ""),
            "trial": trial,
            "status": {"infeasible": "refuted", "feasible": "reached", "unknown": "open"}[status],
            "proven_lb": lb if lb is not None else "",
            "calls": calls,
            "seconds": f"{secs:.1f}",
        }
        rows.append(row)
        if out:
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(row.keys()))
                writer.writeheader()
            writer.writerow(row)
            out.flush()
        what = "best-known" if a.makespan is None else "makespan"
        print(f"{iid:>6} {row['class']:<9} {what} {trial:>5}  {row['status']:<8}"
              + (f" proven lower bound {lb}" if lb is not None else "")
              + f"  ({calls} call{'s' if calls > 1 else ''}, {secs:.1f} s)", flush=True)
    if out:
        out.close()
    refuted = sum(r["status"] == "refuted" for r in rows)
    reached = sum(r["status"] == "reached" for r in rows)
    print(f"refuted {refuted}, reached {reached}, open {len(rows) - refuted - reached} of {len(rows)}")


if __name__ == "__main__":
    main()
