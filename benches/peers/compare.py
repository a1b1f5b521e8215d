#!/usr/bin/env python3
"""Compares two benchmark outputs (atmpflow bench example and the SimPy peer): speed and key
figures with their 95 % intervals. Usage: compare.py RUST.json SIMPY.json. Exits 1 when an
interval pair does not overlap, so a script can notice disagreement (a zero-width interval,
where every replication gave the same value, is reported but not judged)."""

import json
import sys


def main():
    rust, peer = (json.load(open(p)) for p in sys.argv[1:3])
    print("| | atmpflow | SimPy |")
    print("|---|---|---|")
    print(f"| simulator | {rust['simulator']} | {peer['simulator']} |")
    print(f"| replications | {rust['replications']} | {peer['replications']} |")
    print(f"| wall seconds | {rust['seconds']:.2f} | {peer['seconds']:.2f} |")
    print(f"| CPU seconds | {rust['cpu_seconds']:.2f} | {peer['cpu_seconds']:.2f} |")
    print(f"| replications per wall second | {rust['reps_per_second']:.2f} "
          f"| {peer['reps_per_second']:.3f} |")
    print(f"| replications per CPU second | {rust['reps_per_cpu_second']:.2f} "
          f"| {peer['reps_per_cpu_second']:.3f} |")
    wall = rust["reps_per_second"] / peer["reps_per_second"]
    cpu = rust["reps_per_cpu_second"] / peer["reps_per_cpu_second"]
    print(f"\nspeed ratio atmpflow / SimPy: {cpu:.0f}x per CPU second "
          f"({wall:.0f}x per wall second)\n")
    print("| key figure | atmpflow mean [95 % CI] | SimPy mean [95 % CI] | overlap |")
    print("|---|---|---|---|")
    bad = skipped = 0
    for name, r in rust["figures"].items():
        p = peer["figures"].get(name)
        if p is None:
            print(f"| {name} | {fmt(r)} | missing | no |")
            bad += 1
            continue
        if r["ci95"][0] == r["ci95"][1] or p["ci95"][0] == p["ci95"][1]:
            # Every replication gave the same value (e.g. no loss in a few replications): a
            # zero-width interval estimates no uncertainty, so overlap cannot be judged.
            skipped += 1
            print(f"| {name} | {fmt(r)} | {fmt(p)} | n/a (no spread) |")
            continue
        overlap = r["ci95"][0] <= p["ci95"][1] and p["ci95"][0] <= r["ci95"][1]
        bad += not overlap
        print(f"| {name} | {fmt(r)} | {fmt(p)} | {'yes' if overlap else 'NO'} |")
    judged = len(rust["figures"]) - skipped
    print(f"\n{judged - bad} of {judged} intervals overlap"
          + (f" ({skipped} without spread not judged)" if skipped else ""))
    sys.exit(1 if bad else 0)


def fmt(s):
    m, (lo, hi) = s["mean"], s["ci95"]
    digits = 4 if abs(m) < 1 else 2
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


if __name__ == "__main__":
    main()
