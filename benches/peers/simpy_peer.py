"""Shared parts of the SimPy peer models in this folder: sampling the scenario's
distributions, reading a distribution from the scenario TOML (to check a hand-written model
against it), the Student-t interval across replications, and the command line that runs the
replications and prints the JSON that benches/peers/compare.py reads."""

import argparse
import json
import math
import sys
import time

import simpy


def sample(rng, d):
    """One draw from distribution `d` (as written in the peer models: ("fixed", v),
    ("tri", min, mode, max), ("uniform", min, max), ("lognormal", mean, sd) of the value
    itself, ("tnorm", mean, sd, min, max) truncated by rejection) with `random.Random` rng."""
    kind = d[0]
    if kind == "fixed":
        return d[1]
    if kind == "tri":
        return rng.triangular(d[1], d[3], d[2])
    if kind == "uniform":
        return rng.uniform(d[1], d[2])
    if kind == "lognormal":
        mean, sd = d[1], d[2]
        s2 = math.log(1.0 + (sd / mean) ** 2)
        return rng.lognormvariate(math.log(mean) - 0.5 * s2, math.sqrt(s2))
    if kind == "tnorm":
        while True:
            x = rng.gauss(d[1], d[2])
            if d[3] <= x <= d[4]:
                return x
    raise ValueError(kind)


UNIT_H = {"minutes": 1.0 / 60.0, "hours": 1.0, "days": 24.0}


def scenario_dist(d):
    """A distribution table of the scenario TOML in the peer models' notation, in hours."""
    u = UNIT_H[d["unit"]] if "unit" in d else 1.0
    k = d["dist"]
    if k == "fixed":
        return ("fixed", d["value"] * u)
    if k == "triangular":
        return ("tri", d["min"] * u, d["mode"] * u, d["max"] * u)
    if k == "uniform":
        return ("uniform", d["min"] * u, d["max"] * u)
    if k == "lognormal":
        return ("lognormal", d["mean"] * u, d["sd"] * u)
    if k == "truncated_normal":
        return ("tnorm", d["mean"] * u, d["sd"] * u, d["min"] * u, d["max"] * u)
    return (k,)


def same(a, b):
    """Two distributions in the peer models' notation are the same (to 1e-9)."""
    return a[0] == b[0] and len(a) == len(b) and \
        all(abs(x - y) < 1e-9 for x, y in zip(a[1:], b[1:]))


def mean(xs):
    return sum(xs) / len(xs) if xs else None


# Student-t 0.975 quantiles for 1..30 degrees of freedom (standard tables).
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t975(df):
    """Student-t 0.975 quantile: the table up to 30 degrees of freedom, above that the
    Cornish-Fisher expansion around the normal quantile (error below 1e-5 there)."""
    if df <= len(T975):
        return T975[df - 1]
    z = 1.959963984540054
    g1 = (z ** 3 + z) / 4
    g2 = (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96
    g3 = (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384
    g4 = (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / 92160
    return z + g1 / df + g2 / df ** 2 + g3 / df ** 3 + g4 / df ** 4


def mean_ci(xs):
    xs = [x for x in xs if x is not None]
    n = len(xs)
    m = sum(xs) / n
    if n < 2:
        return {"mean": m, "ci95": [m, m]}
    var = sum((x - m) ** 2 for x in xs) / (n - 1)
    half = t975(n - 1) * math.sqrt(var / n)
    return {"mean": m, "ci95": [m - half, m + half]}


def main(description, default_seed, replication, check):
    """Runs `replication(seed).run()` (a dict of figures) for each replication, after
    `check(path)` when --scenario is given, and prints the JSON of the figures with their
    intervals and the timing."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=default_seed)
    ap.add_argument("--scenario", default=None,
                    help="scenario TOML to check this model against before running")
    args = ap.parse_args()
    if args.scenario:
        check(args.scenario)
    t0, c0 = time.perf_counter(), time.process_time()
    per_rep = [replication(args.seed * 100_003 + r).run() for r in range(args.reps)]
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    names = list(per_rep[0].keys())
    out = {
        "simulator": "SimPy " + simpy.__version__ + ", Python " + sys.version.split()[0],
        "replications": args.reps,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "reps_per_second": args.reps / seconds,
        "reps_per_cpu_second": args.reps / cpu,
        "figures": {n: mean_ci([r[n] for r in per_rep]) for n in names},
    }
    print(json.dumps(out, indent=1))
