#!/usr/bin/env bash
# AAS interoperability proven with the standard's own tools (issue #6, item 4):
#   - aas-test-engines check_server: AAS Repository SSP-002, Submodel Repository
#     SSP-002, and the single-shell / single-submodel SSP-002 variants, against
#     `atmpflow serve --demo` on a loopback port, with an API token made by the CLI
#     (`--header Authorization: Bearer …`); zero failures required;
#   - aas-test-engines check_file on every exported environment and on the batch twin of a
#     rehearsed batch (`atmpflow batch dry-run`);
#   - aas-core3.0 verification and basyx-python-sdk read-back of every export.
# Needs: python3 with venv (Debian: python3-venv), curl. Network: PyPI only.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV="${ATMPFLOW_VENV_DIR:-/var/tmp/atmpflow-venv}/aas"
PY_PKGS=(aas-test-engines==1.0.3 aas-core3.0==1.1.4 basyx-python-sdk==2.2.0)
# reuse the venv only if it has every pin (pip freeze spells some names with "_"); the freeze
# output is read whole, not through a pipe into grep -q (which may close the pipe early)
frozen="$("$VENV/bin/pip" freeze 2>/dev/null | tr '_' '-' || true)"
pinned=yes
for pkg in "${PY_PKGS[@]}"; do
    grep -qxiF "$pkg" <<<"$frozen" || pinned=no
done
if [ ! -x "$VENV/bin/aas_test_engines" ] || [ "$pinned" = no ]; then
    python3 -m venv "$VENV"
    timeout 600 "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_PKGS[@]}"
fi

. scripts/lib/demo-server.sh

# --- exported files ----------------------------------------------------------
"$BIN" aas export --demo --as-of 2026-12-01 "$WORK/export" > "$WORK/exported.txt"
n_files=$(wc -l < "$WORK/exported.txt")
[ "$n_files" -ge 2 ] || { echo "aas export wrote $n_files files" >&2; exit 1; }
# the batch twin (Batch Record submodel) of a rehearsed batch, checked with the exports
"$BIN" batch dry-run examples/recipes/car-t-modular.toml --equipment examples/equipment/modular-plant.toml \
    --seed 5 --excursions 0.2 --out "$WORK/batch" > /dev/null
cp "$WORK/batch/batch-twin.aas.json" "$WORK/export/batch-twin.json"
n_files=$((n_files + 1))
"$BIN" aas check "$WORK"/export/*.json > /dev/null
file_fail=0
for f in "$WORK"/export/*.json; do
    if ! timeout 120 "$VENV/bin/aas_test_engines" check_file --format json "$f" > "$WORK/check_file.log" 2>&1; then
        echo "check_file FAILED: $f" >&2; cat "$WORK/check_file.log" >&2; file_fail=1
    fi
done
[ "$file_fail" = 0 ] || exit 1
echo "aas-test-engines check_file: $n_files passed, 0 failed"
timeout 300 "$VENV/bin/python" scripts/aas/verify_exports.py "$WORK"/export/*.json | tail -n 1

# --- server, on each database engine ----------------------------------------------
b64() { printf '%s' "$1" | "$VENV/bin/python" -c 'import base64,sys; print(base64.urlsafe_b64encode(sys.stdin.buffer.read()).decode().rstrip("="))'; }
check_on() {  # database
    local db=$1
    start_demo_server "$db"
    echo "database: ${db%%\?*}"

    SHELL_ID=$(curl -fsS -H "$AUTH_HEADER" "$BASE/shells?limit=1" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["result"][0]["id"])')
    SM_ID=$(curl -fsS -H "$AUTH_HEADER" "$BASE/submodels?limit=1" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["result"][0]["id"])')

    run_suite() {  # url suite [extra args]
        local url=$1 suite=$2; shift 2
        local log="$WORK/$(basename "$(dirname "$suite")").log"
        # (through a wrapper: aas-test-engines 1.0.3 parses --header but does not send it)
        if ! timeout 600 "$VENV/bin/python" scripts/aas/check_server.py "$url" "$suite" --header "$AUTH_HEADER" "$@" > "$log" 2>&1; then
            echo "check_server FAILED: $suite" >&2
            sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -B 12 -E 'Got unexpected|Fail|violated|Cannot' | head -80 >&2 || true
            sed 's/\x1b\[[0-9;]*m//g' "$log" | tail -n 4 >&2
            return 1
        fi
        echo "$suite: $(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E 'Negative tests passed|Positive tests passed' | tr -s ' ' | paste -sd ';')"
    }
    run_suite "$BASE" AssetAdministrationShellRepositoryServiceSpecification/SSP-002
    run_suite "$BASE" SubmodelRepositoryServiceSpecification/SSP-002
    run_suite "$BASE/shells/$(b64 "$SHELL_ID")" AssetAdministrationShellServiceSpecification/SSP-002 --remove-path-prefix /aas
    run_suite "$BASE/submodels/$(b64 "$SM_ID")" SubmodelServiceSpecification/SSP-002 --remove-path-prefix /submodel
}
on_each_database check_on
echo "AAS conformance: 4 check_server suites passed, 0 failed, on each of $DATABASES_CHECKED database engine(s)"
