# Sourced by the CI checks that talk to a running `atmpflow serve --demo`.
# Builds the release binary, makes a work directory removed on exit, and provides
# start_demo_server [DB], which serves the demo twins (qualification judged on 2026-12-01) on a
# free loopback port from database DB (default: a SQLite file in WORK) and sets BASE to the API's
# base URL once /description answers, and demo_databases, which lists the databases the checks
# run on: the SQLite file and, when ATMPFLOW_TEST_PG is set, a fresh PostgreSQL schema.
# Every request except /description and /health needs an API token: start_demo_server adds the
# user `ci` (admin, no password) with `atmpflow user add` and makes its token with
# `atmpflow token create`; TOKEN holds it and AUTH_HEADER the header line to send.
# on_each_database FN runs FN on each of those databases at the same time.
# Sets: BIN, WORK, SERVER_PID, BASE, TOKEN, AUTH_HEADER (and DATABASES_CHECKED after
# on_each_database).

. "$(dirname "${BASH_SOURCE[0]}")/postgres.sh"

# ATMPFLOW_BIN: use that binary instead of building the release one (local runs)
if [ -n "${ATMPFLOW_BIN:-}" ]; then
    BIN="$ATMPFLOW_BIN"
else
    cargo build --release --locked -p atmpflow
    BIN="${CARGO_TARGET_DIR:-target}/release/atmpflow"
fi

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

stop_demo_server() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    SERVER_PID=""
}

demo_databases() {
    echo "$WORK/twins-$RANDOM.db"
    if [ -n "${ATMPFLOW_TEST_PG:-}" ]; then fresh_pg_url "demo_$RANDOM"; fi
}

# check_databases N: fails unless N databases were listed (a PostgreSQL set-up that failed
# must not silently reduce the checks to SQLite)
check_databases() {
    local want=1
    [ -n "${ATMPFLOW_TEST_PG:-}" ] && want=2
    [ "$1" = "$want" ] || { echo "expected $want databases to check on, got $1" >&2; exit 1; }
}

# on_each_database FN: runs `FN DB` for every database of demo_databases, all at once: each in
# a subshell with a work directory and a server of its own (WORK and SERVER_PID are its own;
# its server is stopped when it ends). The engines share nothing, so the runs overlap on a
# machine with more than one core. Prints each run's output in the order of the databases once
# all have ended, and fails, naming them, if any run failed.
on_each_database() {
    local fn=$1 dbs i pids=() failed=()
    mapfile -t dbs < <(demo_databases)
    check_databases "${#dbs[@]}"
    for i in "${!dbs[@]}"; do
        mkdir -p "$WORK/run-$i"
        (
            WORK="$WORK/run-$i"
            SERVER_PID=""
            trap stop_demo_server EXIT
            "$fn" "${dbs[$i]}"
        ) > "$WORK/run-$i.out" 2>&1 &
        pids+=("$!")
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || failed+=("${dbs[$i]%%\?*}")
        cat "$WORK/run-$i.out"
    done
    if [ "${#failed[@]}" -gt 0 ]; then
        echo "failed on: ${failed[*]}" >&2
        return 1
    fi
    DATABASES_CHECKED=${#dbs[@]}
}

# start_demo_server [DB [SERVE ARGS…]]: serve DB (default a new file) with the demo twins
start_demo_server() {
    stop_demo_server
    DEMO_DB="${1:-$WORK/twins.db}"
    # the user may exist from an earlier start on the same database
    "$BIN" user list --db "$DEMO_DB" 2>/dev/null | cut -f1 | grep -qx ci \
        || "$BIN" user add ci --role admin --display-name "CI checks" --no-password --db "$DEMO_DB"
    TOKEN=$("$BIN" token create --user ci --label "CI checks" --expires-in-days 1 --db "$DEMO_DB")
    AUTH_HEADER="Authorization: Bearer $TOKEN"
    "$BIN" serve --demo --as-of 2026-12-01 --db "$DEMO_DB" --bind 127.0.0.1:0 "${@:2}" > "$WORK/serve.out" 2> "$WORK/serve.log" &
    SERVER_PID=$!
    BASE=""
    for _ in $(seq 1 100); do
        BASE=$(grep -o 'http://[^ ]*' "$WORK/serve.out" 2>/dev/null || true)
        [ -n "$BASE" ] && curl -fsS "$BASE/description" > /dev/null 2>&1 && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }
        sleep 0.1
    done
    curl -fsS "$BASE/description" > /dev/null
    # without the token the API refuses (401)
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/shells")" = 401 ] \
        || { echo "the server answered /shells without a token" >&2; exit 1; }
    curl -fsS -H "$AUTH_HEADER" "$BASE/shells?limit=1" > /dev/null
}
