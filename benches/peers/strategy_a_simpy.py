#!/usr/bin/env python3
"""Peer model in SimPy of benches/strategy-a-peer.toml (Strategy A, the integrated plant).

The same plant as the atmpflow scenario, written by hand with SimPy's environment, processes,
events and timeouts, so that both simulators can be compared on speed and on results:

* one process per patient walks through the steps; a step needs several resources at once
  (an area with its device, a supervisor for the first half hour): the patient waits in ONE
  plant-wide list ordered by the time it became ready (FIFO, ties by arrival order), and
  whenever something is freed or a batch becomes ready the list is scanned from the front and
  every batch whose resources are ALL free now is started (first fit: a batch that cannot
  start holds and reserves nothing);
* a resource held for the first ``hours`` of a step only is freed then; devices and areas stay
  occupied for the step's cleaning time after they are freed (staff are free at once);
* the supervisors are on duty 06-22 every day: a task needing one starts only then (it may run
  past the end of the shift);
* after a step the batch is ready for the next after the transfer time; an intermediate with a
  shelf life must START its next step within ``hold`` hours of the END of the step that made it
  (transfer included); when that passes while it waits, the violation is recorded and its
  consequence applies (``proceed``: keep waiting; ``lost``; ``remanufacture``);
* a step fails with its probability when it ends (``repeat`` counts against the rework limit,
  ``remanufacture`` starts again at the preparation from the back-up bag, at most once,
  ``lost``); in-process measurements insert optional steps (an extra wash when viability is
  below 0.70, extended expansion when the fold expansion is below 15); an inserted step has no
  hold limit before it, and after it the flow continues with its own transfer and hold.

Statistics, as atmpflow defines them: the observation window is [warm-up, horizon); the
cohort is the patients whose apheresis falls in the window, followed until treated or lost;
waits before a step are measured at every start of the step by a cohort batch; utilisation is
(processing + cleaning) unit-hours in the window over the unit-hours on duty; throughput counts
releases in the window; the lost fraction is cohort patients lost over cohort patients. Each
replication gives one value of each figure; the script reports the mean and the Student-t 95 %
interval across replications.

Usage: strategy_a_simpy.py [--reps N] [--seed S] [--scenario benches/strategy-a-peer.toml]
Prints one JSON object (figures with mean and ci95, timing) on stdout.
"""

import bisect
import math
import random
import sys

import simpy

import simpy_peer as peer
from simpy_peer import mean, sample

D = 24.0
HORIZON_H = 425 * D
WARMUP_H = 60 * D
PATIENTS_PER_YEAR = 200.0

# name: (kind, units, daily shift (start hour, end hour) or None)
RESOURCES = {
    "thaw-device": ("equipment", 1, None),
    "transduction-reactor": ("equipment", 3, None),
    "expansion-bioreactor": ("equipment", 8, None),
    "controlled-rate-freezer": ("equipment", 2, None),
    "area-a": ("area", 1, None),
    "area-d": ("area", 9, None),
    "supervisors": ("staff", 1, (6.0, 22.0)),
    "qc-lab": ("staff", 1, (0.0, 24.0)),
}


def step(name, dur, uses=(), clean=0.0, transfer=0.0, hold=None, on_hold=None, fail=None,
         decision=None, optional=False):
    """One process step; `dur` is a distribution in hours; `uses` lists (resource, hours held
    or None for the whole step); `decision` is (measurement distribution, threshold below
    which the optional step `insert` runs, insert)."""
    return {
        "name": name, "dur": dur, "uses": list(uses), "clean": clean, "transfer": transfer,
        "hold": hold, "on_hold": on_hold, "fail": fail, "decision": decision,
        "optional": optional,
    }


