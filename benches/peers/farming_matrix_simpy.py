#!/usr/bin/env python3
"""Peer model in SimPy of benches/farming-matrix-500.toml (Strategy B, the farming matrix).

The same plant as the atmpflow scenario, written by hand with SimPy's own primitives, so that
both simulators can be compared on speed and on results:

* one process per patient walks through the steps; a step seizes one unit of its module pool
  (a ``simpy.PriorityResource`` whose priority is the time the batch became ready: FIFO);
* after a step the unit stays occupied for the cleaning time, then serves the next batch;
* the cassette is moved to the next step in ``transfer`` hours; an intermediate with a shelf
  life must start its next step within ``max_hold`` hours of the end of the step;
* a step fails with its probability when it ends (repeat, or re-manufacture from the stored
  back-up bag, at most once); in-process measurements insert optional steps (an extra wash
  when viability is below 0.70, extended expansion when the fold expansion is below 15);
* every unit of a module pool with breakdowns fails after an exponential time (mean MTBF) and
  is repaired after a lognormal time; a base or incubation module that fails while processing
  hands its cassette to the next free unit (a spare), which continues with the work left (the
  batch keeps its place in the queue); a centrifuge that fails spoils the running step, whose
  failure consequence applies.

Statistics, as atmpflow defines them: the observation window is [warm-up, horizon); the
cohort is the patients whose apheresis falls in the window, followed until treated or lost;
waits before a step are measured at every start of the step by a cohort batch (the continuation
after a breakdown is not a new start); utilisation is (processing + cleaning) unit-hours in the
window over installed unit-hours; throughput counts releases in the window. Each replication
gives one value of each figure; the script reports the mean and the Student-t 95 % interval.

Usage: farming_matrix_simpy.py [--reps N] [--seed S] [--scenario benches/farming-matrix-500.toml]
Prints one JSON object (figures with mean and ci95, timing) on stdout.
"""

import random
import sys

import simpy

import simpy_peer as peer
from simpy_peer import mean, sample

H_PER_DAY = 24.0
HORIZON_H = 395 * H_PER_DAY
WARMUP_H = 30 * H_PER_DAY
PATIENTS_PER_YEAR = 500.0

# name: (units, breakdowns as (MTBF hours, repair distribution, on failure) or None)
POOLS = {
    "base-module": (2, (2000.0, ("lognormal", 8.0, 4.0), "transfer")),
    "centrifuge-module": (2, (1500.0, ("lognormal", 12.0, 6.0), "fail_step")),
    "magnet-module": (2, None),
    "incubation-module": (24, (4000.0, ("lognormal", 48.0, 24.0), "transfer")),
    "freezer-module": (2, None),
}


def step(name, dur, pool=None, clean=0.0, transfer=0.0, hold=None, on_hold=None,
         fail=None, decision=None, optional=False):
    """One process step; `dur` is a distribution in hours; `decision` is (measurement
    distribution, threshold below which the optional step `insert` runs, insert)."""
    return {
        "name": name, "dur": dur, "pool": pool, "clean": clean, "transfer": transfer,
        "hold": hold, "on_hold": on_hold, "fail": fail, "decision": decision,
        "optional": optional,
    }


