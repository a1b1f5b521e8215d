#!/usr/bin/env bash
# Speed ratio of the atmpflow simulator to its SimPy peer, measured in alternated pairs: each
# pair runs the engine (RUST_REPS replications) and then the SimPy model (SIMPY_REPS), both on
# ONE thread, and takes the ratio of their replications per CPU second (each program measures
# its own CPU time, start-up excluded). Pairing keeps the ratio meaningful when the machine's
# speed drifts; the median over the pairs is the figure to quote, min and max show the noise.
#
#   nice benches/sim_vs_simpy_pairs.sh [MODEL] [PAIRS] [RUST_REPS] [SIMPY_REPS]
#
# MODEL is `strategy-a` (default) or `farming`; PAIRS defaults to 15, RUST_REPS to 1000,
# SIMPY_REPS to 40. Needs python3 with venv (Debian: python3-venv). Network: PyPI only (simpy).
# The agreement of the figures is checked by benches/sim_vs_simpy.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL="${1:-strategy-a}"
PAIRS="${2:-15}"
RUST_REPS="${3:-1000}"
SIMPY_REPS="${4:-40}"
case "$MODEL" in
strategy-a) SCENARIO=benches/strategy-a-peer.toml PEER=benches/peers/strategy_a_simpy.py ;;
farming) SCENARIO=benches/farming-matrix-500.toml PEER=benches/peers/farming_matrix_simpy.py ;;
*) echo "MODEL must be strategy-a or farming, not '$MODEL'" >&2; exit 2 ;;
esac
. scripts/lib/venv.sh
pinned_venv simpy simpy 4.1.1

cargo build --release --locked -p sim --example bench
BENCH="${CARGO_TARGET_DIR:-target}/release/examples/bench"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $MODEL, $PAIRS pairs of" \
    "$RUST_REPS atmpflow and $SIMPY_REPS SimPy replications"
for i in $(seq 1 "$PAIRS"); do
    "$BENCH" "$SCENARIO" --reps "$RUST_REPS" --threads 1 >"$WORK/r.json"
    "$VENV/bin/python" "$PEER" --reps "$SIMPY_REPS" --scenario "$SCENARIO" >"$WORK/s.json"
    python3 - "$WORK/r.json" "$WORK/s.json" <<'PY' >>"$WORK/pairs.txt"
import json, sys
r, s = (json.load(open(p)) for p in sys.argv[1:3])
print(r["reps_per_cpu_second"], s["reps_per_cpu_second"])
PY
done
python3 - "$WORK/pairs.txt" <<'PY'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
ratios = sorted(a / b for a, b in rows)
print("pair ratios (sorted):", " ".join(f"{x:.1f}" for x in ratios))
print(f"atmpflow reps per CPU s: median {statistics.median(a for a, _ in rows):.1f}")
print(f"SimPy reps per CPU s:    median {statistics.median(b for _, b in rows):.2f}")
print(f"ratio per CPU s: median {statistics.median(ratios):.1f}x "
      f"(min {ratios[0]:.1f}x, max {ratios[-1]:.1f}x, {sum(x >= 50 for x in ratios)} of "
      f"{len(ratios)} pairs at 50x or more)")
PY
