# Sourced by the CI checks that talk to a running `atmpflow serve --demo`.
# Builds the release binary, makes a work directory removed on exit, and provides
# start_demo_server, which serves the demo twins (qualification judged on 2026-12-01) on a free
# loopback port and sets BASE to the API's base URL once /description answers.
# Sets: BIN, WORK, SERVER_PID, BASE.

cargo build --release --locked -p atmpflow
BIN="${CARGO_TARGET_DIR:-target}/release/atmpflow"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

start_demo_server() {
    "$BIN" serve --demo --as-of 2026-12-01 --db "$WORK/twins.redb" --bind 127.0.0.1:0 > "$WORK/serve.out" 2> "$WORK/serve.log" &
    SERVER_PID=$!
    BASE=""
    for _ in $(seq 1 100); do
        BASE=$(grep -o 'http://[^ ]*' "$WORK/serve.out" 2>/dev/null || true)
        [ -n "$BASE" ] && curl -fsS "$BASE/description" > /dev/null 2>&1 && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }
        sleep 0.1
    done
    curl -fsS "$BASE/description" > /dev/null
}
