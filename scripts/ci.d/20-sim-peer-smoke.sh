#!/usr/bin/env bash
# Smoke check of the simulator's peer benchmark (the full run is benches/sim_vs_simpy.sh, too
# slow for CI): each SimPy model (farming matrix, Strategy A) still matches its scenario in
# benches/ field by field and still runs, and a few replications of each agree (every 95 %
# interval pair overlaps; with fixed seeds the verdict is the same on every run).
# Needs: python3 with venv (Debian: python3-venv). Network: PyPI only (simpy). ~1 min.
set -euo pipefail
cd "$(dirname "$0")/../.."

SIMPY_VERSION=4.1.1
. scripts/lib/venv.sh
pinned_venv simpy simpy "$SIMPY_VERSION"

cargo build --release --locked -p sim --example bench
BENCH="${CARGO_TARGET_DIR:-target}/release/examples/bench"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

for pair in farming-matrix-500.toml:farming_matrix_simpy.py:4 \
    strategy-a-peer.toml:strategy_a_simpy.py:8; do
    IFS=: read -r scenario peer simpy_reps <<<"$pair"
    timeout 120 "$BENCH" "benches/$scenario" --reps 20 --threads 1 > "$WORK/rust.json"
    timeout 120 "$VENV/bin/python" "benches/peers/$peer" --reps "$simpy_reps" \
        --scenario "benches/$scenario" > "$WORK/simpy.json"
    python3 benches/peers/compare.py "$WORK/rust.json" "$WORK/simpy.json" > "$WORK/table.md" \
        || { cat "$WORK/table.md" >&2; echo "sim peer smoke: atmpflow and SimPy disagree on $scenario" >&2; exit 1; }
    echo "$scenario: $(tail -1 "$WORK/table.md")"
done
echo "sim peer smoke: ok"
