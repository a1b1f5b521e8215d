#!/usr/bin/env bash
# Runs every example through an atmpflow binary (simulate with fixed seeds and few
# replications, compare, study, schedule on a scenario and on benchmark instances with an
# iteration limit, recipe check/bind/diff/plan on a fixed date, aas export) and writes all
# outputs into one folder. Given a reference (a folder written before, or another binary),
# compares the two folders byte for byte and exits 1 on any difference.
#
#   scripts/byte-identical.sh BIN OUT_DIR              # write the outputs of BIN into OUT_DIR
#   scripts/byte-identical.sh BIN OUT_DIR REFERENCE    # ... and compare with REFERENCE
#                                                      #     (a folder, or a binary run into OUT_DIR.ref)
#
# Solver runs are bounded by iterations, with a time limit far beyond what they need, so
# they are reproducible. The wall-clock time of the benchmark mode (`time_seconds`) and the
# output folder named in messages are removed before comparing. Needs: python3.
# Takes about a minute with a debug build.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 BIN OUT_DIR [REFERENCE_DIR_OR_BIN]" >&2; exit 2; }
BIN=$(realpath "$1")
OUT=$2
DATA=${DATA:-../shared/data}   # the benchmark instances (sibling checkout ../shared)
AS_OF=2026-06-01

run_all() {
    local bin=$1 out=$2
    rm -rf "$out"
    mkdir -p "$out"
    local f name
    for f in examples/*.toml; do
        name=$(basename "$f" .toml)
        "$bin" simulate "$f" --seed 11 --replications 3 --threads 2 --quiet --out "$out/simulate/$name"
    done
    "$bin" simulate examples/strategy-b-farming-matrix.toml --seed 7 --replications 3 --threads 1 \
        --cost examples/costs/shared.cost.toml --cost examples/costs/strategy-b-farming-matrix.cost.toml --quiet --out "$out/simulate-cost"
    "$bin" compare examples/strategy-a-integrated.toml examples/strategy-a-two-areas.toml \
        --replications 3 --threads 2 --quiet --out "$out/compare-a" >"$out/compare-a.txt"
    "$bin" compare examples/concept-*.toml --seed 5 --replications 2 --threads 2 --quiet --out "$out/compare-concepts" >"$out/compare-concepts.txt"
    for f in examples/studies/*.toml; do
        name=$(basename "$f" .toml)
        "$bin" study "$f" --replications 2 --threads 2 --quiet --out "$out/study/$name"
    done
    "$bin" study examples/studies/incubators-by-demand.toml --replications 2 --shard 0/2 --quiet --out "$out/shards"
    "$bin" study examples/studies/incubators-by-demand.toml --replications 2 --shard 1/2 --quiet --out "$out/shards"
    "$bin" study merge "$out"/shards/study-part-*.json --quiet --out "$out/study-merged"
    rm -rf "$out/shards"
    "$bin" schedule examples/concept-3-modular-plant.toml --orders examples/schedule/concept-3-orders.csv \
        --iterations 200 --time-limit 100000 --quiet --out "$out/schedule-plan"
    "$bin" schedule examples/concept-3-modular-plant.toml --orders examples/schedule/concept-3-orders.csv \
        --objective twt,makespan --seed 3 --iterations 100 --time-limit 100000 --quiet --out "$out/schedule-plan-twt"
    mkdir -p "$out/schedule-bench"
    "$bin" schedule --format hfs "$DATA/hfs/instances/0.txt" --quiet --json "$out/schedule-bench/hfs0.json" \
        --csv "$out/schedule-bench/hfs0.csv"
    "$bin" schedule --format hfs "$DATA/hfs/instances/100.txt" --iterations 50 --time-limit 100000 --exact off \
        --quiet --json "$out/schedule-bench/hfs100.json"
    "$bin" schedule --format taillard "$DATA/taillard/instances/Ta001.txt" --iterations 50 --time-limit 100000 --exact off \
        --quiet --json "$out/schedule-bench/ta001.json"
    "$bin" schedule --format hfs "$DATA/hfs/instances/5.txt" --iterations 10 --time-limit 100000 --exact off --shelf-life-seed 1 \
        --write-instance "$out/schedule-bench/5w.txt" --quiet --json "$out/schedule-bench/shelf.json"
    mkdir -p "$out/recipe"
    "$bin" recipe check examples/recipes/*.toml examples/equipment/*.toml examples/recipes/records/*.toml \
        >"$out/recipe/check.txt" 2>&1
    for r in all-in-one modular; do
        local inv=examples/equipment/modular-plant.toml
        [ $r = all-in-one ] && inv=examples/equipment/all-in-one.toml
        "$bin" recipe bind "examples/recipes/car-t-$r.toml" -e "$inv" --as-of $AS_OF \
            -o "$out/recipe/bind-$r.json" >"$out/recipe/bind-$r.txt" 2>&1
        "$bin" recipe plan "examples/recipes/car-t-$r.toml" -e "$inv" --as-of $AS_OF \
            -o "$out/recipe/plan-$r.toml" >"$out/recipe/plan-$r.txt" 2>&1
    done
    "$bin" recipe diff examples/recipes/car-t-modular.toml -r examples/recipes/records/car-t-modular-batch-0042.toml \
        -e examples/equipment/modular-plant.toml >"$out/recipe/diff.txt" 2>&1
    "$bin" recipe diff examples/recipes/car-t-modular.toml -r examples/recipes/records/car-t-modular-batch-0042.toml \
        -b "$out/recipe/bind-modular.json" --json >"$out/recipe/diff.json" 2>&1
    "$bin" aas export --demo --as-of $AS_OF "$out/aas-demo" >"$out/aas-demo.txt" 2>&1
    "$bin" aas export --inventory examples/equipment/all-in-one.toml --inventory examples/equipment/modular-plant.toml \
        --batch examples/twins/demo-batch.toml --record examples/recipes/records/car-t-modular-batch-0042.toml \
        --recipe examples/recipes/car-t-modular.toml --as-of $AS_OF "$out/aas-files" >"$out/aas-files.txt" 2>&1
    "$bin" aas check "$out"/aas-files/*.json >"$out/aas-check.txt" 2>&1
    "$bin" schema >"$out/schema.json"
    # messages name the output folder, which differs between the two runs
    find "$out" -name '*.txt' -exec sed -i "s|$out/|OUT/|g" {} +
    # the wall-clock time of the benchmark mode is the one field that differs between runs
    python3 - "$out/schedule-bench" <<'PY'
import json, pathlib, sys
for p in pathlib.Path(sys.argv[1]).glob("*.json"):
    d = json.loads(p.read_text())
    d.pop("time_seconds", None)
    p.write_text(json.dumps(d, indent=1, sort_keys=True) + "\n")
PY
}

run_all "$BIN" "$OUT"
echo "outputs of $BIN in $OUT ($(find "$OUT" -type f | wc -l) files)"
if [ $# -ge 3 ]; then
    REF=$3
    if [ -f "$REF" ]; then
        run_all "$(realpath "$REF")" "$OUT.ref"
        REF=$OUT.ref
    fi
    if diff -r "$REF" "$OUT"; then
        echo "byte-identical: $(find "$OUT" -type f | wc -l) files"
    else
        echo "outputs differ from $REF" >&2
        exit 1
    fi
fi
