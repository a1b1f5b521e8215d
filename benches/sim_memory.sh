#!/usr/bin/env bash
# Memory benchmark: peak resident memory of `atmpflow simulate` against the number of
# replications, on one and on two threads, with and without the per-replication summaries.
# The peak must not grow with the replications either way: statistics are kept in sketches and
# running sums, and the per-replication summaries (this scenario has no cost inputs) are
# streamed to results.json and replications.csv as replications finish, not held. results.json
# grows by one compact line per replication with the summaries, not at all without them.
# With --cost the runs are priced (benches/memory-small.cost.toml): each replication is priced
# as it is combined, into running means and variances, so the peak must not grow either.
#
#   benches/sim_memory.sh [--cost] [REPLICATIONS...]        (default: 1000 10000 100000)
#
# Prints a Markdown table: replications, threads, per-replication block, wall and CPU seconds,
# peak RSS (MiB) and the size of results.json. Needs GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."

COST=()
if [ "${1:-}" = --cost ]; then
    COST=(--cost benches/memory-small.cost.toml)
    shift
fi
REPS=("$@")
[ ${#REPS[@]} -eq 0 ] && REPS=(1000 10000 100000)
SCENARIO=benches/memory-small.toml

cargo build --release --locked -p atmpflow
BIN="${ATMPFLOW_BIN:-${CARGO_TARGET_DIR:-target}/release/atmpflow}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "scenario: $SCENARIO"
echo "cost inputs: ${COST[1]:-none}"
echo
echo "| replications | threads | per-replication block | wall s | CPU s | peak RSS MiB | results.json KiB |"
echo "|---:|---:|---|---:|---:|---:|---:|"
for n in "${REPS[@]}"; do
    for threads in 1 2; do
        for block in without with; do
            flag=(--no-per-replication)
            [ "$block" = with ] && flag=()
            out="$WORK/out-$n-$threads-$block"
            /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" \
                "$BIN" simulate "$SCENARIO" --quiet --threads "$threads" \
                --replications "$n" "${flag[@]}" "${COST[@]}" --out "$out" > /dev/null
            read -r wall user sys kb < "$WORK/time"
            if [ ${#COST[@]} -gt 0 ] && ! grep -q '"cost": {' "$out/results.json"; then
                echo "the run with $n replications was not priced" >&2
                exit 1
            fi
            size=$(( $(stat -c %s "$out/results.json") / 1024 ))
            rm -rf "$out"
            awk -v n="$n" -v t="$threads" -v b="$block" -v w="$wall" -v u="$user" -v s="$sys" \
                -v kb="$kb" -v size="$size" \
                'BEGIN { printf "| %s | %s | %s | %s | %.2f | %.1f | %s |\n", n, t, b, w, u + s, kb / 1024, size }'
        done
    done
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