STEPS = [
    step("inbound-transport", ("fixed", 1 * D)),
    step("preparation", ("tri", 14.0, 16.0, 20.0),
         [("area-a", None), ("thaw-device", 0.75), ("supervisors", 0.5)], 3.0, 0.25,
         hold=12.0, on_hold="lost", fail=(0.01, "remanufacture"),
         decision=(("tnorm", 0.82, 0.08, 0.30, 0.99), 0.70, "extra-wash")),
    step("extra-wash", ("tri", 2.0, 2.5, 3.0), [("area-a", None)], 1.0, 0.25,
         hold=12.0, on_hold="lost", optional=True),
    step("transduction", ("tri", 2 * D, 2.5 * D, 3 * D),
         [("transduction-reactor", None), ("area-d", None)], 2.0, 0.1, fail=(0.02, "repeat")),
    step("expansion", ("tri", 8.5 * D, 9.5 * D, 11 * D),
         [("expansion-bioreactor", None), ("area-d", None)], 4.0, 0.25,
         hold=24.0, on_hold="proceed", fail=(0.01, "lost"),
         decision=(("lognormal", 30.0, 12.0), 15.0, "extended-expansion")),
    step("extended-expansion", ("uniform", 1 * D, 3 * D),
         [("expansion-bioreactor", None), ("area-d", None)], 4.0, 0.25,
         hold=24.0, on_hold="proceed", optional=True),
    step("harvest-formulation", ("tri", 8.0, 10.0, 14.0), [("area-a", None)], 3.0, 0.1,
         hold=1.0, on_hold="remanufacture", fail=(0.005, "remanufacture")),
    step("cryopreservation", ("tri", 2.0, 2.5, 3.0), [("controlled-rate-freezer", None)], 0.5),
    step("qc-release", ("fixed", 7 * D), [("qc-lab", 3.0)]),
    step("outbound-transport", ("fixed", 1 * D)),
]
INDEX = {s["name"]: i for i, s in enumerate(STEPS)}
REMANUFACTURE_FROM = INDEX["preparation"]
MAX_REMANUFACTURES = 1
MAX_REWORK = 1


def next_regular(i):
    for j in range(i + 1, len(STEPS)):
        if not STEPS[j]["optional"]:
            return j
    return None


def in_window(t):
    return WARMUP_H <= t < HORIZON_H


def on_duty_hours(shift, a, b):
    """Hours in [a, b) inside the daily shift [start, end)."""
    if shift is None:
        return b - a
    s, e = shift
    total, day = 0.0, math.floor(a / D)
    while day * D < b:
        lo, hi = max(a, day * D + s), min(b, day * D + e)
        total += max(0.0, hi - lo)
        day += 1
    return total


class Res:
    """A resource pool: units busy (processing) and cleaning, the shift, and the occupied
    unit-hours in the window."""

    def __init__(self, env, kind, units, shift):
        self.env, self.kind, self.units, self.shift = env, kind, units, shift
        self.busy = self.cleaning = 0
        self.last_t = self.busy_h = 0.0

    def on_duty(self):
        if self.shift is None:
            return self.units
        hour = self.env.now % D
        return self.units if self.shift[0] <= hour < self.shift[1] else 0

    def free(self):
        return self.on_duty() - self.busy - self.cleaning

    def account(self):
        now = self.env.now
        lo, hi = max(self.last_t, WARMUP_H), min(now, HORIZON_H)
        if hi > lo:
            self.busy_h += (self.busy + self.cleaning) * (hi - lo)
        self.last_t = now


class Batch:
    __slots__ = ("id", "ready", "start", "waiting", "uses")

    def __init__(self, ident):
        self.id = ident
        self.ready = 0.0
        self.start = None  # SimPy event the patient waits on while in the list
        self.waiting = False
        self.uses = None


