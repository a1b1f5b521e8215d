#!/usr/bin/env bash
# Device stream load benchmark (issue #16 item 6, second figure; not a timed test).
#
#   benches/device_stream.sh [--seconds 120] [--paced-seconds 60] [--db PATH|postgres://URL]
#
# 50 devices each stream 10 values/s (the issue's figure) of one monitored series into the
# batch engine and the store: one `record series` request per device per second (a block of
# 10 samples), one transaction each, through store::batch::execute as the server runs it.
# Each device belongs to its own batch of the example CAR-T recipe standing in its thaw step
# (crates/store/examples/device_stream.rs). Release build, pinned to one core (taskset -c 0).
#   1. flat out: SECONDS stream seconds sent as fast as the engine and the store take them:
#      sustained values/s against the 500 values/s the devices produce, and latency early and
#      late in the run;
#   2. paced: PACED_SECONDS in real time: lag from a block's last sample to its commit.
# The default database is a new SQLite file in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_FLAT=120; PACED=60; DB=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_FLAT=$2; shift 2;;
    --paced-seconds) PACED=$2; shift 2;;
    --db) DB=(--db "$2"); shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
cargo build --release --locked -p store --example device_stream
BIN="${CARGO_TARGET_DIR:-target}/release/examples/device_stream"
echo "commit $(git rev-parse --short HEAD); $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== flat out, ${SECONDS_FLAT} s of stream"
taskset -c 0 "$BIN" --devices 50 --rate 10 --block-ms 1000 --seconds "$SECONDS_FLAT" "${DB[@]}"
if [ "$PACED" -gt 0 ]; then
  echo "== paced (real time), ${PACED} s"
  taskset -c 0 "$BIN" --devices 50 --rate 10 --block-ms 1000 --seconds "$PACED" --paced "${DB[@]}"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
