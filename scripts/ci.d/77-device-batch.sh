#!/usr/bin/env bash
# Issue #16 "Done when": one batch of examples/recipes/car-t-modular-devices.toml, bound by
# examples/devices/test-devices.toml, whose expansion runs on the OPC UA test bioreactor
# (scripts/devices/opcua_bioreactor.py, asyncua) and whose cell count comes from the SiLA 2
# test cell counter (scripts/devices/sila_cell_counter/server.py, sila2), with faults
# injected: a short OPC UA disconnect (a retry entry), a bad status code (a refused value and
# a deviation) and a failing SiLA count (a deviation). The test
# (crates/devices/tests/device_batch.rs) asserts the record is complete — every device value
# with its source, every fault a retry entry or a deviation, the hash chain verifying — and
# prints the deviations.
# Needs: python3 with venv (Debian: python3-venv). Network: PyPI only (asyncua, sila2).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/venv.sh

pinned_venv_pins opcua "asyncua==2.1.0"
export ATMPFLOW_OPCUA_PYTHON="$VENV/bin/python"
pinned_venv_pins sila2 sila2==0.14.0 sila2-interop-communication-tester==0.10.3
export ATMPFLOW_SILA_PYTHON="$VENV/bin/python"
timeout 900 cargo test --locked -p devices --test device_batch -- --ignored --nocapture
echo "device batch (OPC UA bioreactor + SiLA 2 cell counter, faults injected): passed"
