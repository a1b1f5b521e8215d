#!/usr/bin/env bash
# Plant planning benchmark: atmpflow's planner vs the exact CP-SAT model of the same plant
# problem (benches/peers/cpsat_plant.py), same time limit, one thread each; and the time of a
# capable-to-promise query over a month of apheresis dates.
#
#   benches/plant_bench.sh [--time-limit 10] [--sizes "8 16 24"] [--seeds "1 2 3"] [--out DIR]
#
# Instances: the two-product example plant (examples/plant-two-products.toml: shifts,
# maintenance, blocking, hold limits) with N orders drawn by a seeded generator (Python's
# random.Random(seed), Mersenne Twister): apheresis at 09:00 on weekdays over N x 16 h, product
# car-t or car-t-short with equal probability, weight 2 with probability 1/4 else 1, due date =
# apheresis + the product's target vein-to-vein time. The objective is the scenario's
# (weighted tardiness, then makespan). CP-SAT reads the problem from atmpflow's plan.json, so
# both solve exactly the same problem; atmpflow's plans pass its checker before they are written.
# CP-SAT comes from PyPI (`ortools`, pinned in scripts/lib/venv.sh) in a venv under
# ${ATMPFLOW_VENV_DIR:-/var/tmp/atmpflow-venv}/cpsat.
set -euo pipefail
cd "$(dirname "$0")/.."
TL=10; SIZES="8 16 24"; SEEDS="1 2 3"; OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --time-limit) TL=$2; shift 2;;
    --sizes) SIZES=$2; shift 2;;
    --seeds) SEEDS=$2; shift 2;;
    --out) OUT=$2; shift 2;;
    *) echo "unknown argument $1" >&2; exit 2;;
  esac
done
OUT=${OUT:-bench-out/plant}
mkdir -p "$OUT"
if [ -n "${ATMPFLOW_BIN:-}" ]; then
  BIN=$ATMPFLOW_BIN
else
  cargo build --release --locked -p atmpflow >&2
  BIN=${CARGO_TARGET_DIR:-target}/release/atmpflow
fi
. scripts/lib/venv.sh
pinned_venv cpsat ortools "$CPSAT_ORTOOLS_VERSION" >&2
PLANT=examples/plant-two-products.toml
for n in $SIZES; do
  for seed in $SEEDS; do
    d="$OUT/n$n-s$seed"
    mkdir -p "$d"
    python3 - "$n" "$seed" > "$d/orders.csv" <<'PY'
import random, sys
n, seed = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
print("id,product,release_h,due_h,weight")
t = 0.0
days = sorted(rng.uniform(0, n * 16 / 24) for _ in range(n))
for i, day in enumerate(days):
    d = int(day)
    while d % 7 >= 5:          # weekdays only (day 0 is a Monday)
        d += 1
    product = "car-t" if rng.random() < 0.5 else "car-t-short"
    weight = 2 if rng.random() < 0.25 else 1
    print(f"G{i + 1:03d},{product},{d * 24 + 9:.1f},,{weight}")
PY
    "$BIN" schedule "$PLANT" --orders "$d/orders.csv" --time-limit "$TL" --seed 1 --quiet --force --out "$d/atmpflow"
    "$VENV/bin/python" benches/peers/cpsat_plant.py "$d/atmpflow/plan.json" --time-limit "$TL" \
      --threads 1 --seed 1 --json "$d/cpsat.json"
  done
done
# capable-to-promise over a month of dates on the largest plan
n=$(echo "$SIZES" | tr ' ' '\n' | sort -n | tail -1)
s=$(echo "$SEEDS" | tr ' ' '\n' | head -1)
"$BIN" schedule promise "$OUT/n$n-s$s/atmpflow/plan.json" --product car-t-short --from-day 0 \
  --to-day 30 --force --json "$OUT/promise.json" > /dev/null
python3 - "$OUT" "$TL" "$SIZES" "$SEEDS" <<'PY'
import json, sys
out, tl, sizes, seeds = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
print(f"time limit {tl} s, one thread each; weighted tardiness (minutes x weight x 100) / makespan (h)")
print("| orders | seed | operations | atmpflow twt | atmpflow makespan | CP-SAT twt | CP-SAT makespan | CP-SAT status | CP-SAT bound on twt |")
print("|---|---|---|---|---|---|---|---|---|")
for n in sizes:
    for s in seeds:
        d = f"{out}/n{n}-s{s}"
        a = json.load(open(f"{d}/atmpflow/plan.json"))["values"]
        c = json.load(open(f"{d}/cpsat.json"))
        cv = c.get("values")
        print(f"| {n} | {s} | {c['operations']} | {a['weighted_tardiness']} | {a['makespan'] / 60:.1f} | "
              + (f"{cv['weighted_tardiness']} | {cv['makespan'] / 60:.1f} | " if cv else "— | — | ")
              + f"{c['status']} | {c.get('primary_bound', '—')} |")
p = json.load(open(f"{out}/promise.json"))
print(f"capable-to-promise: {len(p['offers'])} apheresis dates against the {sizes[-1]}-order plan in {p['seconds']:.3f} s")
PY
