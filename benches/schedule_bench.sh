#!/usr/bin/env bash
# Scheduling benchmark: atmpflow vs OR-Tools CP-SAT, same instances, same time limit, same threads.
#
#   benches/schedule_bench.sh [--set hfs|taillard|shelf] [--ids "5 10 ..."] [--all]
#                             [--time-limit 30] [--threads 1] [--seed 1] [--out DIR] [--no-peer]
#
# Default instance subsets (stratified, see docs/benchmarks.md):
#   hfs:      2 instances of each of the 16 size classes (first and tenth id of the class)
#   taillard: the first instance of each of the 12 size classes (Ta001, Ta011, ..., Ta111)
#   shelf:    the first instance of the 8 classes with 50 and 100 jobs, with maximum waits
#             drawn by the seeded generator (atmpflow schedule --shelf-life-seed SEED)
# --all runs the whole set (hfs: 289 instances x time limit x 2 solvers).
# CP-SAT comes from PyPI (`ortools`, the version pinned in scripts/lib/venv.sh) in a venv under
# ${ATMPFLOW_VENV_DIR:-/var/tmp/atmpflow-venv}/cpsat.
set -euo pipefail
cd "$(dirname "$0")/.."
SET=hfs; IDS=""; ALL=0; TL=30; THREADS=1; SEED=1; OUT=""; PEER=1
while [ $# -gt 0 ]; do
  case "$1" in
    --set) SET=$2; shift 2;;
    --ids) IDS=$2; shift 2;;
    --all) ALL=1; shift;;
    --time-limit) TL=$2; shift 2;;
    --threads) THREADS=$2; shift 2;;
    --seed) SEED=$2; shift 2;;
    --out) OUT=$2; shift 2;;
    --no-peer) PEER=0; shift;;
    *) echo "unknown argument $1" >&2; exit 2;;
  esac
done
if [ "$THREADS" != 1 ]; then
  echo "note: atmpflow's solver is single-threaded; CP-SAT gets $THREADS workers" >&2
fi
DATA=../shared/data
OUT=${OUT:-bench-out/schedule-$SET}
mkdir -p "$OUT"
if [ -n "${ATMPFLOW_BIN:-}" ]; then
  BIN=$ATMPFLOW_BIN
else
  cargo build --release --locked -p atmpflow >&2
  BIN=${CARGO_TARGET_DIR:-target}/release/atmpflow
fi
. scripts/lib/venv.sh
if [ "$PEER" = 1 ]; then
  pinned_venv cpsat ortools "$CPSAT_ORTOOLS_VERSION" >&2
fi
# size classes of the hfs set: (n, stages, machines) from the file header
class_of() { awk 'NR==1{n=$1} NR==2{g=$1} NR==3{print n"x"g"x"$1; exit}' "$1"; }

case "$SET" in
  hfs|shelf)
    if [ -z "$IDS" ]; then
      if [ "$ALL" = 1 ]; then
        IDS=$(tail -n +2 "$DATA/hfs/bks.csv" | cut -d, -f1 | tr '\n' ' ')
      else
        IDS=""
        declare -A seen
        for id in $(tail -n +2 "$DATA/hfs/bks.csv" | cut -d, -f1); do
          c=$(class_of "$DATA/hfs/instances/$id.txt")
          k=${seen[$c]:-0}
          if [ "$SET" = hfs ] && { [ "$k" = 0 ] || [ "$k" = 9 ]; }; then IDS="$IDS $id"; fi
          if [ "$SET" = shelf ] && [ "$k" = 0 ] && [ "${c%%x*}" -le 100 ]; then IDS="$IDS $id"; fi
          seen[$c]=$((k + 1))
        done
      fi
    fi
    ;;
  taillard)
    if [ -z "$IDS" ]; then
      if [ "$ALL" = 1 ]; then IDS=$(seq -f "Ta%03g" 1 120 | tr '\n' ' ')
      else IDS=$(seq -f "Ta%03g" 1 10 120 | tr '\n' ' '); fi
    fi
    ;;
  *) echo "unknown set $SET" >&2; exit 2;;
esac

for id in $IDS; do
  case "$SET" in
    hfs) f="$DATA/hfs/instances/$id.txt"; fmt=hfs; extra=(); pf="$f"; pfmt=hfs;;
    taillard) f="$DATA/taillard/instances/$id.txt"; fmt=taillard; extra=(); pf="$f"; pfmt=taillard;;
    shelf) f="$DATA/hfs/instances/$id.txt"; fmt=hfs; pf="$OUT/$id-w.txt"; pfmt=hfsw
           extra=(--shelf-life-seed "$SEED" --write-instance "$pf");;
  esac
  echo "== $SET $id" >&2
  "$BIN" schedule --format "$fmt" "$f" --time-limit "$TL" --seed "$SEED" --quiet --force \
    --json "$OUT/$id.atmpflow.json" "${extra[@]}" || echo "atmpflow failed on $id" >&2
  if [ "$PEER" = 1 ]; then
    "$VENV/bin/python" benches/peers/cpsat_hfs.py --format "$pfmt" "$pf" --time-limit "$TL" \
      --threads "$THREADS" --seed "$SEED" --json "$OUT/$id.cpsat.json" || echo "cp-sat failed on $id" >&2
  fi
done
python3 benches/schedule_summary.py --set "$SET" --dir "$OUT" --data "$DATA" | tee "$OUT/summary.md"
