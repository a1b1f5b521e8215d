#!/usr/bin/env bash
# Smoke check of `atmpflow schedule` (the full benchmark is benches/schedule_bench.sh, hours):
# the JSON contract of the benchmark mode, proven optimality on the toy HFS instance, a Taillard
# instance within 1 % of its best-known value, a shelf-life variant written and re-read, and
# the scenario mode writing plan.json / plan.csv / schedule.html, and the best-known-value check
# quoted in docs/benchmarks-history.md (with --ours on two hand-written results).
# Needs: python3 (no packages).
# Bounded: about 15 s after the release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -n "${ATMPFLOW_BIN:-}" ]; then
    BIN=$ATMPFLOW_BIN
else
    cargo build --release --locked -p atmpflow
    BIN="${CARGO_TARGET_DIR:-target}/release/atmpflow"
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
DATA=../shared/data

"$BIN" schedule --format hfs "$DATA/hfs/instances/0.txt" --time-limit 5 --quiet --json "$WORK/toy.json"
"$BIN" schedule --format taillard "$DATA/taillard/instances/Ta001.txt" --time-limit 3 --quiet --json "$WORK/ta.json"
"$BIN" schedule --format hfs "$DATA/hfs/instances/5.txt" --time-limit 2 --quiet --shelf-life-seed 1 \
    --write-instance "$WORK/5w.txt" --json "$WORK/shelf.json"
"$BIN" schedule --format hfsw "$WORK/5w.txt" --time-limit 2 --quiet --json "$WORK/shelf2.json"
"$BIN" schedule examples/concept-3-modular-plant.toml --orders examples/schedule/concept-3-orders.csv \
    --time-limit 3 --quiet --out "$WORK/plan"
test -s "$WORK/plan/plan.json" && test -s "$WORK/plan/plan.csv" && grep -q "<svg" "$WORK/plan/schedule.html"

python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
def load(n):
    with open(f"{w}/{n}") as f:
        return json.load(f)
toy, ta, sh, sh2 = load("toy.json"), load("ta.json"), load("shelf.json"), load("shelf2.json")
for d in (toy, ta, sh, sh2):
    for k in ("makespan", "lower_bound", "proven_optimal", "time_seconds", "assignments", "seed", "generator"):
        assert k in d, k
    a = d["assignments"]
    assert len(a) == d["jobs"] * d["stages"]
    assert all(set(x) == {"job", "stage", "machine", "start", "end"} for x in a)
    assert d["lower_bound"] <= d["makespan"]
# 28 is optimal for the toy (CP-SAT proves it, ../shared/data/hfs/peer_pyjobshop_900s.csv)
assert toy["makespan"] == 28 and toy["proven_optimal"], toy["makespan"]
# Ta001: best known 1278 (../shared/data/taillard/bks.csv)
assert ta["makespan"] <= 1278 * 1.01, ta["makespan"]
assert sh["has_max_waits"] and sh2["has_max_waits"]
# every maximum wait of the re-read instance is kept by the plan
with open(f"{w}/5w.txt") as f:
    t = [int(x) for x in f.read().split()]
n, g = t[0], t[1]
waits = t[2 + g + n * g:]
ops = {(x["job"], x["stage"]): x for x in sh2["assignments"]}
for j in range(n):
    for k in range(1, g):
        mw = waits[j * (g - 1) + k - 1]
        gap = ops[(j, k)]["start"] - ops[(j, k - 1)]["end"]
        assert gap >= 0 and (mw < 0 or gap <= mw), (j, k, gap, mw)
print("schedule smoke: ok")
PY

# the evidence on the best-known values quoted in docs/benchmarks-history.md
python3 benches/hfs-reference/hfs_bks_check.py --data "$DATA/hfs" > "$WORK/bks.txt"
grep -q "    10 50x5x3    best-known 977  proven optimum 978" "$WORK/bks.txt"
test "$(grep -c "proven optimum" "$WORK/bks.txt")" = 9
grep -q "^50x10x5 *18 *0 *0 *0$" "$WORK/bks.txt"
# --ours: best-known values and plans against atmpflow's lower bound, per class (two results;
# 320: best known 846, best published 3600 s plan 888; 185: 1143 and 1241)
mkdir -p "$WORK/ours"
echo '{"makespan": 891, "lower_bound": 846}' > "$WORK/ours/320.atmpflow.json"
echo '{"makespan": 1236, "lower_bound": 1136}' > "$WORK/ours/185.atmpflow.json"
python3 benches/hfs-reference/hfs_bks_check.py --data "$DATA/hfs" --ours "$WORK/ours" > "$WORK/near.txt"
grep -q "^50x10x3 *1 *0 *0.62 *8.80 *9.24$" "$WORK/near.txt"
grep -q "^50x10x5 *1 *1 *0.00 *5.32 *4.96$" "$WORK/near.txt"
test "$(grep -c "^[0-9]*x[0-9]*x[0-9] " "$WORK/near.txt")" = 18   # 16 classes + 2 of --ours
echo "best-known check: ok"
