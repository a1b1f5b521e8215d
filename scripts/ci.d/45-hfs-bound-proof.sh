#!/usr/bin/env bash
# Proof check of the evidence on the hybrid-flow-shop best-known values quoted in
# docs/benchmarks-history.md: OR-Tools CP-SAT, on the exact cumulative model of instances 190
# and 220, proves that no plan reaches the listed best-known makespan
# (benches/hfs-reference/hfs_bound_proof.py).
# The model itself is checked on the toy instance (optimum 28: 27 refuted, 28 reached with a
# plan that passes the script's own plan check), the plan check on plans it must reject, and
# malformed instance files.
# Deterministic-time limits and a fixed seed on one worker: the same verdict on every run.
# Needs: python3 with venv (Debian: python3-venv). Network: PyPI only (ortools). ~1 min.
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/lib/venv.sh
pinned_venv cpsat ortools "$CPSAT_ORTOOLS_VERSION"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

PY="$VENV/bin/python"
# (outputs go to files first: `grep -q` in a pipe may close it before the script is done)
"$PY" benches/hfs-reference/hfs_bound_proof.py --data ../shared/data/hfs --ids 0 --makespan 27 > "$WORK/toy27.txt"
"$PY" benches/hfs-reference/hfs_bound_proof.py --data ../shared/data/hfs --ids 0 --makespan 28 > "$WORK/toy28.txt"
grep -q "makespan    27  refuted" "$WORK/toy27.txt"
grep -q "makespan    28  reached" "$WORK/toy28.txt"
"$PY" - <<'CHECK'
import importlib.util
spec = importlib.util.spec_from_file_location("proof", "benches/hfs-reference/hfs_bound_proof.py")
proof = importlib.util.module_from_spec(spec)
spec.loader.exec_module(proof)
# two jobs, two stages, one machine each
p = [[2, 3], [4, 1]]
ok = [[0, 2], [2, 6]]
assert proof.check_plan(2, 2, [1, 1], p, ok, 7) is None
assert "starts before" in proof.check_plan(2, 2, [1, 1], p, [[0, 1], [2, 6]], 7)
assert "more than 1" in proof.check_plan(2, 2, [1, 1], p, [[0, 2], [1, 6]], 7)
assert "outside" in proof.check_plan(2, 2, [1, 1], p, ok, 6)
assert proof.check_plan(2, 2, [2, 1], p, [[0, 2], [0, 5]], 6) is None
CHECK
# bad input ends with a message naming the file and what is wrong (and exit code 1)
mkdir -p "$WORK/bad/instances"
printf 'instance,bks\n1,10\n2,10\n3,10\n4,10\n' > "$WORK/bad/bks.csv"
printf '2\n2\n1 1\n3 x\n1 1\n' > "$WORK/bad/instances/1.txt"
printf '2\n2\n1 1\n3 3\n' > "$WORK/bad/instances/2.txt"
printf '0\n2\n' > "$WORK/bad/instances/4.txt"
# rejects WHAT MESSAGE COMMAND...: COMMAND must fail with MESSAGE (a grep pattern) on stderr
rejects() {
    local what=$1 message=$2
    shift 2
    if "$@" > /dev/null 2> "$WORK/err.txt"; then
        echo "$what was accepted" >&2; exit 1
    fi
    grep -q "$message" "$WORK/err.txt" || { cat "$WORK/err.txt" >&2; exit 1; }
}
bad() {
    rejects "instance $1 of the bad set" "$2" \
        "$PY" benches/hfs-reference/hfs_bound_proof.py --data "$WORK/bad" --ids "$1"
}
bad 1 "instances/1.txt: number 6 ('x') is not an integer"
bad 2 "instances/2.txt: expected 2 machine counts, 4 processing times (6 numbers after the header), found 4"
bad 3 "instances/3.txt: No such file or directory"
bad 4 "instances/4.txt: the header must start with the job and stage (machine) counts, at least 1"
bad 5 "instance 5: no best-known value in .*bks.csv (give --makespan)"

