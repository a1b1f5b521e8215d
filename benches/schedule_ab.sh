#!/usr/bin/env bash
# Paired comparison of two atmpflow builds on hybrid-flow-shop instances: both builds solve the
# same instance at the same time, one process per core, so that both see the same machine load
# (a time-limited search finds better plans with more CPU, so runs made at different times are
# hard to compare). Writes DIR/a and DIR/b (one JSON per instance and build) and prints the
# summary of each (benches/schedule_summary.py) and the ratio of evaluations per instance.
#
#   benches/schedule_ab.sh --a BIN_A --b BIN_B --ids "545 560 ..." [--time-limit 30] [--seed 1]
#                          [--out DIR]
#
# A build of an earlier commit: git worktree add /tmp/base COMMIT &&
#   (cd /tmp/base && CARGO_TARGET_DIR=/tmp/base-target cargo build --release --locked -p atmpflow)
set -euo pipefail
cd "$(dirname "$0")/.."
A=""; B=""; IDS=""; TL=30; SEED=1; OUT=bench-out/schedule-ab
while [ $# -gt 0 ]; do
  case "$1" in
    --a) A=$2; shift 2;;
    --b) B=$2; shift 2;;
    --ids) IDS=$2; shift 2;;
    --time-limit) TL=$2; shift 2;;
    --seed) SEED=$2; shift 2;;
    --out) OUT=$2; shift 2;;
    *) echo "unknown argument $1" >&2; exit 2;;
  esac
done
for bin in "$A" "$B"; do
  if [ ! -x "$bin" ]; then
    echo "schedule_ab: --a and --b must name executable atmpflow builds (got '$bin')" >&2
    exit 2
  fi
done
if [ -z "$IDS" ]; then
  echo "schedule_ab: --ids is required (instance ids of ../shared/data/hfs)" >&2
  exit 2
fi
DATA=../shared/data
mkdir -p "$OUT/a" "$OUT/b"
for id in $IDS; do
  f="$DATA/hfs/instances/$id.txt"
  if [ ! -f "$f" ]; then
    echo "schedule_ab: no instance $f" >&2
    exit 2
  fi
  echo "== hfs $id" >&2
  "$A" schedule --format hfs "$f" --time-limit "$TL" --seed "$SEED" --quiet \
    --json "$OUT/a/$id.atmpflow.json" &
  pa=$!
  "$B" schedule --format hfs "$f" --time-limit "$TL" --seed "$SEED" --quiet \
    --json "$OUT/b/$id.atmpflow.json" &
  pb=$!
  wait "$pa" || echo "build a failed on $id" >&2
  wait "$pb" || echo "build b failed on $id" >&2
done
for side in a b; do
  echo "### build $side"
  python3 benches/schedule_summary.py --set hfs --dir "$OUT/$side" --data "$DATA" | head -n -2
done
python3 - "$OUT" <<'EOF'
import glob, json, os, sys
out = sys.argv[1]
ratios = []
for fa in sorted(glob.glob(os.path.join(out, "a", "*.atmpflow.json"))):
    fb = os.path.join(out, "b", os.path.basename(fa))
    if os.path.exists(fb):
        ea = json.load(open(fa))["evaluations"]
        eb = json.load(open(fb))["evaluations"]
        if ea > 0:
            ratios.append(eb / ea)
if ratios:
    print(f"evaluations b / a: mean {sum(ratios) / len(ratios):.2f} over {len(ratios)} instances")
EOF
