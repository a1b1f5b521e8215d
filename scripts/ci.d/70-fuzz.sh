#!/usr/bin/env bash
# Coverage-guided fuzzing of every reader of untrusted input: the libFuzzer targets in fuzz/
# (scenario, recipe, record, aas_json, api_query; their properties are in crates/fuzz), each
# run for FUZZ_SECONDS (default 45) from the committed corpus fuzz/corpus/NAME/. New inputs go
# to a scratch folder, the committed corpus is only read. A crash, panic, timeout (10 s per
# input) or memory blow-up (2 GiB) fails the check after all targets ran; the reproducing
# input is printed (base64 and escaped text) together with the command that replays it.
# Needs: cargo-fuzz from crates.io (installed here, pinned) and the stable toolchain: with
# `--sanitizer none` cargo-fuzz needs no nightly compiler (libFuzzer's coverage
# instrumentation is a stable -C flag; the sanitizers are what would need nightly).
# Bounded: the 5 targets in ceil(5 / FUZZ_JOBS) rounds of FUZZ_SECONDS after the instrumented
# build (~4 min cold on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."

CARGO_FUZZ_VERSION=0.13.2
SECONDS_EACH="${FUZZ_SECONDS:-45}"
if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

TARGET_DIR="${CARGO_TARGET_DIR:-target}/fuzz"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

targets=$(sed -n 's/^name = "\([a-z_]*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^atmpflow')
# The fuzz workspace builds the workspace's crates with the versions of the workspace's
# Cargo.lock (copied in; fuzz/Cargo.lock is not kept); only libFuzzer's own crates are added,
# libfuzzer-sys pinned in fuzz/Cargo.toml.
cp Cargo.lock fuzz/Cargo.lock
cargo fuzz build --sanitizer none --target-dir "$TARGET_DIR"

# Each libFuzzer run is one process on one core: the targets run side by side, as many at
# once as the machine has cores (FUZZ_JOBS overrides), each for the full FUZZ_SECONDS. The
# logs are read in target order once all have ended.
JOBS="${FUZZ_JOBS:-$(nproc)}"
fuzz_one() {
    local t="$1"
    mkdir -p "$WORK/corpus/$t" "$WORK/artifacts/$t"
    local rc=0
    cargo fuzz run --sanitizer none --target-dir "$TARGET_DIR" "$t" \
        "$WORK/corpus/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$WORK/artifacts/$t/" \
        >"$WORK/$t.log" 2>&1 || rc=$?
    echo "$rc" >"$WORK/$t.rc"
}
echo "== fuzz: $(echo $targets | wc -w) targets, ${SECONDS_EACH} s each, $JOBS at a time"
for t in $targets; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
        wait -n || true
    done
    fuzz_one "$t" &
done
wait

failed=""
for t in $targets; do
    echo "== fuzz $t (${SECONDS_EACH} s)"
    if [ "$(cat "$WORK/$t.rc" 2>/dev/null || echo missing)" != 0 ]; then
        tail -n 60 "$WORK/$t.log"
        for a in "$WORK/artifacts/$t"/*; do
            [ -e "$a" ] || continue
            echo "-- reproducer $(basename "$a") for target $t (base64):"
            base64 -w 0 "$a"
            echo
            echo "-- as text:"
            head -c 2000 "$a" | od -c | head -n 40
            echo "-- replay: save the base64 above to FILE, then: cargo fuzz run -s none $t FILE"
        done
        failed="$failed $t"
    else
        grep -E "^stat::(number_of_executed_units|peak_rss_mb)|Done [0-9]+ runs" "$WORK/$t.log" || true
    fi
done
if [ -n "$failed" ]; then
    echo "fuzzing found failures in:$failed" >&2
    exit 1
fi
echo "fuzz: every target ran ${SECONDS_EACH} s without a failure"