D = H_PER_DAY
CLEAN, MOVE = 0.1, 0.083
STEPS = [
    step("inbound-transport", ("fixed", 1 * D)),
    step("thaw-load", ("tri", 0.5, 0.75, 1.0), "base-module", CLEAN, MOVE),
    step("wash", ("tri", 1.5, 2.0, 2.5), "centrifuge-module", CLEAN, MOVE,
         fail=(0.005, "repeat"),
         decision=(("tnorm", 0.82, 0.08, 0.30, 0.99), 0.70, "extra-wash")),
    step("extra-wash", ("tri", 1.0, 1.5, 2.0), "centrifuge-module", CLEAN, MOVE, optional=True),
    step("selection", ("tri", 3.0, 3.5, 4.0), "magnet-module", CLEAN, MOVE,
         fail=(0.005, "remanufacture")),
    step("activation", ("uniform", 36.0, 48.0), "incubation-module", CLEAN, MOVE,
         hold=12.0, on_hold="proceed"),
    step("transduction-expansion", ("tri", 10 * D, 11 * D, 13 * D), "incubation-module",
         CLEAN, MOVE, hold=24.0, on_hold="proceed", fail=(0.005, "remanufacture"),
         decision=(("lognormal", 30.0, 12.0), 15.0, "extended-expansion")),
    step("extended-expansion", ("uniform", 1 * D, 3 * D), "incubation-module", CLEAN, MOVE,
         hold=24.0, on_hold="proceed", optional=True),
    step("harvest-formulation", ("tri", 2.5, 3.0, 4.0), "centrifuge-module", CLEAN, MOVE,
         hold=1.0, on_hold="remanufacture", fail=(0.005, "remanufacture")),
    step("cryopreservation", ("tri", 2.0, 2.5, 3.0), "freezer-module", CLEAN, 0.0),
    step("qc-release", ("fixed", 7 * D)),
    step("outbound-transport", ("fixed", 1 * D)),
]
INDEX = {s["name"]: i for i, s in enumerate(STEPS)}
REMANUFACTURE_FROM = INDEX["thaw-load"]
MAX_REMANUFACTURES = 1
MAX_REWORK = 3


def next_regular(i):
    for j in range(i + 1, len(STEPS)):
        if not STEPS[j]["optional"]:
            return j
    return None


def in_window(t):
    return WARMUP_H <= t < HORIZON_H


class Pool:
    """A module pool: a FIFO resource plus the bookkeeping for utilisation and breakdowns."""

    def __init__(self, env, name, units, breakdowns):
        self.env = env
        self.name = name
        self.units = units
        self.breakdowns_spec = breakdowns
        self.res = simpy.PriorityResource(env, capacity=units)
        self.occupied = 0  # processing + cleaning
        self.down = 0
        self.running = []  # batch processes currently processing on a unit
        self.last_t = 0.0
        self.busy_h = 0.0
        self.breakdowns = 0

    def account(self):
        now = self.env.now
        lo, hi = max(self.last_t, WARMUP_H), min(now, HORIZON_H)
        if hi > lo:
            self.busy_h += self.occupied * (hi - lo)
        self.last_t = now


