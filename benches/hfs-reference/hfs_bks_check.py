#!/usr/bin/env python3
"""How reliable are the best-known values of the HFS set?

Compares ../shared/data/hfs/bks.csv with the published 3600 s runs of IBM CP Optimizer and two
MIP solvers (../shared/data/hfs/peer_cpo_mip_3600s.csv):

* instances where CP Optimizer proved optimality (LB = UB) but the best-known value is lower
  than that optimum (the best-known value cannot come from the same model);
* per class, how often any of the three published runs reached the best-known value.

With --ours DIR (atmpflow JSON results, <id>.atmpflow.json) it also prints our makespan on the
instances of the first list, and per class how close the best-known values lie to atmpflow's
proven lower bound (how often they equal it, the mean distance) next to how far atmpflow's plans
and the best of the three published 3600 s plans lie above that bound.

usage: benches/hfs-reference/hfs_bks_check.py [--data ../shared/data/hfs] [--ours bench-out/hfs]
"""

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path


def as_int(text):
    try:
        return int(float(text))
    except (TypeError, ValueError):
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "hfs"))
    ap.add_argument("--ours", default=None)
    args = ap.parse_args()
    data = Path(args.data)
    bks = {}
    with open(data / "bks.csv") as f:
        for row in csv.reader(f):
            if row and row[0].isdigit():
                bks[int(row[0])] = int(row[1])
    peers = defaultdict(list)
    cls = {}
    with open(data / "peer_cpo_mip_3600s.csv") as f:
        for row in csv.DictReader(f):
            i = as_int(row["instance"])
            if i is None or i not in bks:
                continue
            header = (data / "instances" / f"{i}.txt").read_text().split()[:3]
            n, g, m_first_stage = header
            cls[i] = f"{n}x{g}x{m_first_stage}"
            peers[i].append((row["method"], as_int(row["LB"]), as_int(row["UB"])))
    proven = defaultdict(int)
    below = []
    reached = defaultdict(int)
    count = defaultdict(int)
    for i, runs in sorted(peers.items()):
        c = cls[i]
        count[c] += 1
        if any(ub is not None and ub <= bks[i] for _, _, ub in runs):
            reached[c] += 1
        for method, lb, ub in runs:
            if method == "CPLEX_CP" and lb is not None and lb == ub:
                proven[c] += 1
                if bks[i] < ub:
                    below.append((i, c, bks[i], ub))
    print("class       instances  CPO proven optimal  best-known below that optimum  a published run reaches best-known")
    for c in sorted(count, key=lambda s: [int(x) for x in s.split("x")]):
        nb = sum(1 for b in below if b[1] == c)
        print(f"{c:<11} {count[c]:>9}  {proven[c]:>18}  {nb:>29}  {reached[c]:>34}")
    print()
    print("instances whose best-known value is below the optimum proven by CP Optimizer:")
    for i, c, b, opt in below:
        line = f"  {i:>5} {c:<9} best-known {b}  proven optimum {opt}"
        if args.ours:
            p = Path(args.ours) / f"{i}.atmpflow.json"
            if p.exists():
                line += f"  atmpflow {json.loads(p.read_text())['makespan']}"
        print(line)
    if args.ours:
        near_bound(args.ours, bks, cls, peers)
    return 0


def near_bound(ours, bks, cls, peers):
    """Per class: best-known vs atmpflow's lower bound, and plans (ours, published) vs that bound."""
    rows = defaultdict(list)
    for i, c in cls.items():
        p = Path(ours) / f"{i}.atmpflow.json"
        if not p.exists():
            continue
        doc = json.loads(p.read_text())
        lb, ms = doc["lower_bound"], doc["makespan"]
        ubs = [ub for _, _, ub in peers[i] if ub is not None]
        rows[c].append((bks[i], lb, ms, min(ubs) if ubs else None))
    if not rows:
        return
    print()
    print("% above atmpflow's lower bound (LB) of the results in", ours)
    print("class       instances  best-known = LB  best-known  atmpflow  best published 3600 s")
    for c in sorted(rows, key=lambda s: [int(x) for x in s.split("x")]):
        r = rows[c]
        eq = sum(1 for b, lb, _, _ in r if b == lb)
        gap_b = sum((b - lb) / lb * 100 for b, lb, _, _ in r) / len(r)
        gap_o = sum((ms - lb) / lb * 100 for _, lb, ms, _ in r) / len(r)
        pub = [(u - lb) / lb * 100 for _, lb, _, u in r if u is not None]
        gap_p = f"{sum(pub) / len(pub):.2f}" if pub else "-"
        print(f"{c:<11} {len(r):>9}  {eq:>15}  {gap_b:>10.2f}  {gap_o:>8.2f}  {gap_p:>21}")


if __name__ == "__main__":
    sys.exit(main())