class Replication:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.env = simpy.Environment()
        self.res = {n: Res(self.env, *spec) for n, spec in RESOURCES.items()}
        self.waiting = []  # (ready time, batch id, batch), in dispatch order
        self.batches = 0
        self.active_cohort = 0
        self.cohort_done = self.env.event()
        self.patients = self.lost = self.released_window = 0
        self.v2v_days = []
        self.waits = [[] for _ in STEPS]

    def sample(self, d):
        return sample(self.rng, d)

    # ---- resources and the plant-wide list of waiting batches ----
    def take(self, name):
        r = self.res[name]
        r.account()
        r.busy += 1

    def give_back(self, name, clean_h):
        r = self.res[name]
        r.account()
        r.busy -= 1
        if clean_h > 0 and r.kind != "staff":
            r.cleaning += 1
            self.env.timeout(clean_h).callbacks.append(lambda _ev, r=r: self.cleaned(r))
        else:
            self.dispatch()

    def cleaned(self, r):
        r.account()
        r.cleaning -= 1
        self.dispatch()

    def dispatch(self):
        """Starts, front to back, every waiting batch whose resources are all free now."""
        i = 0
        while i < len(self.waiting):
            b = self.waiting[i][2]
            if all(self.res[n].free() >= 1 for n, _ in b.uses):
                del self.waiting[i]
                b.waiting = False
                for n, _ in b.uses:
                    self.take(n)
                b.start.succeed(True)
            else:
                i += 1

    def shifts(self, r):
        """Wakes the dispatcher when a shift starts (work starts only on duty)."""
        s, _ = r.shift
        while True:
            now = self.env.now
            day = math.floor(now / D)
            nxt = day * D + s
            if nxt <= now:
                nxt += D
            yield self.env.timeout(nxt - now)
            r.account()
            self.dispatch()

    # ---- patients ----
    def arrivals(self):
        rate = PATIENTS_PER_YEAR / (365.0 * D)
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
        b = Batch(self.batches)
        self.batches += 1
        cur = 0
        transfer, hold = 0.0, None  # hold = (deadline, step whose intermediate is held)
        rework = reman = 0
        resume = None
        while True:
            if transfer > 0:
                yield env.timeout(transfer)
            s = STEPS[cur]
            outcome, at = None, cur
            if not s["uses"]:
                yield env.timeout(self.sample(s["dur"]))
            else:
                ok = yield from self.run_step(b, s, cur, hold, cohort)
                if ok is not True:
                    outcome, at = ok  # shelf life exceeded while waiting
            transfer, hold = 0.0, None
            if outcome is None:
                if s["fail"] and self.rng.random() < s["fail"][0]:
                    outcome = s["fail"][1]
                elif s["decision"]:
                    value, below, insert = s["decision"]
                    if self.sample(value) < below:
                        outcome = ("insert", insert)
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
            elif isinstance(outcome, tuple):  # insert an optional step: no hold before it
                if not STEPS[at]["optional"]:
                    resume = next_regular(at)
                transfer = STEPS[at]["transfer"]
                cur = INDEX[outcome[1]]
            else:  # the regular flow
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

    def run_step(self, b, s, cur, hold, cohort):
        """Waits in the plant-wide list until every resource of the step is free, then
        processes the step. Returns True, or (consequence, held step) when the shelf life of
        the held intermediate ran out first and its consequence takes the batch out."""
        env = self.env
        ready = env.now
        b.ready, b.uses, b.waiting = ready, s["uses"], True
        b.start = env.event()
        bisect.insort(self.waiting, (ready, b.id, b))
        if hold is not None:
            deadline, held = hold
            token = b.start
            on_hold = STEPS[held]["on_hold"]

            def violated(_ev):
                if not (b.waiting and b.start is token):
                    return  # started in time
                if on_hold != "proceed":  # else: a recorded deviation, keep waiting
                    self.waiting.remove((b.ready, b.id, b))
                    b.waiting = False
                    b.start.succeed((on_hold, held))

            env.timeout(max(0.0, deadline - ready)).callbacks.append(violated)
        self.dispatch()
        got = yield b.start
        if got is not True:
            return got
        if cohort:
            self.waits[cur].append(env.now - ready)
        work = self.sample(s["dur"])
        early = [(n, h) for n, h in s["uses"] if h is not None and h < work]
        for n, h in early:
            env.timeout(h).callbacks.append(
                lambda _ev, n=n: self.give_back(n, s["clean"]))
        yield env.timeout(work)
        for n, h in s["uses"]:
            if h is None or h >= work:
                self.give_back(n, s["clean"])
        return True

    def lose(self, cohort):
        if cohort:
            self.lost += 1
        self.finish(cohort)

    def release(self, arrival, cohort):
        now = self.env.now
        if in_window(now):
            self.released_window += 1
        if cohort:
            self.v2v_days.append((now - arrival) / D)
        self.finish(cohort)

    def watch(self):
        yield self.env.timeout(HORIZON_H)
        if self.active_cohort > 0:
            yield self.cohort_done

    def run(self):
        for r in self.res.values():
            if r.shift is not None and r.shift != (0.0, 24.0):
                self.env.process(self.shifts(r))
        self.env.process(self.arrivals())
        self.env.run(until=self.env.process(self.watch()))
        for r in self.res.values():
            r.account()
        years = (HORIZON_H - WARMUP_H) / (365.0 * D)
        figures = {
            "throughput per year": self.released_window / years,
            "vein-to-vein days": mean(self.v2v_days),
            "lost fraction": self.lost / self.patients if self.patients else 0.0,
        }
        for i, s in enumerate(STEPS):
            if s["uses"]:
                figures["wait h: " + s["name"]] = mean(self.waits[i])
        for name, r in self.res.items():
            figures["utilisation: " + name] = r.busy_h / (
                r.units * on_duty_hours(r.shift, WARMUP_H, HORIZON_H))
        return figures


