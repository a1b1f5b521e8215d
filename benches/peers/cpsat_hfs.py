#!/usr/bin/env python3
"""OR-Tools CP-SAT peer for the scheduling benchmarks.

Reads an instance in the `hfs`, `hfsw` (hfs + maximum waits) or `taillard` format
(see ../shared/data/README.md and docs/scheduling.md), builds the standard interval
model -- one interval per operation, one optional interval per eligible machine with a
presence literal, exactly one machine per operation, no-overlap per machine, stage
precedences (and maximum waits), makespan minimised -- and writes a JSON result with the
same keys as `atmpflow schedule --json`.

Taillard instances are permutation flow shops: the job order is forced to be the same on
every machine with one order literal per pair of jobs (for n <= 100; above that the model
is the non-permutation flow shop, a relaxation, and the JSON says so).

usage: cpsat_hfs.py --format hfs|hfsw|taillard FILE --time-limit S --threads T --json OUT [--seed N]
"""
import argparse
import json
import sys
import time

from ortools.sat.python import cp_model
import ortools


def read_tokens(path):
    """The integers of a file; a missing file or a word that is no integer ends the program
    with a message naming the file (and the word's place)."""
    try:
        with open(path) as f:
            words = f.read().split()
    except OSError as e:
        sys.exit(f"{path}: {e.strerror}")
    t = []
    for i, w in enumerate(words):
        try:
            t.append(int(w))
        except ValueError:
            sys.exit(f"{path}: number {i + 1} ({w!r}) is not an integer")
    return t


def read_instance(fmt, path):
    t = read_tokens(path)
    header = 5 if fmt == "taillard" else 2
    if len(t) < header or t[0] < 1 or t[1] < 1:
        sys.exit(f"{path}: the header must start with the job and stage (machine) counts, at least 1")
    if fmt == "taillard":
        n, m = t[0], t[1]
        rest = t[5:]
        if len(rest) != n * m:
            sys.exit(f"{path}: expected {n * m} processing times, found {len(rest)}")
        p = [[rest[k * n + j] for k in range(m)] for j in range(n)]
        return n, m, [1] * m, p, None
    n, g = t[0], t[1]
    expected = g + n * g + (n * (g - 1) if fmt == "hfsw" else 0)
    if len(t) - 2 != expected:
        what = " and maximum waits" if fmt == "hfsw" else ""
        sys.exit(f"{path}: expected {g} machine counts, {n * g} processing times{what} "
                 f"({expected} numbers after the header), found {len(t) - 2}")
    machines = t[2:2 + g]
    pos = 2 + g
    p = [t[pos + j * g: pos + (j + 1) * g] for j in range(n)]
    pos += n * g
    waits = None
    if fmt == "hfsw":
        waits = [t[pos + j * (g - 1): pos + (j + 1) * (g - 1)] for j in range(n)]
    return n, g, machines, p, waits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--format", choices=["hfs", "hfsw", "taillard"], required=True)
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    t0 = time.time()
    n, g, machines, p, waits = read_instance(a.format, a.file)
    horizon = sum(sum(r) for r in p) + (sum(sum(w for w in r if w > 0) for r in waits) if waits else 0)
    md = cp_model.CpModel()
    start = [[None] * g for _ in range(n)]
    end = [[None] * g for _ in range(n)]
    pres = [[None] * g for _ in range(n)]
    per_machine = [[[] for _ in range(machines[k])] for k in range(g)]
    for j in range(n):
        for k in range(g):
            s = md.NewIntVar(0, horizon, f"s{j}_{k}")
            e = md.NewIntVar(0, horizon, f"e{j}_{k}")
            md.NewIntervalVar(s, p[j][k], e, f"i{j}_{k}")
            start[j][k], end[j][k] = s, e
            if machines[k] == 1:
                iv = md.NewIntervalVar(s, p[j][k], e, f"m{j}_{k}")
                per_machine[k][0].append(iv)
                pres[j][k] = None
            else:
                lits = []
                for i in range(machines[k]):
                    x = md.NewBoolVar(f"x{j}_{k}_{i}")
                    iv = md.NewOptionalIntervalVar(s, p[j][k], e, x, f"o{j}_{k}_{i}")
                    per_machine[k][i].append(iv)
                    lits.append(x)
                md.AddExactlyOne(lits)
                pres[j][k] = lits
            if k > 0:
                md.Add(s >= end[j][k - 1])
                if waits is not None and waits[j][k - 1] >= 0:
                    md.Add(s <= end[j][k - 1] + waits[j][k - 1])
    for k in range(g):
        for ivs in per_machine[k]:
            md.AddNoOverlap(ivs)
    model_kind = "hybrid flow shop, interval model with optional intervals per machine"
    if a.format == "taillard":
        if n <= 100:
            for x in range(n):
                for y in range(x + 1, n):
                    b = md.NewBoolVar(f"b{x}_{y}")
                    for k in range(g):
                        md.Add(end[x][k] <= start[y][k]).OnlyEnforceIf(b)
                        md.Add(end[y][k] <= start[x][k]).OnlyEnforceIf(b.Not())
            model_kind = "permutation flow shop (pairwise order literals shared by all machines)"
        else:
            model_kind = "non-permutation flow shop (relaxation: permutation not enforced for n > 100)"
    cmax = md.NewIntVar(0, horizon, "cmax")
    md.AddMaxEquality(cmax, [end[j][g - 1] for j in range(n)])
    md.Minimize(cmax)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.01, a.time_limit - (time.time() - t0))
    solver.parameters.num_search_workers = a.threads
    solver.parameters.random_seed = a.seed
    status = solver.Solve(md)
    elapsed = time.time() - t0
    feasible = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    out = {
        "instance": a.file.split("/")[-1],
        "solver": "cp-sat",
        "ortools_version": ortools.__version__,
        "model": model_kind,
        "threads": a.threads,
        "time_limit": a.time_limit,
        "seed": a.seed,
        "status": solver.StatusName(status),
        "feasible": feasible,
        "proven_optimal": status == cp_model.OPTIMAL,
        "makespan": int(solver.ObjectiveValue()) if feasible else None,
        "lower_bound": int(solver.BestObjectiveBound()) if feasible or status == cp_model.INFEASIBLE else None,
        "time_seconds": elapsed,
        "assignments": [],
    }
    if feasible:
        for j in range(n):
            for k in range(g):
                m = 0
                if pres[j][k] is not None:
                    m = next(i for i, x in enumerate(pres[j][k]) if solver.Value(x))
                s = solver.Value(start[j][k])
                out["assignments"].append({"job": j, "stage": k, "machine": m, "start": s, "end": s + p[j][k]})
    with open(a.json, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
