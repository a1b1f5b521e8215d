#!/usr/bin/env bash
# Proof check of the evidence on the hybrid-flow-shop best-known values quoted in
# docs/benchmarks.md: OR-Tools CP-SAT, on the exact cumulative model of instances 190 and 220,
# proves that no plan reaches the listed best-known makespan (benches/hfs_bound_proof.py).
# The model itself is checked on the toy instance (optimum 28: 27 refuted, 28 reached with a
# plan that passes the script's own plan check) and the plan check on plans it must reject.
# Deterministic-time limits and a fixed seed on one worker: the same verdict on every run.
# Needs: python3 with venv (Debian: python3-venv). Network: PyPI only (ortools). ~1 min.
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/lib/venv.sh
pinned_venv cpsat ortools "$CPSAT_ORTOOLS_VERSION"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

PY="$VENV/bin/python"
# (outputs go to files first: `grep -q` in a pipe may close it before the script is done)
"$PY" benches/hfs_bound_proof.py --data ../shared/data/hfs --ids 0 --makespan 27 > "$WORK/toy27.txt"
"$PY" benches/hfs_bound_proof.py --data ../shared/data/hfs --ids 0 --makespan 28 > "$WORK/toy28.txt"
grep -q "makespan    27  refuted" "$WORK/toy27.txt"
grep -q "makespan    28  reached" "$WORK/toy28.txt"
"$PY" - <<'CHECK'
import importlib.util
spec = importlib.util.spec_from_file_location("proof", "benches/hfs_bound_proof.py")
proof = importlib.util.module_from_spec(spec)
spec.loader.exec_module(proof)
# two jobs, two stages, one machine each
p = [[2, 3], [4, 1]]
ok = [[0, 2], [2, 6]]
assert proof.check_plan(2, 2, [1, 1], p, ok, 7) is None
assert "starts before" in proof.check_plan(2, 2, [1, 1], p, [[0, 1], [2, 6]], 7)
assert "more than 1" in proof.check_plan(2, 2, [1, 1], p, [[0, 2], [1, 6]], 7)
assert "outside" in proof.check_plan(2, 2, [1, 1], p, ok, 6)
assert proof.check_plan(2, 2, [2, 1], p, [[0, 2], [0, 5]], 6) is None
CHECK
timeout 300 "$PY" benches/hfs_bound_proof.py --data ../shared/data/hfs \
    --ids "190 220" --dtime 2 --out "$WORK/proofs.csv" | tee "$WORK/proofs.txt"
grep -q "^   190 50x10x3   best-known  1230  refuted  proven lower bound 1231" "$WORK/proofs.txt"
grep -q "^   220 50x10x3   best-known  1188  refuted  proven lower bound 1189" "$WORK/proofs.txt"
grep -q "^refuted 2, reached 0, open 0 of 2$" "$WORK/proofs.txt"
echo "hfs bound proof: ok"
