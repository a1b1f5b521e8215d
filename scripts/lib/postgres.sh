# Sourced by .ci/run (and by anyone who wants the PostgreSQL tests locally):
# starts a throw-away PostgreSQL server from the Debian packages under a
# temporary directory, on a loopback port, as the unprivileged `postgres`
# user (the server refuses to run as root), creates the test database and
# exports ATMPFLOW_TEST_PG=postgres://postgres@127.0.0.1:PORT/atmpflow_test.
# Needs the Debian package `postgresql` (installed by .ci/run).
# The server stops when the sourcing shell exits (stop_test_postgres).

start_test_postgres() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        echo "PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)" >&2
        return 1
    fi
    PG_DIR=$(mktemp -d /var/tmp/atmpflow-pg.XXXXXX)
    PG_PORT=${ATMPFLOW_PG_PORT:-55432}
    # the first free loopback port from there
    while (echo > "/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null; do PG_PORT=$((PG_PORT + 1)); done
    local as=()
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$PG_DIR"
        as=(runuser -u postgres --)
    fi
    "${as[@]}" "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 > "$PG_DIR/initdb.log" 2>&1 \
        || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    "${as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on" start > /dev/null \
        || { cat "$PG_DIR/server.log" >&2; return 1; }
    PG_CTL="$bin/pg_ctl"
    PG_AS=("${as[@]}")
    "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -q -c "CREATE DATABASE atmpflow_test" postgres
    export ATMPFLOW_TEST_PG="postgres://postgres@127.0.0.1:$PG_PORT/atmpflow_test"
    echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') for the tests: $ATMPFLOW_TEST_PG"
}

stop_test_postgres() {
    if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
        "${PG_AS[@]}" "$PG_CTL" -D "$PG_DIR/data" -m fast stop > /dev/null 2>&1 || true
        rm -rf "$PG_DIR"
    fi
}

# fresh_pg_url NAME: creates schema NAME_<pid> in the test database and prints a URL whose
# connections use it (so runs do not see each other's tables).
fresh_pg_url() {
    local schema="$1_$$"
    psql "$ATMPFLOW_TEST_PG" -q -c "CREATE SCHEMA $schema" >&2
    echo "$ATMPFLOW_TEST_PG?options=-c%20search_path%3D$schema"
}
