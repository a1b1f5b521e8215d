#!/usr/bin/env bash
# The expansion of the example CAR-T recipe runs on the OPC UA test bioreactor
# (scripts/devices/opcua_bioreactor.py, asyncua) through crates/devices' async-opcua client:
# a normal run with the device's values and source timestamps in the batch record, and each
# injected fault (a short disconnect, a lasting one, a bad status code, a failing program)
# ending in a retry entry or a deviation (crates/devices/tests/opcua_bioreactor.rs); and the
# same over SignAndEncrypt Basic256Sha256 with certificates made at test time
# (scripts/devices/make_test_certs.py, cryptography from the same venv): a secured run, a
# wrong pinned server certificate refused, an untrusted client certificate refused.
# Needs: python3 with venv (Debian: python3-venv). Network: PyPI only (asyncua). About 1 min
# after the build (each test starts its own device, which takes a few seconds to come up).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/venv.sh

ASYNCUA_VERSION=2.1.0
pinned_venv_pins opcua "asyncua==$ASYNCUA_VERSION"
export ATMPFLOW_OPCUA_PYTHON="$VENV/bin/python"
cargo test --locked -p devices --test opcua_bioreactor -- --ignored --test-threads=1
# Device registration and batch binding end to end: `atmpflow serve` (SQLite) and the
# bioreactor: its twin registered with its programs, `device check` (an unregistered device
# refused), `batch dry-run --devices --registry` refusing an unregistered, unqualified,
# programless or worn-out device before any step runs and running the batch on it when all
# is in order, its usage counter written back after the run
# (crates/cli/tests/device_registry.rs; the SiLA 2 test there is 76's).
cargo test --locked -p atmpflow --test device_registry -- --include-ignored --skip sila_ --test-threads=1
