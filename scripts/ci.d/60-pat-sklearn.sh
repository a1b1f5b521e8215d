#!/usr/bin/env bash
# The soft sensor (`atmpflow pat fit|predict`) against scikit-learn's PLSRegression and SciPy's
# savgol_filter on scikit-learn's shipped data sets and on generated spectra: predictions,
# Hotelling T², Q residuals, their limits and RMSECV agree to 1e-8 relative
# (scripts/pat/pls_vs_sklearn.py says how each is compared).
# Needs: python3 with venv (Debian: python3-venv). Network: PyPI only. ~1 min (first run
# installs the venv).
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/lib/venv.sh
pinned_venv_pins pls scikit-learn==1.7.2 scipy==1.15.3 numpy==2.2.6

cargo build --locked -p atmpflow
BIN="${CARGO_TARGET_DIR:-target}/debug/atmpflow"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

timeout 300 "$VENV/bin/python" scripts/pat/pls_vs_sklearn.py "$BIN" "$WORK"
echo "pat vs scikit-learn: ok"
