#!/usr/bin/env bash
# The expansion-feeding MPC (pat::mpc) against do-mpc on the same problem: closed loop over
# 6 days on the nominal model; final viable cells within 2 %, medium used within 5 %
# (benches/peers/mpc_dompc.py). Timings are not judged here (a debug build); the timed
# comparison is benches/mpc_vs_dompc.sh.
# Needs: python3 with venv (Debian: python3-venv). Network: PyPI only. About 30 s once the
# venv exists (its first install takes 1-2 min).
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/lib/venv.sh
pinned_venv_pins dompc do-mpc==5.1.2 casadi==3.8.2 numpy==2.4.6 scipy==1.17.1

cargo build --locked -p pat --example mpc_closed_loop
EXAMPLE="${CARGO_TARGET_DIR:-target}/debug/examples/mpc_closed_loop"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

"$EXAMPLE" 6 > "$WORK/rust.json"
timeout 300 "$VENV/bin/python" -W ignore benches/peers/mpc_dompc.py "$WORK/rust.json" --compare
echo "pat MPC vs do-mpc: ok"
