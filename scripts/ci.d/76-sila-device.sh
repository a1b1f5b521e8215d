#!/usr/bin/env bash
# The SiLA 2 adapter (crates/sila) against the test cell counter
# (scripts/devices/sila_cell_counter/server.py, PyPI sila2 pinned): identity, properties,
# a subscription, a normal count with progress (plain and TLS with a self-signed certificate
# made by the test), and each switchable fault — a defined execution error, the server
# vanishing mid-command, a stalled command, an out-of-range value — ending in a clear error
# that names device, command and cause within its time limit. Then the client against the
# SiLA 2 interoperability tester's server (sila2-interop-communication-tester, pinned):
# observable command Count (progress, intermediate responses, result) and the error commands
# of ErrorHandlingTest, with the tester's own verdict on those 6 of its tests. Then the
# counter registered in the AAS registry and a batch bound against it (below).
# Needs: python3 with venv (Debian: python3-venv). Network: PyPI only.
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/lib/venv.sh
pinned_venv_pins sila2 sila2==0.14.0 sila2-interop-communication-tester==0.10.3

export ATMPFLOW_SILA_PYTHON="$VENV/bin/python"
timeout 900 cargo test -p sila --locked --test sila_device --test interop -- --ignored --test-threads 1
# Registration of the SiLA 2 counter in the AAS registry of `atmpflow serve`: its nameplate
# from its SiLAService information, its programs from its features' commands; then a batch
# bound against the registry on the counter and the OPC UA test bioreactor (asyncua, the
# venv of 75) — crates/cli/tests/device_registry.rs, test sila_….
pinned_venv_pins opcua "asyncua==2.1.0"
export ATMPFLOW_OPCUA_PYTHON="$VENV/bin/python"
timeout 900 cargo test -p atmpflow --locked --test device_registry sila_ -- --ignored --test-threads 1
echo "SiLA 2 device check (sila2 0.14.0, interop tester 0.10.3 on 6 client tests; registration and binding): passed"