class Replication:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.env = simpy.Environment()
        self.pools = {n: Pool(self.env, n, *p) for n, p in POOLS.items()}
        self.active_cohort = 0
        self.cohort_done = self.env.event()
        self.patients = 0
        self.lost = 0
        self.released_window = 0
        self.v2v_days = []
        self.waits = [[] for _ in STEPS]
        self.hold_violations = 0

    def sample(self, d):
        return sample(self.rng, d)

    # ---- patients ----
    def arrivals(self):
        rate = PATIENTS_PER_YEAR / (365.0 * H_PER_DAY)
        while True:
            yield self.env.timeout(self.rng.expovariate(rate))
            if self.env.now >= HORIZON_H:
                return
            self.env.process(self.patient())

    def finish(self, cohort):
        if cohort:
            self.active_cohort -= 1
            if self.active_cohort == 0 and self.env.now >= HORIZON_H \
                    and not self.cohort_done.triggered:
                self.cohort_done.succeed()

    def patient(self):
        env = self.env
        arrival = env.now
        cohort = in_window(arrival)
        if cohort:
            self.patients += 1
            self.active_cohort += 1
        cur = 0
        transfer, hold = 0.0, None  # hold = (deadline, step whose intermediate is held)
        rework = reman = 0
        resume = None
        while True:
            if transfer > 0:
                yield env.timeout(transfer)
            s = STEPS[cur]
            ready = env.now
            if s["pool"] is None:
                if cohort:
                    self.waits[cur].append(0.0)
                yield env.timeout(self.sample(s["dur"]))
                ok = True
            else:
                ok = yield from self.on_pool(s, cur, ready, hold, cohort)
            transfer, hold = 0.0, None
            if ok is not True:
                # shelf life exceeded while waiting for step `cur` (`at` is the held step), or
                # the module broke down and spoiled the step
                outcome, at = ok
            else:
                outcome, at = None, cur
                if s["fail"] and self.rng.random() < s["fail"][0]:
                    outcome = s["fail"][1]
                elif s["decision"]:
                    value, below, insert = s["decision"]
                    if self.sample(value) < below:
                        outcome = ("insert", insert)
            # what next
            if outcome == "repeat":
                rework += 1
                if rework > MAX_REWORK:
                    self.lose(cohort)
                    return
                cur = at
            elif outcome == "remanufacture":
                reman += 1
                if reman > MAX_REMANUFACTURES:
                    self.lose(cohort)
                    return
                cur, resume = REMANUFACTURE_FROM, None
            elif outcome == "lost":
                self.lose(cohort)
                return
            elif isinstance(outcome, tuple):  # insert an optional step
                if not STEPS[at]["optional"]:
                    resume = next_regular(at)
                transfer = STEPS[at]["transfer"]
                cur = INDEX[outcome[1]]
            else:  # regular flow (also after a `proceed` hold violation, which never gets here)
                if s["optional"]:
                    nxt, resume = resume, None
                else:
                    nxt = next_regular(cur)
                if nxt is None:
                    self.release(arrival, cohort)
                    return
                transfer = s["transfer"]
                if s["hold"] is not None:
                    hold = (env.now + s["hold"], cur)
                cur = nxt

    def on_pool(self, s, cur, ready, hold, cohort):
        """Waits for a unit of the step's pool and processes the step. Returns True, or what
        follows a shelf-life violation or a breakdown that spoils the step, as (outcome, step
        the outcome refers to)."""
        env = self.env
        pool = self.pools[s["pool"]]
        req = pool.res.request(priority=ready)
        if hold is not None:
            deadline, held = hold
            got = yield req | env.timeout(max(0.0, deadline - env.now))
            if req not in got:
                if cohort:
                    self.hold_violations += 1
                on_hold = STEPS[held]["on_hold"]
                if on_hold == "proceed":
                    yield req  # recorded deviation; keep the place in the queue
                else:
                    if req.triggered:  # granted at the very instant of the deadline
                        pool.res.release(req)
                    else:
                        req.cancel()
                    return (on_hold, held)
        else:
            yield req
        if cohort:
            self.waits[cur].append(env.now - ready)
        work = self.sample(s["dur"])
        me = env.active_process
        while True:
            pool.account()
            pool.occupied += 1
            pool.running.append(me)
            end = env.now + work
            try:
                yield env.timeout(work)
                break
            except simpy.Interrupt:
                pool.account()
                pool.occupied -= 1
                pool.running.remove(me)
                if pool.breakdowns_spec[2] == "fail_step":
                    # The step is spoiled: the failed unit goes to the repair, and the step's
                    # failure consequence applies (a repeat when it has none).
                    pool.res.release(req)
                    return (s["fail"][1] if s["fail"] else "repeat", cur)
                # Ask for a spare first (same place in the queue), then hand the failed unit
                # over to the repair; the spare continues with the work left.
                work = max(0.0, end - env.now)
                again = pool.res.request(priority=ready)
                pool.res.release(req)
                req = again
                yield req
        pool.account()
        pool.running.remove(me)
        if s["clean"] > 0:
            env.process(self.clean(pool, req, s["clean"]))
        else:
            pool.occupied -= 1
            pool.res.release(req)
        return True

    def clean(self, pool, req, hours):
        yield self.env.timeout(hours)
        pool.account()
        pool.occupied -= 1
        pool.res.release(req)

    def lose(self, cohort):
        if cohort:
            self.lost += 1
        self.finish(cohort)

    def release(self, arrival, cohort):
        now = self.env.now
        if in_window(now):
            self.released_window += 1
        if cohort:
            self.v2v_days.append((now - arrival) / H_PER_DAY)
        self.finish(cohort)

    # ---- breakdowns ----
    def unit_life(self, pool):
        env = self.env
        mtbf, repair, _ = pool.breakdowns_spec
        while True:
            yield env.timeout(self.rng.expovariate(1.0 / mtbf))
            if in_window(env.now):
                pool.breakdowns += 1
            up = pool.units - pool.down
            pick = int(self.rng.random() * up)
            # Take the unit out of service first, so that it is not given to a waiting batch.
            req = pool.res.request(priority=-1.0)
            if pick < len(pool.running):
                pool.running[pick].interrupt("breakdown")
            pool.down += 1
            fixed_at = env.now + self.sample(repair)
            yield req
            yield env.timeout(max(0.0, fixed_at - env.now))
            pool.res.release(req)
            pool.down -= 1

    def watch(self):
        yield self.env.timeout(HORIZON_H)
        if self.active_cohort > 0:
            yield self.cohort_done

    def run(self):
        for pool in self.pools.values():
            for _ in range(pool.units if pool.breakdowns_spec else 0):
                self.env.process(self.unit_life(pool))
        self.env.process(self.arrivals())
        self.env.run(until=self.env.process(self.watch()))
        for pool in self.pools.values():
            pool.account()
        window_h = HORIZON_H - WARMUP_H
        years = window_h / (365.0 * H_PER_DAY)
        figures = {
            "throughput per year": self.released_window / years,
            "vein-to-vein days": mean(self.v2v_days),
            "lost fraction": self.lost / self.patients if self.patients else 0.0,
        }
        for i, s in enumerate(STEPS):
            if s["pool"] is not None:
                figures["wait h: " + s["name"]] = mean(self.waits[i])
        for name, pool in self.pools.items():
            figures["utilisation: " + name] = pool.busy_h / (pool.units * window_h)
        return figures


