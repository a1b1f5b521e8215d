#!/usr/bin/env bash
# Peer benchmark: the atmpflow simulator against the same model written in SimPy
# (benches/peers/farming_matrix_simpy.py) on benches/farming-matrix-500.toml, both on ONE thread.
# Prints replications per second of each, the speed ratio, and every key figure with its 95 %
# interval from both, with whether the intervals overlap (exit status 1 if one does not).
#
#   benches/sim_vs_simpy.sh [RUST_REPS] [SIMPY_REPS]     (defaults 200 and 20)
#
# Needs python3 with venv (Debian: python3-venv). Network: PyPI only (simpy).
set -euo pipefail
cd "$(dirname "$0")/.."

RUST_REPS="${1:-200}"
SIMPY_REPS="${2:-20}"
SCENARIO=benches/farming-matrix-500.toml
SIMPY_VERSION=4.1.1
VENV="${ATMPFLOW_VENV_DIR:-/var/tmp/atmpflow-venv}/simpy"
if ! "$VENV/bin/python" -c "import simpy, sys; sys.exit(simpy.__version__ != '$SIMPY_VERSION')" 2>/dev/null; then
    python3 -m venv "$VENV"
    timeout 300 "$VENV/bin/pip" install --quiet --disable-pip-version-check "simpy==$SIMPY_VERSION"
fi

cargo build --release --locked -p atmpflow
cargo build --release --locked -p sim --example bench
TARGET="${CARGO_TARGET_DIR:-target}"
BIN="$TARGET/release/atmpflow"
BENCH="$TARGET/release/examples/bench"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rustc: $(rustc --version)"

"$BENCH" "$SCENARIO" --reps "$RUST_REPS" --threads 1 > "$WORK/rust.json"
"$VENV/bin/python" benches/peers/farming_matrix_simpy.py --reps "$SIMPY_REPS" \
    --scenario "$SCENARIO" > "$WORK/simpy.json"

# The full command-line run (parsing, simulation and writing the report) for reference.
start=$EPOCHREALTIME
"$BIN" simulate "$SCENARIO" --threads 1 --replications "$RUST_REPS" --quiet --out "$WORK/out"
end=$EPOCHREALTIME
echo "atmpflow simulate --threads 1 --replications $RUST_REPS (incl. report files): $(awk "BEGIN { printf \"%.2f\", $end - $start }") s wall"
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

python3 benches/peers/compare.py "$WORK/rust.json" "$WORK/simpy.json"
