#!/usr/bin/env bash
# Peer benchmark: the atmpflow simulator against the same models written in SimPy, both on ONE
# thread, one model after the other, each pair in the same run:
#   farming matrix  benches/farming-matrix-500.toml  benches/peers/farming_matrix_simpy.py
#   Strategy A      benches/strategy-a-peer.toml     benches/peers/strategy_a_simpy.py
# Prints for each model the replications per CPU second of each, the speed ratio, and every
# key figure with its 95 % interval from both, with whether the intervals overlap (exit
# status 1 if one does not).
#
#   nice benches/sim_vs_simpy.sh [RUST_REPS] [SIMPY_REPS] [MODEL]   (defaults 200, 20, both)
#
# MODEL is `farming` or `strategy-a`. Needs python3 with venv (Debian: python3-venv).
# Network: PyPI only (simpy).
set -euo pipefail
cd "$(dirname "$0")/.."

RUST_REPS="${1:-200}"
SIMPY_REPS="${2:-20}"
ONLY="${3:-}"
SIMPY_VERSION=4.1.1
. scripts/lib/venv.sh
pinned_venv simpy simpy "$SIMPY_VERSION"

cargo build --release --locked -p atmpflow
cargo build --release --locked -p sim --example bench
TARGET="${CARGO_TARGET_DIR:-target}"
BIN="$TARGET/release/atmpflow"
BENCH="$TARGET/release/examples/bench"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "rustc: $(rustc --version); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

status=0
for pair in farming:farming-matrix-500.toml:farming_matrix_simpy.py \
    strategy-a:strategy-a-peer.toml:strategy_a_simpy.py; do
    IFS=: read -r name scenario peer <<<"$pair"
    [ -n "$ONLY" ] && [ "$ONLY" != "$name" ] && continue
    SCENARIO="benches/$scenario"
    echo
    echo "## $name: $SCENARIO vs benches/peers/$peer"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    "$BENCH" "$SCENARIO" --reps "$RUST_REPS" --threads 1 > "$WORK/rust.json"
    "$VENV/bin/python" "benches/peers/$peer" --reps "$SIMPY_REPS" \
        --scenario "$SCENARIO" > "$WORK/simpy.json"
    # The full command-line run (parsing, simulation and writing the report) for reference.
    start=$EPOCHREALTIME
    "$BIN" simulate "$SCENARIO" --threads 1 --replications "$RUST_REPS" --quiet \
        --out "$WORK/out-$name"
    end=$EPOCHREALTIME
    echo "atmpflow simulate --threads 1 --replications $RUST_REPS (incl. report files):" \
        "$(awk "BEGIN { printf \"%.2f\", $end - $start }") s wall"
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    python3 benches/peers/compare.py "$WORK/rust.json" "$WORK/simpy.json" || status=1
done
exit $status
