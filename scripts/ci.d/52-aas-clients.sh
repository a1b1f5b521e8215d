#!/usr/bin/env bash
# `atmpflow serve --demo` driven by a third-party AAS client from PyPI: aas-http-client (its
# basyx-python-sdk wrapper and its JSON client, with `Authorization: Bearer` tokens made by
# the CLI) through reads, writes of shells, submodels and submodel elements, the AAS and
# Submodel Registries and Discovery; everything is then read back and checked with
# basyx-python-sdk and aas-core3.0 (every shell and submodel deserialised and verified).
# scripts/aas/client_check.py asserts status codes, counts and contents; any mismatch fails.
# Runs on each database engine (SQLite; PostgreSQL when ATMPFLOW_TEST_PG is set).
# Needs: python3 with venv (Debian: python3-venv), curl. Network: PyPI only.
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/lib/venv.sh
pinned_venv_pins aas-clients aas-http-client==1.2.2 basyx-python-sdk==2.2.0 aas-core3.0==1.1.4

. scripts/lib/demo-server.sh

check_on() {  # database
    local db=$1
    start_demo_server "$db"
    echo "database: ${db%%\?*}"
    # a second user with the reader role only: writes must be refused (403)
    "$BIN" user list --db "$DEMO_DB" 2>/dev/null | cut -f1 | grep -qx ci-reader \
        || "$BIN" user add ci-reader --role reader --display-name "CI reader" --no-password --db "$DEMO_DB"
    READER_TOKEN=$("$BIN" token create --user ci-reader --label "CI checks" --expires-in-days 1 --db "$DEMO_DB")
    timeout 600 "$VENV/bin/python" scripts/aas/client_check.py "$BASE" "$TOKEN" "$READER_TOKEN"
}
on_each_database check_on
echo "AAS client check (aas-http-client 1.2.2): passed on each of $DATABASES_CHECKED database engine(s)"
