#!/usr/bin/env bash
# The web pages in a real browser: Debian's chromium (/usr/bin/chromium, no browser download)
# driven by playwright-core, axe-core on every page (no serious or critical violation), on a
# `serve --demo` rehearsal server: the demo operator receives a batch, runs its first steps,
# enters an out-of-range value and sees the deviation, signs; QA reviews and assesses the
# deviation; the operator reports a deviation from the step screen; a second batch runs
# through the batch API (`batch dry-run --server --until-disposition`, the demo people's
# tokens) up to its disposition, and the QP reviews and releases it with e-signature; the
# planner loads a broken scenario and sees its error at the line, then simulates an example
# (progress bar) and opens the report; saves a scenario on the server twice (two versions),
# re-plans a stored plant plan after a 48 h delay and sees what moved (outlined bars), compares
# two examples, and — in a browser enforcing the pages' CSP — runs a small study followed by
# server-sent events to its report, then cancels a longer one and sees its partial result.
# Screenshots of every page go to $CARGO_TARGET_DIR/web-shots/ (target/web-shots/ without it), each role's main page also to docs/screenshots/.
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

# a second batch for the QP: run by the demo people through the batch API up to its
# disposition (called by the browser test once the operator and QA are done); QC and the
# clinic are people of their own
for who in qc clinic; do
    "$BIN" user add "demo-$who" --role "$who" --display-name "Demo $who" --no-password --db "$WORK/web.db" > /dev/null
done
tok() { "$BIN" token create --user "$1" --label "web test" --expires-in-days 1 --db "$WORK/web.db"; }
(umask 077; cat > "$WORK/people.toml" <<EOF
planner = { token = "$PLANNER" }
operator = { token = "$(tok demo-operator)", password = "$(pw demo-operator)" }
qc = { token = "$(tok demo-qc)" }
qa = { token = "$(tok demo-qa)", password = "$(pw demo-qa)" }
qp = { token = "$(tok demo-qp)", password = "$(pw demo-qp)" }
clinic = { token = "$(tok demo-clinic)" }
clock = { token = "$TOKEN" }
EOF
)
cat > "$WORK/to-disposition.sh" <<EOF
exec "$BIN" batch dry-run "$ROOT/examples/recipes/car-t-modular.toml" --server "$WEB" \\
    --people "$WORK/people.toml" --batch B-WEB-2 --coi COI-WEB-2 --until-disposition
EOF

# a stored plant plan for the planner to re-plan (through the plan API, the demo planner's token)
python3 - examples/plant-two-products.toml examples/schedule/plant-two-products-orders.csv > "$WORK/plan.json" <<'PY'
import json, sys
print(json.dumps({"scenario": open(sys.argv[1]).read(), "orders": open(sys.argv[2]).read(),
                  "time_limit_s": 30, "iterations": 20, "seed": 1}))
PY
curl -fsS -o /dev/null -H "Authorization: Bearer $PLANNER" -H "Content-Type: application/json" \
    --data-binary @"$WORK/plan.json" "$WEB/api/plan/v1/plans"

SHOTS="${CARGO_TARGET_DIR:-$ROOT/target}/web-shots"
rm -rf "$SHOTS"
(cd "$NODE_DIR" && WEB="$WEB" API="$API" ADMIN_TOKEN="$TOKEN" CLOCK0="$CLOCK0" \
    PW_OPERATOR="$(pw demo-operator)" PW_QA="$(pw demo-qa)" PW_QP="$(pw demo-qp)" PW_PLANNER="$(pw demo-planner)" \
    BATCH="$BATCH" COI="$COI" DIN="$DIN" SHOTS="$SHOTS" DOCS="$ROOT/docs/screenshots" \
    BATCH2=B-WEB-2 TO_DISPOSITION="$WORK/to-disposition.sh" \
    timeout 600 node browser.mjs)
