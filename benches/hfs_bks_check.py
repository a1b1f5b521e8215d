#!/usr/bin/env python3
"""How reliable are the best-known values of the HFS set?

Compares ../shared/data/hfs/bks.csv with the published 3600 s runs of IBM CP Optimizer and two
MIP solvers (../shared/data/hfs/peer_cpo_mip_3600s.csv):

* instances where CP Optimizer proved optimality (LB = UB) but the best-known value is lower
  than that optimum (the best-known value cannot come from the same model);
* per class, how often any of the three published runs reached the best-known value.

With --ours DIR (atmpflow JSON results, <id>.atmpflow.json) it also prints our makespan on the
instances of the first list.

usage: benches/hfs_bks_check.py [--data ../shared/data/hfs] [--ours bench-out/hfs]
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
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hfs"))
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
