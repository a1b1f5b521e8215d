#!/usr/bin/env bash
# The write, registry and discovery endpoints of `atmpflow serve --demo` checked against the
# official OpenAPI description of the AAS API v3.0 (IDTA "DotAAS Part 2 | HTTP/REST | Entire
# API Collection", V3.0.2, CC BY 4.0) with schemathesis (issue #6, item 4).
#
# The OpenAPI document is the one shipped inside the aas-test-engines 0.6.0 wheel on PyPI
# (aas_test_engines/data/api/3.0.yml); the wheel and the file are checked by SHA-256.
# Checks run: no server error (5xx), every status code declared by the operation, declared
# content types and headers, every response body valid against the operation's response
# schema, and methods the operation's path does not declare answered 405 with an `Allow`
# header. Not run: `positive_data_acceptance` — the OpenAPI types identifiers, idShorts and
# `limit` as plain strings/integers, while the server also enforces the metamodel constraints
# and base64url path identifiers (so schema-valid but metamodel-invalid requests get 400; see
# docs/aas.md).
# Every request carries an API token made by the CLI (`--header Authorization: Bearer …`).
# Needs: python3 with venv, curl. Network: PyPI only.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV="${ATMPFLOW_VENV_DIR:-/var/tmp/atmpflow-venv}/openapi"
ST_VERSION=4.32.5
WHEEL_SHA=e03483ec353f8585cb445aed67ef912d19edbd75460eb004a0e80e7b9e149127
SPEC_SHA=6c590d1353193b086e918e0131ccba6c6e20d74e71516483563c4f1d8343b178
installed="$("$VENV/bin/schemathesis" --version 2>/dev/null || true)"
if [ "$installed" != "schemathesis, version $ST_VERSION" ]; then
    python3 -m venv "$VENV"
    timeout 600 "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi
SPEC="$VENV/aas-api-3.0.yml"
if [ ! -f "$SPEC" ] || ! echo "$SPEC_SHA  $SPEC" | sha256sum -c --quiet 2>/dev/null; then
    DL="$(mktemp -d)"
    timeout 300 "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps -d "$DL" aas-test-engines==0.6.0
    echo "$WHEEL_SHA  $DL/aas_test_engines-0.6.0-py3-none-any.whl" | sha256sum -c --quiet
    "$VENV/bin/python" -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("aas_test_engines/data/api/3.0.yml"))' \
        "$DL/aas_test_engines-0.6.0-py3-none-any.whl" > "$SPEC"
    rm -rf "$DL"
    echo "$SPEC_SHA  $SPEC" | sha256sum -c --quiet
fi

. scripts/lib/demo-server.sh

CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,unsupported_method
run_st() {  # name, then schemathesis filter/phase arguments
    local name=$1; shift
    if ! timeout 900 "$VENV/bin/schemathesis" run "$SPEC" --url "$BASE" --header "$AUTH_HEADER" --checks "$CHECKS" \
        --seed 1 --workers 1 --no-color --suppress-health-check all "$@" > "$WORK/$name.log" 2>&1; then
        echo "schemathesis FAILED: $name" >&2
        sed -n '/FAILURES/,$p' "$WORK/$name.log" | head -120 >&2
        return 1
    fi
    echo "$name: $(grep -E 'Selected:|Tested:|generated,' "$WORK/$name.log" | tr -s ' ' | paste -sd ';')"
}
# AAS Registry, Submodel Registry, Discovery: every operation, all phases (examples,
# coverage, fuzzing, stateful links).
# Repository writes (POST/PUT/DELETE of shells, submodels, submodel elements, concept
# descriptions) and the PATCH operations (submodels and submodel elements, plain, $metadata
# and $value, directly and through a shell): the coverage phase (boundary and invalid values
# of every field).
# Both on each database engine (SQLite; PostgreSQL when ATMPFLOW_TEST_PG is set), the engines
# at the same time (on_each_database).
check_on() {  # database
    start_demo_server "$1"
    echo "database: ${1%%\?*}"
    run_st registry --include-path-regex '^/(shell-descriptors|submodel-descriptors|lookup)' -n 20
    run_st repository-writes \
        --include-path-regex '^/(shells(/\{aasIdentifier\})?|submodels(/\{submodelIdentifier\}(/submodel-elements(/\{idShortPath\})?)?)?|concept-descriptions(/\{cdIdentifier\})?)$' \
        --include-method-regex '^(POST|PUT|DELETE)$' --phases coverage
    run_st repository-patch \
        --include-path-regex '^/(shells/\{aasIdentifier\}/)?submodels/\{submodelIdentifier\}(/submodel-elements/\{idShortPath\})?(/\$metadata|/\$value)?$' \
        --include-method-regex '^PATCH$' --phases coverage
}
on_each_database check_on
echo "AAS OpenAPI conformance: 3 schemathesis runs passed, 0 failed, on each of $DATABASES_CHECKED database engine(s)"
