#!/usr/bin/env bash
# The plan API of `atmpflow serve` (/api/plan/v1) checked against its own OpenAPI description,
# docs/plan-api.openapi.yaml, with schemathesis: no server error (5xx), every status code
# declared by the operation, declared content types and headers, every response body valid
# against the declared schema, and undeclared methods answered 405 with an `Allow` header.
# The database holds one plan of the two-product example (made through the API with a fixed
# iteration count) and a user with the roles planner and reader whose API token authenticates
# the calls; the path parameter `id` is pinned to that plan, so promise, bookings and replan
# reach a real plan (random bodies are refused by their checks; a request that passes them
# stores a version, which is fine). A second run without a token must get only declared
# answers too (401). On each database engine (SQLite; PostgreSQL when ATMPFLOW_TEST_PG is set).
# Few examples per operation (-n 10): the PostgreSQL schemathesis suites are the slowest step
# of CI already. Not run: `positive_data_acceptance` — the schema types scenario, orders and
# events as plain strings, while the server reads them (400 on schema-valid but malformed texts).
# Needs: python3 with venv, curl. Network: PyPI only.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV="${ATMPFLOW_VENV_DIR:-/var/tmp/atmpflow-venv}/openapi"
ST_VERSION=4.32.5
installed="$("$VENV/bin/schemathesis" --version 2>/dev/null || true)"
if [ "$installed" != "schemathesis, version $ST_VERSION" ]; then
    python3 -m venv "$VENV"
    timeout 600 "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi
SPEC="$PWD/docs/plan-api.openapi.yaml"

. scripts/lib/demo-server.sh

CONFIG="$WORK/schemathesis.toml"
cat > "$CONFIG" <<'TOML'
[parameters]
"path.id" = "plan-1"
TOML

CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,unsupported_method
check_on() {  # database
    local db=$1 auth header
    "$BIN" user add ci-plan --role planner,reader --display-name "CI Plan" --no-password --db "$db" > /dev/null
    PTOKEN="$("$BIN" token create --user ci-plan --label ci --db "$db" 2> /dev/null)"
    start_demo_server "$db"
    API="${BASE%/api/v3.0}/api/plan/v1"
    echo "database: ${db%%\?*}"
    python3 -c 'import json, sys; print(json.dumps({"scenario": open(sys.argv[1]).read(),
        "orders": open(sys.argv[2]).read(), "time_limit_s": 30, "iterations": 20}))' \
        examples/plant-two-products.toml examples/schedule/plant-two-products-orders.csv > "$WORK/plan.json"
    curl -fsS -H "Authorization: Bearer $PTOKEN" -H 'Content-Type: application/json' \
        --data-binary @"$WORK/plan.json" "$API/plans" | grep -q '"id":"plan-1"'
    for auth in token none; do
        header=()
        [ "$auth" = token ] && header=(-H "Authorization: Bearer $PTOKEN")
        if ! timeout 900 "$VENV/bin/schemathesis" --config-file "$CONFIG" run "$SPEC" --url "$API" --checks "$CHECKS" \
            --seed 1 --workers 1 --request-timeout 70 --no-color --suppress-health-check all -n 10 "${header[@]}" \
            > "$WORK/plan-$auth.log" 2>&1; then
            echo "schemathesis FAILED: plan API ($auth)" >&2
            sed -n '/FAILURES/,$p' "$WORK/plan-$auth.log" | head -120 >&2
            exit 1
        fi
        echo "plan API ($auth): $(grep -E 'Selected:|Tested:|generated,' "$WORK/plan-$auth.log" | tr -s ' ' | paste -sd ';')"
    done
    # the plan is still there and readable after the fuzzing
    curl -fsS -H "Authorization: Bearer $PTOKEN" "$API/plans/plan-1" | grep -q '"format":"atmpflow-plant-plan/1"'
}
on_each_database check_on
echo "plan OpenAPI conformance: $((2 * DATABASES_CHECKED)) schemathesis runs passed, 0 failed, on $DATABASES_CHECKED database engine(s)"
