#!/usr/bin/env bash
# The batch API of `atmpflow serve` (/api/batch/v1) checked against its own OpenAPI description,
# docs/batch-api.openapi.yaml, with schemathesis: no server error (5xx), every status code
# declared by the operation, declared content types and headers, every response body valid
# against the declared schema, and undeclared methods answered 405 with an `Allow` header.
# The database holds a rehearsed batch (`batch dry-run --db`) and a user with every batch role
# whose API token authenticates the calls; a second run without a token must get only
# declared answers too (401). On each database engine (SQLite; PostgreSQL when
# ATMPFLOW_TEST_PG is set). Not run: `positive_data_acceptance` — the schema types ids, DINs
# and recipe texts as plain strings, while the server checks them (400/422 on schema-valid
# but domain-invalid requests; see docs/batch.md). The events endpoint streams until the client
# goes; the runs pin its `timeout` parameter to 1 s (schemathesis.toml below), so each call
# receives the stored entries, waits a second for new ones and ends.
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
SPEC="$PWD/docs/batch-api.openapi.yaml"

. scripts/lib/demo-server.sh

CONFIG="$WORK/schemathesis.toml"
cat > "$CONFIG" <<'TOML'
[parameters]
"query.timeout" = 1
TOML

CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,unsupported_method
PASSWORD="ci password for the batch api"
check_on() {  # database
    local db=$1 auth header
    "$BIN" batch dry-run examples/recipes/car-t-modular.toml --equipment examples/equipment/modular-plant.toml \
        --seed 5 --db "$db" > "$WORK/dry-run.out"
    printf '%s\n' "$PASSWORD" | "$BIN" user add ci-batch --role planner,operator,qc,qa,qualified_person,clinic,reader \
        --display-name "CI Batch" --password-stdin --db "$db" > /dev/null
    BTOKEN="$("$BIN" token create --user ci-batch --label ci --db "$db" 2> /dev/null)"
    # a rehearsed batch makes a rehearsal database, served on its simulated clock
    start_demo_server "$db" --rehearsal-clock 2026-12-01T08:00:00Z
    API="${BASE%/api/v3.0}/api/batch/v1"
    echo "database: ${db%%\?*}"
    curl -fsS -H "Authorization: Bearer $BTOKEN" "$API/batches/DRYRUN-1/verify" | grep -q '"verified":true'
    for auth in token none; do
        header=()
        [ "$auth" = token ] && header=(-H "Authorization: Bearer $BTOKEN")
        if ! timeout 900 "$VENV/bin/schemathesis" --config-file "$CONFIG" run "$SPEC" --url "$API" --checks "$CHECKS" \
            --seed 1 --workers 1 --request-timeout 30 --no-color --suppress-health-check all -n 25 "${header[@]}" \
            > "$WORK/batch-$auth.log" 2>&1; then
            echo "schemathesis FAILED: batch API ($auth)" >&2
            sed -n '/FAILURES/,$p' "$WORK/batch-$auth.log" | head -120 >&2
            exit 1
        fi
        echo "batch API ($auth): $(grep -E 'Selected:|Tested:|generated,' "$WORK/batch-$auth.log" | tr -s ' ' | paste -sd ';')"
    done
    # the record still verifies after the fuzzing
    "$BIN" batch verify --db "$db" > /dev/null
}
on_each_database check_on
echo "batch OpenAPI conformance: $((2 * DATABASES_CHECKED)) schemathesis runs passed, 0 failed, on $DATABASES_CHECKED database engine(s)"
