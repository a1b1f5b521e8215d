#!/usr/bin/env python3
"""Summarises a run of benches/schedule_bench.sh: one row per size class, averages of
% above best-known (hfs: max(best-known, our lower bound) as in ../shared/data/README.md),
% above our own lower bound, proven optima, and feasibility (shelf-life set).

With --proofs (a CSV of benches/hfs-reference/hfs_bound_proof.py), a best-known value proven unreachable
is replaced by the proven lower bound in the reference, by the same rule."""
import argparse
import csv
import glob
import json
import os
from collections import defaultdict


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--proofs", help="CSV of benches/hfs-reference/hfs_bound_proof.py (hfs only)")
    a = ap.parse_args()
    proven = {}
    if a.proofs:
        for r in csv.DictReader(open(a.proofs)):
            if r["proven_lb"]:
                proven[r["instance"]] = int(r["proven_lb"])
    bks = {}
    if a.set in ("hfs", "shelf"):
        for r in csv.DictReader(open(os.path.join(a.data, "hfs/bks.csv"))):
            bks[r["instance"]] = int(r["bks"])
    else:
        for r in csv.DictReader(open(os.path.join(a.data, "taillard/bks.csv"))):
            bks[r["instance"]] = int(r["bks_timefold"])
    rows = defaultdict(list)
    csv_rows = []
    for f in sorted(glob.glob(os.path.join(a.dir, "*.atmpflow.json"))):
        iid = os.path.basename(f)[: -len(".atmpflow.json")]
        ours = load(f)
        peer = load(os.path.join(a.dir, iid + ".cpsat.json"))
        if ours is None:
            ours = {"feasible": False}
        n = ours.get("jobs")
        g = ours.get("stages")
        m = (ours.get("machines_per_stage") or [None])[0]
        cls = f"{n}x{g}" + (f"x{m}" if a.set != "taillard" else "")
        lb = ours.get("lower_bound")
        ref = bks.get(iid)
        if ref is not None and lb is not None and a.set != "shelf":
            ref = max(ref, lb, proven.get(iid, lb))
        rec = {"instance": iid, "class": cls, "bks": bks.get(iid), "lower_bound": lb}
        for name, r in (("ours", ours), ("cpsat", peer)):
            ms = r.get("makespan") if r and r.get("feasible") else None
            rec[name + "_makespan"] = ms
            rec[name + "_proven"] = bool(r and r.get("proven_optimal"))
            rec[name + "_time"] = r.get("time_seconds") if r else None
            rec[name + "_vs_bks"] = (100.0 * (ms - ref) / ref) if (ms is not None and ref and a.set != "shelf") else None
            rec[name + "_vs_lb"] = (100.0 * (ms - lb) / lb) if (ms is not None and lb) else None
        rows[cls].append(rec)
        csv_rows.append(rec)
    if csv_rows:
        with open(os.path.join(a.dir, "results.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(csv_rows[0].keys()))
            w.writeheader()
            w.writerows(csv_rows)

    def avg(v):
        v = [x for x in v if x is not None]
        return (sum(v) / len(v)) if v else None

    def fmt(x):
        return "–" if x is None else f"{x:.2f}"

    print(f"| class | inst. | atmpflow % > BKS | CP-SAT % > BKS | atmpflow % > own LB | CP-SAT % > own LB | atmpflow feasible | CP-SAT feasible | proven opt. (ours / CP-SAT) |")
    print("|---|---|---|---|---|---|---|---|---|")
    allr = []
    for cls in sorted(rows, key=lambda c: [int(x) for x in c.split("x")]):
        r = rows[cls]
        allr += r
        print(
            f"| {cls} | {len(r)} | {fmt(avg([x['ours_vs_bks'] for x in r]))} | {fmt(avg([x['cpsat_vs_bks'] for x in r]))} | "
            f"{fmt(avg([x['ours_vs_lb'] for x in r]))} | {fmt(avg([x['cpsat_vs_lb'] for x in r]))} | "
            f"{sum(x['ours_makespan'] is not None for x in r)}/{len(r)} | {sum(x['cpsat_makespan'] is not None for x in r)}/{len(r)} | "
            f"{sum(x['ours_proven'] for x in r)} / {sum(x['cpsat_proven'] for x in r)} |"
        )
    r = allr
    if r:
        print(
            f"| **all** | {len(r)} | {fmt(avg([x['ours_vs_bks'] for x in r]))} | {fmt(avg([x['cpsat_vs_bks'] for x in r]))} | "
            f"{fmt(avg([x['ours_vs_lb'] for x in r]))} | {fmt(avg([x['cpsat_vs_lb'] for x in r]))} | "
            f"{sum(x['ours_makespan'] is not None for x in r)}/{len(r)} | {sum(x['cpsat_makespan'] is not None for x in r)}/{len(r)} | "
            f"{sum(x['ours_proven'] for x in r)} / {sum(x['cpsat_proven'] for x in r)} |"
        )
    both = [x for x in r if x["ours_makespan"] is not None and x["cpsat_makespan"] is not None]
    wins = sum(x["ours_makespan"] < x["cpsat_makespan"] for x in both)
    ties = sum(x["ours_makespan"] == x["cpsat_makespan"] for x in both)
    print(f"\natmpflow better on {wins}, equal on {ties}, worse on {len(both) - wins - ties} of {len(both)} instances solved by both.")


if __name__ == "__main__":
    main()
