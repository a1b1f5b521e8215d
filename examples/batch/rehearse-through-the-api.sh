#!/usr/bin/env bash
# Rehearses the generic CAR-T process (examples/recipes/car-t-modular.toml, the modular plant of
# examples/equipment/modular-plant.toml; the process of domain.md §2) from the order to the
# infusion confirmation through the batch HTTP API of `atmpflow serve`, as the people of a
# hospital's production unit would run it: a planner orders, an operator runs the steps, QC enters
# results, QA assesses deviations and reviews, the qualified person releases, the clinic confirms
# the infusion — each with their own account and token, signatures with their password.
#
# The server runs on a rehearsal clock (`serve --rehearsal-clock`): an administrator moves its
# simulated time forward to the time of each request, so ten days of process run in seconds.
# `batch dry-run --server` checks that every entry the server records equals the entry of the
# same rehearsal computed in-process (same SHA-256), then the database is verified and the
# printable batch record written.
#
# Usage: examples/batch/rehearse-through-the-api.sh [DB [WORKDIR]]
#   DB       a SQLite file (default WORKDIR/rehearsal.db) or the postgres:// URL of an empty
#            database; it becomes a rehearsal database (never use it for a live batch)
#   WORKDIR  where the people file, the server log and the reports go (default: a new temp dir)
# ATMPFLOW names the atmpflow binary (default: `atmpflow` on PATH, else built with cargo).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${2:-$(mktemp -d)}
mkdir -p "$work"
db=${1:-$work/rehearsal.db}
recipe=$root/examples/recipes/car-t-modular.toml
inventory=$root/examples/equipment/modular-plant.toml
start=2026-12-01T08:00:00Z
batch=CAR-T-API-1

bin=${ATMPFLOW:-$(command -v atmpflow || true)}
if [ -z "$bin" ]; then
  (cd "$root" && cargo build --locked --quiet -p atmpflow)
  bin=${CARGO_TARGET_DIR:-$root/target}/debug/atmpflow
fi
atmpflow() { "$bin" "$@"; }

# One account per part (the cast of the in-process rehearsal), each with a random password and
# a token; the administrator who moves the clock holds a token only.
umask 077
people=$work/people.toml
: > "$people"
add_person() { # part user "printed name" role
  local pw
  pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  printf '%s\n' "$pw" | atmpflow user add "$2" --role "$4" --display-name "$3" \
    --password-stdin --db "$db" >/dev/null
  printf '[%s]\ntoken = "%s"\npassword = "%s"\n\n' "$1" \
    "$(atmpflow token create --user "$2" --label rehearsal --db "$db" 2>/dev/null)" "$pw" >> "$people"
}
add_person planner planner1 "Paula Planner" planner
add_person operator operator1 "Oskar Operator" operator
add_person qc qc1 "Quinn Control" qc
add_person qa qa1 "Quirin Assurance" qa
add_person qp qp1 "Dr. Quentin Person" qualified_person
add_person clinic clinic1 "Clara Clinic" clinic
atmpflow user add rehearsal-admin --role admin --display-name "Rehearsal administrator" \
  --no-password --db "$db" >/dev/null
printf '[clock]\ntoken = "%s"\n' \
  "$(atmpflow token create --user rehearsal-admin --label rehearsal --db "$db" 2>/dev/null)" >> "$people"

# The server: the plant's equipment twins, the rehearsal clock at the planned start. Its own
# watch of hold times is off: the rehearsal raises every breach itself when the late request
# arrives, and a watch tick between a clock move and that request would record it first.
# The binary itself goes to the background (not the `atmpflow` function, which would run in a
# subshell of its own), so that `$!` is the server and `kill` stops it.
"$bin" serve --db "$db" --bind 127.0.0.1:0 --inventory "$inventory" --as-of 2026-12-01 \
  --rehearsal-clock "$start" --watch-interval 0 > "$work/serve.out" 2> "$work/serve.log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
url=
for _ in $(seq 1 300); do
  url=$(grep -o 'https\?://[^ ]*' "$work/serve.out" 2>/dev/null | head -1 || true)
  [ -n "$url" ] && break
  kill -0 $server 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "the server did not start; see $work/serve.log" >&2; exit 1; }
url=${url%/api/v3.0}
echo "rehearsal server at $url (database $db)"

# The whole batch through the API.
atmpflow batch dry-run "$recipe" --server "$url" --people "$people" --seed 5 --batch "$batch" \
  --coi COI-API-1 --start "$start" --out "$work/rehearsal"

kill $server
wait $server 2>/dev/null || true
trap - EXIT

# The record as the server stored it: every chain and row verified, the printable record.
atmpflow batch verify --db "$db" --batch "$batch"
atmpflow batch report --db "$db" --batch "$batch" --out "$work/report"
echo "batch record: $work/report/record.html"