def check_against_scenario(path):
    """Fails loudly when the scenario file and this hand-written model drift apart."""
    import tomllib

    with open(path, "rb") as f:
        sc = tomllib.load(f)
    dist, same = peer.scenario_dist, peer.same
    problems = []
    if sc["scenario"]["horizon_days"] * 24 != HORIZON_H or \
            sc["scenario"]["warmup_days"] * 24 != WARMUP_H:
        problems.append("horizon or warm-up")
    if len(sc["demand"]) != 1 or sc["demand"][0]["patients_per_year"] != PATIENTS_PER_YEAR:
        problems.append("demand")
    if sorted(e["name"] for e in sc["equipment"]) != sorted(POOLS) or \
            sc.get("area") or sc.get("staff"):
        problems.append("resources")
    for e in sc["equipment"]:
        units, bd = POOLS.get(e["name"], (None, None))
        f = e.get("failures")
        ok = e["count"] == units and e["dispatch"] == "fifo" and (f is None) == (bd is None)
        if ok and f is not None:
            ok = f["mtbf_hours"] == bd[0] and same(dist(f["repair"]), bd[1]) \
                and f["on_failure"] == bd[2]
        if not ok:
            problems.append("pool " + e["name"])
    p = sc["product"][0]
    if [s["name"] for s in p["step"]] != [s["name"] for s in STEPS]:
        problems.append("step names")
    for fs, s in zip(p["step"], STEPS):
        uses = fs.get("uses", [])
        fail = fs.get("failure")
        fail = (fail["probability"], fail["consequence"]) if fail else None
        dec = fs.get("decision", [])
        dec = (dist(dec[0]["value"]), dec[0]["below"], dec[0]["then"]["insert"]) \
            if dec else None
        ok = (
            same(dist(fs["duration"]), s["dur"])
            and len(uses) <= 1
            and (uses[0]["equipment"] if uses else None) == s["pool"]
            and fs.get("cleaning_hours", 0.0) == s["clean"]
            and fs.get("transfer_hours", 0.0) == s["transfer"]
            and fs.get("max_hold_hours") == s["hold"]
            and fs.get("on_hold_violation") == s["on_hold"]
            and fail == s["fail"]
            and fs.get("optional", False) == s["optional"]
            and (dec is None) == (s["decision"] is None)
            and (dec is None or (same(dec[0], s["decision"][0])
                                 and dec[1:] == s["decision"][1:]))
        )
        if not ok:
            problems.append("step " + s["name"])
    if p["remanufacture_from"] != STEPS[REMANUFACTURE_FROM]["name"] or \
            p["max_remanufactures"] != MAX_REMANUFACTURES or p["max_rework"] != MAX_REWORK:
        problems.append("product limits")
    if problems:
        sys.exit("the SimPy model no longer matches " + path + ": " + ", ".join(problems))


def main():
    peer.main(__doc__.split("\n")[0], 20261123, Replication, check_against_scenario)


if __name__ == "__main__":
    main()
