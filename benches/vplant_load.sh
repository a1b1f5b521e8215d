#!/usr/bin/env bash
# Virtual plant load benchmark (issue #16 item 6; not a timed test).
#
#   benches/vplant_load.sh [--copies 8] [--patients 200] [--iterations 50] [--out DIR]
#   (ATMPFLOW_BIN=path uses that binary instead of building the release one)
#
# 1. A plant-year: PATIENTS orders evenly spaced over 365 days (ASSUMPTION: the issue's
#    200 patients/year plant, arrivals evenly spaced rather than Poisson so that every run
#    carries the same load) of the modular CAR-T recipe (examples/recipes/car-t-modular.toml)
#    on the modular plant inventory (examples/equipment/modular-plant.toml) with every module
#    copied COPIES times (ASSUMPTION: 8 copies give room for 200 batches a year: the expansion
#    step alone takes 7-12 days per batch in the recipe). For the benchmark every module is
#    qualified until 2099 and its use counters start at 0 with a maximum of 10^6 (ASSUMPTION:
#    maintenance and requalification are not what is measured). Runs `atmpflow plant run
#    --speed max` (release build, pinned to one core with taskset -c 0) without re-planning,
#    with re-planning (--replan-after-h 4, the default rolling window of 14 days) and without
#    re-planning into a SQLite database (--db), and reports the simulated seconds per wall
#    second (the issue asks for >= 1000x on one core) and the database's write rate; then
#    verifies every stored batch (`batch verify --db`).
# (The issue's second figure, 50 devices each sending 10 values/s, is not measured here: the
# engine keeps one value per parameter per step run and refuses a second one (a correction is
# needed), so a value stream has no path into the record yet; see docs/virtual-plant.md.)
set -euo pipefail
cd "$(dirname "$0")/.."
COPIES=8; PATIENTS=200; ITER=50; OUT=""
BIN=${ATMPFLOW_BIN:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --copies) COPIES=$2; shift 2;;
    --patients) PATIENTS=$2; shift 2;;
    --iterations) ITER=$2; shift 2;;
    --out) OUT=$2; shift 2;;
    *) echo "unknown argument $1" >&2; exit 2;;
  esac
done
OUT=${OUT:-bench-out/vplant}
mkdir -p "$OUT"
python3 - "$COPIES" "$PATIENTS" "$OUT" <<'PY'
import re, sys
copies, patients, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
text = open("examples/equipment/modular-plant.toml").read()
parts = re.split(r"(?m)^(?=\[\[equipment\]\]\s*$)", text)
head, blocks = parts[0], parts[1:]
res = [head]
for b in blocks:
    b = re.sub(r"(?m)^next_requalification = .*$", "next_requalification = 2099-01-01", b)
    b = re.sub(r'(?m)^status = ".*"', 'status = "qualified"', b)
    b = re.sub(r"(?m)^used = \d+", "used = 0", b)
    b = re.sub(r"(?m)^max = \d+.*$", "max = 1000000", b)
    if re.search(r'(?m)^class = "area"', b):
        res.append(b)
        continue
    for k in range(copies):
        c = re.sub(r'(?m)^id = "([^"]+)"', lambda m: f'id = "{m.group(1)}_c{k + 1}"', b)
        c = re.sub(r'(?m)^serial = "([^"]+)"', lambda m: f'serial = "{m.group(1)}-{k + 1}"', c)
        res.append(c)
open(f"{out}/inventory.toml", "w").write("".join(res))
with open(f"{out}/orders.csv", "w") as f:
    f.write("id,product,release_h,due_h,weight\n")
    for i in range(patients):
        f.write(f"P{i + 1:04d},car_t_modular,{i * 8760.0 / patients:.3f},,1\n")
PY
if [ -z "$BIN" ]; then
  cargo build --release --locked -p atmpflow >&2
  BIN=${CARGO_TARGET_DIR:-target}/release/atmpflow
fi
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD)"
# one core: the plant runs on one thread; taskset keeps the planner and the store there too
PIN=""
if command -v taskset >/dev/null; then PIN="taskset -c 0"; fi
rm -f "$OUT/plant.db" "$OUT/plant.db-wal" "$OUT/plant.db-shm"
for mode in "--no-replan" "--replan-after-h 4" "--no-replan --db $OUT/plant.db"; do
  tag=$(echo "$mode" | sed 's/--db .*/db/; s/[^a-z0-9]//g')
  echo "== $PIN atmpflow plant run ... $mode"
  /usr/bin/time -f "%e s wall, %U s user, %M KiB peak" $PIN "$BIN" --force plant run \
    examples/recipes/car-t-modular.toml --equipment "$OUT/inventory.toml" --orders "$OUT/orders.csv" \
    --horizon-days 400 --iterations "$ITER" --speed max --quiet $mode --out "$OUT/run-$tag" 2>&1 | tail -2
  python3 - "$OUT/run-$tag/summary.json" "$mode" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); r = s["runs"][0]
ratio = r["end_h"] * 3600 / s["wall_seconds"]
print(f'{sys.argv[2]}: {r["released"]} released, {r["lost"]} lost, {r["replans"]} re-plans, '
      f'{r["moves"]} moves, {r["events"]} events, {r["end_h"]:.0f} simulated h in '
      f'{s["wall_seconds"]:.2f} s wall (run loop) = {ratio:,.0f}x real time; '
      f'vein-to-vein {r["vein_to_vein_mean_days"]:.2f} d')
d = s.get("db")
if d:
    print(f'  stored in {d["engine"]}: {d["requests"]} requests, {d["entries"]} entries in '
          f'{d["write_seconds"]:.2f} s = {d["requests_per_second"]:,.0f} requests/s, '
          f'{d["entries_per_second"]:,.0f} entries/s')
PY
  cut -d, -f6 "$OUT/run-$tag/batches.csv" | sed 1d | sed 's/:.*//' | sort | uniq -c
done
if [ -f "$OUT/plant.db" ]; then
  /usr/bin/time -f "batch verify: %e s wall" "$BIN" batch verify --db "$OUT/plant.db" | tail -1
fi
