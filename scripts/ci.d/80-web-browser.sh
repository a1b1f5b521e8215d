#!/usr/bin/env bash
# The web pages in a real browser: Debian's chromium (/usr/bin/chromium, no browser download)
# driven by playwright-core, axe-core on every page (no serious or critical violation), on a
# `serve --demo` rehearsal server: the demo operator receives a batch, runs its first steps,
# enters an out-of-range value and sees the deviation, signs; QA reviews and assesses the
# deviation; the QP opens the batch and its record. Screenshots of every page go to
# $CARGO_TARGET_DIR/web-shots/ (target/web-shots/ without it), each role's main page also to docs/screenshots/.
# Needs: chromium, node and npm (Debian packages). Network: the npm registry (playwright-core,
# axe-core, pinned in scripts/web-tests/package-lock.json). About 1 min after the build.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

. scripts/lib/demo-server.sh

NODE_DIR="${ATMPFLOW_NODE_DIR:-/var/tmp/atmpflow-node}/web-tests"
mkdir -p "$NODE_DIR"
if ! cmp -s scripts/web-tests/package-lock.json "$NODE_DIR/package-lock.json"; then
    cp scripts/web-tests/package.json scripts/web-tests/package-lock.json "$NODE_DIR/"
    (cd "$NODE_DIR" && timeout 600 npm ci --ignore-scripts --no-audit --no-fund --silent)
fi
cp scripts/web-tests/browser.mjs "$NODE_DIR/"

CLOCK0=2026-12-01T08:00:00Z
start_demo_server "$WORK/web.db" --rehearsal-clock "$CLOCK0" --watch-interval 0
WEB="${BASE%/api/v3.0}"
API="$WEB/api/batch/v1"
pw() { sed -n "s/^demo web user $1 (role [a-z_]*) password: //p" "$WORK/serve.out"; }

# the planner's order (through the API, with a token of the demo planner)
PLANNER=$("$BIN" token create --user demo-planner --label "web test" --expires-in-days 1 --db "$WORK/web.db")
BATCH=B-WEB-1 COI=COI-WEB-1 DIN=A9999251234569
python3 - "$BATCH" "$COI" "$DIN" examples/recipes/car-t-modular.toml > "$WORK/order.json" <<'PY'
import json, sys
batch, coi, din, recipe = sys.argv[1:]
print(json.dumps({"order": {"batch": batch, "patient": "PSN-WEB-1", "coi": coi, "din": din,
                            "planned_start": "2026-12-01T08:00:00Z"},
                  "recipe": open(recipe).read()}))
PY
curl -fsS -o /dev/null -H "Authorization: Bearer $PLANNER" -H "Content-Type: application/json" \
    --data-binary @"$WORK/order.json" "$API/batches"

SHOTS="${CARGO_TARGET_DIR:-$ROOT/target}/web-shots"
rm -rf "$SHOTS"
(cd "$NODE_DIR" && WEB="$WEB" API="$API" ADMIN_TOKEN="$TOKEN" CLOCK0="$CLOCK0" \
    PW_OPERATOR="$(pw demo-operator)" PW_QA="$(pw demo-qa)" PW_QP="$(pw demo-qp)" \
    BATCH="$BATCH" COI="$COI" DIN="$DIN" SHOTS="$SHOTS" DOCS="$ROOT/docs/screenshots" \
    timeout 300 node browser.mjs)