def check_against_scenario(path):
    """Fails loudly when the scenario file and this hand-written model drift apart."""
    import tomllib

    with open(path, "rb") as f:
        sc = tomllib.load(f)
    dist, same = peer.scenario_dist, peer.same
    def consequence(c):
        return c if isinstance(c, str) or c is None else ("insert", c.get("insert"))

    problems = []
    if sc["scenario"]["horizon_days"] * D != HORIZON_H or \
            sc["scenario"]["warmup_days"] * D != WARMUP_H:
        problems.append("horizon or warm-up")
    if len(sc["demand"]) != 1 or sc["demand"][0]["patients_per_year"] != PATIENTS_PER_YEAR:
        problems.append("demand")
    found = {}
    for kind, table in (("equipment", "equipment"), ("area", "area"), ("staff", "staff")):
        for e in sc.get(table, []):
            units = e["count"] if kind != "area" else e["capacity"]
            shifts = [(s["days"], s["start_hour"], s["end_hour"], s.get("count"))
                      for s in e.get("shift", [])]
            shift = None
            if shifts:
                shift = (shifts[0][1], shifts[0][2]) \
                    if len(shifts) == 1 and shifts[0][0] == ["all"] and shifts[0][3] is None \
                    else "other"
            if e["dispatch"] != "fifo" or e.get("failures") or e.get("maintenance"):
                problems.append("resource " + e["name"])
            found[e["name"]] = (kind, units, shift)
    if found != RESOURCES:
        problems.append("resources")
    p = sc["product"][0]
    if [s["name"] for s in p["step"]] != [s["name"] for s in STEPS]:
        problems.append("step names")
    for fs, s in zip(p["step"], STEPS):
        uses = [(u.get("equipment") or u.get("area") or u.get("staff"), u.get("hours"))
                for u in fs.get("uses", [])]
        if any(u.get("count", 1) != 1 or "capability" in u for u in fs.get("uses", [])):
            problems.append("uses of " + s["name"])
        fail = fs.get("failure")
        fail = (fail["probability"], consequence(fail["consequence"])) if fail else None
        dec = fs.get("decision", [])
        dec = (dist(dec[0]["value"]), dec[0]["below"], dec[0]["then"]["insert"]) \
            if dec else None
        ok = (
            same(dist(fs["duration"]), s["dur"])
            and uses == s["uses"]
            and fs.get("cleaning_hours", 0.0) == s["clean"]
            and fs.get("transfer_hours", 0.0) == s["transfer"]
            and fs.get("max_hold_hours") == s["hold"]
            and consequence(fs.get("on_hold_violation")) == s["on_hold"]
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
    peer.main(__doc__.split("\n")[0], 20261204, Replication, check_against_scenario)


if __name__ == "__main__":
    main()
