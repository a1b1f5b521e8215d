#!/usr/bin/env bash
# Peer benchmark: the expansion-feeding MPC of atmpflow (pat::mpc: SQP, QPs by clarabel,
# predictions by Dormand-Prince) against the same problem in do-mpc (orthogonal collocation,
# IPOPT), closed loop on the nominal model with the exact state, both on one thread.
# Prints final viable cells and medium used of both (must agree within 2 % and 5 %; exit
# status 1 otherwise), the largest difference of an applied rate and the time per MPC step.
#
#   benches/mpc_vs_dompc.sh [DAYS]     (default 6: 24 control steps of 6 h)
#
# Needs python3 with venv (Debian: python3-venv). Network: PyPI only (do-mpc, CasADi).
set -euo pipefail
cd "$(dirname "$0")/.."
DAYS="${1:-6}"

. scripts/lib/venv.sh
pinned_venv_pins dompc do-mpc==5.1.2 casadi==3.8.2 numpy==2.4.6 scipy==1.17.1

cargo build --release --locked -p pat --example mpc_closed_loop
EXAMPLE="${CARGO_TARGET_DIR:-target}/release/examples/mpc_closed_loop"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
"$EXAMPLE" "$DAYS" > "$WORK/rust.json"
OMP_NUM_THREADS=1 "$VENV/bin/python" -W ignore benches/peers/mpc_dompc.py "$WORK/rust.json" --compare
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