# benches/hfs-reference/hfs_polish.py: a poor but valid toy plan (every stage on one machine,
# jobs in file order) is improved to the optimum 28; plans it must reject end with a message
# naming the field
mkdir -p "$WORK/plans"
"$PY" - "$WORK/plans" <<'PLANS'
import json, sys
p = [[2, 3, 4], [6, 4, 8], [9, 1, 5], [4, 6, 3], [1, 5, 10], [4, 8, 12]]
free = [0, 0, 0]
out = []
for j, row in enumerate(p):
    t = 0
    for k, d in enumerate(row):
        t = max(t, free[k])
        out.append({"job": j, "stage": k, "machine": 0, "start": t, "end": t + d})
        t += d
        free[k] = t
ms = max(a["end"] for a in out)
d = sys.argv[1]
json.dump({"makespan": ms, "assignments": out}, open(f"{d}/0.json", "w"))
json.dump({"makespan": ms}, open(f"{d}/1.json", "w"))
json.dump({"makespan": ms, "assignments": out[:-1] + [dict(out[-1], job=6)]}, open(f"{d}/2.json", "w"))
json.dump({"makespan": ms, "assignments": out[:-1] + [dict(out[-1], start=0)]}, open(f"{d}/3.json", "w"))
json.dump({"makespan": ms, "assignments": out[:-1]}, open(f"{d}/4.json", "w"))
open(f"{d}/5.json", "w").write('{"makespan": 1,\n "assignments": [}')
json.dump({"makespan": ms, "assignments": out + [out[0]]}, open(f"{d}/6.json", "w"))
json.dump({"assignments": out}, open(f"{d}/7.json", "w"))
json.dump({"makespan": ms, "assignments": out[:-1] + [{"job": 5, "stage": 2}]}, open(f"{d}/8.json", "w"))
json.dump({"makespan": ms + 1, "assignments": out}, open(f"{d}/9.json", "w"))
PLANS
"$PY" benches/hfs-reference/hfs_polish.py --data ../shared/data/hfs --plans "$WORK/plans" --ids 0 --dtime 5 \
    > "$WORK/polish.txt"
cat "$WORK/polish.txt"
grep -Eq "^ +0 6x3x2 +atmpflow +[0-9]+ -> CP-SAT +28 .*CP-SAT bound 28 " "$WORK/polish.txt"
badplan() {
    mkdir -p "$WORK/one"
    cp "$WORK/plans/$1.json" "$WORK/one/0.json"
    rejects "plan $1 of the bad set" "$2" \
        "$PY" benches/hfs-reference/hfs_polish.py --data ../shared/data/hfs --plans "$WORK/one" --ids 0
}
badplan 1 "field 'assignments' (a list) is missing"
badplan 2 "assignments\[17\]: job 6 stage 2 is not in the instance (6 jobs, 3 stages)"
badplan 3 "the plan fails the check: job 5 stage 2 starts before stage 1 ends"
badplan 4 "job 5 stage 2 has no assignment"
badplan 5 "line 2, column 18: not JSON"
badplan 6 "assignments\[18\]: job 0 stage 0 is planned twice"
badplan 7 "field 'makespan' (an integer) is missing"
badplan 8 "assignments\[17\]: field 'start' (an integer) is missing"
badplan 9 "field 'makespan' is 55, but the assignments end at 54"
rm "$WORK/one/0.json"
rejects "a missing plan" "one/0.json: cannot read the plan: No such file or directory" \
    "$PY" benches/hfs-reference/hfs_polish.py --data ../shared/data/hfs --plans "$WORK/one" --ids 0

timeout 300 "$PY" benches/hfs-reference/hfs_bound_proof.py --data ../shared/data/hfs \
    --ids "190 220" --dtime 2 --out "$WORK/proofs.csv" | tee "$WORK/proofs.txt"
grep -q "^   190 50x10x3   best-known  1230  refuted  proven lower bound 1231" "$WORK/proofs.txt"
grep -q "^   220 50x10x3   best-known  1188  refuted  proven lower bound 1189" "$WORK/proofs.txt"
grep -q "^refuted 2, reached 0, open 0 of 2$" "$WORK/proofs.txt"
echo "hfs bound proof and polish: ok"
